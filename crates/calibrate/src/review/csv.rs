//! The review file: one CSV row per exported disagreement, `verdict` and `comment` left
//! empty for the reviewer.
//!
//! People open this file in a spreadsheet, and its titles come from agents: a title such as
//! `=HYPERLINK("https://…","click")` would be run as a formula there. A text cell whose
//! first character is `=`, `+`, `-`, `@`, a tab, a carriage return or NUL (or that starts with
//! `=`, `+`, `-` or `@` after leading white space) is written with a `'` in front, so a
//! spreadsheet shows it as text (the OWASP and ASVS 1.2.10 advice). Numbers — a negative
//! cosine too — are written as they are. The tally reads only `pair_id` and `verdict`, so the
//! mark changes nothing it counts.

use super::export::{Direction, Export};
use crate::error::{CalibrateError, Result};
use std::borrow::Cow;
use std::path::Path;

/// The columns of a review file, in order.
pub const COLUMNS: [&str; 16] = [
    "pair_id",
    "phase",
    "direction",
    "canonical_cosine",
    "shadow_cosine",
    "canonical_threshold",
    "shadow_threshold",
    "canonical_verdict",
    "shadow_verdict",
    "label",
    "product",
    "gt",
    "canonical_fingerprint",
    "shadow_fingerprint",
    "verdict",
    "comment",
];

/// Refuses a review file `out` that is one of the `logs` the export reads: `--force` would
/// replace the shadow log with the review.
pub fn refuse_log_as_out<P: AsRef<Path>>(out: &Path, logs: &[P]) -> Result<()> {
    match logs
        .iter()
        .find(|l| titlesim_log::same_file(out, l.as_ref()))
    {
        Some(log) => Err(CalibrateError::input(
            out,
            format!(
                "is the shadow log {} the export reads: the review would replace it; write the \
                 review to another file",
                log.as_ref().display()
            ),
        )),
        None => Ok(()),
    }
}

/// Writes the export as CSV (columns [`COLUMNS`]; `verdict` and `comment` empty), whole or not
/// at all: through a temporary file renamed over `path` at the end, so a failure leaves an
/// older review there (it may hold verdicts) as it was.
pub fn write_csv(e: &Export, path: &Path) -> Result<()> {
    let csv_err = |err: csv::Error| CalibrateError::Csv {
        path: path.to_path_buf(),
        message: err.to_string(),
    };
    let file = titlesim_log::Replacing::create(path).map_err(|e| CalibrateError::io(path, e))?;
    let mut w = csv::Writer::from_writer(file);
    w.write_record(COLUMNS).map_err(csv_err)?;
    let verdict = |pass: bool| if pass { "match" } else { "no match" };
    // The models the disagreements are of, so that promote can tell a review of this
    // calibration's candidate from one of another cycle's (at the same threshold).
    let canonical_fingerprints = e.fingerprints.0.join(" ");
    let shadow_fingerprints = e.fingerprints.1.join(" ");
    for r in &e.rows {
        let canon_pass = r.direction == Direction::CanonicalMatch;
        w.write_record([
            as_text(&r.pair_id).as_ref(),
            as_text(&r.phase).as_ref(),
            r.direction.as_str(),
            &format!("{}", r.canonical_cosine),
            &format!("{}", r.shadow_cosine),
            &e.canon_threshold.label,
            &e.shadow_threshold.label,
            verdict(canon_pass),
            verdict(!canon_pass),
            match r.label {
                Some(true) => "1",
                Some(false) => "0",
                None => "",
            },
            as_text(&r.product).as_ref(),
            as_text(&r.gt).as_ref(),
            as_text(&canonical_fingerprints).as_ref(),
            as_text(&shadow_fingerprints).as_ref(),
            "",
            "",
        ])
        .map_err(csv_err)?;
    }
    let file = w
        .into_inner()
        .map_err(|e| CalibrateError::io(path, e.into_error()))?;
    file.commit().map_err(|e| CalibrateError::io(path, e))?;
    Ok(())
}

/// `cell`, with a `'` in front when a spreadsheet would take it for a formula, and when it is
/// such a cell with `'`s in front already (`'-1`): [`from_text`] takes one `'` off again, so
/// the ids `-1` and `'-1` stay two ids.
pub(crate) fn as_text(cell: &str) -> Cow<'_, str> {
    let formula = |c: char| matches!(c, '=' | '+' | '-' | '@');
    let bare = cell.trim_start_matches('\'');
    let first = bare.chars().next();
    let after_space = bare.trim_start().chars().next();
    if matches!(first, Some('\t' | '\r' | '\0')) || after_space.is_some_and(formula) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// `cell` as it was before [`as_text`]: its `'` taken off when `as_text` would have put it
/// there. A spreadsheet that saved the file may have dropped it already; both read the same.
pub(crate) fn from_text(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if matches!(as_text(rest), Cow::Owned(_)) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::{as_text, from_text};

    #[test]
    fn from_text_undoes_as_text() {
        for cell in [
            "=race", "-qual", " @final", "race", "'quoted", "", "\tx", "'-1", "''-1", "'=x", "'",
        ] {
            assert_eq!(from_text(&as_text(cell)), cell, "{cell:?}");
        }
        // a spreadsheet dropped the quote: the same phase
        assert_eq!(from_text("=race"), "=race");
    }

    #[test]
    fn cells_a_spreadsheet_would_run_get_a_quote_and_others_are_kept() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\",\"a\")",
                "'=HYPERLINK(\"http://x\",\"a\")",
            ),
            ("+1", "'+1"),
            ("-5% off shoes", "'-5% off shoes"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("  =1+1", "'  =1+1"),
            ("\t=1", "'\t=1"),
            ("\tshoes", "'\tshoes"),
            ("\rx", "'\rx"),
            ("\0x", "'\0x"),
            ("Nike Air Max 90", "Nike Air Max 90"),
            ("shoes = boots", "shoes = boots"),
            (" Nike", " Nike"),
            ("'quoted", "'quoted"),
            ("'-1", "''-1"),
            ("", ""),
        ] {
            assert_eq!(as_text(cell), want, "{cell:?}");
        }
    }
}
