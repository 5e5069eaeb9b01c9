//! Helpers shared by the CLI tests: run the compiled binary, read the committed references.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The workspace's committed test fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A fixture model folder.
pub fn fixture(name: &str) -> PathBuf {
    fixtures().join(name)
}

/// The workspace's `data/` folder.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data")
        .join(name)
}

/// Runs `titlesim` with `args`, feeding `stdin` (none: an empty standard input).
pub fn titlesim(args: &[&str], stdin: Option<&[u8]>) -> Output {
    titlesim_env(args, stdin, &[])
}

/// [`titlesim`] with environment variables `env` set for the run.
pub fn titlesim_env(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_titlesim"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the titlesim binary runs");
    {
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(data) = stdin {
            // A run that fails early (a missing model, say) may exit before it reads its
            // input; the pipe is then closed and that is not the test's concern.
            match input.write_all(data) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => panic!("writing stdin: {e}"),
            }
        }
    }
    child.wait_with_output().expect("titlesim finishes")
}

/// stdout of a run that must succeed (panics with stderr otherwise).
pub fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "titlesim failed ({}): {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// stderr of a run that must fail cleanly: non-zero exit, an `error:` line, no panic.
pub fn fails(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "expected a failure, got success; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_ne!(
        out.status.code(),
        Some(101),
        "exit 101 is a panic: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("error:"), "no `error:` line in: {stderr}");
    stderr
}

/// A committed sentence-transformers reference (`tests/fixtures/references/<name>.json`).
#[derive(serde::Deserialize)]
pub struct Reference {
    pub texts: Vec<String>,
    pub embeddings: Vec<Vec<f32>>,
    pub normalize: bool,
}

/// Reads a reference file.
pub fn reference(name: &str) -> Reference {
    let p = fixtures().join("references").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).expect("reference file");
    serde_json::from_str(&text).expect("reference JSON")
}

/// Cosine similarity in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Largest absolute element-wise difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vector lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The models folder: `$TITLESIM_MODELS_DIR`, else `<workspace>/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("TITLESIM_MODELS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models"),
    }
}

/// The ONNX Runtime library fetched by `cargo xtask fetch-models` (`$ORT_DYLIB_PATH` when
/// set); panics with what to run when it is missing.
pub fn ort_library() -> PathBuf {
    let p = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => models_dir().join("onnxruntime/libonnxruntime.so.1.31.1"),
    };
    assert!(
        p.is_file(),
        "the ONNX Runtime library {} is missing: run `cargo xtask fetch-models`",
        p.display()
    );
    p
}

/// tiny-bert-mean copied into `dir/badmodel` with a tokenizer that maps `zzzbad` past the
/// vocabulary: a title holding it fails in the model, after the chunks before it were scored.
pub fn failing_model(dir: &Path) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let model = dir.join("badmodel");
    copy(&fixture("tiny-bert-mean"), &model);
    let tok = model.join("tokenizer.json");
    let mut t: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&tok).unwrap()).unwrap();
    t["model"]["vocab"]["zzzbad"] = serde_json::Value::from(5000);
    std::fs::write(&tok, t.to_string()).unwrap();
    model
}

/// `titlesim ARGS` under a file size limit of `blocks` (the shell's `ulimit -f` units), with
/// SIGXFSZ at its default (death): titlesim ignores it itself, so a write past the limit
/// fails with EFBIG, as on a full disk.
pub fn titlesim_with_file_limit(blocks: u32, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap - XFSZ; ulimit -f {blocks} && exec \"$0\" \"$@\""
        ))
        .arg(env!("CARGO_BIN_EXE_titlesim"))
        .args(args)
        .output()
        .expect("sh runs")
}

/// Every entry of `dir` (hidden ones too) with its bytes; a folder as `None`.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).ok();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}
