//! The node's HTTP routes. The root crate serves [`crate::RaftNode::router`] on its listener,
//! merged (not nested: the proof covers the full path) with its own status and metrics routes,
//! and with `into_make_service_with_connect_info::<SocketAddr>()` so refusals name the peer's
//! address.
//!
//! Every route but `whoami` sits behind [`guard`], which reads the whole body, checks the proof
//! and the identities, and only then lets the handler decode it. A body that does not decode is
//! answered 400; hyper answers bytes that are not HTTP with 400 and closes the connection. No
//! input reaches a panic, and the listener keeps serving.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use redoflow_checkpoint::codec::{decode_value, encode_value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    AddMember, AdminReply, RemoveMember, Signed, WhoAmI, CLUSTER, FROM, MAX_BODY, PATH_ADD,
    PATH_APPEND, PATH_REMOVE, PATH_SNAPSHOT, PATH_VOTE, PATH_WHOAMI, PROOF, TO,
};
use crate::{RaftError, RaftNode};

/// What the guard counts and has already reported, per node.
#[derive(Debug, Default)]
pub(crate) struct GuardLog {
    auth_failures: AtomicU64,
    /// Peer addresses already warned about a missing or wrong proof.
    warned_auth: Mutex<HashSet<String>>,
    /// Peer addresses already reported for a different cluster id.
    warned_cluster: Mutex<HashSet<String>>,
}

impl GuardLog {
    pub(crate) fn auth_failures(&self) -> u64 {
        self.auth_failures.load(Ordering::Relaxed)
    }

    fn first_time(set: &Mutex<HashSet<String>>, peer: &str) -> bool {
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer.to_string())
    }
}

/// The routes of one node, its state applied.
pub(crate) fn router(node: RaftNode) -> Router {
    Router::new()
        .route(PATH_APPEND, post(append))
        .route(PATH_VOTE, post(vote))
        .route(PATH_SNAPSHOT, post(snapshot))
        .route(PATH_ADD, post(add_member))
        .route(PATH_REMOVE, post(remove_member))
        .layer(middleware::from_fn_with_state(node.clone(), guard))
        .route(PATH_WHOAMI, get(whoami))
        .with_state(node)
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

/// Checks the proof of the secret, then that this node is the target and in the sender's
/// cluster; passes the request on with its body already read.
async fn guard(State(node): State<RaftNode>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "an unknown address".to_string(),
            |c| c.0.ip().to_string(),
        );
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            )
        }
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let cluster_id = header(CLUSTER);
    // Headers that are missing or do not parse cannot carry a valid proof.
    let from = match header(FROM).map(str::parse::<u64>) {
        None => Ok(None),
        Some(Ok(id)) => Ok(Some(id)),
        Some(Err(_)) => Err(()),
    };
    let to = header(TO).and_then(|v| v.parse::<u64>().ok());
    let verified = match (from, to, header(PROOF)) {
        (Ok(from), Some(to), Some(proof)) => node.inner().secret.verify(
            &Signed {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                from,
                to,
                cluster_id,
                body: &body,
            },
            proof,
        ),
        _ => false,
    };
    let inner = node.inner();
    let Some(to) = to.filter(|_| verified) else {
        inner.guard.auth_failures.fetch_add(1, Ordering::Relaxed);
        if GuardLog::first_time(&inner.guard.warned_auth, &peer) {
            tracing::warn!(
                peer = %peer,
                path = parts.uri.path(),
                "refused a request without a valid proof of the cluster secret \
                 (further ones from this address are only counted)"
            );
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong proof of the cluster secret".into(),
        );
    };
    if to != inner.id {
        return refuse(
            StatusCode::CONFLICT,
            format!("this is node {}, not node {to}", inner.id),
        );
    }
    if let (Some(mine), Some(theirs)) = (inner.cluster_id.get(), cluster_id) {
        if mine != theirs {
            if GuardLog::first_time(&inner.guard.warned_cluster, &peer) {
                tracing::error!(
                    peer = %peer,
                    this_cluster = %mine,
                    their_cluster = %theirs,
                    "member lists differ: a node of another cluster is talking to this one; \
                     its requests are refused"
                );
            }
            return refuse(
                StatusCode::CONFLICT,
                format!(
                    "member lists differ: node {} is in cluster {mine}, the sender in cluster \
                     {theirs}",
                    inner.id
                ),
            );
        }
    }
    if let Ok(Some(from)) = from {
        inner.contacts.heard_from(from);
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

fn encoded<T: Serialize>(value: &T) -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        encode_value(value),
    )
        .into_response()
}

/// Decodes the request, runs `handle` and encodes its answer; a body that does not decode is
/// a 400, never a panic.
async fn answer<Req, Resp, F>(body: &[u8], handle: impl FnOnce(Req) -> F) -> Response
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: Future<Output = Resp>,
{
    match decode_value::<Req>(body) {
        Ok(request) => encoded(&handle(request).await),
        Err(e) => refuse(
            StatusCode::BAD_REQUEST,
            format!("the body does not decode: {e}"),
        ),
    }
}

async fn append(State(node): State<RaftNode>, body: Bytes) -> Response {
    answer(&body, |rpc| node.raft().append_entries(rpc)).await
}

async fn vote(State(node): State<RaftNode>, body: Bytes) -> Response {
    answer(&body, |rpc| node.raft().vote(rpc)).await
}

async fn snapshot(State(node): State<RaftNode>, body: Bytes) -> Response {
    answer(&body, |rpc| node.raft().install_snapshot(rpc)).await
}

fn admin_reply(result: Result<(), RaftError>) -> AdminReply {
    match result {
        Ok(()) => AdminReply::Done,
        Err(RaftError::NotLeader {
            leader_hint,
            leader_addr,
            ..
        }) => AdminReply::NotLeader {
            leader: leader_hint,
            leader_addr,
        },
        Err(e) => AdminReply::Failed {
            message: e.to_string(),
        },
    }
}

async fn add_member(State(node): State<RaftNode>, body: Bytes) -> Response {
    answer(&body, |req: AddMember| async move {
        admin_reply(node.add_member(req.id, req.addr).await)
    })
    .await
}

async fn remove_member(State(node): State<RaftNode>, body: Bytes) -> Response {
    answer(&body, |req: RemoveMember| async move {
        admin_reply(node.remove_member(req.id).await)
    })
    .await
}

async fn whoami(State(node): State<RaftNode>) -> Response {
    let inner = node.inner();
    encoded(&WhoAmI {
        node_id: node.node_id(),
        instance_id: inner.instance_id,
        cluster_id: inner.cluster_id.get().cloned(),
        addr: inner.addr.clone(),
    })
}
