//! The command line of head2head.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;

use crate as tb;

/// Head-to-head backend benchmark (see the module documentation).
#[derive(Parser, Debug, Clone)]
#[command(name = "head2head")]
pub(crate) struct Args {
    /// Thread budget of every configuration (intra-op threads / rayon pool / torch threads).
    #[arg(long, default_value_t = 2)]
    pub(crate) threads: usize,
    /// Titles for the batch-32 throughput pass (from the titles file).
    #[arg(long, default_value_t = 1000)]
    pub(crate) titles: usize,
    /// Titles timed one by one for batch-1 latency (spread over the titles).
    #[arg(long, default_value_t = 200)]
    pub(crate) latency_titles: usize,
    /// Titles for 0.6B-class models (spread over the titles), batch 32.
    #[arg(long, default_value_t = 64)]
    pub(crate) heavy_titles: usize,
    /// Batch-1 titles for 0.6B-class models.
    #[arg(long, default_value_t = 8)]
    pub(crate) heavy_latency_titles: usize,
    /// Rounds over all configurations (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    /// Rounds for 0.6B-class models.
    #[arg(long, default_value_t = 1)]
    pub(crate) heavy_runs: usize,
    /// Tiny run for smoke tests (64 titles, 8 latency titles, one round, 0.6B models on 4 titles).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Only models whose folder or label contains one of these (comma-separated, case-insensitive).
    #[arg(long)]
    pub(crate) models: Option<String>,
    /// Only these backends (comma-separated: candle, ort, tract).
    #[arg(long)]
    pub(crate) backends: Option<String>,
    /// Skip the Python peers.
    #[arg(long)]
    pub(crate) no_peers: bool,
    /// Python interpreter for the peers (ONNX Runtime peer: onnxruntime, tokenizers, numpy; the
    /// sentence-transformers peer also needs sentence-transformers; the titlesim package's
    /// row needs `pip install ./crates/python`).
    #[arg(long)]
    pub(crate) python: Option<PathBuf>,
    /// The titles file.
    #[arg(long)]
    pub(crate) titles_file: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Internal: measure one configuration (JSON spec) and print its result as JSON.
    #[arg(long, hide = true)]
    pub(crate) child: Option<String>,
}

impl Args {
    /// `--quick`: shrinks every size to a smoke run (one round).
    pub(crate) fn apply_quick(&mut self) {
        if self.quick {
            self.titles = self.titles.min(64);
            self.latency_titles = self.latency_titles.min(8);
            self.heavy_titles = self.heavy_titles.min(4);
            self.heavy_latency_titles = self.heavy_latency_titles.min(2);
            self.runs = 1;
            self.heavy_runs = 1;
        }
    }

    /// Refuses sizes that would measure nothing.
    pub(crate) fn check(&self) -> Result<()> {
        if self.threads == 0 || self.runs == 0 || self.titles == 0 {
            bail!("--threads, --runs and --titles must be at least 1");
        }
        Ok(())
    }

    /// `--titles-file`, else `data/bench_titles.txt`.
    pub(crate) fn titles_file(&self) -> PathBuf {
        self.titles_file
            .clone()
            .unwrap_or_else(tb::default_titles_path)
    }

    /// `--out`, else `reports/bench` in the workspace.
    pub(crate) fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| tb::workspace_root().join("reports").join("bench"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_shrinks_the_run_and_zero_sizes_are_refused() {
        let mut a = Args::parse_from(["head2head", "--quick", "--titles", "500", "--runs", "5"]);
        a.apply_quick();
        assert_eq!((a.titles, a.latency_titles, a.runs), (64, 8, 1));
        assert_eq!(
            (a.heavy_titles, a.heavy_latency_titles, a.heavy_runs),
            (4, 2, 1)
        );
        assert!(a.check().is_ok());
        let mut b = Args::parse_from(["head2head", "--titles", "10"]);
        b.apply_quick();
        assert_eq!(
            (b.titles, b.runs),
            (10, 3),
            "without --quick the sizes stay"
        );
        assert!(Args::parse_from(["head2head", "--threads", "0"])
            .check()
            .is_err());
    }
}
