//! The candle BERT forward against sentence-transformers' references for the tiny committed
//! BERT folders (CLS + Normalize, and mean pooling without normalisation).

mod common;

use common::*;
use titlesim_core::ModelOverrides;

fn check_folder(name: &str) {
    let dir = fixture(name);
    let r = Reference::load(name);
    let emb = embedder(&dir, &ModelOverrides::default(), 8);
    assert_same_tokens(emb.tokenizer(), &r);
    let got = emb.embed_blocking(&r.inputs()).unwrap();
    assert_close(
        &format!("{name} batch 8"),
        &got,
        &r.embeddings,
        &r.texts,
        1e-5,
    );

    // One text at a time gives the same vectors as batches.
    let single = embedder(&dir, &ModelOverrides::default(), 1);
    let one = single.embed_blocking(&r.inputs()).unwrap();
    assert_close(
        &format!("{name} batch 1"),
        &one,
        &r.embeddings,
        &r.texts,
        1e-5,
    );
    assert_close(&format!("{name} batch 1 vs 8"), &one, &got, &r.texts, 1e-6);

    // The token states themselves (before pooling).
    for i in 0..2 {
        let states = token_states(&dir, &r, i);
        let want = &r.token_embeddings_first2[i];
        assert_eq!(states.len(), want.len(), "token count of text #{i}");
        assert_close(&format!("{name} tokens of #{i}"), &states, want, &[], 1e-5);
    }
}

#[test]
fn tiny_bert_cls_matches_sentence_transformers() {
    check_folder("tiny-bert-cls");
}

#[test]
fn tiny_bert_mean_matches_sentence_transformers() {
    check_folder("tiny-bert-mean");
}
