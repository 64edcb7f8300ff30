//! What a real database puts in V$LOGMNR_CONTENTS besides data, through the transaction buffer
//! (issue 14, items 1, 3 and 7): undecodable rows, rows of objects LogMiner cannot name,
//! temporary-table rows, `INTERNAL DDL`, OPERATION_CODE 255, and transactions that never change
//! a captured table. The rows are recorded as Oracle prints them (`testdata/fidelity/`, a SQLcl
//! export read by the replay source) or built with the same columns.

use std::path::{Path, PathBuf};

use redoflow_checkpoint::{Offset, Scn};
use redoflow_miner::txn::{ChangeOp, CommittedTxn, TxnBuffer, TxnError, Unwritable};
use redoflow_miner::{LogSource, OpCode, RedoRow, ReplaySource};

mod common;
use common::*;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fidelity")
        .join(name)
}

fn push_all(buf: &mut TxnBuffer, rows: Vec<RedoRow>) -> Vec<CommittedTxn> {
    rows.into_iter()
        .filter_map(|r| buf.push(r).expect("consistent stream"))
        .collect()
}

/// A DML row of `DEMO1.TEST` with LogMiner's STATUS and INFO.
fn dml(
    scn: u64,
    xid: redoflow_checkpoint::Xid,
    op: OpCode,
    sql: &str,
    status: i32,
    info: &str,
) -> RedoRow {
    RedoRow {
        seg_owner: "DEMO1".into(),
        table_name: "TEST".into(),
        row_id: redoflow_miner::ShortText::new(&format!("AAAR3sAAEAAAACX{scn:03}")).unwrap(),
        sql_redo: sql.into(),
        status,
        info: info.into(),
        ..r(scn, xid, op)
    }
}

/// With the online catalog, redo written before a DDL and mined after it comes back with
/// STATUS = 2 and SQL_REDO over made-up columns (Oracle Database Utilities, "Using the Online
/// Catalog": "LogMiner generates nonexecutable SQL (including hexadecimal-to-raw formatting of
/// binary values)"; "DDL_DICT_TRACKING and Supplemental Logging Settings": STATUS 2, INFO
/// 'Dictionary Mismatch'). Debezium stops on such rows (DBZ-5147). They must never be written
/// as data into columns named `COL 1`: the change is Undecodable, and `on_parse_error` decides.
#[test]
fn a_status_2_row_is_undecodable_and_follows_on_parse_error() {
    let a = x(10, 1);
    let sql = r#"insert into "DEMO1"."TEST"("COL 1","COL 2") values (HEXTORAW('c109'),HEXTORAW('c30b5e'));"#;
    let mut buf = TxnBuffer::new(Offset::default());
    let txns = push_all(
        &mut buf,
        vec![
            start(100, a),
            dml(101, a, OpCode::INSERT, sql, 2, "Dictionary Mismatch"),
            commit(102, a),
        ],
    );
    let c = &txns[0].changes[0];
    assert_eq!(c.op, ChangeOp::Undecodable);
    assert_eq!(
        c.sql_redo, sql,
        "the raw row is kept for the dead-letter output"
    );
    let reason = c.reason.as_deref().unwrap();
    assert!(
        reason.contains("STATUS = 2") && reason.contains("Dictionary Mismatch"),
        "{reason}"
    );
    assert_eq!(buf.stats().undecodable, 1);

    // on_parse_error = "stop": an error naming SCN, XID, table, line, STATUS and INFO.
    let Some(Unwritable::Stop(e)) = c.unwritable(a, false) else {
        panic!("stop expected");
    };
    let msg = e.to_string();
    for part in [
        "SCN 101",
        &a.to_string(),
        "DEMO1.TEST",
        "line 101",
        "STATUS = 2",
        "Dictionary Mismatch",
    ] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    assert!(matches!(e, TxnError::Undecodable { .. }));
    // on_parse_error = "dead-letter": the raw row goes to _rejected/ with the reason.
    assert_eq!(c.unwritable(a, true), Some(Unwritable::DeadLetter(reason)));
}

/// LogMiner reports updates of LONG columns with STATUS = 2 and no INFO, and the statement is
/// valid (Debezium's `handleDataChangeEvent` keeps them): such an update is an ordinary change.
#[test]
fn an_update_with_status_2_and_no_info_is_an_ordinary_change() {
    let a = x(11, 1);
    let sql = r#"update "DEMO1"."TEST" set "NOTES" = 'x' where "ID" = '2';"#;
    let mut buf = TxnBuffer::new(Offset::default());
    let txns = push_all(
        &mut buf,
        vec![dml(101, a, OpCode::UPDATE, sql, 2, ""), commit(102, a)],
    );
    assert_eq!(txns[0].changes[0].op, ChangeOp::Update);
    assert_eq!(txns[0].changes[0].unwritable(a, false), None);
    // An INSERT with STATUS = 2 and no INFO is still not trusted.
    let b = x(12, 1);
    let txns = push_all(
        &mut buf,
        vec![dml(103, b, OpCode::INSERT, sql, 2, ""), commit(104, b)],
    );
    assert_eq!(txns[0].changes[0].op, ChangeOp::Undecodable);
}

/// An object LogMiner cannot name comes back as owner `UNKNOWN`, table `OBJ# n` (Debezium's
/// `isTableKnown` / `isTableLookupByObjectIdRequired`: dropped and purged tables). It must not
/// create a table directory `UNKNOWN.OBJ# 90417`: it is Undecodable.
#[test]
fn an_object_logminer_cannot_name_is_undecodable() {
    let a = x(13, 1);
    let mut row = dml(
        101,
        a,
        OpCode::INSERT,
        r#"insert into "UNKNOWN"."OBJ# 90417"("COL 1") values (HEXTORAW('c102'));"#,
        0,
        "",
    );
    row.seg_owner = "UNKNOWN".into();
    row.table_name = "OBJ# 90417".into();
    let mut buf = TxnBuffer::new(Offset::default());
    let txns = push_all(&mut buf, vec![row, commit(102, a)]);
    let c = &txns[0].changes[0];
    assert_eq!(c.op, ChangeOp::Undecodable);
    assert!(c.reason.as_deref().unwrap().contains("OBJ# 90417"));
    let Some(Unwritable::Stop(e)) = c.unwritable(a, false) else {
        panic!("stop expected")
    };
    assert!(e.to_string().contains("UNKNOWN.OBJ# 90417"), "{e}");
}

/// Temporary tables have no SQL_REDO (`/* No SQL_REDO for temporary tables */`, Debezium's
/// `isNoSqlRedoForTemporaryTable`), and `INTERNAL DDL` is Oracle's own bookkeeping (Debezium's
/// `isSchemaChangeEventSkipped`): both are skipped and counted, never parsed (parsing the first
/// would stop the node, and every next leader at the same SCN).
#[test]
fn temporary_table_rows_and_internal_ddl_are_skipped_and_counted() {
    let a = x(14, 1);
    let mut temp = dml(
        101,
        a,
        OpCode::INSERT,
        "/* No SQL_REDO for temporary tables */",
        0,
        "",
    );
    temp.table_name = "GTT_SCRATCH".into();
    let ddl = dml(102, a, OpCode::DDL, "ALTER TABLE ...", 0, "INTERNAL DDL");
    let ok = dml(103, a, OpCode::INSERT, "insert ...", 0, "");
    let mut buf = TxnBuffer::new(Offset::default());
    let txns = push_all(&mut buf, vec![temp, ddl, ok, commit(104, a)]);
    assert_eq!(txns[0].changes.len(), 1);
    assert_eq!(txns[0].changes[0].sql_redo, "insert ...");
    let s = buf.stats();
    assert_eq!((s.temporary_skipped, s.internal_ddl_skipped), (1, 1));
}

/// OPERATION_CODE 255 (UNSUPPORTED): Debezium only warns (DBZ-5351), and a LogMiner session
/// that started inside a transaction produces them for that transaction's changes (DBZ-8747).
/// The default stays "skip" (a table with an unsupported column type must not stop the
/// pipeline), but every one is counted per table, and the raw row stays in its transaction so
/// that `on_parse_error = "dead-letter"` writes it to `_rejected/`.
#[test]
fn op_255_is_counted_per_table_and_kept_for_the_dead_letter_output() {
    let a = x(15, 1);
    let u1 = dml(
        101,
        a,
        OpCode::UNSUPPORTED,
        "Unsupported",
        0,
        "Unsupported Type",
    );
    let u2 = dml(102, a, OpCode::UNSUPPORTED, "Unsupported", 0, "");
    let mut other = dml(103, a, OpCode::UNSUPPORTED, "Unsupported", 0, "");
    other.table_name = "OTHER".into();
    let mut undo = dml(104, a, OpCode::UNSUPPORTED, "Unsupported", 0, "");
    undo.rollback = true;
    let mut buf = TxnBuffer::new(Offset::default());
    let txns = push_all(&mut buf, vec![u1, u2, other, undo, commit(105, a)]);
    let s = buf.stats();
    assert_eq!(s.unsupported, 4);
    assert_eq!(s.unsupported_by_table["DEMO1.TEST"], 3);
    assert_eq!(s.unsupported_by_table["DEMO1.OTHER"], 1);
    let kept: Vec<_> = txns[0].changes.iter().map(|c| (c.scn.0, c.op)).collect();
    assert_eq!(
        kept,
        [
            (101, ChangeOp::Unsupported),
            (102, ChangeOp::Unsupported),
            (103, ChangeOp::Unsupported)
        ]
    );
    let c = &txns[0].changes[0];
    assert_eq!(c.unwritable(a, false), Some(Unwritable::Skip));
    let Some(Unwritable::DeadLetter(reason)) = c.unwritable(a, true) else {
        panic!("dead letter expected")
    };
    assert!(
        reason.contains("OPERATION_CODE 255") && reason.contains("Unsupported Type"),
        "{reason}"
    );
    // An undo row never matches an unsupported change: a DML undo of the same row id undoes
    // the real change.
    let b = x(16, 1);
    let mut buf = TxnBuffer::new(Offset::default());
    let real = dml(200, b, OpCode::INSERT, "insert real", 0, "");
    let mut unsupported = dml(201, b, OpCode::UNSUPPORTED, "Unsupported", 0, "");
    unsupported.row_id = real.row_id;
    let mut undo = dml(202, b, OpCode::DELETE, "delete real", 0, "");
    undo.row_id = real.row_id;
    undo.rollback = true;
    let txns = push_all(&mut buf, vec![real, unsupported, undo, commit(203, b)]);
    assert_eq!(txns[0].changes.len(), 1);
    assert_eq!(txns[0].changes[0].op, ChangeOp::Unsupported);
}

/// Every START in the database comes through the query (it names no table), so an idle session
/// in any schema held `resume_scn` back forever and, once RMAN deleted the logs, the next
/// failover stopped. A transaction now opens at its first captured change (Debezium's deferred
/// transaction start, DBZ-7473).
#[test]
fn a_transaction_that_changes_no_captured_table_never_holds_the_resume_scn_back() {
    let idle = x(20, 1);
    let a = x(21, 1);
    let mut buf = TxnBuffer::new(Offset::default());
    push_all(
        &mut buf,
        vec![
            start(100, idle),
            start(200, a),
            ins(201, a, "R1", "insert a"),
        ],
    );
    // `a` holds the resume SCN at its first change; `idle` holds nothing.
    assert_eq!(buf.offset(Scn(300)).resume_scn, Scn(200));
    assert_eq!(buf.open_transactions(), 1);
    push_all(&mut buf, vec![commit(301, a)]);
    assert_eq!(buf.offset(Scn(400)).resume_scn, Scn(400));
    // The idle transaction's COMMIT, when it comes, writes nothing and is recorded.
    assert!(push_all(&mut buf, vec![commit(500, idle)]).is_empty());
    assert_eq!(buf.stats().committed_empty, 1);
}

/// The same rows as a SQLcl export of V$LOGMNR_CONTENTS with its STATUS and INFO columns: the
/// replay source carries them, and the buffer decides the same way (SPEC.md §10).
#[test]
fn replay_honours_status_and_info() {
    let mut src =
        ReplaySource::open(&testdata("contents.csv"), Some(&testdata("columns.csv"))).unwrap();
    src.start_session(Scn(4999)).unwrap();
    let mut rows = Vec::new();
    src.fetch(Scn(4999), Scn(u64::MAX - 1), &mut rows).unwrap();
    let mut buf = TxnBuffer::new(Offset::starting_after(Scn(4999)));
    let txns = push_all(&mut buf, rows);
    assert_eq!(txns.len(), 1);
    let ops: Vec<_> = txns[0].changes.iter().map(|c| (c.line, c.op)).collect();
    assert_eq!(
        ops,
        [
            (4, ChangeOp::Undecodable),
            (5, ChangeOp::Insert),
            (6, ChangeOp::Undecodable),
            (9, ChangeOp::Unsupported),
            // STATUS 2 without INFO on an UPDATE (a LONG column): an ordinary update.
            (10, ChangeOp::Update),
        ]
    );
    let s = buf.stats();
    assert_eq!(
        (s.undecodable, s.temporary_skipped, s.internal_ddl_skipped),
        (2, 1, 1)
    );
    // The idle transaction at SCN 5000 never opened.
    assert_eq!(buf.offset(Scn(5020)).resume_scn, Scn(5020));
    let Some(Unwritable::Stop(e)) = txns[0].changes[0].unwritable(txns[0].xid, false) else {
        panic!("stop expected")
    };
    assert!(e.to_string().contains("export line 4"), "{e}");
}

/// A first start of a replay is the export's first SCN (less one), not SCN 0: the planner would
/// otherwise cross every SCN before it blind (issue 14, item 8). The simulator's is its own
/// start. An explicit SCN is taken as given.
#[test]
fn first_starts_of_replay_and_simulator() {
    use redoflow_miner::{SimConfig, SimSource, StartAt};
    let mut src = ReplaySource::open(&testdata("contents.csv"), None).unwrap();
    for start in [StartAt::Current, StartAt::Earliest] {
        assert_eq!(
            src.first_offset(start).unwrap(),
            Offset::starting_after(Scn(4999))
        );
    }
    // The first row is still there to read.
    src.start_session(Scn(4999)).unwrap();
    let mut rows = Vec::new();
    src.fetch(Scn(4999), Scn(5000), &mut rows).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        src.first_offset(StartAt::Scn(Scn(5010))).unwrap(),
        Offset::starting_after(Scn(5010))
    );
    let mut sim = SimSource::new(SimConfig::default()).unwrap();
    assert_eq!(
        sim.first_offset(StartAt::Current).unwrap(),
        Offset::starting_after(Scn(SimConfig::default().start_scn))
    );
}
