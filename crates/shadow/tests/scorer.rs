//! The shadow scorer: canonical results untouched, one record per pair, shadow failures and
//! delays contained.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use titlesim_core::{Pair, PairScore, Scorer};
use titlesim_log::ShadowRecord;
use titlesim_shadow::{MemorySink, RecordSink, Sampler, ShadowScorer, ShadowSettings};
use titlesim_test_support::{pairs, scorer, Fake, Mode};

fn settings(rate: f64, timeout_ms: u64) -> ShadowSettings {
    ShadowSettings {
        sampler: Sampler::new(rate, ""),
        timeout_per_pair: Duration::from_millis(timeout_ms),
    }
}

async fn plain(canonical: &Arc<Fake>, batches: &[&[Pair]]) -> Vec<Vec<PairScore>> {
    let s = scorer(canonical, 0.8);
    let mut out = Vec::new();
    for b in batches {
        out.push(s.score_batch(b).await.unwrap());
    }
    out
}

/// Scores `all` in batches of `size` with shadow `mode`, returning canonical scores per batch
/// and the records.
async fn run_shadow(
    all: &[Pair],
    size: usize,
    mode: Mode,
    rate: f64,
) -> (Vec<Vec<PairScore>>, Vec<ShadowRecord>, Arc<Fake>) {
    let (a, b, c, _) = run_shadow_timed(all, size, mode, rate).await;
    (a, b, c)
}

/// [`run_shadow`], also returning the (Tokio) time the scoring calls took.
async fn run_shadow_timed(
    all: &[Pair],
    size: usize,
    mode: Mode,
    rate: f64,
) -> (Vec<Vec<PairScore>>, Vec<ShadowRecord>, Arc<Fake>, Duration) {
    let canonical = Fake::new("canon", 16, Mode::Good);
    let shadow = Fake::new("cand", 12, mode);
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(rate, 50),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    let mut got = Vec::new();
    let t0 = tokio::time::Instant::now();
    for b in all.chunks(size) {
        got.push(s.score_batch(b).await.unwrap());
    }
    let took = t0.elapsed();
    let report = s.finish().await.unwrap();
    assert_eq!(report.sinks[0].records_written as usize, all.len());
    (got, mem.records(), shadow, took)
}

fn assert_one_record_per_pair(all: &[Pair], records: &[ShadowRecord]) {
    assert_eq!(records.len(), all.len());
    let ids: HashSet<&str> = records.iter().map(|r| r.pair_id.as_str()).collect();
    assert_eq!(ids.len(), all.len(), "duplicate records");
    for p in all {
        assert!(ids.contains(p.id.as_str()), "no record for {}", p.id);
    }
}

fn assert_canonical_matches(records: &[ShadowRecord], all: &[Pair], scores: &[PairScore]) {
    for (r, (p, s)) in records.iter().zip(all.iter().zip(scores)) {
        assert_eq!(r.pair_id, p.id);
        assert_eq!(r.product, p.product);
        assert_eq!(r.gt, p.gt);
        assert_eq!(r.phase, p.phase);
        assert_eq!(r.label, p.label);
        assert_eq!(r.canonical.cosine, Some(s.cosine));
        assert_eq!(r.canonical.pass, Some(s.pass));
        assert_eq!(r.canonical.threshold, 0.8);
        assert_eq!(r.canonical.fingerprint, "ts1-fake-canon-16");
        assert!(r.canonical.error.is_none());
    }
}

#[tokio::test]
async fn canonical_results_are_those_of_plain_scoring() {
    let all = pairs(100);
    let batches: Vec<&[Pair]> = all.chunks(16).collect();
    let canonical = Fake::new("canon", 16, Mode::Good);
    let want = plain(&canonical, &batches).await;
    // Sanity: the fixture has both verdicts, so "identical" means something.
    let flat: Vec<PairScore> = want.iter().flatten().cloned().collect();
    assert!(flat.iter().any(|s| s.pass) && flat.iter().any(|s| !s.pass));

    let (got, records, shadow) = run_shadow(&all, 16, Mode::Good, 1.0).await;
    assert_eq!(got, want);
    assert_one_record_per_pair(&all, &records);
    assert_canonical_matches(&records, &all, &flat);
    assert!(shadow.calls() > 0);
    // The shadow side is the shadow model's own cosine, judged at its own threshold.
    let sh = scorer(&shadow, 0.6);
    let sh_scores = sh.score_batch(&all).await.unwrap();
    for (r, s) in records.iter().zip(&sh_scores) {
        let side = r.shadow.as_ref().expect("every pair sampled at rate 1");
        assert_eq!(side.cosine, Some(s.cosine));
        assert_eq!(side.pass, Some(s.pass));
        assert_eq!(side.threshold, 0.6);
        assert_eq!(side.fingerprint, "ts1-fake-cand-12");
        assert!(side.error.is_none());
    }
    // The two models disagree somewhere: the shadow is really a different model.
    assert!(records
        .iter()
        .any(|r| r.canonical.cosine != r.shadow.as_ref().unwrap().cosine));
}

#[tokio::test]
async fn a_failing_shadow_changes_nothing_and_is_logged() {
    let all = pairs(60);
    let batches: Vec<&[Pair]> = all.chunks(16).collect();
    let want = plain(&Fake::new("canon", 16, Mode::Good), &batches).await;
    for mode in [Mode::Fail, Mode::Panic, Mode::Nan] {
        let label = match mode {
            Mode::Fail => "boom",
            Mode::Panic => "panicked",
            _ => "non-finite",
        };
        let (got, records, _) = run_shadow(&all, 16, mode, 1.0).await;
        assert_eq!(got, want, "{label}");
        assert_one_record_per_pair(&all, &records);
        let flat: Vec<PairScore> = want.iter().flatten().cloned().collect();
        assert_canonical_matches(&records, &all, &flat);
        for r in &records {
            let side = r.shadow.as_ref().unwrap();
            let e = side
                .error
                .as_deref()
                .unwrap_or_else(|| panic!("{label}: no error"));
            assert!(e.contains(label), "{label}: {e}");
            assert!(side.cosine.is_none() && side.pass.is_none());
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_shadow_times_out_into_the_log_without_delaying_canonical() {
    let all = pairs(40);
    let batches: Vec<&[Pair]> = all.chunks(8).collect();
    let want = plain(&Fake::new("canon", 16, Mode::Good), &batches).await;
    // 1 hour per call against a budget of 50 ms per pair (400 ms per batch of 8).
    let (got, records, shadow, took) =
        run_shadow_timed(&all, 8, Mode::Sleep(Duration::from_secs(3600)), 1.0).await;
    assert_eq!(got, want);
    // Paused time advances only when every task waits on a timer: the scoring calls never
    // waited for a timer at all, so not for the shadow's hour nor for its budget.
    assert_eq!(took, Duration::ZERO);
    assert_one_record_per_pair(&all, &records);
    for r in &records {
        let e = r.shadow.as_ref().unwrap().error.as_deref().unwrap();
        assert!(e.starts_with("timeout"), "{e}");
    }
    // Only one shadow call ever started: a hung shadow holds one batch while the others
    // expire without piling up work (or threads).
    assert_eq!(shadow.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn canonical_returns_while_the_shadow_is_blocked() {
    let canonical = Fake::new("canon", 16, Mode::Good);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let shadow = Fake::new("cand", 12, Mode::Gate(gate.clone()));
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, 1000),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    let all = pairs(10);
    let t0 = tokio::time::Instant::now();
    // (The timeout turns a scorer that waits for the blocked shadow into a failure, not a hang.)
    let got = tokio::time::timeout(Duration::from_secs(3600), s.score_batch(&all))
        .await
        .expect("canonical result without the shadow")
        .unwrap();
    // The canonical verdicts came back with the shadow still blocked inside its call and
    // before any virtual time passed, i.e. without waiting for the shadow or its budget.
    assert_eq!(
        got,
        scorer(&canonical, 0.8).score_batch(&all).await.unwrap()
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    tokio::task::yield_now().await;
    assert_eq!(shadow.calls(), 1, "the shadow ran concurrently");
    assert_eq!(shadow.finished(), 0);
    assert_eq!(s.backlog(), 1);
    assert!(
        mem.records().is_empty(),
        "no record before the shadow result or its timeout"
    );
    // Open the gate: the shadow finishes within its budget and its verdicts are logged.
    gate.add_permits(1);
    s.finish().await.unwrap();
    assert_eq!(shadow.finished(), 1);
    let records = mem.records();
    assert_one_record_per_pair(&all, &records);
    assert!(records
        .iter()
        .all(|r| r.shadow.as_ref().unwrap().cosine.is_some()));
    assert_eq!(s.backlog(), 0);
    assert!(matches!(
        s.score_batch(&all).await,
        Err(titlesim_shadow::Error::Finished)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_caller_can_tell_the_shadow_is_behind_and_stop_waiting_for_it() {
    let canonical = Fake::new("canon", 16, Mode::Good);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let shadow = Fake::new("cand", 12, Mode::Gate(gate.clone()));
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, 100),
        vec![],
    )
    .unwrap();
    let alive = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = alive();
    let all = pairs(40);
    s.score_batch(&all[..10]).await.unwrap();
    assert!(!s.shadow_behind());
    s.score_batch(&all[10..20]).await.unwrap();
    s.score_batch(&all[20..30]).await.unwrap();
    assert_eq!(s.backlog(), 3);
    // Waiting for the backlog of a hung shadow ends after its budget (1 s per batch of 10).
    let t0 = tokio::time::Instant::now();
    s.wait_backlog(0).await;
    assert!(t0.elapsed() <= Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(s.shadow_behind(), "the last batch timed out");
    // The batches that waited for their turn behind the hung one gave up at their deadlines,
    // and their titles with them: only the hung call's task is left. (They waited on for
    // ever, each holding its pairs, behind a shadow that never returns.)
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(alive(), before + 1, "tasks still holding pairs");
    gate.add_permits(10);
    s.score_batch(&all[30..]).await.unwrap();
    let r = s.finish().await.unwrap();
    assert!(!s.shadow_behind(), "the last batch made it");
    assert_eq!(r.tally.total.pairs, 40);
    assert_eq!(r.tally.total.shadow_timeouts, 30);
}

#[tokio::test]
async fn sampling_is_by_pair_id_and_every_pair_still_gets_a_record() {
    let all = pairs(1000);
    let (got, records, shadow) = run_shadow(&all, 37, Mode::Good, 0.3).await;
    assert_eq!(got.iter().map(Vec::len).sum::<usize>(), all.len());
    assert_one_record_per_pair(&all, &records);
    let sampler = Sampler::new(0.3, "");
    let mut shadowed = 0;
    for r in &records {
        assert_eq!(
            r.shadow.is_some(),
            sampler.sampled(&r.pair_id),
            "{}",
            r.pair_id
        );
        shadowed += r.shadow.is_some() as usize;
    }
    assert!((200..400).contains(&shadowed), "{shadowed}");
    // Only sampled pairs were sent to the shadow model.
    let sent: HashSet<String> = shadow.texts().into_iter().collect();
    for r in records.iter().filter(|r| r.shadow.is_none()) {
        let shared_text = records
            .iter()
            .any(|o| o.shadow.is_some() && (o.product == r.product || o.gt == r.product));
        assert!(
            shared_text || !sent.contains(&r.product),
            "{} was shadowed",
            r.pair_id
        );
    }
    // A rerun samples the same pairs.
    let (_, again, _) = run_shadow(&all, 50, Mode::Good, 0.3).await;
    let a: HashSet<&str> = records
        .iter()
        .filter(|r| r.shadow.is_some())
        .map(|r| r.pair_id.as_str())
        .collect();
    let b: HashSet<&str> = again
        .iter()
        .filter(|r| r.shadow.is_some())
        .map(|r| r.pair_id.as_str())
        .collect();
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scoring_equals_sequential_scoring() {
    let all = pairs(640);
    let canonical = Fake::new("canon", 16, Mode::Good);
    let shadow = Fake::new("cand", 12, Mode::Good);
    let mem = MemorySink::new();
    let s = Arc::new(
        ShadowScorer::new(
            scorer(&canonical, 0.8),
            Some(scorer(&shadow, 0.6)),
            settings(1.0, 5000),
            vec![Box::new(mem.clone())],
        )
        .unwrap(),
    );
    let mut tasks = Vec::new();
    for (k, b) in all.chunks(10).enumerate() {
        let s = s.clone();
        let b = b.to_vec();
        tasks.push(tokio::spawn(async move {
            (k, s.score_batch(&b).await.unwrap())
        }));
    }
    let mut got: Vec<(usize, Vec<PairScore>)> = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort_by_key(|g| g.0);
    let concurrent: Vec<PairScore> = got.into_iter().flat_map(|g| g.1).collect();
    let plain_c = scorer(&canonical, 0.8);
    let plain_s = scorer(&shadow, 0.6);
    let mut sequential = Vec::new();
    let mut sequential_shadow = Vec::new();
    for b in all.chunks(10) {
        sequential.extend(plain_c.score_batch(b).await.unwrap());
        sequential_shadow.extend(plain_s.score_batch(b).await.unwrap());
    }
    assert_eq!(concurrent, sequential);
    s.finish().await.unwrap();
    let records = mem.records();
    assert_one_record_per_pair(&all, &records);
    for r in &records {
        let i: usize = r.pair_id[1..].parse().unwrap();
        assert_eq!(r.canonical.cosine, Some(sequential[i].cosine));
        assert_eq!(
            r.shadow.as_ref().unwrap().cosine,
            Some(sequential_shadow[i].cosine)
        );
    }
}

struct FailingSink;
impl RecordSink for FailingSink {
    fn name(&self) -> String {
        "failing".into()
    }
    fn write_batch(&mut self, _: &[ShadowRecord]) -> titlesim_shadow::Result<()> {
        Err(titlesim_shadow::Error::io(
            "/dev/full",
            std::io::Error::other("No space left on device"),
        ))
    }
}

struct PanickingSink;
impl RecordSink for PanickingSink {
    fn name(&self) -> String {
        "panicking".into()
    }
    fn write_batch(&mut self, _: &[ShadowRecord]) -> titlesim_shadow::Result<()> {
        panic!("sink bug")
    }
}

#[tokio::test]
async fn failing_sinks_are_reported_and_drop_no_canonical_result() {
    let all = pairs(50);
    let canonical = Fake::new("canon", 16, Mode::Good);
    let shadow = Fake::new("cand", 12, Mode::Good);
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, 5000),
        vec![
            Box::new(FailingSink),
            Box::new(PanickingSink),
            Box::new(mem.clone()),
        ],
    )
    .unwrap();
    let mut got = Vec::new();
    for b in all.chunks(10) {
        got.extend(s.score_batch(b).await.unwrap());
    }
    assert_eq!(
        got,
        scorer(&canonical, 0.8).score_batch(&all).await.unwrap()
    );
    let report = s.finish().await.unwrap();
    assert_eq!(report.sinks.len(), 3);
    assert_eq!(report.sinks[0].batches_failed, 5);
    assert_eq!(report.sinks[0].records_failed, 50);
    assert!(report.sinks[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("No space left"));
    assert_eq!(report.sinks[1].batches_failed, 5);
    assert!(report.sinks[1]
        .last_error
        .as_deref()
        .unwrap()
        .contains("sink bug"));
    // The healthy sink still got everything.
    assert_eq!(report.sinks[2].records_written, 50);
    assert_one_record_per_pair(&all, &mem.records());
    assert_eq!(report.tally.total.pairs, 50);
}

#[tokio::test]
async fn a_canonical_error_is_returned_and_logs_nothing() {
    let canonical = Fake::new("canon", 16, Mode::Fail);
    let shadow = Fake::new("cand", 12, Mode::Good);
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, 5000),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    let e = s.score_batch(&pairs(5)).await.unwrap_err();
    assert!(e.to_string().contains("boom"), "{e}");
    let report = s.finish().await.unwrap();
    assert!(mem.records().is_empty());
    assert_eq!(report.tally.total.pairs, 0);
}

#[tokio::test]
async fn without_a_shadow_records_carry_the_canonical_side_only() {
    let all = pairs(20);
    let canonical = Fake::new("canon", 16, Mode::Good);
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        None,
        settings(1.0, 50),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    let got = s.score_batch(&all).await.unwrap();
    s.finish().await.unwrap();
    let records = mem.records();
    assert_one_record_per_pair(&all, &records);
    assert_canonical_matches(&records, &all, &got);
    assert!(records.iter().all(|r| r.shadow.is_none()));
}

#[test]
fn the_scorer_needs_a_runtime_and_says_so() {
    let canonical = Fake::new("canon", 16, Mode::Good);
    let e = ShadowScorer::new(
        scorer(&canonical, 0.8),
        None,
        ShadowSettings::default(),
        vec![],
    )
    .unwrap_err();
    assert!(e.to_string().contains("Tokio runtime"), "{e}");
}

#[tokio::test]
async fn summary_counts_agreement_at_the_thresholds() {
    let all = pairs(200);
    let (_, records, _) = run_shadow(&all, 25, Mode::Good, 1.0).await;
    let mut t = titlesim_shadow::Tally::default();
    for r in &records {
        t.add(r);
    }
    let agree = records
        .iter()
        .filter(|r| r.canonical.pass == r.shadow.as_ref().unwrap().pass)
        .count() as u64;
    assert_eq!(t.total.pairs, 200);
    assert_eq!(t.total.agree, agree);
    assert_eq!(t.phases["qualifying"].pairs, 50);
    assert_eq!(t.phases["race"].pairs, 150);
    let text = t.render(0.8, Some(0.6));
    assert!(
        text.contains("qualifying") && text.contains("all"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{:.1}%", 100.0 * agree as f64 / 200.0)),
        "{text}"
    );
    // A record without a phase is counted under the name calibrate gives such pairs.
    let mut unphased = records[0].clone();
    unphased.phase = None;
    t.add(&unphased);
    assert_eq!(t.phases["(none)"].pairs, 1);
    assert!(!t.phases.contains_key("-"));
    let text = t.render(0.8, Some(0.6));
    assert!(text.lines().any(|l| l.starts_with("(none) ")), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_shadow_that_finishes_past_its_budget_is_a_timeout_even_before_a_slower_canonical() {
    // The shadow takes 100 ms against a budget of 1 ms per pair (8 ms for the batch); the
    // canonical side takes a second, so the shadow's result is there, but late, when the
    // records are built.
    let canonical = Fake::new("canon", 16, Mode::Sleep(Duration::from_secs(1)));
    let shadow = Fake::new("cand", 12, Mode::Sleep(Duration::from_millis(100)));
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, 1),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    let all = pairs(8);
    s.score_batch(&all).await.unwrap();
    s.finish().await.unwrap();
    let records = mem.records();
    assert_one_record_per_pair(&all, &records);
    assert_eq!(shadow.finished(), 1, "the shadow did finish");
    for r in &records {
        let side = r.shadow.as_ref().unwrap();
        let e = side.error.as_deref().unwrap_or("no error");
        assert!(e.starts_with("timeout"), "{e}");
        assert!(e.contains("past its budget of 8 ms"), "{e}");
        assert_eq!(
            side.cosine, None,
            "a late result is not logged as a success"
        );
    }
}

#[tokio::test]
async fn a_budget_past_the_clocks_range_is_no_budget_not_a_panic() {
    // `timeout_ms = 18446744073709551615` times a batch's pairs overflowed `Instant + budget`:
    // the panic killed `titlesim serve`'s queue worker, and every later request got a 503.
    let canonical = Fake::new("canon", 16, Mode::Good);
    let shadow = Fake::new("cand", 12, Mode::Good);
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, u64::MAX),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    // 1,001 pairs × u64::MAX ms is past what the clock (i64 seconds) can add to now
    let all = pairs(1001);
    let got = s.score_batch(&all).await.unwrap();
    assert_eq!(got, plain(&canonical, &[&all]).await[0]);
    s.finish().await.unwrap();
    let records = mem.records();
    assert_one_record_per_pair(&all, &records);
    assert!(records
        .iter()
        .all(|r| r.shadow.as_ref().is_some_and(|s| s.error.is_none())));
}

// Real time: the writer is a thread of its own, which a paused clock would not wait for.
#[tokio::test]
async fn stop_waiting_writes_the_pending_records_without_the_shadow() {
    // A forced stop of the service: a blocked shadow with an hour's budget must not hold
    // `finish`, and the pairs already answered must still get their records.
    let canonical = Fake::new("canon", 16, Mode::Good);
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let shadow = Fake::new("cand", 12, Mode::Gate(gate.clone()));
    let mem = MemorySink::new();
    let s = ShadowScorer::new(
        scorer(&canonical, 0.8),
        Some(scorer(&shadow, 0.6)),
        settings(1.0, 360_000),
        vec![Box::new(mem.clone())],
    )
    .unwrap();
    let all = pairs(10);
    s.score_batch(&all[..4]).await.unwrap();
    s.score_batch(&all[4..]).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(s.backlog(), 2);
    assert!(mem.records().is_empty());
    let t0 = tokio::time::Instant::now();
    s.stop_waiting();
    tokio::time::timeout(Duration::from_secs(20), s.finish())
        .await
        .expect("finish without waiting for the shadow")
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20));
    let records = mem.records();
    assert_one_record_per_pair(&all, &records);
    assert!(records.iter().all(|r| r
        .shadow
        .as_ref()
        .unwrap()
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("stopped:"))));
    assert_eq!(s.backlog(), 0);
    assert_eq!(shadow.finished(), 0, "the shadow never answered");
    gate.add_permits(10);
}
