//! The guard on a real listener: strangers, wrong targets, foreign clusters and garbage are
//! refused with the right status, counted and logged, and the node keeps serving.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use openraft::error::RPCError;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{VoteRequest, VoteResponse};
use openraft::{BasicNode, Vote};
use redoflow_checkpoint::codec::{decode_value, encode_value};
use redoflow_checkpoint::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::client::Network;
use super::*;
use crate::{RaftNode, RaftNodeConfig};

const SECRET: &str = "the secret of the network tests";

/// One initialised node serving its router on a loopback port.
async fn serve_one(dir: &std::path::Path, id: u64) -> (RaftNode, String, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_on(listener, dir, id).await
}

/// [`serve_one`] on the given listener.
async fn serve_on(
    listener: TcpListener,
    dir: &std::path::Path,
    id: u64,
) -> (RaftNode, String, CancellationToken) {
    let addr = listener.local_addr().unwrap().to_string();
    let node = RaftNode::start(RaftNodeConfig {
        node_id: NodeId(id),
        listen_addr: addr.clone(),
        data_dir: dir.join(format!("node-{id}")),
        secret: Secret::from_bytes(SECRET, "test").unwrap(),
        election_timeout: Duration::from_millis(300),
        heartbeat_interval: Duration::from_millis(50),
        history: 10,
        faults: None,
    })
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let app = node
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = stop.clone().cancelled_owned();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    });
    let members = BTreeMap::from([(NodeId(id), addr.clone())]);
    assert!(node.initialize_if_first(members).await.unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.cluster_id().is_none() {
        assert!(
            Instant::now() < deadline,
            "node {id} never learned its cluster id"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (node, addr, stop)
}

/// Sends raw bytes and returns whatever comes back before the server closes or goes quiet.
async fn raw(addr: &str, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                answer.extend_from_slice(&buf[..n]);
                // One response is all these requests get.
                if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_refuses_strangers_foreigners_and_garbage_and_the_node_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (node, addr, stop) = serve_one(dir.path(), 1).await;
    let (other, other_addr, other_stop) = serve_one(dir.path(), 2).await;
    let cluster = node.cluster_id().unwrap();
    let foreign = other.cluster_id().unwrap();
    assert_ne!(cluster, foreign, "two clusters of other members");

    let transport = Transport::new();
    let secret = Secret::from_bytes(SECRET, "test").unwrap();
    let vote = encode_value(&VoteRequest::<u64>::new(Vote::new(1, 2), None));
    let post = |secret: Secret, to: u64, cluster_id: Option<String>, body: Vec<u8>| {
        let (transport, addr) = (transport.clone(), addr.clone());
        async move {
            transport
                .post(
                    &secret,
                    Outgoing {
                        addr: &addr,
                        path: PATH_VOTE,
                        from: Some(2),
                        to,
                        cluster_id: cluster_id.as_deref(),
                        body,
                    },
                )
                .await
                .unwrap()
        }
    };

    // A valid request is answered with openraft's answer.
    let (status, body) = post(secret.clone(), 1, Some(cluster.clone()), vote.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let answer: Result<VoteResponse<u64>, openraft::error::RaftError<u64>> =
        decode_value(&body).unwrap();
    assert!(answer.is_ok());

    // The wrong secret, and no proof at all: 401, counted.
    assert_eq!(node.auth_failures(), 0);
    let wrong = Secret::from_bytes("another secret, not the cluster's", "test").unwrap();
    let (status, _) = post(wrong, 1, Some(cluster.clone()), vote.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let answer = raw(
        &addr,
        b"POST /raft/vote HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    // A valid proof for another path does not open this one.
    let proof = secret.prove(&Signed {
        method: "POST",
        path: PATH_APPEND,
        from: Some(2),
        to: 1,
        cluster_id: None,
        body: b"",
    });
    let answer = raw(
        &addr,
        format!(
            "POST /raft/vote HTTP/1.1\r\nHost: x\r\n{FROM}: 2\r\n{TO}: 1\r\n{PROOF}: {proof}\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    assert_eq!(node.auth_failures(), 3);

    // The right secret sent to the wrong node, or from another cluster: 409, not counted.
    let (status, body) = post(secret.clone(), 7, Some(cluster.clone()), vote.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(String::from_utf8_lossy(&body), "this is node 1, not node 7");
    let (status, body) = post(secret.clone(), 1, Some(foreign.clone()), vote.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let message = String::from_utf8_lossy(&body);
    assert!(
        message.contains("member lists differ") && message.contains(&foreign),
        "{message}"
    );
    // A sender that knows no cluster id yet is accepted.
    let (status, _) = post(secret.clone(), 1, None, vote.clone()).await;
    assert_eq!(status, StatusCode::OK);

    // Garbage: a body that does not decode, bytes that are not HTTP.
    let (status, _) = post(
        secret.clone(),
        1,
        Some(cluster.clone()),
        b"RFCK\x01\x00junk".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(secret.clone(), 1, Some(cluster.clone()), vec![0xff; 3]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let answer = raw(
        &addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    let answer = raw(
        &addr,
        b"GET /raft/whoami HTTP/1.1\r\nContent-Length: zebra\r\n\r\n",
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer:?}"
    );
    assert_eq!(node.auth_failures(), 3);

    // Still serving: whoami names the node, and Raft RPCs work.
    let me: WhoAmI = {
        let (status, body) = transport.get(&addr, PATH_WHOAMI).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        decode_value(&body).unwrap()
    };
    assert_eq!(me.node_id, NodeId(1));
    assert_eq!(me.cluster_id.as_deref(), Some(cluster.as_str()));
    assert_eq!(me.addr, addr);
    let again = crate::admin::whoami(&addr).await.unwrap();
    assert_eq!(again, me, "one process answers one instance id");
    assert_ne!(
        crate::admin::whoami(&other_addr).await.unwrap().instance_id,
        me.instance_id
    );
    let (status, _) = post(secret, 1, Some(cluster), vote).await;
    assert_eq!(status, StatusCode::OK);

    stop.cancel();
    other_stop.cancel();
    node.shutdown().await.unwrap();
    other.shutdown().await.unwrap();
}

/// Log lines written while the guard lives (this thread only).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_that_is_down_is_logged_when_it_goes_and_when_it_is_back_not_at_every_retry() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    );
    // A port with nothing behind it, for now.
    let parked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = parked.local_addr().unwrap().to_string();
    drop(parked);

    let mut network = Network::new(
        2,
        Secret::from_bytes(SECRET, "test").unwrap(),
        Arc::new(OnceLock::new()),
        None,
        Arc::new(Contacts::default()),
    );
    let mut peer = network
        .new_client(1, &BasicNode { addr: addr.clone() })
        .await;
    let option = RPCOption::new(Duration::from_secs(2));
    let vote = || VoteRequest::<u64>::new(Vote::new(1, 2), None);
    for _ in 0..5 {
        let answer = peer.vote(vote(), option.clone()).await;
        assert!(
            matches!(answer, Err(RPCError::Unreachable(_))),
            "{answer:?}"
        );
    }
    assert_eq!(
        logs.count("cannot reach a peer"),
        1,
        "once for five attempts"
    );
    assert_eq!(logs.count("a peer answers again"), 0);

    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind(&addr).await.unwrap();
    let (_node, _, stop) = serve_on(listener, dir.path(), 1).await;
    for _ in 0..3 {
        let answer = peer.vote(vote(), option.clone()).await;
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(
        logs.count("a peer answers again"),
        1,
        "once when it is back"
    );
    assert_eq!(logs.count("cannot reach a peer"), 1);
    stop.cancel();
}

#[tokio::test(flavor = "current_thread")]
async fn backoff_doubles_from_a_quarter_second_to_the_cap() {
    let mut network = Network::new(
        2,
        Secret::from_bytes(SECRET, "test").unwrap(),
        Arc::new(OnceLock::new()),
        None,
        Arc::new(Contacts::default()),
    );
    let peer = network
        .new_client(
            1,
            &BasicNode {
                addr: "127.0.0.1:1".into(),
            },
        )
        .await;
    let waits: Vec<u128> = peer.backoff().take(6).map(|d| d.as_millis()).collect();
    assert_eq!(waits, [250, 500, 1000, 2000, 2000, 2000]);
}
