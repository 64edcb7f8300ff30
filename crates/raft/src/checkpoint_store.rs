//! [`RaftCheckpointStore`]: the pipeline's [`CheckpointStore`] on a cluster node.

use std::time::Duration;

use redoflow_checkpoint::{Checkpoint, CheckpointStore, StoreError, Term};
use tokio_util::sync::CancellationToken;

use crate::state::{Refusal, Request, Response};
use crate::{RaftError, RaftNode};

/// Commits checkpoints through the Raft group, for the leader of one term.
///
/// Contract on top of [`CheckpointStore`]'s:
/// - `commit` blocks its thread: call it from a plain thread (or a blocking-pool thread), never
///   from an async task. The proposal runs on the node's runtime; `commit` returns once a
///   majority has the entry and this node has applied it.
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
}

fn unavailable(message: impl Into<String>) -> StoreError {
    StoreError::Unavailable {
        message: message.into(),
    }
}

/// Proposes `checkpoint` and waits for it to be applied here, for the timeout or the
/// cancellation, whichever comes first.
async fn propose(
    node: RaftNode,
    checkpoint: Checkpoint,
    cancel: CancellationToken,
    timeout: Duration,
) -> Result<(), StoreError> {
    let id = checkpoint.id;
    let write = node.raft().client_write(Request::Commit(checkpoint));
    let response = tokio::select! {
        _ = cancel.cancelled() => {
            return Err(unavailable(format!("cancelled while committing checkpoint {id}")));
        }
        result = tokio::time::timeout(timeout, write) => match result {
            Err(_) => {
                return Err(unavailable(format!(
                    "checkpoint {id} was not committed by a majority within {timeout:?}"
                )));
            }
            Ok(Err(e)) => return Err(into_store_error(node.write_error(e))),
            Ok(Ok(response)) => response,
        },
    };
    match response.data {
        Response::Committed(committed) if committed == id => Ok(()),
        Response::Refused(Refusal::OutOfOrder { last, got }) => {
            Err(StoreError::OutOfOrder { last, got })
        }
        Response::Refused(Refusal::Fenced { term, current_term }) => {
            Err(StoreError::Fenced { term, current_term })
        }
        other => Err(unavailable(format!(
            "the state machine answered {other:?} to checkpoint {id}"
        ))),
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
            return Err(unavailable(format!(
                "cancelled before committing checkpoint {}",
                checkpoint.id
            )));
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
        tracing::debug!(
            node = %self.node.node_id(),
            checkpoint = %checkpoint.id,
            term = %self.term,
            "proposing a checkpoint"
        );
        // The proposal runs as a task on the node's runtime and this thread waits on a plain
        // channel, so the caller may be any thread that is not driving that runtime alone.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let proposal = propose(
            self.node.clone(),
            checkpoint.clone(),
            self.cancel.clone(),
            self.timeout,
        );
        self.node.runtime().spawn(async move {
            // The receiver is gone only if the calling thread is; nobody is left to tell.
            let _ = tx.send(proposal.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(unavailable(
                "the node's runtime stopped before the checkpoint was committed",
            ))
        })
    }
}
