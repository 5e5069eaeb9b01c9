//! # titlesim-core
//!
//! The core of titlesim, with no ML dependencies: how texts become vectors and vectors
//! become verdicts, independent of the engine that runs the network. Backends (candle, ONNX
//! Runtime, tract) live in their own crates; the `titlesim` crate loads them from
//! configuration; `titlesim-shadow` runs a candidate model beside the canonical one.
//!
//! ## From two titles to a verdict and a log record
//!
//! 1. **Texts.** A pair is an agent's title (the *product*, or candidate) and a ground-truth
//!    title (the *gt*, or reference). A TOML file (`titlesim::Config`) names the model that
//!    judges it (`[canonical]`, a [`ModelConfig`]) and, optionally, a candidate in its shadow
//!    (`[shadow]`). [`resolve_model`] finds the model folder (local, Hugging Face cache, or the
//!    hub with the `hf-hub` feature) and [`ModelSpec`] reads it as sentence-transformers does:
//!    pooling, normalisation, maximum length, prompts, padding side.
//! 2. **Tokens.** [`TextTokenizer`] tokenises with sentence-transformers' effective settings
//!    (truncation to `max_seq_length`, an appended end-of-sequence token where the model
//!    needs one) into [`Encoded`] rows, and batches them, sorted by length, into padded
//!    [`TokenBatch`]es (ids, attention mask, token types).
//! 3. **Backend.** A [`Backend`] (candle, ONNX Runtime, tract, or yours) runs the network
//!    on one [`TokenBatch`] and returns [`BackendOutput`]: token states ([`HiddenStates`],
//!    `[batch, seq, hidden]`) or vectors the model already pooled.
//! 4. **Pooling.** [`pool`] (CLS, mean, max or last token, from the attention mask) and
//!    [`l2_normalize`], once, for every backend. Steps 2 to 4 together are the
//!    [`TransformerEmbedder`], one implementation of the [`Embedder`] trait: texts in, one
//!    vector per text out. Anything else that turns texts into vectors (a remote embedding
//!    API, a hashing embedder, a quantised engine) can implement [`Embedder`] directly.
//! 5. **Cosine.** A [`Scorer`] takes [`Pair`]s (id, phase, product title, ground-truth title,
//!    label). [`CosineScorer`] embeds both titles of each pair (each distinct text once, with
//!    optional per-side prompts applied in one place, [`SidePrompts::apply`]), taking a
//!    ground-truth vector from a [`GtVectors`] store instead when one is attached and holds it,
//!    and computes their [`cosine`], accumulated in f64 so a verdict does not depend on
//!    summation order.
//! 6. **Verdict.** The cosine is judged against the model's threshold: a [`Score`], which
//!    passes when `cosine >= threshold`, returned as a [`PairScore`] that carries the pair's id.
//! 7. **Log.** With a shadow model, the `titlesim-shadow` crate writes one record per pair
//!    (both cosines, both verdicts, phase, models, [fingerprints](fingerprint), thresholds,
//!    timings) to a JSONL log; the record schema, its reader and its writer are the
//!    `titlesim-log` crate, which calibration reads with.
//!
//! ## Example: your own embedder, scored
//!
//! The core has no backends, so this example brings its own [`Embedder`] (letter counts);
//! the `titlesim` crate loads real models (`titlesim::load_scorer`), and the
//! `examples/hash-embedder` crate of the repository is a complete outside implementation.
//!
//! ```
//! use std::sync::Arc;
//!
//! use async_trait::async_trait;
//! use titlesim_core::{CosineScorer, Embedder, EmbedderInfo, Result, Scorer};
//!
//! /// Embeds a text as its counts of the letters a to z.
//! struct Letters(EmbedderInfo);
//!
//! #[async_trait]
//! impl Embedder for Letters {
//!     fn info(&self) -> &EmbedderInfo {
//!         &self.0
//!     }
//!     async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
//!         Ok(texts
//!             .iter()
//!             .map(|t| {
//!                 let mut v = vec![0.0; 26];
//!                 for b in t.to_ascii_lowercase().bytes().filter(u8::is_ascii_lowercase) {
//!                     v[(b - b'a') as usize] += 1.0;
//!                 }
//!                 v
//!             })
//!             .collect())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<()> {
//! let letters = Letters(EmbedderInfo {
//!     model: "letters".into(),
//!     backend: "example".into(),
//!     dim: 26,
//!     normalize: false,
//!     fingerprint: "letters-v1".into(),
//! });
//! let scorer = CosineScorer::new(Arc::new(letters), 0.9);
//!
//! let same = scorer.score("Apple iPhone 15", "iphone 15 apple").await?;
//! assert!((same.cosine - 1.0).abs() < 1e-6 && same.pass);
//!
//! let other = scorer.score("Apple iPhone 15", "Dyson V8 vacuum").await?;
//! assert!(other.cosine < same.cosine && !other.pass);
//! # Ok(())
//! # }
//! ```
//!
//! ## Errors
//!
//! Every fallible function returns [`Result`], whose [`Error`] says what went wrong and
//! where; its documentation lists which variant comes from where, so a caller can match on
//! the cases it handles (a model that is not there, a backend not compiled in, a bad
//! configuration key, a malformed input line) and print the rest.
//!
//! ## Thread safety
//!
//! [`Embedder`] and [`Backend`] require `Send + Sync`; a `Box<dyn Embedder>`, an
//! `Arc<dyn Embedder>` and a [`CosineScorer`] are `Send + Sync + 'static`, so they can be
//! shared across tasks and threads of a service (this is checked at compile time).
#![deny(missing_docs)]

pub mod backend;
pub mod config;
pub mod embed;
pub mod error;
pub mod fingerprint;
pub mod model;
pub mod pooling;
pub mod resolve;
pub mod score;
pub mod spin;
pub mod tokenize;

pub use backend::{Backend, BackendOptions, BackendOutput, BatchPadding, Dtype, GraphOptimization};
pub use config::{BackendKind, ModelConfig, PromptSide, StoreMismatch};
pub use embed::{run_blocking, EmbedOptions, Embedder, EmbedderInfo, TransformerEmbedder};
pub use error::{excerpt, panic_message, shown, Error, Result};
pub use model::{Architecture, ModelOverrides, ModelSpec, PaddingSide, Pooling};
pub use pooling::{cosine, cosine_matrix, l2_normalize, pool, HiddenStates};
pub use resolve::resolve_model;
pub use score::{
    apply_prompt, check_title, is_blank, repeated_id, BlankTitles, CosineScorer, GtVectors, Pair,
    PairFieldError, PairScore, Score, Scorer, Side, SidePrompts, MAX_LABEL_BYTES, MAX_TITLE_BYTES,
    RESERVED_PHASES,
};
pub use tokenize::{Encoded, TextTokenizer, TokenBatch};

// `Box<dyn Embedder>`, `Arc<dyn Embedder>` and the scorer can be shared across threads and
// held by a service for its lifetime: a change that breaks this fails to compile.
const _: fn() = || {
    fn assert_send_sync_static<T: Send + Sync + 'static>() {}
    assert_send_sync_static::<Box<dyn Embedder>>();
    assert_send_sync_static::<std::sync::Arc<dyn Embedder>>();
    assert_send_sync_static::<Box<dyn Backend>>();
    assert_send_sync_static::<Box<dyn Scorer>>();
    assert_send_sync_static::<CosineScorer>();
    assert_send_sync_static::<TransformerEmbedder>();
    assert_send_sync_static::<Error>();
};
