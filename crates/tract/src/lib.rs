//! The tract backend of titlesim (being written).
use titlesim_core::{Backend, BackendOptions, Error, ModelSpec, Result};

/// Loads `spec` on this backend.
pub fn load(_spec: &ModelSpec, _opts: &BackendOptions) -> Result<Box<dyn Backend>> {
    Err(Error::backend("tract", "not implemented yet"))
}
