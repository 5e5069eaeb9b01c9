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

/// The activations as the AVX2 kernel reads them, widened to i16 once per product (the other
/// kernels read the u8 bytes: empty for them).
pub(super) fn widened(kernel: Kernel, a: &[u8]) -> Vec<i16> {
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx2 {
        #[target_feature(enable = "avx2")]
        unsafe fn widen(a: &[u8]) -> Vec<i16> {
            a.iter().map(|&v| i16::from(v)).collect()
        }
        // SAFETY: `Avx2` is only offered when the CPU has AVX2.
        return unsafe { widen(a) };
    }
    let _ = (kernel, a);
    Vec::new()
}

/// Calls the `R`-row build of a micro-kernel for `rows` (1..=[`MR`]).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! by_rows {
    ($rows:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $rows {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            _ => $f::<MR>($($arg),*),
        }
    };
}

/// The AVX2 micro-kernel: per 8-column block of the panel and group of 4 inputs, the block's
/// 32 weight bytes sign-extended to i16 (two `vpmovsxbw`) and per row one 8-byte broadcast of
/// its 4 activations (widened to i16 once per product, see [`widened`]) and two `vpmaddwd`
/// (i16 × i16 pairs summed into i32: exact, no saturation, unlike the u8 × i8 `vpmaddubsw`).
///
/// # Safety
/// The CPU must have AVX2; `x` must hold `(rows - 1) * ldx + 4 * groups` values and `panel`
/// `groups * NR * 4`, with `1 <= rows <= MR`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2(
    x: &[i16],
    ldx: usize,
    rows: usize,
    panel: &[i8],
    groups: usize,
    acc: &mut Acc,
) {
    let (x, w) = (x.as_ptr(), panel.as_ptr());
    for cb in 0..NR / 8 {
        // SAFETY: the buffers hold what the contract says.
        by_rows!(rows, tile_avx2_block(x, ldx, w, cb, groups, acc));
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

/// The AVX-VNNI micro-kernel for `R` rows (`vpdpbusd` on 256-bit vectors, for CPUs with
/// AVX-VNNI but not AVX-512): in four blocks of 16 columns, per group of 4 inputs two 32-byte
/// weight loads, and per row one 4-byte broadcast and two `vpdpbusd` (12 accumulators, 2
/// weight vectors and the broadcast fill 15 of the 16 registers).
///
/// # Safety
/// The CPU must have AVX2 and AVX-VNNI; `a` must hold `(R - 1) * lda + 4 * groups` bytes and
/// `panel` `groups * NR * 4`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn tile_avx_vnni<const R: usize>(
    a: *const u8,
    lda: usize,
    panel: *const i8,
    groups: usize,
    acc: &mut Acc,
) {
    use std::arch::x86_64::*;
    for cb in 0..NR / 16 {
        let mut c = [[_mm256_setzero_si256(); 2]; R];
        for g in 0..groups {
            // SAFETY (whole block): in bounds by the function's contract. A group's 16
            // columns of this block are 64 consecutive bytes (4 inputs per column), so lane
            // `i` of the two vectors is column `16 * cb + i`, `+ 8 + i`.
            let wp = panel.add(g * NR * 4 + cb * 64) as *const __m256i;
            let b0 = _mm256_loadu_si256(wp);
            let b1 = _mm256_loadu_si256(wp.add(1));
            for (r, c) in c.iter_mut().enumerate() {
                let x = _mm256_set1_epi32((a.add(r * lda + g * 4) as *const i32).read_unaligned());
                c[0] = _mm256_dpbusd_avx_epi32(c[0], x, b0);
                c[1] = _mm256_dpbusd_avx_epi32(c[1], x, b1);
            }
        }
        for (o, c) in acc.iter_mut().zip(&c) {
            let p = o.as_mut_ptr().add(cb * 16) as *mut __m256i;
            _mm256_storeu_si256(p, c[0]);
            _mm256_storeu_si256(p.add(1), c[1]);
        }
    }
}

/// `sdot acc.4s, a.16b, b.16b`: per i32 lane, the sum of four i8 × i8 products added on.
///
/// # Safety
/// The CPU must have FEAT_DotProd.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn sdot(
    acc: std::arch::aarch64::int32x4_t,
    a: std::arch::aarch64::int8x16_t,
    b: std::arch::aarch64::int8x16_t,
) -> std::arch::aarch64::int32x4_t {
    // The intrinsic `vdotq_s32` is not stable in Rust yet; the instruction is.
    let mut acc = acc;
    std::arch::asm!(
        "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags)
    );
    acc
}

/// `usmmla acc.4s, a.16b, b.16b`: `a` holds two rows of 8 u8, `b` two columns of 8 i8; the 2×2
/// i32 products are added onto `acc` as `[r0c0, r0c1, r1c0, r1c1]`.
///
/// # Safety
/// The CPU must have FEAT_I8MM.
#[cfg(target_arch = "aarch64")]
#[inline(always)]
unsafe fn usmmla(
    acc: std::arch::aarch64::int32x4_t,
    a: std::arch::aarch64::uint8x16_t,
    b: std::arch::aarch64::int8x16_t,
) -> std::arch::aarch64::int32x4_t {
    // The intrinsic `vusmmlaq_s32` is not stable in Rust yet; the instruction is.
    let mut acc = acc;
    std::arch::asm!(
        "usmmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
        acc = inout(vreg) acc,
        a = in(vreg) a,
        b = in(vreg) b,
        options(pure, nomem, nostack, preserves_flags)
    );
    acc
}

/// The dot-product micro-kernel for `R` rows, in four blocks of 16 columns: per group of 4
/// inputs, the block's four 16-byte weight vectors (4 columns × 4 inputs each, the packed
/// layout) and per row one 4-byte broadcast and four `sdot`. `sdot` multiplies i8 by i8, so
/// the u8 activations go in as `a - 128` (their top bit flipped) and `128 × Σ_k q[c][k]`
/// (from `colsum`) is added back: `Σ a q = Σ (a - 128) q + 128 Σ q`, exact in i32.
///
/// # Safety
/// The CPU must have FEAT_DotProd; `a` must hold `(R - 1) * lda + 4 * groups` bytes, `panel`
/// `groups * NR * 4` and `colsum` at most [`NR`] values (the panel's columns; missing ones
/// are padding columns, whose weights are 0).
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "dotprod")]
unsafe fn tile_dotprod<const R: usize>(
    a: *const u8,
    lda: usize,
    panel: *const i8,
    colsum: &[i32],
    groups: usize,
    acc: &mut Acc,
) {
    use std::arch::aarch64::*;
    let mut shift = [0i32; NR];
    for (s, &c) in shift.iter_mut().zip(colsum) {
        *s = c.wrapping_mul(128);
    }
    for cb in 0..NR / 16 {
        let mut c = [[vdupq_n_s32(0); 4]; R];
        for g in 0..groups {
            // SAFETY (whole block): in bounds by the function's contract. A group's 16
            // columns of this block are 64 consecutive bytes (4 inputs per column).
            let wp = panel.add(g * NR * 4 + cb * 64);
            let b0 = vld1q_s8(wp);
            let b1 = vld1q_s8(wp.add(16));
            let b2 = vld1q_s8(wp.add(32));
            let b3 = vld1q_s8(wp.add(48));
            for (r, c) in c.iter_mut().enumerate() {
                let x = (a.add(r * lda + g * 4) as *const u32).read_unaligned() ^ 0x8080_8080;
                let x = vreinterpretq_s8_u32(vdupq_n_u32(x));
                c[0] = sdot(c[0], x, b0);
                c[1] = sdot(c[1], x, b1);
                c[2] = sdot(c[2], x, b2);
                c[3] = sdot(c[3], x, b3);
            }
        }
        for (o, c) in acc.iter_mut().zip(&c) {
            for (j, v) in c.iter().enumerate() {
                let col = cb * 16 + j * 4;
                let v = vaddq_s32(*v, vld1q_s32(shift.as_ptr().add(col)));
                vst1q_s32(o.as_mut_ptr().add(col), v);
            }
        }
    }
}

/// The int8-matrix micro-kernel for `R` rows, in eight blocks of 8 columns: per 8 inputs (two
/// packed groups), each column pair's weights gathered into one vector (two `zip`s of the
/// groups' vectors), each row pair's activations into another, and one `usmmla` per (row
/// pair, column pair). u8 × i8 directly, so no shift is needed. An odd last row pairs with a
/// row of zeros; an odd last group with a group of zeros.
///
/// # Safety
/// The CPU must have FEAT_I8MM; `a` must hold `(R - 1) * lda + 4 * groups` bytes and `panel`
/// `groups * NR * 4`.
#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "i8mm")]
unsafe fn tile_i8mm<const R: usize>(
    a: *const u8,
    lda: usize,
    panel: *const i8,
    groups: usize,
    acc: &mut Acc,
) {
    use std::arch::aarch64::*;
    // Rows of 8 activation bytes: full steps read 8, the odd last group 4 (then zeros).
    let row8 = |r: usize, step: usize, full: bool| -> uint8x8_t {
        if r >= R {
            return vdup_n_u8(0);
        }
        // SAFETY: in bounds by the function's contract (8 bytes of a full step lie within
        // the row's `4 * groups`; a half step reads 4).
        let p = a.add(r * lda + step * 8);
        if full {
            vld1_u8(p)
        } else {
            vcreate_u8(u64::from((p as *const u32).read_unaligned()))
        }
    };
    let pairs = R.div_ceil(2);
    let steps = groups.div_ceil(2);
    for cb in 0..NR / 8 {
        // c[p][j]: rows 2p, 2p + 1 × columns cb * 8 + 2j, + 1.
        let mut c = [[vdupq_n_s32(0); 4]; 3];
        for s in 0..steps {
            let full = 2 * s + 1 < groups;
            // SAFETY (whole block): in bounds by the function's contract.
            let g0 = panel.add(2 * s * NR * 4 + cb * 32);
            let x0 = vreinterpretq_s32_s8(vld1q_s8(g0));
            let x1 = vreinterpretq_s32_s8(vld1q_s8(g0.add(16)));
            let (y0, y1) = if full {
                let g1 = g0.add(NR * 4);
                (
                    vreinterpretq_s32_s8(vld1q_s8(g1)),
                    vreinterpretq_s32_s8(vld1q_s8(g1.add(16))),
                )
            } else {
                (vdupq_n_s32(0), vdupq_n_s32(0))
            };
            let b = [
                vreinterpretq_s8_s32(vzip1q_s32(x0, y0)),
                vreinterpretq_s8_s32(vzip2q_s32(x0, y0)),
                vreinterpretq_s8_s32(vzip1q_s32(x1, y1)),
                vreinterpretq_s8_s32(vzip2q_s32(x1, y1)),
            ];
            for (p, c) in c.iter_mut().enumerate().take(pairs) {
                let x = vcombine_u8(row8(2 * p, s, full), row8(2 * p + 1, s, full));
                for (c, b) in c.iter_mut().zip(&b) {
                    *c = usmmla(*c, x, *b);
                }
            }
        }
        for (p, c) in c.iter().enumerate().take(pairs) {
            for (j, v) in c.iter().enumerate() {
                let col = cb * 8 + 2 * j;
                vst1_s32(acc[2 * p].as_mut_ptr().add(col), vget_low_s32(*v));
                if 2 * p + 1 < R {
                    vst1_s32(acc[2 * p + 1].as_mut_ptr().add(col), vget_high_s32(*v));
                }
            }
        }
    }
}

/// One micro-tile with `kernel`. `a` starts at the tile's first row, and so does `a16`, the
/// same rows as [`widened`] gives them (read by the AVX2 kernel only); `colsum` holds the
/// panel's per-column weight sums (the dot-product kernel needs them).
#[allow(clippy::too_many_arguments)]
pub(super) fn tile(
    kernel: Kernel,
    a: &[u8],
    a16: &[i16],
    lda: usize,
    rows: usize,
    panel: &[i8],
    colsum: &[i32],
    groups: usize,
    acc: &mut Acc,
) {
    debug_assert!((1..=MR).contains(&rows));
    debug_assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
    match kernel {
        Kernel::Portable => {
            let _ = (colsum, a16);
            tile_portable(a, lda, rows, panel, groups, acc)
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            assert!(a16.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            // SAFETY: `Avx2` is only offered when the CPU has AVX2 (`Kernel::available`); the
            // buffer sizes are checked just above.
            unsafe { tile_avx2(a16, lda, rows, panel, groups, acc) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::AvxVnni => {
            assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            let (a, w) = (a.as_ptr(), panel.as_ptr());
            // SAFETY: `AvxVnni` is only offered when the CPU has AVX2 and AVX-VNNI; the buffer
            // sizes are checked just above.
            unsafe { by_rows!(rows, tile_avx_vnni(a, lda, w, groups, acc)) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Vnni => {
            assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            let (a, w) = (a.as_ptr(), panel.as_ptr());
            // SAFETY: `Vnni` is only offered when the CPU has AVX-512F/BW/VNNI; the buffer
            // sizes are checked just above.
            unsafe { by_rows!(rows, tile_vnni(a, lda, w, groups, acc)) }
        }
        #[cfg(target_arch = "aarch64")]
        Kernel::Dotprod => {
            assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            assert!(colsum.len() <= NR);
            let (a, w) = (a.as_ptr(), panel.as_ptr());
            // SAFETY: `Dotprod` is only offered when the CPU has FEAT_DotProd; the buffer
            // sizes are checked just above.
            unsafe { by_rows!(rows, tile_dotprod(a, lda, w, colsum, groups, acc)) }
        }
        #[cfg(target_arch = "aarch64")]
        Kernel::I8mm => {
            assert!(a.len() >= (rows - 1) * lda + 4 * groups && panel.len() >= groups * NR * 4);
            let (a, w) = (a.as_ptr(), panel.as_ptr());
            // SAFETY: `I8mm` is only offered when the CPU has FEAT_I8MM; the buffer sizes are
            // checked just above.
            unsafe { by_rows!(rows, tile_i8mm(a, lda, w, groups, acc)) }
        }
    }
}
