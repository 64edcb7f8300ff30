//! Transaction buffer and replay source throughput (rows/s).
//!
//! `cargo bench -p redoflow-miner --bench txn_buffer -- --warm-up-time 1 --measurement-time 3`

use std::io::Write;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};
use redoflow_miner::txn::TxnBufferConfig;
use redoflow_miner::{LogSource, OpCode, RedoRow, ReplaySource, ShortText, TxnBuffer};

const ROWS: usize = 1_000_000;

/// 1M rows: 50 transactions open at a time, 20 inserts each, interleaved round-robin.
fn interleaved_rows() -> Vec<RedoRow> {
    let mut rows = Vec::with_capacity(ROWS);
    let mut scn = 1u64;
    let mut txn = 0u64;
    while rows.len() < ROWS {
        let batch: Vec<Xid> = (0..50).map(|i| Xid((txn + i) << 32 | 7)).collect();
        txn += 50;
        for step in 0..22 {
            for &xid in &batch {
                scn += 1;
                let op = match step {
                    0 => OpCode::START,
                    21 => OpCode::COMMIT,
                    _ => OpCode::INSERT,
                };
                let sql = if op == OpCode::INSERT {
                    format!("insert into \"HR\".\"EMP\"(\"ID\",\"NAME\") values ({scn},'n{scn}');")
                } else {
                    String::new()
                };
                rows.push(RedoRow {
                    scn: Scn(scn),
                    xid,
                    op,
                    seg_owner: "HR".into(),
                    table_name: "EMP".into(),
                    row_id: ShortText::new(&format!("AAAR{scn:014}")).expect("18 bytes"),
                    sql_redo: sql,
                    thread: ThreadId(1),
                    ..RedoRow::default()
                });
            }
        }
    }
    rows.truncate(ROWS);
    rows
}

fn txn_buffer(c: &mut Criterion) {
    let rows = interleaved_rows();
    let mut g = c.benchmark_group("txn_buffer");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("push_1m_interleaved", |b| {
        b.iter_batched(
            || rows.clone(),
            |rows| {
                let mut buf = TxnBuffer::new(Offset::default());
                let mut n = 0usize;
                for row in rows {
                    if let Some(t) = buf.push(row).unwrap() {
                        n += t.changes.len();
                    }
                }
                n
            },
            BatchSize::PerIteration,
        )
    });
    // The same rows with a 64 KiB memory limit: most changes go to spill files and are read back
    // at commit (an upper bound on the cost of spilling: the real limit is 64 MiB).
    let spill = tempfile::tempdir().unwrap();
    g.bench_function("push_1m_interleaved_spill_64kib", |b| {
        b.iter_batched(
            || rows.clone(),
            |rows| {
                let config = TxnBufferConfig {
                    memory_limit_bytes: 64 << 10,
                    spill_dir: spill.path().to_path_buf(),
                    ..TxnBufferConfig::default()
                };
                let mut buf = TxnBuffer::with_config(Offset::default(), config);
                let mut n = 0usize;
                for row in rows {
                    if let Some(mut t) = buf.push(row).unwrap() {
                        for c in t.drain_changes() {
                            c.unwrap();
                            n += 1;
                        }
                    }
                }
                assert!(buf.stats().committed_spilled > 0);
                n
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contents.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        f,
        "SCN,TIMESTAMP,XID,OPERATION_CODE,SEG_OWNER,TABLE_NAME,ROW_ID,CSF,SQL_REDO,THREAD#"
    )
    .unwrap();
    for i in 0..ROWS as u64 {
        writeln!(
            f,
            "{},2024-03-01 10:00:00,{:016X},1,HR,EMP,AAAR{:014},0,\"insert into \"\"HR\"\".\"\"EMP\"\"(\"\"ID\"\",\"\"NAME\"\",\"\"SAL\"\") values ({i},'n{i}',{});\",1",
            1000 + i,
            (i % 64) << 32 | 7,
            i,
            i * 3
        )
        .unwrap();
    }
    drop(f);
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("read_1m_10col_inserts", |b| {
        let mut src = ReplaySource::open(&path, None).unwrap();
        let mut out = Vec::with_capacity(20_000);
        b.iter(|| {
            src.start_session(Scn(0)).unwrap();
            let mut read = Scn(0);
            let mut n = 0;
            while !src.is_finished() {
                let end = Scn(read.0 + 20_000);
                out.clear();
                src.fetch(read, end, &mut out).unwrap();
                n += out.len();
                read = end;
            }
            assert_eq!(n, ROWS);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, txn_buffer, replay);
criterion_main!(benches);
