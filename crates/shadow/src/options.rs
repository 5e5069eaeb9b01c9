//! The `[shadow_options]` table: how the shadow model is run and where its records go.
//!
//! ```toml
//! [shadow_options]                    # how the shadow runs; never part of a model's identity
//! enabled = true
//! sample_rate = 1.0                   # share of pairs shadowed, chosen by a hash of the pair id
//! timeout_ms = 2000                   # shadow time budget per pair
//! log = "logs/shadow.jsonl"           # JSONL log of records
//! fsync = "batch"                     # never | batch | close
//! emf = "stdout"                      # CloudWatch Embedded Metric Format lines: stdout or a file
//! ```
//!
//! These keys live in their own table, not in `[shadow]`, so that `[canonical]` and
//! `[shadow]` (both `titlesim_core::ModelConfig`s) stay interchangeable. The whole file is
//! `titlesim::Config`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use titlesim_core::config::join_output;
use titlesim_core::{Error, Result};

/// When the JSONL shadow log is forced to disk with `fsync`.
///
/// Every batch of records is written and flushed to the operating system as soon as it is
/// complete whatever the policy, so a killed process loses nothing already written; `fsync`
/// only matters when the machine itself goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Never: the operating system writes back when it likes.
    Never,
    /// After every batch of records (the default).
    #[default]
    Batch,
    /// Once, when the log is closed.
    Close,
}

/// Where CloudWatch Embedded Metric Format lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmfTarget {
    /// Standard output (`emf = "stdout"` or `"-"`), as a Lambda or ECS task would print them.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
}

fn default_true() -> bool {
    true
}
fn default_sample_rate() -> f64 {
    1.0
}
fn default_timeout_ms() -> u64 {
    2000
}
/// Why CloudWatch would refuse `ns` as a metric namespace (PutMetricData's `Namespace`: ASCII
/// without control characters, 1 to 255 long, not beginning with `:`, and not `AWS/…`, which
/// AWS keeps for its services), or `None`. The agent would drop such records' metrics, or a
/// log subscription would fail on them, long after the run.
pub fn namespace_problem(ns: &str) -> Option<String> {
    if ns.trim().is_empty() {
        return Some("is blank".into());
    }
    if ns.len() > 255 {
        return Some(format!("is {} bytes long; at most 255", ns.len()));
    }
    if let Some((i, c)) = ns
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii() || c.is_ascii_control())
    {
        return Some(format!(
            "holds {} at character {}; only printable ASCII is allowed",
            c.escape_unicode(),
            i + 1
        ));
    }
    if ns.starts_with(':') {
        return Some("begins with `:`".into());
    }
    if ns.starts_with("AWS/") {
        return Some("begins with `AWS/`, which AWS keeps for its own services".into());
    }
    None
}

fn default_emf_namespace() -> String {
    "titlesim".to_string()
}

/// The `[shadow_options]` table: how the shadow model is run and logged.
///
/// These keys are deliberately not in `[shadow]`, so that `[canonical]` and `[shadow]` stay
/// interchangeable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowOptions {
    /// Whether the shadow model runs at all (default `true` when there is a `[shadow]`).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Share of pairs that are shadowed, 0 to 1 (default 1). The choice is a hash of the pair
    /// id (and `sample_salt`), so a rerun samples the same pairs.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: f64,
    /// Mixed into the sampling hash: another salt samples another subset.
    #[serde(default)]
    pub sample_salt: String,
    /// The shadow's time budget per pair in milliseconds (default 2000). A batch of n pairs
    /// gets n times this, counted from when the batch was handed to the shadow; past it, its
    /// records carry a timeout error.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The JSONL log file (the command line's `--log` overrides it).
    #[serde(default)]
    pub log: Option<PathBuf>,
    /// When the JSONL log is forced to disk (default `batch`).
    #[serde(default)]
    pub fsync: FsyncPolicy,
    /// CloudWatch Embedded Metric Format output: `"stdout"` (or `"-"`) or a file path.
    #[serde(default)]
    pub emf: Option<String>,
    /// The CloudWatch namespace of the metrics (default `titlesim`).
    #[serde(default = "default_emf_namespace")]
    pub emf_namespace: String,
}

impl Default for ShadowOptions {
    fn default() -> Self {
        ShadowOptions {
            enabled: true,
            sample_rate: 1.0,
            sample_salt: String::new(),
            timeout_ms: default_timeout_ms(),
            log: None,
            fsync: FsyncPolicy::Batch,
            emf: None,
            emf_namespace: default_emf_namespace(),
        }
    }
}

impl ShadowOptions {
    /// Checks values that TOML types cannot.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, msg: String| Error::Config {
            path: None,
            message: format!("[shadow_options] {key}: {msg}"),
        };
        if !(0.0..=1.0).contains(&self.sample_rate) || self.sample_rate.is_nan() {
            return Err(bad(
                "sample_rate",
                format!("{} is not a share (expected 0..=1)", self.sample_rate),
            ));
        }
        if self.timeout_ms == 0 {
            return Err(bad("timeout_ms", "must be at least 1".into()));
        }
        if let Some(problem) = namespace_problem(&self.emf_namespace) {
            return Err(bad(
                "emf_namespace",
                format!(
                    "{:?} {problem} (a CloudWatch namespace)",
                    self.emf_namespace
                ),
            ));
        }
        if matches!(&self.emf, Some(e) if e.trim().is_empty()) {
            return Err(bad(
                "emf",
                "is empty (use \"stdout\" or a file path)".into(),
            ));
        }
        if matches!(&self.log, Some(p) if p.as_os_str().is_empty()) {
            return Err(bad("log", "is empty".into()));
        }
        if let (Some(EmfTarget::File(emf)), Some(log)) = (self.emf_target(), &self.log) {
            // `./s.jsonl` and `s.jsonl` are one file.
            let parts = |p: &Path| -> Vec<std::ffi::OsString> {
                p.components()
                    .filter(|c| *c != std::path::Component::CurDir)
                    .map(|c| c.as_os_str().to_os_string())
                    .collect()
            };
            if parts(&emf) == parts(log) {
                return Err(bad(
                    "emf",
                    format!(
                        "names the same file as `log` ({}): EMF lines are not shadow \
                         records; give each its own file",
                        log.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Where EMF lines go, if anywhere.
    pub fn emf_target(&self) -> Option<EmfTarget> {
        self.emf.as_deref().map(|e| match e.trim() {
            "stdout" | "-" => EmfTarget::Stdout,
            path => EmfTarget::File(PathBuf::from(path)),
        })
    }

    /// Makes the relative `log` and `emf` paths relative to `base` (the config's folder).
    pub fn rebase(&mut self, base: &Path) {
        let base = &std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
        if let Some(p) = self.log.as_mut() {
            if p.is_relative() {
                *p = join_output(base, p);
            }
        }
        if let Some(EmfTarget::File(p)) = self.emf_target() {
            if p.is_relative() {
                self.emf = Some(join_output(base, &p).to_string_lossy().into_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Namespaces CloudWatch refuses are configuration errors, not records whose metrics
    /// the agent drops later: `AWS/EC2`, `ä-namespace` and a tab were all accepted.
    #[test]
    fn a_namespace_cloudwatch_refuses_is_named() {
        for ok in ["titlesim", "titlesim/ci", "Team A: validator #2", "a.b-c_d"] {
            assert_eq!(namespace_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "is blank"),
            ("   ", "is blank"),
            ("AWS/EC2", "begins with `AWS/`"),
            ("ä-namespace", "holds \\u{e4} at character 1"),
            ("tab\there", "holds \\u{9} at character 4"),
            (":x", "begins with `:`"),
        ] {
            let p = namespace_problem(bad).unwrap_or_default();
            assert!(p.contains(why), "{bad:?}: {p}");
        }
        assert!(namespace_problem(&"n".repeat(256))
            .unwrap()
            .contains("256 bytes long; at most 255"));
        assert_eq!(namespace_problem(&"n".repeat(255)), None);
    }
}
