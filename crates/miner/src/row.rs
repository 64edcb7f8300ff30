use std::collections::HashMap;
use std::sync::Arc;

use redoflow_checkpoint::{Scn, ThreadId, Xid};

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

/// An owner or table name. Rows of one table share one allocation (see [`NameCache`]): the
/// names travel with every change to the writer thread, and sharing them saves two
/// allocations and two cross-thread frees per change.
pub type Name = Arc<str>;

/// Hands out one shared [`Name`] per distinct name a source reads. Bounded: past
/// [`NameCache::MAX`] names it starts over.
#[derive(Debug, Default)]
pub struct NameCache {
    /// Rows without a table (START, COMMIT, ...) come between every two DML rows.
    empty: Option<Name>,
    last: Option<Name>,
    names: HashMap<Box<str>, Name>,
}

impl NameCache {
    /// Distinct names kept.
    pub const MAX: usize = 4096;

    pub fn get(&mut self, name: &str) -> Name {
        if name.is_empty() {
            return Arc::clone(self.empty.get_or_insert_with(|| Name::from("")));
        }
        if let Some(last) = &self.last {
            if **last == *name {
                return Arc::clone(last);
            }
        }
        let shared = match self.names.get(name) {
            Some(n) => Arc::clone(n),
            None => {
                if self.names.len() >= Self::MAX {
                    self.names.clear();
                }
                let n: Name = Arc::from(name);
                self.names.insert(name.into(), Arc::clone(&n));
                n
            }
        };
        self.last = Some(Arc::clone(&shared));
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
    fn names_are_shared_and_the_cache_stays_bounded() {
        let mut c = NameCache::default();
        let a = c.get("HR");
        let e = c.get("");
        let b = c.get("EMP");
        assert!(
            Arc::ptr_eq(&a, &c.get("HR")),
            "found again after another name"
        );
        assert!(Arc::ptr_eq(&b, &c.get("EMP")));
        assert!(Arc::ptr_eq(&e, &c.get("")));
        assert_eq!((&*a, &*b, &*e), ("HR", "EMP", ""));
        for i in 0..3 * NameCache::MAX {
            assert_eq!(&*c.get(&format!("T{i}")), format!("T{i}"));
        }
        assert!(c.names.len() <= NameCache::MAX);
    }
}
