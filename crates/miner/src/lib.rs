//! Mining: turning LogMiner rows into committed transactions.
//!
//! - [`source`]: the [`LogSource`] seam (no Oracle types visible) and its error classes.
//! - [`replay`]: [`ReplaySource`], a recorded SQLcl export of V$LOGMNR_CONTENTS (SPEC.md §10).
//! - [`row`]: [`RedoRow`], one V$LOGMNR_CONTENTS row, and operation codes.
//! - [`txn`]: [`TxnBuffer`], a pure state machine from rows to committed transactions in commit
//!   order, keeping the restart [`Offset`](redoflow_checkpoint::Offset) right.
//! - [`sql`]: the SQL_REDO parser, a scanner that borrows values from the statement text.
//! - [`value`], [`schema`]: typed values and table definitions shared with the CSV writer.
//! - [`planner`]: the pure adaptive batch planner that turns row targets into SCN windows.

pub mod conformance;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod planner;
pub mod replay;
pub mod row;
pub mod schema;
pub mod sim;
pub mod source;
pub mod sql;
mod sqlcl_csv;
pub mod txn;
pub mod value;

pub use replay::ReplaySource;
pub use row::{OpCode, RedoRow};
pub use schema::{Column, SchemaCatalog, TableId, TableSchema};
pub use sim::{SimConfig, SimSource};
pub use source::{LogSource, SourceError};
pub use txn::{Change, ChangeOp, CommittedTxn, TxnBuffer};
pub use value::{OraDateTime, Value};
