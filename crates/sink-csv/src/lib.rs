//! Rolling per-table CSV writer with two-phase commit on checkpoints (SPEC.md §6).
//!
//! Parts and how they fit:
//! - [`CsvSink`] (`sink.rs`): the pipeline thread writes change rows ([`CsvSink::write_row`])
//!   and dead-letter rows ([`CsvSink::write_rejected`]) into per-table *in-progress* files
//!   (`.<id>-<seq>-t<term>.csv.inprogress`). A table's file rolls at `max_file_bytes` and when
//!   its schema changes, so one file never mixes two headers. A rolled file's data is made
//!   durable (`fdatasync`) on a helper thread while rows go on into the next file.
//! - Phase 1, [`CsvSink::prepare`]: at a checkpoint every file written since the last one is
//!   flushed and fsynced (the open ones in parallel, after waiting for the syncs of rolled ones)
//!   and returned as [`FileCommit`]s (rows, bytes, CRC-32 computed while writing). The caller
//!   puts them into the [`Checkpoint`] it commits (through Raft).
//! - Phase 2, [`finish_checkpoint`] (`commit.rs`): only after the commit, the files are renamed
//!   to their final `<id>-<seq>.csv` names and `_checkpoints/<id>.json` is written. It is
//!   idempotent, so [`recover`] re-runs it for the last committed checkpoint and then deletes
//!   every in-progress file no committed checkpoint lists.
//! - [`verify`] (`verify.rs`): checks finished files against the manifests.
//! - `encode.rs`: the allocation-free row encoder; `naming.rs`: the on-disk names.
//! - `transcode.rs`: the fast path of [`CsvSink::write_statement`]: a statement in the exact
//!   layout LogMiner prints goes straight from SQL_REDO to its CSV line, no parsed row in
//!   between; anything else is declined and takes the parser and [`CsvSink::write_row`], which
//!   write the same line (property-tested).
//!
//! Durability contract: a row is durable once `prepare` returned its file; it is visible to
//! downstream readers (a `*.csv` name) only once `finish_checkpoint` ran for a committed
//! checkpoint listing it. Rows of a checkpoint that is never committed are deleted by `recover`
//! and must be produced again by re-mining from the last committed offset.

mod commit;
mod encode;
pub mod naming;
mod sink;
mod transcode;

/// The writer's fast path side by side with the general path, for the fuzz target.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use transcode::compare as fuzzing;
mod verify;

use std::path::{Path, PathBuf};

pub use commit::{
    finish_checkpoint, finish_checkpoint_report, recover, FinishReport, Manifest, ManifestFile,
    ManifestOffset, ManifestThread, RecoveryReport, MANIFEST_FORMAT,
};
pub use redoflow_checkpoint::{Checkpoint, FileCommit};
pub use sink::CsvSink;
pub use verify::{scan_csv, verify, CsvScan, Problem, Severity, VerifyReport};

use redoflow_checkpoint::{CheckpointId, Scn, Xid};
use redoflow_miner::value::OraDateTime;

/// The sink's configuration section (the root crate maps its serde config onto it).
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Output root shared by all nodes.
    pub root: PathBuf,
    /// A file rolls once it reached this size (checked after each row).
    pub max_file_bytes: u64,
    /// Written for a column whose value the redo does not carry; must differ from NULL (empty).
    pub missing_marker: String,
    /// fsync files and directories; off only for tests and benchmarks.
    pub fsync: bool,
}

impl SinkConfig {
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 128 * 1024 * 1024;
    /// The marker's default everywhere (the config's `output.missing_marker` included).
    pub const DEFAULT_MISSING_MARKER: &'static str = "__missing__";

    /// Defaults: 128 MiB files, `__missing__` marker, fsync on.
    pub fn new(root: impl Into<PathBuf>) -> SinkConfig {
        SinkConfig {
            root: root.into(),
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            missing_marker: Self::DEFAULT_MISSING_MARKER.to_string(),
            fsync: true,
        }
    }
}

/// `__op`: `I`, `U`, `D`, `R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOp {
    Insert,
    Update,
    Delete,
    /// Initial-snapshot row (`R`).
    Snapshot,
}

/// The metadata columns of one change row.
#[derive(Clone, Copy, Debug)]
pub struct RowMeta {
    pub op: RowOp,
    /// SCN of the change.
    pub scn: Scn,
    /// SCN and time of its transaction's commit.
    pub commit_scn: Scn,
    pub commit_ts: Option<OraDateTime>,
    pub xid: Xid,
}

/// A change the pipeline could not turn into a row (dead letter).
#[derive(Clone, Copy, Debug)]
pub struct RejectedRow<'a> {
    pub scn: Scn,
    pub xid: Xid,
    /// `OWNER.TABLE` as far as known.
    pub table: &'a str,
    /// Position of the statement in the source (row number of a replay export, or 0).
    pub line: u64,
    pub error: &'a str,
    pub sql_redo: &'a str,
}

/// Errors of the sink. After any error the sink instance is unusable: drop it, [`recover`],
/// and open a new one. [`SinkError::is_retryable`] tells whether that is worth trying.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("table {table}: row has {actual} values, the schema has {expected} columns")]
    ColumnCount {
        table: String,
        expected: usize,
        actual: usize,
    },
    #[error(
        "checkpoint {checkpoint}: file {path} is missing (neither it nor {inprogress_path} exists)"
    )]
    MissingFile {
        checkpoint: CheckpointId,
        path: String,
        inprogress_path: String,
    },
    #[error("checkpoint {checkpoint} is already finished in this output ({path} exists), but the checkpoint store's last checkpoint is older: the node's state was lost (its state dir deleted, or another one configured). Restore the state dir (checkpoint.state_dir, by default <output>/_state), or start over with an empty output directory", path = path.display())]
    CheckpointAlreadyFinished {
        checkpoint: CheckpointId,
        path: PathBuf,
    },
    #[error("manifest {path}: {reason}", path = path.display())]
    Manifest { path: PathBuf, reason: String },
}

impl SinkError {
    /// I/O errors may be transient (full disk, a shared mount hiccup): recover and retry. The
    /// others need a fix (caller bug or lost output).
    pub fn is_retryable(&self) -> bool {
        matches!(self, SinkError::Io { .. })
    }
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes new, renamed and removed entries of `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), SinkError> {
    let f = std::fs::File::open(dir).map_err(|e| io_err(dir, e))?;
    f.sync_all().map_err(|e| io_err(dir, e))
}
