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

use titlesim_core::{
    Backend, BackendOptions, Embedder, Error, ModelOverrides, ModelSpec, Result,
    TransformerEmbedder,
};

use crate::compare::{max_abs_diff, max_diff};
use crate::load::{embedder, spec};
use crate::paths::fixture;
use crate::reference::Reference;

/// Agreement with sentence-transformers' vectors (max abs difference).
pub const REFERENCE_TOL: f32 = 1e-5;

/// Agreement between two runs of the same backend on the same text (max abs difference).
pub const SELF_TOL: f32 = 1e-6;

/// Batch sizes [`Conformance::batch_invariant`] runs: one text, an odd size that leaves a
/// short last batch, and the default batch size of `titlesim` (every text in one batch).
pub const BATCH_SIZES: [usize; 3] = [1, 7, 32];

/// How many texts [`Conformance::batch_invariant`] embeds per case (more than the largest of
/// [`BATCH_SIZES`], so that batch is full).
pub const BATCH_TEXTS: usize = 40;

/// Seeds of the fixed shuffles [`Conformance::batch_invariant`] runs.
const SHUFFLE_SEEDS: [u64; 2] = [1, 2];

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

    /// The same text gets the same vector, bit for bit, whatever batch it lands in, so a
    /// validator gives two agents with the same answer the same verdict.
    ///
    /// Each case's texts are extended to [`BATCH_TEXTS`] (the references' texts, pairs of
    /// them joined, and their first halves: short and long texts mixed, so batches pad to
    /// different lengths) and embedded one at a time; then in batches of
    /// [`BATCH_SIZES`], in the texts' own order and in two fixed shuffles, each shuffle also
    /// cut to its first two thirds (other neighbours, other padded lengths). Every vector must
    /// have exactly the bits of the text's vector alone. Batches of one run the first shuffle
    /// only: a call then holds one text whatever the order, so that shuffle (on a second
    /// loaded backend, the texts in another order than alone) shows any state carried from
    /// call to call, and the other orders would repeat its calls.
    pub fn batch_invariant(&self) {
        for (folder, export, name) in self.cases() {
            let r = Reference::load(name);
            let prompt = r.prompt.clone().unwrap_or_default();
            let inputs: Vec<String> = batch_texts(&r.texts)
                .into_iter()
                .map(|t| format!("{prompt}{t}"))
                .collect();
            let what = format!("{} {name} {export:?}", self.name);
            let alone: Vec<Vec<f32>> = {
                let e = self.embedder(folder, export, 1);
                inputs
                    .iter()
                    .map(|t| e.embed_blocking(std::slice::from_ref(t)).unwrap().remove(0))
                    .collect()
            };
            let n = inputs.len();
            let mut orders: Vec<(String, Vec<usize>)> = vec![("in order".into(), (0..n).collect())];
            for seed in SHUFFLE_SEEDS {
                let p = shuffled(n, seed);
                orders.push((format!("shuffle {seed}"), p.clone()));
                orders.push((
                    format!("shuffle {seed}, first 2/3"),
                    p[..2 * n / 3].to_vec(),
                ));
            }
            for batch in BATCH_SIZES {
                let e = self.embedder(folder, export, batch);
                let orders = if batch == 1 {
                    &orders[1..2]
                } else {
                    &orders[..]
                };
                for (order, idx) in orders {
                    let texts: Vec<String> = idx.iter().map(|&i| inputs[i].clone()).collect();
                    let got = e.embed_blocking(&texts).unwrap();
                    let want: Vec<Vec<f32>> = idx.iter().map(|&i| alone[i].clone()).collect();
                    assert_same_bits(&format!("{what}: batch {batch}, {order}"), &got, &want, idx);
                }
            }
        }
    }

    /// A `max_length` beyond the model's position table (`tiny-bert-mean` has 512 positions) is
    /// refused with [`Error::MaxLengthBeyondPositions`] when the model is resolved, naming the
    /// folder, the length and the limit, before any backend loads; never an engine error
    /// when the first long text comes.
    pub fn refuses_max_length_beyond_positions(&self) {
        let dir = fixture("tiny-bert-mean");
        let o = ModelOverrides {
            max_length: Some(600),
            ..Default::default()
        };
        let spec = match ModelSpec::from_folder_with("tiny-bert-mean", &dir, &o) {
            Err(e @ Error::MaxLengthBeyondPositions { .. }) => {
                let Error::MaxLengthBeyondPositions {
                    model,
                    max_length,
                    limit,
                    ..
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!((model, *max_length, *limit), (&dir, 600, 512), "{e}");
                let s = e.to_string();
                assert!(
                    s.contains(&dir.display().to_string()) && s.contains("600"),
                    "{s}"
                );
                return;
            }
            Err(e) => panic!("{}: expected MaxLengthBeyondPositions, got {e}", self.name),
            Ok(spec) => spec,
        };
        let long = vec!["word ".repeat(700)];
        let outcome = (self.load)(&spec, &(self.options)()).and_then(|b| {
            embedder(spec, b, 1)
                .embed_blocking(&long)
                .map(|v| format!("{} vectors", v.len()))
        });
        panic!(
            "{}: max_length 600 beyond tiny-bert-mean's 512 positions was not refused when the model was resolved; embedding a 600-token text then gave: {}",
            self.name,
            match outcome {
                Ok(v) => v,
                Err(e) => e.to_string(),
            }
        );
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

/// [`BATCH_TEXTS`] texts made from `texts`: the texts themselves, then each joined to another
/// (longer ones), then the first half of each (shorter ones), cycling until there are enough.
fn batch_texts(texts: &[String]) -> Vec<String> {
    let n = texts.len();
    assert!(n > 0, "no texts");
    let half = |t: &str| {
        let cut = t
            .char_indices()
            .map(|(i, _)| i)
            .nth((t.chars().count() / 2).max(1))
            .unwrap_or(t.len());
        t[..cut].trim_end().to_string()
    };
    (0..BATCH_TEXTS)
        .map(|k| {
            let (round, i) = (k / n, k % n);
            match round % 3 {
                0 => texts[i].clone(),
                1 => format!("{} {}", texts[i], texts[(i + 5) % n]),
                _ => half(&texts[i]),
            }
        })
        .collect()
}

/// A fixed permutation of `0..n` (Fisher-Yates driven by a 64-bit LCG seeded with `seed`).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((state >> 33) % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

/// Asserts that `got` and `want` hold the same `f32` bits, naming the first text (its index in
/// the extended texts, from `idx`) that differs and by how much.
fn assert_same_bits(what: &str, got: &[Vec<f32>], want: &[Vec<f32>], idx: &[usize]) {
    assert_eq!(got.len(), want.len(), "{what}: number of vectors");
    let mut differ = Vec::new();
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: text #{}: dimensions", idx[k]);
        if g.iter().zip(w).any(|(a, b)| a.to_bits() != b.to_bits()) {
            differ.push((idx[k], max_abs_diff(g, w)));
        }
    }
    assert!(
        differ.is_empty(),
        "{what}: {} of {} vectors differ from the text's vector alone (text #, max abs diff): {differ:?}",
        differ.len(),
        got.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_permutations_and_differ() {
        let a = shuffled(40, 1);
        let b = shuffled(40, 2);
        for p in [&a, &b] {
            let mut s = p.clone();
            s.sort_unstable();
            assert_eq!(s, (0..40).collect::<Vec<_>>());
        }
        assert_ne!(a, b);
        assert_ne!(a, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn batch_texts_mix_lengths() {
        let texts: Vec<String> = ["a b c d", "ééé ééé", "x"].map(String::from).into();
        let t = batch_texts(&texts);
        assert_eq!(t.len(), BATCH_TEXTS);
        assert_eq!(t[..3], texts[..]);
        assert_eq!(t[3], "a b c d x"); // joined to the text 5 further on, cyclically
        assert_eq!(t[6], "a b");
        assert_eq!(t[7], "ééé");
        assert_eq!(t[8], "x");
    }
}
