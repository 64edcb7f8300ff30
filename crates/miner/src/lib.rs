//! Mining: turning LogMiner rows into committed transactions.
//!
//! - [`source`]: the [`LogSource`] seam (no Oracle types visible) and its error classes.
//! - [`replay`]: [`ReplaySource`], a recorded SQLcl export of V$LOGMNR_CONTENTS (SPEC.md §10).
//! - [`row`]: [`RedoRow`], one V$LOGMNR_CONTENTS row, and operation codes.
//! - [`txn`]: [`TxnBuffer`], a pure state machine from rows to committed transactions in commit
//!   order, keeping the restart [`Offset`](redoflow_checkpoint::Offset) right.
//! - [`sql`]: the SQL_REDO parser, a scanner that borrows values from the statement text.
//! - [`value`], [`schema`]: typed values and table definitions shared with the CSV writer;
//!   [`decimal`]: the integer printing both the simulator and the CSV writer use.
//! - [`paced`]: [`paced::Paced`], a recorded export played back at a pace of rows per second.
//! - [`planner`]: the pure adaptive batch planner that turns row targets into SCN windows.
//! - [`sim`]: [`SimSource`], a seeded, deterministic simulated Oracle with its ground truth
//!   and fault injection (the demo, the benchmarks and the HA tests run on it).
//! - `oracle` (feature `oracle`): the live source, LogMiner over the `oracle` crate, with log
//!   selection, the ORA error table and the preflight checks.
//! - [`conformance`]: the checks every `LogSource` must pass.
//! - [`units`]: the duration syntax of every config section (`"30s"`, `"4h"`).
//!
//! Data flow: a source's windows of [`RedoRow`]s → [`TxnBuffer`] (CSF stitching, partial
//! rollbacks, commit order, spill to disk) → [`CommittedTxn`]s whose changes are parsed once by
//! [`sql::parse`] on the writer's side.

pub mod conformance;
pub mod decimal;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod paced;
pub mod planner;
pub mod replay;
pub mod row;
pub mod schema;
pub mod sim;
pub mod source;
pub mod sql;
mod sqlcl_csv;
pub mod txn;
pub mod units;
pub mod value;

pub use replay::ReplaySource;
pub use row::{OpCode, RedoRow, ShortText};
pub use schema::{Column, SchemaCatalog, TableId, TableSchema};
pub use sim::{SimCatalog, SimConfig, SimSource};
pub use source::{LogSource, SourceError, StartAt};
pub use txn::{Change, ChangeOp, CommittedTxn, TxnBuffer};
pub use value::{OraDateTime, Value};
