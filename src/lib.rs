//! redoflow: Oracle change-data-capture from LogMiner redo to exactly-once per-table CSV files.
//!
//! The workspace, bottom up:
//! - `redoflow-checkpoint`: positions (`Scn`, `Xid`), the restart `Offset` and its skip rule,
//!   `Checkpoint`s, their ids and terms, the `CheckpointStore` seam and the versioned codec.
//! - `redoflow-miner`: the `LogSource` seam and its sources, the SQL_REDO parser, the
//!   transaction buffer and the adaptive planner.
//! - `redoflow-sink-csv`: the rolling CSV writer with two-phase commit, recovery and `verify`.
//! - this crate: node wiring — [`config`], the [`pipeline`] (miner thread → bounded channel →
//!   writer with checkpoints), the single node's [`store`], the [`stop`] token, the
//!   [`truth`] check of a simulator run's output, the [`lock`] that keeps a second process
//!   off a directory, the health checks ([`health`]: the pure stall detector and alert rules;
//!   [`watch`]: their runtime; [`alerts`]: webhook and mail delivery), and the entry points the
//!   binary and embedders call ([`replay`], [`run`], [`run_watched`], [`run_node`]).

pub mod alerts;
pub mod config;
pub mod demo;
pub mod failpoint;
pub mod health;
pub mod http;
pub mod lock;
pub mod metrics;
pub mod node;
pub mod pipeline;
pub mod source;
pub mod status;
pub mod stop;
pub mod store;
pub mod telemetry;
pub mod truth;
pub mod units;
pub mod watch;

use std::path::Path;

pub use config::Config;
pub use lock::{DirLock, LockError};
pub use pipeline::{Pacing, PipelineError, PipelineOptions, Progress, Summary};
pub use redoflow_checkpoint as checkpoint;
pub use redoflow_miner as miner;
pub use redoflow_raft as raft;
pub use redoflow_sink_csv as sink_csv;
pub use stop::StopToken;
pub use store::{CheckpointStore, LocalStore};

use config::SourceKind;
use redoflow_checkpoint::Term;
use redoflow_miner::{LogSource, ReplaySource};

/// Runs one node on `source` with a local checkpoint store until `stop` asks for it (or the
/// source is finished), then takes a final checkpoint (none after an abort). A single node
/// runs in term 0. This is what `redoflow run` and `redoflow replay` call.
///
/// Before touching anything it locks the output root and the state dir ([`lock_single_node`]):
/// a second process on either stops at once with [`PipelineError::Lock`] naming the holder.
pub fn run<S: LogSource + ?Sized>(
    config: &Config,
    source: &mut S,
    pacing: Pacing,
    stop: &StopToken,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let _locks = lock_single_node(config)?;
    let opts = PipelineOptions::from_config(config, pacing);
    let mut store = LocalStore::open(&config.state_dir())?;
    pipeline::run_pipeline(&opts, Term(0), source, &mut store, stop, progress)
}

/// [`run`] under the health checks (`redoflow run`): alerts go to the log, `alerts` (what
/// `/status` lists) and the configured webhooks and mail; a stalled run is aborted and started
/// again from the last checkpoint, at most `health.max_restarts` times per
/// `health.restart_window` (a single node has no one to step down for). A run that fails
/// raises its alert and ends this call with its error, as [`run`] does.
pub fn run_watched<S: LogSource + ?Sized>(
    config: &Config,
    source: &mut S,
    pacing: Pacing,
    stop: &StopToken,
    progress: &Progress,
    alerts: &std::sync::Mutex<Vec<status::AlertStatus>>,
) -> Result<Summary, PipelineError> {
    let _locks = lock_single_node(config)?;
    let opts = PipelineOptions::from_config(config, pacing);
    let mut store = LocalStore::open(&config.state_dir())?;
    let mut watch = watch::Watch::new(config, 0, false)?;
    let mut runs = 0u64;
    let result = loop {
        runs += 1;
        let run_stop = StopToken::new();
        let mut restart = false;
        let ended = std::thread::scope(|scope| {
            let run = std::thread::Builder::new()
                .name("redoflow-run".into())
                .spawn_scoped(scope, || {
                    pipeline::run_pipeline(&opts, Term(0), source, &mut store, &run_stop, progress)
                })
                .map_err(|_| PipelineError::MinerLost)?;
            while !run.is_finished() {
                if stop.is_aborted() {
                    run_stop.abort();
                } else if stop.is_stopping() {
                    run_stop.stop();
                }
                if !stop.is_stopping()
                    && watch.check(alerts, true, Some((runs, progress)), None)
                        == Some(watch::Remedy::RestartSession)
                {
                    restart = true;
                    run_stop.abort();
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            run.join().map_err(|_| PipelineError::MinerLost)?
        });
        match ended {
            Err(PipelineError::Aborted) if restart && !stop.is_stopping() => continue,
            Err(e) => {
                watch.run_failed(&e);
                watch.check(alerts, true, None, None);
                break Err(e);
            }
            Ok(summary) => break Ok(summary),
        }
    };
    watch.close(std::time::Duration::from_secs(5));
    result
}

/// The locks a single-node process holds while it runs: its output root and its state dir (one
/// lock when they are the same directory). A cluster node locks its own state dir only; the
/// shared output is guarded by Raft leadership and the terms in file names.
pub fn lock_single_node(config: &Config) -> Result<Vec<DirLock>, LockError> {
    let program = std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "redoflow".into());
    let command = std::env::args_os()
        .nth(1)
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let who = if command.is_empty() {
        program
    } else {
        format!("{program} {command}")
    };
    let purpose = |what: &str| format!("{who}: {what}");
    let out = DirLock::acquire(&config.output.dir, &purpose("output root"))?;
    let state = config.state_dir();
    let same = match (std::fs::canonicalize(&state), out.dir().canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    let mut locks = vec![out];
    if !same {
        locks.push(DirLock::acquire(&state, &purpose("state dir"))?);
    }
    Ok(locks)
}

/// The whole pipeline on a recorded LogMiner export (SPEC.md §10), single node, to completion.
/// Re-running on the same output resumes from its last checkpoint (nothing is written twice).
pub fn replay(
    config: &Config,
    contents: &Path,
    columns: Option<&Path>,
    stop: &StopToken,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let mut source = ReplaySource::open(contents, columns)?;
    run(config, &mut source, Pacing::Unpaced, stop, progress)
}

/// Runs one node on the source its config names (the simulated Oracle by default), under the
/// health checks ([`run_watched`]), until `stop` asks for it; a replay source stops by itself
/// at the end of its export.
pub fn run_node(
    config: &Config,
    stop: &StopToken,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let (mut source, config, pacing) = configured(config, Pacing::Live)?;
    let alerts = std::sync::Mutex::new(Vec::new());
    run_watched(&config, &mut *source, pacing, stop, progress, &alerts)
}

/// [`run_node`] with the given pacing and without the health checks: `Unpaced` never sleeps
/// once caught up (what `redoflow bench` measures).
pub fn run_node_paced(
    config: &Config,
    pacing: Pacing,
    stop: &StopToken,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let (mut source, config, pacing) = configured(config, pacing)?;
    run(&config, &mut *source, pacing, stop, progress)
}

/// The source a config names, the config as the pipeline takes it for that source, and the
/// pacing: an export without a `rate` is read as fast as possible whatever is asked; a paced
/// replay is a live database and sleeps between rounds like one.
fn configured(
    config: &Config,
    pacing: Pacing,
) -> Result<(Box<dyn LogSource>, Config, Pacing), PipelineError> {
    let source = source::open_source(config, now_unix_ms())?;
    let config = match config.source.kind {
        SourceKind::Sim => config.for_sim(),
        _ => config.clone(),
    };
    let pacing = match (config.source.kind, config.source.replay.rate) {
        (SourceKind::Replay, None) => Pacing::Unpaced,
        _ => pacing,
    };
    Ok((source, config, pacing))
}

/// The log filter when `RUST_LOG` is not set: `level` for everything except openraft's
/// replication, which logs four lines (one at error) for every retry to a peer that is down,
/// for as long as it is down. The transport logs a peer going and coming back
/// instead, once each; `RUST_LOG` set by hand shows everything it names.
pub fn default_log_filter(level: &str) -> String {
    format!(
        "{level},openraft::replication=off,openraft::engine::handler::replication_handler=error"
    )
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
