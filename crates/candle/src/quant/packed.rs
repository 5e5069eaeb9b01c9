//! Int8 weights: quantised once, at load, symmetrically per output column, and packed into
//! the panel layout the kernels read.

use candle_core::bail;

use super::{CResult, NR};

/// Int8 weights of a dense layer, packed for the kernels.
///
/// Layout: panels of [`NR`] output columns; within a panel, groups of 4 inputs; within a
/// group, for each of the [`NR`] columns its 4 consecutive weights:
/// `data[p][g][c][t] = q[p * NR + c][4 * g + t]` (zero beyond `n` columns or `k` inputs). One
/// group of one panel is 256 bytes: four 64-byte vectors, each holding 16 columns × 4 inputs,
/// which is what `vpdpbusd` multiplies with 4 broadcast activation bytes.
#[derive(Debug, Clone)]
pub(super) struct PackedI8 {
    pub(super) data: Vec<i8>,
    /// Inputs.
    pub(super) k: usize,
    /// Inputs rounded up to a multiple of 4.
    pub(super) kp: usize,
    /// Output columns.
    pub(super) n: usize,
    /// Per-column dequantisation scale, `n` long.
    pub(super) scale: Vec<f32>,
    /// Per-column sum of the int8 weights, `n` long.
    pub(super) colsum: Vec<i32>,
}

impl PackedI8 {
    /// Packs quantised weights `q` (`[n, k]`, row-major, PyTorch's `[out, in]`) with their
    /// per-column `scale`.
    pub(super) fn from_i8(q: &[i8], n: usize, k: usize, scale: Vec<f32>) -> CResult<Self> {
        if q.len() != n * k || scale.len() != n {
            bail!(
                "int8 linear: {} weights / {} scales for [{n}, {k}]",
                q.len(),
                scale.len()
            );
        }
        let kp = k.div_ceil(4) * 4;
        let panels = n.div_ceil(NR);
        let mut data = vec![0i8; panels * kp * NR];
        for (j, row) in q.chunks_exact(k.max(1)).enumerate().take(n) {
            let (p, c) = (j / NR, j % NR);
            let panel = &mut data[p * kp * NR..(p + 1) * kp * NR];
            for (kk, &v) in row.iter().enumerate() {
                panel[(kk / 4) * NR * 4 + c * 4 + kk % 4] = v;
            }
        }
        let colsum = if k == 0 {
            vec![0; n]
        } else {
            q.chunks_exact(k)
                .map(|r| r.iter().map(|&v| i32::from(v)).sum())
                .collect()
        };
        Ok(PackedI8 {
            data,
            k,
            kp,
            n,
            scale,
            colsum,
        })
    }

    /// Quantises f32 weights `w` (`[n, k]`, row-major) symmetrically per output column.
    pub(super) fn quantize(w: &[f32], n: usize, k: usize) -> CResult<Self> {
        if w.len() != n * k {
            bail!("int8 linear: {} weights for [{n}, {k}]", w.len());
        }
        if w.iter().any(|v| !v.is_finite()) {
            bail!("int8 linear: weights are not all finite");
        }
        let mut q = vec![0i8; n * k];
        let mut scale = vec![1f32; n];
        if k > 0 {
            for ((row, qr), s) in w.chunks_exact(k).zip(q.chunks_exact_mut(k)).zip(&mut scale) {
                let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
                if amax > 0.0 {
                    *s = amax / 127.0;
                    let inv = 127.0 / amax;
                    for (o, v) in qr.iter_mut().zip(row) {
                        *o = (v * inv).round().clamp(-127.0, 127.0) as i8;
                    }
                }
            }
        }
        PackedI8::from_i8(&q, n, k, scale)
    }

    pub(super) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_sums_and_scales_are_per_column() {
        let w = [1.0f32, -2.0, 0.5, 0.0, 0.0, 0.0, 3.0, 3.0, -3.0];
        let p = PackedI8::quantize(&w, 3, 3).unwrap();
        assert_eq!(p.scale, vec![2.0 / 127.0, 1.0, 3.0 / 127.0]);
        // Column 0 quantises to [64 (63.5 rounds away from 0), -127, 32 (31.75)].
        assert_eq!(p.colsum, vec![64 - 127 + 32, 0, 127]);
        assert!(PackedI8::quantize(&[f32::NAN], 1, 1).is_err());
    }
}
