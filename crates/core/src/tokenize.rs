//! Tokenisation, with sentence-transformers' effective settings, and padded token batches.
//!
//! A folder's `tokenizer.json` may carry its own truncation and *fixed* padding (all-MiniLM-L6-v2
//! truncates and pads to 128). sentence-transformers ignores both: it truncates to the model's
//! `max_seq_length` and pads to the longest text of each batch. We do the same: truncation is
//! replaced, padding is removed from the tokenizer and done here, on either side. Before
//! tokenising, sentence-transformers strips each text (prompt included) with Python's
//! `str.strip()` and lower-cases it when the folder says `do_lower_case`; so do we
//! ([`st_strip`]).

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::backend::BatchPadding;
use crate::error::{Error, Result};
use crate::model::{ModelSpec, PaddingSide, Pooling};

/// One tokenised text, unpadded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// Token type (segment) ids.
    pub type_ids: Vec<u32>,
    /// True when the text had more tokens than the model's maximum length and was cut to it
    /// (a caller that must not lose words, such as text-embeddings-inference's
    /// `"truncate": false`, refuses such a text).
    pub truncated: bool,
}

impl Encoded {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the text produced no token at all.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A rectangular batch of token ids, ready for a backend.
///
/// All arrays are row-major `[batch_size, seq_len]`. Padded positions have id
/// [`TokenBatch::pad_id`], mask 0, type id 0 and position id 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Number of texts.
    pub batch_size: usize,
    /// Tokens per row (the longest text of the batch).
    pub seq_len: usize,
    /// Token ids.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Segment ids (all 0 for single texts).
    pub token_type_ids: Vec<i64>,
    /// Position of each token counted over real tokens only: 0..n for each row whatever the
    /// padding side (0 on padding). Models with absolute positions and right padding see the
    /// usual 0..seq_len; left-padded decoders get the positions an unpadded text would.
    pub position_ids: Vec<i64>,
    /// Where the padding is.
    pub padding_side: PaddingSide,
    /// The id used for padding.
    pub pad_id: u32,
}

impl TokenBatch {
    /// Pads `rows` into one batch, to the longest of them.
    pub fn from_encoded(rows: &[&Encoded], pad_id: u32, side: PaddingSide) -> Self {
        let seq_len = rows.iter().map(|r| r.len()).max().unwrap_or(0);
        Self::from_encoded_padded(rows, pad_id, side, seq_len)
    }

    /// Pads `rows` into one batch of `seq_len` tokens per row.
    ///
    /// # Panics
    /// When a row is longer than `seq_len` (a caller's bug).
    pub fn from_encoded_padded(
        rows: &[&Encoded],
        pad_id: u32,
        side: PaddingSide,
        seq_len: usize,
    ) -> Self {
        let batch_size = rows.len();
        if let Some(r) = rows.iter().find(|r| r.len() > seq_len) {
            panic!("a row of {} tokens padded to {seq_len}", r.len());
        }
        let n = batch_size * seq_len;
        let mut input_ids = vec![pad_id as i64; n];
        let mut attention_mask = vec![0i64; n];
        let mut token_type_ids = vec![0i64; n];
        let mut position_ids = vec![0i64; n];
        for (b, row) in rows.iter().enumerate() {
            let offset = match side {
                PaddingSide::Right => 0,
                PaddingSide::Left => seq_len - row.len(),
            };
            let base = b * seq_len + offset;
            for (j, (&id, &ty)) in row.ids.iter().zip(&row.type_ids).enumerate() {
                input_ids[base + j] = id as i64;
                attention_mask[base + j] = 1;
                token_type_ids[base + j] = ty as i64;
                position_ids[base + j] = j as i64;
            }
        }
        TokenBatch {
            batch_size,
            seq_len,
            input_ids,
            attention_mask,
            token_type_ids,
            position_ids,
            padding_side: side,
            pad_id,
        }
    }

    /// Rows `rows` of this batch as a batch of their own, with the same `seq_len` and padding,
    /// so a backend can run parts of a batch side by side and concatenate what they return.
    ///
    /// # Panics
    /// When `rows` is not within `0..batch_size` (a caller's bug, like slicing out of bounds).
    pub fn rows(&self, rows: std::ops::Range<usize>) -> TokenBatch {
        assert!(
            rows.start <= rows.end && rows.end <= self.batch_size,
            "rows {rows:?} of a batch of {}",
            self.batch_size
        );
        let cells = rows.start * self.seq_len..rows.end * self.seq_len;
        TokenBatch {
            batch_size: rows.len(),
            seq_len: self.seq_len,
            input_ids: self.input_ids[cells.clone()].to_vec(),
            attention_mask: self.attention_mask[cells.clone()].to_vec(),
            token_type_ids: self.token_type_ids[cells.clone()].to_vec(),
            position_ids: self.position_ids[cells].to_vec(),
            padding_side: self.padding_side,
            pad_id: self.pad_id,
        }
    }

    /// Number of real tokens in row `b`.
    pub fn row_len(&self, b: usize) -> usize {
        self.attention_mask[b * self.seq_len..(b + 1) * self.seq_len]
            .iter()
            .filter(|&&m| m != 0)
            .count()
    }
}

/// Makes every tokenizer of the process tokenise on the calling thread instead of on rayon's
/// global pool. For a process forked after that pool started (Python's `multiprocessing` with
/// the "fork" start method): the child has none of the pool's threads, and a batch handed to
/// them would wait for ever. Tokens are the same either way. An atomic store only, so it may be
/// called right after a fork.
pub fn tokenize_on_the_calling_thread() {
    tokenizers::utils::parallelism::set_parallelism(false);
}

/// Whether Python's `str.isspace()` holds for `c`: Unicode's `White_Space` characters
/// (Rust's [`char::is_whitespace`]) and U+001C..U+001F, the information separators, which
/// Python counts as space (their bidirectional class is B or S) and Unicode does not.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `text` without white space at either end, as Python's `str.strip()` leaves it:
/// sentence-transformers' `Transformer.tokenize` strips every text (its prompt prepended)
/// before the tokenizer sees it. WordPiece tokenizers drop edge white space anyway; byte-level
/// BPE ones (Qwen3) and Metaspace ones (XLM-R) would make tokens of it, and `"iPhone 15\n"`
/// would get another vector than `"iPhone 15"` from us but not from sentence-transformers.
pub fn st_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// A tokenizer configured as sentence-transformers would use it for one model.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
    padding_side: PaddingSide,
    lowercase: bool,
    max_length: usize,
    eos_id: Option<u32>,
    /// Appended to every text by us: the tokenizer appends no EOS to a last-token model and
    /// the configuration said `append_eos = true`.
    append_eos: Option<u32>,
    /// `config.json`'s `vocab_size`: every id must be below it (the embedding table's rows).
    vocab_size: Option<u64>,
    /// The model folder's `tokenizer.json` (for errors).
    path: std::path::PathBuf,
}

impl TextTokenizer {
    /// Loads the tokenizer of `spec` and applies its effective settings.
    pub fn from_spec(spec: &ModelSpec) -> Result<Self> {
        let mut t = load(&spec.files.tokenizer)?;
        let path = &spec.files.tokenizer;
        // The special tokens the post-processor adds ([CLS] and [SEP]: 2) must leave room for
        // at least one token of text, or every text becomes the same vector (and the
        // tokenizers crate's truncation subtracts past zero).
        let added = t
            .get_post_processor()
            .map_or(0, |p| tokenizers::PostProcessor::added_tokens(p, false));
        if spec.max_seq_length <= added {
            return Err(Error::model_file(
                path,
                format!(
                    "the maximum sequence length {} leaves no room for text: the tokenizer adds {added} special token(s) to every text, so it must be at least {}",
                    spec.max_seq_length,
                    added + 1
                ),
            ));
        }
        let direction = match spec.truncation_side {
            PaddingSide::Right => TruncationDirection::Right,
            PaddingSide::Left => TruncationDirection::Left,
        };
        t.with_truncation(Some(TruncationParams {
            max_length: spec.max_seq_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction,
        }))
        .map_err(|e| Error::Tokenizer(format!("{}: {e}", spec.files.tokenizer.display())))?;
        let fixed_padding = t.get_padding().cloned();
        t.with_padding(None);

        // An id of config.json past 32 bits is no token id: cut to 32 bits it named another
        // token without a word.
        let token_id = |v: u64, field: &str| {
            u32::try_from(v).map_err(|_| {
                Error::model_file(
                    &spec.files.config,
                    format!("`{field}` = {v} is not a token id (ids are below 2^32)"),
                )
            })
        };
        let pad_id = match spec
            .pad_token
            .as_deref()
            .and_then(|p| t.token_to_id(p))
            .or_else(|| fixed_padding.as_ref().map(|p| p.pad_id))
        {
            Some(id) => id,
            None => match spec
                .config
                .get("pad_token_id")
                .and_then(serde_json::Value::as_u64)
            {
                Some(v) => token_id(v, "pad_token_id")?,
                None => 0,
            },
        };
        let eos_id = match spec.config.get("eos_token_id") {
            Some(serde_json::Value::Array(ids)) => ids.first().and_then(serde_json::Value::as_u64),
            Some(v) => v.as_u64(),
            None => None,
        }
        .map(|v| token_id(v, "eos_token_id"))
        .transpose()?;
        let append_eos = if spec.pooling == Pooling::LastToken {
            eos_policy(&t, spec, eos_id)?
        } else if spec.append_eos.is_some() {
            // It would change nothing, without a word: a setting that is not applied is refused.
            return Err(Error::Config {
                path: None,
                message: format!(
                    "append_eos is for last-token models only; {} pools by {}: remove it",
                    spec.root.display(),
                    spec.pooling
                ),
            });
        } else {
            None
        };
        let vocab_size = spec
            .config
            .get("vocab_size")
            .and_then(serde_json::Value::as_u64);
        if let Some(v) = vocab_size {
            for (what, id) in [("padding", Some(pad_id)), ("end-of-sequence", append_eos)] {
                if let Some(id) = id.filter(|&id| u64::from(id) >= v) {
                    return Err(Error::model_file(
                        &spec.files.config,
                        format!(
                            "the {what} token id {id} is past `vocab_size` = {v}: the tokenizer files and the weights do not belong together"
                        ),
                    ));
                }
            }
        }
        Ok(TextTokenizer {
            inner: t,
            pad_id,
            padding_side: spec.padding_side,
            lowercase: spec.do_lower_case,
            max_length: spec.max_seq_length,
            eos_id,
            append_eos,
            vocab_size,
            path: path.clone(),
        })
    }

    /// The pad token id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The padding side of batches.
    pub fn padding_side(&self) -> PaddingSide {
        self.padding_side
    }

    /// The truncation length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The end-of-sequence id from `config.json`, if any.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Tokenises texts (special tokens added, truncated), in order: each stripped of white
    /// space at either end ([`st_strip`]) and, with `do_lower_case`, lower-cased, as
    /// sentence-transformers does.
    pub fn encode(&self, texts: &[String]) -> Result<Vec<Encoded>> {
        let inputs: Vec<String> = texts
            .iter()
            .map(|t| {
                let t = st_strip(t);
                if self.lowercase {
                    t.to_lowercase()
                } else {
                    t.to_string()
                }
            })
            .collect();
        let encs = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", self.path.display())))?;
        if let Some(v) = self.vocab_size {
            for (i, e) in encs.iter().enumerate() {
                if let Some(&id) = e.get_ids().iter().find(|&&id| u64::from(id) >= v) {
                    let token = self.inner.id_to_token(id).unwrap_or_default();
                    let text: String = texts[i].chars().take(60).collect();
                    return Err(Error::model_file(
                        &self.path,
                        format!(
                            "the text {text:?} has token id {id} (`{token}`), past config.json's `vocab_size` = {v}: the tokenizer and the weights do not belong together"
                        ),
                    ));
                }
            }
        }
        Ok(encs
            .into_iter()
            .map(|e| {
                let mut enc = Encoded {
                    ids: e.get_ids().to_vec(),
                    type_ids: e.get_type_ids().to_vec(),
                    // The tokenizers crate keeps what truncation cut off as overflowing parts.
                    truncated: !e.get_overflowing().is_empty(),
                };
                if let Some(eos) = self.append_eos {
                    let keep = self.max_length.saturating_sub(1);
                    enc.truncated |= enc.ids.len() > keep;
                    enc.ids.truncate(keep);
                    enc.type_ids.truncate(keep);
                    enc.ids.push(eos);
                    enc.type_ids.push(enc.type_ids.last().copied().unwrap_or(0));
                }
                enc
            })
            .collect())
    }

    /// The end-of-sequence id titlesim appends itself (`append_eos = true` on a last-token
    /// model whose tokenizer appends none), if any.
    pub fn appended_eos(&self) -> Option<u32> {
        self.append_eos
    }

    /// Groups encoded texts into padded batches of at most `batch_size`, longest first, so
    /// texts of similar length share a batch and padding stays small. Returns, for each batch,
    /// the indices (into `encoded`) of its rows.
    pub fn batches(&self, encoded: &[Encoded], batch_size: usize) -> Vec<(Vec<usize>, TokenBatch)> {
        let batch_size = batch_size.max(1);
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].len()));
        order
            .chunks(batch_size)
            .map(|idx| {
                let rows: Vec<&Encoded> = idx.iter().map(|&i| &encoded[i]).collect();
                (
                    idx.to_vec(),
                    TokenBatch::from_encoded(&rows, self.pad_id, self.padding_side),
                )
            })
            .collect()
    }

    /// Groups encoded texts into padded batches of at most `batch_size` as `padding` says:
    /// [`BatchPadding::Longest`] is [`TextTokenizer::batches`]; with
    /// [`BatchPadding::Multiple`]`(n)` each text is padded to its own length rounded up to a
    /// multiple of `n` (but not past `max_len`, the model's positions: there it keeps its own
    /// length), and a batch holds texts of one padded length only, so the batch a text runs in
    /// has the same shape per row wherever it lands. A text whose padded length is not a
    /// multiple of `n` runs alone. Longest first; returns, for each batch, the indices (into
    /// `encoded`) of its rows.
    pub fn batches_padded(
        &self,
        encoded: &[Encoded],
        batch_size: usize,
        padding: BatchPadding,
        max_len: usize,
    ) -> Vec<(Vec<usize>, TokenBatch)> {
        let n = match padding {
            BatchPadding::Longest => return self.batches(encoded, batch_size),
            BatchPadding::Multiple(n) => n.max(1),
        };
        let padded = |len: usize| {
            let up = len.max(1).div_ceil(n) * n;
            if up <= max_len.max(len) {
                up
            } else {
                len
            }
        };
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(padded(encoded[i].len())));
        let mut out = Vec::new();
        for group in order.chunk_by(|&a, &b| padded(encoded[a].len()) == padded(encoded[b].len())) {
            let len = padded(encoded[group[0]].len());
            let per_batch = if len % n == 0 { batch_size.max(1) } else { 1 };
            for idx in group.chunks(per_batch) {
                let rows: Vec<&Encoded> = idx.iter().map(|&i| &encoded[i]).collect();
                out.push((
                    idx.to_vec(),
                    TokenBatch::from_encoded_padded(&rows, self.pad_id, self.padding_side, len),
                ));
            }
        }
        out
    }

    /// The underlying `tokenizers` tokenizer (truncation set, padding off).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}

/// Last-token pooling reads the state of the last real token, which must be the
/// end-of-sequence token the tokenizer appends; a tokenizer without that post-processor (some
/// copies of Qwen3-Embedding's folder) would silently pool the last *word*. Returns the id to
/// append ourselves, `None` when nothing is to be appended, or an error when the
/// configuration has not said what to do.
fn eos_policy(t: &Tokenizer, spec: &ModelSpec, eos_id: Option<u32>) -> Result<Option<u32>> {
    let probe = |special: bool| {
        t.encode("a", special)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", spec.files.tokenizer.display())))
    };
    let with = probe(true)?;
    let without = probe(false)?;
    let appends = with.get_ids().len() > without.get_ids().len()
        && with.get_special_tokens_mask().last() == Some(&1);
    if appends {
        return Ok(None);
    }
    match (spec.append_eos, eos_id) {
        (Some(false), _) => Ok(None),
        (Some(true), Some(id)) => Ok(Some(id)),
        (Some(true), None) => Err(Error::Config {
            path: Some(spec.files.config.clone()),
            message: "append_eos = true, but config.json has no `eos_token_id` to append".into(),
        }),
        (None, _) => Err(Error::Config {
            path: Some(spec.files.tokenizer.clone()),
            message: format!(
                "this model pools the last token, but its tokenizer appends no end-of-sequence \
                 token (its post-processor adds nothing after the text), so the last word would \
                 be pooled instead. Set `append_eos = true` in the model's configuration table \
                 to append config.json's eos_token_id ({}), or `append_eos = false` to pool the \
                 last word as sentence-transformers does with this folder",
                eos_id.map_or("none".to_string(), |id| id.to_string())
            ),
        }),
    }
}

fn load(path: &Path) -> Result<Tokenizer> {
    Tokenizer::from_file(path)
        .map_err(|e| Error::model_file(path, format!("cannot load tokenizer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_batch_are_the_batch_of_those_texts() {
        let enc = |ids: &[u32]| Encoded {
            ids: ids.to_vec(),
            type_ids: vec![0; ids.len()],
            truncated: false,
        };
        let texts = [
            enc(&[5, 6, 7]),
            enc(&[8]),
            enc(&[9, 10]),
            enc(&[11, 12, 13]),
        ];
        for side in [PaddingSide::Right, PaddingSide::Left] {
            let all: Vec<&Encoded> = texts.iter().collect();
            let batch = TokenBatch::from_encoded(&all, 0, side);
            // Rows 1..3 padded to the whole batch's length (3), as the batch pads them.
            let part = batch.rows(1..3);
            assert_eq!((part.batch_size, part.seq_len), (2, 3));
            let alone = TokenBatch::from_encoded(&all[1..3], 0, side);
            assert_eq!(alone.seq_len, 2);
            for (r, row) in [(0, 1), (1, 2)] {
                let got = &part.input_ids[r * 3..(r + 1) * 3];
                let want = &batch.input_ids[row * 3..(row + 1) * 3];
                assert_eq!(got, want, "{side:?} row {row}");
                assert_eq!(part.row_len(r), alone.row_len(r));
            }
            assert_eq!(part.position_ids, batch.position_ids[3..9]);
            assert_eq!(part.attention_mask, batch.attention_mask[3..9]);
            assert_eq!(batch.rows(0..4), batch);
            assert_eq!(batch.rows(2..2).batch_size, 0);
        }
    }

    #[test]
    fn padded_batches_hold_one_padded_length_each() {
        let tok =
            TextTokenizer::from_spec(&ModelSpec::from_folder("q", &tiny_qwen3()).unwrap()).unwrap();
        let enc = |len: usize| Encoded {
            ids: vec![7; len],
            type_ids: vec![0; len],
            truncated: false,
        };
        // Lengths 1..=40, in a scrambled order; the model's limit is 36.
        let lens: Vec<usize> = (0..40).map(|i| (i * 17) % 40 + 1).collect();
        let encoded: Vec<Encoded> = lens.iter().map(|&l| enc(l)).collect();
        let batches = tok.batches_padded(&encoded, 5, BatchPadding::Multiple(16), 36);
        let mut seen: Vec<usize> = batches.iter().flat_map(|(idx, _)| idx.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..40).collect::<Vec<_>>());
        for (idx, b) in &batches {
            let want = match lens[idx[0]] {
                l if l <= 16 => 16,
                l if l <= 32 => 32,
                l => l, // 48 would pass the 36 positions: its own length, alone
            };
            assert_eq!(b.seq_len, want, "{idx:?}");
            assert!(idx.len() <= if want % 16 == 0 { 5 } else { 1 }, "{idx:?}");
            for (r, &i) in idx.iter().enumerate() {
                assert_eq!(b.row_len(r), lens[i]);
            }
            assert_eq!(b.padding_side, PaddingSide::Left);
        }
        // Longest is the plain batching.
        assert_eq!(
            tok.batches_padded(&encoded, 5, BatchPadding::Longest, 36),
            tok.batches(&encoded, 5)
        );
    }

    use crate::model::ModelOverrides;

    /// The committed tiny Qwen3 folder (last-token pooling, `<|endoftext|>` appended).
    fn tiny_qwen3() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-qwen3")
    }

    /// A copy of the tiny Qwen3 folder's text files with `edit` applied to its JSON file
    /// `file`.
    fn qwen3_copy(file: &str, edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let src = tiny_qwen3();
        std::fs::create_dir(d.path().join("1_Pooling")).unwrap();
        for f in [
            "config.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "sentence_bert_config.json",
            "config_sentence_transformers.json",
            "modules.json",
            "special_tokens_map.json",
            "1_Pooling/config.json",
        ] {
            std::fs::copy(src.join(f), d.path().join(f)).unwrap();
        }
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(src.join(file)).unwrap()).unwrap();
        edit(&mut v);
        std::fs::write(d.path().join(file), v.to_string()).unwrap();
        d
    }

    /// A copy of the tiny Qwen3 folder whose tokenizer has no post-processor.
    fn qwen3_without_eos() -> tempfile::TempDir {
        qwen3_copy("tokenizer.json", |t| {
            t["post_processor"] = serde_json::Value::Null
        })
    }

    /// A copy of the tiny Qwen3 folder with `edit` applied to its `config.json`.
    fn qwen3_with_config(edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
        qwen3_copy("config.json", edit)
    }

    /// A maximum length that leaves no room past the special tokens would give every text
    /// the same vector (and the tokenizers crate's truncation subtracts past zero).
    #[test]
    fn a_maximum_length_without_room_for_text_is_refused() {
        let bert =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-bert-mean");
        let at = |n: usize| {
            tokenizer(
                &bert,
                &ModelOverrides {
                    max_length: Some(n),
                    ..Default::default()
                },
            )
        };
        // [CLS] and [SEP]: two special tokens, so 2 leaves no room.
        let e = at(2).unwrap_err().to_string();
        assert!(
            e.contains("tokenizer.json")
                && e.contains("the maximum sequence length 2 leaves no room for text")
                && e.contains("adds 2 special token(s)")
                && e.contains("at least 3"),
            "{e}"
        );
        let enc = at(3).unwrap().encode(&["a b c d".to_string()]).unwrap();
        assert_eq!(enc[0].len(), 3);
    }

    /// `append_eos` on a model that does not pool the last token would change nothing, without
    /// a word: refused, naming the folder and its pooling.
    #[test]
    fn append_eos_on_a_mean_pooled_model_is_refused() {
        let bert =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-bert-mean");
        for v in [true, false] {
            let e = tokenizer(
                &bert,
                &ModelOverrides {
                    append_eos: Some(v),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.contains("append_eos is for last-token models only")
                    && e.contains("tiny-bert-mean pools by mean"),
                "{e}"
            );
        }
    }

    /// Python's white space, listed by Python 3.11 itself:
    /// `[hex(ord(c)) for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()]`.
    #[test]
    fn python_space_is_what_python_strips() {
        let python: Vec<u32> = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ]
        .to_vec();
        let ours: Vec<u32> = (0..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| super::is_python_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, python);
        // '\u200bx\u200b'.strip() and '\ufeffx'.strip() keep their ends; inner space stays.
        assert_eq!(super::st_strip("\u{200b}x\u{200b}"), "\u{200b}x\u{200b}");
        assert_eq!(super::st_strip("\u{feff}x"), "\u{feff}x");
        assert_eq!(super::st_strip("\u{1c} a  b \u{3000}\n"), "a  b");
    }

    /// A byte-level BPE tokenizer makes tokens of edge white space; sentence-transformers
    /// strips it first, and so do we: the same ids with or without it.
    #[test]
    fn edge_white_space_is_stripped_before_tokenising() {
        let t = tokenizer(&tiny_qwen3(), &ModelOverrides::default()).unwrap();
        let texts: Vec<String> = [
            "zebra apple",
            "  zebra apple\n",
            "\u{1c}zebra apple\u{3000}\t",
        ]
        .map(String::from)
        .to_vec();
        let enc = t.encode(&texts).unwrap();
        assert_eq!(enc[1], enc[0]);
        assert_eq!(enc[2], enc[0]);
        // the tokenizer itself would not have given the same ids
        let raw = t.inner.encode(texts[1].as_str(), true).unwrap();
        assert_ne!(raw.get_ids(), enc[0].ids.as_slice());
    }

    /// Ids the embedding table does not have are errors naming the text and the token,
    /// before any backend sees them (tract would panic on them).
    #[test]
    fn token_ids_past_the_vocabulary_are_refused() {
        // The fixture's table has 503 rows; `<|im_start|>` is id 501, `<|endoftext|>` (pad
        // and EOS) 500.
        let text = "<|im_start|>zebra".to_string();
        let full = tokenizer(&tiny_qwen3(), &ModelOverrides::default()).unwrap();
        assert!(full.encode(std::slice::from_ref(&text)).unwrap()[0]
            .ids
            .contains(&501));
        let d = qwen3_with_config(|c| c["vocab_size"] = serde_json::json!(501));
        let t = tokenizer(d.path(), &ModelOverrides::default()).unwrap();
        let e = t
            .encode(&["plain".to_string(), text])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tokenizer.json")
                && e.contains("\"<|im_start|>zebra\"")
                && e.contains("token id 501 (`<|im_start|>`)")
                && e.contains("`vocab_size` = 501"),
            "{e}"
        );
        assert!(t.encode(&["plain".to_string()]).is_ok());
        // The padding (and EOS) id past the table: refused at load.
        let d = qwen3_with_config(|c| c["vocab_size"] = serde_json::json!(500));
        let e = tokenizer(d.path(), &ModelOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.json") && e.contains("token id 500 is past `vocab_size` = 500"),
            "{e}"
        );
    }

    /// An id past 32 bits was cut to 32 bits: `eos_token_id` 2^32 + 500 appended token 500.
    #[test]
    fn a_config_token_id_past_32_bits_is_refused() {
        let d = qwen3_with_config(|c| c["eos_token_id"] = serde_json::json!(4_294_967_796u64));
        let e = tokenizer(d.path(), &ModelOverrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.json")
                && e.contains("`eos_token_id` = 4294967796 is not a token id"),
            "{e}"
        );
    }

    fn tokenizer(dir: &Path, o: &ModelOverrides) -> Result<TextTokenizer> {
        TextTokenizer::from_spec(&ModelSpec::from_folder_with("q", dir, o).unwrap())
    }

    #[test]
    fn last_token_tokenizer_without_eos_is_refused_unless_configured() {
        let texts: Vec<String> = [
            "2 Pack",
            "",
            "a much longer product title that will certainly be truncated at eight tokens",
        ]
        .map(String::from)
        .to_vec();
        let short = ModelOverrides {
            max_length: Some(8),
            ..Default::default()
        };
        let good = tokenizer(&tiny_qwen3(), &short).unwrap();
        assert_eq!(good.appended_eos(), None, "the fixture appends EOS itself");
        let reference = good.encode(&texts).unwrap();
        assert!(reference.iter().all(|e| e.ids.last() == Some(&500)));

        let broken = qwen3_without_eos();
        match tokenizer(broken.path(), &short) {
            Err(Error::Config {
                path: Some(p),
                message,
            }) => {
                assert!(p.ends_with("tokenizer.json"), "{p:?}");
                assert!(message.contains("append_eos = true"), "{message}");
                assert!(message.contains("(500)"), "{message}");
            }
            other => panic!("expected a configuration error, got {other:?}"),
        }

        // Appending ourselves gives exactly the tokens of the appending tokenizer, truncation
        // included.
        let fixed = ModelOverrides {
            append_eos: Some(true),
            ..short.clone()
        };
        let fixed = tokenizer(broken.path(), &fixed).unwrap();
        assert_eq!(fixed.appended_eos(), Some(500));
        assert_eq!(fixed.encode(&texts).unwrap(), reference);
        let cut: Vec<bool> = reference.iter().map(|e| e.truncated).collect();
        assert_eq!(cut, [false, false, true], "only the long title is cut");
        // A text that fills the maximum length exactly, EOS included, is not cut: by the
        // appending tokenizer nor by titlesim appending EOS itself.
        let exact = ModelOverrides {
            max_length: Some(reference[0].len()),
            append_eos: Some(true),
            ..Default::default()
        };
        for (dir, o) in [
            (
                tiny_qwen3(),
                ModelOverrides {
                    append_eos: None,
                    ..exact.clone()
                },
            ),
            (broken.path().to_path_buf(), exact.clone()),
        ] {
            let e = tokenizer(&dir, &o).unwrap().encode(&texts[..1]).unwrap();
            assert_eq!(e[0].ids, reference[0].ids);
            assert!(!e[0].truncated, "{dir:?}");
        }
        let shorter = ModelOverrides {
            max_length: Some(reference[0].len() - 1),
            ..exact
        };
        let e = tokenizer(broken.path(), &shorter)
            .unwrap()
            .encode(&texts[..1])
            .unwrap();
        assert!(e[0].truncated, "one token short of the text and its EOS");

        // `false` pools as sentence-transformers would: the text's own last token.
        let as_is = ModelOverrides {
            append_eos: Some(false),
            ..short
        };
        let as_is = tokenizer(broken.path(), &as_is).unwrap();
        let got = as_is.encode(&texts).unwrap();
        assert!(
            reference[0].len() < 8,
            "the first text must not be truncated"
        );
        assert_eq!(got[0].ids, reference[0].ids[..reference[0].len() - 1]);
        assert_eq!(got[2].len(), 8, "truncated, with no EOS");
        assert!(got[2].truncated && !got[0].truncated);
        assert_ne!(got[2].ids.last(), Some(&500));
        assert!(got[1].is_empty());

        // Other pooling modes do not care.
        let mean = ModelOverrides {
            pooling: Some(Pooling::Mean),
            ..Default::default()
        };
        assert!(tokenizer(broken.path(), &mean).is_ok());
    }

    fn enc(ids: &[u32]) -> Encoded {
        Encoded {
            ids: ids.to_vec(),
            type_ids: vec![0; ids.len()],
            truncated: false,
        }
    }

    #[test]
    fn right_padding() {
        let a = enc(&[1, 2, 3]);
        let b = enc(&[4]);
        let t = TokenBatch::from_encoded(&[&a, &b], 0, PaddingSide::Right);
        assert_eq!(t.seq_len, 3);
        assert_eq!(t.input_ids, vec![1, 2, 3, 4, 0, 0]);
        assert_eq!(t.attention_mask, vec![1, 1, 1, 1, 0, 0]);
        assert_eq!(t.position_ids, vec![0, 1, 2, 0, 0, 0]);
        assert_eq!(t.row_len(1), 1);
    }

    #[test]
    fn left_padding_keeps_positions_of_real_tokens() {
        let a = enc(&[1, 2, 3]);
        let b = enc(&[4, 5]);
        let t = TokenBatch::from_encoded(&[&a, &b], 9, PaddingSide::Left);
        assert_eq!(t.input_ids, vec![1, 2, 3, 9, 4, 5]);
        assert_eq!(t.attention_mask, vec![1, 1, 1, 0, 1, 1]);
        assert_eq!(t.position_ids, vec![0, 1, 2, 0, 0, 1]);
    }
}
