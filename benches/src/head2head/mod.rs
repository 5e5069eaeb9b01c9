//! Head-to-head benchmark of titlesim's backends (and, when present, of ONNX Runtime from
//! Python and sentence-transformers on torch), run by `cargo xtask bench`.
//!
//! Every configuration (model × backend, or peer) is measured in its own child process — this
//! binary re-invoking itself with `--child` — so peak RSS is per configuration. Configurations
//! are interleaved over `--runs` rounds and each number reported is the median over the rounds,
//! so that a noisy machine slows every configuration alike and the ratios hold.
//!
//! Per configuration: load time, titles/s at batch 32 over the titles (length-sorted batches,
//! end to end: tokenisation, forward, pooling, normalisation), p50/p99 latency and titles/s at
//! batch 1, peak RSS (VmHWM), and parity: the smallest cosine against the reference backend on
//! the same titles. Writes `head2head.json`, `head2head.md` and `head2head.svg`.
//!
//! The parts, by job: `args` (the command line), `child` (one configuration measured in its
//! own process), `peers` (the Python peers), `plan` (which configurations to measure),
//! `rounds` (the interleaved rounds and their medians), `parity` (the worst cosine against each
//! configuration's reference) and `report` (the Markdown, JSON and SVG written at the end).

mod args;
mod child;
mod parity;
mod peers;
mod plan;
mod report;
mod rounds;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use crate as tb;
use args::Args;
use report::Report;
use rounds::Workload;

/// Runs head2head on this process's command line: the whole matrix, or with the hidden
/// `--child SPEC` one configuration (how the matrix runs each configuration in its own process).
pub fn main() -> ExitCode {
    let args = Args::parse();
    let r = match &args.child {
        Some(spec) => child::child(spec),
        None => parent(args),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("head2head: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The matrix: plan the configurations, run the rounds, take the medians and the parity, write
/// the report.
fn parent(mut a: Args) -> Result<()> {
    a.apply_quick();
    a.check()?;
    let titles_file = a.titles_file();
    let n_avail = tb::load_titles(&titles_file, a.titles)?.len();
    let out = a.out_dir();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let vec_dir = out.join("vectors");
    std::fs::create_dir_all(&vec_dir)?;
    let cpu = tb::cpu_info();
    let versions = tb::stack_versions();
    announce_run(&a, &cpu, &versions, n_avail);

    let plan = plan::plan(&a)?;
    let t_all = Instant::now();
    let work = Workload {
        args: &a,
        titles_file,
        n_avail,
        vec_dir,
    };
    let outcomes = rounds::run_rounds(&work, &plan, t_all)?;
    let mut rows = rounds::collect_rows(&plan.configs, &outcomes);
    parity::fill_parity(
        &mut rows,
        &plan.configs,
        &outcomes.measurements,
        &work.vec_dir,
    );

    let report = Report::new(&a, &cpu, &versions, n_avail, rows, &plan.skipped);
    let md = report.write(&out)?;
    println!("{md}");
    announce_written(&out, t_all);
    Ok(())
}

/// The CPU, stack and run-size lines printed before the rounds start.
fn announce_run(a: &Args, cpu: &tb::CpuInfo, versions: &[(String, String)], n_avail: usize) {
    eprintln!("head2head: {}", cpu.line());
    if let Some(w) = cpu.warning() {
        eprintln!("head2head: {w}");
    }
    eprintln!(
        "head2head: {}",
        versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "head2head: thread budget {}, {} titles (batch 32), {} batch-1 titles, {} rounds; models in {}",
        a.threads,
        n_avail,
        a.latency_titles.min(n_avail),
        a.runs,
        tb::models_dir().display()
    );
}

fn announce_written(out: &Path, t_all: Instant) {
    eprintln!(
        "head2head: wrote {} (head2head.md, .json, .svg) in {:.0}s",
        out.display(),
        t_all.elapsed().as_secs_f64()
    );
}
