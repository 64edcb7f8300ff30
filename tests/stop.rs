//! The two ways a run stops: graceful (a final checkpoint) and abort (nothing more prepared,
//! committed or renamed, a blocked source call broken) — what a cluster node that loses
//! leadership needs — and the ground-truth check that every run ends with.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use redoflow::checkpoint::{Checkpoint, CheckpointStore, Scn, StoreError, Term};
use redoflow::miner::source::Interrupt;
use redoflow::miner::{
    LogSource, RedoRow, SimCatalog, SimConfig, SimSource, SourceError, TableSchema,
};
use redoflow::pipeline::run_pipeline;
use redoflow::truth::compare_with_sim;
use redoflow::{Config, LocalStore, Pacing, PipelineError, PipelineOptions, Progress, StopToken};

const START: u64 = 1_000_000;

fn sim(end: u64) -> SimConfig {
    SimConfig {
        seed: 7,
        start_scn: START,
        end_scn: Some(end),
        ..SimConfig::default()
    }
}

fn options(out: &Path) -> PipelineOptions {
    let mut c = Config::default();
    c.output.dir = out.to_path_buf();
    c.output.fsync = false;
    let mut o = PipelineOptions::from_config(&c, Pacing::Unpaced);
    o.checkpoint_interval = Duration::from_millis(5);
    o.start_scn = Scn(START);
    o
}

fn files_ending(root: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in fs::read_dir(root).unwrap().flatten() {
        if d.path().is_dir() {
            for f in fs::read_dir(d.path()).unwrap().flatten() {
                if f.file_name().to_string_lossy().ends_with(suffix) {
                    out.push(f.path());
                }
            }
        }
    }
    out
}

/// A store that aborts the run from inside its `n`-th commit, right after the checkpoint is
/// durable: the moment a node learns it lost leadership just as its checkpoint got through.
struct AbortOnCommit {
    inner: LocalStore,
    stop: StopToken,
    commits_left: u32,
    committed: Vec<Checkpoint>,
}

impl CheckpointStore for AbortOnCommit {
    fn last(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.inner.last()
    }
    fn commit(&mut self, cp: &Checkpoint) -> Result<(), StoreError> {
        self.inner.commit(cp)?;
        self.committed.push(cp.clone());
        self.commits_left -= 1;
        if self.commits_left == 0 {
            self.stop.abort();
        }
        Ok(())
    }
}

/// Aborted between a commit and its rename: the committed checkpoint's files stay in
/// progress (the aborted run renames nothing, writes no manifest, takes no final checkpoint),
/// and the next run — a new leader, term 1 — finishes them and goes on to exactly the truth.
#[test]
fn an_abort_after_commit_renames_nothing_and_the_next_run_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 40_000;
    let stop = StopToken::new();
    let mut store = AbortOnCommit {
        inner: LocalStore::open(&out.join("_state")).unwrap(),
        stop: stop.clone(),
        commits_left: 3,
        committed: Vec::new(),
    };
    let mut source = SimSource::new(sim(end)).unwrap();
    let err = run_pipeline(
        &options(&out),
        Term(0),
        &mut source,
        &mut store,
        &stop,
        &Progress::default(),
    )
    .unwrap_err();
    assert!(matches!(err, PipelineError::Aborted), "{err}");
    assert_eq!(store.committed.len(), 3, "no checkpoint after the abort");
    let third = &store.committed[2];
    assert!(!third.files.is_empty());
    for f in &third.files {
        assert!(
            out.join(&f.inprogress_path).is_file(),
            "{} renamed",
            f.inprogress_path
        );
        assert!(!out.join(&f.final_path).exists());
    }
    let manifest = out.join(format!("_checkpoints/{:010}.json", third.id.0));
    assert!(!manifest.exists(), "the aborted run wrote the manifest");

    let mut store = LocalStore::open(&out.join("_state")).unwrap();
    let mut source = SimSource::new(sim(end)).unwrap();
    run_pipeline(
        &options(&out),
        Term(1),
        &mut source,
        &mut store,
        &StopToken::new(),
        &Progress::default(),
    )
    .unwrap();
    assert!(manifest.exists());
    assert!(files_ending(&out, ".inprogress").is_empty());
    let report = compare_with_sim(&out, &sim(end), "__missing__").unwrap();
    assert!(report.is_exact() && report.expected_rows > 1000, "{report}");
}

/// A source whose fetch blocks (a LogMiner query running for minutes) until interrupted.
struct Blocking {
    inner: SimSource,
    blocked: Arc<(Mutex<bool>, Condvar)>,
    entered: Arc<AtomicBool>,
}

impl LogSource for Blocking {
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        self.inner.current_scn()
    }
    fn start_session(&mut self, resume: Scn) -> Result<(), SourceError> {
        self.inner.start_session(resume)
    }
    fn fetch(&mut self, read: Scn, end: Scn, out: &mut Vec<RedoRow>) -> Result<(), SourceError> {
        self.entered.store(true, Ordering::SeqCst);
        let (lock, cvar) = &*self.blocked;
        let mut blocked = lock.lock().unwrap();
        while *blocked {
            let (guard, timeout) = cvar.wait_timeout(blocked, Duration::from_secs(60)).unwrap();
            blocked = guard;
            assert!(!timeout.timed_out(), "never interrupted");
        }
        let _ = (read, end, out);
        Err(SourceError::Retryable {
            scn: read,
            message: "ORA-01013: user requested cancel of current operation".into(),
        })
    }
    fn table_schema(&mut self, o: &str, t: &str) -> Result<Option<TableSchema>, SourceError> {
        self.inner.table_schema(o, t)
    }
    fn interrupter(&self) -> Option<Interrupt> {
        let blocked = self.blocked.clone();
        Some(Arc::new(move || {
            *blocked.0.lock().unwrap() = false;
            blocked.1.notify_all();
        }))
    }
}

/// An abort breaks a source call in progress through the source's interrupter, and the error
/// it causes is not retried: the run ends with `Aborted`, not after a minute of backoff.
#[test]
fn an_abort_interrupts_a_blocked_fetch_and_does_not_retry() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let entered = Arc::new(AtomicBool::new(false));
    let mut source = Blocking {
        inner: SimSource::new(sim(START + 10_000)).unwrap(),
        blocked: Arc::new((Mutex::new(true), Condvar::new())),
        entered: entered.clone(),
    };
    let stop = StopToken::new();
    let aborter = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !entered.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.abort();
            Instant::now()
        })
    };
    let mut opts = options(&out);
    opts.retry.initial_delay = Duration::from_secs(30);
    let mut store = LocalStore::open(&out.join("_state")).unwrap();
    let err = run_pipeline(
        &opts,
        Term(0),
        &mut source,
        &mut store,
        &stop,
        &Progress::default(),
    )
    .unwrap_err();
    let aborted_at = aborter.join().unwrap();
    assert!(matches!(err, PipelineError::Aborted), "{err}");
    // Not a wall-clock goal: a retry would have waited the 30 s backoff first.
    assert!(aborted_at.elapsed() < Duration::from_secs(20));
    assert!(store.last().unwrap().is_none());
}

/// The ground-truth check fails on every kind of damage: a lost row, a duplicated row, a
/// changed field, and a file of rows no checkpoint covers.
#[test]
fn the_truth_check_counts_lost_duplicated_and_wrong_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = START + 20_000;
    let sim = |end| SimConfig {
        catalog: SimCatalog::TenColumns,
        ..sim(end)
    };
    let mut store = LocalStore::open(&out.join("_state")).unwrap();
    let mut source = SimSource::new(sim(end)).unwrap();
    run_pipeline(
        &options(&out),
        Term(0),
        &mut source,
        &mut store,
        &StopToken::new(),
        &Progress::default(),
    )
    .unwrap();
    let config = sim(end);
    assert_eq!(config.catalog, SimCatalog::TenColumns, "one line per row");
    let check = || compare_with_sim(&out, &config, "__missing__").unwrap();
    let exact = check();
    assert!(exact.is_exact() && exact.rows > 100, "{exact}");

    // One file's records, rewritten damaged (the csv crate quotes as needed).
    let file = files_ending(&out, ".csv")
        .into_iter()
        .find(|f| csv::Reader::from_path(f).unwrap().records().count() > 3)
        .unwrap();
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let header = reader.headers().unwrap().clone();
    let lines: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let rewrite = |records: &[csv::StringRecord]| {
        let mut w = csv::Writer::from_path(&file).unwrap();
        w.write_record(&header).unwrap();
        for r in records {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
    };

    let mut lost = lines.clone();
    lost.remove(1);
    rewrite(&lost);
    let r = check();
    assert_eq!((r.lost, r.duplicated, r.wrong), (1, 0, 0), "{r}");

    let mut duplicated = lines.clone();
    duplicated.insert(1, lines[1].clone());
    rewrite(&duplicated);
    let r = check();
    assert_eq!((r.lost, r.duplicated, r.wrong), (0, 1, 0), "{r}");

    let mut wrong = lines.clone();
    let mut fields: Vec<String> = wrong[1].iter().map(str::to_string).collect();
    fields[5].push('9');
    wrong[1] = csv::StringRecord::from(fields);
    rewrite(&wrong);
    let r = check();
    assert_eq!((r.lost, r.duplicated, r.wrong), (0, 0, 1), "{r}");

    rewrite(&lines);
    assert!(check().is_exact());
    // Rows of a table no committed change touched.
    let stray = out.join("SIM.NOWHERE");
    fs::create_dir_all(&stray).unwrap();
    fs::copy(&file, stray.join("0000000001-000000.csv")).unwrap();
    let r = check();
    assert_eq!(r.wrong, lines.len() as u64, "{r}");
    assert!(!r.is_exact());
}
