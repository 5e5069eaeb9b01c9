//! Fake embedders: deterministic, failing, slow, panicking, counting; and pairs to score.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use titlesim_core::{CosineScorer, Embedder, EmbedderInfo, Error, Pair, Result};

/// What a fake embedder does when asked for vectors.
pub enum Mode {
    /// Deterministic vectors from the text's bytes.
    Good,
    /// Always an error.
    Fail,
    /// Sleeps (Tokio time, so paused-time tests can skip it), then answers.
    Sleep(Duration),
    /// Waits until the gate is opened, then answers.
    Gate(Arc<tokio::sync::Semaphore>),
    /// Panics.
    Panic,
    /// Returns NaN vectors.
    Nan,
}

/// An [`Embedder`] whose behaviour a test chooses ([`Mode`]) and which records what it was
/// asked for.
pub struct Fake {
    info: EmbedderInfo,
    mode: Mode,
    /// Calls to `embed`.
    pub calls: AtomicUsize,
    /// Texts embedded (all calls).
    pub texts: Mutex<Vec<String>>,
    /// Calls that finished.
    pub finished: AtomicUsize,
}

/// A deterministic, text-dependent vector: byte histogram folded onto `dim` slots, plus a
/// bias so no vector is zero.
pub fn vector(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dim];
    for (i, b) in text.bytes().enumerate() {
        v[(b as usize * 7 + i % 3) % dim] += 1.0 + (b % 5) as f32 * 0.25;
    }
    v[0] += 0.5;
    v
}

impl Fake {
    /// A fake called `fake/{name}` (fingerprint `ts1-fake-{name}-{dim}`) making `dim`-d vectors.
    pub fn new(name: &str, dim: usize, mode: Mode) -> Arc<Self> {
        Arc::new(Fake {
            info: EmbedderInfo {
                model: format!("fake/{name}"),
                backend: "fake".into(),
                dim,
                normalize: false,
                fingerprint: format!("ts1-fake-{name}-{dim}"),
            },
            mode,
            calls: AtomicUsize::new(0),
            texts: Mutex::new(Vec::new()),
            finished: AtomicUsize::new(0),
        })
    }

    /// Calls to `embed` so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls to `embed` that returned so far.
    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Every text embedded so far, in order.
    pub fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }
}

#[async_trait]
impl Embedder for Fake {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.texts.lock().unwrap().extend_from_slice(texts);
        match &self.mode {
            Mode::Good | Mode::Nan => {}
            Mode::Fail => return Err(Error::backend("fake", "boom: the shadow model failed")),
            Mode::Sleep(d) => tokio::time::sleep(*d).await,
            Mode::Gate(g) => {
                let _ = g.acquire().await.map(|p| p.forget());
            }
            Mode::Panic => panic!("fake embedder panicked"),
        }
        self.finished.fetch_add(1, Ordering::SeqCst);
        let dim = self.info.dim;
        Ok(texts
            .iter()
            .map(|t| {
                if matches!(self.mode, Mode::Nan) {
                    vec![f32::NAN; dim]
                } else {
                    vector(t, dim)
                }
            })
            .collect())
    }
}

/// A [`CosineScorer`] over `e`, without prompts.
pub fn scorer(e: &Arc<Fake>, threshold: f32) -> CosineScorer {
    CosineScorer::new(e.clone(), threshold)
}

/// `n` pairs with varied titles, some GT titles repeated, phases alternating.
pub fn pairs(n: usize) -> Vec<Pair> {
    let brands = ["Apple", "Samsung", "Sony", "LG", "Bose", "Anker", "Dell"];
    let things = [
        "phone 128GB",
        "tv 55 inch",
        "headphones",
        "charger 65W",
        "laptop 16GB",
    ];
    (0..n)
        .map(|i| {
            let b = brands[i % brands.len()];
            let t = things[(i / 3) % things.len()];
            Pair {
                id: format!("p{i}"),
                phase: Some(if i % 4 == 0 { "qualifying" } else { "race" }.to_string()),
                product: format!("{b} {t} model {}", i % 11),
                gt: format!("{} {t}", brands[(i * 5 / 7) % brands.len()]),
                label: Some((i % 2) as u8),
            }
        })
        .collect()
}
