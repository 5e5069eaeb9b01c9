//! # titlesim-test-support
//!
//! What the workspace's tests share, so no test includes another crate's test files:
//! [`fake`] embedders (deterministic, failing, slow, gated, panicking, NaN; each counting
//! what it was asked to embed) and generated [`Pair`](titlesim_core::Pair)s. Development only:
//! never published, never a dependency of a library.
#![deny(missing_docs)]

pub mod fake;

pub use fake::{pairs, scorer, vector, Fake, Mode};
