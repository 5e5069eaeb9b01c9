//! The burn-in: live logs written after a promotion, compared phase by phase with the
//! [`Expectation`] calibration made, to decide whether the swap goes to the stable release.
//!
//! For each phase of the expectation and each of its two shares — the new canonical model's
//! pass rate, and its agreement with the old model (now logged as the shadow) — a two-sided
//! two-proportion z-test compares the burn-in share with the calibration's, at level
//! `alpha / m` (Bonferroni over the `m = 2 x phases` tests, so a burn-in that matches rolls
//! back with probability at most `alpha`). A phase
//!
//! - **rolls back** when either test rejects (a drift is shown, however few pairs);
//! - **keeps watching** when it has fewer burn-in pairs than needed to tell a drift of
//!   `drift` (absolute share) from the calibration's share at `power` (see
//!   [`stats::needed_pairs`]);
//! - **matches** otherwise.
//!
//! The burn-in's [`Decision`] is the worst phase's: roll back, else keep watching, else
//! promote to stable.
//!
//! | file | job |
//! |---|---|
//! | `stats.rs` | normal distribution, z-test, Cohen's h, pairs needed (scipy/statsmodels) |
//! | `measure.rs` | the logs' counts per phase, checked against the expectation's models |
//! | `render.rs` | [`BurnIn::render_text`] and [`BurnIn::to_json`] |
//! | `plot.rs` | [`write_plot`]: the pass rate over time against the expected band |

mod measure;
mod plot;
mod render;
pub mod stats;

pub use measure::{Left, Measured};
pub use plot::write_plot;

use crate::analysis::{read_logs, Places, Share};
use crate::error::{CalibrateError, Result};
use crate::promote::{Expectation, Expected};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use titlesim_log::ShadowRecord;

/// How strict the burn-in is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnInOptions {
    /// The family-wise significance level of the drift tests (split over the tests).
    pub alpha: f64,
    /// The power a burn-in must reach before it can promote.
    pub power: f64,
    /// The drift (absolute share, 0.10 = 10 points) the burn-in must be able to tell.
    pub drift: f64,
}

impl Default for BurnInOptions {
    /// alpha 0.05, power 0.8, drift 0.10.
    fn default() -> Self {
        BurnInOptions {
            alpha: 0.05,
            power: 0.8,
            drift: 0.10,
        }
    }
}

impl BurnInOptions {
    /// The drift tests of an expectation of `phases` phases (pass rate and agreement of each)
    /// and the level of each test: `alpha` split over them.
    pub(crate) fn tests(&self, phases: usize) -> (usize, f64) {
        let tests = 2 * phases;
        (tests, self.alpha / tests.max(1) as f64)
    }

    fn check(&self) -> Result<()> {
        let open = |v: f64| v > 0.0 && v < 1.0;
        if !open(self.alpha) {
            return Err(CalibrateError::invalid(format!(
                "alpha {} is not in (0, 1)",
                self.alpha
            )));
        }
        if !open(self.power) {
            return Err(CalibrateError::invalid(format!(
                "power {} is not in (0, 1)",
                self.power
            )));
        }
        if self.power <= self.alpha {
            // A test at level alpha rejects with chance alpha on no pairs at all: a power at
            // or below it asks nothing of the burn-in (and no sample size solves for it).
            return Err(CalibrateError::invalid(format!(
                "power {} is not above alpha {}: a test at level alpha has that power with no \
                 pairs at all; power is the chance to tell a drift (0.8 is usual)",
                self.power, self.alpha
            )));
        }
        if !(self.drift > 0.0 && self.drift <= 1.0) {
            return Err(CalibrateError::invalid(format!(
                "drift {} is not in (0, 1]",
                self.drift
            )));
        }
        Ok(())
    }
}

/// What the burn-in decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    /// Every phase matches the expectation with enough pairs: promote to stable (exit 0).
    Promote,
    /// No drift shown, but too few pairs to tell one (exit 1).
    KeepWatching,
    /// A phase drifted from the expectation (exit 2).
    RollBack,
}

impl Decision {
    /// The process exit code: 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Decision::Promote => 0,
            Decision::KeepWatching => 1,
            Decision::RollBack => 2,
        }
    }
    /// `promote`, `keep-watching`, `roll-back`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Promote => "promote",
            Decision::KeepWatching => "keep-watching",
            Decision::RollBack => "roll-back",
        }
    }
}

/// One share of one phase against its expectation.
#[derive(Debug, Clone)]
pub struct MetricCheck {
    /// `pass rate` or `agreement`.
    pub metric: &'static str,
    /// What calibration predicted.
    pub expected: Expected,
    /// What the burn-in measured.
    pub measured: Share,
    /// The two-proportion z-test `(z, p)` (calibration minus burn-in); `None` without
    /// burn-in pairs.
    pub test: Option<(f64, f64)>,
    /// The test rejects at the per-test level.
    pub drifted: bool,
    /// Burn-in pairs needed to tell the drift at the power; `None` when no burn-in suffices.
    pub needed: Option<u64>,
}

impl MetricCheck {
    /// Pairs still missing (0 when enough).
    pub fn more_needed(&self) -> Option<u64> {
        self.needed.map(|n| n.saturating_sub(self.measured.n))
    }
    fn decision(&self) -> Decision {
        if self.drifted {
            Decision::RollBack
        } else if self.more_needed() == Some(0) {
            Decision::Promote
        } else {
            Decision::KeepWatching
        }
    }
}

/// One phase's verdict.
#[derive(Debug, Clone)]
pub struct PhaseVerdict {
    /// The phase.
    pub name: String,
    /// Its decision.
    pub decision: Decision,
    /// The new canonical model's pass rate.
    pub pass_rate: MetricCheck,
    /// The agreement with the old model.
    pub agreement: MetricCheck,
}

/// The burn-in's result.
#[derive(Debug, Clone)]
pub struct BurnIn {
    /// The expectation judged against.
    pub expectation: Expectation,
    /// The options.
    pub options: BurnInOptions,
    /// The logs read.
    pub logs: Vec<PathBuf>,
    /// Records read.
    pub records: usize,
    /// Log lines skipped as unreadable: `file:line: reason`.
    pub skipped: Vec<String>,
    /// Records left out of the counts.
    pub left: Left,
    /// Tests made (`2 x` the expectation's phases).
    pub tests: usize,
    /// The level of each test, `alpha / tests`.
    pub alpha_per_test: f64,
    /// Per expected phase, by name.
    pub phases: Vec<PhaseVerdict>,
    /// Phases in the logs that the expectation does not know, with their pairs (not judged).
    pub unexpected: Vec<(String, u64)>,
    /// The decision.
    pub decision: Decision,
    /// The counts (and time series) of every phase seen.
    pub measured: BTreeMap<String, Measured>,
    /// The first record whose `ts` is not an RFC 3339 time, where it is (`logs/a.jsonl:12
    /// (pair 7) has ts "yesterday"`): the series' x values are then record numbers, else
    /// times in ms ([`BurnIn::timed`]).
    pub untimed: Option<String>,
    /// Records written by `titlesim replay` (with `replayed_at`): counted, and noted, as a
    /// burn-in judges live traffic (a replay of the calibration's own pairs matches by
    /// construction).
    pub replayed: usize,
}

/// Reads the burn-in logs and judges them against the expectation.
pub fn burn_in_logs<P: AsRef<Path>>(
    exp: &Expectation,
    paths: &[P],
    opts: &BurnInOptions,
) -> Result<BurnIn> {
    let (records, skipped, places) = read_logs(paths)?;
    let mut b = judge(exp, &records, Some(&places), opts)?;
    b.logs = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    b.skipped = skipped
        .into_iter()
        .map(|s| {
            let path = s.path.map(|p| p.display().to_string()).unwrap_or_default();
            format!("{path}:{}: {}", s.line, s.reason)
        })
        .collect();
    Ok(b)
}

/// Judges records (already read) against the expectation.
pub fn burn_in(
    exp: &Expectation,
    records: &[ShadowRecord],
    opts: &BurnInOptions,
) -> Result<BurnIn> {
    judge(exp, records, None, opts)
}

fn judge(
    exp: &Expectation,
    records: &[ShadowRecord],
    places: Option<&Places>,
    opts: &BurnInOptions,
) -> Result<BurnIn> {
    opts.check()?;
    let (measured, left, untimed) = measure::measure(exp, records, places)?;
    let (tests, alpha) = opts.tests(exp.phases.len());
    let check = |metric: &'static str, e: &Expected, m: Share| {
        let test = stats::two_proportion_z(e.k, e.n, m.k, m.n);
        MetricCheck {
            metric,
            expected: e.clone(),
            measured: m,
            test,
            drifted: test.is_some_and(|(_, p)| p < alpha),
            needed: stats::needed_pairs(e.share, e.n, opts.drift, alpha, opts.power),
        }
    };
    let phases: Vec<PhaseVerdict> = exp
        .phases
        .iter()
        .map(|(name, e)| {
            let m = measured.get(name).cloned().unwrap_or_default();
            let pass_rate = check("pass rate", &e.pass_rate, m.pass);
            let agreement = check("agreement", &e.agreement, m.agree);
            PhaseVerdict {
                name: name.clone(),
                decision: pass_rate.decision().max(agreement.decision()),
                pass_rate,
                agreement,
            }
        })
        .collect();
    let decision = phases
        .iter()
        .map(|p| p.decision)
        .max()
        .unwrap_or(Decision::KeepWatching);
    let unexpected = measured
        .iter()
        .filter(|(n, _)| !exp.phases.contains_key(*n))
        .map(|(n, m)| (n.clone(), m.pass.n))
        .collect();
    Ok(BurnIn {
        expectation: exp.clone(),
        options: *opts,
        logs: Vec::new(),
        records: records.len(),
        replayed: records.iter().filter(|r| r.replayed_at.is_some()).count(),
        skipped: Vec::new(),
        left,
        tests,
        alpha_per_test: alpha,
        phases,
        unexpected,
        decision,
        measured,
        untimed,
    })
}
