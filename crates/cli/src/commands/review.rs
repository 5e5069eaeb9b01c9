//! `titlesim review export|tally`: the disagreements at chosen thresholds, out to people and
//! back as a computed verdict.

use anyhow::Context;
use std::path::PathBuf;
use titlesim_calibrate::review::{self, ExportOptions, Sample, TallyOptions};
use titlesim_calibrate::Threshold;

/// Review subcommands.
#[derive(clap::Subcommand)]
pub enum ReviewCommand {
    /// Export the pairs where the two models disagree, for people to judge.
    ///
    /// Writes a CSV with both cosines, both verdicts, the titles, the phase, the direction of
    /// the disagreement and an empty `verdict` column to fill with canonical, shadow, both or
    /// neither (who was right).
    Export(ExportArgs),
    /// Tally the verdicts of a review file and test canonical-right against shadow-right.
    ///
    /// Empty verdicts are counted as "not yet reviewed" and left out of the tally (or refused
    /// with --require-complete); any other unknown value is an error naming the file and line.
    Tally(TallyArgs),
}

/// Arguments of `titlesim review export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// A shadow log (repeat for several).
    #[arg(long = "log", value_name = "FILE", required = true)]
    pub logs: Vec<PathBuf>,
    /// The shadow threshold t under review (e.g. the compromise of `titlesim calibrate`).
    #[arg(long, value_name = "t")]
    pub shadow_threshold: String,
    /// The canonical threshold T [default: the one in the logs].
    #[arg(long, value_name = "T")]
    pub canon_threshold: Option<String>,
    /// Export a sample of N disagreements, stratified by phase and direction.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// The sample's random seed (the same seed gives the same sample).
    #[arg(long, value_name = "S", default_value_t = 0, requires = "sample")]
    pub seed: u64,
    /// The CSV file to write.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Overwrite `--out` if it exists (it may hold someone's verdicts).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `titlesim review tally`.
#[derive(clap::Args)]
pub struct TallyArgs {
    /// The review file (from `titlesim review export`, with the `verdict` column filled).
    #[arg(value_name = "REVIEW_CSV")]
    pub file: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Fail on rows not yet reviewed instead of counting them apart.
    #[arg(long)]
    pub require_complete: bool,
}

/// Runs `titlesim review ...`.
pub fn run(c: ReviewCommand) -> anyhow::Result<()> {
    match c {
        ReviewCommand::Export(a) => export(a),
        ReviewCommand::Tally(a) => tally(a),
    }
}

fn export(a: ExportArgs) -> anyhow::Result<()> {
    review::refuse_log_as_out(&a.out, &a.logs).context("--out")?;
    if a.out.exists() && !a.force {
        anyhow::bail!(
            "{} exists (it may hold verdicts); choose another --out or pass --force",
            a.out.display()
        );
    }
    let opts = ExportOptions {
        canon_threshold: a
            .canon_threshold
            .as_deref()
            .map(Threshold::parse)
            .transpose()
            .context("--canon-threshold")?,
        shadow_threshold: Threshold::parse(&a.shadow_threshold).context("--shadow-threshold")?,
        sample: a.sample.map(|n| Sample { n, seed: a.seed }),
    };
    let e = review::export_logs(&a.logs, &opts)?;
    review::write_csv(&e, &a.out)?;
    out!("{}", e.summary())?;
    for s in e.skipped.iter().take(5) {
        eprintln!(
            "note: skipped {}:{}: {}",
            s.path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            s.line,
            s.reason
        );
    }
    outln!(
        "wrote {} (fill the `verdict` column with canonical, shadow, both or neither; then run `titlesim review tally {}`)",
        a.out.display(),
        a.out.display()
    )?;
    Ok(())
}

fn tally(a: TallyArgs) -> anyhow::Result<()> {
    let t = review::tally(
        &a.file,
        &TallyOptions {
            require_complete: a.require_complete,
        },
    )?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&t.to_json())?)?;
    } else {
        out!("{}", t.render_text())?;
    }
    Ok(())
}
