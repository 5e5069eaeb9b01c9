//! `titlesim inspect`: what a model folder resolves to.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn text_output_names_every_setting() {
    let m = fixture("tiny-qwen3");
    let out = titlesim(&["inspect", "--model", m.to_str().unwrap()], None);
    let text = if cfg!(feature = "candle") {
        ok(&out)
    } else {
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for want in [
        "folder",
        "tiny-qwen3",
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "onnx/model.onnx",
        "1_Pooling/config.json",
        "architecture   qwen3",
        "dimension      64",
        "pooling        last-token",
        "normalize      yes",
        "max length     128 tokens",
        "padding side   left",
        "pad token      <|endoftext|>",
        "query",
        "Instruct: Given a product title",
        "warnings       none",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    if cfg!(feature = "candle") {
        assert!(text.contains("backend        candle (loaded)"), "{text}");
        assert!(text.contains("fingerprint    ts1-"), "{text}");
    }
}

#[test]
#[cfg(feature = "candle")]
fn json_output_is_machine_readable() {
    let m = fixture("tiny-bert-cls");
    let out = ok(&titlesim(
        &["inspect", "-m", m.to_str().unwrap(), "--json"],
        None,
    ));
    let v: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["architecture"], "bert");
    assert_eq!(v["dimension"], 32);
    assert_eq!(v["pooling"], "cls");
    assert_eq!(v["normalize"], true);
    assert_eq!(v["max_length"], 256);
    assert_eq!(v["padding_side"], "right");
    assert_eq!(v["files"]["safetensors"][0], "model.safetensors");
    assert!(v["prompts"].as_object().is_some());
    assert!(v["warnings"].as_array().is_some());
    assert_eq!(v["backend"]["name"], "candle");
    assert_eq!(v["backend"]["loaded"], true);
    let fp = v["backend"]["fingerprint"].as_str().unwrap();
    assert!(fp.starts_with("ts1-") && fp.len() == 36, "{fp}");

    // Overrides show up, and change the fingerprint.
    let out = ok(&titlesim(
        &[
            "inspect",
            "-m",
            m.to_str().unwrap(),
            "--json",
            "--pooling",
            "mean",
            "--max-length",
            "64",
        ],
        None,
    ));
    let w: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(w["pooling"], "mean");
    assert_eq!(w["max_length"], 64);
    assert_ne!(w["backend"]["fingerprint"], v["backend"]["fingerprint"]);
}

#[test]
fn a_folder_without_modules_json_gets_a_warning() {
    let d = tempfile::tempdir().unwrap();
    let src = fixture("tiny-bert-mean");
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        std::fs::copy(src.join(f), d.path().join(f)).unwrap();
    }
    let out = titlesim(
        &["inspect", "-m", d.path().to_str().unwrap(), "--json"],
        None,
    );
    let v: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let w = v["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w.as_str().unwrap().contains("modules.json")),
        "{w:?}"
    );
    assert_eq!(v["pooling"], "mean");

    // Every command that loads the model says it too, not only inspect: embed ...
    let folder = d.path().to_str().unwrap();
    let out = titlesim(
        &["embed", "-m", folder, "--revision", "v2"],
        Some(b"a title\n"),
    );
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: no modules.json"), "{err}");
    assert!(
        err.contains("warning: revision `v2` is unused") && err.contains("local folder"),
        "{err}"
    );
    // ... and score (through the scorer every front end loads: CLI, Python, serve).
    let cfg = d.path().join("t.toml");
    std::fs::write(
        &cfg,
        format!("[canonical]\nmodel = {folder:?}\nthreshold = 0.5\n"),
    )
    .unwrap();
    let pairs = d.path().join("p.csv");
    std::fs::write(&pairs, "id,product,gt\n1,a,b\n").unwrap();
    let out = titlesim(
        &[
            "score",
            "-c",
            cfg.to_str().unwrap(),
            "-p",
            pairs.to_str().unwrap(),
        ],
        None,
    );
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: [canonical] no modules.json"),
        "{err}"
    );
}

/// A folder's name is printed escaped: a newline in it must not start a line of its own that
/// reads like a setting (`warnings       none` under a model that has warnings).
#[test]
fn a_folder_name_with_a_newline_stays_on_its_line() {
    let d = tempfile::tempdir().unwrap();
    let folder = d.path().join("tiny\nwarnings       none");
    std::os::unix::fs::symlink(fixture("tiny-bert-mean"), &folder).unwrap();
    let out = titlesim(&["inspect", "-m", folder.to_str().unwrap()], None);
    let text = String::from_utf8_lossy(&out.stdout);
    let model = text.lines().find(|l| l.starts_with("model ")).unwrap();
    assert!(model.contains(r"tiny\u{a}warnings"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("warnings")).count(),
        1,
        "{text}"
    );
}
