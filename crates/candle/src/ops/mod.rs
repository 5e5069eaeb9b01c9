//! CPU kernels shared by the model files, as candle custom ops.
//!
//! Why not plain candle ops: candle 0.11 runs element-wise ops on tensors of 64K elements or
//! more on a global "barrier pool" of its own, sized from `CANDLE_NUM_THREADS` /
//! `RAYON_NUM_THREADS` / the number of physical cores, which ignores the thread budget of a
//! backend (and its workers spin after every op). Every kernel here runs on the calling
//! thread or on the current rayon pool (the backend's own, see `pool.install` in `lib.rs`),
//! and each fuses what would be several candle ops (and several passes over memory), working
//! in place on the fresh output of the matrix product before it where it can:
//!
//! * [`Linear`] — `x @ W^T + b`, the bias added by the matrix product itself.
//! * [`layer_norm`] — `x <- LayerNorm(x + residual)` (BERT's "add & norm").
//! * [`rms_norm`] — `RMSNorm(x)`.
//! * [`add_assign`] — `x <- x + y`.
//! * [`activation`] — `x <- act(x)` (BERT's intermediate layer: exact or tanh GELU, ...).
//! * [`swiglu`] — `silu(gate) * up` on a fused `[gate | up]` projection (Qwen3's MLP).
//! * [`qk_norm_rope`] — `qkv <-` Qwen3's per-head RMSNorm of queries and keys, then rotary
//!   embeddings.
//! * [`attention()`]: multi-head (grouped-query) attention over a fused `[q | k | v]`
//!   projection, with a padding mask and optionally a causal one.
//!
//! Matrix products use the `gemm` crate, as candle's `Tensor::matmul` does, but called
//! directly: candle 0.11 asks for the number of physical cores on every product (reading
//! `/proc/cpuinfo` each time; see benches/README.md for its measured cost) and splits the work for
//! that many threads, whereas [`Linear`] splits it for the current rayon pool, adds the bias
//! in the same pass and keeps its weights pre-transposed.
//!
//! The row loops are plain Rust written to auto-vectorise. On x86-64 each is also compiled
//! for AVX2+FMA and picked at run time when the CPU has it (see `simd_dispatch!` in
//! [`crate::cpu`]); other targets use the portable build. The arithmetic is the same in every
//! build (Rust does not fuse multiply-adds on its own), so results do not depend on the CPU.
//!
//! All kernels take and return contiguous 2-D f32 tensors `[tokens, width]`, where the token
//! axis is the flattened `[batch, seq]` of a padded batch.
//!
//! Files: `plumbing.rs` (storage access, the row loop, vectorisable `dot`/`sum`/`exp`/`erf`),
//! `norm.rs` (LayerNorm, RMSNorm), `elementwise.rs` (add, activations, SwiGLU),
//! `attention.rs` (attention, q/k-norm + RoPE), `linear.rs` (the f32 dense layer).

mod attention;
mod elementwise;
mod linear;
mod norm;
mod plumbing;

pub(crate) use attention::{attention, qk_norm_rope, rope_tables, Heads, QkNormRope};
pub(crate) use elementwise::{activation, add_assign, swiglu, Activation};
pub(crate) use linear::Linear;
pub(crate) use norm::{layer_norm, rms_norm};
pub(crate) use plumbing::{dims2, f32s, tensor};

type CResult<T> = candle_core::Result<T>;

/// Work below this many floats runs on the calling thread: splitting it costs more than it
/// saves.
const PAR_MIN: usize = 32 * 1024;
