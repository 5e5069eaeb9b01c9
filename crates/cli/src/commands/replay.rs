//! `titlesim replay`: re-score past pairs with the configuration's canonical and shadow models
//! into a shadow log, on DataFusion.

use std::path::PathBuf;

use anyhow::Result;

use super::shared::{BatchArgs, ChunkArgs};

/// Vectors remembered per model by default (`titlesim_replay::cache::DEFAULT_CAPACITY`).
const CACHE_TITLES: usize = 200_000;

/// Re-score past pairs with the canonical and shadow models into a shadow log.
///
/// The history is a Parquet, CSV or JSON-lines file (or a folder of one kind) with columns
/// id, product and gt (optional: phase, label 0/1, ts as RFC 3339 or a timestamp), or a
/// titlesim shadow log (its titles are scored again). Every selected pair gets one record in
/// the shadow log schema, marked `replayed_at`, its `ts` the original pair's when the history
/// has one: `calibrate`, `review` and `promote` read it as they read a live log. Every pair
/// gets the shadow ([shadow_options] sample_rate and enabled are for live traffic). Each
/// distinct title is embedded once per model; the GT store is used when configured.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML) with [canonical] and [shadow].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,

    /// The history: a .parquet, .csv or .jsonl file, a folder of them, or a shadow log.
    #[arg(long, short = 'p', value_name = "HISTORY")]
    pub pairs: PathBuf,

    /// The shadow log to write (its folders created).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: PathBuf,

    /// SQL condition on the history's columns selecting the rows to replay, e.g.
    /// "phase = 'race' AND to_timestamp(ts) >= '2026-06-01T00:00:00Z'" [default: every row].
    /// Columns are as stored: a `ts` of RFC 3339 text compares as text (wrong across UTC
    /// offsets), so compare times through to_timestamp(ts), which reads them as UTC instants;
    /// a CSV's columns are all text (label = '1', not label = 1).
    #[arg(long = "where", value_name = "SQL")]
    pub predicate: Option<String>,

    /// Continue an interrupted replay: pairs the log at --out holds are not scored again (a
    /// log of other models or thresholds is refused).
    #[arg(long)]
    pub resume: bool,

    /// Thread budget: DataFusion's partitions and each model's compute threads (the models
    /// take turns, so never more are busy) [default: each model computes on its own `threads`;
    /// DataFusion's partitions are [canonical] `threads`, else all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=titlesim::core::config::MAX_THREADS as i64))]
    pub threads: Option<u32>,

    #[command(flatten)]
    pub chunk: ChunkArgs,

    /// Vectors remembered per model (oldest forgotten first); 0 embeds every title of every
    /// chunk.
    #[arg(long, value_name = "N", default_value_t = CACHE_TITLES)]
    pub cache_titles: usize,

    #[command(flatten)]
    pub batch: BatchArgs,

    /// Print the summary as one JSON object on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `cfg` with the command line's thread budget, when given.
#[cfg(feature = "replay")]
pub(crate) fn with_threads(
    mut cfg: titlesim::ModelConfig,
    threads: Option<u32>,
) -> titlesim::ModelConfig {
    if let Some(t) = threads {
        cfg.threads = Some(t as usize);
    }
    cfg
}

/// The number of cores, for a default thread budget.
#[cfg(feature = "replay")]
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    #[cfg(feature = "replay")]
    return imp::run(args);
    #[cfg(not(feature = "replay"))]
    {
        let _ = args;
        Err(not_built("replay"))
    }
}

/// The error of a command this binary was built without.
#[cfg(not(feature = "replay"))]
pub(crate) fn not_built(command: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "this titlesim was built without `titlesim {command}` (cargo feature `replay`, on by \
         default; `cargo xtask demo` leaves it out): cargo build --release -p titlesim-cli"
    )
}

#[cfg(feature = "replay")]
mod imp {
    use super::*;
    use anyhow::{bail, Context};
    use titlesim::Config;
    use titlesim_replay::{ReplayOptions, ReplaySummary};

    use super::super::shared::{config_inputs, load_scorer, pct, progress_bar, refuse_overwriting};

    #[test]
    fn the_default_cache_is_the_library_s() {
        assert_eq!(CACHE_TITLES, titlesim_replay::cache::DEFAULT_CAPACITY);
    }

    /// The lines of the file at `p` (0 when it cannot be read), counted a block at a time: a
    /// log of gigabytes is not read into memory to be counted.
    fn line_count(p: &std::path::Path) -> usize {
        use std::io::Read;
        let Ok(mut f) = std::fs::File::open(p) else {
            return 0;
        };
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0;
        loop {
            match f.read(&mut buf) {
                Ok(0) => return n,
                Ok(k) => n += buf[..k].iter().filter(|&&c| c == b'\n').count(),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return n,
            }
        }
    }

    /// Refuses a log inside the history folder: the folder is read whole when the query runs,
    /// so a resumed run would read its own records back as history (counted as pairs, or
    /// refused as a torn line when the last run was cut off), and a folder of another kind
    /// would mix kinds.
    fn refuse_out_in_history(out: &std::path::Path, history: &std::path::Path) -> Result<()> {
        if !history.is_dir() {
            return Ok(());
        }
        // `out` made absolute with its `..` taken back (`nope/../history/r.jsonl` is in the
        // history), then the nearest of its folders that exists: the log's own folders may be
        // made by the run itself (`-o history/new/replay.jsonl`).
        let Ok(cwd) = std::env::current_dir() else {
            return Ok(());
        };
        let mut full = std::path::PathBuf::new();
        for c in cwd.join(out).components() {
            match c {
                std::path::Component::ParentDir => {
                    full.pop();
                }
                std::path::Component::CurDir => {}
                c => full.push(c),
            }
        }
        let mut parent = full.parent();
        while let Some(p) = parent.filter(|p| !p.exists()) {
            parent = p.parent();
        }
        let (Ok(folder), Some(Ok(dir))) =
            (history.canonicalize(), parent.map(|p| p.canonicalize()))
        else {
            return Ok(());
        };
        if dir.starts_with(&folder) {
            bail!(
                "--out {} is inside the history folder {}: the folder is read whole, so a \
                 resumed run would read its own records back as history; write the log outside it",
                out.display(),
                history.display()
            );
        }
        Ok(())
    }

    pub(super) fn run(args: Args) -> Result<()> {
        let config = Config::from_file(&args.config)?;
        let Some(shadow_cfg) = config.shadow.as_ref() else {
            bail!(
                "{}: no [shadow] table: replay scores the history with a candidate model beside the \
                 canonical one; add a [shadow] table naming it",
                args.config.display()
            );
        };
        // The log must not be the history or another input: with --resume, records would be
        // appended to the file being read.
        let mut inputs = vec![(args.pairs.as_path(), "the history")];
        inputs.extend(config_inputs(&args.config, &config));
        refuse_overwriting("--out", &args.out, &inputs)?;
        refuse_out_in_history(&args.out, &args.pairs)?;
        let canonical = load_scorer(
            &with_threads(args.batch.apply(&config.canonical), args.threads),
            "canonical",
            &args.config,
        )?;
        let shadow = load_scorer(
            &with_threads(args.batch.apply(shadow_cfg), args.threads),
            "shadow",
            &args.config,
        )?;
        let opts = ReplayOptions {
            predicate: args.predicate.clone(),
            partitions: args
                .threads
                .map(|t| t as usize)
                .or(config.canonical.threads)
                .unwrap_or_else(cores),
            chunk: args.chunk.chunk_size as usize,
            cache_titles: args.cache_titles,
            resume: args.resume,
            fsync: config.shadow_options.fsync,
        };
        let rt = super::super::shared::runtime()?;
        let bar = progress_bar(0, "pairs");
        let progress = |done: u64, total: u64| {
            bar.set_length(total);
            bar.set_position(done);
        };
        let lines = line_count;
        let records_before = lines(&args.out);
        let summary = rt
            .block_on(titlesim_replay::replay(
                &args.pairs,
                &args.out,
                &canonical,
                &shadow,
                &opts,
                &progress,
            ))
            .with_context(|| {
                // What this run replayed before the error is in the log: say so, and how to
                // go on (nothing when it wrote nothing, e.g. a log refused without --resume).
                let records = lines(&args.out);
                let log = if records > records_before {
                    format!(
                        "; {} holds the {records} record(s) written before it: the log is not \
                         complete, so fix the cause and rerun with --resume to finish it",
                        args.out.display()
                    )
                } else {
                    String::new()
                };
                format!("replaying {}{log}", args.pairs.display())
            })?;
        bar.finish_and_clear();
        for n in &summary.notes {
            eprintln!("note: {n}");
        }
        if args.json {
            outln!("{}", serde_json::to_string(&json_summary(&summary, &args))?)?;
        } else {
            eprint!("{}", render(&summary, &args, &canonical, &shadow));
        }
        Ok(())
    }

    fn json_summary(s: &ReplaySummary, args: &Args) -> serde_json::Value {
        serde_json::json!({
            "history": args.pairs.display().to_string(),
            "log": args.out.display().to_string(),
            "selected": s.selected,
            "scored": s.scored,
            "resumed": s.resumed,
            "repeated_records_dropped": s.repeated,
            "missing_titles": s.missing_titles,
            "titles_in_pairs": s.titles_in_pairs(),
            "titles_embedded": s.titles_embedded(),
            "canonical_embedded": s.canonical.embedded,
            "shadow_embedded": s.shadow.embedded,
            "gt_from_store": s.gt_from_store,
            "seconds": s.seconds,
            "pairs_per_second": if s.seconds > 0.0 { s.scored as f64 / s.seconds } else { 0.0 },
            "summary": s.tally,
        })
    }

    fn render(
        s: &ReplaySummary,
        args: &Args,
        canonical: &titlesim::CosineScorer,
        shadow: &titlesim::CosineScorer,
    ) -> String {
        use titlesim::Scorer;
        let mut o = format!(
            "replay: {} pairs selected ({} scored now, {} already in the log) in {:.2} s ({:.0} pairs/s)\n",
            s.selected,
            s.scored,
            s.resumed,
            s.seconds,
            if s.seconds > 0.0 { s.scored as f64 / s.seconds } else { 0.0 }
        );
        if s.repeated > 0 {
            o.push_str(&format!(
                "warning: {} records of the history repeated a pair id; the first of each counted\n",
                s.repeated
            ));
        }
        let in_pairs = s.titles_in_pairs();
        o.push_str(&format!(
            "titles: {} in the pairs ({} GT vectors from stores), {} embedded ({} canonical, {} \
             shadow): {:.1}% saved by embedding each distinct title once\n",
            in_pairs,
            s.gt_from_store,
            s.titles_embedded(),
            s.canonical.embedded,
            s.shadow.embedded,
            if in_pairs == 0 {
                0.0
            } else {
                100.0 - pct(s.titles_embedded() as usize, in_pairs as usize).min(100.0)
            }
        ));
        o.push_str(&format!(
            "canonical: {} on {}; shadow: {} on {}\n",
            canonical.info().model,
            canonical.info().backend,
            shadow.info().model,
            shadow.info().backend
        ));
        o.push_str(
            &s.tally
                .render(canonical.threshold(), Some(shadow.threshold())),
        );
        o.push_str(&format!("log: {}\n", args.out.display()));
        o
    }
}
