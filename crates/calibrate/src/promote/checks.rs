//! The checks a promotion must pass: every phase at the floor, the calibrated model is the
//! configuration's shadow, the threshold is not in the far tail of the candidate's cosines,
//! and the human review does not find the candidate significantly worse.

use super::input::CalibrationDoc;
use crate::analysis::{PASS_RATE_SHIFT_LIMIT_POINTS, TAIL_CHECK_MIN_PAIRS};
use crate::grid::Threshold;
use crate::review::{Tally, ALPHA};

/// Why a promotion is refused: the failed check and one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `floor`, `fingerprint`, `canonical`, `far-tail`, `pass-rate-shift` or `review`.
    pub check: &'static str,
    /// What failed, with the numbers.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.check, self.reason)
    }
}

/// Phases with pairs (those calibration could judge), by name.
pub(crate) fn used_phases(
    doc: &CalibrationDoc,
) -> impl Iterator<Item = (&String, &super::input::PhaseDoc)> {
    doc.phases.iter().filter(|(_, p)| p.n > 0)
}

/// Every phase keeps the floor at grid index `i`.
pub(crate) fn floor(doc: &CalibrationDoc, t: &Threshold, i: usize) -> Vec<Refusal> {
    let below: Vec<String> = used_phases(doc)
        .filter_map(|(name, p)| {
            let a = p.agreement_at(i)?;
            (a.value()? < doc.floor).then(|| format!("{name} {}", a.percent()))
        })
        .collect();
    if below.is_empty() {
        return Vec::new();
    }
    let ranges = if doc.compromise.feasible_ranges.is_empty() {
        "no grid threshold keeps every phase at the floor".to_string()
    } else {
        format!(
            "every phase keeps it for t in {}",
            doc.compromise
                .feasible_ranges
                .iter()
                .map(|(lo, hi)| format!("{lo}..={hi}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    vec![Refusal {
        check: "floor",
        reason: format!(
            "at t = {t} agreement falls below the {:.0}% floor in {} ({ranges})",
            doc.floor * 100.0,
            below.join(", ")
        ),
    }]
}

/// The calibration's shadow fingerprints against the configuration's shadow model's.
/// `config` is `None` when it could not be computed (the caller says why in `why_none`).
pub(crate) fn fingerprint(doc: &CalibrationDoc, config: Option<&str>) -> Vec<Refusal> {
    let refuse = |reason: String| {
        vec![Refusal {
            check: "fingerprint",
            reason,
        }]
    };
    let Some(logged) = &doc.models.shadow_fingerprints else {
        return refuse(
            "the calibration records no shadow model fingerprint (it predates `titlesim promote`): run `titlesim calibrate --json` again on the same logs".into(),
        );
    };
    let Some(config) = config else {
        return refuse("the configuration's shadow model fingerprint is unknown".into());
    };
    match logged.as_slice() {
        [one] if one == config => Vec::new(),
        [] => refuse("the calibration saw no shadow side at all".into()),
        _ => refuse(format!(
            "the calibration was made with shadow model fingerprint(s) {} but the configuration's [shadow] model has {config}: these logs calibrated another model (or other settings)",
            logged.join(", ")
        )),
    }
}

/// The canonical side the calibration judged against the configuration's `[canonical]`, which
/// becomes the burn-in's shadow: the agreement, floor and pass-rate figures were computed
/// against the calibration's canonical threshold T and model, and the burn-in compares the
/// new canonical verdicts with the configuration's. `threshold` is the configuration's
/// `[canonical] threshold`; `fingerprint` its model's (`None`: unknown, refused when the
/// calibration recorded one).
pub(crate) fn canonical(
    doc: &CalibrationDoc,
    threshold: f64,
    fingerprint: Option<&str>,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    let refuse = |reason: String| Refusal {
        check: "canonical",
        reason,
    };
    if let Some(logged) = &doc.models.canonical_fingerprints {
        let reason = match (logged.as_slice(), fingerprint) {
            ([one], Some(config)) if one == config => None,
            (_, None) => Some("the configuration's canonical model fingerprint is unknown".into()),
            ([], Some(_)) => Some("the calibration saw no canonical side at all".into()),
            // Promoted already (the same promotion run twice, or its calibration reused).
            (_, Some(config))
                if doc
                    .models
                    .shadow_fingerprints
                    .as_deref()
                    .is_some_and(|s| s == [config]) =>
            {
                Some(format!(
                    "the configuration's [canonical] model ({config}) is the candidate these logs calibrated: this configuration is promoted already; promote a configuration whose [shadow] is the candidate, or calibrate this one's logs"
                ))
            }
            (_, Some(config)) => Some(format!(
                "the calibration's logs had canonical model fingerprint(s) {} but the configuration's [canonical] model has {config}: the expected agreement describes another model, and the burn-in would stop at its first record (its shadow side would not be the previous canonical model)",
                logged.join(", ")
            )),
        };
        if let Some(reason) = reason {
            // Another model: its threshold is not the question.
            let other_model = fingerprint.is_some();
            out.push(refuse(reason));
            if other_model {
                return out;
            }
        }
    }
    let t = doc.canonical_threshold.value;
    // Thresholds are f32 in the logs and the configuration: compared as such.
    if t as f32 != threshold as f32 {
        out.push(Refusal {
            check: "canonical",
            reason: format!(
                "the calibration judged agreement against the canonical threshold {} but the configuration's [canonical] threshold is {}: its agreement, floor and pass-rate figures describe other canonical verdicts than the burn-in will compare with; run `titlesim calibrate --json --canon-threshold {}` on the same logs (or set the configuration's threshold back to {})",
                t as f32, threshold as f32, threshold as f32, t as f32
            ),
        });
    }
    out
}

/// The far-tail and pass-rate-shift warnings of `titlesim calibrate`, for `t` (grid index
/// `i`): pooled, and every phase with at least [`TAIL_CHECK_MIN_PAIRS`] pairs.
pub(crate) fn tail(doc: &CalibrationDoc, t: &Threshold, i: usize) -> Vec<Refusal> {
    let mut out = Vec::new();
    let scopes = std::iter::once(("all phases".to_string(), &doc.pooled)).chain(
        used_phases(doc)
            .filter(|(_, p)| p.n >= TAIL_CHECK_MIN_PAIRS as u64)
            .map(|(n, p)| (format!("phase {n}"), p)),
    );
    for (scope, p) in scopes {
        let mean = p
            .shadow
            .mean
            .map(|m| format!("{m:.3}"))
            .unwrap_or_else(|| "-".into());
        let pct = |k: &str| p.shadow.percentiles.get(k).copied().flatten();
        if p.n >= TAIL_CHECK_MIN_PAIRS as u64 {
            if let (Some(p5), Some(p95)) = (pct("p5"), pct("p95")) {
                let v = t.value as f64;
                if v > p95 {
                    out.push(Refusal { check: "far-tail", reason: format!("{scope}: t = {t} is above the 95th percentile of the candidate's cosines (p95 {p95:.3}, mean {mean}): it sits in the far upper tail of this model's distribution") });
                } else if v < p5 {
                    out.push(Refusal { check: "far-tail", reason: format!("{scope}: t = {t} is below the 5th percentile of the candidate's cosines (p5 {p5:.3}, mean {mean}): it sits in the far lower tail of this model's distribution") });
                }
            }
        }
        if let (Some(s), Some(c)) = (p.shadow_pass_at(i), p.canonical_pass()) {
            let diff = s.k.abs_diff(c.k);
            // In u128: `n` comes from a calibration file, and a hand-edited one can be huge.
            let shift =
                100 * u128::from(diff) > u128::from(PASS_RATE_SHIFT_LIMIT_POINTS) * u128::from(s.n);
            if s.n > 0 && shift {
                out.push(Refusal {
                    check: "pass-rate-shift",
                    reason: format!(
                        "{scope}: at t = {t} the candidate passes {} of pairs, the current canonical model {} — a shift of {:.1} points (limit {PASS_RATE_SHIFT_LIMIT_POINTS})",
                        s.percent(),
                        c.percent(),
                        diff as f64 / s.n as f64 * 100.0
                    ),
                });
            }
        }
    }
    out
}

/// The review's sign test: refused when the current canonical model was right significantly
/// more often than the candidate (the review's shadow).
pub(crate) fn review(t: &Tally) -> Vec<Refusal> {
    let c = &t.counts;
    if t.rows > 0 && t.unreviewed.len() as u64 == t.rows {
        return vec![Refusal {
            check: "review",
            reason: format!(
                "the review {} has no verdicts: none of its {} rows has its `verdict` filled in, so it says nothing about the candidate; fill it in (canonical, shadow, both, neither) or leave out --review",
                t.path.display(),
                t.rows
            ),
        }];
    }
    match c.sign_test() {
        Ok(p) if p < ALPHA && c.canonical > c.shadow => vec![Refusal {
            check: "review",
            reason: format!(
                "the review {} finds the candidate significantly worse: the current canonical model was right in {} and the candidate in {} of the {} disagreements where exactly one was right (exact two-sided sign test p = {}, below {ALPHA})",
                t.path.display(),
                c.canonical,
                c.shadow,
                c.canonical + c.shadow,
                fmt_p(p)
            ),
        }],
        _ => Vec::new(),
    }
}

/// A note when some (not all) rows of the review have no verdict: the sign test counts only
/// the rows that have one.
pub(crate) fn review_unfinished_note(t: &Tally) -> Option<String> {
    let left = t.unreviewed.len() as u64;
    (left > 0 && left < t.rows).then(|| {
        let shown: Vec<String> = t.unreviewed.iter().take(5).map(u64::to_string).collect();
        let more = if left > 5 { ", …" } else { "" };
        format!(
            "the review {} has {left} of its {} rows without a verdict (lines {}{more}): the sign test counts only the {} reviewed",
            t.path.display(),
            t.rows,
            shown.join(", "),
            t.rows - left
        )
    })
}

/// A p-value with three decimals, or in scientific notation below 0.001.
pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

/// The distinct values of the review file's text `column` (none when the file has no such
/// column: a review exported before it had one).
fn column_values(t: &Tally, column: &str) -> Vec<String> {
    let Ok(mut rdr) = csv::ReaderBuilder::new().flexible(true).from_path(&t.path) else {
        return Vec::new();
    };
    let Some(col) = rdr
        .headers()
        .ok()
        .and_then(|h| h.iter().position(|h| h.trim().eq_ignore_ascii_case(column)))
    else {
        return Vec::new();
    };
    let mut seen: Vec<String> = Vec::new();
    for rec in rdr.records().flatten() {
        let cell = crate::review::from_text(rec.get(col).unwrap_or("")).trim();
        if !cell.is_empty() && !seen.iter().any(|s| s == cell) {
            seen.push(cell.to_string());
        }
    }
    seen
}

/// Refused when the review file was exported from logs of other models than the calibration
/// read (its `canonical_fingerprint` and `shadow_fingerprint` columns): the review of an
/// earlier cycle's candidate, at the same thresholds, judged another model.
pub(crate) fn review_models(t: &Tally, doc: &CalibrationDoc) -> Vec<Refusal> {
    let sides = [
        ("shadow", &doc.models.shadow_fingerprints),
        ("canonical", &doc.models.canonical_fingerprints),
    ];
    let mut out = Vec::new();
    for (side, calibrated) in sides {
        let Some(calibrated) = calibrated else {
            continue;
        };
        // A cell holds the export's fingerprints of that side, space-separated (one, as a
        // rule); a fingerprint of a custom embedder may hold a space itself.
        let known = |cell: &String| {
            calibrated.contains(cell) || cell.split(' ').all(|f| calibrated.iter().any(|c| c == f))
        };
        let seen = column_values(t, &format!("{side}_fingerprint"));
        let other: Vec<&String> = seen.iter().filter(|f| !known(f)).collect();
        if other.is_empty() {
            continue;
        }
        out.push(Refusal {
            check: "review",
            reason: format!(
                "the review {} was exported from logs whose {side} model has fingerprint {}, \
                 but the calibration's {side} model has {}: its verdicts judged another model \
                 (a review of another cycle); export it again from the logs this calibration read",
                t.path.display(),
                other
                    .iter()
                    .map(|f| titlesim_core::shown(f).into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
                calibrated.join(", ")
            ),
        });
    }
    out
}

/// The distinct values of the review file's `column` that are numbers other than `value`
/// (none when the file has no such column).
fn other_values(t: &Tally, column: &str, value: f64) -> Vec<String> {
    // Thresholds are f32 in the logs the review was exported from.
    column_values(t, column)
        .into_iter()
        .filter(|cell| cell.parse::<f64>().is_ok_and(|v| v as f32 != value as f32))
        .collect()
}

/// Refused when the review file was exported from logs whose canonical threshold is not the
/// calibration's T (its `canonical_threshold` column): it reviewed the disagreements of
/// another cycle or configuration, and its verdicts are no evidence about this candidate.
pub(crate) fn review_source(t: &Tally, canonical_threshold: f64) -> Vec<Refusal> {
    let seen = other_values(t, "canonical_threshold", canonical_threshold);
    if seen.is_empty() {
        return Vec::new();
    }
    vec![Refusal {
        check: "review",
        reason: format!(
            "the review {} was exported at canonical threshold {}, but the calibration's is {}: \
             its disagreements are not this calibration's; export it again from the logs this \
             calibration read, with `review export --canon-threshold` as given to calibrate \
             (a review of another cycle's logs judged other models)",
            t.path.display(),
            seen.join(", "),
            canonical_threshold as f32
        ),
    }]
}

/// A note when the review file was exported at another shadow threshold than `t` (its
/// `shadow_threshold` column): its verdicts then judged other disagreements. `None` when the
/// file has no such column or every row is at `t`.
pub(crate) fn review_threshold_note(t: &Tally, threshold: &Threshold) -> Option<String> {
    let seen = other_values(t, "shadow_threshold", threshold.decimal());
    (!seen.is_empty()).then(|| {
        format!(
            "the review {} was exported at shadow threshold {}, the promotion uses {threshold}: its verdicts judged the disagreements at that threshold",
            t.path.display(),
            seen.join(", ")
        )
    })
}
