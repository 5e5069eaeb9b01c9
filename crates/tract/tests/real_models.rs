//! The tract backend on the real models of `cargo xtask fetch-models`, against the references
//! and against ONNX Runtime on the same files.
use titlesim_core::{BackendOptions, TransformerEmbedder};
use titlesim_test_support::*;

fn tract(folder: &str, opts: &BackendOptions) -> TransformerEmbedder {
    let dir = real(folder);
    let spec = spec(&dir);
    embedder(spec.clone(), titlesim_tract::load(&spec, opts).unwrap(), 32)
}

fn ort(folder: &str, opts: &BackendOptions) -> TransformerEmbedder {
    let dir = real(folder);
    let spec = spec(&dir);
    embedder(spec.clone(), titlesim_ort::load(&spec, opts).unwrap(), 32)
}

#[test]
fn fp32_external_data_export_matches_sentence_transformers() {
    real("all-MiniLM-L6-v2/onnx/model.onnx.data");
    let r = Reference::load("all-minilm-l6-v2");
    let got = tract("all-MiniLM-L6-v2", &threads(1))
        .embed_blocking(&r.inputs())
        .unwrap();
    let d = max_diff(&got, &r.embeddings);
    assert!(d <= 1e-5, "max diff {d}");
}

/// On 2 threads a title alone runs with its matrix products split over the pool (tract-linalg
/// splits from 16 output tiles, the other thread spinning); in a batch of 8 each part runs on
/// one thread. Both must give every text the same bits, within 1e-5 of the references.
#[test]
fn two_threads_give_a_text_alone_its_batch_bits() {
    let r = Reference::load("all-minilm-l6-v2");
    let inputs = r.inputs();
    let dir = real("all-MiniLM-L6-v2");
    let spec = spec(&dir);
    let backend = titlesim_tract::TractBackend::load(&spec, &threads(2)).unwrap();
    assert_eq!(backend.threads(), 2);
    let batch = embedder(spec.clone(), Box::new(backend), 8)
        .embed_blocking(&inputs)
        .unwrap();
    let d = max_diff(&batch, &r.embeddings);
    assert!(d <= 1e-5, "batch 8: max diff {d}");
    let alone = embedder(
        spec.clone(),
        titlesim_tract::load(&spec, &threads(2)).unwrap(),
        1,
    );
    for (i, text) in inputs.iter().enumerate() {
        let one = alone.embed_blocking(std::slice::from_ref(text)).unwrap();
        assert_eq!(one[0], batch[i], "text #{i} alone differs from its batch");
    }
}

#[test]
fn int8_export_matches_onnx_runtime_and_folds_its_casts() {
    let r = Reference::load("all-minilm-l6-v2");
    let inputs = r.inputs();
    let t = tract("all-MiniLM-L6-v2-int8", &threads(1));
    let got = t.embed_blocking(&inputs).unwrap();
    let want = ort("all-MiniLM-L6-v2-int8", &ort_options())
        .embed_blocking(&inputs)
        .unwrap();
    let d = max_diff(&got, &want);
    assert!(d <= 1e-5, "tract vs ort: max diff {d}");
    for (i, (g, e)) in got.iter().zip(&r.embeddings).enumerate() {
        // See crates/ort/tests/real_models.rs: the empty text is at 0.99634 in onnxruntime too.
        let c = cosine(g, e);
        let floor = if r.texts[i].is_empty() { 0.996 } else { 0.999 };
        assert!(c >= floor, "text {i}: cosine {c}");
    }
    // The int8 -> f32 casts are folded at load: nothing re-casts a weight on every call (the
    // word-embedding table alone costs ~30 ms per call otherwise).
    let dir = real("all-MiniLM-L6-v2-int8");
    let b = titlesim_tract::TractBackend::load(&spec(&dir), &threads(1)).unwrap();
    assert_eq!(b.heavy_constant_ops(), Vec::<String>::new());
}

#[test]
fn paraphrase_matches_onnx_runtime_and_its_own_pooling() {
    let texts = Reference::load("all-minilm-l6-v2").inputs();
    let ours = tract("paraphrase-MiniLM-L3-v2", &threads(1))
        .embed_blocking(&texts)
        .unwrap();
    let theirs = ort("paraphrase-MiniLM-L3-v2", &ort_options())
        .embed_blocking(&texts)
        .unwrap();
    let d = max_diff(&ours, &theirs);
    assert!(d <= 1e-5, "tract vs ort: max diff {d}");
    let pooled = BackendOptions {
        onnx_output: Some("461".into()),
        ..threads(1)
    };
    let own = tract("paraphrase-MiniLM-L3-v2", &pooled)
        .embed_blocking(&texts)
        .unwrap();
    let d = max_diff(&ours, &own);
    assert!(
        d <= 1e-5,
        "core mean pooling vs the export's `461`: max diff {d}"
    );
}
