//! The JSON documents pinned byte for byte: `titlesim calibrate --json` (`to_json`) and
//! `titlesim review tally --json` (`Tally::to_json`), each printed as the command prints it
//! (`serde_json::to_string_pretty`), on fixed inputs. The expectations under
//! `tests/expected/` were written by the hand-built JSON that preceded the serde structs;
//! keys, key order, number formatting and nulls must not change.
//!
//! To rewrite them after an intended format change: `TITLESIM_BLESS=1 cargo test -p
//! titlesim-calibrate --test json_output`, and review the diff.

mod common;

use common::{check, record, shadow_error, synthetic, write_log, Rng};
use std::path::Path;
use titlesim_calibrate::review::{self, TallyOptions};
use titlesim_calibrate::{calibrate, calibrate_logs, to_json, Grid, Options, Threshold};

/// The temporary folder's path replaced by `<dir>`, so the expectation is portable.
fn portable(json: &str, dir: &Path) -> String {
    // paths appear JSON-escaped in the document
    let escaped = serde_json::to_string(&dir.display().to_string()).unwrap();
    json.replace(&escaped[1..escaped.len() - 1], "<dir>")
}

/// A log with everything the document can say: three phases with pairs (one of them a single
/// pair without a phase), a phase with no usable pair, every kind of exclusion, labels on some
/// pairs (one invalid), two logged shadow thresholds, and two unreadable lines.
fn rich_log(dir: &Path) -> std::path::PathBuf {
    let mut recs = synthetic(5, 40, 25, 0.8, 0.2);
    let mut rng = Rng::new(9);
    for (i, r) in recs.iter_mut().enumerate() {
        if i % 3 != 2 {
            let c = r.canonical.cosine.unwrap() as f64;
            r.label = Some(u8::from(c + 0.05 * rng.normal() > 0.72));
        }
        if i % 10 == 0 {
            if let Some(s) = r.shadow.as_mut() {
                s.threshold = 0.90;
            }
        }
    }
    recs[4].label = Some(2);
    recs.push(record(900, None, 0.81, Some(0.79), 0.70, 0.95, Some(1)));
    recs.push(shadow_error(901, Some("practice"), 0.9));
    recs.push(shadow_error(902, Some("practice"), 0.4));
    recs.push(shadow_error(903, Some("race"), 0.75));
    recs.push(record(904, Some("race"), 0.6, None, 0.70, 0.95, None));
    let mut no_canonical = record(905, Some("qualifying"), 0.6, Some(0.7), 0.70, 0.95, None);
    no_canonical.canonical.cosine = None;
    no_canonical.canonical.error = Some("model not loaded".into());
    recs.push(no_canonical);
    let p = dir.join("shadow.jsonl");
    write_log(&p, &recs);
    let mut text = std::fs::read_to_string(&p).unwrap();
    let torn = serde_json::to_string(&recs[0]).unwrap();
    text.push_str("this is not json\n");
    text.push_str(&torn[..torn.len() / 2]);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn calibration_json_is_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let log = rich_log(d.path());
    let opts = Options {
        grid: Grid::parse("0.60:0.90:0.05").unwrap(),
        propose: Some(Threshold::parse("0.80").unwrap()),
        floor: 0.7,
        ..Options::default()
    };
    let cal = calibrate_logs(&[&log], &opts).unwrap();
    let json = serde_json::to_string_pretty(&to_json(&cal)).unwrap();
    check("calibration_rich.json", &portable(&json, d.path()));
}

#[test]
fn calibration_json_of_a_tiny_log_is_unchanged() {
    // a given T, the default grid, a single pair (undefined correlations), an empty phase
    let recs = vec![
        record(0, Some("race"), 0.8, Some(0.75), 0.70, 0.72, None),
        shadow_error(1, Some("qualifying"), 0.9),
        shadow_error(2, Some("qualifying"), 0.3),
    ];
    let opts = Options {
        canon_threshold: Some(Threshold::parse("0.75").unwrap()),
        ..Options::default()
    };
    let cal = calibrate(&recs, &opts).unwrap();
    let json = serde_json::to_string_pretty(&to_json(&cal)).unwrap();
    check("calibration_tiny.json", &json);
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
fn tally_json_is_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
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
    for (i, v) in verdicts.iter().enumerate() {
        let phase = ["race", "qualifying", ""][i % 3];
        let direction = ["canonical_match", "shadow_match"][i % 2];
        rows.push((phase, direction, *v));
    }
    let p = write_review(d.path(), "review.csv", &rows);
    let t = review::tally(&p, &TallyOptions::default()).unwrap();
    let json = serde_json::to_string_pretty(&t.to_json()).unwrap();
    check("tally_mixed.json", &portable(&json, d.path()));

    // nothing decisive, then nothing reviewed: shares and p-values are null
    let p = write_review(
        d.path(),
        "undecided.csv",
        &[
            ("race", "shadow_match", "both"),
            ("race", "shadow_match", ""),
        ],
    );
    let t = review::tally(&p, &TallyOptions::default()).unwrap();
    let json = serde_json::to_string_pretty(&t.to_json()).unwrap();
    check("tally_undecided.json", &portable(&json, d.path()));
    let p = write_review(d.path(), "empty.csv", &[("race", "shadow_match", "")]);
    let t = review::tally(&p, &TallyOptions::default()).unwrap();
    let json = serde_json::to_string_pretty(&t.to_json()).unwrap();
    check("tally_unreviewed.json", &portable(&json, d.path()));
}
