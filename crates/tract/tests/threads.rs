//! The thread budget with the `multithread` feature: a model loaded with `threads = 2` runs its
//! plan and its matrix products on one pool of 2 threads named `titlesim-tract-*`, and starts
//! no other pool (tract's own `tract-default-*`). Alone in its test binary so no other test
//! starts threads meanwhile.
#![cfg(all(feature = "multithread", target_os = "linux"))]

use titlesim_core::BackendOptions;
use titlesim_test_support::*;

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

#[test]
fn plan_and_products_share_one_pool_of_the_budget() {
    let dir = fixture("tiny-bert-mean");
    let spec = spec(&dir);
    let opts = BackendOptions {
        threads: Some(2),
        ..threads(1)
    };
    let e = embedder(
        spec.clone(),
        titlesim_tract::load(&spec, &opts).unwrap(),
        16,
    );
    let r = Reference::load("tiny-bert-mean");
    let got = e.embed_blocking(&r.inputs()).unwrap();
    assert!(max_diff(&got, &r.embeddings) <= 1e-5);
    let ours = || {
        thread_names()
            .iter()
            .filter(|n| n.starts_with("titlesim-tract"))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ours() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let names = thread_names();
    assert_eq!(ours(), 2, "threads: {names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("tract-default")),
        "tract started a pool of its own: {names:?}"
    );
}
