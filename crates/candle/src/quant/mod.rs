//! The int8 compute mode (`BackendOptions::dtype = "int8"`): dense layers with int8 weights and
//! dynamically quantised u8 activations, accumulated exactly in i32.
//!
//! * **Weights** are quantised once, at load: symmetric, per output channel
//!   (`w[j][k] ≈ sw[j] * q[j][k]`, `q` in `-127..=127`, `sw[j] = max_k |w[j][k]| / 127`), and
//!   packed into panels of [`NR`] output columns × groups of 4 inputs, the layout the
//!   AVX-512 VNNI instruction `vpdpbusd` reads (see `packed.rs`).
//! * **Activations** are quantised on every call, per row (token): asymmetric u8 over
//!   `[min(x, 0), max(x, 0)]` (`x[k] ≈ sx * (a[k] - zx)`), so each token gets its own range and
//!   a batch gives every text exactly the result it gets alone.
//! * **Outliers**: BERT's token states have a few huge dimensions (e.g. all-MiniLM's \[CLS\] has
//!   one value of ~29 where the rest are ~1; GELU outputs are heavy-tailed). One such value
//!   would set the token's whole u8 range, and its weight column's rounding error would be
//!   multiplied by it. So values beyond `OUTLIER_RMS` (3) × the token's RMS are left out of the
//!   u8 row (quantised as the zero point, i.e. 0) and added in f32 with the f32 weights, as in
//!   LLM.int8() (`rows.rs`, `outliers.rs`). Without this, all-MiniLM-L6-v2's cosine to the f32 reference falls below
//!   0.999 (the measured figures are in benches/README.md).
//! * **Products** `Σ_k a[k] q[j][k]` are exact i32 sums; the zero point is taken out with the
//!   per-column weight sums (`Σ_k (a[k] - zx) q[j][k] = Σ a q - zx Σ q`), then one pass
//!   dequantises (`acc * (sx * sw[j])`) and adds the bias; the outliers come last.
//!
//! Kernels (`tile.rs`), picked at run time from the CPU's features (`kernel.rs`, from
//! [`crate::cpu`]; `TITLESIM_INT8_KERNEL` picks a slower one to compare): x86-64 AVX-512 VNNI
//! (`vpdpbusd`, u8 × i8 → i32, 64 multiply-adds per instruction); x86-64 AVX-VNNI (the same
//! instruction on 256-bit vectors, 32 multiply-adds, on CPUs without AVX-512); x86-64 AVX2
//! (both sides widened to i16, the activations once per product, `vpmaddwd`, 16 multiply-adds
//! per instruction); aarch64 FEAT_I8MM (`usmmla`, a 2×8 u8 by 8×2 i8 product per instruction, on
//! Neoverse V1/V2 and later); aarch64 FEAT_DotProd (`sdot`, i8 × i8: the activations are
//! shifted by −128 and `128 × Σ q` added back, on Neoverse N1 and later); on other CPUs a
//! portable kernel written for the auto-vectoriser (on aarch64 without those extensions it
//! compiles to NEON). All give bit-identical integer sums, and the dequantisation is the same
//! code for all, so the output does not depend on the CPU. `cargo xtask cross` runs the
//! identity tests under qemu on CPU models with and without each extension.
//!
//! Work is split over (column panel × row block) items on the current rayon pool (the
//! backend's own, see `lib.rs`) by `product.rs`.
//!
//! Files: `kernel.rs` (which kernels this CPU runs), `packed.rs` (weight quantisation and
//! packing), `rows.rs` (activation quantisation and outlier split), `tile.rs` (the
//! micro-kernels), `product.rs` (the product driver and dequantisation), `outliers.rs` (the f32
//! outlier products), `linear.rs` ([`QLinear`], the layer).

mod kernel;
mod linear;
mod outliers;
mod packed;
mod product;
mod rows;
mod tile;

pub(crate) use linear::QLinear;
pub(crate) use product::OutPtr;

type CResult<T> = candle_core::Result<T>;

/// Output columns per packed panel (four 16-lane i32 vectors).
const NR: usize = 64;
/// Rows per micro-tile (6 × 4 accumulators of 16 lanes fill 24 of AVX-512's 32 registers).
const MR: usize = 6;
/// Rows per parallel work item (a multiple of [`MR`]).
const MC: usize = 16 * MR;
/// Products below this many multiply-adds run on the calling thread.
const PAR_MIN_MACS: usize = 256 * 1024;

#[cfg(test)]
pub(crate) mod tests {
    //! Helpers shared by the tests of the files of this module (and of `bf16`).

    /// A small deterministic generator (xorshift64*).
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        pub(super) fn u8(&mut self) -> u8 {
            (self.next() >> 56) as u8
        }
        pub(super) fn i8(&mut self) -> i8 {
            (self.next() >> 56) as u8 as i8
        }
        pub(crate) fn f32(&mut self) -> f32 {
            (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }
    }
}
