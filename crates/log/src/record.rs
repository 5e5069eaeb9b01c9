//! The shadow log record: one per scored pair, canonical and shadow side by side.
//!
//! Written by the shadow scorer (one JSON object per line), read by calibration and review.
//! The schema is versioned by [`SCHEMA_VERSION`]; readers refuse versions they do not know.

use serde::{Deserialize, Serialize};

/// The version written in [`ShadowRecord::schema`].
pub const SCHEMA_VERSION: u32 = 1;

/// What one model did with one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideRecord {
    /// The model as loaded: the folder it was resolved to (a local folder, or the Hugging
    /// Face cache entry of a hub id), as an absolute path.
    pub model: String,
    /// The backend that ran it.
    pub backend: String,
    /// The fingerprint of its vectors (see [`titlesim_core::fingerprint`]).
    pub fingerprint: String,
    /// The threshold in force for this model.
    pub threshold: f32,
    /// Cosine of the two titles' embeddings; absent when the side failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosine: Option<f32>,
    /// `cosine >= threshold`; absent when the side failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<bool>,
    /// Wall time spent encoding this pair's batch, in milliseconds.
    pub encode_ms: f64,
    /// Why this side has no cosine (error or timeout); absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One scored pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowRecord {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// When the pair was scored, RFC 3339 in UTC.
    pub ts: String,
    /// The pair's id from the input.
    pub pair_id: String,
    /// The task phase (e.g. `qualifying`, `race`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The agent's (candidate) title.
    pub product: String,
    /// The ground-truth (reference) title.
    pub gt: String,
    /// A gold label when the input carried one: 1 same product, 0 not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<u8>,
    /// What the canonical model did. Its verdict is the one that counted.
    pub canonical: SideRecord,
    /// What the shadow model did; absent when the pair was not sampled for shadowing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<SideRecord>,
    /// When the record was written by `titlesim replay` (RFC 3339, UTC): the pair was scored
    /// again from history, and [`ShadowRecord::ts`] is the time of the original pair when the
    /// history had one (else this same time). Absent on records of live shadow scoring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed_at: Option<String>,
}

impl SideRecord {
    /// The record of a side that scored `score`: a non-finite cosine is logged as an error
    /// (JSON has no NaN), its verdict kept.
    pub fn scored(
        info: &titlesim_core::EmbedderInfo,
        score: &titlesim_core::Score,
        encode_ms: f64,
    ) -> Self {
        SideRecord {
            model: info.model.clone(),
            backend: info.backend.clone(),
            fingerprint: info.fingerprint.clone(),
            threshold: score.threshold,
            cosine: score.cosine.is_finite().then_some(score.cosine),
            pass: Some(score.pass),
            encode_ms,
            error: (!score.cosine.is_finite())
                .then(|| format!("non-finite cosine {}", score.cosine)),
        }
    }
}

/// A line of a shadow log that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: u64,
    /// Why it was skipped.
    pub reason: String,
}

/// What [`read_log`] found in a log.
#[derive(Debug, Clone, Default)]
pub struct LogContents {
    /// The complete, valid records, in file order.
    pub records: Vec<ShadowRecord>,
    /// The 1-based line of each record, in the same order: where an error about a record
    /// (a pair id reused for another pair, a record of another model) points.
    pub lines: Vec<u64>,
    /// Lines that were not valid records (a torn last line after a crash, for instance).
    pub skipped: Vec<SkippedLine>,
}

/// Reads a JSONL shadow log, keeping every valid record and reporting every line it skips.
///
/// A crash can leave at most one torn last line; that and any other invalid line is listed
/// in [`LogContents::skipped`] rather than failing the whole read. Blank lines are ignored.
/// Records of a schema version this build does not know are skipped with a reason.
///
/// Fails only when the file cannot be opened or read ([`titlesim_core::Error::Io`]).
///
/// ```
/// use titlesim_log::{read_log, ShadowRecord, SideRecord, SCHEMA_VERSION};
///
/// let side = |model: &str, cosine: f32, threshold: f32| SideRecord {
///     model: model.into(),
///     backend: "candle".into(),
///     fingerprint: format!("ts1-{model}"),
///     threshold,
///     cosine: Some(cosine),
///     pass: Some(cosine >= threshold),
///     encode_ms: 3.5,
///     error: None,
/// };
/// let record = ShadowRecord {
///     schema: SCHEMA_VERSION,
///     ts: "2026-11-28T16:38:45.203Z".into(),
///     pair_id: "17".into(),
///     phase: Some("race".into()),
///     product: "Apple iPhone 15 128GB Black".into(),
///     gt: "iPhone 15 (128 GB) - Black".into(),
///     label: None,
///     canonical: side("bge-small", 0.91, 0.70),
///     shadow: Some(side("qwen3-0.6b", 0.78, 0.72)),
///     replayed_at: None,
/// };
/// let dir = std::env::temp_dir().join(format!("titlesim-read-log-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("shadow.jsonl");
/// // One good line, then a line torn by a crash.
/// let line = serde_json::to_string(&record).unwrap();
/// std::fs::write(&path, format!("{line}\n{}", &line[..20])).unwrap();
///
/// let log = read_log(&path)?;
/// assert_eq!(log.records, vec![record]);
/// assert_eq!(log.skipped.len(), 1);
/// assert_eq!(log.skipped[0].line, 2);
/// assert!(log.skipped[0].reason.starts_with("torn last line"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), titlesim_core::Error>(())
/// ```
pub fn read_log(path: &std::path::Path) -> titlesim_core::Result<LogContents> {
    use std::io::BufRead;
    let f = std::fs::File::open(path).map_err(|e| titlesim_core::Error::io(path, e))?;
    let mut out = LogContents::default();
    let mut reader = std::io::BufReader::new(crate::BoundedLines::new(f));
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let read =
            reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| match crate::line_too_long(&e) {
                    Some(t) => titlesim_core::Error::input(path, t.line, t.to_string()),
                    None => titlesim_core::Error::io(path, e),
                })?;
        if read == 0 {
            break;
        }
        n += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = match std::str::from_utf8(&buf) {
            // A byte-order mark an editor put at the start is skipped, as in every input file.
            Ok(t) if n == 1 => t.trim_start_matches('\u{feff}').trim(),
            Ok(t) => t.trim(),
            Err(_) => {
                out.skipped.push(SkippedLine {
                    line: n,
                    reason: "not valid UTF-8".into(),
                });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<ShadowRecord>(text) {
            Ok(r) if r.schema == SCHEMA_VERSION => match checked(r) {
                Ok(r) => {
                    out.records.push(r);
                    out.lines.push(n);
                }
                Err(reason) => out.skipped.push(SkippedLine { line: n, reason }),
            },
            Ok(r) => out.skipped.push(SkippedLine {
                line: n,
                reason: format!(
                    "schema version {} (this build reads {SCHEMA_VERSION})",
                    r.schema
                ),
            }),
            Err(e) => out.skipped.push(SkippedLine {
                line: n,
                reason: if complete {
                    format!("invalid record: {e}")
                } else {
                    format!("torn last line (no newline): {e}")
                },
            }),
        }
    }
    Ok(out)
}

/// How far past ±1 a logged cosine may lie: f32 rounding of a normalised dot product.
const COSINE_SLACK: f32 = 1e-3;

/// The record with its cosines in [-1, 1] and its pair held to the rules every input path applies
/// ([`titlesim_core::Pair::checked`]): a log written by hand or by an older build may hold a
/// phase `" race "` (one phase with `"race"`), a control character in a phase, a phase named
/// as calibration's own rows, or a title too long to be one.
fn checked(mut r: ShadowRecord) -> Result<ShadowRecord, String> {
    // A cosine is in [-1, 1] (up to f32 rounding); 1.7 or 1e39 (infinite as an f32) in a log
    // edited by hand would count as a pass or a drift.
    let sides = [
        ("canonical", Some(&r.canonical)),
        ("shadow", r.shadow.as_ref()),
    ];
    for (name, side) in sides {
        if let Some(c) = side.and_then(|s| s.cosine) {
            if !c.is_finite() || c.abs() > 1.0 + COSINE_SLACK {
                return Err(format!(
                    "{name} cosine {c} is not a cosine (outside [-1, 1])"
                ));
            }
        }
        // A threshold is a configuration's, which is in [-1, 1]: 5.0 would fail every pair.
        if let Some(t) = side.map(|s| s.threshold) {
            if !(-1.0..=1.0).contains(&t) {
                return Err(format!(
                    "{name} threshold {t} is not a cosine threshold (outside [-1, 1])"
                ));
            }
        }
    }
    let pair = titlesim_core::Pair {
        id: std::mem::take(&mut r.pair_id),
        phase: r.phase.take(),
        product: std::mem::take(&mut r.product),
        gt: std::mem::take(&mut r.gt),
        label: None,
    };
    let p = pair
        .checked()
        .map_err(|e| format!("a pair no input path takes: {e}"))?;
    (r.pair_id, r.phase, r.product, r.gt) = (p.id, p.phase, p.product, p.gt);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_omits_absent_fields() {
        let side = SideRecord {
            model: "m".into(),
            backend: "candle".into(),
            fingerprint: "ts1-x".into(),
            threshold: 0.7,
            cosine: Some(0.8),
            pass: Some(true),
            encode_ms: 1.5,
            error: None,
        };
        let r = ShadowRecord {
            schema: SCHEMA_VERSION,
            ts: "2026-11-28T00:00:00Z".into(),
            pair_id: "p1".into(),
            phase: Some("race".into()),
            product: "a".into(),
            gt: "b".into(),
            label: None,
            canonical: side.clone(),
            shadow: Some(SideRecord {
                cosine: None,
                pass: None,
                error: Some("timeout after 2000 ms".into()),
                ..side
            }),
            replayed_at: None,
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("label"));
        assert!(line.contains("\"error\":\"timeout after 2000 ms\""));
        let back: ShadowRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }
    #[test]
    fn reader_keeps_good_records_and_reports_torn_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.jsonl");
        let side = SideRecord {
            model: "m".into(),
            backend: "candle".into(),
            fingerprint: "ts1-x".into(),
            threshold: 0.7,
            cosine: Some(0.8),
            pass: Some(true),
            encode_ms: 1.5,
            error: None,
        };
        let r = ShadowRecord {
            schema: SCHEMA_VERSION,
            ts: "t".into(),
            pair_id: "p1".into(),
            phase: None,
            product: "a".into(),
            gt: "b".into(),
            label: Some(1),
            canonical: side,
            shadow: None,
            replayed_at: None,
        };
        let good = serde_json::to_string(&r).unwrap();
        let mut future = r.clone();
        future.schema = 99;
        let text = format!(
            "{good}\n\n{{\"oops\": 1}}\n{}\n{good}\n{}",
            serde_json::to_string(&future).unwrap(),
            &good[..good.len() / 2]
        );
        std::fs::write(&p, text).unwrap();
        let c = read_log(&p).unwrap();
        assert_eq!(c.records.len(), 2);
        assert_eq!(
            c.lines,
            [1, 5],
            "each record's line, blank and skipped lines counted"
        );
        assert_eq!(c.skipped.len(), 3);
        assert_eq!(c.skipped[0].line, 3);
        assert!(c.skipped[1].reason.contains("schema version 99"));
        assert_eq!(c.skipped[2].line, 6);
        assert!(c.skipped[2].reason.contains("torn"));

        // A log edited by hand or written by an older build: its pairs follow today's rules.
        let with = |phase: &str| {
            let mut x = r.clone();
            x.phase = Some(phase.into());
            serde_json::to_string(&x).unwrap()
        };
        let mut off = r.clone();
        off.canonical.cosine = Some(1.7);
        let mut inf = r.clone();
        inf.shadow = Some(inf.canonical.clone());
        let inf = serde_json::to_string(&inf)
            .unwrap()
            .replacen("0.8", "1e39", 2);
        let mut rounding = r.clone();
        rounding.canonical.cosine = Some(1.000_000_1);
        let mut t5 = r.clone();
        t5.canonical.threshold = 5.0;
        let t_inf = serde_json::to_string(&r)
            .unwrap()
            .replacen("0.7", "-1e39", 1);
        let text = [
            // a byte-order mark an editor put at the start is skipped
            format!("\u{feff}{}", with(" race ")),
            with("(pooled)"),
            with("ra\u{1b}[8mce"),
            with("  "),
            serde_json::to_string(&off).unwrap(),
            inf,
            serde_json::to_string(&rounding).unwrap(),
            serde_json::to_string(&t5).unwrap(),
            t_inf,
        ]
        .join("\n");
        std::fs::write(&p, text + "\n").unwrap();
        let c = read_log(&p).unwrap();
        let phases: Vec<_> = c.records.iter().map(|r| r.phase.as_deref()).collect();
        assert_eq!(phases, [Some("race"), None, None]);
        let reasons: Vec<_> = c
            .skipped
            .iter()
            .map(|s| (s.line, s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    2,
                    "a pair no input path takes: `phase` `(pooled)` is a name calibration \
                     gives its own rows ((pooled), (none)): name the phase otherwise"
                ),
                (
                    3,
                    "a pair no input path takes: `phase` holds the control character U+001B at \
                     character 3"
                ),
                (5, "canonical cosine 1.7 is not a cosine (outside [-1, 1])"),
                (6, "canonical cosine inf is not a cosine (outside [-1, 1])"),
                (
                    8,
                    "canonical threshold 5 is not a cosine threshold (outside [-1, 1])"
                ),
                (
                    9,
                    "canonical threshold -inf is not a cosine threshold (outside [-1, 1])"
                ),
            ]
        );
    }
}
