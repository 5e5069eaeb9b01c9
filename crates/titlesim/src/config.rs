//! The TOML configuration file: which model is canonical, which runs in its shadow, and how
//! the shadow is run and logged.
//!
//! ```toml
//! [canonical]                         # the model whose verdicts count
//! model = "models/all-MiniLM-L6-v2"   # folder, Hugging Face cache entry or hub id
//! backend = "candle"                  # candle | ort | tract
//! threshold = 0.70
//! threads = 2
//! gt_store = "stores/minilm.gtstore"  # optional: precomputed reference-title embeddings
//! blank_titles = "fail"               # a title without letters or digits: cosine 0, fail
//!
//! [shadow]                            # the candidate: exactly the same keys as [canonical]
//! model = "models/paraphrase-MiniLM-L3-v2"
//! backend = "tract"
//! threshold = 0.72
//! threads = 1
//!
//! [shadow_options]                    # how the shadow runs; never part of a model's identity
//! enabled = true
//! sample_rate = 1.0                   # share of pairs shadowed, chosen by a hash of the pair id
//! timeout_ms = 2000                   # shadow time budget per pair
//! log = "logs/shadow.jsonl"           # JSONL log of records
//! fsync = "batch"                     # never | batch | close
//! emf = "stdout"                      # CloudWatch Embedded Metric Format lines: stdout or a file
//! ```
//!
//! `[canonical]` and `[shadow]` are both [`ModelConfig`]s (defined in `titlesim-core`), so
//! promoting the candidate is swapping the two table headers (and nothing else); the
//! shadow-only options live in their own `[shadow_options]` table ([`ShadowOptions`], defined
//! in `titlesim-shadow`) for that reason. This module puts the three together and re-exports
//! the types of both, so `titlesim::config::X` names any configuration type.
//!
//! Relative model, ONNX and library paths are taken relative to the configuration file's
//! folder when something exists there, else relative to the working directory. Paths that
//! titlesim writes (`gt_store`, `log`, `emf`) are always relative to the configuration file's
//! folder, so a store or log is found again whatever the working directory.

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use titlesim_core::config::*;
pub use titlesim_core::{
    BlankTitles, Dtype, GraphOptimization, ModelOverrides, PaddingSide, Pooling,
};
pub use titlesim_shadow::options::{EmfTarget, FsyncPolicy, ShadowOptions};

use titlesim_core::{Error, Result};

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The model whose verdicts count.
    pub canonical: ModelConfig,
    /// The candidate model run in the shadow of the canonical one (see the shadow crate):
    /// the same keys as `canonical`, so the two can be swapped.
    #[serde(default)]
    pub shadow: Option<ModelConfig>,
    /// How the shadow runs and where its records go (`[shadow_options]`; defaults when absent).
    #[serde(default)]
    pub shadow_options: ShadowOptions,
    /// How `titlesim serve` listens and batches (`[serve]`; defaults when absent).
    #[serde(default)]
    pub serve: ServeOptions,
}

/// The `[serve]` table: where `titlesim serve` listens and how its queue merges requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeOptions {
    /// The address to listen on (`--addr` overrides it). Default `127.0.0.1:8080`.
    pub addr: String,
    /// The most tokens one backend batch holds (requests are merged up to it). Default 16384.
    pub max_batch_tokens: usize,
    /// The most pairs or texts one backend batch holds. Default 256.
    pub max_batch_items: usize,
    /// How long the queue waits for more requests to merge once it has one, in milliseconds.
    /// Default 0: it merges what is already waiting (requests pile up while a batch runs).
    pub max_wait_ms: u64,
    /// The most requests waiting in the queue; one more is answered 429. Default 1024.
    pub max_queue: usize,
    /// The most pairs or texts in one request; more is answered 413. Default 1024.
    pub max_inputs: usize,
    /// The largest request body in bytes; larger is answered 413. Default 4 MiB.
    pub max_body_bytes: usize,
    /// How long a client has to send a request's headers, and then its whole body, in
    /// milliseconds: a connection whose headers are late is closed, a body that is late is
    /// answered 408. A stalled client thus cannot hold the service (or its shutdown) for
    /// longer. Default 30000.
    pub read_timeout_ms: u64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: "127.0.0.1:8080".into(),
            max_batch_tokens: 16_384,
            max_batch_items: 256,
            max_wait_ms: 0,
            max_queue: 1024,
            max_inputs: 1024,
            max_body_bytes: 4 << 20,
            read_timeout_ms: 30_000,
        }
    }
}

/// The longest `[serve] max_wait_ms` (one minute).
pub const MAX_WAIT_MS: u64 = 60_000;

/// The most requests `[serve] max_queue` may let wait (a queue that long already holds
/// minutes of work; past about 2^61 the queue could not even be built).
pub const MAX_QUEUE: usize = 1_000_000;

/// The longest `[serve] read_timeout_ms` (one hour).
pub const MAX_READ_TIMEOUT_MS: u64 = 3_600_000;

impl ServeOptions {
    /// Refuses limits of 0 (nothing could ever be served) and an empty address.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str| Error::Config {
            path: None,
            message: format!("[serve] {key} must be at least 1"),
        };
        for (key, v) in [
            ("max_batch_tokens", self.max_batch_tokens),
            ("max_batch_items", self.max_batch_items),
            ("max_queue", self.max_queue),
            ("max_inputs", self.max_inputs),
            ("max_body_bytes", self.max_body_bytes),
            (
                "read_timeout_ms",
                usize::try_from(self.read_timeout_ms).unwrap_or(usize::MAX),
            ),
        ] {
            if v == 0 {
                return Err(bad(key));
            }
        }
        if self.max_queue > MAX_QUEUE {
            return Err(Error::Config {
                path: None,
                message: format!(
                    "[serve] max_queue = {}: at most {MAX_QUEUE} (requests waiting for a batch)",
                    self.max_queue
                ),
            });
        }
        if self.max_wait_ms > MAX_WAIT_MS {
            return Err(Error::Config {
                path: None,
                message: format!(
                    "[serve] max_wait_ms = {}: at most {MAX_WAIT_MS} (a request waits that long for company before its batch runs)",
                    self.max_wait_ms
                ),
            });
        }
        if self.read_timeout_ms > MAX_READ_TIMEOUT_MS {
            return Err(Error::Config {
                path: None,
                message: format!(
                    "[serve] read_timeout_ms = {}: at most {MAX_READ_TIMEOUT_MS} (a stalled client may hold a connection that long)",
                    self.read_timeout_ms
                ),
            });
        }
        if self.addr.trim().is_empty() {
            return Err(Error::Config {
                path: None,
                message: "[serve] addr is empty (expected HOST:PORT, e.g. 127.0.0.1:8080)".into(),
            });
        }
        Ok(())
    }
}

impl Config {
    /// Parses configuration text; `path` is only used in messages and to rebase paths.
    ///
    /// Fails with [`Error::Config`] naming the table and key: invalid TOML, an unknown key,
    /// a missing `threshold`, a value out of range.
    ///
    /// ```
    /// use titlesim::{BackendKind, Config, Error};
    ///
    /// let config = Config::parse(
    ///     r#"
    /// [canonical]
    /// model = "BAAI/bge-small-en-v1.5"
    /// backend = "ort"
    /// threshold = 0.70
    ///
    /// [shadow]
    /// model = "Qwen/Qwen3-Embedding-0.6B"
    /// threshold = 0.72
    ///
    /// [shadow_options]
    /// sample_rate = 0.25
    /// "#,
    ///     None,
    /// )?;
    /// assert_eq!(config.canonical.backend, BackendKind::Ort);
    /// assert_eq!(config.active_shadow().map(|s| s.threshold), Some(0.72));
    /// assert_eq!(config.shadow_options.sample_rate, 0.25);
    ///
    /// // Mistakes name the key.
    /// let e = Config::parse("[canonical]\nmodel = \"m\"\ntreshold = 0.7\n", None).unwrap_err();
    /// assert!(matches!(e, Error::Config { .. }) && e.to_string().contains("treshold"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn parse(text: &str, path: Option<&Path>) -> Result<Self> {
        let mut c: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.map(Path::to_path_buf),
            message: e.to_string().trim_end().to_string(),
        })?;
        let at_path = |e: Error| match e {
            Error::Config { message, .. } => Error::Config {
                path: path.map(Path::to_path_buf),
                message,
            },
            e => e,
        };
        c.canonical.validate("canonical").map_err(at_path)?;
        if let Some(s) = &c.shadow {
            s.validate("shadow").map_err(at_path)?;
        }
        c.shadow_options.validate().map_err(at_path)?;
        c.serve.validate().map_err(at_path)?;
        if let Some(base) = path.and_then(Path::parent) {
            c.canonical.rebase(base);
            if let Some(s) = c.shadow.as_mut() {
                s.rebase(base);
            }
            c.shadow_options.rebase(base);
        }
        if let (Some(a), Some(b)) = (
            c.canonical.gt_store.as_ref(),
            c.shadow.as_ref().and_then(|s| s.gt_store.as_ref()),
        ) {
            // By file too: a link, or the same file by another path (`./s.store`).
            if a == b || titlesim_log::same_file(a, b) {
                return Err(Error::Config {
                    path: path.map(Path::to_path_buf),
                    message: format!(
                        "[shadow] gt_store: {} is also [canonical]'s: a store holds one model's vectors; give each model its own",
                        b.display()
                    ),
                });
            }
        }
        c.check_outputs(path)?;
        Ok(c)
    }

    /// Refuses a shadow log or EMF file that is a file the configuration reads (the
    /// configuration file itself, a GT store) or the other output: EMF lines appended to the
    /// configuration or to a store, and a torn-line cut before appending, would damage it.
    /// Compared as files (by any path), after relative paths are resolved.
    fn check_outputs(&self, path: Option<&Path>) -> Result<()> {
        let opts = &self.shadow_options;
        let emf = match opts.emf_target() {
            Some(titlesim_shadow::EmfTarget::File(p)) => Some(p),
            _ => None,
        };
        let outputs = [("log", opts.log.clone()), ("emf", emf)];
        let mut inputs: Vec<(&Path, &str)> = Vec::new();
        inputs.extend(path.map(|p| (p, "the configuration file")));
        inputs.extend(
            self.canonical
                .gt_store
                .as_deref()
                .map(|p| (p, "[canonical] gt_store")),
        );
        inputs.extend(
            self.shadow
                .as_ref()
                .and_then(|s| s.gt_store.as_deref())
                .map(|p| (p, "[shadow] gt_store")),
        );
        let refuse = |key: &str, out: &Path, what: &str| Error::Config {
            path: path.map(Path::to_path_buf),
            message: format!(
                "[shadow_options] {key}: {} is {what}: records written there would damage it; \
                 give {key} a file of its own",
                out.display()
            ),
        };
        for (key, out) in &outputs {
            let Some(out) = out else { continue };
            for (input, what) in &inputs {
                if titlesim_log::same_file(out, input) {
                    return Err(refuse(key, out, what));
                }
            }
        }
        if let [(_, Some(log)), (_, Some(emf))] = &outputs {
            if titlesim_log::same_file(emf, log) {
                return Err(refuse("emf", emf, "the same file as `log`"));
            }
        }
        Ok(())
    }

    /// The shadow model when there is one and `[shadow_options] enabled` is true.
    pub fn active_shadow(&self) -> Option<&ModelConfig> {
        self.shadow.as_ref().filter(|_| self.shadow_options.enabled)
    }

    /// Reads and parses a configuration file (at most 1 MiB: a larger "configuration" is a
    /// file of another kind, and a device such as `/dev/zero` would never end).
    pub fn from_file(path: &Path) -> Result<Self> {
        use std::io::Read;
        const MAX: u64 = 1 << 20;
        let (f, fifo) = open_config(path).map_err(|e| Error::io(path, e))?;
        let mut bytes = Vec::new();
        f.take(MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        if fifo && bytes.is_empty() {
            return Err(Error::io(
                path,
                std::io::Error::other(
                    "a FIFO whose writer sent nothing: not a configuration (or give a file)",
                ),
            ));
        }
        if bytes.len() as u64 > MAX {
            return Err(Error::input(
                path,
                0,
                "larger than 1 MiB: not a titlesim configuration file",
            ));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            Error::input(path, line, "not valid UTF-8")
        })?;
        Self::parse(&text, Some(path))
    }
}

/// How long a configuration FIFO waits for a writer.
const FIFO_WAIT_MS: i32 = 10_000;

/// Opens a configuration file for reading, and says whether it is a FIFO. A FIFO (`-c
/// <(generate)`, or one made with mkfifo) is opened without waiting for a writer, which
/// would wait for ever when there is none; then up to 10 seconds for a writer to send
/// something (a writer started after titlesim), then read blocking: a writer sends the whole
/// file, and a FIFO whose writer came and went without a word reads as empty.
fn open_config(path: &Path) -> std::io::Result<(std::fs::File, bool)> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        if std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)?;
            let fd = f.as_raw_fd();
            // Linux reports no hang-up on a FIFO no writer has opened yet: this waits for one.
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for an open descriptor.
            match unsafe { libc::poll(&mut pfd, 1, FIFO_WAIT_MS) } {
                0 => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "a FIFO that no process wrote to within {} s: start its writer \
                             (or give a file)",
                            FIFO_WAIT_MS / 1000
                        ),
                    ))
                }
                n if n < 0 => return Err(std::io::Error::last_os_error()),
                _ => {}
            }
            titlesim_log::set_blocking(&f)?;
            return Ok((f, true));
        }
    }
    Ok((std::fs::File::open(path)?, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A FIFO nobody writes is refused after 10 s (it was waited on for ever); a pipe with a
    /// writer (`-c <(generate)`), or a writer that starts later, is read whole.
    #[cfg(unix)]
    #[test]
    fn a_configuration_fifo_is_read_or_refused_never_waited_on() {
        use std::io::Write;
        use std::os::fd::FromRawFd;
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("c.toml");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let p = fifo.clone();
        std::thread::spawn(move || tx.send(Config::from_file(&p).map(|_| ())));
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("waited on a FIFO with no writer")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a FIFO that no process wrote to within 10 s"),
            "{e}"
        );
        // A writer that starts after titlesim (`titlesim -c fifo & generate > fifo`).
        let p = fifo.clone();
        let reader = std::thread::spawn(move || Config::from_file(&p));
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::write(&fifo, "[canonical]\nmodel = \"m\"\nthreshold = 0.6\n").unwrap();
        assert_eq!(reader.join().unwrap().unwrap().canonical.threshold, 0.6);

        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: `fds[1]` was just opened by pipe() and is owned here alone.
        let mut w = unsafe { std::fs::File::from_raw_fd(fds[1]) };
        w.write_all(b"[canonical]\nmodel = \"m\"\nthreshold = 0.7\n")
            .unwrap();
        drop(w);
        let read = Config::from_file(Path::new(&format!("/dev/fd/{}", fds[0]))).unwrap();
        assert_eq!(read.canonical.threshold, 0.7);
        // SAFETY: `fds[0]` is open and owned here.
        unsafe { libc::close(fds[0]) };
    }

    #[test]
    fn parses_a_minimal_config() {
        let c = Config::parse("[canonical]\nmodel = \"m\"\nthreshold = 0.7\n", None).unwrap();
        assert_eq!(c.canonical.backend, BackendKind::Candle);
        assert_eq!(c.canonical.threshold, 0.7);
        assert_eq!(c.canonical.prompt_side, PromptSide::Neither);
        assert!(c.shadow.is_none());
        assert_eq!(c.shadow_options, ShadowOptions::default());
        assert!(c.active_shadow().is_none());
    }

    const FULL: &str = r#"
[canonical]
model = "a"
backend = "candle"
threshold = 0.7
threads = 2
gt_store = "stores/a.gtstore"

[shadow]
model = "b"
backend = "tract"
threshold = 0.72
threads = 1
gt_store_mismatch = "recompute"

[shadow_options]
sample_rate = 0.25
sample_salt = "x"
timeout_ms = 500
log = "logs/s.jsonl"
fsync = "never"
emf = "stdout"
emf_namespace = "ns"
"#;

    #[test]
    fn parses_shadow_and_its_options() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.toml");
        std::fs::write(&p, FULL).unwrap();
        let c = Config::from_file(&p).unwrap();
        let s = c.active_shadow().expect("shadow enabled by default");
        assert_eq!(s.backend, BackendKind::Tract);
        assert_eq!(s.threshold, 0.72);
        assert_eq!(s.threads, Some(1));
        assert_eq!(s.gt_store_mismatch, StoreMismatch::Recompute);
        assert_eq!(c.canonical.gt_store_mismatch, StoreMismatch::Refuse);
        // Written paths are always relative to the config's folder, existing or not.
        assert_eq!(
            c.canonical.gt_store.as_deref(),
            Some(
                std::fs::canonicalize(d.path())
                    .unwrap()
                    .join("stores/a.gtstore")
                    .as_path()
            )
        );
        let o = &c.shadow_options;
        assert_eq!(o.sample_rate, 0.25);
        assert_eq!(o.sample_salt, "x");
        assert_eq!(o.timeout_ms, 500);
        assert_eq!(
            o.log.as_deref(),
            Some(
                std::fs::canonicalize(d.path())
                    .unwrap()
                    .join("logs/s.jsonl")
                    .as_path()
            )
        );
        assert_eq!(o.fsync, FsyncPolicy::Never);
        assert_eq!(o.emf_target(), Some(EmfTarget::Stdout));
        assert_eq!(o.emf_namespace, "ns");
        let off = Config::parse(&format!("{FULL}enabled = false\n"), None).unwrap();
        assert!(off.shadow.is_some() && off.active_shadow().is_none());
        let emf_file = Config::parse(
            &FULL.replace("emf = \"stdout\"", "emf = \"m.jsonl\""),
            Some(&p),
        )
        .unwrap();
        assert_eq!(
            emf_file.shadow_options.emf_target(),
            Some(EmfTarget::File(d.path().join("m.jsonl")))
        );
    }

    #[test]
    fn swapping_canonical_and_shadow_is_swapping_the_headers() {
        let swapped = FULL
            .replace("[canonical]", "[tmp]")
            .replace("[shadow]", "[canonical]")
            .replace("[tmp]", "[shadow]");
        let a = Config::parse(FULL, None).unwrap();
        let b = Config::parse(&swapped, None).unwrap();
        assert_eq!(a.canonical, *b.shadow.as_ref().unwrap());
        assert_eq!(b.canonical, *a.shadow.as_ref().unwrap());
        assert_eq!(a.shadow_options, b.shadow_options);
    }

    #[test]
    fn shadow_errors_name_the_key() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[shadow]\nmodel = \"b\"\nthreshold = 0.7\nsample_rate = 0.5\n",
                &["sample_rate"],
            ),
            (
                "[shadow]\nmodel = \"b\"\nthreshold = 2.0\n",
                &["[shadow] threshold"],
            ),
            ("[shadow]\nmodel = \"b\"\n", &["threshold"]),
            (
                "[shadow_options]\nsample_rate = 1.5\n",
                &["[shadow_options] sample_rate", "1.5"],
            ),
            ("[shadow_options]\ntimeout_ms = 0\n", &["timeout_ms"]),
            (
                "[shadow_options]\ntimeout = 10\n",
                &["timeout", "timeout_ms"],
            ),
            (
                "[shadow_options]\nfsync = \"sometimes\"\n",
                &["sometimes", "batch"],
            ),
            ("[shadow_options]\nemf = \"\"\n", &["[shadow_options] emf"]),
            (
                "[shadow_options]\nlog = \"out/s.jsonl\"\nemf = \"out/s.jsonl\"\n",
                &["[shadow_options] emf", "same file as `log`"],
            ),
            (
                "[shadow_options]\nlog = \"./s.jsonl\"\nemf = \"s.jsonl\"\n",
                &["[shadow_options] emf", "same file as `log`"],
            ),
            (
                "[serve]\nmax_wait_ms = 9223372036854775807\n",
                &["[serve] max_wait_ms", "at most 60000"],
            ),
            (
                "[serve]\nmax_queue = 2305843009213693952\n",
                &["[serve] max_queue", "at most 1000000"],
            ),
            (
                "[shadow_options]\nemf = \"c.toml\"\n",
                &["[shadow_options] emf: c.toml is the configuration file"],
            ),
            (
                "gt_store = \"g.store\"\n[shadow_options]\nlog = \"./g.store\"\n",
                &["[shadow_options] log: g.store is [canonical] gt_store"],
            ),
            (
                "[serve]\nread_timeout_ms = 0\n",
                &["[serve] read_timeout_ms must be at least 1"],
            ),
            (
                "[serve]\nread_timeout_ms = 3600001\n",
                &["[serve] read_timeout_ms", "at most 3600000"],
            ),
            (
                "gt_store = \"g.store\"\n[shadow]\nmodel = \"b\"\nthreshold = 0.7\ngt_store = \"g.store\"\n",
                &["[shadow] gt_store", "also [canonical]'s"],
            ),
            (
                "gt_store = \"g.store\"\n[shadow]\nmodel = \"b\"\nthreshold = 0.7\ngt_store = \"./g.store\"\n",
                &["[shadow] gt_store", "also [canonical]'s"],
            ),
            ("threads = 5000\n", &["[canonical] threads", "more than 1024"]),
            ("gt_store = \"\"\n", &["[canonical] gt_store", "is empty"]),
            (
                "onnx = \"m.onnx\"\n",
                &["[canonical] onnx", "ort and tract backends only", "candle"],
            ),
            (
                "backend = \"tract\"\noptimization = \"basic\"\n",
                &["[canonical] optimization", "the ort backend only", "tract"],
            ),
            ("[canonical_options]\nx = 1\n", &["canonical_options"]),
            (
                "[shadow]\nmodel = \"b\"\nthreshold = 0.7\ngt_store_mismatch = \"ignore\"\n",
                &["ignore", "recompute"],
            ),
        ];
        for (extra, want) in cases {
            let text = format!("[canonical]\nmodel = \"m\"\nthreshold = 0.7\n{extra}");
            let e = Config::parse(&text, Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            for w in *want {
                assert!(e.contains(w), "{extra:?}: {e:?} lacks {w:?}");
            }
            assert!(e.contains("c.toml"), "{e}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("[canonical]\nmodel = \"m\"\ntreshold = 0.7\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("treshold"), "{e}");
        let e = Config::parse(
            "[canonical]\nmodel = \"m\"\nthreshold = 0.7\nbackend = \"cuda\"\n",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cuda") && e.contains("candle"), "{e}");
        let e = Config::parse("[canonical]\nmodel = \"m\"\nthreshold = 1.5\n", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("threshold"), "{e}");
        let e = Config::parse(
            "[canonical]\nmodel = \"m\"\nthreshold = 0.5\nthreads = 0\n",
            Some(Path::new("x.toml")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("threads") && e.contains("x.toml"), "{e}");
    }

    #[test]
    fn paths_are_rebased_on_the_config_folder() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("m")).unwrap();
        let p = d.path().join("t.toml");
        std::fs::write(&p, "[canonical]\nmodel = \"m\"\nthreshold = 0.7\n").unwrap();
        let c = Config::from_file(&p).unwrap();
        let root = std::fs::canonicalize(d.path()).unwrap();
        assert_eq!(PathBuf::from(&c.canonical.model), root.join("m"));
        // `..` is resolved, so logs and messages show a clean path.
        std::fs::create_dir(d.path().join("conf")).unwrap();
        let q = d.path().join("conf/t.toml");
        std::fs::write(&q, "[canonical]\nmodel = \"../m\"\nthreshold = 0.7\n").unwrap();
        let c = Config::from_file(&q).unwrap();
        assert_eq!(PathBuf::from(&c.canonical.model), root.join("m"));
        // Written paths need not exist: their leading `..` are resolved too.
        assert_eq!(
            join_output(&root.join("conf"), Path::new("../logs/./s.jsonl")),
            root.join("logs/s.jsonl")
        );
        assert_eq!(
            join_output(&root, Path::new("a/../b")),
            root.join("a/../b"),
            "a `..` after a name is kept (the name may be a link)"
        );
        // A hub id stays as it is.
        std::fs::write(
            &p,
            "[canonical]\nmodel = \"BAAI/bge-small-en-v1.5\"\nthreshold = 0.7\n",
        )
        .unwrap();
        let c = Config::from_file(&p).unwrap();
        assert_eq!(c.canonical.model, "BAAI/bge-small-en-v1.5");
    }
}
