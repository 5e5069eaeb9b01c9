//! Activations, quantised on every call, per row (token): asymmetric u8 with the row's own
//! scale and zero point, outliers left out and kept in f32.

use rayon::prelude::*;

use super::kernel::{Isa, Kernel};

/// Activations quantised per row: `x[r][k] ≈ scale[r] * (data[r][k] - zero[r])`.
#[derive(Debug, Clone)]
pub(super) struct QuantRows {
    /// `[m, kp]` row-major; the padding columns are 0.
    pub(super) data: Vec<u8>,
    pub(super) m: usize,
    pub(super) kp: usize,
    pub(super) scale: Vec<f32>,
    pub(super) zero: Vec<i32>,
    /// Per row, the outliers `(input index, value)` left out of the int8 row (quantised as
    /// the zero point) and added in f32 instead.
    pub(super) outliers: Vec<Vec<(u32, f32)>>,
}

/// An activation whose magnitude exceeds this many times its row's RMS is an outlier: it is
/// left out of the row's int8 range and multiplied in f32 instead (see [`quantize_rows`]).
const OUTLIER_RMS: f32 = 3.0;

/// Lanes of the row reductions.
const L: usize = 16;

/// The outlier threshold of a row: [`OUTLIER_RMS`] × its root mean square (a fixed summation
/// order, so every build gives the same value).
#[inline(always)]
fn outlier_threshold(x: &[f32]) -> f32 {
    let mut acc = [0f32; L];
    let mut chunks = x.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            acc[i] += c[i] * c[i];
        }
    }
    for (i, &v) in chunks.remainder().iter().enumerate() {
        acc[i] += v * v;
    }
    let mut ss = 0f32;
    for a in acc {
        ss += a;
    }
    OUTLIER_RMS * (ss / x.len().max(1) as f32).sqrt()
}

/// The smallest and largest of 0 and the values of `x` within `thr` in magnitude (NaNs
/// skipped), written for the auto-vectoriser.
#[inline(always)]
fn min_max(x: &[f32], thr: f32) -> (f32, f32) {
    // `if a < b` selects rather than `f32::min` (whose NaN rule keeps LLVM from vectorising);
    // a NaN never passes a comparison, so it is skipped either way.
    let (mut lo, mut hi) = ([0f32; L], [0f32; L]);
    let mut chunks = x.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            let v = if c[i].abs() <= thr { c[i] } else { 0.0 };
            lo[i] = if v < lo[i] { v } else { lo[i] };
            hi[i] = if v > hi[i] { v } else { hi[i] };
        }
    }
    for (i, &v) in chunks.remainder().iter().enumerate() {
        let v = if v.abs() <= thr { v } else { 0.0 };
        lo[i] = if v < lo[i] { v } else { lo[i] };
        hi[i] = if v > hi[i] { v } else { hi[i] };
    }
    let lo = lo.iter().fold(0f32, |a, &b| a.min(b));
    let hi = hi.iter().fold(0f32, |a, &b| a.max(b));
    (lo, hi)
}

/// [`min_max`] with AVX-512 intrinsics (the same result: min and max are exact).
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn min_max_avx512(x: &[f32], thr: f32) -> (f32, f32) {
    use std::arch::x86_64::*;
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let t = _mm512_set1_ps(thr);
    let mut chunks = x.chunks_exact(16);
    for c in &mut chunks {
        // SAFETY: `c` holds 16 floats.
        let v = _mm512_loadu_ps(c.as_ptr());
        // Ordered comparison: NaNs and outliers become 0.
        let keep = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_abs_ps(v), t);
        let v = _mm512_maskz_mov_ps(keep, v);
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    let (mut l, mut h) = (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi));
    for &v in chunks.remainder() {
        let v = if v.abs() <= thr { v } else { 0.0 };
        l = if v < l { v } else { l };
        h = if v > h { v } else { h };
    }
    (l, h)
}

/// What [`quantize_row`] returns: scale, zero point and outliers of a row.
type RowParams = (f32, i32, Vec<(u32, f32)>);

/// Quantises one row of activations into `out` (at least `x.len()` long), given its outlier
/// threshold and [`min_max`]. Every step is exact or one IEEE operation per element, so every
/// build gives the same bytes.
#[inline(always)]
fn quantize_row(x: &[f32], thr: f32, (lo, hi): (f32, f32), out: &mut [u8]) -> RowParams {
    // Outliers, found chunk by chunk (almost every chunk has none).
    // A bit mask per chunk (one vector compare), then only its set bits are visited.
    let mut outliers = Vec::new();
    let mut chunks = x.chunks_exact(L);
    let mut visit = |base: usize, c: &[f32], mut mask: u32| {
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            outliers.push(((base + i) as u32, c[i]));
            mask &= mask - 1;
        }
    };
    for (ci, c) in (&mut chunks).enumerate() {
        let mut mask = 0u32;
        for (i, v) in c.iter().enumerate() {
            mask |= u32::from(v.abs() > thr) << i;
        }
        visit(ci * L, c, mask);
    }
    let tail = chunks.remainder();
    let mut mask = 0u32;
    for (i, v) in tail.iter().enumerate() {
        mask |= u32::from(v.abs() > thr) << i;
    }
    visit(x.len() - tail.len(), tail, mask);
    let range = hi - lo;
    if !(range > 0.0 && range.is_finite()) {
        // All zeros (or non-finite input, which gives a row of zeros rather than a panic).
        out.iter_mut().for_each(|o| *o = 0);
        outliers.retain(|o| o.1.is_finite());
        return (1.0, 0, outliers);
    }
    let scale = range / 255.0;
    let inv = 255.0 / range;
    const ROUND: f32 = 8_388_608.0; // 2^23
    let zero = ((-lo * inv).clamp(0.0, 255.0) + ROUND).to_bits() as u8 as f32;
    for (o, &v) in out.iter_mut().zip(x) {
        // Outliers take the zero point (they count as 0 here and are added in f32).
        let y = if v.abs() <= thr { v * inv + zero } else { zero };
        // Clamp to [0, 255] with selects (a NaN becomes 0), then round to nearest (ties to
        // even) by adding 2^23: the sum's unit in the last place is 1, so its low mantissa
        // bits are the rounded integer. (No float-to-int conversion: those do not vectorise
        // with Rust's saturating `as`.)
        let y = if y > 0.0 { y } else { 0.0 };
        let y = if y < 255.0 { y } else { 255.0 };
        *o = (y + ROUND).to_bits() as u8;
    }
    (scale, zero as i32, outliers)
}

/// [`quantize_row`] compiled for the kernel's instruction set.
fn quantize_row_with(kernel: Kernel, x: &[f32], out: &mut [u8]) -> RowParams {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(x: &[f32], out: &mut [u8]) -> RowParams {
        let thr = outlier_threshold(x);
        quantize_row(x, thr, min_max(x, thr), out)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn avx512(x: &[f32], out: &mut [u8]) -> RowParams {
        let thr = outlier_threshold(x);
        quantize_row(x, thr, min_max_avx512(x, thr), out)
    }
    match kernel.isa() {
        Isa::Baseline => {
            let thr = outlier_threshold(x);
            quantize_row(x, thr, min_max(x, thr), out)
        }
        // SAFETY: `isa` is only offered for kernels the CPU runs, so it has the features (see
        // `Kernel::available`).
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2(x, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { avx512(x, out) },
    }
}

/// Quantises the rows of `x` (`[m, k]`), padding each to a multiple of 4 bytes. Each row has
/// its own range (`[min, max]` of its values and 0, outliers excepted), so a row's bytes do not
/// depend on the other rows.
pub(super) fn quantize_rows(kernel: Kernel, x: &[f32], m: usize, k: usize) -> QuantRows {
    let kp = k.div_ceil(4) * 4;
    let mut data = vec![0u8; m * kp];
    let mut params: Vec<RowParams> = vec![(1.0, 0, Vec::new()); m];
    if k > 0 {
        let one = |((o, p), xr): ((&mut [u8], &mut RowParams), &[f32])| {
            *p = quantize_row_with(kernel, xr, &mut o[..k]);
        };
        if m * k >= 64 * 1024 && rayon::current_num_threads() > 1 {
            data.par_chunks_mut(kp)
                .zip(params.par_iter_mut())
                .zip(x.par_chunks(k))
                .with_min_len(8)
                .for_each(one);
        } else {
            data.chunks_mut(kp)
                .zip(params.iter_mut())
                .zip(x.chunks(k))
                .for_each(one);
        }
    }
    let mut q = QuantRows {
        data,
        m,
        kp,
        scale: Vec::with_capacity(m),
        zero: Vec::with_capacity(m),
        outliers: Vec::with_capacity(m),
    };
    for (s, z, o) in params {
        q.scale.push(s);
        q.zero.push(z);
        q.outliers.push(o);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::Rng;

    #[test]
    fn activation_quantisation_round_trips_within_half_a_step() {
        let mut rng = Rng(7);
        let (m, k) = (5, 37);
        let mut x: Vec<f32> = (0..m * k).map(|_| rng.f32() * 3.0).collect();
        // A row of zeros, a row of positives only, a row of negatives only.
        x[..k].iter_mut().for_each(|v| *v = 0.0);
        x[k..2 * k].iter_mut().for_each(|v| *v = v.abs() + 0.5);
        x[2 * k..3 * k].iter_mut().for_each(|v| *v = -v.abs());
        let q = quantize_rows(Kernel::Portable, &x, m, k);
        assert_eq!(q.kp, 40);
        for r in 0..m {
            let (s, z) = (q.scale[r], q.zero[r]);
            for c in 0..k {
                let back = s * (f32::from(q.data[r * q.kp + c]) - z as f32);
                assert!(
                    (back - x[r * k + c]).abs() <= s * 0.5 + 1e-6,
                    "row {r} col {c}: {back} vs {}",
                    x[r * k + c]
                );
            }
            assert!(q.data[r * q.kp + k..(r + 1) * q.kp].iter().all(|&v| v == 0));
        }
        // Zero is exact (zero point on the grid); non-finite rows do not panic.
        assert!(q.data[..k].iter().all(|&v| i32::from(v) == q.zero[0]));
        let bad = quantize_rows(Kernel::Portable, &[f32::NAN, 1.0, f32::INFINITY, 0.0], 1, 4);
        assert_eq!(bad.zero, vec![0]);
        // Every build quantises to the same bytes (NaNs and signed zeros included).
        let mut y: Vec<f32> = (0..7 * 53).map(|_| rng.f32() * 4.0 - 1.0).collect();
        y[5] = f32::NAN;
        y[60] = -0.0;
        y[70] = f32::NAN;
        for kernel in Kernel::available() {
            let got = quantize_rows(kernel, &y, 7, 53);
            let want = quantize_rows(Kernel::Portable, &y, 7, 53);
            assert_eq!(
                (&got.data, &got.scale, &got.zero),
                (&want.data, &want.scale, &want.zero),
                "{kernel:?}"
            );
        }
    }
}
