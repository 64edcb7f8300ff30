//! `GET /metrics`: a node's status and counters in the Prometheus text format (0.0.4), encoded
//! by the Prometheus project's `prometheus-client` crate.
//!
//! Nothing is registered ahead of time: each scrape builds a registry from the node's
//! [`NodeStatus`] (gauges: positions, lag, the planner, Raft) and its [`Totals`] (counters and
//! histograms over all of the process's runs), so the mining path does no metrics work of its
//! own beyond the counters it already keeps. Every name starts with `redoflow_` and carries its
//! unit (`_seconds`, `_bytes`, `_scn`, `_rows`, `_entries`; counters end in `_total`).
//! docs/operations.md lists them all with what they mean and what to do.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::pipeline::{HistogramSnapshot, OPS};
use crate::status::NodeStatus;
use crate::telemetry::Totals;

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type Labels = Vec<(String, String)>;
type GaugeF = Gauge<f64, AtomicU64>;

/// A histogram read from a [`HistogramSnapshot`] at scrape time.
#[derive(Debug)]
struct Histogram(HistogramSnapshot);

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(
            self.0.sum_seconds(),
            self.0.count(),
            &self.0.buckets(),
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

fn scn() -> Unit {
    Unit::Other("scn".into())
}

fn gauge(v: f64) -> ConstGauge<f64> {
    ConstGauge::new(v)
}

fn counter(v: u64) -> ConstCounter<u64> {
    ConstCounter::new(v)
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The metrics text for a node with `status` and `totals`.
pub fn encode(status: &NodeStatus, totals: &Totals) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("redoflow");
    r.register(
        "build",
        "The redoflow version this node runs",
        Info::new(labels(&[("version", &status.version)])),
    );
    register_source(&mut r, status);
    register_checkpoints(&mut r, status, totals);
    register_counters(&mut r, totals);
    register_cluster(&mut r, status);
    let alerts = Family::<Labels, Gauge>::default();
    for a in &status.alerts {
        alerts
            .get_or_create(&labels(&[("alert", &a.alert), ("level", &a.level)]))
            .set(1);
    }
    r.register(
        "alert_raised",
        "1 for each alert raised now on this node, by alert and level",
        alerts,
    );
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &r)?;
    Ok(out)
}

/// Gauges of the source and the planner: only on the node that mines.
fn register_source(r: &mut Registry, status: &NodeStatus) {
    let running = status.source.as_ref().is_some_and(|s| s.running);
    r.register(
        "pipeline_running",
        "1 while this node's pipeline runs (the leader's, or a single node's)",
        gauge(if running { 1.0 } else { 0.0 }),
    );
    let Some(s) = &status.source else { return };
    r.register_with_unit(
        "source_lag",
        "The database's current SCN minus the last SCN mined",
        scn(),
        gauge(s.lag_scn as f64),
    );
    if let Some(lag) = s.lag_seconds {
        r.register_with_unit(
            "source_lag",
            "Now minus the redo time of the last row mined (0 while caught up)",
            Unit::Seconds,
            gauge(lag),
        );
    }
    r.register_with_unit(
        "source_current",
        "The database's current SCN as of the last mining round",
        scn(),
        gauge(s.current_scn as f64),
    );
    r.register_with_unit(
        "source_read",
        "The end of the last window mined",
        scn(),
        gauge(s.read_scn as f64),
    );
    r.register(
        "open_transactions",
        "Transactions begun in the redo and not yet committed or rolled back",
        gauge(s.open_transactions as f64),
    );
    r.register_with_unit(
        "transaction_buffer",
        "Bytes of open transactions' changes held in memory",
        Unit::Bytes,
        gauge(s.buffered_bytes as f64),
    );
    r.register_with_unit(
        "transaction_spill",
        "Bytes of open transactions' changes in spill files",
        Unit::Bytes,
        gauge(s.spilled_bytes as f64),
    );
    r.register_with_unit(
        "planner_batch_target",
        "Rows the planner aims to fetch per mining window",
        Unit::Other("rows".into()),
        gauge(s.batch_target_rows as f64),
    );
    r.register_with_unit(
        "planner_sleep",
        "The planner's pause between mining rounds while caught up",
        Unit::Seconds,
        gauge(s.sleep_ms as f64 / 1000.0),
    );
    r.register_with_unit(
        "planner_window_span",
        "SCNs spanned by the last mining window",
        scn(),
        gauge(s.window_scn_span as f64),
    );
}

fn register_checkpoints(r: &mut Registry, status: &NodeStatus, totals: &Totals) {
    let last = status.last_checkpoint.as_ref();
    r.register(
        "checkpoint_id",
        "Id of the last committed checkpoint this node has applied (0 before the first)",
        gauge(last.map_or(0, |c| c.id) as f64),
    );
    if let Some(c) = last {
        r.register_with_unit(
            "checkpoint_age",
            "Seconds since the last committed checkpoint was created",
            Unit::Seconds,
            gauge(status.unix_ms.saturating_sub(c.created_at_ms) as f64 / 1000.0),
        );
        r.register_with_unit(
            "checkpoint_resume",
            "Where mining resumes after a restart: the last checkpoint's resume SCN",
            scn(),
            gauge(c.resume_scn as f64),
        );
    }
    r.register_with_unit(
        "checkpoint_duration",
        "Time a checkpoint committed by this node took: prepare, commit, finish",
        Unit::Seconds,
        Histogram(totals.checkpoint_seconds.clone()),
    );
    r.register(
        "checkpoints",
        "Checkpoints committed by this node",
        counter(totals.checkpoints),
    );
    r.register(
        "files_finished",
        "CSV files finished (renamed to their final names) by this node's checkpoints",
        counter(totals.files_finished),
    );
}

fn register_counters(r: &mut Registry, t: &Totals) {
    let by_table = |counts: &crate::pipeline::TableCounts| {
        let family = Family::<Labels, Counter>::default();
        for (table, ops) in counts {
            for (op, n) in OPS.iter().zip(ops) {
                if *n > 0 {
                    family
                        .get_or_create(&labels(&[("table", table), ("op", op)]))
                        .inc_by(*n);
                }
            }
        }
        family
    };
    r.register(
        "rows_mined",
        "LogMiner rows mined, by table (empty for rows of no table) and operation",
        by_table(&t.rows_mined_by_table),
    );
    r.register(
        "changes_written",
        "Changes written to CSV files, by table and operation",
        by_table(&t.changes_written_by_table),
    );
    let outcomes = Family::<Labels, Counter>::default();
    for (outcome, n) in [
        ("committed", t.txn.committed),
        ("committed_empty", t.txn.committed_empty),
        ("already_written", t.txn.skipped_already_written),
        ("rolled_back", t.txn.rolled_back),
        ("partially_rolled_back", t.txn.partial_rollbacks),
        ("spilled", t.txn.committed_spilled),
        ("expired", t.txn.expired_reported),
        ("dropped", t.txn.expired_dropped),
    ] {
        outcomes
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc_by(n);
    }
    r.register(
        "transactions",
        "Transactions by outcome (partially_rolled_back counts undo rows that removed a change)",
        outcomes,
    );
    r.register_with_unit(
        "redo",
        "SQL_REDO text fetched from the source",
        Unit::Bytes,
        counter(t.redo_bytes),
    );
    r.register("mining_rounds", "Mining windows fetched", counter(t.rounds));
    r.register(
        "parse_errors",
        "Changes whose SQL_REDO could not be parsed",
        counter(t.parse_errors),
    );
    r.register(
        "dead_lettered_rows",
        "Rows written to _rejected/ instead of their table (output.on_parse_error)",
        counter(t.rejected),
    );
    let retries = Family::<Labels, Counter>::default();
    for (class, n) in &t.source_retries {
        retries
            .get_or_create(&labels(&[("class", class)]))
            .inc_by(*n);
    }
    r.register(
        "source_retries",
        "Source errors retried with a new session, by class (ORA-/DPI- code or kind)",
        retries,
    );
    r.register_with_unit(
        "fetch_duration",
        "Time fetching one mining window took (retries included)",
        Unit::Seconds,
        Histogram(t.fetch_seconds.clone()),
    );
}

/// Raft's view: only on the nodes of a cluster.
fn register_cluster(r: &mut Registry, status: &NodeStatus) {
    if status.role == "single" {
        return;
    }
    r.register(
        "raft_term",
        "The Raft term this node is in",
        gauge(status.term as f64),
    );
    r.register(
        "raft_is_leader",
        "1 while this node is the Raft leader",
        gauge(if status.role == "leader" { 1.0 } else { 0.0 }),
    );
    r.register(
        "raft_leader_changes",
        "Changes of the leader this node knows of (an election counts once)",
        counter(status.leader_changes),
    );
    r.register(
        "rpc_auth_failures",
        "Requests refused for a missing or wrong proof of the cluster secret",
        counter(status.auth_failures),
    );
    let contact = Family::<Labels, GaugeF>::default();
    let lag = Family::<Labels, Gauge>::default();
    for m in &status.members {
        let member = labels(&[("member", &m.id.to_string())]);
        if let Some(ms) = m.last_contact_ms {
            contact.get_or_create(&member).set(ms as f64 / 1000.0);
        }
        if let Some(entries) = m.replication_lag {
            lag.get_or_create(&member)
                .set(i64::try_from(entries).unwrap_or(i64::MAX));
        }
    }
    r.register_with_unit(
        "raft_member_last_contact",
        "Seconds since this node last heard from each other member",
        Unit::Seconds,
        contact,
    );
    r.register_with_unit(
        "raft_replication_lag",
        "On the leader: log entries each member is behind",
        Unit::Other("entries".into()),
        lag,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{AlertStatus, CheckpointStatus, MemberStatus, SourceStatus};

    /// `name{labels} value` lines of the text, keyed by what precedes the value.
    fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse::<f64>().unwrap())
            })
            .collect()
    }

    fn leader() -> NodeStatus {
        NodeStatus {
            node_id: 1,
            role: "leader".into(),
            term: 7,
            version: "0.1.0".into(),
            unix_ms: 100_000,
            leader_changes: 3,
            auth_failures: 2,
            members: vec![
                MemberStatus {
                    id: 1,
                    ..Default::default()
                },
                MemberStatus {
                    id: 2,
                    last_contact_ms: Some(250),
                    replication_lag: Some(4),
                    ..Default::default()
                },
            ],
            last_checkpoint: Some(CheckpointStatus {
                id: 42,
                created_at_ms: 97_500,
                resume_scn: 1234,
                ..Default::default()
            }),
            source: Some(SourceStatus {
                running: true,
                current_scn: 1500,
                read_scn: 1400,
                lag_scn: 100,
                lag_seconds: Some(1.5),
                batch_target_rows: 2000,
                sleep_ms: 500,
                buffered_bytes: 4096,
                ..Default::default()
            }),
            alerts: vec![AlertStatus {
                alert: "stall".into(),
                level: "critical".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_leader_exports_its_positions_raft_and_counters_with_units() {
        let mut totals = Totals::default();
        totals
            .rows_mined_by_table
            .insert("HR.EMP".into(), [5, 1, 0, 0, 0, 0, 0, 0, 0]);
        totals
            .changes_written_by_table
            .insert("HR.EMP".into(), [4, 1, 0, 0, 0, 0, 0, 0, 0]);
        totals.txn.committed = 9;
        totals.txn.rolled_back = 1;
        totals.source_retries.insert("ORA-03113".into(), 2);
        totals.checkpoints = 6;
        totals
            .fetch_seconds
            .add(&fetch_snapshot(&[std::time::Duration::from_millis(3)]));
        let text = encode(&leader(), &totals).unwrap();
        let s = samples(&text);
        let want = [
            ("redoflow_checkpoint_id", 42.0),
            ("redoflow_checkpoint_age_seconds", 2.5),
            ("redoflow_checkpoint_resume_scn", 1234.0),
            ("redoflow_source_lag_scn", 100.0),
            ("redoflow_source_lag_seconds", 1.5),
            ("redoflow_source_current_scn", 1500.0),
            ("redoflow_planner_batch_target_rows", 2000.0),
            ("redoflow_planner_sleep_seconds", 0.5),
            ("redoflow_transaction_buffer_bytes", 4096.0),
            ("redoflow_pipeline_running", 1.0),
            ("redoflow_raft_term", 7.0),
            ("redoflow_raft_is_leader", 1.0),
            ("redoflow_raft_leader_changes_total", 3.0),
            ("redoflow_rpc_auth_failures_total", 2.0),
            ("redoflow_checkpoints_total", 6.0),
            (
                "redoflow_raft_member_last_contact_seconds{member=\"2\"}",
                0.25,
            ),
            ("redoflow_raft_replication_lag_entries{member=\"2\"}", 4.0),
            (
                "redoflow_rows_mined_total{table=\"HR.EMP\",op=\"insert\"}",
                5.0,
            ),
            (
                "redoflow_changes_written_total{table=\"HR.EMP\",op=\"update\"}",
                1.0,
            ),
            ("redoflow_transactions_total{outcome=\"committed\"}", 9.0),
            ("redoflow_transactions_total{outcome=\"rolled_back\"}", 1.0),
            ("redoflow_source_retries_total{class=\"ORA-03113\"}", 2.0),
            ("redoflow_fetch_duration_seconds_bucket{le=\"0.005\"}", 1.0),
            ("redoflow_fetch_duration_seconds_count", 1.0),
            (
                "redoflow_alert_raised{alert=\"stall\",level=\"critical\"}",
                1.0,
            ),
            ("redoflow_build_info{version=\"0.1.0\"}", 1.0),
        ];
        for (name, value) in want {
            assert_eq!(s.get(name), Some(&value), "{name} in:\n{text}");
        }
        assert!(
            !s.keys().any(|k| k.contains("member=\"1\"")),
            "the node itself is no peer:\n{text}"
        );
        assert!(
            !s.keys().any(|k| k.contains("op=\"delete\"")),
            "zero counts are left out:\n{text}"
        );
        assert!(text.contains("# TYPE redoflow_fetch_duration_seconds histogram"));
        assert!(text.contains("# TYPE redoflow_rows_mined_total counter"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("redoflow_"), "{line}");
        }
    }

    /// Names in `text` that look like metric names.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("redoflow_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(tail.len());
            let name = tail[..end].trim_end_matches('_');
            // The bare prefix, as prose mentions it.
            if name != "redoflow" {
                names.insert(name.to_string());
            }
            rest = &tail[end..];
        }
        names
    }

    /// docs/operations.md lists every metric a node exports and nothing else, and the Grafana
    /// dashboard reads only exported series.
    #[test]
    fn the_docs_and_the_dashboard_name_exactly_the_exported_metrics() {
        let mut totals = Totals::default();
        totals
            .rows_mined_by_table
            .insert("HR.EMP".into(), [1; OPS.len()]);
        totals
            .changes_written_by_table
            .insert("HR.EMP".into(), [1; OPS.len()]);
        totals.source_retries.insert("ORA-03113".into(), 1);
        let text = encode(&leader(), &totals).unwrap();
        let exported: std::collections::BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect();
        let series: std::collections::BTreeSet<String> = samples(&text)
            .keys()
            .map(|k| k.split('{').next().unwrap().to_string())
            .collect();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let docs = std::fs::read_to_string(root.join("docs/operations.md")).unwrap();
        let documented = names_in(&docs);
        for name in &exported {
            assert!(
                documented.contains(name),
                "{name} is not in docs/operations.md"
            );
        }
        for name in &documented {
            assert!(
                exported.contains(name) || series.contains(name),
                "docs/operations.md names {name}, which no node exports"
            );
        }
        let dashboard =
            std::fs::read_to_string(root.join("deploy/grafana-dashboard.json")).unwrap();
        let used = names_in(&dashboard);
        assert!(used.len() > 20, "{used:?}");
        for name in &used {
            assert!(
                series.contains(name),
                "the dashboard reads {name}, which no node exports"
            );
        }
    }

    fn fetch_snapshot(ds: &[std::time::Duration]) -> HistogramSnapshot {
        let h = crate::pipeline::DurationHistogram::default();
        for d in ds {
            h.observe(*d);
        }
        h.snapshot()
    }

    #[test]
    fn a_follower_has_no_source_gauges_and_a_single_node_no_raft() {
        let follower = NodeStatus {
            role: "follower".into(),
            ..leader()
        };
        let follower = NodeStatus {
            source: None,
            ..follower
        };
        let s = samples(&encode(&follower, &Totals::default()).unwrap());
        assert_eq!(s.get("redoflow_raft_is_leader"), Some(&0.0));
        assert_eq!(s.get("redoflow_pipeline_running"), Some(&0.0));
        assert_eq!(s.get("redoflow_checkpoint_id"), Some(&42.0));
        assert!(!s.contains_key("redoflow_source_lag_scn"));

        let single = NodeStatus {
            role: "single".into(),
            last_checkpoint: None,
            ..leader()
        };
        let s = samples(&encode(&single, &Totals::default()).unwrap());
        assert_eq!(s.get("redoflow_checkpoint_id"), Some(&0.0));
        assert!(s.contains_key("redoflow_source_lag_scn"));
        assert!(!s.keys().any(|k| k.starts_with("redoflow_raft_")));
    }
}
