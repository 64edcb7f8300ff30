//! What a node knows about its own work beyond one run's [`Progress`]: the counters of its
//! earlier runs (a node mines once per term it leads, each run with fresh counters, while
//! `/metrics` counters must only grow), and throughput samples for rates and the page's
//! sparkline. Also the parts of [`NodeStatus`] built from them, shared by the cluster node and
//! the single node.
//!
//! Everything here is read at request time or sampled once a second: nothing runs on the
//! mining path.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use redoflow_checkpoint::Checkpoint;
use redoflow_miner::txn::TxnStats;

use crate::pipeline::{add_counts, CheckpointTiming, HistogramSnapshot, Progress, TableCounts};
use crate::status::{CheckpointSummary, FileStatus, SourceStatus, ThroughputPoint};

/// Checkpoints and files listed in a status.
pub const LISTED: usize = 20;

/// How long throughput samples are kept, and the sparkline's span and step.
const HISTORY: Duration = Duration::from_secs(10 * 60);
const SPARKLINE: Duration = Duration::from_secs(5 * 60);
const SPARKLINE_STEP: Duration = Duration::from_secs(5);

/// Counters added up over runs: what `/metrics` exports as counters and histograms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub rows_read: u64,
    pub redo_bytes: u64,
    pub rounds: u64,
    pub transactions_written: u64,
    pub changes_written: u64,
    pub rejected: u64,
    pub parse_errors: u64,
    pub checkpoints: u64,
    pub files_finished: u64,
    pub txn: TxnStats,
    pub rows_mined_by_table: TableCounts,
    pub changes_written_by_table: TableCounts,
    pub source_retries: BTreeMap<String, u64>,
    pub fetch_seconds: HistogramSnapshot,
    pub checkpoint_seconds: HistogramSnapshot,
    /// The newest checkpoints committed by this process, oldest first.
    pub recent_checkpoints: VecDeque<CheckpointTiming>,
}

impl Totals {
    /// A run's counters so far.
    pub fn of(p: &Progress) -> Totals {
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        Totals {
            rows_read: load(&p.rows_read),
            redo_bytes: load(&p.redo_bytes),
            rounds: load(&p.rounds),
            transactions_written: load(&p.transactions),
            changes_written: load(&p.changes_written),
            rejected: load(&p.rejected),
            parse_errors: load(&p.parse_errors),
            checkpoints: load(&p.checkpoints),
            files_finished: load(&p.files_finished),
            txn: p.transaction_stats(),
            rows_mined_by_table: p.rows_mined_by_table(),
            changes_written_by_table: p.changes_written_by_table(),
            source_retries: p.source_retries(),
            fetch_seconds: p.fetch_seconds.snapshot(),
            checkpoint_seconds: p.checkpoint_seconds.snapshot(),
            recent_checkpoints: p.recent_checkpoints().into(),
        }
    }

    /// Adds a later run's counters.
    pub fn add(&mut self, o: &Totals) {
        self.rows_read += o.rows_read;
        self.redo_bytes += o.redo_bytes;
        self.rounds += o.rounds;
        self.transactions_written += o.transactions_written;
        self.changes_written += o.changes_written;
        self.rejected += o.rejected;
        self.parse_errors += o.parse_errors;
        self.checkpoints += o.checkpoints;
        self.files_finished += o.files_finished;
        let (t, u) = (&mut self.txn, &o.txn);
        t.committed += u.committed;
        t.committed_empty += u.committed_empty;
        t.skipped_already_written += u.skipped_already_written;
        t.rolled_back += u.rolled_back;
        t.partial_rollbacks += u.partial_rollbacks;
        t.committed_spilled += u.committed_spilled;
        t.expired_reported += u.expired_reported;
        t.expired_dropped += u.expired_dropped;
        add_counts(&mut self.rows_mined_by_table, &o.rows_mined_by_table);
        add_counts(
            &mut self.changes_written_by_table,
            &o.changes_written_by_table,
        );
        for (class, n) in &o.source_retries {
            *self.source_retries.entry(class.clone()).or_default() += n;
        }
        self.fetch_seconds.add(&o.fetch_seconds);
        self.checkpoint_seconds.add(&o.checkpoint_seconds);
        self.recent_checkpoints
            .extend(o.recent_checkpoints.iter().cloned());
        while self.recent_checkpoints.len() > LISTED {
            self.recent_checkpoints.pop_front();
        }
    }
}

/// One throughput sample: the running totals at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    unix_ms: u64,
    rows: u64,
    changes: u64,
}

/// The node's own telemetry beside the current run's [`Progress`]: earlier runs' counters and
/// throughput samples. The current run is kept by its owner and passed in, so the owner
/// decides how the swap of runs and the reads are ordered (see [`Telemetry::retire`]).
#[derive(Debug, Default)]
pub struct Telemetry {
    retired: Mutex<Totals>,
    samples: Mutex<VecDeque<Sample>>,
}

/// Rows and changes per second over the last 10 s and the last minute.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub rows_10s: f64,
    pub rows_1m: f64,
    pub changes_10s: f64,
    pub changes_1m: f64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Telemetry {
    /// Adds a run that is being replaced to the earlier runs. The owner calls it while holding
    /// the lock it keeps the current run under, and reads [`Telemetry::totals`] under that
    /// lock too, so no run is counted twice or not at all.
    pub fn retire(&self, run: &Progress) {
        lock(&self.retired).add(&Totals::of(run));
    }

    /// Everything counted so far: the earlier runs and `current`.
    pub fn totals(&self, current: Option<&Progress>) -> Totals {
        let mut t = lock(&self.retired).clone();
        if let Some(p) = current {
            t.add(&Totals::of(p));
        }
        t
    }

    /// Takes a throughput sample of the totals now (the owner calls it about once a second).
    pub fn sample(&self, current: Option<&Progress>, unix_ms: u64) {
        let (mut rows, mut changes) = {
            let r = lock(&self.retired);
            (r.rows_read, r.changes_written)
        };
        if let Some(p) = current {
            rows += p.rows_read.load(Ordering::Relaxed);
            changes += p.changes_written.load(Ordering::Relaxed);
        }
        self.push(Sample {
            unix_ms,
            rows,
            changes,
        });
    }

    fn push(&self, s: Sample) {
        let mut samples = lock(&self.samples);
        samples.push_back(s);
        let horizon = s.unix_ms.saturating_sub(HISTORY.as_millis() as u64);
        while samples.front().is_some_and(|f| f.unix_ms < horizon) {
            samples.pop_front();
        }
    }

    /// Rates over the last 10 s and minute, from the samples (0 without two samples).
    pub fn rates(&self) -> Rates {
        let samples = lock(&self.samples);
        let rate = |span: Duration| {
            let Some(last) = samples.back() else {
                return (0.0, 0.0);
            };
            let since = last.unix_ms.saturating_sub(span.as_millis() as u64);
            // The newest sample at or before the span's start, else the oldest one.
            let first = samples
                .iter()
                .rev()
                .find(|s| s.unix_ms <= since)
                .or(samples.front())
                .copied()
                .unwrap_or(*last);
            per_second(&first, last)
        };
        let (rows_10s, changes_10s) = rate(Duration::from_secs(10));
        let (rows_1m, changes_1m) = rate(Duration::from_secs(60));
        Rates {
            rows_10s,
            rows_1m,
            changes_10s,
            changes_1m,
        }
    }

    /// Rates every 5 s over the last 5 minutes, oldest first.
    pub fn throughput(&self) -> Vec<ThroughputPoint> {
        let samples = lock(&self.samples);
        let Some(last) = samples.back().copied() else {
            return Vec::new();
        };
        let step = SPARKLINE_STEP.as_millis() as u64;
        let start = last.unix_ms.saturating_sub(SPARKLINE.as_millis() as u64);
        // The samples nearest each step's end, newest first, then reversed.
        let mut points = Vec::new();
        let mut due = last.unix_ms;
        let mut later: Option<Sample> = None;
        for s in samples.iter().rev() {
            if s.unix_ms > due {
                continue;
            }
            if s.unix_ms < start {
                break;
            }
            if let Some(l) = later {
                let (rows, changes) = per_second(s, &l);
                points.push(ThroughputPoint {
                    unix_ms: l.unix_ms,
                    rows_per_second: rows,
                    changes_per_second: changes,
                });
            }
            later = Some(*s);
            due = s.unix_ms.saturating_sub(step);
        }
        points.reverse();
        points
    }
}

fn per_second(first: &Sample, last: &Sample) -> (f64, f64) {
    let secs = last.unix_ms.saturating_sub(first.unix_ms) as f64 / 1000.0;
    if secs <= 0.0 {
        return (0.0, 0.0);
    }
    (
        last.rows.saturating_sub(first.rows) as f64 / secs,
        last.changes.saturating_sub(first.changes) as f64 / secs,
    )
}

/// The source part of a status, from the run's counters and the node's rates.
pub fn source_status(p: &Progress, running: bool, rates: Rates, now_ms: u64) -> SourceStatus {
    let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    let (current, read) = (load(&p.current_scn), load(&p.read_scn));
    let lag_scn = current.saturating_sub(read);
    let last_redo = Some(load(&p.last_redo_unix_ms)).filter(|ms| *ms > 0);
    SourceStatus {
        running,
        current_scn: current,
        read_scn: read,
        resume_scn: load(&p.resume_scn),
        lag_scn,
        lag_seconds: last_redo.map(|ms| {
            if lag_scn == 0 {
                0.0
            } else {
                now_ms.saturating_sub(ms) as f64 / 1000.0
            }
        }),
        last_redo_unix_ms: last_redo,
        rows_per_second_10s: rates.rows_10s,
        rows_per_second_1m: rates.rows_1m,
        changes_per_second_10s: rates.changes_10s,
        changes_per_second_1m: rates.changes_1m,
        open_transactions: load(&p.open_transactions),
        buffered_bytes: load(&p.buffered_bytes),
        spilled_bytes: load(&p.spilled_bytes),
        batch_target_rows: load(&p.batch_target_rows),
        sleep_ms: load(&p.sleep_ms),
        window_scn_span: load(&p.window_scn_span),
    }
}

/// The checkpoint list of a status, newest first: `committed` (oldest first, as the state
/// keeps them), with durations where this process timed them.
pub fn checkpoint_summaries(
    committed: &[Checkpoint],
    timings: &VecDeque<CheckpointTiming>,
    now_ms: u64,
) -> Vec<CheckpointSummary> {
    committed
        .iter()
        .rev()
        .take(LISTED)
        .map(|c| CheckpointSummary {
            id: c.id.0,
            term: c.term.0,
            resume_scn: c.offset.resume_scn.0,
            created_at_ms: c.created_at_ms,
            age_ms: now_ms.saturating_sub(c.created_at_ms),
            duration_ms: timings
                .iter()
                .find(|t| t.id == c.id.0 && t.term == c.term.0)
                .map(|t| t.duration.as_millis() as u64),
            files: c.files.len() as u64,
            rows: c.files.iter().map(|f| f.rows).sum(),
        })
        .collect()
}

/// The files of the newest checkpoints in `committed` (oldest first), newest first.
pub fn recent_files(committed: &[Checkpoint]) -> Vec<FileStatus> {
    committed
        .iter()
        .rev()
        .flat_map(|c| {
            c.files.iter().map(|f| FileStatus {
                checkpoint_id: c.id.0,
                table: f.table.clone(),
                path: f.final_path.clone(),
                rows: f.rows,
                bytes: f.bytes,
            })
        })
        .take(LISTED)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use redoflow_checkpoint::{CheckpointId, FileCommit, Offset, Scn, Term};

    fn at(t: &Telemetry, secs: u64, rows: u64, changes: u64) {
        t.push(Sample {
            unix_ms: 1_000_000 + secs * 1000,
            rows,
            changes,
        });
    }

    #[test]
    fn rates_cover_the_last_10_seconds_and_minute() {
        let t = Telemetry::default();
        assert_eq!(t.rates(), Rates::default());
        // 100 rows/s for a minute, then 1000 rows/s for 10 s; changes at half the rows.
        for s in 0..=60 {
            at(&t, s, s * 100, s * 50);
        }
        for s in 61..=70 {
            at(&t, s, 6000 + (s - 60) * 1000, 3000 + (s - 60) * 500);
        }
        let r = t.rates();
        assert_eq!(r.rows_10s, 1000.0);
        assert_eq!(r.changes_10s, 500.0);
        // (16000 - 1000) rows over the minute from second 10 to 70.
        assert_eq!(r.rows_1m, 250.0);
        assert_eq!(r.changes_1m, 125.0);
    }

    #[test]
    fn rates_use_what_there_is_before_a_minute_has_passed() {
        let t = Telemetry::default();
        at(&t, 0, 0, 0);
        assert_eq!(t.rates(), Rates::default(), "one sample has no rate");
        at(&t, 4, 800, 400);
        let r = t.rates();
        assert_eq!((r.rows_10s, r.rows_1m), (200.0, 200.0));
    }

    #[test]
    fn samples_older_than_the_history_are_dropped() {
        let t = Telemetry::default();
        for s in 0..=700 {
            at(&t, s, s, s);
        }
        let samples = lock(&t.samples);
        assert_eq!(
            samples.front().map(|s| s.unix_ms),
            Some(1_000_000 + 100_000)
        );
    }

    #[test]
    fn the_sparkline_has_a_point_every_5_seconds_over_5_minutes() {
        let t = Telemetry::default();
        for s in 0..=400 {
            at(&t, s, s * 10, s * 5);
        }
        let points = t.throughput();
        assert_eq!(points.len(), 60);
        assert_eq!(points.last().unwrap().unix_ms, 1_000_000 + 400_000);
        assert_eq!(points[0].unix_ms, 1_000_000 + 105_000);
        assert!(points
            .windows(2)
            .all(|w| w[1].unix_ms - w[0].unix_ms == 5000));
        assert!(points
            .iter()
            .all(|p| p.rows_per_second == 10.0 && p.changes_per_second == 5.0));
    }

    #[test]
    fn runs_add_up_and_a_retired_run_counts_once() {
        let t = Telemetry::default();
        let first = Progress::default();
        first.rows_read.store(100, Ordering::Relaxed);
        first.checkpoints.store(2, Ordering::Relaxed);
        first.fetch_seconds.observe(Duration::from_millis(3));
        let second = Progress::default();
        second.rows_read.store(5, Ordering::Relaxed);
        second.fetch_seconds.observe(Duration::from_millis(30));
        assert_eq!(t.totals(Some(&first)).rows_read, 100);
        t.retire(&first);
        let totals = t.totals(Some(&second));
        assert_eq!(totals.rows_read, 105);
        assert_eq!(totals.checkpoints, 2);
        assert_eq!(totals.fetch_seconds.count(), 2);
        assert_eq!(t.totals(None).rows_read, 100);
    }

    fn checkpoint(id: u64, created_at_ms: u64, files: &[(&str, u64)]) -> Checkpoint {
        Checkpoint {
            id: CheckpointId(id),
            term: Term(3),
            offset: Offset::starting_after(Scn(id * 100)),
            files: files
                .iter()
                .map(|(table, rows)| FileCommit {
                    table: table.to_string(),
                    final_path: format!("{table}/{id:010}-000000.csv"),
                    inprogress_path: String::new(),
                    rows: *rows,
                    bytes: rows * 10,
                    crc32: 0,
                })
                .collect(),
            created_at_ms,
        }
    }

    #[test]
    fn checkpoints_are_listed_newest_first_with_their_durations() {
        let committed: Vec<Checkpoint> = (1..=25)
            .map(|id| checkpoint(id, 1000 * id, &[("HR.EMP", id), ("HR.DEPT", 1)]))
            .collect();
        let timings: VecDeque<CheckpointTiming> = [CheckpointTiming {
            id: 24,
            term: 3,
            created_at_ms: 24_000,
            duration: Duration::from_millis(42),
            files: 2,
            rows: 25,
        }]
        .into();
        let list = checkpoint_summaries(&committed, &timings, 30_000);
        assert_eq!(list.len(), LISTED);
        assert_eq!(list[0].id, 25);
        assert_eq!(list[0].age_ms, 5000);
        assert_eq!(list[0].duration_ms, None);
        assert_eq!(list[1].duration_ms, Some(42));
        assert_eq!((list[1].files, list[1].rows), (2, 25));
        assert_eq!(list[1].resume_scn, 2400);
        assert_eq!(list.last().map(|c| c.id), Some(6));

        let files = recent_files(&committed);
        assert_eq!(files.len(), LISTED);
        assert_eq!(files[0].checkpoint_id, 25);
        assert_eq!(files[0].path, "HR.EMP/0000000025-000000.csv");
        assert_eq!(files[1].table, "HR.DEPT");
    }

    #[test]
    fn lag_is_zero_while_caught_up_and_redo_age_otherwise() {
        let p = Progress::default();
        assert_eq!(
            source_status(&p, true, Rates::default(), 10_000).lag_seconds,
            None
        );
        p.current_scn.store(500, Ordering::Relaxed);
        p.read_scn.store(400, Ordering::Relaxed);
        p.last_redo_unix_ms.store(7_500, Ordering::Relaxed);
        let s = source_status(&p, true, Rates::default(), 10_000);
        assert_eq!((s.lag_scn, s.lag_seconds), (100, Some(2.5)));
        p.read_scn.store(500, Ordering::Relaxed);
        let s = source_status(&p, true, Rates::default(), 10_000);
        assert_eq!((s.lag_scn, s.lag_seconds), (0, Some(0.0)));
    }
}
