//! The miner side: windows from the source (sized by the [`Planner`]) into the transaction
//! buffer, committed transactions and checkpoint barriers out to the writer.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redoflow_checkpoint::{Offset, Scn};
use redoflow_miner::planner::Planner;
use redoflow_miner::row::Name;
use redoflow_miner::txn::{wipe_spill_dir, ChangeOp, CommittedTxn, TxnStats};
use redoflow_miner::{LogSource, RedoRow, SourceError, TxnBuffer};

use super::progress::{op_slot, Progress, RoundStats, StageTimes, Tally};
use super::resilient::Resilient;
use super::writer::{same_names, table_names};
use super::{Msg, Outbox, Pacing, PipelineError, PipelineOptions};
use crate::stop::StopToken;

/// Changes per channel message: enough to make the channel cost negligible per row, few enough
/// that what is in flight (`channel_batches` × this, about 1.5 MB of changes) stays in the CPU
/// caches when miner and writer share a core. (On one core, 1024-change batches cost 15% more
/// CPU per change than 128; on two cores the difference is within noise.)
const BATCH_CHANGES: usize = 128;

/// A window fetched whole holds at most about this many times the planner's largest batch.
const WINDOW_CAP_FACTOR: u64 = 2;

/// Rows per piece when a cheap source's window is read in pieces.
const PIECE_ROWS: u64 = 512;

/// A piece holds at most about this many rows: a piece whose SCN span turns out far denser
/// than the last one (an SCN jump crossed into dense redo, a whole export past a gap) is ended
/// by the source at the next SCN boundary, as a whole window is on an expensive source.
const PIECE_ROW_CAP: usize = 4 * PIECE_ROWS as usize;

/// What the miner reports at the end of a run.
pub(super) struct Mined {
    pub(super) spilled: u64,
    pub(super) expired: u64,
    pub(super) skipped: u64,
    pub(super) rolled_back: u64,
    pub(super) unknown_operations: u64,
    pub(super) ignored_operations: u64,
    pub(super) open_at_end: u64,
    pub(super) stats: TxnStats,
}

/// The SCN span of the next piece, adapted to the rows the last piece held: about
/// [`PIECE_ROWS`] rows, growing at most 4× per piece across empty stretches (a cheap empty
/// fetch costs little) and shrinking at once in a dense one.
#[derive(Debug)]
pub(super) struct PieceSize {
    pub(super) span: u64,
}

impl Default for PieceSize {
    fn default() -> Self {
        PieceSize { span: PIECE_ROWS }
    }
}

impl PieceSize {
    pub(super) fn observe(&mut self, span: u64, rows: u64) {
        let span = span.max(1);
        let want = match span.saturating_mul(PIECE_ROWS).checked_div(rows) {
            Some(fit) => fit.min(span.saturating_mul(4)),
            None => span.saturating_mul(4),
        };
        self.span = want.max(1);
    }
}

/// Whether the mining loop goes on after a round.
enum Flow {
    Continue,
    Stop,
}

/// One window's figures.
#[derive(Default)]
struct Window {
    rows: u64,
    pieces: u64,
    redo_bytes: u64,
    fetch_time: Duration,
}

/// The miner's state between rounds.
pub(super) struct Miner<'a, S: ?Sized> {
    opts: &'a PipelineOptions,
    source: Resilient<'a, S>,
    buffer: TxnBuffer,
    planner: Planner,
    /// Everything up to here has been mined.
    read: Scn,
    /// Reused for every fetch.
    rows: Vec<RedoRow>,
    /// Committed transactions not sent yet, and their changes.
    batch: Vec<CommittedTxn>,
    batch_changes: usize,
    tables: KnownTables,
    /// The names of the last change whose table was looked up.
    last_names: Option<(Name, Name)>,
    last_checkpoint: Instant,
    piece: PieceSize,
    /// Rows mined by table and operation since the last piece.
    tally: Tally,
    stop: &'a StopToken,
    progress: &'a Progress,
    /// Time spent handing batches on (to the writer's channel, or the writer itself on one
    /// thread): not the buffer's.
    handing_on: Duration,
}

impl<'a, S: LogSource + ?Sized> Miner<'a, S> {
    pub(super) fn new(
        opts: &'a PipelineOptions,
        source: &'a mut S,
        restart: Offset,
        stop: &'a StopToken,
        progress: &'a Progress,
    ) -> Self {
        if let Err(e) = wipe_spill_dir(&opts.txn.spill_dir) {
            tracing::warn!(dir = %opts.txn.spill_dir.display(), error = %e, "cannot clear old spill files");
        }
        Miner {
            opts,
            read: restart.resume_scn,
            buffer: TxnBuffer::with_config(restart, opts.txn.clone()),
            planner: Planner::new(opts.planner),
            source: Resilient::new(source, opts, stop, progress),
            rows: Vec::with_capacity(opts.planner.batch_rows_max as usize),
            batch: Vec::new(),
            batch_changes: 0,
            tables: KnownTables::default(),
            last_names: None,
            last_checkpoint: Instant::now(),
            piece: PieceSize::default(),
            tally: Tally::default(),
            stop,
            progress,
            handing_on: Duration::ZERO,
        }
    }

    /// Batches of transactions in flight between the miner and a writer thread.
    pub(super) fn channel_batches(&self) -> usize {
        self.opts.channel_batches.max(1)
    }

    /// Mines until the source is finished or a stop is asked for; a graceful end sends the
    /// last transactions and a final checkpoint barrier, an abort sends nothing more.
    pub(super) fn run(mut self, out: &mut Outbox<'_, '_>) -> Result<Mined, PipelineError> {
        while !self.stop.is_stopping() {
            if let Flow::Stop = self.round(out)? {
                break;
            }
        }
        if self.stop.is_aborted() {
            return Err(PipelineError::Aborted);
        }
        self.flush(out)?;
        out.send(Msg::Checkpoint(self.buffer.offset(self.read)))?;
        let stats = self.buffer.stats();
        Ok(Mined {
            spilled: stats.committed_spilled,
            expired: stats.expired_reported,
            skipped: stats.skipped_already_written,
            rolled_back: stats.rolled_back,
            unknown_operations: stats.unknown_operations,
            ignored_operations: stats.ignored,
            open_at_end: self.buffer.open_transactions() as u64,
            stats: stats.clone(),
        })
    }

    /// One round: plan a window, mine it, let the planner learn from it, checkpoint when due,
    /// and pause as the planner says.
    fn round(&mut self, out: &mut Outbox<'_, '_>) -> Result<Flow, PipelineError> {
        let read = self.read;
        // Sessions start at the oldest open transaction's start: LogMiner must see every open
        // transaction from its start (DBZ-8747).
        self.source.session_from = self
            .buffer
            .oldest_open_scn()
            .map_or(read, |s| s.prev().min(read));
        self.source.maybe_renew_session(read)?;
        let Some(current) = self.source.call(read, |s| s.current_scn())? else {
            return Ok(Flow::Stop);
        };
        self.progress
            .current_scn
            .store(current.0, Ordering::Relaxed);
        let Some(end) = self.planner.next_window(read, current) else {
            if self.source.source.is_finished() {
                return Ok(Flow::Stop);
            }
            self.progress
                .sleep_ms
                .store(self.planner.sleep().as_millis() as u64, Ordering::Relaxed);
            if self.opts.pacing == Pacing::Live && self.stop.wait_timeout(self.planner.sleep()) {
                return Ok(Flow::Stop);
            }
            return Ok(Flow::Continue);
        };
        let _round = tracing::debug_span!("mining_round", read = %read, end = %end).entered();
        let started = Instant::now();
        let Some((end, window)) = self.mine_window(end, out)? else {
            return Ok(Flow::Stop);
        };
        self.progress.rounds.fetch_add(1, Ordering::Relaxed);
        self.progress.fetch_seconds.observe(window.fetch_time);
        self.progress
            .window_scn_span
            .store(end.0.saturating_sub(read.0), Ordering::Relaxed);
        StageTimes::add(&self.progress.stages.fetch_ns, window.fetch_time);
        Progress::mark_first(&self.progress.first_window_unix_ms);
        self.progress.log_round(RoundStats {
            rows: window.rows,
            redo_bytes: window.redo_bytes,
            fetch: window.fetch_time,
            total: started.elapsed(),
        });
        tracing::debug!(%read, %end, rows = window.rows, pieces = window.pieces, target = self.planner.target_rows(), "window mined");
        // The planner learns from the window just mined: (read, end] and its rows.
        let pace = self.planner.observe(read, end, window.rows, current);
        self.progress
            .sleep_ms
            .store(pace.sleep.as_millis() as u64, Ordering::Relaxed);
        self.read = end;
        self.report();
        if self.last_checkpoint.elapsed() >= self.opts.checkpoint_interval {
            self.flush(out)?;
            out.send(Msg::Checkpoint(self.buffer.offset(self.read)))?;
            self.last_checkpoint = Instant::now();
        }
        if self.source.source.is_finished() {
            if let Some(current) = self.source.call(self.read, |s| s.current_scn())? {
                if self.planner.next_window(self.read, current).is_none() {
                    return Ok(Flow::Stop);
                }
            }
        }
        if self.opts.pacing == Pacing::Live && !pace.lagging && self.stop.wait_timeout(pace.sleep) {
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    }

    /// Mines the window `(read, end]`: returns where it really ended (a capped fetch or a due
    /// checkpoint ends it early) and its figures; `None` when a stop came during a backoff.
    fn mine_window(
        &mut self,
        mut end: Scn,
        out: &mut Outbox<'_, '_>,
    ) -> Result<Option<(Scn, Window)>, PipelineError> {
        // A source whose fetches are cheap (a file, the simulator) is read in pieces of about
        // PIECE_ROWS rows: each row is then written while it is still in the CPU cache, and a
        // window that turns out far denser than planned never sits in memory whole.
        let cheap = self.source.source.fetch_is_cheap();
        // Every read is capped in rows: after an SCN gap the planner's blind span (or a piece
        // grown across an empty stretch) may reach into dense redo, and the source then ends
        // the read at an SCN boundary past the cap instead of returning millions of rows at
        // once. A window fetched whole (one LogMiner query) is capped at a multiple of the
        // planner's largest batch, a piece at a multiple of its usual size.
        let cap = if cheap {
            PIECE_ROW_CAP
        } else {
            usize::try_from(
                self.opts
                    .planner
                    .batch_rows_max
                    .saturating_mul(WINDOW_CAP_FACTOR),
            )
            .unwrap_or(usize::MAX)
        };
        let mut window = Window::default();
        let mut piece_read = self.read;
        while piece_read < end {
            let piece_end = if cheap {
                Scn(piece_read.0.saturating_add(self.piece.span).min(end.0))
            } else {
                end
            };
            let fetch_started = Instant::now();
            let rows = &mut self.rows;
            let got = self.source.call(piece_read, |s| {
                // A failed fetch may have appended part of the piece: start it over.
                rows.clear();
                s.fetch_capped(piece_read, piece_end, rows, cap)
            })?;
            window.fetch_time += fetch_started.elapsed();
            let Some(fetched_to) = got else {
                return Ok(None);
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
            if !cheap {
                // One query per window: a capped one ends the window.
                end = fetched_to;
            }
            let rows = self.rows.len() as u64;
            window.rows += rows;
            window.pieces += 1;
            self.piece.observe(fetched_to.0 - piece_read.0, rows);
            let bytes = self.push_rows(piece_read, out)?;
            self.tally.flush(&self.progress.mined);
            self.progress.redo_bytes.fetch_add(bytes, Ordering::Relaxed);
            window.redo_bytes += bytes;
            piece_read = fetched_to;
            // Live figures per piece: a long window (a whole export past a gap) shows progress
            // while it is mined.
            self.progress.rows_read.fetch_add(rows, Ordering::Relaxed);
            self.progress
                .read_scn
                .store(piece_read.0, Ordering::Relaxed);
            // A long window (after an SCN jump the planner crosses blindly) is cut at a piece
            // boundary when a checkpoint is due or a stop was asked for: every row up to it
            // has been processed, so the window simply ends there.
            if piece_read < end
                && (self.stop.is_stopping()
                    || self.last_checkpoint.elapsed() >= self.opts.checkpoint_interval)
            {
                end = piece_read;
            }
        }
        Ok(Some((end, window)))
    }

    /// Feeds the fetched rows to the transaction buffer and batches the transactions that
    /// commit; returns the SQL_REDO bytes fetched.
    fn push_rows(&mut self, read: Scn, out: &mut Outbox<'_, '_>) -> Result<u64, PipelineError> {
        let started = Instant::now();
        let handed_before = self.handing_on;
        let mut bytes = 0u64;
        let mut rows = std::mem::take(&mut self.rows);
        if let Some(ts) = rows.iter().rev().find_map(|r| r.timestamp) {
            let ms = ts.epoch_seconds().saturating_mul(1000).max(0) as u64;
            self.progress.last_redo_unix_ms.store(ms, Ordering::Relaxed);
        }
        // Counted in a pass of their own: the loop below moves each row into the buffer, and
        // reading its fields there as well makes the compiler copy every row once more.
        for row in &rows {
            self.tally
                .count(&row.seg_owner, &row.table_name, op_slot(row.op));
        }
        let mut result = Ok(());
        for row in rows.drain(..) {
            bytes += row.sql_redo.len() as u64;
            match self.buffer.push(row) {
                Ok(None) => {}
                Ok(Some(txn)) => {
                    if let Err(e) = self.send_txn(txn, read, out) {
                        result = Err(e);
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            }
        }
        rows.clear();
        self.rows = rows;
        let handed = self.handing_on.saturating_sub(handed_before);
        StageTimes::add(
            &self.progress.stages.buffer_ns,
            started.elapsed().saturating_sub(handed),
        );
        result.map(|()| bytes)
    }

    /// Sends the definition of each table the transaction touches first (once per table), then
    /// batches the transaction.
    fn send_txn(
        &mut self,
        txn: CommittedTxn,
        read: Scn,
        out: &mut Outbox<'_, '_>,
    ) -> Result<(), PipelineError> {
        if txn.is_spilled() {
            for (owner, table) in txn.tables() {
                self.ensure_schema(owner, table, read, out)?;
            }
        } else {
            // Only changes written as rows need their table's definition.
            for change in txn
                .changes
                .iter()
                .filter(|c| matches!(c.op, ChangeOp::Insert | ChangeOp::Update | ChangeOp::Delete))
            {
                if same_names(&self.last_names, change) {
                    continue;
                }
                let (owner, table) = table_names(change);
                self.ensure_schema(owner, table, read, out)?;
                self.last_names = Some((change.owner.clone(), change.table.clone()));
            }
        }
        self.batch_changes += txn.change_count();
        // A spilled transaction goes at once: its in-memory part should not wait.
        let send_now = txn.is_spilled() || self.batch_changes >= BATCH_CHANGES;
        self.batch.push(txn);
        if send_now {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Sends a table's definition before its first change.
    fn ensure_schema(
        &mut self,
        owner: &str,
        table: &str,
        read: Scn,
        out: &mut Outbox<'_, '_>,
    ) -> Result<(), PipelineError> {
        if self.tables.insert(owner, table) {
            // None: unknown to the source (the writer derives the columns from the statement),
            // or a stop during a backoff (the loop stops next).
            if let Some(Some(schema)) = self.source.call(read, |s| s.table_schema(owner, table))? {
                out.send(Msg::Schema(schema))?;
            }
        }
        Ok(())
    }

    /// Sends the batched transactions, if any.
    fn flush(&mut self, out: &mut Outbox<'_, '_>) -> Result<(), PipelineError> {
        if !self.batch.is_empty() {
            let started = Instant::now();
            let sent = out.send(Msg::Txns(std::mem::take(&mut self.batch)));
            self.handing_on += started.elapsed();
            sent?;
            self.batch_changes = 0;
        }
        Ok(())
    }

    /// Publishes the buffer's state after a round.
    fn report(&self) {
        let p = self.progress;
        p.read_scn.store(self.read.0, Ordering::Relaxed);
        p.open_transactions
            .store(self.buffer.open_transactions() as u64, Ordering::Relaxed);
        let stats = self.buffer.stats();
        p.expired_transactions
            .store(stats.expired_reported, Ordering::Relaxed);
        p.expired_open
            .store(self.buffer.expired_open() as u64, Ordering::Relaxed);
        p.spilled_transactions
            .store(stats.committed_spilled, Ordering::Relaxed);
        *p.txn.lock().unwrap_or_else(|e| e.into_inner()) = stats.clone();
        p.buffered_bytes
            .store(self.buffer.buffered_bytes() as u64, Ordering::Relaxed);
        // Only a buffer that ever spilled has spill files to add up.
        let spilled = if stats.spills > 0 {
            self.buffer.spilled_bytes()
        } else {
            0
        };
        p.spilled_bytes.store(spilled, Ordering::Relaxed);
        p.batch_target_rows
            .store(self.planner.target_rows(), Ordering::Relaxed);
    }
}

/// Tables the miner has already looked up, by owner then name (borrowed lookups, no
/// allocation per change).
#[derive(Default)]
struct KnownTables {
    tables: HashMap<String, HashSet<String>>,
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
        p.observe(1, 1_000_000);
        assert_eq!(p.span, 1, "never below one SCN");
    }

    #[test]
    fn known_tables_report_each_table_once() {
        let mut k = KnownTables::default();
        assert!(k.insert("HR", "A"));
        assert!(!k.insert("HR", "A"));
        assert!(k.insert("HR", "B"));
        assert!(!k.insert("HR", "A"), "seen before, not the last one");
        assert!(k.insert("SALES", "A"));
    }
}
