//! The mining runtime's session and retry rules, driven through the whole pipeline with a
//! fault-injecting wrapper around a recorded export.

mod common;
#[path = "../benches/support/export_gen.rs"]
mod export_gen;

use common::{table_outputs, Tap};

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redoflow::checkpoint::Scn;
use redoflow::config::WriterThread;
use redoflow::miner::{
    LogSource, RedoRow, ReplaySource, SimConfig, SimSource, SourceError, TableSchema,
};
use redoflow::pipeline::RetryPolicy;
use redoflow::{Config, Pacing, PipelineError, PipelineOptions, Progress};

/// Fails every `every`-th call with a retryable error; counts sessions.
struct Flaky<S> {
    inner: S,
    every: u64,
    calls: u64,
    sessions: u64,
    stale_every: u64,
    /// Fail every call once this many calls happened (a database that stays down).
    down_after: Option<u64>,
    purged_before: Option<Scn>,
}

impl<S: LogSource> Flaky<S> {
    fn new(inner: S, every: u64) -> Self {
        Flaky {
            inner,
            every,
            calls: 0,
            sessions: 0,
            stale_every: 0,
            down_after: None,
            purged_before: None,
        }
    }
    fn tick(&mut self) -> Result<(), SourceError> {
        self.calls += 1;
        let down = self.down_after.is_some_and(|n| self.calls > n);
        if down || (self.every > 0 && self.calls % self.every == 0) {
            return Err(SourceError::Retryable {
                scn: Scn(0),
                message: "ORA-03113: end-of-file on communication channel".into(),
            });
        }
        Ok(())
    }
}

impl<S: LogSource> LogSource for Flaky<S> {
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        self.tick()?;
        self.inner.current_scn()
    }
    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        if let Some(purged) = self.purged_before {
            if resume_scn < purged {
                return Err(SourceError::LogsMissing {
                    resume_scn,
                    missing_from: resume_scn.next(),
                    missing_to: purged,
                });
            }
        }
        self.tick()?;
        self.sessions += 1;
        self.inner.start_session(resume_scn)
    }
    fn fetch(&mut self, read: Scn, end: Scn, out: &mut Vec<RedoRow>) -> Result<(), SourceError> {
        // Fail after appending part of the window, as a dropped connection mid-fetch would.
        let before = out.len();
        self.inner.fetch(read, end, out)?;
        if let Err(e) = self.tick() {
            out.truncate(before + (out.len() - before) / 2);
            return Err(e);
        }
        Ok(())
    }
    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        self.tick()?;
        self.inner.table_schema(owner, table)
    }
    fn session_stale(&mut self) -> Result<bool, SourceError> {
        Ok(self.stale_every > 0 && self.calls % self.stale_every == 0)
    }
    fn fetch_is_cheap(&self) -> bool {
        self.inner.fetch_is_cheap()
    }
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

fn options(out: &Path) -> PipelineOptions {
    let mut c = Config::default();
    c.output.dir = out.to_path_buf();
    c.output.fsync = false;
    c.mining.batch_rows_min = 50;
    c.mining.batch_rows_default = 200;
    c.mining.batch_rows_max = 400;
    let mut o = PipelineOptions::from_config(&c, Pacing::Unpaced);
    o.retry = RetryPolicy {
        retries: 5,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
    };
    o.checkpoint_interval = Duration::from_millis(2);
    // The generated export starts after SCN 5000: no blind window across an empty start.
    o.start_scn = Scn(5_000);
    o
}

fn run<S: LogSource>(out: &Path, source: &mut S) -> Result<redoflow::Summary, PipelineError> {
    let opts = options(out);
    common::run_in(out, &opts, source, &Progress::default())
}

fn export(dir: &Path) -> (PathBuf, PathBuf) {
    let contents = dir.join("c.csv");
    let columns = dir.join("t.csv");
    export_gen::write_export(fs::File::create(&contents).unwrap(), 8_000, 5).unwrap();
    export_gen::write_columns(fs::File::create(&columns).unwrap()).unwrap();
    (contents, columns)
}

#[test]
fn dropped_connections_and_log_switches_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns) = export(dir.path());
    let clean = dir.path().join("clean");
    run(
        &clean,
        &mut ReplaySource::open(&contents, Some(&columns)).unwrap(),
    )
    .unwrap();
    let faulty = dir.path().join("faulty");
    let mut source = Flaky::new(ReplaySource::open(&contents, Some(&columns)).unwrap(), 7);
    source.stale_every = 5;
    let summary = run(&faulty, &mut source).unwrap();
    assert!(source.sessions > 10, "sessions: {}", source.sessions);
    assert!(summary.checkpoints > 1);
    assert_eq!(table_outputs(&faulty), table_outputs(&clean));
    assert!(redoflow::sink_csv::verify(&faulty).unwrap().is_ok());
}

#[test]
fn a_source_that_stays_down_stops_the_run_after_the_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns) = export(dir.path());
    let mut source = Flaky::new(ReplaySource::open(&contents, Some(&columns)).unwrap(), 0);
    source.down_after = Some(30);
    let err = run(&dir.path().join("out"), &mut source).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PipelineError::GaveUp { attempts: 6, .. }),
        "{msg}"
    );
    assert!(msg.contains("ORA-03113"), "{msg}");
}

#[test]
fn purged_logs_stop_the_run_naming_the_scn_and_range() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns) = export(dir.path());
    let mut source = Flaky::new(ReplaySource::open(&contents, Some(&columns)).unwrap(), 0);
    source.purged_before = Some(Scn(6_000));
    let err = run(&dir.path().join("out"), &mut source).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, PipelineError::Source(SourceError::LogsMissing { .. })),
        "{msg}"
    );
    assert!(msg.contains("SCN 5000") && msg.contains("6000"), "{msg}");
}

#[test]
fn backoff_doubles_up_to_the_maximum() {
    let p = RetryPolicy::default();
    let delays: Vec<u64> = (1..=9).map(|a| p.delay(a).as_secs()).collect();
    assert_eq!(delays, vec![2, 4, 8, 16, 32, 64, 120, 120, 120]);
    assert_eq!(p.delay(200).as_secs(), 120);
}

/// A writer error (a malformed SQL_REDO, `on_parse_error = "stop"`) ends the run with that
/// error whether the writer has its own thread or shares the miner's, and what was committed
/// before it stays valid.
#[test]
fn a_writer_error_stops_the_run_on_one_thread_and_on_two() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns) = export(dir.path());
    for mode in [WriterThread::Separate, WriterThread::Same] {
        let out = dir.path().join(format!("{mode:?}"));
        // Every DML row from the 2000th on gets a broken statement.
        let (mut dml, mut first_scn) = (0u64, None);
        let mut source = Tap::new(
            ReplaySource::open(&contents, Some(&columns)).unwrap(),
            |inner: &mut ReplaySource, read, end, out: &mut Vec<RedoRow>, _| {
                let before = out.len();
                inner.fetch(read, end, out)?;
                for row in &mut out[before..] {
                    if row.op.is_dml() {
                        dml += 1;
                        if dml >= 2_000 {
                            row.sql_redo = "insert into \"HR\".\"EMP\"(\"ID\") values (;".into();
                            row.csf = false;
                            first_scn.get_or_insert(row.scn);
                        }
                    }
                }
                Ok(end)
            },
        );
        let mut opts = options(&out);
        opts.writer_thread = mode;
        let err = common::run_in(&out, &opts, &mut source, &Progress::default()).unwrap_err();
        drop(source);
        match err {
            PipelineError::Parse { scn, snippet, .. } => {
                assert!(scn >= first_scn.unwrap(), "{mode:?}: {scn}");
                assert!(snippet.contains("values ("), "{snippet}");
            }
            other => panic!("{mode:?}: {other}"),
        }
        assert!(
            redoflow::sink_csv::verify(&out).unwrap().is_ok(),
            "{mode:?}"
        );
        let manifests = fs::read_dir(out.join("_checkpoints")).unwrap().count();
        assert!(manifests > 0, "{mode:?}: checkpoints before the error");
    }
}

/// Windows that the source ends early (the row cap) are continued from where it stopped:
/// the output equals a run that read every window whole, and the runtime asked for its cap
/// (twice the planner's largest batch). (On the simulated database: a source that ends a
/// window early must be able to read from that point again, which a forward-only export
/// reader is not.)
#[test]
fn windows_ended_early_at_the_row_cap_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = || {
        SimSource::new(SimConfig {
            start_scn: 5_000,
            end_scn: Some(25_000),
            ..SimConfig::default()
        })
        .unwrap()
    };
    let clean = dir.path().join("clean");
    run(&clean, &mut sim()).unwrap();
    let capped = dir.path().join("capped");
    // Fetched one window per query (not cheap), each ended early at an SCN boundary after 60
    // rows, as the Oracle source does at the runtime's row cap.
    let (mut caps_seen, mut cuts) = (Vec::new(), 0u64);
    let mut source = Tap::new(
        sim(),
        |inner: &mut SimSource, read, end, out: &mut Vec<RedoRow>, max_rows| {
            caps_seen.push(max_rows);
            let before = out.len();
            inner.fetch(read, end, out)?;
            let limit = before + max_rows.min(60);
            let cut = (limit.max(before + 1)..out.len()).find(|&i| out[i].scn != out[i - 1].scn);
            match cut {
                Some(i) => {
                    let through = out[i - 1].scn;
                    out.truncate(i);
                    cuts += 1;
                    Ok(through)
                }
                None => Ok(end),
            }
        },
    );
    source.cheap = false;
    run(&capped, &mut source).unwrap();
    drop(source);
    assert!(cuts > 5, "cuts: {cuts}");
    assert!(caps_seen.iter().all(|&c| c == 800), "{:?}", &caps_seen[..5]);
    assert_eq!(table_outputs(&capped), table_outputs(&clean));
    assert!(redoflow::sink_csv::verify(&capped).unwrap().is_ok());
}

/// A source that claims to have read a window only through its start is a bug, reported as a
/// fatal error rather than looping or skipping rows.
#[test]
fn a_source_answering_outside_its_window_is_a_fatal_error() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimSource::new(SimConfig {
        start_scn: 5_000,
        end_scn: Some(6_000),
        ..SimConfig::default()
    })
    .unwrap();
    let mut source = Tap::new(
        sim,
        |_: &mut SimSource, read, _, _: &mut Vec<RedoRow>, _| Ok(read),
    );
    source.cheap = false;
    match run(&dir.path().join("out"), &mut source) {
        Err(PipelineError::Source(SourceError::Fatal { message })) => {
            assert!(message.contains("outside the window"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

/// With `record_rounds`, every round is logged: their rows add up to the rows read, their
/// bytes to the SQL_REDO fetched, and fetching never takes longer than the round.
#[test]
fn recorded_rounds_account_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut source = SimSource::new(SimConfig {
        start_scn: 5_000,
        end_scn: Some(30_000),
        ..SimConfig::default()
    })
    .unwrap();
    let progress = Progress::default();
    progress.record_rounds();
    let summary = common::run_in(&out, &options(&out), &mut source, &progress).unwrap();
    let rounds = progress.round_log();
    assert!(rounds.len() > 5, "{} rounds", rounds.len());
    assert_eq!(
        rounds.iter().map(|r| r.rows).sum::<u64>(),
        summary.rows_read
    );
    assert_eq!(
        rounds.iter().map(|r| r.redo_bytes).sum::<u64>(),
        progress
            .redo_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(rounds.iter().all(|r| r.fetch <= r.total));
    assert!(Progress::default().round_log().is_empty(), "off by default");
}
