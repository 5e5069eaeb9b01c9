//! Helpers shared by the integration tests: fixture and model folders, references, loading.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use titlesim_core::{
    BackendOptions, EmbedOptions, ModelOverrides, ModelSpec, TextTokenizer, TokenBatch,
    TransformerEmbedder,
};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A committed fixture folder.
pub fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

/// A real model folder from `cargo xtask fetch-models`; panics (fails the test) with the
/// command to run when it is missing.
pub fn real_model(name: &str) -> PathBuf {
    let root = std::env::var_os("TITLESIM_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models"));
    let dir = root.join(name);
    assert!(
        dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file(),
        "{} is missing: run `cargo xtask fetch-models` (or set TITLESIM_MODELS_DIR)",
        dir.display()
    );
    dir
}

/// A sentence-transformers reference (`tests/fixtures/references/<name>.json`).
pub struct Reference {
    pub prompt: Option<String>,
    pub texts: Vec<String>,
    pub input_ids: Vec<Vec<u32>>,
    pub embeddings: Vec<Vec<f32>>,
    pub token_embeddings_first2: Vec<Vec<Vec<f32>>>,
}

impl Reference {
    /// The texts as sentence-transformers saw them (prompt prepended by plain concatenation).
    pub fn inputs(&self) -> Vec<String> {
        let p = self.prompt.clone().unwrap_or_default();
        self.texts.iter().map(|t| format!("{p}{t}")).collect()
    }
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

pub fn reference(name: &str) -> Reference {
    let path = workspace().join(format!("tests/fixtures/references/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    Reference {
        prompt: v["prompt"].as_str().map(str::to_string),
        texts: v["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect(),
        input_ids: v["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap() as u32)
                    .collect()
            })
            .collect(),
        embeddings: v["embeddings"]
            .as_array()
            .unwrap()
            .iter()
            .map(floats)
            .collect(),
        token_embeddings_first2: v["token_embeddings_first2"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_array().unwrap().iter().map(floats).collect())
            .collect(),
    }
}

pub fn opts(threads: usize) -> BackendOptions {
    BackendOptions {
        threads: Some(threads),
        ..Default::default()
    }
}

pub fn spec(dir: &Path, overrides: &ModelOverrides) -> ModelSpec {
    ModelSpec::from_folder_with(&dir.display().to_string(), dir, overrides).unwrap()
}

/// A core embedder over the candle backend.
pub fn embedder(dir: &Path, overrides: &ModelOverrides, batch_size: usize) -> TransformerEmbedder {
    let spec = spec(dir, overrides);
    let backend = titlesim_candle::load(&spec, &opts(2)).unwrap();
    TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size }).unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts that every vector of `got` is within `tol` of `want` (max abs diff), naming the
/// worst text.
pub fn assert_close(what: &str, got: &[Vec<f32>], want: &[Vec<f32>], texts: &[String], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: number of vectors");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = max_abs_diff(g, w);
        assert!(d.is_finite(), "{what}: text #{i} has non-finite values");
        if d > worst.0 {
            worst = (d, i);
        }
    }
    eprintln!("{what}: max abs diff {:.3e} (text #{})", worst.0, worst.1);
    assert!(
        worst.0 <= tol,
        "{what}: text #{} {:?} differs by {:.3e} > {tol:.0e}",
        worst.1,
        texts.get(worst.1),
        worst.0
    );
}

/// Asserts the core tokeniser reproduces sentence-transformers' ids.
pub fn assert_same_tokens(tok: &TextTokenizer, r: &Reference) {
    let enc = tok.encode(&r.inputs()).unwrap();
    for (i, (e, want)) in enc.iter().zip(&r.input_ids).enumerate() {
        assert_eq!(&e.ids, want, "token ids of text #{i} {:?}", r.texts[i]);
    }
}

/// Token states of text `i` run alone through the backend, `[tokens][hidden]`.
pub fn token_states(dir: &Path, r: &Reference, i: usize) -> Vec<Vec<f32>> {
    let spec = spec(dir, &ModelOverrides::default());
    let tok = TextTokenizer::from_spec(&spec).unwrap();
    let backend = titlesim_candle::load(&spec, &opts(2)).unwrap();
    let enc = tok.encode(&r.inputs()[i..i + 1]).unwrap();
    let batch = TokenBatch::from_encoded(&[&enc[0]], tok.pad_id(), tok.padding_side());
    match backend.forward(&batch).unwrap() {
        titlesim_core::BackendOutput::Tokens(s) => {
            (0..s.seq).map(|t| s.token(0, t).to_vec()).collect()
        }
        other => panic!("expected token states, got {other:?}"),
    }
}
