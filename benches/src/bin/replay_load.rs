//! Replay benchmark: `titlesim replay` against `titlesim shadow` on the same pairs, and the
//! effect of embedding each distinct title once (`--cache-titles 0` turns that off, leaving
//! only the de-duplication inside each chunk that `shadow` also does).
//!
//! The pairs are built from `data/bench_titles.txt` as real traffic looks: a few hundred
//! ground-truth titles judged again and again, against a few thousand distinct answers
//! (deterministic, seeded). Canonical all-MiniLM-L6-v2 on candle, shadow paraphrase-MiniLM-L3-v2
//! on ONNX Runtime (the one the models folder has as ONNX only), `--threads` each. All three runs use the release `titlesim` binary, one after
//! the other, in one process's lifetime; the cosines of the three logs are compared too.
//!
//! ```sh
//! cargo build --release -p titlesim-cli
//! cargo run --release -p titlesim-bench --bin replay_load -- --pairs 100000
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use titlesim::{read_log, ShadowRecord};
use titlesim_bench::{
    cpu_info, default_titles_path, load_titles, models_dir, ort_library, workspace_root,
};

#[derive(Debug, Parser)]
#[command(about = "titlesim replay against titlesim shadow on the same pairs")]
struct Args {
    /// Pairs to replay.
    #[arg(long, default_value_t = 100_000)]
    pairs: usize,
    /// Distinct ground-truth titles among them.
    #[arg(long, default_value_t = 400)]
    gts: usize,
    /// Distinct answers (product titles) among them.
    #[arg(long, default_value_t = 5_000)]
    products: usize,
    /// Compute threads of each model (and replay's thread budget).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The titlesim binary [default: target/release/titlesim].
    #[arg(long)]
    titlesim: Option<PathBuf>,
    /// Working folder for the pairs, configuration and logs [default: reports/bench/replay].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Leave out the `titlesim shadow` run (the slowest).
    #[arg(long)]
    no_shadow: bool,
}

/// A deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// Skewed towards small indices, as popular products are: the smaller of two draws.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.next() as usize % n;
        let b = self.next() as usize % n;
        a.min(b)
    }
}

/// Writes the pairs CSV; returns (distinct products, distinct GTs) actually used.
fn write_pairs(args: &Args, path: &Path) -> Result<(usize, usize)> {
    let titles = load_titles(&default_titles_path(), usize::MAX)?;
    if titles.len() < 2 {
        bail!("too few bench titles");
    }
    let gts: Vec<&String> = titles.iter().take(args.gts.min(titles.len())).collect();
    // Answers: every bench title, then variants of them ("… (2)") as agents write them.
    let products: Vec<String> = (0..args.products)
        .map(|i| {
            let t = &titles[i % titles.len()];
            match i / titles.len() {
                0 => t.clone(),
                v => format!("{t} ({})", v + 1),
            }
        })
        .collect();
    let mut rng = Lcg(20_261_204);
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["id", "phase", "product", "gt"])?;
    let mut used_p = std::collections::HashSet::new();
    let mut used_g = std::collections::HashSet::new();
    for i in 0..args.pairs {
        let g = rng.skewed(gts.len());
        let p = rng.skewed(products.len());
        used_p.insert(p);
        used_g.insert(g);
        let phase = if i % 4 == 0 { "qualifying" } else { "race" };
        w.write_record([
            format!("p{i}").as_str(),
            phase,
            products[p].as_str(),
            gts[g].as_str(),
        ])?;
    }
    w.flush()?;
    Ok((used_p.len(), used_g.len()))
}

/// Runs `titlesim ARGS`, returning its wall time in seconds and its standard output.
fn timed(bin: &Path, args: &[&str]) -> Result<(f64, String)> {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "titlesim {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((secs, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Each pair's canonical and shadow cosines.
type Cosines = HashMap<String, (Option<f32>, Option<f32>)>;

fn cosines(path: &Path) -> Result<Cosines> {
    let log = read_log(path)?;
    Ok(log
        .records
        .into_iter()
        .map(|r: ShadowRecord| {
            (
                r.pair_id,
                (r.canonical.cosine, r.shadow.and_then(|s| s.cosine)),
            )
        })
        .collect())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let root = workspace_root();
    let bin = args
        .titlesim
        .clone()
        .unwrap_or_else(|| root.join("target/release/titlesim"));
    if !bin.is_file() {
        bail!(
            "{} is missing: run `cargo build --release -p titlesim-cli`",
            bin.display()
        );
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("reports/bench/replay"));
    std::fs::create_dir_all(&dir)?;
    for f in [
        "shadow.jsonl",
        "replay.jsonl",
        "replay-nocache.jsonl",
        "verdicts.csv",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let models = models_dir();
    let (canonical, shadow) = (
        models.join("all-MiniLM-L6-v2"),
        models.join("paraphrase-MiniLM-L3-v2"),
    );
    for m in [&canonical, &shadow] {
        if !m.join("config.json").is_file() {
            bail!("{} is missing: run `cargo xtask fetch-models`", m.display());
        }
    }
    let Some(ort) = ort_library() else {
        bail!("the ONNX Runtime library is missing: run `cargo xtask fetch-models`");
    };
    let pairs = dir.join("pairs.csv");
    let (n_products, n_gts) = write_pairs(&args, &pairs)?;
    let config = dir.join("titlesim.toml");
    std::fs::write(
        &config,
        format!(
            "[canonical]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = 0.7\nthreads = {t}\n\n\
             [shadow]\nmodel = {:?}\nbackend = \"ort\"\nort_library = {:?}\nthreshold = 0.7\nthreads = {t}\n\n\
             [shadow_options]\nsample_rate = 1.0\ntimeout_ms = 60000\n",
            canonical.to_string_lossy(),
            shadow.to_string_lossy(),
            ort.to_string_lossy(),
            t = args.threads
        ),
    )?;
    let cpu = cpu_info();
    eprintln!(
        "replay_load: {} pairs ({} distinct products, {} distinct GTs) on {}",
        args.pairs,
        n_products,
        n_gts,
        cpu.line()
    );
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let threads = args.threads.to_string();
    let mut rows: Vec<(String, f64, String)> = Vec::new();

    let replay_log = dir.join("replay.jsonl");
    let nocache_log = dir.join("replay-nocache.jsonl");
    for (log, extra) in [
        (&replay_log, &[][..]),
        (&nocache_log, &["--cache-titles", "0"][..]),
    ] {
        let name = format!("titlesim replay {}", extra.join(" "));
        eprintln!("replay_load: {name} ...");
        let (config, pairs, log) = (s(&config), s(&pairs), s(log));
        let mut run = vec![
            "replay",
            "-c",
            &config,
            "-p",
            &pairs,
            "-o",
            &log,
            "--threads",
            &threads,
            "--json",
        ];
        run.extend_from_slice(extra);
        let (t, out) = timed(&bin, &run)?;
        let summary: serde_json::Value = serde_json::from_str(&out)?;
        rows.push((
            name.trim().to_string(),
            t,
            format!(
                "{} of {}",
                summary["titles_embedded"], summary["titles_in_pairs"]
            ),
        ));
    }

    let shadow_log = dir.join("shadow.jsonl");
    let mut t_shadow = None;
    if !args.no_shadow {
        eprintln!("replay_load: titlesim shadow ...");
        let (t, _) = timed(
            &bin,
            &[
                "shadow",
                "-c",
                &s(&config),
                "-p",
                &s(&pairs),
                "--log",
                &s(&shadow_log),
                "-o",
                &s(&dir.join("verdicts.csv")),
            ],
        )?;
        t_shadow = Some(t);
        rows.push(("titlesim shadow".into(), t, "per chunk only".into()));
    }

    // The same cosines whichever way the pairs were scored.
    let base = cosines(&replay_log)?;
    let mut compared = vec![("replay --cache-titles 0", cosines(&nocache_log)?)];
    if t_shadow.is_some() {
        compared.push(("shadow", cosines(&shadow_log)?));
    }
    let mut same = String::new();
    for (name, other) in &compared {
        let differ = base
            .iter()
            .filter(|(id, c)| other.get(*id) != Some(c))
            .count();
        let missing = base.len().saturating_sub(other.len());
        let _ = write!(
            same,
            "{name}: {} of {} pairs with identical cosines ({differ} differ, {missing} missing); ",
            base.len() - differ,
            base.len()
        );
    }

    let mut md = format!(
        "CPU: {}{}\n\n{} pairs, {} distinct products, {} distinct GT \
         titles; canonical all-MiniLM-L6-v2 on candle, shadow paraphrase-MiniLM-L3-v2 on ONNX Runtime, \
         f32, {} threads each\n\n| run | wall s | pairs/s | titles embedded | vs shadow |\n|---|--:|--:|--:|--:|\n",
        cpu.line(),
        cpu.emulated
            .as_ref()
            .map(|e| format!(" — EMULATED ({e}): timings mean nothing"))
            .unwrap_or_default(),
        args.pairs,
        n_products,
        n_gts,
        args.threads
    );
    for (name, t, titles) in &rows {
        let _ = writeln!(
            md,
            "| {name} | {t:.1} | {:.0} | {titles} | {} |",
            args.pairs as f64 / t,
            t_shadow
                .map(|s| format!("{:.1}×", s / t))
                .unwrap_or_else(|| "—".into())
        );
    }
    let _ = writeln!(md, "\n{same}");
    std::fs::write(dir.join("replay.md"), &md)?;
    print!("{md}");
    Ok(())
}
