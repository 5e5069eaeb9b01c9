//! # titlesim-bench
//!
//! Shared pieces of titlesim's benchmarks: where the models and titles are, the matrix of
//! model × backend variants, loading an embedder with a thread budget and batch size, CPU
//! description and peak memory, and the small statistics the reports use. Used by the criterion
//! benches (`cargo bench -p titlesim-bench`) and by the head-to-head binary behind
//! `cargo xtask bench` (`src/bin/head2head.rs`, whose work is in [`head2head`]).
#![deny(missing_docs)]

pub mod head2head;
mod loading;
mod machine;
mod paths;
mod stats;
mod titles;
mod variants;

pub use loading::{load_embedder, load_embedder_with};
pub use machine::{cpu_info, peak_rss_mb, stack_versions, tract_isa, CpuInfo};
pub use paths::{models_dir, ort_library, workspace_root};
pub use stats::{median, min_cosine, percentile};
pub use titles::{default_titles_path, load_titles, spread_sample};
pub use variants::{all_variants, Reference, Variant};
