//! The whole pipeline meets what a real Oracle database prints besides data (issue 14): the
//! simulator switched to add STATUS = 2 rows, `UNKNOWN`.`OBJ# n` rows, temporary-table rows and
//! OPERATION_CODE 255 rows, and to close a RAC instance for a while. The CSV output must still
//! be exactly the truth, nothing of the odd rows may become data, tables or columns, and each
//! kind must be counted or dead-lettered as `on_parse_error` says.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redoflow::checkpoint::Scn;
use redoflow::config::OnParseError;
use redoflow::miner::sim::{ClosedThread, SimConfig, SimSource};
use redoflow::miner::txn::ChangeOp;
use redoflow::miner::{LogSource, RedoRow};
use redoflow::pipeline::RetryPolicy;
use redoflow::{Config, Pacing, PipelineOptions, Progress};

const START: u64 = 1_000_000;

fn options(out: &Path, on_parse_error: OnParseError) -> PipelineOptions {
    let mut c = Config::default();
    c.output.dir = out.to_path_buf();
    c.output.fsync = false;
    c.output.on_parse_error = on_parse_error;
    let mut o = PipelineOptions::from_config(&c, Pacing::Unpaced);
    o.retry = RetryPolicy {
        retries: 8,
        initial_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    o.checkpoint_interval = Duration::from_millis(5);
    o.start_scn = Scn(START);
    o
}

/// A simulated RAC database with every odd row shape switched on.
fn odd_sim(end: u64) -> SimConfig {
    let mut c = SimConfig {
        seed: 5,
        start_scn: START,
        end_scn: Some(end),
        threads: 3,
        log_switch_scns: 7_000,
        ..SimConfig::default()
    };
    c.workload.undecodable_percent = 0.5;
    c.workload.unknown_object_percent = 0.5;
    c.workload.temporary_table_percent = 0.5;
    c.workload.unsupported_percent = 0.5;
    c.workload.closed_thread = Some(ClosedThread {
        thread: 2,
        from_scn: START + 10_000,
        to_scn: START + 25_000,
    });
    c
}

/// Table directory → data rows (header skipped), in file order.
fn read_output(root: &Path) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut tables = BTreeMap::new();
    for (name, files) in common::table_files(root) {
        let mut rows = Vec::new();
        for f in files {
            let mut r = csv::Reader::from_path(&f).unwrap();
            for rec in r.records() {
                rows.push(rec.unwrap().iter().map(str::to_string).collect::<Vec<_>>());
            }
        }
        tables.insert(name, rows);
    }
    tables
}

/// The CSV rows the truth says must exist.
fn expected(source: &SimSource, through: Scn, missing: &str) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut tables: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for txn in source.truth(through) {
        for c in &txn.changes {
            let op = match c.op {
                ChangeOp::Insert => "I",
                ChangeOp::Update => "U",
                ChangeOp::Delete => "D",
                _ => continue,
            };
            let mut row = vec![
                op.to_string(),
                c.scn.to_string(),
                txn.commit_scn.to_string(),
                txn.commit_ts.iso().to_string(),
                txn.xid.to_string(),
            ];
            row.extend(
                c.fields
                    .iter()
                    .map(|f| f.clone().unwrap_or_else(|| missing.to_string())),
            );
            tables.entry(c.table.to_string()).or_default().push(row);
        }
    }
    tables
}

/// The odd rows of committed transactions, as the writer meets them: (undecodable,
/// unsupported), counted by running the rows through a transaction buffer.
fn odd_changes_committed(config: &SimConfig, end: u64) -> (u64, u64) {
    let mut src = SimSource::new(config.clone()).unwrap();
    let mut rows = Vec::new();
    src.start_session(Scn(START)).unwrap();
    src.fetch(Scn(START), Scn(end), &mut rows).unwrap();
    let mut buf =
        redoflow::miner::TxnBuffer::new(redoflow::checkpoint::Offset::starting_after(Scn(START)));
    let (mut undecodable, mut unsupported) = (0, 0);
    for r in rows {
        if let Some(t) = buf.push(r).unwrap() {
            for c in &t.changes {
                undecodable += u64::from(c.op == ChangeOp::Undecodable);
                unsupported += u64::from(c.op == ChangeOp::Unsupported);
            }
        }
    }
    (undecodable, unsupported)
}

/// Under `on_parse_error = "dead-letter"`: every undecodable and unsupported change of a
/// committed transaction goes to `_rejected/` (SPEC.md §2), temporary-table rows are skipped
/// and counted, no `UNKNOWN.OBJ# n` directory or `COL n` column appears, and the data is the
/// truth, lost 0, duplicated 0 — across a RAC instance that closed and reopened (DBZ-8162).
#[test]
fn odd_rows_are_dead_lettered_and_the_data_is_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 40_000;
    let config = odd_sim(end);
    let mut source = SimSource::new(config.clone()).unwrap();
    let opts = options(&out, OnParseError::DeadLetter);
    let summary = common::run_in(&out, &opts, &mut source, &Progress::default()).unwrap();
    let (undecodable, unsupported) = odd_changes_committed(&config, end);
    assert!(
        undecodable > 10 && unsupported > 5,
        "{undecodable} {unsupported}"
    );
    assert_eq!(summary.rejected, undecodable + unsupported, "{summary:?}");
    let m = &summary.mining;
    assert!(m.temporary_skipped > 5, "{m:?}");
    assert!(m.undecodable >= undecodable, "{m:?}");
    assert_eq!(m.unsupported_by_table.values().sum::<u64>(), m.unsupported);

    let got = read_output(&out);
    assert!(
        got.keys().all(|t| t.starts_with("SIM.")),
        "only the simulator's tables: {:?}",
        got.keys().collect::<Vec<_>>()
    );
    // The truth of the same database: its odd rows are not data, so not in it.
    let want = expected(
        &SimSource::new(config.clone()).unwrap(),
        Scn(end),
        &opts.sink.missing_marker,
    );
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &want {
        assert_eq!(
            got[table].len(),
            rows.len(),
            "{table}: lost or duplicated rows"
        );
        for (i, (g, w)) in got[table].iter().zip(rows).enumerate() {
            assert_eq!(g, w, "{table} row {i}");
        }
    }
    for files in common::table_files(&out).values() {
        for f in files {
            let header = std::fs::read_to_string(f).unwrap();
            assert!(!header.lines().next().unwrap().contains("COL 1"), "{f:?}");
        }
    }
    // The dead letters name the reason.
    let rejected = std::fs::read_dir(out.join("_rejected"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<String>();
    assert!(rejected.contains("STATUS = 2"), "{rejected}");
    assert!(rejected.contains("OBJ# 9000"), "{rejected}");
    assert!(rejected.contains("OPERATION_CODE 255"), "{rejected}");
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

/// Under the default `on_parse_error = "stop"`, the first undecodable change of a committed
/// transaction stops the run with an error naming SCN, XID, table and LogMiner's STATUS and
/// INFO (it used to be written as data into made-up `COL n` columns).
#[test]
fn an_undecodable_row_stops_the_run_with_what_to_look_at() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 20_000;
    let mut config = odd_sim(end);
    config.workload.unknown_object_percent = 0.0;
    config.workload.unsupported_percent = 0.0;
    let mut source = SimSource::new(config).unwrap();
    let opts = options(&out, OnParseError::Stop);
    let e = common::run_in(&out, &opts, &mut source, &Progress::default())
        .unwrap_err()
        .to_string();
    for part in [
        "SCN ",
        "XID ",
        "table SIM.",
        "STATUS = 2",
        "Dictionary Mismatch",
    ] {
        assert!(e.contains(part), "{part:?} missing from: {e}");
    }
}

/// OPERATION_CODE 255 alone keeps the default "skip" under `stop` (a table with a column type
/// LogMiner cannot render must not stop the pipeline), but is counted per table in the summary
/// and in the live counters, never only a log line (DBZ-5351 only warns).
#[test]
fn unsupported_rows_are_skipped_and_counted_per_table_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 20_000;
    let mut config = odd_sim(end);
    config.workload.undecodable_percent = 0.0;
    config.workload.unknown_object_percent = 0.0;
    let mut source = SimSource::new(config).unwrap();
    let opts = options(&out, OnParseError::Stop);
    let progress = Progress::default();
    let summary = common::run_in(&out, &opts, &mut source, &progress).unwrap();
    assert_eq!(summary.rejected, 0);
    let by_table = &summary.mining.unsupported_by_table;
    // The simulator's unsupported rows are all on its first table.
    assert_eq!(
        by_table.keys().collect::<Vec<_>>(),
        ["SIM.CUSTOMERS"],
        "{by_table:?}"
    );
    assert!(by_table["SIM.CUSTOMERS"] > 5);
    assert_eq!(progress.txn_stats().unsupported_by_table, *by_table);
}

/// The runtime starts every LogMiner session at the restart offset's resume SCN, one before
/// the oldest open transaction's first change, not at its read position: LogMiner started inside
/// an open transaction reports its changes as UNSUPPORTED (DBZ-8747). Sessions are renewed at
/// every log switch here, with long transactions open across them.
#[test]
fn sessions_start_before_the_oldest_open_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 60_000;
    let mut config = SimConfig {
        seed: 9,
        start_scn: START,
        end_scn: Some(end),
        log_switch_scns: 3_000,
        ..SimConfig::default()
    };
    config.workload.long_transaction_percent = 5.0;
    let starts: Arc<Mutex<Vec<Scn>>> = Arc::default();
    let reads: Arc<Mutex<Vec<Scn>>> = Arc::default();
    let (s, r) = (starts.clone(), reads.clone());
    let mut source = Recording {
        inner: SimSource::new(config).unwrap(),
        starts: s,
        reads: r,
    };
    let opts = options(&out, OnParseError::Stop);
    common::run_in(&out, &opts, &mut source, &Progress::default()).unwrap();
    let starts = starts.lock().unwrap().clone();
    let reads = reads.lock().unwrap().clone();
    assert!(starts.len() > 5, "{starts:?}");
    // Renewed sessions (after the first) start before the window they serve whenever a
    // transaction is open across the renewal, and never after it.
    let first_reads: Vec<Scn> = starts
        .iter()
        .map(|s| *reads.iter().find(|r| *r >= s).unwrap_or(s))
        .collect();
    assert!(starts.iter().zip(&first_reads).all(|(s, r)| s <= r));
    let behind = starts
        .iter()
        .zip(&first_reads)
        .skip(1)
        .filter(|(s, r)| s < r)
        .count();
    assert!(behind > 0, "sessions: {starts:?}");
}

/// A source that records where sessions start and windows begin.
struct Recording<S> {
    inner: S,
    starts: Arc<Mutex<Vec<Scn>>>,
    reads: Arc<Mutex<Vec<Scn>>>,
}

impl<S: LogSource> LogSource for Recording<S> {
    fn first_offset(
        &mut self,
        start: redoflow::miner::StartAt,
    ) -> Result<redoflow::checkpoint::Offset, redoflow::miner::SourceError> {
        self.inner.first_offset(start)
    }
    fn current_scn(&mut self) -> Result<Scn, redoflow::miner::SourceError> {
        self.inner.current_scn()
    }
    fn start_session(&mut self, resume_scn: Scn) -> Result<(), redoflow::miner::SourceError> {
        self.starts.lock().unwrap().push(resume_scn);
        self.inner.start_session(resume_scn)
    }
    fn fetch(
        &mut self,
        read: Scn,
        end: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), redoflow::miner::SourceError> {
        self.reads.lock().unwrap().push(read);
        self.inner.fetch(read, end, out)
    }
    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<redoflow::miner::TableSchema>, redoflow::miner::SourceError> {
        self.inner.table_schema(owner, table)
    }
    fn session_stale(&mut self) -> Result<bool, redoflow::miner::SourceError> {
        self.inner.session_stale()
    }
    fn fetch_is_cheap(&self) -> bool {
        self.inner.fetch_is_cheap()
    }
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// A first start with no `start_scn` asks the source (`mining.start = "current"` by default):
/// a replay export starts at its first SCN, not at 0, and writes every transaction of it.
#[test]
fn a_first_replay_start_is_the_exports_first_scn() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let contents =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/miner/testdata/fidelity/contents.csv");
    let columns =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/miner/testdata/fidelity/columns.csv");
    let reads: Arc<Mutex<Vec<Scn>>> = Arc::default();
    let mut source = Recording {
        inner: redoflow::miner::ReplaySource::open(&contents, Some(&columns)).unwrap(),
        starts: Arc::default(),
        reads: reads.clone(),
    };
    let mut opts = options(&out, OnParseError::DeadLetter);
    opts.start_scn = Scn::ZERO;
    opts.pacing = Pacing::Unpaced;
    let progress = Progress::default();
    let summary = common::run_in(&out, &opts, &mut source, &progress).unwrap();
    assert_eq!(summary.transactions, 1);
    // Two undecodable rows and one unsupported one, dead-lettered; the temporary-table row and
    // the internal DDL skipped; the insert and the LONG update written.
    assert_eq!(summary.rejected, 3, "{summary:?}");
    // Only rows written count as changes written (the dead-lettered ones count as rejected).
    assert_eq!(summary.changes_written, 2);
    let got = read_output(&out);
    let rows = &got["DEMO1.TEST"];
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][..2], ["I".to_string(), "5012".to_string()]);
    assert_eq!(rows[1][..2], ["U".to_string(), "5017".to_string()]);
    // The first window started at the export's first SCN: none before it.
    assert_eq!(reads.lock().unwrap().first(), Some(&Scn(4999)));
}
