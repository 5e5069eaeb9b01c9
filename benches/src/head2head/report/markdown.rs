//! `head2head.md` (also printed at the end of a run): the run's line, the table, then the
//! speed targets, the bge-small vs Qwen3 cost and the best backend per model.

use super::{fmt, fmt_opt, Report, Row};

impl Report {
    /// The whole Markdown report.
    pub(super) fn markdown(&self) -> String {
        let mut s = String::new();
        s += "## Head-to-head: titlesim backends and peers\n\n";
        s += &self.run_line();
        s += &self.results_table();
        s += &self.targets_section();
        s += &self.cost_section();
        s += &self.best_section();
        if !self.skipped.is_empty() {
            s += &format!("Skipped (files missing): {}.\n\n", self.skipped.join("; "));
        }
        s
    }

    /// The CPU, thread budget, sizes and versions of the run.
    fn run_line(&self) -> String {
        let c = &self.cpu;
        let mut s = format!(
            "CPU: {} `{}`, {} logical cores, features: {}. Thread budget: **{}**. \
             Titles: {} (batch 32, length-sorted batches), {} timed one by one (batch 1); \
             medians of {} round(s){}, each configuration in its own process.\n\n",
            c.arch,
            c.model,
            c.logical_cores,
            if c.features.is_empty() {
                "none detected".to_string()
            } else {
                c.features.join(", ")
            },
            self.threads,
            self.n_titles,
            self.latency_titles,
            self.runs,
            if self.quick {
                " (**--quick smoke run: numbers are not meaningful**)"
            } else {
                ""
            },
        );
        if let Some(why) = &c.emulated {
            s += &format!("**Emulated: {why}. The timings below are not meaningful.**\n\n");
        }
        s += &format!(
            "Versions: {}.\n\n",
            self.versions
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        s
    }

    /// The table: one line per configuration.
    fn results_table(&self) -> String {
        let mut s = String::new();
        s += "| model | engine | weights | titles/s @32 | p50 ms @1 | p99 ms @1 | titles/s @1 | vs ORT-Py @32 | vs ORT-Py @1 | load s | peak RSS MB | min cos vs ref |\n";
        s += "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n";
        for r in &self.rows {
            s += &self.table_line(r);
        }
        s += "\n";
        s
    }

    /// The line of `r`: its failure, or its numbers, its ratios to the ONNX Runtime baseline
    /// (all-MiniLM-L6-v2 and its int8 export only) and its parity.
    fn table_line(&self, r: &Row) -> String {
        if let Some(e) = &r.error {
            return format!(
                "| {} | {} | {} | failed: {} ||||||||\n",
                r.model,
                r.engine,
                r.format,
                e.replace('|', "/").chars().take(160).collect::<String>()
            );
        }
        let (v32, v1) = match self.ort_baseline() {
            Some((b, _)) if r.folder.starts_with("all-MiniLM-L6-v2") => (
                format!("{:.2}×", r.b32_titles_per_s / b.b32_titles_per_s),
                format!("{:.2}×", r.b1_titles_per_s / b.b1_titles_per_s),
            ),
            _ => ("".into(), "".into()),
        };
        let par = match (&r.parity_ref, r.parity_min_cos) {
            (Some(x), _) if x == "(reference)" => "reference".to_string(),
            (Some(x), Some(c)) => format!("{c:.6} ({x})"),
            _ => "n/a".into(),
        };
        let n_note = if r.n_titles != self.n_titles {
            format!(" ({} titles)", r.n_titles)
        } else {
            String::new()
        };
        format!(
            "| {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.model,
            n_note,
            r.engine,
            r.format,
            fmt(r.b32_titles_per_s, 1),
            fmt(r.b1_p50_ms, 2),
            fmt(r.b1_p99_ms, 2),
            fmt(r.b1_titles_per_s, 1),
            v32,
            v1,
            fmt(r.load_s, 2),
            fmt_opt(r.peak_rss_mb, 0, ""),
            par
        )
    }

    /// The speed targets, or a line saying they were not evaluated.
    fn targets_section(&self) -> String {
        let targets = self.targets();
        if targets.is_empty() {
            return "Speed targets: not evaluated (no ONNX Runtime baseline for all-MiniLM-L6-v2 ran).\n\n".into();
        }
        let mut s = String::new();
        s += "### Speed targets (all-MiniLM-L6-v2; a backend counts only with min cosine ≥ 0.999 vs the reference)\n\n";
        s += &format!("Host kind: **{}**.\n\n", self.cpu.host_kind);
        s += "| target | goal | measured | verdict | detail |\n|---|---|--:|---|---|\n";
        for t in &targets {
            s += &format!(
                "| {} | {} | {} | {} | {} |\n",
                t.name,
                t.goal,
                t.ratio.map_or("n/a".into(), |r| format!("{r:.2}×")),
                match t.met {
                    Some(true) => "**met**",
                    Some(false) => "**not met**",
                    None => "n/a",
                },
                t.detail
            );
        }
        s += "\n";
        s
    }

    /// bge-small vs Qwen3-0.6B per backend and precision, when both ran.
    fn cost_section(&self) -> String {
        let cr = self.cost_ratios();
        if cr.is_empty() {
            return String::new();
        }
        let mut s = String::new();
        s += "### bge-small-en-v1.5 vs Qwen3-Embedding-0.6B (architecture-faithful random weights), batch 32\n\n";
        s += "| backend | compute | bge-small ms/title | Qwen3-0.6B ms/title | Qwen3 / bge-small | bge-small peak RSS MB | Qwen3-0.6B peak RSS MB |\n|---|---|--:|--:|--:|--:|--:|\n";
        for c in &cr {
            s += &format!(
                "| {} | {} | {:.2} | {:.2} | {:.1}× | {} | {} |\n",
                c.backend,
                c.dtype,
                c.bge_ms,
                c.qwen3_ms,
                c.ratio,
                fmt_opt(c.bge_rss_mb, 0, ""),
                fmt_opt(c.qwen3_rss_mb, 0, "")
            );
        }
        s += "\n";
        s
    }

    /// The best backend per model.
    fn best_section(&self) -> String {
        let best = self.best_per_model();
        if best.is_empty() {
            return String::new();
        }
        let mut s = String::new();
        s += "### Best backend per model (among those with parity ≥ 0.999)\n\n";
        s += "| model | best @32 | titles/s | best @1 | p50 ms |\n|---|---|--:|---|--:|\n";
        for (m, e32, t, e1, p) in &best {
            s += &format!("| {m} | {e32} | {t:.1} | {e1} | {p:.2} |\n");
        }
        s += "\n";
        s
    }
}
