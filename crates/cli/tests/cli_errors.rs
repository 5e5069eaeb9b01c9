//! Error paths: every one prints `error: ...` and exits non-zero, never a panic.

mod common;

use common::*;

#[test]
fn missing_model_folder() {
    let e = fails(&titlesim(
        &["embed", "--model", "./no/such/model"],
        Some(b"x\n"),
    ));
    assert!(
        e.contains("no/such/model") && e.contains("not found"),
        "{e}"
    );
    let e = fails(&titlesim(&["inspect", "--model", "/no/such/folder"], None));
    assert!(e.contains("/no/such/folder"), "{e}");
}

#[test]
fn missing_input_file() {
    let m = fixture("tiny-bert-mean");
    let e = fails(&titlesim(
        &[
            "embed",
            "-m",
            m.to_str().unwrap(),
            "--input",
            "/no/such/texts.txt",
        ],
        None,
    ));
    assert!(e.contains("/no/such/texts.txt"), "{e}");
}

#[test]
#[cfg(feature = "candle")]
fn invalid_utf8_names_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("bad.txt");
    std::fs::write(&p, b"ok\nalso ok\nbad \xff byte\n").unwrap();
    let m = fixture("tiny-bert-mean");
    let out = titlesim(
        &[
            "embed",
            "-m",
            m.to_str().unwrap(),
            "-i",
            p.to_str().unwrap(),
            "--chunk-size",
            "1",
        ],
        None,
    );
    let e = fails(&out);
    assert!(e.contains("bad.txt:3") && e.contains("UTF-8"), "{e}");
    // The lines before the bad one were embedded and written (streaming).
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
#[cfg(feature = "candle")]
fn jsonl_without_text_field() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("in.jsonl");
    std::fs::write(&p, "{\"text\": \"a\"}\n{\"title\": \"b\"}\n").unwrap();
    let m = fixture("tiny-bert-mean");
    let e = fails(&titlesim(
        &[
            "embed",
            "-m",
            m.to_str().unwrap(),
            "-i",
            p.to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("in.jsonl:2") && e.contains("`text`"), "{e}");
}

fn config(dir: &std::path::Path, backend: &str) -> std::path::PathBuf {
    let p = dir.join("t.toml");
    std::fs::write(
        &p,
        format!(
            "[canonical]\nmodel = {:?}\nbackend = \"{backend}\"\nthreshold = 0.5\n",
            fixture("tiny-bert-mean").to_str().unwrap()
        ),
    )
    .unwrap();
    p
}

#[test]
fn empty_pairs_file() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "candle");
    let p = d.path().join("pairs.csv");
    std::fs::write(&p, "id,product,gt\n").unwrap();
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("pairs.csv") && e.contains("no pairs"), "{e}");
    std::fs::write(&p, "").unwrap();
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("pairs.csv"), "{e}");
}

#[test]
fn missing_column() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "candle");
    let p = d.path().join("pairs.csv");
    std::fs::write(&p, "id,phase,product,label\n1,race,a,1\n").unwrap();
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
        ],
        None,
    ));
    assert!(
        e.contains("pairs.csv:1") && e.contains("missing column `gt`"),
        "{e}"
    );
}

#[test]
fn duplicate_ids_name_both_lines() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "candle");
    let p = d.path().join("pairs.jsonl");
    std::fs::write(
        &p,
        "{\"id\": 1, \"product\": \"a\", \"gt\": \"b\"}\n{\"id\": \"1\", \"product\": \"c\", \"gt\": \"d\"}\n",
    )
    .unwrap();
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
        ],
        None,
    ));
    assert!(
        e.contains("pairs.jsonl:2") && e.contains("duplicate id `1`") && e.contains("line 1"),
        "{e}"
    );
}

#[test]
#[cfg(feature = "tract")]
fn a_tract_cpu_isa_tract_would_panic_on_or_ignore_is_refused() {
    let m = fixture("tiny-bert-mean");
    let args = ["embed", "-m", m.to_str().unwrap(), "--backend", "tract"];
    let run = |isa: &str| titlesim_env(&args, Some(b"a title\n"), &[("TRACT_CPU_ISA", isa)]);
    // A feature of another architecture: tract itself stops the process with a panic.
    let (foreign, native) = if cfg!(target_arch = "aarch64") {
        ("+avx2", "-aarch64")
    } else {
        ("+neon", "-x86_64")
    };
    let e = fails(&run(foreign));
    assert!(
        e.contains(&format!(
            "TRACT_CPU_ISA={foreign}: `{foreign}` is a feature of"
        )),
        "{e}"
    );
    // A misspelt one: tract would ignore it, keeping the kernels it meant to take away.
    let e = fails(&run("-avx512_vnni"));
    assert!(
        e.contains("`-avx512_vnni` names no instruction set tract knows"),
        "{e}"
    );
    // A valid edit still embeds (here: tract's portable kernels only).
    let out = ok(&run(native));
    assert_eq!(out.lines().count(), 1, "{out}");
}

#[test]
fn unknown_backend_name() {
    let m = fixture("tiny-bert-mean");
    let out = titlesim(
        &["embed", "-m", m.to_str().unwrap(), "--backend", "cuda"],
        None,
    );
    let e = fails(&out);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        e.contains("unknown backend `cuda`") && e.contains("candle, ort or tract"),
        "{e}"
    );

    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "cuda");
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            data("sample_pairs.csv").to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("t.toml") && e.contains("cuda"), "{e}");
}

#[test]
fn bad_config_file() {
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            "/no/such/titlesim.toml",
            "-p",
            data("sample_pairs.csv").to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("/no/such/titlesim.toml"), "{e}");
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("t.toml");
    std::fs::write(&p, "[canonical]\nmodel = \"m\"\ntreshold = 0.5\n").unwrap();
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            p.to_str().unwrap(),
            "-p",
            data("sample_pairs.csv").to_str().unwrap(),
        ],
        None,
    ));
    assert!(e.contains("treshold"), "{e}");
}

#[test]
fn version_lists_the_compiled_backends() {
    let out = ok(&titlesim(&["--version"], None));
    let list = out
        .split("(backends: ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no backend list in {out}"));
    let listed: Vec<&str> = list.split(", ").collect();
    // Features of this package are on in the binary; others may be on through feature
    // unification with the rest of the workspace.
    for (f, on) in [
        ("candle", cfg!(feature = "candle")),
        ("ort", cfg!(feature = "ort")),
        ("tract", cfg!(feature = "tract")),
    ] {
        if on {
            assert!(listed.contains(&f), "{f} missing from {out}");
        }
    }
    assert!(
        listed == ["none"]
            || listed
                .iter()
                .all(|b| ["candle", "ort", "tract"].contains(b)),
        "{out}"
    );
}

#[test]
fn help_explains_the_flags_and_defaults() {
    let out = ok(&titlesim(&["embed", "--help"], None));
    for f in [
        "--model",
        "--backend",
        "--onnx",
        "--onnx-output",
        "--threads",
        "--batch-size",
        "--pooling",
        "--max-length",
        "--input",
        "[default: candle]",
        "[default: 32]",
    ] {
        assert!(out.contains(f), "embed --help lacks {f}:\n{out}");
    }
    // Words as one line, wherever the help wraps them.
    let out = ok(&titlesim(&["score", "--help"], None))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for f in [
        "--config",
        "--pairs",
        "--format",
        "--out",
        "[default: jsonl for an --out FILE named .jsonl, .ndjson or .json, else csv]",
    ] {
        assert!(out.contains(f), "score --help lacks {f}:\n{out}");
    }
}

/// An address serve cannot listen on names where it came from: the file's `[serve] addr`, or
/// `--addr`.
#[test]
#[cfg(feature = "candle")]
fn an_address_serve_cannot_listen_on_names_its_source() {
    let d = tempfile::tempdir().unwrap();
    let p = config(d.path(), "candle");
    let c = d.path().join("addr.toml");
    let text = std::fs::read_to_string(&p).unwrap() + "[serve]\naddr = \"nonsense\"\n";
    std::fs::write(&c, text).unwrap();
    let c = c.to_str().unwrap();
    let e = fails(&titlesim(&["serve", "-c", c], None));
    assert!(
        e.contains(&format!(
            "config {c}: [serve] addr: cannot listen on nonsense"
        )),
        "{e}"
    );
    let e = fails(&titlesim(
        &["serve", "-c", c, "--addr", "also-nonsense"],
        None,
    ));
    assert!(e.contains("--addr: cannot listen on also-nonsense"), "{e}");
}

/// `--threads` takes what the configuration's `threads` takes: the message gave the range as
/// 1..=4294967295, where 1024 is the most.
#[test]
fn threads_flags_say_their_real_range() {
    for args in [
        vec!["embed", "--model", "m", "--threads", "2000"],
        vec!["embed", "--model", "m", "--threads", "0"],
        // sql's ran a query on 2,000 threads: its budget is the same as replay's
        vec!["sql", "--threads", "2000", "SELECT 1"],
        vec![
            "replay",
            "-c",
            "c.toml",
            "-p",
            "h.csv",
            "-o",
            "o.jsonl",
            "--threads",
            "2000",
        ],
    ] {
        let e = fails(&titlesim(&args, None));
        assert!(e.contains("1..=1024"), "{args:?}: {e}");
    }
}

/// A full standard output or standard error (`> /dev/full`, `2> /dev/full`) is an error exit,
/// never a panic (exit 101): stdout's names the stream; with stderr full there is nowhere to
/// say anything, so the exit code alone tells.
#[cfg(target_os = "linux")]
#[test]
fn full_standard_streams_are_errors_not_panics() {
    use std::process::{Command, Stdio};
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let m = fixture("tiny-bert-mean");
    let run = Command::new(env!("CARGO_BIN_EXE_titlesim"))
        .args(["inspect", "--model", m.to_str().unwrap()])
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let e = String::from_utf8_lossy(&run.stderr);
    assert!(e.contains("cannot write to standard output"), "{e}");
    assert!(!e.contains("panicked"), "{e}");

    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "candle");
    let p = d.path().join("pairs.csv");
    std::fs::write(&p, "id,product,gt\n1,a b,a c\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_titlesim"))
        .args([
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "stderr full: exit 1, not a panic's 101"
    );
}

/// `sql ... | head` ends quietly, as `embed ... | head` does: the arrow writers turned the
/// closed pipe into text, and the run ended with "error: Csv error: ... Broken pipe", exit 1.
#[test]
fn sql_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for format in ["csv", "jsonl"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_titlesim"))
            .args([
                "sql",
                "-f",
                format,
                "SELECT value, 'a product title' AS t FROM generate_series(1, 5000000)",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty(), "{format}");
        // The reading end is closed here, as `head -1` closes it.
        let out = child.wait_with_output().unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{format}: {e}");
        assert!(e.is_empty(), "{format}: {e}");
    }
}

/// Errors say what they are once and name what they were about: the OS error of a missing
/// file is printed once, a full output names the file, and `precompute` neither reads a device
/// of endless bytes into memory nor advises running itself.
#[cfg(target_os = "linux")]
#[test]
fn errors_name_the_file_once_and_devices_are_not_read_forever() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "candle");
    let p = d.path().join("pairs.csv");
    std::fs::write(&p, "id,product,gt\n1,a b,a c\n").unwrap();
    let missing = d.path().join("missing.toml");
    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            missing.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
        ],
        None,
    ));
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert!(e.contains("missing.toml"), "{e}");

    let e = fails(&titlesim(
        &[
            "score",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
            "--out",
            "/dev/full",
        ],
        None,
    ));
    assert!(e.contains("cannot write to /dev/full"), "{e}");

    let e = fails(&titlesim(
        &[
            "precompute",
            "-c",
            c.to_str().unwrap(),
            "-p",
            p.to_str().unwrap(),
            "--side",
            "canonical",
            "--out",
            "/dev/full",
        ],
        None,
    ));
    assert!(
        e.contains("/dev/full: a character device, not a GT store: a store is a regular file"),
        "{e}"
    );
    assert!(
        !e.contains("titlesim precompute`"),
        "no advice to run itself: {e}"
    );
}

/// A configuration error found only when the model loads (a `max_length` beyond the model's
/// positions, a prompt the folder does not define) names the configuration file and the
/// table, as one found when the file is read does, on every command that loads a model.
#[test]
#[cfg(feature = "candle")]
fn config_errors_found_at_model_load_name_the_file_and_table() {
    let d = tempfile::tempdir().unwrap();
    let p = config(d.path(), "candle");
    let pairs = data("sample_pairs.csv");
    for (extra, what) in [
        ("max_length = 100000\n", "max_length"),
        (
            "prompt = \"query\"\nprompt_side = \"both\"\n",
            "prompt `query`",
        ),
    ] {
        let shadow = format!(
            "[shadow]\nmodel = {:?}\nthreshold = 0.5\n[shadow_options]\nlog = \"s.jsonl\"\n",
            fixture("tiny-bert-mean").to_str().unwrap()
        );
        let text = std::fs::read_to_string(&p).unwrap() + extra + &shadow;
        let c = d.path().join("late.toml");
        std::fs::write(&c, text).unwrap();
        let c = c.to_str().unwrap();
        let pairs = pairs.to_str().unwrap();
        let want = format!("config {c}: loading the [canonical] model ");
        for args in [
            vec!["score", "-c", c, "-p", pairs],
            vec!["shadow", "-c", c, "-p", pairs],
            vec!["serve", "-c", c, "--addr", "127.0.0.1:0"],
            vec!["sql", "-c", c, "SELECT title_cosine('a', 'b')"],
        ] {
            let e = fails(&titlesim(&args, None));
            assert!(e.contains(&want) && e.contains(what), "{args:?}: {e}");
        }
    }
}
