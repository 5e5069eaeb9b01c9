//! Bad model folders and bad inputs give clear errors (naming the file and the tensor), never a
//! panic; weight-name prefixes and bf16 checkpoints load.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::*;
use titlesim_core::{
    BackendOptions, BackendOutput, Error, ModelOverrides, PaddingSide, TokenBatch,
};

/// Copies a fixture folder (without its ONNX exports) into a fresh temporary folder.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "onnx" {
                    copy(&p, &to.join(e.file_name()));
                }
            } else {
                std::fs::copy(&p, to.join(e.file_name())).unwrap();
            }
        }
    }
    let d = tempfile::tempdir().unwrap();
    copy(&fixture(name), d.path());
    d
}

fn load_err(dir: &Path) -> Error {
    let spec = spec(dir, &ModelOverrides::default());
    match titlesim_candle::load(&spec, &threads(1)) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => {
            eprintln!("error: {e}");
            e
        }
    }
}

fn edit_config(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn rewrite_weights(dir: &Path, f: impl Fn(String, Tensor) -> Option<(String, Tensor)>) {
    let p = dir.join("model.safetensors");
    let tensors = candle_core::safetensors::load(&p, &Device::Cpu).unwrap();
    let out: HashMap<String, Tensor> = tensors.into_iter().filter_map(|(k, t)| f(k, t)).collect();
    candle_core::safetensors::save(&out, &p).unwrap();
}

#[test]
fn missing_weights_name_the_file() {
    let d = copy_fixture("tiny-bert-cls");
    std::fs::remove_file(d.path().join("model.safetensors")).unwrap();
    let e = load_err(d.path());
    let msg = e.to_string();
    assert!(matches!(e, Error::ModelFile { .. }), "{e:?}");
    assert!(
        msg.contains("model.safetensors") && msg.contains("missing"),
        "{msg}"
    );
}

#[test]
fn truncated_weights_are_an_error() {
    let d = copy_fixture("tiny-bert-cls");
    let p = d.path().join("model.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    for keep in [bytes.len() / 2, 100, 8, 3, 0] {
        std::fs::write(&p, &bytes[..keep]).unwrap();
        let msg = load_err(d.path()).to_string();
        assert!(
            msg.contains("model.safetensors") && msg.contains("not a valid safetensors file"),
            "{keep} bytes: {msg}"
        );
    }
}

#[test]
fn garbage_weights_are_an_error() {
    let d = copy_fixture("tiny-bert-cls");
    let p = d.path().join("model.safetensors");
    let garbage: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&p, &garbage).unwrap();
    let msg = load_err(d.path()).to_string();
    assert!(msg.contains("not a valid safetensors file"), "{msg}");
    // A valid-looking header whose JSON is not a safetensors header.
    let header = br#"{"a": 1}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    std::fs::write(&p, &bytes).unwrap();
    let msg = load_err(d.path()).to_string();
    assert!(msg.contains("not a valid safetensors file"), "{msg}");
}

#[test]
fn wrong_dimensions_name_the_tensor() {
    let d = copy_fixture("tiny-bert-cls");
    edit_config(d.path(), |c| c["hidden_size"] = 64.into());
    let e = load_err(d.path());
    let msg = e.to_string();
    assert!(matches!(e, Error::ModelFile { .. }), "{e:?}");
    assert!(
        msg.contains("model.safetensors")
            && msg.contains("embeddings.word_embeddings.weight")
            && msg.contains("[1436, 32]")
            && msg.contains("[1436, 64]"),
        "{msg}"
    );

    let d = copy_fixture("tiny-qwen3");
    edit_config(d.path(), |c| c["intermediate_size"] = 100.into());
    let msg = load_err(d.path()).to_string();
    assert!(msg.contains("layers.0.mlp.gate_proj.weight"), "{msg}");
}

#[test]
fn missing_tensor_is_named() {
    let d = copy_fixture("tiny-bert-cls");
    rewrite_weights(d.path(), |k, t| {
        (k != "encoder.layer.1.output.dense.bias").then_some((k, t))
    });
    let msg = load_err(d.path()).to_string();
    assert!(msg.contains("encoder.layer.1.output.dense.bias"), "{msg}");
}

/// A configuration that claims fewer layers than the checkpoint holds would run a truncated
/// model; an absurd layer count or head shape must be an error, not an abort.
#[test]
fn layer_counts_and_head_shapes_the_checkpoint_does_not_have_are_errors() {
    for (fixture, layer) in [
        ("tiny-bert-cls", "encoder.layer.1."),
        ("tiny-qwen3", "layers.1."),
    ] {
        let d = copy_fixture(fixture);
        edit_config(d.path(), |c| c["num_hidden_layers"] = 1.into());
        let msg = load_err(d.path()).to_string();
        assert!(
            msg.contains("model.safetensors")
                && msg.contains(layer)
                && msg.contains("past config.json's `num_hidden_layers` = 1"),
            "{fixture}: {msg}"
        );
        for huge in [1_000_000_000_000_000u64, 1 << 62] {
            edit_config(d.path(), |c| c["num_hidden_layers"] = huge.into());
            let msg = load_err(d.path()).to_string();
            assert!(msg.contains("missing tensor"), "{fixture} {huge}: {msg}");
        }
    }
    let d = copy_fixture("tiny-qwen3");
    edit_config(d.path(), |c| {
        c["num_attention_heads"] = (1u64 << 40).into();
        c["num_key_value_heads"] = (1u64 << 40).into();
        c["head_dim"] = (1u64 << 30).into();
    });
    let msg = load_err(d.path()).to_string();
    assert!(msg.contains("overflows"), "{msg}");
    edit_config(d.path(), |c| {
        c["num_attention_heads"] = 4.into();
        c["num_key_value_heads"] = 2.into();
        c["head_dim"] = 16.into();
        c["rope_theta"] = 0.0.into();
    });
    let msg = load_err(d.path()).to_string();
    assert!(msg.contains("`rope_theta` is 0"), "{msg}");
}

/// Truncating from the left keeps a long text's end: other vectors, so another fingerprint
/// (a GT store or shadow log of the right-truncating folder must not pass for it). Saying
/// `right`, the default, changes nothing.
#[test]
fn truncation_side_left_changes_the_fingerprint() {
    let d = copy_fixture("tiny-bert-cls");
    let fingerprint = |d: &Path| {
        titlesim_core::Embedder::fingerprint(&embedder(d, &ModelOverrides::default(), 8))
            .to_string()
    };
    let plain = fingerprint(d.path());
    let p = d.path().join("tokenizer_config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v["truncation_side"] = "right".into();
    std::fs::write(&p, v.to_string()).unwrap();
    assert_eq!(fingerprint(d.path()), plain);
    v["truncation_side"] = "left".into();
    std::fs::write(&p, v.to_string()).unwrap();
    assert_ne!(fingerprint(d.path()), plain);
}

/// int8 and bf16 vectors are not f32's: each precision has its own fingerprint, so a GT
/// store or shadow log of one is not taken for another's.
#[test]
fn each_precision_has_its_own_fingerprint() {
    use titlesim_core::{Dtype, EmbedOptions, Embedder, TransformerEmbedder};
    let dir = fixture("tiny-bert-cls");
    let fingerprint = |dtype: Option<Dtype>| {
        let spec = spec(&dir, &ModelOverrides::default());
        let opts = BackendOptions {
            dtype,
            ..threads(1)
        };
        let backend = titlesim_candle::load(&spec, &opts).unwrap();
        TransformerEmbedder::new(spec, backend, EmbedOptions { batch_size: 8 })
            .unwrap()
            .fingerprint()
            .to_string()
    };
    let f32 = fingerprint(None);
    assert_eq!(fingerprint(Some(Dtype::F32)), f32);
    let int8 = fingerprint(Some(Dtype::Int8));
    let bf16 = fingerprint(Some(Dtype::Bf16));
    assert!(
        f32 != int8 && f32 != bf16 && int8 != bf16,
        "{f32} {int8} {bf16}"
    );
}

/// A weight stored as integers is named as such, not "missing"; a tensor given twice (with
/// and without the `bert.` prefix) is refused rather than one copy picked by chance.
#[test]
fn integer_weights_and_tensors_given_twice_are_named() {
    let d = copy_fixture("tiny-bert-cls");
    rewrite_weights(d.path(), |k, t| {
        if k == "encoder.layer.0.output.dense.bias" {
            Some((k, t.to_dtype(DType::I64).unwrap()))
        } else {
            Some((k, t))
        }
    });
    let msg = load_err(d.path()).to_string();
    assert!(
        msg.contains("tensor `encoder.layer.0.output.dense.bias` is stored as I64"),
        "{msg}"
    );

    let d = copy_fixture("tiny-bert-cls");
    let p = d.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&p, &Device::Cpu).unwrap();
    let twice = tensors
        .keys()
        .find(|k| k.starts_with("encoder.layer.0."))
        .unwrap()
        .clone();
    let copy = tensors[&twice].zeros_like().unwrap();
    tensors.insert(format!("bert.{twice}"), copy);
    candle_core::safetensors::save(&tensors, &p).unwrap();
    let msg = load_err(d.path()).to_string();
    assert!(
        msg.contains("one tensor, two copies") && msg.contains(&twice),
        "{msg}"
    );
}

#[test]
fn unsupported_architecture_names_the_model_type() {
    let d = copy_fixture("tiny-bert-cls");
    edit_config(d.path(), |c| c["model_type"] = "roberta".into());
    let e = load_err(d.path());
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("roberta"), "{e}");
}

#[test]
fn bad_options_are_errors() {
    let dir = fixture("tiny-bert-cls");
    let spec = spec(&dir, &ModelOverrides::default());
    let zero = BackendOptions {
        threads: Some(0),
        ..Default::default()
    };
    assert!(titlesim_candle::load(&spec, &zero).is_err());
    // f16 is not a dtype any backend runs: refused when the option is parsed.
    let msg = "f16".parse::<titlesim_core::Dtype>().unwrap_err();
    assert!(msg.contains("f16"), "{msg}");
}

#[test]
fn bad_batches_are_errors_not_panics() {
    let dir = fixture("tiny-bert-cls");
    let spec = spec(&dir, &ModelOverrides::default());
    let backend = titlesim_candle::load(&spec, &threads(1)).unwrap();
    let ok = |ids: Vec<i64>| TokenBatch {
        batch_size: 1,
        seq_len: ids.len(),
        attention_mask: vec![1; ids.len()],
        token_type_ids: vec![0; ids.len()],
        position_ids: (0..ids.len() as i64).collect(),
        input_ids: ids,
        padding_side: PaddingSide::Right,
        pad_id: 0,
    };
    let e = backend
        .forward(&ok(vec![2, 99_999, 3]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("99999") && e.contains("vocab_size"), "{e}");
    let e = backend
        .forward(&ok(vec![2, -1, 3]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("-1"), "{e}");
    let mut long = ok(vec![5; 600]);
    long.position_ids = (0..600).collect();
    let e = backend.forward(&long).unwrap_err().to_string();
    assert!(e.contains("max_position_embeddings"), "{e}");
    let mut bad = ok(vec![2, 3]);
    bad.attention_mask.pop();
    assert!(backend.forward(&bad).is_err());
    // An empty batch is not an error.
    let empty = ok(vec![]);
    match backend.forward(&empty).unwrap() {
        BackendOutput::Tokens(s) => assert!(s.data.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bert_prefix_loads() {
    let r = Reference::load("tiny-bert-cls");
    let d = copy_fixture("tiny-bert-cls");
    rewrite_weights(d.path(), |k, t| Some((format!("bert.{k}"), t)));
    let got = embedder(d.path(), &ModelOverrides::default(), 8)
        .embed_blocking(&r.inputs())
        .unwrap();
    assert_close("bert. prefix", &got, &r.embeddings, &r.texts, 1e-5);
}

#[test]
fn qwen3_model_prefix_and_bf16_weights_load() {
    let r = Reference::load("tiny-qwen3");
    // bf16 weights with the `model.` prefix of Qwen3ForCausalLM checkpoints ...
    let bf16 = copy_fixture("tiny-qwen3");
    rewrite_weights(bf16.path(), |k, t| {
        Some((format!("model.{k}"), t.to_dtype(DType::BF16).unwrap()))
    });
    // ... and the same (rounded) values stored as f32 without the prefix.
    let f32 = copy_fixture("tiny-qwen3");
    rewrite_weights(f32.path(), |k, t| {
        Some((
            k,
            t.to_dtype(DType::BF16)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap(),
        ))
    });
    let a = embedder(bf16.path(), &ModelOverrides::default(), 8)
        .embed_blocking(&r.inputs())
        .unwrap();
    let b = embedder(f32.path(), &ModelOverrides::default(), 8)
        .embed_blocking(&r.inputs())
        .unwrap();
    assert_eq!(a, b, "bf16 weights must be widened exactly");
    // Rounding the weights to bf16 moves the vectors a little, not a lot.
    for (v, w) in a.iter().zip(&r.embeddings) {
        let cos: f32 = v.iter().zip(w).map(|(x, y)| x * y).sum();
        assert!(cos > 0.99, "cosine {cos}");
    }
}

#[test]
fn concurrent_calls_agree() {
    let dir = fixture("tiny-qwen3");
    let r = Reference::load("tiny-qwen3");
    let emb = embedder(&dir, &ModelOverrides::default(), 4);
    let inputs = r.inputs();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..3)
            .map(|_| s.spawn(|| emb.embed_blocking(&inputs).unwrap()))
            .collect();
        for h in hs {
            assert_close(
                "concurrent",
                &h.join().unwrap(),
                &r.embeddings,
                &r.texts,
                1e-5,
            );
        }
    });
}

/// Weights that give NaN are an error naming the text whose vector it is: it said "text #0",
/// counted within one call (in `score`, a chunk's titles once each), which no one could find
/// in the input.
#[test]
fn a_non_finite_vector_names_its_text() {
    let d = copy_fixture("tiny-bert-mean");
    rewrite_weights(d.path(), |k, t| {
        if k.ends_with("embeddings.LayerNorm.weight") {
            let nan = Tensor::full(f32::NAN, t.shape(), &Device::Cpu).unwrap();
            Some((k, nan))
        } else {
            Some((k, t))
        }
    });
    let e = embedder(d.path(), &ModelOverrides::default(), 8);
    let long = "a stainless steel electric kettle, 1.7 litres, with a blue light and a filter";
    for (text, named) in [
        ("a red kettle", "\"a red kettle\"".to_string()),
        (long, format!("{:?}...", &long[..60])),
    ] {
        match e.embed_blocking(&[text.to_string()]) {
            Err(Error::NonFinite { context }) => {
                assert!(context.contains(&named), "{context}")
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
}
