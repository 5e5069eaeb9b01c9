//! Test helpers shared by the ort and tract backend tests (tract includes this file by path).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use titlesim_core::{Backend, BackendOptions, EmbedOptions, ModelSpec, TransformerEmbedder};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A committed fixture folder (`tests/fixtures/<name>`).
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

/// The real models folder: `$TITLESIM_MODELS_DIR` or `<workspace>/models`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("TITLESIM_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models"))
}

/// A real model file or folder under the models folder; fails the test when it is missing.
pub fn real(rel: &str) -> PathBuf {
    let p = models_dir().join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask fetch-models` first",
        p.display()
    );
    p
}

/// A sentence-transformers reference file (`tests/fixtures/references/<name>.json`).
pub struct Reference {
    pub texts: Vec<String>,
    pub prompt: Option<String>,
    pub embeddings: Vec<Vec<f32>>,
}

impl Reference {
    pub fn load(name: &str) -> Reference {
        let p = workspace()
            .join("tests/fixtures/references")
            .join(format!("{name}.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("reference file")).unwrap();
        let texts = v["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        let prompt = v["prompt"].as_str().map(str::to_string);
        let embeddings = v["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
                    .collect()
            })
            .collect();
        Reference {
            texts,
            prompt,
            embeddings,
        }
    }

    /// The texts as the model sees them (prompt prepended, as sentence-transformers does).
    pub fn inputs(&self) -> Vec<String> {
        let p = self.prompt.clone().unwrap_or_default();
        self.texts.iter().map(|t| format!("{p}{t}")).collect()
    }
}

/// Largest element-wise difference between two sets of vectors.
pub fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "different numbers of vectors");
    let mut m = 0f32;
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.len(), y.len(), "different dimensions");
        for (p, q) in x.iter().zip(y) {
            m = m.max((p - q).abs());
        }
    }
    m
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Reads a model folder.
pub fn spec(folder: &Path) -> ModelSpec {
    ModelSpec::from_folder(&folder.display().to_string(), folder).expect("model folder")
}

/// Puts a backend together with the folder's tokenizer and pooling.
pub fn embedder(
    spec: ModelSpec,
    backend: Box<dyn Backend>,
    batch_size: usize,
) -> TransformerEmbedder {
    TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size }).expect("embedder")
}

/// Options with a thread budget of 1 (CI machines have 2 cores shared by parallel tests).
pub fn opts() -> BackendOptions {
    BackendOptions {
        threads: Some(1),
        ..Default::default()
    }
}

/// Options naming the ONNX Runtime library (models/onnxruntime, ORT_DYLIB_PATH or python3).
pub fn ort_opts() -> BackendOptions {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let lib = LIB.get_or_init(|| {
        let dir = models_dir().join("onnxruntime");
        titlesim_ort::find_in_dir(&dir).unwrap_or_else(|| {
            let search = titlesim_ort::LibrarySearch {
                env: std::env::var_os("ORT_DYLIB_PATH")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from),
                python: Some("python3".into()),
                ..Default::default()
            };
            titlesim_ort::locate_library(&search).unwrap_or_else(|e| {
                panic!(
                    "no ONNX Runtime library in {}: run `cargo xtask fetch-models` first ({e})",
                    dir.display()
                )
            })
        })
    });
    BackendOptions {
        ort_library: Some(lib.clone()),
        ..opts()
    }
}

/// Strings to embed.
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// A minimal ONNX model whose input is `input_name` (f32 [1]) and whose output `bar` is an
/// Identity of it: a graph no embedding backend can map. Encoded by hand (protobuf).
pub fn identity_onnx(input_name: &str) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    fn field_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
        varint(((field as u64) << 3) | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
        varint((field as u64) << 3, out);
        varint(v, out);
    }
    fn value_info(name: &str) -> Vec<u8> {
        let mut dim = Vec::new();
        field_varint(1, 1, &mut dim); // dim_value 1
        let mut shape = Vec::new();
        field_bytes(1, &dim, &mut shape);
        let mut tensor = Vec::new();
        field_varint(1, 1, &mut tensor); // elem_type FLOAT
        field_bytes(2, &shape, &mut tensor);
        let mut ty = Vec::new();
        field_bytes(1, &tensor, &mut ty);
        let mut vi = Vec::new();
        field_bytes(1, name.as_bytes(), &mut vi);
        field_bytes(2, &ty, &mut vi);
        vi
    }
    let mut node = Vec::new();
    field_bytes(1, input_name.as_bytes(), &mut node);
    field_bytes(2, b"bar", &mut node);
    field_bytes(4, b"Identity", &mut node);
    let mut graph = Vec::new();
    field_bytes(1, &node, &mut graph);
    field_bytes(2, b"g", &mut graph);
    field_bytes(11, &value_info(input_name), &mut graph);
    field_bytes(12, &value_info("bar"), &mut graph);
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 17, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 8, &mut model); // ir_version
    field_bytes(7, &graph, &mut model);
    field_bytes(8, &opset, &mut model);
    model
}
