//! A cluster node (`redoflow node`): the only module that knows both Raft and the pipeline.
//!
//! Parts and how they fit:
//! - A [`RaftNode`] (crates/raft) replicates checkpoints; its routes and this node's status
//!   routes share one HTTP listener (`cluster.listen`).
//! - The *controller* (a thread) watches Raft's metrics every few milliseconds and starts or
//!   stops the pipeline: only the leader mines. On becoming leader it waits until everything
//!   in its log is applied (so the last committed checkpoint is final and no checkpoint of an
//!   earlier run can still commit behind its back), checks the source's fingerprint against
//!   the cluster's, and runs the pipeline in its term with a [`RaftCheckpointStore`]: the
//!   pipeline's recovery finishes committed files and deletes unfinished ones of its own and
//!   older terms, then mines from the last committed offset.
//! - A node that loses leadership, or leads without a majority's acknowledgement for the
//!   election timeout (a leader lease), aborts its run at once: no prepare, commit or rename
//!   after that. A deposed leader that has not noticed yet cannot commit either: its term is
//!   refused by the state machine, and the next leader's recovery removes what it left.
//! - A run that fails for any other reason restarts after `cluster.restart_delay`, for as long
//!   as this node leads.
//! - The health checks ([`crate::watch`] over [`crate::health`]) look at the node every
//!   `health.check_interval`: they raise and resolve alerts, and a stalled run is restarted
//!   or, stalled again, handed over ([`RaftNode::resign`]).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use openraft::ServerState;
use redoflow_checkpoint::{NodeId, SourceFingerprint, Term};
use redoflow_miner::LogSource;
use redoflow_raft::{Faults, RaftError, RaftNode, RaftNodeConfig, Secret};
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterConfig, Config, ConfigError};
use crate::health::LeaderView;
use crate::lock::DirLock;
use crate::pipeline::{self, Pacing, PipelineError, PipelineOptions, Progress};
use crate::status::{CheckpointStatus, LeadershipStatus, MemberStatus, NodeStatus, PipelineStatus};
use crate::stop::StopToken;
use crate::telemetry::{self, Telemetry, Totals};
use crate::watch::{Remedy, Watch};
use crate::{http, now_unix_ms, source};

/// How often the controller looks at Raft's metrics: the lease check's resolution, and the
/// delay before a new leader starts mining.
const TICK: Duration = Duration::from_millis(10);

/// Checkpoints kept in the replicated history.
const HISTORY: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Raft(#[from] RaftError),
    #[error("cannot listen on {addr}: {source} (is another node already running there?)")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("node id {id} is already served by another process at {addr}: two processes must never run as one node")]
    DuplicateId { id: u64, addr: String },
    #[error("the cluster cannot be initialised: {message}")]
    MembersDiffer { message: String },
    #[error("this node's source is not the database the cluster mines: {}", differences.join("; "))]
    FingerprintDiffers { differences: Vec<String> },
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    #[error("cannot start the node's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the node's leadership controller panicked (a bug; its message is in the log)")]
    Panicked,
    #[error("cannot read the source's identity: {0}")]
    Source(#[from] redoflow_miner::SourceError),
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertError),
}

/// Settings of a node that are not in the config file (tests).
#[derive(Clone, Debug, Default)]
pub struct NodeOptions {
    /// Injected network faults shared by the nodes of an in-process test cluster.
    pub faults: Option<Faults>,
    /// Never sleep between rounds (benchmarks on the unpaced simulator).
    pub unpaced: bool,
    /// Do not prepare the source on followers (a benchmark with every node on one machine,
    /// where the followers' simulators would compete with the leader's for the cores).
    pub no_standby_prepare: bool,
}

/// What the controller shares with the status page.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) leadership: Mutex<Option<LeadershipStatus>>,
    pub(crate) progress: Mutex<Option<Arc<Progress>>>,
    pub(crate) running: std::sync::atomic::AtomicBool,
    pub(crate) error: Mutex<Option<String>>,
    /// The `[[cluster.members]]` of this node's config, as `GET /cluster/members` answers
    /// (sorted by id).
    pub(crate) configured: Vec<(u64, String)>,
    /// Alerts raised now (health checks add and clear them; `/status` lists them).
    pub(crate) alerts: Mutex<Vec<crate::status::AlertStatus>>,
    /// Earlier runs' counters and throughput samples (`progress` is the current run).
    pub(crate) telemetry: Telemetry,
}

impl Shared {
    /// Makes `progress` the current run's, adding the one it replaces to the earlier runs.
    fn set_progress(&self, progress: Arc<Progress>) {
        let mut current = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = current.replace(progress) {
            self.telemetry.retire(&old);
        }
    }

    /// The current run's counters (none before the first run).
    pub(crate) fn current_progress(&self) -> Option<Arc<Progress>> {
        self.progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Everything this node counted, over all its runs.
    pub(crate) fn totals(&self) -> Totals {
        let current = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        self.telemetry.totals(current.as_deref())
    }

    /// A throughput sample (once a second).
    fn sample(&self) {
        let current = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        self.telemetry.sample(current.as_deref(), now_unix_ms());
    }
}

/// A running cluster node. [`Node::stop`] stops it gracefully (a leader takes a final
/// checkpoint), [`Node::join`] waits for the end.
#[derive(Debug)]
pub struct Node {
    raft: RaftNode,
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    stop: StopToken,
    controller: Option<JoinHandle<Result<(), NodeError>>>,
    server_stop: CancellationToken,
    addr: SocketAddr,
    /// Held for the node's life: released last, after Raft's store is closed.
    _lock: DirLock,
}

impl Node {
    /// Starts a node: binds `cluster.listen`, opens the Raft store, initialises an empty
    /// cluster if this is its lowest member, and starts the controller. Returns once the node
    /// serves its port.
    /// `stop` stops the node: gracefully (a leader takes a final checkpoint) or, aborted, at
    /// once.
    pub fn start(
        config: &Config,
        options: NodeOptions,
        stop: &StopToken,
    ) -> Result<Node, NodeError> {
        let cluster = config.validate_for_cluster()?.clone();
        let secret = match (&cluster.secret_file, &cluster.secret_env) {
            (Some(file), _) => Secret::from_file(file)?,
            (None, Some(var)) => Secret::from_env(var)?,
            (None, None) => unreachable!("validated: one secret source is set"),
        };
        // The node's own state is its alone; the shared output is kept apart by leadership and
        // terms, not by a lock.
        let lock = DirLock::acquire(&cluster.data_dir, "redoflow node: data dir")?;
        let fingerprint = source::fingerprint(config)?;
        let watch = Watch::new(config, cluster.node_id, cluster.members.len() > 1)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("redoflow-node{}", cluster.node_id))
            .enable_all()
            .build()
            .map_err(NodeError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&cluster.listen))
            .map_err(|source| NodeError::Listen {
                addr: cluster.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| NodeError::Listen {
            addr: cluster.listen.clone(),
            source,
        })?;
        let me = cluster.me().map(|m| m.addr.clone()).unwrap_or_default();
        let raft = runtime.block_on(RaftNode::start(RaftNodeConfig {
            node_id: NodeId(cluster.node_id),
            listen_addr: me,
            data_dir: cluster.data_dir.clone(),
            secret,
            election_timeout: cluster.election_timeout,
            heartbeat_interval: cluster.heartbeat_interval,
            history: HISTORY,
            faults: options.faults.clone(),
        }))?;
        let mut configured: Vec<(u64, String)> = cluster
            .members
            .iter()
            .map(|m| (m.id, m.addr.clone()))
            .collect();
        configured.sort();
        let shared = Arc::new(Shared {
            configured,
            ..Shared::default()
        });
        let server_stop = CancellationToken::new();
        let router = raft
            .router()
            .merge(http::status_router(Arc::new(http::ClusterView {
                raft: raft.clone(),
                shared: shared.clone(),
            })))
            .merge(http::members_router(http::ConfiguredMembers {
                node_id: cluster.node_id,
                members: shared.configured.clone(),
            }));
        runtime.spawn(sample_every_second(shared.clone(), server_stop.clone()));
        {
            let stop = server_stop.clone();
            runtime.spawn(async move {
                // With the peer's address, so a refused request names who sent it.
                let service = router.into_make_service_with_connect_info::<SocketAddr>();
                let served = axum::serve(listener, service)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the HTTP listener stopped");
                }
            });
        }
        check_no_twin(&runtime, &cluster, raft.instance_id())?;
        let stop = stop.clone();
        let controller = Controller {
            raft: raft.clone(),
            runtime: runtime.handle().clone(),
            config: config.clone(),
            cluster: cluster.clone(),
            fingerprint,
            shared: shared.clone(),
            stop: stop.clone(),
            pacing: if options.unpaced {
                Pacing::Unpaced
            } else {
                Pacing::Live
            },
            source: None,
            standby_prepare: !options.no_standby_prepare,
            watch: Some(watch),
            resigned_until: None,
            runs: 0,
        };
        let controller = std::thread::Builder::new()
            .name(format!("redoflow-leader{}", cluster.node_id))
            .spawn(move || controller.run())
            .map_err(NodeError::Runtime)?;
        tracing::info!(node_id = cluster.node_id, %addr, "node started");
        Ok(Node {
            _lock: lock,
            raft,
            runtime: Some(runtime),
            shared,
            stop,
            controller: Some(controller),
            server_stop,
            addr,
        })
    }

    /// The address the node serves (the real port when `listen` named port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Raft handle (tests look at its metrics).
    pub fn raft(&self) -> &RaftNode {
        &self.raft
    }

    /// What `GET /status` answers.
    pub fn status(&self) -> NodeStatus {
        status_of(&self.raft, &self.shared)
    }

    /// Waits until the node stopped (its stop token) or failed, then shuts Raft and the
    /// listener down. The error is the one that ended the node.
    pub fn join(mut self) -> Result<(), NodeError> {
        let result = match self.controller.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(NodeError::Panicked),
            None => Ok(()),
        };
        self.shutdown();
        result
    }

    fn shutdown(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            if let Err(e) = runtime.block_on(self.raft.shutdown()) {
                tracing::warn!(error = %e, "raft shutdown");
            }
            self.server_stop.cancel();
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.abort();
        if let Some(c) = self.controller.take() {
            let _ = c.join();
        }
        self.shutdown();
    }
}

/// Runs a node until `stop` asks for it: what `redoflow node` calls.
pub fn run(config: &Config, stop: &StopToken) -> Result<(), NodeError> {
    Node::start(config, NodeOptions::default(), stop)?.join()
}

/// Refuses to start when another process already answers as this node id: at this node's own
/// configured address (a copy of this node's config started on another host), or at another
/// member's address. Two processes with one id would be a split brain waiting to happen.
fn check_no_twin(
    runtime: &tokio::runtime::Runtime,
    cluster: &ClusterConfig,
    instance_id: u64,
) -> Result<(), NodeError> {
    for m in &cluster.members {
        let probe = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(500),
                redoflow_raft::admin::whoami(&m.addr),
            )
            .await
        });
        if let Ok(Ok(who)) = probe {
            if who.node_id.0 == cluster.node_id && who.instance_id != instance_id {
                return Err(NodeError::DuplicateId {
                    id: cluster.node_id,
                    addr: m.addr.clone(),
                });
            }
        }
    }
    Ok(())
}

/// What a run's thread returns: the source, to reuse, and how the run ended.
type RunEnd = (
    Option<Box<dyn LogSource>>,
    Result<pipeline::Summary, PipelineError>,
);

/// One pipeline run, in one term.
struct Run {
    /// Numbers the runs of this node (the health checks tell a new run from the last).
    id: u64,
    term: u64,
    stop: StopToken,
    cancel: CancellationToken,
    thread: JoinHandle<RunEnd>,
}

impl Run {
    /// Stops the run at once (a source call in progress is interrupted).
    fn abort(&self) {
        self.stop.abort();
        self.cancel.cancel();
    }
}

/// Starts and stops the pipeline as leadership comes and goes.
struct Controller {
    raft: RaftNode,
    runtime: tokio::runtime::Handle,
    config: Config,
    cluster: ClusterConfig,
    fingerprint: SourceFingerprint,
    shared: Arc<Shared>,
    stop: StopToken,
    pacing: Pacing,
    /// The source, kept between runs (a simulator or a file reader is cheaper to reuse than to
    /// open again); `None` while a run has it.
    source: Option<Box<dyn LogSource>>,
    standby_prepare: bool,
    watch: Option<Watch>,
    /// After stepping down: no run until then, while another node takes over.
    resigned_until: Option<Instant>,
    runs: u64,
}

/// How often a follower prepares its source for a takeover.
const WARM_EVERY: Duration = Duration::from_secs(1);

/// How often a follower checks that the leader's port still accepts connections.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// The leader a follower last followed, and what [`Controller::watch_leader`] saw of it.
#[derive(Debug)]
struct LeaderWatch {
    leader: Option<(u64, String)>,
    last_probe: Instant,
    /// Since when its port refuses connections.
    refused_since: Option<Instant>,
    last_election: Option<Instant>,
}

impl Default for LeaderWatch {
    fn default() -> Self {
        LeaderWatch {
            leader: None,
            last_probe: Instant::now(),
            refused_since: None,
            last_election: None,
        }
    }
}

/// What the metrics say this node may do.
#[derive(Debug, PartialEq, Eq)]
enum Duty {
    /// Lead in this term: mine.
    Lead(u64),
    /// Leading without a majority's acknowledgement for too long, or not leading.
    Stand,
}

impl Controller {
    fn run(mut self) -> Result<(), NodeError> {
        let mut run: Option<Run> = None;
        let mut retry_at: Option<Instant> = None;
        let mut finished_term: Option<u64> = None;
        let mut watch = LeaderWatch::default();
        let mut last_warm = Instant::now();
        let mut initialized = false;
        let mut next_init = Instant::now();
        let result = loop {
            if self.stop.is_stopping() {
                break Ok(());
            }
            if !initialized && Instant::now() >= next_init {
                match self.initialize() {
                    Ok(done) => initialized = done,
                    Err(e) => break Err(e),
                }
                next_init = Instant::now() + Duration::from_millis(200);
            }
            let duty = self.duty();
            if let Some(r) = run.take() {
                let keep = duty == Duty::Lead(r.term) && !r.thread.is_finished();
                if keep {
                    run = Some(r);
                } else {
                    if !r.thread.is_finished() {
                        tracing::warn!(
                            term = r.term,
                            ?duty,
                            "no longer the leader with a majority: aborting the run"
                        );
                        r.stop.abort();
                        r.cancel.cancel();
                    }
                    match self.collect(r) {
                        Ok(Some(term)) => finished_term = Some(term),
                        Ok(None) => {}
                        Err(()) => retry_at = Some(Instant::now() + self.cluster.restart_delay),
                    }
                }
            }
            match self.check_health(run.as_ref(), &duty) {
                Some(Remedy::RestartSession) => {
                    // Collected (aborted) at the next tick and started again at once.
                    run.iter().for_each(Run::abort);
                    retry_at = None;
                }
                Some(Remedy::StepDown) => {
                    let period = self.cluster.election_timeout * 4;
                    self.raft.resign(period);
                    self.resigned_until = Some(Instant::now() + period);
                    run.iter().for_each(Run::abort);
                }
                None => {}
            }
            if let (None, Duty::Lead(term)) = (&run, &duty) {
                let due = retry_at.is_none_or(|t| Instant::now() >= t)
                    && self.resigned_until.is_none_or(|t| Instant::now() >= t);
                if due && finished_term != Some(*term) {
                    match self.start_run(*term) {
                        Ok(Some(r)) => {
                            retry_at = None;
                            run = Some(r);
                        }
                        Ok(None) => {}
                        Err(e @ NodeError::FingerprintDiffers { .. }) => break Err(e),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start mining yet");
                            retry_at = Some(Instant::now() + Duration::from_millis(200));
                        }
                    }
                }
            }
            if !matches!(duty, Duty::Lead(_)) {
                if let Err(e) = self.check_fingerprint() {
                    break Err(e);
                }
                *self
                    .shared
                    .leadership
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                finished_term = None;
                self.watch_leader(&mut watch);
                if self.standby_prepare && last_warm.elapsed() >= WARM_EVERY {
                    last_warm = Instant::now();
                    self.warm_standby();
                }
            }
            self.stop.wait_timeout(TICK);
        };
        // Stopping: a graceful stop lets a leader's run take its final checkpoint.
        if let Some(r) = run {
            if self.stop.is_aborted() {
                r.stop.abort();
                r.cancel.cancel();
            } else {
                r.stop.stop();
                // A run stopping gracefully that loses leadership meanwhile must still abort.
                while !r.thread.is_finished() {
                    if self.stop.is_aborted()
                        || !matches!(self.duty(), Duty::Lead(t) if t == r.term)
                    {
                        r.stop.abort();
                        r.cancel.cancel();
                    }
                    std::thread::sleep(TICK);
                }
            }
            let _ = self.collect(r);
        }
        if let Some(w) = self.watch.take() {
            w.close(Duration::from_secs(5));
        }
        result
    }

    /// On a follower: opens the source if needed (no database call) and lets it get ready to
    /// resume at the last committed checkpoint, so a takeover starts mining at once. (The
    /// simulator would otherwise regenerate its workload from the start on its first window:
    /// hundreds of milliseconds after an hour.)
    fn warm_standby(&mut self) {
        let Some(resume) = self.raft.last_checkpoint().map(|c| c.offset.resume_scn) else {
            return;
        };
        if self.source.is_none() {
            match source::open_source(&self.config, now_unix_ms()) {
                Ok(s) => self.source = Some(s),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot open the source on standby yet");
                    return;
                }
            }
        }
        if let Some(s) = self.source.as_mut() {
            s.prepare(resume);
        }
    }

    /// Brings an empty cluster into being, once: the member with the lowest id initialises
    /// the membership of its config — but only after a majority of the configured members
    /// answered with the very same member list, and none with another. Two nodes whose
    /// configs disagree could otherwise each initialise a cluster of their own and mine the
    /// same database into the same output. Returns true once there is nothing (more) to do.
    fn initialize(&self) -> Result<bool, NodeError> {
        let me = self.raft.node_id().0;
        let pristine = {
            let metrics = self.raft.raft().metrics();
            let m = metrics.borrow();
            m.last_log_index.is_none() && m.current_term == 0
        };
        let lowest = self.shared.configured.first().map(|(id, _)| *id);
        if !pristine || lowest != Some(me) {
            return Ok(true);
        }
        let mine = &self.shared.configured;
        let mut agreeing = 1;
        for (id, addr) in mine.iter().filter(|(id, _)| *id != me) {
            let theirs = self.runtime.block_on(async {
                tokio::time::timeout(
                    Duration::from_millis(500),
                    http::get_json::<http::ConfiguredMembers>(addr, "/cluster/members"),
                )
                .await
            });
            let Ok(Ok(theirs)) = theirs else { continue };
            if theirs.node_id != *id {
                return Err(NodeError::MembersDiffer {
                    message: format!(
                        "the process at {addr} is node {}, not node {id} as this node's config says",
                        theirs.node_id
                    ),
                });
            }
            if theirs.members != *mine {
                return Err(NodeError::MembersDiffer {
                    message: format!(
                        "node {id} lists the members {}, this node lists {}: make every node's \
                         [[cluster.members]] the same",
                        http::ConfiguredMembers::show(&theirs.members),
                        http::ConfiguredMembers::show(mine)
                    ),
                });
            }
            agreeing += 1;
        }
        if agreeing * 2 <= mine.len() {
            tracing::info!(
                agreeing,
                members = mine.len(),
                "waiting for a majority of the configured members before initialising the cluster"
            );
            return Ok(false);
        }
        let members: BTreeMap<NodeId, String> = mine
            .iter()
            .map(|(id, addr)| (NodeId(*id), addr.clone()))
            .collect();
        if self
            .runtime
            .block_on(self.raft.initialize_if_first(members))?
        {
            tracing::info!(node_id = me, "initialised the cluster");
        }
        Ok(true)
    }

    /// Calls an election as soon as it can succeed when the leader's process is gone (its
    /// port refuses connections), instead of waiting out openraft's timers: a follower waits
    /// its leader lease (twice the election timeout) plus a random election timeout after the
    /// last heartbeat, 1.5 to 2 s at the default 500 ms. The other voters grant a vote once
    /// their lease on the dead leader has run out, at most one lease after its death — after
    /// the first refused connection at the latest — so the election is called then. Once per
    /// dead leader: if this node cannot win (its log is behind the other follower's), the
    /// timers elect the other one, and calling again and again would only keep raising the
    /// term past the other's elections.
    ///
    /// A refused connection is a definite answer, unlike a timeout (a slow or partitioned
    /// network), which is left to the timers: an election called against a live leader would
    /// only disrupt it. One follower calls, the voter with the lowest id after the leader, so
    /// two followers do not split the vote.
    fn watch_leader(&self, watch: &mut LeaderWatch) {
        let (leader, voters, me) = {
            let metrics = self.raft.raft().metrics();
            let m = metrics.borrow();
            let membership = m.membership_config.membership();
            let leader = m
                .current_leader
                .filter(|l| *l != m.id)
                .and_then(|l| membership.get_node(&l).map(|n| (l, n.addr.clone())));
            let voters: Vec<u64> = membership.voter_ids().collect();
            (leader, voters, m.id)
        };
        if let Some(leader) = leader {
            if watch.leader.as_ref() != Some(&leader) {
                *watch = LeaderWatch {
                    leader: Some(leader),
                    ..LeaderWatch::default()
                };
            }
        }
        let Some((dead, addr)) = watch.leader.clone() else {
            return;
        };
        let caller = voters.iter().copied().filter(|v| *v != dead).min();
        if caller != Some(me) || watch.last_probe.elapsed() < PROBE_EVERY {
            return;
        }
        watch.last_probe = Instant::now();
        let refused = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .map(|a| std::net::TcpStream::connect_timeout(&a, PROBE_EVERY))
            .is_some_and(
                |r| matches!(r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
            );
        if !refused {
            watch.refused_since = None;
            return;
        }
        let since = *watch.refused_since.get_or_insert_with(Instant::now);
        let lease = self.cluster.election_timeout * 2;
        if since.elapsed() >= lease && watch.last_election.is_none() {
            tracing::warn!(leader = dead, %addr, "the leader's port refuses connections: calling an election");
            watch.last_election = Some(Instant::now());
            if let Err(e) = self.runtime.block_on(self.raft.raft().trigger().elect()) {
                tracing::warn!(error = %e, "cannot call an election");
            }
        }
    }

    /// The health checks' look at this node; what they want done about a stall.
    fn check_health(&mut self, run: Option<&Run>, duty: &Duty) -> Option<Remedy> {
        let watch = self.watch.as_mut().filter(|w| w.due())?;
        let progress = self.shared.current_progress();
        let metrics = self.raft.raft().metrics().borrow().clone();
        let me = self.raft.node_id().0;
        let leader = LeaderView {
            me,
            term: metrics.current_term,
            leader: metrics.current_leader,
            // Read only on the leader: the only one that announces a change.
            has_checkpoints: metrics.current_leader == Some(me)
                && self.raft.last_checkpoint().is_some(),
        };
        let run = run.zip(progress.as_deref()).map(|(r, p)| (r.id, p));
        watch.check(
            &self.shared.alerts,
            matches!(duty, Duty::Lead(_)),
            run,
            Some(leader),
        )
    }

    /// Leader of the current term, acknowledged by a majority within the election timeout.
    fn duty(&self) -> Duty {
        let metrics = self.raft.raft().metrics();
        let m = metrics.borrow();
        let me = self.raft.node_id().0;
        if m.state != ServerState::Leader || m.current_leader != Some(me) {
            return Duty::Stand;
        }
        let alone = m
            .membership_config
            .membership()
            .voter_ids()
            .all(|id| id == me);
        let lease = self.cluster.election_timeout.as_millis() as u64;
        match m.millis_since_quorum_ack {
            _ if alone => Duty::Lead(m.current_term),
            Some(ms) if ms < lease => Duty::Lead(m.current_term),
            _ => Duty::Stand,
        }
    }

    /// Everything in this node's log applied, and the source verified: starts the pipeline in
    /// `term`. `None` when leadership moved on meanwhile.
    fn start_run(&mut self, term: u64) -> Result<Option<Run>, NodeError> {
        let since = now_unix_ms();
        {
            let mut l = self
                .shared
                .leadership
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if l.as_ref().is_none_or(|l| l.term != term) {
                *l = Some(LeadershipStatus {
                    term,
                    since_unix_ms: since,
                    ..LeadershipStatus::default()
                });
            }
        }
        // Entries of earlier terms are applied once the leader's own first entry is.
        let linearizable = self.runtime.block_on(async {
            tokio::time::timeout(
                self.cluster.election_timeout * 4,
                self.raft.raft().ensure_linearizable(),
            )
            .await
        });
        if !matches!(linearizable, Ok(Ok(_))) {
            return Ok(None);
        }
        // And every entry this node proposed (a checkpoint of an aborted run may still be in
        // its log): nothing can commit behind the new run's back once all of it is applied.
        let deadline = Instant::now() + self.cluster.election_timeout * 4;
        loop {
            if self.duty() != Duty::Lead(term) || Instant::now() > deadline {
                return Ok(None);
            }
            let applied = {
                let metrics = self.raft.raft().metrics();
                let m = metrics.borrow();
                m.last_applied.map(|l| l.index) >= m.last_log_index
            };
            if applied {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut source = match self.source.take() {
            Some(s) => s,
            None => source::open_source(&self.config, now_unix_ms())?,
        };
        // The configured part of the fingerprint, and what the database says of itself.
        let mut fingerprint = self.fingerprint.clone();
        match source.identity() {
            Ok(identity) => fingerprint.settings.extend(identity),
            Err(e) => {
                self.source = Some(source);
                return Err(e.into());
            }
        }
        let checked = match self.raft.fingerprint() {
            Some(agreed) => {
                let differences = fingerprint.differences(&agreed);
                if differences.is_empty() {
                    Ok(())
                } else {
                    Err(NodeError::FingerprintDiffers { differences })
                }
            }
            None => match self
                .runtime
                .block_on(self.raft.propose_fingerprint(fingerprint))
            {
                Ok(()) => Ok(()),
                Err(RaftError::FingerprintDiffers { differences }) => {
                    Err(NodeError::FingerprintDiffers { differences })
                }
                Err(e) => Err(e.into()),
            },
        };
        if let Err(e) = checked {
            self.source = Some(source);
            return Err(e);
        }
        let stop = StopToken::new();
        let cancel = CancellationToken::new();
        let mut store =
            self.raft
                .checkpoint_store(Term(term), cancel.clone(), self.config.checkpoint.timeout);
        let opts = self.pipeline_options();
        let progress = Arc::new(Progress::default());
        self.shared.set_progress(progress.clone());
        if let Some(l) = self
            .shared
            .leadership
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            l.pipeline_started_unix_ms = Some(now_unix_ms());
        }
        self.shared.running.store(true, Ordering::Relaxed);
        tracing::info!(term, node_id = %self.raft.node_id(), "leading: mining from the last committed checkpoint");
        let run_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("redoflow-run-t{term}"))
            .spawn(move || {
                let result = pipeline::run_pipeline(
                    &opts,
                    Term(term),
                    &mut *source,
                    &mut store,
                    &run_stop,
                    &progress,
                );
                (Some(source), result)
            })
            .map_err(NodeError::Runtime)?;
        self.runs += 1;
        Ok(Some(Run {
            id: self.runs,
            term,
            stop,
            cancel,
            thread,
        }))
    }

    /// Joins a finished (or aborted) run. `Ok(Some(term))`: the source is finished (a replay
    /// mined to its end); `Ok(None)`: stopped or aborted; `Err`: failed, restart later.
    fn collect(&mut self, run: Run) -> Result<Option<u64>, ()> {
        let term = run.term;
        let (source, result) = match run.thread.join() {
            Ok(r) => r,
            Err(_) => (None, Err(PipelineError::MinerLost)),
        };
        self.shared.running.store(false, Ordering::Relaxed);
        self.source = source;
        self.publish_progress_times();
        match result {
            Ok(summary) => {
                tracing::info!(term, checkpoints = summary.checkpoints, "run ended");
                *self.shared.error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(if self.stop.is_stopping() {
                    None
                } else {
                    Some(term)
                })
            }
            Err(PipelineError::Aborted) => Ok(None),
            Err(PipelineError::Store(e))
                if !e.is_retryable() && self.duty() != Duty::Lead(term) =>
            {
                tracing::info!(term, error = %e, "run stopped: leadership moved on");
                Ok(None)
            }
            // Stopping, and the final checkpoint could not be agreed (the other members are
            // stopping or gone): nothing is finished that was not agreed, so the next leader
            // resumes from the last committed checkpoint. No restart follows.
            Err(PipelineError::Store(e)) if self.stop.is_stopping() => {
                tracing::warn!(term, error = %e, "stopping without a final checkpoint: the next leader resumes from the last committed one");
                Ok(None)
            }
            Err(e) => {
                if let Some(w) = self.watch.as_mut() {
                    w.run_failed(&e);
                }
                tracing::error!(term, error = %e, delay = ?self.cluster.restart_delay, "the pipeline failed; restarting from the last committed checkpoint after the delay");
                *self.shared.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                // A source that failed may be in any state: open it again.
                self.source = None;
                Err(())
            }
        }
    }

    /// Keeps the run's first-window and first-checkpoint times in the leadership status.
    fn publish_progress_times(&self) {
        let progress = self.shared.current_progress();
        let Some(p) = progress else { return };
        if let Some(l) = self
            .shared
            .leadership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let get = |v: &std::sync::atomic::AtomicU64| {
                Some(v.load(Ordering::Relaxed)).filter(|v| *v > 0)
            };
            l.first_window_unix_ms = l.first_window_unix_ms.or(get(&p.first_window_unix_ms));
            l.first_checkpoint_unix_ms = l
                .first_checkpoint_unix_ms
                .or(get(&p.first_checkpoint_unix_ms));
        }
    }

    /// A follower whose source differs from the cluster's stops: it could never take over.
    /// It knows its configuration's part of the fingerprint; the database's own part is checked
    /// when it becomes leader.
    fn check_fingerprint(&self) -> Result<(), NodeError> {
        if let Some(agreed) = self.raft.fingerprint() {
            let differences = self.fingerprint.contradictions(&agreed);
            if !differences.is_empty() {
                return Err(NodeError::FingerprintDiffers { differences });
            }
        }
        Ok(())
    }

    fn pipeline_options(&self) -> PipelineOptions {
        let config = match self.config.source.kind {
            crate::config::SourceKind::Sim => self.config.for_sim(),
            _ => self.config.clone(),
        };
        let pacing = match (config.source.kind, config.source.replay.rate) {
            (crate::config::SourceKind::Replay, None) => Pacing::Unpaced,
            _ => self.pacing,
        };
        PipelineOptions::from_config(&config, pacing)
    }
}

/// Takes a throughput sample every second until `stop`.
async fn sample_every_second(shared: Arc<Shared>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => shared.sample(),
            _ = stop.cancelled() => return,
        }
    }
}

/// This node's status for `/status` and `redoflow status`.
pub(crate) fn status_of(raft: &RaftNode, shared: &Shared) -> NodeStatus {
    let metrics = raft.raft().metrics();
    let m = metrics.borrow().clone();
    let role = match m.state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    };
    let membership = m.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let contacts: BTreeMap<NodeId, Duration> = raft.last_contacts();
    let me = raft.node_id().0;
    let members = membership
        .nodes()
        .map(|(id, node)| MemberStatus {
            id: *id,
            addr: node.addr.clone(),
            voter: voters.contains(id),
            last_contact_ms: contacts
                .get(&NodeId(*id))
                .filter(|_| *id != me)
                .map(|d| d.as_millis() as u64),
            replication_lag: m
                .replication
                .as_ref()
                .filter(|_| *id != me)
                .and_then(|r| r.get(id))
                .map(|matched| {
                    let matched = matched.as_ref().map_or(0, |l| l.index + 1);
                    m.last_log_index
                        .map_or(0, |i| i + 1)
                        .saturating_sub(matched)
                }),
        })
        .collect();
    let recent = raft.recent_checkpoints(telemetry::LISTED);
    let last_checkpoint = recent.last().map(|cp| CheckpointStatus {
        id: cp.id.0,
        term: cp.term.0,
        resume_scn: cp.offset.resume_scn.0,
        created_at_ms: cp.created_at_ms,
        files: cp.files.len() as u64,
        rows: cp.files.iter().map(|f| f.rows).sum(),
    });
    let progress = shared.current_progress();
    let running = shared.running.load(Ordering::Relaxed);
    let mut leadership = shared
        .leadership
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .filter(|_| m.state == ServerState::Leader);
    let now = now_unix_ms();
    let totals = shared.totals();
    let source = progress.as_ref().filter(|_| leadership.is_some()).map(|p| {
        let mut source = telemetry::source_status(p, running, shared.telemetry.rates(), now);
        // The committed state knows where a restart resumes, also before this run's first
        // checkpoint.
        if let Some(cp) = &last_checkpoint {
            source.resume_scn = cp.resume_scn;
        }
        source
    });
    let pipeline = progress.as_ref().filter(|_| leadership.is_some()).map(|p| {
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        if let Some(l) = leadership.as_mut() {
            let first = |v: &std::sync::atomic::AtomicU64| Some(load(v)).filter(|v| *v > 0);
            l.first_window_unix_ms = l.first_window_unix_ms.or(first(&p.first_window_unix_ms));
            l.first_checkpoint_unix_ms = l
                .first_checkpoint_unix_ms
                .or(first(&p.first_checkpoint_unix_ms));
        }
        PipelineStatus {
            running,
            rounds: load(&p.rounds),
            rows_read: load(&p.rows_read),
            transactions: load(&p.transactions),
            changes_written: load(&p.changes_written),
            read_scn: load(&p.read_scn),
            current_scn: load(&p.current_scn),
            checkpoints: load(&p.checkpoints),
        }
    });
    NodeStatus {
        node_id: raft.node_id().0,
        role: role.to_string(),
        term: m.current_term,
        leader_id: m.current_leader,
        leader_addr: m
            .current_leader
            .and_then(|id| membership.get_node(&id))
            .map(|n| n.addr.clone()),
        members,
        last_checkpoint,
        leadership,
        pipeline,
        auth_failures: raft.auth_failures(),
        error: shared
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        alerts: shared
            .alerts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        unix_ms: now,
        leader_changes: raft.leader_changes(),
        source,
        checkpoints: telemetry::checkpoint_summaries(&recent, &totals.recent_checkpoints, now),
        recent_files: telemetry::recent_files(&recent),
        throughput: shared.telemetry.throughput(),
    }
}
