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
    label: Option<u8>,
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
            Id::Number(n) => n.to_string(),
        };
        if let Some(l) = p.label.filter(|&l| l > 1) {
            return Err(ApiError::validation(format!(
                "`pairs[{i}].label` must be 0 or 1, found {l}"
            )));
        }
        let pair = Pair {
            id,
            phase: p.phase,
            product: p.product,
            gt: p.gt,
            label: p.label,
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
    let tokens: usize = count_tokens(st, &m, texts).await?.iter().sum();
    match st.queue.submit(Work::Score(pairs), tokens).await? {
        Done::Scores(s) => Ok(Json(s).into_response()),
        Done::Vectors(_) => Err(ApiError::backend("the queue answered with vectors")),
    }
}
