//! `titlesim.Scorer`: verdicts for (product, ground truth) pairs with the canonical model of a
//! configuration, its GT store, and the shadow model logged beside it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use titlesim::{Config, CosineScorer, Pair, PairScore, Scorer as _};
use titlesim_shadow::{lost_records, ShadowScorer, ShadowSettings};

use crate::args::{self, Int};
use crate::errors::{user_warning, Failure, Kind, Result};
use crate::model::{find_ort_in_interpreter, Model};
use crate::runtime::{detached, made_here, runtime};

/// Judges (product, ground-truth) title pairs: the cosine of their embeddings at or above the
/// threshold is a pass.
///
/// Made with ``Scorer.from_config(path)`` from the same TOML file as the CLI (``[canonical]``,
/// and optionally ``[shadow]``, ``[shadow_options]``), or ``Scorer.from_model(model,
/// threshold)`` around a loaded ``Model``.
///
/// - With a ``gt_store`` in ``[canonical]`` (built by ``titlesim.precompute``), ground-truth
///   titles found there are not encoded ("GT skip"); ``counts`` shows how many. A store of
///   another model or dimension raises ``titlesim.StoreError`` at load.
/// - With a ``[shadow]`` table, every scored pair also gets a record in the shadow log
///   (``[shadow_options] log``, and CloudWatch EMF when ``emf`` is set) with both models'
///   cosines. The shadow never changes, delays or fails a canonical result: it runs in the
///   background, its errors and timeouts are written to the log, and a shadow model that fails
///   to load is a warning (``warnings``), not an exception.
///
/// Use it as a context manager, or call ``close()``, so the last shadow records are written
/// before the process ends. Calls release the GIL; several Python threads may score at once.
/// A scorer belongs to the process that made it: in a child forked since, scoring raises
/// ``titlesim.Error`` (the parent's scorer goes on logging).
///
/// A shadow log (or EMF output) that cannot be written (a full disk) never fails a verdict,
/// but is never silent either: the first call after a failed write warns (``UserWarning``,
/// naming the log and the records not written so far), and ``close()`` — or the end of a
/// ``with`` block — raises ``titlesim.FileError`` with the total (a warning instead when the
/// block is already ending with an exception).
#[pyclass(module = "titlesim", frozen, weakref)]
pub struct Scorer {
    canonical: CosineScorer,
    shadow: Option<Arc<ShadowScorer>>,
    warnings: Vec<String>,
    counts: Mutex<Counts>,
    closed: AtomicBool,
    next_id: AtomicU64,
    session: String,
    /// The first lost records have been warned about.
    warned: AtomicBool,
    /// The records lost in all have been reported (by `close()`, or at exit): shared with the
    /// entry in [`LIVE`], so a scorer is reported once.
    reported: Arc<AtomicBool>,
    /// The process its model and shadow threads live in (a fork's child has none of them).
    home: u32,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    pairs: u64,
    passed: u64,
    gt_from_store: u64,
    /// Ground truths the model encoded: not those from the store, nor a pair's with a blank
    /// title (under the default rule, neither title of such a pair is encoded).
    gt_encoded: u64,
}

/// What `__reduce__` gives pickle: the function that rebuilds the object, and its arguments.
type Reduced<'py, A> = (Bound<'py, PyAny>, A);
/// `Scores`' fields as `_scores` takes them.
type ScoresFields = (Vec<String>, Py<PyAny>, Py<PyAny>, Py<PyAny>, f32);
/// `Verdict`'s fields as `_verdict` takes them.
type VerdictFields = (f32, bool, f32, bool);

/// The verdicts of ``Scorer.score``: numpy arrays in the order of the pairs given.
#[pyclass(module = "titlesim", frozen)]
pub struct Scores {
    /// The pair ids (given, or made up: ``<session>-<n>``).
    #[pyo3(get)]
    ids: Vec<String>,
    /// Cosine of each pair's embeddings (float32).
    #[pyo3(get)]
    cosine: Py<PyArray1<f32>>,
    /// Whether each pair passed (``cosine >= threshold``).
    #[pyo3(get)]
    passed: Py<PyArray1<bool>>,
    /// Whether each pair's ground-truth vector came from the GT store (not encoded).
    #[pyo3(get)]
    gt_from_store: Py<PyArray1<bool>>,
    /// The threshold the cosines were compared with.
    #[pyo3(get)]
    threshold: f32,
}

#[pymethods]
impl Scores {
    fn __len__(&self) -> usize {
        self.ids.len()
    }

    /// Pickles as its fields, so a worker process can return its verdicts
    /// (``ProcessPoolExecutor``), and ``copy.copy`` works.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Reduced<'py, ScoresFields>> {
        let rebuild = py.import("titlesim._titlesim")?.getattr("_scores")?;
        Ok((
            rebuild,
            (
                self.ids.clone(),
                self.cosine.clone_ref(py).into_any(),
                self.passed.clone_ref(py).into_any(),
                self.gt_from_store.clone_ref(py).into_any(),
                self.threshold,
            ),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "titlesim.Scores({} pairs, threshold={})",
            self.ids.len(),
            self.threshold
        )
    }
}

/// The verdict of ``Scorer.score_pair``.
#[pyclass(module = "titlesim", frozen, get_all)]
pub struct Verdict {
    /// The cosine of the two embeddings.
    cosine: f32,
    /// Whether ``cosine >= threshold``.
    passed: bool,
    /// The threshold it was compared with.
    threshold: f32,
    /// Whether the ground-truth vector came from the GT store.
    gt_from_store: bool,
}

#[pymethods]
impl Verdict {
    fn __bool__(&self) -> bool {
        self.passed
    }

    /// Pickles as its fields (see ``Scores``).
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Reduced<'py, VerdictFields>> {
        let rebuild = py.import("titlesim._titlesim")?.getattr("_verdict")?;
        Ok((
            rebuild,
            (self.cosine, self.passed, self.threshold, self.gt_from_store),
        ))
    }

    fn __repr__(&self) -> String {
        format!(
            "titlesim.Verdict(cosine={}, passed={}, threshold={})",
            self.cosine,
            if self.passed { "True" } else { "False" },
            self.threshold
        )
    }
}

#[pymethods]
impl Scorer {
    /// Loads the models of a configuration file: ``[canonical]`` (with its ``gt_store``) and,
    /// when present and enabled, ``[shadow]`` with the sinks of ``[shadow_options]``. Relative
    /// paths in the file are relative to the file's folder, as for the CLI.
    ///
    /// With ``model="canonical"`` or ``model="shadow"``, only that model is loaded (with its
    /// ``gt_store`` and threshold) and nothing is logged: the scorer says what that model
    /// gives each pair, as ``titlesim replay`` records it (``titlesim.spark`` and
    /// ``titlesim.ray`` score history this way). ``threads`` sets the models' compute threads
    /// (default: the file's ``threads``, else all cores).
    ///
    /// Raises ``titlesim.ConfigError`` for an invalid file (naming the key) or
    /// ``model="shadow"`` without a ``[shadow]`` table, ``ValueError`` for another ``model``,
    /// ``titlesim.ModelError``/``BackendError`` when the canonical model cannot load,
    /// ``titlesim.StoreError`` for a GT store of another model, ``titlesim.FileError``
    /// when the shadow log is held by another process, and ``titlesim.InputError`` when its
    /// last record was written by other models, thresholds or backends (one log never mixes
    /// two models: after a promotion, point the log at a new file). A shadow model that fails to load
    /// only warns (but with ``model="shadow"``, where it raises).
    #[staticmethod]
    #[pyo3(signature = (path, model = None, threads = None))]
    fn from_config(
        py: Python<'_>,
        path: PathBuf,
        model: Option<String>,
        threads: Option<Int>,
    ) -> PyResult<Self> {
        let threads = threads.map(|n| n.0);
        let mut config = Config::from_file(&path).map_err(Failure::from)?;
        for cfg in std::iter::once(&mut config.canonical).chain(config.shadow.as_mut()) {
            if cfg.backend == titlesim::BackendKind::Ort {
                find_ort_in_interpreter(py, cfg);
            }
            if let Some(t) = threads {
                if t < 1 {
                    return Err(Failure::config(format!("threads: at least 1, got {t}")).into());
                }
                // The bound the configuration file's `threads` has (see `Model`).
                let max = titlesim::core::config::MAX_THREADS;
                let given = t;
                let t = usize::try_from(t).unwrap_or(usize::MAX);
                if t > max {
                    return Err(Failure::config(format!(
                        "threads: {given} is more than {max}: thousands of compute threads on a few \
                         cores take minutes per batch (leave it unset for all cores)"
                    ))
                    .into());
                }
                cfg.threads = Some(t);
            }
        }
        let one = match model.as_deref() {
            None => None,
            Some("canonical") => Some(config.canonical.clone()),
            Some("shadow") => match &config.shadow {
                Some(s) => Some(s.clone()),
                None => {
                    return Err(Failure::config(format!(
                        "{}: model=\"shadow\" but the file has no [shadow] table",
                        path.display()
                    ))
                    .into())
                }
            },
            Some(other) => {
                return Err(Failure::value(format!(
                    "model: {other:?}; use \"canonical\", \"shadow\" or None"
                ))
                .into())
            }
        };
        let scorer = match one {
            None => detached(py, move || load(&config, &path))?,
            Some(cfg) => detached(py, move || {
                let table = model.as_deref().unwrap_or("canonical");
                let (scorer, warnings) = titlesim::load_scorer(&cfg)
                    .map_err(|e| Failure::loading(e, &path, table, &cfg.model))?;
                Ok(Scorer::new(scorer, None, warnings))
            })?,
        };
        for w in &scorer.warnings {
            user_warning(py, w)?;
        }
        Ok(scorer)
    }

    /// A scorer around a loaded ``Model``: its cosine against ``threshold`` (no GT store, no
    /// shadow). Raises ``ValueError`` for a threshold that is not a number from -1 to 1.
    #[staticmethod]
    fn from_model(model: &Model, threshold: &Bound<'_, PyAny>) -> PyResult<Self> {
        made_here(model.home, "Model")?;
        let t: f32 = args::threshold(threshold, "threshold")?
            .parse()
            .map_err(|_| Failure::value("threshold: not a number"))?;
        let mut cfg = model.config.clone();
        cfg.threshold = t;
        let (canonical, warnings) =
            titlesim::scorer_for(model.embedder.clone(), &cfg).map_err(Failure::from)?;
        Ok(Scorer::new(canonical, None, warnings))
    }

    /// Scores pairs: ``products[i]`` against ``gts[i]``. Returns ``Scores`` (numpy arrays
    /// ``cosine`` and ``passed``, plus ``threshold``), in order.
    ///
    /// ``ids`` name the pairs in the shadow log (the shadow samples by id, so give stable ids
    /// to sample the same pairs on every run; by default each call makes fresh ones),
    /// ``phases`` and ``labels`` (0, 1 or None) are logged with them. The verdicts are those
    /// of the canonical model, whatever the shadow does.
    ///
    /// Ids are trimmed; each pair of a call needs its own (calibrate, review and burn-in count
    /// an id once).
    ///
    /// Raises ``TypeError`` for anything but lists of str (``None``, ``bytes``, other items),
    /// ``ValueError`` for empty lists, lists of different lengths, an empty or repeated id.
    #[pyo3(signature = (products, gts, ids = None, phases = None, labels = None))]
    fn score(
        &self,
        py: Python<'_>,
        products: &Bound<'_, PyAny>,
        gts: &Bound<'_, PyAny>,
        ids: Option<&Bound<'_, PyAny>>,
        phases: Option<&Bound<'_, PyAny>>,
        labels: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Scores> {
        self.check_open()?;
        let products = args::ordered_texts(products, "products")?;
        let gts = args::ordered_texts(gts, "gts")?;
        let n = products.len();
        if gts.len() != n {
            return Err(Failure::value(format!(
                "products has {n} titles but gts has {}: give one ground truth per product",
                gts.len()
            ))
            .into());
        }
        let ids = args::column(ids, "ids", n, args::pair_id)?;
        if let Some(ids) = &ids {
            if let Some((first, i)) = titlesim::repeated_id(ids.iter().map(String::as_str)) {
                return Err(Failure::value(format!(
                    "ids[{i}] {:?} repeats ids[{first}]: every pair needs its own id",
                    ids[i]
                ))
                .into());
            }
        }
        let phases = args::column(phases, "phases", n, args::optional_text)?;
        let labels = args::column(labels, "labels", n, args::label)?;
        let pairs = self.pairs(products, gts, ids, phases, labels, |field, i| {
            format!("{field}s[{i}]")
        })?;
        let scores = self.run(py, pairs)?;
        let ids = scores.iter().map(|s| s.id.clone()).collect();
        let cosine: Vec<f32> = scores.iter().map(|s| s.cosine).collect();
        let passed: Vec<bool> = scores.iter().map(|s| s.pass).collect();
        let from_store: Vec<bool> = scores.iter().map(|s| s.gt_from_store).collect();
        Ok(Scores {
            ids,
            cosine: read_only(PyArray1::from_vec(py, cosine))?,
            passed: read_only(PyArray1::from_vec(py, passed))?,
            gt_from_store: read_only(PyArray1::from_vec(py, from_store))?,
            threshold: self.canonical.threshold(),
        })
    }

    /// Scores one pair; returns a ``Verdict`` (``cosine``, ``passed``, ``threshold``, truthy when
    /// it passed). Raises as ``score`` does.
    #[pyo3(signature = (product, gt, id = None, phase = None, label = None))]
    fn score_pair(
        &self,
        py: Python<'_>,
        product: &Bound<'_, PyAny>,
        gt: &Bound<'_, PyAny>,
        id: Option<&Bound<'_, PyAny>>,
        phase: Option<&Bound<'_, PyAny>>,
        label: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Verdict> {
        self.check_open()?;
        let product = args::text(product, "product")?;
        let gt = args::text(gt, "gt")?;
        let id = id
            .filter(|i| !i.is_none())
            .map(|i| args::pair_id(i, "id"))
            .transpose()?;
        let phase = match phase {
            Some(p) => args::optional_text(p, "phase")?,
            None => None,
        };
        let label = match label {
            Some(l) => args::label(l, "label")?,
            None => None,
        };
        let pairs = self.pairs(
            vec![product],
            vec![gt],
            id.map(|i| vec![i]),
            Some(vec![phase]),
            Some(vec![label]),
            |field, _| field.to_string(),
        )?;
        let s = self.run(py, pairs)?.remove(0);
        Ok(Verdict {
            cosine: s.cosine,
            passed: s.pass,
            threshold: s.threshold,
            gt_from_store: s.gt_from_store,
        })
    }

    /// The canonical threshold.
    #[getter]
    fn threshold(&self) -> f32 {
        self.canonical.threshold()
    }

    /// The canonical model (its folder or name).
    #[getter]
    fn model(&self) -> String {
        self.canonical.info().model.clone()
    }

    /// The shadow model, or ``None`` when there is none (or it failed to load).
    #[getter]
    fn shadow_model(&self) -> Option<String> {
        self.shadow
            .as_ref()
            .and_then(|s| s.shadow())
            .map(|s| s.info().model.clone())
    }

    /// Warnings given at load (a shadow model that failed to load, a GT store ignored).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// What this scorer has done: ``pairs`` scored, ``passed``, ``gt_from_store`` (ground
    /// truths taken from the GT store, not encoded) and ``gt_encoded``.
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = *lock(&self.counts);
        let d = PyDict::new(py);
        d.set_item("pairs", c.pairs)?;
        d.set_item("passed", c.passed)?;
        d.set_item("gt_from_store", c.gt_from_store)?;
        d.set_item("gt_encoded", c.gt_encoded)?;
        Ok(d)
    }

    /// Waits for the shadow's last records and closes the sinks; returns what the shadow log
    /// got (``None`` without a shadow) as a dict: ``tally`` (pairs, shadowed, agreement and
    /// errors, overall and per phase) and ``sinks`` (records written and failed per sink).
    /// Scoring afterwards raises ``ValueError``; closing twice returns ``None``.
    ///
    /// Raises ``titlesim.FileError`` when a sink did not write every record (the verdicts
    /// returned stand; those pairs are missing from the log), naming each sink, its records
    /// not written and its last error; the dict is the exception's ``report``.
    fn close(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.finish(py, false)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes; records the log lost raise ``titlesim.FileError``, unless the block is ending
    /// with an exception already: then they are a warning, and that exception goes on.
    #[pyo3(signature = (*exc))]
    fn __exit__(&self, py: Python<'_>, exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        let unwinding = match exc.get_item(0) {
            Ok(t) => !t.is_none(),
            Err(_) => false,
        };
        self.finish(py, unwinding)?;
        Ok(false)
    }

    /// Refuses pickling and copying with what to do instead (see `Model.__reduce__`); two
    /// copies would also write one shadow log.
    fn __reduce__(&self) -> PyResult<()> {
        Err(Failure::type_error(
            "a titlesim.Scorer cannot be pickled or copied (it holds loaded models, their \
             threads and the shadow log's writer): pass the configuration's path to the worker \
             process and make the Scorer there with Scorer.from_config (e.g. in a \
             multiprocessing Pool's initializer); share one Scorer between threads instead of \
             copying it",
        )
        .into())
    }

    fn __repr__(&self) -> String {
        format!(
            "titlesim.Scorer({:?} at threshold {}, shadow={})",
            self.canonical.info().model,
            self.canonical.threshold(),
            // Python's spelling: None, or the quoted name.
            self.shadow_model()
                .map_or_else(|| "None".to_string(), |m| format!("{m:?}"))
        )
    }
}

impl Scorer {
    fn new(
        canonical: CosineScorer,
        shadow: Option<Arc<ShadowScorer>>,
        warnings: Vec<String>,
    ) -> Self {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Scorer {
            canonical,
            shadow,
            warnings,
            counts: Mutex::new(Counts::default()),
            closed: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            session: format!("py{}-{ms}", std::process::id()),
            warned: AtomicBool::new(false),
            reported: Arc::new(AtomicBool::new(false)),
            home: std::process::id(),
        }
    }

    /// Whether this process is the one the scorer was made in (not a child forked since).
    fn at_home(&self) -> bool {
        self.home == std::process::id()
    }

    /// `close()`: finishes the shadow, and reports lost records as `titlesim.FileError` (a
    /// warning when `unwinding`, while another exception is on its way).
    fn finish(&self, py: Python<'_>, unwinding: bool) -> PyResult<Option<Py<PyAny>>> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        // In a forked child the shadow's writer is the parent's: closed here, it goes on there.
        if !self.at_home() {
            return Ok(None);
        }
        let Some(shadow) = self.shadow.clone() else {
            return Ok(None);
        };
        let (json, lost) = detached(py, move || {
            let report = runtime()?.block_on(shadow.finish())?;
            let doc = serde_json::json!({ "tally": report.tally, "sinks": report.sinks });
            Ok((doc.to_string(), lost_records(&report.sinks)))
        })?;
        let value = py.import("json")?.call_method1("loads", (json,))?;
        let Some(lost) = lost else {
            return Ok(Some(value.unbind()));
        };
        self.reported.store(true, Ordering::SeqCst);
        let message = closed_message(&lost);
        if unwinding {
            warn(py, &message);
            return Ok(Some(value.unbind()));
        }
        let err = PyErr::from(Failure::Titlesim(Kind::File, message));
        err.value(py).setattr("report", value)?;
        Err(err)
    }

    /// Warns, once per scorer, when a sink has failed to write records.
    fn warn_lost(&self, py: Python<'_>) -> PyResult<()> {
        let Some(shadow) = &self.shadow else {
            return Ok(());
        };
        if self.warned.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(lost) = lost_records(&shadow.sink_statuses()) else {
            return Ok(());
        };
        if self.warned.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        user_warning(
            py,
            &format!(
                "the shadow log is losing records: {lost}; the verdicts are unaffected, and \
                 close() raises titlesim.FileError with the total"
            ),
        )
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(closed());
        }
        Ok(())
    }

    fn pairs(
        &self,
        products: Vec<String>,
        gts: Vec<String>,
        ids: Option<Vec<String>>,
        phases: Option<Vec<Option<String>>>,
        labels: Option<Vec<Option<u8>>>,
        name: impl Fn(&str, usize) -> String,
    ) -> Result<Vec<Pair>> {
        let n = products.len();
        let ids = ids.unwrap_or_else(|| {
            let first = self.next_id.fetch_add(n as u64, Ordering::SeqCst);
            (first..first + n as u64)
                .map(|i| format!("{}-{i}", self.session))
                .collect()
        });
        let mut phases = phases.unwrap_or_else(|| vec![None; n]).into_iter();
        let mut labels = labels.unwrap_or_else(|| vec![None; n]).into_iter();
        products
            .into_iter()
            .zip(gts)
            .zip(ids)
            .enumerate()
            .map(|(i, ((product, gt), id))| {
                let pair = Pair {
                    id,
                    phase: phases.next().flatten(),
                    product,
                    gt,
                    label: labels.next().flatten(),
                };
                // The rules every input path applies (trimmed phases, no control characters
                // in ids and phases, titles at most 64 KiB), named as the caller's argument.
                pair.checked().map_err(|e| {
                    Failure::value(format!("{}: the value {}", name(e.field, i), e.problem))
                })
            })
            .collect()
    }

    /// Scores on the shared runtime with the GIL released, through the shadow scorer when
    /// there is one.
    fn run(&self, py: Python<'_>, pairs: Vec<Pair>) -> PyResult<Vec<PairScore>> {
        made_here(self.home, "Scorer")?;
        let encodes: Vec<bool> = pairs.iter().map(|p| self.canonical.encodes(p)).collect();
        let canonical = self.canonical.clone();
        let shadow = self.shadow.clone();
        let scores = detached(py, move || {
            let rt = runtime()?;
            let scores = match &shadow {
                // `close()` from another thread since this call's check: the closed
                // Scorer's own error, not a backend failure.
                Some(s) => match rt.block_on(s.score_batch(&pairs)) {
                    Err(titlesim_shadow::Error::Finished) => return Err(closed()),
                    r => r?,
                },
                None => rt.block_on(canonical.score_batch(&pairs))?,
            };
            if scores.len() != pairs.len() {
                return Err(Failure::Panic(format!(
                    "the scorer returned {} scores for {} pairs",
                    scores.len(),
                    pairs.len()
                )));
            }
            Ok(scores)
        })?;
        {
            let mut c = lock(&self.counts);
            for (s, encodes) in scores.iter().zip(&encodes) {
                c.pairs += 1;
                c.passed += u64::from(s.pass);
                c.gt_from_store += u64::from(s.gt_from_store);
                c.gt_encoded += u64::from(*encodes && !s.gt_from_store);
            }
        }
        self.warn_lost(py)?;
        Ok(scores)
    }
}

/// The error of a call on a closed Scorer.
fn closed() -> Failure {
    Failure::value("this Scorer is closed: make a new one to score more pairs")
}

impl Drop for Scorer {
    /// A scorer dropped without `close()` still writes its last shadow records.
    fn drop(&mut self) {
        // First, closed or not (a child may have called close()): the parent's objects are
        // never dropped in a forked child.
        if !self.at_home() {
            // A forked child's copy: the parent writes the records; the writer thread and
            // runtime the shadow would wait for do not exist here, nor the model's threads
            // that dropping a backend may join.
            std::mem::forget(self.shadow.take());
            std::mem::forget(self.canonical.clone());
            return;
        }
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let (Some(shadow), Ok(rt)) = (self.shadow.take(), runtime()) {
            // Without the GIL: finishing waits for the shadow's last batches (up to their time
            // budget) and the log writer, and every other Python thread would wait with it.
            let report = Python::attach(|py| {
                py.detach(|| {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        rt.block_on(shadow.finish())
                    }))
                })
            });
            let lost = match report {
                Ok(Ok(r)) => lost_records(&r.sinks),
                _ => None,
            };
            if let Some(lost) = lost {
                if !self.reported.swap(true, Ordering::SeqCst) {
                    Python::attach(|py| warn(py, &closed_message(&lost)));
                }
            }
        }
    }
}

/// The ids and phases of pairs as every input path takes them (``Pair::checked``: trimmed, a
/// blank phase none; an empty id, a control character, a reserved phase, a NUL byte or over
/// 64 KiB in a title raises ``ValueError`` naming ``ids[i]``, ``phases[i]``, ``products[i]``
/// or ``gts[i]``), for ``titlesim.spark`` and ``titlesim.ray``. Repeated ids are not looked
/// for: a batch is a part of the history, and whether a repeat fell in it would depend on
/// where the batches were cut.
#[pyfunction]
pub fn _checked_pairs(
    ids: Vec<String>,
    phases: Vec<Option<String>>,
    products: &Bound<'_, PyAny>,
    gts: &Bound<'_, PyAny>,
) -> PyResult<(Vec<String>, Vec<Option<String>>)> {
    // Read as `Scorer.score` reads them: a title that is not a str is a `TypeError` naming
    // its place (`products[3]: expected str, got int`).
    let products = args::ordered_texts_or_none(products, "products")?;
    let gts = args::ordered_texts_or_none(gts, "gts")?;
    let n = ids.len();
    if phases.len() != n || products.len() != n || gts.len() != n {
        return Err(Failure::value("_checked_pairs: lists of different lengths").into());
    }
    let mut out = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (i, (((id, phase), product), gt)) in ids
        .into_iter()
        .zip(phases)
        .zip(products)
        .zip(gts)
        .enumerate()
    {
        let pair = Pair {
            id,
            phase,
            product,
            gt,
            label: None,
        }
        .checked()
        .map_err(|e| Failure::value(format!("{0}s[{i}]: the {0} {1}", e.field, e.problem)))?;
        out.0.push(pair.id);
        out.1.push(pair.phase);
    }
    Ok(out)
}

/// Rebuilds a pickled ``Scores`` (its ``__reduce__``).
#[pyfunction]
pub fn _scores(
    ids: Vec<String>,
    cosine: Bound<'_, PyArray1<f32>>,
    passed: Bound<'_, PyArray1<bool>>,
    gt_from_store: Bound<'_, PyArray1<bool>>,
    threshold: f32,
) -> PyResult<Scores> {
    let n = ids.len();
    if cosine.len()? != n || passed.len()? != n || gt_from_store.len()? != n {
        return Err(Failure::value("Scores: ids and arrays of different lengths").into());
    }
    Ok(Scores {
        ids,
        cosine: read_only(cosine)?,
        passed: read_only(passed)?,
        gt_from_store: read_only(gt_from_store)?,
        threshold,
    })
}

/// `a`, made read-only: a verdict's arrays are its record, so `scores.cosine[0] = -5.0`
/// raises instead of leaving a cosine that disagrees with `passed`.
fn read_only<T: numpy::Element>(a: Bound<'_, PyArray1<T>>) -> PyResult<Py<PyArray1<T>>> {
    let kwargs = pyo3::types::PyDict::new(a.py());
    kwargs.set_item("write", false)?;
    a.call_method("setflags", (), Some(&kwargs))?;
    Ok(a.unbind())
}

/// Rebuilds a pickled ``Verdict`` (its ``__reduce__``).
#[pyfunction]
pub fn _verdict(cosine: f32, passed: bool, threshold: f32, gt_from_store: bool) -> Verdict {
    Verdict {
        cosine,
        passed,
        threshold,
        gt_from_store,
    }
}

/// Loads what a configuration names, as `titlesim serve` does: the shadow log's sinks first
/// (opened and locked before minutes of loading, when there is a `[shadow]` table, enabled or
/// not), the canonical scorer (an error stops here), the shadow scorer (a failure is a
/// warning).
fn load(config: &Config, path: &std::path::Path) -> Result<Scorer> {
    let sinks =
        titlesim_shadow::open_configured_sinks(&config.shadow_options, config.shadow.is_some())?;
    let (canonical, mut warnings) = titlesim::load_scorer(&config.canonical)
        .map_err(|e| Failure::loading(e, path, "canonical", &config.canonical.model))?;
    let Some((sinks, notes)) = sinks else {
        return Ok(Scorer::new(canonical, None, warnings));
    };
    warnings.extend(notes);
    let shadow = match config.active_shadow() {
        Some(cfg) => {
            let (shadow, w) = titlesim::load_shadow_scorer(cfg);
            warnings.extend(w);
            shadow
        }
        // `enabled = false`: the log gets the canonical side only, as with the CLI.
        None => None,
    };
    // A log the previous configuration wrote (a promotion that kept its path) is refused
    // before any record of these models joins it.
    if let Some(log) = &config.shadow_options.log {
        titlesim_shadow::check_log_models(log, &canonical, shadow.as_ref())?;
    }
    let settings = ShadowSettings::from_options(&config.shadow_options);
    let rt = runtime()?;
    let _guard = rt.enter();
    let shadow = Arc::new(ShadowScorer::new(
        canonical.clone(),
        shadow,
        settings,
        sinks,
    )?);
    let mut live = lock(&LIVE);
    // Scorers closed and dropped since leave dead entries: drop them, so the list stays small.
    live.retain(|(w, _, _)| w.strong_count() > 0);
    let scorer = Scorer::new(canonical, Some(shadow.clone()), warnings);
    live.push((
        Arc::downgrade(&shadow),
        scorer.reported.clone(),
        std::process::id(),
    ));
    drop(live);
    Ok(scorer)
}

/// The shadow scorers of the process, for [`_close_all`] at exit, each with its scorer's
/// "lost records reported" flag and the process it was made in (a forked child inherits the
/// list, not the scorers' threads).
#[allow(clippy::type_complexity)]
static LIVE: Mutex<Vec<(Weak<ShadowScorer>, Arc<AtomicBool>, u32)>> = Mutex::new(Vec::new());

/// What a scorer that lost records says when it closes.
fn closed_message(lost: &str) -> String {
    format!(
        "the verdicts returned are complete, but the shadow log is not: {lost}; those pairs \
         are missing from it"
    )
}

/// A `UserWarning` where raising is not possible (a `with` block ending with an exception,
/// a scorer collected or closed at exit); a warning filter that turns it into an error has
/// it printed as an unraisable exception.
fn warn(py: Python<'_>, message: &str) {
    if let Err(e) = user_warning(py, message) {
        e.write_unraisable(py, None);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Writes the last records of every shadow scorer still open; `titlesim/__init__.py`
/// registers it with `atexit`, so a script that never closes its scorer loses no record —
/// and one whose log lost records is told, with a warning.
#[pyfunction]
pub fn _close_all(py: Python<'_>) -> PyResult<()> {
    let here = std::process::id();
    let (live, inherited): (Vec<_>, Vec<_>) = lock(&LIVE)
        .drain(..)
        .partition(|(_, _, home)| *home == here);
    // A forked child's copies of its parent's scorers: the parent writes their records.
    std::mem::forget(inherited);
    let live: Vec<(Arc<ShadowScorer>, Arc<AtomicBool>)> = live
        .into_iter()
        .filter_map(|(w, reported, _)| w.upgrade().map(|s| (s, reported)))
        .collect();
    let lost = detached(py, move || {
        let rt = runtime()?;
        let mut lost = Vec::new();
        for (s, reported) in live {
            if let Ok(r) = rt.block_on(s.finish()) {
                if let Some(l) = lost_records(&r.sinks) {
                    if !reported.swap(true, Ordering::SeqCst) {
                        lost.push(l);
                    }
                }
            }
        }
        Ok(lost)
    })?;
    for l in lost {
        warn(py, &closed_message(&l));
    }
    Ok(())
}
