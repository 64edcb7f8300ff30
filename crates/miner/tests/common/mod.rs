//! Row builders and a deterministic RNG shared by the transaction-buffer tests.

#![allow(dead_code)]

use redoflow_checkpoint::{Scn, ThreadId, Xid};
use redoflow_miner::{OpCode, RedoRow, ShortText};

/// An XID with undo segment and slot `usn` and sequence `seq`.
pub fn x(usn: u64, seq: u64) -> Xid {
    Xid(usn << 48 | usn << 32 | seq)
}

/// The partial form of `xid` (sequence FFFFFFFF).
pub fn partial(xid: Xid) -> Xid {
    Xid(xid.0 | 0xFFFF_FFFF)
}

/// Row builder: `r(scn, xid, op)` then tweak; `line` is the SCN so errors can be checked.
pub fn r(scn: u64, xid: Xid, op: OpCode) -> RedoRow {
    RedoRow {
        scn: Scn(scn),
        xid,
        op,
        thread: ThreadId(1),
        line: scn,
        ..RedoRow::default()
    }
}

pub fn start(scn: u64, xid: Xid) -> RedoRow {
    r(scn, xid, OpCode::START)
}

pub fn commit(scn: u64, xid: Xid) -> RedoRow {
    r(scn, xid, OpCode::COMMIT)
}

pub fn rollback(scn: u64, xid: Xid) -> RedoRow {
    r(scn, xid, OpCode::ROLLBACK)
}

/// An INSERT into HR.EMP on `row_id` with `sql` as its SQL_REDO.
pub fn ins(scn: u64, xid: Xid, row_id: &str, sql: &str) -> RedoRow {
    RedoRow {
        seg_owner: "HR".into(),
        table_name: "EMP".into(),
        row_id: ShortText::new(row_id).expect("a short row id"),
        sql_redo: sql.into(),
        ..r(scn, xid, OpCode::INSERT)
    }
}

/// The row with CSF = 1 (its SQL_REDO continues in the next row).
pub fn csf(mut row: RedoRow) -> RedoRow {
    row.csf = true;
    row
}

/// The row with ROLLBACK = 1 (it undoes an earlier change).
pub fn undo(mut row: RedoRow) -> RedoRow {
    row.rollback = true;
    row
}

/// xorshift64*: deterministic stream generation from a proptest seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
