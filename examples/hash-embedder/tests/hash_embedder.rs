//! The hashing embedder on its own, behind the scorer, and in the shadow scorer, through the
//! public API only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hash_embedder::{HashEmbedder, HashOptions};
use titlesim::config::FsyncPolicy;
use titlesim::{
    cosine, read_log, BackendKind, CosineScorer, Embedder, Error, ModelConfig, Pair, PairScore,
    Scorer,
};
use titlesim_shadow::{JsonlSink, Sampler, ShadowScorer, ShadowSettings};

fn texts(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

const TITLES: &[&str] = &[
    "Apple iPhone 15 128GB Black",
    "black 128GB iPhone 15 Apple",
    "Dyson V8 Cordless Vacuum",
    "",
    "!!!",
    "Été — Sac à dos 20 L",
];

#[tokio::test]
async fn vectors_are_deterministic_unit_length_and_of_the_configured_dim() {
    for dim in [1usize, 7, 384] {
        let opts = HashOptions {
            dim,
            ..HashOptions::default()
        };
        // Two separately built embedders, two calls, and the synchronous path agree bit for bit.
        let a = HashEmbedder::new(opts).unwrap();
        let b = HashEmbedder::new(opts).unwrap();
        let va = a.embed(&texts(TITLES)).await.unwrap();
        let vb = b.embed(&texts(TITLES)).await.unwrap();
        assert_eq!(va, vb);
        assert_eq!(va, a.embed(&texts(TITLES)).await.unwrap());
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!((a.dim(), a.info().dim), (dim, dim));
        assert_eq!(va.len(), TITLES.len());
        for (t, v) in TITLES.iter().zip(&va) {
            assert_eq!(v.len(), dim, "{t:?}");
            assert_eq!(*v, a.embed_text(t), "{t:?}");
            assert!(v.iter().all(|x| x.is_finite()), "{t:?}");
            assert!((norm(v) - 1.0).abs() < 1e-6, "{t:?}: norm {}", norm(v));
        }
    }
    assert!(HashEmbedder::new(HashOptions::default())
        .unwrap()
        .embed(&[])
        .await
        .unwrap()
        .is_empty());
}

#[test]
fn other_settings_give_other_vectors_and_fingerprints() {
    let base = HashEmbedder::new(HashOptions::default()).unwrap();
    let t = TITLES[0];
    for opts in [
        HashOptions {
            seed: 1,
            ..HashOptions::default()
        },
        HashOptions {
            dim: 256,
            ..HashOptions::default()
        },
        HashOptions {
            char_ngram: 4,
            ..HashOptions::default()
        },
        HashOptions {
            bigram_weight: 0.0,
            ..HashOptions::default()
        },
    ] {
        let other = HashEmbedder::new(opts).unwrap();
        assert_ne!(other.fingerprint(), base.fingerprint(), "{opts:?}");
        assert_ne!(other.embed_text(t), base.embed_text(t), "{opts:?}");
    }
}

#[test]
fn bad_settings_are_config_errors() {
    for opts in [
        HashOptions {
            dim: 0,
            ..HashOptions::default()
        },
        HashOptions {
            char_weight: -1.0,
            ..HashOptions::default()
        },
        HashOptions {
            bigram_weight: f32::NAN,
            ..HashOptions::default()
        },
    ] {
        match HashEmbedder::new(opts) {
            Err(Error::Config { message, .. }) => assert!(message.contains("hash embedder")),
            other => panic!("{opts:?}: expected a Config error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_scorer_ranks_reworded_titles_above_unrelated_ones() {
    let scorer = CosineScorer::new(
        Arc::new(HashEmbedder::new(HashOptions::default()).unwrap()),
        0.5,
    );
    let pairs: Vec<Pair> = [
        ("Apple iPhone 15 128GB Black", "Apple iPhone 15 128GB Black"),
        (
            "Apple iPhone 15 128GB Black",
            "APPLE iphone 15, 128gb - black",
        ),
        ("Apple iPhone 15 128GB Black", "black 128GB iPhone 15 Apple"),
        ("Apple iPhone 15 128GB Black", "Dyson V8 Cordless Vacuum"),
        ("", ""),
    ]
    .iter()
    .enumerate()
    .map(|(i, (a, b))| Pair::new(i.to_string(), *a, *b))
    .collect();
    let s = scorer.score_batch(&pairs).await.unwrap();
    // Identical texts, and texts that differ only in case and punctuation: cosine 1.
    for i in [0, 1] {
        assert!(
            (s[i].cosine - 1.0).abs() < 1e-6,
            "pair {i}: {}",
            s[i].cosine
        );
        assert!(s[i].pass);
    }
    // Two empty titles: the blank-title rule (cosine 0, a fail), not a match.
    assert_eq!((s[4].cosine, s[4].pass), (0.0, false));
    // Same words, other order: below 1 (the word bigrams differ), far above an unrelated title.
    let (shuffled, unrelated) = (s[2].cosine, s[3].cosine);
    assert!(shuffled < 0.999, "shuffled {shuffled}");
    assert!(shuffled > 0.9, "shuffled {shuffled}");
    assert!(unrelated.abs() < 0.3, "unrelated {unrelated}");
    assert!(shuffled > unrelated + 0.4);
    assert!(s[2].pass && !s[3].pass);
    // Values from a separate Python implementation of the same features and hash.
    assert!((shuffled - 0.941_176_5).abs() < 1e-5, "{shuffled}");
    assert!(unrelated.abs() < 1e-6, "{unrelated}");
    let reworded = scorer
        .score("Apple iPhone 15 128GB Black", "iPhone 15 (128 GB) - Black")
        .await
        .unwrap();
    assert!(
        (reworded.cosine - 0.675_520_5).abs() < 1e-5,
        "{}",
        reworded.cosine
    );
    // Without bigrams word order is invisible.
    let bag = HashEmbedder::new(HashOptions {
        bigram_weight: 0.0,
        ..HashOptions::default()
    })
    .unwrap();
    let c = cosine(
        &bag.embed_text(&pairs[2].product),
        &bag.embed_text(&pairs[2].gt),
    );
    assert!((c - 1.0).abs() < 1e-6, "{c}");
}

#[tokio::test]
async fn it_works_as_a_boxed_embedder() {
    let boxed: Box<dyn Embedder> = Box::new(HashEmbedder::new(HashOptions::default()).unwrap());
    let shared: Arc<dyn Embedder> = Arc::from(boxed);
    let handle = tokio::spawn({
        let e = shared.clone();
        async move { e.embed(&texts(&["moved to another task"])).await }
    });
    let v = handle.await.unwrap().unwrap();
    assert_eq!(v[0].len(), shared.dim());
    assert_eq!(shared.info().backend, "hash");
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn pairs() -> Vec<Pair> {
    [
        (
            "a",
            "race",
            "Apple iPhone 15 128GB Black",
            "iPhone 15 (128 GB) - Black",
        ),
        (
            "b",
            "race",
            "Samsung Galaxy S24 Ultra",
            "Galaxy S24 Ultra 256 GB",
        ),
        (
            "c",
            "race",
            "Sony WH-1000XM5 Headphones",
            "Bose QuietComfort 45",
        ),
        (
            "d",
            "qualifying",
            "Dyson V8 Cordless Vacuum",
            "Dyson V8 cordless vacuum cleaner",
        ),
        (
            "e",
            "qualifying",
            "Apple iPhone 15 128GB Black",
            "Apple iPhone 15 128GB Black",
        ),
        (
            "f",
            "qualifying",
            "Logitech MX Master 3S",
            "Nintendo Switch OLED",
        ),
    ]
    .iter()
    .map(|&(id, phase, product, gt)| Pair {
        id: id.into(),
        phase: Some(phase.into()),
        product: product.into(),
        gt: gt.into(),
        label: None,
    })
    .collect()
}

/// Runs `canonical` with `shadow` in its shadow over [`pairs`], logging to a JSONL file, and
/// checks the returned verdicts and the log against direct scoring with each scorer.
async fn shadow_run_matches_direct_scoring(canonical: CosineScorer, shadow: CosineScorer) {
    let pairs = pairs();
    let direct_canonical: Vec<PairScore> = canonical.score_batch(&pairs).await.unwrap();
    let direct_shadow: Vec<PairScore> = shadow.score_batch(&pairs).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/shadow.jsonl");
    let (sink, cut) = JsonlSink::open(&log, FsyncPolicy::Batch).unwrap();
    assert_eq!(cut, 0);
    let scorer = ShadowScorer::new(
        canonical.clone(),
        Some(shadow.clone()),
        ShadowSettings {
            sampler: Sampler::all(),
            timeout_per_pair: Duration::from_secs(30),
        },
        vec![Box::new(sink)],
    )
    .unwrap();
    // Two batches, as a service would send them.
    let mut verdicts = scorer.score_batch(&pairs[..4]).await.unwrap();
    verdicts.extend(scorer.score_batch(&pairs[4..]).await.unwrap());
    let report = scorer.finish().await.unwrap();

    // The canonical verdicts are those of the canonical model alone.
    assert_eq!(verdicts.len(), pairs.len());
    for (i, (got, want)) in verdicts.iter().zip(&direct_canonical).enumerate() {
        assert_eq!(got.id, want.id, "pair {i}");
        assert_eq!(got.pass, want.pass, "pair {i}");
        assert_eq!(got.threshold, canonical.threshold());
        assert!((got.cosine - want.cosine).abs() < 1e-6, "pair {i}");
    }
    assert_eq!(report.tally.total.pairs, pairs.len() as u64);
    assert_eq!(report.tally.total.both_scored, pairs.len() as u64);
    assert_eq!(report.sinks.len(), 1);
    assert_eq!(report.sinks[0].records_written, pairs.len() as u64);
    assert_eq!(report.sinks[0].last_error, None);

    // The log holds one record per pair with both cosines, equal to direct scoring.
    let contents = read_log(&log).unwrap();
    assert!(contents.skipped.is_empty(), "{:?}", contents.skipped);
    assert_eq!(contents.records.len(), pairs.len());
    let (ci, si) = (canonical.embedder().info(), shadow.embedder().info());
    for r in &contents.records {
        let i = pairs.iter().position(|p| p.id == r.pair_id).unwrap();
        let p = &pairs[i];
        assert_eq!((&r.product, &r.gt, &r.phase), (&p.product, &p.gt, &p.phase));
        let s = r.shadow.as_ref().expect("every pair is sampled");
        let (cc, sc) = (r.canonical.cosine.unwrap(), s.cosine.unwrap());
        assert!(
            (cc - direct_canonical[i].cosine).abs() < 1e-6,
            "{}",
            r.pair_id
        );
        assert!((sc - direct_shadow[i].cosine).abs() < 1e-6, "{}", r.pair_id);
        assert_eq!(r.canonical.pass, Some(direct_canonical[i].pass));
        assert_eq!(s.pass, Some(direct_shadow[i].pass));
        assert_eq!(r.canonical.threshold, canonical.threshold());
        assert_eq!(s.threshold, shadow.threshold());
        assert_eq!(
            (&r.canonical.model, &r.canonical.fingerprint),
            (&ci.model, &ci.fingerprint)
        );
        assert_eq!(
            (&s.model, &s.backend, &s.fingerprint),
            (&si.model, &si.backend, &si.fingerprint)
        );
        assert_eq!((&r.canonical.error, &s.error), (&None, &None));
    }
}

#[tokio::test]
async fn shadows_a_transformer_model_loaded_by_the_facade() {
    let cfg = ModelConfig::new(fixture("tiny-bert-mean"), BackendKind::Candle, 0.8);
    let canonical = titlesim::load_scorer(&cfg).unwrap().0;
    assert_eq!(canonical.embedder().info().backend, "candle");
    let hash = CosineScorer::new(
        Arc::new(HashEmbedder::new(HashOptions::default()).unwrap()),
        0.5,
    );
    shadow_run_matches_direct_scoring(canonical, hash).await;
}

#[tokio::test]
async fn is_shadowed_as_the_canonical_model() {
    // The other way round: the outside embedder's verdicts count, the transformer is the
    // candidate; and two hashing embedders with different seeds.
    let hash = CosineScorer::new(
        Arc::new(HashEmbedder::new(HashOptions::default()).unwrap()),
        0.5,
    );
    let cfg = ModelConfig::new(fixture("tiny-bert-mean"), BackendKind::Candle, 0.8);
    shadow_run_matches_direct_scoring(hash.clone(), titlesim::load_scorer(&cfg).unwrap().0).await;
    let other = HashEmbedder::new(HashOptions {
        seed: 9,
        dim: 128,
        ..HashOptions::default()
    })
    .unwrap();
    shadow_run_matches_direct_scoring(hash, CosineScorer::new(Arc::new(other), 0.6)).await;
}

#[test]
fn the_example_program_runs_and_writes_a_complete_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("demo.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hash-embedder"))
        .arg("--log")
        .arg(&log)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("5 records, 0 skipped lines"), "{stdout}");
    let contents = read_log(&log).unwrap();
    assert_eq!(contents.records.len(), 5);
    assert!(contents.records.iter().all(|r| r
        .shadow
        .as_ref()
        .is_some_and(|s| s.backend == "hash" && s.cosine.is_some())));
    // It refuses to append to an existing log.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_hash-embedder"))
        .arg("--log")
        .arg(&log)
        .output()
        .unwrap();
    assert!(!again.status.success());
}
