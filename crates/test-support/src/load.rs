//! Putting a backend together with a model folder's tokenizer and pooling, as the tests do.

use std::path::Path;

use titlesim_core::{
    Backend, BackendOptions, EmbedOptions, ModelOverrides, ModelSpec, TransformerEmbedder,
};

/// Reads a model folder as sentence-transformers would.
pub fn spec(folder: &Path) -> ModelSpec {
    spec_with(folder, &ModelOverrides::default())
}

/// Reads a model folder with overrides (pooling, padding side, ...).
pub fn spec_with(folder: &Path, overrides: &ModelOverrides) -> ModelSpec {
    ModelSpec::from_folder_with(&folder.display().to_string(), folder, overrides)
        .expect("model folder")
}

/// The folder's tokenizer and pooling around `backend`, `batch_size` texts per call.
pub fn embedder(
    spec: ModelSpec,
    backend: Box<dyn Backend>,
    batch_size: usize,
) -> TransformerEmbedder {
    TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size }).expect("embedder")
}

/// Options with a thread budget (tests keep it small: CI machines have 2 cores shared by
/// parallel tests).
pub fn threads(n: usize) -> BackendOptions {
    BackendOptions {
        threads: Some(n),
        ..Default::default()
    }
}

/// One thread, and the ONNX Runtime library of `$ORT_DYLIB_PATH` (else the one `cargo xtask
/// fetch-models` put in the models folder, else the one Python's onnxruntime ships); fails
/// the test, naming the command to run, when there is none. The variable comes first so that
/// `cargo xtask cross` can hand the aarch64 library to tests that share an x86 models folder.
#[cfg(feature = "ort")]
pub fn ort_options() -> BackendOptions {
    use std::path::PathBuf;
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let lib = LIB.get_or_init(|| {
        let dir = crate::paths::models_dir().join("onnxruntime");
        let env = std::env::var_os("ORT_DYLIB_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        env.clone()
            .or_else(|| titlesim_ort::find_in_dir(&dir))
            .unwrap_or_else(|| {
                let search = titlesim_ort::LibrarySearch {
                    env,
                    python: Some("python3".into()),
                    ..Default::default()
                };
                titlesim_ort::locate_library(&search).unwrap_or_else(|e| {
                    panic!(
                        "no ONNX Runtime library in {}: run `cargo xtask fetch-models` first ({e})",
                        dir.display()
                    )
                })
            })
    });
    BackendOptions {
        ort_library: Some(lib.clone()),
        ..threads(1)
    }
}
