//! Running Rust work from Python: off the GIL, on one shared Tokio runtime, with panics turned
//! into exceptions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use pyo3::prelude::*;

use crate::errors::{Failure, Result};

/// The runtime every scorer of the process shares. Two workers carry the async plumbing (the
/// shadow's background tasks, the log writer); the models compute on their own thread pools,
/// sized by their `threads` setting.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("titlesim")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| {
        Failure::Titlesim(
            crate::errors::Kind::Backend,
            format!("cannot start the async runtime: {e}"),
        )
    })
}

/// Runs `f` with the GIL released (other Python threads run meanwhile); a panic in `f`
/// becomes a `titlesim.Error` instead of unwinding into the interpreter.
pub(crate) fn detached<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let r = py.detach(|| catch_unwind(AssertUnwindSafe(f)));
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.into()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(Failure::Panic(msg).into())
        }
    }
}
