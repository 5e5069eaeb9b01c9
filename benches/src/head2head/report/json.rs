//! `head2head.json`: the run, every row, the targets, the bge-small vs Qwen3 cost and the best
//! backend per model, for tools.

use serde_json::json;

use super::Report;

impl Report {
    /// The whole report as JSON.
    pub(super) fn json(&self) -> serde_json::Value {
        json!({
            "threads": self.threads,
            "titles": self.n_titles,
            "latency_titles": self.latency_titles,
            "runs": self.runs,
            "quick": self.quick,
            "cpu": self.cpu,
            "versions": self.versions.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "rows": self.rows,
            "targets": self.targets().iter().map(|t| json!({
                "target": t.name, "goal": t.goal, "ratio": t.ratio, "met": t.met, "detail": t.detail,
            })).collect::<Vec<_>>(),
            "bge_vs_qwen3": self.cost_ratios().iter().map(|c| json!({
                "backend": c.backend, "dtype": c.dtype, "bge_ms_per_title": c.bge_ms,
                "qwen3_ms_per_title": c.qwen3_ms, "ratio": c.ratio,
                "bge_peak_rss_mb": c.bge_rss_mb, "qwen3_peak_rss_mb": c.qwen3_rss_mb,
            })).collect::<Vec<_>>(),
            "best_per_model": self.best_per_model().iter().map(|(m, e32, t, e1, p)| json!({
                "model": m, "best_batch32": e32, "titles_per_s": t, "best_batch1": e1, "p50_ms": p,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped,
        })
    }
}
