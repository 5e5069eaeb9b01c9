//! Each distinct title embedded once per model: an [`Embedder`] that remembers its vectors.
//!
//! History repeats itself: the same ground-truth title is judged against hundreds of agents'
//! answers. A text's vector does not depend on the batch it lands in (every backend is
//! batch-invariant), so a remembered vector is exactly the one a fresh call would give.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use titlesim_core::{CosineScorer, Embedder, EmbedderInfo, Error, Result, Scorer};

/// Texts remembered by default (per model): 200,000 vectors of 384 floats hold ~300 MB, of
/// 1,024 floats ~800 MB.
pub const DEFAULT_CAPACITY: usize = 200_000;

/// How many texts a [`CachedEmbedder`] was asked for and how many it had to embed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Texts asked for (each call's texts are already distinct).
    pub requested: u64,
    /// Texts the model embedded (the others were remembered).
    pub embedded: u64,
}

#[derive(Default)]
struct Memory {
    vectors: HashMap<String, Arc<[f32]>>,
    /// Insertion order, for evicting the oldest when full.
    order: VecDeque<String>,
}

/// An [`Embedder`] that remembers up to `capacity` vectors (the oldest forgotten first) and
/// embeds only the texts it has not seen.
pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    capacity: usize,
    memory: Mutex<Memory>,
    requested: AtomicU64,
    embedded: AtomicU64,
}

impl CachedEmbedder {
    /// Remembers up to `capacity` vectors of `inner` (0 remembers none).
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> Self {
        CachedEmbedder {
            inner,
            capacity,
            memory: Mutex::new(Memory::default()),
            requested: AtomicU64::new(0),
            embedded: AtomicU64::new(0),
        }
    }

    /// What was asked for and embedded so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            requested: self.requested.load(Ordering::Relaxed),
            embedded: self.embedded.load(Ordering::Relaxed),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Embedder for CachedEmbedder {
    fn info(&self) -> &EmbedderInfo {
        self.inner.info()
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.requested
            .fetch_add(texts.len() as u64, Ordering::Relaxed);
        let mut found: Vec<Option<Arc<[f32]>>> = {
            let m = self.memory();
            texts.iter().map(|t| m.vectors.get(t).cloned()).collect()
        };
        // The texts to embed, each once even if a caller repeated it.
        let mut slot: HashMap<&str, usize> = HashMap::new();
        let mut missing: Vec<String> = Vec::new();
        for (t, f) in texts.iter().zip(&found) {
            if f.is_none() && !slot.contains_key(t.as_str()) {
                slot.insert(t, missing.len());
                missing.push(t.clone());
            }
        }
        if !missing.is_empty() {
            let vecs = self.inner.embed(&missing).await?;
            if vecs.len() != missing.len() {
                return Err(Error::Task(format!(
                    "embedder returned {} vectors for {} texts",
                    vecs.len(),
                    missing.len()
                )));
            }
            self.embedded
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            let vecs: Vec<Arc<[f32]>> = vecs.into_iter().map(Arc::from).collect();
            for (t, f) in texts.iter().zip(found.iter_mut()) {
                if f.is_none() {
                    *f = Some(vecs[slot[t.as_str()]].clone());
                }
            }
            if self.capacity > 0 {
                let mut m = self.memory();
                for (t, v) in missing.into_iter().zip(vecs) {
                    if m.vectors.insert(t.clone(), v).is_none() {
                        m.order.push_back(t);
                    }
                    while m.vectors.len() > self.capacity {
                        match m.order.pop_front() {
                            Some(old) => {
                                m.vectors.remove(&old);
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|v| v.map(|v| v.to_vec()).unwrap_or_default())
            .collect())
    }
}

/// `scorer` with its embedder wrapped in a [`CachedEmbedder`] (same threshold, prompts, blank
/// rule and GT store), and the cache, for its statistics.
pub fn cached_scorer(
    scorer: &CosineScorer,
    capacity: usize,
) -> Result<(CosineScorer, Arc<CachedEmbedder>)> {
    let cache = Arc::new(CachedEmbedder::new(scorer.embedder().clone(), capacity));
    let mut s = CosineScorer::with_prompts(
        cache.clone() as Arc<dyn Embedder>,
        scorer.threshold(),
        scorer.prompts().clone(),
    )
    .with_blank_titles(scorer.blank_titles());
    if let Some(store) = scorer.gt_vectors() {
        s = s.with_gt_vectors(store.clone())?;
    }
    Ok((s, cache))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Embeds a text as (len, 1), counting the texts it was asked for.
    struct Len {
        info: EmbedderInfo,
        calls: Mutex<Vec<Vec<String>>>,
    }

    #[async_trait]
    impl Embedder for Len {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.calls.lock().unwrap().push(texts.to_vec());
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    fn len_embedder() -> Arc<Len> {
        Arc::new(Len {
            info: EmbedderInfo {
                model: "len".into(),
                backend: "test".into(),
                dim: 2,
                fingerprint: "ts1-len".into(),
                normalize: false,
            },
            calls: Mutex::new(Vec::new()),
        })
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn embeds_each_text_once_and_returns_the_same_vectors() {
        let inner = len_embedder();
        let c = CachedEmbedder::new(inner.clone(), 10);
        let a = c.embed(&strings(&["ab", "abc"])).await.unwrap();
        let b = c.embed(&strings(&["abc", "abcd", "ab"])).await.unwrap();
        assert_eq!(a, vec![vec![2.0, 1.0], vec![3.0, 1.0]]);
        assert_eq!(b, vec![vec![3.0, 1.0], vec![4.0, 1.0], vec![2.0, 1.0]]);
        assert_eq!(
            *inner.calls.lock().unwrap(),
            vec![strings(&["ab", "abc"]), strings(&["abcd"])]
        );
        assert_eq!(
            c.stats(),
            CacheStats {
                requested: 5,
                embedded: 3
            }
        );
    }

    #[tokio::test]
    async fn forgets_the_oldest_beyond_its_capacity() {
        let inner = len_embedder();
        let c = CachedEmbedder::new(inner.clone(), 2);
        c.embed(&strings(&["a", "bb", "ccc"])).await.unwrap();
        // "a" was forgotten, "bb" and "ccc" are remembered.
        let v = c.embed(&strings(&["ccc", "a", "bb"])).await.unwrap();
        assert_eq!(v[1], vec![1.0, 1.0]);
        assert_eq!(
            inner.calls.lock().unwrap().last().unwrap(),
            &strings(&["a"])
        );
        assert_eq!(c.stats().embedded, 4);
    }

    #[tokio::test]
    async fn capacity_zero_remembers_nothing_and_a_repeated_text_is_embedded_once() {
        let inner = len_embedder();
        let c = CachedEmbedder::new(inner.clone(), 0);
        c.embed(&strings(&["x", "x"])).await.unwrap();
        c.embed(&strings(&["x"])).await.unwrap();
        assert_eq!(
            *inner.calls.lock().unwrap(),
            vec![strings(&["x"]), strings(&["x"])]
        );
    }
}
