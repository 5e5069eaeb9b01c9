//! The history to replay: a Parquet, CSV or JSON-lines table of past pairs, or shadow logs,
//! read by DataFusion, its rows selected by an SQL predicate.
//!
//! Every kind of input is seen through one selection with the same columns (`id`, `product`,
//! `gt`, `phase`, `label`, `ts`), so the scoring loop reads one shape whatever the file was.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use datafusion::common::TableReference;
use datafusion::prelude::SessionContext;
use datafusion::prelude::{CsvReadOptions, DataFrame, JsonReadOptions, ParquetReadOptions};
use titlesim_core::{excerpt, Pair};
use titlesim_log::time::{format_rfc3339_ms, parse_rfc3339_ms};

use crate::{Error, Result};

/// The table name a history is registered under.
pub const TABLE: &str = "history";

/// How a history file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// CSV with a header row (`.csv`); every column is read as text, so ids keep their
    /// leading zeros.
    Csv,
    /// JSON lines (`.jsonl`, `.ndjson`, `.json`): one object per line.
    Jsonl,
}

impl Format {
    /// The format a file name's extension says, if any.
    pub fn of_extension(ext: &str) -> Option<Format> {
        match ext.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Some(Format::Parquet),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// A history registered in a DataFusion session.
#[derive(Debug, Clone)]
pub struct History {
    /// The file or folder.
    pub path: PathBuf,
    /// How it is read.
    pub format: Format,
    /// Whether it is a titlesim shadow log (its `pair_id` is the id; its titles are scored
    /// again, its old cosines ignored).
    pub shadow_log: bool,
    /// The columns it has.
    pub columns: Vec<String>,
}

/// The file extension and format of `path`: its own for a file, its files' for a folder (a
/// folder of several kinds is refused).
pub fn format_of(path: &Path) -> Result<(String, Format)> {
    let ext_of = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .and_then(|e| Format::of_extension(e).map(|f| (e.to_string(), f)))
    };
    if !path.is_dir() {
        if !path.exists() {
            return Err(Error::history(path, "no such file or folder"));
        }
        return ext_of(path).ok_or_else(|| {
            Error::history(
                path,
                "unknown kind of file: name it .parquet, .csv, .jsonl (or .ndjson, .json)",
            )
        });
    }
    let mut kinds: Vec<(String, Format)> = Vec::new();
    let entries =
        std::fs::read_dir(path).map_err(|e| Error::Core(titlesim_core::Error::io(path, e)))?;
    for e in entries.flatten() {
        if let Some(k) = ext_of(&e.path()) {
            if !kinds.iter().any(|(x, _)| *x == k.0) {
                kinds.push(k);
            }
        }
    }
    match kinds.len() {
        1 => Ok(kinds.remove(0)),
        0 => Err(Error::history(
            path,
            "the folder holds no .parquet, .csv or .jsonl files",
        )),
        _ => Err(Error::history(
            path,
            format!(
                "the folder mixes kinds of files ({}); keep one kind per folder",
                kinds
                    .iter()
                    .map(|(e, _)| format!(".{e}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The file at `path`, or the files of the folder at `path` whose name ends `.{ext}` (as
/// DataFusion lists them), in name order.
fn files_of(path: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let suffix = format!(".{ext}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| Error::Core(titlesim_core::Error::io(path, e)))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(&suffix))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// What a folder read as a table leaves out: its files (not hidden ones, such as titlesim's
/// own temporary files) whose names do not end with the extension the folder is read by
/// (rotated logs named `shadow.jsonl.1`, a stray `notes.txt`), in name order; nothing for a
/// file, or for a folder that cannot be read as a table.
pub fn files_left_out(path: &Path) -> Vec<PathBuf> {
    if !path.is_dir() {
        return Vec::new();
    }
    match format_of(path) {
        Ok((ext, _)) => left_out(path, &ext),
        Err(_) => Vec::new(),
    }
}

/// [`files_left_out`] of the folder at `path`, read by `ext`.
fn left_out(path: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let suffix = format!(".{ext}");
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_none_or(|n| {
                    !n.starts_with('.') && !n.starts_with('_') && !n.ends_with(&suffix)
                })
        })
        .collect();
    out.sort();
    out
}

/// `folder: N files not read (a, b, …): only its .EXT files are`, when [`files_left_out`]
/// finds some.
pub fn left_out_note(path: &Path) -> Option<String> {
    if !path.is_dir() {
        return None;
    }
    let (ext, _) = format_of(path).ok()?;
    let out = left_out(path, &ext);
    if out.is_empty() {
        return None;
    }
    const SHOWN: usize = 5;
    let mut names: Vec<String> = out
        .iter()
        .take(SHOWN)
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if out.len() > SHOWN {
        names.push(format!("{} more", out.len() - SHOWN));
    }
    Some(format!(
        "{}: {} not read ({}): only the folder's .{ext} files are (rotated logs are read when \
         their names end in .{ext}, as logrotate's `extension .{ext}` names them)",
        path.display(),
        if out.len() == 1 {
            "1 file".to_string()
        } else {
            format!("{} files", out.len())
        },
        names.join(", ")
    ))
}

/// Refuses, naming the file and line, what DataFusion's JSON-lines reader fails on with only
/// "Json error ... at line 1 column 28" (its line counts from the start of a chunk, not of
/// the file): a byte-order mark, a line that is not one JSON object (a hand edit, two objects
/// on one line, a line of a pretty-printed file), and a torn last line (no newline at its end
/// and not JSON: a write cut short, as a crash or a log still being written leaves). The other
/// readers skip a torn line; this one reads the files as they are, so it says how to mend
/// them. Blank lines pass, as DataFusion reads them.
fn check_jsonl(path: &Path, ext: &str) -> Result<()> {
    use std::io::{BufRead, Read};
    for file in files_of(path, ext)? {
        let io = |e| Error::Core(titlesim_core::Error::io(&file, e));
        let f = std::fs::File::open(&file).map_err(io)?;
        let mut r = std::io::BufReader::with_capacity(1 << 16, f);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            // At most one byte past the longest line any titlesim reader takes.
            let got = (&mut r)
                .take(titlesim_log::MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(io)?;
            if got == 0 {
                break;
            }
            n += 1;
            if n == 1 && line.starts_with(&[0xEF, 0xBB, 0xBF]) {
                return Err(Error::history(
                    &file,
                    "starts with a byte-order mark, which the JSON-lines reader of replay and \
                     sql cannot take: save the file without it (`sed -i '1s/^\\xEF\\xBB\\xBF//' \
                     FILE`)",
                ));
            }
            let whole = line.ends_with(b"\n");
            if !whole && line.len() > titlesim_log::MAX_LINE_BYTES {
                return Err(Error::history(
                    &file,
                    format!(
                        "line {n} is longer than {} MiB, the longest line titlesim reads",
                        titlesim_log::MAX_LINE_BYTES >> 20
                    ),
                ));
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let why = if text.first() != Some(&b'{') {
                Some("it does not start with `{`".to_string())
            } else {
                serde_json::from_slice::<serde::de::IgnoredAny>(text)
                    .err()
                    .map(|e| json_error_in_line(&e))
            };
            let Some(why) = why else { continue };
            if !whole {
                return Err(Error::history(
                    &file,
                    format!(
                        "line {n}, the last, is torn (no newline at its end and not JSON: a \
                         write cut short, or a log still being written); replay and sql read \
                         whole files, so read it once its writer has finished, or without that \
                         line (`head -n {} FILE > whole.jsonl`)",
                        n - 1
                    ),
                ));
            }
            return Err(Error::history(
                &file,
                format!(
                    "line {n} is not one JSON object ({why}); every line of a JSON-lines \
                     history is one object, `{{\"id\": ..., \"product\": ..., \"gt\": ...}}`: \
                     mend the line or remove it"
                ),
            ));
        }
    }
    Ok(())
}

/// Refuses, naming the file and line, what DataFusion's CSV reader fails on without naming the
/// file of a folder (its line counts are its own, too): a row with more or fewer cells than
/// the header, text that is not UTF-8 (a spreadsheet's Windows-1252 export), a line longer
/// than any titlesim reads. One pass over each file before DataFusion reads it, cheap next to
/// embedding its titles.
fn check_csv(path: &Path, ext: &str) -> Result<()> {
    for file in files_of(path, ext)? {
        let f = std::fs::File::open(&file)
            .map_err(|e| Error::Core(titlesim_core::Error::io(&file, e)))?;
        let lines = titlesim_log::LineIndex::new();
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(lines.reader(titlesim_log::BoundedLines::new(f)));
        let at = |e: csv::Error| {
            let (line, message) = titlesim_log::csv_problem(&e, &lines);
            match line {
                0 => Error::history(&file, format!("cannot read it: {message}")),
                n => Error::history(&file, format!("line {n}: {message}")),
            }
        };
        rdr.headers().map_err(at)?;
        let mut record = csv::StringRecord::new();
        while rdr.read_record(&mut record).map_err(at)? {
            // Passes the line ends read so far, so the index holds a record's worth of them,
            // not the whole file's.
            if let Some(p) = record.position() {
                lines.line_at(p.byte());
            }
        }
    }
    Ok(())
}

/// serde_json's message for an error within one line, with the column but without its
/// "line 1" (the line is the file's, named by the caller).
fn json_error_in_line(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("{} at column {}", &text[..i], e.column()),
        None => text,
    }
}

/// The header row of a CSV file, or the one header row of a folder's CSV files (those whose
/// name ends `.{ext}`, as DataFusion lists them). The schema built from it is applied to every
/// file by position, so a folder whose files' headers differ (the same columns in another
/// order would be read swapped) is refused, naming two files and their headers; so is an empty
/// file (it has no header row).
fn csv_header(path: &Path, ext: &str) -> Result<Vec<String>> {
    let files = files_of(path, ext)?;
    let mut first: Option<(PathBuf, Vec<String>)> = None;
    for file in files {
        let header = read_csv_header(&file)?;
        match &first {
            None => first = Some((file, header)),
            Some((f, h)) if *h != header => {
                return Err(Error::history(
                    path,
                    format!(
                        "the folder's CSV files have different header rows: {} has `{}`, {} has \
                         `{}`; every file of a folder is read with one header (columns by \
                         position), so give them the same columns in the same order",
                        f.display(),
                        h.join(","),
                        file.display(),
                        header.join(",")
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    first
        .map(|(_, h)| h)
        .ok_or_else(|| Error::history(path, "the folder holds no CSV files"))
}

/// The header row of one CSV file; an empty file is an error naming it.
fn read_csv_header(file: &Path) -> Result<Vec<String>> {
    let mut r = csv::Reader::from_path(file)
        .map_err(|e| Error::history(file, format!("cannot read the header row: {e}")))?;
    let h = r
        .headers()
        .map_err(|e| Error::history(file, format!("cannot read the header row: {e}")))?;
    if h.is_empty() {
        return Err(Error::history(
            file,
            "the file is empty: a CSV file needs a header row naming its columns",
        ));
    }
    Ok(h.iter().map(|s| s.to_string()).collect())
}

/// Registers the file or folder at `path` as table `name` of `ctx`, read as its extension
/// says (CSV columns all as text); returns how it is read and its columns.
///
/// `name` is parsed as SQL would (`a.b` is table `b` of schema `a`); pass a
/// `TableReference::bare` to register a name holding dots, such as a file name a query reads
/// with `FROM 'pairs.csv'`.
pub async fn register_table(
    ctx: &SessionContext,
    name: impl Into<TableReference>,
    path: &Path,
) -> Result<(Format, Vec<String>)> {
    let name: TableReference = name.into();
    let (ext, format) = format_of(path)?;
    let dotted = format!(".{ext}");
    let location = path.to_string_lossy().to_string();
    let ctx_err = |e: datafusion::error::DataFusionError| {
        Error::history(path, format!("cannot read it: {e}"))
    };
    match format {
        Format::Parquet => {
            let opts = ParquetReadOptions {
                file_extension: &dotted,
                ..Default::default()
            };
            ctx.register_parquet(name.clone(), &location, opts)
                .await
                .map_err(ctx_err)?;
        }
        Format::Csv => {
            // Every column as text: inference would turn the id `007` into the number 7.
            let header = csv_header(path, &ext)?;
            check_csv(path, &ext)?;
            let schema = Schema::new(
                header
                    .iter()
                    .map(|h| Field::new(h, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            );
            let opts = CsvReadOptions::new()
                .has_header(true)
                .newlines_in_values(true)
                .file_extension(&dotted)
                .schema(&schema);
            ctx.register_csv(name.clone(), &location, opts)
                .await
                .map_err(ctx_err)?;
        }
        Format::Jsonl => {
            check_jsonl(path, &ext)?;
            let opts = JsonReadOptions::default().file_extension(&dotted);
            ctx.register_json(name.clone(), &location, opts)
                .await
                .map_err(ctx_err)?;
        }
    }
    let table = ctx.table(name).await.map_err(ctx_err)?;
    let columns: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    Ok((format, columns))
}

/// Registers the history at `path` (a file, or a folder of files of one kind) as table
/// [`TABLE`] of `ctx`, and checks it has the columns a pair needs.
pub async fn register(ctx: &SessionContext, path: &Path) -> Result<History> {
    let (format, columns) = register_table(ctx, TABLE, path).await?;
    let has = |c: &str| columns.iter().any(|x| x == c);
    let shadow_log = has("pair_id") && has("canonical");
    let id = if shadow_log { "pair_id" } else { "id" };
    let missing: Vec<&str> = [id, "product", "gt"]
        .into_iter()
        .filter(|c| !has(c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::history(
            path,
            format!(
                "no column {} (it has: {}); a history needs id, product and gt (optional: phase, \
                 label, ts), or is a titlesim shadow log",
                missing.join(", "),
                columns.join(", ")
            ),
        ));
    }
    Ok(History {
        path: path.to_path_buf(),
        format,
        shadow_log,
        columns,
    })
}

/// An SQL identifier, quoted.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl History {
    fn has(&self, c: &str) -> bool {
        self.columns.iter().any(|x| x == c)
    }

    /// The SQL that selects the pairs (columns `id, product, gt, phase, label, ts`) of the rows
    /// `predicate` keeps (an SQL boolean expression over the history's own columns).
    pub fn selection_sql(&self, predicate: Option<&str>) -> String {
        let id = if self.shadow_log { "pair_id" } else { "id" };
        let opt = |c: &str, cast_to: Option<&str>| {
            if self.has(c) {
                match cast_to {
                    Some(t) => format!("CAST({} AS {t}) AS {c}", ident(c)),
                    None => format!("{} AS {c}", ident(c)),
                }
            } else {
                format!("NULL AS {c}")
            }
        };
        // The id as stored: its type decides how it reads as text (see `ids`).
        let mut sql = format!(
            "SELECT {} AS id, CAST(product AS VARCHAR) AS product, \
             CAST(gt AS VARCHAR) AS gt, {}, {}, {} FROM {TABLE}",
            ident(id),
            opt("phase", Some("VARCHAR")),
            // DOUBLE, not BIGINT: a cast to an integer would turn a label of 0.9 into 0
            opt("label", Some("DOUBLE")),
            opt("ts", None),
        );
        if let Some(p) = predicate.filter(|p| !p.trim().is_empty()) {
            sql.push_str(&format!(" WHERE ({p})"));
        }
        sql
    }

    /// A DataFusion error while `context`, with a hint where a CSV history's text columns
    /// met a number (`label = 1` casts the column to an integer, which `1.0` is not).
    pub(crate) fn query_error(&self, context: String, e: impl std::fmt::Display) -> Error {
        let mut message = e.to_string();
        if self.format == Format::Csv && message.contains("Cast error") {
            message.push_str(
                "; a CSV history's columns are text: compare them as text (label = '1') or \
                 cast them (CAST(label AS DOUBLE) = 1)",
            );
        }
        Error::query(context, message)
    }

    /// The selected rows as a DataFrame, with the predicate checked by DataFusion.
    pub async fn select(&self, ctx: &SessionContext, predicate: Option<&str>) -> Result<DataFrame> {
        ctx.sql(&self.selection_sql(predicate)).await.map_err(|e| {
            Error::query(
                match predicate {
                    Some(p) => format!("--where {p:?} on {}", self.path.display()),
                    None => format!("selecting the pairs of {}", self.path.display()),
                },
                e,
            )
        })
    }
}

/// One selected row: its pair and, when the history had one, its time (RFC 3339, UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The pair.
    pub pair: Pair,
    /// The time of the original pair.
    pub ts: Option<String>,
    /// Whether the history had no product or no gt for it (NULL), read as an empty title.
    pub missing_title: bool,
}

/// Text values of a column, whatever string type DataFusion chose.
fn strings(col: &ArrayRef) -> std::result::Result<Vec<Option<String>>, String> {
    let c = cast(col, &DataType::Utf8).map_err(|e| e.to_string())?;
    let s = c.as_string::<i32>();
    Ok((0..s.len())
        .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
        .collect())
}

/// The `id` column's values as text: strings, integers and whole decimals as written (`7`
/// is `"7"`, as `titlesim score` reads it). A column of floating-point numbers (or decimals
/// with a fraction) is refused: DataFusion reads JSON ids such as `1.5`, `2.0`, `3`, or an
/// integer past 63 bits, as floats, and `3` would read `3.0` where `score` and `shadow` log
/// `3` (resume and calibration match records by id), and a long id would lose digits.
fn ids(col: &ArrayRef) -> std::result::Result<Vec<Option<String>>, String> {
    match col.data_type() {
        t @ (DataType::Float16 | DataType::Float32 | DataType::Float64) => Err(format!(
            "the ids are read as floating-point numbers ({t}), as JSON ids with a fraction or \
             exponent, or past 63 bits, are: `3` would be logged as `3.0`, unlike `titlesim \
             score`'s `3`, and long ids lose digits; write the ids as strings (in quotes in \
             JSON)"
        )),
        t @ (DataType::Decimal128(_, s) | DataType::Decimal256(_, s)) if *s != 0 => Err(format!(
            "the ids are decimals with a fraction ({t}): `3` would be logged as `3.00`, unlike \
             `titlesim score`'s `3`; write the ids as strings or integers"
        )),
        _ => strings(col),
    }
}

/// Times of the `ts` column as RFC 3339 in UTC (milliseconds): strings in RFC 3339, or
/// timestamps.
fn times(col: &ArrayRef) -> std::result::Result<Vec<Option<String>>, String> {
    match col.data_type() {
        DataType::Null => Ok(vec![None; col.len()]),
        DataType::Timestamp(_, tz) => {
            let ms = cast(col, &DataType::Timestamp(TimeUnit::Millisecond, tz.clone()))
                .and_then(|c| cast(&c, &DataType::Int64))
                .map_err(|e| e.to_string())?;
            let ms = ms.as_primitive::<Int64Type>();
            // The cast to milliseconds makes a value it cannot hold a NULL (seconds past
            // 2^63 ms: nanoseconds stored as seconds), which would be logged as the replay's
            // own time: refused instead.
            if let Some(i) = (0..ms.len()).find(|&i| ms.is_null(i) && !col.is_null(i)) {
                return Err(format!(
                    "row {} holds a timestamp beyond what milliseconds since 1970 can hold (a \
                     time in nanoseconds stored as seconds?)",
                    i + 1
                ));
            }
            // A timestamp outside the years 0000 to 9999 has no RFC 3339 text: written as
            // `10000-01-01T...`, the log's own readers would refuse the record.
            (0..ms.len())
                .map(|i| {
                    if ms.is_null(i) {
                        return Ok(None);
                    }
                    let t = format_rfc3339_ms(ms.value(i));
                    match parse_rfc3339_ms(&t) {
                        Some(back) if back == ms.value(i) => Ok(Some(t)),
                        _ => Err(format!(
                            "a timestamp ({t}) outside the years 0000 to 9999 an RFC 3339 time \
                             can hold"
                        )),
                    }
                })
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => strings(col)?
            .into_iter()
            .map(|t| match t {
                None => Ok(None),
                Some(t) => parse_rfc3339_ms(&t)
                    .map(|ms| Some(format_rfc3339_ms(ms)))
                    .ok_or_else(|| format!("ts `{t}` is not an RFC 3339 time")),
            })
            .collect(),
        other => Err(format!(
            "column ts is {other}; it must hold RFC 3339 times as text, or timestamps"
        )),
    }
}

impl History {
    /// The rows of a batch of [`History::selection_sql`], each pair as [`Pair::checked`] takes
    /// it (ids and phases trimmed; a missing product or gt read as an empty title, see
    /// [`Row::missing_title`]). A row without an id, a pair [`Pair::checked`] refuses (an empty id, a control character in the id or phase, a
    /// reserved phase, a NUL byte or over 64 KiB in a title), a label other than 0 or 1, or a
    /// time that is not RFC 3339 is an error naming the pair.
    pub fn rows(&self, batch: &RecordBatch) -> Result<Vec<Row>> {
        let err = |m: String| Error::history(&self.path, m);
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| err(format!("the selection has no column {name}")))
        };
        let ids = ids(&col("id")?).map_err(|e| err(format!("column id: {e}")))?;
        let products =
            strings(&col("product")?).map_err(|e| err(format!("column product: {e}")))?;
        let gts = strings(&col("gt")?).map_err(|e| err(format!("column gt: {e}")))?;
        let phases = strings(&col("phase")?).map_err(|e| err(format!("column phase: {e}")))?;
        let labels = cast(&col("label")?, &DataType::Float64)
            .map_err(|e| err(format!("column label: {e}")))?;
        let labels = labels.as_primitive::<Float64Type>();
        let ts = times(&col("ts")?).map_err(|e| err(format!("column ts: {e}")))?;
        let mut out = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let Some(id) = ids[i].clone() else {
                return Err(err(format!(
                    "a row has no id (product {:?}, gt {:?})",
                    products[i], gts[i]
                )));
            };
            // A missing title (NULL: an empty CSV field, a JSON null) is an empty one, scored
            // by the blank-title rule as `titlesim score` scores an empty field and `sql`'s
            // `title_cosine` a NULL; the run's note counts such pairs.
            let missing_title = products[i].is_none() || gts[i].is_none();
            let product = products[i].clone().unwrap_or_default();
            let gt = gts[i].clone().unwrap_or_default();
            // The rules every input path applies: ids and phases trimmed, no control
            // characters, no reserved phase, no NUL or over-long title.
            let pair = Pair {
                id,
                product,
                gt,
                phase: phases[i].clone(),
                label: None,
            };
            let mut pair = match pair.clone().checked() {
                Ok(p) => p,
                Err(e) if e.field == "id" => {
                    return Err(err(format!(
                        "a row's id {:?} {} (product {}, gt {})",
                        pair.id,
                        e.problem,
                        excerpt(&pair.product),
                        excerpt(&pair.gt)
                    )))
                }
                Err(e) => return Err(err(format!("pair `{}`: {e}", pair.id.trim()))),
            };
            pair.label = if labels.is_null(i) {
                None
            } else {
                match labels.value(i) {
                    0.0 => Some(0),
                    1.0 => Some(1),
                    v => {
                        return Err(err(format!(
                            "pair `{}` has label {v}; a label is 1 (same product) or 0",
                            pair.id
                        )))
                    }
                }
            };
            out.push(Row {
                pair,
                ts: ts[i].clone(),
                missing_title,
            });
        }
        Ok(out)
    }
}

/// Refuses a pair id seen before: two different pairs under one id would make the log
/// ambiguous. Records of a shadow log that repeat an id with the same titles, phase and label
/// (a resumed run wrote one twice) are dropped and counted instead, the first kept, as
/// `titlesim shadow --resume` reads them; a repeat with other titles, phase or label is an
/// error, as calibrate, review and burn-in refuse it (which record came first can depend on
/// how the history's files were split across partitions).
#[derive(Debug, Default)]
pub struct Ids {
    /// Each id seen, with a hash of its pair's titles, phase and label.
    seen: HashMap<String, u128>,
    /// Repeated records of a shadow log that were dropped.
    pub repeated: u64,
}

impl Ids {
    /// Keeps the rows whose id is new; a repeated id is an error unless `history` is a shadow
    /// log.
    pub fn keep_new(&mut self, history: &History, rows: Vec<Row>) -> Result<Vec<Row>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            // 128 bits (two hashes of the pair, salted apart): a history built to collide
            // would need about 2^64 tries to pass a conflict off as a repeat. Only a shadow
            // log's repeats are compared; in another history any repeat is refused.
            let content = if !history.shadow_log {
                0
            } else {
                use std::hash::{Hash, Hasher};
                let half = |salt: u8| {
                    let mut h = std::hash::DefaultHasher::new();
                    (
                        salt,
                        &r.pair.product,
                        &r.pair.gt,
                        &r.pair.phase,
                        r.pair.label,
                    )
                        .hash(&mut h);
                    h.finish()
                };
                (u128::from(half(0)) << 64) | u128::from(half(1))
            };
            let first = match self.seen.entry(r.pair.id.clone()) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(content);
                    out.push(r);
                    continue;
                }
                std::collections::hash_map::Entry::Occupied(o) => *o.get(),
            };
            if history.shadow_log && first == content {
                self.repeated += 1;
            } else if history.shadow_log {
                return Err(Error::history(
                    &history.path,
                    format!(
                        "pair id `{}` is logged twice with other titles, phase or label (the \
                         second: product {}, gt {}): two pairs under one id; give them their own \
                         ids, or leave one record out with --where",
                        r.pair.id,
                        excerpt(&r.pair.product),
                        excerpt(&r.pair.gt)
                    ),
                ));
            } else {
                return Err(Error::history(
                    &history.path,
                    format!(
                        "pair id `{}` appears more than once in the selected rows; ids must be \
                         unique",
                        r.pair.id
                    ),
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session;

    async fn register_err(path: &Path) -> String {
        let ctx = session(1, 1024);
        register(&ctx, path).await.unwrap_err().to_string()
    }

    /// The rows of a CSV history's selection, or the error.
    async fn rows_of(csv: &str) -> Result<Vec<Row>> {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("h.csv");
        std::fs::write(&path, csv).unwrap();
        let ctx = session(1, 1024);
        let h = register(&ctx, &path).await?;
        let mut out = Vec::new();
        for b in h.select(&ctx, None).await?.collect().await.unwrap() {
            out.extend(h.rows(&b)?);
        }
        Ok(out)
    }

    /// A folder's CSV files are read with one header, by position: a file with the columns
    /// in another order had its product and phase swapped, silently. Now refused, naming both
    /// files and headers; an empty file is refused by name.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_folder_of_csv_files_needs_one_header_and_no_empty_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.csv"), "id,product,gt,phase\n1,p,g,race\n").unwrap();
        std::fs::write(d.path().join("b.csv"), "id,phase,gt,product\n2,race,g,p\n").unwrap();
        let e = register_err(d.path()).await;
        assert!(e.contains("different header rows"), "{e}");
        assert!(e.contains("a.csv has `id,product,gt,phase`"), "{e}");
        assert!(e.contains("b.csv has `id,phase,gt,product`"), "{e}");

        // The same header everywhere is read; an empty file is named.
        std::fs::write(d.path().join("b.csv"), "id,product,gt,phase\n2,p,g,race\n").unwrap();
        let ctx = session(1, 1024);
        register(&ctx, d.path()).await.unwrap();
        std::fs::write(d.path().join("c.csv"), "").unwrap();
        let e = register_err(d.path()).await;
        assert!(e.contains("c.csv: the file is empty"), "{e}");
        let e = register_err(&d.path().join("c.csv")).await;
        assert!(e.contains("c.csv: the file is empty"), "{e}");
    }

    /// A ragged row or a Windows-1252 cell in one file of a folder: DataFusion's error named
    /// no file, and counted lines its own way. Named now, at the file's line (`\r\n` ends and
    /// a quoted cell over two lines included).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_row_in_a_folder_of_csv_files_is_named_by_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a.csv"), "id,product,gt\n1,p,g\n").unwrap();
        std::fs::write(
            d.path().join("b.csv"),
            "id,product,gt\r\n2,\"two\r\nlines\",g\r\n3,p,g,extra\r\n",
        )
        .unwrap();
        let e = register_err(d.path()).await;
        let b = d.path().join("b.csv");
        assert_eq!(
            e,
            format!(
                "{}: line 4: row has 4 cells where the header has 3: a comma or a quote too \
                 many or too few (a cell that holds a comma is quoted: \"a, b\")",
                b.display()
            )
        );
        std::fs::write(&b, b"id,product,gt\n2,caf\xe9,g\n").unwrap();
        let e = register_err(d.path()).await;
        assert!(
            e.starts_with(&format!(
                "{}: line 2: cell 2 is not UTF-8 text",
                b.display()
            )),
            "{e}"
        );
        // Mended, the folder is read.
        std::fs::write(&b, "id,product,gt\n2,caf\u{e9},g\n").unwrap();
        assert_eq!(rows_of_folder(d.path()).await.len(), 2);
    }

    async fn rows_of_folder(path: &Path) -> Vec<Row> {
        let ctx = session(1, 1024);
        let h = register(&ctx, path).await.unwrap();
        let mut out = Vec::new();
        for b in h.select(&ctx, None).await.unwrap().collect().await.unwrap() {
            out.extend(h.rows(&b).unwrap());
        }
        out
    }

    /// A folder read as a table says which of its files it leaves out: rotated logs named
    /// `shadow.jsonl.1` were skipped without a word, and a replay or calibration ran on part
    /// of the history. Hidden files (titlesim's temporary ones) are not named.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_folder_names_the_files_it_does_not_read() {
        let d = tempfile::tempdir().unwrap();
        let row = "{\"id\":\"1\",\"product\":\"p\",\"gt\":\"g\"}\n";
        std::fs::write(d.path().join("shadow.jsonl"), row).unwrap();
        assert!(files_left_out(d.path()).is_empty());
        assert_eq!(left_out_note(d.path()), None);
        for name in [
            "shadow.jsonl.1",
            "shadow.jsonl.2.gz",
            ".shadow.jsonl.77.tmp",
        ] {
            std::fs::write(d.path().join(name), row).unwrap();
        }
        std::fs::create_dir(d.path().join("old")).unwrap();
        let names: Vec<String> = files_left_out(d.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["shadow.jsonl.1", "shadow.jsonl.2.gz"]);
        let note = left_out_note(d.path()).unwrap();
        assert!(
            note.contains("2 files not read (shadow.jsonl.1, shadow.jsonl.2.gz): only the folder's .jsonl files are"),
            "{note}"
        );
        // What is read is still the one .jsonl file.
        let ctx = session(1, 1024);
        let h = register(&ctx, d.path()).await.unwrap();
        let n: usize = h
            .select(&ctx, None)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(n, 1);
        // A file is a file: nothing left out.
        assert!(files_left_out(&d.path().join("shadow.jsonl.1")).is_empty());
    }

    /// History rows follow `Pair::checked`: ids and phases trimmed; an empty id, a NUL in a
    /// title, a reserved phase are errors naming the row, not pairs scored as something else.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn history_rows_are_checked_pairs() {
        let rows = rows_of("id,product,gt,phase\n\" 7 \",p,g, race \n")
            .await
            .unwrap();
        assert_eq!(rows[0].pair.id, "7");
        assert_eq!(rows[0].pair.phase.as_deref(), Some("race"));

        let e = rows_of("id,product,gt\n\"  \",Apple iPhone,iPhone\n")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("a row's id \"  \" is empty"), "{e}");
        assert!(e.contains("product \"Apple iPhone\""), "{e}");

        let e = rows_of("id,product,gt\n9,\"iPhone\u{0}15\",iPhone 15\n")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("pair `9`: `product` holds a NUL byte"), "{e}");

        let e = rows_of("id,product,gt,phase\n9,a,b,(pooled)\n")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("pair `9`: `phase` `(pooled)`"), "{e}");

        let long = "x".repeat(titlesim_core::MAX_TITLE_BYTES + 1);
        let e = rows_of(&format!("id,product,gt\n9,a,{long}\n"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("pair `9`: `gt` is 65537 bytes long"), "{e}");
    }
}
