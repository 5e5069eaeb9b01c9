//! `POST /embed` and `POST /similarity` in text-embeddings-inference's request and response
//! shapes, with the canonical model.
//!
//! - `/embed` `{"inputs": "text" | ["text", ...], "normalize": true, "prompt_name": null,
//!   "truncate": false, "truncation_direction": "right"}` → `[[f32, ...], ...]`.
//! - `/similarity` `{"inputs": {"source_sentence": "...", "sentences": ["...", ...]},
//!   "parameters": {"prompt_name": null, "truncate": false, "truncation_direction": "right"}}`
//!   → `[cosine, ...]`, one per sentence (a top-level `prompt_name` is read too).
//!
//! Inputs longer than the model's `max_length` are truncated (at the right), as `titlesim
//! embed` does, unless the request says `"truncate": false`: then such an input is refused
//! with 413, as text-embeddings-inference refuses it, instead of embedding part of it.
//! `truncation_direction: "right"` is accepted for compatibility, `"left"` is refused.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use titlesim::Embedder;

use super::{answer, body_json, check_count, check_text, count_tokens, models};
use crate::error::ApiError;
use crate::models::Models;
use crate::queue::{Done, Work};
use crate::AppState;

/// The texts of an `inputs` / `input` field: one text or a list of texts. Anything else is
/// an error naming the field, and for a list the first item that is not a text and what it is
/// (a list of numbers is a token array, which titlesim does not take).
pub(crate) fn texts_of(v: Value, field: &str) -> Result<Vec<String>, ApiError> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    match v {
        Value::String(s) => Ok(vec![s]),
        Value::Array(items) => {
            if !items.is_empty() && items.iter().all(Value::is_number) {
                return Err(ApiError::validation(format!(
                    "`{field}` is a list of numbers: token arrays are not supported, send the texts"
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s),
                    other => Err(ApiError::validation(format!(
                        "`{field}[{i}]`: expected a string, found {}{}",
                        kind(&other),
                        if other.is_array() {
                            " (token arrays are not supported)"
                        } else {
                            ""
                        }
                    ))),
                })
                .collect()
        }
        other => Err(ApiError::validation(format!(
            "`{field}` must be a string or a list of strings, found {}",
            kind(&other)
        ))),
    }
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedRequest {
    inputs: Value,
    #[serde(default = "yes")]
    normalize: bool,
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    truncation_direction: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarityInputs {
    source_sentence: String,
    sentences: Vec<String>,
}

/// text-embeddings-inference's `/similarity` body: options under `parameters` (TEI's own
/// examples send `"parameters": {}`); a top-level `prompt_name` is read too, as before.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarityRequest {
    inputs: SimilarityInputs,
    #[serde(default)]
    parameters: Option<SimilarityParameters>,
    #[serde(default)]
    prompt_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SimilarityParameters {
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    truncation_direction: Option<String>,
}

/// Refuses a `truncation_direction` other than `right` (`field` names it in the request).
fn check_direction(field: &str, direction: Option<&str>) -> Result<(), ApiError> {
    match direction.filter(|d| !d.eq_ignore_ascii_case("right")) {
        Some(d) => Err(ApiError::validation(format!(
            "`{field}`: `{d}` is not supported (titlesim truncates at the right)"
        ))),
        None => Ok(()),
    }
}

/// Embeds `texts` (prompt `prompt_name` applied) through the queue; the vectors and the
/// tokens counted. Shared by every embedding endpoint, which checks the number of texts
/// itself; `field(i)` names text `i` in the request for errors. `no_truncation` names the
/// request's field that said `"truncate": false`, if one did: a text longer than the model's
/// maximum length is then refused (413), not cut.
pub(crate) async fn embed(
    st: &AppState,
    m: &Arc<Models>,
    field: impl Fn(usize) -> String,
    texts: Vec<String>,
    prompt_name: Option<&str>,
    no_truncation: Option<&str>,
) -> Result<(Vec<Vec<f32>>, usize), ApiError> {
    for (i, t) in texts.iter().enumerate() {
        check_text(|| field(i), t)?;
    }
    let texts = match prompt_name {
        None => texts,
        Some(name) => {
            let p = m
                .embedder
                .spec()
                .prompt(name)
                .map_err(|e| ApiError::validation(format!("`prompt_name`: {e}")))?
                .to_string();
            texts
                .iter()
                .map(|t| titlesim::apply_prompt(Some(&p), t).into_owned())
                .collect()
        }
    };
    let place = st.queue.admit()?;
    let counted = count_tokens(st, m, texts.clone()).await?;
    if let Some(asked) = no_truncation {
        if let Some(i) = counted.iter().position(|c| c.truncated) {
            let max = m.embedder.tokenizer().max_length();
            return Err(ApiError::too_large(format!(
                "`{}` has more than the model's {max} tokens (special tokens included) and \
                 `{asked}` is false: shorten it, or leave `{asked}` out (or send true) to embed \
                 its first {max} tokens",
                field(i)
            )));
        }
    }
    let tokens: usize = counted.iter().map(|c| c.tokens).sum();
    match place.submit(Work::Embed(texts), tokens).await? {
        Done::Vectors(v) => Ok((v, tokens)),
        Done::Scores(_) => Err(ApiError::backend("the queue answered with scores")),
    }
}

/// `POST /embed`.
pub async fn embed_handler(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let r = run_embed(&st, body).await;
    answer(&st, "/embed", r, false)
}

async fn run_embed(st: &AppState, body: Body) -> Result<Response, ApiError> {
    let req: EmbedRequest = body_json(st, body).await?;
    check_direction("truncation_direction", req.truncation_direction.as_deref())?;
    let m = models(st)?;
    let normalizes = m.embedder.info().normalize;
    if !req.normalize && normalizes {
        return Err(ApiError::validation(
            "`normalize`: false is not available: this model normalises its embeddings (its \
             folder has a Normalize module)",
        ));
    }
    let inputs = texts_of(req.inputs, "inputs")?;
    check_count(st, "inputs", inputs.len())?;
    let (mut vectors, _) = embed(
        st,
        &m,
        |i| format!("inputs[{i}]"),
        inputs,
        req.prompt_name.as_deref(),
        (req.truncate == Some(false)).then_some("truncate"),
    )
    .await?;
    if req.normalize && !normalizes {
        for v in &mut vectors {
            titlesim::l2_normalize(v);
        }
    }
    Ok(Json(vectors).into_response())
}

/// `POST /similarity`.
pub async fn similarity_handler(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let r = run_similarity(&st, body).await;
    answer(&st, "/similarity", r, false)
}

async fn run_similarity(st: &AppState, body: Body) -> Result<Response, ApiError> {
    let req: SimilarityRequest = body_json(st, body).await?;
    let parameters = req.parameters.unwrap_or_default();
    check_direction(
        "parameters.truncation_direction",
        parameters.truncation_direction.as_deref(),
    )?;
    let prompt_name = match (req.prompt_name, parameters.prompt_name) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::validation(format!(
                "`prompt_name` `{a}` and `parameters.prompt_name` `{b}` differ: give one"
            )))
        }
        (a, b) => a.or(b),
    };
    check_count(st, "inputs.sentences", req.inputs.sentences.len())?;
    let m = models(st)?;
    let mut texts = Vec::with_capacity(req.inputs.sentences.len() + 1);
    texts.push(req.inputs.source_sentence);
    texts.extend(req.inputs.sentences);
    // Text 0 is the source sentence: errors name the request's own fields.
    let field = |i: usize| match i {
        0 => "inputs.source_sentence".to_string(),
        i => format!("inputs.sentences[{}]", i - 1),
    };
    let no_truncation = (parameters.truncate == Some(false)).then_some("parameters.truncate");
    let (vectors, _) = embed(st, &m, field, texts, prompt_name.as_deref(), no_truncation).await?;
    let scores: Vec<f32> = vectors[1..]
        .iter()
        .map(|v| titlesim::cosine(&vectors[0], v))
        .collect();
    Ok(Json(scores).into_response())
}
