//! What every titlesim reader and writer of a shared file needs: a bound on the length of a
//! line read from a file titlesim does not control, and the advisory lock that makes a writer
//! the only one.

use std::fs::{File, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The longest line any titlesim reader accepts: 16 MiB. A title, a log record or a GT store
/// row (a 4096-dimensional vector in JSON is under 100 KiB) is far shorter; a longer "line" is
/// a file of another kind (a binary, `/dev/zero`), which would otherwise be read into memory
/// until the system runs out.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// The error of a line longer than the limit, carried inside the [`io::Error`] that
/// [`BoundedLines`] returns (kind [`io::ErrorKind::InvalidData`]); see [`line_too_long`]. Its
/// message leaves the line number to the caller's `file:line:` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The 1-based line that is too long.
    pub line: u64,
    /// The limit, in bytes.
    pub max: usize,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (n, unit) = if self.max >= 1024 * 1024 {
            (self.max / (1024 * 1024), "MiB")
        } else {
            (self.max, "bytes")
        };
        write!(
            f,
            "line longer than {n} {unit}, the most titlesim reads as one line (is this the right file?)"
        )
    }
}

impl std::error::Error for LineTooLong {}

/// A CSV reader's error in titlesim's words, and the 1-based line of the file it is on (0 when
/// it is on none: reading failed). `lines` indexes what the reader read, so the line is the
/// file's even with `\r\n` line ends, blank lines and quoted cells over several lines, where
/// the csv crate's own `record N (line: N, byte: M)` is off; the words leave those out, as
/// the caller puts `file:line:` in front of them.
pub fn csv_problem(err: &csv::Error, lines: &LineIndex) -> (u64, String) {
    if let csv::ErrorKind::Io(e) = err.kind() {
        return match line_too_long(e) {
            Some(t) => (t.line, t.to_string()),
            None => (0, e.to_string()),
        };
    }
    let line = err.position().map_or(0, |p| lines.line_at(p.byte()));
    let message = match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "row has {len} cells where the header has {expected_len}: a comma or a quote too \
             many or too few (a cell that holds a comma is quoted: \"a, b\")"
        ),
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "cell {} is not UTF-8 text: save the file as UTF-8 (a spreadsheet's \"CSV UTF-8\")",
            err.field() + 1
        ),
        _ => err.to_string(),
    };
    (line, message)
}

/// The [`LineTooLong`] inside `e`, when `e` is one.
pub fn line_too_long(e: &io::Error) -> Option<LineTooLong> {
    e.get_ref()?.downcast_ref::<LineTooLong>().copied()
}

/// The line numbers of CSV records, right for `\r\n` files, for old Mac files whose lines
/// end in a lone `\r` (which the `csv` crate ends a record at too) and after blank lines. A
/// file is taken for an old Mac one when its first line ends in a lone `\r`; in any other, a
/// lone `\r` is a character of a title (inside quotes), as `grep -n` counts it.
///
/// The `csv` crate's record positions count the `\n`s it has consumed when a record *begins to
/// be parsed*: on a `\r\n` file that is before the `\n` ending the previous line (every
/// record gets the line of the one before it, its issue 395), and after a blank line it is
/// before the blank line. [`LineIndex::reader`] wraps the reader the CSV parser reads and
/// notes where the line ends are; [`LineIndex::line_at`] turns a record's byte position into
/// the 1-based line of its first byte, skipping the line ends at the position.
#[derive(Debug, Clone, Default)]
pub struct LineIndex(std::rc::Rc<std::cell::RefCell<LineEnds>>);

#[derive(Debug, Default)]
struct LineEnds {
    /// Bytes read so far.
    offset: u64,
    /// Offsets of the `\r` and `\n` bytes read and not yet passed, and whether each ends a
    /// line: a `\n`, or a `\r` that no `\n` follows (known once the next byte is read).
    pending: std::collections::VecDeque<(u64, bool)>,
    /// Line ends passed.
    lines_before: u64,
    /// Whether the last byte read was a `\r`.
    after_cr: bool,
    /// Whether a lone `\r` ends a line: decided by the first line end of the file.
    lone_cr_ends: Option<bool>,
}

impl LineIndex {
    /// An index with nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// `inner`, noting its line ends in this index as it is read.
    pub fn reader<R>(&self, inner: R) -> IndexedReader<R> {
        IndexedReader {
            inner,
            index: self.clone(),
        }
    }

    /// The 1-based line of the first byte that is not a line end at or after `byte` (a CSV
    /// record's `position().byte()`). Positions must not decrease from one call to the next.
    pub fn line_at(&self, byte: u64) -> u64 {
        let mut s = self.0.borrow_mut();
        let mut at = byte;
        while let Some(&(off, is_lf)) = s.pending.front() {
            if off < at {
                s.pending.pop_front();
                s.lines_before += u64::from(is_lf);
            } else if off == at {
                s.pending.pop_front();
                s.lines_before += u64::from(is_lf);
                at += 1;
            } else {
                break;
            }
        }
        s.lines_before + 1
    }
}

/// A reader that notes its line ends in a [`LineIndex`] (see [`LineIndex::reader`]).
#[derive(Debug)]
pub struct IndexedReader<R> {
    inner: R,
    index: LineIndex,
}

impl<R: Read> Read for IndexedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        let mut s = self.index.0.borrow_mut();
        let base = s.offset;
        for (i, &b) in out[..n].iter().enumerate() {
            let at = base + i as u64;
            if s.lone_cr_ends.is_none() && (b == b'\n' || s.after_cr) {
                s.lone_cr_ends = Some(b != b'\n');
            }
            if s.after_cr && b != b'\n' && s.lone_cr_ends == Some(true) {
                // The `\r` before ended a line by itself (passed already: count it now).
                match s.pending.back_mut() {
                    Some((off, ends)) if *off + 1 == at => *ends = true,
                    _ => s.lines_before += 1,
                }
            }
            if b == b'\n' || b == b'\r' {
                s.pending.push_back((at, b == b'\n'));
            }
            s.after_cr = b == b'\r';
        }
        s.offset += n as u64;
        Ok(n)
    }
}

/// A reader that fails (with [`LineTooLong`]) as soon as a line runs past a limit, so that
/// `read_until`, a CSV parser or `read_to_end` over it cannot grow without bound on a file
/// that has no line ends. Wrap the raw reader (a file, standard input), then buffer it.
#[derive(Debug)]
pub struct BoundedLines<R> {
    inner: R,
    max: usize,
    run: usize,
    line: u64,
}

impl<R> BoundedLines<R> {
    /// `inner`, with lines limited to [`MAX_LINE_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_max(inner, MAX_LINE_BYTES)
    }

    /// `inner`, with lines limited to `max` bytes (without the line end).
    pub fn with_max(inner: R, max: usize) -> Self {
        BoundedLines {
            inner,
            max,
            run: 0,
            line: 1,
        }
    }
}

impl<R: Read> Read for BoundedLines<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        let got = &out[..n];
        match got.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                // Each line ended here must have been within the limit.
                let mut run = self.run;
                for &b in &got[..=last] {
                    if b == b'\n' {
                        self.line += 1;
                        run = 0;
                    } else {
                        run += 1;
                        if run > self.max {
                            return Err(self.too_long());
                        }
                    }
                }
                self.run = n - last - 1;
            }
            None => self.run += n,
        }
        if self.run > self.max {
            return Err(self.too_long());
        }
        Ok(n)
    }
}

impl<R> BoundedLines<R> {
    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            LineTooLong {
                line: self.line,
                max: self.max,
            },
        )
    }
}

/// Takes the advisory write lock of `file` (`flock` on Unix, `LockFileEx` on Windows) for as
/// long as the file stays open. `Ok(false)`: another process holds it. A file system that
/// cannot lock (some network file systems) counts as locked by us: titlesim then works as it
/// did without locks.
pub fn try_lock_writer(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => Ok(true),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Takes `file`'s advisory write lock as [`try_lock_writer`] does, for the file at `path`
/// that the user knows as `what` ("shadow log", "GT store"): held by another writer, it is a
/// [`titlesim_core::Error::Locked`] saying so ([`locked_message`]).
pub fn lock_writer(file: &File, path: &Path, what: &str) -> titlesim_core::Result<()> {
    match try_lock_writer(file) {
        Ok(true) => Ok(()),
        Ok(false) => Err(titlesim_core::Error::Locked {
            path: path.to_path_buf(),
            message: locked_message(what),
        }),
        Err(e) => Err(titlesim_core::Error::io(path, e)),
    }
}

/// What to tell a user whose file is locked by another writer.
pub fn locked_message(what: &str) -> String {
    format!(
        "another titlesim process is writing this {what} (it holds the file's write lock; in \
         one process, another Scorer, server or writer of the same file counts too): wait for it \
         to finish or close it, or write to another file"
    )
}

/// Sets `file` back to blocking reads and writes: FIFOs are opened with `O_NONBLOCK` so that
/// opening never waits for the other end (the shadow sinks' EMF FIFO, a configuration FIFO),
/// then used blocking, so that a line is never cut short by a full or empty pipe. Unix only:
/// elsewhere nothing was opened non-blocking, and this does nothing.
pub fn set_blocking(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is open for as long as `file` lives; F_GETFL and F_SETFL only read and
        // set this open file description's status flags.
        let ok = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) >= 0
        };
        if !ok {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// What kind of file `meta` describes, in words: `regular file`, `folder`, `FIFO`, `socket`,
/// `character device`, `block device`.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        return "regular file";
    }
    if t.is_dir() {
        return "folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
    }
    "special file"
}

/// Whether `path` still names the open `file`: false when it names another file (one renamed
/// over it) or none (it was moved or removed since it was opened). An error reading either is
/// returned (a path that names nothing is not an error). Unix only: elsewhere, `Ok(true)`.
pub fn still_names(path: &Path, file: &File) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) => Ok(now.dev() == open.dev() && now.ino() == open.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        Ok(true)
    }
}

/// Whether `a` and `b` name one file, whether it exists yet or not: when both exist, the
/// same device and inode (on Unix; through symlinks and hard links), else the same path once
/// their folders are resolved (`logs/../logs/s.jsonl` is `logs/s.jsonl`).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    let resolve = |p: &Path| -> PathBuf {
        if let Ok(c) = std::fs::canonicalize(p) {
            return c;
        }
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match (std::fs::canonicalize(parent), p.file_name()) {
            (Ok(d), Some(f)) => d.join(f),
            _ => p.to_path_buf(),
        }
    };
    resolve(a) == resolve(b)
}

/// A file written whole or not at all: the bytes go to a temporary file beside the target
/// (`.NAME.PID.tmp`), which [`Replacing::commit`] renames over it once everything is written.
/// Until then the target is left as it was, and a `Replacing` dropped without a commit (an
/// error midway, a panic) removes its temporary file. A target that is a symlink is replaced
/// where it points, and an existing target's permissions carry over to the new file. A target
/// that exists and is not a regular file (`/dev/stdout`, a FIFO, `/dev/full`) is written
/// directly, as it is: a device cannot be replaced, and must never be renamed over. The
/// temporary file is [listed](crate::unfinished) for a binary's signal handler while it exists.
pub struct Replacing {
    target: PathBuf,
    /// The temporary file; `None` when the target is written directly.
    tmp: Option<PathBuf>,
    file: Option<io::BufWriter<File>>,
    /// The temporary file, listed for an interrupt handler until it is renamed or removed.
    _listed: Option<crate::unfinished::Unfinished>,
}

impl Replacing {
    /// Starts replacing `target` (its folder must exist).
    pub fn create(target: &Path) -> io::Result<Self> {
        match std::fs::metadata(target) {
            Ok(m) if !m.is_file() => {
                let file = std::fs::OpenOptions::new().write(true).open(target)?;
                return Ok(Replacing {
                    target: target.to_path_buf(),
                    tmp: None,
                    file: Some(io::BufWriter::new(file)),
                    _listed: None,
                });
            }
            _ => {}
        }
        // a symlink's file, not the link, gets the new contents
        let target = std::fs::canonicalize(target).unwrap_or_else(|_| target.to_path_buf());
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
        let tmp = target.with_file_name(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let listed = crate::unfinished::register(&tmp);
        let file = File::create(&tmp)?;
        if let Ok(meta) = std::fs::metadata(&target) {
            let _ = file.set_permissions(meta.permissions());
        }
        Ok(Replacing {
            target,
            tmp: Some(tmp),
            file: Some(io::BufWriter::new(file)),
            _listed: Some(listed),
        })
    }

    /// The file that will be replaced (a symlink resolved).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The file being written: the temporary file (or the target, when it is written
    /// directly). A writer that takes a path rather than a `Write` (a Parquet writer) may
    /// write it instead, before [`Replacing::commit`].
    pub fn path(&self) -> &Path {
        self.tmp.as_deref().unwrap_or(&self.target)
    }

    /// Writes the last bytes out and renames the temporary file over the target.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("committed once");
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        drop(file);
        let Some(tmp) = self.tmp.take() else {
            return Ok(()); // written directly: flushed above
        };
        // synced by its path: a writer given `path()` may have replaced the file this one
        // opened
        let done = File::open(&tmp)
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &self.target));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        done
    }
}

impl Write for Replacing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for Replacing {
    fn drop(&mut self) {
        if let (Some(_), Some(tmp)) = (self.file.take(), &self.tmp) {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    #[test]
    fn a_replacement_is_whole_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("out.csv");
        std::fs::write(&target, "old\n").unwrap();
        // dropped midway: the old file stays, no temporary file is left
        let mut r = Replacing::create(&target).unwrap();
        r.write_all(b"new, half").unwrap();
        drop(r);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old\n");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        // committed: the new contents, through a symlink to the file
        let link = d.path().join("link.csv");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &link).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&target, &link).unwrap();
        let mut r = Replacing::create(&link).unwrap();
        r.write_all(b"new\n").unwrap();
        r.commit().unwrap();
        #[cfg(unix)]
        {
            assert!(std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
            assert!(same_file(&link, &target));
        }
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "new\n");
        assert!(!same_file(&target, &d.path().join("absent")));
        let absent = d.path().join("absent");
        std::fs::create_dir(d.path().join("x")).unwrap();
        assert!(same_file(&absent, &d.path().join("x/../absent")));
        // a device is written as it is, never renamed over (it was replaced by a file)
        #[cfg(unix)]
        {
            let full = Path::new("/dev/full");
            if full.exists() {
                let mut r = Replacing::create(full).unwrap();
                let _ = r.write_all(b"x");
                assert!(r.commit().is_err(), "/dev/full refuses the bytes");
                assert!(!std::fs::metadata(full).unwrap().is_file());
                let mut r = Replacing::create(Path::new("/dev/null")).unwrap();
                r.write_all(b"x").unwrap();
                r.commit().unwrap();
                assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
            }
        }
    }

    /// The line each record of `input` starts on, as [`LineIndex`] gives it.
    fn record_lines(input: &[u8]) -> Vec<u64> {
        let index = LineIndex::new();
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(index.reader(input));
        let _ = r.headers().unwrap();
        let mut rec = csv::StringRecord::new();
        let mut lines = Vec::new();
        while r.read_record(&mut rec).unwrap() {
            lines.push(index.line_at(rec.position().unwrap().byte()));
        }
        lines
    }

    #[test]
    fn csv_record_lines_with_any_line_ends_and_blank_lines() {
        // The csv crate alone says [1, 2], [2, 3], [1, 3] and [1] here.
        assert_eq!(record_lines(b"h1,h2\r\na,b\r\n\r\nc,d\r\n"), [2, 4]);
        assert_eq!(record_lines(b"h1,h2\na,b\n\nc,d\n"), [2, 4]);
        assert_eq!(record_lines(b"h1,h2\r\n\"x\r\ny\",b\r\nc,d\r\n"), [2, 4]);
        // A lone `\r` ends a line, as in an old Mac file (and for csv, which ends a record
        // there): every record was "line 1".
        assert_eq!(record_lines(b"h1,h2\r\r\na,b\r\n"), [3]);
        // In a file whose lines end otherwise, a lone `\r` in a quoted title is a character.
        assert_eq!(record_lines(b"h1,h2\n\"a\rb\",c\nd,e\n"), [2, 3]);
        assert_eq!(record_lines(b"h1,h2\r\n\"a\rb\",c\r\nd,e\r\n"), [2, 3]);
        assert_eq!(record_lines(b"h1,h2\ra,b\r\rc,d\r"), [2, 4]);
        assert_eq!(record_lines(b"h1,h2\ra,b\rc,d"), [2, 3]);
        assert_eq!(record_lines(b"h1,h2\na,b\nc,d"), [2, 3]);
    }

    fn lines(data: &[u8], max: usize) -> io::Result<Vec<Vec<u8>>> {
        // A tiny buffer so lines cross reads.
        let mut r = BufReader::with_capacity(3, BoundedLines::with_max(data, max));
        let mut out = Vec::new();
        loop {
            let mut buf = Vec::new();
            if r.read_until(b'\n', &mut buf)? == 0 {
                return Ok(out);
            }
            out.push(buf);
        }
    }

    #[test]
    fn lines_within_the_limit_pass_untouched() {
        let got = lines(b"abcd\nab\n\nabcd", 4).unwrap();
        assert_eq!(got, [&b"abcd\n"[..], b"ab\n", b"\n", b"abcd"]);
    }

    #[test]
    fn a_long_line_is_an_error_naming_it() {
        for data in [
            &b"ab\nabcde\nab\n"[..],
            b"ab\nabcde",
            b"ab\nabcdefghijklmnop\n",
        ] {
            let e = lines(data, 4).unwrap_err();
            assert_eq!(line_too_long(&e), Some(LineTooLong { line: 2, max: 4 }));
        }
        // An endless line (a device of zeros) stops at the limit.
        let e = lines(&[0u8; 100], 10).unwrap_err();
        assert_eq!(line_too_long(&e).map(|t| t.line), Some(1));
        assert_eq!(
            e.to_string(),
            "line longer than 10 bytes, the most titlesim reads as one line (is this the right file?)"
        );
    }

    #[test]
    fn a_second_writer_is_refused_until_the_first_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let a = File::create(&path).unwrap();
        assert!(try_lock_writer(&a).unwrap());
        let b = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        assert!(!try_lock_writer(&b).unwrap());
        drop(a);
        assert!(try_lock_writer(&b).unwrap());
    }
}
