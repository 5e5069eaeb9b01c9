//! `titlesim score`: judge product/ground-truth pairs with the canonical model of a config.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use titlesim::io::read_pairs;
use titlesim::{Config, Pair, PairScore, Scorer};

pub use super::shared::Format;
use super::shared::{
    left_as_it_was, load_scorer, open_results, output_format, pct, progress_bar,
    refuse_overwriting, runtime, BatchArgs, ChunkArgs, VerdictWriter,
};

/// Score product/ground-truth pairs with the canonical model of a config file.
///
/// A pair passes when the cosine of its two embeddings is at or above the configured
/// threshold. Prints `id, cosine, threshold, pass` per pair, in input order, on standard
/// output (or --out); a summary (pass rate overall and per phase, agreement with labels
/// when the file has them, how many ground-truth titles came from the GT store, time and
/// titles/s) goes to standard error, with a progress bar when standard error is a terminal.
///
/// When [canonical] names a `gt_store` (built by `titlesim precompute`), ground-truth titles
/// found there are not encoded; the verdicts are the same as without it. A store of another
/// model or dimension is refused.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML) whose [canonical] section names the model, backend and
    /// threshold.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,

    /// Pairs file: CSV with a header (columns id, product, gt; optional phase, label) or
    /// JSON lines (.jsonl/.ndjson/.json) with the same fields; `-` reads standard input.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub pairs: PathBuf,

    /// Output format [default: jsonl for an --out FILE named .jsonl, .ndjson or .json, else
    /// csv]; one that the --out FILE's name contradicts is refused.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,

    /// Write the results to FILE (its folders created) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub chunk: ChunkArgs,

    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Verdict counts for one phase, or for all pairs.
#[derive(Default)]
struct Counts {
    pairs: usize,
    passed: usize,
    labelled: usize,
    agree: usize,
    gt_from_store: usize,
    /// Titles the model was asked for: not a pair's with a blank title (under the default
    /// rule), nor a GT title taken from the store.
    encoded: usize,
}

impl Counts {
    fn add(&mut self, p: &Pair, s: &PairScore, encodes: bool) {
        self.pairs += 1;
        self.gt_from_store += usize::from(s.gt_from_store);
        if encodes {
            self.encoded += 2 - usize::from(s.gt_from_store);
        }
        self.passed += usize::from(s.pass);
        if let Some(l) = p.label {
            self.labelled += 1;
            self.agree += usize::from((l == 1) == s.pass);
        }
    }
}

/// What the summary reports: counts overall and per phase, phases in the order they first
/// appear in the input.
#[derive(Default)]
struct Summary {
    total: Counts,
    phases: Vec<(String, Counts)>,
}

impl Summary {
    fn add(&mut self, p: &Pair, s: &PairScore, encodes: bool) {
        self.total.add(p, s, encodes);
        if let Some(ph) = &p.phase {
            let i = match self.phases.iter().position(|(name, _)| name == ph) {
                Some(i) => i,
                None => {
                    self.phases.push((ph.clone(), Counts::default()));
                    self.phases.len() - 1
                }
            };
            self.phases[i].1.add(p, s, encodes);
        }
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let format = output_format(args.format, args.out.as_deref())?;
    let config = Config::from_file(&args.config)?;
    let canonical = &args.batch.apply(&config.canonical);
    if let Some(out) = &args.out {
        let mut inputs = vec![
            (args.pairs.as_path(), "the pairs file"),
            (args.config.as_path(), "the configuration"),
        ];
        inputs.extend(
            canonical
                .gt_store
                .as_deref()
                .map(|s| (s, "the [canonical] GT store")),
        );
        refuse_overwriting("--out", out, &inputs)?;
    }
    // Read the pairs first: input errors show before the model loads.
    let pairs = read_pairs(&args.pairs)?;

    let t_load = Instant::now();
    let scorer = load_scorer(canonical, "canonical", &args.config)?;
    let load_time = t_load.elapsed();

    let mut sink = VerdictWriter::new(format, open_results(args.out.as_deref())?)?;
    let bar = progress_bar(pairs.len() as u64, "pairs");
    let rt = runtime()?;
    let mut counts = Summary::default();
    let t_score = Instant::now();
    let scored = (|| -> Result<()> {
        for chunk in pairs.chunks(args.chunk.chunk_size as usize) {
            let scores = rt.block_on(scorer.score_batch(chunk))?;
            anyhow::ensure!(
                scores.len() == chunk.len() && scores.iter().zip(chunk).all(|(s, p)| s.id == p.id),
                "the scorer returned {} scores (or other pair ids) for {} pairs",
                scores.len(),
                chunk.len()
            );
            for (p, s) in chunk.iter().zip(&scores) {
                sink.row(s)?;
                counts.add(p, s, scorer.encodes(p));
            }
            sink.flush()?;
            bar.inc(chunk.len() as u64);
        }
        Ok(())
    })();
    let score_time = t_score.elapsed();
    bar.finish_and_clear();
    scored
        .and_then(|()| sink.finish())
        .with_context(|| left_as_it_was(args.out.as_deref()))?;

    eprint!(
        "{}",
        summary(
            &counts,
            scorer.threshold(),
            canonical,
            load_time,
            score_time
        )
    );
    Ok(())
}

fn summary(
    counts: &Summary,
    threshold: f32,
    canonical: &titlesim::ModelConfig,
    load_time: Duration,
    score_time: Duration,
) -> String {
    let (total, phases) = (&counts.total, &counts.phases);
    let mut s = format!(
        "scored {} pairs with {} on {} at threshold {threshold}: {} passed ({:.1}%)\n",
        total.pairs,
        canonical.model,
        canonical.backend,
        total.passed,
        pct(total.passed, total.pairs)
    );
    if !phases.is_empty() {
        let in_phase: usize = phases.iter().map(|(_, t)| t.pairs).sum();
        for (name, t) in phases {
            s += &format!(
                "  phase {name}: {} pairs, {} passed ({:.1}%)\n",
                t.pairs,
                t.passed,
                pct(t.passed, t.pairs)
            );
        }
        if in_phase < total.pairs {
            let n = total.pairs - in_phase;
            let p = total.passed - phases.iter().map(|(_, t)| t.passed).sum::<usize>();
            s += &format!(
                "  phase (none): {n} pairs, {p} passed ({:.1}%)\n",
                pct(p, n)
            );
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
    if canonical.gt_store.is_some() {
        s += &format!(
            "  GT store: {} of {} GT titles taken from the store\n",
            total.gt_from_store, total.pairs
        );
    }
    let secs = score_time.as_secs_f64();
    // The titles the model was asked to encode: not those of a pair with a blank title, nor
    // GT titles taken from the store.
    let titles = total.encoded;
    s += &format!(
        "  elapsed: {:.2} s scoring ({titles} titles encoded, {:.1} titles/s) + {:.2} s loading the model\n",
        secs,
        if secs > 0.0 { titles as f64 / secs } else { 0.0 },
        load_time.as_secs_f64()
    );
    s
}
