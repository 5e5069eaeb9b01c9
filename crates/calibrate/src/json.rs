//! The `--json` document of `titlesim calibrate`.

use crate::analysis::{
    Calibration, Distribution, Exclusions, ModelLabels, PhaseStats, Share, ThresholdChoice,
    ThresholdSource,
};
use crate::grid::Threshold;
use crate::stats::{Confusion, Stat};
use serde_json::{json, Map, Value};

fn stat(s: &Stat) -> Value {
    match s {
        Ok(v) if v.is_finite() => json!(v),
        _ => Value::Null,
    }
}

fn share(s: &Share) -> Value {
    s.value().map(|v| json!(v)).unwrap_or(Value::Null)
}

fn opt_share(s: &Option<Share>) -> Value {
    s.as_ref().map(share).unwrap_or(Value::Null)
}

fn thr(t: &Threshold) -> Value {
    json!(t.decimal())
}

fn excluded(e: &Exclusions) -> Value {
    json!({
        "shadow_error": e.shadow_error,
        "no_shadow": e.no_shadow,
        "canonical_error": e.canonical_error,
        "invalid_cosine": e.invalid_cosine,
        "total": e.total(),
    })
}

fn distribution(d: &Distribution) -> Value {
    let mut pct = Map::new();
    for (p, v) in &d.percentiles {
        pct.insert(format!("p{p}"), stat(v));
    }
    let first = d.pass();
    json!({
        "n": d.n,
        "mean": stat(&d.mean),
        "sd": stat(&d.sd),
        "min": stat(&d.min),
        "max": stat(&d.max),
        "percentiles": pct,
        "threshold": first.map(|p| thr(&p.1)).unwrap_or(Value::Null),
        "pass_rate": first.map(|p| share(&p.2)).unwrap_or(Value::Null),
        "pass_rates": d.passes.iter().map(|(w, t, s)| json!({
            "which": w, "threshold": thr(t), "rate": share(s), "passed": s.k,
        })).collect::<Vec<_>>(),
    })
}

fn confusion(c: &Confusion) -> Value {
    json!({
        "tp": c.tp, "fp": c.fp, "tn": c.tn, "fn": c.fn_,
        "accuracy": stat(&c.accuracy()),
        "precision": stat(&c.precision()),
        "recall": stat(&c.recall()),
        "f1": stat(&c.f1()),
    })
}

fn model_labels(m: &ModelLabels) -> Value {
    json!({
        "auc": stat(&m.auc),
        "best_f1": match &m.best_f1 {
            Ok((t, c)) => json!({"threshold": thr(t), "f1": stat(&c.f1()),
                "precision": stat(&c.precision()), "recall": stat(&c.recall())}),
            Err(_) => Value::Null,
        },
    })
}

fn phase(s: &PhaseStats) -> Value {
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
    json!({
        "n": s.n,
        "excluded": excluded(&s.excluded),
        "pearson": stat(&s.pearson),
        "spearman": stat(&s.spearman),
        "best_threshold": s.best.as_ref().map(|b| thr(&b.0)).unwrap_or(Value::Null),
        "best_agreement": s.best.as_ref().map(|b| share(&b.1)).unwrap_or(Value::Null),
        "agreement": s.agreement.iter().map(|(t, a)| json!([t.decimal(), share(a)])).collect::<Vec<_>>(),
        "agreement_at_configured": opt_share(&s.at_configured),
        "agreement_at_proposed": opt_share(&s.at_proposed),
        "canonical": distribution(&s.canonical),
        "shadow": distribution(&s.shadow),
        "labels": s.labels.as_ref().map(|l| json!({
            "n": l.n,
            "positives": l.positives,
            "negatives": l.negatives,
            "canonical": model_labels(&l.canonical),
            "shadow": model_labels(&l.shadow),
            "at_thresholds": l.at_thresholds.iter().map(|m| {
                let mut v = confusion(&m.confusion);
                v["model"] = json!(m.model);
                v["which"] = json!(m.which);
                v["threshold"] = thr(&m.threshold);
                v
            }).collect::<Vec<_>>(),
        })).unwrap_or(Value::Null),
        "notes": notes,
    })
}

fn choice(c: &ThresholdChoice) -> Value {
    json!({
        "value": thr(&c.threshold),
        "source": c.source_name(),
        "log_values": match &c.source {
            ThresholdSource::Log(v) => v.iter().map(|(t, n)| json!([thr(t), n])).collect::<Vec<_>>(),
            ThresholdSource::Given => Vec::new(),
        },
    })
}

/// The calibration as one JSON document: top-level `phases`, `pooled`, `compromise`, plus
/// `inputs`, `canonical_threshold`, `shadow_threshold`, `grid`, `floor`, `models`,
/// `warnings` and `notes`. Undefined statistics are `null` (with a reason in `notes`).
pub fn to_json(cal: &Calibration) -> Value {
    let mut phases = Map::new();
    for p in &cal.phases {
        phases.insert(p.name.clone(), phase(p));
    }
    let compromise = match &cal.compromise {
        Some(c) => json!({
            "threshold": thr(&c.threshold),
            "min_agreement": share(&c.min_agreement),
            "per_phase": c.per_phase.iter().map(|(p, s)| (p.clone(), share(s))).collect::<Map<_, _>>(),
            "floor": c.floor,
            "feasible": c.feasible.as_ref().map(|(lo, hi)| json!([thr(lo), thr(hi)])).unwrap_or(Value::Null),
            "feasible_ranges": c.feasible_ranges.iter().map(|(lo, hi)| json!([thr(lo), thr(hi)])).collect::<Vec<_>>(),
            "empty_phases": c.empty_phases,
        }),
        None => json!({
            "threshold": null, "min_agreement": null, "per_phase": {}, "floor": cal.floor,
            "feasible": null, "feasible_ranges": [], "empty_phases": [],
        }),
    };
    json!({
        "phases": phases,
        "pooled": phase(&cal.pooled),
        "compromise": compromise,
        "canonical_threshold": choice(&cal.canonical_threshold),
        "shadow_threshold": {
            "configured": choice(&cal.shadow_configured),
            "proposed": cal.shadow_proposed.as_ref().map(thr).unwrap_or(Value::Null),
        },
        "grid": {
            "spec": cal.grid.spec(),
            "points": cal.grid.points().len(),
        },
        "floor": cal.floor,
        "inputs": {
            "logs": cal.logs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "records": cal.records,
            "pairs": cal.pairs.len(),
            "excluded": excluded(&cal.excluded),
            "invalid_labels": cal.invalid_labels,
            "skipped_lines": cal.skipped.iter().map(|s| json!({
                "file": s.path.as_ref().map(|p| p.display().to_string()),
                "line": s.line,
                "reason": s.reason,
            })).collect::<Vec<_>>(),
        },
        "models": {
            "canonical": cal.canonical_models,
            "shadow": cal.shadow_models,
        },
        "warnings": cal.warnings,
        "notes": cal.notes,
    })
}
