//! The `titlesim` command line.

mod commands;

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
    /// Precompute ground-truth title embeddings into a store (the "GT skip" path).
    Precompute(commands::precompute::Args),
    /// Calibrate a shadow model's threshold from shadow logs.
    Calibrate(commands::calibrate::Args),
    /// Export disagreements for human review, and tally the verdicts.
    #[command(subcommand)]
    Review(commands::review::ReviewCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Embed(a) => commands::embed::run(a),
        Command::Score(a) => commands::score::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Shadow(a) => commands::shadow::run(a),
        Command::Precompute(a) => commands::precompute::run(a),
        Command::Calibrate(a) => commands::calibrate::run(a),
        Command::Review(c) => commands::review::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader went away (`titlesim embed ... | head`): not an error of ours.
        Err(e) if is_broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
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
