//! The error type of the shadow crate.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while shadow scoring, precomputing or resuming.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the core (model, backend, I/O, input line, dimension, non-finite value).
    #[error(transparent)]
    Core(#[from] titlesim_core::Error),

    /// A shadow log cannot be resumed (written by other models, duplicate pair ids, ...).
    #[error("shadow log {}: {message}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// The scorer was used after [`crate::ShadowScorer::finish`].
    #[error("the shadow scorer is finished; create a new one")]
    Finished,
}

impl Error {
    /// A [`titlesim_core::Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Core(titlesim_core::Error::io(path, source))
    }

    /// A [`titlesim_core::Error::Input`]: line `line` of `path` is invalid.
    pub fn input(path: impl Into<PathBuf>, line: u64, message: impl Into<String>) -> Self {
        Error::Core(titlesim_core::Error::Input {
            path: path.into(),
            line,
            message: message.into(),
        })
    }
}
