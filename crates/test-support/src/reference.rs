//! sentence-transformers' outputs for the committed fixtures and the real models, saved by
//! `scripts/generate_fixtures.py` as `tests/fixtures/references/<name>.json`.

use crate::paths::workspace;

/// One reference file: texts, the token ids and vectors sentence-transformers gave them.
pub struct Reference {
    /// The prompt sentence-transformers prepended, if any.
    pub prompt: Option<String>,
    /// The texts, without the prompt.
    pub texts: Vec<String>,
    /// Token ids of each text (prompt included).
    pub input_ids: Vec<Vec<u32>>,
    /// The sentence embeddings.
    pub embeddings: Vec<Vec<f32>>,
    /// The token states (before pooling) of the first two texts, `[text][token][hidden]`.
    pub token_embeddings_first2: Vec<Vec<Vec<f32>>>,
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("an array of numbers")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect()
}

fn array(v: &serde_json::Value) -> &Vec<serde_json::Value> {
    v.as_array().expect("an array")
}

impl Reference {
    /// Reads `tests/fixtures/references/<name>.json`.
    pub fn load(name: &str) -> Reference {
        let path = workspace().join(format!("tests/fixtures/references/{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reference {}: {e}", path.display()));
        let v: serde_json::Value = serde_json::from_str(&text).expect("reference JSON");
        Reference {
            prompt: v["prompt"].as_str().map(str::to_string),
            texts: array(&v["texts"])
                .iter()
                .map(|t| t.as_str().expect("a text").to_string())
                .collect(),
            input_ids: array(&v["input_ids"])
                .iter()
                .map(|r| {
                    array(r)
                        .iter()
                        .map(|x| x.as_u64().expect("a token id") as u32)
                        .collect()
                })
                .collect(),
            embeddings: array(&v["embeddings"]).iter().map(floats).collect(),
            token_embeddings_first2: array(&v["token_embeddings_first2"])
                .iter()
                .map(|t| array(t).iter().map(floats).collect())
                .collect(),
        }
    }

    /// The texts as sentence-transformers saw them (prompt prepended by plain concatenation).
    pub fn inputs(&self) -> Vec<String> {
        let p = self.prompt.clone().unwrap_or_default();
        self.texts.iter().map(|t| format!("{p}{t}")).collect()
    }
}
