//! A tiny SVG writer for the report's plots: axes with nice ticks, lines, points, text and a
//! legend. Output is plain SVG 1.1 that browsers and resvg render alike.

use std::fmt::Write;

/// The font list of every text element (the first installed one wins).
pub const FONT_FAMILY: &str = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

/// Colours: canonical, shadow, then phases.
pub const CANONICAL: &str = "#1f77b4";
pub const SHADOW: &str = "#d62728";
pub const CONFIGURED: &str = "#ff7f0e";
pub const PROPOSED: &str = "#b8860b";
/// Phase colours: none of them is a threshold colour (red, orange, gold).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
];
pub const GRID: &str = "#e6e6e6";
pub const INK: &str = "#222222";
pub const MUTED: &str = "#666666";

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Not XML characters (a phase holding one made every report unreadable).
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => o.push(' '),
            '\u{fffe}' | '\u{ffff}' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// Line dash styles.
#[derive(Clone, Copy, PartialEq)]
pub enum Dash {
    Solid,
    Dashed,
    Dotted,
}

impl Dash {
    fn attr(self) -> &'static str {
        match self {
            Dash::Solid => "",
            Dash::Dashed => r#" stroke-dasharray="7 4""#,
            Dash::Dotted => r#" stroke-dasharray="2 3""#,
        }
    }
}

/// What a legend entry looks like.
#[derive(Clone)]
pub enum Key {
    Line(String, Dash, f64),
    Dot(String),
    Ring(String),
    Area(String),
}

pub struct Svg {
    pub w: f64,
    pub h: f64,
    body: String,
}

impl Svg {
    pub fn new(w: f64, h: f64) -> Self {
        Svg {
            w,
            h,
            body: String::new(),
        }
    }

    pub fn raw(&mut self, s: &str) {
        self.body.push_str(s);
        self.body.push('\n');
    }

    #[allow(clippy::too_many_arguments)]
    pub fn line(
        &mut self,
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        stroke: &str,
        width: f64,
        dash: Dash,
    ) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{stroke}" stroke-width="{width}"{}/>"#,
            dash.attr()
        );
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, opacity: f64) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{fill}" fill-opacity="{opacity}"/>"#,
            w.max(0.0),
            h.max(0.0)
        );
    }

    pub fn polyline(&mut self, pts: &[(f64, f64)], stroke: &str, width: f64, dash: Dash) {
        if pts.is_empty() {
            return;
        }
        let mut d = String::new();
        for (x, y) in pts {
            let _ = write!(d, "{x:.2},{y:.2} ");
        }
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="{width}" stroke-linejoin="round"{}/>"#,
            d.trim_end(),
            dash.attr()
        );
    }

    pub fn polygon(&mut self, pts: &[(f64, f64)], fill: &str, opacity: f64, stroke: Option<&str>) {
        if pts.is_empty() {
            return;
        }
        let mut d = String::new();
        for (x, y) in pts {
            let _ = write!(d, "{x:.2},{y:.2} ");
        }
        let stroke = stroke
            .map(|s| format!(r#" stroke="{s}" stroke-width="1.2""#))
            .unwrap_or_default();
        let _ = writeln!(
            self.body,
            r#"<polygon points="{}" fill="{fill}" fill-opacity="{opacity}"{stroke}/>"#,
            d.trim_end()
        );
    }

    pub fn circle(&mut self, x: f64, y: f64, r: f64, fill: &str, opacity: f64) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{x:.2}" cy="{y:.2}" r="{r}" fill="{fill}" fill-opacity="{opacity}"/>"#
        );
    }

    pub fn ring(&mut self, x: f64, y: f64, r: f64, fill: &str, stroke: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{x:.2}" cy="{y:.2}" r="{r}" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>"#
        );
    }

    /// `anchor`: start, middle or end.
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        x: f64,
        y: f64,
        s: &str,
        size: f64,
        anchor: &str,
        fill: &str,
        bold: bool,
    ) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{}>{}</text>"#,
            if bold { r#" font-weight="bold""# } else { "" },
            esc(s)
        );
    }

    pub fn text_rotated(&mut self, x: f64, y: f64, s: &str, size: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-size="{size}" text-anchor="middle" fill="{fill}" transform="rotate(-90 {x:.2} {y:.2})">{}</text>"#,
            esc(s)
        );
    }

    /// A text on a white box, so it stays legible over lines and points.
    pub fn label(&mut self, x: f64, y: f64, s: &str, size: f64, anchor: &str, fill: &str) {
        let w = text_width(s, size);
        let x0 = match anchor {
            "end" => x - w,
            "middle" => x - w / 2.0,
            _ => x,
        };
        let _ = writeln!(
            self.body,
            r##"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="#ffffff" fill-opacity="0.85" rx="2"/>"##,
            x0 - 3.0,
            y - size,
            w + 6.0,
            size * 1.35
        );
        self.text(x, y, s, size, anchor, fill, false);
    }

    pub fn legend(&mut self, x: f64, y: f64, entries: &[(String, Key)]) {
        let size = 12.0;
        let row = 20.0;
        for (i, (label, key)) in entries.iter().enumerate() {
            let cy = y + i as f64 * row;
            match key {
                Key::Line(c, d, w) => self.line(x, cy, x + 24.0, cy, c, *w, *d),
                Key::Dot(c) => self.circle(x + 12.0, cy, 4.5, c, 0.9),
                Key::Ring(c) => self.ring(x + 12.0, cy, 5.0, "#ffffff", c),
                Key::Area(c) => self.rect(x + 2.0, cy - 6.0, 20.0, 12.0, c, 0.45),
            }
            self.text(x + 32.0, cy + 4.0, label, size, "start", INK, false);
        }
    }

    pub fn finish(self, title: &str) -> String {
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "\n",
                r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{font}">"#,
                "\n<title>{title}</title>\n",
                r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##,
                "\n{body}</svg>\n"
            ),
            w = self.w,
            h = self.h,
            font = FONT_FAMILY,
            title = esc(title),
            body = self.body
        )
    }
}

/// A rough width of `s` at `size` px in a sans font (for boxes behind labels).
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '|' | '!' | '\'' | '(' | ')' | ' ' => 0.33,
            'm' | 'w' | 'M' | 'W' | '%' => 0.9,
            c if c.is_ascii_uppercase() => 0.68,
            _ => 0.58,
        })
        .sum::<f64>()
        * size
}

/// Ticks at 1, 2 or 5 × 10^k steps covering `[lo, hi]`, about `target` of them.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// Decimals needed to print ticks of this spacing.
pub fn tick_decimals(ticks: &[f64]) -> usize {
    if ticks.len() < 2 {
        return 2;
    }
    let step = (ticks[1] - ticks[0]).abs();
    let mut d = 0;
    while d < 6
        && ((step * 10f64.powi(d as i32)).round() - step * 10f64.powi(d as i32)).abs() > 1e-6
    {
        d += 1;
    }
    d
}

/// A plotting area mapping data coordinates to pixels.
pub struct Frame {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Frame {
    pub fn sx(&self, v: f64) -> f64 {
        self.left + (v - self.x.0) / (self.x.1 - self.x.0) * self.width
    }
    pub fn sy(&self, v: f64) -> f64 {
        self.top + self.height - (v - self.y.0) / (self.y.1 - self.y.0) * self.height
    }
    pub fn right(&self) -> f64 {
        self.left + self.width
    }
    pub fn bottom(&self) -> f64 {
        self.top + self.height
    }
    /// Clip the body of the plot to the frame (use `clip-path="url(#id)"`).
    pub fn clip_def(&self, id: &str) -> String {
        format!(
            r#"<defs><clipPath id="{id}"><rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}"/></clipPath></defs>"#,
            self.left, self.top, self.width, self.height
        )
    }

    /// Gridlines, ticks, tick labels and axis titles. `yfmt` formats y tick values.
    pub fn axes(&self, svg: &mut Svg, xlabel: &str, ylabel: &str, yfmt: &dyn Fn(f64) -> String) {
        let xt = nice_ticks(self.x.0, self.x.1, 8);
        let yt = nice_ticks(self.y.0, self.y.1, 6);
        let xd = tick_decimals(&xt);
        for &v in &xt {
            let x = self.sx(v);
            svg.line(x, self.top, x, self.bottom(), GRID, 1.0, Dash::Solid);
            svg.line(
                x,
                self.bottom(),
                x,
                self.bottom() + 5.0,
                INK,
                1.0,
                Dash::Solid,
            );
            svg.text(
                x,
                self.bottom() + 19.0,
                &format!("{v:.xd$}"),
                12.0,
                "middle",
                INK,
                false,
            );
        }
        for &v in &yt {
            let y = self.sy(v);
            svg.line(self.left, y, self.right(), y, GRID, 1.0, Dash::Solid);
            svg.line(self.left - 5.0, y, self.left, y, INK, 1.0, Dash::Solid);
            svg.text(self.left - 9.0, y + 4.0, &yfmt(v), 12.0, "end", INK, false);
        }
        svg.raw(&format!(
            r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="none" stroke="{INK}" stroke-width="1"/>"#,
            self.left, self.top, self.width, self.height
        ));
        svg.text(
            self.left + self.width / 2.0,
            self.bottom() + 42.0,
            xlabel,
            13.0,
            "middle",
            INK,
            false,
        );
        svg.text_rotated(
            self.left - 50.0,
            self.top + self.height / 2.0,
            ylabel,
            13.0,
            INK,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_nice() {
        let t = nice_ticks(0.0, 1.0, 5);
        assert_eq!(t.len(), 6);
        assert!((t[3] - 0.6).abs() < 1e-12);
        let t = nice_ticks(0.5, 0.99, 8);
        assert!(t.len() >= 4 && t.len() <= 12, "{t:?}");
        assert_eq!(tick_decimals(&[0.5, 0.55]), 2);
        assert_eq!(tick_decimals(&[50.0, 60.0]), 0);
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        // only XML characters come out: a phase named `race\u{fffe}` made the report unreadable
        assert_eq!(esc("r\u{1}a\u{fffe}c\u{ffff}e\u{fffd}"), "r a c e\u{fffd}");
    }
}
