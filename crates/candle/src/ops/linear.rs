//! The f32 dense layer: `x @ W^T + b` with the `gemm` crate, split for the current rayon pool,
//! the bias added by the product itself. Weights are kept as the checkpoint stored them: f32,
//! or bf16 (half the memory), widened to f32 for each product, one layer at a time, and
//! dropped after it. Widening bf16 is exact and the product is the same code, so bf16 weights
//! give the bits f32 weights of the same values give.

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::plumbing::{dims2, f32s};
use super::CResult;
use crate::weights::{bf16_to_f32, Matrix, Values};

/// A dense layer `x @ W^T + b`, from weights `[out, in]` as PyTorch stores them.
pub(crate) struct Linear {
    /// `W^T`, `[in, out]` row-major: the layout the `gemm` kernels read fastest when the
    /// activations are the short side (few tokens), and as fast otherwise.
    w_t: Values,
    bias: Option<Vec<f32>>,
    inp: usize,
    out: usize,
}

impl Linear {
    /// Wraps a `[out, in]` weight (transposed once, here; bf16 stays bf16) and an optional
    /// bias `[out]`.
    pub(crate) fn new(w: &Matrix, bias: Option<Vec<f32>>) -> CResult<Self> {
        let (out, inp) = (w.rows, w.cols);
        if bias.as_ref().is_some_and(|b| b.len() != out) {
            bail!("linear: bias length does not match {out} outputs");
        }
        Ok(Linear {
            w_t: w.transposed().data,
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

/// Products of at most this many rows (a few short texts) are split by output columns, one
/// block per thread, each block a single-threaded `gemm`; larger ones run as one `gemm`
/// parallelised inside. `gemm` splits a product of few rows poorly over its threads (at batch 1
/// all-MiniLM-L6-v2 ran hardly faster on two threads than on one), and the column blocks waste
/// less waiting; above this the one `gemm` is faster (each block would pack the activations
/// again). Both add every output's terms in the same order ([`K_PIECE`]), so a row gets the
/// same bits in either (the test `a_row_gets_the_same_bits_alone_and_in_any_batch` crosses the
/// line).
const SPLIT_MAX_ROWS: usize = 64;

/// The inner dimension is added in pieces of at most this many terms, one `gemm` call each,
/// onto what the pieces before gave. Within one call `gemm` cuts the inner dimension into
/// blocks whose size it picks from the product's shape and the CPU's L1 cache: 512 for a
/// product of at most 64 × 64, else from the cache's size and ways (at least 512), evened out
/// over the blocks (768 was added as 512 + 256 in one case and as 384 + 384 in the other; on
/// a Graviton's cache, 1536 as 3 × 512 or 2 × 768). Where a block ends changes the rounding,
/// so the same row got other bits alone than in a batch of more than 64 rows, or with other
/// thread counts. A call over at most 512 terms is one block whatever the shape and the CPU.
const K_PIECE: usize = 512;

/// A pointer the column blocks of one product write through (each block its own columns).
#[derive(Clone, Copy)]
struct DstPtr(*mut f32);
// SAFETY: the blocks write disjoint columns of one buffer that outlives the parallel loop.
unsafe impl Send for DstPtr {}
unsafe impl Sync for DstPtr {}
impl DstPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `dst += x @ w_t` (`x` `[m, k]`, `w_t` `[k, n]`, `dst` `[m, n]`, all row-major and of those
/// sizes), one block of output columns per thread of the current rayon pool, each a
/// single-threaded `gemm`.
fn product_by_columns(
    x: &[f32],
    w_t: &[f32],
    m: usize,
    k: usize,
    n: usize,
    dst: &mut [f32],
    threads: usize,
) {
    debug_assert!(x.len() == m * k && w_t.len() == k * n && dst.len() == m * n);
    let nb = n.div_ceil(threads).div_ceil(16) * 16;
    let out = DstPtr(dst.as_mut_ptr());
    (0..n.div_ceil(nb)).into_par_iter().for_each(|b| {
        let c0 = b * nb;
        let w = nb.min(n - c0);
        // SAFETY: `x` holds `m * k` floats; `w_t` holds `k * n`, of which columns
        // `c0 .. c0 + w` are read; `out` points at `m * n` floats of which this block writes
        // columns `c0 .. c0 + w` only, which no other block writes.
        unsafe {
            add_product(
                x.as_ptr(),
                w_t.as_ptr().add(c0),
                out.get().add(c0),
                (m, k, w, n),
                Parallelism::None,
            )
        };
    });
}

/// `dst[.., ..cols] += x @ w[.., ..cols]` with `gemm`: `x` is `[m, k]` (row stride `k`), `w`
/// `[k, cols]` and `dst` `[m, cols]`, both with row stride `stride` (column blocks of wider
/// matrices). Every caller goes through here, so every product adds its terms the same way:
/// [`K_PIECE`] terms at a time, in order.
///
/// # Safety
/// The pointers must cover those rows and strides, and `dst` must alias neither input nor be
/// written by anyone else during the call.
unsafe fn add_product(
    x: *const f32,
    w: *const f32,
    dst: *mut f32,
    (m, k, cols, stride): (usize, usize, usize, usize),
    parallelism: Parallelism,
) {
    let mut k0 = 0;
    while k0 < k {
        let piece = K_PIECE.min(k - k0);
        // SAFETY: the caller's contract: columns `k0 .. k0 + piece` of `x` (row stride `k`)
        // and rows `k0 .. k0 + piece` of `w` lie inside them; `read_dst` with alpha = beta = 1
        // computes `dst + x[.., piece] @ w[piece, ..]`.
        unsafe {
            gemm::gemm(
                m,
                cols,
                piece,
                dst,
                1,
                stride as isize,
                true,
                x.add(k0),
                1,
                k as isize,
                w.add(k0 * stride),
                1,
                stride as isize,
                1.0f32,
                1.0f32,
                false,
                false,
                false,
                parallelism,
            )
        }
        k0 += piece;
    }
}

/// Weights widened from bf16 per call, in pieces of this many values (one work item each).
const WIDEN_CHUNK: usize = 1 << 16;

/// `W^T` in f32: bf16 widened (exactly: bf16 is the upper half of an f32), split over the
/// current rayon pool. One call holds one layer's widened matrix, only while its product
/// runs (the largest of Qwen3-0.6B, gate and up fused, is 25 MB).
fn widen(w: &[u16]) -> Vec<f32> {
    let mut out = Vec::with_capacity(w.len());
    out.spare_capacity_mut()
        .par_chunks_mut(WIDEN_CHUNK)
        .zip(w.par_chunks(WIDEN_CHUNK))
        .for_each(|(o, i)| {
            for (o, &b) in o.iter_mut().zip(i) {
                o.write(bf16_to_f32(b));
            }
        });
    // SAFETY: the chunks of the spare capacity cover its first `w.len()` values (the chunks
    // of `w` have the same lengths), and every one was written above.
    unsafe { out.set_len(w.len()) };
    out
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
        // `gemm` takes another path for a single row (a matrix-vector product that adds in
        // another order), so a one-token text alone would not get the bits it gets in a
        // batch. One row is run as two (itself twice) and the copy dropped: every row then
        // goes through the same kernels whatever the batch. Found on aarch64 under qemu.
        let twice;
        let (x, m_run) = if m == 1 {
            twice = [x, x].concat();
            (&twice[..], 2)
        } else {
            (x, m)
        };
        // Start from the bias (or zeros); the product is added onto it.
        let mut dst = match &self.bias {
            Some(b) => {
                let mut d = Vec::with_capacity(m_run * n);
                for _ in 0..m_run {
                    d.extend_from_slice(b);
                }
                d
            }
            None => vec![0f32; m_run * n],
        };
        if m == 0 || n == 0 || k == 0 {
            return Ok((CpuStorage::F32(dst), Shape::from((m, n))));
        }
        // bf16 weights are widened for this product and run through the same f32 product as
        // f32 weights of the same values, so both give the same bits.
        let widened;
        let w_t = match &self.w_t {
            Values::F32(w) => w,
            Values::Bf16(w) => {
                widened = widen(w);
                &widened
            }
        };
        if x.len() != m_run * k || w_t.len() != k * n || dst.len() != m_run * n {
            bail!("linear: buffer sizes do not match [{m}, {k}] x [{k}, {n}]");
        }
        let threads = rayon::current_num_threads();
        if threads > 1 && m_run <= SPLIT_MAX_ROWS {
            product_by_columns(x, w_t, m_run, k, n, &mut dst, threads);
        } else {
            let parallelism = if threads > 1 {
                Parallelism::Rayon(threads)
            } else {
                Parallelism::None
            };
            // SAFETY: `x` holds `m * k` floats, `w_t` `k * n` and `dst` `m * n`, as checked
            // above; `dst` is a fresh vector, so it aliases neither input.
            unsafe {
                add_product(
                    x.as_ptr(),
                    w_t.as_ptr(),
                    dst.as_mut_ptr(),
                    (m_run, k, n, n),
                    parallelism,
                )
            };
        }
        dst.truncate(m * n);
        Ok((CpuStorage::F32(dst), Shape::from((m, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor;
    use std::collections::HashMap;

    #[test]
    fn linear_matches_naive_product() {
        let (m, k, n) = (5, 7, 3);
        let x: Vec<f32> = (0..m * k).map(|i| (i % 11) as f32 * 0.25 - 1.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
        let bias = vec![0.5, -1.0, 2.0];
        for (bias, threads) in [(Some(bias.clone()), 1), (None, 2)] {
            let lin = Linear::new(&Matrix::f32(w.clone(), n, k), bias.clone()).unwrap();
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

    /// A row's output has the same bits alone (one row: `gemm`'s matrix-vector path, unless
    /// avoided) as in any batch, on one thread and two, for the shapes of the fixtures and
    /// all-MiniLM (and one of Qwen3-0.6B's), with f32 weights and with bf16 ones.
    #[test]
    fn a_row_gets_the_same_bits_alone_and_in_any_batch() {
        let mut differ = Vec::new();
        // Inner sizes past 512 that are not a multiple of it (768: BERT-base), with outputs
        // that the column blocks cut to at most 64 (the small-product path of `gemm`) on 2
        // and 4 threads: `gemm` cut 768 into other blocks there than for more rows.
        let mut by_threads: HashMap<(&str, usize, usize, usize), Vec<u32>> = HashMap::new();
        for &(k, n) in &[
            (32, 96),
            (64, 64),
            (64, 192),
            (37, 50),
            (384, 1536),
            (1024, 1100),
            (768, 128),
            (1000, 96),
            (1536, 256),
        ] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| (i * 7919 % 1013) as f32 / 1013.0 - 0.5)
                .collect();
            // The same weights rounded to bf16, kept as f32 and as bf16 (widened per product).
            let bits: Vec<u16> = w.iter().map(|v| (v.to_bits() >> 16) as u16).collect();
            let f32s = Matrix::f32(bits.iter().map(|&b| bf16_to_f32(b)).collect(), n, k);
            let bf16 = Matrix {
                rows: n,
                cols: k,
                data: Values::Bf16(bits),
            };
            for (kind, m) in [("f32", Matrix::f32(w.clone(), n, k)), ("bf16", bf16)] {
                let lin = Linear::new(&m, Some(vec![0.1; n])).unwrap();
                let reference = Linear::new(&f32s, Some(vec![0.1; n])).unwrap();
                for threads in [1, 2, 4] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let run = |lin: &Linear, x: &[f32], m: usize| -> Vec<f32> {
                        pool.install(|| lin.forward(&tensor(x.to_vec(), m, k).unwrap()))
                            .unwrap()
                            .flatten_all()
                            .unwrap()
                            .to_vec1::<f32>()
                            .unwrap()
                    };
                    for m in [2usize, 3, 7, 33, 100] {
                        let x: Vec<f32> = (0..m * k)
                            .map(|i| (i * 104729 % 997) as f32 / 997.0 - 0.5)
                            .collect();
                        let all = run(&lin, &x, m);
                        // The same bits on every number of threads.
                        let bits: Vec<u32> = all.iter().map(|v| v.to_bits()).collect();
                        let first = by_threads.entry((kind, k, n, m)).or_insert(bits.clone());
                        if *first != bits {
                            differ.push((kind, k, n, threads, m, usize::MAX));
                        }
                        for r in [0, m / 2, m - 1] {
                            let one = run(&lin, &x[r * k..(r + 1) * k], 1);
                            let same = one
                                .iter()
                                .zip(&all[r * n..(r + 1) * n])
                                .all(|(a, b)| a.to_bits() == b.to_bits());
                            if !same {
                                differ.push((kind, k, n, threads, m, r));
                            }
                        }
                        if kind == "bf16" {
                            // bf16 storage computes what f32 storage of the same values
                            // does, bit for bit.
                            let want = run(&reference, &x, m);
                            for (i, (a, b)) in all.iter().zip(&want).enumerate() {
                                assert_eq!(a.to_bits(), b.to_bits(), "{k}x{n} m={m} [{i}]");
                            }
                        }
                    }
                }
            }
        }
        assert!(
            differ.is_empty(),
            "(storage, k, n, threads, m, row) whose row differs from the row alone (row \
             usize::MAX: the batch differs from the batch on one thread): {differ:?}"
        );
    }
}
