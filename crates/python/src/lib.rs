//! # titlesim-python
//!
//! The `titlesim` Python package's native module (`titlesim._titlesim`): a thin PyO3 layer
//! over the titlesim crates. `Model` (`model.rs`) embeds as sentence-transformers'
//! `SentenceTransformer` does; `Scorer` (`scorer.rs`) gives the CLI's verdicts from the same
//! configuration file, with its GT store and shadow log; `protocol.rs` has `precompute`,
//! `calibrate` and the review export and tally. Everything heavy runs with the GIL released
//! (`runtime.rs`), and errors become the package's exception classes (`errors.rs`).
//!
//! Build and install the wheel with `pip install crates/python` (maturin); the Python side
//! (exceptions, stubs, `py.typed`) is in `python/titlesim/`, its tests in `tests/`.

mod args;
mod errors;
mod model;
mod protocol;
mod runtime;
mod scorer;

use pyo3::prelude::*;

/// Panics inside the released-GIL section, as a bug in titlesim would: the tests check that it
/// comes out as a `titlesim.Error`, not a crash (left out of the stub and of `__all__`).
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    runtime::detached(py, || -> errors::Result<()> {
        panic!("a deliberate panic")
    })
}

/// The native module; `titlesim/__init__.py` re-exports it.
#[pymodule]
fn _titlesim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // numpy's C API is looked up on the first array made. Made lazily, that lookup imports
    // numpy right after a call that released the GIL, where a Ctrl-C pressed during the call
    // fires inside the import and numpy's binding panics ("Failed to access NumPy array API
    // capsule"): a PanicException instead of the KeyboardInterrupt. Made here, once, an
    // import error is an ImportError of `import titlesim`.
    m.py().import("numpy")?;
    let _ = numpy::PyArray1::<f32>::zeros(m.py(), 0, false);
    let _ = numpy::PyArray1::<bool>::zeros(m.py(), 0, false);
    m.add_class::<model::Model>()?;
    m.add_class::<scorer::Scorer>()?;
    m.add_class::<scorer::Scores>()?;
    m.add_class::<scorer::Verdict>()?;
    m.add_function(wrap_pyfunction!(protocol::calibrate, m)?)?;
    m.add_function(wrap_pyfunction!(protocol::review_export, m)?)?;
    m.add_function(wrap_pyfunction!(protocol::review_tally, m)?)?;
    m.add_function(wrap_pyfunction!(protocol::precompute, m)?)?;
    m.add_function(wrap_pyfunction!(scorer::_close_all, m)?)?;
    m.add_function(wrap_pyfunction!(scorer::_scores, m)?)?;
    m.add_function(wrap_pyfunction!(scorer::_checked_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(scorer::_verdict, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::_after_fork_in_child, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "backends",
        titlesim::compiled_backends()
            .iter()
            .map(|b| b.as_str())
            .collect::<Vec<_>>(),
    )?;
    Ok(())
}
