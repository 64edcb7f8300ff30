//! ReplaySource over SQLcl CSV exports: header handling, quoting, windows, restarts, errors.

use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use redoflow_checkpoint::{Scn, ThreadId};
use redoflow_miner::{LogSource, OpCode, RedoRow, ReplaySource, SourceError};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/replay")
        .join(name)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

fn fetch_all(src: &mut ReplaySource) -> Vec<RedoRow> {
    src.start_session(Scn(0)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(0), Scn(u64::MAX - 1), &mut out).unwrap();
    out
}

#[test]
fn sample_export_with_odd_header_bom_quotes_and_multiline_sql() {
    let mut src =
        ReplaySource::open(&testdata("contents.csv"), Some(&testdata("columns.csv"))).unwrap();
    assert_eq!(src.current_scn().unwrap(), Scn::MAX);
    let rows = fetch_all(&mut src);
    assert!(src.is_finished());
    assert_eq!(src.current_scn().unwrap(), Scn(103));
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 6, 7]);
    let ops: Vec<OpCode> = rows.iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        vec![
            OpCode::START,
            OpCode::INSERT,
            OpCode::INSERT,
            OpCode::INSERT,
            OpCode::COMMIT
        ]
    );
    let r = &rows[1];
    assert_eq!(r.xid.to_string(), "0A001B00C3D40000");
    assert_eq!((r.scn, r.thread), (Scn(101), ThreadId(1)));
    assert_eq!((&*r.seg_owner, &*r.table_name), ("HR", "EMP"));
    assert_eq!(r.row_id, "AAAR1");
    assert_eq!(
        r.sql_redo,
        r#"insert into "HR"."EMP"("ID","NAME") values (1,'Smith, "J"');"#
    );
    assert_eq!(r.timestamp.unwrap().to_string(), "2024-03-01 10:00:01");
    assert!(rows[2].csf && !rows[3].csf);
    assert!(rows[2].sql_redo.ends_with("'line one\nline two, "));
    assert_eq!(&*rows[0].seg_owner, "");
    // Columns file: any order and case, sorted by COLUMN_ID.
    let emp = src.table_schema("HR", "EMP").unwrap().unwrap();
    let names: Vec<&str> = emp.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["ID", "NAME", "NOTE"]);
    assert_eq!(src.catalog().len(), 2);
    assert!(src.table_schema("HR", "NOPE").unwrap().is_none());
}

/// An export of `n` rows, several per SCN, in the minimal column set.
fn generated(n: usize) -> String {
    let mut s = String::from("SCN,OPERATION_CODE,XID,SQL_REDO\n");
    for i in 0..n {
        let scn = 1000 + (i as u64) / 3 * 2;
        s.push_str(&format!(
            "{scn},1,{:016X},\"insert into \"\"A\"\".\"\"T\"\"(\"\"C\"\") values ({i});\"\n",
            i % 7
        ));
    }
    s
}

fn sql_ids(rows: &[RedoRow]) -> Vec<String> {
    rows.iter().map(|r| r.sql_redo.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn windows_of_random_sizes_return_each_row_once(
        n in 0usize..60,
        steps in proptest::collection::vec(1u64..9, 1..40),
        restart_at in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = write(&dir, "c.csv", &generated(n));
        let mut src = ReplaySource::open(&p, None).unwrap();
        let all = fetch_all(&mut src);
        prop_assert_eq!(all.len(), n);

        // Windows (read, end] from a resume point: exclusive-inclusive, contiguous.
        let resume = Scn(995 + restart_at.index(40) as u64);
        src.start_session(resume).unwrap();
        let mut got = Vec::new();
        let mut read = resume;
        let mut i = 0;
        // Going back reopens the export at the first fetch that needs it.
        let last = all.last().map_or(resume, |r| r.scn);
        while read < last {
            let end = Scn(read.0 + steps[i % steps.len()]);
            i += 1;
            let before = got.len();
            src.fetch(read, end, &mut got).unwrap();
            for r in &got[before..] {
                prop_assert!(r.scn > read && r.scn <= end);
            }
            read = end;
        }
        let want: Vec<RedoRow> = all.iter().filter(|r| r.scn > resume).cloned().collect();
        prop_assert_eq!(sql_ids(&got), sql_ids(&want));
    }
}

#[test]
fn restart_goes_back_and_reads_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "c.csv", &generated(30));
    let mut src = ReplaySource::open(&p, None).unwrap();
    src.start_session(Scn(0)).unwrap();
    let mut first = Vec::new();
    src.fetch(Scn(0), Scn(1010), &mut first).unwrap();
    src.fetch(Scn(1010), Scn(1030), &mut first).unwrap();
    // Back to 1004: the source reopens the file.
    src.start_session(Scn(1004)).unwrap();
    let mut again = Vec::new();
    src.fetch(Scn(1004), Scn(1030), &mut again).unwrap();
    let want: Vec<RedoRow> = first
        .iter()
        .filter(|r| r.scn > Scn(1004))
        .cloned()
        .collect();
    assert_eq!(again, want);
    // Forward restart: no reopen needed, rows continue.
    src.start_session(Scn(1030)).unwrap();
    let mut rest = Vec::new();
    src.fetch(Scn(1030), Scn(5000), &mut rest).unwrap();
    assert_eq!(first.len() + rest.len(), 30);
    assert!(src.is_finished());
    assert_eq!(src.current_scn().unwrap(), Scn(1018));
}

fn open_err(text: &str) -> (u64, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "c.csv", text);
    let err = match ReplaySource::open(&p, None) {
        Err(e) => e,
        Ok(mut src) => {
            src.start_session(Scn(0)).unwrap();
            let mut out = Vec::new();
            src.fetch(Scn(0), Scn(u64::MAX - 1), &mut out).unwrap_err()
        }
    };
    match err {
        SourceError::Malformed {
            path,
            line,
            message,
        } => {
            assert_eq!(path, p);
            (line, message)
        }
        other => panic!("not Malformed: {other}"),
    }
}

#[test]
fn malformed_exports_name_the_line_and_the_value() {
    let h = "SCN,OPERATION_CODE,XID,SQL_REDO,TIMESTAMP\n";
    let ok = "10,1,0A001B00C3D40000,\"x\",2024-01-01 00:00:00\n";
    let cases: Vec<(String, u64, &[&str])> = vec![
        ("scn,xid,sql_redo\n".into(), 1, &["OPERATION_CODE"]),
        (
            "SCN,TABLE_NAME\n".into(),
            1,
            &["OPERATION_CODE", "XID", "SQL_REDO"],
        ),
        (
            format!("{h}{ok}{ok}1x2,1,0A001B00C3D40000,\"x\",\n"),
            4,
            &["SCN", "1x2"],
        ),
        (format!("{h}{ok}11,1,ZZ,\"x\",\n"), 3, &["XID", "ZZ"]),
        (
            format!("{h}{ok}11,1,0A001B00C3D40000,\"x\"\n"),
            3,
            &["4 fields", "5"],
        ),
        (
            format!("{h}{ok}11,1,0A,\"x\",01/02/2024\n"),
            3,
            &["TIMESTAMP", "01/02/2024"],
        ),
        (
            format!("{h}{ok}11,x,0A,\"x\",\n"),
            3,
            &["OPERATION_CODE", "\"x\""],
        ),
        (format!("{h}{ok}\"a\nb\",1,0A,\"x\",\n"), 3, &["SCN"]),
        (
            format!(
                "SCN,OPERATION_CODE,XID,SQL_REDO,ROW_ID\n10,1,0A,\"x\",AAAR1\n11,1,0A,\"x\",{}\n",
                "A".repeat(33)
            ),
            3,
            &["ROW_ID", "at most 32 bytes"],
        ),
        (String::new(), 1, &["header"]),
    ];
    for (text, line, words) in cases {
        let (got_line, message) = open_err(&text);
        assert_eq!(got_line, line, "{text:?}: {message}");
        for w in words {
            assert!(message.contains(w), "{message:?} lacks {w:?}");
        }
    }
}

/// The file order is LogMiner's order: a row whose SCN is below an earlier row's is delivered
/// in file order, never dropped as "before the window".
#[test]
fn rows_out_of_scn_order_are_kept_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "c.csv",
        "SCN,OPERATION_CODE,XID,SQL_REDO\n10,6,0A,\"a\"\n12,1,0A,\"b\"\n11,1,0A,\"c\"\n13,7,0A,\"d\"\n",
    );
    let mut src = ReplaySource::open(&p, None).unwrap();
    src.start_session(Scn(0)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(0), Scn(11), &mut out).unwrap();
    src.fetch(Scn(11), Scn(12), &mut out).unwrap();
    src.fetch(Scn(12), Scn(20), &mut out).unwrap();
    let got: Vec<(u64, &str)> = out.iter().map(|r| (r.scn.0, r.sql_redo.as_str())).collect();
    assert_eq!(got, vec![(10, "a"), (12, "b"), (11, "c"), (13, "d")]);
}

#[test]
fn blank_trailing_lines_and_nulls_are_fine() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "c.csv",
        "SCN,OPERATION_CODE,XID,SQL_REDO,THREAD#,CSF,ROLLBACK,COMMIT_SCN,SSN,STATUS,INFO,RS_ID\r\n\
         5,7,1,,,,,,,,,\r\n6,1,2,\"x\",2,1,1,9,3,-1,\"i\",\" 0x1 \"\r\n\r\n\r\n",
    );
    let mut src = ReplaySource::open(&p, None).unwrap();
    let rows = fetch_all(&mut src);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].thread, rows[0].csf, rows[0].commit_scn),
        (ThreadId(1), false, None)
    );
    let r = &rows[1];
    assert_eq!((r.thread, r.csf, r.rollback), (ThreadId(2), true, true));
    assert_eq!((r.commit_scn, r.ssn, r.status), (Some(Scn(9)), 3, -1));
    assert_eq!(
        (r.info.as_str(), r.rs_id.as_str(), r.line),
        ("i", " 0x1 ", 3)
    );
}

#[test]
fn columns_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let contents = write(&dir, "c.csv", "SCN,OPERATION_CODE,XID,SQL_REDO\n");
    for (text, line, word) in [
        (
            "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE\n",
            1u64,
            "COLUMN_ID",
        ),
        (
            "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_ID\nA,T,X,NUMBER,1\nA,T,Y,NUMBER,1\n",
            3,
            "duplicates",
        ),
        (
            "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_ID\nA,T,X,NUMBER,1\nA,T,X,NUMBER,2\n",
            3,
            "duplicates",
        ),
        (
            "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_ID\nA,T,X,NUMBER,one\n",
            2,
            "COLUMN_ID",
        ),
    ] {
        let cols = write(&dir, "cols.csv", text);
        match ReplaySource::open(&contents, Some(&cols)) {
            Err(SourceError::Malformed {
                path,
                line: l,
                message,
            }) => {
                assert_eq!((path, l), (cols.clone(), line), "{message}");
                assert!(message.contains(word), "{message}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

/// Spooled without `SET FEEDBACK OFF`, SQLcl ends the export with "N rows selected.".
#[test]
fn sqlcl_feedback_line_is_not_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "c.csv",
        "SCN,OPERATION_CODE,XID,SQL_REDO\n10,6,0A,\"a\"\n11,7,0A,\"b\"\n\n2 rows selected. \n\n",
    );
    let mut src = ReplaySource::open(&p, None).unwrap();
    src.start_session(Scn(0)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(0), Scn(100), &mut out).unwrap();
    assert_eq!(out.len(), 2);
    assert!(src.is_finished());
}

/// SQLcl quotes the header names; with a byte order mark in front the first name must still be
/// recognised.
#[test]
fn quoted_header_after_a_byte_order_mark() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "c.csv",
        "\u{FEFF}\"SCN\",\"OPERATION_CODE\",\"XID\",\"SQL_REDO\"\r\n10,6,\"0A\",\"a\"\r\n11,7,\"0A\",\"b\"\r\n",
    );
    let mut src = ReplaySource::open(&p, None).unwrap();
    src.start_session(Scn(0)).unwrap();
    let mut out = Vec::new();
    src.fetch(Scn(0), Scn(100), &mut out).unwrap();
    let got: Vec<(u64, &str, u64)> = out
        .iter()
        .map(|r| (r.scn.0, r.sql_redo.as_str(), r.line))
        .collect();
    assert_eq!(got, vec![(10, "a", 2), (11, "b", 3)]);
}

/// SQL_REDO (checked for UTF-8 with SIMD) and a short text column that are not UTF-8 are
/// errors naming the line and the column, never text with replacement characters.
#[test]
fn text_that_is_not_utf8_names_the_line_and_the_column() {
    let ok = b"10,1,0A001B00C3D40000,\"x\",AAAR1\n";
    for (bad_row, column) in [
        (
            &b"11,1,0A001B00C3D40000,\"insert into \xff\xfe;\",AAAR1\n"[..],
            "SQL_REDO",
        ),
        (&b"11,1,0A001B00C3D40000,\"x\",AA\xc3\n"[..], "ROW_ID"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.csv");
        let mut text = b"SCN,OPERATION_CODE,XID,SQL_REDO,ROW_ID\n".to_vec();
        text.extend_from_slice(ok);
        text.extend_from_slice(bad_row);
        std::fs::write(&p, &text).unwrap();
        let mut src = ReplaySource::open(&p, None).unwrap();
        src.start_session(Scn(0)).unwrap();
        let mut out = Vec::new();
        match src.fetch(Scn(0), Scn(u64::MAX - 1), &mut out).unwrap_err() {
            SourceError::Malformed { line, message, .. } => {
                assert_eq!(line, 3, "{message}");
                assert!(message.contains(column), "{message:?} lacks {column}");
                assert!(message.contains("UTF-8"), "{message:?}");
            }
            other => panic!("not Malformed: {other}"),
        }
    }
}

/// A COMMIT below an earlier COMMIT of its redo thread would be skipped as "written before"
/// when a resumed run's checkpoint lies between them: such an export is refused, naming both
/// lines. Other threads' commits and non-COMMIT rows out of SCN order are fine.
#[test]
fn commits_going_back_in_scn_are_refused_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "c.csv",
        "SCN,OPERATION_CODE,XID,SQL_REDO,THREAD#\n\
         10,6,0A,\"a\",1\n11,7,0A,\"commit\",1\n9,7,0C,\"commit\",2\n\
         20,6,0B,\"b\",1\n21,7,0B,\"commit\",1\n15,7,0D,\"commit\",1\n",
    );
    let mut src = ReplaySource::open(&p, None).unwrap();
    src.start_session(Scn(0)).unwrap();
    let mut out = Vec::new();
    let err = src.fetch(Scn(0), Scn(100), &mut out).unwrap_err();
    let message = err.to_string();
    for w in ["c.csv:7", "SCN 15", "SCN 21", "line 6", "0D"] {
        assert!(message.contains(w), "{message:?} lacks {w:?}");
    }
}

/// A header naming a column twice is refused: which field holds it is anyone's guess.
#[test]
fn a_duplicated_header_column_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "c.csv",
        "SCN,OPERATION_CODE,XID,SQL_REDO,scn\n10,6,0A,\"a\",11\n",
    );
    let err = ReplaySource::open(&p, None).unwrap_err().to_string();
    for w in ["c.csv:1", "SCN twice", "fields 1 and 5"] {
        assert!(err.contains(w), "{err:?} lacks {w:?}");
    }
    let cols = write(
        &dir,
        "cols.csv",
        "OWNER,TABLE_NAME,COLUMN_NAME,DATA_TYPE,COLUMN_ID,OWNER\nHR,T,A,NUMBER,1,HR\n",
    );
    let ok = write(&dir, "ok.csv", "SCN,OPERATION_CODE,XID,SQL_REDO\n");
    let err = ReplaySource::open(&ok, Some(&cols))
        .unwrap_err()
        .to_string();
    assert!(err.contains("OWNER twice"), "{err}");
}

/// One bad byte in a huge SQL_REDO: the error names the file, line and column and quotes the
/// part around the byte, not the whole value.
#[test]
fn a_bad_byte_in_a_huge_value_is_quoted_around_it_not_whole() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.csv");
    let mut text = b"SCN,OPERATION_CODE,XID,SQL_REDO\n10,1,0A,\"".to_vec();
    text.extend(std::iter::repeat_n(b'x', 1 << 20));
    text.extend(b"BAD\xFFBYTE");
    text.extend(std::iter::repeat_n(b'y', 1 << 20));
    text.extend(b"\"\n");
    std::fs::write(&p, text).unwrap();
    let mut src = ReplaySource::open(&p, None).unwrap();
    src.start_session(Scn(0)).unwrap();
    let err = src
        .fetch(Scn(0), Scn(100), &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(err.len() < 400, "{} bytes: {}", err.len(), &err[..400]);
    for w in [
        "c.csv:2",
        "SQL_REDO",
        "BAD\u{FFFD}BYTE",
        "2097160 bytes",
        "byte 1048579",
    ] {
        assert!(err.contains(w), "{err:?} lacks {w:?}");
    }
}
