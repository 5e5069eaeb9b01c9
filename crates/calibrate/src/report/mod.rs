//! The calibration report: plots as SVG and PNG, one self-contained HTML page, a Markdown
//! summary, and the JSON and text summaries.
//!
//! The SVG files are written by hand (module `svg`); the PNG files are the same SVG rasterised
//! with resvg (pure Rust). Text in the PNG needs a font: by default the system fonts are
//! scanned (or the file/folder named by `TITLESIM_FONT`); when none is found the PNG files are
//! still written and decode fine, but carry no text — [`Report::png_font`] is then `None` and
//! the report says so. The SVG and HTML files are unaffected (browsers use their own fonts).

mod plots;
mod staged;
pub(crate) mod svg;

pub(crate) use staged::{not_written, Staged};

use crate::analysis::Calibration;
use crate::error::{CalibrateError, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which fonts the PNG rasteriser may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FontChoice {
    /// The file or folder in `TITLESIM_FONT` if set, else the system's fonts.
    #[default]
    System,
    /// This font file or folder of fonts only.
    Path(PathBuf),
    /// No font: PNG files without text (for tests of the fallback).
    NoText,
}

/// How to write the report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Fonts for PNG text.
    pub font: FontChoice,
    /// PNG pixels per SVG unit (the SVGs are about 980 units wide).
    pub png_scale: f32,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            font: FontChoice::System,
            png_scale: 1.5,
        }
    }
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Report {
    /// The report folder.
    pub dir: PathBuf,
    /// Every file written, relative to `dir`.
    pub files: Vec<PathBuf>,
    /// The HTML page.
    pub html: PathBuf,
    /// The Markdown summary.
    pub markdown: PathBuf,
    /// The font family used for PNG text, or `None` when no font was found (PNGs have no
    /// text then).
    pub png_font: Option<String>,
}

struct Figure {
    stem: &'static str,
    caption: String,
    svg: String,
}

/// Every file a report may write (the figures' SVG and PNG, the documents).
const REPORT_FILES: [&str; 12] = [
    "agreement.svg",
    "agreement.png",
    "scatter.svg",
    "scatter.png",
    "histograms.svg",
    "histograms.png",
    "roc.svg",
    "roc.png",
    "calibration.json",
    "summary.txt",
    "summary.md",
    "index.html",
];

/// Loads fonts for the rasteriser; returns the database and the family to use (if any).
pub(crate) fn fonts(choice: &FontChoice) -> (resvg::usvg::fontdb::Database, Option<String>) {
    let mut db = resvg::usvg::fontdb::Database::new();
    let load_path = |db: &mut resvg::usvg::fontdb::Database, p: &Path| {
        if p.is_dir() {
            db.load_fonts_dir(p);
        } else {
            let _ = db.load_font_file(p);
        }
    };
    match choice {
        FontChoice::NoText => {}
        FontChoice::Path(p) => load_path(&mut db, p),
        FontChoice::System => match std::env::var_os("TITLESIM_FONT") {
            Some(p) if !p.is_empty() => load_path(&mut db, Path::new(&p)),
            _ => db.load_system_fonts(),
        },
    }
    let families: Vec<String> = db
        .faces()
        .filter_map(|f| f.families.first().map(|(n, _)| n.clone()))
        .collect();
    let preferred = [
        "DejaVu Sans",
        "Liberation Sans",
        "Arial",
        "Helvetica",
        "Noto Sans",
        "FreeSans",
        "Verdana",
    ];
    let family = preferred
        .iter()
        .find(|p| families.iter().any(|f| f == *p))
        .map(|s| s.to_string())
        .or_else(|| families.first().cloned());
    if let Some(f) = &family {
        db.set_sans_serif_family(f.clone());
    }
    (db, family)
}

pub(crate) fn rasterise(
    svg: &str,
    path: &Path,
    opt: &resvg::usvg::Options,
    scale: f32,
) -> Result<Vec<u8>> {
    let err = |m: String| CalibrateError::Render {
        path: path.to_path_buf(),
        message: m,
    };
    let tree = resvg::usvg::Tree::from_str(svg, opt).map_err(|e| err(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w.max(1), h.max(1))
        .ok_or_else(|| err(format!("cannot allocate a {w}x{h} image")))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| err(e.to_string()))
}

/// Writes the report into `dir` (created if needed): `scatter`, `agreement`, `histograms`
/// and (with gold labels) `roc` as `.svg` and `.png`; `index.html` (self-contained: the SVGs
/// inline, no scripts, no network); `summary.md` (embeds the PNGs); `calibration.json` and
/// `summary.txt`.
///
/// The report is written whole or not at all: the files go into a hidden folder inside `dir`
/// first and are moved in only when every one is written, so an error (a full disk, a plot that
/// cannot be rendered) leaves an earlier report in `dir` as it was. An earlier report's file
/// this one does not write (`roc` without gold labels) is removed; other files in `dir` are
/// left alone.
pub fn write_report(cal: &Calibration, dir: &Path, opts: &ReportOptions) -> Result<Report> {
    if !(opts.png_scale > 0.0 && opts.png_scale <= 8.0) {
        return Err(CalibrateError::invalid(format!(
            "PNG scale {} is outside 0..=8",
            opts.png_scale
        )));
    }
    // The new report is written beside the old one and moved in whole: a run that fails half
    // way leaves the earlier report as it was (never its calibration.json, which promote
    // reads, beside new figures), and a run without gold labels removes an old roc figure.
    let mut out = Staged::begin(dir, &REPORT_FILES, "calibration.json")?;
    let mut fill = || -> Result<Option<String>> {
        let mut figures = vec![
            Figure {
                stem: "agreement",
                caption: "Agreement with the canonical verdict for each shadow threshold t, per phase: the best t of each phase (rings), the compromise (red line), the floor (dotted) and the range where every phase stays above it (green band).".into(),
                svg: plots::agreement(cal),
            },
            Figure {
                stem: "scatter",
                caption: "Each pair's canonical cosine (x) against its shadow cosine (y), coloured by phase, with the canonical threshold T (vertical) and the shadow thresholds (horizontal). The shaded quadrants are where the two models disagree at the compromise.".into(),
                svg: plots::scatter(cal),
            },
            Figure {
                stem: "histograms",
                caption: "The two cosine distributions overlaid, pooled and per phase, with the thresholds and the share of pairs each passes.".into(),
                svg: plots::histograms(cal),
            },
        ];
        if let Some(svg) = plots::roc(cal) {
            figures.push(Figure {
                stem: "roc",
                caption: "ROC curves of both models against the gold labels; rings mark the configured thresholds.".into(),
                svg,
            });
        }
        let (db, family) = fonts(&opts.font);
        let mut uopt = resvg::usvg::Options::default();
        if let Some(f) = &family {
            uopt.font_family = f.clone();
        }
        uopt.fontdb = Arc::new(db);

        for fig in &figures {
            out.write(&format!("{}.svg", fig.stem), fig.svg.as_bytes())?;
            let png_path = dir.join(format!("{}.png", fig.stem));
            let png = rasterise(&fig.svg, &png_path, &uopt, opts.png_scale)?;
            out.write(&format!("{}.png", fig.stem), &png)?;
        }
        let json = serde_json::to_string_pretty(&crate::json::to_json(cal)).unwrap_or_default();
        out.write("calibration.json", json.as_bytes())?;
        let text = crate::text::render_text(cal);
        out.write("summary.txt", text.as_bytes())?;
        let font_note = family.is_none().then(|| {
            "No font was found on this machine, so the PNG images have no text (axes, labels and legends are missing); the SVG images and this page are complete. Set TITLESIM_FONT to a .ttf/.otf file or a folder of fonts to fix the PNGs.".to_string()
        });
        let md = markdown(cal, &figures, font_note.as_deref());
        out.write("summary.md", md.as_bytes())?;
        let html = html(cal, &figures, &text, font_note.as_deref());
        out.write("index.html", html.as_bytes())?;
        Ok(family)
    };
    let family = fill().map_err(|e| not_written(dir, e))?;
    let files = out.commit()?;
    Ok(Report {
        dir: dir.to_path_buf(),
        files,
        html: dir.join("index.html"),
        markdown: dir.join("summary.md"),
        png_font: family,
    })
}

fn headline_rows(cal: &Calibration) -> Vec<[String; 7]> {
    cal.phases
        .iter()
        .chain(std::iter::once(&cal.pooled))
        .map(|s| {
            [
                s.name.clone(),
                s.n.to_string(),
                crate::text::num(&s.pearson, 3),
                crate::text::num(&s.spearman, 3),
                s.best
                    .as_ref()
                    .map(|b| b.0.label.clone())
                    .unwrap_or("-".into()),
                s.best.as_ref().map(|b| b.1.percent()).unwrap_or("-".into()),
                s.at_configured.map(|a| a.percent()).unwrap_or("-".into()),
            ]
        })
        .collect()
}

const HEADLINE: [&str; 7] = [
    "phase",
    "pairs",
    "Pearson r",
    "Spearman rho",
    "best t",
    "agreement at best t",
    "at configured t",
];

fn compromise_sentence(cal: &Calibration) -> String {
    match &cal.compromise {
        None => "No compromise: no phase has pairs.".into(),
        Some(c) => {
            let per = c
                .per_phase
                .iter()
                .map(|(p, s)| format!("{p} {}", s.percent()))
                .collect::<Vec<_>>()
                .join(", ");
            let floor = format!("{:.0}%", c.floor * 100.0);
            let range = match &c.feasible {
                Some((lo, hi)) => format!(
                    "every phase stays at or above the {floor} floor for t from {lo} to {hi}"
                ),
                None => format!(
                    "no threshold on the grid keeps every phase at or above the {floor} floor"
                ),
            };
            format!(
                "Compromise shadow threshold t = {} (canonical T = {}): lowest agreement {} ({per}); {range}.",
                c.threshold,
                cal.canonical_threshold.threshold,
                c.min_agreement.percent()
            )
        }
    }
}

/// Text holding names from the logs (phases, models) as Markdown shows it, as plain text: no
/// raw HTML (`<img ...>` would be rendered); no image, link, emphasis or code span (a phase
/// `![x](https://...)` fetched a remote image); a `|` cannot add a table column; a line break
/// cannot end a list item or a table row.
fn md_text(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\n' | '\r' => o.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '~' | '|' => {
                o.push('\\');
                o.push(c);
            }
            c => o.push(c),
        }
    }
    o
}

fn markdown(cal: &Calibration, figures: &[Figure], font_note: Option<&str>) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "# Shadow calibration\n");
    let _ = writeln!(
        o,
        "Canonical: {} at T = {}. Shadow: {} (configured t = {}). {} pairs from {} records (excluded: {}).\n",
        md_text(&cal.canonical_models.join(", ")),
        cal.canonical_threshold.threshold,
        md_text(&cal.shadow_models.join(", ")),
        cal.shadow_configured.threshold,
        cal.pairs.len(),
        cal.records,
        cal.excluded.describe()
    );
    if !cal.warnings.is_empty() {
        let _ = writeln!(o, "> **WARNING**");
        for w in &cal.warnings {
            let _ = writeln!(o, "> - {}", md_text(w));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "| {} |", HEADLINE.join(" | "));
    let _ = writeln!(o, "|---|{}", "---:|".repeat(HEADLINE.len() - 1));
    for r in headline_rows(cal) {
        let cells: Vec<String> = r.iter().map(|c| md_text(c)).collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    let _ = writeln!(o, "\n{}\n", md_text(&compromise_sentence(cal)));
    if let Some(n) = font_note {
        let _ = writeln!(o, "_{n}_\n");
    }
    for f in figures {
        let _ = writeln!(
            o,
            "![{stem}]({stem}.png)\n\n{} ([SVG]({stem}.svg))\n",
            f.caption,
            stem = f.stem
        );
    }
    if !cal.notes.is_empty() {
        let _ = writeln!(o, "Notes:\n");
        for n in &cal.notes {
            let _ = writeln!(o, "- {}", md_text(n));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "Full tables: [summary.txt](summary.txt); machine-readable: [calibration.json](calibration.json)."
    );
    o
}

fn html(cal: &Calibration, figures: &[Figure], text: &str, font_note: Option<&str>) -> String {
    use std::fmt::Write;
    let e = svg::esc;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>titlesim shadow calibration</title>
<style>
body {{ font-family: "DejaVu Sans", "Liberation Sans", Arial, Helvetica, sans-serif; color: #222; max-width: 1040px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }}
.meta {{ color: #555; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f5f5f5; }}
.warn {{ border: 2px solid #d62728; background: #fdecea; padding: 0.6em 1em; margin: 1em 0; }}
.warn strong {{ color: #d62728; }}
.note {{ background: #fff8e1; padding: 0.5em 1em; }}
figure {{ margin: 2em 0; }}
figure svg {{ max-width: 100%; height: auto; border: 1px solid #eee; }}
figcaption {{ color: #444; font-size: 0.95em; }}
pre {{ background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 0.8em; }}
</style></head><body>
<h1>Shadow calibration</h1>
<p class="meta">Canonical: {} at T = {} ({}). Shadow: {} (configured t = {}). {} pairs from {} records; excluded: {}{}.</p>
"#,
        e(&cal.canonical_models.join(", ")),
        e(&cal.canonical_threshold.threshold.label),
        e(match cal.canonical_threshold.source_name() {
            "given" => "given",
            _ => "from the logs",
        }),
        e(&cal.shadow_models.join(", ")),
        e(&cal.shadow_configured.threshold.label),
        cal.pairs.len(),
        cal.records,
        e(&cal.excluded.describe()),
        if cal.skipped.is_empty() {
            String::new()
        } else {
            format!("; {} unreadable log line(s) skipped", cal.skipped.len())
        }
    );
    if !cal.warnings.is_empty() {
        let _ = writeln!(o, r#"<div class="warn"><strong>WARNING</strong><ul>"#);
        for w in &cal.warnings {
            let _ = writeln!(o, "<li>{}</li>", e(w));
        }
        let _ = writeln!(o, "</ul></div>");
    }
    let _ = writeln!(
        o,
        "<table><tr>{}</tr>",
        HEADLINE
            .iter()
            .map(|h| format!("<th>{}</th>", e(h)))
            .collect::<String>()
    );
    for r in headline_rows(cal) {
        let _ = writeln!(
            o,
            "<tr>{}</tr>",
            r.iter()
                .map(|c| format!("<td>{}</td>", e(c)))
                .collect::<String>()
        );
    }
    let _ = writeln!(
        o,
        "</table>\n<p><strong>{}</strong></p>",
        e(&compromise_sentence(cal))
    );
    if let Some(n) = font_note {
        let _ = writeln!(o, r#"<p class="note">{}</p>"#, e(n));
    }
    for f in figures {
        // inline the SVG (without its XML declaration) so the page stands alone
        let body = f.svg.split_once("?>").map(|(_, b)| b).unwrap_or(&f.svg);
        let body = body
            .replace("clipPath id=\"", &format!("clipPath id=\"{}-", f.stem))
            .replace("url(#", &format!("url(#{}-", f.stem));
        let _ = writeln!(
            o,
            r#"<figure id="{stem}">{body}<figcaption>{} Files: <a href="{stem}.svg">{stem}.svg</a>, <a href="{stem}.png">{stem}.png</a>.</figcaption></figure>"#,
            e(&f.caption),
            stem = f.stem
        );
    }
    if !cal.notes.is_empty() {
        let _ = writeln!(o, "<h2>Notes</h2><ul>");
        for n in &cal.notes {
            let _ = writeln!(o, "<li>{}</li>", e(n));
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(
        o,
        r#"<h2>All numbers</h2><p>Also as <a href="calibration.json">calibration.json</a>, <a href="summary.txt">summary.txt</a> and <a href="summary.md">summary.md</a>.</p><pre>{}</pre>
</body></html>"#,
        e(text)
    );
    o
}
