//! A recorded export played back at a pace: `[source.replay] rate` rows per second since
//! `start_unix_ms`. The wrapped source then behaves like a live database — its current SCN
//! advances with time — so a cluster can be killed mid-stream on a recorded export, a demo
//! shows a real flow, and a long export can be rehearsed at production speed. Every node that
//! reads the same export at the same rate and start sees the same database.

use std::sync::Arc;

use redoflow_checkpoint::Scn;

use crate::row::RedoRow;
use crate::schema::TableSchema;
use crate::sim::clock::{SimClock, SystemClock};
use crate::source::{Interrupt, LogSource, SourceError};

/// Rows between two index entries: the pace moves in steps of this many rows (at 50 000
/// rows/s, 20 ms), and the index of a 5-million-row export is 5 000 SCNs.
pub const INDEX_EVERY: u64 = 1000;

/// A source whose rows all exist already (a replay), released at `rate` rows per second.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    /// The SCN position of row `i × every`.
    index: Vec<Scn>,
    every: u64,
    rows: u64,
    rate: f64,
    start_unix_ms: u64,
    clock: Arc<dyn SimClock>,
}

impl<S: LogSource> Paced<S> {
    /// `index` and `rows` as [`crate::ReplaySource::scn_index`] returns them for `every`.
    pub fn new(
        inner: S,
        (index, rows): (Vec<Scn>, u64),
        every: u64,
        rate: f64,
        start_unix_ms: u64,
    ) -> Self {
        Self::with_clock(
            inner,
            (index, rows),
            every,
            rate,
            start_unix_ms,
            Arc::new(SystemClock),
        )
    }

    pub fn with_clock(
        inner: S,
        (index, rows): (Vec<Scn>, u64),
        every: u64,
        rate: f64,
        start_unix_ms: u64,
        clock: Arc<dyn SimClock>,
    ) -> Self {
        Paced {
            inner,
            index,
            every: every.max(1),
            rows,
            rate,
            start_unix_ms,
            clock,
        }
    }

    /// Rows of the export due by now.
    fn rows_due(&self) -> u64 {
        let elapsed_ms = self.clock.now_unix_ms().saturating_sub(self.start_unix_ms);
        (elapsed_ms as f64 / 1000.0 * self.rate) as u64
    }

    /// The highest SCN whose rows are all due: just before the SCN of the first row not due
    /// yet (rounded down to the index), or everything once all rows are.
    fn paced_scn(&self) -> Option<Scn> {
        let due = self.rows_due();
        if due >= self.rows {
            return None;
        }
        // Rows 0..due are due. Row k × every is at or before row `due`, so every row at an SCN
        // below its position comes before it and is due; rows at its SCN may not all be.
        let k = (due / self.every) as usize;
        Some(self.index.get(k)?.prev())
    }
}

impl<S: LogSource> LogSource for Paced<S> {
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        let inner = self.inner.current_scn()?;
        Ok(match self.paced_scn() {
            Some(paced) => inner.min(paced),
            None => inner,
        })
    }

    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        self.inner.start_session(resume_scn)
    }

    fn fetch(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), SourceError> {
        self.inner.fetch(read_scn, end_scn, out)
    }

    fn fetch_capped(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> Result<Scn, SourceError> {
        self.inner.fetch_capped(read_scn, end_scn, out, max_rows)
    }

    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        self.inner.table_schema(owner, table)
    }

    fn session_stale(&mut self) -> Result<bool, SourceError> {
        self.inner.session_stale()
    }

    fn fetch_is_cheap(&self) -> bool {
        self.inner.fetch_is_cheap()
    }

    /// Finished once every row is due and the inner source has handed them all out.
    fn is_finished(&self) -> bool {
        self.paced_scn().is_none() && self.inner.is_finished()
    }

    fn interrupter(&self) -> Option<Interrupt> {
        self.inner.interrupter()
    }

    fn prepare(&mut self, resume_scn: Scn) {
        self.inner.prepare(resume_scn);
    }

    fn identity(&mut self) -> Result<Vec<(String, String)>, SourceError> {
        self.inner.identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::clock::ManualClock;
    use std::time::Duration;

    /// Everything there at once, as a replay is.
    #[derive(Debug)]
    struct AllThere {
        last: Scn,
        handed_out: bool,
    }

    impl LogSource for AllThere {
        fn current_scn(&mut self) -> Result<Scn, SourceError> {
            Ok(self.last)
        }
        fn start_session(&mut self, _: Scn) -> Result<(), SourceError> {
            Ok(())
        }
        fn fetch(&mut self, _: Scn, end: Scn, _: &mut Vec<RedoRow>) -> Result<(), SourceError> {
            self.handed_out = end >= self.last;
            Ok(())
        }
        fn table_schema(&mut self, _: &str, _: &str) -> Result<Option<TableSchema>, SourceError> {
            Ok(None)
        }
        fn is_finished(&self) -> bool {
            self.handed_out
        }
    }

    #[test]
    fn rows_are_released_at_the_rate_in_index_steps() {
        // Rows at SCN positions 10, 11, 12, 12, 20, 21, 25; an index entry every 2 rows.
        let index = (vec![Scn(10), Scn(12), Scn(20), Scn(25)], 7);
        let clock = Arc::new(ManualClock::new(1_000_000));
        let inner = AllThere {
            last: Scn(25),
            handed_out: false,
        };
        let mut paced = Paced::with_clock(inner, index, 2, 2.0, 1_000_000, clock.clone());
        assert_eq!(
            paced.current_scn().unwrap(),
            Scn(9),
            "nothing due at the start"
        );
        clock.advance(Duration::from_millis(1000)); // 2 rows due: 10, 11
        assert_eq!(paced.current_scn().unwrap(), Scn(11));
        clock.advance(Duration::from_millis(1500)); // 5 rows due: up to the second 12
        assert_eq!(paced.current_scn().unwrap(), Scn(19));
        let mut out = Vec::new();
        paced.fetch(Scn(9), Scn(19), &mut out).unwrap();
        assert!(!paced.is_finished(), "rows are still to come");
        clock.advance(Duration::from_millis(1000)); // all 7 due
        assert_eq!(paced.current_scn().unwrap(), Scn(25));
        assert!(!paced.is_finished(), "not handed out yet");
        paced.fetch(Scn(19), Scn(25), &mut out).unwrap();
        assert!(paced.is_finished());
    }
}
