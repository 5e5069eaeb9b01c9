//! `cargo xtask bench`: the head-to-head backend benchmark.
//!
//! Builds the `head2head` binary of the `titlesim-bench` package in release mode and runs it:
//! every model × backend available in the models folder (and the Python peers — ONNX Runtime
//! and sentence-transformers — when a Python with them is found), each in its own process,
//! medians of several interleaved rounds. Writes `head2head.{json,md,svg}` into `reports/bench/`
//! (git-ignored) and prints the Markdown table. Progress goes to stderr.

use std::path::{Path, PathBuf};
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
    /// Run candle and tract as on an AVX2-only host: build with `--cfg titlesim_avx2_only`
    /// (into target/avx2-only), which leaves out candle's AVX-512 and AVX-VNNI kernels (the
    /// int8 VNNI kernels and the `gemm` crate's AVX-512 f32 kernels), and run tract with
    /// `TRACT_CPU_ISA` taking its AVX-512 and AVX-VNNI kernels away (unless the environment
    /// sets `TRACT_CPU_ISA`). ONNX Runtime has no such switch and still uses AVX-512, so on an
    /// AVX-512 machine ratios to it understate an AVX2 host's; the report's host kind says so.
    #[arg(long)]
    pub avx2_only: bool,
}

/// The target folder the benchmark is built into: `$CARGO_TARGET_DIR` (relative to the
/// workspace) or `target`, and under it `avx2-only` for an `--avx2-only` build (its own folder,
/// so the two builds do not overwrite each other).
fn target_dir(root: &Path, env: Option<&str>, avx2_only: bool) -> PathBuf {
    let base = match env {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    };
    if avx2_only {
        base.join("avx2-only")
    } else {
        base
    }
}

/// `RUSTFLAGS` for the build: the caller's, plus `--cfg titlesim_avx2_only` when asked.
fn rustflags(env: Option<&str>, avx2_only: bool) -> Option<String> {
    let mut flags = env.unwrap_or("").trim().to_string();
    if avx2_only {
        if !flags.is_empty() {
            flags.push(' ');
        }
        flags.push_str("--cfg titlesim_avx2_only");
    }
    (!flags.is_empty()).then_some(flags)
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
    let target = target_dir(
        &root,
        std::env::var("CARGO_TARGET_DIR").ok().as_deref(),
        a.avx2_only,
    );
    say!(
        "building the head2head benchmark (release{}) into {}",
        if a.avx2_only {
            ", candle and tract without AVX-512 kernels"
        } else {
            ""
        },
        target.display()
    );
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "build",
            "--release",
            "-p",
            "titlesim-bench",
            "--bin",
            "head2head",
        ]);
    if let Some(f) = rustflags(std::env::var("RUSTFLAGS").ok().as_deref(), a.avx2_only) {
        build.env("RUSTFLAGS", f);
    }
    let st = run_status(&mut build, true)?;
    if !st.success() {
        bail!("building head2head failed ({st})");
    }
    let exe = target
        .join("release")
        .join(format!("head2head{}", std::env::consts::EXE_SUFFIX));
    let mut cmd = Command::new(&exe);
    cmd.current_dir(&root)
        // The package folder, as `cargo run` would set it: head2head finds the titles, the
        // peers' script and the reports folder from it, in this checkout even when the binary
        // came from a target folder another checkout shares.
        .env("CARGO_MANIFEST_DIR", root.join("benches"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_avx2_only_build_gets_its_own_target_folder_and_cfg() {
        let root = Path::new("/w");
        assert_eq!(target_dir(root, None, false), Path::new("/w/target"));
        assert_eq!(target_dir(root, Some(""), false), Path::new("/w/target"));
        assert_eq!(
            target_dir(root, Some("/t"), true),
            Path::new("/t/avx2-only")
        );
        assert_eq!(target_dir(root, Some("t2"), false), Path::new("/w/t2"));
        assert_eq!(rustflags(None, false), None);
        assert_eq!(rustflags(Some(" "), false), None);
        assert_eq!(
            rustflags(None, true).as_deref(),
            Some("--cfg titlesim_avx2_only")
        );
        assert_eq!(
            rustflags(Some("-C debuginfo=1"), true).as_deref(),
            Some("-C debuginfo=1 --cfg titlesim_avx2_only")
        );
    }
}
