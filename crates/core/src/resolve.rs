//! From a model name to a folder on disk.
//!
//! In order: an existing folder; an entry of the Hugging Face cache
//! (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, as
//! `models--ORG--NAME/snapshots/<commit>`, found through `refs/<revision>` or a pinned commit);
//! and, only with the `hf-hub` cargo feature and when `HF_HUB_OFFLINE` is not set, a download.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Files downloaded for a hub model; the optional ones may be absent on the hub.
pub const HUB_FILES: &[(&str, bool)] = &[
    ("config.json", true),
    ("tokenizer.json", true),
    ("tokenizer_config.json", false),
    ("special_tokens_map.json", false),
    ("modules.json", false),
    ("sentence_bert_config.json", false),
    ("config_sentence_transformers.json", false),
    ("1_Pooling/config.json", false),
    ("model.safetensors", false),
    ("onnx/model.onnx", false),
];

/// The Hugging Face hub cache folder in force.
pub fn hf_cache_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME") {
        return Some(PathBuf::from(p).join("hub"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// Whether `s` has the shape of a hub id (`ORG/NAME` or `NAME`, no path syntax).
pub fn looks_like_hub_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    !s.starts_with(['.', '/', '~'])
        && (1..=2).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// Looks `id` up in the cache at `cache`; returns the snapshot folder and what was looked at.
pub fn find_in_cache(
    cache: &Path,
    id: &str,
    revision: Option<&str>,
) -> (Option<PathBuf>, Vec<PathBuf>) {
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let rev = revision.unwrap_or("main");
    let mut looked = Vec::new();
    let commit = if is_commit(rev) {
        Some(rev.to_ascii_lowercase())
    } else if revision_is_safe(rev) {
        let r = repo.join("refs").join(rev);
        looked.push(r.clone());
        // A ref holds a commit hash, nothing else: a path written there (absolute, or with
        // `..`) must not send the lookup out of the cache under the hub id's name.
        std::fs::read_to_string(&r)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|c| is_commit(c))
            .map(|c| c.to_ascii_lowercase())
    } else {
        None
    };
    if let Some(c) = commit {
        let snap = repo.join("snapshots").join(c);
        looked.push(snap.clone());
        if snap.join("config.json").is_file() {
            return (Some(snap), looked);
        }
    }
    (None, looked)
}

/// A 40-digit hexadecimal commit hash.
fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A revision usable as a path below `refs/`: a branch or tag name (`main`, `v2`,
/// `refs/pr/1`), never absolute, never with `.` or `..` components.
fn revision_is_safe(rev: &str) -> bool {
    !rev.is_empty()
        && !rev.starts_with('/')
        && rev.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "-_.+".contains(ch))
        })
}

/// Resolves a model name to a folder (see the module documentation for the order).
pub fn resolve_model(model: &str, revision: Option<&str>) -> Result<PathBuf> {
    if let Some(rev) = revision.filter(|r| !is_commit(r) && !revision_is_safe(r)) {
        return Err(Error::Config {
            path: None,
            message: format!(
                "revision {rev:?}: expected a branch or tag name (letters, digits, `-_.+`, `/` between parts, no `.` or `..` parts) or a 40-digit commit hash"
            ),
        });
    }
    let p = Path::new(model);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    let mut looked = vec![p.to_path_buf()];
    if !looks_like_hub_id(model) {
        return Err(Error::ModelNotFound {
            model: model.to_string(),
            looked,
            hint: "; it is not a folder, and not of the form ORG/NAME of a hub id".into(),
        });
    }
    if let Some(cache) = hf_cache_dir() {
        let (found, l) = find_in_cache(&cache, model, revision);
        looked.extend(l);
        if let Some(f) = found {
            return Ok(f);
        }
    }
    download(model, revision, looked)
}

#[cfg(not(feature = "hf-hub"))]
fn download(model: &str, _revision: Option<&str>, looked: Vec<PathBuf>) -> Result<PathBuf> {
    Err(Error::ModelNotFound {
        model: model.to_string(),
        looked,
        hint: "; this build cannot download (rebuild with `--features hf-hub`), or fetch it yourself into the Hugging Face cache (`huggingface-cli download ORG/NAME`) or a folder".into(),
    })
}

#[cfg(feature = "hf-hub")]
fn download(model: &str, revision: Option<&str>, looked: Vec<PathBuf>) -> Result<PathBuf> {
    use hf_hub::{api::sync::ApiBuilder, Repo, RepoType};
    if std::env::var_os("HF_HUB_OFFLINE").is_some_and(|v| v != "0") {
        return Err(Error::ModelNotFound {
            model: model.to_string(),
            looked,
            hint: "; HF_HUB_OFFLINE is set, so nothing was downloaded".into(),
        });
    }
    let mut b = ApiBuilder::from_env();
    if let Some(cache) = hf_cache_dir() {
        b = b.with_cache_dir(cache);
    }
    let api = b.build().map_err(|e| Error::ModelNotFound {
        model: model.to_string(),
        looked: looked.clone(),
        hint: format!("; hub client: {e}"),
    })?;
    let repo = api.repo(Repo::with_revision(
        model.to_string(),
        RepoType::Model,
        revision.unwrap_or("main").to_string(),
    ));
    let mut folder = None;
    for (file, required) in HUB_FILES {
        match repo.get(file) {
            Ok(path) => {
                if folder.is_none() {
                    // snapshots/<commit>/<file>: the folder is the snapshot.
                    let depth = file.matches('/').count() + 1;
                    folder = path.ancestors().nth(depth).map(Path::to_path_buf);
                }
            }
            Err(e) if *required => {
                return Err(Error::ModelNotFound {
                    model: model.to_string(),
                    looked,
                    hint: format!("; downloading {file} failed: {e}"),
                })
            }
            Err(_) => {}
        }
    }
    folder.ok_or_else(|| Error::ModelNotFound {
        model: model.to_string(),
        looked,
        hint: "; the download produced no folder".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_id_shape() {
        assert!(looks_like_hub_id("BAAI/bge-small-en-v1.5"));
        assert!(looks_like_hub_id("gpt2"));
        assert!(!looks_like_hub_id("./models/x"));
        assert!(!looks_like_hub_id("/abs/path"));
        assert!(!looks_like_hub_id("a/b/c"));
    }

    #[test]
    fn cache_entries_by_ref_and_by_commit() {
        let d = tempfile::tempdir().unwrap();
        let repo = d.path().join("models--BAAI--bge-small-en-v1.5");
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
        std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
        std::fs::write(
            repo.join("snapshots").join(commit).join("config.json"),
            "{}",
        )
        .unwrap();
        let (f, _) = find_in_cache(d.path(), "BAAI/bge-small-en-v1.5", None);
        assert_eq!(f.unwrap(), repo.join("snapshots").join(commit));
        let (f, _) = find_in_cache(d.path(), "BAAI/bge-small-en-v1.5", Some(commit));
        assert!(f.is_some());
        let (f, looked) = find_in_cache(d.path(), "BAAI/bge-small-en-v1.5", Some("v2"));
        assert!(f.is_none());
        assert!(looked[0].ends_with("refs/v2"));
        // An upper-case commit finds the (lower-case) snapshot.
        let (f, _) = find_in_cache(
            d.path(),
            "BAAI/bge-small-en-v1.5",
            Some(&commit.to_ascii_uppercase()),
        );
        assert!(f.is_some());
    }

    /// A ref that holds a path, not a commit, must not load a folder from elsewhere under
    /// the hub id's name; nor may a revision walk out of `refs/`.
    #[test]
    fn refs_hold_commits_and_revisions_stay_below_refs() {
        let d = tempfile::tempdir().unwrap();
        let elsewhere = d.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("config.json"), "{}").unwrap();
        let repo = d.path().join("models--org--abs");
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots")).unwrap();
        for bad in [
            elsewhere.display().to_string(),
            "../../elsewhere".to_string(),
        ] {
            std::fs::write(repo.join("refs/main"), &bad).unwrap();
            let (f, _) = find_in_cache(d.path(), "org/abs", None);
            assert!(f.is_none(), "{bad}: {f:?}");
        }
        for bad in ["/etc/hostname", "../main", "a/../../b", "", "x\ny"] {
            let e = resolve_model("org/abs", Some(bad)).unwrap_err().to_string();
            assert!(
                e.contains("revision") && e.contains("branch or tag"),
                "{bad}: {e}"
            );
        }
        assert!(revision_is_safe("refs/pr/1") && revision_is_safe("v1.0+x"));
    }

    #[test]
    fn missing_model_says_where_it_looked() {
        let e = resolve_model("./no/such/folder", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no/such/folder"), "{e}");
        let e = resolve_model("nobody-org/no-such-model-xyz", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("models--nobody-org--no-such-model-xyz"), "{e}");
    }
}
