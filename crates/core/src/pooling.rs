//! Pooling token states into one vector per text, and L2 normalisation.
//!
//! Lives once, here, for every backend: a backend hands back token states and the same
//! code turns them into sentence vectors, so backends can only differ in their arithmetic.

use crate::model::Pooling;

/// Token states of a batch, row-major `[batch, seq, hidden]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HiddenStates {
    /// The values.
    pub data: Vec<f32>,
    /// Number of texts.
    pub batch: usize,
    /// Tokens per text (padded).
    pub seq: usize,
    /// Width of each token state.
    pub hidden: usize,
}

impl HiddenStates {
    /// Wraps `data`, checking that its length is `batch * seq * hidden`.
    pub fn new(data: Vec<f32>, batch: usize, seq: usize, hidden: usize) -> Option<Self> {
        (data.len() == batch * seq * hidden).then_some(HiddenStates {
            data,
            batch,
            seq,
            hidden,
        })
    }

    /// The state of token `t` of text `b`.
    pub fn token(&self, b: usize, t: usize) -> &[f32] {
        let start = (b * self.seq + t) * self.hidden;
        &self.data[start..start + self.hidden]
    }
}

/// Pools `states` with `mode`, using `mask` (`[batch, seq]`, 1 = real token).
///
/// * `Cls` takes the first *real* token of each row (position 0 for right padding).
/// * `Mean` averages real tokens (a row with no real token gives zeros, as
///   sentence-transformers' clamped denominator does).
/// * `Max` takes the element-wise maximum over real tokens.
/// * `LastToken` takes the last position whose mask is 1 — never inferred from pad ids,
///   which would be wrong when the pad token is also the appended end-of-text token.
pub fn pool(states: &HiddenStates, mask: &[i64], mode: Pooling) -> Vec<Vec<f32>> {
    let (batch, seq, hidden) = (states.batch, states.seq, states.hidden);
    assert_eq!(mask.len(), batch * seq, "mask shape does not match states");
    (0..batch)
        .map(|b| {
            let m = &mask[b * seq..(b + 1) * seq];
            let real = || (0..seq).filter(move |&t| m[t] != 0);
            match mode {
                Pooling::Cls => match real().next() {
                    Some(t) => states.token(b, t).to_vec(),
                    None => vec![0.0; hidden],
                },
                Pooling::LastToken => match (0..seq).rev().find(|&t| m[t] != 0) {
                    Some(t) => states.token(b, t).to_vec(),
                    None => vec![0.0; hidden],
                },
                Pooling::Mean => {
                    let mut acc = vec![0f64; hidden];
                    let mut n = 0usize;
                    for t in real() {
                        n += 1;
                        for (a, &v) in acc.iter_mut().zip(states.token(b, t)) {
                            *a += v as f64;
                        }
                    }
                    let d = n.max(1) as f64;
                    acc.into_iter().map(|a| (a / d) as f32).collect()
                }
                Pooling::Max => {
                    let mut acc = vec![f32::NEG_INFINITY; hidden];
                    let mut any = false;
                    for t in real() {
                        any = true;
                        for (a, &v) in acc.iter_mut().zip(states.token(b, t)) {
                            *a = a.max(v);
                        }
                    }
                    if any {
                        acc
                    } else {
                        vec![0.0; hidden]
                    }
                }
            }
        })
        .collect()
}

/// Scales `v` to unit L2 norm in place (as `torch.nn.functional.normalize`, eps 1e-12).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        .sqrt();
    let d = norm.max(1e-12);
    for x in v.iter_mut() {
        *x = (*x as f64 / d) as f32;
    }
}

/// Cosine similarity of two vectors of equal length (0 when either is all zeros).
///
/// Accumulates in f64 so that the verdict at a threshold does not depend on summation order.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    (dot / (na.sqrt() * nb.sqrt())) as f32
}

/// [`cosine`] of every row of `a` with every row of `b` (rows of `dim` values), row-major
/// `a.len() / dim` × `b.len() / dim`: each entry bit-identical to [`cosine`] of the two rows.
///
/// Each row's squared norm is summed once, and four rows of `b` are taken at a time (four
/// independent f64 sums, each added in [`cosine`]'s order), which is what makes it faster than
/// a loop of [`cosine`] calls: that loop waits on one sum's additions. Rows of `a` are shared
/// among up to `threads` threads when the matrix is large.
pub fn cosine_matrix(a: &[f32], b: &[f32], dim: usize, threads: usize) -> Vec<f32> {
    if dim == 0 || b.is_empty() {
        // No columns (or no values): an a-rows × 0 matrix holds nothing.
        return Vec::new();
    }
    let sq = |v: &[f32]| -> f64 {
        let mut n = 0f64;
        for &x in v {
            let x = x as f64;
            n += x * x;
        }
        n
    };
    let na: Vec<f64> = a.chunks(dim).map(sq).collect();
    let nb: Vec<f64> = b.chunks(dim).map(sq).collect();
    let cols = nb.len();
    let finish = |dot: f64, na: f64, nb: f64| -> f32 {
        if na == 0.0 || nb == 0.0 {
            0.0
        } else {
            (dot / (na.sqrt() * nb.sqrt())) as f32
        }
    };
    let rows_into = |rows: &[f32], norms: &[f64], out: &mut [f32]| {
        for ((x, &nx), out) in rows.chunks(dim).zip(norms).zip(out.chunks_mut(cols)) {
            let mut j = 0;
            while j + 4 <= cols {
                let y = |k: usize| &b[(j + k) * dim..(j + k + 1) * dim];
                let (y0, y1, y2, y3) = (y(0), y(1), y(2), y(3));
                let (mut d0, mut d1, mut d2, mut d3) = (0f64, 0f64, 0f64, 0f64);
                for k in 0..dim {
                    let xk = x[k] as f64;
                    d0 += xk * y0[k] as f64;
                    d1 += xk * y1[k] as f64;
                    d2 += xk * y2[k] as f64;
                    d3 += xk * y3[k] as f64;
                }
                for (o, d) in [d0, d1, d2, d3].into_iter().enumerate() {
                    out[j + o] = finish(d, nx, nb[j + o]);
                }
                j += 4;
            }
            for j in j..cols {
                let y = &b[j * dim..(j + 1) * dim];
                let mut d = 0f64;
                for k in 0..dim {
                    d += x[k] as f64 * y[k] as f64;
                }
                out[j] = finish(d, nx, nb[j]);
            }
        }
    };
    // A thread per 4M multiply-adds at least: below that, starting one costs more.
    let work = na.len() * cols * dim;
    let threads = threads.clamp(1, (work >> 22).max(1));
    rows_on_threads(a, &na, cols, dim, threads, rows_into)
}

/// `rows_into` over the rows of `a` (with their norms `na`), on up to `threads` threads.
fn rows_on_threads(
    a: &[f32],
    na: &[f64],
    cols: usize,
    dim: usize,
    threads: usize,
    rows_into: impl Fn(&[f32], &[f64], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; na.len() * cols];
    let threads = threads.clamp(1, na.len().max(1));
    if threads == 1 {
        rows_into(a, na, &mut out);
    } else {
        let per = na.len().div_ceil(threads);
        std::thread::scope(|s| {
            for ((rows, norms), out) in a
                .chunks(per * dim)
                .zip(na.chunks(per))
                .zip(out.chunks_mut(per * cols))
            {
                let rows_into = &rows_into;
                s.spawn(move || rows_into(rows, norms, out));
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry of the matrix is the bits of `cosine` of its two rows, whatever the
    /// threads, with zero rows and a column count that is not a multiple of four.
    #[test]
    fn the_cosine_matrix_is_cosine_bit_for_bit() {
        let dim = 37;
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        // The second shape is large enough to be shared among threads.
        for (rows, cols, dim) in [(23, 11, dim), (301, 103, 384)] {
            let mut a: Vec<f32> = (0..rows * dim).map(|_| next()).collect();
            let b: Vec<f32> = (0..cols * dim).map(|_| next() * 1e3).collect();
            a[dim..2 * dim].fill(0.0);
            for threads in [1, 2, 5] {
                let m = cosine_matrix(&a, &b, dim, threads);
                assert_eq!(m.len(), rows * cols);
                for (i, x) in a.chunks(dim).enumerate() {
                    for (j, y) in b.chunks(dim).enumerate() {
                        let (got, want) = (m[i * cols + j], cosine(x, y));
                        assert_eq!(got.to_bits(), want.to_bits(), "({i}, {j}): {got} {want}");
                    }
                }
            }
            assert!(cosine_matrix(&[], &b, dim, 2).is_empty());
            assert!(cosine_matrix(&a, &[], dim, 2).is_empty());
        }
    }

    fn states() -> HiddenStates {
        // batch 2, seq 3, hidden 2
        HiddenStates::new(
            vec![
                1.0, 2.0, 3.0, 4.0, 5.0, 6.0, // row 0
                7.0, 8.0, 9.0, 10.0, 11.0, 12.0, // row 1
            ],
            2,
            3,
            2,
        )
        .unwrap()
    }

    #[test]
    fn cls_mean_max_last_respect_the_mask() {
        let s = states();
        let right = [1, 1, 0, 1, 1, 1];
        assert_eq!(
            pool(&s, &right, Pooling::Cls),
            vec![vec![1., 2.], vec![7., 8.]]
        );
        assert_eq!(
            pool(&s, &right, Pooling::Mean),
            vec![vec![2., 3.], vec![9., 10.]]
        );
        assert_eq!(
            pool(&s, &right, Pooling::Max),
            vec![vec![3., 4.], vec![11., 12.]]
        );
        assert_eq!(
            pool(&s, &right, Pooling::LastToken),
            vec![vec![3., 4.], vec![11., 12.]]
        );
        let left = [0, 1, 1, 1, 1, 1];
        assert_eq!(pool(&s, &left, Pooling::LastToken)[0], vec![5., 6.]);
        assert_eq!(pool(&s, &left, Pooling::Cls)[0], vec![3., 4.]);
        assert_eq!(pool(&s, &left, Pooling::Mean)[0], vec![4., 5.]);
    }

    #[test]
    fn empty_rows_pool_to_zeros_not_nan() {
        let s = states();
        let mask = [0, 0, 0, 1, 0, 0];
        for mode in [
            Pooling::Cls,
            Pooling::Mean,
            Pooling::Max,
            Pooling::LastToken,
        ] {
            let v = pool(&s, &mask, mode);
            assert_eq!(v[0], vec![0.0, 0.0], "{mode}");
            assert!(v[1].iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn normalise_and_cosine() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        let mut z = vec![0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
        assert!((cosine(&[1.0, 0.0], &[0.0, 1.0])).abs() < 1e-7);
        assert!((cosine(&[1.0, 1.0], &[2.0, 2.0]) - 1.0).abs() < 1e-6);
        assert!((cosine(&[1.0, 0.0], &[-1.0, 0.0]) + 1.0).abs() < 1e-7);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
