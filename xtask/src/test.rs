//! `cargo xtask test`: every check CI runs, in one command.
//!
//! 1. fetch-models (the real-model tests need them; they fail loudly without them);
//! 2. `cargo fmt --all -- --check`;
//! 3. `cargo test --workspace --all-features --no-fail-fast`, then the Python package: a
//!    virtual environment in `target/python-env`, the wheel built from `crates/python` with
//!    maturin, its pytest suite (see [`crate::python`]);
//!    then the aarch64 step: `cargo xtask cross --suite ci` (the core and backend tests
//!    cross-built and run under qemu on three CPU models, see [`crate::cross`]; left out with
//!    `--skip-cross`);
//! 4. `cargo clippy --workspace --all-targets --all-features -- -D warnings`, then clippy
//!    again on the crates with feature-gated code, with their default features (what
//!    `cargo install` builds);
//! 5. `RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features`;
//! 6. publishing checks, offline: every publishable package (no `publish = false`) has the
//!    metadata crates.io needs and versions on its path dependencies, and its
//!    `cargo package --list` holds sources, README and licences only (see [`package_check`]).
//!
//! Every step runs even when an earlier one failed (except that nothing runs when the models
//! folder cannot be written at all), so one run reports every problem; the command exits
//! non-zero when any step failed. `TITLESIM_MODELS_DIR` and `ORT_DYLIB_PATH` are set for the
//! cargo steps. The last line totals the tests of step 3 (Rust and Python): `tests: N passed, N failed,
//! N skipped`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use serde_json::Value;

use crate::fetch::{fetch_models, FetchArgs, ORT_LIB};
use crate::say;
use crate::util::{fmt_duration, workspace_root};

/// Options of `test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,
    /// Leave out the aarch64 step (`cargo xtask cross --suite ci`, ~15–20 minutes from a
    /// clean target folder): for quick local runs; CI runs it.
    #[arg(long)]
    pub skip_cross: bool,
    /// Also run the Spark helper's test in Spark local mode (`local[2]`): installs pyspark
    /// from PyPI (~320 MB) and, when no `java` runs, Debian's default-jre-headless; adds
    /// ~3 minutes. Off by default to keep CI within its time.
    #[arg(long)]
    pub spark: bool,
}

/// Test counts summed over `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl Counts {
    /// Adds the counts of a libtest `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    pub fn add_line(&mut self, line: &str) -> bool {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return false;
        };
        let mut found = false;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => continue,
            }
            found = true;
        }
        found
    }
}

struct Step {
    name: &'static str,
    ok: bool,
    time: Duration,
}

fn cargo_cmd(args: &[&str], models: &Path) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(workspace_root())
        .args(args)
        .env("TITLESIM_MODELS_DIR", models)
        .env("ORT_DYLIB_PATH", models.join("onnxruntime").join(ORT_LIB));
    c
}

/// Runs a command, streaming its output; with `counts`, stdout is also scanned for test
/// results.
fn run_step(name: &str, mut cmd: Command, counts: Option<&mut Counts>) -> Result<bool> {
    say!("test: === {name} ===");
    let Some(counts) = counts else {
        let status = cmd
            .status()
            .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
        return Ok(status.success());
    };
    run_counting(&mut cmd, counts)
}

/// Runs a command, streaming its stdout and adding its `test result:` lines to `counts`;
/// returns whether it succeeded.
pub fn run_counting(cmd: &mut Command, counts: &mut Counts) -> Result<bool> {
    cmd.stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the test output")?;
        counts.add_line(&line);
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    Ok(child.wait()?.success())
}

/// Runs every check.
pub fn run(a: &TestArgs) -> Result<()> {
    let start = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let mut counts = Counts::default();

    let t = Instant::now();
    say!("test: === fetch-models ===");
    let models = match fetch_models(&a.fetch) {
        Ok(m) => {
            steps.push(Step {
                name: "fetch-models",
                ok: true,
                time: t.elapsed(),
            });
            m
        }
        Err(e) => {
            eprintln!("xtask: fetch-models failed: {e:#}");
            steps.push(Step {
                name: "fetch-models",
                ok: false,
                time: t.elapsed(),
            });
            // The tests then fail with "run `cargo xtask fetch-models`": still worth running.
            crate::util::models_dir(a.fetch.models_dir.as_deref())?
        }
    };

    let plan: Vec<(&'static str, Vec<&str>, bool)> = vec![
        (
            "cargo fmt --check",
            vec!["fmt", "--all", "--", "--check"],
            false,
        ),
        (
            "cargo test",
            vec!["test", "--workspace", "--all-features", "--no-fail-fast"],
            true,
        ),
        (
            "cargo clippy",
            vec![
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
            false,
        ),
        // What `cargo install` and the crates' users build: the crates whose code has
        // `cfg(feature = ...)` (hf-hub, multithread, test models), with their default features,
        // where code used only under a feature would be dead and warn.
        (
            "cargo clippy (default features)",
            vec![
                "clippy",
                "-p",
                "titlesim-core",
                "-p",
                "titlesim-tract",
                "-p",
                "titlesim",
                "-p",
                "titlesim-cli",
                "-p",
                "titlesim-test-support",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            false,
        ),
        (
            "cargo doc",
            vec!["doc", "--workspace", "--no-deps", "--all-features"],
            false,
        ),
    ];
    for (name, args, is_test) in plan {
        let t = Instant::now();
        let mut cmd = cargo_cmd(&args, &models);
        if name == "cargo doc" {
            cmd.env("RUSTDOCFLAGS", "-D warnings");
        }
        let ok = run_step(name, cmd, if is_test { Some(&mut counts) } else { None })?;
        if !ok {
            say!("test: {name} FAILED");
        }
        steps.push(Step {
            name,
            ok,
            time: t.elapsed(),
        });
        if name == "cargo test" {
            steps.push(python_step(&models, a.spark, &mut counts));
            if a.skip_cross {
                say!("test: --skip-cross: the aarch64 step does not run");
            } else {
                steps.push(cross_step(&a.fetch, &mut counts));
            }
        }
    }

    let t = Instant::now();
    let ok = package_check(&models).unwrap_or_else(|e| {
        eprintln!("xtask: cargo package --list: {e:#}");
        false
    });
    if !ok {
        say!("test: cargo package --list FAILED");
    }
    steps.push(Step {
        name: "cargo package --list",
        ok,
        time: t.elapsed(),
    });

    let failed: Vec<&str> = steps.iter().filter(|s| !s.ok).map(|s| s.name).collect();
    let parts: Vec<String> = steps
        .iter()
        .map(|s| {
            format!(
                "{} {} ({})",
                s.name,
                if s.ok { "ok" } else { "FAILED" },
                fmt_duration(s.time)
            )
        })
        .collect();
    eprintln!();
    eprintln!(
        "xtask test: {}; total {}",
        parts.join(", "),
        fmt_duration(start.elapsed())
    );
    println!(
        "tests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// The aarch64 step: `cargo xtask cross --suite ci`, its tests counted with the others.
fn cross_step(fetch: &FetchArgs, counts: &mut Counts) -> Step {
    let t = Instant::now();
    say!("test: === cross: aarch64 under qemu (--suite ci) ===");
    let args = crate::cross::CrossArgs {
        cpus: ["cortex-a72", "neoverse-n1", "max"]
            .map(String::from)
            .into(),
        suite: crate::cross::Suite::Ci,
        no_install: false,
        models_dir: fetch.models_dir.clone(),
    };
    let ok = match crate::cross::run_counted(&args, counts) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("xtask: cross: {e:#}");
            say!("test: cross FAILED");
            false
        }
    };
    Step {
        name: "cross (aarch64)",
        ok,
        time: t.elapsed(),
    }
}

/// The Python package's step: wheel and pytest, counted with the Rust tests.
fn python_step(models: &Path, spark: bool, counts: &mut Counts) -> Step {
    let t = Instant::now();
    say!("test: === python: wheel + pytest ===");
    let ok = match crate::python::run_tests(models, spark) {
        Ok((ok, c)) => {
            counts.passed += c.passed;
            counts.failed += c.failed;
            counts.ignored += c.skipped;
            ok
        }
        Err(e) => {
            eprintln!("xtask: python: {e:#}");
            false
        }
    };
    if !ok {
        say!("test: python FAILED");
    }
    Step {
        name: "python (wheel + pytest)",
        ok,
        time: t.elapsed(),
    }
}

/// Files in a package above this size are flagged (fixtures and models stay out).
const MAX_PACKAGED_FILE: u64 = 256 * 1024;

/// The publishing checks, offline: `cargo metadata` for the packages, then
/// `cargo package --list` for each publishable one. Returns whether everything passed,
/// printing every problem.
fn package_check(models: &Path) -> Result<bool> {
    say!("test: === cargo package --list ===");
    let out = cargo_cmd(
        &[
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ],
        models,
    )
    .stderr(Stdio::inherit())
    .output()
    .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed");
    }
    let meta: Value = serde_json::from_slice(&out.stdout).context("parsing cargo metadata")?;
    let mut problems = Vec::new();
    let mut names = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        if !publishable(pkg) {
            continue;
        }
        let name = pkg["name"].as_str().unwrap_or("?");
        names.push(name);
        problems.extend(
            metadata_problems(pkg)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
        let dir = Path::new(pkg["manifest_path"].as_str().unwrap_or(""))
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let out = cargo_cmd(
            &[
                "package",
                "--list",
                "--offline",
                "--allow-dirty",
                "-p",
                name,
            ],
            models,
        )
        .output()
        .context("cannot run cargo package")?;
        if !out.status.success() {
            problems.push(format!(
                "{name}: `cargo package --list` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        let listing = String::from_utf8_lossy(&out.stdout);
        let files: Vec<&str> = listing.lines().filter(|l| !l.trim().is_empty()).collect();
        let readme = pkg["readme"].as_str().unwrap_or("README.md");
        problems.extend(
            listing_problems(&files, readme, |f| {
                std::fs::metadata(dir.join(f)).ok().map(|m| m.len())
            })
            .into_iter()
            .map(|p| format!("{name}: {p}")),
        );
    }
    for p in &problems {
        eprintln!("xtask: {p}");
    }
    say!(
        "test: {} publishable packages ({}): {} problems",
        names.len(),
        names.join(", "),
        problems.len()
    );
    Ok(problems.is_empty() && !names.is_empty())
}

/// Whether `cargo metadata` says the package may be published (`publish` unset).
fn publishable(pkg: &Value) -> bool {
    pkg["publish"].is_null()
}

/// What a publishable package's metadata lacks: description, licence, repository, readme,
/// `rust-version`, keywords and categories (as crates.io accepts them), and a version on
/// every path dependency that is published with it.
fn metadata_problems(pkg: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for field in [
        "description",
        "license",
        "repository",
        "readme",
        "rust_version",
    ] {
        if pkg[field].as_str().is_none_or(|v| v.trim().is_empty()) {
            out.push(format!("no `{}`", field.replace('_', "-")));
        }
    }
    let keywords: Vec<&str> = pkg["keywords"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keywords.is_empty() || keywords.len() > 5 {
        out.push(format!(
            "{} keywords (crates.io takes 1 to 5)",
            keywords.len()
        ));
    }
    for k in keywords {
        let valid = k.len() <= 20
            && k.starts_with(|c: char| c.is_ascii_alphabetic())
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+'));
        if !valid {
            out.push(format!(
                "keyword `{k}` is not valid on crates.io (at most 20 ASCII letters, digits, -, _ or +, starting with a letter)"
            ));
        }
    }
    if pkg["categories"].as_array().is_none_or(|c| c.is_empty()) {
        out.push("no `categories`".into());
    }
    for dep in pkg["dependencies"].as_array().into_iter().flatten() {
        let dev = dep["kind"].as_str() == Some("dev");
        if dep["path"].is_string() && !dev && dep["req"].as_str() == Some("*") {
            out.push(format!(
                "path dependency `{}` has no version (crates.io needs one)",
                dep["name"].as_str().unwrap_or("?")
            ));
        }
    }
    out
}

/// What is wrong with a package's file list: a missing README or licence, a file that is
/// neither source, manifest, README nor licence, or a file over [`MAX_PACKAGED_FILE`].
/// `size` gives a listed file's size on disk (None for files cargo generates).
fn listing_problems(
    files: &[&str],
    readme: &str,
    size: impl Fn(&str) -> Option<u64>,
) -> Vec<String> {
    let mut out = Vec::new();
    for want in [readme, "LICENSE-MIT", "LICENSE-APACHE"] {
        if !files.contains(&want) {
            out.push(format!("`{want}` is not in the package"));
        }
    }
    for &f in files {
        let top_level = [
            "Cargo.toml",
            "Cargo.toml.orig",
            "Cargo.lock",
            ".cargo_vcs_info.json",
            "build.rs",
            readme,
        ]
        .contains(&f)
            || f.starts_with("LICENSE");
        let source = f.starts_with("src/")
            || (["tests/", "examples/", "benches/"]
                .iter()
                .any(|d| f.starts_with(d))
                && f.ends_with(".rs"));
        if !top_level && !source {
            out.push(format!(
                "`{f}` is in the package (only sources, README and licences belong there: \
                 add it to `exclude`)"
            ));
        }
        if let Some(n) = size(f).filter(|&n| n > MAX_PACKAGED_FILE) {
            out.push(format!(
                "`{f}` is {} KiB (over {} KiB: fixtures and models stay out of packages)",
                n / 1024,
                MAX_PACKAGED_FILE / 1024
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good_package() -> Value {
        serde_json::json!({
            "name": "titlesim-x",
            "publish": null,
            "description": "d",
            "license": "MIT OR Apache-2.0",
            "repository": "https://example.invalid/titlesim",
            "readme": "README.md",
            "rust_version": "1.85",
            "keywords": ["embeddings", "sentence-embeddings"],
            "categories": ["science"],
            "dependencies": [
                {"name": "titlesim-core", "path": "/w/crates/core", "req": "^0.1.0", "kind": null},
                {"name": "serde", "req": "^1", "kind": null},
                {"name": "titlesim-ort", "path": "/w/crates/ort", "req": "*", "kind": "dev"}
            ]
        })
    }

    #[test]
    fn metadata_checks_catch_what_crates_io_refuses() {
        assert_eq!(metadata_problems(&good_package()), Vec::<String>::new());
        assert!(publishable(&good_package()));
        let mut p = good_package();
        p["publish"] = serde_json::json!([]);
        assert!(!publishable(&p));

        let mut p = good_package();
        p["description"] = Value::Null;
        p["rust_version"] = Value::Null;
        p["keywords"] = serde_json::json!(["sentence-transformers", "ok"]);
        p["categories"] = serde_json::json!([]);
        p["dependencies"][0]["req"] = "*".into();
        let problems = metadata_problems(&p);
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("`description`"));
        assert!(problems[1].contains("`rust-version`"));
        assert!(problems[2].contains("sentence-transformers")); // 21 characters
        assert!(problems[3].contains("categories"));
        assert!(problems[4].contains("`titlesim-core` has no version"));
    }

    #[test]
    fn listing_checks_flag_strays_big_files_and_missing_licences() {
        let good = [
            ".cargo_vcs_info.json",
            "Cargo.toml",
            "Cargo.toml.orig",
            "LICENSE-APACHE",
            "LICENSE-MIT",
            "README.md",
            "src/lib.rs",
            "src/data/table.json",
            "tests/it.rs",
        ];
        assert_eq!(
            listing_problems(&good, "README.md", |_| Some(1000)),
            Vec::<String>::new()
        );
        let bad = [
            "Cargo.toml",
            "README.md",
            "LICENSE-MIT",
            "src/lib.rs",
            "tests/fixtures/model.safetensors",
            "notes.txt",
        ];
        let problems = listing_problems(&bad, "README.md", |f| {
            Some(if f.ends_with(".safetensors") {
                5 << 20
            } else {
                10
            })
        });
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("LICENSE-APACHE"));
        assert!(
            problems[1].contains("tests/fixtures/model.safetensors")
                && problems[1].contains("exclude")
        );
        assert!(problems[2].contains("5120 KiB"));
        assert!(problems[3].contains("notes.txt"));
    }

    #[test]
    fn counts_test_result_lines() {
        let mut c = Counts::default();
        assert!(c.add_line(
            "test result: ok. 12 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s"
        ));
        assert!(c.add_line(
            "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out"
        ));
        assert!(!c.add_line("running 3 tests"));
        assert_eq!(
            c,
            Counts {
                passed: 15,
                failed: 1,
                ignored: 2
            }
        );
    }
}
