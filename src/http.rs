//! The node's HTTP surface beside Raft's routes (`GET /status`), and the small client the CLI
//! and `redoflow demo` read it with.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use redoflow_raft::RaftNode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::node::{status_of, Shared};
use crate::status::NodeStatus;

/// `GET /status`: this node's [`NodeStatus`] as JSON. `GET /cluster/members`: the member
/// list of this node's config ([`ConfiguredMembers`]), which the node that initialises a new
/// cluster compares with its own.
pub(crate) fn status_router(raft: RaftNode, shared: Arc<Shared>) -> Router {
    let members = ConfiguredMembers {
        node_id: raft.node_id().0,
        members: shared.configured.clone(),
    };
    Router::new()
        .route(
            "/status",
            get(move || {
                let raft = raft.clone();
                let shared = shared.clone();
                async move { json(&status_of(&raft, &shared)) }
            }),
        )
        .route(
            "/cluster/members",
            get(move || {
                let members = members.clone();
                async move { json(&members) }
            }),
        )
}

fn json<T: Serialize>(value: &T) -> axum::response::Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `GET /cluster/members`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredMembers {
    pub node_id: u64,
    /// (id, addr), sorted by id.
    pub members: Vec<(u64, String)>,
}

impl ConfiguredMembers {
    /// `{1: host:port, 2: host:port}`.
    pub fn show(members: &[(u64, String)]) -> String {
        let parts: Vec<String> = members.iter().map(|(id, a)| format!("{id}: {a}")).collect();
        format!("{{{}}}", parts.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{addr}: {message}")]
    Request { addr: String, message: String },
    #[error("{addr} answered HTTP {status}: {body}")]
    Status {
        addr: String,
        status: u16,
        body: String,
    },
    #[error("{addr}: the answer does not decode: {message}")]
    Decode { addr: String, message: String },
}

/// `GET http://{addr}{path}` within `timeout`: the status code and the body.
pub async fn get_bytes(
    addr: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Vec<u8>), ClientError> {
    let err = |message: String| ClientError::Request {
        addr: addr.to_string(),
        message,
    };
    let uri: hyper::Uri = format!("http://{addr}{path}")
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| err(e.to_string()))?;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let fetch = async {
        let response = client.get(uri).await.map_err(|e| err(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| err(e.to_string()))?
            .to_bytes();
        Ok((status, body.to_vec()))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| err(format!("no answer within {timeout:?}")))?
}

/// A node's `/status`.
pub async fn get_status(addr: &str, timeout: Duration) -> Result<NodeStatus, ClientError> {
    tokio::time::timeout(timeout, get_json(addr, "/status"))
        .await
        .map_err(|_| ClientError::Request {
            addr: addr.to_string(),
            message: format!("no answer within {timeout:?}"),
        })?
}

/// `GET {path}` from the node at `addr`, decoded from JSON.
pub async fn get_json<T: DeserializeOwned>(addr: &str, path: &str) -> Result<T, ClientError> {
    let (status, body) = get_bytes(addr, path, Duration::from_secs(30)).await?;
    if status != 200 {
        return Err(ClientError::Status {
            addr: addr.to_string(),
            status,
            body: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
        addr: addr.to_string(),
        message: e.to_string(),
    })
}

/// [`get_status`] from a plain thread (the CLI, the demo): a small runtime of its own.
pub fn get_status_blocking(addr: &str, timeout: Duration) -> Result<NodeStatus, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Request {
            addr: addr.to_string(),
            message: e.to_string(),
        })?;
    runtime.block_on(get_status(addr, timeout))
}
