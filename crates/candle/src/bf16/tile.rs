//! The micro-kernels: `acc[r][c] = Σ_p (a[r][2p+1] w[2p+1][c], then a[r][2p] w[2p][c])` for up
//! to [`MR`] rows × [`NR`] columns of a packed panel, one per [`Kernel`], all giving the same
//! bits: the order and roundings of AVX-512 BF16's `vdpbf16ps`, which the portable kernel
//! spells out with fused multiply-adds (see the module documentation).

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
    }
}
