//! # titlesim-test-support
//!
//! What the workspace's tests share, so no test includes another crate's test files:
//!
//! - [`fake`] embedders (deterministic, failing, slow, gated, panicking, NaN; each counting
//!   what it was asked to embed) and generated [`Pair`](titlesim_core::Pair)s;
//! - [`paths`] to the committed fixtures and the real models, and sentence-transformers'
//!   [`mod@reference`] outputs for them;
//! - [`compare`]: vector differences and assertions naming the worst text;
//! - [`load`]: a backend with its folder's tokenizer and pooling (and, with the `ort`
//!   feature, the ONNX Runtime library to load);
//! - [`onnx`]: hand-made ONNX graphs no embedding backend can map (error paths);
//! - [`conformance`]: one suite every backend (candle, ort, tract) runs on the tiny fixtures.
//!
//! Development only: never published, never a dependency of a library.
#![deny(missing_docs)]

pub mod compare;
pub mod conformance;
pub mod fake;
pub mod load;
pub mod onnx;
pub mod paths;
pub mod reference;

pub use compare::{assert_close, assert_same_tokens, cosine, max_abs_diff, max_diff};
pub use conformance::Conformance;
pub use fake::{pairs, scorer, vector, Fake, Mode};
#[cfg(feature = "ort")]
pub use load::ort_options;
pub use load::{embedder, spec, spec_with, threads};
pub use onnx::identity_onnx;
pub use paths::{fixture, models_dir, real, real_model, strings, workspace};
pub use reference::Reference;
