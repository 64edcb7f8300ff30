//! [`RaftCheckpointStore`]: the pipeline's [`CheckpointStore`] on a cluster node.

use std::time::Duration;

use redoflow_checkpoint::{Checkpoint, CheckpointStore, StoreError, Term};
use tokio_util::sync::CancellationToken;

use crate::state::{Refusal, Request, Response};
use crate::{RaftError, RaftNode};

/// Commits checkpoints through the Raft group, for the leader of one term.
///
/// Contract on top of [`CheckpointStore`]'s:
/// - `commit` is called from a plain thread (never a tokio worker); it runs the proposal on the
///   node's runtime and blocks until a majority has the entry and this node has applied it.
/// - It fails fast, without proposing, with `NotLeader` when this node does not lead, and with
///   `Fenced` when the current term is not the store's term (leadership was lost and regained)
///   or the checkpoint carries another term.
/// - The state machine's refusals come back as `OutOfOrder` and `Fenced`.
/// - `Unavailable` when no majority answered within the timeout or the cancellation token fired:
///   the checkpoint may or may not be committed; `last` tells once the group agrees again.
/// - `last` reads the checkpoint applied on this node, without a round trip.
#[derive(Debug)]
pub struct RaftCheckpointStore {
    node: RaftNode,
    term: Term,
    cancel: CancellationToken,
    timeout: Duration,
}

impl RaftCheckpointStore {
    pub(crate) fn new(
        node: RaftNode,
        term: Term,
        cancel: CancellationToken,
        timeout: Duration,
    ) -> RaftCheckpointStore {
        RaftCheckpointStore {
            node,
            term,
            cancel,
            timeout,
        }
    }

    /// The term this store commits for.
    pub fn term(&self) -> Term {
        self.term
    }

    fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            message: message.into(),
        }
    }

    async fn propose(&self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        let write = self
            .node
            .raft()
            .client_write(Request::Commit(checkpoint.clone()));
        let response = tokio::select! {
            _ = self.cancel.cancelled() => {
                return Err(Self::unavailable(format!(
                    "cancelled while committing checkpoint {}", checkpoint.id
                )));
            }
            result = tokio::time::timeout(self.timeout, write) => match result {
                Err(_) => {
                    return Err(Self::unavailable(format!(
                        "checkpoint {} was not committed by a majority within {:?}",
                        checkpoint.id, self.timeout
                    )));
                }
                Ok(Err(e)) => return Err(into_store_error(self.node.write_error(e))),
                Ok(Ok(response)) => response,
            },
        };
        match response.data {
            Response::Committed(id) if id == checkpoint.id => Ok(()),
            Response::Refused(Refusal::OutOfOrder { last, got }) => {
                Err(StoreError::OutOfOrder { last, got })
            }
            Response::Refused(Refusal::Fenced { term, current_term }) => {
                Err(StoreError::Fenced { term, current_term })
            }
            other => Err(Self::unavailable(format!(
                "the state machine answered {other:?} to checkpoint {}",
                checkpoint.id
            ))),
        }
    }
}

fn into_store_error(e: RaftError) -> StoreError {
    match e {
        RaftError::NotLeader { leader_hint, .. } => StoreError::NotLeader { leader_hint },
        other => StoreError::Unavailable {
            message: other.to_string(),
        },
    }
}

impl CheckpointStore for RaftCheckpointStore {
    fn last(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self.node.last_checkpoint())
    }

    fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        if self.cancel.is_cancelled() {
            return Err(Self::unavailable(format!(
                "cancelled before committing checkpoint {}",
                checkpoint.id
            )));
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Blocking a runtime thread on the runtime would deadlock or panic.
            return Err(Self::unavailable(
                "RaftCheckpointStore::commit was called on a tokio runtime thread; \
                 call it from a plain thread",
            ));
        }
        let current_term = self.node.ensure_leader().map_err(into_store_error)?;
        if current_term != self.term || checkpoint.term != self.term {
            return Err(StoreError::Fenced {
                term: if current_term != self.term {
                    self.term
                } else {
                    checkpoint.term
                },
                current_term,
            });
        }
        let _span = tracing::debug_span!(
            "raft_commit",
            node = %self.node.node_id(),
            checkpoint = %checkpoint.id,
            term = %self.term
        )
        .entered();
        let runtime = self.node.runtime().clone();
        runtime.block_on(self.propose(checkpoint))
    }
}
