//! The finished output of a run on the simulated Oracle, compared row by row with what the
//! simulated database committed: `redoflow verify --sim`, `redoflow demo` and the cluster tests
//! all end with this check.
//!
//! What the output must hold is decided by its last checkpoint manifest: exactly the
//! transactions that checkpoint's offset counts as written (the skip rule of SPEC.md §4 — per
//! redo thread, commits below the watermark, and those at it whose XID is listed), every
//! change of each in commit order, nothing else. Rows are matched per table and transaction:
//! a transaction's rows missing are *lost*, extra copies *duplicated*, rows whose fields differ
//! (or that belong to no committed transaction) *wrong*.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use redoflow_checkpoint::{CheckpointId, Offset, Scn, ThreadId, ThreadWatermark, Xid};
use redoflow_miner::txn::ChangeOp;
use redoflow_miner::{SimConfig, SimSource};
use redoflow_sink_csv::naming::{self, CHECKPOINTS_DIR};
use redoflow_sink_csv::Manifest;

/// What the comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TruthReport {
    /// The last checkpoint whose manifest decided what must be there (`None`: no checkpoint,
    /// nothing must be there).
    pub checkpoint: Option<CheckpointId>,
    /// Committed transactions and their rows the output must hold.
    pub expected_transactions: u64,
    pub expected_rows: u64,
    /// Rows in finished files.
    pub rows: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub wrong: u64,
    /// Tables whose rows are all there but not in commit order (counted once per table and
    /// per transaction whose changes are out of redo order).
    pub out_of_order_tables: u64,
    /// The first problems found, for the report.
    pub examples: Vec<String>,
}

impl TruthReport {
    /// True when the output is exactly the truth.
    pub fn is_exact(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.wrong == 0 && self.out_of_order_tables == 0
    }

    fn problem(&mut self, text: String) {
        if self.examples.len() < 10 {
            self.examples.push(text);
        }
    }
}

impl fmt::Display for TruthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.checkpoint {
            Some(id) => writeln!(f, "ground truth up to checkpoint {id}:")?,
            None => writeln!(f, "ground truth: no checkpoint yet, no row expected")?,
        }
        writeln!(
            f,
            "  expected {} rows of {} transactions, found {} rows",
            self.expected_rows, self.expected_transactions, self.rows
        )?;
        write!(
            f,
            "  lost {}, duplicated {}, wrong {}",
            self.lost, self.duplicated, self.wrong
        )?;
        if self.out_of_order_tables > 0 {
            write!(f, ", tables out of order {}", self.out_of_order_tables)?;
        }
        writeln!(f)?;
        for e in &self.examples {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}", path = path.display())]
    Bad { path: PathBuf, message: String },
    #[error("the simulator settings are invalid: {0}")]
    Sim(String),
}

/// Compares the finished files under `out` with the simulated database `sim` describes, up to
/// the output's last checkpoint. `missing_marker` is the text written for a column the redo does
/// not carry (`output.missing_marker`).
pub fn compare_with_sim(
    out: &Path,
    sim: &SimConfig,
    missing_marker: &str,
) -> Result<TruthReport, TruthError> {
    compare(out, sim, missing_marker, false)
}

/// [`compare_with_sim`] on an output that a running node is writing (the soak's samples): a
/// checkpoint's files are renamed before its manifest is written, and more checkpoints commit
/// while the comparison reads, so finished files of checkpoints after the last manifest read
/// are left out. Orphan files are not this check's business then: `verify` finds those.
pub fn compare_with_sim_live(
    out: &Path,
    sim: &SimConfig,
    missing_marker: &str,
) -> Result<TruthReport, TruthError> {
    compare(out, sim, missing_marker, true)
}

fn compare(
    out: &Path,
    sim: &SimConfig,
    missing_marker: &str,
    live: bool,
) -> Result<TruthReport, TruthError> {
    let mut report = TruthReport::default();
    let Some((id, offset)) = last_offset(out)? else {
        // Nothing committed: no finished row may exist.
        report.rows = count_finished_rows(out, live.then_some(CheckpointId(0)))?;
        report.wrong = report.rows;
        if report.rows > 0 {
            report.problem(format!("{} finished rows but no checkpoint", report.rows));
        }
        return Ok(report);
    };
    report.checkpoint = Some(id);
    let source = SimSource::new(sim.clone()).map_err(|e| TruthError::Sim(e.to_string()))?;
    // Per table: the expected lines of each transaction, and the transactions in commit order.
    let mut expected: BTreeMap<String, TableRows> = BTreeMap::new();
    for txn in source.truth(offset.max_commit_scn()) {
        if !offset.should_skip(txn.thread, txn.commit_scn, txn.xid) {
            continue;
        }
        report.expected_transactions += 1;
        for c in &txn.changes {
            let op = match c.op {
                ChangeOp::Insert => "I",
                ChangeOp::Update => "U",
                ChangeOp::Delete => "D",
                // Not rows: DDL, and what is never written as data.
                ChangeOp::Ddl
                | ChangeOp::Unknown(_)
                | ChangeOp::Undecodable
                | ChangeOp::Unsupported => continue,
            };
            let mut fields = vec![
                op.to_string(),
                c.scn.to_string(),
                txn.commit_scn.to_string(),
                txn.commit_ts.iso().to_string(),
                txn.xid.to_string(),
            ];
            fields.extend(
                c.fields
                    .iter()
                    .map(|f| f.clone().unwrap_or_else(|| missing_marker.to_string())),
            );
            expected
                .entry(naming::table_dir_name(&c.table.to_string()))
                .or_default()
                .push(txn.xid, fields);
            report.expected_rows += 1;
        }
    }
    let mut actual = read_finished(out, live.then_some(id))?;
    report.rows = actual.values().map(|t| t.rows).sum();
    for (table, want) in &expected {
        let got = actual.remove(table).unwrap_or_default();
        compare_table(table, want, &got, &mut report);
    }
    for (table, got) in actual {
        report.wrong += got.rows;
        report.problem(format!(
            "{table}: {} rows, but no committed change of this table",
            got.rows
        ));
    }
    Ok(report)
}

/// One table's rows grouped by transaction, and the transactions in the order their first row
/// appears.
#[derive(Debug, Default)]
struct TableRows {
    by_xid: HashMap<Xid, Vec<Vec<String>>>,
    order: Vec<Xid>,
    rows: u64,
}

impl TableRows {
    fn push(&mut self, xid: Xid, fields: Vec<String>) {
        let rows = self.by_xid.entry(xid).or_default();
        if rows.is_empty() {
            self.order.push(xid);
        }
        rows.push(fields);
        self.rows += 1;
    }
}

fn compare_table(table: &str, want: &TableRows, got: &TableRows, report: &mut TruthReport) {
    let mut exact = true;
    for xid in &want.order {
        let w = &want.by_xid[xid];
        let g = got.by_xid.get(xid).map_or(&[][..], Vec::as_slice);
        if w.as_slice() == g {
            continue;
        }
        exact = false;
        // Rows found as they should be are matched first; of the rest, as many as both sides
        // have are wrong, the remainder lost (expected, not found) or duplicated (found again).
        let mut unmatched: Vec<&Vec<String>> = g.iter().collect();
        let mut missing: Vec<&Vec<String>> = Vec::new();
        for row in w {
            match unmatched.iter().position(|r| *r == row) {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => missing.push(row),
            }
        }
        let wrong = missing.len().min(unmatched.len());
        for (m, u) in missing.iter().zip(&unmatched).take(3) {
            report.problem(format!("{table}: XID {xid}: expected {m:?}, found {u:?}"));
        }
        report.wrong += wrong as u64;
        if missing.len() > wrong {
            report.lost += (missing.len() - wrong) as u64;
            report.problem(format!(
                "{table}: XID {xid}: {} of its {} rows missing",
                missing.len() - wrong,
                w.len()
            ));
        }
        if unmatched.len() > wrong {
            report.duplicated += (unmatched.len() - wrong) as u64;
            report.problem(format!(
                "{table}: XID {xid}: {} rows, {} expected",
                g.len(),
                w.len()
            ));
        }
        if missing.is_empty() && unmatched.is_empty() {
            report.out_of_order_tables += 1;
            report.problem(format!("{table}: XID {xid}: changes not in redo order"));
        }
    }
    for xid in &got.order {
        if !want.by_xid.contains_key(xid) {
            exact = false;
            let n = got.by_xid[xid].len() as u64;
            report.wrong += n;
            report.problem(format!(
                "{table}: XID {xid}: {n} rows of a transaction that is not committed up to the checkpoint"
            ));
        }
    }
    // Every transaction exact: they must also follow each other in commit order.
    if exact && want.order != got.order {
        report.out_of_order_tables += 1;
        report.problem(format!("{table}: transactions not in commit order"));
    }
}

/// The id and offset of the newest checkpoint manifest under `out`.
fn last_offset(out: &Path) -> Result<Option<(CheckpointId, Offset)>, TruthError> {
    let dir = out.join(CHECKPOINTS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TruthError::Io { path: dir, source }),
    };
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in entries {
        let entry = entry.map_err(|source| TruthError::Io {
            path: dir.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(digits) = name.strip_suffix(".json").filter(|d| !d.starts_with('.')) else {
            continue;
        };
        let Ok(id) = digits.parse::<u64>() else {
            continue;
        };
        if newest.as_ref().is_none_or(|(n, _)| id > *n) {
            newest = Some((id, entry.path()));
        }
    }
    let Some((_, path)) = newest else {
        return Ok(None);
    };
    let bytes = fs::read(&path).map_err(|source| TruthError::Io {
        path: path.clone(),
        source,
    })?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| TruthError::Bad {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut offset = Offset::starting_after(Scn(m.offset.resume_scn));
    for t in &m.offset.threads {
        let mut committed_xids = std::collections::BTreeSet::new();
        for x in &t.committed_xids {
            committed_xids.insert(x.parse::<Xid>().map_err(|e| TruthError::Bad {
                path: path.clone(),
                message: e.to_string(),
            })?);
        }
        offset.threads.insert(
            ThreadId(t.thread),
            ThreadWatermark {
                commit_scn: Scn(t.commit_scn),
                committed_xids,
            },
        );
    }
    Ok(Some((CheckpointId(m.id), offset)))
}

/// Every table directory's finished rows, by directory name, in file (= commit) order.
fn read_finished(
    out: &Path,
    through: Option<CheckpointId>,
) -> Result<BTreeMap<String, TableRows>, TruthError> {
    let mut tables = BTreeMap::new();
    for (dir_name, files) in finished_files(out, through)? {
        let mut rows = TableRows::default();
        for path in files {
            let mut reader = csv::Reader::from_path(&path).map_err(|e| TruthError::Bad {
                path: path.clone(),
                message: e.to_string(),
            })?;
            for (line, record) in reader.records().enumerate() {
                let record = record.map_err(|e| TruthError::Bad {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let fields: Vec<String> = record.iter().map(str::to_string).collect();
                let xid = fields
                    .get(4)
                    .and_then(|x| x.parse::<Xid>().ok())
                    .ok_or_else(|| TruthError::Bad {
                        path: path.clone(),
                        message: format!("line {}: no XID in the fifth field", line + 2),
                    })?;
                rows.push(xid, fields);
            }
        }
        tables.insert(dir_name, rows);
    }
    Ok(tables)
}

fn count_finished_rows(out: &Path, through: Option<CheckpointId>) -> Result<u64, TruthError> {
    Ok(read_finished(out, through)?.values().map(|t| t.rows).sum())
}

/// Finished `*.csv` files of each table directory, sorted by name; with `through`, only those
/// of checkpoints up to it.
fn finished_files(
    out: &Path,
    through: Option<CheckpointId>,
) -> Result<BTreeMap<String, Vec<PathBuf>>, TruthError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TruthError::Io { path, source }
    };
    let mut result = BTreeMap::new();
    let entries = match fs::read_dir(out) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(result),
        Err(e) => return Err(io(out)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io(out))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('_') || name.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let mut files: Vec<PathBuf> = Vec::new();
        for f in fs::read_dir(entry.path()).map_err(io(&entry.path()))? {
            let f = f.map_err(io(&entry.path()))?;
            let fname = f.file_name().to_string_lossy().into_owned();
            let later = through
                .is_some_and(|t| naming::checkpoint_of_final(&fname).is_some_and(|id| id > t));
            if fname.ends_with(".csv") && !fname.starts_with('.') && !later {
                files.push(f.path());
            }
        }
        files.sort();
        result.insert(name, files);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint's files renamed before its manifest is written: an orphan to the final
    /// check, not yet covered to a live one.
    #[test]
    fn a_live_comparison_leaves_out_files_after_the_last_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("SIM.T");
        fs::create_dir_all(&table).unwrap();
        fs::write(
            table.join(naming::final_file_name(CheckpointId(2), 0)),
            "__op,__scn,__commit_scn,__commit_ts,__xid,A\nI,5,6,2024-01-01T00:00:00,0001000200000003,x\n",
        )
        .unwrap();
        let sim = SimConfig::default();
        let done = compare_with_sim(dir.path(), &sim, "__missing__").unwrap();
        assert_eq!((done.rows, done.wrong), (1, 1));
        let live = compare_with_sim_live(dir.path(), &sim, "__missing__").unwrap();
        assert_eq!(live.rows, 0);
        assert!(live.is_exact());
    }
}
