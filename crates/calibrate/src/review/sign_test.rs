//! The sign test of canonical-right against shadow-right, and the conclusion it supports as
//! one sentence.

use super::tally::{Counts, Tally};
use crate::stats::{self, Stat};

/// The significance level of the sign test's sentence.
pub const ALPHA: f64 = 0.05;

impl Counts {
    /// The exact two-sided sign test of canonical-right against shadow-right.
    pub fn sign_test(&self) -> Stat {
        stats::sign_test(self.canonical, self.canonical + self.shadow)
    }
}

impl Tally {
    /// The conclusion as one sentence.
    pub fn conclusion(&self) -> String {
        let c = &self.counts;
        let decisive = c.canonical + c.shadow;
        if c.reviewed() == 0 {
            return "No row has been reviewed yet: nothing to conclude.".into();
        }
        if decisive == 0 {
            return format!(
                "In none of the {} reviewed disagreements was exactly one model right, so neither model is shown to be more correct.",
                c.reviewed()
            );
        }
        let p = c.sign_test().unwrap_or(1.0);
        if p >= ALPHA {
            format!(
                "Neither model is meaningfully more correct: canonical was right in {} and shadow in {} of the {decisive} disagreements where exactly one was right (exact two-sided sign test p = {}, not below {ALPHA}).",
                c.canonical, c.shadow, fmt_p(p)
            )
        } else {
            let (better, worse, kb, kw) = if c.shadow > c.canonical {
                ("shadow", "canonical", c.shadow, c.canonical)
            } else {
                ("canonical", "shadow", c.canonical, c.shadow)
            };
            format!(
                "The {better} model is more often right than the {worse} model: {kb} against {kw} of the {decisive} disagreements where exactly one was right (exact two-sided sign test p = {} < {ALPHA}).",
                fmt_p(p)
            )
        }
    }
}

/// A p-value with three decimals, or in scientific notation below 0.001.
pub(crate) fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}
