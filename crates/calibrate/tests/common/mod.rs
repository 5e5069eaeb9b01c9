//! Helpers shared by the integration tests: synthetic shadow records, and output pinned
//! byte for byte under `tests/expected/`.
#![allow(dead_code)]

use titlesim_log::{ShadowRecord, SideRecord, SCHEMA_VERSION};

pub fn side(model: &str, threshold: f32, cosine: Option<f32>) -> SideRecord {
    SideRecord {
        model: model.into(),
        backend: "candle".into(),
        fingerprint: "ts1-test".into(),
        threshold,
        cosine,
        pass: cosine.map(|c| c >= threshold),
        encode_ms: 1.0,
        error: if cosine.is_none() {
            Some("timeout after 2000 ms".into())
        } else {
            None
        },
    }
}

pub fn record(
    i: usize,
    phase: Option<&str>,
    canonical: f32,
    shadow: Option<f32>,
    t_canon: f32,
    t_shadow: f32,
    label: Option<u8>,
) -> ShadowRecord {
    ShadowRecord {
        schema: SCHEMA_VERSION,
        ts: "2026-11-28T00:00:00Z".into(),
        pair_id: format!("p{i}"),
        phase: phase.map(str::to_string),
        product: format!("product title {i}"),
        gt: format!("ground truth title {i}"),
        label,
        canonical: side("BAAI/bge-small-en-v1.5", t_canon, Some(canonical)),
        shadow: shadow.map(|s| side("Qwen/Qwen3-Embedding-0.6B", t_shadow, Some(s))),
        replayed_at: None,
    }
}

/// A record whose shadow side failed.
pub fn shadow_error(i: usize, phase: Option<&str>, canonical: f32) -> ShadowRecord {
    let mut r = record(i, phase, canonical, Some(0.5), 0.70, 0.95, None);
    if let Some(s) = r.shadow.as_mut() {
        s.cosine = None;
        s.pass = None;
        s.error = Some("timeout after 2000 ms".into());
    }
    r
}

/// SplitMix64 + Box–Muller: deterministic normals for synthetic logs.
pub struct Rng(pub titlesim_calibrate::rng::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(titlesim_calibrate::rng::SplitMix64::new(seed))
    }
    pub fn normal(&mut self) -> f64 {
        self.0.normal()
    }
}

/// A synthetic two-phase log: canonical ~ N(0.72, 0.1); shadow = a*canonical + b + noise,
/// so the shadow threshold matching T = 0.70 is a*0.70 + b.
pub fn synthetic(seed: u64, n_race: usize, n_qual: usize, a: f64, b: f64) -> Vec<ShadowRecord> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for i in 0..n_race + n_qual {
        let (phase, noise) = if i < n_race {
            ("race", 0.03)
        } else {
            ("qualifying", 0.06)
        };
        let c = (0.72 + 0.1 * rng.normal()).clamp(-1.0, 1.0);
        let s = (a * c + b + noise * rng.normal()).clamp(-1.0, 1.0);
        out.push(record(
            i,
            Some(phase),
            c as f32,
            Some(s as f32),
            0.70,
            0.95,
            None,
        ));
    }
    out
}

pub fn write_log(path: &std::path::Path, records: &[ShadowRecord]) {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// Compares `got` with `tests/expected/<name>`, byte for byte (or writes it when blessing).
pub fn check(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name);
    if std::env::var_os("TITLESIM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if got != want {
        let line = got
            .lines()
            .zip(want.lines())
            .position(|(g, w)| g != w)
            .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n  got:  {:?}\n  want: {:?}",
            path.display(),
            line + 1,
            got.lines().nth(line),
            want.lines().nth(line)
        );
    }
}
