//! The JSONL log and the CloudWatch EMF lines.

use std::time::Duration;

use titlesim_log::read_log;
use titlesim_shadow::{check_log_models, FsyncPolicy};
use titlesim_shadow::{
    emf_object, EmfSink, JsonlSink, RecordSink, ResumeState, Sampler, ShadowScorer, ShadowSettings,
};
use titlesim_test_support::{pairs, scorer, Fake, Mode};

async fn log_run(
    path: &std::path::Path,
    all: &[titlesim_core::Pair],
    shadow_mode: Mode,
    rate: f64,
) {
    let (sink, _) = JsonlSink::open(path, FsyncPolicy::Batch).unwrap();
    let s = ShadowScorer::new(
        scorer(&Fake::new("canon", 16, Mode::Good), 0.8),
        Some(scorer(&Fake::new("cand", 12, shadow_mode), 0.6)),
        ShadowSettings {
            sampler: Sampler::new(rate, ""),
            timeout_per_pair: Duration::from_millis(2000),
        },
        vec![Box::new(sink)],
    )
    .unwrap();
    for b in all.chunks(9) {
        s.score_batch(b).await.unwrap();
    }
    let r = s.finish().await.unwrap();
    assert_eq!(
        r.sinks[0].records_written as usize,
        all.len(),
        "{:?}",
        r.sinks
    );
}

#[tokio::test]
async fn the_jsonl_log_reads_back_and_survives_a_torn_tail() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("logs/shadow.jsonl");
    let all = pairs(50);
    log_run(&path, &all[..30], Mode::Good, 1.0).await;
    let log = read_log(&path).unwrap();
    assert_eq!(log.records.len(), 30);
    assert!(log.skipped.is_empty());
    // A crash mid-write leaves a torn last line: readers skip and report it ...
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, &last.as_bytes()[..last.len() / 2]).unwrap();
    drop(f);
    let log = read_log(&path).unwrap();
    assert_eq!((log.records.len(), log.skipped.len()), (30, 1));
    assert!(log.skipped[0].reason.contains("torn"));
    // ... and the sink cuts it off before appending, so no record is lost or fused.
    let (sink, cut) = JsonlSink::open(&path, FsyncPolicy::Never).unwrap();
    assert_eq!(cut as usize, last.len() / 2);
    drop(sink);
    log_run(&path, &all[30..], Mode::Good, 1.0).await;
    let log = read_log(&path).unwrap();
    assert_eq!(log.records.len(), 50);
    assert!(log.skipped.is_empty(), "{:?}", log.skipped);
    for (r, p) in log.records.iter().zip(&all) {
        assert_eq!(r.pair_id, p.id);
        assert_eq!(r.schema, 1);
        assert!(
            titlesim_log::time::parse_rfc3339_ms(&r.ts).is_some(),
            "{}",
            r.ts
        );
    }
}

/// A log whose last record is whole but lacks its newline (filtered by hand with Python's
/// `"\n".join(...)`): readers count that record, so the sink keeps it and ends its line
/// before appending, instead of cutting it off as torn.
#[tokio::test]
async fn a_whole_last_record_without_its_newline_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow.jsonl");
    let all = pairs(6);
    log_run(&path, &all[..4], Mode::Good, 1.0).await;
    let full = std::fs::read(&path).unwrap();
    assert_eq!(full.last(), Some(&b'\n'));
    std::fs::write(&path, &full[..full.len() - 1]).unwrap();
    assert_eq!(read_log(&path).unwrap().records.len(), 4);
    let (sink, cut) = JsonlSink::open(&path, FsyncPolicy::Never).unwrap();
    assert_eq!(cut, 0, "a whole record was cut off as torn");
    drop(sink);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        full,
        "its newline was not added back"
    );
    log_run(&path, &all[4..], Mode::Good, 1.0).await;
    let log = read_log(&path).unwrap();
    assert!(log.skipped.is_empty(), "{:?}", log.skipped);
    let ids: Vec<&str> = log.records.iter().map(|r| r.pair_id.as_str()).collect();
    let want: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn resume_state_knows_the_done_pairs_and_refuses_other_models() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("shadow.jsonl");
    let all = pairs(20);
    log_run(&path, &all[..12], Mode::Good, 1.0).await;
    let canon = scorer(&Fake::new("canon", 16, Mode::Good), 0.8);
    let cand = scorer(&Fake::new("cand", 12, Mode::Good), 0.6);
    let st = ResumeState::load(&path, &canon, Some(&cand)).unwrap();
    assert_eq!(st.done.len(), 12);
    assert!(st.done.contains_key("p11") && !st.done.contains_key("p12"));
    // Another canonical model, another threshold, another shadow: refused.
    let other = scorer(&Fake::new("other", 16, Mode::Good), 0.8);
    let e = ResumeState::load(&path, &other, Some(&cand))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ts1-fake-other-16") && e.contains("ts1-fake-canon-16"),
        "{e}"
    );
    let moved = scorer(&Fake::new("canon", 16, Mode::Good), 0.75);
    assert!(ResumeState::load(&path, &moved, Some(&cand)).is_err());
    let e = ResumeState::load(&path, &canon, Some(&other))
        .unwrap_err()
        .to_string();
    assert!(e.contains("shadowed by"), "{e}");
    // The same models on another backend (cosines that differ in the last bits): refused.
    let text = std::fs::read_to_string(&path).unwrap();
    for (n, (from, side)) in [
        ("\"backend\":\"fake\"", "canonical"),
        (
            "\"backend\":\"fake\",\"fingerprint\":\"ts1-fake-cand",
            "shadow",
        ),
    ]
    .iter()
    .enumerate()
    {
        let moved = d.path().join(format!("moved{n}.jsonl"));
        let to = from.replace("fake\"", "tract\"");
        let edited = if n == 0 {
            text.replacen(from, &to, 1)
        } else {
            text.replace(from, &to)
        };
        assert_ne!(edited, text);
        std::fs::write(&moved, edited).unwrap();
        let e = ResumeState::load(&moved, &canon, Some(&cand))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("by the {side} model on backend tract"))
                && e.contains("runs it on fake"),
            "{e}"
        );
    }
    // No log yet: nothing done.
    let st = ResumeState::load(&d.path().join("none.jsonl"), &canon, None).unwrap();
    assert!(st.done.is_empty());
}

/// A service or Python scorer appends to its log: one started on the log a previous
/// configuration wrote (a promotion that kept the path) is refused by its last record.
#[tokio::test]
async fn appending_to_the_log_of_other_models_is_refused_by_its_last_record() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("shadow.jsonl");
    let canon = scorer(&Fake::new("canon", 16, Mode::Good), 0.8);
    let cand = scorer(&Fake::new("cand", 12, Mode::Good), 0.6);
    // No log, an empty log: nothing to compare with.
    check_log_models(&path, &cand, Some(&canon)).unwrap();
    std::fs::write(&path, "").unwrap();
    check_log_models(&path, &cand, Some(&canon)).unwrap();
    log_run(&path, &pairs(5), Mode::Good, 1.0).await;
    // The models that wrote it, with the shadow on or off (or failed to load): fine.
    check_log_models(&path, &canon, Some(&cand)).unwrap();
    check_log_models(&path, &canon, None).unwrap();
    // Swapped (a promotion that kept the log), or another threshold: refused, naming both.
    let e = check_log_models(&path, &cand, Some(&canon))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pair `p4` was scored by canonical model")
            && e.contains("ts1-fake-canon-16")
            && e.contains("ts1-fake-cand-12")
            && e.contains("one log never mixes two models")
            && e.contains("titlesim promote --log NEW"),
        "{e}"
    );
    let moved = scorer(&Fake::new("cand", 12, Mode::Good), 0.7);
    assert!(check_log_models(&path, &canon, Some(&moved)).is_err());
    // The last record not shadowed (a sample_rate below 1), then blank lines: the shadow is
    // checked on the last record that has a shadow side.
    let text = std::fs::read_to_string(&path).unwrap();
    let mut last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["pair_id"] = "p5".into();
    last.as_object_mut().unwrap().remove("shadow");
    std::fs::write(&path, format!("{text}{last}\n\n")).unwrap();
    check_log_models(&path, &canon, Some(&cand)).unwrap();
    let e = check_log_models(&path, &canon, Some(&moved))
        .unwrap_err()
        .to_string();
    assert!(e.contains("pair `p4` was shadowed by model"), "{e}");
    let e = check_log_models(&path, &cand, Some(&canon))
        .unwrap_err()
        .to_string();
    assert!(e.contains("pair `p5` was scored by canonical model"), "{e}");
    // Only the last complete record counts: a torn line after it is not a record.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut f, b"{\"schema\":1,\"ts\":").unwrap();
    assert!(check_log_models(&path, &cand, Some(&canon)).is_err());
    check_log_models(&path, &canon, Some(&cand)).unwrap();
}

#[tokio::test]
async fn resume_reuses_a_record_only_for_the_same_pair() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("log.jsonl");
    let all = pairs(12);
    log_run(&path, &all, Mode::Good, 1.0).await;
    let canon = scorer(&Fake::new("canon", 16, Mode::Good), 0.8);
    let st = ResumeState::load(&path, &canon, None).unwrap();
    // The same pairs (and more): fine.
    st.check_pairs(&pairs(20)).unwrap();
    assert!(st.get(&all[3]).is_some());
    // The same ids with other titles, phase or label: refused, naming the ids and the field.
    let mut changed = all.clone();
    changed[2].product.push_str(" (refurbished)");
    changed[5].gt = "something else".into();
    changed[7].phase = Some("final".into());
    changed[8].label = Some(1 - changed[8].label.unwrap_or(0));
    let e = st.check_pairs(&changed).unwrap_err().to_string();
    assert!(e.contains("4 pair id(s)"), "{e}");
    assert!(e.contains("`p2` (product logged"), "{e}");
    assert!(e.contains("`p5` (gt logged"), "{e}");
    assert!(e.contains("`p7` (phase logged"), "{e}");
    assert!(e.contains("and 1 more"), "{e}");
    assert!(e.contains("write to another log"), "{e}");
}

#[test]
fn a_second_writer_of_a_log_is_refused_while_the_first_holds_it() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("log.jsonl");
    let (first, _) = JsonlSink::open(&path, FsyncPolicy::Never).unwrap();
    let e = JsonlSink::open(&path, FsyncPolicy::Never).unwrap_err();
    assert!(
        matches!(
            &e,
            titlesim_shadow::Error::Core(titlesim_core::Error::Locked { path: p, .. }) if *p == path
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("another titlesim process is writing this shadow log"),
        "{e}"
    );
    drop(first);
    JsonlSink::open(&path, FsyncPolicy::Never).unwrap();
}

#[tokio::test]
async fn an_emf_file_is_locked_and_a_torn_last_line_is_cut_before_appending() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log.jsonl");
    log_run(&log, &pairs(3), Mode::Good, 1.0).await;
    let records = read_log(&log).unwrap().records;
    let emf = d.path().join("emf.jsonl");
    // A complete line, then one torn by a crash mid-write.
    let torn = "{\"_aws\":{\"Timestamp\":1";
    std::fs::write(&emf, format!("{{\"kept\":1}}\n{torn}")).unwrap();
    let (mut sink, cut) = EmfSink::file(&emf, "n").unwrap();
    assert_eq!(cut, torn.len() as u64);
    let e = EmfSink::file(&emf, "n").unwrap_err().to_string();
    assert!(
        e.contains("another titlesim process is writing this EMF output"),
        "{e}"
    );
    sink.write_batch(&records).unwrap();
    sink.close().unwrap();
    drop(sink);
    let text = std::fs::read_to_string(&emf).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1 + records.len());
    assert_eq!(lines[0]["kept"], 1);
    for (v, r) in lines[1..].iter().zip(&records) {
        assert_eq!(v["pair_id"], r.pair_id);
    }
    // Unlocked once dropped: a later run appends after the new lines.
    let (_again, cut) = EmfSink::file(&emf, "n").unwrap();
    assert_eq!(cut, 0);
}

#[tokio::test]
async fn emf_lines_carry_the_dual_cosine_with_phase_and_model_dimensions() {
    let d = tempfile::tempdir().unwrap();
    let all = pairs(40);
    // One run with a good shadow at rate 0.5, one with a failing shadow.
    let path = d.path().join("log.jsonl");
    log_run(&path, &all[..20], Mode::Good, 0.5).await;
    log_run(&path, &all[20..], Mode::Fail, 1.0).await;
    let records = read_log(&path).unwrap().records;
    let emf_path = d.path().join("emf/metrics.jsonl");
    let (mut sink, cut) = EmfSink::file(&emf_path, "titlesim/test").unwrap();
    assert_eq!(cut, 0);
    sink.write_batch(&records).unwrap();
    sink.close().unwrap();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&emf_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 40);
    let mut kinds = [0; 3];
    for (v, r) in lines.iter().zip(&records) {
        let aws = &v["_aws"];
        let ts = titlesim_log::time::parse_rfc3339_ms(&r.ts).unwrap();
        assert_eq!(aws["Timestamp"].as_i64().unwrap(), ts);
        let cw = &aws["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "titlesim/test");
        // Every declared dimension and metric is present at the root (EMF's rule).
        for set in cw["Dimensions"].as_array().unwrap() {
            for dim in set.as_array().unwrap() {
                assert!(v[dim.as_str().unwrap()].is_string(), "{dim} in {v}");
            }
        }
        let names: Vec<&str> = cw["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        for n in &names {
            assert!(v[*n].is_number(), "{n} in {v}");
        }
        assert_eq!(v["phase"], r.phase.clone().unwrap());
        assert_eq!(v["canonical_model"], "fake/canon");
        assert_eq!(v["pair_id"], r.pair_id);
        assert_eq!(
            v["CanonicalCosine"].as_f64().unwrap() as f32,
            r.canonical.cosine.unwrap()
        );
        match &r.shadow {
            None => {
                kinds[0] += 1;
                assert!(!names.contains(&"ShadowCosine"));
                assert_eq!(
                    cw["Dimensions"][1],
                    serde_json::json!(["phase", "canonical_model"])
                );
            }
            Some(s) if s.error.is_none() => {
                kinds[1] += 1;
                assert_eq!(
                    v["ShadowCosine"].as_f64().unwrap() as f32,
                    s.cosine.unwrap()
                );
                assert_eq!(v["shadow_model"], "fake/cand");
                assert_eq!(v["Agreement"], (s.pass == r.canonical.pass) as u8);
                assert_eq!(v["ShadowError"], 0);
                assert_eq!(
                    cw["Dimensions"][1],
                    serde_json::json!(["phase", "canonical_model", "shadow_model"])
                );
            }
            Some(_) => {
                kinds[2] += 1;
                assert_eq!(v["ShadowError"], 1);
                assert!(v["shadow_error"].as_str().unwrap().contains("boom"));
                assert!(!names.contains(&"ShadowCosine") && !names.contains(&"Agreement"));
            }
        }
    }
    assert!(kinds.iter().all(|&k| k > 0), "{kinds:?}");
    // A folder path becomes its last component; a hub id stays.
    let mut r = records[0].clone();
    r.canonical.model = "/work/models/all-MiniLM-L6-v2".into();
    assert_eq!(emf_object(&r, "n")["canonical_model"], "all-MiniLM-L6-v2");
    r.canonical.model = "demo/../models/paraphrase-MiniLM-L3-v2/".into();
    assert_eq!(
        emf_object(&r, "n")["canonical_model"],
        "paraphrase-MiniLM-L3-v2"
    );
    r.canonical.model = "BAAI/bge-small-en-v1.5".into();
    assert_eq!(
        emf_object(&r, "n")["canonical_model"],
        "BAAI/bge-small-en-v1.5"
    );
    // CloudWatch takes ASCII dimension values of at most 1,024 characters: other characters
    // are escaped (the text kept as `phase_text`), a long value is cut.
    r.phase = Some("qualifikation-ä".into());
    r.canonical.model = "/models/modèle".into();
    let o = emf_object(&r, "n");
    assert_eq!(o["phase"], "qualifikation-\\u{e4}");
    assert_eq!(o["phase_text"], "qualifikation-ä");
    assert_eq!(o["canonical_model"], "mod\\u{e8}le");
    r.phase = Some("é".repeat(1000));
    let o = emf_object(&r, "n");
    let dim = o["phase"].as_str().unwrap();
    assert!(
        dim.is_ascii() && dim.len() <= 1024 && dim.len() > 1000,
        "{}",
        dim.len()
    );
    r.phase = Some("race".into());
    let o = emf_object(&r, "n");
    assert_eq!(o["phase"], "race");
    assert!(o.get("phase_text").is_none());
    // No phase is `(none)`, as calibrate names it: not one metric with a phase named `none`.
    r.phase = None;
    assert_eq!(emf_object(&r, "n")["phase"], "(none)");
    r.phase = Some("none".into());
    assert_eq!(emf_object(&r, "n")["phase"], "none");
}

#[tokio::test]
async fn a_failing_write_is_rolled_back() {
    // /dev/full accepts opens and fails every write: the sink reports, nothing panics.
    let p = std::path::Path::new("/dev/full");
    if !p.exists() {
        return;
    }
    let (mut sink, cut) = EmfSink::file(p, "n").unwrap();
    assert_eq!(cut, 0, "a device is written as it is, never cut");
    let all = pairs(3);
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("l.jsonl");
    log_run(&path, &all, Mode::Good, 1.0).await;
    let records = read_log(&path).unwrap().records;
    let e = sink.write_batch(&records).unwrap_err().to_string();
    assert!(e.contains("/dev/full"), "{e}");
}

/// Records of `n` pairs, as a shadow run logs them.
async fn records(n: usize) -> Vec<titlesim_log::ShadowRecord> {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("l.jsonl");
    log_run(&path, &pairs(n), Mode::Good, 1.0).await;
    read_log(&path).unwrap().records
}

/// The pair ids of the records in the log at `path`.
fn ids_in(path: &std::path::Path) -> Vec<String> {
    let log = read_log(path).unwrap();
    assert!(log.skipped.is_empty(), "{:?}", log.skipped);
    log.records.into_iter().map(|r| r.pair_id).collect()
}

/// logrotate's `create` mode renames the log and makes a new empty file; a log may also be
/// removed. Either way the next batch goes to the path (the file the agent reads), not to the
/// renamed or removed file, for the JSONL log and the EMF file alike.
#[cfg(unix)]
#[tokio::test]
async fn a_log_moved_or_removed_while_written_is_opened_again_at_its_path() {
    let rs = records(6).await;
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let emf = d.path().join("metrics.emf");
    let (mut sink, _) = JsonlSink::open(&log, FsyncPolicy::Never).unwrap();
    let (mut metrics, _) = EmfSink::file(&emf, "n").unwrap();
    let ids: Vec<String> = rs.iter().map(|r| r.pair_id.clone()).collect();
    sink.write_batch(&rs[..2]).unwrap();
    metrics.write_batch(&rs[..2]).unwrap();
    // Rotated: renamed, and a new empty file made in its place.
    let (log1, emf1) = (
        d.path().join("shadow.jsonl.1"),
        d.path().join("metrics.emf.1"),
    );
    std::fs::rename(&log, &log1).unwrap();
    std::fs::rename(&emf, &emf1).unwrap();
    std::fs::write(&log, "").unwrap();
    sink.write_batch(&rs[2..4]).unwrap();
    metrics.write_batch(&rs[2..4]).unwrap();
    assert_eq!(ids_in(&log1), ids[..2]);
    assert_eq!(ids_in(&log), ids[2..4]);
    let emf_lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!((emf_lines(&emf1), emf_lines(&emf)), (2, 2));
    assert_eq!((sink.reopened(), metrics.reopened()), (1, 1));
    // The new file is held as the old one was: a second writer is refused.
    assert!(JsonlSink::open(&log, FsyncPolicy::Never).is_err());
    // Removed: made again at the path.
    std::fs::remove_file(&log).unwrap();
    sink.write_batch(&rs[4..]).unwrap();
    assert_eq!(ids_in(&log), ids[4..]);
    assert_eq!(sink.reopened(), 2);
    // Left where it is, the file is not opened again.
    sink.write_batch(&rs[..1]).unwrap();
    assert_eq!(sink.reopened(), 2);
}

/// A write that fails after the log was truncated under the writer (logrotate's
/// `copytruncate`) is cut back to the file's length before that write: the rollback once
/// went to the length before the truncation, lengthening the file with NUL bytes or leaving
/// a partial line that the next record fused with. The failing write comes from a file size
/// limit, set in a child process (this test binary again) so that no other test has it.
#[cfg(unix)]
#[tokio::test]
async fn a_failed_write_after_copytruncate_is_cut_back_not_lengthened() {
    let d = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "copytruncate_then_a_failed_write",
            "--include-ignored",
            "--nocapture",
        ])
        .env("TITLESIM_TEST_DIR", d.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("1 passed"), "{said}");
}

/// The child of [`a_failed_write_after_copytruncate_is_cut_back_not_lengthened`].
#[cfg(unix)]
#[tokio::test]
#[ignore = "run by a_failed_write_after_copytruncate_is_cut_back_not_lengthened"]
async fn copytruncate_then_a_failed_write() {
    let Some(dir) = std::env::var_os("TITLESIM_TEST_DIR") else {
        return;
    };
    let rs = records(12).await;
    let log = std::path::Path::new(&dir).join("shadow.jsonl");
    let (mut sink, _) = JsonlSink::open(&log, FsyncPolicy::Never).unwrap();
    sink.write_batch(&rs[..6]).unwrap();
    let before = std::fs::metadata(&log).unwrap().len();
    // Files may grow to just under what was written so far, then a write fails (EFBIG).
    let limit = before - 100;
    // SAFETY: plain system calls on this process's own signal disposition and limits.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let rl = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &rl), 0);
    }
    // copytruncate: the agent's copy taken, the log cut to nothing under the writer.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    // Six records do not fit under the limit: the write fails part way.
    sink.write_batch(&rs[6..]).unwrap_err();
    let bytes = std::fs::read(&log).unwrap();
    assert!(!bytes.contains(&0), "NUL bytes in the log");
    assert!(
        bytes.is_empty(),
        "a partial batch was left: {} bytes",
        bytes.len()
    );
    // The next batch, which fits, reads back whole.
    sink.write_batch(&rs[6..7]).unwrap();
    assert_eq!(ids_in(&log), [rs[6].pair_id.clone()]);
}

/// EMF to a FIFO (a pipe an agent reads): refused at open while nobody reads it, and once its
/// reader is gone a write fails (the records counted as lost) instead of filling the pipe
/// and then waiting for ever, as when the sink held the FIFO open for reading itself.
#[cfg(unix)]
#[tokio::test]
async fn emf_to_a_fifo_needs_a_reader_and_fails_when_it_goes() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let rs = records(3).await;
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("emf.pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let e = EmfSink::file(&fifo, "n").unwrap_err().to_string();
    assert!(e.contains("no process is reading this FIFO"), "{e}");
    let open_reader = || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap()
    };
    let mut reader = open_reader();
    let (mut sink, cut) = EmfSink::file(&fifo, "n").unwrap();
    assert_eq!(cut, 0);
    sink.write_batch(&rs).unwrap();
    let mut got = String::new();
    reader.read_to_string(&mut got).ok();
    assert_eq!(got.lines().count(), rs.len(), "{got}");
    // More than a pipe holds (64 KiB) in one batch: the writes wait for the reader (blocking
    // again after the non-blocking open), whole lines arrive.
    let many: Vec<_> = rs.iter().cycle().take(400).cloned().collect();
    let slow = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if all.iter().filter(|&&b| b == b'\n').count() >= 400 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("{e}"),
            }
        }
        (reader, all)
    });
    sink.write_batch(&many).unwrap();
    let (reader, all) = slow.join().unwrap();
    assert!(all.len() > 65_536, "{}", all.len());
    let text = String::from_utf8(all).unwrap();
    assert_eq!(text.lines().count(), 400);
    assert!(text
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    // A shadow log is read back: a FIFO is refused for it, not written until it blocks.
    let e = JsonlSink::open(&fifo, FsyncPolicy::Never)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("is a FIFO: the shadow log must be a regular file"),
        "{e}"
    );
    drop(reader);
    let e = sink.write_batch(&rs).unwrap_err().to_string();
    assert!(
        e.contains("emf.pipe") && e.to_lowercase().contains("broken pipe"),
        "{e}"
    );
    // Still no reader: lost, and said so.
    let e = sink.write_batch(&rs).unwrap_err().to_string();
    assert!(e.contains("no process is reading this FIFO"), "{e}");
    // The reader is back (the agent restarted): the next batch goes to it.
    let mut reader = open_reader();
    sink.write_batch(&rs).unwrap();
    let mut got = String::new();
    reader.read_to_string(&mut got).ok();
    assert_eq!(got.lines().count(), rs.len(), "{got}");
    assert_eq!(sink.reopened(), 1);
}

/// The lost-records message names each file once: the error named it again
/// (`emf:/dev/full: 2 records not written (emf:/dev/full: No space left on device ...)`).
#[test]
fn lost_records_name_each_file_once() {
    use titlesim_shadow::{lost_records, SinkStatus};
    let st = |name: &str, error: &str| SinkStatus {
        name: name.into(),
        batches_failed: 1,
        records_failed: 2,
        last_error: Some(error.into()),
        ..Default::default()
    };
    let said = lost_records(&[
        st(
            "logs/s.jsonl",
            "logs/s.jsonl: No space left on device (os error 28)",
        ),
        st(
            "emf:/dev/full",
            "emf:/dev/full: No space left on device (os error 28)",
        ),
        st("emf:m.emf", "m.emf: File too large (os error 27)"),
        st("other", "closing: other: Broken pipe"),
    ])
    .unwrap();
    assert_eq!(
        said,
        "logs/s.jsonl: 2 records not written (No space left on device (os error 28)); \
         emf:/dev/full: 2 records not written (No space left on device (os error 28)); \
         emf:m.emf: 2 records not written (File too large (os error 27)); \
         other: 2 records not written (closing: other: Broken pipe)"
    );
    assert_eq!(lost_records(&[SinkStatus::default()]), None);
}
