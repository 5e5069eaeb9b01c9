//! One model's scoring of a batch: a [`CosineScorer`] plus, optionally, its precomputed GT
//! vectors.

use std::sync::Arc;

use titlesim_core::config::ModelConfig;
use titlesim_core::fingerprint::with_prompt;
use titlesim_core::{CosineScorer, EmbedderInfo, Score, Scorer};

use crate::error::Result;
use crate::store::GtStore;

/// A model's scorer with its optional [`GtStore`] (the "GT skip" path).
#[derive(Clone)]
pub struct SideScorer {
    scorer: CosineScorer,
    store: Option<Arc<GtStore>>,
}

impl std::fmt::Debug for SideScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SideScorer")
            .field("model", &self.info().model)
            .field("threshold", &self.threshold())
            .field(
                "store",
                &self.store.as_ref().map(|s| s.path().to_path_buf()),
            )
            .finish()
    }
}

impl SideScorer {
    /// A side that encodes both titles of every pair.
    pub fn new(scorer: CosineScorer) -> Self {
        SideScorer {
            scorer,
            store: None,
        }
    }

    /// A side that takes reference-title vectors from `store` when it has them. The store
    /// must hold this model's vectors (fingerprint with the GT prompt, and dimension):
    /// [`crate::Error::StoreMismatch`] otherwise.
    pub fn with_store(scorer: CosineScorer, store: GtStore) -> Result<Self> {
        let side = Self::new(scorer);
        store.check(&side.gt_fingerprint(), side.info().dim)?;
        Ok(SideScorer {
            store: Some(Arc::new(store)),
            ..side
        })
    }

    /// A side as `cfg` describes it: with the store of `cfg.gt_store`, opened under the
    /// policy `cfg.gt_store_mismatch`. The second value is a warning to show (a store that was
    /// ignored, or a torn last line that was skipped).
    pub fn from_config(scorer: CosineScorer, cfg: &ModelConfig) -> Result<(Self, Option<String>)> {
        let side = Self::new(scorer);
        let Some(path) = &cfg.gt_store else {
            return Ok((side, None));
        };
        let mut warning = None;
        let store = GtStore::open_for(
            path,
            &side.gt_fingerprint(),
            side.info().dim,
            cfg.gt_store_mismatch,
            &mut warning,
        )?;
        Ok((
            SideScorer {
                store: store.map(Arc::new),
                ..side
            },
            warning,
        ))
    }

    /// The fingerprint of this side's reference-title vectors (model and GT prompt): the key
    /// of its store.
    pub fn gt_fingerprint(&self) -> String {
        with_prompt(
            self.scorer.embedder().fingerprint(),
            self.scorer.prompts().gt.as_deref(),
        )
    }

    /// The embedder's identity.
    pub fn info(&self) -> &EmbedderInfo {
        self.scorer.embedder().info()
    }

    /// The threshold a pair passes at.
    pub fn threshold(&self) -> f32 {
        self.scorer.threshold()
    }

    /// The underlying scorer.
    pub fn scorer(&self) -> &CosineScorer {
        &self.scorer
    }

    /// The store in use, if any.
    pub fn store(&self) -> Option<&GtStore> {
        self.store.as_deref()
    }

    /// Scores `(product, gt)` pairs in order.
    ///
    /// Without a store this is exactly [`CosineScorer::score_batch`]. With one, reference
    /// titles found there are not encoded; the rest are encoded with the product titles.
    pub async fn score(&self, pairs: &[(String, String)]) -> Result<Vec<Score>> {
        let Some(store) = &self.store else {
            return Ok(self.scorer.score_batch(pairs).await?);
        };
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let prompts = self.scorer.prompts();
        let missing: Vec<usize> = (0..pairs.len())
            .filter(|&i| store.get(&pairs[i].1).is_none())
            .collect();
        let (products, missing_vecs) = if prompts.product == prompts.gt {
            let mut all = self
                .scorer
                .embed_unique(
                    pairs
                        .iter()
                        .map(|p| p.0.as_str())
                        .chain(missing.iter().map(|&i| pairs[i].1.as_str())),
                    prompts.product.as_deref(),
                )
                .await?;
            let rest = all.split_off(pairs.len());
            (all, rest)
        } else {
            let products = self.scorer.embed_products(pairs).await?;
            let rest = if missing.is_empty() {
                Vec::new()
            } else {
                self.scorer
                    .embed_unique(
                        missing.iter().map(|&i| pairs[i].1.as_str()),
                        prompts.gt.as_deref(),
                    )
                    .await?
            };
            (products, rest)
        };
        let mut gts: Vec<Option<&[f32]>> = pairs.iter().map(|p| store.get(&p.1)).collect();
        for (&i, v) in missing.iter().zip(&missing_vecs) {
            gts[i] = Some(v.as_slice());
        }
        let mut out = Vec::with_capacity(pairs.len());
        for (p, gt) in products.iter().zip(gts) {
            let gt = gt.ok_or_else(|| {
                titlesim_core::Error::Task("a reference title got no vector".into())
            })?;
            out.push(self.scorer.judge(p, gt)?);
        }
        Ok(out)
    }
}
