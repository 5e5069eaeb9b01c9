//! The batching queue: concurrent requests are merged into backend batches under a token
//! budget, so 32 clients sending one pair each cost about one batch of 32, not 32 batches of 1.
//!
//! Handlers [`Queue::submit`] a [`Work`] with its token count and await the answer. One worker
//! takes the oldest request, then every request of the same kind already waiting (or arriving
//! within `max_wait_ms`) while the batch stays within `max_batch_tokens` and
//! `max_batch_items`, runs the batch once and hands each request its own results. A full queue
//! (`max_queue` waiting) answers 429 at once. Merging never changes a result: a text's vector
//! does not depend on its batch (tested bit for bit on every backend), and results carry their
//! pair ids, which are checked.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use titlesim::{Embedder, Pair, PairScore};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::models::Models;

/// What a request asks of the backend.
#[derive(Debug)]
pub enum Work {
    /// Score these pairs (canonical verdicts; the shadow logged beside them).
    Score(Vec<Pair>),
    /// Embed these texts (prompts already applied) with the canonical model.
    Embed(Vec<String>),
}

impl Work {
    fn len(&self) -> usize {
        match self {
            Work::Score(p) => p.len(),
            Work::Embed(t) => t.len(),
        }
    }

    /// The bytes of its texts: what tokenising it costs before truncation.
    fn bytes(&self) -> usize {
        match self {
            Work::Score(p) => p.iter().map(|p| p.product.len() + p.gt.len()).sum(),
            Work::Embed(t) => t.iter().map(String::len).sum(),
        }
    }

    fn same_kind(&self, other: &Work) -> bool {
        matches!(
            (self, other),
            (Work::Score(_), Work::Score(_)) | (Work::Embed(_), Work::Embed(_))
        )
    }
}

/// The answer to a [`Work`].
#[derive(Debug)]
pub enum Done {
    /// One verdict per pair, in order.
    Scores(Vec<PairScore>),
    /// One vector per text, in order.
    Vectors(Vec<Vec<f32>>),
}

struct Job {
    work: Work,
    tokens: usize,
    enqueued: Instant,
    reply: oneshot::Sender<Result<Done, ApiError>>,
}

/// Limits of the queue (from `[serve]`).
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Tokens per backend batch.
    pub max_batch_tokens: usize,
    /// Pairs or texts per backend batch.
    pub max_batch_items: usize,
    /// How long to wait for more requests once one is taken.
    pub max_wait: Duration,
    /// Requests waiting at most.
    pub max_queue: usize,
    /// Bytes of text per backend batch (`max_body_bytes`; a larger request runs alone): the
    /// batch's texts are tokenised whole before truncation, about 90 bytes of memory per byte.
    pub max_batch_bytes: usize,
}

/// The sending side of the queue, shared by the handlers.
pub struct Queue {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    metrics: Arc<Metrics>,
}

impl Queue {
    /// A queue and the worker that drains it (spawned on the current runtime). The worker
    /// runs batches on `models` once they are set, and ends when the queue is closed and empty.
    pub fn start(
        limits: QueueLimits,
        models: Arc<OnceLock<Arc<Models>>>,
        metrics: Arc<Metrics>,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(limits.max_queue);
        let worker = tokio::spawn(worker(rx, limits, models, metrics.clone()));
        (
            Queue {
                tx: Mutex::new(Some(tx)),
                metrics,
            },
            worker,
        )
    }

    /// Takes a place in the queue for a request whose texts are still to be tokenised: 429
    /// when the queue is full, 503 once it is closed. Taken first, so that a full queue
    /// refuses a request before the work of tokenising it (megabytes of text each), and the
    /// requests being tokenised count as waiting.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        let tx = self
            .tx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| ApiError::unavailable("the service is shutting down"))?;
        let capacity = tx.max_capacity();
        match tx.try_reserve_owned() {
            Ok(permit) => {
                self.metrics.queue_size.fetch_add(1, Ordering::Relaxed);
                Ok(Admission {
                    permit: Some(permit),
                    metrics: self.metrics.clone(),
                })
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(ApiError::overloaded(format!(
                "the queue is full ({capacity} requests waiting): retry later"
            ))),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(ApiError::unavailable("the service is shutting down"))
            }
        }
    }

    /// Queues `work` (of `tokens` tokens) and waits for its answer: [`Queue::admit`], then
    /// [`Admission::submit`].
    pub async fn submit(&self, work: Work, tokens: usize) -> Result<Done, ApiError> {
        self.admit()?.submit(work, tokens).await
    }

    /// Stops taking requests; those already queued are still answered.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// A place in the queue ([`Queue::admit`]); given back when dropped unused (a request whose
/// texts could not be tokenised).
pub struct Admission {
    permit: Option<mpsc::OwnedPermit<Job>>,
    metrics: Arc<Metrics>,
}

impl Admission {
    /// Queues `work` (of `tokens` tokens) in this place and waits for its answer.
    pub async fn submit(mut self, work: Work, tokens: usize) -> Result<Done, ApiError> {
        let permit = self.permit.take().expect("submitted once");
        let (reply, answer) = oneshot::channel();
        permit.send(Job {
            work,
            tokens,
            enqueued: Instant::now(),
            reply,
        });
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::backend("the batch of this request was lost")))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if self.permit.is_some() {
            self.metrics.queue_size.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

async fn worker(
    mut rx: mpsc::Receiver<Job>,
    limits: QueueLimits,
    models: Arc<OnceLock<Arc<Models>>>,
    metrics: Arc<Metrics>,
) {
    // A job taken off the queue that did not fit the last batch: already counted out.
    let mut carry: Option<Job> = None;
    let took = |j: &Job| {
        metrics.queue_size.fetch_sub(1, Ordering::Relaxed);
        metrics
            .queue_seconds
            .observe(j.enqueued.elapsed().as_secs_f64());
    };
    loop {
        let first = match carry.take() {
            Some(j) => j,
            None => match rx.recv().await {
                Some(j) => {
                    took(&j);
                    j
                }
                None => return,
            },
        };
        let (mut items, mut tokens, mut bytes) =
            (first.work.len(), first.tokens, first.work.bytes());
        let mut batch = vec![first];
        let deadline = Instant::now() + limits.max_wait;
        while items < limits.max_batch_items && tokens < limits.max_batch_tokens {
            let next = match rx.try_recv() {
                Ok(j) => Some(j),
                Err(mpsc::error::TryRecvError::Empty) if !limits.max_wait.is_zero() => {
                    tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten()
                }
                Err(_) => None,
            };
            let Some(j) = next else { break };
            took(&j);
            let j_bytes = j.work.bytes();
            let fits = j.work.same_kind(&batch[0].work)
                && items + j.work.len() <= limits.max_batch_items
                && tokens + j.tokens <= limits.max_batch_tokens
                && bytes + j_bytes <= limits.max_batch_bytes;
            if !fits {
                carry = Some(j);
                break;
            }
            items += j.work.len();
            tokens += j.tokens;
            bytes += j_bytes;
            batch.push(j);
        }
        // A request whose client has gone (a connection closed by a forced stop, say) is not
        // run: nobody would get its answer.
        batch.retain(|j| !j.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let (items, tokens) = batch
            .iter()
            .fold((0, 0), |(i, t), j| (i + j.work.len(), t + j.tokens));
        let Some(models) = models.get().cloned() else {
            for j in batch {
                let _ = j
                    .reply
                    .send(Err(ApiError::unavailable("the models are still loading")));
            }
            continue;
        };
        metrics.batch_items.observe(items as f64);
        metrics.batch_tokens.observe(tokens as f64);
        let t0 = Instant::now();
        // On a task of its own: a panic in a batch fails that batch's requests (their answer
        // channels drop: "the batch of this request was lost") instead of ending the worker
        // and with it every later request. The panic message goes to stderr (the panic hook).
        let m = metrics.clone();
        let _ = tokio::spawn(async move { run(&models, batch, &m).await }).await;
        metrics
            .inference_seconds
            .observe(t0.elapsed().as_secs_f64());
    }
}

/// Runs one merged batch and answers each of its requests (each with its own results, or all
/// with the batch's error).
async fn run(models: &Models, batch: Vec<Job>, metrics: &Metrics) {
    let lens: Vec<usize> = batch.iter().map(|j| j.work.len()).collect();
    let scoring = matches!(batch[0].work, Work::Score(_));
    let (senders, work): (Vec<_>, Vec<Work>) = batch.into_iter().map(|j| (j.reply, j.work)).unzip();
    let answers = if scoring {
        let pairs: Vec<Pair> = work
            .into_iter()
            .flat_map(|w| match w {
                Work::Score(p) => p,
                Work::Embed(_) => Vec::new(),
            })
            .collect();
        score(models, &pairs, &lens, metrics).await
    } else {
        let texts: Vec<String> = work
            .into_iter()
            .flat_map(|w| match w {
                Work::Embed(t) => t,
                Work::Score(_) => Vec::new(),
            })
            .collect();
        embed(models, &texts, &lens, metrics).await
    };
    match answers {
        Ok(answers) => {
            for (reply, a) in senders.into_iter().zip(answers) {
                let _ = reply.send(Ok(a));
            }
        }
        Err(msg) => {
            for reply in senders {
                let _ = reply.send(Err(ApiError::backend(msg.clone())));
            }
        }
    }
}

/// `items` cut into consecutive runs of `lens`.
fn split<T>(items: Vec<T>, lens: &[usize]) -> Vec<Vec<T>> {
    let mut rest = items.into_iter();
    lens.iter()
        .map(|&n| rest.by_ref().take(n).collect())
        .collect()
}

async fn score(
    models: &Models,
    pairs: &[Pair],
    lens: &[usize],
    metrics: &Metrics,
) -> Result<Vec<Done>, String> {
    let scores = models.score(pairs).await.map_err(|e| e.to_string())?;
    if scores.len() != pairs.len() || scores.iter().zip(pairs).any(|(s, p)| s.id != p.id) {
        return Err(format!(
            "the scorer returned {} results (or other pair ids) for {} pairs",
            scores.len(),
            pairs.len()
        ));
    }
    metrics
        .pairs_scored
        .fetch_add(pairs.len() as u64, Ordering::Relaxed);
    Ok(split(scores, lens).into_iter().map(Done::Scores).collect())
}

async fn embed(
    models: &Models,
    texts: &[String],
    lens: &[usize],
    metrics: &Metrics,
) -> Result<Vec<Done>, String> {
    let vectors = models
        .embedder
        .embed(texts)
        .await
        .map_err(|e| e.to_string())?;
    if vectors.len() != texts.len() {
        return Err(format!(
            "the embedder returned {} vectors for {} texts",
            vectors.len(),
            texts.len()
        ));
    }
    metrics
        .texts_embedded
        .fetch_add(texts.len() as u64, Ordering::Relaxed);
    Ok(split(vectors, lens)
        .into_iter()
        .map(Done::Vectors)
        .collect())
}
