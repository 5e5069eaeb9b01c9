//! The protocol's steps after scoring: build a GT store, calibrate the candidate's threshold
//! from shadow logs, export the disagreements for review and tally the verdicts. Each returns
//! the document the CLI prints with `--json`, as Python dicts (via `json.loads`).

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use titlesim::Config;
use titlesim_calibrate::review::{self, ExportOptions, Sample, TallyOptions};
use titlesim_calibrate::{calibrate_logs, to_json, Grid, Options, Threshold};

use crate::args::{self, Int};
use crate::errors::{Failure, Result};
use crate::model::find_ort_in_interpreter;
use crate::runtime::{detached, runtime};

fn json_to_py(py: Python<'_>, v: &serde_json::Value) -> PyResult<Py<PyAny>> {
    Ok(py
        .import("json")?
        .call_method1("loads", (v.to_string(),))?
        .unbind())
}

/// Sets `key` of the dict `doc` to `path` as a str, as `os.fsdecode` gives it: a path that is
/// not UTF-8 (one given with surrogate escapes) comes back as given, where JSON could not
/// hold it (`json!` of such a path panicked after the work was done).
fn set_path(py: Python<'_>, doc: Py<PyAny>, key: &str, path: &Path) -> PyResult<Py<PyAny>> {
    doc.bind(py).set_item(key, path.as_os_str())?;
    Ok(doc)
}

fn paths(obj: &Bound<'_, PyAny>, what: &str) -> Result<Vec<PathBuf>> {
    let one = obj.extract::<PathBuf>();
    let list = match one {
        Ok(p) if !obj.is_instance_of::<pyo3::types::PyBytes>() => vec![p],
        _ => args::items(obj, what)?
            .iter()
            .enumerate()
            .map(|(i, o)| {
                o.extract::<PathBuf>().map_err(|_| {
                    Failure::type_error(format!(
                        "{what}[{i}]: expected a path (str or os.PathLike)"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    if list.is_empty() {
        return Err(Failure::value(format!(
            "{what} is empty: name at least one shadow log"
        )));
    }
    Ok(list)
}

fn optional_threshold(obj: Option<&Bound<'_, PyAny>>, what: &str) -> Result<Option<Threshold>> {
    match obj.filter(|o| !o.is_none()) {
        None => Ok(None),
        Some(o) => Ok(Some(Threshold::parse(&args::threshold(o, what)?)?)),
    }
}

/// Calibrates the shadow model's threshold from shadow logs: per-phase statistics, agreement
/// with the canonical verdicts over the grid, the best and compromise thresholds, far-tail
/// warnings. Returns the document ``titlesim calibrate --json`` prints, as a dict (keys
/// ``phases``, ``pooled``, ``compromise``, ...).
///
/// ``logs``: a path or a list of paths. ``canon_threshold``: the canonical threshold T
/// (default: the one in the logs). ``grid``: ``"start:stop:step"``. ``floor``: the agreement
/// every phase should keep (0 to 1). ``propose``: a shadow threshold to check.
///
/// Raises ``ValueError`` for a bad option (a NaN threshold, a grid that is not
/// ``start:stop:step``, a floor outside 0..1), ``titlesim.InputError`` when the logs hold no
/// usable pair, ``titlesim.FileError`` when a log cannot be read.
#[pyfunction]
#[pyo3(signature = (logs, canon_threshold = None, grid = "0.50:0.99:0.01", floor = 0.78, propose = None))]
pub fn calibrate(
    py: Python<'_>,
    logs: &Bound<'_, PyAny>,
    canon_threshold: Option<&Bound<'_, PyAny>>,
    grid: &str,
    floor: f64,
    propose: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    let logs = paths(logs, "logs")?;
    if !(0.0..=1.0).contains(&floor) {
        return Err(Failure::value(format!(
            "floor: {floor} is not a share between 0 and 1 (e.g. 0.78)"
        ))
        .into());
    }
    let opts = Options {
        canon_threshold: optional_threshold(canon_threshold, "canon_threshold")?,
        grid: Grid::parse(grid).map_err(Failure::from)?,
        floor,
        propose: optional_threshold(propose, "propose")?,
    };
    let doc = detached(py, move || Ok(to_json(&calibrate_logs(&logs, &opts)?)))?;
    json_to_py(py, &doc)
}

/// Writes the pairs where the two models disagree (canonical at ``canon_threshold``, shadow at
/// ``shadow_threshold``) to the CSV file ``out`` for people to judge, as ``titlesim review
/// export`` does: both cosines and verdicts, the titles, the phase, the direction, and an empty
/// ``verdict`` column to fill with canonical, shadow, both or neither. ``sample=N`` exports a
/// stratified sample of N (``seed`` picks it). An existing ``out`` is refused unless
/// ``force=True`` (it may hold someone's verdicts).
///
/// Returns a dict: ``out``, ``pairs`` (usable pairs in the logs), ``exported`` (rows written)
/// and ``summary`` (the CLI's text).
#[pyfunction]
#[pyo3(
    signature = (logs, shadow_threshold, out, canon_threshold = None, sample = None, seed = Int(0), force = false),
    text_signature = "(logs, shadow_threshold, out, canon_threshold=None, sample=None, seed=0, force=False)"
)]
#[allow(clippy::too_many_arguments)]
pub fn review_export(
    py: Python<'_>,
    logs: &Bound<'_, PyAny>,
    shadow_threshold: &Bound<'_, PyAny>,
    out: PathBuf,
    canon_threshold: Option<&Bound<'_, PyAny>>,
    sample: Option<Int>,
    seed: Int,
    force: bool,
) -> PyResult<Py<PyAny>> {
    let logs = paths(logs, "logs")?;
    let sample: Option<usize> = sample
        .map(|n| args::at_least(n.0, 1, "sample"))
        .transpose()?;
    let seed: u64 = args::at_least(seed.0, 0, "seed")?;
    review::refuse_log_as_out(&out, &logs).map_err(Failure::from)?;
    if out.exists() && !force {
        return Err(Failure::Titlesim(
            crate::errors::Kind::File,
            format!(
                "{} exists (it may hold verdicts); choose another out or pass force=True",
                out.display()
            ),
        )
        .into());
    }
    let opts = ExportOptions {
        canon_threshold: optional_threshold(canon_threshold, "canon_threshold")?,
        shadow_threshold: Threshold::parse(&args::threshold(shadow_threshold, "shadow_threshold")?)
            .map_err(Failure::from)?,
        sample: sample.map(|n| Sample { n, seed }),
    };
    let out2 = out.clone();
    let (pairs, rows, summary) = detached(py, move || {
        let e = review::export_logs(&logs, &opts)?;
        review::write_csv(&e, &out2)?;
        Ok((e.pairs, e.rows.len(), e.summary()))
    })?;
    let doc = serde_json::json!({
        "out": null, "pairs": pairs, "exported": rows, "summary": summary,
    });
    set_path(py, json_to_py(py, &doc)?, "out", &out)
}

/// Tallies the verdicts of a filled review file and tests canonical-right against
/// shadow-right: the document ``titlesim review tally --json`` prints, as a dict. Rows not
/// yet reviewed are counted apart, or refused with ``require_complete=True``; an unknown
/// verdict raises ``titlesim.InputError`` naming the line.
#[pyfunction]
#[pyo3(signature = (path, require_complete = false))]
pub fn review_tally(py: Python<'_>, path: PathBuf, require_complete: bool) -> PyResult<Py<PyAny>> {
    let doc = detached(py, move || {
        Ok(review::tally(&path, &TallyOptions { require_complete })?.to_json())
    })?;
    json_to_py(py, &doc)
}

/// Builds (or extends) the GT store of a configured model from reference titles, as
/// ``titlesim precompute`` does: ``side`` is ``"canonical"`` or ``"shadow"``, the store is the
/// model's ``gt_store`` (or ``out``). Titles the store already holds are not encoded again, so
/// this also adds new titles to a store. Blank titles are skipped and counted.
/// ``chunk_size`` titles are encoded and written at a time (``--chunk-size``); ``batch_size``
/// is texts per backend call (``--batch-size``; default: the model's ``batch_size``, else 32).
///
/// Returns a dict: ``path``, ``fingerprint``, ``dim``, ``existing``, ``added``, ``replaced``,
/// ``skipped_blank``, ``note`` (``None``, or why a store made on another backend was left as
/// it is; also issued as a ``UserWarning``). Raises ``titlesim.StoreError`` for a store of another model, or titles to add to a
/// store made on another backend (unless ``gt_store_mismatch = "recompute"``, which rebuilds
/// it), ``titlesim.ConfigError`` when no store is named.
#[pyfunction]
#[pyo3(
    signature = (config, titles, side = "canonical", out = None, chunk_size = Int(256), batch_size = None),
    text_signature = "(config, titles, side=\"canonical\", out=None, chunk_size=256, batch_size=None)"
)]
pub fn precompute(
    py: Python<'_>,
    config: PathBuf,
    titles: &Bound<'_, PyAny>,
    side: &str,
    out: Option<PathBuf>,
    chunk_size: Int,
    batch_size: Option<Int>,
) -> PyResult<Py<PyAny>> {
    let mut titles = args::texts(titles, "titles")?;
    let total = titles.len();
    titles.retain(|t| !t.trim().is_empty());
    let skipped_blank = total - titles.len();
    if titles.is_empty() {
        return Err(Failure::value("titles holds only blank titles: nothing to precompute").into());
    }
    let chunk_size: usize = args::at_least(chunk_size.0, 1, "chunk_size")?;
    let batch_size: Option<usize> = batch_size
        .map(|b| args::at_least(b.0, 1, "batch_size"))
        .transpose()?;
    let cfg = Config::from_file(&config).map_err(Failure::from)?;
    let mut model = match side {
        "canonical" => cfg.canonical.clone(),
        "shadow" => cfg
            .shadow
            .clone()
            .ok_or_else(|| Failure::config(format!("{}: no [shadow] table", config.display())))?,
        other => {
            return Err(Failure::value(format!(
                "side: `{other}` is not \"canonical\" or \"shadow\""
            ))
            .into())
        }
    };
    let Some(path) = out.or_else(|| model.gt_store.clone()) else {
        return Err(Failure::config(format!(
            "[{side}] of {} has no gt_store: set one or pass out=PATH",
            config.display()
        ))
        .into());
    };
    // The model alone: the store is what this writes, not something to read.
    model.gt_store = None;
    if batch_size.is_some() {
        model.batch_size = batch_size;
    }
    if model.backend == titlesim::BackendKind::Ort {
        find_ort_in_interpreter(py, &mut model);
    }
    let policy = model.gt_store_mismatch;
    let r = detached(py, move || {
        let (scorer, _) = titlesim::load_scorer(&model)?;
        let r = runtime()?.block_on(titlesim::store::precompute(
            &scorer,
            &titles,
            &path,
            policy,
            chunk_size,
            |_| {},
        ))?;
        Ok(r)
    })?;
    let doc = serde_json::json!({
        "path": null, "fingerprint": r.fingerprint, "dim": r.dim, "existing": r.existing,
        "added": r.added, "replaced": r.replaced, "skipped_blank": skipped_blank, "note": r.note,
    });
    if let Some(note) = &r.note {
        crate::errors::user_warning(py, note)?;
    }
    set_path(py, json_to_py(py, &doc)?, "path", &r.path)
}
