//! Property tests of every reader of a file titlesim does not control: the pairs readers (CSV
//! and JSON lines), the text reader, the shadow log reader, the GT store reader and the
//! configuration. Arbitrary bytes never panic (an error or a result, nothing else), and what
//! titlesim writes reads back as it was written.

use std::io::Cursor;
use std::path::Path;

use proptest::prelude::*;
use titlesim::io::{read_pairs_from, PairFormat, TextFormat, TextReader};
use titlesim::store::{GtStore, StoreHeader, StoreWriter};
use titlesim::{Config, Pair, ShadowRecord, SideRecord};
use titlesim_log::{read_log, write_lines, SCHEMA_VERSION};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    }
}

/// Bytes that look a little like the inputs: mostly printable, with quotes, commas, braces,
/// line ends, NULs, invalid UTF-8 and a byte-order mark mixed in.
fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..8),
        4 => "[a-z0-9 ]{0,8}".prop_map(String::into_bytes),
        2 => Just(b"id,product,gt\n".to_vec()),
        2 => Just(b"{\"id\":1,\"product\":\"a\",\"gt\":\"b\"}\n".to_vec()),
        1 => Just(b"\"".to_vec()),
        1 => Just(b",".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(vec![0]),
        1 => Just("\u{feff}".as_bytes().to_vec()),
        1 => Just(vec![0xff, 0xfe]),
    ];
    proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// A title: any text without NUL (which the readers refuse), including quotes, commas,
/// line ends, emoji and leading or trailing spaces.
fn title() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,40}"
}

fn pairs() -> impl Strategy<Value = Vec<Pair>> {
    proptest::collection::vec(
        (
            title(),
            title(),
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of(0u8..2),
        ),
        1..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (product, gt, phase, label))| Pair {
                id: format!("id-{i}"),
                phase,
                product,
                gt,
                label,
            })
            .collect()
    })
}

fn csv_bytes(pairs: &[Pair]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "product", "gt", "phase", "label"])
        .unwrap();
    for p in pairs {
        let label = p.label.map(|l| l.to_string()).unwrap_or_default();
        w.write_record([
            p.id.as_str(),
            &p.product,
            &p.gt,
            p.phase.as_deref().unwrap_or(""),
            &label,
        ])
        .unwrap();
    }
    w.into_inner().unwrap()
}

fn jsonl_bytes(pairs: &[Pair]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pairs {
        serde_json::to_writer(&mut out, p).unwrap();
        out.push(b'\n');
    }
    out
}

fn record(id: usize, product: String, gt: String, cosine: f32) -> ShadowRecord {
    ShadowRecord {
        schema: SCHEMA_VERSION,
        ts: "2026-12-04T10:00:00.000Z".into(),
        pair_id: format!("p{id}"),
        phase: None,
        product,
        gt,
        label: None,
        canonical: SideRecord {
            model: "m".into(),
            backend: "candle".into(),
            fingerprint: "ts1-m".into(),
            threshold: 0.7,
            cosine: Some(cosine),
            pass: Some(cosine >= 0.7),
            encode_ms: 1.5,
            error: None,
        },
        shadow: None,
        replayed_at: None,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pair_readers_never_panic(data in hostile_bytes()) {
        for format in [PairFormat::Csv, PairFormat::Jsonl] {
            if let Ok(file) = read_pairs_from(Cursor::new(data.clone()), Path::new("x"), format) {
                // Whatever is accepted is whole: ids unique, non-empty, no NUL anywhere.
                let mut ids: Vec<&str> = file.iter().map(|p| p.id.as_str()).collect();
                prop_assert!(ids.iter().all(|i| !i.is_empty()));
                ids.sort_unstable();
                ids.dedup();
                prop_assert_eq!(ids.len(), file.len());
                prop_assert!(file.iter().all(|p| !p.product.contains('\0') && !p.gt.contains('\0')));
            }
        }
    }

    #[test]
    fn text_readers_never_panic(data in hostile_bytes()) {
        for format in [TextFormat::Lines, TextFormat::Jsonl] {
            let texts: Vec<_> =
                TextReader::from_reader(Cursor::new(data.clone()), "x", format).collect();
            // After an error the reader ends: at most one error, and it is the last item.
            let errors = texts.iter().filter(|t| t.is_err()).count();
            prop_assert!(errors <= 1);
            if errors == 1 {
                prop_assert!(texts.last().unwrap().is_err());
            }
        }
    }

    #[test]
    fn pairs_written_as_csv_or_jsonl_read_back_unchanged(pairs in pairs()) {
        for (format, bytes) in [
            (PairFormat::Csv, csv_bytes(&pairs)),
            (PairFormat::Jsonl, jsonl_bytes(&pairs)),
        ] {
            let got = read_pairs_from(Cursor::new(bytes), Path::new("x"), format)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&got.into_pairs(), &pairs, "{:?}", format);
        }
    }

    #[test]
    fn log_reader_never_panics_and_reads_back_what_was_written(
        data in hostile_bytes(),
        titles in proptest::collection::vec((title(), title(), -1.0f32..1.0), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, &data).unwrap();
        let _ = read_log(&path);

        let records: Vec<ShadowRecord> = titles
            .into_iter()
            .enumerate()
            .map(|(i, (p, g, c))| record(i, p, g, c))
            .collect();
        let mut buf = Vec::new();
        write_lines(&mut buf, &records);
        std::fs::write(&path, &buf).unwrap();
        let log = read_log(&path).unwrap();
        prop_assert!(log.skipped.is_empty());
        prop_assert_eq!(log.records, records);
    }

    #[test]
    fn store_reader_never_panics_and_reads_back_what_was_written(
        data in hostile_bytes(),
        rows in proptest::collection::vec((title(), proptest::collection::vec(-1e3f32..1e3, 3)), 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gt.store");
        std::fs::write(&path, &data).unwrap();
        let _ = GtStore::open(&path);

        let path = dir.path().join("new.store");
        let mut w = StoreWriter::create(&path, StoreHeader::new("ts1-x", 3, "m", "candle", None)).unwrap();
        let mut want = std::collections::HashMap::new();
        for (t, v) in &rows {
            // Vectors the store refuses (all zero) are refused at writing, not stored.
            if v.iter().all(|x| *x == 0.0) {
                prop_assert!(w.add(t, v).is_err());
                continue;
            }
            if want.contains_key(t) {
                continue;
            }
            w.add(t, v).unwrap();
            want.insert(t.clone(), v.clone());
        }
        w.finish().unwrap();
        let store = GtStore::open(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(store.len(), want.len());
        for (t, v) in &want {
            prop_assert_eq!(store.get(t), Some(v.as_slice()));
        }
    }

    #[test]
    fn config_reader_never_panics(text in "[\\[\\]a-z_=\"0-9. \n]{0,200}") {
        let _ = Config::parse(&text, None);
    }

    #[test]
    fn a_configuration_written_as_toml_reads_back_unchanged(
        model in "[a-z][a-z0-9_/.-]{0,30}",
        backend in 0usize..3,
        threshold in -1.0f32..=1.0,
        threads in proptest::option::of(1usize..64),
        batch_size in proptest::option::of(1usize..512),
        blank_score in any::<bool>(),
        shadow in any::<bool>(),
        sample_rate in 0.0f64..=1.0,
        timeout_ms in 1u64..100_000,
        max_queue in 1usize..10_000,
    ) {
        let backend = ["candle", "ort", "tract"][backend];
        let mut text = format!(
            "[canonical]\nmodel = {model:?}\nbackend = {backend:?}\nthreshold = {threshold:?}\n"
        );
        if let Some(t) = threads {
            text += &format!("threads = {t}\n");
        }
        if let Some(b) = batch_size {
            text += &format!("batch_size = {b}\n");
        }
        if blank_score {
            text += "blank_titles = \"score\"\n";
        }
        if shadow {
            text += &format!("[shadow]\nmodel = \"{model}-2\"\nthreshold = {threshold:?}\n");
        }
        text += &format!(
            "[shadow_options]\nsample_rate = {sample_rate:?}\ntimeout_ms = {timeout_ms}\n[serve]\nmax_queue = {max_queue}\n"
        );
        let config = Config::parse(&text, None).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let written = toml::to_string(&config).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = Config::parse(&written, None)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
        prop_assert_eq!(again, config);
    }
}
