//! Precomputed GT embeddings: the GT skip really skips, stores of other models are refused
//! (or recomputed), bad vectors are rejected.

use std::path::Path;
use std::sync::Arc;

use titlesim_core::config::{ModelConfig, StoreMismatch};
use titlesim_core::{
    BackendKind, CosineScorer, Error, Pair, PairScore, Score, Scorer, SidePrompts,
};
use titlesim_store::store::row_checksum;
use titlesim_store::{attach, precompute, GtStore, StoreHeader, StoreWriter};
use titlesim_test_support::{pairs, scorer, Fake, Mode};

/// The verdicts with their pair ids (not where the GT vector came from).
fn verdicts(v: &[PairScore]) -> Vec<(String, Score)> {
    v.iter().map(|p| (p.id.clone(), p.score)).collect()
}

fn gts(p: &[Pair]) -> Vec<String> {
    p.iter().map(|p| p.gt.clone()).collect()
}

fn config_with_store(path: &Path, policy: StoreMismatch) -> ModelConfig {
    let mut c = ModelConfig::new("fake", BackendKind::Candle, 0.8);
    c.gt_store = Some(path.to_path_buf());
    c.gt_store_mismatch = policy;
    c
}

#[tokio::test]
async fn gt_skip_encodes_only_the_product_titles() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("gt.store");
    let all = pairs(120);
    let builder = Fake::new("m", 16, Mode::Good);
    let r = precompute(
        &scorer(&builder, 0.8),
        &gts(&all),
        &path,
        StoreMismatch::Refuse,
        7,
        |_| {},
    )
    .await
    .unwrap();
    let unique_gts: std::collections::HashSet<&str> = all.iter().map(|p| p.gt.as_str()).collect();
    assert_eq!(r.added, unique_gts.len());
    assert_eq!(r.existing, 0);
    assert_eq!(
        builder.texts().len(),
        unique_gts.len(),
        "each title encoded once"
    );

    // Scoring with the store: the embedder sees the product titles and nothing else.
    let counting = Fake::new("m", 16, Mode::Good);
    let (side, warning) = attach(
        scorer(&counting, 0.8),
        &config_with_store(&path, StoreMismatch::Refuse),
    )
    .unwrap();
    assert!(warning.is_none(), "{warning:?}");
    assert!(side.gt_vectors().is_some());
    assert_eq!(GtStore::open(&path).unwrap().len(), unique_gts.len());
    // The same store said to be made on another backend: used, with a warning.
    let other = d.path().join("other.store");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &other,
        text.replacen("\"backend\":\"fake\"", "\"backend\":\"tract\"", 1),
    )
    .unwrap();
    let (elsewhere, note) = attach(
        scorer(&Fake::new("m", 16, Mode::Good), 0.8),
        &config_with_store(&other, StoreMismatch::Refuse),
    )
    .unwrap();
    assert!(elsewhere.gt_vectors().is_some());
    let note = note.expect("a warning");
    assert!(
        note.contains("made on the tract backend and this model runs on fake"),
        "{note}"
    );
    let got = side.score_batch(&all).await.unwrap();
    let seen = counting.texts();
    let unique_products: std::collections::HashSet<&str> =
        all.iter().map(|p| p.product.as_str()).collect();
    assert_eq!(seen.len(), unique_products.len(), "{seen:?}");
    for t in &seen {
        assert!(
            unique_products.contains(t.as_str()),
            "encoded a GT title: {t}"
        );
    }
    // ... with exactly the verdicts of encoding both sides.
    let want = scorer(&Fake::new("m", 16, Mode::Good), 0.8)
        .score_batch(&all)
        .await
        .unwrap();
    assert_eq!(verdicts(&got), verdicts(&want));
    assert!(got.iter().all(|p| p.gt_from_store));

    // A GT title missing from the store is encoded, alone.
    let mut extra = all[..3].to_vec();
    extra[1].gt = "A reference title nobody precomputed".into();
    let before = counting.texts().len();
    let got = side.score_batch(&extra).await.unwrap();
    let new: Vec<String> = counting.texts()[before..].to_vec();
    assert!(new.contains(&extra[1].gt));
    assert!(!new.contains(&extra[0].gt) && !new.contains(&extra[2].gt));
    let want = scorer(&Fake::new("m", 16, Mode::Good), 0.8)
        .score_batch(&extra)
        .await
        .unwrap();
    assert_eq!(verdicts(&got), verdicts(&want));
    assert_eq!(
        got.iter().map(|p| p.gt_from_store).collect::<Vec<_>>(),
        [true, false, true]
    );

    // A second precompute run adds only what is new.
    let more: Vec<String> = gts(&all)
        .into_iter()
        .chain(["Brand new GT".to_string()])
        .collect();
    let again = Fake::new("m", 16, Mode::Good);
    let r = precompute(
        &scorer(&again, 0.8),
        &more,
        &path,
        StoreMismatch::Refuse,
        7,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((r.existing, r.added), (unique_gts.len(), 1));
    assert_eq!(again.texts(), vec!["Brand new GT".to_string()]);
    assert_eq!(GtStore::open(&path).unwrap().len(), unique_gts.len() + 1);
}

/// A store of this model made on another backend: precompute never mixes the two backends'
/// vectors in one store. Holding every title, it is left as it is with a note; with titles to
/// add it is refused (untouched), and rebuilt on this backend under `recompute`.
#[tokio::test]
async fn precompute_never_mixes_two_backends_in_one_store() {
    let d = tempfile::tempdir().unwrap();
    let made = d.path().join("made.store");
    let all = pairs(40);
    let first = &all[..20];
    let unique_first: std::collections::HashSet<&str> =
        first.iter().map(|p| p.gt.as_str()).collect();
    precompute(
        &scorer(&Fake::new("m", 16, Mode::Good), 0.8),
        &gts(first),
        &made,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    // The same store, its header saying tract made it (the vectors are the fake backend's).
    let path = d.path().join("tract.store");
    let text = std::fs::read_to_string(&made).unwrap();
    let tract = text.replacen("\"backend\":\"fake\"", "\"backend\":\"tract\"", 1);
    assert_ne!(tract, text);
    std::fs::write(&path, &tract).unwrap();

    // Every title already there: nothing encoded, the store unchanged, a note.
    let encoder = Fake::new("m", 16, Mode::Good);
    let r = precompute(
        &scorer(&encoder, 0.8),
        &gts(first),
        &path,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (r.existing, r.added, r.replaced),
        (unique_first.len(), 0, false)
    );
    assert!(encoder.texts().is_empty(), "{:?}", encoder.texts());
    let note = r.note.expect("a note");
    assert!(
        note.contains("vectors of the tract backend") && note.contains("runs on fake"),
        "{note}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), tract);

    // Titles to add: refused, naming both backends, the store untouched.
    let e = precompute(
        &scorer(&encoder, 0.8),
        &gts(&all),
        &path,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap_err();
    match &e {
        Error::StoreBackend {
            path: p,
            store_backend,
            backend,
        } => assert_eq!(
            (p, store_backend.as_str(), backend.as_str()),
            (&path, "tract", "fake")
        ),
        e => panic!("{e}"),
    }
    assert!(e.to_string().contains("recompute"), "{e}");
    assert!(
        encoder.texts().is_empty(),
        "nothing encoded before the refusal"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), tract);

    // Under recompute: rebuilt on this backend, every title encoded by it.
    let r = precompute(
        &scorer(&encoder, 0.8),
        &gts(&all),
        &path,
        StoreMismatch::Recompute,
        8,
        |_| {},
    )
    .await
    .unwrap();
    assert!(r.replaced && r.note.is_none(), "{r:?}");
    assert_eq!(r.existing, 0);
    let s = GtStore::open(&path).unwrap();
    assert_eq!(s.header().backend, "fake");
    let unique: std::collections::HashSet<&str> = all.iter().map(|p| p.gt.as_str()).collect();
    assert!(unique.len() > unique_first.len());
    assert_eq!(s.len(), unique.len());
}

#[tokio::test]
async fn gt_skip_with_a_prompt_only_on_the_product_side() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("gt.store");
    let all = pairs(30);
    let prompts = SidePrompts {
        product: Some("query: ".into()),
        gt: None,
    };
    let mk = |e: &Arc<Fake>| CosineScorer::with_prompts(e.clone(), 0.8, prompts.clone());
    precompute(
        &mk(&Fake::new("m", 16, Mode::Good)),
        &gts(&all),
        &path,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    let counting = Fake::new("m", 16, Mode::Good);
    let side = mk(&counting)
        .with_gt_vectors(Arc::new(GtStore::open(&path).unwrap()))
        .unwrap();
    let got = side.score_batch(&all).await.unwrap();
    assert!(counting.texts().iter().all(|t| t.starts_with("query: ")));
    let want = mk(&Fake::new("m", 16, Mode::Good))
        .score_batch(&all)
        .await
        .unwrap();
    assert_eq!(verdicts(&got), verdicts(&want));
    assert!(got.iter().all(|p| p.gt_from_store));
    // The same model with a GT-side prompt makes other vectors: the store is refused.
    let gt_prompted = CosineScorer::with_prompts(
        Fake::new("m", 16, Mode::Good),
        0.8,
        SidePrompts {
            product: None,
            gt: Some("passage: ".into()),
        },
    );
    let e = gt_prompted
        .with_gt_vectors(Arc::new(GtStore::open(&path).unwrap()))
        .unwrap_err();
    assert!(matches!(e, Error::StoreMismatch { .. }), "{e}");
}

/// Writes a store by hand (so tests can put anything in it).
fn write_store(path: &Path, header: &StoreHeader, rows: &[String]) {
    let mut text = serde_json::to_string(header).unwrap();
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

fn row(t: &str, v: &[f32]) -> String {
    let vals: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!(
        r#"{{"t":{},"v":[{}],"c":"{}"}}"#,
        serde_json::to_string(t).unwrap(),
        vals.join(","),
        row_checksum(t, v)
    )
}

#[tokio::test]
async fn a_store_of_another_model_is_refused_or_recomputed() {
    let d = tempfile::tempdir().unwrap();
    let all = pairs(20);
    // A 1024-d store (a Qwen3-sized model) against a 16-d model.
    let big = d.path().join("qwen.store");
    let qwen = Fake::new("qwen3", 1024, Mode::Good);
    precompute(
        &scorer(&qwen, 0.7),
        &gts(&all),
        &big,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    let small = Fake::new("bge", 16, Mode::Good);
    let e = attach(
        scorer(&small, 0.8),
        &config_with_store(&big, StoreMismatch::Refuse),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            Error::StoreMismatch {
                expected_dim: 16,
                found_dim: 1024,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("1024-d") && msg.contains("16-d"), "{msg}");
    assert!(
        msg.contains("ts1-fake-qwen3-1024") && msg.contains("ts1-fake-bge-16"),
        "{msg}"
    );
    assert!(
        msg.contains("qwen.store") && msg.contains("recompute"),
        "{msg}"
    );
    // Same dimension, another model: refused as well (a cosine would be computable and wrong).
    let other = d.path().join("other.store");
    precompute(
        &scorer(&Fake::new("other", 16, Mode::Good), 0.8),
        &gts(&all),
        &other,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    let e = scorer(&small, 0.8)
        .with_gt_vectors(Arc::new(GtStore::open(&other).unwrap()))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::StoreMismatch {
                expected_dim: 16,
                found_dim: 16,
                ..
            }
        ),
        "{e}"
    );
    // A missing store is an error too.
    let e = attach(
        scorer(&small, 0.8),
        &config_with_store(&d.path().join("none.store"), StoreMismatch::Refuse),
    )
    .unwrap_err();
    assert!(e.to_string().contains("titlesim precompute"), "{e}");

    // Recompute: the store is ignored (with a warning) and GT titles are encoded.
    let counting = Fake::new("bge", 16, Mode::Good);
    let (side, warning) = attach(
        scorer(&counting, 0.8),
        &config_with_store(&big, StoreMismatch::Recompute),
    )
    .unwrap();
    assert!(side.gt_vectors().is_none());
    assert!(warning.unwrap().contains("ignoring"));
    let got = side.score_batch(&all).await.unwrap();
    assert!(counting.texts().contains(&all[0].gt));
    assert_eq!(
        verdicts(&got),
        verdicts(&scorer(&small, 0.8).score_batch(&all).await.unwrap())
    );
    assert!(got.iter().all(|p| !p.gt_from_store));

    // precompute refuses to add to another model's store, and replaces it when told to.
    let e = precompute(
        &scorer(&small, 0.8),
        &gts(&all),
        &big,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::StoreMismatch { .. }), "{e}");
    assert_eq!(
        GtStore::open(&big).unwrap().header().dim,
        1024,
        "left untouched"
    );
    let r = precompute(
        &scorer(&small, 0.8),
        &gts(&all),
        &big,
        StoreMismatch::Recompute,
        8,
        |_| {},
    )
    .await
    .unwrap();
    assert!(r.replaced);
    let s = GtStore::open(&big).unwrap();
    assert_eq!(
        (s.header().dim, s.header().fingerprint.as_str()),
        (16, "ts1-fake-bge-16")
    );
    assert!(scorer(&small, 0.8).with_gt_vectors(Arc::new(s)).is_ok());

    // A file that is not a store (a pairs file named as the store by mistake) is never
    // replaced, recompute or not: recompute replaced it, calling it a store of another model.
    let pairs = big.with_file_name("pairs.csv");
    std::fs::write(&pairs, "id,product,gt\n1,a,b\n").unwrap();
    for policy in [StoreMismatch::Refuse, StoreMismatch::Recompute] {
        let e = precompute(&scorer(&small, 0.8), &gts(&all), &pairs, policy, 8, |_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("does not overwrite a file that is not a GT store"),
            "{e}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&pairs).unwrap(),
        "id,product,gt\n1,a,b\n"
    );

    // An empty file where the store goes (a first run cut off before its header was on disk)
    // is no store to keep: precompute fills it, where it refused it as "not a GT store".
    let empty = big.with_file_name("empty.gtstore");
    std::fs::write(&empty, "").unwrap();
    // A run onto it interrupted after one row continues from where it stopped.
    let made = GtStore::open(&big).unwrap();
    let (title, v) = made.titles()[0];
    let (mut w, had) = StoreWriter::replace(&empty, made.header().clone()).unwrap();
    assert!(had.is_none());
    w.add(title, v).unwrap();
    w.flush().unwrap();
    drop(w);
    let r = precompute(
        &scorer(&small, 0.8),
        &gts(&all),
        &empty,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    assert!(r.added > 0, "{r:?}");
    assert_eq!(
        r.existing, 1,
        "the interrupted run's row is kept, not encoded again"
    );
    assert_eq!(GtStore::open(&empty).unwrap().len(), r.existing + r.added);
}

#[test]
fn bad_vectors_are_rejected_with_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.store");
    let h = StoreHeader::new("ts1-x", 3, "m", "fake", None);
    let good = row("a", &[0.1, -0.2, 0.3]);
    let cases: Vec<(String, &str)> = vec![
        // NaN and inf literals are not JSON; 1e39 is, and overflows f32 to infinity.
        (row("b", &[f32::NAN, 0.0, 1.0]), "invalid row"),
        (row("b", &[f32::INFINITY, 0.0, 1.0]), "invalid row"),
        (row("b", &[1.0, 2.0]), "2 values, expected 3"),
        (row("b", &[1.0, 2.0, 3.0, 4.0]), "4 values, expected 3"),
        (
            r#"{"t":"b","v":[1.0,null,2.0],"c":"00000000"}"#.into(),
            "not a number",
        ),
        (
            r#"{"t":"b","v":[1e39,0.0,2.0],"c":"00000000"}"#.into(),
            "non-finite",
        ),
        (row("b", &[1.0, 2.0, 3.0]).replace("2.0", "2.5"), "checksum"),
        (row("a", &[0.1, -0.2, 0.4]), "already stored on line 2"),
        ("not json".into(), "invalid row"),
        // A valid checksum, but no cosine can come of it.
        (row("b", &[0.0, 0.0, 0.0]), "all-zero vector"),
    ];
    for (bad, want) in cases {
        write_store(&p, &h, &[good.clone(), bad.clone()]);
        let e = GtStore::open(&p).unwrap_err().to_string();
        assert!(e.contains(want) && e.contains("s.store:3"), "{bad}: {e}");
    }
    // The same title twice with the same vector is fine.
    write_store(&p, &h, &[good.clone(), good.clone()]);
    assert_eq!(GtStore::open(&p).unwrap().len(), 1);
    // Headers: not a store, another version, empty file.
    std::fs::write(&p, "{\"hello\":1}\n").unwrap();
    assert!(GtStore::open(&p)
        .unwrap_err()
        .to_string()
        .contains("not a GT store header"));
    let mut v3 = h.clone();
    v3.version = 3;
    write_store(&p, &v3, &[]);
    assert!(GtStore::open(&p)
        .unwrap_err()
        .to_string()
        .contains("store format version 3 (this build reads 1 to 2)"));
    std::fs::write(&p, "").unwrap();
    assert!(GtStore::open(&p)
        .unwrap_err()
        .to_string()
        .contains("no complete header"));

    // The writer refuses them too.
    let mut w = StoreWriter::create(&d.path().join("w.store"), h.clone()).unwrap();
    for v in [vec![f32::NAN, 0.0, 0.0], vec![0.0, f32::NEG_INFINITY, 0.0]] {
        let e = w.add("x", &v).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }
    let e = w.add("x", &[1.0; 1024]).unwrap_err().to_string();
    assert!(e.contains("expected 3, got 1024"), "{e}");
    let e = w.add("x", &[0.0; 3]).unwrap_err().to_string();
    assert!(
        e.contains("cannot store the vector of `x`: all-zero"),
        "{e}"
    );
    w.add("ok", &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!(w.finish().unwrap(), 1);
}

#[test]
fn values_round_trip_bit_for_bit_and_a_torn_tail_is_skipped_then_cut() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.store");
    let h = StoreHeader::new("ts1-x", 4, "m", "fake", None);
    let tricky = [
        [0.1f32, f32::MIN_POSITIVE, f32::MAX, -1.0e-45],
        [1.0 / 3.0, -0.0, 16_777_217.0, 3.4e-38],
    ];
    let mut w = StoreWriter::create(&p, h).unwrap();
    w.add("t1", &tricky[0]).unwrap();
    w.add("t\"2\"\nwith newline", &tricky[1]).unwrap();
    w.finish().unwrap();
    // A crash in the middle of the next row.
    let torn = row("t3", &[1.0, 2.0, 3.0, 4.0]);
    let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    std::io::Write::write_all(&mut f, &torn.as_bytes()[..20]).unwrap();
    drop(f);
    let s = GtStore::open(&p).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s.torn_tail(), Some(4));
    for (t, v) in [("t1", &tricky[0]), ("t\"2\"\nwith newline", &tricky[1])] {
        let got = s.get(t).unwrap();
        assert!(
            got.iter()
                .zip(v.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{t}: {got:?}"
        );
    }
    // Appending cuts the torn line off first, so the new row is whole.
    let (mut w, had) = StoreWriter::append(&p, "ts1-x", 4).unwrap();
    assert_eq!(had.len(), 2);
    w.add("t3", &[1.0, 2.0, 3.0, 4.0]).unwrap();
    w.finish().unwrap();
    let s = GtStore::open(&p).unwrap();
    assert_eq!((s.len(), s.torn_tail()), (3, None));
    // Appending with another fingerprint or dimension is refused.
    assert!(matches!(
        StoreWriter::append(&p, "ts1-y", 4),
        Err(Error::StoreMismatch { .. })
    ));
    assert!(matches!(
        StoreWriter::append(&p, "ts1-x", 5),
        Err(Error::StoreMismatch { .. })
    ));
}

#[test]
fn a_second_writer_of_a_store_is_refused_while_the_first_holds_it() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.store");
    let h = StoreHeader::new("ts1-x", 3, "m", "fake", None);
    let mut first = StoreWriter::create(&p, h.clone()).unwrap();
    first.add("a", &[1.0, 2.0, 3.0]).unwrap();
    first.flush().unwrap();
    // Neither appending to it nor replacing it while the first writer has it open.
    let e = StoreWriter::append(&p, "ts1-x", 3).unwrap_err();
    assert!(
        matches!(&e, Error::Locked { path, .. } if *path == p),
        "{e}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with(&format!(
            "{}: another titlesim process is writing this GT store",
            p.display()
        )),
        "{e}"
    );
    assert_eq!(first.finish().unwrap(), 1);
    // Once it is done, the store can be appended to; a replacement is written aside and locked.
    let (mut w, store) = StoreWriter::append(&p, "ts1-x", 3).unwrap();
    assert_eq!(store.len(), 1);
    w.add("b", &[3.0, 2.0, 1.0]).unwrap();
    // No replacement while it is being appended to: the rename would drop the new rows.
    let e = StoreWriter::create(&p, h.clone()).unwrap_err().to_string();
    assert!(e.contains("another titlesim process"), "{e}");
    assert_eq!(w.finish().unwrap(), 1);
    let replacing = StoreWriter::create(&p, h.clone()).unwrap();
    let e = StoreWriter::create(&p, h.clone()).unwrap_err().to_string();
    assert!(e.contains("another titlesim process"), "{e}");
    // Nor an append while it is being replaced.
    let e = StoreWriter::append(&p, "ts1-x", 3).unwrap_err().to_string();
    assert!(e.contains("another titlesim process"), "{e}");
    drop(replacing);
    assert_eq!(GtStore::open(&p).unwrap().len(), 2, "the old store stands");
    // A finished replacement takes the store's place, and the lock goes with the writer.
    let mut replacing = StoreWriter::create(&p, h).unwrap();
    replacing.add("c", &[0.0, 0.0, 1.0]).unwrap();
    assert_eq!(replacing.finish().unwrap(), 1);
    let (w, store) = StoreWriter::append(&p, "ts1-x", 3).unwrap();
    assert_eq!(store.len(), 1);
    assert!(store.get("c").is_some());
    drop(w);
}

/// A replacement (a store of another model, `gt_store_mismatch = "recompute"`) that was
/// interrupted continues from its `.partial` file: a second run started it again from zero, so
/// a large recompute interrupted often never finished. A partial of yet another model starts
/// afresh.
#[test]
fn an_interrupted_replacement_continues_where_it_stopped() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("s.store");
    let partial = d.path().join("s.store.partial");
    let old = StoreHeader::new("ts1-old", 3, "m", "fake", None);
    let mut w = StoreWriter::create(&p, old).unwrap();
    w.add("o", &[1.0, 0.0, 0.0]).unwrap();
    w.finish().unwrap();

    let new = StoreHeader::new("ts1-new", 3, "m2", "fake", None);
    let (mut w, had) = StoreWriter::replace(&p, new.clone()).unwrap();
    assert!(had.is_none());
    w.add("a", &[0.0, 1.0, 0.0]).unwrap();
    w.flush().unwrap();
    drop(w); // interrupted: never finished
             // A torn row, as a kill mid-write leaves.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&partial)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"t\":\"b\",\"v\":[0.0,").unwrap();
    drop(f);
    assert_eq!(GtStore::open(&p).unwrap().header().fingerprint, "ts1-old");

    let (mut w, had) = StoreWriter::replace(&p, new.clone()).unwrap();
    let had = had.expect("the partial replacement continues");
    assert_eq!(had.len(), 1);
    assert!(had.get("a").is_some());
    w.add("b", &[0.0, 0.0, 1.0]).unwrap();
    assert_eq!(w.finish().unwrap(), 1);
    let s = GtStore::open(&p).unwrap();
    assert_eq!(s.header().fingerprint, "ts1-new");
    assert_eq!((s.len(), s.torn_tail()), (2, None));
    assert!(!partial.exists());

    // A partial made on another backend, or one that cannot be read, is started again.
    for (n, damage) in ["backend", "row"].iter().enumerate() {
        let (mut w, _) = StoreWriter::replace(&p, new.clone()).unwrap();
        w.add("c", &[1.0, 0.0, 1.0]).unwrap();
        w.flush().unwrap();
        drop(w);
        let text = std::fs::read_to_string(&partial).unwrap();
        let text = if *damage == "backend" {
            text.replace("\"backend\":\"fake\"", "\"backend\":\"tract\"")
        } else {
            text.replace("\"t\":\"c\"", "\"t\":\"c\",\"t\":\"d\"")
        };
        std::fs::write(&partial, text).unwrap();
        let (w, had) = StoreWriter::replace(&p, new.clone()).unwrap();
        assert!(had.is_none(), "case {n}: {damage}");
        drop(w);
    }

    // A partial of another model than the new one is not continued.
    let other = StoreHeader::new("ts1-other", 3, "m3", "fake", None);
    let (mut w, _) = StoreWriter::replace(&p, other.clone()).unwrap();
    w.add("x", &[1.0, 1.0, 0.0]).unwrap();
    w.flush().unwrap();
    drop(w);
    let third = StoreHeader::new("ts1-third", 3, "m4", "fake", None);
    let (w, had) = StoreWriter::replace(&p, third).unwrap();
    assert!(had.is_none());
    assert_eq!(w.finish().unwrap(), 0);
    assert_eq!(GtStore::open(&p).unwrap().len(), 0);
}

/// A format 1 store (written before titlesim stripped texts as sentence-transformers does):
/// read, but the rows whose text has white space at either end hold the unstripped text's
/// vector, so they are left out with a warning; precompute rewrites it as format 2, keeping
/// the other rows' vectors bit for bit and encoding only the left-out titles again.
#[tokio::test]
async fn a_format_1_store_is_read_without_its_unstripped_rows_and_rewritten() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("old.store");
    let fake = Fake::new("m", 16, Mode::Good);
    let s = scorer(&fake, 0.8);
    let mut header = StoreHeader::new(s.gt_fingerprint(), 16, "m", "fake", None);
    header.version = 1;
    let kept = vec![0.6f32; 16];
    let stale = vec![0.25f32; 16];
    write_store(
        &path,
        &header,
        &[row("a", &kept), row(" b", &stale), row("c\n", &stale)],
    );
    let store = GtStore::open(&path).unwrap();
    assert_eq!(store.len(), 1);
    assert_eq!(store.unstripped(), [3, 4]);
    assert_eq!(store.get("a"), Some(kept.as_slice()));
    assert!(store.get(" b").is_none());
    let (side, warning) = attach(
        scorer(&Fake::new("m", 16, Mode::Good), 0.8),
        &config_with_store(&path, StoreMismatch::Refuse),
    )
    .unwrap();
    assert!(side.gt_vectors().is_some());
    let w = warning.expect("a warning");
    assert!(
        w.contains("2 title(s) (first on line 3) have white space at either end")
            && w.contains("`titlesim precompute` rewrites the store"),
        "{w}"
    );

    let titles: Vec<String> = ["a", " b", "d"].map(String::from).to_vec();
    let encoder = Fake::new("m", 16, Mode::Good);
    let r = precompute(
        &scorer(&encoder, 0.8),
        &titles,
        &path,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((r.existing, r.added), (1, 2));
    assert_eq!(encoder.texts(), [" b", "d"]);
    let note = r.note.expect("a note");
    assert!(
        note.contains("was a format 1 store: rewritten as format 2") && note.contains("(2 title"),
        "{note}"
    );
    let new = GtStore::open(&path).unwrap();
    assert_eq!(new.header().version, 2);
    assert!(new.unstripped().is_empty());
    assert_eq!(new.get("a"), Some(kept.as_slice()), "kept bit for bit");
    assert_eq!(new.len(), 3, "c\\n, not listed, is left out");
    assert_ne!(new.get(" b"), Some(stale.as_slice()));

    // A format 1 store of another backend is not rewritten with its vectors relabelled as
    // this backend's: titles to add are refused, as for a format 2 store.
    let other = d.path().join("other.store");
    let mut h = header.clone();
    h.backend = "tract".into();
    write_store(&other, &h, &[row("a", &kept)]);
    let before = std::fs::read(&other).unwrap();
    let e = precompute(
        &scorer(&Fake::new("m", 16, Mode::Good), 0.8),
        &titles,
        &other,
        StoreMismatch::Refuse,
        8,
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::StoreBackend { .. }), "{e}");
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

/// A store is a regular file: a FIFO was waited on for a writer for ever (score and
/// precompute hung), a device read without end.
#[cfg(unix)]
#[test]
fn a_store_that_is_not_a_regular_file_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("gt.store");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (path, kind) in [
        (fifo.as_path(), "a FIFO"),
        (Path::new("/dev/zero"), "a character device"),
        (d.path(), "a folder"),
    ] {
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(GtStore::open(&p).map(|_| ()).unwrap_err().to_string());
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("waited on the store");
        assert!(
            e.contains(&format!(
                "{kind}, not a GT store: a store is a regular file"
            )),
            "{e}"
        );
    }
}
