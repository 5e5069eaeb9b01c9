//! `cargo xtask demo`: fetch the models, build titlesim, score the sample pairs and show the
//! verdicts next to the hand-written labels.
//!
//! One function per stage ([`stage_fetch`], [`stage_build`], [`stage_score`],
//! [`stage_report`]) so later stages (a shadow run, calibration) slot in after scoring.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::fetch::{fetch_models, FetchArgs};
use crate::say;
use crate::util::{fmt_duration, run_status, workspace_root};

/// Options of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub fetch: FetchArgs,

    /// Use the titlesim binary already built in target/release instead of running cargo.
    #[arg(long)]
    pub no_build: bool,
}

/// One pair of `data/sample_pairs.csv`.
#[derive(Debug, Clone, Deserialize)]
pub struct SamplePair {
    /// Pair id.
    pub id: String,
    /// `qualifying` or `race`.
    pub phase: String,
    /// The answer title.
    pub product: String,
    /// The ground-truth title.
    pub gt: String,
    /// 1 = same product, 0 = not.
    pub label: u8,
}

/// One line of `titlesim score --format jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScoreLine {
    /// Pair id.
    pub id: String,
    /// Cosine of the two embeddings.
    pub cosine: f32,
    /// Threshold in force.
    pub threshold: f32,
    /// `cosine >= threshold`.
    pub pass: bool,
}

/// A scored sample pair.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The pair.
    pub pair: SamplePair,
    /// Its verdict.
    pub score: ScoreLine,
}

/// Where the demo's files go (`target/demo`).
fn demo_dir() -> PathBuf {
    target_dir().join("demo")
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        }
        _ => workspace_root().join("target"),
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Runs the demo.
pub fn run(a: &DemoArgs) -> Result<()> {
    let start = Instant::now();
    let models = stage_fetch(&a.fetch)?;
    let bin = stage_build(a.no_build)?;
    let config = demo_config(&models)?;
    let scored = stage_score(&bin, &config)?;
    stage_report(&scored);
    stage_shadow_and_calibrate(&bin, &models)?;
    say!("demo: done in {}", fmt_duration(start.elapsed()));
    Ok(())
}

/// Stage 1: the models (see `cargo xtask fetch-models`).
pub fn stage_fetch(args: &FetchArgs) -> Result<PathBuf> {
    say!("demo 1/6: models");
    fetch_models(args)
}

/// Stage 2: `cargo build --release -p titlesim-cli` without the `replay` feature; returns the
/// binary.
pub fn stage_build(skip: bool) -> Result<PathBuf> {
    let bin = target_dir()
        .join("release")
        .join(format!("titlesim{}", std::env::consts::EXE_SUFFIX));
    if skip {
        say!("demo 2/6: using {} (--no-build)", bin.display());
    } else {
        say!(
            "demo 2/6: cargo build --release -p titlesim-cli --no-default-features --features candle,ort,tract (a first build takes several minutes)"
        );
        let t = Instant::now();
        let status = run_status(
            Command::new(cargo()).current_dir(workspace_root()).args([
                "build",
                "--release",
                "-p",
                "titlesim-cli",
                // Everything but `replay`/`sql`, whose DataFusion would double a first build.
                "--no-default-features",
                "--features",
                "candle,ort,tract",
            ]),
            true,
        )?;
        if !status.success() {
            bail!("building titlesim failed ({status})");
        }
        say!("  built in {}", fmt_duration(t.elapsed()));
    }
    if !bin.is_file() {
        bail!("{} does not exist; build it first", bin.display());
    }
    Ok(bin)
}

/// The configuration to score with: `demo/titlesim.toml`, or a copy pointing at the models
/// folder when it is not `<workspace>/models`.
fn demo_config(models: &Path) -> Result<PathBuf> {
    local_config("titlesim.toml", models)
}

/// `demo/NAME` as titlesim should read it with the models in `models`: the file itself when
/// they are in the default `models/`, else a copy in the demo folder whose relative paths
/// (`"../models/..."` to `models`, any other `"../..."` — the log, the EMF file — to the
/// workspace) are absolute, so `--models-dir` and `$TITLESIM_MODELS_DIR` work in every stage.
fn local_config(name: &str, models: &Path) -> Result<PathBuf> {
    let root = workspace_root();
    let cfg = root.join("demo").join(name);
    let default_models = root.join("models");
    let same = match (models.canonicalize(), default_models.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Ok(cfg);
    }
    let text =
        fs::read_to_string(&cfg).with_context(|| format!("cannot read {}", cfg.display()))?;
    let abs = |p: &Path| -> Result<String> {
        let p = std::path::absolute(p)?;
        let s = p.to_string_lossy().into_owned();
        if s.contains(['"', '\\']) {
            bail!("{s}: a path with a quote or backslash cannot go into the demo's TOML");
        }
        Ok(s)
    };
    let (models_abs, root_abs) = (abs(models)?, abs(&root)?);
    let mut replaced = 0;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('#') || !l.contains("\"../") {
                return l.to_string();
            }
            replaced += 1;
            l.replace("\"../models/", &format!("\"{models_abs}/"))
                .replace("\"../", &format!("\"{root_abs}/"))
        })
        .collect();
    if replaced == 0 {
        bail!("{}: no relative path to the models", cfg.display());
    }
    fs::create_dir_all(demo_dir())?;
    let p = demo_dir().join(name);
    fs::write(&p, out.join("\n") + "\n")?;
    say!(
        "  models are in {}: using {}",
        models.display(),
        p.display()
    );
    Ok(p)
}

/// Reads `data/sample_pairs.csv`.
pub fn sample_pairs() -> Result<Vec<SamplePair>> {
    let p = workspace_root().join("data/sample_pairs.csv");
    let mut r =
        csv::Reader::from_path(&p).with_context(|| format!("cannot read {}", p.display()))?;
    r.deserialize()
        .collect::<Result<Vec<SamplePair>, _>>()
        .with_context(|| format!("{}: bad row", p.display()))
}

/// Stage 3: `titlesim score` on the sample pairs (its summary goes to stderr as it is).
pub fn stage_score(bin: &Path, config: &Path) -> Result<Vec<Scored>> {
    let pairs_path = workspace_root().join("data/sample_pairs.csv");
    fs::create_dir_all(demo_dir())?;
    let out = demo_dir().join("scores.jsonl");
    say!(
        "demo 3/6: titlesim score --config {} --pairs {} --format jsonl --out {}",
        rel(config),
        rel(&pairs_path),
        rel(&out)
    );
    let status = run_status(
        Command::new(bin)
            .current_dir(workspace_root())
            .arg("score")
            .arg("--config")
            .arg(config)
            .arg("--pairs")
            .arg(&pairs_path)
            .args(["--format", "jsonl", "--out"])
            .arg(&out),
        true,
    )?;
    if !status.success() {
        bail!("titlesim score failed ({status})");
    }
    let text =
        fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let mut scores: HashMap<String, ScoreLine> = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let s: ScoreLine = serde_json::from_str(l)
            .with_context(|| format!("{}:{}: not a score line", out.display(), i + 1))?;
        scores.insert(s.id.clone(), s);
    }
    sample_pairs()?
        .into_iter()
        .map(|pair| {
            let score = scores
                .remove(&pair.id)
                .ok_or_else(|| anyhow!("no score for pair {}", pair.id))?;
            Ok(Scored { pair, score })
        })
        .collect()
}

fn rel(p: &Path) -> String {
    p.strip_prefix(workspace_root())
        .unwrap_or(p)
        .display()
        .to_string()
}

/// `s` cut or padded to `n` terminal columns (wide characters such as CJK count two).
fn trunc(s: &str, n: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let w = |c: char| c.width().unwrap_or(0);
    let total: usize = s.chars().map(w).sum();
    if total <= n {
        return format!("{s}{}", " ".repeat(n - total));
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + w(c) > n - 1 {
            break;
        }
        used += w(c);
        out.push(c);
    }
    out.push('…');
    out + &" ".repeat(n - 1 - used)
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// Stage 4: the table, the pass rates and the accuracy against the labels (stdout).
pub fn stage_report(rows: &[Scored]) {
    say!("demo 4/6: verdicts");
    let threshold = rows.first().map(|r| r.score.threshold).unwrap_or(f32::NAN);
    println!(
        "{:>3}  {:<10}  {:>6}  {:<4}  {:<5}  {:<34}  {:<34}",
        "id", "phase", "cosine", "pass", "label", "product", "gt"
    );
    println!(
        "{}",
        "-".repeat(3 + 2 + 10 + 2 + 6 + 2 + 4 + 2 + 5 + 2 + 34 + 2 + 34)
    );
    for r in rows {
        let agree = (r.pair.label == 1) == r.score.pass;
        println!(
            "{:>3}  {:<10}  {:>6.4}  {:<4}  {:<5}  {}  {}",
            r.pair.id,
            r.pair.phase,
            r.score.cosine,
            if r.score.pass { "yes" } else { "no" },
            format!("{}{}", r.pair.label, if agree { "" } else { " ✗" }),
            trunc(&r.pair.product, 34),
            trunc(&r.pair.gt, 34),
        );
    }
    println!();
    let n = rows.len();
    let passed = rows.iter().filter(|r| r.score.pass).count();
    println!(
        "all-MiniLM-L6-v2 on candle, threshold {threshold}: {passed} of {n} pairs pass ({:.1}%)",
        pct(passed, n)
    );
    let mut phases: Vec<&str> = Vec::new();
    for r in rows {
        if !phases.contains(&r.pair.phase.as_str()) {
            phases.push(&r.pair.phase);
        }
    }
    for ph in phases {
        let rs: Vec<&Scored> = rows.iter().filter(|r| r.pair.phase == ph).collect();
        let p = rs.iter().filter(|r| r.score.pass).count();
        let acc = rs
            .iter()
            .filter(|r| (r.pair.label == 1) == r.score.pass)
            .count();
        println!(
            "  {ph:<10} {:>3} pairs: pass rate {:>5.1}%, accuracy {:>5.1}%",
            rs.len(),
            pct(p, rs.len()),
            pct(acc, rs.len())
        );
    }
    let tp = rows
        .iter()
        .filter(|r| r.score.pass && r.pair.label == 1)
        .count();
    let fp = rows
        .iter()
        .filter(|r| r.score.pass && r.pair.label == 0)
        .count();
    let fn_ = rows
        .iter()
        .filter(|r| !r.score.pass && r.pair.label == 1)
        .count();
    let tn = rows
        .iter()
        .filter(|r| !r.score.pass && r.pair.label == 0)
        .count();
    println!(
        "accuracy against the labels: {} of {n} ({:.1}%) — {tp} true matches passed, {tn} non-matches rejected, {fp} non-matches passed (✗), {fn_} matches rejected (✗)",
        tp + tn,
        pct(tp + tn, n)
    );
    let hard = rows
        .iter()
        .filter(|r| r.pair.label == 0 && r.score.cosine >= 0.95)
        .count();
    if hard > 0 {
        println!(
            "note: {hard} non-matching pairs have cosine >= 0.95 (e.g. 128GB vs 256GB, 15 vs 15 Pro): no threshold separates them; see demo/titlesim.toml for how the threshold was chosen."
        );
    }
}

/// Stage 5: the shadow protocol on the same pairs (`demo/shadow.toml`: all-MiniLM-L6-v2 on
/// candle as canonical, paraphrase-MiniLM-L3-v2 on tract in its shadow), then
/// `titlesim calibrate` on the log, writing its report to `reports/demo/calibration/`.
pub fn stage_shadow_and_calibrate(bin: &Path, models: &Path) -> Result<()> {
    let root = workspace_root();
    let config = local_config("shadow.toml", models)?;
    let reports = root.join("reports/demo");
    // A fresh log each time: the demo's log is its own, and a rerun would need --resume.
    for f in ["shadow.jsonl", "shadow-emf.jsonl"] {
        let p = reports.join(f);
        if p.exists() {
            fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
        }
    }
    fs::create_dir_all(&reports)?;
    // The file in use: demo/shadow.toml, or its copy for another models directory.
    say!(
        "demo 5/6: titlesim shadow --config {} --pairs data/sample_pairs.csv",
        config.strip_prefix(&root).unwrap_or(&config).display()
    );
    let status = run_status(
        Command::new(bin).current_dir(&root).args([
            "shadow",
            "--config",
            &config.to_string_lossy(),
            "--pairs",
            "data/sample_pairs.csv",
            "--out",
            "reports/demo/shadow-results.csv",
        ]),
        false,
    )?;
    if !status.success() {
        bail!("titlesim shadow failed ({status})");
    }
    say!(
        "demo 6/6: titlesim calibrate reports/demo/shadow.jsonl --report reports/demo/calibration"
    );
    let status = run_status(
        Command::new(bin).current_dir(&root).args([
            "calibrate",
            "reports/demo/shadow.jsonl",
            "--report",
            "reports/demo/calibration",
        ]),
        false,
    )?;
    if !status.success() {
        bail!("titlesim calibrate failed ({status})");
    }
    say!("  report: reports/demo/calibration/index.html");
    Ok(())
}
