//! Export: the pairs where the two models disagree at (T, t), grouped by phase and direction
//! and sampled if asked.

use super::sample::{self, Sample};
use crate::analysis::{extract_pairs, no_pairs, read_logs, Exclusions, Places, SkippedInput};
use crate::error::{CalibrateError, Result};
use crate::grid::Threshold;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;
use titlesim_log::ShadowRecord;

/// Which model said "match" in a disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Canonical says match, shadow says no match.
    CanonicalMatch,
    /// Shadow says match, canonical says no match.
    ShadowMatch,
}

impl Direction {
    /// `canonical_match` or `shadow_match` (the CSV `direction` column).
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::CanonicalMatch => "canonical_match",
            Direction::ShadowMatch => "shadow_match",
        }
    }
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The canonical threshold T; `None` takes the most common one of the logs.
    pub canon_threshold: Option<Threshold>,
    /// The shadow threshold t under review.
    pub shadow_threshold: Threshold,
    /// A stratified sample instead of every disagreement.
    pub sample: Option<Sample>,
}

/// One disagreement, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRow {
    /// The pair's id.
    pub pair_id: String,
    /// Its phase.
    pub phase: String,
    /// Which model said match.
    pub direction: Direction,
    /// Canonical cosine.
    pub canonical_cosine: f32,
    /// Shadow cosine.
    pub shadow_cosine: f32,
    /// The gold label, if any.
    pub label: Option<bool>,
    /// The agent's title.
    pub product: String,
    /// The ground-truth title.
    pub gt: String,
}

/// A stratum of the export: phase × direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stratum {
    /// The phase.
    pub phase: String,
    /// The direction.
    pub direction: Direction,
    /// Disagreements in it.
    pub total: usize,
    /// Rows exported from it.
    pub exported: usize,
}

/// The result of an export.
#[derive(Debug, Clone)]
pub struct Export {
    /// The canonical threshold used.
    pub canon_threshold: Threshold,
    /// The shadow threshold used.
    pub shadow_threshold: Threshold,
    /// Usable pairs.
    pub pairs: usize,
    /// Records that were not pairs.
    pub excluded: Exclusions,
    /// Records of a pair id already read (a log given twice, overlapping runs): left out, the
    /// first record of each pair counts.
    pub duplicates: usize,
    /// Log lines skipped as unreadable.
    pub skipped: Vec<SkippedInput>,
    /// Disagreements found.
    pub disagreements: usize,
    /// Per stratum counts.
    pub strata: Vec<Stratum>,
    /// The rows to review (sorted by phase, direction, then log order).
    pub rows: Vec<ReviewRow>,
    /// The vector fingerprints of the canonical and the shadow side of the records, distinct,
    /// in order of appearance (written in every row of the review file).
    pub fingerprints: (Vec<String>, Vec<String>),
}

/// Finds the disagreements of `records` at the given thresholds, sampled if asked.
pub fn export(records: &[ShadowRecord], opts: &ExportOptions) -> Result<Export> {
    export_at(records, None, opts)
}

/// [`export`], with the records' logs and lines for its errors when they were read from logs.
fn export_at(
    records: &[ShadowRecord],
    places: Option<&Places>,
    opts: &ExportOptions,
) -> Result<Export> {
    let ex = extract_pairs(records);
    ex.check_conflicts_at(places)?;
    if ex.pairs.is_empty() {
        return Err(no_pairs(records, &ex));
    }
    if let Some(s) = &opts.sample {
        if s.n == 0 {
            return Err(CalibrateError::invalid("--sample must be at least 1"));
        }
    }
    let t_canon = opts
        .canon_threshold
        .clone()
        .unwrap_or_else(|| ex.canonical_thresholds[0].0.clone());
    let t = &opts.shadow_threshold;
    let mut strata: BTreeMap<(String, Direction), Vec<ReviewRow>> = BTreeMap::new();
    for p in &ex.pairs {
        let (c, s) = (t_canon.passes(p.canonical), t.passes(p.shadow));
        if c == s {
            continue;
        }
        let direction = if c {
            Direction::CanonicalMatch
        } else {
            Direction::ShadowMatch
        };
        strata
            .entry((p.phase.clone(), direction))
            .or_default()
            .push(ReviewRow {
                pair_id: p.pair_id.clone(),
                phase: p.phase.clone(),
                direction,
                canonical_cosine: p.canonical,
                shadow_cosine: p.shadow,
                label: p.label,
                product: p.product.clone(),
                gt: p.gt.clone(),
            });
    }
    let disagreements = strata.values().map(Vec::len).sum();
    let (rows, strata) = sample::draw(strata, opts.sample);
    Ok(Export {
        canon_threshold: t_canon,
        shadow_threshold: t.clone(),
        pairs: ex.pairs.len(),
        excluded: ex.excluded,
        duplicates: ex.duplicates,
        skipped: Vec::new(),
        disagreements,
        strata,
        rows,
        fingerprints: ex.fingerprints,
    })
}

/// Reads the logs and calls [`export`]; unreadable lines are kept in [`Export::skipped`].
pub fn export_logs<P: AsRef<Path>>(paths: &[P], opts: &ExportOptions) -> Result<Export> {
    let (records, skipped, places) = read_logs(paths)?;
    let mut e = export_at(&records, Some(&places), opts)?;
    e.skipped = skipped;
    Ok(e)
}

impl Export {
    /// A short account of what was exported.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} pairs (excluded: {}{}{}); {} disagreements at T = {} (canonical), t = {} (shadow); {} exported",
            self.pairs,
            self.excluded.describe(),
            if self.duplicates == 0 {
                String::new()
            } else {
                format!(
                    "; {} repeated record(s) of a pair id left out, the first counts",
                    self.duplicates
                )
            },
            if self.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} unreadable log line(s) skipped", self.skipped.len())
            },
            self.disagreements,
            self.canon_threshold,
            self.shadow_threshold,
            self.rows.len()
        );
        for s in &self.strata {
            let _ = writeln!(
                o,
                "  {:<16} {:<16} {:>6} of {:>6}",
                s.phase,
                s.direction.as_str(),
                s.exported,
                s.total
            );
        }
        o
    }
}
