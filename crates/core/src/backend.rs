//! The trait a backend implements: token batch in, token states (or pooled vectors) out.
//!
//! This is all a backend author needs to read. Tokenisation, batching, pooling and
//! normalisation happen in [`crate::TransformerEmbedder`]; a backend only runs the network.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::pooling::HiddenStates;
use crate::tokenize::TokenBatch;

/// What a backend returns for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendOutput {
    /// Final token states `[batch, seq, hidden]`, to be pooled by the core.
    Tokens(HiddenStates),
    /// One vector per text, already pooled by the model (e.g. an ONNX `sentence_embedding`
    /// output); the core still normalises when the model says so.
    Pooled(Vec<Vec<f32>>),
}

/// A network that turns token ids into token states.
///
/// Implementations must be safe to call from several threads at once (`&self`): guard
/// or pool whatever needs exclusive access. `forward` blocks; the core calls it off the
/// async executor threads.
pub trait Backend: Send + Sync {
    /// Short name for logs and errors (`candle`, `ort`, `tract`, ...).
    fn name(&self) -> &str;

    /// Runs the network on one padded batch.
    fn forward(&self, batch: &TokenBatch) -> Result<BackendOutput>;

    /// The files whose bytes determine the output (weights, graph). They are hashed into
    /// the model's fingerprint.
    fn source_files(&self) -> Vec<PathBuf>;
}

/// What a backend is told when it loads a model, beyond the [`crate::ModelSpec`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendOptions {
    /// Compute threads (None: the backend's default, usually all cores).
    pub threads: Option<usize>,
    /// An ONNX file to run instead of the folder's own export.
    pub onnx: Option<PathBuf>,
    /// The name of the ONNX output to read.
    pub onnx_output: Option<String>,
    /// Path of the ONNX Runtime shared library.
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime graph optimisation level (`disable`, `basic`, `extended`, `all`).
    pub optimization: Option<String>,
    /// Compute precision where the backend has a choice: `f32` (the default everywhere), or
    /// `int8` on candle (int8 weights, dynamically quantised activations; cosine ≥ 0.999 to
    /// f32). Backends without a choice refuse anything but `f32` (see
    /// [`BackendOptions::refuse_dtype`]) rather than ignore it.
    pub dtype: Option<String>,
}

impl BackendOptions {
    /// For backends that compute in the precision of their model file (ort, tract): an
    /// [`Error::Backend`] naming the backend when a `dtype` other than `f32` is asked for,
    /// so a configuration is never silently ignored.
    pub fn refuse_dtype(&self, backend: &str) -> Result<()> {
        match self.dtype.as_deref() {
            None => Ok(()),
            Some(d) if d.eq_ignore_ascii_case("f32") => Ok(()),
            Some(d) => Err(Error::backend(
                backend,
                format!(
                    "dtype `{d}` is not supported: the {backend} backend computes in the precision \
                     of its ONNX file (for int8, point `onnx` at an int8 export, or use \
                     dtype = \"int8\" on the candle backend)"
                ),
            )),
        }
    }

    /// The options a model configuration asks for.
    pub fn from_config(c: &crate::ModelConfig) -> Self {
        BackendOptions {
            threads: c.threads,
            onnx: c.onnx.clone(),
            onnx_output: c.onnx_output.clone(),
            ort_library: c.ort_library.clone(),
            optimization: c.optimization.clone(),
            dtype: c.dtype.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_without_a_precision_choice_refuse_other_dtypes() {
        let mut o = BackendOptions::default();
        assert!(o.refuse_dtype("ort").is_ok());
        o.dtype = Some("F32".into());
        assert!(o.refuse_dtype("ort").is_ok());
        o.dtype = Some("int8".into());
        let e = o.refuse_dtype("tract").unwrap_err().to_string();
        assert!(e.contains("tract") && e.contains("`int8`"), "{e}");
    }
}
