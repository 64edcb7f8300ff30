//! Throughput of the CSV sink: 10-column rows (numbers, text, dates, timestamps, NULLs) written
//! through `CsvSink::write_row` into a temp dir (fsync off), `prepare` once per batch.

use std::borrow::Cow;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redoflow_checkpoint::{Scn, Xid};
use redoflow_miner::schema::{Column, TableId, TableSchema};
use redoflow_miner::value::{OraDateTime, Value};
use redoflow_sink_csv::{CsvSink, RowMeta, RowOp, SinkConfig};

const BATCH: u64 = 100_000;

fn schema(name: &str) -> TableSchema {
    let cols = [
        ("ID", "NUMBER"),
        ("NAME", "VARCHAR2"),
        ("EMAIL", "VARCHAR2"),
        ("SALARY", "NUMBER"),
        ("HIRED", "DATE"),
        ("UPDATED_AT", "TIMESTAMP(6)"),
        ("NOTE", "VARCHAR2"),
        ("DEPT_ID", "NUMBER"),
        ("BONUS", "NUMBER"),
        ("ADDRESS", "VARCHAR2"),
    ];
    TableSchema::new(
        TableId::new("HR", name),
        cols.iter()
            .enumerate()
            .map(|(i, (n, t))| Column {
                name: n.to_string(),
                data_type: t.to_string(),
                column_id: i as u32 + 1,
            })
            .collect(),
    )
}

fn bench_write_rows(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = SinkConfig {
        root: dir.path().to_path_buf(),
        max_file_bytes: 128 * 1024 * 1024,
        missing_marker: "__MISSING__".to_string(),
        fsync: false,
    };
    let schemas = [schema("EMP"), schema("EMP_HIST")];
    let at = OraDateTime::new(2024, 3, 15, 13, 45, 7).unwrap();
    let ids: Vec<String> = (0..1000).map(|i| (100_000 + i * 7).to_string()).collect();
    let name = Value::Text(Cow::Borrowed("Jane O'Brien"));
    let email = Value::Text(Cow::Borrowed("jane.obrien@example.com"));
    let salary = Value::Number("12345.67");
    let hired = Value::Date(at);
    let updated = Value::Timestamp {
        at,
        fraction: "123456",
        tz: None,
    };
    let note = Value::Text(Cow::Borrowed("promoted, see \"HR-1234\""));
    let dept = Value::Number("42");
    let address = Value::Text(Cow::Borrowed("12 Rue de la Paix\n75002 Paris ✓"));

    let mut sink = CsvSink::open(config, 1, 1).unwrap();
    let mut group = c.benchmark_group("csv_sink");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("write_row_10_cols", |b| {
        let mut scn = 1_000_000u64;
        b.iter(|| {
            for i in 0..BATCH {
                scn += 1;
                let id = Value::Number(&ids[(i % 1000) as usize]);
                let meta = RowMeta {
                    op: if i % 5 == 0 {
                        RowOp::Update
                    } else {
                        RowOp::Insert
                    },
                    scn: Scn(scn),
                    commit_scn: Scn(scn + 3),
                    commit_ts: Some(at),
                    xid: Xid(0x000A_0010_0000_1234 + (i >> 4)),
                };
                let values = [
                    Some(&id),
                    Some(&name),
                    Some(&email),
                    Some(&salary),
                    Some(&hired),
                    Some(&updated),
                    if i % 3 == 0 {
                        Some(&Value::Null)
                    } else {
                        Some(&note)
                    },
                    Some(&dept),
                    if i % 2 == 0 { None } else { Some(&Value::Null) },
                    Some(&address),
                ];
                sink.write_row(&schemas[(i & 1) as usize], &meta, &values)
                    .unwrap();
            }
            // Flush and close the batch's files, then drop them so the disk does not fill up.
            for f in sink.prepare().unwrap() {
                std::fs::remove_file(dir.path().join(&f.inprogress_path)).unwrap();
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench_write_rows);
criterion_main!(benches);
