//! `titlesim serve` over real HTTP on 127.0.0.1 (a free port), with the tiny fixtures (candle):
//! answers equal `titlesim score` and `titlesim embed` bit for bit, the OpenAI and TEI shapes
//! field by field, concurrent clients get the sequential answers, SIGTERM under load answers
//! and logs every accepted request exactly once, and bad input gets the documented status.
#![cfg(all(feature = "candle", unix))]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A running `titlesim serve` on a free port; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(config: &Path) -> Server {
        Self::start_reading_stderr(config, true)
    }

    /// A server whose standard error, when `read` is false, is read to its first line (the
    /// address) and then closed, as when its terminal hangs up.
    fn start_reading_stderr(config: &Path, read: bool) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_titlesim"))
            .args(["serve", "-c", s(config), "--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        lines.read_line(&mut first).unwrap();
        let port = first
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no address in: {first}"));
        stderr.lock().unwrap().push_str(&first);
        let sink = stderr.clone();
        // Line by line, so that a test can wait for a line while the server runs. Not read:
        // the closure holding `lines` is dropped unrun, which closes the pipe's reading end.
        let _reader = read.then(|| {
            std::thread::spawn(move || {
                let mut line = String::new();
                while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
                    sink.lock().unwrap().push_str(&line);
                    line.clear();
                }
            })
        });
        let server = Server {
            child,
            port,
            stderr,
        };
        let t0 = Instant::now();
        while server.get("/health").0 != 200 {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "not healthy: {}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        request(self.port, method, path, body).expect("the server answers")
    }

    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        request(self.port, "GET", path, b"").unwrap_or((0, Vec::new()))
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, bytes) = self.request("POST", path, body.to_string().as_bytes());
        let v = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "{path}: not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        (status, v)
    }

    /// SIGTERM, then the exit status and everything it said.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr())
    }
}

impl Server {
    /// Sends `kill -TERM` and returns at once.
    fn term(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits until standard error holds `needle` (at most `limit`).
    fn wait_for_stderr(&self, needle: &str, limit: Duration) {
        let t0 = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                t0.elapsed() < limit,
                "no {needle:?} within {limit:?}: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The exit status, which must come within `limit` (else the test fails, and the server
    /// is killed when dropped), and everything it said.
    fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.stderr());
            }
            assert!(
                t0.elapsed() < limit,
                "still running {limit:?} after SIGTERM: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`: the status and the body.
fn request(port: u16, method: &str, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut c = TcpStream::connect(("127.0.0.1", port))?;
    c.set_read_timeout(Some(Duration::from_secs(120)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // A server may answer (413) and close before it has read a body over its limit: the
    // rest of the body then fails to send, and the answer is still there to read.
    let sent = c
        .write_all(head.as_bytes())
        .and_then(|()| c.write_all(body));
    let mut raw = Vec::new();
    if let Err(e) = c.read_to_end(&mut raw) {
        if raw.is_empty() {
            return Err(sent.err().unwrap_or(e));
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {head}")))?;
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n =
            usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + n]);
        b = &b[line_end + 4 + n..];
    }
}

/// A configuration: tiny-bert-mean canonical, tiny-bert-cls shadow logged to `log`, and
/// `serve` extra lines in [serve].
fn config(dir: &Path, log: &Path, serve: &str) -> PathBuf {
    let p = dir.join("serve.toml");
    std::fs::write(
        &p,
        format!(
            "[canonical]\nmodel = {:?}\nthreshold = 0.6\nthreads = 1\n\n\
             [shadow]\nmodel = {:?}\nthreshold = 0.6\nthreads = 1\n\n\
             [shadow_options]\nlog = {:?}\n\n[serve]\n{serve}\n",
            s(&fixture("tiny-bert-mean")),
            s(&fixture("tiny-bert-cls")),
            s(log),
        ),
    )
    .unwrap();
    p
}

/// Pairs over the tiny reference texts (no blank titles).
fn pairs(n: usize) -> Vec<(String, String, String)> {
    let texts: Vec<String> = reference("tiny-bert-mean")
        .texts
        .into_iter()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .collect();
    (0..n)
        .map(|i| {
            (
                format!("p{i}"),
                texts[i % texts.len()].clone(),
                texts[(i * 7 + 3) % texts.len()].clone(),
            )
        })
        .collect()
}

fn pairs_json(p: &[(String, String, String)]) -> Value {
    json!({"pairs": p.iter().map(|(id, a, b)| json!({"id": id, "product": a, "gt": b})).collect::<Vec<_>>()})
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn answers_equal_the_command_line_bit_for_bit_in_the_published_shapes() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let cfg = config(d.path(), &log, "");
    let server = Server::start(&cfg);
    let ps = pairs(20);

    // /score = `titlesim score` (CSV: id, cosine, threshold, pass).
    let (status, got) = server.post("/score", &pairs_json(&ps));
    assert_eq!(status, 200, "{got}");
    let csv = d.path().join("pairs.csv");
    let mut text = String::from("id,product,gt\n");
    for (id, a, b) in &ps {
        text += &format!(
            "{id},\"{}\",\"{}\"\n",
            a.replace('"', "\"\""),
            b.replace('"', "\"\"")
        );
    }
    std::fs::write(&csv, text).unwrap();
    let plain = ok(&titlesim(&["score", "-c", s(&cfg), "-p", s(&csv)], None));
    let rows: Vec<Vec<String>> = plain
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), rows.len());
    for (g, r) in got.iter().zip(&rows) {
        let keys: HashSet<&str> = g.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, HashSet::from(["id", "cosine", "threshold", "pass"]));
        assert_eq!(g["id"], r[0].as_str());
        let (c, want): (f32, f32) = (g["cosine"].as_f64().unwrap() as f32, r[1].parse().unwrap());
        assert_eq!(c.to_bits(), want.to_bits(), "{g} vs {r:?}");
        assert_eq!(g["pass"].as_bool().unwrap(), r[3] == "true");
    }

    // /v1/embeddings (float and base64) and /embed (normalize false) = `titlesim embed`.
    let texts: Vec<String> = ps.iter().map(|p| p.1.clone()).collect();
    let input = texts.join("\n") + "\n";
    let cli: Vec<Vec<f32>> = ok(&titlesim(
        &[
            "embed",
            "-m",
            s(&fixture("tiny-bert-mean")),
            "--threads",
            "1",
        ],
        Some(input.as_bytes()),
    ))
    .lines()
    .map(|l| f32s(&serde_json::from_str::<Value>(l).unwrap()["embedding"]))
    .collect();
    let (status, oa) = server.post(
        "/v1/embeddings",
        &json!({"input": texts, "model": "anything"}),
    );
    assert_eq!(status, 200, "{oa}");
    let keys: HashSet<&str> = oa.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, HashSet::from(["object", "data", "model", "usage"]));
    assert_eq!(oa["object"], "list");
    let tokens = oa["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(
        tokens >= texts.len() as u64 * 2,
        "special tokens counted: {tokens}"
    );
    assert_eq!(oa["usage"]["total_tokens"].as_u64(), Some(tokens));
    assert_eq!(
        oa["usage"].as_object().unwrap().len(),
        2,
        "usage holds prompt_tokens and total_tokens"
    );
    let data = oa["data"].as_array().unwrap();
    assert_eq!(data.len(), cli.len());
    for (i, (item, want)) in data.iter().zip(&cli).enumerate() {
        let keys: HashSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, HashSet::from(["object", "embedding", "index"]));
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"].as_u64(), Some(i as u64));
        let got = f32s(&item["embedding"]);
        assert!(
            got.iter()
                .zip(want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "text {i}"
        );
    }
    let (status, b64) = server.post(
        "/v1/embeddings",
        &json!({"input": texts[0], "model": "m", "encoding_format": "base64"}),
    );
    assert_eq!(status, 200);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, cli[0]);
    let (status, tei) = server.post("/embed", &json!({"inputs": texts, "normalize": false}));
    assert_eq!(status, 200);
    let tei: Vec<Vec<f32>> = tei.as_array().unwrap().iter().map(f32s).collect();
    assert_eq!(tei, cli);
    // TEI's default normalises (this model does not by itself).
    let (_, unit) = server.post("/embed", &json!({"inputs": texts[0]}));
    let unit = f32s(&unit[0]);
    let norm: f32 = unit.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    // /similarity: cosines of the source against each sentence.
    let (status, sim) = server.post(
        "/similarity",
        &json!({"inputs": {"source_sentence": texts[0], "sentences": [texts[0], texts[1]]}}),
    );
    assert_eq!(status, 200);
    let sim = f32s(&sim);
    assert!((sim[0] - 1.0).abs() < 1e-6 && sim[1] < 1.0, "{sim:?}");
    // text-embeddings-inference's own shape, options under `parameters`: the same answer.
    let (status, tei) = server.post(
        "/similarity",
        &json!({"inputs": {"source_sentence": texts[0], "sentences": [texts[0], texts[1]]},
                "parameters": {"truncate": false, "truncation_direction": "Right"}}),
    );
    assert_eq!(status, 200, "{tei}");
    assert_eq!(f32s(&tei), sim);

    // /info and /metrics.
    let (_, info) = server.request("GET", "/info", b"");
    let info: Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(info["canonical"]["threshold"].as_f64(), Some(0.6f32 as f64));
    assert!(info["shadow"]["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("ts1-"));
    let (_, metrics) = server.request("GET", "/metrics", b"");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("titlesim_requests_total{endpoint=\"/score\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("titlesim_pairs_scored_total 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("titlesim_inference_seconds_count"),
        "{metrics}"
    );

    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    let records = titlesim::read_log(&log).unwrap().records;
    assert_eq!(records.len(), 20, "one record per pair scored");
    assert!(records
        .iter()
        .all(|r| r.shadow.as_ref().is_some_and(|s| s.cosine.is_some())));
}

#[test]
fn concurrent_clients_get_the_sequential_answers() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let server = Server::start(&config(d.path(), &log, ""));
    let ps = pairs(32);
    let sequential: Vec<Value> = ps
        .iter()
        .map(|p| {
            server
                .post("/score", &pairs_json(std::slice::from_ref(p)))
                .1
        })
        .collect();
    let port = server.port;
    let handles: Vec<_> = ps
        .iter()
        .cloned()
        .map(|p| {
            std::thread::spawn(move || {
                let body = pairs_json(std::slice::from_ref(&p)).to_string();
                let (status, bytes) = request(port, "POST", "/score", body.as_bytes()).unwrap();
                assert_eq!(status, 200);
                serde_json::from_slice::<Value>(&bytes).unwrap()
            })
        })
        .collect();
    let concurrent: Vec<Value> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(concurrent, sequential);
    // They were merged: fewer backend batches than requests.
    let (_, metrics) = server.request("GET", "/metrics", b"");
    let metrics = String::from_utf8(metrics).unwrap();
    let batches: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("titlesim_batch_items_count "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(batches < 64, "{batches} batches for 64 requests");
}

#[test]
fn sigterm_under_load_answers_and_logs_every_accepted_request_once() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let server = Server::start(&config(d.path(), &log, ""));
    let port = server.port;
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let answered = answered.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let p = (
                        format!("w{w}-{i}"),
                        format!("title {i} of {w}"),
                        "a title".to_string(),
                    );
                    let body = pairs_json(std::slice::from_ref(&p)).to_string();
                    match request(port, "POST", "/score", body.as_bytes()) {
                        Ok((200, _)) => answered.lock().unwrap().push(p.0),
                        // Refused once stopping (connection refused or 503): not accepted.
                        Ok((503, _)) => {}
                        Ok((status, b)) => panic!("{status}: {}", String::from_utf8_lossy(&b)),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, said) = server.stop();
    for w in workers {
        w.join().unwrap();
    }
    assert!(status.success(), "{said}");
    let answered = answered.lock().unwrap().clone();
    assert!(!answered.is_empty());
    let records = titlesim::read_log(&log).unwrap();
    assert!(records.skipped.is_empty());
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in &records.records {
        *count.entry(r.pair_id.as_str()).or_default() += 1;
    }
    assert!(count.values().all(|&n| n == 1), "a pair logged twice");
    for id in &answered {
        assert_eq!(
            count.get(id.as_str()),
            Some(&1),
            "{id} answered but not logged"
        );
    }
    assert!(said.contains("stopped:"), "{said}");
}

/// Nobody reads standard error any more (the ssh session that started it ended, a `| tee`
/// was stopped): writing a note failed, eprintln! panicked, and the service exited 1 at its
/// next note, the `stopping:` of SIGTERM, without draining: answered pairs got no record.
#[test]
fn a_closed_standard_error_does_not_stop_the_service_or_lose_records() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let mut server = Server::start_reading_stderr(&config(d.path(), &log, ""), false);
    let answered = answered_pairs(&server, 12);
    server.term();
    let (status, _) = server.wait_exit(Duration::from_secs(60));
    assert!(status.success(), "{status:?}");
    assert_logged_once(&log, &answered);
}

#[test]
fn bad_requests_get_the_documented_status_and_a_message_naming_the_field() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let server = Server::start(&config(
        d.path(),
        &log,
        "max_body_bytes = 600000\nmax_inputs = 1000",
    ));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("/score", b"".to_vec(), 400, "empty"),
        (
            "/score",
            b"{\"pairs\": []}".to_vec(),
            400,
            "`pairs` is empty",
        ),
        (
            "/score",
            b"{\"pairs\": [".to_vec(),
            422,
            "EOF while parsing",
        ),
        // Cut short inside a key: the object is named, not "`?`".
        (
            "/score",
            b"{\"pairs\": [{\"id\": 1, \"prod".to_vec(),
            422,
            "`pairs[0]`: EOF while parsing",
        ),
        ("/score", b"{\"pai".to_vec(), 422, "invalid request: EOF while parsing"),
        (
            "/score",
            b"{\"pairs\": [{\"id\": 1, \"product\": \"\xff\xfe\", \"gt\": \"a\"}]}".to_vec(),
            422,
            "invalid",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": 1, "product": "a"}]}"#.to_vec(),
            422,
            "missing field `gt`",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": 1, "product": 7, "gt": "a"}]}"#.to_vec(),
            422,
            "`pairs[0].product`",
        ),
        // The ids and labels the pairs files take, and refuse, alike.
        (
            "/score",
            br#"{"pairs": [{"id": 1e2, "product": "a", "gt": "b"}]}"#.to_vec(),
            422,
            "`pairs[0].id` is the number 100.0 (as read), which is not an integer",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": 1, "product": "a", "gt": "b", "label": 2}]}"#.to_vec(),
            422,
            "`pairs[0].label` must be 0, 1, true, false or empty, found 2",
        ),

        (
            "/score",
            br#"{"pairs": [{"id": [], "product": "a", "gt": "a"}]}"#.to_vec(),
            422,
            "pairs[0].id",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": "", "product": "a", "gt": "a"}]}"#.to_vec(),
            422,
            "`pairs[0].id` is empty",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": 7, "product": "a", "gt": "b"}, {"id": "8", "product": "a", "gt": "b"}, {"id": " 7", "product": "c", "gt": "d"}]}"#.to_vec(),
            422,
            "`pairs[2].id` `7` repeats `pairs[0].id`",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": "x", "product": "a\u0000b", "gt": "a"}]}"#.to_vec(),
            422,
            "NUL byte",
        ),
        (
            "/score",
            br#"{"pairs": [], "extra": 1}"#.to_vec(),
            422,
            "unknown field `extra`",
        ),
        (
            "/embed",
            br#"{"inputs": []}"#.to_vec(),
            400,
            "`inputs` is empty",
        ),
        (
            "/embed",
            br#"{"inputs": ["a", 1]}"#.to_vec(),
            422,
            "`inputs[1]`: expected a string, found a number",
        ),
        (
            "/similarity",
            br#"{"inputs": {"source_sentence": "a", "sentences": ["b", "c\u0000"]}}"#.to_vec(),
            422,
            "`inputs.sentences[1]` holds a NUL byte",
        ),
        (
            "/similarity",
            br#"{"inputs": {"source_sentence": "a", "sentences": ["b"]}, "parameters": {"truncation_direction": "left"}}"#.to_vec(),
            422,
            "`parameters.truncation_direction`: `left` is not supported",
        ),
        (
            "/similarity",
            br#"{"inputs": {"source_sentence": "a", "sentences": ["b"]}, "parameters": {"prompt_name": "nope"}}"#.to_vec(),
            422,
            "nope",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": "x", "product": "a", "gt": "b", "phase": "ra\u0000ce"}]}"#.to_vec(),
            422,
            "`pairs[0].phase` holds a NUL byte",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": "x", "product": "a", "gt": "b", "phase": "ra\u001b[2Jce"}]}"#.to_vec(),
            422,
            "`pairs[0].phase` holds the control character U+001B at character 3",
        ),
        (
            "/score",
            br#"{"pairs": [{"id": "x", "product": "a", "gt": "b", "phase": " (pooled)"}]}"#.to_vec(),
            422,
            "`pairs[0].phase` `(pooled)` is a name calibration gives its own rows",
        ),
        (
            "/score",
            format!(
                r#"{{"pairs": [{{"id": "x", "product": "{}", "gt": "b"}}]}}"#,
                "\\u0001".repeat(65_537)
            )
            .into_bytes(),
            422,
            "`pairs[0].product` is 65537 bytes long, more than the 65536 a title may hold",
        ),
        (
            "/v1/embeddings",
            br#"{"input": [1, 2]}"#.to_vec(),
            422,
            "token arrays",
        ),
        (
            "/embed",
            br#"{"inputs": "a", "truncation_direction": "left"}"#.to_vec(),
            422,
            "truncation_direction",
        ),
        (
            "/v1/embeddings",
            br#"{"input": [[1, 2]]}"#.to_vec(),
            422,
            "token arrays",
        ),
        (
            "/v1/embeddings",
            br#"{"input": "a", "dimensions": 8}"#.to_vec(),
            422,
            "`dimensions`",
        ),
        (
            "/v1/embeddings",
            br#"{"input": "a", "encoding_format": "int8"}"#.to_vec(),
            422,
            "encoding_format",
        ),
    ];
    let labels = json!({"pairs": [
        {"id": 1, "product": "a", "gt": "b", "label": true},
        {"id": 2, "product": "a", "gt": "b", "label": "1"},
        {"id": 3, "product": "a", "gt": "b", "label": 1.0}
    ]});
    let (status, v) = server.post("/score", &labels);
    assert_eq!(status, 200, "{v}");
    for (path, body, want, says) in cases {
        let (status, bytes) = server.request("POST", path, &body);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(
            status,
            want,
            "{path} {}: {text}",
            String::from_utf8_lossy(&body)
        );
        assert!(text.contains(says), "{path}: `{says}` not in {text}");
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        if path.starts_with("/v1/") {
            assert!(
                v["error"]["message"].is_string() && v["error"]["type"].is_string(),
                "{v}"
            );
        } else {
            assert!(v["error"].is_string() && v["error_type"].is_string(), "{v}");
        }
    }
    // Too many pairs in one request, and a body over the limit: 413.
    let many = pairs_json(&pairs(1001));
    let (status, v) = server.post("/score", &many);
    assert_eq!(status, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("max_inputs"), "{v}");
    // 10,000 pairs in one request: over both limits, refused whole (nothing scored).
    let (status, v) = server.post("/score", &pairs_json(&pairs(10_000)));
    assert_eq!(status, 413, "{v}");
    let huge = json!({"pairs": [{"id": "1", "product": "x".repeat(700_000), "gt": "a"}]});
    let (status, v) = server.post("/score", &huge);
    assert_eq!(status, 413, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("max_body_bytes"),
        "{v}"
    );
    // /similarity takes max_inputs sentences besides its source sentence (the source used to
    // count as one more, and the 413 named a field the request does not have).
    let sentences = vec!["a"; 1000];
    let (status, v) = server.post(
        "/similarity",
        &json!({"inputs": {"source_sentence": "b", "sentences": sentences}}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().map(Vec::len), Some(1000));
    // A body starting with a UTF-8 byte-order mark (PowerShell writes one) is read, as the
    // file readers read one; it was a 422 "expected value at line 1 column 1".
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(br#"{"pairs": [{"id": "bom", "product": "a", "gt": "a"}]}"#);
    let (status, bytes) = server.request("POST", "/score", &bom);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    let sentences = vec!["a"; 1001];
    let (status, v) = server.post(
        "/similarity",
        &json!({"inputs": {"source_sentence": "b", "sentences": sentences}}),
    );
    assert_eq!(status, 413, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("`inputs.sentences` holds 1001"),
        "{v}"
    );
    // A text longer than the model's maximum length is cut, unless the request says
    // `"truncate": false`: then it is refused, naming the text, as text-embeddings-inference
    // refuses it, and not embedded in part.
    let long = "wireless noise cancelling headphones ".repeat(200);
    let (status, cut) = server.post("/embed", &json!({"inputs": ["a", long]}));
    assert_eq!(status, 200, "{cut}");
    let (status, v) = server.post("/embed", &json!({"inputs": ["a", long], "truncate": true}));
    assert_eq!((status, &v), (200, &cut));
    let (status, v) = server.post("/embed", &json!({"inputs": ["a", long], "truncate": false}));
    assert_eq!(
        (status, v["error_type"].as_str()),
        (413, Some("payload_too_large")),
        "{v}"
    );
    let e = v["error"].as_str().unwrap();
    assert!(
        e.starts_with("`inputs[1]` has more than the model's ")
            && e.contains("`truncate` is false"),
        "{v}"
    );
    let (status, v) = server.post(
        "/similarity",
        &json!({"inputs": {"source_sentence": "a", "sentences": ["b", long]},
                "parameters": {"truncate": false}}),
    );
    assert_eq!(status, 413, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.starts_with("`inputs.sentences[1]` has more than")
            && e.contains("`parameters.truncate` is false"),
        "{v}"
    );
    let (status, v) = server.post(
        "/similarity",
        &json!({"inputs": {"source_sentence": "a", "sentences": ["b", long]}}),
    );
    assert_eq!(status, 200, "{v}");
    // An unknown path, or a method an endpoint does not take: a message in the family's
    // shape (an empty body had an OpenAI client say only "Error code: 404").
    let json_of = |(status, bytes): (u16, Vec<u8>)| -> (u16, Value) {
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    };
    let (status, v) = json_of(server.request("GET", "/nope", b""));
    assert_eq!(
        (status, v["error_type"].as_str()),
        (404, Some("not_found")),
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("no endpoint GET /nope: the endpoints are POST /score,"),
        "{v}"
    );
    let (status, v) = json_of(server.request("GET", "/v1/models", b""));
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found", "{v}");
    let (status, v) = json_of(server.request("GET", "/v1/embeddings", b""));
    assert_eq!(status, 405, "{v}");
    assert_eq!(
        v["error"]["message"]
            .as_str()
            .map(|m| m.starts_with("/v1/embeddings does not take GET")),
        Some(true),
        "{v}"
    );
    // Nothing bad was logged (only the three pairs of labels and the pair sent with a
    // byte-order mark), and the service still works.
    let (status, _) = server.post("/score", &pairs_json(&pairs(2)));
    assert_eq!(status, 200);
    let (_, said) = server.stop();
    let records = titlesim::read_log(&log).unwrap().records;
    assert_eq!(records.len(), 6, "{said}");
    let labels: Vec<_> = records[..3].iter().map(|r| r.label).collect();
    assert_eq!(labels, [Some(1); 3]);
}

#[test]
fn a_full_queue_answers_429_and_never_anything_else() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let server = Server::start(&config(
        d.path(),
        &log,
        "max_queue = 1\nmax_batch_items = 8",
    ));
    let port = server.port;
    let body = pairs_json(&pairs(200)).to_string();
    let handles: Vec<_> = (0..24)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || request(port, "POST", "/score", body.as_bytes()).unwrap())
        })
        .collect();
    let mut seen = HashSet::new();
    let mut answered = 0;
    for h in handles {
        let (status, bytes) = h.join().unwrap();
        seen.insert(status);
        answered += usize::from(status == 200);
        if status == 429 {
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["error_type"], "overloaded", "{v}");
        }
    }
    assert!(seen.iter().all(|s| [200, 429].contains(s)), "{seen:?}");
    assert!(
        seen.contains(&429),
        "24 requests of 200 pairs against a queue of 1: {seen:?}"
    );
    // A refused request is refused before its texts are tokenised (megabytes each, at up to
    // `max_body_bytes`): every request tokenised was answered, and the queue is empty again.
    let (_, metrics) = server.request("GET", "/metrics", b"");
    let metrics = String::from_utf8_lossy(&metrics);
    let tokenised = metrics
        .lines()
        .find_map(|l| l.strip_prefix("titlesim_tokenization_seconds_count "))
        .unwrap_or_else(|| panic!("{metrics}"));
    assert_eq!(tokenised.trim(), answered.to_string(), "{metrics}");
    assert!(
        metrics.lines().any(|l| l == "titlesim_queue_size 0"),
        "{metrics}"
    );
}

#[test]
fn the_queue_gauge_is_back_at_zero_once_every_request_is_answered() {
    // Requests of 200 pairs against batches of 256: the second request of a batch does not
    // fit and is held over to the next one. It was counted out of the queue twice, and the
    // gauge wrapped to 18446744073709551615.
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let server = Server::start(&config(
        d.path(),
        &log,
        "max_batch_items = 256\nmax_batch_tokens = 1000000\nmax_wait_ms = 50",
    ));
    let port = server.port;
    let body = pairs_json(&pairs(200)).to_string();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let body = body.clone();
            std::thread::spawn(move || request(port, "POST", "/score", body.as_bytes()).unwrap())
        })
        .collect();
    for h in handles {
        let (status, bytes) = h.join().unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    }
    let (status, metrics) = server.request("GET", "/metrics", b"");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.lines().any(|l| l == "titlesim_queue_size 0"),
        "{metrics}"
    );
}

/// Scores `n` pairs in one request (all answered) and returns their ids.
fn answered_pairs(server: &Server, n: usize) -> Vec<String> {
    let p = pairs(n);
    let (status, v) = server.post("/score", &pairs_json(&p));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), n);
    p.into_iter().map(|(id, _, _)| id).collect()
}

/// Every id in `answered` has exactly one record in `log`.
fn assert_logged_once(log: &Path, answered: &[String]) {
    let records = titlesim::read_log(log).unwrap();
    assert!(records.skipped.is_empty());
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in &records.records {
        *count.entry(r.pair_id.as_str()).or_default() += 1;
    }
    for id in answered {
        assert_eq!(
            count.get(id.as_str()),
            Some(&1),
            "{id}: answered, logged {count:?}"
        );
    }
}

/// A raw connection that sends `sent` and then stalls (never sends the rest).
fn stalled(port: u16, sent: &str) -> TcpStream {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(sent.as_bytes()).unwrap();
    c.flush().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

#[test]
fn stalled_clients_do_not_keep_sigterm_from_stopping_the_server() {
    // A client that sent half its headers, or its headers and half its body, and then
    // stalled kept the server running after SIGTERM for as long as it stayed connected.
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let mut server = Server::start(&config(d.path(), &log, "read_timeout_ms = 1000"));
    let answered = answered_pairs(&server, 5);
    let mut half_head = stalled(server.port, "POST /score HTTP/1.1\r\nHost: x\r\n");
    let mut half_body = stalled(
        server.port,
        "POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"pairs\": [",
    );
    // Both connections are taken before the signal (a plain request after them is answered).
    assert_eq!(server.get("/health").0, 200);
    let t0 = Instant::now();
    server.term();
    let (status, said) = server.wait_exit(Duration::from_secs(20));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    assert!(status.success(), "{said}");
    assert!(said.contains("stopping: no new connections"), "{said}");
    assert!(said.contains("stopped: 5 pairs scored"), "{said}");
    // The stalled body was answered 408; the stalled headers' connection was closed.
    let mut got = String::new();
    let _ = half_body.read_to_string(&mut got);
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("read_timeout_ms"), "{got}");
    let mut got = Vec::new();
    let _ = half_head.read_to_end(&mut got);
    assert!(!String::from_utf8_lossy(&got).contains(" 200 "));
    assert_logged_once(&log, &answered);
}

#[test]
fn a_second_sigterm_stops_without_waiting_for_a_stalled_client() {
    // With the default read timeout (30 s), a stalled client holds a graceful stop; the
    // second SIGTERM must not wait for it, and must still write every answered pair's record.
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let mut server = Server::start(&config(d.path(), &log, ""));
    let answered = answered_pairs(&server, 7);
    let _half_head = stalled(server.port, "POST /score HTTP/1.1\r\nHost: x\r\n");
    assert_eq!(server.get("/health").0, 200);
    server.term();
    server.wait_for_stderr("stopping: no new connections", Duration::from_secs(10));
    // The first signal alone does not stop it while the client stalls.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "{}",
        server.stderr()
    );
    let t0 = Instant::now();
    server.term();
    let (status, said) = server.wait_exit(Duration::from_secs(20));
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    assert!(!status.success(), "a forced stop exited 0: {said}");
    assert!(
        said.contains("stopping: no new connections; finishing the requests of 1 open connection,"),
        "{said}"
    );
    assert!(
        said.contains("stopped by a second signal: 1 open connection closed without an answer"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "stopped: 7 pairs scored; shadow records written: 7 {}",
            log.display()
        )),
        "{said}"
    );
    assert_logged_once(&log, &answered);
}

/// An operator hears of lost shadow records when they start, not only at the exit, and of a
/// log moved by rotation; SIGHUP (logrotate's usual `postrotate`) does not stop the service;
/// the exit names each file that lost records.
#[test]
fn lost_records_and_rotation_are_said_as_they_happen_and_sighup_goes_on() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let cfg = config(d.path(), &log, "");
    // EMF to /dev/full: every write fails.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[serve]", "emf = \"/dev/full\"\n\n[serve]");
    std::fs::write(&cfg, text).unwrap();
    let server = Server::start(&cfg);
    let wait_for = |what: &str| {
        let t0 = Instant::now();
        while !server.stderr().contains(what) {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "no {what:?} in: {}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let (status, v) = server.post("/score", &pairs_json(&pairs(2)));
    assert_eq!(status, 200, "{v}");
    wait_for("warning: shadow records are being lost: emf:/dev/full: 2 records not written (");
    // Rotated away (logrotate's `create`): said, and the next records go to the path.
    std::fs::rename(&log, d.path().join("shadow.jsonl.1")).unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status();
    wait_for("SIGHUP: going on");
    let (status, _) = server.post("/score", &pairs_json(&pairs(3)[2..]));
    assert_eq!(status, 200, "{}", server.stderr());
    wait_for(&format!(
        "note: {} opened again at its path (moved or removed by log rotation",
        log.display()
    ));
    let (status, said) = server.stop();
    assert!(!status.success(), "lost records exited 0: {said}");
    assert!(
        said.contains(&format!(
            "stopped: 3 pairs scored; shadow records written: 3 {} (opened again once at its path), \
             0 emf:/dev/full",
            log.display()
        )),
        "{said}"
    );
    assert!(
        said.contains("shadow records lost: emf:/dev/full: 3 records not written ("),
        "{said}"
    );
    assert_eq!(titlesim::read_log(&log).unwrap().records.len(), 1);
}

/// A service started on the log of other models (a promotion that kept its path: [canonical]
/// and [shadow] swapped) refuses to start, before any record joins it; the models that wrote
/// the log start on it as before.
#[test]
fn a_log_written_by_other_models_is_refused_at_start() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("shadow.jsonl");
    let c = config(d.path(), &log, "");
    let pairs = data("sample_pairs.csv");
    ok(&titlesim(&["shadow", "-c", s(&c), "-p", s(&pairs)], None));
    let before = std::fs::read_to_string(&log).unwrap();
    let swapped = d.path().join("swapped.toml");
    let text = std::fs::read_to_string(&c).unwrap();
    let (mean, cls) = (
        format!("{:?}", s(&fixture("tiny-bert-mean"))),
        format!("{:?}", s(&fixture("tiny-bert-cls"))),
    );
    let text = text
        .replacen(&mean, "MEAN", 1)
        .replacen(&cls, &mean, 1)
        .replacen("MEAN", &cls, 1);
    std::fs::write(&swapped, text).unwrap();
    let e = fails(&titlesim(
        &["serve", "-c", s(&swapped), "--addr", "127.0.0.1:0"],
        None,
    ));
    assert!(
        e.contains(&format!("{}: pair `", log.display()))
            && e.contains("was scored by canonical model")
            && e.contains("one log never mixes two models"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), before);
    // The configuration that wrote it serves on it.
    let server = Server::start(&c);
    drop(server);
}
