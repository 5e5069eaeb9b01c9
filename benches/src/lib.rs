//! # titlesim-bench
//!
//! Shared pieces of titlesim's benchmarks: where the models and titles are, the matrix of
//! model × backend variants, loading an embedder with a thread budget and batch size, CPU
//! description and peak memory. Used by the criterion benches (`cargo bench -p titlesim-bench`)
//! and by the head-to-head binary behind `cargo xtask bench` (`src/bin/head2head.rs`).
#![deny(missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use titlesim::{BackendKind, EmbedOptions, ModelConfig, TransformerEmbedder};

/// The workspace root (the folder above this package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The models folder: `$TITLESIM_MODELS_DIR`, else `<workspace root>/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("TITLESIM_MODELS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("models"),
    }
}

/// The ONNX Runtime library `cargo xtask fetch-models` puts in the models folder, if present.
pub fn ort_library() -> Option<PathBuf> {
    let p = models_dir()
        .join("onnxruntime")
        .join("libonnxruntime.so.1.31.1");
    p.is_file().then_some(p)
}

/// The benchmark titles (`data/bench_titles.txt`).
pub fn default_titles_path() -> PathBuf {
    workspace_root().join("data").join("bench_titles.txt")
}

/// Reads up to `n` non-empty titles from `path`.
pub fn load_titles(path: &Path, n: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read titles from {}", path.display()))?;
    let titles: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(n)
        .map(String::from)
        .collect();
    if titles.is_empty() {
        bail!("{} holds no titles", path.display());
    }
    Ok(titles)
}

/// `n` titles spread evenly over `titles` (every k-th), so a short sample keeps the length mix.
pub fn spread_sample(titles: &[String], n: usize) -> Vec<String> {
    if n >= titles.len() {
        return titles.to_vec();
    }
    (0..n)
        .map(|i| titles[i * titles.len() / n].clone())
        .collect()
}

/// What the vectors of a variant are compared with for parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The sentence-transformers peer on all-MiniLM-L6-v2 (falls back to candle when the peer
    /// did not run).
    MiniLmSentenceTransformers,
    /// This model on ONNX Runtime (fp32 export).
    OrtSameModel,
}

/// One model × backend configuration of the head-to-head matrix.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Model label in tables (e.g. `all-MiniLM-L6-v2 int8`).
    pub model: &'static str,
    /// Folder under the models directory.
    pub folder: &'static str,
    /// Backend.
    pub backend: BackendKind,
    /// Weights format, for the table (`safetensors f32`, `onnx fp32`, ...).
    pub format: &'static str,
    /// Expensive (0.6B-class): fewer titles and runs.
    pub heavy: bool,
    /// Parity reference.
    pub reference: Reference,
    /// Compute precision asked of the backend (`BackendOptions::dtype`); `None`: its default.
    pub dtype: Option<&'static str>,
}

impl Variant {
    /// A stable id: `<folder>@<backend>`, or `<folder>@<backend>-<dtype>` with a dtype.
    pub fn id(&self) -> String {
        match self.dtype {
            Some(d) => format!("{}@{}-{d}", self.folder, self.backend.as_str()),
            None => format!("{}@{}", self.folder, self.backend.as_str()),
        }
    }

    /// The model folder.
    pub fn path(&self) -> PathBuf {
        models_dir().join(self.folder)
    }

    /// Whether the files this variant needs are present.
    pub fn available(&self) -> bool {
        let p = self.path();
        let weights = match self.backend {
            BackendKind::Candle => p.join("model.safetensors"),
            _ => p.join("onnx").join("model.onnx"),
        };
        p.join("config.json").is_file() && weights.is_file()
    }
}

/// Every variant the head-to-head knows, in table order. Missing models are skipped by callers
/// ([`Variant::available`]).
pub fn all_variants() -> Vec<Variant> {
    use BackendKind::*;
    let v = |model, folder, backend, format, heavy, reference| Variant {
        model,
        folder,
        backend,
        format,
        heavy,
        reference,
        dtype: None,
    };
    let st = Reference::MiniLmSentenceTransformers;
    let own = Reference::OrtSameModel;
    vec![
        v(
            "all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2",
            Candle,
            "safetensors f32",
            false,
            st,
        ),
        Variant {
            dtype: Some("int8"),
            ..v(
                "all-MiniLM-L6-v2",
                "all-MiniLM-L6-v2",
                Candle,
                "safetensors f32 → int8 at load",
                false,
                st,
            )
        },
        v(
            "all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2",
            Ort,
            "onnx fp32",
            false,
            st,
        ),
        v(
            "all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2",
            Tract,
            "onnx fp32",
            false,
            st,
        ),
        v(
            "all-MiniLM-L6-v2 int8",
            "all-MiniLM-L6-v2-int8",
            Ort,
            "onnx int8 weights",
            false,
            st,
        ),
        v(
            "all-MiniLM-L6-v2 int8",
            "all-MiniLM-L6-v2-int8",
            Tract,
            "onnx int8 weights",
            false,
            st,
        ),
        v(
            "paraphrase-MiniLM-L3-v2",
            "paraphrase-MiniLM-L3-v2",
            Ort,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "paraphrase-MiniLM-L3-v2",
            "paraphrase-MiniLM-L3-v2",
            Tract,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "bge-small-en-v1.5 (random)",
            "synthetic/bge-small-en-v1.5-random",
            Candle,
            "safetensors f32",
            false,
            own,
        ),
        v(
            "bge-small-en-v1.5 (random)",
            "synthetic/bge-small-en-v1.5-random",
            Ort,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "bge-small-en-v1.5 (random)",
            "synthetic/bge-small-en-v1.5-random",
            Tract,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "Qwen3-Embedding-0.6B (random)",
            "synthetic/Qwen3-Embedding-0.6B-random",
            Candle,
            "safetensors bf16",
            true,
            own,
        ),
        v(
            "Qwen3-Embedding-0.6B (random)",
            "synthetic/Qwen3-Embedding-0.6B-random",
            Ort,
            "onnx fp32",
            true,
            own,
        ),
        v(
            "Qwen3-Embedding-0.6B (random)",
            "synthetic/Qwen3-Embedding-0.6B-random",
            Tract,
            "onnx fp32",
            true,
            own,
        ),
    ]
}

/// Loads `folder` (absolute, or relative to the models folder) on `backend` with a thread
/// budget and batch size; returns the embedder and the load time in seconds.
pub fn load_embedder(
    folder: &Path,
    backend: BackendKind,
    threads: usize,
    batch_size: usize,
) -> Result<(TransformerEmbedder, f64)> {
    load_embedder_with(folder, backend, threads, batch_size, None)
}

/// [`load_embedder`] with a compute precision for the backend (`BackendOptions::dtype`, e.g.
/// `int8` on candle).
pub fn load_embedder_with(
    folder: &Path,
    backend: BackendKind,
    threads: usize,
    batch_size: usize,
    dtype: Option<&str>,
) -> Result<(TransformerEmbedder, f64)> {
    let folder = if folder.is_absolute() {
        folder.to_path_buf()
    } else {
        models_dir().join(folder)
    };
    if !folder.join("config.json").is_file() {
        bail!(
            "model folder {} is missing: run `cargo xtask fetch-models`",
            folder.display()
        );
    }
    let mut cfg = ModelConfig::new(folder.to_string_lossy().to_string(), backend, 0.5);
    cfg.threads = Some(threads);
    cfg.batch_size = Some(batch_size);
    cfg.dtype = dtype.map(str::to_string);
    if backend == BackendKind::Ort {
        cfg.ort_library = ort_library();
    }
    let t0 = Instant::now();
    let spec = titlesim::load_spec(&cfg)
        .with_context(|| format!("reading model folder {}", folder.display()))?;
    let be = titlesim::load_backend(backend, &spec, &titlesim::BackendOptions::from_config(&cfg))
        .with_context(|| format!("loading {} on {}", folder.display(), backend.as_str()))?;
    let emb = TransformerEmbedder::new(spec, be, EmbedOptions { batch_size })?;
    Ok((emb, t0.elapsed().as_secs_f64()))
}

/// The CPU: architecture, model name and the SIMD features that matter for inference.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CpuInfo {
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// The model name from /proc/cpuinfo, or "unknown".
    pub model: String,
    /// Logical cores visible to this process.
    pub logical_cores: usize,
    /// Detected features (x86: avx2, fma, avx512f, avx512_vnni, avx512_bf16; aarch64: neon,
    /// dotprod, i8mm, bf16, sve).
    pub features: Vec<String>,
}

/// Describes the CPU this runs on (portable: feature detection only on x86/x86_64/aarch64).
pub fn cpu_info() -> CpuInfo {
    #[allow(unused_mut)]
    let mut features: Vec<String> = Vec::new();
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let checks = [
            ("avx2", std::is_x86_feature_detected!("avx2")),
            ("fma", std::is_x86_feature_detected!("fma")),
            ("avx512f", std::is_x86_feature_detected!("avx512f")),
            ("avx512_vnni", std::is_x86_feature_detected!("avx512vnni")),
            ("avx512_bf16", std::is_x86_feature_detected!("avx512bf16")),
        ];
        features.extend(checks.iter().filter(|c| c.1).map(|c| c.0.to_string()));
    }
    #[cfg(target_arch = "aarch64")]
    {
        let checks = [
            ("neon", std::arch::is_aarch64_feature_detected!("neon")),
            (
                "dotprod",
                std::arch::is_aarch64_feature_detected!("dotprod"),
            ),
            ("i8mm", std::arch::is_aarch64_feature_detected!("i8mm")),
            ("bf16", std::arch::is_aarch64_feature_detected!("bf16")),
            ("sve", std::arch::is_aarch64_feature_detected!("sve")),
        ];
        features.extend(checks.iter().filter(|c| c.1).map(|c| c.0.to_string()));
    }
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| {
                    let k = l.split(':').next().unwrap_or("").trim();
                    k == "model name" || k == "Model" || k == "CPU part"
                })
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown".into());
    CpuInfo {
        arch: std::env::consts::ARCH.into(),
        model,
        logical_cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        features,
    }
}

/// This process's peak resident set size in MB (VmHWM of /proc/self/status); `None` where
/// that is not available (non-Linux).
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Versions of the inference stack, read from the workspace's Cargo.lock (`unknown` when absent).
pub fn stack_versions() -> Vec<(String, String)> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap_or_default();
    let find = |name: &str| -> String {
        let pat = format!("name = \"{name}\"\nversion = \"");
        lock.find(&pat)
            .map(|i| {
                let rest = &lock[i + pat.len()..];
                rest[..rest.find('"').unwrap_or(0)].to_string()
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let mut out = vec![(
        "titlesim".to_string(),
        env!("CARGO_PKG_VERSION").to_string(),
    )];
    for n in ["candle-core", "ort", "tract-onnx", "tokenizers"] {
        out.push((n.to_string(), find(n)));
    }
    out.push((
        "onnxruntime library".into(),
        ort_library()
            .and_then(|p| {
                p.file_name()
                    .map(|f| f.to_string_lossy().replace("libonnxruntime.so.", ""))
            })
            .unwrap_or_else(|| "not found in models/onnxruntime".into()),
    ));
    out
}

/// Percentile `p` (0..=100) of `xs` by nearest rank; `NaN` for an empty slice.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The median of `xs` (mean of the middle two for an even count); `NaN` when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Smallest cosine between rows `i` of `a` and `b` (equal lengths expected; `NaN` otherwise).
pub fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::NAN;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if x.len() != y.len() {
                f64::NAN
            } else {
                titlesim::cosine(x, y) as f64
            }
        })
        .fold(
            f64::INFINITY,
            |m, c| if c.is_nan() { f64::NAN } else { m.min(c) },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 50.0), 50.0);
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn spread_sample_keeps_the_ends_spread() {
        let t: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(spread_sample(&t, 5), ["0", "2", "4", "6", "8"]);
        assert_eq!(spread_sample(&t, 20).len(), 10);
    }

    #[test]
    fn min_cosine_finds_the_worst_row() {
        let a = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let b = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        assert!((min_cosine(&a, &b) - 0.0).abs() < 1e-6);
        assert!(min_cosine(&a, &b[..1]).is_nan());
    }
}
