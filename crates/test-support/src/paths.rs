//! Where the tests' inputs are: the workspace, its committed fixtures, and the real models of
//! `cargo xtask fetch-models`.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives two folders below it).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A committed fixture folder (`tests/fixtures/<name>`).
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

/// The real models folder: `$TITLESIM_MODELS_DIR` or `<workspace>/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("TITLESIM_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models"))
}

/// A real model file or folder under the models folder; fails the test, naming the command
/// to run, when it is missing.
pub fn real(rel: &str) -> PathBuf {
    let p = models_dir().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask fetch-models` first (or set TITLESIM_MODELS_DIR)",
        p.display()
    );
    p
}

/// A real safetensors model folder; fails the test when its weights or tokenizer are missing.
pub fn real_model(name: &str) -> PathBuf {
    let dir = models_dir().join(name);
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file(),
        "{} is missing: run `cargo xtask fetch-models` (or set TITLESIM_MODELS_DIR)",
        dir.display()
    );
    dir
}

/// Owned strings.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}
