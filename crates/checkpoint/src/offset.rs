use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Scn, ThreadId, Xid};

/// Per redo thread: the highest commit SCN already written, and the XIDs that committed at
/// exactly that SCN.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadWatermark {
    pub commit_scn: Scn,
    pub committed_xids: BTreeSet<Xid>,
}

/// Where a restart resumes (SPEC.md §4).
///
/// Invariant kept by [`Offset::record_commit`]: for every thread, `committed_xids` holds exactly
/// the transactions written with `commit_scn` equal to the watermark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offset {
    /// Mining restarts at SCN > `resume_scn`.
    pub resume_scn: Scn,
    pub threads: BTreeMap<ThreadId, ThreadWatermark>,
    /// Transactions the operator chose to drop (older than the retention) whose end has not
    /// been seen yet: after a restart their remaining rows must still be ignored, or the rest
    /// of such a transaction would be written as if it were whole.
    pub dropped_xids: BTreeSet<Xid>,
}

impl Offset {
    /// An offset that starts mining after `resume_scn` with nothing written yet.
    pub fn starting_after(resume_scn: Scn) -> Offset {
        Offset {
            resume_scn,
            threads: BTreeMap::new(),
            dropped_xids: BTreeSet::new(),
        }
    }

    /// The skip rule: after a restart, a COMMIT is skipped when its SCN is below the thread's
    /// watermark, or equal to it with its XID already in the set. Several transactions can commit
    /// at one SCN, so `>=` would lose data and `>` would duplicate it.
    pub fn should_skip(&self, thread: ThreadId, commit_scn: Scn, xid: Xid) -> bool {
        match self.threads.get(&thread) {
            None => false,
            Some(w) => {
                commit_scn < w.commit_scn
                    || (commit_scn == w.commit_scn && w.committed_xids.contains(&xid))
            }
        }
    }

    /// Records that the transaction `xid` committed at `commit_scn` on `thread` has been written.
    /// Commits arrive in commit order per thread; an older commit (which `should_skip` would have
    /// refused) leaves the watermark unchanged.
    pub fn record_commit(&mut self, thread: ThreadId, commit_scn: Scn, xid: Xid) {
        let w = self.threads.entry(thread).or_default();
        if commit_scn > w.commit_scn {
            w.commit_scn = commit_scn;
            w.committed_xids.clear();
            w.committed_xids.insert(xid);
        } else if commit_scn == w.commit_scn {
            w.committed_xids.insert(xid);
        }
    }

    /// Highest commit SCN written on any thread.
    pub fn max_commit_scn(&self) -> Scn {
        self.threads
            .values()
            .map(|w| w.commit_scn)
            .max()
            .unwrap_or(Scn::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: ThreadId = ThreadId(1);
    const T2: ThreadId = ThreadId(2);

    fn x(n: u64) -> Xid {
        Xid(n)
    }

    #[test]
    fn several_commits_at_one_scn_survive_a_restart() {
        // Three transactions commit at SCN 100; the node wrote two of them, then died.
        let mut written = Offset::starting_after(Scn(90));
        written.record_commit(T1, Scn(95), x(1));
        written.record_commit(T1, Scn(100), x(2));
        written.record_commit(T1, Scn(100), x(3));
        // After the restart mining re-reads everything after SCN 90.
        let replayed = [
            (Scn(95), x(1)),
            (Scn(100), x(2)),
            (Scn(100), x(3)),
            (Scn(100), x(4)),
            (Scn(101), x(5)),
        ];
        let emitted: Vec<Xid> = replayed
            .iter()
            .filter(|(scn, xid)| !written.should_skip(T1, *scn, *xid))
            .map(|(_, xid)| *xid)
            .collect();
        // x4 shares SCN 100 with written transactions: `>=` would lose it; `>` would repeat x2/x3.
        assert_eq!(emitted, vec![x(4), x(5)]);
    }

    #[test]
    fn watermarks_are_per_thread() {
        let mut o = Offset::default();
        o.record_commit(T1, Scn(200), x(1));
        assert!(
            !o.should_skip(T2, Scn(150), x(9)),
            "thread 2 has written nothing"
        );
        assert!(o.should_skip(T1, Scn(150), x(9)));
        assert!(!o.should_skip(T1, Scn(201), x(9)));
    }

    #[test]
    fn watermark_moves_forward_only() {
        let mut o = Offset::default();
        o.record_commit(T1, Scn(10), x(1));
        o.record_commit(T1, Scn(12), x(2));
        o.record_commit(T1, Scn(11), x(3));
        let w = &o.threads[&T1];
        assert_eq!(w.commit_scn, Scn(12));
        assert_eq!(
            w.committed_xids.iter().copied().collect::<Vec<_>>(),
            vec![x(2)]
        );
        assert_eq!(o.max_commit_scn(), Scn(12));
    }
}
