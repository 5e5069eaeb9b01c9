//! The round scheduler: every configuration once per round, interleaved over the rounds so a
//! noisy machine slows them alike, each in its own process; then one row per configuration
//! with the medians over its rounds.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use super::args::Args;
use super::child::{child_command, run_json, vectors_file, ChildSpec, Measurement};
use super::peers::{peer_command, PeerRun};
use super::plan::{Config, Plan};
use super::report::{fmt_opt, Row};
use crate as tb;

/// What every round measures with: the arguments, the titles and where vectors go.
pub(crate) struct Workload<'a> {
    pub(crate) args: &'a Args,
    pub(crate) titles_file: PathBuf,
    /// Titles read from the titles file (at most `--titles`).
    pub(crate) n_avail: usize,
    pub(crate) vec_dir: PathBuf,
}

/// The titles one configuration reads, embeds at batch 32 and times at batch 1.
struct Sizes {
    titles: usize,
    sample: usize,
    latency_titles: usize,
}

impl Workload<'_> {
    /// Rounds for `c`: `--heavy-runs` for 0.6B-class models, else `--runs`.
    fn runs_for(&self, c: &Config) -> usize {
        if c.heavy {
            self.args.heavy_runs
        } else {
            self.args.runs
        }
    }

    fn sizes(&self, c: &Config) -> Sizes {
        let (a, n) = (self.args, self.n_avail);
        let (sample, lat) = if c.heavy {
            (a.heavy_titles.min(n), a.heavy_latency_titles)
        } else {
            (n, a.latency_titles)
        };
        Sizes {
            titles: n,
            sample,
            latency_titles: lat.min(n),
        }
    }
}

/// Every round's measurements per configuration id, and the first failure of those that failed
/// (a configuration that failed is not run again).
#[derive(Default)]
pub(crate) struct Outcomes {
    pub(crate) measurements: BTreeMap<String, Vec<Measurement>>,
    pub(crate) errors: BTreeMap<String, String>,
}

/// Runs the rounds, printing a progress line per measurement.
pub(crate) fn run_rounds(w: &Workload<'_>, plan: &Plan, t_all: Instant) -> Result<Outcomes> {
    let exe = std::env::current_exe().context("locating the head2head binary")?;
    let mut o = Outcomes::default();
    let rounds = w.args.runs.max(w.args.heavy_runs);
    for round in 0..rounds {
        for c in &plan.configs {
            let runs_for = w.runs_for(c);
            if round >= runs_for || o.errors.contains_key(&c.id) {
                continue;
            }
            eprint!(
                "[{:>6.0}s] round {}/{} {:<52} ",
                t_all.elapsed().as_secs_f64(),
                round + 1,
                runs_for,
                c.id
            );
            let _ = std::io::stderr().flush();
            let mut cmd = command_for(w, plan, c, &exe)?;
            o.record(c, run_json(&mut cmd));
        }
    }
    Ok(o)
}

/// The process that measures `c`: this binary with `--child`, or a Python peer.
fn command_for(w: &Workload<'_>, plan: &Plan, c: &Config, exe: &Path) -> Result<Command> {
    let sizes = w.sizes(c);
    let vectors = vectors_file(&w.vec_dir, &c.id);
    match c.peer {
        None => {
            let spec = ChildSpec {
                folder: tb::models_dir().join(&c.folder),
                backend: c.variant.as_ref().map_or("", |v| v.backend.as_str()).into(),
                threads: w.args.threads,
                titles_file: w.titles_file.clone(),
                titles: sizes.titles,
                sample: sizes.sample,
                latency_titles: sizes.latency_titles,
                vectors,
                dtype: c.variant.as_ref().and_then(|v| v.dtype).map(str::to_string),
            };
            child_command(exe, &spec)
        }
        Some(peer) => {
            let py = &plan.python.as_ref().expect("peers only with a python").path;
            let run = PeerRun {
                threads: w.args.threads,
                titles_file: &w.titles_file,
                titles: sizes.titles,
                latency_titles: sizes.latency_titles,
                vectors: &vectors,
            };
            Ok(peer_command(py, peer, &run))
        }
    }
}

impl Outcomes {
    /// Keeps one round's result for `c` and ends its progress line.
    fn record(&mut self, c: &Config, r: Result<Measurement>) {
        match r {
            Ok(m) => {
                eprintln!(
                    "{:>8.1} titles/s @32  p50 {:>7.2} ms @1  load {:.2}s  rss {}",
                    m.b32_titles_per_s,
                    m.b1_p50_ms,
                    m.load_s,
                    fmt_opt(m.peak_rss_mb, 0, " MB")
                );
                self.measurements.entry(c.id.clone()).or_default().push(m);
            }
            Err(e) => {
                eprintln!("FAILED: {e:#}");
                self.errors.insert(c.id.clone(), format!("{e:#}"));
            }
        }
    }
}

/// One row per configuration, in plan order: the medians over its rounds (parity still empty).
pub(crate) fn collect_rows(configs: &[Config], o: &Outcomes) -> Vec<Row> {
    configs
        .iter()
        .map(|c| {
            let ms = o.measurements.get(&c.id).map_or(&[][..], Vec::as_slice);
            median_row(c, ms, o.errors.get(&c.id).cloned())
        })
        .collect()
}

/// The row of `c` from its rounds `ms`: each number the median over the rounds.
fn median_row(c: &Config, ms: &[Measurement], error: Option<String>) -> Row {
    let med = |f: fn(&Measurement) -> f64| tb::median(&ms.iter().map(f).collect::<Vec<_>>());
    let rss: Vec<f64> = ms.iter().filter_map(|m| m.peak_rss_mb).collect();
    Row {
        id: c.id.clone(),
        model: c.model.clone(),
        folder: c.folder.clone(),
        engine: c.engine.clone(),
        format: c.format.clone(),
        peer: c.peer.is_some(),
        runs: ms.len(),
        n_titles: ms.first().map_or(0, |m| m.n_titles),
        load_s: med(|m| m.load_s),
        b32_titles_per_s: med(|m| m.b32_titles_per_s),
        b1_p50_ms: med(|m| m.b1_p50_ms),
        b1_p99_ms: med(|m| m.b1_p99_ms),
        b1_titles_per_s: med(|m| m.b1_titles_per_s),
        peak_rss_mb: (!rss.is_empty()).then(|| tb::median(&rss)),
        parity_min_cos: None,
        parity_ref: None,
        error,
        note: ms.iter().find_map(|m| m.note.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str) -> Config {
        Config {
            id: id.into(),
            model: "m".into(),
            folder: "f".into(),
            engine: "titlesim ort".into(),
            format: "onnx fp32".into(),
            peer: None,
            variant: None,
            heavy: false,
        }
    }

    fn m(b32: f64, rss: Option<f64>) -> Measurement {
        Measurement {
            b32_titles_per_s: b32,
            peak_rss_mb: rss,
            n_titles: 64,
            ..Measurement::default()
        }
    }

    #[test]
    fn rows_take_the_median_of_the_rounds_and_keep_failures() {
        let mut o = Outcomes::default();
        o.measurements.insert(
            "a".into(),
            vec![m(100.0, Some(10.0)), m(300.0, None), m(200.0, Some(30.0))],
        );
        o.errors.insert("b".into(), "exit 1".into());
        let rows = collect_rows(&[config("a"), config("b")], &o);
        assert_eq!((rows[0].runs, rows[0].n_titles), (3, 64));
        assert_eq!(rows[0].b32_titles_per_s, 200.0);
        assert_eq!(rows[0].peak_rss_mb, Some(20.0));
        assert!(rows[0].error.is_none());
        assert_eq!(
            (rows[1].runs, rows[1].error.as_deref()),
            (0, Some("exit 1"))
        );
        assert!(rows[1].b32_titles_per_s.is_nan() && rows[1].peak_rss_mb.is_none());
    }
}
