//! `titlesim replay` and `titlesim sql` end to end on the tiny fixtures (candle): replayed
//! cosines bit-identical to a live `titlesim shadow` run of the same pairs, each distinct title
//! embedded once, `--where`, Parquet and shadow-log histories, `--resume`, the SQL functions,
//! and the errors a bad history gets.
#![cfg(all(feature = "candle", feature = "replay"))]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::*;
use titlesim::{read_log, ShadowRecord};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Case {
    dir: tempfile::TempDir,
    history: PathBuf,
    config: PathBuf,
    /// Distinct titles in the history.
    distinct: usize,
    pairs: usize,
}

/// Every ordered pair of the first eight distinct non-empty reference texts, with phases,
/// labels and times; tiny-bert-mean canonical, tiny-bert-cls the shadow.
fn case() -> Case {
    let mean = reference("tiny-bert-mean");
    let mut texts: Vec<String> = Vec::new();
    for t in &mean.texts {
        if !t.trim().is_empty() && !texts.contains(t) && texts.len() < 8 {
            texts.push(t.clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut csv = String::from("id,phase,product,gt,label,ts\n");
    let mut n = 0;
    for (a, ta) in texts.iter().enumerate() {
        for (b, tb) in texts.iter().enumerate() {
            if a == b {
                continue;
            }
            let phase = if (a + b) % 3 == 0 {
                "qualifying"
            } else {
                "race"
            };
            csv += &format!(
                "0{a}-{b},{phase},{},{},{},2026-0{}-1{}T10:00:00Z\n",
                q(ta),
                q(tb),
                (a + b) % 2,
                1 + a % 9,
                b
            );
            n += 1;
        }
    }
    let history = dir.path().join("history.csv");
    std::fs::write(&history, csv).unwrap();
    let config = dir.path().join("titlesim.toml");
    std::fs::write(
        &config,
        format!(
            "[canonical]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = 0.8\nthreads = 1\nbatch_size = 8\n\
             [shadow]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = 0.9\nthreads = 1\nbatch_size = 8\n",
            s(&fixture("tiny-bert-mean")),
            s(&fixture("tiny-bert-cls")),
        ),
    )
    .unwrap();
    Case {
        distinct: texts.len(),
        pairs: n,
        dir,
        history,
        config,
    }
}

impl Case {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `titlesim replay -c CONFIG -p HISTORY -o OUT --json EXTRA...`: the summary.
    fn replay(&self, history: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
        serde_json::from_str(&ok(&self.replay_output(history, out, extra))).unwrap()
    }

    /// `titlesim replay --json` of `history` into `out`, with `extra` flags: the whole run.
    fn replay_output(&self, history: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "replay",
            "-c",
            s(&self.config),
            "-p",
            s(history),
            "-o",
            s(out),
            "--json",
        ];
        args.extend_from_slice(extra);
        titlesim(&args, None)
    }
}

fn by_id(records: Vec<ShadowRecord>) -> HashMap<String, ShadowRecord> {
    records
        .into_iter()
        .map(|r| (r.pair_id.clone(), r))
        .collect()
}

fn cosines(r: &ShadowRecord) -> (f32, f32) {
    (
        r.canonical.cosine.unwrap(),
        r.shadow.as_ref().unwrap().cosine.unwrap(),
    )
}

#[test]
fn replay_gives_the_live_shadow_cosines_embedding_each_title_once() {
    let c = case();
    // The live run: `titlesim shadow` on the same pairs.
    let live_log = c.path("live.jsonl");
    ok(&titlesim(
        &[
            "shadow",
            "-c",
            s(&c.config),
            "-p",
            s(&c.history),
            "--log",
            s(&live_log),
            "-o",
            s(&c.path("verdicts.csv")),
        ],
        None,
    ));
    let live = by_id(read_log(&live_log).unwrap().records);
    assert_eq!(live.len(), c.pairs);

    let out = c.path("replay/r.jsonl");
    let summary = c.replay(&c.history, &out, &[]);
    let log = read_log(&out).unwrap();
    assert!(log.skipped.is_empty());
    assert_eq!(log.records.len(), c.pairs);
    for r in &log.records {
        let l = &live[&r.pair_id];
        // Bit-identical: the same vectors whatever batch a title lands in.
        assert_eq!(cosines(r), cosines(l), "pair {}", r.pair_id);
        assert_eq!(r.canonical.pass, l.canonical.pass);
        assert_eq!(r.canonical.fingerprint, l.canonical.fingerprint);
        assert_eq!((&r.phase, r.label), (&l.phase, l.label));
        assert_eq!((&r.product, &r.gt), (&l.product, &l.gt));
        assert!(r.replayed_at.is_some() && l.replayed_at.is_none());
    }
    // The original times, normalised to RFC 3339 with milliseconds; ids keep their zeros.
    let first = log.records.iter().find(|r| r.pair_id == "00-1").unwrap();
    assert_eq!(first.ts, "2026-01-11T10:00:00.000Z");
    // Each distinct title once per model, against two titles per pair per model.
    assert_eq!(summary["selected"], c.pairs);
    assert_eq!(summary["scored"], c.pairs);
    assert_eq!(summary["canonical_embedded"], c.distinct);
    assert_eq!(summary["shadow_embedded"], c.distinct);
    assert_eq!(summary["titles_in_pairs"], 4 * c.pairs);
    // calibrate reads it as it reads a live log.
    let cal = ok(&titlesim(&["calibrate", s(&out), "--json"], None));
    let cal: serde_json::Value = serde_json::from_str(&cal).unwrap();
    assert_eq!(cal["canonical_threshold"]["value"], 0.8, "{cal}");
    assert_eq!(
        cal["canonical_threshold"]["log_values"][0][1], c.pairs,
        "{cal}"
    );
}

#[test]
fn where_selects_rows_and_resume_finishes_a_partial_log() {
    let c = case();
    let out = c.path("r.jsonl");
    let part = c.replay(&c.history, &out, &["--where", "phase = 'race'"]);
    let races = read_log(&out).unwrap().records;
    assert!(!races.is_empty() && races.len() < c.pairs);
    assert!(races.iter().all(|r| r.phase.as_deref() == Some("race")));
    assert_eq!(part["selected"], races.len());

    // Without --resume an existing log is refused, and left as it was.
    let err = fails(&titlesim(
        &[
            "replay",
            "-c",
            s(&c.config),
            "-p",
            s(&c.history),
            "-o",
            s(&out),
        ],
        None,
    ));
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(read_log(&out).unwrap().records.len(), races.len());

    let rest = c.replay(&c.history, &out, &["--resume"]);
    assert_eq!(rest["resumed"], races.len());
    assert_eq!(rest["scored"], c.pairs - races.len());
    let all = read_log(&out).unwrap().records;
    assert_eq!(all.len(), c.pairs);
    assert_eq!(by_id(all).len(), c.pairs, "no pair twice");
}

/// Times in other UTC offsets: as text they compare wrongly, through `to_timestamp` (what the
/// README and `--help` say to write) as instants.
#[test]
fn where_compares_times_as_instants_through_to_timestamp() {
    let c = case();
    let h = c.path("offsets.csv");
    std::fs::write(
        &h,
        "id,product,gt,ts\n\
         late,red shoe,red shoes,2026-05-31T23:30:00-05:00\n\
         early,blue hat,blue cap,2026-06-01T01:00:00+05:00\n",
    )
    .unwrap();
    let ids = |pred: &str, out: &str| {
        let out = c.path(out);
        c.replay(&h, &out, &["--where", pred]);
        let mut ids: Vec<String> = read_log(&out)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.pair_id)
            .collect();
        ids.sort();
        ids
    };
    // 04:30 UTC on 1 June and 20:00 UTC on 31 May.
    assert_eq!(
        ids(
            "to_timestamp(ts) >= '2026-06-01T00:00:00Z'",
            "instant.jsonl"
        ),
        ["late"]
    );
    assert_eq!(ids("ts >= '2026-06-01'", "text.jsonl"), ["early"]);
}

#[test]
fn parquet_and_shadow_log_histories_replay_to_the_same_cosines() {
    let c = case();
    let base = c.path("base.jsonl");
    c.replay(&c.history, &base, &[]);
    let base = by_id(read_log(&base).unwrap().records);

    // The CSV as Parquet, through `titlesim sql`.
    let parquet = c.path("history.parquet");
    ok(&titlesim(
        &[
            "sql",
            "-t",
            &format!("h={}", s(&c.history)),
            "SELECT * FROM h",
            "-o",
            s(&parquet),
        ],
        None,
    ));
    let from_parquet = c.path("p.jsonl");
    c.replay(&parquet, &from_parquet, &[]);
    // And the replayed log itself as history: its titles are scored again.
    let from_log = c.path("l.jsonl");
    c.replay(&c.path("base.jsonl"), &from_log, &[]);
    for out in [&from_parquet, &from_log] {
        let got = read_log(out).unwrap().records;
        assert_eq!(got.len(), c.pairs, "{}", out.display());
        for r in &got {
            let b = &base[&r.pair_id];
            assert_eq!(
                cosines(r),
                cosines(b),
                "{} pair {}",
                out.display(),
                r.pair_id
            );
            assert_eq!((&r.ts, &r.phase, r.label), (&b.ts, &b.phase, b.label));
        }
    }

    // A shadow log that repeats a record (a resumed run wrote it twice): the repeat is
    // dropped and counted. One that repeats an id with another title is two pairs under one
    // id: refused, as calibrate refuses it (which of the two came first can depend on how the
    // files were split across partitions).
    let text = std::fs::read_to_string(c.path("base.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    let twice = c.path("twice.jsonl");
    std::fs::write(&twice, format!("{text}{first}\n")).unwrap();
    let summary = c.replay(&twice, &c.path("twice-out.jsonl"), &[]);
    assert_eq!(summary["repeated_records_dropped"], 1, "{summary}");
    let mut other: serde_json::Value = serde_json::from_str(first).unwrap();
    let id = other["pair_id"].as_str().unwrap().to_string();
    other["product"] = "another product altogether".into();
    let conflict = c.path("conflict.jsonl");
    std::fs::write(&conflict, format!("{text}{other}\n")).unwrap();
    let e = fails(&c.replay_output(&conflict, &c.path("conflict-out.jsonl"), &[]));
    assert!(
        e.contains(&format!(
            "pair id `{id}` is logged twice with other titles, phase or label"
        )) && e.contains("another product altogether"),
        "{e}"
    );

    // Integer and whole-decimal id columns (a warehouse's decimal(20,0) keys) read as score
    // reads them: `7`, not `7.0`, and every digit of a 20-digit id.
    let small = c.path("small.csv");
    std::fs::write(&small, "id,product,gt\n7,a,b\n12345678901234567890,c,d\n").unwrap();
    for (name, ty) in [("dec.parquet", "DECIMAL(20,0)"), ("int.parquet", "BIGINT")] {
        let p = c.path(name);
        let sql = format!("SELECT CAST(id AS {ty}) AS id, product, gt FROM s");
        let sql = if ty == "BIGINT" {
            sql.replace("FROM s", "FROM s WHERE id = '7'")
        } else {
            sql
        };
        ok(&titlesim(
            &["sql", "-t", &format!("s={}", s(&small)), &sql, "-o", s(&p)],
            None,
        ));
        let out = c.path(&format!("{name}.jsonl"));
        c.replay(&p, &out, &[]);
        let ids: Vec<String> = read_log(&out)
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.pair_id)
            .collect();
        let want: &[&str] = if ty == "BIGINT" {
            &["7"]
        } else {
            &["7", "12345678901234567890"]
        };
        assert_eq!(ids, want, "{name}");
    }
}

#[test]
fn sql_functions_give_the_replayed_cosines() {
    let c = case();
    let out = c.path("r.jsonl");
    c.replay(&c.history, &out, &[]);
    let replayed = by_id(read_log(&out).unwrap().records);
    let rows = ok(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "-t",
            &format!("h={}", s(&c.history)),
            "-f",
            "jsonl",
            "SELECT id, title_cosine(product, gt) AS c, title_cosine(product, gt, 'shadow') AS s, \
             title_embedding(gt) AS e FROM h",
        ],
        None,
    ));
    let mut n = 0;
    for line in rows.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let r = &replayed[v["id"].as_str().unwrap()];
        let (want_c, want_s) = cosines(r);
        assert_eq!(v["c"].as_f64().unwrap() as f32, want_c);
        assert_eq!(v["s"].as_f64().unwrap() as f32, want_s);
        assert_eq!(
            v["e"].as_array().unwrap().len(),
            32,
            "tiny-bert's dimension"
        );
        n += 1;
    }
    assert_eq!(n, c.pairs);

    // A scoring function without --config, and an unknown model, are clear errors.
    let err = fails(&titlesim(&["sql", "SELECT title_cosine('a', 'b')"], None));
    assert!(err.contains("--config"), "{err}");
    let err = fails(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "SELECT title_cosine('a', 'b', 'other')",
        ],
        None,
    ));
    assert!(err.contains("'canonical' or 'shadow'"), "{err}");
}

#[test]
fn a_bad_history_is_an_error_naming_what_is_wrong() {
    let c = case();
    let cases: [(&str, &str, &[&str], &str); 12] = [
        // ids inferred as floats were logged as `3.0` where score and shadow log `3`
        (
            "float_ids.jsonl",
            "{\"id\": 1.5, \"product\": \"a\", \"gt\": \"b\"}\n{\"id\": 3, \"product\": \"c\", \"gt\": \"d\"}\n",
            &[],
            "column id: the ids are read as floating-point numbers (Float64)",
        ),
        // History rows follow Pair::checked: an empty id went through as the pair id ``, a
        // NUL was dropped by the tokenizer (`iPhone15`), a phase took calibration's own name.
        (
            "empty_id.jsonl",
            "{\"id\": \" \", \"product\": \"a\", \"gt\": \"b\"}\n",
            &[],
            "a row's id \" \" is empty (product \"a\", gt \"b\")",
        ),
        (
            "nul.csv",
            "id,product,gt\n3,\"iPhone\u{0}15\",iPhone 15\n",
            &[],
            "pair `3`: `product` holds a NUL byte (U+0000) at character 7",
        ),
        (
            "pooled.csv",
            "id,product,gt,phase\n3,a,b,(pooled)\n",
            &[],
            "pair `3`: `phase` `(pooled)` is a name calibration gives its own rows",
        ),
        ("nogt.csv", "id,product\n1,a\n", &[], "no column gt"),
        // a fractional label was cut to an integer (0.9 -> 0) and went through as gold
        (
            "fraction.csv",
            "id,product,gt,label\n1,a,b,1\n2,c,d,0.9\n",
            &[],
            "pair `2` has label 0.9",
        ),
        (
            "fraction.jsonl",
            "{\"id\": \"1\", \"product\": \"a\", \"gt\": \"b\", \"label\": 1.7}\n",
            &[],
            "pair `1` has label 1.7",
        ),
        (
            "dup.csv",
            "id,product,gt\n1,a,b\n1,c,d\n",
            &[],
            "pair id `1` appears more than once",
        ),
        (
            "label.csv",
            "id,product,gt,label\n1,a,b,7\n",
            &[],
            "label 7",
        ),
        (
            "ts.csv",
            "id,product,gt,ts\n1,a,b,yesterday\n",
            &[],
            "ts `yesterday` is not an RFC 3339 time",
        ),
        (
            "where.csv",
            "id,product,gt\n1,a,b\n",
            &["--where", "colour = 'red'"],
            "colour",
        ),
        // A CSV history's columns are text: `label = 1` makes DataFusion cast them to
        // integers, which `1.0` is not; the error says how to write it.
        (
            "label_number.csv",
            "id,product,gt,label\n1,a,b,1.0\n",
            &["--where", "label = 1"],
            "compare them as text (label = '1') or cast them (CAST(label AS DOUBLE) = 1)",
        ),
    ];
    for (name, body, extra, want) in cases {
        let h = c.path(name);
        std::fs::write(&h, body).unwrap();
        let out = c.path(&format!("{name}.jsonl"));
        let mut args = vec!["replay", "-c", s(&c.config), "-p", s(&h), "-o", s(&out)];
        args.extend_from_slice(extra);
        let err = fails(&titlesim(&args, None));
        assert!(err.contains(want), "{name}: {err}");
        assert!(
            err.contains(name),
            "{name}: the error names the file: {err}"
        );
    }
    let err = fails(&titlesim(
        &[
            "replay",
            "-c",
            s(&c.config),
            "-p",
            s(&c.path("pairs.txt")),
            "-o",
            s(&c.path("x.jsonl")),
        ],
        None,
    ));
    assert!(err.contains("no such file"), "{err}");
}

#[test]
fn the_gt_store_gives_the_gt_vectors_and_the_same_cosines() {
    let c = case();
    let plain = c.path("plain.jsonl");
    c.replay(&c.history, &plain, &[]);
    let plain = by_id(read_log(&plain).unwrap().records);

    // The canonical model with a GT store of the history's GT titles.
    let store = c.path("canon.gtstore");
    let text = std::fs::read_to_string(&c.config).unwrap().replacen(
        "batch_size = 8\n",
        &format!("batch_size = 8\ngt_store = {:?}\n", s(&store)),
        1,
    );
    let stored = c.path("stored.toml");
    std::fs::write(&stored, text).unwrap();
    ok(&titlesim(
        &["precompute", "-c", s(&stored), "--pairs", s(&c.history)],
        None,
    ));
    let out = c.path("stored.jsonl");
    let summary: serde_json::Value = serde_json::from_str(&ok(&titlesim(
        &[
            "replay",
            "-c",
            s(&stored),
            "-p",
            s(&c.history),
            "-o",
            s(&out),
            "--json",
        ],
        None,
    )))
    .unwrap();
    // Every canonical GT vector came from the store; the shadow (no store) embedded its own.
    assert_eq!(summary["gt_from_store"], c.pairs);
    assert_eq!(summary["titles_in_pairs"], 3 * c.pairs);
    for r in read_log(&out).unwrap().records {
        assert_eq!(
            cosines(&r),
            cosines(&plain[&r.pair_id]),
            "pair {}",
            r.pair_id
        );
    }
}

/// `--where` runs twice (a count for the progress bar, then the rows), and `random()` selects
/// other rows each time: the summary counts the rows read, which the log holds, and a note
/// says the two differed. (Each try's counts differ with probability ~0.9.)
#[test]
fn a_random_where_counts_the_rows_it_replayed() {
    let c = case();
    let mut differed = false;
    for attempt in 0..10 {
        let out = c.path(&format!("random{attempt}.jsonl"));
        let o = c.replay_output(&c.history, &out, &["--where", "random() < 0.5"]);
        let j: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
        let logged = read_log(&out).unwrap().records.len() as u64;
        assert_eq!(j["selected"], logged, "{j}");
        assert_eq!(j["scored"], logged, "{j}");
        let stderr = String::from_utf8_lossy(&o.stderr);
        if stderr.contains("when counted and") {
            assert!(stderr.contains(&format!("{logged} when read")), "{stderr}");
            differed = true;
            break;
        }
    }
    assert!(
        differed,
        "ten random selections each counted what they read"
    );
}

/// A folder of CSV files is read with one header, applied to every file by position: a file
/// with the columns in another order was read with its product and phase swapped, silently,
/// and an empty file gave DataFusion's own error. Both are refused by name, in `replay` and
/// `sql --table` alike.
#[test]
fn a_csv_folder_needs_one_header_row() {
    let c = case();
    let dir = c.path("folder");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), "id,product,gt,phase\n1,p,g,race\n").unwrap();
    std::fs::write(dir.join("b.csv"), "id,phase,gt,product\n2,race,g,p\n").unwrap();
    let out = c.path("folder.jsonl");
    let args = ["replay", "-c", s(&c.config), "-p", s(&dir), "-o", s(&out)];
    let err = fails(&titlesim(&args, None));
    assert!(err.contains("different header rows"), "{err}");
    assert!(err.contains("a.csv has `id,product,gt,phase`"), "{err}");
    assert!(err.contains("b.csv has `id,phase,gt,product`"), "{err}");
    let table = format!("h={}", s(&dir));
    let err = fails(&titlesim(&["sql", "-t", &table, "SELECT * FROM h"], None));
    assert!(err.contains("b.csv has `id,phase,gt,product`"), "{err}");

    std::fs::write(dir.join("b.csv"), "").unwrap();
    let err = fails(&titlesim(&args, None));
    assert!(err.contains("b.csv: the file is empty"), "{err}");
    let err = fails(&titlesim(&["sql", "-t", &table, "SELECT * FROM h"], None));
    assert!(err.contains("b.csv: the file is empty"), "{err}");

    std::fs::write(dir.join("b.csv"), "id,product,gt,phase\n2,p,g,race\n").unwrap();
    let rows = ok(&titlesim(
        &["sql", "-t", &table, "SELECT id, product FROM h ORDER BY id"],
        None,
    ));
    assert_eq!(rows, "id,product\n1,p\n2,p\n");
}

/// A number column (JSON numbers) is scored as
/// its text: it was an "Internal error ... please file a bug report". A list is refused with
/// a hint.
#[test]
fn sql_functions_take_numbers_as_text() {
    let c = case();
    let csv = c.path("codes.csv");
    std::fs::write(&csv, "id,product,gt\n1,8806095,8806095\n2,12345,12346\n").unwrap();
    let json = c.path("codes.jsonl");
    std::fs::write(
        &json,
        "{\"id\": 1, \"product\": 8806095, \"gt\": 8806095}\n\
         {\"id\": 2, \"product\": 12345, \"gt\": 12346}\n",
    )
    .unwrap();
    let want = ok(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "SELECT c FROM (SELECT 1 AS k, title_cosine('8806095', '8806095') AS c \
             UNION ALL SELECT 2, title_cosine('12345', '12346')) ORDER BY k",
        ],
        None,
    ));
    // The CSV named in the query (read as text), the JSON lines (numbers) as a table.
    let csv_in_query = format!("'{}'", s(&csv));
    let json_table = format!("j={}", s(&json));
    for (file, query_table, extra) in [
        (&csv, csv_in_query.as_str(), None),
        (&json, "j", Some(json_table.as_str())),
    ] {
        let query = format!("SELECT title_cosine(product, gt) AS c FROM {query_table} ORDER BY id");
        let mut args = vec!["sql", "-c", s(&c.config), &query];
        if let Some(t) = extra {
            args.extend(["-t", t]);
        }
        let got = ok(&titlesim(&args, None));
        assert_eq!(got, want, "{}", file.display());
    }
    let err = fails(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "SELECT title_cosine(title_embedding('a'), 'b')",
        ],
        None,
    ));
    assert!(
        err.contains("the product argument is List(Float32), not text"),
        "{err}"
    );
    assert!(err.contains("CAST(x AS VARCHAR)"), "{err}");
    assert!(!err.contains("Internal error"), "{err}");
}

/// A file named in the query is read as `--table` reads it: a CSV's columns as text (DataFusion's
/// own reading inferred numbers, so the title `0070` scored 1.0 against `70`), `.jsonl`
/// recognised (it was "table not found").
#[test]
fn a_file_named_in_the_query_is_read_as_a_table() {
    let c = case();
    let csv = c.path("numeric.csv");
    std::fs::write(&csv, "id,product,gt\n1,0070,70\n2,1.50,1.5\n").unwrap();
    let query = format!(
        "SELECT id, product, gt, title_cosine(product, gt) AS c FROM '{}' ORDER BY id",
        s(&csv)
    );
    let got = ok(&titlesim(&["sql", "-c", s(&c.config), &query], None));
    let want = ok(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "SELECT k AS id, p AS product, g AS gt, title_cosine(p, g) AS c FROM \
             (SELECT '1' AS k, '0070' AS p, '70' AS g UNION ALL SELECT '2', '1.50', '1.5') \
             ORDER BY k",
        ],
        None,
    ));
    assert_eq!(got, want);
    assert!(got.starts_with("id,product,gt,c\n1,0070,70,"), "{got}");

    let jsonl = c.path("rows.jsonl");
    std::fs::write(&jsonl, "{\"id\": \"a\", \"product\": \"x\"}\n").unwrap();
    let query = format!("SELECT id, product FROM '{}'", s(&jsonl));
    assert_eq!(ok(&titlesim(&["sql", &query], None)), "id,product\na,x\n");
}

/// A JSON-lines history with a torn last line (a log still being written) or a byte-order
/// mark: DataFusion's reader said only "Not valid JSON ... at line 1 column 545" (the torn
/// line was line 3). Now the file, the line and the mend are named, in replay and sql alike.
#[test]
fn a_torn_or_marked_jsonl_history_is_named_with_its_line() {
    let c = case();
    let torn = c.path("torn.jsonl");
    std::fs::write(
        &torn,
        "{\"id\":\"1\",\"product\":\"a\",\"gt\":\"b\"}\n\
         {\"id\":\"2\",\"product\":\"c\",\"gt\":\"d\"}\n\
         {\"id\":\"3\",\"prod",
    )
    .unwrap();
    let out = c.path("torn-out.jsonl");
    let err = fails(&titlesim(
        &["replay", "-c", s(&c.config), "-p", s(&torn), "-o", s(&out)],
        None,
    ));
    assert!(
        err.contains("torn.jsonl") && err.contains("line 3, the last, is torn"),
        "{err}"
    );
    assert!(err.contains("head -n 2"), "{err}");
    let table = format!("h={}", s(&torn));
    let err = fails(&titlesim(&["sql", "-t", &table, "SELECT * FROM h"], None));
    assert!(err.contains("line 3, the last, is torn"), "{err}");
    // A last line whole but for its newline is read.
    std::fs::write(&torn, "{\"id\":\"1\",\"product\":\"a\"}").unwrap();
    assert_eq!(
        ok(&titlesim(&["sql", "-t", &table, "SELECT id FROM h"], None)),
        "id\n1\n"
    );

    // A bad line in the middle: DataFusion said "key must be a string at line 1 column 28".
    let bad = c.path("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\":\"1\",\"product\":\"a\",\"gt\":\"b\"}\n\n\
         {\"id\":\"2\",\"product\":\"c\",\"gt\":\"d\"}\n\
         {\"id\":\"3\",\"product\":\"e\", gt:\"f\"}\n\
         {\"id\":\"4\",\"product\":\"g\",\"gt\":\"h\"}\n",
    )
    .unwrap();
    let err = fails(&titlesim(
        &["replay", "-c", s(&c.config), "-p", s(&bad), "-o", s(&out)],
        None,
    ));
    assert!(
        err.contains(
            "bad.jsonl: line 4 is not one JSON object (key must be a string at column 26)"
        ),
        "{err}"
    );
    let table = format!("h={}", s(&bad));
    let err = fails(&titlesim(&["sql", "-t", &table, "SELECT * FROM h"], None));
    assert!(err.contains("line 4 is not one JSON object"), "{err}");
    // Two objects on one line would be read as two rows by DataFusion: refused too.
    std::fs::write(&bad, "{\"id\":\"1\"} {\"id\":\"2\"}\n").unwrap();
    let err = fails(&titlesim(&["sql", "-t", &table, "SELECT * FROM h"], None));
    assert!(
        err.contains("line 1 is not one JSON object (trailing characters"),
        "{err}"
    );

    let bom = c.path("bom.jsonl");
    std::fs::write(
        &bom,
        "\u{feff}{\"id\":\"1\",\"product\":\"a\",\"gt\":\"b\"}\n",
    )
    .unwrap();
    let err = fails(&titlesim(
        &["replay", "-c", s(&c.config), "-p", s(&bom), "-o", s(&out)],
        None,
    ));
    assert!(
        err.contains("bom.jsonl") && err.contains("byte-order mark"),
        "{err}"
    );
}

/// `title_cosine` scores a NULL title as `titlesim score` scores a blank one (an empty CSV
/// field is read as NULL: the pair dropped out of averages); `title_embedding` of NULL is
/// NULL. A title with a NUL byte (scored as if the byte were not there) or over 64 KiB is an
/// error naming the argument and the row.
#[test]
fn sql_loads_the_models_only_for_a_query_that_calls_them() {
    // `SELECT 1` failed on a configuration whose shadow model could not load.
    let c = case();
    let broken = c.path("broken.toml");
    let text = std::fs::read_to_string(&c.config).unwrap();
    let at = text.find("[shadow]").expect("the case has a shadow");
    let shadow = text[at..].replacen("model = ", "model = \"no-such-model\"\n# was ", 1);
    std::fs::write(&broken, format!("{}{shadow}", &text[..at])).unwrap();
    let out = ok(&titlesim(
        &["sql", "-c", s(&broken), "SELECT 1 + 1 AS two"],
        None,
    ));
    assert_eq!(out.trim(), "two\n2");
    let err = fails(&titlesim(
        &[
            "sql",
            "-c",
            s(&broken),
            "SELECT title_cosine('a', 'b', 'shadow')",
        ],
        None,
    ));
    assert!(err.contains("no-such-model"), "{err}");
}

#[test]
fn sql_null_titles_score_as_blank_and_bad_titles_are_refused() {
    let c = case();
    let h = c.path("blanks.csv");
    std::fs::write(
        &h,
        "id,product,gt\n1,,iPhone 15\n2,iPhone 15,\n3,\" \",iPhone 15\n",
    )
    .unwrap();
    let table = format!("h={}", s(&h));
    let rows = ok(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "-t",
            &table,
            "-f",
            "jsonl",
            "SELECT id, title_cosine(product, gt) AS c, title_cosine(product, gt, 'shadow') AS s, \
             title_embedding(product) AS e FROM h ORDER BY id",
        ],
        None,
    ));
    // What `titlesim score` gives the same pairs (canonical).
    let score = ok(&titlesim(&["score", "-c", s(&c.config), "-p", s(&h)], None));
    let scored: Vec<f64> = score
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let lines: Vec<serde_json::Value> = rows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{rows}");
    for (l, want) in lines.iter().zip(&scored) {
        assert_eq!(l["c"].as_f64(), Some(*want), "{l} vs score's {want}");
        assert_eq!(l["c"], 0.0, "{l}");
        assert_eq!(l["s"], 0.0, "{l}");
    }
    assert!(lines[0]["e"].is_null(), "no title, no vector");
    assert_eq!(lines[1]["e"].as_array().unwrap().len(), 32);

    // replay scores the same history's empty fields as score does (it refused them: "pair `1`
    // has no product"), and says how many pairs had no title.
    let out = c.path("blanks-replayed.jsonl");
    let run = titlesim(
        &["replay", "-c", s(&c.config), "-p", s(&h), "-o", s(&out)],
        None,
    );
    ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("2 pair(s) had no product or no gt (NULL"),
        "{stderr}"
    );
    let records = read_log(&out).unwrap().records;
    assert_eq!(records.len(), 3);
    for (r, want) in records.iter().zip(&scored) {
        assert_eq!(r.canonical.cosine.map(f64::from), Some(*want), "{r:?}");
        assert_eq!(r.canonical.pass, Some(false), "{r:?}");
    }
    assert_eq!(
        (records[0].product.as_str(), records[1].gt.as_str()),
        ("", "")
    );

    let err = fails(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "SELECT title_cosine(concat('iPhone', chr(0), '15 Pro'), 'iPhone 15 Pro')",
        ],
        None,
    ));
    assert!(
        err.contains("title_cosine: the product argument of row 1 of its batch"),
        "{err}"
    );
    assert!(
        err.contains("holds a NUL byte (U+0000) at character 7"),
        "{err}"
    );
    let err = fails(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "SELECT title_embedding(repeat('x', 65537))",
            "-f",
            "jsonl",
        ],
        None,
    ));
    assert!(
        err.contains("title_embedding: the text argument of row 1"),
        "{err}"
    );
    assert!(err.contains("65537 bytes long"), "{err}");
}

/// `sql -o FILE` replaces FILE only when the query has run to its end: a query failing
/// midway left a shorter file that read as whole, in place of the old one.
#[test]
fn sql_out_replaces_the_file_only_when_the_query_ends() {
    let c = case();
    let h = c.path("numbers.csv");
    let mut body = String::from("v\n");
    for i in 0..5000 {
        body += &format!("{i}\n");
    }
    body += "x\n";
    std::fs::write(&h, body).unwrap();
    let table = format!("h={}", s(&h));
    let dir = c.path("out");
    std::fs::create_dir(&dir).unwrap();
    for name in ["r.csv", "r.jsonl", "r.parquet"] {
        let out = dir.join(name);
        std::fs::write(&out, "old\n").unwrap();
        let query = "SELECT CAST(v AS INT) AS n FROM h";
        let err = fails(&titlesim(
            &["sql", "-t", &table, query, "-o", s(&out)],
            None,
        ));
        assert!(err.contains("Cannot cast string 'x'"), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n", "{name}");
        let query = "SELECT CAST(v AS INT) AS n FROM h WHERE v <> 'x'";
        ok(&titlesim(
            &["sql", "-t", &table, query, "-o", s(&out)],
            None,
        ));
        let back = format!("r={}", s(&out));
        let n = ok(&titlesim(
            &["sql", "-t", &back, "SELECT count(*) AS n FROM r"],
            None,
        ));
        assert_eq!(n, "n\n5000\n", "{name}");
    }
    // No temporary file is left beside them.
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["r.csv", "r.jsonl", "r.parquet"]);

    // A symlink to the output stays a link; the file it points to gets the result (the link
    // was replaced by a file of its own, and its target kept the old rows).
    #[cfg(unix)]
    {
        let link = c.path("link.csv");
        std::os::unix::fs::symlink(dir.join("r.csv"), &link).unwrap();
        ok(&titlesim(&["sql", "SELECT 7 AS n", "-o", s(&link)], None));
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(dir.join("r.csv")).unwrap(),
            "n\n7\n"
        );
    }
}

/// The output formats: JSON lines name every column (a NULL was left out), a table of no rows
/// has its header (it printed `++`), a list column is refused for CSV before the query runs
/// (it failed after the header, or left an empty file), and `-f` with `-o` is an error (it
/// was ignored).
#[test]
fn sql_output_formats_keep_every_column() {
    let c = case();
    let rows = ok(&titlesim(
        &[
            "sql",
            "-f",
            "jsonl",
            "SELECT 1 AS a, CAST(NULL AS VARCHAR) AS b",
        ],
        None,
    ));
    assert_eq!(rows, "{\"a\":1,\"b\":null}\n");
    let out = c.path("nulls.jsonl");
    ok(&titlesim(
        &[
            "sql",
            "SELECT 1 AS a, CAST(NULL AS VARCHAR) AS b",
            "-o",
            s(&out),
        ],
        None,
    ));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"a\":1,\"b\":null}\n"
    );

    let table = ok(&titlesim(
        &["sql", "-f", "table", "SELECT 1 AS a, 'x' AS b WHERE false"],
        None,
    ));
    assert!(table.contains("| a | b |"), "{table}");

    let vectors = "SELECT title_embedding('shoe') AS v";
    let err = fails(&titlesim(&["sql", "-c", s(&c.config), vectors], None));
    assert!(
        err.contains("column \"v\" is List(Float32), which CSV cannot hold; use -f jsonl"),
        "{err}"
    );
    let csv = c.path("vectors.csv");
    let err = fails(&titlesim(
        &["sql", "-c", s(&c.config), vectors, "-o", s(&csv)],
        None,
    ));
    assert!(err.contains("name the file .parquet or .jsonl"), "{err}");
    assert!(!csv.exists());

    let err = fails(&titlesim(
        &["sql", "SELECT 1", "-f", "jsonl", "-o", s(&csv)],
        None,
    ));
    assert!(err.contains("--format jsonl and --out"), "{err}");
    assert!(err.contains("vectors.csv"), "{err}");
}

#[test]
fn replay_never_writes_its_log_over_the_history() {
    // `replay -p h.csv -o h.csv --resume` appended JSON records to the history it read.
    let c = case();
    let before = std::fs::read_to_string(&c.history).unwrap();
    for extra in [&[][..], &["--resume"][..]] {
        let mut args = vec![
            "replay",
            "-c",
            s(&c.config),
            "-p",
            s(&c.history),
            "-o",
            s(&c.history),
        ];
        args.extend(extra);
        let err = fails(&titlesim(&args, None));
        assert!(
            err.contains(&format!("--out {} is the history", s(&c.history))),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&c.history).unwrap(), before);
}

#[test]
fn replay_never_writes_its_log_inside_a_history_folder() {
    // A log in the folder it reads was read back as history by a resumed run.
    let c = case();
    let dir = c.path("history");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(&c.history, dir.join("a.csv")).unwrap();
    for out in [
        dir.join("replay.jsonl"),
        dir.join("sub/replay.jsonl"),
        dir.join("new/deeper/replay.jsonl"),
        c.path("nope/../history/replay.jsonl"),
    ] {
        let err = fails(&titlesim(
            &["replay", "-c", s(&c.config), "-p", s(&dir), "-o", s(&out)],
            None,
        ));
        assert!(
            err.contains(&format!("--out {} is inside the history folder", s(&out))),
            "{err}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn a_replay_stopped_by_a_bad_row_says_the_log_is_partial_and_resume_finishes_it() {
    // The log held the records written before the error, and nothing said so: calibrate
    // would take it as whole.
    let c = case();
    let h = c.path("late.csv");
    let mut text = String::from("id,product,gt,label\n");
    for i in 0..300 {
        let label = if i == 250 { "0.9" } else { "1" };
        text += &format!("{i},shoe {i},boot {},{label}\n", i % 7);
    }
    std::fs::write(&h, &text).unwrap();
    let out = c.path("late.jsonl");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "replay",
            "-c",
            s(&c.config),
            "-p",
            s(&h),
            "-o",
            s(&out),
            "--chunk-size",
            "16",
            "--threads",
            "1",
        ];
        args.extend(extra);
        titlesim(&args, None)
    };
    let err = fails(&run(&[]));
    assert!(err.contains("pair `250` has label 0.9"), "{err}");
    let written = titlesim::read_log(&out).unwrap().records.len();
    assert!(written > 0 && written < 300, "{written}");
    assert!(
        err.contains(&format!(
            "{} holds the {written} record(s) written before it",
            s(&out)
        )),
        "{err}"
    );
    assert!(err.contains("rerun with --resume"), "{err}");
    // Run again without --resume: refused, and no word of records this run never wrote.
    let err = fails(&run(&[]));
    assert!(err.contains("--resume"), "{err}");
    assert!(!err.contains("written before it"), "{err}");
    std::fs::write(
        &h,
        text.replace("250,shoe 250,boot 5,0.9", "250,shoe 250,boot 5,1"),
    )
    .unwrap();
    ok(&run(&["--resume"]));
    assert_eq!(titlesim::read_log(&out).unwrap().records.len(), 300);
}

#[test]
fn title_pass_gives_the_verdicts_score_gives() {
    // A cosine compared in SQL (`title_cosine(...) >= 0.7`) meets the f64 0.7, which the f32
    // threshold the scorer judges with falls short of: title_pass judges as score does.
    let c = case();
    let table = format!("h={}", s(&c.history));
    // the canonical threshold at the median cosine, so both verdicts occur
    let cosines = ok(&titlesim(
        &[
            "sql",
            "-c",
            s(&c.config),
            "-t",
            &table,
            "SELECT title_cosine(product, gt) AS c FROM h",
        ],
        None,
    ));
    let mut cs: Vec<f32> = cosines
        .lines()
        .skip(1)
        .map(|l| l.parse().unwrap())
        .collect();
    cs.sort_by(f32::total_cmp);
    let text = std::fs::read_to_string(&c.config).unwrap();
    let at = text.find("threshold = ").unwrap();
    let end = at + text[at..].find('\n').unwrap();
    let config = c.path("median.toml");
    std::fs::write(
        &config,
        format!(
            "{}threshold = {}{}",
            &text[..at],
            cs[cs.len() / 2],
            &text[end..]
        ),
    )
    .unwrap();
    let rows = ok(&titlesim(
        &[
            "sql",
            "-c",
            s(&config),
            "-t",
            &table,
            "-f",
            "jsonl",
            "SELECT id, title_cosine(product, gt) AS c, title_pass(product, gt) AS p, \
             title_pass(product, gt, 'shadow') AS sp FROM h",
        ],
        None,
    ));
    let score = ok(&titlesim(
        &["score", "-c", s(&config), "-p", s(&c.history)],
        None,
    ));
    let want: HashMap<String, (f64, bool)> = score
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), (f[1].parse().unwrap(), f[3] == "true"))
        })
        .collect();
    let mut seen = 0;
    let mut passes = 0;
    for l in rows.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let id = v["id"].as_str().unwrap();
        let (cos, pass) = want[id];
        assert_eq!(v["c"].as_f64(), Some(cos), "{l}");
        assert_eq!(v["p"].as_bool(), Some(pass), "{l}");
        assert!(v["sp"].is_boolean(), "{l}");
        seen += 1;
        passes += usize::from(pass);
    }
    assert_eq!(seen, want.len());
    assert!(
        passes > 0 && passes < seen,
        "both verdicts occur: {passes} of {seen}"
    );
}

/// A Parquet timestamp past year 9999 was written as `10000-01-01T...`, a record the log's own
/// readers refuse: it is refused here, naming the time.
#[test]
fn a_timestamp_past_year_9999_is_refused() {
    let c = case();
    let p = c.path("far.parquet");
    ok(&titlesim(
        &[
            "sql",
            "SELECT '1' AS id, 'a' AS product, 'b' AS gt, \
             to_timestamp_millis(253402300800000) AS ts",
            "-o",
            s(&p),
        ],
        None,
    ));
    let out = c.path("far.jsonl");
    let e = fails(&c.replay_output(&p, &out, &[]));
    assert!(
        e.contains(
            "column ts: a timestamp (10000-01-01T00:00:00.000Z) outside the years 0000 to 9999"
        ),
        "{e}"
    );
    // Seconds past what milliseconds can hold (nanoseconds stored as seconds) became a NULL
    // in the cast, and a NULL ts is logged as the replay's own time.
    let p = c.path("over.parquet");
    ok(&titlesim(
        &[
            "sql",
            "SELECT '1' AS id, 'a' AS product, 'b' AS gt, \
             to_timestamp_seconds(1700000000000000000) AS ts",
            "-o",
            s(&p),
        ],
        None,
    ));
    let e = fails(&c.replay_output(&p, &c.path("over.jsonl"), &[]));
    assert!(
        e.contains(
            "column ts: row 1 holds a timestamp beyond what milliseconds since 1970 can hold"
        ),
        "{e}"
    );
}
