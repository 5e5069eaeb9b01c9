//! The burn-in as text for a terminal and as the `--json` document.

use super::{BurnIn, Decision, MetricCheck, PhaseVerdict};
use serde::Serialize;
use std::collections::BTreeMap;

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn fmt_p(p: f64) -> String {
    if p < 0.001 {
        format!("{p:.2e}")
    } else {
        format!("{p:.3}")
    }
}

impl BurnIn {
    /// Whether the series' x values are times in ms (else record numbers: see
    /// [`BurnIn::untimed`]).
    pub fn timed(&self) -> bool {
        self.untimed.is_none()
    }

    /// One sentence per phase saying what was decided and why.
    pub fn reason(&self, p: &PhaseVerdict) -> String {
        let drift = format!("{:.0} points", self.options.drift * 100.0);
        let power = format!("{:.0}%", self.options.power * 100.0);
        let level = format!(
            "{} ({} over {} tests)",
            self.alpha_per_test, self.options.alpha, self.tests
        );
        match p.decision {
            Decision::RollBack => {
                let bad: Vec<String> = [&p.pass_rate, &p.agreement]
                    .into_iter()
                    .filter(|m| m.drifted)
                    .map(|m| {
                        let (z, pv) = m.test.unwrap_or((0.0, 1.0));
                        format!(
                            "{} measured {} ({}/{}) against the expected {} (95% interval {}–{}, {}/{} in calibration): two-proportion z-test z = {z:.2}, p = {} < {level}",
                            m.metric,
                            pct(m.measured.value().unwrap_or(0.0)),
                            m.measured.k,
                            m.measured.n,
                            pct(m.expected.share),
                            pct(m.expected.interval[0]),
                            pct(m.expected.interval[1]),
                            m.expected.k,
                            m.expected.n,
                            fmt_p(pv)
                        )
                    })
                    .collect();
                format!("phase {}: roll back — {}", p.name, bad.join("; "))
            }
            Decision::KeepWatching => {
                let missing: Vec<String> = [&p.pass_rate, &p.agreement]
                    .into_iter()
                    .filter(|m| m.more_needed() != Some(0))
                    .map(|m| match m.needed {
                        Some(n) => format!(
                            "{n} pairs needed to tell a drift of {drift} in {} at {power} power ({} more)",
                            m.metric,
                            n - m.measured.n.min(n)
                        ),
                        None => format!(
                            "the calibration's {} pairs are too few to tell a drift of {drift} in {} at {power} power with any burn-in (calibrate on more pairs, or accept a larger --drift)",
                            m.expected.n, m.metric
                        ),
                    })
                    .collect();
                format!(
                    "phase {}: keep watching — {} pairs so far, no drift shown; {}",
                    p.name,
                    p.pass_rate.measured.n,
                    missing.join("; ")
                )
            }
            Decision::Promote => format!(
                "phase {}: matches — pass rate {} (expected {}, p = {}), agreement {} (expected {}, p = {}), {} pairs (needed {})",
                p.name,
                pct(p.pass_rate.measured.value().unwrap_or(0.0)),
                pct(p.pass_rate.expected.share),
                fmt_p(p.pass_rate.test.map(|t| t.1).unwrap_or(1.0)),
                pct(p.agreement.measured.value().unwrap_or(0.0)),
                pct(p.agreement.expected.share),
                fmt_p(p.agreement.test.map(|t| t.1).unwrap_or(1.0)),
                p.pass_rate.measured.n,
                p.pass_rate.needed.unwrap_or(0).max(p.agreement.needed.unwrap_or(0))
            ),
        }
    }

    /// The verdict as text: a table per phase, one sentence per phase, the decision.
    pub fn render_text(&self) -> String {
        let e = &self.expectation;
        let mut o = String::new();
        o.push_str(&format!(
            "burn-in of {} ({}) at {} against {} ({}) at {}; {} records\n",
            e.canonical.model,
            e.canonical.backend,
            e.canonical.threshold,
            e.shadow.model,
            e.shadow.backend,
            e.shadow.threshold,
            self.records
        ));
        o.push_str(&format!(
            "tests: two-proportion z-tests at {} each ({} over {} tests); drift {:.0} points at {:.0}% power\n\n",
            self.alpha_per_test,
            self.options.alpha,
            self.tests,
            self.options.drift * 100.0,
            self.options.power * 100.0
        ));
        o.push_str(&format!(
            "{:<14} {:<10} {:>18} {:>22} {:>7} {:>9} {:>8}\n",
            "phase", "share", "measured", "expected (95%)", "z", "p", "needed"
        ));
        for p in &self.phases {
            for m in [&p.pass_rate, &p.agreement] {
                o.push_str(&format!(
                    "{:<14} {:<10} {:>18} {:>22} {:>7} {:>9} {:>8}\n",
                    p.name,
                    m.metric,
                    format!(
                        "{} ({}/{})",
                        m.measured.value().map(pct).unwrap_or_else(|| "-".into()),
                        m.measured.k,
                        m.measured.n
                    ),
                    format!(
                        "{} ({}–{})",
                        pct(m.expected.share),
                        pct(m.expected.interval[0]),
                        pct(m.expected.interval[1])
                    ),
                    m.test.map(|t| format!("{:.2}", t.0)).unwrap_or("-".into()),
                    m.test.map(|t| fmt_p(t.1)).unwrap_or("-".into()),
                    m.needed.map(|n| n.to_string()).unwrap_or("never".into()),
                ));
            }
        }
        o.push('\n');
        for p in &self.phases {
            o.push_str(&self.reason(p));
            o.push('\n');
        }
        for n in self.notes() {
            o.push_str(&format!("note: {n}\n"));
        }
        o.push_str(&format!(
            "\ndecision: {} (exit {})\n",
            self.decision.as_str(),
            self.decision.exit_code()
        ));
        o.push_str(&format!("next: {}\n", self.next_step()));
        o
    }

    /// What to do after the decision, in a sentence.
    pub fn next_step(&self) -> String {
        let e = &self.expectation;
        match self.decision {
            Decision::Promote => format!(
                "the promotion stands: keep {} in force (its [shadow], the previous model, may \
                 go, or stay for the next candidate)",
                e.promoted_config
            ),
            Decision::KeepWatching => {
                "keep both models logging and run the burn-in again on the longer logs".into()
            }
            Decision::RollBack => format!(
                "roll back: put the configuration in force before the promotion back, whose \
                 [canonical] is {} ({}) at threshold {} (this configuration's [shadow]); `promote \
                 --out` left that file as it was, and a promotion in place keeps it in its \
                 provenance comment block; give it a new shadow log",
                e.shadow.model, e.shadow.backend, e.shadow.threshold
            ),
        }
    }

    /// Things to know besides the decision: skipped lines, records left out, phases the
    /// expectation does not know.
    pub fn notes(&self) -> Vec<String> {
        let mut n = Vec::new();
        if !self.skipped.is_empty() {
            n.push(format!(
                "{} unreadable log line(s) skipped (first: {})",
                self.skipped.len(),
                self.skipped[0]
            ));
        }
        if let Some(at) = &self.untimed {
            n.push(format!(
                "the running rates follow record numbers, not the clock: {at}, not an RFC 3339 time"
            ));
        }
        if self.replayed > 0 {
            n.push(format!(
                "{} of the {} records were written by `titlesim replay` (they have replayed_at): a burn-in judges the promoted configuration's live traffic, and a replay of the calibration's own pairs matches by construction",
                self.replayed, self.records
            ));
        }
        if self.left.duplicates > 0 {
            n.push(format!(
                "{} record(s) of a pair id seen earlier left out (the same log given twice, or overlapping logs?): each pair counts once",
                self.left.duplicates
            ));
        }
        if self.left.canonical_error > 0 {
            n.push(format!(
                "{} record(s) without a canonical cosine left out",
                self.left.canonical_error
            ));
        }
        if self.left.no_shadow > 0 {
            n.push(format!(
                "{} record(s) without a shadow cosine count in the pass rate only",
                self.left.no_shadow
            ));
        }
        for (side, s) in [
            ("canonical", &self.expectation.canonical),
            ("shadow", &self.expectation.shadow),
        ] {
            if s.fingerprint.is_none() {
                n.push(format!(
                    "the expectation records no {side} fingerprint: the logs' {side} model was not checked"
                ));
            }
        }
        for (name, pairs) in &self.unexpected {
            n.push(format!(
                "phase {name}: {pairs} pair(s), but the expectation has no such phase (not judged)"
            ));
        }
        n
    }

    /// The `--json` document.
    pub fn to_json(&self) -> serde_json::Value {
        let metric = |m: &MetricCheck| MetricJson {
            expected: m.expected.share,
            interval: m.expected.interval,
            calibration_k: m.expected.k,
            calibration_n: m.expected.n,
            measured: m.measured.value(),
            k: m.measured.k,
            n: m.measured.n,
            z: m.test.map(|t| t.0),
            p: m.test.map(|t| t.1),
            drifted: m.drifted,
            needed: m.needed,
            more_needed: m.more_needed(),
        };
        let doc = Doc {
            decision: self.decision.as_str(),
            exit_code: self.decision.exit_code(),
            alpha: self.options.alpha,
            tests: self.tests,
            alpha_per_test: self.alpha_per_test,
            power: self.options.power,
            drift: self.options.drift,
            logs: self.logs.iter().map(|p| p.display().to_string()).collect(),
            records: self.records,
            phases: self
                .phases
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        PhaseJson {
                            decision: p.decision.as_str(),
                            reason: self.reason(p),
                            pass_rate: metric(&p.pass_rate),
                            agreement: metric(&p.agreement),
                        },
                    )
                })
                .collect(),
            notes: self.notes(),
        };
        serde_json::to_value(doc).expect("the burn-in document has string keys only")
    }
}

#[derive(Serialize)]
struct Doc {
    decision: &'static str,
    exit_code: u8,
    alpha: f64,
    tests: usize,
    alpha_per_test: f64,
    power: f64,
    drift: f64,
    logs: Vec<String>,
    records: usize,
    phases: BTreeMap<String, PhaseJson>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct PhaseJson {
    decision: &'static str,
    reason: String,
    pass_rate: MetricJson,
    agreement: MetricJson,
}

#[derive(Serialize)]
struct MetricJson {
    expected: f64,
    interval: [f64; 2],
    calibration_k: u64,
    calibration_n: u64,
    measured: Option<f64>,
    k: u64,
    n: u64,
    z: Option<f64>,
    p: Option<f64>,
    drifted: bool,
    needed: Option<u64>,
    more_needed: Option<u64>,
}
