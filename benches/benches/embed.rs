//! Embedding throughput per backend × model × batch size × thread budget on real product titles
//! (`data/bench_titles.txt`), end to end (tokenisation, forward, pooling, normalisation).
//!
//! Needs the real models (`cargo xtask fetch-models`). all-MiniLM-L6-v2 runs on candle (f32 and
//! its int8 mode), ort and tract; `TITLESIM_BENCH_MODELS=all` adds paraphrase-MiniLM-L3-v2 and
//! the int8 all-MiniLM export.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use titlesim::BackendKind;
use titlesim_bench as tb;

/// Model folder, backend and compute precision (`BackendOptions::dtype`; `None`: the default).
fn cases() -> Vec<(&'static str, BackendKind, Option<&'static str>)> {
    use BackendKind::*;
    let mut v = vec![
        ("all-MiniLM-L6-v2", Candle, None),
        ("all-MiniLM-L6-v2", Candle, Some("int8")),
        ("all-MiniLM-L6-v2", Ort, None),
        ("all-MiniLM-L6-v2", Tract, None),
    ];
    if std::env::var("TITLESIM_BENCH_MODELS").is_ok_and(|s| s == "all") {
        v.extend([
            ("all-MiniLM-L6-v2-int8", Ort, None),
            ("all-MiniLM-L6-v2-int8", Tract, None),
            ("paraphrase-MiniLM-L3-v2", Ort, None),
            ("paraphrase-MiniLM-L3-v2", Tract, None),
        ]);
    }
    v
}

fn embed(c: &mut Criterion) {
    let all = tb::load_titles(&tb::default_titles_path(), 1200)
        .expect("data/bench_titles.txt is part of the repository");
    // 64 titles spread over the file: two batches of 32; batch 1 cycles through them.
    let titles = tb::spread_sample(&all, 64);
    let mut g = c.benchmark_group("embed");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (model, backend, dtype) in cases() {
        let engine = match dtype {
            Some(d) => format!("{}-{d}", backend.as_str()),
            None => backend.as_str().to_string(),
        };
        for threads in [1usize, 2] {
            let (emb, _) = tb::load_embedder_with(model.as_ref(), backend, threads, 32, dtype)
                .unwrap_or_else(|e| {
                    panic!("{model} on {engine}: {e:#} (run `cargo xtask fetch-models`)")
                });
            let name = format!("{model}/{engine}/t{threads}");
            g.throughput(Throughput::Elements(titles.len() as u64));
            g.bench_with_input(BenchmarkId::new(name.clone(), "b32"), &titles, |b, t| {
                b.iter(|| emb.embed_blocking(t).expect("embedding failed"))
            });
            g.throughput(Throughput::Elements(1));
            let mut i = 0usize;
            g.bench_function(BenchmarkId::new(name, "b1"), |b| {
                b.iter(|| {
                    i = (i + 1) % titles.len();
                    emb.embed_blocking(std::slice::from_ref(&titles[i]))
                        .expect("embedding failed")
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, embed);
criterion_main!(benches);
