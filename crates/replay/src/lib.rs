//! Replay history for titlesim: re-score past pairs with the canonical and candidate models,
//! writing shadow-log records that `calibrate`, `review` and `promote` read unchanged — a
//! calibration from months of logs in minutes, instead of weeks of live shadowing.
//!
//! Built on [Apache DataFusion](https://datafusion.apache.org): its readers (Parquet, CSV,
//! JSON lines, folders of them), SQL predicates to select rows, and partitioned execution.
//! titlesim's scoring is available to SQL as scalar functions on whole Arrow batches
//! ([`udf`]). Each distinct title is embedded once per model ([`cache`]): ground-truth titles
//! repeat across agents' answers.
//!
//! - [`history`]: registering a history and selecting its pairs.
//! - [`run::replay`]: the replay loop.
//! - [`udf::register`]: `title_cosine` and `title_embedding` for any DataFusion session.

pub mod cache;
pub mod error;
pub mod history;
pub mod run;
pub mod udf;

pub use cache::{cached_scorer, CacheStats, CachedEmbedder};
/// The DataFusion this crate is built on, for callers that run their own queries.
pub use datafusion;
pub use error::{Error, Result};
pub use history::{History, Row};
pub use run::{replay, session, ReplayOptions, ReplaySummary};
pub use udf::{register, TitleModels};
