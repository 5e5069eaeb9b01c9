//! The real all-MiniLM-L6-v2 (from `cargo xtask fetch-models`) against sentence-transformers'
//! reference: product titles, a 149-token and a 256-token (truncated) text, the empty string
//! and non-ASCII text.

mod common;

use common::*;
use titlesim_core::ModelOverrides;

#[test]
fn all_minilm_matches_sentence_transformers() {
    let dir = real_model("all-MiniLM-L6-v2");
    let r = Reference::load("all-minilm-l6-v2");
    let inputs = r.inputs();
    // The reference covers what this test claims to cover.
    assert!(r
        .input_ids
        .iter()
        .any(|ids| ids.len() > 128 && ids.len() < 256));
    assert!(r.input_ids.iter().any(|ids| ids.len() == 256));
    assert!(r.texts.iter().any(String::is_empty));
    assert!(r.texts.iter().any(|t| !t.is_ascii()));

    let emb = embedder(&dir, &ModelOverrides::default(), 8);
    assert_same_tokens(emb.tokenizer(), &r);
    let got = emb.embed_blocking(&inputs).unwrap();
    assert_close("all-MiniLM batch 8", &got, &r.embeddings, &r.texts, 1e-5);

    let one = embedder(&dir, &ModelOverrides::default(), 1)
        .embed_blocking(&inputs)
        .unwrap();
    assert_close("all-MiniLM batch 1", &one, &r.embeddings, &r.texts, 1e-5);
    assert_close("all-MiniLM batch 1 vs 8", &one, &got, &r.texts, 1e-6);

    for i in 0..2 {
        let states = token_states(&dir, &r, i);
        assert_eq!(states.len(), r.token_embeddings_first2[i].len());
        assert_close(
            &format!("all-MiniLM tokens of #{i}"),
            &states,
            &r.token_embeddings_first2[i],
            &[],
            1e-5,
        );
    }
}
