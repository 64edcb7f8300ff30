//! The `LogSource` seam: where redo rows come from. No Oracle type is visible here; the Oracle,
//! simulated and replay sources all implement this one trait.

use std::path::PathBuf;
use std::sync::Arc;

use redoflow_checkpoint::{Offset, Scn};
use serde::{Deserialize, Deserializer};

use crate::row::RedoRow;
use crate::schema::TableSchema;

/// Errors a source reports, split by what the mining loop should do about them.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Worth retrying with backoff (connection lost, log switch race, ...). The runtime starts
    /// a new session (reconnecting) before it retries.
    #[error("retryable source error at SCN {scn}: {message}")]
    Retryable { scn: Scn, message: String },
    /// The redo needed to resume after `resume_scn` is no longer available.
    #[error("redo logs for SCN {resume_scn} are gone: no log covers SCN {missing_from}..{missing_to}; restore the archived logs or start from a new snapshot")]
    LogsMissing {
        resume_scn: Scn,
        missing_from: Scn,
        missing_to: Scn,
    },
    /// A recorded export is malformed.
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Anything else that stopping and telling the operator is the only answer to.
    #[error("{message}")]
    Fatal { message: String },
}

impl SourceError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SourceError::Retryable { .. })
    }
}

/// Breaks a source's call in progress from another thread (on Oracle: the connection's
/// break, which ends a running LogMiner query with ORA-01013). The interrupted call returns an
/// error; the runtime, which asked for the interrupt, does not retry it.
pub type Interrupt = Arc<dyn Fn() + Send + Sync>;
/// Where mining starts when there is no checkpoint yet (`mining.start`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartAt {
    /// The database's current SCN: changes committed from now on. Transactions already open
    /// are written whole or not at all, as the source says ([`LogSource::first_offset`]).
    #[default]
    Current,
    /// The oldest redo the database still has.
    Earliest,
    /// After this SCN.
    Scn(Scn),
}

/// `"current"`, `"earliest"`, or an SCN (a number, or a string of digits).
impl<'de> Deserialize<'de> for StartAt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(StartAt::Scn(Scn(n))),
            Raw::Text(t) => match t.trim() {
                "current" => Ok(StartAt::Current),
                "earliest" => Ok(StartAt::Earliest),
                digits => digits.parse().map(|n| StartAt::Scn(Scn(n))).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "mining.start: expected \"current\", \"earliest\" or an SCN, not {t:?}"
                    ))
                }),
            },
        }
    }
}

/// A source of LogMiner rows.
///
/// Contract (checked by the conformance suite):
/// - `fetch(read, end, out)` appends the rows with `read < SCN <= end` (exclusive-inclusive) in
///   the order LogMiner returns them: SCN order, and continuation rows (`CSF = 1`) directly
///   followed by the rest of their statement.
/// - Within one session, consecutive windows are contiguous: the next `read` is the previous
///   `end`. A source may refuse (error) a window that starts before the session's resume SCN.
/// - Reads are repeatable: a new session over the same range returns the same rows.
/// - No window ends past `current_scn()`.
/// - Sources are used from one thread at a time (they may block); `Send` lets the runtime put
///   them on their own thread.
pub trait LogSource: Send {
    /// The highest SCN that can be mined now. A replay source that has not reached the end of
    /// its file yet may answer [`Scn::MAX`].
    fn current_scn(&mut self) -> Result<Scn, SourceError>;

    /// Where a first start (no checkpoint yet) mines from: the restart offset of `start`.
    /// `Scn(n)` is `Offset::starting_after(n)`; what `Current` and `Earliest` are depends on the
    /// source. The default answers [`Scn::ZERO`] for both (everything the source has).
    fn first_offset(&mut self, start: StartAt) -> Result<Offset, SourceError> {
        Ok(Offset::starting_after(match start {
            StartAt::Scn(scn) => scn,
            StartAt::Current | StartAt::Earliest => Scn::ZERO,
        }))
    }

    /// Starts (or restarts) a mining session for windows after `resume_scn`. The runtime passes
    /// the restart offset's resume SCN (one before the oldest open transaction's first change,
    /// else its read position): a source that mines in sessions starts each one there, so that
    /// no open transaction is seen from its middle (DBZ-8747), and fetches windows after it.
    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError>;

    /// Appends the rows of the window `(read_scn, end_scn]` to `out`.
    fn fetch(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), SourceError>;

    /// [`LogSource::fetch`] that may stop early: once about `max_rows` rows are appended, the
    /// source ends the window at the next SCN boundary and returns the SCN through which it is
    /// complete; the rows of one SCN are never split. Returns `end_scn` when it read the whole
    /// window. The runtime passes a cap on every read, so that a window planned across an SCN
    /// gap into dense redo cannot fill memory; the sources here all honour it (the conformance
    /// suite checks it). The default reads the whole window: a source that keeps it is bounded
    /// only by the windows it is asked for.
    fn fetch_capped(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> Result<Scn, SourceError> {
        let _ = max_rows;
        self.fetch(read_scn, end_scn, out)?;
        Ok(end_scn)
    }

    /// The columns of a table in COLUMN_ID order, or `None` if the source does not know it.
    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError>;

    /// True when the current session should be replaced before the next window: the redo it
    /// loaded no longer covers what comes next (a log switch on any thread), or the source
    /// wants a fresh connection. The runtime then calls [`LogSource::start_session`] at its read
    /// position and carries on; the transaction buffer keeps its state.
    fn session_stale(&mut self) -> Result<bool, SourceError> {
        Ok(false)
    }

    /// True when fetching a window costs about the same as fetching its parts one after the
    /// other (a file, the simulator; not a LogMiner query). The runtime then reads a planned
    /// window in small consecutive pieces, so rows are written while still in the CPU cache.
    fn fetch_is_cheap(&self) -> bool {
        false
    }

    /// True when no row will ever come after the windows already fetched (the end of a
    /// recorded export). Live databases never finish.
    fn is_finished(&self) -> bool {
        false
    }

    /// What identifies the database this source reads, beyond its configuration (Oracle's
    /// DBID and incarnation), as setting name → value: a cluster's first leader records it, and
    /// a later leader whose database answers otherwise refuses to mine. May connect. The
    /// default (sources identified by their configuration alone) is empty.
    fn identity(&mut self) -> Result<Vec<(String, String)>, SourceError> {
        Ok(Vec::new())
    }

    /// Called now and then on a standby (a cluster follower) with the resume SCN of the last
    /// committed checkpoint, so that taking over later starts fast: a source that can get
    /// ready to resume there cheaply and without touching the database does (the simulator
    /// positions its generator). Must not block for long. The default does nothing.
    fn prepare(&mut self, resume_scn: Scn) {
        let _ = resume_scn;
    }

    /// A way to break this source's call in progress from another thread, for sources whose
    /// calls can block for long (a LogMiner query runs up to the call timeout). `None` (the
    /// default) for sources whose calls return quickly by themselves.
    fn interrupter(&self) -> Option<Interrupt> {
        None
    }
}
