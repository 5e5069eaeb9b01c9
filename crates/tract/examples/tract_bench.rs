//! Quick encode-speed check of the tract backend beside ONNX Runtime on a real model.
//!
//! ```sh
//! cargo run --release -p titlesim-tract --example tract_bench -- [MODEL_DIR] [THREADS] [ROUNDS] [BATCHES]
//! ```
//! MODEL_DIR defaults to `models/all-MiniLM-L6-v2`; titles come from `data/bench_titles.txt`
//! (the first 1,000). Prints ms/title for tract and for ONNX Runtime (the `ort` backend, with
//! the library fetched by `cargo xtask fetch-models`) at batch 32 and batch 1 (or the
//! comma-separated BATCHES; best of ROUNDS runs, the two backends interleaved), and the ratio.
//!
//! `PROFILE=1` instead times tract's plan per operation over the titles (`PROFILE=nodes`: per
//! node, the 40 slowest, or `TOP` of them). `PANELS`, `MACS` and `ELEMS` set tract-linalg's process-wide
//! threading thresholds (panels, multiply-accumulates and elements below which it stays on
//! one thread) to try other values (the backend lowers the panel threshold from tract-linalg's
//! 64 to 16 only when nobody changed it). `SPIN=0` (or `1`) sets tract's `spin` option (ONNX
//! Runtime keeps its default).

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
    let titles: Vec<String> = std::fs::read_to_string(root.join("data/bench_titles.txt"))?
        .lines()
        .take(1000)
        .map(str::to_string)
        .collect();
    let spec = ModelSpec::from_folder("bench", &dir)?;
    let opts = BackendOptions {
        threads: Some(threads),
        ort_library: Some(root.join("models/onnxruntime/libonnxruntime.so.1.31.1")),
        ..Default::default()
    };
    let tract_opts = BackendOptions {
        spin: std::env::var("SPIN").ok().map(|v| v == "1"),
        ..opts.clone()
    };
    let n = titles.len() as f64;
    let knob = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<usize>().ok());
    if let Some(v) = knob("PANELS") {
        tract_linalg::multithread::set_threading_panel_threshold(v);
    }
    if let Some(v) = knob("MACS") {
        tract_linalg::multithread::set_threading_mac_threshold(v);
    }
    if let Some(v) = knob("ELEMS") {
        tract_linalg::multithread::set_threading_element_threshold(v);
    }
    if let Some(how) = std::env::var_os("PROFILE") {
        let by_node = how == "nodes";
        let backend = titlesim_tract::TractBackend::load(&spec, &opts)?;
        let tok = titlesim_core::TextTokenizer::from_spec(&spec)?;
        let encoded = tok.encode(&titles)?;
        for &batch_size in &sizes {
            let batches = tok.batches(&encoded, batch_size);
            let mut total = std::collections::HashMap::<String, f64>::new();
            for (_, b) in &batches {
                for t in backend.profile(b)? {
                    let key = if by_node {
                        format!("{} {}", t.op, t.node)
                    } else {
                        t.op
                    };
                    *total.entry(key).or_default() += t.seconds;
                }
            }
            let mut total: Vec<_> = total.into_iter().collect();
            total.sort_by(|a, b| b.1.total_cmp(&a.1));
            let sum: f64 = total.iter().map(|x| x.1).sum();
            println!("batch {batch_size}: {:.3} ms/title in ops", sum * 1e3 / n);
            for (op, t) in total.into_iter().take(
                std::env::var("TOP")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(40),
            ) {
                println!(
                    "  {op:<60} {:>7.3} ms/title {:>5.1}%",
                    t * 1e3 / n,
                    100.0 * t / sum
                );
            }
        }
        return Ok(());
    }
    for batch_size in sizes {
        let eo = EmbedOptions { batch_size };
        let tract = TransformerEmbedder::new(
            spec.clone(),
            titlesim_tract::load(&spec, &tract_opts)?,
            eo.clone(),
        )?;
        let ort = TransformerEmbedder::new(spec.clone(), titlesim_ort::load(&spec, &opts)?, eo)?;
        tract.embed_blocking(&titles[..64])?; // warm-up
        ort.embed_blocking(&titles[..64])?;
        let (mut best_tract, mut best_ort, mut cpu_tract) = (f64::INFINITY, f64::INFINITY, 0.0);
        for _ in 0..rounds {
            let (t, c) = (Instant::now(), cpu_seconds());
            tract.embed_blocking(&titles)?;
            let e = t.elapsed().as_secs_f64();
            if e < best_tract {
                best_tract = e;
                cpu_tract = cpu_seconds() - c;
            }
            let t = Instant::now();
            ort.embed_blocking(&titles)?;
            best_ort = best_ort.min(t.elapsed().as_secs_f64());
        }
        println!(
            "batch {batch_size:>2}, {threads} threads: tract {:.3} ms/title (CPU {:.3}), ort {:.3} ms/title: tract/ort time {:.2}",
            best_tract * 1e3 / n,
            cpu_tract * 1e3 / n,
            best_ort * 1e3 / n,
            best_tract / best_ort
        );
    }
    Ok(())
}

/// CPU time of this process so far: the on-CPU time of its live threads (Linux; 0
/// elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}
