//! Transaction buffer (SPEC.md §2, §4): a pure state machine from LogMiner rows, in LogMiner
//! order, to committed transactions, in commit order.
//!
//! - Open transactions are keyed by XID in a map with a one-multiply hasher (`hash`); each holds
//!   its changes in a `store::ChangeLog` and at most one pending CSF piece.
//! - Bounded memory ([`TxnBufferConfig::memory_limit_bytes`]): when the changes buffered in
//!   memory exceed the limit, the open transactions holding the most bytes in memory are spilled
//!   — their in-memory changes appended to their own file through a [`SpillStore`] — until at
//!   most half the limit is left. A spilled transaction keeps buffering in memory and is appended
//!   to its file again whenever it is among the largest at the next spill, so a huge transaction
//!   is written in chunks of about half the limit. A committed transaction that spilled carries
//!   its changes partly on disk ([`SpilledChanges`]); [`CommittedTxn::drain_changes`] and
//!   [`CommittedTxn::iter_changes`] stream them back in order. Partial rollbacks stay exact on
//!   spilled changes (`store`).
//! - Retention ([`TxnBufferConfig::retention`]): ages are redo time (the latest row TIMESTAMP seen
//!   minus a transaction's first row TIMESTAMP); a transaction older than the retention is
//!   reported once (a `warn` event, [`TxnStats::expired_reported`]) and dropped only with
//!   [`TxnBufferConfig::drop_expired`]; by default it is kept (and spilled like any other).
//! - SQL_REDO is not parsed here: the writer parses each change once, so a rolled-back
//!   transaction only costs buffering. Strings are moved out of the rows, never copied.
//! - Rows that are not data are decided here, once: a DML row LogMiner could not decode
//!   (`STATUS = 2`, owner `UNKNOWN` / table `OBJ# n`) becomes a [`ChangeOp::Undecodable`]
//!   change and OPERATION_CODE 255 on a table a [`ChangeOp::Unsupported`] one, both carrying
//!   their reason; [`Change::unwritable`] tells the writer what `output.on_parse_error` makes of
//!   them. Temporary-table rows and `INTERNAL DDL` are skipped. Every kind is counted in
//!   [`TxnStats`].
//! - A transaction is opened at its first change, not at its START row (Debezium's deferred
//!   transaction start, DBZ-7473): the query returns START and COMMIT of every transaction in
//!   the database, and one that never changes a captured table (an idle session, another
//!   application's schema) must not hold the resume SCN back.
//! - The buffer keeps the running [`Offset`]: the restart watermarks plus every commit recorded
//!   since. [`TxnBuffer::offset`] adds the resume SCN: one before the oldest open transaction's
//!   start, so a restart re-reads every row of every transaction still open, rebuilds the
//!   transactions that committed meanwhile and skips their commits with
//!   [`Offset::should_skip`].
//! - A restart also re-reads the tail of every transaction that started before the resume SCN
//!   and ended after it (it was no longer open at the checkpoint, so it did not hold the resume
//!   SCN back). Such a tail writes nothing (its commit is skipped, or it rolled back), but its
//!   undo rows may undo changes made before the resume SCN, which were not read again. An undo
//!   row that matches nothing is therefore judged when its transaction ends: expected (debug,
//!   [`TxnStats::unmatched_undo_unwritten`]) when the transaction writes nothing, a warning
//!   ([`TxnStats::unmatched_undo`]) only when it is written without the change it undoes.
//!
//! No clock; the only I/O is the [`SpillStore`]'s, and [`TxnBuffer::new`] never spills (no
//! memory limit), so the table-driven tests run with no I/O at all.

mod hash;
mod spill;
mod store;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};

use self::hash::XidMap;
use self::spill::RecordReader;
pub use self::spill::{
    wipe_spill_dir, FileSpillStore, MemSpillStore, SpillFaults, SpillFile, SpillStore,
};
use self::store::{change_bytes, ChangeLog};
use crate::row::{Name, OpCode, RedoRow, ShortText};
use crate::value::OraDateTime;

/// How much the buffer keeps in memory, where it spills, and what it does with old transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnBufferConfig {
    /// Bytes of buffered changes (see [`TxnBuffer::buffered_bytes`]) kept in memory; above it the
    /// largest transactions are spilled down to half of it. `usize::MAX`: never spill. The
    /// index of spilled changes (about 4 bytes per change) is not counted.
    pub memory_limit_bytes: usize,
    /// Where [`TxnBuffer::with_config`] puts spill files (the product: `<data_dir>/spill`).
    pub spill_dir: PathBuf,
    /// Open transactions older than this (in redo time) are reported (SPEC.md §9: 4 h).
    pub retention: Duration,
    /// Drop transactions older than `retention` instead of keeping them. Their changes are lost:
    /// only for operators who said so.
    pub drop_expired: bool,
}

impl Default for TxnBufferConfig {
    /// 64 MiB in memory, spilling to `<system temp dir>/redoflow-spill`, 4 h retention, report
    /// only.
    fn default() -> Self {
        TxnBufferConfig {
            memory_limit_bytes: 64 << 20,
            spill_dir: std::env::temp_dir().join("redoflow-spill"),
            retention: Duration::from_secs(4 * 3600),
            drop_expired: false,
        }
    }
}

impl TxnBufferConfig {
    /// No memory limit (never spills); retention as in [`Default`]. What [`TxnBuffer::new`] uses.
    pub fn unbounded() -> Self {
        TxnBufferConfig {
            memory_limit_bytes: usize::MAX,
            ..Self::default()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
    /// A DDL statement (OPERATION_CODE 5); `sql_redo` holds its text.
    Ddl,
    /// A row on a table with an OPERATION_CODE the engine does not know (it may carry data):
    /// never written as a row; the writer stops or dead-letters it, as it does a SQL_REDO it
    /// cannot parse.
    Unknown(u16),
    /// A DML row LogMiner could not decode: `STATUS = 2` (the online catalog no longer matches
    /// the redo, so SQL_REDO names made-up columns `"COL 1"` with `HEXTORAW` values), or an
    /// object it cannot name (owner `UNKNOWN`, table `OBJ# n`). Never written as data: see
    /// [`Change::unwritable`]. `reason` says why.
    Undecodable,
    /// OPERATION_CODE 255 (UNSUPPORTED) on a table: LogMiner cannot render the change (a
    /// column type it does not support, or a transaction it saw only part of). Skipped by
    /// default, dead-lettered under `on_parse_error = "dead-letter"`: see
    /// [`Change::unwritable`]. `reason` says why.
    Unsupported,
}

/// One change of a committed transaction, SQL_REDO stitched from its CSF pieces, not parsed yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub scn: Scn,
    pub op: ChangeOp,
    pub owner: Name,
    pub table: Name,
    pub row_id: ShortText,
    pub sql_redo: String,
    /// Line of the first piece in a replay export (0 if unknown).
    pub line: u64,
    /// Why an [`ChangeOp::Undecodable`] or [`ChangeOp::Unsupported`] change is not a row
    /// (LogMiner's STATUS and INFO); `None` for every other change.
    pub reason: Option<Box<str>>,
}

/// What the writer does with a change that is not a row ([`Change::unwritable`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Unwritable<'a> {
    /// Nothing is written (the change was counted when it was read).
    Skip,
    /// The raw row goes to the dead-letter output with this reason.
    DeadLetter(&'a str),
    /// The run stops with this error (SCN, XID, table, line and LogMiner's STATUS / INFO).
    Stop(TxnError),
}

impl Change {
    /// For an [`ChangeOp::Undecodable`] or [`ChangeOp::Unsupported`] change of transaction
    /// `xid`, what `output.on_parse_error` makes of it (`dead_letter`: it is
    /// `"dead-letter"`); `None` for a row or a DDL.
    ///
    /// Undecodable changes follow `on_parse_error` like a SQL_REDO the parser refuses: stop, or
    /// dead-letter. Unsupported ones are skipped by default, so that a table with a column type
    /// LogMiner cannot render does not stop the pipeline, and dead-lettered when the operator
    /// asked for dead letters, so that none disappears without a trace.
    pub fn unwritable(&self, xid: Xid, dead_letter: bool) -> Option<Unwritable<'_>> {
        let reason = self.reason.as_deref().unwrap_or("");
        Some(match (self.op, dead_letter) {
            (ChangeOp::Undecodable | ChangeOp::Unsupported, true) => Unwritable::DeadLetter(reason),
            (ChangeOp::Unsupported, false) => Unwritable::Skip,
            (ChangeOp::Undecodable, false) => Unwritable::Stop(TxnError::Undecodable {
                scn: self.scn,
                xid,
                table: format!("{}.{}", self.owner, self.table),
                line: self.line,
                reason: reason.to_string(),
            }),
            _ => return None,
        })
    }
}

/// A committed transaction, changes in redo order.
///
/// Its changes are `spilled` (if any) followed by `changes`. A consumer that may see spilled
/// transactions (any buffer with a memory limit) reads them with [`CommittedTxn::drain_changes`]
/// or [`CommittedTxn::iter_changes`]; `changes` alone is complete only when `spilled` is `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedTxn {
    pub xid: Xid,
    pub thread: ThreadId,
    pub start_scn: Scn,
    pub commit_scn: Scn,
    pub commit_ts: Option<OraDateTime>,
    /// The changes kept in memory: all of them when `spilled` is `None`, else those after the
    /// spilled ones.
    pub changes: Vec<Change>,
    /// The changes written to disk while the transaction was open; they come first.
    pub spilled: Option<SpilledChanges>,
}

impl CommittedTxn {
    /// Live changes, spilled and in memory.
    pub fn change_count(&self) -> usize {
        self.spilled.as_ref().map_or(0, SpilledChanges::len) + self.changes.len()
    }

    pub fn is_spilled(&self) -> bool {
        self.spilled.is_some()
    }

    /// Every change in redo order, spilled ones read back one at a time (owned), then the
    /// in-memory ones (borrowed). Can be called again (spilled changes are read again). After a
    /// read error the iterator yields that error and ends.
    pub fn iter_changes(&self) -> Changes<'_> {
        Changes {
            spilled: self.spilled.clone().map(SpillIter::new),
            mem: self.changes.iter(),
        }
    }

    /// Moves every change out, in redo order, reading spilled ones back one at a time; the
    /// spill file is removed when the iterator is dropped. Leaves `changes` empty and `spilled`
    /// `None`. After a read error the iterator yields that error and ends.
    pub fn drain_changes(&mut self) -> DrainChanges {
        DrainChanges {
            spilled: self.spilled.take().map(SpillIter::new),
            mem: std::mem::take(&mut self.changes).into_iter(),
        }
    }

    /// All changes in one vector: only for transactions known to be small (tests, tools).
    pub fn into_changes(mut self) -> Result<Vec<Change>, TxnError> {
        if self.spilled.is_none() {
            return Ok(self.changes);
        }
        self.drain_changes().collect()
    }

    /// Distinct (owner, table) of the changes, in first-seen order for each part (spilled, then
    /// in memory); without reading spilled changes back.
    pub fn tables(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        let spilled = self.spilled.iter().flat_map(|s| s.tables.iter());
        let mem = self.changes.iter().map(|c| (&*c.owner, &*c.table));
        for (o, t) in spilled.map(|(o, t)| (o.as_str(), t.as_str())).chain(mem) {
            if !out.iter().any(|&(a, b)| a == o && b == t) {
                out.push((o, t));
            }
        }
        out
    }
}

/// The on-disk part of a committed transaction's changes. Clones share the file, which is
/// removed when the last clone (or a [`DrainChanges`] made from it) is dropped.
#[derive(Clone, Debug)]
pub struct SpilledChanges {
    xid: Xid,
    file: Arc<dyn SpillFile>,
    /// Records in the file.
    count: usize,
    /// Records not undone.
    live: usize,
    /// Tombstones: bit i set = record i was undone.
    dead: Arc<Vec<u64>>,
    tables: Arc<Vec<(String, String)>>,
}

impl SpilledChanges {
    /// Live spilled changes.
    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// Same file (not same contents: comparing would read both back).
impl PartialEq for SpilledChanges {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file) && self.dead == other.dead
    }
}

impl Eq for SpilledChanges {}

/// Reads the live records of a spill file in order.
#[derive(Debug)]
struct SpillIter {
    spilled: SpilledChanges,
    reader: Option<RecordReader>,
    next: usize,
    failed: bool,
}

impl SpillIter {
    fn new(spilled: SpilledChanges) -> Self {
        SpillIter {
            spilled,
            reader: None,
            next: 0,
            failed: false,
        }
    }

    fn fail(&mut self, e: String) -> Option<Result<Change, TxnError>> {
        self.failed = true;
        self.reader = None;
        let s = &self.spilled;
        Some(Err(spill::spill_error(s.xid, s.file.path(), "read", e)))
    }
}

impl Iterator for SpillIter {
    type Item = Result<Change, TxnError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.reader.is_none() {
            if self.next >= self.spilled.count {
                return None;
            }
            match RecordReader::open(self.spilled.file.as_ref(), 0) {
                Ok(r) => self.reader = Some(r),
                Err(e) => return self.fail(e),
            }
        }
        let reader = self.reader.as_mut().expect("opened above");
        while self.next < self.spilled.count {
            let i = self.next;
            self.next += 1;
            let dead = self
                .spilled
                .dead
                .get(i / 64)
                .is_some_and(|w| w & (1u64 << (i % 64)) != 0);
            let r = if dead {
                reader.skip().map(|()| None)
            } else {
                reader.next().map(Some)
            };
            match r {
                Ok(Some(c)) => return Some(Ok(c)),
                Ok(None) => {}
                Err(e) => return self.fail(e),
            }
        }
        self.reader = None;
        None
    }
}

/// [`CommittedTxn::iter_changes`].
#[derive(Debug)]
pub struct Changes<'a> {
    spilled: Option<SpillIter>,
    mem: std::slice::Iter<'a, Change>,
}

impl<'a> Iterator for Changes<'a> {
    type Item = Result<Cow<'a, Change>, TxnError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(s) = &mut self.spilled {
            match s.next() {
                Some(Ok(c)) => return Some(Ok(Cow::Owned(c))),
                Some(Err(e)) => {
                    // Nothing after a lost change.
                    self.mem = [].iter();
                    return Some(Err(e));
                }
                None if s.failed => return None,
                None => self.spilled = None,
            }
        }
        self.mem.next().map(|c| Ok(Cow::Borrowed(c)))
    }
}

/// [`CommittedTxn::drain_changes`].
#[derive(Debug)]
pub struct DrainChanges {
    spilled: Option<SpillIter>,
    mem: std::vec::IntoIter<Change>,
}

impl Iterator for DrainChanges {
    type Item = Result<Change, TxnError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(s) = &mut self.spilled {
            match s.next() {
                Some(r) => {
                    if r.is_err() {
                        self.mem = Vec::new().into_iter();
                    }
                    return Some(r);
                }
                None if s.failed => return None,
                // Done with the file: remove it now rather than with the iterator.
                None => self.spilled = None,
            }
        }
        self.mem.next().map(Ok)
    }
}

/// An open transaction older than the retention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredTxn {
    pub xid: Xid,
    pub start_scn: Scn,
    /// TIMESTAMP of its first row.
    pub start_ts: OraDateTime,
    /// Redo time since `start_ts` (latest row TIMESTAMP seen minus `start_ts`).
    pub age: Duration,
    /// Live changes, in memory and spilled.
    pub changes: usize,
    /// Of which spilled.
    pub spilled_changes: usize,
    /// Bytes in memory.
    pub bytes: usize,
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
    /// Undo rows that matched no live change of a transaction that was then written (its
    /// COMMIT not skipped): mining started inside it, so it is written without a change it
    /// undid. Warned about.
    pub unmatched_undo: u64,
    /// Undo rows that matched no live change of a transaction that writes nothing: rolled back,
    /// marked, or committed before the restart (skipped). After a restart these are the tails of
    /// transactions that started before the resume SCN: what they undo was not read again.
    pub unmatched_undo_unwritten: u64,
    /// Rows with an XID ending in FFFFFFFF that matched an open transaction by prefix.
    pub partial_xids_matched: u64,
    pub missing_scn: u64,
    /// OPERATION_CODE 255 rows.
    pub unsupported: u64,
    /// The same, per `OWNER.TABLE` (`(no table)` for rows without one).
    pub unsupported_by_table: BTreeMap<String, u64>,
    /// DML rows LogMiner could not decode ([`ChangeOp::Undecodable`]).
    pub undecodable: u64,
    /// Rows of temporary tables (`/* No SQL_REDO for temporary tables */`), skipped.
    pub temporary_skipped: u64,
    /// DDL rows LogMiner marks `INTERNAL DDL` (Oracle's own bookkeeping), skipped.
    pub internal_ddl_skipped: u64,
    /// LOB and SELECT FOR UPDATE rows.
    pub ignored: u64,
    /// Rows with an OPERATION_CODE the engine does not know (each warned about). Those on a
    /// table are kept in their transaction as [`ChangeOp::Unknown`] changes.
    pub unknown_operations: u64,
    /// Times a transaction's in-memory changes were appended to its spill file.
    pub spills: u64,
    /// Changes written to spill files.
    pub spilled_changes: u64,
    /// Committed transactions returned with spilled changes.
    pub committed_spilled: u64,
    /// Transactions reported older than the retention (once each).
    pub expired_reported: u64,
    /// Of those, dropped (`drop_expired`).
    pub expired_dropped: u64,
    /// Rows of dropped expired transactions seen after the drop, ignored.
    pub expired_rows_ignored: u64,
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
    /// A change LogMiner could not decode, under `on_parse_error = "stop"`
    /// ([`Change::unwritable`]).
    #[error("cannot write the change at SCN {scn}, XID {xid}, table {table}{}: {reason}", LineRef(*line))]
    Undecodable {
        scn: Scn,
        xid: Xid,
        table: String,
        line: u64,
        reason: String,
    },
    /// Writing or reading a spill file failed. Fatal for the buffer: it refuses further rows,
    /// and the caller restarts from its last checkpoint (nothing after it was written).
    #[error("XID {xid}: cannot {action} spill file {}: {message}", path.display())]
    Spill {
        xid: Xid,
        path: PathBuf,
        action: &'static str,
        message: String,
    },
}

/// ", export line N" when the row came from a file, nothing otherwise.
struct LineRef(u64);

impl std::fmt::Display for LineRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 > 0 {
            write!(f, ", export line {}", self.0)
        } else {
            Ok(())
        }
    }
}

/// The SQL_REDO LogMiner prints for a change of a temporary table: there is nothing to mine.
const TEMPORARY_TABLE_REDO: &str = "/* No SQL_REDO for temporary tables */";

/// Why LogMiner could not decode a DML row, if it could not: an object it cannot name (owner
/// `UNKNOWN`, table `OBJ# n`: dropped, or not in the dictionary it reads), or `STATUS = 2`
/// (the SQL_REDO is not valid; with the online catalog, the table changed since the redo was
/// written). An UPDATE with `STATUS = 2` and no INFO is decodable: LogMiner reports LONG
/// columns so, and the statement is fine (Debezium keeps such rows too).
fn undecodable(row: &RedoRow) -> Option<String> {
    let unnamed = unnamed(row);
    let invalid = row.status == 2 && !(row.op == OpCode::UPDATE && row.info.is_empty());
    if !unnamed && !invalid {
        return None;
    }
    let info = if row.info.is_empty() {
        String::new()
    } else {
        format!(", INFO = '{}'", row.info)
    };
    if unnamed {
        return Some(format!(
            "LogMiner cannot name the object (owner {}, table {}; STATUS = {}{info}): the table \
             was dropped, or the dictionary LogMiner reads no longer knows this version of it. \
             Nothing of this change was written",
            row.seg_owner, row.table_name, row.status
        ));
    }
    Some(format!(
        "LogMiner could not decode the redo (STATUS = 2{info}): with the online catalog this is \
         redo written before a DDL on the table and mined after it, whose SQL_REDO names made-up \
         columns. Nothing of this change was written"
    ))
}

/// A row of an object LogMiner cannot name (owner `UNKNOWN`, table `OBJ# n`).
#[inline]
fn unnamed(row: &RedoRow) -> bool {
    &*row.seg_owner == "UNKNOWN" || row.table_name.starts_with("OBJ# ")
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
    /// TIMESTAMP of the first row that had one.
    start_ts: Option<OraDateTime>,
    /// Opening order, to break start-SCN ties when a partial XID matches several.
    seq: u64,
    changes: ChangeLog,
    pending: Option<Pending>,
    /// Reported older than the retention.
    expired: bool,
    /// Its undo rows that matched no change, judged when it ends (see the module
    /// documentation). Boxed: rare, and the open transaction stays small.
    unmatched: Option<Box<UnmatchedUndo>>,
}

/// The undo rows of a transaction that matched none of its changes: how many, and the first.
#[derive(Debug)]
struct UnmatchedUndo {
    rows: u64,
    scn: Scn,
    row_id: ShortText,
    line: u64,
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
    /// How many keys of `open` are partial XIDs (rows seen before their full XID). While there
    /// are none, a full XID has nothing to adopt and finding its transaction is one map probe.
    partial_open: usize,
    next_seq: u64,
    bytes: usize,
    stats: TxnStats,
    config: TxnBufferConfig,
    store: Box<dyn SpillStore>,
    /// Encoding buffer for spills.
    scratch: Vec<u8>,
    /// A spill error was returned: the buffer's state is unknown, every push returns it again.
    failed: Option<TxnError>,
    /// Latest row TIMESTAMP seen, seconds since 1970 (redo time).
    now: Option<i64>,
    /// The TIMESTAMP of the last row: rows of one redo second share it, and repeating it
    /// changes nothing.
    last_ts: Option<OraDateTime>,
    /// Redo time of the next retention check.
    next_check: i64,
    /// Expired transactions dropped, until their end (COMMIT, ROLLBACK, marker) is seen.
    dropped: XidMap<Xid, ()>,
}

/// A store for a buffer that never spills.
#[derive(Debug)]
struct NoSpill;

impl SpillStore for NoSpill {
    fn dir(&self) -> &Path {
        Path::new("(no spill store)")
    }

    fn create(&mut self, _xid: Xid) -> std::io::Result<Box<dyn SpillFile>> {
        Err(std::io::Error::other("this buffer has no spill store"))
    }
}

/// Seconds since 1970-01-01 00:00:00 of a (proleptic Gregorian) date and time.
fn epoch_secs(t: &OraDateTime) -> i64 {
    t.epoch_seconds()
}

/// Repeated conditions are logged the first ten times, then at every power of two (with the
/// running count), so a database full of them does not drown the log; the counters in
/// [`TxnStats`] have every occurrence.
fn worth_logging(count: u64) -> bool {
    count <= 10 || count.is_power_of_two()
}

/// Counts an undo row that matched no change of `txn`; it is judged when `txn` ends.
#[cold]
fn note_unmatched(txn: &mut OpenTxn, c: Change) {
    let u = txn.unmatched.get_or_insert_with(|| {
        Box::new(UnmatchedUndo {
            rows: 0,
            scn: c.scn,
            row_id: c.row_id,
            line: c.line,
        })
    });
    u.rows += 1;
}

/// The key a partial XID gets when it matches no open transaction.
fn partial_key(prefix: u32) -> Xid {
    Xid((u64::from(prefix) << 32) | 0xFFFF_FFFF)
}

impl TxnBuffer {
    /// A buffer resuming after `restart` (the last checkpoint's offset; `Offset::default()` for a
    /// fresh start). Feed it the rows with SCN > `restart.resume_scn`.
    ///
    /// No memory limit, so it never spills and does no I/O
    /// ([`TxnBufferConfig::unbounded`]); transactions older than 4 h are reported, not dropped.
    pub fn new(restart: Offset) -> Self {
        Self::with_store(restart, TxnBufferConfig::unbounded(), Box::new(NoSpill))
    }

    /// A buffer with `config`, spilling to files in `config.spill_dir` ([`FileSpillStore`]; the
    /// directory is created on first spill). Wipe stale files first with [`wipe_spill_dir`].
    pub fn with_config(restart: Offset, config: TxnBufferConfig) -> Self {
        let store = FileSpillStore::new(config.spill_dir.clone());
        Self::with_store(restart, config, Box::new(store))
    }

    /// A buffer with `config` spilling to `store` (`config.spill_dir` is not used).
    pub fn with_store(
        restart: Offset,
        config: TxnBufferConfig,
        store: Box<dyn SpillStore>,
    ) -> Self {
        let written = restart.clone();
        let dropped = restart.dropped_xids.iter().map(|x| (*x, ())).collect();
        TxnBuffer {
            restart,
            written,
            open: XidMap::default(),
            partial_open: 0,
            next_seq: 0,
            bytes: 0,
            stats: TxnStats::default(),
            config,
            store,
            scratch: Vec::new(),
            failed: None,
            now: None,
            last_ts: None,
            next_check: i64::MIN,
            dropped,
        }
    }

    pub fn config(&self) -> &TxnBufferConfig {
        &self.config
    }

    /// Feeds one row; returns the transaction it commits, if any (and if it has changes and was
    /// not written before the restart).
    ///
    /// After an error from a spill file ([`TxnError::Spill`]) the buffer returns that error for
    /// every further row: restart from the last checkpoint.
    #[inline]
    pub fn push(&mut self, row: RedoRow) -> Result<Option<CommittedTxn>, TxnError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let ts = row.timestamp;
        let r = self.apply(row);
        debug_assert_eq!(
            self.partial_open,
            self.open.keys().filter(|k| k.is_partial()).count(),
            "partial_open counts the partial keys of open"
        );
        if let Err(e @ TxnError::Spill { .. }) = &r {
            self.failed = Some(e.clone());
            return r;
        }
        if let Some(ts) = ts {
            self.observe_time(&ts);
        }
        r
    }

    #[inline]
    fn apply(&mut self, row: RedoRow) -> Result<Option<CommittedTxn>, TxnError> {
        self.stats.rows_seen += 1;
        let xid = self.resolve(row.xid);
        if !self.dropped.is_empty() && self.is_dropped(xid) {
            return Ok(self.dropped_row(xid, row));
        }
        match row.op {
            OpCode::INSERT
            | OpCode::DELETE
            | OpCode::UPDATE
            | OpCode::DDL
            | OpCode::UNSUPPORTED => {
                // The rows that may not be data take a path of their own, so that this one
                // moves a row of data once.
                if row.op == OpCode::DDL
                    || row.op == OpCode::UNSUPPORTED
                    || row.status == 2
                    || row.sql_redo.as_bytes().first() == Some(&b'/')
                    || unnamed(&row)
                {
                    return self.odd_row(xid, row);
                }
                self.change(xid, row, None)?;
                self.maybe_spill()?;
                Ok(None)
            }
            // The transaction opens at its first change (DBZ-7473): see the module
            // documentation.
            OpCode::START => Ok(None),
            OpCode::COMMIT => self.commit(xid, row),
            OpCode::ROLLBACK => {
                // An unfinished statement in a transaction that is rolled back loses nothing:
                // say so and drop it with the rest.
                if let Err(e) = self.check_no_pending(xid, &row, "ROLLBACK") {
                    tracing::warn!(error = %e, "transaction rolled back with an unfinished statement");
                }
                self.stats.rolled_back += 1;
                if let Some(u) = self.drop_txn(xid).and_then(|t| t.unmatched) {
                    self.unmatched_unwritten(xid, &u, "rollback");
                }
                Ok(None)
            }
            OpCode::REPLICATION_MARKER => {
                self.stats.replication_markers += 1;
                if worth_logging(self.stats.replication_markers) {
                    tracing::info!(scn = %row.scn, xid = %xid, line = row.line,
                        count = self.stats.replication_markers,
                        "replication marker: dropping the transaction");
                }
                if let Some(u) = self.drop_txn(xid).and_then(|t| t.unmatched) {
                    self.unmatched_unwritten(xid, &u, "replication marker");
                }
                Ok(None)
            }
            OpCode::MISSING_SCN => {
                self.stats.missing_scn += 1;
                if worth_logging(self.stats.missing_scn) {
                    tracing::warn!(scn = %row.scn, xid = %xid, line = row.line,
                        count = self.stats.missing_scn,
                        "LogMiner reports a missing SCN (OPERATION_CODE 34)");
                }
                Ok(None)
            }
            OpCode::SELECT_FOR_UPDATE => {
                self.stats.ignored += 1;
                Ok(None)
            }
            op if op.is_lob() => {
                self.stats.ignored += 1;
                Ok(None)
            }
            op => self.unknown_operation(xid, op, row),
        }
    }

    /// A row whose OPERATION_CODE the engine does not know: named in a warning and counted; on
    /// a table it stays in its transaction (as [`ChangeOp::Unknown`]), so that if the
    /// transaction commits the writer stops or dead-letters it instead of dropping data.
    fn unknown_operation(
        &mut self,
        xid: Xid,
        op: OpCode,
        row: RedoRow,
    ) -> Result<Option<CommittedTxn>, TxnError> {
        self.stats.unknown_operations += 1;
        let on_table = !row.seg_owner.is_empty() && !row.table_name.is_empty();
        if worth_logging(self.stats.unknown_operations) {
            tracing::warn!(scn = %row.scn, xid = %xid, line = row.line, code = op.0,
                owner = %row.seg_owner, table = %row.table_name, on_table,
                count = self.stats.unknown_operations,
                "unknown OPERATION_CODE: the row is not written (on a table, its transaction's \
                 commit stops the run or dead-letters it, as output.on_parse_error says)");
        }
        if on_table {
            self.change(xid, row, None)?;
            self.maybe_spill()?;
        }
        Ok(None)
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
            dropped_xids: self.dropped.keys().copied().collect(),
        }
    }

    pub fn open_transactions(&self) -> usize {
        self.open.len()
    }

    /// Open transactions already reported as older than the retention (and kept).
    pub fn expired_open(&self) -> usize {
        self.open.values().filter(|t| t.expired).count()
    }

    /// Start SCN of the oldest open transaction.
    pub fn oldest_open_scn(&self) -> Option<Scn> {
        self.open.values().map(|t| t.start_scn).min()
    }

    pub fn stats(&self) -> &TxnStats {
        &self.stats
    }

    /// Approximate bytes held in memory by open transactions (change text plus per-change
    /// overhead); spilled changes do not count.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes in the spill files of open transactions.
    pub fn spilled_bytes(&self) -> u64 {
        self.open.values().map(|t| t.changes.spilled_bytes()).sum()
    }

    /// Memory the index of spilled changes takes (about 4 bytes per spilled change).
    pub fn spill_index_bytes(&self) -> usize {
        self.open.values().map(|t| t.changes.index_bytes()).sum()
    }

    /// Live changes of open transactions on disk.
    pub fn spilled_changes(&self) -> usize {
        self.open.values().map(|t| t.changes.spilled_len()).sum()
    }

    /// Open transactions older than the retention, as of the latest row TIMESTAMP seen, oldest
    /// first. For metrics and status pages; the buffer itself reports each one once.
    pub fn expired(&self) -> Vec<ExpiredTxn> {
        let Some(now) = self.now else {
            return Vec::new();
        };
        let retention = self.config.retention.as_secs() as i64;
        let mut v: Vec<ExpiredTxn> = self
            .open
            .iter()
            .filter_map(|(xid, t)| {
                let start_ts = t.start_ts?;
                let age = now - epoch_secs(&start_ts);
                (age >= retention).then(|| ExpiredTxn {
                    xid: *xid,
                    start_scn: t.start_scn,
                    start_ts,
                    age: Duration::from_secs(age.max(0) as u64),
                    changes: t.changes.len(),
                    spilled_changes: t.changes.spilled_len(),
                    bytes: t.bytes(),
                })
            })
            .collect();
        v.sort_by_key(|e| (std::cmp::Reverse(e.age), e.start_scn));
        v
    }

    /// Advances redo time to `ts` and, at most once per redo second, reports (and with
    /// `drop_expired` drops) transactions that became older than the retention.
    fn observe_time(&mut self, ts: &OraDateTime) {
        if self.last_ts == Some(*ts) {
            return;
        }
        self.last_ts = Some(*ts);
        let secs = epoch_secs(ts);
        if self.now.is_some_and(|n| n >= secs) {
            return;
        }
        self.now = Some(secs);
        if secs < self.next_check {
            return;
        }
        self.next_check = secs + 1;
        for e in self.expired() {
            let txn = self.open.get_mut(&e.xid).expect("listed from open");
            if txn.expired {
                continue;
            }
            txn.expired = true;
            self.stats.expired_reported += 1;
            tracing::warn!(xid = %e.xid, start_scn = %e.start_scn, start_ts = %e.start_ts,
                age_secs = e.age.as_secs(), changes = e.changes,
                spilled_changes = e.spilled_changes, bytes = e.bytes,
                drop = self.config.drop_expired,
                "transaction open longer than the retention");
            if self.config.drop_expired {
                self.drop_txn(e.xid);
                self.dropped.insert(e.xid, ());
                self.stats.expired_dropped += 1;
                tracing::warn!(xid = %e.xid, start_scn = %e.start_scn, changes = e.changes,
                    "expired transaction dropped (drop_expired): its changes will not be written");
            }
        }
    }

    /// True (and counted) for a row with nothing to write: a temporary table's, or Oracle's own
    /// `INTERNAL DDL`.
    /// A DDL, OPERATION_CODE 255 or DML row that may not be data: skipped (counted), or added
    /// to its transaction as what it is.
    #[cold]
    #[inline(never)]
    fn odd_row(&mut self, xid: Xid, row: RedoRow) -> Result<Option<CommittedTxn>, TxnError> {
        if self.skipped(xid, &row) {
            return Ok(None);
        }
        let odd = self.odd(xid, &row);
        self.change(xid, row, odd)?;
        self.maybe_spill()?;
        Ok(None)
    }

    /// OPERATION_CODE 255 rows are counted here (per table), and kept only when they name a
    /// table and undo nothing.
    fn skipped(&mut self, xid: Xid, row: &RedoRow) -> bool {
        let temporary = row.sql_redo.trim_end() == TEMPORARY_TABLE_REDO;
        if row.op == OpCode::UNSUPPORTED {
            self.stats.unsupported += 1;
            let table = if row.table_name.is_empty() {
                "(no table)".to_string()
            } else {
                format!("{}.{}", row.seg_owner, row.table_name)
            };
            let count = self.stats.unsupported_by_table.entry(table).or_default();
            *count += 1;
            if worth_logging(*count) {
                tracing::warn!(scn = %row.scn, xid = %xid, line = row.line,
                    owner = %row.seg_owner, table = %row.table_name, info = %row.info,
                    count = *count,
                    "unsupported operation (OPERATION_CODE 255): the change cannot be written");
            }
            // Kept in its transaction (not an undo: that has nothing to undo in the output) so
            // that the writer can dead-letter it once the transaction commits.
            return row.table_name.is_empty() || row.rollback;
        }
        let (count, what) = if temporary {
            self.stats.temporary_skipped += 1;
            (self.stats.temporary_skipped, "temporary table row skipped")
        } else if row.op == OpCode::DDL && row.info.starts_with("INTERNAL DDL") {
            self.stats.internal_ddl_skipped += 1;
            (self.stats.internal_ddl_skipped, "internal DDL skipped")
        } else {
            return false;
        };
        if worth_logging(count) {
            tracing::info!(scn = %row.scn, xid = %xid, line = row.line, owner = %row.seg_owner,
                table = %row.table_name, count, "{what}");
        }
        true
    }

    /// `xid` (or, for a partial XID, one with its prefix) was dropped as expired.
    fn is_dropped(&self, xid: Xid) -> bool {
        self.dropped.contains_key(&xid)
            || (xid.is_partial() && self.dropped.keys().any(|k| k.prefix() == xid.prefix()))
    }

    /// A row of a dropped transaction: ignored; its end forgets the XID, and its COMMIT is
    /// recorded in the offset so that a restart skips it like any written commit.
    fn dropped_row(&mut self, xid: Xid, row: RedoRow) -> Option<CommittedTxn> {
        self.stats.expired_rows_ignored += 1;
        if matches!(
            row.op,
            OpCode::COMMIT | OpCode::ROLLBACK | OpCode::REPLICATION_MARKER
        ) {
            let key = if self.dropped.contains_key(&xid) {
                xid
            } else {
                *self
                    .dropped
                    .keys()
                    .find(|k| k.prefix() == xid.prefix())
                    .expect("is_dropped")
            };
            self.dropped.remove(&key);
            if row.op == OpCode::COMMIT && !self.written_before_restart(row.thread, row.scn, key) {
                self.written.record_commit(row.thread, row.scn, key);
            }
        }
        None
    }

    /// Spills the transactions with the most bytes in memory until at most half the limit is
    /// left, if the limit is exceeded.
    #[inline]
    fn maybe_spill(&mut self) -> Result<(), TxnError> {
        if self.bytes <= self.config.memory_limit_bytes {
            return Ok(());
        }
        self.spill()
    }

    #[inline(never)]
    fn spill(&mut self) -> Result<(), TxnError> {
        let target = self.config.memory_limit_bytes / 2;
        let mut by_size: Vec<(usize, Xid)> = self
            .open
            .iter()
            .map(|(x, t)| (t.changes.bytes(), *x))
            .filter(|(b, _)| *b > 0)
            .collect();
        by_size.sort_unstable_by(|a, b| b.cmp(a));
        for (_, xid) in by_size {
            let txn = self.open.get_mut(&xid).expect("listed from open");
            let changes = txn.changes.len() - txn.changes.spilled_len();
            let freed = txn
                .changes
                .spill(xid, self.store.as_mut(), &mut self.scratch)?;
            self.bytes -= freed;
            self.stats.spills += 1;
            self.stats.spilled_changes += changes as u64;
            tracing::debug!(xid = %xid, changes, bytes = freed, "spilled a transaction's changes");
            if self.bytes <= target {
                break;
            }
        }
        Ok(())
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
    fn open_txn(&mut self, xid: Xid, scn: Scn, ts: Option<OraDateTime>) -> &mut OpenTxn {
        let new_txn = |seq: &mut u64| {
            *seq += 1;
            OpenTxn {
                start_scn: scn,
                start_ts: None,
                seq: *seq,
                changes: ChangeLog::default(),
                pending: None,
                expired: false,
                unmatched: None,
            }
        };
        let txn = if self.partial_open == 0 || xid.is_partial() {
            // Nothing to adopt: one probe finds or opens the transaction.
            let next_seq = &mut self.next_seq;
            let mut opened = false;
            let txn = self.open.entry(xid).or_insert_with(|| {
                opened = true;
                new_txn(next_seq)
            });
            if opened && xid.is_partial() {
                self.partial_open += 1;
            }
            txn
        } else {
            if !self.open.contains_key(&xid) {
                let adopted = self.open.remove(&partial_key(xid.prefix()));
                if adopted.is_some() {
                    self.partial_open -= 1;
                }
                let txn = adopted.unwrap_or_else(|| new_txn(&mut self.next_seq));
                self.open.insert(xid, txn);
            }
            self.open.get_mut(&xid).expect("inserted above")
        };
        if txn.start_ts.is_none() {
            txn.start_ts = ts;
        }
        txn
    }

    /// For a row that may not be data, when it starts a statement: what it is and why
    /// (counted); `None` for a continuation, an undo row, a DDL, or a row that is data after all.
    #[cold]
    #[inline(never)]
    fn odd(&mut self, xid: Xid, row: &RedoRow) -> Option<(ChangeOp, Box<str>)> {
        let pending = match self.open.get(&xid) {
            Some(t) => t.pending.is_some(),
            None if !xid.is_partial() => self
                .open
                .get(&partial_key(xid.prefix()))
                .is_some_and(|t| t.pending.is_some()),
            None => false,
        };
        if pending {
            // A continuation: its statement was decided at its first piece.
            return None;
        }
        if row.op == OpCode::UNSUPPORTED {
            let info = if row.info.is_empty() {
                "none"
            } else {
                &row.info
            };
            return Some((
                ChangeOp::Unsupported,
                format!(
                    "OPERATION_CODE 255 (UNSUPPORTED, INFO: {info}): LogMiner cannot render this \
                     change, so it was not written"
                )
                .into(),
            ));
        }
        if row.rollback || row.op == OpCode::DDL {
            // Undo rows are matched by ROW_ID, never parsed; DDL is never data.
            return None;
        }
        let why = undecodable(row)?;
        self.stats.undecodable += 1;
        if worth_logging(self.stats.undecodable) {
            tracing::warn!(scn = %row.scn, %xid, line = row.line,
                count = self.stats.undecodable, reason = %why,
                "LogMiner could not decode a change");
        }
        Some((ChangeOp::Undecodable, why.into()))
    }

    /// Adds a DML, DDL or OPERATION_CODE 255 row to its transaction (a new change, or the next
    /// CSF piece of the pending one). `odd`: the kind and reason of a change that is not a row,
    /// when the row starts one ([`TxnBuffer::odd`]).
    #[inline]
    fn change(
        &mut self,
        xid: Xid,
        row: RedoRow,
        odd: Option<(ChangeOp, Box<str>)>,
    ) -> Result<(), TxnError> {
        let txn = self.open_txn(xid, row.scn, row.timestamp);
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
                let mut op = match row.op {
                    OpCode::INSERT => ChangeOp::Insert,
                    OpCode::DELETE => ChangeOp::Delete,
                    OpCode::UPDATE => ChangeOp::Update,
                    OpCode::DDL => ChangeOp::Ddl,
                    OpCode(code) => ChangeOp::Unknown(code),
                };
                let mut row_id = row.row_id;
                let mut reason = None;
                if let Some((odd_op, why)) = odd {
                    op = odd_op;
                    reason = Some(why);
                    if op == ChangeOp::Unsupported {
                        // Nothing in the output to undo: an undo row must never match it.
                        row_id = ShortText::default();
                    }
                }
                let p = Pending {
                    change: Change {
                        scn: row.scn,
                        op,
                        owner: row.seg_owner,
                        table: row.table_name,
                        row_id,
                        sql_redo: row.sql_redo,
                        line: row.line,
                        reason,
                    },
                    undo: row.rollback
                        && matches!(op, ChangeOp::Insert | ChangeOp::Update | ChangeOp::Delete),
                };
                if row.csf {
                    txn.pending = Some(p);
                    None
                } else {
                    Some(p)
                }
            }
        };
        if let Some(p) = finished {
            if p.undo {
                undo = txn.changes.undo(xid, &p.change.row_id)?.is_some();
                if !undo {
                    note_unmatched(txn, p.change);
                }
            } else {
                txn.changes.push(p.change);
            }
        }
        let after = txn.bytes();
        self.bytes = self.bytes + after - before;
        if undo {
            self.stats.partial_rollbacks += 1;
        }
        Ok(())
    }

    /// A transaction that ended without writing anything had undo rows that matched nothing:
    /// after a restart, the tail of a transaction that started before the resume SCN.
    #[cold]
    fn unmatched_unwritten(&mut self, xid: Xid, u: &UnmatchedUndo, end: &str) {
        self.stats.unmatched_undo_unwritten += u.rows;
        tracing::debug!(xid = %xid, scn = %u.scn, line = u.line, row_id = %u.row_id,
            rows = u.rows, end,
            "undo rows matched no change of a transaction that writes nothing: it started \
             before the SCN mining resumed after (a restart re-reads the tail of a transaction \
             that ended after it), so what they undo was not read again");
    }

    /// A transaction is written although undo rows of it matched nothing: a change it made
    /// before mining started (a start SCN inside it) is missing from the output.
    #[cold]
    fn unmatched_written(&mut self, xid: Xid, commit_scn: Scn, u: &UnmatchedUndo) {
        self.stats.unmatched_undo += u.rows;
        tracing::warn!(xid = %xid, commit_scn = %commit_scn, scn = %u.scn, line = u.line,
            row_id = %u.row_id, rows = u.rows, count = self.stats.unmatched_undo,
            "undo rows (ROLLBACK = 1) matched no change of a transaction that is written: a \
             change they undo was not read (did mining start inside the transaction?)");
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
            if xid.is_partial() {
                self.partial_open -= 1;
            }
            return Some(t);
        }
        if xid.is_partial() || self.partial_open == 0 {
            return None;
        }
        let t = self.open.remove(&partial_key(xid.prefix()));
        if t.is_some() {
            self.partial_open -= 1;
        }
        t
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
        let mut txn = self.drop_txn(xid);
        let unmatched = txn.as_mut().and_then(|t| t.unmatched.take());
        // The COMMIT row's SCN is the commit SCN; an export that carries COMMIT_SCN says so
        // explicitly, and that wins.
        let (thread, commit_scn) = (row.thread, row.commit_scn.unwrap_or(row.scn));
        if self.written_before_restart(thread, commit_scn, xid) {
            self.stats.skipped_already_written += 1;
            tracing::debug!(scn = %commit_scn, xid = %xid, thread = %thread,
                "commit written before the restart: skipped");
            if let Some(u) = unmatched {
                self.unmatched_unwritten(xid, &u, "commit written before the restart");
            }
            return Ok(None);
        }
        self.written.record_commit(thread, commit_scn, xid);
        if let Some(u) = unmatched {
            self.unmatched_written(xid, commit_scn, &u);
        }
        match txn {
            Some(t) if !t.changes.is_empty() => {
                self.stats.committed += 1;
                let (spilled, changes) = t.changes.into_parts(xid);
                self.stats.committed_spilled += u64::from(spilled.is_some());
                Ok(Some(CommittedTxn {
                    xid,
                    thread,
                    start_scn: t.start_scn,
                    commit_scn,
                    commit_ts: row.timestamp,
                    changes,
                    spilled,
                }))
            }
            _ => {
                self.stats.committed_empty += 1;
                Ok(None)
            }
        }
    }
}
