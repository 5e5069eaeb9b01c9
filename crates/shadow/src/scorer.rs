//! The shadow scorer: canonical verdicts now, shadow verdicts beside them in the log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::options::ShadowOptions;
use titlesim_core::{CosineScorer, Pair, PairScore, Score, Scorer};
use titlesim_log::{ShadowRecord, SideRecord, SCHEMA_VERSION};

use crate::error::{Error, Result};
use crate::sample::Sampler;
use crate::sink::{RecordSink, SinkStatus};
use crate::summary::Tally;

/// How the shadow side is run.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowSettings {
    /// Which pairs are shadowed.
    pub sampler: Sampler,
    /// The shadow's time budget per pair: a batch of n shadowed pairs must have its shadow
    /// result within n times this of being handed over, or its records get a timeout error.
    pub timeout_per_pair: Duration,
}

impl Default for ShadowSettings {
    fn default() -> Self {
        Self::from_options(&ShadowOptions::default())
    }
}

impl ShadowSettings {
    /// The settings a `[shadow_options]` table asks for.
    pub fn from_options(o: &ShadowOptions) -> Self {
        ShadowSettings {
            sampler: Sampler::new(o.sample_rate, o.sample_salt.clone()),
            timeout_per_pair: Duration::from_millis(o.timeout_ms.max(1)),
        }
    }
}

/// What [`ShadowScorer::finish`] hands back.
#[derive(Debug, Clone, Default)]
pub struct ShadowReport {
    /// Totals of the records written by this scorer.
    pub tally: Tally,
    /// How each sink fared.
    pub sinks: Vec<SinkStatus>,
}

enum ShadowRun {
    /// The shadow's result, how long it ran, and when it finished.
    Done(titlesim_core::Result<Vec<PairScore>>, Duration, Instant),
    Expired,
}

struct ShadowJob {
    sampled: Vec<bool>,
    n: usize,
    handle: JoinHandle<ShadowRun>,
    deadline: Instant,
    budget: Duration,
}

struct Pending {
    pairs: Vec<Pair>,
    scores: Vec<PairScore>,
    canonical_ms: f64,
    ts: String,
    shadow: Option<ShadowJob>,
}

enum Outcome {
    Scores(Vec<PairScore>, f64),
    Failed(String, f64),
}

struct Shared {
    canonical: CosineScorer,
    shadow: Option<CosineScorer>,
    settings: ShadowSettings,
    gate: Arc<Semaphore>,
    backlog: watch::Sender<usize>,
    tally: Mutex<Tally>,
    sinks: Mutex<Vec<SinkStatus>>,
    behind: std::sync::atomic::AtomicBool,
    /// Set by [`ShadowScorer::stop_waiting`]: shadow results still pending are not waited for.
    cut: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Scores pairs with the canonical model and, in its shadow, with a candidate model.
///
/// [`ShadowScorer::score_batch`] returns the canonical verdicts only, as soon as the
/// canonical model has them. The shadow model runs concurrently in its own task, one batch at
/// a time (so it keeps to its own thread budget), under a time budget; its result, error or
/// timeout becomes part of the pair's [`ShadowRecord`], which a background collector hands to
/// the sinks on a writer thread. Nothing the shadow or a sink does can change, delay or fail
/// a canonical result. Every pair whose canonical verdict was returned gets exactly one
/// record (with no shadow side when it was not sampled); a canonical error is returned to the
/// caller as it would be without the shadow, and its batch gets no records.
///
/// Needs a Tokio runtime (with the `time` driver). Safe to share (`Arc`) and call from many
/// tasks at once. Call [`ShadowScorer::finish`] at the end to wait for the last records.
pub struct ShadowScorer {
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
    collector: Mutex<Option<JoinHandle<()>>>,
    writer_done: Mutex<Option<oneshot::Receiver<()>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for ShadowScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShadowScorer")
            .field("canonical", &self.shared.canonical)
            .field("shadow", &self.shared.shadow)
            .field("settings", &self.shared.settings)
            .finish()
    }
}

fn no_runtime() -> Error {
    Error::Core(titlesim_core::Error::Task(
        "the shadow scorer needs a Tokio runtime".into(),
    ))
}

impl ShadowScorer {
    /// A scorer with `canonical`, an optional `shadow` (none: records carry the canonical
    /// side only), and the sinks that receive the records. Must be called inside a Tokio
    /// runtime.
    pub fn new(
        canonical: CosineScorer,
        shadow: Option<CosineScorer>,
        settings: ShadowSettings,
        sinks: Vec<Box<dyn RecordSink>>,
    ) -> Result<Self> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| no_runtime())?;
        let (backlog, _) = watch::channel(0usize);
        let (cut, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            canonical,
            shadow,
            settings,
            gate: Arc::new(Semaphore::new(1)),
            backlog,
            tally: Mutex::new(Tally::default()),
            behind: std::sync::atomic::AtomicBool::new(false),
            cut,
            sinks: Mutex::new(
                sinks
                    .iter()
                    .map(|s| SinkStatus {
                        name: s.name(),
                        ..Default::default()
                    })
                    .collect(),
            ),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let (wtx, wrx) = std::sync::mpsc::channel::<Vec<ShadowRecord>>();
        let (done_tx, done_rx) = oneshot::channel();
        let w_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("titlesim-shadow-writer".into())
            .spawn(move || {
                writer_loop(wrx, sinks, &w_shared);
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::Core(titlesim_core::Error::Task(format!("writer thread: {e}"))))?;
        let collector = rt.spawn(collect(shared.clone(), rx, wtx));
        Ok(ShadowScorer {
            shared,
            tx: Mutex::new(Some(tx)),
            collector: Mutex::new(Some(collector)),
            writer_done: Mutex::new(Some(done_rx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The canonical side.
    pub fn canonical(&self) -> &CosineScorer {
        &self.shared.canonical
    }

    /// The shadow side, if any.
    pub fn shadow(&self) -> Option<&CosineScorer> {
        self.shared.shadow.as_ref()
    }

    /// The settings in force.
    pub fn settings(&self) -> &ShadowSettings {
        &self.shared.settings
    }

    /// Scores `pairs` with the canonical model and returns its verdicts, in order, each
    /// carrying its pair's id; the shadow runs beside it and both end up in the records.
    pub async fn score_batch(&self, pairs: &[Pair]) -> Result<Vec<PairScore>> {
        let tx = lock(&self.tx).clone().ok_or(Error::Finished)?;
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let rt = tokio::runtime::Handle::try_current().map_err(|_| no_runtime())?;
        let shadow = self.spawn_shadow(&rt, pairs);
        let t0 = Instant::now();
        let result = self.shared.canonical.score_batch(pairs).await;
        let canonical_ms = t0.elapsed().as_secs_f64() * 1e3;
        let scores = match result {
            Ok(s) if s.len() == pairs.len() && s.iter().zip(pairs).all(|(s, p)| s.id == p.id) => s,
            Ok(s) => {
                if let Some(j) = shadow {
                    j.handle.abort();
                }
                return Err(Error::Core(titlesim_core::Error::Task(format!(
                    "canonical scorer returned {} scores (or other pair ids) for {} pairs",
                    s.len(),
                    pairs.len()
                ))));
            }
            Err(e) => {
                if let Some(j) = shadow {
                    j.handle.abort();
                }
                return Err(e.into());
            }
        };
        self.shared.backlog.send_modify(|n| *n += 1);
        let pending = Pending {
            pairs: pairs.to_vec(),
            scores: scores.clone(),
            canonical_ms,
            ts: titlesim_log::time::now_rfc3339(),
            shadow,
        };
        if tx.send(pending).is_err() {
            // The collector is gone (the runtime is shutting down): nothing will write.
            self.shared
                .backlog
                .send_modify(|n| *n = n.saturating_sub(1));
        }
        Ok(scores)
    }

    fn spawn_shadow(&self, rt: &tokio::runtime::Handle, pairs: &[Pair]) -> Option<ShadowJob> {
        let side = self.shared.shadow.clone()?;
        let sampled: Vec<bool> = pairs
            .iter()
            .map(|p| self.shared.settings.sampler.sampled(&p.id))
            .collect();
        let todo: Vec<Pair> = pairs
            .iter()
            .zip(&sampled)
            .filter(|(_, &s)| s)
            .map(|(p, _)| p.clone())
            .collect();
        if todo.is_empty() {
            return None;
        }
        let n = todo.len();
        let budget = self
            .shared
            .settings
            .timeout_per_pair
            .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        // A budget past what the clock can add (a huge `timeout_ms`) is as good as none.
        let now = Instant::now();
        let deadline = now
            .checked_add(budget)
            .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600));
        let gate = self.shared.gate.clone();
        let handle = rt.spawn(async move {
            // One shadow batch at a time: the shadow keeps to its own thread budget, and a
            // hung shadow holds one batch while the others time out without starting. A batch
            // waiting for its turn gives up at its deadline, and with it its titles: behind a
            // hung shadow, every later batch's pairs were held until the process ended.
            let permit = tokio::select! {
                p = gate.acquire_owned() => p,
                _ = tokio::time::sleep_until(deadline) => return ShadowRun::Expired,
            };
            let Ok(_permit) = permit else {
                return ShadowRun::Expired;
            };
            if Instant::now() >= deadline {
                return ShadowRun::Expired;
            }
            let t0 = Instant::now();
            let r = side.score_batch(&todo).await;
            ShadowRun::Done(r, t0.elapsed(), Instant::now())
        });
        Some(ShadowJob {
            sampled,
            n,
            handle,
            deadline,
            budget,
        })
    }

    /// Batches whose canonical verdicts were returned but whose records are not written yet.
    pub fn backlog(&self) -> usize {
        *self.shared.backlog.borrow()
    }

    /// Waits until at most `max` batches await their records (each waits at most its shadow
    /// budget). Callers that want every pair shadowed, such as an offline run, call this
    /// between batches so the shadow cannot fall behind; a latency-bound caller does not.
    pub async fn wait_backlog(&self, max: usize) {
        let mut rx = self.shared.backlog.subscribe();
        let _ = rx.wait_for(|n| *n <= max).await;
    }

    /// Whether the last shadow batch collected timed out (a hung or overloaded shadow).
    /// A caller that throttles with [`ShadowScorer::wait_backlog`] should stop while this is
    /// true, or a hung shadow would slow it to one batch per budget.
    pub fn shadow_behind(&self) -> bool {
        self.shared.behind.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Totals of the records built so far.
    pub fn tally(&self) -> Tally {
        lock(&self.shared.tally).clone()
    }

    /// How each sink has fared so far.
    pub fn sink_statuses(&self) -> Vec<SinkStatus> {
        lock(&self.shared.sinks).clone()
    }

    /// Stops waiting for shadow results: every batch whose canonical verdicts were returned
    /// and whose shadow has not answered yet gets its records at once, with the shadow side
    /// an error (`stopped: ...`), and so does every later batch. For a forced stop, where
    /// [`ShadowScorer::finish`] must not wait out the shadow's time budgets but no record
    /// should be lost.
    pub fn stop_waiting(&self) {
        self.shared.cut.send_replace(true);
    }

    /// Stops taking batches, waits for every pending record to be written (at most the
    /// shadow budget of the last batches), closes the sinks and reports. Later calls to
    /// [`ShadowScorer::score_batch`] fail with [`Error::Finished`]; calling `finish` again
    /// returns the same report.
    pub async fn finish(&self) -> Result<ShadowReport> {
        drop(lock(&self.tx).take());
        let collector = lock(&self.collector).take();
        if let Some(c) = collector {
            let _ = c.await;
        }
        let done = lock(&self.writer_done).take();
        if let Some(d) = done {
            let _ = d.await;
        }
        let writer = lock(&self.writer).take();
        if let Some(w) = writer {
            // It has already signalled that it is done: joining does not block.
            let _ = w.join();
        }
        Ok(ShadowReport {
            tally: self.tally(),
            sinks: self.sink_statuses(),
        })
    }
}

async fn resolve(job: ShadowJob, cut: &watch::Sender<bool>) -> Outcome {
    let budget_ms = job.budget.as_millis();
    let mut stop = cut.subscribe();
    let mut handle = job.handle;
    let result = tokio::select! {
        biased;
        r = tokio::time::timeout_at(job.deadline, &mut handle) => r,
        _ = stop.wait_for(|c| *c) => {
            handle.abort();
            return Outcome::Failed(
                format!(
                    "stopped: the service stopped before the shadow answered ({} pairs)",
                    job.n
                ),
                0.0,
            );
        }
    };
    match result {
        // Finished, but after its deadline (the collector only looks once the canonical
        // side is done, which may be later still): late is a timeout, whatever it returned.
        Ok(Ok(ShadowRun::Done(_, t, finished))) if finished > job.deadline => Outcome::Failed(
            format!(
                "timeout: the shadow took {:.1} ms, past its budget of {budget_ms} ms ({} pairs)",
                t.as_secs_f64() * 1e3,
                job.n
            ),
            t.as_secs_f64() * 1e3,
        ),
        Ok(Ok(ShadowRun::Done(Ok(scores), t, _))) if scores.len() == job.n => {
            if scores.iter().any(|s| !s.cosine.is_finite()) {
                Outcome::Failed(
                    "non-finite cosine: the shadow model returned NaN or infinite values".into(),
                    t.as_secs_f64() * 1e3,
                )
            } else {
                Outcome::Scores(scores, t.as_secs_f64() * 1e3)
            }
        }
        Ok(Ok(ShadowRun::Done(Ok(scores), t, _))) => Outcome::Failed(
            format!("shadow returned {} scores for {} pairs", scores.len(), job.n),
            t.as_secs_f64() * 1e3,
        ),
        Ok(Ok(ShadowRun::Done(Err(e), t, _))) => {
            Outcome::Failed(e.to_string(), t.as_secs_f64() * 1e3)
        }
        Ok(Ok(ShadowRun::Expired)) => Outcome::Failed(
            format!(
                "timeout: the shadow did not start within its budget of {budget_ms} ms ({} pairs; it is behind)",
                job.n
            ),
            budget_ms as f64,
        ),
        Ok(Err(e)) if e.is_panic() => {
            Outcome::Failed(format!("shadow panicked: {}", titlesim_core::panic_message(&*e.into_panic())), 0.0)
        }
        Ok(Err(e)) => Outcome::Failed(format!("shadow task failed: {e}"), 0.0),
        Err(_) => Outcome::Failed(
            format!(
                "timeout: no shadow result within {budget_ms} ms ({} pairs)",
                job.n
            ),
            budget_ms as f64,
        ),
    }
}

fn build_records(
    shared: &Shared,
    p: Pending,
    outcome: Option<(Vec<bool>, Outcome)>,
) -> Vec<ShadowRecord> {
    let ci = shared.canonical.info();
    // A non-finite canonical cosine is logged as such (JSON has no NaN); its verdict stands.
    let canonical_side = |s: &Score| SideRecord::scored(ci, s, p.canonical_ms);
    let mut k = 0usize;
    p.pairs
        .into_iter()
        .zip(&p.scores)
        .enumerate()
        .map(|(i, (pair, score))| {
            let shadow = match (&outcome, &shared.shadow) {
                (Some((sampled, o)), Some(side)) if sampled[i] => {
                    let si = side.info();
                    let base = SideRecord {
                        model: si.model.clone(),
                        backend: si.backend.clone(),
                        fingerprint: si.fingerprint.clone(),
                        threshold: side.threshold(),
                        cosine: None,
                        pass: None,
                        encode_ms: 0.0,
                        error: None,
                    };
                    let idx = k;
                    k += 1;
                    Some(match o {
                        // Results come in the order of the shadowed pairs, each with its id.
                        Outcome::Scores(s, ms) if s[idx].id == pair.id => SideRecord {
                            cosine: Some(s[idx].cosine),
                            pass: Some(s[idx].pass),
                            encode_ms: *ms,
                            ..base
                        },
                        Outcome::Scores(s, ms) => SideRecord {
                            error: Some(format!(
                                "the shadow returned the result of pair `{}` for pair `{}`",
                                s[idx].id, pair.id
                            )),
                            encode_ms: *ms,
                            ..base
                        },
                        Outcome::Failed(e, ms) => SideRecord {
                            error: Some(e.clone()),
                            encode_ms: *ms,
                            ..base
                        },
                    })
                }
                _ => None,
            };
            ShadowRecord {
                schema: SCHEMA_VERSION,
                ts: p.ts.clone(),
                pair_id: pair.id,
                phase: pair.phase,
                product: pair.product,
                gt: pair.gt,
                label: pair.label,
                canonical: canonical_side(&score.score),
                shadow,
                replayed_at: None,
            }
        })
        .collect()
}

async fn collect(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    writer: std::sync::mpsc::Sender<Vec<ShadowRecord>>,
) {
    while let Some(mut p) = rx.recv().await {
        let outcome = match p.shadow.take() {
            None => None,
            Some(job) => {
                let sampled = job.sampled.clone();
                let outcome = resolve(job, &shared.cut).await;
                let timed_out =
                    matches!(&outcome, Outcome::Failed(e, _) if e.starts_with("timeout"));
                shared
                    .behind
                    .store(timed_out, std::sync::atomic::Ordering::SeqCst);
                Some((sampled, outcome))
            }
        };
        let records = build_records(&shared, p, outcome);
        {
            let mut t = lock(&shared.tally);
            for r in &records {
                t.add(r);
            }
        }
        if writer.send(records).is_err() {
            shared.backlog.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

fn writer_loop(
    rx: std::sync::mpsc::Receiver<Vec<ShadowRecord>>,
    mut sinks: Vec<Box<dyn RecordSink>>,
    shared: &Shared,
) {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    for batch in rx {
        for (i, sink) in sinks.iter_mut().enumerate() {
            let r =
                catch_unwind(AssertUnwindSafe(|| sink.write_batch(&batch))).unwrap_or_else(|p| {
                    Err(Error::Core(titlesim_core::Error::Task(format!(
                        "sink panicked: {}",
                        titlesim_core::panic_message(&*p)
                    ))))
                });
            let mut st = lock(&shared.sinks);
            st[i].reopened = sink.reopened();
            match r {
                Ok(()) => st[i].records_written += batch.len() as u64,
                Err(e) => {
                    st[i].batches_failed += 1;
                    st[i].records_failed += batch.len() as u64;
                    st[i].last_error = Some(e.to_string());
                }
            }
        }
        shared.backlog.send_modify(|n| *n = n.saturating_sub(1));
    }
    for (i, sink) in sinks.iter_mut().enumerate() {
        let r = catch_unwind(AssertUnwindSafe(|| sink.close())).unwrap_or_else(|p| {
            Err(Error::Core(titlesim_core::Error::Task(format!(
                "sink panicked: {}",
                titlesim_core::panic_message(&*p)
            ))))
        });
        if let Err(e) = r {
            lock(&shared.sinks)[i].last_error = Some(format!("closing: {e}"));
        }
    }
}
