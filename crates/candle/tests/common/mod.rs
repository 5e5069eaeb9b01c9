//! Helpers of the candle tests: the candle backend behind the shared ones of
//! `titlesim-test-support` (which all backends' tests use).
#![allow(dead_code, unused_imports)]

use std::path::Path;

use titlesim_core::{BackendOutput, EmbedOptions, ModelOverrides, ModelSpec, TextTokenizer};
use titlesim_core::{TokenBatch, TransformerEmbedder};
pub use titlesim_test_support::{
    assert_close, assert_same_tokens, fixture, max_abs_diff, real_model, threads, workspace,
    Reference,
};

/// Reads a model folder with overrides.
pub fn spec(dir: &Path, overrides: &ModelOverrides) -> ModelSpec {
    titlesim_test_support::spec_with(dir, overrides)
}

/// A core embedder over the candle backend (2 threads).
pub fn embedder(dir: &Path, overrides: &ModelOverrides, batch_size: usize) -> TransformerEmbedder {
    let spec = spec(dir, overrides);
    let backend = titlesim_candle::load(&spec, &threads(2)).unwrap();
    TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size }).unwrap()
}

/// Token states of text `i` run alone through the backend, `[tokens][hidden]`.
pub fn token_states(dir: &Path, r: &Reference, i: usize) -> Vec<Vec<f32>> {
    let spec = spec(dir, &ModelOverrides::default());
    let tok = TextTokenizer::from_spec(&spec).unwrap();
    let backend = titlesim_candle::load(&spec, &threads(2)).unwrap();
    let enc = tok.encode(&r.inputs()[i..i + 1]).unwrap();
    let batch = TokenBatch::from_encoded(&[&enc[0]], tok.pad_id(), tok.padding_side());
    match backend.forward(&batch).unwrap() {
        BackendOutput::Tokens(s) => (0..s.seq).map(|t| s.token(0, t).to_vec()).collect(),
        other => panic!("expected token states, got {other:?}"),
    }
}
