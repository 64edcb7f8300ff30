//! SQL_REDO text assembled from short pieces without a `memcpy` call per piece.
//!
//! A statement's text is a few dozen pieces of 1 to 60 bytes (a column's ` and "NAME" = `, a
//! pre-printed value). `String::push_str` copies each through a libc `memcpy` call, which costs
//! more than the copy. Here the pieces are [`Piece`]s (inline, padded to [`PIECE`] bytes) or
//! spans of [`Padded`] texts (readable [`WIDE`] bytes past any piece's start), and a [`Writer`]
//! writes into an [`SqlText`] reserved for the table's longest statement plus spare room, so a
//! piece is one fixed-size copy (a few vector moves) and a length update; the bytes copied past
//! the piece's end are overwritten by the next piece. The finished text is validated as UTF-8
//! once (cheap on ASCII), which also checks that every piece ended on a character boundary.

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

/// Bytes of a [`Piece`] kept inline.
pub(crate) const PIECE: usize = 32;

/// A short fixed text (a column's ` and "NAME" = `) kept inline, so appending it reads no
/// other memory and needs no bounds check on the source.
#[derive(Clone, Debug)]
pub(crate) struct Piece {
    /// The text when it fits, padded with blanks.
    head: [u8; PIECE],
    len: u32,
    /// The text when it does not fit in `head`.
    long: Option<Box<str>>,
}

impl Piece {
    pub fn new(text: &str) -> Piece {
        let mut head = [b' '; PIECE];
        let long = match head.get_mut(..text.len()) {
            Some(h) => {
                h.copy_from_slice(text.as_bytes());
                None
            }
            None => Some(text.into()),
        };
        Piece {
            head,
            len: u32::try_from(text.len()).expect("piece under 4 GiB"),
            long,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn as_str(&self) -> &str {
        match &self.long {
            Some(long) => long,
            None => std::str::from_utf8(&self.head[..self.len as usize]).unwrap_or_default(),
        }
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

    /// The padded text's bytes, for [`Writer::push`].
    pub fn bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// The text of a piece.
    pub fn get(&self, span: Span) -> &str {
        let start = span.start as usize;
        &self.text[start..start + span.len()]
    }
}

/// A text under construction: bytes with spare room after the end, written through a
/// [`Writer`]. See the module documentation.
#[derive(Clone, Debug, Default)]
pub(crate) struct SqlText {
    /// Initialised bytes; `bytes[..len]` is the text, the rest is room.
    bytes: Vec<u8>,
    len: usize,
}

impl SqlText {
    /// Empties the text and returns a writer with room for `n` bytes (every piece pushed up to
    /// then counted at its full length; a push beyond that panics).
    #[inline]
    pub fn writer(&mut self, n: usize) -> Writer<'_> {
        self.len = 0;
        // Room for a [`Writer::push_pair`] at the end too.
        let want = n + 2 * WIDE;
        if self.bytes.len() < want {
            self.bytes.resize(want, 0);
        }
        assert!(self.bytes.len() <= u32::MAX as usize, "SQL text over 4 GiB");
        Writer {
            bytes: &mut self.bytes[..],
            pos: 0,
        }
    }

    /// Ends the text where `w` (this text's writer) stopped.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.bytes.len());
        // Blanks up to the next multiple of 16 bytes (there is room: a writer keeps `WIDE`
        // spare bytes): the UTF-8 check then reads whole 16-byte blocks, no byte-wise tail.
        let at = self.len;
        if let Some(tail) = self.bytes.get_mut(at..at + 16) {
            tail.copy_from_slice(&[b' '; 16]);
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 pieces are ever appended.
        let blocks = self.len.next_multiple_of(16).min(self.bytes.len());
        let padded = simdutf8::basic::from_utf8(&self.bytes[..blocks])
            .expect("SQL text of whole UTF-8 pieces");
        &padded[..self.len]
    }
}

/// Appends to an [`SqlText`]: the bytes and the position kept in registers, every piece one
/// bounds-checked fixed-size copy.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    bytes: &'a mut [u8],
    /// A `u32` (texts are under 4 GiB), so `pos + WIDE` cannot overflow.
    pos: u32,
}

impl<'a> Writer<'a> {
    pub fn len(&self) -> usize {
        self.pos as usize
    }

    /// Moves the writer out (leaving an empty one) to a local of the caller, which the compiler
    /// keeps in registers: through a `&mut Writer` the position and the slice would be
    /// reloaded and stored around every byte write. Put it back with `*w = local`.
    #[inline(always)]
    pub fn take(&mut self) -> Writer<'a> {
        Writer {
            bytes: std::mem::take(&mut self.bytes),
            pos: self.pos,
        }
    }

    /// Writes `chunk` at the end and advances by `len <= WIDE` bytes.
    #[inline(always)]
    fn put(&mut self, chunk: &[u8; WIDE], len: usize) {
        let at = self.pos as usize;
        self.bytes[at..at + WIDE].copy_from_slice(chunk);
        self.pos += len as u32;
    }

    /// Appends a piece of a sealed [`Padded`] text: `arena` is [`Padded::bytes`].
    #[inline(always)]
    pub fn push(&mut self, arena: &[u8], span: Span) {
        let start = span.start as usize;
        match arena.get(start..start + WIDE) {
            Some(chunk) if span.len <= WIDE as u32 => {
                self.put(chunk.try_into().expect("WIDE bytes"), span.len as usize)
            }
            _ => {
                let start = span.start as usize;
                self.push_bytes(&arena[start..start + span.len as usize]);
            }
        }
    }

    /// Appends a [`Piece`].
    #[inline(always)]
    pub fn push_piece(&mut self, p: &Piece) {
        if p.long.is_none() {
            let at = self.pos as usize;
            self.bytes[at..at + PIECE].copy_from_slice(&p.head);
            self.pos += p.len;
        } else {
            self.push_bytes(p.as_str().as_bytes());
        }
    }

    /// Appends a byte array of fixed size (ASCII, or whole UTF-8 characters).
    #[inline(always)]
    pub fn push_array<const N: usize>(&mut self, b: &[u8; N]) {
        let at = self.pos as usize;
        self.bytes[at..at + N].copy_from_slice(b);
        self.pos += N as u32;
    }

    /// Appends one ASCII byte.
    #[inline(always)]
    pub fn push_byte(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        self.push_array(&[b]);
    }

    /// Appends any bytes (a `memcpy`, out of line: passing the slice and the position, not
    /// the writer, keeps a local writer in registers).
    #[inline(always)]
    fn push_bytes(&mut self, b: &[u8]) {
        self.pos = copy_at(self.bytes, self.pos, b);
    }

    /// Appends the decimal digits of `n`, between single quotes with `quoted`.
    #[inline(always)]
    pub fn push_u64(&mut self, n: u64, quoted: bool) {
        let at = self.pos as usize;
        let w: &mut [u8; 24] = (&mut self.bytes[at..at + 24]).try_into().expect("24 bytes");
        let q = usize::from(quoted);
        let digits = n.checked_ilog10().unwrap_or(0) as usize + 1;
        // Digits backwards from the end; the closing quote is overwritten next when unquoted.
        let end = q + digits;
        w[0] = b'\'';
        w[end] = b'\'';
        crate::decimal::digits_ending_at(n, w, end);
        self.pos += (digits + 2 * q) as u32;
    }
}

/// Copies `b` to `bytes[at..]`, returns the position after it.
#[cold]
#[inline(never)]
fn copy_at(bytes: &mut [u8], at: u32, b: &[u8]) -> u32 {
    let start = at as usize;
    bytes[start..start + b.len()].copy_from_slice(b);
    at + b.len() as u32
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
        let mut w = t.writer(100_000);
        for (s, &span) in pieces.iter().zip(&spans) {
            assert_eq!(p.get(span), s);
            w.push(p.bytes(), span);
            expected.push_str(s);
            w.push_array(b"[]");
            expected.push_str("[]");
            w.push_byte(b',');
            expected.push(',');
            let n = s.len() as u64 * 1_234_567;
            w.push_u64(n, n % 2 == 0);
            if n % 2 == 0 {
                expected.push_str(&format!("'{n}'"));
            } else {
                expected.push_str(&n.to_string());
            }
        }
        for text in [
            "",
            "a",
            " and \"NAME\" = ",
            &"x".repeat(PIECE),
            &"é".repeat(40),
        ] {
            let piece = Piece::new(text);
            assert_eq!(piece.as_str(), text);
            assert_eq!(piece.len(), text.len());
            w.push_piece(&piece);
            expected.push_str(text);
        }
        for n in [0, 9, 10, 99, 100, 12_345, u64::MAX] {
            w.push_u64(n, true);
            w.push_u64(n, false);
            expected.push_str(&format!("'{n}'{n}"));
        }
        let len = w.len();
        t.set_len(len);
        assert_eq!(t.as_str(), expected);
        let w = t.writer(10);
        assert_eq!(w.len(), 0);
        t.set_len(0);
        assert_eq!(t.as_str(), "");
    }
}
