//! Which redo log files a LogMiner session needs: a pure function over the rows of V$LOG /
//! V$LOGFILE, V$ARCHIVED_LOG and V$THREAD.
//!
//! Per redo thread, one file per sequence from the one holding the start SCN up to the CURRENT
//! online log: the archived copy when there is one (it cannot be overwritten under us), else an
//! online member. Sequences must be contiguous; a hole means the archiver has not registered a
//! log yet (or a log switch raced the queries) and is retried; a start SCN older than every
//! available log means the redo is gone.

use std::collections::{BTreeMap, BTreeSet};

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
    #[error("redo thread {thread}: the oldest available log starts at SCN {oldest}, after the start SCN {start}")]
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

/// Chooses the files to mine rows with SCN > `start`. See the module documentation.
pub fn select_logs(
    start: Scn,
    online: &[OnlineLog],
    archived: &[ArchivedLog],
    threads: &[ThreadInfo],
) -> Result<LogSet, LogSetError> {
    let mut per_thread: BTreeMap<u16, BTreeMap<u64, LogFile>> = BTreeMap::new();
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
        // First member wins (rows come ordered by member); archived copies win over both.
        per_thread
            .entry(o.thread)
            .or_default()
            .entry(o.sequence)
            .or_insert_with(|| LogFile {
                thread: o.thread,
                sequence: o.sequence,
                first_change: o.first_change,
                next_change: next,
                path: o.member.clone(),
                kind: LogKind::Online,
            });
    }
    if per_thread.is_empty() {
        return Err(LogSetError::Empty);
    }

    let mut files = Vec::new();
    for (&thread, seqs) in &per_thread {
        let info = threads.iter().find(|t| t.thread == thread);
        if info.is_some_and(|t| !t.is_enabled()) {
            continue;
        }
        let (&first_seq, first) = seqs.iter().next().ok_or(LogSetError::Empty)?;
        // The first log must hold SCN start+1, unless the thread came to life after it.
        let thread_born_after = info.is_some_and(|t| t.enable_change > start);
        if first.first_change > first_needed && !thread_born_after && first_seq > 1 {
            return Err(LogSetError::StartNotCovered {
                thread,
                start,
                oldest: first.first_change,
            });
        }
        let mut expected = first_seq;
        for (&seq, file) in seqs {
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

/// The highest SCN a window may end at: the database's current SCN, capped at the lowest
/// LAST_REDO_CHANGE# of the open threads (redo of a RAC instance that has not been written yet
/// cannot be mined, and mining past it would miss that instance's rows).
pub fn window_cap(current_scn: Scn, threads: &[ThreadInfo]) -> Scn {
    threads
        .iter()
        .filter(|t| t.is_open() && t.is_enabled() && t.last_redo_change > Scn::ZERO)
        .map(|t| t.last_redo_change)
        .min()
        .map_or(current_scn, |m| m.min(current_scn))
}

/// True when any thread's CURRENT sequence differs from the session's (a log switch).
pub fn log_switched(session: &BTreeMap<u16, u64>, now: &BTreeMap<u16, u64>) -> bool {
    session != now
}
