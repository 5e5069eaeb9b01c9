//! Attention: scaled dot-product attention over a fused `[q | k | v]` projection (grouped-query,
//! padding mask, optionally causal), and Qwen3's query/key preparation (per-head RMSNorm, then
//! rotary embeddings).

use candle_core::{bail, CpuStorage, CustomOp1, InplaceOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::norm::rms_into;
use super::plumbing::{dims2, exp, f32s, f32s_mut, for_rows, sum};
use super::{CResult, PAR_MIN};
use crate::cpu::simd_dispatch;

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
    fn fused_width(&self) -> usize {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor;

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
}
