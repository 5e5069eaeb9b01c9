//! `GET /health`, `GET /info` and `GET /metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use titlesim::{Embedder, Scorer};

use crate::metrics::ShadowCounts;
use crate::AppState;

/// `GET /health`: 200 `{"status": "ok"}` once the models are loaded and a probe text embeds to
/// finite values within 10 s; 503 `{"status": "loading"}` before, 503 `{"status":
/// "unhealthy", "error": ...}` when the probe fails.
pub async fn health(State(st): State<Arc<AppState>>) -> Response {
    st.metrics.request("/health");
    let Some(m) = st.models.get().cloned() else {
        st.metrics.failure("/health", "unhealthy");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "loading"})),
        )
            .into_response();
    };
    let probe = vec!["titlesim health probe".to_string()];
    let r = tokio::time::timeout(Duration::from_secs(10), m.embedder.embed(&probe)).await;
    let problem = match r {
        Ok(Ok(v)) if v.len() == 1 && v[0].iter().all(|x| x.is_finite()) => None,
        Ok(Ok(_)) => Some("the probe embedded to non-finite values".to_string()),
        Ok(Err(e)) => Some(format!("the probe failed: {e}")),
        Err(_) => Some("the probe took longer than 10 s".to_string()),
    };
    match problem {
        None => Json(json!({"status": "ok"})).into_response(),
        Some(e) => {
            st.metrics.failure("/health", "unhealthy");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unhealthy", "error": e})),
            )
                .into_response()
        }
    }
}

fn side(scorer: &dyn Scorer, gt_store: Option<&std::path::Path>) -> Value {
    let i = scorer.info();
    json!({
        "model": i.model,
        "backend": i.backend,
        "fingerprint": i.fingerprint,
        "dim": i.dim,
        "normalize": i.normalize,
        "threshold": scorer.threshold(),
        "gt_store": gt_store.map(|p| p.display().to_string()),
    })
}

/// `GET /info`: the version, the models (name, backend, fingerprint, dimension, threshold, GT
/// store), the shadow log and the queue's limits.
pub async fn info(State(st): State<Arc<AppState>>) -> Response {
    st.metrics.request("/info");
    let c = &st.config;
    let models = st.models.get().cloned();
    let canonical = models
        .as_ref()
        .map(|m| side(&m.canonical, c.canonical.gt_store.as_deref()));
    let shadow = models.as_ref().and_then(|m| {
        m.shadow
            .as_ref()
            .and_then(|s| s.shadow())
            .map(|s| side(s, c.shadow.as_ref().and_then(|s| s.gt_store.as_deref())))
    });
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "loaded": models.is_some(),
        "canonical": canonical,
        "shadow": shadow,
        "shadow_configured": c.shadow.as_ref().map(|s| s.model.clone()),
        "shadow_log": c.shadow_options.log.as_ref().map(|p| p.display().to_string()),
        "warnings": models.as_ref().map(|m| m.warnings.clone()).unwrap_or_default(),
        "limits": {
            "max_batch_tokens": st.opts.max_batch_tokens,
            "max_batch_items": st.opts.max_batch_items,
            "max_wait_ms": st.opts.max_wait_ms,
            "max_queue": st.opts.max_queue,
            "max_inputs": st.opts.max_inputs,
            "max_body_bytes": st.opts.max_body_bytes,
            "read_timeout_ms": st.opts.read_timeout_ms,
        },
    }))
    .into_response()
}

/// `GET /metrics`: Prometheus' text format (see [`crate::metrics::Metrics::render`]).
pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    st.metrics.request("/metrics");
    let shadow = st.models.get().and_then(|m| m.shadow.clone()).map(|s| {
        let mut c = ShadowCounts::default();
        for sink in s.sink_statuses() {
            c.written += sink.records_written;
            c.lost += sink.records_failed;
        }
        c
    });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(shadow),
    )
        .into_response()
}
