//! A softmax over the last axis whose result for a row depends on the row's values alone, not
//! on where the row lies in memory: the same text gets the same vector in any batch.
//!
//! tract's own f32 softmax (`tract-linalg`'s `reduce_slice_with_alignment` under
//! `Softmax2`) splits each row into an unaligned prefix, an aligned body summed chunk by chunk
//! in SIMD lanes, and a suffix, each reduced on its own and then added. Where a row starts in
//! memory depends on its offset in the `[batch, heads, seq, seq]` attention scores, so on the
//! batch's padded length and the text's row number in it: the same text's sums of exponentials
//! group their terms otherwise in another batch, and its vector changes in the last bits (up
//! to 1e-7; 30 of 40 texts of the BERT fixture between alone and batches of 7).
//!
//! [`RowSoftmax`] takes the row's maximum (exact in any order), the exponentials one by one,
//! and adds them in row order from 0. Padding, masked to exponentials of exactly 0, adds
//! exactly 0 wherever it is (after the text with right padding, before it with left padding),
//! so a row's sum, and the text's vector, are the same at any padded length and offset.
//! [`replace_softmax`] swaps it in after optimisation for every f32 softmax over the last
//! axis.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{
    as_op, not_out_of_plan, op_as_typed_op, EvalContext, EvalOp, Op, TypedOp,
};
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};
use tract_onnx::tract_hir::internal::StaticName;

/// f32 softmax over the last axis, summed in row order.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(crate) struct RowSoftmax;

impl Op for RowSoftmax {
    fn name(&self) -> StaticName {
        "TitlesimRowSoftmax".into()
    }

    op_as_typed_op!();
}

/// Softmax of each row of `len` values of `data`, in place.
pub(crate) fn softmax_rows(data: &mut [f32], len: usize) {
    if len == 0 {
        return;
    }
    for row in data.chunks_exact_mut(len) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            // A row masked whole with -inf (a padding token's own row in some exports): zero
            // weights rather than the NaN of -inf - -inf, which a product with it would spread.
            row.fill(0.0);
            continue;
        }
        let mut sum = 0f32;
        for x in row.iter_mut() {
            *x = (*x - max).exp();
            sum += *x;
        }
        let inv = sum.recip();
        for x in row.iter_mut() {
            *x *= inv;
        }
    }
}

impl EvalOp for RowSoftmax {
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, mut inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut t = inputs.remove(0).into_tensor();
        let len = *t.shape().last().unwrap_or(&1);
        {
            let mut plain = t.try_as_plain_ram_mut()?;
            softmax_rows(plain.as_slice_mut::<f32>()?, len);
        }
        Ok(tvec!(t.into_tvalue()))
    }
}

impl TypedOp for RowSoftmax {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    as_op!();
}

/// Replaces every f32 softmax over the last axis with [`RowSoftmax`]; returns how many.
pub(crate) fn replace_softmax(model: &mut TypedModel) -> TractResult<usize> {
    let mut todo = Vec::new();
    for node in model.nodes() {
        let Some(sm) = node.op_as::<Softmax>() else {
            continue;
        };
        if sm.kind != SoftmaxKind::Softmax || sm.quant_output_dt.is_some() || node.inputs.len() != 1
        {
            continue;
        }
        let fact = model.outlet_fact(node.inputs[0])?;
        if fact.datum_type != f32::datum_type() || sm.axes.as_slice() != [fact.rank() - 1] {
            continue;
        }
        todo.push(node.id);
    }
    for id in &todo {
        model.node_mut(*id).op = Box::new(RowSoftmax);
    }
    Ok(todo.len())
}

#[cfg(test)]
mod tests {
    use super::softmax_rows;

    #[test]
    fn a_row_gets_the_same_bits_whatever_its_padding_and_offset() {
        let text: Vec<f32> = (0..23)
            .map(|i| ((i * 37) % 11) as f32 * 0.37 - 1.3)
            .collect();
        let alone = {
            let mut v = text.clone();
            softmax_rows(&mut v, text.len());
            v
        };
        assert!((alone.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for (front, back, rows_before) in [(0, 9, 0), (0, 41, 3), (5, 0, 1), (17, 8, 2)] {
            let len = front + text.len() + back;
            let mut data = vec![0.5f32; rows_before * len];
            data.extend(std::iter::repeat_n(-10000.0f32, front));
            data.extend(&text);
            data.extend(std::iter::repeat_n(-10000.0f32, back));
            softmax_rows(&mut data, len);
            let row = &data[rows_before * len..][..len];
            assert!(row[..front]
                .iter()
                .chain(&row[front + text.len()..])
                .all(|&x| x == 0.0));
            let got = &row[front..front + text.len()];
            assert!(
                got.iter()
                    .zip(&alone)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "padding {front}+{back}, row {rows_before}"
            );
        }
        let mut masked = vec![f32::NEG_INFINITY; 5];
        softmax_rows(&mut masked, 5);
        assert_eq!(masked, [0.0; 5]);
    }
}
