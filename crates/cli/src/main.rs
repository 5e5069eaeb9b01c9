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
    /// Embed texts and print one JSON line per text: {"text": ..., "embedding": [...]}.
    Embed(commands::embed::Args),
    /// Score product/GT pairs with the canonical model of a config file.
    Score(commands::score::Args),
    /// Show what a model name resolves to: files, architecture, pooling, fingerprint.
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
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
