//! What the burn-in logs show: per phase, the new canonical model's passes and its agreement
//! with the old model (the shadow), with the running pass rate over time for the plot.

use crate::analysis::{conflict_error, Conflicts, Places, Share, NO_PHASE};
use crate::error::{CalibrateError, Result};
use crate::promote::Expectation;
use std::collections::{BTreeMap, HashMap};
use titlesim_log::ShadowRecord;

/// One phase's burn-in counts.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// The new canonical model's passes, of the records with a canonical cosine.
    pub pass: Share,
    /// Agreement of the two models, of the records with both cosines.
    pub agree: Share,
    /// `(time in ms, or record number when a timestamp does not parse; passed)` per record
    /// with a canonical cosine, in time order (log order when a timestamp does not parse).
    pub series: Vec<(i64, bool)>,
}

/// Records left out of the counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Left {
    /// No canonical cosine (the canonical side failed).
    pub canonical_error: usize,
    /// No usable shadow cosine (not sampled, failed or timed out): counted in the pass rate,
    /// not in the agreement.
    pub no_shadow: usize,
    /// Records of a pair id an earlier record already had (a log given twice, overlapping
    /// rotated logs, a retried request): the first record counts, as in calibrate, so no pair
    /// counts twice towards the pairs needed or the drift tests.
    pub duplicates: usize,
}

/// Counts the records by phase. Records from other models or thresholds than the
/// expectation's are an error: they are not the promoted configuration's; with `places` (the
/// records were read from logs) the error names the record's log and line. The third value
/// says, when a counted record's `ts` is not an RFC 3339 time, which one (its log and line
/// where known): the series then follow record numbers, not the clock.
pub(crate) fn measure(
    exp: &Expectation,
    records: &[ShadowRecord],
    places: Option<&Places>,
) -> Result<(BTreeMap<String, Measured>, Left, Option<String>)> {
    let t_new = exp.canonical.threshold as f32;
    let t_old = exp.shadow.threshold as f32;
    let mut by: BTreeMap<String, Measured> = BTreeMap::new();
    let mut left = Left::default();
    let mut untimed: Option<String> = None;
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(records.len());
    let mut conflicts = Conflicts::default();
    // whether each record is counted (its pair id's first, with a canonical cosine)
    let mut counted = vec![false; records.len()];
    for (i, r) in records.iter().enumerate() {
        let mismatch = |what: String| {
            let message = format!(
                "pair {} ({}): {what}; the burn-in reads only logs written by the promoted configuration",
                r.pair_id, r.ts
            );
            match places.and_then(|p| p.of(i)) {
                Some((path, line)) => CalibrateError::Row {
                    path: path.to_path_buf(),
                    line,
                    message,
                },
                None => CalibrateError::input("<records>", message),
            }
        };
        if let Some(fp) = &exp.canonical.fingerprint {
            if &r.canonical.fingerprint != fp {
                return Err(mismatch(format!(
                    "canonical fingerprint {} is not the promoted model's {fp}",
                    r.canonical.fingerprint
                )));
            }
        }
        if r.canonical.threshold != t_new {
            return Err(mismatch(format!(
                "canonical threshold {} is not the promoted {}",
                r.canonical.threshold, exp.canonical.threshold
            )));
        }
        if let Some(&first) = seen.get(r.pair_id.as_str()) {
            left.duplicates += 1;
            conflicts.note(records, first, i);
            continue;
        }
        seen.insert(&r.pair_id, i);
        let phase = r.phase.clone().unwrap_or_else(|| NO_PHASE.to_string());
        let Some(c) = r.canonical.cosine.filter(|c| c.is_finite()) else {
            left.canonical_error += 1;
            continue;
        };
        counted[i] = true;
        let m = by.entry(phase).or_default();
        let pass = c >= t_new;
        m.pass.n += 1;
        m.pass.k += pass as u64;
        let when = titlesim_log::time::parse_rfc3339_ms(&r.ts);
        if when.is_none() && untimed.is_none() {
            let at = places
                .and_then(|p| p.of(i))
                .map(|(path, line)| format!("{}:{line}", path.display()))
                .unwrap_or_else(|| format!("record {}", i + 1));
            untimed = Some(format!(
                "{at} (pair {}) has ts {}",
                r.pair_id,
                titlesim_core::excerpt(&r.ts)
            ));
        }
        m.series.push((when.unwrap_or(i as i64), pass));
        let shadow = r
            .shadow
            .as_ref()
            .filter(|s| s.error.is_none())
            .and_then(|s| s.cosine.filter(|v| v.is_finite()).map(|v| (s, v)));
        match shadow {
            None => left.no_shadow += 1,
            Some((s, v)) => {
                if let Some(fp) = &exp.shadow.fingerprint {
                    if &s.fingerprint != fp {
                        return Err(mismatch(format!(
                            "shadow fingerprint {} is not the previous canonical model's {fp}",
                            s.fingerprint
                        )));
                    }
                }
                if s.threshold != t_old {
                    return Err(mismatch(format!(
                        "shadow threshold {} is not the previous canonical threshold {}",
                        s.threshold, exp.shadow.threshold
                    )));
                }
                m.agree.n += 1;
                m.agree.k += (pass == (v >= t_old)) as u64;
            }
        }
    }
    // Two runs that reused ids: keeping the first record would drop the other run's pairs, and
    // the decision would hang on the order the logs were given in.
    if let Some(e) = conflict_error(&conflicts.list, places) {
        return Err(e);
    }
    if untimed.is_none() {
        // several logs, or a log appended out of order: the running rate follows the clock
        for m in by.values_mut() {
            m.series.sort_by_key(|s| s.0);
        }
    } else {
        // one axis for every phase: record numbers throughout
        for m in by.values_mut() {
            m.series.clear();
        }
        for (i, r) in records.iter().enumerate().filter(|(i, _)| counted[*i]) {
            if let Some(c) = r.canonical.cosine.filter(|c| c.is_finite()) {
                let phase = r.phase.clone().unwrap_or_else(|| NO_PHASE.to_string());
                if let Some(m) = by.get_mut(&phase) {
                    m.series.push((i as i64, c >= t_new));
                }
            }
        }
    }
    Ok((by, left, untimed))
}
