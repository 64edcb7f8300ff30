//! The workload generator: the simulated database's whole state (RNG, tables, open
//! transactions) advancing SCN step by SCN step and printing each step's V$LOGMNR_CONTENTS rows.
//!
//! Every random draw happens whether or not rows are printed, so a step run only to move the
//! state forward (skipping rows before a window, computing the current SCN, collecting the
//! truth) leaves the generator exactly where printing would have. The generator is `Clone`: a
//! clone is a snapshot.

use std::sync::Arc;

use redoflow_checkpoint::{Scn, ThreadId, Xid};

use super::config::{ClosedThread, SimConfig};
use super::model::SqlValues;
use super::model::{chance, civil_from_days, mix, ColDef, Model, Rng, Row, TableDef, MAX_COLS};
use super::text::{SqlText, Writer};
use super::truth::{TruthChange, TruthTxn};
use crate::row::{Name, OpCode, RedoRow, ShortText};
use crate::txn::ChangeOp;
use crate::value::OraDateTime;

/// LogMiner splits SQL_REDO longer than this into CSF rows.
pub(crate) const SQL_REDO_PIECE: usize = 4000;
/// At most this many long transactions are open at once.
const MAX_LONG: usize = 8;

const EMPTY: Row = [0; MAX_COLS];

/// Settings turned into what the hot path uses (thresholds, not percentages).
#[derive(Debug)]
pub(crate) struct Params {
    pub model: Model,
    pub start_scn: u64,
    pub threads: u16,
    pub rows_per_table: u32,
    pub concurrency: u64,
    pub log_switch_scns: u64,
    ts_origin: i64,
    scns_per_second: u64,
    max_statements: u64,
    p_long: u64,
    long_statements: u32,
    long_pause: u64,
    p_rollback: u64,
    p_marker: u64,
    p_partial: u64,
    p_shared: u64,
    p_gap: u64,
    p_same: u64,
    p_unlogged: u64,
    p_unsupported: u64,
    p_partial_xid: u64,
    p_undecodable: u64,
    p_unknown: u64,
    p_temporary: u64,
    closed: Option<ClosedThread>,
    weight_total: u64,
}

impl Params {
    pub fn new(c: &SimConfig) -> Params {
        let w = &c.workload;
        let model = Model::new(c.catalog, w.long_clob_percent);
        let weight_total = model.tables.iter().map(|t| u64::from(t.weight)).sum();
        Params {
            model,
            start_scn: c.start_scn,
            threads: c.threads.max(1),
            rows_per_table: c.rows_per_table.max(1),
            concurrency: u64::from(c.concurrent_transactions.max(1)),
            log_switch_scns: c.log_switch_scns.max(1),
            ts_origin: c.timestamp_origin_unix,
            scns_per_second: c.scns_per_second.max(1),
            max_statements: u64::from(w.max_statements.max(1)),
            p_long: chance(w.long_transaction_percent),
            long_statements: w.long_transaction_statements.max(1),
            long_pause: w.long_transaction_pause.max(1),
            p_rollback: chance(w.rollback_percent),
            p_marker: chance(w.rollback_percent + w.replication_marker_percent),
            p_partial: chance(w.partial_rollback_percent),
            p_shared: chance(w.shared_commit_percent),
            p_gap: chance(w.scn_gap_percent),
            p_same: chance(w.same_scn_percent),
            p_unlogged: chance(w.unlogged_update_percent),
            p_unsupported: chance(w.unsupported_percent),
            p_partial_xid: chance(w.partial_xid_percent),
            p_undecodable: chance(w.undecodable_percent),
            p_unknown: chance(w.unknown_object_percent),
            p_temporary: chance(w.temporary_table_percent),
            closed: w.closed_thread,
            weight_total,
        }
    }

    /// Offset of a thread's log switches, so the threads do not switch at the same SCN.
    fn phase(&self, thread: u16) -> u64 {
        u64::from(thread.saturating_sub(1)) * self.log_switch_scns / u64::from(self.threads)
    }

    /// The SCNs where a closed thread's instance shut down and opened again: each switches
    /// its log.
    fn closure_switches(&self, thread: u16) -> [Option<u64>; 2] {
        match self.closed {
            Some(c) if c.thread == thread => [Some(c.from_scn), Some(c.to_scn)],
            _ => [None, None],
        }
    }

    /// True when `thread` is closed at `scn` ([`ClosedThread`]).
    pub fn is_closed(&self, thread: u16, scn: u64) -> bool {
        self.closed
            .is_some_and(|c| c.thread == thread && (c.from_scn..c.to_scn).contains(&scn))
    }

    /// The log sequence of `thread` that holds `scn`.
    pub fn log_seq(&self, thread: u16, scn: u64) -> u64 {
        let closures = self
            .closure_switches(thread)
            .iter()
            .filter(|s| s.is_some_and(|s| scn >= s))
            .count() as u64;
        1 + scn.saturating_add(self.phase(thread)) / self.log_switch_scns + closures
    }

    /// The highest first SCN of a log (any thread) within `(read, end]` other than the log
    /// holding `read + 1`: where the window crosses a log switch.
    pub fn last_switch_in(&self, read: u64, end: u64) -> Option<u64> {
        let from = read.saturating_add(1);
        (1..=self.threads)
            .filter(|&t| self.log_seq(t, from) != self.log_seq(t, end))
            .map(|t| {
                let phase = self.phase(t);
                let regular = (end.saturating_add(phase) / self.log_switch_scns)
                    * self.log_switch_scns
                    - phase;
                let closures = self.closure_switches(t);
                [Some(regular)]
                    .into_iter()
                    .chain(closures)
                    .flatten()
                    .filter(|&s| s > from && s <= end)
                    .max()
                    .unwrap_or(regular)
            })
            .max()
    }

    pub fn timestamp(&self, scn: u64) -> OraDateTime {
        let secs = self.ts_origin
            + (scn.saturating_sub(self.start_scn) / self.scns_per_second).min(1 << 40) as i64;
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let t = secs.rem_euclid(86_400);
        OraDateTime {
            year: y,
            month: m,
            day: d,
            hour: (t / 3600) as u8,
            minute: (t / 60 % 60) as u8,
            second: (t % 60) as u8,
        }
    }
}

/// Rows LogMiner prints that are not data (SPEC.md §2), added to a transaction on demand
/// ([`SimWorkload`](super::SimWorkload)'s percentages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OddRow {
    /// `STATUS = 2`, made-up columns.
    Undecodable,
    /// Owner `UNKNOWN`, table `OBJ# n`.
    UnknownObject,
    /// `/* No SQL_REDO for temporary tables */`.
    TemporaryTable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Commit,
    Rollback,
    Marker,
}

/// One change of an open transaction, with what undoing it restores.
#[derive(Clone, Debug)]
struct Rec {
    table: u8,
    slot: u32,
    op: ChangeOp,
    scn: u64,
    before: Row,
    after: Row,
    /// Columns the redo carries (bit per column).
    carried: u16,
}

/// A transaction's changes and row locks (table, slot).
type TxnVectors = (Vec<Rec>, Vec<(u8, u32)>);

/// Spare transaction vectors kept (about the number of short transactions open at once).
const SPARE_TXNS: usize = 64;

#[derive(Clone, Debug)]
struct Txn {
    id: u64,
    xid: Xid,
    thread: u16,
    start_scn: u64,
    long: bool,
    left: u32,
    fate: Fate,
    changes: Vec<Rec>,
    locks: Vec<(u8, u32)>,
}

#[derive(Clone, Debug)]
struct TableState {
    /// Row images by slot; key (column 0) 0 = free slot.
    rows: Vec<Row>,
    /// Id of the transaction holding the slot's row lock, 0 = none.
    locks: Vec<u64>,
    live: u32,
    next_key: u64,
}

/// Where a step's output goes: rows (when printing), committed transactions (when collecting
/// the truth).
#[derive(Debug)]
pub(crate) struct Out<'a> {
    pub rows: Option<&'a mut Vec<RedoRow>>,
    pub truth: Option<&'a mut Vec<TruthTxn>>,
    /// The generator's parameters, lent for the whole fetch: borrowing them from here instead
    /// of cloning `Gen::p` per statement saves two atomic reference-count updates each.
    pub p: &'a Params,
}

impl<'a> Out<'a> {
    /// Nothing kept: the generator only moves on.
    pub fn skip(p: &'a Params) -> Self {
        Out {
            rows: None,
            truth: None,
            p,
        }
    }
}

/// See the module documentation.
#[derive(Clone, Debug)]
pub(crate) struct Gen {
    p: Arc<Params>,
    rng: Rng,
    /// SCN of the last step taken (`start_scn` before the first).
    pub last_scn: u64,
    /// SCN of the next step.
    pub next_scn: u64,
    /// DML statements so far (the unit of `rate`).
    pub changes: u64,
    txns: u64,
    tables: Vec<TableState>,
    short: Vec<Txn>,
    long: Vec<Txn>,
    /// Reused SQL_REDO buffer.
    buf: SqlText,
    /// Position of the next row within its step (RS_ID offset).
    row_in_step: u64,
    ts_cache: (u64, OraDateTime),
    /// Emptied vectors of finished transactions, for the next ones.
    spare: Vec<TxnVectors>,
    /// RS_ID of the last (log sequence, block): rows of one step differ in the offset only.
    rs_cache: (u64, u64, [u8; 24]),
    /// (SCN, thread) of the last row, and its timestamp: further rows of a step reuse it and
    /// `rs_cache` without dividing the SCN again.
    at_cache: (u64, u16, OraDateTime),
    /// The closed thread's instance has shut down ([`ClosedThread`]).
    shut_down: bool,
}

impl Gen {
    pub fn new(p: Arc<Params>, seed: u64) -> Gen {
        let tables = p
            .model
            .tables
            .iter()
            .map(|_| TableState {
                rows: vec![EMPTY; p.rows_per_table as usize],
                locks: vec![0; p.rows_per_table as usize],
                live: 0,
                next_key: 1,
            })
            .collect();
        let start = p.start_scn;
        Gen {
            rng: Rng::new(seed),
            last_scn: start,
            next_scn: start + 1,
            changes: 0,
            txns: 0,
            tables,
            short: Vec::new(),
            long: Vec::new(),
            buf: SqlText::default(),
            row_in_step: 0,
            ts_cache: (u64::MAX, OraDateTime::default()),
            spare: Vec::new(),
            rs_cache: (u64::MAX, u64::MAX, *b" 0x000000.00000000.0000 "),
            at_cache: (u64::MAX, 0, OraDateTime::default()),
            shut_down: false,
            p,
        }
    }

    /// The instance of `thread` shuts down at `scn` (`SHUTDOWN IMMEDIATE`): its open
    /// transactions roll back.
    #[cold]
    fn shut_down_thread(&mut self, thread: u16, scn: u64, out: &mut Out<'_>) {
        let mut on_thread = Vec::new();
        for list in [&mut self.short, &mut self.long] {
            let mut i = 0;
            while i < list.len() {
                if list[i].thread == thread {
                    on_thread.push(list.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        on_thread.sort_by_key(|t| t.id);
        for mut txn in on_thread {
            txn.fate = Fate::Rollback;
            self.finish(txn, scn, out);
        }
    }

    /// Takes the step at `next_scn`: its rows go to `out`.
    pub fn step(&mut self, out: &mut Out<'_>) {
        let scn = self.next_scn;
        self.row_in_step = 0;
        if let Some(c) = self.p.closed {
            if scn >= c.from_scn && !self.shut_down {
                self.shut_down = true;
                self.shut_down_thread(c.thread, scn, out);
            }
        }
        self.act(scn, out);
        if self.rng.hit(self.p.p_same) {
            self.act(scn, out);
        }
        self.last_scn = scn;
        let mut next = scn + 1;
        if self.rng.hit(self.p.p_gap) {
            next += 1000 + self.rng.below(19_001);
        }
        self.next_scn = next;
    }

    fn act(&mut self, scn: u64, out: &mut Out<'_>) {
        let nl = self.long.len() as u64;
        if nl > 0 {
            let r = self.rng.below(self.p.long_pause);
            if r < nl {
                let txn = self.long.swap_remove(r as usize);
                self.act_on(txn, scn, out);
                return;
            }
        }
        let ns = self.short.len() as u64;
        if self.rng.below(self.p.concurrency) >= ns {
            self.start(scn, out);
        } else {
            let i = self.rng.below(ns) as usize;
            let txn = self.short.swap_remove(i);
            self.act_on(txn, scn, out);
        }
    }

    fn put_back(&mut self, txn: Txn) {
        if txn.long {
            self.long.push(txn);
        } else {
            self.short.push(txn);
        }
    }

    fn start(&mut self, scn: u64, out: &mut Out<'_>) {
        self.txns += 1;
        let id = self.txns;
        let long = self.rng.hit(self.p.p_long) && self.long.len() < MAX_LONG;
        let r = self.rng.next();
        let fate = if r < self.p.p_rollback {
            Fate::Rollback
        } else if r < self.p.p_marker {
            Fate::Marker
        } else {
            Fate::Commit
        };
        let left = if long {
            self.p.long_statements
        } else {
            self.rng.below(self.p.max_statements) as u32
        };
        let mut thread = 1 + self.rng.below(u64::from(self.p.threads)) as u16;
        if self.p.is_closed(thread, scn) {
            // The instance is down: the session runs on the next one.
            thread = thread % self.p.threads + 1;
        }
        // Undo segment and slot: unique among open transactions (one transaction per slot).
        let usn = u64::from(thread - 1) * 32 + 1 + id % 31;
        let mut slot = (id / 31) % 0x2F;
        let prefix = |slot: u64| (usn << 16) | slot;
        while self
            .short
            .iter()
            .chain(&self.long)
            .any(|t| t.xid.prefix() as u64 == prefix(slot))
        {
            slot = (slot + 1) & 0xFFFF;
        }
        let sqn = id % 0xFFFF_FFFE + 1;
        let xid = Xid((prefix(slot) << 32) | sqn);
        // The vectors of a finished transaction, or new ones sized for a typical short
        // transaction: no allocation or regrowth per statement.
        let (changes, locks) = self
            .spare
            .pop()
            .unwrap_or_else(|| (Vec::with_capacity(8), Vec::with_capacity(8)));
        let mut txn = Txn {
            id,
            xid,
            thread,
            start_scn: scn,
            long,
            left,
            fate,
            changes,
            locks,
        };
        self.control_row(out, &txn, scn, OpCode::START, "set transaction read write;");
        self.statement(&mut txn, scn, out);
        self.put_back(txn);
    }

    fn act_on(&mut self, mut txn: Txn, scn: u64, out: &mut Out<'_>) {
        if txn.left == 0 {
            let commit = txn.fate == Fate::Commit;
            self.finish(txn, scn, out);
            if commit && !self.short.is_empty() && self.rng.hit(self.p.p_shared) {
                let i = self.rng.below(self.short.len() as u64) as usize;
                if self.short[i].fate == Fate::Commit {
                    let other = self.short.swap_remove(i);
                    self.finish(other, scn, out);
                }
            }
            return;
        }
        txn.left -= 1;
        if !txn.changes.is_empty() && self.rng.hit(self.p.p_partial) {
            self.partial_rollback(&mut txn, scn, out);
        } else {
            self.statement(&mut txn, scn, out);
        }
        if self.rng.hit(self.p.p_unsupported) {
            let p = out.p;
            let t = &p.model.tables[0];
            if out.rows.is_some() {
                let mut row = self.row(&txn, scn, OpCode::UNSUPPORTED, txn.xid, Some(t));
                row.sql_redo.push_str("Unsupported");
                row.info.push_str("Unsupported operation");
                if let Some(rows) = out.rows.as_deref_mut() {
                    rows.push(row);
                }
            }
        }
        // The row shapes a real database adds, each drawn only when switched on, so that the
        // workload of every other setting stays the same.
        if self.p.p_undecodable > 0 && self.rng.hit(self.p.p_undecodable) {
            self.odd_row(&txn, scn, OddRow::Undecodable, out);
        }
        if self.p.p_unknown > 0 && self.rng.hit(self.p.p_unknown) {
            self.odd_row(&txn, scn, OddRow::UnknownObject, out);
        }
        if self.p.p_temporary > 0 && self.rng.hit(self.p.p_temporary) {
            self.odd_row(&txn, scn, OddRow::TemporaryTable, out);
        }
        self.put_back(txn);
    }

    /// One row of `txn` that is not data (see [`OddRow`]); the model does not change.
    #[cold]
    fn odd_row(&mut self, txn: &Txn, scn: u64, kind: OddRow, out: &mut Out<'_>) {
        if out.rows.is_none() {
            return;
        }
        let p = out.p;
        let m = &p.model;
        let table = (txn.id % m.tables.len() as u64) as usize;
        let def = &m.tables[table];
        let mut row = self.row(txn, scn, OpCode::INSERT, txn.xid, Some(def));
        // A ROWID no live row has: nothing ever undoes these rows.
        row.row_id = m.rowid_text(table, p.rows_per_table + (txn.id % 64) as u32);
        match kind {
            OddRow::Undecodable => {
                // Redo written before a DDL, mined with the online catalog after it.
                row.status = 2;
                row.info.push_str("Dictionary Mismatch");
                row.sql_redo = format!(
                    "insert into \"{}\".\"{}\"(\"COL 1\",\"COL 2\",\"COL 3\") values \
                     (HEXTORAW('c102'),HEXTORAW('{:x}'),NULL);",
                    def.schema.id.owner, def.schema.id.name, txn.id
                );
            }
            OddRow::UnknownObject => {
                // A table dropped and purged since: LogMiner cannot name it.
                let obj = format!("OBJ# {}", 90_000 + table);
                row.status = 2;
                row.info.push_str("Dictionary Mismatch");
                row.sql_redo = format!(
                    "insert into \"UNKNOWN\".\"{obj}\"(\"COL 1\",\"COL 2\") values \
                     (HEXTORAW('c102'),HEXTORAW('{:x}'));",
                    txn.id
                );
                row.seg_owner = Name::from("UNKNOWN");
                row.table_name = Name::from(obj);
            }
            OddRow::TemporaryTable => {
                row.table_name = Name::from("GTT_SCRATCH");
                row.row_id = ShortText::default();
                row.sql_redo = "/* No SQL_REDO for temporary tables */".to_string();
            }
        }
        if let Some(rows) = out.rows.as_deref_mut() {
            rows.push(row);
        }
    }

    fn finish(&mut self, mut txn: Txn, scn: u64, out: &mut Out<'_>) {
        match txn.fate {
            Fate::Commit | Fate::Marker => {
                if txn.fate == Fate::Marker {
                    self.control_row(out, &txn, scn, OpCode::REPLICATION_MARKER, "");
                }
                self.control_row(out, &txn, scn, OpCode::COMMIT, "commit;");
                if txn.fate == Fate::Commit && !txn.changes.is_empty() {
                    if let Some(truth) = out.truth.as_deref_mut() {
                        truth.push(self.truth_of(&txn, scn));
                    }
                }
            }
            Fate::Rollback => {
                // Half the time LogMiner shows the undo of every change before the ROLLBACK.
                let show_undo = self.rng.next() & 1 == 0;
                while let Some(rec) = txn.changes.pop() {
                    self.undo(&txn, rec, scn, show_undo, out);
                }
                self.control_row(out, &txn, scn, OpCode::ROLLBACK, "rollback;");
            }
        }
        for &(t, s) in &txn.locks {
            if let Some(l) = self.tables[usize::from(t)].locks.get_mut(s as usize) {
                *l = 0;
            }
        }
        if self.spare.len() < SPARE_TXNS {
            txn.changes.clear();
            txn.locks.clear();
            self.spare.push((txn.changes, txn.locks));
        }
    }

    fn truth_of(&self, txn: &Txn, commit_scn: u64) -> TruthTxn {
        let m = &self.p.model;
        let changes = txn
            .changes
            .iter()
            .map(|r| {
                let t = &m.tables[usize::from(r.table)];
                let image = if r.op == ChangeOp::Delete {
                    &r.before
                } else {
                    &r.after
                };
                let fields = t
                    .cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let carried = r.carried & (1 << i) != 0;
                        (carried && !m.is_placeholder(c.kind, image[i])).then(|| {
                            let mut s = String::new();
                            m.push_text(c.kind, image[i], &mut s);
                            s
                        })
                    })
                    .collect();
                let mut row_id = String::new();
                m.push_rowid(usize::from(r.table), r.slot, &mut row_id);
                TruthChange {
                    table: t.schema.id.clone(),
                    op: r.op,
                    scn: Scn(r.scn),
                    row_id,
                    fields,
                }
            })
            .collect();
        TruthTxn {
            xid: txn.xid,
            thread: ThreadId(txn.thread),
            start_scn: Scn(txn.start_scn),
            commit_scn: Scn(commit_scn),
            commit_ts: self.p.timestamp(commit_scn),
            changes,
        }
    }

    /// Picks a table by weight.
    fn pick_table(&mut self) -> usize {
        let mut r = self.rng.below(self.p.weight_total);
        for (i, t) in self.p.model.tables.iter().enumerate() {
            let w = u64::from(t.weight);
            if r < w {
                return i;
            }
            r -= w;
        }
        0
    }

    /// A free, unlocked slot, or a live row `txn` may change.
    #[inline(always)]
    fn probe(&mut self, table: usize, live: bool, txn: u64) -> Option<u32> {
        let n = u64::from(self.p.rows_per_table);
        for _ in 0..4 {
            let s = self.rng.below(n) as usize;
            let t = &self.tables[table];
            let lock = t.locks[s];
            let ok = if live {
                t.rows[s][0] != 0 && (lock == 0 || lock == txn)
            } else {
                t.rows[s][0] == 0 && lock == 0
            };
            if ok {
                return Some(s as u32);
            }
        }
        None
    }

    fn new_value(&mut self, nullable: bool) -> u64 {
        let v = self.rng.next();
        if nullable && v % 10 == 0 {
            0
        } else {
            // Never 0 (NULL); the key kind never comes here.
            v | 1 << 63
        }
    }

    /// One DML statement of `txn` (nothing when no row qualifies).
    fn statement(&mut self, txn: &mut Txn, scn: u64, out: &mut Out<'_>) {
        let table = self.pick_table();
        let cap = self.p.rows_per_table;
        let live = self.tables[table].live;
        let insert_pct = if live < cap / 2 {
            60
        } else if live >= cap - cap / 10 {
            10
        } else {
            35
        };
        let r = self.rng.below(100);
        let mut slot = None;
        let mut op = ChangeOp::Insert;
        if r >= insert_pct {
            op = if r < insert_pct + 15 {
                ChangeOp::Delete
            } else {
                ChangeOp::Update
            };
            slot = self.probe(table, true, txn.id);
        }
        if slot.is_none() {
            op = ChangeOp::Insert;
            slot = self.probe(table, false, txn.id);
        }
        let Some(slot) = slot else { return };
        let partial_xid = self.rng.hit(self.p.p_partial_xid);
        let p = out.p;
        let def = &p.model.tables[table];
        let ncols = def.cols.len();
        let all = ((1u32 << ncols) - 1) as u16;
        let before = self.tables[table].rows[slot as usize];
        let mut after = before;
        let mut carried = all;
        let mut set_mask = 0u16;
        match op {
            ChangeOp::Insert => {
                let st = &mut self.tables[table];
                after[0] = st.next_key;
                st.next_key += 1;
                for (i, c) in def.cols.iter().enumerate().skip(1) {
                    after[i] = self.new_value(c.nullable);
                }
                self.tables[table].live += 1;
            }
            ChangeOp::Update => {
                let n = 1 + self.rng.below(3.min(ncols as u64 - 1));
                for _ in 0..n {
                    let i = 1 + self.rng.below(ncols as u64 - 1) as usize;
                    set_mask |= 1 << i;
                    let c = &def.cols[i];
                    after[i] = self.new_value(c.nullable);
                }
                if self.rng.hit(self.p.p_unlogged) {
                    carried = 1 | set_mask;
                }
            }
            _ => {
                after = EMPTY;
                self.tables[table].live -= 1;
            }
        }
        let st = &mut self.tables[table];
        st.rows[slot as usize] = after;
        if st.locks[slot as usize] != txn.id {
            st.locks[slot as usize] = txn.id;
            txn.locks.push((table as u8, slot));
        }
        self.changes += 1;
        txn.changes.push(Rec {
            table: table as u8,
            slot,
            op,
            scn,
            before,
            after,
            carried,
        });
        if out.rows.is_none() {
            return;
        }
        let m = &p.model;
        let vals = m.sql_values();
        let text = def.text.bytes();
        let mut buf = std::mem::take(&mut self.buf);
        let mut w = buf.writer(def.max_sql);
        let code = match op {
            ChangeOp::Insert => {
                insert_sql(vals, def, &after, &mut w);
                OpCode::INSERT
            }
            ChangeOp::Update => {
                w.push(text, def.update_prefix);
                push_set_list(vals, def, set_mask, &after, &mut w);
                w.push_array(b" where ");
                let mask = if carried == all { all } else { 1 };
                where_sql(vals, def, &before, mask, &mut w);
                w.push_array(b";");
                OpCode::UPDATE
            }
            _ => {
                w.push(text, def.delete_prefix);
                where_sql(vals, def, &before, all, &mut w);
                w.push_array(b";");
                OpCode::DELETE
            }
        };
        let len = w.len();
        buf.set_len(len);
        let xid = if partial_xid {
            Xid(txn.xid.0 | 0xFFFF_FFFF)
        } else {
            txn.xid
        };
        self.dml_rows(out, txn, scn, code, xid, table, slot, false, buf.as_str());
        self.buf = buf;
    }

    /// Undoes the latest change of a random row the transaction changed (ROLLBACK = 1 row).
    fn partial_rollback(&mut self, txn: &mut Txn, scn: u64, out: &mut Out<'_>) {
        let i = self.rng.below(txn.changes.len() as u64) as usize;
        let (t, s) = (txn.changes[i].table, txn.changes[i].slot);
        let j = txn
            .changes
            .iter()
            .rposition(|r| r.table == t && r.slot == s)
            .unwrap_or(i);
        let rec = txn.changes.remove(j);
        self.undo(txn, rec, scn, true, out);
    }

    /// Restores the row `rec` changed; with `show`, prints the undo row (ROLLBACK = 1). An undo
    /// row's only predicate is its ROWID, printed even under `NO_ROWID_IN_STMT`; the engine
    /// matches undo rows by their ROW_ID column and never parses them.
    fn undo(&mut self, txn: &Txn, rec: Rec, scn: u64, show: bool, out: &mut Out<'_>) {
        let table = usize::from(rec.table);
        let st = &mut self.tables[table];
        st.rows[rec.slot as usize] = rec.before;
        match rec.op {
            ChangeOp::Insert => st.live -= 1,
            ChangeOp::Delete => st.live += 1,
            _ => {}
        }
        if !show {
            return;
        }
        self.changes += 1;
        if out.rows.is_none() {
            return;
        }
        let p = out.p;
        let m = &p.model;
        let def = &m.tables[table];
        let vals = m.sql_values();
        let text = def.text.bytes();
        let mut buf = std::mem::take(&mut self.buf);
        let mut w = buf.writer(def.max_sql);
        let code = match rec.op {
            ChangeOp::Insert => {
                w.push(text, def.delete_prefix);
                w.push_array(b"ROWID = '");
                w.push_array(&m.rowid(table, rec.slot));
                w.push_array(b"';");
                OpCode::DELETE
            }
            ChangeOp::Delete => {
                insert_sql(vals, def, &rec.before, &mut w);
                OpCode::INSERT
            }
            _ => {
                w.push(text, def.update_prefix);
                let mut changed: u16 = (1..def.cols.len())
                    .filter(|&i| rec.before[i] != rec.after[i])
                    .fold(0, |m, i| m | 1 << i);
                if changed == 0 {
                    changed = 2;
                }
                push_set_list(vals, def, changed, &rec.before, &mut w);
                w.push_array(b" where ROWID = '");
                w.push_array(&m.rowid(table, rec.slot));
                w.push_array(b"';");
                OpCode::UPDATE
            }
        };
        let len = w.len();
        buf.set_len(len);
        self.dml_rows(
            out,
            txn,
            scn,
            code,
            txn.xid,
            table,
            rec.slot,
            true,
            buf.as_str(),
        );
        self.buf = buf;
    }

    fn ts(&mut self, scn: u64) -> OraDateTime {
        let sec = scn.saturating_sub(self.p.start_scn) / self.p.scns_per_second;
        if self.ts_cache.0 != sec {
            self.ts_cache = (sec, self.p.timestamp(scn));
        }
        self.ts_cache.1
    }

    /// A row with the common columns filled in; owner and table from `table` (empty without),
    /// SQL_REDO, ROW_ID and INFO empty.
    fn row(
        &mut self,
        txn: &Txn,
        scn: u64,
        op: OpCode,
        xid: Xid,
        table: Option<&TableDef>,
    ) -> RedoRow {
        self.row_in_step += 1;
        if (self.at_cache.0, self.at_cache.1) != (scn, txn.thread) {
            let p = &self.p;
            let seq = p.log_seq(txn.thread, scn);
            let block = (scn.saturating_add(p.phase(txn.thread)) % p.log_switch_scns) / 4 + 2;
            // ` 0x000123.00000456.0010 `
            if (self.rs_cache.0, self.rs_cache.1) != (seq, block) {
                let b = &mut self.rs_cache.2;
                hex_into(&mut b[3..9], seq);
                hex_into(&mut b[10..18], block);
                (self.rs_cache.0, self.rs_cache.1) = (seq, block);
            }
            self.at_cache = (scn, txn.thread, self.ts(scn));
        }
        let mut b = self.rs_cache.2;
        hex_into(&mut b[19..23], 0x10 * self.row_in_step);
        let rs_id = ShortText::from_ascii(&b).unwrap_or_default();
        // Names are shared, never allocated per row (not even the empty one).
        let (seg_owner, table_name) = match table {
            Some(t) => (Arc::clone(&t.owner), Arc::clone(&t.name)),
            None => (
                Arc::clone(&self.p.model.no_name),
                Arc::clone(&self.p.model.no_name),
            ),
        };
        RedoRow {
            scn: Scn(scn),
            timestamp: Some(self.at_cache.2),
            xid,
            op,
            seg_owner,
            table_name,
            row_id: ShortText::default(),
            rollback: false,
            csf: false,
            sql_redo: String::new(),
            thread: ThreadId(txn.thread),
            rs_id,
            ssn: 0,
            status: 0,
            info: String::new(),
            commit_scn: None,
            line: 0,
        }
    }

    fn control_row(&mut self, out: &mut Out<'_>, txn: &Txn, scn: u64, op: OpCode, sql: &str) {
        if out.rows.is_none() {
            return;
        }
        let mut row = self.row(txn, scn, op, txn.xid, None);
        row.sql_redo = sql.to_owned();
        if let Some(rows) = out.rows.as_deref_mut() {
            rows.push(row);
        }
    }

    /// The rows of one statement: SQL_REDO over 4000 bytes is split (on character boundaries)
    /// into CSF rows.
    #[allow(clippy::too_many_arguments)]
    fn dml_rows(
        &mut self,
        out: &mut Out<'_>,
        txn: &Txn,
        scn: u64,
        op: OpCode,
        xid: Xid,
        table: usize,
        slot: u32,
        rollback: bool,
        sql: &str,
    ) {
        let p = out.p;
        let def = &p.model.tables[table];
        let mut rest = sql;
        loop {
            let mut cut = rest.len().min(SQL_REDO_PIECE);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (piece, tail) = rest.split_at(cut);
            let mut row = self.row(txn, scn, op, xid, Some(def));
            row.row_id = p.model.rowid_text(table, slot);
            row.rollback = rollback;
            row.csf = !tail.is_empty();
            row.sql_redo = piece.to_owned();
            if let Some(rows) = out.rows.as_deref_mut() {
                rows.push(row);
            }
            if tail.is_empty() {
                break;
            }
            rest = tail;
        }
    }

    /// Committed contents of a table at this point (open transactions' changes undone), as CSV
    /// field text per column, ordered by key.
    pub fn table_contents(&self, table: usize) -> Vec<Vec<String>> {
        let Some(st) = self.tables.get(table) else {
            return Vec::new();
        };
        let mut rows = st.rows.clone();
        for txn in self.short.iter().chain(&self.long) {
            for rec in txn.changes.iter().rev() {
                if usize::from(rec.table) == table {
                    rows[rec.slot as usize] = rec.before;
                }
            }
        }
        let mut rows: Vec<Row> = rows.into_iter().filter(|r| r[0] != 0).collect();
        rows.sort_unstable_by_key(|r| r[0]);
        let m = &self.p.model;
        let def = &m.tables[table];
        rows.iter()
            .map(|r| {
                def.cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let mut s = String::new();
                        m.push_text(c.kind, r[i], &mut s);
                        s
                    })
                    .collect()
            })
            .collect()
    }
}

/// `insert into "O"."T"("A","B") values (a,b);`
fn insert_sql(vals: SqlValues<'_>, def: &TableDef, row: &Row, out: &mut Writer<'_>) {
    let w = &mut out.take();
    w.push(def.text.bytes(), def.insert_prefix);
    for (i, (c, &v)) in def.cols.iter().zip(row).enumerate() {
        if i > 0 {
            w.push_byte(b',');
        }
        vals.push_or_null(c.kind, v, w);
    }
    w.push_array(b");");
    *out = w.take();
}

/// `"A" = v and "B" IS NULL ...` over the columns in `mask` (the caller appends `;`). No
/// `and ROWID = '...'`: redoflow's sessions start LogMiner with `NO_ROWID_IN_STMT` (the row id
/// comes in ROW_ID). An update with unlogged columns still has its own SET columns' before
/// values only when logged: the caller passes the key plus what the redo carries.
fn where_sql(vals: SqlValues<'_>, def: &TableDef, row: &Row, mask: u16, out: &mut Writer<'_>) {
    let w = &mut out.take();
    let mut and = 0;
    for_masked(def, row, mask, |c, v| {
        let [eq, is_null] = &c.cond[and];
        and = 1;
        if v == 0 {
            w.push_piece(is_null);
        } else {
            w.push_piece(eq);
            vals.push(c.kind, v, w);
        }
    });
    *out = w.take();
}

/// `"C1" = v1, "C2" = v2` for the columns whose bit is set in `mask`, values from `values`.
fn push_set_list(
    vals: SqlValues<'_>,
    def: &TableDef,
    mask: u16,
    values: &[u64],
    out: &mut Writer<'_>,
) {
    let w = &mut out.take();
    let mut first = true;
    for_masked(def, values, mask, |c, v| {
        w.push_piece(if first { &c.eq } else { &c.comma_eq });
        first = false;
        vals.push_or_null(c.kind, v, w);
    });
    *out = w.take();
}

/// Calls `f` with each of the table's columns whose bit is set in `mask` (bit `i` for column
/// `i`) and its value, in column order.
#[inline(always)]
fn for_masked(def: &TableDef, values: &[u64], mask: u16, mut f: impl FnMut(&ColDef, u64)) {
    let mut bits = mask;
    for (c, &v) in def.cols.iter().zip(values) {
        let take = bits & 1 != 0;
        bits >>= 1;
        if take {
            f(c, v);
        }
    }
}

/// Writes the low `out.len()` hex digits of `n` (lower case) into `out`.
fn hex_into(out: &mut [u8], n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let width = out.len();
    for (i, b) in out.iter_mut().enumerate() {
        *b = DIGITS[((n >> (4 * (width - 1 - i))) & 0xF) as usize];
    }
}

/// Keeps `mix` referenced from here for the seeds of derived generators.
pub(crate) fn derive_seed(seed: u64, salt: u64) -> u64 {
    mix(seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::config::SimCatalog;
    use crate::sim::model::Kind;

    /// A value as SQL_REDO prints it, the plain way.
    fn value(m: &Model, kind: Kind, v: u64) -> String {
        if v == 0 {
            return "NULL".into();
        }
        let mut s = String::new();
        m.push_sql(kind, v, &mut s);
        s
    }

    fn names(def: &TableDef) -> Vec<String> {
        def.schema.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Runs a statement builder on a fresh text and returns the text.
    fn built(def: &TableDef, f: impl FnOnce(&mut Writer<'_>)) -> String {
        let mut text = SqlText::default();
        let mut w = text.writer(def.max_sql);
        f(&mut w);
        let len = w.len();
        text.set_len(len);
        text.as_str().to_owned()
    }

    /// The statement builders (fixed-size copies from padded pieces) print exactly what
    /// `format!` over the column names and the plainly printed values gives, for every column
    /// subset, NULLs, keys of every width and long CLOBs.
    #[test]
    fn statements_equal_a_plain_rendering() {
        for catalog in [SimCatalog::Mixed, SimCatalog::TenColumns] {
            // Many long CLOBs: values past the fixed copy width and past 4000 bytes.
            let m = Model::new(catalog, 20.0);
            let vals = m.sql_values();
            let mut rng = Rng::new(7);
            for def in &m.tables {
                let n = def.cols.len();
                let names = names(def);
                for round in 0..400u64 {
                    let mut row: Row = [0; MAX_COLS];
                    row[0] = match round % 6 {
                        0 => 1 + round,
                        1 => 9,
                        2 => 10,
                        3 => rng.next() >> (round % 60),
                        4 => u64::MAX,
                        _ => 12_345 + round,
                    };
                    for (i, v) in row.iter_mut().enumerate().take(n).skip(1) {
                        let r = rng.next();
                        *v = if r % 5 == 0 && i % 2 == 1 {
                            0
                        } else {
                            r | 1 << 63
                        };
                    }
                    let mask = match round % 4 {
                        0 => ((1u32 << n) - 1) as u16,
                        1 => 1,
                        _ => (rng.next() as u16) & (((1u32 << n) - 1) as u16),
                    };

                    let expected = format!(
                        "insert into \"SIM\".\"{}\"({}) values ({});",
                        def.name,
                        names
                            .iter()
                            .map(|c| format!("\"{c}\""))
                            .collect::<Vec<_>>()
                            .join(","),
                        def.cols
                            .iter()
                            .zip(row)
                            .map(|(c, v)| value(&m, c.kind, v))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    let got = built(def, |w| insert_sql(vals, def, &row, w));
                    assert_eq!(got, expected);

                    let picked = || {
                        def.cols
                            .iter()
                            .zip(&names)
                            .zip(row)
                            .enumerate()
                            .filter(move |(i, _)| mask & (1 << i) != 0)
                            .map(|(_, x)| x)
                    };
                    let conds: Vec<String> = picked()
                        .map(|((c, name), v)| match v {
                            0 => format!("\"{name}\" IS NULL"),
                            v => format!("\"{name}\" = {}", value(&m, c.kind, v)),
                        })
                        .collect();
                    let expected = conds.join(" and ");
                    let got = built(def, |w| where_sql(vals, def, &row, mask, w));
                    assert_eq!(got, expected);

                    let items: Vec<String> = picked()
                        .map(|((c, name), v)| format!("\"{name}\" = {}", value(&m, c.kind, v)))
                        .collect();
                    let got = built(def, |w| push_set_list(vals, def, mask, &row, w));
                    assert_eq!(got, items.join(", "));
                }
            }
        }
    }
}
