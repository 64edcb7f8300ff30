//! `OracleSource` driven by a scripted fake of the connection layer: a small model of LogMiner
//! (redo files hold SCN ranges; a session sees only rows in the files it added; a dropped
//! connection fails every call) so log switches, lost connections and ORA-01291 take the same
//! code paths as against Oracle.
#![cfg(feature = "oracle")]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redoflow_checkpoint::Scn;
use redoflow_miner::oracle::conn::{
    Bind, FetchOptions, OracleConnection, OracleConnector, RowFn, TextRows,
};
use redoflow_miner::oracle::rows::{Cell, RecordedRow};
use redoflow_miner::oracle::{sql, OraError, OracleConfig, OracleSource};
use redoflow_miner::{LogSource, RedoRow, SourceError};

const OPEN: u64 = u64::MAX;

#[derive(Default)]
struct Db {
    current_scn: u64,
    /// (thread, sequence, first, next, status, member)
    online: Vec<(u16, u64, u64, u64, &'static str, String)>,
    /// (name, thread, sequence, first, next)
    archived: Vec<(String, u16, u64, u64, u64)>,
    thread_sequence: u64,
    last_redo: u64,
    /// Contents rows: (scn, op, sql).
    rows: Vec<(u64, u16, String)>,
    /// The next call whose SQL starts with the prefix fails with the error.
    failures: VecDeque<(&'static str, OraError)>,
    connect_failures: VecDeque<OraError>,
    /// Connections made before this epoch are dead.
    epoch: u64,
    connects: u64,
    log: Vec<String>,
    /// Contents rows handed to the source (a capped fetch closes the cursor early).
    rows_handed: u64,
    /// Epochs of the connections whose call was broken from another thread.
    breaks: Vec<u64>,
}

impl Db {
    /// The SCN range a file holds now: (sequence it must hold, first, next).
    fn file(&self, name: &str) -> Option<(u64, u64, u64)> {
        if let Some(a) = self.archived.iter().find(|a| a.0 == name) {
            return Some((a.2, a.3, a.4));
        }
        self.online
            .iter()
            .find(|o| o.5 == name)
            .map(|o| (o.1, o.2, o.3))
    }

    fn switch_log(&mut self, at: u64, new_member: &str) {
        let cur = self
            .online
            .iter_mut()
            .find(|o| o.4 == "CURRENT")
            .expect("a current log");
        cur.3 = at;
        cur.4 = "ACTIVE";
        let seq = cur.1 + 1;
        self.online.retain(|o| o.5 != new_member);
        self.online
            .push((1, seq, at, OPEN, "CURRENT", new_member.to_string()));
        self.thread_sequence = seq;
    }

    fn fail_next(&mut self, sql: &str) -> Option<OraError> {
        let pos = self.failures.iter().position(|(p, _)| sql.starts_with(p))?;
        self.failures.remove(pos).map(|(_, e)| e)
    }
}

type Shared = Arc<Mutex<Db>>;

struct FakeConnector(Shared);

struct FakeConn {
    db: Shared,
    epoch: u64,
    /// Files added to the LogMiner session: (name, sequence expected).
    added: Vec<(String, u64)>,
    window: Option<(u64, u64)>,
}

impl OracleConnector for FakeConnector {
    type Conn = FakeConn;

    fn connect(&mut self) -> Result<FakeConn, OraError> {
        let mut db = self.0.lock().unwrap();
        if let Some(e) = db.connect_failures.pop_front() {
            return Err(e);
        }
        db.connects += 1;
        Ok(FakeConn {
            db: self.0.clone(),
            epoch: db.epoch,
            added: Vec::new(),
            window: None,
        })
    }
}

fn t(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

fn bind_u64(b: &[Bind<'_>], i: usize) -> u64 {
    match b[i] {
        Bind::U64(v) => v,
        Bind::Str(s) => s.parse().unwrap(),
    }
}

impl FakeConn {
    fn enter(
        &self,
        sql: &str,
        binds: &[Bind<'_>],
    ) -> Result<std::sync::MutexGuard<'_, Db>, OraError> {
        let mut db = self.db.lock().unwrap();
        db.log.push(format!(
            "{} {:?}",
            sql.chars().take(60).collect::<String>(),
            binds
        ));
        if self.epoch < db.epoch {
            return Err(OraError::ora(
                3113,
                "ORA-03113: end-of-file on communication channel",
            ));
        }
        if let Some(e) = db.fail_next(sql) {
            return Err(e);
        }
        Ok(db)
    }
}

impl OracleConnection for FakeConn {
    fn execute(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<(), OraError> {
        let db = self.enter(sql, binds)?;
        if sql == sql::ADD_LOGFILE_NEW || sql == sql::ADD_LOGFILE {
            let Bind::Str(name) = binds[0] else { panic!() };
            let (seq, _, _) = db
                .file(name)
                .ok_or_else(|| OraError::ora(1284, "file cannot be opened"))?;
            drop(db);
            if sql == sql::ADD_LOGFILE_NEW {
                self.added.clear();
            }
            self.added.push((name.to_string(), seq));
        } else if sql == sql::START_LOGMNR {
            if self.added.is_empty() {
                return Err(OraError::ora(1292, "no log file has been specified"));
            }
            drop(db);
            self.window = Some((bind_u64(binds, 0), bind_u64(binds, 1)));
        } else if sql == sql::END_LOGMNR {
            drop(db);
            self.added.clear();
            self.window = None;
        }
        Ok(())
    }

    fn query_text(&mut self, sql: &str, binds: &[Bind<'_>]) -> Result<TextRows, OraError> {
        let db = self.enter(sql, binds)?;
        let rows = if sql == sql::CURRENT_SCN {
            vec![vec![t(db.current_scn)]]
        } else if sql == sql::THREADS {
            vec![vec![
                t(1),
                t("OPEN"),
                t("PUBLIC"),
                t(db.thread_sequence),
                t(db.last_redo),
                t(0),
            ]]
        } else if sql == sql::ONLINE_LOGS {
            db.online
                .iter()
                .map(|o| {
                    vec![
                        t(o.0),
                        t(o.1),
                        t(o.2),
                        t(o.3),
                        t(o.4),
                        t("NO"),
                        t(&o.5),
                        t(1 << 20),
                    ]
                })
                .collect()
        } else if sql == sql::CURRENT_SEQUENCES {
            db.online
                .iter()
                .filter(|o| o.4 == "CURRENT")
                .map(|o| vec![t(o.0), t(o.1)])
                .collect()
        } else if sql == sql::ARCHIVED_LOGS {
            let start = bind_u64(binds, 0);
            db.archived
                .iter()
                .filter(|a| a.4 > start)
                .map(|a| vec![t(&a.0), t(a.1), t(a.2), t(a.3), t(a.4), t(1)])
                .collect()
        } else if sql.contains("ALL_TAB_COLUMNS") {
            vec![
                vec![t("NAME"), t("VARCHAR2"), t(2)],
                vec![t("ID"), t("NUMBER"), t(1)],
            ]
        } else {
            return Err(OraError::ora(942, "table or view does not exist"));
        };
        Ok(rows)
    }

    fn query_rows(
        &mut self,
        sql: &str,
        binds: &[Bind<'_>],
        _fetch: FetchOptions,
        each: &mut RowFn<'_>,
    ) -> Result<(), OraError> {
        let db = self.enter(sql, binds)?;
        let (read, end) = (bind_u64(binds, 0), bind_u64(binds, 1));
        let Some((start, stop)) = self.window else {
            return Err(OraError::ora(1306, "START_LOGMNR must be invoked"));
        };
        assert_eq!(
            (start, stop),
            (read + 1, end),
            "START_LOGMNR covers the window"
        );
        // A file added earlier whose group now holds another sequence: LogMiner's ORA-00310.
        let mut ranges = Vec::new();
        for (name, seq) in &self.added {
            match db.file(name) {
                Some((s, first, next)) if s == *seq => ranges.push((first, next)),
                Some((s, _, _)) => {
                    return Err(OraError::ora(
                        310,
                        format!("archived log contains sequence {s}; sequence {seq} required"),
                    ))
                }
                None => return Err(OraError::ora(1291, "missing logfile")),
            }
        }
        let rows: Vec<RecordedRow> = db
            .rows
            .iter()
            .filter(|r| r.0 > read && r.0 <= end)
            .filter(|r| ranges.iter().any(|(f, n)| r.0 >= *f && r.0 < *n))
            .map(|r| RecordedRow {
                cells: vec![
                    Cell::Number(r.0 as i128),
                    Cell::Null,
                    Cell::Raw(vec![0, 1, 0, 2, 0, 0, 0, 3]),
                    Cell::Number(r.1 as i128),
                    Cell::Text("HR".into()),
                    Cell::Text("T".into()),
                    Cell::Null,
                    Cell::Number(0),
                    Cell::Number(0),
                    Cell::Text(r.2.clone()),
                    Cell::Number(1),
                ],
            })
            .collect();
        drop(db);
        let mut handed = 0;
        let mut result = Ok(());
        for r in &rows {
            handed += 1;
            match each(r) {
                Ok(flow) if flow.is_break() => break,
                Ok(_) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.db.lock().unwrap().rows_handed += handed;
        result
    }

    fn set_call_timeout(&mut self, timeout: Option<Duration>) -> Result<(), OraError> {
        assert_eq!(timeout, Some(Duration::from_secs(1800)));
        Ok(())
    }

    fn breaker(&self) -> Option<redoflow_miner::oracle::conn::Breaker> {
        let (db, epoch) = (self.db.clone(), self.epoch);
        Some(Box::new(move || db.lock().unwrap().breaks.push(epoch)))
    }
}

fn config() -> OracleConfig {
    OracleConfig {
        connect_string: "fake:1521/ORCL".into(),
        user: "REDOFLOW".into(),
        ..OracleConfig::default()
    }
}

/// Sequence 11 archived, 12 CURRENT in redo02.log; rows at 1150, 1350, 1400.
fn db() -> Shared {
    Arc::new(Mutex::new(Db {
        current_scn: 1460,
        online: vec![
            (1, 11, 1100, 1300, "INACTIVE", "/redo/redo01.log".into()),
            (1, 12, 1300, OPEN, "CURRENT", "/redo/redo02.log".into()),
        ],
        archived: vec![("/arch/1_11.arc".into(), 1, 11, 1100, 1300)],
        thread_sequence: 12,
        last_redo: 1450,
        rows: vec![
            (1150, 6, "set transaction read write".into()),
            (1350, 1, "insert 1".into()),
            (1400, 7, "commit".into()),
        ],
        ..Db::default()
    }))
}

fn scns(rows: &[RedoRow]) -> Vec<u64> {
    rows.iter().map(|r| r.scn.0).collect()
}

/// What the runtime does: a retryable error → new session at the read position, try again.
fn fetch_like_runtime(
    src: &mut OracleSource<FakeConnector>,
    read: Scn,
    end: Scn,
    out: &mut Vec<RedoRow>,
) -> Vec<SourceError> {
    let mut errors = Vec::new();
    for _ in 0..5 {
        match src.fetch(read, end, out) {
            Ok(()) => return errors,
            Err(e) if e.is_retryable() => {
                errors.push(e);
                let _ = src.start_session(read);
            }
            Err(e) => panic!("fatal: {e}"),
        }
    }
    panic!("no success after retries: {errors:?}");
}

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
    // Capped at LAST_REDO_CHANGE# (1450), not V$DATABASE.CURRENT_SCN (1460).
    assert_eq!(src.current_scn().unwrap(), Scn(1450));
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
    assert_eq!(files, [12, 13]);
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

#[test]
fn a_persistent_missing_log_becomes_logs_missing() {
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
    let mut last = None;
    for _ in 0..5 {
        match src.fetch(Scn(1100), Scn(1450), &mut out) {
            Err(e) if e.is_retryable() => {
                src.start_session(Scn(1100)).unwrap();
            }
            Err(e) => {
                last = Some(e);
                break;
            }
            Ok(()) => panic!("should fail"),
        }
    }
    assert!(matches!(
        last,
        Some(SourceError::LogsMissing {
            resume_scn: Scn(1100),
            missing_from: Scn(1101),
            missing_to: Scn(1450)
        })
    ));
    assert!(out.is_empty());
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
