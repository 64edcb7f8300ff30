//! `OracleSource` driven by a scripted fake of the connection layer (`fake_oracle`): log
//! switches, lost connections and ORA-01291 take the same code paths as against Oracle.
#![cfg(feature = "oracle")]

use redoflow_checkpoint::Scn;
use redoflow_miner::oracle::{OraError, OracleSource};
use redoflow_miner::{LogSource, RedoRow, SourceError};

mod fake_oracle;
use fake_oracle::*;

/// A window with far more rows than the cap ends at an SCN boundary after the cap (all rows of
/// that SCN, including a CSF-split statement's pieces, and none after); the cursor is closed
/// there; the windows that follow read the rest, and together they are the uncapped window.
#[test]
fn a_capped_fetch_ends_at_an_scn_boundary_and_the_rest_follows() {
    let db = db();
    {
        let mut d = db.lock().unwrap();
        d.rows.clear();
        // 1301..=1340: three rows per SCN (as one statement's CSF pieces would be).
        for scn in 1301..=1340 {
            for piece in 0..3 {
                d.rows.push((scn, 1, format!("insert {scn}.{piece}")));
            }
        }
    }
    let mut whole = Vec::new();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1300)).unwrap();
    src.fetch(Scn(1300), Scn(1450), &mut whole).unwrap();
    assert_eq!(whole.len(), 120);

    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1300)).unwrap();
    let mut pieces = Vec::new();
    let mut read = Scn(1300);
    let mut ends = Vec::new();
    while read < Scn(1450) {
        let handed_before = db.lock().unwrap().rows_handed;
        let mut out = Vec::new();
        let end = src.fetch_capped(read, Scn(1450), &mut out, 10).unwrap();
        assert!(end > read && end <= Scn(1450));
        assert!(out.iter().all(|r| r.scn > read && r.scn <= end));
        if end < Scn(1450) {
            // 10 rows reach into SCN 4 of the window: all 12 rows of SCNs 1..=4, and the
            // cursor was closed at the first row of the next SCN.
            assert_eq!(out.len(), 12, "{:?}", scns(&out));
            assert_eq!(out.last().unwrap().scn, end);
            assert_eq!(db.lock().unwrap().rows_handed - handed_before, 13);
        }
        ends.push(end.0);
        pieces.extend(out);
        read = end;
    }
    assert_eq!(ends.len(), 10, "{ends:?}");
    assert_eq!(pieces, whole);
    assert_eq!(src.stats().capped, 9);
}

#[test]
fn a_session_mines_windows_with_the_capped_end() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1100)).unwrap();
    // Capped one below LAST_REDO_CHANGE# (1450), not at V$DATABASE.CURRENT_SCN (1460).
    assert_eq!(src.current_scn().unwrap(), Scn(1449));
    let mut out = Vec::new();
    src.fetch(Scn(1100), Scn(1360), &mut out).unwrap();
    src.fetch(Scn(1360), Scn(1450), &mut out).unwrap();
    assert_eq!(scns(&out), [1150, 1350, 1400]);
    assert_eq!(out[1].sql_redo, "insert 1");
    assert_eq!(out[1].xid.to_string(), "0001000200000003");
    let files: Vec<_> = src
        .session_logs()
        .unwrap()
        .files
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(files, ["/arch/1_11.arc", "/redo/redo02.log"]);
    let log = db.lock().unwrap().log.join("\n");
    assert!(log.contains("ALTER SESSION SET NLS_DATE_FORMAT"), "{log}");
    assert!(
        log.contains("ALTER SESSION SET TIME_ZONE = '00:00'"),
        "{log}"
    );
    let schema = src.table_schema("HR", "T").unwrap().unwrap();
    assert_eq!(schema.columns[0].name, "ID");
}

#[test]
fn a_log_switch_restarts_the_session_and_loses_nothing() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1100)).unwrap();
    let mut out = Vec::new();
    let end = src.current_scn().unwrap();
    src.fetch(Scn(1100), end, &mut out).unwrap();
    assert!(!src.session_stale().unwrap());
    {
        let mut d = db.lock().unwrap();
        d.switch_log(1500, "/redo/redo01.log");
        d.rows.push((1520, 6, "set transaction read write".into()));
        d.rows.push((1550, 1, "insert 2".into()));
        d.current_scn = 1600;
        d.last_redo = 1600;
    }
    // A runtime that asks first is told; one that does not is protected by fetch.
    assert!(src.session_stale().unwrap());
    let end2 = src.current_scn().unwrap();
    src.fetch(end, end2, &mut out).unwrap();
    assert_eq!(scns(&out), [1150, 1350, 1400, 1520, 1550]);
    assert_eq!(
        src.stats().log_switches,
        2,
        "seen by session_stale and by fetch"
    );
    // The restart took a fresh connection (reconnect_on_session_restart).
    assert_eq!(db.lock().unwrap().connects, 2);
    let files: Vec<_> = src
        .session_logs()
        .unwrap()
        .files
        .iter()
        .map(|f| f.sequence)
        .collect();
    // The new session starts where the old one did (the runtime's resume SCN), not at the
    // window: no open transaction is seen from its middle (DBZ-8747).
    assert_eq!(files, [11, 12, 13]);
}

#[test]
fn a_dropped_connection_is_retryable_and_the_retry_returns_the_same_rows() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1100)).unwrap();
    db.lock().unwrap().epoch += 1;
    let mut out = vec![RedoRow::default()];
    let errors = fetch_like_runtime(&mut src, Scn(1100), Scn(1450), &mut out);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].to_string().contains("ORA-03113"), "{}", errors[0]);
    assert_eq!(scns(&out[1..]), [1150, 1350, 1400]);
    assert_eq!(db.lock().unwrap().connects, 2);
}

#[test]
fn ora_01291_mid_fetch_is_retried_with_a_new_session() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1100)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(1100), Scn(1200), &mut out).unwrap();
    db.lock().unwrap().failures.push_back((
        "SELECT SCN",
        OraError::ora(1291, "ORA-01291: missing logfile"),
    ));
    let errors = fetch_like_runtime(&mut src, Scn(1200), Scn(1450), &mut out);
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(&errors[0], SourceError::Retryable { scn, message } if *scn == Scn(1200) && message.contains("ORA-01291"))
    );
    assert_eq!(scns(&out), [1150, 1350, 1400]);
}

#[test]
fn a_group_reused_under_the_session_is_ora_00310_and_recovers() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1100)).unwrap();
    // The runtime checked: no switch yet.
    assert!(!src.session_stale().unwrap());
    {
        // Then, before the query, two switches: redo02 (seq 12) archived and reused for seq 14.
        let mut d = db.lock().unwrap();
        d.switch_log(1500, "/redo/redo01.log");
        d.archived
            .push(("/arch/1_12.arc".into(), 1, 12, 1300, 1500));
        d.switch_log(1700, "/redo/redo02.log");
        d.rows.push((1710, 7, "commit".into()));
        d.last_redo = 1800;
        d.current_scn = 1800;
    }
    let mut out = Vec::new();
    let errors = fetch_like_runtime(&mut src, Scn(1100), Scn(1800), &mut out);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].to_string().contains("ORA-00310"), "{}", errors[0]);
    assert_eq!(scns(&out), [1150, 1350, 1400, 1710]);
    let files: Vec<_> = src
        .session_logs()
        .unwrap()
        .files
        .iter()
        .map(|f| f.path.clone())
        .collect();
    assert_eq!(
        files,
        [
            "/arch/1_11.arc",
            "/arch/1_12.arc",
            "/redo/redo01.log",
            "/redo/redo02.log"
        ]
    );
}

#[test]
fn a_late_archiver_gap_is_retryable_then_resolves() {
    let db = db();
    db.lock().unwrap().thread_sequence = 13;
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    let e = src.start_session(Scn(1100)).unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("archiver"), "{e}");
    db.lock().unwrap().thread_sequence = 12;
    src.start_session(Scn(1100)).unwrap();
}

#[test]
fn redo_gone_is_logs_missing_with_the_range() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    match src.start_session(Scn(500)) {
        Err(SourceError::LogsMissing {
            resume_scn,
            missing_from,
            missing_to,
        }) => {
            assert_eq!(
                (resume_scn, missing_from, missing_to),
                (Scn(500), Scn(501), Scn(1099))
            );
        }
        other => panic!("{other:?}"),
    }
}

/// ORA-01291 again and again at one SCN is not proof that the redo is gone: after
/// `missing_log_attempts` the source reads V$ARCHIVED_LOG / V$LOG again. While they still list
/// the files, the error stays retryable and names them (an archive destination this host cannot
/// read); once they no longer do (RMAN deleted them), the redo is gone, with the missing range.
#[test]
fn a_persistent_missing_log_is_gone_only_when_the_views_say_so() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    src.start_session(Scn(1100)).unwrap();
    for _ in 0..5 {
        db.lock()
            .unwrap()
            .failures
            .push_back(("SELECT SCN", OraError::ora(1291, "missing logfile")));
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..5 {
        match src.fetch(Scn(1100), Scn(1449), &mut out) {
            Err(e) if e.is_retryable() => {
                errors.push(e);
                src.start_session(Scn(1100)).unwrap();
            }
            other => panic!("retryable expected: {other:?}"),
        }
    }
    let last = errors.last().unwrap().to_string();
    assert!(
        last.contains("still list") && last.contains("/arch/1_11.arc"),
        "{last}"
    );
    assert!(out.is_empty());
    {
        // RMAN deletes sequence 11 and its online group is reused.
        let mut d = db.lock().unwrap();
        d.archived.clear();
        d.online.retain(|o| o.1 != 11);
    }
    match src.start_session(Scn(1100)) {
        Err(SourceError::LogsMissing {
            resume_scn,
            missing_from,
            missing_to,
        }) => assert_eq!(
            (resume_scn, missing_from, missing_to),
            (Scn(1100), Scn(1101), Scn(1299))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_credentials_are_fatal_with_a_fix() {
    let db = db();
    db.lock().unwrap().connect_failures.push_back(OraError::ora(
        1017,
        "ORA-01017: invalid username/password; logon denied",
    ));
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    let e = src.start_session(Scn(1100)).unwrap_err();
    assert!(matches!(e, SourceError::Fatal { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("ORA-01017") && msg.contains("password_env"),
        "{msg}"
    );
}

#[test]
fn privileges_missing_are_fatal() {
    let db = db();
    db.lock().unwrap().failures.push_back((
        "SELECT NAME",
        OraError::ora(1031, "ORA-01031: insufficient privileges"),
    ));
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    let e = src.start_session(Scn(1100)).unwrap_err();
    assert!(e.to_string().contains("LOGMINING"), "{e}");
}

/// A node that loses leadership breaks the running LogMiner query at once instead of waiting
/// for it (up to the 30-minute call timeout): the source's interrupter calls the break of the
/// connection open now (`OCIBreak`, through ODPI-C's `dpiConn_breakExecution`; the query then
/// fails with ORA-01013), and after a reconnect the new connection's.
#[test]
fn the_interrupter_breaks_the_current_connection() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    let interrupt = src
        .interrupter()
        .expect("the Oracle source can be interrupted");
    interrupt();
    assert!(
        db.lock().unwrap().breaks.is_empty(),
        "no connection yet: nothing to break"
    );
    src.start_session(Scn(1100)).unwrap();
    interrupt();
    assert_eq!(db.lock().unwrap().breaks, [0]);
    // The connection drops; the next session reconnects, and the break follows it.
    db.lock().unwrap().epoch = 1;
    let mut out = Vec::new();
    let errors = fetch_like_runtime(&mut src, Scn(1100), Scn(1450), &mut out);
    assert!(!errors.is_empty());
    interrupt();
    assert_eq!(db.lock().unwrap().breaks, [0, 1]);
}

/// The nodes of a cluster must mine one database: the source says which one it reads by the
/// database's own identity (V$DATABASE DBID and the incarnation's RESETLOGS_CHANGE#), not by
/// a connect string two nodes may legitimately spell differently.
#[test]
fn the_database_identity_is_its_dbid_and_incarnation() {
    let db = db();
    let mut src = OracleSource::new(config(), FakeConnector(db.clone())).unwrap();
    let identity = src.identity().unwrap();
    let get = |k: &str| {
        identity
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("oracle DBID"), Some("3141592653"));
    assert_eq!(
        get("oracle incarnation (RESETLOGS_CHANGE#)"),
        Some("1920977")
    );
    assert_eq!(get("oracle database name"), Some("ORCL"));
}
