//! V$LOGMNR_CONTENTS rows → [`RedoRow`], over a small [`RowAccess`] trait so the conversion runs
//! the same on driver rows, recorded rows (tests, benches) and the scripted fake.

use redoflow_checkpoint::{Scn, ThreadId, Xid};

use super::error::OraError;
use crate::row::{NameCache, OpCode, RedoRow, ShortText};
use crate::value::OraDateTime;

/// Positions in [`super::sql::CONTENTS_COLUMNS`].
pub mod col {
    pub const SCN: usize = 0;
    pub const TIMESTAMP: usize = 1;
    pub const XID: usize = 2;
    pub const OPERATION_CODE: usize = 3;
    pub const SEG_OWNER: usize = 4;
    pub const TABLE_NAME: usize = 5;
    pub const ROW_ID: usize = 6;
    pub const ROLLBACK: usize = 7;
    pub const CSF: usize = 8;
    pub const SQL_REDO: usize = 9;
    pub const THREAD: usize = 10;
    pub const RS_ID: usize = 11;
    pub const SSN: usize = 12;
    pub const STATUS: usize = 13;
    pub const INFO: usize = 14;
    pub const COUNT: usize = 15;
    pub const NAMES: [&str; COUNT] = [
        "SCN",
        "TIMESTAMP",
        "XID",
        "OPERATION_CODE",
        "SEG_OWNER",
        "TABLE_NAME",
        "ROW_ID",
        "ROLLBACK",
        "CSF",
        "SQL_REDO",
        "THREAD#",
        "RS_ID",
        "SSN",
        "STATUS",
        "INFO",
    ];
}

/// A DATE as the driver hands it over, before range checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateParts {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Typed access to one fetched row by column position. `None` / `false` is SQL NULL.
pub trait RowAccess {
    fn number_u64(&self, col: usize) -> Result<Option<u64>, OraError>;
    fn number_i64(&self, col: usize) -> Result<Option<i64>, OraError>;
    fn text(&self, col: usize) -> Result<Option<String>, OraError>;
    /// Appends the RAW bytes to `buf` (cleared first); false for NULL.
    fn raw(&self, col: usize, buf: &mut Vec<u8>) -> Result<bool, OraError>;
    fn date(&self, col: usize) -> Result<Option<DateParts>, OraError>;
}

/// A short text column (ROW_ID, RS_ID); NULL is empty.
fn short<R: RowAccess + ?Sized>(r: &R, column: usize, scn: u64) -> Result<ShortText, OraError> {
    match r.text(column)? {
        None => Ok(ShortText::default()),
        Some(t) => ShortText::new(&t).map_err(|e| bad(column, format_args!("{e} (SCN {scn})"))),
    }
}

fn bad(column: usize, what: impl std::fmt::Display) -> OraError {
    OraError::other(format!(
        "V$LOGMNR_CONTENTS.{}: {what}",
        col::NAMES.get(column).copied().unwrap_or("?")
    ))
}

fn small<T: TryFrom<u64>>(r: &dyn RowAccess, c: usize) -> Result<Option<T>, OraError> {
    match r.number_u64(c)? {
        None => Ok(None),
        Some(v) => T::try_from(v)
            .map(Some)
            .map_err(|_| bad(c, format_args!("{v} out of range"))),
    }
}

/// State reused across [`convert_row`] calls: a RAW buffer and the shared owner/table names.
#[derive(Debug, Default)]
pub struct RowScratch {
    raw: Vec<u8>,
    /// One cache each, so consecutive rows of one table hit each cache's last name.
    owners: NameCache,
    tables: NameCache,
}

/// Converts one row.
pub fn convert_row(r: &dyn RowAccess, scratch: &mut RowScratch) -> Result<RedoRow, OraError> {
    let raw_buf = &mut scratch.raw;
    let scn = r
        .number_u64(col::SCN)?
        .ok_or_else(|| bad(col::SCN, "NULL"))?;
    let xid = if r.raw(col::XID, raw_buf)? {
        let bytes: [u8; 8] = raw_buf.as_slice().try_into().map_err(|_| {
            bad(
                col::XID,
                format_args!("expected RAW(8), got {} bytes (SCN {scn})", raw_buf.len()),
            )
        })?;
        // RAWTOHEX order: the 16 hex digits read left to right are the bytes in order.
        Xid(u64::from_be_bytes(bytes))
    } else {
        Xid::default()
    };
    let op: u16 = small(r, col::OPERATION_CODE)?.ok_or_else(|| bad(col::OPERATION_CODE, "NULL"))?;
    let timestamp = match r.date(col::TIMESTAMP)? {
        None => None,
        Some(d) => Some(date(d).ok_or_else(|| {
            bad(
                col::TIMESTAMP,
                format_args!("invalid date {d:?} (SCN {scn})"),
            )
        })?),
    };
    let flag = |c: usize| -> Result<bool, OraError> { Ok(r.number_u64(c)?.unwrap_or(0) != 0) };
    let thread: u16 = small(r, col::THREAD)?.unwrap_or(1);
    Ok(RedoRow {
        scn: Scn(scn),
        timestamp,
        xid,
        op: OpCode(op),
        seg_owner: scratch
            .owners
            .get(r.text(col::SEG_OWNER)?.as_deref().unwrap_or_default()),
        table_name: scratch
            .tables
            .get(r.text(col::TABLE_NAME)?.as_deref().unwrap_or_default()),
        row_id: short(r, col::ROW_ID, scn)?,
        rollback: flag(col::ROLLBACK)?,
        csf: flag(col::CSF)?,
        sql_redo: r.text(col::SQL_REDO)?.unwrap_or_default(),
        thread: ThreadId(thread),
        rs_id: short(r, col::RS_ID, scn)?,
        ssn: r.number_u64(col::SSN)?.unwrap_or(0),
        status: r
            .number_i64(col::STATUS)?
            .map(|s| i32::try_from(s).map_err(|_| bad(col::STATUS, s)))
            .transpose()?
            .unwrap_or(0),
        info: r.text(col::INFO)?.unwrap_or_default(),
        commit_scn: None,
        line: 0,
    })
}

fn date(d: DateParts) -> Option<OraDateTime> {
    let n = |v: u32| u8::try_from(v).ok();
    OraDateTime::new(
        d.year,
        n(d.month)?,
        n(d.day)?,
        n(d.hour)?,
        n(d.minute)?,
        n(d.second)?,
    )
}

/// One recorded value, typed as the driver would return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Null,
    Number(i128),
    Text(String),
    Raw(Vec<u8>),
    Date(DateParts),
}

/// A recorded V$LOGMNR_CONTENTS row: tests, benches and the scripted fake feed these through the
/// same [`convert_row`] as driver rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRow {
    pub cells: Vec<Cell>,
}

impl RecordedRow {
    fn cell(&self, c: usize) -> &Cell {
        self.cells.get(c).unwrap_or(&Cell::Null)
    }

    /// Parses a recorded text row in [`col::NAMES`] order, as SQLcl prints it: numbers in
    /// decimal, XID in hex, TIMESTAMP as `YYYY-MM-DD HH24:MI:SS`, empty = NULL.
    pub fn parse(fields: &[&str]) -> Result<RecordedRow, String> {
        let mut cells = Vec::with_capacity(col::COUNT);
        for (i, f) in fields.iter().enumerate().take(col::COUNT) {
            let cell = if f.is_empty() {
                Cell::Null
            } else {
                match i {
                    col::XID => Cell::Raw(parse_hex(f).ok_or(format!("bad XID {f:?}"))?),
                    col::TIMESTAMP => {
                        Cell::Date(parse_date(f).ok_or(format!("bad TIMESTAMP {f:?}"))?)
                    }
                    col::SCN
                    | col::OPERATION_CODE
                    | col::ROLLBACK
                    | col::CSF
                    | col::THREAD
                    | col::SSN
                    | col::STATUS => Cell::Number(
                        f.trim()
                            .parse()
                            .map_err(|_| format!("bad {} {f:?}", col::NAMES[i]))?,
                    ),
                    _ => Cell::Text(f.to_string()),
                }
            };
            cells.push(cell);
        }
        Ok(RecordedRow { cells })
    }
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

fn parse_date(s: &str) -> Option<DateParts> {
    let s = s.trim();
    let (d, t) = s.split_once(' ')?;
    let mut dp = d.splitn(3, '-');
    let mut tp = t.splitn(3, ':');
    Some(DateParts {
        year: dp.next()?.parse().ok()?,
        month: dp.next()?.parse().ok()?,
        day: dp.next()?.parse().ok()?,
        hour: tp.next()?.parse().ok()?,
        minute: tp.next()?.parse().ok()?,
        second: tp.next()?.split('.').next()?.parse().ok()?,
    })
}

impl RowAccess for RecordedRow {
    fn number_u64(&self, c: usize) -> Result<Option<u64>, OraError> {
        match self.cell(c) {
            Cell::Null => Ok(None),
            Cell::Number(n) => u64::try_from(*n)
                .map(Some)
                .map_err(|_| bad(c, format_args!("{n} is not an unsigned integer"))),
            other => Err(bad(c, format_args!("expected a number, got {other:?}"))),
        }
    }

    fn number_i64(&self, c: usize) -> Result<Option<i64>, OraError> {
        match self.cell(c) {
            Cell::Null => Ok(None),
            Cell::Number(n) => i64::try_from(*n)
                .map(Some)
                .map_err(|_| bad(c, format_args!("{n} out of range"))),
            other => Err(bad(c, format_args!("expected a number, got {other:?}"))),
        }
    }

    fn text(&self, c: usize) -> Result<Option<String>, OraError> {
        match self.cell(c) {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s.clone())),
            Cell::Number(n) => Ok(Some(n.to_string())),
            other => Err(bad(c, format_args!("expected text, got {other:?}"))),
        }
    }

    fn raw(&self, c: usize, buf: &mut Vec<u8>) -> Result<bool, OraError> {
        buf.clear();
        match self.cell(c) {
            Cell::Null => Ok(false),
            Cell::Raw(b) => {
                buf.extend_from_slice(b);
                Ok(true)
            }
            other => Err(bad(c, format_args!("expected RAW, got {other:?}"))),
        }
    }

    fn date(&self, c: usize) -> Result<Option<DateParts>, OraError> {
        match self.cell(c) {
            Cell::Null => Ok(None),
            Cell::Date(d) => Ok(Some(*d)),
            other => Err(bad(c, format_args!("expected DATE, got {other:?}"))),
        }
    }
}

/// Reads a recorded rows file: a CSV with a header of [`col::NAMES`] (any order, any case,
/// extra columns ignored; missing ones are NULL).
pub fn read_recorded(csv_text: &str) -> Result<Vec<RecordedRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    let header = reader.headers().map_err(|e| e.to_string())?.clone();
    let positions: Vec<Option<usize>> = col::NAMES
        .iter()
        .map(|n| header.iter().position(|h| h.trim().eq_ignore_ascii_case(n)))
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| e.to_string())?;
        let fields: Vec<&str> = positions
            .iter()
            .map(|p| p.and_then(|p| rec.get(p)).unwrap_or(""))
            .collect();
        rows.push(RecordedRow::parse(&fields).map_err(|e| format!("record {}: {e}", i + 1))?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[&str]) -> RecordedRow {
        RecordedRow::parse(fields).unwrap()
    }

    #[test]
    fn converts_a_dml_row() {
        let r = row(&[
            "1234567890123",
            "2024-02-29 23:59:58",
            "0A001F00A7310000",
            "1",
            "HR",
            "EMP",
            "AAAR3sAAEAAAACXAAA",
            "0",
            "0",
            "insert into \"HR\".\"EMP\"(\"ID\") values ('1');",
            "2",
            " 0x000123.0000abcd.0010 ",
            "7",
            "0",
            "",
        ]);
        let mut scratch = RowScratch::default();
        let got = convert_row(&r, &mut scratch).unwrap();
        assert_eq!(got.scn, Scn(1_234_567_890_123));
        assert_eq!(got.xid.to_string(), "0A001F00A7310000");
        assert_eq!(got.op, OpCode::INSERT);
        assert_eq!(got.timestamp, OraDateTime::new(2024, 2, 29, 23, 59, 58));
        assert_eq!(got.thread, ThreadId(2));
        assert_eq!(got.ssn, 7);
        assert_eq!(&*got.seg_owner, "HR");
        assert!(!got.csf && !got.rollback);
        assert_eq!(got.info, "");
    }

    #[test]
    fn nulls_and_flags() {
        let r = row(&[
            "10", "", "", "7", "", "", "", "1", "1", "", "", "", "", "", "",
        ]);
        let got = convert_row(&r, &mut RowScratch::default()).unwrap();
        assert_eq!(got.xid, Xid(0));
        assert_eq!(got.timestamp, None);
        assert_eq!(got.thread, ThreadId(1));
        assert!(got.rollback && got.csf);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        let mut scratch = RowScratch::default();
        // XID of 4 bytes.
        let r = row(&["10", "", "0A001F00", "1"]);
        let e = convert_row(&r, &mut scratch).unwrap_err();
        assert!(e.message.contains("XID"), "{e}");
        // NULL SCN.
        let r = row(&["", "", "", "1"]);
        assert!(convert_row(&r, &mut scratch).is_err());
        // Impossible date.
        let r = row(&["10", "2023-02-30 00:00:00", "", "1"]);
        assert!(convert_row(&r, &mut scratch)
            .unwrap_err()
            .message
            .contains("TIMESTAMP"));
        // Negative operation code.
        let r = RecordedRow {
            cells: vec![Cell::Number(10), Cell::Null, Cell::Null, Cell::Number(-1)],
        };
        assert!(convert_row(&r, &mut scratch).is_err());
    }
}
