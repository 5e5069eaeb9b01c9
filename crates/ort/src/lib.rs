//! # titlesim-ort
//!
//! The ONNX Runtime backend of titlesim: runs a model's ONNX export through the [`ort`] crate.
//! The ONNX Runtime library is loaded at run time (see [`library`] for where it is looked for);
//! nothing is downloaded at build time.
//!
//! - **Model file**: the configured `onnx` file, else the folder's `onnx/model.onnx` or
//!   `model.onnx` ([`titlesim_onnx::onnx_model_path`]). External-data files next to the
//!   graph are read by ONNX Runtime itself.
//! - **Inputs and output**: mapped by name, as described in [`titlesim_onnx`]
//!   (`input_ids`, `attention_mask`, optional `token_type_ids`, `position_ids`, an empty past for
//!   `past_key_values.*`; output `last_hidden_state`, `token_embeddings`, `sentence_embedding`,
//!   the configured `onnx_output`, or the unique rank-3 output ending in the hidden size).
//! - **Threads**: the thread budget ([`BackendOptions::threads`], default: all cores) becomes
//!   each session's intra-op threads, which spin for work between a run's steps (ONNX
//!   Runtime's own default: a title alone took 0.72× the time of sleeping threads, at 0.92×
//!   the CPU time, in benches/README.md) unless [`BackendOptions::spin`] is false (on cores
//!   shared with other busy processes), and one inter-op thread.
//! - **Optimisation**: [`BackendOptions::optimization`] (`disable`, `basic`, `extended`,
//!   `layout`, `all`; default `all`).
//! - **Concurrency**: ONNX Runtime sessions need exclusive access to run, so the backend keeps a
//!   small pool: one session is made at load, and more (up to
//!   `max(2, cores / threads)`) only when callers actually overlap. Callers beyond that wait for
//!   a free session; nothing serialises callers while sessions are free.
#![deny(missing_docs)]

pub mod library;

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};
use titlesim_core::{
    Backend, BackendOptions, BackendOutput, BatchPadding, Error, GraphOptimization, ModelSpec,
    PaddingSide, Result, TokenBatch,
};
use titlesim_onnx::{onnx_model_path, onnx_source_files, Feed, OnnxDim, OnnxIo, OnnxTensor};

pub use library::{find_in_dir, locate_library, LibrarySearch};

const NAME: &str = "ort";

fn err(message: impl std::fmt::Display) -> Error {
    Error::backend(NAME, message)
}

/// Loads `spec` on ONNX Runtime with `opts`.
pub fn load(spec: &ModelSpec, opts: &BackendOptions) -> Result<Box<dyn Backend>> {
    Ok(Box::new(OrtBackend::load(spec, opts)?))
}

/// How sessions are configured; kept to make more sessions of the same graph.
#[derive(Debug, Clone)]
struct SessionConfig {
    model: PathBuf,
    threads: usize,
    level: GraphOptimizationLevel,
    /// Intra-op threads spin for work between steps ([`BackendOptions::spin`]; default on).
    spin: bool,
}

fn level(o: Option<GraphOptimization>) -> GraphOptimizationLevel {
    match o.unwrap_or_default() {
        GraphOptimization::Disable => GraphOptimizationLevel::Disable,
        GraphOptimization::Basic => GraphOptimizationLevel::Level1,
        GraphOptimization::Extended => GraphOptimizationLevel::Level2,
        GraphOptimization::Layout => GraphOptimizationLevel::Level3,
        GraphOptimization::All => GraphOptimizationLevel::All,
    }
}

fn elem_name(t: TensorElementType) -> String {
    match t {
        TensorElementType::Float32 => "f32".into(),
        TensorElementType::Float16 => "f16".into(),
        TensorElementType::Bfloat16 => "bf16".into(),
        TensorElementType::Float64 => "f64".into(),
        TensorElementType::Int64 => "i64".into(),
        TensorElementType::Int32 => "i32".into(),
        TensorElementType::Int8 => "i8".into(),
        TensorElementType::Uint8 => "u8".into(),
        TensorElementType::Bool => "bool".into(),
        TensorElementType::String => "string".into(),
        other => format!("{other:?}"),
    }
}

fn describe(name: &str, ty: &ValueType) -> OnnxTensor {
    match ty {
        ValueType::Tensor {
            ty,
            shape,
            dimension_symbols,
        } => {
            let dims = shape
                .iter()
                .enumerate()
                .map(|(i, &d)| match dimension_symbols.get(i) {
                    Some(s) if !s.is_empty() => OnnxDim::Symbol(s.clone()),
                    _ if d >= 0 => OnnxDim::Fixed(d as usize),
                    _ => OnnxDim::Unknown,
                })
                .collect();
            OnnxTensor::new(name, Some(dims), elem_name(*ty))
        }
        other => OnnxTensor::new(name, None, format!("{other:?}")),
    }
}

fn build_session(env: &ort::environment::Environment, cfg: &SessionConfig) -> Result<Session> {
    let path = &cfg.model;
    let fail = |e: &dyn std::fmt::Display| err(format!("{}: {e}", path.display()));
    let make = || -> Result<Session> {
        Session::builder(env)
            .map_err(|e| fail(&e))?
            .with_optimization_level(cfg.level)
            .map_err(|e| fail(&e))?
            .with_intra_threads(cfg.threads)
            .map_err(|e| fail(&e))?
            .with_inter_threads(1)
            .map_err(|e| fail(&e))?
            .with_intra_op_spinning(cfg.spin)
            .map_err(|e| fail(&e))?
            .with_inter_op_spinning(false)
            .map_err(|e| fail(&e))?
            .commit_from_file(path)
            .map_err(|e| fail(&format!("cannot load the ONNX model: {e}")))
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(make))
        .map_err(|_| fail(&"ONNX Runtime panicked while loading the model"))?
}

/// A session and the run options that select the one output read.
struct Slot {
    session: Session,
    run: RunOptions<HasSelectedOutputs>,
}

struct PoolState {
    free: Vec<Slot>,
    created: usize,
}

/// Sessions handed out one caller at a time, created on demand up to `max`.
struct Pool {
    state: Mutex<PoolState>,
    ready: Condvar,
    max: usize,
}

/// A session on loan; goes back to the pool when dropped.
struct Loan<'a> {
    pool: &'a Pool,
    slot: Option<Slot>,
}

impl Drop for Loan<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            let mut st = self.pool.state.lock().unwrap_or_else(|e| e.into_inner());
            st.free.push(slot);
            drop(st);
            self.pool.ready.notify_one();
        }
    }
}

/// The ONNX Runtime backend: a pool of sessions over one ONNX graph.
pub struct OrtBackend {
    env: ort::environment::Environment,
    cfg: SessionConfig,
    io: OnnxIo,
    pool: Pool,
    files: Vec<PathBuf>,
    library: PathBuf,
    /// The model's padding side (see [`Backend::batch_padding`]).
    padding_side: PaddingSide,
}

impl std::fmt::Debug for OrtBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtBackend")
            .field("model", &self.cfg.model)
            .field("library", &self.library)
            .field("threads", &self.cfg.threads)
            .field("max_sessions", &self.pool.max)
            .field("output", &self.io.output)
            .finish()
    }
}

impl OrtBackend {
    /// Loads the ONNX Runtime library (once per process), the model's ONNX file and maps its
    /// inputs and outputs.
    pub fn load(spec: &ModelSpec, opts: &BackendOptions) -> Result<Self> {
        opts.refuse_dtype(NAME)?;
        let model = onnx_model_path(NAME, spec, opts)?;
        let level = level(opts.optimization);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let threads = opts.threads.unwrap_or(cores).max(1);
        let (env, library) = library::environment(&LibrarySearch::for_model(spec, opts))?;
        let cfg = SessionConfig {
            model: model.clone(),
            threads,
            level,
            spin: opts.spin.unwrap_or(true),
        };
        let session = build_session(&env, &cfg)?;
        let inputs: Vec<OnnxTensor> = session
            .inputs()
            .iter()
            .map(|o| describe(o.name(), o.dtype()))
            .collect();
        let outputs: Vec<OnnxTensor> = session
            .outputs()
            .iter()
            .map(|o| describe(o.name(), o.dtype()))
            .collect();
        let io = OnnxIo::plan(
            NAME,
            &model,
            spec,
            &inputs,
            &outputs,
            opts.onnx_output.as_deref(),
        )?;
        let slot = make_slot(session, &io)?;
        let max = (cores / threads).max(2);
        Ok(OrtBackend {
            padding_side: spec.padding_side,
            env,
            cfg,
            pool: Pool {
                state: Mutex::new(PoolState {
                    free: vec![slot],
                    created: 1,
                }),
                ready: Condvar::new(),
                max,
            },
            files: onnx_source_files(&model),
            io,
            library,
        })
    }

    /// How the graph is fed and read.
    pub fn io(&self) -> &OnnxIo {
        &self.io
    }

    /// The ONNX Runtime library in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Whether the sessions' intra-op threads spin for work between steps
    /// ([`BackendOptions::spin`], default true).
    pub fn spins(&self) -> bool {
        self.cfg.spin
    }

    /// The most sessions this backend makes (concurrent callers beyond it wait).
    pub fn max_sessions(&self) -> usize {
        self.pool.max
    }

    /// Sessions made so far.
    pub fn sessions(&self) -> usize {
        self.pool
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .created
    }

    fn borrow(&self) -> Result<Loan<'_>> {
        let pool = &self.pool;
        let mut st = pool.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(slot) = st.free.pop() {
                return Ok(Loan {
                    pool,
                    slot: Some(slot),
                });
            }
            if st.created < pool.max {
                st.created += 1;
                drop(st);
                let made = build_session(&self.env, &self.cfg).and_then(|s| make_slot(s, &self.io));
                return match made {
                    Ok(slot) => Ok(Loan {
                        pool,
                        slot: Some(slot),
                    }),
                    Err(e) => {
                        pool.state.lock().unwrap_or_else(|e| e.into_inner()).created -= 1;
                        pool.ready.notify_one();
                        Err(e)
                    }
                };
            }
            st = pool.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

fn make_slot(session: Session, io: &OnnxIo) -> Result<Slot> {
    let run = RunOptions::new()
        .map_err(err)?
        .with_outputs(OutputSelector::no_default().with(io.output.name.clone()));
    Ok(Slot { session, run })
}

impl Backend for OrtBackend {
    fn name(&self) -> &str {
        NAME
    }

    fn variant(&self) -> Option<String> {
        // Another output than the default one is another vector: a store or log of one is
        // not the other's.
        self.io.output.variant()
    }

    fn forward(&self, batch: &TokenBatch) -> Result<BackendOutput> {
        let empty: [f32; 0] = [];
        let mut inputs: Vec<(&str, SessionInputValue<'_>)> =
            Vec::with_capacity(self.io.inputs.len());
        for p in &self.io.inputs {
            let value: SessionInputValue<'_> = match p.feed(batch) {
                Feed::Int64 { shape, data } => TensorRef::from_array_view((shape, data))
                    .map_err(|e| err(format!("input `{}`: {e}", p.name)))?
                    .into(),
                Feed::Empty { shape } => TensorRef::from_array_view((shape, &empty[..]))
                    .map_err(|e| err(format!("input `{}`: {e}", p.name)))?
                    .into(),
            };
            inputs.push((p.name.as_str(), value));
        }
        let mut loan = self.borrow()?;
        let Some(slot) = loan.slot.as_mut() else {
            return Err(err("internal error: empty session loan"));
        };
        let outputs = slot
            .session
            .run_with_options(inputs, &slot.run)
            .map_err(|e| err(format!("{}: run failed: {e}", self.cfg.model.display())))?;
        let value = outputs.get(&self.io.output.name).ok_or_else(|| {
            err(format!(
                "ONNX Runtime returned no output `{}`",
                self.io.output.name
            ))
        })?;
        let (shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| err(format!("output `{}`: {e}", self.io.output.name)))?;
        let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        let data = data.to_vec();
        drop(outputs);
        drop(loan);
        self.io.output(NAME, batch, &shape, data)
    }

    fn source_files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }

    /// Left-padded models (Qwen3) get each text padded to a multiple of 16 tokens of its own,
    /// in batches of texts of one padded length. Measured with longest-text padding: a
    /// left-padded text's vector changed in the last bits with the batch (21 of 40 texts of the
    /// tiny Qwen3 fixture between alone and batches of 7, up to 1.2e-7), a right-padded one's
    /// never. Padding in *front* moves a text's tokens within the row, and ONNX Runtime's
    /// vectorised row kernels (softmax, sums) evidently group a row's terms by position; padding
    /// *after* a text adds exact zeros at the end. Right-padded models keep the cheaper
    /// longest-text padding; the conformance suite checks both bit for bit (batch sizes 1, 7,
    /// 32, shuffled orders).
    ///
    /// On aarch64 ONNX Runtime's NEON kernels move a text's result with padding *after* it
    /// too (measured under qemu, `cargo xtask cross`: 21 of 40 texts of the tiny BERT fixture
    /// with \[CLS\] pooling, up to 1.2e-7), so there every model gets the per-text padding.
    fn batch_padding(&self) -> BatchPadding {
        match self.padding_side {
            PaddingSide::Left => BatchPadding::Multiple(16),
            PaddingSide::Right if cfg!(target_arch = "aarch64") => BatchPadding::Multiple(16),
            PaddingSide::Right => BatchPadding::Longest,
        }
    }
}
