//! The tract backend on the committed tiny fixtures, against sentence-transformers.
#[path = "../../ort/tests/common/mod.rs"]
mod common;

use common::*;
use titlesim_core::{BackendOptions, Embedder, Error, TransformerEmbedder};

const TOL: f32 = 1e-5;

fn load(folder: &str, onnx: Option<&str>, batch: usize) -> TransformerEmbedder {
    load_with(folder, onnx, batch, 1)
}

fn load_with(
    folder: &str,
    onnx: Option<&str>,
    batch: usize,
    threads: usize,
) -> TransformerEmbedder {
    let dir = fixture(folder);
    let spec = spec(&dir);
    let opts = BackendOptions {
        onnx: onnx.map(|f| dir.join("onnx").join(f)),
        threads: Some(threads),
        ..opts()
    };
    embedder(
        spec.clone(),
        titlesim_tract::load(&spec, &opts).unwrap(),
        batch,
    )
}

#[test]
fn tiny_bert_cls_and_mean_match_sentence_transformers() {
    for name in ["tiny-bert-cls", "tiny-bert-mean"] {
        let r = Reference::load(name);
        let e = load(name, None, 8);
        let got = e.embed_blocking(&r.inputs()).unwrap();
        let d = max_diff(&got, &r.embeddings);
        assert!(d <= TOL, "{name}: max diff {d}");
        for i in [0, 13] {
            let one = e.embed_blocking(&r.inputs()[i..=i]).unwrap();
            let d = max_diff(&one, &r.embeddings[i..=i]);
            assert!(d <= TOL, "{name} text {i} alone: max diff {d}");
        }
    }
}

#[test]
fn tiny_qwen3_both_exports_match_sentence_transformers() {
    for export in ["model.onnx", "model_with_past.onnx"] {
        let e = load("tiny-qwen3", Some(export), 8);
        for name in ["tiny-qwen3", "tiny-qwen3.query"] {
            let r = Reference::load(name);
            let inputs = r.inputs();
            let got = e.embed_blocking(&inputs).unwrap();
            let d = max_diff(&got, &r.embeddings);
            assert!(d <= TOL, "{export} {name}: max diff {d}");
            let got = e.embed_blocking(&inputs[2..4]).unwrap();
            let d = max_diff(&got, &r.embeddings[2..4]);
            assert!(d <= TOL, "{export} {name} equal lengths: max diff {d}");
            for i in [0, 1] {
                let got = e.embed_blocking(&inputs[i..=i]).unwrap();
                let d = max_diff(&got, &r.embeddings[i..=i]);
                assert!(d <= TOL, "{export} {name} text {i} alone: max diff {d}");
            }
        }
    }
}

/// With the `multithread` feature, a batch runs in one part per thread (here 3 parts of
/// uneven sizes: 8 texts as 2 + 3 + 3, 4 as 1 + 1 + 2) and a single text with its matrix
/// products split over the threads; the vectors stay the same, on either padding side and
/// with the past-key-values export.
#[test]
fn three_threads_match_sentence_transformers() {
    let cases = [
        ("tiny-bert-mean", None, "tiny-bert-mean"),
        ("tiny-bert-cls", None, "tiny-bert-cls"),
        ("tiny-qwen3", Some("model.onnx"), "tiny-qwen3"),
        (
            "tiny-qwen3",
            Some("model_with_past.onnx"),
            "tiny-qwen3.query",
        ),
    ];
    for (folder, export, reference) in cases {
        let r = Reference::load(reference);
        let inputs = r.inputs();
        for batch in [8, 4] {
            let e = load_with(folder, export, batch, 3);
            let got = e.embed_blocking(&inputs).unwrap();
            let d = max_diff(&got, &r.embeddings);
            assert!(d <= TOL, "{folder} {export:?} batch {batch}: max diff {d}");
        }
        let e = load_with(folder, export, 8, 3);
        let one = e.embed_blocking(&inputs[1..2]).unwrap();
        let d = max_diff(&one, &r.embeddings[1..2]);
        assert!(d <= TOL, "{folder} {export:?} one text: max diff {d}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_get_the_sequential_vectors() {
    let e = load("tiny-bert-mean", None, 4);
    let inputs = Reference::load("tiny-bert-mean").inputs();
    let part = |k: usize| inputs[k % 13..k % 13 + 1 + k % 3].to_vec();
    let expected: Vec<Vec<Vec<f32>>> = (0..16)
        .map(|k| e.embed_blocking(&part(k)).unwrap())
        .collect();
    let tasks: Vec<_> = (0..16)
        .map(|k| {
            let e = e.clone();
            let texts = part(k);
            tokio::spawn(async move { e.embed(&texts).await })
        })
        .collect();
    for (k, t) in tasks.into_iter().enumerate() {
        let got = t.await.unwrap().unwrap();
        let d = max_diff(&got, &expected[k]);
        assert!(d <= 1e-6, "task {k}: max diff {d}");
    }
}

#[test]
fn unmappable_corrupt_and_missing_graphs_are_clear_errors() {
    let dir = fixture("tiny-bert-mean");
    let spec = spec(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let load_err = |opts: BackendOptions| -> Error {
        titlesim_tract::load(&spec, &opts)
            .err()
            .expect("load must fail")
    };

    let foo = tmp.path().join("foo.onnx");
    std::fs::write(&foo, identity_onnx("foo")).unwrap();
    let e = load_err(BackendOptions {
        onnx: Some(foo),
        ..opts()
    })
    .to_string();
    assert!(
        e.contains("`foo` [1] f32") && e.contains("`bar` [1] f32") && e.contains("foo.onnx"),
        "{e}"
    );

    let corrupt = tmp.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not an ONNX model").unwrap();
    let e = load_err(BackendOptions {
        onnx: Some(corrupt),
        ..opts()
    });
    assert!(matches!(e, Error::Backend { .. }), "{e:?}");
    assert!(e.to_string().contains("corrupt.onnx"), "{e}");

    let e = load_err(BackendOptions {
        onnx: Some(tmp.path().join("absent.onnx")),
        ..opts()
    })
    .to_string();
    assert!(
        e.contains("absent.onnx") && e.contains("does not exist"),
        "{e}"
    );

    let e = load_err(BackendOptions {
        onnx_output: Some("pooled".into()),
        ..opts()
    })
    .to_string();
    assert!(
        e.contains("`pooled`") && e.contains("last_hidden_state"),
        "{e}"
    );
}
