//! The stratified sample: N rows shared out over the strata (phase × direction) in
//! proportion to their sizes, then drawn in each stratum with a seeded generator.

use super::export::{Direction, ReviewRow, Stratum};
use crate::rng::SplitMix64;
use std::collections::BTreeMap;

/// A random sample of the disagreements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// How many rows (at most).
    pub n: usize,
    /// The generator's seed.
    pub seed: u64,
}

/// The rows to export from each stratum (every row without a sample, or when the sample is
/// at least as large as all strata together), and each stratum's counts.
pub(crate) fn draw(
    strata: BTreeMap<(String, Direction), Vec<ReviewRow>>,
    sample: Option<Sample>,
) -> (Vec<ReviewRow>, Vec<Stratum>) {
    let sizes: Vec<usize> = strata.values().map(|v| v.len()).collect();
    let total: usize = sizes.iter().sum();
    let alloc = match sample {
        Some(s) if s.n < total => allocate(&sizes, s.n),
        _ => sizes.clone(),
    };
    let mut rng = SplitMix64::new(sample.map(|s| s.seed).unwrap_or(0));
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
    (rows, out_strata)
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

#[cfg(test)]
mod tests {
    use super::*;

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
