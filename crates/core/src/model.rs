//! Reading a model folder the way sentence-transformers does.
//!
//! A sentence-transformers folder describes how to turn token states into one vector:
//! `modules.json` (which modules run), `1_Pooling/config.json` (how tokens are pooled),
//! a `Normalize` module (L2 normalisation), `sentence_bert_config.json` (max sequence
//! length, lower-casing) and `config_sentence_transformers.json` (prompts). A plain
//! Hugging Face folder without `modules.json` gets sentence-transformers' defaults:
//! mean pooling, no normalisation.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// The first token's state (`[CLS]`).
    Cls,
    /// The mean of the states of real (unmasked) tokens.
    Mean,
    /// The element-wise max over real tokens.
    Max,
    /// The state of the last real token, found from the attention mask (decoders).
    #[serde(alias = "lasttoken", alias = "last_token")]
    LastToken,
}

impl Pooling {
    /// The name used in configuration and reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
            Pooling::Max => "max",
            Pooling::LastToken => "last-token",
        }
    }
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cls" => Ok(Pooling::Cls),
            "mean" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            "last-token" | "lasttoken" | "last_token" | "last" => Ok(Pooling::LastToken),
            other => Err(format!(
                "unknown pooling `{other}` (expected cls, mean, max or last-token)"
            )),
        }
    }
}

/// Which side of a sequence padding goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PaddingSide {
    /// Pads after the tokens (BERT).
    #[default]
    Right,
    /// Pads before the tokens (Qwen3 and other decoders).
    Left,
}

/// The network family of a model, from `config.json`'s `model_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// BERT-family encoders (bert, and layouts compatible with it).
    Bert,
    /// Qwen3 decoders (Qwen3-Embedding).
    Qwen3,
    /// Anything else, with its `model_type`.
    Other(String),
}

impl Architecture {
    fn from_model_type(model_type: &str) -> Self {
        match model_type {
            "bert" => Architecture::Bert,
            "qwen3" => Architecture::Qwen3,
            other => Architecture::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for Architecture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Architecture::Bert => f.write_str("bert"),
            Architecture::Qwen3 => f.write_str("qwen3"),
            Architecture::Other(s) => f.write_str(s),
        }
    }
}

/// The files a model folder holds that titlesim uses.
#[derive(Debug, Clone, Serialize)]
pub struct ModelFiles {
    /// `config.json`.
    pub config: PathBuf,
    /// `tokenizer.json`.
    pub tokenizer: PathBuf,
    /// `tokenizer_config.json`, when present.
    pub tokenizer_config: Option<PathBuf>,
    /// Safetensors weights (`model.safetensors`, or the shards of an index), possibly empty.
    pub safetensors: Vec<PathBuf>,
    /// An ONNX export in the folder (`onnx/model.onnx` or `model.onnx`), when present.
    pub onnx: Option<PathBuf>,
    /// The sentence-transformers description files that were found.
    pub sentence_transformers: Vec<PathBuf>,
}

/// Settings a configuration may impose over what the folder says.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverrides {
    /// Pooling mode instead of the folder's.
    pub pooling: Option<Pooling>,
    /// L2-normalise (or not) regardless of the folder.
    pub normalize: Option<bool>,
    /// Maximum sequence length in tokens (special tokens included).
    pub max_length: Option<usize>,
    /// Padding side instead of `tokenizer_config.json`'s.
    pub padding_side: Option<PaddingSide>,
    /// For last-token pooling with a tokenizer that does not append an end-of-sequence token:
    /// `true` appends `config.json`'s `eos_token_id` to every text (what Qwen3-Embedding's
    /// model card does by hand for such folders); `false` pools the last word as
    /// sentence-transformers would. Unset, such a folder is refused with an error that says so.
    pub append_eos: Option<bool>,
}

/// Everything resolved about one model: where its files are and how to embed with it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSpec {
    /// What the user asked for (folder, cache entry or hub id).
    pub id: String,
    /// The resolved model folder.
    pub root: PathBuf,
    /// The files used.
    pub files: ModelFiles,
    /// The network family.
    pub architecture: Architecture,
    /// Width of the token states.
    pub hidden_size: usize,
    /// How token states are pooled.
    pub pooling: Pooling,
    /// Whether pooled vectors are L2-normalised.
    pub normalize: bool,
    /// Maximum tokens per text, special tokens included; longer texts are truncated.
    pub max_seq_length: usize,
    /// Lower-case texts before tokenising (`sentence_bert_config.json`'s `do_lower_case`).
    pub do_lower_case: bool,
    /// Padding side for batches.
    pub padding_side: PaddingSide,
    /// Truncation side (`tokenizer_config.json`'s `truncation_side`).
    pub truncation_side: PaddingSide,
    /// Pad token and its id.
    pub pad_token: Option<String>,
    /// Named prompts from `config_sentence_transformers.json`.
    pub prompts: BTreeMap<String, String>,
    /// The prompt sentence-transformers applies when none is named (titlesim does not apply
    /// it unasked, and warns that it exists).
    pub default_prompt_name: Option<String>,
    /// Whether prompt tokens take part in pooling (`1_Pooling`'s `include_prompt`).
    pub include_prompt: bool,
    /// What to do when last-token pooling meets a tokenizer that appends no end-of-sequence
    /// token (see [`ModelOverrides::append_eos`]); `None` until configured.
    pub append_eos: Option<bool>,
    /// Whether the configuration chose a pooling other than the folder's (a graph that pools
    /// by itself cannot honour that: see `titlesim-onnx`).
    pub pooling_overridden: bool,
    /// The raw `config.json`, for backends that need more of it.
    #[serde(skip)]
    pub config: Value,
    /// Things that look wrong but do not stop loading; shown by `titlesim inspect`.
    pub warnings: Vec<String>,
}

/// The largest JSON configuration file of a model folder read (real ones are a few KiB).
const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a JSON file of a model folder: a regular file (a FIFO would block the load, a link
/// to a device would be read without end) of at most [`MAX_CONFIG_BYTES`].
fn read_json(path: &Path) -> Result<Value> {
    use std::io::Read;
    let meta = fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::model_file(
            path,
            "not a regular file (a model folder's configuration must be plain JSON files)",
        ));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(Error::model_file(
            path,
            format!(
                "larger than {} MiB: not a model configuration file",
                MAX_CONFIG_BYTES / (1024 * 1024)
            ),
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::model_file(path, format!("invalid JSON: {e}")))
}

/// [`read_json`] for a file a folder may lack; present but not a regular file is an error,
/// not "absent" (an unreadable `modules.json` must not silently mean "plain folder").
fn read_json_opt(path: &Path) -> Result<Option<Value>> {
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_json(path).map(Some),
    }
}

/// A string that may be stored either plainly or as an `AddedToken` object (`{"content": ...}`).
fn token_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn usize_field(v: &Value, key: &str) -> Option<usize> {
    v.get(key).and_then(Value::as_u64).map(|n| n as usize)
}

impl ModelSpec {
    /// Reads a model folder. `id` is what the user called it (kept for logs).
    pub fn from_folder(id: &str, root: &Path) -> Result<Self> {
        Self::from_folder_with(id, root, &ModelOverrides::default())
    }

    /// Reads a model folder and applies `overrides` on top of what it says.
    pub fn from_folder_with(id: &str, root: &Path, overrides: &ModelOverrides) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::ModelNotFound {
                model: id.to_string(),
                looked: vec![root.to_path_buf()],
                hint: String::new(),
            });
        }
        let mut warnings = Vec::new();
        let config_path = root.join("config.json");
        if !config_path.is_file() {
            return Err(Error::model_file(
                &config_path,
                "missing: a model folder needs config.json",
            ));
        }
        let config = read_json(&config_path)?;
        let tokenizer_path = root.join("tokenizer.json");
        if !tokenizer_path.is_file() {
            return Err(Error::model_file(
                &tokenizer_path,
                "missing: titlesim needs the fast-tokenizer file tokenizer.json",
            ));
        }
        let model_type = config
            .get("model_type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::model_file(&config_path, "no `model_type` field"))?;
        let architecture = Architecture::from_model_type(model_type);
        let hidden_size = usize_field(&config, "hidden_size")
            .ok_or_else(|| Error::model_file(&config_path, "no `hidden_size` field"))?;
        if hidden_size == 0 {
            return Err(Error::model_file(
                &config_path,
                "`hidden_size` is 0: the embeddings would be empty",
            ));
        }

        // --- sentence-transformers modules -------------------------------------------------
        let mut st_files = Vec::new();
        let modules_path = root.join("modules.json");
        let mut pooling = Pooling::Mean; // sentence-transformers' default for plain folders
        let mut normalize = false;
        let mut include_prompt = true;
        if let Some(modules) = read_json_opt(&modules_path)? {
            st_files.push(modules_path.clone());
            let list = modules.as_array().ok_or_else(|| {
                Error::model_file(&modules_path, "expected a JSON array of modules")
            })?;
            let mut saw_pooling = false;
            let mut normalize_at = None;
            for (i, m) in list.iter().enumerate() {
                let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
                let sub = m.get("path").and_then(Value::as_str).unwrap_or("");
                let short = ty.rsplit('.').next().unwrap_or(ty);
                match short {
                    "Transformer" => {
                        if !sub.is_empty() {
                            return Err(Error::Unsupported {
                                path: root.to_path_buf(),
                                message: format!(
                                    "modules.json[{i}]: the Transformer module lives in `{sub}`; titlesim expects it at the folder root"
                                ),
                            });
                        }
                    }
                    "Pooling" => {
                        if let Some(n) = normalize_at {
                            // sentence-transformers would normalise every token state and
                            // then pool them: not the vector titlesim computes.
                            return Err(Error::Unsupported {
                                path: root.to_path_buf(),
                                message: format!(
                                    "modules.json[{n}]: Normalize comes before Pooling (modules.json[{i}]); titlesim normalises the pooled vector only"
                                ),
                            });
                        }
                        let p = root.join(sub).join("config.json");
                        let cfg = read_json(&p)?;
                        st_files.push(p.clone());
                        let (mode, incl) = pooling_from_config(&p, &cfg)?;
                        pooling = mode;
                        include_prompt = incl;
                        saw_pooling = true;
                    }
                    "Normalize" => {
                        normalize = true;
                        normalize_at = Some(i);
                    }
                    _ => {
                        return Err(Error::Unsupported {
                            path: root.to_path_buf(),
                            message: format!(
                                "modules.json[{i}]: module type `{ty}` is not supported (titlesim runs Transformer, Pooling and Normalize); refusing rather than ignoring it"
                            ),
                        })
                    }
                }
            }
            if !saw_pooling {
                warnings.push(
                    "modules.json has no Pooling module; using mean pooling as sentence-transformers does"
                        .into(),
                );
            }
        } else {
            warnings.push(
                "no modules.json: not a sentence-transformers folder; using mean pooling without normalisation (sentence-transformers' defaults)"
                    .into(),
            );
        }

        // --- sentence_bert_config.json -----------------------------------------------------
        let sbert_path = root.join("sentence_bert_config.json");
        let sbert = read_json_opt(&sbert_path)?;
        if sbert.is_some() {
            st_files.push(sbert_path.clone());
        }
        let tok_cfg_path = root.join("tokenizer_config.json");
        let tok_cfg = read_json_opt(&tok_cfg_path)?;

        let max_positions = usize_field(&config, "max_position_embeddings");
        // transformers writes 1e30 ("no limit") for tokenizers without one: ignored.
        let model_max_length = match tok_cfg.as_ref().and_then(|t| t.get("model_max_length")) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_f64() {
                Some(x) if x >= 1e12 => None,
                Some(x) if x >= 2.0 && x.fract() == 0.0 => Some(x as usize),
                _ => {
                    return Err(Error::model_file(
                        &tok_cfg_path,
                        format!(
                        "`model_max_length` is {v}: expected a whole number of tokens, at least 2"
                    ),
                    ))
                }
            },
        };
        let sbert_max = match sbert.as_ref().and_then(|s| s.get("max_seq_length")) {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 2 => Some(n as usize),
                _ => {
                    return Err(Error::model_file(
                        &sbert_path,
                        format!(
                        "`max_seq_length` is {v}: expected a whole number of tokens, at least 2"
                    ),
                    ))
                }
            },
        };
        let max_seq_length = sbert_max
            .or_else(|| match (max_positions, model_max_length) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
            .ok_or_else(|| {
                Error::model_file(
                    &sbert_path,
                    "no max_seq_length here, and neither config.json's max_position_embeddings nor tokenizer_config.json's model_max_length to fall back on",
                )
            })?;
        let do_lower_case = sbert
            .as_ref()
            .and_then(|s| s.get("do_lower_case"))
            .and_then(Value::as_bool)
            .unwrap_or(false);

        // --- tokenizer_config.json ---------------------------------------------------------
        let side = |key: &str| -> Result<PaddingSide> {
            match tok_cfg
                .as_ref()
                .and_then(|t| t.get(key))
                .and_then(Value::as_str)
            {
                None | Some("right") => Ok(PaddingSide::Right),
                Some("left") => Ok(PaddingSide::Left),
                Some(other) => Err(Error::model_file(
                    &tok_cfg_path,
                    format!("`{key}` is `{other}`, expected `left` or `right`"),
                )),
            }
        };
        let padding_side = side("padding_side")?;
        let truncation_side = side("truncation_side")?;
        let pad_token = token_string(tok_cfg.as_ref().and_then(|t| t.get("pad_token")));

        // --- config_sentence_transformers.json ---------------------------------------------
        let cst_path = root.join("config_sentence_transformers.json");
        let mut prompts = BTreeMap::new();
        let mut default_prompt_name = None;
        if let Some(cst) = read_json_opt(&cst_path)? {
            st_files.push(cst_path.clone());
            if let Some(obj) = cst.get("prompts").and_then(Value::as_object) {
                for (k, v) in obj {
                    let text = v.as_str().ok_or_else(|| {
                        Error::model_file(&cst_path, format!("prompt `{k}` is not a string"))
                    })?;
                    prompts.insert(k.clone(), text.to_string());
                }
            }
            default_prompt_name = cst
                .get("default_prompt_name")
                .and_then(Value::as_str)
                .map(str::to_string);
            if let Some(name) = &default_prompt_name {
                // sentence-transformers refuses such a folder at load too.
                if !prompts.contains_key(name) {
                    return Err(Error::model_file(
                        &cst_path,
                        format!("`default_prompt_name` `{name}` is not one of its `prompts`"),
                    ));
                }
                warnings.push(format!(
                    "config_sentence_transformers.json sets default_prompt_name = `{name}`: sentence-transformers prepends that prompt to every text it is not told otherwise; titlesim applies a prompt only where one is named (`prompt` and `prompt_side` in the configuration, `--prompt`, `prompt_name`), so name `{name}` there to get sentence-transformers' vectors"
                ));
            }
            // sentence-transformers' `similarity()` follows this key; titlesim judges cosines.
            if let Some(f) = cst.get("similarity_fn_name").and_then(Value::as_str) {
                if f != "cosine" {
                    warnings.push(format!(
                        "config_sentence_transformers.json sets similarity_fn_name = `{f}`: sentence-transformers' similarity() gives {f} scores for this model; titlesim scores cosines (and Model.similarity is the cosine matrix), so its values and thresholds are cosines, not {f} scores"
                    ));
                }
            }
        }

        // --- weights -----------------------------------------------------------------------
        let safetensors = find_safetensors(root)?;
        let onnx = ["onnx/model.onnx", "model.onnx"]
            .iter()
            .map(|p| root.join(p))
            .find(|p| p.is_file());

        let mut spec = ModelSpec {
            id: id.to_string(),
            root: root.to_path_buf(),
            files: ModelFiles {
                config: config_path,
                tokenizer: tokenizer_path,
                tokenizer_config: tok_cfg.as_ref().map(|_| tok_cfg_path.clone()),
                safetensors,
                onnx,
                sentence_transformers: st_files,
            },
            architecture,
            hidden_size,
            pooling,
            normalize,
            max_seq_length,
            do_lower_case,
            padding_side,
            truncation_side,
            pad_token,
            prompts,
            default_prompt_name,
            include_prompt,
            append_eos: None,
            pooling_overridden: false,
            config,
            warnings,
        };
        spec.apply(overrides)?;
        Ok(spec)
    }

    /// Applies configuration overrides.
    pub fn apply(&mut self, o: &ModelOverrides) -> Result<()> {
        if let Some(p) = o.pooling {
            self.pooling_overridden |= p != self.pooling;
            self.pooling = p;
        }
        if let Some(n) = o.normalize {
            self.normalize = n;
        }
        if let Some(m) = o.max_length {
            if m < 2 {
                return Err(Error::Config {
                    path: None,
                    message: format!("max_length = {m}: must be at least 2"),
                });
            }
            self.max_seq_length = m;
        }
        if let Some(s) = o.padding_side {
            self.padding_side = s;
        }
        self.check_positions(o.max_length.is_some())?;
        if let Some(a) = o.append_eos {
            self.append_eos = Some(a);
        }
        if self.pooling == Pooling::LastToken && self.padding_side == PaddingSide::Right {
            // Correct either way (we pool from the attention mask), but worth knowing.
            self.warnings.push(
                "last-token pooling with right padding: fine here (the last real token is found from the attention mask)".into(),
            );
        }
        if !self.include_prompt {
            self.warnings.push(
                "1_Pooling says include_prompt = false; titlesim pools prompt tokens too, so prompted embeddings may differ from sentence-transformers'".into(),
            );
        }
        Ok(())
    }

    /// The longest sequence the model's position embeddings allow, when `config.json` says:
    /// `max_position_embeddings`, less the offset RoBERTa-style models start their positions
    /// at (`pad_token_id + 1`).
    pub fn max_positions(&self) -> Option<usize> {
        let positions = usize_field(&self.config, "max_position_embeddings")?;
        let model_type = self.config.get("model_type").and_then(Value::as_str);
        let offset = match model_type {
            Some("roberta" | "xlm-roberta" | "camembert") => {
                usize_field(&self.config, "pad_token_id")
                    .unwrap_or(1)
                    .saturating_add(1)
            }
            _ => 0,
        };
        Some(positions.saturating_sub(offset))
    }

    /// Refuses a maximum sequence length beyond the model's position table, once for every
    /// backend: past it, ONNX Runtime and tract fail inside the engine (a Gather out of range)
    /// only when a long enough text comes, and candle at run time too.
    fn check_positions(&self, configured: bool) -> Result<()> {
        let Some(limit) = self.max_positions() else {
            return Ok(());
        };
        if self.max_seq_length <= limit {
            return Ok(());
        }
        Err(Error::MaxLengthBeyondPositions {
            model: self.root.clone(),
            max_length: self.max_seq_length,
            origin: if configured {
                "configured max_length".into()
            } else {
                "the folder's max_seq_length".into()
            },
            limit,
            positions: usize_field(&self.config, "max_position_embeddings").unwrap_or(limit),
        })
    }

    /// The text of a named prompt.
    pub fn prompt(&self, name: &str) -> Result<&str> {
        self.prompts.get(name).map(String::as_str).ok_or_else(|| {
            let known: Vec<_> = self.prompts.keys().cloned().collect();
            Error::Config {
                path: None,
                message: format!(
                    "prompt `{name}` is not defined by {} (known: {})",
                    self.root
                        .join("config_sentence_transformers.json")
                        .display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            }
        })
    }

    /// An integer field of `config.json`, or an error naming it.
    pub fn config_usize(&self, key: &str) -> Result<usize> {
        usize_field(&self.config, key).ok_or_else(|| {
            Error::model_file(
                &self.files.config,
                format!("missing or non-integer `{key}`"),
            )
        })
    }
}

fn pooling_from_config(path: &Path, cfg: &Value) -> Result<(Pooling, bool)> {
    let flag = |k: &str| cfg.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut modes = Vec::new();
    if flag("pooling_mode_cls_token") {
        modes.push(Pooling::Cls);
    }
    if flag("pooling_mode_mean_tokens") {
        modes.push(Pooling::Mean);
    }
    if flag("pooling_mode_max_tokens") {
        modes.push(Pooling::Max);
    }
    if flag("pooling_mode_lasttoken") {
        modes.push(Pooling::LastToken);
    }
    for unsupported in [
        "pooling_mode_mean_sqrt_len_tokens",
        "pooling_mode_weightedmean_tokens",
    ] {
        if flag(unsupported) {
            return Err(Error::model_file(
                path,
                format!("`{unsupported}` is not supported"),
            ));
        }
    }
    let include_prompt = cfg
        .get("include_prompt")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    match modes.as_slice() {
        [one] => Ok((*one, include_prompt)),
        [] => Err(Error::model_file(path, "no pooling mode is enabled")),
        _ => Err(Error::model_file(
            path,
            "several pooling modes are enabled (concatenated pooling is not supported)",
        )),
    }
}

fn find_safetensors(root: &Path) -> Result<Vec<PathBuf>> {
    let single = root.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = root.join("model.safetensors.index.json");
    if index.is_file() {
        let shards: Vec<PathBuf> = safetensors_shards(&index)?
            .into_iter()
            .map(|s| root.join(s))
            .collect();
        for s in &shards {
            if !s.is_file() {
                return Err(Error::model_file(
                    s,
                    "listed in the safetensors index but missing",
                ));
            }
        }
        return Ok(shards);
    }
    Ok(Vec::new())
}

/// The shard files a safetensors index (`model.safetensors.index.json`) names in its
/// `weight_map`, sorted, each once: paths relative to the index's folder that stay inside it
/// (no absolute path, no `..`), so a hostile index cannot load weights from elsewhere.
pub(crate) fn safetensors_shards(index: &Path) -> Result<Vec<String>> {
    let idx = read_json(index)?;
    let map = idx
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::model_file(index, "no `weight_map` object"))?;
    let mut shards = Vec::new();
    for (tensor, file) in map {
        let Some(file) = file.as_str() else {
            return Err(Error::model_file(
                index,
                format!("weight_map.{tensor}: expected a file name, found {file}"),
            ));
        };
        let inside = !file.is_empty()
            && Path::new(file)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(Error::model_file(
                index,
                format!("weight_map.{tensor}: {file:?} is not a file inside the model folder"),
            ));
        }
        shards.push(file.to_string());
    }
    shards.sort();
    shards.dedup();
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    fn bert_folder(dir: &Path) {
        write(
            dir,
            "config.json",
            r#"{"model_type":"bert","hidden_size":8,"max_position_embeddings":512}"#,
        );
        write(dir, "tokenizer.json", "{}");
        write(
            dir,
            "tokenizer_config.json",
            r#"{"pad_token":"[PAD]","model_max_length":512}"#,
        );
        write(
            dir,
            "modules.json",
            r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
                {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        write(
            dir,
            "1_Pooling/config.json",
            r#"{"word_embedding_dimension":8,"pooling_mode_mean_tokens":true}"#,
        );
        write(
            dir,
            "sentence_bert_config.json",
            r#"{"max_seq_length":256,"do_lower_case":false}"#,
        );
    }

    #[test]
    fn reads_sentence_transformers_folder() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        let s = ModelSpec::from_folder("x", d.path()).unwrap();
        assert_eq!(s.architecture, Architecture::Bert);
        assert_eq!(s.pooling, Pooling::Mean);
        assert!(s.normalize);
        assert_eq!(s.max_seq_length, 256);
        assert_eq!(s.padding_side, PaddingSide::Right);
        assert_eq!(s.pad_token.as_deref(), Some("[PAD]"));
        assert_eq!(s.hidden_size, 8);
    }

    #[test]
    fn max_length_beyond_the_position_table_is_refused() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        let o = ModelOverrides {
            max_length: Some(513),
            ..Default::default()
        };
        match ModelSpec::from_folder_with("x", d.path(), &o) {
            Err(
                e @ Error::MaxLengthBeyondPositions {
                    max_length: 513,
                    limit: 512,
                    ..
                },
            ) => {
                let s = e.to_string();
                assert!(
                    s.contains(&d.path().display().to_string())
                        && s.contains("max_length 513 (configured max_length)")
                        && s.contains("512 positions")
                        && s.contains("max_position_embeddings"),
                    "{s}"
                );
            }
            other => panic!("expected MaxLengthBeyondPositions, got {other:?}"),
        }
        // Exactly the table is fine.
        let o = ModelOverrides {
            max_length: Some(512),
            ..Default::default()
        };
        assert_eq!(
            ModelSpec::from_folder_with("x", d.path(), &o)
                .unwrap()
                .max_seq_length,
            512
        );
        // The folder's own max_seq_length is checked too, unless the configuration lowers it.
        write(
            d.path(),
            "sentence_bert_config.json",
            r#"{"max_seq_length":1024,"do_lower_case":false}"#,
        );
        match ModelSpec::from_folder("x", d.path()) {
            Err(Error::MaxLengthBeyondPositions {
                max_length: 1024,
                origin,
                ..
            }) => assert!(origin.contains("folder"), "{origin}"),
            other => panic!("expected MaxLengthBeyondPositions, got {other:?}"),
        }
        let o = ModelOverrides {
            max_length: Some(128),
            ..Default::default()
        };
        assert!(ModelSpec::from_folder_with("x", d.path(), &o).is_ok());
        // RoBERTa-style positions start after the padding index.
        write(
            d.path(),
            "config.json",
            r#"{"model_type":"roberta","hidden_size":8,"max_position_embeddings":514,"pad_token_id":1}"#,
        );
        let o = ModelOverrides {
            max_length: Some(513),
            ..Default::default()
        };
        match ModelSpec::from_folder_with("x", d.path(), &o) {
            Err(e @ Error::MaxLengthBeyondPositions { limit: 512, .. }) => {
                assert!(
                    e.to_string().contains("= 514, less the position offset"),
                    "{e}"
                )
            }
            other => panic!("expected MaxLengthBeyondPositions, got {other:?}"),
        }
        // A padding index at the top of 64 bits overflowed (a panic in a debug build).
        write(
            d.path(),
            "config.json",
            r#"{"model_type":"roberta","hidden_size":8,"max_position_embeddings":514,"pad_token_id":18446744073709551615}"#,
        );
        match ModelSpec::from_folder_with("x", d.path(), &o) {
            Err(Error::MaxLengthBeyondPositions { limit: 0, .. }) => {}
            other => panic!("expected MaxLengthBeyondPositions, got {other:?}"),
        }
    }

    #[test]
    fn overrides_win() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        let o = ModelOverrides {
            pooling: Some(Pooling::Cls),
            normalize: Some(false),
            max_length: Some(64),
            padding_side: Some(PaddingSide::Left),
            append_eos: Some(true),
        };
        let s = ModelSpec::from_folder_with("x", d.path(), &o).unwrap();
        assert_eq!(s.pooling, Pooling::Cls);
        assert!(!s.normalize);
        assert_eq!(s.max_seq_length, 64);
        assert_eq!(s.padding_side, PaddingSide::Left);
    }

    #[test]
    fn plain_folder_defaults_to_mean_without_normalisation() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        fs::remove_file(d.path().join("modules.json")).unwrap();
        fs::remove_file(d.path().join("sentence_bert_config.json")).unwrap();
        let s = ModelSpec::from_folder("x", d.path()).unwrap();
        assert_eq!(s.pooling, Pooling::Mean);
        assert!(!s.normalize);
        assert_eq!(s.max_seq_length, 512);
        assert!(!s.warnings.is_empty());
    }

    #[test]
    fn last_token_and_prompts_and_left_padding() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        write(
            d.path(),
            "1_Pooling/config.json",
            r#"{"pooling_mode_lasttoken":true}"#,
        );
        write(
            d.path(),
            "tokenizer_config.json",
            r#"{"pad_token":{"content":"<|endoftext|>"},"padding_side":"left"}"#,
        );
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"prompts":{"query":"Instruct: x\nQuery:","document":""},"default_prompt_name":null}"#,
        );
        let s = ModelSpec::from_folder("x", d.path()).unwrap();
        assert_eq!(s.pooling, Pooling::LastToken);
        assert_eq!(s.padding_side, PaddingSide::Left);
        assert_eq!(s.pad_token.as_deref(), Some("<|endoftext|>"));
        assert_eq!(s.prompt("query").unwrap(), "Instruct: x\nQuery:");
        let err = s.prompt("nope").unwrap_err().to_string();
        assert!(err.contains("query"), "{err}");
    }

    #[test]
    fn errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        fs::remove_file(d.path().join("tokenizer.json")).unwrap();
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokenizer.json"), "{e}");

        bert_folder(d.path());
        write(d.path(), "config.json", "{not json");
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.json") && e.contains("invalid JSON"),
            "{e}"
        );

        bert_folder(d.path());
        write(
            d.path(),
            "modules.json",
            r#"[{"type":"sentence_transformers.models.Dense","path":"2_Dense"}]"#,
        );
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Dense"), "{e}");

        bert_folder(d.path());
        write(
            d.path(),
            "modules.json",
            r#"[{"type":"sentence_transformers.models.Transformer","path":""},
                {"type":"sentence_transformers.models.Normalize","path":"2_Normalize"},
                {"type":"sentence_transformers.models.Pooling","path":"1_Pooling"}]"#,
        );
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("Normalize comes before Pooling"), "{e}");

        bert_folder(d.path());
        write(
            d.path(),
            "1_Pooling/config.json",
            r#"{"pooling_mode_mean_tokens":true,"pooling_mode_cls_token":true}"#,
        );
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("several pooling modes"), "{e}");
    }

    /// What a hand-built or hostile folder gets: an error naming the file and the field, never
    /// a panic, a hang or a silently different model.
    #[test]
    fn hostile_folder_values_are_errors_naming_file_and_field() {
        let d = tempfile::tempdir().unwrap();
        let err = |d: &Path| {
            ModelSpec::from_folder("x", d)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        for bad in ["0", "1", "-3", "256.5", "\"256\""] {
            bert_folder(d.path());
            write(
                d.path(),
                "sentence_bert_config.json",
                &format!(r#"{{"max_seq_length":{bad}}}"#),
            );
            let e = err(d.path());
            assert!(
                e.contains("sentence_bert_config.json") && e.contains("`max_seq_length` is"),
                "{bad}: {e}"
            );
        }
        for bad in ["-1", "0", "12.5"] {
            bert_folder(d.path());
            std::fs::remove_file(d.path().join("sentence_bert_config.json")).unwrap();
            write(
                d.path(),
                "tokenizer_config.json",
                &format!(r#"{{"model_max_length":{bad}}}"#),
            );
            let e = err(d.path());
            assert!(
                e.contains("tokenizer_config.json") && e.contains("`model_max_length` is"),
                "{bad}: {e}"
            );
        }
        // transformers' "no limit" stays "no limit".
        bert_folder(d.path());
        std::fs::remove_file(d.path().join("sentence_bert_config.json")).unwrap();
        write(
            d.path(),
            "tokenizer_config.json",
            r#"{"model_max_length":1e30}"#,
        );
        assert_eq!(
            ModelSpec::from_folder("x", d.path())
                .unwrap()
                .max_seq_length,
            512
        );

        bert_folder(d.path());
        write(
            d.path(),
            "config.json",
            r#"{"model_type":"bert","hidden_size":0,"max_position_embeddings":512}"#,
        );
        let e = err(d.path());
        assert!(
            e.contains("config.json") && e.contains("`hidden_size` is 0"),
            "{e}"
        );

        // A default prompt that is not defined is refused (as sentence-transformers does);
        // one that is defined is shown, with a warning that it is not applied unasked.
        bert_folder(d.path());
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"prompts":{"query":"query: "},"default_prompt_name":"passage"}"#,
        );
        let e = err(d.path());
        assert!(
            e.contains("config_sentence_transformers.json")
                && e.contains("`default_prompt_name` `passage` is not one of its `prompts`"),
            "{e}"
        );
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"prompts":{"query":"query: "},"default_prompt_name":"query"}"#,
        );
        let s = ModelSpec::from_folder("x", d.path()).unwrap();
        assert!(
            s.warnings
                .iter()
                .any(|w| w.contains("default_prompt_name = `query`")),
            "{:?}",
            s.warnings
        );
        // A dot-product model: sentence-transformers' similarity() gives dot products for it,
        // titlesim cosines; said at load. "cosine" (or no key) says nothing.
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"prompts":{},"similarity_fn_name":"dot"}"#,
        );
        let s = ModelSpec::from_folder("x", d.path()).unwrap();
        assert!(
            s.warnings.iter().any(|w| w.contains(
                "similarity_fn_name = `dot`: sentence-transformers' similarity() gives dot scores"
            )),
            "{:?}",
            s.warnings
        );
        write(
            d.path(),
            "config_sentence_transformers.json",
            r#"{"prompts":{},"similarity_fn_name":"cosine"}"#,
        );
        let s = ModelSpec::from_folder("x", d.path()).unwrap();
        assert!(
            !s.warnings.iter().any(|w| w.contains("similarity_fn_name")),
            "{:?}",
            s.warnings
        );
    }

    /// A configuration file that is a FIFO would block the load for ever, and a link to a
    /// device would be read without end; `modules.json` as a folder must not pass for absent.
    #[cfg(unix)]
    #[test]
    fn configuration_files_must_be_regular_files() {
        let d = tempfile::tempdir().unwrap();
        bert_folder(d.path());
        let pooling = d.path().join("1_Pooling/config.json");
        std::fs::remove_file(&pooling).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&pooling)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if made {
            let e = ModelSpec::from_folder("x", d.path())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("1_Pooling") && e.contains("not a regular file"),
                "{e}"
            );
            // (Writing the folder again would block on the FIFO.)
            std::fs::remove_file(&pooling).unwrap();
        }
        std::os::unix::fs::symlink("/dev/zero", &pooling).unwrap();
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        std::fs::remove_file(&pooling).unwrap();

        bert_folder(d.path());
        std::fs::remove_file(d.path().join("modules.json")).unwrap();
        std::fs::create_dir(d.path().join("modules.json")).unwrap();
        let e = ModelSpec::from_folder("x", d.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("modules.json") && e.contains("not a regular file"),
            "{e}"
        );
    }

    #[test]
    fn a_safetensors_index_names_files_inside_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let index = d.path().join("model.safetensors.index.json");
        let write_index = |map: &str| {
            fs::write(&index, format!("{{\"weight_map\": {map}}}")).unwrap();
        };
        write_index(
            r#"{"a": "model-2.safetensors", "b": "model-1.safetensors", "c": "model-2.safetensors"}"#,
        );
        assert_eq!(
            safetensors_shards(&index).unwrap(),
            ["model-1.safetensors", "model-2.safetensors"]
        );
        // A listed shard that is not there is named.
        let e = find_safetensors(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("model-1.safetensors") && e.contains("missing"),
            "{e}"
        );
        fs::write(d.path().join("model-1.safetensors"), b"").unwrap();
        fs::write(d.path().join("model-2.safetensors"), b"").unwrap();
        assert_eq!(find_safetensors(d.path()).unwrap().len(), 2);
        for (value, says) in [
            (
                r#""../other/model.safetensors""#,
                "is not a file inside the model folder",
            ),
            (
                r#""/etc/hostname""#,
                "is not a file inside the model folder",
            ),
            (r#""""#, "is not a file inside the model folder"),
            ("5", "expected a file name, found 5"),
        ] {
            write_index(&format!(
                r#"{{"a": "model-1.safetensors", "bad.weight": {value}}}"#
            ));
            let e = find_safetensors(d.path()).unwrap_err().to_string();
            assert!(
                e.contains("model.safetensors.index.json")
                    && e.contains("weight_map.bad.weight")
                    && e.contains(says),
                "{value}: {e}"
            );
        }
    }

    #[test]
    fn missing_folder_is_model_not_found() {
        let e = ModelSpec::from_folder("x", Path::new("/definitely/not/here")).unwrap_err();
        assert!(matches!(e, Error::ModelNotFound { .. }));
    }
}
