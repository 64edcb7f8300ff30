//! The adaptive mining planner (SPEC.md §5): pure, no I/O, no clock.
//!
//! Each round the runtime asks [`Planner::next_window`] for the end of the next SCN window,
//! fetches it, and reports what it saw with [`Planner::observe`]. The planner keeps a batch
//! target counted in rows and turns it into an SCN span with the rows-per-SCN density of recent
//! rounds, so a stretch with few rows over many SCNs (an SCN jump) is crossed in a few rounds,
//! and a burst is drained with windows near the row maximum.

use std::time::Duration;

use redoflow_checkpoint::Scn;

/// Bounds of the planner (SPEC.md §9 defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannerConfig {
    pub batch_rows_min: u64,
    pub batch_rows_default: u64,
    pub batch_rows_max: u64,
    pub sleep_min: Duration,
    pub sleep_default: Duration,
    pub sleep_max: Duration,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        PlannerConfig {
            batch_rows_min: 500,
            batch_rows_default: 2000,
            batch_rows_max: 20_000,
            sleep_min: Duration::from_millis(500),
            sleep_default: Duration::from_millis(500),
            sleep_max: Duration::from_secs(5),
        }
    }
}

/// What the runtime should do after a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// The last window ended before the database's current SCN.
    pub lagging: bool,
    /// How long to wait before the next round (the runtime may skip it while lagging behind a
    /// recorded export, where there is nothing to wait for).
    pub sleep: Duration,
}

/// Growth factor of the SCN span after a window that returned no rows.
const EMPTY_GROWTH: u64 = 1024;

#[derive(Clone, Debug)]
pub struct Planner {
    config: PlannerConfig,
    target_rows: u64,
    /// Rows per SCN observed recently (exponentially weighted); `None` before the first rows.
    density: Option<f64>,
    /// Span to use while the density is unknown or the last window was empty.
    blind_span: u64,
    sleep: Duration,
}

impl Planner {
    pub fn new(config: PlannerConfig) -> Self {
        Planner {
            config,
            target_rows: config.batch_rows_default,
            density: None,
            blind_span: config.batch_rows_default.max(1),
            sleep: config.sleep_default,
        }
    }

    pub fn target_rows(&self) -> u64 {
        self.target_rows
    }

    pub fn sleep(&self) -> Duration {
        self.sleep
    }

    /// The end of the next window after `read_scn`, never past `current_scn`, never empty.
    /// `None` when there is nothing to mine (`read_scn >= current_scn`).
    pub fn next_window(&self, read_scn: Scn, current_scn: Scn) -> Option<Scn> {
        if read_scn >= current_scn {
            return None;
        }
        let span = match self.density {
            Some(d) if d > 0.0 => ((self.target_rows as f64 / d).ceil() as u64).max(1),
            _ => self.blind_span,
        };
        let span = span.max(self.blind_span_floor());
        let end = read_scn.0.saturating_add(span).min(current_scn.0);
        Some(Scn(end.max(read_scn.0 + 1)))
    }

    fn blind_span_floor(&self) -> u64 {
        // After empty windows the blind span has grown: keep using it until rows appear.
        if self.density.is_none() {
            self.blind_span
        } else {
            1
        }
    }

    /// Records a fetched window `(read_scn, end_scn]` that returned `rows` rows, with the
    /// database at `current_scn`; returns the pace for the next round.
    pub fn observe(&mut self, read_scn: Scn, end_scn: Scn, rows: u64, current_scn: Scn) -> Pace {
        let span = end_scn.0.saturating_sub(read_scn.0).max(1);
        if rows == 0 {
            // Nothing there: cross the gap fast, and forget a density that no longer holds.
            self.density = None;
            self.blind_span = span.saturating_mul(EMPTY_GROWTH);
        } else {
            let d = rows as f64 / span as f64;
            // Fast attack, slow release: a denser stretch (a burst) is believed at once, so
            // the next window does not overshoot the row target again; a sparser one only
            // halfway, so one quiet window does not make the next one huge.
            self.density = Some(match self.density {
                Some(old) if d < old => (old + d) / 2.0,
                _ => d,
            });
            self.blind_span = self.config.batch_rows_default.max(1);
        }
        let lagging = end_scn < current_scn;
        let c = self.config;
        if lagging {
            self.target_rows = (self.target_rows.saturating_mul(2)).min(c.batch_rows_max);
            self.sleep = c.sleep_min;
        } else {
            self.target_rows = (self.target_rows / 2).max(c.batch_rows_min);
            self.sleep = (self.sleep + self.sleep / 2).clamp(c.sleep_min, c.sleep_max);
            if self.sleep.is_zero() {
                self.sleep = c.sleep_max.min(Duration::from_millis(100));
            }
        }
        Pace {
            lagging,
            sleep: self.sleep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_past_current_and_never_empty() {
        let p = Planner::new(PlannerConfig::default());
        assert_eq!(p.next_window(Scn(10), Scn(10)), None);
        assert_eq!(p.next_window(Scn(10), Scn(11)), Some(Scn(11)));
        let end = p.next_window(Scn(10), Scn(1_000_000)).unwrap();
        assert!(end > Scn(10) && end <= Scn(1_000_000));
    }

    #[test]
    fn lagging_grows_target_to_max_and_sleeps_minimum() {
        let c = PlannerConfig::default();
        let mut p = Planner::new(c);
        let mut read = Scn(0);
        for _ in 0..10 {
            let end = p.next_window(read, Scn(u64::MAX / 2)).unwrap();
            let pace = p.observe(read, end, end.0 - read.0, Scn(u64::MAX / 2));
            assert!(pace.lagging);
            assert_eq!(pace.sleep, c.sleep_min);
            read = end;
        }
        assert_eq!(p.target_rows(), c.batch_rows_max);
        // Density 1 row/SCN: windows are the row target in SCNs.
        assert_eq!(
            p.next_window(read, Scn(u64::MAX / 2)).unwrap().0 - read.0,
            c.batch_rows_max
        );
    }

    #[test]
    fn caught_up_shrinks_target_and_raises_sleep_without_oscillating() {
        let c = PlannerConfig::default();
        let mut p = Planner::new(c);
        let mut sleeps = vec![];
        for i in 0..20 {
            let read = Scn(i * 10);
            let end = p.next_window(read, Scn(read.0 + 10)).unwrap();
            let pace = p.observe(read, end, 5, end);
            assert!(!pace.lagging);
            sleeps.push(pace.sleep);
        }
        assert_eq!(p.target_rows(), c.batch_rows_min);
        assert!(
            sleeps.windows(2).all(|w| w[0] <= w[1]),
            "sleep never goes down while idle: {sleeps:?}"
        );
        assert_eq!(*sleeps.last().unwrap(), c.sleep_max);
    }

    /// A database with `density(scn)` rows per SCN; returns (rounds, rows per round).
    fn drain(p: &mut Planner, from: u64, current: u64, density: impl Fn(u64) -> f64) -> Vec<u64> {
        let mut read = Scn(from);
        let mut rounds = vec![];
        while let Some(end) = p.next_window(read, Scn(current)) {
            // Rows in (read, end]: integrate the density.
            let rows = (read.0 + 1..=end.0).map(&density).sum::<f64>().round() as u64;
            p.observe(read, end, rows, Scn(current));
            rounds.push(rows);
            read = end;
        }
        rounds
    }

    #[test]
    fn a_burst_of_a_million_rows_is_drained_with_windows_near_the_maximum() {
        let c = PlannerConfig::default();
        let mut p = Planner::new(c);
        // Quiet history: 1 row per 100 SCNs, then a burst of 1M rows at 20 rows per SCN.
        drain(&mut p, 0, 100_000, |_| 0.01);
        let rounds = drain(&mut p, 100_000, 150_000, |_| 20.0);
        let total: u64 = rounds.iter().sum();
        assert_eq!(total, 1_000_000);
        // At most one overshoot (the first window still believes the quiet density), and the
        // bulk of the burst goes in windows close to the maximum.
        let over: Vec<_> = rounds
            .iter()
            .filter(|r| **r > 2 * c.batch_rows_max)
            .collect();
        assert!(over.len() <= 1, "{rounds:?}");
        let near_max = rounds
            .iter()
            .filter(|r| **r >= c.batch_rows_max / 2)
            .count();
        assert!(near_max * 10 >= rounds.len() * 8, "{rounds:?}");
        assert!(
            rounds.len() <= 1_000_000 / c.batch_rows_max as usize + 10,
            "{} rounds",
            rounds.len()
        );
    }

    #[test]
    fn scn_jump_is_crossed_in_few_rounds() {
        let mut p = Planner::new(PlannerConfig::default());
        // Dense history, then nothing for 10^9 SCNs, then rows again.
        let mut read = Scn(0);
        let end = p.next_window(read, Scn(2_000_000_000)).unwrap();
        p.observe(read, end, end.0 - read.0, Scn(2_000_000_000));
        read = end;
        let gap_end = read.0 + 1_000_000_000;
        let mut rounds = 0;
        while read.0 < gap_end {
            let end = p.next_window(read, Scn(2_000_000_000)).unwrap();
            let rows = if end.0 > gap_end { 10 } else { 0 };
            p.observe(read, end, rows, Scn(2_000_000_000));
            read = end;
            rounds += 1;
        }
        assert!(rounds <= 3, "took {rounds} rounds");
    }
}
