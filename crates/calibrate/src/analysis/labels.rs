//! Metrics against gold labels: ROC AUC, the best-F1 threshold, and each model's confusion
//! matrix at the thresholds in force (and at the compromise).

use super::pairs::{Extracted, Pair};
use super::phases::PhaseStats;
use super::thresholds::InForce;
use crate::grid::Threshold;
use crate::stats::{self, Confusion, Stat, Undefined};
use std::collections::BTreeMap;

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

/// Fills in the label metrics of every phase and of the pooled statistics.
pub(crate) fn add_label_stats(
    phases: &mut [PhaseStats],
    pooled: &mut PhaseStats,
    by_phase: &BTreeMap<String, Vec<&Pair>>,
    all: &[&Pair],
    ctx: &InForce,
    compromise: Option<&Threshold>,
) {
    for s in phases.iter_mut() {
        let pairs = by_phase.get(&s.name).cloned().unwrap_or_default();
        s.labels = label_stats(&pairs, ctx, compromise);
    }
    pooled.labels = label_stats(all, ctx, compromise);
}

/// The label metrics of the labelled pairs among `pairs`; `None` when none is labelled.
fn label_stats(
    pairs: &[&Pair],
    ctx: &InForce,
    compromise: Option<&Threshold>,
) -> Option<LabelStats> {
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

/// A note when some pairs carry a label other than 0 or 1.
pub(crate) fn invalid_label_note(ex: &Extracted) -> Option<String> {
    (ex.invalid_labels > 0).then(|| {
        format!(
            "{} pair(s) carry a label other than 0 or 1; used without a label",
            ex.invalid_labels
        )
    })
}

/// A note when only some of the pairs carry a gold label.
pub(crate) fn partial_label_note(pairs: &[Pair]) -> Option<String> {
    let labelled = pairs.iter().filter(|p| p.label.is_some()).count();
    (labelled > 0 && labelled < pairs.len()).then(|| {
        format!(
            "{labelled} of {} pairs carry a gold label; label metrics use those only",
            pairs.len()
        )
    })
}
