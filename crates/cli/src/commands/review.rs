//! (being written)

/// Review subcommands.
#[derive(clap::Subcommand)]
pub enum ReviewCommand {
    /// Export disagreements.
    Export,
    /// Tally verdicts.
    Tally,
}

/// Runs the command.
pub fn run(_c: ReviewCommand) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
