//! From shadow records to a [`Calibration`]: pairs, per-phase statistics, agreement curves,
//! best and compromise thresholds, far-tail warnings and gold-label metrics.
//!
//! One job per file, in the order [`calibrate`] runs them:
//!
//! | file | job |
//! |---|---|
//! | `options.rs` | [`Options`]: T, the grid, the floor, a proposed t |
//! | `logs.rs` | reading shadow logs; unreadable lines become [`SkippedInput`]s |
//! | `pairs.rs` | records → usable [`Pair`]s, [`Exclusions`] counted by reason |
//! | `thresholds.rs` | choosing T and the configured t ([`ThresholdChoice`]) |
//! | `share.rs` | [`Share`]: `k / n` kept as counts |
//! | `distribution.rs` | one side's cosines: mean, sd, percentiles, pass rates |
//! | `phases.rs` | [`PhaseStats`]: correlations, agreement curve and best t per phase |
//! | `compromise.rs` | the t maximising the lowest agreement over phases |
//! | `labels.rs` | metrics against gold labels |
//! | `warnings.rs` | loud warnings: far-tail thresholds, pass-rate shifts |
//! | `calibration.rs` | [`Calibration`] and [`calibrate`] / [`calibrate_logs`], which run the steps |

mod calibration;
mod compromise;
mod distribution;
mod labels;
mod logs;
mod options;
mod pairs;
mod phases;
mod share;
mod thresholds;
mod warnings;

pub use calibration::{calibrate, calibrate_logs, Calibration};
pub use compromise::Compromise;
pub use distribution::{Distribution, PERCENTILES};
pub use labels::{LabelStats, ModelLabels, ThresholdMetrics};
pub use logs::SkippedInput;
pub use options::Options;
pub(crate) use pairs::{conflict_error, Conflicts};
pub use pairs::{extract_pairs, Conflict, Exclusions, Extracted, Pair, NO_PHASE};
pub use phases::{PhaseStats, POOLED};
pub use share::Share;
pub use thresholds::{ThresholdChoice, ThresholdSource};
pub use warnings::{PASS_RATE_SHIFT_LIMIT_POINTS, TAIL_CHECK_MIN_PAIRS};

pub(crate) use logs::{read_logs, Places};
pub(crate) use pairs::no_pairs;
