//! One side's cosines: mean, sd, extremes, percentiles and pass rates.

use super::share::Share;
use crate::grid::Threshold;
use crate::stats::{self, Stat, Undefined};

/// The percentiles reported for each cosine distribution.
pub const PERCENTILES: [u8; 7] = [1, 5, 25, 50, 75, 95, 99];

/// One cosine distribution.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// Values.
    pub n: usize,
    /// Mean.
    pub mean: Stat,
    /// Sample standard deviation (n - 1).
    pub sd: Stat,
    /// Smallest value.
    pub min: Stat,
    /// Largest value.
    pub max: Stat,
    /// `(p, value)` for each of [`PERCENTILES`] (numpy's linear interpolation).
    pub percentiles: Vec<(u8, Stat)>,
    /// Pass rates `(which, threshold, share passing)`; the first is the threshold in force
    /// (canonical: T; shadow: the proposed threshold if any, else the configured one).
    pub passes: Vec<(String, Threshold, Share)>,
}

impl Distribution {
    /// The distribution of `values`, with the pass rate at each `(which, threshold)`.
    pub(crate) fn of(values: &[f32], passes: &[(&str, &Threshold)]) -> Self {
        let x: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let s = stats::sorted(&x);
        let none = || Err(Undefined::TooFew { need: 1, got: 0 });
        Distribution {
            n: x.len(),
            mean: stats::mean(&x),
            sd: stats::sd(&x),
            min: s.first().copied().map(Ok).unwrap_or_else(none),
            max: s.last().copied().map(Ok).unwrap_or_else(none),
            percentiles: PERCENTILES
                .iter()
                .map(|&p| (p, stats::percentile_sorted(&s, p as f64)))
                .collect(),
            passes: passes
                .iter()
                .map(|(w, t)| {
                    let k = values.iter().filter(|&&v| t.passes(v)).count() as u64;
                    (
                        w.to_string(),
                        (*t).clone(),
                        Share {
                            k,
                            n: x.len() as u64,
                        },
                    )
                })
                .collect(),
        }
    }
    /// The percentile `p` (one of [`PERCENTILES`]).
    pub fn percentile(&self, p: u8) -> Stat {
        self.percentiles
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| v.clone())
            .unwrap_or(Err(Undefined::TooFew { need: 1, got: 0 }))
    }
    /// The pass rate at the threshold in force.
    pub fn pass(&self) -> Option<&(String, Threshold, Share)> {
        self.passes.first()
    }
}
