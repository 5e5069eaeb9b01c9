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
    /// The model as configured (folder, cache entry or hub id).
    pub model: String,
    /// The backend that ran it.
    pub backend: String,
    /// The fingerprint of its vectors (see [`crate::fingerprint`]).
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
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains("label"));
        assert!(line.contains("\"error\":\"timeout after 2000 ms\""));
        let back: ShadowRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
    }
}
