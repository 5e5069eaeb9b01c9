//! The micro-kernels: `acc[r][c] = Σ_p (a[r][2p+1] w[2p+1][c], then a[r][2p] w[2p][c])` for up
//! to [`MR`] rows × [`NR`] columns of a packed panel, one per [`Kernel`]. The portable and
//! AVX-512 BF16 kernels give the same bits: the order and roundings of AVX-512 BF16's
//! `vdpbf16ps`, which the portable kernel spells out with fused multiply-adds (see the module
//! documentation). The aarch64 `bfmmla` kernel gives the bits the Arm architecture defines for
//! that instruction (below).

use super::{Kernel, MR, NR};

/// The accumulators of one micro-tile, `acc[row][column]`.
pub(super) type Acc = [[f32; NR]; MR];

/// A bf16 value (its bit pattern) as f32: the same bits in the top half (exact).
#[inline(always)]
fn widen(b: u32) -> f32 {
    f32::from_bits(b << 16)
}

crate::cpu::simd_dispatch! {
    /// The portable micro-kernel (one row at a time; the column loop vectorises): per input
    /// pair, the odd input's product is added and rounded, then the even one's. The products
    /// are exact and no sum is subnormal (see the module documentation), so a fused
    /// multiply-add rounds exactly as the instruction's steps do, and its flush to zero never
    /// applies: this is `vdpbf16ps` to the bit.
    fn tile_portable(a: &[u32], kp: usize, rows: usize, panel: &[u32], acc: &mut Acc) {
        for (r, o) in acc.iter_mut().enumerate().take(rows) {
            *o = [0.0; NR];
            let ar = &a[r * kp..(r + 1) * kp];
            for (&x, wp) in ar.iter().zip(panel.chunks_exact(NR)) {
                let (x0, x1) = (widen(x & 0xffff), widen(x >> 16));
                for (o, &w) in o.iter_mut().zip(wp) {
                    let t = x1.mul_add(widen(w >> 16), *o);
                    *o = x0.mul_add(widen(w & 0xffff), t);
                }
            }
        }
    }
}

/// The AVX-512 BF16 micro-kernel for `R` rows: per input pair, one broadcast of the row's
/// pair and four `vdpbf16ps` (16 columns each) per row.
///
/// # Safety
/// The CPU must have AVX-512F and AVX-512 BF16; `a` must hold `R * kp` pairs and `panel`
/// `kp * NR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile_avx512<const R: usize>(a: &[u32], kp: usize, panel: &[u32], acc: &mut Acc) {
    use std::arch::x86_64::*;
    debug_assert!(a.len() >= R * kp && panel.len() >= kp * NR);
    let mut v = [[_mm512_setzero_ps(); 4]; R];
    let (a, w) = (a.as_ptr(), panel.as_ptr());
    for p in 0..kp {
        // SAFETY: `p < kp`, so the panel's `NR` pairs of step `p` and the rows' pair `p` are
        // in bounds (the caller's contract). `__m512i` and `__m512bh` are both 64 bytes.
        unsafe {
            let wp = w.add(p * NR);
            let ws: [__m512bh; 4] =
                [0, 16, 32, 48].map(|c| std::mem::transmute(_mm512_loadu_si512(wp.add(c).cast())));
            for (r, v) in v.iter_mut().enumerate() {
                let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(*a.add(r * kp + p) as i32));
                for (v, &w) in v.iter_mut().zip(&ws) {
                    *v = _mm512_dpbf16_ps(*v, x, w);
                }
            }
        }
    }
    for (o, v) in acc.iter_mut().zip(&v) {
        for (c, &v) in v.iter().enumerate() {
            // SAFETY: `c * 16 + 16 <= NR`, within the row.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr().add(c * 16), v) };
        }
    }
}

/// One micro-tile with `kernel`: rows `0..rows` of `a` (`kp` pairs each) times a panel
/// (`kp * NR` pairs), into `acc[..rows]`.
pub(super) fn tile(
    kernel: Kernel,
    a: &[u32],
    kp: usize,
    rows: usize,
    panel: &[u32],
    acc: &mut Acc,
) {
    assert!(rows <= MR && a.len() >= rows * kp && panel.len() >= kp * NR);
    match kernel {
        Kernel::Portable => tile_portable(a, kp, rows, panel, acc),
        // SAFETY: `Avx512Bf16` is only offered when the CPU has the features (see
        // `Kernel::available`); the sizes were checked above.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512Bf16 => unsafe {
            match rows {
                1 => tile_avx512::<1>(a, kp, panel, acc),
                2 => tile_avx512::<2>(a, kp, panel, acc),
                3 => tile_avx512::<3>(a, kp, panel, acc),
                4 => tile_avx512::<4>(a, kp, panel, acc),
                5 => tile_avx512::<5>(a, kp, panel, acc),
                _ => tile_avx512::<MR>(a, kp, panel, acc),
            }
        },
        // AMX runs whole blocks (`amx.rs`), never this micro-tile; should a caller pass it,
        // the portable kernel gives correct results.
        #[cfg(target_arch = "x86_64")]
        Kernel::Amx => tile_portable(a, kp, rows, panel, acc),
        #[cfg(target_arch = "aarch64")]
        Kernel::Bfmmla => {
            // Four rows at a time (two row pairs), then the last one or two.
            let mut r = 0;
            while r < rows {
                let n = (rows - r).min(4);
                let (a, acc) = (&a[r * kp..], &mut acc[r..r + n]);
                // SAFETY: `Bfmmla` is only offered when the CPU has FEAT_BF16 (see
                // `Kernel::available`); `a` holds the `n` rows (checked above), `kp` is even
                // (a multiple of `PAIR_MULTIPLE`) and the panel holds `kp * NR` pairs.
                unsafe {
                    if n > 2 {
                        tile_bfmmla::<2>(a, kp, n, panel, acc)
                    } else {
                        tile_bfmmla::<1>(a, kp, n, panel, acc)
                    }
                }
                r += n;
            }
        }
    }
}

/// `bfmmla acc.4s, a.8h, b.8h`: `a` holds two rows of four bf16 inputs, `b` two columns of
/// four bf16 weights; the 2 × 2 products are added onto `acc` as `[r0c0, r0c1, r1c0, r1c1]`.
/// Each output takes its four products as two pairs, in order: the pair's two products
/// (exact) are added, that sum is added to the output, each addition rounded to odd with
/// subnormals flushed to zero (the Arm architecture's `BFDotAdd` without FEAT_EBF16, or with
/// it and `FPCR.EBF` clear, as Linux leaves it; the `FPCR` rounding mode is ignored).
///
/// # Safety
/// The CPU must have FEAT_BF16.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn bfmmla(
    acc: std::arch::aarch64::float32x4_t,
    a: std::arch::aarch64::uint32x4_t,
    b: std::arch::aarch64::uint32x4_t,
) -> std::arch::aarch64::float32x4_t {
    // The intrinsic `vbfmmlaq_f32` is not stable in Rust yet; the instruction is.
    let mut acc = acc;
    // SAFETY: register-only; the caller's contract gives the feature.
    unsafe {
        std::arch::asm!(
            "bfmmla {acc:v}.4s, {a:v}.8h, {b:v}.8h",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// The `bfmmla` micro-kernel for `P` pairs of rows (`rows` of them real, `2P - 1` or `2P`: a
/// missing last row repeats the one before, and its results are dropped) × the panel's
/// [`NR`] columns, in blocks of 16 columns. Per two input pairs (four inputs): a row pair's
/// operand is the two rows' 8-byte runs side by side; a column pair's is two panel rows'
/// 16-byte runs interleaved (`zip1`/`zip2`: the packed layout already holds a column's two
/// inputs of a pair in one 32-bit word), so the panel layout is the other kernels'; then
/// `8P` `bfmmla`.
///
/// A row's results depend on its own inputs only, whatever row it is paired with.
///
/// # Safety
/// The CPU must have FEAT_BF16; `a` must hold `rows * kp` pairs, `kp` must be even, `panel`
/// must hold `kp * NR` pairs and `acc` at least `rows` rows; `2P - 1 <= rows <= 2P`.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "bf16")]
unsafe fn tile_bfmmla<const P: usize>(
    a: &[u32],
    kp: usize,
    rows: usize,
    panel: &[u32],
    acc: &mut [[f32; NR]],
) {
    use std::arch::aarch64::*;
    debug_assert!(rows <= 2 * P && rows + 1 >= 2 * P && kp.is_multiple_of(2));
    debug_assert!(a.len() >= rows * kp && panel.len() >= kp * NR && acc.len() >= rows);
    // The two rows of each pair (the last row twice when `rows` is odd).
    let starts: [[usize; 2]; P] =
        std::array::from_fn(|i| [2 * i, (2 * i + 1).min(rows - 1)].map(|r| r * kp));
    let (a, w) = (a.as_ptr(), panel.as_ptr());
    for cb in 0..NR / 16 {
        let mut c = [[vdupq_n_f32(0.0); 8]; P];
        for s in (0..kp).step_by(2) {
            // SAFETY (whole loop): `s + 1 < kp`, so pairs `s, s + 1` of every row and panel
            // steps `s, s + 1` (columns `cb * 16..cb * 16 + 16 <= NR`) are in bounds.
            unsafe {
                let w0 = w.add(s * NR + cb * 16);
                let w1 = w0.add(NR);
                let mut b = [vdupq_n_u32(0); 8];
                for q in 0..4 {
                    let (r0, r1) = (vld1q_u32(w0.add(4 * q)), vld1q_u32(w1.add(4 * q)));
                    b[2 * q] = vzip1q_u32(r0, r1);
                    b[2 * q + 1] = vzip2q_u32(r0, r1);
                }
                for (c, st) in c.iter_mut().zip(&starts) {
                    let x = vcombine_u32(vld1_u32(a.add(st[0] + s)), vld1_u32(a.add(st[1] + s)));
                    for (c, &b) in c.iter_mut().zip(&b) {
                        *c = bfmmla(*c, x, b);
                    }
                }
            }
        }
        for (i, c) in c.iter().enumerate() {
            for (j, &v) in c.iter().enumerate() {
                let col = cb * 16 + 2 * j;
                // SAFETY: `col + 2 <= NR`; rows `2i` and `2i + 1` are written only when real.
                unsafe {
                    vst1_f32(acc[2 * i].as_mut_ptr().add(col), vget_low_f32(v));
                    if 2 * i + 1 < rows {
                        vst1_f32(acc[2 * i + 1].as_mut_ptr().add(col), vget_high_f32(v));
                    }
                }
            }
        }
    }
}
