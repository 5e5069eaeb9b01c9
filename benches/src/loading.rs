//! Loading an embedder for a benchmark, through titlesim's public `load_embedder`, with a thread
//! budget, a batch size and optionally a compute precision; the load time is measured.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use titlesim::{BackendKind, ModelConfig, TransformerEmbedder};

use crate::{models_dir, ort_library};

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
    cfg.dtype = dtype
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if backend == BackendKind::Ort {
        cfg.ort_library = ort_library();
    }
    let t0 = Instant::now();
    let emb = titlesim::load_embedder(&cfg)
        .with_context(|| format!("loading {} on {}", folder.display(), backend.as_str()))?;
    Ok((emb, t0.elapsed().as_secs_f64()))
}
