//! A deterministic feature-hashing embedder, written outside titlesim's backend crates.
//!
//! It stands for any embedder a team adds on its own (a GPU server, a remote embedding API, a
//! quantised engine): it implements [`titlesim_core::Embedder`] with the public API alone,
//! and [`titlesim_core::CosineScorer`] and the `titlesim-shadow` crate's scorers use it as
//! they use the built-in transformer embedders.
//!
//! A text becomes a vector in three steps:
//!
//! 1. **Words.** Lower-cased (Unicode), split at every character that is not alphanumeric.
//! 2. **Features.** Each word (weight 1), each pair of neighbouring words (weight
//!    [`HashOptions::bigram_weight`]), and each character n-gram of each word with boundary
//!    marks, e.g. `^ip`, `iph`, ..., `ne$` for n = 3 (weight [`HashOptions::char_weight`]).
//!    A text without words has one `empty` feature, so every vector has unit length.
//! 3. **Hashing.** Each feature is hashed (64-bit FNV-1a, seeded, then a SplitMix64
//!    finaliser) to a bucket of `dim` and a sign, its weight is added there, and the vector is
//!    L2-normalised.
//!
//! The hash is spelled out here rather than taken from `std`, whose hasher may change between
//! Rust releases: the vectors of a given [`HashOptions`] are the same on every machine and
//! build, which is what a [fingerprint](titlesim_core::fingerprint) promises.
//!
//! ```
//! use hash_embedder::{HashEmbedder, HashOptions};
//! use titlesim_core::cosine;
//!
//! let e = HashEmbedder::new(HashOptions::default())?;
//! let a = e.embed_text("Apple iPhone 15 128GB Black");
//! let b = e.embed_text("iphone 15 apple, black, 128gb");
//! let c = e.embed_text("Dyson V8 cordless vacuum");
//! assert_eq!(a.len(), e.options().dim);
//! assert!(cosine(&a, &b) > cosine(&a, &c));
//! # Ok::<(), titlesim_core::Error>(())
//! ```
#![deny(missing_docs)]

use async_trait::async_trait;
use titlesim_core::fingerprint::FingerprintBuilder;
use titlesim_core::{l2_normalize, run_blocking, Embedder, EmbedderInfo, Error, Result};

/// The settings of a [`HashEmbedder`]; every field goes into its fingerprint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashOptions {
    /// Number of buckets: the length of the vectors. At least 1.
    pub dim: usize,
    /// Length of the character n-grams taken from each word (with `^`/`$` boundary marks);
    /// 0 takes none.
    pub char_ngram: usize,
    /// Weight of each character n-gram (a word has weight 1). Finite, at least 0.
    pub char_weight: f32,
    /// Weight of each pair of neighbouring words; 0 makes word order irrelevant. Finite, at
    /// least 0.
    pub bigram_weight: f32,
    /// Seed of the hash: other seeds give unrelated vectors.
    pub seed: u64,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            dim: 512,
            char_ngram: 3,
            char_weight: 0.5,
            bigram_weight: 0.5,
            seed: 0,
        }
    }
}

/// The version of the feature and hashing scheme, part of the fingerprint: bump it when a
/// change would change the vectors.
const SCHEME: &str = "hash-embedder/1";

/// A deterministic feature-hashing [`Embedder`]. See the [crate] documentation.
#[derive(Debug, Clone)]
pub struct HashEmbedder {
    opts: HashOptions,
    info: EmbedderInfo,
}

impl HashEmbedder {
    /// An embedder with `opts`.
    ///
    /// Fails with [`Error::Config`] when `dim` is 0 or a weight is negative or not finite.
    pub fn new(opts: HashOptions) -> Result<Self> {
        let bad = |message: String| Error::Config {
            path: None,
            message: format!("hash embedder: {message}"),
        };
        if opts.dim == 0 {
            return Err(bad("dim must be at least 1".into()));
        }
        for (name, w) in [
            ("char_weight", opts.char_weight),
            ("bigram_weight", opts.bigram_weight),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(bad(format!("{name} must be a finite number >= 0, not {w}")));
            }
        }
        let fingerprint = FingerprintBuilder::new()
            .field("scheme", SCHEME)
            .field("dim", opts.dim)
            .field("char_ngram", opts.char_ngram)
            .field("char_weight", opts.char_weight)
            .field("bigram_weight", opts.bigram_weight)
            .field("seed", opts.seed)
            .finish();
        let info = EmbedderInfo {
            model: format!("hash-embedder(dim={},seed={})", opts.dim, opts.seed),
            backend: "hash".into(),
            dim: opts.dim,
            normalize: true,
            fingerprint,
        };
        Ok(HashEmbedder { opts, info })
    }

    /// The settings in force.
    pub fn options(&self) -> &HashOptions {
        &self.opts
    }

    /// Embeds one text on the calling thread: a unit vector of length `dim`.
    pub fn embed_text(&self, text: &str) -> Vec<f32> {
        embed_one(&self.opts, text)
    }
}

#[async_trait]
impl Embedder for HashEmbedder {
    fn info(&self) -> &EmbedderInfo {
        &self.info
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Cheap per text, but a batch of thousands is still CPU work: keep it off the async
        // threads, as the `Embedder` contract asks.
        let opts = self.opts;
        let texts = texts.to_vec();
        run_blocking(move || Ok(texts.iter().map(|t| embed_one(&opts, t)).collect())).await
    }
}

/// The lower-cased words of `text`.
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn embed_one(opts: &HashOptions, text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; opts.dim];
    let mut add = |kind: &str, feature: &str, weight: f32| {
        if weight == 0.0 {
            return;
        }
        let h = hash(opts.seed, kind, feature);
        let bucket = (h % opts.dim as u64) as usize;
        let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
        v[bucket] += sign * weight;
    };
    let words = words(text);
    if words.is_empty() {
        add("e", "empty", 1.0);
    }
    for w in &words {
        add("w", w, 1.0);
        if opts.char_ngram > 0 {
            let chars: Vec<char> = std::iter::once('^')
                .chain(w.chars())
                .chain(std::iter::once('$'))
                .collect();
            if chars.len() <= opts.char_ngram {
                add("c", &chars.iter().collect::<String>(), opts.char_weight);
            } else {
                for g in chars.windows(opts.char_ngram) {
                    add("c", &g.iter().collect::<String>(), opts.char_weight);
                }
            }
        }
    }
    for pair in words.windows(2) {
        add("b", &format!("{} {}", pair[0], pair[1]), opts.bigram_weight);
    }
    // Features of opposite signs in one bucket can cancel out exactly; a zero vector has no
    // direction, so fall back to a fixed bucket rather than return one.
    if v.iter().all(|&x| x == 0.0) {
        let h = hash(opts.seed, "e", "cancelled");
        v[(h % opts.dim as u64) as usize] = 1.0;
    }
    l2_normalize(&mut v);
    v
}

/// 64-bit FNV-1a of `seed`, `kind` and `feature`, then SplitMix64's finaliser so the low bits
/// (the bucket) and the top bit (the sign) are well mixed.
fn hash(seed: u64, kind: &str, feature: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&seed.to_le_bytes());
    eat(kind.as_bytes());
    eat(&[0]);
    eat(feature.as_bytes());
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// Like every embedder, it can be boxed and shared across threads for a service's lifetime.
const _: fn() = || {
    fn assert_send_sync_static<T: Send + Sync + 'static>() {}
    assert_send_sync_static::<HashEmbedder>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lower_cased_and_split_at_non_alphanumerics() {
        assert_eq!(
            words("Apple iPhone-15, 128GB (Black) ÉTÉ"),
            ["apple", "iphone", "15", "128gb", "black", "été"]
        );
        assert!(words(" -- ").is_empty());
    }

    #[test]
    fn hash_matches_an_independent_implementation() {
        // Values from a separate Python implementation of the same FNV-1a + SplitMix64
        // scheme: a change to the hash (which would change every vector under an unchanged
        // fingerprint) fails here.
        assert_eq!(hash(0, "w", "apple"), 0xdd01_c7e6_21f4_1b2e);
        assert_eq!(hash(7, "c", "^ip"), 0x62aa_d48c_816f_b627);
        assert_ne!(hash(1, "w", "apple"), hash(0, "w", "apple"));
        assert_ne!(hash(0, "c", "apple"), hash(0, "w", "apple"));
    }
}
