//! A streaming reader for the CSV that SQLcl spools (`SET SQLFORMAT CSV`): fields separated by
//! `,`, records ended by `\n` (a `\r` before it stays in the last field, for the caller to
//! strip), fields quoted with `"` when needed and `""` inside quotes. Quoted fields may span
//! lines (multi-line SQL_REDO).
//!
//! Why not the `csv` crate: its byte-at-a-time state machine was the largest single cost of a
//! replay (18% of a one-core run). This reader jumps between delimiters with `memchr`, which is
//! what the throughput goal of `redoflow replay` needs; the `csv` crate remains the reference it
//! is tested against.

use std::io::{self, Read};

use memchr::{memchr, memchr2};

/// One record: the field bytes (unquoted, `""` unescaped) and where it started.
#[derive(Debug, Default, Clone)]
pub(crate) struct Record {
    data: Vec<u8>,
    ends: Vec<usize>,
    line: u64,
}

impl Record {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.data.get(start..end)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// 1-based line of the file where the record starts.
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum CsvError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("a quoted field starting on line {line} is never closed")]
    UnterminatedQuote { line: u64 },
}

/// What parsing the bytes at hand gave.
enum Parsed {
    /// A whole record, ending at this offset of the buffer (after its `\n`, or at EOF).
    Record { end: usize, lines: u64 },
    /// The record continues past the bytes read so far.
    NeedMore,
}

#[derive(Debug)]
pub(crate) struct CsvReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    /// Line number of `buf[start]`.
    line: u64,
    /// A UTF-8 byte order mark at the very start has been skipped (if there was one): it
    /// must not hide the quote of a quoted first header name.
    bom_checked: bool,
}

const INITIAL_BUFFER: usize = 1 << 20;

impl<R: Read> CsvReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        CsvReader {
            inner,
            buf: vec![0; INITIAL_BUFFER],
            start: 0,
            end: 0,
            eof: false,
            line: 1,
            bom_checked: false,
        }
    }

    /// Reads the next record into `rec`; false at the end of the input.
    pub(crate) fn read_record(&mut self, rec: &mut Record) -> Result<bool, CsvError> {
        loop {
            if self.start == self.end && self.eof {
                return Ok(false);
            }
            rec.clear();
            rec.line = self.line;
            if !self.bom_checked {
                if self.end - self.start < 3 && !self.eof {
                    self.fill()?;
                    continue;
                }
                if self.buf[self.start..self.end].starts_with(b"\xEF\xBB\xBF") {
                    self.start += 3;
                }
                self.bom_checked = true;
                continue;
            }
            match parse(&self.buf[self.start..self.end], self.eof, rec) {
                Parsed::Record { end, lines } => {
                    self.start += end;
                    self.line += lines;
                    return Ok(true);
                }
                // At the end of the input only an open quote can still want more.
                Parsed::NeedMore if self.eof => {
                    return Err(CsvError::UnterminatedQuote { line: self.line })
                }
                Parsed::NeedMore => self.fill()?,
            }
        }
    }

    /// Moves the unconsumed bytes to the front (growing the buffer when one record fills it)
    /// and reads more.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = self.buf.len() * 2;
            self.buf.resize(len, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Parses one record from the start of `bytes` into `rec`.
fn parse(bytes: &[u8], eof: bool, rec: &mut Record) -> Parsed {
    let mut pos = 0;
    // Quoted fields may hold newlines: the record's lines are counted once it is complete,
    // in one pass (counting per quoted piece was 7% of a replay).
    let mut quoted = false;
    if bytes.is_empty() {
        return Parsed::NeedMore;
    }
    loop {
        // One field starting at `pos`.
        if bytes.get(pos) == Some(&b'"') {
            pos += 1;
            quoted = true;
            loop {
                let Some(q) = memchr(b'"', &bytes[pos..]) else {
                    return Parsed::NeedMore;
                };
                rec.data.extend_from_slice(&bytes[pos..pos + q]);
                pos += q + 1;
                match bytes.get(pos) {
                    Some(b'"') => {
                        rec.data.push(b'"');
                        pos += 1;
                    }
                    None if !eof => return Parsed::NeedMore,
                    _ => break,
                }
            }
        }
        // Up to the delimiter: the whole of an unquoted field; after a closing quote, whatever
        // stands before the delimiter is kept, as the csv crate does (`"ab"c,` reads `abc`).
        match memchr2(b',', b'\n', &bytes[pos..]) {
            Some(d) => {
                rec.data.extend_from_slice(&bytes[pos..pos + d]);
                pos += d;
            }
            None if eof => {
                rec.data.extend_from_slice(&bytes[pos..]);
                pos = bytes.len();
            }
            None => return Parsed::NeedMore,
        }
        rec.ends.push(rec.data.len());
        let end = match bytes.get(pos) {
            Some(b',') => {
                pos += 1;
                continue;
            }
            // `\n`: the record ends after it.
            Some(_) => pos + 1,
            None => pos,
        };
        let lines = if quoted {
            memchr::memchr_iter(b'\n', &bytes[..end]).count() as u64
        } else {
            u64::from(end > pos)
        };
        return Parsed::Record { end, lines };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Records as (starting line, fields).
    type Records = Vec<(u64, Vec<Vec<u8>>)>;

    fn read_all(input: &[u8], chunk: usize) -> Result<Records, CsvError> {
        // A reader that hands out at most `chunk` bytes per read, to cross buffer boundaries.
        struct Chunked<'a>(&'a [u8], usize);
        impl Read for Chunked<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = CsvReader::new(Chunked(input, chunk));
        r.buf = vec![0; 16]; // tiny buffer: records cross it and make it grow
        let mut rec = Record::default();
        let mut out = vec![];
        while r.read_record(&mut rec)? {
            out.push((rec.line(), rec.iter().map(<[u8]>::to_vec).collect()));
        }
        Ok(out)
    }

    #[test]
    fn quoted_fields_lines_and_escapes() {
        let input = b"A,B\n1,\"x, \"\"y\"\"\nz\"\n\n2,plain\n3,\"last\"";
        let got = read_all(input, 3).unwrap();
        let want: Records = vec![
            (1, vec![b"A".to_vec(), b"B".to_vec()]),
            (2, vec![b"1".to_vec(), b"x, \"y\"\nz".to_vec()]),
            (4, vec![b"".to_vec()]),
            (5, vec![b"2".to_vec(), b"plain".to_vec()]),
            (6, vec![b"3".to_vec(), b"last".to_vec()]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_byte_order_mark_does_not_hide_a_quoted_header() {
        let got = read_all(b"\xEF\xBB\xBF\"SCN\",\"XID\"\n1,2\n", 1).unwrap();
        assert_eq!(got[0].1, vec![b"SCN".to_vec(), b"XID".to_vec()]);
        assert_eq!(got[1].0, 2);
    }

    #[test]
    fn unterminated_quote_names_its_line() {
        let err = read_all(b"A\n1\n\"open\nmore\n", 4).unwrap_err();
        assert!(
            matches!(err, CsvError::UnterminatedQuote { line: 3 }),
            "{err}"
        );
    }

    proptest! {
        /// Whatever the csv crate writes, this reader reads back identically, with the right
        /// starting line, whatever the read sizes.
        #[test]
        fn reads_what_the_csv_crate_writes(
            rows in proptest::collection::vec(
                proptest::collection::vec("[a-z,\"\n' ]{0,12}", 1..5), 1..20),
            chunk in 1usize..64,
        ) {
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(vec![]);
            let mut want_lines = vec![];
            let mut line = 1u64;
            for r in &rows {
                w.write_record(r).unwrap();
                want_lines.push(line);
                // A record with only an empty field is written as `""`, not a blank line.
                line += 1 + r.iter().map(|f| f.matches('\n').count() as u64).sum::<u64>();
            }
            let bytes = w.into_inner().unwrap();
            let got = read_all(&bytes, chunk).unwrap();
            prop_assert_eq!(got.len(), rows.len());
            for ((l, fields), (want_line, r)) in got.iter().zip(want_lines.iter().zip(&rows)) {
                prop_assert_eq!(l, want_line);
                let want: Vec<Vec<u8>> = r.iter().map(|f| f.as_bytes().to_vec()).collect();
                prop_assert_eq!(fields, &want);
            }
        }
    }
}
