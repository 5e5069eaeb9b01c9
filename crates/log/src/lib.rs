//! # titlesim-log
//!
//! The shadow log, in one small crate: what a record is ([`ShadowRecord`], one per scored
//! pair, with a [`SideRecord`] per model), how records become lines ([`write_lines`]), how a
//! log is read back ([`read_log`], which skips and reports torn or invalid lines instead of
//! failing), and the timestamps records carry ([`time`]). `titlesim-shadow` writes logs,
//! `titlesim-calibrate` reads them; neither needs the other.
//!
//! A log is UTF-8 JSON lines, appended in whole batches. [`complete_len`] finds where the
//! last complete line of a file ends, and [`end_or_cut_tail`] cuts off a line torn by a crash
//! (or ends a whole last line lacking its newline) before a log writer appends;
//! [`cut_torn_tail`] cuts any unended last line (the GT store's writer, and rollbacks). [`files`] holds what every
//! reader and writer of a shared file needs: [`BoundedLines`] (no line longer than
//! [`MAX_LINE_BYTES`]) and [`try_lock_writer`] / [`lock_writer`] (one writer per file).
#![deny(missing_docs)]

pub mod files;
pub mod record;
pub mod time;
pub mod unfinished;

use std::io::{Read, Seek, SeekFrom};

pub use files::{
    csv_problem, file_kind, line_too_long, lock_writer, locked_message, same_file, set_blocking,
    still_names, try_lock_writer, BoundedLines, IndexedReader, LineIndex, LineTooLong, Replacing,
    MAX_LINE_BYTES,
};
pub use record::{read_log, LogContents, ShadowRecord, SideRecord, SkippedLine, SCHEMA_VERSION};

/// Appends `records` to `buf` as JSON lines (one object and a `\n` each), the exact bytes a
/// log holds.
pub fn write_lines(buf: &mut Vec<u8>, records: &[ShadowRecord]) {
    for r in records {
        // A record holds strings, numbers and options only: serialising cannot fail.
        write_json_line(&mut *buf, r).expect("a shadow record serialises");
        buf.push(b'\n');
    }
}

/// `value` as one line of JSON, without its `\n`: serde_json's text, with U+2028, U+2029 and
/// U+0085 escaped (`\u2028`) where serde_json writes them as they are. JSON allows them raw
/// in strings, but they end a line for Python's `str.splitlines`, JavaScript before ES2019 and
/// some log shippers, so a title holding one would split its record in two there. Every JSON
/// lines file titlesim writes goes through this.
pub fn write_json_line<W, T>(w: &mut W, value: &T) -> serde_json::Result<()>
where
    W: std::io::Write + ?Sized,
    T: serde::Serialize + ?Sized,
{
    value.serialize(&mut serde_json::Serializer::with_formatter(w, LineSafe))
}

/// serde_json's compact format, with the characters that end a line somewhere escaped.
struct LineSafe;

impl serde_json::ser::Formatter for LineSafe {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> std::io::Result<()>
    where
        W: std::io::Write + ?Sized,
    {
        let mut rest = fragment;
        while let Some(i) = rest.find(['\u{2028}', '\u{2029}', '\u{85}']) {
            let c = rest[i..].chars().next().unwrap_or_default();
            writer.write_all(&rest.as_bytes()[..i])?;
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[i + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// The length of `file`'s first `len` bytes up to and including their last `\n`: everything
/// after it is a torn line. Leaves the file position anywhere.
pub fn complete_len<F: Read + Seek>(file: &mut F, len: u64) -> std::io::Result<u64> {
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(p) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + p as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Cuts a line torn by a crash off the end of `file` (opened for writing), so the next
/// line appended does not fuse with it. Returns the length kept and the bytes cut off.
///
/// Every last line without its `\n` is cut: used to roll back a failed write, whose lines
/// the caller will write again. A writer opening a file uses [`end_or_cut_tail`] instead.
pub fn cut_torn_tail(file: &mut std::fs::File) -> std::io::Result<(u64, u64)> {
    let len = file.metadata()?.len();
    let keep = complete_len(file, len)?;
    if keep < len {
        file.set_len(keep)?;
    }
    Ok((keep, len - keep))
}

/// Makes `file` (opened for writing) end on a whole line before a writer appends to it:
/// a last line that is a whole JSON object lacking only its `\n` (a log filtered by hand with
/// Python's `"\n".join(...)`) gets its `\n`, as readers count it a record; a line torn by a
/// crash (not valid JSON) is cut off. Returns the length kept and the bytes cut off, and
/// leaves the file position at the end.
pub fn end_or_cut_tail(file: &mut std::fs::File) -> std::io::Result<(u64, u64)> {
    use std::io::Write;
    let len = file.metadata()?.len();
    let keep = complete_len(file, len)?;
    if keep == len {
        file.seek(SeekFrom::Start(len))?;
        return Ok((len, 0));
    }
    if len - keep <= MAX_LINE_BYTES as u64 {
        let mut tail = vec![0u8; (len - keep) as usize];
        file.seek(SeekFrom::Start(keep))?;
        file.read_exact(&mut tail)?;
        if is_json_object(&tail) {
            file.seek(SeekFrom::Start(len))?;
            file.write_all(b"\n")?;
            return Ok((len + 1, 0));
        }
    }
    file.set_len(keep)?;
    file.seek(SeekFrom::Start(keep))?;
    Ok((keep, len - keep))
}

/// Whether `line` is one whole JSON object (white space around it, and a byte-order mark
/// before it, as [`read_log`] skips one, allowed).
fn is_json_object(line: &[u8]) -> bool {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let text = line.trim_ascii_start();
    text.first() == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn record(id: &str) -> ShadowRecord {
        ShadowRecord {
            schema: SCHEMA_VERSION,
            ts: "2026-12-04T10:00:00.000Z".into(),
            pair_id: id.into(),
            phase: None,
            product: "a \"quoted\"\ntitle".into(),
            gt: "b".into(),
            label: Some(1),
            canonical: SideRecord {
                model: "m".into(),
                backend: "candle".into(),
                fingerprint: "ts1-m".into(),
                threshold: 0.7,
                cosine: Some(0.75),
                pass: Some(true),
                encode_ms: 1.0,
                error: None,
            },
            shadow: None,
            replayed_at: None,
        }
    }

    /// A title holding U+2028, U+2029 or U+0085 (JSON allows them raw) was written raw, and
    /// Python's `str.splitlines` or a pre-ES2019 JavaScript reader split the record there.
    #[test]
    fn line_ending_characters_are_escaped_in_json_lines() {
        let mut r = record("p1");
        r.product = "Nike\u{2028}Air\u{2029}Max\u{85}90 caf\u{e9}".into();
        let mut buf = Vec::new();
        write_lines(&mut buf, &[r.clone()]);
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text.contains(['\u{2028}', '\u{2029}', '\u{85}']),
            "{text:?}"
        );
        // Other characters stay as they were (é is not escaped).
        assert!(
            text.contains("Nike\\u2028Air\\u2029Max\\u008590 caf\u{e9}"),
            "{text:?}"
        );
        assert_eq!(text.matches('\n').count(), 1);
        let back: ShadowRecord = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(back, r);
    }

    /// What readers count as a record lacking only its newline is ended, not cut (a one-line
    /// log with a byte-order mark included); what is not one JSON object is cut.
    #[test]
    fn a_writer_ends_a_whole_last_line_and_cuts_a_torn_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let mut line = Vec::new();
        write_lines(&mut line, &[record("1")]);
        line.pop();
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .unwrap()
        };
        for prefix in [&b""[..], b"\xEF\xBB\xBF"] {
            let mut bytes = prefix.to_vec();
            bytes.extend_from_slice(&line);
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(read_log(&path).unwrap().records.len(), 1);
            let (kept, cut) = end_or_cut_tail(&mut open()).unwrap();
            assert_eq!((kept, cut), (bytes.len() as u64 + 1, 0));
            bytes.push(b'\n');
            assert_eq!(std::fs::read(&path).unwrap(), bytes);
        }
        let mut bytes = line.clone();
        bytes.push(b'\n');
        bytes.extend_from_slice(&line[..line.len() - 1]);
        std::fs::write(&path, &bytes).unwrap();
        let (kept, cut) = end_or_cut_tail(&mut open()).unwrap();
        assert_eq!((kept, cut), (line.len() as u64 + 1, line.len() as u64 - 1));
    }

    #[test]
    fn written_lines_read_back_as_the_same_records() {
        let mut buf = Vec::new();
        let records = vec![record("1"), record("2")];
        write_lines(&mut buf, &records);
        assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 2);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, &buf).unwrap();
        let log = read_log(&path).unwrap();
        assert_eq!(log.records, records);
        assert!(log.skipped.is_empty());
    }

    #[test]
    fn complete_len_stops_after_the_last_newline() {
        let data = b"{\"a\":1}\n{\"b\":2}\n{\"c\"";
        let mut f = Cursor::new(data.to_vec());
        assert_eq!(complete_len(&mut f, data.len() as u64).unwrap(), 16);
        assert_eq!(complete_len(&mut f, 16).unwrap(), 16);
        assert_eq!(complete_len(&mut f, 5).unwrap(), 0);
        // Longer than one read buffer, with the only newline at the start.
        let mut long = b"x\n".to_vec();
        long.extend(std::iter::repeat_n(b'y', 200_000));
        let mut f = Cursor::new(long.clone());
        assert_eq!(complete_len(&mut f, long.len() as u64).unwrap(), 2);
    }
}
