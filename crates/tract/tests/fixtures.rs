//! The tract backend on the committed tiny fixtures, against sentence-transformers.
//! (What every backend must do is in tests/conformance.rs; these are tract's own.)

use titlesim_core::{BackendOptions, Error};
use titlesim_test_support::*;

const TOL: f32 = 1e-5;

/// tract on a budget of 3 threads (the conformance suite's loader).
const TRACT3: Conformance = Conformance {
    name: "tract, 3 threads",
    load: titlesim_tract::load,
    options: || threads(3),
    qwen3_exports: &[Some("model.onnx"), Some("model_with_past.onnx")],
};

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
            let e = TRACT3.embedder(folder, export, batch);
            let got = e.embed_blocking(&inputs).unwrap();
            let d = max_diff(&got, &r.embeddings);
            assert!(d <= TOL, "{folder} {export:?} batch {batch}: max diff {d}");
        }
        let e = TRACT3.embedder(folder, export, 8);
        let one = e.embed_blocking(&inputs[1..2]).unwrap();
        let d = max_diff(&one, &r.embeddings[1..2]);
        assert!(d <= TOL, "{folder} {export:?} one text: max diff {d}");
    }
}

/// `spin` reaches the backend (default on, with a pool to spin in) and changes no vector of a
/// text alone, where the other threads spin.
#[test]
fn spinning_is_on_by_default_and_changes_no_vector() {
    let dir = fixture("tiny-bert-mean");
    let spec = spec(&dir);
    let r = Reference::load("tiny-bert-mean");
    let inputs = r.inputs();
    let load = |n: usize, spin: Option<bool>| {
        let opts = BackendOptions { spin, ..threads(n) };
        titlesim_tract::TractBackend::load(&spec, &opts).unwrap()
    };
    assert!(load(2, None).spins());
    assert!(!load(1, None).spins(), "one thread has none to spin");
    let mut got = Vec::new();
    for spin in [true, false] {
        let b = load(2, Some(spin));
        assert_eq!(b.spins(), spin);
        let e = embedder(spec.clone(), Box::new(b), 1);
        got.push(e.embed_blocking(&inputs).unwrap());
    }
    assert_eq!(got[0], got[1], "spinning changed a vector");
    let d = max_diff(&got[0], &r.embeddings);
    assert!(d <= TOL, "max diff {d}");
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
        ..threads(1)
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
        ..threads(1)
    });
    assert!(matches!(e, Error::Backend { .. }), "{e:?}");
    assert!(e.to_string().contains("corrupt.onnx"), "{e}");

    let e = load_err(BackendOptions {
        onnx: Some(tmp.path().join("absent.onnx")),
        ..threads(1)
    })
    .to_string();
    assert!(
        e.contains("absent.onnx") && e.contains("does not exist"),
        "{e}"
    );

    let e = load_err(BackendOptions {
        onnx_output: Some("pooled".into()),
        ..threads(1)
    })
    .to_string();
    assert!(
        e.contains("`pooled`") && e.contains("last_hidden_state"),
        "{e}"
    );
}
