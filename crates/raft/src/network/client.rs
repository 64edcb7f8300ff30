//! openraft's network side: one [`Peer`] per target, all sharing one pooled [`Transport`].
//!
//! Error mapping, which decides how openraft retries:
//! - no connection, a link cut by [`Faults`], or a peer that refuses us (401, 409) →
//!   `Unreachable`: openraft backs off instead of hammering it;
//! - the RPC's time-to-live ran out → `Timeout`;
//! - a broken connection or an answer that does not decode → `Network` (retried at once);
//! - openraft's own error on the peer → `RemoteError`.

use std::collections::HashSet;
use std::error::Error;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper::StatusCode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use redoflow_checkpoint::codec::{decode_value, encode_value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    Contacts, Faults, Outgoing, Secret, SendError, Transport, Verdict, PATH_APPEND, PATH_SNAPSHOT,
    PATH_VOTE,
};
use crate::TypeConfig;

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>>;

/// The factory openraft asks for a client per peer.
#[derive(Clone, Debug)]
pub(crate) struct Network {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    node_id: u64,
    secret: Secret,
    cluster_id: Arc<OnceLock<String>>,
    faults: Option<Faults>,
    transport: Transport,
    /// Where answers from peers are noted.
    contacts: Arc<Contacts>,
    /// (target, HTTP status) refusals already logged: a misconfigured peer is reported once,
    /// not at every heartbeat.
    warned: Mutex<HashSet<(u64, u16)>>,
    /// Peers that could not be connected to since they last answered: a node that is down is
    /// logged when it goes and when it is back, not at every retry.
    down: Mutex<HashSet<u64>>,
}

impl Network {
    pub(crate) fn new(
        node_id: u64,
        secret: Secret,
        cluster_id: Arc<OnceLock<String>>,
        faults: Option<Faults>,
        contacts: Arc<Contacts>,
    ) -> Network {
        Network {
            shared: Arc::new(Shared {
                node_id,
                secret,
                cluster_id,
                faults,
                transport: Transport::new(),
                contacts,
                warned: Mutex::new(HashSet::new()),
                down: Mutex::new(HashSet::new()),
            }),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            shared: self.shared.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

/// The connection to one peer (the HTTP connections themselves are pooled in the transport).
#[derive(Debug)]
pub(crate) struct Peer {
    shared: Arc<Shared>,
    target: u64,
    addr: String,
}

fn unreachable(message: String) -> Unreachable {
    Unreachable::new(&std::io::Error::other(message))
}

impl Peer {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        action: RPCTypes,
        request: &Req,
        ttl: Duration,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let s = &self.shared;
        let exchange = async {
            if let Some(faults) = &s.faults {
                match faults.verdict(s.node_id, self.target) {
                    Verdict::Drop => {
                        return Err(RPCError::Unreachable(unreachable(format!(
                            "injected fault: {} -> {} is cut",
                            s.node_id, self.target
                        ))))
                    }
                    Verdict::Delay(by) => tokio::time::sleep(by).await,
                    Verdict::Deliver => {}
                }
            }
            let outgoing = Outgoing {
                addr: &self.addr,
                path,
                from: Some(s.node_id),
                to: self.target,
                cluster_id: s.cluster_id.get().map(String::as_str),
                body: encode_value(request),
            };
            let (status, body) =
                s.transport
                    .post(&s.secret, outgoing)
                    .await
                    .map_err(|e| match e {
                        SendError::Connect(_) => {
                            self.went_down(&e);
                            RPCError::Unreachable(Unreachable::new(&e))
                        }
                        SendError::Other(_) => RPCError::Network(NetworkError::new(&e)),
                    })?;
            match status {
                StatusCode::OK => {
                    // An answer, even openraft's refusal, means the peer is there.
                    s.contacts.heard_from(self.target);
                    self.came_back();
                    let answer: Result<Resp, RaftError<u64, E>> = decode_value(&body)
                        .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
                    answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
                }
                StatusCode::UNAUTHORIZED | StatusCode::CONFLICT => {
                    let message = String::from_utf8_lossy(&body).into_owned();
                    self.warn_once(status, &message);
                    Err(RPCError::Unreachable(unreachable(format!(
                        "node {} at {} refused us ({status}): {message}",
                        self.target, self.addr
                    ))))
                }
                other => Err(RPCError::Network(NetworkError::new(
                    &std::io::Error::other(format!(
                        "node {} at {} answered {other}: {}",
                        self.target,
                        self.addr,
                        String::from_utf8_lossy(&body)
                    )),
                ))),
            }
        };
        match tokio::time::timeout(ttl, exchange).await {
            Ok(result) => result,
            Err(_) => Err(RPCError::Timeout(Timeout {
                action,
                id: s.node_id,
                target: self.target,
                timeout: ttl,
            })),
        }
    }

    fn went_down(&self, error: &SendError) {
        let first = self
            .shared
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.target);
        if first {
            tracing::warn!(
                target_node = self.target,
                addr = %self.addr,
                %error,
                "cannot reach a peer; retrying quietly until it answers"
            );
        }
    }

    fn came_back(&self) {
        let was_down = self
            .shared
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.target);
        if was_down {
            tracing::info!(target_node = self.target, addr = %self.addr, "a peer answers again");
        }
    }

    fn warn_once(&self, status: StatusCode, message: &str) {
        let first = self
            .shared
            .warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((self.target, status.as_u16()));
        if first {
            tracing::warn!(
                target_node = self.target,
                addr = %self.addr,
                %status,
                message,
                "a peer refuses this node's RPCs"
            );
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        self.call(
            PATH_APPEND,
            RPCTypes::AppendEntries,
            &rpc,
            option.hard_ttl(),
        )
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        self.call(
            PATH_SNAPSHOT,
            RPCTypes::InstallSnapshot,
            &rpc,
            option.hard_ttl(),
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        self.call(PATH_VOTE, RPCTypes::Vote, &rpc, option.hard_ttl())
            .await
    }

    /// After an `Unreachable`: 250 ms, doubling to [`MAX_BACKOFF`]. A peer that is back
    /// within a failover is retried about as soon as before (openraft's constant 500 ms); one
    /// that stays down costs a connection attempt every 2 s, not two a second.
    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::successors(
            Some(Duration::from_millis(250)),
            |d| Some((*d * 2).min(MAX_BACKOFF)),
        ))
    }
}

/// The longest wait between two attempts to reach a peer that is down: how late, at most, a
/// returning node gets its first entries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
