//! The HTTP endpoints, one module per API family, and what they share: reading a bounded JSON
//! body with errors that name the field, waiting for the models, counting tokens.

pub mod openai;
pub mod ops;
mod scan;
pub mod score;
pub mod tei;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::models::Models;
use crate::AppState;

/// Reads the body (at most `[serve] max_body_bytes`: 413 beyond; all of it within
/// `read_timeout_ms`: 408 after) as JSON of `T`. A malformed body or field is a 422 naming the
/// field's path (`pairs[3].gt: invalid type: ...`).
pub(crate) async fn body_json<T: DeserializeOwned>(
    st: &AppState,
    body: Body,
) -> Result<T, ApiError> {
    let max = st.opts.max_body_bytes;
    let wait = st.opts.read_timeout_ms;
    let read = tokio::time::timeout(
        std::time::Duration::from_millis(wait),
        axum::body::to_bytes(body, max),
    )
    .await
    .map_err(|_| {
        ApiError::timeout(format!(
            "the request body did not arrive within {wait} ms ([serve] read_timeout_ms)"
        ))
    })?;
    let bytes = read.map_err(|e| {
        if e.to_string().contains("length limit") {
            ApiError::too_large(format!(
                "the request body is larger than {max} bytes ([serve] max_body_bytes)"
            ))
        } else {
            ApiError::empty(format!("cannot read the request body: {e}"))
        }
    })?;
    // A UTF-8 byte-order mark (PowerShell and some editors write one) is skipped, as every
    // file reader skips it.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::empty(
            "the request body is empty: expected a JSON object",
        ));
    }
    // Lists are counted before anything is built from them ([`scan`]).
    if let Some(t) = scan::too_long(bytes, st.opts.max_inputs) {
        // The body itself, when it is the list (every endpoint takes an object).
        let name = if t.path.is_empty() {
            "the body".to_string()
        } else {
            format!("`{}`", t.path)
        };
        return Err(if t.object {
            ApiError::too_large(format!(
                "{name} holds {} keys: no request object has that many",
                t.items
            ))
        } else {
            too_many(&name, t.items, st.opts.max_inputs)
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        // A body cut short inside a key has a last segment serde cannot name (`?`): name
        // what it can, the object the key was in.
        let path = path.trim_end_matches('?').trim_end_matches('.').to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::validation(format!("invalid request: {inner}"))
        } else {
            ApiError::validation(format!("`{path}`: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::validation(format!("invalid request: {e}")))?;
    Ok(v)
}

/// The loaded models, or 503 while they load.
pub(crate) fn models(st: &AppState) -> Result<Arc<Models>, ApiError> {
    st.models
        .get()
        .cloned()
        .ok_or_else(|| ApiError::unavailable("the models are still loading; retry shortly"))
}

/// Refuses a list longer than `[serve] max_inputs` (413) or empty (400), naming the field.
pub(crate) fn check_count(st: &AppState, field: &str, n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::empty(format!(
            "`{field}` is empty: nothing to do"
        )));
    }
    if n > st.opts.max_inputs {
        return Err(too_many(&format!("`{field}`"), n, st.opts.max_inputs));
    }
    Ok(())
}

/// 413: the list `name` (`` `inputs` ``, or "the body") holds `n` items, more than `max`
/// (`[serve] max_inputs`).
fn too_many(name: &str, n: usize, max: usize) -> ApiError {
    ApiError::too_large(format!(
        "{name} holds {n} items, more than the {max} one request may hold ([serve] max_inputs): split it"
    ))
}

/// How many bodies of `max_body_bytes` may be tokenised at once ([`AppState::tokenizing`]).
pub(crate) const TOKENIZING_BUDGET_BODIES: usize = 2;

/// Refuses a NUL byte in a text (tokenizers drop it without a word), naming the field.
pub(crate) fn check_text(field: impl FnOnce() -> String, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        return Err(ApiError::validation(format!(
            "`{}` holds a NUL byte (U+0000)",
            field()
        )));
    }
    Ok(())
}

/// One text as the model counts it: its tokens (special tokens included, after truncation), and
/// whether truncation cut it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    pub tokens: usize,
    pub truncated: bool,
}

/// The tokens of `texts` as the model counts them ([`Counted`]), timed into the tokenisation metric. On tokio's blocking pool: a request of
/// `max_body_bytes` of text takes a while to tokenise, and the async threads must keep
/// answering other requests (`/health`, `/metrics`) meanwhile. A text is tokenised whole
/// before truncation (cutting it first could change its tokens), which takes about 90 bytes
/// of memory per byte of text: the bytes tokenised at once are held to
/// [`AppState::tokenizing`]'s budget, so concurrent bodies of megabytes wait their turn instead
/// of running the service out of memory.
pub(crate) async fn count_tokens(
    st: &AppState,
    models: &Arc<Models>,
    texts: Vec<String>,
) -> Result<Vec<Counted>, ApiError> {
    let bytes: usize = texts.iter().map(String::len).sum();
    let want = bytes.clamp(1, TOKENIZING_BUDGET_BODIES * st.opts.max_body_bytes.max(1));
    let turn = st
        .tokenizing
        .clone()
        .acquire_many_owned(u32::try_from(want).unwrap_or(u32::MAX))
        .await
        .map_err(|_| ApiError::unavailable("the service is shutting down"))?;
    let t0 = Instant::now();
    let m = models.clone();
    let counted = titlesim::run_blocking(move || {
        // Held by the work itself: a client that goes away drops this handler, not the
        // tokenising already under way, whose bytes still count against the budget.
        let _turn = turn;
        m.embedder.tokenizer().encode(&texts).map(|encoded| {
            encoded
                .iter()
                .map(|e| Counted {
                    tokens: e.len(),
                    truncated: e.truncated,
                })
                .collect::<Vec<Counted>>()
        })
    })
    .await;
    st.metrics
        .tokenization_seconds
        .observe(t0.elapsed().as_secs_f64());
    counted.map_err(tokenizing_error)
}

/// A tokenising failure as the answer says it: 500 when the service is at fault (a task
/// lost; the model's own files, such as a tokenizer giving ids past the weights' vocabulary),
/// 422 when the input is.
fn tokenizing_error(e: titlesim::Error) -> ApiError {
    match e {
        e @ (titlesim::Error::Task(_) | titlesim::Error::ModelFile { .. }) => {
            ApiError::backend(format!("tokenising the input failed: {e}"))
        }
        e => ApiError::validation(format!("cannot tokenise the input: {e}")),
    }
}

/// Counts the request, and its failure by kind, around a handler's result.
pub(crate) fn answer(
    st: &AppState,
    endpoint: &'static str,
    result: Result<Response, ApiError>,
    openai: bool,
) -> Response {
    st.metrics.request(endpoint);
    match result {
        Ok(r) => r,
        Err(e) => {
            st.metrics.failure(endpoint, e.kind);
            if openai {
                e.openai()
            } else {
                e.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_file_fault_is_the_services_and_a_text_fault_the_clients() {
        let e = tokenizing_error(titlesim::Error::model_file(
            std::path::Path::new("tokenizer.json"),
            "token id 31000 past config.json's `vocab_size` = 30522",
        ));
        assert_eq!((e.status.as_u16(), e.kind), (500, "backend"));
        let e = tokenizing_error(titlesim::Error::Tokenizer("bad text".into()));
        assert_eq!((e.status.as_u16(), e.kind), (422, "validation"));
    }
}
