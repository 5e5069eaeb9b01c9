//! One conformance suite for every backend: what any backend must do with the committed tiny
//! fixtures, checked against sentence-transformers' references.
//!
//! A backend's tests describe it once ([`Conformance`]) and call each check from a `#[test]`:
//!
//! ```text
//! const CANDLE: Conformance = Conformance {
//!     name: "candle",
//!     load: titlesim_candle::load,
//!     options: || titlesim_test_support::threads(2),
//!     qwen3_exports: &[None],
//! };
//! #[test]
//! fn matches_sentence_transformers() { CANDLE.matches_sentence_transformers() }
//! ```
//!
//! The fixtures cover both families titlesim runs: BERT with CLS pooling and normalisation
//! (`tiny-bert-cls`), BERT with mean pooling and none (`tiny-bert-mean`), and Qwen3 with
//! last-token pooling, left padding and a query prompt (`tiny-qwen3`, `tiny-qwen3.query`).

use titlesim_core::{Backend, BackendOptions, Embedder, ModelSpec, Result, TransformerEmbedder};

use crate::compare::max_diff;
use crate::load::{embedder, spec};
use crate::paths::fixture;
use crate::reference::Reference;

/// Agreement with sentence-transformers' vectors (max abs difference).
pub const REFERENCE_TOL: f32 = 1e-5;

/// Agreement between two runs of the same backend on the same text (max abs difference).
pub const SELF_TOL: f32 = 1e-6;

/// A backend under test.
pub struct Conformance {
    /// Its name, in failure messages.
    pub name: &'static str,
    /// How it loads a model folder.
    pub load: fn(&ModelSpec, &BackendOptions) -> Result<Box<dyn Backend>>,
    /// The options it is loaded with (thread budget, library paths).
    pub options: fn() -> BackendOptions,
    /// What to run for the Qwen3 fixture: `None` is the folder's own weights; `Some(file)` an
    /// ONNX export in the folder's `onnx/`.
    pub qwen3_exports: &'static [Option<&'static str>],
}

/// The BERT fixtures, each with its reference.
const BERT: [&str; 2] = ["tiny-bert-cls", "tiny-bert-mean"];
/// The Qwen3 references (without and with the query prompt).
const QWEN3: [&str; 2] = ["tiny-qwen3", "tiny-qwen3.query"];

impl Conformance {
    /// The backend loaded on fixture `folder` (with `export` as its ONNX file, if given),
    /// `batch` texts per call.
    pub fn embedder(
        &self,
        folder: &str,
        export: Option<&str>,
        batch: usize,
    ) -> TransformerEmbedder {
        let dir = fixture(folder);
        let spec = spec(&dir);
        let opts = BackendOptions {
            onnx: export.map(|f| dir.join("onnx").join(f)),
            ..(self.options)()
        };
        let backend = (self.load)(&spec, &opts)
            .unwrap_or_else(|e| panic!("{}: loading {folder} {export:?}: {e}", self.name));
        embedder(spec, backend, batch)
    }

    /// Every (folder, export, reference) the suite runs.
    fn cases(&self) -> Vec<(&'static str, Option<&'static str>, &'static str)> {
        let mut v: Vec<_> = BERT.iter().map(|b| (*b, None, *b)).collect();
        for export in self.qwen3_exports {
            v.extend(QWEN3.iter().map(|r| ("tiny-qwen3", *export, *r)));
        }
        v
    }

    /// The vectors match sentence-transformers' within [`REFERENCE_TOL`]: in mixed-length
    /// batches of 8 (padded), in a batch without padding (the Qwen3 texts 2 and 3 have equal
    /// token counts), and one text at a time (including the 179-token BERT text).
    pub fn matches_sentence_transformers(&self) {
        for (folder, export, name) in self.cases() {
            let r = Reference::load(name);
            let inputs = r.inputs();
            let e = self.embedder(folder, export, 8);
            let what = format!("{} {name} {export:?}", self.name);
            let got = e.embed_blocking(&inputs).unwrap();
            let d = max_diff(&got, &r.embeddings);
            assert!(d <= REFERENCE_TOL, "{what} batch 8: max diff {d}");
            if folder == "tiny-qwen3" {
                let got = e.embed_blocking(&inputs[2..4]).unwrap();
                let d = max_diff(&got, &r.embeddings[2..4]);
                assert!(d <= REFERENCE_TOL, "{what} equal lengths: max diff {d}");
            }
            for i in 0..inputs.len() {
                let one = e.embed_blocking(&inputs[i..=i]).unwrap();
                let d = max_diff(&one, &r.embeddings[i..=i]);
                assert!(d <= REFERENCE_TOL, "{what} text {i} alone: max diff {d}");
            }
        }
    }

    /// The same text gets the same vector whatever batch it lands in (within [`SELF_TOL`]):
    /// alone, in batches of 4 and 8, and all at once, so a validator gives two agents with
    /// the same answer the same verdict.
    pub fn batch_invariant(&self) {
        for (folder, export, name) in self.cases() {
            let inputs = Reference::load(name).inputs();
            let alone: Vec<Vec<f32>> = {
                let e = self.embedder(folder, export, 1);
                inputs
                    .iter()
                    .map(|t| e.embed_blocking(std::slice::from_ref(t)).unwrap().remove(0))
                    .collect()
            };
            for batch in [4, 8, inputs.len()] {
                let got = self
                    .embedder(folder, export, batch)
                    .embed_blocking(&inputs)
                    .unwrap();
                let d = max_diff(&got, &alone);
                assert!(
                    d <= SELF_TOL,
                    "{} {name} {export:?}: batch {batch} vs alone: max diff {d}",
                    self.name
                );
            }
        }
    }

    /// Callers on several threads at once get exactly the vectors they get one after another.
    pub async fn concurrent_callers_get_the_sequential_vectors(&self) {
        let e = self.embedder("tiny-bert-mean", None, 4);
        let inputs = Reference::load("tiny-bert-mean").inputs();
        let part = |k: usize| inputs[k % 13..k % 13 + 1 + k % 3].to_vec();
        let expected: Vec<Vec<Vec<f32>>> = (0..16)
            .map(|k| e.embed_blocking(&part(k)).unwrap())
            .collect();
        let tasks: Vec<_> = (0..16)
            .map(|k| {
                let e = e.clone();
                let texts = part(k);
                tokio::spawn(async move { e.embed(&texts).await })
            })
            .collect();
        for (k, t) in tasks.into_iter().enumerate() {
            let got = t.await.unwrap().unwrap();
            let d = max_diff(&got, &expected[k]);
            assert!(d <= SELF_TOL, "{}: task {k}: max diff {d}", self.name);
        }
    }
}
