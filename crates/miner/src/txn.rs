//! Transaction buffer (SPEC.md §2, §4). STUB: interface only, being implemented.

use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};

use crate::row::RedoRow;
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

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnStats {
    pub rows_seen: u64,
    pub committed: u64,
    pub skipped_already_written: u64,
    pub rolled_back: u64,
    pub replication_markers: u64,
    pub partial_rollbacks: u64,
    pub missing_scn: u64,
    pub unsupported: u64,
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

#[derive(Debug)]
pub struct TxnBuffer {
    _private: (),
}

impl TxnBuffer {
    pub fn new(restart: Offset) -> Self {
        let _ = restart;
        todo!()
    }
    pub fn push(&mut self, row: RedoRow) -> Result<Option<CommittedTxn>, TxnError> {
        let _ = row;
        todo!()
    }
    pub fn offset(&self, processed_through: Scn) -> Offset {
        let _ = processed_through;
        todo!()
    }
    pub fn open_transactions(&self) -> usize {
        todo!()
    }
    pub fn stats(&self) -> &TxnStats {
        todo!()
    }
}
