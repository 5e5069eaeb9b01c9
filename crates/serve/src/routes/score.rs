//! `POST /score`: the canonical verdicts on pairs, the shadow logged beside them, exactly as
//! `titlesim shadow` (or `titlesim score`, without a `[shadow]` table) would give them.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use titlesim::Pair;

use super::{answer, body_json, check_count, count_tokens, models};
use crate::error::ApiError;
use crate::queue::{Done, Work};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreRequest {
    pairs: Vec<PairIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PairIn {
    id: Id,
    product: String,
    gt: String,
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    label: Option<serde_json::Value>,
}

/// A pair id: a string, or a number taken as its decimal text (as the pairs files do).
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Text(String),
    Number(serde_json::Number),
}

/// The handler.
pub async fn score(State(st): State<Arc<AppState>>, body: Body) -> Response {
    let r = run(&st, body).await;
    answer(&st, "/score", r, false)
}

async fn run(st: &AppState, body: Body) -> Result<Response, ApiError> {
    let req: ScoreRequest = body_json(st, body).await?;
    check_count(st, "pairs", req.pairs.len())?;
    let mut pairs = Vec::with_capacity(req.pairs.len());
    for (i, p) in req.pairs.into_iter().enumerate() {
        let id = match p.id {
            Id::Text(s) => s,
            Id::Number(n) => titlesim::io::json_id(&n)
                .map_err(|e| ApiError::validation(format!("`pairs[{i}].id` {e}")))?,
        };
        // The values the pairs files take (0/1, 0.0/1.0, booleans, "0"/"1"/"").
        let label = match &p.label {
            None => None,
            Some(v) => titlesim::io::json_label(v)
                .map_err(|e| ApiError::validation(format!("`pairs[{i}].label` {e}")))?,
        };
        let pair = Pair {
            id,
            phase: p.phase,
            product: p.product,
            gt: p.gt,
            label,
        };
        let pair = pair
            .checked()
            .map_err(|e| ApiError::validation(format!("`pairs[{i}].{}` {}", e.field, e.problem)))?;
        pairs.push(pair);
    }
    if let Some((first, i)) = titlesim::repeated_id(pairs.iter().map(|p| p.id.as_str())) {
        return Err(ApiError::validation(format!(
            "`pairs[{i}].id` `{}` repeats `pairs[{first}].id`: every pair of a request needs its own id",
            pairs[i].id
        )));
    }
    let m = models(st)?;
    let texts = pairs
        .iter()
        .flat_map(|p| [p.product.clone(), p.gt.clone()])
        .collect();
    let place = st.queue.admit()?;
    let tokens: usize = count_tokens(st, &m, texts)
        .await?
        .iter()
        .map(|c| c.tokens)
        .sum();
    match place.submit(Work::Score(pairs), tokens).await? {
        Done::Scores(s) => Ok(Json(s).into_response()),
        Done::Vectors(_) => Err(ApiError::backend("the queue answered with vectors")),
    }
}
