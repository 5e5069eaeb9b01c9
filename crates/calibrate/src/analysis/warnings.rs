//! Loud warnings: a configured or proposed shadow threshold in the far tail of the shadow
//! cosines, or passing a very different share of pairs than the canonical model at T.

use super::pairs::Pair;
use super::phases::{PhaseStats, POOLED};
use super::share::Share;
use super::thresholds::InForce;
use crate::grid::Threshold;
use std::collections::BTreeMap;

/// Scopes with fewer pairs than this get no far-tail check (their percentiles mean little).
pub const TAIL_CHECK_MIN_PAIRS: usize = 20;
/// The largest pass-rate difference, in percentage points, between the shadow model at t and
/// the canonical model at T that raises no warning.
pub const PASS_RATE_SHIFT_LIMIT_POINTS: u64 = 20;

/// The warnings of the pooled statistics, then of each phase with enough pairs for the
/// far-tail check, for the configured and then the proposed threshold.
pub(crate) fn warnings(
    pooled: &PhaseStats,
    phases: &[PhaseStats],
    ctx: &InForce,
    by_phase: &BTreeMap<String, Vec<&Pair>>,
    all: &[&Pair],
) -> Vec<String> {
    let mut out = Vec::new();
    let checked = phases
        .iter()
        .filter(|s| s.n >= TAIL_CHECK_MIN_PAIRS || s.name == POOLED);
    for s in std::iter::once(pooled).chain(checked) {
        let mut checks = vec![("configured", ctx.configured)];
        if let Some(p) = ctx.proposed {
            checks.push(("proposed", p));
        }
        for (which, t) in checks {
            out.extend(threshold_warnings(s, which, t, by_phase, all));
        }
    }
    out
}

/// A note for each phase with pairs, but too few for the far-tail check.
pub(crate) fn small_phase_notes(phases: &[PhaseStats]) -> Vec<String> {
    phases
        .iter()
        .filter(|s| s.n > 0 && s.n < TAIL_CHECK_MIN_PAIRS && s.name != POOLED)
        .map(|s| {
            format!(
                "phase {}: only {} pair(s); no far-tail check (needs {TAIL_CHECK_MIN_PAIRS})",
                s.name, s.n
            )
        })
        .collect()
}

fn threshold_warnings(
    s: &PhaseStats,
    which: &str,
    t: &Threshold,
    by_phase: &BTreeMap<String, Vec<&Pair>>,
    all: &[&Pair],
) -> Vec<String> {
    let mut out = Vec::new();
    let scope = if s.name == POOLED {
        "all phases".to_string()
    } else {
        format!("phase {}", s.name)
    };
    let pairs: &[&Pair] = if s.name == POOLED {
        all
    } else {
        by_phase.get(&s.name).map(|v| v.as_slice()).unwrap_or(&[])
    };
    if pairs.is_empty() {
        return out;
    }
    let mean = s
        .shadow
        .mean
        .as_ref()
        .map(|m| format!("{m:.3}"))
        .unwrap_or_default();
    if s.n >= TAIL_CHECK_MIN_PAIRS {
        if let (Ok(p5), Ok(p95)) = (s.shadow.percentile(5), s.shadow.percentile(95)) {
            if (t.value as f64) > p95 {
                out.push(format!(
                    "{scope}: the {which} shadow threshold {t} is above the 95th percentile of the shadow cosines (p95 {p95:.3}, mean {mean}): it sits in the far upper tail of this model's distribution"
                ));
            } else if (t.value as f64) < p5 {
                out.push(format!(
                    "{scope}: the {which} shadow threshold {t} is below the 5th percentile of the shadow cosines (p5 {p5:.3}, mean {mean}): it sits in the far lower tail of this model's distribution"
                ));
            }
        }
    }
    let n = pairs.len() as u64;
    let shadow_k = pairs.iter().filter(|p| t.passes(p.shadow)).count() as u64;
    let canon = s.canonical.pass().map(|x| x.2).unwrap_or_default();
    let diff = shadow_k.abs_diff(canon.k);
    // |shadow - canonical| > limit points, exactly: 100 |dk| > limit n
    if 100 * diff > PASS_RATE_SHIFT_LIMIT_POINTS * n {
        let shadow_share = Share { k: shadow_k, n };
        out.push(format!(
            "{scope}: at the {which} shadow threshold {t} the shadow model passes {} of pairs, the canonical model {} at T — a shift of {:.1} points (limit {})",
            shadow_share.percent(),
            canon.percent(),
            diff as f64 / n as f64 * 100.0,
            PASS_RATE_SHIFT_LIMIT_POINTS
        ));
    }
    out
}
