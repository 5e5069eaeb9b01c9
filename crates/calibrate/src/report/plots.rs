//! The report's plots as SVG strings.

use super::svg::*;
use crate::analysis::{Calibration, PhaseStats, POOLED};
use crate::grid::Threshold;

const W: f64 = 980.0;
const LEFT: f64 = 78.0;
const LEGEND_W: f64 = 250.0;

fn phase_color(cal: &Calibration, name: &str) -> &'static str {
    let i = cal.phases.iter().position(|p| p.name == name).unwrap_or(0);
    PALETTE[i % PALETTE.len()]
}

fn pct(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

/// Shadow threshold lines worth drawing: (label, threshold, colour, dash).
fn shadow_lines(cal: &Calibration) -> Vec<(String, Threshold, &'static str, Dash)> {
    let mut v = Vec::new();
    if let Some(c) = &cal.compromise {
        v.push((
            format!("shadow t = {} (compromise)", c.threshold),
            c.threshold.clone(),
            SHADOW,
            Dash::Solid,
        ));
    }
    let conf = &cal.shadow_configured.threshold;
    v.push((
        format!("shadow t = {conf} (configured)"),
        conf.clone(),
        CONFIGURED,
        Dash::Dashed,
    ));
    if let Some(p) = &cal.shadow_proposed {
        v.push((
            format!("shadow t = {p} (proposed)"),
            p.clone(),
            PROPOSED,
            Dash::Dotted,
        ));
    }
    v
}

fn title(svg: &mut Svg, t: &str, sub: &str) {
    svg.text(LEFT - 50.0, 28.0, t, 18.0, "start", INK, true);
    if !sub.is_empty() {
        svg.text(LEFT - 50.0, 48.0, sub, 12.5, "start", MUTED, false);
    }
}

fn range_of(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in vals {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    (lo, hi)
}

/// Scatter of canonical (x) against shadow (y) cosines, coloured by phase, with T and t.
pub fn scatter(cal: &Calibration) -> String {
    let h = 640.0;
    let mut svg = Svg::new(W, h);
    let frame_w = W - LEFT - LEGEND_W - 20.0;
    let mut ts: Vec<f64> = vec![cal.canonical_threshold.threshold.decimal()];
    ts.extend(shadow_lines(cal).iter().map(|l| l.1.decimal()));
    let (lo, hi) = range_of(
        cal.pairs
            .iter()
            .flat_map(|p| [p.canonical as f64, p.shadow as f64])
            .chain(ts.iter().copied()),
    );
    let lo = ((lo - 0.02) * 20.0).floor() / 20.0;
    let hi = (((hi + 0.02) * 20.0).ceil() / 20.0).min(1.0).max(lo + 0.05);
    let f = Frame {
        left: LEFT,
        top: 66.0,
        width: frame_w,
        height: h - 66.0 - 62.0,
        x: (lo, hi),
        y: (lo, hi),
    };
    let r = match &cal.pooled.pearson {
        Ok(r) => format!("Pearson r = {r:.3}"),
        Err(_) => "Pearson r undefined".into(),
    };
    let max_points = 20_000usize;
    let stride = cal.pairs.len().div_ceil(max_points).max(1);
    title(
        &mut svg,
        "Canonical vs shadow cosine",
        &format!(
            "{} pairs, {r}; shaded: the models disagree at T and the compromise t{}",
            cal.pairs.len(),
            if stride > 1 {
                format!(" (every {stride}th pair drawn)")
            } else {
                String::new()
            }
        ),
    );
    f.axes(&mut svg, "canonical cosine", "shadow cosine", &|v| {
        let d = tick_decimals(&nice_ticks(lo, hi, 6));
        format!("{v:.d$}")
    });
    svg.raw(&f.clip_def("plot"));
    svg.raw(r#"<g clip-path="url(#plot)">"#);
    let tc = cal.canonical_threshold.threshold.decimal();
    let lines = shadow_lines(cal);
    if let Some((_, t, _, _)) = lines.first() {
        let t = t.decimal();
        // disagreement regions: canonical passes & shadow fails (lower right), and vice versa
        svg.rect(
            f.sx(tc),
            f.sy(t),
            f.right() - f.sx(tc),
            f.bottom() - f.sy(t),
            SHADOW,
            0.06,
        );
        svg.rect(
            f.left,
            f.top,
            f.sx(tc) - f.left,
            f.sy(t) - f.top,
            SHADOW,
            0.06,
        );
    }
    svg.line(
        f.sx(lo),
        f.sy(lo),
        f.sx(hi),
        f.sy(hi),
        "#bbbbbb",
        1.0,
        Dash::Dashed,
    );
    let (rad, op) = match cal.pairs.len() {
        0..=500 => (3.0, 0.7),
        501..=3000 => (2.2, 0.5),
        _ => (1.6, 0.35),
    };
    // largest phase first, so small phases stay visible on top
    let mut order: Vec<&PhaseStats> = cal.phases.iter().filter(|p| p.n > 0).collect();
    order.sort_by_key(|p| std::cmp::Reverse(p.n));
    let drawn: Vec<&crate::analysis::Pair> = cal.pairs.iter().step_by(stride).collect();
    for p in order
        .iter()
        .flat_map(|ph| drawn.iter().filter(move |p| p.phase == ph.name))
    {
        svg.circle(
            f.sx(p.canonical as f64),
            f.sy(p.shadow as f64),
            rad,
            phase_color(cal, &p.phase),
            op,
        );
    }
    svg.line(f.sx(tc), f.top, f.sx(tc), f.bottom(), INK, 1.8, Dash::Solid);
    for (_, t, c, d) in &lines {
        let y = f.sy(t.decimal());
        svg.line(f.left, y, f.right(), y, c, 1.8, *d);
    }
    svg.raw("</g>");
    svg.label(
        f.sx(tc) + 5.0,
        f.top + 16.0,
        &format!("T = {}", cal.canonical_threshold.threshold),
        12.0,
        "start",
        INK,
    );
    let mut entries: Vec<(String, Key)> = cal
        .phases
        .iter()
        .filter(|p| p.n > 0)
        .map(|p| {
            (
                format!("{} (n = {})", p.name, p.n),
                Key::Dot(phase_color(cal, &p.name).into()),
            )
        })
        .collect();
    entries.push((
        format!("canonical T = {}", cal.canonical_threshold.threshold),
        Key::Line(INK.into(), Dash::Solid, 1.8),
    ));
    for (l, _, c, d) in &lines {
        entries.push((l.clone(), Key::Line(c.to_string(), *d, 1.8)));
    }
    entries.push((
        "y = x".into(),
        Key::Line("#bbbbbb".into(), Dash::Dashed, 1.0),
    ));
    svg.legend(f.right() + 22.0, f.top + 10.0, &entries);
    svg.finish("Canonical vs shadow cosine")
}

/// Agreement against the shadow threshold, one curve per phase (and pooled), with the best t
/// of each phase, the compromise, the floor and the feasible range.
pub fn agreement(cal: &Calibration) -> String {
    let h = 600.0;
    let mut svg = Svg::new(W, h);
    let pts = cal.grid.points();
    let (x0, x1) = (
        pts.first().map(|t| t.decimal()).unwrap_or(0.0),
        pts.last().map(|t| t.decimal()).unwrap_or(1.0),
    );
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 0.05, x1 + 0.05)
    };
    let ymin = cal
        .phases
        .iter()
        .chain(std::iter::once(&cal.pooled))
        .flat_map(|p| p.agreement.iter().filter_map(|(_, s)| s.value()))
        .fold(1.0f64, f64::min)
        .min(cal.floor);
    let ylo = ((ymin - 0.02) * 10.0).floor() / 10.0;
    let f = Frame {
        left: LEFT,
        top: 66.0,
        width: W - LEFT - LEGEND_W - 20.0,
        height: h - 66.0 - 62.0,
        x: (x0, x1),
        y: (ylo.max(0.0), 1.0),
    };
    let sub = match &cal.compromise {
        Some(c) => format!(
            "T = {} (canonical); compromise t = {} keeps every phase at {} or more",
            cal.canonical_threshold.threshold,
            c.threshold,
            c.min_agreement.percent()
        ),
        None => format!("T = {} (canonical)", cal.canonical_threshold.threshold),
    };
    title(
        &mut svg,
        "Agreement with the canonical verdict by shadow threshold",
        &sub,
    );
    f.axes(
        &mut svg,
        "shadow threshold t",
        "agreement (share of pairs)",
        &pct,
    );
    svg.raw(&f.clip_def("plot"));
    svg.raw(r#"<g clip-path="url(#plot)">"#);
    if let Some(c) = &cal.compromise {
        if let Some((lo, hi)) = &c.feasible {
            let (a, b) = (f.sx(lo.decimal()), f.sx(hi.decimal()));
            svg.rect(a, f.top, (b - a).max(2.0), f.height, "#2ca02c", 0.10);
        }
    }
    svg.line(
        f.left,
        f.sy(cal.floor),
        f.right(),
        f.sy(cal.floor),
        MUTED,
        1.2,
        Dash::Dotted,
    );
    let curve = |p: &PhaseStats| -> Vec<(f64, f64)> {
        p.agreement
            .iter()
            .filter_map(|(t, s)| s.value().map(|v| (f.sx(t.decimal()), f.sy(v))))
            .collect()
    };
    let used: Vec<&PhaseStats> = cal.phases.iter().filter(|p| p.n > 0).collect();
    if used.len() > 1 {
        svg.polyline(&curve(&cal.pooled), "#555555", 1.6, Dash::Dashed);
    }
    for p in &used {
        svg.polyline(&curve(p), phase_color(cal, &p.name), 2.2, Dash::Solid);
    }
    if let Some(c) = &cal.compromise {
        let x = f.sx(c.threshold.decimal());
        svg.line(x, f.top, x, f.bottom(), SHADOW, 1.8, Dash::Solid);
    }
    let conf = cal.shadow_configured.threshold.decimal();
    if conf >= x0 && conf <= x1 {
        svg.line(
            f.sx(conf),
            f.top,
            f.sx(conf),
            f.bottom(),
            CONFIGURED,
            1.5,
            Dash::Dashed,
        );
    }
    svg.raw("</g>");
    // best-t markers (their values are in the legend)
    for p in &used {
        if let Some((t, s)) = &p.best {
            let (x, y) = (f.sx(t.decimal()), f.sy(s.value().unwrap_or(0.0)));
            svg.ring(x, y, 5.5, "#ffffff", phase_color(cal, &p.name));
        }
    }
    if let Some(c) = &cal.compromise {
        let x = f.sx(c.threshold.decimal());
        svg.label(
            x + 5.0,
            f.bottom() - 10.0,
            &format!("compromise {}", c.threshold),
            12.0,
            "start",
            SHADOW,
        );
    }
    svg.label(
        f.left + 6.0,
        f.sy(cal.floor) - 5.0,
        &format!("floor {:.0}%", cal.floor * 100.0),
        11.5,
        "start",
        MUTED,
    );
    let mut entries: Vec<(String, Key)> = Vec::new();
    for p in &used {
        let c = phase_color(cal, &p.name);
        entries.push((
            format!("{} (n = {})", p.name, p.n),
            Key::Line(c.into(), Dash::Solid, 2.2),
        ));
        if let Some((t, s)) = &p.best {
            entries.push((
                format!("best t = {t}: {}", s.percent()),
                Key::Ring(c.into()),
            ));
        }
    }
    if used.len() > 1 {
        entries.push((
            format!("pooled (n = {})", cal.pooled.n),
            Key::Line("#555555".into(), Dash::Dashed, 1.6),
        ));
    }
    if let Some(c) = &cal.compromise {
        entries.push((
            format!("compromise t = {}", c.threshold),
            Key::Line(SHADOW.into(), Dash::Solid, 1.8),
        ));
        if c.feasible.is_some() {
            entries.push(("every phase ≥ floor".into(), Key::Area("#2ca02c".into())));
        }
    }
    if conf >= x0 && conf <= x1 {
        entries.push((
            format!("configured t = {}", cal.shadow_configured.threshold),
            Key::Line(CONFIGURED.into(), Dash::Dashed, 1.5),
        ));
    }
    entries.push((
        format!("floor {:.0}%", cal.floor * 100.0),
        Key::Line(MUTED.into(), Dash::Dotted, 1.2),
    ));
    svg.legend(f.right() + 22.0, f.top + 10.0, &entries);
    svg.finish("Agreement by shadow threshold")
}

/// Overlaid histograms of the canonical and shadow cosines: pooled, then each phase.
pub fn histograms(cal: &Calibration) -> String {
    let scopes: Vec<&PhaseStats> = std::iter::once(&cal.pooled)
        .chain(cal.phases.iter().filter(|p| p.n > 0))
        .take(7)
        .collect();
    let scopes: Vec<&PhaseStats> = if cal.phases.iter().filter(|p| p.n > 0).count() <= 1 {
        vec![&cal.pooled]
    } else {
        scopes
    };
    let panel_h = 230.0;
    let top0 = 70.0;
    let h = top0 + panel_h * scopes.len() as f64 + 20.0;
    let mut svg = Svg::new(W, h);
    let lines = shadow_lines(cal);
    let tc = cal.canonical_threshold.threshold.decimal();
    let mut all: Vec<f64> = cal
        .pairs
        .iter()
        .flat_map(|p| [p.canonical as f64, p.shadow as f64])
        .collect();
    all.push(tc);
    all.extend(lines.iter().map(|l| l.1.decimal()));
    let (lo, hi) = range_of(all.into_iter());
    let lo = ((lo - 0.01) * 20.0).floor() / 20.0;
    let hi = (((hi + 0.01) * 20.0).ceil() / 20.0).min(1.0).max(lo + 0.05);
    let bins = 50usize;
    let bw = (hi - lo) / bins as f64;
    title(
        &mut svg,
        "Cosine distributions: canonical and shadow",
        "share of pairs per bin; a threshold far in one model's tail passes (or rejects) almost everything",
    );
    for (k, s) in scopes.iter().enumerate() {
        let pairs: Vec<(f32, f32)> = cal
            .pairs
            .iter()
            .filter(|p| s.name == POOLED || p.phase == s.name)
            .map(|p| (p.canonical, p.shadow))
            .collect();
        let hist = |v: &mut dyn Iterator<Item = f32>| {
            let mut h = vec![0usize; bins];
            let mut n = 0usize;
            for x in v {
                let i = (((x as f64 - lo) / bw).floor().max(0.0) as usize).min(bins - 1);
                h[i] += 1;
                n += 1;
            }
            h.into_iter()
                .map(|c| c as f64 / n.max(1) as f64)
                .collect::<Vec<f64>>()
        };
        let hc = hist(&mut pairs.iter().map(|p| p.0));
        let hs = hist(&mut pairs.iter().map(|p| p.1));
        let ymax = hc
            .iter()
            .chain(&hs)
            .fold(0.0f64, |a, &b| a.max(b))
            .max(0.01)
            * 1.12;
        let f = Frame {
            left: LEFT,
            top: top0 + panel_h * k as f64 + 18.0,
            width: W - LEFT - LEGEND_W - 20.0,
            height: panel_h - 80.0,
            x: (lo, hi),
            y: (0.0, ymax),
        };
        let name = if s.name == POOLED {
            format!("all phases (n = {})", s.n)
        } else {
            format!("phase {} (n = {})", s.name, s.n)
        };
        svg.text(f.left, f.top - 6.0, &name, 13.5, "start", INK, true);
        f.axes(
            &mut svg,
            if k + 1 == scopes.len() { "cosine" } else { "" },
            "share",
            &|v| format!("{:.0}%", v * 100.0),
        );
        let clip = format!("p{k}");
        svg.raw(&f.clip_def(&clip));
        svg.raw(&format!(r#"<g clip-path="url(#{clip})">"#));
        for (hh, color) in [(&hc, CANONICAL), (&hs, SHADOW)] {
            let mut poly = vec![(f.sx(lo), f.sy(0.0))];
            for (i, &v) in hh.iter().enumerate() {
                let (a, b) = (lo + i as f64 * bw, lo + (i + 1) as f64 * bw);
                poly.push((f.sx(a), f.sy(v)));
                poly.push((f.sx(b), f.sy(v)));
            }
            poly.push((f.sx(hi), f.sy(0.0)));
            svg.polygon(&poly, color, 0.28, Some(color));
        }
        svg.line(
            f.sx(tc),
            f.top,
            f.sx(tc),
            f.bottom(),
            CANONICAL,
            2.0,
            Dash::Solid,
        );
        for (_, t, c, d) in &lines {
            let x = f.sx(t.decimal());
            svg.line(x, f.top, x, f.bottom(), c, 2.0, *d);
        }
        svg.raw("</g>");
        // means and pass rates in the panel's legend column
        let mut info: Vec<(String, Key)> = Vec::new();
        if let Ok(m) = &s.canonical.mean {
            info.push((
                format!("canonical: mean {m:.3}"),
                Key::Area(CANONICAL.into()),
            ));
        }
        if let Ok(m) = &s.shadow.mean {
            info.push((format!("shadow: mean {m:.3}"), Key::Area(SHADOW.into())));
        }
        if let Some((_, t, sh)) = s.canonical.pass() {
            info.push((
                format!("T = {t}: canonical passes {}", sh.percent()),
                Key::Line(CANONICAL.into(), Dash::Solid, 2.0),
            ));
        }
        for (l, t, c, d) in &lines {
            let k = pairs.iter().filter(|p| t.passes(p.1)).count() as u64;
            let share = crate::analysis::Share {
                k,
                n: pairs.len() as u64,
            };
            let short = l.trim_start_matches("shadow ");
            info.push((
                format!("{short}: {}", share.percent()),
                Key::Line(c.to_string(), *d, 2.0),
            ));
        }
        svg.legend(f.right() + 22.0, f.top + 8.0, &info);
    }
    svg.finish("Cosine distributions")
}

/// ROC curves of both models against the gold labels (pooled), or `None` without both
/// classes.
pub fn roc(cal: &Calibration) -> Option<String> {
    let l = cal.pooled.labels.as_ref()?;
    if l.canonical.roc.is_empty() || l.shadow.roc.is_empty() {
        return None;
    }
    let h = 620.0;
    let side = h - 66.0 - 62.0;
    let mut svg = Svg::new(LEFT + side + 330.0, h);
    let f = Frame {
        left: LEFT,
        top: 66.0,
        width: side,
        height: side,
        x: (0.0, 1.0),
        y: (0.0, 1.0),
    };
    title(
        &mut svg,
        "ROC curves against the gold labels",
        &format!(
            "{} labelled pairs ({} match, {} not)",
            l.n, l.positives, l.negatives
        ),
    );
    f.axes(
        &mut svg,
        "false positive rate",
        "true positive rate",
        &|v| format!("{v:.1}"),
    );
    svg.line(
        f.sx(0.0),
        f.sy(0.0),
        f.sx(1.0),
        f.sy(1.0),
        "#bbbbbb",
        1.0,
        Dash::Dashed,
    );
    let auc = |s: &crate::stats::Stat| {
        s.as_ref()
            .map(|v| format!("{v:.3}"))
            .unwrap_or("undefined".into())
    };
    for (roc, c) in [(&l.canonical.roc, CANONICAL), (&l.shadow.roc, SHADOW)] {
        // at most ~1500 vertices (keeps the last); invisible at this size
        let step = roc.len().div_ceil(1500).max(1);
        let mut pts: Vec<(f64, f64)> = roc
            .iter()
            .step_by(step)
            .map(|&(x, y)| (f.sx(x), f.sy(y)))
            .collect();
        if let Some(&(x, y)) = roc.last() {
            pts.push((f.sx(x), f.sy(y)));
        }
        svg.polyline(&pts, c, 2.2, Dash::Solid);
    }
    let mut entries = vec![
        (
            format!("canonical (AUC {})", auc(&l.canonical.auc)),
            Key::Line(CANONICAL.into(), Dash::Solid, 2.2),
        ),
        (
            format!("shadow (AUC {})", auc(&l.shadow.auc)),
            Key::Line(SHADOW.into(), Dash::Solid, 2.2),
        ),
    ];
    for m in &l.at_thresholds {
        let c = &m.confusion;
        let (pos, neg) = (c.tp + c.fn_, c.fp + c.tn);
        if pos == 0 || neg == 0 {
            continue;
        }
        let (x, y) = (c.fp as f64 / neg as f64, c.tp as f64 / pos as f64);
        let color = match (m.model, m.which.as_str()) {
            ("canonical", _) => CANONICAL,
            (_, "configured") => CONFIGURED,
            (_, "proposed") => PROPOSED,
            _ => SHADOW,
        };
        svg.ring(f.sx(x), f.sy(y), 5.5, "#ffffff", color);
        entries.push((
            format!(
                "{} at {} = {}",
                m.model,
                if m.which == "T" {
                    "T"
                } else {
                    m.which.as_str()
                },
                m.threshold
            ),
            Key::Ring(color.into()),
        ));
    }
    entries.push((
        "chance".into(),
        Key::Line("#bbbbbb".into(), Dash::Dashed, 1.0),
    ));
    svg.legend(f.right() + 30.0, f.top + 10.0, &entries);
    Some(svg.finish("ROC curves"))
}
