//! Recorded V$LOGMNR_CONTENTS rows (`testdata/oracle/contents_rows.csv`) through the same
//! conversion as driver rows.
#![cfg(feature = "oracle")]

use redoflow_checkpoint::{Scn, ThreadId, Xid};
use redoflow_miner::oracle::rows::{convert_row, read_recorded, RowScratch};
use redoflow_miner::{OpCode, OraDateTime, RedoRow};

fn recorded() -> Vec<RedoRow> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/oracle/contents_rows.csv"
    ))
    .unwrap();
    let mut buf = RowScratch::default();
    read_recorded(&text)
        .unwrap()
        .iter()
        .map(|r| convert_row(r, &mut buf).unwrap())
        .collect()
}

#[test]
fn recorded_rows_convert() {
    let rows = recorded();
    assert_eq!(rows.len(), 13);
    let insert = &rows[1];
    assert_eq!(insert.scn, Scn(1351));
    assert_eq!(insert.xid.to_string(), "0A001F00A7310000");
    assert_eq!(insert.op, OpCode::INSERT);
    assert_eq!(insert.timestamp, OraDateTime::new(2024, 5, 1, 10, 0, 0));
    assert!(insert.sql_redo.contains("'O''Brien'"));
    assert!(rows[2].csf && !rows[3].csf);
    assert!(rows[5].rollback);
    assert!(rows[6].xid.is_partial());
    assert_eq!(rows[8].thread, ThreadId(2));
    assert_eq!(rows[9].op, OpCode::DDL);
    assert_eq!(rows[9].info, "USER DDL");
    assert_eq!(rows[10].status, 2);
    assert_eq!(rows[12].op, OpCode::MISSING_SCN);
    assert_eq!(rows[12].xid, Xid(0));
}
