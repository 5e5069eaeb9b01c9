//! # titlesim-candle
//!
//! The candle backend of titlesim: runs sentence-embedding models from their safetensors
//! weights, in pure Rust, on the CPU, in f32 — or, opt-in, with int8 dense layers.
//!
//! * **BERT-family encoders** (`model_type: bert`; all-MiniLM-L6-v2, bge-small-en-v1.5, ...):
//!   see [`bert`].
//! * **Qwen3 decoders** (`model_type: qwen3`; Qwen3-Embedding): our own batched forward with a
//!   causal + padding mask and no KV cache, see [`qwen3`].
//!
//! ## Precision (`BackendOptions::dtype`)
//!
//! * `f32` (the default): matches sentence-transformers to ~1e-6.
//! * `int8`: the dense layers of the encoder (BERT's q/k/v, attention output, intermediate and
//!   output; Qwen3's attention output and MLP, its q/k/v projection staying f32: see
//!   [`qwen3`]) are quantised at load to int8, symmetric per output channel,
//!   and their inputs per token at run time (u8 with a zero point; values beyond 3× the token's
//!   RMS are outliers, multiplied in f32 instead), with exact i32 accumulation (AVX-512 VNNI
//!   where the CPU has it, else portable code with identical results). Embeddings,
//!   normalisation and attention stay f32. A text's vector does not depend on its batch. See
//!   the `quant` module and the README for accuracy and speed.
//! * `bf16`: every dense layer rounds its weights (at load) and inputs (per call) to bfloat16
//!   and accumulates in f32: on AMX tiles where the CPU and OS allow it (fastest; its own last
//!   bits), else with the arithmetic of AVX-512 BF16's `vdpbf16ps` (the instruction, or
//!   portable code giving the same bits). Cosine to f32 ≥ 0.9999 on the tested models; half
//!   the weight memory. See the `bf16` module and the README for when it pays.
//!
//! The backend only turns a [`TokenBatch`] into token states; tokenisation, pooling and
//! normalisation happen once, in [`titlesim_core::TransformerEmbedder`].
//!
//! ## Threads
//!
//! Each loaded model owns a rayon thread pool of `BackendOptions::threads` threads (default:
//! all cores) and runs every forward pass inside it (`pool.install`); nothing else starts a
//! thread (`tests/threads.rs` checks it). The matrix products call the `gemm` crate (the
//! kernels behind candle's CPU `matmul`) with the pool's size, and the other kernels split
//! their rows on the same pool. A batch of at most 64 token rows keeps the pool's other threads
//! spinning for work through the pass (its steps are too short to pay a wake-up each), unless
//! [`BackendOptions::spin`] is `false` (or, with it unset, [`SPIN_ENV`] says `0`). candle's
//! own `matmul` and element-wise ops are not used on the hot path: candle 0.11 sizes their
//! parallelism from the machine (a global pool for element-wise ops; the number of physical
//! cores, read from `/proc/cpuinfo` on every product, for `matmul`), not from the budget. See
//! the `ops` module.
//!
//! ## Layout
//!
//! * [`bert`], [`qwen3`]: each architecture's `Config`, loading and forward pass; both
//!   implement the crate's internal `Encoder` trait, and [`CandleBackend::load`] picks the
//!   architecture in one place.
//! * `layers`: what both share (dense layers in f32, int8 or bf16, the weights they are built from,
//!   the embedding lookup, the check of a batch's ids); `weights`: reading safetensors.
//! * `ops/`: the f32 kernels (normalisation, element-wise, attention, the f32 dense layer);
//!   `quant/`: the int8 dense layer and its kernels; `bf16/`: the bf16 dense layer and its
//!   kernels; `cpu`: the one CPU-feature detection they all pick their builds from.
//!
//! ## Example
//!
//! ```no_run
//! use titlesim_core::{BackendOptions, EmbedOptions, ModelSpec, TransformerEmbedder};
//!
//! let spec = ModelSpec::from_folder("minilm", "models/all-MiniLM-L6-v2".as_ref())?;
//! let opts = BackendOptions { threads: Some(2), ..Default::default() };
//! let backend = titlesim_candle::load(&spec, &opts)?;
//! let embedder = TransformerEmbedder::new(spec, backend, EmbedOptions::default())?;
//! let v = embedder.embed_blocking(&["USB C Cable 2 Pack".to_string()])?;
//! # Ok::<(), titlesim_core::Error>(())
//! ```
#![deny(missing_docs)]

pub mod bert;
mod bf16;
mod cpu;
mod layers;
mod ops;
mod quant;
pub mod qwen3;
mod weights;

use std::path::PathBuf;

use candle_core::Tensor;
use titlesim_core::{
    Architecture, Backend, BackendOptions, BackendOutput, Dtype, Error, HiddenStates, ModelSpec,
    Result, TokenBatch,
};

use crate::layers::Precision;
use crate::weights::Weights;

/// Batches of at most this many token rows keep the pool's other threads spinning for work
/// through the forward pass instead of letting them fall asleep between its many short
/// parallel steps (each wake-up costs more than such a step), unless [`SPIN_ENV`] is `0`.
const SPIN_MAX_ROWS: usize = 64;

/// The environment variable that turns the spinning of small batches off (`0`, `off`,
/// `false`) or on (`1`, `on`, `true`; the default), read when a model is loaded whose
/// [`BackendOptions::spin`] is unset (a configuration's `spin`, the CLI's `--spin`, Python's
/// `spin=`: those win over the variable). Spinning made a batch of one title 13–26% faster on
/// an otherwise idle machine; with every core busy with other work, runs varied too widely to
/// call (benches/README.md, 2026-12-05): turn it off where titlesim shares its cores.
pub const SPIN_ENV: &str = "TITLESIM_CANDLE_SPIN";

/// Whether small batches spin: the option when set, else [`SPIN_ENV`]'s `value` (not read,
/// nor checked, when the option is set), else on.
fn spin_setting(option: Option<bool>, value: Option<&str>) -> Result<bool> {
    if let Some(spin) = option {
        return Ok(spin);
    }
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("1") | Some("on") | Some("true") => Ok(true),
        Some("0") | Some("off") | Some("false") => Ok(false),
        Some(other) => Err(Error::backend(
            BACKEND,
            format!("{SPIN_ENV}={other}: expected 1, on, true (the default) or 0, off, false"),
        )),
    }
}

/// The name of this backend in logs and errors.
pub const BACKEND: &str = "candle";

pub(crate) fn cerr(e: candle_core::Error) -> Error {
    Error::backend(BACKEND, e)
}

/// What the backend needs of an architecture once it is loaded (each model file implements it
/// for its own model; `CandleBackend::load` picks the architecture, once).
pub(crate) trait Encoder: Send + Sync {
    /// The architecture's `model_type` (`bert`, `qwen3`), for messages.
    fn architecture(&self) -> &'static str;

    /// Width of the token states.
    fn hidden_size(&self) -> usize;

    /// Token states `[batch * seq, hidden]` of a padded batch.
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor>;
}

/// A model loaded on the candle backend. Safe to call from several threads at once (the
/// calls share the model's thread pool).
pub struct CandleBackend {
    model: Box<dyn Encoder>,
    pool: rayon::ThreadPool,
    threads: usize,
    /// Whether small batches keep the other threads spinning ([`SPIN_ENV`]).
    spin: bool,
    /// What [`Backend::variant`] reports: the dense layers' precision, and for bf16 the
    /// family of the kernel's roundings.
    variant: Option<String>,
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for CandleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleBackend")
            .field("architecture", &self.model.architecture())
            .field("threads", &self.threads)
            .field("files", &self.files)
            .finish()
    }
}

/// Loads `spec` on the candle backend.
///
/// Errors: [`Error::Unsupported`] for an architecture other than BERT or Qwen3 (naming its
/// `model_type`) or an unsupported variant of one; [`Error::ModelFile`] for missing, corrupt or
/// mis-shaped weights (naming the file and the tensor) and bad `config.json` values;
/// [`Error::Backend`] for bad options.
pub fn load(spec: &ModelSpec, opts: &BackendOptions) -> Result<Box<dyn Backend>> {
    Ok(Box::new(CandleBackend::load(spec, opts)?))
}

impl CandleBackend {
    /// Loads `spec` with `opts` (see [`load`]).
    pub fn load(spec: &ModelSpec, opts: &BackendOptions) -> Result<Self> {
        let precision = match opts.dtype.unwrap_or_default() {
            Dtype::F32 => Precision::F32,
            Dtype::Int8 => Precision::Int8,
            Dtype::Bf16 => Precision::Bf16,
        };
        let spin = spin_setting(opts.spin, std::env::var(SPIN_ENV).ok().as_deref())?;
        let threads = match opts.threads {
            Some(0) => {
                return Err(Error::backend(
                    BACKEND,
                    "threads = 0: need at least one thread",
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        };

        // Check the architecture (its config.json values) before touching the (possibly
        // large) weights.
        let model: Box<dyn Encoder> = match &spec.architecture {
            Architecture::Bert => {
                let cfg = bert::Config::from_json(&spec.files.config, &spec.config)?;
                Box::new(with_weights(spec, "bert.", |w| {
                    bert::Bert::load(w, &cfg, precision)
                })?)
            }
            Architecture::Qwen3 => {
                let cfg = qwen3::Config::from_json(&spec.files.config, &spec.config)?;
                Box::new(with_weights(spec, "model.", |w| {
                    qwen3::Qwen3::load(w, &cfg, precision)
                })?)
            }
            Architecture::Other(model_type) => {
                return Err(Error::Unsupported {
                    path: spec.root.clone(),
                    message: format!(
                        "model_type `{model_type}`: the candle backend runs bert and qwen3 models"
                    ),
                })
            }
        };
        let hidden = model.hidden_size();
        if hidden != spec.hidden_size {
            return Err(Error::DimensionMismatch {
                context: format!("{} hidden size", spec.files.config.display()),
                expected: spec.hidden_size,
                got: hidden,
            });
        }
        let variant = match precision {
            Precision::F32 => None,
            Precision::Int8 => Some("int8".to_string()),
            // The kernel the layers loaded with: AMX and bfmmla round their sums their own
            // ways, so their vectors must not pass for the other kernels' (a GT store made
            // on one host, read on another).
            Precision::Bf16 => Some(
                bf16::Kernel::detect()
                    .map_err(|e| Error::backend(BACKEND, e.to_string()))?
                    .variant()
                    .to_string(),
            ),
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("titlesim-candle-{i}"))
            .build()
            .map_err(|e| Error::backend(BACKEND, format!("cannot start {threads} threads: {e}")))?;
        Ok(CandleBackend {
            model,
            pool,
            threads,
            spin,
            variant,
            files: spec.files.safetensors.clone(),
        })
    }

    /// The number of compute threads this model runs on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn run(&self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let forward = || {
            self.model
                .forward(batch)?
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr)
        };
        let rows = batch.batch_size * batch.seq_len;
        if !self.spin || self.threads == 1 || rows > SPIN_MAX_ROWS {
            return forward();
        }
        titlesim_core::spin::run_spinning(self.threads - 1, forward)
    }
}

/// Reads the safetensors weights of `spec` (names with or without `prefix`) and builds a model
/// from them; the weights are dropped once it is built.
fn with_weights<M>(
    spec: &ModelSpec,
    prefix: &'static str,
    build: impl FnOnce(&Weights) -> Result<M>,
) -> Result<M> {
    if spec.files.safetensors.is_empty() {
        return Err(Error::model_file(
            spec.root.join("model.safetensors"),
            "missing: the candle backend needs safetensors weights (model.safetensors or model.safetensors.index.json)",
        ));
    }
    let weights = Weights::load(&spec.files.safetensors, prefix)?;
    build(&weights)
}

impl Backend for CandleBackend {
    fn name(&self) -> &str {
        BACKEND
    }

    fn forward(&self, batch: &TokenBatch) -> Result<BackendOutput> {
        let n = batch.batch_size * batch.seq_len;
        if batch.input_ids.len() != n
            || batch.attention_mask.len() != n
            || batch.token_type_ids.len() != n
            || batch.position_ids.len() != n
        {
            return Err(Error::backend(
                BACKEND,
                format!(
                    "malformed batch: {} x {} tokens but arrays of {}, {}, {}, {}",
                    batch.batch_size,
                    batch.seq_len,
                    batch.input_ids.len(),
                    batch.attention_mask.len(),
                    batch.token_type_ids.len(),
                    batch.position_ids.len()
                ),
            ));
        }
        let hidden = self.model.hidden_size();
        let data = if n == 0 {
            Vec::new()
        } else {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.pool.install(|| self.run(batch))
            }))
            .unwrap_or_else(|p| {
                Err(Error::backend(
                    BACKEND,
                    format!(
                        "forward pass panicked: {}",
                        titlesim_core::panic_message(&*p)
                    ),
                ))
            })?
        };
        let states = HiddenStates::new(data, batch.batch_size, batch.seq_len, hidden)
            .ok_or_else(|| Error::backend(BACKEND, "token states have the wrong size"))?;
        Ok(BackendOutput::Tokens(states))
    }

    fn source_files(&self) -> Vec<PathBuf> {
        self.files.clone()
    }

    fn variant(&self) -> Option<String> {
        self.variant.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_is_on_unless_turned_off_and_bad_values_are_refused() {
        for on in [None, Some(""), Some("1"), Some("on"), Some(" TRUE ")] {
            assert!(spin_setting(None, on).unwrap(), "{on:?}");
        }
        for off in ["0", "off", "False"] {
            assert!(!spin_setting(None, Some(off)).unwrap(), "{off}");
        }
        let err = spin_setting(None, Some("sometimes"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TITLESIM_CANDLE_SPIN=sometimes") && err.contains("0, off"),
            "{err}"
        );
    }

    #[test]
    fn the_spin_option_wins_over_the_environment() {
        for value in [None, Some("1"), Some("0"), Some("sometimes")] {
            assert!(spin_setting(Some(true), value).unwrap(), "{value:?}");
            assert!(!spin_setting(Some(false), value).unwrap(), "{value:?}");
        }
    }
}
