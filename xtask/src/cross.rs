//! `cargo xtask cross`: the core and backend test suites built for aarch64 and run under
//! qemu-user, on CPU models with and without the extensions the kernels use.
//!
//! 1. installs what is missing: the rustup target `aarch64-unknown-linux-gnu`, and the Debian
//!    packages `gcc-aarch64-linux-gnu` (the linker), `libc6-dev-arm64-cross` (the aarch64 C
//!    library qemu loads from `/usr/aarch64-linux-gnu`) and `qemu-user` (through `apt-get`,
//!    with `sudo` when not root);
//! 2. fetches the models and the aarch64 ONNX Runtime library (`fetch-models --target
//!    aarch64`), and builds `assets/qemu/cpuinfo_shim.c` (ONNX Runtime crashes on the host's
//!    x86 `/proc/cpuinfo`, which qemu-user passes through; the shim serves an ARM one written
//!    for each CPU model);
//! 3. cross-builds the tests of titlesim-core, titlesim-candle, titlesim-tract and
//!    titlesim-ort (the dev profile, which optimises dependencies): tiny fixtures on all three
//!    backends, all-MiniLM-L6-v2 parity with sentence-transformers, int8, batch-vs-single
//!    identity, thread budgets;
//! 4. runs them under `qemu-aarch64 -cpu MODEL` for each CPU model (`cortex-a72`: NEON only,
//!    as Graviton1 or a Raspberry Pi 4; `neoverse-n1`: + dotprod, as Graviton2; `max`: +
//!    i8mm, bf16, SVE, as Graviton3/4), through cargo's runner, with `ORT_DYLIB_PATH` set to
//!    the aarch64 library.
//!
//! `--suite full` (the default) first cross-builds the whole workspace but the Python
//! package, then runs every test binary on every model (about 40 minutes per
//! model on a 2-core host: ONNX Runtime and tract on the real models are slow under
//! emulation). `--suite ci` (the step of `cargo xtask test`) runs on `neoverse-n1` every
//! binary but [`CI_SKIPPED`], and on the other models titlesim-candle's unit and int8 tests
//! (the kernels that differ per model: portable, `sdot`, `usmmla`, and bf16's portable and
//! `bfmmla`), less the tests [`CI_SKIPPED_TESTS`] names (bf16 on all-MiniLM on `cortex-a72`,
//! the same portable kernel as on neoverse-n1; its alone-versus-batch half on `neoverse-n1`
//! and `max`, whose kernels' bits the unit tests check, alone and in batches, on each model;
//! the x86 run keeps it). Each binary runs
//! directly under qemu (from cargo's `--message-format=json` list), so the subset needs no
//! second build.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::fetch::{fetch_models, ort_dir, FetchArgs, ORT_LIB};
use crate::say;
use crate::test::{run_counting, Counts};
use crate::util::{fmt_duration, run_status, target_dir, workspace_root};

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
/// The packages whose tests run under emulation.
const PACKAGES_TESTED: &[&str] = &[
    "titlesim-core",
    "titlesim-candle",
    "titlesim-tract",
    "titlesim-ort",
];
/// The CPU model `--suite ci` runs every suite on (the others run [`KERNEL_TESTS`]).
const CI_FULL_CPU: &str = "neoverse-n1";

/// Which tests run on a CPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    /// Every suite on every CPU model.
    Full,
    /// Every suite on neoverse-n1 but the slowest binaries (titlesim-ort's and
    /// titlesim-tract's real-model tests, tract's conformance suite); titlesim-candle's unit
    /// and int8 tests on the other models.
    Ci,
}

/// Options of `cross`.
#[derive(Debug, Clone, clap::Args)]
pub struct CrossArgs {
    /// qemu CPU models to run the tests on (comma-separated).
    #[arg(
        long,
        default_value = "cortex-a72,neoverse-n1,max",
        value_delimiter = ',',
        value_parser = ["cortex-a72", "neoverse-n1", "max"]
    )]
    pub cpus: Vec<String>,
    /// Which tests run on each CPU model: `full`, or `ci` (on neoverse-n1 every suite but the
    /// three slowest binaries, on the other models the int8 kernels' tests).
    #[arg(long, value_enum, default_value = "full")]
    pub suite: Suite,
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

/// What a model's `/proc/cpuinfo` says (an ARM one, for the shim), and the features
/// `is_aarch64_feature_detected!` finds under it.
fn cpu_description(cpu: &str) -> (&'static str, &'static str) {
    // (CPU part, Features) as Linux prints them on such a core.
    match cpu {
        "cortex-a72" => ("0xd08", "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"),
        "neoverse-n1" => (
            "0xd0c",
            "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs",
        ),
        // Neoverse V1 (Graviton3): the extensions of qemu's `max` the kernels care about.
        _ => (
            "0xd40",
            "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng",
        ),
    }
}

/// The number of CPUs the kernel reports (`/sys/devices/system/cpu/possible`, e.g. `0-15`).
fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| {
            let last = s.trim().rsplit([',', '-']).next()?.to_string();
            last.parse::<usize>().ok().map(|n| n + 1)
        })
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Writes an ARM `/proc/cpuinfo` for `cpu` into `dir`; returns its path.
fn fake_cpuinfo(dir: &Path, cpu: &str) -> Result<PathBuf> {
    let (part, features) = cpu_description(cpu);
    let mut text = String::new();
    for i in 0..possible_cpus() {
        text.push_str(&format!(
            "processor\t: {i}\nBogoMIPS\t: 50.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: {part}\nCPU revision\t: 1\n\n"
        ));
    }
    let path = dir.join(format!("cpuinfo-{cpu}"));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Builds the `/proc/cpuinfo` shim (see `assets/qemu/cpuinfo_shim.c`) into `dir`.
fn build_shim(dir: &Path) -> Result<PathBuf> {
    let src = workspace_root().join("xtask/assets/qemu/cpuinfo_shim.c");
    let out = dir.join("cpuinfo_shim.so");
    let st = run_status(
        Command::new(LINKER)
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&out)
            .arg(&src)
            .arg("-ldl"),
        true,
    )?;
    if !st.success() {
        bail!("{LINKER} could not build {} ({st})", src.display());
    }
    Ok(out)
}

/// Where and how the emulated tests run.
struct Emulation {
    models: PathBuf,
    ort_lib: PathBuf,
    shim: PathBuf,
    work: PathBuf,
}

/// One cross-built test binary.
#[derive(Debug, Clone)]
struct TestBin {
    /// Package name (`titlesim-candle`).
    package: String,
    /// Test target name (`int8`), or `lib` for the unit tests.
    target: String,
    /// The aarch64 executable.
    exe: PathBuf,
    /// The package's folder (cargo runs tests there).
    dir: PathBuf,
}

impl TestBin {
    fn label(&self) -> String {
        format!("{} {}", self.package, self.target)
    }
}

/// Test binaries that `--suite ci` leaves out on [`CI_FULL_CPU`] (with their emulated
/// time on the development host): they run in `--suite full`.
const CI_SKIPPED: &[(&str, &str, &str)] = &[
    (
        "titlesim-ort",
        "real_models",
        "all-MiniLM fp32/int8 and paraphrase on ONNX Runtime, ~14 min emulated",
    ),
    (
        "titlesim-tract",
        "real_models",
        "all-MiniLM and paraphrase on tract against ONNX Runtime, ~28 min emulated",
    ),
    (
        "titlesim-tract",
        "conformance",
        "tract's conformance suite, ~6 min emulated",
    ),
];
/// The test binaries of the int8 and bf16 kernels (run on every CPU model).
const KERNEL_TESTS: &[(&str, &str)] = &[("titlesim-candle", "lib"), ("titlesim-candle", "dtypes")];
/// Tests that `--suite ci` leaves out of a binary on one CPU model (cpu, package, target,
/// libtest `--skip` filter, why): code that another model's run already covers.
const CI_SKIPPED_TESTS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "cortex-a72",
        "titlesim-candle",
        "dtypes",
        "bf16_all_minilm",
        "bf16's portable kernel on all-MiniLM, which neoverse-n1 runs the same way",
    ),
    (
        "neoverse-n1",
        "titlesim-candle",
        "dtypes",
        "bf16_all_minilm_gives_a_text_alone_its_batch_bits",
        "the portable bf16 kernel's alone-versus-batch bits are titlesim-candle lib tests on \
         neoverse-n1; ~2 min emulated",
    ),
    (
        "max",
        "titlesim-candle",
        "dtypes",
        "bf16_all_minilm_gives_a_text_alone_its_batch_bits",
        "its `bfmmla` alone-versus-batch bits are titlesim-candle lib tests on max; \
         ~4 min emulated",
    ),
];

/// Cross-builds the test binaries of [`PACKAGES_TESTED`]; returns them from cargo's JSON
/// messages.
fn build_tests(env: &Emulation) -> Result<Vec<TestBin>> {
    let mut c = cargo();
    c.current_dir(workspace_root())
        .args([
            "test",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .args(["--target", TARGET])
        .env(format!("{TARGET_ENV}_LINKER"), LINKER)
        .env("TITLESIM_MODELS_DIR", &env.models);
    for p in PACKAGES_TESTED {
        c.args(["-p", p]);
    }
    c.args(["--lib", "--tests"]).stdout(Stdio::piped());
    let out = c
        .spawn()
        .context("cannot run cargo")?
        .wait_with_output()
        .context("waiting for cargo")?;
    if !out.status.success() {
        bail!("cross-building the tests failed ({})", out.status);
    }
    let mut bins = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["reason"] != "compiler-artifact" || !v["profile"]["test"].as_bool().unwrap_or(false) {
            continue;
        }
        let Some(exe) = v["executable"].as_str() else {
            continue;
        };
        let kind = v["target"]["kind"][0].as_str().unwrap_or("");
        let target = if kind == "test" {
            v["target"]["name"].as_str().unwrap_or("?").to_string()
        } else {
            "lib".to_string()
        };
        let manifest = PathBuf::from(v["manifest_path"].as_str().unwrap_or(""));
        let package = package_name(v["package_id"].as_str().unwrap_or("?"));
        bins.push(TestBin {
            package,
            target,
            exe: PathBuf::from(exe),
            dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
        });
    }
    bins.sort_by(|a, b| (&a.package, &a.target).cmp(&(&b.package, &b.target)));
    if bins.is_empty() {
        bail!("cargo built no test binaries for {TARGET}");
    }
    Ok(bins)
}

/// The package name in a cargo package id: `path+file:///…/candle#titlesim-candle@0.1.0`
/// (cargo ≥ 1.77) or `titlesim-candle 0.1.0 (path+file:///…)`.
fn package_name(id: &str) -> String {
    match id.rsplit_once('#') {
        Some((_, rest)) => rest.split('@').next().unwrap_or(rest).to_string(),
        None => id.split_whitespace().next().unwrap_or(id).to_string(),
    }
}

/// The binaries `suite` runs on `cpu`.
fn selected<'a>(bins: &'a [TestBin], suite: Suite, cpu: &str) -> Vec<&'a TestBin> {
    bins.iter()
        .filter(|b| match suite {
            Suite::Full => true,
            Suite::Ci if cpu == CI_FULL_CPU => !CI_SKIPPED
                .iter()
                .any(|(p, t, _)| *p == b.package && *t == b.target),
            Suite::Ci => KERNEL_TESTS
                .iter()
                .any(|(p, t)| *p == b.package && *t == b.target),
        })
        .collect()
}

/// The libtest `--skip` filters (with why) of `bin` on `cpu` under `suite`.
fn skipped_tests(bin: &TestBin, suite: Suite, cpu: &str) -> Vec<(&'static str, &'static str)> {
    if suite != Suite::Ci {
        return Vec::new();
    }
    CI_SKIPPED_TESTS
        .iter()
        .filter(|(c, p, t, _, _)| *c == cpu && *p == bin.package && *t == bin.target)
        .map(|(_, _, _, filter, why)| (*filter, *why))
        .collect()
}

/// Runs one test binary under `qemu-aarch64 -cpu cpu` (leaving out the tests `skip` filters),
/// streaming its output and adding its `test result:` lines to `counts`; returns whether it
/// passed.
fn run_bin(
    env: &Emulation,
    bin: &TestBin,
    cpu: &str,
    cpuinfo: &Path,
    skip: &[(&str, &str)],
    counts: &mut Counts,
) -> Result<bool> {
    say!("cross: -cpu {cpu}: {}", bin.label());
    let mut c = Command::new("qemu-aarch64");
    c.args(["-L", SYSROOT, "-cpu", cpu, "-E"])
        .arg(format!("LD_PRELOAD={}", env.shim.display()))
        .arg(&bin.exe);
    for (filter, why) in skip {
        say!("cross: -cpu {cpu}: --suite ci leaves out {filter}* ({why})");
        c.args(["--skip", filter]);
    }
    c.current_dir(&bin.dir)
        .env("TITLESIM_FAKE_CPUINFO", cpuinfo)
        .env("TITLESIM_MODELS_DIR", &env.models)
        .env("ORT_DYLIB_PATH", &env.ort_lib)
        // The fake libraries of titlesim-ort's library tests must be aarch64 ones.
        .env("TITLESIM_TEST_CC", LINKER);
    let t = Instant::now();
    let ok = run_counting(&mut c, counts)?;
    // Per binary, so the slow ones of the emulated run can be seen in CI's log.
    say!(
        "cross: -cpu {cpu}: {} {} ({})",
        bin.label(),
        if ok { "ok" } else { "FAILED" },
        fmt_duration(t.elapsed())
    );
    Ok(ok)
}

/// Installs, builds, and runs the tests under each CPU model; returns the summed test
/// counts, or an error naming what failed.
pub fn run_counted(a: &CrossArgs, counts: &mut Counts) -> Result<()> {
    let start = Instant::now();
    let before = *counts;
    if a.cpus.is_empty() {
        bail!("--cpus: give at least one qemu CPU model");
    }
    ensure_target(!a.no_install)?;
    ensure_tools(!a.no_install)?;
    let models = fetch_models(&FetchArgs {
        models_dir: a.models_dir.clone(),
        target: Some("aarch64".into()),
    })?;
    let work = target_dir().join("qemu");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let env = Emulation {
        ort_lib: ort_dir(&models, "aarch64").join(ORT_LIB),
        models,
        shim: build_shim(&work)?,
        work,
    };
    if a.suite == Suite::Full {
        // Every crate compiles for aarch64 (the Python package is built by maturin, see the
        // README); ~15 minutes more on 2 cores, so the CI suite leaves it out.
        say!("cross: building the workspace (but titlesim-python) for {TARGET}");
        let st = run_status(
            cargo()
                .current_dir(workspace_root())
                .args(["build", "--target", TARGET, "--workspace"])
                .args(["--exclude", "titlesim-python"])
                .env(format!("{TARGET_ENV}_LINKER"), LINKER),
            true,
        )?;
        if !st.success() {
            bail!("cross-building the workspace failed ({st})");
        }
    }
    say!(
        "cross: building the tests of {} for {TARGET}",
        PACKAGES_TESTED.join(", ")
    );
    let bins = build_tests(&env)?;
    if a.suite == Suite::Ci {
        for (p, t, why) in CI_SKIPPED {
            say!("cross: --suite ci leaves out {p} {t} ({why}); --suite full runs it");
        }
    }
    let mut failed = Vec::new();
    for cpu in &a.cpus {
        let t = Instant::now();
        let cpuinfo = fake_cpuinfo(&env.work, cpu)?;
        let run = selected(&bins, a.suite, cpu);
        say!(
            "cross: === qemu-aarch64 -cpu {cpu}: {} test binaries ===",
            run.len()
        );
        let mut ok_all = true;
        for bin in run {
            let skip = skipped_tests(bin, a.suite, cpu);
            if !run_bin(&env, bin, cpu, &cpuinfo, &skip, counts)? {
                failed.push(format!("{} on {cpu}", bin.label()));
                ok_all = false;
            }
        }
        say!(
            "cross: -cpu {cpu} {} ({})",
            if ok_all { "ok" } else { "FAILED" },
            fmt_duration(t.elapsed())
        );
    }
    eprintln!(
        "xtask cross: {} CPU model(s), total {}; tests: {} passed, {} failed, {} skipped",
        a.cpus.len(),
        fmt_duration(start.elapsed()),
        counts.passed - before.passed,
        counts.failed - before.failed,
        counts.ignored - before.ignored
    );
    if !failed.is_empty() {
        bail!("tests failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `cargo xtask cross`.
pub fn run(a: &CrossArgs) -> Result<()> {
    run_counted(a, &mut Counts::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_come_from_both_id_formats() {
        assert_eq!(
            package_name("path+file:///w/crates/candle#titlesim-candle@0.1.0"),
            "titlesim-candle"
        );
        assert_eq!(
            package_name("titlesim-ort 0.1.0 (path+file:///w/crates/ort)"),
            "titlesim-ort"
        );
    }

    fn bin(package: &str, target: &str) -> TestBin {
        TestBin {
            package: package.into(),
            target: target.into(),
            exe: PathBuf::new(),
            dir: PathBuf::new(),
        }
    }

    #[test]
    fn the_ci_suite_runs_everything_but_the_slow_binaries_on_one_model_and_the_kernels_elsewhere() {
        let bins = vec![
            bin("titlesim-candle", "lib"),
            bin("titlesim-candle", "dtypes"),
            bin("titlesim-candle", "conformance"),
            bin("titlesim-ort", "real_models"),
            bin("titlesim-tract", "conformance"),
            bin("titlesim-tract", "fixtures"),
        ];
        let labels = |v: Vec<&TestBin>| v.iter().map(|b| b.label()).collect::<Vec<_>>();
        assert_eq!(selected(&bins, Suite::Full, "max").len(), bins.len());
        assert_eq!(
            labels(selected(&bins, Suite::Ci, CI_FULL_CPU)),
            [
                "titlesim-candle lib",
                "titlesim-candle dtypes",
                "titlesim-candle conformance",
                "titlesim-tract fixtures"
            ]
        );
        assert_eq!(
            labels(selected(&bins, Suite::Ci, "cortex-a72")),
            ["titlesim-candle lib", "titlesim-candle dtypes"]
        );
    }

    #[test]
    fn the_ci_suite_leaves_out_covered_tests_per_model_and_the_full_suite_none() {
        let dtypes = bin("titlesim-candle", "dtypes");
        let filters = |suite, cpu| {
            skipped_tests(&dtypes, suite, cpu)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        assert_eq!(filters(Suite::Ci, "cortex-a72"), ["bf16_all_minilm"]);
        assert_eq!(
            filters(Suite::Ci, "max"),
            ["bf16_all_minilm_gives_a_text_alone_its_batch_bits"]
        );
        assert_eq!(
            filters(Suite::Ci, CI_FULL_CPU),
            ["bf16_all_minilm_gives_a_text_alone_its_batch_bits"]
        );
        assert!(
            skipped_tests(&bin("titlesim-candle", "minilm"), Suite::Ci, CI_FULL_CPU).is_empty()
        );
        assert!(filters(Suite::Full, "max").is_empty());
        assert!(skipped_tests(&bin("titlesim-candle", "lib"), Suite::Ci, "max").is_empty());
    }
}
