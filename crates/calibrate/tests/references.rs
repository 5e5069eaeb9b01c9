//! Every statistic against scipy / numpy / scikit-learn
//! (tests/fixtures/references/stats.json, from scripts/generate_stats_refs.py).

mod common;

use serde_json::Value;
use titlesim_calibrate::{calibrate, stats, Grid, Options, PhaseStats, Threshold};

fn refs() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/references/stats.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).expect("stats.json")).unwrap()
}

/// `tol` is relative (absolute below 1). serde_json reads floats to within one ulp, so even
/// exact values (min, max, thresholds, shares) are compared to 1e-15 rather than bit for bit.
fn close(what: &str, got: f64, want: &Value, tol: f64) {
    let want = want
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: reference is {want}"));
    let scale = want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol * scale,
        "{what}: got {got}, scipy/numpy says {want} (diff {:e})",
        (got - want).abs()
    );
}

fn check_stat(what: &str, got: &stats::Stat, want: &Value, tol: f64) {
    match (got, want.is_null()) {
        (Ok(v), false) => close(what, *v, want, tol),
        (Err(_), true) => {}
        (g, _) => panic!("{what}: got {g:?}, reference {want}"),
    }
}

fn check_scope(ds: &str, name: &str, got: &PhaseStats, want: &Value, points: &[Threshold]) {
    let w = |k: &str| &want[k];
    let what = |k: &str| format!("{ds}/{name}/{k}");
    assert_eq!(got.n as u64, w("n").as_u64().unwrap(), "{}", what("n"));
    check_stat(&what("pearson"), &got.pearson, w("pearson"), 1e-10);
    check_stat(&what("spearman"), &got.spearman, w("spearman"), 1e-10);
    for (model, d) in [("canonical", &got.canonical), ("shadow", &got.shadow)] {
        let wd = &want[model];
        check_stat(&what(&format!("{model}.mean")), &d.mean, &wd["mean"], 1e-12);
        check_stat(&what(&format!("{model}.sd")), &d.sd, &wd["sd"], 1e-12);
        check_stat(&what(&format!("{model}.min")), &d.min, &wd["min"], 1e-15);
        check_stat(&what(&format!("{model}.max")), &d.max, &wd["max"], 1e-15);
        for (p, v) in &d.percentiles {
            check_stat(
                &what(&format!("{model}.p{p}")),
                v,
                &wd["percentiles"][format!("p{p}")],
                1e-12,
            );
        }
        // the configured threshold is the last pass entry of the shadow (first is "proposed"
        // only when one is given; none here)
        let pass = d.pass().unwrap().2.value().unwrap();
        close(
            &what(&format!("{model}.pass_rate")),
            pass,
            &wd["pass_rate"],
            1e-15,
        );
    }
    let wa = w("agreement").as_array().unwrap();
    assert_eq!(got.agreement.len(), wa.len());
    for ((t, s), (wk, p)) in got
        .agreement
        .iter()
        .zip(w("agreement_k").as_array().unwrap().iter().zip(points))
    {
        assert_eq!(t.label, p.label);
        assert_eq!(
            s.k,
            wk.as_u64().unwrap(),
            "{} at t = {}",
            what("agreement"),
            t
        );
    }
    let best = got.best.as_ref().unwrap();
    assert_eq!(
        best.0.label,
        w("best_threshold").as_str().unwrap(),
        "{}",
        what("best_threshold")
    );
    close(
        &what("best_agreement"),
        best.1.value().unwrap(),
        w("best_agreement"),
        1e-15,
    );

    if let Some(wl) = want.get("labels") {
        let l = got
            .labels
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no label stats", what("labels")));
        assert_eq!(l.n as u64, wl["n"].as_u64().unwrap());
        assert_eq!(l.positives as u64, wl["positives"].as_u64().unwrap());
        for (model, m) in [("canonical", &l.canonical), ("shadow", &l.shadow)] {
            let wm = &wl[model];
            let k = |s: &str| what(&format!("labels.{model}.{s}"));
            check_stat(&k("auc"), &m.auc, &wm["auc"], 1e-12);
            let (t, c) = m.best_f1.as_ref().unwrap();
            close(
                &k("best_f1_threshold"),
                t.value as f64,
                &wm["best_f1_threshold"],
                1e-15,
            );
            check_stat(&k("best_f1"), &c.f1(), &wm["best_f1"], 1e-12);
            let at = l
                .at_thresholds
                .iter()
                .find(|a| a.model == model && (a.which == "T" || a.which == "configured"))
                .unwrap();
            check_stat(
                &k("accuracy"),
                &at.confusion.accuracy(),
                &wm["accuracy"],
                1e-12,
            );
            check_stat(
                &k("precision"),
                &at.confusion.precision(),
                &wm["precision"],
                1e-12,
            );
            check_stat(&k("recall"), &at.confusion.recall(), &wm["recall"], 1e-12);
        }
    } else {
        assert!(got.labels.is_none());
    }
}

#[test]
fn calibration_matches_scipy_numpy_sklearn() {
    let r = refs();
    let sets = r["datasets"].as_array().unwrap();
    assert!(sets.len() >= 3);
    for ds in sets {
        let name = ds["name"].as_str().unwrap();
        let inp = &ds["input"];
        let f = |k: &str| -> Vec<f32> {
            inp[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let (c, s) = (f("canonical"), f("shadow"));
        let t_canon = inp["canonical_threshold"].as_f64().unwrap() as f32;
        let t_shadow = inp["shadow_threshold"].as_f64().unwrap() as f32;
        let records: Vec<_> = (0..c.len())
            .map(|i| {
                let phase = inp["phase"][i].as_str();
                let label = inp["label"]
                    .get(i)
                    .and_then(|v| v.as_u64())
                    .map(|v| v as u8);
                common::record(i, phase, c[i], Some(s[i]), t_canon, t_shadow, label)
            })
            .collect();
        let opts = Options {
            grid: Grid::parse(inp["grid"].as_str().unwrap()).unwrap(),
            floor: inp["floor"].as_f64().unwrap(),
            ..Options::default()
        };
        let cal = calibrate(&records, &opts).unwrap();
        let exp = &ds["expected"];
        let points = cal.grid.points().to_vec();
        let want_phases = exp["phases"].as_object().unwrap();
        assert_eq!(cal.phases.len(), want_phases.len(), "{name}: phases");
        for p in &cal.phases {
            check_scope(name, &p.name, p, &want_phases[&p.name], &points);
        }
        check_scope(name, "(pooled)", &cal.pooled, &exp["pooled"], &points);
        let wc = &exp["compromise"];
        let c = cal.compromise.as_ref().unwrap();
        assert_eq!(
            c.threshold.label,
            wc["threshold"].as_str().unwrap(),
            "{name}: compromise"
        );
        close(
            &format!("{name}/compromise.min"),
            c.min_agreement.value().unwrap(),
            &wc["min_agreement"],
            1e-15,
        );
        for (p, s) in &c.per_phase {
            close(
                &format!("{name}/compromise.{p}"),
                s.value().unwrap(),
                &wc["per_phase"][p],
                1e-15,
            );
        }
        match (&c.feasible, wc["feasible"].as_array()) {
            (None, None) => {}
            (Some((lo, hi)), Some(w)) => {
                assert_eq!(lo.label, w[0].as_str().unwrap(), "{name}: feasible lo");
                assert_eq!(hi.label, w[1].as_str().unwrap(), "{name}: feasible hi");
            }
            (g, w) => panic!("{name}: feasible {g:?} vs {w:?}"),
        }
    }
}

#[test]
fn sign_test_and_wilson_match_scipy_binomtest() {
    let r = refs();
    for b in r["binomial"].as_array().unwrap() {
        let (k, n) = (b["k"].as_u64().unwrap(), b["n"].as_u64().unwrap());
        let p = stats::sign_test(k, n).unwrap();
        let want = b["pvalue"].as_f64().unwrap();
        assert!(
            (p - want).abs() <= 1e-9 * want.max(1e-300) || (p - want).abs() < 1e-14,
            "binomtest({k}, {n}): got {p}, scipy {want}"
        );
        let (lo, hi) = stats::wilson_95(k, n).unwrap();
        close(&format!("wilson low {k}/{n}"), lo, &b["wilson_low"], 1e-12);
        close(
            &format!("wilson high {k}/{n}"),
            hi,
            &b["wilson_high"],
            1e-12,
        );
    }
}
