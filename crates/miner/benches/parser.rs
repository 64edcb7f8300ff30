//! SQL_REDO parser throughput on realistic 10-column statements (the acceptance target is
//! 1 GB/s of SQL_REDO per core). Results and machine notes go in `benches/README.md`.
//!
//! `cargo bench -p redoflow-miner --bench parser -- --warm-up-time 1 --measurement-time 3`
//!
//! Each group measures `parse` (a fresh statement of name/value pairs), and the writer's path
//! `parse_row` (straight into the table's row image, buffers reused).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use redoflow_miner::sql::{parse, parse_row, RowBuffers};
use redoflow_miner::{TableId, TableSchema};

/// Ten columns of the kinds LogMiner prints most: quoted and bare numbers, text (one with a
/// `''` escape), a DATE, a TIMESTAMP and NULLs.
fn statements(n: usize) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut ins = Vec::with_capacity(n);
    let mut upd = Vec::with_capacity(n);
    let mut del = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("Customer number {i} of the batch");
        let note = if i % 4 == 0 {
            "O''Brien, 12 Main St."
        } else {
            "12 Main St., Springfield"
        };
        let cols = r#""ID","NAME","ADDRESS","BALANCE","CREATED","UPDATED_AT","STATUS","REGION","SCORE","COMMENTS""#;
        ins.push(format!(
            "insert into \"SALES\".\"CUSTOMERS\"({cols}) values ('{i}','{name}','{note}',{b}.25,\
             TO_DATE('2024-01-{d:02} 03:04:05', 'YYYY-MM-DD HH24:MI:SS'),\
             TO_TIMESTAMP('2024-01-{d:02} 03:04:05.123456'),'ACTIVE','EU-WEST',{s},NULL);",
            b = i * 7,
            d = i % 28 + 1,
            s = i % 100,
        ));
        upd.push(format!(
            "update \"SALES\".\"CUSTOMERS\" set \"BALANCE\" = {b}.75, \"UPDATED_AT\" = \
             TO_TIMESTAMP('2024-02-{d:02} 10:11:12.000001') where \"ID\" = '{i}' and \"NAME\" = \
             '{name}' and \"ADDRESS\" = '{note}' and \"BALANCE\" = {b}.25 and \"CREATED\" = \
             TO_DATE('2024-01-{d:02} 03:04:05', 'YYYY-MM-DD HH24:MI:SS') and \"UPDATED_AT\" IS NULL \
             and \"STATUS\" = 'ACTIVE' and \"REGION\" = 'EU-WEST' and \"SCORE\" = {s} and \
             \"COMMENTS\" IS NULL and ROWID = 'AAAR3sAAEAAAACXAAA';",
            b = i * 7,
            d = i % 28 + 1,
            s = i % 100,
        ));
        del.push(format!(
            "delete from \"SALES\".\"CUSTOMERS\" where \"ID\" = '{i}' and \"NAME\" = '{name}' and \
             \"ADDRESS\" = '{note}' and \"BALANCE\" = {b}.25 and \"CREATED\" = \
             TO_DATE('2024-01-{d:02} 03:04:05', 'YYYY-MM-DD HH24:MI:SS') and \"UPDATED_AT\" = \
             TO_TIMESTAMP('2024-02-{d:02} 10:11:12.000001') and \"STATUS\" = 'ACTIVE' and \
             \"REGION\" = 'EU-WEST' and \"SCORE\" = {s} and \"COMMENTS\" IS NULL and ROWID = \
             'AAAR3sAAEAAAACXAAA';",
            b = i * 7,
            d = i % 28 + 1,
            s = i % 100,
        ));
    }
    (ins, upd, del)
}

fn bench(c: &mut Criterion) {
    let (ins, upd, del) = statements(1000);
    let names = [
        "ID",
        "NAME",
        "ADDRESS",
        "BALANCE",
        "CREATED",
        "UPDATED_AT",
        "STATUS",
        "REGION",
        "SCORE",
        "COMMENTS",
    ];
    let schema = TableSchema::from_names(TableId::new("SALES", "CUSTOMERS"), names, "VARCHAR2");
    let mut buffers = RowBuffers::default();
    for (group, stmts) in [("insert", &ins), ("update", &upd), ("delete", &del)] {
        let bytes: usize = stmts.iter().map(String::len).sum();
        for s in stmts {
            parse(s).expect("bench statements parse");
            parse_row(s, &schema, &mut buffers).expect("bench statements fit the table");
        }
        let mut g = c.benchmark_group(format!("parse/{group}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function("10 columns x1000", |b| {
            b.iter(|| {
                for s in stmts {
                    black_box(parse(black_box(s)).ok());
                }
            })
        });
        g.bench_function("parse_row 10 columns x1000", |b| {
            b.iter(|| {
                for s in stmts {
                    if let Ok(row) = parse_row(black_box(s), &schema, &mut buffers) {
                        black_box(&row.values);
                        row.recycle(&mut buffers);
                    }
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
