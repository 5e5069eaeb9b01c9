//! Where things are: the workspace root, the models folder and the ONNX Runtime library in it.

use std::path::{Path, PathBuf};

/// The workspace root (the folder above this package): from the `CARGO_MANIFEST_DIR` that
/// `cargo run`, `cargo bench` and `cargo xtask bench` set when they start a binary of this
/// package, else the folder it was compiled in. (With one target folder shared by two
/// checkouts cargo may reuse a binary built in the other one; the compiled-in path would then
/// read that checkout's titles and models.)
pub fn workspace_root() -> PathBuf {
    root_of(
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

/// The folder above `run_time` when it is a package folder in a workspace (a `Cargo.toml`, a
/// `Cargo.lock` above), else above `compiled`.
fn root_of(run_time: Option<PathBuf>, compiled: &Path) -> PathBuf {
    run_time
        .filter(|p| p.join("Cargo.toml").is_file() && p.join("../Cargo.lock").is_file())
        .unwrap_or_else(|| compiled.to_path_buf())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-time package folder wins when it is one (another checkout's), a stray value
    /// or none leaves the compiled-in one.
    #[test]
    fn the_workspace_root_follows_the_checkout_the_binary_runs_in() {
        let compiled = Path::new(env!("CARGO_MANIFEST_DIR"));
        let other = tempfile_dir();
        std::fs::create_dir_all(other.join("benches")).unwrap();
        std::fs::write(other.join("Cargo.lock"), "").unwrap();
        std::fs::write(other.join("benches/Cargo.toml"), "").unwrap();
        assert_eq!(root_of(Some(other.join("benches")), compiled), other);
        let want = compiled.parent().unwrap();
        assert_eq!(root_of(Some(other.join("nowhere")), compiled), want);
        assert_eq!(root_of(None, compiled), want);
        std::fs::remove_dir_all(&other).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().join(format!("titlesim-bench-root-{}", std::process::id()))
    }
}
