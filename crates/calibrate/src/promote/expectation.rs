//! The expectation file: what the burn-in should see, per phase, if the swap behaves as
//! calibration predicted — the new canonical model's pass rate and its agreement with the old
//! model (now the shadow), each with the calibration's counts and a 95% Wilson interval.

use crate::analysis::Share;
use crate::error::{CalibrateError, Result};
use crate::stats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The value of [`Expectation::format`].
pub const EXPECTATION_FORMAT: &str = "titlesim-expectation";
/// The version of the expectation format this build writes and reads.
pub const EXPECTATION_VERSION: u32 = 1;

/// The expectation file written by `titlesim promote` and read by `titlesim burn-in`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Always [`EXPECTATION_FORMAT`].
    pub format: String,
    /// [`EXPECTATION_VERSION`].
    pub version: u32,
    /// When the promotion was made (RFC 3339, UTC).
    pub created: String,
    /// The calibration it comes from.
    pub calibration: Source,
    /// The configuration `titlesim promote` wrote.
    pub promoted_config: String,
    /// The new canonical model (the calibrated candidate).
    pub canonical: Side,
    /// The new shadow model (the previous canonical one).
    pub shadow: Side,
    /// The confidence of the intervals (0.95).
    pub confidence: f64,
    /// Per phase, by name.
    #[serde(deserialize_with = "super::doc::unique_keys")]
    pub phases: BTreeMap<String, PhaseExpectation>,
    /// The refusals `--force` overrode (empty when none).
    pub forced: Vec<String>,
}

/// Where an expectation comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The calibration file as given.
    pub file: String,
    /// Its sha256.
    pub sha256: String,
}

/// One model of the promoted configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Side {
    /// The model as configured.
    pub model: String,
    /// Its backend.
    pub backend: String,
    /// The fingerprint its burn-in records must carry (`null`: not checked).
    pub fingerprint: Option<String>,
    /// Its threshold.
    pub threshold: f64,
}

/// What calibration predicts for one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseExpectation {
    /// The calibration's pairs in this phase.
    pub pairs: u64,
    /// The new canonical model's pass rate.
    pub pass_rate: Expected,
    /// The share of pairs where the new canonical and the old model (now shadow) agree.
    pub agreement: Expected,
}

/// An expected share: the calibration's counts, the share and its 95% Wilson interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// `k / n`.
    pub share: f64,
    /// Pairs counted (passed, agreed) in calibration.
    pub k: u64,
    /// Pairs in calibration.
    pub n: u64,
    /// The 95% Wilson interval of the share.
    pub interval: [f64; 2],
}

impl Expected {
    /// The expectation of a calibration share (`n > 0`).
    pub fn of(s: Share) -> Self {
        let (lo, hi) = stats::wilson_95(s.k, s.n).unwrap_or((0.0, 1.0));
        Expected {
            share: s.value().unwrap_or(0.0),
            k: s.k,
            n: s.n,
            interval: [lo, hi],
        }
    }
}

impl Expectation {
    /// Reads an expectation file; errors name the file and the field.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = super::doc::read_doc(path, "an expectation file")?;
        let mut e: Expectation = serde_json::from_slice(&bytes).map_err(|e| {
            CalibrateError::input(
                path,
                format!("not an expectation file (`titlesim promote --expectation`): {e}"),
            )
        })?;
        if e.format != EXPECTATION_FORMAT || e.version != EXPECTATION_VERSION {
            return Err(CalibrateError::input(
                path,
                format!(
                    "format `{}` version {} (this build reads `{EXPECTATION_FORMAT}` version {EXPECTATION_VERSION})",
                    e.format, e.version
                ),
            ));
        }
        // The intervals are recomputed at 95% below; another value would be shown and not used.
        if e.confidence != 0.95 {
            return Err(CalibrateError::input(
                path,
                format!(
                    "confidence: {}: an expectation's intervals are 95% (0.95), as promote \
                     writes them; the burn-in's tests take --alpha",
                    e.confidence
                ),
            ));
        }
        for (name, p) in e.phases.iter_mut() {
            for (m, x) in [
                ("pass_rate", &mut p.pass_rate),
                ("agreement", &mut p.agreement),
            ] {
                if x.n == 0 || x.k > x.n {
                    return Err(CalibrateError::input(
                        path,
                        format!(
                            "phases.{name}.{m}: k = {} of n = {} is not a share",
                            x.k, x.n
                        ),
                    ));
                }
                // The counts are the truth: the decimal read back may be an ulp off, and a
                // hand edit of k or n left the written share and interval disagreeing with
                // them ("100.0% (95% interval 99.4%-99.9%)").
                *x = Expected::of(Share { k: x.k, n: x.n });
            }
        }
        if e.phases.is_empty() {
            return Err(CalibrateError::input(
                path,
                "no phase to expect anything of",
            ));
        }
        Ok(e)
    }

    /// The document as pretty JSON with a final newline.
    pub fn to_json_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("an expectation serialises");
        s.push('\n');
        s
    }
}
