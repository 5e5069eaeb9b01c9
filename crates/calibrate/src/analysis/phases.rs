//! Per-phase (and pooled) statistics: correlations, both cosine distributions, the agreement
//! curve over the grid and its best threshold.

use super::distribution::Distribution;
use super::labels::LabelStats;
use super::pairs::{Exclusions, Extracted, Pair};
use super::share::Share;
use super::thresholds::InForce;
use crate::grid::Threshold;
use crate::stats::{self, Stat};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// The name of the pooled (all phases) statistics.
pub const POOLED: &str = "(pooled)";

/// The statistics of one phase (or of all pairs pooled).
#[derive(Debug, Clone)]
pub struct PhaseStats {
    /// The phase ([`POOLED`] for the pooled statistics).
    pub name: String,
    /// Usable pairs.
    pub n: usize,
    /// Records of this phase that were not pairs.
    pub excluded: Exclusions,
    /// Pearson r between canonical and shadow cosines.
    pub pearson: Stat,
    /// Spearman rho (average ranks for ties).
    pub spearman: Stat,
    /// The canonical cosines.
    pub canonical: Distribution,
    /// The shadow cosines.
    pub shadow: Distribution,
    /// Agreement at every grid threshold: share of pairs with
    /// `(canonical >= T) == (shadow >= t)`.
    pub agreement: Vec<(Threshold, Share)>,
    /// The shadow model's pass rate at every grid threshold: share of pairs with
    /// `shadow >= t` (what the candidate would pass as canonical at t).
    pub shadow_pass: Vec<(Threshold, Share)>,
    /// The grid threshold with the highest agreement (ties: lowest t); `None` without pairs.
    pub best: Option<(Threshold, Share)>,
    /// Agreement at the configured shadow threshold.
    pub at_configured: Option<Share>,
    /// Agreement at the proposed shadow threshold.
    pub at_proposed: Option<Share>,
    /// Metrics against gold labels, when some pairs carry one.
    pub labels: Option<LabelStats>,
}

impl PhaseStats {
    /// The agreement at grid threshold `t`, if `t` is on the grid.
    pub fn agreement_at(&self, t: &Threshold) -> Option<Share> {
        self.agreement
            .iter()
            .find(|(g, _)| g.value == t.value)
            .map(|(_, s)| *s)
    }
}

/// The pairs of every phase seen in the records, pairs or not (a phase whose records were
/// all excluded maps to no pairs).
pub(crate) fn group_by_phase(ex: &Extracted) -> BTreeMap<String, Vec<&Pair>> {
    let mut by_phase: BTreeMap<String, Vec<&Pair>> = BTreeMap::new();
    for name in ex.excluded_by_phase.keys() {
        by_phase.entry(name.clone()).or_default();
    }
    for p in &ex.pairs {
        by_phase.entry(p.phase.clone()).or_default().push(p);
    }
    by_phase
}

/// The statistics of each phase, by name, and of all pairs pooled, with their exclusions
/// (label metrics come later, once the compromise is known).
pub(crate) fn phase_and_pooled_stats(
    by_phase: &BTreeMap<String, Vec<&Pair>>,
    all: &[&Pair],
    ex: &Extracted,
    ctx: &InForce,
) -> (Vec<PhaseStats>, PhaseStats) {
    let phases = by_phase
        .iter()
        .map(|(name, ps)| {
            let mut s = phase_stats(name, ps, ctx);
            s.excluded = ex.excluded_by_phase.get(name).copied().unwrap_or_default();
            s
        })
        .collect();
    let mut pooled = phase_stats(POOLED, all, ctx);
    pooled.excluded = ex.excluded;
    (phases, pooled)
}

/// The statistics of one scope's pairs (its exclusions and labels are filled in by the
/// caller).
fn phase_stats(name: &str, pairs: &[&Pair], ctx: &InForce) -> PhaseStats {
    let c: Vec<f32> = pairs.iter().map(|p| p.canonical).collect();
    let s: Vec<f32> = pairs.iter().map(|p| p.shadow).collect();
    let cf: Vec<f64> = c.iter().map(|&v| v as f64).collect();
    let sf: Vec<f64> = s.iter().map(|&v| v as f64).collect();
    let canon_pass: Vec<bool> = c.iter().map(|&v| ctx.t_canon.passes(v)).collect();
    let agree = |t: &Threshold| Share {
        k: canon_pass
            .iter()
            .zip(&s)
            .filter(|(&cp, &sv)| cp == t.passes(sv))
            .count() as u64,
        n: pairs.len() as u64,
    };
    let agreement: Vec<(Threshold, Share)> = ctx
        .grid
        .points()
        .iter()
        .map(|t| (t.clone(), agree(t)))
        .collect();
    let shadow_pass: Vec<(Threshold, Share)> = ctx
        .grid
        .points()
        .iter()
        .map(|t| {
            let k = s.iter().filter(|&&v| t.passes(v)).count() as u64;
            (
                t.clone(),
                Share {
                    k,
                    n: pairs.len() as u64,
                },
            )
        })
        .collect();
    let best = if pairs.is_empty() {
        None
    } else {
        best_on_grid(&agreement)
    };
    let mut shadow_passes = Vec::new();
    if let Some(p) = ctx.proposed {
        shadow_passes.push(("proposed", p));
    }
    shadow_passes.push(("configured", ctx.configured));
    PhaseStats {
        name: name.to_string(),
        n: pairs.len(),
        excluded: Exclusions::default(),
        pearson: stats::pearson(&cf, &sf),
        spearman: stats::spearman(&cf, &sf),
        canonical: Distribution::of(&c, &[("T", ctx.t_canon)]),
        shadow: Distribution::of(&s, &shadow_passes),
        agreement,
        shadow_pass,
        best,
        at_configured: (!pairs.is_empty()).then(|| agree(ctx.configured)),
        at_proposed: ctx.proposed.filter(|_| !pairs.is_empty()).map(agree),
        labels: None,
    }
}

/// The grid point with the highest agreement; ties keep the lowest (earliest) t.
fn best_on_grid(agreement: &[(Threshold, Share)]) -> Option<(Threshold, Share)> {
    let mut best: Option<(Threshold, Share)> = None;
    for (t, a) in agreement {
        // strictly greater: ties keep the lower (earlier) t
        if best
            .as_ref()
            .is_none_or(|(_, b)| a.cmp_exact(b) == Ordering::Greater)
        {
            best = Some((t.clone(), *a));
        }
    }
    best
}

/// A note for each phase without a usable pair.
pub(crate) fn empty_phase_notes(phases: &[PhaseStats]) -> Vec<String> {
    phases
        .iter()
        .filter(|p| p.n == 0)
        .map(|p| {
            format!(
                "phase {}: no usable pairs (excluded: {})",
                p.name,
                p.excluded.describe()
            )
        })
        .collect()
}
