//! SQL_REDO text assembled from short pieces without a `memcpy` call per piece.
//!
//! A statement's text is a few dozen pieces of 1 to 60 bytes (a column's ` and "NAME" = `, a
//! pre-printed value). `String::push_str` copies each through a libc `memcpy` call, which costs
//! more than the copy. Here the pieces come from [`Padded`] texts, readable [`WIDE`] bytes past
//! any piece's start, and [`SqlText`] keeps [`WIDE`] spare bytes after its end, so a piece up to
//! [`WIDE`] bytes long is one fixed-size copy (a few vector moves) and a length update; the bytes
//! copied past the piece's end are overwritten by the next piece. The finished text is validated
//! as UTF-8 once (cheap on ASCII), which also checks every piece ended on a character boundary.

/// The fixed copy width: pieces up to this long take one fixed-size copy.
pub(crate) const WIDE: usize = 64;

/// A piece of a [`Padded`] text: its byte range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    pub fn len(self) -> usize {
        self.len as usize
    }
}

/// Pieces of text back to back, followed by [`WIDE`] bytes of padding once [`Padded::seal`]ed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Padded {
    text: String,
    sealed: bool,
}

impl Padded {
    /// Adds a piece printed by `print`.
    pub fn add_with(&mut self, print: impl FnOnce(&mut String)) -> Span {
        assert!(!self.sealed, "a sealed text takes no more pieces");
        let start = self.text.len();
        print(&mut self.text);
        let len = self.text.len() - start;
        Span {
            start: u32::try_from(start).expect("padded text under 4 GiB"),
            len: len as u32,
        }
    }

    pub fn add(&mut self, piece: &str) -> Span {
        self.add_with(|t| t.push_str(piece))
    }

    /// Appends the padding: no piece can be added after this.
    pub fn seal(&mut self) {
        if !self.sealed {
            self.text.push_str(&" ".repeat(WIDE));
            self.sealed = true;
        }
    }

    /// The text of a piece.
    pub fn get(&self, span: Span) -> &str {
        let start = span.start as usize;
        &self.text[start..start + span.len()]
    }
}

/// A text under construction: bytes with [`WIDE`] spare ones after the end. See the module
/// documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct SqlText {
    /// Initialised bytes; `bytes[..len]` is the text, the rest is room.
    bytes: Vec<u8>,
    /// A `u32`, so `len + WIDE` never overflows and a write needs one bounds check.
    len: u32,
}

impl SqlText {
    pub fn with_capacity(n: usize) -> SqlText {
        SqlText {
            bytes: vec![0; n + WIDE],
            len: 0,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 pieces are ever appended.
        std::str::from_utf8(&self.bytes[..self.len as usize])
            .expect("SQL text of whole UTF-8 pieces")
    }

    /// Makes room for `n` more bytes plus the spare [`WIDE`].
    #[cold]
    #[inline(never)]
    fn grow(&mut self, n: usize) {
        let want = (self.len as usize + n + WIDE)
            .max(self.bytes.len() * 2)
            .max(256);
        assert!(want <= u32::MAX as usize, "SQL text over 4 GiB");
        self.bytes.resize(want, 0);
    }

    /// Writes `chunk` at the end and advances by `len <= WIDE` bytes.
    #[inline(always)]
    fn put(&mut self, chunk: &[u8; WIDE], len: usize) {
        let at = self.len as usize;
        match self.bytes.get_mut(at..at + WIDE) {
            Some(room) => room.copy_from_slice(chunk),
            None => {
                self.grow(WIDE);
                self.bytes[at..at + WIDE].copy_from_slice(chunk);
            }
        }
        self.len += len as u32;
    }

    /// Appends a piece of a sealed [`Padded`] text.
    #[inline(always)]
    pub fn push(&mut self, text: &Padded, span: Span) {
        let start = span.start as usize;
        match text.text.as_bytes().get(start..start + WIDE) {
            Some(chunk) if span.len <= WIDE as u32 => {
                self.put(chunk.try_into().expect("WIDE bytes"), span.len as usize)
            }
            _ => self.push_str(text.get(span)),
        }
    }

    /// Appends a byte array of fixed size (ASCII, or whole UTF-8 characters).
    #[inline(always)]
    pub fn push_array<const N: usize>(&mut self, b: &[u8; N]) {
        let at = self.len as usize;
        match self.bytes.get_mut(at..at + N) {
            Some(room) => room.copy_from_slice(b),
            None => {
                self.grow(N);
                self.bytes[at..at + N].copy_from_slice(b);
            }
        }
        self.len += N as u32;
    }

    /// Appends one ASCII byte.
    #[inline(always)]
    pub fn push_byte(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        self.push_array(&[b]);
    }

    /// Appends any text (a `memcpy`).
    pub fn push_str(&mut self, s: &str) {
        let b = s.as_bytes();
        let at = self.len as usize;
        if self.bytes.len() < at + b.len() + WIDE {
            self.grow(b.len());
        }
        self.bytes[at..at + b.len()].copy_from_slice(b);
        self.len += b.len() as u32;
    }

    /// Appends the decimal digits of `n`, between single quotes with `quoted`.
    #[inline]
    pub fn push_u64(&mut self, mut n: u64, quoted: bool) {
        // Digits written backwards from the end of a fixed window, then the window appended.
        let mut w = [0u8; WIDE];
        let q = usize::from(quoted);
        let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
        let mut i = q + digits;
        w[0] = b'\'';
        w[i] = b'\'';
        while n >= 100 {
            i -= 2;
            w[i..i + 2].copy_from_slice(&crate::decimal::pair((n % 100) as u32));
            n /= 100;
        }
        if n >= 10 {
            w[q..q + 2].copy_from_slice(&crate::decimal::pair(n as u32));
        } else {
            w[q] = b'0' + n as u8;
        }
        self.put(&w, digits + 2 * q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_every_length_append_exactly() {
        let mut p = Padded::default();
        let pieces: Vec<String> = (0..200)
            .map(|n| (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect())
            .chain(["é".to_string(), "日本語😀".to_string()])
            .collect();
        let spans: Vec<Span> = pieces.iter().map(|s| p.add(s)).collect();
        p.seal();
        let mut t = SqlText::default();
        let mut expected = String::new();
        for (s, &span) in pieces.iter().zip(&spans) {
            t.push(&p, span);
            expected.push_str(s);
            t.push_array(b"[]");
            expected.push_str("[]");
            t.push_byte(b',');
            expected.push(',');
            t.push_u64(s.len() as u64, s.len() % 2 == 0);
            if s.len() % 2 == 0 {
                expected.push_str(&format!("'{}'", s.len()));
            } else {
                expected.push_str(&s.len().to_string());
            }
            assert_eq!(t.as_str(), expected);
        }
        t.push_u64(u64::MAX, true);
        expected.push_str(&format!("'{}'", u64::MAX));
        assert_eq!(t.as_str(), expected);
        t.clear();
        assert_eq!(t.as_str(), "");
    }
}
