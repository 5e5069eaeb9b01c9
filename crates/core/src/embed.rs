//! The [`Embedder`] trait and the core's embedder over any [`Backend`].

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::backend::{Backend, BackendOutput};
use crate::error::{Error, Result};
use crate::fingerprint::FingerprintBuilder;
use crate::model::{ModelSpec, PaddingSide, Pooling};
use crate::pooling::{l2_normalize, pool};
use crate::tokenize::TextTokenizer;

/// What an embedder is, for logs, cache keys and `titlesim inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedderInfo {
    /// The model as the user named it.
    pub model: String,
    /// The backend that runs it.
    pub backend: String,
    /// Length of the vectors.
    pub dim: usize,
    /// Whether vectors are L2-normalised.
    pub normalize: bool,
    /// Stable identity of the vectors this embedder produces (see [`crate::fingerprint`]).
    pub fingerprint: String,
}

/// Turns texts into vectors.
///
/// Dyn-compatible, so canonical and shadow models can be `Box<dyn Embedder>` (or
/// `Arc<dyn Embedder>`) chosen by configuration. [`TransformerEmbedder`] implements it for
/// every [`Backend`]; implement it yourself for anything else that makes vectors (a remote
/// embedding API, a GPU server, a hashing embedder), and [`crate::CosineScorer`] and the
/// shadow scorer of `titlesim-shadow` use yours exactly as they use the built-in ones.
///
/// # Implementing
///
/// - [`Embedder::embed`] returns exactly one vector per text, in order, each of length
///   [`EmbedderInfo::dim`]; an empty slice gives an empty result. The scorer refuses a wrong
///   count or length ([`Error::Task`], [`Error::DimensionMismatch`]).
/// - Do not block the async executor: run compute on a blocking pool (see [`run_blocking`]),
///   or await your I/O.
/// - Report failures as [`Error`]s a caller can act on: [`Error::Backend`] with your
///   embedder's name for an engine or remote service that fails, [`Error::NonFinite`] for
///   NaN or infinite output, [`Error::Config`] for bad settings at construction.
/// - [`EmbedderInfo::fingerprint`] must change whenever the vectors would (other weights,
///   other settings) and stay the same otherwise: precomputed reference vectors and
///   resumed shadow logs are matched by it. [`crate::fingerprint::FingerprintBuilder`]
///   builds one from files and named settings.
///
/// # Example
///
/// A deterministic embedder that counts bytes, used through `Box<dyn Embedder>`:
///
/// ```
/// use async_trait::async_trait;
/// use titlesim_core::fingerprint::FingerprintBuilder;
/// use titlesim_core::{cosine, run_blocking, Embedder, EmbedderInfo, Result};
///
/// struct ByteHistogram {
///     info: EmbedderInfo,
/// }
///
/// impl ByteHistogram {
///     fn new(dim: usize) -> Self {
///         let fingerprint = FingerprintBuilder::new()
///             .field("kind", "byte-histogram-v1")
///             .field("dim", dim)
///             .finish();
///         let info = EmbedderInfo {
///             model: "byte-histogram".into(),
///             backend: "example".into(),
///             dim,
///             normalize: false,
///             fingerprint,
///         };
///         ByteHistogram { info }
///     }
/// }
///
/// #[async_trait]
/// impl Embedder for ByteHistogram {
///     fn info(&self) -> &EmbedderInfo {
///         &self.info
///     }
///
///     async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
///         let (texts, dim) = (texts.to_vec(), self.info.dim);
///         // Off the async threads, as a real model would be.
///         run_blocking(move || {
///             Ok(texts
///                 .iter()
///                 .map(|t| {
///                     let mut v = vec![0.0f32; dim];
///                     for b in t.bytes() {
///                         v[b as usize % dim] += 1.0;
///                     }
///                     v
///                 })
///                 .collect())
///         })
///         .await
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<()> {
/// let embedder: Box<dyn Embedder> = Box::new(ByteHistogram::new(64));
/// let texts = vec!["abc".to_string(), "cab".to_string(), "xyz".to_string()];
/// let v = embedder.embed(&texts).await?;
/// assert_eq!((v.len(), embedder.dim()), (3, 64));
/// assert!((cosine(&v[0], &v[1]) - 1.0).abs() < 1e-6); // same bytes, other order
/// assert_eq!(cosine(&v[0], &v[2]), 0.0); // no byte in common
/// assert!(embedder.fingerprint().starts_with("ts1-"));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Identity and shape of the vectors.
    fn info(&self) -> &EmbedderInfo;

    /// Embeds `texts`, returning one vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;

    /// Length of the vectors.
    fn dim(&self) -> usize {
        self.info().dim
    }

    /// Stable identity of the vectors.
    fn fingerprint(&self) -> &str {
        &self.info().fingerprint
    }
}

/// Runs blocking work off the async threads: on tokio's blocking pool inside a tokio
/// runtime, on a fresh thread otherwise. A panic in `f` becomes [`Error::Task`]; an error
/// `f` returns is returned as it is.
pub async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(h) => h
            .spawn_blocking(f)
            .await
            .map_err(|e| Error::Task(e.to_string()))?,
        Err(_) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                    .unwrap_or_else(|_| Err(Error::Task("embedding thread panicked".into())));
                let _ = tx.send(r);
            });
            rx.await
                .map_err(|_| Error::Task("embedding thread vanished".into()))?
        }
    }
}

/// Options of a [`TransformerEmbedder`].
#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Texts per backend call; texts are sorted by length first so batches pad little.
    pub batch_size: usize,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions { batch_size: 32 }
    }
}

struct Inner {
    spec: ModelSpec,
    tokenizer: TextTokenizer,
    backend: Box<dyn Backend>,
    info: EmbedderInfo,
    opts: EmbedOptions,
}

/// An embedder made of a model folder's tokenizer and pooling, and a [`Backend`].
///
/// This is where every backend's output becomes a sentence vector, so all backends share
/// tokenisation, batching, pooling and normalisation. The `titlesim` crate builds one from
/// configuration (`titlesim::load_embedder`); a backend of your own is plugged in with
/// [`TransformerEmbedder::new`]. Cloning is cheap (the model is shared).
///
/// [`Embedder::embed`] fails with [`Error::Tokenizer`] when a text cannot be tokenised,
/// [`Error::Backend`] when the backend fails or returns token states of the wrong shape,
/// [`Error::DimensionMismatch`] when it returns vectors of the wrong length,
/// [`Error::NonFinite`] for NaN or infinite values, and [`Error::Task`] when the blocking
/// task panics.
#[derive(Clone)]
pub struct TransformerEmbedder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TransformerEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerEmbedder")
            .field("info", &self.inner.info)
            .finish()
    }
}

impl TransformerEmbedder {
    /// Puts together a model's tokenizer, pooling and `backend`.
    ///
    /// Fails with [`Error::ModelFile`] or [`Error::Tokenizer`] when the folder's tokenizer
    /// cannot be loaded or used, [`Error::Config`] when a last-token model's tokenizer
    /// appends no end-of-sequence token and the configuration does not say what to do
    /// (`append_eos`), and [`Error::Io`] when a file that goes into the fingerprint
    /// (config, tokenizer, the backend's [`Backend::source_files`]) cannot be read.
    pub fn new(spec: ModelSpec, backend: Box<dyn Backend>, opts: EmbedOptions) -> Result<Self> {
        let tokenizer = TextTokenizer::from_spec(&spec)?;
        let mut fp = FingerprintBuilder::new()
            .file(&spec.files.config)?
            .file(&spec.files.tokenizer)?;
        for f in backend.source_files() {
            fp = fp.file(&f)?;
        }
        fp = fp
            .field("pooling", spec.pooling)
            .field("normalize", spec.normalize)
            .field("max_seq_length", spec.max_seq_length)
            .field("lowercase", spec.do_lower_case);
        // Only when they change the tokens, so fingerprints of other models stay as they were.
        if let Some(eos) = tokenizer.appended_eos() {
            fp = fp.field("append_eos", eos);
        }
        if let Some(v) = backend.variant() {
            // int8 or bf16 vectors are not f32's: a store or log of one is not the other's.
            fp = fp.field("variant", v);
        }
        if spec.truncation_side == PaddingSide::Left {
            // A long text keeps its end instead of its start: another vector.
            fp = fp.field("truncation_side", "left");
        }
        let fingerprint = fp.finish();
        let info = EmbedderInfo {
            model: spec.id.clone(),
            backend: backend.name().to_string(),
            dim: spec.hidden_size,
            normalize: spec.normalize,
            fingerprint,
        };
        Ok(TransformerEmbedder {
            inner: Arc::new(Inner {
                spec,
                tokenizer,
                backend,
                info,
                opts,
            }),
        })
    }

    /// The resolved model.
    pub fn spec(&self) -> &ModelSpec {
        &self.inner.spec
    }

    /// The tokenizer in use.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.inner.tokenizer
    }

    /// The pooling in force.
    pub fn pooling(&self) -> Pooling {
        self.inner.spec.pooling
    }

    /// Embeds on the calling thread (for benchmarks and synchronous callers).
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.inner.embed(texts, self.inner.opts.batch_size)
    }

    /// [`TransformerEmbedder::embed_blocking`] with at most `batch_size` texts per backend call
    /// instead of the configured number (at least 1). The texts are sorted by length across
    /// the whole list before they are cut into batches, so one call with many texts pads less
    /// than many calls with few; the vectors are the same either way.
    pub fn embed_blocking_batched(
        &self,
        texts: &[String],
        batch_size: usize,
    ) -> Result<Vec<Vec<f32>>> {
        self.inner.embed(texts, batch_size.max(1))
    }
}

impl Inner {
    fn embed(&self, texts: &[String], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let encoded = self.tokenizer.encode(texts)?;
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let dim = self.info.dim;
        let backend = self.backend.name();
        // Padded no further than the model's positions (the spec refuses a max_length beyond).
        let max_len = self
            .spec
            .max_positions()
            .unwrap_or(self.spec.max_seq_length);
        let batches = self.tokenizer.batches_padded(
            &encoded,
            batch_size,
            self.backend.batch_padding(),
            max_len,
        );
        for (idx, batch) in batches {
            let pooled = match self.backend.forward(&batch)? {
                BackendOutput::Tokens(states) => {
                    if states.batch != batch.batch_size || states.seq != batch.seq_len {
                        return Err(Error::backend(
                            backend,
                            format!(
                                "returned token states of shape [{}, {}, {}] for a batch of [{}, {}]",
                                states.batch, states.seq, states.hidden, batch.batch_size, batch.seq_len
                            ),
                        ));
                    }
                    pool(&states, &batch.attention_mask, self.spec.pooling)
                }
                BackendOutput::Pooled(v) => {
                    if v.len() != batch.batch_size {
                        return Err(Error::backend(
                            backend,
                            format!(
                                "returned {} vectors for {} texts",
                                v.len(),
                                batch.batch_size
                            ),
                        ));
                    }
                    v
                }
            };
            for (i, mut v) in idx.into_iter().zip(pooled) {
                if v.len() != dim {
                    return Err(Error::DimensionMismatch {
                        context: format!("{backend} output for model {}", self.info.model),
                        expected: dim,
                        got: v.len(),
                    });
                }
                if v.iter().any(|x| !x.is_finite()) {
                    // The text itself, so that it can be found in the input: `#i` counts
                    // within this call (a chunk of the file, its titles once each).
                    return Err(Error::NonFinite {
                        context: format!(
                            "{backend} output for the text {}",
                            crate::error::excerpt(&texts[i])
                        ),
                    });
                }
                if self.spec.normalize {
                    l2_normalize(&mut v);
                }
                out[i] = v;
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for TransformerEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.inner.info
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let inner = self.inner.clone();
        let texts = texts.to_vec();
        run_blocking(move || inner.embed(&texts, inner.opts.batch_size)).await
    }
}
