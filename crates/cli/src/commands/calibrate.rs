//! `titlesim calibrate`: per-phase statistics, agreement curves, best and compromise shadow
//! thresholds from shadow logs, with loud warnings for thresholds in the far tail.

use anyhow::Context;
use std::path::PathBuf;
use titlesim_calibrate::{
    calibrate_logs, render_text, render_warnings, to_json, write_report, Grid, Options,
    ReportOptions, Threshold,
};

/// Arguments of `titlesim calibrate`.
///
/// Agreement(t) is the share of pairs where `(canonical >= T) == (shadow >= t)`. Records whose
/// shadow side failed or is missing are not pairs: they are counted and reported, as are log
/// lines that are not valid records (a torn last line after a crash, for instance).
#[derive(clap::Args)]
pub struct Args {
    /// Shadow logs (JSONL, one record per line, as written by `titlesim shadow`).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// The canonical threshold T [default: the one in the logs (the most common if several)].
    #[arg(long, value_name = "T")]
    pub canon_threshold: Option<String>,
    /// Shadow thresholds to evaluate, `start:stop:step`, both ends included.
    #[arg(long, value_name = "START:STOP:STEP", default_value = "0.50:0.99:0.01")]
    pub grid: String,
    /// The agreement every phase should keep, as a share (0.78) or a percentage (78%).
    #[arg(long, value_name = "SHARE", default_value = "0.78")]
    pub floor: String,
    /// A shadow threshold to check (agreement, pass rate, far-tail warning).
    #[arg(long, value_name = "t")]
    pub propose: Option<String>,
    /// Print one JSON document (keys `phases`, `pooled`, `compromise`, ...) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write plots (SVG + PNG), an HTML page and a Markdown summary into this folder.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// Parses `0.78` or `78%`.
fn parse_floor(s: &str) -> anyhow::Result<f64> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| anyhow::anyhow!("--floor `{s}` is not a number (e.g. 0.78 or 78%)"))?;
    if !(0.0..=1.0).contains(&v) {
        anyhow::bail!("--floor `{s}` is not a share between 0 and 1 (write 0.78 or 78%)");
    }
    Ok(v)
}

/// Runs `titlesim calibrate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let opts = Options {
        canon_threshold: args
            .canon_threshold
            .as_deref()
            .map(Threshold::parse)
            .transpose()
            .context("--canon-threshold")?,
        grid: Grid::parse(&args.grid).context("--grid")?,
        floor: parse_floor(&args.floor)?,
        propose: args
            .propose
            .as_deref()
            .map(Threshold::parse)
            .transpose()
            .context("--propose")?,
    };
    let cal = calibrate_logs(&args.logs, &opts)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&to_json(&cal))?)?;
        // keep stdout pure JSON; say the loud things on stderr too
        if !cal.skipped.is_empty() {
            eprintln!(
                "note: {} unreadable log line(s) skipped (see inputs.skipped_lines)",
                cal.skipped.len()
            );
        }
        eprint!("{}", render_warnings(&cal));
    } else {
        out!("{}", render_text(&cal))?;
    }
    if let Some(dir) = &args.report {
        let rep = write_report(&cal, dir, &ReportOptions::default())
            .with_context(|| format!("the report was not written into {}", dir.display()))?;
        let msg = format!("report: {} ({} files)", rep.html.display(), rep.files.len());
        if args.json {
            eprintln!("{msg}");
        } else {
            outln!("\n{msg}")?;
        }
        if rep.png_font.is_none() {
            eprintln!(
                "note: no font found, so the PNG plots have no text (the SVG and HTML are complete); set TITLESIM_FONT to a .ttf file or a font folder"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_accepts_shares_and_percentages() {
        assert_eq!(parse_floor("0.78").unwrap(), 0.78);
        assert_eq!(parse_floor("78%").unwrap(), 0.78);
        assert!(parse_floor("78").is_err());
        assert!(parse_floor("x").is_err());
    }
}
