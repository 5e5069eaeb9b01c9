//! Comparing vectors: differences, cosines, and assertions that name the worst text.

use titlesim_core::TextTokenizer;

use crate::reference::Reference;

/// Largest element-wise difference between two vectors of the same length.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest element-wise difference between two sets of vectors.
pub fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "different numbers of vectors");
    let mut m = 0f32;
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.len(), y.len(), "different dimensions");
        for (p, q) in x.iter().zip(y) {
            m = m.max((p - q).abs());
        }
    }
    m
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// Asserts that every vector of `got` is within `tol` of `want` (max abs diff), naming the
/// worst text.
pub fn assert_close(what: &str, got: &[Vec<f32>], want: &[Vec<f32>], texts: &[String], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: number of vectors");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = max_abs_diff(g, w);
        assert!(d.is_finite(), "{what}: text #{i} has non-finite values");
        if d > worst.0 {
            worst = (d, i);
        }
    }
    eprintln!("{what}: max abs diff {:.3e} (text #{})", worst.0, worst.1);
    assert!(
        worst.0 <= tol,
        "{what}: text #{} {:?} differs by {:.3e} > {tol:.0e}",
        worst.1,
        texts.get(worst.1),
        worst.0
    );
}

/// Asserts that the core tokeniser reproduces sentence-transformers' token ids.
pub fn assert_same_tokens(tok: &TextTokenizer, r: &Reference) {
    let enc = tok.encode(&r.inputs()).unwrap();
    for (i, (e, want)) in enc.iter().zip(&r.input_ids).enumerate() {
        assert_eq!(&e.ids, want, "token ids of text #{i} {:?}", r.texts[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_and_cosines() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.5, 1.0]), 1.0);
        assert_eq!(
            max_diff(&[vec![0.0], vec![2.0]], &[vec![0.25], vec![2.0]]),
            0.25
        );
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    #[should_panic(expected = "text #1")]
    fn assert_close_names_the_worst_text() {
        let texts = strings(&["a", "b"]);
        assert_close(
            "t",
            &[vec![0.0], vec![1.0]],
            &[vec![0.0], vec![0.5]],
            &texts,
            1e-3,
        );
    }

    use crate::paths::strings;
}
