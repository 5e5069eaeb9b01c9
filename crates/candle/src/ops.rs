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
//! * [`attention`]: multi-head (grouped-query) attention over a fused `[q | k | v]`
//!   projection, with a padding mask and optionally a causal one.
//!
//! Matrix products use the `gemm` crate, as candle's `Tensor::matmul` does, but called
//! directly: candle 0.11 asks for the number of physical cores on every product (reading
//! `/proc/cpuinfo` each time; see benches/README.md for its measured cost) and splits the work for
//! that many threads, whereas [`Linear`] splits it for the current rayon pool, adds the bias
//! in the same pass and keeps its weights pre-transposed.
//!
//! The row loops are plain Rust written to auto-vectorise. On x86-64 each is also compiled
//! for AVX2+FMA and picked at run time when the CPU has it (see [`simd_dispatch`]); other
//! targets use the portable build. The arithmetic is the same in every build (Rust does not
//! fuse multiply-adds on its own), so results do not depend on the CPU.
//!
//! All kernels take and return contiguous 2-D f32 tensors `[tokens, width]`, where the token
//! axis is the flattened `[batch, seq]` of a padded batch.

use std::sync::OnceLock;

use candle_core::{
    bail, CpuStorage, CustomOp1, Device, InplaceOp1, InplaceOp2, Layout, Shape, Tensor,
};
use gemm::Parallelism;
use rayon::prelude::*;

type CResult<T> = candle_core::Result<T>;

/// Work below this many floats runs on the calling thread: splitting it costs more than it
/// saves.
const PAR_MIN: usize = 32 * 1024;

// ------------------------------------------------------------------------------------------
// Plumbing
// ------------------------------------------------------------------------------------------

/// The instruction sets the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isa {
    /// The compilation target's baseline (SSE2 on x86-64, NEON on aarch64, ...).
    Baseline,
    /// x86-64 with AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2;
        }
        Isa::Baseline
    })
}

/// Defines `fn $name(args)` whose body is compiled once for the baseline target and, on
/// x86-64, once more with AVX2+FMA enabled; the call picks the build the CPU supports.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                generic($($arg),*)
            }

            match isa() {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: `isa()` returns `Avx2` only when the CPU has AVX2 and FMA.
                Isa::Avx2 => unsafe { avx2($($arg),*) },
                Isa::Baseline => generic($($arg),*),
            }
        }
    };
}

pub(crate) fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> CResult<&'a [f32]> {
    match s {
        CpuStorage::F32(v) => match l.contiguous_offsets() {
            Some((a, b)) => Ok(&v[a..b]),
            None => bail!("{what}: input must be contiguous"),
        },
        _ => bail!("{what}: input must be f32"),
    }
}

fn f32s_mut<'a>(s: &'a mut CpuStorage, l: &Layout, what: &str) -> CResult<&'a mut [f32]> {
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
fn for_rows<F>(out: &mut [f32], width: usize, f: F)
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
fn dot(a: &[f32], b: &[f32]) -> f32 {
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
fn sum(a: &[f32]) -> f32 {
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
pub(crate) fn exp(x: f32) -> f32 {
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
pub(crate) fn erf(x: f32) -> f32 {
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

// ------------------------------------------------------------------------------------------
// Normalisation
// ------------------------------------------------------------------------------------------

/// `x <- LayerNorm(x + residual) * gamma + beta` over the last axis, in place (two-pass mean
/// and biased variance, as torch).
pub(crate) fn layer_norm(
    x: &Tensor,
    residual: Option<&Tensor>,
    gamma: &[f32],
    beta: &[f32],
    eps: f64,
) -> CResult<()> {
    let op = LayerNorm {
        gamma,
        beta,
        eps: eps as f32,
    };
    match residual {
        Some(r) => x.inplace_op2(r, &AddLayerNorm(op)),
        None => x.inplace_op1(&op),
    }
}

struct LayerNorm<'a> {
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

struct AddLayerNorm<'a>(LayerNorm<'a>);

simd_dispatch! {
    /// One row of [`layer_norm`].
    fn layer_norm_row(o: &mut [f32], res: Option<&[f32]>, op: &LayerNorm<'_>) {
        let h = o.len();
        if let Some(res) = res {
            o.iter_mut().zip(res).for_each(|(o, x)| *o += x);
        }
        let mean = sum(o) / h as f32;
        o.iter_mut().for_each(|x| *x -= mean);
        let var = dot(o, o) / h as f32;
        let inv = 1.0 / (var + op.eps).sqrt();
        for ((x, g), b) in o.iter_mut().zip(op.gamma).zip(op.beta) {
            *x = *x * inv * g + b;
        }
    }
}

impl LayerNorm<'_> {
    fn run(&self, x: &mut [f32], res: Option<&[f32]>, h: usize) -> CResult<()> {
        if self.gamma.len() != h || self.beta.len() != h {
            bail!("layer-norm: parameters do not match width {h}");
        }
        if res.is_some_and(|r| r.len() != x.len()) {
            bail!("layer-norm: residual does not match");
        }
        for_rows(x, h, |r, o| {
            layer_norm_row(o, res.map(|res| &res[r * h..(r + 1) * h]), self)
        });
        Ok(())
    }
}

impl InplaceOp1 for LayerNorm<'_> {
    fn name(&self) -> &'static str {
        "titlesim-layer-norm"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> CResult<()> {
        let (_, h) = dims2(l, self.name())?;
        self.run(f32s_mut(s, l, self.name())?, None, h)
    }
}

impl InplaceOp2 for AddLayerNorm<'_> {
    fn name(&self) -> &'static str {
        "titlesim-add-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<()> {
        let (_, h) = dims2(l1, self.name())?;
        if l2.dims() != l1.dims() {
            bail!(
                "add-layer-norm: residual shape {:?} != {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let r = f32s(s2, l2, self.name())?;
        self.0.run(f32s_mut(s1, l1, self.name())?, Some(r), h)
    }
}

/// `x * rsqrt(mean(x^2) + eps) * weight` over the last axis (Qwen3's RMSNorm), into a new
/// tensor.
pub(crate) fn rms_norm(x: &Tensor, weight: &[f32], eps: f64) -> CResult<Tensor> {
    x.apply_op1_no_bwd(&RmsNorm {
        weight,
        eps: eps as f32,
    })
}

struct RmsNorm<'a> {
    weight: &'a [f32],
    eps: f32,
}

/// RMS-normalises `x` into `out` with `weight`.
#[inline(always)]
fn rms_into(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
    let var = dot(x, x) / x.len() as f32;
    let inv = 1.0 / (var + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = w * (v * inv);
    }
}

simd_dispatch! {
    /// One row of [`rms_norm`].
    fn rms_norm_row(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
        rms_into(out, x, weight, eps)
    }
}

impl CustomOp1 for RmsNorm<'_> {
    fn name(&self) -> &'static str {
        "titlesim-rms-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (rows, h) = dims2(l, self.name())?;
        if self.weight.len() != h {
            bail!("rms-norm: weight length {} != width {h}", self.weight.len());
        }
        let x = f32s(s, l, self.name())?;
        let mut out = vec![0f32; rows * h];
        for_rows(&mut out, h, |r, o| {
            rms_norm_row(o, &x[r * h..(r + 1) * h], self.weight, self.eps)
        });
        Ok((CpuStorage::F32(out), Shape::from((rows, h))))
    }
}

// ------------------------------------------------------------------------------------------
// Element-wise
// ------------------------------------------------------------------------------------------

/// `x <- x + y` for two tensors of the same shape.
pub(crate) fn add_assign(x: &Tensor, y: &Tensor) -> CResult<()> {
    x.inplace_op2(y, &AddAssign)
}

struct AddAssign;

simd_dispatch! {
    /// One row of [`add_assign`].
    fn add_row(o: &mut [f32], y: &[f32]) {
        o.iter_mut().zip(y).for_each(|(o, y)| *o += y);
    }
}

impl InplaceOp2 for AddAssign {
    fn name(&self) -> &'static str {
        "titlesim-add"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<()> {
        let (_, h) = dims2(l1, self.name())?;
        if l2.dims() != l1.dims() {
            bail!("add: shapes {:?} and {:?} differ", l1.dims(), l2.dims());
        }
        let y = f32s(s2, l2, self.name())?;
        for_rows(f32s_mut(s1, l1, self.name())?, h, |r, o| {
            add_row(o, &y[r * h..(r + 1) * h])
        });
        Ok(())
    }
}

/// An activation function, from `config.json`'s `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `x * Φ(x)` with the exact (erf) normal CDF: `gelu`.
    Gelu,
    /// The tanh approximation of GELU: `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`.
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
    /// `x * sigmoid(x)`: `silu`, `swish`.
    Silu,
}

impl Activation {
    /// Parses a Hugging Face `hidden_act` name.
    pub(crate) fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            "silu" | "swish" => Some(Activation::Silu),
            _ => None,
        }
    }
}

#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    let y = C * (x + 0.044_715 * x * x * x);
    // tanh(y) = 1 - 2 / (e^{2y} + 1)
    let tanh = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
    0.5 * x * (1.0 + tanh)
}

#[inline(always)]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// `x <- act(x)`, element-wise, in place.
pub(crate) fn activation(x: &Tensor, act: Activation) -> CResult<()> {
    x.inplace_op1(&Act(act))
}

struct Act(Activation);

simd_dispatch! {
    /// One row of [`activation`]: one loop per activation, so each is a straight line the
    /// compiler can vectorise.
    fn act_row(o: &mut [f32], act: Activation) {
        match act {
            Activation::Gelu => o.iter_mut().for_each(|x| *x = gelu(*x)),
            Activation::GeluTanh => o.iter_mut().for_each(|x| *x = gelu_tanh(*x)),
            Activation::Relu => o.iter_mut().for_each(|x| *x = x.max(0.0)),
            Activation::Silu => o.iter_mut().for_each(|x| *x = silu(*x)),
        }
    }
}

impl InplaceOp1 for Act {
    fn name(&self) -> &'static str {
        "titlesim-activation"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> CResult<()> {
        let (_, h) = dims2(l, self.name())?;
        for_rows(f32s_mut(s, l, self.name())?, h, |_, o| act_row(o, self.0));
        Ok(())
    }
}

/// `silu(gate) * up`, where each row of `gu` is `[gate (width) | up (width)]`.
pub(crate) fn swiglu(gu: &Tensor) -> CResult<Tensor> {
    gu.apply_op1_no_bwd(&SwiGlu)
}

struct SwiGlu;

simd_dispatch! {
    /// One row of [`swiglu`].
    fn swiglu_row(o: &mut [f32], g: &[f32], u: &[f32]) {
        for ((o, g), u) in o.iter_mut().zip(g).zip(u) {
            *o = silu(*g) * u;
        }
    }
}

impl CustomOp1 for SwiGlu {
    fn name(&self) -> &'static str {
        "titlesim-swiglu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (rows, w2) = dims2(l, self.name())?;
        if w2 % 2 != 0 {
            bail!("swiglu: odd width {w2}");
        }
        let w = w2 / 2;
        let a = f32s(s, l, self.name())?;
        let mut out = vec![0f32; rows * w];
        for_rows(&mut out, w, |r, o| {
            let (g, u) = a[r * w2..(r + 1) * w2].split_at(w);
            swiglu_row(o, g, u)
        });
        Ok((CpuStorage::F32(out), Shape::from((rows, w))))
    }
}

// ------------------------------------------------------------------------------------------
// Attention
// ------------------------------------------------------------------------------------------

/// Where queries, keys and values sit in the rows of a fused projection `[q | k | v]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (`heads` for plain multi-head attention; fewer for grouped-query).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl Heads {
    /// First column of the queries, keys and values in a fused row.
    fn cols(&self) -> (usize, usize, usize) {
        let q = self.heads * self.head_dim;
        let kv = self.kv_heads * self.head_dim;
        (0, q, q + kv)
    }

    /// Width of a fused `[q | k | v]` row.
    pub(crate) fn fused_width(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }
}

/// Scaled dot-product attention over a padded batch.
///
/// `qkv` is `[batch * seq, fused_width]` (projection biases included). Query token `i` of a
/// row attends to the row's real tokens (`mask != 0`), and only to `j <= i` when
/// `causal`. Padding queries are not computed: their output is zero (nothing real reads it,
/// and it stays finite). Returns `[batch * seq, heads * head_dim]`.
pub(crate) fn attention(
    qkv: &Tensor,
    heads: Heads,
    mask: &[i64],
    seq: usize,
    causal: bool,
) -> CResult<Tensor> {
    qkv.apply_op1_no_bwd(&Attention {
        heads,
        mask,
        seq,
        causal,
    })
}

struct Attention<'a> {
    heads: Heads,
    mask: &'a [i64],
    seq: usize,
    causal: bool,
}

/// Per-task scratch space of the attention kernel.
#[derive(Default)]
struct Scratch {
    /// Positions of the real keys a block of queries may see, ascending.
    keys: Vec<usize>,
    /// Keys transposed, `[kv_heads][head_dim][n_keys rounded up to 8]` (zero-padded).
    kt: Vec<f32>,
    /// Values, `[kv_heads][n_keys][head_dim]`.
    v: Vec<f32>,
    /// Scores, then weights, of one query and head.
    scores: Vec<f32>,
}

/// Queries per attention task: enough to amortise gathering the keys and values of the row.
const QUERY_BLOCK: usize = 32;

simd_dispatch! {
    /// Attention output (all heads) of queries `i0..` of batch row `b`, into `out` (one
    /// `heads * head_dim` row per query). The row's keys are first gathered transposed, so a
    /// query's scores against all keys are `head_dim` vectorised multiply-adds rather than one
    /// dot product (and one horizontal sum) per key.
    fn attention_block(
        op: &Attention<'_>,
        qkv: &[f32],
        w: usize,
        b: usize,
        i0: usize,
        out: &mut [f32],
        scratch: &mut Scratch,
    ) {
        let Heads { heads, kv_heads, head_dim: d } = op.heads;
        let (q_col, k_col, v_col) = op.heads.cols();
        let group = heads / kv_heads;
        let scale = 1.0 / (d as f32).sqrt();
        let seq = op.seq;
        let mask = &op.mask[b * seq..(b + 1) * seq];
        let rows = &qkv[b * seq * w..(b + 1) * seq * w];
        let n_queries = out.len() / (heads * d);
        let Scratch { keys, kt, v, scores } = scratch;

        // The real keys any query of the block may see (causal: up to the block's last query).
        let last = if op.causal { i0 + n_queries } else { seq };
        keys.clear();
        keys.extend((0..last).filter(|&j| mask[j] != 0));
        let nk = keys.len();
        let nkp = nk.div_ceil(8) * 8;
        kt.clear();
        kt.resize(kv_heads * d * nkp, 0.0);
        v.clear();
        v.resize(kv_heads * nk * d, 0.0);
        for (n, &j) in keys.iter().enumerate() {
            let row = &rows[j * w..(j + 1) * w];
            for g in 0..kv_heads {
                let k = &row[k_col + g * d..k_col + (g + 1) * d];
                for (e, &x) in k.iter().enumerate() {
                    kt[(g * d + e) * nkp + n] = x;
                }
                v[(g * nk + n) * d..(g * nk + n + 1) * d]
                    .copy_from_slice(&row[v_col + g * d..v_col + (g + 1) * d]);
            }
        }
        scores.clear();
        scores.resize(nkp, 0.0);

        for (qi, o) in out.chunks_exact_mut(heads * d).enumerate() {
            let i = i0 + qi;
            if mask[i] == 0 {
                o.fill(0.0); // padding query
                continue;
            }
            // Causal: the visible keys are a prefix of `keys` (those at positions <= i).
            let nv = if op.causal { keys.partition_point(|&j| j <= i) } else { nk };
            let nvp = nv.div_ceil(8) * 8;
            let qrow = &rows[i * w..(i + 1) * w];
            for h in 0..heads {
                let g = h / group;
                let q = &qrow[q_col + h * d..q_col + (h + 1) * d];
                let sc = &mut scores[..nvp];
                sc.fill(0.0);
                for (e, &qe) in q.iter().enumerate() {
                    let qe = qe * scale;
                    let k = &kt[(g * d + e) * nkp..(g * d + e) * nkp + nvp];
                    sc.iter_mut().zip(k).for_each(|(s, k)| *s += qe * k);
                }
                let sc = &mut scores[..nv];
                let max = sc.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                sc.iter_mut().for_each(|s| *s = exp(*s - max));
                let inv = 1.0 / sum(sc);
                let oh = &mut o[h * d..(h + 1) * d];
                oh.fill(0.0);
                for (n, &p) in sc.iter().enumerate() {
                    let vn = &v[(g * nk + n) * d..(g * nk + n + 1) * d];
                    oh.iter_mut().zip(vn).for_each(|(o, v)| *o += p * v);
                }
                oh.iter_mut().for_each(|o| *o *= inv);
            }
        }
    }
}

impl CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "titlesim-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (rows, w) = dims2(l, self.name())?;
        let Heads {
            heads,
            kv_heads,
            head_dim: d,
        } = self.heads;
        if w != self.heads.fused_width() || kv_heads == 0 || heads % kv_heads != 0 {
            bail!("attention: bad head layout {:?} for width {w}", self.heads);
        }
        let seq = self.seq;
        if self.mask.len() != rows || seq == 0 || rows % seq != 0 {
            bail!("attention: mask/sequence do not match {rows} rows");
        }
        let qkv = f32s(s, l, self.name())?;
        let out_w = heads * d;
        let mut out = vec![0f32; rows * out_w];
        // Tasks: blocks of up to QUERY_BLOCK queries of one batch row, in output order;
        // smaller when the batch has too few rows to give every thread two blocks (at batch
        // 1 one block would leave all but one thread idle).
        let threads = rayon::current_num_threads();
        let per_row = (2 * threads).div_ceil(rows / seq).max(1);
        let block = seq.div_ceil(per_row).clamp(4, QUERY_BLOCK);
        let mut tasks = Vec::new();
        let mut rest = out.as_mut_slice();
        for b in 0..rows / seq {
            for i0 in (0..seq).step_by(block) {
                let n = block.min(seq - i0);
                let (block, tail) = rest.split_at_mut(n * out_w);
                tasks.push((b, i0, block));
                rest = tail;
            }
        }
        // Cost ~ queries * keys * heads * head_dim: parallelise when it is worth it.
        if rows * seq * out_w < PAR_MIN * 2 || threads == 1 {
            let mut scratch = Scratch::default();
            for (b, i0, block) in tasks {
                attention_block(self, qkv, w, b, i0, block, &mut scratch);
            }
        } else {
            tasks
                .into_par_iter()
                .for_each_init(Scratch::default, |scratch, (b, i0, block)| {
                    attention_block(self, qkv, w, b, i0, block, scratch)
                });
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, out_w))))
    }
}

/// Rotary-embedding tables for positions `0..positions`: `cos` and `sin` of
/// `position * inv_freq[i]`, `[positions, head_dim / 2]` each, computed in f32 as
/// transformers does (`inv_freq = 1 / theta^(2i / head_dim)`).
pub(crate) fn rope_tables(positions: usize, head_dim: usize, theta: f64) -> (Vec<f32>, Vec<f32>) {
    let half = head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for p in 0..positions {
        for &f in &inv_freq {
            let a = p as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    (cos, sin)
}

/// Qwen3's query/key preparation on a fused `[q | k | v]` projection (biases included), in
/// place: RMS-normalise each query and key head (`q_norm`, `k_norm`), then rotate them by the
/// token's position (rotary embeddings, "rotate half" layout). Values are left alone. `positions` holds one position per row; `cos`/`sin` come from
/// [`rope_tables`].
pub(crate) struct QkNormRope<'a> {
    /// Head layout of the fused rows.
    pub heads: Heads,
    /// RMSNorm weight of each query head (`head_dim`).
    pub q_norm: &'a [f32],
    /// RMSNorm weight of each key head (`head_dim`).
    pub k_norm: &'a [f32],
    /// RMSNorm epsilon.
    pub eps: f32,
    /// Position of each row.
    pub positions: &'a [i64],
    /// `cos` table, `[n_positions, head_dim / 2]`.
    pub cos: &'a [f32],
    /// `sin` table, `[n_positions, head_dim / 2]`.
    pub sin: &'a [f32],
}

/// Applies [`QkNormRope`] to `qkv`, in place.
pub(crate) fn qk_norm_rope(qkv: &Tensor, op: &QkNormRope<'_>) -> CResult<()> {
    qkv.inplace_op1(op)
}

simd_dispatch! {
    /// One row of [`qk_norm_rope`] at position `p`.
    fn qk_norm_rope_row(o: &mut [f32], p: usize, op: &QkNormRope<'_>) {
        let d = op.heads.head_dim;
        let half = d / 2;
        let (_, k_col, v_col) = op.heads.cols();
        let cos = &op.cos[p * half..(p + 1) * half];
        let sin = &op.sin[p * half..(p + 1) * half];
        let mut tmp = vec![0f32; d];
        for (hi, head) in o[..v_col].chunks_exact_mut(d).enumerate() {
            let weight = if hi * d < k_col { op.q_norm } else { op.k_norm };
            rms_into(&mut tmp, head, weight, op.eps);
            let (x1, x2) = tmp.split_at(half);
            let (o1, o2) = head.split_at_mut(half);
            for i in 0..half {
                o1[i] = x1[i] * cos[i] - x2[i] * sin[i];
                o2[i] = x2[i] * cos[i] + x1[i] * sin[i];
            }
        }
    }
}

impl InplaceOp1 for QkNormRope<'_> {
    fn name(&self) -> &'static str {
        "titlesim-qk-norm-rope"
    }

    fn cpu_fwd(&self, s: &mut CpuStorage, l: &Layout) -> CResult<()> {
        let (rows, w) = dims2(l, self.name())?;
        let d = self.heads.head_dim;
        if w != self.heads.fused_width() || !d.is_multiple_of(2) {
            bail!(
                "qk-norm-rope: bad head layout {:?} for width {w}",
                self.heads
            );
        }
        if self.positions.len() != rows || self.q_norm.len() != d || self.k_norm.len() != d {
            bail!("qk-norm-rope: parameters do not match the input");
        }
        let n_pos = self.cos.len() / (d / 2);
        if let Some(p) = self
            .positions
            .iter()
            .find(|&&p| p < 0 || p as usize >= n_pos)
        {
            bail!("qk-norm-rope: position {p} outside the rotary table ({n_pos})");
        }
        for_rows(f32s_mut(s, l, self.name())?, w, |r, o| {
            qk_norm_rope_row(o, self.positions[r] as usize, self)
        });
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Glue
// ------------------------------------------------------------------------------------------

/// Gathers rows of an embedding table: `out[r] = table[ids[r]]`, `[ids.len(), width]`.
/// Ids must have been checked against the table size.
pub(crate) fn gather(table: &[f32], width: usize, ids: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * width);
    for &id in ids {
        out.extend_from_slice(&table[id * width..(id + 1) * width]);
    }
    out
}

/// Wraps `data` as a `[rows, cols]` CPU tensor.
pub(crate) fn tensor(data: Vec<f32>, rows: usize, cols: usize) -> CResult<Tensor> {
    Tensor::from_vec(data, (rows, cols), &Device::Cpu)
}

/// A dense layer `x @ W^T + b`, from weights `[out, in]` as PyTorch stores them.
pub(crate) struct Linear {
    /// `W^T`, `[in, out]` row-major: the layout the `gemm` kernels read fastest when the
    /// activations are the short side (few tokens), and as fast otherwise.
    w_t: Vec<f32>,
    bias: Option<Vec<f32>>,
    inp: usize,
    out: usize,
}

impl Linear {
    /// Wraps a `[out, in]` weight (transposed once, here) and an optional bias `[out]`.
    pub(crate) fn new(w: &Tensor, bias: Option<Vec<f32>>) -> CResult<Self> {
        let (out, inp) = w.dims2()?;
        if bias.as_ref().is_some_and(|b| b.len() != out) {
            bail!("linear: bias length does not match {out} outputs");
        }
        let w_t = w.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Linear {
            w_t,
            bias,
            inp,
            out,
        })
    }

    /// `x @ W^T + b` for `x` of shape `[rows, in]`, into a new `[rows, out]` tensor.
    pub(crate) fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        x.apply_op1_no_bwd(self)
    }
}

impl CustomOp1 for Linear {
    fn name(&self) -> &'static str {
        "titlesim-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (m, k) = dims2(l, self.name())?;
        let n = self.out;
        if k != self.inp {
            bail!("linear: input width {k}, expected {}", self.inp);
        }
        let x = f32s(s, l, self.name())?;
        // Start from the bias (or zeros); the product is added onto it.
        let mut dst = match &self.bias {
            Some(b) => {
                let mut d = Vec::with_capacity(m * n);
                for _ in 0..m {
                    d.extend_from_slice(b);
                }
                d
            }
            None => vec![0f32; m * n],
        };
        if m == 0 || n == 0 || k == 0 {
            return Ok((CpuStorage::F32(dst), Shape::from((m, n))));
        }
        let threads = rayon::current_num_threads();
        let parallelism = if threads > 1 {
            Parallelism::Rayon(threads)
        } else {
            Parallelism::None
        };
        if x.len() != m * k || self.w_t.len() != k * n || dst.len() != m * n {
            bail!("linear: buffer sizes do not match [{m}, {k}] x [{k}, {n}]");
        }
        // SAFETY: `x` holds `m * k` floats (row-major, row stride `k`), `w_t` holds `k * n`
        // (row-major, row stride `n`) and `dst` holds `m * n` (row-major, row stride `n`), as
        // checked above and as the dimensions and strides passed say; `dst` is a fresh vector,
        // so it aliases neither input. `read_dst` with alpha = beta = 1 computes
        // `dst + x @ w_t`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                self.w_t.as_ptr(),
                1,
                n as isize,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            );
        }
        Ok((CpuStorage::F32(dst), Shape::from((m, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A double-precision erf (Abramowitz-Stegun 7.1.26 is too coarse; use the series and
    /// continued fraction, accurate to ~1e-15) to check the fast one.
    fn erf64(x: f64) -> f64 {
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
    fn layer_norm_matches_definition() {
        let r = tensor(vec![0.5; 8], 2, 4).unwrap();
        let bias = [0.1, 0.2, 0.3, 0.4];
        let g = [1.0, 2.0, 1.0, 0.5];
        let b = [0.0, 1.0, 0.0, -1.0];
        let biased: Vec<f32> = [1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 2.0]
            .iter()
            .enumerate()
            .map(|(i, v)| v + bias[i % 4])
            .collect();
        let a = tensor(biased, 2, 4).unwrap();
        layer_norm(&a, Some(&r), &g, &b, 1e-5).unwrap();
        let y = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let av = [1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 1.0, 2.0];
        for row in 0..2 {
            let x: Vec<f64> = (0..4)
                .map(|j| av[row * 4 + j] + 0.5 + bias[j] as f64)
                .collect();
            let m = x.iter().sum::<f64>() / 4.0;
            let v = x.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 4.0;
            for j in 0..4 {
                let want = (x[j] - m) / (v + 1e-5).sqrt() * g[j] as f64 + b[j] as f64;
                assert!((y[row * 4 + j] as f64 - want).abs() < 1e-5);
            }
        }
    }

    /// Naive attention over `[b, s, h, d]` for checking the kernel.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        qkv: &[f32],
        b: usize,
        s: usize,
        hs: Heads,
        bias: &[f32],
        mask: &[i64],
        causal: bool,
    ) -> Vec<f32> {
        let w = hs.fused_width();
        let d = hs.head_dim;
        let mut out = vec![0f32; b * s * hs.heads * d];
        for bb in 0..b {
            for i in 0..s {
                if mask[bb * s + i] == 0 {
                    continue;
                }
                for h in 0..hs.heads {
                    let g = h / (hs.heads / hs.kv_heads);
                    let x = |t: usize, c: usize| (qkv[(bb * s + t) * w + c] + bias[c]) as f64;
                    let qo = h * d;
                    let ko = hs.heads * d + g * d;
                    let vo = hs.heads * d + hs.kv_heads * d + g * d;
                    let mut sc = vec![f64::NEG_INFINITY; s];
                    for (j, scj) in sc.iter_mut().enumerate() {
                        if mask[bb * s + j] == 0 || (causal && j > i) {
                            continue;
                        }
                        *scj = (0..d).map(|e| x(i, qo + e) * x(j, ko + e)).sum::<f64>()
                            / (d as f64).sqrt();
                    }
                    let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let p: Vec<f64> = sc.iter().map(|v| (v - m).exp()).collect();
                    let z: f64 = p.iter().sum();
                    for e in 0..d {
                        let v: f64 = (0..s)
                            .filter(|&j| p[j] > 0.0)
                            .map(|j| p[j] * x(j, vo + e))
                            .sum();
                        out[(bb * s + i) * hs.heads * d + h * d + e] = (v / z) as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn attention_matches_naive_with_gqa_and_masks() {
        let hs = Heads {
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        // Short rows (one block each), then long rows (several query blocks, so the causal
        // prefix of later blocks is exercised), with left padding and holes in the mask.
        let short = vec![0, 0, 1, 1, 1, 1, 1, 1, 0, 1];
        let long: Vec<i64> = (0..2 * 70)
            .map(|i| i64::from(!(i < 9 || (i >= 70 && i % 13 == 5))))
            .collect();
        for (b, s, mask) in [(2, 5, short), (2, 70, long)] {
            let w = hs.fused_width();
            let data: Vec<f32> = (0..b * s * w)
                .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 1.5)
                .collect();
            let bias: Vec<f32> = (0..w).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
            for causal in [false, true] {
                let biased: Vec<f32> = data
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v + bias[i % w])
                    .collect();
                let t = tensor(biased, b * s, w).unwrap();
                let got = attention(&t, hs, &mask, s, causal)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                let want = naive(&data, b, s, hs, &bias, &mask, causal);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-5, "s={s} causal={causal}: {g} vs {w}");
                }
            }
        }
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

    #[test]
    fn activations_match_their_definitions() {
        for i in -600..=600 {
            let x = i as f32 * 0.01;
            let xd = x as f64;
            let gelu_t = 0.5
                * xd
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt() * (xd + 0.044715 * xd * xd * xd))
                        .tanh());
            assert!(
                (gelu_tanh(x) as f64 - gelu_t).abs() < 1e-6,
                "gelu_tanh({x})"
            );
            let gelu_e = 0.5 * xd * (1.0 + erf64(xd / std::f64::consts::SQRT_2));
            assert!((gelu(x) as f64 - gelu_e).abs() < 2e-6, "gelu({x})");
            let silu_e = xd / (1.0 + (-xd).exp());
            assert!((silu(x) as f64 - silu_e).abs() < 1e-6, "silu({x})");
        }
    }

    #[test]
    fn in_place_ops_modify_their_target() {
        let x = tensor(vec![1.0, -2.0, 3.0, -4.0], 2, 2).unwrap();
        activation(&x, Activation::Relu).unwrap();
        assert_eq!(
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![1.0, 0.0, 3.0, 0.0]
        );
        let y = tensor(vec![1.0; 4], 2, 2).unwrap();
        add_assign(&x, &y).unwrap();
        assert_eq!(
            x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![2.0, 1.0, 4.0, 1.0]
        );
    }

    #[test]
    fn linear_matches_naive_product() {
        let (m, k, n) = (5, 7, 3);
        let x: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 * 0.25 - 1.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
        let bias = vec![0.5, -1.0, 2.0];
        for (bias, threads) in [(Some(bias.clone()), 1), (None, 2)] {
            let lin = Linear::new(&tensor(w.clone(), n, k).unwrap(), bias.clone()).unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let y = pool
                .install(|| lin.forward(&tensor(x.clone(), m, k).unwrap()))
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let want: f32 = (0..k).map(|t| x[i * k + t] * w[j * k + t]).sum::<f32>()
                        + bias.as_ref().map_or(0.0, |b| b[j]);
                    assert!((y[i * n + j] - want).abs() < 1e-5, "({i},{j})");
                }
            }
        }
    }
}
