//! The int8 compute mode (`BackendOptions::dtype = "int8"`): dense layers with int8 weights and
//! dynamically quantised u8 activations, accumulated exactly in i32.
//!
//! * **Weights** are quantised once, at load: symmetric, per output channel
//!   (`w[j][k] ≈ sw[j] * q[j][k]`, `q` in `-127..=127`, `sw[j] = max_k |w[j][k]| / 127`), and
//!   packed into panels of [`NR`] output columns × groups of 4 inputs, the layout the
//!   AVX-512 VNNI instruction `vpdpbusd` reads (see [`PackedI8`]).
//! * **Activations** are quantised on every call, per row (token): asymmetric u8 over
//!   `[min(x, 0), max(x, 0)]` (`x[k] ≈ sx * (a[k] - zx)`), so each token gets its own range and
//!   a batch gives every text exactly the result it gets alone.
//! * **Outliers**: BERT's token states have a few huge dimensions (e.g. all-MiniLM's [CLS] has
//!   one value of ~29 where the rest are ~1; GELU outputs are heavy-tailed). One such value
//!   would set the token's whole u8 range, and its weight column's rounding error would be
//!   multiplied by it. So values beyond [`OUTLIER_RMS`] × the token's RMS are left out of the
//!   u8 row (quantised as the zero point, i.e. 0) and added in f32 with the f32 weights, as in
//!   LLM.int8(). Without this, all-MiniLM-L6-v2's cosine to the f32 reference falls below
//!   0.999 (the measured figures are in benches/README.md).
//! * **Products** `Σ_k a[k] q[j][k]` are exact i32 sums; the zero point is taken out with the
//!   per-column weight sums (`Σ_k (a[k] - zx) q[j][k] = Σ a q - zx Σ q`), then one pass
//!   dequantises (`acc * (sx * sw[j])`) and adds the bias; the outliers come last.
//!
//! Kernels, picked at run time ([`Kernel::detect`]): x86-64 AVX-512 VNNI (`vpdpbusd`,
//! u8 × i8 → i32, 64 multiply-adds per instruction); x86-64 AVX2 (both sides widened to i16,
//! `vpmaddwd`, 16 multiply-adds per instruction); on other CPUs a portable kernel written
//! for the auto-vectoriser. All give bit-identical
//! integer sums, and the dequantisation is the same code for all, so the output does not
//! depend on the CPU. (aarch64's `sdot`/`udot` would be the natural next kernel; it is not
//! written yet, so ARM runs the portable one.)
//!
//! Work is split over (column panel × row block) items on the current rayon pool (the
//! backend's own, see `lib.rs`).

use std::sync::OnceLock;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::ops::{dims2, f32s, Linear};

type CResult<T> = candle_core::Result<T>;

/// Output columns per packed panel (four 16-lane i32 vectors).
pub(crate) const NR: usize = 64;
/// Rows per micro-tile (6 × 4 accumulators of 16 lanes fill 24 of AVX-512's 32 registers).
pub(crate) const MR: usize = 6;
/// Rows per parallel work item (a multiple of [`MR`]).
const MC: usize = 16 * MR;
/// Products below this many multiply-adds run on the calling thread.
const PAR_MIN_MACS: usize = 256 * 1024;

/// Compute precision of the dense layers of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// f32 weights and activations (the default, matches the reference to ~1e-6).
    F32,
    /// int8 weights, dynamically quantised u8 activations, i32 accumulation.
    Int8,
}

// ------------------------------------------------------------------------------------------
// Kernel selection
// ------------------------------------------------------------------------------------------

/// The integer product kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Portable Rust for the auto-vectoriser (any target).
    Portable,
    /// AVX2 intrinsics (`vpmaddwd` on i16-widened operands, x86-64).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 VNNI intrinsics (`vpdpbusd`, x86-64).
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

impl Kernel {
    /// The fastest kernel this CPU runs (detected once).
    pub(crate) fn detect() -> Kernel {
        static K: OnceLock<Kernel> = OnceLock::new();
        *K.get_or_init(|| {
            Kernel::available()
                .into_iter()
                .last()
                .unwrap_or(Kernel::Portable)
        })
    }

    /// Every kernel this CPU can run, slowest first (the portable one always).
    pub(crate) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Kernel::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
            {
                v.push(Kernel::Vnni);
            }
        }
        v
    }
}

// ------------------------------------------------------------------------------------------
// Packed weights and quantised activations
// ------------------------------------------------------------------------------------------

/// Int8 weights of a dense layer, packed for the kernels.
///
/// Layout: panels of [`NR`] output columns; within a panel, groups of 4 inputs; within a
/// group, for each of the [`NR`] columns its 4 consecutive weights:
/// `data[p][g][c][t] = q[p * NR + c][4 * g + t]` (zero beyond `n` columns or `k` inputs). One
/// group of one panel is 256 bytes: four 64-byte vectors, each holding 16 columns × 4 inputs,
/// which is what `vpdpbusd` multiplies with 4 broadcast activation bytes.
#[derive(Debug, Clone)]
pub(crate) struct PackedI8 {
    data: Vec<i8>,
    /// Inputs.
    k: usize,
    /// Inputs rounded up to a multiple of 4.
    kp: usize,
    /// Output columns.
    n: usize,
    /// Per-column dequantisation scale, `n` long.
    scale: Vec<f32>,
    /// Per-column sum of the int8 weights, `n` long.
    colsum: Vec<i32>,
}

impl PackedI8 {
    /// Packs quantised weights `q` (`[n, k]`, row-major, PyTorch's `[out, in]`) with their
    /// per-column `scale`.
    pub(crate) fn from_i8(q: &[i8], n: usize, k: usize, scale: Vec<f32>) -> CResult<Self> {
        if q.len() != n * k || scale.len() != n {
            bail!(
                "int8 linear: {} weights / {} scales for [{n}, {k}]",
                q.len(),
                scale.len()
            );
        }
        let kp = k.div_ceil(4) * 4;
        let panels = n.div_ceil(NR);
        let mut data = vec![0i8; panels * kp * NR];
        for (j, row) in q.chunks_exact(k.max(1)).enumerate().take(n) {
            let (p, c) = (j / NR, j % NR);
            let panel = &mut data[p * kp * NR..(p + 1) * kp * NR];
            for (kk, &v) in row.iter().enumerate() {
                panel[(kk / 4) * NR * 4 + c * 4 + kk % 4] = v;
            }
        }
        let colsum = if k == 0 {
            vec![0; n]
        } else {
            q.chunks_exact(k)
                .map(|r| r.iter().map(|&v| i32::from(v)).sum())
                .collect()
        };
        Ok(PackedI8 {
            data,
            k,
            kp,
            n,
            scale,
            colsum,
        })
    }

    /// Quantises f32 weights `w` (`[n, k]`, row-major) symmetrically per output column.
    pub(crate) fn quantize(w: &[f32], n: usize, k: usize) -> CResult<Self> {
        if w.len() != n * k {
            bail!("int8 linear: {} weights for [{n}, {k}]", w.len());
        }
        if w.iter().any(|v| !v.is_finite()) {
            bail!("int8 linear: weights are not all finite");
        }
        let mut q = vec![0i8; n * k];
        let mut scale = vec![1f32; n];
        if k > 0 {
            for ((row, qr), s) in w.chunks_exact(k).zip(q.chunks_exact_mut(k)).zip(&mut scale) {
                let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                if amax > 0.0 {
                    *s = amax / 127.0;
                    let inv = 127.0 / amax;
                    for (o, v) in qr.iter_mut().zip(row) {
                        *o = (v * inv).round().clamp(-127.0, 127.0) as i8;
                    }
                }
            }
        }
        PackedI8::from_i8(&q, n, k, scale)
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }
}

/// Activations quantised per row: `x[r][k] ≈ scale[r] * (data[r][k] - zero[r])`.
#[derive(Debug, Clone)]
pub(crate) struct QuantRows {
    /// `[m, kp]` row-major; the padding columns are 0.
    pub(crate) data: Vec<u8>,
    pub(crate) m: usize,
    pub(crate) kp: usize,
    pub(crate) scale: Vec<f32>,
    pub(crate) zero: Vec<i32>,
    /// Per row, the outliers `(input index, value)` left out of the int8 row (quantised as
    /// the zero point) and added in f32 instead.
    pub(crate) outliers: Vec<Vec<(u32, f32)>>,
}

/// An activation whose magnitude exceeds this many times its row's RMS is an outlier: it is
/// left out of the row's int8 range and multiplied in f32 instead (see [`quantize_rows`]).
pub(crate) const OUTLIER_RMS: f32 = 3.0;

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
    match kernel {
        Kernel::Portable => {
            let thr = outlier_threshold(x);
            quantize_row(x, thr, min_max(x, thr), out)
        }
        // SAFETY: these kernels are only offered when the CPU has the features (see
        // `Kernel::available`).
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2(x, out) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Vnni => unsafe { avx512(x, out) },
    }
}

/// Quantises the rows of `x` (`[m, k]`), padding each to a multiple of 4 bytes. Each row has
/// its own range (`[min, max]` of its values and 0, outliers excepted), so a row's bytes do not
/// depend on the other rows.
pub(crate) fn quantize_rows(kernel: Kernel, x: &[f32], m: usize, k: usize) -> QuantRows {
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

// ------------------------------------------------------------------------------------------
// Micro-kernels: `acc[r][c] = Σ_k a[r][k] * w[c][k]` for up to MR rows × NR columns
// ------------------------------------------------------------------------------------------

type Acc = [[i32; NR]; MR];

/// The portable micro-kernel (one row at a time; the column loop vectorises).
#[inline(always)]
fn tile_portable(a: &[u8], lda: usize, rows: usize, panel: &[i8], groups: usize, acc: &mut Acc) {
    for (r, o) in acc.iter_mut().enumerate().take(rows) {
        *o = [0; NR];
        let ar = &a[r * lda..r * lda + groups * 4];
        for (x, wg) in ar.chunks_exact(4).zip(panel.chunks_exact(NR * 4)) {
            let (x0, x1, x2, x3) = (
                i32::from(x[0]),
                i32::from(x[1]),
                i32::from(x[2]),
                i32::from(x[3]),
            );
            for (o, w) in o.iter_mut().zip(wg.chunks_exact(4)) {
                *o += x0 * i32::from(w[0])
                    + x1 * i32::from(w[1])
                    + x2 * i32::from(w[2])
                    + x3 * i32::from(w[3]);
            }
        }
    }
}

/// The AVX2 micro-kernel: the activations widened to i16 once per tile, then per 8-column
/// block of the panel and group of 4 inputs, the block's 32 weight bytes sign-extended to
/// i16 (two `vpmovsxbw`) and per row one 8-byte broadcast and two `vpmaddwd` (i16 × i16
/// pairs summed into i32: exact, no saturation, unlike the u8 × i8 `vpmaddubsw`).
///
/// # Safety
/// The CPU must have AVX2; `a` must hold `(rows - 1) * lda + 4 * groups` bytes and `panel`
/// `groups * NR * 4`, with `1 <= rows <= MR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(a: &[u8], lda: usize, rows: usize, panel: &[i8], groups: usize, acc: &mut Acc) {
    let g4 = groups * 4;
    let mut x = vec![0i16; rows * g4];
    for (r, xr) in x.chunks_exact_mut(g4.max(1)).enumerate().take(rows) {
        for (o, &v) in xr.iter_mut().zip(&a[r * lda..r * lda + g4]) {
            *o = i16::from(v);
        }
    }
    let (x, w) = (x.as_ptr(), panel.as_ptr());
    for cb in 0..NR / 8 {
        // SAFETY: the buffers hold what the contract says (`x` was just sized).
        match rows {
            1 => tile_avx2_block::<1>(x, g4, w, cb, groups, acc),
            2 => tile_avx2_block::<2>(x, g4, w, cb, groups, acc),
            3 => tile_avx2_block::<3>(x, g4, w, cb, groups, acc),
            4 => tile_avx2_block::<4>(x, g4, w, cb, groups, acc),
            5 => tile_avx2_block::<5>(x, g4, w, cb, groups, acc),
            _ => tile_avx2_block::<MR>(x, g4, w, cb, groups, acc),
        }
    }
}

/// Columns `8 * cb .. 8 * cb + 8` of an AVX2 tile of `R` rows (see [`tile_avx2`]).
///
/// # Safety
/// The CPU must have AVX2; `x` holds `R * ldx` i16 (rows of `4 * groups`), `panel`
/// `groups * NR * 4` bytes, `cb < NR / 8`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2_block<const R: usize>(
    x: *const i16,
    ldx: usize,
    panel: *const i8,
    cb: usize,
    groups: usize,
    acc: &mut Acc,
) {
    use std::arch::x86_64::*;
    // c[r][h]: lanes (column, input pair) = (4h + i, t / 2) for i in 0..4, pairs t01 and t23.
    let mut c = [[_mm256_setzero_si256(); 2]; R];
    for g in 0..groups {
        // SAFETY (whole block): in bounds by the function's contract. A group's 8 columns
        // are 32 consecutive bytes (column-major, 4 inputs each).
        let wp = panel.add(g * NR * 4 + cb * 32) as *const __m128i;
        let w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wp));
        let w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wp.add(1)));
        for (r, c) in c.iter_mut().enumerate() {
            let xv = _mm256_set1_epi64x((x.add(r * ldx + g * 4) as *const i64).read_unaligned());
            c[0] = _mm256_add_epi32(c[0], _mm256_madd_epi16(xv, w0));
            c[1] = _mm256_add_epi32(c[1], _mm256_madd_epi16(xv, w1));
        }
    }
    for (o, c) in acc.iter_mut().zip(&c) {
        // hadd within 128-bit halves gives columns [0, 1, 4, 5 | 2, 3, 6, 7]; reorder the
        // 64-bit pairs to 0..8.
        let s = _mm256_hadd_epi32(c[0], c[1]);
        let s = _mm256_permute4x64_epi64::<0b11_01_10_00>(s);
        _mm256_storeu_si256(o.as_mut_ptr().add(cb * 8) as *mut __m256i, s);
    }
}

/// The AVX-512 VNNI micro-kernel for `R` rows: per group of 4 inputs, four 64-byte weight
/// loads, and per row one 4-byte broadcast and four `vpdpbusd`.
///
/// # Safety
/// The CPU must have AVX-512F/BW/VNNI; `a` must hold `(R - 1) * lda + 4 * groups` bytes and
/// `panel` `groups * NR * 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_vnni<const R: usize>(
    a: *const u8,
    lda: usize,
    panel: *const i8,
    groups: usize,
    acc: &mut Acc,
) {
    use std::arch::x86_64::*;
    let mut c = [[_mm512_setzero_si512(); 4]; R];
    for g in 0..groups {
        // SAFETY (whole block): in bounds by the function's contract.
        let wp = panel.add(g * NR * 4) as *const __m512i;
        let b0 = _mm512_loadu_si512(wp);
        let b1 = _mm512_loadu_si512(wp.add(1));
        let b2 = _mm512_loadu_si512(wp.add(2));
        let b3 = _mm512_loadu_si512(wp.add(3));
        for (r, c) in c.iter_mut().enumerate() {
            let x = _mm512_set1_epi32((a.add(r * lda + g * 4) as *const i32).read_unaligned());
            c[0] = _mm512_dpbusd_epi32(c[0], x, b0);
            c[1] = _mm512_dpbusd_epi32(c[1], x, b1);
            c[2] = _mm512_dpbusd_epi32(c[2], x, b2);
            c[3] = _mm512_dpbusd_epi32(c[3], x, b3);
        }
    }
    for (o, c) in acc.iter_mut().zip(&c) {
        let p = o.as_mut_ptr() as *mut __m512i;
        for (j, v) in c.iter().enumerate() {
            _mm512_storeu_si512(p.add(j), *v);
        }
    }
}

/// One micro-tile with `kernel`. `a` starts at the tile's first row.
fn tile(
    kernel: Kernel,
    a: &[u8],
    lda: usize,
    rows: usize,
    panel: &[i8],
    groups: usize,
    acc: &mut Acc,
) {
    debug_assert!((1..=MR).contains(&rows));
    debug_assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
    match kernel {
        Kernel::Portable => tile_portable(a, lda, rows, panel, groups, acc),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            // SAFETY: `Avx2` is only offered when the CPU has AVX2 (`Kernel::available`); the
            // buffer sizes are checked just above.
            unsafe { tile_avx2(a, lda, rows, panel, groups, acc) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Vnni => {
            assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            let (a, w) = (a.as_ptr(), panel.as_ptr());
            // SAFETY: `Vnni` is only offered when the CPU has AVX-512F/BW/VNNI; the buffer
            // sizes are checked just above.
            unsafe {
                match rows {
                    1 => tile_vnni::<1>(a, lda, w, groups, acc),
                    2 => tile_vnni::<2>(a, lda, w, groups, acc),
                    3 => tile_vnni::<3>(a, lda, w, groups, acc),
                    4 => tile_vnni::<4>(a, lda, w, groups, acc),
                    5 => tile_vnni::<5>(a, lda, w, groups, acc),
                    _ => tile_vnni::<MR>(a, lda, w, groups, acc),
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// The product
// ------------------------------------------------------------------------------------------

/// Receives finished tiles: rows `r0..r0 + rows`, columns `c0..c0 + cols` (`acc[r][c]`).
trait Sink: Sync {
    fn tile(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc);
}

/// Runs `a @ w^T` tile by tile, in parallel on the current rayon pool when it is worth it.
fn product<S: Sink>(kernel: Kernel, a: &QuantRows, w: &PackedI8, sink: &S) -> CResult<()> {
    if a.kp != w.kp {
        bail!(
            "int8 linear: input width {} does not match the weights' {}",
            a.kp,
            w.kp
        );
    }
    if a.data.len() != a.m * a.kp || w.data.len() != w.panels() * w.kp * NR {
        bail!("int8 linear: buffer sizes do not match");
    }
    let (m, kp, n) = (a.m, a.kp, w.n);
    if m == 0 || n == 0 {
        return Ok(());
    }
    let groups = kp / 4;
    let mblocks = m.div_ceil(MC);
    let items = w.panels() * mblocks;
    let job = |item: usize| {
        // Consecutive items share a panel, so a thread keeps its panel in cache.
        let (p, mb) = (item / mblocks, item % mblocks);
        let panel = &w.data[p * kp * NR..(p + 1) * kp * NR];
        let (c0, cols) = (p * NR, NR.min(n - p * NR));
        let mut acc = [[0i32; NR]; MR];
        let end = m.min((mb + 1) * MC);
        let mut r0 = mb * MC;
        while r0 < end {
            let rows = MR.min(end - r0);
            tile(
                kernel,
                &a.data[r0 * kp..],
                kp,
                rows,
                panel,
                groups,
                &mut acc,
            );
            sink.tile(r0, rows, c0, cols, &acc);
            r0 += rows;
        }
    };
    if items == 1 || rayon::current_num_threads() == 1 || m * kp * n < PAR_MIN_MACS {
        (0..items).for_each(job);
    } else {
        (0..items).into_par_iter().for_each(job);
    }
    Ok(())
}

/// A raw pointer to an output buffer that tiles write disjoint parts of.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);
// SAFETY: every tile writes its own rows × columns of the buffer (see `product`), so no two
// threads touch the same element, and the buffer outlives the parallel loop.
unsafe impl<T: Send> Send for OutPtr<T> {}
unsafe impl<T: Send> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    fn get(self) -> *mut T {
        self.0
    }
}

/// Stores the raw i32 sums (for tests).
#[cfg(test)]
struct RawSink {
    out: OutPtr<i32>,
    n: usize,
    len: usize,
}

#[cfg(test)]
impl Sink for RawSink {
    fn tile(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc) {
        for (r, a) in acc.iter().enumerate().take(rows) {
            let start = (r0 + r) * self.n + c0;
            assert!(start + cols <= self.len);
            // SAFETY: in bounds (checked); disjoint per tile (see `OutPtr`).
            let o = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(start), cols) };
            o.copy_from_slice(&a[..cols]);
        }
    }
}

/// Dequantises the sums into f32 outputs and adds the bias.
struct DequantSink<'a> {
    out: OutPtr<f32>,
    n: usize,
    len: usize,
    a: &'a QuantRows,
    w: &'a PackedI8,
    bias: Option<&'a [f32]>,
    /// The instruction set to compile the loops for.
    kernel: Kernel,
}

impl DequantSink<'_> {
    /// One tile (see [`Sink::tile`]); inlined into builds for each instruction set. The same
    /// IEEE operations in the same order in every build (Rust does not fuse `a * b + c`).
    #[inline(always)]
    fn tile_generic(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc) {
        let ws = &self.w.scale[c0..c0 + cols];
        let cs = &self.w.colsum[c0..c0 + cols];
        for (r, a) in acc.iter().enumerate().take(rows) {
            let row = r0 + r;
            let (sx, zx) = (self.a.scale[row], self.a.zero[row]);
            let start = row * self.n + c0;
            assert!(start + cols <= self.len);
            // SAFETY: in bounds (checked); disjoint per tile (see `OutPtr`).
            let o = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(start), cols) };
            match self.bias {
                Some(b) => {
                    let b = &b[c0..c0 + cols];
                    for ((((o, &acc), &cs), &ws), &b) in o.iter_mut().zip(a).zip(cs).zip(ws).zip(b)
                    {
                        *o = (acc - zx * cs) as f32 * (sx * ws) + b;
                    }
                }
                None => {
                    for (((o, &acc), &cs), &ws) in o.iter_mut().zip(a).zip(cs).zip(ws) {
                        *o = (acc - zx * cs) as f32 * (sx * ws);
                    }
                }
            }
        }
    }
}

impl Sink for DequantSink<'_> {
    fn tile(&self, r0: usize, rows: usize, c0: usize, cols: usize, acc: &Acc) {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            s: &DequantSink<'_>,
            r0: usize,
            rows: usize,
            c0: usize,
            cols: usize,
            acc: &Acc,
        ) {
            s.tile_generic(r0, rows, c0, cols, acc)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw")]
        unsafe fn avx512(
            s: &DequantSink<'_>,
            r0: usize,
            rows: usize,
            c0: usize,
            cols: usize,
            acc: &Acc,
        ) {
            s.tile_generic(r0, rows, c0, cols, acc)
        }
        match self.kernel {
            Kernel::Portable => self.tile_generic(r0, rows, c0, cols, acc),
            // SAFETY: these kernels are only offered when the CPU has the features (see
            // `Kernel::available`).
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2(self, r0, rows, c0, cols, acc) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni => unsafe { avx512(self, r0, rows, c0, cols, acc) },
        }
    }
}

/// The exact integer product `a @ q^T` (`[m, n]`) with a given kernel: the tests compare every
/// kernel with a plain reference through this.
#[cfg(test)]
pub(crate) fn matmul_i32(kernel: Kernel, a: &QuantRows, w: &PackedI8) -> CResult<Vec<i32>> {
    let mut out = vec![0i32; a.m * w.n];
    let sink = RawSink {
        out: OutPtr(out.as_mut_ptr()),
        n: w.n,
        len: out.len(),
    };
    product(kernel, a, w, &sink)?;
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// The layer
// ------------------------------------------------------------------------------------------

/// An int8 dense layer `x @ W^T + b` (weights `[out, in]` as PyTorch stores them).
pub(crate) struct QLinear {
    w: PackedI8,
    /// The f32 weights transposed, `[in, out]`: the rows the activation outliers multiply.
    /// (bfloat16 would halve their bytes, but costs too much accuracy, as do 16-bit integers
    /// with a scale per column: all-MiniLM's worst bench title sits on a rounding edge of a
    /// later layer's activation quantisation; figures in benches/README.md.)
    wt: Vec<f32>,
    bias: Option<Vec<f32>>,
    kernel: Kernel,
}

impl QLinear {
    /// Quantises a `[out, in]` weight; `bias`, when given, is `[out]`.
    pub(crate) fn new(w: &Tensor, bias: Option<Vec<f32>>) -> CResult<Self> {
        let (out, inp) = w.dims2()?;
        if bias.as_ref().is_some_and(|b| b.len() != out) {
            bail!("linear: bias length does not match {out} outputs");
        }
        let data = w.flatten_all()?.to_vec1::<f32>()?;
        Ok(QLinear {
            w: PackedI8::quantize(&data, out, inp)?,
            wt: w.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?,
            bias,
            kernel: Kernel::detect(),
        })
    }

    /// `x @ W^T + b` for `x` of shape `[rows, in]`, into a new `[rows, out]` tensor.
    pub(crate) fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        x.apply_op1_no_bwd(self)
    }

    /// The same with an explicit kernel, on raw slices (tests).
    #[cfg(test)]
    fn forward_with(&self, kernel: Kernel, x: &[f32], m: usize) -> CResult<Vec<f32>> {
        let a = quantize_rows(kernel, x, m, self.w.k);
        self.run(kernel, &a)
    }

    fn run(&self, kernel: Kernel, a: &QuantRows) -> CResult<Vec<f32>> {
        let mut out = vec![0f32; a.m * self.w.n];
        let sink = DequantSink {
            out: OutPtr(out.as_mut_ptr()),
            n: self.w.n,
            len: out.len(),
            a,
            w: &self.w,
            bias: self.bias.as_deref(),
            kernel,
        };
        product(kernel, a, &self.w, &sink)?;
        add_outliers(kernel, a, &self.wt, &mut out, self.w.n)?;
        Ok(out)
    }
}

/// `out[r] += Σ v * wt[k]` over the outliers `(k, v)` of every row `r`.
///
/// Per row and block of [`OB`] columns, the products are summed in registers in the row's
/// order of `k` (a multiply then an add each, never fused), and the sum is added to the output
/// once: the same result in every build and kernel, and a row's result does not depend on its
/// batch. (Adding each product straight into the output, one outlier at a time, read and wrote
/// the output row per outlier: at ~29 outliers per 1,536-wide GELU row that cost as much as
/// the int8 product itself.) Rows are split over the pool; with fewer rows than threads have
/// work for (batch 1), column ranges are.
fn add_outliers(
    kernel: Kernel,
    a: &QuantRows,
    wt: &[f32],
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
fn outlier_row_generic(outl: &[(u32, f32)], wt: &[f32], n: usize, c0: usize, o: &mut [f32]) {
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
            let w: &[f32; OB] = wt[at..at + OB].try_into().expect("a block of OB columns");
            for i in 0..OB {
                acc[i] += v * w[i];
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
                *a += v * w;
            }
        }
        for (o, a) in rest.iter_mut().zip(&acc[..len]) {
            *o += *a;
        }
    }
}

/// [`outlier_row_generic`] compiled for the kernel's instruction set.
fn outlier_row(
    kernel: Kernel,
    outl: &[(u32, f32)],
    wt: &[f32],
    n: usize,
    c0: usize,
    o: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn avx2(outl: &[(u32, f32)], wt: &[f32], n: usize, c0: usize, o: &mut [f32]) {
        outlier_row_generic(outl, wt, n, c0, o)
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn avx512(outl: &[(u32, f32)], wt: &[f32], n: usize, c0: usize, o: &mut [f32]) {
        outlier_row_generic(outl, wt, n, c0, o)
    }
    match kernel {
        Kernel::Portable => outlier_row_generic(outl, wt, n, c0, o),
        // SAFETY: these kernels are only offered when the CPU has the features (see
        // `Kernel::available`).
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { avx2(outl, wt, n, c0, o) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Vnni => unsafe { avx512(outl, wt, n, c0, o) },
    }
}

impl CustomOp1 for QLinear {
    fn name(&self) -> &'static str {
        "titlesim-linear-int8"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (m, k) = dims2(l, self.name())?;
        if k != self.w.k {
            bail!("linear: input width {k}, expected {}", self.w.k);
        }
        let x = f32s(s, l, self.name())?;
        let a = quantize_rows(self.kernel, x, m, k);
        let out = self.run(self.kernel, &a)?;
        Ok((CpuStorage::F32(out), Shape::from((m, self.w.n))))
    }
}

/// A dense layer in the model's precision.
pub(crate) enum Dense {
    /// f32 weights (`gemm` crate).
    F32(Linear),
    /// int8 weights (this module).
    Int8(QLinear),
}

impl Dense {
    /// A `[out, in]` weight and optional `[out]` bias in precision `p`.
    pub(crate) fn new(p: Precision, w: &Tensor, bias: Option<Vec<f32>>) -> CResult<Self> {
        Ok(match p {
            Precision::F32 => Dense::F32(Linear::new(w, bias)?),
            Precision::Int8 => Dense::Int8(QLinear::new(w, bias)?),
        })
    }

    /// Stacks several layers that read the same input into one (e.g. q, k, v), so a single
    /// matrix product computes them all. `biases`, when given, has one entry per layer.
    pub(crate) fn fuse(
        p: Precision,
        ws: &[Tensor],
        biases: Option<Vec<Vec<f32>>>,
    ) -> CResult<Self> {
        let w = Tensor::cat(ws, 0)?;
        Dense::new(p, &w, biases.map(|b| b.concat()))
    }

    /// `x @ W^T + b` for `x` of shape `[rows, in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        match self {
            Dense::F32(l) => l.forward(x),
            Dense::Int8(l) => l.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn u8(&mut self) -> u8 {
            (self.next() >> 56) as u8
        }
        fn i8(&mut self) -> i8 {
            (self.next() >> 56) as u8 as i8
        }
        fn f32(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }
    }

    /// Odd shapes `(m, k, n)`: K not a multiple of 4/64, M = 1 and M not a multiple of MR, N
    /// not a multiple of 16 or NR, several row blocks (M > MC) and panels.
    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 67, 17),
        (1, 384, 1152),
        (2, 3, 200),
        (7, 130, 70),
        (13, 257, 129),
        (6, 64, 64),
        (MC + 5, 100, 65),
        (2 * MC + 1, 9, 3),
    ];

    fn rows(rng: &mut Rng, m: usize, k: usize) -> QuantRows {
        let kp = k.div_ceil(4) * 4;
        let mut data = vec![0u8; m * kp];
        for r in 0..m {
            for c in 0..k {
                data[r * kp + c] = rng.u8();
            }
        }
        // Extremes on the first row.
        if m > 0 && k > 0 {
            data[0] = 255;
        }
        QuantRows {
            data,
            m,
            kp,
            scale: vec![1.0; m],
            zero: vec![0; m],
            outliers: vec![Vec::new(); m],
        }
    }

    #[test]
    fn every_kernel_gives_the_exact_integer_product() {
        let kernels = Kernel::available();
        eprintln!(
            "kernels on this CPU: {kernels:?}; used: {:?}",
            Kernel::detect()
        );
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for &(m, k, n) in SHAPES {
            let a = rows(&mut rng, m, k);
            let mut q: Vec<i8> = (0..n * k).map(|_| rng.i8()).collect();
            q[0] = -128;
            if q.len() > 1 {
                q[1] = 127;
            }
            let w = PackedI8::from_i8(&q, n, k, vec![1.0; n]).unwrap();
            let want: Vec<i32> = (0..m)
                .flat_map(|r| {
                    let (a, q) = (&a, &q);
                    (0..n).map(move |j| {
                        (0..k)
                            .map(|t| i32::from(a.data[r * a.kp + t]) * i32::from(q[j * k + t]))
                            .sum::<i32>()
                    })
                })
                .collect();
            for &kernel in &kernels {
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let got = pool.install(|| matmul_i32(kernel, &a, &w)).unwrap();
                    assert_eq!(
                        got, want,
                        "{kernel:?}, {threads} threads, shape {m}x{k}x{n}"
                    );
                }
            }
        }
    }

    #[test]
    fn weight_sums_and_scales_are_per_column() {
        let w = [1.0f32, -2.0, 0.5, 0.0, 0.0, 0.0, 3.0, 3.0, -3.0];
        let p = PackedI8::quantize(&w, 3, 3).unwrap();
        assert_eq!(p.scale, vec![2.0 / 127.0, 1.0, 3.0 / 127.0]);
        // Column 0 quantises to [64 (63.5 rounds away from 0), -127, 32 (31.75)].
        assert_eq!(p.colsum, vec![64 - 127 + 32, 0, 127]);
        assert!(PackedI8::quantize(&[f32::NAN], 1, 1).is_err());
    }

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

    #[test]
    fn int8_linear_is_close_to_f32_and_identical_across_kernels() {
        let mut rng = Rng(42);
        let (m, k, n) = (9, 96, 70);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let wt = Tensor::from_vec(w.clone(), (n, k), &candle_core::Device::Cpu).unwrap();
        let lin = QLinear::new(&wt, Some(bias.clone())).unwrap();
        let outs: Vec<Vec<f32>> = Kernel::available()
            .into_iter()
            .map(|kn| lin.forward_with(kn, &x, m).unwrap())
            .collect();
        for o in &outs[1..] {
            assert_eq!(o, &outs[0], "kernels differ");
        }
        // Error bound: per product, |Σ x w - Σ x' w'| <= Σ |x||dw| + |dx||w'| with
        // |dw| <= sw/2 and |dx| <= sx/2.
        for r in 0..m {
            let xr = &x[r * k..(r + 1) * k];
            let (lo, hi) = xr
                .iter()
                .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
            let sx = (hi - lo) / 255.0;
            for j in 0..n {
                let wj = &w[j * k..(j + 1) * k];
                let sw = wj.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                let exact: f32 = xr.iter().zip(wj).map(|(a, b)| a * b).sum::<f32>() + bias[j];
                let bound: f32 = xr
                    .iter()
                    .zip(wj)
                    .map(|(a, b)| a.abs() * sw / 2.0 + sx / 2.0 * (b.abs() + sw / 2.0))
                    .sum();
                let got = outs[0][r * n + j];
                assert!(
                    (got - exact).abs() <= bound * 1.01 + 1e-5,
                    "({r},{j}): {got} vs {exact}, bound {bound}"
                );
            }
        }
        // A row alone gives exactly what it gives in the batch.
        let single = lin
            .forward_with(Kernel::detect(), &x[2 * k..3 * k], 1)
            .unwrap();
        assert_eq!(single[..], outs.last().unwrap()[2 * n..3 * n]);
    }

    #[test]
    fn outliers_are_added_in_f32_the_same_in_every_kernel_and_batch() {
        let mut rng = Rng(7);
        let (k, n) = (192, 1200);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let wt = Tensor::from_vec(w.clone(), (n, k), &candle_core::Device::Cpu).unwrap();
        let lin = QLinear::new(&wt, Some(bias.clone())).unwrap();
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
