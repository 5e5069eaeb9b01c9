//! `titlesim score`: judge product/ground-truth pairs with the canonical model of a config.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use titlesim::io::{read_pairs, PairInput};
use titlesim::{Config, Score, Scorer};

pub use super::verdicts::Format;
use super::verdicts::{progress_bar, VerdictWriter};

/// Default number of pairs scored per call to the model (the progress bar moves once per
/// chunk).
pub const CHUNK: usize = 256;

/// Score product/ground-truth pairs with the canonical model of a config file.
///
/// A pair passes when the cosine of its two embeddings is at or above the configured
/// threshold. Prints `id, cosine, threshold, pass` per pair, in input order, on standard
/// output (or --out); a summary (pass rate overall and per phase, agreement with labels
/// when the file has them, time and titles/s) goes to standard error, with a progress bar
/// when standard error is a terminal.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML) whose [canonical] section names the model, backend and
    /// threshold.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,

    /// Pairs file: CSV with a header (columns id, product, gt; optional phase, label) or
    /// JSON lines (.jsonl/.json) with the same fields; `-` reads standard input.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub pairs: PathBuf,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value = "csv")]
    pub format: Format,

    /// Write the results to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Pairs sent to the model at a time; results are written and the progress bar moves
    /// after each chunk.
    #[arg(long, value_name = "N", default_value_t = CHUNK as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_size: u32,
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    pairs: usize,
    passed: usize,
    labelled: usize,
    agree: usize,
}

impl Tally {
    fn add(&mut self, p: &PairInput, s: &Score) {
        self.pairs += 1;
        self.passed += usize::from(s.pass);
        if let Some(l) = p.label {
            self.labelled += 1;
            self.agree += usize::from((l == 1) == s.pass);
        }
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let config = Config::from_file(&args.config)?;
    // Read the pairs first: input errors show before the model loads.
    let pairs = read_pairs(&args.pairs)?;
    let canonical = &config.canonical;

    let t_load = Instant::now();
    let scorer = titlesim::load_scorer(canonical)?;
    let load_time = t_load.elapsed();

    let out: Box<dyn Write> = match &args.out {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(std::io::stdout()),
    };
    let mut sink = VerdictWriter::new(args.format, out)?;
    let bar = progress_bar(pairs.len() as u64);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut total = Tally::default();
    let mut phases: BTreeMap<(usize, String), Tally> = BTreeMap::new();
    let mut phase_order: Vec<String> = Vec::new();
    let t_score = Instant::now();
    for chunk in pairs.chunks(args.chunk_size as usize) {
        let texts: Vec<(String, String)> = chunk
            .iter()
            .map(|p| (p.product.clone(), p.gt.clone()))
            .collect();
        let scores = rt.block_on(scorer.score_batch(&texts))?;
        anyhow::ensure!(
            scores.len() == chunk.len(),
            "the scorer returned {} scores for {} pairs",
            scores.len(),
            chunk.len()
        );
        for (p, s) in chunk.iter().zip(&scores) {
            sink.row(&p.id, s)?;
            total.add(p, s);
            if let Some(ph) = &p.phase {
                let idx = match phase_order.iter().position(|x| x == ph) {
                    Some(i) => i,
                    None => {
                        phase_order.push(ph.clone());
                        phase_order.len() - 1
                    }
                };
                phases.entry((idx, ph.clone())).or_default().add(p, s);
            }
        }
        sink.flush()?;
        bar.inc(chunk.len() as u64);
    }
    let score_time = t_score.elapsed();
    bar.finish_and_clear();
    sink.flush()?;

    eprint!(
        "{}",
        summary(
            &total,
            &phases,
            scorer.threshold(),
            canonical,
            load_time,
            score_time
        )
    );
    Ok(())
}

fn summary(
    total: &Tally,
    phases: &BTreeMap<(usize, String), Tally>,
    threshold: f32,
    canonical: &titlesim::ModelConfig,
    load_time: Duration,
    score_time: Duration,
) -> String {
    let mut s = format!(
        "scored {} pairs with {} on {} at threshold {threshold}: {} passed ({:.1}%)\n",
        total.pairs,
        canonical.model,
        canonical.backend,
        total.passed,
        pct(total.passed, total.pairs)
    );
    if !phases.is_empty() {
        let in_phase: usize = phases.values().map(|t| t.pairs).sum();
        for ((_, name), t) in phases {
            s += &format!(
                "  phase {name}: {} pairs, {} passed ({:.1}%)\n",
                t.pairs,
                t.passed,
                pct(t.passed, t.pairs)
            );
        }
        if in_phase < total.pairs {
            let n = total.pairs - in_phase;
            let p = total.passed - phases.values().map(|t| t.passed).sum::<usize>();
            s += &format!("  no phase: {n} pairs, {p} passed ({:.1}%)\n", pct(p, n));
        }
    }
    if total.labelled > 0 {
        s += &format!(
            "  labels: the verdict agrees with the label on {} of {} labelled pairs ({:.1}%)\n",
            total.agree,
            total.labelled,
            pct(total.agree, total.labelled)
        );
    }
    let secs = score_time.as_secs_f64();
    let titles = 2 * total.pairs;
    s += &format!(
        "  elapsed: {:.2} s scoring ({titles} titles, {:.1} titles/s) + {:.2} s loading the model\n",
        secs,
        if secs > 0.0 { titles as f64 / secs } else { 0.0 },
        load_time.as_secs_f64()
    );
    s
}
