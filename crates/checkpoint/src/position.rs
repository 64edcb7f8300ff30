use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Oracle system change number.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Scn(pub u64);

impl Scn {
    pub const ZERO: Scn = Scn(0);
    pub const MAX: Scn = Scn(u64::MAX);

    /// The SCN just before this one (saturating at zero).
    pub fn prev(self) -> Scn {
        Scn(self.0.saturating_sub(1))
    }

    pub fn next(self) -> Scn {
        Scn(self.0.saturating_add(1))
    }
}

impl fmt::Display for Scn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Scn {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(Scn)
    }
}

/// Redo thread number (`THREAD#`); 1 on a single instance, one per instance on RAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ThreadId(pub u16);

impl Default for ThreadId {
    fn default() -> Self {
        ThreadId(1)
    }
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Transaction id: Oracle's RAW(8) XID (undo segment, slot, sequence), shown as 16 upper-case hex
/// digits.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Xid(pub u64);

impl Xid {
    /// LogMiner sometimes reports a row with the sequence part unknown: the XID then ends in
    /// `FFFFFFFF` and matches an open transaction by its first 8 hex digits.
    pub fn is_partial(self) -> bool {
        self.0 & 0xFFFF_FFFF == 0xFFFF_FFFF
    }

    /// The first 8 hex digits (undo segment and slot).
    pub fn prefix(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

impl fmt::Display for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

impl fmt::Debug for Xid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Xid({:016X})", self.0)
    }
}

/// Error for an XID that is not 1 to 16 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid XID {text:?}: expected up to 16 hex digits")]
pub struct ParseXidError {
    pub text: String,
}

impl FromStr for Xid {
    type Err = ParseXidError;
    /// Accepts 16 hex digits in any case, and also the dotted `USN.SLOT.SQN` form of
    /// `XIDUSN`/`XIDSLT`/`XIDSQN` (decimal), as some tools export it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let err = || ParseXidError {
            text: s.to_string(),
        };
        if t.contains('.') {
            let mut parts = t.split('.');
            let (Some(a), Some(b), Some(c), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(err());
            };
            let usn: u16 = a.parse().map_err(|_| err())?;
            let slot: u16 = b.parse().map_err(|_| err())?;
            let sqn: u32 = c.parse().map_err(|_| err())?;
            return Ok(Xid(((usn as u64) << 48)
                | ((slot as u64) << 32)
                | sqn as u64));
        }
        if t.is_empty() || t.len() > 16 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err());
        }
        u64::from_str_radix(t, 16).map(Xid).map_err(|_| err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xid_round_trips_as_sixteen_upper_hex_digits() {
        let x: Xid = "0a001b00c3d40000".parse().unwrap();
        assert_eq!(x.to_string(), "0A001B00C3D40000");
        assert_eq!(x.to_string().parse::<Xid>().unwrap(), x);
    }

    #[test]
    fn partial_xid_matches_by_prefix() {
        let full: Xid = "0A001B00C3D40000".parse().unwrap();
        let partial: Xid = "0A001B00FFFFFFFF".parse().unwrap();
        assert!(partial.is_partial());
        assert!(!full.is_partial());
        assert_eq!(partial.prefix(), full.prefix());
    }

    #[test]
    fn xid_rejects_garbage() {
        assert!("".parse::<Xid>().is_err());
        assert!("XYZ".parse::<Xid>().is_err());
        assert!("0123456789ABCDEF0".parse::<Xid>().is_err());
        assert!("1.2".parse::<Xid>().is_err());
    }

    #[test]
    fn dotted_xid_form() {
        let x: Xid = "10.27.50132".parse().unwrap();
        assert_eq!(x.to_string(), "000A001B0000C3D4");
    }
}
