//! The head-to-head matrix: every model × backend variant, what its vectors are compared with
//! for parity, and whether its files are present.

use std::path::PathBuf;

use titlesim::BackendKind;

use crate::models_dir;

/// What the vectors of a variant are compared with for parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The sentence-transformers peer on all-MiniLM-L6-v2 (falls back to candle when the peer
    /// did not run).
    MiniLmSentenceTransformers,
    /// This model on ONNX Runtime (fp32 export).
    OrtSameModel,
}

/// One model × backend configuration of the head-to-head matrix.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Model label in tables (e.g. `all-MiniLM-L6-v2 int8`).
    pub model: &'static str,
    /// Folder under the models directory.
    pub folder: &'static str,
    /// Backend.
    pub backend: BackendKind,
    /// Weights format, for the table (`safetensors f32`, `onnx fp32`, ...).
    pub format: &'static str,
    /// Expensive (0.6B-class): fewer titles and runs.
    pub heavy: bool,
    /// Parity reference.
    pub reference: Reference,
    /// Compute precision asked of the backend (`BackendOptions::dtype`); `None`: its default.
    pub dtype: Option<&'static str>,
}

impl Variant {
    /// A stable id: `<folder>@<backend>`, or `<folder>@<backend>-<dtype>` with a dtype.
    pub fn id(&self) -> String {
        match self.dtype {
            Some(d) => format!("{}@{}-{d}", self.folder, self.backend.as_str()),
            None => format!("{}@{}", self.folder, self.backend.as_str()),
        }
    }

    /// The model folder.
    pub fn path(&self) -> PathBuf {
        models_dir().join(self.folder)
    }

    /// Whether the files this variant needs are present.
    pub fn available(&self) -> bool {
        let p = self.path();
        let weights = match self.backend {
            BackendKind::Candle => p.join("model.safetensors"),
            _ => p.join("onnx").join("model.onnx"),
        };
        p.join("config.json").is_file() && weights.is_file()
    }
}

/// Every variant the head-to-head knows, in table order. Missing models are skipped by callers
/// ([`Variant::available`]).
pub fn all_variants() -> Vec<Variant> {
    use BackendKind::*;
    let v = |model, folder, backend, format, heavy, reference| Variant {
        model,
        folder,
        backend,
        format,
        heavy,
        reference,
        dtype: None,
    };
    let st = Reference::MiniLmSentenceTransformers;
    let own = Reference::OrtSameModel;
    vec![
        v(
            "all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2",
            Candle,
            "safetensors f32",
            false,
            st,
        ),
        Variant {
            dtype: Some("int8"),
            ..v(
                "all-MiniLM-L6-v2",
                "all-MiniLM-L6-v2",
                Candle,
                "safetensors f32 → int8 at load",
                false,
                st,
            )
        },
        Variant {
            dtype: Some("bf16"),
            ..v(
                "all-MiniLM-L6-v2",
                "all-MiniLM-L6-v2",
                Candle,
                "safetensors f32 → bf16 at load",
                false,
                st,
            )
        },
        v(
            "all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2",
            Ort,
            "onnx fp32",
            false,
            st,
        ),
        v(
            "all-MiniLM-L6-v2",
            "all-MiniLM-L6-v2",
            Tract,
            "onnx fp32",
            false,
            st,
        ),
        v(
            "all-MiniLM-L6-v2 int8",
            "all-MiniLM-L6-v2-int8",
            Ort,
            "onnx int8 weights",
            false,
            st,
        ),
        v(
            "all-MiniLM-L6-v2 int8",
            "all-MiniLM-L6-v2-int8",
            Tract,
            "onnx int8 weights",
            false,
            st,
        ),
        v(
            "paraphrase-MiniLM-L3-v2",
            "paraphrase-MiniLM-L3-v2",
            Ort,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "paraphrase-MiniLM-L3-v2",
            "paraphrase-MiniLM-L3-v2",
            Tract,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "bge-small-en-v1.5 (random)",
            "synthetic/bge-small-en-v1.5-random",
            Candle,
            "safetensors f32",
            false,
            own,
        ),
        Variant {
            dtype: Some("int8"),
            ..v(
                "bge-small-en-v1.5 (random)",
                "synthetic/bge-small-en-v1.5-random",
                Candle,
                "safetensors f32 → int8 at load",
                false,
                own,
            )
        },
        Variant {
            dtype: Some("bf16"),
            ..v(
                "bge-small-en-v1.5 (random)",
                "synthetic/bge-small-en-v1.5-random",
                Candle,
                "safetensors f32 → bf16 at load",
                false,
                own,
            )
        },
        v(
            "bge-small-en-v1.5 (random)",
            "synthetic/bge-small-en-v1.5-random",
            Ort,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "bge-small-en-v1.5 (random)",
            "synthetic/bge-small-en-v1.5-random",
            Tract,
            "onnx fp32",
            false,
            own,
        ),
        v(
            "Qwen3-Embedding-0.6B (random)",
            "synthetic/Qwen3-Embedding-0.6B-random",
            Candle,
            "safetensors bf16",
            true,
            own,
        ),
        Variant {
            dtype: Some("int8"),
            ..v(
                "Qwen3-Embedding-0.6B (random)",
                "synthetic/Qwen3-Embedding-0.6B-random",
                Candle,
                "safetensors bf16 → int8 at load (q/k/v f32)",
                true,
                own,
            )
        },
        Variant {
            dtype: Some("bf16"),
            ..v(
                "Qwen3-Embedding-0.6B (random)",
                "synthetic/Qwen3-Embedding-0.6B-random",
                Candle,
                "safetensors bf16, bf16 compute",
                true,
                own,
            )
        },
        v(
            "Qwen3-Embedding-0.6B (random)",
            "synthetic/Qwen3-Embedding-0.6B-random",
            Ort,
            "onnx fp32",
            true,
            own,
        ),
        v(
            "Qwen3-Embedding-0.6B (random)",
            "synthetic/Qwen3-Embedding-0.6B-random",
            Tract,
            "onnx fp32",
            true,
            own,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_ids_are_unique_and_name_folder_backend_and_dtype() {
        let all = all_variants();
        let mut ids: Vec<String> = all.iter().map(Variant::id).collect();
        assert_eq!(ids[0], "all-MiniLM-L6-v2@candle");
        assert_eq!(ids[1], "all-MiniLM-L6-v2@candle-int8");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "two variants share an id");
    }
}
