//! Plumbing shared by the kernels: access to candle's CPU storage, the loop over the rows of
//! an output on the current rayon pool, and the arithmetic the row loops are built from (dot
//! product, sum, `exp` and `erf`, each written so that loops over it vectorise), and wrapping
//! a buffer as a tensor.

use candle_core::{bail, CpuStorage, Device, Layout, Tensor};
use rayon::prelude::*;

use super::{CResult, PAR_MIN};

pub(crate) fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> CResult<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => match l.contiguous_offsets() {
            Some((a, b)) => Ok(&v[a..b]),
            None => bail!("{what}: input must be contiguous"),
        },
        _ => bail!("{what}: input must be f32"),
    }
}

pub(super) fn f32s_mut<'a>(
    s: &'a mut CpuStorage,
    l: &Layout,
    what: &str,
) -> CResult<&'a mut [f32]> {
    match s {
        CpuStorage::F32(v) => match l.contiguous_offsets() {
            Some((a, b)) => Ok(&mut v[a..b]),
            None => bail!("{what}: input must be contiguous"),
        },
        _ => bail!("{what}: input must be f32"),
    }
}

pub(crate) fn dims2(l: &Layout, what: &str) -> CResult<(usize, usize)> {
    match l.dims() {
        &[r, c] => Ok((r, c)),
        d => bail!("{what}: expected a 2-D tensor, got shape {d:?}"),
    }
}

/// Runs `f(row_index, row)` over the rows of `out` (each `width` long), in parallel on the
/// current rayon pool when there is enough work.
pub(super) fn for_rows<F>(out: &mut [f32], width: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    if width == 0 {
        return;
    }
    if out.len() < PAR_MIN || rayon::current_num_threads() == 1 {
        out.chunks_mut(width).enumerate().for_each(|(r, o)| f(r, o));
    } else {
        let min_rows = (PAR_MIN / 4 / width).max(1);
        out.par_chunks_mut(width)
            .enumerate()
            .with_min_len(min_rows)
            .for_each(|(r, o)| f(r, o));
    }
}

/// Dot product written so that the compiler vectorises it (8 independent accumulators).
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

/// Sum written so that the compiler vectorises it.
#[inline(always)]
pub(super) fn sum(a: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut c = a.chunks_exact(8);
    for x in &mut c {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for x in c.remainder() {
        s += x;
    }
    s
}

/// `e^x` without a library call, so loops over it vectorise: Cody-Waite range reduction and
/// Cephes' `expf` polynomial (relative error below 1e-7 on the clamped range; the unit test
/// measures it). Inputs are clamped to `[-87.3, 88.3]`, where `e^x` stays a normal f32.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4; // ln 2, high part
    const C2: f32 = -2.121_944_4e-4; // ln 2, low part
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_2e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * (r * r) + r + 1.0;
    // 2^n from the integer in the low mantissa bits of t.
    let n_int = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    y * f32::from_bits(((n_int + 127) << 23) as u32)
}

/// The error function, as a rational approximation that vectorises (no branches, no calls):
/// `x * P(x^2) / Q(x^2)` on `[-4, 4]` (outside, erf is ±1 in f32), with the coefficients of
/// Eigen's `generic_fast_erf_float`. Absolute error below 5e-7 in f32 arithmetic; the unit
/// test measures it against a double-precision erf.
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    x * p / q
}

/// Wraps `data` as a `[rows, cols]` CPU tensor.
pub(crate) fn tensor(data: Vec<f32>, rows: usize, cols: usize) -> CResult<Tensor> {
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A double-precision erf (Abramowitz-Stegun 7.1.26 is too coarse; use the series and
    /// continued fraction, accurate to ~1e-15) to check the fast one.
    pub(in crate::ops) fn erf64(x: f64) -> f64 {
        if x.abs() < 2.5 {
            // Maclaurin series
            let mut sum = x;
            let mut term = x;
            let x2 = x * x;
            for n in 1..200 {
                term *= -x2 / n as f64;
                let t = term / (2 * n + 1) as f64;
                sum += t;
                if t.abs() < 1e-18 {
                    break;
                }
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc continued fraction (Lentz)
            let z = x.abs();
            let mut f = z;
            let tiny = 1e-300;
            let mut c = f;
            let mut dd = 0.0;
            for n in 1..300 {
                let an = n as f64 / 2.0;
                dd = z + an * dd;
                if dd.abs() < tiny {
                    dd = tiny;
                }
                c = z + an / c;
                if c.abs() < tiny {
                    c = tiny;
                }
                dd = 1.0 / dd;
                let delta = c * dd;
                f *= delta;
                if (delta - 1.0).abs() < 1e-16 {
                    break;
                }
            }
            let erfc = (-z * z).exp() / (f * std::f64::consts::PI.sqrt());
            (1.0 - erfc) * x.signum()
        }
    }

    #[test]
    fn reference_erf_is_right() {
        // Known values.
        assert!((erf64(0.5) - 0.520_499_877_813_046_5).abs() < 1e-14);
        assert!((erf64(1.0) - 0.842_700_792_949_714_9).abs() < 1e-14);
        assert!((erf64(3.0) - 0.999_977_909_503_001_4).abs() < 1e-14);
        assert!((erf64(-2.0) + 0.995_322_265_018_952_7).abs() < 1e-14);
    }

    #[test]
    fn fast_erf_is_accurate() {
        let mut worst = 0f64;
        for i in -80_000..=80_000 {
            let x = i as f32 * 1e-4;
            let e = (erf(x) as f64 - erf64(x as f64)).abs();
            worst = worst.max(e);
        }
        assert!(worst < 5e-7, "max |erf error| {worst}");
        assert_eq!(erf(100.0), erf(4.0));
        assert!((erf(f32::INFINITY) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 * 1e-3;
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64) - want).abs() / want;
            worst = worst.max(rel);
        }
        assert!(worst < 2e-7, "max relative exp error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
        assert!(exp(1000.0).is_finite());
    }
}
