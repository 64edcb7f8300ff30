//! `[source.sim]`: the simulated database's settings. Everything is deterministic from `seed`
//! and these values; two processes with equal settings see one database.

use serde::Deserialize;

/// Settings of [`SimSource`](super::SimSource). Every field has a default, unknown fields are
/// refused.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// Seed of the whole workload: same seed and settings, same rows.
    pub seed: u64,
    /// The database's SCN before the first change; the first rows are at `start_scn + 1`.
    pub start_scn: u64,
    /// Changes (DML statements) per second of wall-clock time since `start_unix_ms`;
    /// `current_scn()` is the SCN the workload reaches after that many changes. `None`
    /// (the default, for benchmarks): unbounded, `current_scn()` answers `end_scn`, or
    /// `Scn::MAX` when that is not set either, and the miner's planner sizes the windows.
    pub rate: Option<f64>,
    /// Wall-clock start of the workload (ms since 1970) for `rate`. `None`: when the source
    /// was created (one process only: nodes of a cluster must agree on one value).
    pub start_unix_ms: Option<u64>,
    /// Optional last SCN: the database stops changing there, and the source reports itself
    /// finished once a window reached it.
    pub end_scn: Option<u64>,
    /// Redo threads (RAC instances), 1 to 8. Each transaction runs on one thread; rows of all
    /// threads are merged in SCN order with their `THREAD#`.
    pub threads: u16,
    /// Row slots per table. Tables start empty and stay bounded: deleted rows free their slot
    /// (ROWID) for later inserts.
    pub rows_per_table: u32,
    /// Short transactions open at a time (more interleaving with more).
    pub concurrent_transactions: u32,
    /// A redo log sequence advances every this many SCNs on each thread (threads are staggered).
    pub log_switch_scns: u64,
    /// `session_stale()` answers true after a log switch since the session started.
    pub stale_on_log_switch: bool,
    /// Row `TIMESTAMP`s: `timestamp_origin_unix` (seconds since 1970) at `start_scn`, then one
    /// second per `scns_per_second` SCNs.
    pub timestamp_origin_unix: i64,
    pub scns_per_second: u64,
    /// Which tables the database has.
    pub catalog: SimCatalog,
    pub workload: SimWorkload,
    pub faults: SimFaults,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            start_scn: 1_000_000,
            rate: None,
            start_unix_ms: None,
            end_scn: None,
            threads: 1,
            rows_per_table: 1000,
            concurrent_transactions: 8,
            log_switch_scns: 250_000,
            stale_on_log_switch: true,
            // 2024-01-01T00:00:00Z
            timestamp_origin_unix: 1_704_067_200,
            scns_per_second: 1000,
            catalog: SimCatalog::Mixed,
            workload: SimWorkload::default(),
            faults: SimFaults::default(),
        }
    }
}

/// The simulated database's tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimCatalog {
    /// Four tables of 5 to 8 columns with odd names (lower case, blanks, `#`, `$`, a comma):
    /// NUMBER, VARCHAR2, DATE, TIMESTAMP(6), RAW and CLOB columns, some CLOBs over 4000 bytes.
    #[default]
    Mixed,
    /// One table `SIM.ACCOUNTS` of ten columns (NUMBER, VARCHAR2, DATE, TIMESTAMP(6), RAW; no
    /// LOB): the 10-column rows of the throughput benchmark.
    TenColumns,
}

/// Shape of the OLTP workload. Percentages are per decision (per transaction, per statement or
/// per SCN step, as each says).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimWorkload {
    /// Statements per short transaction: uniform in 1..=this.
    pub max_statements: u32,
    /// Of new transactions: long ones, acting rarely and spanning many mining windows.
    pub long_transaction_percent: f64,
    /// Statements of a long transaction (it lives roughly this × `long_transaction_pause` SCNs).
    pub long_transaction_statements: u32,
    /// Mean SCN steps between two statements of one long transaction.
    pub long_transaction_pause: u64,
    /// Of finished transactions: rolled back (OPERATION_CODE 36) instead of committed.
    pub rollback_percent: f64,
    /// Of finished transactions: marked for another replication stream (OPERATION_CODE 27).
    pub replication_marker_percent: f64,
    /// Of statements: a partial rollback instead (a `ROLLBACK = 1` row undoing the latest
    /// change of some row of the transaction).
    pub partial_rollback_percent: f64,
    /// Of commits: another transaction commits at the same SCN.
    pub shared_commit_percent: f64,
    /// Of SCN steps: the SCN jumps by 1000 to 20000.
    pub scn_gap_percent: f64,
    /// Of SCN steps: a second statement or commit at the same SCN.
    pub same_scn_percent: f64,
    /// Of CLOB values: over 4000 bytes, so SQL_REDO comes in several CSF rows.
    pub long_clob_percent: f64,
    /// Of updates: the WHERE clause has only the key and ROWID (no full supplemental logging),
    /// so the other columns are missing from the row image.
    pub unlogged_update_percent: f64,
    /// Of statements: an extra OPERATION_CODE 255 (unsupported) row on a captured table, as
    /// LogMiner prints for a column type it cannot render. Off by default.
    pub unsupported_percent: f64,
    /// Of statements: an extra DML row LogMiner could not decode (`STATUS = 2`, INFO
    /// `Dictionary Mismatch`, made-up `"COL n"` columns with `HEXTORAW` values), as the online
    /// catalog gives for redo written before a DDL and mined after it. Off by default.
    pub undecodable_percent: f64,
    /// Of statements: an extra DML row of an object LogMiner cannot name (owner `UNKNOWN`,
    /// table `OBJ# n`). Off by default.
    pub unknown_object_percent: f64,
    /// Of statements: an extra row of a temporary table (`/* No SQL_REDO for temporary
    /// tables */`). Off by default.
    pub temporary_table_percent: f64,
    /// Of statements: the row shows the partial XID (sequence FFFFFFFF).
    pub partial_xid_percent: f64,
    /// A RAC instance closed for maintenance and opened again: its redo thread writes nothing
    /// in `[from_scn, to_scn)`. Off by default.
    pub closed_thread: Option<ClosedThread>,
}

impl Default for SimWorkload {
    fn default() -> Self {
        SimWorkload {
            max_statements: 8,
            long_transaction_percent: 0.5,
            long_transaction_statements: 30,
            long_transaction_pause: 3000,
            rollback_percent: 4.0,
            replication_marker_percent: 1.0,
            partial_rollback_percent: 3.0,
            shared_commit_percent: 10.0,
            scn_gap_percent: 0.01,
            same_scn_percent: 20.0,
            long_clob_percent: 0.5,
            unlogged_update_percent: 2.0,
            unsupported_percent: 0.0,
            undecodable_percent: 0.0,
            unknown_object_percent: 0.0,
            temporary_table_percent: 0.0,
            partial_xid_percent: 0.5,
            closed_thread: None,
        }
    }
}

/// Injected faults, all off by default, all deterministic from the seed and the call sequence.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimFaults {
    /// About every this many `fetch`/`current_scn` calls the connection drops: that call and
    /// every later one fail with `SourceError::Retryable` until `start_session` reconnects.
    pub drop_connection_every: Option<u64>,
    /// About every this many fetches, one takes `slow_fetch_ms` longer (through the clock's
    /// sleep, so tests with a manual clock stay fast).
    pub slow_fetch_every: Option<u64>,
    pub slow_fetch_ms: u64,
    /// A fetch whose window spans a log switch fails once (retryably) with ORA-00310 or
    /// ORA-01291, as when LogMiner races the archiver.
    pub log_switch_race: bool,
    /// Redo for SCNs up to and including this one is purged: a session resuming before it fails
    /// with `SourceError::LogsMissing`.
    pub purge_scn: Option<u64>,
    /// A stalled source: rows up to this SCN are read as usual, but a fetch of the window after
    /// it hangs, as a LogMiner query stuck on a damaged log does, while `current_scn` keeps
    /// moving. The hang ends when the runtime interrupts the call (an aborted run) or after
    /// `stall_timeout_ms`; the fetch then fails retryably.
    pub stall_after_scn: Option<u64>,
    /// Only the first this many fetches past `stall_after_scn` hang (counted per source, so
    /// per process); later ones read normally: the stall clears. `None`: every one hangs.
    pub stall_count: Option<u64>,
    /// A stalled fetch gives up after this many milliseconds with a retryable error, as a
    /// query past Oracle's call timeout does. `None`: only an interrupt ends it.
    pub stall_timeout_ms: Option<u64>,
}

/// [`SimWorkload::closed_thread`]: at `from_scn` the instance of redo thread `thread` shuts down
/// (its open transactions roll back, as `SHUTDOWN IMMEDIATE` does, and its log is switched);
/// no transaction starts on it until `to_scn`, when it opens again on a new log sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedThread {
    pub thread: u16,
    pub from_scn: u64,
    pub to_scn: u64,
}

impl SimConfig {
    /// Checks the ranges; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let pct = |name: &str, v: f64| {
            if (0.0..=100.0).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "source.sim.workload.{name} must be within 0..=100, not {v}"
                ))
            }
        };
        if !(1..=8).contains(&self.threads) {
            return Err(format!(
                "source.sim.threads must be 1 to 8, not {}",
                self.threads
            ));
        }
        if self.rows_per_table == 0 || self.rows_per_table > 1 << 24 {
            return Err("source.sim.rows_per_table must be 1 to 16777216".into());
        }
        if self.concurrent_transactions == 0 || self.concurrent_transactions > 10_000 {
            return Err("source.sim.concurrent_transactions must be 1 to 10000".into());
        }
        if self.log_switch_scns == 0 || self.scns_per_second == 0 {
            return Err("source.sim.log_switch_scns and scns_per_second must be positive".into());
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(format!("source.sim.rate must be positive, not {rate}"));
            }
        }
        if self.faults.stall_count == Some(0) {
            return Err(
                "source.sim.faults.stall_count must be 1 or more (leave it out for a stall \
                 that never clears)"
                    .into(),
            );
        }
        if self.faults.stall_timeout_ms == Some(0) {
            return Err(
                "source.sim.faults.stall_timeout_ms must be 1 or more (leave it out for a \
                 stall only an interrupt ends)"
                    .into(),
            );
        }
        if self.end_scn.is_some_and(|e| e <= self.start_scn) {
            return Err("source.sim.end_scn must be above start_scn".into());
        }
        let w = &self.workload;
        if w.max_statements == 0 || w.long_transaction_statements == 0 {
            return Err("source.sim.workload statement counts must be positive".into());
        }
        pct("long_transaction_percent", w.long_transaction_percent)?;
        pct("rollback_percent", w.rollback_percent)?;
        pct("replication_marker_percent", w.replication_marker_percent)?;
        pct("partial_rollback_percent", w.partial_rollback_percent)?;
        pct("shared_commit_percent", w.shared_commit_percent)?;
        pct("scn_gap_percent", w.scn_gap_percent)?;
        pct("same_scn_percent", w.same_scn_percent)?;
        pct("long_clob_percent", w.long_clob_percent)?;
        pct("unlogged_update_percent", w.unlogged_update_percent)?;
        pct("unsupported_percent", w.unsupported_percent)?;
        pct("undecodable_percent", w.undecodable_percent)?;
        pct("unknown_object_percent", w.unknown_object_percent)?;
        pct("temporary_table_percent", w.temporary_table_percent)?;
        if let Some(c) = &w.closed_thread {
            if c.thread == 0 || c.thread > self.threads || c.from_scn >= c.to_scn {
                return Err(format!(
                    "source.sim.workload.closed_thread: thread must be 1 to {} (source.sim.threads) \
                     and from_scn below to_scn",
                    self.threads
                ));
            }
            if self.threads < 2 {
                return Err(
                    "source.sim.workload.closed_thread needs source.sim.threads of 2 or more"
                        .into(),
                );
            }
        }
        pct("partial_xid_percent", w.partial_xid_percent)?;
        if w.rollback_percent + w.replication_marker_percent > 100.0 {
            return Err("source.sim.workload: rollback + replication marker exceed 100%".into());
        }
        Ok(())
    }
}
