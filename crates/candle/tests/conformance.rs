//! The backend conformance suite (titlesim-test-support) on candle: the BERT fixtures
//! and the Qwen3 fixture from their safetensors weights.

use titlesim_test_support::conformance::Conformance;

const CANDLE: Conformance = Conformance {
    name: "candle",
    load: titlesim_candle::load,
    options: || titlesim_test_support::threads(2),
    qwen3_exports: &[None],
};

#[test]
fn matches_sentence_transformers() {
    CANDLE.matches_sentence_transformers();
}

#[test]
fn batch_invariant() {
    CANDLE.batch_invariant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_the_sequential_vectors() {
    CANDLE.concurrent_callers_get_the_sequential_vectors().await;
}

#[test]
fn refuses_max_length_beyond_positions() {
    CANDLE.refuses_max_length_beyond_positions();
}
