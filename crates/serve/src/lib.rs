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
//! over `max_inputs` is 413, a malformed field 422 naming it, an empty list 400; headers or a
//! body that do not arrive within `read_timeout_ms` close the connection or get a 408.
//! [`serve`] stops on its shutdown signal gracefully: it stops accepting, answers every
//! accepted request, then flushes the shadow log; a second signal stops it without waiting for
//! open connections (still writing the records of every answered pair).
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
    /// The bytes of text being tokenised, at most two bodies of `max_body_bytes` (see
    /// `routes::count_tokens`).
    pub tokenizing: Arc<tokio::sync::Semaphore>,
    /// `/health`'s probe, one at a time.
    pub health: routes::ops::Health,
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
        .fallback(no_such_endpoint)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state)
}

/// The endpoints, for the messages of a request that reached none.
const ENDPOINTS: &str = "the endpoints are POST /score, POST /embed, POST /similarity, POST \
                         /v1/embeddings, GET /health, GET /info and GET /metrics";

/// An error in the shape of the endpoint family the path belongs to (OpenAI's under `/v1/`).
fn shaped(uri: &axum::http::Uri, e: error::ApiError) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/v1/") {
        e.openai()
    } else {
        e.into_response()
    }
}

/// 404 with a body saying what exists (it was an empty body, which an OpenAI client reports as
/// a bare "Error code: 404").
async fn no_such_endpoint(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    let e = error::ApiError::not_found(format!("no endpoint {method} {}: {ENDPOINTS}", uri.path()));
    shaped(&uri, e)
}

/// 405 with a body (`GET /v1/embeddings`, say) naming the method the endpoint takes.
async fn wrong_method(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> axum::response::Response {
    let e = error::ApiError::method_not_allowed(format!(
        "{} does not take {method}: {ENDPOINTS}",
        uri.path()
    ));
    shaped(&uri, e)
}

/// What a service run leaves behind.
#[derive(Debug, Default)]
pub struct ServeReport {
    /// The shadow scorer's report (records written, sinks), when there was a `[shadow]`.
    pub shadow: Option<ShadowReport>,
    /// Whether the stop was forced (`force` completed while draining): open connections were
    /// closed without waiting for them, and shadow results still pending were not waited for
    /// (their records carry a `stopped: ...` error on the shadow side).
    pub forced: bool,
    /// Connections that were still open when a forced stop closed them.
    pub dropped_connections: usize,
}

/// Something the service has to say while it runs (for a log or a terminal).
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// Serves `config` on `listener` until `shutdown` completes, then stops gracefully: no new
/// connections, every accepted request answered, the queue drained, the shadow log flushed.
/// If `force` completes during that drain, the service stops waiting: open connections are
/// closed (a stalled client cannot hold it), requests whose client is gone are not run, and
/// the records of every answered pair are still written, without waiting for shadow results
/// (see [`ServeReport::forced`]).
///
/// Each connection must send a request's headers within `[serve] read_timeout_ms` (or it is
/// closed) and then its body within as long again (or it is answered 408).
///
/// The shadow log is opened (and locked) before anything else; the models load in the
/// background while `/health` answers 503. A canonical model that fails to load ends the
/// service with its error; a shadow model that fails to load is a warning (via `notify`) and
/// the service runs without it. When `shutdown` completes, a `stopping: ...` line (via
/// `notify`) says what the service is waiting for.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    force: impl Future<Output = ()> + Send + 'static,
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
            max_batch_bytes: opts.max_body_bytes,
        },
        cell.clone(),
        metrics.clone(),
    );
    let opts_max_body = opts.max_body_bytes.max(1);
    let state = Arc::new(AppState {
        config: config.clone(),
        opts,
        models: cell.clone(),
        queue,
        metrics,
        tokenizing: Arc::new(tokio::sync::Semaphore::new(
            (routes::TOKENIZING_BUDGET_BODIES * opts_max_body).min(u32::MAX as usize),
        )),
        health: routes::ops::Health::default(),
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
                    if let Some(shadow) = &m.shadow {
                        tokio::spawn(watch_sinks(Arc::downgrade(shadow), notify.clone()));
                    }
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
    // Completes with true on the shutdown signal, false when the canonical model failed.
    let stop = async move {
        tokio::select! {
            _ = shutdown => true,
            Ok(()) = fail_rx => false,
        }
    };
    let mut force = std::pin::pin!(force);
    let shadow = || cell.get().and_then(|m| m.shadow.clone());
    let backlog = || shadow().map_or(0, |s| s.backlog());

    let (mut conns, by_signal) = accept(listener, router(state.clone()), &state.opts, stop).await;
    let mut report = ServeReport::default();
    if by_signal {
        notify(&format!(
            "stopping: no new connections; finishing the requests of {}, then writing the \
             shadow records of {} (a second Ctrl-C or SIGTERM stops without waiting for the \
             connections)",
            count(conns.len(), "open connection"),
            count(backlog(), "answered batch")
        ));
    }
    if let Some(open) = conns.drain(force.as_mut()).await {
        report.forced = true;
        report.dropped_connections = open;
        notify(&format!(
            "stopping now: closed {} without an answer; writing the shadow records of {} \
             without waiting for the shadow",
            count(open, "open connection"),
            count(backlog(), "answered batch")
        ));
    }
    // Every request still connected has its answer: drain the queue (a request whose client
    // is gone is not run), then flush the shadow log. Once forced, the worker is not waited
    // for: every connection is closed, so what it still holds is a model call for clients
    // that are gone (a hung backend would keep the process for ever), and a second signal
    // that comes while it finishes one stops the wait too.
    state.queue.close();
    let mut worker = worker;
    let finished = if report.forced {
        false
    } else {
        tokio::select! {
            _ = &mut worker => true,
            _ = force.as_mut() => {
                report.forced = true;
                notify("stopping now: not waiting for the model call still running (its clients are gone)");
                false
            }
        }
    };
    if !finished {
        worker.abort();
    }
    if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
        return Err(e);
    }
    if let Some(s) = shadow() {
        if report.forced {
            s.stop_waiting();
        } else if by_signal && s.backlog() > 0 {
            notify(&format!(
                "stopping: every request answered; writing the shadow records of {}",
                count(s.backlog(), "answered batch")
            ));
        }
        let finish = s.finish();
        let mut finish = std::pin::pin!(finish);
        let done = if report.forced {
            finish.await
        } else {
            tokio::select! {
                r = finish.as_mut() => r,
                _ = force.as_mut() => {
                    report.forced = true;
                    notify(&format!(
                        "stopping now: writing the shadow records of {} without waiting for the shadow",
                        count(s.backlog(), "answered batch")
                    ));
                    s.stop_waiting();
                    finish.await
                }
            }
        };
        report.shadow = Some(done?);
    }
    Ok(report)
}

/// `n` and `what`, plural unless `n` is 1 ("1 open connection", "2 answered batches").
pub fn count(n: usize, what: &str) -> String {
    match (n, what.ends_with(['s', 'h', 'x'])) {
        (1, _) => format!("1 {what}"),
        (_, true) => format!("{n} {what}es"),
        (_, false) => format!("{n} {what}s"),
    }
}

/// The open connections of [`serve`], each served on a task of its own.
struct Connections {
    tasks: tokio::task::JoinSet<()>,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Connections {
    /// How many are still open (finished ones are counted out first).
    fn len(&mut self) -> usize {
        while self.tasks.try_join_next().is_some() {}
        self.tasks.len()
    }

    /// Asks every connection to finish its request in progress and close, and waits for them
    /// all; if `force` completes first, closes those left at once and says how many.
    async fn drain(mut self, force: std::pin::Pin<&mut impl Future<Output = ()>>) -> Option<usize> {
        self.stopping.send_replace(true);
        let tasks = &mut self.tasks;
        let forced = tokio::select! {
            _ = async { while tasks.join_next().await.is_some() {} } => false,
            _ = force => true,
        };
        if !forced {
            return None;
        }
        let open = self.tasks.len();
        self.tasks.shutdown().await;
        Some(open)
    }
}

/// Accepts connections on `listener` and serves `app` on each (HTTP/1.1; headers must arrive
/// within `[serve] read_timeout_ms`) until `stop` completes; what it completed with, and the
/// connections still open.
async fn accept(
    mut listener: tokio::net::TcpListener,
    app: Router,
    opts: &ServeOptions,
    stop: impl Future<Output = bool>,
) -> (Connections, bool) {
    let mut stop = std::pin::pin!(stop);
    let (stopping, _) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_millis(opts.read_timeout_ms));
    let by_signal = loop {
        let stream = tokio::select! {
            by_signal = stop.as_mut() => break by_signal,
            // Finished connections leave the set as they go.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            // Errors (out of file descriptors, say) are retried by axum's listener.
            (stream, _) = axum::serve::Listener::accept(&mut listener) => stream,
        };
        let conn = http.serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(app.clone()),
        );
        let mut stopping = stopping.subscribe();
        tasks.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = stopping.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
    };
    drop(listener);
    (Connections { tasks, stopping }, by_signal)
}

/// Says, once per sink, when its shadow records start being lost (a full disk, a pipe whose
/// reader left) and each time its file is opened again after a move or removal (log
/// rotation), instead of leaving it to the exit line and `/metrics`. Ends with the scorer.
async fn watch_sinks(shadow: std::sync::Weak<titlesim_shadow::ShadowScorer>, notify: Notify) {
    let mut lost_told: Vec<bool> = Vec::new();
    let mut reopened_told: Vec<u64> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(s) = shadow.upgrade() else {
            return;
        };
        let statuses = s.sink_statuses();
        drop(s);
        lost_told.resize(statuses.len(), false);
        reopened_told.resize(statuses.len(), 0);
        for (i, st) in statuses.iter().enumerate() {
            if st.records_failed > 0 && !lost_told[i] {
                lost_told[i] = true;
                notify(&format!(
                    "warning: shadow records are being lost: {}: {} records not written ({}); \
                     the verdicts are answered all the same, titlesim_shadow_records_lost_total \
                     counts them, and the exit names them",
                    st.name,
                    st.records_failed,
                    st.last_error.as_deref().unwrap_or("?")
                ));
            }
            if st.reopened > reopened_told[i] {
                reopened_told[i] = st.reopened;
                notify(&format!(
                    "note: {} opened again at its path (moved or removed by log rotation, or a \
                     FIFO's reader back); its records go on there",
                    st.name
                ));
            }
        }
    }
}

/// The first and the second Ctrl-C (SIGINT) or, on Unix, SIGTERM (the signals a terminal or
/// a process supervisor stops a service with), as the `shutdown` and `force` of [`serve`].
/// SIGHUP (what a logrotate `postrotate` step sends to have logs opened again) does not stop
/// the service: the shadow log and EMF file follow their paths by themselves, and a line on
/// standard error says so. Listens from this call on; must be called inside a Tokio runtime.
pub fn shutdown_signals() -> (
    impl Future<Output = ()> + Send + 'static,
    impl Future<Output = ()> + Send + 'static,
) {
    let (count, first) = tokio::sync::watch::channel(0u32);
    let second = first.clone();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hup = signal(SignalKind::hangup()).ok();
        async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
            let got = match s {
                Some(s) => s.recv().await.is_some(),
                None => false,
            };
            if !got {
                std::future::pending::<()>().await;
            }
        }
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = next(&mut int) => {}
                    _ = next(&mut term) => {}
                    _ = next(&mut hup) => {
                        use std::io::Write;
                        // Not eprintln!: a closed terminal's standard error must not end
                        // the service by a panic.
                        let _ = writeln!(
                            std::io::stderr(),
                            "SIGHUP: going on (the shadow log and EMF file are opened again at \
                             their paths when they were moved or removed; Ctrl-C or SIGTERM \
                             stops the service)"
                        );
                        continue;
                    }
                }
                count.send_modify(|n| *n += 1);
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            count.send_modify(|n| *n += 1);
        }
    });
    let nth = |mut rx: tokio::sync::watch::Receiver<u32>, n: u32| async move {
        if rx.wait_for(|c| *c >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    (nth(first, 1), nth(second, 2))
}
