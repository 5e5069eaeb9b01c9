//! The `--json` document of `titlesim review tally`, from `Serialize` output structs that
//! borrow from the [`Tally`]. Undefined shares, intervals and p-values are `null`.

use super::sign_test::ALPHA;
use super::tally::{Counts, Tally};
use crate::stats;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

impl Tally {
    /// The tally as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(TallyJson::new(self)).expect("the tally document has string keys only")
    }
}

#[derive(Serialize)]
struct TallyJson<'a> {
    file: String,
    rows: u64,
    reviewed: u64,
    not_yet_reviewed: usize,
    not_yet_reviewed_lines: &'a [u64],
    canonical: VerdictJson,
    shadow: VerdictJson,
    both: VerdictJson,
    neither: VerdictJson,
    sign_test: SignTestJson,
    by_direction: BTreeMap<&'a str, CountsJson>,
    by_phase: BTreeMap<&'a str, CountsJson>,
    conclusion: String,
}

impl<'a> TallyJson<'a> {
    fn new(t: &'a Tally) -> Self {
        let c = &t.counts;
        let n = c.reviewed();
        let decisive = c.canonical + c.shadow;
        let by = |map: &'a BTreeMap<String, Counts>| {
            map.iter()
                .map(|(k, v)| (k.as_str(), CountsJson::new(v)))
                .collect()
        };
        TallyJson {
            file: t.path.display().to_string(),
            rows: t.rows,
            reviewed: n,
            not_yet_reviewed: t.unreviewed.len(),
            not_yet_reviewed_lines: &t.unreviewed,
            canonical: VerdictJson::new(c.canonical, n),
            shadow: VerdictJson::new(c.shadow, n),
            both: VerdictJson::new(c.both, n),
            neither: VerdictJson::new(c.neither, n),
            sign_test: SignTestJson {
                canonical: c.canonical,
                shadow: c.shadow,
                p_value: c.sign_test().ok(),
                canonical_share: share(c.canonical, decisive),
                canonical_share_wilson95: wilson95(c.canonical, decisive),
                alpha: ALPHA,
            },
            by_direction: by(&t.by_direction),
            by_phase: by(&t.by_phase),
            conclusion: t.conclusion(),
        }
    }
}

/// `k / n`, `None` when `n = 0`.
fn share(k: u64, n: u64) -> Option<f64> {
    (n != 0).then(|| k as f64 / n as f64)
}

/// The 95% Wilson interval `[lo, hi]` of `k / n`, `None` when undefined.
fn wilson95(k: u64, n: u64) -> Option<(f64, f64)> {
    stats::wilson_95(k, n).ok()
}

/// One verdict's count among the reviewed rows.
#[derive(Serialize)]
struct VerdictJson {
    count: u64,
    share: Option<f64>,
    wilson95: Option<(f64, f64)>,
}

impl VerdictJson {
    fn new(k: u64, n: u64) -> Self {
        VerdictJson {
            count: k,
            share: share(k, n),
            wilson95: wilson95(k, n),
        }
    }
}

#[derive(Serialize)]
struct SignTestJson {
    canonical: u64,
    shadow: u64,
    p_value: Option<f64>,
    canonical_share: Option<f64>,
    canonical_share_wilson95: Option<(f64, f64)>,
    alpha: f64,
}

/// The verdict counts of one direction or phase, with their sign test.
#[derive(Serialize)]
struct CountsJson {
    canonical: u64,
    shadow: u64,
    both: u64,
    neither: u64,
    sign_test_p: Option<f64>,
}

impl CountsJson {
    fn new(v: &Counts) -> Self {
        CountsJson {
            canonical: v.canonical,
            shadow: v.shadow,
            both: v.both,
            neither: v.neither,
            sign_test_p: v.sign_test().ok(),
        }
    }
}
