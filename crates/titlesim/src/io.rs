//! Reading the inputs of the command line (and of anyone else): texts to embed and
//! product/ground-truth pairs to score.
//!
//! Every problem is an [`Error::Input`] naming the file (`-` for standard input), the
//! 1-based line and, where there is one, the field or column at fault.
//!
//! # Texts
//!
//! [`read_texts`] / [`TextReader`]:
//!
//! - **plain text** (any name not ending in `.jsonl`, `.ndjson` or `.json`): one text per line. Line ends are `\n`
//!   or `\r\n`, and the end is not part of the text. A final line end does not start another
//!   text (`"a\nb\n"` is two texts, as is `"a\nb"`), but an empty line *between* lines is an
//!   empty text (`"a\n\nb"` is three texts, the second empty): each line maps to exactly one
//!   output, so outputs line up with input lines. Other whitespace is kept as it is.
//! - **JSON lines** (name ends in `.jsonl`, `.ndjson` or `.json`, the names `replay` and pairs
//!   files take as JSON lines too): one JSON object per line with a string field
//!   `text`; other fields are ignored; blank lines are skipped.
//! - `-` (or no path) reads standard input as plain text.
//!
//! Invalid UTF-8, a NUL byte (which tokenizers drop without a word) and a line longer than
//! [`titlesim_log::MAX_LINE_BYTES`] (a file of another kind) are errors naming the file and
//! line, never a silent replacement. A UTF-8 byte-order mark at the start of a file is skipped,
//! in every format.
//!
//! # Pairs
//!
//! [`read_pairs`] reads a CSV file (`.csv`: a header row naming the columns, RFC 4180 quoting)
//! or a JSON-lines file (`.jsonl`, or `.ndjson` or `.json` holding one object per line) with the fields
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `id` | yes | unique key of the pair (a JSON number is taken as its decimal text) |
//! | `product` | yes | the answer title being judged |
//! | `gt` | yes | the ground-truth title |
//! | `phase` | no | the task phase (`qualifying`, `race`, ...); empty means none |
//! | `label` | no | a person's verdict: `1` same product, `0` not; empty means none |
//!
//! Extra columns are ignored; column names are matched exactly after trimming spaces, and a
//! header naming one of the columns above twice (or a JSON object with a key twice) is an
//! error rather than a guess at which one counts. Ids must
//! be unique (the error names both lines) and a file with no pair at all is an error. Every
//! pair then passes [`Pair::checked`], the rules all input paths share: ids and phases trimmed,
//! without control characters and at most 1,024 bytes, titles without NUL and at most 64 KiB. With `-`
//! (standard input) the format is sniffed: a first non-blank character `{` means JSON lines,
//! anything else CSV.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;
use titlesim_log::{line_too_long, BoundedLines};

use crate::{Error, Pair, Result};

fn input_err(path: &Path, line: u64, message: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn is_stdin(path: Option<&Path>) -> bool {
    path.is_none_or(|p| p.as_os_str() == "-")
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A name that says JSON lines: `.jsonl`, `.ndjson` or `.json` (as `replay` reads them).
fn is_json_lines_name(path: &Path) -> bool {
    ["jsonl", "ndjson", "json"]
        .iter()
        .any(|e| has_extension(path, e))
}

fn open(path: Option<&Path>) -> Result<(PathBuf, Box<dyn BufRead + Send>)> {
    if is_stdin(path) {
        return Ok((
            PathBuf::from("-"),
            Box::new(BufReader::new(BoundedLines::new(io::stdin()))),
        ));
    }
    let p = path.expect("checked above");
    let f = File::open(p).map_err(|e| Error::io(p, e))?;
    Ok((
        p.to_path_buf(),
        Box::new(BufReader::new(BoundedLines::new(f))),
    ))
}

/// A read error: a line over the limit is an input error at its line, the rest I/O errors.
fn read_err(path: &Path, e: io::Error) -> Error {
    match line_too_long(&e) {
        Some(t) => input_err(path, t.line, t.to_string()),
        None => Error::io(path, e),
    }
}

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &str = "\u{feff}";

/// Refuses a NUL byte in `text` (field `field` of line `line`): tokenizers drop it without a
/// word, so `iPhone\015` would be judged as `iPhone15`.
fn refuse_nul(path: &Path, line: u64, field: &str, text: &str) -> Result<()> {
    match text.find('\0') {
        Some(i) => Err(input_err(
            path,
            line,
            format!(
                "{field} holds a NUL byte (U+0000) at character {}: a corrupt or binary input?",
                text[..i].chars().count() + 1
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses a JSON object (of valid JSON `text`) that holds a key twice: serde keeps the last
/// one without a word.
fn refuse_duplicate_keys(path: &Path, line: u64, text: &str) -> Result<()> {
    struct Keys;
    impl<'de> serde::de::Visitor<'de> for Keys {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> std::result::Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                if !seen.insert(k.clone()) {
                    return Err(serde::de::Error::custom(format!(
                        "field `{k}` appears twice in the object"
                    )));
                }
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(())
        }
    }
    struct Unique;
    impl<'de> serde::Deserialize<'de> for Unique {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            d.deserialize_map(Keys).map(|()| Unique)
        }
    }
    serde_json::from_str::<Unique>(text)
        .map(|_| ())
        .map_err(|e| {
            let msg = e.to_string();
            // serde_json appends " at line 1 column N"; the file's line is in the prefix.
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            input_err(path, line, msg)
        })
}

/// How a text file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// One text per line.
    Lines,
    /// One JSON object per line with a string field `text`.
    Jsonl,
}

impl TextFormat {
    /// The format a file name implies: `.jsonl`, `.ndjson` and `.json` are
    /// [`TextFormat::Jsonl`] (a JSON file read as plain lines would embed each line's JSON as
    /// a text), anything else (and standard input) [`TextFormat::Lines`].
    pub fn for_path(path: Option<&Path>) -> Self {
        match path {
            Some(p) if !is_stdin(Some(p)) && is_json_lines_name(p) => TextFormat::Jsonl,
            _ => TextFormat::Lines,
        }
    }
}

/// Texts read one at a time, so a huge input need not fit in memory.
///
/// An iterator of `Result<String>`; after the first error it ends.
pub struct TextReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    format: TextFormat,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl std::fmt::Debug for TextReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("line", &self.line)
            .finish()
    }
}

impl TextReader {
    /// Opens `path` (`None` or `-`: standard input) in the format its name implies.
    pub fn open(path: Option<&Path>) -> Result<Self> {
        let (p, reader) = open(path)?;
        Ok(Self::from_reader(reader, p, TextFormat::for_path(path)))
    }

    /// Reads texts from any reader; `path` is only used in error messages.
    pub fn from_reader(
        reader: impl BufRead + Send + 'static,
        path: impl Into<PathBuf>,
        format: TextFormat,
    ) -> Self {
        TextReader {
            path: path.into(),
            reader: Box::new(reader),
            format,
            line: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The name used in error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads up to `n` texts; an empty vector means the input is exhausted.
    pub fn next_chunk(&mut self, n: usize) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(n.min(4096));
        while out.len() < n {
            match self.next() {
                Some(t) => out.push(t?),
                None => break,
            }
        }
        Ok(out)
    }

    fn read_line(&mut self) -> Result<Option<String>> {
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| read_err(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.line == 1 && self.buf.starts_with(BOM.as_bytes()) {
            self.buf.drain(..BOM.len());
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        match std::str::from_utf8(&self.buf) {
            Ok(s) => {
                refuse_nul(&self.path, self.line, "the line", s)?;
                Ok(Some(s.to_string()))
            }
            Err(e) => Err(input_err(
                &self.path,
                self.line,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
            )),
        }
    }

    fn next_text(&mut self) -> Result<Option<String>> {
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(None);
            };
            match self.format {
                TextFormat::Lines => return Ok(Some(line)),
                TextFormat::Jsonl => {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let v: Value = serde_json::from_str(&line).map_err(|e| {
                        input_err(&self.path, self.line, format!("invalid JSON: {e}"))
                    })?;
                    if v.is_object() {
                        refuse_duplicate_keys(&self.path, self.line, &line)?;
                    }
                    return match v.get("text") {
                        // `\u0000` decodes to the NUL the raw line did not hold yet.
                        Some(Value::String(s)) => {
                            refuse_nul(&self.path, self.line, "`text`", s)?;
                            Ok(Some(s.clone()))
                        }
                        Some(other) if v.is_object() => Err(input_err(
                            &self.path,
                            self.line,
                            format!("field `text` is not a string (found {})", kind(other)),
                        )),
                        _ if v.is_object() => {
                            Err(input_err(&self.path, self.line, "missing field `text`"))
                        }
                        _ => Err(input_err(
                            &self.path,
                            self.line,
                            format!(
                                "expected a JSON object with a field `text`, found {}",
                                kind(&v)
                            ),
                        )),
                    };
                }
            }
        }
    }
}

impl Iterator for TextReader {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if self.done {
            return None;
        }
        match self.next_text() {
            Ok(Some(t)) => Some(Ok(t)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Reads all texts of `path` (`None` or `-`: standard input); see the module documentation
/// for the formats.
pub fn read_texts(path: Option<&Path>) -> Result<Vec<String>> {
    TextReader::open(path)?.collect()
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The pairs of a file, in file order, with the line each starts on.
///
/// Dereferences to `[Pair]`; [`PairsFile::into_pairs`] hands the pairs over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairsFile {
    pairs: Vec<Pair>,
    lines: Vec<u64>,
}

impl PairsFile {
    /// The 1-based line of the file that pair `i` starts on.
    pub fn line(&self, i: usize) -> u64 {
        self.lines[i]
    }

    /// The pairs, in file order.
    pub fn into_pairs(self) -> Vec<Pair> {
        self.pairs
    }
}

impl std::ops::Deref for PairsFile {
    type Target = [Pair];
    fn deref(&self) -> &[Pair] {
        &self.pairs
    }
}

/// How a pairs file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl PairFormat {
    /// The format a file name implies: `.csv`, or `.jsonl`/`.ndjson`/`.json`; anything else
    /// is an error naming the file.
    pub fn for_path(path: &Path) -> Result<Self> {
        if has_extension(path, "csv") {
            Ok(PairFormat::Csv)
        } else if is_json_lines_name(path) {
            Ok(PairFormat::Jsonl)
        } else {
            Err(input_err(
                path,
                0,
                "cannot tell the format of a pairs file from its name: expected `.csv`, `.jsonl`, `.ndjson` or `.json` (JSON lines)",
            ))
        }
    }
}

/// Reads the pairs of `path` (`-`: standard input, format sniffed); see the module
/// documentation for the formats and checks.
pub fn read_pairs(path: &Path) -> Result<PairsFile> {
    if is_stdin(Some(path)) {
        let mut data = Vec::new();
        BoundedLines::new(io::stdin())
            .read_to_end(&mut data)
            .map_err(|e| read_err(Path::new("-"), e))?;
        // A byte-order mark is skipped here as the readers skip it.
        let body = data.strip_prefix(BOM.as_bytes()).unwrap_or(&data);
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        let format = if first == Some(&b'{') {
            PairFormat::Jsonl
        } else {
            PairFormat::Csv
        };
        return read_pairs_from(io::Cursor::new(data), Path::new("-"), format);
    }
    let format = PairFormat::for_path(path)?;
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    // Unbuffered here: `read_pairs_from` bounds the lines and each format buffers its reads.
    read_pairs_from(f, path, format)
}

/// Reads pairs from any reader in a given format; `path` is only used in messages.
pub fn read_pairs_from(reader: impl Read, path: &Path, format: PairFormat) -> Result<PairsFile> {
    let reader = BoundedLines::new(reader);
    let pairs = match format {
        PairFormat::Csv => read_csv(reader, path)?,
        PairFormat::Jsonl => read_jsonl(reader, path)?,
    };
    if pairs.is_empty() {
        // Reported at line 1 (a CSV's header): there is no data line to name.
        return Err(input_err(
            path,
            1,
            "no pairs: the file holds no data rows (a pairs file needs at least one pair)",
        ));
    }
    let mut seen: HashMap<&str, u64> = HashMap::with_capacity(pairs.len());
    for (p, line) in &pairs {
        if let Some(first) = seen.insert(&p.id, *line) {
            return Err(input_err(
                path,
                *line,
                format!("duplicate id `{}` (first on line {first})", p.id),
            ));
        }
    }
    let (pairs, lines) = pairs.into_iter().unzip();
    Ok(PairsFile { pairs, lines })
}

/// A pair id given as a JSON number, as its decimal text: an integer (`7` is `"7"`, as in a
/// CSV file). Another number is refused (the message says why): `1e2` or `3.0` would read as
/// `100.0` or `3.0` where a CSV file's `3` reads `3`, and an integer beyond 64 bits loses
/// digits (two ids could become one). Every JSON input of pairs (files, `/score`) applies it.
pub fn json_id(n: &serde_json::Number) -> std::result::Result<String, String> {
    if n.is_i64() || n.is_u64() {
        Ok(n.to_string())
    } else {
        Err(format!(
            "is the number {n} (as read), which is not an integer of at most 64 bits: a float or \
             a longer number does not keep its digits as an id; write the id as a string (in \
             quotes, as the source system has it)"
        ))
    }
}

/// A label given as a JSON value: `null`, `0`/`1` (also `0.0`/`1.0`), `true`/`false`, or the
/// strings `"0"`, `"1"` and `""` (empty). Every JSON input of pairs (files, `/score`) takes the
/// same values, as the Python `Scorer` takes 0, 1, 0.0, 1.0 and booleans; anything else is
/// refused (the message says what was found).
pub fn json_label(v: &Value) -> std::result::Result<Option<u8>, String> {
    let bad = |found: String| Err(format!("must be 0, 1, true, false or empty, found {found}"));
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(u8::from(*b))),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => Ok(Some(0)),
            Some(1.0) => Ok(Some(1)),
            _ => bad(n.to_string()),
        },
        Value::String(s) => match s.trim() {
            "" => Ok(None),
            "0" => Ok(Some(0)),
            "1" => Ok(Some(1)),
            other => bad(format!("`{other}`")),
        },
        other => bad(kind(other).to_string()),
    }
}

fn parse_label(path: &Path, line: u64, s: &str) -> Result<Option<u8>> {
    match s.trim() {
        "" => Ok(None),
        "0" => Ok(Some(0)),
        "1" => Ok(Some(1)),
        other => Err(input_err(
            path,
            line,
            format!("`label` must be 0, 1 or empty, found `{other}`"),
        )),
    }
}

/// A reader that keeps the bytes from a given offset on (the start of the CSV record last
/// read), so the last record can be checked for a quoted field the file ends inside.
struct KeepTail<R> {
    inner: R,
    kept: std::rc::Rc<std::cell::RefCell<(u64, Vec<u8>)>>,
}

impl<R: Read> Read for KeepTail<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.kept.borrow_mut().1.extend_from_slice(&out[..n]);
        Ok(n)
    }
}

/// Whether `record` (one CSV record's bytes, to the end of the file) ends inside a quoted
/// field: a crash-torn last line such as `7,"iPhone 1` — the csv crate reads it as a
/// complete field.
fn ends_inside_quotes(record: &[u8]) -> bool {
    let (mut in_quotes, mut field_start) = (false, true);
    let mut i = 0;
    while i < record.len() {
        let c = record[i];
        if in_quotes {
            if c == b'"' {
                if record.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    in_quotes = false;
                }
            }
        } else if c == b'"' && field_start {
            in_quotes = true;
            field_start = false;
        } else if c == b',' {
            field_start = true;
        } else if c == b'\n' {
            return false;
        } else {
            field_start = false;
        }
        i += 1;
    }
    in_quotes
}

fn read_csv(reader: impl Read, path: &Path) -> Result<Vec<(Pair, u64)>> {
    let kept = std::rc::Rc::new(std::cell::RefCell::new((0u64, Vec::new())));
    // The csv crate's own line numbers are off on `\r\n` files and after blank lines.
    let lines = titlesim_log::LineIndex::new();
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(KeepTail {
            inner: lines.reader(reader),
            kept: kept.clone(),
        });
    // Keep only the bytes from `start` on: after each record, the kept bytes begin with it.
    let keep_from = |start: u64| {
        let mut k = kept.borrow_mut();
        let (base, buf) = &mut *k;
        let cut = (start.saturating_sub(*base) as usize).min(buf.len());
        buf.drain(..cut);
        *base += cut as u64;
    };
    let mut last_line: Option<u64> = None;
    let csv_err = |e: csv::Error| -> Error {
        if let csv::ErrorKind::Io(err) = e.kind() {
            if line_too_long(err).is_none() {
                return Error::io(path, io::Error::new(err.kind(), err.to_string()));
            }
        }
        let (line, message) = titlesim_log::csv_problem(&e, &lines);
        input_err(path, line, message)
    };
    let headers = r.headers().map_err(csv_err)?.clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(input_err(
            path,
            1,
            "empty file: expected a header row naming the columns id, product, gt",
        ));
    }
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    for name in ["id", "product", "gt", "phase", "label"] {
        let at: Vec<String> = headers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim() == name)
            .map(|(i, _)| (i + 1).to_string())
            .collect();
        if at.len() > 1 {
            return Err(input_err(
                path,
                1,
                format!(
                    "column `{name}` appears {} times in the header (columns {}): keep one",
                    at.len(),
                    at.join(", ")
                ),
            ));
        }
    }
    let have = || {
        headers
            .iter()
            .map(|h| h.trim())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let required = |name: &str| {
        col(name).ok_or_else(|| {
            input_err(
                path,
                1,
                format!("missing column `{name}` (the header has: {})", have()),
            )
        })
    };
    let (id_c, product_c, gt_c) = (required("id")?, required("product")?, required("gt")?);
    let (phase_c, label_c) = (col("phase"), col("label"));

    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match r.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_err(e)),
        }
        let line = rec.position().map(|p| lines.line_at(p.byte())).unwrap_or(0);
        if let Some(pos) = rec.position() {
            keep_from(pos.byte());
            last_line = Some(line);
        }
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // a blank line
        }
        let pair = Pair {
            id: rec[id_c].to_string(),
            product: rec[product_c].to_string(),
            gt: rec[gt_c].to_string(),
            phase: phase_c.map(|c| rec[c].to_string()),
            label: match label_c {
                Some(c) => parse_label(path, line, &rec[c])?,
                None => None,
            },
        };
        let pair = pair
            .checked()
            .map_err(|e| input_err(path, line, e.to_string()))?;
        out.push((pair, line));
    }
    if let Some(line) = last_line {
        if ends_inside_quotes(&kept.borrow().1) {
            return Err(input_err(
                path,
                line,
                "the file ends inside a quoted field (a torn last line?): close the quote, or \
                 remove the line",
            ));
        }
    }
    Ok(out)
}

fn read_jsonl(reader: impl Read, path: &Path) -> Result<Vec<(Pair, u64)>> {
    let mut r = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut out = Vec::new();
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_err(path, e))?;
        if n == 0 {
            break;
        }
        line += 1;
        if line == 1 && buf.starts_with(BOM.as_bytes()) {
            buf.drain(..BOM.len());
        }
        let text = std::str::from_utf8(&buf).map_err(|e| {
            input_err(
                path,
                line,
                format!("invalid UTF-8 at byte {} of the line", e.valid_up_to() + 1),
            )
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(text).map_err(|e| {
            let hint = if line == 1 && text.starts_with('[') {
                " (a JSON array is not supported: write one object per line)"
            } else {
                ""
            };
            input_err(path, line, format!("invalid JSON: {e}{hint}"))
        })?;
        let obj = v.as_object().ok_or_else(|| {
            input_err(
                path,
                line,
                format!("expected a JSON object, found {}", kind(&v)),
            )
        })?;
        refuse_duplicate_keys(path, line, text)?;
        let string = |name: &str, required: bool| -> Result<Option<String>> {
            match obj.get(name) {
                Some(Value::String(s)) => Ok(Some(s.clone())),
                None | Some(Value::Null) if !required => Ok(None),
                None => Err(input_err(path, line, format!("missing field `{name}`"))),
                Some(other) => Err(input_err(
                    path,
                    line,
                    format!("field `{name}` must be a string, found {}", kind(other)),
                )),
            }
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => {
                json_id(n).map_err(|e| input_err(path, line, format!("field `id` {e}")))?
            }
            None => return Err(input_err(path, line, "missing field `id`")),
            Some(other) => {
                return Err(input_err(
                    path,
                    line,
                    format!(
                        "field `id` must be a string or a number, found {}",
                        kind(other)
                    ),
                ))
            }
        };
        for (name, v) in obj {
            if let Value::String(t) = v {
                refuse_nul(path, line, &format!("field `{name}`"), t)?;
            }
        }
        let label = match obj.get("label") {
            None => None,
            Some(v) => {
                json_label(v).map_err(|e| input_err(path, line, format!("field `label` {e}")))?
            }
        };
        let pair = Pair {
            id,
            product: string("product", true)?.unwrap_or_default(),
            gt: string("gt", true)?.unwrap_or_default(),
            phase: string("phase", false)?,
            label,
        };
        let pair = pair
            .checked()
            .map_err(|e| input_err(path, line, e.to_string()))?;
        out.push((pair, line));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(data: &[u8], format: TextFormat) -> Result<Vec<String>> {
        TextReader::from_reader(io::Cursor::new(data.to_vec()), "t.txt", format).collect()
    }

    #[test]
    fn line_rules() {
        assert_eq!(texts(b"a\nb\n", TextFormat::Lines).unwrap(), ["a", "b"]);
        assert_eq!(texts(b"a\nb", TextFormat::Lines).unwrap(), ["a", "b"]);
        assert_eq!(
            texts(b"a\n\nb\n", TextFormat::Lines).unwrap(),
            ["a", "", "b"]
        );
        assert_eq!(
            texts(b"a\r\n b \r\n", TextFormat::Lines).unwrap(),
            ["a", " b "]
        );
        assert_eq!(texts(b"\n", TextFormat::Lines).unwrap(), [""]);
        assert!(texts(b"", TextFormat::Lines).unwrap().is_empty());
    }

    #[test]
    fn chunks() {
        let mut r = TextReader::from_reader(
            io::Cursor::new(b"1\n2\n3\n".to_vec()),
            "x",
            TextFormat::Lines,
        );
        assert_eq!(r.next_chunk(2).unwrap(), ["1", "2"]);
        assert_eq!(r.next_chunk(2).unwrap(), ["3"]);
        assert!(r.next_chunk(2).unwrap().is_empty());
    }
}
