//! Promotion: the candidate becomes canonical at its calibrated threshold, the old canonical
//! becomes the shadow for the burn-in, and an [`Expectation`] says what the burn-in should see.
//!
//! [`promote`] refuses ([`CalibrateError::Refused`]) when the threshold leaves a phase below
//! the calibration's agreement floor, when the calibration was made with another shadow model
//! fingerprint than the configuration's, when its canonical side (threshold T, model
//! fingerprint) is not the configuration's `[canonical]`, when the threshold sits in the far tail of the
//! candidate's cosines (or moves the pass rate more than the calibration's warning limit), or
//! when a human review finds the candidate significantly worse. With [`PromoteOptions::force`]
//! it promotes anyway and records the overridden reasons in the provenance comment block and
//! the expectation.
//!
//! | file | job |
//! |---|---|
//! | `input.rs` | [`read_calibration`]: the `titlesim calibrate --json` document and its sha256 |
//! | `checks.rs` | the refusal checks ([`Refusal`]) |
//! | `config.rs` | [`swap`]: the TOML edit that keeps comments and layout |
//! | `expectation.rs` | [`Expectation`]: the file `titlesim burn-in` reads |
//! | `write.rs` | [`check_files`] and [`write_promotion`]: both files or neither, no input overwritten |

mod checks;
mod config;
mod doc;
mod expectation;
mod input;
mod write;

pub use checks::Refusal;
pub use config::{swap, Swap};
pub use doc::MAX_DOC_BYTES;
pub use expectation::{
    Expectation, Expected, PhaseExpectation, Side, Source, EXPECTATION_FORMAT, EXPECTATION_VERSION,
};
pub use input::{
    read_calibration, CalibrationDoc, CalibrationFile, CompromiseDoc, DistributionDoc, ModelsDoc,
    PhaseDoc, ValueDoc,
};
pub use write::{check_files, read_config_locked, write_promotion, LockedConfig, PromotionFiles};

use crate::error::{CalibrateError, Result};
use crate::grid::Threshold;
use crate::review::Tally;
use std::collections::BTreeMap;
use std::path::Path;

/// How to promote.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// The candidate's new threshold; `None` takes the calibration's compromise.
    pub threshold: Option<Threshold>,
    /// The fingerprint of the configuration's `[shadow]` model (`None`: unknown, which the
    /// fingerprint check refuses).
    pub shadow_fingerprint: Option<String>,
    /// The fingerprint of the configuration's `[canonical]` model (`None`: unknown, which the
    /// canonical check refuses when the calibration recorded the logs' canonical fingerprint).
    pub canonical_fingerprint: Option<String>,
    /// A tallied human review of the disagreements.
    pub review: Option<Tally>,
    /// Promote despite refusals, recording them.
    pub force: bool,
    /// The burn-in log to set in `[shadow_options] log`.
    pub log: Option<String>,
    /// The promotion's date (RFC 3339), for the provenance and the expectation.
    pub created: String,
    /// The promoted configuration's file name, recorded in the expectation.
    pub out: String,
    /// The expectation's file name, recorded in the provenance.
    pub expectation: String,
}

/// A promotion: the new configuration and its expectation.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// The promoted configuration: the provenance comment block, then the edited document.
    pub config: String,
    /// What the burn-in should see.
    pub expectation: Expectation,
    /// The candidate's new threshold.
    pub threshold: Threshold,
    /// The refusals `force` overrode.
    pub overridden: Vec<Refusal>,
    /// Things to tell the user (a disabled shadow, phases without pairs).
    pub notes: Vec<String>,
}

/// Notes for the phases whose calibration pairs are too few for any burn-in (at burn-in's
/// default alpha, power and drift) to tell a drift: such a phase keeps the burn-in watching for
/// ever, which is better said before deploying than found after.
fn burn_in_cannot_decide(phases: &BTreeMap<String, PhaseExpectation>) -> Vec<String> {
    let o = crate::burnin::BurnInOptions::default();
    let (_, alpha) = o.tests(phases.len());
    let mut notes = Vec::new();
    for (name, e) in phases {
        let hopeless: Vec<&str> = [("pass rate", &e.pass_rate), ("agreement", &e.agreement)]
            .into_iter()
            .filter(|(_, x)| {
                crate::burnin::stats::needed_pairs(x.share, x.n, o.drift, alpha, o.power).is_none()
            })
            .map(|(metric, _)| metric)
            .collect();
        if !hopeless.is_empty() {
            notes.push(format!(
                "phase {name}: its {} calibration pairs are too few for any burn-in to tell a \
                 drift of {:.0} points in its {} at {:.0}% power (burn-in's defaults): its \
                 burn-in would keep watching for ever; calibrate on more of its pairs, or give \
                 burn-in a larger --drift",
                e.pairs,
                o.drift * 100.0,
                hopeless.join(" and "),
                o.power * 100.0
            ));
        }
    }
    notes
}

/// Promotes the configuration `config_text` (read from `config_path`) with the calibration
/// `cal`. Fails with [`CalibrateError::Refused`] when a check fails and `opts.force` is off.
pub fn promote(
    config_text: &str,
    config_path: &Path,
    cal: &CalibrationFile,
    opts: &PromoteOptions,
) -> Result<Promotion> {
    let doc = &cal.doc;
    let (t, why) = match &opts.threshold {
        Some(t) => (t.clone(), "given with --threshold"),
        None => {
            let c = doc.compromise.threshold.ok_or_else(|| {
                CalibrateError::input(
                    &cal.path,
                    "compromise.threshold is null (no phase had pairs): give --threshold",
                )
            })?;
            (
                Threshold::parse(&c.to_string())?,
                "the calibration's compromise",
            )
        }
    };
    let i = doc.pooled.grid_index(&t).ok_or_else(|| {
        CalibrateError::input(
            &cal.path,
            format!(
                "threshold {t} ({why}) is not on the `grid` of this calibration, so its agreement \
                 is unknown: choose a grid point or calibrate again with a grid that holds it"
            ),
        )
    })?;

    let swap = config::swap(
        config_text,
        config_path,
        &t,
        &format!("calibrated: {why}"),
        opts.log.as_deref(),
    )?;
    let mut refusals = checks::floor(doc, &t, i);
    refusals.extend(checks::fingerprint(doc, opts.shadow_fingerprint.as_deref()));
    refusals.extend(checks::canonical(
        doc,
        swap.shadow_threshold,
        opts.canonical_fingerprint.as_deref(),
    ));
    refusals.extend(checks::tail(doc, &t, i));
    if let Some(r) = &opts.review {
        refusals.extend(checks::review(r));
        refusals.extend(checks::review_source(r, doc.canonical_threshold.value));
        refusals.extend(checks::review_models(r, doc));
    }
    if !refusals.is_empty() && !opts.force {
        return Err(CalibrateError::Refused {
            reasons: refusals.iter().map(ToString::to_string).collect(),
        });
    }

    let mut notes = Vec::new();
    if swap.shadow_disabled {
        notes.push("[shadow_options] enabled = false: the burn-in needs both models logged; set it to true before deploying".to_string());
    }
    let mut phases = BTreeMap::new();
    for (name, p) in checks::used_phases(doc) {
        match (p.shadow_pass_at(i), p.agreement_at(i)) {
            (Some(pass), Some(agree)) => {
                phases.insert(
                    name.clone(),
                    PhaseExpectation {
                        pairs: p.n,
                        pass_rate: Expected::of(pass),
                        agreement: Expected::of(agree),
                    },
                );
            }
            _ => notes.push(format!(
                "phase {name}: no pass rate or agreement at {t}; nothing expected of it"
            )),
        }
    }
    notes.extend(burn_in_cannot_decide(&phases));
    if let Some(r) = &opts.review {
        notes.extend(checks::review_unfinished_note(r));
        notes.extend(checks::review_threshold_note(r, &t));
    }
    for (name, p) in &doc.phases {
        if p.n == 0 {
            notes.push(format!(
                "phase {name}: no pairs in calibration; the burn-in cannot judge it"
            ));
        }
    }
    let single = |v: &Option<Vec<String>>| match v.as_deref() {
        Some([one]) => Some(one.clone()),
        _ => None,
    };
    let expectation = Expectation {
        format: EXPECTATION_FORMAT.into(),
        version: EXPECTATION_VERSION,
        created: opts.created.clone(),
        calibration: Source {
            file: cal.path.display().to_string(),
            sha256: cal.sha256.clone(),
        },
        promoted_config: opts.out.clone(),
        canonical: Side {
            model: swap.canonical.0.clone(),
            backend: swap.canonical.1.clone(),
            fingerprint: single(&doc.models.shadow_fingerprints),
            threshold: t.decimal(),
        },
        shadow: Side {
            model: swap.shadow.0.clone(),
            backend: swap.shadow.1.clone(),
            fingerprint: single(&doc.models.canonical_fingerprints),
            threshold: swap.shadow_threshold,
        },
        confidence: 0.95,
        phases,
        forced: refusals.iter().map(ToString::to_string).collect(),
    };
    let config = format!(
        "{}{}",
        provenance(cal, &t, why, &swap, &expectation, opts, &refusals, &notes),
        swap.document
    );
    Ok(Promotion {
        config,
        expectation,
        threshold: t,
        overridden: refusals,
        notes,
    })
}

/// The comment block put above the promoted configuration.
#[allow(clippy::too_many_arguments)]
fn provenance(
    cal: &CalibrationFile,
    t: &Threshold,
    why: &str,
    swap: &Swap,
    exp: &Expectation,
    opts: &PromoteOptions,
    refusals: &[Refusal],
    notes: &[String],
) -> String {
    let mut lines = vec![
        format!("titlesim promote, {}", opts.created),
        format!(
            "[canonical] was [shadow]: {} ({}), threshold {t} ({why}; was {})",
            swap.canonical.0, swap.canonical.1, swap.candidate_threshold_was
        ),
        format!(
            "[shadow] was [canonical]: {} ({}), threshold {}, logged beside it for the burn-in",
            swap.shadow.0, swap.shadow.1, swap.shadow_threshold_label
        ),
        format!("calibration: {} sha256 {}", cal.path.display(), cal.sha256),
    ];
    match &exp.canonical.fingerprint {
        Some(fp) => lines.push(format!("candidate fingerprint: {fp}")),
        None => lines.push("candidate fingerprint: not recorded by the calibration".into()),
    }
    for (name, p) in &exp.phases {
        lines.push(format!(
            "phase {name}: {} pairs, agreement {:.1}%, pass rate {:.1}% at {t}",
            p.pairs,
            p.agreement.share * 100.0,
            p.pass_rate.share * 100.0
        ));
    }
    if let Some(r) = &opts.review {
        let c = &r.counts;
        lines.push(format!(
            "review {}: canonical right {}, candidate right {}, both {}, neither {}, not reviewed {}; sign test p = {}",
            r.path.display(),
            c.canonical,
            c.shadow,
            c.both,
            c.neither,
            r.unreviewed.len(),
            c.sign_test().map(checks::fmt_p).unwrap_or_else(|_| "undefined".into())
        ));
    }
    for r in refusals {
        lines.push(format!("FORCED past {r}"));
    }
    if let Some(log) = &swap.log {
        lines.push(format!("burn-in log: {log}"));
    }
    lines.extend(notes.iter().map(|n| format!("note: {n}")));
    lines.push(format!(
        "expectation: {} (check with `titlesim burn-in --expect {} LOG...`)",
        opts.expectation, opts.expectation
    ));
    let mut out = String::new();
    for l in lines {
        out.push_str("# ");
        out.push_str(&comment_text(&l));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `line` as the text of a TOML comment: a newline in a path or phase must not end the comment
/// (and start a key), and TOML allows no other control character there; those, and the
/// characters that make an editor show text other than what the file says (line and paragraph
/// separators, bidirectional overrides), are written as `\u{..}` escapes.
fn comment_text(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        let hidden = (c.is_control() && c != '\t')
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if hidden {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}
