//! One node's pipeline: the miner thread drives a [`LogSource`] with the [`Planner`] and feeds a
//! [`TxnBuffer`]; committed transactions cross a bounded channel (back-pressure, bounded memory)
//! to the writer, which turns each change into its CSV line once (straight from SQL_REDO when
//! the statement is in LogMiner's exact layout, through the parser otherwise), writes it to the
//! CSV sink and runs the two-phase checkpoint: prepare (flush + fsync) → commit in the
//! [`CheckpointStore`] → finish (rename + manifest).
//!
//! Checkpoint barriers travel in the same channel as the transactions, so a checkpoint covers
//! exactly the transactions sent before it, in source order.
//!
//! With one usable core (`mining.writer_thread = "auto"`, or `"same"`) there is no channel:
//! the miner hands each message straight to the writer on its own thread, in the same order,
//! so the checkpoint rules are the same and nothing crosses threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{bounded, Receiver, Sender};
use redoflow_checkpoint::{Checkpoint, CheckpointId, Offset, Scn, Term, Xid};
use redoflow_miner::planner::{Planner, PlannerConfig};
use redoflow_miner::row::Name;
use redoflow_miner::sql::{self, ParseError, RowError, UnknownColumn};
use redoflow_miner::txn::{
    wipe_spill_dir, Change, ChangeOp, CommittedTxn, TxnBufferConfig, TxnError, TxnStats, Unwritable,
};
use redoflow_miner::{LogSource, SourceError, StartAt, TableId, TableSchema, TxnBuffer};
use redoflow_sink_csv::{
    self as sink, CsvSink, RejectedRow, RowMeta, RowOp, SinkConfig, SinkError,
};

use crate::config::{Config, OnParseError, WriterThread};
use crate::shutdown::Shutdown;
use crate::store::{CheckpointStore, StoreError};

/// How the miner paces its rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pacing {
    /// A live database: sleep between rounds as the planner says.
    Live,
    /// A recorded export or a benchmark: everything is already there, never sleep.
    Unpaced,
}

/// Everything the pipeline needs besides the source and the store.
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
    /// Leader term written into checkpoints and in-progress file names.
    pub term: Term,
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
            term: Term(0),
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

/// Live counters, readable from another thread (progress display, metrics).
#[derive(Debug, Default)]
pub struct Progress {
    pub rows_read: AtomicU64,
    /// SQL_REDO bytes fetched from the source.
    pub redo_bytes: AtomicU64,
    /// Mining rounds (windows fetched).
    pub rounds: AtomicU64,
    pub transactions: AtomicU64,
    pub changes_written: AtomicU64,
    pub rejected: AtomicU64,
    pub read_scn: AtomicU64,
    pub checkpoints: AtomicU64,
    pub open_transactions: AtomicU64,
    /// Open transactions reported for exceeding `mining.transaction_retention`.
    pub expired_transactions: AtomicU64,
    /// Committed transactions whose changes had spilled to disk.
    pub spilled_transactions: AtomicU64,
    /// The transaction buffer's counters as of the last round: rows that are not data
    /// (OPERATION_CODE 255 per table, undecodable, temporary-table and internal DDL rows) among
    /// them.
    pub mining: Mutex<TxnStats>,
    /// True when the writer runs on the mining thread (one usable core): everything but the
    /// source's own work is then in each round's time outside its fetches.
    pub writer_on_mining_thread: AtomicBool,
    /// Per-round figures, kept only after [`Progress::record_rounds`] (`redoflow bench`).
    rounds_log: Mutex<Option<Vec<RoundStats>>>,
}

/// One mining round (window): what the source returned and how long fetching it took (the
/// source's calls only, retries included), and the whole round with the buffer and, on one
/// thread, the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundStats {
    pub rows: u64,
    pub redo_bytes: u64,
    pub fetch: Duration,
    pub total: Duration,
}

/// Rounds kept by [`Progress::record_rounds`] (the first ones; about 32 MB at most).
const MAX_ROUNDS_LOGGED: usize = 1 << 20;

impl Progress {
    /// Keeps the figures of every round from now on (see [`Progress::round_log`]).
    pub fn record_rounds(&self) {
        let mut log = self.rounds_log.lock().unwrap_or_else(|e| e.into_inner());
        log.get_or_insert_with(Vec::new);
    }

    /// The rounds recorded since [`Progress::record_rounds`] (empty if it was not called).
    pub fn round_log(&self) -> Vec<RoundStats> {
        let log = self.rounds_log.lock().unwrap_or_else(|e| e.into_inner());
        log.clone().unwrap_or_default()
    }

    fn log_round(&self, round: RoundStats) {
        let mut log = self.rounds_log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = log.as_mut().filter(|l| l.len() < MAX_ROUNDS_LOGGED) {
            log.push(round);
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
    pub open_at_end: u64,
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
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the miner thread stopped unexpectedly")]
    MinerLost,
    #[error("giving up after {attempts} attempts at SCN {scn}: {last}")]
    GaveUp {
        attempts: u32,
        scn: Scn,
        last: SourceError,
    },
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

enum Msg {
    /// The source's definition of a table, sent before its first change.
    Schema(TableSchema),
    Txns(Vec<CommittedTxn>),
    /// Everything before this is covered by a checkpoint at `Offset`.
    Checkpoint(Offset),
}

/// Runs the pipeline until the source is finished (replay) or `shutdown` triggers, then takes a
/// final checkpoint. Resumes from the store's last checkpoint and first recovers the output root
/// (finishes that checkpoint's files, deletes in-progress files no committed checkpoint lists).
pub fn run_pipeline<S: LogSource>(
    opts: &PipelineOptions,
    source: &mut S,
    store: &mut dyn CheckpointStore,
    shutdown: &Shutdown,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let started = Instant::now();
    let last = store.last()?;
    let report = sink::recover(&opts.sink.root, last.as_ref(), opts.term, opts.sink.fsync)?;
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
    let mut writer = Writer::new(opts, next_id, last.map(|c| c.offset), progress)?;

    let separate = match opts.writer_thread {
        WriterThread::Separate => true,
        WriterThread::Same => false,
        WriterThread::Auto => thread::available_parallelism().is_ok_and(|n| n.get() > 1),
    };
    tracing::debug!(separate, "writer thread");
    progress
        .writer_on_mining_thread
        .store(!separate, Ordering::Relaxed);
    let result = if separate {
        mine_and_write(
            opts,
            source,
            restart,
            &mut writer,
            store,
            shutdown,
            progress,
        )
    } else {
        let mut out = Outbox::Inline {
            writer: &mut writer,
            store,
            dirty: false,
        };
        mine(opts, source, restart, &mut out, shutdown, progress)
    };
    let mined = result?;
    Ok(Summary {
        rows_read: progress.rows_read.load(Ordering::Relaxed),
        transactions: progress.transactions.load(Ordering::Relaxed),
        changes_written: progress.changes_written.load(Ordering::Relaxed),
        rejected: progress.rejected.load(Ordering::Relaxed),
        skipped_already_written: mined.skipped,
        rolled_back: mined.rolled_back,
        open_at_end: mined.open_at_end,
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
fn mine_and_write<S: LogSource>(
    opts: &PipelineOptions,
    source: &mut S,
    restart: Offset,
    writer: &mut Writer<'_>,
    store: &mut dyn CheckpointStore,
    shutdown: &Shutdown,
    progress: &Progress,
) -> Result<Mined, PipelineError> {
    let (tx, rx) = bounded::<Msg>(opts.channel_batches.max(1));
    thread::scope(|scope| {
        let miner = thread::Builder::new()
            .name("redoflow-miner".into())
            .spawn_scoped(scope, || {
                mine(
                    opts,
                    source,
                    restart,
                    &mut Outbox::Channel(tx),
                    shutdown,
                    progress,
                )
            });
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

struct Mined {
    spilled: u64,
    expired: u64,
    skipped: u64,
    rolled_back: u64,
    open_at_end: u64,
    stats: TxnStats,
}

/// Changes per channel message: enough to make the channel cost negligible per row, few enough
/// that what is in flight (`channel_batches` × this, about 1.5 MB of changes) stays in the CPU
/// caches when miner and writer share a core. (Measured on one core: 1024-change batches cost
/// 15% more CPU per change than 128; on two cores the difference is within noise.)
const BATCH_CHANGES: usize = 128;

/// A window fetched whole holds at most about this many times the planner's largest batch.
const WINDOW_CAP_FACTOR: u64 = 2;

/// Rows per piece when a cheap source's window is read in pieces.
const PIECE_ROWS: u64 = 512;

/// The SCN span of the next piece, adapted to the rows the last piece held: about
/// [`PIECE_ROWS`] rows, growing at most 4× per piece across empty stretches (a cheap empty
/// fetch costs little) and shrinking at once in a dense one.
#[derive(Debug)]
struct PieceSize {
    span: u64,
}

impl Default for PieceSize {
    fn default() -> Self {
        PieceSize { span: PIECE_ROWS }
    }
}

impl PieceSize {
    fn observe(&mut self, span: u64, rows: u64) {
        let span = span.max(1);
        let want = match span.saturating_mul(PIECE_ROWS).checked_div(rows) {
            Some(fit) => fit.min(span.saturating_mul(4)),
            None => span.saturating_mul(4),
        };
        self.span = want.max(1);
    }
}

fn mine<S: LogSource>(
    opts: &PipelineOptions,
    source: &mut S,
    restart: Offset,
    tx: &mut Outbox<'_, '_>,
    shutdown: &Shutdown,
    progress: &Progress,
) -> Result<Mined, PipelineError> {
    if let Err(e) = wipe_spill_dir(&opts.txn.spill_dir) {
        tracing::warn!(dir = %opts.txn.spill_dir.display(), error = %e, "cannot clear old spill files");
    }
    let mut buffer = TxnBuffer::with_config(restart.clone(), opts.txn.clone());
    let mut planner = Planner::new(opts.planner);
    let mut read = restart.resume_scn;
    let mut source = Resilient::new(source, opts, shutdown);
    let mut rows = Vec::with_capacity(opts.planner.batch_rows_max as usize);
    let mut batch: Vec<CommittedTxn> = Vec::new();
    let mut batch_changes = 0usize;
    let mut known = KnownTables::default();
    let mut last_names: Option<(Name, Name)> = None;
    let mut last_checkpoint = Instant::now();
    let mut piece = PieceSize::default();
    loop {
        if shutdown.is_triggered() {
            break;
        }
        // Sessions start at the restart offset's resume SCN: LogMiner must see every open
        // transaction from its start (DBZ-8747).
        source.session_from = buffer
            .oldest_open_scn()
            .map_or(read, |s| s.prev().min(read));
        source.maybe_renew_session(read)?;
        let Some(current) = source.call(read, |s| s.current_scn())? else {
            break;
        };
        let Some(end) = planner.next_window(read, current) else {
            if source.source.is_finished() {
                break;
            }
            if opts.pacing == Pacing::Live && shutdown.wait_timeout(planner.sleep()) {
                break;
            }
            continue;
        };
        let _round = tracing::debug_span!("mining_round", read = %read, end = %end).entered();
        // A source whose fetches are cheap (a file, the simulator) is read in pieces of about
        // PIECE_ROWS rows: each row is then written while it is still in the CPU cache, and a
        // window that turns out far denser than planned never sits in memory whole.
        // (Measured: 20000-row windows read whole cost 20–50% more CPU than pieces.)
        let mut end = end;
        let cheap = source.source.fetch_is_cheap();
        // A window fetched whole (one LogMiner query) is capped in rows: after an SCN gap the
        // planner's blind span may reach into dense redo, and the source then ends the window
        // at an SCN boundary past the cap instead of returning millions of rows at once.
        let cap = if cheap {
            usize::MAX
        } else {
            usize::try_from(
                opts.planner
                    .batch_rows_max
                    .saturating_mul(WINDOW_CAP_FACTOR),
            )
            .unwrap_or(usize::MAX)
        };
        let mut pieces = 0u64;
        let mut fetched = 0u64;
        let mut round_bytes = 0u64;
        let round_started = Instant::now();
        let mut fetch_time = Duration::ZERO;
        let mut piece_read = read;
        let mut stopped = false;
        while piece_read < end {
            let piece_end = if cheap {
                Scn(piece_read.0.saturating_add(piece.span).min(end.0))
            } else {
                end
            };
            let fetch_started = Instant::now();
            let got = source.call(piece_read, |s| {
                // A failed fetch may have appended part of the piece: start it over.
                rows.clear();
                s.fetch_capped(piece_read, piece_end, &mut rows, cap)
            })?;
            fetch_time += fetch_started.elapsed();
            let Some(fetched_to) = got else {
                stopped = true;
                break;
            };
            // A source that stopped at the cap read the window through `fetched_to` only: the
            // rest is read from there (and the planner sees the real density).
            if fetched_to <= piece_read || fetched_to > piece_end {
                return Err(PipelineError::Source(SourceError::Fatal {
                    message: format!(
                        "the source read window ({piece_read}, {piece_end}] only through SCN \
                         {fetched_to}, outside the window (a bug in the source)"
                    ),
                }));
            }
            let piece_end = fetched_to;
            if !cheap {
                // One query per window: a capped one ends the window.
                end = fetched_to;
            }
            fetched += rows.len() as u64;
            pieces += 1;
            piece.observe(piece_end.0 - piece_read.0, rows.len() as u64);
            let mut fetched_bytes = 0u64;
            for row in rows.drain(..) {
                fetched_bytes += row.sql_redo.len() as u64;
                if let Some(txn) = buffer.push(row)? {
                    // Send each table's definition before its first change.
                    let mut ensure_schema =
                        |owner: &str, table: &str| -> Result<(), PipelineError> {
                            if known.insert(owner, table) {
                                // None: unknown to the source (the writer derives the columns from the
                                // statement), or shutdown during a backoff (the loop stops next).
                                if let Some(Some(schema)) =
                                    source.call(piece_read, |s| s.table_schema(owner, table))?
                                {
                                    tx.send(Msg::Schema(schema))?;
                                }
                            }
                            Ok(())
                        };
                    if txn.is_spilled() {
                        for (owner, table) in txn.tables() {
                            ensure_schema(owner, table)?;
                        }
                    } else {
                        for change in txn.changes.iter().filter(|c| {
                            matches!(c.op, ChangeOp::Insert | ChangeOp::Update | ChangeOp::Delete)
                        }) {
                            if same_names(&last_names, change) {
                                continue;
                            }
                            let (owner, table) = table_names(change);
                            ensure_schema(owner, table)?;
                            last_names = Some((change.owner.clone(), change.table.clone()));
                        }
                    }
                    batch_changes += txn.change_count();
                    // A spilled transaction goes at once: its in-memory part should not wait.
                    let send_now = txn.is_spilled() || batch_changes >= BATCH_CHANGES;
                    batch.push(txn);
                    if send_now {
                        tx.send(Msg::Txns(std::mem::take(&mut batch)))?;
                        batch_changes = 0;
                    }
                }
            }
            progress
                .redo_bytes
                .fetch_add(fetched_bytes, Ordering::Relaxed);
            round_bytes += fetched_bytes;
            piece_read = piece_end;
            // A long window (after an SCN jump the planner crosses blindly) is cut at a piece
            // boundary when a checkpoint is due or shutdown was asked for: every row up to it
            // has been processed, so the window simply ends there.
            if piece_read < end
                && (shutdown.is_triggered()
                    || last_checkpoint.elapsed() >= opts.checkpoint_interval)
            {
                end = piece_read;
            }
        }
        if stopped {
            break;
        }
        progress.rounds.fetch_add(1, Ordering::Relaxed);
        progress.log_round(RoundStats {
            rows: fetched,
            redo_bytes: round_bytes,
            fetch: fetch_time,
            total: round_started.elapsed(),
        });
        tracing::debug!(%read, %end, rows = fetched, pieces, target = planner.target_rows(), "window mined");
        // The planner learns from the window just mined: (read, end] and its rows.
        let pace = planner.observe(read, end, fetched, current);
        read = end;
        progress.rows_read.fetch_add(fetched, Ordering::Relaxed);
        progress.read_scn.store(read.0, Ordering::Relaxed);
        progress
            .open_transactions
            .store(buffer.open_transactions() as u64, Ordering::Relaxed);
        let stats = buffer.stats();
        progress
            .expired_transactions
            .store(stats.expired_reported, Ordering::Relaxed);
        progress
            .spilled_transactions
            .store(stats.committed_spilled, Ordering::Relaxed);
        stats.clone_into(&mut progress.mining.lock().unwrap_or_else(|e| e.into_inner()));
        if last_checkpoint.elapsed() >= opts.checkpoint_interval {
            if !batch.is_empty() {
                tx.send(Msg::Txns(std::mem::take(&mut batch)))?;
                batch_changes = 0;
            }
            tx.send(Msg::Checkpoint(buffer.offset(read)))?;
            last_checkpoint = Instant::now();
        }
        if source.source.is_finished() {
            if let Some(current) = source.call(read, |s| s.current_scn())? {
                if planner.next_window(read, current).is_none() {
                    break;
                }
            }
        }
        if opts.pacing == Pacing::Live && !pace.lagging && shutdown.wait_timeout(pace.sleep) {
            break;
        }
    }
    if !batch.is_empty() {
        tx.send(Msg::Txns(batch))?;
    }
    tx.send(Msg::Checkpoint(buffer.offset(read)))?;
    let stats = buffer.stats();
    Ok(Mined {
        spilled: stats.committed_spilled,
        expired: stats.expired_reported,
        skipped: stats.skipped_already_written,
        rolled_back: stats.rolled_back,
        open_at_end: buffer.open_transactions() as u64,
        stats: stats.clone(),
    })
}

/// A source wrapped with the runtime's session and retry rules: a new session at the read
/// position after a retryable error (with backoff), a log switch, or `session_max`; a clear
/// stop after too many failures in a row, or at once on a fatal error.
struct Resilient<'a, S> {
    source: &'a mut S,
    retry: RetryPolicy,
    session_max: Option<Duration>,
    shutdown: &'a Shutdown,
    session_started: Option<Instant>,
    failures: u32,
    /// Where a new session starts (at most the read position).
    session_from: Scn,
}

impl<'a, S: LogSource> Resilient<'a, S> {
    fn new(source: &'a mut S, opts: &PipelineOptions, shutdown: &'a Shutdown) -> Self {
        Resilient {
            source,
            retry: opts.retry,
            session_max: opts.session_max,
            shutdown,
            session_started: None,
            failures: 0,
            session_from: Scn::ZERO,
        }
    }

    /// Starts a new session when the source says the current one is stale or it is older than
    /// `session_max`.
    fn maybe_renew_session(&mut self, read: Scn) -> Result<(), PipelineError> {
        let Some(started) = self.session_started else {
            return Ok(());
        };
        let expired = self.session_max.is_some_and(|max| started.elapsed() >= max);
        let stale = match self.call(read, |s| s.session_stale())? {
            Some(stale) => stale,
            None => return Ok(()),
        };
        if expired || stale {
            tracing::info!(%read, expired, stale, "starting a new mining session");
            self.session_started = None;
        }
        Ok(())
    }

    /// Runs `op`, first starting a session at `read` if none is current. `Ok(None)` when
    /// shutdown came during a backoff.
    fn call<T>(
        &mut self,
        read: Scn,
        mut op: impl FnMut(&mut S) -> Result<T, SourceError>,
    ) -> Result<Option<T>, PipelineError> {
        loop {
            let result = match self.session_started {
                None => self
                    .source
                    .start_session(self.session_from.min(read))
                    .map(|()| {
                        self.session_started = Some(Instant::now());
                        None
                    }),
                Some(_) => op(self.source).map(Some),
            };
            match result {
                Ok(Some(v)) => {
                    self.failures = 0;
                    return Ok(Some(v));
                }
                Ok(None) => continue,
                Err(e) if e.is_retryable() => {
                    self.failures += 1;
                    if self.failures > self.retry.retries {
                        return Err(PipelineError::GaveUp {
                            attempts: self.failures,
                            scn: read,
                            last: e,
                        });
                    }
                    let delay = self.retry.delay(self.failures);
                    tracing::warn!(error = %e, attempt = self.failures, of = self.retry.retries,
                        delay_ms = delay.as_millis() as u64, "source error; retrying with a new session");
                    self.session_started = None;
                    if self.shutdown.wait_timeout(delay) {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Tables the miner has already looked up, by owner then name (borrowed lookups, no
/// allocation per change).
#[derive(Default)]
struct KnownTables {
    tables: HashMap<String, std::collections::HashSet<String>>,
    /// The table of the previous change: most changes repeat it, and comparing two short
    /// strings is cheaper than hashing them.
    last: (String, String),
}

impl KnownTables {
    /// True the first time a table is seen.
    fn insert(&mut self, owner: &str, table: &str) -> bool {
        if self.last.0 == owner && self.last.1 == table {
            return false;
        }
        self.last.0.clear();
        self.last.0.push_str(owner);
        self.last.1.clear();
        self.last.1.push_str(table);
        match self.tables.get_mut(owner) {
            Some(tables) if tables.contains(table) => false,
            Some(tables) => tables.insert(table.to_string()),
            None => {
                self.tables
                    .entry(owner.to_string())
                    .or_default()
                    .insert(table.to_string());
                true
            }
        }
    }
}

/// Whether `change` carries the very names of `last` (a source shares one allocation per
/// table, so the same pointers mean the same table): a check without comparing strings. Never
/// for empty names, which take the table from the statement.
fn same_names(last: &Option<(Name, Name)>, change: &Change) -> bool {
    last.as_ref().is_some_and(|(o, t)| {
        !o.is_empty()
            && !t.is_empty()
            && Arc::ptr_eq(o, &change.owner)
            && Arc::ptr_eq(t, &change.table)
    })
}

/// The change's table: SEG_OWNER/TABLE_NAME, or for exports without them the names in the
/// statement.
fn table_names(change: &Change) -> (&str, &str) {
    if change.owner.is_empty() || change.table.is_empty() {
        if let Some(names) = table_of(&change.sql_redo) {
            return names;
        }
    }
    (&change.owner, &change.table)
}

/// `"OWNER"."TABLE"` named by a DML statement, for exports without SEG_OWNER/TABLE_NAME.
fn table_of(sql: &str) -> Option<(&str, &str)> {
    let start = sql.find('"')? + 1;
    let rest = &sql[start..];
    let owner_end = rest.find('"')?;
    let after = rest.get(owner_end + 1..)?.strip_prefix(".\"")?;
    let table_end = after.find('"')?;
    Some((&rest[..owner_end], &after[..table_end]))
}

/// The writer side: owns the CSV sink and runs checkpoints.
struct Writer<'p> {
    sink: CsvSink,
    opts: PipelineOptions,
    schemas: HashMap<String, HashMap<String, Arc<TableSchema>>>,
    /// The schema of the previous change (most changes repeat the table); cleared whenever
    /// `schemas` changes.
    last_schema: Option<Arc<TableSchema>>,
    /// The source's shared names of `last_schema`'s table: a change carrying the same
    /// allocations is of that table, found without comparing strings.
    last_names: Option<(Name, Name)>,
    next_id: CheckpointId,
    checkpoints: u64,
    last_offset: Option<Offset>,
    progress: &'p Progress,
    /// Kept between changes so writing a row allocates nothing.
    parse_buffers: sql::Buffers,
    row_buffers: sql::RowBuffers,
}

impl<'p> Writer<'p> {
    fn new(
        opts: &PipelineOptions,
        next_id: CheckpointId,
        last_offset: Option<Offset>,
        progress: &'p Progress,
    ) -> Result<Self, PipelineError> {
        Ok(Writer {
            sink: CsvSink::open(opts.sink.clone(), opts.term, next_id)?,
            opts: opts.clone(),
            schemas: HashMap::new(),
            last_schema: None,
            last_names: None,
            next_id,
            checkpoints: 0,
            last_offset,
            progress,
            parse_buffers: sql::Buffers::default(),
            row_buffers: sql::RowBuffers::default(),
        })
    }

    fn run(
        &mut self,
        rx: &Receiver<Msg>,
        store: &mut dyn CheckpointStore,
    ) -> Result<(), PipelineError> {
        let mut dirty = false;
        for msg in rx.iter() {
            self.handle(msg, store, &mut dirty)?;
        }
        Ok(())
    }

    /// One message from the miner. `dirty`: rows were written since the last checkpoint (a
    /// checkpoint with no rows and an unchanged offset is not worth a commit).
    fn handle(
        &mut self,
        msg: Msg,
        store: &mut dyn CheckpointStore,
        dirty: &mut bool,
    ) -> Result<(), PipelineError> {
        match msg {
            Msg::Schema(s) => self.set_schema(Arc::new(s)),
            Msg::Txns(txns) => {
                // Counted once per batch, not with two atomic adds (each a full barrier on
                // x86) per transaction.
                let (mut written, mut changes) = (0u64, 0u64);
                let mut result = Ok(());
                for txn in &txns {
                    result = self.write_txn(txn);
                    if result.is_err() {
                        break;
                    }
                    written += 1;
                    changes += txn.change_count() as u64;
                }
                self.progress
                    .transactions
                    .fetch_add(written, Ordering::Relaxed);
                self.progress
                    .changes_written
                    .fetch_add(changes, Ordering::Relaxed);
                result?;
                *dirty = true;
            }
            Msg::Checkpoint(offset) => {
                if *dirty || self.last_offset.as_ref() != Some(&offset) {
                    self.checkpoint(offset, store)?;
                }
                *dirty = false;
            }
        }
        Ok(())
    }

    fn write_txn(&mut self, txn: &CommittedTxn) -> Result<(), PipelineError> {
        // Read the first byte of each statement up front: the loads miss the nearest caches
        // (the text was generated a while ago) and, issued together, they overlap instead of
        // stalling one parse each.
        if !txn.is_spilled() {
            for c in &txn.changes {
                std::hint::black_box(c.sql_redo.as_bytes().first().copied());
            }
        }
        // A spilled transaction's changes are read back from disk here, in order.
        for change in txn.iter_changes() {
            let change = change?;
            let change: &Change = &change;
            let op = match change.op {
                ChangeOp::Insert => RowOp::Insert,
                ChangeOp::Update => RowOp::Update,
                ChangeOp::Delete => RowOp::Delete,
                ChangeOp::Ddl => {
                    let (owner, table) = table_names(change);
                    self.on_ddl(owner, table, &change.sql_redo, change.scn);
                    continue;
                }
                ChangeOp::Undecodable | ChangeOp::Unsupported => {
                    let dead_letter = self.opts.on_parse_error == OnParseError::DeadLetter;
                    match change.unwritable(txn.xid, dead_letter) {
                        Some(Unwritable::DeadLetter(reason)) => {
                            self.dead_letter(txn, change, table_names(change), reason)?
                        }
                        Some(Unwritable::Stop(e)) => return Err(e.into()),
                        Some(Unwritable::Skip) | None => {}
                    }
                    continue;
                }
            };
            let meta = RowMeta {
                op,
                scn: change.scn,
                commit_scn: txn.commit_scn,
                commit_ts: txn.commit_ts,
                xid: txn.xid,
            };
            // The schema is taken out of `last_schema` and put back after the row: no reference
            // count changes per change.
            let mut schema = match self.last_schema.take() {
                Some(s) if same_names(&self.last_names, change) => s,
                last => {
                    self.last_schema = last;
                    let (owner, table) = table_names(change);
                    let s = match self.known_schema(owner, table) {
                        Some(s) => s,
                        None => match self.schema_from_statement(owner, table, &change.sql_redo) {
                            Ok(s) => s,
                            Err(e) => {
                                self.parse_failed(txn, change, (owner, table), e)?;
                                continue;
                            }
                        },
                    };
                    self.last_names = Some((change.owner.clone(), change.table.clone()));
                    s
                }
            };
            // A statement in the exact layout LogMiner prints goes straight to its CSV line;
            // anything else, and every statement with an error, takes the parser below.
            if self
                .sink
                .write_statement(&schema, &meta, &change.sql_redo)?
            {
                self.last_schema = Some(schema);
                continue;
            }
            // Parsed straight into the row image, in the schema's column order.
            loop {
                match sql::parse_row(&change.sql_redo, &schema, &mut self.row_buffers) {
                    Ok(row) => {
                        self.sink.write_row(&schema, &meta, &row.values)?;
                        row.recycle(&mut self.row_buffers);
                        self.last_schema = Some(schema);
                        break;
                    }
                    Err(RowError::UnknownColumn(UnknownColumn(name))) => {
                        // A column the catalog does not know (added after the columns export
                        // was taken, or a table missing from it): extend the table and roll
                        // its file.
                        tracing::warn!(table = %schema.id, column = name, scn = %change.scn, "column not in the table definition; adding it");
                        let evolved = Arc::new(schema.with_added_column(name, "UNKNOWN"));
                        self.set_schema(evolved.clone());
                        schema = evolved;
                    }
                    Err(RowError::Parse(e)) => {
                        self.last_schema = Some(schema);
                        self.parse_failed(txn, change, table_names(change), e)?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The table's schema, if the source knows the table.
    fn known_schema(&mut self, owner: &str, table: &str) -> Option<Arc<TableSchema>> {
        if let Some(s) = &self.last_schema {
            if s.id.owner == owner && s.id.name == table {
                return Some(s.clone());
            }
        }
        let s = self
            .schemas
            .get(owner)
            .and_then(|t| t.get(table))
            .cloned()?;
        self.last_schema = Some(s.clone());
        Some(s)
    }

    /// For a table the source does not know, a schema built from the columns its first
    /// statement names (in statement order); kept for the table's next changes.
    fn schema_from_statement(
        &mut self,
        owner: &str,
        table: &str,
        sql_redo: &str,
    ) -> Result<Arc<TableSchema>, ParseError> {
        let stmt = sql::parse_reusing(sql_redo, &mut self.parse_buffers)?;
        tracing::warn!(
            owner,
            table,
            "table not in the columns definition; taking its columns from its first statement"
        );
        let mut names: Vec<&str> = Vec::new();
        for &(name, _) in stmt.values.iter().chain(stmt.conditions.iter()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let schema = TableSchema::from_names(TableId::new(owner, table), names, "UNKNOWN");
        stmt.recycle(&mut self.parse_buffers);
        let schema = Arc::new(schema);
        self.set_schema(schema.clone());
        Ok(schema)
    }

    fn set_schema(&mut self, schema: Arc<TableSchema>) {
        self.last_schema = None;
        self.schemas
            .entry(schema.id.owner.clone())
            .or_default()
            .insert(schema.id.name.clone(), schema);
    }

    fn on_ddl(&mut self, owner: &str, table: &str, sql: &str, scn: Scn) {
        tracing::info!(owner, table, %scn, ddl = sql, "DDL");
        // Roll the table's file: rows after a DDL never share a file with rows before it.
        if let Some(s) = self.schemas.get(owner).and_then(|t| t.get(table)) {
            let mut next = (**s).clone();
            next.version += 1;
            self.set_schema(Arc::new(next));
        }
    }

    fn parse_failed(
        &mut self,
        txn: &CommittedTxn,
        change: &Change,
        (owner, table): (&str, &str),
        e: ParseError,
    ) -> Result<(), PipelineError> {
        match self.opts.on_parse_error {
            OnParseError::Stop => Err(PipelineError::Parse {
                scn: change.scn,
                xid: txn.xid,
                table: format!("{owner}.{table}"),
                line: LineRef(change.line),
                position: e.pos,
                kind: format!("{:?}", e.kind),
                snippet: snippet(&change.sql_redo, e.pos),
            }),
            OnParseError::DeadLetter => {
                let message = format!("{:?} at position {}", e.kind, e.pos);
                self.dead_letter(txn, change, (owner, table), &message)
            }
        }
    }

    /// Writes the raw change to `_rejected/` with `message`, and counts it.
    fn dead_letter(
        &mut self,
        txn: &CommittedTxn,
        change: &Change,
        (owner, table): (&str, &str),
        message: &str,
    ) -> Result<(), PipelineError> {
        let table = format!("{owner}.{table}");
        tracing::warn!(scn = %change.scn, xid = %txn.xid, %table, error = %message, "SQL_REDO rejected");
        self.sink.write_rejected(&RejectedRow {
            scn: change.scn,
            xid: txn.xid,
            table: &table,
            line: change.line,
            error: message,
            sql_redo: &change.sql_redo,
        })?;
        self.progress.rejected.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn checkpoint(
        &mut self,
        offset: Offset,
        store: &mut dyn CheckpointStore,
    ) -> Result<(), PipelineError> {
        let _span = tracing::info_span!("checkpoint", id = %self.next_id).entered();
        let files = self.sink.prepare()?;
        let checkpoint = Checkpoint {
            id: self.next_id,
            term: self.opts.term,
            offset,
            files,
            created_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        store.commit(&checkpoint)?;
        sink::finish_checkpoint(&self.opts.sink.root, &checkpoint, self.opts.sink.fsync)?;
        tracing::info!(files = checkpoint.files.len(), resume_scn = %checkpoint.offset.resume_scn, "checkpoint committed");
        self.next_id = self.next_id.next();
        self.checkpoints += 1;
        self.progress.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.last_offset = Some(checkpoint.offset);
        Ok(())
    }
}

/// Up to 40 characters either side of `pos`, on one line, with a marker at the position.
fn snippet(sql: &str, pos: usize) -> String {
    let pos = pos.min(sql.len());
    let mut start = pos.saturating_sub(40);
    while !sql.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (pos + 40).min(sql.len());
    while !sql.is_char_boundary(end) {
        end += 1;
    }
    let mut p = pos;
    while !sql.is_char_boundary(p) {
        p -= 1;
    }
    let flat = |s: &str| s.replace(['\n', '\r'], " ");
    format!("{}>>>{}", flat(&sql[start..p]), flat(&sql[p..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_hold_about_piece_rows_and_cross_empty_stretches_fast() {
        let mut p = PieceSize::default();
        p.observe(1000, 5120);
        assert_eq!(p.span, 100, "dense: shrink at once");
        p.observe(100, 0);
        p.observe(400, 0);
        assert_eq!(p.span, 1600, "empty: grow 4x per piece");
        p.observe(1600, 1);
        assert_eq!(p.span, 6400, "sparse: growth still capped at 4x");
        p.observe(0, 0);
        assert!(p.span >= 1);
    }

    #[test]
    fn table_of_reads_the_quoted_names() {
        assert_eq!(
            table_of("insert into \"HR\".\"MY TAB\"(\"A\") values (1)"),
            Some(("HR", "MY TAB"))
        );
        assert_eq!(
            table_of("delete from \"a.b\".\"c\" where \"X\" = 1"),
            Some(("a.b", "c"))
        );
        assert_eq!(table_of("commit"), None);
        assert_eq!(table_of("insert into \"HR\""), None);
    }

    #[test]
    fn snippet_marks_the_position_on_one_line() {
        let s = snippet("insert into \"A\".\"B\"(\"C\") values ('x\ny' oops", 40);
        assert!(s.contains(">>>"), "{s}");
        assert!(!s.contains('\n'));
        assert_eq!(snippet("é", 1), ">>>é");
    }
}
