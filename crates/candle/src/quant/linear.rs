//! The int8 dense layer: quantise the input rows, run the integer product, dequantise and add
//! the bias, then add the outliers in f32.

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::kernel::Kernel;
use super::outliers::add_outliers;
use super::packed::PackedI8;
use super::product::{product, DequantSink, OutPtr};
use super::rows::{quantize_rows, QuantRows};
use super::CResult;
use crate::ops::{dims2, f32s};
use crate::weights::{Matrix, Values};

/// An int8 dense layer `x @ W^T + b` (weights `[out, in]` as PyTorch stores them).
pub(crate) struct QLinear {
    w: PackedI8,
    /// The weights transposed, `[in, out]`, as the checkpoint stored them (f32, or bf16 bits
    /// widened exactly as they are read): the rows the activation outliers multiply.
    /// (Rounding f32 weights to bfloat16 would halve their bytes, but costs too much accuracy,
    /// as do 16-bit integers with a scale per column: all-MiniLM's worst bench title sits on a
    /// rounding edge of a later layer's activation quantisation; figures in benches/README.md.)
    wt: Values,
    bias: Option<Vec<f32>>,
    kernel: Kernel,
}

impl QLinear {
    /// Quantises a `[out, in]` weight; `bias`, when given, is `[out]`.
    pub(crate) fn new(w: &Matrix, bias: Option<Vec<f32>>) -> CResult<Self> {
        let (out, inp) = (w.rows, w.cols);
        if bias.as_ref().is_some_and(|b| b.len() != out) {
            bail!("linear: bias length does not match {out} outputs");
        }
        Ok(QLinear {
            w: PackedI8::quantize(&w.to_f32(), out, inp)?,
            wt: w.transposed().data,
            bias,
            kernel: Kernel::detect()?,
        })
    }

    /// `x @ W^T + b` for `x` of shape `[rows, in]`, into a new `[rows, out]` tensor.
    pub(crate) fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        x.apply_op1_no_bwd(self)
    }

    /// The same with an explicit kernel, on raw slices (tests).
    #[cfg(test)]
    pub(super) fn forward_with(&self, kernel: Kernel, x: &[f32], m: usize) -> CResult<Vec<f32>> {
        let a = quantize_rows(kernel, x, m, self.w.k);
        self.run(kernel, &a)
    }

    fn run(&self, kernel: Kernel, a: &QuantRows) -> CResult<Vec<f32>> {
        let mut out = vec![0f32; a.m * self.w.n];
        let sink = DequantSink {
            out: OutPtr(out.as_mut_ptr()),
            n: self.w.n,
            len: out.len(),
            a,
            w: &self.w,
            bias: self.bias.as_deref(),
            kernel,
        };
        product(kernel, a, &self.w, &sink)?;
        match &self.wt {
            Values::F32(wt) => add_outliers(kernel, a, wt, &mut out, self.w.n)?,
            Values::Bf16(wt) => add_outliers(kernel, a, wt, &mut out, self.w.n)?,
        }
        Ok(out)
    }
}

impl CustomOp1 for QLinear {
    fn name(&self) -> &'static str {
        "titlesim-linear-int8"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let (m, k) = dims2(l, self.name())?;
        if k != self.w.k {
            bail!("linear: input width {k}, expected {}", self.w.k);
        }
        let x = f32s(s, l, self.name())?;
        let a = quantize_rows(self.kernel, x, m, k);
        let out = self.run(self.kernel, &a)?;
        Ok((CpuStorage::F32(out), Shape::from((m, self.w.n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::tests::Rng;

    #[test]
    fn int8_linear_is_close_to_f32_and_identical_across_kernels() {
        let mut rng = Rng(42);
        let (m, k, n) = (9, 96, 70);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.1).collect();
        let x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
        let lin = QLinear::new(&Matrix::f32(w.clone(), n, k), Some(bias.clone())).unwrap();
        let outs: Vec<Vec<f32>> = Kernel::available()
            .into_iter()
            .map(|kn| lin.forward_with(kn, &x, m).unwrap())
            .collect();
        for o in &outs[1..] {
            assert_eq!(o, &outs[0], "kernels differ");
        }
        // Error bound: per product, |Σ x w - Σ x' w'| <= Σ |x||dw| + |dx||w'| with
        // |dw| <= sw/2 and |dx| <= sx/2.
        for r in 0..m {
            let xr = &x[r * k..(r + 1) * k];
            let (lo, hi) = xr
                .iter()
                .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
            let sx = (hi - lo) / 255.0;
            for j in 0..n {
                let wj = &w[j * k..(j + 1) * k];
                let sw = wj.iter().fold(0f32, |a, v| a.max(v.abs())) / 127.0;
                let exact: f32 = xr.iter().zip(wj).map(|(a, b)| a * b).sum::<f32>() + bias[j];
                let bound: f32 = xr
                    .iter()
                    .zip(wj)
                    .map(|(a, b)| a.abs() * sw / 2.0 + sx / 2.0 * (b.abs() + sw / 2.0))
                    .sum();
                let got = outs[0][r * n + j];
                assert!(
                    (got - exact).abs() <= bound * 1.01 + 1e-5,
                    "({r},{j}): {got} vs {exact}, bound {bound}"
                );
            }
        }
        // A row alone gives exactly what it gives in the batch.
        let single = lin
            .forward_with(Kernel::fastest(), &x[2 * k..3 * k], 1)
            .unwrap();
        assert_eq!(single[..], outs.last().unwrap()[2 * n..3 * n]);
    }

    /// A bf16 checkpoint's weights, kept as bf16 (the outlier products widen them as they
    /// read them), give exactly what the same values stored as f32 give, on every kernel.
    #[test]
    fn bf16_weights_give_the_bits_of_their_f32_values() {
        let mut rng = Rng(7);
        let (m, k, n) = (5, 96, 130);
        let bits: Vec<u16> = (0..n * k)
            .map(|_| ((rng.f32() * 0.1).to_bits() >> 16) as u16)
            .collect();
        let bf16 = Matrix {
            rows: n,
            cols: k,
            data: Values::Bf16(bits.clone()),
        };
        let f32s = Matrix::f32(
            bits.iter()
                .map(|&b| f32::from_bits(u32::from(b) << 16))
                .collect(),
            n,
            k,
        );
        let mut x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
        x[3] = 40.0; // an outlier, multiplied by the stored weights in f32
        let (a, b) = (
            QLinear::new(&bf16, None).unwrap(),
            QLinear::new(&f32s, None).unwrap(),
        );
        assert!(
            matches!(a.wt, Values::Bf16(_)),
            "bf16 weights were widened at load"
        );
        for kn in Kernel::available() {
            assert_eq!(
                a.forward_with(kn, &x, m).unwrap(),
                b.forward_with(kn, &x, m).unwrap(),
                "{kn:?}"
            );
        }
    }

    /// FNV-1a over 32-bit words.
    fn fnv(words: impl IntoIterator<Item = u32>) -> u64 {
        words.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, w| {
            (h ^ u64::from(w)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    /// Every architecture gives the same bits: the activation bytes, scales, zero points,
    /// outliers and outputs of one int8 layer (MiniLM's widths, a \[CLS\]-like outlier row, a
    /// 2-token row as for the empty text) hash to the same constants on x86-64 (every kernel)
    /// and on aarch64 (under qemu: cortex-a72, neoverse-n1, max), measured on both. Issue 17 reported int8 vectors far from the
    /// reference on aarch64 only; this pins the portable kernel's bits so that any such
    /// divergence between targets fails here, in a unit test that runs in a second under
    /// emulation (`cargo xtask cross`).
    #[test]
    fn int8_linear_gives_the_same_bits_on_every_architecture() {
        let mut rng = Rng(17);
        let (k, n) = (384, 1152);
        let w: Vec<f32> = (0..n * k).map(|_| rng.f32() * 0.08).collect();
        let bias: Vec<f32> = (0..n).map(|_| rng.f32() * 0.1).collect();
        let lin = QLinear::new(&Matrix::f32(w, n, k), Some(bias)).unwrap();
        let want = [
            (2usize, 0x62ce_15fc_3dbe_ba34u64, 0xf6bf_5231_895c_3c5cu64),
            (9, 0x6904_e896_0b15_04bd, 0x3e9f_cbea_70d6_f2de),
        ];
        let mut got = Vec::new();
        for &(m, _, _) in &want {
            let mut x: Vec<f32> = (0..m * k).map(|_| rng.f32()).collect();
            // Row 0 as all-MiniLM's [CLS]: one value of ~29 (an outlier), a few negatives ~-9.
            x[7] = 29.25;
            x[100] = -9.5;
            x[k + 3] = -0.0;
            for kernel in Kernel::available() {
                let a = quantize_rows(kernel, &x, m, k);
                let qa = fnv(a
                    .data
                    .iter()
                    .map(|&v| u32::from(v))
                    .chain(a.scale.iter().map(|v| v.to_bits()))
                    .chain(a.zero.iter().map(|&v| v as u32))
                    .chain(
                        a.outliers
                            .iter()
                            .flatten()
                            .flat_map(|&(i, v)| [i, v.to_bits()]),
                    ));
                let out = lin.forward_with(kernel, &x, m).unwrap();
                let qo = fnv(out.iter().map(|v| v.to_bits()));
                eprintln!("{kernel:?}, {m} rows: activations {qa:#018x}, outputs {qo:#018x}");
                got.push((m, qa, qo));
            }
        }
        let want: Vec<_> = want
            .iter()
            .flat_map(|w| std::iter::repeat_n(*w, Kernel::available().len()))
            .collect();
        assert_eq!(got, want);
    }
}
