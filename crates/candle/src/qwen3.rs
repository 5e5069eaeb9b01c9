//! Qwen3 decoders used as embedding models (`model_type: qwen3`, e.g. Qwen3-Embedding-0.6B).
//!
//! Our own forward pass, written for batched embedding rather than generation:
//! candle-transformers' `qwen3::Model` takes no padding mask and keeps a KV cache (a second
//! call silently returns wrong vectors). Here every call is independent (no cache), and
//! attention is *always* masked — causal and padding together, also when all texts have the
//! same length — so left- and right-padded batches give each text the vectors it gets alone.
//!
//! ```text
//! x = embed_tokens[ids]
//! for each layer:
//!     h   = RMSNorm(x)                                   (input_layernorm)
//!     qkv = h @ [Wq | Wk | Wv]^T                         (one fused product)
//!     q,k = RoPE(RMSNorm_head(q)), RoPE(RMSNorm_head(k)) (q_norm / k_norm, per head)
//!     x   = x + attention(q, k, v; causal + padding mask; GQA) @ Wo^T
//!     h   = RMSNorm(x)                                   (post_attention_layernorm)
//!     x   = x + (silu(h @ Wgate^T) * (h @ Wup^T)) @ Wdown^T   (gate and up fused)
//! return RMSNorm(x)                                      (norm; the core pools the last token)
//! ```
//!
//! Positions come from [`TokenBatch::position_ids`], which count real tokens only, so a
//! left-padded text sees the positions it would alone. Weights may be bf16, f16 or f32 and
//! are computed in f32; bf16 matrices (Qwen3-Embedding ships bf16) stay bf16 in memory and are
//! widened layer by layer as the products run, so the model takes half the memory of f32. With
//! `dtype = "int8"` the attention output, gate/up and down projections run in int8 and the
//! q/k/v projection stays f32 (why: `attention_inputs`); with `dtype = "bf16"` every dense
//! layer runs in bf16 (worst cosine to f32 0.99998 on the 0.6B architecture). Names are those of `Qwen3Model`
//! (`embed_tokens.weight`, `layers.0.self_attn.q_proj.weight`, ...), with or without the
//! `model.` prefix of `Qwen3ForCausalLM` checkpoints.

use candle_core::Tensor;
use titlesim_core::{Error, Result, TokenBatch};

use crate::layers::{checked, Dense, Precision};
use crate::ops::{self, Heads, QkNormRope};
use crate::weights::{ConfigReader, Matrix, Weights};
use crate::{cerr, Encoder};

/// The parts of `config.json` a Qwen3 model needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of the token states.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention).
    pub num_key_value_heads: usize,
    /// Width of one head (`head_dim`, or `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// Width of the MLP.
    pub intermediate_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base (`rope_theta`, or `rope_parameters.rope_theta`).
    pub rope_theta: f64,
    /// Whether the q/k/v/o projections have biases.
    pub attention_bias: bool,
}

impl Config {
    /// Reads a Qwen3 configuration from `config.json` (`path` is used in errors).
    pub fn from_json(path: &std::path::Path, json: &serde_json::Value) -> Result<Self> {
        let c = ConfigReader { path, json };
        let unsupported = |message: String| Error::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        let rope_params = json
            .get("rope_parameters")
            .or_else(|| json.get("rope_scaling"));
        let rope_theta = c
            .f64_opt("rope_theta")
            .or_else(|| {
                rope_params
                    .and_then(|p| p.get("rope_theta"))
                    .and_then(serde_json::Value::as_f64)
            })
            .ok_or_else(|| {
                Error::model_file(path, "no `rope_theta` (top level or in `rope_parameters`)")
            })?;
        if let Some(kind) = rope_params
            .and_then(|p| p.get("rope_type").or_else(|| p.get("type")))
            .and_then(serde_json::Value::as_str)
        {
            if kind != "default" {
                return Err(unsupported(format!(
                    "rope_type `{kind}`: the candle backend supports `default` RoPE only"
                )));
            }
        }
        if c.bool_opt("use_sliding_window") == Some(true) {
            return Err(unsupported(
                "use_sliding_window = true: sliding-window attention is not supported".into(),
            ));
        }
        if let Some(act) = c.str_opt("hidden_act") {
            if act != "silu" && act != "swish" {
                return Err(unsupported(format!(
                    "hidden_act `{act}`: Qwen3 models use silu"
                )));
            }
        }
        let hidden_size = c.usize("hidden_size")?;
        let num_attention_heads = c.usize("num_attention_heads")?;
        let num_key_value_heads = c
            .usize_opt("num_key_value_heads")
            .unwrap_or(num_attention_heads);
        let head_dim = match c.usize_opt("head_dim") {
            Some(d) => d,
            None => hidden_size / num_attention_heads,
        };
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(Error::model_file(
                path,
                format!(
                    "num_attention_heads {num_attention_heads} is not a multiple of num_key_value_heads {num_key_value_heads}"
                ),
            ));
        }
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(Error::model_file(
                path,
                format!("head_dim {head_dim} must be even and positive"),
            ));
        }
        // The projections' widths (heads × head_dim) must be numbers at all.
        if num_attention_heads.checked_mul(head_dim).is_none() {
            return Err(Error::model_file(
                path,
                format!(
                    "num_attention_heads {num_attention_heads} × head_dim {head_dim} overflows: not a real model's shape"
                ),
            ));
        }
        if !rope_theta.is_finite() || rope_theta <= 0.0 {
            return Err(Error::model_file(
                path,
                format!("`rope_theta` is {rope_theta}: it must be a positive number"),
            ));
        }
        Ok(Config {
            vocab_size: c.usize("vocab_size")?,
            hidden_size,
            num_hidden_layers: c.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            intermediate_size: c.usize("intermediate_size")?,
            rms_norm_eps: c.f64_opt("rms_norm_eps").unwrap_or(1e-6),
            rope_theta,
            attention_bias: c.bool_opt("attention_bias").unwrap_or(false),
        })
    }
}

struct Layer {
    input_norm: Vec<f32>,
    qkv: Dense,
    q_norm: Vec<f32>,
    k_norm: Vec<f32>,
    o_proj: Dense,
    post_norm: Vec<f32>,
    gate_up: Dense,
    down: Dense,
}

/// A loaded Qwen3 model (the decoder stack and its final norm; no LM head).
pub struct Qwen3 {
    cfg: Config,
    heads: Heads,
    /// `[vocab, hidden]`, bf16 kept as bf16 (rows widened as they are looked up).
    embed: Matrix,
    layers: Vec<Layer>,
    norm: Vec<f32>,
}

impl Qwen3 {
    /// Builds the model from checkpoint weights, checking every shape against `cfg`; the
    /// projections compute in `precision` (embeddings, norms and attention stay f32), except
    /// that int8 leaves the q/k/v projection in f32 (see `attention_inputs`).
    pub(crate) fn load(w: &Weights, cfg: &Config, precision: Precision) -> Result<Self> {
        let qkv_precision = attention_inputs(precision);
        let h = cfg.hidden_size;
        let d = cfg.head_dim;
        let q_out = cfg.num_attention_heads * d;
        let kv_out = cfg.num_key_value_heads * d;
        let ffn = cfg.intermediate_size;
        let embed = w.matrix("embed_tokens.weight", cfg.vocab_size, h)?;
        // Not preallocated from the configuration: a missing layer's tensors end the loop
        // with an error long before an absurd `num_hidden_layers` could.
        let mut layers = Vec::new();
        for i in 0..cfg.num_hidden_layers {
            let p = format!("layers.{i}");
            let proj = |name: &str, out: usize, inp: usize| -> Result<(Matrix, Option<Vec<f32>>)> {
                let weight = w.matrix(&format!("{p}.{name}.weight"), out, inp)?;
                let bias = if cfg.attention_bias && name.starts_with("self_attn.") {
                    Some(w.vec(&format!("{p}.{name}.bias"), out)?)
                } else {
                    None
                };
                Ok((weight, bias))
            };
            let (wq, bq) = proj("self_attn.q_proj", q_out, h)?;
            let (wk, bk) = proj("self_attn.k_proj", kv_out, h)?;
            let (wv, bv) = proj("self_attn.v_proj", kv_out, h)?;
            let (wo, bo) = proj("self_attn.o_proj", h, q_out)?;
            let (wg, _) = proj("mlp.gate_proj", ffn, h)?;
            let (wu, _) = proj("mlp.up_proj", ffn, h)?;
            let (wd, _) = proj("mlp.down_proj", h, ffn)?;
            let qkv_bias = match (bq, bk, bv) {
                (Some(q), Some(k), Some(v)) => Some(vec![q, k, v]),
                _ => None,
            };
            layers.push(Layer {
                input_norm: w.vec(&format!("{p}.input_layernorm.weight"), h)?,
                qkv: Dense::fuse(qkv_precision, &[wq, wk, wv], qkv_bias).map_err(cerr)?,
                q_norm: w.vec(&format!("{p}.self_attn.q_norm.weight"), d)?,
                k_norm: w.vec(&format!("{p}.self_attn.k_norm.weight"), d)?,
                o_proj: Dense::new(precision, &wo, bo).map_err(cerr)?,
                post_norm: w.vec(&format!("{p}.post_attention_layernorm.weight"), h)?,
                gate_up: Dense::fuse(precision, &[wg, wu], None).map_err(cerr)?,
                down: Dense::new(precision, &wd, None).map_err(cerr)?,
            });
        }
        w.refuse_extra_layer("layers", cfg.num_hidden_layers)?;
        let norm = w.vec("norm.weight", h)?;
        Ok(Qwen3 {
            cfg: cfg.clone(),
            heads: Heads {
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_key_value_heads,
                head_dim: d,
            },
            embed,
            layers,
            norm,
        })
    }
}

/// The precision of the fused q/k/v projection when the model's is `p`: int8 keeps it in f32
/// (on bf16 weights, widened a block at a time like the f32 mode), the other projections
/// (attention output, gate/up, down) go int8.
///
/// On Qwen3-Embedding-0.6B's architecture (random weights, `qwen3_memory` in
/// benches/README.md, 2026-12-05) the attention inputs carry most of int8's error: all
/// projections int8 gave a worst cosine to f32 of 0.99899 over 32 texts (below the 0.999 the
/// int8 mode promises); q/k/v in f32 0.99943 at 1.3x int8's time (still 3x faster than f32);
/// attention output in f32 0.99932; gate/up 0.99908; down 0.99894 (no better). The keys and
/// queries are normalised per head and their dot products go through a softmax, so their
/// rounding errors weigh more than the MLP's.
fn attention_inputs(p: Precision) -> Precision {
    match p {
        Precision::Int8 => Precision::F32,
        p => p,
    }
}

impl Encoder for Qwen3 {
    fn architecture(&self) -> &'static str {
        "qwen3"
    }

    fn hidden_size(&self) -> usize {
        self.cfg.hidden_size
    }

    /// Final-norm token states `[batch * seq, hidden]` of a padded batch.
    fn forward(&self, batch: &TokenBatch) -> Result<Tensor> {
        let h = self.cfg.hidden_size;
        let n = batch.batch_size * batch.seq_len;
        let ids = checked(
            &batch.input_ids,
            self.cfg.vocab_size,
            "token id",
            "vocab_size",
        )?;
        let max_pos = batch.position_ids.iter().copied().max().unwrap_or(0).max(0) as usize;
        let (cos, sin) = ops::rope_tables(max_pos + 1, self.cfg.head_dim, self.cfg.rope_theta);
        let eps = self.cfg.rms_norm_eps;
        let run = || -> candle_core::Result<Tensor> {
            let x = ops::tensor(self.embed.gather(&ids), n, h)?;
            for l in &self.layers {
                // Attention block (`qkv` is a fresh product: normalised and rotated in place).
                let hs = ops::rms_norm(&x, &l.input_norm, eps)?;
                let qkv = l.qkv.forward(&hs)?;
                let rope = QkNormRope {
                    heads: self.heads,
                    q_norm: &l.q_norm,
                    k_norm: &l.k_norm,
                    eps: eps as f32,
                    positions: &batch.position_ids,
                    cos: &cos,
                    sin: &sin,
                };
                ops::qk_norm_rope(&qkv, &rope)?;
                let mask = &batch.attention_mask;
                let ctx = ops::attention(&qkv, self.heads, mask, batch.seq_len, true)?;
                ops::add_assign(&x, &l.o_proj.forward(&ctx)?)?;
                // MLP block.
                let hs = ops::rms_norm(&x, &l.post_norm, eps)?;
                let gate_up = l.gate_up.forward(&hs)?;
                ops::add_assign(&x, &l.down.forward(&ops::swiglu(&gate_up)?)?)?;
            }
            ops::rms_norm(&x, &self.norm, eps)
        };
        run().map_err(cerr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// int8 runs the attention output and the MLP in int8 and the q/k/v projection in f32;
    /// bf16 runs every dense layer in bf16.
    #[test]
    fn int8_keeps_the_attention_inputs_in_f32() {
        let dir = titlesim_test_support::fixture("tiny-qwen3");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        let cfg = Config::from_json(&dir.join("config.json"), &json).unwrap();
        let w = Weights::load(&[dir.join("model.safetensors")], "model.").unwrap();
        for (p, qkv_f32, rest_f32) in [(Precision::F32, true, true), (Precision::Int8, true, false)]
        {
            let m = Qwen3::load(&w, &cfg, p).unwrap();
            for l in &m.layers {
                assert_eq!(matches!(l.qkv, Dense::F32(_)), qkv_f32, "{p:?} qkv");
                for d in [&l.o_proj, &l.gate_up, &l.down] {
                    assert_eq!(matches!(d, Dense::F32(_)), rest_f32, "{p:?}");
                }
            }
        }
        let m = Qwen3::load(&w, &cfg, Precision::Bf16).unwrap();
        for l in &m.layers {
            for d in [&l.qkv, &l.o_proj, &l.gate_up, &l.down] {
                assert!(matches!(d, Dense::Bf16(_)), "bf16");
            }
        }
    }
}
