//! Work-arounds for tract 0.23 on PyTorch exports with symbolic batch and sequence dimensions.
//!
//! transformers 5 exports build the attention mask by flattening the `[batch, sequence]` mask
//! and gathering from it at `batch_index * sequence_length + position`. tract trips twice on
//! that with both dimensions symbolic:
//! - its `Flatten` refuses inputs with more than one symbolic dimension ("Can not compute a
//!   shape with square of symbols"), though a product of symbols is a fine `TDim`;
//! - decluttering a `Mul` by a symbolic scalar (`sequence_length`) tries to read the scalar as a
//!   number ("Undetermined symbol in expression: sequence_length").
//! - an `And` of the mask with a tensor that is uniformly `true` but broadcasts the result to a
//!   larger shape (the causal part `position >= 0` of `[1, 1, sequence, 1]`) is simplified away
//!   together with the broadcast, so the output no longer has its declared shape.
//!
//! [`replace_flatten`] swaps in a `Flatten` without the restriction, and [`guard_binary_ops`]
//! hides such inputs behind an identity tract cannot see through (the value is computed at run
//! time, when the symbols are known).

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{
    as_op, not_out_of_plan, op_as_typed_op, EvalContext, EvalOp, Op, TypedOp,
};
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::math::Mul;
use tract_onnx::tract_hir;
use tract_onnx::tract_hir::infer::ShapeFactoid;
use tract_onnx::tract_hir::internal::{
    expand, Expansion, InferenceResult, Solver, StaticName, TensorProxy,
};

/// ONNX `Flatten`, for any number of symbolic dimensions.
///
/// tract's own refuses inputs with more than one symbolic dimension ("Can not compute a shape
/// with square of symbols"), which PyTorch's BERT exports hit: their attention-mask code
/// flattens the `[batch, sequence]` mask. A product of symbols is a fine `TDim`.
#[derive(Debug, Clone)]
struct SymbolicFlatten {
    axis: i64,
}

impl SymbolicFlatten {
    fn compute_shape(&self, shape: &[TDim]) -> TractResult<[TDim; 2]> {
        let rank = shape.len() as i64;
        let axis = if self.axis >= 0 {
            self.axis
        } else {
            self.axis + rank
        };
        if axis < 0 || axis > rank {
            return Err(TractError::msg(format!(
                "Flatten axis {} out of range for rank {rank}",
                self.axis
            )));
        }
        let axis = axis as usize;
        Ok([
            shape[..axis].iter().cloned().product::<TDim>(),
            shape[axis..].iter().cloned().product::<TDim>(),
        ])
    }
}

impl Expansion for SymbolicFlatten {
    fn name(&self) -> StaticName {
        "Flatten".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let [a, b] = self.compute_shape(&shape)?;
            s.equals(&outputs[0].shape, ShapeFactoid::from(vec![a, b]))
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let input_shape = model.outlet_fact(inputs[0])?.shape.to_tvec();
        let output_shape = self.compute_shape(&input_shape)?;
        let mut wire = tvec!(inputs[0]);
        for (ix, op) in tract_onnx::tract_core::ops::change_axes::to_axis_ops_with_tf_rules(
            &input_shape,
            &output_shape,
        )?
        .into_iter()
        .enumerate()
        {
            wire = model.wire_node(format!("{prefix}.{ix}"), op, &wire)?;
        }
        Ok(wire)
    }
}

/// Swaps tract's `Flatten` for [`SymbolicFlatten`]; returns how many were swapped.
pub(crate) fn replace_flatten(model: &mut InferenceModel) -> usize {
    let mut n = 0;
    for node in model.nodes_mut() {
        let axis = node
            .op_as::<Box<dyn Expansion>>()
            .and_then(|e| e.as_any().downcast_ref::<tract_hir::ops::array::Flatten>())
            .map(|f| f.axis);
        if let Some(axis) = axis {
            node.op = expand(SymbolicFlatten { axis });
            n += 1;
        }
    }
    n
}

/// Identity whose output facts carry no value: tract's optimiser cannot fold or inspect it.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Opaque;

impl Op for Opaque {
    fn name(&self) -> StaticName {
        "TitlesimOpaque".into()
    }

    op_as_typed_op!();
}

impl EvalOp for Opaque {
    not_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(inputs)
    }
}

impl TypedOp for Opaque {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].datum_type.fact(inputs[0].shape.clone())))
    }

    as_op!();
}

fn has_symbolic_tdim(fact: &TypedFact) -> bool {
    [fact.konst.as_deref(), fact.uniform.as_deref()]
        .into_iter()
        .flatten()
        .any(|t| {
            t.datum_type() == TDim::datum_type()
                && t.try_as_plain_ram()
                    .ok()
                    .and_then(|v| {
                        v.as_slice::<TDim>()
                            .ok()
                            .map(|s| s.iter().any(|d| d.to_i64().is_err()))
                    })
                    .unwrap_or(false)
        })
}

/// Whether `fact` is a computed uniform value (known or symbolic) that could be simplified away.
fn is_uniform(fact: &TypedFact) -> bool {
    fact.konst.is_none() && (fact.uniform.is_some() || fact.uniform_tdim.is_some())
}

/// Whether input `a` gives the output of a broadcasting binary op a dimension that `b` lacks.
fn widens(a: &TypedFact, b: &TypedFact) -> bool {
    let (ra, rb) = (a.rank(), b.rank());
    let rank = ra.max(rb);
    (0..rank).any(|i| {
        let da = if i + ra >= rank {
            Some(&a.shape[i + ra - rank])
        } else {
            None
        };
        let db = if i + rb >= rank {
            Some(&b.shape[i + rb - rank])
        } else {
            None
        };
        match (da, db) {
            (Some(da), Some(db)) => !da.is_one() && db.is_one(),
            (Some(da), None) => !da.is_one(),
            _ => false,
        }
    })
}

/// Puts an [`Opaque`] identity in front of binary-op inputs that tract would mishandle: a
/// symbolic `TDim` constant read by a `Mul`, and a uniform input that widens the output by
/// broadcasting. Returns how many were inserted.
pub(crate) fn guard_binary_ops(model: &mut TypedModel) -> TractResult<usize> {
    let mut todo = Vec::new();
    for node in model.nodes() {
        let Some(bin) = node.op_as::<TypedBinOp>() else {
            continue;
        };
        if node.inputs.len() != 2 {
            continue;
        }
        let facts = [
            model.outlet_fact(node.inputs[0])?,
            model.outlet_fact(node.inputs[1])?,
        ];
        for slot in 0..2 {
            let (me, other) = (facts[slot], facts[1 - slot]);
            let symbolic_mul = bin.0.is::<Mul>() && has_symbolic_tdim(me);
            let widening_uniform = is_uniform(me) && widens(me, other);
            if symbolic_mul || widening_uniform {
                todo.push((node.id, slot, node.inputs[slot]));
            }
        }
    }
    for (node, slot, input) in &todo {
        let name = format!("{}.titlesim-opaque-{slot}", model.node(*node).name);
        let wire = model.wire_node(name, Opaque, &[*input])?[0];
        model.add_edge(wire, InletId::new(*node, *slot))?;
    }
    Ok(todo.len())
}
