//! Rolling per-table CSV writer with two-phase commit (SPEC.md §6). STUB: interface only.

use std::path::{Path, PathBuf};

use redoflow_checkpoint::{Checkpoint, FileCommit, Scn, Xid};
use redoflow_miner::schema::TableSchema;
use redoflow_miner::value::{OraDateTime, Value};

#[derive(Clone, Debug)]
pub struct SinkConfig {
    pub root: PathBuf,
    pub max_file_bytes: u64,
    pub missing_marker: String,
    pub fsync: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOp {
    Insert,
    Update,
    Delete,
    Snapshot,
}

#[derive(Clone, Copy, Debug)]
pub struct RowMeta {
    pub op: RowOp,
    pub scn: Scn,
    pub commit_scn: Scn,
    pub commit_ts: Option<OraDateTime>,
    pub xid: Xid,
}

#[derive(Clone, Copy, Debug)]
pub struct RejectedRow<'a> {
    pub scn: Scn,
    pub xid: Xid,
    pub table: &'a str,
    pub line: u64,
    pub error: &'a str,
    pub sql_redo: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug)]
pub struct CsvSink {
    _private: (),
}

impl CsvSink {
    pub fn open(config: SinkConfig, term: u64, checkpoint_id: u64) -> Result<Self, SinkError> {
        let _ = (config, term, checkpoint_id);
        todo!()
    }
    pub fn write_row(
        &mut self,
        schema: &TableSchema,
        meta: &RowMeta,
        values: &[Option<&Value<'_>>],
    ) -> Result<(), SinkError> {
        let _ = (schema, meta, values);
        todo!()
    }
    pub fn write_rejected(&mut self, row: &RejectedRow<'_>) -> Result<(), SinkError> {
        let _ = row;
        todo!()
    }
    pub fn prepare(&mut self) -> Result<Vec<FileCommit>, SinkError> {
        todo!()
    }
}

pub fn finish_checkpoint(
    root: &Path,
    checkpoint: &Checkpoint,
    fsync: bool,
) -> Result<(), SinkError> {
    let _ = (root, checkpoint, fsync);
    todo!()
}
