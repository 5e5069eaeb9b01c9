//! # titlesim
//!
//! Loads embedders from configuration with whichever backends this build has (cargo features
//! `candle`, `ort`, `tract`), and re-exports [`titlesim_core`] for everything else.
//!
//! Asking for a backend that is not compiled in is an [`Error::BackendNotCompiled`] naming the
//! feature to enable.

pub mod io;

pub use titlesim_core as core;
pub use titlesim_core::*;

use std::path::PathBuf;

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
pub fn load_spec(cfg: &ModelConfig) -> Result<ModelSpec> {
    let root: PathBuf = resolve_model(&cfg.model, cfg.revision.as_deref())?;
    ModelSpec::from_folder_with(&cfg.model, &root, &cfg.overrides())
}

/// Loads `spec` on the backend `kind` with `opts`.
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
pub fn load_embedder(cfg: &ModelConfig) -> Result<TransformerEmbedder> {
    let spec = load_spec(cfg)?;
    let backend = load_backend(cfg.backend, &spec, &BackendOptions::from_config(cfg))?;
    TransformerEmbedder::new(
        spec,
        backend,
        EmbedOptions {
            batch_size: cfg.batch_size.unwrap_or(32),
        },
    )
}

/// The prompts a configuration applies to each side of a pair.
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

/// Loads a [`CosineScorer`] for a model configuration (embedder, threshold, prompts).
pub fn load_scorer(cfg: &ModelConfig) -> Result<CosineScorer> {
    let emb = load_embedder(cfg)?;
    let prompts = side_prompts(cfg, emb.spec())?;
    Ok(CosineScorer::with_prompts(
        std::sync::Arc::new(emb),
        cfg.threshold,
        prompts,
    ))
}
