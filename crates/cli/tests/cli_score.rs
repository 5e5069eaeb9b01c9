//! `titlesim score`: verdicts against cosines computed from the committed references.
#![cfg(feature = "candle")]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

struct Case {
    dir: tempfile::TempDir,
    config: PathBuf,
    pairs_csv: PathBuf,
    pairs_jsonl: PathBuf,
    /// (id, phase, expected cosine, label)
    expected: Vec<(String, &'static str, f64, u8)>,
    threshold: f32,
}

/// Pairs of reference texts of tiny-bert-mean, whose cosines follow from the reference
/// embeddings; the threshold sits between two of them so some pass and some fail.
fn case() -> Case {
    let r = reference("tiny-bert-mean");
    let idx = [
        (0, 1, "qualifying"),
        (2, 3, "qualifying"),
        (8, 9, "race"),
        (10, 0, "race"),
        (2, 2, "race"),
    ];
    let expected: Vec<(String, &'static str, f64, u8)> = idx
        .iter()
        .enumerate()
        .map(|(k, &(a, b, phase))| {
            (
                format!("p{k}"),
                phase,
                cosine(&r.embeddings[a], &r.embeddings[b]),
                (k % 2) as u8,
            )
        })
        .collect();
    let mut cs: Vec<f64> = expected.iter().map(|e| e.2).collect();
    cs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    // Between the 2nd and 3rd smallest cosines: 3 pass, 2 fail.
    let threshold = ((cs[1] + cs[2]) / 2.0) as f32;
    assert!(cs[2] - cs[1] > 1e-3, "the threshold needs room: {cs:?}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("titlesim.toml");
    std::fs::write(
        &config,
        format!(
            "[canonical]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = {threshold}\nbatch_size = 2\n",
            fixture("tiny-bert-mean").to_str().unwrap()
        ),
    )
    .unwrap();
    let mut csv = String::from("id,phase,product,gt,label\n");
    let mut jsonl = String::new();
    for (k, &(a, b, _)) in idx.iter().enumerate() {
        let (id, phase, _, label) = &expected[k];
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        csv += &format!(
            "{id},{phase},{},{},{label}\n",
            q(&r.texts[a]),
            q(&r.texts[b])
        );
        jsonl += &serde_json::json!({"id": id, "phase": phase, "product": r.texts[a], "gt": r.texts[b], "label": label}).to_string();
        jsonl += "\n";
    }
    let pairs_csv = dir.path().join("pairs.csv");
    std::fs::write(&pairs_csv, csv).unwrap();
    let pairs_jsonl = dir.path().join("pairs.jsonl");
    std::fs::write(&pairs_jsonl, jsonl).unwrap();
    Case {
        dir,
        config,
        pairs_csv,
        pairs_jsonl,
        expected,
        threshold,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn check_rows(c: &Case, rows: &[(String, f32, f32, bool)]) {
    assert_eq!(rows.len(), c.expected.len());
    for (row, (id, _, want, _)) in rows.iter().zip(&c.expected) {
        let (got_id, cos, thr, pass) = row;
        assert_eq!(got_id, id, "rows come in input order");
        assert!(
            ((*cos as f64) - want).abs() < 1e-5,
            "pair {id}: cosine {cos}, reference {want}"
        );
        assert_eq!(*thr, c.threshold, "the threshold is printed exactly");
        assert_eq!(*pass, cos >= thr, "pass means cosine >= threshold");
        assert_eq!(
            *pass,
            *want >= c.threshold as f64,
            "pair {id}: verdict differs from the reference's"
        );
    }
    assert_eq!(rows.iter().filter(|r| r.3).count(), 3);
}

#[test]
fn csv_output_and_summary() {
    let c = case();
    let out = titlesim(
        &[
            "score",
            "--config",
            s(&c.config),
            "--pairs",
            s(&c.pairs_csv),
        ],
        None,
    );
    let stdout = ok(&out);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("id,cosine,threshold,pass"));
    let rows: Vec<(String, f32, f32, bool)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 4, "{l}");
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect();
    check_rows(&c, &rows);

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("scored 5 pairs"), "{stderr}");
    assert!(stderr.contains("3 passed (60.0%)"), "{stderr}");
    let q_pass = c.expected[..2]
        .iter()
        .filter(|e| e.2 >= c.threshold as f64)
        .count();
    let r_pass = c.expected[2..]
        .iter()
        .filter(|e| e.2 >= c.threshold as f64)
        .count();
    assert!(
        stderr.contains(&format!("phase qualifying: 2 pairs, {q_pass} passed")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("phase race: 3 pairs, {r_pass} passed")),
        "{stderr}"
    );
    let agree = c
        .expected
        .iter()
        .filter(|e| (e.3 == 1) == (e.2 >= c.threshold as f64))
        .count();
    assert!(
        stderr.contains(&format!("agrees with the label on {agree} of 5")),
        "{stderr}"
    );
    assert!(stderr.contains("titles/s"), "{stderr}");
    // No progress bar when stderr is not a terminal.
    assert!(!stderr.contains("eta"), "{stderr}");
}

#[test]
fn jsonl_output_to_a_file_from_jsonl_pairs() {
    let c = case();
    let out_path = c.dir.path().join("scores.jsonl");
    let out = titlesim(
        &[
            "score",
            "-c",
            s(&c.config),
            "-p",
            s(&c.pairs_jsonl),
            "--format",
            "jsonl",
            "--out",
            s(&out_path),
        ],
        None,
    );
    assert_eq!(ok(&out), "", "results go to --out, not stdout");
    let text = std::fs::read_to_string(&out_path).unwrap();
    let rows: Vec<(String, f32, f32, bool)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["cosine"].as_f64().unwrap() as f32,
                v["threshold"].as_f64().unwrap() as f32,
                v["pass"].as_bool().unwrap(),
            )
        })
        .collect();
    check_rows(&c, &rows);
    // Without --format the file's name says it (a .jsonl file got CSV without a word), and
    // a --format its name contradicts is refused before anything runs.
    let named = c.dir.path().join("named.ndjson");
    let args = |out: &Path, f: Option<&str>| {
        let mut a = vec![
            "score",
            "-c",
            s(&c.config),
            "-p",
            s(&c.pairs_jsonl),
            "-o",
            s(out),
        ];
        a.extend(f.map(|f| ["-f", f]).into_iter().flatten());
        a.into_iter().map(String::from).collect::<Vec<String>>()
    };
    let run = |a: Vec<String>| titlesim(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    ok(&run(args(&named, None)));
    assert_eq!(std::fs::read_to_string(&named).unwrap(), text);
    let csv = c.dir.path().join("named.csv");
    ok(&run(args(&csv, None)));
    assert!(std::fs::read_to_string(&csv)
        .unwrap()
        .starts_with("id,cosine,threshold,pass\n"));
    let wrong = c.dir.path().join("wrong.jsonl");
    let e = fails(&run(args(&wrong, Some("csv"))));
    assert!(
        e.contains("--format csv and --out") && e.contains("says jsonl"),
        "{e}"
    );
    assert!(!wrong.exists());
}

#[test]
fn pairs_from_stdin_are_sniffed() {
    let c = case();
    let data = std::fs::read(&c.pairs_jsonl).unwrap();
    let a = ok(&titlesim(
        &["score", "-c", s(&c.config), "-p", "-"],
        Some(&data),
    ));
    let b = ok(&titlesim(
        &["score", "-c", s(&c.config), "-p", s(&c.pairs_csv)],
        None,
    ));
    assert_eq!(a, b);
    // A byte-order mark before the first `{` (read as CSV before): skipped, as in files.
    let marked = [b"\xef\xbb\xbf".as_slice(), &data].concat();
    let m = ok(&titlesim(
        &["score", "-c", s(&c.config), "-p", "-"],
        Some(&marked),
    ));
    assert_eq!(m, b);
}

#[test]
fn the_sample_pairs_score_in_chunks() {
    // 100 pairs in chunks of 7: written in input order, the same as in one chunk.
    let c = case();
    let sample = data("sample_pairs.csv");
    let run = |extra: &[&str]| {
        let mut args = vec!["score", "-c", s(&c.config), "-p", sample.to_str().unwrap()];
        args.extend_from_slice(extra);
        ok(&titlesim(&args, None))
    };
    let out = run(&["--chunk-size", "7"]);
    assert_eq!(out, run(&[]));
    let ids: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let want: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    assert_eq!(ids, want);
}

/// With `gt_store`, GT titles come from the store (the summary counts them), the verdicts are
/// byte for byte those without it, the output's folders are created, and a store of another
/// model is refused naming both fingerprints and dimensions.
#[test]
fn score_uses_the_gt_store_and_refuses_another_models() {
    let c = case();
    let plain = ok(&titlesim(
        &["score", "-c", s(&c.config), "-p", s(&c.pairs_csv)],
        None,
    ));

    let store = c.dir.path().join("stores/gt.store");
    let with_store = c.dir.path().join("with-store.toml");
    let text = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(&with_store, format!("{text}gt_store = {:?}\n", s(&store))).unwrap();
    // No store yet: refused, pointing at precompute.
    let e = fails(&titlesim(
        &["score", "-c", s(&with_store), "-p", s(&c.pairs_csv)],
        None,
    ));
    assert!(e.contains("titlesim precompute"), "{e}");
    ok(&titlesim(
        &["precompute", "-c", s(&with_store), "-p", s(&c.pairs_csv)],
        None,
    ));

    let out = c.dir.path().join("new/folder/verdicts.csv");
    let run = titlesim(
        &[
            "score",
            "-c",
            s(&with_store),
            "-p",
            s(&c.pairs_csv),
            "-o",
            s(&out),
            "--batch-size",
            "3",
        ],
        None,
    );
    ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    let n = c.expected.len();
    assert!(
        stderr.contains(&format!(
            "GT store: {n} of {n} GT titles taken from the store"
        )),
        "{stderr}"
    );
    // Only the product titles were encoded.
    assert!(
        stderr.contains(&format!("({n} titles encoded,")),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), plain);
    // Without a store the summary says nothing about one.
    let run = titlesim(&["score", "-c", s(&c.config), "-p", s(&c.pairs_csv)], None);
    assert!(!String::from_utf8_lossy(&run.stderr).contains("GT store"));

    // The same store under another model (tiny-bert-cls makes other vectors): refused.
    let other = c.dir.path().join("other.toml");
    std::fs::write(
        &other,
        text.replace("tiny-bert-mean", "tiny-bert-cls") + &format!("gt_store = {:?}\n", s(&store)),
    )
    .unwrap();
    let e = fails(&titlesim(
        &["score", "-c", s(&other), "-p", s(&c.pairs_csv)],
        None,
    ));
    assert!(
        e.contains("was written by another model") && e.contains("-d vectors of fingerprint"),
        "{e}"
    );
}

/// `--batch`, the old name of `--chunk-size` in `shadow`, is accepted everywhere as a hidden
/// alias and gives the same output.
/// A disk that fills during `precompute` (here a file size limit): the store is cut back to
/// its last whole row, the error says how many titles were kept and to run again, and the next
/// run finishes the store.
#[test]
fn a_precompute_failing_on_a_full_disk_leaves_whole_rows_and_continues() {
    let c = case();
    let store = c.dir.path().join("gt.store");
    let config = c.dir.path().join("store.toml");
    let text = std::fs::read_to_string(&c.config).unwrap();
    std::fs::write(&config, format!("{text}gt_store = {:?}\n", s(&store))).unwrap();
    ok(&titlesim(
        &["precompute", "-c", s(&config), "-p", s(&c.pairs_csv)],
        None,
    ));
    let first = std::fs::metadata(&store).unwrap().len();
    // 300 new GT titles: some 100 KB of rows, far past the limit below.
    let many = c.dir.path().join("many.csv");
    let mut csv = String::from("id,product,gt\n");
    for i in 0..300 {
        csv += &format!("m{i},product {i},reference widget number {i} in steel\n");
    }
    std::fs::write(&many, csv).unwrap();
    // `ulimit -f` counts 512- or 1024-byte blocks by shell: either way a few KiB of room.
    let blocks = first.div_ceil(512) as u32 + 16;
    let args = [
        "precompute",
        "-c",
        s(&config),
        "-p",
        s(&many),
        "--chunk-size",
        "5",
    ];
    let e = fails(&titlesim_with_file_limit(blocks, &args));
    assert!(
        e.contains("cut back to its last whole row") && e.contains("run precompute again"),
        "{e}"
    );
    let bytes = std::fs::read(&store).unwrap();
    assert!(
        bytes.len() as u64 > first,
        "no chunk was stored before the limit"
    );
    assert_eq!(bytes.last(), Some(&b'\n'), "the store ends in a torn row");
    let rows = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - 1;
    let kept: usize = e
        .split("keeping the ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of titles kept: {e}"));
    assert_eq!(
        rows,
        c.expected.len() + kept,
        "the count said differs from the rows"
    );
    // The next run adds the rest, and scoring finds every GT title in the store.
    ok(&titlesim(&args[..5], None));
    let bytes = std::fs::read(&store).unwrap();
    let rows = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
        - 1;
    assert!(rows >= 300, "{rows} rows");
    let run = titlesim(&["score", "-c", s(&config), "-p", s(&many)], None);
    ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("300 of 300 GT titles taken from the store") && !stderr.contains("torn"),
        "{stderr}"
    );
}

#[test]
fn the_old_chunk_flag_name_still_works() {
    let c = case();
    let a = ok(&titlesim(
        &[
            "score",
            "-c",
            s(&c.config),
            "-p",
            s(&c.pairs_csv),
            "--chunk-size",
            "2",
        ],
        None,
    ));
    let b = ok(&titlesim(
        &[
            "score",
            "-c",
            s(&c.config),
            "-p",
            s(&c.pairs_csv),
            "--batch",
            "2",
        ],
        None,
    ));
    assert_eq!(a, b);
    let help = ok(&titlesim(&["score", "--help"], None));
    assert!(
        help.contains("--chunk-size") && help.contains("--batch-size"),
        "{help}"
    );
}

#[test]
fn a_run_failing_midway_leaves_the_old_results_and_outputs_never_overwrite_inputs() {
    // --out was truncated when opened and written chunk by chunk: a model error at pair 600
    // left the header and 512 whole rows, a file that read as complete, and the old results
    // were gone. And `-o pairs.csv` replaced the pairs by verdicts, exit 0.
    let d = tempfile::tempdir().unwrap();
    let model = failing_model(d.path());
    let config = d.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "[canonical]\nmodel = {:?}\nthreshold = 0.5\nthreads = 1\n",
            s(&model)
        ),
    )
    .unwrap();
    let pairs = d.path().join("pairs.csv");
    let mut text = String::from("id,product,gt\n");
    for i in 0..1000 {
        let product = if i == 600 {
            "zzzbad".to_string()
        } else {
            format!("shoe {i}")
        };
        text += &format!("{i},{product},boot {i}\n");
    }
    std::fs::write(&pairs, &text).unwrap();
    let out = d.path().join("out").join("verdicts.csv");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, "old results\n").unwrap();
    let err = fails(&titlesim(
        &[
            "score",
            "-c",
            s(&config),
            "-p",
            s(&pairs),
            "-o",
            s(&out),
            "--chunk-size",
            "64",
        ],
        None,
    ));
    assert!(err.contains("was left as it was"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old results\n");
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");

    // The output is one of the inputs: refused before anything is read or written.
    for (target, what) in [(&pairs, "the pairs file"), (&config, "the configuration")] {
        let err = fails(&titlesim(
            &["score", "-c", s(&config), "-p", s(&pairs), "-o", s(target)],
            None,
        ));
        assert!(
            err.contains(&format!("--out {} is {what}", s(target))),
            "{err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&pairs).unwrap(), text);

    // Pairs with a blank title are not encoded, and the summary does not count them: it said
    // "100 titles encoded" for 50 pairs with an empty product.
    let blanks = d.path().join("blanks.csv");
    let mut b = String::from("id,product,gt\n");
    for i in 0..50 {
        b += &format!("{i},,boot {i}\n");
    }
    b += "50,shoe,boot\n";
    std::fs::write(&blanks, b).unwrap();
    let run = titlesim(&["score", "-c", s(&config), "-p", s(&blanks)], None);
    ok(&run);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("(2 titles encoded,"), "{stderr}");

    // A run that ends writes the whole file.
    let good = d.path().join("good.csv");
    std::fs::write(&good, text.replace("zzzbad", "shoe 600")).unwrap();
    ok(&titlesim(
        &["score", "-c", s(&config), "-p", s(&good), "-o", s(&out)],
        None,
    ));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 1001);
}
