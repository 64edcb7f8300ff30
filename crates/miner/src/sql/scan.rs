//! The byte scanner under the SQL_REDO parser: whitespace, keywords, quoted names and string
//! literals. Every delimiter it looks for is ASCII, so slicing the `&str` at those positions is
//! always on a char boundary; slices still go through `get` so a bug is an error, not a panic.

use std::borrow::Cow;

use super::{ParseError, ParseErrorKind};

#[derive(Clone, Copy, Debug)]
pub(crate) struct Scanner<'a> {
    pub s: &'a str,
    pub b: &'a [u8],
    pub pos: usize,
}

/// Position of `needle` in `hay`. Names and most values are short: for the first bytes, eight
/// at a time in a `u64` (no setup cost) beats `memchr`, whose vector search takes over for long
/// text.
#[inline(always)]
pub fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    const SHORT: usize = 64;
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = ONES * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut i = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Bytes equal to `needle` become zero; the classic zero-byte test flags them, and the
        // lowest flag is always exact.
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
        if i >= SHORT {
            return memchr::memchr(needle, hay.get(i..)?).map(|j| i + j);
        }
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == needle)
        .map(|j| i + j)
}

/// `s[start..end]` when both ends are on char boundaries. The same as `str::get`, which the
/// compiler leaves out of line in the parser (a call per literal); this form inlines.
#[inline(always)]
pub(crate) fn sub(s: &str, start: usize, end: usize) -> Option<&str> {
    s.get(start..)?.get(..end.checked_sub(start)?)
}

/// The closing quote of a `'...'` literal whose text starts at `start` (`''` stands for one
/// `'` and does not close it), and whether the text has any `''`; `None` if it is not closed.
#[inline(always)]
pub fn literal_end(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start;
    let mut escaped = false;
    loop {
        let q = i + find(b'\'', b.get(i..)?)?;
        if b.get(q + 1) == Some(&b'\'') {
            escaped = true;
            i = q + 2;
        } else {
            return Some((q, escaped));
        }
    }
}

/// How many ASCII digits `hay` starts with, eight bytes at a time while eight remain.
#[inline(always)]
pub fn leading_digits(hay: &[u8]) -> usize {
    const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // As in `leading_hex`: per byte below 0x80, the top bit of the sum says "at least `lo`".
    let at_least = |v: u64, lo: u8| v + u64::from_ne_bytes([0x80 - lo; 8]);
    let mut n = 0;
    let mut words = hay.chunks_exact(8);
    for chunk in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let low = x & LOW7;
        // Bytes at or above 0x80 are never digits.
        let digit = at_least(low, b'0') & !at_least(low, b'9' + 1) & !x;
        let other = !digit & HIGHS;
        if other != 0 {
            return n + (other.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + words
        .remainder()
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// How many hex digits (either case) `hay` starts with, eight bytes at a time while eight
/// remain.
#[inline(always)]
pub fn leading_hex(hay: &[u8]) -> usize {
    const LOW7: u64 = u64::from_ne_bytes([0x7F; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const CASE: u64 = u64::from_ne_bytes([0x20; 8]);
    // Per byte of `v` (each below 0x80, so no sum carries into the next byte): the top bit of
    // the result says "at least `lo`".
    let at_least = |v: u64, lo: u8| v + u64::from_ne_bytes([0x80 - lo; 8]);
    let mut n = 0;
    let mut words = hay.chunks_exact(8);
    for chunk in words.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let low = x & LOW7;
        let digit = at_least(low, b'0') & !at_least(low, b'9' + 1);
        // Setting bit 5 turns `A`-`F` into `a`-`f` (and leaves digits as they are).
        let lower = (x | CASE) & LOW7;
        let letter = at_least(lower, b'a') & !at_least(lower, b'f' + 1);
        // Bytes at or above 0x80 are never hex digits.
        let not_hex = !((digit | letter) & !x) & HIGHS;
        if not_hex != 0 {
            return n + (not_hex.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + words
        .remainder()
        .iter()
        .take_while(|c| c.is_ascii_hexdigit())
        .count()
}

/// Bytes that may continue a keyword or function name.
#[inline]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'#'
}

impl<'a> Scanner<'a> {
    #[inline]
    pub fn new(s: &'a str) -> Self {
        Scanner {
            s,
            b: s.as_bytes(),
            pos: 0,
        }
    }

    #[inline]
    pub fn err_at(kind: ParseErrorKind, pos: usize) -> ParseError {
        ParseError { kind, pos }
    }

    /// `Expected(what)` here, or `UnexpectedEnd` when the input is used up.
    #[inline]
    pub fn expected(&self, what: &'static str) -> ParseError {
        let kind = if self.pos >= self.b.len() {
            ParseErrorKind::UnexpectedEnd
        } else {
            ParseErrorKind::Expected(what)
        };
        Self::err_at(kind, self.pos)
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    #[inline(always)]
    pub fn skip_ws(&mut self) {
        // Called between every two tokens and mostly with nothing to skip: one compare decides
        // (every blank is at most b' ').
        if self.b.get(self.pos).is_none_or(|&c| c > b' ') {
            return;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Skips blanks, then consumes `kw` (ASCII, any case) if it is there as a whole word.
    #[inline]
    pub fn try_keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let end = self.pos + kw.len();
        let matches = self
            .b
            .get(self.pos..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
            && !self.b.get(end).is_some_and(|&c| is_word(c));
        if matches {
            self.pos = end;
        }
        matches
    }

    #[inline]
    pub fn keyword(&mut self, kw: &'static str) -> Result<(), ParseError> {
        if self.try_keyword(kw) {
            Ok(())
        } else {
            Err(self.expected(kw))
        }
    }

    /// Skips blanks, then consumes `c` if it is next.
    #[inline(always)]
    pub fn try_byte(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    pub fn byte(&mut self, c: u8, what: &'static str) -> Result<(), ParseError> {
        if self.try_byte(c) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// Consumes `||` (after blanks) if it is next; otherwise leaves the blanks for the caller's
    /// own fast path (` and "`, `, "`).
    #[inline]
    pub fn try_concat(&mut self) -> bool {
        // After nearly every value comes `,`, `)` or ` and`: one or two compares say no.
        match self.b.get(self.pos) {
            Some(b'|') => {}
            Some(b' ')
                if self
                    .b
                    .get(self.pos + 1)
                    .is_some_and(|&c| c > b' ' && c != b'|') =>
            {
                return false
            }
            Some(&c) if c > b' ' => return false,
            _ => {}
        }
        let mut p = self.pos;
        while let Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) = self.b.get(p) {
            p += 1;
        }
        if self.b.get(p..p + 2) == Some(b"||") {
            self.pos = p + 2;
            true
        } else {
            false
        }
    }

    /// Consumes `bytes` if the input continues with exactly them (no blanks skipped, case
    /// sensitive): the fast path for the separators LogMiner always prints the same way. The
    /// caller falls back to the general rules when this says no.
    #[inline(always)]
    pub fn try_exact(&mut self, bytes: &[u8]) -> bool {
        let end = self.pos + bytes.len();
        if self.b.get(self.pos..end) == Some(bytes) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    /// True if the input continues with exactly `bytes` (nothing consumed).
    #[inline(always)]
    pub fn at_exact(&self, bytes: &[u8]) -> bool {
        self.b.get(self.pos..self.pos + bytes.len()) == Some(bytes)
    }

    /// A `"quoted"` name without its quotes. Oracle names cannot contain `"`, so the next quote
    /// ends it.
    #[inline(always)]
    pub fn ident(&mut self) -> Result<&'a str, ParseError> {
        self.skip_ws();
        if self.peek() != Some(b'"') {
            return Err(self.expected("quoted name"));
        }
        let open = self.pos;
        let start = open + 1;
        let len = find(b'"', self.b.get(start..).unwrap_or_default())
            .ok_or(Self::err_at(ParseErrorKind::UnterminatedIdentifier, open))?;
        let name = self
            .s
            .get(start..start + len)
            .ok_or(Self::err_at(ParseErrorKind::UnterminatedIdentifier, open))?;
        self.pos = start + len + 1;
        Ok(name)
    }

    /// A run of keyword bytes (a function name or `NULL`).
    #[inline]
    pub fn word(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_word) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or_default()
    }

    /// A `'...'` literal at the current position: the raw text between the quotes (with `''`
    /// still doubled), whether it contains `''`, and the byte offset where the text starts.
    #[inline(always)]
    pub fn string_raw(&mut self) -> Result<(&'a str, bool, usize), ParseError> {
        let open = self.pos;
        if self.peek() != Some(b'\'') {
            return Err(self.expected("string literal"));
        }
        let start = open + 1;
        let unterminated = Self::err_at(ParseErrorKind::UnterminatedString, open);
        let (q, escaped) = literal_end(self.b, start).ok_or(unterminated)?;
        let raw = sub(self.s, start, q).ok_or(unterminated)?;
        self.pos = q + 1;
        Ok((raw, escaped, start))
    }

    /// A `'...'` literal with `''` turned into `'`; borrowed unless it had to be unescaped.
    #[inline(always)]
    pub fn string(&mut self) -> Result<Cow<'a, str>, ParseError> {
        let (raw, escaped, _) = self.string_raw()?;
        Ok(if escaped {
            Cow::Owned(raw.replace("''", "'"))
        } else {
            Cow::Borrowed(raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn sub_agrees_with_str_get() {
        let s = "a'é日😀 x''";
        for start in 0..=s.len() + 2 {
            for end in 0..=s.len() + 2 {
                assert_eq!(
                    super::sub(s, start, end),
                    s.get(start..end),
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn leading_hex_agrees_with_a_byte_scan() {
        for len in 0..20 {
            for at in 0..=len {
                for b in 0..=255u8 {
                    for fill in [b'7', b'a', b'F'] {
                        let mut s = vec![fill; len];
                        if at < len {
                            s[at] = b;
                        }
                        let naive = s.iter().take_while(|c| c.is_ascii_hexdigit()).count();
                        assert_eq!(super::leading_hex(&s), naive, "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn leading_digits_agrees_with_a_byte_scan() {
        for len in 0..20 {
            for at in 0..=len {
                for b in 0..=255u8 {
                    let mut s = vec![b'7'; len];
                    if at < len {
                        s[at] = b;
                    }
                    let naive = s.iter().take_while(|c| c.is_ascii_digit()).count();
                    assert_eq!(super::leading_digits(&s), naive, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn literal_ends_skip_doubled_quotes() {
        let end = |s: &str, at: usize| super::literal_end(s.as_bytes(), at);
        assert_eq!(end("'abc', x", 1), Some((4, false)));
        assert_eq!(end("'it''s'", 1), Some((6, true)));
        assert_eq!(end("''''", 1), Some((3, true)));
        assert_eq!(end("'', 'x'", 1), Some((1, false)));
        assert_eq!(end("'open", 1), None);
        assert_eq!(end("'open''", 1), None);
        assert_eq!(end("'", 5), None);
    }

    #[test]
    fn find_agrees_with_position() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for needle in [0u8, 1, 7, 0x22, 0x27, 0x80, 0xff, 200] {
            for start in 0..hay.len() {
                for end in start..hay.len().min(start + 90) {
                    let h = &hay[start..end];
                    assert_eq!(find(needle, h), h.iter().position(|&c| c == needle));
                }
            }
        }
    }
}
