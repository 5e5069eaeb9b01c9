//! The facade's answer for backends this build does not contain.

use std::path::Path;

use titlesim::{compiled_backends, load_backend, BackendKind, BackendOptions, Error, ModelSpec};

#[test]
fn the_error_names_the_cargo_feature() {
    let e = Error::BackendNotCompiled {
        backend: "tract".into(),
        feature: "tract".into(),
    };
    let s = e.to_string();
    assert!(
        s.contains("`tract`") && s.contains("--features tract"),
        "{s}"
    );
}

#[test]
fn compiled_backends_follow_the_features() {
    let want: Vec<BackendKind> = [
        (BackendKind::Candle, cfg!(feature = "candle")),
        (BackendKind::Ort, cfg!(feature = "ort")),
        (BackendKind::Tract, cfg!(feature = "tract")),
    ]
    .into_iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| k)
    .collect();
    assert_eq!(compiled_backends(), want);
}

#[test]
fn missing_backends_are_refused_with_the_feature_name() {
    // Only testable for features that are off: `cargo test -p titlesim --no-default-features`
    // checks all three; with every feature on there is nothing to refuse.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-bert-mean");
    let spec = ModelSpec::from_folder("tiny-bert-mean", &root).unwrap();
    for kind in BackendKind::ALL {
        if compiled_backends().contains(&kind) {
            continue;
        }
        match load_backend(kind, &spec, &BackendOptions::default()) {
            Err(Error::BackendNotCompiled { backend, feature }) => {
                assert_eq!(backend, kind.as_str());
                assert_eq!(feature, kind.feature());
            }
            Err(e) => panic!("{kind}: expected BackendNotCompiled, got {e}"),
            Ok(_) => panic!("{kind} is not compiled in, yet it loaded"),
        }
    }
}
