//! BERT-family encoders (`model_type: bert`): all-MiniLM-L6-v2, bge-small-en-v1.5, ...
//!
//! The forward pass of `transformers`' `BertModel` without the pooler:
//!
//! ```text
//! x = LayerNorm(word[ids] + token_type[types] + position[positions])
//! for each layer:
//!     qkv = x @ [Wq | Wk | Wv]^T + b_qkv              (one fused product)
//!     a   = attention(qkv, padding mask)              (bidirectional)
//!     x   = LayerNorm(a @ Wo^T + bo + x)
//!     i   = act(x @ Wi^T + bi)                        (exact or tanh GELU, per `hidden_act`)
//!     x   = LayerNorm(i @ Wd^T + bd + x)
//! return x                                            (token states; the core pools them)
//! ```
//!
//! Weight names are those of `BertModel` (`embeddings.word_embeddings.weight`,
//! `encoder.layer.0.attention.self.query.weight`, ...), with or without the `bert.` prefix of
//! the task heads; old checkpoints' `LayerNorm.gamma`/`beta` are accepted too. Positions come
//! from [`TokenBatch::position_ids`] (real tokens count from 0 whatever the padding side).

use candle_core::Tensor;
use titlesim_core::{Error, Result, TokenBatch};

use crate::layers::{checked, gather, linear, Dense, Precision};
use crate::ops::{self, Activation, Heads};
use crate::weights::{ConfigReader, Weights};
use crate::{cerr, Encoder, BACKEND};

/// The parts of `config.json` a BERT encoder needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the token states.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Longest sequence the position table covers.
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// The feed-forward activation (`hidden_act`).
    pub hidden_act: String,
}

impl Config {
    /// Reads a BERT configuration from `config.json` (`path` is used in errors).
    pub fn from_json(path: &std::path::Path, json: &serde_json::Value) -> Result<Self> {
        let c = ConfigReader { path, json };
        if let Some(p) = c.str_opt("position_embedding_type") {
            if p != "absolute" {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    message: format!(
                        "position_embedding_type `{p}`: the candle backend supports `absolute` only"
                    ),
                });
            }
        }
        let cfg = Config {
            vocab_size: c.usize("vocab_size")?,
            hidden_size: c.usize("hidden_size")?,
            num_hidden_layers: c.usize("num_hidden_layers")?,
            num_attention_heads: c.usize("num_attention_heads")?,
            intermediate_size: c.usize("intermediate_size")?,
            max_position_embeddings: c.usize("max_position_embeddings")?,
            type_vocab_size: c.usize_opt("type_vocab_size").unwrap_or(2),
            layer_norm_eps: c.f64_opt("layer_norm_eps").unwrap_or(1e-12),
            hidden_act: c.str_opt("hidden_act").unwrap_or("gelu").to_string(),
        };
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(Error::model_file(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    cfg.hidden_size, cfg.num_attention_heads
                ),
            ));
        }
        if Activation::from_hf(&cfg.hidden_act).is_none() {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                message: format!(
                    "hidden_act `{}` (supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu)",
                    cfg.hidden_act
                ),
            });
        }
        Ok(cfg)
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn load(w: &Weights, prefix: &str, h: usize) -> Result<Self> {
        let (g, b) = if w.contains(&format!("{prefix}.gamma")) {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        Ok(Norm {
            gamma: w.vec(&format!("{prefix}.{g}"), h)?,
            beta: w.vec(&format!("{prefix}.{b}"), h)?,
        })
    }
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    intermediate: Dense,
    output: Dense,
    out_norm: Norm,
}

/// A loaded BERT encoder.
pub struct Bert {
    cfg: Config,
    act: Activation,
    heads: Heads,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Builds the encoder from checkpoint weights, checking every shape against `cfg`; the
    /// dense layers of the encoder compute in `precision` (embeddings, LayerNorms and
    /// attention stay f32).
    pub(crate) fn load(w: &Weights, cfg: &Config, precision: Precision) -> Result<Self> {
        let h = cfg.hidden_size;
        let e = "embeddings";
        let word = w.table(&format!("{e}.word_embeddings.weight"), cfg.vocab_size, h)?;
        let position = w.table(
            &format!("{e}.position_embeddings.weight"),
            cfg.max_position_embeddings,
            h,
        )?;
        let token_type = w.table(
            &format!("{e}.token_type_embeddings.weight"),
            cfg.type_vocab_size,
            h,
        )?;
        let emb_norm = Norm::load(w, &format!("{e}.LayerNorm"), h)?;
        // Not preallocated from the configuration: a missing layer's tensors end the loop
        // with an error long before an absurd `num_hidden_layers` could.
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (wq, bq) = linear(w, &format!("{p}.attention.self.query"), h, h)?;
            let (wk, bk) = linear(w, &format!("{p}.attention.self.key"), h, h)?;
            let (wv, bv) = linear(w, &format!("{p}.attention.self.value"), h, h)?;
            let (wo, bo) = linear(w, &format!("{p}.attention.output.dense"), h, h)?;
            let (wi, bi) = linear(
                w,
                &format!("{p}.intermediate.dense"),
                cfg.intermediate_size,
                h,
            )?;
            let (wd, bd) = linear(w, &format!("{p}.output.dense"), h, cfg.intermediate_size)?;
            layers.push(Layer {
                qkv: Dense::fuse(precision, &[wq, wk, wv], Some(vec![bq, bk, bv])).map_err(cerr)?,
                attn_out: Dense::new(precision, &wo, Some(bo)).map_err(cerr)?,
                attn_norm: Norm::load(w, &format!("{p}.attention.output.LayerNorm"), h)?,
                intermediate: Dense::new(precision, &wi, Some(bi)).map_err(cerr)?,
                output: Dense::new(precision, &wd, Some(bd)).map_err(cerr)?,
                out_norm: Norm::load(w, &format!("{p}.output.LayerNorm"), h)?,
            });
        }
        w.refuse_extra_layer("encoder.layer", cfg.num_hidden_layers)?;
        let act = Activation::from_hf(&cfg.hidden_act).ok_or_else(|| {
            Error::backend(
                BACKEND,
                format!("unsupported hidden_act {}", cfg.hidden_act),
            )
        })?;
        Ok(Bert {
            cfg: cfg.clone(),
            act,
            heads: Heads {
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_attention_heads,
                head_dim: h / cfg.num_attention_heads,
            },
            word,
            position,
            token_type,
            emb_norm,
            layers,
        })
    }
}

impl Encoder for Bert {
    fn architecture(&self) -> &'static str {
        "bert"
    }

    fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    /// Token states `[batch * seq, hidden]` of a padded batch.
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let h = self.cfg.hidden_size;
        let n = batch.batch_size * batch.seq_len;
        let ids = checked(
            &batch.input_ids,
            self.cfg.vocab_size,
            "token id",
            "vocab_size",
        )?;
        let types = checked(
            &batch.token_type_ids,
            self.cfg.type_vocab_size,
            "token type id",
            "type_vocab_size",
        )?;
        let positions = checked(
            &batch.position_ids,
            self.cfg.max_position_embeddings,
            "position",
            "max_position_embeddings (the text is too long for this model)",
        )?;

        // Embeddings, in transformers' order: (word + token type) + position.
        let mut x = gather(&self.word, h, &ids);
        for (r, row) in x.chunks_mut(h).enumerate() {
            let t = &self.token_type[types[r] * h..(types[r] + 1) * h];
            let p = &self.position[positions[r] * h..(positions[r] + 1) * h];
            for ((x, t), p) in row.iter_mut().zip(t).zip(p) {
                *x = (*x + t) + p;
            }
        }
        let run = || -> candle_core::Result<Tensor> {
            let eps = self.cfg.layer_norm_eps;
            let x = ops::tensor(x, n, h)?;
            ops::layer_norm(&x, None, &self.emb_norm.gamma, &self.emb_norm.beta, eps)?;
            let mut x = x;
            for l in &self.layers {
                let qkv = l.qkv.forward(&x)?;
                let mask = &batch.attention_mask;
                let ctx = ops::attention(&qkv, self.heads, mask, batch.seq_len, false)?;
                // "Add & norm" works in place on the fresh product.
                let a = l.attn_out.forward(&ctx)?;
                ops::layer_norm(&a, Some(&x), &l.attn_norm.gamma, &l.attn_norm.beta, eps)?;
                x = a;
                let i = l.intermediate.forward(&x)?;
                ops::activation(&i, self.act)?;
                let o = l.output.forward(&i)?;
                ops::layer_norm(&o, Some(&x), &l.out_norm.gamma, &l.out_norm.beta, eps)?;
                x = o;
            }
            Ok(x)
        };
        run().map_err(cerr)
    }
}
