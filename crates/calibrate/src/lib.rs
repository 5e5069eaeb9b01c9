//! # titlesim-calibrate
//!
//! From shadow logs to a threshold decision.
//!
//! A shadow log (JSONL of [`titlesim_log::ShadowRecord`]) holds, for every scored pair, the
//! canonical model's cosine and the shadow (candidate) model's cosine. This crate turns those
//! logs into the numbers that decide whether and how the candidate can replace the canonical
//! model:
//!
//! - [`calibrate`] / [`calibrate_logs`]: per phase and pooled — Pearson r, Spearman rho,
//!   both cosine distributions (mean, sd, percentiles, pass rates), the agreement curve
//!   `agreement(t)` = share of pairs with `(canonical >= T) == (shadow >= t)` over a grid of
//!   shadow thresholds, the best t per phase, the compromise t that maximises the lowest
//!   agreement over phases and the range of t that keeps every phase above a floor; loud
//!   warnings when a configured or proposed threshold sits in the far tail of the shadow
//!   cosines; gold-label metrics (ROC AUC, best-F1 threshold, accuracy/precision/recall) when
//!   pairs carry labels.
//! - [`render_text`], [`to_json`] and [`write_report`] (SVG + PNG plots, an HTML page and a
//!   Markdown summary).
//! - [`review`]: export the disagreements for people to judge, and tally their verdicts with
//!   an exact sign test and Wilson intervals.
//! - [`promote`]: the configuration swap (the candidate becomes canonical at its calibrated
//!   threshold, comments and layout kept), refused when the threshold or the calibration does
//!   not hold up, and the [`promote::Expectation`] the burn-in checks.
//! - [`burnin`]: the logs written after a promotion against that expectation — promote to
//!   stable, keep watching (with the pairs still needed), or roll back (naming the phase).
//!
//! ```no_run
//! use titlesim_calibrate::{calibrate_logs, render_text, write_report, Options, ReportOptions};
//! let cal = calibrate_logs(&["shadow.jsonl"], &Options::default())?;
//! print!("{}", render_text(&cal));
//! write_report(&cal, "report".as_ref(), &ReportOptions::default())?;
//! # Ok::<(), titlesim_calibrate::CalibrateError>(())
//! ```
#![deny(missing_docs)]

pub mod analysis;
pub mod burnin;
pub mod error;
pub mod grid;
pub mod json;
pub mod promote;
pub mod report;
pub mod review;
pub mod rng;
pub mod stats;
pub mod text;

pub use analysis::{
    calibrate, calibrate_logs, extract_pairs, Calibration, Compromise, Distribution, Exclusions,
    LabelStats, ModelLabels, Options, Pair, PhaseStats, Share, SkippedInput, ThresholdChoice,
    ThresholdMetrics, ThresholdSource, NO_PHASE, PERCENTILES, POOLED,
};
pub use error::{CalibrateError, Result};
pub use grid::{Grid, Threshold};
pub use json::to_json;
pub use report::{write_report, FontChoice, Report, ReportOptions};
pub use text::{render_text, render_warnings};
