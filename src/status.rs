//! A node's view of itself and the cluster: what `GET /status` answers and what
//! `redoflow status` prints. The JSON field names are part of the operating interface
//! (SPEC.md §8): `node_id`, `role`, `term`, `leader_id`, `members`, `last_checkpoint`.

use serde::{Deserialize, Serialize};

/// `GET /status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
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
