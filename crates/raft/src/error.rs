//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

use redoflow_checkpoint::NodeId;

/// Why a Raft node could not start, or an operation on the group failed.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    /// The sled store under the data dir could not be opened or read.
    #[error("raft store {path}: {message}", path = path.display())]
    Storage {
        /// The store's directory.
        path: PathBuf,
        /// What sled or the codec said.
        message: String,
    },
    /// The node's settings are inconsistent (e.g. an election timeout not above the heartbeat).
    #[error("invalid raft settings: {message}")]
    Config {
        /// Which setting, and why.
        message: String,
    },
    /// The cluster secret is missing, unreadable or too short. `origin` names the file or the
    /// environment variable.
    #[error("cluster secret from {origin}: {problem}")]
    Secret {
        /// `file PATH` or `environment variable NAME`.
        origin: String,
        /// What is wrong with it.
        problem: String,
    },
    /// This node is not the leader; the operation has to go to the leader.
    #[error("node {node} is not the leader{}", match (leader_hint, leader_addr) {
        (Some(id), Some(addr)) => format!(" (the leader is node {id} at {addr})"),
        (Some(id), None) => format!(" (the leader is node {id})"),
        _ => " (no leader is known)".to_string(),
    })]
    NotLeader {
        /// The node that answered.
        node: NodeId,
        /// The leader as that node knows it.
        leader_hint: Option<NodeId>,
        /// The leader's address, when its node is in the membership.
        leader_addr: Option<String>,
    },
    /// The proposed source fingerprint differs from the one the cluster agreed on.
    #[error("this node's source is not the cluster's: {}", differences.join("; "))]
    FingerprintDiffers {
        /// One line per differing setting ([`redoflow_checkpoint::SourceFingerprint::differences`]).
        differences: Vec<String>,
    },
    /// The Raft core of this node has stopped (shut down, or a storage error).
    #[error("raft on node {node} has stopped: {message}")]
    Stopped {
        /// This node.
        node: NodeId,
        /// openraft's reason.
        message: String,
    },
    /// A membership change was refused (another change in progress, an unknown node, ...).
    #[error("membership change refused: {message}")]
    Membership {
        /// openraft's reason.
        message: String,
    },
    /// The operation did not finish in time (no quorum, a slow or unreachable peer).
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// The operation.
        what: String,
        /// How long it was given.
        after: Duration,
    },
    /// An admin request could not be sent or its answer not read.
    #[error("request to {addr} failed: {message}")]
    Transport {
        /// The node's address.
        addr: String,
        /// What went wrong on the way.
        message: String,
    },
    /// A node answered an admin request with a refusal (bad secret, wrong node, bad request).
    #[error("{addr} refused the request (HTTP {status}): {message}")]
    Refused {
        /// The node's address.
        addr: String,
        /// The HTTP status.
        status: u16,
        /// The node's explanation.
        message: String,
    },
}

impl RaftError {
    /// True for errors a later attempt may not meet: leadership moves, timeouts, a peer that
    /// restarts. Configuration, secret, storage and refusal errors stay until someone fixes them.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RaftError::NotLeader { .. } | RaftError::Timeout { .. } | RaftError::Transport { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_leader_names_what_is_known_of_the_leader() {
        let e = RaftError::NotLeader {
            node: NodeId(2),
            leader_hint: Some(NodeId(1)),
            leader_addr: Some("10.0.0.1:7000".into()),
        };
        assert_eq!(
            e.to_string(),
            "node 2 is not the leader (the leader is node 1 at 10.0.0.1:7000)"
        );
        assert!(e.is_retryable());
        let e = RaftError::NotLeader {
            node: NodeId(2),
            leader_hint: None,
            leader_addr: None,
        };
        assert!(e.to_string().ends_with("(no leader is known)"));
        assert!(!RaftError::Secret {
            origin: "file /x".into(),
            problem: "too short".into()
        }
        .is_retryable());
    }
}
