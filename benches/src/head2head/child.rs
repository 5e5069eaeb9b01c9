//! One configuration measured in its own process: the spec the parent hands to
//! `head2head --child`, the [`Measurement`] printed back as one JSON line (the Python peers
//! print the same), running such a process, and the raw vector files parity reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use titlesim::{BackendKind, TransformerEmbedder};

use crate as tb;

/// What a child measures.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct ChildSpec {
    pub(crate) folder: PathBuf,
    pub(crate) backend: String,
    pub(crate) threads: usize,
    pub(crate) titles_file: PathBuf,
    pub(crate) titles: usize,
    pub(crate) sample: usize,
    pub(crate) latency_titles: usize,
    pub(crate) vectors: PathBuf,
    /// Compute precision for the backend (`BackendOptions::dtype`); `None`: its default.
    #[serde(default)]
    pub(crate) dtype: Option<String>,
}

/// What a child (or a Python peer) reports.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub(crate) struct Measurement {
    pub(crate) load_s: f64,
    pub(crate) n_titles: usize,
    pub(crate) b32_titles_per_s: f64,
    pub(crate) b1_p50_ms: f64,
    pub(crate) b1_p99_ms: f64,
    pub(crate) b1_titles_per_s: f64,
    pub(crate) peak_rss_mb: Option<f64>,
    pub(crate) dim: usize,
    #[serde(default)]
    pub(crate) note: Option<String>,
}

/// The child's side: measures the configuration in `spec` (JSON), writes its vectors and prints
/// its [`Measurement`] as one JSON line on stdout.
pub(crate) fn child(spec: &str) -> Result<()> {
    let s: ChildSpec = serde_json::from_str(spec).context("bad --child spec")?;
    let backend = parse_backend(&s.backend)?;
    let all = tb::load_titles(&s.titles_file, s.titles)?;
    let titles = tb::spread_sample(&all, s.sample);
    let lat = tb::spread_sample(&all, s.latency_titles);
    let (emb, load_s) =
        tb::load_embedder_with(&s.folder, backend, s.threads, 32, s.dtype.as_deref())?;
    // warm-up: one batch and one single title
    let warm: Vec<String> = titles.iter().take(32).cloned().collect();
    emb.embed_blocking(&warm)?;
    emb.embed_blocking(&lat[..1])?;
    let (vecs, b32) = time_batch32(&emb, &titles)?;
    let (ms, b1) = time_batch1(&emb, &lat)?;
    write_vectors(&s.vectors, &vecs)?;
    let m = Measurement {
        load_s,
        n_titles: titles.len(),
        b32_titles_per_s: b32,
        b1_p50_ms: tb::percentile(&ms, 50.0),
        b1_p99_ms: tb::percentile(&ms, 99.0),
        b1_titles_per_s: b1,
        peak_rss_mb: tb::peak_rss_mb(),
        dim: vecs.first().map_or(0, Vec::len),
        note: None,
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

fn parse_backend(name: &str) -> Result<BackendKind> {
    Ok(match name {
        "candle" => BackendKind::Candle,
        "ort" => BackendKind::Ort,
        "tract" => BackendKind::Tract,
        other => bail!("unknown backend {other}"),
    })
}

/// Embeds `titles` in one call (batches of 32): the vectors and the titles per second.
fn time_batch32(emb: &TransformerEmbedder, titles: &[String]) -> Result<(Vec<Vec<f32>>, f64)> {
    let t0 = Instant::now();
    let vecs = emb.embed_blocking(titles)?;
    Ok((vecs, titles.len() as f64 / t0.elapsed().as_secs_f64()))
}

/// Embeds `lat` one title at a time: each call's milliseconds and the titles per second.
fn time_batch1(emb: &TransformerEmbedder, lat: &[String]) -> Result<(Vec<f64>, f64)> {
    let mut ms = Vec::with_capacity(lat.len());
    let t1 = Instant::now();
    for t in lat {
        let t = std::slice::from_ref(t);
        let s0 = Instant::now();
        emb.embed_blocking(t)?;
        ms.push(s0.elapsed().as_secs_f64() * 1e3);
    }
    Ok((ms, lat.len() as f64 / t1.elapsed().as_secs_f64()))
}

/// The parent's side: `head2head --child SPEC` for one configuration.
pub(crate) fn child_command(exe: &Path, spec: &ChildSpec) -> Result<Command> {
    let mut cmd = Command::new(exe);
    cmd.arg("--child").arg(serde_json::to_string(spec)?);
    // tract reads its instruction sets from the environment once per process.
    if let Some(isa) = tb::tract_isa() {
        cmd.env("TRACT_CPU_ISA", isa);
    }
    Ok(cmd)
}

/// Runs a measuring process (a child or a Python peer) and reads the [`Measurement`] on the last
/// JSON line of its stdout; a failed exit reports the last lines of its stderr.
pub(crate) fn run_json(cmd: &mut Command) -> Result<Measurement> {
    let out = cmd
        .stderr(std::process::Stdio::piped())
        .output()
        .context("starting the child process")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        bail!(
            "exit {}: {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| anyhow!("no JSON result on stdout"))?;
    serde_json::from_str(line).with_context(|| format!("parsing child result {line}"))
}

/// Where the vectors of configuration `id` go in `vec_dir`.
pub(crate) fn vectors_file(vec_dir: &Path, id: &str) -> PathBuf {
    vec_dir.join(format!("{}.f32", id.replace(['/', '@'], "_")))
}

/// Writes vectors as little-endian f32, row after row.
pub(crate) fn write_vectors(path: &Path, vecs: &[Vec<f32>]) -> Result<()> {
    let mut buf = Vec::with_capacity(vecs.iter().map(|v| v.len() * 4).sum());
    for v in vecs {
        for x in v {
            buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, buf).with_context(|| format!("writing {}", path.display()))
}

/// Reads what [`write_vectors`] wrote, as rows of `dim` values.
pub(crate) fn read_vectors(path: &Path, dim: usize) -> Result<Vec<Vec<f32>>> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if dim == 0 || b.len() % (4 * dim) != 0 {
        bail!(
            "{}: {} bytes is not a multiple of dim {dim}",
            path.display(),
            b.len()
        );
    }
    Ok(b.chunks_exact(4 * dim)
        .map(|row| {
            row.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_a_wrong_dim_is_refused() {
        let dir = std::env::temp_dir().join(format!("titlesim-h2h-vec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = vectors_file(&dir, "synthetic/bge@ort");
        assert_eq!(path.file_name().unwrap(), "synthetic_bge_ort.f32");
        let v = vec![vec![1.0, -2.5, 0.125], vec![3.0, 0.0, f32::MIN_POSITIVE]];
        write_vectors(&path, &v).unwrap();
        let back = read_vectors(&path, 3);
        let wrong = read_vectors(&path, 4);
        let zero = read_vectors(&path, 0);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.unwrap(), v);
        assert!(wrong.is_err() && zero.is_err());
    }

    #[test]
    fn backends_by_name() {
        assert_eq!(parse_backend("tract").unwrap(), BackendKind::Tract);
        assert!(parse_backend("onnx").is_err());
    }
}
