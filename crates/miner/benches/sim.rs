//! Simulated database generation speed: rows/s through `fetch` in windows of 20000 SCNs.
//!
//! `cargo bench -p redoflow-miner --bench sim -- --warm-up-time 1 --measurement-time 5`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redoflow_checkpoint::Scn;
use redoflow_miner::{LogSource, SimCatalog, SimConfig, SimSource};

const WINDOW: u64 = 20_000;
const WINDOWS: u64 = 10;

fn generate(c: &mut Criterion) {
    for catalog in [SimCatalog::Mixed, SimCatalog::TenColumns] {
        generate_catalog(c, catalog);
    }
}

fn generate_catalog(c: &mut Criterion, catalog: SimCatalog) {
    let config = SimConfig {
        catalog,
        ..SimConfig::default()
    };
    let start = config.start_scn;
    // Rows per iteration, measured once.
    let mut probe = SimSource::new(config.clone()).expect("config");
    let mut rows = Vec::new();
    for w in 0..WINDOWS {
        let read = start + w * WINDOW;
        probe
            .fetch(Scn(read), Scn(read + WINDOW), &mut rows)
            .expect("fetch");
    }
    let per_iter = rows.len() as u64;
    let mut group = c.benchmark_group("sim");
    group.throughput(Throughput::Elements(per_iter));
    group.bench_function(format!("fetch_20000_scn_windows_{catalog:?}"), |b| {
        // One source that keeps going forward, as the miner uses it.
        let mut src = SimSource::new(config.clone()).expect("config");
        let mut read = start;
        let mut out = Vec::with_capacity(per_iter as usize / 4);
        b.iter(|| {
            for _ in 0..WINDOWS {
                out.clear();
                src.fetch(Scn(read), Scn(read + WINDOW), &mut out)
                    .expect("fetch");
                read += WINDOW;
            }
            out.len()
        })
    });
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
