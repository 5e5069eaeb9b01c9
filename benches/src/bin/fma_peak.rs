//! `fma_peak`: this CPU's f32 multiply-add peak, per vector width, on one thread and on all.
//!
//! ```sh
//! cargo run --release -p titlesim-bench --bin fma_peak
//! ```
//!
//! Each width runs independent chains of fused multiply-adds (`a = a * x + y`, enough chains
//! to cover the instruction's latency on every port) with nothing else in the loop, so the
//! figure is what the core's FMA units can do: the ceiling a matrix product's micro-kernel
//! is measured against (`benches/README.md` quotes it to say how close candle's products run
//! to it, and what a wider instruction set buys). x86-64: 256-bit (AVX2 + FMA) and 512-bit
//! (AVX-512F) where the CPU has them; aarch64: 128-bit NEON. Best of 3 rounds.

use std::time::Instant;

use titlesim_bench as tb;

/// Multiply-adds per chain and round: enough for about 0.3 s on a 4 GHz core.
const ITERS: u64 = 50_000_000;

/// One vector width: its name, f32 lanes, and the kernel running `iters` rounds of its chains
/// (returning lane 0 of every chain, so nothing is optimised away and tests can check it).
struct Width {
    name: &'static str,
    lanes: usize,
    chains: usize,
    run: fn(u64) -> Vec<f32>,
}

/// The widths this CPU can run.
#[cfg(target_arch = "x86_64")]
fn widths() -> Vec<Width> {
    let mut v = Vec::new();
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        v.push(Width {
            name: "256-bit (AVX2 + FMA)",
            lanes: 8,
            chains: x86::CHAINS_256,
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            run: |n| unsafe { x86::fma256(n) },
        });
    }
    if std::arch::is_x86_feature_detected!("avx512f") {
        v.push(Width {
            name: "512-bit (AVX-512F)",
            lanes: 16,
            chains: x86::CHAINS_512,
            // SAFETY: the CPU has AVX-512F (checked above).
            run: |n| unsafe { x86::fma512(n) },
        });
    }
    v
}

/// The widths this CPU can run.
#[cfg(target_arch = "aarch64")]
fn widths() -> Vec<Width> {
    vec![Width {
        name: "128-bit (NEON)",
        lanes: 4,
        chains: arm::CHAINS,
        run: arm::fma128,
    }]
}

/// The widths this CPU can run: none measured on other architectures.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn widths() -> Vec<Width> {
    Vec::new()
}

/// The chains' start values and the multiplier and addend: `a` stays bounded (|x| < 1).
fn start(chain: usize) -> f32 {
    chain as f32
}
const X: f32 = 0.999;
const Y: f32 = 0.0001;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 12 accumulators, the multiplier and the addend fit AVX2's 16 registers; 12 cover two
    /// ports × 4 cycles of latency with room.
    pub(super) const CHAINS_256: usize = 12;
    pub(super) const CHAINS_512: usize = 12;

    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn fma256(iters: u64) -> Vec<f32> {
        let (x, y) = (_mm256_set1_ps(super::X), _mm256_set1_ps(super::Y));
        let mut a: [__m256; CHAINS_256] = std::array::from_fn(|c| _mm256_set1_ps(super::start(c)));
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm256_fmadd_ps(*v, x, y);
            }
        }
        a.iter().map(|v| _mm256_cvtss_f32(*v)).collect()
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn fma512(iters: u64) -> Vec<f32> {
        let (x, y) = (_mm512_set1_ps(super::X), _mm512_set1_ps(super::Y));
        let mut a: [__m512; CHAINS_512] = std::array::from_fn(|c| _mm512_set1_ps(super::start(c)));
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm512_fmadd_ps(*v, x, y);
            }
        }
        a.iter().map(|v| _mm512_cvtss_f32(*v)).collect()
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    /// 16 accumulators: up to 4 FMA pipes × 4 cycles of latency (Neoverse V1/V2), out of 32
    /// registers.
    pub(super) const CHAINS: usize = 16;

    pub(super) fn fma128(iters: u64) -> Vec<f32> {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe {
            let (x, y) = (vdupq_n_f32(super::X), vdupq_n_f32(super::Y));
            let mut a: [float32x4_t; CHAINS] =
                std::array::from_fn(|c| vdupq_n_f32(super::start(c)));
            for _ in 0..iters {
                for v in a.iter_mut() {
                    // y + v * x, fused.
                    *v = vfmaq_f32(y, *v, x);
                }
            }
            a.iter().map(|v| vgetq_lane_f32::<0>(*v)).collect()
        }
    }
}

/// Multiply-adds per second of `w` on `threads` threads at once (best of `rounds`).
fn measure(w: &Width, threads: usize, rounds: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..rounds {
        let t0 = Instant::now();
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| s.spawn(|| std::hint::black_box((w.run)(ITERS))))
                .collect();
            for h in hs {
                h.join().expect("an FMA thread panicked");
            }
        });
        let macs = (ITERS * (w.chains * w.lanes * threads) as u64) as f64;
        best = best.max(macs / t0.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let cpu = tb::cpu_info();
    println!("fma_peak: {}", cpu.line());
    if let Some(w) = cpu.warning() {
        println!("fma_peak: {w}");
    }
    let ws = widths();
    if ws.is_empty() {
        println!("fma_peak: no vector FMA kernel for this architecture");
        return;
    }
    let n = cpu.logical_cores.max(1);
    println!("| f32 fused multiply-add | 1 thread, G/s | {n} threads, G/s | per thread |");
    println!("|---|--:|--:|--:|");
    for w in &ws {
        let one = measure(w, 1, 3) / 1e9;
        let all = measure(w, n, 3) / 1e9;
        println!(
            "| {} | {one:.1} | {all:.1} | {:.1} |",
            w.name,
            all / n as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel computes its chains as the scalar fused recurrence does, bit for bit: the
    /// multiply-adds it counts are really done.
    #[test]
    fn every_width_runs_the_scalar_recurrence() {
        let iters = 1000;
        for w in widths() {
            let got = (w.run)(iters);
            assert_eq!(got.len(), w.chains, "{}", w.name);
            for (c, g) in got.iter().enumerate() {
                let mut a = start(c);
                for _ in 0..iters {
                    a = a.mul_add(X, Y);
                }
                assert_eq!(g.to_bits(), a.to_bits(), "{} chain {c}", w.name);
            }
        }
    }
}
