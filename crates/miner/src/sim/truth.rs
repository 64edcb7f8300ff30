//! Ground truth: what the simulated database committed, in the form the CSV output must have.

use redoflow_checkpoint::{Scn, ThreadId, Xid};

use crate::schema::TableId;
use crate::txn::ChangeOp;
use crate::value::OraDateTime;

/// A committed transaction as it must appear in the CSV output: one line per change, in this
/// order. Transactions rolled back, marked for another replication stream (OPERATION_CODE 27)
/// or left without changes by partial rollbacks are not part of the truth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthTxn {
    pub xid: Xid,
    pub thread: ThreadId,
    pub start_scn: Scn,
    pub commit_scn: Scn,
    /// The COMMIT row's TIMESTAMP (`__commit_ts`).
    pub commit_ts: OraDateTime,
    /// Surviving changes (after partial rollbacks) in redo order.
    pub changes: Vec<TruthChange>,
}

/// One change and the CSV field text the writer must produce for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruthChange {
    pub table: TableId,
    /// `Insert`, `Update` or `Delete` (`__op` I, U, D).
    pub op: ChangeOp,
    /// The change's SCN (`__scn`).
    pub scn: Scn,
    pub row_id: String,
    /// Per column in COLUMN_ID order, the field text before CSV quoting (SPEC.md §6): NULL is
    /// `Some("")`; `None` is a column the redo does not carry, or carries only as an
    /// `EMPTY_CLOB()` placeholder (the writer's missing marker).
    pub fields: Vec<Option<String>>,
}
