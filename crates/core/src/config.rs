//! The TOML configuration: which model is canonical, which runs in its shadow, and how the
//! shadow is run and logged.
//!
//! ```toml
//! [canonical]                         # the model whose verdicts count
//! model = "models/all-MiniLM-L6-v2"   # folder, Hugging Face cache entry or hub id
//! backend = "candle"                  # candle | ort | tract
//! threshold = 0.70
//! threads = 2
//! gt_store = "stores/minilm.gtstore"  # optional: precomputed reference-title embeddings
//!
//! [shadow]                            # the candidate: exactly the same keys as [canonical]
//! model = "models/paraphrase-MiniLM-L3-v2"
//! backend = "tract"
//! threshold = 0.72
//! threads = 1
//!
//! [shadow_options]                    # how the shadow runs; never part of a model's identity
//! enabled = true
//! sample_rate = 1.0                   # share of pairs shadowed, chosen by a hash of the pair id
//! timeout_ms = 2000                   # shadow time budget per pair
//! log = "logs/shadow.jsonl"           # JSONL log of records
//! fsync = "batch"                     # never | batch | close
//! emf = "stdout"                      # CloudWatch Embedded Metric Format lines: stdout or a file
//! ```
//!
//! `[canonical]` and `[shadow]` are both [`ModelConfig`]s, so promoting the candidate is
//! swapping the two table headers (and nothing else); the shadow-only options live in their
//! own `[shadow_options]` table ([`ShadowOptions`]) for that reason.
//!
//! Relative model, ONNX and library paths are taken relative to the configuration file's
//! folder when something exists there, else relative to the working directory. Paths that
//! titlesim writes (`gt_store`, `log`, `emf`) are always relative to the configuration file's
//! folder, so a store or log is found again whatever the working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{ModelOverrides, PaddingSide, Pooling};

/// The inference engines titlesim knows about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// candle: pure Rust, safetensors weights.
    #[default]
    Candle,
    /// ONNX Runtime through the `ort` crate, ONNX exports.
    Ort,
    /// tract: pure-Rust ONNX.
    Tract,
}

impl BackendKind {
    /// Every kind, in display order.
    pub const ALL: [BackendKind; 3] = [BackendKind::Candle, BackendKind::Ort, BackendKind::Tract];

    /// The name used in configuration and on the command line.
    pub fn as_str(&self) -> &'static str {
        match self {
            BackendKind::Candle => "candle",
            BackendKind::Ort => "ort",
            BackendKind::Tract => "tract",
        }
    }

    /// The cargo feature of the `titlesim` crates that compiles this backend in.
    pub fn feature(&self) -> &'static str {
        self.as_str()
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "candle" => Ok(BackendKind::Candle),
            "ort" | "onnxruntime" | "onnx-runtime" => Ok(BackendKind::Ort),
            "tract" => Ok(BackendKind::Tract),
            other => Err(format!(
                "unknown backend `{other}` (expected candle, ort or tract)"
            )),
        }
    }
}

/// Which side of a pair gets the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PromptSide {
    /// No prompt (the default for title-vs-title).
    #[default]
    Neither,
    /// The candidate (product) title only.
    Product,
    /// The reference (ground-truth) title only.
    Gt,
    /// Both titles.
    Both,
}

/// One model as configuration names it: `[canonical]` (or `[shadow]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A model folder, a Hugging Face cache entry or a hub id (`ORG/NAME`).
    pub model: String,
    /// Hub revision (branch, tag or commit) for cache entries and downloads; default `main`.
    #[serde(default)]
    pub revision: Option<String>,
    /// Which backend runs the model.
    #[serde(default)]
    pub backend: BackendKind,
    /// Cosine at or above which a pair passes.
    pub threshold: f32,
    /// Compute threads for this model (default: all cores).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Texts per backend call (default 32).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// An ONNX file to run (ort, tract) with the folder's tokenizer and pooling.
    #[serde(default)]
    pub onnx: Option<PathBuf>,
    /// The name of the ONNX output holding token states (or a pooled vector).
    #[serde(default)]
    pub onnx_output: Option<String>,
    /// Path of the ONNX Runtime shared library (ort backend).
    #[serde(default)]
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime graph optimisation: `disable`, `basic`, `extended` or `all` (default).
    #[serde(default)]
    pub optimization: Option<String>,
    /// Compute precision: `f32` (default) or `int8` (candle only; ort and tract refuse it).
    #[serde(default)]
    pub dtype: Option<String>,
    /// Pooling instead of the folder's.
    #[serde(default)]
    pub pooling: Option<Pooling>,
    /// L2-normalise (or not) instead of what the folder says.
    #[serde(default)]
    pub normalize: Option<bool>,
    /// Truncation length in tokens instead of the folder's `max_seq_length`.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Padding side instead of `tokenizer_config.json`'s.
    #[serde(default)]
    pub padding_side: Option<PaddingSide>,
    /// Last-token models whose tokenizer appends no end-of-sequence token: `true` appends
    /// `config.json`'s `eos_token_id`, `false` pools as sentence-transformers would (the last
    /// word); unset, such a folder is an error (see [`ModelOverrides::append_eos`]).
    #[serde(default)]
    pub append_eos: Option<bool>,
    /// Name of a prompt from `config_sentence_transformers.json`.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Which side the prompt is applied to (default `neither`).
    #[serde(default)]
    pub prompt_side: PromptSide,
    /// A store of this model's precomputed reference-title (GT) embeddings, written by
    /// `titlesim precompute`; reference titles found there are not encoded again.
    #[serde(default)]
    pub gt_store: Option<PathBuf>,
    /// What to do when `gt_store` was written by another model (other fingerprint, prompt or
    /// dimension): `refuse` (default, an error) or `recompute` (ignore it and encode).
    #[serde(default)]
    pub gt_store_mismatch: StoreMismatch,
}

impl ModelConfig {
    /// A configuration for `model` with defaults everywhere else.
    pub fn new(model: impl Into<String>, backend: BackendKind, threshold: f32) -> Self {
        ModelConfig {
            model: model.into(),
            revision: None,
            backend,
            threshold,
            threads: None,
            batch_size: None,
            onnx: None,
            onnx_output: None,
            ort_library: None,
            optimization: None,
            dtype: None,
            pooling: None,
            normalize: None,
            max_length: None,
            padding_side: None,
            append_eos: None,
            prompt: None,
            prompt_side: PromptSide::Neither,
            gt_store: None,
            gt_store_mismatch: StoreMismatch::Refuse,
        }
    }

    /// The folder-level overrides this configuration asks for.
    pub fn overrides(&self) -> ModelOverrides {
        ModelOverrides {
            pooling: self.pooling,
            normalize: self.normalize,
            max_length: self.max_length,
            padding_side: self.padding_side,
            append_eos: self.append_eos,
        }
    }

    /// Checks values that TOML types cannot; `table` names the section in messages.
    pub fn validate(&self, table: &str) -> Result<()> {
        let bad = |key: &str, msg: String| Error::Config {
            path: None,
            message: format!("[{table}] {key}: {msg}"),
        };
        if !(-1.0..=1.0).contains(&self.threshold) || self.threshold.is_nan() {
            return Err(bad(
                "threshold",
                format!("{} is not a cosine (expected -1..=1)", self.threshold),
            ));
        }
        if self.threads == Some(0) {
            return Err(bad("threads", "must be at least 1".into()));
        }
        if self.batch_size == Some(0) {
            return Err(bad("batch_size", "must be at least 1".into()));
        }
        if self.model.trim().is_empty() {
            return Err(bad("model", "is empty".into()));
        }
        if self.prompt_side != PromptSide::Neither && self.prompt.is_none() {
            return Err(bad(
                "prompt_side",
                "is set but no `prompt` names which prompt to apply".into(),
            ));
        }
        if let Some(o) = &self.optimization {
            if !["disable", "basic", "extended", "all"].contains(&o.as_str()) {
                return Err(bad(
                    "optimization",
                    format!("`{o}` (expected disable, basic, extended or all)"),
                ));
            }
        }
        if let Some(d) = &self.dtype {
            if !["f32", "int8"].contains(&d.to_ascii_lowercase().as_str()) {
                return Err(bad(
                    "dtype",
                    format!("`{d}` (expected f32, or int8 on the candle backend)"),
                ));
            }
        }
        Ok(())
    }

    /// Makes relative paths relative to `base` when they exist there.
    pub fn rebase(&mut self, base: &Path) {
        // `demo/../models/x` would end up in logs and messages: an existing path is made
        // absolute and clean instead.
        let base = &std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && base.join(&*p).exists() {
                let joined = base.join(&*p);
                *p = std::fs::canonicalize(&joined).unwrap_or(joined);
            }
        };
        let mut m = PathBuf::from(&self.model);
        if m.is_relative() && base.join(&m).exists() {
            fix(&mut m);
            self.model = m.to_string_lossy().into_owned();
        }
        if let Some(p) = self.onnx.as_mut() {
            fix(p)
        }
        if let Some(p) = self.ort_library.as_mut() {
            fix(p)
        }
        // An output as well as an input: always relative to the configuration's folder.
        if let Some(p) = self.gt_store.as_mut() {
            if p.is_relative() {
                *p = join_output(base, p);
            }
        }
    }
}

/// `base` (a canonical folder) joined with the relative output path `p`, with the `..` that
/// climb out of `base` resolved (safe: `base` has no symbolic links), so messages and logs show
/// `/x/reports/log.jsonl` rather than `/x/demo/../reports/log.jsonl` for a file that does not
/// exist yet.
fn join_output(base: &Path, p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = base.to_path_buf();
    let mut climbing = true;
    for c in p.components() {
        match c {
            Component::ParentDir if climbing && out.parent().is_some() => {
                out.pop();
            }
            Component::CurDir => {}
            other => {
                climbing = false;
                out.push(other.as_os_str());
            }
        }
    }
    out
}

/// What to do with a precomputed store written by another model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreMismatch {
    /// Fail with an error naming both fingerprints and dimensions (the default).
    #[default]
    Refuse,
    /// Ignore the store and encode the reference titles (`titlesim precompute` rewrites it).
    Recompute,
}

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
        if self.emf_namespace.trim().is_empty() || self.emf_namespace.len() > 255 {
            return Err(bad(
                "emf_namespace",
                "must be 1 to 255 characters (a CloudWatch namespace)".into(),
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

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The model whose verdicts count.
    pub canonical: ModelConfig,
    /// The candidate model run in the shadow of the canonical one (see the shadow crate):
    /// the same keys as `canonical`, so the two can be swapped.
    #[serde(default)]
    pub shadow: Option<ModelConfig>,
    /// How the shadow runs and where its records go (`[shadow_options]`; defaults when absent).
    #[serde(default)]
    pub shadow_options: ShadowOptions,
}

impl Config {
    /// Parses configuration text; `path` is only used in messages and to rebase paths.
    ///
    /// Fails with [`Error::Config`] naming the table and key: invalid TOML, an unknown key,
    /// a missing `threshold`, a value out of range.
    ///
    /// ```
    /// use titlesim_core::{BackendKind, Config, Error};
    ///
    /// let config = Config::parse(
    ///     r#"
    /// [canonical]
    /// model = "BAAI/bge-small-en-v1.5"
    /// backend = "ort"
    /// threshold = 0.70
    ///
    /// [shadow]
    /// model = "Qwen/Qwen3-Embedding-0.6B"
    /// threshold = 0.72
    ///
    /// [shadow_options]
    /// sample_rate = 0.25
    /// "#,
    ///     None,
    /// )?;
    /// assert_eq!(config.canonical.backend, BackendKind::Ort);
    /// assert_eq!(config.active_shadow().map(|s| s.threshold), Some(0.72));
    /// assert_eq!(config.shadow_options.sample_rate, 0.25);
    ///
    /// // Mistakes name the key.
    /// let e = Config::parse("[canonical]\nmodel = \"m\"\ntreshold = 0.7\n", None).unwrap_err();
    /// assert!(matches!(e, Error::Config { .. }) && e.to_string().contains("treshold"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse(text: &str, path: Option<&Path>) -> Result<Self> {
        let mut c: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.map(Path::to_path_buf),
            message: e.to_string().trim_end().to_string(),
        })?;
        let at_path = |e: Error| match e {
            Error::Config { message, .. } => Error::Config {
                path: path.map(Path::to_path_buf),
                message,
            },
            e => e,
        };
        c.canonical.validate("canonical").map_err(at_path)?;
        if let Some(s) = &c.shadow {
            s.validate("shadow").map_err(at_path)?;
        }
        c.shadow_options.validate().map_err(at_path)?;
        if let Some(base) = path.and_then(Path::parent) {
            c.canonical.rebase(base);
            if let Some(s) = c.shadow.as_mut() {
                s.rebase(base);
            }
            c.shadow_options.rebase(base);
        }
        Ok(c)
    }

    /// The shadow model when there is one and `[shadow_options] enabled` is true.
    pub fn active_shadow(&self) -> Option<&ModelConfig> {
        self.shadow.as_ref().filter(|_| self.shadow_options.enabled)
    }

    /// Reads and parses a configuration file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, Some(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_minimal_config() {
        let c = Config::parse("[canonical]\nmodel = \"m\"\nthreshold = 0.7\n", None).unwrap();
        assert_eq!(c.canonical.backend, BackendKind::Candle);
        assert_eq!(c.canonical.threshold, 0.7);
        assert_eq!(c.canonical.prompt_side, PromptSide::Neither);
        assert!(c.shadow.is_none());
        assert_eq!(c.shadow_options, ShadowOptions::default());
        assert!(c.active_shadow().is_none());
    }

    const FULL: &str = r#"
[canonical]
model = "a"
backend = "candle"
threshold = 0.7
threads = 2
gt_store = "stores/a.gtstore"

[shadow]
model = "b"
backend = "tract"
threshold = 0.72
threads = 1
gt_store_mismatch = "recompute"

[shadow_options]
sample_rate = 0.25
sample_salt = "x"
timeout_ms = 500
log = "logs/s.jsonl"
fsync = "never"
emf = "stdout"
emf_namespace = "ns"
"#;

    #[test]
    fn parses_shadow_and_its_options() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, FULL).unwrap();
        let c = Config::from_file(&p).unwrap();
        let s = c.active_shadow().expect("shadow enabled by default");
        assert_eq!(s.backend, BackendKind::Tract);
        assert_eq!(s.threshold, 0.72);
        assert_eq!(s.threads, Some(1));
        assert_eq!(s.gt_store_mismatch, StoreMismatch::Recompute);
        assert_eq!(c.canonical.gt_store_mismatch, StoreMismatch::Refuse);
        // Written paths are always relative to the config's folder, existing or not.
        assert_eq!(
            c.canonical.gt_store.as_deref(),
            Some(
                std::fs::canonicalize(d.path())
                    .unwrap()
                    .join("stores/a.gtstore")
                    .as_path()
            )
        );
        let o = &c.shadow_options;
        assert_eq!(o.sample_rate, 0.25);
        assert_eq!(o.sample_salt, "x");
        assert_eq!(o.timeout_ms, 500);
        assert_eq!(
            o.log.as_deref(),
            Some(
                std::fs::canonicalize(d.path())
                    .unwrap()
                    .join("logs/s.jsonl")
                    .as_path()
            )
        );
        assert_eq!(o.fsync, FsyncPolicy::Never);
        assert_eq!(o.emf_target(), Some(EmfTarget::Stdout));
        assert_eq!(o.emf_namespace, "ns");
        let off = Config::parse(&format!("{FULL}enabled = false\n"), None).unwrap();
        assert!(off.shadow.is_some() && off.active_shadow().is_none());
        let emf_file = Config::parse(
            &FULL.replace("emf = \"stdout\"", "emf = \"m.jsonl\""),
            Some(&p),
        )
        .unwrap();
        assert_eq!(
            emf_file.shadow_options.emf_target(),
            Some(EmfTarget::File(d.path().join("m.jsonl")))
        );
    }

    #[test]
    fn swapping_canonical_and_shadow_is_swapping_the_headers() {
        let swapped = FULL
            .replace("[canonical]", "[tmp]")
            .replace("[shadow]", "[canonical]")
            .replace("[tmp]", "[shadow]");
        let a = Config::parse(FULL, None).unwrap();
        let b = Config::parse(&swapped, None).unwrap();
        assert_eq!(a.canonical, *b.shadow.as_ref().unwrap());
        assert_eq!(b.canonical, *a.shadow.as_ref().unwrap());
        assert_eq!(a.shadow_options, b.shadow_options);
    }

    #[test]
    fn shadow_errors_name_the_key() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[shadow]\nmodel = \"b\"\nthreshold = 0.7\nsample_rate = 0.5\n",
                &["sample_rate"],
            ),
            (
                "[shadow]\nmodel = \"b\"\nthreshold = 2.0\n",
                &["[shadow] threshold"],
            ),
            ("[shadow]\nmodel = \"b\"\n", &["threshold"]),
            (
                "[shadow_options]\nsample_rate = 1.5\n",
                &["[shadow_options] sample_rate", "1.5"],
            ),
            ("[shadow_options]\ntimeout_ms = 0\n", &["timeout_ms"]),
            (
                "[shadow_options]\ntimeout = 10\n",
                &["timeout", "timeout_ms"],
            ),
            (
                "[shadow_options]\nfsync = \"sometimes\"\n",
                &["sometimes", "batch"],
            ),
            ("[shadow_options]\nemf = \"\"\n", &["[shadow_options] emf"]),
            ("[canonical_options]\nx = 1\n", &["canonical_options"]),
            (
                "[shadow]\nmodel = \"b\"\nthreshold = 0.7\ngt_store_mismatch = \"ignore\"\n",
                &["ignore", "recompute"],
            ),
        ];
        for (extra, want) in cases {
            let text = format!("[canonical]\nmodel = \"m\"\nthreshold = 0.7\n{extra}");
            let e = Config::parse(&text, Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            for w in *want {
                assert!(e.contains(w), "{extra:?}: {e:?} lacks {w:?}");
            }
            assert!(e.contains("c.toml"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("[canonical]\nmodel = \"m\"\ntreshold = 0.7\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("treshold"), "{e}");
        let e = Config::parse(
            "[canonical]\nmodel = \"m\"\nthreshold = 0.7\nbackend = \"cuda\"\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cuda") && e.contains("candle"), "{e}");
        let e = Config::parse("[canonical]\nmodel = \"m\"\nthreshold = 1.5\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("threshold"), "{e}");
        let e = Config::parse(
            "[canonical]\nmodel = \"m\"\nthreshold = 0.5\nthreads = 0\n",
            Some(Path::new("x.toml")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("threads") && e.contains("x.toml"), "{e}");
    }

    #[test]
    fn paths_are_rebased_on_the_config_folder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("m")).unwrap();
        let p = d.path().join("t.toml");
        std::fs::write(&p, "[canonical]\nmodel = \"m\"\nthreshold = 0.7\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        assert_eq!(PathBuf::from(&c.canonical.model), root.join("m"));
        // `..` is resolved, so logs and messages show a clean path.
        std::fs::create_dir(d.path().join("conf")).unwrap();
        let q = d.path().join("conf/t.toml");
        std::fs::write(&q, "[canonical]\nmodel = \"../m\"\nthreshold = 0.7\n").unwrap();
        let c = Config::from_file(&q).unwrap();
        assert_eq!(PathBuf::from(&c.canonical.model), root.join("m"));
        // Written paths need not exist: their leading `..` are resolved too.
        assert_eq!(
            join_output(&root.join("conf"), Path::new("../logs/./s.jsonl")),
            root.join("logs/s.jsonl")
        );
        assert_eq!(
            join_output(&root, Path::new("a/../b")),
            root.join("a/../b"),
            "a `..` after a name is kept (the name may be a link)"
        );
        // A hub id stays as it is.
        std::fs::write(
            &p,
            "[canonical]\nmodel = \"BAAI/bge-small-en-v1.5\"\nthreshold = 0.7\n",
        )
        .unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.canonical.model, "BAAI/bge-small-en-v1.5");
    }
}
