//! The node's HTTP surface beside Raft's routes — `GET /status` (JSON), `GET /metrics`
//! (Prometheus text), `GET /` (the status page) — for a cluster node on `cluster.listen` and
//! for a single node on `[http] listen`; and the small client the CLI and `redoflow demo`
//! read it with.

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
use tokio_util::sync::CancellationToken;

use crate::node::{status_of, Shared};
use crate::pipeline::Progress;
use crate::status::{CheckpointSummary, NodeStatus};
use crate::telemetry::{self, Telemetry, Totals};

/// The status page: one self-contained file (no external assets), reading `/status`.
const STATUS_PAGE: &str = include_str!("status_page.html");

/// What the routes read: a node's status and its counters.
pub(crate) trait View: Send + Sync + 'static {
    fn status(&self) -> NodeStatus;
    fn totals(&self) -> Totals;
}

/// A cluster node's view: Raft and what its controller shares.
pub(crate) struct ClusterView {
    pub(crate) raft: RaftNode,
    pub(crate) shared: Arc<Shared>,
}

impl View for ClusterView {
    fn status(&self) -> NodeStatus {
        status_of(&self.raft, &self.shared)
    }

    fn totals(&self) -> Totals {
        self.shared.totals()
    }
}

/// `GET /status`, `GET /metrics` and `GET /` over `view`.
pub(crate) fn status_router(view: Arc<dyn View>) -> Router {
    let status = {
        let view = view.clone();
        move || {
            let view = view.clone();
            async move {
                match serde_json::to_vec(&view.status()) {
                    Ok(body) => {
                        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
                    }
                    Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
                }
            }
        }
    };
    let metrics = move || {
        let view = view.clone();
        async move {
            match crate::metrics::encode(&view.status(), &view.totals()) {
                Ok(body) => {
                    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
                }
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
            }
        }
    };
    let page = || async {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            STATUS_PAGE,
        )
    };
    Router::new()
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/", get(page))
}

/// A single node's view (`redoflow run`): one run's counters, no cluster.
struct SingleView {
    progress: Arc<Progress>,
    telemetry: Telemetry,
}

impl View for SingleView {
    fn status(&self) -> NodeStatus {
        let p = &self.progress;
        let now = crate::now_unix_ms();
        let recent = self.progress.recent_checkpoints();
        let checkpoints: Vec<CheckpointSummary> = recent
            .iter()
            .rev()
            .map(|c| CheckpointSummary {
                id: c.id,
                term: c.term,
                resume_scn: 0,
                created_at_ms: c.created_at_ms,
                age_ms: now.saturating_sub(c.created_at_ms),
                duration_ms: Some(c.duration.as_millis() as u64),
                files: c.files,
                rows: c.rows,
            })
            .collect();
        let resume_scn = p.resume_scn.load(std::sync::atomic::Ordering::Relaxed);
        let last_checkpoint = recent.last().map(|c| crate::status::CheckpointStatus {
            id: c.id,
            term: c.term,
            resume_scn,
            created_at_ms: c.created_at_ms,
            files: c.files,
            rows: c.rows,
        });
        let mut checkpoints = checkpoints;
        if let Some(newest) = checkpoints.first_mut() {
            newest.resume_scn = resume_scn;
        }
        let load = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
        NodeStatus {
            role: "single".into(),
            last_checkpoint,
            pipeline: Some(crate::status::PipelineStatus {
                running: true,
                rounds: load(&p.rounds),
                rows_read: load(&p.rows_read),
                transactions: load(&p.transactions),
                changes_written: load(&p.changes_written),
                read_scn: load(&p.read_scn),
                current_scn: load(&p.current_scn),
                checkpoints: load(&p.checkpoints),
            }),
            version: env!("CARGO_PKG_VERSION").to_string(),
            unix_ms: now,
            source: Some(telemetry::source_status(
                p,
                true,
                self.telemetry.rates(),
                now,
            )),
            checkpoints,
            throughput: self.telemetry.throughput(),
            ..NodeStatus::default()
        }
    }

    fn totals(&self) -> Totals {
        self.telemetry.totals(Some(&self.progress))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP server's runtime: {0}")]
    Runtime(std::io::Error),
}

/// `/status`, `/metrics` and `/` of a single node (`redoflow run` with `[http] listen`),
/// served on a runtime of its own until dropped.
#[derive(Debug)]
pub struct StatusServer {
    addr: std::net::SocketAddr,
    stop: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StatusServer {
    /// Binds `listen` and serves `progress` (the run's counters) from there.
    pub fn start(listen: &str, progress: Arc<Progress>) -> Result<StatusServer, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("redoflow-http")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let listen_err = |source| ServeError::Listen {
            addr: listen.to_string(),
            source,
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(listen_err)?;
        let addr = listener.local_addr().map_err(listen_err)?;
        let view = Arc::new(SingleView {
            progress,
            telemetry: Telemetry::default(),
        });
        let stop = CancellationToken::new();
        {
            let view = view.clone();
            let stop = stop.clone();
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => view
                            .telemetry
                            .sample(Some(&view.progress), crate::now_unix_ms()),
                        _ = stop.cancelled() => return,
                    }
                }
            });
        }
        let router = status_router(view);
        let shutdown = stop.clone();
        runtime.spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the HTTP listener stopped");
            }
        });
        tracing::info!(%addr, "serving /status, /metrics and the status page");
        Ok(StatusServer {
            addr,
            stop,
            runtime: Some(runtime),
        })
    }

    /// The address served (the real port when `listen` named port 0).
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// `GET /cluster/members`: the member list of this node's config ([`ConfiguredMembers`]),
/// which the node that initialises a new cluster compares with its own.
pub(crate) fn members_router(members: ConfiguredMembers) -> Router {
    Router::new().route(
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
        let response = client
            .get(uri)
            .await
            .map_err(|e| err(request_failure(&e)))?;
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

/// What a failed request says: hyper's own message ("client error (Connect)") names no cause,
/// so the causes are added, and a refused connection says what is likely wrong.
fn request_failure(e: &hyper_util::client::legacy::Error) -> String {
    let mut message = if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    if e.is_connect() {
        message.push_str(" (is a redoflow node listening there?)");
    }
    message
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
