//! Golden tests for the SQL_REDO parser: every `testdata/sql/*.txt` file holds cases of
//!
//! ```text
//! == case name
//! <SQL_REDO, any number of lines>
//! ----
//! <expected dump, ended by a blank line>
//! ```
//!
//! Lines outside cases (comments) are kept. `REDOFLOW_BLESS=1 cargo test --test sql_golden`
//! rewrites the expected dumps from the current parser; review the diff before committing.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

use redoflow_miner::sql::{parse, DmlKind, Statement, UnknownColumn};
use redoflow_miner::{Column, TableId, TableSchema, Value};

struct Case {
    /// Comment text before the case header, kept verbatim.
    prefix: String,
    name: String,
    sql: String,
    expected: String,
}

fn read_cases(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut prefix = String::new();
    // Split on `\n` only: a `\r` inside a statement is part of the case.
    let mut lines = text
        .split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .peekable();
    let mut raw = text.split('\n');
    while let Some(line) = lines.next() {
        raw.next();
        let Some(name) = line.strip_prefix("== ") else {
            prefix.push_str(line);
            prefix.push('\n');
            continue;
        };
        let mut sql = Vec::new();
        for (l, r) in lines.by_ref().zip(raw.by_ref()) {
            if l == "----" {
                break;
            }
            sql.push(r);
        }
        let mut expected = Vec::new();
        while let Some(l) = lines.next_if(|l| !l.is_empty()) {
            raw.next();
            expected.push(l);
        }
        cases.push(Case {
            prefix: std::mem::take(&mut prefix),
            name: name.to_string(),
            sql: sql.join("\n"),
            expected: expected.join("\n"),
        });
        // The blank line that ends the case.
        if lines.next_if(|l| l.is_empty()).is_some() {
            raw.next();
        }
    }
    assert!(prefix.trim().is_empty(), "text after the last case");
    cases
}

#[allow(clippy::ptr_arg)] // the point is to look at the Cow variant
fn cow(c: &Cow<'_, str>) -> &'static str {
    match c {
        Cow::Borrowed(_) => "borrowed",
        Cow::Owned(_) => "owned",
    }
}

fn dump_value(v: &Value<'_>) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Text(t) => format!("text({}) {:?}", cow(t), t),
        Value::Number(n) => format!("number {n}"),
        Value::Date(d) => format!("date {d}"),
        Value::Timestamp { at, fraction, tz } => {
            format!("timestamp {at} fraction {fraction:?} tz {tz:?}")
        }
        Value::Raw(r) => format!("raw({}) {:?}", cow(r), r),
        Value::EmptyLob => "empty_lob".into(),
        Value::IntervalYearMonth(i) => format!("interval_ym {i:?}"),
        Value::IntervalDaySecond(i) => format!("interval_ds {i:?}"),
        Value::Unsupported => "unsupported".into(),
    }
}

fn dump(sql: &str) -> String {
    let stmt = match parse(sql) {
        Ok(stmt) => stmt,
        Err(e) => {
            assert!(e.pos <= sql.len(), "error position past the end");
            let near: String = sql.get(e.pos..).unwrap_or("").chars().take(12).collect();
            return format!("error {:?} at {} near {near:?}", e.kind, e.pos);
        }
    };
    let kind = match stmt.kind {
        DmlKind::Insert => "insert",
        DmlKind::Update => "update",
        DmlKind::Delete => "delete",
    };
    let mut out = format!("{kind} {:?}.{:?}", stmt.owner, stmt.table);
    for (label, pairs) in [("value", &stmt.values), ("cond", &stmt.conditions)] {
        for (name, v) in pairs {
            let _ = write!(out, "\n{label} {name:?} = {}", dump_value(v));
        }
    }
    out
}

#[test]
fn golden() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sql");
    let bless = std::env::var_os("REDOFLOW_BLESS").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    let mut total = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cases = read_cases(&text);
        for case in &mut cases {
            total += 1;
            let got = dump(&case.sql);
            if got != case.expected {
                failures.push(format!(
                    "{}: {}\n--- expected\n{}\n--- got\n{}\n",
                    path.display(),
                    case.name,
                    case.expected,
                    got
                ));
                case.expected = got;
            }
        }
        if bless {
            let mut out = String::new();
            for c in &cases {
                let _ = write!(
                    out,
                    "{}== {}\n{}\n----\n{}\n\n",
                    c.prefix, c.name, c.sql, c.expected
                );
            }
            std::fs::write(&path, out.trim_end().to_string() + "\n").unwrap();
        }
    }
    assert!(total > 50, "only {total} golden cases");
    if !bless {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

fn schema(cols: &[&str]) -> TableSchema {
    let columns = cols
        .iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: c.to_string(),
            data_type: "VARCHAR2".into(),
            column_id: i as u32 + 1,
        })
        .collect();
    TableSchema::new(TableId::new("HR", "T"), columns)
}

fn row(stmt: &Statement<'_>, cols: &[&str]) -> Vec<Option<String>> {
    let mut out = vec![Some(&Value::Unsupported)];
    stmt.row(&schema(cols), &mut out).unwrap();
    out.iter().map(|v| v.map(dump_value)).collect()
}

#[test]
fn row_images() {
    let s = |v: &str| Some(v.to_string());
    let ins = parse(r#"insert into "HR"."T"("B","A") values ('b',1)"#).unwrap();
    assert_eq!(
        row(&ins, &["A", "B", "C"]),
        [s("number 1"), s("text(borrowed) \"b\""), None]
    );

    let upd = parse(
        r#"update "HR"."T" set "B" = 'new' where "A" = 1 and "B" = 'old' and "C" IS NULL and ROWID = 'AAAx'"#,
    )
    .unwrap();
    assert_eq!(
        row(&upd, &["A", "B", "C", "D"]),
        [s("number 1"), s("text(borrowed) \"new\""), s("null"), None]
    );

    let del = parse(r#"delete from "HR"."T" where "C" = 'x'"#).unwrap();
    assert_eq!(row(&del, &["A", "C"]), [None, s("text(borrowed) \"x\"")]);

    let mut out = Vec::new();
    assert_eq!(
        upd.row(&schema(&["A", "B"]), &mut out),
        Err(UnknownColumn("C"))
    );
}
