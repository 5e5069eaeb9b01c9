//! # titlesim-serve
//!
//! titlesim as a local HTTP service: one process holds the models, merges concurrent requests
//! into backend batches, and writes the shadow log alone, so a fleet of validator workers (in
//! any language) shares one copy of each model and one log writer. `titlesim serve` runs it.
//!
//! | endpoint | shape | what |
//! |---|---|---|
//! | `POST /score` | `{"pairs": [{"id", "product", "gt", "phase"?, "label"?}]}` → `[{"id", "cosine", "threshold", "pass"}]` | canonical verdicts; the shadow logged beside them as `titlesim shadow` does; the GT store used |
//! | `POST /embed` | text-embeddings-inference's | vectors of the canonical model |
//! | `POST /similarity` | text-embeddings-inference's | cosines of one sentence against others |
//! | `POST /v1/embeddings` | OpenAI's | vectors, float or base64, with token usage |
//! | `GET /health` | `{"status"}` | 503 while loading or when a probe fails |
//! | `GET /info` | JSON | models, fingerprints, thresholds, backends, version, limits |
//! | `GET /metrics` | Prometheus text | requests, failures by kind, queue, batches, durations, shadow records |
//!
//! Requests go through one [`queue`]: merged under `[serve] max_batch_tokens` and
//! `max_batch_items`, 429 when `max_queue` requests wait. A body over `max_body_bytes` or a list
//! over `max_inputs` is 413, a malformed field 422 naming it, an empty list 400. [`serve`] stops
//! on its shutdown signal gracefully: it stops accepting, answers every accepted request, then
//! flushes the shadow log.
#![deny(missing_docs)]

pub mod error;
pub mod metrics;
pub mod models;
pub mod queue;
pub mod routes;

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use titlesim::config::ServeOptions;
use titlesim::Config;
use titlesim_shadow::ShadowReport;

pub use error::{ApiError, Error, Result};
pub use metrics::Metrics;
pub use models::Models;
pub use queue::{Queue, QueueLimits};

/// What every handler shares.
pub struct AppState {
    /// The configuration served.
    pub config: Config,
    /// Its `[serve]` table.
    pub opts: ServeOptions,
    /// The models, once loaded.
    pub models: Arc<OnceLock<Arc<Models>>>,
    /// The batching queue.
    pub queue: Queue,
    /// The metrics.
    pub metrics: Arc<Metrics>,
}

/// The routes of the service over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/score", post(routes::score::score))
        .route("/embed", post(routes::tei::embed_handler))
        .route("/similarity", post(routes::tei::similarity_handler))
        .route("/v1/embeddings", post(routes::openai::embeddings))
        .route("/health", get(routes::ops::health))
        .route("/info", get(routes::ops::info))
        .route("/metrics", get(routes::ops::metrics))
        .with_state(state)
}

/// What a service run leaves behind.
#[derive(Debug, Default)]
pub struct ServeReport {
    /// The shadow scorer's report (records written, sinks), when there was a `[shadow]`.
    pub shadow: Option<ShadowReport>,
}

/// Something the service has to say while it runs (for a log or a terminal).
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// Serves `config` on `listener` until `shutdown` completes, then stops gracefully: no new
/// connections, every accepted request answered, the queue drained, the shadow log flushed.
///
/// The shadow log is opened (and locked) before anything else; the models load in the
/// background while `/health` answers 503. A canonical model that fails to load ends the
/// service with its error; a shadow model that fails to load is a warning (via `notify`) and
/// the service runs without it.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    notify: Notify,
) -> Result<ServeReport> {
    let sinks = match models::open_sinks(&config)? {
        Some((sinks, notes)) => {
            for n in notes {
                notify(&format!("note: {n}"));
            }
            Some(sinks)
        }
        None => None,
    };
    let opts = config.serve.clone();
    let metrics = Arc::new(Metrics::default());
    let cell: Arc<OnceLock<Arc<Models>>> = Arc::new(OnceLock::new());
    let (queue, worker) = Queue::start(
        QueueLimits {
            max_batch_tokens: opts.max_batch_tokens,
            max_batch_items: opts.max_batch_items,
            max_wait: Duration::from_millis(opts.max_wait_ms),
            max_queue: opts.max_queue,
        },
        cell.clone(),
        metrics.clone(),
    );
    let state = Arc::new(AppState {
        config: config.clone(),
        opts,
        models: cell.clone(),
        queue,
        metrics,
    });

    let failure: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
    let (fail_tx, fail_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let (cell, failure, notify) = (cell.clone(), failure.clone(), notify.clone());
        tokio::spawn(async move {
            let cfg = config.clone();
            let loaded = tokio::task::spawn_blocking(move || models::load(&cfg)).await;
            let result = match loaded {
                Ok(Ok(l)) => {
                    for w in &l.warnings {
                        notify(&format!("warning: {w}"));
                    }
                    Models::assemble(&config, l, sinks)
                }
                Ok(Err(e)) => Err(e),
                Err(e) => Err(Error::Config(format!("loading the models panicked: {e}"))),
            };
            match result {
                Ok(m) => {
                    let _ = cell.set(Arc::new(m));
                    notify("ready: models loaded");
                }
                Err(e) => {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    let _ = fail_tx.send(());
                }
            }
        });
    }
    let stop = async move {
        tokio::select! {
            _ = shutdown => {}
            Ok(()) = fail_rx => {}
        }
    };
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(stop)
        .await?;
    // Every accepted request has its answer: drain the queue, then flush the shadow log.
    state.queue.close();
    let _ = worker.await;
    if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    let mut report = ServeReport::default();
    if let Some(s) = cell.get().and_then(|m| m.shadow.clone()) {
        report.shadow = Some(s.finish().await?);
    }
    Ok(report)
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: the signals a terminal or a process
/// supervisor stops a service with.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
