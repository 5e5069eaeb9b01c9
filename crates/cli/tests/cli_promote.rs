//! `titlesim promote` and `titlesim burn-in` end to end: a calibration of synthetic shadow logs
//! whose shadow side carries the fingerprint of a tiny fixture model (the configuration's
//! [shadow]), the promotion, then burn-in logs that match, drift in one phase, or are too
//! short — with the counts of tests/fixtures/references/burnin.json.

mod common;

use common::{fails, fixture, fixtures, ok, snapshot, titlesim, titlesim_with_file_limit};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn refs() -> Value {
    let p = fixtures().join("references/burnin.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The fingerprint `titlesim inspect` reports for a fixture model on candle.
fn fingerprint(model: &str) -> String {
    let out = titlesim(
        &["inspect", "-m", fixture(model).to_str().unwrap(), "--json"],
        None,
    );
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    v["backend"]["fingerprint"].as_str().unwrap().to_string()
}

fn side(model: &str, fp: &str, t: f64, cos: f64) -> Value {
    json!({"model": model, "backend": "candle", "fingerprint": fp, "threshold": t,
           "cosine": cos, "pass": cos >= t, "encode_ms": 1.0})
}

/// Writes a log of `counts` (phase -> kind -> count), one record per pair, the kinds
/// interleaved; `make(kind)` gives the canonical and shadow sides.
fn write_log(path: &Path, counts: &Value, kinds: &[&str], make: &dyn Fn(&str) -> (Value, Value)) {
    let mut queue: Vec<(String, String, u64)> = Vec::new();
    for (phase, c) in counts.as_object().unwrap() {
        for k in kinds {
            queue.push((phase.clone(), k.to_string(), c[*k].as_u64().unwrap()));
        }
    }
    let mut text = String::new();
    let mut i = 0;
    while queue.iter().any(|q| q.2 > 0) {
        for q in queue.iter_mut().filter(|q| q.2 > 0) {
            q.2 -= 1;
            let (c, s) = make(&q.1);
            let r = json!({"schema": 1, "ts": format!("2026-12-04T{:02}:{:02}:00.000Z", 10 + i / 60 % 12, i % 60),
                "pair_id": format!("p{i}"), "phase": q.0, "product": format!("p {i}"), "gt": format!("g {i}"),
                "canonical": c, "shadow": s});
            text.push_str(&r.to_string());
            text.push('\n');
            i += 1;
        }
    }
    std::fs::write(path, text).unwrap();
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    calibration: PathBuf,
    cand_fp: String,
    old_fp: String,
}

impl Setup {
    /// tiny-bert-mean canonical at 0.70, tiny-bert-cls the candidate at a copied 0.95; the
    /// calibration logs carry their real fingerprints.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (cand_fp, old_fp) = (fingerprint("tiny-bert-cls"), fingerprint("tiny-bert-mean"));
        let config = dir.path().join("titlesim.toml");
        std::fs::write(
            &config,
            format!(
                "# scoring models\n[canonical]            # the model whose verdicts count\nmodel = {:?}\nthreshold = 0.70\n\n[shadow]               # the candidate\nmodel = {:?}\nthreshold = 0.95       # copied from another model\n\n[shadow_options]\nlog = \"shadow.jsonl\"\n",
                fixture("tiny-bert-mean").display().to_string(),
                fixture("tiny-bert-cls").display().to_string()
            ),
        )
        .unwrap();
        let log = dir.path().join("shadow.jsonl");
        write_log(
            &log,
            &refs()["calibration"]["phases"],
            &["a", "b", "c", "d"],
            &|k| {
                let (old, cand) = match k {
                    "a" => (0.80, 0.85),
                    "b" => (0.60, 0.65),
                    "c" => (0.80, 0.70),
                    _ => (0.60, 0.78),
                };
                (
                    side("tiny-bert-mean", &old_fp, 0.70, old),
                    side("tiny-bert-cls", &cand_fp, 0.95, cand),
                )
            },
        );
        let out = titlesim(&["calibrate", log.to_str().unwrap(), "--json"], None);
        let calibration = dir.path().join("calibration.json");
        std::fs::write(&calibration, ok(&out)).unwrap();
        Setup {
            dir,
            config,
            calibration,
            cand_fp,
            old_fp,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn promote(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "promote",
            "--config",
            self.config.to_str().unwrap(),
            "--calibration",
            self.calibration.to_str().unwrap(),
        ];
        let out = self.path("promoted.toml");
        let out = out.to_str().unwrap().to_string();
        args.extend(["--out", &out]);
        args.extend(extra);
        titlesim(&args, None)
    }

    /// A burn-in log of a scenario of burnin.json, as the promoted configuration writes it.
    fn burn_in_log(&self, scenario: &str) -> PathBuf {
        let counts: serde_json::Map<String, Value> = refs()["scenarios"][scenario]["phases"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(p, v)| (p.clone(), v["counts"].clone()))
            .collect();
        let p = self.path(&format!("burn-in-{scenario}.jsonl"));
        write_log(
            &p,
            &Value::Object(counts),
            &["pp", "pf", "fp", "ff"],
            &|k| {
                let cand = if k.starts_with('p') { 0.85 } else { 0.70 };
                let old = if k.ends_with('p') { 0.80 } else { 0.60 };
                (
                    side("tiny-bert-cls", &self.cand_fp, 0.79, cand),
                    side("tiny-bert-mean", &self.old_fp, 0.70, old),
                )
            },
        );
        p
    }
}

fn burn_in(args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["burn-in"];
    a.extend(args);
    let out = titlesim(&a, None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        stderr,
    )
}

#[test]
fn promote_then_burn_in_decides_with_exit_codes_0_1_2() {
    let s = Setup::new();
    let out = ok(&s.promote(&["--log", "burn-in.jsonl"]));
    assert!(out.contains("promoted") && out.contains("at 0.79"), "{out}");
    let promoted = std::fs::read_to_string(s.path("promoted.toml")).unwrap();
    // provenance on top, then the document with the bodies swapped and its comments kept
    assert!(promoted.starts_with("# titlesim promote, "), "{promoted}");
    let sha = promoted.split("sha256 ").nth(1).unwrap();
    assert!(
        sha[..64].bytes().all(|b| b.is_ascii_hexdigit()),
        "{promoted}"
    );
    assert!(promoted.contains("# phase race: 600 pairs, agreement 93.3%, pass rate 43.3% at 0.79"));
    let body = promoted.split("\n\n# scoring models\n").nth(1).unwrap();
    let cls = fixture("tiny-bert-cls").display().to_string();
    let mean = fixture("tiny-bert-mean").display().to_string();
    assert_eq!(
        body,
        format!("[canonical]            # the model whose verdicts count\nmodel = {cls:?}\nthreshold = 0.79       # calibrated: the calibration's compromise (was 0.95)\n\n[shadow]               # the candidate\nmodel = {mean:?}\nthreshold = 0.70\n\n[shadow_options]\nlog = \"burn-in.jsonl\"  # the burn-in log\n")
    );
    // the promoted configuration loads: score a pair with it
    let exp_path = s.path("promoted.expectation.json");
    let exp: Value = serde_json::from_str(&std::fs::read_to_string(&exp_path).unwrap()).unwrap();
    assert_eq!(exp["canonical"]["fingerprint"], json!(s.cand_fp));
    assert_eq!(exp["shadow"]["fingerprint"], json!(s.old_fp));
    assert_eq!(exp["phases"]["race"]["pass_rate"]["k"], 260);
    assert_eq!(exp["phases"]["qualifying"]["agreement"]["n"], 500);
    let e = exp_path.to_str().unwrap();

    let m = s.burn_in_log("match");
    let (code, text, _) = burn_in(&["--expect", e, m.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("decision: promote (exit 0)"), "{text}");

    let f = s.burn_in_log("few");
    let (code, text, _) = burn_in(&["--expect", e, f.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("phase race: keep watching — 120 pairs so far, no drift shown; 517 pairs needed to tell a drift of 10 points in pass rate at 80% power (397 more)"), "{text}");

    let d = s.burn_in_log("drift_race");
    let report = s.path("report");
    let (code, json_text, stderr) = burn_in(&[
        "--expect",
        e,
        d.to_str().unwrap(),
        "--json",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{json_text}{stderr}");
    let j: Value = serde_json::from_str(&json_text).expect("stdout is one JSON document");
    assert_eq!(j["decision"], "roll-back");
    assert_eq!(j["exit_code"], 2);
    assert_eq!(j["phases"]["race"]["decision"], "roll-back");
    assert_eq!(j["phases"]["qualifying"]["decision"], "promote");
    let why = j["phases"]["race"]["reason"].as_str().unwrap();
    assert!(why.starts_with("phase race: roll back — pass rate measured 30.0% (360/1200) against the expected 43.3%"), "{why}");
    assert!(why.contains("two-proportion z-test z = 5.61"), "{why}");
    for f in ["pass_rate.svg", "pass_rate.png", "burn_in.json"] {
        assert!(report.join(f).is_file(), "{f}");
    }

    // A report that cannot be written (a file where its folder should be) leaves the decision's
    // exit code alone: it was exit 3, an error, after "decision: roll-back (exit 2)".
    let blocked = s.path("blocked");
    std::fs::write(&blocked, "a file").unwrap();
    let (code, text, stderr) = burn_in(&[
        "--expect",
        e,
        d.to_str().unwrap(),
        "--report",
        blocked.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{text}{stderr}");
    assert!(text.contains("decision: roll-back (exit 2)"), "{text}");
    assert!(
        text.contains("next: roll back: put the configuration in force before the promotion back, whose [canonical] is "),
        "{text}"
    );
    assert!(
        stderr.contains("warning: the report was not written into"),
        "{stderr}"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_burn_in_report_that_fails_half_way_leaves_the_earlier_one_whole() {
    // The three files were written one by one over the earlier ones: a write failing half way
    // left the earlier burn_in.json, saying "promote", beside a new pass_rate.svg.
    let s = Setup::new();
    ok(&s.promote(&["--log", "burn-in.jsonl"]));
    let e = s.path("promoted.expectation.json");
    let report = s.path("report");
    let (e, rep) = (e.to_str().unwrap(), report.to_str().unwrap());
    let m = s.burn_in_log("match");
    let (code, text, _) = burn_in(&["--expect", e, m.to_str().unwrap(), "--report", rep]);
    assert_eq!(code, 0, "{text}");
    let before = snapshot(&report);
    assert_eq!(before.len(), 3, "{:?}", before.keys());
    // a later run, under a file size limit the PNG does not fit (SIGXFSZ ignored: EFBIG)
    let few = s.burn_in_log("few");
    let out = titlesim_with_file_limit(
        40,
        &[
            "burn-in",
            "--expect",
            e,
            few.to_str().unwrap(),
            "--report",
            rep,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "keep-watching: {stderr}");
    assert!(
        stderr.contains(&format!("warning: the report was not written into {rep}"))
            && stderr.contains(&format!(
                "the report folder {rep} was left as it was; the decision above stands"
            )),
        "{stderr}"
    );
    assert_eq!(snapshot(&report), before, "the earlier report changed");
    let j: Value =
        serde_json::from_slice(&std::fs::read(report.join("burn_in.json")).unwrap()).unwrap();
    assert_eq!(j["decision"], "promote");
}

#[test]
fn promote_refuses_a_copied_threshold_and_force_records_why() {
    let s = Setup::new();
    let e = fails(&s.promote(&["--threshold", "0.95"]));
    assert!(e.contains("promotion refused"), "{e}");
    assert!(
        e.contains("floor: at t = 0.95 agreement falls below the 78% floor"),
        "{e}"
    );
    assert!(
        e.contains("far-tail: all phases: t = 0.95 is above the 95th percentile"),
        "{e}"
    );
    assert!(
        e.contains("pass with --force") || e.contains("pass --force"),
        "{e}"
    );
    assert!(
        !s.path("promoted.toml").exists(),
        "nothing written on refusal"
    );

    let out = s.promote(&[
        "--threshold",
        "0.95",
        "--force",
        "--expectation",
        s.path("e/x.json").to_str().unwrap(),
    ]);
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: forced past floor"), "{stderr}");
    let promoted = std::fs::read_to_string(s.path("promoted.toml")).unwrap();
    assert!(
        promoted.contains("# FORCED past floor: at t = 0.95"),
        "{promoted}"
    );
    let exp: Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("e/x.json")).unwrap()).unwrap();
    assert!(exp["forced"].as_array().unwrap().len() >= 3);
}

#[test]
fn promote_refuses_a_calibration_of_another_model() {
    let s = Setup::new();
    // the configuration's [shadow] is now tiny-bert-mean; the logs calibrated tiny-bert-cls
    let text = std::fs::read_to_string(&s.config).unwrap().replace(
        &format!(
            "{:?}\nthreshold = 0.95",
            fixture("tiny-bert-cls").display().to_string()
        ),
        &format!(
            "{:?}\nthreshold = 0.95",
            fixture("tiny-bert-mean").display().to_string()
        ),
    );
    std::fs::write(&s.config, text).unwrap();
    let e = fails(&s.promote(&[]));
    assert!(e.contains(&format!("fingerprint: the calibration was made with shadow model fingerprint(s) {} but the configuration's [shadow] model has {}", s.cand_fp, s.old_fp)), "{e}");
}

/// The configuration's [canonical] must be the canonical side the logs were calibrated
/// against, model and threshold: else the expectation describes other verdicts, and the
/// burn-in of a swap that behaves as calibrated would roll back or stop.
#[test]
fn promote_refuses_another_canonical_side_than_the_calibrations() {
    let s = Setup::new();
    let text = std::fs::read_to_string(&s.config).unwrap();
    // The threshold changed after the logs were written.
    let moved = text.replacen("threshold = 0.70", "threshold = 0.75", 1);
    std::fs::write(&s.config, &moved).unwrap();
    let e = fails(&s.promote(&[]));
    assert!(e.contains("canonical: the calibration judged agreement against the canonical threshold 0.7 but the configuration's [canonical] threshold is 0.75"), "{e}");
    assert!(e.contains("--canon-threshold 0.75"), "{e}");
    // Another model: its threshold is not the question, and no --canon-threshold is advised.
    let other = moved.replacen(
        &format!("{:?}", fixture("tiny-bert-mean").display().to_string()),
        &format!("{:?}", fixture("tiny-qwen3").display().to_string()),
        1,
    );
    std::fs::write(&s.config, other).unwrap();
    let e = fails(&s.promote(&[]));
    assert!(e.contains(&format!("canonical: the calibration's logs had canonical model fingerprint(s) {} but the configuration's [canonical] model has ts1-", s.old_fp)), "{e}");
    assert!(!e.contains("--canon-threshold"), "{e}");
    // Promoted already (in place), then promoted again with the same calibration: said so.
    std::fs::write(&s.config, &text).unwrap();
    let c = s.config.to_str().unwrap().to_string();
    let mut args = vec!["promote", "--config", &c, "--calibration"];
    let cal = s.calibration.to_str().unwrap().to_string();
    args.extend([cal.as_str(), "--threshold", "0.73", "--out", &c]);
    ok(&titlesim(
        &[args.as_slice(), &["--log", "burn-in.jsonl"]].concat(),
        None,
    ));
    let e = fails(&titlesim(&args, None));
    assert!(
        e.contains(&format!("canonical: the configuration's [canonical] model ({}) is the candidate these logs calibrated: this configuration is promoted already", s.cand_fp)),
        "{e}"
    );
}

/// The burn-in log must start empty: promoting with the log of the models before the swap
/// (no --log) or with a --log that already holds records warns, as serve, Python and
/// `titlesim shadow` would refuse to add the promoted models' records to it.
#[test]
fn promote_warns_when_the_burn_in_log_already_holds_records() {
    let s = Setup::new();
    let out = s.promote(&["--threshold", "0.73"]);
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{e}");
    assert!(
        e.contains(&format!(
            "warning: the burn-in log {} already holds records",
            s.path("shadow.jsonl").display()
        )) && e.contains("--log NEW"),
        "{e}"
    );
    let out = s.promote(&["--threshold", "0.73", "--log", "burn-in.jsonl"]);
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success() && !e.contains("already holds records"),
        "{e}"
    );
}

#[test]
fn bad_inputs_are_clear_errors_and_burn_in_errors_exit_3() {
    let s = Setup::new();
    // a calibration that is not one
    std::fs::write(s.path("bad.json"), "{\"phases\": []}").unwrap();
    let e = fails(&titlesim(
        &[
            "promote",
            "--config",
            s.config.to_str().unwrap(),
            "--calibration",
            s.path("bad.json").to_str().unwrap(),
            "--out",
            s.path("o.toml").to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("bad.json: not a calibration document"), "{e}");
    // a configuration without a candidate
    std::fs::write(
        s.path("one.toml"),
        "[canonical]\nmodel = \"m\"\nthreshold = 0.7\n",
    )
    .unwrap();
    let e = fails(&titlesim(
        &[
            "promote",
            "--config",
            s.path("one.toml").to_str().unwrap(),
            "--calibration",
            s.calibration.to_str().unwrap(),
            "--out",
            s.path("o.toml").to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("no [shadow] table"), "{e}");

    ok(&s.promote(&[]));
    let e = s.path("promoted.expectation.json");
    // a missing expectation, an unknown flag, and logs written before the promotion: exit 3
    let (code, _, err) = burn_in(&["--expect", s.path("none.json").to_str().unwrap(), "x.jsonl"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("none.json"), "{err}");
    let (code, _, err) = burn_in(&["--expect", e.to_str().unwrap(), "--bogus", "x.jsonl"]);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = burn_in(&[
        "--expect",
        e.to_str().unwrap(),
        s.path("shadow.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("shadow.jsonl:1: pair p0") && err.contains("is not the promoted model's"),
        "{err}"
    );
    let (code, _, err) = burn_in(&[
        "--expect",
        e.to_str().unwrap(),
        "--power",
        "2",
        s.path("shadow.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("power 2 is not in (0, 1)"), "{err}");
}

#[test]
fn a_promotion_that_cannot_write_its_expectation_writes_nothing() {
    // The configuration used to be written first: with the expectation's write failing, the
    // new configuration went live beside no expectation (or the previous promotion's).
    let s = Setup::new();
    let blocked = s.path("taken");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("x"), "").unwrap();
    let out = s.promote(&["--expectation", blocked.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("cannot write") && stderr.contains("taken"),
        "{stderr}"
    );
    assert!(
        !s.path("promoted.toml").exists(),
        "the configuration was written without its expectation"
    );
    let left: Vec<String> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".tmp") || n.ends_with(".old"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // The same promotion to a path it can write succeeds, and leaves no staging files either.
    ok(&s.promote(&["--log", "burn-in.jsonl"]));
    assert!(s.path("promoted.toml").exists() && s.path("promoted.expectation.json").exists());
}

/// `titlesim promote --config C --calibration CAL` with `args` after them.
fn promote_with(s: &Setup, args: &[&str]) -> std::process::Output {
    let mut a = vec![
        "promote",
        "--config",
        s.config.to_str().unwrap(),
        "--calibration",
        s.calibration.to_str().unwrap(),
    ];
    a.extend(args);
    titlesim(&a, None)
}

#[test]
fn promote_refuses_targets_that_are_folders_the_same_file_or_an_input() {
    // `--out` naming a folder overwrote the previous expectation and then failed on the
    // configuration; `--out X --expectation X` wrote X; `--expectation` naming the
    // configuration or the calibration overwrote it, exit 0.
    let s = Setup::new();
    let p = |n: &str| s.path(n).to_str().unwrap().to_string();
    std::fs::create_dir(s.path("promoted_dir")).unwrap();
    std::fs::write(s.path("old.expectation.json"), "the expectation in force").unwrap();
    std::fs::write(s.path("review.csv"), "a review").unwrap();
    let inputs = [
        "titlesim.toml",
        "calibration.json",
        "review.csv",
        "old.expectation.json",
    ];
    let before: Vec<Vec<u8>> = inputs
        .iter()
        .map(|n| std::fs::read(s.path(n)).unwrap())
        .collect();
    let review = p("review.csv");
    for (args, want) in [
        (
            vec![
                "--out",
                &p("promoted_dir"),
                "--expectation",
                &p("old.expectation.json"),
            ],
            format!(
                "cannot write the promoted configuration to {} (--out): it is a folder",
                p("promoted_dir")
            ),
        ),
        (
            vec!["--out", &p("same.toml"), "--expectation", &p("same.toml")],
            format!("--out and --expectation both name {}", p("same.toml")),
        ),
        (
            vec!["--out", &p("o.toml"), "--expectation", &p("titlesim.toml")],
            format!("--expectation {} is the --config file", p("titlesim.toml")),
        ),
        (
            vec![
                "--out",
                &p("o.toml"),
                "--expectation",
                &p("calibration.json"),
            ],
            format!(
                "--expectation {} is the --calibration file",
                p("calibration.json")
            ),
        ),
        (
            vec!["--out", &p("calibration.json")],
            format!("--out {} is the --calibration file", p("calibration.json")),
        ),
        (
            vec!["--out", &review, "--review", &review],
            format!("--out {review} is the --review file"),
        ),
    ] {
        let e = fails(&promote_with(&s, &args));
        assert!(
            e.contains(&want) && e.contains("(nothing was written)"),
            "{args:?}: {e}"
        );
        for (n, b) in inputs.iter().zip(&before) {
            assert_eq!(
                &std::fs::read(s.path(n)).unwrap(),
                b,
                "{n} changed: {args:?}"
            );
        }
        assert!(!s.path("same.toml").exists() && !s.path("o.toml").exists());
    }
}

#[test]
#[cfg(unix)]
fn promoting_in_place_over_a_symlinked_configuration_keeps_the_link_and_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let s = Setup::new();
    let real = s.path("real.toml");
    std::fs::rename(&s.config, &real).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&real, &s.config).unwrap();
    let c = s.config.to_str().unwrap();
    ok(&promote_with(&s, &["--out", c, "--log", "burn-in.jsonl"]));
    assert!(std::fs::symlink_metadata(&s.config)
        .unwrap()
        .file_type()
        .is_symlink());
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(text.starts_with("# titlesim promote, "), "{text}");
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(s.path("titlesim.expectation.json").is_file());
}
