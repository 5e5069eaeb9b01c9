//! `promote` and `burn-in` on logs with known answers: the calibration and burn-in counts are
//! those of tests/fixtures/references/burnin.json, whose expectations, z-tests and pairs
//! needed come from statsmodels (scripts/generate_burnin_refs.py).

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use titlesim_calibrate::burnin::{self, BurnInOptions, Decision};
use titlesim_calibrate::promote::{self, Expectation, PromoteOptions};
use titlesim_calibrate::review::{self, TallyOptions};
use titlesim_calibrate::{calibrate, to_json, CalibrateError, Options, Threshold};
use titlesim_log::{ShadowRecord, SideRecord, SCHEMA_VERSION};

const OLD: &str = "BAAI/bge-small-en-v1.5";
const CAND: &str = "Qwen/Qwen3-Embedding-0.6B";
const OLD_FP: &str = "ts1-old";
const CAND_FP: &str = "ts1-cand";

const CONFIG: &str = r#"# validator scoring
[canonical]                         # the model whose verdicts count
model = "BAAI/bge-small-en-v1.5"
backend = "ort"
threshold = 0.70
gt_store = "stores/bge-small.gtstore"

[shadow]                            # the candidate
model = "Qwen/Qwen3-Embedding-0.6B"
backend = "ort"
threshold = 0.95                    # copied, and wrong for this model
gt_store = "stores/qwen3.gtstore"

[shadow_options]
log = "logs/shadow.jsonl"
"#;

fn refs() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/references/burnin.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).expect("burnin.json")).unwrap()
}

fn side(model: &str, fp: &str, threshold: f32, cosine: f32) -> SideRecord {
    SideRecord {
        model: model.into(),
        backend: "ort".into(),
        fingerprint: fp.into(),
        threshold,
        cosine: Some(cosine),
        pass: Some(cosine >= threshold),
        encode_ms: 1.0,
        error: None,
    }
}

fn record(i: usize, phase: &str, canonical: SideRecord, shadow: SideRecord) -> ShadowRecord {
    ShadowRecord {
        schema: SCHEMA_VERSION,
        ts: titlesim_log::time::format_rfc3339_ms(1_764_800_000_000 + i as i64 * 60_000),
        pair_id: format!("p{i}"),
        phase: Some(phase.into()),
        product: format!("product {i}"),
        gt: format!("gt {i}"),
        label: None,
        canonical,
        shadow: Some(shadow),
        replayed_at: None,
    }
}

/// Records interleaving the phases' kinds: `kinds[phase]` maps a kind to its count and
/// `make(kind)` gives the two sides of a pair of that kind.
fn interleave(
    phases: &Value,
    kinds: &[&str],
    make: &dyn Fn(&str) -> (SideRecord, SideRecord),
) -> Vec<ShadowRecord> {
    let mut queue: Vec<(String, String, u64)> = Vec::new();
    for (phase, c) in phases.as_object().unwrap() {
        for k in kinds {
            queue.push((phase.clone(), k.to_string(), c[*k].as_u64().unwrap()));
        }
    }
    let mut out = Vec::new();
    // round robin so every phase and kind is spread over the log (and over time)
    while queue.iter().any(|q| q.2 > 0) {
        for q in queue.iter_mut().filter(|q| q.2 > 0) {
            q.2 -= 1;
            let (c, s) = make(&q.1);
            out.push(record(out.len(), &q.0, c, s));
        }
    }
    out
}

/// The calibration logs: canonical = the old model at 0.70, shadow = the candidate logged at
/// the copied 0.95.
fn calibration_records(r: &Value) -> Vec<ShadowRecord> {
    interleave(&r["calibration"]["phases"], &["a", "b", "c", "d"], &|k| {
        let (old, cand) = match k {
            "a" => (0.80, 0.85),
            "b" => (0.60, 0.65),
            "c" => (0.80, 0.70),
            _ => (0.60, 0.78),
        };
        (
            side(OLD, OLD_FP, 0.70, old),
            side(CAND, CAND_FP, 0.95, cand),
        )
    })
}

/// Burn-in logs after the swap: canonical = the candidate at 0.79, shadow = the old at 0.70.
fn burn_in_records(r: &Value, scenario: &str) -> Vec<ShadowRecord> {
    interleave(
        &r["scenarios"][scenario]["phases"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(p, v)| (p.clone(), v["counts"].clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        &["pp", "pf", "fp", "ff"],
        &|k| {
            let cand = if k.starts_with('p') { 0.85 } else { 0.70 };
            let old = if k.ends_with('p') { 0.80 } else { 0.60 };
            (
                side(CAND, CAND_FP, 0.79, cand),
                side(OLD, OLD_FP, 0.70, old),
            )
        },
    )
}

/// Calibrates the reference logs and writes the calibration document into `dir`.
fn calibration_file(dir: &Path) -> PathBuf {
    let cal = calibrate(&calibration_records(&refs()), &Options::default()).unwrap();
    let p = dir.join("calibration.json");
    std::fs::write(&p, serde_json::to_string_pretty(&to_json(&cal)).unwrap()).unwrap();
    p
}

fn options() -> PromoteOptions {
    PromoteOptions {
        shadow_fingerprint: Some(CAND_FP.into()),
        canonical_fingerprint: Some(OLD_FP.into()),
        created: "2026-12-04T09:00:00.000Z".into(),
        out: "promoted.toml".into(),
        expectation: "promoted.expectation.json".into(),
        ..PromoteOptions::default()
    }
}

/// The burn-in of the reference case `case` (see burnin.json) against the promotion of the
/// default options, made in `dir`.
fn burn_in_case(dir: &Path, case: &str) -> burnin::BurnIn {
    let exp = promote_ok(dir, &options()).expectation;
    burnin::burn_in(
        &exp,
        &burn_in_records(&refs(), case),
        &BurnInOptions::default(),
    )
    .unwrap()
}

fn promote_ok(dir: &Path, opts: &PromoteOptions) -> promote::Promotion {
    let cal = promote::read_calibration(&calibration_file(dir)).unwrap();
    promote::promote(CONFIG, Path::new("titlesim.toml"), &cal, opts).unwrap()
}

fn refused(dir: &Path, opts: &PromoteOptions) -> Vec<String> {
    let cal = promote::read_calibration(&calibration_file(dir)).unwrap();
    match promote::promote(CONFIG, Path::new("titlesim.toml"), &cal, opts) {
        Err(CalibrateError::Refused { reasons }) => reasons,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn close(what: &str, got: f64, want: &Value) {
    let w = want.as_f64().unwrap();
    assert!(
        (got - w).abs()
            <= 1e-10
                * w.abs()
                    .max(1e-300)
                    .max(if w.abs() < 1e-3 { 0.0 } else { 1.0 }),
        "{what}: got {got}, statsmodels {w}"
    );
}

/// Every phase's tests and pairs needed equal the statsmodels references of `scenario`.
fn check_against_references(b: &burnin::BurnIn, scenario: &str) {
    let r = refs();
    for p in &b.phases {
        let want = &r["scenarios"][scenario]["phases"][&p.name];
        for (key, m) in [("pass_rate", &p.pass_rate), ("agreement", &p.agreement)] {
            let w = &want[key];
            let what = format!("{scenario}/{}/{key}", p.name);
            assert_eq!(m.expected.k, w["k1"].as_u64().unwrap(), "{what} k1");
            assert_eq!(m.expected.n, w["n1"].as_u64().unwrap(), "{what} n1");
            assert_eq!(m.measured.k, w["k2"].as_u64().unwrap(), "{what} k2");
            assert_eq!(m.measured.n, w["n2"].as_u64().unwrap(), "{what} n2");
            let (z, pv) = m.test.unwrap();
            assert!((z - w["z"].as_f64().unwrap()).abs() <= 1e-9, "{what} z {z}");
            close(&format!("{what} p"), pv, &w["p"]);
            assert_eq!(m.drifted, w["drifted"].as_bool().unwrap(), "{what} drifted");
            assert_eq!(m.needed, w["needed"].as_u64(), "{what} needed");
        }
    }
}

#[test]
fn a_swap_that_matches_promotes_to_stable() {
    let d = tempfile::tempdir().unwrap();
    let p = promote_ok(d.path(), &options());
    assert_eq!(p.threshold.label, "0.79", "the compromise");
    assert!(p.overridden.is_empty());

    // The expectation: statsmodels' Wilson intervals of the calibration's counts.
    let r = refs();
    for (name, want) in r["expectation"].as_object().unwrap() {
        let e = &p.expectation.phases[name];
        assert_eq!(e.pairs, want["n"].as_u64().unwrap());
        for (key, x) in [("pass_rate", &e.pass_rate), ("agreement", &e.agreement)] {
            let w = &want[key];
            assert_eq!(
                (x.k, x.n),
                (w["k"].as_u64().unwrap(), w["n"].as_u64().unwrap()),
                "{name} {key}"
            );
            for i in 0..2 {
                let wi = w["interval"][i].as_f64().unwrap();
                assert!((x.interval[i] - wi).abs() < 1e-12, "{name} {key} interval");
            }
        }
    }
    assert_eq!(
        p.expectation.canonical.fingerprint.as_deref(),
        Some(CAND_FP)
    );
    assert_eq!(p.expectation.shadow.fingerprint.as_deref(), Some(OLD_FP));
    assert_eq!(p.expectation.canonical.threshold, 0.79);
    assert_eq!(p.expectation.shadow.threshold, 0.70);

    // The configuration: bodies swapped, comments kept, provenance on top.
    assert!(
        p.config
            .starts_with("# titlesim promote, 2026-12-04T09:00:00.000Z\n"),
        "{}",
        p.config
    );
    let sha = promote::read_calibration(&d.path().join("calibration.json"))
        .unwrap()
        .sha256;
    assert!(p.config.contains(&format!("sha256 {sha}")), "{}", p.config);
    assert!(p
        .config
        .contains("# phase race: 600 pairs, agreement 93.3%, pass rate 43.3% at 0.79"));
    assert!(p
        .config
        .contains("# phase qualifying: 500 pairs, agreement 92.0%, pass rate 48.0% at 0.79"));
    let body = p
        .config
        .split("\n\n# validator scoring\n")
        .nth(1)
        .expect("the original document follows the block");
    assert_eq!(
        body,
        r#"[canonical]                         # the model whose verdicts count
model = "Qwen/Qwen3-Embedding-0.6B"
backend = "ort"
threshold = 0.79                    # calibrated: the calibration's compromise (was 0.95)
gt_store = "stores/qwen3.gtstore"

[shadow]                            # the candidate
model = "BAAI/bge-small-en-v1.5"
backend = "ort"
threshold = 0.70
gt_store = "stores/bge-small.gtstore"

[shadow_options]
log = "logs/shadow.jsonl"
"#
    );

    // The expectation round-trips through its file.
    let ep = d.path().join("e.json");
    std::fs::write(&ep, p.expectation.to_json_string()).unwrap();
    let exp = Expectation::read(&ep).unwrap();
    assert_eq!(exp, p.expectation);

    let b = burnin::burn_in(
        &exp,
        &burn_in_records(&r, "match"),
        &BurnInOptions::default(),
    )
    .unwrap();
    assert_eq!(b.decision, Decision::Promote);
    assert_eq!(b.decision.exit_code(), 0);
    assert_eq!(b.tests, 4);
    assert_eq!(b.alpha_per_test, 0.0125);
    check_against_references(&b, "match");
    assert!(!b.notes().iter().any(|n| n.contains("replay")));
    // Records of `titlesim replay` count, with a note: a burn-in judges live traffic.
    let mut replayed = burn_in_records(&r, "match");
    for rec in replayed.iter_mut().take(3) {
        rec.replayed_at = Some("2026-12-05T00:00:00.000Z".into());
    }
    let rb = burnin::burn_in(&exp, &replayed, &BurnInOptions::default()).unwrap();
    assert_eq!(rb.decision, Decision::Promote);
    let total = replayed.len();
    assert!(
        rb.notes().iter().any(|n| n.starts_with(&format!(
            "3 of the {total} records were written by `titlesim replay`"
        ))),
        "{:?}",
        rb.notes()
    );
    let text = b.render_text();
    assert!(text.contains("phase race: matches"), "{text}");
    assert!(
        text.contains(
            "decision: promote (exit 0)\nnext: the promotion stands: keep promoted.toml in force"
        ),
        "{text}"
    );
}

#[test]
fn a_copied_threshold_far_off_the_candidates_cosines_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let opts = PromoteOptions {
        threshold: Some(Threshold::parse("0.95").unwrap()),
        ..options()
    };
    let reasons = refused(d.path(), &opts);
    let all = reasons.join("\n");
    assert!(reasons.iter().any(|r| r.starts_with("floor: at t = 0.95 agreement falls below the 78% floor in qualifying 44.0%, race 50.0% (every phase keeps it for t in 0.66..=0.85)")), "{all}");
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("far-tail: all phases: t = 0.95 is above the 95th percentile")),
        "{all}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("far-tail: phase race:")),
        "{all}"
    );
    assert!(reasons.iter().any(|r| r.starts_with("pass-rate-shift: phase qualifying: at t = 0.95 the candidate passes 0.0% of pairs, the current canonical model 56.0%")), "{all}");
    assert!(!all.contains("fingerprint"), "{all}");

    // --force promotes and records why.
    let p = promote_ok(
        d.path(),
        &PromoteOptions {
            force: true,
            ..opts
        },
    );
    assert_eq!(p.overridden.len(), reasons.len());
    assert_eq!(p.expectation.forced, reasons);
    assert!(
        p.config.contains("# FORCED past floor: at t = 0.95"),
        "{}",
        p.config
    );
    assert!(p.config.contains(
        "threshold = 0.95                    # calibrated: given with --threshold (was 0.95)"
    ));
}

#[test]
fn a_calibration_of_another_model_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let reasons = refused(
        d.path(),
        &PromoteOptions {
            shadow_fingerprint: Some("ts1-other".into()),
            ..options()
        },
    );
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("fingerprint: the calibration was made with shadow model fingerprint(s) ts1-cand but the configuration's [shadow] model has ts1-other"), "{reasons:?}");
}

/// The calibration's canonical side must be the configuration's `[canonical]`: its figures
/// were computed against that threshold and model, and the burn-in compares with them.
#[test]
fn a_calibration_against_another_canonical_side_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let cal = promote::read_calibration(&calibration_file(d.path())).unwrap();
    // The configuration's canonical threshold moved after the logs were written (0.70 -> 0.75).
    let moved = CONFIG.replacen("threshold = 0.70", "threshold = 0.75", 1);
    let e = promote::promote(&moved, Path::new("titlesim.toml"), &cal, &options()).unwrap_err();
    let CalibrateError::Refused { reasons } = e else {
        panic!("{e:?}")
    };
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("canonical: the calibration judged agreement against the canonical threshold 0.7 but the configuration's [canonical] threshold is 0.75"), "{reasons:?}");
    assert!(reasons[0].contains("--canon-threshold 0.75"), "{reasons:?}");

    // Another canonical model than the logs': the burn-in would stop at its first record.
    let reasons = refused(
        d.path(),
        &PromoteOptions {
            canonical_fingerprint: Some("ts1-other".into()),
            ..options()
        },
    );
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].starts_with("canonical: the calibration's logs had canonical model fingerprint(s) ts1-old but the configuration's [canonical] model has ts1-other"), "{reasons:?}");
    // Unknown (the model did not load, under --force) is refused too, and --force records it.
    let unknown = PromoteOptions {
        canonical_fingerprint: None,
        ..options()
    };
    assert_eq!(
        refused(d.path(), &unknown),
        ["canonical: the configuration's canonical model fingerprint is unknown"]
    );
    let p = promote_ok(
        d.path(),
        &PromoteOptions {
            force: true,
            ..unknown
        },
    );
    assert_eq!(
        p.expectation.forced,
        ["canonical: the configuration's canonical model fingerprint is unknown"]
    );
}

/// A promotion holds the configuration's lock from reading it until it is written: a second
/// one of the same file meanwhile is refused, not left to drop the first with its rename.
#[test]
fn a_second_promotion_of_one_configuration_at_once_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let c = d.path().join("titlesim.toml");
    std::fs::write(&c, CONFIG).unwrap();
    let first = promote::read_config_locked(&c).unwrap();
    assert_eq!(first.text, CONFIG);
    let e = promote::read_config_locked(&c).unwrap_err();
    assert!(
        matches!(
            &e,
            CalibrateError::Log(titlesim_core::Error::Locked { path, .. }) if path == &c
        ),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("another `titlesim promote` is promoting this configuration"),
        "{e}"
    );
    drop(first);
    // Once the first is written and its lock gone, the file in force is read.
    std::fs::write(&c, "[canonical]\n").unwrap();
    assert_eq!(
        promote::read_config_locked(&c).unwrap().text,
        "[canonical]\n"
    );
}

#[test]
fn an_edited_calibration_is_refused_not_read_at_the_wrong_point() {
    // promote reads every phase at the pooled grid's index of the threshold: a phase on
    // another grid had its values read at another threshold (0.72's, labelled 0.77), and a
    // share of 1.7 or -0.3 was clamped to 100% or 0% without a word.
    let d = tempfile::tempdir().unwrap();
    let good: Value =
        serde_json::from_str(&std::fs::read_to_string(calibration_file(d.path())).unwrap())
            .unwrap();
    let edited = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut doc = good.clone();
        edit(&mut doc);
        let p = d.path().join(name);
        std::fs::write(&p, serde_json::to_string(&doc).unwrap()).unwrap();
        match promote::read_calibration(&p) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = edited("reversed.json", &|doc| {
        let a = doc["phases"]["race"]["agreement"].as_array_mut().unwrap();
        a.reverse();
    });
    assert!(
        e.contains("phase race: `agreement` is on another grid than the pooled `agreement`"),
        "{e}"
    );
    let e = edited("share.json", &|doc| {
        doc["phases"]["race"]["shadow_pass_rate"][3][1] = json!(1.7);
    });
    assert!(e.contains("phase race: `shadow_pass_rate` at "), "{e}");
    assert!(e.contains(": 1.7 is not a share between 0 and 1"), "{e}");
    let e = edited("pass.json", &|doc| {
        doc["pooled"]["canonical"]["pass_rate"] = json!(-0.3);
    });
    assert!(
        e.contains("phase (pooled): `canonical.pass_rate`: -0.3 is not a share"),
        "{e}"
    );
}

/// A hand-edited calibration with a pair count near u64's limit: the pass-rate-shift check
/// multiplied it by 20 in u64 (a panic in debug builds, a wrapped and wrong answer in release).
#[test]
fn a_huge_pair_count_is_compared_without_overflow() {
    let d = tempfile::tempdir().unwrap();
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(calibration_file(d.path())).unwrap())
            .unwrap();
    let huge = 10_000_000_000_000_000_000u64;
    doc["pooled"]["n"] = json!(huge);
    for (_, p) in doc["phases"].as_object_mut().unwrap() {
        p["n"] = json!(huge);
    }
    let p = d.path().join("huge.json");
    std::fs::write(&p, serde_json::to_string(&doc).unwrap()).unwrap();
    let outcome = promote::read_calibration(&p)
        .and_then(|cal| promote::promote(CONFIG, Path::new("titlesim.toml"), &cal, &options()));
    // The reference shares shift less than 20 points: promoted, as at the real counts.
    assert!(outcome.is_ok(), "{:?}", outcome.err());
}

#[test]
fn a_review_that_finds_the_candidate_worse_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("review.csv");
    let mut text = String::from("pair_id,phase,verdict\n");
    for i in 0..12 {
        text.push_str(&format!(
            "p{i},race,{}\n",
            if i < 11 { "canonical" } else { "shadow" }
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let tally = review::tally(&csv, &TallyOptions::default()).unwrap();
    let reasons = refused(
        d.path(),
        &PromoteOptions {
            review: Some(tally.clone()),
            ..options()
        },
    );
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("finds the candidate significantly worse: the current canonical model was right in 11 and the candidate in 1 of the 12"), "{reasons:?}");
    assert!(reasons[0].contains("p = 0.006"), "{reasons:?}");

    // a split review passes, and its tally goes into the provenance
    let mut text = String::from("pair_id,phase,shadow_threshold,verdict\n");
    for i in 0..15 {
        text.push_str(&format!(
            "p{i},race,0.72,{}\n",
            if i < 7 { "canonical" } else { "shadow" }
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let tally = review::tally(&csv, &TallyOptions::default()).unwrap();
    let p = promote_ok(
        d.path(),
        &PromoteOptions {
            review: Some(tally),
            ..options()
        },
    );
    assert!(p.config.contains("canonical right 7, candidate right 8, both 0, neither 0, not reviewed 0; sign test p = 1.000"), "{}", p.config);
    // ... and says when the review judged another threshold's disagreements
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("was exported at shadow threshold 0.72, the promotion uses 0.79")),
        "{:?}",
        p.notes
    );
    assert!(p.config.contains("# note: the review "), "{}", p.config);

    // A review exported from logs of another canonical threshold (another cycle's review)
    // is no evidence about this candidate: refused.
    let mut text = String::from("pair_id,phase,canonical_threshold,verdict\n");
    for i in 0..15 {
        let t = if i == 3 { "0.782" } else { "0.7" };
        text.push_str(&format!("p{i},race,{t},shadow\n"));
    }
    std::fs::write(&csv, text).unwrap();
    let tally = review::tally(&csv, &TallyOptions::default()).unwrap();
    let reasons = refused(
        d.path(),
        &PromoteOptions {
            review: Some(tally),
            ..options()
        },
    );
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("review: the review ")
            && reasons[0].contains(
                "was exported at canonical threshold 0.782, but the calibration's is 0.7"
            ),
        "{reasons:?}"
    );

    // At the same thresholds, a review of an earlier cycle's candidate (its fingerprint in
    // the export's column) is refused too; this calibration's own fingerprints pass.
    for (shadow_fp, refused_too) in [("ts1-earlier", true), (CAND_FP, false)] {
        let mut text = String::from(
            "pair_id,phase,canonical_threshold,verdict,canonical_fingerprint,shadow_fingerprint\n",
        );
        for i in 0..15 {
            let v = if i < 7 { "canonical" } else { "shadow" };
            text.push_str(&format!("p{i},race,0.7,{v},{OLD_FP},{shadow_fp}\n"));
        }
        std::fs::write(&csv, text).unwrap();
        let review = Some(review::tally(&csv, &TallyOptions::default()).unwrap());
        let opts = PromoteOptions {
            review,
            ..options()
        };
        if refused_too {
            let reasons = refused(d.path(), &opts);
            assert_eq!(reasons.len(), 1, "{reasons:?}");
            assert!(
                reasons[0].contains(&format!(
                    "exported from logs whose shadow model has fingerprint ts1-earlier, but the \
                     calibration's shadow model has {CAND_FP}"
                )),
                "{reasons:?}"
            );
        } else {
            promote_ok(d.path(), &opts);
        }
    }
}

#[test]
fn a_review_with_no_verdicts_is_refused_and_a_partial_one_is_noted() {
    let d = tempfile::tempdir().unwrap();
    let csv = d.path().join("review.csv");
    // Exported, never filled in: it would pass the sign test (p = 1) and stand in the
    // provenance as if people had reviewed the disagreements.
    let mut text = String::from("pair_id,phase,verdict\n");
    for i in 0..4 {
        text.push_str(&format!("p{i},race,\n"));
    }
    std::fs::write(&csv, &text).unwrap();
    let tally = review::tally(&csv, &TallyOptions::default()).unwrap();
    let reasons = refused(
        d.path(),
        &PromoteOptions {
            review: Some(tally.clone()),
            ..options()
        },
    );
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("has no verdicts: none of its 4 rows has its `verdict` filled in"),
        "{reasons:?}"
    );
    // Half filled in: promoted, with a note naming the lines left.
    let text = "pair_id,phase,verdict\np0,race,shadow\np1,race,\np2,race,canonical\np3,race,\n";
    std::fs::write(&csv, text).unwrap();
    let tally = review::tally(&csv, &TallyOptions::default()).unwrap();
    let p = promote_ok(
        d.path(),
        &PromoteOptions {
            review: Some(tally),
            ..options()
        },
    );
    assert!(
        p.notes.iter().any(|n| n.contains(
            "has 2 of its 4 rows without a verdict (lines 3, 5): the sign test counts only the 2 reviewed"
        )),
        "{:?}",
        p.notes
    );
}

#[test]
fn a_drift_in_one_phase_rolls_back_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let b = burn_in_case(d.path(), "drift_race");
    assert_eq!(b.decision, Decision::RollBack);
    assert_eq!(b.decision.exit_code(), 2);
    check_against_references(&b, "drift_race");
    let race = b.phases.iter().find(|p| p.name == "race").unwrap();
    let qual = b.phases.iter().find(|p| p.name == "qualifying").unwrap();
    assert_eq!(race.decision, Decision::RollBack);
    assert_eq!(qual.decision, Decision::Promote);
    let why = b.reason(race);
    assert!(why.starts_with("phase race: roll back — pass rate measured 30.0% (360/1200) against the expected 43.3% (95% interval 39.4%–47.3%, 260/600 in calibration): two-proportion z-test z = 5.61, p = 2.00e-8 < 0.0125 (0.05 over 4 tests)"), "{why}");
    assert!(
        why.contains("; agreement measured 80.0% (960/1200) against the expected 93.3%"),
        "{why}"
    );
    let j = b.to_json();
    assert_eq!(j["decision"], "roll-back");
    assert_eq!(j["exit_code"], 2);
    assert_eq!(j["phases"]["race"]["decision"], "roll-back");
    assert_eq!(j["phases"]["qualifying"]["decision"], "promote");
}

#[test]
fn too_few_pairs_keep_watching_with_the_pairs_needed() {
    let d = tempfile::tempdir().unwrap();
    let b = burn_in_case(d.path(), "few");
    assert_eq!(b.decision, Decision::KeepWatching);
    assert_eq!(b.decision.exit_code(), 1);
    check_against_references(&b, "few");
    let race = b.phases.iter().find(|p| p.name == "race").unwrap();
    assert_eq!(race.pass_rate.needed, Some(517));
    assert_eq!(race.pass_rate.more_needed(), Some(397));
    let why = b.reason(race);
    assert_eq!(why, "phase race: keep watching — 120 pairs so far, no drift shown; 517 pairs needed to tell a drift of 10 points in pass rate at 80% power (397 more); 135 pairs needed to tell a drift of 10 points in agreement at 80% power (15 more)");
    let j = b.to_json();
    assert_eq!(j["phases"]["qualifying"]["pass_rate"]["needed"], 621);
    assert_eq!(j["phases"]["qualifying"]["pass_rate"]["more_needed"], 521);
}

/// A phase of a handful of calibration pairs (a smoke test's records, say) went into the
/// expectation without a word, and its burn-in could only ever keep watching: promote says so.
#[test]
fn a_phase_too_small_for_any_burn_in_is_noted_at_promotion() {
    let d = tempfile::tempdir().unwrap();
    assert!(
        !promote_ok(d.path(), &options())
            .notes
            .iter()
            .any(|n| n.contains("too few for any burn-in")),
        "the reference phases can be burnt in"
    );
    let mut recs = calibration_records(&refs());
    let n = recs.len();
    for i in 0..5 {
        recs.push(record(
            n + i,
            "smoke",
            side(OLD, OLD_FP, 0.70, 0.80),
            side(CAND, CAND_FP, 0.95, 0.85),
        ));
    }
    let cal = calibrate(&recs, &Options::default()).unwrap();
    let p = d.path().join("small.json");
    std::fs::write(&p, serde_json::to_string_pretty(&to_json(&cal)).unwrap()).unwrap();
    let cal = promote::read_calibration(&p).unwrap();
    let notes = promote::promote(CONFIG, Path::new("titlesim.toml"), &cal, &options())
        .unwrap()
        .notes;
    let note = notes
        .iter()
        .find(|n| n.starts_with("phase smoke: its 5 calibration pairs are too few"))
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!(note.contains("in its pass rate and agreement"), "{note}");
    // and the burn-in agrees: it can never reach the pairs needed for that phase
    let exp = promote::promote(CONFIG, Path::new("titlesim.toml"), &cal, &options())
        .unwrap()
        .expectation;
    let b = burnin::burn_in(&exp, &[], &BurnInOptions::default()).unwrap();
    let smoke = b.phases.iter().find(|p| p.name == "smoke").unwrap();
    assert_eq!(smoke.pass_rate.needed, None);
}

#[test]
fn a_log_given_twice_counts_each_pair_once() {
    // The same day's log passed twice (or rotated logs that overlap) used to count every pair
    // twice: "needed" reached on half the data, and p-values as if the sample were doubled.
    let d = tempfile::tempdir().unwrap();
    let exp = promote_ok(d.path(), &options()).expectation;
    let once = burn_in_records(&refs(), "few");
    let twice: Vec<ShadowRecord> = once.iter().chain(&once).cloned().collect();
    let b = burnin::burn_in(&exp, &twice, &BurnInOptions::default()).unwrap();
    assert_eq!(b.decision, Decision::KeepWatching);
    check_against_references(&b, "few");
    assert_eq!(b.left.duplicates, once.len());
    assert_eq!(b.records, twice.len());
    let series: usize = b.measured.values().map(|m| m.series.len()).sum();
    assert_eq!(
        series,
        once.len(),
        "the plot's series counts each pair once"
    );
    let notes = b.notes();
    assert!(
        notes.iter().any(|n| n.starts_with(&format!(
            "{} record(s) of a pair id seen earlier left out",
            once.len()
        ))),
        "{notes:?}"
    );
}

/// A record whose `ts` is not a time puts every series on record numbers: that is said, and
/// where (it was a silent change of the plot's axis).
#[test]
fn a_record_without_a_time_is_named_when_the_series_follow_record_numbers() {
    let d = tempfile::tempdir().unwrap();
    let exp = promote_ok(d.path(), &options()).expectation;
    let mut records = burn_in_records(&refs(), "few");
    let b = burnin::burn_in(&exp, &records, &BurnInOptions::default()).unwrap();
    assert!(b.timed() && b.untimed.is_none());
    assert!(!b.notes().iter().any(|n| n.contains("record numbers")));
    records[3].ts = "yesterday".into();
    let id = records[3].pair_id.clone();
    let b = burnin::burn_in(&exp, &records, &BurnInOptions::default()).unwrap();
    assert!(!b.timed());
    let want = format!(
        "the running rates follow record numbers, not the clock: record 4 (pair {id}) has ts \"yesterday\", not an RFC 3339 time"
    );
    assert!(b.notes().contains(&want), "{:?}", b.notes());
}

#[test]
fn a_pair_id_reused_for_another_pair_is_refused_as_calibrate_refuses_it() {
    // Two runs that reused ids: the first record counted and the other run's pairs were
    // dropped with a note, so the decision hung on the order the logs were given in.
    let d = tempfile::tempdir().unwrap();
    let exp = promote_ok(d.path(), &options()).expectation;
    let run1 = burn_in_records(&refs(), "few");
    let mut run2 = run1.clone();
    for r in &mut run2 {
        r.product = format!("another run's {}", r.product);
    }
    for records in [
        run1.iter().chain(&run2).cloned().collect::<Vec<_>>(),
        run2.iter().chain(&run1).cloned().collect(),
    ] {
        let e = burnin::burn_in(&exp, &records, &BurnInOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!(
                "pair id `{}` names two different pairs (their product, gt or phase differ), and so do {} other id(s)",
                run1[0].pair_id,
                run1.len() - 1
            )),
            "{e}"
        );
    }
    // From logs: the log and line of both records.
    let (a, b) = (d.path().join("run1.jsonl"), d.path().join("run2.jsonl"));
    for (p, records) in [(&a, &run1), (&b, &run2)] {
        let mut buf = Vec::new();
        titlesim_log::write_lines(&mut buf, records);
        std::fs::write(p, buf).unwrap();
    }
    let e = burnin::burn_in_logs(&exp, &[&a, &b], &BurnInOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "{}:1: pair id `{}` names another pair than on {}:1 (their product, gt or phase differ)",
            b.display(),
            run1[0].pair_id,
            a.display()
        )),
        "{e}"
    );
}

#[test]
fn an_expectation_edited_by_hand_is_read_by_its_counts() {
    // The share was recomputed from k/n but the interval printed as written, so an edited k
    // showed "100.0% (95% interval 99.4%-99.9%)".
    let d = tempfile::tempdir().unwrap();
    let exp = promote_ok(d.path(), &options()).expectation;
    let mut doc: Value = serde_json::from_str(&exp.to_json_string()).unwrap();
    let n = doc["phases"]["race"]["pass_rate"]["n"].as_u64().unwrap();
    doc["phases"]["race"]["pass_rate"]["k"] = json!(n);
    let p = d.path().join("edited.expectation.json");
    std::fs::write(&p, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let read = Expectation::read(&p).unwrap();
    let x = &read.phases["race"].pass_rate;
    assert_eq!((x.k, x.n, x.share), (n, n, 1.0));
    let (lo, hi) = titlesim_calibrate::stats::wilson_95(n, n).unwrap();
    assert_eq!(x.interval, [lo, hi]);
    assert!(x.interval[0] <= x.share && x.share <= x.interval[1]);
    // an untouched phase reads back as written
    assert_eq!(read.phases["qualifying"], exp.phases["qualifying"]);
}

#[test]
fn burn_in_refuses_logs_of_other_models_and_bad_expectations() {
    let d = tempfile::tempdir().unwrap();
    let exp = promote_ok(d.path(), &options()).expectation;
    // the calibration's own logs were written before the promotion
    let e = burnin::burn_in(
        &exp,
        &calibration_records(&refs()),
        &BurnInOptions::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("canonical fingerprint ts1-old is not the promoted model's ts1-cand"),
        "{e}"
    );
    // a log on disk is named
    let log = d.path().join("old.jsonl");
    let mut buf = Vec::new();
    titlesim_log::write_lines(&mut buf, &calibration_records(&refs())[..3]);
    // a blank line first: the record that is refused is on line 2
    std::fs::write(&log, [b"\n".as_slice(), &buf].concat()).unwrap();
    let e = burnin::burn_in_logs(&exp, &[&log], &BurnInOptions::default()).unwrap_err();
    let want = format!("{}:2: pair ", log.display());
    assert!(
        e.to_string().starts_with(&want)
            && e.to_string()
                .contains("canonical fingerprint ts1-old is not the promoted model's"),
        "{e}"
    );
    // options out of range
    let bad = BurnInOptions {
        power: 1.5,
        ..BurnInOptions::default()
    };
    assert!(burnin::burn_in(&exp, &[], &bad)
        .unwrap_err()
        .to_string()
        .contains("power 1.5"));
    // a power at or below alpha (the per-test alpha is lower still): refused, where the
    // sample-size search halved forever
    let low = BurnInOptions {
        power: 0.02,
        ..BurnInOptions::default()
    };
    let e = burnin::burn_in(&exp, &[], &low).unwrap_err().to_string();
    assert!(e.contains("power 0.02 is not above alpha 0.05"), "{e}");
    // and the search itself ends, at no pairs, for a power below the test's level
    assert!(titlesim_calibrate::burnin::stats::effective_n(0.2, 0.05, 0.01) < 1e-9);
    // a broken expectation names the field
    let ep = d.path().join("e.json");
    let mut v: Value = serde_json::from_str(&exp.to_json_string()).unwrap();
    v["phases"]["race"]["pass_rate"]["k"] = Value::from(9999);
    std::fs::write(&ep, v.to_string()).unwrap();
    let e = Expectation::read(&ep).unwrap_err().to_string();
    assert!(
        e.contains("phases.race.pass_rate: k = 9999 of n = 600"),
        "{e}"
    );
    // a hand-edited confidence would be shown and not used: the intervals are 95%
    let mut c: Value = serde_json::from_str(&exp.to_json_string()).unwrap();
    c["confidence"] = Value::from(0.5);
    std::fs::write(&ep, c.to_string()).unwrap();
    let e = Expectation::read(&ep).unwrap_err().to_string();
    assert!(
        e.contains("confidence: 0.5: an expectation's intervals are 95%"),
        "{e}"
    );
    v["phases"]["race"]["pass_rate"]["k"] = Value::from("many");
    std::fs::write(&ep, v.to_string()).unwrap();
    let e = Expectation::read(&ep).unwrap_err().to_string();
    assert!(
        e.contains("not an expectation file") && e.contains("line"),
        "{e}"
    );
    // a phase given twice (a hand edit) is an error, not the last one silently
    let v: Value = serde_json::from_str(&exp.to_json_string()).unwrap();
    std::fs::write(&ep, with_a_phase_twice(&v, "race")).unwrap();
    let e = Expectation::read(&ep).unwrap_err().to_string();
    assert!(
        e.contains("not an expectation file") && e.contains("the key `race` appears twice"),
        "{e}"
    );
}

/// `v` as JSON text with its `phases.NAME` entry written twice.
fn with_a_phase_twice(v: &Value, name: &str) -> String {
    let entry = v["phases"][name].to_string();
    let mut rest = v.clone();
    rest.as_object_mut().unwrap().remove("phases");
    let rest = rest.to_string();
    format!(
        "{{\"phases\": {{\"{name}\": {entry},\n\"{name}\": {entry}}}, {}",
        &rest[1..]
    )
}

#[test]
fn promote_refuses_bad_inputs_clearly() {
    let d = tempfile::tempdir().unwrap();
    let cal = promote::read_calibration(&calibration_file(d.path())).unwrap();
    let off_grid = PromoteOptions {
        threshold: Some(Threshold::parse("0.795").unwrap()),
        ..options()
    };
    let e = promote::promote(CONFIG, Path::new("c.toml"), &cal, &off_grid).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}: threshold 0.795 (given with --threshold) is not on the `grid` of this calibration",
            cal.path.display()
        )),
        "{e}"
    );
    // a calibration without fingerprints or pass-rate curves (made before promote existed)
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&cal.path).unwrap()).unwrap();
    v["phases"]["race"]
        .as_object_mut()
        .unwrap()
        .remove("shadow_pass_rate");
    let old = d.path().join("old.json");
    std::fs::write(&old, v.to_string()).unwrap();
    let e = promote::read_calibration(&old).unwrap_err().to_string();
    assert!(e.contains("phase race: no `shadow_pass_rate`"), "{e}");
    std::fs::write(&old, "{\"phases\": 3}").unwrap();
    let e = promote::read_calibration(&old).unwrap_err().to_string();
    assert!(
        e.contains("not a calibration document") && e.contains("line 1"),
        "{e}"
    );
    // a phase given twice: refused, naming it and its line
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&cal.path).unwrap()).unwrap();
    std::fs::write(&old, with_a_phase_twice(&v, "race")).unwrap();
    let e = promote::read_calibration(&old).unwrap_err().to_string();
    assert!(
        e.contains("the key `race` appears twice") && e.contains("line 2"),
        "{e}"
    );
}

#[test]
fn burn_in_plot_is_written() {
    let d = tempfile::tempdir().unwrap();
    let b = burn_in_case(d.path(), "drift_race");
    let opts = titlesim_calibrate::ReportOptions {
        font: titlesim_calibrate::FontChoice::NoText,
        ..Default::default()
    };
    let files = burnin::write_plot(&b, &d.path().join("report"), &opts).unwrap();
    assert_eq!(files.len(), 3);
    let svg = std::fs::read_to_string(d.path().join("report/pass_rate.svg")).unwrap();
    assert!(svg.contains("race (roll-back)") && svg.contains("qualifying (promote)"));
    assert!(svg.contains("hours since the first burn-in record"));
    assert!(
        std::fs::metadata(d.path().join("report/pass_rate.png"))
            .unwrap()
            .len()
            > 1000
    );
}

#[test]
fn control_characters_in_names_cannot_break_or_disguise_the_provenance_comments() {
    // An escape sequence or bell in a path made the promoted file invalid TOML ("does not read
    // back (this is a bug)"); a newline must not start a key; a right-to-left override would
    // make an editor show other text than the file holds.
    let d = tempfile::tempdir().unwrap();
    let opts = PromoteOptions {
        expectation: "exp\u{1b}[8m\u{202e}nosj.json\n[canonical]\nthreshold = 0.1".into(),
        log: Some("burn\u{7}in.jsonl\r".into()),
        ..options()
    };
    let p = promote_ok(d.path(), &opts);
    let doc: toml_edit::DocumentMut = p.config.parse().unwrap();
    assert_eq!(doc["canonical"]["threshold"].as_float(), Some(0.79));
    for line in p.config.lines().filter(|l| l.starts_with('#')) {
        assert!(
            !line.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{line:?}"
        );
    }
    assert!(
        p.config.contains("burn\\u{7}in.jsonl\\u{d}"),
        "{}",
        p.config
    );
    let want = "exp\\u{1b}[8m\\u{202e}nosj.json\\u{a}[canonical]\\u{a}threshold = 0.1";
    assert!(p.config.contains(want), "{}", p.config);
}
