//! Our own Qwen3 forward against sentence-transformers' references for the tiny committed
//! Qwen3 folder (last-token pooling, left padding, GQA 4/2, q/k norms, RoPE theta 1e6).

mod common;

use common::*;
use titlesim_core::{ModelOverrides, PaddingSide};

fn right_padding() -> ModelOverrides {
    ModelOverrides {
        padding_side: Some(PaddingSide::Right),
        ..Default::default()
    }
}

fn check(reference_name: &str) {
    let dir = fixture("tiny-qwen3");
    let r = Reference::load(reference_name);
    let inputs = r.inputs();

    // Mixed-length batches (sorted by length, left-padded, 8 per batch; then all 16 at once).
    let emb = embedder(&dir, &ModelOverrides::default(), 8);
    assert_eq!(emb.tokenizer().padding_side(), PaddingSide::Left);
    assert_same_tokens(emb.tokenizer(), &r);
    let batched = emb.embed_blocking(&inputs).unwrap();
    assert_close(
        &format!("{reference_name} batch 8"),
        &batched,
        &r.embeddings,
        &r.texts,
        1e-5,
    );
    let all = embedder(&dir, &ModelOverrides::default(), 16)
        .embed_blocking(&inputs)
        .unwrap();
    assert_close(
        &format!("{reference_name} batch 16"),
        &all,
        &r.embeddings,
        &r.texts,
        1e-5,
    );

    // One text at a time, and batch == single.
    let single = embedder(&dir, &ModelOverrides::default(), 1)
        .embed_blocking(&inputs)
        .unwrap();
    assert_close(
        &format!("{reference_name} batch 1"),
        &single,
        &r.embeddings,
        &r.texts,
        1e-5,
    );
    assert_close(
        &format!("{reference_name} batch vs single"),
        &all,
        &single,
        &r.texts,
        1e-6,
    );

    // Right padding gives the same vectors as left padding.
    let right = embedder(&dir, &right_padding(), 16)
        .embed_blocking(&inputs)
        .unwrap();
    assert_close(
        &format!("{reference_name} right padding"),
        &right,
        &r.embeddings,
        &r.texts,
        1e-5,
    );
    assert_close(
        &format!("{reference_name} right vs left"),
        &right,
        &all,
        &r.texts,
        1e-6,
    );

    // Calling the same model again gives the same answer (no state kept between calls).
    let again = emb.embed_blocking(&inputs).unwrap();
    assert_eq!(again, batched, "second call differs");
}

#[test]
fn tiny_qwen3_matches_sentence_transformers() {
    check("tiny-qwen3");
}

#[test]
fn tiny_qwen3_with_query_prompt_matches_sentence_transformers() {
    check("tiny-qwen3.query");
}

#[test]
fn equal_length_texts_are_still_masked() {
    // Texts 2 and 3 have the same token count: a batch of just them has no padding, and the
    // causal mask must still apply. Also two copies of the long (truncated) texts.
    let dir = fixture("tiny-qwen3");
    let r = Reference::load("tiny-qwen3");
    let inputs = r.inputs();
    let enc = embedder(&dir, &ModelOverrides::default(), 8);
    let lens: Vec<usize> = enc
        .tokenizer()
        .encode(&inputs)
        .unwrap()
        .iter()
        .map(|e| e.len())
        .collect();
    for (a, b) in [(2, 3), (13, 14)] {
        assert_eq!(
            lens[a], lens[b],
            "texts {a} and {b} should have equal token counts"
        );
        let got = enc
            .embed_blocking(&[inputs[a].clone(), inputs[b].clone()])
            .unwrap();
        let want = vec![r.embeddings[a].clone(), r.embeddings[b].clone()];
        assert_close(
            &format!("equal-length pair {a},{b}"),
            &got,
            &want,
            &[],
            1e-5,
        );
    }
}

#[test]
fn tiny_qwen3_token_states_match() {
    let dir = fixture("tiny-qwen3");
    let r = Reference::load("tiny-qwen3");
    for i in 0..2 {
        let states = token_states(&dir, &r, i);
        assert_eq!(states.len(), r.token_embeddings_first2[i].len());
        assert_close(
            &format!("tokens of #{i}"),
            &states,
            &r.token_embeddings_first2[i],
            &[],
            1e-5,
        );
    }
}
