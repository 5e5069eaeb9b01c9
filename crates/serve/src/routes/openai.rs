//! `POST /v1/embeddings` in OpenAI's shape, with the canonical model:
//!
//! ```text
//! {"input": "text" | ["text", ...], "model": "...", "encoding_format": "float" | "base64",
//!  "dimensions": N, "user": "..."}
//! → {"object": "list", "data": [{"object": "embedding", "embedding": [...] | "base64", "index": 0}, ...],
//!    "model": "<the served model>", "usage": {"prompt_tokens": N, "total_tokens": N}}
//! ```
//!
//! `model` is accepted whatever it names (the service runs one model, named in the answer);
//! `dimensions` other than the model's own is refused (these models are not trained for
//! truncation); token arrays as `input` are refused. Errors come in OpenAI's error shape.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use titlesim::Embedder;

use super::tei::{embed, texts_of};
use super::{answer, body_json, check_count, models};
use crate::error::ApiError;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbeddingsRequest {
    input: Value,
    #[serde(default)]
    #[allow(dead_code)]
    model: Option<String>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

/// The handler.
pub async fn embeddings(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let r = run(&st, body).await;
    answer(&st, "/v1/embeddings", r, true)
}

async fn run(st: &AppState, body: Body) -> Result<Response, ApiError> {
    let req: EmbeddingsRequest = body_json(st, body).await?;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "`encoding_format`: `{other}` is not one of float, base64"
            )))
        }
    };
    let texts = texts_of(req.input, "input")?;
    check_count(st, "input", texts.len())?;
    let m = models(st)?;
    let dim = m.embedder.info().dim;
    if let Some(d) = req.dimensions.filter(|&d| d != dim) {
        return Err(ApiError::validation(format!(
            "`dimensions`: {d} is not available: this model makes {dim}-dimensional vectors and is \
             not trained to be truncated"
        )));
    }
    let (vectors, tokens) = embed(st, &m, |i| format!("input[{i}]"), texts, None, None).await?;
    let data: Vec<Item> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| Item {
            object: "embedding",
            embedding: if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Embedding::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Embedding::Float(v)
            },
            index,
        })
        .collect();
    let answer = Answer {
        object: "list",
        data,
        model: &m.embedder.info().model,
        usage: Usage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    };
    Ok(Json(answer).into_response())
}

/// The whole answer, typed so that the floats stay `f32`s on the way out (a `serde_json::Value`
/// would widen them to `f64` text).
#[derive(Serialize)]
struct Answer<'a> {
    object: &'static str,
    data: Vec<Item<'a>>,
    model: &'a str,
    usage: Usage,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: usize,
    total_tokens: usize,
}

/// One vector of the answer. Floats are written as `f32`s (the shortest decimal that reads
/// back to the same `f32`), exactly as `/embed` and `titlesim embed` write them.
#[derive(Serialize)]
struct Item<'a> {
    object: &'static str,
    embedding: Embedding<'a>,
    index: usize,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Embedding<'a> {
    Float(&'a [f32]),
    Base64(String),
}
