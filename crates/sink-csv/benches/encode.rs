//! Throughput of the CSV sink: 10-column rows (numbers, text, dates, timestamps, NULLs) written
//! through `CsvSink::write_row` into a temp dir (fsync off), `prepare` once per batch; and
//! 10-column SQL_REDO statements (INSERT, UPDATE, DELETE as LogMiner prints them) turned into
//! CSV lines by `CsvSink::write_statement` (the writer's fast path) and by the parser followed
//! by `write_row` (the general path).

use std::borrow::Cow;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redoflow_checkpoint::{CheckpointId, Scn, Term, Xid};
use redoflow_miner::schema::{Column, TableId, TableSchema};
use redoflow_miner::sql::{parse_row, RowBuffers};
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

/// A sink under `root`: 128 MiB files, no fsync.
fn config(root: &std::path::Path) -> SinkConfig {
    SinkConfig {
        root: root.to_path_buf(),
        max_file_bytes: 128 * 1024 * 1024,
        missing_marker: SinkConfig::DEFAULT_MISSING_MARKER.to_string(),
        fsync: false,
    }
}

fn bench_write_rows(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
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

    let mut sink = CsvSink::open(config, Term(1), CheckpointId(1)).unwrap();
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

/// An INSERT, an UPDATE and a DELETE of [`schema`]'s table in LogMiner's layout, for row `i`.
fn statements(i: u64) -> [String; 3] {
    let table = r#""HR"."EMP""#;
    let row = |id: u64| {
        [
            ("ID", format!("'{id}'")),
            ("NAME", "'Jane O''Brien'".to_string()),
            ("EMAIL", "'jane.obrien@example.com'".to_string()),
            ("SALARY", "12345.67".to_string()),
            (
                "HIRED",
                "TO_DATE('2024-03-15 13:45:07', 'YYYY-MM-DD HH24:MI:SS')".to_string(),
            ),
            (
                "UPDATED_AT",
                "TO_TIMESTAMP('2024-03-15 13:45:07.123456')".to_string(),
            ),
            ("NOTE", "'promoted, see \"HR-1234\"'".to_string()),
            ("DEPT_ID", "'42'".to_string()),
            ("BONUS", "NULL".to_string()),
            ("ADDRESS", "'12 Rue de la Paix 75002 Paris'".to_string()),
        ]
    };
    let r = row(100_000 + i);
    let names: Vec<String> = r.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let values: Vec<&str> = r.iter().map(|(_, v)| v.as_str()).collect();
    let conditions: Vec<String> = r
        .iter()
        .map(|(n, v)| {
            if v == "NULL" {
                format!("\"{n}\" IS NULL")
            } else {
                format!("\"{n}\" = {v}")
            }
        })
        .collect();
    let conditions = conditions.join(" and ");
    [
        format!(
            "insert into {table}({}) values ({});",
            names.join(","),
            values.join(",")
        ),
        format!("update {table} set \"SALARY\" = 13000, \"NOTE\" = NULL where {conditions};"),
        format!("delete from {table} where {conditions};"),
    ]
}

fn bench_statements(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let emp = schema("EMP");
    let at = OraDateTime::new(2024, 3, 15, 13, 45, 7).unwrap();
    let statements: Vec<[String; 3]> = (0..1000).map(statements).collect();
    let mut sink = CsvSink::open(config, Term(1), CheckpointId(1)).unwrap();
    let mut group = c.benchmark_group("statement_to_csv");
    group.throughput(Throughput::Elements(BATCH));
    for fast in [true, false] {
        let name = if fast {
            "write_statement_10_cols"
        } else {
            "parse_row_then_write_row_10_cols"
        };
        let mut buffers = RowBuffers::default();
        group.bench_function(name, |b| {
            let mut scn = 1_000_000u64;
            b.iter(|| {
                for i in 0..BATCH {
                    scn += 1;
                    let kind = (i % 3) as usize;
                    let meta = RowMeta {
                        op: [RowOp::Insert, RowOp::Update, RowOp::Delete][kind],
                        scn: Scn(scn),
                        commit_scn: Scn(scn + 3),
                        commit_ts: Some(at),
                        xid: Xid(0x000A_0010_0000_1234 + (i >> 4)),
                    };
                    let sql = &statements[(i % 1000) as usize][kind];
                    if fast && sink.write_statement(&emp, &meta, sql).unwrap() {
                        continue;
                    }
                    let row = parse_row(sql, &emp, &mut buffers).unwrap();
                    sink.write_row(&emp, &meta, &row.values).unwrap();
                    row.recycle(&mut buffers);
                }
                for f in sink.prepare().unwrap() {
                    std::fs::remove_file(dir.path().join(&f.inprogress_path)).unwrap();
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_write_rows, bench_statements);
criterion_main!(benches);
