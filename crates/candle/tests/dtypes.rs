//! The reduced-precision compute modes: `dtype = "int8"` (int8 weights, per-token dynamically
//! quantised activations) and `dtype = "bf16"` (bf16 weights and inputs, f32 accumulation).
//! Their vectors are compared with sentence-transformers' (f32) references by cosine, and a
//! batch must give every text exactly the vector it gets alone.

mod common;

use std::path::Path;

use common::*;
use titlesim_core::{
    BackendOptions, Dtype, EmbedOptions, Error, ModelOverrides, TransformerEmbedder,
};

fn opts(dtype: Dtype, threads: usize) -> BackendOptions {
    BackendOptions {
        threads: Some(threads),
        dtype: Some(dtype),
        ..Default::default()
    }
}

fn embedder_in(dtype: Dtype, dir: &Path, batch_size: usize) -> TransformerEmbedder {
    let spec = spec(dir, &ModelOverrides::default());
    let backend = titlesim_candle::load(&spec, &opts(dtype, 2)).unwrap();
    TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size }).unwrap()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The smallest cosine between `got[i]` and `want[i]`, and which text it is.
fn min_cosine(got: &[Vec<f32>], want: &[Vec<f32>]) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            assert!(g.iter().all(|x| x.is_finite()), "non-finite values");
            cosine(g, w)
        })
        .enumerate()
        .fold(
            (f64::INFINITY, 0),
            |(m, mi), (i, c)| {
                if c < m {
                    (c, i)
                } else {
                    (m, mi)
                }
            },
        )
}

/// Embeds the reference texts at batch 8 and one by one: the cosine to the reference must be
/// at least `min_cos` for every text, and both runs must agree bit for bit.
fn check(dtype: Dtype, dir: &Path, reference_name: &str, min_cos: f64) -> f64 {
    let (c, got) = check_cosine(dtype, dir, reference_name, 8, min_cos);
    check_alone(dtype, dir, reference_name, &got);
    c
}

/// Embeds the reference texts at `batch_size`: the cosine to the reference must be at least
/// `min_cos` for every text. Returns the smallest cosine and the vectors.
fn check_cosine(
    dtype: Dtype,
    dir: &Path,
    reference_name: &str,
    batch_size: usize,
    min_cos: f64,
) -> (f64, Vec<Vec<f32>>) {
    let r = Reference::load(reference_name);
    let got = embedder_in(dtype, dir, batch_size)
        .embed_blocking(&r.inputs())
        .unwrap();
    let (c, i) = min_cosine(&got, &r.embeddings);
    eprintln!(
        "{reference_name} {dtype}: min cosine {c:.6} (text #{i} {:?})",
        r.texts[i]
    );
    assert!(
        c >= min_cos,
        "{reference_name} {dtype}: text #{i} {:?} has cosine {c:.6} < {min_cos}",
        r.texts[i]
    );
    (c, got)
}

/// Embeds the reference texts one by one: each must have exactly its bits in `batch` (the
/// vectors of a batch of 8).
fn check_alone(dtype: Dtype, dir: &Path, reference_name: &str, batch: &[Vec<f32>]) {
    let inputs = Reference::load(reference_name).inputs();
    let one = embedder_in(dtype, dir, 1).embed_blocking(&inputs).unwrap();
    same_bits(dtype, reference_name, &one, batch);
}

/// Every text's vector alone (`one`) has exactly its bits in `batch`.
fn same_bits(dtype: Dtype, reference_name: &str, one: &[Vec<f32>], batch: &[Vec<f32>]) {
    assert_eq!(one.len(), batch.len());
    for (i, (a, b)) in one.iter().zip(batch).enumerate() {
        assert_eq!(
            a, b,
            "{reference_name} {dtype}: text #{i} alone differs from its batch"
        );
    }
}

/// The real all-MiniLM-L6-v2 stays within cosine 0.999 of sentence-transformers on every
/// reference text (titles, a 149- and a 256-token text, the empty string, non-ASCII).
#[test]
fn int8_all_minilm_matches_sentence_transformers() {
    let dir = real_model("all-MiniLM-L6-v2");
    check(Dtype::Int8, &dir, "all-minilm-l6-v2", 0.999);
}

/// The tiny random-weight fixtures: the same bound. Each of their products sums only 32-128
/// terms, so rounding errors average out less than in a 384-wide model, but their weights and
/// activations have no outliers; measured: min cosine 0.99993 (cls), 0.99995 (mean), 0.99989
/// (Qwen3). A wrong zero point, scale or packing gives cosines far below 0.99.
#[test]
fn int8_tiny_bert_is_close_to_sentence_transformers() {
    for name in ["tiny-bert-cls", "tiny-bert-mean"] {
        check(Dtype::Int8, &fixture(name), name, 0.999);
    }
}

/// Qwen3 runs its attention output and MLP in int8 (q/k/v stay f32; same bound, see above).
#[test]
fn int8_tiny_qwen3_is_close_to_sentence_transformers() {
    check(Dtype::Int8, &fixture("tiny-qwen3"), "tiny-qwen3", 0.999);
}

/// f32 stays the default, and int8 really changes the computation (the vectors differ from
/// f32's, slightly).
#[test]
fn int8_is_opt_in() {
    let dir = fixture("tiny-bert-cls");
    let r = Reference::load("tiny-bert-cls");
    let inputs = r.inputs();
    let f32_default = embedder(&dir, &ModelOverrides::default(), 8)
        .embed_blocking(&inputs)
        .unwrap();
    assert_close("f32 default", &f32_default, &r.embeddings, &r.texts, 1e-5);
    let int8 = embedder_in(Dtype::Int8, &dir, 8)
        .embed_blocking(&inputs)
        .unwrap();
    assert!(max_abs_diff(&int8[0], &f32_default[0]) > 1e-6);
}

/// bf16 compute on the real all-MiniLM-L6-v2, every reference text (one at a time: the
/// next test ties those vectors to a batch's, bit for bit). Every value is rounded to 8
/// significant bits before each product, but the sums stay f32: far closer than int8.
#[test]
fn bf16_all_minilm_matches_sentence_transformers() {
    let c = bf16_all_minilm_alone().0;
    // Not f32 under another name: rounding must show.
    assert!(c < 0.999_999_5, "bf16 gave f32's vectors (min cosine {c})");
}

/// bf16 all-MiniLM vectors of the reference texts one at a time, checked against the
/// references (min cosine 0.9999), with the smallest cosine: computed once for the two tests
/// below, which computed them each before (the slowest binary of the emulated aarch64 run).
fn bf16_all_minilm_alone() -> &'static (f64, Vec<Vec<f32>>) {
    static ALONE: std::sync::OnceLock<(f64, Vec<Vec<f32>>)> = std::sync::OnceLock::new();
    ALONE.get_or_init(|| {
        let dir = real_model("all-MiniLM-L6-v2");
        check_cosine(Dtype::Bf16, &dir, "all-minilm-l6-v2", 1, 0.9999)
    })
}

/// bf16 on the real all-MiniLM-L6-v2: every reference text alone has exactly its bits in a
/// batch of 8. (A test of its own so the emulated aarch64 run can leave it out on
/// `neoverse-n1` and `max`, where the portable and `bfmmla` kernels' batch-versus-alone bits
/// are unit tests and a batch of 8, padded to the 256-token text, takes ~2 and ~4 emulated
/// minutes: see `cargo xtask cross`.)
#[test]
fn bf16_all_minilm_gives_a_text_alone_its_batch_bits() {
    let dir = real_model("all-MiniLM-L6-v2");
    let r = Reference::load("all-minilm-l6-v2");
    let batch = embedder_in(Dtype::Bf16, &dir, 8)
        .embed_blocking(&r.inputs())
        .unwrap();
    let (_, alone) = bf16_all_minilm_alone();
    same_bits(Dtype::Bf16, "all-minilm-l6-v2", alone, &batch);
}

/// bf16 compute on the tiny fixtures, BERT and Qwen3 (all of Qwen3's dense layers in bf16).
#[test]
fn bf16_tiny_models_are_close_to_sentence_transformers() {
    for name in ["tiny-bert-cls", "tiny-bert-mean", "tiny-qwen3"] {
        check(Dtype::Bf16, &fixture(name), name, 0.9999);
    }
}

#[test]
fn unknown_dtypes_and_architectures_are_errors() {
    let dir = fixture("tiny-bert-cls");
    let s = spec(&dir, &ModelOverrides::default());
    // A dtype is typed: unknown names are refused when the option is parsed (configuration,
    // command line), before any backend sees them.
    for bad in ["int4", "fp8", "fp16"] {
        let msg = bad.parse::<Dtype>().unwrap_err();
        assert!(msg.contains(bad) && msg.contains("int8"), "{msg}");
    }
    // Upper case is accepted.
    let upper = BackendOptions {
        dtype: Some("INT8".parse().unwrap()),
        ..Default::default()
    };
    assert!(titlesim_candle::load(&s, &upper).is_ok());

    // An architecture the backend does not run is refused by name, in int8 as in f32.
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                copy(&p, &to.join(p.file_name().unwrap()));
            } else {
                std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    let d = tempfile::tempdir().unwrap();
    copy(&dir, d.path());
    let cfg = d.path().join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["model_type"] = "roberta".into();
    std::fs::write(&cfg, v.to_string()).unwrap();
    let e = titlesim_candle::load(
        &spec(d.path(), &ModelOverrides::default()),
        &opts(Dtype::Int8, 1),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("roberta"), "{e}");
}
