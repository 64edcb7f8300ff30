//! [`SimSource`]: a seeded, deterministic simulated Oracle database behind [`LogSource`]. It runs
//! the demo, the benchmarks and the HA tests, and embedders can use it to try the pipeline.
//!
//! Parts:
//! - `config`: [`SimConfig`] (`[source.sim]`), with the workload shape ([`SimWorkload`]) and the
//!   injected faults ([`SimFaults`]).
//! - `model`: the catalog ([`SimCatalog`]: four tables with odd names and NUMBER / VARCHAR2 /
//!   DATE / TIMESTAMP(6) / RAW / CLOB columns, or the benchmark's one ten-column table) and the
//!   print rules: a value is a 64-bit seed, and both its SQL_REDO form (as LogMiner prints it:
//!   quoted or bare numbers, `''` escapes, `UNISTR`, `'..' || '..'`, `TO_DATE`, `TO_TIMESTAMP`,
//!   `HEXTORAW`, `EMPTY_CLOB()`) and its CSV text derive from it. Values are printed once per
//!   process into a pool of 256 per column type, so a row is built by copying.
//! - `gen`: the workload generator, a state machine advancing SCN step by step (interleaved
//!   transactions on one or more redo threads, inserts / updates / deletes under row locks,
//!   partial and full rollbacks, replication markers, shared commit SCNs, SCN gaps, long
//!   transactions, CSF continuation rows, partial XIDs, unsupported operations).
//! - `truth`: [`TruthTxn`], what the CSV output must contain, for checking every row.
//! - `clock`: [`SimClock`], wall-clock time and sleeping, replaceable by [`ManualClock`].
//!
//! Determinism: the rows of a window `(read, end]` depend only on the seed and the settings,
//! never on which windows were asked for before, nor on the process. The source keeps one
//! generator positioned at the last window's end; a window that starts earlier resumes from the
//! latest snapshot (a clone of the generator, taken every so many SCNs, thinned out so their
//! number stays bounded) or from the start. Tables have a fixed number of row slots, so memory
//! stays bounded however long the workload runs.
//!
//! Current SCN: with `rate`, a second generator (printing nothing) runs ahead to the SCN the
//! workload reaches after `(now - start_unix_ms) × rate` changes; without it the database is
//! "as far as anyone reads": `end_scn`, or `Scn::MAX`.
//!
//! Log switches are a function of the SCN: each thread's sequence advances every
//! `log_switch_scns` SCNs (threads staggered); `session_stale` turns true once a session has
//! read across one.

pub mod clock;
mod config;
mod gen;
mod model;
mod text;
mod truth;

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use redoflow_checkpoint::{Offset, Scn};

pub use self::clock::{ManualClock, SimClock, SystemClock};
pub use self::config::{ClosedThread, SimCatalog, SimConfig, SimFaults, SimWorkload};
pub use self::truth::{TruthChange, TruthTxn};

use self::gen::{derive_seed, Gen, Out, Params};
use self::model::Rng;
use crate::row::RedoRow;
use crate::schema::{SchemaCatalog, TableId, TableSchema};
use crate::source::{Interrupt, LogSource, SourceError, StartAt};

/// SCNs between two generator snapshots, at first.
const SNAPSHOT_EVERY: u64 = 100_000;
/// Snapshots kept; beyond this every other one is dropped and the spacing doubles.
const MAX_SNAPSHOTS: usize = 48;

/// The simulated database as a [`LogSource`]. See the module documentation.
#[derive(Debug)]
pub struct SimSource {
    config: SimConfig,
    params: Arc<Params>,
    /// The printing generator, positioned after the last window.
    gen: Gen,
    /// Generator clones in increasing `last_scn` order.
    snapshots: Vec<Gen>,
    snapshot_every: u64,
    clock: Arc<dyn SimClock>,
    start_ms: u64,
    /// With `rate`: the generator that finds the current SCN.
    ahead: Option<Gen>,
    /// Resume SCN of the current session.
    session: Option<u64>,
    /// Where the current session's first window started: its files reach from there to the
    /// log current then.
    session_from: Option<u64>,
    /// Highest window end fetched since the last `start_session`.
    session_end: u64,
    /// Highest window end fetched ever.
    fetched_end: u64,
    connected: bool,
    faults: FaultState,
}

#[derive(Debug)]
struct FaultState {
    rng: Rng,
    calls: u64,
    next_drop: Option<u64>,
    fetches: u64,
    next_slow: Option<u64>,
    /// Highest log switch SCN that already made a fetch fail.
    raced_through: u64,
    races: u64,
    /// Fetches that stalled (`stall_after_scn`).
    stalls: u64,
    /// Set by the interrupter, cleared when a stalled fetch returns or a session starts.
    interrupted: Arc<(Mutex<bool>, Condvar)>,
}

impl FaultState {
    /// The call count of the next event "about every `every` calls".
    fn schedule(&mut self, now: u64, every: Option<u64>) -> Option<u64> {
        let every = every.filter(|&e| e > 0)?;
        Some(now + (every / 2).max(1) + self.rng.below(every))
    }
}

impl SimSource {
    /// A simulated database on the system clock. Errors (`Fatal`) name an invalid setting.
    pub fn new(config: SimConfig) -> Result<Self, SourceError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A simulated database on the given clock (tests use [`ManualClock`]).
    pub fn with_clock(config: SimConfig, clock: Arc<dyn SimClock>) -> Result<Self, SourceError> {
        config
            .validate()
            .map_err(|message| SourceError::Fatal { message })?;
        let params = Arc::new(Params::new(&config));
        let gen = Gen::new(Arc::clone(&params), config.seed);
        let start_ms = config.start_unix_ms.unwrap_or_else(|| clock.now_unix_ms());
        let ahead = config.rate.map(|_| gen.clone());
        let mut faults = FaultState {
            rng: Rng::new(derive_seed(config.seed, 0xFA17)),
            calls: 0,
            next_drop: None,
            fetches: 0,
            next_slow: None,
            raced_through: 0,
            races: 0,
            stalls: 0,
            interrupted: Arc::new((Mutex::new(false), Condvar::new())),
        };
        faults.next_drop = faults.schedule(0, config.faults.drop_connection_every);
        faults.next_slow = faults.schedule(0, config.faults.slow_fetch_every);
        Ok(SimSource {
            snapshots: vec![gen.clone()],
            snapshot_every: SNAPSHOT_EVERY,
            gen,
            params,
            clock,
            start_ms,
            ahead,
            session: None,
            session_from: None,
            session_end: 0,
            fetched_end: 0,
            connected: true,
            faults,
            config,
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The tables, as ALL_TAB_COLUMNS would describe them.
    pub fn catalog(&self) -> SchemaCatalog {
        let mut c = SchemaCatalog::default();
        for t in &self.params.model.tables {
            c.insert((*t.schema).clone());
        }
        c
    }

    /// The tables' names in catalog order.
    pub fn tables(&self) -> Vec<TableId> {
        self.params
            .model
            .tables
            .iter()
            .map(|t| t.schema.id.clone())
            .collect()
    }

    /// The highest SCN this database ever reaches (`end_scn`), if it is bounded.
    fn last_scn(&self) -> u64 {
        self.config.end_scn.unwrap_or(u64::MAX)
    }

    /// Every transaction committed at an SCN `<= through`, in commit order (the order of the
    /// CSV lines), with the expected field text of each change. Replays the workload from the
    /// start without printing: cost grows with `through`, not with what was fetched.
    pub fn truth(&self, through: Scn) -> Vec<TruthTxn> {
        let mut gen = Gen::new(Arc::clone(&self.params), self.config.seed);
        let mut truth = Vec::new();
        let stop = through.0.min(self.last_scn());
        while gen.next_scn <= stop {
            gen.step(&mut Out {
                rows: None,
                truth: Some(&mut truth),
                p: &self.params,
            });
        }
        truth
    }

    /// A table's committed rows at SCN `through` (changes of transactions still open then are
    /// not visible), as CSV field text per column in COLUMN_ID order, ordered by key. Includes
    /// the changes of replication-marked transactions (the database did commit them). `None`
    /// for an unknown table.
    pub fn table_contents(&self, table: &TableId, through: Scn) -> Option<Vec<Vec<String>>> {
        let index = self
            .params
            .model
            .tables
            .iter()
            .position(|t| t.schema.id == *table)?;
        let stop = through.0.min(self.last_scn());
        let mut gen = self.best_start(stop).clone();
        while gen.next_scn <= stop {
            gen.step(&mut Out::skip(&self.params));
        }
        Some(gen.table_contents(index))
    }

    /// The latest generator (snapshot or the live one) that has not stepped past `read`.
    fn best_start(&self, read: u64) -> &Gen {
        let snap = self
            .snapshots
            .iter()
            .rev()
            .find(|g| g.last_scn <= read)
            .unwrap_or(&self.snapshots[0]);
        if self.gen.last_scn <= read && self.gen.last_scn >= snap.last_scn {
            &self.gen
        } else {
            snap
        }
    }

    /// Positions the printing generator so its next step is the first one after `read`.
    fn seek(&mut self, read: u64) {
        let best = self.best_start(read);
        if !std::ptr::eq(best, &self.gen) {
            tracing::debug!(
                read,
                from = best.last_scn,
                at = self.gen.last_scn,
                "simulated database: regenerating from a snapshot"
            );
            self.gen = best.clone();
        }
        let stop = read.min(self.last_scn());
        while self.gen.next_scn <= stop {
            self.gen.step(&mut Out::skip(&self.params));
            self.maybe_snapshot();
        }
    }

    /// Called after every step: the check is inlined, the snapshot itself is out of line.
    #[inline(always)]
    fn maybe_snapshot(&mut self) {
        let last = self.snapshots.last().map_or(0, |g| g.last_scn);
        if self.gen.last_scn >= last.saturating_add(self.snapshot_every) {
            self.snapshot();
        }
    }

    #[cold]
    #[inline(never)]
    fn snapshot(&mut self) {
        self.snapshots.push(self.gen.clone());
        if self.snapshots.len() > MAX_SNAPSHOTS {
            // Keep the first (the start) and every other one after it.
            let mut i = 0;
            self.snapshots.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.snapshot_every = self.snapshot_every.saturating_mul(2);
        }
    }

    fn disconnected(&self, scn: u64) -> SourceError {
        SourceError::Retryable {
            scn: Scn(scn),
            message: "ORA-03113: end-of-file on communication channel (simulated connection \
                      drop; start a new session)"
                .into(),
        }
    }

    /// Counts a call towards the next dropped connection; errors when the connection is down.
    fn call(&mut self, scn: u64) -> Result<(), SourceError> {
        self.faults.calls += 1;
        if self.connected && self.faults.next_drop == Some(self.faults.calls) {
            self.connected = false;
            let every = self.config.faults.drop_connection_every;
            self.faults.next_drop = self.faults.schedule(self.faults.calls, every);
            tracing::info!(scn, "simulated database: connection dropped");
        }
        if self.connected {
            Ok(())
        } else {
            Err(self.disconnected(scn))
        }
    }

    /// The stall SCN while the stall fault is on and has not cleared.
    fn stalling_after(&self) -> Option<u64> {
        let f = &self.config.faults;
        let stall = f.stall_after_scn?;
        f.stall_count
            .is_none_or(|n| self.faults.stalls < n)
            .then_some(stall)
    }

    /// A stalled fetch: blocks until interrupted or `stall_timeout_ms` passes (on the real
    /// clock: a hang is wall-clock time by nature), then fails retryably.
    fn stall(&mut self, read: u64) -> SourceError {
        self.faults.stalls += 1;
        tracing::warn!(
            read,
            stalls = self.faults.stalls,
            "simulated database: fetch stalled"
        );
        let timeout = self
            .config
            .faults
            .stall_timeout_ms
            .map(Duration::from_millis);
        let deadline = timeout.map(|t| Instant::now() + t);
        let (flag, wake) = &*self.faults.interrupted;
        let mut interrupted = flag.lock().unwrap_or_else(|p| p.into_inner());
        while !*interrupted {
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => break,
                },
                None => Duration::from_secs(3600),
            };
            interrupted = wake
                .wait_timeout(interrupted, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let message = if std::mem::take(&mut *interrupted) {
            "ORA-01013: user requested cancel of current operation (simulated stall interrupted)"
        } else {
            "ORA-03156: OCI call timed out (simulated stall)"
        };
        SourceError::Retryable {
            scn: Scn(read),
            message: message.into(),
        }
    }

    fn check_purged(&self, resume: u64) -> Result<(), SourceError> {
        match self.config.faults.purge_scn {
            Some(purge) if resume < purge => Err(SourceError::LogsMissing {
                resume_scn: Scn(resume),
                missing_from: Scn(resume + 1),
                missing_to: Scn(purge),
            }),
            _ => Ok(()),
        }
    }
}

impl LogSource for SimSource {
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        self.call(self.fetched_end)?;
        let last = self.last_scn();
        let Some(rate) = self.config.rate else {
            return Ok(Scn(last));
        };
        let now = self.clock.now_unix_ms();
        let elapsed = now.saturating_sub(self.start_ms);
        let target = (elapsed as f64 * rate / 1000.0) as u64;
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(Scn(last));
        };
        while ahead.changes < target && ahead.next_scn <= last {
            ahead.step(&mut Out::skip(&self.params));
        }
        Ok(Scn(ahead.last_scn.min(last)))
    }

    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        self.check_purged(resume_scn.0)?;
        if !self.connected {
            tracing::info!(resume = %resume_scn, "simulated database: reconnected");
        }
        self.connected = true;
        // An interrupt meant for a call made before this `start_session` is spent.
        *self
            .faults
            .interrupted
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = false;
        self.session = Some(resume_scn.0);
        self.session_from = None;
        self.session_end = resume_scn.0;
        Ok(())
    }

    /// The simulated database starts at `start_scn`: `Current` and `Earliest` both start there.
    fn first_offset(&mut self, start: StartAt) -> Result<Offset, SourceError> {
        Ok(Offset::starting_after(match start {
            StartAt::Scn(scn) => scn,
            StartAt::Current | StartAt::Earliest => Scn(self.config.start_scn),
        }))
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

    /// Ends the window after the first SCN at which `max_rows` rows are reached.
    fn fetch_capped(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> Result<Scn, SourceError> {
        let (read, mut end) = (read_scn.0, end_scn.0);
        self.call(read)?;
        self.check_purged(read)?;
        if end <= read {
            return Ok(end_scn);
        }
        if let Some(stall) = self.stalling_after() {
            if read >= stall {
                return Err(self.stall(read));
            }
            // The rows up to the stall come as usual; the window ends there.
            end = end.min(stall);
        }
        if self.config.faults.log_switch_race {
            if let Some(switch) = self.params.last_switch_in(read, end) {
                if switch > self.faults.raced_through {
                    self.faults.raced_through = switch;
                    self.faults.races += 1;
                    let message = if self.faults.races % 2 == 1 {
                        format!(
                            "ORA-01291: missing logfile (log switch at SCN {switch} while \
                             mining {read}..{end})"
                        )
                    } else {
                        format!(
                            "ORA-00310: archived log contains sequence {}; sequence {} \
                             required",
                            self.params.log_seq(1, switch.saturating_sub(1)),
                            self.params.log_seq(1, switch)
                        )
                    };
                    return Err(SourceError::Retryable {
                        scn: Scn(switch),
                        message,
                    });
                }
            }
        }
        self.faults.fetches += 1;
        if self.faults.next_slow == Some(self.faults.fetches) {
            let every = self.config.faults.slow_fetch_every;
            self.faults.next_slow = self.faults.schedule(self.faults.fetches, every);
            self.clock
                .sleep(Duration::from_millis(self.config.faults.slow_fetch_ms));
        }
        self.seek(read);
        let stop = end.min(self.last_scn());
        let params = Arc::clone(&self.params);
        let before = out.len();
        let mut sink = Out {
            rows: Some(out),
            truth: None,
            p: &params,
        };
        let mut complete = end;
        while self.gen.next_scn <= stop {
            self.gen.step(&mut sink);
            self.maybe_snapshot();
            let rows = sink.rows.as_ref().map_or(0, |r| r.len() - before);
            if rows >= max_rows && self.gen.next_scn <= stop {
                complete = self.gen.last_scn;
                break;
            }
        }
        if self.session.is_none() {
            self.session = Some(read);
            self.session_end = read;
        }
        self.session_from.get_or_insert(read);
        self.session_end = self.session_end.max(complete);
        self.fetched_end = self.fetched_end.max(complete);
        Ok(Scn(complete))
    }

    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        Ok(self
            .params
            .model
            .tables
            .iter()
            .find(|t| t.schema.id.owner == owner && t.schema.id.name == table)
            .map(|t| (*t.schema).clone()))
    }

    fn session_stale(&mut self) -> Result<bool, SourceError> {
        if !self.connected {
            return Ok(true);
        }
        if !self.config.stale_on_log_switch {
            return Ok(false);
        }
        Ok(self.session.is_some_and(|resume| {
            let from = self.session_from.unwrap_or(resume).max(resume);
            self.params.last_switch_in(from, self.session_end).is_some()
        }))
    }

    /// Only with the stall fault: its hang is the one call that does not return by itself.
    fn interrupter(&self) -> Option<Interrupt> {
        self.config.faults.stall_after_scn?;
        let interrupted = Arc::clone(&self.faults.interrupted);
        Some(Arc::new(move || {
            let (flag, wake) = &*interrupted;
            *flag.lock().unwrap_or_else(|p| p.into_inner()) = true;
            wake.notify_all();
        }))
    }

    /// Reading a window in pieces costs nothing extra: the source stays positioned.
    fn fetch_is_cheap(&self) -> bool {
        true
    }

    fn is_finished(&self) -> bool {
        self.config
            .end_scn
            .is_some_and(|last| self.fetched_end >= last)
    }

    /// Generates (without printing) up to `resume_scn`, keeping snapshots on the way: a
    /// session that later resumes there starts from a nearby snapshot instead of regenerating
    /// the workload from its start.
    fn prepare(&mut self, resume_scn: Scn) {
        if resume_scn.0 > self.gen.last_scn {
            self.seek(resume_scn.0);
        }
    }
}
