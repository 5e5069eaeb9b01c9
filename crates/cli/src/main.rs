//! The `titlesim` command line.

mod commands;
mod interrupt;

use clap::{Parser, Subcommand};

/// Score text similarity with sentence embeddings, and swap the embedding model safely.
///
/// A pair (agent's product title, ground-truth title) matches when the cosine of their
/// embeddings is at or above the canonical model's threshold. A candidate model can run in
/// the shadow of the canonical one; its logs calibrate the candidate's threshold before it is
/// promoted.
#[derive(Parser)]
#[command(name = "titlesim", version = &*Box::leak(commands::version_string().into_boxed_str()), propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Embed(commands::embed::Args),
    Score(commands::score::Args),
    Inspect(commands::inspect::Args),
    /// Score pairs with the canonical model while a shadow model is logged beside it.
    Shadow(commands::shadow::Args),
    Replay(commands::replay::Args),
    Sql(commands::sql::Args),
    /// Precompute ground-truth title embeddings into a store (the "GT skip" path).
    Precompute(commands::precompute::Args),
    /// Serve the configured models over HTTP: pair scoring with the shadow log, TEI- and
    /// OpenAI-compatible embeddings, health and metrics.
    Serve(commands::serve::Args),
    /// Calibrate a shadow model's threshold from shadow logs.
    Calibrate(commands::calibrate::Args),
    /// Export disagreements for human review, and tally the verdicts.
    #[command(subcommand)]
    Review(commands::review::ReviewCommand),
    /// Make the calibrated candidate canonical (the old canonical becomes the shadow) and
    /// write the expectation its burn-in must meet.
    ///
    /// `[canonical]` takes the body of `[shadow]` (the candidate) at the chosen threshold and
    /// `[shadow]` the body of `[canonical]` at its own, so the burn-in logs both; comments and
    /// layout are kept, and a provenance comment block goes on top. Refuses (exit 1, naming
    /// each reason) when the threshold leaves a phase below the calibration's floor, when the
    /// calibration was made with another model than the configuration's [shadow] (by
    /// fingerprint) or against another [canonical] model or threshold, when the threshold sits in the far tail of the candidate's cosines or
    /// shifts the pass rate more than 20 points, or when the review finds the candidate
    /// significantly worse; --force promotes anyway and records why.
    Promote(commands::promote::Args),
    /// Judge the logs written after a promotion against its expectation: exit 0 promote to
    /// stable, 1 keep watching, 2 roll back, 3 error.
    ///
    /// Per phase, the new canonical model's pass rate and its agreement with the old model
    /// (the shadow) are compared with the expectation by two-sided two-proportion z-tests
    /// (Bonferroni over all tests). 0: every phase matches, with enough pairs to tell a drift
    /// of --drift at --power. 1: no drift shown yet, too few pairs (says how many are
    /// needed). 2: a phase drifted (names it, the measured and expected values and the
    /// test). 3: an error, never a decision.
    BurnIn(commands::burn_in::Args),
}

/// The exit code of `titlesim burn-in` when it cannot decide (bad input, unreadable files):
/// 1 and 2 are decisions there.
const BURN_IN_ERROR: u8 = 3;

/// The exit code when standard error itself cannot be written (`2>/dev/full`): `eprintln!`
/// panics then, and there is nowhere left to say why. Set before a command runs.
static STDERR_FAILURE_CODE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(1);

/// Turns the panic of a failed print to a standard stream into a plain exit: with the
/// failure code, not a panic's 101 and message.
fn exit_quietly_when_printing_fails() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to std") {
            std::process::exit(i32::from(
                STDERR_FAILURE_CODE.load(std::sync::atomic::Ordering::Relaxed),
            ));
        }
        default(info);
    }));
}

/// A write past a file size limit (`ulimit -f`) fails with EFBIG and is reported like a full
/// disk (records counted as lost, a partial batch rolled back), instead of SIGXFSZ killing the
/// process in the middle of a line with no verdicts written.
fn fail_writes_past_the_file_size_limit() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

fn main() -> std::process::ExitCode {
    exit_quietly_when_printing_fails();
    fail_writes_past_the_file_size_limit();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A usage error of `burn-in` must not exit 2 (its "roll back").
        Err(e) if e.use_stderr() && std::env::args().nth(1).as_deref() == Some("burn-in") => {
            let _ = e.print();
            return std::process::ExitCode::from(BURN_IN_ERROR);
        }
        Err(e) => e.exit(),
    };
    if let Some(hint) = interrupt_hint(&cli.command) {
        interrupt::install(hint);
    }
    let result = match cli.command {
        Command::BurnIn(a) => {
            STDERR_FAILURE_CODE.store(BURN_IN_ERROR, std::sync::atomic::Ordering::Relaxed);
            return match commands::burn_in::run(a) {
                Ok(d) => std::process::ExitCode::from(d.exit_code()),
                // Even a closed pipe: exit 0 would read as "promote to stable".
                Err(e) => {
                    eprintln!("error: {}", render(&e));
                    std::process::ExitCode::from(BURN_IN_ERROR)
                }
            };
        }
        Command::Promote(a) => commands::promote::run(a),
        Command::Embed(a) => commands::embed::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Shadow(a) => commands::shadow::run(a),
        Command::Precompute(a) => commands::precompute::run(a),
        Command::Replay(a) => commands::replay::run(a),
        Command::Sql(a) => commands::sql::run(a),
        Command::Serve(a) => commands::serve::run(a),
        Command::Calibrate(a) => commands::calibrate::run(a),
        Command::Review(c) => commands::review::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`titlesim embed ... | head`): not an error of ours.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", render(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether a command removes its unfinished files when a signal ends it (every one but `serve`,
/// which drains instead), and what it then says to do next.
fn interrupt_hint(command: &Command) -> Option<Option<&'static str>> {
    Some(match command {
        Command::Serve(_) => return None,
        Command::Shadow(_) | Command::Replay(_) => Some(
            "the log keeps every record written before; rerun with --resume to score only the rest",
        ),
        Command::Precompute(_) => {
            Some("rerun precompute: it keeps the titles stored so far and adds the rest")
        }
        _ => None,
    })
}

/// An error and its causes on one line, `: `-separated, leaving out a cause whose text the
/// message already holds (an I/O error that names its path and then has the OS error as its
/// source would otherwise print the OS error twice).
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Whether an error comes from writing to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .map(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .map(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            })
            .or_else(|| {
                c.downcast_ref::<csv::Error>().map(|x| {
                    matches!(x.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
                })
            })
            .unwrap_or(false)
    })
}
