//! Scoring pairs: an agent's title against a ground-truth title, cosine at or above a threshold.
//!
//! The data walks one way: a [`Pair`] goes in, its two titles are embedded (each distinct text
//! once, the side's prompt applied by [`SidePrompts::apply`], the ground-truth vector taken from a
//! [`GtVectors`] store when it holds one), the cosine is judged into a [`Score`], and a
//! [`PairScore`] carrying the pair's id comes out. Nothing is matched back by position.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::embed::{Embedder, EmbedderInfo};
use crate::error::{Error, Result};
use crate::fingerprint::with_prompt;
use crate::pooling::cosine;

/// One pair to judge: the agent's title against the ground truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    /// Unique id of the pair (results carry it; the shadow samples and resumes by it).
    pub id: String,
    /// The task phase, when known.
    #[serde(default)]
    pub phase: Option<String>,
    /// The agent's (candidate) title.
    pub product: String,
    /// The ground-truth (reference) title.
    pub gt: String,
    /// A gold label, when known: 1 same product, 0 not.
    #[serde(default)]
    pub label: Option<u8>,
}

impl Pair {
    /// A pair with no phase and no label.
    pub fn new(id: impl Into<String>, product: impl Into<String>, gt: impl Into<String>) -> Self {
        Pair {
            id: id.into(),
            phase: None,
            product: product.into(),
            gt: gt.into(),
            label: None,
        }
    }
}

/// The most bytes a pair's `product` or `gt` may hold (64 KiB). A product title is some
/// hundred bytes and a model reads only its first few hundred tokens; the limit keeps one
/// hostile title from making a shadow-log record too long for the log readers (a control
/// character takes six bytes there, `\u0001`).
pub const MAX_TITLE_BYTES: usize = 64 * 1024;

/// The most bytes a pair id or phase may hold: CloudWatch's limit on a dimension value
/// (1,024 characters; the EMF lines carry the phase as one).
pub const MAX_LABEL_BYTES: usize = 1024;

/// Phase names calibration gives rows of its own (all phases pooled; pairs without a phase),
/// so no pair's phase may take them.
pub const RESERVED_PHASES: [&str; 2] = ["(pooled)", "(none)"];

/// A pair field that breaks the rules every input path applies ([`Pair::checked`]): the field
/// (`id`, `phase`, `product` or `gt`) and what is wrong with it. Callers say where the pair
/// came from (a file's line, a request's `pairs[3]`, a Python argument).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct PairFieldError {
    /// The field: `id`, `phase`, `product` or `gt`.
    pub field: &'static str,
    /// What is wrong, e.g. "holds a NUL byte (U+0000) at character 7".
    pub problem: String,
}

impl PairFieldError {
    fn new(field: &'static str, problem: impl Into<String>) -> Self {
        PairFieldError {
            field,
            problem: problem.into(),
        }
    }
}

/// Checks a title (`product` or `gt`): no NUL (tokenizers drop it without a word, so
/// `iPhone\015` would be judged as `iPhone15`) and at most [`MAX_TITLE_BYTES`].
pub fn check_title(field: &'static str, text: &str) -> std::result::Result<(), PairFieldError> {
    refuse_nul(field, text)?;
    if text.len() > MAX_TITLE_BYTES {
        return Err(PairFieldError::new(
            field,
            format!(
                "is {} bytes long, more than the {MAX_TITLE_BYTES} a title may hold (a model reads \
                 only its first few hundred tokens): is it a title?",
                text.len()
            ),
        ));
    }
    Ok(())
}

fn refuse_nul(field: &'static str, text: &str) -> std::result::Result<(), PairFieldError> {
    match text.find('\0') {
        Some(i) => Err(PairFieldError::new(
            field,
            format!(
                "holds a NUL byte (U+0000) at character {}: a corrupt or binary input?",
                text[..i].chars().count() + 1
            ),
        )),
        None => Ok(()),
    }
}

/// Checks an id or phase: no control characters (they would reach terminals, reports and
/// CloudWatch dimensions as they are) and at most [`MAX_LABEL_BYTES`].
fn check_label(field: &'static str, text: &str) -> std::result::Result<(), PairFieldError> {
    refuse_nul(field, text)?;
    if let Some((i, c)) = text.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(PairFieldError::new(
            field,
            format!(
                "holds the control character U+{:04X} at character {}",
                u32::from(c),
                i + 1
            ),
        ));
    }
    if text.len() > MAX_LABEL_BYTES {
        return Err(PairFieldError::new(
            field,
            format!(
                "is {} bytes long, more than the {MAX_LABEL_BYTES} an id or phase may hold",
                text.len()
            ),
        ));
    }
    Ok(())
}

impl Pair {
    /// The pair as every input path takes it (pairs files, `/score`, the Python `Scorer`,
    /// replayed history): the id trimmed and not empty; the phase trimmed, a blank one none;
    /// no control character in the id or phase, and neither over [`MAX_LABEL_BYTES`]; the
    /// phase none of [`RESERVED_PHASES`]; the titles as [`check_title`] wants them.
    pub fn checked(mut self) -> std::result::Result<Pair, PairFieldError> {
        let id = self.id.trim();
        if id.is_empty() {
            return Err(PairFieldError::new("id", "is empty"));
        }
        check_label("id", id)?;
        if id.len() != self.id.len() {
            self.id = id.to_string();
        }
        self.phase = match self.phase.take() {
            Some(p) if p.trim().is_empty() => None,
            Some(p) => {
                let phase = p.trim();
                check_label("phase", phase)?;
                if RESERVED_PHASES.contains(&phase) {
                    return Err(PairFieldError::new(
                        "phase",
                        format!(
                            "`{phase}` is a name calibration gives its own rows ({}): name the \
                             phase otherwise",
                            RESERVED_PHASES.join(", ")
                        ),
                    ));
                }
                Some(phase.to_string())
            }
            None => None,
        };
        check_title("product", &self.product)?;
        check_title("gt", &self.gt)?;
        Ok(self)
    }
}

/// The first pair id that repeats an earlier one in `ids`: `(earlier index, index)`.
///
/// A batch must not hold one id twice: the shadow log would get two records of one pair, and
/// calibrate, review and burn-in count a pair id once (the first record), so the second pair
/// would be lost from them. Pairs files are checked line by line when read; callers that take
/// pairs from elsewhere (`/score`, the Python `Scorer`) check with this and say where.
pub fn repeated_id<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<(usize, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, id) in ids.into_iter().enumerate() {
        if let Some(first) = seen.insert(id, i) {
            return Some((first, i));
        }
    }
    None
}

/// The verdict on one pair.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Cosine similarity of the two embeddings.
    pub cosine: f32,
    /// The threshold it was judged against.
    pub threshold: f32,
    /// `cosine >= threshold`.
    pub pass: bool,
}

impl Score {
    /// Judges `cosine` against `threshold`.
    pub fn judge(cosine: f32, threshold: f32) -> Self {
        Score {
            cosine,
            threshold,
            pass: cosine >= threshold,
        }
    }
}

/// A pair's verdict, with the id of the pair it belongs to.
///
/// Serialises flat: `{"id": …, "cosine": …, "threshold": …, "pass": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairScore {
    /// The [`Pair::id`] this verdict is for.
    pub id: String,
    /// The verdict.
    #[serde(flatten)]
    pub score: Score,
    /// Whether the ground-truth vector came from a [`GtVectors`] store (not encoded).
    #[serde(skip)]
    pub gt_from_store: bool,
}

impl std::ops::Deref for PairScore {
    type Target = Score;
    fn deref(&self) -> &Score {
        &self.score
    }
}

/// Scores pairs.
#[async_trait]
pub trait Scorer: Send + Sync {
    /// The identity of the model behind the verdicts.
    fn info(&self) -> &EmbedderInfo;

    /// The threshold at or above which a pair passes.
    fn threshold(&self) -> f32;

    /// Scores `pairs`; the result holds one [`PairScore`] per pair, in order, each carrying
    /// its pair's id.
    async fn score_batch(&self, pairs: &[Pair]) -> Result<Vec<PairScore>>;

    /// Scores one (product, gt) pair.
    async fn score(&self, product: &str, gt: &str) -> Result<Score> {
        let mut v = self.score_batch(&[Pair::new("", product, gt)]).await?;
        v.pop()
            .map(|p| p.score)
            .ok_or_else(|| Error::Task("scorer returned no score".into()))
    }
}

/// Precomputed ground-truth vectors: the "GT skip" path. A GT title found here is not encoded.
///
/// The `titlesim-store` crate's `GtStore` is the implementation titlesim ships; anything that
/// maps texts to vectors of one model can be one.
pub trait GtVectors: Send + Sync {
    /// Refuses ([`Error::StoreMismatch`]) unless these vectors were made by the model whose GT
    /// side has `fingerprint` (see [`CosineScorer::gt_fingerprint`]) and have `dim` dimensions.
    fn check(&self, fingerprint: &str, dim: usize) -> Result<()>;

    /// The vector of `gt`, when held.
    fn get(&self, gt: &str) -> Option<&[f32]>;
}

/// Which title of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The agent's (candidate) title.
    Product,
    /// The ground-truth (reference) title.
    Gt,
}

/// The prompts prepended to each side before embedding (none for title-vs-title by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SidePrompts {
    /// Prepended to the candidate (product) titles.
    pub product: Option<String>,
    /// Prepended to the reference (ground-truth) titles.
    pub gt: Option<String>,
}

impl SidePrompts {
    /// The prompt of `side`, if any.
    pub fn get(&self, side: Side) -> Option<&str> {
        match side {
            Side::Product => self.product.as_deref(),
            Side::Gt => self.gt.as_deref(),
        }
    }

    /// `text` as the model sees it on `side` (see [`apply_prompt`]).
    pub fn apply<'a>(&self, side: Side, text: &'a str) -> Cow<'a, str> {
        apply_prompt(self.get(side), text)
    }
}

/// `text` with `prompt` prepended, as sentence-transformers does: the one place a prompt is
/// applied, for scoring ([`SidePrompts::apply`]) and plain embedding alike.
pub fn apply_prompt<'a>(prompt: Option<&str>, text: &'a str) -> Cow<'a, str> {
    match prompt {
        Some(p) => Cow::Owned(format!("{p}{text}")),
        None => Cow::Borrowed(text),
    }
}

/// What a pair scores when either of its titles is blank: holds no letter or digit in any
/// script (empty, spaces, punctuation, symbols or emoji only; see [`is_blank`]).
///
/// Such titles all embed alike (a BERT tokenizer turns emoji into `[UNK]`), so two blank
/// titles reach a cosine of 1 and an empty answer would pass; a validator must not pass one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlankTitles {
    /// Cosine 0 and a fail, without encoding either title (the default).
    #[default]
    Fail,
    /// Encoded and judged like any other title (sentence-transformers' behaviour).
    Score,
}

/// Whether `title` holds no letter or digit (in any script): empty, whitespace, punctuation,
/// symbols or emoji only.
pub fn is_blank(title: &str) -> bool {
    !title.chars().any(char::is_alphanumeric)
}

/// Cosine of two embeddings from one [`Embedder`], judged against a threshold; ground-truth
/// vectors are taken from a [`GtVectors`] store when one is attached. Pairs with a blank title
/// score as [`BlankTitles`] says (by default cosine 0, a fail).
#[derive(Clone)]
pub struct CosineScorer {
    embedder: Arc<dyn Embedder>,
    threshold: f32,
    prompts: SidePrompts,
    gt_vectors: Option<Arc<dyn GtVectors>>,
    blank: BlankTitles,
}

impl std::fmt::Debug for CosineScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosineScorer")
            .field("model", &self.embedder.info().model)
            .field("threshold", &self.threshold)
            .field("prompts", &self.prompts)
            .field("gt_vectors", &self.gt_vectors.is_some())
            .field("blank", &self.blank)
            .finish()
    }
}

impl CosineScorer {
    /// A scorer with no prompts.
    pub fn new(embedder: Arc<dyn Embedder>, threshold: f32) -> Self {
        Self::with_prompts(embedder, threshold, SidePrompts::default())
    }

    /// A scorer that prepends prompts to either side.
    pub fn with_prompts(embedder: Arc<dyn Embedder>, threshold: f32, prompts: SidePrompts) -> Self {
        CosineScorer {
            embedder,
            threshold,
            prompts,
            gt_vectors: None,
            blank: BlankTitles::default(),
        }
    }

    /// This scorer with pairs that have a blank title scored as `rule` says.
    pub fn with_blank_titles(self, rule: BlankTitles) -> Self {
        CosineScorer {
            blank: rule,
            ..self
        }
    }

    /// How pairs with a blank title are scored.
    pub fn blank_titles(&self) -> BlankTitles {
        self.blank
    }

    /// Whether scoring `pair` asks the model for its titles: not for a pair with a blank title
    /// under [`BlankTitles::Fail`] (cosine 0, neither title encoded).
    pub fn encodes(&self, pair: &Pair) -> bool {
        matches!(self.blank, BlankTitles::Score) || !(is_blank(&pair.product) || is_blank(&pair.gt))
    }

    /// This scorer taking ground-truth vectors from `store` when it holds them. The store must
    /// be this model's (its [`GtVectors::check`] against [`CosineScorer::gt_fingerprint`] and
    /// the dimension): [`Error::StoreMismatch`] otherwise.
    pub fn with_gt_vectors(self, store: Arc<dyn GtVectors>) -> Result<Self> {
        store.check(&self.gt_fingerprint(), self.embedder.info().dim)?;
        Ok(CosineScorer {
            gt_vectors: Some(store),
            ..self
        })
    }

    /// The embedder in use.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The prompts in use.
    pub fn prompts(&self) -> &SidePrompts {
        &self.prompts
    }

    /// The ground-truth store in use, if any.
    pub fn gt_vectors(&self) -> Option<&Arc<dyn GtVectors>> {
        self.gt_vectors.as_ref()
    }

    /// The fingerprint of this scorer's ground-truth vectors (the model's, with the GT prompt):
    /// the key a GT store is made and checked under.
    pub fn gt_fingerprint(&self) -> String {
        with_prompt(self.embedder.fingerprint(), self.prompts.gt.as_deref())
    }

    /// Embeds `texts` as `side` (its prompt applied), each distinct text once; one vector per
    /// text, in order.
    pub async fn embed_side(&self, side: Side, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.embed_unique(texts.iter().map(|&t| (side, t))).await
    }

    /// Embeds (side, text) items in one embedder call, each distinct prompted text once.
    async fn embed_unique<'a>(
        &self,
        items: impl Iterator<Item = (Side, &'a str)>,
    ) -> Result<Vec<Vec<f32>>> {
        let mut index: HashMap<Cow<'a, str>, usize> = HashMap::new();
        let mut unique: Vec<String> = Vec::new();
        let slots: Vec<usize> = items
            .map(|(side, t)| {
                let text = self.prompts.apply(side, t);
                *index.entry(text.clone()).or_insert_with(|| {
                    unique.push(text.into_owned());
                    unique.len() - 1
                })
            })
            .collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let vecs = self.embedder.embed(&unique).await?;
        if vecs.len() != unique.len() {
            return Err(Error::Task(format!(
                "embedder returned {} vectors for {} texts",
                vecs.len(),
                unique.len()
            )));
        }
        Ok(slots.into_iter().map(|i| vecs[i].clone()).collect())
    }

    /// Judges precomputed vectors.
    pub fn judge(&self, product: &[f32], gt: &[f32]) -> Result<Score> {
        if product.len() != gt.len() {
            return Err(Error::DimensionMismatch {
                context: "cosine of product and reference vectors".into(),
                expected: product.len(),
                got: gt.len(),
            });
        }
        Ok(Score::judge(cosine(product, gt), self.threshold))
    }
}

#[async_trait]
impl Scorer for CosineScorer {
    fn info(&self) -> &EmbedderInfo {
        self.embedder.info()
    }

    fn threshold(&self) -> f32 {
        self.threshold
    }

    async fn score_batch(&self, pairs: &[Pair]) -> Result<Vec<PairScore>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let blank: Vec<bool> = pairs
            .iter()
            .map(|p| self.blank == BlankTitles::Fail && (is_blank(&p.product) || is_blank(&p.gt)))
            .collect();
        let stored: Vec<Option<&[f32]>> = match &self.gt_vectors {
            Some(store) => pairs.iter().map(|p| store.get(&p.gt)).collect(),
            None => vec![None; pairs.len()],
        };
        // The product titles and the GT titles the store lacks, in one embedder call:
        // a text on both sides (with the same prompt) is embedded once. Blank pairs are not
        // encoded at all.
        let to_encode = pairs
            .iter()
            .zip(&blank)
            .filter(|(_, &b)| !b)
            .map(|(p, _)| (Side::Product, p.product.as_str()))
            .chain(
                pairs
                    .iter()
                    .zip(&stored)
                    .zip(&blank)
                    .filter(|((_, s), &b)| s.is_none() && !b)
                    .map(|((p, _), _)| (Side::Gt, p.gt.as_str())),
            );
        let mut vecs = self.embed_unique(to_encode).await?.into_iter();
        let n_products = blank.iter().filter(|&&b| !b).count();
        let mut products = vecs
            .by_ref()
            .take(n_products)
            .collect::<Vec<_>>()
            .into_iter();
        let mut out = Vec::with_capacity(pairs.len());
        for ((pair, stored), &is_blank) in pairs.iter().zip(stored).zip(&blank) {
            if is_blank {
                out.push(PairScore {
                    id: pair.id.clone(),
                    score: Score {
                        cosine: 0.0,
                        threshold: self.threshold,
                        pass: false,
                    },
                    gt_from_store: false,
                });
                continue;
            }
            let product = products
                .next()
                .ok_or_else(|| Error::Task("a product title got no vector".into()))?;
            let product = product.as_slice();
            let encoded;
            let gt = match stored {
                Some(v) => v,
                None => {
                    encoded = vecs
                        .next()
                        .ok_or_else(|| Error::Task("a ground-truth title got no vector".into()))?;
                    encoded.as_slice()
                }
            };
            out.push(PairScore {
                id: pair.id.clone(),
                score: self.judge(product, gt)?,
                gt_from_store: stored.is_some(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Embeds a text as (len, count of 'a', 1), remembering every text it was asked for.
    struct Toy {
        info: EmbedderInfo,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Embedder for Toy {
        fn info(&self) -> &EmbedderInfo {
            &self.info
        }
        async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            self.seen.lock().unwrap().extend(texts.iter().cloned());
            Ok(texts.iter().map(|t| toy_vec(t)).collect())
        }
    }

    fn toy_vec(t: &str) -> Vec<f32> {
        vec![t.len() as f32, t.matches('a').count() as f32, 1.0]
    }

    fn toy() -> Arc<Toy> {
        Arc::new(Toy {
            info: EmbedderInfo {
                model: "toy".into(),
                backend: "test".into(),
                dim: 3,
                normalize: false,
                fingerprint: "ts1-toy".into(),
            },
            seen: Mutex::new(Vec::new()),
        })
    }

    fn seen(t: &Toy) -> Vec<String> {
        t.seen.lock().unwrap().clone()
    }

    /// A store of fixed vectors, as a GT store made by `fingerprint` would hold.
    struct Store {
        fingerprint: String,
        dim: usize,
        vectors: HashMap<String, Vec<f32>>,
    }

    impl GtVectors for Store {
        fn check(&self, fingerprint: &str, dim: usize) -> Result<()> {
            if fingerprint == self.fingerprint && dim == self.dim {
                return Ok(());
            }
            Err(Error::StoreMismatch {
                path: "memory".into(),
                expected_fingerprint: fingerprint.into(),
                expected_dim: dim,
                found_fingerprint: self.fingerprint.clone(),
                found_dim: self.dim,
                found_model: "toy".into(),
            })
        }
        fn get(&self, gt: &str) -> Option<&[f32]> {
            self.vectors.get(gt).map(Vec::as_slice)
        }
    }

    fn store_of(fingerprint: &str, texts: &[&str]) -> Arc<Store> {
        Arc::new(Store {
            fingerprint: fingerprint.into(),
            dim: 3,
            vectors: texts.iter().map(|t| (t.to_string(), toy_vec(t))).collect(),
        })
    }

    fn pairs(v: &[(&str, &str, &str)]) -> Vec<Pair> {
        v.iter().map(|(i, p, g)| Pair::new(*i, *p, *g)).collect()
    }

    #[tokio::test]
    async fn scores_match_cosine_and_threshold_and_carry_ids() {
        let e = toy();
        let s = CosineScorer::new(e.clone(), 0.99);
        let ps = pairs(&[("p1", "aaa", "aaa"), ("p2", "abc", "bcdefgh")]);
        let r = s.score_batch(&ps).await.unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].id.as_str(), r[1].id.as_str()), ("p1", "p2"));
        assert!((r[0].cosine - 1.0).abs() < 1e-6 && r[0].pass);
        let want = cosine(&[3., 1., 1.], &[7., 0., 1.]);
        assert_eq!(r[1].cosine, want);
        assert!(!r[1].pass);
        assert!(!r[0].gt_from_store);
        // "aaa" was embedded once although it appears on both sides.
        assert_eq!(seen(&e).len(), 3);
        let one = s.score("abc", "bcdefgh").await.unwrap();
        assert_eq!(one, r[1].score);
    }

    #[tokio::test]
    async fn blank_titles_fail_unencoded_unless_asked_to_score() {
        let e = toy();
        let s = CosineScorer::new(e.clone(), 0.5);
        assert_eq!(s.blank_titles(), BlankTitles::Fail);
        let ps = pairs(&[
            ("empty", "", ""),
            ("spaces", "  \t", "  "),
            ("emoji", "\u{1F600}\u{1F44D}", "\u{1F600}\u{1F44D}"),
            ("punct", "--- !!", "aaa"),
            ("real", "aaa", "aaa"),
            ("digits", "42", "aaa"),
            ("greek", "\u{3b1}\u{3b2}", "\u{3b1}\u{3b2}"),
        ]);
        let r = s.score_batch(&ps).await.unwrap();
        let ids: Vec<&str> = r.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(
            ids,
            ["empty", "spaces", "emoji", "punct", "real", "digits", "greek"]
        );
        for x in &r[..4] {
            assert_eq!((x.cosine, x.pass), (0.0, false), "{}", x.id);
        }
        assert!(r[4].pass && r[6].pass, "titles with letters are scored");
        assert_eq!(r[5].cosine, cosine(&toy_vec("42"), &toy_vec("aaa")));
        // Only the non-blank pairs' titles were encoded.
        let mut enc = seen(&e);
        enc.sort();
        assert_eq!(enc, ["42", "aaa", "\u{3b1}\u{3b2}"]);

        // `score`: judged like any title (two blank titles embed alike: cosine 1, a pass).
        let e = toy();
        let s = CosineScorer::new(e.clone(), 0.5).with_blank_titles(BlankTitles::Score);
        let r = s.score_batch(&ps[..3]).await.unwrap();
        assert!(r.iter().all(|x| x.pass), "{r:?}");
        assert!(!seen(&e).is_empty());
    }

    #[tokio::test]
    async fn results_serialise_flat_with_their_id() {
        let s = CosineScorer::new(toy(), 0.5);
        let r = s.score_batch(&pairs(&[("x-1", "ab", "ab")])).await.unwrap();
        let j = serde_json::to_value(&r[0]).unwrap();
        assert_eq!(j["id"], "x-1");
        assert_eq!(j["pass"], true);
        assert!(
            j.get("score").is_none() && j.get("gt_from_store").is_none(),
            "{j}"
        );
    }

    #[tokio::test]
    async fn prompts_are_prepended_per_side_in_one_place() {
        let e = toy();
        let prompts = SidePrompts {
            product: Some("aa".into()),
            gt: None,
        };
        assert_eq!(prompts.apply(Side::Product, "x"), "aax");
        assert_eq!(prompts.apply(Side::Gt, "x"), "x");
        let s = CosineScorer::with_prompts(e.clone(), 0.5, prompts);
        let r = s.score("x", "x").await.unwrap();
        let want = cosine(&[3., 2., 1.], &[1., 0., 1.]);
        assert_eq!(r.cosine, want);
        // Same text, other prompts: two texts embedded, in one call.
        assert_eq!(seen(&e), vec!["aax".to_string(), "x".to_string()]);
    }

    #[tokio::test]
    async fn gt_titles_in_the_store_are_not_encoded_and_results_are_identical() {
        let ps = pairs(&[
            ("1", "apple", "banana"),
            ("2", "cherry", "banana"),
            ("3", "date", "fig"),
        ]);
        let plain_e = toy();
        let plain = CosineScorer::new(plain_e.clone(), 0.9);
        let without = plain.score_batch(&ps).await.unwrap();
        assert_eq!(seen(&plain_e), ["apple", "cherry", "date", "banana", "fig"]);

        let stored_e = toy();
        let stored = CosineScorer::new(stored_e.clone(), 0.9)
            .with_gt_vectors(store_of("ts1-toy", &["banana"]))
            .unwrap();
        let with = stored.score_batch(&ps).await.unwrap();
        // banana came from the store; fig did not and was encoded.
        assert_eq!(seen(&stored_e), ["apple", "cherry", "date", "fig"]);
        assert_eq!(
            with.iter().map(|r| r.gt_from_store).collect::<Vec<_>>(),
            [true, true, false]
        );
        for (a, b) in without.iter().zip(&with) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.cosine.to_bits(), b.cosine.to_bits());
            assert_eq!(a.pass, b.pass);
        }
    }

    #[tokio::test]
    async fn a_store_of_another_model_dimension_or_prompt_is_refused() {
        let e = toy();
        let other = CosineScorer::new(e.clone(), 0.9).with_gt_vectors(store_of("ts1-other", &[]));
        let msg = other.unwrap_err().to_string();
        assert!(
            msg.contains("ts1-other") && msg.contains("ts1-toy"),
            "{msg}"
        );

        let wide = Arc::new(Store {
            fingerprint: "ts1-toy".into(),
            dim: 4,
            vectors: HashMap::new(),
        });
        let e2 = CosineScorer::new(e.clone(), 0.9).with_gt_vectors(wide);
        assert!(
            matches!(
                e2,
                Err(Error::StoreMismatch {
                    found_dim: 4,
                    expected_dim: 3,
                    ..
                })
            ),
            "{e2:?}"
        );

        // A GT prompt changes what the vectors mean: a store made without it is refused.
        let prompted = CosineScorer::with_prompts(
            e,
            0.9,
            SidePrompts {
                product: None,
                gt: Some("query: ".into()),
            },
        );
        assert!(prompted.with_gt_vectors(store_of("ts1-toy", &[])).is_err());
    }

    #[test]
    fn checked_pairs_follow_one_set_of_rules() {
        let pair = |id: &str, phase: Option<&str>, product: &str| Pair {
            id: id.into(),
            phase: phase.map(str::to_string),
            product: product.into(),
            gt: "gt".into(),
            label: None,
        };
        let ok = pair(" p1 ", Some("  race "), "shoe").checked().unwrap();
        assert_eq!((ok.id.as_str(), ok.phase.as_deref()), ("p1", Some("race")));
        assert_eq!(pair("p", Some("   "), "x").checked().unwrap().phase, None);
        let err = |p: Pair| p.checked().unwrap_err().to_string();
        assert_eq!(err(pair("  ", None, "x")), "`id` is empty");
        assert_eq!(
            err(pair("p", None, "iPhone\u{0}15")),
            "`product` holds a NUL byte (U+0000) at character 7: a corrupt or binary input?"
        );
        assert_eq!(
            err(pair("p", Some("ra\u{1b}[2Jce"), "x")),
            "`phase` holds the control character U+001B at character 3"
        );
        assert_eq!(
            err(pair("a\u{7f}", None, "x")),
            "`id` holds the control character U+007F at character 2"
        );
        assert!(err(pair("p", Some("(pooled)"), "x")).starts_with("`phase` `(pooled)` is a name"));
        assert!(err(pair("p", Some(" (none) "), "x")).starts_with("`phase` `(none)` is a name"));
        let long = "x".repeat(MAX_TITLE_BYTES + 1);
        assert!(err(pair("p", None, &long)).starts_with("`product` is 65537 bytes long"));
        assert!(pair("p", None, &long[1..]).checked().is_ok());
        let mut gt = pair("p", None, "x");
        gt.gt = "\u{0}".into();
        assert!(err(gt).starts_with("`gt` holds a NUL byte"));
        assert!(err(pair(&"i".repeat(MAX_LABEL_BYTES + 1), None, "x")).starts_with("`id` is 1025"));
        // titles keep their control characters (agents write what they write), trimmed nothing
        let t = pair("p", None, " \tshoe\u{1b} ").checked().unwrap();
        assert_eq!(t.product, " \tshoe\u{1b} ");
    }

    #[test]
    fn repeated_id_names_the_first_repeat() {
        assert_eq!(repeated_id(["a", "b", "c"]), None);
        assert_eq!(repeated_id(["a", "b", "a", "b"]), Some((0, 2)));
        assert_eq!(repeated_id(["x", "y", "y", "x"]), Some((1, 2)));
        assert_eq!(repeated_id(std::iter::empty()), None);
    }

    #[test]
    fn threshold_is_inclusive() {
        assert!(Score::judge(0.7, 0.7).pass);
        assert!(!Score::judge(0.6999, 0.7).pass);
    }
}
