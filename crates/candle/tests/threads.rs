//! The thread budget: a forward pass runs on the backend's own pool of `threads` threads and
//! starts no other threads (no rayon global pool for the matrix products, no candle
//! element-wise pool). Alone in its test binary so no other test starts threads meanwhile.

mod common;

use common::*;
use titlesim_core::{BackendOutput, ModelOverrides, TokenBatch};

#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn forward_uses_only_the_budgeted_threads() {
    // A batch big enough that every kernel and matrix product takes its parallel path
    // (hand-made, so the tokenizer's own thread pool stays out of the picture).
    let (b, s) = (16, 64);
    let batch = TokenBatch {
        batch_size: b,
        seq_len: s,
        input_ids: (0..b * s).map(|i| 5 + (i as i64 * 37) % 450).collect(),
        attention_mask: vec![1; b * s],
        token_type_ids: vec![0; b * s],
        position_ids: (0..b * s).map(|i| (i % s) as i64).collect(),
        padding_side: titlesim_core::PaddingSide::Right,
        pad_id: 0,
    };
    let before = thread_names();
    let ours = || {
        thread_names()
            .iter()
            .filter(|n| n.starts_with("titlesim-candle"))
            .count()
    };
    let mut backends = Vec::new();
    // The last one computes in int8 (its own kernels, on the same pool).
    for (name, budget, dtype) in [
        ("tiny-bert-mean", 1, None),
        ("tiny-qwen3", 2, None),
        ("tiny-bert-cls", 3, Some(titlesim_core::Dtype::Int8)),
    ] {
        let spec = spec(&fixture(name), &ModelOverrides::default());
        let opts = titlesim_core::BackendOptions {
            dtype,
            ..threads(budget)
        };
        backends.push((name, titlesim_candle::load(&spec, &opts).unwrap()));
    }
    // Pool threads name themselves as they start: wait for all 1 + 2 + 3 of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ours() < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(ours(), 6, "pool threads: {:?}", thread_names());
    let mut outputs = Vec::new();
    for (name, backend) in &backends {
        for _ in 0..2 {
            let BackendOutput::Tokens(out) = backend.forward(&batch).unwrap() else {
                panic!("expected token states")
            };
            outputs.push(out);
        }
        let after = thread_names();
        assert_eq!(ours(), 6, "{name}: forward started pool threads: {after:?}");
        assert!(
            !after.iter().any(|n| n.starts_with("candle-bp")),
            "{name}: candle's element-wise pool was started: {after:?}"
        );
        // Unnamed threads (e.g. rayon's global pool) take the process name, which the main
        // thread has too: compare counts, not names.
        let others = after
            .iter()
            .filter(|n| !n.starts_with("titlesim-candle"))
            .count();
        assert_eq!(
            others,
            before.len(),
            "{name}: threads other than the backend's appeared: before {before:?}, after {after:?}"
        );
    }
    assert!(outputs.iter().all(|o| o.data.iter().all(|x| x.is_finite())));
}
