//! SQL_REDO parser fuzz target: `parse` and `Statement::row` must never panic, whatever the text,
//! and parsing with reused vectors (`parse_reusing`, one `Buffers` for every input) must give
//! the same result as a fresh parse.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run sql_redo` from the repository root (cargo-fuzz needs
//! nightly flags; `RUSTC_BOOTSTRAP` lets a stable toolchain accept them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

use redoflow_miner::sql::{parse, parse_reusing, Buffers};
use redoflow_miner::{Column, TableId, TableSchema};

thread_local! {
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
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
    let Ok(stmt) = fresh else {
        return;
    };
    // A schema with the statement's columns (in reverse, to exercise the reordering), and one
    // without the last, to exercise the unknown-column error.
    let mut columns: Vec<Column> = Vec::new();
    for (name, _) in stmt.values.iter().chain(&stmt.conditions).rev() {
        if columns.iter().all(|c| c.name != *name) {
            columns.push(Column {
                name: (*name).to_string(),
                data_type: "VARCHAR2".to_string(),
                column_id: columns.len() as u32 + 1,
            });
        }
    }
    let full = TableSchema::new(TableId::new(stmt.owner, stmt.table), columns.clone());
    let mut out = Vec::new();
    assert!(stmt.row(&full, &mut out).is_ok());
    assert_eq!(out.len(), columns.len());
    columns.pop();
    let partial = TableSchema::new(TableId::new(stmt.owner, stmt.table), columns);
    let _ = stmt.row(&partial, &mut out);
});
