//! Qwen3-Embedding-0.6B on the candle backend: peak memory, load time, speed and agreement,
//! per checkpoint format and compute precision, each configuration in its own process.
//!
//! The model is made here, with no download and no torch: the exact configuration of
//! Qwen/Qwen3-Embedding-0.6B (28 layers, hidden 1024, 16 query / 8 key-value heads of 128,
//! MLP 3072, vocabulary 151,669) with random weights drawn as `transformers` initialises them
//! (normal, standard deviation 0.02 = `initializer_range`; norm weights 1), saved twice: as
//! bf16 (the format Qwen3-Embedding ships in) and as f32 holding the same values. The
//! tokenizer files are the tiny Qwen3 fixture's; the batches are token ids drawn here (lengths
//! 12 to 36, left-padded as Qwen3 is), so no tokenizer runs.
//!
//! Configurations: `bf16` (bf16 checkpoint, f32 compute: weights stay bf16 in memory),
//! `f32` (the f32 checkpoint, f32 compute), `int8` (bf16 checkpoint, `dtype = "int8"`: the
//! attention output and MLP in int8, q/k/v in f32), `bf16-compute` (bf16 checkpoint,
//! `dtype = "bf16"`: every dense layer multiplies bf16 inputs by bf16 weights).
//! Each reports VmHWM (peak resident memory) after loading and running the batches, load
//! time, the median time of one batch, and its last-token vectors, which the parent compares
//! with the f32 checkpoint's (cosine).
//!
//! ```sh
//! cargo run --release -p titlesim-bench --bin qwen3_memory -- --threads 2
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use titlesim::{BackendKind, BackendOptions, Dtype, ModelSpec, PaddingSide, TokenBatch};
use titlesim_bench::{cpu_info, median, min_cosine, peak_rss_mb, workspace_root};

#[derive(Debug, Parser)]
#[command(about = "Qwen3-Embedding-0.6B (random weights) on candle: memory and cost per format")]
struct Args {
    /// Where the two checkpoints are written (about 3.6 GB; kept for the next run).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Compute threads of each configuration.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Texts per batch.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Timed batches per configuration (the median is reported).
    #[arg(long, default_value_t = 2)]
    runs: usize,
    /// Only these configurations (comma-separated: bf16, f32, int8, bf16-compute).
    #[arg(long, default_value = "bf16,f32,int8,bf16-compute")]
    only: String,
    /// Internal: measure one configuration in this process and print its JSON.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// Qwen3-Embedding-0.6B's shape.
const VOCAB: usize = 151_669;
const HIDDEN: usize = 1024;
const LAYERS: usize = 28;
const HEADS: usize = 16;
const KV_HEADS: usize = 8;
const HEAD_DIM: usize = 128;
const FFN: usize = 3072;

fn main() -> Result<()> {
    let a = Args::parse();
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| workspace_root().join("target/qwen3-0.6b-random"));
    if let Some(kind) = &a.child {
        return child(&a, &dir, kind);
    }
    let cpu = cpu_info();
    println!("CPU: {}", cpu.line());
    if let Some(w) = cpu.warning() {
        println!("{w}");
    }
    for format in ["bf16", "f32"] {
        make_checkpoint(&dir.join(format), format == "bf16")?;
    }
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for kind in a.only.split(',').map(str::trim) {
        eprintln!("qwen3_memory: measuring {kind} in its own process");
        let out = Command::new(&exe)
            .args(["--child", kind, "--dir"])
            .arg(&dir)
            .args(["--threads", &a.threads.to_string()])
            .args(["--batch", &a.batch.to_string()])
            .args(["--runs", &a.runs.to_string()])
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "configuration {kind} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim())
            .with_context(|| format!("configuration {kind} printed {line:?}"))?;
        rows.push(v);
    }
    let reference = read_vectors(&dir.join("vectors-f32.bin")).ok();
    println!(
        "\n{} threads, batch {} (lengths 12-36 tokens, {} runs, median)\n",
        a.threads, a.batch, a.runs
    );
    println!("| configuration | checkpoint | compute | peak RSS MB | load s | ms per batch | ms per text | min cosine vs f32 checkpoint |");
    println!("|---|---|---|--:|--:|--:|--:|--:|");
    for r in &rows {
        let kind = r["kind"].as_str().unwrap_or("?");
        let cos = match (
            &reference,
            read_vectors(&dir.join(format!("vectors-{kind}.bin"))),
        ) {
            (_, _) if kind == "f32" => "reference".into(),
            // The f32 checkpoint's vectors come from the last run that measured it: another
            // batch size gives another number of vectors, not a comparison.
            (Some(want), Ok(got)) if got.len() != want.len() => format!(
                "n/a (the f32 vectors on file are for {} texts: add f32 to --only)",
                want.len()
            ),
            (Some(want), Ok(got)) => format!("{:.6}", min_cosine(&got, want)),
            _ => "n/a".into(),
        };
        let ms = r["ms"].as_f64().unwrap_or(f64::NAN);
        println!(
            "| {kind} | {} | {} | {:.0} | {:.2} | {:.0} | {:.1} | {cos} |",
            r["checkpoint"].as_str().unwrap_or("?"),
            r["compute"].as_str().unwrap_or("?"),
            r["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
            r["load_s"].as_f64().unwrap_or(f64::NAN),
            ms,
            ms / a.batch as f64,
        );
    }
    Ok(())
}

/// One configuration, measured in this process; prints one JSON line.
fn child(a: &Args, dir: &Path, kind: &str) -> Result<()> {
    let (format, dtype, compute) = match kind {
        "bf16" => ("bf16", Dtype::F32, "f32"),
        "f32" => ("f32", Dtype::F32, "f32"),
        "int8" => ("bf16", Dtype::Int8, "int8"),
        "bf16-compute" => ("bf16", Dtype::Bf16, "bf16"),
        other => bail!("unknown configuration `{other}` (bf16, f32, int8, bf16-compute)"),
    };
    let spec = ModelSpec::from_folder("qwen3-0.6b-random", &dir.join(format))?;
    let opts = BackendOptions {
        threads: Some(a.threads),
        dtype: Some(dtype),
        ..Default::default()
    };
    let t = Instant::now();
    let backend = titlesim::load_backend(BackendKind::Candle, &spec, &opts)?;
    let load_s = t.elapsed().as_secs_f64();
    let batch = token_batch(a.batch);
    let mut times = Vec::new();
    let mut vectors = Vec::new();
    for _ in 0..a.runs.max(1) {
        let t = Instant::now();
        let out = backend.forward(&batch)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        let titlesim::BackendOutput::Tokens(states) = out else {
            bail!("candle returned pooled vectors; expected token states");
        };
        // Left padding: every text's last token is the batch's last position.
        vectors.clear();
        for b in 0..batch.batch_size {
            let at = (b * batch.seq_len + batch.seq_len - 1) * HIDDEN;
            let v = &states.data[at..at + HIDDEN];
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            vectors.extend(v.iter().map(|x| x / norm));
        }
    }
    let bytes: Vec<u8> = vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
    let out = dir.join(format!("vectors-{kind}.bin"));
    std::fs::write(&out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    let j = serde_json::json!({
        "kind": kind,
        "checkpoint": format,
        "compute": compute,
        "load_s": load_s,
        "ms": median(&times),
        "peak_rss_mb": peak_rss_mb(),
    });
    println!("{j}");
    Ok(())
}

/// A left-padded batch of `n` texts of 12 to 36 random token ids (seeded).
fn token_batch(n: usize) -> TokenBatch {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let lens: Vec<usize> = (0..n).map(|_| 12 + (rng.next() % 25) as usize).collect();
    let seq = lens.iter().copied().max().unwrap_or(0);
    let mut b = TokenBatch {
        batch_size: n,
        seq_len: seq,
        input_ids: Vec::with_capacity(n * seq),
        attention_mask: Vec::with_capacity(n * seq),
        token_type_ids: vec![0; n * seq],
        position_ids: Vec::with_capacity(n * seq),
        padding_side: PaddingSide::Left,
        pad_id: 0,
    };
    for &len in &lens {
        for p in 0..seq {
            let real = p >= seq - len;
            b.input_ids.push(if real {
                (rng.next() % VOCAB as u64) as i64
            } else {
                0
            });
            b.attention_mask.push(i64::from(real));
            b.position_ids
                .push(if real { (p - (seq - len)) as i64 } else { 0 });
        }
    }
    b
}

/// Writes the checkpoint folder `dir` (bf16 or f32 weights) unless it is already complete.
fn make_checkpoint(dir: &Path, bf16: bool) -> Result<()> {
    let weights = dir.join("model.safetensors");
    if weights.is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let fixture = workspace_root().join("tests/fixtures/tiny-qwen3");
    copy_dir(&fixture, dir, &["model.safetensors", "onnx", "config.json"])
        .with_context(|| format!("cannot copy the tokenizer files of {}", fixture.display()))?;
    let config = fixture.join("config.json");
    let text = std::fs::read_to_string(&config)
        .with_context(|| format!("cannot read {}", config.display()))?;
    let mut cfg: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", config.display()))?;
    for (k, v) in [
        ("vocab_size", VOCAB),
        ("hidden_size", HIDDEN),
        ("num_hidden_layers", LAYERS),
        ("num_attention_heads", HEADS),
        ("num_key_value_heads", KV_HEADS),
        ("head_dim", HEAD_DIM),
        ("intermediate_size", FFN),
        ("max_position_embeddings", 32_768),
        ("max_window_layers", LAYERS),
    ] {
        cfg[k] = v.into();
    }
    cfg["layer_types"] = serde_json::json!(vec!["full_attention"; LAYERS]);
    cfg["torch_dtype"] = if bf16 { "bfloat16" } else { "float32" }.into();
    let out = dir.join("config.json");
    std::fs::write(&out, serde_json::to_string_pretty(&cfg)?)
        .with_context(|| format!("cannot write {}", out.display()))?;

    // name, shape, std (0: ones)
    let mut tensors: Vec<(String, Vec<usize>, f32)> =
        vec![("embed_tokens.weight".into(), vec![VOCAB, HIDDEN], 0.02)];
    for l in 0..LAYERS {
        let p = format!("layers.{l}");
        let q = HEADS * HEAD_DIM;
        let kv = KV_HEADS * HEAD_DIM;
        tensors.extend([
            (format!("{p}.input_layernorm.weight"), vec![HIDDEN], 0.0),
            (
                format!("{p}.self_attn.q_proj.weight"),
                vec![q, HIDDEN],
                0.02,
            ),
            (
                format!("{p}.self_attn.k_proj.weight"),
                vec![kv, HIDDEN],
                0.02,
            ),
            (
                format!("{p}.self_attn.v_proj.weight"),
                vec![kv, HIDDEN],
                0.02,
            ),
            (
                format!("{p}.self_attn.o_proj.weight"),
                vec![HIDDEN, q],
                0.02,
            ),
            (format!("{p}.self_attn.q_norm.weight"), vec![HEAD_DIM], 0.0),
            (format!("{p}.self_attn.k_norm.weight"), vec![HEAD_DIM], 0.0),
            (
                format!("{p}.post_attention_layernorm.weight"),
                vec![HIDDEN],
                0.0,
            ),
            (format!("{p}.mlp.gate_proj.weight"), vec![FFN, HIDDEN], 0.02),
            (format!("{p}.mlp.up_proj.weight"), vec![FFN, HIDDEN], 0.02),
            (format!("{p}.mlp.down_proj.weight"), vec![HIDDEN, FFN], 0.02),
        ]);
    }
    tensors.push(("norm.weight".into(), vec![HIDDEN], 0.0));
    let size = if bf16 { 2 } else { 4 };
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape, _) in &tensors {
        let bytes = shape.iter().product::<usize>() * size;
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": if bf16 { "BF16" } else { "F32" },
                "shape": shape,
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
    }
    let mut h = serde_json::to_vec(&header)?;
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    eprintln!(
        "qwen3_memory: writing {} ({:.1} GB)",
        weights.display(),
        offset as f64 / 1e9
    );
    let tmp = dir.join("model.safetensors.part");
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?,
    );
    use std::io::Write;
    f.write_all(&(h.len() as u64).to_le_bytes())?;
    f.write_all(&h)?;
    // The same seed for both formats: the f32 file holds the bf16 file's values exactly.
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut buf = Vec::with_capacity(1 << 20);
    for (_, shape, std) in &tensors {
        let n: usize = shape.iter().product();
        for _ in 0..n {
            let v = if *std == 0.0 { 1.0 } else { rng.normal() * std };
            // Round to bf16 (to nearest even), so both files hold the same values.
            let bits = v.to_bits();
            let b = ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
            if bf16 {
                buf.extend_from_slice(&b.to_le_bytes());
            } else {
                buf.extend_from_slice(&f32::from_bits(u32::from(b) << 16).to_le_bytes());
            }
            if buf.len() >= 1 << 20 {
                f.write_all(&buf)?;
                buf.clear();
            }
        }
    }
    f.write_all(&buf)?;
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, &weights)?;
    Ok(())
}

/// Copies the files of `from` into `to`, folders included, except the names in `skip`.
fn copy_dir(from: &Path, to: &Path, skip: &[&str]) -> Result<()> {
    for e in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let e = e?;
        let name = e.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let dst = to.join(&name);
        if e.file_type()?.is_dir() {
            std::fs::create_dir_all(&dst)?;
            copy_dir(&e.path(), &dst, &[])?;
        } else {
            std::fs::copy(e.path(), &dst).with_context(|| {
                format!("cannot copy {} to {}", e.path().display(), dst.display())
            })?;
        }
    }
    Ok(())
}

/// The vectors a child wrote (`HIDDEN` f32 each).
fn read_vectors(p: &Path) -> Result<Vec<Vec<f32>>> {
    let b = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    Ok(b.chunks_exact(4 * HIDDEN)
        .map(|v| {
            v.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect())
}

/// xorshift64*, and normals by Box-Muller.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}
