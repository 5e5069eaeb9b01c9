//! Parity: the worst cosine between each configuration's vectors and its reference's on the
//! same titles. all-MiniLM-L6-v2 (and its int8 export) is compared with sentence-transformers,
//! or with titlesim candle when that peer did not run; the other models with their own ONNX
//! Runtime configuration.

use std::collections::BTreeMap;
use std::path::Path;

use super::child::{read_vectors, vectors_file, Measurement};
use super::plan::Config;
use super::report::Row;
use crate as tb;

/// The id of a reference configuration and its name in the table.
type Ref = (String, String);

/// Fills `parity_min_cos` and `parity_ref` of `rows` (one per config, in order) from the vectors
/// the configurations wrote in `vec_dir`; a reference's own row is marked `(reference)`.
pub(crate) fn fill_parity(
    rows: &mut [Row],
    configs: &[Config],
    results: &BTreeMap<String, Vec<Measurement>>,
    vec_dir: &Path,
) {
    let load = |id: &str| -> Option<Vec<Vec<f32>>> {
        let dim = results.get(id)?.first()?.dim;
        read_vectors(&vectors_file(vec_dir, id), dim).ok()
    };
    let minilm_ref = minilm_reference(|id| results.contains_key(id));
    for (row, c) in rows.iter_mut().zip(configs) {
        let Some((rid, rname)) = reference_of(c, &minilm_ref) else {
            continue;
        };
        if rid == row.id {
            row.parity_ref = Some("(reference)".into());
            continue;
        }
        if let (Some(a), Some(b)) = (load(&row.id), load(&rid)) {
            let c = tb::min_cosine(&a, &b);
            if !c.is_nan() {
                row.parity_min_cos = Some(c);
                row.parity_ref = Some(rname);
            }
        }
    }
}

/// all-MiniLM-L6-v2's reference among the configurations that measured something (`ran`):
/// sentence-transformers, else titlesim candle.
fn minilm_reference(ran: impl Fn(&str) -> bool) -> Option<Ref> {
    let st = "all-MiniLM-L6-v2@peer-st";
    if ran(st) {
        Some((st.to_string(), "sentence-transformers".to_string()))
    } else if ran("all-MiniLM-L6-v2@candle") {
        Some(("all-MiniLM-L6-v2@candle".into(), "titlesim candle".into()))
    } else {
        None
    }
}

/// The reference of `c`: its model on ONNX Runtime, or all-MiniLM-L6-v2's (the peers too).
fn reference_of(c: &Config, minilm_ref: &Option<Ref>) -> Option<Ref> {
    match c.variant.as_ref().map(|v| v.reference) {
        Some(tb::Reference::OrtSameModel) => {
            Some((format!("{}@ort", c.folder), "titlesim ort".to_string()))
        }
        _ => minilm_ref.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::child::write_vectors;
    use super::*;

    #[test]
    fn the_minilm_reference_falls_back_to_candle() {
        let st = minilm_reference(|_| true).unwrap();
        assert_eq!(st.0, "all-MiniLM-L6-v2@peer-st");
        let candle = minilm_reference(|id| id.ends_with("@candle")).unwrap();
        assert_eq!(candle.1, "titlesim candle");
        assert!(minilm_reference(|_| false).is_none());
    }

    #[test]
    fn rows_get_the_worst_cosine_against_their_reference() {
        let dir = std::env::temp_dir().join(format!("titlesim-h2h-parity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let variant = |backend| {
            tb::all_variants()
                .into_iter()
                .find(|v| v.folder == "paraphrase-MiniLM-L3-v2" && v.backend == backend)
                .unwrap()
        };
        let config = |v: tb::Variant| Config {
            id: v.id(),
            model: v.model.into(),
            folder: v.folder.into(),
            engine: String::new(),
            format: String::new(),
            peer: None,
            heavy: false,
            variant: Some(v),
        };
        let configs = [
            config(variant(titlesim::BackendKind::Ort)),
            config(variant(titlesim::BackendKind::Tract)),
        ];
        let vecs = [
            vec![vec![1.0f32, 0.0], vec![0.0, 1.0]],
            vec![vec![1.0f32, 0.0], vec![0.6, 0.8]],
        ];
        let mut results = BTreeMap::new();
        for (c, v) in configs.iter().zip(&vecs) {
            write_vectors(&vectors_file(&dir, &c.id), v).unwrap();
            let m = Measurement {
                dim: 2,
                ..Measurement::default()
            };
            results.insert(c.id.clone(), vec![m]);
        }
        let mut rows = super::super::rounds::collect_rows(&configs, &Default::default());
        fill_parity(&mut rows, &configs, &results, &dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rows[0].parity_ref.as_deref(), Some("(reference)"));
        assert_eq!(rows[1].parity_ref.as_deref(), Some("titlesim ort"));
        assert!((rows[1].parity_min_cos.unwrap() - 0.8).abs() < 1e-6);
    }
}
