//! Live counters of a run, readable from other threads (the progress line, `/status`,
//! `/metrics`, the node's failover timing) while the miner and writer threads update them.
//!
//! The hot loops never touch these per row: the miner publishes per piece and per round, the
//! writer per batch and per checkpoint. Counts by table and operation are kept in a [`Tally`]
//! on the counting thread and added to the shared ones once per piece or batch.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redoflow_miner::row::{Name, OpCode};
use redoflow_miner::txn::TxnStats;
use redoflow_miner::TableSchema;

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
    /// Rows written to `_rejected/` (dead-lettered).
    pub rejected: AtomicU64,
    /// Changes whose SQL_REDO could not be parsed (dead-lettered, or the one that stopped the
    /// run).
    pub parse_errors: AtomicU64,
    /// The upper end of the last window mined.
    pub read_scn: AtomicU64,
    /// The database's current SCN, as of the last round.
    pub current_scn: AtomicU64,
    /// Redo time (the row's TIMESTAMP, read as UTC; ms since 1970) of the last row mined that
    /// had one; 0 before.
    pub last_redo_unix_ms: AtomicU64,
    /// Checkpoints committed by this run.
    pub checkpoints: AtomicU64,
    /// Files finished (renamed to their final names) by this run's checkpoints.
    pub files_finished: AtomicU64,
    /// Id and resume SCN of the last checkpoint committed by this run (0 before the first).
    pub last_checkpoint_id: AtomicU64,
    pub resume_scn: AtomicU64,
    pub open_transactions: AtomicU64,
    /// Bytes of open transactions' changes held in memory, and written to spill files.
    pub buffered_bytes: AtomicU64,
    pub spilled_bytes: AtomicU64,
    /// The planner's rows per window, its sleep between rounds (ms), and the SCN span of the
    /// last window mined.
    pub batch_target_rows: AtomicU64,
    pub sleep_ms: AtomicU64,
    pub window_scn_span: AtomicU64,
    /// Open transactions reported for exceeding `mining.transaction_retention`.
    pub expired_transactions: AtomicU64,
    /// Committed transactions whose changes had spilled to disk.
    pub spilled_transactions: AtomicU64,
    /// Open transactions older than `mining.transaction_retention` now (as of the last round).
    pub expired_open: AtomicU64,
    /// Where the run's time went, per stage.
    pub stages: StageTimes,
    /// True when the writer runs on the mining thread (one usable core): everything but the
    /// source's own work is then in each round's time outside its fetches.
    pub writer_on_mining_thread: AtomicBool,
    /// When the run mined its first window and committed its first checkpoint (ms since
    /// 1970; 0 before): how long a new leader took to get going.
    pub first_window_unix_ms: AtomicU64,
    pub first_checkpoint_unix_ms: AtomicU64,
    /// How long fetching a window from the source took (retries included).
    pub fetch_seconds: DurationHistogram,
    /// How long a checkpoint took: prepare, commit in the store, finish.
    pub checkpoint_seconds: DurationHistogram,
    /// The transaction buffer's counters as of the last round (transactions by outcome).
    pub(super) txn: Mutex<TxnStats>,
    /// Rows mined and changes written, by table and operation.
    pub(super) mined: Mutex<TableCounts>,
    pub(super) written: Mutex<TableCounts>,
    /// Retries of source errors, by class (see [`error_class`]).
    retries: Mutex<BTreeMap<String, u64>>,
    /// The last [`RECENT_CHECKPOINTS`] checkpoints this run committed.
    recent: Mutex<VecDeque<CheckpointTiming>>,
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

/// One committed checkpoint, as its run saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointTiming {
    pub id: u64,
    pub term: u64,
    pub created_at_ms: u64,
    /// Prepare, commit and finish.
    pub duration: Duration,
    pub files: u64,
    pub rows: u64,
}

/// Checkpoints a run remembers the timing of.
pub const RECENT_CHECKPOINTS: usize = 20;

/// Rounds kept by [`Progress::record_rounds`] (the first ones; about 32 MB at most).
const MAX_ROUNDS_LOGGED: usize = 1 << 20;

/// Distinct source error classes counted; later ones count as `other`.
const MAX_ERROR_CLASSES: usize = 32;

impl Progress {
    /// The transaction buffer's counters as of the last round (rows that are not data among
    /// them: OPERATION_CODE 255 per table, undecodable, temporary-table, internal DDL).
    pub fn txn_stats(&self) -> TxnStats {
        self.txn.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps the figures of every round from now on (see [`Progress::round_log`]).
    pub fn record_rounds(&self) {
        let mut log = lock(&self.rounds_log);
        log.get_or_insert_with(Vec::new);
    }

    /// The rounds recorded since [`Progress::record_rounds`] (empty if it was not called).
    pub fn round_log(&self) -> Vec<RoundStats> {
        lock(&self.rounds_log).clone().unwrap_or_default()
    }

    /// Rows mined so far by table (`OWNER.TABLE`, empty for rows of no table such as COMMIT)
    /// and operation.
    pub fn rows_mined_by_table(&self) -> TableCounts {
        lock(&self.mined).clone()
    }

    /// Changes written so far by table and operation.
    pub fn changes_written_by_table(&self) -> TableCounts {
        lock(&self.written).clone()
    }

    /// The transaction buffer's counters as of the last round.
    pub fn transaction_stats(&self) -> TxnStats {
        lock(&self.txn).clone()
    }

    /// Source errors retried so far, by class.
    pub fn source_retries(&self) -> BTreeMap<String, u64> {
        lock(&self.retries).clone()
    }

    /// The checkpoints this run committed last, oldest first.
    pub fn recent_checkpoints(&self) -> Vec<CheckpointTiming> {
        lock(&self.recent).iter().cloned().collect()
    }

    /// Sets `slot` to now if it is still 0.
    pub(super) fn mark_first(slot: &AtomicU64) {
        if slot.load(Ordering::Relaxed) == 0 {
            slot.store(crate::now_unix_ms(), Ordering::Relaxed);
        }
    }

    pub(super) fn log_round(&self, round: RoundStats) {
        let mut log = lock(&self.rounds_log);
        if let Some(log) = log.as_mut().filter(|l| l.len() < MAX_ROUNDS_LOGGED) {
            log.push(round);
        }
    }

    pub(super) fn count_retry(&self, class: String) {
        let mut retries = lock(&self.retries);
        let class = if retries.len() >= MAX_ERROR_CLASSES && !retries.contains_key(&class) {
            "other".to_string()
        } else {
            class
        };
        *retries.entry(class).or_default() += 1;
    }

    pub(super) fn checkpoint_committed(&self, timing: CheckpointTiming) {
        self.checkpoint_seconds.observe(timing.duration);
        self.files_finished
            .fetch_add(timing.files, Ordering::Relaxed);
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT_CHECKPOINTS {
            recent.pop_front();
        }
        recent.push_back(timing);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The class of a source error for the retry counts: the first Oracle (`ORA-nnnnn`) or ODPI
/// (`DPI-nnnn`) code in its message, else its kind.
pub(super) fn error_class(e: &redoflow_miner::SourceError) -> String {
    use redoflow_miner::SourceError as E;
    let message = match e {
        E::Retryable { message, .. } | E::Fatal { message } => message.as_str(),
        E::LogsMissing { .. } => return "logs_missing".into(),
        E::Malformed { .. } => return "malformed".into(),
        E::Io { .. } => return "io".into(),
    };
    for prefix in ["ORA-", "DPI-"] {
        if let Some(at) = message.find(prefix) {
            let digits: String = message[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !digits.is_empty() {
                return format!("{prefix}{digits}");
            }
        }
    }
    match e {
        E::Retryable { .. } => "retryable".into(),
        _ => "fatal".into(),
    }
}

/// Operations rows are counted by: the three DML operations, DDL, the transaction rows, and
/// the rest.
pub const OPS: [&str; 9] = [
    "insert", "update", "delete", "ddl", "start", "commit", "rollback", "lob", "other",
];

/// The index in [`OPS`] of a LogMiner operation code.
#[inline]
pub(super) fn op_slot(op: OpCode) -> usize {
    OP_SLOTS
        .get(usize::from(op.0))
        .map_or(OPS.len() - 1, |s| usize::from(*s))
}

/// [`op_slot`] as a table: one load per row instead of a chain of comparisons.
static OP_SLOTS: [u8; 256] = {
    let mut t = [(OPS.len() - 1) as u8; 256];
    t[OpCode::INSERT.0 as usize] = 0;
    t[OpCode::UPDATE.0 as usize] = 1;
    t[OpCode::DELETE.0 as usize] = 2;
    t[OpCode::DDL.0 as usize] = 3;
    t[OpCode::START.0 as usize] = 4;
    t[OpCode::COMMIT.0 as usize] = 5;
    t[OpCode::ROLLBACK.0 as usize] = 6;
    let lob = [9, 10, 11, 29, 68, 70, 71, 91, 92, 93];
    let mut i = 0;
    while i < lob.len() {
        t[lob[i]] = 7;
        i += 1;
    }
    t
};

/// Counts by table (`OWNER.TABLE`) and operation (indexed as [`OPS`]).
pub type TableCounts = BTreeMap<String, [u64; OPS.len()]>;

/// Adds `from` into `into`.
pub fn add_counts(into: &mut TableCounts, from: &TableCounts) {
    for (table, counts) in from {
        let slot = into.entry(table.clone()).or_default();
        for (a, b) in slot.iter_mut().zip(counts) {
            *a += b;
        }
    }
}

/// Rows counted by table and operation on one thread. A source hands out one shared
/// allocation per table name, so a row's table is found among the few seen lately by comparing
/// pointers; rows of no table (START, COMMIT, ...) are counted apart. [`Tally::flush`] adds
/// everything to the shared counts, once per piece.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Owner and table names as the source shares them, `OWNER.TABLE`, and the counts since
    /// the last flush.
    tables: Vec<(Name, Name, String, [u64; OPS.len()])>,
    /// The entry of `tables` the last row of a table hit: rows of one table come in runs.
    last: usize,
    untabled: [u64; OPS.len()],
    /// Counts of tables moved out of `tables` to keep its search short.
    pending: TableCounts,
}

/// Tables a [`Tally`] tells apart by pointer.
const TALLY_TABLES: usize = 16;

/// Adds `counts` to `name`'s in `shared` (allocating the name only the first time) and zeroes
/// them.
fn add_to(shared: &mut TableCounts, name: &str, counts: &mut [u64; OPS.len()]) {
    if counts.iter().all(|c| *c == 0) {
        return;
    }
    if !shared.contains_key(name) {
        shared.insert(name.to_string(), [0; OPS.len()]);
    }
    if let Some(slot) = shared.get_mut(name) {
        for (a, b) in slot.iter_mut().zip(counts.iter_mut()) {
            *a += std::mem::take(b);
        }
    }
}

impl Tally {
    #[inline]
    pub(super) fn count(&mut self, owner: &Name, table: &Name, slot: usize) {
        if table.is_empty() {
            self.untabled[slot] += 1;
            return;
        }
        if let Some((o, t, _, counts)) = self.tables.get_mut(self.last) {
            if Arc::ptr_eq(t, table) && Arc::ptr_eq(o, owner) {
                counts[slot] += 1;
                return;
            }
        }
        self.count_other_table(owner, table, slot);
    }

    fn count_other_table(&mut self, owner: &Name, table: &Name, slot: usize) {
        let found = self
            .tables
            .iter()
            .position(|(o, t, _, _)| Arc::ptr_eq(t, table) && Arc::ptr_eq(o, owner));
        let i = match found {
            Some(i) => i,
            None => {
                if self.tables.len() >= TALLY_TABLES {
                    for (_, _, name, counts) in &mut self.tables {
                        add_to(&mut self.pending, name, counts);
                    }
                    self.tables.clear();
                }
                let name = format!("{owner}.{table}");
                self.tables
                    .push((owner.clone(), table.clone(), name, [0; OPS.len()]));
                self.tables.len() - 1
            }
        };
        self.last = i;
        self.tables[i].3[slot] += 1;
    }

    /// Adds the counts to `shared` and zeroes them.
    pub(super) fn flush(&mut self, shared: &Mutex<TableCounts>) {
        let mut shared = lock(shared);
        for (_, _, name, counts) in &mut self.tables {
            add_to(&mut shared, name, counts);
        }
        add_to(&mut shared, "", &mut self.untabled);
        if !self.pending.is_empty() {
            add_counts(&mut shared, &self.pending);
            self.pending.clear();
        }
    }
}

/// Changes written, counted by table and operation on the writer thread: the writer names
/// the table's schema when it looks one up (not for every change), then counts by operation.
/// A schema is recognised by its allocation, which the tally holds on to (so the address is
/// never another schema's); a table's versions after DDL add up under one name at the flush.
#[derive(Debug, Default)]
pub(super) struct WriteTally {
    tables: Vec<(Arc<TableSchema>, String, [u64; OPS.len()])>,
    /// The entry of `tables` the following changes are counted in.
    current: Option<usize>,
    /// Counts of schemas moved out of `tables` to keep its search short.
    pending: TableCounts,
}

impl WriteTally {
    /// The following changes are of `schema`'s table.
    pub(super) fn table(&mut self, schema: &Arc<TableSchema>) {
        if self
            .current
            .is_some_and(|i| Arc::ptr_eq(&self.tables[i].0, schema))
        {
            return;
        }
        let i = match self
            .tables
            .iter()
            .position(|(s, _, _)| Arc::ptr_eq(s, schema))
        {
            Some(i) => i,
            None => {
                if self.tables.len() >= TALLY_TABLES {
                    for (_, name, counts) in &mut self.tables {
                        add_to(&mut self.pending, name, counts);
                    }
                    self.tables.clear();
                }
                let name = schema.id.to_string();
                self.tables.push((schema.clone(), name, [0; OPS.len()]));
                self.tables.len() - 1
            }
        };
        self.current = Some(i);
    }

    #[inline]
    pub(super) fn count(&mut self, slot: usize) {
        if let Some((_, _, counts)) = self.current.and_then(|i| self.tables.get_mut(i)) {
            counts[slot] += 1;
        }
    }

    /// Adds the counts to `shared` and zeroes them.
    pub(super) fn flush(&mut self, shared: &Mutex<TableCounts>) {
        let idle =
            self.pending.is_empty() && self.tables.iter().all(|t| t.2.iter().all(|c| *c == 0));
        if idle {
            return;
        }
        let mut shared = lock(shared);
        for (_, name, counts) in &mut self.tables {
            add_to(&mut shared, name, counts);
        }
        add_counts(&mut shared, &self.pending);
        self.pending.clear();
    }
}

/// Fixed bucket bounds (seconds) of the duration histograms: 1 ms to 3 min, the span of a
/// fetch from a file up to a LogMiner query at its timeout.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0,
];

/// A histogram of durations over [`DURATION_BUCKETS`], updated with a few atomic adds.
#[derive(Debug, Default)]
pub struct DurationHistogram {
    /// Per bucket (not cumulative); the last one is above every bound.
    counts: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl DurationHistogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut h = HistogramSnapshot::default();
        for (slot, c) in h.counts.iter_mut().zip(&self.counts) {
            *slot = c.load(Ordering::Relaxed);
        }
        h.sum_micros = self.sum_micros.load(Ordering::Relaxed);
        h
    }
}

/// A [`DurationHistogram`] read at one moment; snapshots of several runs add up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub counts: [u64; DURATION_BUCKETS.len() + 1],
    pub sum_micros: u64,
}

impl HistogramSnapshot {
    pub fn add(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum_micros += other.sum_micros;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }

    /// (upper bound, observations in the bucket below it), ending with `+Inf`.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        DURATION_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Arc::from(s)
    }

    #[test]
    fn the_tally_counts_by_table_and_operation_and_flushes_once() {
        let shared = Mutex::new(TableCounts::new());
        let (hr, emp, dept, none) = (name("HR"), name("EMP"), name("DEPT"), name(""));
        let mut t = Tally::default();
        t.count(&hr, &emp, op_slot(OpCode::INSERT));
        t.count(&none, &none, op_slot(OpCode::COMMIT));
        t.count(&hr, &dept, op_slot(OpCode::DELETE));
        t.count(&hr, &emp, op_slot(OpCode::INSERT));
        // Another allocation of the same name (a source's name cache started over).
        t.count(&name("HR"), &name("EMP"), op_slot(OpCode::UPDATE));
        assert!(lock(&shared).is_empty(), "nothing shared before the flush");
        t.flush(&shared);
        // More tables than the pointer search holds.
        for i in 0..40 {
            t.count(&hr, &name(&format!("T{}", i % 20)), op_slot(OpCode::INSERT));
        }
        t.flush(&shared);
        let counts = lock(&shared).clone();
        assert_eq!(counts["HR.EMP"], [2, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(counts["HR.DEPT"], [0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(counts[""], [0, 0, 0, 0, 0, 1, 0, 0, 0]);
        for i in 0..20 {
            assert_eq!(counts[&format!("HR.T{i}")][0], 2, "HR.T{i}");
        }
        assert_eq!(counts.len(), 23);
    }

    #[test]
    fn operation_codes_map_to_their_slots() {
        let slot = |code: u16| OPS[op_slot(OpCode(code))];
        assert_eq!(
            [1, 3, 2, 5, 6, 7, 36].map(slot),
            ["insert", "update", "delete", "ddl", "start", "commit", "rollback"]
        );
        for code in 0..=300u16 {
            let want = match code {
                1 | 2 | 3 | 5 | 6 | 7 | 36 => continue,
                c if OpCode(c).is_lob() => "lob",
                _ => "other",
            };
            assert_eq!(slot(code), want, "OPERATION_CODE {code}");
        }
        assert_eq!(slot(u16::MAX), "other");
    }

    #[test]
    fn the_write_tally_follows_the_table() {
        let shared = Mutex::new(TableCounts::new());
        let schema = |owner: &str, name: &str| {
            Arc::new(TableSchema::from_names(
                redoflow_miner::TableId::new(owner, name),
                ["ID"],
                "NUMBER",
            ))
        };
        let mut t = WriteTally::default();
        t.count(0);
        let (emp, odd, dept) = (
            schema("HR", "EMP"),
            schema("HR.E", "MP"),
            schema("HR", "DEPT"),
        );
        t.table(&emp);
        t.count(0);
        t.count(0);
        t.table(&emp);
        t.count(1);
        t.table(&odd);
        t.count(2);
        t.table(&dept);
        t.count(2);
        // A new version of a table (after DDL) counts under the same name.
        let emp2 = schema("HR", "EMP");
        t.table(&emp2);
        t.count(0);
        t.flush(&shared);
        t.count(0);
        t.flush(&shared);
        t.flush(&shared);
        // More schemas than the pointer search holds.
        let many: Vec<_> = (0..20)
            .map(|i| schema("HR", &format!("T{}", i % 10)))
            .collect();
        for s in &many {
            t.table(s);
            t.count(1);
        }
        t.flush(&shared);
        let counts = lock(&shared).clone();
        assert_eq!(counts["HR.EMP"][..3], [4, 1, 0]);
        assert_eq!(counts["HR.E.MP"][..3], [0, 0, 1]);
        assert_eq!(counts["HR.DEPT"][..3], [0, 0, 1]);
        for i in 0..10 {
            assert_eq!(counts[&format!("HR.T{i}")][1], 2, "HR.T{i}");
        }
        assert_eq!(counts.len(), 13, "nothing counted before a table is named");
    }

    #[test]
    fn histograms_bucket_sum_and_add_up() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(20));
        h.observe(Duration::from_secs(600));
        let mut s = h.snapshot();
        assert_eq!(s.count(), 3);
        assert_eq!(s.sum_micros, 600_020_500);
        let b = s.buckets();
        assert_eq!(b.len(), DURATION_BUCKETS.len() + 1);
        assert_eq!(b.first(), Some(&(0.001, 1)));
        assert_eq!(b.iter().find(|(b, _)| *b == 0.025), Some(&(0.025, 1)));
        assert_eq!(b[b.len() - 2], (180.0, 0));
        assert_eq!(b.last(), Some(&(f64::INFINITY, 1)));
        s.add(&h.snapshot());
        assert_eq!(s.count(), 6);
    }

    #[test]
    fn error_classes_name_the_oracle_code() {
        use redoflow_miner::SourceError as E;
        let retry = |m: &str| E::Retryable {
            scn: redoflow_checkpoint::Scn(1),
            message: m.into(),
        };
        assert_eq!(
            error_class(&retry("ORA-03113: end-of-file on communication channel")),
            "ORA-03113"
        );
        assert_eq!(
            error_class(&retry("DPI-1080: connection was closed")),
            "DPI-1080"
        );
        assert_eq!(error_class(&retry("ORA-: nothing")), "retryable");
        assert_eq!(error_class(&retry("connection dropped")), "retryable");
        assert_eq!(
            error_class(&E::Fatal {
                message: "bad".into()
            }),
            "fatal"
        );
    }

    #[test]
    fn retries_beyond_the_class_limit_count_as_other() {
        let p = Progress::default();
        for i in 0..MAX_ERROR_CLASSES + 5 {
            p.count_retry(format!("ORA-{i:05}"));
        }
        p.count_retry("ORA-00000".into());
        let r = p.source_retries();
        assert_eq!(r.len(), MAX_ERROR_CLASSES + 1);
        assert_eq!(r["other"], 5);
        assert_eq!(r["ORA-00000"], 2);
    }
}
