//! A node's view of itself and the cluster: what `GET /status` answers and what
//! `redoflow status` prints. The JSON field names are part of the operating interface
//! (SPEC.md §8): `node_id`, `role`, `term`, `leader_id`, `members`, `last_checkpoint`.
//! Fields added later carry `#[serde(default)]`, so a newer `redoflow status` reads an older
//! node's answer and the other way round.

use serde::{Deserialize, Serialize};

/// `GET /status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// This node's id (0 for a single node).
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`; `single` for a node without
    /// a cluster (`redoflow run`).
    pub role: String,
    pub term: u64,
    /// `null` while no leader is known.
    pub leader_id: Option<u64>,
    pub leader_addr: Option<String>,
    pub members: Vec<MemberStatus>,
    /// The last checkpoint this node has applied.
    pub last_checkpoint: Option<CheckpointStatus>,
    /// While this node leads: when it became leader and how far its pipeline got.
    pub leadership: Option<LeadershipStatus>,
    /// The pipeline's counters while this node mines.
    pub pipeline: Option<PipelineStatus>,
    /// Requests refused for a missing or wrong proof of the cluster secret.
    pub auth_failures: u64,
    /// The last error that stopped this node's pipeline, if it has not run cleanly since.
    pub error: Option<String>,
    /// Alerts currently raised on this node (cleared ones are not listed).
    #[serde(default)]
    pub alerts: Vec<AlertStatus>,
    /// The redoflow version this node runs.
    #[serde(default)]
    pub version: String,
    /// This node's clock when it answered (ms since 1970): ages on the page are relative to it.
    #[serde(default)]
    pub unix_ms: u64,
    /// How often the leader this node knows of changed since it started.
    #[serde(default)]
    pub leader_changes: u64,
    /// The source as this node mines it: while it leads (or runs alone), else `null`.
    #[serde(default)]
    pub source: Option<SourceStatus>,
    /// The last committed checkpoints (at most 20), newest first.
    #[serde(default)]
    pub checkpoints: Vec<CheckpointSummary>,
    /// The files of the newest checkpoints (at most 20), newest first.
    #[serde(default)]
    pub recent_files: Vec<FileStatus>,
    /// Rows mined and changes written per second by this node, every 5 s over the last
    /// 5 minutes, oldest first (the page's sparkline).
    #[serde(default)]
    pub throughput: Vec<ThroughputPoint>,
}

/// The source's position and the pipeline's pace on the node that mines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// Whether the pipeline is running now.
    pub running: bool,
    /// The database's current SCN, as of the last mining round.
    pub current_scn: u64,
    /// The end of the last window mined.
    pub read_scn: u64,
    /// Where a restart resumes: the last committed checkpoint's resume SCN (0 before one).
    pub resume_scn: u64,
    /// `current_scn - read_scn`.
    pub lag_scn: u64,
    /// Now minus the redo time (TIMESTAMP, read as UTC) of the last row mined; 0 while caught
    /// up (the last window reached the current SCN); `null` before a row with a time.
    pub lag_seconds: Option<f64>,
    /// The redo time of the last row mined (ms since 1970).
    pub last_redo_unix_ms: Option<u64>,
    pub rows_per_second_10s: f64,
    pub rows_per_second_1m: f64,
    pub changes_per_second_10s: f64,
    pub changes_per_second_1m: f64,
    /// Transactions begun and not yet committed or rolled back.
    pub open_transactions: u64,
    /// Their changes' bytes in memory, and in spill files.
    pub buffered_bytes: u64,
    pub spilled_bytes: u64,
    /// The planner's target rows per window, its current sleep between rounds, and the SCN
    /// span of the last window.
    pub batch_target_rows: u64,
    pub sleep_ms: u64,
    pub window_scn_span: u64,
}

/// One committed checkpoint in the status's list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSummary {
    pub id: u64,
    pub term: u64,
    pub resume_scn: u64,
    pub created_at_ms: u64,
    /// Milliseconds between its creation and this answer.
    pub age_ms: u64,
    /// How long it took (prepare, commit, finish), where this node committed it.
    pub duration_ms: Option<u64>,
    pub files: u64,
    pub rows: u64,
}

/// A finished file of a recent checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStatus {
    pub checkpoint_id: u64,
    /// `OWNER.TABLE`, or `_rejected`.
    pub table: String,
    /// Its path under the output root.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// Throughput over one interval ending at `unix_ms`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    pub unix_ms: u64,
    pub rows_per_second: f64,
    pub changes_per_second: f64,
}

/// One raised alert, as `/status` lists it and a webhook receives it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertStatus {
    /// A stable name (`stall`, `leader_change`, `source_error`, ...).
    pub alert: String,
    /// `warning` or `critical`.
    pub level: String,
    /// One human line.
    pub text: String,
    /// When it was raised (ms since 1970).
    pub since_unix_ms: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: u64,
    pub addr: String,
    /// A voter (else a learner catching up).
    pub voter: bool,
    /// Milliseconds since this node last heard from that member (`null`: never, or itself).
    pub last_contact_ms: Option<u64>,
    /// On the leader: log entries the member is behind the leader's log (`null` elsewhere,
    /// for the leader itself, and before the leader knows the member's log).
    #[serde(default)]
    pub replication_lag: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointStatus {
    pub id: u64,
    pub term: u64,
    pub resume_scn: u64,
    pub created_at_ms: u64,
    /// Files the checkpoint finished, and their rows.
    pub files: u64,
    pub rows: u64,
}

/// Wall-clock times (ms since 1970) of a leadership's steps, for failover timing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadershipStatus {
    pub term: u64,
    /// When this node saw itself elected.
    pub since_unix_ms: u64,
    /// When its pipeline started mining: everything of earlier terms applied, the output
    /// recovered.
    pub pipeline_started_unix_ms: Option<u64>,
    /// When its first window was mined.
    pub first_window_unix_ms: Option<u64>,
    /// When its first checkpoint was committed.
    pub first_checkpoint_unix_ms: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineStatus {
    pub running: bool,
    pub rounds: u64,
    pub rows_read: u64,
    pub transactions: u64,
    pub changes_written: u64,
    pub read_scn: u64,
    pub current_scn: u64,
    pub checkpoints: u64,
}
