//! # titlesim
//!
//! Loads embedders and scorers from configuration with whichever backends this build has
//! (cargo features `candle`, `ort`, `tract`), attaching a model's GT store when its
//! configuration names one, reads the configuration file ([`Config`], in [`config`]), and
//! re-exports [`titlesim_core`] for everything else: the [`Embedder`] and [`Scorer`] traits,
//! [`ModelConfig`], [`Pair`], [`CosineScorer`], [`PairScore`],
//! and, from `titlesim-log`, the shadow-log [`ShadowRecord`] and [`read_log`]. The path from two titles to a verdict is described in
//! [`titlesim_core`]'s overview; shadow scoring is the `titlesim-shadow` crate.
//!
//! Asking for a backend that is not compiled in is an [`Error::BackendNotCompiled`] naming the
//! feature to enable.
//!
//! | entry point | from | to |
//! |---|---|---|
//! | [`Config::from_file`] / [`Config::parse`] | a TOML file | `[canonical]`, `[shadow]` and `[shadow_options]` |
//! | [`load_scorer`] | a [`ModelConfig`] | a [`CosineScorer`]: threshold, prompts and embedder |
//! | [`load_embedder`] | a [`ModelConfig`] | a [`TransformerEmbedder`] (tokenizer + backend + pooling) |
//! | [`load_spec`], [`load_backend`] | a [`ModelConfig`], a [`ModelSpec`] | the steps of [`load_embedder`], for callers that put them together differently |
//! | [`io::read_pairs`], [`io::read_texts`] | CSV / JSON-lines files | pairs and texts, with line-numbered [`Error::Input`]s |
//!
//! ## Example: load from configuration, embed, score
//!
//! With the tiny random-weight BERT of the repository's test fixtures (a real model folder
//! works the same way; `model` may also be a Hugging Face cache entry or hub id):
//!
//! ```
//! # #[cfg(feature = "candle")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> titlesim::Result<()> {
//! use titlesim::{cosine, Config, Embedder, Scorer};
//!
//! let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/tiny-bert-mean");
//! let config = Config::parse(
//!     &format!("[canonical]\nmodel = {folder:?}\nbackend = \"candle\"\nthreshold = 0.8\n"),
//!     None,
//! )?;
//!
//! // Embed: one vector per text, L2-normalised as the folder's modules.json says.
//! let embedder = titlesim::load_embedder(&config.canonical)?;
//! let texts = vec![
//!     "Apple iPhone 15 128GB Black".to_string(),
//!     "iPhone 15 (128 GB) - Black".to_string(),
//! ];
//! let vectors = embedder.embed(&texts).await?;
//! assert_eq!(vectors.len(), 2);
//! assert_eq!(vectors[0].len(), embedder.dim()); // 32 for this tiny model
//! assert!(embedder.fingerprint().starts_with("ts1-"));
//!
//! // Score: cosine of the two embeddings against the configured threshold. The second value
//! // holds warnings to show (from the GT store, when one is configured).
//! let (scorer, warnings) = titlesim::load_scorer(&config.canonical)?;
//! assert!(warnings.is_empty());
//! let score = scorer.score(&texts[0], &texts[1]).await?;
//! assert!((score.cosine - cosine(&vectors[0], &vectors[1])).abs() < 1e-5);
//! assert_eq!(score.pass, score.cosine >= 0.8);
//! let same = scorer.score(&texts[0], &texts[0]).await?;
//! assert!((same.cosine - 1.0).abs() < 1e-5 && same.pass);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "candle"))]
//! # fn main() {}
//! ```
//!
//! ## Example: a backend this build lacks
//!
//! ```
//! use titlesim::{BackendKind, Error, ModelConfig};
//!
//! let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/tiny-bert-mean");
//! let compiled = titlesim::compiled_backends();
//! for kind in BackendKind::ALL.into_iter().filter(|k| !compiled.contains(k)) {
//!     match titlesim::load_embedder(&ModelConfig::new(folder, kind, 0.8)) {
//!         Err(Error::BackendNotCompiled { feature, .. }) => assert_eq!(feature, kind.feature()),
//!         other => panic!("{kind}: expected BackendNotCompiled, got {other:?}"),
//!     }
//! }
//! ```
//!
//! ## Your own embedder
//!
//! Anything that implements [`Embedder`] goes where a loaded one goes:
//! `CosineScorer::new(Arc::new(yours), threshold)`, then scored, shadowed and stored like any
//! other. The
//! repository's `examples/hash-embedder` crate does this from outside the workspace's
//! libraries, with the public API alone.
#![deny(missing_docs)]

pub mod config;
pub mod io;

pub use titlesim_core as core;
pub use titlesim_core::*;
// After the glob: the whole file, not core's one-model `config` module.
pub use config::Config;
pub use titlesim_log::{
    read_log, LogContents, ShadowRecord, SideRecord, SkippedLine, SCHEMA_VERSION,
};
/// The GT store: precomputed ground-truth vectors ([`GtStore`], [`store::precompute()`]).
pub use titlesim_store as store;
pub use titlesim_store::GtStore;

use std::path::{Path, PathBuf};

/// The backends compiled into this build.
pub fn compiled_backends() -> Vec<BackendKind> {
    BackendKind::ALL
        .into_iter()
        .filter(|k| match k {
            BackendKind::Candle => cfg!(feature = "candle"),
            BackendKind::Ort => cfg!(feature = "ort"),
            BackendKind::Tract => cfg!(feature = "tract"),
        })
        .collect()
}

/// Resolves and reads the model folder a configuration names, with its overrides applied.
///
/// Fails with [`Error::ModelNotFound`] when the name resolves to nothing, [`Error::ModelFile`]
/// or [`Error::Unsupported`] when the folder cannot be read or run, and [`Error::Config`] when
/// an override does not fit the folder.
pub fn load_spec(cfg: &ModelConfig) -> Result<ModelSpec> {
    let root: PathBuf = resolve_model(&cfg.model, cfg.revision.as_deref())?;
    let mut spec = ModelSpec::from_folder_with(&cfg.model, &root, &cfg.overrides())?;
    if let Some(rev) = &cfg.revision {
        if Path::new(&cfg.model).is_dir() {
            spec.warnings.push(format!(
                "revision `{rev}` is unused: `{}` is a local folder, taken as it is (revisions select hub cache entries and downloads)",
                cfg.model
            ));
        }
    }
    Ok(spec)
}

/// Loads `spec` on the backend `kind` with `opts`.
///
/// Fails with [`Error::BackendNotCompiled`] when `kind`'s cargo feature is off in this build,
/// and with the backend's [`Error::Backend`], [`Error::Unsupported`] or [`Error::ModelFile`]
/// when it cannot load the model.
pub fn load_backend(
    kind: BackendKind,
    spec: &ModelSpec,
    opts: &BackendOptions,
) -> Result<Box<dyn Backend>> {
    let _ = (spec, opts);
    match kind {
        #[cfg(feature = "candle")]
        BackendKind::Candle => titlesim_candle::load(spec, opts),
        #[cfg(feature = "ort")]
        BackendKind::Ort => titlesim_ort::load(spec, opts),
        #[cfg(feature = "tract")]
        BackendKind::Tract => titlesim_tract::load(spec, opts),
        #[allow(unreachable_patterns)]
        other => Err(Error::BackendNotCompiled {
            backend: other.as_str().into(),
            feature: other.feature().into(),
        }),
    }
}

/// Loads the embedder a model configuration describes: resolve the model, read its folder,
/// load the backend, put tokenizer, backend and pooling together.
///
/// Errors are those of [`load_spec`], [`load_backend`] and [`TransformerEmbedder::new`].
pub fn load_embedder(cfg: &ModelConfig) -> Result<TransformerEmbedder> {
    let spec = load_spec(cfg)?;
    let backend = load_backend(cfg.backend, &spec, &cfg.backend_options())?;
    TransformerEmbedder::new(
        spec,
        backend,
        EmbedOptions {
            batch_size: cfg.batch_size.unwrap_or(32),
        },
    )
}

/// The prompts a configuration applies to each side of a pair.
///
/// Fails with [`Error::Config`] when `cfg.prompt` names a prompt the folder does not have.
pub fn side_prompts(cfg: &ModelConfig, spec: &ModelSpec) -> Result<SidePrompts> {
    let text = match &cfg.prompt {
        Some(name) => Some(spec.prompt(name)?.to_string()),
        None => None,
    };
    let (p, g) = match cfg.prompt_side {
        PromptSide::Neither => (None, None),
        PromptSide::Product => (text, None),
        PromptSide::Gt => (None, text),
        PromptSide::Both => (text.clone(), text),
    };
    Ok(SidePrompts { product: p, gt: g })
}

/// Loads a [`CosineScorer`] for a model configuration (embedder, threshold, prompts), with
/// the GT store of `cfg.gt_store` attached when one is configured: reference titles found
/// there are not encoded. The second value holds warnings to show the user (the model
/// folder's, as `titlesim inspect` lists them; a store ignored under
/// `gt_store_mismatch = "recompute"`, a torn last line skipped).
///
/// Errors are those of [`load_embedder`] and [`side_prompts`], and
/// [`Error::StoreMismatch`] / [`Error::StoreMissing`] for a store of another model or
/// dimension, or none at all, under the default `gt_store_mismatch = "refuse"`.
pub fn load_scorer(cfg: &ModelConfig) -> Result<(CosineScorer, Vec<String>)> {
    let emb = std::sync::Arc::new(load_embedder(cfg)?);
    scorer_for(emb, cfg)
}

/// The shadow model's scorer, loaded as [`load_scorer`] does, or `None` when it fails to load:
/// the shadow never stops a canonical run, so its failure is a warning (the second value, with
/// the store warnings, each prefixed `[shadow]`) for the caller to show, and the caller goes on
/// with the canonical model alone.
pub fn load_shadow_scorer(cfg: &ModelConfig) -> (Option<CosineScorer>, Vec<String>) {
    match load_scorer(cfg) {
        Ok((s, w)) => (
            Some(s),
            w.into_iter().map(|w| format!("[shadow] {w}")).collect(),
        ),
        Err(e) => (
            None,
            vec![format!(
                "the shadow model {} failed to load, so only the canonical model scores and the \
                 log gets the canonical side only: {e}",
                cfg.model
            )],
        ),
    }
}

/// [`load_scorer`] over an embedder already loaded, for callers that also use the embedder
/// itself (its tokenizer, plain embedding): the scorer shares it.
pub fn scorer_for(
    emb: std::sync::Arc<TransformerEmbedder>,
    cfg: &ModelConfig,
) -> Result<(CosineScorer, Vec<String>)> {
    let prompts = side_prompts(cfg, emb.spec())?;
    // What looked wrong in the model folder (no modules.json, an unapplied default prompt)
    // reaches every caller, not only `titlesim inspect`.
    let mut warnings = emb.spec().warnings.clone();
    let scorer =
        CosineScorer::with_prompts(emb, cfg.threshold, prompts).with_blank_titles(cfg.blank_titles);
    let (scorer, warning) = titlesim_store::attach(scorer, cfg)?;
    warnings.extend(warning);
    Ok((scorer, warnings))
}
