//! A scripted fake of the connection layer: a small model of LogMiner over recorded V$ rows
//! (redo files hold SCN ranges; a session sees only rows in the files it added and the window
//! its START_LOGMNR names; a dropped connection fails every call), so log switches, lost
//! connections, ORA-01291, RAC threads, CDB checks and first starts take the same code paths as
//! against Oracle. Shared by `oracle_source.rs` and `oracle_fidelity.rs`.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redoflow_checkpoint::Scn;
use redoflow_miner::oracle::conn::{
    Bind, FetchOptions, OracleConnection, OracleConnector, RowFn, TextRows,
};
use redoflow_miner::oracle::rows::{Cell, RecordedRow};
use redoflow_miner::oracle::{sql, OraError, OracleConfig, OracleSource};
use redoflow_miner::{LogSource, RedoRow, SourceError};

/// NEXT_CHANGE# of a CURRENT log.
pub const OPEN: u64 = u64::MAX;

/// A V$THREAD row: THREAD#, STATUS, ENABLED, SEQUENCE#, LAST_REDO_CHANGE#, ENABLE_CHANGE#,
/// CHECKPOINT_CHANGE#, DISABLE_CHANGE#.
#[derive(Clone, Debug)]
pub struct ThreadRow {
    pub thread: u16,
    pub status: &'static str,
    pub enabled: &'static str,
    pub sequence: u64,
    pub last_redo: u64,
    pub enable_change: u64,
    pub checkpoint_change: u64,
    pub disable_change: u64,
}

/// A V$LOGMNR_CONTENTS row with every column the source reads.
#[derive(Clone, Debug)]
pub struct ContentsRow {
    pub scn: u64,
    pub op: u16,
    pub sql: String,
    pub xid: [u8; 8],
    pub owner: String,
    pub table: String,
    pub thread: u16,
    pub status: i32,
    pub info: String,
}

impl ContentsRow {
    pub fn new(scn: u64, op: u16, sql: &str) -> Self {
        ContentsRow {
            scn,
            op,
            sql: sql.to_string(),
            xid: [0, 1, 0, 2, 0, 0, 0, 3],
            owner: "HR".into(),
            table: "T".into(),
            thread: 1,
            status: 0,
            info: String::new(),
        }
    }
}

#[derive(Default)]
pub struct Db {
    pub current_scn: u64,
    /// (thread, sequence, first, next, status, member)
    pub online: Vec<(u16, u64, u64, u64, &'static str, String)>,
    /// V$LOGFILE.STATUS per member name (absent: in use).
    pub member_status: HashMap<String, &'static str>,
    /// (name, thread, sequence, first, next)
    pub archived: Vec<(String, u16, u64, u64, u64)>,
    /// One thread, from these, unless `threads` is set.
    pub thread_sequence: u64,
    pub last_redo: u64,
    pub threads: Option<Vec<ThreadRow>>,
    /// Contents rows: (scn, op, sql), of HR.T on thread 1.
    pub rows: Vec<(u64, u16, String)>,
    /// Contents rows with every column.
    pub full_rows: Vec<ContentsRow>,
    /// `None`: not a CDB; `Some(names)`: a CDB with these containers. `pre_12`: V$DATABASE has
    /// no CDB column (ORA-00904).
    pub cdb: Option<Vec<String>>,
    pub pre_12: bool,
    /// ALL_OBJECTS / CDB_OBJECTS: object number → (owner, name).
    pub objects: HashMap<u64, (String, String)>,
    /// GV$TRANSACTION: (XID in hex, START_SCN).
    pub transactions: Vec<(String, u64)>,
    /// The current SCN moves by this much at every read of it.
    pub scn_step: u64,
    /// A mining query over a window wider than this many SCNs times out (DPI-1067).
    pub timeout_span: Option<u64>,
    /// Every mining query: (START_LOGMNR start, read, end).
    pub mined: Vec<(u64, u64, u64)>,
    /// The next call whose SQL starts with the prefix fails with the error.
    pub failures: VecDeque<(&'static str, OraError)>,
    pub connect_failures: VecDeque<OraError>,
    /// Connections made before this epoch are dead.
    pub epoch: u64,
    pub connects: u64,
    pub log: Vec<String>,
    /// Contents rows handed to the source (a capped fetch closes the cursor early).
    pub rows_handed: u64,
    /// Epochs of the connections whose call was broken from another thread.
    pub breaks: Vec<u64>,
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

    /// Thread 1 switches from its CURRENT log to a new one in group `new_member` at `at`.
    pub fn switch_log(&mut self, at: u64, new_member: &str) {
        let cur = self
            .online
            .iter_mut()
            .find(|o| o.4 == "CURRENT" && o.0 == 1)
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

    fn thread_rows(&self) -> Vec<ThreadRow> {
        self.threads.clone().unwrap_or_else(|| {
            vec![ThreadRow {
                thread: 1,
                status: "OPEN",
                enabled: "PUBLIC",
                sequence: self.thread_sequence,
                last_redo: self.last_redo,
                enable_change: 0,
                checkpoint_change: 0,
                disable_change: 0,
            }]
        })
    }

    fn all_rows(&self) -> Vec<ContentsRow> {
        let mut all: Vec<ContentsRow> = self
            .rows
            .iter()
            .map(|(scn, op, sql)| ContentsRow::new(*scn, *op, sql))
            .chain(self.full_rows.iter().cloned())
            .collect();
        all.sort_by_key(|r| r.scn);
        all
    }
}

pub type Shared = Arc<Mutex<Db>>;

pub struct FakeConnector(pub Shared);

pub struct FakeConn {
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

pub fn t(v: impl ToString) -> Option<String> {
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
        let mut db = self.enter(sql, binds)?;
        let archived_filter = |start: u64, before: bool| {
            move |a: &&(String, u16, u64, u64, u64)| {
                if before {
                    a.4 <= start
                } else {
                    a.4 > start
                }
            }
        };
        let rows = if sql == sql::DATABASE_IDENTITY {
            vec![vec![t(3_141_592_653u64), t("ORCL"), t(1_920_977)]]
        } else if sql == sql::CURRENT_SCN {
            let now = db.current_scn;
            db.current_scn += db.scn_step;
            vec![vec![t(now)]]
        } else if sql == sql::THREADS {
            db.thread_rows()
                .iter()
                .map(|r| {
                    vec![
                        t(r.thread),
                        t(r.status),
                        t(r.enabled),
                        t(r.sequence),
                        t(r.last_redo),
                        t(r.enable_change),
                        t(r.checkpoint_change),
                        t(r.disable_change),
                    ]
                })
                .collect()
        } else if sql == sql::ONLINE_LOGS {
            let mut v: Vec<_> = db.online.clone();
            v.sort_by(|a, b| (a.0, a.1, &a.5).cmp(&(b.0, b.1, &b.5)));
            v.iter()
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
                        db.member_status.get(&o.5).map(|s| s.to_string()),
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
                .filter(archived_filter(start, false))
                .map(|a| vec![t(&a.0), t(a.1), t(a.2), t(a.3), t(a.4), t(1)])
                .collect()
        } else if sql == sql::ARCHIVED_BEFORE {
            let start = bind_u64(binds, 0);
            let mut max: std::collections::BTreeMap<u16, u64> = Default::default();
            for a in db.archived.iter().filter(archived_filter(start, true)) {
                let m = max.entry(a.1).or_insert(a.2);
                *m = (*m).max(a.2);
            }
            max.iter().map(|(th, s)| vec![t(th), t(s)]).collect()
        } else if sql == sql::OLDEST_LOGS {
            let mut min: std::collections::BTreeMap<u16, u64> = Default::default();
            for (th, first) in db
                .archived
                .iter()
                .map(|a| (a.1, a.3))
                .chain(db.online.iter().map(|o| (o.0, o.2)))
            {
                let m = min.entry(th).or_insert(first);
                *m = (*m).min(first);
            }
            min.iter().map(|(th, s)| vec![t(th), t(s)]).collect()
        } else if sql == sql::OPEN_TRANSACTIONS {
            db.transactions
                .iter()
                .map(|(x, s)| vec![t(x), t(s)])
                .collect()
        } else if sql == sql::IS_CDB {
            if db.pre_12 {
                return Err(OraError::ora(904, "\"CDB\": invalid identifier"));
            }
            vec![vec![t(if db.cdb.is_some() { "YES" } else { "NO" })]]
        } else if sql == sql::CONTAINERS {
            db.cdb
                .clone()
                .unwrap_or_default()
                .iter()
                .map(|n| vec![t(n)])
                .collect()
        } else if sql.contains("OBJECT_ID = :1") {
            let obj = bind_u64(binds, 0);
            db.objects
                .get(&obj)
                .map(|(o, n)| vec![vec![t(o), t(n)]])
                .unwrap_or_default()
        } else if sql.contains("TAB_COLUMNS") {
            vec![
                vec![t("NAME"), t("VARCHAR2"), t(2)],
                vec![t("ID"), t("NUMBER"), t(1)],
            ]
        } else if sql == sql::CURRENT_CONTAINER {
            vec![vec![t("CDB$ROOT")]]
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
        let mut db = self.enter(sql, binds)?;
        let (read, end) = (bind_u64(binds, 0), bind_u64(binds, 1));
        let Some((start, stop)) = self.window else {
            return Err(OraError::ora(1306, "START_LOGMNR must be invoked"));
        };
        assert!(
            start <= read + 1 && stop == end,
            "START_LOGMNR ({start}, {stop}) covers the window ({read}, {end}]"
        );
        db.mined.push((start, read, end));
        if db.timeout_span.is_some_and(|span| end - read > span) {
            return Err(OraError::dpi(
                1067,
                "DPI-1067: call timeout of 1800000 ms exceeded with ORA-3156",
            ));
        }
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
            .all_rows()
            .iter()
            .filter(|r| r.scn > read && r.scn <= end && r.scn >= start)
            .filter(|r| ranges.iter().any(|(f, n)| r.scn >= *f && r.scn < *n))
            .map(|r| RecordedRow {
                cells: vec![
                    Cell::Number(r.scn as i128),
                    Cell::Null,
                    Cell::Raw(r.xid.to_vec()),
                    Cell::Number(r.op as i128),
                    Cell::Text(r.owner.clone()),
                    Cell::Text(r.table.clone()),
                    Cell::Null,
                    Cell::Number(0),
                    Cell::Number(0),
                    Cell::Text(r.sql.clone()),
                    Cell::Number(r.thread as i128),
                    Cell::Null,
                    Cell::Null,
                    Cell::Number(r.status as i128),
                    if r.info.is_empty() {
                        Cell::Null
                    } else {
                        Cell::Text(r.info.clone())
                    },
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

pub fn config() -> OracleConfig {
    OracleConfig {
        connect_string: "fake:1521/ORCL".into(),
        user: "REDOFLOW".into(),
        ..OracleConfig::default()
    }
}

/// Sequence 11 archived, 12 CURRENT in redo02.log; rows at 1150, 1350, 1400.
pub fn db() -> Shared {
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

pub fn scns(rows: &[RedoRow]) -> Vec<u64> {
    rows.iter().map(|r| r.scn.0).collect()
}

/// What the runtime does: a retryable error → new session at the read position, try again.
pub fn fetch_like_runtime(
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
