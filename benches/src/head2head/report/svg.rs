//! `head2head.svg`: one horizontal bar per configuration, titles/s at batch 32 on a log scale.

use super::{Report, Row};

/// Where the bars start, their full width, a row's height and where the first row starts.
const LEFT: f64 = 430.0;
const BAR_W: f64 = 420.0;
const ROW_H: f64 = 22.0;
const TOP: f64 = 50.0;
/// The smallest titles/s the log scale shows.
const LO: f64 = 0.1;

impl Report {
    /// Horizontal bars of titles/s at batch 32 (log scale), one per configuration.
    pub(super) fn svg(&self) -> String {
        let rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| {
                r.error.is_none() && r.b32_titles_per_s.is_finite() && r.b32_titles_per_s > 0.0
            })
            .collect();
        let max = rows.iter().map(|r| r.b32_titles_per_s).fold(1.0, f64::max);
        let mut s = self.svg_head(rows.len());
        for (i, r) in rows.iter().enumerate() {
            s += &bar(i, r, max);
        }
        s += "</svg>\n";
        s
    }

    /// The opening tag, the background and the two title lines, for `n` bars.
    fn svg_head(&self, n: usize) -> String {
        let h = TOP + ROW_H * n as f64 + 40.0;
        let w = LEFT + BAR_W + 120.0;
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">titles/s at batch 32 (log scale), {} threads, {} {}</text>\n\
             <text x=\"10\" y=\"38\" fill=\"#555\">{}</text>\n",
            self.threads,
            esc(&self.cpu.arch),
            esc(&self.cpu.model),
            if self.quick { "--quick smoke run: not meaningful" } else { "medians; each configuration in its own process" }
        )
    }
}

/// Bar `i`: its label, the bar (scaled to `max` titles/s) and its value.
fn bar(i: usize, r: &Row, max: f64) -> String {
    let y = TOP + ROW_H * i as f64;
    let color = color(r);
    let bw = ((r.b32_titles_per_s.max(LO) / LO).log10() / (max / LO).log10()) * BAR_W;
    format!(
        "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{} — {}</text>\n\
         <rect x=\"{LEFT:.0}\" y=\"{:.0}\" width=\"{bw:.1}\" height=\"{:.0}\" fill=\"{color}\"/>\n\
         <text x=\"{:.1}\" y=\"{:.0}\">{:.1}</text>\n",
        LEFT - 8.0,
        y + 15.0,
        esc(&r.model),
        esc(&r.engine),
        y + 3.0,
        ROW_H - 6.0,
        LEFT + bw + 5.0,
        y + 15.0,
        r.b32_titles_per_s
    )
}

/// Grey for peers, then one colour per backend.
fn color(r: &Row) -> &'static str {
    if r.peer {
        "#999999"
    } else if r.engine.contains("candle") {
        "#d9822b"
    } else if r.engine.ends_with("ort") {
        "#2b6cd9"
    } else {
        "#2ba36b"
    }
}

/// `s` escaped for SVG text.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
