//! Continuing an interrupted run: which pairs already have a record.

use std::collections::HashMap;
use std::path::Path;

use titlesim_core::{CosineScorer, Pair, Scorer};
use titlesim_log::{read_log, ShadowRecord, SkippedLine};

use crate::error::{Error, Result};

/// What an existing log holds, for `--resume`.
///
/// A record is reused only for the same pair: [`ResumeState::check_pairs`] refuses a log whose
/// record under a pair's id holds other titles, another phase or another label (ids reused for
/// new pairs would otherwise get the old verdicts), and [`ResumeState::load`] one written by
/// other models, thresholds or backends.
#[derive(Debug, Clone, Default)]
pub struct ResumeState {
    /// The log read.
    pub path: std::path::PathBuf,
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
            return Ok(Self {
                path: path.to_path_buf(),
                ..Self::default()
            });
        }
        let log = read_log(path)?;
        let mut state = ResumeState {
            path: path.to_path_buf(),
            skipped: log.skipped,
            ..Default::default()
        };
        for r in log.records {
            same_models(path, &r, canonical, shadow, "write to another log")?;
            if state.done.contains_key(&r.pair_id) {
                state.duplicates += 1;
            } else {
                state.done.insert(r.pair_id.clone(), r);
            }
        }
        Ok(state)
    }

    /// The record an earlier run logged for `pair`, if any (after [`ResumeState::check_pairs`],
    /// it is of this very pair).
    pub fn get(&self, pair: &Pair) -> Option<&ShadowRecord> {
        self.done.get(&pair.id)
    }

    /// Refuses to resume when a logged record's pair id now names another pair: its product
    /// or ground-truth title, phase or label differ. The error names the first ids that
    /// differ and how.
    pub fn check_pairs(&self, pairs: &[Pair]) -> Result<()> {
        let mut differ = Vec::new();
        let mut count = 0usize;
        for p in pairs {
            let Some(r) = self.done.get(&p.id) else {
                continue;
            };
            let what = differences(p, r);
            if what.is_empty() {
                continue;
            }
            count += 1;
            if differ.len() < 3 {
                differ.push(format!("`{}` ({})", p.id, what.join(", ")));
            }
        }
        if count == 0 {
            return Ok(());
        }
        let more = if count > differ.len() {
            format!(" and {} more", count - differ.len())
        } else {
            String::new()
        };
        Err(Error::Log {
            path: self.path.clone(),
            message: format!(
                "{count} pair id(s) name other pairs than the log's records: {}{more}; resuming \
                 would take the logged records (and verdicts) of other pairs for them: write to \
                 another log, or give these pairs new ids",
                differ.join("; ")
            ),
        })
    }
}

/// Refuses `r`, a record of the log at `path`, when it was written by other models, thresholds
/// or backends than `canonical` and `shadow` (a record's shadow side is checked only when
/// there is a shadow scorer); `fix` ends the message.
fn same_models(
    path: &Path,
    r: &ShadowRecord,
    canonical: &CosineScorer,
    shadow: Option<&CosineScorer>,
    fix: &str,
) -> Result<()> {
    let ci = canonical.info();
    // Another backend gives the same model's cosines up to float rounding (~1e-7): one log
    // would hold two backends' verdicts, and the same pair could pass in one part and fail in
    // the other at the threshold.
    let other_backend = |side: &str, logged: &str, now: &str| Error::Log {
        path: path.to_path_buf(),
        message: format!(
            "pair `{}` was scored by the {side} model on backend {logged}, but this \
             configuration runs it on {now}: their cosines differ in the last bits, so one log \
             would hold two backends' verdicts; {fix}, or use backend = \"{logged}\"",
            r.pair_id
        ),
    };
    let c = &r.canonical;
    if c.fingerprint != ci.fingerprint || c.threshold != canonical.threshold() {
        return Err(Error::Log {
            path: path.to_path_buf(),
            message: format!(
                "pair `{}` was scored by canonical model {} (fingerprint {}, threshold {}), but \
                 this configuration's canonical model is {} (fingerprint {}, threshold {}); {fix}",
                r.pair_id,
                c.model,
                c.fingerprint,
                c.threshold,
                ci.model,
                ci.fingerprint,
                canonical.threshold()
            ),
        });
    }
    if c.backend != ci.backend {
        return Err(other_backend("canonical", &c.backend, &ci.backend));
    }
    if let (Some(s), Some(side)) = (&r.shadow, shadow) {
        let si = side.info();
        if s.fingerprint == si.fingerprint && s.backend != si.backend {
            return Err(other_backend("shadow", &s.backend, &si.backend));
        }
        if s.fingerprint != si.fingerprint || s.threshold != side.threshold() {
            return Err(Error::Log {
                path: path.to_path_buf(),
                message: format!(
                    "pair `{}` was shadowed by model {} (fingerprint {}, threshold {}), but this \
                     configuration's shadow model is {} (fingerprint {}, threshold {}); {fix}",
                    r.pair_id,
                    s.model,
                    s.fingerprint,
                    s.threshold,
                    si.model,
                    si.fingerprint,
                    side.threshold()
                ),
            });
        }
    }
    Ok(())
}

/// How far from its end [`check_log_models`] reads a log: past the largest record (about
/// 800 KB with hostile titles).
const TAIL_BYTES: u64 = 2 << 20;

/// Refuses to append to the shadow log at `path` when its last record was written by other
/// models, thresholds or backends than `canonical` and `shadow`: a service or a Python scorer
/// started on the log of a previous configuration (a promotion that kept the log's path)
/// would mix two models' records under one name, and the burn-in and calibration would refuse
/// the whole log. Only the log's end is read (it may be weeks long): its last record, and for
/// the shadow side the last record that has one (not every pair is shadowed under a
/// `sample_rate`), within the last 2 MiB. Blank lines and a torn last line are passed over;
/// an absent or empty log, or one whose end holds no record, passes.
pub fn check_log_models(
    path: &Path,
    canonical: &CosineScorer,
    shadow: Option<&CosineScorer>,
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Ok(());
    };
    let len = f
        .metadata()
        .map_err(|e| titlesim_core::Error::io(path, e))?
        .len();
    let start = len.saturating_sub(TAIL_BYTES);
    let mut tail = Vec::new();
    f.seek(SeekFrom::Start(start))
        .and_then(|_| f.take(TAIL_BYTES).read_to_end(&mut tail))
        .map_err(|e| titlesim_core::Error::io(path, e))?;
    // Complete lines only: a torn last one (no newline) is cut when the sink opens, and the
    // first may be cut by the window.
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else {
        return Ok(());
    };
    let mut lines = tail[..end].split(|&b| b == b'\n').rev().peekable();
    let fix = "one log never mixes two models: point [shadow_options] log at a new file (after \
               a promotion: `titlesim promote --log NEW`), or restore the configuration that \
               wrote it";
    let mut last_seen = false;
    while let Some(line) = lines.next() {
        let whole = lines.peek().is_some() || start == 0;
        if !whole || line.trim_ascii().is_empty() {
            continue;
        }
        let Ok(r) = serde_json::from_slice::<ShadowRecord>(line.trim_ascii()) else {
            continue;
        };
        if !last_seen {
            // The last record: its canonical side, and its shadow side when it has one.
            same_models(path, &r, canonical, shadow, fix)?;
            last_seen = true;
            if r.shadow.is_some() || shadow.is_none() {
                return Ok(());
            }
        } else if r.shadow.is_some() {
            // The last record with a shadow side: the shadow model and threshold.
            return same_models(path, &r, canonical, shadow, fix);
        }
    }
    Ok(())
}

/// How `r`, logged under `p`'s id, differs from `p`.
fn differences(p: &Pair, r: &ShadowRecord) -> Vec<String> {
    let mut out = Vec::new();
    let mut text = |field: &str, now: &str, then: &str| {
        if now != then {
            out.push(format!(
                "{field} logged {:?}, now {:?}",
                short(then),
                short(now)
            ));
        }
    };
    text("product", &p.product, &r.product);
    text("gt", &p.gt, &r.gt);
    text(
        "phase",
        p.phase.as_deref().unwrap_or(""),
        r.phase.as_deref().unwrap_or(""),
    );
    if p.label != r.label {
        let show = |l: Option<u8>| l.map_or("none".to_string(), |l| l.to_string());
        out.push(format!(
            "label logged {}, now {}",
            show(r.label),
            show(p.label)
        ));
    }
    out
}

/// `s`, cut to 60 characters for a message.
fn short(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}
