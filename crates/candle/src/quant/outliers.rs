//! The outliers of the activation rows, multiplied in f32 with the f32 weights and added to
//! the dequantised product, in the same order in every build and kernel.

use candle_core::bail;
use rayon::prelude::*;

use super::kernel::{Isa, Kernel};
use super::product::OutPtr;
use super::rows::QuantRows;
use super::CResult;

/// `out[r] += Σ v * wt[k]` over the outliers `(k, v)` of every row `r`.
///
/// Per row and block of [`OB`] columns, the products are summed in registers in the row's
/// order of `k` (a multiply then an add each, never fused), and the sum is added to the output
/// once: the same result in every build and kernel, and a row's result does not depend on its
/// batch. (Adding each product straight into the output, one outlier at a time, read and wrote
/// the output row per outlier: at ~29 outliers per 1,536-wide GELU row that cost as much as
/// the int8 product itself.) Rows are split over the pool; with fewer rows than threads have
/// work for (batch 1), column ranges are.
pub(super) fn add_outliers<T: Weight>(
    kernel: Kernel,
    a: &QuantRows,
    wt: &[T],
    out: &mut [f32],
    n: usize,
) -> CResult<()> {
    let total: usize = a.outliers.iter().map(Vec::len).sum();
    if total == 0 || n == 0 {
        return Ok(());
    }
    let k = wt.len() / n;
    if out.len() != a.m * n || a.outliers.len() != a.m || wt.len() != k * n {
        bail!("int8 linear: outlier buffers do not match");
    }
    if let Some(&(kk, _)) = a.outliers.iter().flatten().find(|o| o.0 as usize >= k) {
        bail!("int8 linear: outlier index {kk} outside {k} inputs");
    }
    let threads = rayon::current_num_threads();
    let parallel = threads > 1 && total * n >= 64 * 1024;
    // Rows per item, and column ranges per row: rows when there are plenty, else columns.
    let (rows_per, col_parts) = if !parallel {
        (a.m, 1)
    } else if a.m >= 4 * threads {
        (a.m.div_ceil(4 * threads), 1)
    } else {
        (a.m, threads)
    };
    let cols_per = n.div_ceil(col_parts).next_multiple_of(OB).min(n);
    let mut items = Vec::new();
    for r0 in (0..a.m).step_by(rows_per) {
        for c0 in (0..n).step_by(cols_per) {
            items.push((r0, (r0 + rows_per).min(a.m), c0, (c0 + cols_per).min(n)));
        }
    }
    let ptr = OutPtr(out.as_mut_ptr());
    let item = |&(r0, r1, c0, c1): &(usize, usize, usize, usize)| {
        for r in r0..r1 {
            let outl = &a.outliers[r];
            if outl.is_empty() {
                continue;
            }
            // SAFETY: row `r`, columns `c0..c1` of `out` (`m * n` long, checked): every item
            // owns its rows × columns, so no two threads touch the same element.
            let o = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(r * n + c0), c1 - c0) };
            outlier_row(kernel, outl, wt, n, c0, o);
        }
    };
    if parallel && items.len() > 1 {
        items.par_iter().for_each(item);
    } else {
        items.iter().for_each(item);
    }
    Ok(())
}

/// A stored weight the outlier products read: f32, or bf16 bits (widened exactly).
pub(super) trait Weight: Copy + Send + Sync {
    fn to_f32(self) -> f32;
}

impl Weight for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl Weight for u16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        crate::weights::bf16_to_f32(self)
    }
}

/// Columns per register block of [`outlier_row`] (4 AVX-512 or 8 AVX2 registers).
const OB: usize = 64;

/// How many outliers ahead [`outlier_row`] prefetches its weights.
const PREFETCH_AHEAD: usize = 4;

/// Asks the CPU to bring `data` into cache (a hint: no effect on results; on targets
/// without a stable prefetch instruction in `std::arch`, nothing).
#[inline(always)]
fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(data);
        let p = data.as_ptr().cast::<i8>();
        for off in (0..bytes).step_by(64) {
            // SAFETY: prefetching is a hint that never faults; `off` stays inside `data`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// `o[c] += Σ_(k, v) v * wt[k][c0 + c]`, the sum taken in `outl`'s order.
#[inline(always)]
fn outlier_row_generic<T: Weight>(
    outl: &[(u32, f32)],
    wt: &[T],
    n: usize,
    c0: usize,
    o: &mut [f32],
) {
    let mut blocks = o.chunks_exact_mut(OB);
    let mut c = c0;
    for ob in &mut blocks {
        let mut acc = [0f32; OB];
        for (j, &(kk, v)) in outl.iter().enumerate() {
            // The rows of `wt` sit at unpredictable places: ask for one a few outliers ahead.
            if let Some(&(ahead, _)) = outl.get(j + PREFETCH_AHEAD) {
                let at = ahead as usize * n + c;
                prefetch(&wt[at..at + OB]);
            }
            let at = kk as usize * n + c;
            let w: &[T; OB] = wt[at..at + OB].try_into().expect("a block of OB columns");
            for i in 0..OB {
                acc[i] += v * w[i].to_f32();
            }
        }
        for i in 0..OB {
            ob[i] += acc[i];
        }
        c += OB;
    }
    let rest = blocks.into_remainder();
    if !rest.is_empty() {
        let mut acc = [0f32; OB];
        let len = rest.len();
        for &(kk, v) in outl {
            let at = kk as usize * n + c;
            for (a, &w) in acc[..len].iter_mut().zip(&wt[at..at + len]) {
                *a += v * w.to_f32();
            }
        }
        for (o, a) in rest.iter_mut().zip(&acc[..len]) {
            *o += *a;
        }
    }
}

/// [`outlier_row_generic`] compiled for the kernel's instruction set.
fn outlier_row<T: Weight>(
    kernel: Kernel,
    outl: &[(u32, f32)],
    wt: &[T],
    n: usize,
    c0: usize,
    o: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2<T: Weight>(outl: &[(u32, f32)], wt: &[T], n: usize, c0: usize, o: &mut [f32]) {
        outlier_row_generic(outl, wt, n, c0, o)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512<T: Weight>(outl: &[(u32, f32)], wt: &[T], n: usize, c0: usize, o: &mut [f32]) {
        outlier_row_generic(outl, wt, n, c0, o)
    }
    match kernel.isa() {
        Isa::Baseline => outlier_row_generic(outl, wt, n, c0, o),
        // SAFETY: `isa` is only offered for kernels the CPU runs, so it has the features (see
        // `Kernel::available`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2(outl, wt, n, c0, o) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512(outl, wt, n, c0, o) },
    }
}

#[cfg(test)]
mod tests {

    use crate::quant::kernel::Kernel;
    use crate::quant::rows::quantize_rows;
    use crate::quant::tests::Rng;
    use crate::quant::QLinear;

    #[test]
    fn outliers_are_added_in_f32_the_same_in_every_kernel_and_batch() {
        let mut rng = Rng(7);
        let (k, n) = (192, 1200);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let lin = QLinear::new(
            &crate::weights::Matrix::f32(w.clone(), n, k),
            Some(bias.clone()),
        )
        .unwrap();
        // Values within ±1 and every 16th input ±40: the row's RMS is ~10, so the threshold
        // (3 × RMS) leaves out exactly the 40s.
        let row = |rng: &mut Rng| -> Vec<f32> {
            (0..k)
                .map(|i| {
                    let v = rng.f32();
                    if i % 16 == 5 {
                        40.0f32.copysign(v)
                    } else {
                        v
                    }
                })
                .collect()
        };
        // 3 threads: 9 rows are split by rows, 5 rows by column ranges (640 + 560 columns,
        // the second not a whole number of register blocks).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        for m in [9, 5] {
            let x: Vec<f32> = (0..m).flat_map(|_| row(&mut rng)).collect();
            let a = quantize_rows(Kernel::Portable, &x, m, k);
            assert!(
                a.outliers.iter().all(|o| o.len() == k / 16),
                "{:?}",
                a.outliers
            );
            let outs: Vec<Vec<f32>> = Kernel::available()
                .into_iter()
                .map(|kn| pool.install(|| lin.forward_with(kn, &x, m)).unwrap())
                .collect();
            for o in &outs[1..] {
                assert_eq!(o, &outs[0], "kernels differ ({m} rows)");
            }
            // Only the non-outliers carry quantisation error.
            for r in 0..m {
                let xr = &x[r * k..(r + 1) * k];
                let inl = |v: f32| v.abs() <= 1.0;
                let (lo, hi) = xr
                    .iter()
                    .filter(|v| inl(**v))
                    .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
                let sx = (hi - lo) / 255.0;
                for j in 0..n {
                    let wj = &w[j * k..(j + 1) * k];
                    let sw = wj.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                    let exact: f64 = xr
                        .iter()
                        .zip(wj)
                        .map(|(a, b)| f64::from(*a) * f64::from(*b))
                        .sum::<f64>()
                        + f64::from(bias[j]);
                    let bound: f32 = xr
                        .iter()
                        .zip(wj)
                        .filter(|(a, _)| inl(**a))
                        .map(|(a, b)| a.abs() * sw / 2.0 + sx / 2.0 * (b.abs() + sw / 2.0))
                        .sum();
                    let got = outs[0][r * n + j];
                    assert!(
                        (f64::from(got) - exact).abs() <= f64::from(bound) * 1.01 + 1e-4,
                        "({r},{j}): {got} vs {exact}, bound {bound}"
                    );
                }
            }
            // A row alone gives exactly what it gives in the batch.
            for kn in Kernel::available() {
                let single = lin.forward_with(kn, &x[3 * k..4 * k], 1).unwrap();
                assert_eq!(single[..], outs[0][3 * n..4 * n], "{kn:?}");
            }
        }
    }
}
