//! `cargo xtask test`: every check CI runs, in one command.
//!
//! 1. fetch-models (the real-model tests need them; they fail loudly without them);
//! 2. `cargo fmt --all -- --check`;
//! 3. `cargo test --workspace --all-features --no-fail-fast`;
//! 4. `cargo clippy --workspace --all-targets --all-features -- -D warnings`;
//! 5. `RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features`.
//!
//! Every step runs even when an earlier one failed (except that nothing runs when the models
//! folder cannot be written at all), so one run reports every problem; the command exits
//! non-zero when any step failed. `TITLESIM_MODELS_DIR` and `ORT_DYLIB_PATH` are set for the
//! cargo steps. The last line totals the tests of step 3: `tests: N passed, N failed, N skipped`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::fetch::{fetch_models, FetchArgs, ORT_LIB};
use crate::say;
use crate::util::{fmt_duration, workspace_root};

/// Options of `test`.
#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,
}

/// Test counts summed over `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    /// Adds the counts of a libtest `test result: ok. 3 passed; 0 failed; 1 ignored; ...` line.
    fn add_line(&mut self, line: &str) -> bool {
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
    }

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

#[cfg(test)]
mod tests {
    use super::*;

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
