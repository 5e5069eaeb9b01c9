//! The human-readable summary printed by `titlesim calibrate`.

use crate::analysis::{Calibration, Distribution, PhaseStats, Share, ThresholdSource};
use crate::stats::Stat;
use std::fmt::Write;

/// A plain text table: the first `left` columns are left-aligned, the rest right-aligned.
pub(crate) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub left: usize,
}

impl Table {
    pub fn new(headers: &[&str], left: usize) -> Self {
        Table {
            headers: headers.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            left,
        }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    pub fn render(&self, indent: &str) -> String {
        let ncol = self.headers.len();
        let mut w = vec![0usize; ncol];
        for r in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(ncol) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::from(indent);
            for (i, c) in r.iter().enumerate().take(ncol) {
                let pad = w[i] - c.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if i < self.left {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                } else {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

pub(crate) fn num(s: &Stat, digits: usize) -> String {
    match s {
        Ok(v) => format!("{v:.digits$}"),
        Err(_) => "undefined".into(),
    }
}

fn opt_share(s: &Option<Share>) -> String {
    s.map(|s| s.percent()).unwrap_or_else(|| "-".into())
}

fn source(s: &ThresholdSource) -> &'static str {
    match s {
        ThresholdSource::Given => "given",
        ThresholdSource::Log(v) if v.len() > 1 => "most common in the logs",
        ThresholdSource::Log(_) => "from the logs",
    }
}

fn all_stats(cal: &Calibration) -> impl Iterator<Item = &PhaseStats> {
    cal.phases.iter().chain(std::iter::once(&cal.pooled))
}

/// Renders the calibration as tables and sentences for a terminal.
pub fn render_text(cal: &Calibration) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "titlesim calibrate");
    let logs = if cal.logs.is_empty() {
        "(records)".to_string()
    } else {
        cal.logs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "  logs: {logs}\n  {} records -> {} pairs; excluded: {}{}",
        cal.records,
        cal.pairs.len(),
        cal.excluded.describe(),
        if cal.skipped.is_empty() {
            String::new()
        } else {
            format!("; {} unreadable line(s) skipped", cal.skipped.len())
        }
    );
    let _ = writeln!(
        o,
        "  canonical: {}  T = {} ({})",
        join_or(&cal.canonical_models, "?"),
        cal.canonical_threshold.threshold,
        source(&cal.canonical_threshold.source)
    );
    let _ = writeln!(
        o,
        "  shadow:    {}  configured t = {} ({}){}",
        join_or(&cal.shadow_models, "?"),
        cal.shadow_configured.threshold,
        source(&cal.shadow_configured.source),
        cal.shadow_proposed
            .as_ref()
            .map(|t| format!("; proposed t = {t}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "  grid {} ({} thresholds); agreement = share of pairs with (canonical >= T) == (shadow >= t)",
        cal.grid.spec(),
        cal.grid.points().len()
    );

    // Correlation and best threshold.
    let _ = writeln!(o, "\nCorrelation and best shadow threshold, per phase");
    let mut headers = vec![
        "phase",
        "n",
        "excluded",
        "pearson r",
        "spearman rho",
        "best t",
        "agreement",
        "at configured",
    ];
    if cal.shadow_proposed.is_some() {
        headers.push("at proposed");
    }
    let mut t = Table::new(&headers, 1);
    for s in all_stats(cal) {
        let mut row = vec![
            s.name.clone(),
            s.n.to_string(),
            s.excluded.total().to_string(),
            num(&s.pearson, 3),
            num(&s.spearman, 3),
            s.best
                .as_ref()
                .map(|b| b.0.label.clone())
                .unwrap_or("-".into()),
            s.best.as_ref().map(|b| b.1.percent()).unwrap_or("-".into()),
            opt_share(&s.at_configured),
        ];
        if cal.shadow_proposed.is_some() {
            row.push(opt_share(&s.at_proposed));
        }
        t.row(row);
    }
    o.push_str(&t.render("  "));
    for s in all_stats(cal) {
        if s.n == 0 {
            let _ = writeln!(
                o,
                "  {}: no usable pairs (excluded: {})",
                s.name,
                s.excluded.describe()
            );
            continue;
        }
        if let Err(e) = &s.pearson {
            let _ = writeln!(o, "  {}: pearson r {e}", s.name);
        }
        if let Err(e) = &s.spearman {
            let _ = writeln!(o, "  {}: spearman rho {e}", s.name);
        }
    }

    // Distributions.
    let _ = writeln!(
        o,
        "\nCosine distributions (sd: n-1; percentiles: linear interpolation, as numpy)"
    );
    let mut t = Table::new(
        &[
            "phase",
            "model",
            "n",
            "mean",
            "sd",
            "p1",
            "p5",
            "p25",
            "p50",
            "p75",
            "p95",
            "p99",
            "threshold",
            "pass",
        ],
        2,
    );
    for s in all_stats(cal) {
        for (model, d) in [("canonical", &s.canonical), ("shadow", &s.shadow)] {
            t.row(dist_row(
                if model == "canonical" { &s.name } else { "" },
                model,
                d,
            ));
        }
    }
    o.push_str(&t.render("  "));

    // Agreement curve.
    let _ = writeln!(
        o,
        "\nAgreement by shadow threshold t (* best t of the column; < compromise)"
    );
    let mut headers: Vec<String> = vec!["t".into()];
    headers.extend(all_stats(cal).map(|s| s.name.clone()));
    let used: Vec<&PhaseStats> = cal.phases.iter().filter(|p| p.n > 0).collect();
    headers.push("min over phases".into());
    let hdr: Vec<&str> = headers.iter().map(|s| s.as_str()).collect();
    let mut t = Table::new(&hdr, 0);
    for (i, point) in cal.grid.points().iter().enumerate() {
        let mut row = vec![point.label.clone()];
        for s in all_stats(cal) {
            let a = s.agreement[i].1;
            let star = s.best.as_ref().is_some_and(|b| b.0.value == point.value);
            row.push(format!("{}{}", a.percent(), if star { "*" } else { " " }));
        }
        let min = used
            .iter()
            .map(|p| p.agreement[i].1)
            .min_by(|a, b| a.cmp_exact(b));
        let is_comp = cal
            .compromise
            .as_ref()
            .is_some_and(|c| c.threshold.value == point.value);
        row.push(format!(
            "{}{}",
            min.map(|m| m.percent()).unwrap_or("-".into()),
            if is_comp { "<" } else { " " }
        ));
        t.row(row);
    }
    o.push_str(&t.render("  "));

    // Compromise.
    let _ = writeln!(
        o,
        "\nCompromise threshold (maximises the lowest agreement over phases; ties: lowest t)"
    );
    match &cal.compromise {
        None => {
            let _ = writeln!(o, "  none: no phase has pairs");
        }
        Some(c) => {
            let _ = writeln!(
                o,
                "  t = {}: lowest agreement {} ({})",
                c.threshold,
                c.min_agreement.percent(),
                c.per_phase
                    .iter()
                    .map(|(p, s)| format!("{p} {}", s.percent()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let floor = format!("{:.1}%", c.floor * 100.0);
            match &c.feasible {
                Some((lo, hi)) => {
                    let _ = writeln!(
                        o,
                        "  floor {floor}: every phase stays at or above it for t in [{lo}, {hi}]"
                    );
                    if c.feasible_ranges.len() > 1 {
                        let _ = writeln!(
                            o,
                            "  (all such ranges: {})",
                            c.feasible_ranges
                                .iter()
                                .map(|(a, b)| format!("[{a}, {b}]"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                    }
                }
                None => {
                    let _ = writeln!(
                        o,
                        "  floor {floor}: none — no grid threshold keeps every phase at or above it"
                    );
                }
            }
            if !c.empty_phases.is_empty() {
                let _ = writeln!(o, "  left out (no pairs): {}", c.empty_phases.join(", "));
            }
        }
    }

    // Labels.
    if all_stats(cal).any(|s| s.labels.is_some()) {
        let _ = writeln!(o, "\nAgainst gold labels (1 = same product)");
        let mut t = Table::new(
            &[
                "phase",
                "model",
                "labelled",
                "pos/neg",
                "ROC AUC",
                "best-F1 t",
                "F1",
            ],
            2,
        );
        for s in all_stats(cal) {
            let Some(l) = &s.labels else { continue };
            for (model, m) in [("canonical", &l.canonical), ("shadow", &l.shadow)] {
                t.row(vec![
                    if model == "canonical" {
                        s.name.clone()
                    } else {
                        String::new()
                    },
                    model.into(),
                    l.n.to_string(),
                    format!("{}/{}", l.positives, l.negatives),
                    num(&m.auc, 3),
                    m.best_f1
                        .as_ref()
                        .map(|(t, _)| format!("{:.4}", t.value))
                        .unwrap_or("undefined".into()),
                    m.best_f1
                        .as_ref()
                        .map(|(_, c)| num(&c.f1(), 3))
                        .unwrap_or("undefined".into()),
                ]);
            }
        }
        o.push_str(&t.render("  "));
        let _ = writeln!(o);
        let mut t = Table::new(
            &[
                "phase",
                "model",
                "at",
                "threshold",
                "accuracy",
                "precision",
                "recall",
                "F1",
            ],
            3,
        );
        for s in all_stats(cal) {
            let Some(l) = &s.labels else { continue };
            for (i, m) in l.at_thresholds.iter().enumerate() {
                t.row(vec![
                    if i == 0 {
                        s.name.clone()
                    } else {
                        String::new()
                    },
                    m.model.into(),
                    m.which.clone(),
                    m.threshold.label.clone(),
                    num(&m.confusion.accuracy(), 3),
                    num(&m.confusion.precision(), 3),
                    num(&m.confusion.recall(), 3),
                    num(&m.confusion.f1(), 3),
                ]);
            }
        }
        o.push_str(&t.render("  "));
    }

    if !cal.notes.is_empty() {
        let _ = writeln!(o, "\nNotes");
        for n in &cal.notes {
            let _ = writeln!(o, "  - {n}");
        }
    }
    if !cal.skipped.is_empty() {
        let _ = writeln!(o, "\nSkipped log lines");
        for s in cal.skipped.iter().take(10) {
            let _ = writeln!(
                o,
                "  {}:{}: {}",
                s.path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or("-".into()),
                s.line,
                s.reason
            );
        }
        if cal.skipped.len() > 10 {
            let _ = writeln!(o, "  ... and {} more", cal.skipped.len() - 10);
        }
    }
    o.push_str(&render_warnings(cal));
    o
}

/// The loud warning block (empty when there is nothing to warn about).
pub fn render_warnings(cal: &Calibration) -> String {
    if cal.warnings.is_empty() {
        return String::new();
    }
    let bar = "!".repeat(78);
    let mut o = format!(
        "\n{bar}\n!! WARNING: shadow threshold out of line with the shadow model's cosines\n"
    );
    for w in &cal.warnings {
        let _ = writeln!(o, "!! - {w}");
    }
    let _ = writeln!(
        o,
        "!! A threshold copied from another model can reject (or accept) almost everything:\n!! calibrate it on this model's cosines (see the compromise above).\n{bar}"
    );
    o
}

fn dist_row(phase: &str, model: &str, d: &Distribution) -> Vec<String> {
    let mut row = vec![
        phase.to_string(),
        model.to_string(),
        d.n.to_string(),
        num(&d.mean, 3),
        num(&d.sd, 3),
    ];
    for (_, v) in &d.percentiles {
        row.push(num(v, 3));
    }
    match d.pass() {
        Some((which, t, s)) => {
            row.push(format!(
                "{} {}",
                if which == "T" { "T" } else { which.as_str() },
                t
            ));
            row.push(s.percent());
        }
        None => {
            row.push("-".into());
            row.push("-".into());
        }
    }
    row
}

/// The names of `v` (models as the logs name them) joined, their control characters escaped
/// (a hand-edited log's `\u{1b}[2J` must not clear the terminal); `empty` when there are none.
fn join_or(v: &[String], empty: &str) -> String {
    if v.is_empty() {
        empty.to_string()
    } else {
        v.iter()
            .map(|m| titlesim_core::shown(m))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
