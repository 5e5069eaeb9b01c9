//! # titlesim-core
//!
//! The core of titlesim, with no ML dependencies: how texts become vectors and vectors
//! become verdicts, independent of the engine that runs the network.
//!
//! The path of a pair of titles:
//!
//! 1. **Model folder** — [`resolve_model`] finds the folder (local, Hugging Face cache, or
//!    hub with the `hf-hub` feature); [`ModelSpec`] reads it as sentence-transformers does:
//!    pooling, normalisation, max length, prompts, padding side.
//! 2. **Tokens** — [`TextTokenizer`] tokenises with sentence-transformers' effective settings
//!    and [`TokenBatch`] pads length-sorted batches.
//! 3. **Backend** — a [`Backend`] (candle, ONNX Runtime, tract, or yours) turns a batch into
//!    token states.
//! 4. **Pooling** — [`pool`] and [`l2_normalize`], once, for every backend; together these
//!    steps are the [`TransformerEmbedder`], one implementation of the [`Embedder`] trait.
//! 5. **Verdict** — [`CosineScorer`] embeds both titles, takes their [`cosine`] and compares
//!    it with a threshold: a [`Score`].
#![warn(missing_docs)]

pub mod backend;
pub mod config;
pub mod embed;
pub mod error;
pub mod fingerprint;
pub mod model;
pub mod onnx_io;
pub mod pooling;
pub mod record;
pub mod resolve;
pub mod score;
pub mod tokenize;

pub use backend::{Backend, BackendOptions, BackendOutput};
pub use config::{BackendKind, Config, ModelConfig, PromptSide};
pub use embed::{run_blocking, EmbedOptions, Embedder, EmbedderInfo, TransformerEmbedder};
pub use error::{Error, Result};
pub use model::{Architecture, ModelOverrides, ModelSpec, PaddingSide, Pooling};
pub use pooling::{cosine, l2_normalize, pool, HiddenStates};
pub use record::{read_log, LogContents, ShadowRecord, SideRecord, SkippedLine, SCHEMA_VERSION};
pub use resolve::resolve_model;
pub use score::{CosineScorer, Score, Scorer, SidePrompts};
pub use tokenize::{Encoded, TextTokenizer, TokenBatch};
