//! One open transaction of 10 million ~200-byte changes, then its commit, drained through the
//! streaming API: time and peak memory of a buffer with the default 64 MiB limit spilling to a
//! temporary directory. Target: peak RSS under 256 MB.
//!
//! `cargo bench -p redoflow-miner --bench big_txn` (not criterion: one run, peak memory is the
//! point). `BIG_TXN_CHANGES=1000000` for a shorter run; `BIG_TXN_LIMIT_MIB` to change the limit.
//! Peak RSS is read from `/proc/self/status` (VmHWM) and can be checked with
//! `/usr/bin/time -v target/release/deps/big_txn-* --bench`.

use std::time::Instant;

use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};
use redoflow_miner::txn::{wipe_spill_dir, TxnBuffer, TxnBufferConfig};
use redoflow_miner::{OpCode, RedoRow, ShortText};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn row(scn: u64, op: OpCode, i: u64) -> RedoRow {
    let (row_id, sql_redo) = if op == OpCode::INSERT {
        (
            ShortText::new(&format!("AAAR{i:014}")).expect("18 bytes"),
            // ~200 bytes of SQL_REDO.
            format!(
                "insert into \"HR\".\"EMPLOYEES\"(\"ID\",\"NAME\",\"EMAIL\",\"SALARY\",\"HIRED\") values \
                 ({i},'employee {i:010}','e{i:010}@example.com',{},TO_DATE('2024-03-01 10:00:00', \
                 'YYYY-MM-DD HH24:MI:SS'));",
                i % 100_000
            ),
        )
    } else {
        (ShortText::default(), String::new())
    };
    RedoRow {
        scn: Scn(scn),
        xid: Xid(0x0001_0002_0000_0003),
        op,
        seg_owner: "HR".into(),
        table_name: "EMPLOYEES".into(),
        row_id,
        sql_redo,
        thread: ThreadId(1),
        ..RedoRow::default()
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: keep that short.
    let bench = std::env::args().any(|a| a == "--bench");
    let n = env("BIG_TXN_CHANGES", if bench { 10_000_000 } else { 20_000 });
    let limit = env("BIG_TXN_LIMIT_MIB", 64) << 20;
    let tmp = tempfile::tempdir().expect("temp dir");
    let spill_dir = tmp.path().join("spill");
    wipe_spill_dir(&spill_dir).expect("wipe");
    let config = TxnBufferConfig {
        memory_limit_bytes: limit as usize,
        spill_dir,
        ..TxnBufferConfig::default()
    };
    let mut buf = TxnBuffer::with_config(Offset::default(), config);

    let started = Instant::now();
    let mut scn = 1u64;
    buf.push(row(scn, OpCode::START, 0)).unwrap();
    let mut sql_bytes = 0u64;
    for i in 0..n {
        scn += 1;
        let r = row(scn, OpCode::INSERT, i);
        sql_bytes += r.sql_redo.len() as u64;
        assert!(buf.push(r).unwrap().is_none());
    }
    // Ten undo rows reaching back into spilled changes (a ROLLBACK TO SAVEPOINT's worth).
    let undos = 10.min(n);
    for k in 0..undos {
        scn += 1;
        let mut u = row(scn, OpCode::INSERT, (n / undos) * k);
        u.rollback = true;
        buf.push(u).unwrap();
    }
    let buffered = started.elapsed();
    let index = buf.spill_index_bytes();
    let stats = buf.stats().clone();
    scn += 1;
    let mut txn = buf.push(row(scn, OpCode::COMMIT, 0)).unwrap().unwrap();
    assert_eq!(txn.change_count() as u64, n - undos);
    let mut read = 0u64;
    let mut last = Scn(0);
    for c in txn.drain_changes() {
        let c = c.unwrap();
        assert!(c.scn > last);
        last = c.scn;
        read += 1;
    }
    assert_eq!(read, n - undos);
    let total = started.elapsed();
    let files = std::fs::read_dir(tmp.path().join("spill"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(files, 0, "spill file left behind");

    println!(
        "big_txn: {n} changes ({:.0} MB of SQL_REDO), limit {} MiB: buffer {:.1} s, \
         commit + drain {:.1} s, total {:.1} s ({:.0} changes/s); spills {}, spilled changes {}, \
         spill index {:.1} MB; peak RSS {:.1} MB",
        sql_bytes as f64 / 1e6,
        limit >> 20,
        buffered.as_secs_f64(),
        (total - buffered).as_secs_f64(),
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        stats.spills,
        stats.spilled_changes,
        index as f64 / 1e6,
        peak_rss_kib().map_or(f64::NAN, |k| k as f64 * 1024.0 / 1e6),
    );
}
