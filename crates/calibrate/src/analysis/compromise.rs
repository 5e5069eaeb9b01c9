//! The compromise threshold: the grid t that maximises the lowest agreement over phases, and
//! the grid ranges where every phase keeps the floor.

use super::phases::PhaseStats;
use super::share::Share;
use crate::grid::{Grid, Threshold};
use std::cmp::Ordering;

/// The threshold that maximises the minimum agreement over phases.
#[derive(Debug, Clone)]
pub struct Compromise {
    /// The threshold (ties: lowest).
    pub threshold: Threshold,
    /// The lowest agreement over phases at that threshold.
    pub min_agreement: Share,
    /// Each phase's agreement at that threshold.
    pub per_phase: Vec<(String, Share)>,
    /// The floor every phase should keep.
    pub floor: f64,
    /// The contiguous grid range around the compromise where every phase is at or above the
    /// floor; `None` when no grid threshold achieves that.
    pub feasible: Option<(Threshold, Threshold)>,
    /// Every contiguous grid range where every phase is at or above the floor.
    pub feasible_ranges: Vec<(Threshold, Threshold)>,
    /// Phases without pairs, left out of the minimum.
    pub empty_phases: Vec<String>,
}

/// The compromise over the phases with pairs; `None` when no phase has any.
pub(crate) fn compromise(phases: &[PhaseStats], grid: &Grid, floor: f64) -> Option<Compromise> {
    let used: Vec<&PhaseStats> = phases.iter().filter(|p| p.n > 0).collect();
    if used.is_empty() {
        return None;
    }
    let min_at = |i: usize| -> Share {
        used.iter()
            .map(|p| p.agreement[i].1)
            .min_by(|a, b| a.cmp_exact(b))
            .unwrap_or_default()
    };
    let points = grid.points();
    let mut best_i = 0;
    for i in 1..points.len() {
        if min_at(i).cmp_exact(&min_at(best_i)) == Ordering::Greater {
            best_i = i;
        }
    }
    let ok: Vec<bool> = (0..points.len())
        .map(|i| {
            used.iter()
                .all(|p| p.agreement[i].1.value().is_some_and(|v| v >= floor))
        })
        .collect();
    let ranges = true_runs(&ok);
    let feasible = ranges
        .iter()
        .find(|(lo, hi)| (*lo..=*hi).contains(&best_i))
        .map(|&(lo, hi)| (points[lo].clone(), points[hi].clone()));
    Some(Compromise {
        threshold: points[best_i].clone(),
        min_agreement: min_at(best_i),
        per_phase: used
            .iter()
            .map(|p| (p.name.clone(), p.agreement[best_i].1))
            .collect(),
        floor,
        feasible,
        feasible_ranges: ranges
            .iter()
            .map(|&(lo, hi)| (points[lo].clone(), points[hi].clone()))
            .collect(),
        empty_phases: phases
            .iter()
            .filter(|p| p.n == 0)
            .map(|p| p.name.clone())
            .collect(),
    })
}

/// The index ranges `(first, last)` of the runs of `true` in `ok`.
fn true_runs(ok: &[bool]) -> Vec<(usize, usize)> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (i, &good) in ok.iter().enumerate() {
        if good {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == i => *hi = i,
                _ => ranges.push((i, i)),
            }
        }
    }
    ranges
}
