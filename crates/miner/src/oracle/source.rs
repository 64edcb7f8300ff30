//! [`OracleSource`]: the [`LogSource`] over LogMiner.
//!
//! A session is a connection (set up for the NLS formats and, in a CDB, CDB$ROOT) plus the list
//! of redo files chosen by [`select_logs`] for the session's resume SCN. Each window runs
//! `START_LOGMNR(read+1, end)` over that list and the contents query for `(read, end]`.
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

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use redoflow_checkpoint::Scn;

use super::config::OracleConfig;
use super::conn::{Bind, Breaker, FetchOptions, OracleConnection, OracleConnector, TextRows};
use super::error::{ErrorClass, OraError};
use super::logs::{
    log_switched, select_logs, window_cap, ArchivedLog, LogSet, LogSetError, OnlineLog, ThreadInfo,
};
use super::rows::{convert_row, RowScratch};
use super::sql;
use crate::row::RedoRow;
use crate::schema::{Column, TableId, TableSchema};
use crate::source::{Interrupt, LogSource, SourceError};

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

/// Missing-log codes: a file of the session is not (or no longer) readable.
fn is_missing_log(e: &OraError) -> bool {
    matches!(e.ora, Some(308 | 1284 | 1291))
}

impl<C: OracleConnector> OracleSource<C> {
    /// Validates the configuration; connects lazily (first `start_session`).
    pub fn new(config: OracleConfig, connector: C) -> Result<Self, SourceError> {
        config.validate().map_err(|e| SourceError::Fatal {
            message: e.to_string(),
        })?;
        Ok(OracleSource {
            contents_sql: sql::contents_query(&config),
            columns_sql: sql::table_columns(&config),
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
            if self.config.pdb.is_some() {
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

    /// Chooses and adds the files for a session resuming after `resume`.
    fn open_session(&mut self, resume: Scn) -> Result<(), Failure> {
        let conn = self.conn()?;
        let archived =
            parse_archived(&conn.query_text(sql::ARCHIVED_LOGS, &[Bind::U64(resume.0)])?)?;
        let online = parse_online(&conn.query_text(sql::ONLINE_LOGS, &[])?)?;
        let threads = parse_threads(&conn.query_text(sql::THREADS, &[])?)?;
        let logs = match select_logs(resume, &online, &archived, &threads) {
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
                        if is_missing_log(&e) {
                            if self.missing_at == scn {
                                self.missing += 1;
                            } else {
                                self.missing_at = scn;
                                self.missing = 1;
                            }
                            if self.missing >= self.config.missing_log_attempts {
                                self.drop_session(true);
                                return SourceError::LogsMissing {
                                    resume_scn: scn,
                                    missing_from: scn.next(),
                                    missing_to: end,
                                };
                            }
                        }
                        let reconnect = class == ErrorClass::Connection
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

    fn current_scn_inner(&mut self) -> Result<Scn, Failure> {
        let conn = self.conn()?;
        let rows = conn.query_text(sql::CURRENT_SCN, &[])?;
        let current = Scn(num(
            rows.first().and_then(|r| r.first()),
            "V$DATABASE.CURRENT_SCN",
        )?);
        let threads = parse_threads(&conn.query_text(sql::THREADS, &[])?)?;
        Ok(window_cap(current, &threads))
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
            self.drop_session(self.config.reconnect_on_session_restart);
            self.open_session(read)?;
        }
        self.fresh = false;
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
            &[Bind::U64(read.0.saturating_add(1)), Bind::U64(end.0)],
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

    fn fetch(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), SourceError> {
        self.fetch_capped(read_scn, end_scn, out, usize::MAX)
            .map(|_| ())
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
                Ok(complete)
            }
            Err(f) => Err(self.fail("mining", read_scn, end_scn, f)),
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
}
