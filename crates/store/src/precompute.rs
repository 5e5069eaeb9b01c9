//! Building a [`GtStore`] from a list of reference titles.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use titlesim_core::config::StoreMismatch;
use titlesim_core::{CosineScorer, Error, Result, Side};

use crate::store::{read_header, GtStore, StoreHeader, StoreWriter, STORE_VERSION};

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
    /// Whether a store of another model, or of this model made on another backend, was
    /// replaced (`gt_store_mismatch = "recompute"`).
    pub replaced: bool,
    /// Something to tell the user: the store was made on another backend and, holding every
    /// title already, was left as it is (its vectors are that backend's).
    pub note: Option<String>,
}

/// Adds the vectors of `titles` (reference titles, without prompt) to the store at `path`
/// for `scorer`'s model and GT prompt, encoding only titles it does not hold yet, `batch` at a
/// time (each batch is flushed, so an interrupted run keeps its progress).
///
/// A store written by another model is an error under [`StoreMismatch::Refuse`] and is
/// replaced under [`StoreMismatch::Recompute`]. So is a store of this model made on another
/// backend (ort and tract read one ONNX file, so the fingerprints match, but the vectors differ
/// in the last bits) when there are titles to add ([`Error::StoreBackend`]), so that one store never holds two backends'
/// vectors; holding every title already, it is left as it is, with a [`PrecomputeReport::note`].
/// `progress` is called with the number of titles done so far.
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
    // The titles asked for that `have` lacks (each once), in order.
    let missing = |have: &HashSet<String>| -> Vec<&str> {
        let mut seen: HashSet<&str> = HashSet::new();
        titles
            .iter()
            .map(String::as_str)
            .filter(|t| !have.contains(*t) && seen.insert(t))
            .collect()
    };
    let mut replaced = false;
    let mut note = None;
    // Rows carried over from a store rewritten in the current format (not added).
    let mut copied = 0u64;
    // An empty regular file holds nothing to keep: a first run that failed before its header
    // was on disk (a full disk, a power cut). Written over as if absent, instead of refused as
    // "not a GT store" by every later run until removed by hand.
    let empty = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0);
    let (mut writer, have): (StoreWriter, HashSet<String>) = if path.exists() && !empty {
        let header = match read_header(path) {
            Ok(h) => h,
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
        let elsewhere = header.backend != info.backend;
        let rebuild = match (header.check(path, &fingerprint, dim), policy) {
            (Err(e), StoreMismatch::Refuse) => return Err(e),
            (Err(_), StoreMismatch::Recompute) => true,
            (Ok(()), StoreMismatch::Recompute) => elsewhere,
            (Ok(()), StoreMismatch::Refuse) => false,
        };
        if rebuild {
            replaced = true;
            // An interrupted replacement continues: its titles are not encoded again.
            let (w, partial) = StoreWriter::replace(path, fresh())?;
            let have = partial.as_ref().map(held).unwrap_or_default();
            (w, have)
        } else if header.version < STORE_VERSION && !elsewhere {
            // A store written before titlesim stripped texts: rewritten in the current format,
            // its vectors kept where stripping changes nothing, the rest encoded again. (One of
            // another backend goes the append way: refused when titles are missing, since the
            // rewrite would label its vectors as this backend's.)
            let old = GtStore::open(path)?;
            let (mut w, partial) = StoreWriter::replace(path, fresh())?;
            for (t, v) in old.titles() {
                if partial.as_ref().is_none_or(|p| p.get(t).is_none()) {
                    w.add(t, v)?;
                    copied += 1;
                }
            }
            w.flush()?;
            let mut have = held(&old);
            have.extend(partial.as_ref().map(held).unwrap_or_default());
            note = Some(format!(
                "{} was a format {} store: rewritten as format {STORE_VERSION}, whose vectors are \
                 of titles stripped of white space at either end as sentence-transformers strips \
                 them ({} title(s) with such white space held the unstripped text's vector: left \
                 out, and encoded again where listed)",
                path.display(),
                header.version,
                old.unstripped().len()
            ));
            (w, have)
        } else {
            let (w, store) = StoreWriter::append(path, &fingerprint, dim)?;
            let have = held(&store);
            if elsewhere {
                let other = &header.backend;
                let now = &info.backend;
                if !missing(&have).is_empty() {
                    return Err(Error::StoreBackend {
                        path: path.to_path_buf(),
                        store_backend: other.clone(),
                        backend: now.clone(),
                    });
                }
                note = Some(format!(
                    "{} holds every title already, as vectors of the {other} backend (the model \
                     runs on {now}; cosines can differ from {now}'s own in the last bits): left \
                     as it is; remove it and run precompute again for {now}'s own",
                    path.display()
                ));
            }
            (w, have)
        }
    } else if empty {
        // Through a partial file, as a rebuild: an interrupted run continues from it (the
        // empty file is still there, and a fresh create would start the partial file over).
        let (w, partial) = StoreWriter::replace(path, fresh())?;
        let have = partial.as_ref().map(held).unwrap_or_default();
        (w, have)
    } else {
        (StoreWriter::create(path, fresh())?, HashSet::new())
    };
    let todo = missing(&have);
    // `have` holds only titles asked for, each once.
    let existing = have.len();
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
    let added = (writer.rows() - copied) as usize;
    writer.finish()?;
    Ok(PrecomputeReport {
        path: path.to_path_buf(),
        fingerprint,
        dim,
        existing,
        added,
        replaced,
        note,
    })
}
