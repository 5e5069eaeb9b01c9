//! `titlesim inspect`: what a model name resolves to and how it will be embedded.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use titlesim::{shown, Embedder, ModelSpec};

use super::ModelArgs;

/// Show what a model name resolves to: the folder and the files used, architecture,
/// dimension, pooling, normalisation, max length, padding side, prompts and warnings; then
/// load it on the backend and show the backend and the fingerprint of its vectors.
///
/// Exits non-zero (after printing what was resolved) when the backend cannot load the model.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn describe(spec: &ModelSpec) -> Value {
    let root = &spec.root;
    let f = &spec.files;
    json!({
        "model": spec.id,
        "folder": root.canonicalize().unwrap_or_else(|_| root.clone()),
        "files": {
            "config": rel(root, &f.config),
            "tokenizer": rel(root, &f.tokenizer),
            "tokenizer_config": f.tokenizer_config.as_deref().map(|p| rel(root, p)),
            "safetensors": f.safetensors.iter().map(|p| rel(root, p)).collect::<Vec<_>>(),
            "onnx": f.onnx.as_deref().map(|p| rel(root, p)),
            "sentence_transformers": f.sentence_transformers.iter().map(|p| rel(root, p)).collect::<Vec<_>>(),
        },
        "architecture": spec.architecture.to_string(),
        "dimension": spec.hidden_size,
        "pooling": spec.pooling.as_str(),
        "normalize": spec.normalize,
        "max_length": spec.max_seq_length,
        "do_lower_case": spec.do_lower_case,
        "padding_side": format!("{:?}", spec.padding_side).to_lowercase(),
        "truncation_side": format!("{:?}", spec.truncation_side).to_lowercase(),
        "pad_token": spec.pad_token,
        "prompts": spec.prompts,
        "default_prompt_name": spec.default_prompt_name,
        "include_prompt": spec.include_prompt,
        "warnings": spec.warnings,
    })
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The text form: one setting a line. Names and paths come from the folder and its files, so
/// their control characters are escaped (`shown`): a folder named `a<LF>warnings none` must
/// not print a line of its own.
fn text(v: &Value, spec: &ModelSpec) -> String {
    let s = |k: &str| shown(v[k].as_str().unwrap_or("-")).into_owned();
    let list = |x: &Value| -> String {
        match x {
            Value::Array(a) if a.is_empty() => "-".into(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(shown)
                .collect::<Vec<_>>()
                .join(", "),
            Value::String(s) => shown(s).into_owned(),
            _ => "-".into(),
        }
    };
    let files = &v["files"];
    let mut o = String::new();
    o += &format!("model          {}\n", s("model"));
    o += &format!("folder         {}\n", s("folder"));
    o += "files\n";
    for (k, label) in [
        ("config", "config"),
        ("tokenizer", "tokenizer"),
        ("tokenizer_config", "tokenizer config"),
        ("safetensors", "safetensors"),
        ("onnx", "onnx"),
        ("sentence_transformers", "sentence-transformers"),
    ] {
        o += &format!("  {label:<22} {}\n", list(&files[k]));
    }
    o += &format!("architecture   {}\n", s("architecture"));
    o += &format!("dimension      {}\n", spec.hidden_size);
    o += &format!("pooling        {}\n", spec.pooling);
    o += &format!("normalize      {}\n", yes(spec.normalize));
    o += &format!("max length     {} tokens\n", spec.max_seq_length);
    o += &format!("lower-case     {}\n", yes(spec.do_lower_case));
    o += &format!(
        "padding side   {} (truncation side {})\n",
        s("padding_side"),
        s("truncation_side")
    );
    o += &format!(
        "pad token      {}\n",
        shown(spec.pad_token.as_deref().unwrap_or("-"))
    );
    if spec.prompts.is_empty() {
        o += "prompts        none\n";
    } else {
        o += "prompts\n";
        for (name, p) in &spec.prompts {
            o += &format!("  {:<12} {p:?}\n", shown(name));
        }
    }
    o += &format!(
        "default prompt {}\n",
        shown(spec.default_prompt_name.as_deref().unwrap_or("none"))
    );
    if spec.warnings.is_empty() {
        o += "warnings       none\n";
    } else {
        o += "warnings\n";
        for w in &spec.warnings {
            o += &format!("  - {}\n", shown(w));
        }
    }
    o
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let cfg = args.model.to_config()?;
    let spec = titlesim::load_spec(&cfg)?;
    let mut v = describe(&spec);
    let backend = cfg.backend.as_str();
    let loaded = titlesim::load_embedder(&cfg);
    let (backend_v, err) = match &loaded {
        Ok(e) => {
            let info = e.info();
            (
                json!({
                    "name": info.backend,
                    "loaded": true,
                    "onnx": cfg.onnx.as_deref().or(spec.files.onnx.as_deref())
                        .filter(|_| backend != "candle")
                        .map(|p| p.display().to_string()),
                    "dimension": info.dim,
                    "normalize": info.normalize,
                    "fingerprint": info.fingerprint,
                }),
                None,
            )
        }
        Err(e) => (
            json!({"name": backend, "loaded": false, "error": e.to_string()}),
            Some(e.to_string()),
        ),
    };
    v["backend"] = backend_v.clone();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        let mut o = text(&v, &spec);
        match &loaded {
            Ok(e) => {
                o += &format!("backend        {} (loaded)\n", e.info().backend);
                if let Some(onnx) = backend_v["onnx"].as_str() {
                    o += &format!("onnx in use    {}\n", shown(onnx));
                }
                o += &format!("fingerprint    {}\n", e.fingerprint());
            }
            Err(_) => o += &format!("backend        {backend} (not loaded)\n"),
        }
        out!("{o}")?;
    }
    match err {
        Some(e) => anyhow::bail!("the {backend} backend could not load the model: {e}"),
        None => Ok(()),
    }
}
