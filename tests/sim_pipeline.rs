//! The whole pipeline on the simulated Oracle with faults switched on, checked row by row
//! against the simulator's ground truth: lost 0, duplicated 0 — also across restarts from
//! checkpoints.

mod common;
use common::Tap;

use std::path::Path;
use std::time::Duration;

use redoflow::checkpoint::{Scn, Term};
use redoflow::config::WriterThread;
use redoflow::miner::conformance::{check_faults, check_source, read_range};
use redoflow::miner::sim::{SimCatalog, SimConfig, SimFaults, SimSource};
use redoflow::miner::{LogSource, RedoRow};
use redoflow::pipeline::{run_pipeline, RetryPolicy};
use redoflow::{Config, LocalStore, Pacing, PipelineOptions, Progress, StopToken};

const START: u64 = 1_000_000;

fn sim(end: u64, faults: SimFaults, threads: u16) -> SimConfig {
    SimConfig {
        seed: 42,
        start_scn: START,
        end_scn: Some(end),
        threads,
        faults,
        ..SimConfig::default()
    }
}

fn options(out: &Path) -> PipelineOptions {
    let mut c = Config::default();
    c.output.dir = out.to_path_buf();
    c.output.fsync = false;
    c.output.max_file_bytes = 256 * 1024;
    let mut o = PipelineOptions::from_config(&c, Pacing::Unpaced);
    o.retry = RetryPolicy {
        retries: 8,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    o.checkpoint_interval = Duration::from_millis(5);
    o.start_scn = Scn(START);
    o.txn.memory_limit_bytes = 64 * 1024; // long transactions spill
    o
}

/// The finished output equals what the simulated database committed up to the last
/// checkpoint: lost 0, duplicated 0, wrong 0, in commit order — and that is everything the
/// database committed through `end`.
fn assert_exact(out: &Path, sim: &SimConfig, missing: &str, end: u64) {
    let report = redoflow::truth::compare_with_sim(out, sim, missing).unwrap();
    assert!(report.is_exact(), "{report}");
    let all = SimSource::new(sim.clone()).unwrap().truth(Scn(end));
    let all_rows: usize = all.iter().map(|t| t.changes.len()).sum();
    assert_eq!(report.expected_transactions, all.len() as u64, "{report}");
    assert_eq!(report.expected_rows, all_rows as u64, "{report}");
    assert_eq!(report.rows, report.expected_rows, "{report}");
}

#[test]
fn faults_on_output_equals_ground_truth() {
    faults_on_output_equals_ground_truth_for(SimCatalog::Mixed, WriterThread::Separate, false);
}

/// The benchmark's tables (one 10-column table, mostly plain values) through the same check,
/// with mining and writing on one thread (what a one-core machine gets), and fsync on: files
/// rolling every 16 KiB are synced on helper threads while rows go on, and each checkpoint
/// waits for them.
#[test]
fn ten_column_catalog_on_one_thread_with_fsync_output_equals_ground_truth() {
    faults_on_output_equals_ground_truth_for(SimCatalog::TenColumns, WriterThread::Same, true);
}

fn faults_on_output_equals_ground_truth_for(
    catalog: SimCatalog,
    writer_thread: WriterThread,
    fsync: bool,
) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 60_000;
    let faults = SimFaults {
        drop_connection_every: Some(9),
        slow_fetch_every: Some(5),
        slow_fetch_ms: 1,
        log_switch_race: true,
        ..SimFaults::default()
    };
    let mut config = sim(end, faults, 2);
    config.log_switch_scns = 5_000;
    config.catalog = catalog;
    let mut source = SimSource::new(config).unwrap();
    let mut opts = options(&out);
    opts.writer_thread = writer_thread;
    // Files roll within a checkpoint's rows (a few hundred at least: a piece of the window)
    // whatever the machine's speed, so rolling and its syncs are exercised.
    opts.sink.max_file_bytes = 16 * 1024;
    if fsync {
        opts.sink.fsync = true;
        // A device flush per checkpoint: fewer checkpoints than the 5 ms of the others, still
        // several in a run of about 150 ms.
        opts.checkpoint_interval = Duration::from_millis(20);
    }
    let summary = common::run_in(&out, &opts, &mut source, &Progress::default()).unwrap();
    assert!(summary.checkpoints > 3, "{summary:?}");
    assert!(summary.transactions > 500, "{summary:?}");
    let mut clean = sim(end, SimFaults::default(), 2);
    clean.catalog = catalog;
    assert_exact(&out, &clean, &opts.sink.missing_marker, end);
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
    // Files rolled between checkpoints too (sequence 1 and up within one checkpoint), so
    // their syncs ran while rows went on.
    let rolled = common::table_files(&out)
        .values()
        .flatten()
        .filter(|f| !f.to_string_lossy().ends_with("-000000.csv"))
        .count();
    assert!(rolled > 0, "no file rolled at max_file_bytes");
}

/// The node stops (shutdown) several times part-way and starts again from its last checkpoint,
/// with open and spilled transactions at the checkpoints: still exactly the truth.
#[test]
fn restarts_from_checkpoints_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 80_000;
    let mut opts = options(&out);
    let mut runs = 0;
    let mut seen = Scn(START);
    loop {
        runs += 1;
        assert!(runs < 50, "did not finish");
        let shutdown = StopToken::new();
        // Stop this run once it has read a few thousand rows: the stop comes from the source
        // itself, so the number of restarts does not depend on how busy the machine is.
        // The source asks for the shutdown once it has handed out 3000 rows past `seen` (the
        // highest SCN an earlier run read), so every run gets further than the last.
        let mut rows_left = 3_000usize;
        let stop = shutdown.clone();
        let mut source = Tap::new(
            SimSource::new(sim(end, SimFaults::default(), 1)).unwrap(),
            |inner: &mut SimSource, read, end, out: &mut Vec<RedoRow>, _| {
                let before = out.len();
                inner.fetch(read, end, out)?;
                let new = out[before..].iter().filter(|r| r.scn > seen).count();
                seen = seen.max(end);
                rows_left = rows_left.saturating_sub(new);
                if rows_left == 0 && !inner.is_finished() {
                    stop.stop();
                }
                Ok(end)
            },
        );
        // Runs alternate between one thread and two: either resumes what the other left.
        opts.writer_thread = if runs % 2 == 0 {
            WriterThread::Same
        } else {
            WriterThread::Separate
        };
        let mut store = LocalStore::open(&out.join("_state")).unwrap();
        run_pipeline(
            &opts,
            Term(0),
            &mut source,
            &mut store,
            &shutdown,
            &Progress::default(),
        )
        .unwrap();
        drop(source);
        // Not stopped by us: the source reached its end.
        let finished = !shutdown.is_stopping();
        if finished {
            break;
        }
    }
    assert!(runs > 3, "only {runs} runs: the test did not restart");
    assert_exact(
        &out,
        &sim(end, SimFaults::default(), 1),
        &opts.sink.missing_marker,
        end,
    );
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

#[test]
fn sim_source_conforms() {
    let config = sim(START + 30_000, SimFaults::default(), 2);
    check_source(
        || SimSource::new(config.clone()).unwrap(),
        Scn(START),
        Scn(START + 30_000),
    )
    .unwrap();
}

#[test]
fn sim_faults_are_classified_and_recovered() {
    let end = START + 20_000;
    let mut clean_config = sim(end, SimFaults::default(), 1);
    clean_config.log_switch_scns = 3_000;
    let clean = read_range(
        &mut SimSource::new(clean_config).unwrap(),
        Scn(START),
        Scn(end),
        &[700],
    )
    .unwrap();
    let faults = SimFaults {
        drop_connection_every: Some(4),
        log_switch_race: true,
        ..SimFaults::default()
    };
    let mut config = sim(end, faults, 1);
    config.log_switch_scns = 3_000;
    let mut faulty = SimSource::new(config).unwrap();
    let recovered = check_faults(&mut faulty, &clean, Scn(START), Scn(end), 700, 10).unwrap();
    assert!(recovered > 3, "{recovered} faults");
}
