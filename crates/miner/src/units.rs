//! The one duration syntax of every config section and flag: `humantime`'s (`"30s"`,
//! `"500ms"`, `"1.5s"`, `"4h"`, `"1d"`, `"1h 30m"`). A unit is always required (`"600"` is
//! refused: seconds or milliseconds?), and a duration is at most [`MAX_DURATION`], so no later
//! arithmetic on a configured duration (deadlines, ages in seconds) can overflow.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The longest duration a config accepts: 100 years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 36_525 * 864);

/// Parses a duration with its unit; the error quotes the text and says what is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?}: {e} (expected e.g. \"30s\", \"500ms\", \"4h\")")
    })?;
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration {text:?}: longer than the 100 years a duration may be"
        ));
    }
    Ok(d)
}

/// serde `deserialize_with` for a duration field: a string in [`parse_duration`]'s syntax. A
/// bare number is refused with a hint to add the unit.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(f64),
    }
    match Raw::deserialize(d)? {
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
        Raw::Number(n) => Err(serde::de::Error::custom(format!(
            "invalid duration {n}: a duration is a string with its unit, e.g. \"{n}s\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 30m "), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("36525d"), Ok(MAX_DURATION));
    }

    #[test]
    fn bad_durations_are_errors_that_quote_the_text() {
        for bad in ["600", "", "abc", "3 parsecs", "-1s", "36526d"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    /// Out of range: an error, never a panic (or a wrapped-around value).
    #[test]
    fn huge_durations_are_errors() {
        for huge in [
            "99999999999999999999s",
            "99999999999999999999d",
            "18446744073709551615s",
            "9999999999999d",
            "1000y",
        ] {
            let e = parse_duration(huge).unwrap_err();
            assert!(e.contains(huge), "{e}");
        }
    }
}
