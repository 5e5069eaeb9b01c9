//! From a model name to a folder on disk.
//!
//! In order: an existing folder; an entry of the Hugging Face cache
//! (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, as
//! `models--ORG--NAME/snapshots/<commit>`, found through `refs/<revision>` or a pinned commit);
//! and, only with the `hf-hub` cargo feature and when `HF_HUB_OFFLINE` is not set, a download.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Files downloaded for a hub model, in order; the optional ones may be absent on the hub
/// (it answers 404). `config.json` comes last: a cached snapshot counts as complete once it
/// holds `config.json` ([`find_in_cache`]), so a download that stops early (a failed request,
/// an interrupted run) must not leave a snapshot that later runs would take, without its
/// pooling or tokenizer settings, for the whole model.
pub const HUB_FILES: &[(&str, bool)] = &[
    ("tokenizer.json", true),
    ("tokenizer_config.json", false),
    ("special_tokens_map.json", false),
    ("modules.json", false),
    ("sentence_bert_config.json", false),
    ("config_sentence_transformers.json", false),
    ("1_Pooling/config.json", false),
    ("model.safetensors", false),
    ("onnx/model.onnx", false),
    ("config.json", true),
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

/// Where [`resolve_model`] looks for hub models and fetches them from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hub {
    /// The Hugging Face cache ([`hf_cache_dir`]).
    pub cache: Option<PathBuf>,
    /// `HF_HUB_OFFLINE` is set: nothing is downloaded.
    #[cfg_attr(not(feature = "hf-hub"), allow(dead_code))]
    pub offline: bool,
    /// The hub's address; `None`: `$HF_ENDPOINT`, else `https://huggingface.co`.
    #[cfg_attr(not(feature = "hf-hub"), allow(dead_code))]
    pub endpoint: Option<String>,
}

impl Hub {
    /// The cache and the offline switch the environment names.
    pub fn from_env() -> Self {
        Hub {
            cache: hf_cache_dir(),
            offline: std::env::var_os("HF_HUB_OFFLINE").is_some_and(|v| v != "0"),
            endpoint: None,
        }
    }
}

/// Resolves a model name to a folder (see the module documentation for the order).
pub fn resolve_model(model: &str, revision: Option<&str>) -> Result<PathBuf> {
    resolve_model_with(model, revision, &Hub::from_env())
}

/// [`resolve_model`] with the cache and hub of `hub`.
pub(crate) fn resolve_model_with(
    model: &str,
    revision: Option<&str>,
    hub: &Hub,
) -> Result<PathBuf> {
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
    if p.is_file() {
        // `--model FOLDER/model.onnx`: the file where its folder was meant.
        let folder = p
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .filter(|d| d.join("config.json").is_file())
            .map(|d| format!(" (here {})", d.display()))
            .unwrap_or_default();
        return Err(Error::ModelNotFound {
            model: model.to_string(),
            looked,
            hint: format!(
                "; it is a file, and a model is the folder that holds config.json, \
                 tokenizer.json and the weights{folder}"
            ),
        });
    }
    if !looks_like_hub_id(model) {
        return Err(Error::ModelNotFound {
            model: model.to_string(),
            looked,
            hint: "; it is not a folder, and not of the form ORG/NAME of a hub id".into(),
        });
    }
    if let Some(cache) = &hub.cache {
        let (found, l) = find_in_cache(cache, model, revision);
        looked.extend(l);
        if let Some(f) = found {
            return Ok(f);
        }
    }
    // A snapshot without config.json: a download that stopped, or one filtered to some files.
    let partial = looked
        .iter()
        .find(|p| p.parent().is_some_and(|d| d.ends_with("snapshots")) && p.is_dir())
        .cloned();
    download(model, revision, looked, hub).map_err(|e| match (e, partial) {
        (
            Error::ModelNotFound {
                model,
                looked,
                hint,
            },
            Some(snapshot),
        ) => Error::ModelNotFound {
            model,
            looked,
            hint: format!(
                "; the cache holds {} but without config.json (a download that stopped, or \
                 one of only some files: download the model again){hint}",
                snapshot.display()
            ),
        },
        (e, _) => e,
    })
}

#[cfg(not(feature = "hf-hub"))]
fn download(
    model: &str,
    _revision: Option<&str>,
    looked: Vec<PathBuf>,
    _hub: &Hub,
) -> Result<PathBuf> {
    Err(Error::ModelNotFound {
        model: model.to_string(),
        looked,
        hint: "; this build cannot download (rebuild with `--features hf-hub`), or fetch it yourself into the Hugging Face cache (`huggingface-cli download ORG/NAME`) or a folder".into(),
    })
}

#[cfg(feature = "hf-hub")]
fn download(
    model: &str,
    revision: Option<&str>,
    looked: Vec<PathBuf>,
    hub: &Hub,
) -> Result<PathBuf> {
    use hf_hub::{api::sync::ApiBuilder, Repo, RepoType};
    let not_found = |hint: String| Error::ModelNotFound {
        model: model.to_string(),
        looked: looked.clone(),
        hint,
    };
    if hub.offline {
        return Err(not_found(
            "; HF_HUB_OFFLINE is set, so nothing was downloaded".into(),
        ));
    }
    let mut b = ApiBuilder::from_env();
    if let Some(cache) = &hub.cache {
        b = b.with_cache_dir(cache.clone());
    }
    if let Some(endpoint) = &hub.endpoint {
        b = b.with_endpoint(endpoint.clone());
    }
    let api = b
        .build()
        .map_err(|e| not_found(format!("; hub client: {e}")))?;
    let repo = api.repo(Repo::with_revision(
        model.to_string(),
        RepoType::Model,
        revision.unwrap_or("main").to_string(),
    ));
    let mut folder = None;
    // Fetches `file`: its path, or None when the hub says an optional file is not there.
    let mut fetch = |file: &str, required: bool| -> Result<Option<PathBuf>> {
        match repo.get(file) {
            Ok(path) => {
                if folder.is_none() {
                    // snapshots/<commit>/<file>: the folder is the snapshot.
                    let depth = file.matches('/').count() + 1;
                    folder = path.ancestors().nth(depth).map(Path::to_path_buf);
                }
                Ok(Some(path))
            }
            // The hub says the file is not there: the model goes without it.
            Err(e) if !required && absent_on_hub(&e) => Ok(None),
            // Anything else (no answer, a server error, a gated model's 401 or 403) leaves
            // unknown whether the file exists: going on without a pooling configuration or
            // tokenizer settings would give other vectors without a word.
            Err(e) => Err(not_found(format!(
                "; downloading {file} failed: {e}{}",
                if required {
                    ""
                } else {
                    " (only a 404 from the hub, which says the file is not there, lets \
                     the model go without it)"
                }
            ))),
        }
    };
    for (file, required) in HUB_FILES {
        let got = fetch(file, *required)?;
        match (*file, got) {
            // Weights too large for one file come as shards listed in an index.
            ("model.safetensors", None) => {
                if let Some(index) = fetch("model.safetensors.index.json", false)? {
                    for shard in crate::model::safetensors_shards(&index)? {
                        fetch(&shard, true)?;
                    }
                }
            }
            // An ONNX graph over 2 GB keeps its weights in an external data file.
            ("onnx/model.onnx", Some(_)) => {
                fetch("onnx/model.onnx_data", false)?;
            }
            _ => {}
        }
    }
    folder.ok_or_else(|| not_found("; the download produced no folder".into()))
}

/// Whether the hub answered that the file does not exist (HTTP 404), as opposed to not
/// answering or refusing.
#[cfg(feature = "hf-hub")]
fn absent_on_hub(e: &hf_hub::api::sync::ApiError) -> bool {
    matches!(
        e,
        hf_hub::api::sync::ApiError::RequestError(r) if matches!(**r, ureq::Error::Status(404, _))
    )
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

    /// `--model FOLDER/model.onnx`: the file is named as a file, and its folder is offered.
    #[test]
    fn a_model_file_points_at_its_folder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), "{}").unwrap();
        let onnx = d.path().join("model.onnx");
        std::fs::write(&onnx, "x").unwrap();
        let hub = Hub {
            cache: None,
            ..Hub::from_env()
        };
        let e = resolve_model_with(&onnx.display().to_string(), None, &hub)
            .unwrap_err()
            .to_string();
        assert!(e.contains("it is a file"), "{e}");
        assert!(e.contains(&format!("(here {})", d.path().display())), "{e}");
        // A file outside any model folder offers none.
        let other = tempfile::NamedTempFile::new().unwrap();
        let e = resolve_model_with(&other.path().display().to_string(), None, &hub)
            .unwrap_err()
            .to_string();
        assert!(e.contains("it is a file") && !e.contains("(here"), "{e}");
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
        // Offline, so that a build with `hf-hub` does not ask the real hub.
        let cache = tempfile::tempdir().unwrap();
        let hub = Hub {
            cache: Some(cache.path().to_path_buf()),
            offline: true,
            endpoint: None,
        };
        let e = resolve_model_with("nobody-org/no-such-model-xyz", None, &hub)
            .unwrap_err()
            .to_string();
        assert!(e.contains("models--nobody-org--no-such-model-xyz"), "{e}");
        // A snapshot without config.json is named as such, not only "not found".
        let snapshot = cache
            .path()
            .join("models--org--partial/snapshots")
            .join("0123456789abcdef0123456789abcdef01234567");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(cache.path().join("models--org--partial/refs")).unwrap();
        std::fs::write(
            cache.path().join("models--org--partial/refs/main"),
            "0123456789abcdef0123456789abcdef01234567",
        )
        .unwrap();
        std::fs::write(snapshot.join("tokenizer.json"), "{}").unwrap();
        let e = resolve_model_with("org/partial", None, &hub)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "the cache holds {} but without config.json",
                snapshot.display()
            )),
            "{e}"
        );
    }

    /// Downloads from a hub on 127.0.0.1 that serves some files and answers others with an
    /// error status.
    #[cfg(feature = "hf-hub")]
    mod download {
        use super::*;
        use sha2::{Digest, Sha256};
        use std::collections::HashMap;
        use std::io::{BufRead, BufReader, Write};

        const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

        /// Starts a hub that answers file `f` of every repository with `answers[f]` (200: a
        /// small JSON body with the headers hf-hub reads; else an empty error response), and
        /// files not in `answers` with 404; returns its address.
        fn fake_hub(answers: HashMap<&'static str, u16>) -> String {
            // ureq reads proxies from the environment and knows no NO_PROXY: the hub is local.
            for v in [
                "ALL_PROXY",
                "HTTPS_PROXY",
                "HTTP_PROXY",
                "all_proxy",
                "https_proxy",
                "http_proxy",
            ] {
                std::env::remove_var(v);
            }
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request = String::new();
                    if reader.read_line(&mut request).is_err() {
                        continue;
                    }
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                            break;
                        }
                    }
                    let path = request.split_whitespace().nth(1).unwrap_or("");
                    let file = path.split_once("/resolve/main/").map_or("", |(_, f)| f);
                    let status = answers.get(file).copied().unwrap_or(404);
                    let response = if status == 200 {
                        let body = if file == "model.safetensors.index.json" {
                            r#"{"weight_map": {"a.weight": "model-00001-of-00002.safetensors", "b.weight": "model-00002-of-00002.safetensors"}}"#.to_string()
                        } else {
                            format!("{{\"file\": \"{file}\"}}")
                        };
                        let etag = hex::encode(Sha256::digest(file.as_bytes()));
                        format!(
                            "HTTP/1.1 200 OK\r\netag: \"{etag}\"\r\nx-repo-commit: {COMMIT}\r\n\
                             content-range: bytes 0-{}/{}\r\ncontent-length: {}\r\n\
                             connection: close\r\n\r\n{body}",
                            body.len() - 1,
                            body.len(),
                            body.len()
                        )
                    } else {
                        format!(
                            "HTTP/1.1 {status} Error\r\ncontent-length: 0\r\n\
                             connection: close\r\n\r\n"
                        )
                    };
                    let _ = stream.write_all(response.as_bytes());
                }
            });
            format!("http://{addr}")
        }

        /// A model with tokenizer, weights and config, and no sentence-transformers files.
        fn plain_model() -> HashMap<&'static str, u16> {
            HashMap::from([
                ("tokenizer.json", 200),
                ("model.safetensors", 200),
                ("config.json", 200),
            ])
        }

        fn hub(cache: &Path, endpoint: String) -> Hub {
            Hub {
                cache: Some(cache.to_path_buf()),
                offline: false,
                endpoint: Some(endpoint),
            }
        }

        #[test]
        fn files_the_hub_does_not_have_are_left_out() {
            let cache = tempfile::tempdir().unwrap();
            let h = hub(cache.path(), fake_hub(plain_model()));
            let folder = resolve_model_with("org/plain", None, &h).unwrap();
            let snapshot = cache
                .path()
                .join("models--org--plain/snapshots")
                .join(COMMIT);
            assert_eq!(folder, snapshot);
            for f in ["config.json", "tokenizer.json", "model.safetensors"] {
                assert!(folder.join(f).is_file(), "{f}");
            }
            assert!(!folder.join("1_Pooling").exists());
            // A later run takes the snapshot from the cache.
            assert_eq!(
                find_in_cache(cache.path(), "org/plain", None).0,
                Some(snapshot)
            );
        }

        /// The pooling configuration is optional, but a failure to fetch it is not its
        /// absence: going on would pool by the mean where the model pools by CLS, and every
        /// later run would take the cached snapshot as it is.
        #[test]
        fn an_optional_file_the_hub_fails_to_give_stops_the_download() {
            for status in [500, 403, 429] {
                let cache = tempfile::tempdir().unwrap();
                let mut answers = plain_model();
                answers.insert("modules.json", 200);
                answers.insert("1_Pooling/config.json", status);
                let h = hub(cache.path(), fake_hub(answers));
                let e = resolve_model_with("org/cls", None, &h)
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains("downloading 1_Pooling/config.json failed")
                        && e.contains(&status.to_string())
                        && e.contains("404"),
                    "{status}: {e}"
                );
                // config.json, which makes a cached snapshot whole, was not fetched.
                assert_eq!(find_in_cache(cache.path(), "org/cls", None).0, None);
                let offline = Hub {
                    offline: true,
                    ..h.clone()
                };
                assert!(resolve_model_with("org/cls", None, &offline).is_err());
            }
        }

        /// Shards listed in an index, and an ONNX graph's external data, come with the model.
        #[test]
        fn shards_and_external_data_are_fetched() {
            let cache = tempfile::tempdir().unwrap();
            let mut answers = plain_model();
            answers.remove("model.safetensors");
            for f in [
                "model.safetensors.index.json",
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors",
                "onnx/model.onnx",
                "onnx/model.onnx_data",
            ] {
                answers.insert(f, 200);
            }
            let h = hub(cache.path(), fake_hub(answers));
            let folder = resolve_model_with("org/big", None, &h).unwrap();
            for f in [
                "model.safetensors.index.json",
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors",
                "onnx/model.onnx",
                "onnx/model.onnx_data",
                "config.json",
            ] {
                assert!(folder.join(f).is_file(), "{f}");
            }
        }

        #[test]
        fn a_required_file_the_hub_does_not_have_is_an_error() {
            let cache = tempfile::tempdir().unwrap();
            let mut answers = plain_model();
            answers.remove("tokenizer.json");
            let h = hub(cache.path(), fake_hub(answers));
            let e = resolve_model_with("org/notok", None, &h)
                .unwrap_err()
                .to_string();
            assert!(e.contains("downloading tokenizer.json failed"), "{e}");
            assert_eq!(find_in_cache(cache.path(), "org/notok", None).0, None);
        }
    }
}
