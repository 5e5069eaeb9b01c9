//! The statistics of the reports: nearest-rank percentiles, medians and the worst cosine
//! between two sets of vectors.

/// Percentile `p` (0..=100) of `xs` by nearest rank; `NaN` for an empty slice.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The median of `xs` (mean of the middle two for an even count); `NaN` when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Smallest cosine between rows `i` of `a` and `b` (equal lengths expected; `NaN` otherwise).
pub fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::NAN;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if x.len() != y.len() {
                f64::NAN
            } else {
                titlesim::cosine(x, y) as f64
            }
        })
        .fold(
            f64::INFINITY,
            |m, c| if c.is_nan() { f64::NAN } else { m.min(c) },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 50.0), 50.0);
        assert_eq!(percentile(&xs, 99.0), 99.0);
        assert_eq!(percentile(&xs, 100.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn nearest_rank_on_short_slices_and_nan_free_medians() {
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 0.0), 1.0);
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 50.0), 3.0);
        assert_eq!(percentile(&[5.0, 1.0, 3.0], 99.0), 5.0);
        assert!(percentile(&[], 50.0).is_nan());
        // a round that measured nothing (NaN) does not move the median
        assert_eq!(median(&[f64::NAN, 4.0, 2.0]), 3.0);
        assert!(median(&[f64::NAN]).is_nan());
    }

    #[test]
    fn min_cosine_finds_the_worst_row() {
        let a = vec![vec![1.0, 0.0], vec![1.0, 0.0]];
        let b = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        assert!((min_cosine(&a, &b) - 0.0).abs() < 1e-6);
        assert!(min_cosine(&a, &b[..1]).is_nan());
        assert!(min_cosine(&[], &[]).is_nan());
        assert!(min_cosine(&a, &[vec![1.0, 0.0], vec![1.0]]).is_nan());
    }
}
