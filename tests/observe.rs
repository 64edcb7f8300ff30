//! The operating surface of the real binary: `/metrics` and `/status` of a running three-node
//! cluster (`redoflow node` × 3 on loopback), `redoflow status` against it, and the same
//! endpoints on a single node (`redoflow run` with `[http] listen`).
//!
//! Waits are bounded; nothing asserts how fast anything happened.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redoflow::demo::{free_ports, ClusterSpec, LocalCluster};
use redoflow::http::get_bytes;
use redoflow::status::NodeStatus;

const BIN: &str = env!("CARGO_BIN_EXE_redoflow");
const PATIENCE: Duration = Duration::from_secs(30);

fn spec(dir: &std::path::Path) -> ClusterSpec {
    let mut spec = ClusterSpec::new(dir.join("cluster"));
    spec.rate = 2000.0;
    spec.checkpoint_interval = Duration::from_millis(300);
    spec.extra_toml =
        "[mining]\nsleep_min = \"100ms\"\nsleep_default = \"100ms\"\nsleep_max = \"200ms\"\n"
            .into();
    spec
}

/// `GET http://addr{path}`: status code and body as text.
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(get_bytes(addr, path, Duration::from_secs(2)))
        .ok()
        .map(|(code, body)| (code, String::from_utf8(body).unwrap()))
}

/// A Prometheus text page as `name{labels}` → value (comments left out).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample line: {l:?}"));
            let value = value
                .parse::<f64>()
                .unwrap_or_else(|e| panic!("{l:?}: {e}"));
            (key.to_string(), value)
        })
        .collect()
}

fn scrape(addr: &str) -> Option<BTreeMap<String, f64>> {
    match get(addr, "/metrics")? {
        (200, text) => Some(samples(&text)),
        (code, text) => panic!("/metrics answered {code}: {text}"),
    }
}

/// Polls until `check` returns `Some`, or fails naming `what`.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_three_node_cluster_exports_the_leaders_lag_and_advancing_checkpoint_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    let leader = cluster.wait_leader(0, PATIENCE).unwrap();
    let addr_of = |id: u64| {
        cluster
            .nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap()
            .addr
            .clone()
    };
    let leader_addr = addr_of(leader.node_id);

    // The leader mines: its lag and position are there, and its checkpoint id moves on.
    let first = eventually("the leader's metrics with a committed checkpoint", || {
        let m = scrape(&leader_addr)?;
        (m.get("redoflow_checkpoint_id").copied().unwrap_or(0.0) >= 1.0
            && m.contains_key("redoflow_source_lag_scn")
            && m.contains_key("redoflow_source_lag_seconds"))
        .then_some(m)
    });
    assert_eq!(first["redoflow_raft_is_leader"], 1.0, "{first:?}");
    assert_eq!(first["redoflow_pipeline_running"], 1.0);
    assert!(first["redoflow_raft_term"] >= 1.0);
    assert!(first["redoflow_source_lag_scn"] >= 0.0);
    assert!(first["redoflow_source_current_scn"] >= first["redoflow_source_read_scn"]);
    let followers: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|id| *id != leader.node_id)
        .collect();
    for f in &followers {
        eventually(&format!("the leader's last contact with node {f}"), || {
            let m = scrape(&leader_addr)?;
            m.contains_key(&format!(
                "redoflow_raft_member_last_contact_seconds{{member=\"{f}\"}}"
            ))
            .then_some(())
        });
    }
    let later = eventually("the checkpoint id and the read SCN advancing", || {
        let m = scrape(&leader_addr)?;
        (m["redoflow_checkpoint_id"] >= first["redoflow_checkpoint_id"] + 3.0
            && m["redoflow_source_read_scn"] > first["redoflow_source_read_scn"])
            .then_some(m)
    });
    let mined = |m: &BTreeMap<String, f64>, prefix: &str| -> f64 {
        m.iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert!(
        mined(&later, "redoflow_rows_mined_total{") > mined(&first, "redoflow_rows_mined_total{"),
        "rows mined by table and op grow"
    );
    assert!(mined(&later, "redoflow_changes_written_total{") > 0.0);
    assert!(later["redoflow_checkpoints_total"] >= 3.0);
    assert!(later["redoflow_files_finished_total"] >= 1.0);
    assert!(later["redoflow_checkpoint_duration_seconds_count"] >= 3.0);
    assert!(later["redoflow_fetch_duration_seconds_count"] >= 1.0);
    assert!(later["redoflow_transactions_total{outcome=\"committed\"}"] > 0.0);

    // Followers export the checkpoint they applied, and no source gauges: they do not mine.
    for f in &followers {
        let m = eventually(
            &format!(
                "node {f} applying checkpoint {}",
                later["redoflow_checkpoint_id"]
            ),
            || {
                let m = scrape(&addr_of(*f))?;
                (m["redoflow_checkpoint_id"] >= later["redoflow_checkpoint_id"]).then_some(m)
            },
        );
        assert_eq!(m["redoflow_raft_is_leader"], 0.0);
        assert_eq!(m["redoflow_pipeline_running"], 0.0);
        assert!(!m.contains_key("redoflow_source_lag_scn"), "{m:?}");
        assert!(m["redoflow_raft_leader_changes_total"] >= 1.0);
    }

    // /status has the same picture, with members' contact and the checkpoint list.
    let status: NodeStatus = eventually("the leader's status lists its checkpoints", || {
        let (code, body) = get(&leader_addr, "/status")?;
        assert_eq!(code, 200);
        let s: NodeStatus = serde_json::from_str(&body).unwrap();
        (s.checkpoints.len() >= 3 && !s.throughput.is_empty()).then_some(s)
    });
    let source = status.source.as_ref().expect("the leader's source");
    assert!(source.running);
    assert!(source.batch_target_rows > 0);
    assert!(status.checkpoints.windows(2).all(|w| w[0].id > w[1].id));
    assert!(status.checkpoints[0].duration_ms.is_some());
    assert!(!status.recent_files.is_empty());
    let contacts: Vec<u64> = status
        .members
        .iter()
        .filter(|m| m.last_contact_ms.is_some())
        .map(|m| m.id)
        .collect();
    assert_eq!(contacts, followers, "{:?}", status.members);

    // `redoflow status` asked at a follower draws the cluster with the leader marked.
    let out = Command::new(BIN)
        .args(["status", "--node", &addr_of(followers[0])])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("leader node {} at {leader_addr}", leader.node_id)),
        "{text}"
    );
    let leader_row = text
        .lines()
        .find(|l| l.starts_with('*'))
        .unwrap_or_else(|| panic!("no leader row:\n{text}"));
    assert!(
        leader_row.contains(&leader_addr) && leader_row.contains("leader"),
        "{text}"
    );
    assert!(
        text.contains(&format!("source (node {})", leader.node_id)),
        "{text}"
    );
    assert!(text.contains("last checkpoints"), "{text}");
    cluster.check_alive().unwrap();
}

#[test]
fn a_single_node_serves_status_metrics_and_the_page_on_http_listen() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_ports(1).unwrap()[0];
    let addr = format!("127.0.0.1:{port}");
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            "[source.sim]\nrate = 2000.0\n[output]\ndir = {:?}\n[checkpoint]\ninterval = \"300ms\"\n\
             [mining]\nsleep_min = \"100ms\"\nsleep_default = \"100ms\"\nsleep_max = \"200ms\"\n\
             [http]\nlisten = \"{addr}\"\n",
            dir.path().join("out").display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--quiet", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status: NodeStatus = eventually("the single node's status with a checkpoint", || {
        assert!(child.try_wait().unwrap().is_none(), "redoflow run exited");
        let (_, body) = get(&addr, "/status")?;
        let s: NodeStatus = serde_json::from_str(&body).unwrap();
        (s.last_checkpoint.is_some()).then_some(s)
    });
    assert_eq!(status.role, "single");
    assert!(status.members.is_empty());
    assert!(status.source.as_ref().is_some_and(|s| s.running));
    let m = eventually("the checkpoint id advancing in /metrics", || {
        let m = scrape(&addr)?;
        (m["redoflow_checkpoint_id"] >= status.last_checkpoint.as_ref().unwrap().id as f64 + 2.0)
            .then_some(m)
    });
    assert!(m.contains_key("redoflow_source_lag_scn"));
    assert!(
        !m.keys().any(|k| k.starts_with("redoflow_raft_")),
        "no Raft on a single node: {m:?}"
    );
    let (code, page) = get(&addr, "/").unwrap();
    assert_eq!(code, 200);
    assert!(page.contains("<title>redoflow</title>") && page.contains("fetch(\"/status\""));
    assert!(
        !page.contains("<link") && !page.contains(" src="),
        "the page loads nothing else"
    );
    let text = Command::new(BIN)
        .args(["status", "--node", &addr])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("single node"), "{text}");
    assert!(text.contains("source: mining"), "{text}");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "redoflow run did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
