//! The health checks' thin runtime: samples a node (its run's [`Progress`], free disk space,
//! leadership), feeds [`crate::health`], and carries out what it decides: alerts into the
//! node's raised list (`/status`) and the log, out through the [`Notifier`], and the restart or
//! step-down handed back to the caller (the cluster node's controller, or the single node's
//! supervisor in [`crate::run_watched`]).

use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redoflow_miner::SourceError;

use crate::alerts::{AlertError, AlertEvent, Notifier};
use crate::config::Config;
use crate::health::{
    Decision, DiskFree, Health, HealthPolicy, LeaderView, Level, Observation, RunFailure,
    RunFigures,
};
use crate::pipeline::{PipelineError, Progress};
use crate::status::AlertStatus;

/// What the caller is to do after a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// Abort the run and start a new one (a new mining session).
    RestartSession,
    /// Hand leadership to another node (and abort the run).
    StepDown,
}

/// A node's health checks between two looks.
#[derive(Debug)]
pub struct Watch {
    health: Health,
    notifier: Option<Notifier>,
    node_id: u64,
    disks: Vec<(&'static str, std::path::PathBuf)>,
    interval: Duration,
    epoch: Instant,
    next: Instant,
    failure: Option<RunFailure>,
}

impl Watch {
    /// The checks of `config`'s node; `can_step_down` on a cluster node. Starts the alert
    /// workers ([`Notifier::start`]: fails when the mail password's variable is missing).
    pub fn new(config: &Config, node_id: u64, can_step_down: bool) -> Result<Watch, AlertError> {
        let policy = HealthPolicy {
            stall_after: config.health.stall_after,
            checkpoint_interval: config.checkpoint.interval,
            tolerable_failures: config.checkpoint.tolerable_failures,
            max_restarts: config.health.max_restarts,
            restart_window: config.health.restart_window,
            min_free_disk: config.health.min_free_disk,
            can_step_down,
            retention: config.mining.transaction_retention,
        };
        let mut disks = vec![("output", config.output.dir.clone())];
        let data = config.state_dir();
        if !data.starts_with(&config.output.dir) {
            disks.push(("data", data));
        }
        let now = Instant::now();
        Ok(Watch {
            health: Health::new(policy),
            notifier: Some(Notifier::start(&config.alerts)?),
            node_id,
            disks,
            interval: config.health.check_interval,
            epoch: now,
            next: now,
            failure: None,
        })
    }

    /// A run ended with `error`: counted at the next check (a failed checkpoint commit, redo
    /// that is gone, a source that failed).
    pub fn run_failed(&mut self, error: &PipelineError) {
        self.failure = Some(match error {
            PipelineError::Store(e) => RunFailure::Checkpoint(e.to_string()),
            PipelineError::Source(SourceError::LogsMissing { resume_scn, .. }) => {
                RunFailure::RedoMissing {
                    resume_scn: resume_scn.0,
                    text: error.to_string(),
                }
            }
            PipelineError::Source(_) | PipelineError::GaveUp { .. } => {
                RunFailure::Source(error.to_string())
            }
            other => RunFailure::Other(other.to_string()),
        });
        // Told at once, not at the next check: the node may be about to exit.
        self.next = Instant::now();
    }

    /// Whether the next check is due (callers skip gathering what it needs until then).
    pub fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    /// Runs the checks when due (every `health.check_interval`). `duty`: this node should be
    /// mining; `run`: the current run's id and progress, if one runs; `leader`: leadership as
    /// this node sees it. Raised alerts are kept in `alerts`.
    pub fn check(
        &mut self,
        alerts: &Mutex<Vec<AlertStatus>>,
        duty: bool,
        run: Option<(u64, &Progress)>,
        leader: Option<LeaderView>,
    ) -> Option<Remedy> {
        let now = Instant::now();
        if now < self.next {
            return None;
        }
        self.next = now + self.interval;
        let observation = Observation {
            at_ms: u64::try_from(now.duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX),
            duty,
            run: run.map(|(id, p)| figures(id, p)),
            disks: self.disks(),
            leader,
            failure: self.failure.take(),
        };
        let mut remedy = None;
        for decision in self.health.observe(&observation) {
            match decision {
                Decision::Raise(alert) => {
                    match alert.level {
                        Level::Critical => {
                            tracing::error!(alert = %alert.name, details = ?alert.details, "ALERT: {}", alert.text)
                        }
                        Level::Warning => {
                            tracing::warn!(alert = %alert.name, details = ?alert.details, "ALERT: {}", alert.text)
                        }
                    }
                    {
                        // Raised again with news: the text changes, `since` stays.
                        let mut raised = alerts.lock().unwrap_or_else(|p| p.into_inner());
                        let since = raised
                            .iter()
                            .find(|a| a.alert == alert.name)
                            .map_or_else(crate::now_unix_ms, |a| a.since_unix_ms);
                        raised.retain(|a| a.alert != alert.name);
                        raised.push(AlertStatus {
                            alert: alert.name.clone(),
                            level: alert.level.as_str().into(),
                            text: alert.text.clone(),
                            since_unix_ms: since,
                        });
                    }
                    self.notify(AlertEvent {
                        level: alert.level.as_str().into(),
                        alert: alert.name,
                        node_id: self.node_id,
                        text: alert.text,
                        details: alert.details,
                        status: "raised".into(),
                        at_unix_ms: crate::now_unix_ms(),
                    });
                }
                Decision::Resolve { name, text } => {
                    tracing::info!(alert = %name, "alert resolved: {text}");
                    let level = {
                        let mut raised = alerts.lock().unwrap_or_else(|p| p.into_inner());
                        let level = raised
                            .iter()
                            .find(|a| a.alert == name)
                            .map_or_else(|| "warning".to_string(), |a| a.level.clone());
                        raised.retain(|a| a.alert != name);
                        level
                    };
                    self.notify(AlertEvent {
                        level,
                        text: format!("resolved: {name}: {text}"),
                        alert: name,
                        node_id: self.node_id,
                        details: Default::default(),
                        status: "resolved".into(),
                        at_unix_ms: crate::now_unix_ms(),
                    });
                }
                Decision::RestartSession => remedy = Some(Remedy::RestartSession),
                Decision::StepDown => remedy = Some(Remedy::StepDown),
            }
        }
        remedy
    }

    fn notify(&self, event: AlertEvent) {
        if let Some(n) = &self.notifier {
            n.send(&event);
        }
    }

    /// Free space of the output root and the data dir; a dir that cannot be asked is left out
    /// (an output root not created yet, say).
    fn disks(&self) -> Vec<DiskFree> {
        self.disks
            .iter()
            .filter_map(|(what, path)| {
                let free = fs4::available_space(path).ok()?;
                Some(DiskFree {
                    what,
                    path: path.display().to_string(),
                    free_bytes: free,
                })
            })
            .collect()
    }

    /// Gives queued alerts up to `deadline` to go out.
    pub fn close(mut self, deadline: Duration) {
        if let Some(n) = self.notifier.take() {
            n.close(deadline);
        }
    }
}

fn figures(id: u64, p: &Progress) -> RunFigures {
    let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
    RunFigures {
        id,
        current_scn: load(&p.current_scn),
        read_scn: load(&p.read_scn),
        changes_written: load(&p.changes_written),
        checkpoints: load(&p.checkpoints),
        files_finished: load(&p.files_finished),
        rejected: load(&p.rejected),
        expired_open: load(&p.expired_open),
    }
}
