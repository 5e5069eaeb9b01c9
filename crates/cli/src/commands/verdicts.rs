//! What `score` and `shadow` both print: the canonical verdicts, one row per pair, and the
//! progress bar on standard error.

use std::io::{BufWriter, IsTerminal, Write};

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use titlesim::Score;

/// Output format of the verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `id,cosine,threshold,pass` with a header row.
    Csv,
    /// One `{"id", "cosine", "threshold", "pass"}` object per line.
    Jsonl,
}

#[derive(serde::Serialize)]
struct Row<'a> {
    id: &'a str,
    cosine: f32,
    threshold: f32,
    pass: bool,
}

/// Writes `id, cosine, threshold, pass` rows as CSV or JSON lines.
pub(crate) enum VerdictWriter {
    Csv(Box<csv::Writer<Box<dyn Write>>>),
    Jsonl(BufWriter<Box<dyn Write>>),
}

impl VerdictWriter {
    /// Starts the output (the CSV header row).
    pub(crate) fn new(format: Format, w: Box<dyn Write>) -> Result<Self> {
        Ok(match format {
            Format::Csv => {
                let mut c = csv::Writer::from_writer(w);
                c.write_record(["id", "cosine", "threshold", "pass"])?;
                VerdictWriter::Csv(Box::new(c))
            }
            Format::Jsonl => VerdictWriter::Jsonl(BufWriter::with_capacity(1 << 16, w)),
        })
    }

    /// One pair's row.
    pub(crate) fn row(&mut self, id: &str, s: &Score) -> Result<()> {
        match self {
            // `{}` of an f32 is the shortest decimal that parses back to the same value.
            VerdictWriter::Csv(c) => c.write_record([
                id,
                &s.cosine.to_string(),
                &s.threshold.to_string(),
                if s.pass { "true" } else { "false" },
            ])?,
            VerdictWriter::Jsonl(w) => {
                serde_json::to_writer(
                    &mut *w,
                    &Row {
                        id,
                        cosine: s.cosine,
                        threshold: s.threshold,
                        pass: s.pass,
                    },
                )?;
                w.write_all(b"\n")?;
            }
        }
        Ok(())
    }

    /// Flushes what was written so far.
    pub(crate) fn flush(&mut self) -> Result<()> {
        match self {
            VerdictWriter::Csv(c) => c.flush()?,
            VerdictWriter::Jsonl(w) => w.flush()?,
        }
        Ok(())
    }
}

/// A progress bar over `len` pairs on standard error, hidden when it is not a terminal.
pub(crate) fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} pairs ({per_sec}, eta {eta})",
        )
        .expect("the template is valid"),
    );
    b
}
