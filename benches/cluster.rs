//! Throughput of a three-node cluster against a single node, on the unpaced simulator, in one
//! run: Raft replicates one small entry per checkpoint and is never on the per-row path, so
//! the two must mine at the same rate. Alternates single node and cluster (the machine's
//! speed drifts; compare neighbours), `REDOFLOW_BENCH_SECS` seconds each (default 15) over
//! `REDOFLOW_BENCH_ROUNDS` rounds (default 4), and prints changes/s of each. Results in
//! benches/README.md ("Cluster").
//!
//! The three nodes share this process and machine, so the followers' standby work is switched
//! off (on three machines it would not compete with the leader).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redoflow::checkpoint::Term;
use redoflow::config::Config;
use redoflow::miner::{SimCatalog, SimConfig, SimSource};
use redoflow::node::{Node, NodeOptions};
use redoflow::pipeline::run_pipeline;
use redoflow::{LocalStore, Pacing, PipelineOptions, Progress, StopToken};

fn sim() -> SimConfig {
    SimConfig {
        seed: 3,
        rate: None,
        catalog: SimCatalog::TenColumns,
        ..SimConfig::default()
    }
}

fn base(dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.source.sim = sim();
    c.output.dir = dir.join("out");
    c.checkpoint.interval = Duration::from_secs(1);
    c
}

/// changes/s of one node over `secs`, after a second of warm-up.
fn single(dir: &std::path::Path, secs: u64) -> f64 {
    let config = base(dir);
    let mut opts = PipelineOptions::from_config(&config.for_sim(), Pacing::Unpaced);
    opts.txn.spill_dir = dir.join("spill");
    let progress = Progress::default();
    let stop = StopToken::new();
    std::thread::scope(|s| {
        let run = s.spawn(|| {
            let mut source = SimSource::new(sim()).unwrap();
            let mut store = LocalStore::open(&dir.join("state")).unwrap();
            run_pipeline(&opts, Term(0), &mut source, &mut store, &stop, &progress).unwrap();
        });
        let rate = measure(|| progress.changes_written.load(Ordering::Relaxed), secs);
        stop.stop();
        run.join().unwrap();
        rate
    })
}

/// changes/s of a three-node cluster's leader over `secs`, after it started mining.
fn cluster(dir: &std::path::Path, secs: u64) -> f64 {
    std::env::set_var("REDOFLOW_BENCH_SECRET", "a benchmark's cluster secret");
    let ports = redoflow::demo::free_ports(3).unwrap();
    let nodes: Vec<(Node, StopToken)> = (1..=3u64)
        .map(|id| {
            let mut c = base(dir);
            let mut members = String::new();
            for (i, p) in ports.iter().enumerate() {
                members += &format!("[[members]]\nid = {}\naddr = \"127.0.0.1:{p}\"\n", i + 1);
            }
            c.cluster = Some(
                toml::from_str(&format!(
                    "node_id = {id}\nlisten = \"127.0.0.1:{}\"\ndata_dir = {:?}\n\
                     secret_env = \"REDOFLOW_BENCH_SECRET\"\n{members}",
                    ports[id as usize - 1],
                    dir.join(format!("node{id}")).display().to_string()
                ))
                .unwrap(),
            );
            let stop = StopToken::new();
            let options = NodeOptions {
                unpaced: true,
                no_standby_prepare: true,
                ..NodeOptions::default()
            };
            (Node::start(&c, options, &stop).unwrap(), stop)
        })
        .collect();
    let leader = || {
        nodes
            .iter()
            .map(|(n, _)| n.status())
            .find(|s| s.role == "leader" && s.pipeline.is_some())
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while leader().is_none() {
        assert!(Instant::now() < deadline, "no leader");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rate = measure(
        || {
            leader()
                .and_then(|s| s.pipeline)
                .map_or(0, |p| p.changes_written)
        },
        secs,
    );
    for (_, stop) in &nodes {
        stop.abort();
    }
    for (node, _) in nodes {
        let _ = node.join();
    }
    rate
}

fn measure(changes: impl Fn() -> u64, secs: u64) -> f64 {
    std::thread::sleep(Duration::from_secs(1));
    let (c0, t0) = (changes(), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    (changes() - c0) as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let secs: u64 = std::env::var("REDOFLOW_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let rounds: usize = std::env::var("REDOFLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let mut singles = Vec::new();
    let mut clusters = Vec::new();
    for round in 1..=rounds {
        let dir = tempfile::tempdir().unwrap();
        // The first run of a process is the slowest (cold caches): the order alternates so
        // neither side always goes first.
        let (s, c) = if round % 2 == 1 {
            let s = single(&dir.path().join("single"), secs);
            (s, cluster(&dir.path().join("cluster"), secs))
        } else {
            let c = cluster(&dir.path().join("cluster"), secs);
            (single(&dir.path().join("single"), secs), c)
        };
        println!("round {round}: single node {s:>10.0} changes/s   three-node cluster {c:>10.0} changes/s   ratio {:.3}", c / s);
        singles.push(s);
        clusters.push(c);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut ratios: Vec<f64> = clusters.iter().zip(&singles).map(|(c, s)| c / s).collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "mean: single node {:.0} changes/s, three-node cluster {:.0} changes/s; cluster / single: median {:.3}, range {:.3}-{:.3}",
        mean(&singles),
        mean(&clusters),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
