//! `titlesim serve`: the configured models as a local HTTP service (crates/serve).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use titlesim::Config;

use super::shared::runtime;

/// Serve the configured models over HTTP until Ctrl-C or SIGTERM.
///
/// Endpoints: POST /score (canonical verdicts on pairs, the shadow logged beside them exactly
/// as `titlesim shadow` logs it, the GT store used), POST /embed and POST /similarity
/// (text-embeddings-inference's shapes), POST /v1/embeddings (OpenAI's shape), GET /health
/// (503 while the models load), GET /info, GET /metrics (Prometheus). Concurrent requests are
/// merged into backend batches under the [serve] table's limits; a client has [serve]
/// read_timeout_ms to send a request's headers, and as long again for its body. The first line
/// on standard error says where it listens; on Ctrl-C or SIGTERM it says it is stopping, stops
/// accepting, answers every request it accepted, flushes the shadow log and exits. A second
/// Ctrl-C or SIGTERM closes the connections still open and exits with an error once the
/// records of every answered pair are written.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Configuration file (TOML): [canonical], optionally [shadow] with [shadow_options] log,
    /// and [serve] for the limits.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,

    /// Address to listen on, HOST:PORT (port 0 picks a free one) [default: [serve] addr, else
    /// 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let mut config = Config::from_file(&args.config)?;
    // Where the address came from, for an address that cannot be listened on.
    let addr_from = match &args.addr {
        Some(_) => "--addr".to_string(),
        None if config.serve.addr == titlesim::config::ServeOptions::default().addr => {
            "the default address (no [serve] addr, no --addr)".to_string()
        }
        None => format!("config {}: [serve] addr", args.config.display()),
    };
    if let Some(a) = args.addr {
        config.serve.addr = a;
    }
    let rt = runtime()?;
    let result = rt.block_on(async {
        let addr = config.serve.addr.clone();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("{addr_from}: cannot listen on {addr}"))?;
        let local = listener.local_addr().context("the listening address")?;
        say(&format!(
            "titlesim serve: listening on http://{local} (Ctrl-C or SIGTERM stops it)"
        ));
        // Not eprintln!: a terminal closed under the service (an ssh session ended) or a
        // `| tee` gone makes writes to standard error fail, and eprintln!'s panic would end
        // the service at its next note (a log reopened, the `stopping:` of a SIGTERM) without
        // draining it: answered pairs would get no shadow record.
        let notify: titlesim_serve::Notify = Arc::new(|m: &str| say(m));
        let (shutdown, force) = titlesim_serve::shutdown_signals();
        let report = titlesim_serve::serve(config, listener, shutdown, force, notify)
            .await
            .map_err(|e| match e {
                // Said as the other commands say it: the file first.
                e @ titlesim_serve::Error::Load { .. } => {
                    anyhow::Error::new(e).context(format!("config {}", args.config.display()))
                }
                e => e.into(),
            })?;
        match report.shadow {
            Some(r) => {
                let written: Vec<String> = r
                    .sinks
                    .iter()
                    .map(|s| {
                        let again = match s.reopened {
                            0 => String::new(),
                            1 => " (opened again once at its path)".into(),
                            n => format!(" (opened again {n} times at its path)"),
                        };
                        format!("{} {}{again}", s.records_written, s.name)
                    })
                    .collect();
                say(&format!(
                    "stopped: {} pairs scored; shadow records written: {}",
                    r.tally.total.pairs,
                    written.join(", ")
                ));
                if let Some(lost) = titlesim_shadow::lost_records(&r.sinks) {
                    anyhow::bail!("shadow records lost: {lost}");
                }
            }
            None => say("stopped"),
        }
        anyhow::ensure!(
            !report.forced,
            "stopped by a second signal: {} closed without an answer",
            titlesim_serve::count(report.dropped_connections, "open connection")
        );
        Ok(())
    });
    // The records of every answered pair are written by now. A model call still running on a
    // blocking thread (a shadow batch a forced stop stopped waiting for, a model still
    // loading) must not hold the exit: dropping the runtime would wait for it without limit.
    rt.shutdown_background();
    result
}

/// A line on standard error, or nothing when it cannot be written: the service goes on, and
/// ends as it would have, whether anyone still reads its notes or not.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
