//! Byte-level CSV encoding of one row into a reusable line buffer.
//!
//! Everything appends to a `Vec<u8>` that the sink clears and reuses for every row, so encoding a
//! row allocates nothing once the buffer has grown to the longest line. Fields are RFC 4180: a
//! field is quoted iff it contains `,` `"` `\r` or `\n`, and `"` inside is doubled. Integers,
//! dates and XIDs are formatted by hand into the buffer (no `fmt` machinery on the hot path).

use std::borrow::Borrow;

use redoflow_checkpoint::{Scn, Xid};
use redoflow_miner::decimal::{self, byte_pair, pair};
use redoflow_miner::value::{OraDateTime, Value};

use crate::{RowMeta, RowOp};

/// Bytes that force a field to be quoted.
const fn special_table() -> [bool; 256] {
    let mut t = [false; 256];
    t[b',' as usize] = true;
    t[b'"' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
}
static SPECIAL: [bool; 256] = special_table();

/// Whether `s` must be quoted. Short fields (the common case) use a table scan; long ones use
/// memchr's vectorised search.
#[inline]
pub(crate) fn needs_quotes(s: &[u8]) -> bool {
    if s.len() < 32 {
        // Eight bytes at a time: a byte of the word equals one of the four specials when
        // its XOR with that byte repeated is zero (the classic "has zero byte" test).
        let mut words = s.chunks_exact(8);
        for w in &mut words {
            let x = u64::from_le_bytes(w.try_into().unwrap_or_default());
            if has_special(x) {
                return true;
            }
        }
        words.remainder().iter().any(|&b| SPECIAL[b as usize])
    } else {
        memchr::memchr3(b',', b'"', b'\n', s).is_some() || memchr::memchr(b'\r', s).is_some()
    }
}

/// Whether any byte of `x` is `,` `"` `\r` or `\n`.
#[inline(always)]
fn has_special(x: u64) -> bool {
    special_flags(x) != 0
}

/// The top bit of each byte of `x` that is `,` `"` `\r` or `\n`, and possibly of bytes above
/// (more significant than) such a byte: the classic zero-byte test is exact up to the first
/// match. So `special_flags(x) & m`, for `m` covering the low bytes, is non-zero exactly when
/// one of those bytes is special.
#[inline(always)]
pub(crate) fn special_flags(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let rep = |b: u8| ONES * u64::from(b);
    zero(x ^ rep(b',')) | zero(x ^ rep(b'"')) | zero(x ^ rep(b'\r')) | zero(x ^ rep(b'\n'))
}

/// Quotes `out[start..]` in place if it needs quoting. Used after a field was written raw, so
/// the common unquoted case costs one scan and no copy.
#[inline]
pub(crate) fn quote_tail_if_needed(out: &mut Vec<u8>, start: usize) {
    let end = out.len();
    let Some(grown) = quoted_len(&out[start..]) else {
        return;
    };
    out.resize(start + grown, 0);
    quote_in_place(out, start, end, grown);
}

/// The length of `field` quoted (`"` around it, each `"` in it doubled), or `None` when it
/// needs no quotes.
#[inline]
pub(crate) fn quoted_len(field: &[u8]) -> Option<usize> {
    if !needs_quotes(field) {
        return None;
    }
    let quotes = field.iter().filter(|&&b| b == b'"').count();
    Some(field.len() + 2 + quotes)
}

/// Quotes the field `buf[start..end]` in place, `quoted` being its [`quoted_len`]; `buf` must
/// reach `start + quoted`.
pub(crate) fn quote_in_place(buf: &mut [u8], start: usize, end: usize, quoted: usize) {
    // Fill from the back so no byte is overwritten before it is moved.
    let mut w = start + quoted - 1;
    buf[w] = b'"';
    for r in (start..end).rev() {
        let b = buf[r];
        w -= 1;
        buf[w] = b;
        if b == b'"' {
            w -= 1;
            buf[w] = b'"';
        }
    }
    debug_assert_eq!(w, start + 1);
    buf[start] = b'"';
}

/// Appends `s` as one CSV field.
#[inline]
pub(crate) fn push_field(out: &mut Vec<u8>, s: &[u8]) {
    push_field_inline(out, s);
}

/// [`push_field`] inlined into its caller: the row encoder's per-value path, where a call's
/// entry and exit cost more than the usual short field's check.
#[inline(always)]
fn push_field_inline(out: &mut Vec<u8>, s: &[u8]) {
    if needs_quotes(s) {
        out.reserve(s.len() + 8);
        out.push(b'"');
        for &b in s {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s);
    }
}

/// Appends the decimal digits of `n`.
#[inline]
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(decimal::u64_digits(n, &mut [0; 20]));
}

#[inline]
fn push_2(out: &mut Vec<u8>, n: u8) {
    out.push(b'0' + (n / 10) % 10);
    out.push(b'0' + n % 10);
}

/// `YYYY-MM-DD<sep>HH:MM:SS`, identical to `OraDateTime`'s `Display` (`sep` = ' ') and `iso()`
/// (`sep` = 'T'), including negative (BC) years. Inlined into its few callers: the call cost
/// as much as the table lookups.
#[inline(always)]
pub(crate) fn push_datetime(out: &mut Vec<u8>, d: &OraDateTime, sep: u8) {
    if (0..=9999).contains(&d.year) {
        // Built on the stack and appended at once: one capacity check, one copy.
        let y = d.year as u32;
        let [y0, y1] = pair(y / 100);
        let [y2, y3] = pair(y);
        let [mo0, mo1] = byte_pair(d.month);
        let [d0, d1] = byte_pair(d.day);
        let [h0, h1] = byte_pair(d.hour);
        let [mi0, mi1] = byte_pair(d.minute);
        let [s0, s1] = byte_pair(d.second);
        out.extend_from_slice(&[
            y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, sep, h0, h1, b':', mi0, mi1, b':', s0, s1,
        ]);
        return;
    }
    // Rare: BC dates, `-0044` as OraDateTime's Display prints them.
    use std::io::Write;
    let _ = write!(out, "-{:04}-", d.year.unsigned_abs());
    push_2(out, d.month);
    out.push(b'-');
    push_2(out, d.day);
    out.push(sep);
    push_2(out, d.hour);
    out.push(b':');
    push_2(out, d.minute);
    out.push(b':');
    push_2(out, d.second);
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// The XID as 16 upper-case hex digits (same as `Xid`'s `Display`).
#[inline]
pub(crate) fn push_xid(out: &mut Vec<u8>, xid: Xid) {
    let mut buf = [0u8; 16];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX_UPPER[((xid.0 >> (60 - 4 * i)) & 0xF) as usize];
    }
    out.extend_from_slice(&buf);
}

/// Appends one column value (without separator). `None` means the redo did not carry the column.
#[inline]
pub(crate) fn push_value(out: &mut Vec<u8>, value: Option<&Value<'_>>, missing: &[u8]) {
    let Some(value) = value else {
        push_field(out, missing);
        return;
    };
    match value {
        Value::Null => {}
        Value::Text(s) => push_field_inline(out, s.as_bytes()),
        Value::Number(s) => push_field_inline(out, s.as_bytes()),
        Value::Date(d) => push_datetime(out, d, b' '),
        Value::Timestamp { at, fraction, tz } => {
            let start = out.len();
            push_datetime(out, at, b' ');
            if !fraction.is_empty() {
                out.push(b'.');
                out.extend_from_slice(fraction.as_bytes());
            }
            // Only a zone name can hold a byte that needs quoting.
            if let Some(tz) = tz {
                out.push(b' ');
                out.extend_from_slice(tz.as_bytes());
                quote_tail_if_needed(out, start);
            } else if needs_quotes(fraction.as_bytes()) {
                quote_tail_if_needed(out, start);
            }
        }
        Value::Raw(hex) => {
            let start = out.len();
            out.extend_from_slice(hex.as_bytes());
            out[start..].make_ascii_uppercase();
            quote_tail_if_needed(out, start);
        }
        Value::IntervalYearMonth(s) | Value::IntervalDaySecond(s) => push_field(out, s.as_bytes()),
        // `EMPTY_CLOB()` / `EMPTY_BLOB()` are placeholders: the content, if any, follows in LOB
        // operations, which are not captured. The column is not NULL, so it is not empty either.
        Value::Unsupported | Value::EmptyLob => push_field(out, missing),
    }
}

/// The metadata fields every row of one transaction shares (`__commit_scn`, `__commit_ts`,
/// `__xid`), encoded once for all its rows.
#[derive(Debug, Default)]
pub(crate) struct TxnMeta {
    key: Option<(Scn, Option<OraDateTime>, Xid)>,
    /// `,commit_scn,commit_ts,xid`
    bytes: Vec<u8>,
}

impl TxnMeta {
    #[inline]
    pub(crate) fn get(&mut self, meta: &RowMeta) -> &[u8] {
        let key = (meta.commit_scn, meta.commit_ts, meta.xid);
        if self.key != Some(key) {
            self.bytes.clear();
            self.bytes.push(b',');
            push_u64(&mut self.bytes, meta.commit_scn.0);
            self.bytes.push(b',');
            if let Some(ts) = &meta.commit_ts {
                push_datetime(&mut self.bytes, ts, b'T');
            }
            self.bytes.push(b',');
            push_xid(&mut self.bytes, meta.xid);
            self.key = Some(key);
        }
        &self.bytes
    }
}

/// Appends a whole data row, `\n` included.
#[inline]
pub(crate) fn encode_row<'v, V: Borrow<Value<'v>>>(
    out: &mut Vec<u8>,
    meta: &RowMeta,
    txn: &mut TxnMeta,
    values: &[Option<V>],
    missing: &[u8],
) {
    out.extend_from_slice(op_field(meta.op));
    push_u64(out, meta.scn.0);
    out.extend_from_slice(txn.get(meta));
    for v in values {
        out.push(b',');
        push_value(out, v.as_ref().map(Borrow::borrow), missing);
    }
    out.push(b'\n');
}

/// `__op` and its comma.
#[inline(always)]
pub(crate) fn op_field(op: RowOp) -> &'static [u8; 2] {
    match op {
        RowOp::Insert => b"I,",
        RowOp::Update => b"U,",
        RowOp::Delete => b"D,",
        RowOp::Snapshot => b"R,",
    }
}

/// The metadata columns every table file starts with.
pub(crate) const META_HEADER: &[u8] = b"__op,__scn,__commit_scn,__commit_ts,__xid";

/// Header of the dead-letter files.
pub(crate) const REJECTED_HEADER: &[u8] = b"scn,xid,table,line,error,sql_redo\n";

/// Appends a table file's header line.
pub(crate) fn encode_header<'a>(out: &mut Vec<u8>, columns: impl Iterator<Item = &'a str>) {
    out.extend_from_slice(META_HEADER);
    for c in columns {
        out.push(b',');
        push_field(out, c.as_bytes());
    }
    out.push(b'\n');
}

/// Appends a dead-letter row, `\n` included.
pub(crate) fn encode_rejected(out: &mut Vec<u8>, row: &crate::RejectedRow<'_>) {
    push_u64(out, row.scn.0);
    out.push(b',');
    push_xid(out, row.xid);
    out.push(b',');
    push_field(out, row.table.as_bytes());
    out.push(b',');
    push_u64(out, row.line);
    out.push(b',');
    push_field(out, row.error.as_bytes());
    out.push(b',');
    push_field(out, row.sql_redo.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use redoflow_checkpoint::Scn;

    use super::*;

    const MISSING: &[u8] = b"__MISSING__";

    fn one(v: Option<&Value<'_>>) -> String {
        let mut out = Vec::new();
        push_value(&mut out, v, MISSING);
        String::from_utf8(out).unwrap()
    }

    fn dt(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> OraDateTime {
        OraDateTime::new(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn needs_quotes_agrees_with_a_byte_scan() {
        let naive = |s: &[u8]| s.iter().any(|b| b",\"\r\n".contains(b));
        for len in 0..40 {
            for at in 0..len {
                for b in [
                    b',', b'"', b'\r', b'\n', b'a', 0x2b, 0x2d, 0x21, 0x0b, 0x8c, 0xac, 0xa2, 0xff,
                    0,
                ] {
                    let mut s = vec![b'x'; len];
                    s[at] = b;
                    assert_eq!(needs_quotes(&s), naive(&s), "{s:?}");
                    // Neighbours that could carry a borrow into the special byte's lane.
                    s.iter_mut().for_each(|c| *c = 0x80);
                    s[at] = b;
                    assert_eq!(needs_quotes(&s), naive(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn every_value_type() {
        assert_eq!(one(Some(&Value::Null)), "");
        assert_eq!(one(Some(&Value::EmptyLob)), "__MISSING__");
        assert_eq!(one(None), "__MISSING__");
        assert_eq!(one(Some(&Value::Unsupported)), "__MISSING__");
        assert_eq!(one(Some(&Value::Text(Cow::Borrowed("abc")))), "abc");
        assert_eq!(one(Some(&Value::Number("-12.5E+3"))), "-12.5E+3");
        assert_eq!(
            one(Some(&Value::Date(dt(2024, 2, 29, 7, 5, 9)))),
            "2024-02-29 07:05:09"
        );
        let at = dt(1999, 12, 31, 23, 59, 59);
        assert_eq!(
            one(Some(&Value::Timestamp {
                at,
                fraction: "123456789",
                tz: None
            })),
            "1999-12-31 23:59:59.123456789"
        );
        assert_eq!(
            one(Some(&Value::Timestamp {
                at,
                fraction: "",
                tz: None
            })),
            "1999-12-31 23:59:59"
        );
        assert_eq!(
            one(Some(&Value::Timestamp {
                at,
                fraction: "5",
                tz: Some("+02:00")
            })),
            "1999-12-31 23:59:59.5 +02:00"
        );
        assert_eq!(
            one(Some(&Value::Timestamp {
                at,
                fraction: "",
                tz: Some("Europe/Paris")
            })),
            "1999-12-31 23:59:59 Europe/Paris"
        );
        assert_eq!(one(Some(&Value::Raw(Cow::Borrowed("0aFf19")))), "0AFF19");
        assert_eq!(one(Some(&Value::IntervalYearMonth("+02-06"))), "+02-06");
        assert_eq!(
            one(Some(&Value::IntervalDaySecond("+01 02:03:04.5"))),
            "+01 02:03:04.5"
        );
    }

    #[test]
    fn dates_match_display_including_bc_years() {
        for d in [
            dt(1, 1, 1, 0, 0, 0),
            dt(999, 3, 4, 5, 6, 7),
            dt(9999, 12, 31, 23, 59, 59),
            dt(-5, 1, 1, 0, 0, 0),
            dt(-4712, 1, 1, 0, 0, 0),
        ] {
            let mut out = Vec::new();
            push_datetime(&mut out, &d, b' ');
            assert_eq!(String::from_utf8(out).unwrap(), d.to_string());
            let mut out = Vec::new();
            push_datetime(&mut out, &d, b'T');
            assert_eq!(String::from_utf8(out).unwrap(), d.iso().to_string());
        }
    }

    #[test]
    fn quoting() {
        let t = |s: &str| one(Some(&Value::Text(Cow::Borrowed(s))));
        assert_eq!(t("a,b"), "\"a,b\"");
        assert_eq!(t("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(t("line1\nline2"), "\"line1\nline2\"");
        assert_eq!(t("cr\rhere"), "\"cr\rhere\"");
        assert_eq!(t("\""), "\"\"\"\"");
        assert_eq!(t("Ünïcödé ✓ 日本"), "Ünïcödé ✓ 日本");
        assert_eq!(t("Ünï,cödé"), "\"Ünï,cödé\"");
        assert_eq!(t(" spaces and 'ticks' "), " spaces and 'ticks' ");
        let long = format!("{}\"{}", "x".repeat(40), "y".repeat(40));
        assert_eq!(
            t(&long),
            format!("\"{}\"\"{}\"", "x".repeat(40), "y".repeat(40))
        );
        // Unusual tz/raw text still yields a valid field.
        let ts = Value::Timestamp {
            at: dt(2000, 1, 1, 0, 0, 0),
            fraction: "1",
            tz: Some("a,\"b"),
        };
        assert_eq!(one(Some(&ts)), "\"2000-01-01 00:00:00.1 a,\"\"b\"");
        // A missing marker that needs quoting is quoted.
        let mut out = Vec::new();
        push_value(&mut out, None, b"n/a,");
        assert_eq!(out, b"\"n/a,\"");
    }

    #[test]
    fn meta_fields() {
        let meta = RowMeta {
            op: RowOp::Snapshot,
            scn: Scn(0),
            commit_scn: Scn(u64::MAX),
            commit_ts: Some(dt(2024, 1, 2, 3, 4, 5)),
            xid: Xid(0x0A0B_0000_00FF_0001),
        };
        let mut out = Vec::new();
        // One TxnMeta for both rows: the second row's transaction differs, so it is re-encoded.
        let mut txn = TxnMeta::default();
        encode_row(
            &mut out,
            &meta,
            &mut txn,
            &[Some(&Value::Null), None],
            MISSING,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "R,0,18446744073709551615,2024-01-02T03:04:05,0A0B000000FF0001,,__MISSING__\n"
        );
        let meta = RowMeta {
            op: RowOp::Delete,
            commit_ts: None,
            ..meta
        };
        let mut out = Vec::new();
        encode_row(&mut out, &meta, &mut txn, &[] as &[Option<&Value>], MISSING);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "D,0,18446744073709551615,,0A0B000000FF0001\n"
        );
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
            4_294_967_296,
            12345678901234567890,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
        for x in [0u64, 1, u64::MAX, 0x1234_5678_9ABC_DEF0] {
            let mut out = Vec::new();
            push_xid(&mut out, Xid(x));
            assert_eq!(String::from_utf8(out).unwrap(), Xid(x).to_string());
        }
    }

    #[test]
    fn header_quotes_odd_column_names() {
        let mut out = Vec::new();
        encode_header(&mut out, ["ID", "a,b", "Q\""].into_iter());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "__op,__scn,__commit_scn,__commit_ts,__xid,ID,\"a,b\",\"Q\"\"\"\n"
        );
    }
}
