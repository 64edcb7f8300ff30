//! The seam between the pipeline and wherever committed checkpoints live: a local file for a
//! single node, the Raft group's state machine for a cluster node. The pipeline only sees this
//! trait, so it does not know which one it talks to.

use std::path::PathBuf;

use crate::{Checkpoint, CheckpointId, NodeId, Term};

/// Why a checkpoint could not be committed or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("checkpoint store {path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint store {path} is corrupt: {message}", path = path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("checkpoint {got} out of order: the last committed checkpoint is {last}")]
    OutOfOrder {
        last: CheckpointId,
        got: CheckpointId,
    },
    /// This node is not (or no longer) the leader: only the leader commits checkpoints.
    #[error("this node is not the leader{}", match leader_hint {
        Some(id) => format!(" (the leader is node {id})"),
        None => String::new(),
    })]
    NotLeader { leader_hint: Option<NodeId> },
    /// A leader of a newer term exists: the checkpoint of an older term is refused, whatever
    /// its id (a deposed leader cannot commit).
    #[error(
        "checkpoint of term {term} refused: term {current_term} is newer (this node was deposed)"
    )]
    Fenced { term: Term, current_term: Term },
    /// The store could not be reached in time (no quorum, a timeout). Whether the checkpoint
    /// was committed is unknown until [`CheckpointStore::last`] answers again.
    #[error("checkpoint store unavailable: {message}")]
    Unavailable { message: String },
}

impl StoreError {
    /// True for errors a later attempt may not meet (I/O hiccups, no quorum yet). `NotLeader`
    /// and `Fenced` are final for the run that met them: the run stops and, on a cluster, the
    /// current leader carries on from the last committed checkpoint.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Io { .. } | StoreError::Unavailable { .. })
    }
}

/// Durable record of committed checkpoints.
///
/// Contract:
/// - `commit` returns only once the checkpoint is durable: fsynced for a local store, agreed by
///   a majority and applied on this node for a cluster. Only then may the checkpoint's files be
///   renamed to their final names.
/// - Checkpoint ids are consecutive: committing anything but `last + 1` is refused
///   ([`StoreError::OutOfOrder`]); so is a checkpoint whose term is older than the newest
///   committed one ([`StoreError::Fenced`]).
/// - `last` returns the newest committed checkpoint (`None` before the first).
/// - After an error the checkpoint may or may not be committed (a timeout): `last` tells.
/// - Used from one thread at a time.
pub trait CheckpointStore: Send {
    fn last(&self) -> Result<Option<Checkpoint>, StoreError>;
    fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), StoreError>;
}

impl<T: CheckpointStore + ?Sized> CheckpointStore for Box<T> {
    fn last(&self) -> Result<Option<Checkpoint>, StoreError> {
        (**self).last()
    }
    fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        (**self).commit(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_errors_are_retryable() {
        assert!(StoreError::Unavailable {
            message: "no quorum".into()
        }
        .is_retryable());
        assert!(!StoreError::NotLeader {
            leader_hint: Some(NodeId(2))
        }
        .is_retryable());
        assert!(!StoreError::Fenced {
            term: Term(3),
            current_term: Term(4)
        }
        .is_retryable());
        assert!(!StoreError::OutOfOrder {
            last: CheckpointId(1),
            got: CheckpointId(3)
        }
        .is_retryable());
    }

    #[test]
    fn not_leader_names_the_leader_when_known() {
        let e = StoreError::NotLeader {
            leader_hint: Some(NodeId(2)),
        };
        assert_eq!(
            e.to_string(),
            "this node is not the leader (the leader is node 2)"
        );
        let e = StoreError::NotLeader { leader_hint: None };
        assert_eq!(e.to_string(), "this node is not the leader");
    }
}
