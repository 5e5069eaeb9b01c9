//! `titlesim burn-in`: the logs written after a promotion against its expectation — promote
//! to stable (exit 0), keep watching (exit 1) or roll back (exit 2). Errors exit 3, so a
//! deployment script never mistakes a bad input for a decision.

use std::path::PathBuf;
use titlesim_calibrate::burnin::{self, BurnInOptions, Decision};
use titlesim_calibrate::promote::Expectation;
use titlesim_calibrate::ReportOptions;

/// Arguments of `titlesim burn-in`.
///
/// The command's help is the doc comment of its `Command` variant in `main.rs`.
#[derive(clap::Args)]
pub struct Args {
    /// The expectation written by `titlesim promote`.
    #[arg(long, value_name = "FILE")]
    pub expect: PathBuf,
    /// Shadow logs written by the promoted configuration (JSONL).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Family-wise significance level of the drift tests, split evenly over them.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.05)]
    pub alpha: f64,
    /// Power the burn-in must reach to tell a drift before it can promote to stable.
    #[arg(long, value_name = "POWER", default_value_t = 0.8)]
    pub power: f64,
    /// The drift to be able to tell, as an absolute share (0.10 = 10 points).
    #[arg(long, value_name = "SHARE", default_value_t = 0.10)]
    pub drift: f64,
    /// Print one JSON document (keys `decision`, `exit_code`, `phases`, ...) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write pass_rate.svg / .png (the pass rate over time against the expected band)
    /// and burn_in.json into this folder.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,
}

/// Runs `titlesim burn-in`: the decision, or an error.
pub fn run(args: Args) -> anyhow::Result<Decision> {
    let exp = Expectation::read(&args.expect)?;
    let opts = BurnInOptions {
        alpha: args.alpha,
        power: args.power,
        drift: args.drift,
    };
    let b = burnin::burn_in_logs(&exp, &args.logs, &opts)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&b.to_json())?)?;
    } else {
        out!("{}", b.render_text())?;
    }
    if let Some(dir) = &args.report {
        // The decision is made and printed: a report that cannot be written must not turn its
        // exit code (what deployment scripts act on) into an error's.
        match burnin::write_plot(&b, dir, &ReportOptions::default()) {
            Ok(files) => eprintln!("report: {} files in {}", files.len(), dir.display()),
            Err(e) => eprintln!(
                "warning: the report was not written into {}: {e}; the decision above stands",
                dir.display()
            ),
        }
    }
    Ok(b.decision)
}
