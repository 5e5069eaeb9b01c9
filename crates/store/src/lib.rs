//! # titlesim-store
//!
//! The GT store: precomputed ground-truth (reference) title embeddings, so scoring encodes
//! only the agent's title. Reference titles repeat across agents and tasks; a [`GtStore`]
//! holds each one's vector once, under the fingerprint of the model (and GT prompt) that made
//! it and the vectors' dimension.
//!
//! - [`precompute()`] builds or extends a store (what `titlesim precompute` runs).
//! - [`GtStore`] implements `titlesim_core::GtVectors`, so a `CosineScorer` takes reference
//!   vectors from it (`CosineScorer::with_gt_vectors`) in `titlesim score`, `titlesim shadow`
//!   and the library alike; [`attach`] does that as a model's configuration (`gt_store`,
//!   `gt_store_mismatch`) asks.
//! - A store written by another model or of another dimension is refused with
//!   `titlesim_core::Error::StoreMismatch`, naming both fingerprints and dimensions, rather
//!   than giving a wrong cosine.
//!
//! The file format is described in [`store`].
#![deny(missing_docs)]

pub mod precompute;
pub mod store;

use std::sync::Arc;

use titlesim_core::{CosineScorer, ModelConfig, Result};

pub use precompute::{precompute, PrecomputeReport};
pub use store::{
    check_vector, read_header, row_checksum, GtStore, StoreHeader, StoreWriter, STORE_FORMAT,
    STORE_VERSION,
};

/// `scorer` with the GT store `cfg.gt_store` attached, opened under the policy
/// `cfg.gt_store_mismatch` (and, for a model that normalises, checked to hold unit vectors); `scorer` unchanged when no store is configured. The second value
/// is a warning to show (a store that was ignored, a torn last line that was skipped, or a
/// store made on another backend than the model runs on).
pub fn attach(scorer: CosineScorer, cfg: &ModelConfig) -> Result<(CosineScorer, Option<String>)> {
    let Some(path) = &cfg.gt_store else {
        return Ok((scorer, None));
    };
    let mut warning = None;
    let store = GtStore::open_for(
        path,
        &scorer.gt_fingerprint(),
        scorer.embedder().info().dim,
        cfg.gt_store_mismatch,
        &mut warning,
    )?;
    let scorer = match store {
        Some(s) => {
            let info = scorer.embedder().info();
            if info.normalize {
                s.check_unit_norm()?;
            }
            // Same model, another backend: the fingerprint matches (it covers files and
            // settings), but the vectors differ from this backend's in the last bits.
            if s.header().backend != info.backend {
                let note = format!(
                    "GT store {} was made on the {} backend and this model runs on {}: its GT \
                     vectors are {}'s, so cosines can differ from {}'s own in the last bits \
                     (~1e-7); for {}'s own, remove the store and run `titlesim precompute` again",
                    path.display(),
                    s.header().backend,
                    info.backend,
                    s.header().backend,
                    info.backend,
                    info.backend
                );
                warning = Some(match warning {
                    Some(w) => format!("{w}; {note}"),
                    None => note,
                });
            }
            scorer.with_gt_vectors(Arc::new(s))?
        }
        None => scorer,
    };
    Ok((scorer, warning))
}
