//! The simulated database's catalog and how its values print, in SQL_REDO and as CSV text.
//!
//! A column value is a `u64` seed (`0` is NULL). Everything about the value (the number, the
//! text, the date) and about how LogMiner prints it (quoted or bare number, `UNISTR`, a literal
//! split with `||`) is a pure function of the seed, so a row image is a few machine words, a
//! generator snapshot is cheap, and the SQL text and the expected CSV text always agree.

use std::sync::Arc;

use super::config::SimCatalog;
use super::text::{Padded, Piece, Span, Writer};
use crate::row::{Name, ShortText};
use crate::schema::{Column, TableId, TableSchema};

/// Widest table of the catalog.
pub(crate) const MAX_COLS: usize = 10;
/// A row image: one value seed per column (`0` = NULL), unused trailing slots are 0.
pub(crate) type Row = [u64; MAX_COLS];

/// Longest piece of a text literal before LogMiner continues it with `|| '...'`.
const LITERAL_PIECE: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The primary key: a NUMBER whose seed is the key itself.
    Key,
    Int,
    /// A NUMBER with up to two decimals, printed the way Oracle does (`.5`, `-12.25`).
    Money,
    Varchar,
    Date,
    Timestamp,
    Raw,
    Clob,
}

impl Kind {
    fn data_type(self) -> &'static str {
        match self {
            Kind::Key | Kind::Int | Kind::Money => "NUMBER",
            Kind::Varchar => "VARCHAR2",
            Kind::Date => "DATE",
            Kind::Timestamp => "TIMESTAMP(6)",
            Kind::Raw => "RAW",
            Kind::Clob => "CLOB",
        }
    }
}

#[derive(Debug)]
pub(crate) struct ColDef {
    pub kind: Kind,
    pub nullable: bool,
    /// `"NAME"` as SQL_REDO prints it.
    pub quoted: String,
    /// `"NAME" = ` and `, "NAME" = `, a SET item up to its value.
    pub eq: Piece,
    pub comma_eq: Piece,
    /// A condition: `[and][null]` is `"NAME" = ` (up to the value), `"NAME" IS NULL`,
    /// ` and "NAME" = `, ` and "NAME" IS NULL`.
    pub cond: [[Piece; 2]; 2],
}

#[derive(Debug)]
pub(crate) struct TableDef {
    pub schema: Arc<TableSchema>,
    /// SEG_OWNER and TABLE_NAME, shared by every row.
    pub owner: Name,
    pub name: Name,
    pub cols: Vec<ColDef>,
    /// Relative share of the DML.
    pub weight: u32,
    /// Data object number and file number of the ROWID, base-64 (9 characters).
    rowid_prefix: [u8; 9],
    /// The statement prefixes below.
    pub text: Padded,
    /// `insert into "O"."T"("A","B") values (`
    pub insert_prefix: Span,
    /// `update "O"."T" set `
    pub update_prefix: Span,
    /// `delete from "O"."T" where `
    pub delete_prefix: Span,
    /// An upper bound of the length of any SQL_REDO of this table's DML: what a [`Writer`]
    /// needs room for.
    pub max_sql: usize,
}

const OWNER: &str = "SIM";

/// (name, data object number, weight, columns (name, kind, nullable)). The first column is the
/// key. Odd names on purpose: lower case, blanks, `#`, `$`, a comma.
type TableSpec = (
    &'static str,
    u32,
    u32,
    &'static [(&'static str, Kind, bool)],
);
const MIXED: &[TableSpec] = &[
    (
        "CUSTOMERS",
        73_101,
        30,
        &[
            ("ID", Kind::Key, false),
            ("NAME", Kind::Varchar, false),
            ("EMAIL", Kind::Varchar, true),
            ("BALANCE", Kind::Money, true),
            ("CREATED", Kind::Date, true),
            ("UPDATED_AT", Kind::Timestamp, true),
            ("AVATAR", Kind::Raw, true),
            ("NOTES", Kind::Clob, true),
        ],
    ),
    (
        "ORDERS",
        73_102,
        40,
        &[
            ("ORDER_ID", Kind::Key, false),
            ("CUSTOMER_ID", Kind::Int, false),
            ("STATUS", Kind::Varchar, false),
            ("AMOUNT", Kind::Money, false),
            ("ORDERED_AT", Kind::Timestamp, false),
            ("SHIP_DATE", Kind::Date, true),
        ],
    ),
    (
        "order lines",
        73_103,
        25,
        &[
            ("Line#", Kind::Key, false),
            ("order id", Kind::Int, false),
            ("unit $price", Kind::Money, false),
            ("qty", Kind::Int, true),
            ("note, text", Kind::Varchar, true),
            ("payload", Kind::Raw, true),
        ],
    ),
    (
        "DOC$STORE",
        73_104,
        5,
        &[
            ("DOC_ID", Kind::Key, false),
            ("Title", Kind::Varchar, false),
            ("BODY", Kind::Clob, true),
            ("CHECKSUM", Kind::Raw, true),
            ("VERSION#", Kind::Int, false),
        ],
    ),
];

/// [`SimCatalog::TenColumns`]: one table of ten columns, no LOB, the row shape of the throughput
/// goal. The column names are plain; the values still carry every hard case of §3.
const TEN_COLUMNS: &[TableSpec] = &[(
    "ACCOUNTS",
    73_201,
    1,
    &[
        ("ID", Kind::Key, false),
        ("CUSTOMER_ID", Kind::Int, false),
        ("NAME", Kind::Varchar, false),
        ("STATUS", Kind::Varchar, true),
        ("BALANCE", Kind::Money, true),
        ("CREDIT_LIMIT", Kind::Money, true),
        ("OPENED", Kind::Date, true),
        ("UPDATED_AT", Kind::Timestamp, true),
        ("FLAGS", Kind::Raw, true),
        ("VERSION", Kind::Int, false),
    ],
)];

/// Text pieces values are made of: every hard case of SPEC.md §3 (quotes, `"`, commas, ` and `,
/// `" = "`, `||`, `)`, newlines, backslashes, non-ASCII up to 4-byte UTF-8) next to plain words.
const FRAGMENTS: &[&str] = &[
    "Steven",
    "King",
    "O'Brien",
    "say \"hi\"",
    "a, b",
    " and ",
    "\" = \"",
    "||",
    "line1\nline2",
    "café",
    "Ünïcödé ✓",
    "日本語",
    "😀",
    "C:\\temp\\x",
    "(paren)",
    "x = 'y'",
    "it''s",
    " ",
    "tab\there",
    "semi;colon",
    "NULL",
    "ROWID = 'AAA'",
    "Ωμέγα",
    "naïve",
    "100%",
    "end.",
    "shipped",
    "pending",
    "cr\r\nlf",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ",
    "Zoë's \"quoted\" note, with comma and ) and '' inside; ",
    "-- not a comment */ ",
];

#[derive(Debug)]
struct Fragment {
    raw: &'static str,
    /// Inside `'...'`: quotes doubled.
    escaped: String,
    /// Inside `UNISTR('...')`: non-ASCII as `\XXXX` UTF-16 units, `\` doubled, quotes doubled.
    unistr: String,
}

fn unistr_form(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX_UPPER[usize::from((*u >> shift) & 0xF)] as char);
                    }
                    out.insert(out.len() - 4, '\\');
                }
            }
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// 1990-01-01 as days since 1970-01-01.
const DAYS_1990: i64 = 7305;
/// Forty years of seconds: the range of generated DATE and TIMESTAMP values.
const DATE_SPAN: u64 = 40 * 365 * 86_400;

/// Mixes a seed into well-spread bits (the wyhash finaliser).
#[inline]
pub(crate) fn mix(v: u64) -> u64 {
    let t =
        u128::from(v ^ 0xe703_7ed1_a0b4_28db) * u128::from(v.wrapping_add(0xa076_1d64_78bd_642f));
    ((t >> 64) as u64) ^ (t as u64)
}

/// Plain words of the [`SimCatalog::TenColumns`] VARCHAR2 values that carry no hard case.
const PLAIN_WORDS: &[&str] = &[
    "Steven",
    "King",
    "Neena",
    "Kochhar",
    "Lex",
    "De Haan",
    "Alexander",
    "Hunold",
    "Bruce",
    "Ernst",
    "active",
    "closed",
    "pending",
    "shipped",
    "billed",
    "Seattle",
    "Toronto",
    "London",
    "Munich",
    "Sydney",
    "gold",
    "silver",
    "retail",
    "wholesale",
    "EU-WEST",
    "US-EAST",
    "ref 42",
    "n/a",
    "VIP",
    "standard",
    "trial",
    "renewal",
];

/// Values per kind in the print pool (a power of two). Rows pick entries at random, so the
/// pool's index and text should stay in the CPU's nearest caches: 512 spent a point or two of
/// a one-core run more in cache misses than 256.
const POOL: usize = 256;

/// Pre-printed values: the SQL_REDO form and the CSV text of `POOL` values per kind, so a row is
/// printed by copying. A value seed picks its entry; the key (unique per row) is never pooled.
/// (Pre-printing whole ` and "COL" = value` conditions per column saved instructions but cost
/// more time: the larger pool missed the CPU caches.)
#[derive(Debug)]
struct Pool {
    /// Every printed form, back to back (a few hundred KB that stay in the CPU caches).
    arena: Padded,
    /// By `(Kind as usize) * POOL + entry`: the SQL form's range in `arena` (none for the key).
    /// A fixed-size array, so indexing it needs no bounds check.
    sql: Box<[Span; KINDS.len() * POOL]>,
    /// The same for the CSV text.
    text: Box<[Span; KINDS.len() * POOL]>,
}

/// Pools are the same for every model with the same print rules: built once per process.
/// What a pool depends on: plain VARCHAR2 values, and the per mille of long CLOBs.
type PoolKey = (bool, u64);
static POOLS: std::sync::Mutex<Vec<(PoolKey, Arc<Pool>)>> = std::sync::Mutex::new(Vec::new());

const KINDS: [Kind; 8] = [
    Kind::Key,
    Kind::Int,
    Kind::Money,
    Kind::Varchar,
    Kind::Date,
    Kind::Timestamp,
    Kind::Raw,
    Kind::Clob,
];

/// The catalog and the print rules; shared by every generator clone.
#[derive(Debug)]
pub(crate) struct Model {
    pub tables: Vec<TableDef>,
    /// The empty SEG_OWNER/TABLE_NAME of rows that have none (START, COMMIT, ...).
    pub no_name: Name,
    fragments: Vec<Fragment>,
    /// Per mille of CLOB values long enough (over 4000 bytes) to split SQL_REDO into CSF rows.
    long_clob_permille: u64,
    /// Nine in ten VARCHAR2 values are plain words ([`SimCatalog::TenColumns`]); else every
    /// value is made of the hard fragments.
    plain: bool,
    pool: Arc<Pool>,
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        (yoe + era * 400 + i64::from(m <= 2)) as i32,
        m as u8,
        d as u8,
    )
}

/// Appends `YYYY-MM-DD HH:MM:SS` for seconds since 1970.
pub(crate) fn push_datetime(out: &mut String, secs: i64) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400) as u32;
    let y = y.clamp(0, 9999) as u32;
    let b = [
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
        b'-',
        b'0' + m / 10,
        b'0' + m % 10,
        b'-',
        b'0' + d / 10,
        b'0' + d % 10,
        b' ',
        b'0' + (t / 36_000) as u8,
        b'0' + (t / 3600 % 10) as u8,
        b':',
        b'0' + (t % 3600 / 600) as u8,
        b'0' + (t % 3600 / 60 % 10) as u8,
        b':',
        b'0' + (t % 60 / 10) as u8,
        b'0' + (t % 10) as u8,
    ];
    push_ascii(out, &b);
}

#[inline]
fn push_ascii(out: &mut String, b: &[u8]) {
    // Only ASCII digits, letters and punctuation reach here. Validating them as UTF-8 and
    // copying once is cheaper than pushing each as a char (measured: 213 instructions per
    // ROWID the char way).
    out.push_str(std::str::from_utf8(b).unwrap_or_default());
}

/// Appends the decimal digits of `n`.
#[inline]
pub(crate) fn push_u64(out: &mut String, n: u64) {
    push_ascii(out, crate::decimal::u64_digits(n, &mut [0; 20]));
}

/// Appends `n` as `width` hex digits.
pub(crate) fn push_hex(out: &mut String, n: u64, width: usize, upper: bool) {
    let digits = if upper { HEX_UPPER } else { HEX_LOWER };
    let mut buf = [0u8; 16];
    let width = width.min(16);
    for (i, b) in buf[..width].iter_mut().enumerate() {
        *b = digits[((n >> (4 * (width - 1 - i))) & 0xF) as usize];
    }
    push_ascii(out, &buf[..width]);
}

/// A small, fast, seedable generator (wyrand); the whole simulation draws from it.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed ^ 0x005e_ed0f_5eed))
    }

    #[inline]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    /// Uniform in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p` (a threshold out of 2^64, see [`chance`]).
    #[inline]
    pub fn hit(&mut self, p: u64) -> bool {
        self.next() < p
    }
}

/// A probability in percent as a threshold for [`Rng::hit`].
pub(crate) fn chance(percent: f64) -> u64 {
    let p = (percent / 100.0).clamp(0.0, 1.0);
    if p >= 1.0 {
        u64::MAX
    } else {
        (p * 18_446_744_073_709_551_616.0) as u64
    }
}

impl Model {
    pub fn new(catalog: SimCatalog, long_clob_percent: f64) -> Model {
        let specs = match catalog {
            SimCatalog::Mixed => MIXED,
            SimCatalog::TenColumns => TEN_COLUMNS,
        };
        let tables = specs
            .iter()
            .map(|&(name, obj, weight, cols)| {
                let id = TableId::new(OWNER, name);
                let columns = cols
                    .iter()
                    .enumerate()
                    .map(|(i, &(c, kind, _))| Column {
                        name: c.to_string(),
                        data_type: kind.data_type().to_string(),
                        column_id: i as u32 + 1,
                    })
                    .collect();
                let mut text = Padded::default();
                let cols: Vec<ColDef> = cols
                    .iter()
                    .map(|&(c, kind, nullable)| ColDef {
                        kind,
                        nullable,
                        quoted: format!("\"{c}\""),
                        eq: Piece::new(&format!("\"{c}\" = ")),
                        comma_eq: Piece::new(&format!(", \"{c}\" = ")),
                        cond: [
                            [
                                Piece::new(&format!("\"{c}\" = ")),
                                Piece::new(&format!("\"{c}\" IS NULL")),
                            ],
                            [
                                Piece::new(&format!(" and \"{c}\" = ")),
                                Piece::new(&format!(" and \"{c}\" IS NULL")),
                            ],
                        ],
                    })
                    .collect();
                let names: Vec<&str> = cols.iter().map(|c| c.quoted.as_str()).collect();
                let mut rowid_prefix = [b'A'; 9];
                for i in 0..6 {
                    rowid_prefix[5 - i] = BASE64[((obj >> (6 * i)) & 63) as usize];
                }
                rowid_prefix[8] = BASE64[4];
                let insert_prefix = text.add(&format!(
                    "insert into \"{OWNER}\".\"{name}\"({}) values (",
                    names.join(",")
                ));
                let update_prefix = text.add(&format!("update \"{OWNER}\".\"{name}\" set "));
                let delete_prefix = text.add(&format!("delete from \"{OWNER}\".\"{name}\" where "));
                text.seal();
                TableDef {
                    owner: Name::from(OWNER),
                    name: Name::from(name),
                    schema: Arc::new(TableSchema::new(id, columns)),
                    text,
                    insert_prefix,
                    update_prefix,
                    delete_prefix,
                    max_sql: 0,
                    cols,
                    weight,
                    rowid_prefix,
                }
            })
            .collect();
        let fragments = FRAGMENTS
            .iter()
            .map(|&raw| Fragment {
                raw,
                escaped: raw.replace('\'', "''"),
                unistr: unistr_form(raw),
            })
            .collect();
        let mut model = Model {
            tables,
            no_name: Name::from(""),
            fragments,
            long_clob_permille: (long_clob_percent * 10.0).clamp(0.0, 1000.0) as u64,
            plain: catalog == SimCatalog::TenColumns,
            // Replaced below: the pool is printed by this model's rules.
            pool: Arc::new(Pool {
                arena: Padded::default(),
                sql: Box::new([Span::default(); KINDS.len() * POOL]),
                text: Box::new([Span::default(); KINDS.len() * POOL]),
            }),
        };
        model.pool = model.shared_pool();
        // The longest value of each kind: the key's 20 digits and quotes, the longest pooled
        // form, or NULL.
        let value_max = |kind: Kind| {
            let longest = (0..POOL)
                .map(|i| model.pool.sql[kind as usize * POOL + i].len())
                .max()
                .unwrap_or(0);
            longest.max(22).max("NULL".len())
        };
        let max_sql: Vec<usize> = model
            .tables
            .iter()
            .map(|t| {
                let prefix = [t.insert_prefix, t.update_prefix, t.delete_prefix]
                    .iter()
                    .map(|s| s.len())
                    .max()
                    .unwrap_or(0);
                // A column can be in the SET list and in the WHERE clause: twice its longest
                // piece, separator and value; then the `;` (undo rows: ` where ROWID = '...';`)
                // and the like.
                let cols: usize = t
                    .cols
                    .iter()
                    .map(|c| {
                        let piece = [&c.eq, &c.comma_eq]
                            .into_iter()
                            .chain(c.cond.iter().flatten())
                            .map(|p| p.len())
                            .max()
                            .unwrap_or(0);
                        2 * (1 + piece + value_max(c.kind))
                    })
                    .sum();
                prefix + cols + 64
            })
            .collect();
        for (t, max) in model.tables.iter_mut().zip(max_sql) {
            t.max_sql = max;
        }
        model
    }

    /// The pool of this model's print rules, built on first use in the process.
    fn shared_pool(&self) -> Arc<Pool> {
        let key = (self.plain, self.long_clob_permille);
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, pool)) = pools.iter().find(|(k, _)| *k == key) {
            return Arc::clone(pool);
        }
        let mut arena = Padded::default();
        let mut sql = Box::new([Span::default(); KINDS.len() * POOL]);
        let mut text = Box::new([Span::default(); KINDS.len() * POOL]);
        for &kind in &KINDS {
            if kind == Kind::Key {
                continue;
            }
            for i in 0..POOL {
                let v = mix(((i as u64) << 8) | kind as u64) | 1 << 63;
                let at = kind as usize * POOL + i;
                sql[at] = arena.add_with(|out| self.render_sql(kind, v, out));
                text[at] = arena.add_with(|out| self.render_text(kind, v, out));
            }
        }
        arena.seal();
        let pool = Arc::new(Pool { arena, sql, text });
        pools.push((key, Arc::clone(&pool)));
        pool
    }

    /// The pooled value of a seed, if the kind is pooled.
    #[inline]
    fn pooled(&self, kind: Kind, v: u64, form: usize) -> Option<&str> {
        if kind == Kind::Key {
            return None;
        }
        let pool = &self.pool;
        let spans = if form == 0 { &pool.sql } else { &pool.text };
        Some(pool.arena.get(spans[pool_index(kind, v)]))
    }

    /// The pooled SQL forms, borrowed for the pushes of a statement.
    #[inline]
    pub fn sql_values(&self) -> SqlValues<'_> {
        SqlValues {
            arena: self.pool.arena.bytes(),
            sql: &self.pool.sql,
        }
    }

    /// The 18-character ROWID of a table slot.
    pub fn push_rowid(&self, table: usize, slot: u32, out: &mut String) {
        push_ascii(out, &self.rowid(table, slot));
    }

    /// The ROWID as a row's ROW_ID.
    pub fn rowid_text(&self, table: usize, slot: u32) -> ShortText {
        // Base-64 letters, digits, `+` and `/` only: always ASCII, and 18 bytes fit.
        ShortText::from_ascii(&self.rowid(table, slot)).unwrap_or_default()
    }

    pub fn rowid(&self, table: usize, slot: u32) -> [u8; 18] {
        let mut b = [b'A'; 18];
        if let Some(t) = self.tables.get(table) {
            b[..9].copy_from_slice(&t.rowid_prefix);
        }
        let block = 0x83 + u64::from(slot / 64);
        for i in 0..6 {
            b[14 - i] = BASE64[((block >> (6 * i)) & 63) as usize];
        }
        let row = u64::from(slot % 64);
        b[17] = BASE64[(row & 63) as usize];
        b
    }

    /// The fragment indices of a VARCHAR2 value.
    fn varchar_fragments(v: u64) -> ([u8; 4], usize) {
        let n = 1 + ((v >> 2) & 3) as usize;
        let h = mix(v);
        let mut idx = [0u8; 4];
        for (i, slot) in idx.iter_mut().enumerate().take(n) {
            *slot = (((h >> (i * 13)) & 0x1FFF) % FRAGMENTS.len() as u64) as u8;
        }
        (idx, n)
    }

    /// Length class of a CLOB: `None` for `EMPTY_CLOB()`, else the target length in bytes.
    fn clob_target(&self, v: u64) -> Option<usize> {
        let class = (v >> 2) % 1000;
        if class < self.long_clob_permille {
            Some(4100 + ((v >> 12) % 6000) as usize)
        } else if class >= 985 {
            None
        } else {
            Some(5 + ((v >> 12) % 300) as usize)
        }
    }

    /// Calls `f` with each fragment of a CLOB value of target length `target`.
    fn clob_fragments(&self, v: u64, target: usize, mut f: impl FnMut(&Fragment)) {
        let mut rng = Rng::new(v);
        let mut len = 0;
        while len < target {
            let r = rng.next();
            // Mostly the long prose fragments, so long values take few pieces.
            let i = if r & 3 == 0 {
                (r >> 8) as usize % self.fragments.len()
            } else {
                self.fragments.len() - 3 + (r >> 8) as usize % 3
            };
            let frag = &self.fragments[i];
            len += frag.raw.len();
            f(frag);
        }
    }

    /// Appends a non-NULL value as LogMiner prints it in SQL_REDO.
    #[cfg(test)]
    pub fn push_sql(&self, kind: Kind, v: u64, out: &mut String) {
        match self.pooled(kind, v, 0) {
            Some(sql) => out.push_str(sql),
            None => self.render_sql(kind, v, out),
        }
    }

    /// True when LogMiner prints the (non-NULL) value as a placeholder whose content would come
    /// in LOB operations (`EMPTY_CLOB()`): the writer gives such a column the missing marker.
    pub fn is_placeholder(&self, kind: Kind, v: u64) -> bool {
        v != 0 && kind == Kind::Clob && self.pooled(kind, v, 0) == Some("EMPTY_CLOB()")
    }

    /// Appends the CSV field text of a value (before CSV quoting): what SPEC.md §6 and the
    /// writer make of it. NULL (`v == 0`) is empty.
    pub fn push_text(&self, kind: Kind, v: u64, out: &mut String) {
        if v == 0 {
            return;
        }
        match self.pooled(kind, v, 1) {
            Some(text) => out.push_str(text),
            None => self.render_text(kind, v, out),
        }
    }

    /// A plain VARCHAR2 value (1 to 3 words), if the seed makes one.
    fn plain_words(&self, v: u64) -> Option<impl Iterator<Item = &'static str>> {
        if !self.plain || (v >> 11) % 10 == 0 {
            return None;
        }
        let n = 1 + ((v >> 15) % 3) as usize;
        let h = mix(v);
        Some(
            (0..n)
                .map(move |i| PLAIN_WORDS[((h >> (i * 13)) & 0x1FFF) as usize % PLAIN_WORDS.len()]),
        )
    }

    fn render_sql(&self, kind: Kind, v: u64, out: &mut String) {
        if kind == Kind::Varchar {
            if let Some(words) = self.plain_words(v) {
                out.push('\'');
                for (i, w) in words.enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(w);
                }
                out.push('\'');
                return;
            }
        }
        match kind {
            Kind::Key | Kind::Int | Kind::Money => {
                let bare = match kind {
                    Kind::Key => v % 5 == 0,
                    _ => (v >> 1) & 3 == 0,
                };
                if bare {
                    push_number(kind, v, out);
                } else {
                    out.push('\'');
                    push_number(kind, v, out);
                    out.push('\'');
                }
            }
            Kind::Varchar => {
                let (idx, n) = Self::varchar_fragments(v);
                let unistr = (v >> 5) & 3 == 0;
                let split_at = if (v >> 7) & 3 == 0 && n > 1 { 1 } else { n };
                for (piece, range) in [(0, 0..split_at), (1, split_at..n)] {
                    if range.is_empty() {
                        continue;
                    }
                    if piece == 1 {
                        out.push_str(" || ");
                    }
                    let uni = unistr && (piece == 0 || (v >> 9) & 1 == 1);
                    out.push_str(if uni { "UNISTR('" } else { "'" });
                    for &i in &idx[range] {
                        let f = &self.fragments[usize::from(i)];
                        out.push_str(if uni { &f.unistr } else { &f.escaped });
                    }
                    out.push_str(if uni { "')" } else { "'" });
                }
            }
            Kind::Date => {
                out.push_str("TO_DATE('");
                push_datetime(out, date_secs(v));
                out.push_str("', 'YYYY-MM-DD HH24:MI:SS')");
            }
            Kind::Timestamp => {
                out.push_str("TO_TIMESTAMP('");
                push_timestamp(v, out);
                out.push_str("')");
            }
            Kind::Raw => {
                out.push_str("HEXTORAW('");
                push_raw(v, (v >> 7) & 1 == 0, out);
                out.push_str("')");
            }
            Kind::Clob => match self.clob_target(v) {
                None => out.push_str("EMPTY_CLOB()"),
                Some(target) => {
                    out.push('\'');
                    let mut piece = 0;
                    self.clob_fragments(v, target, |f| {
                        if piece >= LITERAL_PIECE {
                            out.push_str("' || '");
                            piece = 0;
                        }
                        piece += f.escaped.len();
                        out.push_str(&f.escaped);
                    });
                    out.push('\'');
                }
            },
        }
    }

    fn render_text(&self, kind: Kind, v: u64, out: &mut String) {
        if kind == Kind::Varchar {
            if let Some(words) = self.plain_words(v) {
                for (i, w) in words.enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(w);
                }
                return;
            }
        }
        match kind {
            Kind::Key | Kind::Int | Kind::Money => push_number(kind, v, out),
            Kind::Varchar => {
                let (idx, n) = Self::varchar_fragments(v);
                for &i in &idx[..n] {
                    out.push_str(self.fragments[usize::from(i)].raw);
                }
            }
            Kind::Date => push_datetime(out, date_secs(v)),
            Kind::Timestamp => push_timestamp(v, out),
            Kind::Raw => push_raw(v, true, out),
            Kind::Clob => {
                if let Some(target) = self.clob_target(v) {
                    self.clob_fragments(v, target, |f| out.push_str(f.raw));
                }
            }
        }
    }
}

/// The SQL forms of values, as [`Model::sql_values`] lends them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SqlValues<'a> {
    arena: &'a [u8],
    sql: &'a [Span; KINDS.len() * POOL],
}

impl SqlValues<'_> {
    /// Appends a non-NULL value as LogMiner prints it in SQL_REDO.
    #[inline(always)]
    pub fn push(self, kind: Kind, v: u64, w: &mut Writer<'_>) {
        if kind == Kind::Key {
            // As `render_sql` prints a key: bare one time in five.
            w.push_u64(v, v % 5 != 0);
        } else {
            w.push(self.arena, self.sql[pool_index(kind, v)]);
        }
    }

    /// Appends a value as LogMiner prints it in SQL_REDO, `NULL` for NULL (`v == 0`).
    #[inline(always)]
    pub fn push_or_null(self, kind: Kind, v: u64, w: &mut Writer<'_>) {
        if v == 0 {
            w.push_array(b"NULL");
        } else {
            self.push(kind, v, w);
        }
    }
}

/// Where a value's entry is in [`Pool::sql`] and [`Pool::text`].
#[inline(always)]
fn pool_index(kind: Kind, v: u64) -> usize {
    kind as usize * POOL + (v as usize & (POOL - 1))
}

fn date_secs(v: u64) -> i64 {
    DAYS_1990 * 86_400 + ((v >> 8) % DATE_SPAN) as i64
}

fn push_timestamp(v: u64, out: &mut String) {
    push_datetime(out, date_secs(v));
    out.push('.');
    let micros = (v >> 40) % 1_000_000;
    let mut buf = [0u8; 6];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = b'0' + ((micros / 10u64.pow(5 - i as u32)) % 10) as u8;
    }
    push_ascii(out, &buf);
}

fn push_raw(v: u64, upper: bool, out: &mut String) {
    let n = 1 + ((v >> 2) % 16) as usize;
    let a = mix(v);
    let b = mix(a);
    for i in 0..n {
        let word = if i < 8 { a } else { b };
        push_hex(out, (word >> ((i % 8) * 8)) & 0xFF, 2, upper);
    }
}

fn push_number(kind: Kind, v: u64, out: &mut String) {
    match kind {
        Kind::Key => push_u64(out, v),
        Kind::Int => push_u64(out, (v >> 8) % 100_000),
        _ => {
            let cents = (v >> 8) % 10_000_000;
            if cents != 0 && (v >> 4) & 15 == 0 {
                out.push('-');
            }
            let (int, frac) = (cents / 100, cents % 100);
            if int != 0 || frac == 0 {
                push_u64(out, int);
            }
            if frac != 0 {
                out.push('.');
                out.push((b'0' + (frac / 10) as u8) as char);
                if frac % 10 != 0 {
                    out.push((b'0' + (frac % 10) as u8) as char);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_print_as_display_does() {
        for n in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            123_456_789,
            u64::MAX,
        ] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn kinds_index_the_pool_by_discriminant() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(*k as usize, i, "{k:?}");
        }
    }

    /// Pooled values print exactly as rendering them directly would, for both print rules.
    #[test]
    fn pooled_values_equal_rendered_ones() {
        for catalog in [SimCatalog::Mixed, SimCatalog::TenColumns] {
            let m = Model::new(catalog, 0.5);
            for &kind in &KINDS[1..] {
                for i in 0..2000u64 {
                    let v = mix(i ^ (kind as u64) << 32) | 1 << 63;
                    let (mut a, mut b) = (String::new(), String::new());
                    m.push_sql(kind, v, &mut a);
                    let entry =
                        mix(((v as usize & (POOL - 1)) as u64) << 8 | kind as u64) | 1 << 63;
                    m.render_sql(kind, entry, &mut b);
                    assert_eq!(a, b);
                    let (mut a, mut b) = (String::new(), String::new());
                    m.push_text(kind, v, &mut a);
                    m.render_text(kind, entry, &mut b);
                    assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(DAYS_1990), (1990, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        let mut s = String::new();
        push_datetime(&mut s, 1_709_251_199);
        assert_eq!(s, "2024-02-29 23:59:59");
    }

    #[test]
    fn unistr_escapes() {
        assert_eq!(unistr_form("a'é\\😀"), "a''\\00E9\\\\\\D83D\\DE00");
    }

    #[test]
    fn numbers_print_like_oracle() {
        let money = |cents: u64, neg: bool| {
            let v = (cents << 8) | if neg { 0 } else { 0x10 };
            let mut s = String::new();
            push_number(Kind::Money, v, &mut s);
            s
        };
        assert_eq!(money(50, true), "-.5");
        assert_eq!(money(1250, false), "12.5");
        assert_eq!(money(1205, false), "12.05");
        assert_eq!(money(0, true), "0");
        assert_eq!(money(100, false), "1");
    }
}
