//! Continuing an interrupted run: which pairs already have a record.

use std::collections::HashMap;
use std::path::Path;

use titlesim_core::{CosineScorer, Scorer};
use titlesim_log::{read_log, ShadowRecord, SkippedLine};

use crate::error::{Error, Result};

/// What an existing log holds, for `--resume`.
#[derive(Debug, Clone, Default)]
pub struct ResumeState {
    /// The first complete record of each pair id.
    pub done: HashMap<String, ShadowRecord>,
    /// Lines that were not valid records (a torn last line after a crash, for instance).
    pub skipped: Vec<SkippedLine>,
    /// Records of a pair id already seen (kept out of `done`).
    pub duplicates: u64,
}

impl ResumeState {
    /// Reads the log at `path` (an absent file is an empty log) and checks that its records
    /// were written by the same models at the same thresholds: resuming a log of another
    /// model would mix two models' cosines under one name.
    pub fn load(
        path: &Path,
        canonical: &CosineScorer,
        shadow: Option<&CosineScorer>,
    ) -> Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let log = read_log(path)?;
        let mut state = ResumeState {
            skipped: log.skipped,
            ..Default::default()
        };
        let ci = canonical.info();
        for r in log.records {
            let c = &r.canonical;
            if c.fingerprint != ci.fingerprint || c.threshold != canonical.threshold() {
                return Err(Error::Log {
                    path: path.to_path_buf(),
                    message: format!(
                        "pair `{}` was scored by canonical model {} (fingerprint {}, threshold {}), \
                         but this configuration's canonical model is {} (fingerprint {}, threshold {}); \
                         write to another log",
                        r.pair_id, c.model, c.fingerprint, c.threshold, ci.model, ci.fingerprint,
                        canonical.threshold()
                    ),
                });
            }
            if let (Some(s), Some(side)) = (&r.shadow, shadow) {
                let si = side.info();
                if s.fingerprint != si.fingerprint || s.threshold != side.threshold() {
                    return Err(Error::Log {
                        path: path.to_path_buf(),
                        message: format!(
                            "pair `{}` was shadowed by model {} (fingerprint {}, threshold {}), \
                             but this configuration's shadow model is {} (fingerprint {}, threshold {}); \
                             write to another log",
                            r.pair_id, s.model, s.fingerprint, s.threshold, si.model,
                            si.fingerprint, side.threshold()
                        ),
                    });
                }
            }
            if state.done.contains_key(&r.pair_id) {
                state.duplicates += 1;
            } else {
                state.done.insert(r.pair_id.clone(), r);
            }
        }
        Ok(state)
    }
}
