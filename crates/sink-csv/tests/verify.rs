//! `verify` detects damaged, missing and unlisted output.

mod common;

use std::borrow::Cow;
use std::path::Path;

use common::*;
use redoflow_miner::value::Value;
use redoflow_sink_csv::{finish_checkpoint, verify, CsvSink, Problem, Severity};

/// Two finished checkpoints (1 and 2) with one file each in `A.T`.
fn setup(root: &Path) {
    let t = schema("A", "T", &["X"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    for id in 1..=2u64 {
        for i in 0..5u64 {
            let s = format!("v{i}\nwith newline");
            sink.write_row(&t, &meta(i), &[Some(&Value::Text(Cow::Owned(s)))])
                .unwrap();
        }
        let files = sink.prepare().unwrap();
        finish_checkpoint(root, &checkpoint(id, files), false).unwrap();
    }
    let report = verify(root).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checkpoints, report.files, report.rows), (2, 2, 10));
}

const F1: &str = "A.T/0000000001-000000.csv";

fn only_problem(root: &Path) -> Problem {
    let report = verify(root).unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    report.problems[0].clone()
}

#[test]
fn detects_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let p = dir.path().join(F1);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
    let problem = only_problem(dir.path());
    assert!(
        matches!(
            problem,
            Problem::LengthMismatch {
                checkpoint: CheckpointId(1),
                ..
            }
        ),
        "{problem:?}"
    );
    let msg = problem.to_string();
    assert!(msg.contains(F1) && msg.contains("checkpoint 1"), "{msg}");
}

#[test]
fn detects_a_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let p = dir.path().join(F1);
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    std::fs::write(&p, &bytes).unwrap();
    let problem = only_problem(dir.path());
    assert!(
        matches!(
            problem,
            Problem::ChecksumMismatch {
                checkpoint: CheckpointId(1),
                ..
            }
        ),
        "{problem:?}"
    );
    assert!(problem.to_string().contains(F1));
}

#[test]
fn detects_a_deleted_file_and_an_orphan() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    std::fs::remove_file(dir.path().join(F1)).unwrap();
    let problem = only_problem(dir.path());
    assert_eq!(
        problem,
        Problem::MissingFile {
            checkpoint: CheckpointId(1),
            path: F1.to_string()
        }
    );

    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    std::fs::copy(
        dir.path().join(F1),
        dir.path().join("A.T/0000000009-000000.csv"),
    )
    .unwrap();
    let problem = only_problem(dir.path());
    assert_eq!(
        problem,
        Problem::Orphan {
            path: "A.T/0000000009-000000.csv".to_string()
        }
    );
}

#[test]
fn detects_gaps_bad_manifests_row_counts_and_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    // Row count: same bytes, manifest claims another count.
    let m = root.join("_checkpoints/0000000002.json");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.replace("\"rows\": 5", "\"rows\": 6")).unwrap();
    // A gap (3, 4 missing) and an unparseable manifest 5.
    std::fs::write(root.join("_checkpoints/0000000005.json"), b"{not json").unwrap();
    // A leftover in-progress file is only a warning.
    std::fs::write(root.join("A.T/.0000000006-000000-t1.csv.inprogress"), b"x").unwrap();
    let report = verify(root).unwrap();
    let msgs: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(report.problems.len(), 4, "{msgs:#?}");
    assert!(matches!(
        report.problems[0],
        Problem::RowCountMismatch {
            checkpoint: CheckpointId(2),
            expected: 6,
            actual: 5,
            ..
        }
    ));
    assert_eq!(
        report.problems[1],
        Problem::CheckpointGap { after: 2, next: 5 }
    );
    assert_eq!(msgs[1], "checkpoints 3..=4 have no manifest");
    assert!(matches!(
        report.problems[2],
        Problem::UnparseableManifest { .. }
    ));
    assert!(msgs[2].contains("0000000005.json"));
    assert_eq!(report.problems[3].severity(), Severity::Warning);
    assert_eq!(report.warnings().count(), 1);
    assert_eq!(report.errors().count(), 3);
    let shown = report.to_string();
    assert!(
        shown.contains("warning: A.T/.0000000006-000000-t1.csv.inprogress"),
        "{shown}"
    );
    assert!(shown.ends_with("3 errors, 1 warnings\n"), "{shown}");
}

/// A process stopped between renaming checkpoint 2's files and writing its manifest: verify
/// says the next run completes it (a warning, not an error), and recovery does.
#[test]
fn a_checkpoint_without_its_manifest_yet_is_completed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("A", "T", &["X"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    let mut last = None;
    for id in 1..=2u64 {
        sink.write_row(&t, &meta(id), &[Some(&Value::Text(Cow::Borrowed("v")))])
            .unwrap();
        let cp = checkpoint(id, sink.prepare().unwrap());
        finish_checkpoint(root, &cp, false).unwrap();
        last = Some(cp);
    }
    std::fs::remove_file(root.join("_checkpoints/0000000002.json")).unwrap();
    let report = verify(root).unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.problems.len(), 1, "{report}");
    let problem = &report.problems[0];
    assert_eq!(problem.severity(), Severity::Warning);
    let msg = problem.to_string();
    assert!(msg.contains("A.T/0000000002-000000.csv"), "{msg}");
    assert!(
        msg.contains("checkpoint 2") && msg.contains("next run"),
        "{msg}"
    );
    redoflow_sink_csv::recover(root, last.as_ref(), Term(1), false).unwrap();
    let report = verify(root).unwrap();
    assert!(report.problems.is_empty(), "{report}");
}
