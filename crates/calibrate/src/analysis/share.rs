//! A share `k / n` kept as counts.

use crate::stats;
use std::cmp::Ordering;

/// A share `k / n` kept as counts, so ties compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    /// How many.
    pub k: u64,
    /// Out of how many.
    pub n: u64,
}

impl Share {
    /// `k / n`, or `None` when `n = 0`.
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.k as f64 / self.n as f64)
    }
    /// Exact comparison of the two fractions (an empty share counts as 0).
    pub fn cmp_exact(&self, other: &Share) -> Ordering {
        stats::cmp_frac(self.k, self.n, other.k, other.n)
    }
    /// `k / n` as a percentage with one decimal (`"84.7%"`), or `"n/a"`.
    pub fn percent(&self) -> String {
        self.value()
            .map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "n/a".into())
    }
}
