//! Two-phase commit, rolling, recovery and dead letters, through the public API.

mod common;

use std::borrow::Cow;

use common::*;
use redoflow_checkpoint::{Scn, Xid};
use redoflow_miner::value::{OraDateTime, Value};
use redoflow_sink_csv::{
    finish_checkpoint, recover, verify, CsvSink, Manifest, RejectedRow, SinkError,
};

fn text(s: &str) -> Value<'_> {
    Value::Text(Cow::Borrowed(s))
}

#[test]
fn rows_are_invisible_until_finish_and_finish_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let emp = schema("HR", "EMP", &["ID", "NAME"]);
    let dept = schema("HR", "DEPT", &["ID"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    assert!(sink.prepare().unwrap().is_empty(), "empty prepare");
    assert_eq!(sink.checkpoint_id(), CheckpointId(2));

    sink.write_row(
        &emp,
        &meta(10),
        &[Some(&Value::Number("1")), Some(&text("a"))],
    )
    .unwrap();
    sink.write_row(&dept, &meta(11), &[Some(&Value::Number("7"))])
        .unwrap();
    sink.write_row(&emp, &meta(12), &[Some(&Value::Number("2")), None])
        .unwrap();
    assert!(files_ending(root, ".csv").is_empty());
    let files = sink.prepare().unwrap();
    assert_eq!(sink.checkpoint_id(), CheckpointId(3));
    assert_eq!(
        files.iter().map(|f| f.table.as_str()).collect::<Vec<_>>(),
        ["HR.DEPT", "HR.EMP"]
    );
    assert_eq!(files[1].final_path, "HR.EMP/0000000002-000000.csv");
    assert_eq!(
        files[1].inprogress_path,
        "HR.EMP/.0000000002-000000-t1.csv.inprogress"
    );
    assert_eq!(files[1].rows, 2);
    assert!(
        files_ending(root, ".csv").is_empty(),
        "nothing visible before finish"
    );
    assert_eq!(files_ending(root, ".inprogress").len(), 2);

    // Length and CRC are those of the bytes on disk.
    let bytes = std::fs::read(root.join(&files[1].inprogress_path)).unwrap();
    assert_eq!(bytes.len() as u64, files[1].bytes);
    assert_eq!(crc32fast::hash(&bytes), files[1].crc32);

    let cp = checkpoint(2, files);
    finish_checkpoint(root, &cp, true).unwrap();
    assert_eq!(
        files_ending(root, ".csv"),
        [
            "HR.DEPT/0000000002-000000.csv",
            "HR.EMP/0000000002-000000.csv"
        ]
    );
    assert!(files_ending(root, ".inprogress").is_empty());
    assert_eq!(
        std::fs::read_to_string(root.join("HR.EMP/0000000002-000000.csv")).unwrap(),
        "__op,__scn,__commit_scn,__commit_ts,__xid,ID,NAME\n\
         I,10,11,2024-05-06T07:08:09,ABCD00000000000A,1,a\n\
         I,12,13,2024-05-06T07:08:09,ABCD00000000000C,2,?\n"
    );
    let manifest_path = root.join("_checkpoints/0000000002.json");
    let first = std::fs::read(&manifest_path).unwrap();
    finish_checkpoint(root, &cp, true).unwrap();
    assert_eq!(std::fs::read(&manifest_path).unwrap(), first, "idempotent");

    let json: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(json["format"], 1);
    assert_eq!(json["id"], 2);
    assert_eq!(json["term"], 1);
    assert_eq!(json["offset"]["resume_scn"], 200);
    assert_eq!(json["offset"]["threads"][0]["thread"], 1);
    assert_eq!(json["offset"]["threads"][0]["commit_scn"], 205);
    assert_eq!(
        json["offset"]["threads"][0]["committed_xids"][0],
        "0000000000000002"
    );
    assert_eq!(json["files"][1]["path"], "HR.EMP/0000000002-000000.csv");
    assert_eq!(json["files"][1]["rows"], 2);
    let crc = json["files"][1]["crc32"].as_str().unwrap();
    assert_eq!(crc.len(), 8);
    assert_eq!(crc, format!("{:08x}", crc32fast::hash(&bytes)));
    let m: Manifest = serde_json::from_slice(&first).unwrap();
    assert_eq!(m.files.len(), 2);

    // Checkpoint 1 had no files but the offset moved: a manifest is still written.
    finish_checkpoint(root, &checkpoint(1, Vec::new()), false).unwrap();
    assert!(root.join("_checkpoints/0000000001.json").is_file());
    let report = verify(root).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!((report.checkpoints, report.files, report.rows), (2, 2, 3));

    // The sink refuses to write into a finished checkpoint.
    let err = CsvSink::open(config(root), Term(1), CheckpointId(2)).unwrap_err();
    assert!(matches!(
        err,
        SinkError::CheckpointAlreadyFinished {
            checkpoint: CheckpointId(2),
            ..
        }
    ));
}

#[test]
fn finish_fails_when_a_listed_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("A", "T", &["X"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    sink.write_row(&t, &meta(1), &[Some(&Value::Null)]).unwrap();
    let files = sink.prepare().unwrap();
    std::fs::remove_file(root.join(&files[0].inprogress_path)).unwrap();
    let err = finish_checkpoint(root, &checkpoint(1, files), false).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("A.T/0000000001-000000.csv") && msg.contains("checkpoint 1"),
        "{msg}"
    );
    assert!(!err.is_retryable());
}

#[test]
fn recover_finishes_a_committed_checkpoint_and_drops_an_uncommitted_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("A", "T", &["X"]);

    // Checkpoint 1 committed, node crashed before finish.
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    sink.write_row(&t, &meta(1), &[Some(&text("one"))]).unwrap();
    let cp1 = checkpoint(1, sink.prepare().unwrap());
    drop(sink);
    let report = recover(root, Some(&cp1), Term(1), false).unwrap();
    assert_eq!(
        report.finished.as_ref().unwrap().renamed,
        ["A.T/0000000001-000000.csv"]
    );
    assert!(report.deleted_inprogress.is_empty());
    assert_eq!(table_rows(root, "A.T").len(), 1);

    // Checkpoint 2 prepared but never committed; rows of checkpoint 3 half-written.
    let mut sink = CsvSink::open(config(root), Term(2), CheckpointId(2)).unwrap();
    sink.write_row(&t, &meta(2), &[Some(&text("two"))]).unwrap();
    sink.write_rejected(&RejectedRow {
        scn: Scn(2),
        xid: Xid(2),
        table: "A.T",
        line: 0,
        error: "bad",
        sql_redo: "insert",
    })
    .unwrap();
    let _uncommitted = sink.prepare().unwrap();
    sink.write_row(&t, &meta(3), &[Some(&text("three"))])
        .unwrap();
    drop(sink);
    // A stale manifest temp file from an interrupted finish.
    std::fs::write(root.join("_checkpoints/.0000000002-t2.json.tmp"), b"{").unwrap();
    // A newer leader (term 3) has begun writing meanwhile: a recovery of term 2 (a deposed
    // leader recovering late) must not delete its files.
    let mut newer = CsvSink::open(config(root), Term(3), CheckpointId(2)).unwrap();
    newer
        .write_row(&t, &meta(4), &[Some(&text("newer"))])
        .unwrap();
    let newer_files = newer.prepare().unwrap();
    drop(newer);
    assert_eq!(files_ending(root, ".inprogress").len(), 4);

    let report = recover(root, Some(&cp1), Term(2), false).unwrap();
    assert_eq!(report.finished.as_ref().unwrap().already_final.len(), 1);
    assert_eq!(report.deleted_inprogress.len(), 3);
    assert_eq!(report.deleted_temp.len(), 1);
    assert_eq!(
        report.kept_newer,
        [root.join(&newer_files[0].inprogress_path)]
    );
    assert_eq!(files_ending(root, ".inprogress").len(), 1);

    // The newer leader's own recovery (term 3) removes it, as no committed checkpoint lists it.
    let report = recover(root, Some(&cp1), Term(3), false).unwrap();
    assert_eq!(report.deleted_inprogress.len(), 1);
    assert!(files_ending(root, ".inprogress").is_empty());
    assert!(files_ending(root, ".tmp").is_empty());
    let rows = table_rows(root, "A.T");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][5], "one");
    let v = verify(root).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);

    // Recovery with nothing committed yet, on an empty root.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        recover(empty.path(), None, Term(u64::MAX), true).unwrap(),
        Default::default()
    );
}

#[test]
fn rolls_on_size_with_one_header_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("A", "T", &["X", "Y"]);
    let mut cfg = config(root);
    cfg.max_file_bytes = 300;
    let mut sink = CsvSink::open(cfg, Term(1), CheckpointId(1)).unwrap();
    for i in 0..40u64 {
        let s = format!("row {i}, with comma");
        sink.write_row(&t, &meta(i), &[Some(&text(&s)), Some(&Value::Null)])
            .unwrap();
    }
    let files = sink.prepare().unwrap();
    assert!(files.len() > 3, "{}", files.len());
    for (seq, f) in files.iter().enumerate() {
        assert_eq!(f.final_path, format!("A.T/0000000001-{seq:06}.csv"));
        let bytes = std::fs::read(root.join(&f.inprogress_path)).unwrap();
        assert_eq!(bytes.len() as u64, f.bytes);
        assert_eq!(crc32fast::hash(&bytes), f.crc32);
        assert_eq!(
            records(&root.join(&f.inprogress_path)).len() as u64,
            f.rows + 1
        );
    }
    assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 40);
    finish_checkpoint(root, &checkpoint(1, files), false).unwrap();
    let rows = table_rows(root, "A.T");
    let got: Vec<&str> = rows.iter().map(|r| r[5].as_str()).collect();
    let want: Vec<String> = (0..40).map(|i| format!("row {i}, with comma")).collect();
    assert_eq!(got, want);
}

#[test]
fn rolls_on_schema_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let v1 = schema("A", "T", &["X"]);
    let v2 = v1.with_added_column("Y", "NUMBER");
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    sink.write_row(&v1, &meta(1), &[Some(&Value::Number("1"))])
        .unwrap();
    sink.write_row(&v1, &meta(2), &[Some(&Value::Number("2"))])
        .unwrap();
    sink.write_row(
        &v2,
        &meta(3),
        &[Some(&Value::Number("3")), Some(&Value::Number("30"))],
    )
    .unwrap();
    // Same version number, different columns: still a new file.
    let mut v2b = schema("A", "T", &["X", "Z"]);
    v2b.version = v2.version;
    sink.write_row(&v2b, &meta(4), &[Some(&Value::Number("4")), None])
        .unwrap();
    let err = sink
        .write_row(&v2b, &meta(5), &[None::<&Value>])
        .unwrap_err();
    assert!(err.to_string().contains("A.T"), "{err}");
    let files = sink.prepare().unwrap();
    assert_eq!(files.iter().map(|f| f.rows).collect::<Vec<_>>(), [2, 1, 1]);
    finish_checkpoint(root, &checkpoint(1, files), false).unwrap();
    let headers: Vec<Vec<String>> = files_ending(root, ".csv")
        .iter()
        .filter(|f| f.starts_with("A.T/"))
        .map(|f| records(&root.join(f))[0].clone())
        .collect();
    assert_eq!(headers[0][5..], ["X"]);
    assert_eq!(headers[1][5..], ["X", "Y"]);
    assert_eq!(headers[2][5..], ["X", "Z"]);
    assert_eq!(table_rows(root, "A.T").len(), 4);
}

#[test]
fn rejected_rows_go_to_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = CsvSink::open(config(root), Term(3), CheckpointId(1)).unwrap();
    sink.write_rejected(&RejectedRow {
        scn: Scn(42),
        xid: Xid(0x1F),
        table: "HR.EMP",
        line: 7,
        error: "unexpected token \"(\"",
        sql_redo: "insert into \"HR\".\"EMP\"(\"A\") values ('x,\ny');",
    })
    .unwrap();
    let files = sink.prepare().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].table, "_rejected");
    assert_eq!(
        files[0].inprogress_path,
        "_rejected/.0000000001-000000-t3.csv.inprogress"
    );
    finish_checkpoint(root, &checkpoint(1, files), false).unwrap();
    let recs = records(&root.join("_rejected/0000000001-000000.csv"));
    assert_eq!(
        recs[0],
        ["scn", "xid", "table", "line", "error", "sql_redo"]
    );
    assert_eq!(
        recs[1],
        [
            "42",
            "000000000000001F",
            "HR.EMP",
            "7",
            "unexpected token \"(\"",
            "insert into \"HR\".\"EMP\"(\"A\") values ('x,\ny');"
        ]
    );
    assert!(verify(root).unwrap().problems.is_empty());
}

#[test]
fn every_value_type_round_trips_through_a_csv_reader() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cols = [
        "N", "T", "D", "TS", "TSTZ", "R", "L", "NUL", "MISS", "YM", "DS", "U", "Q,\"C",
    ];
    let t = schema("Weird/Owner", "_tab", &cols);
    let at = OraDateTime::new(2023, 11, 5, 1, 2, 3).unwrap();
    let vals = [
        Value::Number("-0.5"),
        text("multi\r\nline, \"quoted\" ✓"),
        Value::Date(at),
        Value::Timestamp {
            at,
            fraction: "000100",
            tz: None,
        },
        Value::Timestamp {
            at,
            fraction: "",
            tz: Some("-05:00"),
        },
        Value::Raw(Cow::Borrowed("deadBEEF")),
        Value::EmptyLob,
        Value::Null,
        Value::Null, // replaced by None below
        Value::IntervalYearMonth("+01-02"),
        Value::IntervalDaySecond("+03 04:05:06.000007"),
        Value::Unsupported,
        text(""),
    ];
    let mut refs: Vec<Option<&Value<'_>>> = vals.iter().map(Some).collect();
    refs[8] = None;
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    sink.write_row(&t, &meta(5), &refs).unwrap();
    let files = sink.prepare().unwrap();
    assert_eq!(files[0].table, "Weird/Owner._tab");
    assert_eq!(
        files[0].final_path,
        "Weird%2FOwner._tab/0000000001-000000.csv"
    );
    finish_checkpoint(root, &checkpoint(1, files), false).unwrap();
    let recs = records(&root.join("Weird%2FOwner._tab/0000000001-000000.csv"));
    assert_eq!(recs[0][5..], cols);
    assert_eq!(
        recs[1],
        [
            "I",
            "5",
            "6",
            "2024-05-06T07:08:09",
            "ABCD000000000005",
            "-0.5",
            "multi\r\nline, \"quoted\" ✓",
            "2023-11-05 01:02:03",
            "2023-11-05 01:02:03.000100",
            "2023-11-05 01:02:03 -05:00",
            "DEADBEEF",
            // EMPTY_CLOB() / EMPTY_BLOB(): a placeholder for content in later LOB rows, not
            // NULL (SPEC.md §3): the missing marker.
            "?",
            "",
            "?",
            "+01-02",
            "+03 04:05:06.000007",
            "?",
            "",
        ]
    );
}
