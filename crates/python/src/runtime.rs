//! Running Rust work from Python: off the GIL, on one shared Tokio runtime, with panics turned
//! into exceptions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::errors::{Failure, Result};

/// The runtime every scorer of the process shares. Two workers carry the async plumbing (the
/// shadow's background tasks, the log writer); the models compute on their own thread pools,
/// sized by their `threads` setting. A process forked from one that had started it (Python's
/// `multiprocessing` "fork") has none of its threads: it gets a runtime of its own, and the
/// parent's is left alone (shutting it down would wait for threads that do not exist here).
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let mut rt = RT.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some((home, r)) = *rt {
        if home == pid {
            return Ok(r);
        }
    }
    let made = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("titlesim")
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::Titlesim(
                crate::errors::Kind::Backend,
                format!("cannot start the async runtime: {e}"),
            )
        })?;
    let made: &'static tokio::runtime::Runtime = Box::leak(Box::new(made));
    *rt = Some((pid, made));
    Ok(made)
}

/// Refuses an object made in another process: one made before a fork, used in the child,
/// whose compute threads (the model's pool, the shadow's writer) did not survive the fork, so
/// that the call would wait for ever.
pub(crate) fn made_here(home: u32, what: &str) -> Result<()> {
    let here = std::process::id();
    if home == here {
        return Ok(());
    }
    Err(Failure::Plain(format!(
        "this {what} was made in process {home}, and this is process {here}, forked from it: \
         its threads did not survive the fork, so it cannot run here. Make the {what} in the \
         child process (in a multiprocessing Pool's initializer, or in the worker function), or \
         start the workers with the \"spawn\" or \"forkserver\" method \
         (multiprocessing.get_context(\"spawn\"))"
    )))
}

/// Called in the child right after a fork (`os.register_at_fork` in `titlesim/__init__.py`):
/// tokenizers stop handing batches to rayon's global pool, whose threads the child lacks.
#[pyfunction]
pub fn _after_fork_in_child() {
    titlesim::core::tokenize::tokenize_on_the_calling_thread();
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
