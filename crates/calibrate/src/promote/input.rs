//! The calibration document `titlesim promote` reads: the `--json` output of `titlesim
//! calibrate` (the fields promotion needs), with the file's sha256 for the provenance.

use crate::analysis::Share;
use crate::error::{CalibrateError, Result};
use crate::grid::Threshold;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A calibration file, read.
#[derive(Debug, Clone)]
pub struct CalibrationFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The sha256 of its bytes, in hex.
    pub sha256: String,
    /// The document.
    pub doc: CalibrationDoc,
}

/// The fields of the calibration document that promotion uses.
#[derive(Debug, Clone, Deserialize)]
pub struct CalibrationDoc {
    /// Per-phase statistics, by phase name.
    #[serde(deserialize_with = "super::doc::unique_keys")]
    pub phases: BTreeMap<String, PhaseDoc>,
    /// All pairs pooled.
    pub pooled: PhaseDoc,
    /// The compromise threshold and the ranges that keep every phase at the floor.
    pub compromise: CompromiseDoc,
    /// The canonical threshold T of the calibration.
    pub canonical_threshold: ValueDoc,
    /// The agreement floor.
    pub floor: f64,
    /// The models seen in the logs.
    pub models: ModelsDoc,
}

/// One phase (or the pooled scope).
#[derive(Debug, Clone, Deserialize)]
pub struct PhaseDoc {
    /// Usable pairs.
    pub n: u64,
    /// `[t, agreement]` at every grid point.
    pub agreement: Vec<(f64, Option<f64>)>,
    /// `[t, shadow pass rate]` at every grid point (calibrations before `titlesim promote`
    /// existed lack it).
    #[serde(default)]
    pub shadow_pass_rate: Option<Vec<(f64, Option<f64>)>>,
    /// The canonical cosines.
    pub canonical: DistributionDoc,
    /// The shadow cosines.
    pub shadow: DistributionDoc,
}

/// A cosine distribution.
#[derive(Debug, Clone, Deserialize)]
pub struct DistributionDoc {
    /// Mean.
    pub mean: Option<f64>,
    /// `p1`, `p5`, ... → value.
    #[serde(deserialize_with = "super::doc::unique_keys")]
    pub percentiles: BTreeMap<String, Option<f64>>,
    /// The pass rate at the threshold in force (for the canonical side, at T).
    pub pass_rate: Option<f64>,
}

/// The compromise.
#[derive(Debug, Clone, Deserialize)]
pub struct CompromiseDoc {
    /// The compromise threshold (null without pairs).
    pub threshold: Option<f64>,
    /// Every grid range `[lo, hi]` where every phase keeps the floor.
    pub feasible_ranges: Vec<(f64, f64)>,
}

/// `{"value": ...}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ValueDoc {
    /// The value.
    pub value: f64,
}

/// The models of the logs.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelsDoc {
    /// `model (backend)` of the canonical side.
    pub canonical: Vec<String>,
    /// `model (backend)` of the shadow side.
    pub shadow: Vec<String>,
    /// Fingerprints of the canonical side (absent in calibrations before `titlesim promote`).
    #[serde(default)]
    pub canonical_fingerprints: Option<Vec<String>>,
    /// Fingerprints of the shadow side.
    #[serde(default)]
    pub shadow_fingerprints: Option<Vec<String>>,
}

/// Reads a calibration document (`titlesim calibrate --json`, or `calibration.json` of a
/// report folder). Errors name the file and, for a bad document, the line, column and field.
pub fn read_calibration(path: &Path) -> Result<CalibrationFile> {
    let bytes = super::doc::read_doc(path, "a calibration document")?;
    let doc: CalibrationDoc = serde_json::from_slice(&bytes).map_err(|e| {
        CalibrateError::input(
            path,
            format!("not a calibration document (`titlesim calibrate --json`): {e}"),
        )
    })?;
    for (name, p) in doc
        .phases
        .iter()
        .chain([(&"(pooled)".to_string(), &doc.pooled)])
    {
        match &p.shadow_pass_rate {
            None => {
                return Err(CalibrateError::input(
                    path,
                    format!("phase {name}: no `shadow_pass_rate` (the file predates `titlesim promote`: run `titlesim calibrate --json` again on the same logs)"),
                ))
            }
            Some(v) if v.len() != p.agreement.len() => {
                return Err(CalibrateError::input(
                    path,
                    format!(
                        "phase {name}: `shadow_pass_rate` has {} points, `agreement` {}",
                        v.len(),
                        p.agreement.len()
                    ),
                ))
            }
            Some(_) => {}
        }
        // Every phase is read at the pooled grid's index of the threshold, so every series
        // must lie on the pooled grid; and a share is a fraction (`share` would clamp 1.7 to
        // 100% without a word).
        let pooled_grid = grid_of(&doc.pooled.agreement);
        let mut series = vec![("agreement", &p.agreement)];
        series.extend(p.shadow_pass_rate.iter().map(|v| ("shadow_pass_rate", v)));
        for (field, v) in series {
            if grid_of(v) != pooled_grid {
                return Err(CalibrateError::input(
                    path,
                    format!(
                        "phase {name}: `{field}` is on another grid than the pooled `agreement` \
                         (an edited file?): run `titlesim calibrate --json` again"
                    ),
                ));
            }
            for (t, x) in v.iter().filter_map(|(t, x)| x.map(|x| (t, x))) {
                if let Some(why) = not_a_share(x) {
                    return Err(CalibrateError::input(
                        path,
                        format!("phase {name}: `{field}` at {t}: {why}"),
                    ));
                }
            }
        }
        if let Some(why) = p.canonical.pass_rate.and_then(not_a_share) {
            return Err(CalibrateError::input(
                path,
                format!("phase {name}: `canonical.pass_rate`: {why}"),
            ));
        }
    }
    Ok(CalibrationFile {
        path: path.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        doc,
    })
}

impl PhaseDoc {
    /// The grid index of `t` (a grid point's decimal), if `t` is on the grid.
    pub fn grid_index(&self, t: &Threshold) -> Option<usize> {
        let d = t.decimal();
        self.agreement
            .iter()
            .position(|(g, _)| (g - d).abs() <= 1e-9)
    }

    /// The agreement at grid index `i`, as counts.
    pub fn agreement_at(&self, i: usize) -> Option<Share> {
        self.agreement
            .get(i)
            .and_then(|(_, v)| *v)
            .map(|v| share(v, self.n))
    }

    /// The shadow pass rate at grid index `i`, as counts.
    pub fn shadow_pass_at(&self, i: usize) -> Option<Share> {
        self.shadow_pass_rate
            .as_ref()
            .and_then(|v| v.get(i))
            .and_then(|(_, v)| *v)
            .map(|v| share(v, self.n))
    }

    /// The canonical pass rate at T, as counts.
    pub fn canonical_pass(&self) -> Option<Share> {
        self.canonical.pass_rate.map(|v| share(v, self.n))
    }
}

/// The grid of a series of `[t, value]` points.
fn grid_of(v: &[(f64, Option<f64>)]) -> Vec<f64> {
    v.iter().map(|(t, _)| *t).collect()
}

/// Why `x` is not a share, if it is not one.
fn not_a_share(x: f64) -> Option<String> {
    (!(0.0..=1.0).contains(&x)).then(|| format!("{x} is not a share between 0 and 1"))
}

/// A share written as a fraction of `n`, back to counts (the fraction is `k / n` to within
/// one ulp, so rounding recovers `k` exactly).
fn share(v: f64, n: u64) -> Share {
    Share {
        k: (v * n as f64).round().clamp(0.0, n as f64) as u64,
        n,
    }
}
