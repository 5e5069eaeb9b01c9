//! Reading safetensors checkpoints, one tensor at a time, with errors that name the file and
//! the tensor.
//!
//! [`Weights::load`] reads and checks only the files' headers (names, dtypes, shapes, byte
//! ranges); each tensor's bytes are read from its file when the model asks for it, and
//! dropped once the model holds its own copy. So loading never holds a whole checkpoint in
//! memory beside the model: peak memory is the model plus its largest tensor.
//!
//! Checkpoints of the same architecture are saved with or without a wrapper prefix (`bert.`
//! for `BertForX` heads, `model.` for decoders): names are looked up with and without it.
//! Non-float tensors (e.g. the int64 `embeddings.position_ids` buffer of BERT checkpoints) are
//! skipped. Weight matrices stored in bf16 stay bf16 ([`Values::Bf16`]: half the memory,
//! widened to f32 by each product as it runs, which is exact); everything else is widened
//! (f16) or narrowed (f64) to f32.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use titlesim_core::{Error, Result};

/// The float formats a checkpoint may store weights in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Float {
    F32,
    Bf16,
    F16,
    F64,
}

impl Float {
    fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::Bf16 | Float::F16 => 2,
            Float::F64 => 8,
        }
    }
}

/// Where one float tensor lies.
#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    dtype: Float,
    shape: Vec<usize>,
    /// Absolute byte offset in the file.
    start: u64,
    len: usize,
}

/// A weight matrix `[rows, cols]` (row-major, PyTorch's `[out, in]` for a dense layer) as the
/// model keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Matrix {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) data: Values,
}

/// The values of a [`Matrix`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    /// f32 values.
    F32(Vec<f32>),
    /// bf16 values (their bit patterns), as the checkpoint stored them.
    Bf16(Vec<u16>),
}

impl Matrix {
    /// An f32 matrix (`data.len()` must be `rows * cols`).
    #[cfg(test)]
    pub(crate) fn f32(data: Vec<f32>, rows: usize, cols: usize) -> Matrix {
        debug_assert_eq!(data.len(), rows * cols);
        Matrix {
            rows,
            cols,
            data: Values::F32(data),
        }
    }

    /// The values widened to f32 (exact).
    pub(crate) fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            Values::F32(v) => v.clone(),
            Values::Bf16(b) => b.iter().map(|&b| bf16_to_f32(b)).collect(),
        }
    }

    /// The transpose `[cols, rows]`, in the same format.
    pub(crate) fn transposed(&self) -> Matrix {
        fn t<T: Copy + Default>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
            let mut out = vec![T::default(); v.len()];
            for (r, row) in v.chunks_exact(cols.max(1)).enumerate().take(rows) {
                for (c, &x) in row.iter().enumerate() {
                    out[c * rows + r] = x;
                }
            }
            out
        }
        let data = match &self.data {
            Values::F32(v) => Values::F32(t(v, self.rows, self.cols)),
            Values::Bf16(v) => Values::Bf16(t(v, self.rows, self.cols)),
        };
        Matrix {
            rows: self.cols,
            cols: self.rows,
            data,
        }
    }

    /// Stacks matrices of the same width row-wise (bf16 stays bf16 when all are).
    pub(crate) fn cat(ms: &[Matrix]) -> candle_core::Result<Matrix> {
        let cols = ms.first().map_or(0, |m| m.cols);
        if let Some(m) = ms.iter().find(|m| m.cols != cols) {
            candle_core::bail!("cannot stack matrices of {cols} and {} columns", m.cols);
        }
        let rows = ms.iter().map(|m| m.rows).sum();
        let data = if ms.iter().all(|m| matches!(m.data, Values::Bf16(_))) {
            let mut all = Vec::with_capacity(rows * cols);
            for m in ms {
                if let Values::Bf16(b) = &m.data {
                    all.extend_from_slice(b);
                }
            }
            Values::Bf16(all)
        } else {
            let mut all = Vec::with_capacity(rows * cols);
            for m in ms {
                all.extend(m.to_f32());
            }
            Values::F32(all)
        };
        Ok(Matrix { rows, cols, data })
    }

    /// Rows `ids` (each below `rows`) widened to f32, one after the other: an embedding lookup.
    pub(crate) fn gather(&self, ids: &[usize]) -> Vec<f32> {
        let w = self.cols;
        let mut out = Vec::with_capacity(ids.len() * w);
        for &id in ids {
            match &self.data {
                Values::F32(v) => out.extend_from_slice(&v[id * w..(id + 1) * w]),
                Values::Bf16(b) => {
                    out.extend(b[id * w..(id + 1) * w].iter().map(|&b| bf16_to_f32(b)))
                }
            }
        }
        out
    }
}

/// bf16 bits to f32: the same bits in the top half (exact, NaNs included).
#[inline(always)]
pub(crate) fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// The float tensors of one or more safetensors files, by name, read on demand.
pub(crate) struct Weights {
    entries: HashMap<String, Entry>,
    /// Tensors of a type that holds no weights we read (integer buffers such as
    /// `position_ids`), by name: named when a weight is looked up under one.
    others: HashMap<String, String>,
    files: Vec<PathBuf>,
    prefix: &'static str,
}

/// The largest header we read (safetensors' own limit is 100 MB).
const MAX_HEADER: u64 = 100_000_000;

impl Weights {
    /// Reads and checks the headers of `files`. `prefix` (e.g. `"bert."`) is stripped from
    /// names that carry it.
    pub(crate) fn load(files: &[PathBuf], prefix: &'static str) -> Result<Self> {
        let mut entries: HashMap<String, Entry> = HashMap::new();
        let mut others = HashMap::new();
        for (idx, path) in files.iter().enumerate() {
            let invalid = |why: String| {
                Error::model_file(path, format!("not a valid safetensors file: {why}"))
            };
            let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
            let size = f.metadata().map_err(|e| Error::io(path, e))?.len();
            if size < 8 {
                return Err(invalid(format!(
                    "{size} bytes, shorter than its 8-byte header length"
                )));
            }
            let mut n = [0u8; 8];
            f.read_exact(&mut n).map_err(|e| Error::io(path, e))?;
            let n = u64::from_le_bytes(n);
            if n > MAX_HEADER || n > size - 8 {
                return Err(invalid(format!(
                    "header length {n} does not fit in a file of {size} bytes"
                )));
            }
            let mut header = vec![0u8; n as usize];
            f.read_exact(&mut header).map_err(|e| Error::io(path, e))?;
            let json: serde_json::Value = serde_json::from_slice(&header)
                .map_err(|e| invalid(format!("header is not JSON: {e}")))?;
            let obj = json
                .as_object()
                .ok_or_else(|| invalid("header is not a JSON object".into()))?;
            let data_start = 8 + n;
            let data_len = size - data_start;
            let mut ranges = Vec::new();
            for (name, info) in obj {
                if name == "__metadata__" {
                    continue;
                }
                let bad = |why: &str| invalid(format!("tensor `{name}`: {why}"));
                let dtype = info
                    .get("dtype")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| bad("no `dtype`"))?;
                let shape = info
                    .get("shape")
                    .and_then(serde_json::Value::as_array)
                    .and_then(|a| {
                        a.iter()
                            .map(|d| d.as_u64().map(|d| d as usize))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| bad("no `shape` of non-negative integers"))?;
                let (b, e) = match info
                    .get("data_offsets")
                    .and_then(serde_json::Value::as_array)
                    .map(|a| a.iter().map(serde_json::Value::as_u64).collect::<Vec<_>>())
                    .as_deref()
                {
                    Some([Some(b), Some(e)]) if b <= e => (*b, *e),
                    _ => return Err(bad("no `data_offsets` [begin, end]")),
                };
                if e > data_len {
                    return Err(bad(&format!(
                        "its bytes {b}..{e} run past the end of the data ({data_len} bytes)"
                    )));
                }
                ranges.push((b, e));
                let dtype = match dtype {
                    "F32" => Float::F32,
                    "BF16" => Float::Bf16,
                    "F16" => Float::F16,
                    "F64" => Float::F64,
                    // Integer buffers (position ids) and exotic formats carry no weights we use.
                    other => {
                        let key = name.strip_prefix(prefix).unwrap_or(name).to_string();
                        others.insert(key, other.to_string());
                        continue;
                    }
                };
                let count = shape
                    .iter()
                    .try_fold(1usize, |a, &d| a.checked_mul(d))
                    .and_then(|c| c.checked_mul(dtype.size()));
                if count != Some((e - b) as usize) {
                    return Err(bad(&format!(
                        "{} bytes for shape {shape:?} of {dtype:?}",
                        e - b
                    )));
                }
                let key = name.strip_prefix(prefix).unwrap_or(name).to_string();
                // `bert.x` and `x`, or one name in two shards: which copy would be used is
                // chance, so neither is.
                if let Some(first) = entries.get(&key) {
                    return Err(Error::model_file(
                        path,
                        format!(
                            "holds `{name}`, but `{key}` is already in {} (with or without the `{prefix}` prefix): one tensor, two copies",
                            files[first.file].display()
                        ),
                    ));
                }
                entries.insert(
                    key,
                    Entry {
                        file: idx,
                        dtype,
                        shape,
                        start: data_start + b,
                        len: (e - b) as usize,
                    },
                );
            }
            // Tensors may not overlap (as safetensors itself checks).
            ranges.sort_unstable();
            if let Some(w) = ranges.windows(2).find(|w| w[1].0 < w[0].1) {
                return Err(invalid(format!(
                    "tensors overlap (bytes {}..{} and {}..{})",
                    w[0].0, w[0].1, w[1].0, w[1].1
                )));
            }
        }
        Ok(Weights {
            entries,
            others,
            files: files.to_vec(),
            prefix,
        })
    }

    /// The file to blame for a missing tensor.
    fn main_file(&self) -> &Path {
        self.files
            .first()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new("model.safetensors"))
    }

    /// True when the checkpoint holds `name` (with or without the prefix).
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Refuses a checkpoint that holds layer `{layers}.{n}` when `config.json` says
    /// `num_hidden_layers` = `n`: the model would silently run with its last layers cut off
    /// (and no longer match its own ONNX export).
    pub(crate) fn refuse_extra_layer(&self, layers: &str, n: usize) -> Result<()> {
        let extra = format!("{layers}.{n}.");
        match self.entries.keys().find(|k| k.starts_with(&extra)) {
            None => Ok(()),
            Some(name) => Err(Error::model_file(
                self.main_file(),
                format!(
                    "holds `{name}`, a layer past config.json's `num_hidden_layers` = {n}: the model would run with its last layers cut off; fix `num_hidden_layers`"
                ),
            )),
        }
    }

    /// The entry of `name`, checked against the shape the configuration implies.
    fn entry(&self, name: &str, shape: &[usize]) -> Result<&Entry> {
        let e = self.entries.get(name).ok_or_else(|| {
            let message = match self.others.get(name) {
                Some(dtype) => format!(
                    "tensor `{name}` is stored as {dtype}; weights must be F32, BF16, F16 or F64"
                ),
                None => format!(
                    "missing tensor `{name}` (also looked for `{}{name}`)",
                    self.prefix
                ),
            };
            Error::model_file(self.main_file(), message)
        })?;
        if e.shape != shape {
            return Err(Error::model_file(
                &self.files[e.file],
                format!(
                    "tensor `{name}` has shape {:?}, but config.json implies {shape:?}",
                    e.shape
                ),
            ));
        }
        Ok(e)
    }

    /// The raw bytes of `e`, read from its file.
    fn bytes(&self, name: &str, e: &Entry) -> Result<Vec<u8>> {
        let path = &self.files[e.file];
        let mut f = File::open(path).map_err(|err| Error::io(path, err))?;
        let mut buf = vec![0u8; e.len];
        f.seek(SeekFrom::Start(e.start))
            .and_then(|_| f.read_exact(&mut buf))
            .map_err(|err| {
                Error::model_file(
                    path,
                    format!(
                        "cannot read tensor `{name}` (was the file changed while loading?): {err}"
                    ),
                )
            })?;
        Ok(buf)
    }

    /// The values of `name` (shape checked) as f32.
    pub(crate) fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let e = self.entry(name, shape)?;
        let data = self.bytes(name, e)?;
        Ok(match e.dtype {
            Float::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Float::Bf16 => data
                .chunks_exact(2)
                .map(|b| bf16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
            Float::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Float::F64 => data
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
        })
    }

    /// The matrix `name` of shape `[rows, cols]`: bf16 kept as bf16, anything else as f32.
    pub(crate) fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Matrix> {
        let e = self.entry(name, &[rows, cols])?;
        let data = if e.dtype == Float::Bf16 {
            let data = self.bytes(name, e)?;
            Values::Bf16(
                data.chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            )
        } else {
            Values::F32(self.f32s(name, &[rows, cols])?)
        };
        Ok(Matrix { rows, cols, data })
    }

    /// The 1-D tensor `name` of length `len`, as a plain vector.
    pub(crate) fn vec(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        self.f32s(name, &[len])
    }

    /// The 2-D tensor `name` of shape `[rows, cols]`, as a flat row-major f32 vector.
    pub(crate) fn table(&self, name: &str, rows: usize, cols: usize) -> Result<Vec<f32>> {
        self.f32s(name, &[rows, cols])
    }
}

/// Reads `config.json` fields with errors that name the file and the key.
pub(crate) struct ConfigReader<'a> {
    pub(crate) path: &'a Path,
    pub(crate) json: &'a serde_json::Value,
}

impl ConfigReader<'_> {
    /// A required positive integer.
    pub(crate) fn usize(&self, key: &str) -> Result<usize> {
        match self.json.get(key).and_then(serde_json::Value::as_u64) {
            Some(v) if v > 0 => Ok(v as usize),
            Some(_) => Err(Error::model_file(
                self.path,
                format!("`{key}` must be positive"),
            )),
            None => Err(Error::model_file(
                self.path,
                format!("missing or non-integer `{key}`"),
            )),
        }
    }

    /// An optional integer.
    pub(crate) fn usize_opt(&self, key: &str) -> Option<usize> {
        self.json
            .get(key)
            .and_then(serde_json::Value::as_u64)
            .map(|v| v as usize)
    }

    /// An optional number.
    pub(crate) fn f64_opt(&self, key: &str) -> Option<f64> {
        self.json.get(key).and_then(serde_json::Value::as_f64)
    }

    /// An optional string.
    pub(crate) fn str_opt(&self, key: &str) -> Option<&str> {
        self.json.get(key).and_then(serde_json::Value::as_str)
    }

    /// An optional boolean.
    pub(crate) fn bool_opt(&self, key: &str) -> Option<bool> {
        self.json.get(key).and_then(serde_json::Value::as_bool)
    }
}
