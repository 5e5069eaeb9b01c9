//! The ONNX Runtime backend on the real models of `cargo xtask fetch-models`.
use titlesim_core::{BackendOptions, TransformerEmbedder};
use titlesim_test_support::*;

fn load(folder: &str, opts: &BackendOptions) -> TransformerEmbedder {
    let dir = real(folder);
    let spec = spec(&dir);
    embedder(spec.clone(), titlesim_ort::load(&spec, opts).unwrap(), 32)
}

#[test]
fn fp32_external_data_export_matches_sentence_transformers() {
    real("all-MiniLM-L6-v2/onnx/model.onnx.data");
    let r = Reference::load("all-minilm-l6-v2");
    let got = load("all-MiniLM-L6-v2", &ort_options())
        .embed_blocking(&r.inputs())
        .unwrap();
    let d = max_diff(&got, &r.embeddings);
    assert!(d <= 1e-5, "max diff {d}");
}

#[test]
fn int8_export_is_close_to_fp32_reference() {
    let r = Reference::load("all-minilm-l6-v2");
    let got = load("all-MiniLM-L6-v2-int8", &ort_options())
        .embed_blocking(&r.inputs())
        .unwrap();
    check_int8_cosines(&r, &got);
}

/// The int8 weights cost accuracy: every text stays at cosine >= 0.999 to the fp32 reference
/// except the empty text ([CLS][SEP] only), which onnxruntime itself, run from Python on the
/// same file, puts at 0.99634.
fn check_int8_cosines(r: &Reference, got: &[Vec<f32>]) {
    for (i, (g, e)) in got.iter().zip(&r.embeddings).enumerate() {
        let c = cosine(g, e);
        let floor = if r.texts[i].is_empty() { 0.996 } else { 0.999 };
        assert!(c >= floor, "text {i} {:?}: cosine {c}", r.texts[i]);
    }
}

#[test]
fn paraphrase_mean_pooling_equals_the_exports_own_pooled_output() {
    let texts = Reference::load("all-minilm-l6-v2").inputs();
    // Token states: found as the only rank-3 output ending in 384 (`onnx::Shape_422`).
    let ours = load("paraphrase-MiniLM-L3-v2", &ort_options())
        .embed_blocking(&texts)
        .unwrap();
    // The export's own mean-pooled vector is the output `461`.
    let opts = BackendOptions {
        onnx_output: Some("461".into()),
        ..ort_options()
    };
    let theirs = load("paraphrase-MiniLM-L3-v2", &opts)
        .embed_blocking(&texts)
        .unwrap();
    let d = max_diff(&ours, &theirs);
    assert!(d <= 1e-5, "max diff {d}");
}
