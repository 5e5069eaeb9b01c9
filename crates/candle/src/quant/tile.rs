//! The micro-kernels: `acc[r][c] = Σ_k a[r][k] * w[c][k]` for up to [`MR`] rows × [`NR`]
//! columns of a packed panel, one per [`Kernel`], all giving the exact i32 sums.

use super::kernel::Kernel;
use super::{MR, NR};

/// The accumulators of one micro-tile, `acc[row][column]`.
pub(super) type Acc = [[i32; NR]; MR];

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
pub(super) fn tile(
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
