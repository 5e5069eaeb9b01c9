//! The ONNX Runtime backend on the committed tiny fixtures, against sentence-transformers.
//! (What every backend must do is in tests/conformance.rs; these are ONNX Runtime's own.)

use titlesim_core::{BackendOptions, Error};
use titlesim_ort::OrtBackend;
use titlesim_test_support::*;

/// Concurrent callers are served by a pool of sessions (the conformance suite checks their
/// vectors).
#[test]
fn loads_a_pool_of_sessions() {
    let spec = spec(&fixture("tiny-bert-mean"));
    let backend = OrtBackend::load(&spec, &ort_options()).unwrap();
    assert!(backend.max_sessions() >= 2);
}

/// `spin` turns ONNX Runtime's intra-op spinning on or off (on unless asked: ONNX Runtime's
/// own default, faster for a title alone); either way the vectors are the default's, bit for
/// bit.
#[test]
fn spinning_or_not_gives_the_same_vectors() {
    let spec = spec(&fixture("tiny-bert-mean"));
    let texts = strings(&["red running shoes", "a mug", "usb c cable 2 pack"]);
    let run = |spin: Option<bool>| {
        let opts = BackendOptions {
            threads: Some(2),
            spin,
            ..ort_options()
        };
        let backend = Box::new(OrtBackend::load(&spec, &opts).unwrap());
        assert_eq!(backend.spins(), spin.unwrap_or(true), "{spin:?}");
        embedder(spec.clone(), backend, 8)
            .embed_blocking(&texts)
            .unwrap()
    };
    let default = run(None);
    assert_eq!(run(Some(true)), default);
    assert_eq!(run(Some(false)), default);
}

#[test]
fn unmappable_corrupt_and_missing_graphs_are_clear_errors() {
    let dir = fixture("tiny-bert-mean");
    let spec = spec(&dir);
    let tmp = tempfile::tempdir().unwrap();

    let foo = tmp.path().join("foo.onnx");
    std::fs::write(&foo, identity_onnx("foo")).unwrap();
    let opts = BackendOptions {
        onnx: Some(foo),
        ..ort_options()
    };
    let e = titlesim_ort::load(&spec, &opts)
        .err()
        .expect("load must fail")
        .to_string();
    assert!(
        e.contains("`foo` [1] f32") && e.contains("`bar` [1] f32") && e.contains("foo.onnx"),
        "{e}"
    );

    let corrupt = tmp.path().join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not an ONNX model").unwrap();
    let opts = BackendOptions {
        onnx: Some(corrupt),
        ..ort_options()
    };
    let e = titlesim_ort::load(&spec, &opts)
        .err()
        .expect("load must fail");
    assert!(matches!(e, Error::Backend { .. }), "{e:?}");
    assert!(e.to_string().contains("corrupt.onnx"), "{e}");

    let opts = BackendOptions {
        onnx: Some(tmp.path().join("absent.onnx")),
        ..ort_options()
    };
    let e = titlesim_ort::load(&spec, &opts)
        .err()
        .expect("load must fail")
        .to_string();
    assert!(
        e.contains("absent.onnx") && e.contains("does not exist"),
        "{e}"
    );

    // A folder without any ONNX export.
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let bare = titlesim_test_support::spec(tmp.path());
    let e = titlesim_ort::load(&bare, &ort_options())
        .err()
        .expect("load must fail")
        .to_string();
    assert!(
        e.contains("onnx/model.onnx") && e.contains("model.onnx"),
        "{e}"
    );

    // A configured output that does not exist lists the outputs.
    let opts = BackendOptions {
        onnx_output: Some("pooled".into()),
        ..ort_options()
    };
    let e = titlesim_ort::load(&spec, &opts)
        .err()
        .expect("load must fail")
        .to_string();
    assert!(
        e.contains("`pooled`") && e.contains("last_hidden_state"),
        "{e}"
    );
}
