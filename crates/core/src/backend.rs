//! The trait a backend implements: token batch in, token states (or pooled vectors) out.
//!
//! This is all a backend author needs to read. Tokenisation, batching, pooling and
//! normalisation happen in [`crate::TransformerEmbedder`]; a backend only runs the network.

use std::path::PathBuf;

use crate::error::Result;
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
    /// Compute precision where the backend has a choice (`f32`, `bf16`, `f16`).
    pub dtype: Option<String>,
}

impl BackendOptions {
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
