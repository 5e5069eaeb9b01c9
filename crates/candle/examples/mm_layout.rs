// Temporary: compares weight layouts for candle matmul at BERT shapes.
use candle_core::{Device, Tensor};
use std::time::Instant;

fn cpu() -> f64 {
    // Sum of the on-CPU nanoseconds of every thread (/proc/self/task/*/schedstat).
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        for &m in &[19usize, 160, 640] {
            for &(k, n) in &[(384usize, 1152usize), (384, 1536), (1536, 384)] {
                let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
                let w = Tensor::randn(0f32, 1.0, (n, k), &Device::Cpu).unwrap(); // [out, in]
                let wt = w.t().unwrap().contiguous().unwrap(); // [in, out]
                let reps = (2_000_000_000 / (2 * m * k * n)).max(3);
                for (name, rhs) in [("w_t contiguous", wt.clone()), ("w.t() view", w.t().unwrap())] {
                    let _ = x.matmul(&rhs).unwrap();
                    let (t0, c0) = (Instant::now(), cpu());
                    for _ in 0..reps {
                        let _ = x.matmul(&rhs).unwrap();
                    }
                    let (dt, dc) = (t0.elapsed().as_secs_f64() / reps as f64, (cpu() - c0) / reps as f64);
                    println!(
                        "m {m:4} k {k:4} n {n:4} {name:15}: wall {:7.1} us cpu {:7.1} us  -> {:5.1} GFLOP/cpu-s",
                        dt * 1e6, dc * 1e6, 2.0 * (m * k * n) as f64 / dc / 1e9
                    );
                }
            }
        }
    });
}
