//! The burn-in statistics against scipy / statsmodels
//! (tests/fixtures/references/burnin.json, from scripts/generate_burnin_refs.py).

use serde_json::Value;
use titlesim_calibrate::burnin::stats;

fn refs() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/references/burnin.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).expect("burnin.json")).unwrap()
}

/// `tol` relative (absolute below 1).
fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: got {got}, scipy/statsmodels says {want} (diff {:e})",
        (got - want).abs()
    );
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn normal_cdf_and_quantile_match_scipy() {
    let r = refs();
    for c in r["normal"]["cdf"].as_array().unwrap() {
        let (x, want) = (f(&c[0]), f(&c[1]));
        // relative to the value itself: the far tails matter for tiny p-values
        let got = stats::norm_cdf(x);
        assert!(
            (got - want).abs() <= 1e-13 * want.abs(),
            "cdf({x}): {got} vs {want}"
        );
    }
    for c in r["normal"]["ppf"].as_array().unwrap() {
        let (p, want) = (f(&c[0]), f(&c[1]));
        close(&format!("ppf({p})"), stats::norm_ppf(p), want, 1e-12);
    }
}

#[test]
fn wilson_intervals_match_statsmodels() {
    for c in refs()["wilson"].as_array().unwrap() {
        let (k, n) = (c[0].as_u64().unwrap(), c[1].as_u64().unwrap());
        let (lo, hi) = titlesim_calibrate::stats::wilson_95(k, n).unwrap();
        close(&format!("wilson lo {k}/{n}"), lo, f(&c[2]), 1e-12);
        close(&format!("wilson hi {k}/{n}"), hi, f(&c[3]), 1e-12);
    }
}

#[test]
fn two_proportion_z_tests_match_statsmodels() {
    for c in refs()["ztest"].as_array().unwrap() {
        let k: Vec<u64> = (0..4).map(|i| c[i].as_u64().unwrap()).collect();
        let (z, p) = stats::two_proportion_z(k[0], k[1], k[2], k[3]).unwrap();
        close(&format!("z {k:?}"), z, f(&c[4]), 1e-10);
        let want = f(&c[5]);
        assert!(
            (p - want).abs() <= 1e-10 * want.max(1e-300),
            "p {k:?}: {p} vs {want}"
        );
    }
}

#[test]
fn effect_sizes_match_statsmodels() {
    for c in refs()["effect_size"].as_array().unwrap() {
        close(
            "cohen h",
            stats::cohen_h(f(&c[0]), f(&c[1])),
            f(&c[2]),
            1e-13,
        );
    }
}

#[test]
fn pairs_needed_match_statsmodels_power() {
    for c in refs()["needed"].as_array().unwrap() {
        let (p1, n1, alpha, power, drift) = (
            f(&c["p1"]),
            c["n1"].as_u64().unwrap(),
            f(&c["alpha"]),
            f(&c["power"]),
            f(&c["drift"]),
        );
        let targets: Vec<f64> = c["directions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| f(&d["p2"]))
            .collect();
        assert_eq!(stats::drift_targets(p1, drift), targets, "{p1} ± {drift}");
        for d in c["directions"].as_array().unwrap() {
            let h = stats::cohen_h(p1, f(&d["p2"]));
            close("h", h, f(&d["h"]), 1e-12);
            close(
                &format!("effective n for {p1} -> {}", d["p2"]),
                stats::effective_n(h, alpha, power),
                f(&d["n_eff"]),
                1e-8,
            );
        }
        let exact = stats::needed_pairs_exact(p1, n1, drift, alpha, power);
        match (exact, c["n2"].as_f64()) {
            (Some(g), Some(w)) => close(&format!("n2 for {p1} of {n1}"), g, w, 1e-7),
            (None, None) => {}
            (g, w) => panic!("n2 for {p1} of {n1}: got {g:?}, statsmodels {w:?}"),
        }
        assert_eq!(
            stats::needed_pairs(p1, n1, drift, alpha, power),
            c["needed"].as_u64(),
            "needed for {p1} of {n1}"
        );
    }
}
