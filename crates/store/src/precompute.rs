//! Building a [`GtStore`] from a list of reference titles.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use titlesim_core::config::StoreMismatch;
use titlesim_core::{CosineScorer, Error, Result, Side};

use crate::store::{read_header, GtStore, StoreHeader, StoreWriter};

/// What [`precompute`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecomputeReport {
    /// The store file.
    pub path: PathBuf,
    /// Fingerprint of its vectors.
    pub fingerprint: String,
    /// Their length.
    pub dim: usize,
    /// Titles the store already held (and were not encoded again).
    pub existing: usize,
    /// Titles encoded and added now.
    pub added: usize,
    /// Whether a store of another model was replaced (`gt_store_mismatch = "recompute"`).
    pub replaced: bool,
}

/// Adds the vectors of `titles` (reference titles, without prompt) to the store at `path`
/// for `scorer`'s model and GT prompt, encoding only titles it does not hold yet, `batch` at a
/// time (each batch is flushed, so an interrupted run keeps its progress).
///
/// A store written by another model is an error under [`StoreMismatch::Refuse`] and is
/// replaced under [`StoreMismatch::Recompute`]. `progress` is called with the number of
/// titles done so far.
pub async fn precompute(
    scorer: &CosineScorer,
    titles: &[String],
    path: &Path,
    policy: StoreMismatch,
    batch: usize,
    mut progress: impl FnMut(usize),
) -> Result<PrecomputeReport> {
    let info = scorer.embedder().info().clone();
    let prompt = scorer.prompts().gt.clone();
    let fingerprint = scorer.gt_fingerprint();
    let dim = info.dim;
    let fresh = || {
        StoreHeader::new(
            &fingerprint,
            dim,
            &info.model,
            &info.backend,
            prompt.clone(),
        )
    };
    // The titles asked for that `store` already holds.
    let held = |store: &GtStore| -> HashSet<String> {
        titles
            .iter()
            .filter(|t| store.get(t).is_some())
            .cloned()
            .collect()
    };
    let mut replaced = false;
    let (mut writer, have): (StoreWriter, HashSet<String>) = if path.exists() {
        let mismatch = match read_header(path) {
            Ok(h) => h.check(path, &fingerprint, dim).err(),
            // A file that is not a store at all (a pairs file named by mistake): never
            // overwritten, whatever gt_store_mismatch says (it replaces stores of other models).
            Err(Error::Input { line, message, .. }) => {
                return Err(Error::input(
                    path,
                    line,
                    format!(
                        "{message}; precompute does not overwrite a file that is not a GT store \
                         (gt_store_mismatch = \"recompute\" replaces only a store of another \
                         model): remove it, or name another store"
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        match (mismatch, policy) {
            (None, _) => {
                let (w, store) = StoreWriter::append(path, &fingerprint, dim)?;
                (w, held(&store))
            }
            (Some(e), StoreMismatch::Refuse) => return Err(e),
            (Some(_), StoreMismatch::Recompute) => {
                replaced = true;
                // An interrupted replacement continues: its titles are not encoded again.
                let (w, partial) = StoreWriter::replace(path, fresh())?;
                let have = partial.as_ref().map(held).unwrap_or_default();
                (w, have)
            }
        }
    } else {
        (StoreWriter::create(path, fresh())?, HashSet::new())
    };
    let mut seen: HashSet<&str> = HashSet::new();
    let todo: Vec<&str> = titles
        .iter()
        .map(String::as_str)
        .filter(|t| !have.contains(*t) && seen.insert(t))
        .collect();
    let existing = {
        let mut s: HashSet<&str> = HashSet::new();
        titles
            .iter()
            .filter(|t| have.contains(*t) && s.insert(t))
            .count()
    };
    let mut done = existing;
    progress(done);
    for chunk in todo.chunks(batch.max(1)) {
        let vecs = scorer.embed_side(Side::Gt, chunk).await?;
        for (t, v) in chunk.iter().zip(&vecs) {
            writer.add(t, v)?;
        }
        writer.flush()?;
        done += chunk.len();
        progress(done);
    }
    let added = writer.rows() as usize;
    writer.finish()?;
    Ok(PrecomputeReport {
        path: path.to_path_buf(),
        fingerprint,
        dim,
        existing,
        added,
        replaced,
    })
}
