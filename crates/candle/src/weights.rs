//! Reading safetensors checkpoints into f32 candle tensors, with errors that name the file and
//! the tensor.
//!
//! Checkpoints of the same architecture are saved with or without a wrapper prefix (`bert.`
//! for `BertForX` heads, `model.` for decoders): [`Weights::get`] looks a name up with and
//! without it. Non-float tensors (e.g. the int64 `embeddings.position_ids` buffer of BERT
//! checkpoints) are skipped. bf16, f16 and f64 weights are widened (or narrowed) to f32 once, at
//! load time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};
use titlesim_core::{Error, Result};

use crate::cerr;

/// The float tensors of one or more safetensors files, by name.
pub(crate) struct Weights {
    tensors: HashMap<String, (Tensor, usize)>,
    files: Vec<PathBuf>,
    prefix: &'static str,
}

impl Weights {
    /// Reads every float tensor of `files`. `prefix` (e.g. `"bert."`) is stripped from names
    /// that carry it.
    pub(crate) fn load(files: &[PathBuf], prefix: &'static str) -> Result<Self> {
        let mut tensors = HashMap::new();
        for (idx, path) in files.iter().enumerate() {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let st = SafeTensors::deserialize(&bytes).map_err(|e| {
                Error::model_file(path, format!("not a valid safetensors file: {e}"))
            })?;
            for (name, view) in st.iter() {
                let shape = view.shape().to_vec();
                let data = view.data();
                let values: Vec<f32> = match view.dtype() {
                    Dtype::F32 => data
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect(),
                    Dtype::BF16 => data
                        .chunks_exact(2)
                        .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect(),
                    Dtype::F16 => data
                        .chunks_exact(2)
                        .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                        .collect(),
                    Dtype::F64 => data
                        .chunks_exact(8)
                        .map(|b| {
                            f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
                                as f32
                        })
                        .collect(),
                    // Integer buffers (position ids) and exotic formats carry no weights we use.
                    _ => continue,
                };
                let n: usize = shape.iter().product();
                if values.len() != n {
                    return Err(Error::model_file(
                        path,
                        format!(
                            "tensor `{name}`: {} values for shape {shape:?}",
                            values.len()
                        ),
                    ));
                }
                let t = Tensor::from_vec(values, shape, &Device::Cpu).map_err(cerr)?;
                let key = name.strip_prefix(prefix).unwrap_or(name).to_string();
                tensors.insert(key, (t, idx));
            }
        }
        Ok(Weights {
            tensors,
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
        self.tensors.contains_key(name)
    }

    /// The tensor `name`, checked against the shape the configuration implies.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let (t, idx) = self.tensors.get(name).ok_or_else(|| {
            Error::model_file(
                self.main_file(),
                format!(
                    "missing tensor `{name}` (also looked for `{}{name}`)",
                    self.prefix
                ),
            )
        })?;
        if t.dims() != shape {
            return Err(Error::model_file(
                &self.files[*idx],
                format!(
                    "tensor `{name}` has shape {:?}, but config.json implies {shape:?}",
                    t.dims()
                ),
            ));
        }
        Ok(t.clone())
    }

    /// The 1-D tensor `name` of length `len`, as a plain vector.
    pub(crate) fn vec(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        self.get(name, &[len])?.to_vec1::<f32>().map_err(cerr)
    }

    /// The 2-D tensor `name` of shape `[rows, cols]`, as a flat row-major vector.
    pub(crate) fn table(&self, name: &str, rows: usize, cols: usize) -> Result<Vec<f32>> {
        self.get(name, &[rows, cols])?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(cerr)
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
