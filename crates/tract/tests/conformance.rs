//! The backend conformance suite (titlesim-test-support) on tract: both Qwen3
//! exports (plain and with past key values) besides the BERT fixtures.

use titlesim_test_support::conformance::Conformance;

const TRACT: Conformance = Conformance {
    name: "tract",
    load: titlesim_tract::load,
    options: || titlesim_test_support::threads(1),
    qwen3_exports: &[Some("model.onnx"), Some("model_with_past.onnx")],
};

#[test]
fn matches_sentence_transformers() {
    TRACT.matches_sentence_transformers();
}

#[test]
fn batch_invariant() {
    TRACT.batch_invariant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_the_sequential_vectors() {
    TRACT.concurrent_callers_get_the_sequential_vectors().await;
}
