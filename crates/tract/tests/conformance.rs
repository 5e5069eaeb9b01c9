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

#[test]
fn refuses_max_length_beyond_positions() {
    TRACT.refuses_max_length_beyond_positions();
}

/// With the `multithread` feature and 2 threads a batch runs in parts side by side and a single
/// text with its matrix products split over the pool: the vectors must still be the ones a
/// text gets alone.
#[cfg(feature = "multithread")]
#[test]
fn batch_invariant_on_two_threads() {
    Conformance {
        options: || titlesim_test_support::threads(2),
        ..TRACT
    }
    .batch_invariant();
}

/// Concurrent callers on a 2-thread model: a single text's pass keeps the other pool thread
/// spinning, and that thread may pick up another caller's pass; every caller must still get
/// its own vectors.
#[cfg(feature = "multithread")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_on_two_threads_get_the_sequential_vectors() {
    Conformance {
        options: || titlesim_test_support::threads(2),
        ..TRACT
    }
    .concurrent_callers_get_the_sequential_vectors()
    .await;
}
