//! The bf16 compute mode (`BackendOptions::dtype = "bf16"`): dense layers whose weights and
//! inputs are rounded to bfloat16 and multiplied with f32 accumulation, on AMX tiles, with
//! aarch64's `bfmmla`, or as AVX-512 BF16's `vdpbf16ps` does it.
//!
//! * **Weights** are rounded to bf16 once, at load (a bf16 checkpoint's values are taken as
//!   they are), and packed into panels of [`NR`] output columns × pairs of inputs, the layout
//!   `vdpbf16ps` reads: one 32-bit word holds a column's weights for inputs `2p` (low half) and
//!   `2p + 1` (high half). Half the memory of f32 weights.
//! * **Inputs** are rounded to bf16 on every call, per value (round to nearest, ties to even),
//!   so a text's result does not depend on its batch.
//! * **Products** (all kernels but AMX and `bfmmla`, whose sums round their own ways: `amx.rs`,
//!   `tile.rs`): for each
//!   output, over the input pairs in order, `acc += x[2p+1] w[2p+1]`
//!   then `acc += x[2p] w[2p]`, each addition rounded to f32 (to nearest even) and a subnormal
//!   result flushed to zero: exactly what `vdpbf16ps` does (checked against the hardware in
//!   `tests`). Every value with magnitude below 2^-50 is rounded to zero (nothing an embedding
//!   can tell from zero), so every product is zero or at least 2^-100 and exact (two 8-bit
//!   significands), and every partial sum is a multiple of 2^-123 (sums of such multiples,
//!   rounded to f32 above 2^-100 and exact below), i.e. zero or a normal f32: the flush never
//!   applies, and the portable kernel's fused multiply-add (one rounding of an exact product
//!   plus the sum) gives the instruction's bits. Then the bias is added.
//!
//! Kernels, the fastest this CPU runs unless [`KERNEL_ENV`] names another:
//!
//! * AMX (`amx.rs`: `tdpbf16ps` on 16 × 16 tiles, 8,192 multiply-adds per instruction; Intel
//!   Sapphire Rapids and later, on Linux): the fastest by far, but its sums round in its own
//!   (unspecified) way, so its last bits differ from the other kernels' (a text still gets the
//!   same vector in any batch).
//! * `bfmmla` (`tile.rs`: a 2 × 4 by 4 × 2 bf16 product, 16 multiply-adds per instruction;
//!   aarch64 FEAT_BF16: Neoverse V1, N2, V2 and later, as in Graviton3 and Graviton4): its sums
//!   are rounded to odd, as the Arm architecture defines the instruction, so its last bits
//!   differ from the kernels below (tested bit for bit against a model of that definition under
//!   qemu; not yet timed on ARM hardware). A text still gets the same vector in any batch.
//! * AVX-512 BF16 (`tile.rs`: `vdpbf16ps`, 32 multiply-adds per instruction; Intel Cooper
//!   Lake, Sapphire Rapids and later, AMD Zen 4 and later).
//! * Portable Rust for the auto-vectoriser (`tile.rs`, compiled for AVX2 as well as the
//!   baseline; NEON on aarch64).
//!
//! The last two give the same bits, so with them a dense layer gives the same results on
//! every machine.
//!
//! When it pays (benches/README.md, 2026-12-05 evening, a two-core Xeon with AMX): with AMX,
//! always: all-MiniLM-L6-v2 0.95 against f32's 1.55 ms per title at batch 32 and 1.64 against
//! 2.89 at batch 1; Qwen3-0.6B 1.88 against 3.02 s per batch of 32 and 71 against 290 ms for
//! one title. Without AMX, `vdpbf16ps` retires one instruction every two cycles there, half
//! the multiply-adds per cycle of two f32 FMAs, so products with many rows are slower than
//! f32 (all-MiniLM-L6-v2 at batch 32: 1.7× its time), while products that stream a large
//! model's weights for few rows are faster (Qwen3-0.6B, one title: 138–142 against 248–263 ms
//! for its bf16 checkpoint in f32). Work is split over (column panel × row block) items on
//! the current rayon pool, as in the int8 mode.

#[cfg(target_arch = "x86_64")]
pub(crate) mod amx;
mod tile;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::ops::{dims2, f32s};
use crate::quant::OutPtr;
use crate::weights::{Matrix, Values};
use tile::{tile, Acc};

type CResult<T> = candle_core::Result<T>;

/// Output columns per packed panel (four 16-lane f32 vectors).
const NR: usize = 64;
/// Rows per micro-tile (6 × 4 accumulators fill 24 of AVX-512's 32 registers).
const MR: usize = 6;
/// Rows per parallel work item (a multiple of [`MR`]).
const MC: usize = 16 * MR;
/// Products below this many multiply-adds run on the calling thread.
const PAR_MIN_MACS: usize = 256 * 1024;
/// Inputs of fewer values than this are rounded to bf16 on the calling thread.
const PAR_MIN_VALUES: usize = 64 * 1024;
/// Values smaller than this in magnitude (2^-50) are rounded to zero: then no product or
/// partial sum is subnormal (see the module documentation).
const TINY: f32 = f32::from_bits((127 - 50) << 23);

/// The environment variable that picks a kernel other than the fastest: one of the names
/// [`Kernel::name`] gives (`avx512-bf16` or `portable` on an AMX machine give the bits of
/// every other machine; benchmarks compare kernels with it).
pub(crate) const KERNEL_ENV: &str = "TITLESIM_BF16_KERNEL";

/// Every bf16 kernel's name (a name from this list that this CPU cannot run is refused as
/// such, not as unknown).
const KNOWN: &[&str] = &["portable", "avx512-bf16", "amx", "bfmmla"];
/// Why a known kernel is refused (AMX also needs the operating system's permission).
const CANNOT: &str = "this CPU (or this build, or the operating system) cannot run it";

/// The bf16 product kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Portable Rust for the auto-vectoriser (any target).
    Portable,
    /// AVX-512 BF16 intrinsics (`vdpbf16ps`, x86-64): the portable kernel's bits.
    #[cfg(target_arch = "x86_64")]
    Avx512Bf16,
    /// AMX tiles (`tdpbf16ps`, x86-64 on Linux): its own last bits (see `amx.rs`).
    #[cfg(target_arch = "x86_64")]
    Amx,
    /// The BFloat16 matrix instruction `bfmmla` (aarch64 FEAT_BF16): the architecture's own
    /// roundings, round to odd (see `tile.rs`).
    #[cfg(target_arch = "aarch64")]
    Bfmmla,
}

impl Kernel {
    /// Every kernel this CPU can run, slowest first (the portable one always).
    pub(crate) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            let cpu = crate::cpu::features();
            if cpu.avx512f && cpu.avx512bf16 {
                v.push(Kernel::Avx512Bf16);
            }
            if cpu.amx_bf16 {
                v.push(Kernel::Amx);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if crate::cpu::features().bf16 {
            v.push(Kernel::Bfmmla);
        }
        v
    }

    /// The kernel's name, as [`KERNEL_ENV`] takes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Bf16 => "avx512-bf16",
            #[cfg(target_arch = "x86_64")]
            Kernel::Amx => "amx",
            #[cfg(target_arch = "aarch64")]
            Kernel::Bfmmla => "bfmmla",
        }
    }

    /// The kernel [`KERNEL_ENV`] names when it is set (an error if this CPU cannot run it or
    /// the name is unknown), else the fastest this CPU runs.
    pub(crate) fn detect() -> CResult<Kernel> {
        crate::cpu::kernel_from_env(
            KERNEL_ENV,
            &Kernel::available(),
            Kernel::name,
            KNOWN,
            CANNOT,
        )
    }

    /// The kernel called `name`, if this CPU runs it.
    #[cfg(test)]
    fn named(name: &str) -> CResult<Kernel> {
        crate::cpu::kernel_named(
            KERNEL_ENV,
            name,
            &Kernel::available(),
            Kernel::name,
            KNOWN,
            CANNOT,
        )
    }

    /// The backend's variant with this kernel, one per family of roundings: `bf16` for the
    /// portable and AVX-512 BF16 kernels (the same bits), `bf16-amx` and `bf16-bfmmla` for the
    /// two whose sums round their own ways. It is part of the fingerprint, so a GT store or
    /// shadow log made with one family is not read as another's.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Kernel::Portable => "bf16",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Bf16 => "bf16",
            #[cfg(target_arch = "x86_64")]
            Kernel::Amx => "bf16-amx",
            #[cfg(target_arch = "aarch64")]
            Kernel::Bfmmla => "bf16-bfmmla",
        }
    }

    /// Rows the activations are padded to a multiple of (the AMX block's).
    fn row_multiple(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Amx => amx::ROWS,
            _ => 1,
        }
    }
}

/// Input pairs are padded (with zeros) to a multiple of this: one AMX tile row.
const PAIR_MULTIPLE: usize = 16;

/// `x` rounded to bf16 (its bit pattern): to nearest, ties to even; magnitudes below [`TINY`]
/// (subnormals included) to a zero of the same sign; NaN stays NaN (quiet).
pub(crate) fn round_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) as u16) | 0x0040;
    }
    if x.abs() < TINY {
        return ((b >> 16) as u16) & 0x8000;
    }
    // Adding 0x7fff plus the lowest kept bit rounds to nearest even; no finite value or
    // infinity overflows the u32 (the largest, -inf, is 0xff80_0000).
    ((b + 0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

/// Two bf16 values as one 32-bit word: `lo` in the low half (the even input), `hi` above.
fn pair(lo: u16, hi: u16) -> u32 {
    u32::from(lo) | (u32::from(hi) << 16)
}

/// `src` rounded to bf16 pairs into `dst` (at least `ceil(src.len() / 2)` words): inputs
/// `2p` and `2p + 1` in word `p`, an odd last input with a zero above it.
#[inline]
fn round_pairs(dst: &mut [u32], src: &[f32]) {
    let mut it = src.chunks_exact(2);
    for (d, p) in dst.iter_mut().zip(it.by_ref()) {
        *d = pair(round_bf16(p[0]), round_bf16(p[1]));
    }
    if let [last] = it.remainder() {
        dst[src.len() / 2] = pair(round_bf16(*last), 0);
    }
}

/// `m` rows of `k` f32 values as `rows` (≥ `m`) rows of `kp` (≥ `ceil(k / 2)`) bf16 pairs,
/// zeros beyond.
fn pairs(x: &[f32], m: usize, k: usize, rows: usize, kp: usize) -> Vec<u32> {
    let mut out = vec![0u32; rows * kp];
    if k == 0 {
        return out;
    }
    let row = |(r, o): (usize, &mut [u32])| round_pairs(o, &x[r * k..(r + 1) * k]);
    // Split over the pool for big inputs (a batch of 32 texts on a 1,024-wide model: ~1 MB).
    if m * k >= PAR_MIN_VALUES {
        out.par_chunks_mut(kp).enumerate().take(m).for_each(row);
    } else {
        out.chunks_mut(kp).enumerate().take(m).for_each(row);
    }
    out
}

/// bf16 weights of a dense layer, packed for the kernels.
///
/// Layout: panels of [`NR`] output columns; within a panel, one step per input pair; within
/// a step, each column's pair: `data[p][s][c] = pair(w[p * NR + c][2s], w[p * NR + c][2s + 1])`
/// (zero beyond `n` columns or `k` inputs).
#[derive(Debug, Clone)]
struct PackedBf16 {
    data: Vec<u32>,
    /// Inputs.
    k: usize,
    /// Input pairs, `ceil(k / 2)` rounded up to a multiple of [`PAIR_MULTIPLE`] (zeros).
    kp: usize,
    /// Output columns.
    n: usize,
}

impl PackedBf16 {
    /// Packs `[n, k]` weights (PyTorch's `[out, in]`): f32 rounded, bf16 taken as stored.
    fn new(w: &Matrix) -> PackedBf16 {
        let (n, k) = (w.rows, w.cols);
        let kp = k.div_ceil(2).div_ceil(PAIR_MULTIPLE) * PAIR_MULTIPLE;
        let value = |j: usize, i: usize| -> u16 {
            match &w.data {
                Values::F32(v) => round_bf16(v[j * k + i]),
                // Already bf16; only the tiny ones change (to zero, as rounding would).
                Values::Bf16(v) => round_bf16(f32::from_bits(u32::from(v[j * k + i]) << 16)),
            }
        };
        let panels = n.div_ceil(NR);
        let mut data = vec![0u32; panels * kp * NR];
        for j in 0..n {
            let (p, c) = (j / NR, j % NR);
            for s in 0..k.div_ceil(2) {
                let hi = if 2 * s + 1 < k {
                    value(j, 2 * s + 1)
                } else {
                    0
                };
                data[(p * kp + s) * NR + c] = pair(value(j, 2 * s), hi);
            }
        }
        PackedBf16 { data, k, kp, n }
    }

    fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }
}

/// A bf16 dense layer `x @ W^T + b` (weights `[out, in]` as PyTorch stores them).
pub(crate) struct BLinear {
    w: PackedBf16,
    bias: Option<Vec<f32>>,
    kernel: Kernel,
}

impl BLinear {
    /// Rounds and packs a `[out, in]` weight; `bias`, when given, is `[out]` (kept f32).
    pub(crate) fn new(w: &Matrix, bias: Option<Vec<f32>>) -> CResult<Self> {
        if bias.as_ref().is_some_and(|b| b.len() != w.rows) {
            bail!("linear: bias length does not match {} outputs", w.rows);
        }
        Ok(BLinear {
            w: PackedBf16::new(w),
            bias,
            kernel: Kernel::detect()?,
        })
    }

    /// `x @ W^T + b` for `x` of shape `[rows, in]`, into a new `[rows, out]` tensor.
    pub(crate) fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        x.apply_op1_no_bwd(self)
    }

    /// `x` (`[m, k]`) times the weights with `kernel`, plus the bias.
    fn run(&self, kernel: Kernel, x: &[f32], m: usize) -> CResult<Vec<f32>> {
        let (k, kp, n) = (self.w.k, self.w.kp, self.w.n);
        if x.len() != m * k {
            bail!("bf16 linear: {} inputs for [{m}, {k}]", x.len());
        }
        let rows = m.div_ceil(kernel.row_multiple()) * kernel.row_multiple();
        let a = match kernel {
            #[cfg(target_arch = "x86_64")]
            Kernel::Amx => amx::pack_activations(x, m, k, rows, kp),
            _ => pairs(x, m, k, rows, kp),
        };
        // Every output is written once, by the block that computes it: no zeroing first.
        let len = m * n;
        let mut out: Vec<f32> = Vec::with_capacity(len);
        let dst = OutPtr(out.as_mut_ptr());
        // Writes rows `r0..r0 + rows` of a block's results (`acc`) into the columns of panel
        // `p`, adding the bias. Each block writes its own rows × columns.
        let write = |r0: usize, rows: usize, p: usize, acc: &[[f32; NR]]| {
            let (c0, cols) = (p * NR, NR.min(n - p * NR));
            let bias = self.bias.as_ref().map(|b| &b[c0..c0 + cols]);
            for (r, acc) in acc.iter().enumerate().take(rows) {
                let start = (r0 + r) * n + c0;
                assert!(start + cols <= len);
                // SAFETY: within the capacity (checked); each block writes its own rows ×
                // columns (through the pointer: the memory is not initialised yet), and
                // nothing reads them before all are written.
                unsafe {
                    let o = dst.get().add(start);
                    match bias {
                        Some(b) => {
                            for (c, (&v, &b)) in acc.iter().zip(b).enumerate() {
                                o.add(c).write(v + b);
                            }
                        }
                        None => std::ptr::copy_nonoverlapping(acc.as_ptr(), o, cols),
                    }
                }
            }
        };
        let par = rayon::current_num_threads() > 1 && m * kp * 2 * n >= PAR_MIN_MACS;
        let panel = |p: usize| &self.w.data[p * kp * NR..(p + 1) * kp * NR];
        #[cfg(target_arch = "x86_64")]
        if kernel == Kernel::Amx {
            let mblocks = rows / amx::ROWS;
            let job = |item: usize| {
                // Consecutive items share a panel, so a thread keeps its panel in cache.
                let (p, mb) = (item / mblocks, item % mblocks);
                let r0 = mb * amx::ROWS;
                let mut acc = [[0f32; NR]; amx::ROWS];
                // SAFETY: `Amx` is only offered when the CPU and the OS allow it
                // (`Kernel::available`); `kp` is a multiple of 16 (packing), the rows were
                // padded to a multiple of 32 above and packed in tiles (rows from `r0` start
                // at `r0 * kp`, `r0` a multiple of 32) and a panel holds `kp * NR` pairs.
                unsafe { amx::block(&a[r0 * kp..], kp, panel(p), &mut acc) };
                write(r0, amx::ROWS.min(m - r0), p, &acc);
            };
            run_items(self.w.panels() * mblocks, par, job);
            // SAFETY: the items cover every row `< m` of every panel, and each writes all `n`
            // columns of its panel's share: all `m * n` values are written.
            unsafe { out.set_len(len) };
            return Ok(out);
        }
        let mblocks = m.div_ceil(MC);
        let job = |item: usize| {
            // Consecutive items share a panel, so a thread keeps its panel in cache.
            let (p, mb) = (item / mblocks, item % mblocks);
            let mut acc: Acc = [[0.0; NR]; MR];
            let end = m.min((mb + 1) * MC);
            let mut r0 = mb * MC;
            while r0 < end {
                let rows = MR.min(end - r0);
                tile(kernel, &a[r0 * kp..], kp, rows, panel(p), &mut acc);
                write(r0, rows, p, &acc);
                r0 += rows;
            }
        };
        run_items(self.w.panels() * mblocks, par, job);
        // SAFETY: as above, the items wrote all `m * n` values.
        unsafe { out.set_len(len) };
        Ok(out)
    }
}

/// Runs `job` on items `0..items`, on the current rayon pool when `par` (and there is more
/// than one).
fn run_items(items: usize, par: bool, job: impl Fn(usize) + Sync + Send) {
    if par && items > 1 {
        (0..items).into_par_iter().for_each(job);
    } else {
        (0..items).for_each(job);
    }
}

impl CustomOp1 for BLinear {
    fn name(&self) -> &'static str {
        "titlesim-linear-bf16"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (m, k) = dims2(l, self.name())?;
        if k != self.w.k {
            bail!("linear: input width {k}, expected {}", self.w.k);
        }
        let out = self.run(self.kernel, f32s(s, l, self.name())?, m)?;
        Ok((CpuStorage::F32(out), Shape::from((m, self.w.n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::Rng;

    /// The bf16 value (bits) as f32.
    fn f(b: u16) -> f32 {
        f32::from_bits(u32::from(b) << 16)
    }

    /// The bits a kernel promises.
    #[derive(Debug, PartialEq)]
    enum Bits {
        /// `vdpbf16ps`'s ([`reference`]): the portable and AVX-512 BF16 kernels.
        Vdpbf16ps,
        /// The Arm architecture's `bfmmla` ([`reference_bfmmla`]).
        #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
        Bfmmla,
        /// None: AMX rounds its sums its own, unspecified way (see `amx.rs`).
        #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
        Unspecified,
    }

    fn bits(k: Kernel) -> Bits {
        match k {
            Kernel::Portable => Bits::Vdpbf16ps,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Bf16 => Bits::Vdpbf16ps,
            #[cfg(target_arch = "x86_64")]
            Kernel::Amx => Bits::Unspecified,
            #[cfg(target_arch = "aarch64")]
            Kernel::Bfmmla => Bits::Bfmmla,
        }
    }

    /// `a + b` rounded to odd: the exact sum truncated toward zero to an f32, its last bit set
    /// when that was inexact; a subnormal result flushed to a zero of its sign (the Arm
    /// architecture's `FPRound` with `FPRounding_ODD` and flush to zero, as `BFAdd` uses it).
    fn add_odd(a: f32, b: f32) -> f32 {
        let (a, b) = (f64::from(a), f64::from(b));
        let s = a + b;
        // Two-sum: `s + e` is the exact sum.
        let bb = s - a;
        let e = (a - (s - bb)) + (b - bb);
        let mut f = s as f32;
        // `f - (s + e)`, its sign exact (`f - s` is exact: f is s rounded to 24 bits).
        let over = (f64::from(f) - s) - e;
        let flush = |v: f32| {
            if v.abs() < f32::MIN_POSITIVE {
                0f32.copysign(v)
            } else {
                v
            }
        };
        if over == 0.0 {
            return flush(f);
        }
        let positive = if s != 0.0 { s > 0.0 } else { e > 0.0 };
        if (over > 0.0) == positive {
            // |f| > |exact|: one step toward zero (f is not zero here).
            f = f32::from_bits(f.to_bits() - 1);
        }
        flush(f32::from_bits(f.to_bits() | 1))
    }

    #[test]
    fn rounding_to_odd_truncates_and_marks_inexact_sums() {
        // Exact sums are left alone.
        assert_eq!(add_odd(1.0, 2.0), 3.0);
        assert_eq!(add_odd(-0.0, 0.0).to_bits(), 0.0f32.to_bits());
        // 1 + 2^-30: truncated to 1, then made odd (1 + 2^-23), from either side of zero.
        let up = f32::from_bits(1.0f32.to_bits() | 1);
        assert_eq!(add_odd(1.0, 2f32.powi(-30)), up);
        assert_eq!(add_odd(-1.0, -(2f32.powi(-30))), -up);
        // 1 - 2^-30: truncated toward zero to the f32 below 1 (already odd).
        assert_eq!(
            add_odd(1.0, -(2f32.powi(-30))),
            f32::from_bits(1.0f32.to_bits() - 1)
        );
        // A halfway case that nearest-even sends to the even neighbour goes to the odd one.
        let h = 1.0 + 2f32.powi(-22); // even last bit ...10
        assert_eq!(add_odd(h, 2f32.powi(-24)), f32::from_bits(h.to_bits() | 1));
    }

    /// The product as the Arm architecture defines `bfmmla` (and `bfdot`): per input pair,
    /// the two exact products added, then that sum added to the output, both rounded to odd
    /// (see [`add_odd`]).
    fn reference_bfmmla(
        x: &[f32],
        m: usize,
        w: &[f32],
        n: usize,
        k: usize,
        bias: &[f32],
    ) -> Vec<f32> {
        reference_by(x, m, w, n, k, bias, |acc, even, odd| {
            add_odd(acc, add_odd(even, odd))
        })
    }

    /// `x @ W^T + bias` with bf16-rounded factors, each output summed from zero over the input
    /// pairs in order by `add_pair(acc, even product, odd product)` (exact products; a missing
    /// odd input's product is 0).
    fn reference_by(
        x: &[f32],
        m: usize,
        w: &[f32],
        n: usize,
        k: usize,
        bias: &[f32],
        add_pair: impl Fn(f32, f32, f32) -> f32,
    ) -> Vec<f32> {
        let r = |v: f32| f(round_bf16(v));
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0f32;
                for p in 0..k.div_ceil(2) {
                    let (e, o) = (2 * p, 2 * p + 1);
                    let even = r(x[i * k + e]) * r(w[j * k + e]);
                    let odd = if o < k {
                        r(x[i * k + o]) * r(w[j * k + o])
                    } else {
                        0.0
                    };
                    acc = add_pair(acc, even, odd);
                }
                out[i * n + j] = acc + bias[j];
            }
        }
        out
    }

    #[test]
    fn rounding_to_bf16_is_to_nearest_even_and_flushes_tiny_values() {
        assert_eq!(round_bf16(1.0), 0x3f80);
        assert_eq!(round_bf16(-2.5), 0xc020);
        // Halfway between 1 and the next bf16 (1 + 2^-7): ties to the even one, 1.
        assert_eq!(round_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        // Halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up, to the even one.
        assert_eq!(round_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        // Just above halfway rounds up.
        assert_eq!(round_bf16(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 0x3f81);
        // Beyond bf16's largest finite value: infinity, as round-to-nearest does.
        assert_eq!(round_bf16(f32::MAX), 0x7f80);
        assert_eq!(round_bf16(f32::NEG_INFINITY), 0xff80);
        // Tiny values and subnormals become zeros of their sign; 2^-50 itself stays.
        assert_eq!(round_bf16(2f32.powi(-51)), 0x0000);
        assert_eq!(round_bf16(-1e-40), 0x8000);
        assert_eq!(f(round_bf16(TINY)), TINY);
        assert!(f(round_bf16(f32::NAN)).is_nan());
    }

    /// The product as the module documentation defines it, written plainly (no packing, no
    /// tiles): the reference every kernel must match to the bit. The odd input's product is
    /// added first, then the even one's, each sum rounded to nearest and a subnormal flushed.
    fn reference(x: &[f32], m: usize, w: &[f32], n: usize, k: usize, bias: &[f32]) -> Vec<f32> {
        let flush = |v: f32| {
            if v.abs() < f32::MIN_POSITIVE {
                0f32.copysign(v)
            } else {
                v
            }
        };
        reference_by(x, m, w, n, k, bias, |acc, even, odd| {
            flush(flush(acc + odd) + even)
        })
    }

    #[test]
    fn every_kernel_gives_the_reference_bits_alone_and_in_any_batch() {
        let mut rng = Rng(7);
        // Odd k (a padded pair), n not a multiple of 64, more rows than one row block, a row
        // block that ends in a partial micro-tile, and micro-tiles of 1 to 6 rows (the bfmmla
        // kernel pairs rows: an odd one is paired with itself).
        let shapes = [
            (1, 1, 1),
            (13, 37, 70),
            (103, 64, 129),
            (7, 300, 64),
            (5, 40, 64),
            (9, 24, 65),
        ];
        for &(m, k, n) in &shapes {
            let mut w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.2).collect();
            let mut x: Vec<f32> = (0..m * k).map(|_| rng.f32() * 4.0).collect();
            // Values that exercise the edges: tiny values (rounded to zero), the smallest
            // kept ones, exact ties, large and negative zero inputs.
            for (i, v) in x.iter_mut().enumerate().step_by(5) {
                *v = [1e-30, -0.0, 1.0 + 2f32.powi(-8), 3e4, -2f32.powi(-50)][i % 5];
            }
            for (i, v) in w.iter_mut().enumerate().step_by(7) {
                *v = [2f32.powi(-50), -2f32.powi(-49), 1e-39, 0.5][i % 4];
            }
            let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
            let want = reference(&x, m, &w, n, k, &bias);
            let want_bfmmla = reference_bfmmla(&x, m, &w, n, k, &bias);
            if k >= 64 {
                // Rounding to odd is not to nearest: the two references tell kernels apart.
                assert!(want.iter().zip(&want_bfmmla).any(|(a, b)| a != b));
            }
            let lin = BLinear::new(&Matrix::f32(w.clone(), n, k), Some(bias.clone())).unwrap();
            for kernel in Kernel::available() {
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let got = pool.install(|| lin.run(kernel, &x, m)).unwrap();
                    for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                        let r = match bits(kernel) {
                            Bits::Vdpbf16ps => Some(r),
                            Bits::Bfmmla => Some(&want_bfmmla[i]),
                            Bits::Unspecified => None,
                        };
                        if let Some(r) = r {
                            assert_eq!(
                                g.to_bits(),
                                r.to_bits(),
                                "{kernel:?}, {threads} threads, [{m}, {k}] x [{k}, {n}], \
                                 output {i}: {g} vs {r}"
                            );
                        } else {
                            let r = &want[i];
                            // AMX rounds its sums its own way: within k roundings of the
                            // products' magnitudes (plus the bias's).
                            let (row, c) = (i / n, i % n);
                            let mag: f32 = (0..k)
                                .map(|t| {
                                    (f(round_bf16(x[row * k + t])) * f(round_bf16(w[c * k + t])))
                                        .abs()
                                })
                                .sum::<f32>()
                                + bias[c].abs();
                            let tol = mag * (k + 2) as f32 * f32::EPSILON;
                            assert!(
                                (g - r).abs() <= tol,
                                "{kernel:?}, [{m}, {k}] x [{k}, {n}], output {i}: {g} vs {r}"
                            );
                        }
                    }
                    // Each row alone gets the bits it got in the batch.
                    for i in [0, m / 2, m - 1] {
                        let alone = lin.run(kernel, &x[i * k..(i + 1) * k], 1).unwrap();
                        assert_eq!(alone, got[i * n..(i + 1) * n], "{kernel:?}: row {i} alone");
                    }
                }
            }
        }
    }

    #[test]
    fn the_smallest_products_cancel_exactly_on_every_kernel() {
        // Products of the smallest kept values (2^-100) that cancel to a few ulps: the sums
        // stay normal and exact, and every kernel gives the reference (which flushes
        // subnormals, as the instruction does) bit for bit, with the sign of the result.
        let t = TINY;
        let x = [t, t, t, t];
        for (w, want) in [
            (
                [-(1.0 + 2f32.powi(-7)) * t, t, 0.0, 0.0],
                -(2f32.powi(-107)),
            ),
            ([(1.0 + 2f32.powi(-7)) * t, -t, 0.0, 0.0], 2f32.powi(-107)),
            ([t, -t, 0.0, 0.0], 0.0),
        ] {
            let lin = BLinear::new(&Matrix::f32(w.to_vec(), 1, 4), None).unwrap();
            let r = reference(&x, 1, &w, 1, 4, &[0.0]);
            assert_eq!(r[0], want);
            // Exact sums: `bfmmla`'s rounding to odd leaves them alone too.
            assert_eq!(
                reference_bfmmla(&x, 1, &w, 1, 4, &[0.0])[0].to_bits(),
                want.to_bits()
            );
            for kernel in Kernel::available()
                .into_iter()
                .filter(|&k| bits(k) != Bits::Unspecified)
            {
                let got = lin.run(kernel, &x, 1).unwrap()[0];
                assert_eq!(got.to_bits(), want.to_bits(), "{kernel:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn bf16_is_close_to_the_f32_product() {
        let mut rng = Rng(11);
        let (m, k, n) = (5, 384, 96);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        let lin = BLinear::new(&Matrix::f32(w.clone(), n, k), None).unwrap();
        for kernel in Kernel::available() {
            let got = lin.run(kernel, &x, m).unwrap();
            for i in 0..m {
                for j in 0..n {
                    let (mut exact, mut bound) = (0f64, 0f64);
                    for t in 0..k {
                        let (a, b) = (x[i * k + t] as f64, w[j * k + t] as f64);
                        exact += a * b;
                        // Each factor off by at most 2^-9 of itself, the sum by k roundings
                        // (of one ulp at most: rounding to odd is not to nearest).
                        bound += (a * b).abs() * (2.0 * 2f64.powi(-9) + k as f64 * 2f64.powi(-23));
                    }
                    let g = got[i * n + j] as f64;
                    assert!(
                        (g - exact).abs() <= bound,
                        "{kernel:?} ({i},{j}): {g} vs {exact} ± {bound}"
                    );
                }
            }
        }
    }

    /// The fingerprint's variant tells the kernels apart exactly where their bits differ: a GT
    /// store made with AMX or `bfmmla` is not read as the portable kernel's, and the portable
    /// and AVX-512 BF16 kernels share their stores.
    #[test]
    fn kernels_share_a_variant_exactly_when_they_give_the_same_bits() {
        let mut rng = Rng(5);
        let (m, k, n) = (7, 300, 40);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        let lin = BLinear::new(&Matrix::f32(w, n, k), None).unwrap();
        let runs: Vec<(Kernel, Vec<u32>)> = Kernel::available()
            .into_iter()
            .map(|kern| {
                let got = lin.run(kern, &x, m).unwrap();
                (kern, got.iter().map(|v| v.to_bits()).collect())
            })
            .collect();
        assert_eq!(Kernel::Portable.variant(), "bf16");
        for (a, ra) in &runs {
            for (b, rb) in &runs {
                let same_family = a == b || (bits(*a) == bits(*b) && bits(*a) != Bits::Unspecified);
                assert_eq!(a.variant() == b.variant(), same_family, "{a:?} {b:?}");
                if same_family {
                    assert_eq!(ra, rb, "{a:?} and {b:?} share a variant");
                }
            }
        }
    }

    #[test]
    fn kernels_are_found_by_name_and_unknown_or_missing_ones_are_refused() {
        for k in Kernel::available() {
            assert_eq!(Kernel::named(k.name()).unwrap(), k);
        }
        let e = Kernel::named("amx2").unwrap_err().to_string();
        assert!(
            e.contains("TITLESIM_BF16_KERNEL=amx2: no such kernel") && e.contains("portable"),
            "{e}"
        );
        if !Kernel::available().iter().any(|k| k.name() == "amx") {
            let e = Kernel::named("amx").unwrap_err().to_string();
            assert!(e.contains("cannot run it"), "{e}");
        }
    }
}
