//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: nothing is downloaded or linked at build time, and the
//! library is opened at run time, once per process. Where it comes from, in order:
//!
//! 1. [`BackendOptions::ort_library`] (a file, or a folder holding one);
//! 2. the `ORT_DYLIB_PATH` environment variable;
//! 3. the `onnxruntime` Python package of the `python3` on `PATH`
//!    (`onnxruntime/capi/libonnxruntime.so.1.31.1`), then of common virtual environments
//!    (`$VIRTUAL_ENV`, `./.venv`, `./venv`, `~/.venv`, `~/.local`);
//! 4. `<models dir>/onnxruntime/`, where `cargo xtask fetch-models` puts it (`$TITLESIM_MODELS_DIR`,
//!    the folder holding the model, or `./models`).
//!
//! A path that is given (1, 2) but wrong is an error, not a reason to look elsewhere. Nothing
//! found, a file that is not a shared library, a library that is not ONNX Runtime, or one
//! older than 1.31 are errors that say how to get the right one, never panics.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use titlesim_core::{BackendOptions, Error, ModelSpec, Result};

/// The ONNX Runtime version this backend is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// How to get a suitable library, appended to every library error.
pub const HOW_TO_GET: &str = "get ONNX Runtime 1.31.1 with `pip install onnxruntime==1.31.1` (found through python3) or `cargo xtask fetch-models` (puts it in models/onnxruntime/), or point `ort_library` in the configuration or ORT_DYLIB_PATH at libonnxruntime.so.1.31.1";

const BACKEND: &str = "ort";

fn lib_error(message: impl std::fmt::Display) -> Error {
    Error::backend(BACKEND, format!("{message}; {HOW_TO_GET}"))
}

/// Where to look for the ONNX Runtime library (see the module documentation for the order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibrarySearch {
    /// A configured library file or folder (`ort_library`).
    pub explicit: Option<PathBuf>,
    /// The value of `ORT_DYLIB_PATH`.
    pub env: Option<PathBuf>,
    /// The Python interpreter to ask for its `onnxruntime` package (`python3`), if any.
    pub python: Option<String>,
    /// Folders that may hold the library (`capi` folders of Python packages, `models/onnxruntime`).
    pub dirs: Vec<PathBuf>,
}

impl LibrarySearch {
    /// The search this process does for `spec` with `opts`: configuration, environment,
    /// `python3` on `PATH`, common virtual environments and the models folder.
    pub fn for_model(spec: &ModelSpec, opts: &BackendOptions) -> Self {
        let env = std::env::var_os("ORT_DYLIB_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let mut dirs = Vec::new();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let mut venvs: Vec<PathBuf> = Vec::new();
        if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
            venvs.push(PathBuf::from(v));
        }
        venvs.push(PathBuf::from(".venv"));
        venvs.push(PathBuf::from("venv"));
        if let Some(h) = &home {
            venvs.push(h.join(".venv"));
            venvs.push(h.join(".local"));
        }
        for v in venvs {
            dirs.extend(site_packages_capi(&v));
        }
        let mut models: Vec<PathBuf> = Vec::new();
        if let Some(m) = std::env::var_os("TITLESIM_MODELS_DIR") {
            models.push(PathBuf::from(m));
        }
        if let Some(parent) = spec.root.parent() {
            models.push(parent.to_path_buf());
        }
        models.push(PathBuf::from("models"));
        dirs.extend(models.into_iter().map(|m| m.join("onnxruntime")));
        LibrarySearch {
            explicit: opts.ort_library.clone(),
            env,
            python: Some("python3".into()),
            dirs,
        }
    }
}

/// `<venv>/lib/python3*/site-packages/onnxruntime/capi` folders that exist.
fn site_packages_capi(venv: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(venv.join("lib")) else {
        return out;
    };
    let mut names: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python3"))
        })
        .collect();
    names.sort();
    for p in names.into_iter().rev() {
        let capi = p.join("site-packages/onnxruntime/capi");
        if capi.is_dir() {
            out.push(capi);
        }
    }
    out
}

/// Whether a file name looks like the main ONNX Runtime library (not a provider plug-in).
fn is_ort_name(name: &str) -> bool {
    if name.contains("providers") {
        return false;
    }
    (name.starts_with("libonnxruntime.so")
        || (name.starts_with("libonnxruntime") && name.ends_with(".dylib")))
        || name.eq_ignore_ascii_case("onnxruntime.dll")
}

/// The ONNX Runtime library in `dir`: `libonnxruntime.so.1.31.1` if present, else the
/// highest-named `libonnxruntime.so*` / `libonnxruntime*.dylib` / `onnxruntime.dll`.
pub fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    let exact = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    if exact.is_file() {
        return Some(exact);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(is_ort_name)
        })
        .collect();
    found.sort();
    found.pop()
}

/// Asks `python` where its `onnxruntime` package is (5 s at most) and returns its `capi` folder.
fn python_capi(python: &str) -> Option<PathBuf> {
    let mut child = Command::new(python)
        .args([
            "-c",
            "import onnxruntime,os;print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    return None;
                }
                break;
            }
            Ok(None) if start.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    use std::io::Read;
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let dir = PathBuf::from(out.trim());
    let capi = dir.join("capi");
    capi.is_dir().then_some(capi)
}

fn given(path: &Path, what: &str) -> Result<PathBuf> {
    if path.is_dir() {
        return find_in_dir(path).ok_or_else(|| {
            lib_error(format!(
                "{what} is the folder {}, which holds no libonnxruntime library",
                path.display()
            ))
        });
    }
    if !path.is_file() {
        return Err(lib_error(format!(
            "{what} is {}, which does not exist",
            path.display()
        )));
    }
    Ok(path.to_path_buf())
}

/// Finds the library, or says where it looked and how to get one.
pub fn locate_library(search: &LibrarySearch) -> Result<PathBuf> {
    if let Some(p) = &search.explicit {
        return given(p, "the configured ONNX Runtime library (ort_library)");
    }
    if let Some(p) = &search.env {
        return given(p, "ORT_DYLIB_PATH");
    }
    let mut looked: Vec<String> = Vec::new();
    if let Some(py) = &search.python {
        match python_capi(py) {
            Some(capi) => {
                if let Some(lib) = find_in_dir(&capi) {
                    return Ok(lib);
                }
                looked.push(capi.display().to_string());
            }
            None => looked.push(format!("the onnxruntime package of `{py}` (none)")),
        }
    }
    for d in &search.dirs {
        if let Some(lib) = find_in_dir(d) {
            return Ok(lib);
        }
        looked.push(d.display().to_string());
    }
    Err(lib_error(format!(
        "no ONNX Runtime library found (no ort_library configured, ORT_DYLIB_PATH unset; looked in: {})",
        looked.join(", ")
    )))
}

struct Loaded {
    path: PathBuf,
    env: ort::environment::Environment,
}

/// The process's ONNX Runtime: one library and one environment for the whole process.
static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

/// The ONNX Runtime environment, loading the library on first use.
///
/// Returns the environment and the library's path. Once a library is loaded it serves every
/// later model of the process; asking explicitly for a different file is then an error.
pub fn environment(search: &LibrarySearch) -> Result<(ort::environment::Environment, PathBuf)> {
    let mut guard = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = guard.as_ref() {
        if let Some(p) = search.explicit.as_ref() {
            let wanted = given(p, "the configured ONNX Runtime library (ort_library)")?;
            let same = match (wanted.canonicalize(), l.path.canonicalize()) {
                (Ok(a), Ok(b)) => a == b,
                _ => wanted == l.path,
            };
            if !same {
                return Err(Error::backend(
                    BACKEND,
                    format!(
                        "ONNX Runtime is already loaded from {} in this process; it cannot also load {} (configure the same ort_library for every model)",
                        l.path.display(),
                        wanted.display()
                    ),
                ));
            }
        }
        return Ok((l.env.clone(), l.path.clone()));
    }
    let path = locate_library(search)?;
    let path = std::path::absolute(&path).unwrap_or(path);
    let init = std::panic::catch_unwind(|| ort::init_from(&path)).map_err(|p| {
        lib_error(format!(
            "loading {} panicked: {}",
            path.display(),
            titlesim_core::panic_message(&*p)
        ))
    })?;
    let builder = init.map_err(|e| {
        let why = match &e {
            ort::LoadDynamicError::Dlopen { .. } => "it is not a loadable shared library",
            ort::LoadDynamicError::MissingApi { .. } => {
                "it is not an ONNX Runtime library (it does not export OrtGetApiBase)"
            }
            ort::LoadDynamicError::BadVersion { .. } => {
                "its ONNX Runtime version is too old (1.31 or later is needed)"
            }
            ort::LoadDynamicError::InvalidVersionString => "it reports a malformed version string",
        };
        lib_error(format!("cannot use {}: {why} ({e})", path.display()))
    })?;
    let env = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        builder.with_name("titlesim").with_telemetry(false).build()
    }))
    .map_err(|p| {
        lib_error(format!(
            "setting up ONNX Runtime from {} panicked: {}",
            path.display(),
            titlesim_core::panic_message(&*p)
        ))
    })?
    .map_err(|e| {
        lib_error(format!(
            "setting up ONNX Runtime from {} failed: {e}",
            path.display()
        ))
    })?;
    *guard = Some(Loaded {
        path: path.clone(),
        env: env.clone(),
    });
    Ok((env, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_ort_name("libonnxruntime.so.1.31.1"));
        assert!(is_ort_name("libonnxruntime.so"));
        assert!(is_ort_name("libonnxruntime.1.31.1.dylib"));
        assert!(!is_ort_name("libonnxruntime_providers_shared.so"));
        assert!(!is_ort_name("libfoo.so"));
    }

    #[test]
    fn nothing_found_says_how_to_get_it() {
        let d = tempfile::tempdir().unwrap();
        let s = LibrarySearch {
            python: Some("/definitely/not/a/python".into()),
            dirs: vec![d.path().to_path_buf()],
            ..Default::default()
        };
        let e = locate_library(&s).unwrap_err().to_string();
        assert!(
            e.contains("pip install onnxruntime==1.31.1")
                && e.contains("cargo xtask fetch-models")
                && e.contains(&d.path().display().to_string()),
            "{e}"
        );
        // A given path that is wrong is an error, not a fall-through.
        let s = LibrarySearch {
            env: Some(d.path().join("missing.so")),
            dirs: vec![d.path().to_path_buf()],
            ..Default::default()
        };
        let e = locate_library(&s).unwrap_err().to_string();
        assert!(
            e.contains("ORT_DYLIB_PATH") && e.contains("does not exist"),
            "{e}"
        );
        // A folder is searched.
        std::fs::write(d.path().join("libonnxruntime.so.1.31.1"), b"x").unwrap();
        let s = LibrarySearch {
            explicit: Some(d.path().to_path_buf()),
            ..Default::default()
        };
        assert_eq!(
            locate_library(&s).unwrap(),
            d.path().join("libonnxruntime.so.1.31.1")
        );
    }
}
