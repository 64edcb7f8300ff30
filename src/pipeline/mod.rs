//! One node's pipeline: the miner ([`miner`]) drives a [`LogSource`] with the planner and feeds
//! the transaction buffer; committed transactions cross a bounded channel (back-pressure,
//! bounded memory) to the writer ([`writer`]), which turns each change into its CSV line once
//! (straight from SQL_REDO when the statement is in LogMiner's exact layout, through the parser
//! otherwise), writes it to the CSV sink and runs the two-phase checkpoint: prepare (flush +
//! fsync) → commit in the [`CheckpointStore`] → finish (rename + manifest).
//!
//! Checkpoint barriers travel in the same channel as the transactions, so a checkpoint covers
//! exactly the transactions sent before it, in source order.
//!
//! With one usable core (`mining.writer_thread = "auto"`, or `"same"`) there is no channel:
//! the miner hands each message straight to the writer on its own thread, in the same order,
//! so the checkpoint rules are the same and nothing crosses threads.
//!
//! A run belongs to one leader term ([`run_pipeline`]'s `term`: 0 for a single node): the term
//! is in every checkpoint and in-progress file name it writes. It stops when the source is
//! finished, gracefully (final checkpoint) or at once (abort: nothing more is prepared,
//! committed or renamed) as its [`StopToken`] says. The other parts: [`resilient`] (session
//! and retry rules around the source), [`progress`] (live counters).

mod miner;
mod progress;
mod resilient;
mod writer;

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};
use redoflow_checkpoint::{CheckpointId, CheckpointStore, Offset, Scn, StoreError, Term, Xid};
use redoflow_miner::planner::PlannerConfig;
use redoflow_miner::txn::{CommittedTxn, TxnBufferConfig, TxnError, TxnStats};
use redoflow_miner::{LogSource, SourceError, StartAt, TableSchema};
use redoflow_sink_csv::{self as sink, SinkConfig, SinkError};

pub use progress::{
    add_counts, CheckpointTiming, DurationHistogram, HistogramSnapshot, Progress, RoundStats,
    StageTimes, TableCounts, DURATION_BUCKETS, OPS,
};

use crate::config::{Config, OnParseError, WriterThread};
use crate::stop::StopToken;
use miner::{Mined, Miner};
use writer::Writer;

/// How the miner paces its rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// A live database: sleep between rounds as the planner says.
    Live,
    /// A recorded export or a benchmark: everything is already there, never sleep.
    Unpaced,
}

/// Everything the pipeline needs besides the source, the store and the run's term.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub sink: SinkConfig,
    pub on_parse_error: OnParseError,
    pub checkpoint_interval: Duration,
    pub planner: PlannerConfig,
    pub pacing: Pacing,
    /// Mining starts after this SCN when the store has no checkpoint (`mining.start_scn`; 0:
    /// where `start` says).
    pub start_scn: Scn,
    /// Where mining starts when the store has no checkpoint and `start_scn` is 0
    /// (`mining.start`): the source answers ([`LogSource::first_offset`]).
    pub start: StartAt,
    /// Batches of transactions in flight between miner and writer.
    pub channel_batches: usize,
    /// Whether the writer gets its own thread.
    pub writer_thread: WriterThread,
    /// Retries of a retryable source error before the run stops (SPEC.md §9).
    pub retry: RetryPolicy,
    /// A mining session is replaced after this long (`None`: only on log switches and errors).
    pub session_max: Option<Duration>,
    /// Memory bound, spill directory and retention of open transactions.
    pub txn: TxnBufferConfig,
}

/// Backoff for retryable source errors: `initial_delay` doubling up to `max_delay`, at most
/// `retries` times in a row (a successful round resets the count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 20,
            initial_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

impl PipelineOptions {
    pub fn from_config(config: &Config, pacing: Pacing) -> PipelineOptions {
        PipelineOptions {
            sink: SinkConfig {
                root: config.output.dir.clone(),
                max_file_bytes: config.output.max_file_bytes,
                missing_marker: config.output.missing_marker.clone(),
                fsync: config.output.fsync,
            },
            on_parse_error: config.output.on_parse_error,
            checkpoint_interval: config.checkpoint.interval,
            planner: config.mining.planner(),
            pacing,
            start_scn: Scn(config.mining.start_scn),
            start: config.mining.start,
            channel_batches: 16,
            writer_thread: config.mining.writer_thread,
            retry: RetryPolicy {
                retries: config.mining.retries,
                initial_delay: config.mining.retry_delay_min,
                max_delay: config.mining.retry_delay_max,
            },
            session_max: Some(config.mining.session_max).filter(|d| !d.is_zero()),
            txn: TxnBufferConfig {
                memory_limit_bytes: usize::try_from(config.mining.transaction_memory)
                    .unwrap_or(usize::MAX),
                spill_dir: config.state_dir().join("spill"),
                retention: config.mining.transaction_retention,
                drop_expired: config.mining.drop_expired_transactions,
            },
        }
    }
}

/// What a finished run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub rows_read: u64,
    pub transactions: u64,
    pub changes_written: u64,
    pub rejected: u64,
    pub skipped_already_written: u64,
    pub rolled_back: u64,
    /// Rows with an OPERATION_CODE the engine does not know (each one warned about; those of
    /// committed transactions on a table are also stopped at or dead-lettered).
    pub unknown_operations: u64,
    /// LOB and SELECT FOR UPDATE rows, which carry nothing the CSV output holds.
    pub ignored_operations: u64,
    pub open_at_end: u64,
    /// Tables the source had no definition of (absent from the columns file): their columns
    /// were taken from their statements, in the order the first one named them.
    pub derived_tables: Vec<String>,
    /// Committed transactions whose changes had spilled to disk.
    pub spilled_transactions: u64,
    /// Open transactions reported for exceeding the retention.
    pub expired_reported: u64,
    pub checkpoints: u64,
    pub last_checkpoint: Option<CheckpointId>,
    pub offset: Offset,
    pub elapsed: Duration,
    /// The transaction buffer's counters at the end (OPERATION_CODE 255 rows per table,
    /// undecodable, temporary-table and internal DDL rows among them).
    pub mining: TxnStats,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Txn(#[from] TxnError),
    #[error("cannot parse SQL_REDO at SCN {scn}, XID {xid}, table {table}{line}, position {position}: {kind}\n  {snippet}")]
    Parse {
        scn: Scn,
        xid: Xid,
        table: String,
        line: LineRef,
        position: usize,
        kind: String,
        snippet: String,
    },
    #[error("unknown OPERATION_CODE {code} at SCN {scn}, XID {xid}, table {table}{line}, in a committed transaction: the row may carry data the engine cannot write (output.on_parse_error = \"dead-letter\" writes it to _rejected/ and goes on)\n  {sql_redo}")]
    UnknownOperation {
        code: u16,
        scn: Scn,
        xid: Xid,
        table: String,
        line: LineRef,
        /// The start of its SQL_REDO.
        sql_redo: String,
    },
    #[error("table {table} has no column {column:?} in its definition (the columns file, or the database's dictionary), but its redo at SCN {scn}, XID {xid}{line} names it and no DDL on the table came before: the definition is incomplete or out of date; export the table's columns again (output.on_parse_error = \"dead-letter\" writes such rows to _rejected/ and goes on)")]
    ColumnMissing {
        column: String,
        scn: Scn,
        xid: Xid,
        table: String,
        line: LineRef,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output root or the state dir is locked by another process.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// The alert settings cannot be used (a mail password's variable is missing).
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
    #[error("the miner thread stopped unexpectedly")]
    MinerLost,
    #[error("giving up after {attempts} attempts at SCN {scn}: {last}")]
    GaveUp {
        attempts: u32,
        scn: Scn,
        last: SourceError,
    },
    /// The run was aborted ([`StopToken::abort`]): it stopped without a final checkpoint.
    #[error("the run was aborted: nothing after the last committed checkpoint was finished")]
    Aborted,
}

/// ", export line N" when the change came from a file, nothing otherwise.
#[derive(Clone, Copy, Debug)]
pub struct LineRef(pub u64);

impl std::fmt::Display for LineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 > 0 {
            write!(f, ", export line {}", self.0)
        } else {
            Ok(())
        }
    }
}

/// What the miner sends the writer.
enum Msg {
    /// The source's definition of a table, sent before its first change.
    Schema(TableSchema),
    Txns(Vec<CommittedTxn>),
    /// Everything before this is covered by a checkpoint at `Offset`.
    Checkpoint(Offset),
}

/// Runs the pipeline in leader term `term` until the source is finished (replay) or `stop`
/// asks for it: a graceful stop ends with a final checkpoint, an abort with
/// [`PipelineError::Aborted`] and nothing more finished. Resumes from the store's last
/// checkpoint and first recovers the output root (finishes that checkpoint's files, deletes
/// in-progress files of this and older terms that no committed checkpoint lists).
pub fn run_pipeline<S: LogSource + ?Sized>(
    opts: &PipelineOptions,
    term: Term,
    source: &mut S,
    store: &mut dyn CheckpointStore,
    stop: &StopToken,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let started = Instant::now();
    // An abort breaks a source call in progress (a long LogMiner query) at once.
    let _interrupt = source.interrupter().map(|i| stop.on_abort(i));
    let last = store.last()?;
    if stop.is_aborted() {
        return Err(PipelineError::Aborted);
    }
    let report = sink::recover(&opts.sink.root, last.as_ref(), term, opts.sink.fsync)?;
    tracing::info!(?report, "output recovered");
    let restart = match &last {
        Some(cp) => {
            tracing::info!(checkpoint = %cp.id, resume_scn = %cp.offset.resume_scn, "resuming from checkpoint");
            cp.offset.clone()
        }
        None if opts.start_scn > Scn::ZERO => Offset::starting_after(opts.start_scn),
        None => source.first_offset(opts.start)?,
    };
    let next_id = last.as_ref().map_or(CheckpointId(1), |c| c.id.next());
    let mut writer = Writer::new(opts, term, stop, next_id, last.map(|c| c.offset), progress)?;

    let separate = match opts.writer_thread {
        WriterThread::Separate => true,
        WriterThread::Same => false,
        WriterThread::Auto => thread::available_parallelism().is_ok_and(|n| n.get() > 1),
    };
    tracing::debug!(separate, "writer thread");
    progress
        .writer_on_mining_thread
        .store(!separate, Ordering::Relaxed);
    let miner = Miner::new(opts, source, restart, stop, progress);
    let mined = if separate {
        mine_and_write(miner, &mut writer, store)
    } else {
        miner.run(&mut Outbox::Inline {
            writer: &mut writer,
            store,
            dirty: false,
        })
    }?;
    Ok(Summary {
        rows_read: progress.rows_read.load(Ordering::Relaxed),
        transactions: progress.transactions.load(Ordering::Relaxed),
        changes_written: progress.changes_written.load(Ordering::Relaxed),
        rejected: progress.rejected.load(Ordering::Relaxed),
        skipped_already_written: mined.skipped,
        rolled_back: mined.rolled_back,
        unknown_operations: mined.unknown_operations,
        ignored_operations: mined.ignored_operations,
        open_at_end: mined.open_at_end,
        derived_tables: writer.derived.iter().map(|t| t.to_string()).collect(),
        spilled_transactions: mined.spilled,
        expired_reported: mined.expired,
        checkpoints: writer.checkpoints,
        last_checkpoint: writer
            .next_id
            .0
            .checked_sub(1)
            .filter(|id| *id > 0)
            .map(CheckpointId),
        offset: writer.last_offset.unwrap_or_default(),
        elapsed: started.elapsed(),
        mining: mined.stats,
    })
}

/// The miner on its own thread, the writer on this one, a bounded channel between them.
fn mine_and_write<S: LogSource + ?Sized>(
    miner: Miner<'_, S>,
    writer: &mut Writer<'_>,
    store: &mut dyn CheckpointStore,
) -> Result<Mined, PipelineError> {
    let (tx, rx) = bounded::<Msg>(miner.channel_batches());
    thread::scope(|scope| {
        let miner = thread::Builder::new()
            .name("redoflow-miner".into())
            .spawn_scoped(scope, move || miner.run(&mut Outbox::Channel(tx)));
        let miner = match miner {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the miner thread");
                return Err(PipelineError::MinerLost);
            }
        };
        let written = writer.run(&rx, store);
        // On a writer error, dropping the receiver makes the miner's next send fail and stop.
        drop(rx);
        let mined = miner.join().map_err(|_| PipelineError::MinerLost)?;
        match (written, mined) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(()), Ok(m)) => Ok(m),
        }
    })
}

/// Where the miner hands its messages: the writer thread's channel, or the writer itself when
/// one thread does both.
enum Outbox<'w, 'p> {
    Channel(Sender<Msg>),
    Inline {
        writer: &'w mut Writer<'p>,
        store: &'w mut dyn CheckpointStore,
        /// Rows written since the last checkpoint.
        dirty: bool,
    },
}

impl Outbox<'_, '_> {
    fn send(&mut self, msg: Msg) -> Result<(), PipelineError> {
        match self {
            // The writer is gone (it failed): stop quietly, its error is the one reported.
            Outbox::Channel(tx) => tx.send(msg).map_err(|_| PipelineError::MinerLost),
            Outbox::Inline {
                writer,
                store,
                dirty,
            } => writer.handle(msg, &mut **store, dirty),
        }
    }
}
