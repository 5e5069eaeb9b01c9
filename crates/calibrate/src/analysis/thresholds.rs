//! The thresholds in force: the canonical T (given, or the most common of the logs) and the
//! shadow t configured when the logs were written, with a note when the logs disagree.

use super::options::Options;
use super::pairs::Extracted;
use crate::grid::{Grid, Threshold};

/// Where a threshold came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdSource {
    /// Given on the command line / in [`Options`].
    Given,
    /// Read from the logs: every distinct value with its count, most common first (the first
    /// is the one used).
    Log(Vec<(Threshold, usize)>),
}

/// A threshold and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdChoice {
    /// The threshold.
    pub threshold: Threshold,
    /// Its origin.
    pub source: ThresholdSource,
}

impl ThresholdChoice {
    /// Several different values were logged (the most common one is used).
    pub fn is_mixed(&self) -> bool {
        matches!(&self.source, ThresholdSource::Log(v) if v.len() > 1)
    }
    /// `"given"` or `"log"`.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            ThresholdSource::Given => "given",
            ThresholdSource::Log(_) => "log",
        }
    }
}

/// The canonical T (given, else the most common logged) and the configured shadow t (the
/// most common logged). `ex` holds at least one pair.
pub(crate) fn choose(opts: &Options, ex: &Extracted) -> (ThresholdChoice, ThresholdChoice) {
    let canonical = match &opts.canon_threshold {
        Some(t) => ThresholdChoice {
            threshold: t.clone(),
            source: ThresholdSource::Given,
        },
        None => ThresholdChoice {
            threshold: ex.canonical_thresholds[0].0.clone(),
            source: ThresholdSource::Log(ex.canonical_thresholds.clone()),
        },
    };
    let shadow_configured = ThresholdChoice {
        threshold: ex.shadow_thresholds[0].0.clone(),
        source: ThresholdSource::Log(ex.shadow_thresholds.clone()),
    };
    (canonical, shadow_configured)
}

/// A note for each side whose logs hold several thresholds, listing them.
pub(crate) fn mixed_threshold_notes(
    canonical: &ThresholdChoice,
    shadow_configured: &ThresholdChoice,
) -> Vec<String> {
    let mut notes = Vec::new();
    for (side, c) in [("canonical", canonical), ("shadow", shadow_configured)] {
        if let ThresholdSource::Log(v) = &c.source {
            if v.len() > 1 {
                notes.push(format!(
                    "the logs hold several {side} thresholds ({}); using the most common, {}{}",
                    v.iter()
                        .map(|(t, n)| format!("{t} x{n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.threshold,
                    if side == "canonical" {
                        " (give --canon-threshold to choose)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    notes
}

/// The thresholds in force and the grid of shadow thresholds evaluated: what every scope's
/// statistics are computed against.
pub(crate) struct InForce<'a> {
    /// The canonical threshold T.
    pub t_canon: &'a Threshold,
    /// The shadow threshold configured in the logs.
    pub configured: &'a Threshold,
    /// The proposed shadow threshold, if any.
    pub proposed: Option<&'a Threshold>,
    /// The shadow thresholds evaluated.
    pub grid: &'a Grid,
}
