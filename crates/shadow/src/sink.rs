//! Where records go: a JSONL log, CloudWatch Embedded Metric Format lines, memory.
//!
//! Sinks run on the scorer's writer thread. A sink that fails is reported in its
//! [`SinkStatus`] and tried again with the next batch; it never holds up or fails the
//! canonical results.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::options::FsyncPolicy;
use serde::Serialize;
use serde_json::{json, Value};
use titlesim_log::ShadowRecord;

use crate::error::{Error, Result};
use titlesim_log::time::{now_ms, parse_rfc3339_ms};

/// Receives every batch of finished records.
pub trait RecordSink: Send {
    /// A short name for reports (e.g. the file path).
    fn name(&self) -> String;

    /// Writes a batch of records. An error loses this batch for this sink only.
    fn write_batch(&mut self, records: &[ShadowRecord]) -> Result<()>;

    /// Called once after the last batch (final flush, `fsync`).
    fn close(&mut self) -> Result<()> {
        Ok(())
    }

    /// Times the sink's file was found moved or removed and opened again at its path.
    fn reopened(&self) -> u64 {
        0
    }
}

/// How a sink fared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SinkStatus {
    /// The sink's name.
    pub name: String,
    /// Records written successfully.
    pub records_written: u64,
    /// Batches that failed.
    pub batches_failed: u64,
    /// Records in the batches that failed.
    pub records_failed: u64,
    /// The last error, if any batch (or the close) failed.
    pub last_error: Option<String>,
    /// Times the sink's file was found moved or removed (log rotation) and opened again at
    /// its path.
    pub reopened: u64,
}

/// `NAME: N records not written (ERROR)` for each sink that lost records, joined with `; `
/// (the words of `titlesim shadow` and the Python `Scorer` alike); `None` when every record
/// was written.
pub fn lost_records(sinks: &[SinkStatus]) -> Option<String> {
    let lost: Vec<String> = sinks
        .iter()
        .filter(|st| st.batches_failed > 0 || st.records_failed > 0 || st.last_error.is_some())
        .map(|st| {
            let error = st.last_error.as_deref().unwrap_or("?");
            // The error names the file too (`emf:x.emf` is the file `x.emf`): once is enough.
            let file = st.name.strip_prefix("emf:").unwrap_or(&st.name);
            let error = [st.name.as_str(), file]
                .iter()
                .find_map(|n| error.strip_prefix(&format!("{n}: ")))
                .unwrap_or(error);
            format!(
                "{}: {} records not written ({error})",
                st.name, st.records_failed
            )
        })
        .collect();
    (!lost.is_empty()).then(|| lost.join("; "))
}

/// The JSONL shadow log: one [`ShadowRecord`] per line, appended.
///
/// Each batch is written with one `write` and then, under [`FsyncPolicy::Batch`], synced.
/// A process killed mid-write leaves at most one torn last line; [`JsonlSink::open`] cuts it
/// off before appending (so the next record does not fuse with it), and
/// [`titlesim_log::read_log`] skips and reports it. A whole last record lacking only its
/// newline (a log filtered by hand) is kept, and its newline added. A failed write is rolled back to the
/// file's length before it when the file allows. The sink holds the log's advisory write lock
/// ([`titlesim_log::try_lock_writer`]) while it is open: a second writer is refused with
/// [`titlesim_core::Error::Locked`], so a rollback can only ever cut this sink's own partial
/// batch. A log moved or removed while it is written (logrotate's `create` mode) is opened
/// again at its path before the next batch, so the records follow the path.
#[derive(Debug)]
pub struct JsonlSink {
    file: AppendFile,
    fsync: FsyncPolicy,
}

impl JsonlSink {
    /// Opens (creating it and its folder if needed) the log at `path` for appending. The
    /// second value is the number of bytes of a torn last line that were cut off.
    pub fn open(path: &Path, fsync: FsyncPolicy) -> Result<(Self, u64)> {
        // A FIFO or socket would be opened read-write, titlesim its own reader: once the
        // pipe is full every write would wait for ever. The log is read back (`--resume`,
        // `calibrate`), so it must be a file: a device (`/dev/null`) or a folder fails only at
        // the end, or at once with a message that does not say why.
        if let Some(kind) = std::fs::metadata(path)
            .ok()
            .filter(|m| !m.is_file())
            .map(|m| titlesim_log::file_kind(&m))
        {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "is a {kind}: the shadow log must be a regular file (it is read back \
                         by --resume and calibrate); send EMF lines to a pipe instead \
                         ([shadow_options] emf)"
                    ),
                ),
            ));
        }
        let (mut file, cut) = AppendFile::open(path, "shadow log")?;
        file.sync_at_close = fsync != FsyncPolicy::Never;
        Ok((JsonlSink { file, fsync }, cut))
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.file.path
    }
}

impl RecordSink for JsonlSink {
    fn name(&self) -> String {
        self.file.path.display().to_string()
    }

    fn write_batch(&mut self, records: &[ShadowRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 512);
        titlesim_log::write_lines(&mut buf, records);
        self.file.append(&buf, self.fsync == FsyncPolicy::Batch)
    }

    fn close(&mut self) -> Result<()> {
        self.file.close(self.fsync != FsyncPolicy::Never)
    }

    fn reopened(&self) -> u64 {
        self.file.reopened
    }
}

/// A regular file that one writer appends batches to: locked while open, a torn last line
/// cut off at open (a whole one lacking only its newline ended), each batch one `write` that a failure rolls back, and opened again at its
/// path when the path no longer names it (moved or removed, as by log rotation).
#[derive(Debug)]
struct AppendFile {
    path: PathBuf,
    /// What the lock message calls it.
    what: &'static str,
    file: File,
    reopened: u64,
    /// Whether a file left for a new one (rotated away) is synced first, as `close` would.
    sync_at_close: bool,
}

impl Drop for AppendFile {
    /// Unlocks explicitly: the lock belongs to the open file, which a process forked
    /// meanwhile shares, and would otherwise stay held until that process ends too.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl AppendFile {
    /// Opens (creating it and its folder if needed) and locks `path`, cutting off a torn last
    /// line; the second value is the bytes cut.
    fn open(path: &Path, what: &'static str) -> Result<(Self, u64)> {
        let mut file = open_appending(path)?;
        let (_, cut) = lock_and_cut(&mut file, path, what)?;
        Ok((
            AppendFile {
                path: path.to_path_buf(),
                what,
                file,
                reopened: 0,
                sync_at_close: false,
            },
            cut,
        ))
    }

    /// Whether the path names another file than the open one, or none (Unix; elsewhere the
    /// open file is kept).
    fn moved(&self) -> bool {
        !titlesim_log::still_names(&self.path, &self.file).unwrap_or(true)
    }

    /// Appends `buf` (then `sync_data` when `sync`), first opening the path again if the file
    /// was moved or removed. A failed write is cut back to the length before it, so the next
    /// batch does not fuse with a partial one; a file truncated meanwhile (logrotate's
    /// `copytruncate`) is never lengthened by that.
    fn append(&mut self, buf: &[u8], sync: bool) -> Result<()> {
        if self.moved() {
            let (mut fresh, _) = AppendFile::open(&self.path, self.what)?;
            if self.sync_at_close {
                let _ = self.file.sync_all();
            }
            std::mem::swap(&mut self.file, &mut fresh.file);
            // `fresh` now holds the old file: dropping it unlocks and closes it.
            self.reopened += 1;
        }
        let before = self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        let res =
            self.file
                .write_all(buf)
                .and_then(|_| if sync { self.file.sync_data() } else { Ok(()) });
        if let Err(e) = res {
            match self.file.metadata() {
                Ok(m) if m.len() > before => {
                    let _ = self.file.set_len(before);
                }
                // Truncated between the length read and the write (copytruncate): the
                // partial batch is at the new end; cut it back to the last whole line.
                Ok(m) if m.len() < before => {
                    let _ = titlesim_log::cut_torn_tail(&mut self.file);
                }
                _ => {}
            }
            return Err(Error::io(&self.path, e));
        }
        Ok(())
    }

    /// Flushes, and `sync_all` when `sync`.
    fn close(&mut self, sync: bool) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        if sync {
            self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}

/// Opens `path` (creating it and its folder if needed) for reading and appending.
fn open_appending(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

/// Takes `file`'s advisory write lock for as long as it is open (refused with
/// [`titlesim_core::Error::Locked`] naming `what` when another writer holds it: it would cut this one's torn
/// tail, or roll back over its lines, by its own idea of the end), then cuts off a torn last
/// line, or ends a whole one lacking its newline ([`titlesim_log::end_or_cut_tail`]). Returns
/// the length kept and the bytes cut.
fn lock_and_cut(file: &mut File, path: &Path, what: &str) -> Result<(u64, u64)> {
    titlesim_log::lock_writer(file, path, what)?;
    titlesim_log::end_or_cut_tail(file).map_err(|e| Error::io(path, e))
}

/// An `f32` as the JSON number of its shortest decimal (0.8, not 0.800000011920929).
fn num(x: f32) -> Value {
    format!("{x}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// `value` as CloudWatch takes a dimension value: ASCII only, no control character, 1 to 1,024
/// characters, not blank. Other characters are written as `\u{..}` escapes (`qualifikation-ä`
/// becomes `qualifikation-\u{e4}`), so such a phase is still a metric of its own instead of a
/// line the agent cannot extract; the record's `phase_text` keeps the text as it was.
pub fn dimension_value(value: &str) -> String {
    const MAX: usize = 1024;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let piece = if c.is_ascii() && !c.is_ascii_control() {
            c.to_string()
        } else {
            c.escape_unicode().to_string()
        };
        if out.len() + piece.len() > MAX {
            break;
        }
        out.push_str(&piece);
    }
    if out.trim().is_empty() {
        return NO_PHASE.into();
    }
    out
}

/// The dimension value of a record without a phase: the name calibrate and the summaries give
/// such pairs, which no pair's phase may take (`titlesim_core::RESERVED_PHASES`), so it is not
/// one metric with a phase named `none`.
const NO_PHASE: &str = "(none)";

/// The model name used as a CloudWatch dimension: a folder's last component, or a hub id
/// (`ORG/NAME`) as it is.
pub fn model_dimension(model: &str) -> String {
    let trimmed = model.trim_end_matches(['/', '\\']);
    let p = Path::new(trimmed);
    let looks_like_path = p.is_absolute()
        || trimmed.starts_with('.')
        || trimmed.contains('\\')
        || trimmed.split('/').any(|c| c == ".." || c == ".")
        || trimmed.matches('/').count() > 1
        || p.is_dir();
    match p.file_name() {
        Some(name) if looks_like_path => name.to_string_lossy().into_owned(),
        _ => trimmed.to_string(),
    }
}

/// The CloudWatch Embedded Metric Format object of one record.
///
/// Dimensions `[["phase"], ["phase", "canonical_model", "shadow_model"]]` (without
/// `shadow_model` when the pair was not shadowed); metrics `CanonicalCosine`, `CanonicalPass`,
/// `CanonicalEncodeMs`, and for shadowed pairs `ShadowEncodeMs`, `ShadowError` and, when the
/// shadow succeeded, `ShadowCosine`, `ShadowPass`, `Agreement` (1 when both verdicts agree)
/// and `CosineDelta` (shadow − canonical). The pair id, thresholds, backends and any shadow
/// error are plain properties.
pub fn emf_object(r: &ShadowRecord, namespace: &str) -> Value {
    let ts = parse_rfc3339_ms(&r.ts).unwrap_or_else(now_ms);
    let mut root = serde_json::Map::new();
    let mut metrics: Vec<Value> = Vec::new();
    let mut metric =
        |root: &mut serde_json::Map<String, Value>, name: &str, unit: &str, v: Value| {
            metrics.push(json!({"Name": name, "Unit": unit}));
            root.insert(name.to_string(), v);
        };
    let phase = r.phase.as_deref().unwrap_or(NO_PHASE);
    let phase_dimension = dimension_value(phase);
    if phase_dimension != phase {
        root.insert("phase_text".into(), json!(phase));
    }
    root.insert("phase".into(), json!(phase_dimension));
    root.insert(
        "canonical_model".into(),
        json!(dimension_value(&model_dimension(&r.canonical.model))),
    );
    root.insert("pair_id".into(), json!(r.pair_id));
    root.insert("schema".into(), json!(r.schema));
    root.insert("canonical_backend".into(), json!(r.canonical.backend));
    root.insert("canonical_threshold".into(), num(r.canonical.threshold));
    let c = &r.canonical;
    if let (Some(cos), Some(pass)) = (c.cosine, c.pass) {
        metric(&mut root, "CanonicalCosine", "None", num(cos));
        metric(&mut root, "CanonicalPass", "Count", json!(pass as u8));
    }
    metric(
        &mut root,
        "CanonicalEncodeMs",
        "Milliseconds",
        json!(c.encode_ms),
    );
    let dims = match &r.shadow {
        None => json!([["phase"], ["phase", "canonical_model"]]),
        Some(s) => {
            root.insert(
                "shadow_model".into(),
                json!(dimension_value(&model_dimension(&s.model))),
            );
            root.insert("shadow_backend".into(), json!(s.backend));
            root.insert("shadow_threshold".into(), num(s.threshold));
            metric(
                &mut root,
                "ShadowEncodeMs",
                "Milliseconds",
                json!(s.encode_ms),
            );
            metric(
                &mut root,
                "ShadowError",
                "Count",
                json!(s.error.is_some() as u8),
            );
            if let Some(e) = &s.error {
                root.insert("shadow_error".into(), json!(e));
            }
            if let (Some(cos), Some(pass)) = (s.cosine, s.pass) {
                metric(&mut root, "ShadowCosine", "None", num(cos));
                metric(&mut root, "ShadowPass", "Count", json!(pass as u8));
                if let (Some(ccos), Some(cpass)) = (c.cosine, c.pass) {
                    metric(
                        &mut root,
                        "Agreement",
                        "Count",
                        json!((pass == cpass) as u8),
                    );
                    metric(&mut root, "CosineDelta", "None", num(cos - ccos));
                }
            }
            json!([["phase"], ["phase", "canonical_model", "shadow_model"]])
        }
    };
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": ts,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": dims,
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(root)
}

/// CloudWatch Embedded Metric Format lines (one JSON object per record, see [`emf_object`]),
/// to standard output or a file, so whatever fed CloudWatch (the agent, a log subscription)
/// can be fed without AWS calls.
///
/// A regular file is treated as [`JsonlSink`] treats its log: the sink holds the file's
/// advisory write lock while it is open (a second writer is refused with
/// [`titlesim_core::Error::Locked`]),
/// cuts off a torn last line left by a crash before appending (so the first new line does
/// not fuse with it and reach CloudWatch as one unparseable line), rolls a failed write
/// back to the length before it, and follows its path when moved or removed. A FIFO or device
/// (`/dev/stderr`, a pipe an agent reads) is written as it is, write-only: a FIFO nobody reads
/// is refused at open, and one whose reader goes away fails the writes (records counted as
/// lost) instead of filling up unread, until a reader opens it again (the next batch then
/// goes to it).
pub struct EmfSink {
    name: String,
    namespace: String,
    out: EmfOut,
}

/// Where an [`EmfSink`] writes.
enum EmfOut {
    /// Any writer (standard output, a pipe, a device).
    Stream(Box<dyn Write + Send>),
    /// A FIFO named by path: opened again, at the next batch, after its reader went away
    /// (`None` until a reader is back).
    Fifo {
        path: PathBuf,
        out: Option<File>,
        reopened: u64,
    },
    /// A regular file.
    File(AppendFile),
}

impl std::fmt::Debug for EmfSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfSink")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl EmfSink {
    /// EMF lines on standard output.
    pub fn stdout(namespace: impl Into<String>) -> Self {
        Self::to_writer("emf:stdout", namespace, Box::new(std::io::stdout()))
    }

    /// EMF lines appended to `path` (created with its folder if needed). The second value is
    /// the number of bytes of a torn last line that were cut off (always 0 for a FIFO or
    /// device).
    pub fn file(path: &Path, namespace: impl Into<String>) -> Result<(Self, u64)> {
        let name = format!("emf:{}", path.display());
        let namespace = namespace.into();
        let meta = std::fs::metadata(path).ok();
        if let Some(m) = meta.filter(|m| !m.is_file()) {
            let fifo = titlesim_log::file_kind(&m) == "FIFO";
            let stream = open_stream(path, fifo)?;
            let out = if fifo {
                EmfOut::Fifo {
                    path: path.to_path_buf(),
                    out: Some(stream),
                    reopened: 0,
                }
            } else {
                EmfOut::Stream(Box::new(stream))
            };
            return Ok((
                EmfSink {
                    name,
                    namespace,
                    out,
                },
                0,
            ));
        }
        let (file, cut) = AppendFile::open(path, "EMF output")?;
        let out = EmfOut::File(file);
        Ok((
            EmfSink {
                name,
                namespace,
                out,
            },
            cut,
        ))
    }

    /// EMF lines to any writer.
    pub fn to_writer(
        name: impl Into<String>,
        namespace: impl Into<String>,
        out: Box<dyn Write + Send>,
    ) -> Self {
        EmfSink {
            name: name.into(),
            namespace: namespace.into(),
            out: EmfOut::Stream(out),
        }
    }
}

impl RecordSink for EmfSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write_batch(&mut self, records: &[ShadowRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * 700);
        for r in records {
            titlesim_log::write_json_line(&mut buf, &emf_object(r, &self.namespace))
                .expect("EMF serialises");
            buf.push(b'\n');
        }
        let res = match &mut self.out {
            EmfOut::Stream(out) => out.write_all(&buf).and_then(|_| out.flush()),
            EmfOut::File(file) => return file.append(&buf, false),
            EmfOut::Fifo {
                path,
                out,
                reopened,
            } => {
                let f = match out {
                    Some(f) => f,
                    // The reader left: is a new one there (the agent restarted)?
                    None => {
                        let f = open_stream(path, true)?;
                        *reopened += 1;
                        out.insert(f)
                    }
                };
                let r = f.write_all(&buf);
                if matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe) {
                    *out = None;
                }
                r
            }
        };
        res.map_err(|e| Error::io(&self.name, e))
    }

    fn close(&mut self) -> Result<()> {
        match &mut self.out {
            EmfOut::Stream(out) => out.flush().map_err(|e| Error::io(&self.name, e)),
            EmfOut::Fifo { .. } => Ok(()),
            EmfOut::File(file) => file.close(false),
        }
    }

    fn reopened(&self) -> u64 {
        match &self.out {
            EmfOut::Stream(_) => 0,
            EmfOut::Fifo { reopened, .. } => *reopened,
            EmfOut::File(file) => file.reopened,
        }
    }
}

/// Opens a FIFO (`fifo`) or device write-only. A FIFO is opened without waiting for a reader,
/// and refused when none has it open (the agent not started yet); the writes then wait for
/// the reader as any pipe's do, and fail (broken pipe) once it is gone.
fn open_stream(path: &Path, fifo: bool) -> Result<File> {
    #[cfg(not(unix))]
    let _ = fifo;
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if fifo && e.raw_os_error() == Some(libc::ENXIO) {
            return Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "no process is reading this FIFO: start its reader first",
                ),
            );
        }
        Error::io(path, e)
    })?;
    #[cfg(unix)]
    // Back to blocking writes, so that a line is never cut short by a full pipe.
    titlesim_log::set_blocking(&file).map_err(|e| Error::io(path, e))?;
    Ok(file)
}

/// Keeps records in memory (for tests and for callers that post-process them).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    records: Arc<Mutex<Vec<ShadowRecord>>>,
}

impl MemorySink {
    /// An empty sink; clones share the same records.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the records received so far, in order.
    pub fn records(&self) -> Vec<ShadowRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl RecordSink for MemorySink {
    fn name(&self) -> String {
        "memory".into()
    }

    fn write_batch(&mut self, records: &[ShadowRecord]) -> Result<()> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(records);
        Ok(())
    }
}
