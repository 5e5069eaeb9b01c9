//! From shadow records to a [`Calibration`]: pairs, per-phase statistics, agreement curves,
//! best and compromise thresholds, far-tail warnings and gold-label metrics.

use crate::error::{CalibrateError, Result};
use crate::grid::{Grid, Threshold};
use crate::stats::{self, Confusion, Stat, Undefined};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use titlesim_log::ShadowRecord;

/// The phase name given to pairs whose record has no phase.
pub const NO_PHASE: &str = "(none)";
/// The name of the pooled (all phases) statistics.
pub const POOLED: &str = "(pooled)";
/// The percentiles reported for each cosine distribution.
pub const PERCENTILES: [u8; 7] = [1, 5, 25, 50, 75, 95, 99];
/// Scopes with fewer pairs than this get no far-tail check (their percentiles mean little).
pub const TAIL_CHECK_MIN_PAIRS: usize = 20;
/// The largest pass-rate difference, in percentage points, between the shadow model at t and
/// the canonical model at T that raises no warning.
pub const PASS_RATE_SHIFT_LIMIT_POINTS: u64 = 20;

/// What to calibrate, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The canonical threshold T; `None` takes it from the logs (the most common value).
    pub canon_threshold: Option<Threshold>,
    /// The shadow thresholds to evaluate.
    pub grid: Grid,
    /// The agreement every phase should keep (0..=1), for the compromise's feasible range.
    pub floor: f64,
    /// A shadow threshold someone proposes; it is checked like the configured one.
    pub propose: Option<Threshold>,
}

impl Default for Options {
    /// Threshold from the logs, grid `0.50:0.99:0.01`, floor 0.78, nothing proposed.
    fn default() -> Self {
        Options {
            canon_threshold: None,
            grid: Grid::default(),
            floor: 0.78,
            propose: None,
        }
    }
}

/// A share `k / n` kept as counts, so ties compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    /// How many.
    pub k: u64,
    /// Out of how many.
    pub n: u64,
}

impl Share {
    /// `k / n`, or `None` when `n = 0`.
    pub fn value(&self) -> Option<f64> {
        (self.n > 0).then(|| self.k as f64 / self.n as f64)
    }
    /// Exact comparison of the two fractions (an empty share counts as 0).
    pub fn cmp_exact(&self, other: &Share) -> Ordering {
        stats::cmp_frac(self.k, self.n, other.k, other.n)
    }
    /// `k / n` as a percentage with one decimal (`"84.7%"`), or `"n/a"`.
    pub fn percent(&self) -> String {
        self.value()
            .map(|v| format!("{:.1}%", v * 100.0))
            .unwrap_or_else(|| "n/a".into())
    }
}

/// One usable pair: both cosines present and finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The pair's id.
    pub pair_id: String,
    /// Its phase ([`NO_PHASE`] when the record had none).
    pub phase: String,
    /// The canonical cosine.
    pub canonical: f32,
    /// The shadow cosine.
    pub shadow: f32,
    /// The gold label, when the record had a valid one (1 → true).
    pub label: Option<bool>,
    /// The agent's title.
    pub product: String,
    /// The ground-truth title.
    pub gt: String,
}

/// Records that are not pairs for correlation or agreement, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exclusions {
    /// The shadow side failed (error or timeout: no cosine).
    pub shadow_error: usize,
    /// The record has no shadow side (not sampled for shadowing).
    pub no_shadow: usize,
    /// The canonical side has no cosine.
    pub canonical_error: usize,
    /// A cosine is not a finite number.
    pub invalid_cosine: usize,
}

impl Exclusions {
    /// All excluded records.
    pub fn total(&self) -> usize {
        self.shadow_error + self.no_shadow + self.canonical_error + self.invalid_cosine
    }
    fn add(&mut self, o: &Exclusions) {
        self.shadow_error += o.shadow_error;
        self.no_shadow += o.no_shadow;
        self.canonical_error += o.canonical_error;
        self.invalid_cosine += o.invalid_cosine;
    }
    /// `"3 shadow errors, 1 without a shadow side"`, or `"none"`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |n: usize, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        push(self.shadow_error, "shadow error", "shadow errors");
        push(
            self.no_shadow,
            "without a shadow side",
            "without a shadow side",
        );
        push(self.canonical_error, "canonical error", "canonical errors");
        push(
            self.invalid_cosine,
            "non-finite cosine",
            "non-finite cosines",
        );
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// The pairs of a set of records, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// The usable pairs, in record order.
    pub pairs: Vec<Pair>,
    /// Records left out, by reason.
    pub excluded: Exclusions,
    /// Records left out, by phase and reason.
    pub excluded_by_phase: BTreeMap<String, Exclusions>,
    /// Pairs whose label was neither 0 nor 1 (kept as pairs, without a label).
    pub invalid_labels: usize,
    /// Canonical thresholds of the pairs, with counts.
    pub canonical_thresholds: Vec<(Threshold, usize)>,
    /// Shadow thresholds of the pairs, with counts.
    pub shadow_thresholds: Vec<(Threshold, usize)>,
    /// `model (backend)` of each side, distinct, in order of appearance.
    pub models: (Vec<String>, Vec<String>),
}

/// Splits records into usable pairs and counted exclusions.
pub fn extract_pairs(records: &[ShadowRecord]) -> Extracted {
    let mut out = Extracted::default();
    let mut ct: Vec<(f32, usize)> = Vec::new();
    let mut st: Vec<(f32, usize)> = Vec::new();
    let count = |v: &mut Vec<(f32, usize)>, t: f32| match v.iter_mut().find(|(x, _)| *x == t) {
        Some(e) => e.1 += 1,
        None => v.push((t, 1)),
    };
    for r in records {
        let phase = r.phase.clone().unwrap_or_else(|| NO_PHASE.to_string());
        let cm = format!("{} ({})", r.canonical.model, r.canonical.backend);
        if !out.models.0.contains(&cm) {
            out.models.0.push(cm);
        }
        if let Some(s) = &r.shadow {
            let sm = format!("{} ({})", s.model, s.backend);
            if !out.models.1.contains(&sm) {
                out.models.1.push(sm);
            }
        }
        let mut ex = Exclusions::default();
        let pair = match (r.canonical.cosine, &r.shadow) {
            (None, _) => {
                ex.canonical_error = 1;
                None
            }
            (Some(_), None) => {
                ex.no_shadow = 1;
                None
            }
            (Some(_), Some(s)) if s.cosine.is_none() || s.error.is_some() => {
                ex.shadow_error = 1;
                None
            }
            (Some(c), Some(s)) => {
                let sc = s.cosine.unwrap_or(f32::NAN);
                if !c.is_finite() || !sc.is_finite() {
                    ex.invalid_cosine = 1;
                    None
                } else {
                    count(&mut ct, r.canonical.threshold);
                    count(&mut st, s.threshold);
                    let label = match r.label {
                        None => None,
                        Some(0) => Some(false),
                        Some(1) => Some(true),
                        Some(_) => {
                            out.invalid_labels += 1;
                            None
                        }
                    };
                    Some(Pair {
                        pair_id: r.pair_id.clone(),
                        phase: phase.clone(),
                        canonical: c,
                        shadow: sc,
                        label,
                        product: r.product.clone(),
                        gt: r.gt.clone(),
                    })
                }
            }
        };
        match pair {
            Some(p) => out.pairs.push(p),
            None => {
                out.excluded.add(&ex);
                out.excluded_by_phase.entry(phase).or_default().add(&ex);
            }
        }
    }
    let by_count = |v: Vec<(f32, usize)>| {
        let mut v: Vec<(Threshold, usize)> = v
            .into_iter()
            .map(|(t, n)| (Threshold::from_f32(t), n))
            .collect();
        // most common first; ties: lower threshold first
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.value.total_cmp(&b.0.value)));
        v
    };
    out.canonical_thresholds = by_count(ct);
    out.shadow_thresholds = by_count(st);
    out
}

/// Where a threshold came from.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdSource {
    /// Given on the command line / in [`Options`].
    Given,
    /// Read from the logs: every distinct value with its count, most common first (the first
    /// is the one used).
    Log(Vec<(Threshold, usize)>),
}

/// A threshold and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdChoice {
    /// The threshold.
    pub threshold: Threshold,
    /// Its origin.
    pub source: ThresholdSource,
}

impl ThresholdChoice {
    /// Several different values were logged (the most common one is used).
    pub fn is_mixed(&self) -> bool {
        matches!(&self.source, ThresholdSource::Log(v) if v.len() > 1)
    }
    /// `"given"` or `"log"`.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            ThresholdSource::Given => "given",
            ThresholdSource::Log(_) => "log",
        }
    }
}

/// One cosine distribution.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// Values.
    pub n: usize,
    /// Mean.
    pub mean: Stat,
    /// Sample standard deviation (n - 1).
    pub sd: Stat,
    /// Smallest value.
    pub min: Stat,
    /// Largest value.
    pub max: Stat,
    /// `(p, value)` for each of [`PERCENTILES`] (numpy's linear interpolation).
    pub percentiles: Vec<(u8, Stat)>,
    /// Pass rates `(which, threshold, share passing)`; the first is the threshold in force
    /// (canonical: T; shadow: the proposed threshold if any, else the configured one).
    pub passes: Vec<(String, Threshold, Share)>,
}

impl Distribution {
    fn of(values: &[f32], passes: &[(&str, &Threshold)]) -> Self {
        let x: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        let s = stats::sorted(&x);
        let none = || Err(Undefined::TooFew { need: 1, got: 0 });
        Distribution {
            n: x.len(),
            mean: stats::mean(&x),
            sd: stats::sd(&x),
            min: s.first().copied().map(Ok).unwrap_or_else(none),
            max: s.last().copied().map(Ok).unwrap_or_else(none),
            percentiles: PERCENTILES
                .iter()
                .map(|&p| (p, stats::percentile_sorted(&s, p as f64)))
                .collect(),
            passes: passes
                .iter()
                .map(|(w, t)| {
                    let k = values.iter().filter(|&&v| t.passes(v)).count() as u64;
                    (
                        w.to_string(),
                        (*t).clone(),
                        Share {
                            k,
                            n: x.len() as u64,
                        },
                    )
                })
                .collect(),
        }
    }
    /// The percentile `p` (one of [`PERCENTILES`]).
    pub fn percentile(&self, p: u8) -> Stat {
        self.percentiles
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, v)| v.clone())
            .unwrap_or(Err(Undefined::TooFew { need: 1, got: 0 }))
    }
    /// The pass rate at the threshold in force.
    pub fn pass(&self) -> Option<&(String, Threshold, Share)> {
        self.passes.first()
    }
}

/// Metrics against gold labels for one model.
#[derive(Debug, Clone)]
pub struct ModelLabels {
    /// ROC AUC.
    pub auc: Stat,
    /// The threshold with the best F1 among the observed cosines (ties: lowest), and its
    /// confusion matrix.
    pub best_f1: Result<(Threshold, Confusion), Undefined>,
    /// ROC curve points `(fpr, tpr)`.
    pub roc: Vec<(f64, f64)>,
}

/// A model's confusion matrix at one threshold.
#[derive(Debug, Clone)]
pub struct ThresholdMetrics {
    /// `canonical` or `shadow`.
    pub model: &'static str,
    /// Which threshold: `T`, `configured`, `proposed` or `compromise`.
    pub which: String,
    /// The threshold.
    pub threshold: Threshold,
    /// Counts against the labels.
    pub confusion: Confusion,
}

/// Metrics of both models against gold labels.
#[derive(Debug, Clone)]
pub struct LabelStats {
    /// Labelled pairs.
    pub n: usize,
    /// Pairs labelled 1.
    pub positives: usize,
    /// Pairs labelled 0.
    pub negatives: usize,
    /// The canonical model.
    pub canonical: ModelLabels,
    /// The shadow model.
    pub shadow: ModelLabels,
    /// Accuracy/precision/recall at the configured (and proposed, compromise) thresholds.
    pub at_thresholds: Vec<ThresholdMetrics>,
}

/// The statistics of one phase (or of all pairs pooled).
#[derive(Debug, Clone)]
pub struct PhaseStats {
    /// The phase ([`POOLED`] for the pooled statistics).
    pub name: String,
    /// Usable pairs.
    pub n: usize,
    /// Records of this phase that were not pairs.
    pub excluded: Exclusions,
    /// Pearson r between canonical and shadow cosines.
    pub pearson: Stat,
    /// Spearman rho (average ranks for ties).
    pub spearman: Stat,
    /// The canonical cosines.
    pub canonical: Distribution,
    /// The shadow cosines.
    pub shadow: Distribution,
    /// Agreement at every grid threshold: share of pairs with
    /// `(canonical >= T) == (shadow >= t)`.
    pub agreement: Vec<(Threshold, Share)>,
    /// The grid threshold with the highest agreement (ties: lowest t); `None` without pairs.
    pub best: Option<(Threshold, Share)>,
    /// Agreement at the configured shadow threshold.
    pub at_configured: Option<Share>,
    /// Agreement at the proposed shadow threshold.
    pub at_proposed: Option<Share>,
    /// Metrics against gold labels, when some pairs carry one.
    pub labels: Option<LabelStats>,
}

impl PhaseStats {
    /// The agreement at grid threshold `t`, if `t` is on the grid.
    pub fn agreement_at(&self, t: &Threshold) -> Option<Share> {
        self.agreement
            .iter()
            .find(|(g, _)| g.value == t.value)
            .map(|(_, s)| *s)
    }
}

/// The threshold that maximises the minimum agreement over phases.
#[derive(Debug, Clone)]
pub struct Compromise {
    /// The threshold (ties: lowest).
    pub threshold: Threshold,
    /// The lowest agreement over phases at that threshold.
    pub min_agreement: Share,
    /// Each phase's agreement at that threshold.
    pub per_phase: Vec<(String, Share)>,
    /// The floor every phase should keep.
    pub floor: f64,
    /// The contiguous grid range around the compromise where every phase is at or above the
    /// floor; `None` when no grid threshold achieves that.
    pub feasible: Option<(Threshold, Threshold)>,
    /// Every contiguous grid range where every phase is at or above the floor.
    pub feasible_ranges: Vec<(Threshold, Threshold)>,
    /// Phases without pairs, left out of the minimum.
    pub empty_phases: Vec<String>,
}

/// A line of a log that was skipped, with its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedInput {
    /// The log file (None when records were passed in directly).
    pub path: Option<PathBuf>,
    /// 1-based line.
    pub line: u64,
    /// Why.
    pub reason: String,
}

/// Everything `titlesim calibrate` computes.
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The logs read (empty when records were passed in directly).
    pub logs: Vec<PathBuf>,
    /// Log lines that were not valid records.
    pub skipped: Vec<SkippedInput>,
    /// Records read.
    pub records: usize,
    /// Records that were not pairs, by reason.
    pub excluded: Exclusions,
    /// Pairs with a label other than 0 or 1 (used without a label).
    pub invalid_labels: usize,
    /// `model (backend)` of the canonical side(s) in the logs.
    pub canonical_models: Vec<String>,
    /// `model (backend)` of the shadow side(s) in the logs.
    pub shadow_models: Vec<String>,
    /// The canonical threshold T.
    pub canonical_threshold: ThresholdChoice,
    /// The shadow threshold configured when the logs were written.
    pub shadow_configured: ThresholdChoice,
    /// The proposed shadow threshold, if any.
    pub shadow_proposed: Option<Threshold>,
    /// The grid evaluated.
    pub grid: Grid,
    /// The agreement floor.
    pub floor: f64,
    /// Per-phase statistics, by phase name.
    pub phases: Vec<PhaseStats>,
    /// All pairs together.
    pub pooled: PhaseStats,
    /// The compromise threshold over phases.
    pub compromise: Option<Compromise>,
    /// Loud warnings: thresholds in the far tail, large pass-rate shifts.
    pub warnings: Vec<String>,
    /// Other things a reader should know (mixed thresholds, small phases...).
    pub notes: Vec<String>,
    /// The pairs (for plots and review).
    pub pairs: Vec<Pair>,
}

/// Reads the logs with [`titlesim_log::read_log`] and calibrates their records; skipped
/// lines are kept in [`Calibration::skipped`].
pub fn calibrate_logs<P: AsRef<Path>>(paths: &[P], opts: &Options) -> Result<Calibration> {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let c = titlesim_log::read_log(p)?;
        records.extend(c.records);
        skipped.extend(c.skipped.into_iter().map(|s| SkippedInput {
            path: Some(p.to_path_buf()),
            line: s.line,
            reason: s.reason,
        }));
    }
    let mut cal = calibrate(&records, opts).map_err(|e| match e {
        CalibrateError::NoPairs { records, why } if !skipped.is_empty() => {
            CalibrateError::NoPairs {
                records,
                why: format!("{why}; {} unreadable lines skipped", skipped.len()),
            }
        }
        e => e,
    })?;
    cal.logs = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
    if !skipped.is_empty() {
        cal.notes.insert(
            0,
            format!(
                "{} log line(s) skipped as unreadable (first: {}:{}: {})",
                skipped.len(),
                skipped[0]
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                skipped[0].line,
                skipped[0].reason
            ),
        );
    }
    cal.skipped = skipped;
    Ok(cal)
}

struct Ctx<'a> {
    t_canon: &'a Threshold,
    configured: &'a Threshold,
    proposed: Option<&'a Threshold>,
    grid: &'a Grid,
}

/// Calibrates a shadow model from shadow records. Fails only when no record is a usable
/// pair or an option is invalid.
pub fn calibrate(records: &[ShadowRecord], opts: &Options) -> Result<Calibration> {
    if !(0.0..=1.0).contains(&opts.floor) {
        return Err(CalibrateError::invalid(format!(
            "floor {} is not a share (expected 0..=1, e.g. 0.78 for 78%)",
            opts.floor
        )));
    }
    if opts.grid.points().is_empty() {
        return Err(CalibrateError::invalid("the grid has no thresholds"));
    }
    let ex = extract_pairs(records);
    if ex.pairs.is_empty() {
        return Err(CalibrateError::NoPairs {
            records: records.len(),
            why: if records.is_empty() {
                "the logs are empty".into()
            } else {
                format!("excluded: {}", ex.excluded.describe())
            },
        });
    }
    let mut notes = Vec::new();
    let canonical_threshold = match &opts.canon_threshold {
        Some(t) => ThresholdChoice {
            threshold: t.clone(),
            source: ThresholdSource::Given,
        },
        None => ThresholdChoice {
            threshold: ex.canonical_thresholds[0].0.clone(),
            source: ThresholdSource::Log(ex.canonical_thresholds.clone()),
        },
    };
    let shadow_configured = ThresholdChoice {
        threshold: ex.shadow_thresholds[0].0.clone(),
        source: ThresholdSource::Log(ex.shadow_thresholds.clone()),
    };
    for (side, c) in [
        ("canonical", &canonical_threshold),
        ("shadow", &shadow_configured),
    ] {
        if let ThresholdSource::Log(v) = &c.source {
            if v.len() > 1 {
                notes.push(format!(
                    "the logs hold several {side} thresholds ({}); using the most common, {}{}",
                    v.iter()
                        .map(|(t, n)| format!("{t} x{n}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.threshold,
                    if side == "canonical" {
                        " (give --canon-threshold to choose)"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    if ex.invalid_labels > 0 {
        notes.push(format!(
            "{} pair(s) carry a label other than 0 or 1; used without a label",
            ex.invalid_labels
        ));
    }
    let ctx = Ctx {
        t_canon: &canonical_threshold.threshold,
        configured: &shadow_configured.threshold,
        proposed: opts.propose.as_ref(),
        grid: &opts.grid,
    };

    // Phases: every phase seen in the records, pairs or not.
    let mut by_phase: BTreeMap<String, Vec<&Pair>> = BTreeMap::new();
    for name in ex.excluded_by_phase.keys() {
        by_phase.entry(name.clone()).or_default();
    }
    for p in &ex.pairs {
        by_phase.entry(p.phase.clone()).or_default().push(p);
    }
    let mut phases: Vec<PhaseStats> = by_phase
        .iter()
        .map(|(name, ps)| {
            let mut s = phase_stats(name, ps, &ctx);
            s.excluded = ex.excluded_by_phase.get(name).copied().unwrap_or_default();
            s
        })
        .collect();
    let all: Vec<&Pair> = ex.pairs.iter().collect();
    let mut pooled = phase_stats(POOLED, &all, &ctx);
    pooled.excluded = ex.excluded;

    for p in phases.iter().filter(|p| p.n == 0) {
        notes.push(format!(
            "phase {}: no usable pairs (excluded: {})",
            p.name,
            p.excluded.describe()
        ));
    }

    let compromise = compromise(&phases, &opts.grid, opts.floor);

    // Label metrics, now that the compromise is known.
    for (stats, pairs) in phases
        .iter_mut()
        .map(|s| {
            let ps = by_phase.get(&s.name).cloned().unwrap_or_default();
            (s, ps)
        })
        .chain(std::iter::once((&mut pooled, all.clone())))
    {
        stats.labels = label_stats(&pairs, &ctx, compromise.as_ref().map(|c| &c.threshold));
    }

    // Loud warnings, pooled first.
    let mut warnings = Vec::new();
    for s in std::iter::once(&pooled).chain(phases.iter()) {
        if s.n < TAIL_CHECK_MIN_PAIRS {
            if s.n > 0 && s.name != POOLED {
                notes.push(format!(
                    "phase {}: only {} pair(s); no far-tail check (needs {TAIL_CHECK_MIN_PAIRS})",
                    s.name, s.n
                ));
            }
            if s.name != POOLED {
                continue;
            }
        }
        let mut checks = vec![("configured", ctx.configured)];
        if let Some(p) = ctx.proposed {
            checks.push(("proposed", p));
        }
        for (which, t) in checks {
            warnings.extend(threshold_warnings(s, which, t, &by_phase, &all));
        }
    }
    let labelled = ex.pairs.iter().filter(|p| p.label.is_some()).count();
    if labelled > 0 && labelled < ex.pairs.len() {
        notes.push(format!(
            "{labelled} of {} pairs carry a gold label; label metrics use those only",
            ex.pairs.len()
        ));
    }

    Ok(Calibration {
        logs: Vec::new(),
        skipped: Vec::new(),
        records: records.len(),
        excluded: ex.excluded,
        invalid_labels: ex.invalid_labels,
        canonical_models: ex.models.0.clone(),
        shadow_models: ex.models.1.clone(),
        canonical_threshold,
        shadow_configured,
        shadow_proposed: opts.propose.clone(),
        grid: opts.grid.clone(),
        floor: opts.floor,
        phases,
        pooled,
        compromise,
        warnings,
        notes,
        pairs: ex.pairs,
    })
}

fn phase_stats(name: &str, pairs: &[&Pair], ctx: &Ctx) -> PhaseStats {
    let c: Vec<f32> = pairs.iter().map(|p| p.canonical).collect();
    let s: Vec<f32> = pairs.iter().map(|p| p.shadow).collect();
    let cf: Vec<f64> = c.iter().map(|&v| v as f64).collect();
    let sf: Vec<f64> = s.iter().map(|&v| v as f64).collect();
    let canon_pass: Vec<bool> = c.iter().map(|&v| ctx.t_canon.passes(v)).collect();
    let agree = |t: &Threshold| Share {
        k: canon_pass
            .iter()
            .zip(&s)
            .filter(|(&cp, &sv)| cp == t.passes(sv))
            .count() as u64,
        n: pairs.len() as u64,
    };
    let agreement: Vec<(Threshold, Share)> = ctx
        .grid
        .points()
        .iter()
        .map(|t| (t.clone(), agree(t)))
        .collect();
    let mut best: Option<(Threshold, Share)> = None;
    if !pairs.is_empty() {
        for (t, a) in &agreement {
            // strictly greater: ties keep the lower (earlier) t
            if best
                .as_ref()
                .is_none_or(|(_, b)| a.cmp_exact(b) == Ordering::Greater)
            {
                best = Some((t.clone(), *a));
            }
        }
    }
    let mut shadow_passes = Vec::new();
    if let Some(p) = ctx.proposed {
        shadow_passes.push(("proposed", p));
    }
    shadow_passes.push(("configured", ctx.configured));
    PhaseStats {
        name: name.to_string(),
        n: pairs.len(),
        excluded: Exclusions::default(),
        pearson: stats::pearson(&cf, &sf),
        spearman: stats::spearman(&cf, &sf),
        canonical: Distribution::of(&c, &[("T", ctx.t_canon)]),
        shadow: Distribution::of(&s, &shadow_passes),
        agreement,
        best,
        at_configured: (!pairs.is_empty()).then(|| agree(ctx.configured)),
        at_proposed: ctx.proposed.filter(|_| !pairs.is_empty()).map(agree),
        labels: None,
    }
}

fn compromise(phases: &[PhaseStats], grid: &Grid, floor: f64) -> Option<Compromise> {
    let used: Vec<&PhaseStats> = phases.iter().filter(|p| p.n > 0).collect();
    if used.is_empty() {
        return None;
    }
    let min_at = |i: usize| -> Share {
        used.iter()
            .map(|p| p.agreement[i].1)
            .min_by(|a, b| a.cmp_exact(b))
            .unwrap_or_default()
    };
    let points = grid.points();
    let mut best_i = 0;
    for i in 1..points.len() {
        if min_at(i).cmp_exact(&min_at(best_i)) == Ordering::Greater {
            best_i = i;
        }
    }
    let ok: Vec<bool> = (0..points.len())
        .map(|i| {
            used.iter()
                .all(|p| p.agreement[i].1.value().is_some_and(|v| v >= floor))
        })
        .collect();
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for (i, &good) in ok.iter().enumerate() {
        if good {
            match ranges.last_mut() {
                Some((_, hi)) if *hi + 1 == i => *hi = i,
                _ => ranges.push((i, i)),
            }
        }
    }
    let feasible = ranges
        .iter()
        .find(|(lo, hi)| (*lo..=*hi).contains(&best_i))
        .map(|&(lo, hi)| (points[lo].clone(), points[hi].clone()));
    Some(Compromise {
        threshold: points[best_i].clone(),
        min_agreement: min_at(best_i),
        per_phase: used
            .iter()
            .map(|p| (p.name.clone(), p.agreement[best_i].1))
            .collect(),
        floor,
        feasible,
        feasible_ranges: ranges
            .iter()
            .map(|&(lo, hi)| (points[lo].clone(), points[hi].clone()))
            .collect(),
        empty_phases: phases
            .iter()
            .filter(|p| p.n == 0)
            .map(|p| p.name.clone())
            .collect(),
    })
}

fn label_stats(pairs: &[&Pair], ctx: &Ctx, compromise: Option<&Threshold>) -> Option<LabelStats> {
    let labelled: Vec<&&Pair> = pairs.iter().filter(|p| p.label.is_some()).collect();
    if labelled.is_empty() {
        return None;
    }
    let y: Vec<bool> = labelled.iter().map(|p| p.label == Some(true)).collect();
    let c: Vec<f32> = labelled.iter().map(|p| p.canonical).collect();
    let s: Vec<f32> = labelled.iter().map(|p| p.shadow).collect();
    let model = |v: &[f32]| {
        let f: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        ModelLabels {
            auc: stats::roc_auc(&f, &y),
            best_f1: stats::best_f1(v, &y).map(|(t, c)| (Threshold::from_f32(t), c)),
            roc: stats::roc_curve(v, &y),
        }
    };
    let mut at = vec![ThresholdMetrics {
        model: "canonical",
        which: "T".into(),
        threshold: ctx.t_canon.clone(),
        confusion: Confusion::at(&c, &y, ctx.t_canon.value),
    }];
    let mut shadow_ts = vec![("configured", ctx.configured)];
    if let Some(p) = ctx.proposed {
        shadow_ts.push(("proposed", p));
    }
    if let Some(t) = compromise {
        shadow_ts.push(("compromise", t));
    }
    for (which, t) in shadow_ts {
        at.push(ThresholdMetrics {
            model: "shadow",
            which: which.into(),
            threshold: t.clone(),
            confusion: Confusion::at(&s, &y, t.value),
        });
    }
    let positives = y.iter().filter(|&&b| b).count();
    Some(LabelStats {
        n: y.len(),
        positives,
        negatives: y.len() - positives,
        canonical: model(&c),
        shadow: model(&s),
        at_thresholds: at,
    })
}

fn threshold_warnings(
    s: &PhaseStats,
    which: &str,
    t: &Threshold,
    by_phase: &BTreeMap<String, Vec<&Pair>>,
    all: &[&Pair],
) -> Vec<String> {
    let mut out = Vec::new();
    let scope = if s.name == POOLED {
        "all phases".to_string()
    } else {
        format!("phase {}", s.name)
    };
    let pairs: &[&Pair] = if s.name == POOLED {
        all
    } else {
        by_phase.get(&s.name).map(|v| v.as_slice()).unwrap_or(&[])
    };
    if pairs.is_empty() {
        return out;
    }
    let mean = s
        .shadow
        .mean
        .as_ref()
        .map(|m| format!("{m:.3}"))
        .unwrap_or_default();
    if s.n >= TAIL_CHECK_MIN_PAIRS {
        if let (Ok(p5), Ok(p95)) = (s.shadow.percentile(5), s.shadow.percentile(95)) {
            if (t.value as f64) > p95 {
                out.push(format!(
                    "{scope}: the {which} shadow threshold {t} is above the 95th percentile of the shadow cosines (p95 {p95:.3}, mean {mean}): it sits in the far upper tail of this model's distribution"
                ));
            } else if (t.value as f64) < p5 {
                out.push(format!(
                    "{scope}: the {which} shadow threshold {t} is below the 5th percentile of the shadow cosines (p5 {p5:.3}, mean {mean}): it sits in the far lower tail of this model's distribution"
                ));
            }
        }
    }
    let n = pairs.len() as u64;
    let shadow_k = pairs.iter().filter(|p| t.passes(p.shadow)).count() as u64;
    let canon = s.canonical.pass().map(|x| x.2).unwrap_or_default();
    let diff = shadow_k.abs_diff(canon.k);
    // |shadow - canonical| > limit points, exactly: 100 |dk| > limit n
    if 100 * diff > PASS_RATE_SHIFT_LIMIT_POINTS * n {
        let shadow_share = Share { k: shadow_k, n };
        out.push(format!(
            "{scope}: at the {which} shadow threshold {t} the shadow model passes {} of pairs, the canonical model {} at T — a shift of {:.1} points (limit {})",
            shadow_share.percent(),
            canon.percent(),
            diff as f64 / n as f64 * 100.0,
            PASS_RATE_SHIFT_LIMIT_POINTS
        ));
    }
    out
}
