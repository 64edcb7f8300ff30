//! The real binary as a three-node cluster (`redoflow node`, three processes on loopback
//! ports, one simulated Oracle, one shared output): leaders SIGKILLed mid-stream and at the
//! checkpoint protocol's crash points, two of three stopped, a node rebuilt from nothing —
//! every test ends with every finished row checked against the simulator's ground truth.

use std::time::{Duration, Instant};

use redoflow::demo::{free_ports, ClusterSpec, Failover, LocalCluster};

const BIN: &str = env!("CARGO_BIN_EXE_redoflow");

fn spec(dir: &std::path::Path) -> ClusterSpec {
    let mut spec = ClusterSpec::new(dir.join("cluster"));
    spec.rate = 2000.0;
    spec.checkpoint_interval = Duration::from_millis(300);
    spec.extra_toml =
        "[mining]\nsleep_min = \"100ms\"\nsleep_default = \"100ms\"\nsleep_max = \"200ms\"\n"
            .into();
    spec
}

/// Stops every node (the leader first, so its final checkpoint meets a majority) and checks
/// the output: exactly the truth, and manifests matching their files.
fn finish(mut cluster: LocalCluster) {
    let leader = cluster.leader().map(|l| l.node_id);
    let mut order: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    // The leader first, so its final checkpoint meets a majority.
    order.sort_by_key(|id| Some(*id) != leader);
    for id in order {
        let status = cluster.terminate(id, Duration::from_secs(30)).unwrap();
        assert!(
            status.is_none_or(|s| s.success()),
            "node {id} did not stop cleanly: {status:?}; see its log"
        );
    }
    let (truth, verify) = cluster.check().unwrap();
    assert!(truth.is_exact(), "{truth}");
    assert!(truth.expected_rows > 500, "{truth}");
    assert!(verify.is_ok(), "{verify}");
    assert!(
        verify.problems.is_empty(),
        "in-progress files left after a clean stop: {verify}"
    );
}

#[test]
fn the_leader_killed_mid_stream_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    cluster.wait_checkpoint(3, Duration::from_secs(30)).unwrap();
    let f = Failover::measure(&mut cluster, Duration::from_secs(30)).unwrap();
    assert_ne!(f.killed, f.new_leader);
    assert!(f.first_window <= f.first_checkpoint, "{f:?}");
    cluster.start_node(f.killed).unwrap();
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 3, Duration::from_secs(30))
        .unwrap();
    finish(cluster);
}

/// Leaders die at several moments of one run: SIGKILLs at random times, and exits at the
/// checkpoint protocol's crash points (failpoints: between fsync and commit, and between
/// commit and rename). Each dead node is restarted; the output stays exact.
#[test]
fn leaders_killed_at_random_moments_and_at_the_commit_protocol_crash_points() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = spec(dir.path());
    // Each node dies at its own crash point once it has led long enough.
    spec.env = vec![
        (1, "REDOFLOW_FAILPOINTS".into(), "after-commit@4".into()),
        (2, "REDOFLOW_FAILPOINTS".into(), "after-prepare@3".into()),
        (3, "REDOFLOW_FAILPOINTS".into(), "after-commit@2".into()),
    ];
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec).unwrap();
    let mut seed = Instant::now().elapsed().as_nanos() as u64 | 1;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut failpoint_exits = 0;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    while (failpoint_exits < 2 || kills < 3) && Instant::now() < deadline {
        // A leader that passed its failpoint exited with code 86. Another node takes over
        // before it is restarted without one (restarted at once, it would find its own vote
        // and lead on in its term).
        let term = cluster.leader().map_or(0, |l| l.term);
        let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
        for id in ids {
            if let Some(status) = cluster.exited(id) {
                assert_eq!(
                    status.code(),
                    Some(redoflow::failpoint::EXIT_CODE),
                    "node {id} exited for another reason; see its log"
                );
                failpoint_exits += 1;
                cluster.wait_leader(term, Duration::from_secs(30)).unwrap();
                cluster.spec.env.retain(|(n, _, _)| *n != id);
                cluster.start_node(id).unwrap();
            }
        }
        if failpoint_exits >= 2 && kills < 3 {
            // A SIGKILL of the leader at a random moment between checkpoints.
            std::thread::sleep(Duration::from_millis(random(600)));
            if let Some(l) = cluster.leader() {
                cluster.kill(l.node_id).unwrap();
                kills += 1;
                cluster
                    .wait_leader(l.term, Duration::from_secs(30))
                    .unwrap();
                cluster.start_node(l.node_id).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        failpoint_exits >= 2,
        "only {failpoint_exits} failpoint exits"
    );
    assert_eq!(kills, 3);
    // A node whose failpoint has not fired yet could hit it in the final checkpoint of the
    // clean stop below: it is restarted without it.
    let armed: Vec<u64> = cluster.spec.env.iter().map(|(n, _, _)| *n).collect();
    cluster.spec.env.clear();
    for id in armed {
        let term = cluster.leader().map_or(0, |l| l.term);
        let led = cluster.leader().is_some_and(|l| l.node_id == id);
        match cluster.exited(id) {
            Some(status) => assert_eq!(status.code(), Some(redoflow::failpoint::EXIT_CODE)),
            None => cluster.kill(id).unwrap(),
        }
        if led {
            cluster.wait_leader(term, Duration::from_secs(30)).unwrap();
        }
        cluster.start_node(id).unwrap();
    }
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 2, Duration::from_secs(30))
        .unwrap();
    finish(cluster);
}

/// Two of three stopped: the last node cannot commit (no majority) and stops mining on its
/// lease; nothing is finished meanwhile. When the two return, the cluster resumes from the
/// last committed checkpoint and the output is exact.
#[test]
fn two_of_three_stopped_then_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    let leader = cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    cluster.wait_checkpoint(3, Duration::from_secs(30)).unwrap();
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader.node_id).collect();
    for id in &others {
        cluster.kill(*id).unwrap();
    }
    let stuck_at = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let alone = cluster.status(leader.node_id).unwrap();
    assert_eq!(
        alone.last_checkpoint.as_ref().map(|c| c.id),
        Some(stuck_at),
        "a checkpoint committed without a majority"
    );
    assert!(
        alone.pipeline.is_none(),
        "the node without a majority still mines: {alone:?}"
    );
    for id in &others {
        cluster.start_node(*id).unwrap();
    }
    cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    cluster
        .wait_checkpoint(stuck_at + 3, Duration::from_secs(30))
        .unwrap();
    finish(cluster);
}

/// The leader and one follower stopped together (SIGTERM at the same moment) while the third
/// member is dead: the leader's final checkpoint may find no majority. It stops cleanly all the
/// same (exit 0, no restart, nothing finished that was not agreed), and the cluster resumes
/// exactly when the nodes are back.
#[test]
fn the_leader_stopped_with_a_follower_while_the_third_is_dead() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    let leader = cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    cluster.wait_checkpoint(3, Duration::from_secs(30)).unwrap();
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader.node_id).collect();
    cluster.kill(others[0]).unwrap();
    let statuses = cluster
        .terminate_together(&[leader.node_id, others[1]], Duration::from_secs(30))
        .unwrap();
    for (id, status) in [leader.node_id, others[1]].iter().zip(&statuses) {
        assert!(
            status.is_some_and(|s| s.success()),
            "node {id} did not stop cleanly on SIGTERM: {status:?}"
        );
    }
    let node = cluster
        .nodes
        .iter()
        .find(|n| n.id == leader.node_id)
        .unwrap();
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(
        !log.contains("the pipeline failed"),
        "a stopping leader reported a failure and a restart:\n{log}"
    );
    for id in 1..=3 {
        cluster.start_node(id).unwrap();
    }
    cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 3, Duration::from_secs(30))
        .unwrap();
    finish(cluster);
}

/// A node whose state is lost (its data dir deleted) comes back as a new member: removed from
/// the membership, started empty under a new id, added with `redoflow cluster add`; it catches
/// up, votes, and can lead.
#[test]
fn a_node_rebuilt_from_nothing_rejoins_through_cluster_add() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    let leader = cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    cluster.wait_checkpoint(2, Duration::from_secs(30)).unwrap();
    let lost = (1..=3).find(|id| *id != leader.node_id).unwrap();
    cluster.kill(lost).unwrap();
    std::fs::remove_dir_all(cluster.spec.dir.join(format!("node{lost}"))).unwrap();

    let cli = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "redoflow {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let secret = cluster.secret.display().to_string();
    let any = cluster.nodes[(leader.node_id - 1) as usize].addr.clone();
    cli(&[
        "cluster",
        "remove",
        "--node",
        &any,
        "--id",
        &lost.to_string(),
        "--secret-file",
        &secret,
    ]);
    // The replacement: id 4, a new port, an empty data dir, the new member list.
    let port = free_ports(1).unwrap()[0];
    let addr = format!("127.0.0.1:{port}");
    let members: Vec<(u64, String)> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != lost)
        .map(|n| (n.id, n.addr.clone()))
        .chain([(4, addr.clone())])
        .collect();
    cluster.write_node(4, &addr, &members).unwrap();
    cluster.nodes.retain(|n| n.id != lost);
    // Added before it runs: the call waits until the new node has caught up (a voter that
    // cannot vote yet would cost the cluster its majority).
    let add = {
        let (any, addr, secret) = (any.clone(), addr.clone(), secret.clone());
        std::thread::spawn(move || {
            std::process::Command::new(BIN)
                .args([
                    "cluster", "add", "--node", &any, "--id", "4", "--addr", &addr,
                ])
                .args(["--secret-file", &secret])
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    assert!(!add.is_finished(), "cluster add returned before node 4 ran");
    cluster.start_node(4).unwrap();
    let out = add.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want: Vec<u64> = members.iter().map(|m| m.0).collect();
    want.sort();
    // The new node applies the membership that makes it a voter, as every node does.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = cli(&["status", "--node", &addr, "--json"]);
        let status: redoflow::status::NodeStatus = serde_json::from_str(&status).unwrap();
        let voters: Vec<u64> = status
            .members
            .iter()
            .filter(|m| m.voter)
            .map(|m| m.id)
            .collect();
        if voters == want && status.last_checkpoint.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 did not catch up: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The new member counts: with the old leader killed, a majority needs it.
    let f = Failover::measure(&mut cluster, Duration::from_secs(30)).unwrap();
    cluster.start_node(f.killed).unwrap();
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 2, Duration::from_secs(30))
        .unwrap();
    finish(cluster);
}
