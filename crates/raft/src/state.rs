//! The replicated state: what the group agrees on, and the one deterministic rule that applies a
//! log entry to it. Every node applies the same entries in the same order and reaches the same
//! state, so everything here is pure: no I/O, no clock, no randomness.

use std::collections::VecDeque;
use std::fmt::Write as _;

use openraft::{BasicNode, EntryPayload, LogId, Membership, StoredMembership};
use redoflow_checkpoint::{Checkpoint, CheckpointId, SourceFingerprint, Term};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::TypeConfig;

/// How many committed checkpoints the state keeps when the node's config does not say.
pub const DEFAULT_HISTORY: usize = 1000;

/// A proposal to the group (the payload of a normal Raft log entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Append this checkpoint to the committed sequence.
    Commit(Checkpoint),
    /// Record the source every node must mine (the first one wins; later ones must equal it).
    SetFingerprint(SourceFingerprint),
}

/// What applying one log entry did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The checkpoint is now the last committed one.
    Committed(CheckpointId),
    /// The fingerprint is the cluster's (it was set now, or it was already equal).
    FingerprintSet,
    /// The proposal was refused; the state is unchanged apart from the last applied log id.
    Refused(Refusal),
    /// A blank or membership entry was applied (nobody waits for its answer but openraft).
    Applied,
}

/// Why the state machine refused a proposal. Refusals are decided by the state machine alone, so
/// every node refuses the same entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The checkpoint's id is not the last committed id + 1.
    OutOfOrder {
        /// The last committed checkpoint.
        last: CheckpointId,
        /// The proposed one.
        got: CheckpointId,
    },
    /// The checkpoint was produced in term `term`, but the log entry carrying it belongs to
    /// `current_term`, or a newer term has already been applied: its producer is not the leader
    /// that proposed it, or was deposed.
    Fenced {
        /// The checkpoint's term.
        term: Term,
        /// The term it lost to: its log entry's, or the newest applied.
        current_term: Term,
    },
    /// A different fingerprint is already agreed; one line per differing setting.
    FingerprintDiffers {
        /// One line per setting, as [`SourceFingerprint::differences`] words it.
        differences: Vec<String>,
    },
}

/// The state machine's content: the committed checkpoints (the newest plus a bounded history),
/// the newest term applied, the agreed source fingerprint, the membership and the cluster id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Committed checkpoints, oldest first; the back is the last committed one. Bounded by the
    /// node's `history` setting.
    pub checkpoints: VecDeque<Checkpoint>,
    /// The newest leader term of any applied log entry (blank, membership or checkpoint). A
    /// checkpoint of an older term is refused.
    pub newest_term: Term,
    /// The source every node must mine, once the first leader has recorded it.
    pub fingerprint: Option<SourceFingerprint>,
    /// The last log entry applied to this state.
    pub last_applied: Option<LogId<u64>>,
    /// The membership as of the last applied membership entry.
    pub membership: StoredMembership<u64, BasicNode>,
    /// A digest of the membership the cluster was initialised with (see [`cluster_id_of`]).
    pub cluster_id: Option<String>,
}

impl ClusterState {
    /// The last committed checkpoint.
    pub fn last(&self) -> Option<&Checkpoint> {
        self.checkpoints.back()
    }

    /// The id of the last committed checkpoint ([`CheckpointId::NONE`] before the first).
    pub fn last_id(&self) -> CheckpointId {
        self.last().map_or(CheckpointId::NONE, |c| c.id)
    }

    /// Applies one log entry and says what it did. `history` bounds the kept checkpoints (at
    /// least the last one is always kept).
    pub fn apply(
        &mut self,
        log_id: LogId<u64>,
        payload: &EntryPayload<TypeConfig>,
        history: usize,
    ) -> Response {
        self.last_applied = Some(log_id);
        let entry_term = Term(log_id.leader_id.term);
        let response = match payload {
            EntryPayload::Blank => Response::Applied,
            EntryPayload::Membership(membership) => {
                if self.cluster_id.is_none() {
                    self.cluster_id = Some(cluster_id_of(membership));
                }
                self.membership = StoredMembership::new(Some(log_id), membership.clone());
                Response::Applied
            }
            EntryPayload::Normal(Request::Commit(checkpoint)) => {
                self.commit(checkpoint, entry_term, history)
            }
            EntryPayload::Normal(Request::SetFingerprint(fingerprint)) => {
                self.set_fingerprint(fingerprint)
            }
        };
        // Log terms only grow along the log, so this is the newest term of anything applied.
        self.newest_term = self.newest_term.max(entry_term);
        response
    }

    fn commit(&mut self, checkpoint: &Checkpoint, entry_term: Term, history: usize) -> Response {
        // The term check comes first: a deposed leader's checkpoint is refused as fenced whatever
        // its id (the contract of `CheckpointStore`).
        let current_term = self.newest_term.max(entry_term);
        if checkpoint.term != entry_term || checkpoint.term < self.newest_term {
            return Response::Refused(Refusal::Fenced {
                term: checkpoint.term,
                current_term,
            });
        }
        let last = self.last_id();
        if checkpoint.id != last.next() {
            return Response::Refused(Refusal::OutOfOrder {
                last,
                got: checkpoint.id,
            });
        }
        self.checkpoints.push_back(checkpoint.clone());
        self.trim(history);
        Response::Committed(checkpoint.id)
    }

    fn set_fingerprint(&mut self, proposed: &SourceFingerprint) -> Response {
        match &self.fingerprint {
            None => {
                self.fingerprint = Some(proposed.clone());
                Response::FingerprintSet
            }
            Some(agreed) => {
                let differences = proposed.differences(agreed);
                if differences.is_empty() {
                    Response::FingerprintSet
                } else {
                    Response::Refused(Refusal::FingerprintDiffers { differences })
                }
            }
        }
    }

    /// Drops the oldest checkpoints beyond `history` (never the last one).
    pub fn trim(&mut self, history: usize) {
        while self.checkpoints.len() > history.max(1) {
            self.checkpoints.pop_front();
        }
    }
}

/// The cluster id of a cluster initialised with `membership`: the first 16 hex digits of a
/// SHA-256 over a canonical text of its voter sets and its nodes' ids and addresses. The text (not
/// a binary encoding) is hashed so a later codec version computes the same id for the same
/// members.
pub fn cluster_id_of(membership: &Membership<u64, BasicNode>) -> String {
    let mut canonical = String::new();
    for voters in membership.get_joint_config() {
        canonical.push_str("voters");
        for id in voters {
            let _ = write!(canonical, " {id}");
        }
        canonical.push('\n');
    }
    for (id, node) in membership.nodes() {
        let _ = writeln!(canonical, "node {id} {}", node.addr);
    }
    let digest = Sha256::digest(canonical.as_bytes());
    digest[..8]
        .iter()
        .fold(String::with_capacity(16), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::CommittedLeaderId;
    use redoflow_checkpoint::{Offset, Scn};

    use super::*;

    fn log_id(term: u64, index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn checkpoint(id: u64, term: u64) -> Checkpoint {
        Checkpoint {
            id: CheckpointId(id),
            term: Term(term),
            offset: Offset::starting_after(Scn(id * 100)),
            files: vec![],
            created_at_ms: id,
        }
    }

    fn commit(state: &mut ClusterState, index: u64, entry_term: u64, c: Checkpoint) -> Response {
        state.apply(
            log_id(entry_term, index),
            &EntryPayload::Normal(Request::Commit(c)),
            DEFAULT_HISTORY,
        )
    }

    fn members(ids: &[(u64, &str)]) -> Membership<u64, BasicNode> {
        let voters: BTreeSet<u64> = ids.iter().map(|(id, _)| *id).collect();
        let nodes: BTreeMap<u64, BasicNode> = ids
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(*addr)))
            .collect();
        Membership::new(vec![voters], nodes)
    }

    #[test]
    fn commits_consecutive_checkpoints_of_the_entry_term() {
        let mut s = ClusterState::default();
        assert_eq!(
            commit(&mut s, 1, 2, checkpoint(1, 2)),
            Response::Committed(CheckpointId(1))
        );
        assert_eq!(
            commit(&mut s, 2, 2, checkpoint(2, 2)),
            Response::Committed(CheckpointId(2))
        );
        assert_eq!(s.last_id(), CheckpointId(2));
        assert_eq!(s.newest_term, Term(2));
        assert_eq!(s.last_applied, Some(log_id(2, 2)));
    }

    #[test]
    fn refuses_a_gap_and_a_repeat_as_out_of_order() {
        let mut s = ClusterState::default();
        assert_eq!(
            commit(&mut s, 1, 1, checkpoint(2, 1)),
            Response::Refused(Refusal::OutOfOrder {
                last: CheckpointId::NONE,
                got: CheckpointId(2)
            })
        );
        commit(&mut s, 2, 1, checkpoint(1, 1));
        assert_eq!(
            commit(&mut s, 3, 1, checkpoint(1, 1)),
            Response::Refused(Refusal::OutOfOrder {
                last: CheckpointId(1),
                got: CheckpointId(1)
            })
        );
        assert_eq!(s.checkpoints.len(), 1);
        // A refused entry is still applied: the last applied log id moves on.
        assert_eq!(s.last_applied, Some(log_id(1, 3)));
    }

    #[test]
    fn refuses_a_checkpoint_of_another_term_than_its_entry_as_fenced() {
        let mut s = ClusterState::default();
        // Proposed in term 3 but produced by the leader of term 2.
        assert_eq!(
            commit(&mut s, 1, 3, checkpoint(1, 2)),
            Response::Refused(Refusal::Fenced {
                term: Term(2),
                current_term: Term(3)
            })
        );
        // A checkpoint claiming a newer term than its entry is refused too.
        assert_eq!(
            commit(&mut s, 2, 3, checkpoint(1, 4)),
            Response::Refused(Refusal::Fenced {
                term: Term(4),
                current_term: Term(3)
            })
        );
        assert!(s.last().is_none());
    }

    #[test]
    fn refuses_an_older_term_after_a_newer_one_was_applied_whatever_the_id() {
        let mut s = ClusterState::default();
        commit(&mut s, 1, 1, checkpoint(1, 1));
        // The leader of term 5 has applied its blank entry.
        s.apply(log_id(5, 2), &EntryPayload::Blank, DEFAULT_HISTORY);
        assert_eq!(s.newest_term, Term(5));
        // The deposed leader's next checkpoint, in an entry of its own term 1 (as a stale log
        // entry would be), has the right id but is fenced.
        assert_eq!(
            commit(&mut s, 3, 1, checkpoint(2, 1)),
            Response::Refused(Refusal::Fenced {
                term: Term(1),
                current_term: Term(5)
            })
        );
        assert_eq!(s.last_id(), CheckpointId(1));
        assert_eq!(
            commit(&mut s, 4, 5, checkpoint(2, 5)),
            Response::Committed(CheckpointId(2))
        );
    }

    #[test]
    fn fingerprint_is_set_once_and_compared_after() {
        let mut s = ClusterState::default();
        let a = SourceFingerprint::new("sim").with("source.sim.seed", 1);
        let b = SourceFingerprint::new("sim").with("source.sim.seed", 2);
        let set = |s: &mut ClusterState, index, fp: &SourceFingerprint| {
            s.apply(
                log_id(1, index),
                &EntryPayload::Normal(Request::SetFingerprint(fp.clone())),
                DEFAULT_HISTORY,
            )
        };
        assert_eq!(set(&mut s, 1, &a), Response::FingerprintSet);
        assert_eq!(set(&mut s, 2, &a), Response::FingerprintSet);
        assert_eq!(
            set(&mut s, 3, &b),
            Response::Refused(Refusal::FingerprintDiffers {
                differences: vec!["source.sim.seed is \"2\" here but \"1\" in the cluster".into()]
            })
        );
        assert_eq!(s.fingerprint, Some(a));
    }

    #[test]
    fn history_is_bounded_and_keeps_the_newest() {
        let mut s = ClusterState::default();
        for id in 1..=10 {
            let r = s.apply(
                log_id(1, id),
                &EntryPayload::Normal(Request::Commit(checkpoint(id, 1))),
                3,
            );
            assert_eq!(r, Response::Committed(CheckpointId(id)));
        }
        let ids: Vec<u64> = s.checkpoints.iter().map(|c| c.id.0).collect();
        assert_eq!(ids, vec![8, 9, 10]);
        s.trim(0);
        assert_eq!(s.last_id(), CheckpointId(10), "the last one is always kept");
    }

    #[test]
    fn the_first_membership_names_the_cluster_and_later_ones_do_not_rename_it() {
        let mut s = ClusterState::default();
        let first = members(&[(1, "a:1"), (2, "b:2"), (3, "c:3")]);
        s.apply(
            log_id(0, 0),
            &EntryPayload::Membership(first.clone()),
            DEFAULT_HISTORY,
        );
        let id = s.cluster_id.clone().unwrap();
        assert_eq!(id, cluster_id_of(&first));
        assert_eq!(id.len(), 16);
        let second = members(&[(1, "a:1"), (2, "b:2"), (4, "d:4")]);
        s.apply(
            log_id(1, 1),
            &EntryPayload::Membership(second.clone()),
            DEFAULT_HISTORY,
        );
        assert_eq!(s.cluster_id.as_deref(), Some(id.as_str()));
        assert_eq!(s.membership.membership(), &second);
        assert_ne!(cluster_id_of(&second), id);
        // The same members at other addresses are another cluster.
        assert_ne!(
            cluster_id_of(&members(&[(1, "a:9"), (2, "b:2"), (3, "c:3")])),
            id
        );
    }
}
