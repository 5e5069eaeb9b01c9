//! The report: one [`Row`] per configuration, what the rows say (the speed targets, the
//! bge-small vs Qwen3 cost, the best backend per model), and `head2head.{md,json,svg}`.

mod json;
mod markdown;
mod svg;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::args::Args;
use crate as tb;

/// One row of the result table.
#[derive(Serialize, Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) folder: String,
    pub(crate) engine: String,
    pub(crate) format: String,
    pub(crate) peer: bool,
    pub(crate) runs: usize,
    pub(crate) n_titles: usize,
    pub(crate) load_s: f64,
    pub(crate) b32_titles_per_s: f64,
    pub(crate) b1_p50_ms: f64,
    pub(crate) b1_p99_ms: f64,
    pub(crate) b1_titles_per_s: f64,
    pub(crate) peak_rss_mb: Option<f64>,
    pub(crate) parity_min_cos: Option<f64>,
    pub(crate) parity_ref: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) note: Option<String>,
}

/// What bge-small and Qwen3-0.6B cost on one backend in one precision (batch 32).
struct CostRatio {
    backend: String,
    dtype: &'static str,
    bge_ms: f64,
    qwen3_ms: f64,
    /// `qwen3_ms / bge_ms`.
    ratio: f64,
    bge_rss_mb: Option<f64>,
    qwen3_rss_mb: Option<f64>,
}

/// One speed target and how the run measured against it.
struct Target {
    name: String,
    goal: String,
    ratio: Option<f64>,
    met: Option<bool>,
    detail: String,
}

/// Everything the report files show.
pub(crate) struct Report {
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

/// A backend counts for the targets and the best-per-model table only with this parity.
const PARITY_MIN: f64 = 0.999;

/// A throughput of a row (titles per second at batch 32 or at batch 1).
type Speed = fn(&Row) -> f64;

/// The two throughputs the targets look at, with their labels.
const SPEEDS: [(&str, Speed); 2] = [
    ("batch 32", |r| r.b32_titles_per_s),
    ("batch 1", |r| r.b1_titles_per_s),
];

impl Report {
    /// The report of a run with arguments `a` over `n` titles.
    pub(crate) fn new(
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

    /// The row of configuration `id` when it measured without failing.
    fn ok(&self, id: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.id == id && r.error.is_none() && r.runs > 0)
    }

    /// Whether `r` is a reference or within [`PARITY_MIN`] of its reference.
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

    /// All the speed targets; none without an ONNX Runtime baseline.
    fn targets(&self) -> Vec<Target> {
        let Some((base, base_name)) = self.ort_baseline() else {
            return Vec::new();
        };
        let mut out = self.fastest_targets(base, base_name);
        out.extend(self.time_targets(base, base_name));
        out.extend(self.python_targets());
        out
    }

    /// The Python package against the CLI's candle f32 (the same kernels): within 5% of its
    /// throughput at batch 32, and under 50 µs more per call at batch 1 (p50).
    fn python_targets(&self) -> Vec<Target> {
        let (Some(py), Some(rs)) = (
            self.ok("all-MiniLM-L6-v2@peer-titlesim"),
            self.ok("all-MiniLM-L6-v2@candle"),
        ) else {
            return Vec::new();
        };
        let ratio = py.b32_titles_per_s / rs.b32_titles_per_s;
        let overhead_us = (py.b1_p50_ms - rs.b1_p50_ms) * 1e3;
        vec![
            Target {
                name: "Python package ≥ 0.95× the CLI's candle throughput, batch 32".into(),
                goal: "≥ 0.95".into(),
                ratio: Some(ratio),
                met: Some(ratio >= 0.95),
                detail: format!(
                    "{:.1} vs {:.1} titles/s",
                    py.b32_titles_per_s, rs.b32_titles_per_s
                ),
            },
            Target {
                name: "Python package's per-call overhead < 50 µs, batch 1 (p50)".into(),
                goal: "< 50 µs".into(),
                ratio: Some(py.b1_p50_ms / rs.b1_p50_ms),
                met: Some(overhead_us < 50.0),
                detail: format!(
                    "{:.3} vs {:.3} ms: {overhead_us:+.0} µs per call",
                    py.b1_p50_ms, rs.b1_p50_ms
                ),
            },
        ]
    }

    /// Our fastest backend with parity ≥ 1.3× the baseline at batch 32 and ≥ 2× at batch 1. In
    /// a run where some backends ran as on an AVX2-only host (`--avx2-only`), only those count:
    /// the others used the CPU's wider instructions.
    fn fastest_targets(&self, base: &Row, base_name: &str) -> Vec<Target> {
        let capped = &self.cpu.avx2_capped;
        let counts = |b: &str| {
            let backend = b.split('-').next().unwrap_or(b);
            capped.is_empty() || capped.iter().any(|c| c == backend)
        };
        let ours: Vec<&Row> = ["candle", "candle-int8", "candle-bf16", "ort", "tract"]
            .into_iter()
            .filter(|b| counts(b))
            .filter_map(|b| self.ok(&format!("all-MiniLM-L6-v2@{b}")))
            .collect();
        let among = if capped.is_empty() {
            String::new()
        } else {
            format!(" (among {}, capped to AVX2)", capped.join(" and "))
        };
        let best = |f: Speed| -> Option<&Row> {
            ours.iter()
                .copied()
                .filter(|r| Self::parity_ok(r))
                .max_by(|x, y| f(x).total_cmp(&f(y)))
        };
        SPEEDS
            .into_iter()
            .zip([1.3, 2.0])
            .map(|((label, f), goal)| {
                let b = best(f);
                let ratio = b.map(|r| f(r) / f(base));
                Target {
                    name: format!(
                        "fastest backend{among} ≥ {goal}× {base_name}, all-MiniLM-L6-v2, {label}"
                    ),
                    goal: format!("≥ {goal}"),
                    ratio,
                    met: ratio.map(|x| x >= goal),
                    detail: b.map_or("no backend with parity ≥ 0.999".into(), |r| {
                        format!("{}: {:.1} vs {:.1} titles/s", r.engine, f(r), f(base))
                    }),
                }
            })
            .collect()
    }

    /// candle's and tract's time ≤ 1.5× the baseline's, at batch 32 and at batch 1.
    fn time_targets(&self, base: &Row, base_name: &str) -> Vec<Target> {
        let mut out = Vec::new();
        for be in ["candle", "tract"] {
            let Some(r) = self.ok(&format!("all-MiniLM-L6-v2@{be}")) else {
                continue;
            };
            for (label, f) in SPEEDS {
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

    /// bge-small vs Qwen3 cost per backend and compute precision, where both models ran.
    fn cost_ratios(&self) -> Vec<CostRatio> {
        let mut v = Vec::new();
        // (variant id suffix, backend, compute precision)
        for (id, backend, dtype) in [
            ("candle", "candle", "f32"),
            ("candle-int8", "candle", "int8"),
            ("candle-bf16", "candle", "bf16"),
            ("ort", "ort", "f32"),
            ("tract", "tract", "f32"),
        ] {
            let b = self.ok(&format!("synthetic/bge-small-en-v1.5-random@{id}"));
            let q = self.ok(&format!("synthetic/Qwen3-Embedding-0.6B-random@{id}"));
            if let (Some(b), Some(q)) = (b, q) {
                let (mb, mq) = (1e3 / b.b32_titles_per_s, 1e3 / q.b32_titles_per_s);
                v.push(CostRatio {
                    backend: backend.to_string(),
                    dtype,
                    bge_ms: mb,
                    qwen3_ms: mq,
                    ratio: mq / mb,
                    bge_rss_mb: b.peak_rss_mb,
                    qwen3_rss_mb: q.peak_rss_mb,
                });
            }
        }
        v
    }

    /// Per model (in table order): the best backend with parity at batch 32 (titles/s) and at
    /// batch 1 (p50 ms).
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

    /// Writes `head2head.md`, `head2head.json` and `head2head.svg` in `out`; returns the
    /// Markdown.
    pub(crate) fn write(&self, out: &Path) -> Result<String> {
        let md = self.markdown();
        std::fs::write(out.join("head2head.md"), &md)?;
        std::fs::write(
            out.join("head2head.json"),
            serde_json::to_string_pretty(&self.json())? + "\n",
        )?;
        std::fs::write(out.join("head2head.svg"), self.svg())?;
        Ok(md)
    }
}

/// `x` with `prec` decimals and `unit`, or `n/a` when absent or not finite.
pub(crate) fn fmt_opt(x: Option<f64>, prec: usize, unit: &str) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.prec$}{unit}"),
        _ => "n/a".into(),
    }
}

/// `x` with `prec` decimals, or `n/a` when not finite.
fn fmt(x: f64, prec: usize) -> String {
    if x.is_finite() {
        format!("{x:.prec$}")
    } else {
        "n/a".into()
    }
}

#[cfg(test)]
mod tests;
