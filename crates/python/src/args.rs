//! Checking what Python hands us: lists of titles, optional columns, thresholds. Every refusal
//! names the argument and, for a list, the index and the type found.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyMapping, PySet, PyString,
};

use crate::errors::{Failure, Result};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A text: a `str` without NUL characters or lone surrogates.
pub(crate) fn text(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    let s = obj.cast::<PyString>().map_err(|_| {
        Failure::type_error(format!("{what}: expected str, got {}", type_name(obj)))
    })?;
    let s = s.to_str().map_err(|_| {
        Failure::value(format!(
            "{what}: the string holds a lone surrogate (not valid Unicode); decode the input with errors=\"replace\""
        ))
    })?;
    if s.contains('\0') {
        return Err(Failure::value(format!(
            "{what}: the string holds a NUL character (\\x00), which no title has; is the input binary?"
        )));
    }
    Ok(s.to_string())
}

/// A pair id: a text, trimmed (as `/score` and the pairs files take it), not empty.
pub(crate) fn pair_id(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    let id = text(obj, what)?.trim().to_string();
    if id.is_empty() {
        return Err(Failure::value(format!(
            "{what}: the id is empty; give every pair an id, or leave ids out to have them numbered"
        )));
    }
    Ok(id)
}

/// A list (any iterable that is not itself a string) of texts, at least one.
pub(crate) fn texts(obj: &Bound<'_, PyAny>, what: &str) -> Result<Vec<String>> {
    let items = items(obj, what)?;
    if items.is_empty() {
        return Err(Failure::value(format!("{what} is empty: nothing to do")));
    }
    each_text(&items, what)
}

/// Each item as a [`text`], named `what[i]`.
fn each_text(items: &[Bound<'_, PyAny>], what: &str) -> Result<Vec<String>> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| text(item, &format!("{what}[{i}]")))
        .collect()
}

/// Refuses an iterable whose items have no defined order, for the calls whose results line
/// up with their input (vectors, verdicts, the columns beside them): a set (its order changes
/// between runs), a mapping (its keys would be taken), a DataFrame (its column names would).
/// A set of titles to precompute, or of logs to read, is fine, and never comes here.
pub(crate) fn refuse_unordered(obj: &Bound<'_, PyAny>, what: &str) -> Result<()> {
    // The type's attributes: a Series whose index has a `columns` label answers
    // `hasattr(series, "columns")` too.
    let t = obj.get_type();
    let frame = t.hasattr("columns").unwrap_or(false) && t.hasattr("iloc").unwrap_or(false);
    let refused = if obj.is_instance_of::<PySet>() || obj.is_instance_of::<PyFrozenSet>() {
        Some("a set has no order, so the results would not line up with anything: pass a list")
    } else if obj.is_instance_of::<PyDict>() || obj.cast::<PyMapping>().is_ok() {
        Some("iterating a mapping gives its keys: pass list(d.values()), or list(d) for the keys")
    } else if frame {
        Some("iterating a DataFrame gives its column names: pass one column, df[\"title\"]")
    } else {
        None
    };
    match refused {
        Some(why) => Err(Failure::type_error(format!(
            "{what}: expected a list of str, got {}: {why}",
            type_name(obj)
        ))),
        None => Ok(()),
    }
}

/// [`texts`], refusing an unordered iterable first ([`refuse_unordered`]).
pub(crate) fn ordered_texts(obj: &Bound<'_, PyAny>, what: &str) -> Result<Vec<String>> {
    refuse_unordered(obj, what)?;
    texts(obj, what)
}

/// As [`ordered_texts`], but an empty list is fine: `encode([])` gives a `(0, dim)` array,
/// as a validator with an empty batch expects of sentence-transformers.
pub(crate) fn ordered_texts_or_none(obj: &Bound<'_, PyAny>, what: &str) -> Result<Vec<String>> {
    refuse_unordered(obj, what)?;
    each_text(&items(obj, what)?, what)
}

/// The items of a list, tuple or other iterable; a `str`, `bytes` or `None` is refused (a lone
/// string would be taken as a list of characters).
pub(crate) fn items<'py>(obj: &Bound<'py, PyAny>, what: &str) -> Result<Vec<Bound<'py, PyAny>>> {
    if obj.is_none() {
        return Err(Failure::type_error(format!(
            "{what}: expected a list of str, got None"
        )));
    }
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        return Err(Failure::type_error(format!(
            "{what}: expected a list of str, got a single {} (wrap it in a list)",
            type_name(obj)
        )));
    }
    let iter = obj.try_iter().map_err(|_| {
        Failure::type_error(format!(
            "{what}: expected a list of str, got {}",
            type_name(obj)
        ))
    })?;
    // What the iterable itself raises (a generator's own error, Ctrl-C while a database
    // cursor is read) is the caller's: raised again as it was.
    iter.map(|r| r.map_err(Failure::Python)).collect()
}

/// An optional column beside `n` pairs: `None`, or exactly `n` items, each converted by `f`
/// (which gets the item and its name, `what[i]`).
pub(crate) fn column<T>(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
    n: usize,
    f: impl Fn(&Bound<'_, PyAny>, &str) -> Result<T>,
) -> Result<Option<Vec<T>>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    refuse_unordered(obj, what)?;
    let items = items(obj, what)?;
    if items.len() != n {
        return Err(Failure::value(format!(
            "{what} has {} items for {n} pairs: give one per pair",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| f(item, &format!("{what}[{i}]")))
        .collect::<Result<Vec<T>>>()
        .map(Some)
}

/// An optional text (a phase): `None` or a `str`.
pub(crate) fn optional_text(obj: &Bound<'_, PyAny>, what: &str) -> Result<Option<String>> {
    if obj.is_none() {
        return Ok(None);
    }
    text(obj, what).map(Some)
}

/// A Python `int` argument as an `i128`, so that a count or seed beyond 64 bits reaches the
/// range check that follows ([`at_least`], [`Int::small`]), which refuses it with a
/// `ValueError` or `ConfigError` naming the argument, instead of PyO3's `OverflowError`
/// ("Python int too large to convert to C long"), which names none and which
/// `except ValueError` misses; a seed up to `2**64 - 1` is taken, as the CLI takes it. Beyond
/// 128 bits it saturates (refused all the same).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int(pub(crate) i128);

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;
    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<i128>() {
            Ok(v) => Ok(Int(v)),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(obj.py()) => {
                Ok(Int(if obj.lt(0)? { i128::MIN } else { i128::MAX }))
            }
            Err(e) => Err(e),
        }
    }
}

impl Int {
    /// The value as an `i64` for a configuration key, or a `ConfigError` naming `what`.
    pub(crate) fn small(self, what: &str) -> Result<i64> {
        i64::try_from(self.0).map_err(|_| {
            Failure::config(if self.0 < 0 {
                format!("{what}: {} is negative (expected a whole number)", self.0)
            } else {
                format!("{what}: {} is too large (beyond 64 bits)", self.0)
            })
        })
    }
}

/// A whole number of at least `min`. Counts are taken from Python as [`Int`] so that a
/// negative one is this `ValueError` naming the argument, not PyO3's `OverflowError` (which
/// `except ValueError` misses).
pub(crate) fn at_least<T: TryFrom<i128>>(v: i128, min: i128, what: &str) -> Result<T> {
    if v < min {
        return Err(Failure::value(format!(
            "{what} must be at least {min}, got {v}"
        )));
    }
    T::try_from(v).map_err(|_| Failure::value(format!("{what}: {v} is too large")))
}

/// A gold label: `None`, `0`, `1`, `False` or `True`, or a float equal to 0 or 1 (a label
/// column read as floats), numpy's scalars of those kinds included (`np.bool_`, `np.float32`:
/// what a pandas column's `to_numpy()` holds); another number is a `ValueError` (`0.9` is not
/// cut to 0), another type a `TypeError`.
pub(crate) fn label(obj: &Bound<'_, PyAny>, what: &str) -> Result<Option<u8>> {
    if obj.is_none() {
        return Ok(None);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Some(u8::from(b.is_true())));
    }
    let ty = obj.get_type();
    let numpy = ty.module().is_ok_and(|m| m == "numpy");
    if numpy && matches!(type_name(obj).as_str(), "bool_" | "bool") {
        let b = obj
            .is_truthy()
            .map_err(|e| Failure::type_error(format!("{what}: {e}")))?;
        return Ok(Some(u8::from(b)));
    }
    let float = match obj.cast::<PyFloat>() {
        Ok(f) => Some(f.value()),
        // numpy's float16/float32 (float64 is a float already); its integers go on below.
        Err(_) if numpy && type_name(obj).starts_with("float") => obj.extract::<f64>().ok(),
        Err(_) => None,
    };
    if let Some(v) = float {
        return if v == 0.0 {
            Ok(Some(0))
        } else if v == 1.0 {
            Ok(Some(1))
        } else {
            Err(Failure::value(format!(
                "{what}: a label is 0, 1 or None, got {v}"
            )))
        };
    }
    match obj.extract::<i64>() {
        Ok(0) => Ok(Some(0)),
        Ok(1) => Ok(Some(1)),
        Ok(v) => Err(Failure::value(format!(
            "{what}: a label is 0, 1 or None, got {v}"
        ))),
        // An int past 64 bits (numpy's `uint64` too) is a wrong value, not a wrong type.
        Err(_)
            if obj.is_instance_of::<pyo3::types::PyInt>()
                || (numpy && type_name(obj).contains("int")) =>
        {
            Err(Failure::value(format!(
                "{what}: a label is 0, 1 or None, got {obj}"
            )))
        }
        Err(_) => Err(Failure::type_error(format!(
            "{what}: a label is 0, 1 or None, got {}",
            type_name(obj)
        ))),
    }
}

/// A cosine threshold in [-1, 1]: a float, or a string such as `"0.70"` (kept as written).
pub(crate) fn threshold(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    let (v, written) = if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_string();
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| Failure::value(format!("{what}: `{s}` is not a number")))?;
        (v, s.trim().to_string())
    } else if obj.is_instance_of::<PyBool>() {
        return Err(Failure::type_error(format!(
            "{what}: expected a float, got bool"
        )));
    } else {
        let v: f64 = obj.extract().map_err(|_| {
            Failure::type_error(format!("{what}: expected a float, got {}", type_name(obj)))
        })?;
        (v, format!("{v}"))
    };
    if !v.is_finite() || !(-1.0..=1.0).contains(&v) {
        return Err(Failure::value(format!(
            "{what}: {written} is not a cosine threshold (expected a number from -1 to 1)"
        )));
    }
    Ok(written)
}
