//! Bounded memory and retention of the transaction buffer: a buffer that spills (tiny memory
//! limit) commits exactly what an unbounded one commits; spill files go away; spill I/O errors
//! surface with the file and XID; old transactions are reported once and dropped only on request.

use std::time::Duration;

use proptest::prelude::*;
use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};
use redoflow_miner::txn::{
    Change, ChangeOp, CommittedTxn, FileSpillStore, MemSpillStore, TxnBuffer, TxnBufferConfig,
    TxnError,
};
use redoflow_miner::{OpCode, OraDateTime, RedoRow, ShortText};

mod common;
use common::*;

/// 2024-03-01 00:00:00 plus `secs`.
fn ts(secs: u64) -> OraDateTime {
    let (d, s) = (secs / 86_400, secs % 86_400);
    OraDateTime::new(
        2024,
        3,
        1 + d as u8,
        (s / 3600) as u8,
        (s / 60 % 60) as u8,
        (s % 60) as u8,
    )
    .unwrap()
}

fn config(limit: usize) -> TxnBufferConfig {
    TxnBufferConfig {
        memory_limit_bytes: limit,
        ..TxnBufferConfig::default()
    }
}

/// A committed transaction with its changes read back.
type Plain = (Xid, ThreadId, Scn, Scn, Option<OraDateTime>, Vec<Change>);

fn plain(mut t: CommittedTxn) -> Plain {
    let changes = t
        .drain_changes()
        .collect::<Result<Vec<_>, _>>()
        .expect("spill read back");
    (
        t.xid,
        t.thread,
        t.start_scn,
        t.commit_scn,
        t.commit_ts,
        changes,
    )
}

fn feed(buf: &mut TxnBuffer, rows: &[RedoRow]) -> Vec<Plain> {
    rows.iter()
        .filter_map(|row| buf.push(row.clone()).unwrap())
        .map(plain)
        .collect()
}

/// A random stream with longer transactions than the restart test's: interleaving, CSF pieces,
/// undo rows that reach far back (into spilled changes), unmatched undos, DDL, partial XIDs,
/// shared commit SCNs, rollbacks and markers, timestamps.
fn stream(seed: u64, txns: usize) -> Vec<RedoRow> {
    let mut rng = Rng(seed | 1);
    struct T {
        xid: Xid,
        thread: u16,
        steps: usize,
        row_ids: Vec<String>,
        pending_csf: usize,
    }
    let mut live: Vec<T> = Vec::new();
    let (mut next, mut scn, mut rows) = (0u64, 100u64, Vec::new());
    while next < txns as u64 || !live.is_empty() {
        if rng.below(3) == 0 {
            scn += 1 + rng.below(2);
        }
        if next < txns as u64 && (live.is_empty() || rng.below(8) == 0) {
            next += 1;
            let t = T {
                xid: x(next, rng.below(1000)),
                thread: 1 + rng.below(2) as u16,
                steps: 1 + rng.below(40) as usize,
                row_ids: Vec::new(),
                pending_csf: 0,
            };
            if rng.below(2) == 0 {
                rows.push(r(scn, t.xid, OpCode::START));
            }
            live.push(t);
            continue;
        }
        let i = rng.below(live.len() as u64) as usize;
        let t = &mut live[i];
        if t.pending_csf > 0 {
            t.pending_csf -= 1;
            let mut row = ins(scn, t.xid, "", &format!("+{scn}"));
            row.csf = t.pending_csf > 0;
            rows.push(row);
            continue;
        }
        if t.steps == 0 {
            let t = live.swap_remove(i);
            let mut end = match rng.below(10) {
                0 => r(scn, t.xid, OpCode::ROLLBACK),
                1 => r(scn, t.xid, OpCode::REPLICATION_MARKER),
                _ => r(scn, t.xid, OpCode::COMMIT),
            };
            if rng.below(6) == 0 {
                end.xid = partial(t.xid);
            }
            end.thread = ThreadId(t.thread);
            rows.push(end);
            continue;
        }
        t.steps -= 1;
        let xid = if rng.below(5) == 0 {
            partial(t.xid)
        } else {
            t.xid
        };
        match rng.below(10) {
            0 | 1 if !t.row_ids.is_empty() => {
                let k = rng.below(t.row_ids.len() as u64) as usize;
                let mut row = undo(ins(scn, xid, &t.row_ids[k], "undo "));
                if rng.below(4) == 0 {
                    row.csf = true;
                    t.pending_csf = 1;
                }
                rows.push(row);
            }
            2 if rng.below(3) == 0 => rows.push(undo(ins(scn, xid, "NOPE", "undo"))),
            3 if rng.below(3) == 0 => {
                let mut row = r(scn, xid, OpCode::DDL);
                row.sql_redo = format!("alter table t{scn} add c number");
                row.row_id = ShortText::new("R1").unwrap(); // DDL never matches an undo
                rows.push(row);
            }
            _ => {
                let rid = format!("R{}", rng.below(6));
                t.row_ids.push(rid.clone());
                let pad = "p".repeat(rng.below(60) as usize);
                let mut row = ins(scn, xid, &rid, &format!("{}@{scn}{pad}", t.xid));
                if rng.below(5) == 0 {
                    row.csf = true;
                    t.pending_csf = 1 + rng.below(2) as usize;
                }
                rows.push(row);
            }
        }
    }
    for (i, row) in rows.iter_mut().enumerate() {
        row.line = i as u64 + 2;
        row.timestamp = Some(ts(row.scn.0));
    }
    rows
}

fn unbounded(rows: &[RedoRow]) -> Vec<Plain> {
    feed(&mut TxnBuffer::new(Offset::default()), rows)
}

fn spilling(rows: &[RedoRow], limit: usize, store: &MemSpillStore) -> (Vec<Plain>, TxnBuffer) {
    let mut buf = TxnBuffer::with_store(Offset::default(), config(limit), Box::new(store.clone()));
    let out = feed(&mut buf, rows);
    (out, buf)
}

#[test]
fn spilled_and_unspilled_streams_commit_the_same() {
    let mut spilled_commits = 0;
    for seed in 1..60u64 {
        let rows = stream(seed * 7919, 20);
        let whole = unbounded(&rows);
        for limit in [0, 300, 2000] {
            let store = MemSpillStore::new();
            let (got, buf) = spilling(&rows, limit, &store);
            assert_eq!(got, whole, "seed {seed} limit {limit}");
            assert!(buf.buffered_bytes() <= limit.max(1000) || buf.open_transactions() > 0);
            spilled_commits += buf.stats().committed_spilled;
            assert_eq!(buf.open_transactions(), 0);
            assert!(store.live_files().is_empty(), "seed {seed}: files left");
        }
    }
    assert!(spilled_commits > 500, "too few spilled: {spilled_commits}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn a_tiny_memory_limit_changes_nothing(
        seed in any::<u64>(),
        txns in 1usize..30,
        limit in 0usize..3000,
    ) {
        let rows = stream(seed, txns);
        let store = MemSpillStore::new();
        let (got, _) = spilling(&rows, limit, &store);
        prop_assert_eq!(got, unbounded(&rows));
        prop_assert!(store.live_files().is_empty());
    }

    /// The restart property holds for a spilling buffer too.
    #[test]
    fn restarts_of_a_spilling_buffer_neither_lose_nor_duplicate(
        seed in any::<u64>(),
        txns in 1usize..20,
        cut in any::<prop::sample::Index>(),
    ) {
        let rows = stream(seed, txns);
        let whole = unbounded(&rows);
        let cut = cut.index(rows.len());
        let store = MemSpillStore::new();
        let mut buf = TxnBuffer::with_store(Offset::default(), config(200), Box::new(store.clone()));
        let mut out = feed(&mut buf, &rows[..cut]);
        let last = rows[cut.max(1) - 1].scn;
        let processed = if cut == 0 { Scn(0) }
            else if rows.get(cut).is_none_or(|r| r.scn > last) { last } else { last.prev() };
        let off = buf.offset(processed);
        drop(buf);
        prop_assert!(store.live_files().is_empty());
        let mut buf = TxnBuffer::with_store(off.clone(), config(200), Box::new(store.clone()));
        let pos = rows.partition_point(|r| r.scn <= off.resume_scn);
        out.extend(feed(&mut buf, &rows[pos..]));
        prop_assert_eq!(out, whole);
    }
}

/// One transaction, limit 0: every change spills; undo rows hit spilled changes (at the tail,
/// in the middle, past a DDL with the same ROW_ID, and after another spill).
#[test]
fn partial_rollback_of_spilled_changes_is_exact() {
    let a = x(1, 1);
    let mut ddl = r(14, a, OpCode::DDL);
    ddl.sql_redo = "ddl".into();
    ddl.row_id = ShortText::new("R1").unwrap();
    let rows = vec![
        ins(10, a, "R1", "first R1"),
        ins(11, a, "R2", "R2"),
        ins(12, a, "R1", "second R1"),
        ins(13, a, "R3", "R3"),
        ddl,
        undo(ins(15, a, "R1", "u")), // second R1 (spilled, middle)
        undo(ins(16, a, "R3", "u")), // R3 (spilled)
        ins(17, a, "R1", "third R1"),
        undo(ins(18, a, "R1", "u")), // third R1
        undo(ins(19, a, "R1", "u")), // first R1
        undo(ins(20, a, "R1", "u")), // nothing left on R1
        undo(ins(21, a, "", "u")),   // an empty ROW_ID never matches
        r(22, a, OpCode::COMMIT),
    ];
    let want = unbounded(&rows);
    let sqls: Vec<&str> = want[0].5.iter().map(|c| c.sql_redo.as_str()).collect();
    assert_eq!(sqls, ["R2", "ddl"]);
    let store = MemSpillStore::new();
    let (got, buf) = spilling(&rows, 0, &store);
    assert_eq!(got, want);
    let s = buf.stats();
    assert_eq!((s.partial_rollbacks, s.unmatched_undo), (4, 2));
    assert!(s.spills >= 5 && s.committed_spilled == 1, "{s:?}");
}

#[test]
fn iter_changes_reads_spilled_changes_again_and_tables_need_no_read() {
    let a = x(1, 1);
    let store = MemSpillStore::new();
    let mut buf = TxnBuffer::with_store(Offset::default(), config(400), Box::new(store.clone()));
    for i in 0..50u64 {
        let mut row = ins(10 + i, a, &format!("R{i}"), &format!("change {i:040}"));
        if i == 30 {
            row.table_name = "DEPT".into();
        }
        buf.push(row).unwrap();
    }
    assert!(buf.buffered_bytes() <= 400);
    assert!(buf.spilled_changes() > 0 && buf.spill_index_bytes() > 0);
    let t = buf.push(r(70, a, OpCode::COMMIT)).unwrap().unwrap();
    assert!(t.is_spilled() && !t.changes.is_empty());
    assert_eq!(t.change_count(), 50);
    assert_eq!(t.tables(), [("HR", "EMP"), ("HR", "DEPT")]);
    for _ in 0..2 {
        let got: Vec<u64> = t.iter_changes().map(|c| c.unwrap().scn.0).collect();
        assert_eq!(got, (10..60).collect::<Vec<_>>());
    }
    let copy = t.clone();
    assert_eq!(copy, t);
    drop(t);
    assert_eq!(store.live_files().len(), 1, "a clone still holds the file");
    assert_eq!(copy.into_changes().unwrap().len(), 50);
    assert!(store.live_files().is_empty());
}

#[test]
fn spill_files_on_disk_are_removed_at_commit_rollback_and_drop() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("spill");
    let cfg = TxnBufferConfig {
        spill_dir: dir.clone(),
        ..config(1000)
    };
    let mut buf = TxnBuffer::with_config(Offset::default(), cfg.clone());
    let (a, b, c) = (x(1, 1), x(2, 1), x(3, 1));
    let files = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert!(!dir.exists(), "created on first use only");
    for i in 0..300u64 {
        for xid in [a, b, c] {
            let sql = format!("{xid} change {i} {}", "x".repeat(100));
            buf.push(ins(10 + i, xid, &format!("R{i}"), &sql)).unwrap();
        }
    }
    let names = files();
    assert_eq!(names.len(), 3, "{names:?}");
    for (name, xid) in names.iter().zip([a, b, c]) {
        assert!(
            name.starts_with(&format!("{xid}-")) && name.ends_with(".bin"),
            "{name}"
        );
    }
    buf.push(r(400, b, OpCode::ROLLBACK)).unwrap();
    assert_eq!(files().len(), 2);
    let mut t = buf.push(r(401, a, OpCode::COMMIT)).unwrap().unwrap();
    assert_eq!(files().len(), 2, "kept until the changes are read");
    let drained: Result<Vec<Change>, TxnError> = t.drain_changes().collect();
    assert_eq!(drained.unwrap().len(), 300);
    assert_eq!(files().len(), 1);
    drop(buf);
    assert!(files().is_empty());
    // A later run wipes what a crash left behind.
    std::fs::write(dir.join(format!("{c}-9.bin")), b"stale").unwrap();
    assert_eq!(redoflow_miner::txn::wipe_spill_dir(&dir).unwrap(), 1);
    let store = FileSpillStore::new(&dir);
    assert_eq!(redoflow_miner::txn::SpillStore::dir(&store), dir.as_path());
}

#[test]
fn a_damaged_spill_file_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = TxnBufferConfig {
        spill_dir: tmp.path().to_path_buf(),
        ..config(0)
    };
    let a = x(1, 1);
    let mut buf = TxnBuffer::with_config(Offset::default(), cfg);
    for i in 0..10u64 {
        buf.push(ins(10 + i, a, &format!("R{i}"), "insert something"))
            .unwrap();
    }
    let mut t = buf.push(r(30, a, OpCode::COMMIT)).unwrap().unwrap();
    let path = t.spilled.as_ref().unwrap().path().to_path_buf();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let got: Vec<Result<Change, TxnError>> = t.drain_changes().collect();
    assert_eq!(got.len(), 10, "9 changes, then the error, then nothing");
    assert!(got[..9].iter().all(|c| c.is_ok()));
    let err = got[9].as_ref().unwrap_err();
    let TxnError::Spill { xid, path: p, .. } = err else {
        panic!("{err}")
    };
    assert_eq!((*xid, p), (a, &path));
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains(&a.to_string()),
        "{msg}"
    );
}

#[test]
fn read_and_write_failures_surface_and_stop_the_buffer() {
    let (a, b) = (x(1, 1), x(2, 1));
    let store = MemSpillStore::new();
    let mut buf = TxnBuffer::with_store(Offset::default(), config(0), Box::new(store.clone()));
    buf.push(ins(10, a, "R1", "a1")).unwrap();
    buf.push(ins(11, a, "R2", "a2")).unwrap();
    // An undo that has to read a spilled change back.
    store
        .faults()
        .fail_read
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let err = buf.push(undo(ins(12, a, "R1", "u"))).unwrap_err();
    assert!(
        matches!(&err, TxnError::Spill { xid, action: "read", .. } if *xid == a),
        "{err}"
    );
    assert!(err.to_string().contains("mem/"), "{err}");
    store
        .faults()
        .fail_read
        .store(false, std::sync::atomic::Ordering::Relaxed);
    // The buffer keeps failing: its state is unknown.
    assert_eq!(buf.push(r(13, a, OpCode::COMMIT)).unwrap_err(), err);

    let mut buf = TxnBuffer::with_store(Offset::default(), config(0), Box::new(store.clone()));
    store
        .faults()
        .fail_append
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let err = buf.push(ins(20, b, "R1", "b1")).unwrap_err();
    assert!(
        matches!(&err, TxnError::Spill { xid, action: "write", .. } if *xid == b),
        "{err}"
    );
    store
        .faults()
        .fail_append
        .store(false, std::sync::atomic::Ordering::Relaxed);
    store
        .faults()
        .fail_create
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let mut buf = TxnBuffer::with_store(Offset::default(), config(0), Box::new(store.clone()));
    let err = buf.push(ins(20, b, "R1", "b1")).unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot create a file in spill file mem"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Retention.

fn at(mut row: RedoRow, secs: u64) -> RedoRow {
    row.timestamp = Some(ts(secs));
    row
}

#[test]
fn old_transactions_are_reported_once_and_kept_by_default() {
    let (a, b) = (x(1, 1), x(2, 1));
    let hour = 3600;
    let mut buf = TxnBuffer::new(Offset::default());
    assert_eq!(buf.config().retention, Duration::from_secs(4 * hour));
    buf.push(at(ins(10, a, "R1", "a1"), 0)).unwrap();
    buf.push(at(ins(11, b, "R2", "b1"), hour)).unwrap();
    buf.push(at(ins(12, b, "R3", "b2"), 4 * hour - 1)).unwrap();
    assert!(buf.expired().is_empty());
    assert_eq!(buf.stats().expired_reported, 0);
    buf.push(at(ins(13, b, "R4", "b3"), 4 * hour)).unwrap();
    let e = buf.expired();
    assert_eq!(e.len(), 1);
    assert_eq!(
        (e[0].xid, e[0].start_scn, e[0].age, e[0].changes),
        (a, Scn(10), Duration::from_secs(4 * hour), 1)
    );
    assert_eq!(buf.stats().expired_reported, 1);
    for s in 1..5 {
        buf.push(at(ins(13 + s, b, "R5", "b"), 4 * hour + s))
            .unwrap();
    }
    assert_eq!(buf.stats().expired_reported, 1, "reported once");
    buf.push(at(ins(20, b, "R6", "b"), 5 * hour)).unwrap();
    assert_eq!(buf.stats().expired_reported, 2);
    assert_eq!(buf.expired().len(), 2);
    assert_eq!(buf.offset(Scn(20)).resume_scn, Scn(9), "kept");
    let t = buf.push(at(r(21, a, OpCode::COMMIT), 5 * hour)).unwrap();
    assert_eq!(t.unwrap().changes.len(), 1);
    assert_eq!(buf.stats().expired_dropped, 0);
}

#[test]
fn old_transactions_are_dropped_only_when_configured() {
    let (a, b) = (x(1, 1), x(2, 1));
    let cfg = TxnBufferConfig {
        retention: Duration::from_secs(60),
        drop_expired: true,
        ..TxnBufferConfig::unbounded()
    };
    let store = MemSpillStore::new();
    let mut buf = TxnBuffer::with_store(Offset::default(), cfg, Box::new(store.clone()));
    buf.push(at(r(10, a, OpCode::START), 0)).unwrap();
    buf.push(at(ins(11, a, "R1", "a1"), 1)).unwrap();
    buf.push(at(ins(12, b, "R2", "b1"), 30)).unwrap();
    // `a` opened at its first change (SCN 11), not at its START (DBZ-7473).
    assert_eq!(buf.offset(Scn(12)).resume_scn, Scn(10));
    buf.push(at(ins(13, b, "R3", "b2"), 61)).unwrap();
    let s = buf.stats().clone();
    assert_eq!((s.expired_reported, s.expired_dropped), (1, 1));
    assert_eq!(buf.open_transactions(), 1);
    assert_eq!(
        buf.offset(Scn(13)).resume_scn,
        Scn(11),
        "moved past the dropped one"
    );
    // Later rows of the dropped transaction, under its partial XID too, are ignored, and its
    // commit is recorded so a restart skips it.
    buf.push(at(ins(14, partial(a), "R4", "a2"), 62)).unwrap();
    buf.push(at(ins(15, a, "R5", "a3"), 62)).unwrap();
    assert_eq!(buf.push(at(r(16, a, OpCode::COMMIT), 62)).unwrap(), None);
    assert_eq!(buf.stats().expired_rows_ignored, 3);
    assert_eq!(buf.open_transactions(), 1);
    assert!(buf.offset(Scn(16)).should_skip(ThreadId(1), Scn(16), a));
    let t = buf.push(at(r(17, b, OpCode::COMMIT), 63)).unwrap().unwrap();
    assert_eq!(t.changes.len(), 2);
}

/// A checkpoint taken after a transaction was dropped and before its end: after a restart
/// from it, the dropped transaction's remaining rows are still ignored, never written as a
/// partial transaction.
#[test]
fn a_dropped_transaction_stays_dropped_across_a_restart() {
    let (a, b) = (x(1, 1), x(2, 1));
    let cfg = TxnBufferConfig {
        retention: Duration::from_secs(60),
        drop_expired: true,
        ..TxnBufferConfig::unbounded()
    };
    let mut buf = TxnBuffer::with_store(
        Offset::default(),
        cfg.clone(),
        Box::new(MemSpillStore::new()),
    );
    buf.push(at(r(10, a, OpCode::START), 0)).unwrap();
    buf.push(at(ins(11, a, "R1", "a1"), 1)).unwrap();
    buf.push(at(ins(12, b, "R2", "b1"), 61)).unwrap();
    assert_eq!(buf.stats().expired_dropped, 1);
    let checkpoint = buf.offset(Scn(12));
    assert!(checkpoint.dropped_xids.contains(&a));
    // Restart: the rows after the checkpoint's resume SCN come again.
    let mut again = TxnBuffer::with_store(checkpoint.clone(), cfg, Box::new(MemSpillStore::new()));
    let rows = [
        at(ins(12, b, "R2", "b1"), 61),
        at(ins(13, a, "R3", "a2"), 62),
        at(r(14, a, OpCode::COMMIT), 62),
        at(r(15, b, OpCode::COMMIT), 63),
    ];
    let out: Vec<_> = rows
        .into_iter()
        .filter_map(|row| again.push(row).unwrap())
        .collect();
    assert_eq!(out.len(), 1, "only b: a was dropped before the restart");
    assert_eq!(out[0].xid, b);
    assert!(
        again.offset(Scn(15)).dropped_xids.is_empty(),
        "a's end was seen"
    );
}

#[test]
fn the_default_config_is_bounded_and_new_is_not() {
    let d = TxnBufferConfig::default();
    assert_eq!(d.memory_limit_bytes, 64 << 20);
    assert!(!d.drop_expired);
    assert!(d.spill_dir.ends_with("redoflow-spill"));
    assert_eq!(
        TxnBuffer::new(Offset::default()).config(),
        &TxnBufferConfig::unbounded()
    );
}

/// A spilled change keeps an unknown OPERATION_CODE (it is read back as it was buffered).
#[test]
fn unknown_operations_survive_a_spill() {
    let a = x(1, 1);
    let mut rows = vec![start(10, a)];
    for i in 0..50u64 {
        let mut row = ins(11 + i, a, &format!("R{i}"), &"v".repeat(200));
        if i % 7 == 3 {
            row.op = OpCode(4321);
        }
        rows.push(row);
    }
    rows.push(commit(100, a));
    let store = MemSpillStore::new();
    let (spilled, buf) = spilling(&rows, 2_000, &store);
    assert!(buf.stats().spills > 0, "nothing spilled");
    assert_eq!(spilled, unbounded(&rows));
    let unknown = spilled[0]
        .5
        .iter()
        .filter(|c| c.op == ChangeOp::Unknown(4321))
        .count();
    assert_eq!(unknown, 7);
}
