//! Nodes of one process on loopback ports, talking over the real HTTP transport: elections,
//! commits through `RaftCheckpointStore`, failover, a deposed leader, membership changes,
//! catching up from a snapshot, resignation.
//!
//! Waits are bounded (a test that cannot reach the state it waits for fails with what it waited
//! for); nothing asserts how fast anything happened.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use openraft::ServerState;
use redoflow_checkpoint::{
    Checkpoint, CheckpointId, CheckpointStore, FileCommit, NodeId, Offset, Scn, SourceFingerprint,
    StoreError, Term, ThreadId, Xid,
};
use redoflow_raft::{admin, ClusterState, Faults, RaftError, RaftNode, RaftNodeConfig, Secret};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "a cluster secret for the tests, 45 bytes long";
/// Long enough that a loaded two-core machine running debug builds in parallel does not see
/// spurious elections every second; short enough that failovers take about a second.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(500);
const HEARTBEAT: Duration = Duration::from_millis(100);
/// The bound on every wait: far above what any step needs, so only a real failure meets it.
const PATIENCE: Duration = Duration::from_secs(30);

fn secret() -> Secret {
    Secret::from_bytes(SECRET, "the tests").unwrap()
}

struct Member {
    node: RaftNode,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

struct Cluster {
    dir: tempfile::TempDir,
    faults: Faults,
    members: BTreeMap<u64, Member>,
    /// Every node's address, also while it is stopped (a restart rebinds it).
    addrs: BTreeMap<u64, String>,
}

async fn bind(addr: &str) -> TcpListener {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            // A restarted node rebinds its old port, which the old listener may still hold for
            // a moment.
            Err(e) if Instant::now() < deadline => {
                eprintln!("binding {addr}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    }
}

/// Polls `check` until it returns `Some`, or fails the test naming `what`.
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn checkpoint(id: u64, term: Term, marker: u64) -> Checkpoint {
    let mut offset = Offset::starting_after(Scn(1_000 * id));
    offset.record_commit(ThreadId(1), Scn(1_000 * id + 500), Xid(id));
    let files = ["HR.EMP", "HR.DEPT", "SALES.ORDERS"]
        .iter()
        .enumerate()
        .map(|(i, table)| FileCommit {
            table: table.to_string(),
            final_path: format!("{table}/{id:010}-{i:06}.csv"),
            inprogress_path: format!("{table}/.{id:010}-{i:06}-t{term}.csv.inprogress"),
            rows: 100 + i as u64,
            bytes: 10_000,
            crc32: 0xC0FFEE,
        })
        .collect();
    Checkpoint {
        id: CheckpointId(id),
        term,
        offset,
        files,
        created_at_ms: marker,
    }
}

fn ids(state: &ClusterState) -> Vec<u64> {
    state.checkpoints.iter().map(|c| c.id.0).collect()
}

/// Commits through `node`'s store for `term`, from a blocking thread as the pipeline does.
async fn commit_as(
    node: &RaftNode,
    term: Term,
    checkpoint: Checkpoint,
    timeout: Duration,
) -> Result<(), StoreError> {
    let mut store = node.checkpoint_store(term, CancellationToken::new(), timeout);
    tokio::task::spawn_blocking(move || store.commit(&checkpoint))
        .await
        .expect("the committing thread panicked")
}

impl Cluster {
    /// Starts `ids` on fresh loopback ports and lets every node try to initialise the cluster.
    async fn start(ids: &[u64]) -> Cluster {
        let mut cluster = Cluster {
            dir: tempfile::tempdir().unwrap(),
            faults: Faults::new(),
            members: BTreeMap::new(),
            addrs: BTreeMap::new(),
        };
        let mut listeners = Vec::new();
        for &id in ids {
            listeners.push((id, bind("127.0.0.1:0").await));
        }
        let addrs: BTreeMap<NodeId, String> = listeners
            .iter()
            .map(|(id, l)| (NodeId(*id), l.local_addr().unwrap().to_string()))
            .collect();
        for (id, listener) in listeners {
            cluster.serve(id, listener).await;
        }
        let mut initialised = BTreeSet::new();
        for (&id, member) in &cluster.members {
            if member
                .node
                .initialize_if_first(addrs.clone())
                .await
                .unwrap()
            {
                initialised.insert(id);
            }
        }
        assert_eq!(
            initialised,
            BTreeSet::from([ids[0]]),
            "only the lowest id initialises"
        );
        cluster
    }

    fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node-{id}"))
    }

    /// Starts node `id` on `listener` (a fresh node, or a restart on its old data dir).
    async fn serve(&mut self, id: u64, listener: TcpListener) {
        let addr = listener.local_addr().unwrap().to_string();
        let node = RaftNode::start(RaftNodeConfig {
            node_id: NodeId(id),
            listen_addr: addr.clone(),
            data_dir: self.data_dir(id),
            secret: secret(),
            election_timeout: ELECTION_TIMEOUT,
            heartbeat_interval: HEARTBEAT,
            history: 100,
            faults: Some(self.faults.clone()),
        })
        .await
        .unwrap();
        self.addrs.insert(id, addr.clone());
        let stop = CancellationToken::new();
        let app = node
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let shutdown = stop.clone().cancelled_owned();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .unwrap();
        });
        self.members.insert(id, Member { node, stop, server });
    }

    fn node(&self, id: u64) -> &RaftNode {
        &self.members[&id].node
    }

    fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    /// Waits until one of `among` leads; returns it and its term.
    async fn leader(&self, among: &[u64]) -> (u64, Term) {
        eventually(&format!("a leader among {among:?}"), || {
            among.iter().find_map(|&id| {
                let m = self.node(id).raft().metrics().borrow().clone();
                (m.state == ServerState::Leader && m.current_leader == Some(id))
                    .then_some((id, Term(m.current_term)))
            })
        })
        .await
    }

    /// Commits checkpoint `id` through whichever of `among` leads, retrying across leader
    /// changes (a loaded machine may see one) until some leader has committed it.
    async fn commit(&self, among: &[u64], id: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (leader, term) = self.leader(among).await;
            let node = self.node(leader);
            match commit_as(node, term, checkpoint(id, term, 0), Duration::from_secs(5)).await {
                Ok(()) => return,
                // An earlier attempt that timed out may have been committed after all.
                Err(StoreError::OutOfOrder { last, .. }) if last.0 >= id => return,
                Err(e) if e.is_retryable() || matches!(e, StoreError::NotLeader { .. }) => {
                    assert!(Instant::now() < deadline, "committing {id}: {e}");
                }
                Err(StoreError::Fenced { .. }) => {
                    assert!(Instant::now() < deadline, "committing {id}: fenced");
                }
                Err(e) => panic!("committing checkpoint {id}: {e}"),
            }
        }
    }

    /// Waits until every node of `among` has applied exactly checkpoints `1..=last`.
    async fn wait_applied(&self, among: &[u64], last: u64) {
        for &id in among {
            let node = self.node(id);
            eventually(&format!("node {id} applies checkpoints 1..={last}"), || {
                (ids(&node.state()) == (1..=last).collect::<Vec<_>>()).then_some(())
            })
            .await;
        }
    }

    /// Stops node `id`'s listener and Raft core, as a crash would (its data dir stays).
    async fn stop(&mut self, id: u64) {
        let member = self.members.remove(&id).unwrap();
        member.stop.cancel();
        member.server.await.unwrap();
        member.node.shutdown().await.unwrap();
    }

    async fn shutdown(mut self) {
        for id in self.ids() {
            self.stop(id).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_commit_and_fail_over_with_the_history_intact() {
    let mut c = Cluster::start(&[1, 2, 3]).await;
    let all = c.ids();
    let (leader, term) = c.leader(&all).await;

    let fingerprint = SourceFingerprint::new("sim").with("source.sim.seed", 7);
    c.node(leader)
        .propose_fingerprint(fingerprint.clone())
        .await
        .unwrap();
    c.node(leader)
        .propose_fingerprint(fingerprint.clone())
        .await
        .unwrap();
    match c
        .node(leader)
        .propose_fingerprint(SourceFingerprint::new("sim").with("source.sim.seed", 8))
        .await
    {
        Err(RaftError::FingerprintDiffers { differences }) => {
            assert_eq!(differences.len(), 1);
            assert!(
                differences[0].contains("source.sim.seed"),
                "{differences:?}"
            );
        }
        other => panic!("a different fingerprint must be refused, got {other:?}"),
    }

    for id in 1..=5 {
        c.commit(&all, id).await;
    }
    c.wait_applied(&all, 5).await;
    let cluster_id = c.node(1).cluster_id().expect("a cluster id once applied");
    for &id in &all {
        assert_eq!(
            c.node(id).cluster_id().as_deref(),
            Some(cluster_id.as_str())
        );
        assert_eq!(c.node(id).state().fingerprint.as_ref(), Some(&fingerprint));
        let last = c
            .node(id)
            .checkpoint_store(term, CancellationToken::new(), PATIENCE)
            .last()
            .unwrap();
        assert_eq!(last.map(|c| c.id), Some(CheckpointId(5)));
    }

    // The refusals, each from the node that leads now.
    let (leader, term) = c.leader(&all).await;
    let follower = *all.iter().find(|&&id| id != leader).unwrap();
    match commit_as(
        c.node(follower),
        term,
        checkpoint(6, term, 0),
        Duration::from_secs(5),
    )
    .await
    {
        Err(StoreError::NotLeader { leader_hint }) => assert!(leader_hint.is_some()),
        other => panic!("a follower's commit must be NotLeader, got {other:?}"),
    }
    let future = Term(term.0 + 7);
    match commit_as(
        c.node(leader),
        future,
        checkpoint(6, future, 0),
        Duration::from_secs(5),
    )
    .await
    {
        Err(StoreError::Fenced {
            term: t,
            current_term,
        }) => {
            assert_eq!((t, current_term), (future, term));
        }
        other => panic!("a store of another term must be fenced, got {other:?}"),
    }
    match commit_as(
        c.node(leader),
        term,
        checkpoint(8, term, 0),
        Duration::from_secs(5),
    )
    .await
    {
        Err(StoreError::OutOfOrder { last, got }) => {
            assert_eq!((last, got), (CheckpointId(5), CheckpointId(8)));
        }
        // A spurious election between the two lines is the one other honest answer.
        Err(StoreError::NotLeader { .. }) | Err(StoreError::Fenced { .. }) => {}
        other => panic!("a gap must be refused, got {other:?}"),
    }

    // The leader goes away; another takes over with everything committed so far.
    c.stop(leader).await;
    let rest: Vec<u64> = c.ids();
    let (new_leader, new_term) = c.leader(&rest).await;
    assert_ne!(new_leader, leader);
    assert!(new_term > term, "{new_term:?} after {term:?}");
    for id in 6..=8 {
        c.commit(&rest, id).await;
    }
    c.wait_applied(&rest, 8).await;
    let (_, latest_term) = c.leader(&rest).await;
    let state = c.node(new_leader).state();
    assert_eq!(state.fingerprint.as_ref(), Some(&fingerprint));
    assert!(state.checkpoints.iter().skip(5).all(|cp| cp.term > term));
    assert!(state.newest_term <= latest_term);

    // The old leader restarts on its data dir and address and catches up; it does not
    // initialise anything.
    let listener = bind(&c.addrs[&leader]).await;
    c.serve(leader, listener).await;
    let restarted = c.node(leader).clone();
    let members: BTreeMap<NodeId, String> = c
        .addrs
        .iter()
        .map(|(&id, addr)| (NodeId(id), addr.clone()))
        .collect();
    assert!(!restarted.initialize_if_first(members).await.unwrap());
    c.wait_applied(&all, 8).await;
    assert_eq!(restarted.cluster_id().as_deref(), Some(cluster_id.as_str()));
    assert_eq!(
        restarted.state().checkpoints,
        c.node(new_leader).state().checkpoints
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_cannot_commit() {
    let c = Cluster::start(&[1, 2, 3]).await;
    let all = c.ids();
    for id in 1..=2 {
        c.commit(&all, id).await;
    }
    let (old, old_term) = c.leader(&all).await;
    let rest: Vec<u64> = all.iter().copied().filter(|&id| id != old).collect();

    // Cut off, the old leader still believes it leads, but no majority hears it.
    c.faults.isolate(NodeId(old));
    const DEPOSED: u64 = 999;
    let r = commit_as(
        c.node(old),
        old_term,
        checkpoint(3, old_term, DEPOSED),
        Duration::from_secs(1),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(StoreError::Unavailable { .. }) | Err(StoreError::NotLeader { .. })
        ),
        "{r:?}"
    );

    let (_, new_term) = c.leader(&rest).await;
    assert!(new_term > old_term);
    c.commit(&rest, 3).await;
    c.faults.heal();

    // Back in touch, the old leader learns of the newer term and refuses to commit for its own.
    eventually("the old leader follows the new term", || {
        let m = c.node(old).raft().metrics().borrow().clone();
        (m.current_term >= new_term.0 && m.state != ServerState::Leader).then_some(())
    })
    .await;
    let r = commit_as(
        c.node(old),
        old_term,
        checkpoint(4, old_term, DEPOSED),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(StoreError::NotLeader { .. }) | Err(StoreError::Fenced { .. })
        ),
        "{r:?}"
    );

    c.wait_applied(&all, 3).await;
    for &id in &all {
        let state = c.node(id).state();
        assert!(
            state
                .checkpoints
                .iter()
                .all(|cp| cp.created_at_ms != DEPOSED),
            "node {id} applied the deposed leader's checkpoint: {:?}",
            state.checkpoints
        );
        assert!(state.checkpoints[2].term > old_term);
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_replaced_through_the_admin_routes() {
    let mut c = Cluster::start(&[1, 2, 3]).await;
    let all = c.ids();
    for id in 1..=3 {
        c.commit(&all, id).await;
    }
    let (leader, _) = c.leader(&all).await;
    let followers: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    let (victim, via) = (followers[0], c.addrs[&followers[1]].clone());

    let listener = bind("127.0.0.1:0").await;
    let new_addr = listener.local_addr().unwrap().to_string();
    c.serve(4, listener).await;

    // Sent to a follower: the call follows the leader's address.
    admin::add_member(&via, &secret(), NodeId(4), &new_addr)
        .await
        .unwrap();
    c.wait_applied(&[4], 3).await;
    admin::remove_member(&via, &secret(), NodeId(victim))
        .await
        .unwrap();
    let expected: BTreeSet<u64> = [1, 2, 3, 4]
        .into_iter()
        .filter(|&id| id != victim)
        .collect();
    let (leader, _) = c.leader(&c.ids()).await;
    let voters: BTreeSet<u64> = eventually("the leader's membership without the victim", || {
        let m = c.node(leader).raft().metrics().borrow().clone();
        let voters: BTreeSet<u64> = m.membership_config.membership().voter_ids().collect();
        (voters == expected).then_some(voters)
    })
    .await;
    assert!(!voters.contains(&victim));
    c.stop(victim).await;

    let rest = c.ids();
    c.commit(&rest, 4).await;
    c.wait_applied(&rest, 4).await;
    assert_eq!(c.node(4).cluster_id(), c.node(leader).cluster_id());

    // The admin routes want the secret too.
    let wrong = Secret::from_bytes("not the cluster secret at all", "the tests").unwrap();
    let failures_before = c.node(followers[1]).auth_failures();
    match admin::add_member(&via, &wrong, NodeId(5), "127.0.0.1:1").await {
        Err(RaftError::Refused { status: 401, .. }) => {}
        other => panic!("a wrong secret must be refused with 401, got {other:?}"),
    }
    assert_eq!(c.node(followers[1]).auth_failures(), failures_before + 1);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_member_catches_up_from_a_snapshot_after_the_log_was_purged() {
    let mut c = Cluster::start(&[1]).await;
    for id in 1..=30 {
        c.commit(&[1], id).await;
    }
    let one = c.node(1).clone();
    let last_index = one.raft().metrics().borrow().last_log_index.unwrap();
    one.raft().trigger().snapshot().await.unwrap();
    eventually("a snapshot covering the whole log", || {
        let m = one.raft().metrics().borrow().clone();
        (m.snapshot.map(|s| s.index) >= Some(last_index)).then_some(())
    })
    .await;
    one.raft().trigger().purge_log(last_index).await.unwrap();
    eventually("the log purged", || {
        let m = one.raft().metrics().borrow().clone();
        (m.purged.map(|p| p.index) >= Some(last_index)).then_some(())
    })
    .await;

    let listener = bind("127.0.0.1:0").await;
    let addr = listener.local_addr().unwrap().to_string();
    c.serve(2, listener).await;
    one.add_member(NodeId(2), addr).await.unwrap();
    c.wait_applied(&[2], 30).await;
    let two = c.node(2).clone();
    assert!(
        two.raft().metrics().borrow().snapshot.map(|s| s.index) >= Some(last_index),
        "node 2 caught up through a snapshot"
    );
    assert_eq!(two.state().checkpoints, one.state().checkpoints);
    assert_eq!(two.cluster_id(), one.cluster_id());

    // Log replication goes on after the snapshot.
    c.commit(&[1, 2], 31).await;
    c.wait_applied(&[1, 2], 31).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resigning_leader_hands_over_to_another_node() {
    let c = Cluster::start(&[1, 2, 3]).await;
    let all = c.ids();
    c.commit(&all, 1).await;
    let (old, old_term) = c.leader(&all).await;
    let rest: Vec<u64> = all.iter().copied().filter(|&id| id != old).collect();
    c.node(old).resign(Duration::from_secs(5));
    let (_, new_term) = c.leader(&rest).await;
    assert!(new_term > old_term);
    c.commit(&rest, 2).await;
    let r = commit_as(
        c.node(old),
        old_term,
        checkpoint(3, old_term, 0),
        Duration::from_secs(5),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(StoreError::NotLeader { .. }) | Err(StoreError::Fenced { .. })
        ),
        "{r:?}"
    );
    c.wait_applied(&all, 2).await;
    c.shutdown().await;
}

/// Each node knows when it last heard from each peer: the leader from every follower's
/// answers, a follower from the leader's appends. A follower cut off from the leader stops
/// being heard from while the other goes on; every node counts the change of leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_report_their_last_contact_with_each_peer_and_leader_changes() {
    let mut c = Cluster::start(&[1, 2, 3]).await;
    let all = c.ids();
    let (leader, _) = c.leader(&all).await;
    let followers: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    let heard = |node: &RaftNode, peers: &[u64]| {
        let contacts = node.last_contacts();
        peers
            .iter()
            .all(|p| contacts.contains_key(&NodeId(*p)))
            .then_some(contacts)
    };
    eventually("the leader hears from both followers", || {
        heard(c.node(leader), &followers)
    })
    .await;
    for &f in &followers {
        eventually(&format!("follower {f} hears from the leader"), || {
            heard(c.node(f), &[leader])
        })
        .await;
        assert!(
            !c.node(f).last_contacts().contains_key(&NodeId(f)),
            "a node is not its own peer"
        );
    }
    for &id in &all {
        eventually(&format!("node {id} counts the leader's coming"), || {
            (c.node(id).leader_changes() >= 1).then_some(())
        })
        .await;
    }
    // The link between the leader and one follower is cut in both directions: that follower
    // goes silent for the leader, the other keeps answering.
    let (cut, kept) = (followers[0], followers[1]);
    c.faults.cut(NodeId(leader), NodeId(cut));
    eventually("the cut follower's last contact ages past 2 s", || {
        let contacts = c.node(leader).last_contacts();
        let (cut_age, kept_age) = (contacts[&NodeId(cut)], contacts[&NodeId(kept)]);
        (cut_age > Duration::from_secs(2) && kept_age < cut_age).then_some(())
    })
    .await;
    c.faults.heal();
    // The leader stops: the others see the leader change again.
    let before: BTreeMap<u64, u64> = followers
        .iter()
        .map(|&f| (f, c.node(f).leader_changes()))
        .collect();
    c.stop(leader).await;
    let (new_leader, _) = c.leader(&followers).await;
    for &f in &followers {
        eventually(
            &format!("node {f} counts the change to {new_leader}"),
            || (c.node(f).leader_changes() > before[&f]).then_some(()),
        )
        .await;
    }
    c.shutdown().await;
}
