//! # titlesim-shadow
//!
//! Runs a candidate embedding model in the shadow of the canonical one, so its threshold can
//! be calibrated on real traffic before it is promoted.
//!
//! - [`ShadowScorer`] scores batches of [`Pair`](titlesim_core::Pair)s: it returns the canonical verdicts only,
//!   while the shadow model runs concurrently under a time budget; both sides of every pair
//!   become one [`ShadowRecord`](titlesim_log::ShadowRecord). A shadow error or timeout is
//!   an error in the record, never in the canonical result.
//! - [`Sampler`] picks the shadowed pairs by a hash of their id: reruns sample the same ones.
//! - Sinks ([`RecordSink`]): [`JsonlSink`] (the append-only log that
//!   [`titlesim_log::read_log`] reads), [`EmfSink`] (CloudWatch Embedded Metric Format lines
//!   on stdout or in a file), [`MemorySink`].
//! - Each side is a [`CosineScorer`](titlesim_core::CosineScorer); one with a GT store
//!   attached (the `titlesim-store` crate, the "GT skip" path) encodes only the reference
//!   titles the store lacks, exactly as it does outside the shadow.
//! - [`ResumeState`]: what an interrupted run's log already holds.
//!
//! Configuration is the `[canonical]`, `[shadow]` and `[shadow_options]` tables of
//! `titlesim::Config`; the shadow-only `[shadow_options]` table is defined here
//! ([`ShadowOptions`], in [`options`]). This crate does not load models (the `titlesim` crate
//! does), so any [`titlesim_core::Embedder`] can be shadowed.
//!
//! ## Example
//!
//! Two toy embedders stand in for the canonical and the candidate model. With the `titlesim`
//! crate, `titlesim::load_scorer(&config.canonical)?` gives the
//! [`CosineScorer`](titlesim_core::CosineScorer)s; the repository's `examples/hash-embedder`
//! crate does the same with a JSONL log.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use async_trait::async_trait;
//! use titlesim_core::{CosineScorer, Embedder, EmbedderInfo, Pair, Scorer};
//! use titlesim_shadow::{MemorySink, Sampler, ShadowScorer, ShadowSettings};
//!
//! /// Counts of the letters a to z, folded onto `dim` slots.
//! struct Letters(EmbedderInfo);
//!
//! #[async_trait]
//! impl Embedder for Letters {
//!     fn info(&self) -> &EmbedderInfo {
//!         &self.0
//!     }
//!     async fn embed(&self, texts: &[String]) -> titlesim_core::Result<Vec<Vec<f32>>> {
//!         let dim = self.0.dim;
//!         Ok(texts
//!             .iter()
//!             .map(|t| {
//!                 let mut v = vec![0.0; dim];
//!                 for b in t.to_ascii_lowercase().bytes().filter(u8::is_ascii_lowercase) {
//!                     v[(b - b'a') as usize % dim] += 1.0;
//!                 }
//!                 v
//!             })
//!             .collect())
//!     }
//! }
//!
//! fn letters(name: &str, dim: usize) -> Arc<Letters> {
//!     Arc::new(Letters(EmbedderInfo {
//!         model: name.into(),
//!         backend: "example".into(),
//!         dim,
//!         normalize: false,
//!         fingerprint: format!("{name}-v1"),
//!     }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> titlesim_shadow::Result<()> {
//! let canonical = CosineScorer::new(letters("canonical", 26), 0.9);
//! let candidate = CosineScorer::new(letters("candidate", 7), 0.8);
//! let sink = MemorySink::new();
//! let shadow = ShadowScorer::new(
//!     canonical.clone(),
//!     Some(candidate.clone()),
//!     ShadowSettings { sampler: Sampler::all(), timeout_per_pair: Duration::from_secs(5) },
//!     vec![Box::new(sink.clone())],
//! )?;
//!
//! let pair = Pair {
//!     id: "task-17/agent-3".into(),
//!     phase: Some("race".into()),
//!     product: "Apple iPhone 15 128GB Black".into(),
//!     gt: "iPhone 15 (128 GB) - Black".into(),
//!     label: None,
//! };
//! // The verdicts returned are the canonical model's, exactly as without the shadow.
//! let verdicts = shadow.score_batch(std::slice::from_ref(&pair)).await?;
//! assert_eq!(verdicts[0].id, pair.id);
//! assert_eq!(verdicts[0].score, canonical.score(&pair.product, &pair.gt).await?);
//!
//! // `finish` waits for the records; each pair has both sides.
//! let report = shadow.finish().await?;
//! assert_eq!(report.tally.total.pairs, 1);
//! let records = sink.records();
//! let side = records[0].shadow.as_ref().expect("every pair is sampled");
//! assert_eq!(records[0].canonical.cosine, Some(verdicts[0].cosine));
//! assert_eq!(side.cosine, Some(candidate.score(&pair.product, &pair.gt).await?.cosine));
//! assert_eq!((side.model.as_str(), side.threshold), ("candidate", 0.8));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod error;
pub mod options;
pub mod resume;
pub mod sample;
pub mod scorer;
pub mod sink;
pub mod summary;

pub use error::{Error, Result};
pub use options::{EmfTarget, FsyncPolicy, ShadowOptions};
pub use resume::{check_log_models, ResumeState};
pub use sample::Sampler;
pub use scorer::{ShadowReport, ShadowScorer, ShadowSettings};
pub use sink::{emf_object, lost_records, EmfSink, JsonlSink, MemorySink, RecordSink, SinkStatus};
pub use summary::{PhaseTally, Tally};

use std::path::Path;

/// Sinks to hand to [`ShadowScorer::new`].
pub type Sinks = Vec<Box<dyn RecordSink>>;

/// The sinks a `[shadow_options]` table names: the JSONL log (`log`, or `log_override` when
/// given) and the EMF output (`emf`). The notes are things to tell the user (a torn last
/// line that was cut off).
pub fn open_sinks(
    opts: &ShadowOptions,
    log_override: Option<&Path>,
) -> Result<(Sinks, Vec<String>)> {
    let mut sinks: Sinks = Vec::new();
    let mut notes = Vec::new();
    if let Some(log) = log_override.or(opts.log.as_deref()) {
        let (sink, cut) = JsonlSink::open(log, opts.fsync)?;
        if cut > 0 {
            notes.push(format!(
                "{}: cut off a torn last line ({cut} bytes) left by an interrupted run",
                log.display()
            ));
        }
        sinks.push(Box::new(sink));
    }
    match opts.emf_target() {
        None => {}
        Some(EmfTarget::Stdout) => sinks.push(Box::new(EmfSink::stdout(&opts.emf_namespace))),
        Some(EmfTarget::File(p)) => {
            let (sink, cut) = EmfSink::file(&p, &opts.emf_namespace)?;
            if cut > 0 {
                notes.push(format!(
                    "{}: cut off a torn last line ({cut} bytes) left by an interrupted run",
                    p.display()
                ));
            }
            sinks.push(Box::new(sink));
        }
    }
    Ok((sinks, notes))
}

/// The sinks of a long-lived scorer (a service, the Python package) whose configuration has a
/// `[shadow]` table (`has_shadow`; enabled or not: a disabled shadow still logs the canonical
/// side): `None` without one, else what [`open_sinks`] opens. A `[shadow_options]` table that
/// names neither a `log` nor an `emf` output is an [`Error::Core`] configuration error: the
/// records would go nowhere.
pub fn open_configured_sinks(
    opts: &ShadowOptions,
    has_shadow: bool,
) -> Result<Option<(Sinks, Vec<String>)>> {
    if !has_shadow {
        return Ok(None);
    }
    if opts.log.is_none() && opts.emf_target().is_none() {
        return Err(Error::Core(titlesim_core::Error::Config {
            path: None,
            message: "the configuration has a [shadow] table but [shadow_options] names no \
                      `log` (nor `emf`): the shadow's records would go nowhere; set `log`"
                .into(),
        }));
    }
    open_sinks(opts, None).map(Some)
}

// A service holds the shadow scorer in an `Arc` shared by its tasks: a change that makes it
// (or a side) not `Send + Sync + 'static` fails to compile.
const _: fn() = || {
    fn assert_send_sync_static<T: Send + Sync + 'static>() {}
    assert_send_sync_static::<ShadowScorer>();
    assert_send_sync_static::<Error>();
};
