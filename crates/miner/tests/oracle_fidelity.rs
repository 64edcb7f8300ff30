//! What a real Oracle database does that the simulator cannot show (issue 14), against the
//! scripted fake of the connection layer (`fake_oracle`): recorded V$ rows, LogMiner's windows
//! and errors. Each test cites the Oracle documentation or the Debezium issue it reproduces.
#![cfg(feature = "oracle")]

use std::sync::Arc;

use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};
use redoflow_miner::oracle::{OraError, OracleConfig, OracleSource};
use redoflow_miner::sim::{ManualClock, SimClock};
use redoflow_miner::txn::{ChangeOp, TxnBuffer};
use redoflow_miner::{LogSource, OpCode, RedoRow, SourceError, StartAt};

mod fake_oracle;
use fake_oracle::*;

fn source(db: &Shared) -> OracleSource<FakeConnector> {
    OracleSource::new(config(), FakeConnector(db.clone())).unwrap()
}

fn fatal_message(e: SourceError) -> String {
    match e {
        SourceError::Fatal { message } => message,
        other => panic!("fatal expected: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Item 2: the window's upper bound.

/// Several redo records share an SCN, and V$THREAD.LAST_REDO_CHANGE# is the last SCN written so
/// far: records at that SCN may still be written after the query. A window ending at it, and the
/// next one starting after it, would skip them for good. The window ends one below
/// (DBZ-8503: "Use LAST_REDO_CHANGE#-1 from V$THREAD for range boundaries").
#[test]
fn records_written_at_the_last_redo_scn_after_a_window_are_not_lost() {
    let db = db();
    db.lock()
        .unwrap()
        .rows
        .push((1450, 1, "insert written before the query".into()));
    let mut src = source(&db);
    src.start_session(Scn(1100)).unwrap();
    let mut out = Vec::new();
    let end = src.current_scn().unwrap();
    assert_eq!(end, Scn(1449));
    src.fetch(Scn(1100), end, &mut out).unwrap();
    {
        // The instance writes another record at SCN 1450, then moves on.
        let mut d = db.lock().unwrap();
        d.rows
            .push((1450, 1, "insert written after the query".into()));
        d.last_redo = 1500;
        d.current_scn = 1510;
    }
    let end2 = src.current_scn().unwrap();
    src.fetch(end, end2, &mut out).unwrap();
    let at_1450: Vec<&str> = out
        .iter()
        .filter(|r| r.scn == Scn(1450))
        .map(|r| r.sql_redo.as_str())
        .collect();
    assert_eq!(
        at_1450,
        [
            "insert written before the query",
            "insert written after the query"
        ]
    );
}

/// A window is never read past the last cap the source answered, even when asked to: the rows
/// after it may not be complete yet ("never move read past the last SCN the window can have
/// fully seen").
#[test]
fn a_window_asked_past_the_cap_ends_at_the_cap() {
    let db = db();
    let mut src = source(&db);
    src.start_session(Scn(1100)).unwrap();
    assert_eq!(src.current_scn().unwrap(), Scn(1449));
    let mut out = Vec::new();
    let complete = src
        .fetch_capped(Scn(1100), Scn(1460), &mut out, usize::MAX)
        .unwrap();
    assert_eq!(complete, Scn(1449));
}

fn two_threads(db: &Shared, lrc1: u64, lrc2: u64) {
    db.lock().unwrap().threads = Some(vec![
        ThreadRow {
            thread: 1,
            status: "OPEN",
            enabled: "PUBLIC",
            sequence: 12,
            last_redo: lrc1,
            enable_change: 0,
            checkpoint_change: 0,
            disable_change: 0,
        },
        ThreadRow {
            thread: 2,
            status: "OPEN",
            enabled: "PUBLIC",
            sequence: 7,
            last_redo: lrc2,
            enable_change: 0,
            checkpoint_change: 0,
            disable_change: 0,
        },
    ]);
}

/// On RAC each instance's LGWR writes its own thread, and an idle instance writes nothing: its
/// LAST_REDO_CHANGE# stands still and capping every window at it would stop mining for as long
/// as the instance idles (Debezium flushes every instance for this, RacCommitLogWriterFlush-
/// Strategy, DBZ-8055). LGWR writes its buffer at least every three seconds (Oracle Database
/// Concepts, "Log Writer Process (LGWR)"): a thread idle for 10 s is bounded by the SCN the
/// database had 10 s ago instead. A busy thread still caps at its own LAST_REDO_CHANGE# − 1.
#[test]
fn an_idle_rac_instance_does_not_hold_every_window_back() {
    let db = db();
    two_threads(&db, 1450, 1200);
    let clock = Arc::new(ManualClock::new(1_000_000));
    let mut src =
        OracleSource::with_clock(config(), FakeConnector(db.clone()), clock.clone()).unwrap();
    assert_eq!(src.current_scn().unwrap(), Scn(1199), "thread 2 holds it");
    clock.advance(std::time::Duration::from_secs(5));
    db.lock().unwrap().current_scn = 1500;
    two_threads(&db, 1490, 1200);
    assert_eq!(
        src.current_scn().unwrap(),
        Scn(1199),
        "not idle long enough"
    );
    clock.advance(std::time::Duration::from_secs(6));
    db.lock().unwrap().current_scn = 1700;
    two_threads(&db, 1690, 1200);
    // Thread 2 idle for 11 s: bounded by CURRENT_SCN 11 s ago (1460), thread 1 by 1689.
    assert_eq!(src.current_scn().unwrap(), Scn(1459));
    // Once it writes again it is a busy thread: its own LAST_REDO_CHANGE# − 1.
    clock.advance(std::time::Duration::from_secs(1));
    two_threads(&db, 1690, 1600);
    assert_eq!(src.current_scn().unwrap(), Scn(1599));
    let _ = clock.now_unix_ms();
}

// ---------------------------------------------------------------------------------------------
// Item 3: LogMiner started inside open transactions.

/// LogMiner started at the window's first SCN inside an open transaction reports that
/// transaction's changes as UNSUPPORTED (DBZ-8747, "Decouple mining range from fetch range"):
/// every window starts LogMiner at the session's resume SCN (the runtime's: one before the
/// oldest open transaction's first change), and the query keeps the window's bounds.
#[test]
fn logminer_starts_at_the_session_not_at_the_window() {
    let db = db();
    let mut src = source(&db);
    src.start_session(Scn(1100)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(1360), Scn(1449), &mut out).unwrap();
    assert_eq!(scns(&out), [1400], "the query keeps the window");
    let mined = db.lock().unwrap().mined.clone();
    assert_eq!(mined, [(1101, 1360, 1449)]);
}

// ---------------------------------------------------------------------------------------------
// Item 4: LOBs.

/// Mining LOB operations and dropping them (as `lob = true` did) loses LOB content silently:
/// LOB capture is refused with a clear message (Debezium assembles SELECT_LOB_LOCATOR /
/// LOB_WRITE / LOB_TRIM / LOB_ERASE; redoflow does not).
#[test]
fn lob_capture_is_refused_with_a_clear_message() {
    let c = OracleConfig {
        lob: true,
        ..config()
    };
    let e = OracleSource::new(c, FakeConnector(db())).unwrap_err();
    let message = fatal_message(e);
    assert!(
        message.contains("lob = true is not supported") && message.contains("missing marker"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 5: a CDB without `pdb`.

/// LogMiner mines a CDB from CDB$ROOT; without a PDB filter the same OWNER.TABLE of two PDBs
/// merges into one CSV, and CDB$ROOT's ALL_TAB_COLUMNS cannot see PDB tables (Oracle Database
/// Utilities, "Requirements for Mining in a CDB"). The source refuses to start on a CDB
/// without `pdb`, and with a `pdb` V$CONTAINERS does not list.
#[test]
fn a_cdb_needs_a_pdb_that_exists() {
    let db = db();
    db.lock().unwrap().cdb = Some(vec![
        "CDB$ROOT".into(),
        "PDB$SEED".into(),
        "SALESPDB".into(),
        "HRPDB".into(),
    ]);
    let message = fatal_message(source(&db).start_session(Scn(1100)).unwrap_err());
    assert!(
        message.contains("`pdb` is not set") && message.contains("SALESPDB, HRPDB"),
        "{message}"
    );

    let with = |pdb: &str| {
        OracleSource::new(
            OracleConfig {
                pdb: Some(pdb.into()),
                ..config()
            },
            FakeConnector(db.clone()),
        )
        .unwrap()
    };
    let message = fatal_message(with("SALES").start_session(Scn(1100)).unwrap_err());
    assert!(
        message.contains("no container named \"SALES\""),
        "{message}"
    );
    // A lower-case name is Oracle's upper-case one.
    with("salespdb").start_session(Scn(1100)).unwrap();

    // Not a CDB: `pdb` is refused; 11g (no CDB column) is not a CDB.
    let db2 = fake_oracle::db();
    let message = fatal_message(
        OracleSource::new(
            OracleConfig {
                pdb: Some("SALESPDB".into()),
                ..config()
            },
            FakeConnector(db2.clone()),
        )
        .unwrap()
        .start_session(Scn(1100))
        .unwrap_err(),
    );
    assert!(message.contains("not a CDB"), "{message}");
    db2.lock().unwrap().pre_12 = true;
    source(&db2).start_session(Scn(1100)).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Item 1: objects LogMiner cannot name.

/// Rows of an object LogMiner cannot name come as owner `UNKNOWN`, table `OBJ# n` (Debezium's
/// `isTableLookupByObjectIdRequired`), whatever the table filter says: the source looks the
/// object number up. A table the configuration does not capture is dropped; a captured one, or
/// one the dictionary no longer knows, goes on to be undecodable (never a made-up table).
#[test]
fn rows_of_unnamed_objects_are_dropped_only_when_their_table_is_not_captured() {
    let db = db();
    {
        let mut d = db.lock().unwrap();
        d.objects.insert(501, ("HR".into(), "EMP".into()));
        d.objects.insert(502, ("AUDIT".into(), "LOG".into()));
        for (scn, obj) in [(1351, 501), (1352, 502), (1353, 503)] {
            let mut r = ContentsRow::new(
                scn,
                1,
                &format!(
                    "insert into \"UNKNOWN\".\"OBJ# {obj}\"(\"COL 1\") values (HEXTORAW('c102'));"
                ),
            );
            r.owner = "UNKNOWN".into();
            r.table = format!("OBJ# {obj}");
            r.status = 2;
            r.info = "Dictionary Mismatch".into();
            d.full_rows.push(r);
        }
    }
    let mut src = OracleSource::new(
        OracleConfig {
            include: vec!["HR.*".into()],
            ..config()
        },
        FakeConnector(db.clone()),
    )
    .unwrap();
    src.start_session(Scn(1100)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(1100), Scn(1449), &mut out).unwrap();
    let unnamed: Vec<(u64, &str)> = out
        .iter()
        .filter(|r| &*r.seg_owner == "UNKNOWN")
        .map(|r| (r.scn.0, r.info.as_str()))
        .collect();
    assert_eq!(
        unnamed,
        [
            (1351, "Dictionary Mismatch; object 501 is HR.EMP"),
            (1353, "Dictionary Mismatch")
        ]
    );
    assert_eq!(src.stats().unknown_objects_dropped, 1);
    // The contents query lets them through whatever `include` says.
    let q = redoflow_miner::oracle::sql::contents_query(src.config());
    assert!(q.contains("SEG_OWNER = 'UNKNOWN' OR ("), "{q}");
}

// ---------------------------------------------------------------------------------------------
// Item 8: first start.

/// A first start at the current SCN mines from the oldest transaction open in any instance
/// (GV$TRANSACTION; V$TRANSACTION shows one instance's only), so each of them is written whole,
/// and skips every commit up to the current SCN (Debezium starts its first session from the
/// oldest pending transaction too, DBZ-4367). One that began before the oldest redo on disk is
/// skipped whole (its XID is dropped), never written in part.
#[test]
fn a_first_start_at_the_current_scn_writes_open_transactions_whole() {
    let db = db();
    {
        let mut d = db.lock().unwrap();
        d.transactions = vec![
            ("0A001B00C3D40000".into(), 1350),
            ("0B000100AAAA0000".into(), 900),
        ];
    }
    let mut src = source(&db);
    let offset = src.first_offset(StartAt::Current).unwrap();
    assert_eq!(offset.resume_scn, Scn(1349));
    assert_eq!(offset.threads[&ThreadId(1)].commit_scn, Scn(1461));
    let skipped: Vec<String> = offset.dropped_xids.iter().map(Xid::to_string).collect();
    assert_eq!(skipped, ["0B000100AAAA0000"]);

    // Through the buffer: the open transaction A (started 1350, commits after the start) is
    // written with both its changes; B (committed at 1400, before the start) is not; the one
    // that began before the oldest log is skipped whole.
    let a: Xid = "0A001B00C3D40000".parse().unwrap();
    let b: Xid = "0C000200BBBB0000".parse().unwrap();
    let old: Xid = "0B000100AAAA0000".parse().unwrap();
    let row = |scn: u64, xid: Xid, op: OpCode, sql: &str| RedoRow {
        scn: Scn(scn),
        xid,
        op,
        seg_owner: "HR".into(),
        table_name: "T".into(),
        sql_redo: sql.into(),
        thread: ThreadId(1),
        ..RedoRow::default()
    };
    let mut buf = TxnBuffer::new(offset);
    let rows = vec![
        row(1351, a, OpCode::INSERT, "a1"),
        row(1390, b, OpCode::INSERT, "b1"),
        row(1395, old, OpCode::INSERT, "old part"),
        row(1400, b, OpCode::COMMIT, ""),
        row(1470, a, OpCode::INSERT, "a2"),
        row(1480, old, OpCode::COMMIT, ""),
        row(1500, a, OpCode::COMMIT, ""),
    ];
    let written: Vec<(Xid, Vec<String>)> = rows
        .into_iter()
        .filter_map(|r| buf.push(r).unwrap())
        .map(|t| (t.xid, t.changes.into_iter().map(|c| c.sql_redo).collect()))
        .collect();
    assert_eq!(written, [(a, vec!["a1".to_string(), "a2".to_string()])]);

    // `earliest`: the oldest SCN every thread's logs on disk cover.
    assert_eq!(
        src.first_offset(StartAt::Earliest).unwrap(),
        Offset::starting_after(Scn(1099))
    );
    assert_eq!(
        src.first_offset(StartAt::Scn(Scn(1234))).unwrap(),
        Offset::starting_after(Scn(1234))
    );
}

// ---------------------------------------------------------------------------------------------
// Item 9: error classes.

/// Errors a new session gets past are retried, with a new connection: ORA-04030 / ORA-04036
/// (process memory), ORA-00604, ORA-00257 (archiver stuck), ORA-12505 (like ORA-12514), and
/// the LogMiner ORA-00600s Debezium made retriable (DBZ-8125 krvrdGetUID, DBZ-5009 krvrdccs10,
/// DBZ-8223 krvrdccs30). Another ORA-00600 stops the node.
#[test]
fn transient_database_errors_are_retried_with_a_new_connection() {
    for e in [
        OraError::ora(
            4030,
            "ORA-04030: out of process memory when trying to allocate 16328 bytes",
        ),
        OraError::ora(
            4036,
            "ORA-04036: PGA memory used by the instance exceeds PGA_AGGREGATE_LIMIT",
        ),
        OraError::ora(604, "ORA-00604: error occurred at recursive SQL level 1"),
        OraError::ora(
            257,
            "ORA-00257: Archiver error. Connect AS SYSDBA only until resolved.",
        ),
        OraError::ora(
            600,
            "ORA-00600: internal error code, arguments: [krvrdGetUID], [], [], []",
        ),
        OraError::ora(
            600,
            "ORA-00600: internal error code, arguments: [krvrdccs30], [], []",
        ),
    ] {
        let db = db();
        let mut src = OracleSource::new(
            OracleConfig {
                reconnect_on_session_restart: false,
                ..config()
            },
            FakeConnector(db.clone()),
        )
        .unwrap();
        src.start_session(Scn(1100)).unwrap();
        db.lock()
            .unwrap()
            .failures
            .push_back(("SELECT SCN", e.clone()));
        let mut out = Vec::new();
        let errors = fetch_like_runtime(&mut src, Scn(1100), Scn(1449), &mut out);
        assert_eq!(errors.len(), 1, "{e}");
        assert_eq!(scns(&out), [1150, 1350, 1400], "{e}");
        assert_eq!(db.lock().unwrap().connects, 2, "{e}: reconnected");
    }
    let db = db();
    let mut src = source(&db);
    src.start_session(Scn(1100)).unwrap();
    db.lock().unwrap().failures.push_back((
        "SELECT SCN",
        OraError::ora(
            600,
            "ORA-00600: internal error code, arguments: [kcbgtcr_13], [], []",
        ),
    ));
    let e = src
        .fetch(Scn(1100), Scn(1449), &mut Vec::new())
        .unwrap_err();
    assert!(matches!(e, SourceError::Fatal { .. }), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Item 10: windows bounded by redo volume, shorter after a timeout.

/// Sequences 10 to 13 of thread 1, 100 SCNs each, a row every 10 SCNs.
fn four_logs() -> Shared {
    let db = db();
    {
        let mut d = db.lock().unwrap();
        d.online = vec![
            (1, 12, 1200, 1300, "ACTIVE", "/redo/redo02.log".into()),
            (1, 13, 1300, OPEN, "CURRENT", "/redo/redo03.log".into()),
        ];
        d.archived = vec![
            ("/arch/1_10.arc".into(), 1, 10, 1000, 1100),
            ("/arch/1_11.arc".into(), 1, 11, 1100, 1200),
            ("/arch/1_12.arc".into(), 1, 12, 1200, 1300),
        ];
        d.thread_sequence = 13;
        d.last_redo = 1400;
        d.current_scn = 1400;
        d.rows = (1..40)
            .map(|i| (1000 + 10 * i, 1, format!("r{i}")))
            .collect();
    }
    db
}

/// After a quiet stretch the planner may ask for a window across hours of redo of tables
/// nobody captures; one LogMiner query over all of it can outrun `call_timeout`. A window spans
/// at most `window_max_logs` log files per thread (Debezium 3.6 bounds its windows by log
/// files too), and the rest follows in the next one.
#[test]
fn a_window_spans_at_most_window_max_logs_files() {
    let db = four_logs();
    let mut src = source(&db);
    src.start_session(Scn(1000)).unwrap();
    assert_eq!(src.current_scn().unwrap(), Scn(1399));
    let mut out = Vec::new();
    let complete = src
        .fetch_capped(Scn(1000), Scn(1399), &mut out, usize::MAX)
        .unwrap();
    // Sequences 10 and 11: SCNs up to 1199.
    assert_eq!(complete, Scn(1199));
    assert_eq!(out.last().unwrap().scn, Scn(1190));
    assert_eq!(src.stats().bounded_by_logs, 1);
    // `fetch` reads the whole window in as many queries as it takes.
    let mut all = Vec::new();
    src.fetch(Scn(1000), Scn(1399), &mut all).unwrap();
    assert_eq!(all.len(), 39);
}

/// A mining query that timed out is not retried over the same window until the node gives up:
/// the next window is half as long (and halves again), windows read in time let the span grow
/// back, and every row is read once.
#[test]
fn a_window_that_timed_out_is_halved() {
    let db = four_logs();
    db.lock().unwrap().timeout_span = Some(120);
    let mut src = OracleSource::new(
        OracleConfig {
            window_max_logs: 10,
            ..config()
        },
        FakeConnector(db.clone()),
    )
    .unwrap();
    src.start_session(Scn(1000)).unwrap();
    src.current_scn().unwrap();
    let mut read = Scn(1000);
    let mut out = Vec::new();
    let mut timeouts = 0;
    while read < Scn(1399) {
        match src.fetch_capped(read, Scn(1399), &mut out, usize::MAX) {
            Ok(complete) => read = complete,
            Err(e) if e.is_retryable() => {
                assert!(e.to_string().contains("DPI-1067"), "{e}");
                timeouts += 1;
                src.start_session(Scn(1000)).unwrap();
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        scns(&out),
        (1..40).map(|i| 1000 + 10 * i).collect::<Vec<_>>()
    );
    let mined = db.lock().unwrap().mined.clone();
    let spans: Vec<u64> = mined.iter().map(|(_, read, end)| end - read).collect();
    // 399 SCNs time out, then 199, then 99 fits; the next window may span 198 and times out...
    assert_eq!(&spans[..4], [399, 199, 99, 198]);
    // ...and no window that timed out is asked for again.
    for w in mined.windows(2) {
        if w[0].2 - w[0].1 > 120 {
            assert_ne!(w[0], w[1], "{mined:?}");
        }
    }
    assert_eq!(src.stats().shrunk_after_timeout, timeouts);
    assert!(timeouts < 10, "{timeouts} timeouts: {spans:?}");
}

// ---------------------------------------------------------------------------------------------
// Item 11: what is never captured.

/// Built-in schemas of recent releases (VECSYS in 23ai, GGSHAREDCAP for GoldenGate), and
/// materialized view logs (`MLOG$_...`), are never captured, whatever `include` says
/// (Debezium excludes the same, AbstractLogMinerQueryBuilder).
#[test]
fn builtin_schemas_and_mview_logs_are_never_captured() {
    let c = config();
    assert!(!c.captures("VECSYS", "VECTOR$INDEX"));
    assert!(!c.captures("GGSHAREDCAP", "T"));
    assert!(!c.captures("HR", "MLOG$_EMP"));
    assert!(c.captures("HR", "EMP"));
    let q = redoflow_miner::oracle::sql::contents_query(&c);
    assert!(q.contains("'VECSYS'") && q.contains("'GGSHAREDCAP'"), "{q}");
    assert!(
        q.contains("TABLE_NAME NOT LIKE 'MLOG$\\_%' ESCAPE '\\'"),
        "{q}"
    );
}

/// The undecodable rows of item 1 come through the real source into the buffer: a STATUS = 2
/// row of a captured table becomes an Undecodable change.
#[test]
fn a_status_2_row_from_the_source_is_undecodable() {
    let db = db();
    {
        let mut d = db.lock().unwrap();
        let mut r = ContentsRow::new(
            1360,
            1,
            "insert into \"HR\".\"T\"(\"COL 1\",\"COL 2\") values (HEXTORAW('c109'),HEXTORAW('c30b5e'));",
        );
        r.status = 2;
        r.info = "Dictionary Mismatch".into();
        d.full_rows.push(r);
    }
    let mut src = source(&db);
    src.start_session(Scn(1100)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(1100), Scn(1449), &mut out).unwrap();
    let mut buf = TxnBuffer::new(Offset::starting_after(Scn(1100)));
    let txns: Vec<_> = out
        .into_iter()
        .filter_map(|r| buf.push(r).unwrap())
        .collect();
    let ops: Vec<ChangeOp> = txns[0].changes.iter().map(|c| c.op).collect();
    assert_eq!(ops, [ChangeOp::Insert, ChangeOp::Undecodable]);
}
