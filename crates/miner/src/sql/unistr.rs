//! `UNISTR('...')` decoding: `\XXXX` is one UTF-16 code unit in hex (a surrogate pair gives one
//! character), `\+XXXXXX` a code point, `\\` a backslash, `''` a quote; everything else is
//! literal. LogMiner uses it for characters the database character set cannot print.

/// Decodes the raw text between the quotes (still with `''` doubled). On error returns the byte
/// offset inside `raw` where the bad escape starts.
pub(crate) fn decode(raw: &str, out: &mut String) -> Result<(), usize> {
    decode_with(raw, |piece| out.push_str(piece))
}

/// [`decode`], handing the decoded text to `push` piece by piece (runs of literal text, single
/// characters).
pub(crate) fn decode_with(raw: &str, mut push: impl FnMut(&str)) -> Result<(), usize> {
    let b = raw.as_bytes();
    let mut i = 0;
    // Start of the pending run of literal text; copied in one piece at the next escape.
    let mut run = 0;
    let mut char_buf = [0u8; 4];
    let mut push_char = |c: char, push: &mut dyn FnMut(&str)| push(c.encode_utf8(&mut char_buf));
    while let Some(off) = memchr::memchr2(b'\\', b'\'', b.get(i..).unwrap_or_default()) {
        let at = i + off;
        push(raw.get(run..at).ok_or(at)?);
        if b[at] == b'\'' {
            // The scanner only hands us `''` pairs.
            push("'");
            i = at + 2;
        } else if b.get(at + 1) == Some(&b'\\') {
            push("\\");
            i = at + 2;
        } else if b.get(at + 1) == Some(&b'+') {
            let cp = hex(b, at + 2, 6).ok_or(at)?;
            push_char(char::from_u32(cp).ok_or(at)?, &mut push);
            i = at + 8;
        } else {
            let unit = hex(b, at + 1, 4).ok_or(at)?;
            i = at + 5;
            let c = match unit {
                0xD800..=0xDBFF => {
                    // A high surrogate must be followed by `\` and a low surrogate.
                    if b.get(i) != Some(&b'\\') {
                        return Err(at);
                    }
                    let low = hex(b, i + 1, 4).ok_or(at)?;
                    if !(0xDC00..=0xDFFF).contains(&low) {
                        return Err(at);
                    }
                    i += 5;
                    0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                }
                0xDC00..=0xDFFF => return Err(at),
                u => u,
            };
            push_char(char::from_u32(c).ok_or(at)?, &mut push);
        }
        run = i;
    }
    push(raw.get(run..).ok_or(run)?);
    Ok(())
}

fn hex(b: &[u8], from: usize, n: usize) -> Option<u32> {
    let digits = b.get(from..from + n)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::decode;

    fn d(s: &str) -> Result<String, usize> {
        let mut out = String::new();
        decode(s, &mut out).map(|()| out)
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(d(r"\0041\00e9x\\").unwrap(), "Aéx\\");
        assert_eq!(d(r"ab\00E9cd").unwrap(), "abécd");
        assert_eq!(d(r"\D83D\DE00!").unwrap(), "😀!");
        assert_eq!(d(r"\+01F600").unwrap(), "😀");
        assert_eq!(d("it''s é").unwrap(), "it's é");
        assert_eq!(d("").unwrap(), "");
    }

    #[test]
    fn rejects_bad_escapes() {
        assert_eq!(d(r"ab\00G1"), Err(2));
        assert_eq!(d(r"\00"), Err(0));
        assert_eq!(d(r"x\D83D"), Err(1));
        assert_eq!(d(r"\D83D\0041"), Err(0));
        assert_eq!(d(r"\DE00"), Err(0));
        assert_eq!(d(r"\+110000"), Err(0));
        assert_eq!(d(r"\"), Err(0));
    }
}
