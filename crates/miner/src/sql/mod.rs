//! The SQL_REDO parser (SPEC.md §3): one INSERT, UPDATE or DELETE as LogMiner prints it, turned
//! into names and [`Value`]s that borrow from the statement text.
//!
//! - [`parse`] is a hand-written recursive-descent parser over the bytes; there is no token
//!   stream, each production reads what it needs from the scanner.
//! - `scan`: the byte scanner (blanks, keywords, quoted names, `'...'` literals whose ends are
//!   found eight bytes at a time, and with `memchr` when they are long).
//! - `datetime`: the Oracle format-mask interpreter behind `TO_DATE` / `TO_TIMESTAMP[_TZ]`, with
//!   a fast path for the ISO form our sessions print.
//! - `unistr`: `UNISTR('\XXXX')` decoding.
//! - [`Statement::row`] lays a parsed statement out in a table's column order; [`parse_row`]
//!   (`row`) does both in one pass, each value parsed into its column's slot (the writer's path).
//!   One grammar, generic over where values go (`Sink`), serves both.
//! - [`lex`]: the byte-level pieces (literal ends, hex digits, the fixed date layout) that the
//!   CSV writer's fast path for statements in LogMiner's exact layout shares with the parser.
//!
//! Speed comes from not copying: names and most values are slices of the input, only `''`
//! escapes, `UNISTR` and `||` concatenation allocate; a statement's vectors are reused from the
//! previous one ([`parse_reusing`]), and each value is built in place in its vector slot. The
//! separators and function names LogMiner always prints the same way are matched byte for byte
//! before the general (any blanks, any case) rules, and so are whole values in the layouts our
//! sessions print: `TO_DATE('YYYY-MM-DD HH24:MI:SS', 'YYYY-MM-DD HH24:MI:SS')`,
//! `TO_TIMESTAMP('YYYY-MM-DD HH24:MI:SS[.f]')` and `HEXTORAW('hex')`, read at fixed offsets or in
//! one pass; anything else, including an invalid date, goes to the general path, which gives the
//! same answer (property-tested) or the error. `benches/parser.rs` measures
//! it (target: 1 GB/s of SQL_REDO per core). Errors are a small `Copy` value carrying the
//! byte offset of the problem; the caller adds SCN, XID and table. No input makes it panic.

mod datetime;
mod row;
mod scan;
mod unistr;

pub use row::{parse_row, Row, RowBuffers, RowError};

/// The byte-level pieces of the parser that a reader of statements in LogMiner's exact layout
/// shares with it (the CSV writer's fast path), so both agree on what a literal, a hex string
/// or a date is.
pub mod lex {
    use crate::value::OraDateTime;

    pub use super::scan::{find, leading_digits, leading_hex, literal_end};

    /// `YYYY-MM-DD HH24:MI:SS` (exactly 19 bytes): the date it names when it has that shape and
    /// is a valid date, as `TO_DATE`/`TO_TIMESTAMP` in our sessions' layout read it.
    #[inline]
    pub fn fixed_datetime(b: &[u8]) -> Option<OraDateTime> {
        super::datetime::fixed(b)
    }

    /// Decodes the text of `UNISTR('raw')` (`raw` still with `''` doubled) as the parser does,
    /// handing it to `push` piece by piece; on error, the offset in `raw` of the bad escape.
    pub fn unistr(raw: &str, push: impl FnMut(&str)) -> Result<(), usize> {
        super::unistr::decode_with(raw, push)
    }

    /// True if `b` has exactly `lit` at `p`.
    #[inline(always)]
    pub fn at<const N: usize>(b: &[u8], p: usize, lit: &[u8; N]) -> bool {
        b.get(p..p + N).is_some_and(|s| s == lit)
    }
}

use std::borrow::Cow;
use std::fmt;

use crate::schema::TableSchema;
use crate::value::{OraDateTime, Value};
use scan::Scanner;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

/// A parsed INSERT/UPDATE/DELETE. All names and values borrow from the SQL_REDO text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement<'a> {
    pub kind: DmlKind,
    pub owner: &'a str,
    pub table: &'a str,
    /// INSERT: the column list zipped with VALUES; UPDATE: the SET pairs; DELETE: empty.
    pub values: Vec<(&'a str, Value<'a>)>,
    /// UPDATE/DELETE: the WHERE pairs (`"C" IS NULL` gives `Value::Null`); the `ROWID = '...'`
    /// condition is dropped. INSERT: empty.
    pub conditions: Vec<(&'a str, Value<'a>)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseErrorKind {
    UnexpectedEnd,
    Expected(&'static str),
    UnterminatedString,
    UnterminatedIdentifier,
    BadValue,
    BadDate,
    BadHex,
    BadUnistr,
    ColumnCountMismatch,
    TrailingInput,
}

/// Small, `Copy` parse error: what went wrong and the byte offset in the statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub pos: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ParseErrorKind::Expected(what) => write!(f, "expected {what} at byte {}", self.pos),
            kind => write!(f, "{kind:?} at byte {}", self.pos),
        }
    }
}

impl std::error::Error for ParseError {}

/// A column named by the statement that the schema does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownColumn<'a>(pub &'a str);

/// Parses one SQL_REDO statement (the CSF pieces already joined).
pub fn parse(sql: &str) -> Result<Statement<'_>, ParseError> {
    parse_reusing(sql, &mut Buffers::default())
}

/// The vectors statements are built in, kept from one statement to the next so a parser that
/// runs all day stops allocating: [`parse_reusing`] takes them, [`Statement::recycle`] gives
/// them back. They are stored empty, so they borrow nothing.
#[derive(Debug, Default)]
pub struct Buffers {
    values: Vec<Pair<'static>>,
    conditions: Vec<Pair<'static>>,
}

type Pair<'a> = (&'a str, Value<'a>);

/// An empty vector of `from`'s allocation with element type `U` (same size and alignment, in
/// practice the same type with other lifetimes). The standard library collects a `Vec`'s
/// `IntoIter` into a vector of a same-sized type in place, so the allocation is kept.
// `filter` cannot do it: `filter_map` is what changes the element type (its lifetimes).
#[allow(clippy::unnecessary_filter_map)]
pub(crate) fn relabel<T, U>(mut from: Vec<T>) -> Vec<U> {
    from.clear();
    from.into_iter().filter_map(|_| None).collect()
}

/// Where the grammar puts what it reads: `(name, value)` pairs for a [`Statement`], or the slots
/// of a table's row image for [`parse_row`]. The grammar and its errors are the same for both.
trait Sink<'a> {
    /// After an INSERT's `(`: reads the column list up to (not including) its `)`; returns how
    /// many columns it names.
    fn columns(&mut self, s: &mut Scanner<'a>) -> Result<usize, ParseError>;

    /// The slot of the INSERT's `i`-th value (`i` below what [`Sink::columns`] returned).
    fn value(&mut self, i: usize) -> Option<&mut Value<'a>>;

    /// Reads the quoted column name of a SET (`set`) or WHERE item and gives its value's slot.
    fn named(&mut self, s: &mut Scanner<'a>, set: bool) -> Result<&mut Value<'a>, ParseError>;

    /// The WHERE clause starts (the SET list, if any, is complete).
    fn start_where(&mut self) {}

    /// `"OWNER"."TABLE"`.
    #[inline(always)]
    fn table(&mut self, s: &mut Scanner<'a>) -> Result<(&'a str, &'a str), ParseError> {
        table_name(s)
    }
}

/// Pairs a statement's vectors start with (a fresh [`parse`] allocates once for most tables;
/// reused vectors have grown to the widest statement already).
const PAIRS_CAPACITY: usize = 16;

/// The pairs of a [`Statement`].
struct Pairs<'a> {
    values: Vec<Pair<'a>>,
    conditions: Vec<Pair<'a>>,
}

impl<'a> Sink<'a> for Pairs<'a> {
    #[inline]
    fn columns(&mut self, s: &mut Scanner<'a>) -> Result<usize, ParseError> {
        self.values.reserve(PAIRS_CAPACITY);
        loop {
            let name = s.ident()?;
            self.values.push((name, Value::Null));
            if !s.try_byte(b',') {
                return Ok(self.values.len());
            }
        }
    }

    #[inline]
    fn value(&mut self, i: usize) -> Option<&mut Value<'a>> {
        self.values.get_mut(i).map(|(_, v)| v)
    }

    #[inline]
    fn named(&mut self, s: &mut Scanner<'a>, set: bool) -> Result<&mut Value<'a>, ParseError> {
        let name = s.ident()?;
        let pairs = if set {
            &mut self.values
        } else {
            &mut self.conditions
        };
        // The new element is copied from a constant and the name stored after: a `(name, Null)`
        // built on the stack is written piecewise and read back whole, which stalls the load
        // (store forwarding fails); measured at a fifth of `where_clause`'s time.
        const EMPTY: (&str, Value<'_>) = ("", Value::Null);
        if pairs.is_empty() {
            pairs.reserve(PAIRS_CAPACITY);
        }
        pairs.push(EMPTY);
        let last = pairs.len() - 1;
        let (n, slot) = &mut pairs[last];
        *n = name;
        Ok(slot)
    }
}

/// [`parse`], building the statement in `buffers`' vectors.
pub fn parse_reusing<'a>(sql: &'a str, buffers: &mut Buffers) -> Result<Statement<'a>, ParseError> {
    let mut pairs = Pairs {
        values: relabel(std::mem::take(&mut buffers.values)),
        conditions: relabel(std::mem::take(&mut buffers.conditions)),
    };
    let (kind, owner, table) = statement(sql, &mut pairs)?;
    Ok(Statement {
        kind,
        owner,
        table,
        values: pairs.values,
        conditions: pairs.conditions,
    })
}

/// The whole statement, its values into `sink`: kind, owner and table.
#[inline(always)]
fn statement<'a, K: Sink<'a>>(
    sql: &'a str,
    sink: &mut K,
) -> Result<(DmlKind, &'a str, &'a str), ParseError> {
    let mut s = Scanner::new(sql);
    let s = &mut s;
    // The keywords as LogMiner prints them are compared byte for byte first (what follows is
    // read the same way either way), then by the general rules (any blanks, any case).
    let kind = if s.try_exact(b"insert into ") {
        DmlKind::Insert
    } else if s.try_exact(b"update ") {
        DmlKind::Update
    } else if s.try_exact(b"delete from ") {
        DmlKind::Delete
    } else if s.try_keyword("insert") {
        s.keyword("into")?;
        DmlKind::Insert
    } else if s.try_keyword("update") {
        DmlKind::Update
    } else if s.try_keyword("delete") {
        s.keyword("from")?;
        DmlKind::Delete
    } else {
        return Err(s.expected("insert, update or delete"));
    };
    let (owner, table) = sink.table(s)?;
    match kind {
        DmlKind::Insert => insert(s, sink)?,
        DmlKind::Update => {
            let mut alias = None;
            if !s.try_exact(b" set ") {
                alias = table_alias(s);
                s.keyword("set")?;
            }
            set_list(s, sink, alias)?;
            where_clause(s, sink, alias)?;
        }
        DmlKind::Delete => {
            let alias = if s.at_exact(b" where ") {
                None
            } else {
                table_alias(s)
            };
            where_clause(s, sink, alias)?
        }
    }
    s.try_byte(b';');
    s.skip_ws();
    if !s.at_end() {
        return Err(Scanner::err_at(ParseErrorKind::TrailingInput, s.pos));
    }
    Ok((kind, owner, table))
}

/// `"OWNER"."TABLE"`
fn table_name<'a>(s: &mut Scanner<'a>) -> Result<(&'a str, &'a str), ParseError> {
    let owner = s.ident()?;
    s.byte(b'.', ".")?;
    let table = s.ident()?;
    Ok((owner, table))
}

/// The alias LogMiner prints after the table name of some UPDATE and DELETE statements
/// (`update "O"."T" a set a."C" = 1 where a."ID" = 2`), if there is one: a plain word that is not
/// the `set` or `where` that follows. Nothing is consumed when there is none.
#[cold]
#[inline(never)]
fn table_alias<'a>(s: &mut Scanner<'a>) -> Option<&'a str> {
    let start = s.pos;
    s.skip_ws();
    if !s.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
        s.pos = start;
        return None;
    }
    let word = s.word();
    if word.eq_ignore_ascii_case("set") || word.eq_ignore_ascii_case("where") {
        s.pos = start;
        return None;
    }
    Some(word)
}

/// Skips `alias.` before a column name when the statement has an alias and the name carries it
/// (LogMiner qualifies every column then, but an unqualified one reads the same).
#[inline(always)]
fn skip_alias(s: &mut Scanner<'_>, alias: Option<&str>) {
    if let Some(a) = alias {
        s.skip_ws();
        let end = s.pos + a.len();
        if s.b.get(s.pos..end) == Some(a.as_bytes()) && s.b.get(end) == Some(&b'.') {
            s.pos = end + 1;
        }
    }
}

/// After `insert into "O"."T"`: `("C1",...) values (v1,...)`.
#[inline(always)]
fn insert<'a, K: Sink<'a>>(s: &mut Scanner<'a>, sink: &mut K) -> Result<(), ParseError> {
    s.byte(b'(', "(")?;
    let columns = sink.columns(s)?;
    s.byte(b')', ", or )")?;
    s.keyword("values")?;
    s.byte(b'(', "(")?;
    for i in 0..columns {
        if i > 0 && !s.try_byte(b',') {
            s.skip_ws();
            let kind = if s.peek() == Some(b')') {
                ParseErrorKind::ColumnCountMismatch
            } else {
                ParseErrorKind::Expected(", or )")
            };
            return Err(Scanner::err_at(kind, s.pos));
        }
        let slot = sink
            .value(i)
            .ok_or(Scanner::err_at(ParseErrorKind::ColumnCountMismatch, s.pos))?;
        value_into(s, slot)?;
    }
    if s.try_byte(b',') {
        s.skip_ws();
        return Err(Scanner::err_at(ParseErrorKind::ColumnCountMismatch, s.pos));
    }
    s.byte(b')', ", or )")
}

/// After `set`: `"C1" = v1, ...` (each name prefixed by `alias.` when there is one).
#[inline(always)]
fn set_list<'a, K: Sink<'a>>(
    s: &mut Scanner<'a>,
    sink: &mut K,
    alias: Option<&str>,
) -> Result<(), ParseError> {
    loop {
        skip_alias(s, alias);
        let slot = sink.named(s, true)?;
        if !s.try_exact(b" = ") {
            s.byte(b'=', "=")?;
        }
        value_into(s, slot)?;
        if !s.try_exact(b", ") && !s.try_byte(b',') {
            return Ok(());
        }
    }
}

/// `[where c1 and c2 ...]` where each condition is `"C" = v`, `"C" IS NULL` or
/// `ROWID = '...'` (dropped: the row id travels in its own V$LOGMNR_CONTENTS column), each
/// name prefixed by `alias.` when the statement has one.
#[inline(always)]
fn where_clause<'a, K: Sink<'a>>(
    s: &mut Scanner<'a>,
    sink: &mut K,
    alias: Option<&str>,
) -> Result<(), ParseError> {
    if !s.try_exact(b" where ") && !s.try_keyword("where") {
        return Ok(());
    }
    sink.start_where();
    loop {
        skip_alias(s, alias);
        s.skip_ws();
        if s.peek() == Some(b'"') {
            let slot = sink.named(s, false)?;
            // LogMiner prints ` = ` and ` IS NULL` with single blanks: compare those bytes
            // first, and only then apply the general rules (any blanks, any case).
            if s.try_exact(b" = ") {
                value_into(s, slot)?;
            } else if s.try_keyword("is") {
                s.keyword("null")?;
                set(slot, Value::Null);
            } else {
                s.byte(b'=', "= or IS NULL")?;
                value_into(s, slot)?;
            }
        } else if s.try_keyword("rowid") {
            s.byte(b'=', "=")?;
            s.skip_ws();
            s.string_raw()?;
        } else {
            return Err(s.expected("condition"));
        }
        if !s.try_exact(b" and ") && !s.try_keyword("and") {
            return Ok(());
        }
    }
}

/// A value, possibly `v || v || ...`, written straight into its slot in the statement (returning
/// it by value costs a copy through the stack per value, measurable at these speeds).
#[inline(always)]
fn value_into<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    s.skip_ws();
    // Quoted text is most of what LogMiner prints: keep its path short and inlined.
    if s.peek() == Some(b'\'') {
        set(slot, Value::Text(s.string()?));
    } else {
        term(s, slot)?;
    }
    if s.try_concat() {
        let first = std::mem::replace(slot, Value::Null);
        *slot = concat(s, first)?;
    }
    Ok(())
}

/// The rest of `first || v || ...`, joined into one owned value. LogMiner splits long literals
/// into such pieces.
#[inline(never)]
fn concat<'a>(s: &mut Scanner<'a>, first: Value<'a>) -> Result<Value<'a>, ParseError> {
    let mut buf = String::new();
    let mut all_raw = matches!(first, Value::Raw(_));
    let mut all_null = matches!(first, Value::Null);
    s.skip_ws();
    append(&mut buf, &first, s.pos)?;
    loop {
        s.skip_ws();
        let at = s.pos;
        let mut v = Value::Null;
        term(s, &mut v)?;
        all_raw &= matches!(v, Value::Raw(_));
        all_null &= matches!(v, Value::Null);
        append(&mut buf, &v, at)?;
        if !s.try_concat() {
            break;
        }
    }
    Ok(if all_null {
        // Oracle: NULL || NULL is NULL, while 'a' || NULL is 'a'.
        Value::Null
    } else if all_raw {
        Value::Raw(Cow::Owned(buf))
    } else {
        Value::Text(Cow::Owned(buf))
    })
}

/// The textual form of one `||` piece.
fn append(buf: &mut String, v: &Value<'_>, at: usize) -> Result<(), ParseError> {
    use std::fmt::Write;
    match v {
        Value::Null | Value::EmptyLob => {}
        Value::Text(t) | Value::Raw(t) => buf.push_str(t),
        Value::Number(t) | Value::IntervalYearMonth(t) | Value::IntervalDaySecond(t) => {
            buf.push_str(t)
        }
        Value::Date(d) => {
            let _ = write!(buf, "{d}");
        }
        Value::Timestamp { at, fraction, tz } => {
            let _ = write!(buf, "{at}");
            if !fraction.is_empty() {
                buf.push('.');
                buf.push_str(fraction);
            }
            if let Some(tz) = tz {
                buf.push(' ');
                buf.push_str(tz);
            }
        }
        Value::Unsupported => return Err(Scanner::err_at(ParseErrorKind::BadValue, at)),
    }
    Ok(())
}

/// One value without `||`, written into `slot`.
#[inline(always)]
fn term<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    match s.peek() {
        Some(b'\'') => put(slot, Value::Text(s.string()?)),
        Some(b'0'..=b'9' | b'-' | b'+' | b'.') => number(s, slot),
        Some(c) if c.is_ascii_alphabetic() => {
            if fixed_function(s, slot) {
                return Ok(());
            }
            function(s, slot)
        }
        Some(b'/') if s.b.get(s.pos + 1) == Some(&b'*') => commented(s, slot),
        Some(_) => Err(Scanner::err_at(ParseErrorKind::BadValue, s.pos)),
        None => Err(Scanner::err_at(ParseErrorKind::UnexpectedEnd, s.pos)),
    }
}

/// A value after a type comment, as Oracle 23ai prints JSON columns (`/* JSON */ HEXTORAW('…')`,
/// `/* JSON */ EMPTY_BLOB()`): the comment says nothing the value does not, and is skipped.
#[cold]
#[inline(never)]
fn commented<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    let open = s.pos;
    let body = s.b.get(open + 2..).unwrap_or_default();
    let close = body
        .windows(2)
        .position(|w| w == b"*/")
        .ok_or(Scanner::err_at(ParseErrorKind::BadValue, open))?;
    s.pos = open + 2 + close + 2;
    s.skip_ws();
    if s.peek() == Some(b'/') {
        // One comment per value: a second one is not LogMiner's output.
        return Err(Scanner::err_at(ParseErrorKind::BadValue, s.pos));
    }
    term(s, slot)
}

/// Stores a value built in place: every producer writes straight into the statement's slot, so
/// no `Result<Value>` makes a round trip through the stack (a store-forwarding stall per value).
#[inline(always)]
fn put<'a>(slot: &mut Value<'a>, v: Value<'a>) -> Result<(), ParseError> {
    set(slot, v);
    Ok(())
}

/// `*slot = v` without the call to `Value`'s drop glue when the slot holds `NULL`, which it does
/// nearly always (slots start as `NULL`; a column named twice is the exception): the compiler
/// keeps that glue out of line, and a call per value is measurable at these rates.
#[inline(always)]
pub(crate) fn set<'a>(slot: &mut Value<'a>, v: Value<'a>) {
    let old = std::mem::replace(slot, v);
    if matches!(old, Value::Null) {
        // Nothing to free.
        std::mem::forget(old);
    }
}

/// A bare number kept exactly as printed: `[+-]digits[.digits][E[+-]digits]`, `.5` allowed.
fn number<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    let b = s.b;
    let start = s.pos;
    let digits_from = |i: usize| scan::leading_digits(b.get(i..).unwrap_or_default());
    let mut i = start;
    if matches!(b.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let int = digits_from(i);
    i += int;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = digits_from(i);
        i += frac;
    }
    if int + frac == 0 {
        return Err(Scanner::err_at(ParseErrorKind::BadValue, start));
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits_from(i);
        if exp == 0 {
            return Err(Scanner::err_at(ParseErrorKind::BadValue, i));
        }
        i += exp;
    }
    if b.get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
    {
        return Err(Scanner::err_at(ParseErrorKind::BadValue, i));
    }
    s.pos = i;
    let text = scan::sub(s.s, start, i).ok_or(Scanner::err_at(ParseErrorKind::BadValue, start))?;
    put(slot, Value::Number(text))
}

/// `(` after a function name.
fn open(s: &mut Scanner<'_>) -> Result<(), ParseError> {
    s.byte(b'(', "(")
}

fn close(s: &mut Scanner<'_>) -> Result<(), ParseError> {
    s.byte(b')', ")")
}

/// A string argument that must not contain `''` (dates, hex, intervals never do), so the value
/// can borrow its pieces. Returns the text and its byte offset in the statement.
fn plain_arg<'a>(s: &mut Scanner<'a>, bad: ParseErrorKind) -> Result<(&'a str, usize), ParseError> {
    s.skip_ws();
    let (raw, escaped, start) = s.string_raw()?;
    if escaped {
        return Err(Scanner::err_at(bad, start));
    }
    Ok((raw, start))
}

/// The functions LogMiner prints most, in our sessions' layout, read in line (their call's
/// entry and exit cost more than the fixed-layout reading itself): `NULL`,
/// `TO_DATE('…', 'YYYY-MM-DD HH24:MI:SS')`, `TO_TIMESTAMP('…[.f]')`, `HEXTORAW('hex')`. False
/// (nothing consumed) for anything else, which [`function`] then reads or reports.
#[inline(always)]
fn fixed_function<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> bool {
    if s.at_exact(b"NULL") && !s.b.get(s.pos + 4).is_some_and(|&c| scan::is_word(c)) {
        s.pos += 4;
        set(slot, Value::Null);
        return true;
    }
    if s.at_exact(b"TO_DATE(") {
        s.pos += 8;
        if let Some(d) = fixed_date(s) {
            set(slot, Value::Date(d));
            return true;
        }
        s.pos -= 8;
    } else if s.at_exact(b"TO_TIMESTAMP(") {
        s.pos += 13;
        if let Some(v) = fixed_timestamp(s) {
            set(slot, v);
            return true;
        }
        s.pos -= 13;
    } else if s.at_exact(b"HEXTORAW(") {
        s.pos += 9;
        if let Some(hex) = plain_hex(s) {
            set(slot, Value::Raw(Cow::Borrowed(hex)));
            return true;
        }
        s.pos -= 9;
    }
    false
}

/// A keyword-led value: `NULL`, a function call or `Unsupported Type`, in any spelling
/// ([`fixed_function`] has taken the common ones in our sessions' layout).
fn function<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    let start = s.pos;
    let word = s.word();
    let is = |name: &str| word.eq_ignore_ascii_case(name);
    let bad_value = Scanner::err_at(ParseErrorKind::BadValue, start);
    // Ordered by how often LogMiner prints them.
    if is("NULL") {
        return put(slot, Value::Null);
    }
    if is("TO_DATE") {
        return to_date(s, slot);
    }
    let tz = is("TO_TIMESTAMP_TZ");
    if tz || is("TO_TIMESTAMP") {
        return to_timestamp(s, slot, tz);
    }
    if is("HEXTORAW") {
        return hextoraw(s, slot);
    }
    if is("UNISTR") {
        open(s)?;
        s.skip_ws();
        let (raw, _, at) = s.string_raw()?;
        close(s)?;
        let mut out = String::with_capacity(raw.len());
        unistr::decode(raw, &mut out)
            .map_err(|off| Scanner::err_at(ParseErrorKind::BadUnistr, at + off))?;
        return put(slot, Value::Text(Cow::Owned(out)));
    }
    if is("EMPTY_CLOB") || is("EMPTY_BLOB") {
        open(s)?;
        close(s)?;
        return put(slot, Value::EmptyLob);
    }
    let ym = is("TO_YMINTERVAL");
    if ym || is("TO_DSINTERVAL") {
        open(s)?;
        let (text, at) = plain_arg(s, ParseErrorKind::BadValue)?;
        close(s)?;
        let ok = |c: u8| c.is_ascii_digit() || b"+-:. ".contains(&c);
        if text.is_empty() || !text.bytes().all(ok) {
            return Err(Scanner::err_at(ParseErrorKind::BadValue, at));
        }
        return put(
            slot,
            if ym {
                Value::IntervalYearMonth(text)
            } else {
                Value::IntervalDaySecond(text)
            },
        );
    }
    if is("Unsupported") {
        s.keyword("Type")?;
        return put(slot, Value::Unsupported);
    }
    Err(bad_value)
}

/// After `TO_DATE(`: `'YYYY-MM-DD HH24:MI:SS', 'YYYY-MM-DD HH24:MI:SS')` byte for byte, the
/// form every DATE takes in our sessions' SQL_REDO (SPEC.md §10), read at fixed offsets and
/// consumed. `None` (nothing consumed) for any other spelling, and for a date that is not
/// valid, so that the general path reads it or reports it.
#[inline]
fn fixed_date(s: &mut Scanner<'_>) -> Option<OraDateTime> {
    const TAIL: &[u8] = b"', 'YYYY-MM-DD HH24:MI:SS')";
    let b = s.b.get(s.pos..)?;
    if b.first() != Some(&b'\'') || b.get(20..20 + TAIL.len())? != TAIL {
        return None;
    }
    let at = datetime::fixed(b.get(1..20)?)?;
    s.pos += 20 + TAIL.len();
    Some(at)
}

/// After `TO_TIMESTAMP(`: `'YYYY-MM-DD HH24:MI:SS[.digits]')` (no mask), the form every
/// TIMESTAMP takes in our sessions' SQL_REDO, read at fixed offsets and consumed; `None`
/// (nothing consumed) for anything else, as [`fixed_date`].
#[inline]
fn fixed_timestamp<'a>(s: &mut Scanner<'a>) -> Option<Value<'a>> {
    let b = s.b.get(s.pos..)?;
    if b.first() != Some(&b'\'') {
        return None;
    }
    let at = datetime::fixed(b.get(1..20)?)?;
    let mut end = 20;
    if b.get(end) == Some(&b'.') {
        end += 1;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    if b.get(end..end + 2)? != b"')" {
        return None;
    }
    let fraction = scan::sub(s.s, s.pos + 21.min(end), s.pos + end)?;
    s.pos += end + 2;
    Some(Value::Timestamp {
        at,
        fraction,
        tz: None,
    })
}

/// `TO_DATE` has been read: `('text'[, 'mask'])`.
fn to_date<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    open(s)?;
    let (text, at) = plain_arg(s, ParseErrorKind::BadDate)?;
    let mask = optional_mask(s)?;
    close(s)?;
    let p = date(text, at, mask, datetime::DEFAULT_DATE, false)?;
    put(slot, Value::Date(p.at))
}

/// `TO_TIMESTAMP` / `TO_TIMESTAMP_TZ` (`tz`) has been read: `('text'[, 'mask'])`.
fn to_timestamp<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>, tz: bool) -> Result<(), ParseError> {
    open(s)?;
    let (text, at) = plain_arg(s, ParseErrorKind::BadDate)?;
    let mask = optional_mask(s)?;
    close(s)?;
    let default = if tz {
        datetime::DEFAULT_TIMESTAMP_TZ
    } else {
        datetime::DEFAULT_TIMESTAMP
    };
    let p = date(text, at, mask, default, tz)?;
    let bad_date = Scanner::err_at(ParseErrorKind::BadDate, at);
    let fraction = text.get(p.fraction).ok_or(bad_date)?;
    let zone = match p.tz {
        Some(r) if tz => Some(text.get(r).ok_or(bad_date)?),
        _ => None,
    };
    put(
        slot,
        Value::Timestamp {
            at: p.at,
            fraction,
            tz: zone,
        },
    )
}

/// `, 'mask'` after a date literal, if there.
#[inline]
fn optional_mask<'a>(s: &mut Scanner<'a>) -> Result<Option<&'a str>, ParseError> {
    if s.try_exact(b", ") || s.try_byte(b',') {
        Ok(Some(plain_arg(s, ParseErrorKind::BadDate)?.0))
    } else {
        Ok(None)
    }
}

/// After `HEXTORAW(`: `'hex digits')`, read in one pass and consumed. `None` (nothing
/// consumed) for anything else: the general path reads it or reports it.
#[inline]
fn plain_hex<'a>(s: &mut Scanner<'a>) -> Option<&'a str> {
    let b = s.b.get(s.pos..)?;
    if b.first() != Some(&b'\'') {
        return None;
    }
    // The digits and their closing quote in one pass, eight bytes at a time.
    let n = scan::leading_hex(b.get(1..)?);
    if b.get(1 + n..3 + n)? != b"')" {
        return None;
    }
    let hex = scan::sub(s.s, s.pos + 1, s.pos + 1 + n)?;
    s.pos += n + 3;
    Some(hex)
}

/// `HEXTORAW` has been read: `('hex')`.
fn hextoraw<'a>(s: &mut Scanner<'a>, slot: &mut Value<'a>) -> Result<(), ParseError> {
    open(s)?;
    let (text, at) = plain_arg(s, ParseErrorKind::BadHex)?;
    close(s)?;
    // Odd lengths are fine: Oracle pads them with a leading 0; we keep the text as given.
    if let Some(i) = text.bytes().position(|c| !c.is_ascii_hexdigit()) {
        return Err(Scanner::err_at(ParseErrorKind::BadHex, at + i));
    }
    put(slot, Value::Raw(Cow::Borrowed(text)))
}

/// Interprets a `TO_DATE` / `TO_TIMESTAMP[_TZ]` literal that starts at byte `at`: with its mask,
/// or (no mask) the ISO form first and then the session default `default`.
fn date(
    text: &str,
    at: usize,
    mask: Option<&str>,
    default: &str,
    with_tz: bool,
) -> Result<datetime::Parsed, ParseError> {
    let bad = |off: usize| Scanner::err_at(ParseErrorKind::BadDate, at + off);
    let try_iso = mask.is_none_or(|m| m.eq_ignore_ascii_case(datetime::ISO_MASK));
    if try_iso {
        match datetime::iso(text, with_tz) {
            // The ISO mask itself has no fraction: let the interpreter report it.
            Ok(Some(p)) if mask.is_none() || p.fraction.is_empty() => return Ok(p),
            Err(off) => return Err(bad(off)),
            _ => {}
        }
    }
    datetime::with_mask(text, mask.unwrap_or(default)).map_err(bad)
}

impl<'a> Statement<'a> {
    /// Gives the statement's vectors back for the next [`parse_reusing`].
    pub fn recycle(self, buffers: &mut Buffers) {
        buffers.values = relabel(self.values);
        buffers.conditions = relabel(self.conditions);
    }

    /// The row image in the schema's column order: INSERT values; UPDATE WHERE values overlaid by
    /// SET values; DELETE WHERE values. `None` = the redo does not carry that column.
    #[inline]
    pub fn row<'s>(
        &'s self,
        schema: &TableSchema,
        out: &mut Vec<Option<&'s Value<'a>>>,
    ) -> Result<(), UnknownColumn<'a>> {
        out.clear();
        out.resize(schema.columns.len(), None);
        let mut put = |pairs: &'s [(&'a str, Value<'a>)]| {
            // LogMiner names columns in table order: look one past the last one first.
            let mut next = 0;
            for (name, v) in pairs {
                let i = schema
                    .position_hinted(name, next)
                    .ok_or(UnknownColumn(name))?;
                if let Some(slot) = out.get_mut(i) {
                    *slot = Some(v);
                }
                next = i + 1;
            }
            Ok(())
        };
        match self.kind {
            DmlKind::Insert => put(&self.values),
            DmlKind::Update => {
                put(&self.conditions)?;
                put(&self.values)
            }
            DmlKind::Delete => put(&self.conditions),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed-layout reading of `TO_DATE` / `TO_TIMESTAMP` gives what the general path gives
    /// (spelled in lower case, which only the general path reads), for valid dates, invalid
    /// ones and near misses of the layout alike.
    #[test]
    fn fixed_layout_dates_agree_with_the_general_path() {
        let texts = [
            "2024-01-02 03:04:05",
            "2024-02-29 23:59:59",
            "2023-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-02 24:00:00",
            "0000-01-01 00:00:00",
            "9999-12-31 23:59:59",
            "2024-01-02 03:04:05.123456",
            "2024-01-02 03:04:05.",
            "2024-01-02 03:04:05.000000001",
            "2024-01-02T03:04:05",
            "2024-1-02 03:04:05",
            "2024-01-02 03:04",
            "2024-01-02 03:04:05 ",
            "2024-01-02 03:04:05.12x",
        ];
        // Compared as printed: the values borrow statements that live only in the loop.
        let values = |sql: &str| {
            parse(sql)
                .map(|st| format!("{:?}", st.values.iter().map(|(_, v)| v).collect::<Vec<_>>()))
        };
        for t in texts {
            for (fast, general) in [
                (
                    format!("TO_DATE('{t}', 'YYYY-MM-DD HH24:MI:SS')"),
                    format!("to_date('{t}', 'YYYY-MM-DD HH24:MI:SS')"),
                ),
                (
                    format!("TO_TIMESTAMP('{t}')"),
                    format!("to_timestamp('{t}')"),
                ),
            ] {
                let sql = |v: &str| format!("insert into \"O\".\"T\"(\"A\",\"B\") values ({v},1);");
                assert_eq!(values(&sql(&fast)), values(&sql(&general)), "{fast}");
            }
        }
    }

    /// Statements parsed through one `Buffers` equal fresh parses, and after the first few the
    /// vectors are reused rather than allocated again.
    #[test]
    fn reused_buffers_give_equal_statements_and_keep_their_allocation() {
        let sqls = [
            "update \"O\".\"T\" set \"A\" = 'x' where \"ID\" = 1 and \"B\" = 'y''s' and ROWID = 'AAA';",
            "insert into \"O\".\"T\"(\"ID\",\"A\",\"B\") values (2,'a',NULL);",
            "delete from \"O\".\"T\" where \"ID\" = 3 and \"A\" IS NULL;",
        ];
        let mut buffers = Buffers::default();
        for round in 0..3 {
            for sql in sqls {
                let fresh = parse(sql).unwrap();
                let reused = parse_reusing(sql, &mut buffers).unwrap();
                assert_eq!(reused, fresh, "{sql}");
                reused.recycle(&mut buffers);
                if round > 0 {
                    assert!(buffers.values.capacity() > 0 && buffers.conditions.capacity() > 0);
                }
            }
        }
        // An error leaves fresh vectors behind, and parsing goes on.
        assert!(parse_reusing("delete from \"O\".\"T\" where \"A\" =", &mut buffers).is_err());
        assert_eq!(
            parse_reusing(sqls[0], &mut buffers).unwrap(),
            parse(sqls[0]).unwrap()
        );
    }
}
