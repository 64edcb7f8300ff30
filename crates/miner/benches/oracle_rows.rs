//! Converting recorded V$LOGMNR_CONTENTS rows to `RedoRow` through the row-access trait (the
//! same function that converts driver rows). Reports time per row.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use redoflow_miner::oracle::rows::{convert_row, read_recorded, RecordedRow, RowScratch};

fn rows() -> Vec<RecordedRow> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/oracle/contents_rows.csv"
    ))
    .expect("recorded rows");
    let one = read_recorded(&text).expect("parse recorded rows");
    // 10,000 rows, the default fetch array.
    one.iter().cycle().take(10_000).cloned().collect()
}

fn bench(c: &mut Criterion) {
    let rows = rows();
    let mut g = c.benchmark_group("oracle_rows");
    g.throughput(Throughput::Elements(rows.len() as u64));
    g.bench_function("convert_10k", |b| {
        let mut out = Vec::with_capacity(rows.len());
        let mut buf = RowScratch::default();
        b.iter(|| {
            out.clear();
            for r in &rows {
                out.push(convert_row(r, &mut buf).expect("row"));
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
