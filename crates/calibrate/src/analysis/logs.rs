//! Reading shadow logs: their records, and the lines that were not records.

use crate::error::Result;
use std::path::{Path, PathBuf};
use titlesim_log::ShadowRecord;

/// A line of a log that was skipped, with its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedInput {
    /// The log file (None when records were passed in directly).
    pub path: Option<PathBuf>,
    /// 1-based line.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Where each record read by [`read_logs`] came from: its log and line, for errors that point
/// at a record (a pair id reused for another pair, a record of another model).
#[derive(Debug, Clone, Default)]
pub(crate) struct Places {
    paths: Vec<PathBuf>,
    /// Per record: its log (an index into `paths`) and its 1-based line.
    at: Vec<(usize, u64)>,
}

impl Places {
    /// The log and line of record `i`.
    pub(crate) fn of(&self, i: usize) -> Option<(&Path, u64)> {
        let &(file, line) = self.at.get(i)?;
        Some((self.paths.get(file)?.as_path(), line))
    }

    /// `FILE:LINE` of record `i`, or `line LINE` when it is in `beside`'s file.
    pub(crate) fn describe(&self, i: usize, beside: Option<&Path>) -> Option<String> {
        let (path, line) = self.of(i)?;
        Some(if beside == Some(path) {
            format!("line {line}")
        } else {
            format!("{}:{line}", path.display())
        })
    }
}

/// Reads every log with [`titlesim_log::read_log`]: all their records, in order, the
/// unreadable lines with their file, and where each record came from.
pub(crate) fn read_logs<P: AsRef<Path>>(
    paths: &[P],
) -> Result<(Vec<ShadowRecord>, Vec<SkippedInput>, Places)> {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let mut places = Places::default();
    for (file, p) in paths.iter().enumerate() {
        let p = p.as_ref();
        let c = titlesim_log::read_log(p)?;
        records.extend(c.records);
        places.paths.push(p.to_path_buf());
        places
            .at
            .extend(c.lines.into_iter().map(|line| (file, line)));
        skipped.extend(c.skipped.into_iter().map(|s| SkippedInput {
            path: Some(p.to_path_buf()),
            line: s.line,
            reason: s.reason,
        }));
    }
    Ok((records, skipped, places))
}
