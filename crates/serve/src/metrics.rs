//! Counters and histograms, rendered in Prometheus' text format at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A histogram with fixed upper bounds (`le`), as Prometheus defines one.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    state: Mutex<(Vec<u64>, f64, u64)>,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            state: Mutex::new((vec![0; bounds.len()], 0.0, 0)),
        }
    }

    /// Records one observation.
    pub fn observe(&self, v: f64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                s.0[i] += 1;
            }
        }
        s.1 += v;
        s.2 += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&s.0) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", s.2);
        let _ = writeln!(out, "{name}_sum {}", s.1);
        let _ = writeln!(out, "{name}_count {}", s.2);
    }
}

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SIZES: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
const TOKENS: &[f64] = &[16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0];

/// Everything `/metrics` reports.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<&'static str, u64>>,
    failures: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Requests waiting in the queue now.
    pub queue_size: AtomicUsize,
    /// Items (pairs or texts) per backend batch.
    pub batch_items: Histogram,
    /// Tokens per backend batch.
    pub batch_tokens: Histogram,
    /// Time spent tokenising a request (to count its tokens).
    pub tokenization_seconds: Histogram,
    /// Time a request waited in the queue.
    pub queue_seconds: Histogram,
    /// Time a backend batch took.
    pub inference_seconds: Histogram,
    /// Pairs scored.
    pub pairs_scored: AtomicU64,
    /// Texts embedded.
    pub texts_embedded: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            failures: Mutex::default(),
            queue_size: AtomicUsize::new(0),
            batch_items: Histogram::new(SIZES),
            batch_tokens: Histogram::new(TOKENS),
            tokenization_seconds: Histogram::new(SECONDS),
            queue_seconds: Histogram::new(SECONDS),
            inference_seconds: Histogram::new(SECONDS),
            pairs_scored: AtomicU64::new(0),
            texts_embedded: AtomicU64::new(0),
        }
    }
}

/// Shadow-log counts, read from the shadow scorer when `/metrics` is asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShadowCounts {
    /// Records written by every sink together.
    pub written: u64,
    /// Records lost (in batches a sink failed to write).
    pub lost: u64,
}

impl Metrics {
    /// Counts a request to `endpoint`.
    pub fn request(&self, endpoint: &'static str) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint)
            .or_default() += 1;
    }

    /// Counts a failed request to `endpoint` by the kind of its error.
    pub fn failure(&self, endpoint: &'static str, kind: &'static str) {
        *self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((endpoint, kind))
            .or_default() += 1;
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, shadow: Option<ShadowCounts>) -> String {
        let mut out = String::new();
        out.push_str("# HELP titlesim_requests_total Requests received, by endpoint.\n# TYPE titlesim_requests_total counter\n");
        for (e, n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "titlesim_requests_total{{endpoint=\"{e}\"}} {n}");
        }
        out.push_str("# HELP titlesim_request_failures_total Requests answered with an error, by endpoint and kind.\n# TYPE titlesim_request_failures_total counter\n");
        for ((e, k), n) in self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "titlesim_request_failures_total{{endpoint=\"{e}\",kind=\"{k}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP titlesim_queue_size Requests waiting in the batching queue.\n# TYPE titlesim_queue_size gauge\ntitlesim_queue_size {}",
            self.queue_size.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP titlesim_pairs_scored_total Pairs scored.\n# TYPE titlesim_pairs_scored_total counter\ntitlesim_pairs_scored_total {}",
            self.pairs_scored.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP titlesim_texts_embedded_total Texts embedded.\n# TYPE titlesim_texts_embedded_total counter\ntitlesim_texts_embedded_total {}",
            self.texts_embedded.load(Ordering::Relaxed)
        );
        self.batch_items.render(
            &mut out,
            "titlesim_batch_items",
            "Pairs or texts per backend batch.",
        );
        self.batch_tokens.render(
            &mut out,
            "titlesim_batch_tokens",
            "Tokens per backend batch.",
        );
        self.tokenization_seconds.render(
            &mut out,
            "titlesim_tokenization_seconds",
            "Time spent tokenising a request.",
        );
        self.queue_seconds.render(
            &mut out,
            "titlesim_queue_seconds",
            "Time a request waited in the queue.",
        );
        self.inference_seconds.render(
            &mut out,
            "titlesim_inference_seconds",
            "Time a backend batch took.",
        );
        if let Some(s) = shadow {
            let _ = writeln!(
                out,
                "# HELP titlesim_shadow_records_written_total Shadow records written, all sinks together.\n# TYPE titlesim_shadow_records_written_total counter\ntitlesim_shadow_records_written_total {}",
                s.written
            );
            let _ = writeln!(
                out,
                "# HELP titlesim_shadow_records_lost_total Shadow records a sink failed to write.\n# TYPE titlesim_shadow_records_lost_total counter\ntitlesim_shadow_records_lost_total {}",
                s.lost
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text_with_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/score");
        m.request("/score");
        m.failure("/score", "validation");
        m.batch_items.observe(3.0);
        m.batch_items.observe(40.0);
        let text = m.render(Some(ShadowCounts {
            written: 5,
            lost: 1,
        }));
        for line in [
            "titlesim_requests_total{endpoint=\"/score\"} 2",
            "titlesim_request_failures_total{endpoint=\"/score\",kind=\"validation\"} 1",
            "# TYPE titlesim_batch_items histogram",
            "titlesim_batch_items_bucket{le=\"2\"} 0",
            "titlesim_batch_items_bucket{le=\"4\"} 1",
            "titlesim_batch_items_bucket{le=\"64\"} 2",
            "titlesim_batch_items_bucket{le=\"+Inf\"} 2",
            "titlesim_batch_items_sum 43",
            "titlesim_batch_items_count 2",
            "titlesim_shadow_records_written_total 5",
            "titlesim_shadow_records_lost_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        // Every sample line is `name{labels} value` or `name value` with a number.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let v = l.rsplit(' ').next().unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }
}
