//! Tally: read a review file back and count its verdicts, overall, by direction and by
//! phase.

use super::verdict::Verdict;
use crate::analysis::NO_PHASE;
use crate::error::{CalibrateError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to tally.
#[derive(Debug, Clone, Copy, Default)]
pub struct TallyOptions {
    /// Refuse a file with rows not yet reviewed (empty verdict) instead of counting them.
    pub require_complete: bool,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Canonical right.
    pub canonical: u64,
    /// Shadow right.
    pub shadow: u64,
    /// Both right.
    pub both: u64,
    /// Neither right.
    pub neither: u64,
}

impl Counts {
    /// All reviewed rows.
    pub fn reviewed(&self) -> u64 {
        self.canonical + self.shadow + self.both + self.neither
    }
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Canonical => self.canonical += 1,
            Verdict::Shadow => self.shadow += 1,
            Verdict::Both => self.both += 1,
            Verdict::Neither => self.neither += 1,
        }
    }
}

/// The verdicts of a review file.
#[derive(Debug, Clone)]
pub struct Tally {
    /// The file.
    pub path: PathBuf,
    /// Data rows.
    pub rows: u64,
    /// Verdict counts.
    pub counts: Counts,
    /// Lines of rows not yet reviewed (empty verdict).
    pub unreviewed: Vec<u64>,
    /// Counts per value of the `direction` column, when the file has one.
    pub by_direction: BTreeMap<String, Counts>,
    /// Counts per value of the `phase` column, when the file has one.
    pub by_phase: BTreeMap<String, Counts>,
}

/// Reads a review file and counts its verdicts. A bad verdict is an error naming
/// `file:line`.
pub fn tally(path: &Path, opts: &TallyOptions) -> Result<Tally> {
    let csv_err = |err: csv::Error| {
        let line = err.position().map(|p| p.line()).unwrap_or(0);
        if line > 0 {
            CalibrateError::Row {
                path: path.to_path_buf(),
                line,
                message: err.to_string(),
            }
        } else {
            CalibrateError::Csv {
                path: path.to_path_buf(),
                message: err.to_string(),
            }
        }
    };
    let file = std::fs::File::open(path).map_err(|e| CalibrateError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(file);
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(name)
        })
    };
    let verdict_col = col("verdict").ok_or_else(|| CalibrateError::Row {
        path: path.to_path_buf(),
        line: 1,
        message: "no `verdict` column in the header".into(),
    })?;
    let (dir_col, phase_col) = (col("direction"), col("phase"));
    let mut t = Tally {
        path: path.to_path_buf(),
        rows: 0,
        counts: Counts::default(),
        unreviewed: Vec::new(),
        by_direction: BTreeMap::new(),
        by_phase: BTreeMap::new(),
    };
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        t.rows += 1;
        let cell = rec.get(verdict_col).unwrap_or("");
        let v = Verdict::parse(cell).map_err(|message| CalibrateError::Row {
            path: path.to_path_buf(),
            line,
            message,
        })?;
        match v {
            None if opts.require_complete => {
                return Err(CalibrateError::Row {
                    path: path.to_path_buf(),
                    line,
                    message: "empty verdict (not yet reviewed)".into(),
                })
            }
            None => t.unreviewed.push(line),
            Some(v) => {
                t.counts.add(v);
                if let Some(d) = dir_col.and_then(|i| rec.get(i)) {
                    t.by_direction
                        .entry(d.trim().to_string())
                        .or_default()
                        .add(v);
                }
                if let Some(p) = phase_col.and_then(|i| rec.get(i)) {
                    let p = if p.trim().is_empty() {
                        NO_PHASE
                    } else {
                        p.trim()
                    };
                    t.by_phase.entry(p.to_string()).or_default().add(v);
                }
            }
        }
    }
    Ok(t)
}
