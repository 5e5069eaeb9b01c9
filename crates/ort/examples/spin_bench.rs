//! What intra-op spinning (`BackendOptions::spin`) does to ONNX Runtime's speed and CPU time.
//!
//! ```sh
//! cargo run --release -p titlesim-ort --example spin_bench -- [MODEL_DIR] [THREADS] [ROUNDS] [BATCHES]
//! ```
//! MODEL_DIR defaults to `models/all-MiniLM-L6-v2`; titles come from `data/bench_titles.txt`
//! (the first 1,000; 200 at batch 1). Two sessions of the model, `spin = false` and
//! `spin = true`, run the titles in turn, ROUNDS times (default 5) per batch size (BATCHES,
//! comma-separated, default `32,1`); prints the median wall and CPU time per title of each and
//! the ratio. The library is `ORT_DYLIB_PATH`, else the one `cargo xtask fetch-models` put
//! under `models/onnxruntime/`.

use std::path::PathBuf;
use std::time::Instant;

use titlesim_core::{BackendOptions, EmbedOptions, ModelSpec, TransformerEmbedder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The checkout `cargo run` runs from (set at run time), else the one this was built in.
    let root = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../..");
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/all-MiniLM-L6-v2"));
    let threads: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let rounds: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5);
    let sizes: Vec<usize> = match args.next() {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![32, 1],
    };
    let titles: Vec<String> = std::fs::read_to_string(root.join("data/bench_titles.txt"))?
        .lines()
        .take(1000)
        .map(str::to_string)
        .collect();
    let library = match std::env::var_os("ORT_DYLIB_PATH") {
        Some(p) => PathBuf::from(p),
        None => std::fs::read_dir(root.join("models/onnxruntime"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so"))
            })
            .ok_or(
                "no libonnxruntime.so* under models/onnxruntime: run cargo xtask fetch-models",
            )?,
    };
    let spec = ModelSpec::from_folder("bench", &dir)?;
    for batch_size in sizes {
        let texts = if batch_size == 1 {
            &titles[..200.min(titles.len())]
        } else {
            &titles[..]
        };
        let n = texts.len() as f64;
        let embedders = [false, true]
            .map(|spin| {
                let opts = BackendOptions {
                    threads: Some(threads),
                    ort_library: Some(library.clone()),
                    spin: Some(spin),
                    ..Default::default()
                };
                let backend = titlesim_ort::load(&spec, &opts)?;
                let e =
                    TransformerEmbedder::new(spec.clone(), backend, EmbedOptions { batch_size })?;
                e.embed_blocking(&texts[..64.min(texts.len())])?; // warm-up
                Ok::<_, Box<dyn std::error::Error>>(e)
            })
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let mut times = [(); 2].map(|_| (Vec::new(), Vec::new()));
        for _ in 0..rounds {
            for (e, (wall, cpu)) in embedders.iter().zip(times.iter_mut()) {
                let (t, c) = (Instant::now(), cpu_seconds());
                e.embed_blocking(texts)?;
                wall.push(t.elapsed().as_secs_f64() * 1e3 / n);
                cpu.push((cpu_seconds() - c) * 1e3 / n);
            }
        }
        let [(w0, c0), (w1, c1)] = times.map(|(w, c)| (median(w), median(c)));
        println!(
            "batch {batch_size:>2}, {threads} threads, median of {rounds}: spin off {w0:.3} ms/title (CPU {c0:.3}), \
             spin on {w1:.3} ms/title (CPU {c1:.3}): on/off time {:.2}, CPU {:.2}",
            w1 / w0,
            c1 / c0
        );
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// CPU time of this process so far: the on-CPU time of its live threads (Linux; 0
/// elsewhere). ONNX Runtime's pool threads live as long as their session.
fn cpu_seconds() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}
