//! The statistics, as plain functions over slices, each checked against scipy/numpy/sklearn
//! (`tests/fixtures/references/stats.json`, written by `scripts/generate_stats_refs.py`).
//!
//! Every function that can be undefined (too few values, no variance, no positives) says so
//! with [`Undefined`] instead of returning NaN.

use std::cmp::Ordering;
use std::fmt;

/// Why a statistic has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undefined {
    /// It needs at least `need` values and got `got`.
    TooFew {
        /// How many values it needs.
        need: usize,
        /// How many it got.
        got: usize,
    },
    /// All values of one variable are equal, so there is nothing to correlate.
    Constant(&'static str),
    /// A class (positives or negatives) is empty.
    NoClass(&'static str),
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undefined::TooFew { need, got } => {
                write!(f, "undefined: needs at least {need} pairs, has {got}")
            }
            Undefined::Constant(what) => {
                write!(
                    f,
                    "undefined: every {what} cosine is the same (no variance)"
                )
            }
            Undefined::NoClass(what) => write!(f, "undefined: no {what} among the labelled pairs"),
        }
    }
}

/// A statistic's value, or why it has none.
pub type Stat = Result<f64, Undefined>;

/// The arithmetic mean.
pub fn mean(x: &[f64]) -> Stat {
    if x.is_empty() {
        return Err(Undefined::TooFew { need: 1, got: 0 });
    }
    Ok(x.iter().sum::<f64>() / x.len() as f64)
}

/// The sample standard deviation (denominator `n - 1`, numpy's `std(ddof=1)`).
pub fn sd(x: &[f64]) -> Stat {
    if x.len() < 2 {
        return Err(Undefined::TooFew {
            need: 2,
            got: x.len(),
        });
    }
    let m = mean(x)?;
    let ss: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
    Ok((ss / (x.len() - 1) as f64).sqrt())
}

/// Sorts a copy of `x` ascending (total order; the inputs are finite).
pub fn sorted(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s
}

/// The `p`-th percentile (0..=100) of already sorted values, by linear interpolation between
/// closest ranks: numpy's default (`method="linear"`, Hyndman & Fan type 7).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Stat {
    let n = sorted.len();
    if n == 0 {
        return Err(Undefined::TooFew { need: 1, got: 0 });
    }
    let h = (n - 1) as f64 * (p / 100.0);
    let lo = h.floor().clamp(0.0, (n - 1) as f64) as usize;
    let hi = (lo + 1).min(n - 1);
    let t = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    // numpy's _lerp: exact at both ends.
    Ok(if t >= 0.5 {
        b - (b - a) * (1.0 - t)
    } else {
        a + (b - a) * t
    })
}

/// Pearson's correlation coefficient.
pub fn pearson(x: &[f64], y: &[f64]) -> Stat {
    let n = x.len().min(y.len());
    if n < 2 {
        return Err(Undefined::TooFew { need: 2, got: n });
    }
    let (x, y) = (&x[..n], &y[..n]);
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(Undefined::Constant("canonical"));
    }
    if syy == 0.0 {
        return Err(Undefined::Constant("shadow"));
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// 1-based ranks, ties getting the average of the ranks they span (scipy's `rankdata`
/// default, `method="average"`).
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && x[idx[j]] == x[idx[i]] {
            j += 1;
        }
        // positions i..j (0-based) hold ranks i+1..=j; their average:
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// Spearman's rank correlation: Pearson's r of the average ranks (ties handled as scipy's
/// `spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> Stat {
    let n = x.len().min(y.len());
    if n < 2 {
        return Err(Undefined::TooFew { need: 2, got: n });
    }
    pearson(&average_ranks(&x[..n]), &average_ranks(&y[..n]))
}

/// Area under the ROC curve of `scores` for binary `labels` (true = positive): the
/// Mann–Whitney probability that a random positive outscores a random negative, ties counting
/// one half.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Stat {
    let n = scores.len().min(labels.len());
    let pos = labels[..n].iter().filter(|&&l| l).count();
    let neg = n - pos;
    if pos == 0 {
        return Err(Undefined::NoClass("positives (label 1)"));
    }
    if neg == 0 {
        return Err(Undefined::NoClass("negatives (label 0)"));
    }
    let ranks = average_ranks(&scores[..n]);
    let rpos: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    let u = rpos - (pos as f64) * (pos as f64 + 1.0) / 2.0;
    Ok(u / (pos as f64 * neg as f64))
}

/// A confusion matrix: predicted positive = score at or above a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Confusion {
    /// Predicted positive, labelled positive.
    pub tp: u64,
    /// Predicted positive, labelled negative.
    pub fp: u64,
    /// Predicted negative, labelled negative.
    pub tn: u64,
    /// Predicted negative, labelled positive.
    pub fn_: u64,
}

impl Confusion {
    /// Counts the confusion matrix of `scores >= threshold` (f32 comparison, as the scorer
    /// does) against `labels`.
    pub fn at(scores: &[f32], labels: &[bool], threshold: f32) -> Self {
        let mut c = Confusion::default();
        for (&s, &l) in scores.iter().zip(labels) {
            match (s >= threshold, l) {
                (true, true) => c.tp += 1,
                (true, false) => c.fp += 1,
                (false, false) => c.tn += 1,
                (false, true) => c.fn_ += 1,
            }
        }
        c
    }
    /// All pairs counted.
    pub fn n(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }
    /// (tp + tn) / n.
    pub fn accuracy(&self) -> Stat {
        ratio(self.tp + self.tn, self.n(), "labelled pairs")
    }
    /// tp / (tp + fp): undefined when nothing is predicted positive.
    pub fn precision(&self) -> Stat {
        ratio(self.tp, self.tp + self.fp, "predicted matches")
    }
    /// tp / (tp + fn): undefined without positives.
    pub fn recall(&self) -> Stat {
        ratio(self.tp, self.tp + self.fn_, "positives (label 1)")
    }
    /// 2 tp / (2 tp + fp + fn): undefined when there are neither positives nor predicted
    /// positives.
    pub fn f1(&self) -> Stat {
        ratio(
            2 * self.tp,
            2 * self.tp + self.fp + self.fn_,
            "positives or predicted matches",
        )
    }
}

fn ratio(k: u64, n: u64, what: &'static str) -> Stat {
    if n == 0 {
        Err(Undefined::NoClass(what))
    } else {
        Ok(k as f64 / n as f64)
    }
}

/// The threshold with the best F1, among the observed scores (predicted positive = score at
/// or above it). Ties go to the lowest threshold. Undefined without positives.
pub fn best_f1(scores: &[f32], labels: &[bool]) -> Result<(f32, Confusion), Undefined> {
    let n = scores.len().min(labels.len());
    let pos = labels[..n].iter().filter(|&&l| l).count() as u64;
    if pos == 0 {
        return Err(Undefined::NoClass("positives (label 1)"));
    }
    // Sweep the distinct scores from high to low; at each, everything >= it is positive.
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut best: Option<(f32, Confusion)> = None;
    let mut i = 0;
    while i < n {
        let s = scores[idx[i]];
        while i < n && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        let neg = n as u64 - pos;
        let c = Confusion {
            tp,
            fp,
            tn: neg - fp,
            fn_: pos - tp,
        };
        // Lower thresholds come later: >= keeps the lowest among ties.
        let better = match &best {
            None => true,
            Some((_, b)) => {
                cmp_frac(
                    2 * c.tp,
                    2 * c.tp + c.fp + c.fn_,
                    2 * b.tp,
                    2 * b.tp + b.fp + b.fn_,
                ) != Ordering::Less
            }
        };
        if better {
            best = Some((s, c));
        }
    }
    best.ok_or(Undefined::TooFew { need: 1, got: 0 })
}

/// The ROC curve: `(false positive rate, true positive rate)` from (0, 0) to (1, 1), one point
/// per distinct score (highest first). Empty when a class is missing.
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64)> {
    let n = scores.len().min(labels.len());
    let pos = labels[..n].iter().filter(|&&l| l).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return Vec::new();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = vec![(0.0, 0.0)];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < n {
        let s = scores[idx[i]];
        while i < n && scores[idx[i]] == s {
            if labels[idx[i]] {
                tp += 1
            } else {
                fp += 1
            }
            i += 1;
        }
        out.push((fp as f64 / neg as f64, tp as f64 / pos as f64));
    }
    out
}

/// Compares `a/b` with `c/d` exactly (denominators > 0; a zero denominator counts as 0).
pub fn cmp_frac(a: u64, b: u64, c: u64, d: u64) -> Ordering {
    if b == 0 || d == 0 {
        let l = if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let r = if d == 0 { 0.0 } else { c as f64 / d as f64 };
        return l.total_cmp(&r);
    }
    (a as u128 * d as u128).cmp(&(c as u128 * b as u128))
}

/// The two-sided exact binomial test of `k` successes in `n` trials against p = 1/2 (the sign
/// test), as scipy's `binomtest(k, n, 0.5).pvalue`. Undefined for `n = 0`.
pub fn sign_test(k: u64, n: u64) -> Stat {
    if n == 0 {
        return Err(Undefined::TooFew { need: 1, got: 0 });
    }
    let k = k.min(n);
    let m = k.min(n - k);
    if 2 * m == n {
        return Ok(1.0);
    }
    // ln pmf(m) = ln C(n, m) - n ln 2; then walk down to 0 with pmf(j-1) = pmf(j) j/(n-j+1).
    let mut ln_c = 0.0f64;
    for i in 1..=m {
        ln_c += ((n - m + i) as f64).ln() - (i as f64).ln();
    }
    let ln_pmf_m = ln_c - n as f64 * std::f64::consts::LN_2;
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    let mut j = m;
    while j > 0 {
        term *= j as f64 / (n - j + 1) as f64;
        sum += term;
        if term < sum * 1e-18 {
            break;
        }
        j -= 1;
    }
    Ok((2.0 * (ln_pmf_m.exp() * sum)).min(1.0))
}

/// The 0.975 quantile of the standard normal distribution (scipy `norm.ppf(0.975)`).
pub const Z_975: f64 = 1.959_963_984_540_054;

/// The Wilson score interval (95%, no continuity correction) for `k` successes in `n`, as
/// scipy's `binomtest(k, n).proportion_ci(0.95, method="wilson")`. Undefined for `n = 0`.
pub fn wilson_95(k: u64, n: u64) -> Result<(f64, f64), Undefined> {
    if n == 0 {
        return Err(Undefined::TooFew { need: 1, got: 0 });
    }
    let (kf, nf) = (k as f64, n as f64);
    let z = Z_975;
    let p = kf / nf;
    let q = 1.0 - p;
    let denom = 2.0 * (nf + z * z);
    let center = (2.0 * nf * p + z * z) / denom;
    let delta = z / denom * (4.0 * nf * p * q + z * z).sqrt();
    let lo = if k == 0 { 0.0 } else { center - delta };
    let hi = if k >= n { 1.0 } else { center + delta };
    Ok((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn hand_computed_small_cases() {
        // x = 1,2,3,4; y = 2,4,5,9: mean 2.5 / 5; sxy = 1.5*3+0.5*1+0.5*0+1.5*4 = 11,
        // sxx = 5, syy = 9+1+0+16 = 26 -> r = 11 / sqrt(130).
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 4.0, 5.0, 9.0];
        close(pearson(&x, &y).unwrap(), 11.0 / 130f64.sqrt());
        close(spearman(&x, &y).unwrap(), 1.0);
        close(mean(&y).unwrap(), 5.0);
        close(sd(&y).unwrap(), (26.0f64 / 3.0).sqrt());
        // ties: ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4]
        assert_eq!(
            average_ranks(&[1.0, 2.0, 2.0, 3.0]),
            vec![1.0, 2.5, 2.5, 4.0]
        );
        assert_eq!(average_ranks(&[5.0, 5.0, 5.0]), vec![2.0, 2.0, 2.0]);
        // percentiles (numpy linear): [1,2,3,4] p25 = 1.75, p50 = 2.5, p99 = 3.97
        let s = sorted(&x);
        close(percentile_sorted(&s, 25.0).unwrap(), 1.75);
        close(percentile_sorted(&s, 50.0).unwrap(), 2.5);
        close(percentile_sorted(&s, 99.0).unwrap(), 3.97);
        close(percentile_sorted(&s, 100.0).unwrap(), 4.0);
        close(percentile_sorted(&[7.0], 5.0).unwrap(), 7.0);
    }

    #[test]
    fn undefined_is_said_not_nan() {
        assert_eq!(
            pearson(&[0.5], &[0.7]),
            Err(Undefined::TooFew { need: 2, got: 1 })
        );
        assert_eq!(
            pearson(&[0.5, 0.5], &[0.7, 0.8]),
            Err(Undefined::Constant("canonical"))
        );
        assert_eq!(
            spearman(&[0.1, 0.5], &[0.7, 0.7]),
            Err(Undefined::Constant("shadow"))
        );
        assert!(sd(&[1.0]).is_err());
        assert!(mean(&[]).is_err());
        assert!(percentile_sorted(&[], 50.0).is_err());
        assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_err());
        assert!(best_f1(&[0.1], &[false]).is_err());
        assert!(sign_test(0, 0).is_err());
        assert!(wilson_95(0, 0).is_err());
        let msg = pearson(&[0.5], &[0.7]).unwrap_err().to_string();
        assert!(msg.contains("at least 2 pairs"), "{msg}");
    }

    #[test]
    fn auc_and_f1_by_hand() {
        // positives 0.9, 0.6; negatives 0.7, 0.2: pairs (0.9>0.7, 0.9>0.2, 0.6<0.7, 0.6>0.2) = 3/4
        let s = [0.9f32, 0.6, 0.7, 0.2];
        let l = [true, true, false, false];
        let sf: Vec<f64> = s.iter().map(|&v| v as f64).collect();
        close(roc_auc(&sf, &l).unwrap(), 0.75);
        // tie between a positive and a negative counts 1/2
        close(roc_auc(&[0.5, 0.5], &[true, false]).unwrap(), 0.5);
        // thresholds: 0.9 -> tp1 fp0 fn1 F1 2/3; 0.7 -> tp1 fp1 fn1 F1 1/2;
        // 0.6 -> tp2 fp1 F1 4/5; 0.2 -> tp2 fp2 F1 2/3. Best 0.6.
        let (t, c) = best_f1(&s, &l).unwrap();
        assert_eq!(t, 0.6);
        close(c.f1().unwrap(), 0.8);
        // tie: F1 equal at two thresholds -> the lower one
        let (t, _) = best_f1(&[0.9, 0.5], &[true, false]).unwrap();
        assert_eq!(t, 0.9);
        let (t, _) = best_f1(&[0.9, 0.8, 0.5], &[true, false, true]).unwrap();
        // 0.9: tp1 fn1 -> 2/3; 0.8: tp1 fp1 fn1 -> 1/2; 0.5: tp2 fp1 -> 4/5
        assert_eq!(t, 0.5);
        let roc = roc_curve(&s, &l);
        assert_eq!(roc.first(), Some(&(0.0, 0.0)));
        assert_eq!(roc.last(), Some(&(1.0, 1.0)));
    }

    #[test]
    fn sign_test_and_wilson_by_hand() {
        // 7 vs 8: the most balanced split of 15 -> p = 1
        close(sign_test(7, 15).unwrap(), 1.0);
        // 0 of 5: 2 * (1/32) = 0.0625
        close(sign_test(0, 5).unwrap(), 0.0625);
        close(sign_test(5, 5).unwrap(), 0.0625);
        // 1 of 6: 2 * (1 + 6) / 64 = 0.21875
        close(sign_test(1, 6).unwrap(), 0.21875);
        let (lo, hi) = wilson_95(0, 10).unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 0.27 && hi < 0.28, "{hi}");
        let (lo, hi) = wilson_95(5, 10).unwrap();
        close(lo + hi, 1.0);
        // huge n does not overflow or lose the tail
        let p = sign_test(4000, 10000).unwrap();
        assert!(p > 0.0 && p < 1e-80, "{p}");
    }
}
