//! Records → usable pairs: both cosines present and finite. The other records are counted by
//! reason, overall and per phase; the logged thresholds and model names are collected on the
//! way.

use super::logs::Places;
use crate::error::{CalibrateError, Result};
use crate::grid::Threshold;
use std::collections::BTreeMap;
use titlesim_log::ShadowRecord;

/// The phase name given to pairs whose record has no phase.
pub const NO_PHASE: &str = "(none)";

/// One usable pair: both cosines present and finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The pair's id.
    pub pair_id: String,
    /// Its phase ([`NO_PHASE`] when the record had none).
    pub phase: String,
    /// The canonical cosine.
    pub canonical: f32,
    /// The shadow cosine.
    pub shadow: f32,
    /// The gold label, when the record had a valid one (1 → true).
    pub label: Option<bool>,
    /// The agent's title.
    pub product: String,
    /// The ground-truth title.
    pub gt: String,
}

/// Records that are not pairs for correlation or agreement, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exclusions {
    /// The shadow side failed (error or timeout: no cosine).
    pub shadow_error: usize,
    /// The record has no shadow side (not sampled for shadowing).
    pub no_shadow: usize,
    /// The canonical side has no cosine.
    pub canonical_error: usize,
    /// A cosine is not a finite number.
    pub invalid_cosine: usize,
}

impl Exclusions {
    /// All excluded records.
    pub fn total(&self) -> usize {
        self.shadow_error + self.no_shadow + self.canonical_error + self.invalid_cosine
    }
    fn add(&mut self, o: &Exclusions) {
        self.shadow_error += o.shadow_error;
        self.no_shadow += o.no_shadow;
        self.canonical_error += o.canonical_error;
        self.invalid_cosine += o.invalid_cosine;
    }
    /// `"3 shadow errors, 1 without a shadow side"`, or `"none"`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |n: usize, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        push(self.shadow_error, "shadow error", "shadow errors");
        push(
            self.no_shadow,
            "without a shadow side",
            "without a shadow side",
        );
        push(self.canonical_error, "canonical error", "canonical errors");
        push(
            self.invalid_cosine,
            "non-finite cosine",
            "non-finite cosines",
        );
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A pair id whose records name different pairs (another product or gt): two runs, or two
/// agents, that used one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The id.
    pub pair_id: String,
    /// The index of its first record among the records given.
    pub first: usize,
    /// The index of the first record of the id that names another pair.
    pub other: usize,
}

/// The pairs of a set of records, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// The usable pairs, in record order.
    pub pairs: Vec<Pair>,
    /// Records left out, by reason.
    pub excluded: Exclusions,
    /// Records left out, by phase and reason.
    pub excluded_by_phase: BTreeMap<String, Exclusions>,
    /// Pairs whose label was neither 0 nor 1 (kept as pairs, without a label).
    pub invalid_labels: usize,
    /// Records of a pair id an earlier record already had (the same log given twice,
    /// overlapping runs): left out, so no pair counts twice; the first record counts.
    pub duplicates: usize,
    /// Pair ids whose records name different pairs (another product or gt): two runs that
    /// reused ids. Keeping the first record would silently drop the others' pairs, so
    /// calibrate and review export refuse such logs ([`Extracted::check_conflicts`]).
    pub conflicts: Vec<Conflict>,
    /// Canonical thresholds of the pairs, with counts.
    pub canonical_thresholds: Vec<(Threshold, usize)>,
    /// Shadow thresholds of the pairs, with counts.
    pub shadow_thresholds: Vec<(Threshold, usize)>,
    /// `model (backend)` of each side, distinct, in order of appearance.
    pub models: (Vec<String>, Vec<String>),
    /// The vector fingerprints of each side, distinct, in order of appearance.
    pub fingerprints: (Vec<String>, Vec<String>),
}

impl Extracted {
    /// Refuses records whose pair ids name different pairs (see [`Extracted::conflicts`]).
    pub fn check_conflicts(&self) -> Result<()> {
        self.check_conflicts_at(None)
    }

    /// [`Extracted::check_conflicts`], naming the records' log and line when `places` has them.
    pub(crate) fn check_conflicts_at(&self, places: Option<&Places>) -> Result<()> {
        match conflict_error(&self.conflicts, places) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The error for pair ids that name different pairs (`conflicts`, in order), if any: calibrate,
/// review export and the burn-in refuse such logs alike. With `places` (the records were read
/// from logs) it names the log and line of the first conflict's two records.
pub(crate) fn conflict_error(
    conflicts: &[Conflict],
    places: Option<&Places>,
) -> Option<CalibrateError> {
    let c = conflicts.first()?;
    let others = match conflicts.len() {
        1 => String::new(),
        n => format!(", and so do {} other id(s)", n - 1),
    };
    let why = "counting each id once would drop pairs; an id must name one pair — one agent's \
               answer to one task (`TASK/AGENT`), and in logs of several runs one run's (a \
               prefix per run, or read the runs separately)";
    let id = &c.pair_id;
    if let Some(((path, line), first)) = places.and_then(|p| {
        let (path, line) = p.of(c.other)?;
        Some(((path, line), p.describe(c.first, Some(path))?))
    }) {
        return Some(CalibrateError::Row {
            path: path.to_path_buf(),
            line,
            message: format!(
                "pair id `{id}` names another pair than on {first} (their product, gt or \
                 phase differ){others}: {why}"
            ),
        });
    }
    Some(CalibrateError::invalid(format!(
        "pair id `{id}` names two different pairs (their product, gt or phase differ){others}: {why}"
    )))
}

/// Splits records into usable pairs and counted exclusions.
pub fn extract_pairs(records: &[ShadowRecord]) -> Extracted {
    let mut out = Extracted::default();
    let mut canonical_thresholds = ThresholdCounts::default();
    let mut shadow_thresholds = ThresholdCounts::default();
    let mut conflicts = Conflicts::default();
    let mut seen: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        if let Some(&first) = seen.get(r.pair_id.as_str()) {
            out.duplicates += 1;
            conflicts.note(records, first, i);
            continue;
        }
        seen.insert(&r.pair_id, i);
        note_models(&mut out.models, &mut out.fingerprints, r);
        let phase = r.phase.clone().unwrap_or_else(|| NO_PHASE.to_string());
        match cosines(r) {
            Ok((canonical, shadow, shadow_threshold)) => {
                canonical_thresholds.count(r.canonical.threshold);
                shadow_thresholds.count(shadow_threshold);
                let label = match r.label {
                    None => None,
                    Some(0) => Some(false),
                    Some(1) => Some(true),
                    Some(_) => {
                        out.invalid_labels += 1;
                        None
                    }
                };
                out.pairs.push(Pair {
                    pair_id: r.pair_id.clone(),
                    phase,
                    canonical,
                    shadow,
                    label,
                    product: r.product.clone(),
                    gt: r.gt.clone(),
                });
            }
            Err(ex) => {
                out.excluded.add(&ex);
                out.excluded_by_phase.entry(phase).or_default().add(&ex);
            }
        }
    }
    out.conflicts = conflicts.list;
    out.canonical_thresholds = canonical_thresholds.most_common_first();
    out.shadow_thresholds = shadow_thresholds.most_common_first();
    out
}

/// The conflicts of a set of records, each id once.
#[derive(Default)]
pub(crate) struct Conflicts<'a> {
    pub(crate) list: Vec<Conflict>,
    noted: std::collections::HashSet<&'a str>,
}

impl<'a> Conflicts<'a> {
    /// Notes a conflict when record `other` names another pair than record `first` of its id
    /// (another product, gt or phase; the first such record of each id).
    pub(crate) fn note(&mut self, records: &'a [ShadowRecord], first: usize, other: usize) {
        let (a, b) = (&records[first], &records[other]);
        // Another phase too: which of the two counts would depend on the order of the logs.
        let other_pair = a.product != b.product || a.gt != b.gt || a.phase != b.phase;
        if other_pair && self.noted.insert(&b.pair_id) {
            self.list.push(Conflict {
                pair_id: b.pair_id.clone(),
                first,
                other,
            });
        }
    }
}

/// Adds the record's `model (backend)` and fingerprint of each side to the distinct lists.
fn note_models(
    models: &mut (Vec<String>, Vec<String>),
    fingerprints: &mut (Vec<String>, Vec<String>),
    r: &ShadowRecord,
) {
    let push = |list: &mut Vec<String>, v: String| {
        if !list.contains(&v) {
            list.push(v);
        }
    };
    push(
        &mut models.0,
        format!("{} ({})", r.canonical.model, r.canonical.backend),
    );
    push(&mut fingerprints.0, r.canonical.fingerprint.clone());
    if let Some(s) = &r.shadow {
        push(&mut models.1, format!("{} ({})", s.model, s.backend));
        push(&mut fingerprints.1, s.fingerprint.clone());
    }
}

/// The record's canonical and shadow cosines and its shadow threshold, or why it is not a
/// pair (one reason counted).
fn cosines(r: &ShadowRecord) -> Result<(f32, f32, f32), Exclusions> {
    let mut ex = Exclusions::default();
    match (r.canonical.cosine, &r.shadow) {
        (None, _) => ex.canonical_error = 1,
        (Some(_), None) => ex.no_shadow = 1,
        (Some(_), Some(s)) if s.cosine.is_none() || s.error.is_some() => ex.shadow_error = 1,
        (Some(c), Some(s)) => {
            let sc = s.cosine.unwrap_or(f32::NAN);
            if c.is_finite() && sc.is_finite() {
                return Ok((c, sc, s.threshold));
            }
            ex.invalid_cosine = 1;
        }
    }
    Err(ex)
}

/// Logged threshold values with how often each was seen, in order of appearance.
#[derive(Default)]
struct ThresholdCounts(Vec<(f32, usize)>);

impl ThresholdCounts {
    fn count(&mut self, t: f32) {
        match self.0.iter_mut().find(|(x, _)| *x == t) {
            Some(e) => e.1 += 1,
            None => self.0.push((t, 1)),
        }
    }
    /// Most common first; ties: lower threshold first.
    fn most_common_first(self) -> Vec<(Threshold, usize)> {
        let mut v: Vec<(Threshold, usize)> = self
            .0
            .into_iter()
            .map(|(t, n)| (Threshold::from_f32(t), n))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.value.total_cmp(&b.0.value)));
        v
    }
}

/// The error for records without a single usable pair, saying why.
pub(crate) fn no_pairs(records: &[ShadowRecord], ex: &Extracted) -> CalibrateError {
    CalibrateError::NoPairs {
        records: records.len(),
        why: if records.is_empty() {
            "the logs are empty".into()
        } else {
            format!("excluded: {}", ex.excluded.describe())
        },
    }
}
