//! Where things are: the workspace root, the models folder and the ONNX Runtime library in it.

use std::path::{Path, PathBuf};

/// The workspace root (the folder above this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The models folder: `$TITLESIM_MODELS_DIR`, else `<workspace root>/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("TITLESIM_MODELS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("models"),
    }
}

/// The ONNX Runtime library `cargo xtask fetch-models` puts in the models folder, if present.
pub fn ort_library() -> Option<PathBuf> {
    let p = models_dir()
        .join("onnxruntime")
        .join("libonnxruntime.so.1.31.1");
    p.is_file().then_some(p)
}
