//! Precomputed reference-title (GT) embeddings: the "GT skip" path.
//!
//! Reference titles repeat across agents and tasks; a store holds each one's vector so
//! scoring only encodes the agent's title. A store belongs to one model: its header names the
//! fingerprint (prompt included, see [`titlesim_core::fingerprint::with_prompt`]) and the
//! dimension of the vectors, and a store written by another model is refused (or ignored, by
//! configuration) rather than giving a wrong cosine.
//!
//! # File format
//!
//! UTF-8 JSON lines. The first line is the [`StoreHeader`]; every further line is one title:
//!
//! ```text
//! {"format":"titlesim-gt-store","version":2,"fingerprint":"ts1-…","dim":384,"model":"…","backend":"candle","prompt":null,"created":"2026-11-29T10:00:00.000Z"}
//! {"t":"Apple iPhone 15 128GB Black","v":[0.0123,-0.0456,…],"c":"9f2c41d0"}
//! ```
//!
//! `t` is the title exactly as it appears in the pairs (without the prompt), `v` the vector as
//! shortest round-trip decimal `f32`s (parsed as `f32`, so values come back bit for bit), and
//! `c` the first 8 hex digits of SHA-256 over the title's bytes, a zero byte and the vector's
//! little-endian `f32` bytes. Rows are appended and flushed in batches: a crash leaves at most
//! one torn last line (no newline), which readers skip and report and writers cut off before
//! appending. Every other defect (wrong length, NaN or infinite values, an all-zero vector —
//! whose cosine with anything is 0 —, for a model that normalises its embeddings a vector not
//! of unit length ([`GtStore::check_unit_norm`]), bad checksum, a title stored twice with different vectors, a line over
//! [`titlesim_log::MAX_LINE_BYTES`]) is an error naming the line. A writer holds the file's
//! advisory write lock while it is open: a second `titlesim precompute` on the same store is
//! refused.
//!
//! Version 2 stores hold the vectors of texts stripped of white space at either end, as
//! sentence-transformers strips them ([`titlesim_core::tokenize::st_strip`]). Version 1 stores
//! were written before titlesim stripped: they are read, but a row whose text as the model
//! sees it (its prompt prepended) has white space at either end holds the vector of the
//! unstripped text, so it is left out ([`GtStore::unstripped`]) and its title encoded instead;
//! `titlesim precompute` rewrites such a store as version 2.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use titlesim_core::config::StoreMismatch;

use titlesim_core::{Error, GtVectors, Result};

/// The `format` of a store header.
pub const STORE_FORMAT: &str = "titlesim-gt-store";
/// The `version` of the store format this build writes. It reads version 1 too (see the
/// module documentation).
pub const STORE_VERSION: u32 = 2;

/// The first line of a store: whose vectors these are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreHeader {
    /// Always [`STORE_FORMAT`].
    pub format: String,
    /// [`STORE_VERSION`] when written by this build; 1 in an older store.
    pub version: u32,
    /// Fingerprint of the vectors: the model's, combined with the GT side's prompt.
    pub fingerprint: String,
    /// Length of every vector.
    pub dim: usize,
    /// The model as configured when the store was written (informational).
    pub model: String,
    /// The backend that computed the vectors (informational).
    pub backend: String,
    /// The prompt prepended to the titles, if any (informational: it is in the fingerprint).
    #[serde(default)]
    pub prompt: Option<String>,
    /// When the store was created, RFC 3339.
    pub created: String,
}

impl StoreHeader {
    /// A header for vectors of `dim` values with `fingerprint`, created now.
    pub fn new(
        fingerprint: impl Into<String>,
        dim: usize,
        model: impl Into<String>,
        backend: impl Into<String>,
        prompt: Option<String>,
    ) -> Self {
        StoreHeader {
            format: STORE_FORMAT.into(),
            version: STORE_VERSION,
            fingerprint: fingerprint.into(),
            dim,
            model: model.into(),
            backend: backend.into(),
            prompt,
            created: titlesim_log::time::now_rfc3339(),
        }
    }

    /// Whether vectors of `fingerprint` and `dim` may be read from this store; a
    /// [`Error::StoreMismatch`] naming both sides when not.
    pub fn check(&self, path: &Path, fingerprint: &str, dim: usize) -> Result<()> {
        if self.fingerprint == fingerprint && self.dim == dim {
            return Ok(());
        }
        Err(Error::StoreMismatch {
            path: path.to_path_buf(),
            expected_fingerprint: fingerprint.into(),
            expected_dim: dim,
            found_fingerprint: self.fingerprint.clone(),
            found_dim: self.dim,
            found_model: self.model.clone(),
        })
    }
}

#[derive(Serialize)]
struct RowOut<'a> {
    t: &'a str,
    v: &'a serde_json::value::RawValue,
    c: String,
}

#[derive(Deserialize)]
struct RowIn<'a> {
    #[serde(borrow)]
    t: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    v: &'a serde_json::value::RawValue,
    c: String,
}

/// The checksum of a row: 8 hex digits of SHA-256(title, 0, little-endian f32 bytes).
pub fn row_checksum(text: &str, v: &[f32]) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update([0]);
    for x in v {
        h.update(x.to_le_bytes());
    }
    hex::encode(&h.finalize()[..4])
}

/// Checks a vector for a store of `dim`: right length, finite values, not all zero.
pub fn check_vector(v: &[f32], dim: usize) -> std::result::Result<(), String> {
    if v.len() != dim {
        return Err(format!("vector of {} values, expected {dim}", v.len()));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!("non-finite value {} at index {i}", v[i]));
    }
    if v.iter().all(|&x| x == 0.0) {
        return Err("all-zero vector (its cosine with anything is undefined)".into());
    }
    Ok(())
}

fn parse_vector(raw: &str) -> std::result::Result<Vec<f32>, String> {
    let inner = raw
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| "`v` is not an array".to_string())?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .enumerate()
        .map(|(i, x)| {
            let x = x.trim();
            x.parse::<f32>()
                .map_err(|_| format!("`v`[{i}] is `{x}`, not a number"))
        })
        .collect()
}

fn format_vector(v: &[f32]) -> String {
    let mut s = String::with_capacity(v.len() * 12 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        // Debug is the shortest representation that parses back to the same f32.
        s.push_str(&format!("{x:?}"));
    }
    s.push(']');
    s
}

/// One line of a store file, split off.
struct Lines {
    reader: BufReader<titlesim_log::BoundedLines<File>>,
    line: u64,
    buf: Vec<u8>,
}

enum Line {
    Complete(String),
    Torn,
}

impl Lines {
    fn next(&mut self, path: &Path) -> Result<Option<Line>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf).map_err(|e| {
            match titlesim_log::line_too_long(&e) {
                Some(t) => Error::input(path, t.line, format!("not a GT store: {t}")),
                None => Error::io(path, e),
            }
        })?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.last() != Some(&b'\n') {
            return Ok(Some(Line::Torn));
        }
        self.buf.pop();
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(s) => Ok(Some(Line::Complete(s))),
            Err(_) => Err(Error::input(path, self.line, "not valid UTF-8")),
        }
    }
}

fn open_lines(path: &Path) -> Result<(Lines, StoreHeader)> {
    // A store is read more than once (its header, then whole): a FIFO would be waited on for
    // a writer, and a device read without end.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::io(
            path,
            std::io::Error::other(format!(
                "a {}, not a GT store: a store is a regular file",
                titlesim_log::file_kind(&meta)
            )),
        ));
    }
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut lines = Lines {
        reader: BufReader::new(titlesim_log::BoundedLines::new(f)),
        line: 0,
        buf: Vec::new(),
    };
    let first = match lines.next(path)? {
        Some(Line::Complete(s)) => s,
        Some(Line::Torn) | None => {
            return Err(Error::input(
                path,
                1,
                "not a GT store: no complete header line (an empty or torn file)",
            ))
        }
    };
    let header: StoreHeader = serde_json::from_str(&first)
        .map_err(|e| Error::input(path, 1, format!("not a GT store header: {e}")))?;
    if header.format != STORE_FORMAT {
        return Err(Error::input(
            path,
            1,
            format!("format `{}`, expected `{STORE_FORMAT}`", header.format),
        ));
    }
    if !(1..=STORE_VERSION).contains(&header.version) {
        return Err(Error::input(
            path,
            1,
            format!(
                "store format version {} (this build reads 1 to {STORE_VERSION})",
                header.version
            ),
        ));
    }
    if header.dim == 0 {
        return Err(Error::input(path, 1, "`dim` is 0"));
    }
    Ok((lines, header))
}

/// Reads only the header of a store.
pub fn read_header(path: &Path) -> Result<StoreHeader> {
    open_lines(path).map(|(_, h)| h)
}

/// A store loaded into memory: title → vector.
#[derive(Debug, Clone)]
pub struct GtStore {
    path: PathBuf,
    header: StoreHeader,
    vectors: HashMap<String, Vec<f32>>,
    /// The line each title is stored on.
    lines: HashMap<String, u64>,
    torn_tail: Option<u64>,
    /// Lines of a version 1 store left out: their text had white space at either end.
    unstripped: Vec<u64>,
}

impl GtStore {
    /// Reads and checks a whole store (see the module documentation for what is refused).
    pub fn open(path: &Path) -> Result<Self> {
        let (mut lines, header) = open_lines(path)?;
        let mut vectors: HashMap<String, Vec<f32>> = HashMap::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        let mut torn_tail = None;
        let mut unstripped = Vec::new();
        let prompt = header.prompt.clone();
        while let Some(l) = lines.next(path)? {
            let n = lines.line;
            let text = match l {
                Line::Torn => {
                    torn_tail = Some(n);
                    break;
                }
                Line::Complete(t) => t,
            };
            if text.trim().is_empty() {
                continue;
            }
            let row: RowIn = serde_json::from_str(&text)
                .map_err(|e| Error::input(path, n, format!("invalid row: {e}")))?;
            let v = parse_vector(row.v.get()).map_err(|m| Error::input(path, n, m))?;
            check_vector(&v, header.dim).map_err(|m| Error::input(path, n, m))?;
            let want = row_checksum(&row.t, &v);
            if row.c != want {
                return Err(Error::input(
                    path,
                    n,
                    format!("checksum {} does not match the row ({want})", row.c),
                ));
            }
            if header.version < 2 {
                let seen = titlesim_core::score::apply_prompt(prompt.as_deref(), &row.t);
                if titlesim_core::tokenize::st_strip(&seen) != seen {
                    unstripped.push(n);
                    continue;
                }
            }
            if let Some(prev) = vectors.get(row.t.as_ref()) {
                if *prev != v {
                    return Err(Error::input(
                        path,
                        n,
                        format!(
                            "title already stored on line {} with another vector",
                            first_line[row.t.as_ref()]
                        ),
                    ));
                }
                continue;
            }
            first_line.insert(row.t.to_string(), n);
            vectors.insert(row.t.into_owned(), v);
        }
        Ok(GtStore {
            path: path.to_path_buf(),
            header,
            vectors,
            lines: first_line,
            torn_tail,
            unstripped,
        })
    }

    /// Opens the store a model is configured with, for vectors of `fingerprint` and `dim`.
    ///
    /// A missing store or one written by another model is an error under
    /// [`StoreMismatch::Refuse`]; under [`StoreMismatch::Recompute`] it is `Ok(None)` with
    /// the reason in `warning` (the caller encodes the titles instead).
    pub fn open_for(
        path: &Path,
        fingerprint: &str,
        dim: usize,
        policy: StoreMismatch,
        warning: &mut Option<String>,
    ) -> Result<Option<Self>> {
        if !path.exists() {
            let e = Error::StoreMissing {
                path: path.to_path_buf(),
            };
            return match policy {
                StoreMismatch::Refuse => Err(e),
                StoreMismatch::Recompute => {
                    *warning = Some(format!(
                        "GT store {} does not exist; encoding reference titles instead",
                        path.display()
                    ));
                    Ok(None)
                }
            };
        }
        let header = read_header(path).map_err(|e| match e {
            Error::Input {
                path,
                line,
                message,
            } => Error::input(
                path,
                line,
                format!(
                    "{message}; remove it and build the store with `titlesim precompute`, or point \
                     gt_store elsewhere"
                ),
            ),
            e => e,
        })?;
        if let Err(e) = header.check(path, fingerprint, dim) {
            return match policy {
                StoreMismatch::Refuse => Err(e),
                StoreMismatch::Recompute => {
                    // The error's advice ends with setting what is already set: say what is done.
                    *warning = Some(match &e {
                        Error::StoreMismatch {
                            found_fingerprint,
                            found_dim,
                            found_model,
                            ..
                        } => format!(
                            "GT store {} was written by another model ({found_dim}-d vectors of \
                             fingerprint {found_fingerprint}, {found_model}): ignoring it and \
                             encoding reference titles (gt_store_mismatch = \"recompute\"); \
                             `titlesim precompute` rebuilds it for this model",
                            path.display()
                        ),
                        e => format!("{e}; ignoring it and encoding reference titles"),
                    });
                    Ok(None)
                }
            };
        }
        let store = Self::open(path)?;
        let mut said = Vec::new();
        if let Some(l) = store.torn_tail {
            said.push(format!(
                "GT store {}: skipped a torn last line ({l}); `titlesim precompute` completes it",
                path.display()
            ));
        }
        if let Some(first) = store.unstripped.first() {
            said.push(format!(
                "GT store {}: {} title(s) (first on line {first}) have white space at either end, \
                 and this store (format 1) holds the vectors of their unstripped text; \
                 sentence-transformers strips it, and so does titlesim now: they are encoded \
                 instead; `titlesim precompute` rewrites the store",
                path.display(),
                store.unstripped.len()
            ));
        }
        if !said.is_empty() {
            *warning = Some(said.join("; "));
        }
        Ok(Some(store))
    }

    /// Whether vectors of `fingerprint` and `dim` may be read from this store.
    pub fn check(&self, fingerprint: &str, dim: usize) -> Result<()> {
        self.header.check(&self.path, fingerprint, dim)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whose vectors these are.
    pub fn header(&self) -> &StoreHeader {
        &self.header
    }

    /// The vector of `title`, if stored.
    pub fn get(&self, title: &str) -> Option<&[f32]> {
        self.vectors.get(title).map(Vec::as_slice)
    }

    /// Number of titles stored.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether no title is stored.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// Refuses a vector whose length is not 1 (within 1e-3): the store of a model that
    /// normalises its embeddings holds only unit vectors, so any other row was edited or
    /// written by something else, and would judge its pairs wrongly (a vector of huge values,
    /// for instance, points wherever its largest values do). The error names the line.
    pub fn check_unit_norm(&self) -> Result<()> {
        let mut bad: Vec<(u64, &str, f64)> = self
            .vectors
            .iter()
            .map(|(t, v)| {
                let norm = v
                    .iter()
                    .map(|&x| f64::from(x) * f64::from(x))
                    .sum::<f64>()
                    .sqrt();
                (self.lines.get(t).copied().unwrap_or(0), t.as_str(), norm)
            })
            .filter(|&(_, _, norm)| (norm - 1.0).abs() > 1e-3)
            .collect();
        bad.sort_by_key(|b| b.0);
        match bad.first() {
            None => Ok(()),
            Some(&(line, title, norm)) => Err(Error::input(
                &self.path,
                line,
                format!(
                    "the vector of `{title}` has length {norm:.6e}, but model {} makes unit \
                     vectors: this row was not written by it ({} such rows); remove the store \
                     and run `titlesim precompute` again (run on this store, it keeps the rows \
                     it holds)",
                    self.header.model,
                    bad.len()
                ),
            )),
        }
    }

    /// The line number of a torn last line that was skipped, if any.
    pub fn torn_tail(&self) -> Option<u64> {
        self.torn_tail
    }

    /// The lines of a version 1 store left out because their text (as the model sees it,
    /// prompt included) has white space at either end: they hold the vector of the unstripped
    /// text (see the module documentation).
    pub fn unstripped(&self) -> &[u64] {
        &self.unstripped
    }

    /// The titles stored and their vectors, in file order.
    pub fn titles(&self) -> Vec<(&str, &[f32])> {
        let mut all: Vec<(u64, &str, &[f32])> = self
            .vectors
            .iter()
            .map(|(t, v)| {
                (
                    self.lines.get(t).copied().unwrap_or(0),
                    t.as_str(),
                    v.as_slice(),
                )
            })
            .collect();
        all.sort_by_key(|a| a.0);
        all.into_iter().map(|(_, t, v)| (t, v)).collect()
    }
}

impl GtVectors for GtStore {
    fn check(&self, fingerprint: &str, dim: usize) -> Result<()> {
        GtStore::check(self, fingerprint, dim)
    }

    fn get(&self, gt: &str) -> Option<&[f32]> {
        GtStore::get(self, gt)
    }
}

/// Appends vectors to a store file.
#[derive(Debug)]
pub struct StoreWriter {
    path: PathBuf,
    tmp: Option<PathBuf>,
    /// The store being replaced, open for its lock (see [`StoreWriter::create`]).
    _held: Option<File>,
    file: File,
    header: StoreHeader,
    buf: Vec<u8>,
    rows: u64,
    /// Rows of `rows` already written to the file.
    flushed: u64,
}

impl StoreWriter {
    /// Creates (or replaces) the store at `path` with `header`.
    ///
    /// A new store is written in place, so a crash keeps what was flushed (and
    /// [`StoreWriter::append`] continues it). A store that is replaced is written under a
    /// temporary name and moved in place by [`StoreWriter::finish`], so a crash leaves the
    /// previous store untouched; the previous store's write lock is held until then, so no
    /// [`StoreWriter::append`] can add rows that the replacement would discard.
    pub fn create(path: &Path, header: StoreHeader) -> Result<Self> {
        if header.dim == 0 {
            return Err(Error::input(path, 1, "`dim` is 0"));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = path.exists().then(|| tmp_path(path));
        // A store being replaced stays locked until the replacement is moved in: a writer
        // appending to it meanwhile would have its rows vanish with the old file.
        let held = match &tmp {
            Some(_) => {
                let old = File::open(path).map_err(|e| Error::io(path, e))?;
                lock(&old, path)?;
                Some(old)
            }
            None => None,
        };
        let target = tmp.clone().unwrap_or_else(|| path.to_path_buf());
        // Not truncated before the lock is ours: another writer may be filling it.
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&target)
            .map_err(|e| Error::io(&target, e))?;
        lock(&file, &target)?;
        file.set_len(0).map_err(|e| Error::io(&target, e))?;
        let mut line = serde_json::to_vec(&header).expect("a header serialises");
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            // A file of no header or half a header is no store; it held nothing before (it was
            // emptied above), so nothing is lost by removing it, and the next run starts clean.
            let _ = std::fs::remove_file(&target);
            return Err(Error::io(&target, e));
        }
        Ok(StoreWriter {
            path: path.to_path_buf(),
            tmp,
            _held: held,
            file,
            header,
            buf: Vec::new(),
            rows: 0,
            flushed: 0,
        })
    }

    /// Replaces the existing store at `path` with one of `header`, as [`StoreWriter::create`]
    /// does, but continues the replacement an interrupted run left behind (`PATH.partial`
    /// holding vectors of the same fingerprint and dimension, made on the same backend, that can
    /// be read) instead of starting it again:
    /// returns the writer and, when it continues, what the partial store already holds.
    pub fn replace(path: &Path, header: StoreHeader) -> Result<(Self, Option<GtStore>)> {
        let tmp = tmp_path(path);
        // The same vectors: fingerprint, dimension, and the backend (another one's differ in
        // the last bits, and one store would hold both).
        let same = read_header(&tmp).ok().is_some_and(|h| {
            h.check(&tmp, &header.fingerprint, header.dim).is_ok()
                && h.backend == header.backend
                && h.version == header.version
        });
        if !same || !path.exists() {
            return Ok((Self::create(path, header)?, None));
        }
        let old = File::open(path).map_err(|e| Error::io(path, e))?;
        lock(&old, path)?;
        match StoreWriter::append(&tmp, &header.fingerprint, header.dim) {
            Ok((mut writer, partial)) => {
                writer.path = path.to_path_buf();
                writer.tmp = Some(tmp);
                writer._held = Some(old);
                Ok((writer, Some(partial)))
            }
            // Another process writing it is an error; a partial store that cannot be read
            // (a damaged row) is started again, as before there were continuations.
            Err(e @ Error::Locked { .. }) => Err(e),
            Err(_) => {
                drop(old);
                Ok((Self::create(path, header)?, None))
            }
        }
    }

    /// Opens an existing store to add titles, cutting off a torn last line. Returns the
    /// writer and what the store already holds. The store must hold vectors of `fingerprint`
    /// and `dim` ([`Error::StoreMismatch`] otherwise).
    pub fn append(path: &Path, fingerprint: &str, dim: usize) -> Result<(Self, GtStore)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        // Read what the store holds only once no other writer can be adding to it.
        lock(&file, path)?;
        let header = read_header(path)?;
        header.check(path, fingerprint, dim)?;
        let store = GtStore::open(path)?;
        let (keep, _) = titlesim_log::cut_torn_tail(&mut file).map_err(|e| Error::io(path, e))?;
        file.seek(SeekFrom::Start(keep))
            .map_err(|e| Error::io(path, e))?;
        Ok((
            StoreWriter {
                path: path.to_path_buf(),
                tmp: None,
                _held: None,
                file,
                header: store.header.clone(),
                buf: Vec::new(),
                rows: 0,
                flushed: 0,
            },
            store,
        ))
    }

    /// The header of the store being written.
    pub fn header(&self) -> &StoreHeader {
        &self.header
    }

    /// Adds one title's vector (buffered until [`StoreWriter::flush`]); refuses vectors of the
    /// wrong length, with NaN or infinite values, or all zero.
    pub fn add(&mut self, title: &str, v: &[f32]) -> Result<()> {
        if v.len() != self.header.dim {
            return Err(Error::DimensionMismatch {
                context: format!("vector of `{title}` for GT store {}", self.path.display()),
                expected: self.header.dim,
                got: v.len(),
            });
        }
        check_vector(v, self.header.dim).map_err(|m| {
            if m.starts_with("non-finite") {
                Error::NonFinite {
                    context: format!(
                        "vector of `{title}` for GT store {}: {m}",
                        self.path.display()
                    ),
                }
            } else {
                Error::input(
                    &self.path,
                    0,
                    format!("cannot store the vector of `{title}`: {m}"),
                )
            }
        })?;
        let vec_text = format_vector(v);
        let raw = serde_json::value::RawValue::from_string(vec_text)
            .expect("formatted floats are valid JSON");
        let row = RowOut {
            t: title,
            v: &raw,
            c: row_checksum(title, v),
        };
        titlesim_log::write_json_line(&mut self.buf, &row).expect("a row serialises");
        self.buf.push(b'\n');
        self.rows += 1;
        Ok(())
    }

    /// Writes the buffered rows to the file. A failed write (a full disk) is cut back to the
    /// file's length before it, so the store ends on a whole row, and the error says how many
    /// rows this writer had stored; the buffered rows are dropped.
    pub fn flush(&mut self) -> Result<()> {
        let target = self.writing_path();
        let start = self
            .file
            .stream_position()
            .map_err(|e| Error::io(&target, e))?;
        if let Err(e) = self.file.write_all(&self.buf) {
            let rolled_back = self
                .file
                .set_len(start)
                .and_then(|()| self.file.seek(SeekFrom::Start(start)))
                .is_ok();
            self.buf.clear();
            self.rows = self.flushed;
            let kept = if rolled_back {
                "cut back to its last whole row"
            } else {
                "left with a torn last row, which readers skip"
            };
            return Err(Error::io(
                &target,
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "{e}: the store was {kept}, keeping the {} row(s) this run had \
                         written; make room and run precompute again to continue",
                        self.flushed
                    ),
                ),
            ));
        }
        self.buf.clear();
        self.flushed = self.rows;
        Ok(())
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Flushes, syncs to disk and (for a new store) moves the file into place.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        let target = self.writing_path();
        self.file.sync_all().map_err(|e| Error::io(&target, e))?;
        if target != self.path {
            std::fs::rename(&target, &self.path).map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(self.rows)
    }

    fn writing_path(&self) -> PathBuf {
        self.tmp.clone().unwrap_or_else(|| self.path.clone())
    }
}

impl Drop for StoreWriter {
    /// Unlocks explicitly: the lock belongs to the open file, which a process forked
    /// meanwhile shares, and would otherwise stay held until that process ends too.
    fn drop(&mut self) {
        let _ = self.file.unlock();
        if let Some(held) = &self._held {
            let _ = held.unlock();
        }
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Takes `file`'s advisory write lock, or says that another process is writing the store.
fn lock(file: &File, path: &Path) -> Result<()> {
    titlesim_log::lock_writer(file, path, "GT store")
}
