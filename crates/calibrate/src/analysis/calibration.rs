//! [`calibrate`]: the steps from shadow records to a [`Calibration`], in order, and
//! [`calibrate_logs`], which reads the logs first.

use super::compromise::{compromise, Compromise};
use super::labels::{add_label_stats, invalid_label_note, partial_label_note};
use super::logs::{read_logs, Places, SkippedInput};
use super::options::Options;
use super::pairs::{extract_pairs, no_pairs, Exclusions, Pair};
use super::phases::{empty_phase_notes, group_by_phase, phase_and_pooled_stats, PhaseStats};
use super::thresholds::{self, InForce, ThresholdChoice};
use super::warnings::{small_phase_notes, warnings};
use crate::error::{CalibrateError, Result};
use crate::grid::{Grid, Threshold};
use std::path::{Path, PathBuf};
use titlesim_log::ShadowRecord;

/// Everything `titlesim calibrate` computes.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The logs read (empty when records were passed in directly).
    pub logs: Vec<PathBuf>,
    /// Log lines that were not valid records.
    pub skipped: Vec<SkippedInput>,
    /// Records read.
    pub records: usize,
    /// Records that were not pairs, by reason.
    pub excluded: Exclusions,
    /// Pairs with a label other than 0 or 1 (used without a label).
    pub invalid_labels: usize,
    /// `model (backend)` of the canonical side(s) in the logs.
    pub canonical_models: Vec<String>,
    /// `model (backend)` of the shadow side(s) in the logs.
    pub shadow_models: Vec<String>,
    /// The vector fingerprints of the canonical side(s) in the logs.
    pub canonical_fingerprints: Vec<String>,
    /// The vector fingerprints of the shadow side(s) in the logs: what `titlesim promote`
    /// checks against the configuration's shadow model.
    pub shadow_fingerprints: Vec<String>,
    /// The canonical threshold T.
    pub canonical_threshold: ThresholdChoice,
    /// The shadow threshold configured when the logs were written.
    pub shadow_configured: ThresholdChoice,
    /// The proposed shadow threshold, if any.
    pub shadow_proposed: Option<Threshold>,
    /// The grid evaluated.
    pub grid: Grid,
    /// The agreement floor.
    pub floor: f64,
    /// Per-phase statistics, by phase name.
    pub phases: Vec<PhaseStats>,
    /// All pairs together.
    pub pooled: PhaseStats,
    /// The compromise threshold over phases.
    pub compromise: Option<Compromise>,
    /// Loud warnings: thresholds in the far tail, large pass-rate shifts.
    pub warnings: Vec<String>,
    /// Other things a reader should know (mixed thresholds, small phases...).
    pub notes: Vec<String>,
    /// The pairs (for plots and review).
    pub pairs: Vec<Pair>,
}

/// Reads the logs with [`titlesim_log::read_log`] and calibrates their records; skipped
/// lines are kept in [`Calibration::skipped`].
pub fn calibrate_logs<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Result<Calibration> {
    let (records, skipped, places) = read_logs(paths)?;
    let mut cal = calibrate_at(&records, Some(&places), opts).map_err(|e| match e {
        CalibrateError::NoPairs { records, why } if !skipped.is_empty() => {
            CalibrateError::NoPairs {
                records,
                why: format!("{why}; {} unreadable lines skipped", skipped.len()),
            }
        }
        e => e,
    })?;
    cal.logs = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    if !skipped.is_empty() {
        cal.notes.insert(
            0,
            format!(
                "{} log line(s) skipped as unreadable (first: {}:{}: {})",
                skipped.len(),
                skipped[0]
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                skipped[0].line,
                skipped[0].reason
            ),
        );
    }
    cal.skipped = skipped;
    Ok(cal)
}

/// Calibrates a shadow model from shadow records. Fails only when no record is a usable
/// pair or an option is invalid.
pub fn calibrate(records: &[ShadowRecord], opts: &Options) -> Result<Calibration> {
    calibrate_at(records, None, opts)
}

/// [`calibrate`], with the records' logs and lines for its errors when they were read from logs.
fn calibrate_at(
    records: &[ShadowRecord],
    places: Option<&Places>,
    opts: &Options,
) -> Result<Calibration> {
    check_options(opts)?;
    let ex = extract_pairs(records);
    ex.check_conflicts_at(places)?;
    if ex.pairs.is_empty() {
        return Err(no_pairs(records, &ex));
    }

    let (canonical_threshold, shadow_configured) = thresholds::choose(opts, &ex);
    let mut notes = thresholds::mixed_threshold_notes(&canonical_threshold, &shadow_configured);
    notes.extend(invalid_label_note(&ex));
    if ex.duplicates > 0 {
        notes.push(format!(
            "{} record(s) of a pair id already read were left out (the first record of each \
             pair counts): was a log given twice, or did two runs overlap?",
            ex.duplicates
        ));
    }
    let ctx = InForce {
        t_canon: &canonical_threshold.threshold,
        configured: &shadow_configured.threshold,
        proposed: opts.propose.as_ref(),
        grid: &opts.grid,
    };

    // Every phase seen in the records, pairs or not, and all pairs pooled.
    let by_phase = group_by_phase(&ex);
    let all: Vec<&Pair> = ex.pairs.iter().collect();
    let (mut phases, mut pooled) = phase_and_pooled_stats(&by_phase, &all, &ex, &ctx);
    notes.extend(empty_phase_notes(&phases));

    let compromise = compromise(&phases, &opts.grid, opts.floor);
    // Label metrics include the shadow model at the compromise, so they come after it.
    let at_compromise = compromise.as_ref().map(|c| &c.threshold);
    add_label_stats(
        &mut phases,
        &mut pooled,
        &by_phase,
        &all,
        &ctx,
        at_compromise,
    );

    notes.extend(small_phase_notes(&phases));
    let warnings = warnings(&pooled, &phases, &ctx, &by_phase, &all);
    notes.extend(partial_label_note(&ex.pairs));

    Ok(Calibration {
        logs: Vec::new(),
        skipped: Vec::new(),
        records: records.len(),
        excluded: ex.excluded,
        invalid_labels: ex.invalid_labels,
        canonical_models: ex.models.0.clone(),
        shadow_models: ex.models.1.clone(),
        canonical_fingerprints: ex.fingerprints.0.clone(),
        shadow_fingerprints: ex.fingerprints.1.clone(),
        canonical_threshold,
        shadow_configured,
        shadow_proposed: opts.propose.clone(),
        grid: opts.grid.clone(),
        floor: opts.floor,
        phases,
        pooled,
        compromise,
        warnings,
        notes,
        pairs: ex.pairs,
    })
}

/// The floor must be a share and the grid must hold a threshold.
fn check_options(opts: &Options) -> Result<()> {
    if !(0.0..=1.0).contains(&opts.floor) {
        return Err(CalibrateError::invalid(format!(
            "floor {} is not a share (expected 0..=1, e.g. 0.78 for 78%)",
            opts.floor
        )));
    }
    if opts.grid.points().is_empty() {
        return Err(CalibrateError::invalid("the grid has no thresholds"));
    }
    Ok(())
}
