//! The configuration edit: `[canonical]` and `[shadow]` swap bodies (the candidate becomes
//! canonical at its new threshold, the old canonical becomes the shadow at its own), by
//! editing the TOML document so every comment and the layout stay as they were.
//!
//! Each table's body — its keys with their comments — moves with its model. The header lines
//! stay where they were, with their own comments (they describe the role: "the model whose
//! verdicts count", "the candidate"), so `[canonical]` is still the first table.

use crate::error::{CalibrateError, Result};
use crate::grid::Threshold;
use std::path::Path;
use toml_edit::{DocumentMut, Item, Table, Value};

/// What the swap did, for the provenance and the expectation.
#[derive(Debug, Clone)]
pub struct Swap {
    /// The edited document, without the provenance block.
    pub document: String,
    /// The new canonical model (the old shadow): `model` and `backend`.
    pub canonical: (String, String),
    /// The new shadow model (the old canonical): `model` and `backend`.
    pub shadow: (String, String),
    /// The candidate's threshold before the promotion, as written.
    pub candidate_threshold_was: String,
    /// The old canonical model's threshold (it keeps it as the shadow).
    pub shadow_threshold: f64,
    /// The same, as written.
    pub shadow_threshold_label: String,
    /// The burn-in log set in `[shadow_options] log`, if one was given.
    pub log: Option<String>,
    /// `[shadow_options] enabled = false`: the burn-in would log nothing.
    pub shadow_disabled: bool,
}

/// Swaps `[canonical]` and `[shadow]` in `text` (the configuration at `path`), sets the new
/// canonical `threshold` to `t` with a comment saying why (`why`: "the compromise", ...), and
/// points `[shadow_options] log` at `log` when given.
pub fn swap(text: &str, path: &Path, t: &Threshold, why: &str, log: Option<&str>) -> Result<Swap> {
    let bad = |m: String| CalibrateError::input(path, m);
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        bad(format!("invalid TOML: {}", e.to_string().trim_end()))
    })?;
    let table = |doc: &DocumentMut, name: &str| -> Result<Table> {
        match doc.get(name) {
            Some(Item::Table(t)) => Ok(t.clone()),
            Some(_) => Err(bad(format!(
                "`{name}` must be a [{name}] table (an inline or dotted table cannot be swapped while keeping the layout)"
            ))),
            None => Err(bad(format!("no [{name}] table: there is no candidate to promote"))),
        }
    };
    let mut old_canonical = table(&doc, "canonical")?;
    let mut candidate = table(&doc, "shadow")?;
    let model = |t: &Table, name: &str| -> Result<(String, String)> {
        let m = t
            .get("model")
            .and_then(Item::as_str)
            .ok_or_else(|| bad(format!("[{name}] has no `model` string")))?;
        let b = match t.get("backend") {
            None => "candle",
            Some(i) => i
                .as_str()
                .ok_or_else(|| bad(format!("[{name}] `backend` is not a string")))?,
        };
        Ok((m.to_string(), b.to_string()))
    };
    let threshold = |t: &Table, name: &str| -> Result<(f64, String)> {
        match t.get("threshold").and_then(Item::as_value) {
            Some(Value::Float(f)) => Ok((*f.value(), f.display_repr().trim().to_string())),
            Some(Value::Integer(i)) => Ok((*i.value() as f64, i.display_repr().trim().to_string())),
            Some(_) => Err(bad(format!("[{name}] `threshold` is not a number"))),
            None => Err(bad(format!("[{name}] has no `threshold`"))),
        }
    };
    let canonical_model = model(&candidate, "shadow")?;
    let shadow_model = model(&old_canonical, "canonical")?;
    let (_, was) = threshold(&candidate, "shadow")?;
    let (shadow_threshold, shadow_threshold_label) = threshold(&old_canonical, "canonical")?;
    // Comment of the candidate's old threshold line: it spoke of the old value.
    let mut new_t = Value::from(t.decimal());
    let old_decor = candidate
        .get("threshold")
        .and_then(Item::as_value)
        .map(|v| v.decor().clone())
        .unwrap_or_default();
    if let Some(p) = old_decor.prefix() {
        new_t.decor_mut().set_prefix(p.clone());
    }
    let pad = old_decor
        .suffix()
        .and_then(|s| s.as_str())
        .map(|s| s.len() - s.trim_start().len())
        .filter(|&n| n > 0)
        .unwrap_or(2);
    new_t
        .decor_mut()
        .set_suffix(format!("{}# {why} (was {was})", " ".repeat(pad)));
    candidate.insert("threshold", Item::Value(new_t));

    // Bodies swap; header decor and positions stay put.
    let (cd, sd) = (old_canonical.decor().clone(), candidate.decor().clone());
    let (cp, sp) = (old_canonical.position(), candidate.position());
    *candidate.decor_mut() = cd;
    *old_canonical.decor_mut() = sd;
    if let (Some(cp), Some(sp)) = (cp, sp) {
        candidate.set_position(cp);
        old_canonical.set_position(sp);
    }
    doc["canonical"] = Item::Table(candidate);
    doc["shadow"] = Item::Table(old_canonical);

    let mut shadow_disabled = false;
    match doc.get("shadow_options") {
        Some(Item::Table(o)) => {
            shadow_disabled = o.get("enabled").and_then(Item::as_bool) == Some(false);
        }
        Some(_) => {
            return Err(bad(
                "`shadow_options` must be a [shadow_options] table".into()
            ))
        }
        None => {}
    }
    if let Some(log) = log {
        if doc.get("shadow_options").is_none() {
            doc["shadow_options"] = Item::Table(Table::new());
        }
        if let Some(Item::Table(o)) = doc.get_mut("shadow_options") {
            let decor = o
                .get("log")
                .and_then(Item::as_value)
                .map(|v| v.decor().clone());
            let mut v = Value::from(log);
            if let Some(p) = decor.as_ref().and_then(|d| d.prefix()) {
                v.decor_mut().set_prefix(p.clone());
            }
            v.decor_mut().set_suffix("  # the burn-in log");
            o.insert("log", Item::Value(v));
        }
    }
    Ok(Swap {
        document: doc.to_string(),
        canonical: canonical_model,
        shadow: shadow_model,
        candidate_threshold_was: was,
        shadow_threshold,
        shadow_threshold_label,
        log: log.map(str::to_string),
        shadow_disabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = r#"# the validator's models
[canonical]                         # the model whose verdicts count
model = "BAAI/bge-small-en-v1.5"
backend = "ort"
threshold = 0.70
gt_store = "stores/bge-small.gtstore"

# the candidate
[shadow]
model = "Qwen/Qwen3-Embedding-0.6B"   # 0.6B parameters
backend = "ort"
threshold = 0.95                    # copied, and wrong for this model
gt_store = "stores/qwen3.gtstore"

[shadow_options]
log = "logs/shadow.jsonl"           # where records go
"#;

    #[test]
    fn swaps_bodies_and_keeps_comments_and_layout() {
        let t = Threshold::parse("0.72").unwrap();
        let s = swap(
            BEFORE,
            Path::new("c.toml"),
            &t,
            "calibrated: the compromise",
            Some("logs/burn-in.jsonl"),
        )
        .unwrap();
        let want = r#"# the validator's models
[canonical]                         # the model whose verdicts count
model = "Qwen/Qwen3-Embedding-0.6B"   # 0.6B parameters
backend = "ort"
threshold = 0.72                    # calibrated: the compromise (was 0.95)
gt_store = "stores/qwen3.gtstore"

# the candidate
[shadow]
model = "BAAI/bge-small-en-v1.5"
backend = "ort"
threshold = 0.70
gt_store = "stores/bge-small.gtstore"

[shadow_options]
log = "logs/burn-in.jsonl"  # the burn-in log
"#;
        assert_eq!(s.document, want);
        assert_eq!(s.canonical.0, "Qwen/Qwen3-Embedding-0.6B");
        assert_eq!(s.shadow, ("BAAI/bge-small-en-v1.5".into(), "ort".into()));
        assert_eq!(s.candidate_threshold_was, "0.95");
        assert_eq!(s.shadow_threshold, 0.70);
        assert!(!s.shadow_disabled);
    }

    #[test]
    fn bad_documents_name_the_table() {
        let t = Threshold::parse("0.72").unwrap();
        let p = Path::new("c.toml");
        let e = swap(
            "[canonical]\nmodel = \"a\"\nthreshold = 0.7\n",
            p,
            &t,
            "x",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no [shadow] table"), "{e}");
        let e = swap("[canonical\n", p, &t, "x", None).unwrap_err();
        assert!(e.to_string().starts_with("c.toml: invalid TOML"), "{e}");
        let e = swap("canonical = { model = \"a\", threshold = 0.7 }\n[shadow]\nmodel = \"b\"\nthreshold = 0.7\n", p, &t, "x", None).unwrap_err();
        assert!(e.to_string().contains("[canonical] table"), "{e}");
        let e = swap(
            "[canonical]\nmodel = \"a\"\nthreshold = 0.7\n[shadow]\nmodel = \"b\"\n",
            p,
            &t,
            "x",
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("[shadow] has no `threshold`"), "{e}");
    }
}
