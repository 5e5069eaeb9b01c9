//! # titlesim-onnx
//!
//! How an ONNX export's inputs and outputs map onto a [`TokenBatch`] and a [`BackendOutput`].
//!
//! Shared by the ONNX backends (ONNX Runtime and tract): each backend describes the graph's
//! inputs and outputs as [`OnnxTensor`]s (name, declared shape, element type) and gets back an
//! [`OnnxIo`] plan: which batch array feeds which input, and which output to read. This crate
//! has no ML dependency; it only reasons about names, ranks and dimensions.
//!
//! # Inputs (by name)
//! | input | fed with |
//! |---|---|
//! | `input_ids` (required) | [`TokenBatch::input_ids`] |
//! | `attention_mask` (required) | [`TokenBatch::attention_mask`] |
//! | `token_type_ids` | [`TokenBatch::token_type_ids`] |
//! | `position_ids` | [`TokenBatch::position_ids`] |
//! | `past_key_values.*` | an **empty** past `[batch, kv_heads, 0, head_dim]` (text-generation exports of decoders) |
//!
//! For the past, `kv_heads` and `head_dim` come from the input's declared shape, else from
//! `config.json` (`num_key_value_heads`, `head_dim`, falling back on `num_attention_heads` and
//! `hidden_size / num_attention_heads`). With a past of length 0 the attention mask covers the
//! `sequence_length` new tokens only.
//!
//! # Output
//! In order of preference:
//! 1. the output named by the configuration (`onnx_output`), whatever its name;
//! 2. `last_hidden_state` or `token_embeddings` (token states, pooled by the core), else
//!    `sentence_embedding` (already pooled);
//! 3. else the **only** output of rank 3 whose last dimension equals the model's hidden size.
//!    This is how exports with machine-made output names are read: the paraphrase-MiniLM-L3-v2
//!    ONNX file names its token states `onnx::Shape_422`.
//!
//! A rank-3 output `[batch, seq, hidden]` becomes [`BackendOutput::Tokens`], a rank-2 output
//! `[batch, hidden]` [`BackendOutput::Pooled`]. A graph that cannot be mapped is an error that
//! lists the graph's inputs and outputs with their shapes.

#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use titlesim_core::{
    BackendOptions, BackendOutput, Error, HiddenStates, ModelSpec, PaddingSide, Result, TokenBatch,
};

/// One dimension of a declared ONNX shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnnxDim {
    /// A fixed size.
    Fixed(usize),
    /// A named (symbolic) size, possibly an expression such as
    /// `past_sequence_length + sequence_length`.
    Symbol(String),
    /// A dynamic size without a name.
    Unknown,
}

impl std::fmt::Display for OnnxDim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OnnxDim::Fixed(n) => write!(f, "{n}"),
            OnnxDim::Symbol(s) => f.write_str(s),
            OnnxDim::Unknown => f.write_str("?"),
        }
    }
}

/// A graph input or output as a backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxTensor {
    /// The name in the graph.
    pub name: String,
    /// The declared shape, when the graph declares one.
    pub shape: Option<Vec<OnnxDim>>,
    /// The element type in the backend's words (`f32`, `i64`, ...), for messages.
    pub dtype: String,
}

impl OnnxTensor {
    /// A tensor description.
    pub fn new(
        name: impl Into<String>,
        shape: Option<Vec<OnnxDim>>,
        dtype: impl Into<String>,
    ) -> Self {
        OnnxTensor {
            name: name.into(),
            shape,
            dtype: dtype.into(),
        }
    }

    /// Declared rank, when known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(Vec::len)
    }

    fn fixed_dim(&self, i: usize) -> Option<usize> {
        match self.shape.as_ref()?.get(i)? {
            OnnxDim::Fixed(n) => Some(*n),
            _ => None,
        }
    }
}

impl std::fmt::Display for OnnxTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`", self.name)?;
        match &self.shape {
            Some(dims) => {
                let d: Vec<String> = dims.iter().map(ToString::to_string).collect();
                write!(f, " [{}]", d.join(", "))?;
            }
            None => f.write_str(" [unknown shape]")?,
        }
        if !self.dtype.is_empty() {
            write!(f, " {}", self.dtype)?;
        }
        Ok(())
    }
}

/// What a graph input is fed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputRole {
    /// Token ids.
    InputIds,
    /// The attention mask.
    AttentionMask,
    /// Segment ids.
    TokenTypeIds,
    /// Positions of tokens.
    PositionIds,
    /// One past key or value of a text-generation export, fed empty.
    Past {
        /// Key/value heads.
        kv_heads: usize,
        /// Width of one head.
        head_dim: usize,
    },
}

/// One graph input and what feeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPlan {
    /// The input's name in the graph.
    pub name: String,
    /// Its position among the graph's inputs.
    pub index: usize,
    /// What feeds it.
    pub role: InputRole,
    /// The element type the graph declares (backend's words).
    pub dtype: String,
}

/// The data a backend hands to one graph input for one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed<'a> {
    /// 64-bit integers of shape `shape` (row-major), borrowed from the batch.
    Int64 {
        /// The shape, `[batch, seq]`.
        shape: [usize; 2],
        /// The values.
        data: &'a [i64],
    },
    /// An empty tensor (one dimension is 0) of the input's declared float type.
    Empty {
        /// The shape, `[batch, kv_heads, 0, head_dim]`.
        shape: [usize; 4],
    },
}

impl InputPlan {
    /// What this input gets for `batch`.
    pub fn feed<'a>(&self, batch: &'a TokenBatch) -> Feed<'a> {
        let shape = [batch.batch_size, batch.seq_len];
        match &self.role {
            InputRole::InputIds => Feed::Int64 {
                shape,
                data: &batch.input_ids,
            },
            InputRole::AttentionMask => Feed::Int64 {
                shape,
                data: &batch.attention_mask,
            },
            InputRole::TokenTypeIds => Feed::Int64 {
                shape,
                data: &batch.token_type_ids,
            },
            InputRole::PositionIds => Feed::Int64 {
                shape,
                data: &batch.position_ids,
            },
            InputRole::Past { kv_heads, head_dim } => Feed::Empty {
                shape: [batch.batch_size, *kv_heads, 0, *head_dim],
            },
        }
    }
}

/// The graph output that is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPlan {
    /// Its name in the graph.
    pub name: String,
    /// Its position among the graph's outputs.
    pub index: usize,
    /// How it was chosen, for logs and `titlesim inspect`.
    pub chosen_by: String,
    /// Configured (`onnx_output`) to another output than the one read by default: other
    /// vectors (a `pooler_output` where token states are pooled), so the fingerprint says so
    /// ([`OutputPlan::variant`]). False for a graph with no default reading.
    pub configured_other: bool,
}

impl OutputPlan {
    /// What goes into the backend's [`titlesim_core::Backend::variant`]: the output's name
    /// when it is not the one read by default, else nothing (fingerprints of the default
    /// reading stay as they were).
    pub fn variant(&self) -> Option<String> {
        self.configured_other
            .then(|| format!("onnx_output={}", self.name))
    }
}

/// How one ONNX graph is fed and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnnxIo {
    /// Every graph input, in graph order, with what feeds it.
    pub inputs: Vec<InputPlan>,
    /// The output read.
    pub output: OutputPlan,
    /// Width of the vectors (the model's hidden size).
    pub hidden_size: usize,
}

/// Prefix of the past key/value inputs of text-generation exports.
pub const PAST_PREFIX: &str = "past_key_values";

fn listing(inputs: &[OnnxTensor], outputs: &[OnnxTensor]) -> String {
    let l = |ts: &[OnnxTensor]| {
        if ts.is_empty() {
            "none".to_string()
        } else {
            ts.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!("the graph has inputs {}; outputs {}", l(inputs), l(outputs))
}

fn config_usize(spec: &ModelSpec, key: &str) -> Option<usize> {
    spec.config
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .map(|n| n as usize)
}

impl OnnxIo {
    /// Maps a graph's `inputs` and `outputs` for `spec`, reading the output `onnx_output` when
    /// the configuration names one. `file` and `backend` are for error messages.
    pub fn plan(
        backend: &str,
        file: &Path,
        spec: &ModelSpec,
        inputs: &[OnnxTensor],
        outputs: &[OnnxTensor],
        onnx_output: Option<&str>,
    ) -> Result<OnnxIo> {
        let fail = |what: String| {
            Error::backend(
                backend,
                format!("{}: {what}; {}", file.display(), listing(inputs, outputs)),
            )
        };
        let mut plans = Vec::with_capacity(inputs.len());
        for (index, t) in inputs.iter().enumerate() {
            let role = match t.name.as_str() {
                "input_ids" => InputRole::InputIds,
                "attention_mask" => InputRole::AttentionMask,
                "token_type_ids" => InputRole::TokenTypeIds,
                "position_ids" => InputRole::PositionIds,
                n if n.starts_with(PAST_PREFIX) => {
                    if t.rank().is_some_and(|r| r != 4) {
                        return Err(fail(format!(
                            "past input {t} is not of rank 4 [batch, kv_heads, past_length, head_dim]"
                        )));
                    }
                    let heads = config_usize(spec, "num_attention_heads");
                    let kv_heads = t
                        .fixed_dim(1)
                        .or_else(|| config_usize(spec, "num_key_value_heads"))
                        .or(heads);
                    let head_dim = t
                        .fixed_dim(3)
                        .or_else(|| config_usize(spec, "head_dim"))
                        .or_else(|| heads.filter(|h| *h > 0).map(|h| spec.hidden_size / h));
                    match (kv_heads, head_dim) {
                        (Some(kv_heads), Some(head_dim)) => InputRole::Past { kv_heads, head_dim },
                        _ => {
                            return Err(fail(format!(
                                "cannot size the empty past for {t}: its shape does not fix kv_heads/head_dim and config.json has no num_key_value_heads/head_dim"
                            )))
                        }
                    }
                }
                _ => {
                    return Err(fail(format!(
                        "input `{}` is not one titlesim can feed (input_ids, attention_mask, token_type_ids, position_ids, past_key_values.*)",
                        t.name
                    )))
                }
            };
            plans.push(InputPlan {
                name: t.name.clone(),
                index,
                role,
                dtype: t.dtype.clone(),
            });
        }
        for (required, role) in [
            ("input_ids", InputRole::InputIds),
            ("attention_mask", InputRole::AttentionMask),
        ] {
            if !plans.iter().any(|p| p.role == role) {
                return Err(fail(format!("no `{required}` input")));
            }
        }
        // Without a `position_ids` input the graph numbers positions from the start of the
        // padded row, so left padding would shift a short text's positions by its padding: its
        // vector would depend on the longest text of its batch (and be wrong even alone when the
        // backend pads to a multiple of 16). candle numbers from the first real token.
        if spec.padding_side == PaddingSide::Left
            && !plans.iter().any(|p| p.role == InputRole::PositionIds)
        {
            return Err(fail(
                "padding_side = \"left\" needs a `position_ids` input, and this graph has none: it numbers positions from the start of the padded row, so a left-padded text's vector would depend on its batch; set padding_side = \"right\" (pooling finds the last real token from the attention mask either way) or export the graph with position_ids".into(),
            ));
        }

        let find = |name: &str| outputs.iter().position(|o| o.name == name);
        // The output read when the configuration names none.
        let default = || -> Result<OutputPlan> {
            if let Some((index, name)) = [
                "last_hidden_state",
                "token_embeddings",
                "sentence_embedding",
            ]
            .iter()
            .find_map(|n| find(n).map(|i| (i, *n)))
            {
                return Ok(OutputPlan {
                    name: name.to_string(),
                    index,
                    chosen_by: "by name".into(),
                    configured_other: false,
                });
            }
            let candidates: Vec<usize> = outputs
                .iter()
                .enumerate()
                .filter(|(_, o)| o.rank() == Some(3) && o.fixed_dim(2) == Some(spec.hidden_size))
                .map(|(i, _)| i)
                .collect();
            match candidates.as_slice() {
                [i] => Ok(OutputPlan {
                    name: outputs[*i].name.clone(),
                    index: *i,
                    chosen_by: format!(
                        "the only rank-3 output whose last dimension is the hidden size {}",
                        spec.hidden_size
                    ),
                    configured_other: false,
                }),
                [] => Err(fail(format!(
                    "no output named last_hidden_state, token_embeddings or sentence_embedding, and none of rank 3 ending in the hidden size {}; name the output to read with `onnx_output`",
                    spec.hidden_size
                ))),
                _ => Err(fail(format!(
                    "no output named last_hidden_state, token_embeddings or sentence_embedding, and several of rank 3 ending in the hidden size {}; name the output to read with `onnx_output`",
                    spec.hidden_size
                ))),
            }
        };
        let output = if let Some(name) = onnx_output {
            let index = find(name).ok_or_else(|| {
                fail(format!(
                    "the configured output `{name}` (onnx_output) does not exist"
                ))
            })?;
            if outputs[index].rank().is_some_and(|r| r != 2 && r != 3) {
                return Err(fail(format!(
                    "the configured output {} has rank {}; expected 3 (token states) or 2 (pooled vectors)",
                    outputs[index],
                    outputs[index].rank().unwrap_or(0)
                )));
            }
            OutputPlan {
                name: name.to_string(),
                index,
                chosen_by: "configured (onnx_output)".into(),
                // A graph with no default reading (several candidates, or none) had to name
                // one: its fingerprint stays as it was.
                configured_other: default().is_ok_and(|d| d.index != index),
            }
        } else {
            default()?
        };
        // A graph that pools by itself applied the export's pooling: a configured other one
        // would be ignored without a word.
        if spec.pooling_overridden && outputs[output.index].rank() == Some(2) {
            return Err(fail(format!(
                "output {} holds vectors the graph already pooled, so the configured `pooling = \"{}\"` cannot apply; read token states instead (`onnx_output`, e.g. last_hidden_state) or leave `pooling` to the folder",
                outputs[output.index],
                spec.pooling
            )));
        }
        // A fixed width other than the hidden size: a graph that does not belong with this
        // config.json, said at load instead of at the first batch.
        let chosen = &outputs[output.index];
        if let Some(w) = chosen
            .rank()
            .and_then(|r| r.checked_sub(1))
            .and_then(|last| chosen.fixed_dim(last))
            .filter(|&w| w != spec.hidden_size)
        {
            return Err(fail(format!(
                "output {chosen} has width {w}, but config.json's hidden_size is {}: the graph and the folder do not belong together",
                spec.hidden_size
            )));
        }
        // What every backend feeds and reads: i64 ids, masks and positions, f32 past
        // keys/values, an f32 output.
        for p in &plans {
            let want = match p.role {
                InputRole::Past { .. } => "f32",
                _ => "i64",
            };
            if p.dtype != want {
                return Err(fail(format!(
                    "input `{}` is of type {}, which titlesim does not feed (ids and masks must be i64, past keys/values f32)",
                    p.name, p.dtype
                )));
            }
        }
        if outputs[output.index].dtype != "f32" {
            return Err(fail(format!("output {} is not f32", outputs[output.index])));
        }
        Ok(OnnxIo {
            inputs: plans,
            output,
            hidden_size: spec.hidden_size,
        })
    }

    /// Whether the graph takes an (empty) past.
    pub fn has_past(&self) -> bool {
        self.inputs
            .iter()
            .any(|p| matches!(p.role, InputRole::Past { .. }))
    }

    /// Turns the chosen output's values (row-major, of `shape`) into a [`BackendOutput`] for
    /// `batch`: rank 3 `[batch, seq, hidden]` is token states, rank 2 `[batch, hidden]` pooled
    /// vectors; anything else is an error naming the shape.
    pub fn output(
        &self,
        backend: &str,
        batch: &TokenBatch,
        shape: &[usize],
        data: Vec<f32>,
    ) -> Result<BackendOutput> {
        let bad = |why: &str| {
            Error::backend(
                backend,
                format!(
                    "output `{}` has shape {shape:?} for a batch of [{}, {}] and hidden size {}: {why}",
                    self.output.name, batch.batch_size, batch.seq_len, self.hidden_size
                ),
            )
        };
        if shape.iter().product::<usize>() != data.len() {
            return Err(bad("its data length does not match"));
        }
        match *shape {
            [b, s, h] => {
                if b != batch.batch_size || s != batch.seq_len {
                    return Err(bad("expected [batch, seq, hidden]"));
                }
                HiddenStates::new(data, b, s, h)
                    .map(BackendOutput::Tokens)
                    .ok_or_else(|| bad("inconsistent length"))
            }
            [b, h] => {
                if b != batch.batch_size {
                    return Err(bad("expected [batch, hidden]"));
                }
                if h == 0 {
                    return Ok(BackendOutput::Pooled(vec![Vec::new(); b]));
                }
                Ok(BackendOutput::Pooled(
                    data.chunks_exact(h).map(<[f32]>::to_vec).collect(),
                ))
            }
            _ => Err(bad(
                "expected rank 3 (token states) or rank 2 (pooled vectors)",
            )),
        }
    }
}

/// The ONNX file to run for `spec`: the configured `onnx` file when there is one (used with the
/// folder's tokenizer and pooling), else the folder's own export (`onnx/model.onnx` or
/// `model.onnx`), else an error saying neither exists.
pub fn onnx_model_path(backend: &str, spec: &ModelSpec, opts: &BackendOptions) -> Result<PathBuf> {
    if let Some(p) = &opts.onnx {
        let p = if p.is_relative() && !p.exists() && spec.root.join(p).is_file() {
            spec.root.join(p)
        } else {
            p.clone()
        };
        if !p.is_file() {
            return Err(Error::model_file(
                &p,
                format!("the configured ONNX file (onnx) does not exist or is not a file ({backend} backend)"),
            ));
        }
        return Ok(p);
    }
    spec.files.onnx.clone().ok_or_else(|| {
        Error::model_file(
            &spec.root,
            format!(
                "the {backend} backend needs an ONNX export: neither onnx/model.onnx nor model.onnx exists in this folder, and no `onnx` file is configured"
            ),
        )
    })
}

/// The files whose bytes determine an ONNX model: the graph and the external-data files it
/// references (found by scanning the graph for `location` entries; only existing files next to
/// the graph are returned).
pub fn onnx_source_files(graph: &Path) -> Vec<PathBuf> {
    let mut files = vec![graph.to_path_buf()];
    let Ok(bytes) = std::fs::read(graph) else {
        return files;
    };
    let dir = graph.parent().unwrap_or(Path::new("."));
    for loc in external_data_locations(&bytes) {
        let p = dir.join(&loc);
        if p.is_file() && !files.contains(&p) {
            files.push(p);
        }
    }
    files
}

/// Values of the `location` keys of external-data entries in a serialized ONNX model: the
/// protobuf bytes `0x0a 0x08 "location" 0x12 <varint length> <value>`.
fn external_data_locations(bytes: &[u8]) -> Vec<String> {
    const PAT: &[u8] = b"\x0a\x08location\x12";
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i + PAT.len() < bytes.len() {
        if &bytes[i..i + PAT.len()] != PAT {
            i += 1;
            continue;
        }
        let mut j = i + PAT.len();
        let mut len: usize = 0;
        let mut shift = 0;
        while j < bytes.len() && shift < 28 {
            let b = bytes[j];
            len |= ((b & 0x7f) as usize) << shift;
            j += 1;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if len > 0 && len < 4096 && j + len <= bytes.len() {
            if let Ok(s) = std::str::from_utf8(&bytes[j..j + len]) {
                if !out.iter().any(|o| o == s) {
                    out.push(s.to_string());
                }
            }
            i = j + len;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use titlesim_core::{Encoded, Pooling};

    fn spec(hidden: usize, extra: &str) -> ModelSpec {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            format!(r#"{{"model_type":"qwen3","hidden_size":{hidden},"max_position_embeddings":64{extra}}}"#),
        )
        .unwrap();
        std::fs::write(d.path().join("tokenizer.json"), "{}").unwrap();
        // The folder may go: the spec keeps what was read.
        ModelSpec::from_folder("x", d.path()).unwrap()
    }

    fn sym(s: &str) -> OnnxDim {
        OnnxDim::Symbol(s.into())
    }

    fn t2(name: &str) -> OnnxTensor {
        OnnxTensor::new(name, Some(vec![sym("batch"), sym("seq")]), "i64")
    }

    fn batch() -> TokenBatch {
        let a = Encoded {
            ids: vec![5, 6, 7],
            type_ids: vec![0; 3],
            truncated: false,
        };
        let b = Encoded {
            ids: vec![8],
            type_ids: vec![0],
            truncated: false,
        };
        TokenBatch::from_encoded(&[&a, &b], 0, PaddingSide::Left)
    }

    #[test]
    fn an_output_of_another_width_than_the_hidden_size_is_refused_at_load() {
        let s = spec(8, "");
        let ins = [t2("input_ids"), t2("attention_mask")];
        let outs = [OnnxTensor::new(
            "last_hidden_state",
            Some(vec![sym("b"), sym("s"), OnnxDim::Fixed(16)]),
            "f32",
        )];
        let e = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.onnx")
                && e.contains("last_hidden_state")
                && e.contains("width 16")
                && e.contains("hidden_size is 8"),
            "{e}"
        );
        // A symbolic width is checked when the batch comes back.
        let outs = [OnnxTensor::new(
            "last_hidden_state",
            Some(vec![sym("b"), sym("s"), sym("h")]),
            "f32",
        )];
        assert!(OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None).is_ok());
    }

    #[test]
    fn a_configured_pooling_meets_an_already_pooled_output_with_an_error() {
        let ins = [t2("input_ids"), t2("attention_mask")];
        let outs = [OnnxTensor::new(
            "sentence_embedding",
            Some(vec![sym("b"), OnnxDim::Fixed(8)]),
            "f32",
        )];
        let mut s = spec(8, "");
        // The folder's own pooling, configured or not: the graph's.
        assert!(OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None).is_ok());
        let folder = s.pooling;
        let other = if folder == Pooling::Cls {
            Pooling::Mean
        } else {
            Pooling::Cls
        };
        s.apply(&titlesim_core::ModelOverrides {
            pooling: Some(other),
            ..Default::default()
        })
        .unwrap();
        let e = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("sentence_embedding")
                && e.contains("already pooled")
                && e.contains(&format!("`pooling = \"{other}\"`")),
            "{e}"
        );
    }

    #[test]
    fn left_padding_needs_a_position_ids_input() {
        let states = [OnnxTensor::new(
            "last_hidden_state",
            Some(vec![sym("b"), sym("s"), OnnxDim::Fixed(8)]),
            "f32",
        )];
        let mut s = spec(8, "");
        s.apply(&titlesim_core::ModelOverrides {
            padding_side: Some(PaddingSide::Left),
            ..Default::default()
        })
        .unwrap();
        let ins = [t2("input_ids"), t2("attention_mask")];
        let e = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &states, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.onnx")
                && e.contains("padding_side = \"left\"")
                && e.contains("position_ids"),
            "{e}"
        );
        let ins = [t2("input_ids"), t2("attention_mask"), t2("position_ids")];
        assert!(OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &states, None).is_ok());
        // Right padding needs no positions.
        s.apply(&titlesim_core::ModelOverrides {
            padding_side: Some(PaddingSide::Right),
            ..Default::default()
        })
        .unwrap();
        let ins = [t2("input_ids"), t2("attention_mask")];
        assert!(OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &states, None).is_ok());
    }

    #[test]
    fn maps_inputs_and_named_output() {
        let s = spec(8, "");
        let ins = [t2("input_ids"), t2("attention_mask"), t2("token_type_ids")];
        let outs = [
            OnnxTensor::new(
                "pooler_output",
                Some(vec![sym("b"), OnnxDim::Fixed(8)]),
                "f32",
            ),
            OnnxTensor::new(
                "last_hidden_state",
                Some(vec![sym("b"), sym("s"), OnnxDim::Fixed(8)]),
                "f32",
            ),
        ];
        let io = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None).unwrap();
        assert_eq!(io.output.index, 1);
        assert_eq!(io.output.variant(), None);
        assert_eq!(io.inputs[2].role, InputRole::TokenTypeIds);
        // Another output than the default one gives other vectors, and says so for the
        // fingerprint; naming the default one changes nothing.
        let named = |name| {
            OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, Some(name))
                .unwrap()
                .output
                .variant()
        };
        assert_eq!(
            named("pooler_output").as_deref(),
            Some("onnx_output=pooler_output")
        );
        assert_eq!(named("last_hidden_state"), None);
        let b = batch();
        match io.inputs[1].feed(&b) {
            Feed::Int64 { shape, data } => {
                assert_eq!(shape, [2, 3]);
                assert_eq!(data, &[1, 1, 1, 0, 0, 1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn input_and_output_types_are_checked() {
        let s = spec(8, "");
        let states = || {
            OnnxTensor::new(
                "last_hidden_state",
                Some(vec![sym("b"), sym("s"), OnnxDim::Fixed(8)]),
                "f32",
            )
        };
        let int32_ids = OnnxTensor::new("input_ids", Some(vec![sym("b"), sym("s")]), "i32");
        let e = OnnxIo::plan(
            "t",
            Path::new("m.onnx"),
            &s,
            &[int32_ids, t2("attention_mask")],
            &[states()],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("m.onnx") && e.contains("`input_ids` is of type i32"),
            "{e}"
        );
        let f16_out = OnnxTensor::new(
            "last_hidden_state",
            Some(vec![sym("b"), sym("s"), OnnxDim::Fixed(8)]),
            "f16",
        );
        let e = OnnxIo::plan(
            "t",
            Path::new("m.onnx"),
            &s,
            &[t2("input_ids"), t2("attention_mask")],
            &[f16_out],
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not f32"), "{e}");
    }

    #[test]
    fn falls_back_on_unique_rank3_hidden_output_and_configured_output() {
        let s = spec(4, "");
        let ins = [t2("input_ids"), t2("attention_mask")];
        let outs = [
            OnnxTensor::new("output", Some(vec![sym("a"), sym("b")]), "i64"),
            OnnxTensor::new("461", Some(vec![sym("a"), sym("b")]), "f32"),
            OnnxTensor::new(
                "onnx::Shape_422",
                Some(vec![sym("a"), sym("b"), OnnxDim::Fixed(4)]),
                "f32",
            ),
        ];
        let io = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None).unwrap();
        assert_eq!(io.output.name, "onnx::Shape_422");
        let io = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, Some("461")).unwrap();
        assert_eq!(io.output.index, 1);
        let e = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, Some("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`nope`") && e.contains("`461` [a, b] f32"),
            "{e}"
        );
        let e = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs[..2], None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("onnx_output") && e.contains("`output` [a, b] i64"),
            "{e}"
        );
        // A graph with no default reading had to name its output: the name is the only
        // reading, and the fingerprint stays as it was.
        let io = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs[..2], Some("461")).unwrap();
        assert_eq!(io.output.variant(), None);
    }

    #[test]
    fn unknown_input_is_listed() {
        let s = spec(4, "");
        let ins = [OnnxTensor::new("foo", Some(vec![OnnxDim::Fixed(1)]), "f32")];
        let outs = [OnnxTensor::new("bar", None, "f32")];
        let e = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`foo` [1] f32")
                && e.contains("`bar` [unknown shape]")
                && e.contains("m.onnx"),
            "{e}"
        );
    }

    #[test]
    fn past_is_sized_from_shape_or_config() {
        let s = spec(
            64,
            r#","num_attention_heads":4,"num_key_value_heads":2,"head_dim":16"#,
        );
        let past = |name: &str, dims: Vec<OnnxDim>| OnnxTensor::new(name, Some(dims), "f32");
        let ins = [
            t2("input_ids"),
            t2("attention_mask"),
            past(
                "past_key_values.0.key",
                vec![sym("b"), OnnxDim::Fixed(3), sym("p"), OnnxDim::Fixed(5)],
            ),
            past(
                "past_key_values.0.value",
                vec![sym("b"), sym("h"), sym("p"), sym("d")],
            ),
        ];
        let outs = [OnnxTensor::new("last_hidden_state", None, "f32")];
        let io = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None).unwrap();
        assert!(io.has_past());
        assert_eq!(
            io.inputs[2].role,
            InputRole::Past {
                kv_heads: 3,
                head_dim: 5
            }
        );
        assert_eq!(
            io.inputs[3].role,
            InputRole::Past {
                kv_heads: 2,
                head_dim: 16
            }
        );
        assert_eq!(
            io.inputs[3].feed(&batch()),
            Feed::Empty {
                shape: [2, 2, 0, 16]
            }
        );
    }

    #[test]
    fn output_shapes_are_checked() {
        let s = spec(2, "");
        let ins = [t2("input_ids"), t2("attention_mask")];
        let outs = [OnnxTensor::new("sentence_embedding", None, "f32")];
        let io = OnnxIo::plan("t", Path::new("m.onnx"), &s, &ins, &outs, None).unwrap();
        let b = batch();
        assert_eq!(
            io.output("t", &b, &[2, 2], vec![1., 2., 3., 4.]).unwrap(),
            BackendOutput::Pooled(vec![vec![1., 2.], vec![3., 4.]])
        );
        assert!(matches!(
            io.output("t", &b, &[2, 3, 1], vec![0.; 6]).unwrap(),
            BackendOutput::Tokens(_)
        ));
        assert!(io.output("t", &b, &[2, 4, 1], vec![0.; 8]).is_err());
        assert!(io.output("t", &b, &[2], vec![0.; 2]).is_err());
        assert!(io.output("t", &b, &[2, 2], vec![0.; 3]).is_err());
    }

    #[test]
    fn finds_external_data_locations() {
        let mut bytes = b"junk\x0a\x08location\x12\x0fmodel.onnx.data\x0a\x06offset".to_vec();
        bytes.extend_from_slice(b"\x0a\x08location\x12\x0fmodel.onnx.data");
        assert_eq!(
            external_data_locations(&bytes),
            vec!["model.onnx.data".to_string()]
        );
        assert!(external_data_locations(b"no external data here").is_empty());
    }
}
