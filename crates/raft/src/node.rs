//! [`RaftNode`]: one member of the group, as the root crate drives it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::{Duration, SystemTime};

use openraft::error::{ClientWriteError, InitializeError};
use openraft::metrics::RaftMetrics;
use openraft::{BasicNode, ChangeMembers, Raft, ServerState, SnapshotPolicy};
use redoflow_checkpoint::{Checkpoint, NodeId, SourceFingerprint, Term};
use tokio_util::sync::CancellationToken;

use crate::network::client::Network;
use crate::network::server::{self, GuardLog};
use crate::network::{Contacts, Faults, Secret};
use crate::state::{ClusterState, Refusal, Request, Response};
use crate::store::{self, StoreHandle};
use crate::{RaftCheckpointStore, RaftError, TypeConfig};

/// A snapshot is built after this many log entries since the last one. With the default history
/// of 1000 checkpoints a snapshot is a few hundred KiB, so this writes far less than the log.
const SNAPSHOT_EVERY: u64 = 500;
/// Entries kept in the log behind the snapshot: a follower that falls fewer entries behind
/// catches up from the log, not from a snapshot.
const LOGS_KEPT: u64 = 200;
/// Entries purged at once: each purge flushes once, so it happens in batches.
const PURGE_BATCH: u64 = 100;
/// Snapshot chunk size on the wire (a whole snapshot of the default history is one chunk).
const SNAPSHOT_CHUNK: u64 = 1 << 20;
/// A learner counts as caught up once it is within this many entries of the leader.
const CAUGHT_UP_LAG: u64 = 8;
/// How long membership changes and fingerprint proposals may take: adding a member includes
/// its catching up.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(120);

/// How one node runs. The root composes it from the `[cluster]` config section.
#[derive(Clone, Debug)]
pub struct RaftNodeConfig {
    /// This node's id; unique in the cluster.
    pub node_id: NodeId,
    /// The address (`host:port`) peers reach this node's [`RaftNode::router`] at. The root binds
    /// and serves it; this crate only advertises it.
    pub listen_addr: String,
    /// The node's state dir; the Raft store lives in `data_dir/raft`.
    pub data_dir: PathBuf,
    /// The cluster secret every RPC proves.
    pub secret: Secret,
    /// The shortest election timeout; the longest is twice it. Must exceed the heartbeat.
    pub election_timeout: Duration,
    /// How often the leader sends heartbeats.
    pub heartbeat_interval: Duration,
    /// How many committed checkpoints the state keeps (at least 1).
    pub history: usize,
    /// Injected network faults (in-process tests); `None` in production.
    pub faults: Option<Faults>,
}

/// A running member of the Raft group. Cheap to clone; all clones are the same node.
#[derive(Clone)]
pub struct RaftNode {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) id: u64,
    pub(crate) addr: String,
    raft: Raft<TypeConfig>,
    state: Arc<RwLock<ClusterState>>,
    pub(crate) cluster_id: Arc<OnceLock<String>>,
    pub(crate) secret: Secret,
    pub(crate) instance_id: u64,
    pub(crate) guard: GuardLog,
    /// When each peer was last heard from.
    pub(crate) contacts: Arc<Contacts>,
    /// Times this node saw another node (or none) lead, counted by a task that watches the
    /// metrics.
    leader_changes: Arc<AtomicU64>,
    runtime: tokio::runtime::Handle,
    /// Bumped by each [`RaftNode::resign`], so only the newest one re-enables elections.
    resign_generation: AtomicU64,
    store: StoreHandle,
}

impl fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaftNode")
            .field("node_id", &self.inner.id)
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A random id for this process: std's hasher keys are random per process.
fn random_instance_id() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

/// Counts changes of the known leader until the Raft core stops (its metrics channel closes).
async fn count_leader_changes(
    mut metrics: tokio::sync::watch::Receiver<RaftMetrics<u64, BasicNode>>,
    changes: Arc<AtomicU64>,
) {
    let mut known = metrics.borrow().current_leader;
    while metrics.changed().await.is_ok() {
        let now = metrics.borrow().current_leader;
        if now != known {
            known = now;
            changes.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Who leads, as this node's metrics see it.
struct Leadership {
    is_leader: bool,
    term: u64,
    leader: Option<u64>,
    leader_addr: Option<String>,
}

impl RaftNode {
    /// Opens the store under `data_dir/raft` and starts the Raft core on the current tokio
    /// runtime. It does not bind the listener: the root serves [`RaftNode::router`] on
    /// `listen_addr`.
    pub async fn start(config: RaftNodeConfig) -> Result<RaftNode, RaftError> {
        let RaftNodeConfig {
            node_id,
            listen_addr,
            data_dir,
            secret,
            election_timeout,
            heartbeat_interval,
            history,
            faults,
        } = config;
        if heartbeat_interval < Duration::from_millis(1) || election_timeout <= heartbeat_interval {
            return Err(RaftError::Config {
                message: format!(
                    "the election timeout ({election_timeout:?}) must exceed the heartbeat \
                     interval ({heartbeat_interval:?}), which must be at least 1ms"
                ),
            });
        }
        if history == 0 {
            return Err(RaftError::Config {
                message: "the checkpoint history must keep at least 1 checkpoint".into(),
            });
        }
        let election = millis(election_timeout);
        let raft_config = openraft::Config {
            cluster_name: "redoflow".into(),
            election_timeout_min: election,
            election_timeout_max: election.saturating_mul(2),
            heartbeat_interval: millis(heartbeat_interval),
            // A snapshot chunk may take longer than a heartbeat on a busy network.
            install_snapshot_timeout: election.saturating_mul(2).max(1000),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY),
            max_in_snapshot_log_to_keep: LOGS_KEPT,
            purge_batch_size: PURGE_BATCH,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK,
            replication_lag_threshold: CAUGHT_UP_LAG,
            ..Default::default()
        }
        .validate()
        .map_err(|e| RaftError::Config {
            message: e.to_string(),
        })?;

        let opened = store::open(&data_dir.join("raft"), history).await?;
        let contacts = Arc::new(Contacts::default());
        let network = Network::new(
            node_id.0,
            secret.clone(),
            opened.cluster_id.clone(),
            faults,
            contacts.clone(),
        );
        let raft = Raft::new(
            node_id.0,
            Arc::new(raft_config),
            network,
            opened.log,
            opened.sm,
        )
        .await
        .map_err(|e| RaftError::Stopped {
            node: node_id,
            message: e.to_string(),
        })?;
        tracing::info!(node_id = node_id.0, addr = %listen_addr, "raft node started");
        let leader_changes = Arc::new(AtomicU64::new(0));
        tokio::spawn(count_leader_changes(raft.metrics(), leader_changes.clone()));
        Ok(RaftNode {
            inner: Arc::new(Inner {
                id: node_id.0,
                addr: listen_addr,
                raft,
                state: opened.state,
                cluster_id: opened.cluster_id,
                secret,
                instance_id: random_instance_id(),
                guard: GuardLog::default(),
                contacts,
                leader_changes,
                runtime: tokio::runtime::Handle::current(),
                resign_generation: AtomicU64::new(0),
                store: opened.handle,
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.runtime
    }

    /// A random id of this process, as `/raft/whoami` answers it: two processes claiming one
    /// node id answer different ones.
    pub fn instance_id(&self) -> u64 {
        self.inner.instance_id
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.inner.id)
    }

    /// The openraft handle: metrics (`raft().metrics()`), triggers, and everything this crate
    /// does not wrap.
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.inner.raft
    }

    /// A copy of the state as applied on this node (a follower's may lag the leader's).
    pub fn state(&self) -> ClusterState {
        self.inner
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The last checkpoint applied on this node, without copying the rest of the state.
    pub fn last_checkpoint(&self) -> Option<Checkpoint> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }

    /// The cluster id, once this node has applied (or received in a snapshot) the membership the
    /// cluster was initialised with.
    pub fn cluster_id(&self) -> Option<String> {
        self.inner.cluster_id.get().cloned()
    }

    /// Requests refused for a missing or wrong proof of the secret since start.
    pub fn auth_failures(&self) -> u64 {
        self.inner.guard.auth_failures()
    }

    /// How long ago each peer was last heard from: for a leader, the last answer of each
    /// follower to an RPC; for a follower, the last request of the leader (or of a candidate).
    /// Peers never heard from since start are absent.
    pub fn last_contacts(&self) -> BTreeMap<NodeId, Duration> {
        self.inner.contacts.ages()
    }

    /// How often the leader this node knows of changed since start: a new leader, or none
    /// after one (an election in progress), each counts once.
    pub fn leader_changes(&self) -> u64 {
        self.inner.leader_changes.load(Ordering::Relaxed)
    }

    /// The source fingerprint the cluster agreed on, if any (without copying the rest of the
    /// state).
    pub fn fingerprint(&self) -> Option<SourceFingerprint> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .fingerprint
            .clone()
    }

    /// The last `n` checkpoints applied on this node, oldest first, without copying the rest
    /// of the state.
    pub fn recent_checkpoints(&self, n: usize) -> Vec<Checkpoint> {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        let skip = state.checkpoints.len().saturating_sub(n);
        state.checkpoints.iter().skip(skip).cloned().collect()
    }

    /// The node's routes (Raft RPCs, admin, whoami) with the node applied as state. The root
    /// merges its own routes into it and serves it on `listen_addr`.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }

    fn leadership(&self) -> Leadership {
        let metrics = self.inner.raft.metrics();
        let m: &RaftMetrics<u64, BasicNode> = &metrics.borrow();
        let leader_addr = m
            .current_leader
            .and_then(|id| m.membership_config.membership().get_node(&id))
            .map(|n| n.addr.clone());
        Leadership {
            is_leader: m.state == ServerState::Leader && m.current_leader == Some(self.inner.id),
            term: m.current_term,
            leader: m.current_leader,
            leader_addr,
        }
    }

    /// Fails with `NotLeader` (naming the leader when known) unless this node leads; returns the
    /// current term.
    pub(crate) fn ensure_leader(&self) -> Result<Term, RaftError> {
        let l = self.leadership();
        if l.is_leader {
            Ok(Term(l.term))
        } else {
            Err(RaftError::NotLeader {
                node: self.node_id(),
                leader_hint: l.leader.map(NodeId),
                leader_addr: l.leader_addr,
            })
        }
    }

    pub(crate) fn stopped(&self, e: impl fmt::Display) -> RaftError {
        RaftError::Stopped {
            node: self.node_id(),
            message: e.to_string(),
        }
    }

    /// Maps openraft's write errors: a forward to the leader is `NotLeader`.
    pub(crate) fn write_error(
        &self,
        e: openraft::error::RaftError<u64, ClientWriteError<u64, BasicNode>>,
    ) -> RaftError {
        match e {
            openraft::error::RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                RaftError::NotLeader {
                    node: self.node_id(),
                    leader_hint: f.leader_id.map(NodeId),
                    leader_addr: f.leader_node.map(|n| n.addr),
                }
            }
            openraft::error::RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                RaftError::Membership {
                    message: e.to_string(),
                }
            }
            openraft::error::RaftError::Fatal(f) => self.stopped(f),
        }
    }

    async fn within<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, RaftError>>,
    ) -> Result<T, RaftError> {
        tokio::time::timeout(ADMIN_TIMEOUT, fut)
            .await
            .map_err(|_| RaftError::Timeout {
                what: what.to_string(),
                after: ADMIN_TIMEOUT,
            })?
    }

    /// Initialises the cluster with `members` (id → `host:port`) if this node has the lowest id,
    /// its log is empty and it never voted: the one way a cluster comes into being. Returns
    /// whether it did. Any other node, and this node after a restart, does nothing, so every
    /// node can call it at every start.
    pub async fn initialize_if_first(
        &self,
        members: BTreeMap<NodeId, String>,
    ) -> Result<bool, RaftError> {
        match members.keys().next() {
            Some(lowest) if lowest.0 == self.inner.id => {}
            _ => return Ok(false),
        }
        let pristine = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            m.last_log_index.is_none() && m.current_term == 0
        };
        if !pristine
            || self
                .raft()
                .is_initialized()
                .await
                .map_err(|e| self.stopped(e))?
        {
            return Ok(false);
        }
        let nodes: BTreeMap<u64, BasicNode> = members
            .iter()
            .map(|(id, addr)| (id.0, BasicNode::new(addr)))
            .collect();
        match self.raft().initialize(nodes).await {
            Ok(()) => {
                tracing::info!(node_id = self.inner.id, ?members, "cluster initialised");
                Ok(true)
            }
            Err(openraft::error::RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(false),
            Err(openraft::error::RaftError::APIError(InitializeError::NotInMembers(e))) => {
                Err(RaftError::Config {
                    message: e.to_string(),
                })
            }
            Err(openraft::error::RaftError::Fatal(f)) => Err(self.stopped(f)),
        }
    }

    /// Records `fingerprint` as the cluster's source, or checks it against the one recorded.
    /// Leader only. A different recorded fingerprint is `FingerprintDiffers` with one line per
    /// differing setting.
    pub async fn propose_fingerprint(
        &self,
        fingerprint: SourceFingerprint,
    ) -> Result<(), RaftError> {
        self.ensure_leader()?;
        self.within("proposing the source fingerprint", async {
            let response = self
                .raft()
                .client_write(Request::SetFingerprint(fingerprint))
                .await
                .map_err(|e| self.write_error(e))?;
            match response.data {
                Response::FingerprintSet => Ok(()),
                Response::Refused(Refusal::FingerprintDiffers { differences }) => {
                    Err(RaftError::FingerprintDiffers { differences })
                }
                other => Err(self.stopped(format!(
                    "the state machine answered {other:?} to a fingerprint"
                ))),
            }
        })
        .await
    }

    /// The cluster's [`redoflow_checkpoint::CheckpointStore`] for a leader of term `term`:
    /// commits fail once this node is no longer the leader of that term, or when `cancel` fires,
    /// or after `timeout` without a majority.
    pub fn checkpoint_store(
        &self,
        term: Term,
        cancel: CancellationToken,
        timeout: Duration,
    ) -> RaftCheckpointStore {
        RaftCheckpointStore::new(self.clone(), term, cancel, timeout)
    }

    /// Adds node `id` at `addr`: first as a learner, then, once it has caught up, as a voter.
    /// Leader only (`NotLeader` names the leader). Adding a member that is already one at the
    /// same address changes nothing; at another address it is refused (remove it first).
    pub async fn add_member(&self, id: NodeId, addr: String) -> Result<(), RaftError> {
        self.ensure_leader()?;
        let known = self
            .inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id.0)
            .map(|n| n.addr.clone());
        if let Some(known) = known.filter(|known| *known != addr) {
            return Err(RaftError::Membership {
                message: format!(
                    "node {id} is already a member at {known}, not {addr}; remove it first"
                ),
            });
        }
        self.within("adding a member", async {
            tracing::info!(node_id = id.0, %addr, "adding a learner");
            let added = self
                .raft()
                .add_learner(id.0, BasicNode::new(addr.as_str()), true)
                .await
                .map_err(|e| self.write_error(e))?;
            // openraft's own wait counts a learner within `replication_lag_threshold` entries as
            // caught up — on a short log, one that has received nothing, or is not even
            // running. A voter that cannot vote yet would cost the cluster its majority: wait
            // until the learner holds the entry that made it a learner.
            let wanted = added.log_id.index;
            self.raft()
                .wait(None)
                .metrics(
                    |m| {
                        m.replication
                            .as_ref()
                            .and_then(|r| r.get(&id.0))
                            .is_some_and(|matched| matched.is_some_and(|l| l.index >= wanted))
                    },
                    "the new learner to receive its membership",
                )
                .await
                .map_err(|e| self.stopped(e))?;
            tracing::info!(node_id = id.0, "learner caught up; making it a voter");
            self.raft()
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id.0])), false)
                .await
                .map_err(|e| self.write_error(e))?;
            Ok(())
        })
        .await
    }

    /// Removes node `id` from the membership (as a voter and as a learner). Leader only. Removing
    /// a node that is not a member changes nothing. The removed process should be stopped: it
    /// is no longer sent anything.
    pub async fn remove_member(&self, id: NodeId) -> Result<(), RaftError> {
        self.ensure_leader()?;
        let (is_voter, is_node) = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            (
                membership.voter_ids().any(|v| v == id.0),
                membership.get_node(&id.0).is_some(),
            )
        };
        let change = if is_voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id.0]))
        } else if is_node {
            ChangeMembers::RemoveNodes(BTreeSet::from([id.0]))
        } else {
            return Ok(());
        };
        self.within("removing a member", async {
            tracing::info!(node_id = id.0, "removing a member");
            self.raft()
                .change_membership(change, false)
                .await
                .map_err(|e| self.write_error(e))?;
            Ok(())
        })
        .await
    }

    /// Steps aside for `for_`: this node sends no heartbeats and starts no elections, so the
    /// followers' election timers run out and one of them takes over; then it takes part again.
    /// openraft 0.9 has no leadership transfer; this is the way to hand leadership on. A later
    /// call extends the period.
    pub fn resign(&self, for_: Duration) {
        let generation = self.inner.resign_generation.fetch_add(1, Ordering::SeqCst) + 1;
        let config = self.inner.raft.runtime_config();
        config.heartbeat(false);
        config.elect(false);
        tracing::info!(
            node_id = self.inner.id,
            ?for_,
            "resigning: no heartbeats or elections"
        );
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        self.inner.runtime.spawn(async move {
            tokio::time::sleep(for_).await;
            let Some(inner) = weak.upgrade() else { return };
            if inner.resign_generation.load(Ordering::SeqCst) == generation {
                let config = inner.raft.runtime_config();
                config.heartbeat(true);
                config.elect(true);
                tracing::info!(node_id = inner.id, "resignation over: taking part again");
            }
        });
    }

    /// Stops the Raft core, flushes and closes the store: once it returns, the data dir can be
    /// opened again (a restart in the same process). Other clones of this node see a stopped
    /// node.
    pub async fn shutdown(&self) -> Result<(), RaftError> {
        self.inner
            .raft
            .shutdown()
            .await
            .map_err(|e| self.stopped(e))?;
        self.inner.store.close().await?;
        tracing::info!(node_id = self.inner.id, "raft node stopped");
        Ok(())
    }
}
