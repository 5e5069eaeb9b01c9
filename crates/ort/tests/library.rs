//! Wrong ONNX Runtime libraries are clear errors, never panics.
//!
//! This test binary never loads a working library: once one is loaded, a process keeps it.
use std::path::{Path, PathBuf};
use std::process::Command;

use titlesim_core::BackendOptions;
use titlesim_test_support::*;

fn load_err(lib: &Path) -> String {
    let spec = spec(&fixture("tiny-bert-mean"));
    let opts = BackendOptions {
        ort_library: Some(lib.to_path_buf()),
        ..threads(1)
    };
    titlesim_ort::load(&spec, &opts)
        .err()
        .expect("loading must fail")
        .to_string()
}

/// Compiles C source into a shared library with the system C compiler (Rust's linker), or
/// `$TITLESIM_TEST_CC` (`cargo xtask cross` sets the aarch64 cross compiler there).
fn shared_lib(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, source).unwrap();
    let lib = dir.join(format!("lib{name}.so"));
    let cc = std::env::var("TITLESIM_TEST_CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&c)
        .output()
        .expect("a C compiler (cc) to build a fake library");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lib
}

const HOW: &str = "pip install onnxruntime==1.31.1";

#[test]
fn missing_file_and_non_library_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let e = load_err(&tmp.path().join("libonnxruntime.so.1.31.1"));
    assert!(e.contains("does not exist") && e.contains(HOW), "{e}");

    let text = tmp.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&text, "not a shared library").unwrap();
    let e = load_err(&text);
    assert!(
        e.contains("not a loadable shared library") && e.contains(HOW),
        "{e}"
    );
}

#[test]
fn other_library_and_old_version_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let other = shared_lib(tmp.path(), "other", "int answer(void) { return 42; }\n");
    let e = load_err(&other);
    assert!(
        e.contains("not an ONNX Runtime library") && e.contains(HOW),
        "{e}"
    );

    // A library that says it is ONNX Runtime 1.16.3.
    let old = shared_lib(
        tmp.path(),
        "onnxruntime",
        r#"
typedef struct { const void* (*GetApi)(unsigned int); const char* (*GetVersionString)(void); } OrtApiBase;
static const void* get_api(unsigned int v) { (void)v; return 0; }
static const char* version(void) { return "1.16.3"; }
static const OrtApiBase base = { get_api, version };
const OrtApiBase* OrtGetApiBase(void) { return &base; }
"#,
    );
    let e = load_err(&old);
    assert!(
        e.contains("too old") && e.contains("1.16.3") && e.contains(HOW),
        "{e}"
    );
}
