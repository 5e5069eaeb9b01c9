//! What `titlesim review` writes and prints, pinned byte for byte on fixed inputs: the export
//! summary and CSV (every disagreement, and a seeded stratified sample) and the tally's text
//! (an undecided and a decided review). The expectations under `tests/expected/` were
//! written by `review.rs` before it was split into `review/`.
//!
//! To rewrite them after an intended change: `TITLESIM_BLESS=1 cargo test -p
//! titlesim-calibrate --test review_output`, and review the diff.

mod common;

use common::{check, record, shadow_error, synthetic, write_log};
use std::path::Path;
use titlesim_calibrate::review::{self, ExportOptions, Sample, TallyOptions};
use titlesim_calibrate::Threshold;

fn log(dir: &Path) -> std::path::PathBuf {
    let mut recs = synthetic(21, 120, 60, 0.8, 0.2);
    for (i, r) in recs.iter_mut().enumerate() {
        if i % 4 == 0 {
            r.label = Some(u8::from(i % 8 == 0));
        }
    }
    recs.push(record(500, None, 0.9, Some(0.5), 0.70, 0.95, Some(1)));
    recs.push(shadow_error(501, Some("race"), 0.8));
    let p = dir.join("shadow.jsonl");
    write_log(&p, &recs);
    let mut text = std::fs::read_to_string(&p).unwrap();
    text.push_str("not a record\n");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn export_summary_and_csv_are_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let log = log(d.path());
    for (name, sample) in [("all", None), ("sample", Some(Sample { n: 9, seed: 7 }))] {
        let opts = ExportOptions {
            canon_threshold: None,
            shadow_threshold: Threshold::parse("0.78").unwrap(),
            sample,
        };
        let e = review::export_logs(&[&log], &opts).unwrap();
        check(&format!("export_{name}_summary.txt"), &e.summary());
        let csv = d.path().join(format!("{name}.csv"));
        review::write_csv(&e, &csv).unwrap();
        check(
            &format!("export_{name}.csv"),
            &std::fs::read_to_string(&csv).unwrap(),
        );
    }
}

fn write_review(dir: &Path, name: &str, rows: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let mut text = String::from("pair_id,phase,direction,verdict,comment\n");
    for (i, (phase, direction, verdict)) in rows.iter().enumerate() {
        text.push_str(&format!("p{i},{phase},{direction},{verdict},\n"));
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn tally_text_is_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let verdicts = [
        "canonical",
        "shadow",
        "shadow right",
        "both",
        "Shadow",
        "neither",
        "",
        "shadow_right",
        "canon",
        "shadow",
        "shadow",
        "both",
    ];
    let rows: Vec<_> = verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (
                ["race", "qualifying", ""][i % 3],
                ["canonical_match", "shadow_match"][i % 2],
                *v,
            )
        })
        .collect();
    let p = write_review(d.path(), "mixed.csv", &rows);
    let t = review::tally(&p, &TallyOptions::default()).unwrap();
    let text = t
        .render_text()
        .replace(&d.path().display().to_string(), "<dir>");
    check("tally_mixed.txt", &text);

    // a clear winner: the sign test is significant; many unreviewed lines are elided
    let mut rows = vec![("race", "shadow_match", "shadow"); 30];
    rows.extend([("race", "canonical_match", "canonical"); 4]);
    rows.extend([("qualifying", "shadow_match", ""); 12]);
    let p = write_review(d.path(), "decided.csv", &rows);
    let t = review::tally(&p, &TallyOptions::default()).unwrap();
    let text = t
        .render_text()
        .replace(&d.path().display().to_string(), "<dir>");
    check("tally_decided.txt", &text);
    let json = serde_json::to_string_pretty(&t.to_json()).unwrap();
    check(
        "tally_decided.json",
        &json.replace(&d.path().display().to_string(), "<dir>"),
    );
}

#[test]
fn tally_errors_are_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let err = |name: &str, text: &str, require_complete: bool| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        let e = review::tally(&p, &TallyOptions { require_complete }).unwrap_err();
        e.to_string()
            .replace(&d.path().display().to_string(), "<dir>")
    };
    let got = [
        err("bad.csv", "pair_id,verdict\np0,shadow\np1,maybe\n", false),
        err("open.csv", "pair_id,verdict\np0,shadow\np1,\n", true),
        err("noverdict.csv", "pair_id,comment\np0,x\n", false),
        err("ragged.csv", "pair_id,verdict\np0,shadow,extra\n", false),
        // `\r\n` line ends and a quoted cell over two lines: the line is still the file's.
        err(
            "spread.csv",
            "pair_id,verdict,comment\r\np0,shadow,\"two\r\nlines\"\r\np1,shadow\r\n",
            false,
        ),
        // Saved from a spreadsheet as Windows-1252 ("caf\xe9"), not as CSV UTF-8.
        {
            let p = d.path().join("latin1.csv");
            std::fs::write(&p, b"pair_id,verdict,comment\np0,shadow,caf\xe9\n").unwrap();
            let e = review::tally(&p, &TallyOptions::default()).unwrap_err();
            e.to_string()
                .replace(&d.path().display().to_string(), "<dir>")
        },
    ]
    .join("\n");
    check("tally_errors.txt", &(got + "\n"));
}

#[test]
fn titles_a_spreadsheet_would_run_are_exported_as_text_and_tally_still_reads_the_file() {
    let d = tempfile::tempdir().unwrap();
    // Four disagreements at T = 0.70, t = 0.50; one with a negative shadow cosine.
    let hostile = [
        ("=1", "=HYPERLINK(\"http://evil\",\"x\")", "Nike Air Max 90"),
        ("p2", "-5% off running shoes", "@SUM(A1:A9)"),
        ("+p3", "\tcmd", " +44 phone case"),
        ("p4", "plain title", "plain truth"),
    ];
    let recs: Vec<_> = hostile
        .iter()
        .enumerate()
        .map(|(i, (id, product, gt))| {
            let (c, s) = if i == 3 { (0.9, -0.25) } else { (0.6, 0.55) };
            let mut r = record(i, Some("race"), c, Some(s), 0.70, 0.50, None);
            r.pair_id = id.to_string();
            r.product = product.to_string();
            r.gt = gt.to_string();
            r
        })
        .collect();
    let log = d.path().join("shadow.jsonl");
    write_log(&log, &recs);
    let opts = ExportOptions {
        canon_threshold: None,
        shadow_threshold: Threshold::parse("0.5").unwrap(),
        sample: None,
    };
    let e = review::export_logs(&[&log], &opts).unwrap();
    assert_eq!(e.rows.len(), 4);
    let out = d.path().join("review.csv");
    review::write_csv(&e, &out).unwrap();

    let mut rows = csv::Reader::from_path(&out).unwrap();
    let headers = rows.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let got: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let cell = |id: &str, name: &str| {
        let row = got.iter().find(|r| &r[col("pair_id")] == id).unwrap();
        row[col(name)].to_string()
    };
    assert_eq!(cell("'=1", "product"), "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(cell("'=1", "gt"), "Nike Air Max 90");
    assert_eq!(cell("p2", "product"), "'-5% off running shoes");
    assert_eq!(cell("p2", "gt"), "'@SUM(A1:A9)");
    assert_eq!(cell("'+p3", "product"), "'\tcmd");
    assert_eq!(cell("'+p3", "gt"), "' +44 phone case");
    assert_eq!(cell("p4", "product"), "plain title");
    // numbers stay numbers
    assert_eq!(cell("p4", "shadow_cosine"), "-0.25");

    // A reviewer fills the verdicts in; the tally counts every row.
    let mut w = csv::Writer::from_path(&out).unwrap();
    w.write_record(&headers).unwrap();
    for row in &got {
        let mut row: Vec<&str> = row.iter().collect();
        row[col("verdict")] = "shadow";
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let t = review::tally(&out, &TallyOptions::default()).unwrap();
    assert_eq!(t.counts.shadow, 4, "{}", t.render_text());
    assert_eq!(t.rows, 4);
}

#[test]
fn a_review_never_replaces_the_log_it_reads() {
    // `review export --log L --out L --force` replaced the shadow log with the review.
    let d = tempfile::tempdir().unwrap();
    let log = log(d.path());
    let before = std::fs::read_to_string(&log).unwrap();
    let other = d.path().join("other.jsonl");
    std::fs::write(&other, "").unwrap();
    let e = review::refuse_log_as_out(&log, &[&other, &log])
        .unwrap_err()
        .to_string();
    assert!(e.contains("is the shadow log"), "{e}");
    assert!(review::refuse_log_as_out(&d.path().join("review.csv"), &[&log]).is_ok());
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);
}
