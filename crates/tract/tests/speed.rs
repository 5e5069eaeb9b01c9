//! tract's encode time on all-MiniLM-L6-v2: 1,000 titles of `data/bench_titles.txt`, batch 32,
//! one thread, best of 5 (a quick check in the test profile; `cargo xtask bench` measures
//! properly). A measurement, not a check (ignored by default):
//!
//! ```sh
//! cargo test --workspace --all-features --test speed -- --ignored --nocapture
//! ```

use std::time::Instant;

use titlesim_core::{EmbedOptions, ModelSpec, TransformerEmbedder};
use titlesim_test_support::{real_model, threads, workspace};

#[test]
#[ignore = "a measurement on a real model: run with --ignored --nocapture"]
fn encode_time_on_all_minilm() {
    let dir = real_model("all-MiniLM-L6-v2");
    let spec = ModelSpec::from_folder("all-MiniLM-L6-v2", &dir).unwrap();
    let titles: Vec<String> = std::fs::read_to_string(workspace().join("data/bench_titles.txt"))
        .unwrap()
        .lines()
        .take(1000)
        .map(str::to_string)
        .collect();
    let backend = titlesim_tract::load(&spec, &threads(1)).unwrap();
    let e = TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size: 32 }).unwrap();
    e.embed_blocking(&titles[..64]).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        e.embed_blocking(&titles).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "tract, batch 32, 1 thread: {:.3} ms/title",
        best * 1e3 / titles.len() as f64
    );
}
