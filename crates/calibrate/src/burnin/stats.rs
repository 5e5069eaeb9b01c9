//! The statistics of the burn-in: the normal distribution, the two-proportion z-test, Cohen's
//! h, and the burn-in pairs needed to tell a drift at a given power. Each matches scipy /
//! statsmodels (see `scripts/generate_burnin_refs.py` for the exact calls).

use std::f64::consts::SQRT_2;

/// The standard normal CDF, as scipy's `norm.cdf` (through `erfc`, accurate in both tails).
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / SQRT_2)
}

/// The standard normal quantile, as scipy's `norm.ppf`, for `p` in (0, 1): Acklam's rational
/// approximation refined by one Halley step on [`norm_cdf`] (relative error below 1e-13).
pub fn norm_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let mut x = if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    // Halley refinement of cdf(x) - p; above the median through the upper tail,
    // cdf(x) - p = (1 - p) - sf(x), for accuracy.
    for _ in 0..2 {
        let e = if x < 0.0 {
            norm_cdf(x) - p
        } else {
            (1.0 - p) - 0.5 * libm::erfc(x / SQRT_2)
        };
        let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
        x -= u / (1.0 + x * u / 2.0);
    }
    x
}

/// The two-sided two-proportion z-test of `k1/n1` against `k2/n2` with the pooled variance, as
/// statsmodels' `proportions_ztest([k1, k2], [n1, n2])`: `(z, p)`, `z` positive when the
/// first share is the larger. Both shares 0 or both 1 is no difference: `(0, 1)`.
/// `None` when a sample is empty.
pub fn two_proportion_z(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<(f64, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (k1f, n1f, k2f, n2f) = (k1 as f64, n1 as f64, k2 as f64, n2 as f64);
    if k1 + k2 == 0 || k1 + k2 == n1 + n2 {
        return Some((0.0, 1.0));
    }
    let pooled = (k1f + k2f) / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    let z = (k1f / n1f - k2f / n2f) / se;
    Some((z, libm::erfc(z.abs() / SQRT_2)))
}

/// Cohen's h between two shares, as statsmodels' `proportion_effectsize(p1, p2)`.
pub fn cohen_h(p1: f64, p2: f64) -> f64 {
    2.0 * p1.sqrt().asin() - 2.0 * p2.sqrt().asin()
}

/// The power of the two-sided normal test of effect size `h` with effective sample size
/// `n_eff = 1 / (1/n1 + 1/n2)`, as statsmodels' `NormalIndPower().power`.
pub fn normal_power(h: f64, n_eff: f64, alpha: f64) -> f64 {
    let crit = -norm_ppf(alpha / 2.0);
    let d = h.abs() * n_eff.sqrt();
    // norm.sf(crit - d) + norm.cdf(-crit - d)
    0.5 * libm::erfc((crit - d) / SQRT_2) + norm_cdf(-crit - d)
}

/// The effective sample size at which [`normal_power`] reaches `power` (bisection on the
/// monotone power curve).
pub fn effective_n(h: f64, alpha: f64, power: f64) -> f64 {
    let h = h.abs();
    // the one-tailed closed form is within a hair of the answer: bracket around it
    let guess = ((-norm_ppf(alpha / 2.0) + norm_ppf(power)) / h).powi(2);
    let (mut lo, mut hi) = (guess * 0.5, guess * 1.5 + 1.0);
    // At n = 0 the power is alpha: a `power` at or below it is met by no pairs at all (and the
    // halving would never end).
    while lo > 0.0 && normal_power(h, lo, alpha) > power {
        lo /= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if normal_power(h, mid, alpha) < power {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The drifted shares a burn-in guards against: `p1 - drift` and `p1 + drift` where each is a
/// share (in 0..=1); when neither is, the farther end of 0..=1, the largest drift a share
/// allows. A direction the drift cannot take is left out, not clamped: clamped, an agreement
/// of 99.8% would stand for a 10-point drift by a 0.2-point one and ask for tens of thousands
/// of pairs (or none would do).
pub fn drift_targets(p1: f64, drift: f64) -> Vec<f64> {
    const EPS: f64 = 1e-12;
    let mut out: Vec<f64> = [p1 - drift, p1 + drift]
        .into_iter()
        .filter(|p2| (-EPS..=1.0 + EPS).contains(p2))
        .map(|p2| p2.clamp(0.0, 1.0))
        .collect();
    if out.is_empty() {
        out.push(if p1 >= 0.5 { 0.0 } else { 1.0 });
    }
    out.retain(|&p2| p2 != p1);
    out
}

/// Burn-in pairs needed to tell a drift of `drift` (absolute share) from the calibration's
/// share `p1` (measured on `n1` pairs) at `power`, two-sided at level `alpha`, whichever way it
/// drifts ([`drift_targets`]; the larger answer kept). The continuous solution; `None` when no
/// burn-in is large enough (the calibration sample alone is too small).
pub fn needed_pairs_exact(p1: f64, n1: u64, drift: f64, alpha: f64, power: f64) -> Option<f64> {
    let mut worst: f64 = 0.0;
    for p2 in drift_targets(p1, drift) {
        let n_eff = effective_n(cohen_h(p1, p2), alpha, power);
        if n_eff >= n1 as f64 {
            return None;
        }
        worst = worst.max(1.0 / (1.0 / n_eff - 1.0 / n1 as f64));
    }
    Some(worst)
}

/// [`needed_pairs_exact`] rounded up to whole pairs.
pub fn needed_pairs(p1: f64, n1: u64, drift: f64, alpha: f64, power: f64) -> Option<u64> {
    needed_pairs_exact(p1, n1, drift, alpha, power).map(|n| (n - 1e-9).ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_inverts_the_cdf() {
        for p in [1e-12, 1e-5, 0.01, 0.3, 0.5, 0.7, 0.99, 1.0 - 1e-9] {
            let x = norm_ppf(p);
            assert!((norm_cdf(x) - p).abs() <= 1e-14 * p.max(1e-3), "{p}");
        }
        assert!((norm_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-13);
    }

    #[test]
    fn z_test_edges() {
        assert_eq!(two_proportion_z(0, 10, 0, 20), Some((0.0, 1.0)));
        assert_eq!(two_proportion_z(10, 10, 20, 20), Some((0.0, 1.0)));
        assert_eq!(two_proportion_z(1, 0, 1, 2), None);
        let (z, p) = two_proportion_z(10, 20, 10, 20).unwrap();
        assert_eq!((z, p), (0.0, 1.0));
    }
}
