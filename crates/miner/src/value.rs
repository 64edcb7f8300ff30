//! Typed column values as LogMiner prints them in SQL_REDO, borrowed from the statement text
//! wherever the text can be used as is.

use std::borrow::Cow;
use std::fmt;

/// A calendar date and time of day, as Oracle DATE holds it (no fraction, no zone).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OraDateTime {
    /// Year, may be negative for BC dates (Oracle allows -4712..=9999).
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl OraDateTime {
    /// Seconds since 1970-01-01 00:00:00 of this date and time (proleptic Gregorian, no time
    /// zone: a time in UTC gives Unix time).
    pub fn epoch_seconds(&self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// Checks ranges (month 1-12, day within the month, 24h clock).
    #[inline]
    pub fn new(year: i32, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        // Days 1 to 28 exist in every month: the month's length (and the leap-year arithmetic)
        // matters only past them.
        let day_ok = match day {
            1..=28 => (1..=12).contains(&month),
            _ => {
                let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
                let days = match month {
                    1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                    4 | 6 | 9 | 11 => 30,
                    2 if leap => 29,
                    2 => 28,
                    _ => return None,
                };
                day != 0 && day <= days
            }
        };
        if !day_ok || hour > 23 || minute > 59 || second > 59 || !(-4712..=9999).contains(&year) {
            return None;
        }
        Some(OraDateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// `YYYY-MM-DDTHH:MM:SS`, the form of `__commit_ts`.
    pub fn iso(&self) -> IsoDateTime<'_> {
        IsoDateTime(self)
    }
}

/// Four digits, and a leading `-` for BC years (`-0044`), as Oracle's `SYYYY` prints them.
fn write_year(f: &mut fmt::Formatter<'_>, year: i32) -> fmt::Result {
    if year < 0 {
        write!(f, "-{:04}", year.unsigned_abs())
    } else {
        write!(f, "{year:04}")
    }
}

/// `YYYY-MM-DD HH:MM:SS`, the CSV form of a DATE.
impl fmt::Display for OraDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_year(f, self.year)?;
        write!(
            f,
            "-{:02}-{:02} {:02}:{:02}:{:02}",
            self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[derive(Debug)]
pub struct IsoDateTime<'a>(&'a OraDateTime);

impl fmt::Display for IsoDateTime<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write_year(f, d.year)?;
        write!(
            f,
            "-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.month, d.day, d.hour, d.minute, d.second
        )
    }
}

/// One column value from SQL_REDO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `NULL` (also `IS NULL` in a WHERE clause).
    Null,
    /// A quoted literal with `''` unescaped, `UNISTR` decoded and `||` pieces joined.
    Text(Cow<'a, str>),
    /// A bare number exactly as Oracle printed it.
    Number(&'a str),
    /// `TO_DATE(...)`.
    Date(OraDateTime),
    /// `TO_TIMESTAMP(...)` / `TO_TIMESTAMP_TZ(...)`: `fraction` is the fractional-second digits
    /// as given (possibly empty), `tz` the zone text as given (`+02:00`, `Europe/Paris`).
    Timestamp {
        at: OraDateTime,
        fraction: &'a str,
        tz: Option<&'a str>,
    },
    /// `HEXTORAW('...')`: hex digits as given (the CSV writer upper-cases them).
    Raw(Cow<'a, str>),
    /// `EMPTY_CLOB()` / `EMPTY_BLOB()`.
    EmptyLob,
    /// `TO_YMINTERVAL('...')`: the literal as given.
    IntervalYearMonth(&'a str),
    /// `TO_DSINTERVAL('...')`: the literal as given.
    IntervalDaySecond(&'a str),
    /// `Unsupported Type`: LogMiner could not render the value.
    Unsupported,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let d = OraDateTime::new(2024, 3, 1, 9, 5, 7).unwrap();
        assert_eq!(d.to_string(), "2024-03-01 09:05:07");
        assert_eq!(d.iso().to_string(), "2024-03-01T09:05:07");
        let bc = OraDateTime::new(-44, 3, 15, 0, 0, 0).unwrap();
        assert_eq!(bc.to_string(), "-0044-03-15 00:00:00");
        assert_eq!(
            OraDateTime::new(7, 1, 2, 0, 0, 0).unwrap().to_string(),
            "0007-01-02 00:00:00"
        );
        assert_eq!(OraDateTime::new(2023, 2, 29, 0, 0, 0), None);
    }

    #[test]
    fn every_day_of_every_month_against_a_calendar() {
        for year in [
            -4713, -4712, -1, 0, 1600, 1900, 2000, 2023, 2024, 2100, 9999, 10000,
        ] {
            let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
            for month in 0..=13u8 {
                let days = match month {
                    1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                    4 | 6 | 9 | 11 => 30,
                    2 => 28 + u8::from(leap),
                    _ => 0,
                };
                for day in 0..=32u8 {
                    let valid = (-4712..=9999).contains(&year) && day >= 1 && day <= days;
                    assert_eq!(
                        OraDateTime::new(year, month, day, 23, 59, 59).is_some(),
                        valid,
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
        assert_eq!(OraDateTime::new(2024, 1, 1, 24, 0, 0), None);
        assert_eq!(OraDateTime::new(2024, 1, 1, 0, 60, 0), None);
        assert_eq!(OraDateTime::new(2024, 1, 1, 0, 0, 60), None);
    }
}
