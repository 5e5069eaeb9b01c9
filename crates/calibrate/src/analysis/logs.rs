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

/// Reads every log with [`titlesim_log::read_log`]: all their records, in order, and the
/// unreadable lines with their file.
pub(crate) fn read_logs<P: AsRef<Path>>(
    paths: &[P],
) -> Result<(Vec<ShadowRecord>, Vec<SkippedInput>)> {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let c = titlesim_log::read_log(p)?;
        records.extend(c.records);
        skipped.extend(c.skipped.into_iter().map(|s| SkippedInput {
            path: Some(p.to_path_buf()),
            line: s.line,
            reason: s.reason,
        }));
    }
    Ok((records, skipped))
}
