//! Building blocks the architectures share: dense layers in the model's precision (f32, int8
//! or bf16) and the weights they are built from, the embedding lookup, and the check of a
//! batch's ids.

use candle_core::Tensor;
use titlesim_core::{Error, Result};

use crate::bf16::BLinear;
use crate::ops::Linear;
use crate::quant::QLinear;
use crate::weights::{Matrix, Weights};
use crate::BACKEND;

type CResult<T> = candle_core::Result<T>;

/// Compute precision of the dense layers of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// f32 weights and activations (the default, matches the reference to ~1e-6).
    F32,
    /// int8 weights, dynamically quantised u8 activations, i32 accumulation.
    Int8,
    /// bf16 weights and inputs, f32 accumulation (AMX tiles, or `vdpbf16ps`'s arithmetic).
    Bf16,
}

/// A dense layer in the model's precision.
pub(crate) enum Dense {
    /// f32 arithmetic (`gemm` crate), on f32 weights or on bf16 ones widened per product.
    F32(Linear),
    /// int8 weights (the `quant` module).
    Int8(QLinear),
    /// bf16 weights and inputs (the `bf16` module).
    Bf16(BLinear),
}

impl Dense {
    /// A `[out, in]` weight and optional `[out]` bias in precision `p`.
    pub(crate) fn new(p: Precision, w: &Matrix, bias: Option<Vec<f32>>) -> CResult<Self> {
        Ok(match p {
            Precision::F32 => Dense::F32(Linear::new(w, bias)?),
            Precision::Int8 => Dense::Int8(QLinear::new(w, bias)?),
            Precision::Bf16 => Dense::Bf16(BLinear::new(w, bias)?),
        })
    }

    /// Stacks several layers that read the same input into one (e.g. q, k, v), so a single
    /// matrix product computes them all. `biases`, when given, has one entry per layer.
    pub(crate) fn fuse(
        p: Precision,
        ws: &[Matrix],
        biases: Option<Vec<Vec<f32>>>,
    ) -> CResult<Self> {
        Dense::new(p, &Matrix::cat(ws)?, biases.map(|b| b.concat()))
    }

    /// `x @ W^T + b` for `x` of shape `[rows, in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        match self {
            Dense::F32(l) => l.forward(x),
            Dense::Int8(l) => l.forward(x),
            Dense::Bf16(l) => l.forward(x),
        }
    }
}

/// The weight `[out, inp]` (bf16 kept as bf16) and bias `[out]` of the dense layer `prefix`
/// (`{prefix}.weight`, `{prefix}.bias`).
pub(crate) fn linear(
    w: &Weights,
    prefix: &str,
    out: usize,
    inp: usize,
) -> Result<(Matrix, Vec<f32>)> {
    Ok((
        w.matrix(&format!("{prefix}.weight"), out, inp)?,
        w.vec(&format!("{prefix}.bias"), out)?,
    ))
}

/// Gathers rows of an embedding table: `out[r] = table[ids[r]]`, `[ids.len(), width]`.
/// Ids must have been checked against the table size.
pub(crate) fn gather(table: &[f32], width: usize, ids: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * width);
    for &id in ids {
        out.extend_from_slice(&table[id * width..(id + 1) * width]);
    }
    out
}

/// Converts ids to indices, failing (not panicking) on any outside `0..limit`.
pub(crate) fn checked(values: &[i64], limit: usize, what: &str, field: &str) -> Result<Vec<usize>> {
    values
        .iter()
        .map(|&v| {
            if v >= 0 && (v as usize) < limit {
                Ok(v as usize)
            } else {
                Err(Error::backend(
                    BACKEND,
                    format!("{what} {v} is outside the model's {field} ({limit})"),
                ))
            }
        })
        .collect()
}
