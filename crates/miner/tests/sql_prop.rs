//! Property tests for the SQL_REDO parser: statements rendered the way LogMiner prints them
//! (long text split into `'a' || 'b'` pieces, non-ASCII sometimes through `UNISTR`, dates in
//! the session and default masks) parse back to the generated values; and no input panics.

use std::borrow::Cow;

use proptest::prelude::*;
use redoflow_miner::sql::{
    parse, parse_reusing, parse_row, Buffers, DmlKind, RowBuffers, RowError,
};
use redoflow_miner::{OraDateTime, TableId, TableSchema, Value};

/// A generated value: what the parser must return, and how LogMiner would print it.
#[derive(Clone, Debug)]
struct Gen {
    expected: Expected,
    sql: String,
}

/// Owned mirror of `Value` so strategies can produce it.
#[derive(Clone, Debug, PartialEq)]
enum Expected {
    Null,
    Text(String),
    Number(String),
    Date(OraDateTime),
    Timestamp {
        at: OraDateTime,
        fraction: String,
        tz: Option<String>,
    },
    Raw(String),
    EmptyLob,
    Ym(String),
    Ds(String),
    Unsupported,
}

impl Expected {
    fn matches(&self, v: &Value<'_>) -> bool {
        match (self, v) {
            (Expected::Null, Value::Null) => true,
            (Expected::Text(a), Value::Text(b)) => a == b,
            (Expected::Number(a), Value::Number(b)) => a == b,
            (Expected::Date(a), Value::Date(b)) => a == b,
            (
                Expected::Timestamp { at, fraction, tz },
                Value::Timestamp {
                    at: a2,
                    fraction: f2,
                    tz: t2,
                },
            ) => at == a2 && fraction == f2 && tz.as_deref() == *t2,
            (Expected::Raw(a), Value::Raw(b)) => a == b,
            (Expected::EmptyLob, Value::EmptyLob) => true,
            (Expected::Ym(a), Value::IntervalYearMonth(b)) => a == b,
            (Expected::Ds(a), Value::IntervalDaySecond(b)) => a == b,
            (Expected::Unsupported, Value::Unsupported) => true,
            _ => false,
        }
    }
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

fn datetime() -> impl Strategy<Value = OraDateTime> {
    (1i32..=9999, 1u8..=12, 1u8..=31, 0u8..24, 0u8..60, 0u8..60)
        .prop_filter_map("valid date", |(y, mo, d, h, mi, s)| {
            OraDateTime::new(y, mo, d, h, mi, s)
        })
}

/// A text piece rendered as a literal or, for non-ASCII, sometimes as `UNISTR`.
fn render_piece(piece: &str, unistr: bool) -> String {
    if unistr {
        let mut out = String::from("UNISTR('");
        for c in piece.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("''"),
                c if c.is_ascii() => out.push(c),
                c => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\{u:04X}"));
                    }
                }
            }
        }
        out.push_str("')");
        out
    } else {
        format!("'{}'", piece.replace('\'', "''"))
    }
}

fn text() -> impl Strategy<Value = Gen> {
    let chars = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::sample::select(vec![
            '\'', ',', ')', '(', '"', '=', '|', ' ', '\n', '\r', '\t', '\\', ';', '.'
        ]),
        1 => proptest::sample::select(vec!['é', 'ß', '日', '本', '😀', 'Ω', '\u{7f}']),
    ];
    (
        proptest::collection::vec(chars, 1..60),
        1usize..20,
        any::<bool>(),
    )
        .prop_map(|(chars, chunk, unistr)| {
            let s: String = chars.iter().collect();
            // LogMiner splits long literals; the chunk size stands for its 4000-byte limit.
            let pieces: Vec<String> = chars
                .chunks(chunk)
                .map(|c| {
                    let piece: String = c.iter().collect();
                    let use_unistr = unistr && !piece.is_ascii();
                    render_piece(&piece, use_unistr)
                })
                .collect();
            Gen {
                expected: Expected::Text(s),
                sql: pieces.join(" || "),
            }
        })
}

fn number() -> impl Strategy<Value = Gen> {
    "[+-]?([0-9]{1,20}(\\.[0-9]{0,10})?|\\.[0-9]{1,10})([eE][+-]?[0-9]{1,3})?".prop_map(|n| Gen {
        expected: Expected::Number(n.clone()),
        sql: n,
    })
}

fn date() -> impl Strategy<Value = Gen> {
    (datetime(), any::<bool>(), any::<bool>()).prop_map(|(at, default_mask, lower)| {
        if default_mask && (1950..2050).contains(&at.year) {
            // DD-MON-RR carries no time of day.
            let at = OraDateTime::new(at.year, at.month, at.day, 0, 0, 0).unwrap();
            let mon = MONTHS[usize::from(at.month - 1)];
            let mon = if lower {
                mon.to_lowercase()
            } else {
                mon.to_string()
            };
            Gen {
                expected: Expected::Date(at),
                sql: format!(
                    "TO_DATE('{:02}-{mon}-{:02}', 'DD-MON-RR')",
                    at.day,
                    at.year % 100
                ),
            }
        } else {
            let f = if lower { "to_date" } else { "TO_DATE" };
            Gen {
                expected: Expected::Date(at),
                sql: format!("{f}('{at}', 'YYYY-MM-DD HH24:MI:SS')"),
            }
        }
    })
}

fn timestamp() -> impl Strategy<Value = Gen> {
    let zone = prop_oneof![
        Just(None),
        "[+-](0[0-9]|1[0-4]):[0-5][0-9]".prop_map(Some),
        proptest::sample::select(vec!["UTC", "Europe/Paris", "America/New_York"])
            .prop_map(|z| Some(z.to_string())),
    ];
    (datetime(), "[0-9]{0,9}", zone, any::<bool>()).prop_map(|(at, fraction, tz, default_fmt)| {
        let func = if tz.is_some() {
            "TO_TIMESTAMP_TZ"
        } else {
            "TO_TIMESTAMP"
        };
        let text = if default_fmt && (1950..2050).contains(&at.year) && !fraction.is_empty() {
            // DD-MON-RR HH.MI.SSXFF AM [TZR]
            let h12 = if at.hour % 12 == 0 { 12 } else { at.hour % 12 };
            let ampm = if at.hour < 12 { "AM" } else { "PM" };
            format!(
                "{:02}-{}-{:02} {h12:02}.{:02}.{:02}.{fraction} {ampm}",
                at.day,
                MONTHS[usize::from(at.month - 1)],
                at.year % 100,
                at.minute,
                at.second
            )
        } else if fraction.is_empty() {
            format!("{at}")
        } else {
            format!("{at}.{fraction}")
        };
        let text = match &tz {
            Some(z) => format!("{text} {z}"),
            None => text,
        };
        Gen {
            expected: Expected::Timestamp { at, fraction, tz },
            sql: format!("{func}('{text}')"),
        }
    })
}

fn raw() -> impl Strategy<Value = Gen> {
    ("([0-9a-fA-F]{2}){0,20}", 1usize..8).prop_map(|(hex, chunk)| {
        let bytes = hex.as_bytes();
        let sql = if bytes.len() > chunk * 2 {
            bytes
                .chunks(chunk * 2)
                .map(|c| format!("HEXTORAW('{}')", std::str::from_utf8(c).unwrap()))
                .collect::<Vec<_>>()
                .join(" || ")
        } else {
            format!("HEXTORAW('{hex}')")
        };
        Gen {
            expected: Expected::Raw(hex),
            sql,
        }
    })
}

fn value() -> impl Strategy<Value = Gen> {
    let fixed = |e: Expected, s: &str| Gen {
        expected: e,
        sql: s.to_string(),
    };
    prop_oneof![
        4 => text(),
        3 => number(),
        2 => Just(fixed(Expected::Null, "NULL")),
        2 => date(),
        2 => timestamp(),
        1 => raw(),
        1 => prop_oneof![
            Just(fixed(Expected::EmptyLob, "EMPTY_CLOB()")),
            Just(fixed(Expected::EmptyLob, "EMPTY_BLOB()")),
            Just(fixed(Expected::Unsupported, "Unsupported Type")),
        ],
        1 => "[+-][0-9]{1,9}-[0-9]{2}".prop_map(|i| Gen { expected: Expected::Ym(i.clone()), sql: format!("TO_YMINTERVAL('{i}')") }),
        1 => "[+-][0-9]{1,9} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6,9}".prop_map(|i| Gen { expected: Expected::Ds(i.clone()), sql: format!("TO_DSINTERVAL('{i}')") }),
    ]
}

/// Column and table names: anything but `"`.
fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 #$_.éΩ日]{1,12}"
}

#[derive(Clone, Debug)]
struct GenStmt {
    kind: DmlKind,
    owner: String,
    table: String,
    values: Vec<(String, Gen)>,
    conditions: Vec<(String, Gen)>,
    rowid: Option<usize>,
    semicolon: bool,
}

fn statement() -> impl Strategy<Value = GenStmt> {
    let pairs = || proptest::collection::vec((name(), value()), 1..12);
    (
        prop_oneof![
            Just(DmlKind::Insert),
            Just(DmlKind::Update),
            Just(DmlKind::Delete)
        ],
        name(),
        name(),
        pairs(),
        proptest::collection::vec((name(), value()), 0..12),
        proptest::option::of(0usize..12),
        any::<bool>(),
    )
        .prop_map(
            |(kind, owner, table, values, conditions, rowid, semicolon)| {
                let (values, conditions) = match kind {
                    DmlKind::Insert => (values, Vec::new()),
                    DmlKind::Update => (values, conditions),
                    DmlKind::Delete => (Vec::new(), conditions),
                };
                GenStmt {
                    kind,
                    owner,
                    table,
                    values,
                    conditions,
                    rowid,
                    semicolon,
                }
            },
        )
}

/// The statement as LogMiner prints it.
fn render(g: &GenStmt) -> String {
    let mut sql = match g.kind {
        DmlKind::Insert => {
            let cols: Vec<String> = g.values.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            let vals: Vec<&str> = g.values.iter().map(|(_, v)| v.sql.as_str()).collect();
            format!(
                "insert into \"{}\".\"{}\"({}) values ({})",
                g.owner,
                g.table,
                cols.join(","),
                vals.join(",")
            )
        }
        DmlKind::Update => {
            let set: Vec<String> = g
                .values
                .iter()
                .map(|(n, v)| format!("\"{n}\" = {}", v.sql))
                .collect();
            format!(
                "update \"{}\".\"{}\" set {}",
                g.owner,
                g.table,
                set.join(", ")
            )
        }
        DmlKind::Delete => format!("delete from \"{}\".\"{}\"", g.owner, g.table),
    };
    let mut conds: Vec<String> = g
        .conditions
        .iter()
        .map(|(n, v)| match v.expected {
            Expected::Null => format!("\"{n}\" IS NULL"),
            _ => format!("\"{n}\" = {}", v.sql),
        })
        .collect();
    if g.kind != DmlKind::Insert {
        if let Some(at) = g.rowid {
            conds.insert(at.min(conds.len()), "ROWID = 'AAAR3sAAEAAAACXAAA'".into());
        }
    }
    if !conds.is_empty() {
        sql.push_str(" where ");
        sql.push_str(&conds.join(" and "));
    }
    if g.semicolon {
        sql.push(';');
    }
    sql
}

/// Column names of the layout tests: few, so that statements repeat them (SET and WHERE naming
/// one column, a name twice) and schemas know some and miss others.
const POOL: [&str; 8] = ["ID", "A", "AB", "B", "N 1", "é", "LONG_COLUMN_NAME_X", "C"];

/// A statement over [`POOL`] names, as LogMiner prints it, then perhaps spaced and cased
/// differently (the general paths) or cut short.
fn pooled_statement() -> impl Strategy<Value = String> {
    let pairs = |n| proptest::collection::vec((proptest::sample::select(&POOL[..]), value()), n);
    (
        statement(),
        pairs(1..8),
        pairs(0..9),
        0u8..6,
        0.0f64..1.0,
        0u8..3,
    )
        .prop_map(|(mut g, values, conditions, variant, cut, table)| {
            // Mostly the schema's own table, whose name the row parser compares whole.
            match table {
                0 => (g.owner, g.table) = ("O".into(), "T".into()),
                1 => (g.owner, g.table) = ("O".into(), "TX".into()),
                _ => {}
            }
            let named =
                |v: Vec<(&str, Gen)>| v.into_iter().map(|(n, g)| (n.to_string(), g)).collect();
            g.values = if g.kind == DmlKind::Delete {
                Vec::new()
            } else {
                named(values)
            };
            g.conditions = if g.kind == DmlKind::Insert {
                Vec::new()
            } else {
                named(conditions)
            };
            let sql = render(&g);
            match variant {
                0 => sql.replace("\",\"", "\", \""),
                1 => sql
                    .replace(" = ", "=")
                    .replace(" and ", "  AND ")
                    .replace(" where ", " WHERE "),
                2 => sql
                    .replace("(\"", "( \"")
                    .replace("update ", "update  ")
                    .replace("insert into ", "INSERT INTO "),
                3 => {
                    let mut at = (sql.len() as f64 * cut) as usize;
                    while !sql.is_char_boundary(at) {
                        at -= 1;
                    }
                    sql[..at].to_string()
                }
                _ => sql,
            }
        })
}

/// A schema over some of the [`POOL`] names in some order, perhaps with a name of its own
/// (one containing `"` turns the whole-list compare off).
fn pooled_schema() -> impl Strategy<Value = TableSchema> {
    (
        proptest::sample::subsequence(POOL.to_vec(), 0..=POOL.len()),
        any::<proptest::sample::Index>(),
        proptest::option::of(prop_oneof![Just("X\"Y"), Just("EXTRA")]),
        any::<bool>(),
    )
        .prop_map(|(mut names, rotate, extra, reverse)| {
            if !names.is_empty() {
                let k = rotate.index(names.len());
                names.rotate_left(k);
            }
            if reverse {
                names.reverse();
            }
            names.extend(extra);
            TableSchema::from_names(TableId::new("O", "T"), names, "VARCHAR2")
        })
}

fn check_pairs(got: &[(&str, Value<'_>)], want: &[(String, Gen)]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    for ((gn, gv), (wn, wv)) in got.iter().zip(want) {
        prop_assert_eq!(*gn, wn.as_str());
        prop_assert!(
            wv.expected.matches(gv),
            "{:?} rendered as {:?} parsed as {:?}",
            wv.expected,
            wv.sql,
            gv
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn logminer_statements_round_trip(g in statement()) {
        let sql = render(&g);
        let stmt = parse(&sql).map_err(|e| TestCaseError::fail(format!("{e} in {sql:?}")))?;
        prop_assert_eq!(stmt.kind, g.kind);
        prop_assert_eq!(stmt.owner, g.owner.as_str());
        prop_assert_eq!(stmt.table, g.table.as_str());
        check_pairs(&stmt.values, &g.values)?;
        check_pairs(&stmt.conditions, &g.conditions)?;
    }

    /// Parsing straight into a row image gives what parsing into pairs and laying them out
    /// gives: the same values in the same slots, the same unknown column, or the same error.
    #[test]
    fn row_parse_equals_statement_then_row(sql in pooled_statement(), schema in pooled_schema()) {
        let mut buffers = Buffers::default();
        let mut row_buffers = RowBuffers::default();
        // Twice through the same buffers: reuse must not leak one statement into the next.
        for _ in 0..2 {
            let want = parse_reusing(&sql, &mut buffers).map(|stmt| {
                let mut out = Vec::new();
                let laid = stmt.row(&schema, &mut out).map(|()| out.into_iter().map(|v| v.cloned()).collect::<Vec<_>>());
                (stmt.kind, laid)
            });
            let got = parse_row(&sql, &schema, &mut row_buffers);
            match (want, got) {
                (Err(e), Err(RowError::Parse(g))) => prop_assert_eq!(e, g, "{}", sql),
                (Ok((_, Err(unknown))), Err(RowError::UnknownColumn(g))) => prop_assert_eq!(unknown, g, "{}", sql),
                (Ok((kind, Ok(values))), Ok(row)) => {
                    prop_assert_eq!(kind, row.kind);
                    prop_assert_eq!(&values, &row.values, "{}", sql);
                    row.recycle(&mut row_buffers);
                }
                (want, got) => prop_assert!(false, "{sql}: pairs gave {want:?}, row gave {got:?}"),
            }
        }
    }

    #[test]
    fn plain_text_is_borrowed(s in "[^']{0,40}") {
        let sql = format!("insert into \"O\".\"T\"(\"C\") values ('{s}')");
        let stmt = parse(&sql).unwrap();
        prop_assert!(matches!(&stmt.values[0].1, Value::Text(Cow::Borrowed(t)) if *t == s));
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        if let Err(e) = parse(&s) {
            prop_assert!(e.pos <= s.len());
        }
    }

    #[test]
    fn sql_like_strings_never_panic(s in "(insert|update|delete|into|values|set|where|and|from|IS|NULL|ROWID|TO_DATE|TO_TIMESTAMP_TZ|HEXTORAW|UNISTR|\\|\\||'|\"|[(),;= .\\\\]|[a-zA-Z0-9é]| )*") {
        if let Err(e) = parse(&s) {
            prop_assert!(e.pos <= s.len());
        }
    }

    /// The byte-exact fast paths (`TO_DATE(`, `TO_TIMESTAMP(`, `HEXTORAW(` as LogMiner spells
    /// them) answer exactly what the general path answers for the same text in lower case
    /// (which only the general path reads): the same value, or the same error at the same
    /// byte. The texts are near misses of the fixed layouts as often as hits.
    #[test]
    fn fast_paths_agree_with_the_general_path(
        text in "[0-9]{4}[-/][0-9]{1,2}-[0-3][0-9][ T][0-2][0-9]:[0-6][0-9]:[0-6][0-9](\\.[0-9]{0,10})?( ?)",
        hex in "[0-9a-fA-F]{0,12}[g ']?[0-9a-f]{0,3}",
        tail in "(\\)|, 'YYYY-MM-DD HH24:MI:SS'\\)|,'YYYY-MM-DD HH24:MI:SS'\\)|, 'yyyy-mm-dd hh24:mi:ss'\\)| \\))",
    ) {
        let as_printed = |sql: &str| format!("{:?}", parse(sql).map(|st| st.values.into_iter().map(|(_, v)| v).collect::<Vec<_>>()));
        for (fast, general) in [
            (format!("TO_DATE('{text}'{tail}"), format!("to_date('{text}'{tail}")),
            (format!("TO_TIMESTAMP('{text}'{tail}"), format!("to_timestamp('{text}'{tail}")),
            (format!("HEXTORAW('{hex}'{tail}"), format!("hextoraw('{hex}'{tail}")),
        ] {
            let sql = |v: &str| format!("insert into \"O\".\"T\"(\"A\",\"B\") values ({v},1);");
            prop_assert_eq!(as_printed(&sql(&fast)), as_printed(&sql(&general)), "{}", fast);
        }
    }

    #[test]
    fn truncated_statements_error_not_panic(g in statement(), cut in 0.0f64..1.0) {
        let sql = render(&g);
        let mut at = (sql.len() as f64 * cut) as usize;
        while !sql.is_char_boundary(at) {
            at -= 1;
        }
        if let Err(e) = parse(&sql[..at]) {
            prop_assert!(e.pos <= at);
        }
    }
}
