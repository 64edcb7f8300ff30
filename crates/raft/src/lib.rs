//! The Raft group of a redoflow cluster: three (or more) nodes agree on the committed checkpoints,
//! the membership and the source's fingerprint. It replicates checkpoints, never change rows.
//!
//! The parts, from the bottom up:
//! - [`state`]: the replicated [`ClusterState`] and the one deterministic rule that applies a log
//!   entry ([`Request`]) to it, answering a [`Response`] (or a [`Refusal`]). Pure: no I/O.
//! - `store`: openraft's storage traits (log store, state machine, snapshots) over sled, all in
//!   one module so a change of backend stays there. It passes openraft's own storage suite.
//! - [`network`]: the HTTP/1.1 transport. [`RaftNode::router`] serves the Raft RPCs, the admin
//!   routes and `whoami`; the client side implements openraft's `RaftNetworkFactory`. Every RPC
//!   carries an HMAC proof of the cluster [`Secret`] and the sender's and target's identities, so
//!   a stray or foreign node is refused instead of joining a split brain. [`Faults`] cuts, drops
//!   and delays links for in-process cluster tests.
//! - [`RaftNode`]: the handle the root crate uses: start, initialise, propose, change the
//!   membership, resign, shut down. [`RaftNode::checkpoint_store`] hands out a
//!   [`RaftCheckpointStore`], the cluster's implementation of
//!   [`redoflow_checkpoint::CheckpointStore`].
//! - [`admin`]: client functions for the CLI (`cluster add|remove`) and for the root's check that
//!   no second process claims a node id ([`admin::whoami`]).
//!
//! Node ids are [`redoflow_checkpoint::NodeId`] in this crate's API and plain `u64` inside
//! openraft (its storage suite needs `NodeId: From<u64>`). Everything persisted or sent uses
//! [`redoflow_checkpoint::codec`]'s versioned envelope.

#![warn(missing_docs)]

pub mod admin;
mod checkpoint_store;
mod error;
pub mod network;
mod node;
pub mod state;
mod store;

use std::io::Cursor;

pub use checkpoint_store::RaftCheckpointStore;
pub use error::RaftError;
pub use network::{Faults, Secret};
pub use node::{RaftNode, RaftNodeConfig};
pub use state::{ClusterState, Refusal, Request, Response};

openraft::declare_raft_types!(
    /// openraft's types for redoflow: `u64` node ids, nodes addressed by `host:port`, log
    /// entries carrying a [`Request`], snapshots held in memory (the state is small).
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);
