//! How big the Raft store grows, and how long a commit takes, over many checkpoints.
//!
//! A real Raft group (sled store synced on every append, the product's snapshot and purge
//! settings) commits checkpoints through `RaftCheckpointStore` from a plain thread, as the
//! pipeline does. With `--nodes 3` the group is three nodes of this process talking HTTP over
//! loopback, so every commit is replicated and synced on a majority. Every 10 000 commits it
//! prints the leader's data dir size and the commit latency percentiles of that stretch; at the
//! end it restarts the leader on its data dir and checks the state came back.
//!
//! ```text
//! cargo run --release -p redoflow-raft --example store_growth -- [COMMITS] [--nodes 1|3] [--dir DATA_DIR]
//! ```
//!
//! COMMITS defaults to 100 000, nodes to 1; DATA_DIR to a temporary directory under the target
//! dir (not /tmp, which may be a RAM disk where a sync costs nothing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redoflow_checkpoint::{
    Checkpoint, CheckpointId, CheckpointStore, FileCommit, NodeId, Offset, Scn, SourceFingerprint,
    Term, ThreadId, Xid,
};
use redoflow_raft::{RaftNode, RaftNodeConfig, Secret};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const REPORT_EVERY: u64 = 10_000;

/// A checkpoint as the pipeline makes one: three tables' files, two redo threads.
fn checkpoint(id: u64, term: Term) -> Checkpoint {
    let scn = 5_000_000_000 + id * 1_200;
    let mut offset = Offset::starting_after(Scn(scn));
    offset.record_commit(ThreadId(1), Scn(scn - 3), Xid(0x0A00_1B00_0000_0000 | id));
    offset.record_commit(ThreadId(2), Scn(scn - 7), Xid(0x0B00_0400_0000_0000 | id));
    let files = ["HR.EMPLOYEES", "SALES.ORDERS", "SALES.ORDER_ITEMS"]
        .iter()
        .enumerate()
        .map(|(i, table)| FileCommit {
            table: table.to_string(),
            final_path: format!("{table}/{id:010}-{i:06}.csv"),
            inprogress_path: format!("{table}/.{id:010}-{i:06}-t{term}.csv.inprogress"),
            rows: 480 + id % 40,
            bytes: 61_000 + id % 997,
            crc32: (id as u32).wrapping_mul(2_654_435_761),
        })
        .collect();
    Checkpoint {
        id: CheckpointId(id),
        term,
        offset,
        files,
        created_at_ms: 1_700_000_000_000 + id * 30_000,
    }
}

/// Bytes the files under `dir` take on disk (allocated blocks) and their apparent length.
fn dir_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut allocated = 0;
    let mut apparent = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                allocated += meta.blocks() * 512;
                apparent += meta.len();
            }
        }
    }
    (allocated, apparent)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct Args {
    commits: u64,
    nodes: u64,
    dir: Option<PathBuf>,
}

fn args() -> Args {
    let mut args = Args {
        commits: 100_000,
        nodes: 1,
        dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--nodes" => args.nodes = it.next().and_then(|n| n.parse().ok()).expect("--nodes N"),
            "--dir" => args.dir = Some(it.next().expect("--dir PATH").into()),
            n => args.commits = n.parse().expect("COMMITS is a number"),
        }
    }
    args
}

fn config(id: u64, addr: &str, data_dir: &Path) -> RaftNodeConfig {
    RaftNodeConfig {
        node_id: NodeId(id),
        listen_addr: addr.to_string(),
        data_dir: data_dir.join(format!("node-{id}")),
        secret: Secret::from_bytes("store growth example secret", "the example").unwrap(),
        election_timeout: Duration::from_millis(1000),
        heartbeat_interval: Duration::from_millis(100),
        history: redoflow_raft::state::DEFAULT_HISTORY,
        faults: None,
    }
}

/// Starts node `id` and serves its routes on `listener`.
async fn start(id: u64, listener: TcpListener, data_dir: &Path) -> RaftNode {
    let addr = listener.local_addr().unwrap().to_string();
    let node = RaftNode::start(config(id, &addr, data_dir))
        .await
        .expect("the node starts");
    let app = node.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    node
}

async fn leader_of(nodes: &[RaftNode]) -> RaftNode {
    loop {
        for node in nodes {
            if node.raft().metrics().borrow().current_leader == Some(node.node_id().0) {
                return node.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn main() {
    let Args {
        commits,
        nodes: node_count,
        dir,
    } = args();
    let (data_dir, _guard) = match dir {
        Some(dir) => (dir, None),
        None => {
            let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
            std::fs::create_dir_all(&base).expect("the target dir");
            let tmp = tempfile::tempdir_in(&base).expect("a temp dir under target/");
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (nodes, leader, listen_addrs) = runtime.block_on(async {
        let mut listeners = Vec::new();
        for id in 1..=node_count {
            listeners.push((id, TcpListener::bind("127.0.0.1:0").await.expect("a port")));
        }
        let members: BTreeMap<NodeId, String> = listeners
            .iter()
            .map(|(id, l)| (NodeId(*id), l.local_addr().unwrap().to_string()))
            .collect();
        let mut nodes = Vec::new();
        for (id, listener) in listeners {
            nodes.push(start(id, listener, &data_dir).await);
        }
        for node in &nodes {
            node.initialize_if_first(members.clone())
                .await
                .expect("the cluster initialises");
        }
        let leader = leader_of(&nodes).await;
        leader
            .propose_fingerprint(SourceFingerprint::new("sim").with("source.sim.seed", 1))
            .await
            .expect("the fingerprint is recorded");
        (nodes, leader, members)
    });
    let leader_dir = data_dir.join(format!("node-{}", leader.node_id()));
    let term = Term(leader.raft().metrics().borrow().current_term);
    let mut store =
        leader.checkpoint_store(term, CancellationToken::new(), Duration::from_secs(30));

    println!(
        "{commits} commits, {node_count} node(s), leader {} in {} (history {}, term {term})",
        leader.node_id(),
        leader_dir.display(),
        redoflow_raft::state::DEFAULT_HISTORY
    );
    println!(
        "{:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>15}",
        "commits", "disk MiB", "len MiB", "p50 ms", "p99 ms", "max ms", "log"
    );
    let started = Instant::now();
    let mut window = Vec::with_capacity(REPORT_EVERY as usize);
    let mut all = Vec::with_capacity(commits as usize);
    for id in 1..=commits {
        let cp = checkpoint(id, term);
        let t = Instant::now();
        store.commit(&cp).expect("the leader commits");
        let took = t.elapsed();
        window.push(took);
        all.push(took);
        if id % REPORT_EVERY == 0 || id == commits {
            window.sort();
            let (allocated, apparent) = dir_size(&leader_dir);
            let m = leader.raft().metrics().borrow().clone();
            println!(
                "{id:>8} {:>10.2} {:>10.2} {:>9.3} {:>9.3} {:>9.3} {:>15}",
                mib(allocated),
                mib(apparent),
                percentile(&window, 0.50).as_secs_f64() * 1e3,
                percentile(&window, 0.99).as_secs_f64() * 1e3,
                window.last().unwrap().as_secs_f64() * 1e3,
                format!(
                    "{}..{}",
                    m.purged.map_or(0, |p| p.index + 1),
                    m.last_log_index.unwrap_or(0)
                ),
            );
            window.clear();
        }
    }
    let elapsed = started.elapsed();
    all.sort();
    println!(
        "all {commits}: {:.1} s, {:.0} commits/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        elapsed.as_secs_f64(),
        commits as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1e3,
        percentile(&all, 0.99).as_secs_f64() * 1e3,
        all.last().unwrap().as_secs_f64() * 1e3,
    );
    let state = leader.state();
    println!(
        "state: last checkpoint {}, {} kept, snapshot of {} bytes",
        state.last_id(),
        state.checkpoints.len(),
        redoflow_checkpoint::codec::encode_value(&state).len()
    );
    for node in &nodes {
        runtime
            .block_on(node.shutdown())
            .expect("the node shuts down");
        let (allocated, apparent) = dir_size(&data_dir.join(format!("node-{}", node.node_id())));
        println!(
            "node {} after shutdown: {:.2} MiB on disk ({:.2} MiB apparent)",
            node.node_id(),
            mib(allocated),
            mib(apparent)
        );
    }
    drop(nodes);

    // The leader alone, restarted on its data dir: its state comes back from its snapshot and
    // log (it does not need a quorum to apply what it had committed).
    let leader_id = leader.node_id();
    drop(leader);
    let reopened = runtime.block_on(async {
        let node = RaftNode::start(config(leader_id.0, &listen_addrs[&leader_id], &data_dir))
            .await
            .expect("the node restarts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.state().last_id() != CheckpointId(commits) {
            assert!(
                Instant::now() < deadline,
                "the restarted node never got its state back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node
    });
    println!(
        "node {leader_id} restarted: last checkpoint {}",
        reopened.state().last_id()
    );
    runtime.block_on(reopened.shutdown()).expect("shutdown");
}
