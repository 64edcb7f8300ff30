use std::collections::HashMap;
use std::sync::Arc;

use redoflow_checkpoint::{Scn, ThreadId, Xid};
use smol_str::SmolStr;

use crate::value::OraDateTime;

/// V$LOGMNR_CONTENTS `OPERATION_CODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpCode(pub u16);

impl OpCode {
    pub const INSERT: OpCode = OpCode(1);
    pub const DELETE: OpCode = OpCode(2);
    pub const UPDATE: OpCode = OpCode(3);
    pub const DDL: OpCode = OpCode(5);
    pub const START: OpCode = OpCode(6);
    pub const COMMIT: OpCode = OpCode(7);
    pub const SELECT_LOB_LOCATOR: OpCode = OpCode(9);
    pub const LOB_WRITE: OpCode = OpCode(10);
    pub const LOB_TRIM: OpCode = OpCode(11);
    pub const SELECT_FOR_UPDATE: OpCode = OpCode(25);
    /// Replication marker: the transaction belongs to another replication stream; drop it.
    pub const REPLICATION_MARKER: OpCode = OpCode(27);
    pub const LOB_ERASE: OpCode = OpCode(29);
    pub const MISSING_SCN: OpCode = OpCode(34);
    pub const ROLLBACK: OpCode = OpCode(36);
    pub const UNSUPPORTED: OpCode = OpCode(255);

    pub fn is_dml(self) -> bool {
        matches!(self.0, 1..=3)
    }

    /// LOB operation codes (SPEC.md §2): 9/10/11/29, 68/70/71, 91/92/93.
    pub fn is_lob(self) -> bool {
        matches!(self.0, 9 | 10 | 11 | 29 | 68 | 70 | 71 | 91 | 92 | 93)
    }
}

/// One row of V$LOGMNR_CONTENTS with the columns the engine uses (SPEC.md §2).
///
/// Text columns that LogMiner leaves NULL are empty strings here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RedoRow {
    pub scn: Scn,
    pub timestamp: Option<OraDateTime>,
    pub xid: Xid,
    pub op: OpCode,
    pub seg_owner: Name,
    pub table_name: Name,
    /// `ROW_ID` (VARCHAR2(18) in V$LOGMNR_CONTENTS), kept inline: it is matched when a
    /// rollback row undoes a change.
    pub row_id: ShortText,
    /// `ROLLBACK = 1`: this DML undoes an earlier change of the same transaction.
    pub rollback: bool,
    /// `CSF = 1`: SQL_REDO continues in the next row(s) of the same transaction.
    pub csf: bool,
    pub sql_redo: String,
    pub thread: ThreadId,
    /// `RS_ID` (VARCHAR2(32)), kept inline.
    pub rs_id: ShortText,
    pub ssn: u64,
    pub status: i32,
    pub info: String,
    pub commit_scn: Option<Scn>,
    /// Where the row came from, for error messages: the 1-based line of a replay export
    /// (0 when the source has no lines).
    pub line: u64,
}

/// A short text column of V$LOGMNR_CONTENTS (`ROW_ID` is VARCHAR2(18), `RS_ID` VARCHAR2(32)),
/// stored inline: every row carries both, and as `String`s they cost two allocations per row
/// on the source thread and two frees on the writer's.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ShortText {
    len: u8,
    /// `bytes[..len]` is UTF-8; the rest is zero, so the derived comparisons compare the text.
    bytes: [u8; ShortText::MAX],
}

/// Text longer than [`ShortText::MAX`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong(pub usize);

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes, longer than the {} LogMiner allows",
            self.0,
            ShortText::MAX
        )
    }
}

impl std::error::Error for TooLong {}

impl ShortText {
    /// The longest text kept (RS_ID's width).
    pub const MAX: usize = 32;

    pub fn new(s: &str) -> Result<Self, TooLong> {
        let mut bytes = [0; Self::MAX];
        bytes
            .get_mut(..s.len())
            .ok_or(TooLong(s.len()))?
            .copy_from_slice(s.as_bytes());
        Ok(ShortText {
            len: s.len() as u8,
            bytes,
        })
    }

    /// From ASCII bytes (what generators print); `None` if longer than [`Self::MAX`] or not
    /// ASCII.
    pub fn from_ascii(b: &[u8]) -> Option<Self> {
        if !b.is_ascii() {
            return None;
        }
        let mut bytes = [0; Self::MAX];
        bytes.get_mut(..b.len())?.copy_from_slice(b);
        Some(ShortText {
            len: b.len() as u8,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn as_str(&self) -> &str {
        // Only UTF-8 is ever stored, so this never falls back.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl std::ops::Deref for ShortText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for ShortText {
    type Error = TooLong;

    fn try_from(s: &str) -> Result<Self, TooLong> {
        ShortText::new(s)
    }
}

impl PartialEq<str> for ShortText {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortText {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An owner or table name, carried by every row and every change.
///
/// Names of up to [`Name::INLINE`] bytes (nearly all Oracle names) are held inline: a clone
/// copies 24 bytes and a drop frees nothing. Longer names share one allocation per distinct
/// name ([`NameCache`]). Sharing an `Arc<str>` for every name cost two locked increments and two
/// decrements per row, about 3% of the cycles of a one-core benchmark run (perf annotate).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(SmolStr);

impl Name {
    /// The longest name held inline.
    pub const INLINE: usize = SmolStr::INLINE_CAP;

    pub fn new(name: &str) -> Name {
        Name(SmolStr::new(name))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Name {
        Name::new(name)
    }
}

impl From<String> for Name {
    fn from(name: String) -> Name {
        Name(SmolStr::from(name))
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Hands out [`Name`]s for the names a source reads: short ones inline, and one shared
/// allocation per distinct long one. Bounded: past [`NameCache::MAX`] long names it starts over.
#[derive(Debug, Default)]
pub struct NameCache {
    last: Option<Name>,
    names: HashMap<Box<str>, Name>,
}

impl NameCache {
    /// Distinct long names kept.
    pub const MAX: usize = 4096;

    pub fn get(&mut self, name: &str) -> Name {
        if name.len() <= Name::INLINE {
            return Name::new(name);
        }
        if let Some(last) = &self.last {
            if **last == *name {
                return last.clone();
            }
        }
        let shared = match self.names.get(name) {
            Some(n) => n.clone(),
            None => {
                if self.names.len() >= Self::MAX {
                    self.names.clear();
                }
                let n = Name(SmolStr::from(Arc::<str>::from(name)));
                self.names.insert(name.into(), n.clone());
                n
            }
        };
        self.last = Some(shared.clone());
        shared
    }
}

impl Default for OpCode {
    fn default() -> Self {
        OpCode::UNSUPPORTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_holds_up_to_32_bytes_and_compares_as_text() {
        let a = ShortText::new("AAAR3xAAEAAAACMAAR").unwrap();
        assert_eq!(a, "AAAR3xAAEAAAACMAAR");
        assert_eq!(a.as_str(), "AAAR3xAAEAAAACMAAR");
        assert_eq!(
            format!("{a:?} {a}"),
            "\"AAAR3xAAEAAAACMAAR\" AAAR3xAAEAAAACMAAR"
        );
        assert_eq!(a.len(), 18);
        assert_ne!(a, ShortText::new("AAAR3xAAEAAAACMAA").unwrap());
        assert!(ShortText::default().is_empty());
        let full = "é".repeat(16);
        assert_eq!(ShortText::new(&full).unwrap().as_str(), full);
        assert_eq!(ShortText::new(&format!("{full}x")), Err(TooLong(33)));
        assert_eq!(
            ShortText::from_ascii(b" 0x000005.00000002.0010 ").unwrap(),
            " 0x000005.00000002.0010 "
        );
        assert_eq!(ShortText::from_ascii("é".as_bytes()), None);
        assert_eq!(ShortText::from_ascii(&[b'a'; 33]), None);
    }

    #[test]
    fn short_names_are_inline_and_long_ones_shared_by_a_bounded_cache() {
        let mut c = NameCache::default();
        let (a, e, b) = (c.get("HR"), c.get(""), c.get("EMPLOYEES"));
        assert_eq!((&*a, &*e, &*b), ("HR", "", "EMPLOYEES"));
        assert_eq!(a, c.get("HR"));
        assert_eq!(a, "HR");
        assert_eq!(format!("{a} {a:?}"), "HR \"HR\"");
        assert!(c.names.is_empty(), "short names are not cached");
        let long = "A_TABLE_NAME_LONGER_THAN_INLINE_ONES";
        assert!(long.len() > Name::INLINE);
        let l1 = c.get(long);
        c.get("X");
        let l2 = c.get(long);
        assert_eq!(l1, l2);
        assert_eq!(c.names.len(), 1, "one entry per distinct long name");
        let tail = "_LONG_ENOUGH_TO_BE_SHARED";
        for i in 0..3 * NameCache::MAX {
            assert_eq!(&*c.get(&format!("T{i}{tail}")), format!("T{i}{tail}"));
        }
        assert!(c.names.len() <= NameCache::MAX);
        let ordered: std::collections::BTreeSet<Name> =
            ["B", "A", long].into_iter().map(Name::from).collect();
        assert_eq!(
            ordered.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
            ["A", long, "B"]
        );
    }
}
