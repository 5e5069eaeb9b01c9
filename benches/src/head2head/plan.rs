//! Which configurations to measure: the variants of the matrix that `--models` and
//! `--backends` select and whose files are present, then the Python peers; what was left out
//! and why.

use anyhow::{bail, Result};

use super::args::Args;
use super::peers::{self, Python};
use crate as tb;

/// One configuration: a model × backend variant, or a Python peer.
pub(crate) struct Config {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) folder: String,
    pub(crate) engine: String,
    pub(crate) format: String,
    pub(crate) peer: Option<&'static str>,
    pub(crate) variant: Option<tb::Variant>,
    pub(crate) heavy: bool,
}

/// The configurations in table order, what was skipped, and the Python the peers run on.
pub(crate) struct Plan {
    pub(crate) configs: Vec<Config>,
    pub(crate) skipped: Vec<String>,
    pub(crate) python: Option<Python>,
}

/// Plans the run and says on stderr what is skipped; fails when nothing is left to measure.
pub(crate) fn plan(a: &Args) -> Result<Plan> {
    let filter = Filter::new(a);
    let (mut configs, mut skipped) = variant_configs(&filter);
    let python = peers::python_for(
        a,
        filter.wants_model("all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
    );
    peers::announce(python.as_ref(), a.no_peers);
    if let Some(py) = &python {
        peers::add_peer_configs(py, &mut configs, &mut skipped);
    }
    for s in &skipped {
        eprintln!("head2head: skipped {s}");
    }
    if configs.is_empty() {
        bail!("nothing to measure: run `cargo xtask fetch-models` (and scripts/make_synthetic_models.py for the synthetic models)");
    }
    Ok(Plan {
        configs,
        skipped,
        python,
    })
}

/// The variants `filter` selects whose files are present, and those whose files are missing.
fn variant_configs(filter: &Filter) -> (Vec<Config>, Vec<String>) {
    let mut configs: Vec<Config> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    for v in tb::all_variants() {
        if !filter.wants_model(v.model, v.folder) || !filter.wants_backend(v.backend.as_str()) {
            continue;
        }
        if !v.available() {
            skipped.push(format!("{} (files not in {})", v.id(), v.path().display()));
            continue;
        }
        configs.push(variant_config(v));
    }
    (configs, skipped)
}

fn variant_config(v: tb::Variant) -> Config {
    Config {
        id: v.id(),
        model: v.model.into(),
        folder: v.folder.into(),
        engine: match v.dtype {
            Some(d) => format!("titlesim {} {d}", v.backend.as_str()),
            None => format!("titlesim {}", v.backend.as_str()),
        },
        format: v.format.into(),
        peer: None,
        heavy: v.heavy,
        variant: Some(v),
    }
}

/// `--models` and `--backends`, lower-cased; an empty list selects everything.
struct Filter {
    models: Vec<String>,
    backends: Vec<String>,
}

impl Filter {
    fn new(a: &Args) -> Self {
        Filter {
            models: split_list(&a.models),
            backends: split_list(&a.backends),
        }
    }

    /// Whether the model label or folder contains one of `--models` (case-insensitive).
    fn wants_model(&self, label: &str, folder: &str) -> bool {
        self.models.is_empty()
            || self
                .models
                .iter()
                .any(|f| label.to_lowercase().contains(f) || folder.to_lowercase().contains(f))
    }

    /// Whether `backend` is one of `--backends`.
    fn wants_backend(&self, backend: &str) -> bool {
        self.backends.is_empty() || self.backends.iter().any(|b| b == backend)
    }
}

/// A comma-separated list, trimmed and lower-cased, without empty items.
fn split_list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split(',')
        .map(|x| x.trim().to_lowercase())
        .filter(|x| !x.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_filters() {
        assert_eq!(
            split_list(&Some(" MiniLM-L6, ,tract ".into())),
            ["minilm-l6", "tract"]
        );
        assert!(split_list(&None).is_empty());
        let f = Filter {
            models: split_list(&Some("minilm-l6,bge".into())),
            backends: split_list(&Some("Ort".into())),
        };
        assert!(f.wants_model("all-MiniLM-L6-v2 int8", "all-MiniLM-L6-v2-int8"));
        assert!(f.wants_model("bge-small-en-v1.5 (random)", "synthetic/x"));
        assert!(!f.wants_model("paraphrase-MiniLM-L3-v2", "paraphrase-MiniLM-L3-v2"));
        assert!(f.wants_backend("ort") && !f.wants_backend("tract"));
        let all = Filter {
            models: vec![],
            backends: vec![],
        };
        assert!(all.wants_model("anything", "at/all") && all.wants_backend("candle"));
    }
}
