//! Running totals of canonical and shadow verdicts, overall and per phase.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use titlesim_log::ShadowRecord;

/// Counts for one phase (or all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhaseTally {
    /// Records.
    pub pairs: u64,
    /// Records whose canonical side passed.
    pub canonical_pass: u64,
    /// Records whose canonical side has a verdict.
    pub canonical_scored: u64,
    /// Records that were sampled for the shadow.
    pub shadowed: u64,
    /// Shadowed records with both verdicts.
    pub both_scored: u64,
    /// Of those, the shadow passed.
    pub shadow_pass: u64,
    /// Of those, the canonical side passed (the same pairs as `shadow_pass` counts over).
    pub canonical_pass_on_both: u64,
    /// Of those, both verdicts agree.
    pub agree: u64,
    /// Shadowed records whose shadow side failed (timeouts included).
    pub shadow_errors: u64,
    /// Of those, timeouts.
    pub shadow_timeouts: u64,
}

impl PhaseTally {
    fn add(&mut self, r: &ShadowRecord) {
        self.pairs += 1;
        let c = r.canonical.pass;
        if let Some(p) = c {
            self.canonical_scored += 1;
            self.canonical_pass += p as u64;
        }
        if let Some(s) = &r.shadow {
            self.shadowed += 1;
            if let Some(e) = &s.error {
                self.shadow_errors += 1;
                self.shadow_timeouts += e.starts_with("timeout") as u64;
            }
            if let (Some(cp), Some(sp)) = (c, s.pass) {
                self.both_scored += 1;
                self.shadow_pass += sp as u64;
                self.canonical_pass_on_both += cp as u64;
                self.agree += (cp == sp) as u64;
            }
        }
    }

    fn merge(&mut self, o: &PhaseTally) {
        self.pairs += o.pairs;
        self.canonical_pass += o.canonical_pass;
        self.canonical_scored += o.canonical_scored;
        self.shadowed += o.shadowed;
        self.both_scored += o.both_scored;
        self.shadow_pass += o.shadow_pass;
        self.canonical_pass_on_both += o.canonical_pass_on_both;
        self.agree += o.agree;
        self.shadow_errors += o.shadow_errors;
        self.shadow_timeouts += o.shadow_timeouts;
    }

    /// Share of pairs where both verdicts agree (over pairs with both), if any.
    pub fn agreement(&self) -> Option<f64> {
        ratio(self.agree, self.both_scored)
    }

    /// Canonical pass rate over all pairs with a canonical verdict.
    pub fn canonical_pass_rate(&self) -> Option<f64> {
        ratio(self.canonical_pass, self.canonical_scored)
    }

    /// Shadow pass rate over pairs with both verdicts.
    pub fn shadow_pass_rate(&self) -> Option<f64> {
        ratio(self.shadow_pass, self.both_scored)
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn pct(r: Option<f64>) -> String {
    r.map(|r| format!("{:.1}%", 100.0 * r))
        .unwrap_or_else(|| "n/a".into())
}

/// Totals over all records and per phase (`(none)` for records without a phase, as calibrate
/// names them: no pair's phase may take that name, see `titlesim_core::RESERVED_PHASES`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// All records.
    pub total: PhaseTally,
    /// Per phase.
    pub phases: BTreeMap<String, PhaseTally>,
}

impl Tally {
    /// Counts one record.
    pub fn add(&mut self, r: &ShadowRecord) {
        self.total.add(r);
        self.phases
            .entry(r.phase.clone().unwrap_or_else(|| "(none)".into()))
            .or_default()
            .add(r);
    }

    /// Adds another tally's counts.
    pub fn merge(&mut self, o: &Tally) {
        self.total.merge(&o.total);
        for (k, v) in &o.phases {
            self.phases.entry(k.clone()).or_default().merge(v);
        }
    }

    /// A human-readable summary at the thresholds in force: per phase and overall, the
    /// canonical and shadow pass rates (over the pairs both scored) and their agreement.
    pub fn render(&self, canonical_threshold: f32, shadow_threshold: Option<f32>) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "canonical threshold {canonical_threshold}{}; pass rates and agreement over the \
             pairs both models scored",
            shadow_threshold
                .map(|t| format!(", shadow threshold {t}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "{:<12} {:>7} {:>9} {:>7} {:>11} {:>11} {:>9} {:>14}",
            "phase",
            "pairs",
            "shadowed",
            "both",
            "canon pass",
            "shadow pass",
            "agreement",
            "errors (t/o)"
        );
        let mut row = |name: &str, t: &PhaseTally| {
            let _ = writeln!(
                s,
                "{:<12} {:>7} {:>9} {:>7} {:>11} {:>11} {:>9} {:>14}",
                name,
                t.pairs,
                t.shadowed,
                t.both_scored,
                pct(ratio(t.canonical_pass_on_both, t.both_scored)),
                pct(t.shadow_pass_rate()),
                pct(t.agreement()),
                format!("{} ({})", t.shadow_errors, t.shadow_timeouts),
            );
        };
        for (k, v) in &self.phases {
            row(k, v);
        }
        row("all", &self.total);
        let _ = writeln!(
            s,
            "canonical pass rate over all pairs: {}",
            pct(self.total.canonical_pass_rate())
        );
        s
    }
}
