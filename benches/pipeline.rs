//! End-to-end: `redoflow replay` (read export → transaction buffer → parse → CSV with the final
//! checkpoint fsynced) on a generated export of 10-column rows. Results in benches/README.md.

#[path = "support/export_gen.rs"]
mod export_gen;

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redoflow::{Config, Progress};

fn replay_bench(c: &mut Criterion) {
    let rows: u64 = std::env::var("REDOFLOW_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let contents = dir.path().join("logmnr_contents.csv");
    let columns = dir.path().join("all_tab_columns.csv");
    let truth = export_gen::write_export(
        BufWriter::new(File::create(&contents).expect("create")),
        rows,
        1,
    )
    .expect("generate");
    export_gen::write_columns(BufWriter::new(File::create(&columns).expect("create")))
        .expect("generate");

    let mut group = c.benchmark_group("pipeline");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(truth.rows));
    group.bench_function(format!("replay_{}_rows", truth.rows), |b| {
        let mut run = 0;
        b.iter(|| {
            run += 1;
            let mut cfg = Config::default();
            cfg.output.dir = dir.path().join(format!("out-{run}"));
            let summary = redoflow::replay(
                &cfg,
                &contents,
                Some(&columns),
                &redoflow::StopToken::new(),
                &Progress::default(),
            )
            .expect("replay");
            assert_eq!(summary.transactions, truth.committed_txns);
            std::fs::remove_dir_all(&cfg.output.dir).expect("cleanup");
        })
    });
    group.finish();
}

criterion_group!(benches, replay_bench);
criterion_main!(benches);
