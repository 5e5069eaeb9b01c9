//! One model's configuration: the keys of a `[canonical]` or `[shadow]` table
//! ([`ModelConfig`]), with its option enums.
//!
//! ```toml
//! [canonical]                         # the model whose verdicts count
//! model = "models/all-MiniLM-L6-v2"   # folder, Hugging Face cache entry or hub id
//! backend = "candle"                  # candle | ort | tract
//! threshold = 0.70
//! threads = 2
//! dtype = "int8"                      # f32 | int8 | bf16 (candle)
//! spin = false                        # idle threads sleep (default: they spin)
//! gt_store = "stores/minilm.gtstore"  # optional: precomputed reference-title embeddings
//! ```
//!
//! `[canonical]` and `[shadow]` are both [`ModelConfig`]s, so promoting the candidate is
//! swapping the two table headers (and nothing else). The whole file (with the shadow-only
//! `[shadow_options]`) is `titlesim::Config`, in the `titlesim` crate; core knows only one
//! model's keys. Every option is typed ([`BackendKind`], [`Dtype`], [`GraphOptimization`],
//! [`Pooling`], [`PaddingSide`], [`PromptSide`], [`StoreMismatch`]) and so parsed once, when
//! the configuration is read; [`ModelConfig::validate`] checks what types cannot.
//!
//! Relative model, ONNX and library paths are taken relative to the configuration file's
//! folder when something exists there, else relative to the working directory. Paths that
//! titlesim writes (`gt_store`, and the shadow's `log` and `emf`) are always relative to the
//! configuration file's folder ([`join_output`]), so a store or log is found again whatever
//! the working directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::{BackendOptions, Dtype, GraphOptimization};
use crate::error::{Error, Result};
use crate::model::{ModelOverrides, PaddingSide, Pooling};
use crate::score::BlankTitles;

/// The inference engines titlesim knows about.
///
/// Read (`backend =` in a configuration, `--backend`, Python's `backend=`) as `candle`, `ort`
/// (also `onnx`, `onnxruntime`, `onnx-runtime`) or `tract`, in any case; written as `candle`, `ort`
/// or `tract`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
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
            // `onnx`: sentence-transformers' `backend="onnx"` runs ONNX Runtime.
            "ort" | "onnx" | "onnxruntime" | "onnx-runtime" => Ok(BackendKind::Ort),
            "tract" => Ok(BackendKind::Tract),
            other => Err(format!(
                "unknown backend `{other}` (expected candle, ort or tract)"
            )),
        }
    }
}

/// Through [`std::str::FromStr`], so a configuration file takes every name `--backend` takes.
impl<'de> Deserialize<'de> for BackendKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
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

/// The most compute threads a model may be given (`threads`).
pub const MAX_THREADS: usize = 1024;

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
    /// ONNX Runtime graph optimisation: `disable`, `basic`, `extended`, `layout` or `all`
    /// (default).
    #[serde(default)]
    pub optimization: Option<GraphOptimization>,
    /// Compute precision: `f32` (default), `int8` or `bf16` (candle only; ort and tract
    /// refuse them).
    #[serde(default)]
    pub dtype: Option<Dtype>,
    /// Whether idle compute threads spin through a small batch's pass (candle, ort, tract):
    /// see [`BackendOptions::spin`]. Default: the backend's (on).
    #[serde(default)]
    pub spin: Option<bool>,
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
    /// What a pair scores when either title has no letter or digit (empty, spaces,
    /// punctuation or emoji only): `fail` (default: cosine 0, not encoded, never a pass) or
    /// `score` (encoded and judged like any title, as sentence-transformers would).
    #[serde(default)]
    pub blank_titles: BlankTitles,
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
            spin: None,
            pooling: None,
            normalize: None,
            max_length: None,
            padding_side: None,
            append_eos: None,
            prompt: None,
            prompt_side: PromptSide::Neither,
            gt_store: None,
            gt_store_mismatch: StoreMismatch::Refuse,
            blank_titles: BlankTitles::Fail,
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

    /// What the backend is told when it loads this model.
    pub fn backend_options(&self) -> BackendOptions {
        BackendOptions {
            threads: self.threads,
            onnx: self.onnx.clone(),
            onnx_output: self.onnx_output.clone(),
            ort_library: self.ort_library.clone(),
            optimization: self.optimization,
            dtype: self.dtype,
            spin: self.spin,
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
        if let Some(n) = self.threads.filter(|&n| n > MAX_THREADS) {
            return Err(bad(
                "threads",
                format!("{n} is more than {MAX_THREADS}: thousands of compute threads on a few cores take minutes per batch (leave it unset for all cores)"),
            ));
        }
        for (key, p) in [
            ("onnx", &self.onnx),
            ("ort_library", &self.ort_library),
            ("gt_store", &self.gt_store),
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(bad(
                    key,
                    "is empty (give a file path, or leave the key out)".into(),
                ));
            }
        }
        // An option of another backend would be ignored without a word.
        let foreign: &[(&str, bool)] = match self.backend {
            BackendKind::Candle => &[
                ("onnx", self.onnx.is_some()),
                ("onnx_output", self.onnx_output.is_some()),
                ("ort_library", self.ort_library.is_some()),
                ("optimization", self.optimization.is_some()),
            ],
            BackendKind::Tract => &[
                ("ort_library", self.ort_library.is_some()),
                ("optimization", self.optimization.is_some()),
            ],
            BackendKind::Ort => &[],
        };
        if let Some((key, _)) = foreign.iter().find(|(_, set)| *set) {
            let users = match *key {
                "onnx" | "onnx_output" => "the ort and tract backends",
                _ => "the ort backend",
            };
            return Err(bad(
                key,
                format!(
                    "is read by {users} only; backend = \"{}\" would ignore it (remove it, or choose that backend)",
                    self.backend.as_str()
                ),
            ));
        }
        // Found here, as a configuration error naming the key, not when the backend loads.
        if let Some(d @ (Dtype::Int8 | Dtype::Bf16)) = self.dtype {
            if self.backend != BackendKind::Candle {
                return Err(bad(
                    "dtype",
                    crate::backend::dtype_refusal(d, self.backend.as_str()),
                ));
            }
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
        // The reverse would pass without a word and leave every title unprompted.
        if let (Some(p), PromptSide::Neither) = (&self.prompt, self.prompt_side) {
            return Err(bad(
                "prompt",
                format!(
                    "`{p}` is set but `prompt_side` is `neither` (the default), so no title would \
                     get it: set prompt_side = \"product\", \"gt\" or \"both\""
                ),
            ));
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
pub fn join_output(base: &Path, p: &Path) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> std::result::Result<ModelConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn options_are_typed_when_read() {
        let c =
            table("model = \"m\"\nthreshold = 0.7\ndtype = \"INT8\"\noptimization = \"basic\"\n")
                .unwrap();
        assert_eq!(c.dtype, Some(Dtype::Int8));
        assert_eq!(c.optimization, Some(GraphOptimization::Basic));
        let o = c.backend_options();
        assert_eq!((o.dtype, o.optimization), (c.dtype, c.optimization));
        let e = table("model = \"m\"\nthreshold = 0.7\ndtype = \"fp16\"\n").unwrap_err();
        assert!(
            e.contains("`fp16`") && e.contains("f32, or int8 or bf16"),
            "{e}"
        );
        assert!(e.contains("line 3"), "the TOML error names the line: {e}");
        let e = table("model = \"m\"\nthreshold = 0.7\noptimization = \"max\"\n").unwrap_err();
        assert!(e.contains("`max`") && e.contains("layout"), "{e}");
    }

    /// A configuration file takes the backend names `--backend` takes, and writes the
    /// canonical one back.
    #[test]
    fn backend_names_read_as_on_the_command_line() {
        for (name, want) in [
            ("candle", BackendKind::Candle),
            ("ORT", BackendKind::Ort),
            ("onnxruntime", BackendKind::Ort),
            ("onnx", BackendKind::Ort),
            ("Tract", BackendKind::Tract),
        ] {
            let c = table(&format!(
                "model = \"m\"\nthreshold = 0.7\nbackend = \"{name}\"\n"
            ))
            .unwrap();
            assert_eq!(c.backend, want, "{name}");
            assert_eq!(name.parse::<BackendKind>().unwrap(), want, "{name}");
            assert_eq!(
                serde_json::to_string(&c.backend).unwrap(),
                format!("\"{}\"", want.as_str())
            );
        }
        let e = table("model = \"m\"\nthreshold = 0.7\nbackend = \"torch\"\n").unwrap_err();
        assert!(
            e.contains("line 3") && e.contains("`torch`") && e.contains("candle, ort or tract"),
            "{e}"
        );
    }

    #[test]
    fn a_reduced_dtype_on_an_onnx_backend_is_a_configuration_error() {
        for backend in ["ort", "tract"] {
            for dtype in ["int8", "bf16"] {
                let mut c = table(&format!(
                    "model = \"m\"\nthreshold = 0.7\nbackend = \"{backend}\"\ndtype = \"{dtype}\"\n"
                ))
                .unwrap();
                let e = c.validate("canonical").unwrap_err().to_string();
                assert!(
                    e.contains("[canonical] dtype") && e.contains("candle backend only"),
                    "{e}"
                );
                c.dtype = Some(Dtype::F32);
                c.validate("canonical").unwrap();
            }
        }
    }

    #[test]
    fn spin_is_a_boolean_passed_to_the_backend() {
        let c = table("model = \"m\"\nthreshold = 0.7\nspin = false\n").unwrap();
        assert_eq!(c.backend_options().spin, Some(false));
        let c = table("model = \"m\"\nthreshold = 0.7\n").unwrap();
        assert_eq!(c.backend_options().spin, None);
        let e = table("model = \"m\"\nthreshold = 0.7\nspin = \"off\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("bool"), "{e}");
    }

    #[test]
    fn validate_names_the_table_and_key() {
        let mut c = ModelConfig::new("m", BackendKind::Candle, 1.5);
        let e = c.validate("shadow").unwrap_err().to_string();
        assert!(e.contains("[shadow] threshold"), "{e}");
        c.threshold = 0.5;
        c.threads = Some(0);
        let e = c.validate("canonical").unwrap_err().to_string();
        assert!(e.contains("[canonical] threads"), "{e}");
        c.threads = None;
        c.prompt_side = PromptSide::Both;
        let e = c.validate("canonical").unwrap_err().to_string();
        assert!(e.contains("prompt_side"), "{e}");
        c.prompt_side = PromptSide::Neither;
        c.prompt = Some("query".into());
        let e = c.validate("canonical").unwrap_err().to_string();
        assert!(
            e.contains("[canonical] prompt: `query` is set but `prompt_side` is `neither`"),
            "{e}"
        );
        c.prompt_side = PromptSide::Gt;
        c.validate("canonical").unwrap();
    }
}
