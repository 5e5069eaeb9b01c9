//! The error type of the calibration crate.

use std::path::PathBuf;

/// Everything that can go wrong while calibrating, reviewing or writing a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrateError {
    /// A shadow log could not be read (the core reader's error: I/O, with the path).
    #[error(transparent)]
    Log(#[from] titlesim_core::Error),

    /// An option is invalid (grid, threshold, floor, sample size...).
    #[error("{0}")]
    Invalid(String),

    /// The logs hold no pair with both cosines, so there is nothing to calibrate.
    #[error("no usable pairs in {records} records ({why})")]
    NoPairs {
        /// Records read.
        records: usize,
        /// What the records were instead (errors, no shadow side...).
        why: String,
    },

    /// A review file row is invalid.
    #[error("{}:{line}: {message}", path.display())]
    Row {
        /// The review file.
        path: PathBuf,
        /// 1-based line of the row.
        line: u64,
        /// What is wrong, naming the column.
        message: String,
    },

    /// A CSV file could not be read or written.
    #[error("{}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The CSV library's words.
        message: String,
    },

    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An input file is not what it should be: a calibration or expectation document that
    /// does not parse or lacks a field, a configuration that cannot be edited, a burn-in log
    /// written by other models or thresholds than the expectation's.
    #[error("{}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field, table or line.
        message: String,
    },

    /// `titlesim promote` refuses the promotion (each reason names its check; `--force`
    /// overrides them and records them in the provenance).
    #[error("promotion refused:\n  - {}\n(pass --force to promote anyway; the reasons are recorded in the provenance)", reasons.join("\n  - "))]
    Refused {
        /// Why, one sentence per failed check.
        reasons: Vec<String>,
    },

    /// A report (`write_report`, `burnin::write_plot`) could not be written; the report folder
    /// was left as it was, with any earlier report in it whole.
    #[error("{source}; the report folder {} was left as it was", dir.display())]
    ReportNotWritten {
        /// The report folder.
        dir: PathBuf,
        /// What failed: a file that could not be written, a plot that could not be rendered.
        #[source]
        source: Box<CalibrateError>,
    },

    /// A plot could not be rendered to PNG.
    #[error("rendering {}: {message}", path.display())]
    Render {
        /// The file being rendered.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl CalibrateError {
    /// An [`CalibrateError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        CalibrateError::Invalid(message.into())
    }
    /// An [`CalibrateError::Input`].
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        CalibrateError::Input {
            path: path.into(),
            message: message.into(),
        }
    }
    /// An [`CalibrateError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CalibrateError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results whose error is [`CalibrateError`].
pub type Result<T, E = CalibrateError> = std::result::Result<T, E>;
