//! Scores title pairs with the hashing embedder, then runs it in the shadow of a canonical
//! model and reads the shadow log back: titlesim's scorer and shadow machinery driven through
//! the public API by an embedder written outside titlesim.
//!
//! ```text
//! hash-embedder [--canonical MODEL] [--log PATH]
//! ```
//!
//! `--canonical` names the canonical model (folder, Hugging Face cache entry or hub id, run on
//! candle; default: the repository's tiny fixture BERT). `--log` keeps the shadow log there
//! (it must not exist yet); by default it goes to a temporary file that is removed at the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hash_embedder::{HashEmbedder, HashOptions};
use titlesim::config::FsyncPolicy;
use titlesim::{read_log, BackendKind, CosineScorer, Embedder, ModelConfig, Pair, Scorer};
use titlesim_shadow::{JsonlSink, Sampler, ShadowScorer, ShadowSettings};

/// `(id, phase, product, gt)`.
const PAIRS: &[(&str, &str, &str, &str)] = &[
    (
        "1",
        "race",
        "Apple iPhone 15 128GB Black",
        "iPhone 15 (128 GB) - Black",
    ),
    (
        "2",
        "race",
        "Samsung Galaxy S24 Ultra 256GB",
        "Galaxy S24 Ultra, 256 GB, Titanium Grey",
    ),
    (
        "3",
        "race",
        "Sony WH-1000XM5 Wireless Headphones",
        "Bose QuietComfort 45 Headphones",
    ),
    (
        "4",
        "qualifying",
        "Dyson V8 Cordless Vacuum",
        "Dyson V8 Absolute cordless vacuum cleaner",
    ),
    (
        "5",
        "qualifying",
        "Logitech MX Master 3S Mouse",
        "Nintendo Switch OLED Console",
    ),
];

/// The hashing embedder's threshold (not calibrated: that is what the shadow log is for).
const HASH_THRESHOLD: f32 = 0.5;
/// The canonical model's threshold. The default canonical model has random weights and puts
/// every pair of titles near 0.95; this threshold splits them for the demonstration.
const CANONICAL_THRESHOLD: f32 = 0.96;

struct Args {
    canonical: String,
    log: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        canonical: concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/tiny-bert-mean"
        )
        .to_string(),
        log: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--canonical" => args.canonical = it.next().context("--canonical needs a model")?,
            "--log" => args.log = Some(it.next().context("--log needs a path")?.into()),
            "-h" | "--help" => {
                println!("usage: hash-embedder [--canonical MODEL] [--log PATH]");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (see --help)"),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let pairs: Vec<Pair> = PAIRS
        .iter()
        .map(|&(id, phase, product, gt)| Pair {
            id: id.into(),
            phase: Some(phase.into()),
            product: product.into(),
            gt: gt.into(),
            label: None,
        })
        .collect();

    // 1. The hashing embedder behind the ordinary scorer.
    let hash: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(HashOptions::default())?);
    let info = hash.info();
    println!(
        "embedder {} ({} backend, {} dims, fingerprint {})",
        info.model, info.backend, info.dim, info.fingerprint
    );
    let hash_scorer = CosineScorer::new(hash.clone(), HASH_THRESHOLD);
    let scores = hash_scorer.score_batch(&pairs).await?;
    println!("\ncosine  pass  product | gt");
    for (p, s) in pairs.iter().zip(&scores) {
        println!("{:.4}  {:<5} {} | {}", s.cosine, s.pass, p.product, p.gt);
    }

    // 2. The hashing embedder in the shadow of the canonical model.
    let canonical_cfg = ModelConfig::new(&args.canonical, BackendKind::Candle, CANONICAL_THRESHOLD);
    let (canonical, _) = titlesim::load_scorer(&canonical_cfg)
        .with_context(|| format!("loading the canonical model {}", args.canonical))?;
    let (log, keep_log) = match &args.log {
        Some(p) if p.exists() => bail!("{} exists: choose a new log path", p.display()),
        Some(p) => (p.clone(), true),
        None => (
            std::env::temp_dir().join(format!("hash-embedder-{}.jsonl", std::process::id())),
            false,
        ),
    };
    let (sink, _) = JsonlSink::open(&log, FsyncPolicy::Batch)?;
    let shadow = ShadowScorer::new(
        canonical,
        Some(hash_scorer),
        ShadowSettings {
            sampler: Sampler::all(),
            timeout_per_pair: Duration::from_secs(10),
        },
        vec![Box::new(sink)],
    )?;
    let verdicts = shadow.score_batch(&pairs).await?;
    let report = shadow.finish().await?;
    println!(
        "\ncanonical verdicts (what counts): {:?}",
        verdicts.iter().map(|s| s.pass).collect::<Vec<_>>()
    );

    // 3. The log, read back as calibration reads it.
    let contents = read_log(&log)?;
    println!(
        "\nshadow log {}: {} records, {} skipped lines",
        log.display(),
        contents.records.len(),
        contents.skipped.len()
    );
    println!("pair  phase       canonical       shadow");
    for r in &contents.records {
        let side = |s: Option<&titlesim::SideRecord>| match s {
            Some(s) => match (s.cosine, s.pass) {
                (Some(c), Some(p)) => format!("{c:.4} {p:<5}"),
                _ => format!("error: {}", s.error.as_deref().unwrap_or("?")),
            },
            None => "not sampled".into(),
        };
        println!(
            "{:<5} {:<11} {}    {}",
            r.pair_id,
            r.phase.as_deref().unwrap_or("-"),
            side(Some(&r.canonical)),
            side(r.shadow.as_ref())
        );
    }
    println!(
        "\n{}",
        report
            .tally
            .render(CANONICAL_THRESHOLD, Some(HASH_THRESHOLD))
    );
    if !keep_log {
        std::fs::remove_file(&log).with_context(|| format!("removing {}", log.display()))?;
    }
    if contents.records.len() != pairs.len() || !contents.skipped.is_empty() {
        bail!(
            "expected {} records and no skipped lines in the shadow log",
            pairs.len()
        );
    }
    Ok(())
}
