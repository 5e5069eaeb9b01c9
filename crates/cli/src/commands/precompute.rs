//! `titlesim precompute`: build the stores of precomputed reference-title embeddings.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use titlesim::io::{read_pairs, read_texts};
use titlesim::{Config, ModelConfig};

use super::shared::{loading, progress_bar, runtime, BatchArgs, ChunkArgs};

/// Which configured model(s) to precompute for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// The [canonical] model.
    Canonical,
    /// The [shadow] model.
    Shadow,
    /// Every model with a `gt_store`.
    All,
}

/// Precompute ground-truth (reference) title embeddings into each model's `gt_store`.
///
/// Scoring then encodes only the agent's titles ("GT skip"). A store belongs to one model:
/// its header holds the model's fingerprint (with the GT-side prompt) and dimension, and a
/// store written by another model is refused (or, with `gt_store_mismatch = "recompute"`,
/// rebuilt). Titles already in the store are not encoded again, so the command also adds new
/// titles to an existing store, and an interrupted run continues where it stopped.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["titles", "pairs"])))]
pub struct Args {
    /// Configuration file (TOML); `gt_store` in [canonical] and/or [shadow] names the stores.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,

    /// Reference titles: one per line, or JSON lines with a `text` field (.jsonl, .ndjson,
    /// .json).
    #[arg(long, short = 't', value_name = "FILE")]
    pub titles: Option<PathBuf>,

    /// Take the reference titles from the `gt` column of a pairs file (.csv/.jsonl/.ndjson/.json).
    #[arg(long, short = 'p', value_name = "FILE")]
    pub pairs: Option<PathBuf>,

    /// Which model's store to build [default: every model with a gt_store].
    #[arg(long, value_enum, default_value = "all")]
    pub side: Side,

    /// Write the store to FILE instead of the configured gt_store (needs --side canonical or
    /// --side shadow).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub chunk: ChunkArgs,

    #[command(flatten)]
    pub batch: BatchArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let config = Config::from_file(&args.config)?;
    let mut titles: Vec<String> = match (&args.titles, &args.pairs) {
        (Some(t), _) => read_texts(Some(t))?,
        (None, Some(p)) => read_pairs(p)?
            .into_pairs()
            .into_iter()
            .map(|p| p.gt)
            .collect(),
        (None, None) => bail!("pass --titles FILE or --pairs FILE"),
    };
    let blank = titles.iter().filter(|t| t.trim().is_empty()).count();
    titles.retain(|t| !t.trim().is_empty());
    if blank > 0 {
        eprintln!("note: skipped {blank} empty titles");
    }
    if titles.is_empty() {
        bail!("no titles to precompute");
    }

    let mut jobs: Vec<(&str, ModelConfig, PathBuf)> = Vec::new();
    let mut consider =
        |table: &'static str, cfg: Option<&ModelConfig>, explicit: bool| -> Result<()> {
            let Some(cfg) = cfg else {
                if explicit {
                    bail!("{}: no [{table}] table", args.config.display());
                }
                return Ok(());
            };
            let path = match (&args.out, &cfg.gt_store) {
                (Some(o), _) => o.clone(),
                (None, Some(p)) => p.clone(),
                (None, None) if explicit => bail!(
                "[{table}] has no gt_store: set `gt_store` in [{table}] of {} or pass --out FILE",
                args.config.display()
            ),
                (None, None) => return Ok(()),
            };
            jobs.push((table, cfg.clone(), path));
            Ok(())
        };
    match args.side {
        Side::Canonical => consider("canonical", Some(&config.canonical), true)?,
        Side::Shadow => consider("shadow", config.shadow.as_ref(), true)?,
        Side::All => {
            if args.out.is_some() {
                bail!("--out writes one store: choose --side canonical or --side shadow");
            }
            consider("canonical", Some(&config.canonical), false)?;
            consider("shadow", config.shadow.as_ref(), false)?;
        }
    }
    if jobs.is_empty() {
        bail!(
            "no model of {} has a gt_store: set `gt_store` in [canonical] and/or [shadow], or \
             pass --side and --out",
            args.config.display()
        );
    }

    let rt = runtime()?;
    for (table, cfg, path) in jobs {
        // The model alone: the store is what this command writes, not something to read.
        let mut plain = args.batch.apply(&cfg);
        plain.gt_store = None;
        let (scorer, _) = titlesim::load_scorer(&plain)
            .with_context(|| loading(&args.config, table, &cfg.model))?;
        let bar = progress_bar(titles.len() as u64, "titles");
        let t0 = std::time::Instant::now();
        let r = rt
            .block_on(titlesim::store::precompute(
                &scorer,
                &titles,
                &path,
                cfg.gt_store_mismatch,
                args.chunk.chunk_size as usize,
                |n| bar.set_position(n as u64),
            ))
            .with_context(|| format!("precomputing the GT store of [{table}]"))?;
        bar.finish_and_clear();
        let info = scorer.embedder().info();
        eprintln!(
            "[{table}] {} on {}: {} ({} titles already there, {} added{}) in {:.2} s; \
             fingerprint {}, {}-d",
            info.model,
            info.backend,
            r.path.display(),
            r.existing,
            r.added,
            if r.replaced {
                ", replacing a store of another model or backend"
            } else {
                ""
            },
            t0.elapsed().as_secs_f64(),
            r.fingerprint,
            r.dim
        );
        if let Some(note) = &r.note {
            eprintln!("[{table}] note: {note}");
        }
    }
    Ok(())
}
