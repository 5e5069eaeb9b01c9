//! The backend conformance suite (titlesim-test-support) on ONNX Runtime: both Qwen3
//! exports (plain and with past key values) besides the BERT fixtures.

use titlesim_test_support::conformance::Conformance;

const ORT: Conformance = Conformance {
    name: "ort",
    load: titlesim_ort::load,
    options: titlesim_test_support::ort_options,
    qwen3_exports: &[Some("model.onnx"), Some("model_with_past.onnx")],
};

#[test]
fn matches_sentence_transformers() {
    ORT.matches_sentence_transformers();
}

#[test]
fn batch_invariant() {
    ORT.batch_invariant();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_the_sequential_vectors() {
    ORT.concurrent_callers_get_the_sequential_vectors().await;
}

#[test]
fn refuses_max_length_beyond_positions() {
    ORT.refuses_max_length_beyond_positions();
}
