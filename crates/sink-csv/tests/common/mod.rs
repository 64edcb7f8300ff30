//! Helpers shared by the sink's integration tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use redoflow_checkpoint::{Checkpoint, FileCommit, Offset, Scn, Xid};
pub use redoflow_checkpoint::{CheckpointId, Term};
use redoflow_miner::schema::{Column, TableId, TableSchema};
use redoflow_miner::value::OraDateTime;
use redoflow_sink_csv::{RowMeta, RowOp, SinkConfig};

pub fn config(root: &Path) -> SinkConfig {
    SinkConfig {
        root: root.to_path_buf(),
        max_file_bytes: 1 << 20,
        missing_marker: "?".to_string(),
        fsync: false,
    }
}

pub fn schema(owner: &str, name: &str, cols: &[&str]) -> TableSchema {
    TableSchema::new(
        TableId::new(owner, name),
        cols.iter()
            .enumerate()
            .map(|(i, c)| Column {
                name: c.to_string(),
                data_type: "VARCHAR2".to_string(),
                column_id: i as u32 + 1,
            })
            .collect(),
    )
}

pub fn meta(scn: u64) -> RowMeta {
    RowMeta {
        op: RowOp::Insert,
        scn: Scn(scn),
        commit_scn: Scn(scn + 1),
        commit_ts: OraDateTime::new(2024, 5, 6, 7, 8, 9),
        xid: Xid(0xABCD_0000_0000_0000 | scn),
    }
}

pub fn checkpoint(id: u64, files: Vec<FileCommit>) -> Checkpoint {
    let mut offset = Offset::starting_after(Scn(id * 100));
    offset.record_commit(Default::default(), Scn(id * 100 + 5), Xid(id));
    Checkpoint {
        id: CheckpointId(id),
        term: Term(1),
        offset,
        files,
        created_at_ms: 1_700_000_000_000 + id,
    }
}

/// Every file under `root` (one level of directories), relative, sorted.
pub fn all_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    for d in rd {
        let d = d.unwrap();
        if d.path().is_dir() {
            for f in std::fs::read_dir(d.path()).unwrap() {
                let f = f.unwrap();
                out.push(format!(
                    "{}/{}",
                    d.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

pub fn files_ending(root: &Path, suffix: &str) -> Vec<String> {
    all_files(root)
        .into_iter()
        .filter(|f| f.ends_with(suffix))
        .collect()
}

/// Records of one CSV file parsed with the csv crate (header included).
pub fn records(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_path(path)
        .unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect()
}

/// Data rows of a table directory's finished files in name order, checking that each file starts
/// with exactly one header (first field `__op`) and no later record is a header.
pub fn table_rows(root: &Path, dir: &str) -> Vec<Vec<String>> {
    let dir_path: PathBuf = root.join(dir);
    let mut names: Vec<String> = match std::fs::read_dir(&dir_path) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".csv") && !n.starts_with('.'))
            .collect(),
        Err(_) => return Vec::new(),
    };
    names.sort();
    let mut rows = Vec::new();
    for n in names {
        let recs = records(&dir_path.join(&n));
        assert!(!recs.is_empty(), "{dir}/{n} has no header");
        assert_eq!(recs[0][0], "__op", "{dir}/{n} header");
        for r in &recs[1..] {
            assert_ne!(r[0], "__op", "{dir}/{n} has a second header");
            rows.push(r.clone());
        }
    }
    rows
}

pub fn dirs(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}
