//! Positions and checkpoints: the leaf crate every other redoflow crate depends on.
//!
//! - [`Scn`], [`Xid`], [`ThreadId`]: typed positions in Oracle redo. No SCN crosses a crate
//!   boundary as a bare integer or a string.
//! - [`Offset`]: what a restart needs to produce every committed transaction exactly once
//!   (SPEC.md §4): the SCN to resume mining after, and per redo thread the commit watermark plus
//!   the XIDs that committed at exactly that SCN. [`Offset::should_skip`] is the one skip rule.
//! - [`Checkpoint`] and [`FileCommit`]: an agreed point in the output: the offset and the CSV
//!   files finished with it.
//! - [`Term`], [`CheckpointId`], [`NodeId`]: who agreed on a checkpoint, and its place in the
//!   sequence.
//! - [`CheckpointStore`] and [`StoreError`]: the seam between the pipeline and where committed
//!   checkpoints live (a local file, or the Raft group in `redoflow-raft`).
//! - [`SourceFingerprint`]: what makes two nodes' sources the same database.
//! - [`codec`]: bincode inside a versioned envelope, the on-disk and on-wire form of a checkpoint.

pub mod codec;
mod fingerprint;
mod ids;
mod offset;
mod position;
mod store;

pub use fingerprint::SourceFingerprint;
pub use ids::{CheckpointId, NodeId, Term};
pub use offset::{Offset, ThreadWatermark};
pub use position::{ParseXidError, Scn, ThreadId, Xid};
pub use store::{CheckpointStore, StoreError};

use serde::{Deserialize, Serialize};

/// A finished (or to-be-finished) CSV file listed by a checkpoint.
///
/// Paths are relative to the output root and use `/` as separator, so a checkpoint means the same
/// thing on every node that mounts the root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCommit {
    /// `OWNER.TABLE` (or `_rejected` for dead-lettered rows).
    pub table: String,
    /// Final name, e.g. `HR.EMP/0000000007-000000.csv`.
    pub final_path: String,
    /// In-progress name, e.g. `HR.EMP/.0000000007-000000-t1.csv.inprogress`.
    pub inprogress_path: String,
    /// Data rows (the header line is not counted).
    pub rows: u64,
    /// Length of the file in bytes, header included.
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file.
    pub crc32: u32,
}

/// A point the group agreed on: every change up to [`Checkpoint::offset`] is in the listed files
/// or in files of earlier checkpoints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Consecutive, starting at 1.
    pub id: CheckpointId,
    /// Leader term that produced it (0 on a single node).
    pub term: Term,
    pub offset: Offset,
    pub files: Vec<FileCommit>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}
