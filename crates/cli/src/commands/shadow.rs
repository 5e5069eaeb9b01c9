//! `titlesim shadow`: score pairs with the canonical model while the shadow model is logged
//! beside it.

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use super::shared::Format;
use super::shared::{
    config_inputs, left_as_it_was, load_scorer, open_results, output_format, progress_bar,
    refuse_overwriting, runtime, BatchArgs, ChunkArgs, VerdictWriter,
};
use anyhow::{bail, Context, Result};
use titlesim::config::EmfTarget;
use titlesim::io::read_pairs;
use titlesim::{Config, CosineScorer, Pair, PairScore, Score, Scorer, ShadowRecord};
use titlesim_log::same_file;
use titlesim_shadow::{
    lost_records, open_sinks, ResumeState, ShadowScorer, ShadowSettings, SinkStatus, Tally,
};

/// Score pairs with the canonical model while the shadow model runs beside it.
///
/// The canonical verdicts are printed exactly as `titlesim score` prints them (`id, cosine,
/// threshold, pass`, in input order) on standard output or --out. Every pair also gets one
/// record in the JSONL shadow log with both models' cosines, verdicts and timings (and in the
/// CloudWatch EMF output when [shadow_options] emf is set). The shadow's errors and timeouts
/// are recorded, never raised; a shadow model that fails to load is reported (twice, at the
/// start and in the summary) and the run goes on with the canonical model only. The log is
/// locked for the run: a second run on the same log is refused. A summary of canonical and shadow pass rates and their
/// agreement goes to standard error, with a progress bar when it is a terminal.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML) with [canonical], [shadow] and optionally [shadow_options].
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,

    /// Pairs file: CSV with a header (columns id, product, gt; optional phase, label) or
    /// JSON lines (.jsonl/.ndjson/.json) with the same fields; `-` reads standard input.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub pairs: PathBuf,

    /// Phase of the pairs that have none in the file (trimmed; checked as a file's phases
    /// are: no control characters, at most 1,024 bytes, not `(none)` or `(pooled)`).
    #[arg(long, value_name = "PHASE", value_parser = phase_arg)]
    pub phase: Option<String>,

    /// The JSONL shadow log [default: [shadow_options] log].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Continue an interrupted run: pairs that already have a record in the log are not
    /// scored again (their canonical results are printed from the log). A record is reused
    /// only for the same pair: an id whose titles, phase or label differ from the log's is an
    /// error naming it.
    #[arg(long)]
    pub resume: bool,

    /// Output format of the canonical results [default: jsonl for an --out FILE named
    /// .jsonl, .ndjson or .json, else csv]; one that the --out FILE's name contradicts is
    /// refused.
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<Format>,

    /// Write the canonical results to FILE (its folders created) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub chunk: ChunkArgs,

    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Runs the command: check the outputs, read the pairs, load both models, pick up what an
/// interrupted run logged, score in chunks, then summarise.
pub fn run(args: Args) -> Result<()> {
    let config = Config::from_file(&args.config)?;
    let log = check_outputs(&args, &config)?;
    let format = output_format(args.format, args.out.as_deref())?;
    // Read the pairs first: input errors show before the models load.
    let pairs = read_input(&args)?;

    // Open the log (taking its write lock) before anything reads it or loads for minutes: a
    // second run on the same log stops here.
    let opts = &config.shadow_options;
    let (sinks, notes) = open_sinks(opts, Some(&log))?;
    for n in notes {
        eprintln!("note: {n}");
    }

    let t_load = Instant::now();
    let mut shadow_failure = None;
    let (canonical, shadow) = load_sides(&args, &config, &mut shadow_failure)?;
    let load_time = t_load.elapsed();
    let resumed = resume_state(&args, &log, &canonical, shadow.as_ref())?;
    resumed.check_pairs(&pairs)?;

    let mut out = VerdictWriter::new(format, open_results(args.out.as_deref())?)?;
    let rt = runtime()?;
    let settings = ShadowSettings::from_options(opts);
    let scorer = rt.block_on(async { ShadowScorer::new(canonical, shadow, settings, sinks) })?;

    let t_score = Instant::now();
    let scored = score_all(
        &rt,
        &scorer,
        &pairs,
        &resumed,
        &mut out,
        args.chunk.chunk_size,
    );
    let score_time = t_score.elapsed();
    // Whatever happened, write the records of the batches that were scored.
    let report = rt.block_on(scorer.finish())?;
    let (resumed_tally, n_resumed) = scored
        .and_then(|done| out.finish().map(|()| done))
        .with_context(|| {
            format!(
                "{}; the log {} holds the records of the chunks scored before the error: fix \
                 the cause and rerun with --resume to finish it",
                left_as_it_was(args.out.as_deref()),
                log.display()
            )
        })?;

    let mut tally = report.tally.clone();
    tally.merge(&resumed_tally);
    let c = scorer.canonical();
    eprintln!(
        "shadow run: {} pairs ({} scored now, {} resumed from the log) in {:.2} s + {:.2} s loading",
        pairs.len(),
        pairs.len() - n_resumed,
        n_resumed,
        score_time.as_secs_f64(),
        load_time.as_secs_f64()
    );
    eprintln!(
        "canonical: {} on {}; shadow: {}",
        c.info().model,
        c.info().backend,
        scorer
            .shadow()
            .map(|s| format!("{} on {}", s.info().model, s.info().backend))
            .unwrap_or_else(|| "off".into())
    );
    eprint!(
        "{}",
        tally.render(c.threshold(), scorer.shadow().map(|s| s.threshold()))
    );
    eprintln!("log: {}", log.display());
    if let Some(why) = shadow_failure {
        eprintln!("warning: {why}");
    }
    refuse_lost_records(&report.sinks)
}

/// The shadow log to write, after checking that the outputs make sense: a `[shadow]` to run,
/// a log named, EMF and results not both on standard output, an existing log only with
/// `--resume`.
fn check_outputs(args: &Args, config: &Config) -> Result<PathBuf> {
    if config.shadow.is_none() {
        bail!(
            "{}: no [shadow] table, so there is nothing to shadow (add one naming the candidate \
             model, or use `titlesim score`)",
            args.config.display()
        );
    }
    let opts = &config.shadow_options;
    let Some(log) = args.log.clone().or_else(|| opts.log.clone()) else {
        bail!(
            "no shadow log: pass --log FILE or set `log` in [shadow_options] of {}",
            args.config.display()
        );
    };
    if opts.emf_target() == Some(EmfTarget::Stdout) && args.out.is_none() {
        bail!(
            "[shadow_options] emf = \"stdout\" and the results also go to standard output: \
             pass --out FILE for the results (or send emf to a file)"
        );
    }
    if let Some(out) = &args.out {
        if same_file(out, &log) {
            bail!(
                "--out {} is the shadow log: the results would overwrite the log and mix with its \
                 records; write them to another file",
                out.display()
            );
        }
    }
    // Neither output may be an input (or the EMF file): the pairs replaced by verdicts, or
    // log records appended to the pairs file with --resume.
    let emf = match opts.emf_target() {
        Some(EmfTarget::File(p)) => Some(p),
        _ => None,
    };
    let mut inputs = vec![(args.pairs.as_path(), "the pairs file")];
    inputs.extend(config_inputs(&args.config, config));
    inputs.extend(
        emf.as_deref()
            .map(|p| (p, "the EMF file ([shadow_options] emf)")),
    );
    // Said as the user gave it: the flag, or the configuration's key.
    let log_from = if args.log.is_some() {
        "--log"
    } else {
        "[shadow_options] log"
    };
    refuse_overwriting(log_from, &log, &inputs)?;
    // The EMF file against the pairs file (the configuration's own files are checked when it
    // is read): EMF lines appended to the pairs, after a "torn" last row was cut off.
    if let Some(emf) = &emf {
        refuse_overwriting(
            "[shadow_options] emf",
            emf,
            &[(args.pairs.as_path(), "the pairs file")],
        )?;
    }
    if let Some(out) = &args.out {
        refuse_overwriting("--out", out, &inputs)?;
    }
    if let Some(m) = std::fs::metadata(&log).ok().filter(|m| !m.is_file()) {
        bail!(
            "the shadow log {} is a {}: it must be a regular file (it is read back by --resume \
             and calibrate)",
            log.display(),
            titlesim_log::file_kind(&m)
        );
    }
    let log_len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    if log_len > 0 && !args.resume {
        bail!(
            "the shadow log {} already exists: pass --resume to continue it, or choose another --log",
            log.display()
        );
    }
    Ok(log)
}

/// `--phase` as a pairs file's phase must be (a record whose phase breaks the rules is
/// skipped by the log's readers, so such a run's pairs would drop out of calibrate, review and
/// burn-in); a blank one is refused, not taken as none.
fn phase_arg(s: &str) -> std::result::Result<String, String> {
    let pair = Pair {
        id: "--phase".into(),
        product: String::new(),
        gt: String::new(),
        phase: Some(s.to_string()),
        label: None,
    };
    match pair.checked() {
        Ok(Pair { phase: Some(p), .. }) => Ok(p),
        Ok(_) => Err("the phase is blank: give one, or leave --phase out".into()),
        Err(e) => Err(format!("the phase {}", e.problem)),
    }
}

/// The pairs, with `--phase` given to those that have none.
fn read_input(args: &Args) -> Result<Vec<Pair>> {
    let mut pairs: Vec<Pair> = read_pairs(&args.pairs)?.into_pairs();
    if let Some(phase) = &args.phase {
        for p in pairs.iter_mut().filter(|p| p.phase.is_none()) {
            p.phase = Some(phase.clone());
        }
    }
    Ok(pairs)
}

/// The canonical scorer, and the shadow's unless `[shadow_options] enabled = false` or it
/// fails to load (then `shadow_failure` says why).
fn load_sides(
    args: &Args,
    config: &Config,
    shadow_failure: &mut Option<String>,
) -> Result<(CosineScorer, Option<CosineScorer>)> {
    let canonical = load_scorer(
        &args.batch.apply(&config.canonical),
        "canonical",
        &args.config,
    )?;
    let shadow = match config.active_shadow() {
        // The shadow never fails a canonical run: without it, the run goes on and says why.
        Some(s) => {
            let (scorer, warnings) = titlesim::load_shadow_scorer(&args.batch.apply(s));
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            if scorer.is_none() {
                *shadow_failure = warnings.last().cloned();
            }
            scorer
        }
        None => {
            eprintln!(
                "note: [shadow_options] enabled = false: the shadow model {} is not run; the log \
                 gets the canonical side only",
                config.shadow.as_ref().map_or("", |s| s.model.as_str())
            );
            None
        }
    };
    Ok((canonical, shadow))
}

/// With `--resume`, what the log already holds (saying what was skipped or duplicated there);
/// otherwise nothing.
fn resume_state(
    args: &Args,
    log: &Path,
    canonical: &CosineScorer,
    shadow: Option<&CosineScorer>,
) -> Result<ResumeState> {
    if !args.resume {
        return Ok(ResumeState::default());
    }
    let st = ResumeState::load(log, canonical, shadow)?;
    for s in &st.skipped {
        eprintln!(
            "note: {}:{}: skipped ({}); the pair is scored again",
            log.display(),
            s.line,
            s.reason
        );
    }
    if st.duplicates > 0 {
        eprintln!(
            "warning: {} holds {} duplicate records; the first of each pair counts",
            log.display(),
            st.duplicates
        );
    }
    Ok(st)
}

/// Scores the pairs in chunks, writing every canonical result in input order (resumed ones
/// from the log); returns the tally of the resumed records and how many there were.
fn score_all(
    rt: &tokio::runtime::Runtime,
    scorer: &ShadowScorer,
    pairs: &[Pair],
    resumed: &ResumeState,
    out: &mut VerdictWriter,
    chunk_size: u32,
) -> Result<(Tally, usize)> {
    let bar = progress_bar(pairs.len() as u64, "pairs");
    let mut resumed_tally = Tally::default();
    let mut n_resumed = 0usize;
    let mut warned = vec![false; scorer.sink_statuses().len()];
    let result: Result<()> = (|| {
        for chunk in pairs.chunks(chunk_size as usize) {
            let todo: Vec<Pair> = chunk
                .iter()
                .filter(|p| resumed.get(p).is_none())
                .cloned()
                .collect();
            let scores = rt.block_on(scorer.score_batch(&todo))?;
            // Results carry their pair ids: each fresh one must be the next pair not resumed.
            let mut fresh = scores.into_iter();
            for p in chunk {
                let s = match resumed.get(p) {
                    Some(r) => {
                        n_resumed += 1;
                        resumed_tally.add(r);
                        from_log(p, r)
                    }
                    None => fresh.next().filter(|s| s.id == p.id).with_context(|| {
                        format!("the scorer returned no score for pair `{}`", p.id)
                    })?,
                };
                out.row(&s)?;
            }
            out.flush()?;
            bar.inc(chunk.len() as u64);
            for (i, st) in scorer.sink_statuses().iter().enumerate() {
                if st.batches_failed > 0 && !warned[i] {
                    warned[i] = true;
                    bar.suspend(|| {
                        eprintln!(
                            "warning: sink {} failed: {}; canonical results continue",
                            st.name,
                            st.last_error.as_deref().unwrap_or("?")
                        )
                    });
                }
            }
            // Keep the shadow from falling far behind (each batch waits at most its budget),
            // unless it is timing out: then waiting would only slow the canonical results.
            if !scorer.shadow_behind() {
                rt.block_on(scorer.wait_backlog(2));
            }
        }
        Ok(())
    })();
    bar.finish_and_clear();
    result.map(|()| (resumed_tally, n_resumed))
}

/// The canonical result an earlier run logged for `p`.
fn from_log(p: &Pair, r: &ShadowRecord) -> PairScore {
    PairScore {
        id: p.id.clone(),
        score: Score {
            cosine: r.canonical.cosine.unwrap_or(f32::NAN),
            threshold: r.canonical.threshold,
            pass: r.canonical.pass.unwrap_or(false),
        },
        gt_from_store: false,
    }
}

/// An error when a sink lost records: the canonical results are complete, the log is not.
fn refuse_lost_records(sinks: &[SinkStatus]) -> Result<()> {
    if let Some(lost) = lost_records(sinks) {
        // --resume scores again only the pairs the log lacks, and writes their EMF lines
        // then; an EMF line lost for a pair the log holds is not written again.
        let emf_only = sinks
            .iter()
            .filter(|s| s.records_failed > 0 || s.last_error.is_some())
            .all(|s| s.name.starts_with("emf:"));
        if emf_only {
            bail!(
                "the canonical results above are complete and so is the log, but {lost}; \
                 --resume does not write those EMF lines again (their pairs are in the log)"
            );
        }
        bail!(
            "the canonical results above are complete, but {lost}; rerun with --resume to fill \
             the log (and the EMF lines of the pairs it lacks; EMF lines lost for pairs the log \
             holds are not written again)"
        );
    }
    Ok(())
}
