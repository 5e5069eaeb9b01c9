//! `cargo xtask bench`: the head-to-head backend benchmark.
//!
//! Builds the `head2head` binary of the `titlesim-bench` package in release mode and runs it:
//! every model × backend available in the models folder (and the Python peers — ONNX Runtime
//! and sentence-transformers — when a Python with them is found), each in its own process,
//! medians of several interleaved rounds. Writes `head2head.{json,md,svg}` into `reports/bench/`
//! (git-ignored) and prints the Markdown table. Progress goes to stderr.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::say;
use crate::util::{fmt_duration, models_dir, run_status, workspace_root};

/// Options of `bench` (passed on to `head2head`).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Thread budget of every configuration.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Titles for the batch-32 pass (from data/bench_titles.txt).
    #[arg(long, default_value_t = 1000)]
    pub titles: usize,
    /// Rounds over all configurations (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// A tiny run for smoke tests (numbers not meaningful).
    #[arg(long)]
    pub quick: bool,
    /// Only models whose folder or name contains one of these (comma-separated).
    #[arg(long)]
    pub models: Option<String>,
    /// Only these backends (comma-separated: candle, ort, tract).
    #[arg(long)]
    pub backends: Option<String>,
    /// Skip the Python peers (ONNX Runtime from Python, sentence-transformers, the titlesim
    /// Python package).
    #[arg(long)]
    pub no_peers: bool,
    /// Python for the peers (default: .venv-bench/bin/python, then python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Output folder (default reports/bench).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Models folder (default $TITLESIM_MODELS_DIR or ./models).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

/// Builds and runs the head-to-head benchmark.
pub fn run(a: &BenchArgs) -> Result<()> {
    let root = workspace_root();
    let models = models_dir(a.models_dir.as_deref())?;
    if !models
        .join("all-MiniLM-L6-v2")
        .join("config.json")
        .is_file()
    {
        bail!(
            "no models in {}: run `cargo xtask fetch-models` first",
            models.display()
        );
    }
    let t0 = Instant::now();
    say!("building the head2head benchmark (release)");
    let st = run_status(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args([
                "build",
                "--release",
                "-p",
                "titlesim-bench",
                "--bin",
                "head2head",
            ]),
        true,
    )?;
    if !st.success() {
        bail!("building head2head failed ({st})");
    }
    let exe = root
        .join("target")
        .join("release")
        .join(format!("head2head{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = Command::new(&exe);
    cmd.current_dir(&root)
        .env("TITLESIM_MODELS_DIR", &models)
        .args(["--threads", &a.threads.to_string()])
        .args(["--titles", &a.titles.to_string()])
        .args(["--runs", &a.runs.to_string()]);
    if a.quick {
        cmd.arg("--quick");
    }
    if a.no_peers {
        cmd.arg("--no-peers");
    }
    if let Some(m) = &a.models {
        cmd.args(["--models", m]);
    }
    if let Some(b) = &a.backends {
        cmd.args(["--backends", b]);
    }
    if let Some(p) = &a.python {
        cmd.arg("--python").arg(p);
    }
    if let Some(o) = &a.out {
        cmd.arg("--out").arg(o);
    }
    say!("running {}", exe.display());
    let st = run_status(&mut cmd, false)?;
    if !st.success() {
        bail!("head2head failed ({st})");
    }
    say!("bench done in {}", fmt_duration(t0.elapsed()));
    Ok(())
}
