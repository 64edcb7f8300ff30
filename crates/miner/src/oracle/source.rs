//! [`OracleSource`]: the [`LogSource`] over LogMiner.
//!
//! A session is a connection (set up for the NLS formats and, in a CDB, CDB$ROOT) plus the list
//! of redo files chosen by [`select_logs`] for the session's resume SCN: the one the runtime
//! passes, one before the oldest open transaction's first change. Each window runs
//! `START_LOGMNR(resume+1, end)` over that list, so LogMiner never starts inside an open
//! transaction (it would report the transaction's changes as UNSUPPORTED, DBZ-8747), and the
//! contents query for `(read, end]`.
//!
//! A window ends no later than what every redo thread has written ([`FlushWatch`]), spans at most
//! `window_max_logs` log files per thread, and after a call timeout the next window is half as
//! long (growing back as windows are read in time), so one heavy stretch of redo never stops
//! the node.
//!
//! Rows of objects LogMiner cannot name (`UNKNOWN`.`OBJ# n`) are looked up by object number:
//! those of tables the configuration does not capture are dropped here; the others (a captured
//! table, or a dropped one that cannot be told) go on, to follow `on_parse_error`.
//!
//! On a CDB the source requires `pdb` and checks it names a container; a first start at the
//! current SCN mines from the oldest transaction still open ([`LogSource::first_offset`]).
//!
//! A log switch changes the files that hold new redo. Before every window the source compares
//! the CURRENT sequences with the session's, after the window end was capped
//! ([`LogSource::current_scn`]), so every SCN up to the cap lies in a file of the session; on a
//! switch it starts a new session itself (and reports it through
//! [`LogSource::session_stale`] to runtimes that ask first).
//!
//! Errors are classified ([`super::error`]): retryable ones drop the session (and, for a lost
//! connection, the connection) and surface as [`SourceError::Retryable`]; the runtime waits
//! with backoff and calls [`LogSource::start_session`] again. Fatal ones carry a hint for the
//! operator. The source never sleeps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use redoflow_checkpoint::{Offset, Scn, ThreadId, ThreadWatermark, Xid};

use super::config::OracleConfig;
use super::conn::{Bind, Breaker, FetchOptions, OracleConnection, OracleConnector, TextRows};
use super::error::{ErrorClass, OraError};
use super::logs::{
    log_switched, select_logs, ArchivedLog, FlushWatch, LogSet, LogSetError, OnlineLog, ThreadInfo,
};
use super::rows::{convert_row, RowScratch};
use super::sql;
use crate::row::RedoRow;
use crate::schema::{Column, TableId, TableSchema};
use crate::sim::{SimClock, SystemClock};
use crate::source::{Interrupt, LogSource, SourceError, StartAt};

/// Counters for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OracleStats {
    pub connects: u64,
    pub sessions: u64,
    pub log_switches: u64,
    pub windows: u64,
    pub rows: u64,
    /// Windows ended early at the row cap.
    pub capped: u64,
    /// Windows shortened to `window_max_logs` log files per thread.
    pub bounded_by_logs: u64,
    /// Windows shortened after a call timeout of the mining query.
    pub shrunk_after_timeout: u64,
    /// Rows of objects LogMiner could not name (`OBJ# n`) whose object is a table not captured:
    /// dropped.
    pub unknown_objects_dropped: u64,
    pub retryable_errors: u64,
}

#[derive(Debug)]
struct Session {
    resume: Scn,
    logs: LogSet,
}

/// Why an operation failed, before it becomes a [`SourceError`].
enum Failure {
    Ora(OraError),
    Logs(LogSetError),
    Stop(SourceError),
}

impl From<OraError> for Failure {
    fn from(e: OraError) -> Self {
        Failure::Ora(e)
    }
}

/// The Oracle LogMiner [`LogSource`]. Generic over the connection layer: [`super::driver`]
/// in production, a scripted fake in tests.
pub struct OracleSource<C: OracleConnector> {
    config: OracleConfig,
    connector: C,
    conn: Option<C::Conn>,
    session: Option<Session>,
    contents_sql: String,
    columns_sql: String,
    /// A log switch check ran after the last `current_scn`, and found none.
    fresh: bool,
    /// Consecutive missing-log errors at `missing_at`.
    missing: u32,
    missing_at: Scn,
    scratch: RowScratch,
    stats: OracleStats,
    /// The current connection's breaker, shared with [`LogSource::interrupter`]'s callers.
    breaker: Arc<Mutex<Option<Breaker>>>,
    clock: Arc<dyn SimClock>,
    flush: FlushWatch,
    /// The last window cap answered by `current_scn`: no window ends past it.
    cap: Option<Scn>,
    /// After a call timeout of the mining query: the longest span (in SCNs) a window may have,
    /// halved at every timeout and doubled after every window read in time.
    span_limit: Option<u64>,
    /// The CDB / PDB configuration was checked against the database.
    container_checked: bool,
    object_sql: String,
    /// Object number → its (owner, name), `None` when the dictionary no longer has it.
    objects: HashMap<u64, Option<(String, String)>>,
}

impl<C: OracleConnector> std::fmt::Debug for OracleSource<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OracleSource")
            .field("connect_string", &self.config.connect_string)
            .field("user", &self.config.user)
            .field("connected", &self.conn.is_some())
            .field("session", &self.session)
            .field("stats", &self.stats)
            .finish()
    }
}

fn num(v: Option<&Option<String>>, what: &str) -> Result<u64, OraError> {
    let s = v
        .and_then(|v| v.as_deref())
        .ok_or_else(|| OraError::other(format!("{what}: NULL")))?;
    s.trim()
        .parse::<u64>()
        .or_else(|_| {
            // NUMBERs that do not fit u64 (2^64-1 is the CURRENT log's NEXT_CHANGE#; larger
            // sentinels exist) read as the maximum.
            let t = s.trim();
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                Ok(u64::MAX)
            } else {
                Err(())
            }
        })
        .map_err(|_| OraError::other(format!("{what}: not a number: {s:?}")))
}

fn opt_num(v: Option<&Option<String>>, what: &str) -> Result<Option<u64>, OraError> {
    match v {
        Some(Some(_)) => num(v, what).map(Some),
        _ => Ok(None),
    }
}

fn text(v: Option<&Option<String>>) -> String {
    v.and_then(|v| v.clone()).unwrap_or_default()
}

fn small<T: TryFrom<u64>>(v: Option<&Option<String>>, what: &str) -> Result<T, OraError> {
    let n = num(v, what)?;
    T::try_from(n).map_err(|_| OraError::other(format!("{what}: {n} out of range")))
}

/// V$ARCHIVED_LOG rows of [`sql::ARCHIVED_LOGS`].
pub fn parse_archived(rows: &TextRows) -> Result<Vec<ArchivedLog>, OraError> {
    rows.iter()
        .map(|r| {
            Ok(ArchivedLog {
                name: text(r.first()),
                thread: small(r.get(1), "V$ARCHIVED_LOG.THREAD#")?,
                sequence: num(r.get(2), "V$ARCHIVED_LOG.SEQUENCE#")?,
                first_change: Scn(num(r.get(3), "V$ARCHIVED_LOG.FIRST_CHANGE#")?),
                next_change: Scn(num(r.get(4), "V$ARCHIVED_LOG.NEXT_CHANGE#")?),
                dest_id: small(r.get(5), "V$ARCHIVED_LOG.DEST_ID")?,
            })
        })
        .collect()
}

/// V$LOG ⋈ V$LOGFILE rows of [`sql::ONLINE_LOGS`].
pub fn parse_online(rows: &TextRows) -> Result<Vec<OnlineLog>, OraError> {
    rows.iter()
        .map(|r| {
            Ok(OnlineLog {
                thread: small(r.first(), "V$LOG.THREAD#")?,
                sequence: num(r.get(1), "V$LOG.SEQUENCE#")?,
                first_change: Scn(num(r.get(2), "V$LOG.FIRST_CHANGE#")?),
                next_change: opt_num(r.get(3), "V$LOG.NEXT_CHANGE#")?.map(Scn),
                status: text(r.get(4)),
                archived: text(r.get(5)).eq_ignore_ascii_case("YES"),
                member: text(r.get(6)),
                bytes: opt_num(r.get(7), "V$LOG.BYTES")?.unwrap_or(0),
                member_status: text(r.get(8)),
            })
        })
        .collect()
}

/// V$THREAD rows of [`sql::THREADS`].
pub fn parse_threads(rows: &TextRows) -> Result<Vec<ThreadInfo>, OraError> {
    rows.iter()
        .map(|r| {
            Ok(ThreadInfo {
                thread: small(r.first(), "V$THREAD.THREAD#")?,
                status: text(r.get(1)),
                enabled: text(r.get(2)),
                sequence: num(r.get(3), "V$THREAD.SEQUENCE#")?,
                last_redo_change: Scn(opt_num(r.get(4), "V$THREAD.LAST_REDO_CHANGE#")?.unwrap_or(0)),
                enable_change: Scn(opt_num(r.get(5), "V$THREAD.ENABLE_CHANGE#")?.unwrap_or(0)),
                checkpoint_change: Scn(
                    opt_num(r.get(6), "V$THREAD.CHECKPOINT_CHANGE#")?.unwrap_or(0),
                ),
                disable_change: Scn(opt_num(r.get(7), "V$THREAD.DISABLE_CHANGE#")?.unwrap_or(0)),
            })
        })
        .collect()
}

/// Rows of [`sql::CURRENT_SEQUENCES`].
pub fn parse_current_sequences(rows: &TextRows) -> Result<BTreeMap<u16, u64>, OraError> {
    rows.iter()
        .map(|r| {
            Ok((
                small(r.first(), "V$LOG.THREAD#")?,
                num(r.get(1), "V$LOG.SEQUENCE#")?,
            ))
        })
        .collect()
}

/// Rows of [`sql::ARCHIVED_BEFORE`] or [`sql::OLDEST_LOGS`]: thread → a number.
pub fn parse_thread_numbers(rows: &TextRows, what: &str) -> Result<BTreeMap<u16, u64>, OraError> {
    let mut out = BTreeMap::new();
    for r in rows {
        if let Some(n) = opt_num(r.get(1), what)? {
            out.insert(small(r.first(), "THREAD#")?, n);
        }
    }
    Ok(out)
}

/// Missing-log codes: a file of the session is not (or no longer) readable.
fn is_missing_log(e: &OraError) -> bool {
    matches!(e.ora, Some(308 | 1284 | 1291))
}

/// A call timeout (`call_timeout`) of a round trip.
fn is_timeout(e: &OraError) -> bool {
    e.dpi == Some(1067) || e.ora == Some(1013)
}

/// The object number of a table LogMiner could not name (`OBJ# 90417`).
fn object_number(row: &RedoRow) -> Option<u64> {
    if &*row.seg_owner != "UNKNOWN" {
        return None;
    }
    row.table_name.strip_prefix("OBJ# ")?.trim().parse().ok()
}

impl<C: OracleConnector> OracleSource<C> {
    /// Validates the configuration; connects lazily (first `start_session`).
    pub fn new(config: OracleConfig, connector: C) -> Result<Self, SourceError> {
        Self::with_clock(config, connector, Arc::new(SystemClock))
    }

    /// [`OracleSource::new`] with the clock that tells how long a redo thread has been idle
    /// (tests use [`crate::sim::ManualClock`]).
    pub fn with_clock(
        config: OracleConfig,
        connector: C,
        clock: Arc<dyn SimClock>,
    ) -> Result<Self, SourceError> {
        config.validate().map_err(|e| SourceError::Fatal {
            message: e.to_string(),
        })?;
        Ok(OracleSource {
            contents_sql: sql::contents_query(&config),
            columns_sql: sql::table_columns(&config),
            object_sql: sql::object_name(&config),
            config,
            connector,
            conn: None,
            session: None,
            fresh: false,
            missing: 0,
            missing_at: Scn::ZERO,
            scratch: RowScratch::default(),
            stats: OracleStats::default(),
            breaker: Arc::default(),
            clock,
            flush: FlushWatch::default(),
            cap: None,
            span_limit: None,
            container_checked: false,
            objects: HashMap::new(),
        })
    }

    pub fn stats(&self) -> &OracleStats {
        &self.stats
    }

    pub fn config(&self) -> &OracleConfig {
        &self.config
    }

    /// The files of the current session (empty when there is none).
    pub fn session_logs(&self) -> Option<&LogSet> {
        self.session.as_ref().map(|s| &s.logs)
    }

    /// The open connection, connecting and setting the session up first if needed.
    fn conn(&mut self) -> Result<&mut C::Conn, OraError> {
        if self.conn.is_none() {
            let mut c = self.connector.connect()?;
            self.stats.connects += 1;
            c.set_call_timeout(Some(self.config.call_timeout))?;
            if self.config.pdb_name().is_some() {
                let rows = c.query_text(sql::CURRENT_CONTAINER, &[])?;
                let name = text(rows.first().and_then(|r| r.first()));
                if name != "CDB$ROOT" {
                    c.execute(sql::SET_CONTAINER_ROOT, &[])?;
                }
            }
            for stmt in sql::session_setup() {
                c.execute(&stmt, &[])?;
            }
            tracing::info!(connect_string = %self.config.connect_string, user = %self.config.user, "connected to Oracle");
            *self.breaker.lock().unwrap_or_else(|p| p.into_inner()) = c.breaker();
            self.conn = Some(c);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| OraError::other("no connection"))
    }

    fn drop_session(&mut self, reconnect: bool) {
        self.session = None;
        self.fresh = false;
        if reconnect {
            *self.breaker.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.conn = None;
        } else if let Some(c) = self.conn.as_mut() {
            // Frees the session's memory now; a failure only means there was none.
            let _ = c.execute(sql::END_LOGMNR, &[]);
        }
    }

    /// Checks `pdb` against the database once: a CDB needs it (the same OWNER.TABLE in two
    /// PDBs would merge into one CSV, and CDB$ROOT's dictionary cannot see PDB tables), a
    /// non-CDB refuses it, and it must name one of the CDB's containers (a name that matches
    /// none gives no row, ever).
    fn check_container(&mut self) -> Result<(), Failure> {
        if self.container_checked {
            return Ok(());
        }
        let pdb = self.config.pdb_name();
        let conn = self.conn()?;
        let cdb = match conn.query_text(sql::IS_CDB, &[]) {
            Ok(rows) => text(rows.first().and_then(|r| r.first())).eq_ignore_ascii_case("YES"),
            // 11g: no CDB column, no containers.
            Err(e) if e.ora == Some(904) => false,
            Err(e) => return Err(e.into()),
        };
        let fatal = |message: String| {
            Err(Failure::Stop(SourceError::Fatal {
                message: format!("Oracle source: {message}"),
            }))
        };
        match (cdb, pdb) {
            (false, None) => {}
            (false, Some(pdb)) => {
                return fatal(format!(
                    "`pdb = {pdb:?}` is set, but the database is not a CDB: remove `pdb` from \
                     [source.oracle]"
                ))
            }
            (true, pdb) => {
                let names: Vec<String> = conn
                    .query_text(sql::CONTAINERS, &[])?
                    .iter()
                    .map(|r| text(r.first()))
                    .collect();
                let pdbs: Vec<&str> = names
                    .iter()
                    .map(String::as_str)
                    .filter(|n| !matches!(*n, "CDB$ROOT" | "PDB$SEED"))
                    .collect();
                match pdb {
                    None => {
                        return fatal(format!(
                            "the database is a CDB and `pdb` is not set: set `pdb` in \
                             [source.oracle] to the pluggable database to capture (one of: {}). \
                             Without it the same OWNER.TABLE of two PDBs would merge into one \
                             CSV, and CDB$ROOT's dictionary cannot see PDB tables",
                            pdbs.join(", ")
                        ))
                    }
                    Some(pdb) if !names.contains(&pdb) => {
                        return fatal(format!(
                            "the CDB has no container named {pdb:?} (its PDBs: {}): LogMiner \
                             would return no row for it, ever. Fix `pdb` (names are upper case \
                             unless created in double quotes)",
                            pdbs.join(", ")
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        self.container_checked = true;
        Ok(())
    }

    /// Chooses and adds the files for a session resuming after `resume`.
    fn open_session(&mut self, resume: Scn) -> Result<(), Failure> {
        self.check_container()?;
        let (logs, _) = self.choose_logs(resume)?;
        let logs = match logs {
            Ok(l) => l,
            Err(LogSetError::StartNotCovered {
                thread,
                start,
                oldest,
            }) => {
                tracing::error!(%thread, %start, %oldest, "redo for the resume SCN is gone");
                return Err(Failure::Stop(SourceError::LogsMissing {
                    resume_scn: start,
                    missing_from: start.next(),
                    missing_to: oldest.prev(),
                }));
            }
            Err(e) => return Err(Failure::Logs(e)),
        };
        let conn = self.conn()?;
        for (i, f) in logs.files.iter().enumerate() {
            let add = if i == 0 {
                sql::ADD_LOGFILE_NEW
            } else {
                sql::ADD_LOGFILE
            };
            conn.execute(add, &[Bind::Str(&f.path)])?;
        }
        tracing::info!(resume = %resume, files = logs.files.len(), current = ?logs.current_sequences, "LogMiner session started");
        self.stats.sessions += 1;
        self.session = Some(Session { resume, logs });
        self.fresh = false;
        Ok(())
    }

    /// The redo files for rows after `resume`, as the views list them now, and the threads.
    #[allow(clippy::type_complexity)]
    fn choose_logs(
        &mut self,
        resume: Scn,
    ) -> Result<(Result<LogSet, LogSetError>, Vec<ThreadInfo>), Failure> {
        let conn = self.conn()?;
        let archived =
            parse_archived(&conn.query_text(sql::ARCHIVED_LOGS, &[Bind::U64(resume.0)])?)?;
        let before = parse_thread_numbers(
            &conn.query_text(sql::ARCHIVED_BEFORE, &[Bind::U64(resume.0)])?,
            "V$ARCHIVED_LOG.SEQUENCE#",
        )?;
        let online = parse_online(&conn.query_text(sql::ONLINE_LOGS, &[])?)?;
        let threads = parse_threads(&conn.query_text(sql::THREADS, &[])?)?;
        Ok((
            select_logs(resume, &online, &archived, &threads, &before),
            threads,
        ))
    }

    /// Compares the CURRENT sequences with the session's; true on a log switch.
    fn switched(&mut self) -> Result<bool, Failure> {
        let rows = self.conn()?.query_text(sql::CURRENT_SEQUENCES, &[])?;
        let now = parse_current_sequences(&rows)?;
        let Some(session) = &self.session else {
            return Ok(false);
        };
        if log_switched(&session.logs.current_sequences, &now) {
            tracing::info!(before = ?session.logs.current_sequences, now = ?now, "log switch");
            self.stats.log_switches += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// Turns a failure into the error the runtime sees, resetting what the failure broke.
    fn fail(&mut self, what: &str, scn: Scn, end: Scn, f: Failure) -> SourceError {
        match f {
            Failure::Stop(e) => e,
            Failure::Logs(e) => {
                self.stats.retryable_errors += 1;
                self.drop_session(self.config.reconnect_on_session_restart);
                SourceError::Retryable {
                    scn,
                    message: format!("{what}: {e}"),
                }
            }
            Failure::Ora(e) => {
                match e.class() {
                    ErrorClass::Fatal { hint } => {
                        self.drop_session(true);
                        SourceError::Fatal {
                        message: format!("Oracle source: {what} at SCN {scn} failed: {e}\n  what to do: {hint}"),
                    }
                    }
                    class => {
                        self.stats.retryable_errors += 1;
                        if is_timeout(&e) && what == "mining" && end > scn {
                            // Retrying the same window would time out again: the next one is
                            // half as long (and halves again if it times out).
                            let span = ((end.0 - scn.0) / 2).max(1);
                            self.span_limit = Some(span);
                            self.stats.shrunk_after_timeout += 1;
                            tracing::warn!(read = %scn, %end, next_span = span,
                                "the mining query timed out: the next window is shorter");
                        }
                        if is_missing_log(&e) {
                            if self.missing_at == scn {
                                self.missing += 1;
                            } else {
                                self.missing_at = scn;
                                self.missing = 1;
                            }
                            if self.missing >= self.config.missing_log_attempts {
                                self.drop_session(true);
                                return self.logs_gone_or_not(scn, end, &e);
                            }
                        }
                        let reconnect =
                            matches!(class, ErrorClass::Connection | ErrorClass::Transient)
                                || self.config.reconnect_on_session_restart;
                        self.drop_session(reconnect);
                        SourceError::Retryable {
                            scn,
                            message: format!("{what}: {e}"),
                        }
                    }
                }
            }
        }
    }

    /// After `missing_log_attempts` missing-log errors at `scn`: the views are read again. Redo
    /// they no longer list is gone; redo they still list is not, whatever LogMiner says (a file
    /// not readable from this host, an archive destination being restored): retried.
    fn logs_gone_or_not(&mut self, scn: Scn, end: Scn, e: &OraError) -> SourceError {
        let retry = |message: String| SourceError::Retryable { scn, message };
        match self.choose_logs(scn) {
            Ok((Err(LogSetError::StartNotCovered { oldest, .. }), _)) => {
                tracing::error!(%scn, %oldest, "redo for the read SCN is gone");
                SourceError::LogsMissing {
                    resume_scn: scn,
                    missing_from: scn.next(),
                    missing_to: oldest.prev().max(scn.next()),
                }
            }
            Ok((Ok(logs), _)) => retry(format!(
                "{e} {} times at SCN {scn}, but V$ARCHIVED_LOG / V$LOG still list the redo for \
                 ({scn}, {end}] ({}): check that those files are readable from this host (RAC: \
                 the archive destination must be on storage every instance and this node \
                 share)",
                self.missing,
                logs.files
                    .iter()
                    .map(|f| f.path.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok((Err(gap), _)) => retry(format!("{e}; the views: {gap}")),
            Err(_) => retry(format!("{e}; the log views could not be read again")),
        }
    }

    fn current_scn_inner(&mut self) -> Result<Scn, Failure> {
        let conn = self.conn()?;
        let rows = conn.query_text(sql::CURRENT_SCN, &[])?;
        let current = Scn(num(
            rows.first().and_then(|r| r.first()),
            "V$DATABASE.CURRENT_SCN",
        )?);
        let threads = parse_threads(&conn.query_text(sql::THREADS, &[])?)?;
        let cap = self.flush.cap(self.clock.now_unix_ms(), current, &threads);
        self.cap = Some(cap);
        Ok(cap)
    }

    /// Where the window `(read, end]` may end: never past the last cap (what every redo thread
    /// has written), within `window_max_logs` log files per thread, and within the span left
    /// after a timeout at `read`.
    fn window_end(&self, read: Scn, end: Scn) -> Scn {
        let mut bounded = end;
        if let Some(cap) = self.cap.filter(|&c| c > read) {
            bounded = bounded.min(cap);
        }
        if let Some(span) = self.span_limit {
            bounded = bounded.min(Scn(read.0.saturating_add(span)));
        }
        let by_logs = self.session.as_ref().and_then(|s| {
            let max = self.config.window_max_logs as usize;
            let mut threads: BTreeMap<u16, Vec<Scn>> = BTreeMap::new();
            for f in &s.logs.files {
                // Files after the one holding `read + 1`: their first SCNs, in sequence order.
                if f.next_change.is_none_or(|n| n > read.next()) {
                    threads.entry(f.thread).or_default().push(f.first_change);
                }
            }
            threads
                .values()
                .filter_map(|firsts| firsts.get(max).map(|first| first.prev()))
                .filter(|&e| e > read)
                .min()
        });
        if let Some(limit) = by_logs.filter(|&l| l < bounded) {
            tracing::debug!(%read, %end, %limit, "window bounded by window_max_logs");
            bounded = limit;
        }
        bounded
    }

    /// Drops the rows of objects LogMiner could not name whose object is a table the
    /// configuration does not capture; notes the name of the others in their INFO.
    fn resolve_objects(&mut self, out: &mut Vec<RedoRow>, from: usize) -> Result<(), OraError> {
        if !out[from..].iter().any(|r| object_number(r).is_some()) {
            return Ok(());
        }
        let mut dropped = 0;
        let mut keep = Vec::with_capacity(out.len() - from);
        for mut row in out.drain(from..) {
            let Some(obj) = object_number(&row) else {
                keep.push(row);
                continue;
            };
            if !self.objects.contains_key(&obj) {
                if self.objects.len() >= 4096 {
                    self.objects.clear();
                }
                let sql = self.object_sql.clone();
                let rows = self.conn()?.query_text(&sql, &[Bind::U64(obj)])?;
                let name = rows.first().map(|r| (text(r.first()), text(r.get(1))));
                self.objects.insert(obj, name);
            }
            match &self.objects[&obj] {
                Some((owner, table)) if !self.config.captures(owner, table) => dropped += 1,
                Some((owner, table)) => {
                    let note = format!("object {obj} is {owner}.{table}");
                    row.info = if row.info.is_empty() {
                        note
                    } else {
                        format!("{}; {note}", row.info)
                    };
                    keep.push(row);
                }
                None => keep.push(row),
            }
        }
        out.extend(keep);
        if dropped > 0 {
            self.stats.unknown_objects_dropped += dropped;
            tracing::debug!(
                dropped,
                "rows of uncaptured objects LogMiner could not name"
            );
        }
        Ok(())
    }

    /// [`LogSource::first_offset`] for `Current` and `Earliest`.
    fn first_offset_inner(&mut self, start: StartAt) -> Result<Offset, Failure> {
        self.check_container()?;
        let conn = self.conn()?;
        let threads = parse_threads(&conn.query_text(sql::THREADS, &[])?)?;
        let oldest =
            parse_thread_numbers(&conn.query_text(sql::OLDEST_LOGS, &[])?, "FIRST_CHANGE#")?;
        // The first SCN every thread's logs on disk still cover.
        let covered = oldest.values().copied().max().map(Scn).unwrap_or(Scn::ZERO);
        if start == StartAt::Earliest {
            tracing::info!(start = %covered.prev(), "first start at the oldest redo on disk");
            return Ok(Offset::starting_after(covered.prev()));
        }
        let current = |conn: &mut C::Conn| -> Result<Scn, Failure> {
            let rows = conn.query_text(sql::CURRENT_SCN, &[])?;
            Ok(Scn(num(
                rows.first().and_then(|r| r.first()),
                "V$DATABASE.CURRENT_SCN",
            )?))
        };
        // Read before and after the open transactions: one that starts in between starts
        // after `before`, and mining from `before` sees all of it.
        let before = current(conn)?;
        let open = conn.query_text(sql::OPEN_TRANSACTIONS, &[])?;
        let at = current(conn)?;
        let mut resume = before.prev();
        let mut skipped = BTreeSet::new();
        for r in &open {
            let xid: Xid = text(r.first())
                .parse()
                .map_err(|_| OraError::other(format!("GV$TRANSACTION.XID: {:?}", r.first())))?;
            let Some(started) = opt_num(r.get(1), "GV$TRANSACTION.START_SCN")?.map(Scn) else {
                continue;
            };
            if started >= covered {
                resume = resume.min(started.prev());
            } else {
                tracing::warn!(%xid, start_scn = %started, oldest_log = %covered,
                    "transaction open at the first start began before the oldest redo on \
                     disk: it is skipped whole (none of it is written)");
                skipped.insert(xid);
            }
        }
        // Everything that committed up to `at` is before the start: skipped on every thread.
        let watermark = ThreadWatermark {
            commit_scn: at.next(),
            committed_xids: BTreeSet::new(),
        };
        let offset = Offset {
            resume_scn: resume,
            threads: threads
                .iter()
                .map(|t| (ThreadId(t.thread), watermark.clone()))
                .collect(),
            dropped_xids: skipped,
        };
        tracing::info!(current_scn = %at, resume_scn = %resume, open_transactions = open.len(),
            skipped = offset.dropped_xids.len(), "first start at the current SCN");
        Ok(offset)
    }

    /// Appends the window's rows, stopping at the first SCN boundary after `max_rows` rows;
    /// returns the SCN through which the window was read.
    fn fetch_inner(
        &mut self,
        read: Scn,
        end: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> Result<Scn, Failure> {
        if self.session.as_ref().is_some_and(|s| s.resume > read) {
            // A window before the session's start: its files may not reach back that far.
            self.drop_session(false);
        }
        if self.session.is_none() {
            self.open_session(read)?;
        }
        if !self.fresh && self.switched()? {
            let resume = self.session.as_ref().map_or(read, |s| s.resume);
            self.drop_session(self.config.reconnect_on_session_restart);
            self.open_session(resume)?;
        }
        self.fresh = false;
        let planned = end;
        let end = self.window_end(read, end);
        if end < planned {
            let by_limit = self
                .span_limit
                .is_some_and(|s| end.0 == read.0.saturating_add(s));
            self.stats.bounded_by_logs += u64::from(self.cap.is_none_or(|c| end < c) && !by_limit);
        }
        let mine_from = self.session.as_ref().map_or(read, |s| s.resume);
        let fetch = FetchOptions {
            array_size: self.config.fetch_array_size,
            prefetch_rows: self.config.prefetch_rows,
        };
        let contents = &self.contents_sql;
        let scratch = &mut self.scratch;
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| OraError::other("no connection"))?;
        conn.execute(
            sql::START_LOGMNR,
            &[Bind::U64(mine_from.0.saturating_add(1)), Bind::U64(end.0)],
        )?;
        let before = out.len();
        let mut complete = end;
        let result = conn.query_rows(
            contents,
            &[Bind::U64(read.0), Bind::U64(end.0)],
            fetch,
            &mut |row| {
                let row = convert_row(row, scratch)?;
                if out.len() - before >= max_rows {
                    // Over the cap: end the window before the first row of a new SCN (rows
                    // come in SCN order, the CSF pieces of a statement share its SCN).
                    if let Some(last) = out.last().filter(|last| last.scn != row.scn) {
                        complete = last.scn;
                        return Ok(ControlFlow::Break(()));
                    }
                }
                out.push(row);
                Ok(ControlFlow::Continue(()))
            },
        );
        if let Err(e) = result {
            out.truncate(before);
            return Err(Failure::Ora(e));
        }
        if let Err(e) = self.resolve_objects(out, before) {
            out.truncate(before);
            return Err(Failure::Ora(e));
        }
        self.stats.windows += 1;
        self.stats.rows += (out.len() - before) as u64;
        if complete < end {
            self.stats.capped += 1;
            tracing::debug!(%read, %end, %complete, rows = out.len() - before, "window cut at the row cap");
        }
        Ok(complete)
    }
}

impl<C: OracleConnector> LogSource for OracleSource<C> {
    /// `Current`: the database's current SCN, mining from the oldest transaction still open
    /// (GV$TRANSACTION) so that each is written whole; commits up to the current SCN are
    /// skipped. A transaction that began before the oldest redo on disk is skipped whole.
    /// `Earliest`: the oldest SCN every thread's logs on disk cover.
    fn first_offset(&mut self, start: StartAt) -> Result<Offset, SourceError> {
        if let StartAt::Scn(scn) = start {
            return Ok(Offset::starting_after(scn));
        }
        self.first_offset_inner(start)
            .map_err(|f| self.fail("reading the first start", Scn::ZERO, Scn::ZERO, f))
    }

    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        // The cap moves: a later fetch must check for a log switch again.
        self.fresh = false;
        let at = self.session.as_ref().map_or(Scn::ZERO, |s| s.resume);
        self.current_scn_inner()
            .map_err(|f| self.fail("reading the current SCN", at, at, f))
    }

    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        if self.session.is_some() {
            self.drop_session(self.config.reconnect_on_session_restart);
        }
        self.open_session(resume_scn)
            .map_err(|f| self.fail("starting a LogMiner session", resume_scn, resume_scn, f))
    }

    /// The whole window, in as many queries as its bounds take (`window_max_logs`, timeouts).
    fn fetch(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), SourceError> {
        let mut read = read_scn;
        while read < end_scn {
            read = self.fetch_capped(read, end_scn, out, usize::MAX)?;
        }
        Ok(())
    }

    fn fetch_capped(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> Result<Scn, SourceError> {
        let result = self.fetch_inner(read_scn, end_scn, out, max_rows);
        match result {
            Ok(complete) => {
                if self.missing_at == read_scn {
                    self.missing = 0;
                }
                // Read in time: the limit grows back, and goes once it no longer binds.
                self.span_limit = self
                    .span_limit
                    .map(|s| s.saturating_mul(2))
                    .filter(|&s| s < u64::MAX / 4);
                Ok(complete)
            }
            Err(f) => {
                let end = self.window_end(read_scn, end_scn);
                Err(self.fail("mining", read_scn, end, f))
            }
        }
    }

    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        let at = self.session.as_ref().map_or(Scn::ZERO, |s| s.resume);
        let sql = self.columns_sql.clone();
        let rows = self
            .conn()
            .and_then(|c| c.query_text(&sql, &[Bind::Str(owner), Bind::Str(table)]))
            .map_err(|e| self.fail("reading table columns", at, at, Failure::Ora(e)))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut columns = Vec::with_capacity(rows.len());
        for r in &rows {
            let column_id = small(r.get(2), "COLUMN_ID")
                .map_err(|e| self.fail("reading table columns", at, at, Failure::Ora(e)))?;
            columns.push(Column {
                name: text(r.first()),
                data_type: text(r.get(1)),
                column_id,
            });
        }
        Ok(Some(TableSchema::new(TableId::new(owner, table), columns)))
    }

    fn session_stale(&mut self) -> Result<bool, SourceError> {
        if self.session.is_none() {
            return Ok(false);
        }
        let at = self.session.as_ref().map_or(Scn::ZERO, |s| s.resume);
        match self.switched() {
            Ok(true) => Ok(true),
            Ok(false) => {
                self.fresh = true;
                Ok(false)
            }
            Err(f) => Err(self.fail("checking for a log switch", at, at, f)),
        }
    }

    fn interrupter(&self) -> Option<Interrupt> {
        let slot = self.breaker.clone();
        Some(Arc::new(move || {
            if let Some(b) = slot.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                b();
            }
        }))
    }

    fn identity(&mut self) -> Result<Vec<(String, String)>, SourceError> {
        let identity = (|| -> Result<Vec<(String, String)>, Failure> {
            let conn = self.conn()?;
            let rows = conn.query_text(sql::DATABASE_IDENTITY, &[])?;
            let row = rows.first();
            let field = |i: usize| text(row.and_then(|r| r.get(i)));
            Ok(vec![
                ("oracle DBID".to_string(), field(0)),
                ("oracle database name".to_string(), field(1)),
                (
                    "oracle incarnation (RESETLOGS_CHANGE#)".to_string(),
                    field(2),
                ),
            ])
        })();
        identity.map_err(|f| self.fail("reading the database's identity", Scn::ZERO, Scn::ZERO, f))
    }
}
