//! Transaction buffer (SPEC.md §2, §4): a pure state machine from LogMiner rows, in LogMiner
//! order, to committed transactions, in commit order.
//!
//! - Open transactions are keyed by XID in a map with a one-multiply hasher ([`hash`]); each holds
//!   its changes in a [`store::ChangeLog`] (the unit a later spill-to-disk will replace) and at
//!   most one pending CSF piece.
//! - SQL_REDO is not parsed here: the writer parses each change once, so a rolled-back
//!   transaction only costs buffering. Strings are moved out of the rows, never copied.
//! - The buffer keeps the running [`Offset`]: the restart watermarks plus every commit recorded
//!   since. [`TxnBuffer::offset`] adds the resume SCN: one before the oldest open transaction's
//!   start, so a restart re-reads every row of every transaction still open, rebuilds the
//!   transactions that committed meanwhile and skips their commits with
//!   [`Offset::should_skip`].
//!
//! No I/O, no clock; only `tracing` events.

mod hash;
mod store;

use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};

use self::hash::XidMap;
use self::store::{change_bytes, ChangeLog};
use crate::row::{OpCode, RedoRow};
use crate::value::OraDateTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
    /// A DDL statement (OPERATION_CODE 5); `sql_redo` holds its text.
    Ddl,
}

/// One change of a committed transaction, SQL_REDO stitched from its CSF pieces, not parsed yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub scn: Scn,
    pub op: ChangeOp,
    pub owner: String,
    pub table: String,
    pub row_id: String,
    pub sql_redo: String,
    /// Line of the first piece in a replay export (0 if unknown).
    pub line: u64,
}

/// A committed transaction, changes in redo order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTxn {
    pub xid: Xid,
    pub thread: ThreadId,
    pub start_scn: Scn,
    pub commit_scn: Scn,
    pub commit_ts: Option<OraDateTime>,
    pub changes: Vec<Change>,
}

/// Counters since the buffer was created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnStats {
    pub rows_seen: u64,
    /// Transactions returned by [`TxnBuffer::push`].
    pub committed: u64,
    /// COMMITs recorded in the offset with nothing to write (no live change, or unknown XID).
    pub committed_empty: u64,
    /// COMMITs dropped because the restart offset says they were written before.
    pub skipped_already_written: u64,
    /// ROLLBACK rows (OPERATION_CODE 36).
    pub rolled_back: u64,
    pub replication_markers: u64,
    /// Undo rows (`ROLLBACK = 1`) that removed a change.
    pub partial_rollbacks: u64,
    /// Undo rows that matched no live change of their transaction.
    pub unmatched_undo: u64,
    /// Rows with an XID ending in FFFFFFFF that matched an open transaction by prefix.
    pub partial_xids_matched: u64,
    pub missing_scn: u64,
    pub unsupported: u64,
    /// LOB, SELECT FOR UPDATE and unknown operation codes.
    pub ignored: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("SCN {scn} XID {xid} line {line}: {message}")]
    Inconsistent {
        scn: Scn,
        xid: Xid,
        line: u64,
        message: String,
    },
}

/// A CSF piece waiting for the rest of its statement.
#[derive(Debug)]
struct Pending {
    change: Change,
    /// The first piece had `ROLLBACK = 1`: once stitched, the statement undoes a change.
    undo: bool,
}

#[derive(Debug)]
struct OpenTxn {
    start_scn: Scn,
    /// Opening order, to break start-SCN ties when a partial XID matches several.
    seq: u64,
    changes: ChangeLog,
    pending: Option<Pending>,
}

impl OpenTxn {
    fn bytes(&self) -> usize {
        self.changes.bytes() + self.pending.as_ref().map_or(0, |p| change_bytes(&p.change))
    }
}

/// See the module documentation.
#[derive(Debug)]
pub struct TxnBuffer {
    /// What was written before this buffer started: the skip rule's input.
    restart: Offset,
    /// `restart`'s watermarks updated with every commit recorded since.
    written: Offset,
    open: XidMap<Xid, OpenTxn>,
    next_seq: u64,
    bytes: usize,
    stats: TxnStats,
}

/// The key a partial XID gets when it matches no open transaction.
fn partial_key(prefix: u32) -> Xid {
    Xid((u64::from(prefix) << 32) | 0xFFFF_FFFF)
}

impl TxnBuffer {
    /// A buffer resuming after `restart` (the last checkpoint's offset; `Offset::default()` for a
    /// fresh start). Feed it the rows with SCN > `restart.resume_scn`.
    pub fn new(restart: Offset) -> Self {
        let written = restart.clone();
        TxnBuffer {
            restart,
            written,
            open: XidMap::default(),
            next_seq: 0,
            bytes: 0,
            stats: TxnStats::default(),
        }
    }

    /// Feeds one row; returns the transaction it commits, if any (and if it has changes and was
    /// not written before the restart).
    pub fn push(&mut self, row: RedoRow) -> Result<Option<CommittedTxn>, TxnError> {
        self.stats.rows_seen += 1;
        let xid = self.resolve(row.xid);
        match row.op {
            OpCode::INSERT | OpCode::DELETE | OpCode::UPDATE | OpCode::DDL => {
                self.change(xid, row);
                Ok(None)
            }
            OpCode::START => {
                self.open_txn(xid, row.scn);
                Ok(None)
            }
            OpCode::COMMIT => self.commit(xid, row),
            OpCode::ROLLBACK => {
                // An unfinished statement in a transaction that is rolled back loses nothing:
                // say so and drop it with the rest.
                if let Err(e) = self.check_no_pending(xid, &row, "ROLLBACK") {
                    tracing::warn!(error = %e, "transaction rolled back with an unfinished statement");
                }
                self.stats.rolled_back += 1;
                self.drop_txn(xid);
                Ok(None)
            }
            OpCode::REPLICATION_MARKER => {
                self.stats.replication_markers += 1;
                tracing::info!(scn = %row.scn, xid = %xid, line = row.line,
                    "replication marker: dropping the transaction");
                self.drop_txn(xid);
                Ok(None)
            }
            OpCode::MISSING_SCN => {
                self.stats.missing_scn += 1;
                tracing::warn!(scn = %row.scn, xid = %xid, line = row.line,
                    "LogMiner reports a missing SCN (OPERATION_CODE 34)");
                Ok(None)
            }
            OpCode::UNSUPPORTED => {
                self.stats.unsupported += 1;
                tracing::warn!(scn = %row.scn, xid = %xid, line = row.line,
                    owner = %row.seg_owner, table = %row.table_name,
                    "unsupported operation (OPERATION_CODE 255) skipped");
                Ok(None)
            }
            _ => {
                self.stats.ignored += 1;
                Ok(None)
            }
        }
    }

    /// The offset a checkpoint taken now would store, given that every row with SCN <=
    /// `processed_through` has been pushed (and every returned transaction is written).
    pub fn offset(&self, processed_through: Scn) -> Offset {
        let oldest = self.open.values().map(|t| t.start_scn).min();
        let resume_scn = match oldest {
            Some(start) => start.prev().min(processed_through),
            None => processed_through,
        };
        Offset {
            resume_scn,
            threads: self.written.threads.clone(),
        }
    }

    pub fn open_transactions(&self) -> usize {
        self.open.len()
    }

    /// Start SCN of the oldest open transaction.
    pub fn oldest_open_scn(&self) -> Option<Scn> {
        self.open.values().map(|t| t.start_scn).min()
    }

    pub fn stats(&self) -> &TxnStats {
        &self.stats
    }

    /// Approximate bytes held by open transactions (change text plus per-change overhead).
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Maps a partial XID (ending in FFFFFFFF) to the most recently started open transaction
    /// with the same first 8 hex digits, or to itself.
    fn resolve(&mut self, xid: Xid) -> Xid {
        if !xid.is_partial() {
            return xid;
        }
        let prefix = xid.prefix();
        let best = self
            .open
            .iter()
            .filter(|(k, _)| k.prefix() == prefix && **k != xid)
            .max_by_key(|(_, t)| (t.start_scn, t.seq))
            .map(|(k, _)| *k);
        match best {
            Some(k) => {
                self.stats.partial_xids_matched += 1;
                k
            }
            None => xid,
        }
    }

    /// The open transaction `xid`, opened at `scn` if unknown. A full XID adopts a transaction
    /// that was opened under its partial form (rows seen before the full XID was): Oracle runs
    /// one transaction per undo slot at a time, so they are the same transaction.
    fn open_txn(&mut self, xid: Xid, scn: Scn) -> &mut OpenTxn {
        if !self.open.contains_key(&xid) {
            let adopted = if xid.is_partial() {
                None
            } else {
                self.open.remove(&partial_key(xid.prefix()))
            };
            let txn = adopted.unwrap_or_else(|| {
                self.next_seq += 1;
                OpenTxn {
                    start_scn: scn,
                    seq: self.next_seq,
                    changes: ChangeLog::default(),
                    pending: None,
                }
            });
            self.open.insert(xid, txn);
        }
        self.open.get_mut(&xid).expect("inserted above")
    }

    fn change(&mut self, xid: Xid, row: RedoRow) {
        let txn = self.open_txn(xid, row.scn);
        let before = txn.bytes();
        let mut undo = false;
        let finished = match txn.pending.take() {
            Some(mut p) => {
                p.change.sql_redo.push_str(&row.sql_redo);
                if row.csf {
                    txn.pending = Some(p);
                    None
                } else {
                    Some(p)
                }
            }
            None => {
                let op = match row.op {
                    OpCode::INSERT => ChangeOp::Insert,
                    OpCode::DELETE => ChangeOp::Delete,
                    OpCode::UPDATE => ChangeOp::Update,
                    _ => ChangeOp::Ddl,
                };
                let p = Pending {
                    change: Change {
                        scn: row.scn,
                        op,
                        owner: row.seg_owner,
                        table: row.table_name,
                        row_id: row.row_id,
                        sql_redo: row.sql_redo,
                        line: row.line,
                    },
                    undo: row.rollback && op != ChangeOp::Ddl,
                };
                if row.csf {
                    txn.pending = Some(p);
                    None
                } else {
                    Some(p)
                }
            }
        };
        let mut unmatched = None;
        if let Some(p) = finished {
            undo = p.undo;
            if p.undo {
                if txn.changes.undo(&p.change.row_id).is_none() {
                    unmatched = Some(p.change);
                }
            } else {
                txn.changes.push(p.change);
            }
        }
        let after = txn.bytes();
        self.bytes = self.bytes + after - before;
        if let Some(c) = unmatched {
            self.stats.unmatched_undo += 1;
            tracing::warn!(scn = %c.scn, xid = %xid, line = c.line, row_id = %c.row_id,
                "undo row (ROLLBACK = 1) matches no change of its transaction");
        } else if undo {
            self.stats.partial_rollbacks += 1;
        }
    }

    fn check_no_pending(&self, xid: Xid, row: &RedoRow, what: &str) -> Result<(), TxnError> {
        let txn = match self.open.get(&xid) {
            Some(t) => Some(t),
            None if !xid.is_partial() => self.open.get(&partial_key(xid.prefix())),
            None => None,
        };
        match txn.and_then(|t| t.pending.as_ref()) {
            None => Ok(()),
            Some(p) => Err(TxnError::Inconsistent {
                scn: row.scn,
                xid,
                line: row.line,
                message: format!(
                    "{what} while the SQL_REDO started at SCN {} (line {}) waits for its \
                     continuation (CSF = 1)",
                    p.change.scn, p.change.line
                ),
            }),
        }
    }

    fn drop_txn(&mut self, xid: Xid) -> Option<OpenTxn> {
        let txn = self.remove(xid)?;
        self.bytes -= txn.bytes();
        Some(txn)
    }

    /// Removes `xid`, or the transaction opened under its partial form.
    fn remove(&mut self, xid: Xid) -> Option<OpenTxn> {
        if let Some(t) = self.open.remove(&xid) {
            return Some(t);
        }
        if xid.is_partial() || self.open.is_empty() {
            return None;
        }
        self.open.remove(&partial_key(xid.prefix()))
    }

    /// The skip rule ([`Offset::should_skip`]), plus: a COMMIT whose XID is still partial here
    /// (its transaction started before the resume SCN, so nothing open matched it) is skipped when
    /// a written transaction with the same undo slot (prefix) committed at exactly that SCN. The
    /// first run resolved it to that full XID; one slot holds one transaction at a time.
    fn written_before_restart(&self, thread: ThreadId, commit_scn: Scn, xid: Xid) -> bool {
        if self.restart.should_skip(thread, commit_scn, xid) {
            return true;
        }
        xid.is_partial()
            && self.restart.threads.get(&thread).is_some_and(|w| {
                w.commit_scn == commit_scn
                    && w.committed_xids.iter().any(|x| x.prefix() == xid.prefix())
            })
    }

    fn commit(&mut self, xid: Xid, row: RedoRow) -> Result<Option<CommittedTxn>, TxnError> {
        self.check_no_pending(xid, &row, "COMMIT")?;
        let txn = self.drop_txn(xid);
        let (thread, commit_scn) = (row.thread, row.scn);
        if self.written_before_restart(thread, commit_scn, xid) {
            self.stats.skipped_already_written += 1;
            tracing::debug!(scn = %commit_scn, xid = %xid, thread = %thread,
                "commit written before the restart: skipped");
            return Ok(None);
        }
        self.written.record_commit(thread, commit_scn, xid);
        match txn {
            Some(t) if !t.changes.is_empty() => {
                self.stats.committed += 1;
                Ok(Some(CommittedTxn {
                    xid,
                    thread,
                    start_scn: t.start_scn,
                    commit_scn,
                    commit_ts: row.timestamp,
                    changes: t.changes.into_changes(),
                }))
            }
            _ => {
                self.stats.committed_empty += 1;
                Ok(None)
            }
        }
    }
}
