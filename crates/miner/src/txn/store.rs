//! Per-transaction change storage.
//!
//! Changes are appended in redo order. A partial rollback (an undo row, `ROLLBACK = 1`) removes
//! the most recent live change with the same ROW_ID. LogMiner emits undo rows in reverse order of
//! the changes they undo (a failed statement or `ROLLBACK TO SAVEPOINT` unwinds from the end), so
//! the match is almost always the last live change: the search runs backwards and a match at the
//! tail is simply popped. A match in the middle is marked dead in a bitset (allocated on first
//! use) and its text freed; dead entries are dropped when the transaction commits.
//!
//! Everything outside this module goes through [`ChangeLog`]'s methods, so spilling the older
//! part of a huge transaction to disk (a later issue) only changes this file.

use super::Change;

/// Approximate heap + inline size of one buffered change.
pub(crate) fn change_bytes(c: &Change) -> usize {
    std::mem::size_of::<Change>()
        + c.sql_redo.len()
        + c.row_id.len()
        + c.owner.len()
        + c.table.len()
}

#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    changes: Vec<Change>,
    /// Bit i set: `changes[i]` was undone. Empty until the first undo in the middle.
    dead: Vec<u64>,
    dead_count: usize,
    bytes: usize,
}

impl ChangeLog {
    pub(crate) fn push(&mut self, c: Change) {
        self.bytes += change_bytes(&c);
        self.changes.push(c);
    }

    /// Live changes.
    pub(crate) fn len(&self) -> usize {
        self.changes.len() - self.dead_count
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
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

    /// Removes the most recent live DML change on `row_id`. Returns the bytes freed, or `None`
    /// when no live change matches (an empty ROW_ID never matches).
    pub(crate) fn undo(&mut self, row_id: &str) -> Option<usize> {
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
            if c.op != super::ChangeOp::Ddl && c.row_id == row_id {
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
            c.row_id = String::new();
            c.owner = String::new();
            c.table = String::new();
            self.set_dead(found, true);
            self.dead_count += 1;
        }
        self.bytes -= freed;
        Some(freed)
    }

    /// The live changes in redo order. No copy when nothing was undone in the middle.
    pub(crate) fn into_changes(self) -> Vec<Change> {
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
