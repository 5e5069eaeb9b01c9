//! Rust errors as the package's exceptions (`titlesim.Error` and its subclasses, defined in
//! `python/titlesim/_errors.py`), with the CLI's messages.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// Which `titlesim` exception class an error becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `titlesim.ConfigError` (also a `ValueError`): a configuration key or argument.
    Config,
    /// `titlesim.ModelError`: the model folder cannot be found, read or run.
    Model,
    /// `titlesim.InputError` (also a `ValueError`): a line of an input file.
    Input,
    /// `titlesim.StoreError`: a GT store of another model or dimension, or none, or titles to
    /// add to a store made on another backend.
    Store,
    /// `titlesim.BackendError`: the backend failed while loading or running.
    Backend,
    /// `titlesim.FileError` (also an `OSError`): reading or writing a file, or a file another
    /// writer holds.
    File,
}

impl Kind {
    fn class(self) -> &'static str {
        match self {
            Kind::Config => "ConfigError",
            Kind::Model => "ModelError",
            Kind::Input => "InputError",
            Kind::Store => "StoreError",
            Kind::Backend => "BackendError",
            Kind::File => "FileError",
        }
    }
}

/// An error on its way to Python: built without the GIL (inside `Python::detach`), raised
/// with it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// One of titlesim's own exceptions.
    Titlesim(Kind, String),
    /// `TypeError`: an argument of the wrong type.
    Type(String),
    /// `ValueError`: an argument of the right type and a wrong value.
    Value(String),
    /// A Rust panic: `titlesim.Error` saying it is a bug, never a crash.
    Panic(String),
    /// `titlesim.Error` itself: a failure of none of the kinds (an object used in a process
    /// forked after it was made).
    Plain(String),
    /// An exception the caller's own code raised while titlesim read its input (a generator
    /// that fails, Ctrl-C while it runs): raised again as it was, never turned into another.
    Python(PyErr),
}

pub(crate) type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    pub(crate) fn value(message: impl Into<String>) -> Self {
        Failure::Value(message.into())
    }
    pub(crate) fn type_error(message: impl Into<String>) -> Self {
        Failure::Type(message.into())
    }
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Failure::Titlesim(Kind::Config, message.into())
    }

    /// `e`, found loading the `[table]` model of the configuration file `config`, said as the
    /// CLI says it: the file and the table first. The class stays `e`'s.
    pub(crate) fn loading(
        e: titlesim::Error,
        config: &std::path::Path,
        table: &str,
        model: &str,
    ) -> Self {
        match Failure::from(e) {
            Failure::Titlesim(kind, m) => Failure::Titlesim(
                kind,
                format!(
                    "config {}: loading the [{table}] model {model}: {m}",
                    config.display()
                ),
            ),
            other => other,
        }
    }
}

impl From<titlesim::Error> for Failure {
    fn from(e: titlesim::Error) -> Self {
        use titlesim::Error as E;
        let kind = match &e {
            E::Config { .. } | E::BackendNotCompiled { .. } => Kind::Config,
            E::ModelNotFound { .. }
            | E::ModelFile { .. }
            | E::Unsupported { .. }
            | E::MaxLengthBeyondPositions { .. } => Kind::Model,
            E::Input { .. } => Kind::Input,
            E::StoreMismatch { .. } | E::StoreMissing { .. } | E::StoreBackend { .. } => {
                Kind::Store
            }
            E::Io { .. } | E::Locked { .. } => Kind::File,
            _ => Kind::Backend,
        };
        Failure::Titlesim(kind, e.to_string())
    }
}

impl From<titlesim_shadow::Error> for Failure {
    fn from(e: titlesim_shadow::Error) -> Self {
        match e {
            titlesim_shadow::Error::Core(c) => c.into(),
            titlesim_shadow::Error::Log { .. } => Failure::Titlesim(Kind::Input, e.to_string()),
            other => Failure::Titlesim(Kind::Backend, other.to_string()),
        }
    }
}

impl From<titlesim_calibrate::CalibrateError> for Failure {
    fn from(e: titlesim_calibrate::CalibrateError) -> Self {
        use titlesim_calibrate::CalibrateError as E;
        match e {
            E::Log(c) => c.into(),
            E::Invalid(m) => Failure::Value(m),
            E::Io { .. } | E::ReportNotWritten { .. } => {
                Failure::Titlesim(Kind::File, e.to_string())
            }
            other => Failure::Titlesim(Kind::Input, other.to_string()),
        }
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> PyErr {
        let (kind, message) = match f {
            Failure::Python(e) => return e,
            Failure::Type(m) => return PyTypeError::new_err(m),
            Failure::Value(m) => return PyValueError::new_err(m),
            Failure::Titlesim(k, m) => (Some(k), m),
            Failure::Plain(m) => (None, m),
            Failure::Panic(m) => (
                None,
                format!("internal error (a bug in titlesim, please report it with the input): {m}"),
            ),
        };
        Python::attach(|py| match class(py, kind) {
            Ok(cls) => PyErr::from_type(cls, message),
            Err(_) => PyRuntimeError::new_err(message),
        })
    }
}

/// The exception class for `kind` (`titlesim.Error` for none).
fn class(py: Python<'_>, kind: Option<Kind>) -> PyResult<Bound<'_, PyType>> {
    let name = kind.map_or("Error", Kind::class);
    Ok(py
        .import("titlesim._errors")?
        .getattr(name)?
        .cast_into::<PyType>()?)
}

/// Issues `titlesim: {message}` as a `UserWarning` (an error when a warnings filter turns it
/// into one).
pub(crate) fn user_warning(py: Python<'_>, message: &str) -> PyResult<()> {
    let text = std::ffi::CString::new(format!("titlesim: {message}")).unwrap_or_default();
    PyErr::warn(
        py,
        &py.get_type::<pyo3::exceptions::PyUserWarning>(),
        &text,
        1,
    )
}
