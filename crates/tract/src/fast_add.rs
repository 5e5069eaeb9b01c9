//! A faster f32 `Add` for the plan's residual and attention-mask additions.
//!
//! With symbolic batch and sequence dimensions tract cannot prove these additions large enough
//! for its vectorised binary ops, so they stay generic `TypedBinOp(Add)`: a call through a
//! function pointer per element, and an ndarray broadcast for the mask (`[batch, 12, seq, seq]
//! + [batch, 1, seq, seq]`), a measurable share of a batch's time (`PROFILE=1` of the
//! `tract_bench` example; figures in benches/README.md). [`FastAdd`] does the same sum with
//! one contiguous loop per run of equal trailing dimensions, in place when the wider input is
//! not shared. [`speed_up_adds`] swaps it in after optimisation for the additions it can take.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{
    as_op, not_out_of_plan, op_as_typed_op, EvalContext, EvalOp, Op, TypedOp,
};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::math::Add;
use tract_onnx::tract_hir::internal::StaticName;

/// f32 `a + b` where one input (`wide`) has the output's shape and the other broadcasts into
/// it (same rank, each dimension equal to the wide one's or 1).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(crate) struct FastAdd {
    /// Which input has the output's shape (0 or 1).
    wide: usize,
}

impl Op for FastAdd {
    fn name(&self) -> StaticName {
        "TitlesimFastAdd".into()
    }

    op_as_typed_op!();
}

/// `wide += narrow`, `narrow` broadcast over the dimensions where it is 1.
fn add_broadcast(wide: &mut [f32], shape: &[usize], narrow: &[f32], nshape: &[usize]) {
    let rank = shape.len();
    // The trailing dimensions both share form one contiguous run in each input.
    let mut k = rank;
    while k > 0 && shape[k - 1] == nshape[k - 1] {
        k -= 1;
    }
    let inner: usize = shape[k..].iter().product();
    if inner == 0 {
        return;
    }
    // Strides of `narrow` over the outer dimensions (0 where it broadcasts).
    let mut strides = vec![0usize; k];
    let mut s = inner;
    for i in (0..k).rev() {
        if nshape[i] != 1 {
            strides[i] = s;
        }
        s *= nshape[i];
    }
    let mut index = vec![0usize; k];
    let mut offset = 0usize;
    for chunk in wide.chunks_exact_mut(inner) {
        for (x, y) in chunk.iter_mut().zip(&narrow[offset..offset + inner]) {
            *x += *y;
        }
        // Next outer index, odometer style.
        for i in (0..k).rev() {
            index[i] += 1;
            offset += strides[i];
            if index[i] < shape[i] {
                break;
            }
            offset -= strides[i] * index[i];
            index[i] = 0;
        }
    }
}

impl EvalOp for FastAdd {
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (mut wide, mut narrow) = (inputs[self.wide].clone(), inputs[1 - self.wide].clone());
        drop(inputs);
        // Equal shapes: add into whichever input nobody else holds, copying only when both are.
        if wide.shape() == narrow.shape() && !wide.is_exclusive() && narrow.is_exclusive() {
            std::mem::swap(&mut wide, &mut narrow);
        }
        let shape = wide.shape().to_vec();
        let nshape = narrow.shape().to_vec();
        if shape.len() != nshape.len() || shape.iter().zip(&nshape).any(|(a, b)| a != b && *b != 1)
        {
            return Err(TractError::msg(format!(
                "TitlesimFastAdd: cannot broadcast {nshape:?} into {shape:?}"
            )));
        }
        let mut out = wide.into_tensor();
        {
            let b = narrow.try_as_plain_ram()?;
            let b = b.as_slice::<f32>()?;
            let mut a = out.try_as_plain_ram_mut()?;
            add_broadcast(a.as_slice_mut::<f32>()?, &shape, b, &nshape);
        }
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for FastAdd {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[self.wide].shape.clone())))
    }

    as_op!();
}

/// Which input of an f32 `a + b` has the output's shape, when the other broadcasts into it
/// along whole dimensions and the last dimension is shared (so each contiguous run is at least
/// one row long); `None` for additions [`FastAdd`] does not take.
fn wide_input(a: &TypedFact, b: &TypedFact) -> Option<usize> {
    if a.datum_type != f32::datum_type() || b.datum_type != f32::datum_type() {
        return None;
    }
    if a.rank() != b.rank() || a.rank() == 0 {
        return None;
    }
    let last = a.rank() - 1;
    if a.shape[last] != b.shape[last] || a.shape[last].is_one() {
        return None;
    }
    let fits = |w: &TypedFact, n: &TypedFact| {
        w.shape
            .iter()
            .zip(n.shape.iter())
            .all(|(dw, dn)| dw == dn || dn.is_one())
    };
    if fits(a, b) {
        Some(0)
    } else if fits(b, a) {
        Some(1)
    } else {
        None
    }
}

/// Replaces the f32 additions [`FastAdd`] can take; returns how many.
pub(crate) fn speed_up_adds(model: &mut TypedModel) -> TractResult<usize> {
    let mut todo = Vec::new();
    for node in model.nodes() {
        let Some(bin) = node.op_as::<TypedBinOp>() else {
            continue;
        };
        if !bin.0.is::<Add>() || bin.1.is_some() || node.inputs.len() != 2 {
            continue;
        }
        let a = model.outlet_fact(node.inputs[0])?;
        let b = model.outlet_fact(node.inputs[1])?;
        if let Some(wide) = wide_input(a, b) {
            todo.push((node.id, wide));
        }
    }
    for (id, wide) in &todo {
        model.node_mut(*id).op = Box::new(FastAdd { wide: *wide });
    }
    Ok(todo.len())
}

#[cfg(test)]
mod tests {
    use super::add_broadcast;

    /// The reference: every element of `wide` plus the broadcast element of `narrow`.
    fn naive(wide: &[f32], shape: &[usize], narrow: &[f32], nshape: &[usize]) -> Vec<f32> {
        let mut out = wide.to_vec();
        for (i, x) in out.iter_mut().enumerate() {
            let mut rest = i;
            let mut offset = 0;
            let mut stride = 1;
            for d in (0..shape.len()).rev() {
                let ix = rest % shape[d];
                rest /= shape[d];
                if nshape[d] != 1 {
                    offset += ix * stride;
                }
                stride *= nshape[d];
            }
            *x += narrow[offset];
        }
        out
    }

    #[test]
    fn broadcasts_like_numpy() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[2, 3, 4], &[2, 3, 4]),
            (&[2, 12, 5, 5], &[2, 1, 5, 5]),
            (&[3, 5, 4], &[1, 5, 4]),
            (&[2, 3, 4], &[2, 1, 4]),
            (&[2, 3, 4], &[1, 1, 4]),
            (&[4, 3, 2, 6], &[4, 1, 2, 6]),
            (&[0, 3, 4], &[0, 1, 4]),
            (&[7], &[7]),
        ];
        for (shape, nshape) in cases {
            let n: usize = shape.iter().product();
            let m: usize = nshape.iter().product();
            let wide: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let narrow: Vec<f32> = (0..m).map(|i| 1000.0 + i as f32).collect();
            let want = naive(&wide, shape, &narrow, nshape);
            let mut got = wide.clone();
            add_broadcast(&mut got, shape, &narrow, nshape);
            assert_eq!(got, want, "{shape:?} + {nshape:?}");
        }
    }
}
