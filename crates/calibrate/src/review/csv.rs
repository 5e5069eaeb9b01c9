//! The review file: one CSV row per exported disagreement, `verdict` and `comment` left
//! empty for the reviewer.

use super::export::{Direction, Export};
use crate::error::{CalibrateError, Result};
use std::path::Path;

/// The columns of a review file, in order.
pub const COLUMNS: [&str; 14] = [
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
    "verdict",
    "comment",
];

/// Writes the export as CSV (columns [`COLUMNS`]; `verdict` and `comment` empty).
pub fn write_csv(e: &Export, path: &Path) -> Result<()> {
    let csv_err = |err: csv::Error| CalibrateError::Csv {
        path: path.to_path_buf(),
        message: err.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    w.write_record(COLUMNS).map_err(csv_err)?;
    let verdict = |pass: bool| if pass { "match" } else { "no match" };
    for r in &e.rows {
        let canon_pass = r.direction == Direction::CanonicalMatch;
        w.write_record([
            r.pair_id.as_str(),
            r.phase.as_str(),
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
            r.product.as_str(),
            r.gt.as_str(),
            "",
            "",
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(|e| CalibrateError::io(path, e))?;
    Ok(())
}
