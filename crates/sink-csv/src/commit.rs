//! Phase 2 of the commit (rename + manifest) and crash recovery.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use redoflow_checkpoint::{Checkpoint, CheckpointId, Term};
use serde::{Deserialize, Serialize};

use crate::naming::{self, CHECKPOINTS_DIR, INPROGRESS_SUFFIX, MANIFEST_TMP_SUFFIX};
use crate::{fsync_dir, io_err, SinkError};

/// Version of the manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// `_checkpoints/<id>.json`: what a downstream loader reads, in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: u64,
    pub term: u64,
    pub created_at_ms: u64,
    pub offset: ManifestOffset,
    pub files: Vec<ManifestFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOffset {
    pub resume_scn: u64,
    pub threads: Vec<ManifestThread>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestThread {
    pub thread: u16,
    pub commit_scn: u64,
    /// 16 upper-case hex digits each.
    pub committed_xids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// `OWNER.TABLE` or `_rejected`.
    pub table: String,
    /// Final path relative to the output root, `/`-separated.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    /// CRC-32 (IEEE) of the whole file, 8 lower-case hex digits.
    pub crc32: String,
}

impl Manifest {
    pub fn from_checkpoint(cp: &Checkpoint) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            id: cp.id.0,
            term: cp.term.0,
            created_at_ms: cp.created_at_ms,
            offset: ManifestOffset {
                resume_scn: cp.offset.resume_scn.0,
                threads: cp
                    .offset
                    .threads
                    .iter()
                    .map(|(t, w)| ManifestThread {
                        thread: t.0,
                        commit_scn: w.commit_scn.0,
                        committed_xids: w.committed_xids.iter().map(|x| x.to_string()).collect(),
                    })
                    .collect(),
            },
            files: cp
                .files
                .iter()
                .map(|f| ManifestFile {
                    table: f.table.clone(),
                    path: f.final_path.clone(),
                    rows: f.rows,
                    bytes: f.bytes,
                    crc32: format!("{:08x}", f.crc32),
                })
                .collect(),
        }
    }
}

/// Absolute path of a root-relative, `/`-separated path from a checkpoint.
pub(crate) fn resolve(root: &Path, rel: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in rel.split('/') {
        p.push(part);
    }
    p
}

/// What finishing one checkpoint did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinishReport {
    pub checkpoint: CheckpointId,
    /// Final paths renamed by this call.
    pub renamed: Vec<String>,
    /// Final paths that were already renamed (an earlier, interrupted finish).
    pub already_final: Vec<String>,
}

/// Phase 2 of a checkpoint, after it is committed: renames every listed in-progress file to its
/// final name, fsyncs the directories, then writes `_checkpoints/<id>.json` atomically.
///
/// Idempotent: a file already renamed is fine, so recovery simply runs it again. A file that
/// exists under neither name is an error ([`SinkError::MissingFile`]): the committed checkpoint
/// promised rows that are gone.
pub fn finish_checkpoint(
    root: &Path,
    checkpoint: &Checkpoint,
    fsync: bool,
) -> Result<(), SinkError> {
    finish_checkpoint_report(root, checkpoint, fsync).map(|_| ())
}

/// [`finish_checkpoint`], reporting which files it renamed.
pub fn finish_checkpoint_report(
    root: &Path,
    checkpoint: &Checkpoint,
    fsync: bool,
) -> Result<FinishReport, SinkError> {
    let mut report = FinishReport {
        checkpoint: checkpoint.id,
        ..FinishReport::default()
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    for f in &checkpoint.files {
        let from = resolve(root, &f.inprogress_path);
        let to = resolve(root, &f.final_path);
        match fs::rename(&from, &to) {
            Ok(()) => report.renamed.push(f.final_path.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if to.is_file() {
                    report.already_final.push(f.final_path.clone());
                } else {
                    return Err(SinkError::MissingFile {
                        checkpoint: checkpoint.id,
                        path: f.final_path.clone(),
                        inprogress_path: f.inprogress_path.clone(),
                    });
                }
            }
            Err(e) => return Err(io_err(&from, e)),
        }
        if let Some(dir) = to.parent() {
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_path_buf());
            }
        }
    }
    if fsync {
        for dir in &dirs {
            fsync_dir(dir)?;
        }
    }
    write_manifest(root, checkpoint, fsync)?;
    tracing::info!(
        checkpoint_id = %checkpoint.id,
        renamed = report.renamed.len(),
        already_final = report.already_final.len(),
        "checkpoint files finished"
    );
    Ok(report)
}

fn write_manifest(root: &Path, checkpoint: &Checkpoint, fsync: bool) -> Result<(), SinkError> {
    let dir = root.join(CHECKPOINTS_DIR);
    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let tmp = dir.join(naming::manifest_tmp_name(checkpoint.id, checkpoint.term));
    let path = dir.join(naming::manifest_file_name(checkpoint.id));
    let manifest = Manifest::from_checkpoint(checkpoint);
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| SinkError::Manifest {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');
    {
        let mut file = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        file.write_all(&json).map_err(|e| io_err(&tmp, e))?;
        if fsync {
            file.sync_all().map_err(|e| io_err(&tmp, e))?;
        }
    }
    fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
    if fsync {
        fsync_dir(&dir)?;
    }
    Ok(())
}

/// What [`recover`] did, for the caller to log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The last committed checkpoint, finished again.
    pub finished: Option<FinishReport>,
    /// In-progress files deleted (no committed checkpoint lists them).
    pub deleted_inprogress: Vec<PathBuf>,
    /// Manifest temp files of interrupted manifest writes.
    pub deleted_temp: Vec<PathBuf>,
    /// Unfinished files of a newer term, left alone: a newer leader is writing them.
    pub kept_newer: Vec<PathBuf>,
}

/// Brings the output root to a clean state after a crash or on becoming leader: finishes the
/// last committed checkpoint again (idempotent), then deletes the in-progress files (table
/// directories and `_rejected`) and manifest temp files of `term` and older terms.
///
/// Files of a newer term belong to a newer leader that may be writing them right now (this
/// node may be a deposed leader recovering late): they are left alone. So are unfinished
/// files whose name carries no term (not written by redoflow).
///
/// The caller must have finished every earlier committed checkpoint (the pipeline finishes each
/// checkpoint before preparing the next), so only the last one can have unrenamed files. No sink
/// of `term` or an older term may be writing under `root` meanwhile.
pub fn recover(
    root: &Path,
    last_committed: Option<&Checkpoint>,
    term: Term,
    fsync: bool,
) -> Result<RecoveryReport, SinkError> {
    let mut report = RecoveryReport::default();
    if !root.exists() {
        return Ok(report);
    }
    if let Some(cp) = last_committed {
        report.finished = Some(finish_checkpoint_report(root, cp, fsync)?);
    }
    for entry in read_dir(root)? {
        let entry = entry.map_err(|e| io_err(root, e))?;
        let dir = entry.path();
        let is_dir = entry.file_type().map_err(|e| io_err(&dir, e))?.is_dir();
        if !is_dir {
            continue;
        }
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let temp = name == CHECKPOINTS_DIR;
        let suffix = if temp {
            MANIFEST_TMP_SUFFIX
        } else if is_output_dir(&name) {
            INPROGRESS_SUFFIX
        } else {
            continue;
        };
        let mut deleted = false;
        for f in read_dir(&dir)? {
            let f = f.map_err(|e| io_err(&dir, e))?;
            let fname = f.file_name();
            let fname = fname.to_string_lossy();
            if !(fname.starts_with('.') && fname.ends_with(suffix)) {
                continue;
            }
            let path = f.path();
            match naming::term_of_unfinished(&fname) {
                Some(t) if t <= term => {}
                Some(_) => {
                    report.kept_newer.push(path);
                    continue;
                }
                None => {
                    tracing::warn!(path = %path.display(), "unfinished file without a term in its name: left alone");
                    continue;
                }
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    deleted = true;
                    if temp {
                        report.deleted_temp.push(path);
                    } else {
                        report.deleted_inprogress.push(path);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path, e)),
            }
        }
        if fsync && deleted {
            fsync_dir(&dir)?;
        }
    }
    if !report.deleted_inprogress.is_empty()
        || !report.deleted_temp.is_empty()
        || !report.kept_newer.is_empty()
    {
        tracing::info!(
            %term,
            deleted_inprogress = report.deleted_inprogress.len(),
            deleted_temp = report.deleted_temp.len(),
            kept_newer = report.kept_newer.len(),
            "deleted unfinished output"
        );
    }
    Ok(report)
}

/// Directories holding CSV files: table directories and `_rejected` (other `_` names belong to
/// other parts of the node).
pub(crate) fn is_output_dir(name: &str) -> bool {
    (!name.starts_with('_') && !name.starts_with('.')) || name == naming::REJECTED_DIR
}

pub(crate) fn read_dir(dir: &Path) -> Result<fs::ReadDir, SinkError> {
    fs::read_dir(dir).map_err(|e| io_err(dir, e))
}
