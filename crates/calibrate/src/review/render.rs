//! The tally as text for a terminal: counts with shares and Wilson intervals, the sign test,
//! the breakdowns by direction and phase, and the conclusion.

use super::sign_test::fmt_p;
use super::tally::{Counts, Tally};
use crate::stats;
use crate::text::Table;
use std::collections::BTreeMap;
use std::fmt::Write;

impl Tally {
    /// Tables and the conclusion, for a terminal.
    pub fn render_text(&self) -> String {
        let mut o = String::new();
        self.write_header(&mut o);
        self.write_verdicts(&mut o);
        self.write_sign_test(&mut o);
        for (title, map) in [("direction", &self.by_direction), ("phase", &self.by_phase)] {
            if map.len() > 1 || (title == "direction" && !map.is_empty()) {
                write_breakdown(&mut o, title, map);
            }
        }
        let _ = writeln!(o, "\n{}", self.conclusion());
        o
    }

    /// The file, its row counts, and the first lines not yet reviewed.
    fn write_header(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "review tally: {} — {} rows, {} reviewed, {} not yet reviewed",
            self.path.display(),
            self.rows,
            self.counts.reviewed(),
            self.unreviewed.len()
        );
        if !self.unreviewed.is_empty() {
            let lines: Vec<String> = self
                .unreviewed
                .iter()
                .take(10)
                .map(|l| l.to_string())
                .collect();
            let _ = writeln!(
                o,
                "  not yet reviewed (empty verdict) on line(s) {}{}; the tally covers the reviewed rows only",
                lines.join(", "),
                if self.unreviewed.len() > 10 { ", ..." } else { "" }
            );
        }
    }

    /// Each verdict's count, share and Wilson interval among the reviewed rows.
    fn write_verdicts(&self, o: &mut String) {
        let c = &self.counts;
        let n = c.reviewed();
        let mut t = Table::new(&["verdict", "count", "share", "95% Wilson CI"], 1);
        for (name, k) in [
            ("canonical right", c.canonical),
            ("shadow right", c.shadow),
            ("both right", c.both),
            ("neither right", c.neither),
        ] {
            t.row(vec![
                name.into(),
                k.to_string(),
                pct(k, n),
                wilson_text(k, n),
            ]);
        }
        o.push('\n');
        o.push_str(&t.render("  "));
    }

    /// Canonical-right against shadow-right and the sign test, when either occurs.
    fn write_sign_test(&self, o: &mut String) {
        let c = &self.counts;
        let decisive = c.canonical + c.shadow;
        if decisive > 0 {
            let _ = writeln!(
                o,
                "\n  canonical vs shadow (rows where exactly one was right): {} vs {}; canonical's share {} {}",
                c.canonical,
                c.shadow,
                pct(c.canonical, decisive),
                wilson_text(c.canonical, decisive)
            );
            let _ = writeln!(
                o,
                "  exact two-sided sign test (binomial, p = 1/2): p = {}",
                c.sign_test().map(fmt_p).unwrap_or("n/a".into())
            );
        }
    }
}

/// The verdict counts and sign test of each value of a column (`direction` or `phase`).
fn write_breakdown(o: &mut String, title: &str, map: &BTreeMap<String, Counts>) {
    let mut t = Table::new(
        &[
            title,
            "canonical",
            "shadow",
            "both",
            "neither",
            "sign test p",
        ],
        1,
    );
    for (k, v) in map {
        t.row(vec![
            k.clone(),
            v.canonical.to_string(),
            v.shadow.to_string(),
            v.both.to_string(),
            v.neither.to_string(),
            v.sign_test().map(fmt_p).unwrap_or("-".into()),
        ]);
    }
    let _ = writeln!(o, "\n  by {title}");
    o.push_str(&t.render("  "));
}

/// `k / n` as a percentage with one decimal, or `n/a`.
fn pct(k: u64, n: u64) -> String {
    if n == 0 {
        "n/a".into()
    } else {
        format!("{:.1}%", k as f64 / n as f64 * 100.0)
    }
}

/// The 95% Wilson interval of `k / n` in percent, or `n/a`.
fn wilson_text(k: u64, n: u64) -> String {
    match stats::wilson_95(k, n) {
        Ok((lo, hi)) => format!("[{:.1}%, {:.1}%]", lo * 100.0, hi * 100.0),
        Err(_) => "n/a".into(),
    }
}
