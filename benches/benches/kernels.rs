//! Scoring and calibration kernels: cosine on 384-d (MiniLM, bge-small) and 1024-d (Qwen3-0.6B)
//! vectors, and calibrating a shadow model from a 6,000-pair synthetic shadow log (correlation,
//! agreement curves over the default grid, compromise threshold). No models needed.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use titlesim::{ShadowRecord, SideRecord, SCHEMA_VERSION};

/// A small deterministic generator (SplitMix64), so the inputs are the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
    (0..dim).map(|_| rng.f32() * 2.0 - 1.0).collect()
}

fn side(model: &str, threshold: f32, cosine: f32) -> SideRecord {
    SideRecord {
        model: model.into(),
        backend: "candle".into(),
        fingerprint: format!("{model}-fp"),
        threshold,
        cosine: Some(cosine),
        pass: Some(cosine >= threshold),
        encode_ms: 3.0,
        error: None,
    }
}

/// `n` shadowed pairs over three phases: canonical cosines spread over 0.3..1.0, the shadow
/// model's cosine a noisy monotone function of it, gold labels on a quarter of the pairs.
fn synthetic_log(n: usize) -> Vec<ShadowRecord> {
    let mut rng = Rng(20261128);
    let phases = ["qualifying", "race", "final"];
    (0..n)
        .map(|i| {
            let c = 0.3 + 0.7 * rng.f32();
            let s = (0.8 * c + 0.15 + 0.08 * (rng.f32() - 0.5)).clamp(-1.0, 1.0);
            ShadowRecord {
                schema: SCHEMA_VERSION,
                ts: "2026-11-28T00:00:00Z".into(),
                pair_id: format!("p{i}"),
                phase: Some(phases[i % 3].into()),
                product: format!("product title {i}"),
                gt: format!("reference title {i}"),
                label: (i % 4 == 0).then_some(u8::from(c > 0.72)),
                canonical: side("all-MiniLM-L6-v2", 0.72, c),
                shadow: Some(side("Qwen3-Embedding-0.6B", 0.8, s)),
                replayed_at: None,
            }
        })
        .collect()
}

fn kernels(c: &mut Criterion) {
    let mut rng = Rng(7);
    let mut g = c.benchmark_group("cosine");
    for dim in [384usize, 1024] {
        let (a, b) = (vector(&mut rng, dim), vector(&mut rng, dim));
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("d{dim}"), |bn| {
            bn.iter(|| titlesim::cosine(black_box(&a), black_box(&b)))
        });
    }
    g.finish();

    let records = synthetic_log(6000);
    let opts = titlesim_calibrate::Options::default();
    let cal = titlesim_calibrate::calibrate(&records, &opts).expect("the synthetic log calibrates");
    black_box(&cal);
    let mut g = c.benchmark_group("calibrate");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(records.len() as u64));
    g.bench_function("6000_pairs_default_grid", |bn| {
        bn.iter(|| titlesim_calibrate::calibrate(black_box(&records), &opts).expect("calibrates"))
    });
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
