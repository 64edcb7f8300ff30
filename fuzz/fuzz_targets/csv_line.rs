//! CSV writer fast-path fuzz target: whatever the text, `CsvSink::write_statement`'s fast path
//! (SQL_REDO in LogMiner's exact layout straight to a CSV line) never panics, leaves nothing
//! behind when it declines, and whenever it writes a line, the line is byte for byte what the
//! general path (the parser, then the row encoder) writes. Tried against a fixed table and
//! against the statement's own columns (when it parses), in order and reversed, with three
//! missing markers.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run csv_line fuzz/corpus/sql_redo` from the repository
//! root (the parser target's corpus is a good start).
#![no_main]

use libfuzzer_sys::fuzz_target;

use redoflow_miner::sql::parse;
use redoflow_miner::{TableId, TableSchema};
use redoflow_sink_csv::fuzzing::agrees;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let mut schemas = vec![TableSchema::from_names(
        TableId::new("O", "T"),
        ["ID", "A", "a b"],
        "VARCHAR2",
    )];
    if let Ok(stmt) = parse(sql) {
        let mut names: Vec<&str> = Vec::new();
        for &(name, _) in stmt.values.iter().chain(&stmt.conditions) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let id = TableId::new(stmt.owner, stmt.table);
        schemas.push(TableSchema::from_names(id.clone(), names.iter().copied(), "VARCHAR2"));
        names.reverse();
        schemas.push(TableSchema::from_names(id, names.iter().copied(), "VARCHAR2"));
    }
    for schema in &schemas {
        for missing in ["", "__MISSING__", "a,\"b\""] {
            agrees(schema, sql, missing.as_bytes());
        }
    }
});
