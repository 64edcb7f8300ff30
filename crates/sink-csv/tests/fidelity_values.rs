//! Statements real LogMiner output contains that the writer used to refuse or misread (issue
//! 14, items 13 to 15), written the way the pipeline writes them: the fast path first, the
//! parser's row image when it declines.

mod common;
use common::*;

use redoflow_miner::sql::{parse_row, RowBuffers};
use redoflow_miner::TableSchema;
use redoflow_sink_csv::{finish_checkpoint, CsvSink, RowMeta, RowOp};

/// Writes `sql` as the pipeline's writer does; true when the fast path took it.
fn write(sink: &mut CsvSink, schema: &TableSchema, meta: &RowMeta, sql: &str) -> bool {
    if sink.write_statement(schema, meta, sql).unwrap() {
        return true;
    }
    let mut buffers = RowBuffers::default();
    let row = parse_row(sql, schema, &mut buffers).unwrap_or_else(|e| panic!("{e:?}: {sql}"));
    sink.write_row(schema, meta, &row.values).unwrap();
    false
}

fn lines(root: &std::path::Path, files: Vec<redoflow_checkpoint::FileCommit>) -> Vec<Vec<String>> {
    let path = root.join(&files[0].final_path);
    finish_checkpoint(root, &checkpoint(1, files), false).unwrap();
    let mut r = csv::Reader::from_path(path).unwrap();
    r.records()
        .map(|rec| rec.unwrap().iter().skip(5).map(str::to_string).collect())
        .collect()
}

/// LogMiner prints some updates and deletes with a table alias, every column qualified by it
/// (DBZ-4194, Debezium PR 2854: `update "DEBEZIUM"."TEST" a set a."COL1" = '1', a."COL2" =
/// NULL where a."ID" = '1';`; Oracle Database Utilities, "Querying V$LOGMNR_CONTENTS Based on
/// XMLType Columns and Tables", prints `update "SCOTT"."XML_CLOB_COL_TAB" a set a."F3" = ...
/// where a."F1" = '5010'`). They used to fail with `Expected("set")`. The fast path declines
/// them; the parser reads them.
#[test]
fn aliased_updates_and_deletes_are_rows() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("DEBEZIUM", "TEST", &["ID", "COL1", "COL2"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    let m = |op, scn| RowMeta { op, ..meta(scn) };
    write(
        &mut sink,
        &t,
        &m(RowOp::Insert, 10),
        r#"insert into "DEBEZIUM"."TEST"("ID","COL1","COL2") values ('1','a','b');"#,
    );
    assert!(!write(
        &mut sink,
        &t,
        &m(RowOp::Update, 11),
        r#"update "DEBEZIUM"."TEST" a set a."COL1" = '1', a."COL2" = NULL where a."ID" = '1' and a."COL1" = 'a' and a."COL2" = 'b';"#,
    ));
    assert!(!write(
        &mut sink,
        &t,
        &m(RowOp::Delete, 12),
        r#"delete from "DEBEZIUM"."TEST" a where a."ID" = '1' and a."COL1" = '1' and a."COL2" IS NULL;"#,
    ));
    let files = sink.prepare().unwrap();
    assert_eq!(
        lines(root, files),
        [["1", "a", "b"], ["1", "1", ""], ["1", "1", ""]]
    );
}

/// Oracle 23ai prints JSON column values with a type comment: `/* JSON */ HEXTORAW('…')` (the
/// binary OSON image) or `/* JSON */ EMPTY_BLOB()` (Debezium dbz#1884). They used to fail with
/// `BadValue` at the comment. The OSON image is written as upper-case hex, like RAW; the empty
/// placeholder as the missing marker.
#[test]
fn json_columns_with_a_type_comment_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("APP", "DOCS", &["ID", "DOC"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    write(
        &mut sink,
        &t,
        &meta(10),
        r#"insert into "APP"."DOCS"("ID","DOC") values ('1',/* JSON */ HEXTORAW('ff4a5a01210a'));"#,
    );
    assert!(!write(
        &mut sink,
        &t,
        &meta(11),
        r#"insert into "APP"."DOCS"("ID","DOC") values ('2',/* JSON */ EMPTY_BLOB());"#,
    ));
    let files = sink.prepare().unwrap();
    assert_eq!(lines(root, files), [["1", "FF4A5A01210A"], ["2", "?"]]);
}

/// `EMPTY_CLOB()` / `EMPTY_BLOB()` are placeholders: LogMiner prints a row with a LOB as an
/// INSERT with `EMPTY_CLOB()` and the content in later rows (SEL_LOB_LOCATOR / LOB_WRITE, or
/// an UPDATE for a short one), which are not captured as the insert's value. Debezium writes
/// its `unavailable.value.placeholder` for LOB values it did not capture (`lob.enabled =
/// false`); the CSV must not claim NULL for a column that has data: the missing marker.
#[test]
fn empty_lob_placeholders_are_the_missing_marker_not_null() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let t = schema("HR", "DOCS", &["ID", "BODY", "PIC"]);
    let mut sink = CsvSink::open(config(root), Term(1), CheckpointId(1)).unwrap();
    write(
        &mut sink,
        &t,
        &meta(10),
        r#"insert into "HR"."DOCS"("ID","BODY","PIC") values (1,'x',NULL);"#,
    );
    assert!(!write(
        &mut sink,
        &t,
        &meta(11),
        r#"insert into "HR"."DOCS"("ID","BODY","PIC") values (2,EMPTY_CLOB(),EMPTY_BLOB());"#,
    ));
    let files = sink.prepare().unwrap();
    assert_eq!(lines(root, files), [["1", "x", ""], ["2", "?", "?"]]);
}
