//! Three cluster nodes in one process on one simulated database, through a fault-injecting
//! network: the leader isolated, one link cut, one-way loss, delay, healed. After every
//! scenario the cluster must go on committing, and at the end the finished output must be
//! exactly the simulator's truth, with checkpoint ids that only grow, every checkpoint's files
//! written in the term that committed it (no file finished by two terms, nothing of a deposed
//! leader finished after it was deposed).

use std::path::Path;
use std::time::{Duration, Instant};

use redoflow::checkpoint::NodeId;
use redoflow::config::Config;
use redoflow::demo::free_ports;
use redoflow::node::{Node, NodeOptions};
use redoflow::raft::Faults;
use redoflow::status::NodeStatus;
use redoflow::StopToken;

struct Cluster {
    nodes: Vec<(Node, StopToken)>,
    configs: Vec<Config>,
    faults: Faults,
}

fn config(dir: &Path, id: u64, ports: &[u16], start_unix_ms: u64) -> Config {
    let mut members = String::new();
    for (i, port) in ports.iter().enumerate() {
        members += &format!(
            "[[cluster.members]]\nid = {}\naddr = \"127.0.0.1:{port}\"\n",
            i + 1
        );
    }
    let text = format!(
        "[source.sim]\nseed = 11\nrate = 3000.0\nstart_unix_ms = {start_unix_ms}\n\
         [output]\ndir = {out:?}\nfsync = false\nmax_file_bytes = \"64KiB\"\n\
         [checkpoint]\ninterval = \"200ms\"\ntimeout = \"5s\"\n\
         [cluster]\nnode_id = {id}\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {data:?}\n\
         secret_env = \"REDOFLOW_TEST_SECRET\"\nelection_timeout = \"400ms\"\n\
         heartbeat_interval = \"100ms\"\nrestart_delay = \"200ms\"\n{members}",
        out = dir.join("out").display().to_string(),
        port = ports[id as usize - 1],
        data = dir.join(format!("node{id}")).display().to_string(),
    );
    toml::from_str(&text).unwrap()
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        std::env::set_var("REDOFLOW_TEST_SECRET", "an in-process test secret");
        let ports = free_ports(3).unwrap();
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let faults = Faults::new();
        let configs: Vec<Config> = (1..=3).map(|id| config(dir, id, &ports, start)).collect();
        let nodes = configs
            .iter()
            .map(|c| {
                let stop = StopToken::new();
                let options = NodeOptions {
                    faults: Some(faults.clone()),
                    ..NodeOptions::default()
                };
                (Node::start(c, options, &stop).unwrap(), stop)
            })
            .collect();
        Cluster {
            nodes,
            configs,
            faults,
        }
    }

    fn statuses(&self) -> Vec<NodeStatus> {
        self.nodes.iter().map(|(n, _)| n.status()).collect()
    }

    /// The node that leads with a mining run, in a term above `after`, seen from a majority's
    /// side: it must be the leader in its own eyes and have a pipeline.
    fn wait_leader(&self, after: u64, timeout: Duration) -> NodeStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let leader = self
                .statuses()
                .into_iter()
                .filter(|s| s.role == "leader" && s.term > after && s.pipeline.is_some())
                .max_by_key(|s| s.term);
            if let Some(l) = leader {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no leader after term {after}: {:#?}",
                self.statuses()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `n` more checkpoints are committed (seen by a majority's applied state).
    fn wait_checkpoints(&self, n: u64, timeout: Duration) -> u64 {
        let best = || {
            self.statuses()
                .iter()
                .filter_map(|s| s.last_checkpoint.as_ref().map(|c| c.id))
                .max()
                .unwrap_or(0)
        };
        let target = best() + n;
        let deadline = Instant::now() + timeout;
        while best() < target {
            assert!(
                Instant::now() < deadline,
                "checkpoint {target} not committed in {timeout:?}: {:#?}",
                self.statuses()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        best()
    }

    fn index_of(&self, id: u64) -> usize {
        id as usize - 1
    }

    /// Stops every node, the leader first (it takes its final checkpoint while a majority
    /// still runs).
    fn stop(self) {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        if let Some(l) = self.statuses().iter().find(|s| s.role == "leader") {
            let i = self.index_of(l.node_id);
            order.retain(|&x| x != i);
            order.insert(0, i);
        }
        let mut nodes: Vec<Option<(Node, StopToken)>> = self.nodes.into_iter().map(Some).collect();
        for i in order {
            if let Some((node, stop)) = nodes[i].take() {
                stop.stop();
                node.join().unwrap();
            }
        }
    }
}

/// The replicated history: ids consecutive, terms never going back, and each checkpoint's
/// files written in its own term (their in-progress names carry it).
fn check_history(node: &Node) -> usize {
    let state = node.raft().state();
    let history: Vec<_> = state.checkpoints.iter().collect();
    for pair in history.windows(2) {
        assert_eq!(
            pair[1].id.0,
            pair[0].id.0 + 1,
            "checkpoint ids must be consecutive"
        );
        assert!(
            pair[1].term >= pair[0].term,
            "a checkpoint of an older term after a newer one"
        );
    }
    for cp in &history {
        for f in &cp.files {
            let suffix = format!("-t{}.csv.inprogress", cp.term);
            assert!(
                f.inprogress_path.ends_with(&suffix),
                "checkpoint {} of term {} finished {}, written in another term",
                cp.id,
                cp.term,
                f.inprogress_path
            );
        }
    }
    history.len()
}

#[test]
fn three_nodes_through_partitions_lose_and_duplicate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path());
    let first = cluster.wait_leader(0, Duration::from_secs(20));
    cluster.wait_checkpoints(3, Duration::from_secs(20));

    // 1. The leader isolated: the other two elect a new leader, which goes on committing; the
    //    old one loses its lease and stops mining.
    let old = NodeId(first.node_id);
    cluster.faults.isolate(old);
    let second = cluster.wait_leader(first.term, Duration::from_secs(20));
    assert_ne!(second.node_id, first.node_id);
    cluster.wait_checkpoints(3, Duration::from_secs(20));
    let deposed = cluster.nodes[cluster.index_of(first.node_id)].0.status();
    assert!(
        deposed.pipeline.is_none() || deposed.role != "leader",
        "the isolated leader still mines: {deposed:#?}"
    );
    cluster.faults.heal();
    cluster.wait_checkpoints(2, Duration::from_secs(20));

    // 2. One link cut between the leader and a follower: the leader keeps its majority through
    //    the other follower; the cut follower catches up after the heal.
    let leader = cluster.wait_leader(0, Duration::from_secs(20));
    let follower = (1..=3).find(|id| *id != leader.node_id).unwrap();
    cluster.faults.cut(NodeId(leader.node_id), NodeId(follower));
    cluster.wait_checkpoints(3, Duration::from_secs(20));
    cluster.faults.heal();

    // 3. One-way loss: the leader's requests to a follower are lost, the follower's reach the
    //    leader. The follower hears no heartbeat and calls elections; the cluster must settle
    //    and go on.
    let leader = cluster.wait_leader(0, Duration::from_secs(20));
    let follower = (1..=3).find(|id| *id != leader.node_id).unwrap();
    cluster
        .faults
        .drop_one_way(NodeId(leader.node_id), NodeId(follower));
    cluster.wait_checkpoints(3, Duration::from_secs(30));
    cluster.faults.heal();

    // 4. A slow link (80 ms each way on one pair): still committing.
    let leader = cluster.wait_leader(0, Duration::from_secs(20));
    let follower = (1..=3).find(|id| *id != leader.node_id).unwrap();
    cluster.faults.delay(
        NodeId(leader.node_id),
        NodeId(follower),
        Duration::from_millis(80),
    );
    cluster.faults.delay(
        NodeId(follower),
        NodeId(leader.node_id),
        Duration::from_millis(80),
    );
    cluster.wait_checkpoints(3, Duration::from_secs(20));
    cluster.faults.heal();
    cluster.wait_checkpoints(2, Duration::from_secs(20));

    let leader = cluster.wait_leader(0, Duration::from_secs(20));
    let checked = check_history(&cluster.nodes[cluster.index_of(leader.node_id)].0);
    assert!(checked >= 15, "{checked} checkpoints in the history");
    let sim = cluster.configs[0].source.sim.clone();
    let marker = cluster.configs[0].output.missing_marker.clone();
    cluster.stop();

    let out = dir.path().join("out");
    let report = redoflow::truth::compare_with_sim(&out, &sim, &marker).unwrap();
    assert!(report.is_exact(), "{report}");
    assert!(report.expected_rows > 1000, "{report}");
    let verify = redoflow::sink_csv::verify(&out).unwrap();
    assert!(verify.is_ok(), "{verify}");
}
