//! Quick encode-speed check of the candle backend on a real model.
//!
//! ```sh
//! cargo run --release -p titlesim-candle --example bench -- [MODEL_DIR] [THREADS] [ROUNDS] [BATCHES] [DTYPE]
//! ```
//! MODEL_DIR defaults to `models/all-MiniLM-L6-v2`; titles come from `data/bench_titles.txt`
//! (the first 1,000). Prints ms/title at batch 32 and batch 1 (or the comma-separated BATCHES;
//! best of ROUNDS runs), computing in DTYPE (`f32`, the default, `int8` or `bf16`).

use std::path::PathBuf;
use std::time::Instant;

use titlesim_core::{BackendOptions, EmbedOptions, ModelSpec, TransformerEmbedder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/all-MiniLM-L6-v2"));
    let threads: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let sizes: Vec<usize> = match args.next() {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![32, 1],
    };
    let dtype = args.next();
    let titles: Vec<String> = std::fs::read_to_string(root.join("data/bench_titles.txt"))?
        .lines()
        .take(1000)
        .map(str::to_string)
        .collect();
    let spec = ModelSpec::from_folder("bench", &dir)?;
    let opts = BackendOptions {
        threads: Some(threads),
        dtype: dtype
            .as_deref()
            .map(str::parse::<titlesim_core::Dtype>)
            .transpose()?,
        ..Default::default()
    };
    for batch_size in sizes {
        let backend = titlesim_candle::load(&spec, &opts)?;
        let emb = TransformerEmbedder::new(spec.clone(), backend, EmbedOptions { batch_size })?;
        emb.embed_blocking(&titles[..64])?; // warm-up
        let mut best = f64::INFINITY;
        let mut best_cpu = f64::INFINITY;
        for _ in 0..rounds {
            let (t, c) = (Instant::now(), cpu_seconds());
            emb.embed_blocking(&titles)?;
            best = best.min(t.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(cpu_seconds() - c);
        }
        let n = titles.len() as f64;
        println!(
            "{} {}: batch {batch_size:>2}, {threads} threads: {:.3} ms/title ({:.0} titles/s), CPU {:.3} ms/title",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            dtype.as_deref().unwrap_or("f32"),
            best * 1e3 / n,
            n / best,
            best_cpu * 1e3 / n
        );
    }
    Ok(())
}

/// CPU time of this process so far: the on-CPU time of its live threads (Linux; 0
/// elsewhere). Threads that exited are not counted, which is fine for the pool threads of a
/// backend that is still alive.
fn cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}
