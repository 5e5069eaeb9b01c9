//! # titlesim-tract
//!
//! The tract backend of titlesim: runs a model's ONNX export with [tract](https://github.com/sonos/tract),
//! in pure Rust (no native library, strong on ARM).
//!
//! - **Model file**: the configured `onnx` file, else the folder's `onnx/model.onnx` or
//!   `model.onnx` ([`titlesim_onnx::onnx_model_path`]); external-data files next to the
//!   graph are read too. Feed plain exports: graphs already optimised by ONNX Runtime contain
//!   `com.microsoft` operators tract does not have.
//! - **Inputs and output**: mapped by name, as described in [`titlesim_onnx`].
//! - **Dimensions**: batch and sequence stay symbolic, with the model's *own* symbol names (as
//!   declared in the file), so one optimised plan serves every batch shape. Text-generation
//!   exports with `past_key_values.*` inputs get their past length bound to 0 at load.
//! - **Constant folding**: tract leaves constants above 4 MiB unfolded; exports that store
//!   weights as int8 and cast them to f32 in the graph would then re-cast every weight on every
//!   call (measured in benches/README.md). At load this backend folds every
//!   computation on constants whose large inputs have no other consumer, once.
//! - **Additions**: f32 `Add`s that tract leaves generic under symbolic dimensions (residuals,
//!   the attention mask) are swapped after optimisation for a contiguous-loop version
//!   (`src/fast_add.rs`).
//! - **Threads**: with the cargo feature `multithread` (on by default; tract-linalg's
//!   `multithread-mm`), a model runs on its own pool of [`BackendOptions::threads`] threads
//!   (default: all cores), so no more than the budget computes. Built without it, a model
//!   runs on one thread and a budget above one is refused at load. A batch of several texts
//!   is cut into one part per thread, each part run single-threaded on its own pool thread
//!   (tract runs element-wise operations on one thread, so splitting the batch scales better
//!   than splitting each matrix product); a single text runs on a pool thread with its matrix
//!   products split over the pool, from 16 output tiles (tract-linalg's process-wide
//!   threshold, 64 by default, is lowered at load unless someone else changed it), while the
//!   other threads spin for work through the pass ([`BackendOptions::spin`], on by default)
//!   instead of sleeping between its products.
//! - **Same text, same vector**: a text's vector does not depend on the batch it comes in, bit
//!   for bit. tract's own softmax sums a row's exponentials in groups set by the row's memory
//!   alignment, which moves with the batch's padded length and the text's place in it; after
//!   optimisation every f32 softmax over the last axis is swapped for one that sums in row
//!   order (`src/row_softmax.rs`, which explains the cause).
//! - **x86 vector state**: tract's assembly matrix kernels leave the AVX registers' upper
//!   halves dirty, which slows every SSE instruction after them on Intel CPUs (half of the
//!   plan's time on all-MiniLM); the plan runs with a `vzeroupper` after each operation
//!   (`src/vector_state.rs`).
//! - **Concurrency**: the optimised plan is shared; each call runs in its own state. On a
//!   model with a pool, passes take turns (each uses the whole pool): tract's matrix products
//!   keep their scratch space in a thread-local cell that two passes on one pool thread
//!   would borrow twice.
//! - **`TRACT_CPU_ISA`**: tract-linalg's variable editing the instruction sets it picks kernels
//!   for is checked at load (`src/isa.rs`): a feature of another architecture, on which tract
//!   would panic, and a name tract does not know, which it would ignore, are refused with an
//!   error naming the token.
#![deny(missing_docs)]

mod compat;
mod fast_add;
mod isa;
mod row_softmax;
mod vector_state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use titlesim_core::{Backend, BackendOptions, BackendOutput, Error, ModelSpec, Result, TokenBatch};
use titlesim_onnx::{
    onnx_model_path, onnx_source_files, Feed, InputRole, OnnxDim, OnnxIo, OnnxTensor,
};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::source::TypedSource;
use tract_onnx::tract_core::optim::CONST_FOLD_MEM_BUDGET;

#[cfg(feature = "multithread")]
use tract_linalg::multithread::{multithread_tract_scope, Executor};

const NAME: &str = "tract";

/// tract-linalg's own panel threshold (`set_threading_panel_threshold`'s default).
#[cfg(feature = "multithread")]
const TRACT_LINALG_PANEL_THRESHOLD: usize = 64;

/// The panel count (output tiles) from which tract-linalg splits a matrix product over the
/// pool, where its default is [`TRACT_LINALG_PANEL_THRESHOLD`]. A title's products have few
/// panels: all-MiniLM's 384×384 projection of 16 tokens has 36 of its 64×3 tiles, so at 64 it
/// ran on one thread while the other waited. With the other threads spinning (a hand-over costs little), splitting from
/// 16 made a title 1.3× faster (benches/README.md, 2026-12-06).
#[cfg(feature = "multithread")]
const PANEL_THRESHOLD: usize = 16;

/// Sets tract-linalg's process-wide panel threshold to [`PANEL_THRESHOLD`] unless it is no
/// longer tract-linalg's default (someone in the process chose their own).
#[cfg(feature = "multithread")]
fn lower_panel_threshold() {
    use tract_linalg::multithread::{
        current_threading_panel_threshold, set_threading_panel_threshold,
    };
    if current_threading_panel_threshold() == TRACT_LINALG_PANEL_THRESHOLD {
        set_threading_panel_threshold(PANEL_THRESHOLD);
    }
}

/// The threads a model runs on: the budget asked for (default: all `cores`) with the
/// `multithread` feature; without it one, and a budget above one is refused rather than
/// silently cut.
fn thread_budget(requested: Option<usize>, cores: usize, multithread: bool) -> Result<usize> {
    match requested {
        _ if multithread => Ok(requested.unwrap_or(cores).max(1)),
        Some(n) if n > 1 => Err(err(format!(
            "threads = {n}: this build of titlesim-tract runs on one thread (its `multithread` \
             feature, on by default, is off); ask for 1 thread or build with the default features"
        ))),
        _ => Ok(1),
    }
}

fn err(message: impl std::fmt::Display) -> Error {
    Error::backend(NAME, message)
}

/// Loads `spec` on tract with `opts`.
pub fn load(spec: &ModelSpec, opts: &BackendOptions) -> Result<Box<dyn Backend>> {
    Ok(Box::new(TractBackend::load(spec, opts)?))
}

type Plan = Arc<TypedRunnableModel>;

/// The time one node of the plan took (see [`TractBackend::profile`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTime {
    /// The node's name (from the ONNX graph, with tract's suffixes).
    pub node: String,
    /// Its operation, e.g. `OptMatMul` or `Softmax`.
    pub op: String,
    /// Wall time of its evaluation, in seconds.
    pub seconds: f64,
}

/// The tract backend: one optimised plan over one ONNX graph.
pub struct TractBackend {
    plan: Plan,
    /// The pool that runs the plan and its matrix products (`multithread`, threads > 1).
    #[cfg(feature = "multithread")]
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Passes on the pool take turns. tract keeps a matrix product's scratch space in a
    /// thread-local cell, borrowed for the whole product; a pool thread waiting inside a split
    /// product would otherwise steal another caller's pass and run a product on that cell
    /// again (a double borrow, a panic in tract, then an abort). Each pass uses the whole pool
    /// anyway, so turns cost concurrent callers little.
    #[cfg(feature = "multithread")]
    turns: std::sync::Mutex<()>,
    io: OnnxIo,
    model: PathBuf,
    files: Vec<PathBuf>,
    threads: usize,
    /// Whether a single text's pass keeps the pool's other threads spinning for work.
    spin: bool,
}

impl std::fmt::Debug for TractBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractBackend")
            .field("model", &self.model)
            .field("threads", &self.threads)
            .field("output", &self.io.output)
            .finish()
    }
}

fn dtype_name(dt: DatumType) -> String {
    format!("{dt:?}").to_ascii_lowercase()
}

fn dim(d: &TDim) -> OnnxDim {
    match d {
        TDim::Val(v) if *v >= 0 => OnnxDim::Fixed(*v as usize),
        other => OnnxDim::Symbol(other.to_string()),
    }
}

fn describe(name: &str, fact: &TypedFact) -> OnnxTensor {
    OnnxTensor::new(
        name,
        Some(fact.shape.iter().map(dim).collect()),
        dtype_name(fact.datum_type),
    )
}

/// Folds every node whose inputs are all constants, as long as each input larger than tract's
/// own folding budget has no other consumer (so no large weight is duplicated). Returns the
/// number of nodes folded.
fn fold_constants(model: &mut TypedModel) -> TractResult<usize> {
    let mut folded = 0;
    'outer: loop {
        for id in model.eval_order()? {
            let node = model.node(id);
            if node.inputs.is_empty() || node.op_is::<Const>() || node.op_is::<TypedSource>() {
                continue;
            }
            let facts = model.node_input_facts(id)?;
            let foldable = facts.iter().zip(&node.inputs).all(|(f, outlet)| {
                f.konst.is_some()
                    && (model.node(outlet.node).outputs[outlet.slot]
                        .successors
                        .len()
                        == 1
                        || f.mem_size()
                            .as_i64()
                            .is_some_and(|m| m as u64 <= CONST_FOLD_MEM_BUDGET))
            });
            if !foldable {
                continue;
            }
            let inputs: TVec<TValue> = facts
                .iter()
                .filter_map(|f| f.konst.clone())
                .map(|k| k.into_tvalue())
                .collect();
            let Ok(Some(outputs)) = node.op.eval_out_of_plan(inputs) else {
                continue;
            };
            let name = node.name.clone();
            drop(facts);
            let mut patch = TypedModelPatch::default();
            for (ix, t) in outputs.into_iter().enumerate() {
                let label = if ix == 0 {
                    name.clone()
                } else {
                    format!("{name}.{ix}")
                };
                let wire = patch.add_const(label, t.into_arc_tensor())?;
                patch.shunt_outside(model, OutletId::new(id, ix), wire)?;
            }
            patch.apply(model)?;
            folded += 1;
            continue 'outer;
        }
        break;
    }
    if folded > 0 {
        model.compact()?;
    }
    Ok(folded)
}

impl TractBackend {
    /// Loads and optimises the model's ONNX graph and maps its inputs and outputs.
    pub fn load(spec: &ModelSpec, opts: &BackendOptions) -> Result<Self> {
        Self::load_with(spec, opts, true)
    }

    /// [`TractBackend::load`], with tract's own softmax when `row_softmax` is false (to measure
    /// what the swap costs).
    fn load_with(spec: &ModelSpec, opts: &BackendOptions, row_softmax: bool) -> Result<Self> {
        opts.refuse_dtype(NAME)?;
        let path = onnx_model_path(NAME, spec, opts)?;
        let fail =
            |what: &str, e: &dyn std::fmt::Display| err(format!("{}: {what}: {e}", path.display()));
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let threads = thread_budget(opts.threads, cores, cfg!(feature = "multithread"))?;
        // tract reads TRACT_CPU_ISA when it optimises the first model: a feature of another
        // architecture would panic there, a misspelt one would be ignored.
        isa::check_env().map_err(err)?;
        if !cfg!(feature = "multithread") {
            opts.refuse_spin(NAME)?;
        }
        let spin = opts.spin.unwrap_or(true);

        // Declared output shapes are ignored: some exports name their dimensions with symbols
        // that cannot unify with the inputs' (`Identity463_dim_0` vs `batch_size`); tract infers
        // them from the graph instead. Input shapes keep the model's own symbol names.
        let model = std::panic::catch_unwind(|| {
            tract_onnx::onnx()
                .with_ignore_output_shapes(true)
                .model_for_path(&path)
        })
        .map_err(|_| fail("cannot read the ONNX model", &"tract panicked"))?
        .map_err(|e| fail("cannot read the ONNX model", &format!("{e:#}")))?;

        let mut model = model;
        compat::replace_flatten(&mut model);
        let mut typed = model
            .into_typed()
            .map_err(|e| fail("cannot type the graph", &format!("{e:#}")))?;

        let describe_all = |m: &TypedModel| -> TractResult<(Vec<OnnxTensor>, Vec<OnnxTensor>)> {
            let ins = m
                .input_outlets()?
                .iter()
                .map(|o| Ok(describe(&m.node(o.node).name, m.outlet_fact(*o)?)))
                .collect::<TractResult<Vec<_>>>()?;
            let outs = m
                .output_outlets()?
                .iter()
                .map(|o| {
                    let label = m
                        .outlet_label(*o)
                        .map(str::to_string)
                        .unwrap_or_else(|| m.node(o.node).name.clone());
                    Ok(describe(&label, m.outlet_fact(*o)?))
                })
                .collect::<TractResult<Vec<_>>>()?;
            Ok((ins, outs))
        };
        let (inputs, outputs) =
            describe_all(&typed).map_err(|e| fail("cannot read the graph", &e))?;
        let io = OnnxIo::plan(
            NAME,
            &path,
            spec,
            &inputs,
            &outputs,
            opts.onnx_output.as_deref(),
        )?;

        // Keep only the output we read: the rest of the graph (e.g. `present.*`) is pruned.
        let outlet = typed
            .output_outlets()
            .map_err(|e| fail("cannot read the graph", &e))?[io.output.index];
        typed
            .select_output_outlets(&[outlet])
            .map_err(|e| fail("cannot select the output", &e))?;

        // An empty past: bind its length symbol to 0 (the attention mask then covers the new
        // tokens only, e.g. `past_sequence_length + sequence_length` becomes `sequence_length`).
        if io.has_past() {
            let mut subs = HashMap::new();
            for p in &io.inputs {
                if let InputRole::Past { .. } = p.role {
                    let outlet = typed
                        .input_outlets()
                        .map_err(|e| fail("cannot read the graph", &e))?[p.index];
                    let fact = typed
                        .outlet_fact(outlet)
                        .map_err(|e| fail("cannot read the graph", &e))?;
                    match fact.shape.get(2) {
                        Some(TDim::Sym(s)) => {
                            subs.insert(s.clone(), TDim::Val(0));
                        }
                        Some(TDim::Val(0)) => {}
                        other => {
                            return Err(err(format!(
                                "{}: past input `{}` has past length {other:?}; expected a symbol to bind to 0",
                                path.display(),
                                p.name
                            )))
                        }
                    }
                }
            }
            if !subs.is_empty() {
                typed = typed
                    .set_symbols(&subs)
                    .map_err(|e| fail("cannot bind the past length to 0", &format!("{e:#}")))?;
            }
        }

        compat::guard_binary_ops(&mut typed)
            .map_err(|e| fail("cannot prepare the graph", &format!("{e:#}")))?;
        let mut typed = typed
            .into_decluttered()
            .map_err(|e| fail("cannot simplify the graph", &format!("{e:#}")))?;
        fold_constants(&mut typed).map_err(|e| fail("cannot fold constants", &format!("{e:#}")))?;
        let mut typed = typed
            .into_optimized()
            .map_err(|e| fail("cannot optimise the graph", &format!("{e:#}")))?;
        fast_add::speed_up_adds(&mut typed)
            .map_err(|e| fail("cannot prepare the graph", &format!("{e:#}")))?;
        // Same text, same vector in any batch: see `row_softmax`.
        if row_softmax {
            row_softmax::replace_softmax(&mut typed)
                .map_err(|e| fail("cannot prepare the graph", &format!("{e:#}")))?;
        }

        // One pool of `threads` threads runs both the plan and its matrix products: the
        // plan's serial parts run on a pool thread that then joins in the products, rather
        // than on the caller beside `threads` product threads (on a 2-core machine that was
        // three busy threads, the idle ones spinning while the caller ran element-wise ops).
        // The plan carries no executor of its own: each run sets one (see `run_batch`).
        #[cfg(feature = "multithread")]
        let pool = if threads > 1 {
            lower_panel_threshold();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("titlesim-tract-{i}"))
                .build()
                .map_err(|e| err(format!("cannot start {threads} threads: {e}")))?;
            Some(Arc::new(pool))
        } else {
            None
        };
        let plan = typed
            .into_runnable()
            .map_err(|e| fail("cannot make a plan", &format!("{e:#}")))?;
        Ok(TractBackend {
            plan,
            #[cfg(feature = "multithread")]
            pool,
            #[cfg(feature = "multithread")]
            turns: std::sync::Mutex::new(()),
            io,
            files: onnx_source_files(&path),
            model: path,
            threads,
            spin,
        })
    }

    /// How the graph is fed and read.
    pub fn io(&self) -> &OnnxIo {
        &self.io
    }

    /// The ONNX file in use.
    pub fn model_file(&self) -> &Path {
        &self.model
    }

    /// Operations of the plan that recompute something from constants alone on every call,
    /// reading more than 1 MiB of constants (e.g. an int8 weight cast to f32). Folding at load
    /// leaves none.
    pub fn heavy_constant_ops(&self) -> Vec<String> {
        let model = self.plan.model();
        model
            .nodes()
            .iter()
            .filter(|n| !n.inputs.is_empty() && !n.op_is::<Const>())
            .filter(|n| {
                let consts: Option<Vec<usize>> = n
                    .inputs
                    .iter()
                    .map(|o| {
                        model
                            .node(o.node)
                            .op_as::<Const>()
                            .map(|k| k.val().volume() * k.val().datum_type().size_of())
                    })
                    .collect();
                consts.is_some_and(|sizes| sizes.iter().sum::<usize>() > 1 << 20)
            })
            .map(|n| format!("{} ({})", n.name, n.op.name()))
            .collect()
    }

    fn run_failed(&self, e: &dyn std::fmt::Display) -> Error {
        err(format!("{}: run failed: {e}", self.model.display()))
    }

    /// The plan's inputs for `batch`, in the graph's order.
    fn inputs(&self, batch: &TokenBatch) -> Result<TVec<TValue>> {
        let mut inputs: TVec<TValue> = TVec::with_capacity(self.io.inputs.len());
        for p in &self.io.inputs {
            let t = match p.feed(batch) {
                Feed::Int64 { shape, data } => Tensor::from_shape(&shape, data),
                Feed::Empty { shape } => Tensor::zero::<f32>(&shape),
            }
            .map_err(|e| self.run_failed(&format!("input `{}`: {e}", p.name)))?;
            inputs.push(t.into_tvalue());
        }
        Ok(inputs)
    }

    /// Runs `batch` with the whole budget. A batch of two texts or more is cut into one part
    /// per thread (at most one per text), each run single-threaded on its own pool thread:
    /// every operation then runs in parallel, where splitting each matrix product leaves the
    /// element-wise ones (softmax, GELU, normalisation) on one thread and pays a hand-over per
    /// product (the measured gain is in benches/README.md). A single text runs whole, its
    /// matrix products split over the pool.
    fn run_batch(&self, batch: &TokenBatch) -> Result<(Vec<usize>, Vec<f32>)> {
        #[cfg(feature = "multithread")]
        if let Some(pool) = &self.pool {
            let parts = self.threads.min(batch.batch_size);
            if parts >= 2 {
                return self.run_parts(batch, parts);
            }
            return multithread_tract_scope(Executor::MultiThread(pool.clone()), || {
                let helpers = if self.spin { self.threads - 1 } else { 0 };
                titlesim_core::spin::run_spinning(helpers, || self.run_once(batch))
            });
        }
        self.run_once(batch)
    }

    /// Runs `batch` in `parts` contiguous row ranges side by side, single-threaded each, and
    /// concatenates their outputs along the batch axis.
    #[cfg(feature = "multithread")]
    fn run_parts(&self, batch: &TokenBatch, parts: usize) -> Result<(Vec<usize>, Vec<f32>)> {
        use rayon::prelude::*;
        let n = batch.batch_size;
        let outs = (0..parts)
            .into_par_iter()
            .map(|i| {
                let part = batch.rows(i * n / parts..(i + 1) * n / parts);
                multithread_tract_scope(Executor::SingleThread, || self.run_once(&part))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut shape = outs[0].0.clone();
        let mut data = Vec::with_capacity(outs.iter().map(|o| o.1.len()).sum());
        let mut rows = 0;
        for (i, (s, d)) in outs.into_iter().enumerate() {
            if s.is_empty() || s[1..] != shape[1..] {
                return Err(self.run_failed(&format!(
                    "part {i} of the batch returned shape {s:?}, part 0 {shape:?}"
                )));
            }
            rows += s[0];
            data.extend(d);
        }
        shape[0] = rows;
        Ok((shape, data))
    }

    /// Runs the plan once on `batch` with the executor already in scope.
    fn run_once(&self, batch: &TokenBatch) -> Result<(Vec<usize>, Vec<f32>)> {
        let inputs = self.inputs(batch)?;
        // tract panics on some inputs a graph does not expect (a Gather index past its table,
        // for one): that is this batch's error, not the caller's crash.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.plan
                .spawn()
                .and_then(|mut state| state.run_plan_with_eval(inputs, vector_state::eval_node))
        }));
        let out = match run {
            Ok(r) => r.map_err(|e| self.run_failed(&format!("{e:#}")))?,
            Err(panic) => {
                return Err(self.run_failed(&format!(
                    "tract panicked: {}",
                    titlesim_core::panic_message(&*panic)
                )));
            }
        };
        self.read_output(out)
    }

    /// The shape and values of the plan's one output.
    fn read_output(&self, mut out: TVec<TValue>) -> Result<(Vec<usize>, Vec<f32>)> {
        if out.is_empty() {
            return Err(self.run_failed(&"no output"));
        }
        let t = out.remove(0).into_tensor();
        let data = t
            .try_as_plain_ram()
            .and_then(|v| v.as_slice::<f32>().map(<[f32]>::to_vec))
            .map_err(|e| self.run_failed(&format!("output `{}`: {e}", self.io.output.name)))?;
        Ok((t.shape().to_vec(), data))
    }

    /// Runs `f` on the model's pool when it has one (so the plan and its products share the
    /// budget), else on the caller.
    fn on_pool<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        #[cfg(feature = "multithread")]
        if let Some(pool) = &self.pool {
            // A pass that panicked left nothing behind the lock to repair.
            let _turn = self
                .turns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            return pool.install(f);
        }
        f()
    }

    /// Runs the plan once on `batch` and times every node, in the order they ran: for finding
    /// where a model spends its time on this backend (the `bench` example sums them per
    /// operation).
    pub fn profile(&self, batch: &TokenBatch) -> Result<Vec<NodeTime>> {
        let inputs = self.inputs(batch)?;
        let run = || {
            let mut times = Vec::new();
            let mut state = self.plan.spawn().map_err(|e| self.run_failed(&e))?;
            state
                .run_plan_with_eval(inputs, |ctx, st, node, input| {
                    let t = std::time::Instant::now();
                    let out = vector_state::eval_node(ctx, st, node, input);
                    times.push(NodeTime {
                        node: node.name.clone(),
                        op: node.op.name().to_string(),
                        seconds: t.elapsed().as_secs_f64(),
                    });
                    out
                })
                .map_err(|e| self.run_failed(&format!("{e:#}")))?;
            Ok(times)
        };
        #[cfg(feature = "multithread")]
        if let Some(pool) = &self.pool {
            return self
                .on_pool(|| multithread_tract_scope(Executor::MultiThread(pool.clone()), run));
        }
        run()
    }

    /// Threads used for matrix products (1 unless built with the `multithread` feature).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Whether a single text's pass keeps the pool's other threads spinning for work
    /// ([`BackendOptions::spin`], default true; false on one thread, where none is idle).
    pub fn spins(&self) -> bool {
        self.spin && self.threads > 1
    }
}

impl Backend for TractBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn variant(&self) -> Option<String> {
        // Another output than the default one is another vector: a store or log of one is
        // not the other's.
        self.io.output.variant()
    }

    fn forward(&self, batch: &TokenBatch) -> Result<BackendOutput> {
        let (shape, data) = self.on_pool(|| self.run_batch(batch))?;
        self.io.output(NAME, batch, &shape, data)
    }

    fn source_files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use titlesim_core::{EmbedOptions, TransformerEmbedder};
    use titlesim_test_support::{real_model, threads, workspace};

    /// With `multithread` the budget asked for, else all cores; without it one thread, and a
    /// larger budget is an error naming the feature.
    #[test]
    fn the_thread_budget_follows_the_multithread_feature() {
        assert_eq!(thread_budget(None, 8, true).unwrap(), 8);
        assert_eq!(thread_budget(Some(3), 8, true).unwrap(), 3);
        assert_eq!(thread_budget(Some(0), 8, true).unwrap(), 1);
        assert_eq!(thread_budget(None, 8, false).unwrap(), 1);
        assert_eq!(thread_budget(Some(1), 8, false).unwrap(), 1);
        let e = thread_budget(Some(2), 8, false).unwrap_err().to_string();
        assert!(
            e.contains("threads = 2") && e.contains("`multithread`"),
            "{e}"
        );
    }

    /// After every operation the AVX registers' upper halves are clean (see `vector_state`),
    /// where tract's own evaluation leaves them dirty after its assembly matrix kernels. x86_64
    /// CPUs that cannot report the register state (no `XGETBV` with `ECX = 1`) skip it.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_operation_leaves_the_vector_registers_upper_halves_clean() {
        use titlesim_core::TextTokenizer;
        use titlesim_test_support::{fixture, strings};
        if vector_state::upper_halves_in_use().is_none() {
            eprintln!("skipped: this CPU does not report its register state");
            return;
        }
        let spec = ModelSpec::from_folder("tiny-bert-mean", &fixture("tiny-bert-mean")).unwrap();
        let backend = TractBackend::load(&spec, &threads(1)).unwrap();
        let tok = TextTokenizer::from_spec(&spec).unwrap();
        let encoded = tok
            .encode(&strings(&[
                "red shoes",
                "a blue cotton shirt for men",
                "mug",
            ]))
            .unwrap();
        let (_, batch) = tok.batches(&encoded, 3).remove(0);
        // The operations after which the upper halves are in use, evaluated with or without
        // the clean-up.
        let dirty_after = |clean: bool| {
            let mut dirty = Vec::new();
            let mut state = backend.plan.spawn().unwrap();
            state
                .run_plan_with_eval(backend.inputs(&batch).unwrap(), |ctx, st, node, input| {
                    let out = if clean {
                        vector_state::eval_node(ctx, st, node, input)
                    } else {
                        tract_onnx::tract_core::plan::eval(ctx, st, node, input)
                    };
                    if vector_state::upper_halves_in_use() == Some(true) {
                        dirty.push(format!("{} ({})", node.name, node.op.name()));
                    }
                    out
                })
                .unwrap();
            dirty
        };
        let raw = dirty_after(false);
        assert!(
            raw.iter().any(|n| n.contains("MatMul")),
            "tract's own evaluation left no matrix product dirty ({raw:?}): this check cannot \
             see what it guards against on this CPU"
        );
        let cleaned = dirty_after(true);
        assert!(
            cleaned.is_empty(),
            "{} operations left the upper halves in use, the first: {:?}",
            cleaned.len(),
            &cleaned[..cleaned.len().min(3)]
        );
    }

    /// What the row-order softmax costs beside tract's own on all-MiniLM-L6-v2: 1,000 titles of
    /// `data/bench_titles.txt`, batch 32, one thread, the two interleaved, best of 5. A
    /// measurement, not a check: `cargo test --workspace --all-features --lib softmax_cost --
    /// --ignored --nocapture` (in the test profile this crate is built at opt-level 1, its
    /// dependencies at 3, so the row softmax's cost is overstated).
    #[test]
    #[ignore = "a measurement on a real model: run with --ignored --nocapture"]
    fn softmax_cost_on_all_minilm() {
        let dir = real_model("all-MiniLM-L6-v2");
        let spec = ModelSpec::from_folder("all-MiniLM-L6-v2", &dir).unwrap();
        let titles: Vec<String> =
            std::fs::read_to_string(workspace().join("data/bench_titles.txt"))
                .unwrap()
                .lines()
                .take(1000)
                .map(str::to_string)
                .collect();
        let make = |row: bool| {
            let b = TractBackend::load_with(&spec, &threads(1), row).unwrap();
            TransformerEmbedder::new(spec.clone(), Box::new(b), EmbedOptions { batch_size: 32 })
                .unwrap()
        };
        let (row, native) = (make(true), make(false));
        row.embed_blocking(&titles[..64]).unwrap();
        native.embed_blocking(&titles[..64]).unwrap();
        let (mut t_row, mut t_native) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..5 {
            let t = Instant::now();
            row.embed_blocking(&titles).unwrap();
            t_row = t_row.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            native.embed_blocking(&titles).unwrap();
            t_native = t_native.min(t.elapsed().as_secs_f64());
        }
        let n = titles.len() as f64;
        println!(
            "batch 32, 1 thread: row-order softmax {:.3} ms/title, tract's softmax {:.3} ms/title: ratio {:.3}",
            t_row * 1e3 / n,
            t_native * 1e3 / n,
            t_row / t_native
        );
    }
}
