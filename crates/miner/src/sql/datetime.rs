//! Oracle datetime format masks, interpreted just enough for `TO_DATE` / `TO_TIMESTAMP[_TZ]`.
//!
//! Oracle parses in "non-FX" mode unless the mask says `FX`: numeric fields take up to their
//! width in digits, extra blanks are ignored, and any punctuation in the mask matches any single
//! punctuation or blank in the value. We do the same (and ignore `FX`/`FM`).
//!
//! Two-digit years (`RR`, `YY`, `YYY`) need "the current year" in Oracle. The parser has no
//! clock, so it uses a fixed pivot instead: `RR` 00–49 is 20xx and 50–99 is 19xx (what Oracle
//! answers for any current year 2000–2049), `YY`/`YYY` are taken in the 2000s. A value that
//! omits the year is an error, a value that omits month or day gets 1 (Oracle would take the
//! current month).

use std::ops::Range;

use crate::value::OraDateTime;

/// The mask of the SQL_REDO our sessions are started with (SPEC.md §10).
pub(crate) const ISO_MASK: &str = "YYYY-MM-DD HH24:MI:SS";
/// Oracle's default `NLS_DATE_FORMAT`.
pub(crate) const DEFAULT_DATE: &str = "DD-MON-RR";
/// Oracle's default `NLS_TIMESTAMP_FORMAT`.
pub(crate) const DEFAULT_TIMESTAMP: &str = "DD-MON-RR HH.MI.SSXFF AM";
/// Oracle's default `NLS_TIMESTAMP_TZ_FORMAT`.
pub(crate) const DEFAULT_TIMESTAMP_TZ: &str = "DD-MON-RR HH.MI.SSXFF AM TZR";

/// A parsed datetime; `fraction` and `tz` are byte ranges of the value text, so the caller can
/// borrow them from the statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub at: OraDateTime,
    pub fraction: Range<usize>,
    pub tz: Option<Range<usize>>,
}

const MONTHS: [&str; 12] = [
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
];
const DAYS: [&str; 7] = [
    "MONDAY",
    "TUESDAY",
    "WEDNESDAY",
    "THURSDAY",
    "FRIDAY",
    "SATURDAY",
    "SUNDAY",
];

fn starts_with_ci(b: &[u8], at: usize, word: &str) -> bool {
    b.get(at..at + word.len())
        .is_some_and(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// Exactly `YYYY-MM-DD HH24:MI:SS` (19 bytes), read at fixed offsets: the fast path for the
/// dates our sessions print. `None` when the bytes have another shape or the date is not valid.
///
/// Eight bytes at a time: XOR with the layout (`'0'` at digits, the separators as they are)
/// leaves a digit's value at each digit and zero at each separator that is right, so one
/// compare per word checks the shape; pairs of digits then combine in place.
#[inline]
pub(crate) fn fixed(b: &[u8]) -> Option<OraDateTime> {
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let b: &[u8; 19] = b.try_into().ok()?;
    let word = |at: usize, layout: &[u8; 8]| -> Option<u64> {
        let w = u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?);
        let v = w ^ u64::from_le_bytes(*layout);
        // Per byte, the largest value allowed: 9 at a digit, 0 at a separator.
        let limit = u64::from_le_bytes(layout.map(|c| if c == b'0' { 9 } else { 0 }));
        // A byte over its limit, or with its top bit set, shows in its top bit (a carry out
        // of a byte only follows a byte that already has its top bit set).
        let over = (v | v.wrapping_add(0x7F7F_7F7F_7F7F_7F7F - limit)) & HIGHS;
        // Each byte pair (d, e) becomes 10·d + e in d's byte: digits are at most 9, so
        // nothing carries.
        (over == 0).then(|| v * 10 + (v >> 8))
    };
    let date = word(0, b"0000-00-")?;
    let day = word(8, b"00 00:00")?;
    let time = word(11, b"00:00:00")?;
    let byte = |w: u64, i: u32| (w >> (8 * i)) as u8;
    let year = i32::from(byte(date, 0)) * 100 + i32::from(byte(date, 2));
    OraDateTime::new(
        year,
        byte(date, 5),
        byte(day, 0),
        byte(time, 0),
        byte(time, 3),
        byte(time, 6),
    )
}

/// `YYYY-MM-DD[( |T)HH24:MI:SS[.fraction]]`, then (when `with_tz`) optional blanks and the zone.
/// `Ok(None)` when the value does not have this shape, `Err(offset)` when it has the shape but
/// is not a valid date. This is the fast path for what our sessions print.
pub(crate) fn iso(v: &str, with_tz: bool) -> Result<Option<Parsed>, usize> {
    let b = v.as_bytes();
    let num = |from: usize, n: usize| -> Option<u32> {
        let d = b.get(from..from + n)?;
        d.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (Some(y), Some(mo), Some(d)) = (num(0, 4), num(5, 2), num(8, 2)) else {
        return Ok(None);
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Ok(None);
    }
    let (mut h, mut mi, mut s) = (0, 0, 0);
    let mut i = 10;
    let mut fraction = 0..0;
    if matches!(b.get(10), Some(b' ' | b'T')) {
        let (Some(hh), Some(mm), Some(ss)) = (num(11, 2), num(14, 2), num(17, 2)) else {
            return Ok(None);
        };
        if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return Ok(None);
        }
        (h, mi, s) = (hh, mm, ss);
        i = 19;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let n = b
                .get(start..)
                .unwrap_or_default()
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            fraction = start..start + n;
            i = start + n;
        }
    }
    let rest = b.get(i..).unwrap_or_default();
    let tz = if rest.iter().all(|&c| c == b' ') {
        None
    } else if with_tz {
        let lead = rest.iter().take_while(|&&c| c == b' ').count();
        let trail = rest.iter().rev().take_while(|&&c| c == b' ').count();
        Some(i + lead..b.len() - trail)
    } else {
        return Ok(None);
    };
    let at =
        OraDateTime::new(y as i32, mo as u8, d as u8, h as u8, mi as u8, s as u8).ok_or(0usize)?;
    Ok(Some(Parsed { at, fraction, tz }))
}

/// Reads 1..=`max` digits at `*i`.
fn digits(b: &[u8], i: &mut usize, max: usize) -> Option<(u32, usize)> {
    let n = b
        .get(*i..)?
        .iter()
        .take(max)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n == 0 {
        return None;
    }
    let v = b[*i..*i + n]
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
    *i += n;
    Some((v, n))
}

fn skip_blanks(b: &[u8], i: &mut usize) {
    while b.get(*i) == Some(&b' ') {
        *i += 1;
    }
}

/// Interprets `v` with the Oracle format `mask`. On error returns the byte offset in `v` where
/// the value stopped matching (0 when the fields parse but do not form a valid date).
pub(crate) fn with_mask(v: &str, mask: &str) -> Result<Parsed, usize> {
    let b = v.as_bytes();
    let m = mask.as_bytes();
    let (mut i, mut k) = (0usize, 0usize);
    let mut year: Option<i32> = None;
    let (mut month, mut day) = (1u32, 1u32);
    let (mut h24, mut h12, mut pm) = (None::<u32>, None::<u32>, None::<bool>);
    let (mut minute, mut second) = (0u32, 0u32);
    let mut fraction = 0..0;
    let mut tz: Option<Range<usize>> = None;
    // Extends the zone range with the text just read from `start` to `i`.
    let mark_tz = |tz: &mut Option<Range<usize>>, start: usize, end: usize| {
        *tz = Some(tz.as_ref().map_or(start, |r| r.start)..end);
    };

    while k < m.len() {
        let c = m[k];
        if c == b'"' {
            // Quoted literal text in the mask must appear as is.
            let end = memchr::memchr(b'"', m.get(k + 1..).unwrap_or_default()).ok_or(i)?;
            let lit = m.get(k + 1..k + 1 + end).ok_or(i)?;
            let got = b.get(i..i + lit.len()).ok_or(i)?;
            if !got.eq_ignore_ascii_case(lit) {
                return Err(i);
            }
            i += lit.len();
            k += end + 2;
            continue;
        }
        if !c.is_ascii_alphanumeric() {
            // Any punctuation or blank matches one punctuation or blank (or nothing).
            if b.get(i)
                .is_some_and(|x| !x.is_ascii_alphanumeric() && *x < 0x80)
            {
                i += 1;
            }
            k += 1;
            continue;
        }
        // Oracle lets the value end early: the remaining fields keep their defaults.
        skip_blanks(b, &mut i);
        if i >= b.len() {
            break;
        }
        let el = |w: &str| starts_with_ci(m, k, w);
        if el("FX") || el("FM") {
            k += 2;
        } else if el("SYYYY") {
            let neg = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let (y, _) = digits(b, &mut i, 4).ok_or(i)?;
            year = Some(if neg { -(y as i32) } else { y as i32 });
            k += 5;
        } else if el("YYYY") || el("RRRR") {
            let rr = el("RRRR");
            let (y, n) = digits(b, &mut i, 4).ok_or(i)?;
            year = Some(if rr && n <= 2 { rr_year(y) } else { y as i32 });
            k += 4;
        } else if el("YYY") {
            let (y, _) = digits(b, &mut i, 3).ok_or(i)?;
            year = Some(2000 + y as i32);
            k += 3;
        } else if el("YY") {
            let (y, _) = digits(b, &mut i, 2).ok_or(i)?;
            year = Some(2000 + y as i32);
            k += 2;
        } else if el("RR") {
            // Non-FX RR also accepts a four-digit year, taken as is.
            let (y, n) = digits(b, &mut i, 4).ok_or(i)?;
            year = Some(if n <= 2 { rr_year(y) } else { y as i32 });
            k += 2;
        } else if el("MONTH") || el("MON") {
            k += if el("MONTH") { 5 } else { 3 };
            let (idx, len) = name(b, i, &MONTHS).ok_or(i)?;
            month = idx as u32 + 1;
            i += len;
        } else if el("MM") {
            month = digits(b, &mut i, 2).ok_or(i)?.0;
            k += 2;
        } else if el("MI") {
            minute = digits(b, &mut i, 2).ok_or(i)?.0;
            k += 2;
        } else if el("DAY") || el("DY") {
            k += if el("DAY") { 3 } else { 2 };
            // The weekday is redundant with the date; Oracle checks it, we only skip it.
            let (_, len) = name(b, i, &DAYS).ok_or(i)?;
            i += len;
        } else if el("DD") {
            day = digits(b, &mut i, 2).ok_or(i)?.0;
            k += 2;
        } else if el("HH24") {
            h24 = Some(digits(b, &mut i, 2).ok_or(i)?.0);
            k += 4;
        } else if el("HH12") || el("HH") {
            h12 = Some(digits(b, &mut i, 2).ok_or(i)?.0);
            k += if el("HH12") { 4 } else { 2 };
        } else if el("SSSSS") {
            let (s, _) = digits(b, &mut i, 5).ok_or(i)?;
            if s >= 86_400 {
                return Err(i);
            }
            h24 = Some(s / 3600);
            minute = s / 60 % 60;
            second = s % 60;
            k += 5;
        } else if el("SS") {
            second = digits(b, &mut i, 2).ok_or(i)?.0;
            k += 2;
        } else if el("A.M.") || el("P.M.") || el("AM") || el("PM") {
            k += if m.get(k + 1) == Some(&b'.') { 4 } else { 2 };
            let (is_pm, len) = if starts_with_ci(b, i, "A.M.") {
                (false, 4)
            } else if starts_with_ci(b, i, "P.M.") {
                (true, 4)
            } else if starts_with_ci(b, i, "AM") {
                (false, 2)
            } else if starts_with_ci(b, i, "PM") {
                (true, 2)
            } else {
                return Err(i);
            };
            pm = Some(is_pm);
            i += len;
        } else if el("FF") {
            k += 2;
            let mut max = 9;
            if let Some(d @ b'1'..=b'9') = m.get(k) {
                max = usize::from(d - b'0');
                k += 1;
            }
            let start = i;
            digits(b, &mut i, max).ok_or(i)?;
            fraction = start..i;
        } else if el("X") {
            // The radix character: `.` (or `,` under a continental NLS_NUMERIC_CHARACTERS).
            if !matches!(b.get(i), Some(b'.' | b',')) {
                return Err(i);
            }
            i += 1;
            k += 1;
        } else if el("TZH") {
            let start = i;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let (hh, _) = digits(b, &mut i, 2).ok_or(i)?;
            if hh > 14 {
                return Err(start);
            }
            mark_tz(&mut tz, start, i);
            k += 3;
        } else if el("TZM") {
            let start = i;
            let (mm, _) = digits(b, &mut i, 2).ok_or(i)?;
            if mm > 59 {
                return Err(start);
            }
            mark_tz(&mut tz, start, i);
            k += 3;
        } else if el("TZR") || el("TZD") {
            // A region name (`Europe/Paris`, `UTC`), an abbreviation or an offset `+02:00`.
            let start = i;
            let n = b
                .get(i..)
                .unwrap_or_default()
                .iter()
                .take_while(|&&c| c.is_ascii_alphanumeric() || b"/_+-:".contains(&c))
                .count();
            if n == 0 {
                return Err(i);
            }
            i += n;
            mark_tz(&mut tz, start, i);
            k += 3;
        } else {
            // An element we do not know: report where the value was.
            return Err(i);
        }
    }
    skip_blanks(b, &mut i);
    if i < b.len() {
        return Err(i);
    }
    let hour = match (h24, h12) {
        (Some(h), _) => h,
        (None, Some(h)) if (1..=12).contains(&h) => h % 12 + if pm == Some(true) { 12 } else { 0 },
        (None, Some(_)) => return Err(0),
        (None, None) => 0,
    };
    let year = year.ok_or(0usize)?;
    let narrow = |x: u32| u8::try_from(x).map_err(|_| 0usize);
    let at = OraDateTime::new(
        year,
        narrow(month)?,
        narrow(day)?,
        narrow(hour)?,
        narrow(minute)?,
        narrow(second)?,
    )
    .ok_or(0usize)?;
    Ok(Parsed { at, fraction, tz })
}

/// `RR` with the fixed pivot described in the module docs.
fn rr_year(y: u32) -> i32 {
    if y < 50 {
        2000 + y as i32
    } else {
        1900 + y as i32
    }
}

/// Matches an English month or day name, full or three-letter abbreviation, at `at`.
fn name(b: &[u8], at: usize, names: &[&str]) -> Option<(usize, usize)> {
    names.iter().enumerate().find_map(|(idx, full)| {
        if starts_with_ci(b, at, full) {
            Some((idx, full.len()))
        } else if starts_with_ci(b, at, &full[..3]) {
            Some((idx, 3))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> OraDateTime {
        OraDateTime::new(y, mo, d, h, mi, s).unwrap()
    }

    fn at(v: &str, mask: &str) -> OraDateTime {
        with_mask(v, mask)
            .unwrap_or_else(|e| panic!("{v:?} / {mask:?}: {e}"))
            .at
    }

    #[test]
    fn common_masks() {
        assert_eq!(at("2024-01-02 03:04:05", ISO_MASK), dt(2024, 1, 2, 3, 4, 5));
        assert_eq!(at("02-JAN-24", DEFAULT_DATE), dt(2024, 1, 2, 0, 0, 0));
        assert_eq!(at("31-dec-99", DEFAULT_DATE), dt(1999, 12, 31, 0, 0, 0));
        assert_eq!(at("01-Feb-49", DEFAULT_DATE), dt(2049, 2, 1, 0, 0, 0));
        assert_eq!(at("01-Feb-50", DEFAULT_DATE), dt(1950, 2, 1, 0, 0, 0));
        assert_eq!(at("01-FEB-1850", DEFAULT_DATE), dt(1850, 2, 1, 0, 0, 0));
        assert_eq!(
            at("01-MARCH-2000", "dd-month-yyyy"),
            dt(2000, 3, 1, 0, 0, 0)
        );
        assert_eq!(at("2024/1/2", "YYYY-MM-DD"), dt(2024, 1, 2, 0, 0, 0));
        assert_eq!(at("20240102", "YYYYMMDD"), dt(2024, 1, 2, 0, 0, 0));
        assert_eq!(at("2024-01-02", ISO_MASK), dt(2024, 1, 2, 0, 0, 0));
        assert_eq!(
            at("2024-01-02T03:04:05", "YYYY-MM-DD\"T\"HH24:MI:SS"),
            dt(2024, 1, 2, 3, 4, 5)
        );
        assert_eq!(at("-0044-03-15", "SYYYY-MM-DD"), dt(-44, 3, 15, 0, 0, 0));
        assert_eq!(at("24-01-02", "YY-MM-DD"), dt(2024, 1, 2, 0, 0, 0));
        assert_eq!(at("2024 3600", "YYYY SSSSS"), dt(2024, 1, 1, 1, 0, 0));
        assert_eq!(
            at("Tue 02 Jan 2024", "DY DD MON YYYY"),
            dt(2024, 1, 2, 0, 0, 0)
        );
    }

    #[test]
    fn twelve_hour_clock() {
        let m = "DD-MON-RR HH.MI.SS AM";
        assert_eq!(at("02-JAN-24 12.00.00 AM", m), dt(2024, 1, 2, 0, 0, 0));
        assert_eq!(at("02-JAN-24 12.30.00 PM", m), dt(2024, 1, 2, 12, 30, 0));
        assert_eq!(at("02-JAN-24 01.02.03 P.M.", m), dt(2024, 1, 2, 13, 2, 3));
        assert_eq!(
            at("02-JAN-24 11.02.03 a.m.", "DD-MON-RR HH12:MI:SS P.M."),
            dt(2024, 1, 2, 11, 2, 3)
        );
        assert!(with_mask("02-JAN-24 13.00.00 PM", m).is_err());
    }

    #[test]
    fn fractions_and_zones() {
        let v = "02-JAN-24 03.04.05.123456 PM +02:00";
        let p = with_mask(v, DEFAULT_TIMESTAMP_TZ).unwrap();
        assert_eq!(p.at, dt(2024, 1, 2, 15, 4, 5));
        assert_eq!(&v[p.fraction], "123456");
        assert_eq!(&v[p.tz.unwrap()], "+02:00");

        let v = "2024-01-02 03:04:05.5 -05:30";
        let p = with_mask(v, "YYYY-MM-DD HH24:MI:SS.FF TZH:TZM").unwrap();
        assert_eq!(&v[p.fraction], "5");
        assert_eq!(&v[p.tz.unwrap()], "-05:30");

        let v = "2024-01-02 03:04:05,123 Europe/Paris";
        let p = with_mask(v, "YYYY-MM-DD HH24:MI:SSXFF3 TZR").unwrap();
        assert_eq!(&v[p.fraction], "123");
        assert_eq!(&v[p.tz.unwrap()], "Europe/Paris");
    }

    #[test]
    fn invalid_dates() {
        assert_eq!(with_mask("2024-02-30", "YYYY-MM-DD"), Err(0));
        assert_eq!(with_mask("2023-02-29", "YYYY-MM-DD"), Err(0));
        assert_eq!(with_mask("2024-13-01", "YYYY-MM-DD"), Err(0));
        assert_eq!(with_mask("2024-01-01 24:00:00", ISO_MASK), Err(0));
        assert_eq!(with_mask("2024-01-0x", "YYYY-MM-DD"), Err(9));
        assert_eq!(with_mask("2024-01-01 junk", "YYYY-MM-DD"), Err(11));
        assert_eq!(with_mask("02-XYZ-24", DEFAULT_DATE), Err(3));
        assert_eq!(with_mask("01-01", "MM-DD"), Err(0));
        assert_eq!(
            with_mask("2024", "YYYY Q"),
            Ok(Parsed {
                at: dt(2024, 1, 1, 0, 0, 0),
                fraction: 0..0,
                tz: None
            })
        );
        assert_eq!(with_mask("2024 1", "YYYY Q"), Err(5));
    }

    #[test]
    fn fixed_layout() {
        assert_eq!(fixed(b"2024-01-02 03:04:05"), Some(dt(2024, 1, 2, 3, 4, 5)));
        assert_eq!(
            fixed(b"0001-12-31 23:59:59"),
            Some(dt(1, 12, 31, 23, 59, 59))
        );
        for bad in [
            &b"2024-02-30 00:00:00"[..],
            b"2024-01-02 24:00:00",
            b"2024-01-02T03:04:05",
            b"2024-01-0a 03:04:05",
            b"2024/01/02 03:04:05",
            b"2024-01-02 03:04:0",
            b"2024-01-02 03:04:055",
        ] {
            assert_eq!(fixed(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// Every byte value at every position of a few dates: the word-at-a-time reading accepts
    /// exactly what a byte-by-byte reading of the layout accepts, with the same result.
    #[test]
    fn fixed_layout_agrees_with_byte_by_byte_reading() {
        fn by_bytes(b: &[u8; 19]) -> Option<OraDateTime> {
            let digit = |i: usize| b[i].is_ascii_digit().then(|| b[i] - b'0');
            for (i, c) in [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':')] {
                if b[i] != c {
                    return None;
                }
            }
            let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
            let year = i32::from(two(0)?) * 100 + i32::from(two(2)?);
            OraDateTime::new(year, two(5)?, two(8)?, two(11)?, two(14)?, two(17)?)
        }
        for base in [
            *b"2024-01-02 03:04:05",
            *b"2000-02-29 23:59:59",
            *b"9999-12-31 00:00:00",
        ] {
            assert!(by_bytes(&base).is_some());
            for at in 0..base.len() {
                for byte in 0..=255u8 {
                    let mut b = base;
                    b[at] = byte;
                    assert_eq!(fixed(&b), by_bytes(&b), "{b:?}");
                }
            }
        }
    }

    #[test]
    fn iso_fast_path() {
        let v = "2024-01-02 03:04:05.000123";
        let p = iso(v, false).unwrap().unwrap();
        assert_eq!(p.at, dt(2024, 1, 2, 3, 4, 5));
        assert_eq!(&v[p.fraction], "000123");
        let v = "2024-01-02T03:04:05 UTC";
        assert_eq!(iso(v, false), Ok(None));
        let p = iso(v, true).unwrap().unwrap();
        assert_eq!(&v[p.tz.unwrap()], "UTC");
        assert_eq!(iso("2024-02-30 00:00:00", false), Err(0));
        assert_eq!(iso("02-JAN-24", false), Ok(None));
    }
}
