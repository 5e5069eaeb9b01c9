//! Load benchmark of `titlesim serve`, loopback only and bounded in count and time: clients
//! sending one pair per request at 1, 8 and 32 at once, with the batching queue on (the
//! defaults) and off (`max_batch_items = 1`), beside the same scorer in process at batch 32
//! (what `titlesim score` runs) and batch 1, all in one run.
//!
//! ```sh
//! cargo run --release -p titlesim-bench --bin serve_load -- --pairs 512
//! ```
//!
//! Targets (issue 16): 32 concurrent single-pair clients reach ≥ 80% of the in-process batch-32
//! pairs/s; one client's p50 latency is within 1.3× of the in-process batch-1 latency.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use titlesim::{Config, Pair, Scorer};
use titlesim_bench::{cpu_info, default_titles_path, load_titles, median, models_dir, percentile};

#[derive(Debug, Parser)]
#[command(about = "Load benchmark of titlesim serve (loopback, bounded)")]
struct Args {
    /// Model folder [default: models/all-MiniLM-L6-v2].
    #[arg(long)]
    model: Option<PathBuf>,
    /// Backend.
    #[arg(long, default_value = "candle")]
    backend: String,
    /// Compute threads of the model.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Pairs per measurement (each client level sends this many, one per request).
    #[arg(long, default_value_t = 512)]
    pairs: usize,
    /// Client counts.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Longest one measurement may take, in seconds (it stops early, counting what finished).
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
}

fn config(args: &Args, model: &std::path::Path, serve: &str) -> Result<Config> {
    Ok(Config::parse(
        &format!(
            "[canonical]\nmodel = {:?}\nbackend = {:?}\nthreshold = 0.7\nthreads = {}\n\n[serve]\naddr = \"127.0.0.1:0\"\n{serve}\n",
            model.display().to_string(),
            args.backend,
            args.threads
        ),
        None,
    )?)
}

/// One `POST /score` of one pair; the seconds it took.
fn post(port: u16, body: &[u8]) -> Result<f64> {
    let t0 = Instant::now();
    let mut c = TcpStream::connect(("127.0.0.1", port))?;
    c.set_nodelay(true)?;
    write!(
        c,
        "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    c.write_all(body)?;
    let mut out = Vec::new();
    c.read_to_end(&mut out)?;
    if !out.starts_with(b"HTTP/1.1 200") {
        bail!("{}", String::from_utf8_lossy(&out));
    }
    Ok(t0.elapsed().as_secs_f64())
}

struct Level {
    clients: usize,
    pairs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn load(port: u16, bodies: &Arc<Vec<Vec<u8>>>, clients: usize, max: Duration) -> Result<Level> {
    let t0 = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let bodies = bodies.clone();
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut lat = Vec::new();
                for b in bodies.iter().skip(c).step_by(clients) {
                    if t0.elapsed() > max {
                        break;
                    }
                    lat.push(post(port, b)?);
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().expect("a client thread")?);
    }
    let secs = t0.elapsed().as_secs_f64();
    Ok(Level {
        clients,
        pairs_per_s: lat.len() as f64 / secs,
        p50_ms: median(&lat) * 1e3,
        p99_ms: percentile(&lat, 99.0) * 1e3,
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| models_dir().join("all-MiniLM-L6-v2"));
    let cpu = cpu_info();
    println!("CPU: {}", cpu.line());
    if let Some(w) = cpu.warning() {
        println!("{w}");
    }
    println!(
        "model {} on {}, {} threads, {} pairs per measurement\n",
        model.display(),
        args.backend,
        args.threads,
        args.pairs
    );
    let titles = load_titles(&default_titles_path(), args.pairs + 1)?;
    let pairs: Vec<Pair> = (0..args.pairs)
        .map(|i| {
            Pair::new(
                format!("p{i}"),
                titles[i % titles.len()].clone(),
                titles[(i + 1) % titles.len()].clone(),
            )
        })
        .collect();
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        pairs
            .iter()
            .map(|p| {
                serde_json::to_vec(&serde_json::json!({"pairs": [
                    {"id": p.id, "product": p.product, "gt": p.gt}
                ]}))
                .expect("JSON")
            })
            .collect(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // In process: the scorer `titlesim score` runs, at batch 32 and batch 1.
    let cfg = config(&args, &model, "")?;
    let (scorer, _) = titlesim::load_scorer(&cfg.canonical).context("loading the model")?;
    rt.block_on(scorer.score_batch(&pairs[..32.min(pairs.len())]))?;
    let t0 = Instant::now();
    for chunk in pairs.chunks(32) {
        rt.block_on(scorer.score_batch(chunk))?;
    }
    let batch32 = pairs.len() as f64 / t0.elapsed().as_secs_f64();
    let mut one = Vec::new();
    for p in &pairs {
        let t = Instant::now();
        rt.block_on(scorer.score_batch(std::slice::from_ref(p)))?;
        one.push(t.elapsed().as_secs_f64());
    }
    let batch1_p50 = median(&one) * 1e3;
    drop(scorer);
    println!("in process, batch 32: {batch32:.1} pairs/s; batch 1: p50 {batch1_p50:.2} ms\n");

    println!("| queue | clients | pairs/s | p50 ms | p99 ms |\n|---|---|---|---|---|");
    let mut queue_on = Vec::new();
    for (mode, serve) in [("on", ""), ("off", "max_batch_items = 1")] {
        let cfg = config(&args, &model, serve)?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let port = listener.local_addr()?.port();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(titlesim_serve::serve(
            cfg,
            listener,
            async {
                let _ = stop_rx.await;
            },
            std::future::pending(),
            Arc::new(|_m: &str| {}),
        ));
        let t0 = Instant::now();
        while post(port, &bodies[0]).is_err() {
            if t0.elapsed() > Duration::from_secs(120) {
                bail!("the service did not come up");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        for &c in &args.clients {
            let l = load(port, &bodies, c, Duration::from_secs(args.max_seconds))?;
            println!(
                "| {mode} | {} | {:.1} | {:.2} | {:.2} |",
                l.clients, l.pairs_per_s, l.p50_ms, l.p99_ms
            );
            if mode == "on" {
                queue_on.push(l);
            }
        }
        let _ = stop_tx.send(());
        rt.block_on(server)??;
    }
    println!();
    if let Some(l) = queue_on.iter().find(|l| l.clients == 32) {
        let r = l.pairs_per_s / batch32;
        println!(
            "32 clients / in-process batch 32: {:.2} (target >= 0.80: {})",
            r,
            if r >= 0.8 { "met" } else { "not met" }
        );
    }
    if let Some(l) = queue_on.iter().find(|l| l.clients == 1) {
        let r = l.p50_ms / batch1_p50;
        println!(
            "1 client p50 / in-process batch 1 p50: {:.2} (target <= 1.30: {})",
            r,
            if r <= 1.3 { "met" } else { "not met" }
        );
    }
    Ok(())
}
