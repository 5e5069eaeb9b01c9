//! What to calibrate, and how.

use crate::grid::{Grid, Threshold};

/// What to calibrate, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The canonical threshold T; `None` takes it from the logs (the most common value).
    pub canon_threshold: Option<Threshold>,
    /// The shadow thresholds to evaluate.
    pub grid: Grid,
    /// The agreement every phase should keep (0..=1), for the compromise's feasible range.
    pub floor: f64,
    /// A shadow threshold someone proposes; it is checked like the configured one.
    pub propose: Option<Threshold>,
}

impl Default for Options {
    /// Threshold from the logs, grid `0.50:0.99:0.01`, floor 0.78, nothing proposed.
    fn default() -> Self {
        Options {
            canon_threshold: None,
            grid: Grid::default(),
            floor: 0.78,
            propose: None,
        }
    }
}
