//! Scoring a candidate title against a reference title: cosine at or above a threshold.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::pooling::cosine;

/// The verdict on one pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Cosine similarity of the two embeddings.
    pub cosine: f32,
    /// The threshold it was judged against.
    pub threshold: f32,
    /// `cosine >= threshold`.
    pub pass: bool,
}

impl Score {
    /// Judges `cosine` against `threshold`.
    pub fn judge(cosine: f32, threshold: f32) -> Self {
        Score {
            cosine,
            threshold,
            pass: cosine >= threshold,
        }
    }
}

/// Scores pairs of (candidate, reference) texts.
#[async_trait]
pub trait Scorer: Send + Sync {
    /// The threshold at or above which a pair passes.
    fn threshold(&self) -> f32;

    /// Scores many pairs `(candidate, reference)`, in order.
    async fn score_batch(&self, pairs: &[(String, String)]) -> Result<Vec<Score>>;

    /// Scores one pair.
    async fn score(&self, candidate: &str, reference: &str) -> Result<Score> {
        let mut v = self
            .score_batch(&[(candidate.to_string(), reference.to_string())])
            .await?;
        v.pop()
            .ok_or_else(|| Error::Task("scorer returned no score".into()))
    }
}

/// The prompts prepended to each side before embedding (none for title-vs-title by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidePrompts {
    /// Prepended to the candidate (product) titles.
    pub product: Option<String>,
    /// Prepended to the reference (ground-truth) titles.
    pub gt: Option<String>,
}

/// Cosine of two embeddings from one [`Embedder`], judged against a threshold.
#[derive(Clone)]
pub struct CosineScorer {
    embedder: Arc<dyn Embedder>,
    threshold: f32,
    prompts: SidePrompts,
}

impl CosineScorer {
    /// A scorer with no prompts.
    pub fn new(embedder: Arc<dyn Embedder>, threshold: f32) -> Self {
        Self::with_prompts(embedder, threshold, SidePrompts::default())
    }

    /// A scorer that prepends prompts to either side.
    pub fn with_prompts(embedder: Arc<dyn Embedder>, threshold: f32, prompts: SidePrompts) -> Self {
        CosineScorer {
            embedder,
            threshold,
            prompts,
        }
    }

    /// The embedder in use.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The prompts in use.
    pub fn prompts(&self) -> &SidePrompts {
        &self.prompts
    }

    /// Embeds the candidate side of `pairs` (prompt applied), one vector per pair.
    pub async fn embed_products(&self, pairs: &[(String, String)]) -> Result<Vec<Vec<f32>>> {
        self.embed_unique(
            pairs.iter().map(|p| p.0.as_str()),
            self.prompts.product.as_deref(),
        )
        .await
    }

    /// Embeds the reference side of `pairs` (prompt applied), one vector per pair.
    pub async fn embed_gts(&self, pairs: &[(String, String)]) -> Result<Vec<Vec<f32>>> {
        self.embed_unique(
            pairs.iter().map(|p| p.1.as_str()),
            self.prompts.gt.as_deref(),
        )
        .await
    }

    /// Embeds texts once each (duplicates share a vector), with an optional prompt.
    pub async fn embed_unique<'a>(
        &self,
        texts: impl Iterator<Item = &'a str>,
        prompt: Option<&str>,
    ) -> Result<Vec<Vec<f32>>> {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut unique: Vec<String> = Vec::new();
        let slots: Vec<usize> = texts
            .map(|t| {
                *index.entry(t).or_insert_with(|| {
                    unique.push(match prompt {
                        Some(p) => format!("{p}{t}"),
                        None => t.to_string(),
                    });
                    unique.len() - 1
                })
            })
            .collect();
        let vecs = self.embedder.embed(&unique).await?;
        if vecs.len() != unique.len() {
            return Err(Error::Task(format!(
                "embedder returned {} vectors for {} texts",
                vecs.len(),
                unique.len()
            )));
        }
        Ok(slots.into_iter().map(|i| vecs[i].clone()).collect())
    }

    /// Judges precomputed vectors.
    pub fn judge(&self, product: &[f32], gt: &[f32]) -> Result<Score> {
        if product.len() != gt.len() {
            return Err(Error::DimensionMismatch {
                context: "cosine of product and reference vectors".into(),
                expected: product.len(),
                got: gt.len(),
            });
        }
        Ok(Score::judge(cosine(product, gt), self.threshold))
    }
}

#[async_trait]
impl Scorer for CosineScorer {
    fn threshold(&self) -> f32 {
        self.threshold
    }

    async fn score_batch(&self, pairs: &[(String, String)]) -> Result<Vec<Score>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let (a, b) = if self.prompts.product == self.prompts.gt {
            // One call for both sides: shared texts are embedded once.
            let all = self
                .embed_unique(
                    pairs.iter().flat_map(|p| [p.0.as_str(), p.1.as_str()]),
                    self.prompts.product.as_deref(),
                )
                .await?;
            let mut a = Vec::with_capacity(pairs.len());
            let mut b = Vec::with_capacity(pairs.len());
            for (i, v) in all.into_iter().enumerate() {
                if i % 2 == 0 {
                    a.push(v)
                } else {
                    b.push(v)
                }
            }
            (a, b)
        } else {
            (
                self.embed_products(pairs).await?,
                self.embed_gts(pairs).await?,
            )
        };
        a.iter().zip(&b).map(|(x, y)| self.judge(x, y)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::EmbedderInfo;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Embeds a text as (len, count of 'a', 1), counting calls.
    struct Toy {
        info: EmbedderInfo,
        texts: AtomicUsize,
    }

    #[async_trait]
    impl Embedder for Toy {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.texts.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, t.matches('a').count() as f32, 1.0])
                .collect())
        }
    }

    fn toy() -> Arc<Toy> {
        Arc::new(Toy {
            info: EmbedderInfo {
                model: "toy".into(),
                backend: "test".into(),
                dim: 3,
                normalize: false,
                fingerprint: "ts1-toy".into(),
            },
            texts: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn scores_match_cosine_and_threshold() {
        let e = toy();
        let s = CosineScorer::new(e.clone(), 0.99);
        let pairs = vec![
            ("aaa".to_string(), "aaa".to_string()),
            ("abc".to_string(), "bcdefgh".to_string()),
        ];
        let r = s.score_batch(&pairs).await.unwrap();
        assert!((r[0].cosine - 1.0).abs() < 1e-6 && r[0].pass);
        let want = cosine(&[3., 1., 1.], &[7., 0., 1.]);
        assert_eq!(r[1].cosine, want);
        assert!(!r[1].pass);
        // "aaa" was embedded once although it appears twice.
        assert_eq!(e.texts.load(Ordering::SeqCst), 3);
        let one = s.score("abc", "bcdefgh").await.unwrap();
        assert_eq!(one, r[1]);
    }

    #[tokio::test]
    async fn prompts_are_prepended_per_side() {
        let e = toy();
        let s = CosineScorer::with_prompts(
            e.clone(),
            0.5,
            SidePrompts {
                product: Some("aa".into()),
                gt: None,
            },
        );
        let r = s.score("x", "x").await.unwrap();
        let want = cosine(&[3., 2., 1.], &[1., 0., 1.]);
        assert_eq!(r.cosine, want);
    }

    #[test]
    fn threshold_is_inclusive() {
        assert!(Score::judge(0.7, 0.7).pass);
        assert!(!Score::judge(0.6999, 0.7).pass);
    }
}
