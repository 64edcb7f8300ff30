//! Which redo log files a LogMiner session needs: a pure function over the rows of V$LOG /
//! V$LOGFILE, V$ARCHIVED_LOG and V$THREAD.
//!
//! Per redo thread, one file per sequence from the one holding the start SCN up to the CURRENT
//! online log: the archived copy when there is one (it cannot be overwritten under us), else an
//! online member (a valid one; a STALE member only when its group has no other). Sequences must
//! be contiguous; a hole means the archiver has not registered a log yet (or a log switch raced
//! the queries) and is retried; a start SCN older than every available log means the redo is
//! gone.
//!
//! A RAC thread that was closed and opened again since the start SCN has no log holding it: its
//! first log starts later. That is consistent when its archived sequences continue without a
//! gap from the last log that ended before the start (DBZ-8162, DBZ-8724). A disabled thread
//! is mined up to its DISABLE_CHANGE#.
//!
//! [`FlushWatch`] caps each window at what every open thread has written (LAST_REDO_CHANGE#
//! − 1), without letting an idle RAC instance hold the others back.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use redoflow_checkpoint::Scn;

/// A V$LOG row joined with one of its V$LOGFILE members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnlineLog {
    pub thread: u16,
    pub sequence: u64,
    pub first_change: Scn,
    /// NULL (or 2^64-1) for the CURRENT log.
    pub next_change: Option<Scn>,
    /// CURRENT, ACTIVE, INACTIVE, ...
    pub status: String,
    pub archived: bool,
    pub member: String,
    pub bytes: u64,
    /// V$LOGFILE.STATUS of the member: empty (in use), or STALE (contents incomplete).
    pub member_status: String,
}

impl OnlineLog {
    fn is_stale(&self) -> bool {
        self.member_status.eq_ignore_ascii_case("STALE")
    }
}

/// A V$ARCHIVED_LOG row (already filtered to valid, on-disk logs of the current incarnation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedLog {
    pub name: String,
    pub thread: u16,
    pub sequence: u64,
    pub first_change: Scn,
    pub next_change: Scn,
    pub dest_id: u32,
}

/// A V$THREAD row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    pub thread: u16,
    /// OPEN or CLOSED.
    pub status: String,
    /// DISABLED, PRIVATE or PUBLIC.
    pub enabled: String,
    /// The thread's current log sequence.
    pub sequence: u64,
    pub last_redo_change: Scn,
    pub enable_change: Scn,
    /// The thread's last checkpoint: for a CLOSED thread, where its redo ends.
    pub checkpoint_change: Scn,
    /// Where a DISABLED thread's redo ends (0 when it is enabled).
    pub disable_change: Scn,
}

impl ThreadInfo {
    pub fn is_open(&self) -> bool {
        self.status.eq_ignore_ascii_case("OPEN")
    }

    pub fn is_enabled(&self) -> bool {
        !self.enabled.eq_ignore_ascii_case("DISABLED")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    Archived,
    Online,
}

/// One file to add to the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFile {
    pub thread: u16,
    pub sequence: u64,
    pub first_change: Scn,
    pub next_change: Option<Scn>,
    pub path: String,
    pub kind: LogKind,
}

/// The files of a session and the CURRENT sequence of each thread when they were chosen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSet {
    /// Ordered by thread, then sequence.
    pub files: Vec<LogFile>,
    pub current_sequences: BTreeMap<u16, u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogSetError {
    /// Sequences `from..=to` of `thread` are in neither view: the archiver is late or a log
    /// switch raced the queries. Retry.
    #[error("redo thread {thread}: log sequence(s) {from}..={to} are neither online nor archived yet (archiver late?)")]
    Gap { thread: u16, from: u64, to: u64 },
    /// No available log of `thread` reaches back to the start SCN: the redo is gone.
    #[error("redo thread {thread}: the oldest available log starts at SCN {oldest}, after the start SCN {start}, and no archived log of the thread continues from before it")]
    StartNotCovered {
        thread: u16,
        start: Scn,
        oldest: Scn,
    },
    /// No log at all (the views returned nothing).
    #[error("no redo logs found in V$LOG / V$ARCHIVED_LOG")]
    Empty,
}

/// `NEXT_CHANGE#` of a CURRENT log: NULL, or the maximum SCN in newer versions.
fn normalize_next(next: Option<Scn>) -> Option<Scn> {
    next.filter(|n| n.0 < 0xFFFF_FFFF_FFFF_0000)
}

/// Chooses the files to mine rows with SCN > `start`. `archived_before`: per thread, the
/// highest sequence of the archived logs on disk that end at or before `start`
/// ([`super::sql::ARCHIVED_BEFORE`]). See the module documentation.
pub fn select_logs(
    start: Scn,
    online: &[OnlineLog],
    archived: &[ArchivedLog],
    threads: &[ThreadInfo],
    archived_before: &BTreeMap<u16, u64>,
) -> Result<LogSet, LogSetError> {
    let mut per_thread: BTreeMap<u16, BTreeMap<u64, LogFile>> = BTreeMap::new();
    // Sequences whose chosen file is a STALE online member, replaced by a valid one if any.
    let mut stale: BTreeSet<(u16, u64)> = BTreeSet::new();
    let mut current_sequences = BTreeMap::new();
    let first_needed = Scn(start.0.saturating_add(1));

    // Archived copies first; for duplicates (several destinations) keep the lowest DEST_ID.
    let mut archived_sorted: Vec<&ArchivedLog> = archived.iter().collect();
    archived_sorted.sort_by_key(|a| (a.thread, a.sequence, a.dest_id));
    for a in archived_sorted {
        if a.next_change <= start {
            continue;
        }
        per_thread
            .entry(a.thread)
            .or_default()
            .entry(a.sequence)
            .or_insert_with(|| LogFile {
                thread: a.thread,
                sequence: a.sequence,
                first_change: a.first_change,
                next_change: Some(a.next_change),
                path: a.name.clone(),
                kind: LogKind::Archived,
            });
    }
    for o in online {
        let next = normalize_next(o.next_change);
        if o.status.eq_ignore_ascii_case("CURRENT") {
            current_sequences
                .entry(o.thread)
                .and_modify(|s: &mut u64| *s = (*s).max(o.sequence))
                .or_insert(o.sequence);
        }
        if next.is_some_and(|n| n <= start) {
            continue;
        }
        // The first valid member wins (rows come ordered by member), a STALE one only when
        // there is no other; archived copies win over both.
        let file = LogFile {
            thread: o.thread,
            sequence: o.sequence,
            first_change: o.first_change,
            next_change: next,
            path: o.member.clone(),
            kind: LogKind::Online,
        };
        let seqs = per_thread.entry(o.thread).or_default();
        match seqs.get(&o.sequence) {
            None => {
                if o.is_stale() {
                    stale.insert((o.thread, o.sequence));
                }
                seqs.insert(o.sequence, file);
            }
            Some(_) if !o.is_stale() && stale.remove(&(o.thread, o.sequence)) => {
                seqs.insert(o.sequence, file);
            }
            Some(_) => {}
        }
    }
    if per_thread.is_empty() {
        return Err(LogSetError::Empty);
    }

    let mut files = Vec::new();
    for (&thread, seqs) in &per_thread {
        let info = threads.iter().find(|t| t.thread == thread);
        // A disabled thread wrote nothing after its DISABLE_CHANGE#: only the logs up to it
        // matter, and none when it was disabled before the start.
        let disabled_at = info.filter(|t| !t.is_enabled()).map(|t| t.disable_change);
        if disabled_at.is_some_and(|d| d <= start) {
            continue;
        }
        let (&first_seq, first) = seqs.iter().next().ok_or(LogSetError::Empty)?;
        // The first log must hold SCN start+1, unless the thread came to life after it, or it
        // was closed across the start and its sequences continue from the last log that ended
        // before it (a reopened RAC thread).
        let thread_born_after = info.is_some_and(|t| t.enable_change > start);
        if first.first_change > first_needed && !thread_born_after && first_seq > 1 {
            match archived_before.get(&thread) {
                Some(&before) if before + 1 == first_seq => {
                    tracing::info!(thread, start = %start, first_sequence = first_seq,
                        first_change = %first.first_change,
                        "redo thread was closed across the start SCN and reopened: its logs continue");
                }
                Some(&before) if before + 1 < first_seq => {
                    return Err(LogSetError::Gap {
                        thread,
                        from: before + 1,
                        to: first_seq - 1,
                    });
                }
                _ => {
                    return Err(LogSetError::StartNotCovered {
                        thread,
                        start,
                        oldest: first.first_change,
                    })
                }
            }
        }
        let mut expected = first_seq;
        for (&seq, file) in seqs {
            if disabled_at.is_some_and(|d| file.first_change > d) {
                break;
            }
            if seq != expected {
                return Err(LogSetError::Gap {
                    thread,
                    from: expected,
                    to: seq - 1,
                });
            }
            files.push(file.clone());
            expected = seq + 1;
        }
        if let Some(d) = disabled_at {
            // The log holding the DISABLE_CHANGE# must be there.
            let last = files.last().filter(|f| f.thread == thread);
            if last.is_none_or(|f| f.next_change.is_some_and(|n| n <= d)) {
                return Err(LogSetError::Gap {
                    thread,
                    from: expected,
                    to: expected,
                });
            }
        }
        // V$THREAD may already know a newer sequence than the logs we saw.
        if let Some(t) = info {
            let last = expected - 1;
            if t.is_open() && t.sequence > last {
                return Err(LogSetError::Gap {
                    thread,
                    from: expected,
                    to: t.sequence,
                });
            }
        }
    }
    // Threads V$THREAD lists as open but with no log at all past the start.
    let seen: BTreeSet<u16> = per_thread.keys().copied().collect();
    if let Some(t) = threads
        .iter()
        .find(|t| t.is_open() && t.is_enabled() && !seen.contains(&t.thread))
    {
        return Err(LogSetError::Gap {
            thread: t.thread,
            from: t.sequence,
            to: t.sequence,
        });
    }
    Ok(LogSet {
        files,
        current_sequences,
    })
}

/// The highest SCN a window may end at: the database's current SCN, capped one below the lowest
/// LAST_REDO_CHANGE# of the open threads. Redo of a RAC instance that has not been written yet
/// cannot be mined, and several redo records share an SCN: the records at LAST_REDO_CHANGE#
/// written after the query would be skipped for good if a window ended there (DBZ-8503).
pub fn window_cap(current_scn: Scn, threads: &[ThreadInfo]) -> Scn {
    threads
        .iter()
        .filter(|t| t.is_open() && t.is_enabled() && t.last_redo_change > Scn::ZERO)
        .map(|t| t.last_redo_change.prev())
        .min()
        .map_or(current_scn, |m| m.min(current_scn))
}

/// How long an open thread's LAST_REDO_CHANGE# must stand still before the thread counts as
/// idle. LGWR writes its buffer at least every three seconds (Oracle Database Concepts, "Log
/// Writer Process"; Debezium waits those three seconds when a RAC node cannot be flushed):
/// a thread that wrote nothing for this long had nothing buffered from before the last
/// three seconds, with a wide margin for SCN propagation between instances.
pub const IDLE_AFTER_MS: u64 = 10_000;

/// [`window_cap`] across time, for RAC: an idle instance writes no redo, so its
/// LAST_REDO_CHANGE# stands still and would hold every window back forever (Debezium makes every
/// instance commit to move it; this source only reads). A thread whose LAST_REDO_CHANGE# has
/// not moved for [`IDLE_AFTER_MS`] is bounded instead by the database's current SCN as sampled
/// that long ago: whatever it writes from now on was generated after that, with a higher SCN.
#[derive(Clone, Debug, Default)]
pub struct FlushWatch {
    /// Per thread: its LAST_REDO_CHANGE# and when it was first seen at that value (ms).
    seen: BTreeMap<u16, (Scn, u64)>,
    /// (ms, V$DATABASE.CURRENT_SCN) samples, oldest first, kept for about [`IDLE_AFTER_MS`].
    samples: VecDeque<(u64, Scn)>,
}

impl FlushWatch {
    /// The cap at wall-clock time `now_ms` given the current SCN and V$THREAD.
    pub fn cap(&mut self, now_ms: u64, current_scn: Scn, threads: &[ThreadInfo]) -> Scn {
        self.samples.push_back((now_ms, current_scn));
        // The newest sample at least IDLE_AFTER_MS old, and everything after it.
        while self
            .samples
            .get(1)
            .is_some_and(|&(t, _)| now_ms.saturating_sub(t) >= IDLE_AFTER_MS)
        {
            self.samples.pop_front();
        }
        let old_scn = self
            .samples
            .front()
            .filter(|&&(t, _)| now_ms.saturating_sub(t) >= IDLE_AFTER_MS)
            .map(|&(_, scn)| scn);
        let mut cap = current_scn;
        let mut open = BTreeSet::new();
        for t in threads
            .iter()
            .filter(|t| t.is_open() && t.is_enabled() && t.last_redo_change > Scn::ZERO)
        {
            open.insert(t.thread);
            let lrc = t.last_redo_change;
            let since = match self.seen.get(&t.thread) {
                Some(&(seen, since)) if seen == lrc => since,
                _ => {
                    self.seen.insert(t.thread, (lrc, now_ms));
                    now_ms
                }
            };
            let mut bound = lrc.prev();
            if now_ms.saturating_sub(since) >= IDLE_AFTER_MS {
                if let Some(old) = old_scn {
                    bound = bound.max(old.prev());
                }
            }
            cap = cap.min(bound);
        }
        self.seen.retain(|t, _| open.contains(t));
        cap
    }
}

/// True when any thread's CURRENT sequence differs from the session's (a log switch).
pub fn log_switched(session: &BTreeMap<u16, u64>, now: &BTreeMap<u16, u64>) -> bool {
    session != now
}
