//! `titlesim promote`: the candidate becomes canonical at its calibrated threshold (the old
//! canonical model becomes the shadow for the burn-in), with the expectation the burn-in
//! checks. The library does the work (`titlesim_calibrate::promote`); this reads the files,
//! computes the configuration's shadow fingerprint and writes the results.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use titlesim::Embedder;
use titlesim_calibrate::promote::{self, PromoteOptions};
use titlesim_calibrate::review::{self, TallyOptions};
use titlesim_calibrate::Threshold;

/// Arguments of `titlesim promote`.
///
/// The command's help is the doc comment of its `Command` variant in `main.rs`.
#[derive(clap::Args)]
pub struct Args {
    /// The configuration in force (with the candidate in [shadow]).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The calibration document of the candidate (`titlesim calibrate --json`, or
    /// calibration.json of a report folder).
    #[arg(long, value_name = "FILE")]
    pub calibration: PathBuf,
    /// The candidate's new threshold; it must be a point of the calibration's grid
    /// [default: the calibration's compromise].
    #[arg(long, value_name = "t")]
    pub threshold: Option<String>,
    /// A review file with its verdicts (`titlesim review export`, filled in): refused when
    /// its sign test finds the candidate significantly worse; its tally goes in the provenance.
    #[arg(long, value_name = "REVIEW_CSV")]
    pub review: Option<PathBuf>,
    /// Where to write the promoted configuration (may be the --config file itself; not the
    /// --calibration or --review file).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where to write the expectation for `titlesim burn-in`, not --out nor an input file
    /// [default: beside --out, named after it: promoted.toml -> promoted.expectation.json].
    #[arg(long, value_name = "FILE")]
    pub expectation: Option<PathBuf>,
    /// Set `[shadow_options] log` to this new file for the burn-in (the old log holds records
    /// of the other canonical model).
    #[arg(long, value_name = "FILE")]
    pub log: Option<String>,
    /// Promote even when a check refuses; the reasons are recorded in the provenance block
    /// and the expectation.
    #[arg(long)]
    pub force: bool,
}

/// The default expectation path: `DIR/promoted.toml` -> `DIR/promoted.expectation.json`.
fn default_expectation(out: &Path) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "promoted".into());
    out.with_file_name(format!("{stem}.expectation.json"))
}

/// The fingerprint of the configuration's `[table]` model, loaded to compute it, when the
/// calibration recorded one to compare it with (`wanted`). With --force a model that does not
/// load here leaves it unknown, which the check then records as overridden.
fn fingerprint(
    cfg: &titlesim::ModelConfig,
    table: &str,
    wanted: bool,
    args: &Args,
) -> anyhow::Result<Option<String>> {
    if !wanted {
        return Ok(None);
    }
    match titlesim::load_embedder(cfg) {
        Ok(e) => Ok(Some(e.info().fingerprint.clone())),
        Err(e) if args.force => {
            eprintln!(
                "warning: the [{table}] model {} does not load here ({e}); its fingerprint is unknown",
                cfg.model
            );
            Ok(None)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "config {}: loading the [{table}] model {} to check the calibration's fingerprint (--force promotes without the check)",
            args.config.display(),
            cfg.model
        ))),
    }
}

/// Runs `titlesim promote`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let expectation_path = args
        .expectation
        .clone()
        .unwrap_or_else(|| default_expectation(&args.out));
    // Targets that are folders, the same file twice, or an input: refused before minutes of
    // model loading, and before anything is written.
    let files = promote::PromotionFiles {
        config: &args.config,
        calibration: &args.calibration,
        review: args.review.as_deref(),
        out: &args.out,
        expectation: &expectation_path,
    };
    promote::check_files(&files)?;
    // Held until the promotion is written: a second promotion of the file waits for nobody
    // and is refused, instead of dropping this one with its rename.
    let locked = promote::read_config_locked(&args.config)?;
    let text = &locked.text;
    let config = titlesim::Config::parse(text, Some(&args.config))?;
    let Some(shadow) = &config.shadow else {
        bail!(
            "{}: no [shadow] table: there is no candidate to promote",
            args.config.display()
        );
    };
    let cal = promote::read_calibration(&args.calibration)?;
    // The logs' fingerprints are in the calibration; the configuration's models need loading
    // (one at a time, only when there is something to compare with).
    let models = &cal.doc.models;
    let shadow_fingerprint = fingerprint(
        shadow,
        "shadow",
        models.shadow_fingerprints.is_some(),
        &args,
    )?;
    let canonical_fingerprint = fingerprint(
        &config.canonical,
        "canonical",
        models.canonical_fingerprints.is_some(),
        &args,
    )?;
    let review = args
        .review
        .as_deref()
        .map(|p| review::tally(p, &TallyOptions::default()))
        .transpose()?;
    let opts = PromoteOptions {
        threshold: args
            .threshold
            .as_deref()
            .map(Threshold::parse)
            .transpose()
            .context("--threshold")?,
        shadow_fingerprint,
        canonical_fingerprint,
        review,
        force: args.force,
        log: args.log.clone(),
        created: titlesim_log::time::now_rfc3339(),
        out: args.out.display().to_string(),
        expectation: expectation_path.display().to_string(),
    };
    let p = promote::promote(text, &args.config, &cal, &opts)?;
    // The promoted file must read back as a configuration before anything is written.
    let promoted = titlesim::Config::parse(&p.config, Some(&args.out))
        .context("the promoted configuration does not read back (this is a bug)")?;
    // Both files are written whole beside their targets first, then renamed into place: the
    // expectation, then the configuration (and when that fails, the expectation in force is put
    // back). A failure on the way (a full disk, a folder that cannot be written) leaves the old
    // configuration and expectation as they were, never a cut configuration (`--out` may be
    // `--config` itself) or a new configuration beside the previous promotion's expectation,
    // which burn-in would judge it against.
    promote::write_promotion(&p, &files).context("the promotion was not written")?;
    // Relative paths of a configuration are taken from its own folder.
    let folder = |p: &Path| {
        std::path::absolute(p)
            .ok()
            .and_then(|a| a.parent().map(Path::to_path_buf))
    };
    if folder(&args.out) != folder(&args.config) {
        eprintln!(
            "note: {} is not in the folder of {}: relative paths in it (model, gt_store, log) are now taken from its own folder",
            args.out.display(),
            args.config.display()
        );
    }
    // The burn-in log must start empty: serve, Python and shadow refuse to add the swapped
    // models' records to a log of the models before the swap.
    if let Some(log) = &promoted.shadow_options.log {
        if std::fs::metadata(log).is_ok_and(|m| m.len() > 0) {
            eprintln!(
                "warning: the burn-in log {} already holds records (of the models before the swap, or of an earlier run): serve, the Python Scorer and `titlesim shadow` will refuse to add the promoted models' records to it; promote again with --log NEW, or point [shadow_options] log at a new file before deploying",
                log.display()
            );
        }
    }
    for r in &p.overridden {
        eprintln!("warning: forced past {r}");
    }
    for n in &p.notes {
        eprintln!("note: {n}");
    }
    let e = &p.expectation;
    outln!(
        "promoted {} ({}) to canonical at {} ; {} ({}) is the shadow at {}",
        e.canonical.model,
        e.canonical.backend,
        p.threshold,
        e.shadow.model,
        e.shadow.backend,
        e.shadow.threshold
    )?;
    for (name, ph) in &e.phases {
        outln!(
            "  phase {name}: expect pass rate {:.1}% ({:.1}%–{:.1}%), agreement with the old model {:.1}% ({:.1}%–{:.1}%)",
            ph.pass_rate.share * 100.0,
            ph.pass_rate.interval[0] * 100.0,
            ph.pass_rate.interval[1] * 100.0,
            ph.agreement.share * 100.0,
            ph.agreement.interval[0] * 100.0,
            ph.agreement.interval[1] * 100.0
        )?;
    }
    outln!(
        "wrote {} and {}; deploy it to staging, then run `titlesim burn-in --expect {} LOG...`",
        args.out.display(),
        expectation_path.display(),
        expectation_path.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectation_lies_beside_out() {
        assert_eq!(
            default_expectation(Path::new("conf/promoted.toml")),
            PathBuf::from("conf/promoted.expectation.json")
        );
    }
}
