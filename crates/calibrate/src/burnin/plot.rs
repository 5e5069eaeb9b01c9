//! `--report DIR`: the running pass rate of each phase over the burn-in against the band the
//! expectation allows, as SVG and PNG (the calibration report's SVG writer and rasteriser).

use super::BurnIn;
use crate::error::Result;
use crate::report::svg::{Dash, Frame, Key, Svg, INK, MUTED, PALETTE};
use crate::report::{fonts, not_written, rasterise, ReportOptions, Staged};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const W: f64 = 980.0;
const H: f64 = 600.0;
const LEFT: f64 = 78.0;
const LEGEND_W: f64 = 260.0;

/// The plot as SVG.
pub fn pass_rate_svg(b: &BurnIn) -> String {
    let mut svg = Svg::new(W, H);
    // x: hours since the first record (or record numbers)
    let x0 = b
        .measured
        .values()
        .flat_map(|m| m.series.first().map(|s| s.0))
        .min()
        .unwrap_or(0);
    let scale = if b.timed() { 3_600_000.0 } else { 1.0 };
    let x = |v: i64| (v - x0) as f64 / scale;
    let x1 = b
        .measured
        .values()
        .flat_map(|m| m.series.last().map(|s| x(s.0)))
        .fold(0.0f64, f64::max);
    let f = Frame {
        left: LEFT,
        top: 66.0,
        width: W - LEFT - LEGEND_W - 20.0,
        height: H - 66.0 - 62.0,
        x: (0.0, if x1 > 0.0 { x1 } else { 1.0 }),
        y: (0.0, 1.0),
    };
    svg.text(
        LEFT - 50.0,
        28.0,
        "Burn-in: pass rate over time against the expectation",
        18.0,
        "start",
        INK,
        true,
    );
    svg.text(
        LEFT - 50.0,
        48.0,
        &format!(
            "{} at {}: running pass rate per phase; bands are the calibration's 95% intervals. Decision: {}",
            b.expectation.canonical.model,
            b.expectation.canonical.threshold,
            b.decision.as_str()
        ),
        12.5,
        "start",
        MUTED,
        false,
    );
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    f.axes(
        &mut svg,
        if b.timed() {
            "hours since the first burn-in record"
        } else {
            "record number"
        },
        "pass rate (running)",
        &pct,
    );
    svg.raw(&f.clip_def("plot"));
    svg.raw(r#"<g clip-path="url(#plot)">"#);
    let mut legend = Vec::new();
    for (i, p) in b.phases.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let e = &p.pass_rate.expected;
        let (lo, hi) = (f.sy(e.interval[1]), f.sy(e.interval[0]));
        svg.rect(f.left, lo, f.width, (hi - lo).max(1.0), colour, 0.12);
        svg.line(
            f.left,
            f.sy(e.share),
            f.right(),
            f.sy(e.share),
            colour,
            1.2,
            Dash::Dashed,
        );
        let mut k = 0u64;
        let pts: Vec<(f64, f64)> = b
            .measured
            .get(&p.name)
            .map(|m| {
                m.series
                    .iter()
                    .enumerate()
                    .map(|(j, (t, pass))| {
                        k += *pass as u64;
                        (f.sx(x(*t)), f.sy(k as f64 / (j + 1) as f64))
                    })
                    .collect()
            })
            .unwrap_or_default();
        svg.polyline(&pts, colour, 2.0, Dash::Solid);
        legend.push((
            format!("{} ({})", p.name, p.decision.as_str()),
            Key::Line(colour.to_string(), Dash::Solid, 2.0),
        ));
        legend.push((
            format!("{} expected {:.1}%", p.name, e.share * 100.0),
            Key::Area(colour.to_string()),
        ));
    }
    svg.raw("</g>");
    svg.legend(f.right() + 20.0, f.top + 10.0, &legend);
    svg.finish("burn-in pass rate")
}

/// The files of a burn-in report; `burn_in.json` says what the figures show.
const REPORT_FILES: [&str; 3] = ["pass_rate.svg", "pass_rate.png", "burn_in.json"];

/// Writes `pass_rate.svg`, `pass_rate.png` and `burn_in.json` into `dir` (created if
/// needed); returns the files written.
///
/// The three are written whole or not at all, as [`crate::write_report`] writes its report: a
/// failure (a full disk, a plot that cannot be rendered) leaves an earlier report in `dir` as
/// it was — never its `burn_in.json`, with an earlier decision, beside new figures.
pub fn write_plot(b: &BurnIn, dir: &Path, opts: &ReportOptions) -> Result<Vec<PathBuf>> {
    let mut out = Staged::begin(dir, &REPORT_FILES, "burn_in.json")?;
    let mut fill = || -> Result<()> {
        let svg = pass_rate_svg(b);
        let (db, family) = fonts(&opts.font);
        let mut uopt = resvg::usvg::Options::default();
        if let Some(f) = &family {
            uopt.font_family = f.clone();
        }
        uopt.fontdb = Arc::new(db);
        let png = rasterise(&svg, &dir.join("pass_rate.png"), &uopt, opts.png_scale)?;
        let json = serde_json::to_string_pretty(&b.to_json()).unwrap_or_default();
        out.write("pass_rate.svg", svg.as_bytes())?;
        out.write("pass_rate.png", &png)?;
        out.write("burn_in.json", json.as_bytes())?;
        Ok(())
    };
    fill().map_err(|e| not_written(dir, e))?;
    Ok(out.commit()?.iter().map(|f| dir.join(f)).collect())
}
