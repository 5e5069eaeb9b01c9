//! # titlesim-shadow
//!
//! Runs a candidate embedding model in the shadow of the canonical one, so its threshold can
//! be calibrated on real traffic before it is promoted.
//!
//! - [`ShadowScorer`] scores batches of [`Pair`]s: it returns the canonical verdicts only,
//!   while the shadow model runs concurrently under a time budget; both sides of every pair
//!   become one [`ShadowRecord`](titlesim_core::ShadowRecord). A shadow error or timeout is
//!   an error in the record, never in the canonical result.
//! - [`Sampler`] picks the shadowed pairs by a hash of their id: reruns sample the same ones.
//! - Sinks ([`RecordSink`]): [`JsonlSink`] (the append-only log that
//!   [`titlesim_core::read_log`] reads), [`EmfSink`] (CloudWatch Embedded Metric Format lines
//!   on stdout or in a file), [`MemorySink`].
//! - [`GtStore`] and [`precompute()`]: reference-title vectors computed once per model
//!   (the "GT skip" path), refused when written by another model; [`SideScorer`] uses them.
//! - [`ResumeState`]: what an interrupted run's log already holds.
//!
//! Configuration is the `[canonical]`, `[shadow]` and `[shadow_options]` tables of
//! [`titlesim_core::Config`]; this crate does not load models (the `titlesim` crate does),
//! so any [`titlesim_core::Embedder`] can be shadowed.
#![deny(missing_docs)]

pub mod error;
pub mod precompute;
pub mod resume;
pub mod sample;
pub mod scorer;
pub mod side;
pub mod sink;
pub mod store;
pub mod summary;
pub mod time;

pub use error::{Error, Result};
pub use precompute::{precompute, PrecomputeReport};
pub use resume::ResumeState;
pub use sample::Sampler;
pub use scorer::{Pair, ShadowReport, ShadowScorer, ShadowSettings};
pub use side::SideScorer;
pub use sink::{emf_object, EmfSink, JsonlSink, MemorySink, RecordSink, SinkStatus};
pub use store::{GtStore, StoreHeader, StoreWriter};
pub use summary::{PhaseTally, Tally};

use std::path::Path;

use titlesim_core::config::{EmfTarget, ShadowOptions};

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
        Some(EmfTarget::File(p)) => sinks.push(Box::new(EmfSink::file(&p, &opts.emf_namespace)?)),
    }
    Ok((sinks, notes))
}
