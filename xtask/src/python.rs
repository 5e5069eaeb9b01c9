//! The Python package's step of `cargo xtask test`: a virtual environment, the wheel built
//! from `crates/python` with maturin, and its pytest suite.
//!
//! The environment lives in `target/python-env` (cargo's target folder; kept between runs: a second run only
//! rebuilds and reinstalls the wheel). It gets maturin, numpy and pytest from PyPI, and the
//! ONNX Runtime wheel that `fetch-models` downloaded (without its dependencies: the tests need
//! only its library, to check that the ort backend finds it in the interpreter's package).
//! The wheel is built in the dev profile (dependencies optimised, as `cargo test` builds
//! them), into `target/wheels/`, with titlesim-python's `workspace-features` feature: it gives
//! the dependencies the wheel shares with the rest of the workspace the features `cargo test
//! --workspace --all-features` gave them, so cargo reuses the test build's compiled
//! dependencies instead of compiling about a hundred of them (candle, tract, tokenizers, serde)
//! a second time. [`feature_drift`] checks, with `cargo tree`, that the feature leaves none out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::fetch::python;
use crate::say;
use crate::util::{run_status, target_dir, workspace_root};

/// What pytest reported.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PytestCounts {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
}

impl PytestCounts {
    /// Reads pytest's last line: `3 failed, 41 passed, 1 skipped in 9.56s` (errors count as
    /// failures).
    pub fn parse(line: &str) -> Option<Self> {
        let line = line.trim().trim_matches('=').trim();
        let (counts, _) = line.rsplit_once(" in ")?;
        let mut c = PytestCounts::default();
        let mut found = false;
        for part in counts.split(',') {
            let mut w = part.split_whitespace();
            let (Some(n), Some(what)) = (w.next(), w.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match what {
                "passed" => c.passed += n,
                "failed" | "error" | "errors" => c.failed += n,
                "skipped" | "xfailed" => c.skipped += n,
                _ => continue,
            }
            found = true;
        }
        found.then_some(c)
    }
}

fn env_python(env: &Path) -> PathBuf {
    env.join("bin").join("python")
}

/// Creates the environment (installing Debian's python3-venv when `venv` is missing) and the
/// tools in it, when not there yet.
fn ensure_env(env: &Path, models: &Path) -> Result<()> {
    let py = env_python(env);
    if !py.exists() {
        let base = python();
        say!("python: creating {}", env.display());
        let create = || -> Result<bool> {
            let mut venv = Command::new(&base);
            venv.args(["-m", "venv"]).arg(env);
            Ok(run_status(&mut venv, true)?.success())
        };
        if !create()? {
            if Path::new("/usr/bin/apt-get").exists() {
                say!("python: `{base} -m venv` failed; installing python3-venv with apt-get");
                let _ = run_status(
                    Command::new("apt-get").args(["install", "-y", "-q", "python3-venv"]),
                    true,
                );
            }
            let _ = std::fs::remove_dir_all(env);
            if !create()? {
                bail!(
                    "`{base} -m venv` cannot create {}: install python3-venv, or set \
                     TITLESIM_PYTHON to a Python 3.10+ with venv",
                    env.display()
                );
            }
        }
    }
    ensure_packages(
        &py,
        "maturin, numpy, pyarrow, pytest",
        &["maturin>=1.9,<2", "numpy", "pyarrow", "pytest"],
    )?;
    let has_ort = Command::new(&py)
        .args([
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec('onnxruntime') is None)",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !has_ort {
        let wheels = models.join(".wheels");
        let wheel = std::fs::read_dir(&wheels)
            .with_context(|| format!("reading {}", wheels.display()))?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("onnxruntime-"))
            })
            .with_context(|| {
                format!(
                    "no onnxruntime wheel in {}: run `cargo xtask fetch-models`",
                    wheels.display()
                )
            })?;
        pip_install_file(env, &wheel)?;
    }
    Ok(())
}

/// Installs (or reinstalls) one wheel file into `env`, without its dependencies.
fn pip_install_file(env: &Path, wheel: &Path) -> Result<()> {
    let mut pip = Command::new(env_python(env));
    pip.args([
        "-m",
        "pip",
        "install",
        "-q",
        "--force-reinstall",
        "--no-deps",
        "--disable-pip-version-check",
    ])
    .arg(wheel);
    if !run_status(&mut pip, true)?.success() {
        bail!("pip could not install {}", wheel.display());
    }
    Ok(())
}

/// The titlesim-python feature that aligns the wheel's dependencies with the test build's.
const WORKSPACE_FEATURES: &str = "workspace-features";

/// Builds the wheel (with [`WORKSPACE_FEATURES`]) into `target/wheels/` and installs it into
/// `env`; returns the wheel.
pub fn build_wheel(env: &Path, profile: &str) -> Result<PathBuf> {
    let root = workspace_root();
    let out = target_dir().join("wheels").join(profile);
    let _ = std::fs::remove_dir_all(&out);
    let mut maturin = Command::new(env.join("bin").join("maturin"));
    maturin
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "-m",
            "crates/python/Cargo.toml",
            "--profile",
            profile,
            "--features",
            WORKSPACE_FEATURES,
            "-o",
        ])
        .arg(&out);
    if !run_status(&mut maturin, true)?.success() {
        bail!("maturin could not build the titlesim wheel");
    }
    let wheel = std::fs::read_dir(&out)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .context("maturin wrote no wheel")?;
    pip_install_file(env, &wheel)?;
    Ok(wheel)
}

/// The environment of the tests (`target/python-env`), made ready.
pub fn test_env(models: &Path) -> Result<PathBuf> {
    let env = target_dir().join("python-env");
    ensure_env(&env, models)?;
    Ok(env)
}

/// Installs `requirements` from PyPI into the environment of `py` unless `import MODULES`
/// already works there.
fn ensure_packages(py: &Path, modules: &str, requirements: &[&str]) -> Result<()> {
    let have = Command::new(py)
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if have {
        return Ok(());
    }
    say!("python: installing {} from PyPI", requirements.join(" "));
    let mut pip = Command::new(py);
    pip.args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .args(requirements);
    if !run_status(&mut pip, true)?.success() {
        bail!("pip could not install {modules} (PyPI must be reachable)");
    }
    Ok(())
}

/// Makes Spark's test runnable: pyspark from PyPI in `env`, and a JRE from Debian when no
/// `java` runs.
fn ensure_spark(env: &Path) -> Result<()> {
    // mapInArrow checks for pandas, though the batches stay Arrow; pyspark 4.0 warns that it
    // does not yet support pandas 3.
    ensure_packages(
        &env_python(env),
        "pyspark, pandas",
        &["pyspark>=3.5", "pandas<3"],
    )?;
    let java = Command::new("java")
        .arg("-version")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !java {
        say!("python: --spark: no java; installing Debian's default-jre-headless");
        let ok = run_status(
            Command::new("apt-get").args(["install", "-y", "-q", "default-jre-headless"]),
            true,
        )?
        .success();
        if !ok {
            bail!("apt-get could not install default-jre-headless: Spark needs a JRE (17+)");
        }
    }
    Ok(())
}

/// Builds and installs the wheel, then runs the pytest suite (with Spark's local-mode test
/// when `spark`); returns pytest's counts (and whether it passed).
pub fn run_tests(models: &Path, spark: bool) -> Result<(bool, PytestCounts)> {
    let env = test_env(models)?;
    if spark {
        ensure_spark(&env)?;
    }
    let drift = cargo_tree_drift()?;
    for d in &drift {
        eprintln!("xtask: python: {d}");
    }
    if !drift.is_empty() {
        say!(
            "python: the wheel compiles {} dependenc{} a second time: add the features above to \
             `{WORKSPACE_FEATURES}` in crates/python/Cargo.toml",
            drift.len(),
            if drift.len() == 1 { "y" } else { "ies" }
        );
    }
    let wheel = build_wheel(&env, "dev")?;
    say!("python: installed {}", wheel.display());
    let root = workspace_root();
    let mut cmd = Command::new(env_python(&env));
    cmd.current_dir(&root)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "crates/python/tests",
        ])
        .env("TITLESIM_MODELS_DIR", models)
        .env("TITLESIM_BIN", target_dir().join("debug").join("titlesim"))
        .env("TITLESIM_TEST_SPARK", if spark { "1" } else { "0" })
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().context("cannot run pytest")?;
    let stdout = child.stdout.take().expect("stdout was piped");
    let mut last = PytestCounts::default();
    use std::io::{BufRead, BufReader, Write};
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading pytest's output")?;
        if let Some(c) = PytestCounts::parse(&line) {
            last = c;
        }
        let _ = writeln!(out, "{line}");
    }
    let ok = child.wait()?.success();
    Ok((ok && drift.is_empty(), last))
}

/// `cargo tree`'s packages with their features (`{p} {f}`, no prefix), for `args`.
fn cargo_tree(args: &[&str]) -> Result<String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .arg("tree")
        .args(args)
        .args(["-f", "{p} {f}", "--prefix", "none"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo tree")?;
    if !out.status.success() {
        bail!("cargo tree {} failed ({})", args.join(" "), out.status);
    }
    String::from_utf8(out.stdout).context("cargo tree printed something not UTF-8")
}

/// [`feature_drift`] of the test build (`cargo test --workspace --all-features`: normal,
/// build and dev dependencies) and the wheel's (titlesim-python with [`WORKSPACE_FEATURES`]).
fn cargo_tree_drift() -> Result<Vec<String>> {
    let workspace = cargo_tree(&["--workspace", "--all-features", "-e", "normal,build,dev"])?;
    let wheel = cargo_tree(&[
        "-p",
        "titlesim-python",
        "--features",
        WORKSPACE_FEATURES,
        "-e",
        "normal,build",
    ])?;
    Ok(feature_drift(&workspace, &wheel))
}

/// The registry dependencies the wheel's build (`wheel`) gives features the test build
/// (`workspace`) never gives them together, so cargo compiles them (and everything above them)
/// a second time; one line each, naming the features to add. Both are `cargo tree -f "{p} {f}"
/// --prefix none` outputs. Path dependencies (the workspace's own crates, `name v0.1.0
/// (/path)`) are left out: the wheel's build recompiles them anyway, as its features differ
/// (`--all-features` turns on `hf-hub`, which the wheel leaves out).
pub fn feature_drift(workspace: &str, wheel: &str) -> Vec<String> {
    use std::collections::{BTreeMap, BTreeSet};
    fn parse(tree: &str) -> BTreeMap<&str, BTreeSet<BTreeSet<&str>>> {
        let mut m: BTreeMap<&str, BTreeSet<BTreeSet<&str>>> = BTreeMap::new();
        for line in tree.lines() {
            let line = line.strip_suffix(" (*)").unwrap_or(line);
            let Some((package, features)) = line.rsplit_once(' ') else {
                continue;
            };
            if package.is_empty() || package.contains(" (/") {
                continue;
            }
            let set = features.split(',').filter(|f| !f.is_empty()).collect();
            m.entry(package).or_default().insert(set);
        }
        m
    }
    let workspace = parse(workspace);
    let mut drift = Vec::new();
    for (package, sets) in parse(wheel) {
        let known = workspace.get(package).cloned().unwrap_or_default();
        for set in sets {
            if known.contains(&set) {
                continue;
            }
            // The test build's smallest feature set above the wheel's says what to add.
            let above = known
                .iter()
                .filter(|k| k.is_superset(&set))
                .min_by_key(|k| k.len());
            drift.push(match above {
                Some(k) => format!(
                    "{package}: the wheel's build lacks the features {} of the test build",
                    k.difference(&set).copied().collect::<Vec<_>>().join(", ")
                ),
                None => format!(
                    "{package}: the wheel's build gives it the features [{}], which the test \
                     build never does (it has {})",
                    set.iter().copied().collect::<Vec<_>>().join(", "),
                    if known.is_empty() {
                        "no such package".to_string()
                    } else {
                        known
                            .iter()
                            .map(|k| {
                                format!("[{}]", k.iter().copied().collect::<Vec<_>>().join(", "))
                            })
                            .collect::<Vec<_>>()
                            .join(" and ")
                    }
                ),
            });
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pytest_summaries() {
        assert_eq!(
            PytestCounts::parse("44 passed in 9.56s"),
            Some(PytestCounts {
                passed: 44,
                failed: 0,
                skipped: 0
            })
        );
        assert_eq!(
            PytestCounts::parse("===== 2 failed, 41 passed, 1 skipped, 1 error in 12.01s ====="),
            Some(PytestCounts {
                passed: 41,
                failed: 3,
                skipped: 1
            })
        );
        assert_eq!(PytestCounts::parse("test_model.py ....F"), None);
        assert_eq!(PytestCounts::parse("collected 45 items in 0.2s"), None);
    }

    /// `cargo tree -f "{p} {f}" --prefix none` lines as cargo prints them (repeats marked
    /// `(*)`, proc-macros and path dependencies named so, packages without features ending in
    /// a space).
    const WORKSPACE_TREE: &str = "\
titlesim-core v0.1.0 (/w/crates/core) default,hf-hub
serde_core v1.0.229 alloc,default,rc,result,std
serde_core v1.0.229 alloc,default,rc,result,std (*)
syn v2.0.119 clone-impls,default,full,visit-mut
syn v2.0.119 clone-impls,default
tokio v1.54.1 macros,rt,test-util
cc v1.11.3 parallel
async-trait v0.1.92 (proc-macro) 
";

    #[test]
    fn feature_drift_is_nothing_when_the_wheel_matches_the_test_build() {
        let wheel = "\
titlesim-core v0.1.0 (/w/crates/core) default
serde_core v1.0.229 alloc,default,rc,result,std
syn v2.0.119 clone-impls,default (*)
syn v2.0.119 clone-impls,default,full,visit-mut
tokio v1.54.1 macros,rt,test-util
async-trait v0.1.92 (proc-macro) 
";
        assert_eq!(feature_drift(WORKSPACE_TREE, wheel), Vec::<String>::new());
    }

    #[test]
    fn feature_drift_names_the_features_the_wheel_lacks() {
        let wheel = "\
serde_core v1.0.229 alloc,default,result,std
syn v2.0.119 clone-impls,default,full
tokio v1.54.1 macros,rt,test-util,net
cc v1.11.3 
pyo3 v0.30.1 abi3
";
        assert_eq!(
            feature_drift(WORKSPACE_TREE, wheel),
            [
                "cc v1.11.3: the wheel's build lacks the features parallel of the test build",
                "pyo3 v0.30.1: the wheel's build gives it the features [abi3], which the test \
                 build never does (it has no such package)",
                "serde_core v1.0.229: the wheel's build lacks the features rc of the test build",
                "syn v2.0.119: the wheel's build lacks the features visit-mut of the test build",
                "tokio v1.54.1: the wheel's build gives it the features [macros, net, rt, \
                 test-util], which the test build never does (it has [macros, rt, test-util])",
            ]
        );
    }
}
