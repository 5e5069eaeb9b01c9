//! Element-wise kernels: `x <- x + y`, the feed-forward activations (exact and tanh GELU,
//! ReLU, SiLU) and SwiGLU.

use candle_core::{bail, CpuStorage, CustomOp1, InplaceOp1, InplaceOp2, Layout, Shape, Tensor};

use super::plumbing::{dims2, erf, exp, f32s, f32s_mut, for_rows};
use super::CResult;
use crate::cpu::simd_dispatch;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::plumbing::tests::erf64;
    use crate::ops::tensor;

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
}
