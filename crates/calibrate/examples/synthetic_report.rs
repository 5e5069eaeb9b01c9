//! Writes a synthetic shadow log shaped like the real run in the design notes (race 5735
//! pairs, qualifying 501; canonical threshold 0.70; the shadow model's cosines average ~0.79
//! and it was configured with 0.95), calibrates it, prints the summary and writes a report.
//!
//! ```sh
//! cargo run -p titlesim-calibrate --example synthetic_report -- /tmp/report [--labels]
//! ```

use titlesim_calibrate::rng::SplitMix64;
use titlesim_calibrate::{calibrate_logs, render_text, write_report, Options, ReportOptions};
use titlesim_log::{ShadowRecord, SideRecord, SCHEMA_VERSION};

fn side(model: &str, backend: &str, threshold: f32, cosine: f32) -> SideRecord {
    SideRecord {
        model: model.into(),
        backend: backend.into(),
        fingerprint: "ts1-synthetic".into(),
        threshold,
        cosine: Some(cosine),
        pass: Some(cosine >= threshold),
        encode_ms: 2.0,
        error: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "calibration-report".into()));
    let labels = args.any(|a| a == "--labels");
    std::fs::create_dir_all(&dir)?;
    let mut rng = SplitMix64::new(2026);
    let mut lines = String::new();
    for i in 0..(5735 + 501) {
        let (phase, noise) = if i < 5735 {
            ("race", 0.045)
        } else {
            ("qualifying", 0.06)
        };
        let c = (0.70 + 0.11 * rng.normal()).clamp(-1.0, 1.0);
        let s = (0.62 * c + 0.35 + noise * rng.normal()).clamp(-1.0, 1.0);
        let r = ShadowRecord {
            schema: SCHEMA_VERSION,
            ts: "2026-11-28T00:00:00Z".into(),
            pair_id: format!("p{i}"),
            phase: Some(phase.into()),
            product: format!("product {i}"),
            gt: format!("gt {i}"),
            label: labels.then(|| u8::from(c + 0.06 * rng.normal() > 0.70)),
            canonical: side("BAAI/bge-small-en-v1.5", "candle", 0.70, c as f32),
            shadow: Some(side("Qwen/Qwen3-Embedding-0.6B", "ort", 0.95, s as f32)),
            replayed_at: None,
        };
        lines.push_str(&serde_json::to_string(&r)?);
        lines.push('\n');
    }
    let log = dir.join("shadow.jsonl");
    std::fs::write(&log, lines)?;
    let cal = calibrate_logs(&[&log], &Options::default())?;
    print!("{}", render_text(&cal));
    let rep = write_report(&cal, &dir, &ReportOptions::default())?;
    println!(
        "\nreport: {} ({} files; PNG font: {})",
        rep.html.display(),
        rep.files.len(),
        rep.png_font.as_deref().unwrap_or("none")
    );
    Ok(())
}
