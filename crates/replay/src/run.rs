//! The replay: history rows in, shadow-log records out, every pair scored by both models.

use std::path::Path;
use std::time::Instant;

use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use titlesim_core::{CosineScorer, Pair, PairScore, Scorer};
use titlesim_log::time::now_rfc3339;
use titlesim_log::{ShadowRecord, SideRecord, SCHEMA_VERSION};
use titlesim_shadow::{FsyncPolicy, JsonlSink, RecordSink, ResumeState, Tally};

use crate::cache::{cached_scorer, CacheStats, DEFAULT_CAPACITY};
use crate::history::{register, Ids, Row};
use crate::Result;

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// SQL boolean expression over the history's columns selecting the rows to replay.
    pub predicate: Option<String>,
    /// DataFusion's partitions (reading, decoding and filtering in parallel).
    pub partitions: usize,
    /// Rows scored (and records written) at a time.
    pub chunk: usize,
    /// Vectors remembered per model ([`crate::cache::CachedEmbedder`]).
    pub cache_titles: usize,
    /// Continue the log at the output: pairs it holds are not scored again.
    pub resume: bool,
    /// When the log is flushed to disk.
    pub fsync: FsyncPolicy,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            predicate: None,
            partitions: 1,
            chunk: 256,
            cache_titles: DEFAULT_CAPACITY,
            resume: false,
            fsync: FsyncPolicy::default(),
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Rows the predicate selected.
    pub selected: u64,
    /// Pairs scored and logged by this run.
    pub scored: u64,
    /// Pairs the log already held (with `resume`).
    pub resumed: u64,
    /// Records of a shadow-log history that repeated a pair id, dropped.
    pub repeated: u64,
    /// Pairs scored by this run whose history had no product or no gt (NULL), scored as
    /// empty titles by the blank-title rule.
    pub missing_titles: u64,
    /// Titles asked of and embedded by the canonical model.
    pub canonical: CacheStats,
    /// Titles asked of and embedded by the shadow model.
    pub shadow: CacheStats,
    /// GT vectors taken from the stores instead of embedded (both models together).
    pub gt_from_store: u64,
    /// Pass rates and agreement of the pairs scored by this run.
    pub tally: Tally,
    /// Seconds spent, in all.
    pub seconds: f64,
    /// Things the caller should tell the user (a torn log line cut off, resumed lines skipped).
    pub notes: Vec<String>,
}

impl ReplaySummary {
    /// Titles the models would have embedded without de-duplication: two per scored pair and
    /// model, less the GT vectors the stores gave.
    pub fn titles_in_pairs(&self) -> u64 {
        (4 * self.scored).saturating_sub(self.gt_from_store)
    }

    /// Titles the models embedded.
    pub fn titles_embedded(&self) -> u64 {
        self.canonical.embedded + self.shadow.embedded
    }
}

/// A DataFusion session with `partitions` partitions and `chunk` rows per batch.
///
/// CSV files may hold newlines inside quoted values (a title pasted with a line break): the
/// session says so for every CSV file, the ones a query names (`FROM 'pairs.csv'`) as well as
/// registered tables. Without it DataFusion splits a file over 10 MiB at byte offsets between
/// partitions, and a split inside a quoted value made up rows out of the rest of the title.
pub fn session(partitions: usize, chunk: usize) -> SessionContext {
    let mut cfg = SessionConfig::new()
        .with_target_partitions(partitions.max(1))
        .with_batch_size(chunk.max(1));
    cfg.options_mut().catalog.newlines_in_values = true;
    SessionContext::new_with_config(cfg)
}

/// Re-scores the pairs of `history` selected by `opts.predicate` with `canonical` and
/// `shadow`, appending one shadow-log record per pair to the log at `out` (marked with
/// `replayed_at`, its `ts` the original pair's when the history has one). `progress` is
/// called with (rows done, rows selected) after every chunk.
///
/// Records are written as DataFusion's partitions deliver rows (not necessarily in file
/// order); an interrupted replay continues with `resume`, which skips the pairs the log
/// holds (and refuses a log of other models or thresholds).
pub async fn replay(
    history: &Path,
    out: &Path,
    canonical: &CosineScorer,
    shadow: &CosineScorer,
    opts: &ReplayOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<ReplaySummary> {
    let t0 = Instant::now();
    let ctx = session(opts.partitions, opts.chunk);
    let hist = register(&ctx, history).await?;
    let selection = hist.select(&ctx, opts.predicate.as_deref()).await?;
    // The progress bar's total. The rows are read a second time below, and a predicate with
    // random() or now(), or a history written to meanwhile, may select others then: the
    // summary counts the rows read, with a note when the two differ.
    let counted = selection
        .clone()
        .count()
        .await
        .map_err(|e| hist.query_error(format!("reading {}", history.display()), e))?
        as u64;

    let len = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    if len > 0 && !opts.resume {
        return Err(titlesim_shadow::Error::Log {
            path: out.to_path_buf(),
            message: "already exists: pass --resume to continue it, or choose another --out".into(),
        }
        .into());
    }
    // The lock first: a second replay into the same log stops here.
    let (mut sink, cut) = JsonlSink::open(out, opts.fsync)?;
    let mut summary = ReplaySummary::default();
    summary.notes.extend(crate::history::left_out_note(history));
    if cut > 0 {
        summary.notes.push(format!(
            "{}: cut off a torn last line ({cut} bytes) left by an interrupted run",
            out.display()
        ));
    }
    let (canonical, canonical_cache) = cached_scorer(canonical, opts.cache_titles)?;
    let (shadow, shadow_cache) = cached_scorer(shadow, opts.cache_titles)?;
    let resumed = if opts.resume {
        let st = ResumeState::load(out, &canonical, Some(&shadow))?;
        for s in &st.skipped {
            summary.notes.push(format!(
                "{}:{}: skipped ({}); the pair is scored again",
                out.display(),
                s.line,
                s.reason
            ));
        }
        st
    } else {
        ResumeState::default()
    };

    let mut stream = selection
        .execute_stream()
        .await
        .map_err(|e| hist.query_error(format!("reading {}", history.display()), e))?;
    let mut ids = Ids::default();
    let mut done = 0u64;
    progress(0, counted);
    let result: Result<()> = async {
        while let Some(batch) = stream.next().await {
            let batch =
                batch.map_err(|e| hist.query_error(format!("reading {}", history.display()), e))?;
            let rows = hist.rows(&batch)?;
            let n = rows.len() as u64;
            let rows = ids.keep_new(&hist, rows)?;
            let pairs: Vec<Pair> = rows.iter().map(|r| r.pair.clone()).collect();
            resumed.check_pairs(&pairs)?;
            let (todo, old): (Vec<Row>, Vec<Row>) = rows
                .into_iter()
                .partition(|r| resumed.get(&r.pair).is_none());
            summary.resumed += old.len() as u64;
            summary.missing_titles += todo.iter().filter(|r| r.missing_title).count() as u64;
            for chunk in todo.chunks(opts.chunk.max(1)) {
                let records = score_rows(chunk, &canonical, &shadow).await?;
                summary.gt_from_store += records.1;
                for r in &records.0 {
                    summary.tally.add(r);
                }
                sink.write_batch(&records.0)?;
                summary.scored += records.0.len() as u64;
            }
            done += n;
            progress(done, counted.max(done));
        }
        Ok(())
    }
    .await;
    sink.close()?;
    result?;
    summary.selected = done;
    if done != counted {
        summary.notes.push(format!(
            "{}: the selection held {counted} rows when counted and {done} when read (a \
             --where with random() or now(), or a history written to meanwhile); every row \
             read was replayed, and the counts here are of those",
            history.display()
        ));
    }
    summary.repeated = ids.repeated;
    if summary.missing_titles > 0 {
        summary.notes.push(format!(
            "{}: {} pair(s) had no product or no gt (NULL: an empty CSV field, a JSON null): \
             scored as empty titles by the blank-title rule ({}), as `titlesim score` scores an \
             empty field",
            history.display(),
            summary.missing_titles,
            match canonical.blank_titles() {
                titlesim_core::BlankTitles::Fail => "blank_titles = \"fail\": cosine 0, a fail",
                titlesim_core::BlankTitles::Score => "blank_titles = \"score\"",
            }
        ));
    }
    summary.canonical = canonical_cache.stats();
    summary.shadow = shadow_cache.stats();
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

/// Scores `rows` with both models, one after the other (each on its own threads), into
/// records; the second value counts the GT vectors the stores gave.
async fn score_rows(
    rows: &[Row],
    canonical: &CosineScorer,
    shadow: &CosineScorer,
) -> Result<(Vec<ShadowRecord>, u64)> {
    let pairs: Vec<Pair> = rows.iter().map(|r| r.pair.clone()).collect();
    let (c, c_ms) = timed(canonical, &pairs).await?;
    let (s, s_ms) = timed(shadow, &pairs).await?;
    let now = now_rfc3339();
    let mut from_store = 0u64;
    let mut records = Vec::with_capacity(rows.len());
    for ((row, c), s) in rows.iter().zip(c).zip(s) {
        if c.id != row.pair.id || s.id != row.pair.id {
            return Err(titlesim_core::Error::Task(format!(
                "the scorers returned results out of order at pair `{}`",
                row.pair.id
            ))
            .into());
        }
        from_store += u64::from(c.gt_from_store) + u64::from(s.gt_from_store);
        let p = row.pair.clone();
        records.push(ShadowRecord {
            schema: SCHEMA_VERSION,
            ts: row.ts.clone().unwrap_or_else(|| now.clone()),
            pair_id: p.id,
            phase: p.phase,
            product: p.product,
            gt: p.gt,
            label: p.label,
            canonical: SideRecord::scored(canonical.info(), &c.score, c_ms),
            shadow: Some(SideRecord::scored(shadow.info(), &s.score, s_ms)),
            replayed_at: Some(now.clone()),
        });
    }
    Ok((records, from_store))
}

/// The scores of `pairs` and the milliseconds they took.
async fn timed(scorer: &CosineScorer, pairs: &[Pair]) -> Result<(Vec<PairScore>, f64)> {
    let t = Instant::now();
    let s = scorer.score_batch(pairs).await?;
    if s.len() != pairs.len() {
        return Err(titlesim_core::Error::Task(format!(
            "{} returned {} scores for {} pairs",
            scorer.info().model,
            s.len(),
            pairs.len()
        ))
        .into());
    }
    Ok((s, t.elapsed().as_secs_f64() * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::session;
    use datafusion::arrow::array::{Array, StringArray};
    use std::io::Write;

    /// A CSV file over DataFusion's 10 MiB repartitioning size, its titles holding newlines,
    /// named in the query: every row is read as written, none made up from a title's tail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_big_csv_named_in_a_query_keeps_newlines_inside_titles() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("pairs.csv");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        writeln!(f, "id,gt,product").unwrap();
        let rows = 120_000;
        let filler = "y".repeat(40);
        for i in 0..rows {
            writeln!(
                f,
                "{i},gt {i} {filler},\"prod {i}\nFAKE{i},injected gt,injected product\nTAIL{i},z,w\""
            )
            .unwrap();
        }
        f.flush().unwrap();
        drop(f);
        assert!(std::fs::metadata(&path).unwrap().len() > 10 << 20);

        let ctx = session(2, 1024).enable_url_table();
        let sql = format!(
            "SELECT count(*) AS n, count(DISTINCT id) AS ids, \
             sum(CASE WHEN product LIKE 'prod %' THEN 1 ELSE 0 END) AS whole \
             FROM '{}'",
            path.display()
        );
        let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
        let cols =
            datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let get = |c: usize| {
            let a = datafusion::arrow::compute::cast(
                cols.column(c),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let a = a.as_any().downcast_ref::<StringArray>().unwrap().clone();
            assert_eq!(a.len(), 1);
            a.value(0).to_string()
        };
        let want = rows.to_string();
        assert_eq!((get(0), get(1), get(2)), (want.clone(), want.clone(), want));
    }
}
