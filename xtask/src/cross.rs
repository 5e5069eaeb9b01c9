//! `cargo xtask cross`: titlesim-candle's tests built for aarch64 and run under qemu-user.
//!
//! 1. installs what is missing: the rustup target `aarch64-unknown-linux-gnu`, and the Debian
//!    packages `gcc-aarch64-linux-gnu` (the linker), `libc6-dev-arm64-cross` (the aarch64 C
//!    library qemu loads from `/usr/aarch64-linux-gnu`) and `qemu-user` (through `apt-get`,
//!    with `sudo` when not root);
//! 2. cross-builds titlesim-candle's unit tests and its `int8`, `tiny_bert` and `tiny_qwen3`
//!    tests (the dev profile, which optimises: the emulated real-model tests take minutes);
//! 3. runs them under `qemu-aarch64 -cpu MODEL` for each CPU model (default `cortex-a72`:
//!    NEON only; `neoverse-n1`: + dotprod; `max`: + i8mm, bf16, SVE), through cargo's runner.
//!
//! The int8 tests need all-MiniLM-L6-v2 (`cargo xtask fetch-models`). Not part of
//! `cargo xtask test` (emulation is slow); run it after touching the candle kernels.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::say;
use crate::util::{fmt_duration, models_dir, run_status, workspace_root};

/// The Rust target triple.
const TARGET: &str = "aarch64-unknown-linux-gnu";
/// cargo's environment variable prefix for that target.
const TARGET_ENV: &str = "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU";
/// The cross linker.
const LINKER: &str = "aarch64-linux-gnu-gcc";
/// Where Debian's cross C library lives (qemu's `-L`).
const SYSROOT: &str = "/usr/aarch64-linux-gnu";
/// The Debian packages that provide the linker, the C library and qemu.
const PACKAGES: &[&str] = &[
    "gcc-aarch64-linux-gnu",
    "libc6-dev-arm64-cross",
    "qemu-user",
];
/// The integration tests of titlesim-candle that run under emulation.
const TESTS: &[&str] = &["int8", "tiny_bert", "tiny_qwen3"];

/// Options of `cross`.
#[derive(Debug, Clone, clap::Args)]
pub struct CrossArgs {
    /// qemu CPU models to run the tests on (comma-separated).
    #[arg(
        long,
        default_value = "cortex-a72,neoverse-n1,max",
        value_delimiter = ','
    )]
    pub cpus: Vec<String>,
    /// Do not install anything: fail when the target or a tool is missing.
    #[arg(long)]
    pub no_install: bool,
    /// Models folder (default $TITLESIM_MODELS_DIR or ./models).
    #[arg(long)]
    pub models_dir: Option<std::path::PathBuf>,
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Whether `program` is found on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Adds the rustup target when it is not installed.
fn ensure_target(install: bool) -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match &out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.trim() == TARGET),
        // No rustup: the toolchain may still have the target's standard library.
        _ => return Ok(()),
    };
    if installed {
        return Ok(());
    }
    if !install {
        bail!("the rustup target {TARGET} is missing: rustup target add {TARGET}");
    }
    say!("cross: rustup target add {TARGET}");
    let st = run_status(Command::new("rustup").args(["target", "add", TARGET]), true)?;
    if !st.success() {
        bail!("rustup target add {TARGET} failed ({st})");
    }
    Ok(())
}

/// Installs the Debian packages when the linker, qemu or the C library is missing.
fn ensure_tools(install: bool) -> Result<()> {
    let missing =
        !on_path(LINKER) || !on_path("qemu-aarch64") || !Path::new(SYSROOT).join("lib").is_dir();
    if !missing {
        return Ok(());
    }
    if !install {
        bail!(
            "{LINKER}, qemu-aarch64 or {SYSROOT} is missing: apt-get install {}",
            PACKAGES.join(" ")
        );
    }
    // `sudo` only when we are not root and it exists.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| -> Result<()> {
        let mut c = if root || !on_path("sudo") {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        say!("cross: apt-get {}", args.join(" "));
        let st = run_status(&mut c, true)?;
        if !st.success() {
            bail!("apt-get {} failed ({st})", args.join(" "));
        }
        Ok(())
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y"];
    args.extend_from_slice(PACKAGES);
    apt(&args)
}

/// `cargo test` for aarch64 with the qemu runner for `cpu` (`None`: build only).
fn cargo_test(models: &Path, cpu: Option<&str>) -> Command {
    let mut c = cargo();
    c.current_dir(workspace_root())
        .args([
            "test",
            "--no-fail-fast",
            "--target",
            TARGET,
            "-p",
            "titlesim-candle",
        ])
        .env(format!("{TARGET_ENV}_LINKER"), LINKER)
        .env("TITLESIM_MODELS_DIR", models)
        .arg("--lib");
    for t in TESTS {
        c.args(["--test", t]);
    }
    match cpu {
        Some(cpu) => {
            c.env(
                format!("{TARGET_ENV}_RUNNER"),
                format!("qemu-aarch64 -L {SYSROOT} -cpu {cpu}"),
            );
        }
        None => {
            c.arg("--no-run");
        }
    }
    c
}

/// Installs, builds, and runs the tests under each CPU model.
pub fn run(a: &CrossArgs) -> Result<()> {
    let start = Instant::now();
    if a.cpus.is_empty() {
        bail!("--cpus: give at least one qemu CPU model");
    }
    let models = models_dir(a.models_dir.as_deref())?;
    ensure_target(!a.no_install)?;
    ensure_tools(!a.no_install)?;
    say!("cross: building titlesim-candle's tests for {TARGET}");
    let st = run_status(&mut cargo_test(&models, None), true)?;
    if !st.success() {
        bail!("cross-building the tests failed ({st})");
    }
    let mut failed = Vec::new();
    for cpu in &a.cpus {
        let t = Instant::now();
        say!("cross: === qemu-aarch64 -cpu {cpu} ===");
        let st = run_status(&mut cargo_test(&models, Some(cpu)), false)?;
        say!(
            "cross: -cpu {cpu} {} ({})",
            if st.success() { "ok" } else { "FAILED" },
            fmt_duration(t.elapsed())
        );
        if !st.success() {
            failed.push(cpu.as_str());
        }
    }
    eprintln!(
        "xtask cross: {} CPU model(s), total {}",
        a.cpus.len(),
        fmt_duration(start.elapsed())
    );
    if !failed.is_empty() {
        bail!("tests failed under -cpu {}", failed.join(", "));
    }
    Ok(())
}
