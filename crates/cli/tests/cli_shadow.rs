//! `titlesim shadow` and `titlesim precompute` end to end on the tiny fixtures (candle):
//! cosines against the sentence-transformers references, one record per pair, SIGKILL and
//! `--resume`, the GT store, and configuration errors.
#![cfg(feature = "candle")]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use titlesim::{read_log, ShadowRecord};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `titlesim shadow -c CONFIG -p PAIRS --log LOG`.
fn shadow(config: &Path, pairs: &Path, log: &Path) -> std::process::Output {
    titlesim(
        &["shadow", "-c", s(config), "-p", s(pairs), "--log", s(log)],
        None,
    )
}

/// A threshold in the widest gap between the middle cosines, so no verdict is a rounding
/// question.
fn threshold_between(cosines: &[f64]) -> f32 {
    let mut c = cosines.to_vec();
    c.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = c.len();
    let (lo, hi) = (n / 4, 3 * n / 4);
    let i = (lo..hi)
        .max_by(|&i, &j| (c[i + 1] - c[i]).partial_cmp(&(c[j + 1] - c[j])).unwrap())
        .unwrap();
    assert!(c[i + 1] - c[i] > 1e-4, "no room for a threshold");
    ((c[i] + c[i + 1]) / 2.0) as f32
}

struct Case {
    dir: tempfile::TempDir,
    pairs: PathBuf,
    /// id → (phase, canonical reference cosine, shadow reference cosine)
    expected: HashMap<String, (String, f64, f64)>,
    ids: Vec<String>,
    t_canon: f32,
    t_shadow: f32,
}

/// Every ordered pair of distinct non-empty reference texts: tiny-bert-mean is canonical,
/// tiny-bert-cls the shadow, and both cosines are known from sentence-transformers.
fn case() -> Case {
    let mean = reference("tiny-bert-mean");
    let cls = reference("tiny-bert-cls");
    assert_eq!(mean.texts, cls.texts);
    let texts: Vec<usize> = (0..mean.texts.len())
        .filter(|&i| !mean.texts[i].is_empty())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,phase,product,gt,label\n");
    let mut expected = HashMap::new();
    let mut ids = Vec::new();
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for &a in &texts {
        for &b in &texts {
            if a == b {
                continue;
            }
            let id = format!("p{a}-{b}");
            let phase = if (a + b) % 3 == 0 {
                "qualifying"
            } else {
                "race"
            };
            csv += &format!(
                "{id},{phase},{},{},{}\n",
                q(&mean.texts[a]),
                q(&mean.texts[b]),
                (a + b) % 2
            );
            expected.insert(
                id.clone(),
                (
                    phase.to_string(),
                    cosine(&mean.embeddings[a], &mean.embeddings[b]),
                    cosine(&cls.embeddings[a], &cls.embeddings[b]),
                ),
            );
            ids.push(id);
        }
    }
    let pairs = dir.path().join("pairs.csv");
    std::fs::write(&pairs, csv).unwrap();
    let canon: Vec<f64> = expected.values().map(|e| e.1).collect();
    let shadow: Vec<f64> = expected.values().map(|e| e.2).collect();
    Case {
        t_canon: threshold_between(&canon),
        t_shadow: threshold_between(&shadow),
        dir,
        pairs,
        expected,
        ids,
    }
}

impl Case {
    /// tiny-bert-mean canonical, tiny-bert-cls shadow.
    fn config(&self, name: &str, canonical_extra: &str, rest: &str) -> PathBuf {
        self.config_with(
            name,
            ("tiny-bert-mean", self.t_canon),
            canonical_extra,
            ("tiny-bert-cls", self.t_shadow),
            rest,
        )
    }

    fn config_with(
        &self,
        name: &str,
        canonical: (&str, f32),
        canonical_extra: &str,
        shadow: (&str, f32),
        rest: &str,
    ) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(
            &p,
            format!(
                "[canonical]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = {}\nthreads = 1\nbatch_size = 8\n{canonical_extra}\n\
                 [shadow]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = {}\nthreads = 1\nbatch_size = 8\n{rest}",
                s(&fixture(canonical.0)),
                canonical.1,
                s(&fixture(shadow.0)),
                shadow.1
            ),
        )
        .unwrap();
        p
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// (id, cosine, threshold, pass) rows of CSV output.
fn rows(csv: &str) -> Vec<(String, f32, f32, bool)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("id,cosine,threshold,pass"));
    lines
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
        .collect()
}

fn check_records(c: &Case, records: &[ShadowRecord]) {
    assert_eq!(records.len(), c.ids.len());
    let ids: HashSet<&str> = records.iter().map(|r| r.pair_id.as_str()).collect();
    assert_eq!(ids.len(), c.ids.len(), "one record per pair");
    for r in records {
        let (phase, want_c, want_s) = &c.expected[&r.pair_id];
        assert_eq!(r.schema, 1);
        assert_eq!(r.phase.as_deref(), Some(phase.as_str()));
        let canon = &r.canonical;
        let cos = canon.cosine.unwrap() as f64;
        assert!(
            (cos - want_c).abs() < 1e-5,
            "{}: {cos} vs {want_c}",
            r.pair_id
        );
        assert_eq!(canon.pass, Some(*want_c >= c.t_canon as f64));
        assert_eq!(canon.threshold, c.t_canon);
        assert_eq!(canon.backend, "candle");
        assert!(canon.fingerprint.starts_with("ts1-"));
        let sh = r
            .shadow
            .as_ref()
            .expect("sample_rate 1: every pair shadowed");
        assert!(sh.error.is_none(), "{:?}", sh.error);
        let cos = sh.cosine.unwrap() as f64;
        assert!(
            (cos - want_s).abs() < 1e-5,
            "{}: {cos} vs {want_s}",
            r.pair_id
        );
        assert_eq!(sh.pass, Some(*want_s >= c.t_shadow as f64));
        assert_eq!(sh.threshold, c.t_shadow);
        assert_ne!(sh.fingerprint, canon.fingerprint);
    }
}

#[test]
fn shadow_prints_what_score_prints_and_logs_both_models() {
    let c = case();
    let config = c.config("c.toml", "", "");
    let log = c.path("logs/shadow.jsonl");
    let out = shadow(&config, &c.pairs, &log);
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let got = rows(&stdout);
    // The canonical results are those of `titlesim score` with the same config.
    let plain = rows(&ok(&titlesim(
        &["score", "--config", s(&config), "--pairs", s(&c.pairs)],
        None,
    )));
    assert_eq!(got.len(), c.ids.len());
    for (g, p) in got.iter().zip(&plain) {
        assert_eq!(g.0, p.0, "input order");
        assert!((g.1 - p.1).abs() < 1e-6, "{g:?} vs {p:?}");
        assert_eq!((g.2, g.3), (p.2, p.3));
    }
    for (g, id) in got.iter().zip(&c.ids) {
        assert_eq!(&g.0, id);
        assert!((g.1 as f64 - c.expected[id].1).abs() < 1e-5);
    }
    let log = read_log(&log).unwrap();
    assert!(log.skipped.is_empty());
    check_records(&c, &log.records);
    // Summary: agreement at the configured thresholds, per phase.
    let agree = log
        .records
        .iter()
        .filter(|r| r.canonical.pass == r.shadow.as_ref().unwrap().pass)
        .count();
    let pct = format!("{:.1}%", 100.0 * agree as f64 / log.records.len() as f64);
    assert!(stderr.contains(&pct), "no agreement {pct} in: {stderr}");
    assert!(
        stderr.contains("qualifying") && stderr.contains("race"),
        "{stderr}"
    );
    assert!(
        agree < log.records.len(),
        "the two models should disagree somewhere"
    );
}

#[test]
fn jsonl_output_phase_flag_sampling_emf_and_disabled_shadow() {
    let c = case();
    // JSONL pairs, one without a phase: --phase fills it in.
    let pairs = c.path("p.jsonl");
    std::fs::write(
        &pairs,
        "{\"id\": \"a\", \"product\": \"USB C Cable 2 Pack\", \"gt\": \"USB C Cable 4 Pack\"}\n\
         {\"id\": \"b\", \"phase\": \"qualifying\", \"product\": \"iPhone\", \"gt\": \"Apple iPhone 15 Pro 128GB Natural Titanium\"}\n",
    )
    .unwrap();
    let config = c.config(
        "c.toml",
        "",
        "[shadow_options]\nemf = \"stdout\"\nemf_namespace = \"titlesim/ci\"\n",
    );
    let log = c.path("l.jsonl");
    let results = c.path("r.jsonl");
    // EMF on stdout needs the results elsewhere.
    let e = fails(&shadow(&config, &pairs, &log));
    assert!(e.contains("--out"), "{e}");
    let out = ok(&titlesim(
        &[
            "shadow",
            "-c",
            s(&config),
            "-p",
            s(&pairs),
            "--log",
            s(&log),
            "--phase",
            " race ",
            "-f",
            "jsonl",
            "-o",
            s(&results),
        ],
        None,
    ));
    let emf: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(emf.len(), 2);
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "titlesim/ci"
    );
    // --phase is checked as a file's phases are (a record breaking the rules is skipped by the
    // log's readers: the run's pairs would drop out of calibrate, review and burn-in).
    for (bad, said) in [
        (
            "(none)",
            "`(none)` is a name calibration gives its own rows",
        ),
        (
            "ra\u{1b}ce",
            "holds the control character U+001B at character 3",
        ),
        ("   ", "the phase is blank"),
    ] {
        let e = fails(&titlesim(
            &[
                "shadow",
                "-c",
                s(&config),
                "-p",
                s(&pairs),
                "--log",
                s(&c.path("never.jsonl")),
                "--phase",
                bad,
            ],
            None,
        ));
        assert!(e.contains("--phase") && e.contains(said), "{bad:?}: {e}");
    }
    assert!(!c.path("never.jsonl").exists());
    assert_eq!(emf[0]["phase"], "race");
    assert_eq!(emf[1]["phase"], "qualifying");
    assert_eq!(emf[0]["canonical_model"], "tiny-bert-mean");
    assert_eq!(emf[0]["shadow_model"], "tiny-bert-cls");
    assert!(emf[0]["ShadowCosine"].is_number() && emf[0]["CanonicalCosine"].is_number());
    let res: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(res[0]["id"], "a");
    assert_eq!(res[1]["id"], "b");
    assert_eq!(
        res[0]["cosine"].as_f64().unwrap() as f32,
        emf[0]["CanonicalCosine"].as_f64().unwrap() as f32
    );
    let recs = read_log(&log).unwrap().records;
    assert_eq!(recs[0].phase.as_deref(), Some("race"));
    assert_eq!(recs[1].phase.as_deref(), Some("qualifying"));

    // Sampling: the same pairs are shadowed on every run, about the configured share.
    let sampled = c.config(
        "s.toml",
        "",
        "[shadow_options]\nsample_rate = 0.5\nsample_salt = \"ci\"\n",
    );
    let mut shadowed: Vec<HashSet<String>> = Vec::new();
    for k in 0..2 {
        let log = c.path(&format!("s{k}.jsonl"));
        ok(&shadow(&sampled, &c.pairs, &log));
        let recs = read_log(&log).unwrap().records;
        assert_eq!(recs.len(), c.ids.len());
        shadowed.push(
            recs.iter()
                .filter(|r| r.shadow.is_some())
                .map(|r| r.pair_id.clone())
                .collect(),
        );
    }
    assert_eq!(shadowed[0], shadowed[1]);
    let share = shadowed[0].len() as f64 / c.ids.len() as f64;
    assert!((0.35..0.65).contains(&share), "{share}");

    // Disabled: canonical-only records.
    let off = c.config("off.toml", "", "[shadow_options]\nenabled = false\n");
    let log = c.path("off.jsonl");
    let out = shadow(&off, &c.pairs, &log);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("enabled = false"));
    let recs = read_log(&log).unwrap().records;
    assert_eq!(recs.len(), c.ids.len());
    assert!(recs.iter().all(|r| r.shadow.is_none()));
}

/// Pairs enough for a run that lasts a while: every reference text against every other,
/// with a counter in the product title so few texts repeat.
fn many_pairs(path: &Path, n: usize) -> Vec<String> {
    let r = reference("tiny-bert-mean");
    let texts: Vec<&String> = r
        .texts
        .iter()
        .filter(|t| !t.is_empty() && t.len() < 100)
        .collect();
    let mut csv = String::from("id,phase,product,gt\n");
    let mut ids = Vec::with_capacity(n);
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for i in 0..n {
        let a = texts[i % texts.len()];
        let b = texts[(i / texts.len() + 1 + i) % texts.len()];
        let id = format!("k{i}");
        csv += &format!("{id},race,{},{}\n", q(&format!("{a} #{i}")), q(b));
        ids.push(id);
    }
    std::fs::write(path, csv).unwrap();
    ids
}

#[test]
fn sigkill_mid_run_then_resume_loses_and_duplicates_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let c = case();
    let config = c.config("k.toml", "", "[shadow_options]\nfsync = \"batch\"\n");
    let pairs = c.path("many.csv");
    let ids = many_pairs(&pairs, 20_000);
    let log = c.path("kill.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_titlesim"))
        .args([
            "shadow",
            "-c",
            s(&config),
            "-p",
            s(&pairs),
            "--log",
            s(&log),
            "--batch",
            "4",
            "-o",
            s(&c.path("first.csv")),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no cleanup at all) once it has logged a few hundred records.
    let t0 = Instant::now();
    loop {
        let lines = std::fs::read(&log)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0);
        if lines >= 300 {
            break;
        }
        if let Some(st) = child.try_wait().unwrap() {
            panic!("titlesim ended ({st}) before it could be killed: make the run longer");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no progress in the log"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(9), "killed mid-run, not finished: {st}");

    let first = read_log(&log).unwrap();
    assert!(
        first.records.len() >= 300 && first.records.len() < ids.len(),
        "{}",
        first.records.len()
    );
    assert!(first.skipped.len() <= 1, "{:?}", first.skipped);
    let text = std::fs::read(&log).unwrap();
    let complete_lines = text.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(
        first.records.len(),
        complete_lines,
        "every complete line is a record"
    );
    if let Some(sk) = first.skipped.first() {
        assert_eq!(
            sk.line as usize,
            complete_lines + 1,
            "only the last line may be torn"
        );
    } else {
        // The kill fell between two writes: make the last line torn as the worst case would.
        let last = text[..text.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, &text[last..last + (text.len() - last) / 2]).unwrap();
    }
    let ids_first: HashSet<String> = first.records.iter().map(|r| r.pair_id.clone()).collect();
    assert_eq!(
        ids_first.len(),
        first.records.len(),
        "no duplicates before the kill"
    );

    // Without --resume the existing log is refused.
    let e = fails(&shadow(&config, &pairs, &log));
    assert!(e.contains("--resume"), "{e}");

    let out = titlesim(
        &[
            "shadow",
            "-c",
            s(&config),
            "-p",
            s(&pairs),
            "--log",
            s(&log),
            "--resume",
            "--batch",
            "64",
        ],
        None,
    );
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} resumed from the log", first.records.len())),
        "{stderr}"
    );
    assert!(
        stderr.contains("torn"),
        "the torn line is reported: {stderr}"
    );
    // Every pair's canonical result is printed, resumed ones from the log.
    let printed = rows(&stdout);
    assert_eq!(printed.len(), ids.len());
    assert!(printed.iter().zip(&ids).all(|(r, id)| &r.0 == id));
    let done = read_log(&log).unwrap();
    assert!(
        done.skipped.is_empty(),
        "the torn line was cut off: {:?}",
        done.skipped
    );
    assert_eq!(done.records.len(), ids.len(), "the rest was completed");
    let all: HashSet<&str> = done.records.iter().map(|r| r.pair_id.as_str()).collect();
    assert_eq!(all.len(), ids.len(), "no duplicate records");
    assert!(ids.iter().all(|i| all.contains(i.as_str())));
    // The records that survived the kill are untouched, in front.
    assert_eq!(&done.records[..first.records.len()], &first.records[..]);
    for (r, p) in done
        .records
        .iter()
        .filter_map(|r| printed.iter().find(|p| p.0 == r.pair_id).map(|p| (r, p)))
        .take(500)
    {
        assert_eq!(r.canonical.cosine, Some(p.1));
    }
}

/// Runs `cmd`, sends it one `signal` (`INT`, `TERM`) once `started` holds, and waits for it to
/// end.
fn signal_once(mut cmd: Command, signal: &str, started: impl Fn() -> bool) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !started() {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("titlesim ended ({st}) before the signal: make the run longer");
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "no output started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait_with_output().unwrap()
}

/// A SIGINT the caller set to be ignored (`nohup`, a script's background job) stays ignored:
/// the run goes on to its end.
#[test]
fn an_ignored_sigint_stays_ignored() {
    let c = case();
    let config = c.config("n.toml", "", "");
    let pairs = c.path("many.csv");
    many_pairs(&pairs, 5_000);
    let log = c.path("n.jsonl");
    let out = c.path("n.csv");
    let script = format!(
        "trap '' INT; exec '{}' shadow -c '{}' -p '{}' --log '{}' --batch 4 -o '{}'",
        env!("CARGO_BIN_EXE_titlesim"),
        s(&config),
        s(&pairs),
        s(&log),
        s(&out)
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]);
    let done = signal_once(sh, "INT", || {
        std::fs::metadata(&log).map_or(0, |m| m.len()) > 0
    });
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{err}");
    assert!(!err.contains("interrupted"), "{err}");
    assert_eq!(read_log(&log).unwrap().records.len(), 5_000);
}

/// `kill` (or Ctrl-C) mid-run: the temporary file of `-o` goes (it was left as
/// `.NAME.PID.tmp`), the older output stays, and the run says it was interrupted and how to
/// go on, and ends by the signal.
#[test]
fn a_signal_mid_run_removes_the_unfinished_output_and_says_so() {
    use std::os::unix::process::ExitStatusExt;
    let c = case();
    let config = c.config("i.toml", "", "");
    let pairs = c.path("many.csv");
    many_pairs(&pairs, 20_000);
    let log = c.path("int.jsonl");
    let out = c.path("out.csv");
    std::fs::write(&out, "old\n").unwrap();
    let temporary = || {
        std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".out.csv.") && n.ends_with(".tmp"))
            .collect::<Vec<_>>()
    };
    let mut run = Command::new(env!("CARGO_BIN_EXE_titlesim"));
    run.args([
        "shadow",
        "-c",
        s(&config),
        "-p",
        s(&pairs),
        "--log",
        s(&log),
    ])
    .args(["--batch", "4", "-o", s(&out)]);
    // SIGTERM: a SIGINT may be ignored where the tests run (a CI job started in the
    // background), and then, rightly, stays ignored.
    let done = signal_once(run, "TERM", || {
        !temporary().is_empty() && std::fs::metadata(&log).map_or(0, |m| m.len()) > 0
    });
    let err = String::from_utf8_lossy(&done.stderr);
    // Ended by the signal itself, as without a handler (the shell shows 143).
    assert_eq!(done.status.signal(), Some(15), "{err}");
    assert!(err.contains("interrupted by SIGTERM"), "{err}");
    assert!(err.contains("removed the unfinished"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(temporary(), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
}

#[test]
fn precompute_and_the_gt_skip() {
    let c = case();
    let store = c.path("stores/canon.gtstore");
    let config = c.config("g.toml", &format!("gt_store = {:?}", s(&store)), "");
    // Scoring with a configured but missing store is refused, naming the fix.
    let e = fails(&shadow(&config, &c.pairs, &c.path("x.jsonl")));
    assert!(e.contains("titlesim precompute"), "{e}");

    let out = titlesim(
        &["precompute", "-c", s(&config), "--pairs", s(&c.pairs)],
        None,
    );
    ok(&out);
    let header: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&store)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["dim"], 32);
    assert_eq!(header["format"], "titlesim-gt-store");
    // 15 distinct GT titles.
    assert_eq!(std::fs::read_to_string(&store).unwrap().lines().count(), 16);
    // Running it again adds nothing.
    let out = titlesim(
        &["precompute", "-c", s(&config), "--pairs", s(&c.pairs)],
        None,
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("15 titles already there, 0 added"));

    let log = c.path("g.jsonl");
    let got = rows(&ok(&shadow(&config, &c.pairs, &log)));
    for (g, id) in got.iter().zip(&c.ids) {
        assert!(
            (g.1 as f64 - c.expected[id].1).abs() < 1e-5,
            "{id}: {} vs {}",
            g.1,
            c.expected[id].1
        );
    }
    check_records(&c, &read_log(&log).unwrap().records);

    // The same store under another model of the same dimension (tiny-bert-cls): refused ...
    let swap = |name: &str, extra: &str| {
        c.config_with(
            name,
            ("tiny-bert-cls", c.t_shadow),
            &format!("gt_store = {:?}\n{extra}", s(&store)),
            ("tiny-bert-mean", c.t_canon),
            "",
        )
    };
    let swapped = swap("swapped.toml", "");
    let e = fails(&shadow(&swapped, &c.pairs, &c.path("y.jsonl")));
    assert!(
        e.contains("another model") && e.contains(header["fingerprint"].as_str().unwrap()),
        "{e}"
    );
    let e = fails(&titlesim(
        &[
            "precompute",
            "-c",
            s(&swapped),
            "--pairs",
            s(&c.pairs),
            "--side",
            "canonical",
        ],
        None,
    ));
    assert!(e.contains("another model"), "{e}");
    // ... and recomputed when configured so.
    let swapped = swap("recompute.toml", "gt_store_mismatch = \"recompute\"");
    let out = shadow(&swapped, &c.pairs, &c.path("z.jsonl"));
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ignoring it"), "{err}");
    // not the error's advice to set what is set
    assert!(!err.contains("or set `gt_store_mismatch"), "{err}");
    let out = titlesim(
        &[
            "precompute",
            "-c",
            s(&swapped),
            "--pairs",
            s(&c.pairs),
            "--side",
            "canonical",
        ],
        None,
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("replacing a store of another model"));

    // Another dimension: a 64-d tiny-qwen3 store against the 32-d tiny-bert-mean.
    let qstore = c.path("qwen.gtstore");
    let qconf = c.path("q.toml");
    std::fs::write(
        &qconf,
        format!(
            "[canonical]\nmodel = {:?}\nbackend = \"candle\"\nthreshold = 0.5\n",
            s(&fixture("tiny-qwen3"))
        ),
    )
    .unwrap();
    ok(&titlesim(
        &[
            "precompute",
            "-c",
            s(&qconf),
            "--pairs",
            s(&c.pairs),
            "--side",
            "canonical",
            "--out",
            s(&qstore),
        ],
        None,
    ));
    let bad = c.config("bad.toml", &format!("gt_store = {:?}", s(&qstore)), "");
    let e = fails(&shadow(&bad, &c.pairs, &c.path("w.jsonl")));
    assert!(e.contains("64-d") && e.contains("32-d"), "{e}");
}

#[test]
fn configuration_errors_name_the_key() {
    let c = case();
    let cases: &[(&str, &str)] = &[
        ("[shadow_options]\nsample_rate = 2.0\n", "sample_rate"),
        ("[shadow_options]\nfsync = \"often\"\n", "often"),
        ("[shadow_options]\ntimeout_ms = 0\n", "timeout_ms"),
        ("[shadow_options]\nlogfile = \"x\"\n", "logfile"),
        ("pooling = \"avg\"\n", "avg"),
    ];
    for (extra, want) in cases {
        let config = c.config("e.toml", "", extra);
        let e = fails(&shadow(&config, &c.pairs, &c.path("e.jsonl")));
        assert!(e.contains(want) && e.contains("e.toml"), "{extra}: {e}");
    }
    // No [shadow] at all.
    let config = c.path("noshadow.toml");
    std::fs::write(
        &config,
        format!(
            "[canonical]\nmodel = {:?}\nthreshold = 0.5\n",
            s(&fixture("tiny-bert-mean"))
        ),
    )
    .unwrap();
    let e = fails(&shadow(&config, &c.pairs, &c.path("n.jsonl")));
    assert!(e.contains("[shadow]"), "{e}");
    // No log anywhere.
    let config = c.config("nolog.toml", "", "");
    let e = fails(&titlesim(
        &["shadow", "-c", s(&config), "-p", s(&c.pairs)],
        None,
    ));
    assert!(e.contains("--log"), "{e}");
    // --out naming the log (here through `..`) is refused before anything is opened: the log
    // keeps its records.
    let config = c.config("same.toml", "", "");
    let log = c.path("same.jsonl");
    std::fs::write(&log, "{\"kept\": true}\n").unwrap();
    let sub = c.path("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let out = sub.join("../same.jsonl");
    for resume in [false, true] {
        let mut args = vec![
            "shadow",
            "-c",
            s(&config),
            "-p",
            s(&c.pairs),
            "--log",
            s(&log),
            "--out",
            s(&out),
        ];
        if resume {
            args.push("--resume");
        }
        let e = fails(&titlesim(&args, None));
        assert!(e.contains("is the shadow log"), "{e}");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "{\"kept\": true}\n");
    }
    // precompute without any gt_store.
    let e = fails(&titlesim(
        &["precompute", "-c", s(&config), "--pairs", s(&c.pairs)],
        None,
    ));
    assert!(e.contains("gt_store"), "{e}");
}

#[test]
fn a_shadow_model_that_fails_to_load_leaves_the_canonical_run_whole() {
    let c = case();
    let config = c.config_with(
        "broken.toml",
        ("tiny-bert-mean", c.t_canon),
        "",
        ("no-such-model", c.t_shadow),
        "",
    );
    let log = c.path("broken.jsonl");
    let out = shadow(&config, &c.pairs, &log);
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let plain = ok(&titlesim(
        &["score", "--config", s(&config), "--pairs", s(&c.pairs)],
        None,
    ));
    assert_eq!(stdout, plain, "the canonical verdicts are those of `score`");
    let warning = "the shadow model";
    assert_eq!(
        stderr.matches(warning).count(),
        2,
        "said at the start and under the summary: {stderr}"
    );
    assert!(stderr.contains("failed to load"), "{stderr}");
    assert!(stderr.contains("no-such-model"), "{stderr}");
    let records = read_log(&log).unwrap().records;
    assert_eq!(records.len(), c.ids.len());
    assert!(records.iter().all(|r| r.shadow.is_none()));
}

#[test]
fn resume_refuses_ids_that_now_name_other_pairs() {
    let c = case();
    let config = c.config("c.toml", "", "");
    let log = c.path("resume.jsonl");
    let args = |pairs: &Path| {
        titlesim(
            &[
                "shadow",
                "-c",
                s(&config),
                "-p",
                s(pairs),
                "--log",
                s(&log),
                "--resume",
            ],
            None,
        )
    };
    ok(&args(&c.pairs));
    // The same ids with the product and GT titles swapped: the logged verdicts are not theirs.
    let text = std::fs::read_to_string(&c.pairs).unwrap();
    let swapped = c.path("swapped.csv");
    std::fs::write(
        &swapped,
        text.replacen("id,phase,product,gt,label", "id,phase,gt,product,label", 1),
    )
    .unwrap();
    let before = std::fs::read(&log).unwrap();
    let e = fails(&args(&swapped));
    assert!(e.contains("name other pairs than the log's records"), "{e}");
    assert!(
        e.contains(&format!("`{}` (product logged", c.ids[0])),
        "{e}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), before, "the log is untouched");
    // The same pairs again: every verdict comes from the log.
    let again = args(&c.pairs);
    ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains(&format!("{} resumed", c.ids.len())),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_log_another_process_is_writing_is_refused() {
    let c = case();
    let config = c.config("c.toml", "", "");
    let log = c.path("locked.jsonl");
    let holder = std::fs::File::create(&log).unwrap();
    holder.try_lock().unwrap();
    let e = fails(&shadow(&config, &c.pairs, &log));
    assert!(
        e.contains("another titlesim process is writing this shadow log"),
        "{e}"
    );
    drop(holder);
    assert_eq!(std::fs::metadata(&log).unwrap().len(), 0, "nothing written");
}

#[test]
fn the_log_and_the_results_never_overwrite_an_input_or_the_emf_file() {
    // `--log pairs.csv --resume` appended JSON records to the pairs file; `-o` onto the EMF
    // file mixed verdicts into the metrics and lost EMF lines, both with exit 0.
    let c = case();
    let emf = c.path("metrics.emf");
    let config = c.config(
        "emf.toml",
        "",
        &format!("[shadow_options]\nemf = {:?}\n", s(&emf)),
    );
    let pairs_before = std::fs::read_to_string(&c.pairs).unwrap();
    let log = c.path("ok.jsonl");
    for (args, want) in [
        (
            vec!["--log", s(&c.pairs), "--resume"],
            format!("--log {} is the pairs file", s(&c.pairs)),
        ),
        (
            vec!["--log", s(&config)],
            format!("--log {} is the configuration", s(&config)),
        ),
        (
            vec!["--log", s(&log), "-o", s(&c.pairs)],
            format!("--out {} is the pairs file", s(&c.pairs)),
        ),
    ] {
        let mut all = vec!["shadow", "-c", s(&config), "-p", s(&c.pairs)];
        all.extend(args);
        let err = fails(&titlesim(&all, None));
        assert!(err.contains(&want), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&c.pairs).unwrap(), pairs_before);
    // the EMF file exists once a run wrote it; then neither output may be it
    ok(&shadow(&config, &c.pairs, &log));
    let emf_before = std::fs::read_to_string(&emf).unwrap();
    let err = fails(&titlesim(
        &[
            "shadow",
            "-c",
            s(&config),
            "-p",
            s(&c.pairs),
            "--log",
            s(&c.path("b.jsonl")),
            "-o",
            s(&emf),
        ],
        None,
    ));
    assert!(
        err.contains("is the EMF file ([shadow_options] emf)"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&emf).unwrap(), emf_before);
}

#[test]
fn the_emf_file_is_never_an_input_and_the_log_is_a_regular_file() {
    // `emf` naming the pairs file cut its last row (as a "torn line") and appended EMF lines,
    // and `emf` naming the configuration made the next run a TOML error; both exited 0.
    let c = case();
    let pairs_before = std::fs::read(&c.pairs).unwrap();
    let log = c.path("ok.jsonl");
    let onto_pairs = c.config(
        "emf-pairs.toml",
        "",
        &format!("[shadow_options]\nemf = {:?}\n", s(&c.pairs)),
    );
    let err = fails(&shadow(&onto_pairs, &c.pairs, &log));
    assert!(
        err.contains(&format!(
            "[shadow_options] emf {} is the pairs file",
            s(&c.pairs)
        )),
        "{err}"
    );
    let own = c.path("own.toml");
    std::fs::write(
        &own,
        std::fs::read_to_string(&onto_pairs)
            .unwrap()
            .replace(s(&c.pairs), "own.toml"),
    )
    .unwrap();
    let own_before = std::fs::read(&own).unwrap();
    let err = fails(&shadow(&own, &c.pairs, &log));
    assert!(
        err.contains("[shadow_options] emf:") && err.contains("is the configuration file"),
        "{err}"
    );
    assert_eq!(std::fs::read(&own).unwrap(), own_before);
    assert_eq!(std::fs::read(&c.pairs).unwrap(), pairs_before);
    assert!(!log.exists(), "nothing was started");
    // A folder or a device as the log: refused at the start, saying what it is.
    let plain = c.config("plain.toml", "", "");
    for (bad, kind) in [
        (c.dir.path(), "folder"),
        (Path::new("/dev/null"), "character device"),
    ] {
        let err = fails(&shadow(&plain, &c.pairs, bad));
        assert!(
            err.contains(&format!("the shadow log {} is a {kind}", s(bad))),
            "{err}"
        );
    }
}

#[test]
fn a_shadow_run_stopped_midway_keeps_old_results_and_says_how_to_finish() {
    // --out was truncated and half filled; the error said nothing of the log or --resume.
    let c = case();
    let model = failing_model(c.dir.path());
    let config = c.path("bad.toml");
    std::fs::write(
        &config,
        format!(
            "[canonical]\nmodel = {:?}\nthreshold = 0.5\nthreads = 1\n[shadow]\nmodel = {:?}\nthreshold = 0.5\nthreads = 1\n",
            s(&model),
            s(&fixture("tiny-bert-cls"))
        ),
    )
    .unwrap();
    let pairs = c.path("late.csv");
    let mut text = String::from("id,product,gt\n");
    for i in 0..200 {
        let product = if i == 150 {
            "zzzbad".to_string()
        } else {
            format!("shoe {i}")
        };
        text += &format!("{i},{product},boot {i}\n");
    }
    std::fs::write(&pairs, &text).unwrap();
    let out = c.path("verdicts.csv");
    std::fs::write(&out, "old\n").unwrap();
    let log = c.path("late.jsonl");
    let err = fails(&titlesim(
        &[
            "shadow",
            "-c",
            s(&config),
            "-p",
            s(&pairs),
            "--log",
            s(&log),
            "-o",
            s(&out),
            "--chunk-size",
            "32",
        ],
        None,
    ));
    assert!(
        err.contains(&format!("{} was left as it was", s(&out))),
        "{err}"
    );
    assert!(err.contains("rerun with --resume"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    let logged = read_log(&log).unwrap().records.len();
    assert!(logged > 0 && logged < 200, "{logged}");
}

#[test]
fn lost_emf_lines_are_an_error_that_does_not_promise_resume_brings_them_back() {
    // /dev/full takes the EMF lines and fails every write: the verdicts and the log are
    // whole, the run fails naming the EMF output, and does not advise --resume (which would
    // score nothing again: every pair is in the log).
    if !Path::new("/dev/full").exists() {
        return;
    }
    let c = case();
    let config = c.config("full.toml", "", "[shadow_options]\nemf = \"/dev/full\"\n");
    let log = c.path("full.jsonl");
    let out = shadow(&config, &c.pairs, &log);
    let err = fails(&out);
    assert!(
        err.contains(
            "the canonical results above are complete and so is the log, but emf:/dev/full: "
        ) && err.contains("records not written (")
            && err.contains("--resume does not write those EMF lines again"),
        "{err}"
    );
    let verdicts = rows(&String::from_utf8(out.stdout).unwrap());
    let logged = read_log(&log).unwrap().records;
    assert!(!verdicts.is_empty());
    assert_eq!(logged.len(), verdicts.len());
}
