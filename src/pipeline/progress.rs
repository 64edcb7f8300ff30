//! Live counters of a run, readable from other threads (the progress line, `/status`, the
//! node's failover timing) while the miner and writer threads update them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Live counters, readable from another thread (progress display, status, metrics).
#[derive(Debug, Default)]
pub struct Progress {
    pub rows_read: AtomicU64,
    /// SQL_REDO bytes fetched from the source.
    pub redo_bytes: AtomicU64,
    /// Mining rounds (windows fetched).
    pub rounds: AtomicU64,
    pub transactions: AtomicU64,
    pub changes_written: AtomicU64,
    pub rejected: AtomicU64,
    /// The upper end of the last window mined.
    pub read_scn: AtomicU64,
    /// The database's current SCN, as of the last round.
    pub current_scn: AtomicU64,
    /// Checkpoints committed by this run.
    pub checkpoints: AtomicU64,
    /// Id and resume SCN of the last checkpoint committed by this run (0 before the first).
    pub last_checkpoint_id: AtomicU64,
    pub resume_scn: AtomicU64,
    pub open_transactions: AtomicU64,
    /// Open transactions reported for exceeding `mining.transaction_retention`.
    pub expired_transactions: AtomicU64,
    /// Committed transactions whose changes had spilled to disk.
    pub spilled_transactions: AtomicU64,
    /// Open transactions older than `mining.transaction_retention` now (as of the last round).
    pub expired_open: AtomicU64,
    /// Files finished (renamed) by this run's checkpoints.
    pub files_finished: AtomicU64,
    /// Where the run's time went, per stage.
    pub stages: StageTimes,
    /// True when the writer runs on the mining thread (one usable core): everything but the
    /// source's own work is then in each round's time outside its fetches.
    pub writer_on_mining_thread: AtomicBool,
    /// When the run mined its first window and committed its first checkpoint (ms since
    /// 1970; 0 before): how long a new leader took to get going.
    pub first_window_unix_ms: AtomicU64,
    pub first_checkpoint_unix_ms: AtomicU64,
    /// Per-round figures, kept only after [`Progress::record_rounds`] (`redoflow bench`).
    rounds_log: Mutex<Option<Vec<RoundStats>>>,
}

/// Time spent per stage of the pipeline, in nanoseconds, summed over the run. Each is taken
/// around a whole piece, batch or checkpoint (never per row), so keeping them costs nothing
/// measurable.
#[derive(Debug, Default)]
pub struct StageTimes {
    /// In the source's calls (fetches, retries included).
    pub fetch_ns: AtomicU64,
    /// Feeding fetched rows to the transaction buffer (without handing transactions on).
    pub buffer_ns: AtomicU64,
    /// Turning committed changes into CSV lines and writing them (parse + write).
    pub write_ns: AtomicU64,
    /// Checkpoints: fsync, commit, rename, manifest.
    pub checkpoint_ns: AtomicU64,
}

impl StageTimes {
    pub(super) fn add(slot: &AtomicU64, d: Duration) {
        slot.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The four stages' totals: fetch, buffer, parse+write, checkpoint.
    pub fn totals(&self) -> [Duration; 4] {
        [
            &self.fetch_ns,
            &self.buffer_ns,
            &self.write_ns,
            &self.checkpoint_ns,
        ]
        .map(|a| Duration::from_nanos(a.load(Ordering::Relaxed)))
    }
}

/// One mining round (window): what the source returned and how long fetching it took (the
/// source's calls only, retries included), and the whole round with the buffer and, on one
/// thread, the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundStats {
    pub rows: u64,
    pub redo_bytes: u64,
    pub fetch: Duration,
    pub total: Duration,
}

/// Rounds kept by [`Progress::record_rounds`] (the first ones; about 32 MB at most).
const MAX_ROUNDS_LOGGED: usize = 1 << 20;

impl Progress {
    /// Keeps the figures of every round from now on (see [`Progress::round_log`]).
    pub fn record_rounds(&self) {
        let mut log = self.rounds_log.lock().unwrap_or_else(|e| e.into_inner());
        log.get_or_insert_with(Vec::new);
    }

    /// The rounds recorded since [`Progress::record_rounds`] (empty if it was not called).
    pub fn round_log(&self) -> Vec<RoundStats> {
        let log = self.rounds_log.lock().unwrap_or_else(|e| e.into_inner());
        log.clone().unwrap_or_default()
    }

    /// Sets `slot` to now if it is still 0.
    pub(super) fn mark_first(slot: &AtomicU64) {
        if slot.load(Ordering::Relaxed) == 0 {
            slot.store(crate::now_unix_ms(), Ordering::Relaxed);
        }
    }

    pub(super) fn log_round(&self, round: RoundStats) {
        let mut log = self.rounds_log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = log.as_mut().filter(|l| l.len() < MAX_ROUNDS_LOGGED) {
            log.push(round);
        }
    }
}
