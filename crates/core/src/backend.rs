//! The trait a backend implements: token batch in, token states (or pooled vectors) out.
//!
//! This is all a backend author needs to read. Tokenisation, batching, pooling and
//! normalisation happen in [`crate::TransformerEmbedder`]; a backend only runs the network.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::pooling::HiddenStates;
use crate::tokenize::TokenBatch;

/// What a backend returns for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendOutput {
    /// Final token states `[batch, seq, hidden]`, to be pooled by the core.
    Tokens(HiddenStates),
    /// One vector per text, already pooled by the model (e.g. an ONNX `sentence_embedding`
    /// output); the core still normalises when the model says so.
    Pooled(Vec<Vec<f32>>),
}

/// A network that turns token ids into token states.
///
/// Implementations must be safe to call from several threads at once (`&self`): guard
/// or pool whatever needs exclusive access. `forward` blocks; the core calls it off the
/// async executor threads.
pub trait Backend: Send + Sync {
    /// Short name for logs and errors (`candle`, `ort`, `tract`, ...).
    fn name(&self) -> &str;

    /// Runs the network on one padded batch.
    fn forward(&self, batch: &TokenBatch) -> Result<BackendOutput>;

    /// The files whose bytes determine the output (weights, graph). They are hashed into
    /// the model's fingerprint.
    fn source_files(&self) -> Vec<PathBuf>;

    /// What besides [`Backend::source_files`] changes the vectors this backend computes from
    /// them (a reduced precision: `int8`, `bf16`), hashed into the fingerprint; `None` (the
    /// default) for the full-precision computation every backend shares.
    fn variant(&self) -> Option<String> {
        None
    }

    /// How the core pads the batches it hands to [`Backend::forward`]. The default,
    /// [`BatchPadding::Longest`], is for backends whose vector of a text does not depend on
    /// how much padding the text gets; a backend whose arithmetic does (its reductions group
    /// terms by position or memory alignment) asks for [`BatchPadding::Multiple`], so every
    /// text is padded to a length of its own and its vector is the same, bit for bit, in any
    /// batch.
    fn batch_padding(&self) -> BatchPadding {
        BatchPadding::Longest
    }
}

/// How texts are padded into batches (see [`Backend::batch_padding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchPadding {
    /// Each batch to its longest text (texts sorted by length first, so batches pad little).
    #[default]
    Longest,
    /// Each text to its own length rounded up to a multiple of this many tokens (not past the
    /// model's positions), each batch made of texts of one padded length: the shape a text runs
    /// in depends on the text alone.
    Multiple(usize),
}

/// Compute precision, where a backend has a choice (`dtype` in configuration).
///
/// Parsed once, when the configuration is read: `f32`, `int8` or `bf16`, in any case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dtype {
    /// 32-bit floats: the default on every backend.
    #[default]
    F32,
    /// int8 weights with dynamically quantised activations (candle only; cosine ≥ 0.999 to
    /// f32 on the tested models). ort and tract compute in the precision of their ONNX file
    /// and refuse it (see [`BackendOptions::refuse_dtype`]).
    Int8,
    /// bf16 weights and inputs with f32 accumulation in the dense layers (candle only; cosine
    /// ≥ 0.9999 to f32 on the tested models; much faster than f32 on CPUs with AMX, elsewhere
    /// only where weight reads dominate, e.g. a large model at batch 1). ort and tract refuse
    /// it.
    Bf16,
}

/// ONNX Runtime's graph optimisation level (`optimization` in configuration; the other
/// backends have no such knob and ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GraphOptimization {
    /// No graph rewrites.
    Disable,
    /// Constant folding and redundant-node removal.
    Basic,
    /// Basic plus operator fusions.
    Extended,
    /// Extended plus layout rewrites.
    Layout,
    /// Everything ONNX Runtime has (the default).
    #[default]
    All,
}

/// `Display`, `FromStr` (case-insensitive, with the accepted names in the error) and serde
/// as the lowercase name, for an option enum.
macro_rules! option_enum {
    ($ty:ident, $what:literal, $expected:literal, { $($name:literal => $variant:ident),+ $(,)? }) => {
        impl $ty {
            /// The name used in configuration and on the command line.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                match s.to_ascii_lowercase().as_str() {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(format!(concat!($what, " `{}` is not supported (expected ", $expected, ")"), s)),
                }
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

option_enum!(Dtype, "dtype", "f32, or int8 or bf16 on the candle backend", {
    "f32" => F32,
    "int8" => Int8,
    "bf16" => Bf16,
});
option_enum!(
    GraphOptimization,
    "optimization",
    "disable, basic, extended, layout or all",
    { "disable" => Disable, "basic" => Basic, "extended" => Extended, "layout" => Layout, "all" => All }
);

/// What a backend is told when it loads a model, beyond the [`crate::ModelSpec`]
/// ([`crate::ModelConfig::backend_options`] builds it from a configuration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendOptions {
    /// Compute threads (None: the backend's default, usually all cores).
    pub threads: Option<usize>,
    /// An ONNX file to run instead of the folder's own export.
    pub onnx: Option<PathBuf>,
    /// The name of the ONNX output to read.
    pub onnx_output: Option<String>,
    /// Path of the ONNX Runtime shared library.
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime graph optimisation level (None: [`GraphOptimization::All`]).
    pub optimization: Option<GraphOptimization>,
    /// Compute precision where the backend has a choice (None: [`Dtype::F32`]). Backends
    /// without a choice refuse anything but `f32` (see [`BackendOptions::refuse_dtype`])
    /// rather than ignore it.
    pub dtype: Option<Dtype>,
    /// Whether idle compute threads spin (poll for work) through a small batch's forward pass
    /// instead of sleeping between its many short parallel steps: lower latency for a few
    /// texts on cores titlesim has to itself, CPU taken from others where cores are shared.
    /// None: the backend's default (candle: on, unless `TITLESIM_CANDLE_SPIN` says otherwise;
    /// ort: on, ONNX Runtime's own default; tract: on, through a single text's pass). tract
    /// built without its `multithread` feature runs on one thread and refuses it (see
    /// [`BackendOptions::refuse_spin`]); [`crate::spin`] is the helper candle and tract share.
    pub spin: Option<bool>,
}

impl BackendOptions {
    /// For backends whose threads have no spinning setting (tract built without `multithread`):
    /// an [`Error::Backend`]
    /// naming the backend when `spin` is set, so the setting is never silently ignored.
    pub fn refuse_spin(&self, backend: &str) -> Result<()> {
        match self.spin {
            None => Ok(()),
            Some(v) => Err(Error::backend(
                backend,
                format!(
                    "spin = {v} is not supported: the {backend} backend's threads have no \
                     spinning setting (leave `spin` unset; candle and ort have it)"
                ),
            )),
        }
    }

    /// For backends that compute in the precision of their model file (ort, tract): an
    /// [`Error::Backend`] naming the backend when a `dtype` other than `f32` is asked for,
    /// so a configuration is never silently ignored.
    pub fn refuse_dtype(&self, backend: &str) -> Result<()> {
        match self.dtype {
            None | Some(Dtype::F32) => Ok(()),
            Some(d) => Err(Error::backend(
                backend,
                format!("dtype {}", dtype_refusal(d, backend)),
            )),
        }
    }
}

/// Why `backend` (ort or tract) does not compute in `dtype`: said when a configuration is
/// validated, and by the backend for callers that load it without one.
pub(crate) fn dtype_refusal(dtype: Dtype, backend: &str) -> String {
    format!(
        "`{dtype}` is computed by the candle backend only; the {backend} backend computes in the \
         precision of its ONNX file (for int8, point `onnx` at an int8 export)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_without_a_precision_choice_refuse_other_dtypes() {
        let mut o = BackendOptions::default();
        assert!(o.refuse_dtype("ort").is_ok());
        o.dtype = Some(Dtype::F32);
        assert!(o.refuse_dtype("ort").is_ok());
        o.dtype = Some(Dtype::Int8);
        let e = o.refuse_dtype("tract").unwrap_err().to_string();
        assert!(e.contains("tract") && e.contains("`int8`"), "{e}");
    }

    #[test]
    fn backends_without_spinning_refuse_either_setting() {
        let mut o = BackendOptions::default();
        assert!(o.refuse_spin("tract").is_ok());
        for v in [true, false] {
            o.spin = Some(v);
            let e = o.refuse_spin("tract").unwrap_err().to_string();
            assert!(
                e.contains("tract") && e.contains(&format!("spin = {v}")),
                "{e}"
            );
        }
    }

    #[test]
    fn option_names_parse_in_any_case_and_round_trip() {
        for d in [Dtype::F32, Dtype::Int8, Dtype::Bf16] {
            assert_eq!(d.as_str().to_uppercase().parse::<Dtype>(), Ok(d));
            assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{d}\""));
        }
        for g in [
            GraphOptimization::Disable,
            GraphOptimization::Basic,
            GraphOptimization::Extended,
            GraphOptimization::Layout,
            GraphOptimization::All,
        ] {
            assert_eq!(g.as_str().parse::<GraphOptimization>(), Ok(g));
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(serde_json::from_str::<GraphOptimization>(&json).unwrap(), g);
        }
        let e = "fp16".parse::<Dtype>().unwrap_err();
        assert!(e.contains("`fp16`") && e.contains("int8 or bf16"), "{e}");
        let e = serde_json::from_str::<GraphOptimization>("\"max\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`max`") && e.contains("extended"), "{e}");
    }
}
