//! The Python peers: ONNX Runtime driven from Python, sentence-transformers on torch and
//! titlesim's own Python package, all on all-MiniLM-L6-v2 (`scripts/bench_peers.py`), found on
//! an interpreter that can import them.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::args::Args;
use super::plan::Config;
use crate as tb;

/// A Python interpreter for the peers.
pub(crate) struct Python {
    pub(crate) path: PathBuf,
    /// Whether `sentence_transformers` imports too (the ONNX Runtime peer needs only
    /// onnxruntime, tokenizers and numpy).
    pub(crate) sentence_transformers: bool,
    /// Whether the `titlesim` package (`pip install ./crates/python`) imports too.
    pub(crate) titlesim: bool,
}

/// The Python for the peers: none with `--no-peers` or when `--models` leaves all-MiniLM-L6-v2
/// out (`minilm_wanted`), else the first that imports what the ONNX Runtime peer needs.
pub(crate) fn python_for(a: &Args, minilm_wanted: bool) -> Option<Python> {
    if a.no_peers || !minilm_wanted {
        None
    } else {
        find_python(a.python.as_deref())
    }
}

/// `--python`, `$TITLESIM_BENCH_PYTHON`, `.venv-bench/bin/python`, then `python3`.
fn find_python(explicit: Option<&Path>) -> Option<Python> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TITLESIM_BENCH_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    let root = tb::workspace_root();
    candidates.push(root.join(".venv-bench").join("bin").join("python"));
    candidates.push(PathBuf::from("python3"));
    let imports = |py: &Path, modules: &str| {
        Command::new(py)
            .args(["-c", &format!("import {modules}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    for c in candidates {
        if imports(&c, "onnxruntime, tokenizers, numpy") {
            let sentence_transformers = imports(&c, "sentence_transformers");
            let titlesim = imports(&c, "titlesim");
            return Some(Python {
                path: c,
                sentence_transformers,
                titlesim,
            });
        }
        if explicit.is_some_and(|e| e == c) {
            eprintln!(
                "head2head: --python {} cannot import onnxruntime, tokenizers, numpy",
                c.display()
            );
        }
    }
    None
}

/// Says on stderr which peers will run, and with which Python.
pub(crate) fn announce(python: Option<&Python>, no_peers: bool) {
    match (python, no_peers) {
        (_, true) => eprintln!("head2head: peers off (--no-peers)"),
        (None, false) => eprintln!(
            "head2head: peers skipped: no Python with onnxruntime, tokenizers and numpy \
             (see README: python3 -m venv .venv-bench && .venv-bench/bin/pip install onnxruntime==1.31.1 \
             tokenizers sentence-transformers; or --python PATH)"
        ),
        (Some(p), false) if !p.sentence_transformers => eprintln!(
            "head2head: peers with {}: ONNX Runtime only; sentence-transformers is not importable \
             there, so its peer is skipped (and candle is the parity reference)",
            p.path.display()
        ),
        (Some(p), false) => eprintln!("head2head: peers with {}", p.path.display()),
    }
}

/// Adds the peers `py` can run (when all-MiniLM-L6-v2's ONNX export is present) to `configs`,
/// and the sentence-transformers peer to `skipped` when `py` cannot import it.
pub(crate) fn add_peer_configs(py: &Python, configs: &mut Vec<Config>, skipped: &mut Vec<String>) {
    if !tb::models_dir()
        .join("all-MiniLM-L6-v2/onnx/model.onnx")
        .is_file()
    {
        return;
    }
    for (peer, engine, format) in [
        ("ort", "ONNX Runtime (Python)", "onnx fp32"),
        ("st", "sentence-transformers (torch)", "safetensors f32"),
        (
            "titlesim",
            "titlesim Python package (candle)",
            "safetensors f32",
        ),
    ] {
        let missing = match peer {
            "st" if !py.sentence_transformers => Some("sentence-transformers not importable"),
            "titlesim" if !py.titlesim => {
                Some("titlesim not importable: pip install ./crates/python")
            }
            // The installed package is an ordinary build: it would run candle with AVX-512.
            "titlesim" if cfg!(titlesim_avx2_only) => {
                Some("an --avx2-only run leaves out the ordinary build of titlesim installed")
            }
            _ => None,
        };
        if let Some(why) = missing {
            skipped.push(format!(
                "all-MiniLM-L6-v2@peer-{peer} ({why} by {})",
                py.path.display()
            ));
            continue;
        }
        configs.push(Config {
            id: format!("all-MiniLM-L6-v2@peer-{peer}"),
            model: "all-MiniLM-L6-v2".into(),
            folder: "all-MiniLM-L6-v2".into(),
            engine: engine.into(),
            format: format.into(),
            peer: Some(peer),
            variant: None,
            heavy: false,
        });
    }
}

/// The sizes a peer measures: its thread budget, titles and batch-1 titles.
pub(crate) struct PeerRun<'a> {
    pub(crate) threads: usize,
    pub(crate) titles_file: &'a Path,
    pub(crate) titles: usize,
    pub(crate) latency_titles: usize,
    pub(crate) vectors: &'a Path,
}

/// `scripts/bench_peers.py --peer PEER ...` on `py`.
pub(crate) fn peer_command(py: &Path, peer: &str, r: &PeerRun<'_>) -> Command {
    let mut cmd = Command::new(py);
    cmd.arg(tb::workspace_root().join("scripts").join("bench_peers.py"))
        .args(["--peer", peer])
        .arg("--model")
        .arg(tb::models_dir().join("all-MiniLM-L6-v2"))
        .args(["--threads", &r.threads.to_string()])
        .arg("--titles-file")
        .arg(r.titles_file)
        .args(["--titles", &r.titles.to_string()])
        .args(["--latency-titles", &r.latency_titles.to_string()])
        .arg("--vectors")
        .arg(r.vectors);
    cmd
}
