//! SQL_REDO parser fuzz target: `parse` and `Statement::row` must never panic, whatever the text;
//! parsing with reused vectors (`parse_reusing`, one `Buffers` for every input) must give the
//! same result as a fresh parse; the byte-exact fast paths must agree with the general one; and
//! `parse_row` must give what `parse` then `Statement::row` give (values, unknown column or
//! error).
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run sql_redo` from the repository root (cargo-fuzz needs
//! nightly flags; `RUSTC_BOOTSTRAP` lets a stable toolchain accept them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

use redoflow_miner::sql::{
    parse, parse_reusing, parse_row, Buffers, RowBuffers, RowError, Statement,
};
use redoflow_miner::{TableId, TableSchema};

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
    static ROW_BUFFERS: RefCell<RowBuffers> = RefCell::new(RowBuffers::default());
}

/// `parse_row` against `schema` agrees with `stmt` (the parse of `sql`) laid out by `row`.
fn check_row(
    sql: &str,
    stmt: &Result<Statement<'_>, redoflow_miner::sql::ParseError>,
    schema: &TableSchema,
) {
    ROW_BUFFERS.with(|b| {
        let mut buffers = b.borrow_mut();
        let got = parse_row(sql, schema, &mut buffers);
        match (stmt, got) {
            (Err(e), Err(RowError::Parse(g))) => assert_eq!(*e, g),
            (Ok(stmt), got) => {
                let mut out = Vec::new();
                match (stmt.row(schema, &mut out), got) {
                    (Err(unknown), Err(RowError::UnknownColumn(g))) => assert_eq!(unknown, g),
                    (Ok(()), Ok(row)) => {
                        let want: Vec<_> = out.into_iter().map(|v| v.cloned()).collect();
                        assert_eq!(want, row.values);
                        row.recycle(&mut buffers);
                    }
                    (want, got) => panic!("row gave {want:?}, parse_row gave {got:?}"),
                }
            }
            (want, got) => panic!("parse gave {want:?}, parse_row gave {got:?}"),
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let fresh = parse(sql);
    BUFFERS.with(|b| {
        let mut buffers = b.borrow_mut();
        match parse_reusing(sql, &mut buffers) {
            Ok(reused) => {
                assert_eq!(fresh.as_ref().ok(), Some(&reused));
                reused.recycle(&mut buffers);
            }
            Err(e) => assert_eq!(fresh.as_ref().err(), Some(&e)),
        }
    });
    // The byte-exact fast paths for `TO_DATE(`, `TO_TIMESTAMP(` and `HEXTORAW(` must answer what
    // the general path answers for the same text with those names in lower case (which only
    // the general path reads): the same statement or the same error at the same byte.
    let lowered = lower_function_names(sql);
    if lowered != sql {
        assert_eq!(format!("{fresh:?}"), format!("{:?}", parse(&lowered)));
    }
    let Ok(stmt) = &fresh else {
        let schema = TableSchema::from_names(TableId::new("O", "T"), ["ID", "A"], "NUMBER");
        check_row(sql, &fresh, &schema);
        return;
    };
    // A schema with the statement's columns (in reverse, to exercise the reordering), and one
    // without the last, to exercise the unknown-column error.
    let mut names: Vec<&str> = Vec::new();
    for &(name, _) in stmt.values.iter().chain(&stmt.conditions).rev() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let schema = |names: &[&str]| {
        let id = TableId::new(stmt.owner, stmt.table);
        TableSchema::from_names(id, names.iter().copied(), "VARCHAR2")
    };
    let full = schema(&names);
    let mut out = Vec::new();
    assert!(stmt.row(&full, &mut out).is_ok());
    assert_eq!(out.len(), names.len());
    check_row(sql, &fresh, &full);
    names.reverse();
    check_row(sql, &fresh, &schema(&names));
    names.pop();
    let partial = schema(&names);
    let _ = stmt.row(&partial, &mut out);
    check_row(sql, &fresh, &partial);
});

/// `sql` with `TO_DATE(`, `TO_TIMESTAMP(` and `HEXTORAW(` in lower case where they stand
/// outside quotes (inside a literal or a quoted name they are text, and must stay as they are).
fn lower_function_names(sql: &str) -> String {
    const NAMES: [&str; 3] = ["TO_DATE(", "TO_TIMESTAMP(", "HEXTORAW("];
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        if quote.is_none() {
            if let Some(name) = NAMES.iter().find(|n| rest.starts_with(*n)) {
                out.push_str(&name.to_ascii_lowercase());
                rest = &rest[name.len()..];
                continue;
            }
        }
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}
