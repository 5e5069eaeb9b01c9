//! Normalisation: BERT's "add & norm" (`x <- LayerNorm(x + residual)`, in place) and Qwen3's
//! RMSNorm.

use candle_core::{bail, CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Shape, Tensor};

use super::plumbing::{dims2, dot, f32s, f32s_mut, for_rows, sum};
use super::CResult;
use crate::cpu::simd_dispatch;

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
pub(super) fn rms_into(out: &mut [f32], x: &[f32], weight: &[f32], eps: f32) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor;

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
}
