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

/// What `redoflow status` prints: the cluster as `asked` sees it, each member's own answer
/// (`None`: unreachable), then the leader's source, checkpoints and alerts.
pub fn render_cluster(
    asked_addr: &str,
    asked: &NodeStatus,
    answers: &[(MemberStatus, Option<NodeStatus>)],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let leader = answers
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .filter(|s| s.role == "leader" || s.role == "single")
        .max_by_key(|s| s.term)
        .or((asked.role == "leader" || asked.role == "single").then_some(asked));
    let _ = match (&asked.leader_id, &asked.leader_addr) {
        _ if asked.role == "single" => writeln!(
            out,
            "redoflow single node at {asked_addr} (no cluster), version {}",
            asked.version
        ),
        (Some(id), addr) => writeln!(
            out,
            "redoflow cluster as node {} at {asked_addr} sees it: leader node {id}{}, term {}",
            asked.node_id,
            addr.as_ref().map_or(String::new(), |a| format!(" at {a}")),
            asked.term
        ),
        (None, _) => writeln!(
            out,
            "redoflow cluster as node {} at {asked_addr} sees it: NO LEADER (term {})",
            asked.node_id, asked.term
        ),
    };
    if !answers.is_empty() {
        let _ = writeln!(
            out,
            "\n  {:<4} {:<22} {:<12} {:>5} {:>9} {:>8} {:>10}  ALERTS",
            "NODE", "ADDRESS", "ROLE", "TERM", "CONTACT", "BEHIND", "CHECKPOINT"
        );
    }
    for (m, s) in answers {
        let mark = if leader.is_some_and(|l| l.node_id == m.id) {
            "*"
        } else {
            " "
        };
        let role = match s {
            Some(s) if m.voter => s.role.clone(),
            Some(s) => format!("{} (learner)", s.role),
            None => "unreachable".into(),
        };
        let contact = if m.id == asked.node_id {
            "self".to_string()
        } else {
            m.last_contact_ms.map_or("-".into(), human_ms)
        };
        // Replication lag is the leader's to know.
        let behind = leader
            .and_then(|l| l.members.iter().find(|x| x.id == m.id))
            .and_then(|x| x.replication_lag)
            .map_or("-".into(), |n| n.to_string());
        let (term, checkpoint, alerts) = match s {
            Some(s) => (
                s.term.to_string(),
                s.last_checkpoint
                    .as_ref()
                    .map_or("-".into(), |c| c.id.to_string()),
                if s.alerts.is_empty() {
                    "-".to_string()
                } else {
                    s.alerts
                        .iter()
                        .map(|a| a.alert.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                },
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "{mark} {:<4} {:<22} {:<12} {:>5} {:>9} {:>8} {:>10}  {alerts}",
            m.id, m.addr, role, term, contact, behind, checkpoint
        );
    }
    let Some(l) = leader else {
        return out;
    };
    let who = if l.role == "single" {
        String::new()
    } else {
        format!(" (node {})", l.node_id)
    };
    if let Some(src) = &l.source {
        let _ = writeln!(
            out,
            "\nsource{who}: {}, current SCN {}, read SCN {}, resume SCN {}",
            if src.running { "mining" } else { "stopped" },
            src.current_scn,
            src.read_scn,
            src.resume_scn
        );
        let _ = writeln!(
            out,
            "  lag           {} SCN, {}",
            src.lag_scn,
            src.lag_seconds
                .map_or("no redo time yet".into(), |s| format!("{s:.1} s"))
        );
        let _ = writeln!(
            out,
            "  throughput    {:.0} rows/s, {:.0} changes/s over 10 s; {:.0} rows/s, {:.0} changes/s over 1 min",
            src.rows_per_second_10s,
            src.changes_per_second_10s,
            src.rows_per_second_1m,
            src.changes_per_second_1m
        );
        let _ = writeln!(
            out,
            "  transactions  {} open, {} in memory, {} spilled",
            src.open_transactions,
            human_bytes(src.buffered_bytes),
            human_bytes(src.spilled_bytes)
        );
        let _ = writeln!(
            out,
            "  planner       {} rows per window, sleep {}, last window {} SCNs",
            src.batch_target_rows,
            human_ms(src.sleep_ms),
            src.window_scn_span
        );
    }
    if !l.checkpoints.is_empty() {
        let _ = writeln!(
            out,
            "\nlast checkpoints{who}:\n  {:>8} {:>5} {:>9} {:>9} {:>6} {:>9}  RESUME SCN",
            "ID", "TERM", "AGE", "TOOK", "FILES", "ROWS"
        );
        for c in l.checkpoints.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:>8} {:>5} {:>9} {:>9} {:>6} {:>9}  {}",
                c.id,
                c.term,
                human_ms(c.age_ms),
                c.duration_ms.map_or("-".into(), human_ms),
                c.files,
                c.rows,
                c.resume_scn
            );
        }
    }
    let alerts: Vec<&AlertStatus> = answers
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .chain((answers.is_empty()).then_some(asked))
        .flat_map(|s| s.alerts.iter())
        .collect();
    if !alerts.is_empty() {
        let _ = writeln!(out, "\nalerts:");
        for a in alerts {
            let _ = writeln!(out, "  {:<8} {:<16} {}", a.level, a.alert, a.text);
        }
    }
    if let Some(e) = answers
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .find_map(|s| s.error.as_ref().map(|e| (s.node_id, e)))
    {
        let _ = writeln!(out, "\nlast pipeline error on node {}: {}", e.0, e.1);
    }
    out
}

/// `350 ms`, `4.2 s`, `3.0 min`, `2.5 h`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1e3),
        60_000..=3_599_999 => format!("{:.1} min", ms as f64 / 6e4),
        _ => format!("{:.1} h", ms as f64 / 3.6e6),
    }
}

/// `512 B`, `41.9 KiB`, `3.0 MiB`, `1.2 GiB`.
pub fn human_bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K {
        format!("{b} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / K / K)
    } else {
        format!("{:.1} GiB", f / K / K / K)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, contact: Option<u64>, lag: Option<u64>) -> MemberStatus {
        MemberStatus {
            id,
            addr: format!("10.0.0.{id}:7101"),
            voter: true,
            last_contact_ms: contact,
            replication_lag: lag,
        }
    }

    fn node(id: u64, role: &str) -> NodeStatus {
        NodeStatus {
            node_id: id,
            role: role.into(),
            term: 5,
            leader_id: Some(2),
            leader_addr: Some("10.0.0.2:7101".into()),
            last_checkpoint: Some(CheckpointStatus {
                id: 42,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_table_marks_the_leader_and_shows_each_members_view() {
        let mut leader = node(2, "leader");
        leader.members = vec![
            member(1, Some(40), Some(0)),
            member(2, None, None),
            member(3, Some(4000), Some(12)),
        ];
        leader.source = Some(SourceStatus {
            running: true,
            current_scn: 1500,
            read_scn: 1400,
            lag_scn: 100,
            lag_seconds: Some(1.5),
            rows_per_second_10s: 3010.4,
            buffered_bytes: 42_919,
            batch_target_rows: 4000,
            sleep_ms: 750,
            ..Default::default()
        });
        leader.checkpoints = vec![CheckpointSummary {
            id: 42,
            term: 5,
            age_ms: 1120,
            duration_ms: Some(152),
            files: 4,
            rows: 4276,
            ..Default::default()
        }];
        leader.alerts = vec![AlertStatus {
            alert: "stall".into(),
            level: "critical".into(),
            text: "no checkpoint for 5 min".into(),
            since_unix_ms: 0,
        }];
        let asked = node(1, "follower");
        let answers = vec![
            (member(1, None, None), Some(asked.clone())),
            (member(2, Some(35), None), Some(leader)),
            (member(3, Some(38), None), None),
        ];
        let text = render_cluster("10.0.0.1:7101", &asked, &answers);
        assert!(
            text.contains(
                "as node 1 at 10.0.0.1:7101 sees it: leader node 2 at 10.0.0.2:7101, term 5"
            ),
            "{text}"
        );
        let row = |id: &str| {
            text.lines()
                .find(|l| l.get(2..).is_some_and(|r| r.starts_with(id)))
                .unwrap_or_else(|| panic!("no row for {id}:\n{text}"))
                .to_string()
        };
        assert!(row("1 ").contains("self"), "{text}");
        assert!(row("2 ").starts_with('*'), "{text}");
        assert!(
            row("2 ").contains("leader") && row("2 ").contains("35 ms"),
            "{text}"
        );
        assert!(row("2 ").contains("stall"), "{text}");
        assert!(row("3 ").contains("unreachable"), "{text}");
        assert!(
            row("3 ").contains(" 12 "),
            "the leader's replication lag: {text}"
        );
        assert!(text.contains("lag           100 SCN, 1.5 s"), "{text}");
        assert!(text.contains("3010 rows/s"), "{text}");
        assert!(text.contains("41.9 KiB in memory"), "{text}");
        assert!(text.contains("sleep 750 ms"), "{text}");
        assert!(text.contains("1.1 s") && text.contains("152 ms"), "{text}");
        assert!(
            text.contains("critical stall            no checkpoint for 5 min"),
            "{text}"
        );
    }

    #[test]
    fn without_a_leader_the_table_says_so() {
        let mut asked = node(1, "candidate");
        asked.leader_id = None;
        asked.leader_addr = None;
        let answers = vec![(member(1, None, None), Some(asked.clone()))];
        let text = render_cluster("x:1", &asked, &answers);
        assert!(text.contains("NO LEADER (term 5)"), "{text}");
        assert!(!text.contains("source"), "{text}");
    }

    #[test]
    fn old_nodes_answers_still_read() {
        let old = r#"{"node_id":1,"role":"follower","term":3,"leader_id":2,"leader_addr":null,
            "members":[{"id":1,"addr":"a:1","voter":true,"last_contact_ms":null}],
            "last_checkpoint":null,"leadership":null,"pipeline":null,"auth_failures":0,
            "error":null}"#;
        let s: NodeStatus = serde_json::from_str(old).unwrap();
        assert_eq!(s.members[0].replication_lag, None);
        assert!(s.checkpoints.is_empty() && s.source.is_none());
    }

    #[test]
    fn human_units() {
        assert_eq!(human_ms(350), "350 ms");
        assert_eq!(human_ms(4200), "4.2 s");
        assert_eq!(human_ms(180_000), "3.0 min");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
