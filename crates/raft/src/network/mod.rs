//! The transport between nodes: HTTP/1.1 with bodies in the checkpoint codec's envelope.
//!
//! - `server`: the routes ([`crate::RaftNode::router`]): `POST /raft/append`, `/raft/vote`,
//!   `/raft/snapshot` (openraft's RPCs), `POST /cluster/add`, `/cluster/remove` (membership),
//!   all behind one guard that checks the proof of the secret and the identities; and
//!   `GET /raft/whoami`, open to anyone.
//! - `client`: openraft's `RaftNetworkFactory` over one pooled HTTP client per node.
//! - [`Secret`] (in `auth`): the cluster secret and the HMAC proof every request carries.
//! - [`Faults`]: injected network faults for in-process tests.
//! - `Contacts`: when each peer last answered this node's RPCs or sent it one (the status
//!   page's "last contact").
//!
//! Every guarded request carries, in headers, the sender's node id (none for an admin client),
//! the target's node id, the sender's cluster id when it knows one, and the proof. A receiver
//! that is not the target, or that knows another cluster id, answers 409: a node started with the
//! wrong id or a member of another cluster never takes part in this one.

mod auth;
pub(crate) mod client;
mod faults;
pub(crate) mod server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use redoflow_checkpoint::NodeId;
use serde::{Deserialize, Serialize};

pub use auth::Secret;
pub(crate) use auth::Signed;
pub use faults::Faults;
pub(crate) use faults::Verdict;

/// Header: the sending node's id (absent for admin clients).
pub(crate) const FROM: &str = "x-redoflow-from";
/// Header: the node id the sender means to reach.
pub(crate) const TO: &str = "x-redoflow-to";
/// Header: the sender's cluster id (absent while it knows none).
pub(crate) const CLUSTER: &str = "x-redoflow-cluster";
/// Header: hex HMAC-SHA256 proof of the secret over the request.
pub(crate) const PROOF: &str = "x-redoflow-proof";

pub(crate) const PATH_APPEND: &str = "/raft/append";
pub(crate) const PATH_VOTE: &str = "/raft/vote";
pub(crate) const PATH_SNAPSHOT: &str = "/raft/snapshot";
pub(crate) const PATH_WHOAMI: &str = "/raft/whoami";
pub(crate) const PATH_ADD: &str = "/cluster/add";
pub(crate) const PATH_REMOVE: &str = "/cluster/remove";

/// The largest request body a node reads: an append of many entries or a snapshot chunk fits
/// far below it.
pub(crate) const MAX_BODY: usize = 64 << 20;

/// How long a client waits for a TCP connection: a peer on the cluster's network answers in
/// milliseconds, and a down peer should be reported unreachable well within an election timeout.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// When each peer was last heard from: a leader hears from a follower when the follower
/// answers an RPC, a follower from the leader when the leader's append (or a candidate's vote
/// request) passes the guard. Shared by the client and server sides of one node.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    last: Mutex<HashMap<u64, Instant>>,
}

impl Contacts {
    /// Notes that `peer` was heard from now.
    pub(crate) fn heard_from(&self, peer: u64) {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, Instant::now());
    }

    /// How long ago each peer heard from so far was last heard from.
    pub(crate) fn ages(&self) -> BTreeMap<NodeId, Duration> {
        let now = Instant::now();
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, at)| (NodeId(*id), now.saturating_duration_since(*at)))
            .collect()
    }
}

/// What `GET /raft/whoami` answers: which process serves this address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    /// The node id this process runs as.
    pub node_id: NodeId,
    /// Random per process: two processes claiming one node id answer different instance ids.
    pub instance_id: u64,
    /// The cluster id, once this node knows it.
    pub cluster_id: Option<String>,
    /// The address the node advertises to its peers.
    pub addr: String,
}

/// Body of `POST /cluster/add`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AddMember {
    pub id: NodeId,
    pub addr: String,
}

/// Body of `POST /cluster/remove`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RemoveMember {
    pub id: NodeId,
}

/// Answer to an admin request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum AdminReply {
    Done,
    NotLeader {
        leader: Option<NodeId>,
        leader_addr: Option<String>,
    },
    Failed {
        message: String,
    },
}

/// An HTTP request to a node, before it is signed.
#[derive(Debug)]
pub(crate) struct Outgoing<'a> {
    pub addr: &'a str,
    pub path: &'a str,
    pub from: Option<u64>,
    pub to: u64,
    pub cluster_id: Option<&'a str>,
    pub body: Vec<u8>,
}

/// Why a request got no HTTP answer.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made: the peer is down or unreachable.
    Connect(String),
    /// The connection broke, or the request could not be built.
    Other(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(m) => write!(f, "cannot connect: {m}"),
            SendError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SendError {}

/// A pooled HTTP/1.1 client: connections to a peer are kept and reused between RPCs.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    http: Client<HttpConnector, Full<Bytes>>,
}

impl Transport {
    pub(crate) fn new() -> Transport {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        // Raft RPCs are small request/response pairs: Nagle's delay would add to every commit.
        connector.set_nodelay(true);
        Transport {
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Signs and sends a POST, returns the status and the whole body.
    pub(crate) async fn post(
        &self,
        secret: &Secret,
        out: Outgoing<'_>,
    ) -> Result<(StatusCode, Bytes), SendError> {
        let proof = secret.prove(&Signed {
            method: Method::POST.as_str(),
            path: out.path,
            from: out.from,
            to: out.to,
            cluster_id: out.cluster_id,
            body: &out.body,
        });
        let mut request = hyper::Request::post(format!("http://{}{}", out.addr, out.path))
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
            .header(TO, out.to)
            .header(PROOF, proof);
        if let Some(from) = out.from {
            request = request.header(FROM, from);
        }
        if let Some(cluster_id) = out.cluster_id {
            request = request.header(CLUSTER, cluster_id);
        }
        let request = request
            .body(Full::new(Bytes::from(out.body)))
            .map_err(|e| SendError::Other(format!("bad request to {}: {e}", out.addr)))?;
        self.send(request).await
    }

    /// Sends an unsigned GET.
    pub(crate) async fn get(
        &self,
        addr: &str,
        path: &str,
    ) -> Result<(StatusCode, Bytes), SendError> {
        let request = hyper::Request::get(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::new()))
            .map_err(|e| SendError::Other(format!("bad request to {addr}: {e}")))?;
        self.send(request).await
    }

    async fn send(
        &self,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), SendError> {
        let response = self.http.request(request).await.map_err(|e| {
            if e.is_connect() {
                SendError::Connect(error_chain(&e))
            } else {
                SendError::Other(error_chain(&e))
            }
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| SendError::Other(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, body))
    }
}

/// An error with its sources, one line: hyper's own messages are terse ("client error
/// (Connect)") and the cause is in the chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
