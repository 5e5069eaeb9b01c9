//! The `--json` document of `titlesim calibrate`.
//!
//! The document is a set of small output structs that borrow from the [`Calibration`] and
//! derive `Serialize`; their fields are the document's keys, in the document's order.
//! Undefined statistics (an `Err` [`Stat`], a non-finite value, an empty share) are `null`.

use crate::analysis::{
    Calibration, Distribution, Exclusions, ModelLabels, PhaseStats, Share, ThresholdChoice,
    ThresholdMetrics, ThresholdSource,
};
use crate::grid::Threshold;
use crate::stats::{Confusion, Stat};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

/// The calibration as one JSON document: top-level `phases`, `pooled`, `compromise`, plus
/// `inputs`, `canonical_threshold`, `shadow_threshold`, `grid`, `floor`, `models`,
/// `warnings` and `notes`. Undefined statistics are `null` (with a reason in `notes`).
pub fn to_json(cal: &Calibration) -> Value {
    serde_json::to_value(Document::new(cal)).expect("the calibration document has string keys only")
}

#[derive(Serialize)]
struct Document<'a> {
    phases: Entries<PhaseJson<'a>>,
    pooled: PhaseJson<'a>,
    compromise: CompromiseJson,
    canonical_threshold: ChoiceJson,
    shadow_threshold: ShadowThresholdJson,
    grid: GridJson<'a>,
    floor: f64,
    inputs: InputsJson<'a>,
    models: ModelsJson<'a>,
    warnings: &'a [String],
    notes: &'a [String],
}

impl<'a> Document<'a> {
    fn new(cal: &'a Calibration) -> Self {
        Document {
            phases: Entries(
                cal.phases
                    .iter()
                    .map(|p| (p.name.clone(), PhaseJson::new(p)))
                    .collect(),
            ),
            pooled: PhaseJson::new(&cal.pooled),
            compromise: CompromiseJson::new(cal),
            canonical_threshold: ChoiceJson::new(&cal.canonical_threshold),
            shadow_threshold: ShadowThresholdJson {
                configured: ChoiceJson::new(&cal.shadow_configured),
                proposed: cal.shadow_proposed.as_ref().map(Threshold::decimal),
            },
            grid: GridJson {
                spec: cal.grid.spec(),
                points: cal.grid.points().len(),
            },
            floor: cal.floor,
            inputs: InputsJson::new(cal),
            models: ModelsJson {
                canonical: &cal.canonical_models,
                shadow: &cal.shadow_models,
                canonical_fingerprints: &cal.canonical_fingerprints,
                shadow_fingerprints: &cal.shadow_fingerprints,
            },
            warnings: &cal.warnings,
            notes: &cal.notes,
        }
    }
}

/// A JSON object whose keys keep the order given (a phase name → its value, `p50` → ...).
struct Entries<V>(Vec<(String, V)>);

impl<V: Serialize> Serialize for Entries<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A statistic, `None` (null) when undefined or not finite.
fn stat(s: &Stat) -> Option<f64> {
    s.as_ref().ok().copied().filter(|v| v.is_finite())
}

/// A threshold as the decimal it was written as.
fn thr(t: &Threshold) -> f64 {
    t.decimal()
}

#[derive(Serialize)]
struct PhaseJson<'a> {
    n: usize,
    excluded: ExclusionsJson,
    pearson: Option<f64>,
    spearman: Option<f64>,
    best_threshold: Option<f64>,
    best_agreement: Option<f64>,
    /// `[t, agreement]` for every grid point.
    agreement: Vec<(f64, Option<f64>)>,
    /// `[t, shadow pass rate]` for every grid point.
    shadow_pass_rate: Vec<(f64, Option<f64>)>,
    agreement_at_configured: Option<f64>,
    agreement_at_proposed: Option<f64>,
    canonical: DistributionJson<'a>,
    shadow: DistributionJson<'a>,
    labels: Option<LabelsJson<'a>>,
    notes: Vec<String>,
}

impl<'a> PhaseJson<'a> {
    fn new(s: &'a PhaseStats) -> Self {
        PhaseJson {
            n: s.n,
            excluded: ExclusionsJson::new(&s.excluded),
            pearson: stat(&s.pearson),
            spearman: stat(&s.spearman),
            best_threshold: s.best.as_ref().map(|b| thr(&b.0)),
            best_agreement: s.best.as_ref().and_then(|b| b.1.value()),
            agreement: s
                .agreement
                .iter()
                .map(|(t, a)| (t.decimal(), a.value()))
                .collect(),
            shadow_pass_rate: s
                .shadow_pass
                .iter()
                .map(|(t, a)| (t.decimal(), a.value()))
                .collect(),
            agreement_at_configured: s.at_configured.as_ref().and_then(Share::value),
            agreement_at_proposed: s.at_proposed.as_ref().and_then(Share::value),
            canonical: DistributionJson::new(&s.canonical),
            shadow: DistributionJson::new(&s.shadow),
            labels: s.labels.as_ref().map(|l| LabelsJson {
                n: l.n,
                positives: l.positives,
                negatives: l.negatives,
                canonical: ModelLabelsJson::new(&l.canonical),
                shadow: ModelLabelsJson::new(&l.shadow),
                at_thresholds: l.at_thresholds.iter().map(AtThresholdJson::new).collect(),
            }),
            notes: phase_notes(s),
        }
    }
}

/// Why a phase's statistics are missing: no pairs, undefined correlations.
fn phase_notes(s: &PhaseStats) -> Vec<String> {
    let mut notes = Vec::new();
    if s.n == 0 {
        notes.push(format!(
            "no usable pairs (excluded: {})",
            s.excluded.describe()
        ));
    }
    if let Err(e) = &s.pearson {
        notes.push(format!("pearson {e}"));
    }
    if let Err(e) = &s.spearman {
        notes.push(format!("spearman {e}"));
    }
    notes
}

#[derive(Serialize)]
struct ExclusionsJson {
    shadow_error: usize,
    no_shadow: usize,
    canonical_error: usize,
    invalid_cosine: usize,
    total: usize,
}

impl ExclusionsJson {
    fn new(e: &Exclusions) -> Self {
        ExclusionsJson {
            shadow_error: e.shadow_error,
            no_shadow: e.no_shadow,
            canonical_error: e.canonical_error,
            invalid_cosine: e.invalid_cosine,
            total: e.total(),
        }
    }
}

#[derive(Serialize)]
struct DistributionJson<'a> {
    n: usize,
    mean: Option<f64>,
    sd: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    /// `p1`, `p5`, ... → value.
    percentiles: Entries<Option<f64>>,
    /// The threshold in force and its pass rate (the first of `pass_rates`).
    threshold: Option<f64>,
    pass_rate: Option<f64>,
    pass_rates: Vec<PassRateJson<'a>>,
}

impl<'a> DistributionJson<'a> {
    fn new(d: &'a Distribution) -> Self {
        let first = d.pass();
        DistributionJson {
            n: d.n,
            mean: stat(&d.mean),
            sd: stat(&d.sd),
            min: stat(&d.min),
            max: stat(&d.max),
            percentiles: Entries(
                d.percentiles
                    .iter()
                    .map(|(p, v)| (format!("p{p}"), stat(v)))
                    .collect(),
            ),
            threshold: first.map(|p| thr(&p.1)),
            pass_rate: first.and_then(|p| p.2.value()),
            pass_rates: d
                .passes
                .iter()
                .map(|(w, t, s)| PassRateJson {
                    which: w,
                    threshold: thr(t),
                    rate: s.value(),
                    passed: s.k,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct PassRateJson<'a> {
    which: &'a str,
    threshold: f64,
    rate: Option<f64>,
    passed: u64,
}

#[derive(Serialize)]
struct LabelsJson<'a> {
    n: usize,
    positives: usize,
    negatives: usize,
    canonical: ModelLabelsJson,
    shadow: ModelLabelsJson,
    at_thresholds: Vec<AtThresholdJson<'a>>,
}

#[derive(Serialize)]
struct ConfusionJson {
    tp: u64,
    fp: u64,
    tn: u64,
    #[serde(rename = "fn")]
    fn_: u64,
    accuracy: Option<f64>,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
}

impl ConfusionJson {
    fn new(c: &Confusion) -> Self {
        ConfusionJson {
            tp: c.tp,
            fp: c.fp,
            tn: c.tn,
            fn_: c.fn_,
            accuracy: stat(&c.accuracy()),
            precision: stat(&c.precision()),
            recall: stat(&c.recall()),
            f1: stat(&c.f1()),
        }
    }
}

/// A confusion matrix followed by the model and threshold it was counted at.
#[derive(Serialize)]
struct AtThresholdJson<'a> {
    #[serde(flatten)]
    confusion: ConfusionJson,
    model: &'a str,
    which: &'a str,
    threshold: f64,
}

impl<'a> AtThresholdJson<'a> {
    fn new(m: &'a ThresholdMetrics) -> Self {
        AtThresholdJson {
            confusion: ConfusionJson::new(&m.confusion),
            model: m.model,
            which: &m.which,
            threshold: thr(&m.threshold),
        }
    }
}

#[derive(Serialize)]
struct ModelLabelsJson {
    auc: Option<f64>,
    best_f1: Option<BestF1Json>,
}

impl ModelLabelsJson {
    fn new(m: &ModelLabels) -> Self {
        ModelLabelsJson {
            auc: stat(&m.auc),
            best_f1: m.best_f1.as_ref().ok().map(|(t, c)| BestF1Json {
                threshold: thr(t),
                f1: stat(&c.f1()),
                precision: stat(&c.precision()),
                recall: stat(&c.recall()),
            }),
        }
    }
}

#[derive(Serialize)]
struct BestF1Json {
    threshold: f64,
    f1: Option<f64>,
    precision: Option<f64>,
    recall: Option<f64>,
}

#[derive(Serialize)]
struct CompromiseJson {
    threshold: Option<f64>,
    min_agreement: Option<f64>,
    per_phase: Entries<Option<f64>>,
    floor: f64,
    feasible: Option<(f64, f64)>,
    feasible_ranges: Vec<(f64, f64)>,
    empty_phases: Vec<String>,
}

impl CompromiseJson {
    /// The compromise, or the same keys with nulls and empty lists when there is none.
    fn new(cal: &Calibration) -> Self {
        let range = |(lo, hi): &(Threshold, Threshold)| (thr(lo), thr(hi));
        match &cal.compromise {
            Some(c) => CompromiseJson {
                threshold: Some(thr(&c.threshold)),
                min_agreement: c.min_agreement.value(),
                per_phase: Entries(
                    c.per_phase
                        .iter()
                        .map(|(p, s)| (p.clone(), s.value()))
                        .collect(),
                ),
                floor: c.floor,
                feasible: c.feasible.as_ref().map(range),
                feasible_ranges: c.feasible_ranges.iter().map(range).collect(),
                empty_phases: c.empty_phases.clone(),
            },
            None => CompromiseJson {
                threshold: None,
                min_agreement: None,
                per_phase: Entries(Vec::new()),
                floor: cal.floor,
                feasible: None,
                feasible_ranges: Vec::new(),
                empty_phases: Vec::new(),
            },
        }
    }
}

#[derive(Serialize)]
struct ChoiceJson {
    value: f64,
    source: &'static str,
    /// `[threshold, count]` for every logged value (empty when given).
    log_values: Vec<(f64, usize)>,
}

impl ChoiceJson {
    fn new(c: &ThresholdChoice) -> Self {
        ChoiceJson {
            value: thr(&c.threshold),
            source: c.source_name(),
            log_values: match &c.source {
                ThresholdSource::Log(v) => v.iter().map(|(t, n)| (thr(t), *n)).collect(),
                ThresholdSource::Given => Vec::new(),
            },
        }
    }
}

#[derive(Serialize)]
struct ShadowThresholdJson {
    configured: ChoiceJson,
    proposed: Option<f64>,
}

#[derive(Serialize)]
struct GridJson<'a> {
    spec: &'a str,
    points: usize,
}

#[derive(Serialize)]
struct InputsJson<'a> {
    logs: Vec<String>,
    records: usize,
    pairs: usize,
    excluded: ExclusionsJson,
    invalid_labels: usize,
    skipped_lines: Vec<SkippedJson<'a>>,
}

impl<'a> InputsJson<'a> {
    fn new(cal: &'a Calibration) -> Self {
        InputsJson {
            logs: cal.logs.iter().map(|p| p.display().to_string()).collect(),
            records: cal.records,
            pairs: cal.pairs.len(),
            excluded: ExclusionsJson::new(&cal.excluded),
            invalid_labels: cal.invalid_labels,
            skipped_lines: cal
                .skipped
                .iter()
                .map(|s| SkippedJson {
                    file: s.path.as_ref().map(|p| p.display().to_string()),
                    line: s.line,
                    reason: &s.reason,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct SkippedJson<'a> {
    file: Option<String>,
    line: u64,
    reason: &'a str,
}

#[derive(Serialize)]
struct ModelsJson<'a> {
    canonical: &'a [String],
    shadow: &'a [String],
    canonical_fingerprints: &'a [String],
    shadow_fingerprints: &'a [String],
}
