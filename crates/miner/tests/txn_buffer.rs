//! Table-driven tests of the transaction buffer, and the restart property: output before a
//! checkpoint + output after restarting from it = output of one uninterrupted run.

use proptest::prelude::*;
use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};
use redoflow_miner::txn::{ChangeOp, CommittedTxn, TxnBuffer, TxnError};
use redoflow_miner::{OpCode, RedoRow};

mod common;
use common::*;

/// Runs rows through a fresh buffer: (xid, commit scn, [sql]) per committed transaction.
fn run(rows: Vec<RedoRow>) -> (Vec<(Xid, u64, Vec<String>)>, TxnBuffer) {
    let mut b = TxnBuffer::new(Offset::default());
    let mut out = Vec::new();
    for row in rows {
        if let Some(t) = b.push(row).expect("consistent stream") {
            out.push((
                t.xid,
                t.commit_scn.0,
                t.changes.into_iter().map(|c| c.sql_redo).collect(),
            ));
        }
    }
    (out, b)
}

fn sqls(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn table() {
    let (a, b, c) = (x(1, 1), x(2, 1), x(3, 1));
    struct Case {
        name: &'static str,
        rows: Vec<RedoRow>,
        want: Vec<(Xid, u64, Vec<String>)>,
    }
    let cases = vec![
        Case {
            name: "interleaved transactions come out in commit order",
            rows: vec![
                start(10, a),
                start(11, b),
                ins(12, a, "R1", "a1"),
                ins(13, b, "R2", "b1"),
                ins(14, a, "R3", "a2"),
                commit(15, b),
                ins(16, a, "R4", "a3"),
                commit(17, a),
            ],
            want: vec![(b, 15, sqls(&["b1"])), (a, 17, sqls(&["a1", "a2", "a3"]))],
        },
        Case {
            name: "rollback and replication marker drop their transactions",
            rows: vec![
                ins(10, a, "R1", "a1"),
                ins(11, b, "R2", "b1"),
                ins(12, c, "R3", "c1"),
                rollback(13, a),
                r(14, b, OpCode::REPLICATION_MARKER),
                commit(15, b),
                commit(16, c),
            ],
            want: vec![(c, 16, sqls(&["c1"]))],
        },
        Case {
            name: "partial rollback removes only the latest matching change",
            rows: vec![
                ins(10, a, "R1", "first R1"),
                ins(11, a, "R2", "R2"),
                ins(12, a, "R1", "second R1"),
                ins(13, a, "R3", "R3"),
                undo(ins(14, a, "R1", "undo")),
                commit(15, a),
            ],
            want: vec![(a, 15, sqls(&["first R1", "R2", "R3"]))],
        },
        Case {
            name: "partial rollbacks in reverse order empty the tail",
            rows: vec![
                ins(10, a, "R1", "keep"),
                ins(11, a, "R2", "x2"),
                ins(12, a, "R3", "x3"),
                undo(ins(13, a, "R3", "u")),
                undo(ins(14, a, "R2", "u")),
                ins(15, a, "R4", "after"),
                commit(16, a),
            ],
            want: vec![(a, 16, sqls(&["keep", "after"]))],
        },
        Case {
            name: "undo without a match emits nothing",
            rows: vec![
                ins(10, a, "R1", "a1"),
                undo(ins(11, a, "R9", "u")),
                commit(12, a),
            ],
            want: vec![(a, 12, sqls(&["a1"]))],
        },
        Case {
            name: "CSF pieces are stitched per XID across interleaving",
            rows: vec![
                csf(ins(10, a, "R1", "insert into A ")),
                csf(ins(10, b, "R2", "insert into B ")),
                csf(ins(11, a, "R1", "values (1, ")),
                ins(11, b, "R2", "values (2);"),
                ins(12, a, "R1", "'x');"),
                commit(13, a),
                commit(13, b),
            ],
            want: vec![
                (a, 13, sqls(&["insert into A values (1, 'x');"])),
                (b, 13, sqls(&["insert into B values (2);"])),
            ],
        },
        Case {
            name: "stitched undo row undoes",
            rows: vec![
                ins(10, a, "R1", "a1"),
                ins(11, a, "R2", "a2"),
                csf(undo(ins(12, a, "R1", "delete "))),
                ins(12, a, "R1", "rest"),
                commit(13, a),
            ],
            want: vec![(a, 13, sqls(&["a2"]))],
        },
        Case {
            name: "partial XIDs match the most recently started open transaction",
            rows: vec![
                // Transactions open at their first change (DBZ-7473), not at START.
                start(9, a),
                ins(10, a, "R0", "a0"),
                ins(11, x(1, 2), "R5", "later0"), // same prefix as `a`, started later
                ins(12, partial(a), "R1", "to the later"),
                ins(13, a, "R2", "a"),
                commit(14, a),
                commit(15, x(1, 2)),
                ins(16, partial(b), "R3", "own"),
                ins(17, b, "R4", "b adopts"),
                commit(18, b),
            ],
            want: vec![
                (a, 14, sqls(&["a0", "a"])),
                (x(1, 2), 15, sqls(&["later0", "to the later"])),
                (b, 18, sqls(&["own", "b adopts"])),
            ],
        },
        Case {
            name: "missing SCN, unsupported, LOB and unknown codes keep going",
            rows: vec![
                ins(10, a, "R1", "a1"),
                r(11, a, OpCode::MISSING_SCN),
                r(12, a, OpCode::UNSUPPORTED),
                r(13, a, OpCode::LOB_WRITE),
                r(14, a, OpCode::SELECT_FOR_UPDATE),
                r(15, a, OpCode(99)),
                commit(16, a),
            ],
            want: vec![(a, 16, sqls(&["a1"]))],
        },
        Case {
            name: "empty and unknown commits write nothing",
            rows: vec![start(10, a), commit(11, a), commit(12, b)],
            want: vec![],
        },
    ];
    for case in cases {
        let (got, _) = run(case.rows);
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn stats_and_offsets_of_dropped_and_empty_transactions() {
    let (a, b) = (x(1, 1), x(2, 1));
    let (_, buf) = run(vec![
        ins(10, a, "R1", "a"),
        undo(ins(11, a, "R1", "u")),
        undo(ins(12, a, "R1", "u")),
        r(13, a, OpCode::MISSING_SCN),
        r(14, a, OpCode::UNSUPPORTED),
        r(15, a, OpCode::LOB_TRIM),
        commit(16, a), // no live change left: recorded, not returned
        ins(17, b, "R1", "b"),
        rollback(18, b),
    ]);
    let s = buf.stats();
    assert_eq!(s.rows_seen, 9);
    assert_eq!((s.committed, s.committed_empty, s.rolled_back), (0, 1, 1));
    assert_eq!((s.partial_rollbacks, s.unmatched_undo), (1, 1));
    assert_eq!((s.missing_scn, s.unsupported, s.ignored), (1, 1, 1));
    assert_eq!(buf.open_transactions(), 0);
    assert_eq!(buf.buffered_bytes(), 0);
    let off = buf.offset(Scn(20));
    assert_eq!(off.resume_scn, Scn(20));
    assert!(off.should_skip(ThreadId(1), Scn(16), a));
}

#[test]
fn commit_with_a_pending_piece_is_an_error() {
    let a = x(1, 1);
    let mut b = TxnBuffer::new(Offset::default());
    b.push(csf(ins(10, a, "R1", "insert "))).unwrap();
    let err = b.push(commit(12, a)).unwrap_err();
    let TxnError::Inconsistent { scn, xid, line, .. } = &err else {
        panic!("not an inconsistency: {err}");
    };
    assert_eq!((*scn, *xid, *line), (Scn(12), a, 12));
    assert!(err.to_string().contains("0001000100000001"), "{err}");
}

/// A rolled-back transaction loses nothing by dropping its unfinished statement.
#[test]
fn rollback_with_a_pending_piece_drops_it() {
    let a = x(1, 1);
    let mut b = TxnBuffer::new(Offset::default());
    b.push(csf(ins(10, a, "R1", "insert "))).unwrap();
    assert_eq!(b.push(rollback(12, a)).unwrap(), None);
    assert_eq!(b.open_transactions(), 0);
    assert_eq!(b.buffered_bytes(), 0);
}

#[test]
fn change_fields_come_from_the_first_piece() {
    let a = x(1, 1);
    let mut b = TxnBuffer::new(Offset::default());
    let mut first = csf(ins(10, a, "R1", "update x "));
    first.op = OpCode::UPDATE;
    b.push(first).unwrap();
    b.push(ins(11, a, "R2", "set y")).unwrap();
    let mut ddl = r(12, a, OpCode::DDL);
    ddl.sql_redo = "create table t (c number)".into();
    b.push(ddl).unwrap();
    assert!(b.buffered_bytes() > 0);
    let mut c = commit(13, a);
    c.thread = ThreadId(2);
    let t: CommittedTxn = b.push(c).unwrap().unwrap();
    assert_eq!(
        (t.thread, t.start_scn, t.commit_scn),
        (ThreadId(2), Scn(10), Scn(13))
    );
    let ch = &t.changes[0];
    assert_eq!(
        (ch.scn, ch.op, ch.row_id.as_str(), ch.line),
        (Scn(10), ChangeOp::Update, "R1", 10)
    );
    assert_eq!((&*ch.owner, &*ch.table), ("HR", "EMP"));
    assert_eq!(ch.sql_redo, "update x set y");
    assert_eq!(t.changes[1].op, ChangeOp::Ddl);
    assert_eq!(b.buffered_bytes(), 0);
}

#[test]
fn offset_resumes_before_the_oldest_open_transaction() {
    let (a, b) = (x(1, 1), x(2, 1));
    let mut buf = TxnBuffer::new(Offset::default());
    buf.push(start(10, a)).unwrap();
    // Opened at its first change (DBZ-7473): the START row alone holds nothing back.
    assert_eq!(buf.offset(Scn(10)).resume_scn, Scn(10));
    buf.push(ins(10, a, "R", "a")).unwrap();
    buf.push(ins(12, b, "R", "b")).unwrap();
    assert_eq!(buf.offset(Scn(15)).resume_scn, Scn(9));
    buf.push(commit(16, a)).unwrap();
    assert_eq!(buf.offset(Scn(16)).resume_scn, Scn(11));
    buf.push(commit(17, b)).unwrap();
    let off = buf.offset(Scn(17));
    assert_eq!(off.resume_scn, Scn(17));
    assert_eq!(off.threads[&ThreadId(1)].commit_scn, Scn(17));
}

// ---------------------------------------------------------------------------------------------
// Restart property.

/// A random LogMiner stream: interleaved transactions on two threads with START or implicit
/// opens, CSF pieces, undo rows, partial XIDs, several commits per SCN, rollbacks and markers.
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
    let mut next = 0u64;
    let mut scn = 100u64;
    let mut rows = Vec::new();
    while next < txns as u64 || !live.is_empty() {
        if rng.below(3) == 0 {
            scn += 1 + rng.below(2); // 0 or more rows per SCN
        }
        if next < txns as u64 && (live.is_empty() || rng.below(4) == 0) {
            next += 1;
            let t = T {
                xid: x(next, rng.below(1000)),
                thread: 1 + rng.below(2) as u16,
                steps: 1 + rng.below(6) as usize,
                row_ids: Vec::new(),
                pending_csf: 0,
            };
            if rng.below(2) == 0 {
                rows.push(start(scn, t.xid));
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
            let mut end = match rng.below(8) {
                0 => rollback(scn, t.xid),
                1 => r(scn, t.xid, OpCode::REPLICATION_MARKER),
                _ => commit(scn, t.xid),
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
        if !t.row_ids.is_empty() && rng.below(4) == 0 {
            let k = rng.below(t.row_ids.len() as u64) as usize;
            rows.push(undo(ins(scn, xid, &t.row_ids[k], "undo")));
            continue;
        }
        let rid = format!("R{}", rng.below(3));
        t.row_ids.push(rid.clone());
        let mut row = ins(scn, xid, &rid, &format!("{}@{scn}", t.xid));
        if rng.below(4) == 0 {
            row.csf = true;
            t.pending_csf = 1 + rng.below(2) as usize;
        }
        rows.push(row);
    }
    for (i, row) in rows.iter_mut().enumerate() {
        row.line = i as u64 + 2;
    }
    rows
}

fn uninterrupted(rows: &[RedoRow]) -> Vec<CommittedTxn> {
    let mut b = TxnBuffer::new(Offset::default());
    rows.iter()
        .filter_map(|row| b.push(row.clone()).unwrap())
        .collect()
}

/// Feeds `rows`, checkpointing after each index in `cuts` and restarting a new buffer from the
/// checkpoint's offset with the rows after its resume SCN.
fn with_restarts(rows: &[RedoRow], cuts: &[usize]) -> Vec<CommittedTxn> {
    let mut out = Vec::new();
    let mut buf = TxnBuffer::new(Offset::default());
    let mut pos = 0;
    for &cut in cuts.iter().chain(std::iter::once(&rows.len())) {
        while pos < cut {
            out.extend(buf.push(rows[pos].clone()).unwrap());
            pos += 1;
        }
        if cut == 0 || cut == rows.len() {
            continue;
        }
        // Everything up to the last SCN fully fed has been processed.
        let last = rows[cut - 1].scn;
        let processed = if rows[cut].scn > last {
            last
        } else {
            last.prev()
        };
        let off = buf.offset(processed);
        // A restart: a new buffer and a new mining session after resume_scn.
        buf = TxnBuffer::new(off.clone());
        pos = rows.partition_point(|r| r.scn <= off.resume_scn);
        assert!(pos <= cut);
    }
    out
}

#[test]
fn restart_with_open_transactions_and_shared_commit_scn() {
    let (a, b, c, d) = (x(1, 1), x(2, 1), x(3, 1), x(4, 1));
    let rows = vec![
        start(10, a),
        ins(11, a, "R1", "a1"),
        ins(12, b, "R2", "b1"),
        ins(12, c, "R3", "c1"),
        commit(13, b),
        ins(13, d, "R4", "d1"),
        commit(14, c),
        commit(14, d),
        ins(15, a, "R5", "a2"),
        commit(16, a),
    ];
    let whole = uninterrupted(&rows);
    assert_eq!(whole.len(), 4);
    for cut in 1..rows.len() {
        assert_eq!(with_restarts(&rows, &[cut]), whole, "cut after row {cut}");
    }
    assert_eq!(with_restarts(&rows, &[2, 5, 7, 8, 9]), whole);
}

/// A restart re-reads the tail of a transaction that started before the resume SCN and ended
/// before the checkpoint: its undo rows undo changes that are not read again. They are expected
/// when the transaction writes nothing (its commit is skipped, or it rolls back), and counted as
/// unmatched (a warning) only when a transaction is written without the change it undid.
#[test]
fn undo_rows_of_a_tail_re_read_after_a_restart_are_expected() {
    let (a, b, c) = (x(1, 1), x(2, 1), x(3, 1));
    let rows = vec![
        start(10, a),
        ins(11, a, "R1", "a1"),
        ins(11, c, "R4", "c1"),
        ins(12, b, "R2", "b1"),
        undo(ins(13, a, "R1", "undo a1")),
        undo(ins(13, c, "R4", "undo c1")),
        ins(14, a, "R3", "a2"),
        commit(15, a),
        rollback(15, c),
        ins(16, b, "R5", "b2"),
        commit(17, b),
    ];
    let whole = uninterrupted(&rows);
    assert_eq!(whole.len(), 2);
    // A checkpoint after SCN 15: `b` is the only open transaction, so mining resumes at 11.
    let cut = rows.partition_point(|r| r.scn <= Scn(15));
    assert_eq!(with_restarts(&rows, &[cut]), whole);
    let mut first = TxnBuffer::new(Offset::default());
    for row in &rows[..cut] {
        first.push(row.clone()).unwrap();
    }
    let off = first.offset(Scn(15));
    assert_eq!(off.resume_scn, Scn(11));
    let mut again = TxnBuffer::new(off.clone());
    let written: Vec<_> = rows
        .iter()
        .filter(|r| r.scn > off.resume_scn)
        .filter_map(|r| again.push(r.clone()).unwrap())
        .collect();
    assert_eq!(written.len(), 1);
    let s = again.stats();
    assert_eq!(s.skipped_already_written, 1);
    assert_eq!((s.unmatched_undo, s.unmatched_undo_unwritten), (0, 2));

    // Mining that starts inside `a` writes it without the change its undo row undid.
    let mut inside = TxnBuffer::new(Offset::starting_after(Scn(11)));
    let written: Vec<_> = rows
        .iter()
        .filter(|r| r.scn > Scn(11))
        .filter_map(|r| inside.push(r.clone()).unwrap())
        .collect();
    assert_eq!(written.len(), 2);
    let s = inside.stats();
    assert_eq!((s.unmatched_undo, s.unmatched_undo_unwritten), (1, 1));
}

/// Found by the property below: the partial-XID COMMIT of a transaction that started before the
/// resume SCN matches nothing after the restart; it must still be recognised as written.
#[test]
fn restart_skips_a_partial_xid_commit_written_before() {
    let rows = stream(3727993864348942386, 13);
    let whole = uninterrupted(&rows);
    assert_eq!(with_restarts(&rows, &[65]), whole);
}

#[test]
fn restart_at_every_row_of_random_streams() {
    let mut committed = 0;
    for seed in 1..40u64 {
        let rows = stream(seed * 7919, 12);
        let whole = uninterrupted(&rows);
        committed += whole.len();
        for cut in 1..rows.len() {
            assert_eq!(with_restarts(&rows, &[cut]), whole, "seed {seed} cut {cut}");
        }
    }
    assert!(
        committed > 200,
        "the generator commits too little: {committed}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn restarts_neither_lose_nor_duplicate(
        seed in any::<u64>(),
        txns in 1usize..30,
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let rows = stream(seed, txns);
        let whole = uninterrupted(&rows);
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(rows.len())).collect();
        cuts.sort_unstable();
        cuts.dedup();
        prop_assert_eq!(with_restarts(&rows, &cuts), whole);
    }
}

/// An export with a COMMIT_SCN column: the commit SCN comes from it.
#[test]
fn commit_scn_column_wins_over_the_row_scn() {
    let a = x(1, 1);
    let mut b = TxnBuffer::new(Offset::default());
    b.push(ins(10, a, "R1", "insert 1")).unwrap();
    let mut c = commit(12, a);
    c.commit_scn = Some(Scn(13));
    let txn = b.push(c).unwrap().unwrap();
    assert_eq!(txn.commit_scn, Scn(13));
    assert!(b.offset(Scn(20)).should_skip(ThreadId(1), Scn(13), a));
}

/// A row with an OPERATION_CODE the buffer does not know is never dropped silently: it is
/// counted, and on a table it stays in its transaction as an `Unknown` change for the writer
/// to stop at or dead-letter. Known codes with nothing to write (LOB, SELECT FOR UPDATE) are
/// counted as ignored.
#[test]
fn unknown_operation_codes_stay_in_their_transaction() {
    let a = x(1, 1);
    let mut odd = ins(
        12,
        a,
        "R2",
        "insert into \"HR\".\"EMP\"(\"A\") values ('2')",
    );
    odd.op = OpCode(99);
    let mut no_table = r(13, a, OpCode(98));
    no_table.sql_redo = "something".into();
    let mut b = TxnBuffer::new(Offset::default());
    let rows = vec![
        start(10, a),
        ins(11, a, "R1", "a1"),
        odd,
        no_table,
        r(14, a, OpCode::SELECT_FOR_UPDATE),
        r(15, a, OpCode::LOB_WRITE),
        commit(16, a),
    ];
    let mut committed = Vec::new();
    for row in rows {
        committed.extend(b.push(row).unwrap());
    }
    assert_eq!(committed.len(), 1);
    let ops: Vec<ChangeOp> = committed[0].changes.iter().map(|c| c.op).collect();
    assert_eq!(ops, vec![ChangeOp::Insert, ChangeOp::Unknown(99)]);
    assert_eq!(committed[0].changes[1].line, 12);
    assert_eq!(b.stats().unknown_operations, 2);
    assert_eq!(b.stats().ignored, 2);
}
