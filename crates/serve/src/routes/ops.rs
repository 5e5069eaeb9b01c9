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
use crate::models::Models;
use crate::AppState;
use tokio::task::JoinHandle;
// tokio's clock: the same as the timeouts', and the one tests can pause.
use tokio::time::Instant;

/// How long a probe's answer stands for the `/health` requests after it.
const PROBE_FRESH: Duration = Duration::from_secs(1);
/// How long a probe may take before `/health` answers 503.
const PROBE_LIMIT: Duration = Duration::from_secs(10);

/// The health probe: one at a time, its answer shared by the requests of the next second.
/// Each probe embeds a text outside the queue (on a blocking thread), so a flood of `/health`
/// requests ran as many model calls and took the threads tokenising and batches need; and a
/// probe that timed out kept running while the next request started another.
#[derive(Default)]
pub struct Health(tokio::sync::Mutex<ProbeState>);

#[derive(Default)]
struct ProbeState {
    /// The last answer (`None`: healthy) and when it was had.
    last: Option<(Instant, Option<String>)>,
    /// The probe running, and when it started.
    running: Option<(Instant, Probe)>,
}

/// A probe running: the vectors of its one text.
type Probe = JoinHandle<titlesim::Result<Vec<Vec<f32>>>>;

/// The probe of the canonical model: one text, embedded as `/embed` embeds it.
fn probe(models: &Arc<Models>) -> Probe {
    let m = models.clone();
    tokio::spawn(async move {
        m.embedder
            .embed(&["titlesim health probe".to_string()])
            .await
    })
}

impl Health {
    /// `None` when the probe `start` spawns (a text embedded) gives finite values within
    /// [`PROBE_LIMIT`]; else what went wrong. `start` is called only when no probe runs and
    /// no answer is fresh.
    async fn check(&self, start: impl FnOnce() -> Probe) -> Option<String> {
        let mut s = self.0.lock().await;
        if let Some((at, answer)) = &s.last {
            if at.elapsed() < PROBE_FRESH {
                return answer.clone();
            }
        }
        // A probe that outlived its limit, or whose request went away while waiting for it,
        // is waited for, not run again beside itself: it stays in the state until it is done.
        let (started, probe) = s.running.get_or_insert_with(|| (Instant::now(), start()));
        let started = *started;
        let left = PROBE_LIMIT.saturating_sub(started.elapsed());
        let done = tokio::time::timeout(left, probe).await;
        let answer = match done {
            Ok(result) => {
                s.running = None;
                match result {
                    Ok(Ok(v)) if v.len() == 1 && v[0].iter().all(|x| x.is_finite()) => None,
                    Ok(Ok(_)) => Some("the probe embedded to non-finite values".to_string()),
                    Ok(Err(e)) => Some(format!("the probe failed: {e}")),
                    Err(e) => Some(format!("the probe failed: {e}")),
                }
            }
            Err(_) => Some(format!(
                "the probe started {:.0} s ago has not finished (the limit is {} s)",
                started.elapsed().as_secs_f64(),
                PROBE_LIMIT.as_secs()
            )),
        };
        s.last = Some((Instant::now(), answer.clone()));
        answer
    }
}

/// `GET /health`: 200 `{"status": "ok"}` once the models are loaded and a probe text embeds to
/// finite values within 10 s; 503 `{"status": "loading"}` before, 503 `{"status":
/// "unhealthy", "error": ...}` when the probe fails. One probe runs at a time; its answer
/// stands for a second.
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
    match st.health.check(|| probe(&m)).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A probe that gives one finite vector after `delay`, counted in `started`.
    fn slow(started: &AtomicUsize, delay: Duration) -> Probe {
        started.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            Ok(vec![vec![1.0, 0.0]])
        })
    }

    #[tokio::test(start_paused = true)]
    async fn one_probe_answers_a_flood_of_requests() {
        let health = Arc::new(Health::default());
        let started = Arc::new(AtomicUsize::new(0));
        let checks: Vec<_> = (0..200)
            .map(|_| {
                let (h, n) = (health.clone(), started.clone());
                tokio::spawn(async move { h.check(|| slow(&n, Duration::from_millis(300))).await })
            })
            .collect();
        for c in checks {
            assert_eq!(c.await.unwrap(), None);
        }
        assert_eq!(started.load(Ordering::SeqCst), 1);
        // A second later the answer is stale: one new probe.
        tokio::time::sleep(PROBE_FRESH).await;
        assert_eq!(health.check(|| slow(&started, Duration::ZERO)).await, None);
        assert_eq!(started.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_past_its_limit_is_waited_for_not_run_again() {
        let health = Health::default();
        let started = AtomicUsize::new(0);
        let hung = || slow(&started, Duration::from_secs(25));
        let e = health.check(hung).await.unwrap();
        assert!(
            e.starts_with("the probe started 10 s ago has not finished"),
            "{e}"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let e = health.check(hung).await.unwrap();
        assert!(e.starts_with("the probe started 15 s ago"), "{e}");
        assert_eq!(started.load(Ordering::SeqCst), 1);
        // It finishes at 25 s: healthy again, still the one probe.
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(health.check(hung).await, None);
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }

    /// A request that goes away while it waits (a liveness probe's own 1 s timeout) left the
    /// probe running detached, and the next request started another beside it.
    #[tokio::test(start_paused = true)]
    async fn a_probe_whose_request_went_away_is_waited_for_not_run_again() {
        let health = Health::default();
        let started = AtomicUsize::new(0);
        let hung = || slow(&started, Duration::from_secs(25));
        let gone = tokio::time::timeout(Duration::from_secs(1), health.check(hung)).await;
        assert!(gone.is_err(), "the request went away");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let e = health.check(hung).await.unwrap();
        assert!(e.starts_with("the probe started 10 s ago"), "{e}");
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }
}
