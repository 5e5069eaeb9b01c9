//! Tests of the report: the formatting helpers and a fixture run rendered.

use clap::Parser;

use super::*;

#[test]
fn numbers_or_n_a() {
    assert_eq!(fmt(1.25, 1), "1.2");
    assert_eq!(fmt(f64::NAN, 2), "n/a");
    assert_eq!(fmt_opt(Some(187.6), 0, " MB"), "188 MB");
    assert_eq!(fmt_opt(Some(f64::INFINITY), 0, ""), "n/a");
    assert_eq!(fmt_opt(None, 6, ""), "n/a");
}

/// A row of all-MiniLM-L6-v2 (or another model) with throughputs and parity.
fn row(id: &str, model: &str, engine: &str, b32: f64, b1: f64, cos: Option<f64>) -> Row {
    Row {
        id: id.into(),
        model: model.into(),
        folder: id.split('@').next().unwrap().into(),
        engine: engine.into(),
        format: "onnx fp32".into(),
        peer: id.contains("@peer-"),
        runs: 1,
        n_titles: if model.contains("Qwen") { 4 } else { 64 },
        load_s: 0.25,
        b32_titles_per_s: b32,
        b1_p50_ms: 1000.0 / b1,
        b1_p99_ms: 1500.0 / b1,
        b1_titles_per_s: b1,
        peak_rss_mb: (!id.contains("@peer-")).then_some(188.4),
        parity_min_cos: cos,
        parity_ref: Some(match cos {
            None => "(reference)".into(),
            Some(_) if model.contains("random") => "titlesim ort".into(),
            Some(_) => "sentence-transformers".into(),
        }),
        error: None,
        note: None,
    }
}

fn fixture() -> Report {
    let minilm = "all-MiniLM-L6-v2";
    let (bge, qwen) = (
        "bge-small-en-v1.5 (random)",
        "Qwen3-Embedding-0.6B (random)",
    );
    let mut failed = row(
        "all-MiniLM-L6-v2-int8@tract",
        "all-MiniLM-L6-v2 int8",
        "titlesim tract",
        f64::NAN,
        f64::NAN,
        None,
    );
    failed.error = Some("exit 1: boom | bad".into());
    failed.runs = 0;
    failed.parity_ref = None;
    let rows = vec![
        row(
            "all-MiniLM-L6-v2@candle",
            minilm,
            "titlesim candle",
            742.1,
            371.9,
            Some(1.0),
        ),
        row(
            "all-MiniLM-L6-v2@candle-int8",
            minilm,
            "titlesim candle int8",
            1225.1,
            661.7,
            Some(0.999022),
        ),
        row(
            "all-MiniLM-L6-v2@ort",
            minilm,
            "titlesim ort",
            801.1,
            329.5,
            Some(0.99999),
        ),
        row(
            "all-MiniLM-L6-v2@tract",
            minilm,
            "titlesim tract",
            553.7,
            211.1,
            Some(0.998),
        ),
        failed,
        row(
            "synthetic/bge-small-en-v1.5-random@ort",
            bge,
            "titlesim ort",
            80.0,
            44.8,
            None,
        ),
        row(
            "synthetic/bge-small-en-v1.5-random@candle",
            bge,
            "titlesim candle",
            92.7,
            39.0,
            Some(1.0),
        ),
        row(
            "synthetic/bge-small-en-v1.5-random@candle-int8",
            bge,
            "titlesim candle int8",
            160.0,
            70.0,
            Some(0.9995),
        ),
        row(
            "synthetic/Qwen3-Embedding-0.6B-random@candle-int8",
            qwen,
            "titlesim candle int8",
            6.4,
            2.0,
            Some(0.9994),
        ),
        row(
            "synthetic/Qwen3-Embedding-0.6B-random@ort",
            qwen,
            "titlesim ort",
            2.1,
            1.6,
            None,
        ),
        row(
            "synthetic/Qwen3-Embedding-0.6B-random@candle",
            qwen,
            "titlesim candle",
            2.1,
            0.8,
            Some(1.0),
        ),
        row(
            "all-MiniLM-L6-v2@peer-ort",
            minilm,
            "ONNX Runtime (Python)",
            782.7,
            313.1,
            Some(1.0),
        ),
        row(
            "all-MiniLM-L6-v2@peer-st",
            minilm,
            "sentence-transformers (torch)",
            291.4,
            107.9,
            None,
        ),
        row(
            "all-MiniLM-L6-v2@peer-titlesim",
            minilm,
            "titlesim Python package (candle)",
            730.0,
            360.0,
            Some(1.0),
        ),
    ];
    let cpu = tb::CpuInfo {
        arch: "x86_64".into(),
        model: "Test <CPU> & co".into(),
        logical_cores: 2,
        features: vec!["avx2".into()],
        emulated: None,
        host_kind: "AVX2-only".into(),
        avx2_capped: Vec::new(),
    };
    let mut a = Args::parse_from(["head2head", "--quick"]);
    a.apply_quick();
    let versions = [("titlesim".to_string(), "0.1.0".to_string())];
    Report::new(
        &a,
        &cpu,
        &versions,
        64,
        rows,
        &["x@y (files not in /m)".to_string()],
    )
}

#[test]
fn targets_count_only_backends_with_parity() {
    let md = fixture().markdown();
    // candle int8 is the fastest with parity ≥ 0.999: 1225.1 / 782.7 and 661.7 / 313.1
    assert!(
        md.contains("| ≥ 1.3 | 1.57× | **met** | titlesim candle int8: 1225.1 vs 782.7 titles/s |"),
        "{md}"
    );
    assert!(
        md.contains("| ≥ 2 | 2.11× | **met** | titlesim candle int8: 661.7 vs 313.1 titles/s |"),
        "{md}"
    );
    // tract is fast enough at batch 32 (1.41×) but its parity 0.998 fails the target
    assert!(
        md.contains("| ≤ 1.5 | 1.41× | **not met** | 553.7 vs 782.7 titles/s; parity 0.998000 |"),
        "{md}"
    );
    assert!(md.contains("| all-MiniLM-L6-v2 int8 | titlesim tract | onnx fp32 | failed: exit 1: boom / bad ||||||||"), "{md}");
    assert!(
        md.contains("| Qwen3-Embedding-0.6B (random) (4 titles) | titlesim candle |"),
        "{md}"
    );
    assert!(
        md.contains("| candle | f32 | 10.79 | 476.19 | 44.1× | 188 | 188 |"),
        "{md}"
    );
    // int8 rows get their own line, after candle's f32 one (6.25 / 156.25 ms per title).
    let f32_line = md.find("| candle | f32 |").unwrap();
    let int8_line = md
        .find("| candle | int8 | 6.25 | 156.25 | 25.0× |")
        .expect(&md);
    assert!(int8_line > f32_line, "{md}");
    assert!(
        md.contains(
            "| all-MiniLM-L6-v2 | titlesim candle int8 | 1225.1 | titlesim candle int8 | 1.51 |"
        ),
        "{md}"
    );
    assert!(
        md.ends_with("Skipped (files missing): x@y (files not in /m).\n\n"),
        "{md}"
    );
    // The Python package against the CLI's candle row: 730.0 / 742.1 titles/s; p50
    // 1000/360.0 - 1000/371.9 ms = +89 µs per call.
    assert!(
        md.contains("| Python package ≥ 0.95× the CLI's candle throughput, batch 32 | ≥ 0.95 | 0.98× | **met** | 730.0 vs 742.1 titles/s |"),
        "{md}"
    );
    assert!(
        md.contains("| Python package's per-call overhead < 50 µs, batch 1 (p50) | < 50 µs | 1.03× | **not met** | 2.778 vs 2.689 ms: +89 µs per call |"),
        "{md}"
    );
    // The target table says which host kind it ran on (benches/README.md keeps one per kind).
    let at = md.find("### Speed targets").expect("target table");
    assert!(md[at..].contains("Host kind: **AVX2-only**."), "{md}");
    let json = fixture().json();
    assert_eq!(json["cpu"]["host_kind"], "AVX2-only");
    assert_eq!(json["targets"].as_array().unwrap().len(), 8);
    assert_eq!(json["targets"][4]["met"], false);
    assert_eq!(json["bge_vs_qwen3"][1]["backend"], "candle");
    assert_eq!(json["bge_vs_qwen3"][1]["dtype"], "int8");
    assert_eq!(json["bge_vs_qwen3"][1]["qwen3_peak_rss_mb"], 188.4);
    let svg = fixture().svg();
    assert_eq!(
        svg.matches("<rect x=").count(),
        13,
        "one bar per row that did not fail"
    );
    assert!(svg.contains("Test &lt;CPU&gt; &amp; co"));
}

#[test]
fn a_capped_run_counts_only_the_capped_backends_as_fastest() {
    let mut report = fixture();
    report.cpu.host_kind = "AVX2-only for tract (...)".into();
    report.cpu.avx2_capped = vec!["tract".into()];
    let md = report.markdown();
    // candle int8 (1225.1 titles/s) used the CPU's wider kernels: tract (553.7) is the
    // fastest that counts, and its parity 0.998 fails.
    assert!(
        md.contains("| fastest backend (among tract, capped to AVX2) ≥ 1.3× ONNX Runtime from Python, all-MiniLM-L6-v2, batch 32 | ≥ 1.3 | n/a |"),
        "{md}"
    );
    report.cpu.avx2_capped = vec!["candle".into(), "tract".into()];
    let md = report.markdown();
    assert!(
        md.contains("| fastest backend (among candle and tract, capped to AVX2) ≥ 1.3× ONNX Runtime from Python, all-MiniLM-L6-v2, batch 32 | ≥ 1.3 | 1.57× | **met** | titlesim candle int8: 1225.1 vs 782.7 titles/s |"),
        "{md}"
    );
}
