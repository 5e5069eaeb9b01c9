//! Tally: read a review file back and count its verdicts, overall, by direction and by
//! phase.

use super::csv::from_text;
use super::verdict::Verdict;
use crate::analysis::NO_PHASE;
use crate::error::{CalibrateError, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to tally.
#[derive(Debug, Clone, Copy, Default)]
pub struct TallyOptions {
    /// Refuse a file with rows not yet reviewed (empty verdict) instead of counting them.
    pub require_complete: bool,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Canonical right.
    pub canonical: u64,
    /// Shadow right.
    pub shadow: u64,
    /// Both right.
    pub both: u64,
    /// Neither right.
    pub neither: u64,
}

impl Counts {
    /// All reviewed rows.
    pub fn reviewed(&self) -> u64 {
        self.canonical + self.shadow + self.both + self.neither
    }
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Canonical => self.canonical += 1,
            Verdict::Shadow => self.shadow += 1,
            Verdict::Both => self.both += 1,
            Verdict::Neither => self.neither += 1,
        }
    }
}

/// The verdicts of a review file.
#[derive(Debug, Clone)]
pub struct Tally {
    /// The file.
    pub path: PathBuf,
    /// Data rows.
    pub rows: u64,
    /// Verdict counts.
    pub counts: Counts,
    /// Lines of rows not yet reviewed (empty verdict).
    pub unreviewed: Vec<u64>,
    /// Counts per value of the `direction` column, when the file has one.
    pub by_direction: BTreeMap<String, Counts>,
    /// Counts per value of the `phase` column, when the file has one.
    pub by_phase: BTreeMap<String, Counts>,
}

/// Reads a review file and counts its verdicts. A bad verdict is an error naming
/// `file:line`.
pub fn tally(path: &Path, opts: &TallyOptions) -> Result<Tally> {
    let file = std::fs::File::open(path).map_err(|e| CalibrateError::io(path, e))?;
    // Review files come back from spreadsheets, often with `\r\n` line ends: the csv crate's
    // own line numbers would be off by one there.
    let lines = titlesim_log::LineIndex::new();
    let csv_err = |err: csv::Error| csv_error(path, err, &lines);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(lines.reader(titlesim_log::BoundedLines::new(file)));
    let columns = Columns::find(rdr.headers().map_err(csv_err)?, path)?;
    let mut t = Tally {
        path: path.to_path_buf(),
        rows: 0,
        counts: Counts::default(),
        unreviewed: Vec::new(),
        by_direction: BTreeMap::new(),
        by_phase: BTreeMap::new(),
    };
    // pair id -> the line it was first on: a row pasted twice would count its verdict twice
    let mut ids: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        // A row of empty cells (`,,,,` left below the data by a spreadsheet) is no row.
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let line = rec.position().map(|p| lines.line_at(p.byte())).unwrap_or(0);
        let row_error = |message: String| CalibrateError::Row {
            path: path.to_path_buf(),
            line,
            message,
        };
        t.rows += 1;
        // Text cells come back as export wrote them: a formula-like id or phase with its `'`.
        let text = |i: Option<usize>| i.and_then(|i| rec.get(i)).map(from_text);
        if let Some(id) = text(columns.pair_id).map(str::trim) {
            if id.is_empty() {
                // Export names every row's pair: a row without one was added or damaged by
                // hand, and its verdict would count for no pair (nor be seen repeated).
                return Err(row_error(
                    "empty pair_id: every row of a review file names its pair (as export \
                     wrote it); restore the id, or delete the row"
                        .into(),
                ));
            }
            if let Some(first) = ids.insert(id.to_string(), line) {
                return Err(row_error(format!(
                    "pair `{}` again (first on line {first}): each pair is reviewed once; remove the repeated row",
                    titlesim_core::shown(id)
                )));
            }
        }
        let cell = rec.get(columns.verdict).unwrap_or("");
        match Verdict::parse(cell).map_err(row_error)? {
            None if opts.require_complete => {
                return Err(row_error("empty verdict (not yet reviewed)".into()))
            }
            None => t.unreviewed.push(line),
            Some(v) => t.count(v, &rec, &columns),
        }
    }
    Ok(t)
}

/// A CSV error: at its line when it has one, else for the whole file.
fn csv_error(path: &Path, err: csv::Error, lines: &titlesim_log::LineIndex) -> CalibrateError {
    let (line, message) = titlesim_log::csv_problem(&err, lines);
    if line > 0 {
        CalibrateError::Row {
            path: path.to_path_buf(),
            line,
            message,
        }
    } else {
        CalibrateError::Csv {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// Where the columns the tally reads are: `verdict` (required), `direction`, `phase` and
/// `pair_id` (only checked for repeats).
struct Columns {
    verdict: usize,
    pair_id: Option<usize>,
    direction: Option<usize>,
    phase: Option<usize>,
}

impl Columns {
    /// Finds the columns by name: case-insensitive, spaces and a byte-order mark ignored. A
    /// name given twice is an error: which of the two holds the verdicts is not guessed.
    fn find(headers: &csv::StringRecord, path: &Path) -> Result<Columns> {
        let header_error = |message: String| CalibrateError::Row {
            path: path.to_path_buf(),
            line: 1,
            message,
        };
        let col = |name: &str| -> Result<Option<usize>> {
            let mut at = headers.iter().enumerate().filter(|(_, h)| {
                h.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(name)
            });
            match (at.next(), at.next()) {
                (Some((a, _)), Some((b, _))) => Err(header_error(format!(
                    "the header names `{name}` twice (columns {} and {}): keep one",
                    a + 1,
                    b + 1
                ))),
                (first, _) => Ok(first.map(|(i, _)| i)),
            }
        };
        let verdict = col("verdict")?
            .ok_or_else(|| header_error("no `verdict` column in the header".into()))?;
        Ok(Columns {
            verdict,
            pair_id: col("pair_id")?,
            direction: col("direction")?,
            phase: col("phase")?,
        })
    }
}

impl Tally {
    /// Counts a reviewed row's verdict overall, by its direction and by its phase (an empty
    /// phase is [`NO_PHASE`]).
    fn count(&mut self, v: Verdict, rec: &csv::StringRecord, columns: &Columns) {
        self.counts.add(v);
        if let Some(d) = columns.direction.and_then(|i| rec.get(i)) {
            self.by_direction
                .entry(d.trim().to_string())
                .or_default()
                .add(v);
        }
        if let Some(p) = columns.phase.and_then(|i| rec.get(i)).map(from_text) {
            let p = if p.trim().is_empty() {
                NO_PHASE
            } else {
                p.trim()
            };
            self.by_phase.entry(p.to_string()).or_default().add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_right_in_crlf_files_and_after_blank_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("review.csv");
        std::fs::write(&p, "id,product,verdict\r\n1,a,shadow\r\n\r\n3,c,bogus\r\n").unwrap();
        let e = tally(&p, &TallyOptions::default()).unwrap_err().to_string();
        assert!(e.contains("review.csv:4: verdict `bogus`"), "{e}");
        std::fs::write(&p, "id,product,verdict\r\n1,a,shadow\r\n2,b,\r\n").unwrap();
        assert_eq!(tally(&p, &TallyOptions::default()).unwrap().unreviewed, [3]);
        // Phases and ids export quoted for spreadsheets are read as they were, with or without
        // the quote a spreadsheet may have dropped on saving.
        std::fs::write(
            &p,
            "pair_id,phase,verdict\n'=1,'-qual,shadow\n2,-qual,canonical\n3,'quoted,both\n=1,x,both\n",
        )
        .unwrap();
        let e = tally(&p, &TallyOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains("review.csv:5: pair `=1` again (first on line 2)"),
            "{e}"
        );
        std::fs::write(
            &p,
            "pair_id,phase,verdict\n'=1,'-qual,shadow\n2,-qual,canonical\n3,'quoted,both\n",
        )
        .unwrap();
        let t = tally(&p, &TallyOptions::default()).unwrap();
        let phases: Vec<_> = t.by_phase.keys().map(String::as_str).collect();
        assert_eq!(phases, ["'quoted", "-qual"]);
        assert_eq!(t.by_phase["-qual"].reviewed(), 2);
        // Two verdict columns (one pasted beside the export's): which counts is not guessed.
        std::fs::write(&p, "id,verdict,product, Verdict\n1,shadow,a,canonical\n").unwrap();
        let e = tally(&p, &TallyOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains("review.csv:1: the header names `verdict` twice (columns 2 and 4)"),
            "{e}"
        );
    }

    #[test]
    fn errors_and_unreviewed_rows_name_the_file_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("review.csv");
        // Line 1 the header; a quoted title spanning two lines starts on line 3.
        std::fs::write(
            &p,
            "id,product,verdict\n1,a,shadow\n2,\"two\nlines\",\n3,c,bogus\n",
        )
        .unwrap();
        let e = tally(&p, &TallyOptions::default()).unwrap_err().to_string();
        assert!(e.contains("review.csv:5: verdict `bogus`"), "{e}");
        std::fs::write(&p, "id,product,verdict\n1,a,shadow\n2,\"two\nlines\",\n").unwrap();
        let t = tally(&p, &TallyOptions::default()).unwrap();
        assert_eq!(t.unreviewed, [3]);
        let e = tally(
            &p,
            &TallyOptions {
                require_complete: true,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("review.csv:3: empty verdict"), "{e}");
    }

    #[test]
    fn a_pair_reviewed_twice_is_an_error_naming_both_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("review.csv");
        // A row pasted twice used to count its verdict twice in the sign test.
        std::fs::write(
            &p,
            "pair_id,direction,verdict\np1,shadow_match,shadow\np2,shadow_match,canonical\n p1 ,shadow_match,shadow\n",
        )
        .unwrap();
        let e = tally(&p, &TallyOptions::default()).unwrap_err().to_string();
        assert!(
            e.contains("review.csv:4: pair `p1` again (first on line 2)"),
            "{e}"
        );
        // Without a pair_id column, rows are not compared.
        std::fs::write(&p, "id,verdict\n,shadow\n,shadow\n").unwrap();
        assert_eq!(tally(&p, &TallyOptions::default()).unwrap().rows, 2);
        // With one, a row without an id is an error: its verdict counted for no pair, and
        // two such rows were never seen as repeats.
        std::fs::write(&p, "pair_id,verdict\np1,shadow\n,shadow\n,shadow\n").unwrap();
        let e = tally(&p, &TallyOptions::default()).unwrap_err().to_string();
        assert!(e.contains("review.csv:3: empty pair_id"), "{e}");
    }

    /// Rows of empty cells a spreadsheet leaves below the data are neither verdicts nor rows
    /// not yet reviewed (they reached promote's provenance as "2 not reviewed").
    #[test]
    fn rows_of_empty_cells_are_not_rows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("review.csv");
        std::fs::write(
            &p,
            "pair_id,phase,verdict\np1,a,shadow\np2,a,\n,,\n , ,\r\n,,\n",
        )
        .unwrap();
        let t = tally(&p, &TallyOptions::default()).unwrap();
        assert_eq!((t.rows, t.counts.reviewed()), (2, 1));
        assert_eq!(t.unreviewed, [3]);
        assert_eq!(t.by_phase.keys().collect::<Vec<_>>(), ["a"]);
    }
}
