//! The health checks' pure core: what the runtime ([`crate::watch`]) saw goes in as
//! [`Observation`]s with timestamps, what to do comes out as [`Decision`]s. No clock, no I/O,
//! no threads: every rule is table-tested here.
//!
//! Parts and how they fit:
//! - The *stall detector*. A stall is any of (SPEC.md §9, the old monitor's rules, in seconds
//!   instead of minutes):
//!   1. no checkpoint committed for `health.stall_after` while the database had redo the run
//!      had not mined (its current SCN past the SCN mined through; a run that never learnt the
//!      current SCN counts too). A checkpoint with nothing new is never committed, so a
//!      committed one always advanced the offset; an idle database is no stall;
//!   2. rows mined and written (to in-progress files) but no file finished for two checkpoint
//!      intervals (at least [`FILE_STALL_FLOOR`], so that one slow fsync on a very short
//!      interval is no stall). Rows that write nothing (commits of empty transactions,
//!      rollbacks, rows already written before a restart) do not count;
//!   3. `checkpoint.tolerable_failures` failed checkpoint commits in a row.
//! - The *escalation*: the first stall restarts the mining session; a stall again within
//!   `health.restart_window` of that restart makes the leader step down (a single node
//!   restarts again instead); at most `health.max_restarts` automatic actions per window, then
//!   nothing more is done about this stall (it stays raised, with a `stall_restart_limit`
//!   alert) until it clears or a human steps in. Each action gives the pipeline a fresh
//!   `stall_after` before the next verdict.
//! - The *alert conditions*: each alert is raised when its condition starts and resolved when
//!   it clears; the core remembers which are raised, so each transition is decided once.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Condition 2 never fires sooner than this after the rows were mined.
pub const FILE_STALL_FLOOR: Duration = Duration::from_secs(10);

/// The rules' settings (`[health]`, `checkpoint.interval`, `checkpoint.tolerable_failures`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthPolicy {
    pub stall_after: Duration,
    pub checkpoint_interval: Duration,
    pub tolerable_failures: u32,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub min_free_disk: u64,
    /// A cluster node hands leadership on after a second stall; a single node cannot.
    pub can_step_down: bool,
    /// `mining.transaction_retention`, for the alert's text.
    pub retention: Duration,
}

/// What the runtime saw at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Milliseconds on a monotonic clock (any origin; never going back).
    pub at_ms: u64,
    /// This node is the one that should mine: the leader of a cluster, or a single node.
    pub duty: bool,
    /// The current run's figures while there is one.
    pub run: Option<RunFigures>,
    /// Free space where the node writes.
    pub disks: Vec<DiskFree>,
    /// Leadership as this node sees it (cluster nodes only).
    pub leader: Option<LeaderView>,
    /// How the last run ended, reported once (the observation after it ended).
    pub failure: Option<RunFailure>,
}

/// A run's counters (all only grow while `id` stays the same).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFigures {
    /// Changes when a new run starts.
    pub id: u64,
    /// The database's current SCN, as of the miner's last round.
    pub current_scn: u64,
    /// The SCN mined through.
    pub read_scn: u64,
    /// Changes written to in-progress files.
    pub changes_written: u64,
    /// Checkpoints this run committed.
    pub checkpoints: u64,
    /// Files finished (renamed) by this run's checkpoints.
    pub files_finished: u64,
    /// Rows this run dead-lettered to `_rejected/`.
    pub rejected: u64,
    /// Open transactions older than the retention now.
    pub expired_open: u64,
}

/// Free space on one directory the node writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskFree {
    /// `output` or `data`: the alert is `disk_space_<what>`.
    pub what: &'static str,
    pub path: String,
    pub free_bytes: u64,
}

/// Leadership as one node sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderView {
    pub me: u64,
    pub term: u64,
    pub leader: Option<u64>,
    /// The cluster has committed a checkpoint before (a first election is no "change").
    pub has_checkpoints: bool,
}

/// How a failed run ended, as far as alerts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunFailure {
    /// A checkpoint could not be committed (condition 3 counts these in a row).
    Checkpoint(String),
    /// The redo to resume from is gone.
    RedoMissing { resume_scn: u64, text: String },
    /// Any other failure the source reported (fatal, or retries exhausted).
    Source(String),
    /// Anything else (a sink error, a parse error that stops the run).
    Other(String),
}

/// `warning` or `critical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }
}

/// An alert to raise (or to raise again with news: the webhook posts it again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    /// Stable name: `stall`, `stall_restart_limit`, `leader_change`, `source_error`,
    /// `redo_missing`, `dead_letter`, `transaction_retention`, `disk_space_output`,
    /// `disk_space_data`.
    pub name: String,
    pub level: Level,
    /// One human line.
    pub text: String,
    pub details: BTreeMap<String, String>,
}

/// What the runtime does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Raise(Alert),
    /// The condition of a raised alert cleared; `text` says how.
    Resolve {
        name: String,
        text: String,
    },
    /// Abort the run and start a new one (a new mining session).
    RestartSession,
    /// Hand leadership to another node.
    StepDown,
}

/// Why the detector calls it a stall.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stall {
    NoCheckpoint {
        for_ms: u64,
        current: u64,
        mined: u64,
    },
    NoFile {
        for_ms: u64,
    },
    CommitsFailing {
        failures: u32,
    },
}

impl Stall {
    fn text(&self) -> String {
        match self {
            Stall::NoCheckpoint {
                for_ms,
                current,
                mined,
            } if *current == 0 => format!(
                "no checkpoint for {}, and the source has not told its current SCN yet \
                 (mined through {mined})",
                secs(*for_ms)
            ),
            Stall::NoCheckpoint {
                for_ms,
                current,
                mined,
            } => format!(
                "no checkpoint for {} while the database moved on (current SCN {current}, mined \
                 through {mined})",
                secs(*for_ms)
            ),
            Stall::NoFile { for_ms } => {
                format!("rows written but no file finished for {}", secs(*for_ms))
            }
            Stall::CommitsFailing { failures } => {
                format!("{failures} checkpoint commits failed in a row")
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Stall::NoCheckpoint { .. } => "no_checkpoint",
            Stall::NoFile { .. } => "no_file",
            Stall::CommitsFailing { .. } => "checkpoint_failures",
        }
    }
}

fn secs(ms: u64) -> String {
    humantime_like(Duration::from_millis(ms))
}

/// `1.5s`, `5m`, `1h 2m`: durations as the config writes them.
fn humantime_like(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        let m = (s % 3600) / 60;
        if m == 0 {
            format!("{}h", s / 3600)
        } else {
            format!("{}h {m}m", s / 3600)
        }
    } else if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m {}s", s / 60, s % 60)
    } else {
        let ms = d.as_millis();
        if ms % 1000 == 0 {
            format!("{}s", ms / 1000)
        } else {
            format!("{:.1}s", d.as_secs_f64())
        }
    }
}

/// An automatic action taken about a stall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Restart,
    StepDown,
}

/// The health checks' state between observations.
#[derive(Debug)]
pub struct Health {
    policy: HealthPolicy,
    /// Alerts raised now, by name.
    raised: BTreeMap<String, Alert>,
    // The stall detector.
    run_id: Option<u64>,
    /// The clock of condition 1: the last progress, or a fresh start (mining began, an action).
    quiet_since: Option<u64>,
    checkpoints: u64,
    /// Condition 2: since when rows were written that no finished file covers yet.
    unfinished_since: Option<u64>,
    changes: u64,
    files: u64,
    checkpoint_failures: u32,
    /// Automatic actions in the window, oldest first.
    actions: VecDeque<(u64, Action)>,
    /// The restart limit was hit in this stall: nothing more is done until it clears.
    gave_up: bool,
    // Other alerts' memory.
    rejected: u64,
    /// Checkpoints of the run when rows were last dead-lettered.
    rejected_at_checkpoints: u64,
    /// The last other node seen leading.
    last_other_leader: Option<u64>,
    /// This node's leadership the `leader_change` alert is about (term).
    announced_term: Option<u64>,
}

impl Health {
    pub fn new(policy: HealthPolicy) -> Health {
        Health {
            policy,
            raised: BTreeMap::new(),
            run_id: None,
            quiet_since: None,
            checkpoints: 0,
            unfinished_since: None,
            changes: 0,
            files: 0,
            checkpoint_failures: 0,
            actions: VecDeque::new(),
            gave_up: false,
            rejected: 0,
            rejected_at_checkpoints: 0,
            last_other_leader: None,
            announced_term: None,
        }
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Names of the alerts raised now.
    pub fn raised(&self) -> impl Iterator<Item = &str> {
        self.raised.keys().map(String::as_str)
    }

    /// Takes in one observation; returns what to do, alerts first, then at most one action.
    pub fn observe(&mut self, o: &Observation) -> Vec<Decision> {
        let mut out = Vec::new();
        self.leadership(o, &mut out);
        self.failure(o, &mut out);
        let progressed = self.stall(o, &mut out);
        if progressed {
            self.resolve(
                "source_error",
                "the pipeline runs again: a checkpoint was committed",
                &mut out,
            );
            self.resolve(
                "redo_missing",
                "the pipeline runs again: a checkpoint was committed",
                &mut out,
            );
        }
        self.dead_letters(o, &mut out);
        self.retention(o, &mut out);
        self.disks(o, &mut out);
        out
    }

    fn raise(&mut self, alert: Alert, out: &mut Vec<Decision>) {
        self.raised.insert(alert.name.clone(), alert.clone());
        out.push(Decision::Raise(alert));
    }

    /// Raises `alert` unless it is raised already with the same text.
    fn raise_once(&mut self, alert: Alert, out: &mut Vec<Decision>) {
        if self
            .raised
            .get(&alert.name)
            .is_some_and(|a| a.text == alert.text)
        {
            return;
        }
        self.raise(alert, out);
    }

    fn resolve(&mut self, name: &str, text: &str, out: &mut Vec<Decision>) {
        if self.raised.remove(name).is_some() {
            out.push(Decision::Resolve {
                name: name.to_string(),
                text: text.to_string(),
            });
        }
    }

    /// Leader changes: the node that takes over raises `leader_change`; it resolves once this
    /// leader has committed its first checkpoint (or lost leadership again).
    fn leadership(&mut self, o: &Observation, out: &mut Vec<Decision>) {
        let Some(view) = &o.leader else { return };
        let Some(leader) = view.leader else { return };
        if leader != view.me {
            self.last_other_leader = Some(leader);
        }
        // Announced once per term, and only once this node really leads (a majority
        // acknowledges it): a restarted node may briefly show its old term's leadership.
        if leader == view.me && o.duty && self.announced_term != Some(view.term) {
            self.announced_term = Some(view.term);
            let before = self.last_other_leader.take();
            // A first election of a new cluster, or of a node that just started and has seen
            // no other leader, is a change only when the cluster has mined before.
            if before.is_some() || view.has_checkpoints {
                let from =
                    before.map_or("the previous leader".to_string(), |b| format!("node {b}"));
                let mut details = BTreeMap::new();
                details.insert("term".into(), view.term.to_string());
                if let Some(b) = before {
                    details.insert("previous_leader".into(), b.to_string());
                }
                self.raise(
                    Alert {
                        name: "leader_change".into(),
                        level: Level::Warning,
                        text: format!(
                            "leader changed: node {} took over from {from} in term {}",
                            view.me, view.term
                        ),
                        details,
                    },
                    out,
                );
            }
        }
        if self.raised.contains_key("leader_change") {
            if leader != view.me {
                self.resolve(
                    "leader_change",
                    &format!("node {leader} leads now (term {})", view.term),
                    out,
                );
            } else if o.run.as_ref().is_some_and(|r| r.checkpoints > 0) {
                self.resolve(
                    "leader_change",
                    &format!(
                        "node {} mines: its first checkpoint in term {} is committed",
                        view.me, view.term
                    ),
                    out,
                );
            }
        }
    }

    fn failure(&mut self, o: &Observation, out: &mut Vec<Decision>) {
        let Some(f) = &o.failure else { return };
        match f {
            RunFailure::Checkpoint(_) => self.checkpoint_failures += 1,
            RunFailure::RedoMissing { resume_scn, text } => {
                let mut details = BTreeMap::new();
                details.insert("resume_scn".into(), resume_scn.to_string());
                self.raise(
                    Alert {
                        name: "redo_missing".into(),
                        level: Level::Critical,
                        text: format!("redo missing to resume after SCN {resume_scn}: {text}"),
                        details,
                    },
                    out,
                );
            }
            RunFailure::Source(text) => self.raise(
                Alert {
                    name: "source_error".into(),
                    level: Level::Critical,
                    text: format!("the source failed: {text}"),
                    details: BTreeMap::new(),
                },
                out,
            ),
            RunFailure::Other(_) => {}
        }
    }

    /// The stall detector and the escalation. Returns whether the run made progress.
    fn stall(&mut self, o: &Observation, out: &mut Vec<Decision>) -> bool {
        let now = o.at_ms;
        while self
            .actions
            .front()
            .is_some_and(|(at, _)| now.saturating_sub(*at) >= millis(self.policy.restart_window))
        {
            self.actions.pop_front();
        }
        if !o.duty {
            self.reset_clocks(None);
            self.checkpoint_failures = 0;
            self.end_stall(
                "this node no longer mines (another node leads, or it stepped down)",
                out,
            );
            return false;
        }
        let mut progressed = false;
        match &o.run {
            Some(run) if self.run_id != Some(run.id) => {
                // A new run: its counters start from zero, its clocks from now.
                self.run_id = Some(run.id);
                self.checkpoints = run.checkpoints;
                self.changes = run.changes_written;
                self.files = run.files_finished;
                self.quiet_since = Some(now);
                self.unfinished_since = None;
                self.rejected = run.rejected;
                self.rejected_at_checkpoints = run.checkpoints;
            }
            Some(run) => {
                if run.checkpoints > self.checkpoints {
                    progressed = true;
                    self.checkpoints = run.checkpoints;
                    self.quiet_since = Some(now);
                    self.checkpoint_failures = 0;
                }
                if run.changes_written > self.changes {
                    self.changes = run.changes_written;
                    self.unfinished_since.get_or_insert(now);
                }
                // Files finished since the last look cover the rows written before it.
                if run.files_finished > self.files {
                    self.files = run.files_finished;
                    self.unfinished_since = None;
                }
            }
            None => {
                // Between runs (a restart, a failure's delay): the clocks wait for the next.
                self.quiet_since.get_or_insert(now);
            }
        }
        if progressed {
            self.end_stall("a checkpoint was committed: mining goes on", out);
        }
        let Some(stall) = self.verdict(o) else {
            return progressed;
        };
        if self.gave_up {
            return progressed;
        }
        let action = self.next_action(now);
        let mut details = BTreeMap::new();
        details.insert("reason".into(), stall.kind().into());
        details.insert("actions_in_window".into(), self.actions.len().to_string());
        let limit = format!(
            "{} automatic restarts per {}",
            self.policy.max_restarts,
            humantime_like(self.policy.restart_window)
        );
        match action {
            None => {
                self.gave_up = true;
                details.insert("action".into(), "none".into());
                let text = format!(
                    "mining stalled: {}; restart limit reached ({limit}): waiting for a human",
                    stall.text()
                );
                self.raise(
                    Alert {
                        name: "stall".into(),
                        level: Level::Critical,
                        text: text.clone(),
                        details: details.clone(),
                    },
                    out,
                );
                self.raise(
                    Alert {
                        name: "stall_restart_limit".into(),
                        level: Level::Critical,
                        text,
                        details,
                    },
                    out,
                );
            }
            Some(action) => {
                self.actions.push_back((now, action));
                let (what, decision) = match action {
                    Action::Restart => ("restarting the mining session", Decision::RestartSession),
                    Action::StepDown => (
                        "it stalled again after a restart: stepping down so another node leads",
                        Decision::StepDown,
                    ),
                };
                details.insert(
                    "action".into(),
                    match action {
                        Action::Restart => "restart_session",
                        Action::StepDown => "step_down",
                    }
                    .into(),
                );
                details.insert("actions_in_window".into(), self.actions.len().to_string());
                self.raise(
                    Alert {
                        name: "stall".into(),
                        level: Level::Warning,
                        text: format!(
                            "mining stalled: {}; {what} (action {} of {limit})",
                            stall.text(),
                            self.actions.len()
                        ),
                        details,
                    },
                    out,
                );
                out.push(decision);
                // A fresh start for the next verdict.
                self.reset_clocks(Some(now));
                if matches!(stall, Stall::CommitsFailing { .. }) {
                    self.checkpoint_failures = 0;
                }
            }
        }
        progressed
    }

    fn reset_clocks(&mut self, now: Option<u64>) {
        self.quiet_since = now;
        self.unfinished_since = None;
        if now.is_none() {
            self.run_id = None;
        }
    }

    fn end_stall(&mut self, how: &str, out: &mut Vec<Decision>) {
        self.gave_up = false;
        self.resolve("stall_restart_limit", how, out);
        self.resolve("stall", how, out);
    }

    /// Which stall condition holds now, if any.
    fn verdict(&self, o: &Observation) -> Option<Stall> {
        let now = o.at_ms;
        if self.policy.tolerable_failures > 0
            && self.checkpoint_failures >= self.policy.tolerable_failures
        {
            return Some(Stall::CommitsFailing {
                failures: self.checkpoint_failures,
            });
        }
        let run = o.run.as_ref()?;
        if let Some(since) = self.quiet_since {
            let quiet = now.saturating_sub(since);
            let behind = run.current_scn == 0 || run.current_scn > run.read_scn;
            if quiet >= millis(self.policy.stall_after) && behind {
                return Some(Stall::NoCheckpoint {
                    for_ms: quiet,
                    current: run.current_scn,
                    mined: run.read_scn,
                });
            }
        }
        if let Some(since) = self.unfinished_since {
            let wait = (self.policy.checkpoint_interval * 2).max(FILE_STALL_FLOOR);
            let waited = now.saturating_sub(since);
            if waited >= millis(wait) {
                return Some(Stall::NoFile { for_ms: waited });
            }
        }
        None
    }

    /// The action for a stall now, or `None` when the window's budget is spent.
    fn next_action(&self, now: u64) -> Option<Action> {
        if self.actions.len() as u64 >= u64::from(self.policy.max_restarts) {
            return None;
        }
        let again = self.actions.back().is_some_and(|(at, a)| {
            *a == Action::Restart && now.saturating_sub(*at) < millis(self.policy.restart_window)
        });
        Some(if again && self.policy.can_step_down {
            Action::StepDown
        } else {
            Action::Restart
        })
    }

    /// Dead-lettered rows: raised when a run writes some to `_rejected/`, resolved once a
    /// checkpoint committed them with no new ones since.
    fn dead_letters(&mut self, o: &Observation, out: &mut Vec<Decision>) {
        let Some(run) = o.run.as_ref().filter(|_| o.duty) else {
            return;
        };
        if run.rejected > self.rejected {
            let new = run.rejected - self.rejected;
            self.rejected = run.rejected;
            self.rejected_at_checkpoints = run.checkpoints;
            let mut details = BTreeMap::new();
            details.insert("rows".into(), run.rejected.to_string());
            self.raise(
                Alert {
                    name: "dead_letter".into(),
                    level: Level::Warning,
                    text: format!(
                        "{new} more rows dead-lettered to _rejected/ ({} in this run): \
                         see the warnings in the log for their SCN, XID and table",
                        run.rejected
                    ),
                    details,
                },
                out,
            );
        } else if run.checkpoints > self.rejected_at_checkpoints {
            self.resolve(
                "dead_letter",
                "no more rows dead-lettered; those before are committed in _rejected/",
                out,
            );
        }
    }

    fn retention(&mut self, o: &Observation, out: &mut Vec<Decision>) {
        let expired = o
            .run
            .as_ref()
            .filter(|_| o.duty)
            .map_or(0, |r| r.expired_open);
        if expired > 0 {
            let mut details = BTreeMap::new();
            details.insert("transactions".into(), expired.to_string());
            self.raise_once(
                Alert {
                    name: "transaction_retention".into(),
                    level: Level::Warning,
                    text: format!(
                        "{expired} open transactions older than mining.transaction_retention ({})",
                        humantime_like(self.policy.retention)
                    ),
                    details,
                },
                out,
            );
        } else {
            self.resolve(
                "transaction_retention",
                "no open transaction is older than the retention",
                out,
            );
        }
    }

    fn disks(&mut self, o: &Observation, out: &mut Vec<Decision>) {
        for d in &o.disks {
            let name = format!("disk_space_{}", d.what);
            if d.free_bytes < self.policy.min_free_disk {
                let mut details = BTreeMap::new();
                details.insert("path".into(), d.path.clone());
                details.insert("free_bytes".into(), d.free_bytes.to_string());
                details.insert(
                    "min_free_bytes".into(),
                    self.policy.min_free_disk.to_string(),
                );
                // Raised once; the free space is in the details of that one post.
                if !self.raised.contains_key(&name) {
                    self.raise(
                        Alert {
                            name,
                            level: Level::Critical,
                            text: format!(
                                "{} dir {} has {} free, below health.min_free_disk ({})",
                                d.what,
                                d.path,
                                bytes(d.free_bytes),
                                bytes(self.policy.min_free_disk)
                            ),
                            details,
                        },
                        out,
                    );
                }
            } else {
                self.resolve(
                    &name,
                    &format!(
                        "{} dir {} has {} free again",
                        d.what,
                        d.path,
                        bytes(d.free_bytes)
                    ),
                    out,
                );
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `5.0 GiB`, `512.0 MiB`.
fn bytes(b: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if b as f64 >= GIB {
        format!("{:.1} GiB", b as f64 / GIB)
    } else {
        format!("{:.1} MiB", b as f64 / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HealthPolicy {
        HealthPolicy {
            stall_after: Duration::from_secs(300),
            checkpoint_interval: Duration::from_secs(30),
            tolerable_failures: 5,
            max_restarts: 3,
            restart_window: Duration::from_secs(300),
            min_free_disk: 5 << 30,
            can_step_down: true,
            retention: Duration::from_secs(4 * 3600),
        }
    }

    /// One step of a table: at `t` seconds, what the run shows; what must come out.
    struct Step {
        t: u64,
        duty: bool,
        run: Option<RunFigures>,
        failure: Option<RunFailure>,
        want: &'static [&'static str],
    }

    fn run(
        id: u64,
        current: u64,
        read: u64,
        changes: u64,
        checkpoints: u64,
        files: u64,
    ) -> Option<RunFigures> {
        Some(RunFigures {
            id,
            current_scn: current,
            read_scn: read,
            changes_written: changes,
            checkpoints,
            files_finished: files,
            ..RunFigures::default()
        })
    }

    fn step(t: u64, run: Option<RunFigures>, want: &'static [&'static str]) -> Step {
        Step {
            t,
            duty: true,
            run,
            failure: None,
            want,
        }
    }

    /// A decision as a short word: `raise:stall`, `resolve:stall`, `restart`, `step_down`.
    fn short(d: &Decision) -> String {
        match d {
            Decision::Raise(a) => format!("raise:{}", a.name),
            Decision::Resolve { name, .. } => format!("resolve:{name}"),
            Decision::RestartSession => "restart".into(),
            Decision::StepDown => "step_down".into(),
        }
    }

    fn play(policy: HealthPolicy, steps: &[Step]) {
        let mut h = Health::new(policy);
        for (i, s) in steps.iter().enumerate() {
            let o = Observation {
                at_ms: s.t * 1000,
                duty: s.duty,
                run: s.run.clone(),
                failure: s.failure.clone(),
                ..Observation::default()
            };
            let got: Vec<String> = h.observe(&o).iter().map(short).collect();
            assert_eq!(got, s.want, "step {i} at {}s", s.t);
        }
    }

    #[test]
    fn a_run_that_checkpoints_never_stalls() {
        play(
            policy(),
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(30, run(1, 200, 200, 10, 1, 1), &[]),
                step(60, run(1, 300, 300, 20, 2, 2), &[]),
                step(400, run(1, 900, 900, 90, 12, 12), &[]),
                step(700, run(1, 1000, 1000, 95, 22, 22), &[]),
            ],
        );
    }

    /// An idle database: no checkpoint for an hour, but nothing to mine either.
    #[test]
    fn an_idle_database_is_no_stall() {
        play(
            policy(),
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(30, run(1, 500, 500, 10, 1, 1), &[]),
                step(1000, run(1, 500, 500, 10, 1, 1), &[]),
                step(3600, run(1, 500, 500, 10, 1, 1), &[]),
            ],
        );
    }

    /// The database moves on, the run does not: restart, then (again within the window) step
    /// down; the alert resolves once this node no longer mines.
    #[test]
    fn a_stall_restarts_then_steps_down() {
        let p = HealthPolicy {
            stall_after: Duration::from_secs(60),
            ..policy()
        };
        play(
            p,
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(30, run(1, 200, 200, 5, 1, 1), &[]),
                step(89, run(1, 900, 200, 5, 1, 1), &[]),
                step(90, run(1, 900, 200, 5, 1, 1), &["raise:stall", "restart"]),
                // The restart gives the next run a fresh stall_after.
                step(91, None, &[]),
                step(92, run(2, 950, 150, 0, 0, 0), &[]),
                step(151, run(2, 1500, 200, 3, 0, 0), &[]),
                step(
                    152,
                    run(2, 1500, 200, 3, 0, 0),
                    &["raise:stall", "step_down"],
                ),
                Step {
                    t: 153,
                    duty: false,
                    run: None,
                    failure: None,
                    want: &["resolve:stall"],
                },
            ],
        );
    }

    /// Actions older than the window do not count: one restart per window goes on forever.
    #[test]
    fn actions_leave_the_window() {
        let p = HealthPolicy {
            can_step_down: false,
            ..policy()
        };
        play(
            p,
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(300, run(1, 900, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(301, run(2, 900, 100, 0, 0, 0), &[]),
                step(601, run(2, 950, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(602, run(3, 950, 100, 0, 0, 0), &[]),
                step(902, run(3, 990, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(903, run(4, 990, 100, 0, 0, 0), &[]),
                step(1203, run(4, 999, 100, 0, 0, 0), &["raise:stall", "restart"]),
            ],
        );
    }

    /// A single node cannot step down: it restarts again, up to the limit; then it raises the
    /// limit alert once, does nothing more, and both alerts resolve when a checkpoint commits.
    #[test]
    fn the_restart_limit_holds_and_waits_for_progress() {
        let p = HealthPolicy {
            can_step_down: false,
            stall_after: Duration::from_secs(10),
            ..policy()
        };
        play(
            p,
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(10, run(1, 900, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(11, run(2, 900, 100, 0, 0, 0), &[]),
                step(21, run(2, 950, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(22, run(3, 950, 100, 0, 0, 0), &[]),
                step(32, run(3, 990, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(33, run(4, 990, 100, 0, 0, 0), &[]),
                step(
                    43,
                    run(4, 999, 100, 0, 0, 0),
                    &["raise:stall", "raise:stall_restart_limit"],
                ),
                // Nothing more, even once the window has passed: a human decides.
                step(60, run(4, 999, 100, 0, 0, 0), &[]),
                step(400, run(4, 999, 100, 0, 0, 0), &[]),
                // The stall clears by itself: both resolve.
                step(
                    401,
                    run(4, 1200, 1200, 10, 1, 1),
                    &["resolve:stall_restart_limit", "resolve:stall"],
                ),
            ],
        );
    }

    /// A run stuck before it ever learnt the current SCN (a session start that hangs) stalls
    /// too.
    #[test]
    fn a_run_that_never_got_going_stalls() {
        play(
            policy(),
            &[
                step(0, run(1, 0, 0, 0, 0, 0), &[]),
                step(299, run(1, 0, 0, 0, 0, 0), &[]),
                step(300, run(1, 0, 0, 0, 0, 0), &["raise:stall", "restart"]),
            ],
        );
    }

    /// With step-down allowed, a node that comes back to lead after stepping down still counts
    /// its earlier actions.
    #[test]
    fn actions_of_earlier_leaderships_count_toward_the_limit() {
        let p = HealthPolicy {
            stall_after: Duration::from_secs(10),
            max_restarts: 2,
            ..policy()
        };
        let follower = |t| Step {
            t,
            duty: false,
            run: None,
            failure: None,
            want: &[],
        };
        play(
            p,
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(10, run(1, 900, 100, 0, 0, 0), &["raise:stall", "restart"]),
                step(11, run(2, 900, 100, 0, 0, 0), &[]),
                step(21, run(2, 950, 100, 0, 0, 0), &["raise:stall", "step_down"]),
                Step {
                    t: 22,
                    duty: false,
                    run: None,
                    failure: None,
                    want: &["resolve:stall"],
                },
                follower(40),
                step(50, run(3, 990, 100, 0, 0, 0), &[]),
                step(
                    60,
                    run(3, 999, 100, 0, 0, 0),
                    &["raise:stall", "raise:stall_restart_limit"],
                ),
            ],
        );
    }

    /// Condition 2: rows written, no file finished for two checkpoint intervals (never sooner
    /// than the floor).
    #[test]
    fn rows_mined_without_finished_files_stall() {
        play(
            policy(),
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(10, run(1, 200, 200, 50, 1, 1), &[]),
                step(20, run(1, 300, 300, 90, 1, 1), &[]),
                step(79, run(1, 300, 300, 95, 2, 1), &[]),
                step(80, run(1, 300, 300, 95, 2, 1), &["raise:stall", "restart"]),
            ],
        );
        let short = HealthPolicy {
            checkpoint_interval: Duration::from_millis(300),
            ..policy()
        };
        play(
            short,
            &[
                step(0, run(1, 100, 100, 0, 0, 0), &[]),
                step(1, run(1, 200, 200, 50, 1, 0), &[]),
                step(9, run(1, 300, 300, 60, 2, 0), &[]),
                step(11, run(1, 300, 300, 60, 2, 0), &["raise:stall", "restart"]),
            ],
        );
    }

    /// Condition 3 counts failed commits across runs; a committed checkpoint resets it.
    #[test]
    fn failed_checkpoint_commits_in_a_row_stall() {
        let fail = |t, want| Step {
            t,
            duty: true,
            run: None,
            failure: Some(RunFailure::Checkpoint("commit timed out".into())),
            want,
        };
        let p = HealthPolicy {
            tolerable_failures: 3,
            ..policy()
        };
        play(
            p,
            &[
                fail(0, &[]),
                fail(30, &[]),
                step(60, run(1, 100, 100, 0, 0, 0), &[]),
                step(61, run(1, 100, 100, 1, 1, 1), &[]),
                fail(90, &[]),
                fail(120, &[]),
                fail(150, &["raise:stall", "restart"]),
                step(151, run(2, 100, 100, 0, 0, 0), &[]),
                step(152, run(2, 200, 200, 1, 1, 1), &["resolve:stall"]),
            ],
        );
    }

    #[test]
    fn source_failures_raise_until_a_checkpoint_commits() {
        play(
            policy(),
            &[
                Step {
                    t: 0,
                    duty: true,
                    run: None,
                    failure: Some(RunFailure::RedoMissing {
                        resume_scn: 41,
                        text: "no log covers SCN 42..90".into(),
                    }),
                    want: &["raise:redo_missing"],
                },
                Step {
                    t: 30,
                    duty: true,
                    run: None,
                    failure: Some(RunFailure::Source("ORA-01017".into())),
                    want: &["raise:source_error"],
                },
                step(60, run(1, 100, 100, 0, 0, 0), &[]),
                step(
                    61,
                    run(1, 200, 200, 5, 1, 1),
                    &["resolve:source_error", "resolve:redo_missing"],
                ),
            ],
        );
    }

    #[test]
    fn dead_letters_raise_and_resolve_after_the_next_checkpoint() {
        let with = |t, rejected, checkpoints, want| {
            let mut r = run(1, 100 + t, 100 + t, t, checkpoints, checkpoints);
            if let Some(r) = r.as_mut() {
                r.rejected = rejected;
            }
            step(t, r, want)
        };
        play(
            policy(),
            &[
                with(0, 0, 0, &[]),
                with(1, 2, 0, &["raise:dead_letter"]),
                with(2, 2, 0, &[]),
                with(3, 3, 0, &["raise:dead_letter"]),
                with(4, 3, 1, &["resolve:dead_letter"]),
                with(5, 3, 2, &[]),
            ],
        );
    }

    #[test]
    fn transactions_past_retention_raise_while_open() {
        let with = |t, expired, want| {
            let mut r = run(1, 100 + t, 100 + t, t, t, t);
            if let Some(r) = r.as_mut() {
                r.expired_open = expired;
            }
            step(t, r, want)
        };
        play(
            policy(),
            &[
                with(0, 0, &[]),
                with(1, 1, &["raise:transaction_retention"]),
                with(2, 1, &[]),
                with(3, 2, &["raise:transaction_retention"]),
                with(4, 0, &["resolve:transaction_retention"]),
            ],
        );
    }

    #[test]
    fn low_disk_space_raises_once_per_dir_and_resolves() {
        let mut h = Health::new(policy());
        let disks = |out: u64, data: u64| {
            vec![
                DiskFree {
                    what: "output",
                    path: "/out".into(),
                    free_bytes: out,
                },
                DiskFree {
                    what: "data",
                    path: "/data".into(),
                    free_bytes: data,
                },
            ]
        };
        let table: &[(u64, u64, &[&str])] = &[
            (10 << 30, 10 << 30, &[]),
            (1 << 30, 10 << 30, &["raise:disk_space_output"]),
            (1 << 29, 1 << 30, &["raise:disk_space_data"]),
            (6 << 30, 1 << 30, &["resolve:disk_space_output"]),
            (6 << 30, 6 << 30, &["resolve:disk_space_data"]),
        ];
        for (i, (out, data, want)) in table.iter().enumerate() {
            let o = Observation {
                at_ms: i as u64,
                disks: disks(*out, *data),
                ..Observation::default()
            };
            let got: Vec<String> = h.observe(&o).iter().map(short).collect();
            assert_eq!(&got, want, "row {i}");
        }
        let text = Health::new(policy())
            .observe(&Observation {
                disks: disks(1 << 30, 10 << 30),
                ..Observation::default()
            })
            .into_iter()
            .find_map(|d| match d {
                Decision::Raise(a) => Some(a.text),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            text,
            "output dir /out has 1.0 GiB free, below health.min_free_disk (5.0 GiB)"
        );
    }

    /// The node that takes over raises `leader_change`; the first election of a new cluster
    /// does not; it resolves at the new leader's first checkpoint.
    #[test]
    fn leader_changes_are_raised_by_the_new_leader() {
        let mut h = Health::new(policy());
        let view = |leader, term, has| LeaderView {
            me: 2,
            term,
            leader: Some(leader),
            has_checkpoints: has,
        };
        type Row = (
            LeaderView,
            bool,
            Option<RunFigures>,
            &'static [&'static str],
        );
        let table: Vec<Row> = vec![
            (view(1, 1, false), false, None, &[]),
            (view(1, 1, true), false, None, &[]),
            (view(2, 2, true), true, None, &["raise:leader_change"]),
            (view(2, 2, true), true, run(1, 100, 100, 0, 0, 0), &[]),
            (
                view(2, 2, true),
                true,
                run(1, 200, 200, 1, 1, 1),
                &["resolve:leader_change"],
            ),
            (view(3, 3, true), false, None, &[]),
            // Back to node 2, which loses it again before its first checkpoint.
            (view(2, 4, true), true, None, &["raise:leader_change"]),
            (view(1, 5, true), false, None, &["resolve:leader_change"]),
        ];
        for (i, (leader, duty, run, want)) in table.into_iter().enumerate() {
            let o = Observation {
                at_ms: i as u64 * 1000,
                duty,
                run,
                leader: Some(leader),
                ..Observation::default()
            };
            let got: Vec<String> = h.observe(&o).iter().map(short).collect();
            assert_eq!(got, want, "row {i}");
        }
        // A restarted node that briefly shows its old term's leadership, unacknowledged,
        // announces nothing.
        let mut h = Health::new(policy());
        for (leader, term, duty) in [(2, 2, false), (1, 3, false), (1, 3, false)] {
            let o = Observation {
                duty,
                leader: Some(LeaderView {
                    me: 2,
                    term,
                    leader: Some(leader),
                    has_checkpoints: true,
                }),
                ..Observation::default()
            };
            assert!(h.observe(&o).is_empty());
        }
        // A new cluster's first leader announces nothing.
        let mut h = Health::new(policy());
        let first = Observation {
            duty: true,
            leader: Some(LeaderView {
                me: 1,
                term: 1,
                leader: Some(1),
                has_checkpoints: false,
            }),
            ..Observation::default()
        };
        assert!(h.observe(&first).is_empty());
    }

    #[test]
    fn durations_read_as_the_config_writes_them() {
        assert_eq!(humantime_like(Duration::from_secs(300)), "5m");
        assert_eq!(humantime_like(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humantime_like(Duration::from_secs(90)), "1m 30s");
        assert_eq!(humantime_like(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(humantime_like(Duration::from_secs(2)), "2s");
    }
}
