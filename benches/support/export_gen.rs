//! Generates SQLcl-style LogMiner exports (SPEC.md §10) of an OLTP workload for tests and
//! benchmarks: interleaved transactions over 10-column tables, full and partial rollbacks,
//! several commits at one SCN, CSF-split statements. Deterministic for a seed.
//!
//! Shared by `tests/` and `benches/` through `#[path]`.

#![allow(dead_code)]

use std::io::{self, Write};

/// What the generated export contains, for checking the output against it.
#[derive(Debug, Default, Clone)]
pub struct Truth {
    /// Changes of committed transactions, per table.
    pub committed_changes: std::collections::BTreeMap<String, u64>,
    /// Committed transactions with at least one change left after partial rollbacks.
    pub committed_txns: u64,
    pub rows: u64,
}

pub struct Gen {
    state: u64,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            state: seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407)
                | 1,
        }
    }
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub const TABLES: [&str; 2] = ["ORDERS", "ORDER ITEMS"];
pub const COLUMNS: [&str; 10] = [
    "ID",
    "CUSTOMER",
    "STATUS",
    "AMOUNT",
    "QTY",
    "CREATED",
    "UPDATED_AT",
    "NOTE",
    "CODE",
    "FLAG",
];

pub fn write_columns(mut w: impl Write) -> io::Result<()> {
    writeln!(
        w,
        "\"OWNER\",\"TABLE_NAME\",\"COLUMN_NAME\",\"DATA_TYPE\",\"COLUMN_ID\""
    )?;
    let types = [
        "NUMBER",
        "VARCHAR2",
        "VARCHAR2",
        "NUMBER",
        "NUMBER",
        "DATE",
        "TIMESTAMP(6)",
        "VARCHAR2",
        "RAW",
        "NUMBER",
    ];
    for t in TABLES {
        for (i, c) in COLUMNS.iter().enumerate() {
            writeln!(w, "\"SHOP\",\"{t}\",\"{c}\",\"{}\",{}", types[i], i + 1)?;
        }
    }
    Ok(())
}

fn csv_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn values(g: &mut Gen, id: u64) -> [String; 10] {
    let note = match g.below(4) {
        0 => "plain note".to_string(),
        1 => "comma, quote '' and \"double\"".to_string(),
        2 => "line one\nline two".to_string(),
        _ => format!("note {}", g.below(1_000_000)),
    };
    [
        format!("'{id}'"),
        format!("'customer {}'", g.below(10_000)),
        ["'NEW'", "'PAID'", "'SHIPPED'", "NULL"][g.below(4) as usize].to_string(),
        format!("{}.{:02}", g.below(100_000), g.below(100)),
        format!("{}", g.below(50)),
        format!(
            "TO_DATE('2024-{:02}-{:02} {:02}:{:02}:{:02}', 'YYYY-MM-DD HH24:MI:SS')",
            1 + g.below(12),
            1 + g.below(28),
            g.below(24),
            g.below(60),
            g.below(60)
        ),
        format!(
            "TO_TIMESTAMP('2024-05-{:02} 10:11:12.{:06}')",
            1 + g.below(28),
            g.below(1_000_000)
        ),
        format!("'{note}'"),
        format!("HEXTORAW('{:08x}')", g.below(u32::MAX as u64)),
        if g.below(3) == 0 {
            "NULL".to_string()
        } else {
            format!("{}", g.below(2))
        },
    ]
}

fn insert_sql(table: &str, v: &[String; 10]) -> String {
    let cols: Vec<String> = COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
    format!(
        "insert into \"SHOP\".\"{table}\"({}) values ({});",
        cols.join(","),
        v.join(",")
    )
}

fn where_clause(v: &[String; 10]) -> String {
    COLUMNS
        .iter()
        .zip(v.iter())
        .map(|(c, x)| {
            if x == "NULL" {
                format!("\"{c}\" IS NULL")
            } else {
                format!("\"{c}\" = {x}")
            }
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

struct Open {
    xid: u64,
    changes: Vec<(String, String, String, u8, bool)>, // table, rowid, sql, op, rollback
    committed_changes: Vec<String>,                   // tables of surviving changes
}

/// Writes an export of about `target_rows` rows from SCN 5000 on. Returns the ground truth.
pub fn write_export(w: impl Write, target_rows: u64, seed: u64) -> io::Result<Truth> {
    write_export_from(w, target_rows, seed, 5_000)
}

/// [`write_export`] with its SCNs starting just after `first_scn` (a database far past
/// `mining.start_scn`, as real ones are).
pub fn write_export_from(
    mut w: impl Write,
    target_rows: u64,
    seed: u64,
    first_scn: u64,
) -> io::Result<Truth> {
    let mut g = Gen::new(seed);
    let mut truth = Truth::default();
    writeln!(w, "\"SCN\",\"TIMESTAMP\",\"XID\",\"OPERATION_CODE\",\"SEG_OWNER\",\"TABLE_NAME\",\"ROW_ID\",\"ROLLBACK\",\"CSF\",\"SQL_REDO\",\"THREAD#\"")?;
    let mut scn: u64 = first_scn;
    let mut next_id: u64 = 1;
    let mut next_xid: u64 = 1;
    let mut open: Vec<Open> = Vec::new();
    let mut rows = 0u64;
    let mut row = |w: &mut dyn Write,
                   scn: u64,
                   xid: u64,
                   op: u8,
                   table: &str,
                   rowid: &str,
                   rollback: bool,
                   csf: bool,
                   sql: &str|
     -> io::Result<()> {
        rows += 1;
        let (owner, table) = if table.is_empty() {
            ("", "")
        } else {
            ("SHOP", table)
        };
        writeln!(
            w,
            "{scn},\"2024-05-01 10:{:02}:{:02}\",\"{xid:016X}\",{op},\"{owner}\",{},\"{rowid}\",{},{},{},1",
            (scn / 60) % 60,
            scn % 60,
            csv_quote(table),
            rollback as u8,
            csf as u8,
            csv_quote(sql)
        )
    };
    while truth.rows < target_rows || !open.is_empty() {
        // Start new transactions while below the concurrency target.
        // About eight transactions in flight at a time, like a busy OLTP schema.
        if truth.rows < target_rows && (open.is_empty() || (open.len() < 16 && g.below(3) == 0)) {
            let xid =
                ((next_xid & 0xFFFF) << 48) | ((next_xid & 0xFFFF) << 32) | (next_xid * 7 + 1);
            next_xid += 1;
            scn += 1 + g.below(2);
            row(
                &mut w,
                scn,
                xid,
                6,
                "",
                "",
                false,
                false,
                "set transaction read write;",
            )?;
            truth.rows += 1;
            open.push(Open {
                xid,
                changes: vec![],
                committed_changes: vec![],
            });
        }
        let i = g.below(open.len() as u64) as usize;
        let action = g.below(10);
        if action < 7 || open[i].changes.is_empty() {
            // A DML change.
            let table = TABLES[g.below(2) as usize];
            let id = next_id;
            next_id += 1;
            let v = values(&mut g, id);
            let rowid = format!("AAAS{id:014}");
            let (op, sql) = match g.below(3) {
                0 => (1u8, insert_sql(table, &v)),
                1 => (3u8, format!("update \"SHOP\".\"{table}\" set \"STATUS\" = 'PAID', \"QTY\" = {} where {} and ROWID = '{rowid}';", g.below(9), where_clause(&v))),
                _ => (2u8, format!("delete from \"SHOP\".\"{table}\" where {} and ROWID = '{rowid}';", where_clause(&v))),
            };
            scn += g.below(2);
            let xid = open[i].xid;
            if sql.len() > 200 && g.below(10) == 0 {
                // CSF: split the statement over several rows (on char boundaries).
                let mut pieces = vec![];
                let mut rest = sql.as_str();
                while rest.len() > 120 {
                    let mut cut = 120;
                    while !rest.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    pieces.push(&rest[..cut]);
                    rest = &rest[cut..];
                }
                pieces.push(rest);
                for (k, p) in pieces.iter().enumerate() {
                    row(
                        &mut w,
                        scn,
                        xid,
                        op,
                        table,
                        &rowid,
                        false,
                        k + 1 < pieces.len(),
                        p,
                    )?;
                    truth.rows += 1;
                }
            } else {
                row(&mut w, scn, xid, op, table, &rowid, false, false, &sql)?;
                truth.rows += 1;
            }
            open[i]
                .changes
                .push((table.to_string(), rowid.clone(), sql, op, false));
            open[i].committed_changes.push(table.to_string());
            // Sometimes the statement is undone right away (partial rollback by ROW_ID).
            if g.below(20) == 0 {
                let undo = match op {
                    1 => (2u8, format!("delete from \"SHOP\".\"{table}\" where ROWID = '{rowid}';")),
                    2 => (1u8, insert_sql(table, &v)),
                    _ => (3u8, format!("update \"SHOP\".\"{table}\" set \"STATUS\" = 'NEW' where ROWID = '{rowid}';")),
                };
                row(
                    &mut w, scn, xid, undo.0, table, &rowid, true, false, &undo.1,
                )?;
                truth.rows += 1;
                open[i].committed_changes.pop();
            }
        } else {
            // End the transaction: commit (mostly) or roll back; sometimes two commit at one SCN.
            let t = open.swap_remove(i);
            scn += 1;
            if g.below(20) == 0 {
                row(&mut w, scn, t.xid, 36, "", "", false, false, "rollback;")?;
                truth.rows += 1;
            } else {
                row(&mut w, scn, t.xid, 7, "", "", false, false, "commit;")?;
                truth.rows += 1;
                truth.committed_txns += !t.committed_changes.is_empty() as u64;
                for table in t.committed_changes {
                    *truth.committed_changes.entry(table).or_default() += 1;
                }
                if !open.is_empty() && g.below(4) == 0 {
                    let j = g.below(open.len() as u64) as usize;
                    let t2 = open.swap_remove(j);
                    row(&mut w, scn, t2.xid, 7, "", "", false, false, "commit;")?;
                    truth.rows += 1;
                    truth.committed_txns += !t2.committed_changes.is_empty() as u64;
                    for table in t2.committed_changes {
                        *truth.committed_changes.entry(table).or_default() += 1;
                    }
                }
            }
        }
    }
    let _ = rows;
    Ok(truth)
}
