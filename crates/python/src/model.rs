//! `titlesim.Model`: one embedding model, called as sentence-transformers' `SentenceTransformer`
//! is (`encode`, `similarity`).

use std::path::PathBuf;
use std::sync::Arc;

use numpy::{PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use serde_json::{json, Map, Value};
use titlesim::{Embedder, ModelConfig, TransformerEmbedder};

use crate::args::{self, Int};
use crate::errors::{Failure, Result};
use crate::runtime::{detached, made_here};

/// An embedding model on one backend: ``encode`` texts into vectors, compare them with
/// ``similarity``.
///
/// ``Model(model, backend="candle", threads=None, dtype=None, ...)`` loads a
/// sentence-transformers model folder (or a Hugging Face cache entry) the way the CLI's
/// ``--model``/``--backend`` and a configuration's ``[canonical]`` table do, with the same
/// names for the options:
///
/// - ``backend``: ``"candle"``, ``"ort"`` (ONNX Runtime; ``"onnx"``, sentence-transformers'
///   name for it, is taken too) or ``"tract"``.
/// - ``threads``: compute threads (default: all cores).
/// - ``dtype``: ``"f32"``, or ``"int8"`` or ``"bf16"`` (candle only).
/// - ``spin``: ``True`` lets idle compute threads spin through a small batch's pass, ``False``
///   lets them sleep (default: candle, ort and tract all spin; tract through a single text's
///   pass).
/// - ``batch_size``: texts per backend call in ``Scorer`` use (default 32); ``encode`` takes its
///   own.
/// - ``max_length``, ``pooling``, ``normalize``, ``padding_side``, ``append_eos``: override the
///   folder's settings; ``onnx``, ``onnx_output``, ``ort_library``, ``optimization``: ONNX
///   options; ``revision``: a hub revision.
///
/// The ort backend finds ONNX Runtime as the CLI does (``ort_library``, ``ORT_DYLIB_PATH``,
/// ``cargo xtask fetch-models``'s folder) and also in the ``onnxruntime`` package of this
/// interpreter when one is installed.
///
/// Loading failures raise ``titlesim.ModelError`` (folder not found or unreadable),
/// ``titlesim.ConfigError`` (an option out of range) or ``titlesim.BackendError``.
///
/// A model belongs to the process that made it: in a child forked since (``multiprocessing``
/// with the "fork" start method), ``encode`` raises ``titlesim.Error``; make the model in the
/// child, or use the "spawn" or "forkserver" start method.
#[pyclass(module = "titlesim", frozen)]
pub struct Model {
    pub(crate) embedder: Arc<TransformerEmbedder>,
    pub(crate) config: ModelConfig,
    /// The process it was made in: its compute threads live there only.
    pub(crate) home: u32,
}

#[pymethods]
impl Model {
    #[new]
    #[pyo3(signature = (
        model, backend = "candle", threads = None, dtype = None, *, batch_size = None,
        max_length = None, pooling = None, normalize = None, padding_side = None,
        append_eos = None, onnx = None, onnx_output = None, ort_library = None,
        optimization = None, revision = None, spin = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        backend: &str,
        // i64, not usize: a negative value reaches the configuration's check (a ConfigError
        // naming the key), not PyO3's OverflowError, which `except ValueError` misses.
        threads: Option<Int>,
        dtype: Option<&str>,
        batch_size: Option<Int>,
        max_length: Option<Int>,
        pooling: Option<&str>,
        normalize: Option<bool>,
        padding_side: Option<&str>,
        append_eos: Option<bool>,
        onnx: Option<PathBuf>,
        onnx_output: Option<String>,
        ort_library: Option<PathBuf>,
        optimization: Option<&str>,
        revision: Option<String>,
        spin: Option<bool>,
    ) -> PyResult<Self> {
        let model = path_or_name(model, "model")?;
        let small = |n: Option<Int>, key: &str| {
            n.map(|n| n.small(&format!("Model(...) {key}"))).transpose()
        };
        let (threads, batch_size, max_length) = (
            small(threads, "threads")?,
            small(batch_size, "batch_size")?,
            small(max_length, "max_length")?,
        );
        for (key, v) in [
            ("threads", threads),
            ("batch_size", batch_size),
            ("max_length", max_length),
        ] {
            if let Some(n) = v.filter(|n| *n < 0) {
                return Err(Failure::config(format!(
                    "Model(...) {key}: {n} is negative (expected a whole number)"
                ))
                .into());
            }
        }
        let mut table = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                table.insert(k.into(), v);
            }
        };
        put("model", json!(model));
        put("backend", json!(backend));
        put("threshold", json!(0.0));
        put("threads", json!(threads));
        put("dtype", json!(dtype));
        put("batch_size", json!(batch_size));
        put("max_length", json!(max_length));
        put("pooling", json!(pooling));
        put("normalize", json!(normalize));
        put("padding_side", json!(padding_side));
        put("append_eos", json!(append_eos));
        // The two paths are set on the configuration itself: JSON holds only UTF-8 text, and
        // a path need not be (`json!` of such a path panicked).
        put("onnx", Value::Null);
        put("onnx_output", json!(onnx_output));
        put("ort_library", Value::Null);
        put("optimization", json!(optimization));
        put("revision", json!(revision));
        put("spin", json!(spin));
        let mut config: ModelConfig = serde_json::from_value(Value::Object(table))
            .map_err(|e| Failure::config(format!("Model(...): {e}")))?;
        config.onnx = onnx;
        config.ort_library = ort_library;
        config.validate("Model").map_err(Failure::from)?;
        if config.backend == titlesim::BackendKind::Ort {
            find_ort_in_interpreter(py, &mut config);
        }
        let embedder = {
            let config = config.clone();
            detached(py, move || Ok(Arc::new(titlesim::load_embedder(&config)?)))?
        };
        // What looked wrong in the folder (no modules.json: mean pooling, not normalised; a
        // default prompt not applied), as `titlesim inspect` and every command say it.
        for w in &embedder.spec().warnings {
            crate::errors::user_warning(py, w)?;
        }
        Ok(Model {
            embedder,
            config,
            home: std::process::id(),
        })
    }

    /// What looked wrong in the model folder when it loaded (each was also issued as a
    /// ``UserWarning``): e.g. no ``modules.json``, so mean pooling without normalisation.
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.embedder.spec().warnings.clone()
    }

    /// Embeds texts: a ``(len(texts), dim)`` float32 array, one row per text in order (a
    /// single ``str`` gives a ``(dim,)`` vector, as sentence-transformers does; an empty list
    /// gives a ``(0, dim)`` array, so an empty batch needs no special case).
    ///
    /// ``batch_size`` is the number of texts per backend call; the texts are sorted by length
    /// before they are batched, as sentence-transformers does, and the vectors depend neither
    /// on the batch size nor on which other texts share a call.
    /// ``normalize_embeddings=True`` L2-normalises vectors the model does not already
    /// normalise; ``None`` or ``False`` keeps what the model folder says. ``prompt_name``
    /// prepends a prompt of the folder's ``config_sentence_transformers.json`` (e.g.
    /// ``"query"``). The GIL is released while the model runs. sentence-transformers' keywords
    /// ``show_progress_bar`` (no bar is shown), ``convert_to_numpy=True`` and
    /// ``convert_to_tensor=False`` are taken, so that calls written for it run unchanged; the
    /// result is always a numpy array.
    ///
    /// Every argument but ``texts`` is keyword-only: sentence-transformers' positional order
    /// differs between its versions (``encode(texts, 64, True)`` meant
    /// ``show_progress_bar=True`` in version 2, and the second argument is ``prompt_name`` since
    /// version 3), so a positional call is a ``TypeError`` rather than another setting.
    ///
    /// Each text is stripped of white space at either end before tokenising (its prompt
    /// prepended), as sentence-transformers strips it.
    ///
    /// A long list is embedded in chunks of ``8 * batch_size`` texts (at least 256), longest
    /// first; Ctrl-C stops the call between chunks.
    ///
    /// Raises ``TypeError`` for something that is not a str or a list of str (a set, a dict or
    /// a DataFrame included), ``ValueError`` for a NUL character, a bad
    /// ``batch_size``, ``convert_to_numpy=False`` or ``convert_to_tensor=True``,
    /// ``titlesim.ConfigError`` for an unknown prompt name.
    #[pyo3(signature = (
        texts, *, batch_size = Int(32), normalize_embeddings = None, prompt_name = None,
        show_progress_bar = None, convert_to_numpy = true, convert_to_tensor = false
    ), text_signature = "($self, texts, *, batch_size=32, normalize_embeddings=None, \
        prompt_name=None, show_progress_bar=None, convert_to_numpy=True, convert_to_tensor=False)")]
    #[allow(clippy::too_many_arguments)]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        batch_size: Int,
        normalize_embeddings: Option<&Bound<'py, PyAny>>,
        prompt_name: Option<&str>,
        show_progress_bar: Option<bool>,
        convert_to_numpy: bool,
        convert_to_tensor: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = show_progress_bar;
        if !convert_to_numpy || convert_to_tensor {
            return Err(Failure::value(
                "titlesim returns numpy arrays only: convert_to_numpy=False and \
                 convert_to_tensor=True are not supported (torch.from_numpy(result) gives a \
                 tensor)",
            )
            .into());
        }
        made_here(self.home, "Model")?;
        let single = texts.is_instance_of::<pyo3::types::PyString>();
        let list = if single {
            vec![args::text(texts, "texts")?]
        } else {
            args::ordered_texts_or_none(texts, "texts")?
        };
        let batch_size: usize = args::at_least(batch_size.0, 1, "batch_size")?;
        let prompt = match prompt_name {
            Some(name) => Some(
                self.embedder
                    .spec()
                    .prompt(name)
                    .map_err(Failure::from)?
                    .to_string(),
            ),
            None => None,
        };
        if list.is_empty() {
            let dim = self.embedder.dim();
            return Ok(numpy::PyArray1::<f32>::from_vec(py, Vec::new())
                .reshape([0, dim])?
                .into_any());
        }
        // Any truthy value, as sentence-transformers takes it (`1`, `np.True_`).
        let normalize = match normalize_embeddings {
            Some(n) if !n.is_none() => n.is_truthy()?,
            _ => false,
        } && !self.embedder.info().normalize;
        let dim = self.embedder.dim();
        let mut list: Vec<String> = match &prompt {
            Some(p) => list
                .iter()
                .map(|t| titlesim::apply_prompt(Some(p), t).into_owned())
                .collect(),
            None => list,
        };
        // Longest first, in chunks of a few batches, each embedded with the GIL released: the
        // embedder sorts a chunk by tokens, so batches stay as evenly padded as in one call,
        // and between chunks a Ctrl-C (any signal handler that raises) stops the call. The
        // vectors do not depend on the chunk a text lands in.
        let mut order: Vec<usize> = (0..list.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(list[i].len()));
        let chunk = batch_size.saturating_mul(8).max(256);
        let mut flat = vec![0f32; list.len() * dim];
        for part in order.chunks(chunk) {
            // Each text goes to one chunk only: moved, not copied.
            let texts: Vec<String> = part.iter().map(|&i| std::mem::take(&mut list[i])).collect();
            let embedder = self.embedder.clone();
            let vectors = detached(py, move || {
                let vectors = embedder.embed_blocking_batched(&texts, batch_size)?;
                if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != dim) {
                    return Err(Failure::Panic(format!(
                        "the embedder returned {} vectors for {} texts, or not all of length {dim}",
                        vectors.len(),
                        texts.len()
                    )));
                }
                Ok(vectors)
            })?;
            for (&i, mut v) in part.iter().zip(vectors) {
                if normalize {
                    titlesim::l2_normalize(&mut v);
                }
                flat[i * dim..(i + 1) * dim].copy_from_slice(&v);
            }
            py.check_signals()?;
        }
        let n = list.len();
        let array = numpy::PyArray1::from_vec(py, flat);
        if single {
            Ok(array.into_any())
        } else {
            Ok(array.reshape([n, dim])?.into_any())
        }
    }

    /// Cosine similarity of every row of ``a`` with every row of ``b``: a ``(len(a), len(b))``
    /// float32 array (sentence-transformers' ``model.similarity``). Either may be a single
    /// vector. Computed in float64 as the scorer does, so ``similarity(p, g)`` equals the
    /// cosine a ``Scorer`` compares with its threshold.
    ///
    /// Raises ``ValueError`` when the vectors' lengths differ from each other or from the
    /// model's dimension, or hold NaN or infinity.
    fn similarity<'py>(
        &self,
        py: Python<'py>,
        a: &Bound<'py, PyAny>,
        b: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let dim = self.embedder.dim();
        let (a, na) = matrix(py, a, "a", dim)?;
        let (b, nb) = matrix(py, b, "b", dim)?;
        // Each entry is titlesim::cosine of its rows, bit for bit; a large matrix on the model's
        // `threads` (default: every core).
        let threads = self
            .config
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let out = detached(py, move || {
            Ok(titlesim::cosine_matrix(&a, &b, dim, threads))
        })?;
        numpy::PyArray1::from_vec(py, out).reshape([na, nb])
    }

    /// The length of the vectors.
    #[getter]
    fn dim(&self) -> usize {
        self.embedder.dim()
    }

    /// The length of the vectors, as sentence-transformers' method of this name gives it
    /// (the same as ``dim``).
    fn get_sentence_embedding_dimension(&self) -> usize {
        self.embedder.dim()
    }

    /// Whether the model L2-normalises its vectors (its folder's ``modules.json``).
    #[getter]
    fn normalize(&self) -> bool {
        self.embedder.info().normalize
    }

    /// The backend running the model: ``"candle"``, ``"ort"`` or ``"tract"``.
    #[getter]
    fn backend(&self) -> String {
        self.embedder.info().backend.clone()
    }

    /// The model as configured (its folder or name).
    #[getter]
    fn model(&self) -> String {
        self.embedder.info().model.clone()
    }

    /// The vectors' fingerprint (``ts1-...``): the same for any backend and batch that give the
    /// same vectors; shadow logs and GT stores record it.
    #[getter]
    fn fingerprint(&self) -> String {
        self.embedder.fingerprint().to_string()
    }

    /// The model's maximum sequence length in tokens (longer texts are truncated).
    #[getter]
    fn max_seq_length(&self) -> usize {
        self.embedder.spec().max_seq_length
    }

    /// Refuses pickling and copying with what to do instead: a model is loaded weights and
    /// compute threads, which neither a pickle nor a copy can carry.
    fn __reduce__(&self) -> PyResult<()> {
        Err(Failure::type_error(
            "a titlesim.Model cannot be pickled or copied (it holds loaded weights and compute \
             threads): pass the model's folder or name to the worker process and make the Model \
             there (e.g. in a multiprocessing Pool's initializer); share one Model between \
             threads instead of copying it",
        )
        .into())
    }

    fn __repr__(&self) -> String {
        format!(
            "titlesim.Model({:?}, backend={:?}, dim={})",
            self.embedder.info().model,
            self.embedder.info().backend,
            self.embedder.dim()
        )
    }
}

impl Drop for Model {
    /// In a forked child the model is left as it is: a backend's thread pool, dropped, may
    /// wait to join threads that exist only in the parent.
    fn drop(&mut self) {
        if self.home != std::process::id() {
            std::mem::forget(self.embedder.clone());
        }
    }
}

/// A model folder given as `str` or `os.PathLike`.
pub(crate) fn path_or_name(obj: &Bound<'_, PyAny>, what: &str) -> Result<String> {
    if let Ok(p) = obj.extract::<PathBuf>() {
        return p
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| Failure::value(format!("{what}: the path is not valid UTF-8")));
    }
    Err(Failure::type_error(format!(
        "{what}: expected a str or path, got {}",
        obj.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

/// When nothing names the ONNX Runtime library (`ort_library`, `ORT_DYLIB_PATH`), the
/// `onnxruntime` package of this interpreter, if installed, provides it: the running
/// interpreter may be a virtual environment that the `python3` on `PATH` is not.
pub(crate) fn find_ort_in_interpreter(py: Python<'_>, config: &mut ModelConfig) {
    if config.ort_library.is_some()
        || std::env::var_os("ORT_DYLIB_PATH").is_some_and(|v| !v.is_empty())
    {
        return;
    }
    let found = (|| -> PyResult<Option<PathBuf>> {
        let spec = py
            .import("importlib.util")?
            .call_method1("find_spec", ("onnxruntime",))?;
        if spec.is_none() {
            return Ok(None);
        }
        let locations = spec.getattr("submodule_search_locations")?;
        if locations.is_none() {
            return Ok(None);
        }
        for loc in locations.try_iter()? {
            let capi = PathBuf::from(loc?.extract::<String>()?).join("capi");
            let has_lib = std::fs::read_dir(&capi).is_ok_and(|d| {
                d.flatten().any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("libonnxruntime.so")
                        || n.starts_with("libonnxruntime.") && n.ends_with(".dylib")
                })
            });
            if has_lib {
                return Ok(Some(capi));
            }
        }
        Ok(None)
    })();
    if let Ok(Some(capi)) = found {
        config.ort_library = Some(capi);
    }
}

/// Vectors as one flat float32 buffer and their count: a 1-D vector or a 2-D array of rows of
/// length `dim`, anything `numpy.asarray` takes.
fn matrix(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    what: &str,
    dim: usize,
) -> Result<(Vec<f32>, usize)> {
    if obj.is_none() {
        return Err(Failure::type_error(format!(
            "{what}: expected an array of vectors, got None"
        )));
    }
    let np = py
        .import("numpy")
        .map_err(|e| Failure::Panic(format!("numpy: {e}")))?;
    // Row-major whatever the caller's layout: `to_vec` copies a column-major (Fortran-order)
    // array in memory order, which would pair each vector with the wrong numbers.
    let arr = np
        .call_method1("asarray", (obj,))
        .and_then(|a| np.call_method1("ascontiguousarray", (a, "float32")))
        .map_err(|e| Failure::type_error(format!("{what}: not an array of numbers: {e}")))?;
    let arr = arr
        .cast_into::<numpy::PyArrayDyn<f32>>()
        .map_err(|_| Failure::type_error(format!("{what}: not an array of numbers")))?;
    let shape = arr.shape().to_vec();
    let (n, d) = match shape.as_slice() {
        [d] => (1, *d),
        [n, d] => (*n, *d),
        other => {
            return Err(Failure::value(format!(
                "{what}: expected a vector or a 2-D array of vectors, got shape {other:?}"
            )))
        }
    };
    if d != dim {
        return Err(Failure::value(format!(
            "{what}: vectors of length {d}, but this model's are {dim}: were they made by another model?"
        )));
    }
    let flat: Vec<f32> = arr
        .to_vec()
        .map_err(|e| Failure::value(format!("{what}: {e}")))?;
    if let Some(i) = flat.iter().position(|x| !x.is_finite()) {
        return Err(Failure::value(format!(
            "{what}: row {} holds NaN or infinity",
            i / dim.max(1)
        )));
    }
    Ok((flat, n))
}
