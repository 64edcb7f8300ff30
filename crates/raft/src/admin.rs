//! Client functions for operators (`redoflow cluster add|remove`) and for the root's start-up
//! check that no other process serves a node id ([`whoami`]).
//!
//! The membership calls go to any node: a node that does not lead answers with the leader's
//! address, and the call follows it once.

use std::time::Duration;

use hyper::StatusCode;
use redoflow_checkpoint::codec::{decode_value, encode_value};
use redoflow_checkpoint::NodeId;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use crate::network::WhoAmI;
use crate::network::{
    AddMember, AdminReply, Outgoing, RemoveMember, Transport, PATH_ADD, PATH_REMOVE, PATH_WHOAMI,
};
use crate::{RaftError, Secret};

/// How long an admin call may take, the new member's catching up included.
const CALL_TIMEOUT: Duration = Duration::from_secs(150);

fn transport_error(addr: &str, e: impl std::fmt::Display) -> RaftError {
    RaftError::Transport {
        addr: addr.to_string(),
        message: e.to_string(),
    }
}

fn decode<T: DeserializeOwned>(
    addr: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, RaftError> {
    if status != StatusCode::OK {
        return Err(RaftError::Refused {
            addr: addr.to_string(),
            status: status.as_u16(),
            message: String::from_utf8_lossy(body).into_owned(),
        });
    }
    decode_value(body)
        .map_err(|e| transport_error(addr, format!("the answer does not decode: {e}")))
}

async fn whoami_with(transport: &Transport, node_addr: &str) -> Result<WhoAmI, RaftError> {
    let (status, body) = transport
        .get(node_addr, PATH_WHOAMI)
        .await
        .map_err(|e| transport_error(node_addr, e))?;
    decode(node_addr, status, &body)
}

/// Asks the process at `node_addr` which node it is (unauthenticated).
pub async fn whoami(node_addr: &str) -> Result<WhoAmI, RaftError> {
    tokio::time::timeout(CALL_TIMEOUT, whoami_with(&Transport::new(), node_addr))
        .await
        .map_err(|_| RaftError::Timeout {
            what: format!("asking {node_addr} who it is"),
            after: CALL_TIMEOUT,
        })?
}

/// Sends one admin request to the node at `addr`, following a leader hint once.
async fn admin_call<B: Serialize>(
    secret: &Secret,
    node_addr: &str,
    path: &str,
    request: &B,
) -> Result<(), RaftError> {
    let transport = Transport::new();
    let mut addr = node_addr.to_string();
    for attempt in 0..2 {
        let me = whoami_with(&transport, &addr).await?;
        let (status, body) = transport
            .post(
                secret,
                Outgoing {
                    addr: &addr,
                    path,
                    from: None,
                    to: me.node_id.0,
                    cluster_id: me.cluster_id.as_deref(),
                    body: encode_value(request),
                },
            )
            .await
            .map_err(|e| transport_error(&addr, e))?;
        match decode::<AdminReply>(&addr, status, &body)? {
            AdminReply::Done => return Ok(()),
            AdminReply::Failed { message } => {
                return Err(RaftError::Refused {
                    addr,
                    status: status.as_u16(),
                    message,
                })
            }
            AdminReply::NotLeader {
                leader,
                leader_addr,
            } => match leader_addr {
                Some(next) if attempt == 0 && next != addr => addr = next,
                _ => {
                    return Err(RaftError::NotLeader {
                        node: me.node_id,
                        leader_hint: leader,
                        leader_addr,
                    })
                }
            },
        }
    }
    unreachable!("the loop returns on its second attempt")
}

async fn within(
    what: String,
    call: impl std::future::Future<Output = Result<(), RaftError>>,
) -> Result<(), RaftError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| RaftError::Timeout {
            what,
            after: CALL_TIMEOUT,
        })?
}

/// Adds node `id` at `member_addr` to the cluster `node_addr` belongs to (any member; the call
/// follows the leader). Returns once the new node has caught up and votes.
pub async fn add_member(
    node_addr: &str,
    secret: &Secret,
    id: NodeId,
    member_addr: &str,
) -> Result<(), RaftError> {
    let request = AddMember {
        id,
        addr: member_addr.to_string(),
    };
    within(
        format!("adding node {id} through {node_addr}"),
        admin_call(secret, node_addr, PATH_ADD, &request),
    )
    .await
}

/// Removes node `id` from the cluster `node_addr` belongs to (any member; the call follows the
/// leader).
pub async fn remove_member(node_addr: &str, secret: &Secret, id: NodeId) -> Result<(), RaftError> {
    within(
        format!("removing node {id} through {node_addr}"),
        admin_call(secret, node_addr, PATH_REMOVE, &RemoveMember { id }),
    )
    .await
}
