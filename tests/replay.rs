//! The whole pipeline on recorded exports: the bundled example against reviewed expected
//! output, exactly-once across restarts on a generated OLTP export, and bad input.

mod common;
#[path = "../benches/support/export_gen.rs"]
mod export_gen;

use common::table_outputs;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redoflow::config::OnParseError;
use redoflow::{Config, PipelineError, Progress};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/hr")
        .join(name)
}

fn config(out: &Path) -> Config {
    let mut c = Config::default();
    c.output.dir = out.to_path_buf();
    c.output.fsync = false;
    c
}

fn replay(
    cfg: &Config,
    contents: &Path,
    columns: Option<&Path>,
) -> Result<redoflow::Summary, PipelineError> {
    redoflow::replay(
        cfg,
        contents,
        columns,
        &redoflow::StopToken::new(),
        &Progress::default(),
    )
}

fn data_rows(csv_text: &str) -> u64 {
    let mut r = csv::ReaderBuilder::new().from_reader(csv_text.as_bytes());
    let mut n = 0;
    for record in r.records() {
        record.unwrap();
        n += 1;
    }
    n
}

#[test]
fn example_export_matches_the_reviewed_output() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let summary = replay(
        &cfg,
        &example("logmnr_contents.csv"),
        Some(&example("all_tab_columns.csv")),
    )
    .unwrap();
    assert_eq!(summary.open_at_end, 1, "T10 has no COMMIT in the export");
    assert_eq!(summary.rolled_back, 1);
    let outputs = table_outputs(dir.path());
    let expected_dir = example("expected");
    let bless = std::env::var_os("REDOFLOW_BLESS").is_some();
    if bless {
        fs::create_dir_all(&expected_dir).unwrap();
    }
    for (table, text) in &outputs {
        let path = expected_dir.join(format!("{table}.csv"));
        if bless {
            fs::write(&path, text).unwrap();
        }
        let want = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            text,
            &want,
            "output of {table} differs from {}",
            path.display()
        );
    }
    let expected_tables: Vec<String> = fs::read_dir(&expected_dir)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".csv")
                .to_string()
        })
        .collect();
    assert_eq!(
        outputs.len(),
        expected_tables.len(),
        "tables: {:?}",
        outputs.keys()
    );
    let report = redoflow::sink_csv::verify(dir.path()).unwrap();
    assert!(report.is_ok(), "{report}");
}

#[test]
fn rerunning_a_finished_replay_writes_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let contents = example("logmnr_contents.csv");
    let columns = example("all_tab_columns.csv");
    replay(&cfg, &contents, Some(&columns)).unwrap();
    let first = table_outputs(dir.path());
    let again = replay(&cfg, &contents, Some(&columns)).unwrap();
    assert_eq!(again.changes_written, 0);
    assert_eq!(table_outputs(dir.path()), first);
    assert!(redoflow::sink_csv::verify(dir.path()).unwrap().is_ok());
}

fn generate(dir: &Path, rows: u64, seed: u64) -> (PathBuf, PathBuf, export_gen::Truth) {
    let contents = dir.join("contents.csv");
    let columns = dir.join("columns.csv");
    let truth = export_gen::write_export(fs::File::create(&contents).unwrap(), rows, seed).unwrap();
    export_gen::write_columns(fs::File::create(&columns).unwrap()).unwrap();
    (contents, columns, truth)
}

/// The first `records` records of a CSV export (quoted fields may span lines).
fn truncate_records(src: &Path, dst: &Path, records: usize) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(src)
        .unwrap();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_path(dst)
        .unwrap();
    for rec in r.byte_records().take(records + 1) {
        w.write_byte_record(&rec.unwrap()).unwrap();
    }
}

#[test]
fn generated_export_matches_its_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns, truth) = generate(dir.path(), 20_000, 7);
    let out = dir.path().join("out");
    let mut cfg = config(&out);
    cfg.output.max_file_bytes = 64 * 1024; // force rolling
    let summary = replay(&cfg, &contents, Some(&columns)).unwrap();
    assert_eq!(summary.transactions, truth.committed_txns, "{summary:?}");
    let outputs = table_outputs(&out);
    for (table, n) in &truth.committed_changes {
        let text = &outputs[&format!("SHOP.{table}")];
        assert_eq!(data_rows(text), *n, "rows of {table}");
    }
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

/// An export that grows (or a node that stops) part-way: the run on the first part, then the
/// run on the whole export from the first run's checkpoint, give exactly the output of one run
/// over the whole export — for cut points inside open transactions, CSF groups and shared
/// commit SCNs.
#[test]
fn resuming_from_a_checkpoint_is_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns, _) = generate(dir.path(), 6_000, 11);
    let whole_out = dir.path().join("whole");
    replay(&config(&whole_out), &contents, Some(&columns)).unwrap();
    let whole = table_outputs(&whole_out);
    let total_records = csv::Reader::from_path(&contents)
        .unwrap()
        .byte_records()
        .count();
    let mut g = export_gen::Gen::new(99);
    for round in 0..6 {
        let cut1 = 1 + g.below(total_records as u64 - 1) as usize;
        let cut2 = cut1 + g.below((total_records - cut1) as u64) as usize;
        let out = dir.path().join(format!("resumed-{round}"));
        for cut in [cut1, cut2] {
            let part = dir.path().join(format!("part-{round}-{cut}.csv"));
            truncate_records(&contents, &part, cut);
            replay(&config(&out), &part, Some(&columns)).unwrap();
        }
        replay(&config(&out), &contents, Some(&columns)).unwrap();
        let resumed = table_outputs(&out);
        assert_eq!(
            resumed.keys().collect::<Vec<_>>(),
            whole.keys().collect::<Vec<_>>()
        );
        for (table, text) in &whole {
            assert!(
                resumed[table] == *text,
                "round {round} (cuts {cut1}, {cut2}): {table} differs"
            );
        }
        assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
    }
}

#[test]
fn many_checkpoints_during_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns, truth) = generate(dir.path(), 30_000, 3);
    let out = dir.path().join("out");
    let mut cfg = config(&out);
    cfg.checkpoint.interval = Duration::from_millis(1);
    cfg.mining.batch_rows_min = 50;
    cfg.mining.batch_rows_default = 100;
    cfg.mining.batch_rows_max = 200;
    let summary = replay(&cfg, &contents, Some(&columns)).unwrap();
    assert!(summary.checkpoints > 5, "{summary:?}");
    let manifests = fs::read_dir(out.join("_checkpoints")).unwrap().count() as u64;
    assert_eq!(manifests, summary.checkpoints);
    let outputs = table_outputs(&out);
    let rows: u64 = outputs.values().map(|t| data_rows(t)).sum();
    assert_eq!(rows, truth.committed_changes.values().sum::<u64>());
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

fn write_export(dir: &Path, rows: &[&str]) -> PathBuf {
    let path = dir.join("bad.csv");
    let mut text = String::from("SCN,XID,OPERATION_CODE,SEG_OWNER,TABLE_NAME,ROW_ID,SQL_REDO\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    fs::write(&path, text).unwrap();
    path
}

const BAD_ROWS: [&str; 4] = [
    "10,0A00000000000001,6,,,,set transaction read write;",
    "11,0A00000000000001,1,HR,T,AAA,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('ok');\"",
    "12,0A00000000000001,1,HR,T,AAB,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('broken);\"",
    "13,0A00000000000001,7,,,,commit;",
];

#[test]
fn malformed_sql_redo_stops_with_scn_xid_table_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let contents = write_export(dir.path(), &BAD_ROWS);
    let out = dir.path().join("out");
    let err = replay(&config(&out), &contents, None).unwrap_err();
    let msg = err.to_string();
    for needle in ["SCN 12", "0A00000000000001", "HR.T", "line 4", "broken"] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    // Nothing was committed: no finished file, no manifest.
    assert!(
        !out.join("_checkpoints").exists()
            || fs::read_dir(out.join("_checkpoints")).unwrap().count() == 0
    );
}

#[test]
fn dead_letter_mode_commits_rejected_rows_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let contents = write_export(dir.path(), &BAD_ROWS);
    let out = dir.path().join("out");
    let mut cfg = config(&out);
    cfg.output.on_parse_error = OnParseError::DeadLetter;
    let summary = replay(&cfg, &contents, None).unwrap();
    assert_eq!(summary.rejected, 1);
    assert_eq!(
        summary.changes_written, 1,
        "the rejected row is not written"
    );
    let outputs = table_outputs(&out);
    assert_eq!(data_rows(&outputs["HR.T"]), 1);
    let rejected: Vec<_> = fs::read_dir(out.join("_rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rejected.len(), 1);
    let text = fs::read_to_string(&rejected[0]).unwrap();
    assert!(text.contains("'broken);"), "{text}");
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

/// Interleaved tables, a table missing from the columns export, a column added mid-stream and
/// a DDL: each change lands in its own table's file under the schema in force at the time, a
/// new column or a DDL starts a new file, and no row is lost or misfiled. (The writer keeps the
/// last change's schema to skip lookups; this checks it lets go whenever it must.)
#[test]
fn schema_switches_new_columns_and_ddl_put_every_row_in_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let q = |sql: &str| format!("\"{}\"", sql.replace('"', "\"\""));
    let ins_t =
        |cols: &str, vals: &str| q(&format!(r#"insert into "HR"."T"({cols}) values ({vals});"#));
    let rows = [
        "10,0A00000000000001,6,,,,set transaction read write;".to_string(),
        format!(
            "11,0A00000000000001,1,HR,T,AAA,{}",
            ins_t(r#""A","B""#, "'a1','b1'")
        ),
        format!(
            "12,0A00000000000001,1,HR,U,AAB,{}",
            q(r#"insert into "HR"."U"("X") values ('x1');"#)
        ),
        format!(
            "13,0A00000000000001,1,HR,T,AAC,{}",
            ins_t(r#""A","B""#, "'a2','b2'")
        ),
        "14,0A00000000000001,7,,,,commit;".to_string(),
        "15,0A00000000000002,6,,,,set transaction read write;".to_string(),
        format!(
            "15,0A00000000000002,5,HR,T,,{}",
            q(r#"alter table "HR"."T" add ("Z" number);"#)
        ),
        "15,0A00000000000002,7,,,,commit;".to_string(),
        "16,0A00000000000003,6,,,,set transaction read write;".to_string(),
        format!(
            "17,0A00000000000003,1,HR,T,AAD,{}",
            ins_t(r#""A","B""#, "'a3','b3'")
        ),
        format!(
            "18,0A00000000000003,1,HR,T,AAE,{}",
            ins_t(r#""A","B","C""#, "'a4','b4','c4'")
        ),
        format!(
            "19,0A00000000000003,1,HR,T,AAF,{}",
            ins_t(r#""A","B""#, "'a5','b5'")
        ),
        format!(
            "20,0A00000000000003,3,HR,U,AAB,{}",
            q(r#"update "HR"."U" set "X" = 'x2' where "X" = 'x1' and ROWID = 'AAB';"#)
        ),
        "21,0A00000000000003,7,,,,commit;".to_string(),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let contents = write_export(dir.path(), &rows);
    let columns = dir.path().join("cols.csv");
    fs::write(
        &columns,
        "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_ID\nHR,T,A,VARCHAR2,1\nHR,T,B,VARCHAR2,2\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let summary = replay(&config(&out), &contents, Some(&columns)).unwrap();
    assert_eq!(
        summary.changes_written, 7,
        "seven rows (a DDL is not a row)"
    );
    let files = common::table_files(&out);
    // Each file's header columns after the metadata, and its rows' user fields.
    let read = |table: &str| -> Vec<(String, Vec<String>)> {
        files[table]
            .iter()
            .map(|f| {
                let text = fs::read_to_string(f).unwrap();
                let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
                let header: Vec<String> = r
                    .headers()
                    .unwrap()
                    .iter()
                    .skip(5)
                    .map(String::from)
                    .collect();
                let body = r
                    .records()
                    .map(|rec| rec.unwrap().iter().skip(5).collect::<Vec<_>>().join("|"))
                    .collect();
                (header.join(","), body)
            })
            .collect()
    };
    assert_eq!(
        read("HR.T"),
        vec![
            (
                "A,B".to_string(),
                vec!["a1|b1".to_string(), "a2|b2".to_string()]
            ),
            ("A,B".to_string(), vec!["a3|b3".to_string()]),
            (
                "A,B,C".to_string(),
                vec!["a4|b4|c4".to_string(), "a5|b5|__missing__".to_string()]
            ),
        ]
    );
    assert_eq!(
        read("HR.U"),
        vec![("X".to_string(), vec!["x1".to_string(), "x2".to_string()])]
    );
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

#[test]
fn malformed_export_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let contents = write_export(
        dir.path(),
        &[BAD_ROWS[0], "1x1,0A00000000000001,7,,,,commit;"],
    );
    let err = replay(&config(&dir.path().join("out")), &contents, None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bad.csv:3"), "{msg}");
    assert!(msg.contains("SCN"), "{msg}");
}

/// With a memory bound far below the open transactions' size, changes spill to disk and come
/// back at commit: the output is byte-for-byte the output of an unbounded run, and no spill
/// file is left behind.
#[test]
fn spilling_transactions_to_disk_changes_nothing_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let (contents, columns, _) = generate(dir.path(), 20_000, 21);
    let roomy = dir.path().join("roomy");
    replay(&config(&roomy), &contents, Some(&columns)).unwrap();
    let tight = dir.path().join("tight");
    let mut cfg = config(&tight);
    cfg.mining.transaction_memory = 2048;
    let summary = replay(&cfg, &contents, Some(&columns)).unwrap();
    assert!(summary.spilled_transactions > 10, "{summary:?}");
    assert_eq!(table_outputs(&tight), table_outputs(&roomy));
    let spill = tight.join("_state/spill");
    let left = fs::read_dir(&spill).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "spill files left in {}", spill.display());
}

/// `n` one-insert transactions of `HR.T` from SCN `base` on (START, INSERT, COMMIT at three
/// consecutive SCNs each).
fn dense_export(path: &Path, base: u64, n: u64) {
    let mut text = String::from("SCN,XID,OPERATION_CODE,SEG_OWNER,TABLE_NAME,ROW_ID,SQL_REDO\n");
    for i in 0..n {
        let scn = base + 3 * i;
        let xid = format!("0A{:014X}", i + 1);
        text.push_str(&format!("{scn},{xid},6,,,,set transaction read write;\n"));
        text.push_str(&format!(
            "{},{xid},1,HR,T,AAA{i},\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('{i}');\"\n",
            scn + 1
        ));
        text.push_str(&format!("{},{xid},7,,,,commit;\n", scn + 2));
    }
    fs::write(path, text).unwrap();
}

/// An export whose first SCN is far past `mining.start_scn`: the planner crosses the gap
/// blindly and its window, or a piece grown across the empty stretch, spans the whole export.
/// Every read is still ended at an SCN boundary past a row budget, so the rows held at once
/// stay bounded whatever the export's size, and the run checkpoints at its interval inside
/// that one window.
#[test]
fn a_window_over_a_whole_export_is_read_in_bounded_pieces_with_checkpoints() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let contents = dir.path().join("dense.csv");
    dense_export(&contents, 10_000_000_000, 10_000);
    let out = dir.path().join("out");
    let mut cfg = config(&out);
    cfg.checkpoint.interval = Duration::from_millis(1);
    let most = Arc::new(AtomicUsize::new(0));
    let seen = most.clone();
    let source = redoflow::miner::ReplaySource::open(&contents, None).unwrap();
    let mut tap = common::Tap::new(
        source,
        move |s: &mut redoflow::miner::ReplaySource, read, end, out: &mut Vec<_>, cap| {
            let before = out.len();
            let r = redoflow::miner::LogSource::fetch_capped(s, read, end, out, cap);
            seen.fetch_max(out.len() - before, Ordering::Relaxed);
            r
        },
    );
    let summary = redoflow::run(
        &cfg,
        &mut tap,
        redoflow::Pacing::Unpaced,
        &redoflow::StopToken::new(),
        &Progress::default(),
    )
    .unwrap();
    let most = most.load(Ordering::Relaxed);
    assert!(
        most <= 5_000,
        "one read held {most} of the export's 30000 rows"
    );
    assert!(summary.checkpoints > 5, "{summary:?}");
    assert_eq!(summary.transactions, 10_000);
    let outputs = table_outputs(&out);
    assert_eq!(data_rows(&outputs["HR.T"]), 10_000);
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

/// An export whose COMMITs go back in SCN: a run resumed from a checkpoint between the two
/// would skip the late transaction as written. The export is refused with both lines named.
#[test]
fn an_export_with_commits_out_of_scn_order_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "10,0A00000000000001,6,,,,set transaction read write;",
        "11,0A00000000000001,1,HR,T,AAA,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('1');\"",
        "20,0A00000000000001,7,,,,commit;",
        "12,0A00000000000002,6,,,,set transaction read write;",
        "13,0A00000000000002,1,HR,T,AAB,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('2');\"",
        "15,0A00000000000002,7,,,,commit;",
    ];
    let contents = write_export(dir.path(), &rows);
    let out = dir.path().join("out");
    let err = replay(&config(&out), &contents, None)
        .unwrap_err()
        .to_string();
    for w in ["bad.csv:7", "SCN 15", "SCN 20", "line 4"] {
        assert!(err.contains(w), "{w:?} missing from: {err}");
    }
}

/// A committed INSERT whose OPERATION_CODE reads 99: the engine cannot know what it carries,
/// so it stops the run naming SCN, XID, table and line, or with dead-letter goes to
/// `_rejected/` and is counted; it is never dropped silently.
#[test]
fn a_committed_row_with_an_unknown_operation_code_is_never_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "10,0A00000000000001,6,,,,set transaction read write;",
        "11,0A00000000000001,1,HR,T,AAA,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('1');\"",
        "12,0A00000000000001,99,HR,T,AAB,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\") values ('2');\"",
        "13,0A00000000000001,7,,,,commit;",
    ];
    let contents = write_export(dir.path(), &rows);
    let out = dir.path().join("stop");
    let err = replay(&config(&out), &contents, None)
        .unwrap_err()
        .to_string();
    for w in [
        "OPERATION_CODE 99",
        "SCN 12",
        "0A00000000000001",
        "HR.T",
        "line 4",
    ] {
        assert!(err.contains(w), "{w:?} missing from: {err}");
    }

    let out = dir.path().join("dead-letter");
    let mut cfg = config(&out);
    cfg.output.on_parse_error = OnParseError::DeadLetter;
    let summary = replay(&cfg, &contents, None).unwrap();
    assert_eq!(summary.unknown_operations, 1, "{summary:?}");
    assert_eq!(summary.rejected, 1, "{summary:?}");
    assert_eq!(data_rows(&table_outputs(&out)["HR.T"]), 1);
    let rejected: Vec<_> = fs::read_dir(out.join("_rejected"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let text = fs::read_to_string(&rejected[0]).unwrap();
    assert!(
        text.contains("OPERATION_CODE 99") && text.contains("values ('2')"),
        "{text}"
    );
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}

/// The state dir deleted under a finished output: the error says what happened and what to do.
#[test]
fn a_lost_state_dir_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let contents = example("logmnr_contents.csv");
    let columns = example("all_tab_columns.csv");
    replay(&cfg, &contents, Some(&columns)).unwrap();
    fs::remove_dir_all(dir.path().join("_state")).unwrap();
    let err = replay(&cfg, &contents, Some(&columns))
        .unwrap_err()
        .to_string();
    for w in [
        "state was lost",
        "Restore the state dir",
        "empty output directory",
    ] {
        assert!(err.contains(w), "{w:?} missing from: {err}");
    }
}

/// A table in the columns file whose redo names a column the file lacks (and no DDL explains
/// it): the column's place in COLUMN_ID order is unknown, so the run stops naming table,
/// column, SCN, XID and line, or with dead-letter rejects that row. A table absent from the
/// columns file keeps the order its statements give, and the summary lists it as derived from
/// redo.
#[test]
fn a_column_missing_from_the_columns_file_is_an_error_not_a_reorder() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        "10,0A00000000000001,6,,,,set transaction read write;",
        "11,0A00000000000001,1,HR,T,AAA,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\",\"\"B\"\") values ('a1','b1');\"",
        "12,0A00000000000001,1,HR,T,AAB,\"insert into \"\"HR\"\".\"\"T\"\"(\"\"A\"\",\"\"C\"\",\"\"B\"\") values ('a2','c2','b2');\"",
        "13,0A00000000000001,1,HR,U,AAC,\"update \"\"HR\"\".\"\"U\"\" set \"\"Y\"\" = '1' where \"\"X\"\" = '2';\"",
        "14,0A00000000000001,7,,,,commit;",
    ];
    let contents = write_export(dir.path(), &rows);
    let columns = dir.path().join("cols.csv");
    fs::write(
        &columns,
        "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_ID\nHR,T,A,VARCHAR2,1\nHR,T,B,VARCHAR2,2\n",
    )
    .unwrap();
    let out = dir.path().join("stop");
    let err = replay(&config(&out), &contents, Some(&columns))
        .unwrap_err()
        .to_string();
    for w in [
        "HR.T",
        "column \"C\"",
        "SCN 12",
        "0A00000000000001",
        "line 4",
    ] {
        assert!(err.contains(w), "{w:?} missing from: {err}");
    }

    let out = dir.path().join("dead-letter");
    let mut cfg = config(&out);
    cfg.output.on_parse_error = OnParseError::DeadLetter;
    let summary = replay(&cfg, &contents, Some(&columns)).unwrap();
    assert_eq!(summary.rejected, 1, "{summary:?}");
    assert_eq!(summary.changes_written, 2, "{summary:?}");
    assert_eq!(summary.derived_tables, vec!["HR.U".to_string()]);
    let outputs = table_outputs(&out);
    let t = &outputs["HR.T"];
    assert!(t.lines().next().unwrap().ends_with(",A,B"), "{t}");
    assert_eq!(data_rows(t), 1);
    assert!(outputs["HR.U"].lines().next().unwrap().ends_with(",Y,X"));
    assert!(redoflow::sink_csv::verify(&out).unwrap().is_ok());
}
