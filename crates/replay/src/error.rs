//! The error type of the replay crate.

use std::path::PathBuf;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while replaying history or running a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the core (model, backend, I/O, dimension, non-finite value).
    #[error(transparent)]
    Core(#[from] titlesim_core::Error),

    /// The output log cannot be written or resumed.
    #[error(transparent)]
    Shadow(#[from] titlesim_shadow::Error),

    /// The history cannot be used as it is: a missing column, a row without a title, a label
    /// that is not 0 or 1, a time that is not RFC 3339, a pair id seen twice.
    #[error("{}: {message}", path.display())]
    History {
        /// The history file or folder.
        path: PathBuf,
        /// What is wrong, naming the column or pair.
        message: String,
    },

    /// DataFusion refused the query or failed to run it (a bad `--where` predicate, an
    /// unreadable file, a type it cannot convert).
    #[error("{context}: {message}")]
    Query {
        /// What was being done.
        context: String,
        /// DataFusion's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn history(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::History {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn query(context: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Error::Query {
            context: context.into(),
            message: e.to_string(),
        }
    }
}
