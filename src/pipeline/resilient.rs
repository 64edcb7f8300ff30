//! A source wrapped with the runtime's session and retry rules.

use std::time::{Duration, Instant};

use redoflow_checkpoint::Scn;
use redoflow_miner::{LogSource, SourceError};

use super::progress::{error_class, Progress};
use super::{PipelineError, PipelineOptions, RetryPolicy};
use crate::stop::StopToken;

/// A source with the runtime's rules around it: a new session at the read position after a
/// retryable error (with backoff), a log switch, or `session_max`; a clear stop after too many
/// failures in a row, or at once on a fatal error; and no retry at all once the run is
/// aborted (the error is then the interrupt the abort caused).
pub(super) struct Resilient<'a, S: ?Sized> {
    pub(super) source: &'a mut S,
    retry: RetryPolicy,
    session_max: Option<Duration>,
    stop: &'a StopToken,
    progress: &'a Progress,
    session_started: Option<Instant>,
    failures: u32,
    /// Where a new session starts (at most the read position): one before the oldest open
    /// transaction's start, so LogMiner sees every open transaction from its start (DBZ-8747).
    pub(super) session_from: Scn,
}

impl<'a, S: LogSource + ?Sized> Resilient<'a, S> {
    pub(super) fn new(
        source: &'a mut S,
        opts: &PipelineOptions,
        stop: &'a StopToken,
        progress: &'a Progress,
    ) -> Self {
        Resilient {
            source,
            retry: opts.retry,
            session_max: opts.session_max,
            stop,
            progress,
            session_started: None,
            failures: 0,
            session_from: Scn::ZERO,
        }
    }

    /// Starts a new session when the source says the current one is stale or it is older than
    /// `session_max`.
    pub(super) fn maybe_renew_session(&mut self, read: Scn) -> Result<(), PipelineError> {
        let Some(started) = self.session_started else {
            return Ok(());
        };
        let expired = self.session_max.is_some_and(|max| started.elapsed() >= max);
        let stale = match self.call(read, |s| s.session_stale())? {
            Some(stale) => stale,
            None => return Ok(()),
        };
        if expired || stale {
            tracing::info!(%read, expired, stale, "starting a new mining session");
            self.session_started = None;
        }
        Ok(())
    }

    /// Runs `op`, first starting a session at `read` if none is current. `Ok(None)` when a
    /// stop came during a backoff.
    pub(super) fn call<T>(
        &mut self,
        read: Scn,
        mut op: impl FnMut(&mut S) -> Result<T, SourceError>,
    ) -> Result<Option<T>, PipelineError> {
        loop {
            let result = match self.session_started {
                None => self
                    .source
                    .start_session(self.session_from.min(read))
                    .map(|()| {
                        self.session_started = Some(Instant::now());
                        None
                    }),
                Some(_) => op(self.source).map(Some),
            };
            match result {
                Ok(Some(v)) => {
                    self.failures = 0;
                    return Ok(Some(v));
                }
                Ok(None) => continue,
                Err(_) if self.stop.is_aborted() => return Err(PipelineError::Aborted),
                Err(e) if e.is_retryable() => {
                    self.failures += 1;
                    if self.failures > self.retry.retries {
                        return Err(PipelineError::GaveUp {
                            attempts: self.failures,
                            scn: read,
                            last: e,
                        });
                    }
                    self.progress.count_retry(error_class(&e));
                    let delay = self.retry.delay(self.failures);
                    tracing::warn!(error = %e, attempt = self.failures, of = self.retry.retries,
                        delay_ms = delay.as_millis() as u64, "source error; retrying with a new session");
                    self.session_started = None;
                    if self.stop.wait_timeout(delay) {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
