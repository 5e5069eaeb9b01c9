//! The TOML configuration: which model is canonical (and, later, which runs in its shadow).
//!
//! ```toml
//! [canonical]
//! model = "models/all-MiniLM-L6-v2"   # folder, Hugging Face cache entry or hub id
//! backend = "candle"                  # candle | ort | tract
//! threshold = 0.70
//! threads = 2
//! ```
//!
//! Relative paths are taken relative to the configuration file's folder when something
//! exists there, else relative to the working directory.

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
    /// Compute precision where the backend has a choice (candle: `f32` default, `bf16`).
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
    /// Name of a prompt from `config_sentence_transformers.json`.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Which side the prompt is applied to (default `neither`).
    #[serde(default)]
    pub prompt_side: PromptSide,
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
            prompt: None,
            prompt_side: PromptSide::Neither,
        }
    }

    /// The folder-level overrides this configuration asks for.
    pub fn overrides(&self) -> ModelOverrides {
        ModelOverrides {
            pooling: self.pooling,
            normalize: self.normalize,
            max_length: self.max_length,
            padding_side: self.padding_side,
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
            if !["f32", "bf16", "f16"].contains(&d.as_str()) {
                return Err(bad("dtype", format!("`{d}` (expected f32, bf16 or f16)")));
            }
        }
        Ok(())
    }

    /// Makes relative paths relative to `base` when they exist there.
    pub fn rebase(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && base.join(&*p).exists() {
                *p = base.join(&*p);
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
    }
}

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The model whose verdicts count.
    pub canonical: ModelConfig,
    /// The candidate model run in the shadow of the canonical one (see the shadow crate).
    #[serde(default)]
    pub shadow: Option<toml::Table>,
}

impl Config {
    /// Parses configuration text; `path` is only used in messages and to rebase paths.
    pub fn parse(text: &str, path: Option<&Path>) -> Result<Self> {
        let mut c: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.map(Path::to_path_buf),
            message: e.to_string().trim_end().to_string(),
        })?;
        c.canonical.validate("canonical").map_err(|e| match e {
            Error::Config { message, .. } => Error::Config {
                path: path.map(Path::to_path_buf),
                message,
            },
            e => e,
        })?;
        if let Some(base) = path.and_then(Path::parent) {
            c.canonical.rebase(base);
        }
        Ok(c)
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
        assert_eq!(PathBuf::from(&c.canonical.model), d.path().join("m"));
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
