//! The AMX kernel: Intel's tile matrix unit (`tdpbf16ps`, a 16 × 32 by 32 × 16 bf16 product
//! added into a 16 × 16 f32 tile: 8,192 multiply-adds per instruction; Sapphire Rapids and
//! later). Measured on the Xeon of benches/README.md: 1.8 T multiply-adds per second on one
//! core, 15× its f32 FMAs.
//!
//! Its sums are not `vdpbf16ps`'s: the unit adds the products of a row with its own internal
//! order and roundings, which Intel does not specify (on the measured CPU no sequential or
//! tree model of f32 roundings reproduced them), so an AMX machine's vectors differ from the
//! other kernels' in the last bits. They still do not depend on the batch: each output is the
//! same sequence of tile instructions on the same row and column, whatever the other rows
//! hold (tested), which is the guarantee titlesim gives on one machine. Set
//! `TITLESIM_BF16_KERNEL=avx512-bf16` (or `portable`) for dense-layer results that match
//! every other machine's bit for bit.
//!
//! The tiles: C0..C3 (`tmm0`-`tmm3`) hold a 32-row × 32-column block of outputs as four
//! 16 × 16 tiles; per step of 16 input pairs, A0/A1 (`tmm4`, `tmm5`) load 16 rows of the
//! activations each and B0/B1 (`tmm6`, `tmm7`) 16 pairs × 16 columns of the packed panel (the
//! panel layout is already the one `tdpbf16ps` reads: a column's pair in one 32-bit word), and
//! four `tdpbf16ps` update C. A panel of [`NR`] columns is two such column halves.
//!
//! The activations are rounded into the tiles' own layout ([`pack_activations`]): each
//! 16-row × 16-pair tile is 1 KB in one piece, so an A load reads 16 consecutive cache lines
//! rather than 16 lines a row apart: 1.04× to 1.19× the kernel's speed on Qwen3's and
//! all-MiniLM's shapes, rounding into this layout costing what rounding into rows did
//! (benches/README.md, 2026-12-06). The kernel stays bound by its tile loads: each of its 4
//! loads per 4 `tdpbf16ps` comes from L2 once a block's 32 rows of activations or its panel
//! half outgrow L1 (k above ~384).

use std::arch::asm;

use rayon::prelude::*;

use super::{round_pairs, NR, PAR_MIN_VALUES};

/// Rows of activations per AMX block (two 16-row tiles).
pub(super) const ROWS: usize = 32;
/// Input pairs per tile step (a 64-byte tile row).
pub(super) const PAIRS: usize = 16;

/// The tile configuration `ldtilecfg` reads (palette 1: eight tiles of up to 16 rows × 64
/// bytes).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    /// Bytes per row of each tile.
    colsb: [u16; 16],
    /// Rows of each tile.
    rows: [u8; 16],
}

/// Whether this CPU has AMX-TILE and AMX-BF16 and the operating system lets this process use
/// the tile registers (asked once, by [`crate::cpu`]: on Linux a process must request them).
#[cfg(target_arch = "x86_64")]
pub(crate) fn usable() -> bool {
    // CPUID leaf 7, subleaf 0: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE (CPUs without the
    // leaf report zeros: no AMX).
    let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
    let (amx_bf16, amx_tile) = ((leaf7.edx >> 22) & 1 == 1, (leaf7.edx >> 24) & 1 == 1);
    amx_bf16 && amx_tile && request_tiles()
}

/// Asks Linux for the tile data state (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`);
/// false when the kernel refuses (too old, or AMX disabled).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tiles() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain system call with integer arguments; it changes only which register
    // state this process may use.
    unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) == 0
    }
}

/// Other systems: not used (their permission calls differ and are untested).
#[cfg(all(target_arch = "x86_64", not(target_os = "linux")))]
fn request_tiles() -> bool {
    false
}

/// `m` rows of `k` f32 values rounded to bf16 pairs (as `super::pairs` rounds them) for `rows`
/// (a multiple of [`ROWS`], at least `m`) rows of `kp` pairs (a multiple of [`PAIRS`], at least
/// `ceil(k / 2)`), zeros beyond, laid out in tiles: row `r`, pair `p` at
/// `((r / 16) * (kp / 16) + p / 16) * 256 + (r % 16) * 16 + p % 16`. Rows `16g..16g + 16` start
/// at `16g * kp`, where the row-major layout has them.
pub(super) fn pack_activations(x: &[f32], m: usize, k: usize, rows: usize, kp: usize) -> Vec<u32> {
    debug_assert!(rows.is_multiple_of(ROWS) && rows >= m && kp.is_multiple_of(PAIRS));
    debug_assert!(2 * kp >= k && x.len() >= m * k);
    let mut out = vec![0u32; rows * kp];
    // One group of 16 rows: its `kp / 16` tiles, each row's 32 inputs per tile at a time.
    let group = |(g, o): (usize, &mut [u32])| {
        for i in 0..16.min(m.saturating_sub(g * 16)) {
            let r = g * 16 + i;
            let tiles = o
                .chunks_exact_mut(256)
                .map(|t| &mut t[i * PAIRS..(i + 1) * PAIRS]);
            for (dst, src) in tiles.zip(x[r * k..(r + 1) * k].chunks(2 * PAIRS)) {
                round_pairs(dst, src);
            }
        }
    };
    // Split over the pool for big inputs, as `super::pairs` does.
    if m * k >= PAR_MIN_VALUES {
        out.par_chunks_mut(16 * kp).enumerate().for_each(group);
    } else {
        out.chunks_mut(16 * kp).enumerate().for_each(group);
    }
    out
}

/// `out[r][c] = Σ_s a[r][s] · panel[s][c]` for [`ROWS`] rows of `a` (`kp` pairs each, in the
/// tiles of [`pack_activations`]) and the [`NR`] columns of a packed panel (`kp × NR` pairs).
///
/// # Safety
/// The CPU must run AMX-BF16 and this process must hold the tile permission ([`usable`]);
/// `kp` must be a multiple of [`PAIRS`]; `a` must hold `ROWS * kp` pairs (two 16-row groups
/// of tiles) and `panel` `kp * NR`.
pub(super) unsafe fn block(a: &[u32], kp: usize, panel: &[u32], out: &mut [[f32; NR]; ROWS]) {
    debug_assert!(kp.is_multiple_of(PAIRS) && a.len() >= ROWS * kp && panel.len() >= kp * NR);
    let cfg = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
        rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
    };
    // A tile's rows are 64 bytes apart (one 1 KB tile), the panel's `NR` pairs, the output's
    // `NR` floats.
    let (sa, sb, so) = (PAIRS * 4, NR * 4, NR * 4);
    let (a, w, o) = (a.as_ptr(), panel.as_ptr(), out.as_mut_ptr().cast::<f32>());
    // SAFETY (all blocks): the caller's contract; every tile load reads one 1 KB tile inside
    // `a` (group 0 or 1, pairs `s..s + 16 <= kp`: at `s * 16` or `16 * kp + s * 16`) or 16
    // rows of 64 bytes inside the panel (pairs `s..s + 16`,
    // columns `h * 32..h * 32 + 32 <= NR`), every store writes 16 rows of 16 floats inside
    // `out`. The tile registers are used by no compiled code, so they keep their values
    // between the blocks.
    unsafe {
        asm!("ldtilecfg [{cfg}]", cfg = in(reg) &cfg, options(nostack, readonly));
        for h in 0..2 {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            for s in (0..kp).step_by(PAIRS) {
                asm!(
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b1} + {sb}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a.add(s * PAIRS),
                    a1 = in(reg) a.add(16 * kp + s * PAIRS),
                    b0 = in(reg) w.add(s * NR + h * 32),
                    b1 = in(reg) w.add(s * NR + h * 32 + 16),
                    sa = in(reg) sa,
                    sb = in(reg) sb,
                    options(nostack, readonly)
                );
            }
            asm!(
                "tilestored [{c0} + {so}*1], tmm0",
                "tilestored [{c1} + {so}*1], tmm1",
                "tilestored [{c2} + {so}*1], tmm2",
                "tilestored [{c3} + {so}*1], tmm3",
                c0 = in(reg) o.add(h * 32),
                c1 = in(reg) o.add(h * 32 + 16),
                c2 = in(reg) o.add(16 * NR + h * 32),
                c3 = in(reg) o.add(16 * NR + h * 32 + 16),
                so = in(reg) so,
                options(nostack)
            );
        }
        asm!("tilerelease", options(nostack, nomem));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_are_packed_tile_by_tile_with_the_rows_values() {
        // Odd k (a half pair), k across several tiles, a partial last group of rows.
        let (m, k): (usize, usize) = (21, 67);
        let kp = k.div_ceil(2).div_ceil(PAIRS) * PAIRS;
        let rows = m.div_ceil(ROWS) * ROWS;
        let x: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let want = super::super::pairs(&x, m, k, rows, kp);
        let got = pack_activations(&x, m, k, rows, kp);
        assert_eq!(got.len(), want.len());
        for r in 0..rows {
            for p in 0..kp {
                let at = ((r / 16) * (kp / 16) + p / 16) * 256 + (r % 16) * 16 + p % 16;
                assert_eq!(got[at], want[r * kp + p], "row {r}, pair {p}");
            }
        }
    }
}
