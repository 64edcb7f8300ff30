//! How big the Raft store grows, and how long a commit takes, over many checkpoints.
//!
//! One real single-node Raft (sled store, fsync on every append, the product's snapshot and
//! purge settings) commits checkpoints through `RaftCheckpointStore` from a plain thread, as
//! the pipeline does. Every 10 000 commits it prints the data dir's size and the commit latency
//! percentiles of that stretch.
//!
//! ```text
//! cargo run --release -p redoflow-raft --example store_growth -- [COMMITS] [DATA_DIR]
//! ```
//!
//! COMMITS defaults to 100 000; DATA_DIR to a temporary directory next to the target dir (not
//! /tmp, which may be a RAM disk where fsync costs nothing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redoflow_checkpoint::{
    Checkpoint, CheckpointId, CheckpointStore, FileCommit, NodeId, Offset, Scn, SourceFingerprint,
    Term, ThreadId, Xid,
};
use redoflow_raft::{RaftNode, RaftNodeConfig, Secret};
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

fn main() {
    let mut args = std::env::args().skip(1);
    let commits: u64 = args
        .next()
        .map(|a| a.parse().expect("COMMITS is a number"))
        .unwrap_or(100_000);
    let (data_dir, _guard) = match args.next() {
        Some(dir) => (PathBuf::from(dir), None),
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
    let node = runtime.block_on(async {
        let node = RaftNode::start(RaftNodeConfig {
            node_id: NodeId(1),
            listen_addr: "127.0.0.1:1".into(),
            data_dir: data_dir.clone(),
            secret: Secret::from_bytes("store growth example secret", "the example").unwrap(),
            election_timeout: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(100),
            history: redoflow_raft::state::DEFAULT_HISTORY,
            faults: None,
        })
        .await
        .expect("the node starts");
        node.initialize_if_first(BTreeMap::from([(NodeId(1), "127.0.0.1:1".to_string())]))
            .await
            .expect("the cluster initialises");
        while node.raft().metrics().borrow().current_leader != Some(1) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        node.propose_fingerprint(SourceFingerprint::new("sim").with("source.sim.seed", 1))
            .await
            .expect("the fingerprint is recorded");
        node
    });
    let term = Term(node.raft().metrics().borrow().current_term);
    let mut store = node.checkpoint_store(term, CancellationToken::new(), Duration::from_secs(30));

    println!(
        "{commits} commits into {} (history {}, term {term})",
        data_dir.display(),
        redoflow_raft::state::DEFAULT_HISTORY
    );
    println!(
        "{:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "commits", "disk MiB", "len MiB", "p50 ms", "p99 ms", "max ms", "log"
    );
    let started = Instant::now();
    let mut window = Vec::with_capacity(REPORT_EVERY as usize);
    let mut all = Vec::with_capacity(commits as usize);
    for id in 1..=commits {
        let cp = checkpoint(id, term);
        let t = Instant::now();
        store.commit(&cp).expect("a single node commits");
        let took = t.elapsed();
        window.push(took);
        all.push(took);
        if id % REPORT_EVERY == 0 || id == commits {
            window.sort();
            let (allocated, apparent) = dir_size(&data_dir);
            let m = node.raft().metrics().borrow().clone();
            println!(
                "{id:>8} {:>10.2} {:>10.2} {:>9.3} {:>9.3} {:>9.3} {:>9}",
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
    let state = node.state();
    println!(
        "state: last checkpoint {}, {} kept, snapshot of {} bytes",
        state.last_id(),
        state.checkpoints.len(),
        redoflow_checkpoint::codec::encode_value(&state).len()
    );
    runtime
        .block_on(node.shutdown())
        .expect("the node shuts down");
    let (allocated, apparent) = dir_size(&data_dir);
    println!(
        "after shutdown: {:.2} MiB on disk ({:.2} MiB apparent)",
        mib(allocated),
        mib(apparent)
    );
    drop(node);
    // Reopen: the state comes back from the snapshot and the log.
    let reopened = runtime.block_on(async {
        let node = RaftNode::start(RaftNodeConfig {
            node_id: NodeId(1),
            listen_addr: "127.0.0.1:1".into(),
            data_dir: data_dir.clone(),
            secret: Secret::from_bytes("store growth example secret", "the example").unwrap(),
            election_timeout: Duration::from_millis(300),
            heartbeat_interval: Duration::from_millis(100),
            history: redoflow_raft::state::DEFAULT_HISTORY,
            faults: None,
        })
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
    let (allocated, apparent) = dir_size(&data_dir);
    println!(
        "after restart: last checkpoint {}, {:.2} MiB on disk ({:.2} MiB apparent)",
        reopened.state().last_id(),
        mib(allocated),
        mib(apparent)
    );
    runtime.block_on(reopened.shutdown()).expect("shutdown");
}
