//! `titlesim embed` against the committed sentence-transformers references.

mod common;

use common::*;
use serde_json::Value;

/// Parses embed's JSON lines into (text, vector) pairs.
fn parse(stdout: &str) -> Vec<(String, Vec<f32>)> {
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("each line is JSON");
            let text = v["text"].as_str().expect("a text field").to_string();
            let emb = v["embedding"]
                .as_array()
                .expect("an embedding array")
                .iter()
                .map(|x| x.as_f64().expect("numbers") as f32)
                .collect();
            (text, emb)
        })
        .collect()
}

/// The ONNX Runtime library for the ort backend (fails the test, saying what to run, when it
/// is missing).
fn ort_library_if(backend: &str) -> Option<std::path::PathBuf> {
    (backend == "ort").then(ort_library)
}

fn check_against_reference(name: &str, backend: &str, tol: f32) {
    check_with(name, backend, &[], tol)
}

fn check_with(name: &str, backend: &str, extra: &[&str], tol: f32) {
    let r = reference(name);
    let folder = fixture(name);
    // One text per line; the reference's empty text is an empty line in the middle.
    assert!(r.texts.iter().all(|t| !t.contains('\n')));
    assert!(!r.texts.last().unwrap().is_empty());
    let input = r.texts.join("\n") + "\n";
    let lib = ort_library_if(backend);
    let mut args = vec![
        "embed",
        "--model",
        folder.to_str().unwrap(),
        "--backend",
        backend,
        "--batch-size",
        "4",
    ];
    if let Some(lib) = &lib {
        args.extend(["--ort-library", lib.to_str().unwrap()]);
    }
    args.extend(extra);
    let out = titlesim(&args, Some(input.as_bytes()));
    let rows = parse(&ok(&out));
    assert_eq!(rows.len(), r.texts.len(), "one line per input text");
    for (i, ((text, v), (want_text, want))) in rows
        .iter()
        .zip(r.texts.iter().zip(&r.embeddings))
        .enumerate()
    {
        assert_eq!(text, want_text, "line {i} is out of order");
        let d = max_abs_diff(v, want);
        assert!(
            d <= tol,
            "{name} on {backend}, text {i} ({want_text:?}): max |diff| {d}"
        );
    }
}

#[test]
#[cfg(feature = "candle")]
fn tiny_bert_mean_on_candle_matches_sentence_transformers() {
    check_against_reference("tiny-bert-mean", "candle", 1e-5);
}

#[test]
#[cfg(feature = "candle")]
fn tiny_bert_cls_on_candle_is_normalised_like_the_reference() {
    let r = reference("tiny-bert-cls");
    assert!(r.normalize);
    check_against_reference("tiny-bert-cls", "candle", 1e-5);
}

#[test]
#[cfg(feature = "tract")]
fn tiny_bert_mean_on_tract_matches_sentence_transformers() {
    check_against_reference("tiny-bert-mean", "tract", 1e-5);
}

#[test]
#[cfg(feature = "ort")]
fn tiny_bert_mean_on_ort_matches_sentence_transformers() {
    check_against_reference("tiny-bert-mean", "ort", 1e-5);
}

// The tiny Qwen3 folder: last-token pooling, left padding, mixed-length batches of 4.

#[test]
#[cfg(feature = "candle")]
fn tiny_qwen3_on_candle_matches_sentence_transformers() {
    check_against_reference("tiny-qwen3", "candle", 1e-5);
}

#[test]
#[cfg(feature = "ort")]
fn tiny_qwen3_on_ort_with_the_generation_export_matches_sentence_transformers() {
    // The text-generation export also takes `past_key_values.*` (fed empty).
    let onnx = fixture("tiny-qwen3").join("onnx/model_with_past.onnx");
    check_with(
        "tiny-qwen3",
        "ort",
        &["--onnx", onnx.to_str().unwrap()],
        1e-5,
    );
}

#[test]
#[cfg(feature = "tract")]
fn tiny_qwen3_on_tract_with_an_explicit_onnx_matches_sentence_transformers() {
    let onnx = fixture("tiny-qwen3").join("onnx/model.onnx");
    check_with(
        "tiny-qwen3",
        "tract",
        &["--onnx", onnx.to_str().unwrap()],
        1e-5,
    );
}

#[test]
#[cfg(feature = "candle")]
fn files_and_jsonl_give_the_same_lines_and_floats_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let texts = [
        "USB C Cable 2 Pack",
        "",
        "Café crème brûlée – 500 g",
        "USB C Cable 2 Pack",
    ];
    let txt = d.path().join("in.txt");
    std::fs::write(&txt, texts.join("\n")).unwrap();
    let jsonl = d.path().join("in.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .map(|t| serde_json::json!({"id": 1, "text": t}).to_string())
        .collect();
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
    let model = fixture("tiny-bert-mean");
    let run = |input: &std::path::Path| {
        ok(&titlesim(
            &[
                "embed",
                "-m",
                model.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--chunk-size",
                "3",
            ],
            None,
        ))
    };
    let a = run(&txt);
    let b = run(&jsonl);
    assert_eq!(a, b, "text and JSON-lines input give the same output");
    let rows = parse(&a);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[1].0, "");
    assert_eq!(
        rows[0].1, rows[3].1,
        "the same text gives the same vector across chunks"
    );
    assert_eq!(rows[0].1.len(), 32);
    // Floats print as the shortest decimal that parses back to the same f32.
    for line in a.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        for x in v["embedding"].as_array().unwrap() {
            let s = x.to_string();
            let f: f32 = s.parse().unwrap();
            assert_eq!(f.to_string().parse::<f32>().unwrap(), f);
            assert!(s.len() <= 16, "{s} is longer than an f32 needs");
        }
    }
}

#[test]
#[cfg(feature = "candle")]
fn overrides_change_the_vectors() {
    let model = fixture("tiny-bert-mean");
    let m = model.to_str().unwrap();
    let plain = parse(&ok(&titlesim(
        &["embed", "-m", m],
        Some(b"USB C Cable 2 Pack\n"),
    )));
    let norm = parse(&ok(&titlesim(
        &["embed", "-m", m, "--normalize", "true"],
        Some(b"USB C Cable 2 Pack\n"),
    )));
    let n: f32 = norm[0].1.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((n - 1.0).abs() < 1e-5, "norm {n}");
    let p: f32 = plain[0].1.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(
        (p - 1.0).abs() > 1e-3,
        "tiny-bert-mean is not normalised by default"
    );
    assert!(cosine(&plain[0].1, &norm[0].1) > 0.99999);
    let cls = parse(&ok(&titlesim(
        &["embed", "-m", m, "--pooling", "cls"],
        Some(b"USB C Cable 2 Pack\n"),
    )));
    assert!(
        max_abs_diff(&cls[0].1, &plain[0].1) > 1e-3,
        "--pooling cls changes the vector"
    );
}

/// A Qwen3 folder whose tokenizer lost its EOS post-processor is refused with a message that
/// says what to set; `--append-eos true` then gives sentence-transformers' vectors (of the
/// folder that appends it).
#[test]
#[cfg(feature = "candle")]
fn qwen3_folder_without_eos_is_refused_then_fixed_by_append_eos() {
    let src = fixture("tiny-qwen3");
    let d = tempfile::tempdir().unwrap();
    let dst = d.path().join("qwen3-no-eos");
    std::fs::create_dir_all(dst.join("1_Pooling")).unwrap();
    for f in [
        "config.json",
        "tokenizer_config.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "modules.json",
        "special_tokens_map.json",
        "model.safetensors",
        "1_Pooling/config.json",
    ] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let mut tok: Value =
        serde_json::from_slice(&std::fs::read(src.join("tokenizer.json")).unwrap()).unwrap();
    tok["post_processor"] = Value::Null;
    std::fs::write(dst.join("tokenizer.json"), tok.to_string()).unwrap();

    let r = reference("tiny-qwen3");
    let input = r.texts.join("\n") + "\n";
    let model = dst.to_str().unwrap();
    let err = fails(&titlesim(
        &["embed", "--model", model],
        Some(input.as_bytes()),
    ));
    assert!(
        err.contains("tokenizer.json") && err.contains("append_eos"),
        "{err}"
    );

    let out = titlesim(
        &["embed", "--model", model, "--append-eos", "true"],
        Some(input.as_bytes()),
    );
    let rows = parse(&ok(&out));
    assert_eq!(rows.len(), r.embeddings.len());
    for (i, ((_, v), want)) in rows.iter().zip(&r.embeddings).enumerate() {
        let d = max_abs_diff(v, want);
        assert!(d <= 1e-5, "text {i}: max |diff| {d}");
    }
}

/// `--dtype int8` and `--dtype bf16` run candle's reduced-precision modes (close to, not equal
/// to, the f32 reference); the ONNX backends, which run the file's own precision, refuse them
/// instead of ignoring them.
#[test]
#[cfg(all(feature = "candle", feature = "tract"))]
fn dtype_int8_and_bf16_on_candle_and_refused_by_onnx_backends() {
    let r = reference("tiny-bert-cls");
    let input = r.texts.join("\n") + "\n";
    let folder = fixture("tiny-bert-cls");
    let model = folder.to_str().unwrap();
    for (dtype, min_cos) in [("int8", 0.999), ("bf16", 0.9999)] {
        let out = titlesim(
            &["embed", "--model", model, "--dtype", dtype],
            Some(input.as_bytes()),
        );
        let rows = parse(&ok(&out));
        assert_eq!(rows.len(), r.embeddings.len());
        let mut exact = true;
        for (i, ((_, v), want)) in rows.iter().zip(&r.embeddings).enumerate() {
            let c = cosine(v, want);
            assert!(c >= min_cos, "{dtype}, text {i}: cosine {c}");
            exact &= max_abs_diff(v, want) <= 1e-6;
        }
        assert!(
            !exact,
            "{dtype} gave the f32 vectors: the dtype was ignored"
        );

        let err = fails(&titlesim(
            &[
                "embed",
                "--model",
                model,
                "--backend",
                "tract",
                "--dtype",
                dtype,
            ],
            Some(input.as_bytes()),
        ));
        assert!(err.contains("tract") && err.contains(dtype), "{err}");
    }
}

#[test]
fn spin_reaches_the_backends_and_changes_no_vector() {
    let r = reference("tiny-bert-cls");
    let input = r.texts.join("\n") + "\n";
    let folder = fixture("tiny-bert-cls");
    let model = folder.to_str().unwrap();
    for backend in ["candle", "tract"] {
        for spin in ["true", "false"] {
            // Batch 1: tract spins through a single text's pass only.
            let out = titlesim(
                &[
                    "embed",
                    "--model",
                    model,
                    "--backend",
                    backend,
                    "--threads",
                    "2",
                    "--batch-size",
                    "1",
                    "--spin",
                    spin,
                ],
                Some(input.as_bytes()),
            );
            let rows = parse(&ok(&out));
            assert_eq!(rows.len(), r.embeddings.len());
            for (i, ((_, v), want)) in rows.iter().zip(&r.embeddings).enumerate() {
                assert!(
                    max_abs_diff(v, want) <= 1e-5,
                    "{backend} --spin {spin}, text {i}"
                );
            }
        }
    }
    let err = fails(&titlesim(
        &["embed", "--model", model, "--spin", "sometimes"],
        Some(input.as_bytes()),
    ));
    assert!(err.contains("--spin") && err.contains("sometimes"), "{err}");
}
