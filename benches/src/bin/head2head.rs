//! Head-to-head benchmark of titlesim's backends (and, when present, of ONNX Runtime from
//! Python and sentence-transformers on torch), run by `cargo xtask bench`.
//!
//! Every configuration (model × backend, or peer) is measured in its own child process — this
//! binary re-invoking itself with `--child` — so peak RSS is per configuration. Configurations
//! are interleaved over `--runs` rounds and each number reported is the median over the rounds,
//! so that a noisy machine slows every configuration alike and the ratios hold.
//!
//! Per configuration: load time, titles/s at batch 32 over the titles (length-sorted batches,
//! end to end: tokenisation, forward, pooling, normalisation), p50/p99 latency and titles/s at
//! batch 1, peak RSS (VmHWM), and parity: the smallest cosine against the reference backend on
//! the same titles. Writes `head2head.json`, `head2head.md` and `head2head.svg`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::json;
use titlesim::BackendKind;
use titlesim_bench as tb;

/// Head-to-head backend benchmark (see the module documentation).
#[derive(Parser, Debug, Clone)]
#[command(name = "head2head")]
struct Args {
    /// Thread budget of every configuration (intra-op threads / rayon pool / torch threads).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Titles for the batch-32 throughput pass (from the titles file).
    #[arg(long, default_value_t = 1000)]
    titles: usize,
    /// Titles timed one by one for batch-1 latency (spread over the titles).
    #[arg(long, default_value_t = 200)]
    latency_titles: usize,
    /// Titles for 0.6B-class models (spread over the titles), batch 32.
    #[arg(long, default_value_t = 64)]
    heavy_titles: usize,
    /// Batch-1 titles for 0.6B-class models.
    #[arg(long, default_value_t = 8)]
    heavy_latency_titles: usize,
    /// Rounds over all configurations (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Rounds for 0.6B-class models.
    #[arg(long, default_value_t = 1)]
    heavy_runs: usize,
    /// Tiny run for smoke tests (64 titles, 8 latency titles, one round, 0.6B models on 4 titles).
    #[arg(long)]
    quick: bool,
    /// Only models whose folder or label contains one of these (comma-separated, case-insensitive).
    #[arg(long)]
    models: Option<String>,
    /// Only these backends (comma-separated: candle, ort, tract).
    #[arg(long)]
    backends: Option<String>,
    /// Skip the Python peers.
    #[arg(long)]
    no_peers: bool,
    /// Python interpreter for the peers (ONNX Runtime peer: onnxruntime, tokenizers, numpy; the
    /// sentence-transformers peer also needs sentence-transformers).
    #[arg(long)]
    python: Option<PathBuf>,
    /// The titles file.
    #[arg(long)]
    titles_file: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Internal: measure one configuration (JSON spec) and print its result as JSON.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// What a child measures.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct ChildSpec {
    folder: PathBuf,
    backend: String,
    threads: usize,
    titles_file: PathBuf,
    titles: usize,
    sample: usize,
    latency_titles: usize,
    vectors: PathBuf,
    /// Compute precision for the backend (`BackendOptions::dtype`); `None`: its default.
    #[serde(default)]
    dtype: Option<String>,
}

/// What a child (or a Python peer) reports.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct Measurement {
    load_s: f64,
    n_titles: usize,
    b32_titles_per_s: f64,
    b1_p50_ms: f64,
    b1_p99_ms: f64,
    b1_titles_per_s: f64,
    peak_rss_mb: Option<f64>,
    dim: usize,
    #[serde(default)]
    note: Option<String>,
}

/// One row of the result table.
#[derive(Serialize, Debug, Clone)]
struct Row {
    id: String,
    model: String,
    folder: String,
    engine: String,
    format: String,
    peer: bool,
    runs: usize,
    n_titles: usize,
    load_s: f64,
    b32_titles_per_s: f64,
    b1_p50_ms: f64,
    b1_p99_ms: f64,
    b1_titles_per_s: f64,
    peak_rss_mb: Option<f64>,
    parity_min_cos: Option<f64>,
    parity_ref: Option<String>,
    error: Option<String>,
    note: Option<String>,
}

struct Config {
    id: String,
    model: String,
    folder: String,
    engine: String,
    format: String,
    peer: Option<&'static str>,
    variant: Option<tb::Variant>,
    heavy: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let r = match &args.child {
        Some(spec) => child(spec),
        None => parent(args),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("head2head: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

// ------------------------------------------------------------------------------------------
// child: one configuration

fn child(spec: &str) -> Result<()> {
    let s: ChildSpec = serde_json::from_str(spec).context("bad --child spec")?;
    let backend: BackendKind = match s.backend.as_str() {
        "candle" => BackendKind::Candle,
        "ort" => BackendKind::Ort,
        "tract" => BackendKind::Tract,
        other => bail!("unknown backend {other}"),
    };
    let all = tb::load_titles(&s.titles_file, s.titles)?;
    let titles = tb::spread_sample(&all, s.sample);
    let lat = tb::spread_sample(&all, s.latency_titles);
    let (emb, load_s) =
        tb::load_embedder_with(&s.folder, backend, s.threads, 32, s.dtype.as_deref())?;
    // warm-up: one batch and one single title
    let warm: Vec<String> = titles.iter().take(32).cloned().collect();
    emb.embed_blocking(&warm)?;
    emb.embed_blocking(&lat[..1])?;
    let t0 = Instant::now();
    let vecs = emb.embed_blocking(&titles)?;
    let b32 = titles.len() as f64 / t0.elapsed().as_secs_f64();
    let mut ms = Vec::with_capacity(lat.len());
    let t1 = Instant::now();
    for t in &lat {
        let t = std::slice::from_ref(t);
        let s0 = Instant::now();
        emb.embed_blocking(t)?;
        ms.push(s0.elapsed().as_secs_f64() * 1e3);
    }
    let b1 = lat.len() as f64 / t1.elapsed().as_secs_f64();
    write_vectors(&s.vectors, &vecs)?;
    let m = Measurement {
        load_s,
        n_titles: titles.len(),
        b32_titles_per_s: b32,
        b1_p50_ms: tb::percentile(&ms, 50.0),
        b1_p99_ms: tb::percentile(&ms, 99.0),
        b1_titles_per_s: b1,
        peak_rss_mb: tb::peak_rss_mb(),
        dim: vecs.first().map_or(0, Vec::len),
        note: None,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

fn write_vectors(path: &Path, vecs: &[Vec<f32>]) -> Result<()> {
    let mut buf = Vec::with_capacity(vecs.iter().map(|v| v.len() * 4).sum());
    for v in vecs {
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, buf).with_context(|| format!("writing {}", path.display()))
}

fn read_vectors(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if dim == 0 || b.len() % (4 * dim) != 0 {
        bail!(
            "{}: {} bytes is not a multiple of dim {dim}",
            path.display(),
            b.len()
        );
    }
    Ok(b.chunks_exact(4 * dim)
        .map(|row| {
            row.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect())
}

// ------------------------------------------------------------------------------------------
// parent: the matrix

fn parent(mut a: Args) -> Result<()> {
    if a.quick {
        a.titles = a.titles.min(64);
        a.latency_titles = a.latency_titles.min(8);
        a.heavy_titles = a.heavy_titles.min(4);
        a.heavy_latency_titles = a.heavy_latency_titles.min(2);
        a.runs = 1;
        a.heavy_runs = 1;
    }
    if a.threads == 0 || a.runs == 0 || a.titles == 0 {
        bail!("--threads, --runs and --titles must be at least 1");
    }
    let titles_file = a
        .titles_file
        .clone()
        .unwrap_or_else(tb::default_titles_path);
    let n_avail = tb::load_titles(&titles_file, a.titles)?.len();
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| tb::workspace_root().join("reports").join("bench"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let vec_dir = out.join("vectors");
    std::fs::create_dir_all(&vec_dir)?;
    let cpu = tb::cpu_info();
    let versions = tb::stack_versions();
    eprintln!(
        "head2head: {} ({}), {} logical cores, features [{}]",
        cpu.arch,
        cpu.model,
        cpu.logical_cores,
        cpu.features.join(", ")
    );
    eprintln!(
        "head2head: {}",
        versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    eprintln!(
        "head2head: thread budget {}, {} titles (batch 32), {} batch-1 titles, {} rounds; models in {}",
        a.threads,
        n_avail,
        a.latency_titles.min(n_avail),
        a.runs,
        tb::models_dir().display()
    );

    let filter: Vec<String> = split_list(&a.models);
    let bfilter: Vec<String> = split_list(&a.backends);
    let wanted = |label: &str, folder: &str| {
        filter.is_empty()
            || filter
                .iter()
                .any(|f| label.to_lowercase().contains(f) || folder.to_lowercase().contains(f))
    };
    let mut configs: Vec<Config> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for v in tb::all_variants() {
        if !wanted(v.model, v.folder)
            || !(bfilter.is_empty() || bfilter.iter().any(|b| b == v.backend.as_str()))
        {
            continue;
        }
        if !v.available() {
            skipped.push(format!("{} (files not in {})", v.id(), v.path().display()));
            continue;
        }
        configs.push(Config {
            id: v.id(),
            model: v.model.into(),
            folder: v.folder.into(),
            engine: match v.dtype {
                Some(d) => format!("titlesim {} {d}", v.backend.as_str()),
                None => format!("titlesim {}", v.backend.as_str()),
            },
            format: v.format.into(),
            peer: None,
            heavy: v.heavy,
            variant: Some(v),
        });
    }
    let python = if a.no_peers || !wanted("all-MiniLM-L6-v2", "all-MiniLM-L6-v2") {
        None
    } else {
        find_python(a.python.as_deref())
    };
    match (&python, a.no_peers) {
        (_, true) => eprintln!("head2head: peers off (--no-peers)"),
        (None, false) => eprintln!(
            "head2head: peers skipped: no Python with onnxruntime, tokenizers and numpy \
             (see README: python3 -m venv .venv-bench && .venv-bench/bin/pip install onnxruntime==1.31.1 \
             tokenizers sentence-transformers; or --python PATH)"
        ),
        (Some(p), false) if !p.sentence_transformers => eprintln!(
            "head2head: peers with {}: ONNX Runtime only; sentence-transformers is not importable \
             there, so its peer is skipped (and candle is the parity reference)",
            p.path.display()
        ),
        (Some(p), false) => eprintln!("head2head: peers with {}", p.path.display()),
    }
    if let Some(py) = &python {
        if tb::models_dir()
            .join("all-MiniLM-L6-v2/onnx/model.onnx")
            .is_file()
        {
            for (peer, engine, format) in [
                ("ort", "ONNX Runtime (Python)", "onnx fp32"),
                ("st", "sentence-transformers (torch)", "safetensors f32"),
            ] {
                if peer == "st" && !py.sentence_transformers {
                    skipped.push(format!(
                        "all-MiniLM-L6-v2@peer-st (sentence-transformers not importable by {})",
                        py.path.display()
                    ));
                    continue;
                }
                configs.push(Config {
                    id: format!("all-MiniLM-L6-v2@peer-{peer}"),
                    model: "all-MiniLM-L6-v2".into(),
                    folder: "all-MiniLM-L6-v2".into(),
                    engine: engine.into(),
                    format: format.into(),
                    peer: Some(peer),
                    variant: None,
                    heavy: false,
                });
            }
        }
    }
    for s in &skipped {
        eprintln!("head2head: skipped {s}");
    }
    if configs.is_empty() {
        bail!("nothing to measure: run `cargo xtask fetch-models` (and scripts/make_synthetic_models.py for the synthetic models)");
    }

    let exe = std::env::current_exe().context("locating the head2head binary")?;
    let mut results: BTreeMap<String, Vec<Measurement>> = BTreeMap::new();
    let mut errors: BTreeMap<String, String> = BTreeMap::new();
    let rounds = a.runs.max(a.heavy_runs);
    let t_all = Instant::now();
    for round in 0..rounds {
        for c in &configs {
            let runs_for = if c.heavy { a.heavy_runs } else { a.runs };
            if round >= runs_for || errors.contains_key(&c.id) {
                continue;
            }
            let (n, sample, lat) = if c.heavy {
                (n_avail, a.heavy_titles.min(n_avail), a.heavy_latency_titles)
            } else {
                (n_avail, n_avail, a.latency_titles)
            };
            let vectors = vec_dir.join(format!("{}.f32", c.id.replace(['/', '@'], "_")));
            eprint!(
                "[{:>6.0}s] round {}/{} {:<52} ",
                t_all.elapsed().as_secs_f64(),
                round + 1,
                runs_for,
                c.id
            );
            let _ = std::io::stderr().flush();
            let r = match c.peer {
                None => {
                    let spec = ChildSpec {
                        folder: tb::models_dir().join(&c.folder),
                        backend: c.variant.as_ref().map_or("", |v| v.backend.as_str()).into(),
                        threads: a.threads,
                        titles_file: titles_file.clone(),
                        titles: n,
                        sample,
                        latency_titles: lat.min(n),
                        vectors: vectors.clone(),
                        dtype: c.variant.as_ref().and_then(|v| v.dtype).map(str::to_string),
                    };
                    run_json(
                        Command::new(&exe)
                            .arg("--child")
                            .arg(serde_json::to_string(&spec)?),
                    )
                }
                Some(peer) => {
                    let py = &python.as_ref().expect("peers only with a python").path;
                    run_json(
                        Command::new(py)
                            .arg(tb::workspace_root().join("scripts").join("bench_peers.py"))
                            .args(["--peer", peer])
                            .arg("--model")
                            .arg(tb::models_dir().join("all-MiniLM-L6-v2"))
                            .args(["--threads", &a.threads.to_string()])
                            .arg("--titles-file")
                            .arg(&titles_file)
                            .args(["--titles", &n.to_string()])
                            .args(["--latency-titles", &lat.min(n).to_string()])
                            .arg("--vectors")
                            .arg(&vectors),
                    )
                }
            };
            match r {
                Ok(m) => {
                    eprintln!(
                        "{:>8.1} titles/s @32  p50 {:>7.2} ms @1  load {:.2}s  rss {}",
                        m.b32_titles_per_s,
                        m.b1_p50_ms,
                        m.load_s,
                        fmt_opt(m.peak_rss_mb, 0, " MB")
                    );
                    results.entry(c.id.clone()).or_default().push(m);
                }
                Err(e) => {
                    eprintln!("FAILED: {e:#}");
                    errors.insert(c.id.clone(), format!("{e:#}"));
                }
            }
        }
    }

    // ---- aggregate
    let mut rows: Vec<Row> = Vec::new();
    for c in &configs {
        let ms = results.get(&c.id).cloned().unwrap_or_default();
        let med = |f: fn(&Measurement) -> f64| tb::median(&ms.iter().map(f).collect::<Vec<_>>());
        let rss: Vec<f64> = ms.iter().filter_map(|m| m.peak_rss_mb).collect();
        rows.push(Row {
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
            error: errors.get(&c.id).cloned(),
            note: ms.iter().find_map(|m| m.note.clone()),
        });
    }
    parity(&mut rows, &configs, &results, &vec_dir);

    let report = Report::new(&a, &cpu, &versions, n_avail, rows, &skipped);
    let md = report.markdown();
    std::fs::write(out.join("head2head.md"), &md)?;
    std::fs::write(
        out.join("head2head.json"),
        serde_json::to_string_pretty(&report.json())? + "\n",
    )?;
    std::fs::write(out.join("head2head.svg"), report.svg())?;
    println!("{md}");
    eprintln!(
        "head2head: wrote {} (head2head.md, .json, .svg) in {:.0}s",
        out.display(),
        t_all.elapsed().as_secs_f64()
    );
    Ok(())
}

fn split_list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|x| x.trim().to_lowercase())
        .filter(|x| !x.is_empty())
        .collect()
}

fn run_json(cmd: &mut Command) -> Result<Measurement> {
    let out = cmd
        .stderr(std::process::Stdio::piped())
        .output()
        .context("starting the child process")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        bail!(
            "exit {}: {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| anyhow!("no JSON result on stdout"))?;
    serde_json::from_str(line).with_context(|| format!("parsing child result {line}"))
}

/// A Python interpreter for the peers.
struct Python {
    path: PathBuf,
    /// Whether `sentence_transformers` imports too (the ONNX Runtime peer needs only
    /// onnxruntime, tokenizers and numpy).
    sentence_transformers: bool,
}

fn find_python(explicit: Option<&Path>) -> Option<Python> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = explicit {
        candidates.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("TITLESIM_BENCH_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    let root = tb::workspace_root();
    candidates.push(root.join(".venv-bench").join("bin").join("python"));
    candidates.push(PathBuf::from("python3"));
    let imports = |py: &Path, modules: &str| {
        Command::new(py)
            .args(["-c", &format!("import {modules}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    for c in candidates {
        if imports(&c, "onnxruntime, tokenizers, numpy") {
            let sentence_transformers = imports(&c, "sentence_transformers");
            return Some(Python {
                path: c,
                sentence_transformers,
            });
        }
        if explicit.is_some_and(|e| e == c) {
            eprintln!(
                "head2head: --python {} cannot import onnxruntime, tokenizers, numpy",
                c.display()
            );
        }
    }
    None
}

fn parity(
    rows: &mut [Row],
    configs: &[Config],
    results: &BTreeMap<String, Vec<Measurement>>,
    vec_dir: &Path,
) {
    let load = |id: &str| -> Option<Vec<Vec<f32>>> {
        let dim = results.get(id)?.first()?.dim;
        read_vectors(
            &vec_dir.join(format!("{}.f32", id.replace(['/', '@'], "_"))),
            dim,
        )
        .ok()
    };
    let st = "all-MiniLM-L6-v2@peer-st";
    let minilm_ref = if results.contains_key(st) {
        Some((st.to_string(), "sentence-transformers".to_string()))
    } else if results.contains_key("all-MiniLM-L6-v2@candle") {
        Some(("all-MiniLM-L6-v2@candle".into(), "titlesim candle".into()))
    } else {
        None
    };
    for (row, c) in rows.iter_mut().zip(configs) {
        let r = match c.variant.as_ref().map(|v| v.reference) {
            Some(tb::Reference::OrtSameModel) => {
                Some((format!("{}@ort", c.folder), "titlesim ort".to_string()))
            }
            _ => minilm_ref.clone(),
        };
        let Some((rid, rname)) = r else { continue };
        if rid == row.id {
            row.parity_ref = Some("(reference)".into());
            continue;
        }
        if let (Some(a), Some(b)) = (load(&row.id), load(&rid)) {
            let c = tb::min_cosine(&a, &b);
            if !c.is_nan() {
                row.parity_min_cos = Some(c);
                row.parity_ref = Some(rname);
            }
        }
    }
}

fn fmt_opt(x: Option<f64>, prec: usize, unit: &str) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.prec$}{unit}"),
        _ => "n/a".into(),
    }
}

fn fmt(x: f64, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "n/a".into()
    }
}

// ------------------------------------------------------------------------------------------
// report

struct Target {
    name: String,
    goal: String,
    ratio: Option<f64>,
    met: Option<bool>,
    detail: String,
}

struct Report {
    threads: usize,
    n_titles: usize,
    latency_titles: usize,
    runs: usize,
    quick: bool,
    cpu: tb::CpuInfo,
    versions: Vec<(String, String)>,
    rows: Vec<Row>,
    skipped: Vec<String>,
}

const PARITY_MIN: f64 = 0.999;

impl Report {
    fn new(
        a: &Args,
        cpu: &tb::CpuInfo,
        versions: &[(String, String)],
        n: usize,
        rows: Vec<Row>,
        skipped: &[String],
    ) -> Self {
        Report {
            threads: a.threads,
            n_titles: n,
            latency_titles: a.latency_titles.min(n),
            runs: a.runs,
            quick: a.quick,
            cpu: cpu.clone(),
            versions: versions.to_vec(),
            rows,
            skipped: skipped.to_vec(),
        }
    }

    fn ok(&self, id: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.id == id && r.error.is_none() && r.runs > 0)
    }

    fn parity_ok(r: &Row) -> bool {
        r.parity_ref.as_deref() == Some("(reference)")
            || r.parity_min_cos.is_some_and(|c| c >= PARITY_MIN)
    }

    /// The ONNX Runtime baseline for the targets: the Python peer, else our own ort backend.
    fn ort_baseline(&self) -> Option<(&Row, &'static str)> {
        self.ok("all-MiniLM-L6-v2@peer-ort")
            .map(|r| (r, "ONNX Runtime from Python"))
            .or_else(|| {
                self.ok("all-MiniLM-L6-v2@ort")
                    .map(|r| (r, "titlesim ort (no Python peer ran)"))
            })
    }

    fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let Some((base, base_name)) = self.ort_baseline() else {
            return out;
        };
        let ours: Vec<&Row> = ["candle", "candle-int8", "ort", "tract"]
            .iter()
            .filter_map(|b| self.ok(&format!("all-MiniLM-L6-v2@{b}")))
            .collect();
        let best = |f: fn(&Row) -> f64| -> Option<&Row> {
            ours.iter()
                .copied()
                .filter(|r| Self::parity_ok(r))
                .max_by(|x, y| f(x).total_cmp(&f(y)))
        };
        for (label, f, goal) in [
            (
                "batch 32",
                (|r: &Row| r.b32_titles_per_s) as fn(&Row) -> f64,
                1.3,
            ),
            ("batch 1", |r: &Row| r.b1_titles_per_s, 2.0),
        ] {
            let b = best(f);
            let ratio = b.map(|r| f(r) / f(base));
            out.push(Target {
                name: format!("fastest backend ≥ {goal}× {base_name}, all-MiniLM-L6-v2, {label}"),
                goal: format!("≥ {goal}"),
                ratio,
                met: ratio.map(|x| x >= goal),
                detail: b.map_or("no backend with parity ≥ 0.999".into(), |r| {
                    format!("{}: {:.1} vs {:.1} titles/s", r.engine, f(r), f(base))
                }),
            });
        }
        for be in ["candle", "tract"] {
            let Some(r) = self.ok(&format!("all-MiniLM-L6-v2@{be}")) else {
                continue;
            };
            for (label, f) in [
                (
                    "batch 32",
                    (|r: &Row| r.b32_titles_per_s) as fn(&Row) -> f64,
                ),
                ("batch 1", |r: &Row| r.b1_titles_per_s),
            ] {
                // time ratio = their throughput / ours
                let ratio = f(base) / f(r);
                let par = Self::parity_ok(r);
                out.push(Target {
                    name: format!("{be} time ≤ 1.5× {base_name}, all-MiniLM-L6-v2, {label}"),
                    goal: "≤ 1.5".into(),
                    ratio: Some(ratio),
                    met: Some(ratio <= 1.5 && par),
                    detail: format!(
                        "{:.1} vs {:.1} titles/s; parity {}",
                        f(r),
                        f(base),
                        fmt_opt(r.parity_min_cos, 6, "")
                    ),
                });
            }
        }
        out
    }

    /// bge-small vs Qwen3 cost (ms per title at batch 32) per backend.
    fn cost_ratios(&self) -> Vec<(String, f64, f64, f64)> {
        let mut v = Vec::new();
        for be in ["candle", "ort", "tract"] {
            let b = self.ok(&format!("synthetic/bge-small-en-v1.5-random@{be}"));
            let q = self.ok(&format!("synthetic/Qwen3-Embedding-0.6B-random@{be}"));
            if let (Some(b), Some(q)) = (b, q) {
                let (mb, mq) = (1e3 / b.b32_titles_per_s, 1e3 / q.b32_titles_per_s);
                v.push((be.to_string(), mb, mq, mq / mb));
            }
        }
        v
    }

    fn best_per_model(&self) -> Vec<(String, String, f64, String, f64)> {
        let mut models: Vec<String> = Vec::new();
        for r in &self.rows {
            if !r.peer && !models.contains(&r.model) {
                models.push(r.model.clone());
            }
        }
        let mut out = Vec::new();
        for m in models {
            let cands: Vec<&Row> = self
                .rows
                .iter()
                .filter(|r| {
                    r.model == m && !r.peer && r.error.is_none() && r.runs > 0 && Self::parity_ok(r)
                })
                .collect();
            let b32 = cands
                .iter()
                .max_by(|x, y| x.b32_titles_per_s.total_cmp(&y.b32_titles_per_s));
            let b1 = cands
                .iter()
                .max_by(|x, y| x.b1_titles_per_s.total_cmp(&y.b1_titles_per_s));
            if let (Some(b32), Some(b1)) = (b32, b1) {
                out.push((
                    m,
                    b32.engine.clone(),
                    b32.b32_titles_per_s,
                    b1.engine.clone(),
                    b1.b1_p50_ms,
                ));
            }
        }
        out
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let c = &self.cpu;
        s += "## Head-to-head: titlesim backends and peers\n\n";
        s += &format!(
            "CPU: {} `{}`, {} logical cores, features: {}. Thread budget: **{}**. \
             Titles: {} (batch 32, length-sorted batches), {} timed one by one (batch 1); \
             medians of {} round(s){}, each configuration in its own process.\n\n",
            c.arch,
            c.model,
            c.logical_cores,
            if c.features.is_empty() {
                "none detected".to_string()
            } else {
                c.features.join(", ")
            },
            self.threads,
            self.n_titles,
            self.latency_titles,
            self.runs,
            if self.quick {
                " (**--quick smoke run: numbers are not meaningful**)"
            } else {
                ""
            },
        );
        s += &format!(
            "Versions: {}.\n\n",
            self.versions
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let base = self.ort_baseline();
        s += "| model | engine | weights | titles/s @32 | p50 ms @1 | p99 ms @1 | titles/s @1 | vs ORT-Py @32 | vs ORT-Py @1 | load s | peak RSS MB | min cos vs ref |\n";
        s += "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n";
        for r in &self.rows {
            if let Some(e) = &r.error {
                s += &format!(
                    "| {} | {} | {} | failed: {} ||||||||\n",
                    r.model,
                    r.engine,
                    r.format,
                    e.replace('|', "/").chars().take(160).collect::<String>()
                );
                continue;
            }
            let (v32, v1) = match base {
                Some((b, _)) if r.folder.starts_with("all-MiniLM-L6-v2") => (
                    format!("{:.2}×", r.b32_titles_per_s / b.b32_titles_per_s),
                    format!("{:.2}×", r.b1_titles_per_s / b.b1_titles_per_s),
                ),
                _ => ("".into(), "".into()),
            };
            let par = match (&r.parity_ref, r.parity_min_cos) {
                (Some(x), _) if x == "(reference)" => "reference".to_string(),
                (Some(x), Some(c)) => format!("{c:.6} ({x})"),
                _ => "n/a".into(),
            };
            let n_note = if r.n_titles != self.n_titles {
                format!(" ({} titles)", r.n_titles)
            } else {
                String::new()
            };
            s += &format!(
                "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                r.model,
                n_note,
                r.engine,
                r.format,
                fmt(r.b32_titles_per_s, 1),
                fmt(r.b1_p50_ms, 2),
                fmt(r.b1_p99_ms, 2),
                fmt(r.b1_titles_per_s, 1),
                v32,
                v1,
                fmt(r.load_s, 2),
                fmt_opt(r.peak_rss_mb, 0, ""),
                par
            );
        }
        s += "\n";
        let targets = self.targets();
        if !targets.is_empty() {
            s += "### Speed targets (all-MiniLM-L6-v2; a backend counts only with min cosine ≥ 0.999 vs the reference)\n\n";
            s += "| target | goal | measured | verdict | detail |\n|---|---|--:|---|---|\n";
            for t in &targets {
                s += &format!(
                    "| {} | {} | {} | {} | {} |\n",
                    t.name,
                    t.goal,
                    t.ratio.map_or("n/a".into(), |r| format!("{r:.2}×")),
                    match t.met {
                        Some(true) => "**met**",
                        Some(false) => "**not met**",
                        None => "n/a",
                    },
                    t.detail
                );
            }
            s += "\n";
        } else {
            s += "Speed targets: not evaluated (no ONNX Runtime baseline for all-MiniLM-L6-v2 ran).\n\n";
        }
        let cr = self.cost_ratios();
        if !cr.is_empty() {
            s += "### bge-small-en-v1.5 vs Qwen3-Embedding-0.6B (architecture-faithful random weights), batch 32\n\n";
            s += "| backend | bge-small ms/title | Qwen3-0.6B ms/title | Qwen3 / bge-small |\n|---|--:|--:|--:|\n";
            for (be, b, q, r) in &cr {
                s += &format!("| {be} | {b:.2} | {q:.2} | {r:.1}× |\n");
            }
            s += "\n";
        }
        let best = self.best_per_model();
        if !best.is_empty() {
            s += "### Best backend per model (among those with parity ≥ 0.999)\n\n";
            s += "| model | best @32 | titles/s | best @1 | p50 ms |\n|---|---|--:|---|--:|\n";
            for (m, e32, t, e1, p) in &best {
                s += &format!("| {m} | {e32} | {t:.1} | {e1} | {p:.2} |\n");
            }
            s += "\n";
        }
        if !self.skipped.is_empty() {
            s += &format!("Skipped (files missing): {}.\n\n", self.skipped.join("; "));
        }
        s
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "threads": self.threads,
            "titles": self.n_titles,
            "latency_titles": self.latency_titles,
            "runs": self.runs,
            "quick": self.quick,
            "cpu": self.cpu,
            "versions": self.versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "rows": self.rows,
            "targets": self.targets().iter().map(|t| json!({
                "target": t.name, "goal": t.goal, "ratio": t.ratio, "met": t.met, "detail": t.detail,
            })).collect::<Vec<_>>(),
            "bge_vs_qwen3": self.cost_ratios().iter().map(|(be, b, q, r)| json!({
                "backend": be, "bge_ms_per_title": b, "qwen3_ms_per_title": q, "ratio": r,
            })).collect::<Vec<_>>(),
            "best_per_model": self.best_per_model().iter().map(|(m, e32, t, e1, p)| json!({
                "model": m, "best_batch32": e32, "titles_per_s": t, "best_batch1": e1, "p50_ms": p,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped,
        })
    }

    /// Horizontal bars of titles/s at batch 32 (log scale), one per configuration.
    fn svg(&self) -> String {
        let rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| {
                r.error.is_none() && r.b32_titles_per_s.is_finite() && r.b32_titles_per_s > 0.0
            })
            .collect();
        let (left, bar_w, row_h, top) = (430.0, 420.0, 22.0, 50.0);
        let h = top + row_h * rows.len() as f64 + 40.0;
        let w = left + bar_w + 120.0;
        let max = rows.iter().map(|r| r.b32_titles_per_s).fold(1.0, f64::max);
        let lo = 0.1f64;
        let scale = |v: f64| ((v.max(lo) / lo).log10() / (max / lo).log10()) * bar_w;
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">titles/s at batch 32 (log scale), {} threads, {} {}</text>\n\
             <text x=\"10\" y=\"38\" fill=\"#555\">{}</text>\n",
            self.threads,
            esc(&self.cpu.arch),
            esc(&self.cpu.model),
            if self.quick { "--quick smoke run: not meaningful" } else { "medians; each configuration in its own process" }
        );
        for (i, r) in rows.iter().enumerate() {
            let y = top + row_h * i as f64;
            let color = if r.peer {
                "#999999"
            } else if r.engine.contains("candle") {
                "#d9822b"
            } else if r.engine.ends_with("ort") {
                "#2b6cd9"
            } else {
                "#2ba36b"
            };
            let bw = scale(r.b32_titles_per_s);
            s += &format!(
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{} — {}</text>\n\
                 <rect x=\"{left:.0}\" y=\"{:.0}\" width=\"{bw:.1}\" height=\"{:.0}\" fill=\"{color}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.0}\">{:.1}</text>\n",
                left - 8.0,
                y + 15.0,
                esc(&r.model),
                esc(&r.engine),
                y + 3.0,
                row_h - 6.0,
                left + bw + 5.0,
                y + 15.0,
                r.b32_titles_per_s
            );
        }
        s += "</svg>\n";
        s
    }
}
