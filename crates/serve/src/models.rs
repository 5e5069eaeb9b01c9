//! The models a service runs: the canonical scorer (with its GT store), its embedder for the
//! embedding endpoints, and the shadow beside it when the configuration has one.

use std::sync::Arc;

use titlesim::{Config, CosineScorer, Pair, PairScore, Scorer, TransformerEmbedder};
use titlesim_shadow::{ShadowScorer, ShadowSettings, Sinks};

use crate::error::Result;

/// What loading on a blocking thread gives, before the shadow scorer is put together.
pub(crate) struct Loaded {
    pub canonical: CosineScorer,
    pub embedder: Arc<TransformerEmbedder>,
    pub shadow: Option<CosineScorer>,
    /// Warnings to show (a store ignored, a shadow model that failed to load).
    pub warnings: Vec<String>,
}

/// Loads the canonical model (an error stops the service) and the shadow model (an error is
/// a warning: the shadow never stops the canonical service).
pub(crate) fn load(config: &Config) -> Result<Loaded> {
    let failed = |source| crate::Error::Load {
        model: config.canonical.model.clone(),
        source: Box::new(source),
    };
    let embedder = Arc::new(titlesim::load_embedder(&config.canonical).map_err(failed)?);
    let (canonical, mut warnings) =
        titlesim::scorer_for(embedder.clone(), &config.canonical).map_err(failed)?;
    let shadow = match config.active_shadow() {
        None => None,
        Some(cfg) => {
            let (shadow, w) = titlesim::load_shadow_scorer(cfg);
            warnings.extend(w);
            shadow
        }
    };
    // A log the previous configuration wrote (a promotion that kept its path) is refused
    // before any record of these models joins it.
    if let (Some(_), Some(log)) = (&config.shadow, &config.shadow_options.log) {
        titlesim_shadow::check_log_models(log, &canonical, shadow.as_ref())?;
    }
    Ok(Loaded {
        canonical,
        embedder,
        shadow,
        warnings,
    })
}

/// The loaded models.
pub struct Models {
    /// The canonical scorer (verdicts come from it).
    pub canonical: CosineScorer,
    /// The canonical model's embedder (the embedding endpoints use it).
    pub embedder: Arc<TransformerEmbedder>,
    /// The shadow scorer, when the configuration has a `[shadow]` table: it returns the
    /// canonical verdicts and logs both sides.
    pub shadow: Option<Arc<ShadowScorer>>,
    /// Warnings given at load time.
    pub warnings: Vec<String>,
}

impl Models {
    /// Puts the loaded models together; with a `[shadow]` table, the shadow scorer writes to
    /// `sinks` (opened, and locked, before loading). Must run inside the Tokio runtime.
    pub(crate) fn assemble(config: &Config, loaded: Loaded, sinks: Option<Sinks>) -> Result<Self> {
        let shadow = match sinks {
            None => None,
            Some(sinks) => Some(Arc::new(ShadowScorer::new(
                loaded.canonical.clone(),
                loaded.shadow,
                ShadowSettings::from_options(&config.shadow_options),
                sinks,
            )?)),
        };
        Ok(Models {
            canonical: loaded.canonical,
            embedder: loaded.embedder,
            shadow,
            warnings: loaded.warnings,
        })
    }

    /// Scores `pairs`: through the shadow scorer when there is one (the same canonical
    /// verdicts, both sides logged), else with the canonical scorer.
    pub async fn score(&self, pairs: &[Pair]) -> Result<Vec<PairScore>> {
        match &self.shadow {
            Some(s) => Ok(s.score_batch(pairs).await?),
            None => Ok(self.canonical.score_batch(pairs).await?),
        }
    }
}

/// The sinks of the shadow log when the configuration has a `[shadow]` table (an error when
/// it names neither a log nor an EMF output: records would go nowhere), with notes to show.
pub(crate) fn open_sinks(config: &Config) -> Result<Option<(Sinks, Vec<String>)>> {
    Ok(titlesim_shadow::open_configured_sinks(
        &config.shadow_options,
        config.shadow.is_some(),
    )?)
}
