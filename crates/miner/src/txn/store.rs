//! Per-transaction change storage.
//!
//! Changes are appended in redo order. A partial rollback (an undo row, `ROLLBACK = 1`) removes
//! the most recent live change with the same ROW_ID. LogMiner emits undo rows in reverse order of
//! the changes they undo (a failed statement or `ROLLBACK TO SAVEPOINT` unwinds from the end), so
//! the match is almost always the last live change: the search runs backwards and a match at the
//! tail is simply popped. A match in the middle is marked dead in a bitset (allocated on first
//! use) and its text freed; dead entries are dropped when the transaction commits.
//!
//! Spilling: [`ChangeLog::spill`] appends the live in-memory changes to the transaction's spill
//! file and empties memory, so a log is a spilled prefix (on disk, in redo order) followed by an
//! in-memory suffix. Spilled changes stay exact under partial rollback: for each one the log keeps
//! a 4-byte hash of its ROW_ID (0 for DDL, which no undo matches), a tombstone bit, and every
//! [`CHECKPOINT_EVERY`]th record's file offset. An undo that matches nothing in memory searches
//! the hashes backwards and confirms a candidate by reading its record back, so a hash collision
//! costs a read, never a wrong match. That is about 4.1 bytes of memory per spilled change.

use crate::row::ShortText;
use std::sync::Arc;

use redoflow_checkpoint::Xid;

use super::spill::{self, RecordReader, SpillFile, SpillStore, HEADER};
use super::{Change, ChangeOp, SpilledChanges, TxnError};
use crate::row::Name;

/// One file offset kept per this many spilled records (to read one record back).
const CHECKPOINT_EVERY: usize = 256;

/// Approximate heap + inline size of one buffered change.
pub(crate) fn change_bytes(c: &Change) -> usize {
    std::mem::size_of::<Change>()
        + c.sql_redo.len()
        + c.owner.len()
        + c.table.len()
        + c.reason.as_ref().map_or(0, |r| r.len())
}

#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    changes: Vec<Change>,
    /// Bit i set: `changes[i]` was undone. Empty until the first undo in the middle.
    dead: Vec<u64>,
    dead_count: usize,
    bytes: usize,
    /// The changes before `changes`, on disk.
    spilled: Option<Spilled>,
}

/// The on-disk prefix of a [`ChangeLog`].
#[derive(Debug)]
struct Spilled {
    file: Box<dyn SpillFile>,
    /// Bytes appended (the next record's offset).
    len: u64,
    /// Per record: ROW_ID hash, 0 for DDL.
    hashes: Vec<u32>,
    /// Offset of record `k * CHECKPOINT_EVERY`.
    checkpoints: Vec<u64>,
    /// Tombstones: bit i set = record i was undone.
    dead: Vec<u64>,
    dead_count: usize,
    /// Distinct (owner, table) of the records.
    tables: Vec<(String, String)>,
}

/// FNV-1a, never 0 (0 marks DDL).
fn row_hash(row_id: &ShortText) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for &b in row_id.as_bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h | 1
}

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64)
        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

fn set_bit(bits: &mut Vec<u64>, i: usize) {
    if bits.len() <= i / 64 {
        bits.resize(i / 64 + 1, 0);
    }
    bits[i / 64] |= 1u64 << (i % 64);
}

impl Spilled {
    fn live(&self) -> usize {
        self.hashes.len() - self.dead_count
    }

    fn err(&self, xid: Xid, action: &'static str, e: impl std::fmt::Display) -> TxnError {
        spill::spill_error(xid, self.file.path(), action, e)
    }

    /// Record `i`, read back from the file.
    fn read(&self, xid: Xid, i: usize) -> Result<Change, TxnError> {
        let k = i / CHECKPOINT_EVERY;
        let mut r = RecordReader::open(self.file.as_ref(), self.checkpoints[k])
            .map_err(|e| self.err(xid, "read", e))?;
        for _ in k * CHECKPOINT_EVERY..i {
            r.skip().map_err(|e| self.err(xid, "read", e))?;
        }
        r.next().map_err(|e| self.err(xid, "read", e))
    }

    /// Tombstones the most recent live record on `row_id`.
    fn undo(&mut self, xid: Xid, row_id: &ShortText) -> Result<bool, TxnError> {
        let h = row_hash(row_id);
        let mut i = self.hashes.len();
        while i > 0 {
            i -= 1;
            if self.hashes[i] != h || bit(&self.dead, i) {
                continue;
            }
            let c = self.read(xid, i)?;
            if c.op != ChangeOp::Ddl && c.row_id == *row_id {
                set_bit(&mut self.dead, i);
                self.dead_count += 1;
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl ChangeLog {
    pub(crate) fn push(&mut self, c: Change) {
        self.bytes += change_bytes(&c);
        self.changes.push(c);
    }

    /// Live changes, in memory and spilled.
    pub(crate) fn len(&self) -> usize {
        self.mem_len() + self.spilled.as_ref().map_or(0, Spilled::live)
    }

    /// Live changes in memory.
    fn mem_len(&self) -> usize {
        self.changes.len() - self.dead_count
    }

    /// Live changes on disk.
    pub(crate) fn spilled_len(&self) -> usize {
        self.spilled.as_ref().map_or(0, Spilled::live)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in memory (see [`change_bytes`]); spilled changes and their index do not count.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes appended to the spill file (undone records included).
    pub(crate) fn spilled_bytes(&self) -> u64 {
        self.spilled.as_ref().map_or(0, |s| s.len)
    }

    /// Memory the index of spilled changes takes (hashes, offsets, tombstones).
    pub(crate) fn index_bytes(&self) -> usize {
        self.spilled.as_ref().map_or(0, |s| {
            s.hashes.capacity() * 4 + s.checkpoints.capacity() * 8 + s.dead.capacity() * 8
        })
    }

    /// Removes the most recent live DML change on `row_id`, in memory or on disk. Returns the
    /// bytes of memory freed (0 for a spilled change), or `None` when no live change matches.
    pub(crate) fn undo(&mut self, xid: Xid, row_id: &ShortText) -> Result<Option<usize>, TxnError> {
        if let Some(freed) = self.undo_in_memory(row_id) {
            return Ok(Some(freed));
        }
        match &mut self.spilled {
            Some(s) if !row_id.is_empty() => Ok(s.undo(xid, row_id)?.then_some(0)),
            _ => Ok(None),
        }
    }

    /// Appends the live in-memory changes to the spill file (created on first use) and frees
    /// them. Returns the bytes of memory freed. On error the changes stay in memory, but the
    /// file may hold part of them: the log must not be spilled to or committed again.
    pub(crate) fn spill(
        &mut self,
        xid: Xid,
        store: &mut dyn SpillStore,
        scratch: &mut Vec<u8>,
    ) -> Result<usize, TxnError> {
        if self.mem_len() == 0 {
            return Ok(0);
        }
        if self.spilled.is_none() {
            let file = store
                .create(xid)
                .map_err(|e| spill::spill_error(xid, store.dir(), "create a file in", e))?;
            let mut s = Spilled {
                file,
                len: 0,
                hashes: Vec::new(),
                checkpoints: Vec::new(),
                dead: Vec::new(),
                dead_count: 0,
                tables: Vec::new(),
            };
            s.file.append(HEADER).map_err(|e| s.err(xid, "write", e))?;
            s.len = HEADER.len() as u64;
            self.spilled = Some(s);
        }
        let live = self.mem_len();
        let s = self.spilled.as_mut().expect("created above");
        scratch.clear();
        let mut len = s.len;
        let mut hashes = Vec::with_capacity(live);
        let mut checkpoints = Vec::new();
        for (i, c) in self.changes.iter().enumerate() {
            if self.dead_count > 0 && bit(&self.dead, i) {
                continue;
            }
            if (s.hashes.len() + hashes.len()) % CHECKPOINT_EVERY == 0 {
                checkpoints.push(len);
            }
            len += spill::encode(c, scratch) as u64;
            hashes.push(if c.op == ChangeOp::Ddl {
                0
            } else {
                row_hash(&c.row_id)
            });
            if !s
                .tables
                .iter()
                .any(|(o, t)| **o == *c.owner && **t == *c.table)
            {
                s.tables.push((c.owner.to_string(), c.table.to_string()));
            }
            if scratch.len() >= 64 * 1024 {
                s.file.append(scratch).map_err(|e| s.err(xid, "write", e))?;
                scratch.clear();
            }
        }
        s.file.append(scratch).map_err(|e| s.err(xid, "write", e))?;
        s.file.flush().map_err(|e| s.err(xid, "write", e))?;
        scratch.clear();
        s.len = len;
        // Grow by an eighth, not double: at 10 million spilled changes doubling would leave up to
        // 40 MB of the index unused.
        if s.hashes.capacity() - s.hashes.len() < hashes.len() {
            s.hashes
                .reserve_exact(hashes.len().max(s.hashes.capacity() / 8));
        }
        s.hashes.extend_from_slice(&hashes);
        s.checkpoints.extend_from_slice(&checkpoints);
        let freed = self.bytes;
        self.changes = Vec::new();
        self.dead = Vec::new();
        self.dead_count = 0;
        self.bytes = 0;
        Ok(freed)
    }

    fn is_dead(&self, i: usize) -> bool {
        self.dead
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    fn set_dead(&mut self, i: usize, dead: bool) {
        let word = i / 64;
        if self.dead.len() <= word {
            self.dead.resize(word + 1, 0);
        }
        if dead {
            self.dead[word] |= 1u64 << (i % 64);
        } else {
            self.dead[word] &= !(1u64 << (i % 64));
        }
    }

    /// Removes the most recent live DML change on `row_id` in memory. Returns the bytes freed, or
    /// `None` when no live change matches (an empty ROW_ID never matches).
    fn undo_in_memory(&mut self, row_id: &ShortText) -> Option<usize> {
        if row_id.is_empty() {
            return None;
        }
        let mut i = self.changes.len();
        let found = loop {
            if i == 0 {
                return None;
            }
            i -= 1;
            if self.dead_count > 0 && self.is_dead(i) {
                continue;
            }
            let c = &self.changes[i];
            if c.op != super::ChangeOp::Ddl && c.row_id == *row_id {
                break i;
            }
        };
        let mut freed;
        if found + 1 == self.changes.len() {
            let c = self.changes.pop().expect("found is in range");
            freed = change_bytes(&c);
            // Trailing entries undone earlier are now at the tail: drop them too.
            while self.dead_count > 0 && self.is_dead(self.changes.len().wrapping_sub(1)) {
                let j = self.changes.len() - 1;
                self.set_dead(j, false);
                self.dead_count -= 1;
                let c = self.changes.pop().expect("j is in range");
                freed += change_bytes(&c);
            }
        } else {
            let c = &mut self.changes[found];
            freed = change_bytes(c) - std::mem::size_of::<Change>();
            // Free the text now; the slot itself goes at commit.
            c.sql_redo = String::new();
            c.owner = Name::default();
            c.table = Name::default();
            self.set_dead(found, true);
            self.dead_count += 1;
        }
        self.bytes -= freed;
        Some(freed)
    }

    /// The live changes in redo order: the spilled ones (to be read back) and the rest.
    pub(crate) fn into_parts(mut self, xid: Xid) -> (Option<SpilledChanges>, Vec<Change>) {
        let spilled = self.spilled.take().map(|s| SpilledChanges {
            xid,
            live: s.live(),
            count: s.hashes.len(),
            dead: Arc::new(s.dead),
            tables: Arc::new(s.tables),
            file: Arc::from(s.file),
        });
        (spilled, self.into_changes())
    }

    /// The live in-memory changes in redo order. No copy when nothing was undone in the middle.
    fn into_changes(self) -> Vec<Change> {
        let ChangeLog {
            mut changes,
            dead,
            dead_count,
            ..
        } = self;
        if dead_count > 0 {
            let mut i = 0usize;
            changes.retain(|_| {
                let live = dead.get(i / 64).is_none_or(|w| w & (1u64 << (i % 64)) == 0);
                i += 1;
                live
            });
        }
        changes
    }
}
