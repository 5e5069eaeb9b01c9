//! Human review of the disagreements: export them to CSV, then tally people's verdicts.
//!
//! **Export** lists every pair where the two models disagree at the chosen thresholds
//! (`(canonical >= T) != (shadow >= t)`), with both cosines, both verdicts, the titles and an
//! empty `verdict` column. An optional sample of N rows is stratified by phase and by
//! direction of disagreement: N is shared out in proportion to stratum sizes (largest
//! remainder), every stratum gets at least one row when N allows, and rows are drawn with a
//! seeded SplitMix64 generator ([`crate::rng`]), so a seed always gives the same sample.
//!
//! **Tally** reads the file back. The `verdict` column says who was right: `canonical`,
//! `shadow`, `both` or `neither` (case-insensitive; `canon`, and a `right` suffix as in
//! `shadow right`/`shadow-right`/`shadow_right`, are accepted too). An **empty** verdict means
//! *not yet reviewed*: such rows are counted and reported, not tallied (or are an error with
//! [`TallyOptions::require_complete`]). Anything else is an error naming the file and line.
//! Canonical-right against shadow-right is tested with an exact two-sided sign test (binomial,
//! p = 1/2); every share gets a 95% Wilson interval; the conclusion is a sentence.

use crate::analysis::{extract_pairs, no_pairs, read_logs, Exclusions, SkippedInput, NO_PHASE};
use crate::error::{CalibrateError, Result};
use crate::grid::Threshold;
use crate::rng::SplitMix64;
use crate::stats::{self, Stat};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use titlesim_core::ShadowRecord;

/// The significance level of the sign test's sentence.
pub const ALPHA: f64 = 0.05;

/// Which model said "match" in a disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Canonical says match, shadow says no match.
    CanonicalMatch,
    /// Shadow says match, canonical says no match.
    ShadowMatch,
}

impl Direction {
    /// `canonical_match` or `shadow_match` (the CSV `direction` column).
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::CanonicalMatch => "canonical_match",
            Direction::ShadowMatch => "shadow_match",
        }
    }
}

/// A random sample of the disagreements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// How many rows (at most).
    pub n: usize,
    /// The generator's seed.
    pub seed: u64,
}

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// The canonical threshold T; `None` takes the most common one of the logs.
    pub canon_threshold: Option<Threshold>,
    /// The shadow threshold t under review.
    pub shadow_threshold: Threshold,
    /// A stratified sample instead of every disagreement.
    pub sample: Option<Sample>,
}

/// One disagreement, as exported.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRow {
    /// The pair's id.
    pub pair_id: String,
    /// Its phase.
    pub phase: String,
    /// Which model said match.
    pub direction: Direction,
    /// Canonical cosine.
    pub canonical_cosine: f32,
    /// Shadow cosine.
    pub shadow_cosine: f32,
    /// The gold label, if any.
    pub label: Option<bool>,
    /// The agent's title.
    pub product: String,
    /// The ground-truth title.
    pub gt: String,
}

/// A stratum of the export: phase × direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stratum {
    /// The phase.
    pub phase: String,
    /// The direction.
    pub direction: Direction,
    /// Disagreements in it.
    pub total: usize,
    /// Rows exported from it.
    pub exported: usize,
}

/// The result of an export.
#[derive(Debug, Clone)]
pub struct Export {
    /// The canonical threshold used.
    pub canon_threshold: Threshold,
    /// The shadow threshold used.
    pub shadow_threshold: Threshold,
    /// Usable pairs.
    pub pairs: usize,
    /// Records that were not pairs.
    pub excluded: Exclusions,
    /// Log lines skipped as unreadable.
    pub skipped: Vec<SkippedInput>,
    /// Disagreements found.
    pub disagreements: usize,
    /// Per stratum counts.
    pub strata: Vec<Stratum>,
    /// The rows to review (sorted by phase, direction, then log order).
    pub rows: Vec<ReviewRow>,
}

/// Finds the disagreements of `records` at the given thresholds, sampled if asked.
pub fn export(records: &[ShadowRecord], opts: &ExportOptions) -> Result<Export> {
    let ex = extract_pairs(records);
    if ex.pairs.is_empty() {
        return Err(no_pairs(records, &ex));
    }
    if let Some(s) = &opts.sample {
        if s.n == 0 {
            return Err(CalibrateError::invalid("--sample must be at least 1"));
        }
    }
    let t_canon = opts
        .canon_threshold
        .clone()
        .unwrap_or_else(|| ex.canonical_thresholds[0].0.clone());
    let t = &opts.shadow_threshold;
    let mut strata: BTreeMap<(String, Direction), Vec<ReviewRow>> = BTreeMap::new();
    for p in &ex.pairs {
        let (c, s) = (t_canon.passes(p.canonical), t.passes(p.shadow));
        if c == s {
            continue;
        }
        let direction = if c {
            Direction::CanonicalMatch
        } else {
            Direction::ShadowMatch
        };
        strata
            .entry((p.phase.clone(), direction))
            .or_default()
            .push(ReviewRow {
                pair_id: p.pair_id.clone(),
                phase: p.phase.clone(),
                direction,
                canonical_cosine: p.canonical,
                shadow_cosine: p.shadow,
                label: p.label,
                product: p.product.clone(),
                gt: p.gt.clone(),
            });
    }
    let sizes: Vec<usize> = strata.values().map(|v| v.len()).collect();
    let total: usize = sizes.iter().sum();
    let alloc = match opts.sample {
        Some(s) if s.n < total => allocate(&sizes, s.n),
        _ => sizes.clone(),
    };
    let mut rng = SplitMix64::new(opts.sample.map(|s| s.seed).unwrap_or(0));
    let mut rows = Vec::new();
    let mut out_strata = Vec::new();
    for (((phase, direction), v), &k) in strata.into_iter().zip(&alloc) {
        let chosen = if k >= v.len() {
            (0..v.len()).collect()
        } else {
            rng.sample_indices(v.len(), k)
        };
        out_strata.push(Stratum {
            phase,
            direction,
            total: v.len(),
            exported: chosen.len(),
        });
        rows.extend(chosen.into_iter().map(|i| v[i].clone()));
    }
    Ok(Export {
        canon_threshold: t_canon,
        shadow_threshold: t.clone(),
        pairs: ex.pairs.len(),
        excluded: ex.excluded,
        skipped: Vec::new(),
        disagreements: total,
        strata: out_strata,
        rows,
    })
}

/// Reads the logs and calls [`export`]; unreadable lines are kept in [`Export::skipped`].
pub fn export_logs<P: AsRef<Path>>(paths: &[P], opts: &ExportOptions) -> Result<Export> {
    let (records, skipped) = read_logs(paths)?;
    let mut e = export(&records, opts)?;
    e.skipped = skipped;
    Ok(e)
}

/// Shares `n` (< total) out over strata of the given sizes: proportional, largest remainder,
/// each non-empty stratum at least one when `n` allows, never more than a stratum holds.
pub fn allocate(sizes: &[usize], n: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return vec![0; sizes.len()];
    }
    if n >= total {
        return sizes.to_vec();
    }
    let mut alloc: Vec<usize> = sizes.iter().map(|&s| s * n / total).collect();
    let mut rem: Vec<(usize, usize)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &s)| ((s * n) % total, i))
        .collect();
    // largest remainder first; ties: earlier stratum
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = n - alloc.iter().sum::<usize>();
    for &(_, i) in &rem {
        if left == 0 {
            break;
        }
        if alloc[i] < sizes[i] {
            alloc[i] += 1;
            left -= 1;
        }
    }
    let nonempty = sizes.iter().filter(|&&s| s > 0).count();
    if n >= nonempty {
        while let Some(i) = (0..sizes.len()).find(|&i| sizes[i] > 0 && alloc[i] == 0) {
            // take one from the stratum with the most rows allocated (first on ties)
            let Some(j) = (0..sizes.len())
                .filter(|&j| alloc[j] > 1)
                .max_by(|&a, &b| alloc[a].cmp(&alloc[b]).then(b.cmp(&a)))
            else {
                break;
            };
            alloc[j] -= 1;
            alloc[i] += 1;
        }
    }
    alloc
}

/// The columns of a review file, in order.
pub const COLUMNS: [&str; 14] = [
    "pair_id",
    "phase",
    "direction",
    "canonical_cosine",
    "shadow_cosine",
    "canonical_threshold",
    "shadow_threshold",
    "canonical_verdict",
    "shadow_verdict",
    "label",
    "product",
    "gt",
    "verdict",
    "comment",
];

/// Writes the export as CSV (columns [`COLUMNS`]; `verdict` and `comment` empty).
pub fn write_csv(e: &Export, path: &Path) -> Result<()> {
    let csv_err = |err: csv::Error| CalibrateError::Csv {
        path: path.to_path_buf(),
        message: err.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(csv_err)?;
    w.write_record(COLUMNS).map_err(csv_err)?;
    let verdict = |pass: bool| if pass { "match" } else { "no match" };
    for r in &e.rows {
        let canon_pass = r.direction == Direction::CanonicalMatch;
        w.write_record([
            r.pair_id.as_str(),
            r.phase.as_str(),
            r.direction.as_str(),
            &format!("{}", r.canonical_cosine),
            &format!("{}", r.shadow_cosine),
            &e.canon_threshold.label,
            &e.shadow_threshold.label,
            verdict(canon_pass),
            verdict(!canon_pass),
            match r.label {
                Some(true) => "1",
                Some(false) => "0",
                None => "",
            },
            r.product.as_str(),
            r.gt.as_str(),
            "",
            "",
        ])
        .map_err(csv_err)?;
    }
    w.flush().map_err(|e| CalibrateError::io(path, e))?;
    Ok(())
}

impl Export {
    /// A short account of what was exported.
    pub fn summary(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} pairs (excluded: {}{}); {} disagreements at T = {} (canonical), t = {} (shadow); {} exported",
            self.pairs,
            self.excluded.describe(),
            if self.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} unreadable log line(s) skipped", self.skipped.len())
            },
            self.disagreements,
            self.canon_threshold,
            self.shadow_threshold,
            self.rows.len()
        );
        for s in &self.strata {
            let _ = writeln!(
                o,
                "  {:<16} {:<16} {:>6} of {:>6}",
                s.phase,
                s.direction.as_str(),
                s.exported,
                s.total
            );
        }
        o
    }
}

/// A reviewer's verdict on one disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// The canonical model was right.
    Canonical,
    /// The shadow model was right.
    Shadow,
    /// Both verdicts are defensible.
    Both,
    /// Neither was right.
    Neither,
}

impl Verdict {
    /// Parses a verdict: `canonical`/`canon`, `shadow`, `both`, `neither`, optionally followed
    /// by `right` (`shadow right`, `shadow-right`, `shadow_right`), case-insensitive.
    /// `Ok(None)` for an empty cell (not yet reviewed).
    pub fn parse(s: &str) -> std::result::Result<Option<Verdict>, String> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c == '-' || c == '_' { ' ' } else { c })
            .collect();
        let mut words: Vec<&str> = norm.split_whitespace().collect();
        if words.len() == 2 && words[1] == "right" {
            words.pop();
        }
        match words.as_slice() {
            [] => Ok(None),
            ["canonical"] | ["canon"] => Ok(Some(Verdict::Canonical)),
            ["shadow"] => Ok(Some(Verdict::Shadow)),
            ["both"] => Ok(Some(Verdict::Both)),
            ["neither"] => Ok(Some(Verdict::Neither)),
            _ => Err(format!(
                "verdict `{}` is not one of canonical, shadow, both, neither (or empty = not yet reviewed)",
                s.trim()
            )),
        }
    }
    /// `canonical`, `shadow`, `both` or `neither`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Canonical => "canonical",
            Verdict::Shadow => "shadow",
            Verdict::Both => "both",
            Verdict::Neither => "neither",
        }
    }
}

/// How to tally.
#[derive(Debug, Clone, Copy, Default)]
pub struct TallyOptions {
    /// Refuse a file with rows not yet reviewed (empty verdict) instead of counting them.
    pub require_complete: bool,
}

/// Counts of each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Canonical right.
    pub canonical: u64,
    /// Shadow right.
    pub shadow: u64,
    /// Both right.
    pub both: u64,
    /// Neither right.
    pub neither: u64,
}

impl Counts {
    /// All reviewed rows.
    pub fn reviewed(&self) -> u64 {
        self.canonical + self.shadow + self.both + self.neither
    }
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Canonical => self.canonical += 1,
            Verdict::Shadow => self.shadow += 1,
            Verdict::Both => self.both += 1,
            Verdict::Neither => self.neither += 1,
        }
    }
    /// The exact two-sided sign test of canonical-right against shadow-right.
    pub fn sign_test(&self) -> Stat {
        stats::sign_test(self.canonical, self.canonical + self.shadow)
    }
}

/// The verdicts of a review file.
#[derive(Debug, Clone)]
pub struct Tally {
    /// The file.
    pub path: PathBuf,
    /// Data rows.
    pub rows: u64,
    /// Verdict counts.
    pub counts: Counts,
    /// Lines of rows not yet reviewed (empty verdict).
    pub unreviewed: Vec<u64>,
    /// Counts per value of the `direction` column, when the file has one.
    pub by_direction: BTreeMap<String, Counts>,
    /// Counts per value of the `phase` column, when the file has one.
    pub by_phase: BTreeMap<String, Counts>,
}

/// Reads a review file and counts its verdicts. A bad verdict is an error naming
/// `file:line`.
pub fn tally(path: &Path, opts: &TallyOptions) -> Result<Tally> {
    let csv_err = |err: csv::Error| {
        let line = err.position().map(|p| p.line()).unwrap_or(0);
        if line > 0 {
            CalibrateError::Row {
                path: path.to_path_buf(),
                line,
                message: err.to_string(),
            }
        } else {
            CalibrateError::Csv {
                path: path.to_path_buf(),
                message: err.to_string(),
            }
        }
    };
    let file = std::fs::File::open(path).map_err(|e| CalibrateError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(file);
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(name)
        })
    };
    let verdict_col = col("verdict").ok_or_else(|| CalibrateError::Row {
        path: path.to_path_buf(),
        line: 1,
        message: "no `verdict` column in the header".into(),
    })?;
    let (dir_col, phase_col) = (col("direction"), col("phase"));
    let mut t = Tally {
        path: path.to_path_buf(),
        rows: 0,
        counts: Counts::default(),
        unreviewed: Vec::new(),
        by_direction: BTreeMap::new(),
        by_phase: BTreeMap::new(),
    };
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        t.rows += 1;
        let cell = rec.get(verdict_col).unwrap_or("");
        let v = Verdict::parse(cell).map_err(|message| CalibrateError::Row {
            path: path.to_path_buf(),
            line,
            message,
        })?;
        match v {
            None if opts.require_complete => {
                return Err(CalibrateError::Row {
                    path: path.to_path_buf(),
                    line,
                    message: "empty verdict (not yet reviewed)".into(),
                })
            }
            None => t.unreviewed.push(line),
            Some(v) => {
                t.counts.add(v);
                if let Some(d) = dir_col.and_then(|i| rec.get(i)) {
                    t.by_direction
                        .entry(d.trim().to_string())
                        .or_default()
                        .add(v);
                }
                if let Some(p) = phase_col.and_then(|i| rec.get(i)) {
                    let p = if p.trim().is_empty() {
                        NO_PHASE
                    } else {
                        p.trim()
                    };
                    t.by_phase.entry(p.to_string()).or_default().add(v);
                }
            }
        }
    }
    Ok(t)
}

fn pct(k: u64, n: u64) -> String {
    if n == 0 {
        "n/a".into()
    } else {
        format!("{:.1}%", k as f64 / n as f64 * 100.0)
    }
}

fn wilson_text(k: u64, n: u64) -> String {
    match stats::wilson_95(k, n) {
        Ok((lo, hi)) => format!("[{:.1}%, {:.1}%]", lo * 100.0, hi * 100.0),
        Err(_) => "n/a".into(),
    }
}

impl Tally {
    /// The conclusion as one sentence.
    pub fn conclusion(&self) -> String {
        let c = &self.counts;
        let decisive = c.canonical + c.shadow;
        if c.reviewed() == 0 {
            return "No row has been reviewed yet: nothing to conclude.".into();
        }
        if decisive == 0 {
            return format!(
                "In none of the {} reviewed disagreements was exactly one model right, so neither model is shown to be more correct.",
                c.reviewed()
            );
        }
        let p = c.sign_test().unwrap_or(1.0);
        if p >= ALPHA {
            format!(
                "Neither model is meaningfully more correct: canonical was right in {} and shadow in {} of the {decisive} disagreements where exactly one was right (exact two-sided sign test p = {}, not below {ALPHA}).",
                c.canonical, c.shadow, fmt_p(p)
            )
        } else {
            let (better, worse, kb, kw) = if c.shadow > c.canonical {
                ("shadow", "canonical", c.shadow, c.canonical)
            } else {
                ("canonical", "shadow", c.canonical, c.shadow)
            };
            format!(
                "The {better} model is more often right than the {worse} model: {kb} against {kw} of the {decisive} disagreements where exactly one was right (exact two-sided sign test p = {} < {ALPHA}).",
                fmt_p(p)
            )
        }
    }

    /// Tables and the conclusion, for a terminal.
    pub fn render_text(&self) -> String {
        let c = &self.counts;
        let n = c.reviewed();
        let mut o = String::new();
        let _ = writeln!(
            o,
            "review tally: {} — {} rows, {} reviewed, {} not yet reviewed",
            self.path.display(),
            self.rows,
            n,
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
        let mut t = crate::text::Table::new(&["verdict", "count", "share", "95% Wilson CI"], 1);
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
        for (title, map) in [("direction", &self.by_direction), ("phase", &self.by_phase)] {
            if map.len() > 1 || (title == "direction" && !map.is_empty()) {
                let mut t = crate::text::Table::new(
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
        }
        let _ = writeln!(o, "\n{}", self.conclusion());
        o
    }

    /// The tally as JSON.
    pub fn to_json(&self) -> Value {
        let c = &self.counts;
        let n = c.reviewed();
        let ci = |k: u64, n: u64| match stats::wilson_95(k, n) {
            Ok((lo, hi)) => json!([lo, hi]),
            Err(_) => Value::Null,
        };
        let share = |k: u64, n: u64| {
            if n == 0 {
                Value::Null
            } else {
                json!(k as f64 / n as f64)
            }
        };
        let entry = |k: u64| json!({"count": k, "share": share(k, n), "wilson95": ci(k, n)});
        let counts_json = |v: &Counts| {
            json!({"canonical": v.canonical, "shadow": v.shadow, "both": v.both,
                   "neither": v.neither, "sign_test_p": v.sign_test().ok()})
        };
        let decisive = c.canonical + c.shadow;
        json!({
            "file": self.path.display().to_string(),
            "rows": self.rows,
            "reviewed": n,
            "not_yet_reviewed": self.unreviewed.len(),
            "not_yet_reviewed_lines": self.unreviewed,
            "canonical": entry(c.canonical),
            "shadow": entry(c.shadow),
            "both": entry(c.both),
            "neither": entry(c.neither),
            "sign_test": {
                "canonical": c.canonical,
                "shadow": c.shadow,
                "p_value": c.sign_test().ok(),
                "canonical_share": share(c.canonical, decisive),
                "canonical_share_wilson95": ci(c.canonical, decisive),
                "alpha": ALPHA,
            },
            "by_direction": self.by_direction.iter().map(|(k, v)| (k.clone(), counts_json(v))).collect::<serde_json::Map<_, _>>(),
            "by_phase": self.by_phase.iter().map(|(k, v)| (k.clone(), counts_json(v))).collect::<serde_json::Map<_, _>>(),
            "conclusion": self.conclusion(),
        })
    }
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_spellings() {
        for (s, v) in [
            ("canonical", Verdict::Canonical),
            ("Canonical Right", Verdict::Canonical),
            ("CANON", Verdict::Canonical),
            (" shadow-right ", Verdict::Shadow),
            ("shadow_right", Verdict::Shadow),
            ("Both", Verdict::Both),
            ("neither", Verdict::Neither),
        ] {
            assert_eq!(Verdict::parse(s), Ok(Some(v)), "{s}");
        }
        assert_eq!(Verdict::parse("  "), Ok(None));
        for bad in ["maybe", "c", "canonical wrong", "right", "shadow right now"] {
            let e = Verdict::parse(bad).unwrap_err();
            assert!(e.contains("is not one of"), "{e}");
        }
    }

    #[test]
    fn allocation_is_proportional_and_covers_every_stratum() {
        assert_eq!(allocate(&[50, 30, 20], 10), vec![5, 3, 2]);
        assert_eq!(allocate(&[98, 1, 1], 10), vec![8, 1, 1]);
        assert_eq!(allocate(&[98, 1, 1], 2), vec![2, 0, 0]);
        assert_eq!(allocate(&[3, 3, 3], 4), vec![2, 1, 1]);
        assert_eq!(allocate(&[3, 0, 3], 100), vec![3, 0, 3]);
        for n in 1..40 {
            let a = allocate(&[17, 5, 0, 9, 1], n);
            assert_eq!(a.iter().sum::<usize>(), n.min(32));
            assert!(a.iter().zip([17, 5, 0, 9, 1]).all(|(&k, s)| k <= s));
        }
    }
}
