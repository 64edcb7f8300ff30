//! Replay source over SQLcl CSV exports of V$LOGMNR_CONTENTS (SPEC.md §10).
//!
//! The contents file is streamed, never loaded: a memchr-based SQLcl CSV reader over the file, one reused
//! `Record`, header positions resolved once, numbers parsed straight from the bytes. A fetch
//! reads records until the first one past the window's end, which is kept (peeked) for the next
//! window. Going back (a session resuming before rows already read) reopens the file, so reads
//! are repeatable. The columns file (ALL_TAB_COLUMNS) is small and loaded at open.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use crate::sqlcl_csv::{CsvError, CsvReader, Record};
use redoflow_checkpoint::{Offset, Scn, ThreadId, Xid};

use crate::row::{NameCache, OpCode, RedoRow, ShortText};
use crate::schema::{Column, SchemaCatalog, TableId, TableSchema};
use crate::source::{LogSource, SourceError, StartAt};
use crate::value::OraDateTime;

/// Positions of the used columns in the contents header.
#[derive(Clone, Debug)]
struct ContentsColumns {
    width: usize,
    scn: usize,
    op: usize,
    xid: usize,
    sql_redo: usize,
    seg_owner: Option<usize>,
    table_name: Option<usize>,
    timestamp: Option<usize>,
    row_id: Option<usize>,
    rollback: Option<usize>,
    csf: Option<usize>,
    thread: Option<usize>,
    rs_id: Option<usize>,
    ssn: Option<usize>,
    status: Option<usize>,
    info: Option<usize>,
    commit_scn: Option<usize>,
}

/// A [`LogSource`] replaying a recorded export. See the module documentation.
#[derive(Debug)]
pub struct ReplaySource {
    path: PathBuf,
    catalog: SchemaCatalog,
    cols: ContentsColumns,
    crlf: bool,
    reader: CsvReader<File>,
    record: Record,
    /// The first row past the last window, read but not returned yet.
    peeked: Option<(Scn, RedoRow)>,
    /// The reader reached the end of the file.
    eof: bool,
    /// Highest SCN read from the file so far (the file's last SCN once `eof`).
    max_scn: Scn,
    /// Position of the last record read in SCN order: the highest SCN read so far. A record
    /// whose SCN is lower (an export not quite in SCN order) is placed at this position, so it
    /// is delivered in file order and never skipped as "before the window".
    last_scn: Scn,
    /// Records whose SCN is lower than an earlier record's.
    out_of_order: u64,
    /// Per redo thread, the commit SCN and line of the last COMMIT read: a COMMIT below it
    /// is refused (see [`ReplaySource::check_commit_order`]).
    last_commit: HashMap<ThreadId, (Scn, u64)>,
    /// Highest SCN of a row taken out of the stream (returned or skipped), not counting `peeked`.
    consumed: Scn,
    /// Rows with SCN <= this are skipped.
    resume: Scn,
    /// Shared SEG_OWNER and TABLE_NAME values (one cache each: consecutive rows of a table hit
    /// each cache's last name).
    owners: NameCache,
    tables: NameCache,
}

fn malformed(path: &Path, line: u64, message: impl Into<String>) -> SourceError {
    SourceError::Malformed {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn csv_error(path: &Path, e: CsvError) -> SourceError {
    match e {
        CsvError::Io(source) => SourceError::Io {
            path: path.to_path_buf(),
            source,
        },
        e @ CsvError::UnterminatedQuote { line } => malformed(path, line, e.to_string()),
    }
}

/// Records end at LF only, so a record's line is its own first line also in CRLF files; the CR
/// is stripped from the last field instead, see `Fields::raw`.
fn open_reader(path: &Path) -> Result<CsvReader<File>, SourceError> {
    let file = File::open(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(CsvReader::new(file))
}

/// Reads the header line; returns the upper-cased, trimmed names and whether lines end in CRLF.
fn read_header(
    path: &Path,
    reader: &mut CsvReader<File>,
    record: &mut Record,
) -> Result<(Vec<String>, bool), SourceError> {
    if !reader.read_record(record).map_err(|e| csv_error(path, e))? {
        return Err(malformed(path, 1, "empty file: expected a header line"));
    }
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let field = if i == 0 {
            field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
        } else {
            field
        };
        let name = String::from_utf8_lossy(field).trim().to_ascii_uppercase();
        if let Some(first) = names.iter().position(|n| !name.is_empty() && *n == name) {
            return Err(malformed(
                path,
                1,
                format!(
                    "header names column {name} twice (fields {} and {}): which one holds it?",
                    first + 1,
                    i + 1
                ),
            ));
        }
        names.push(name);
    }
    let crlf = record
        .len()
        .checked_sub(1)
        .and_then(|last| record.get(last))
        .is_some_and(|f| f.ends_with(b"\r"));
    Ok((names, crlf))
}

/// A line with nothing on it (csv yields one empty field, or a lone CR in a CRLF file).
/// An empty line, or SQLcl's feedback line (`12 rows selected.`) when the export was spooled
/// without `SET FEEDBACK OFF`: neither is a row.
fn is_blank(record: &Record) -> bool {
    if record.len() != 1 {
        return false;
    }
    let text = record.get(0).unwrap_or(b"").trim_ascii();
    text.is_empty() || is_feedback(text)
}

fn is_feedback(text: &[u8]) -> bool {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = text[digits..].trim_ascii();
    digits > 0
        && matches!(
            rest,
            b"rows selected." | b"row selected." | b"rows selected" | b"row selected"
        )
}

/// Resolves `wanted` names; returns their positions or a Malformed naming the missing required
/// ones.
fn positions<const N: usize>(
    path: &Path,
    names: &[String],
    required: [&str; N],
) -> Result<[usize; N], SourceError> {
    let mut out = [0usize; N];
    let mut missing = Vec::new();
    for (slot, want) in out.iter_mut().zip(required) {
        match names.iter().position(|n| n == want) {
            Some(p) => *slot = p,
            None => missing.push(want),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(malformed(
            path,
            1,
            format!(
                "header lacks required column(s) {}; found {}",
                missing.join(", "),
                names.join(",")
            ),
        ))
    }
}

fn optional(names: &[String], want: &str) -> Option<usize> {
    names.iter().position(|n| n == want)
}

impl ContentsColumns {
    fn resolve(path: &Path, names: &[String]) -> Result<Self, SourceError> {
        let [scn, op, xid, sql_redo] =
            positions(path, names, ["SCN", "OPERATION_CODE", "XID", "SQL_REDO"])?;
        Ok(ContentsColumns {
            width: names.len(),
            scn,
            op,
            xid,
            sql_redo,
            seg_owner: optional(names, "SEG_OWNER"),
            table_name: optional(names, "TABLE_NAME"),
            timestamp: optional(names, "TIMESTAMP"),
            row_id: optional(names, "ROW_ID"),
            rollback: optional(names, "ROLLBACK"),
            csf: optional(names, "CSF"),
            thread: optional(names, "THREAD#"),
            rs_id: optional(names, "RS_ID"),
            ssn: optional(names, "SSN"),
            status: optional(names, "STATUS"),
            info: optional(names, "INFO"),
            commit_scn: optional(names, "COMMIT_SCN"),
        })
    }
}

/// Field parsing for one record, with errors naming the column and the value.
struct Fields<'a> {
    path: &'a Path,
    line: u64,
    record: &'a Record,
    crlf: bool,
}

/// Bytes quoted either side of the offending position when a value is too long to echo whole.
const QUOTE_SIDE: usize = 40;

/// A field's value for an error message: whole when short, else about [`QUOTE_SIDE`] bytes
/// either side of `pos` (where the value goes wrong) and its length, so that one bad byte in a
/// 50 MB SQL_REDO does not make a 50 MB message.
fn quote(value: &[u8], pos: usize) -> String {
    if value.len() <= 2 * QUOTE_SIDE {
        return format!("{:?}", String::from_utf8_lossy(value));
    }
    let pos = pos.min(value.len());
    let start = pos.saturating_sub(QUOTE_SIDE);
    let end = pos.saturating_add(QUOTE_SIDE).min(value.len());
    format!(
        "{}{:?}{} ({} bytes; the part around byte {pos})",
        if start > 0 { "..." } else { "" },
        String::from_utf8_lossy(&value[start..end]),
        if end < value.len() { "..." } else { "" },
        value.len()
    )
}

/// Where `bytes` stop being UTF-8 (0 if they are).
fn utf8_error_at(bytes: &[u8]) -> usize {
    std::str::from_utf8(bytes)
        .err()
        .map_or(0, |e| e.valid_up_to())
}

impl<'a> Fields<'a> {
    fn bad(&self, column: &str, value: &[u8], expected: &str) -> SourceError {
        self.bad_at(column, value, 0, expected)
    }

    /// [`Fields::bad`] for a value that goes wrong at byte `pos`.
    fn bad_at(&self, column: &str, value: &[u8], pos: usize, expected: &str) -> SourceError {
        malformed(
            self.path,
            self.line,
            format!(
                "{column}: invalid value {}, expected {expected}",
                quote(value, pos)
            ),
        )
    }

    fn raw(&self, pos: usize) -> &'a [u8] {
        let f = self.record.get(pos).unwrap_or(b"");
        if self.crlf && pos + 1 == self.record.len() {
            f.strip_suffix(b"\r").unwrap_or(f)
        } else {
            f
        }
    }

    /// A text field borrowed from the record (empty when absent or NULL).
    fn str(&self, pos: Option<usize>, column: &str) -> Result<&'a str, SourceError> {
        let Some(pos) = pos else {
            return Ok("");
        };
        let bytes = self.raw(pos);
        simdutf8::basic::from_utf8(bytes)
            .map_err(|_| self.bad_at(column, bytes, utf8_error_at(bytes), "UTF-8 text"))
    }

    fn text(&self, pos: Option<usize>, column: &str) -> Result<String, SourceError> {
        let Some(pos) = pos else {
            return Ok(String::new());
        };
        let bytes = self.raw(pos);
        if bytes.is_empty() {
            return Ok(String::new());
        }
        // SQL_REDO is most of a row's bytes: checked with SIMD.
        match simdutf8::basic::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.bad_at(column, bytes, utf8_error_at(bytes), "UTF-8 text")),
        }
    }

    /// A short text column (ROW_ID, RS_ID), at most [`ShortText::MAX`] bytes.
    fn short(&self, pos: Option<usize>, column: &str) -> Result<ShortText, SourceError> {
        let text = self.text(pos, column)?;
        ShortText::new(&text).map_err(|_| {
            self.bad(
                column,
                text.as_bytes(),
                "text of at most 32 bytes (LogMiner's width)",
            )
        })
    }

    /// An unsigned integer, `None` when the field is empty (NULL).
    fn uint(&self, pos: usize, column: &str, max: u64) -> Result<Option<u64>, SourceError> {
        let bytes = self.raw(pos);
        let digits = bytes.trim_ascii();
        if digits.is_empty() {
            return Ok(None);
        }
        let mut v: u64 = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return Err(self.bad(column, bytes, "an unsigned integer"));
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .ok_or_else(|| self.bad(column, bytes, "an integer in range"))?;
        }
        if v > max {
            return Err(self.bad(column, bytes, &format!("an integer up to {max}")));
        }
        Ok(Some(v))
    }

    fn required_uint(&self, pos: usize, column: &str, max: u64) -> Result<u64, SourceError> {
        self.uint(pos, column, max)?
            .ok_or_else(|| self.bad(column, b"", "a value (it is required)"))
    }

    fn opt_uint(
        &self,
        pos: Option<usize>,
        column: &str,
        max: u64,
    ) -> Result<Option<u64>, SourceError> {
        match pos {
            Some(p) => self.uint(p, column, max),
            None => Ok(None),
        }
    }

    fn flag(&self, pos: Option<usize>, column: &str) -> Result<bool, SourceError> {
        Ok(self.opt_uint(pos, column, 1)? == Some(1))
    }

    fn status(&self, pos: Option<usize>) -> Result<i32, SourceError> {
        let Some(pos) = pos else { return Ok(0) };
        let bytes = self.raw(pos);
        let t = bytes.trim_ascii();
        if t.is_empty() {
            return Ok(0);
        }
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            .ok_or_else(|| self.bad("STATUS", bytes, "an integer"))
    }

    fn xid(&self, pos: usize) -> Result<Xid, SourceError> {
        let bytes = self.raw(pos);
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<Xid>().ok())
            .ok_or_else(|| self.bad("XID", bytes, "16 hex digits"))
    }

    fn timestamp(&self, pos: Option<usize>) -> Result<Option<OraDateTime>, SourceError> {
        let Some(pos) = pos else { return Ok(None) };
        let bytes = self.raw(pos);
        let t = bytes.trim_ascii();
        if t.is_empty() {
            return Ok(None);
        }
        parse_timestamp(t)
            .map(Some)
            .ok_or_else(|| self.bad("TIMESTAMP", bytes, "YYYY-MM-DD HH24:MI:SS[.fraction]"))
    }
}

/// `YYYY-MM-DD HH24:MI:SS` with an optional `.digits` fraction (dropped: DATE precision).
fn parse_timestamp(t: &[u8]) -> Option<OraDateTime> {
    if t.len() < 19 {
        return None;
    }
    let (main, rest) = t.split_at(19);
    if !rest.is_empty() && (rest[0] != b'.' || !rest[1..].iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        main[r.clone()].iter().try_fold(0u32, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
        })
    };
    if main[4] != b'-'
        || main[7] != b'-'
        || main[10] != b' '
        || main[13] != b':'
        || main[16] != b':'
    {
        return None;
    }
    OraDateTime::new(
        i32::try_from(num(0..4)?).ok()?,
        num(5..7)? as u8,
        num(8..10)? as u8,
        num(11..13)? as u8,
        num(14..16)? as u8,
        num(17..19)? as u8,
    )
}

impl ReplaySource {
    /// Opens a contents export and, optionally, an ALL_TAB_COLUMNS export. Checks the contents
    /// header now; rows are read by `fetch`.
    pub fn open(contents: &Path, columns: Option<&Path>) -> Result<Self, SourceError> {
        let catalog = match columns {
            Some(p) => load_catalog(p)?,
            None => SchemaCatalog::default(),
        };
        let mut reader = open_reader(contents)?;
        let mut record = Record::default();
        let (names, crlf) = read_header(contents, &mut reader, &mut record)?;
        let cols = ContentsColumns::resolve(contents, &names)?;
        Ok(ReplaySource {
            path: contents.to_path_buf(),
            catalog,
            cols,
            crlf,
            reader,
            record,
            peeked: None,
            eof: false,
            max_scn: Scn::ZERO,
            last_scn: Scn::ZERO,
            out_of_order: 0,
            last_commit: HashMap::new(),
            consumed: Scn::ZERO,
            resume: Scn::ZERO,
            owners: NameCache::default(),
            tables: NameCache::default(),
        })
    }

    pub fn catalog(&self) -> &SchemaCatalog {
        &self.catalog
    }

    /// The contents file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SCN position of every `every`-th row of an export (row 0, `every`, `2 × every`, ...)
    /// and the total row count: what [`crate::paced::Paced`] needs to play the export back at a
    /// pace of rows per second. Reads the whole file once.
    pub fn scn_index(contents: &Path, every: u64) -> Result<(Vec<Scn>, u64), SourceError> {
        let every = every.max(1);
        let mut source = ReplaySource::open(contents, None)?;
        let mut index = Vec::new();
        let mut rows = 0u64;
        while let Some((at, _)) = source.next_row()? {
            if rows % every == 0 {
                index.push(at);
            }
            rows += 1;
        }
        Ok((index, rows))
    }

    /// Back to the first row (the header is checked again: the file may have been replaced).
    fn rewind(&mut self) -> Result<(), SourceError> {
        let mut reader = open_reader(&self.path)?;
        let (names, crlf) = read_header(&self.path, &mut reader, &mut self.record)?;
        self.cols = ContentsColumns::resolve(&self.path, &names)?;
        self.crlf = crlf;
        self.reader = reader;
        self.peeked = None;
        self.eof = false;
        self.last_scn = Scn::ZERO;
        self.last_commit.clear();
        self.consumed = Scn::ZERO;
        Ok(())
    }

    /// The next row of the file, or `None` at its end.
    /// The next record and its position in SCN order (its SCN, or the highest SCN before it).
    fn next_row(&mut self) -> Result<Option<(Scn, RedoRow)>, SourceError> {
        if let Some(peeked) = self.peeked.take() {
            return Ok(Some(peeked));
        }
        if self.eof {
            return Ok(None);
        }
        loop {
            if !self
                .reader
                .read_record(&mut self.record)
                .map_err(|e| csv_error(&self.path, e))?
            {
                self.eof = true;
                return Ok(None);
            }
            if !is_blank(&self.record) {
                break;
            }
        }
        let line = self.record.line();
        let row = self.parse_record(line)?;
        if row.scn < self.last_scn {
            // The file order is LogMiner's order and stays authoritative; say so once.
            self.out_of_order += 1;
            if self.out_of_order == 1 {
                tracing::warn!(
                    path = %self.path.display(),
                    line,
                    scn = %row.scn,
                    previous = %self.last_scn,
                    "export is not in SCN order; rows are kept in file order"
                );
            }
        }
        self.check_commit_order(&row)?;
        self.last_scn = self.last_scn.max(row.scn);
        self.max_scn = self.max_scn.max(row.scn);
        Ok(Some((self.last_scn, row)))
    }

    /// Refuses a COMMIT whose commit SCN is below an earlier COMMIT's on the same redo thread.
    /// The restart rule skips every commit below the checkpoint's commit mark as written
    /// already, so resuming such an export would silently lose the late one; rows other than
    /// COMMITs out of SCN order are safe (kept in file order, with a warning).
    fn check_commit_order(&mut self, row: &RedoRow) -> Result<(), SourceError> {
        if row.op != OpCode::COMMIT {
            return Ok(());
        }
        let commit_scn = row.commit_scn.unwrap_or(row.scn);
        let last = self
            .last_commit
            .entry(row.thread)
            .or_insert((commit_scn, row.line));
        if commit_scn < last.0 {
            return Err(malformed(
                &self.path,
                row.line,
                format!(
                    "COMMIT of XID {} at SCN {commit_scn} comes after the COMMIT at SCN {} on \
                     line {} (redo thread {}): commits must be in SCN order, as LogMiner returns \
                     them (export with ORDER BY SCN, or without it: LogMiner's own order)",
                    row.xid, last.0, last.1, row.thread
                ),
            ));
        }
        *last = (commit_scn, row.line);
        Ok(())
    }

    fn parse_record(&mut self, line: u64) -> Result<RedoRow, SourceError> {
        let (owners, tables) = (&mut self.owners, &mut self.tables);
        let c = &self.cols;
        let record = &self.record;
        if record.len() != c.width {
            return Err(malformed(
                &self.path,
                line,
                format!(
                    "record has {} fields, the header has {}",
                    record.len(),
                    c.width
                ),
            ));
        }
        let f = Fields {
            path: &self.path,
            line,
            record,
            crlf: self.crlf,
        };
        Ok(RedoRow {
            scn: Scn(f.required_uint(c.scn, "SCN", u64::MAX)?),
            timestamp: f.timestamp(c.timestamp)?,
            xid: f.xid(c.xid)?,
            op: OpCode(f.required_uint(c.op, "OPERATION_CODE", u64::from(u16::MAX))? as u16),
            seg_owner: owners.get(f.str(c.seg_owner, "SEG_OWNER")?),
            table_name: tables.get(f.str(c.table_name, "TABLE_NAME")?),
            row_id: f.short(c.row_id, "ROW_ID")?,
            rollback: f.flag(c.rollback, "ROLLBACK")?,
            csf: f.flag(c.csf, "CSF")?,
            sql_redo: f.text(Some(c.sql_redo), "SQL_REDO")?,
            thread: ThreadId(
                f.opt_uint(c.thread, "THREAD#", u64::from(u16::MAX))?
                    .unwrap_or(1) as u16,
            ),
            rs_id: f.short(c.rs_id, "RS_ID")?,
            ssn: f.opt_uint(c.ssn, "SSN", u64::MAX)?.unwrap_or(0),
            status: f.status(c.status)?,
            info: f.text(c.info, "INFO")?,
            commit_scn: f.opt_uint(c.commit_scn, "COMMIT_SCN", u64::MAX)?.map(Scn),
            line,
        })
    }
}

impl LogSource for ReplaySource {
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        Ok(if self.eof { self.max_scn } else { Scn::MAX })
    }

    /// The export's first SCN − 1: a first start replays the whole export, and the planner does
    /// not cross the SCNs before it blind. `Scn(n)` starts after `n`.
    fn first_offset(&mut self, start: StartAt) -> Result<Offset, SourceError> {
        if let StartAt::Scn(scn) = start {
            return Ok(Offset::starting_after(scn));
        }
        if self.consumed > Scn::ZERO {
            self.rewind()?;
        }
        let first = match self.next_row()? {
            Some((at, row)) => {
                self.peeked = Some((at, row));
                at.prev()
            }
            None => Scn::ZERO,
        };
        Ok(Offset::starting_after(first))
    }

    /// Sets where rows start; a session starting before rows already read reopens the export at
    /// the next fetch that needs them.
    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        self.resume = resume_scn;
        Ok(())
    }

    fn fetch(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
    ) -> Result<(), SourceError> {
        self.fetch_capped(read_scn, end_scn, out, usize::MAX)
            .map(|_| ())
    }

    /// Stops before the first row of a new SCN position once `max_rows` rows are appended (the
    /// row is kept for the next window), so one read never holds more than about `max_rows`
    /// rows whatever the window's span.
    fn fetch_capped(
        &mut self,
        read_scn: Scn,
        end_scn: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> Result<Scn, SourceError> {
        let skip_through = read_scn.max(self.resume);
        if self.consumed > skip_through {
            tracing::debug!(path = %self.path.display(), read = %skip_through,
                "replay goes back: reopening the export");
            self.rewind()?;
        }
        let before = out.len();
        let mut last_at = read_scn;
        while let Some((at, row)) = self.next_row()? {
            let full = out.len() > before && out.len() - before >= max_rows && at > last_at;
            if at > end_scn || full {
                self.peeked = Some((at, row));
                if full {
                    return Ok(last_at);
                }
                break;
            }
            self.consumed = self.consumed.max(at);
            if at > skip_through {
                out.push(row);
                last_at = at;
            }
        }
        Ok(end_scn)
    }

    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        Ok(self.catalog.get(owner, table).map(|s| (**s).clone()))
    }

    /// Reading a window in pieces costs nothing extra: the source stays positioned.
    fn fetch_is_cheap(&self) -> bool {
        true
    }

    fn is_finished(&self) -> bool {
        self.eof && self.peeked.is_none()
    }
}

/// Loads an ALL_TAB_COLUMNS export.
fn load_catalog(path: &Path) -> Result<SchemaCatalog, SourceError> {
    let mut reader = open_reader(path)?;
    let mut record = Record::default();
    let (names, crlf) = read_header(path, &mut reader, &mut record)?;
    let [owner, table, name, data_type, column_id] = positions(
        path,
        &names,
        [
            "OWNER",
            "TABLE_NAME",
            "COLUMN_NAME",
            "DATA_TYPE",
            "COLUMN_ID",
        ],
    )?;
    let mut tables: HashMap<TableId, Vec<Column>> = HashMap::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        if is_blank(&record) {
            continue;
        }
        let line = record.line();
        if record.len() != names.len() {
            return Err(malformed(
                path,
                line,
                format!(
                    "record has {} fields, the header has {}",
                    record.len(),
                    names.len()
                ),
            ));
        }
        let f = Fields {
            path,
            line,
            record: &record,
            crlf,
        };
        let id = TableId::new(
            f.text(Some(owner), "OWNER")?,
            f.text(Some(table), "TABLE_NAME")?,
        );
        let col = Column {
            name: f.text(Some(name), "COLUMN_NAME")?,
            data_type: f.text(Some(data_type), "DATA_TYPE")?,
            column_id: f.required_uint(column_id, "COLUMN_ID", u64::from(u32::MAX))? as u32,
        };
        if id.owner.is_empty() || id.name.is_empty() || col.name.is_empty() {
            return Err(malformed(
                path,
                line,
                "OWNER, TABLE_NAME and COLUMN_NAME must not be empty",
            ));
        }
        let cols = tables.entry(id.clone()).or_default();
        if let Some(dup) = cols
            .iter()
            .find(|c| c.column_id == col.column_id || c.name == col.name)
        {
            return Err(malformed(
                path,
                line,
                format!(
                    "{id}: column {} (COLUMN_ID {}) duplicates column {} (COLUMN_ID {})",
                    col.name, col.column_id, dup.name, dup.column_id
                ),
            ));
        }
        cols.push(col);
    }
    let mut catalog = SchemaCatalog::default();
    for (id, cols) in tables {
        catalog.insert(TableSchema::new(id, cols));
    }
    Ok(catalog)
}
