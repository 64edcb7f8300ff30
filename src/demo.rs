//! `redoflow demo` and the multi-process tests: a cluster of local node processes (the same
//! binary, `redoflow node`) on loopback ports, all mining one simulated Oracle into one shared
//! output directory.
//!
//! [`LocalCluster`] writes the configs and the secret, starts, kills (SIGKILL), restarts and
//! stops (SIGTERM) the processes and reads their `/status`; [`run_demo`] is the README's first
//! command on top of it: a leader killed part-way, the failover timed, every finished row
//! checked against the simulator's ground truth.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::http::get_status_blocking;
use crate::status::NodeStatus;
use crate::truth::{compare_with_sim, compare_with_sim_live, TruthReport};

/// SCNs per change of the simulated workload (seed 1, mixed tables), averaged over a few
/// million SCNs: the default workload's SCN gaps make it vary by some 10% over a minute.
const SIM_SCNS_PER_CHANGE: f64 = 2.45;

/// A file that marks a directory as made by [`LocalCluster`], so it may be cleared again.
const MARKER: &str = ".redoflow-demo";

/// Settings of a local cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// Where configs, logs, node state and the shared output go.
    pub dir: PathBuf,
    pub nodes: u64,
    /// Changes per second of the simulated database.
    pub rate: f64,
    pub checkpoint_interval: Duration,
    /// Extra TOML appended to every node's config (tests: smaller files, faults).
    pub extra_toml: String,
    /// Environment variables per node id (tests: failpoints).
    pub env: Vec<(u64, String, String)>,
    /// The simulated database started this long before the cluster: the first leader has
    /// that much redo to mine before it is at the head.
    pub backlog: Duration,
}

impl ClusterSpec {
    pub fn new(dir: impl Into<PathBuf>) -> ClusterSpec {
        ClusterSpec {
            dir: dir.into(),
            nodes: 3,
            rate: 2000.0,
            checkpoint_interval: Duration::from_secs(2),
            extra_toml: String::new(),
            env: Vec::new(),
            backlog: Duration::ZERO,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One node process of a [`LocalCluster`].
#[derive(Debug)]
pub struct LocalNode {
    pub id: u64,
    pub addr: String,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl LocalNode {
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// Local node processes of one cluster. Dropping it kills whatever still runs.
#[derive(Debug)]
pub struct LocalCluster {
    pub spec: ClusterSpec,
    pub binary: PathBuf,
    pub nodes: Vec<LocalNode>,
    /// The first node's config: the sim settings every node mines (for the ground truth).
    pub config: Config,
    /// The simulated database's start, the same for every node.
    pub start_unix_ms: u64,
    /// The cluster secret's file.
    pub secret: PathBuf,
}

/// Free loopback ports: bound, read, released (another process could take one in between;
/// the node then fails to start with a clear error).
pub fn free_ports(n: usize) -> Result<Vec<u16>, DemoError> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()
        .map_err(io(Path::new("127.0.0.1:0")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(io(Path::new("127.0.0.1:0")))
}

impl LocalCluster {
    /// Writes the configs and the secret under `spec.dir` (cleared first if an earlier demo
    /// made it; refused if it holds anything else) and starts every node.
    pub fn start(binary: &Path, spec: ClusterSpec) -> Result<LocalCluster, DemoError> {
        let dir = &spec.dir;
        if dir.exists() {
            if !dir.join(MARKER).exists() && fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
                return Err(DemoError::Failed(format!(
                    "{} exists and was not made by redoflow demo: choose another --dir",
                    dir.display()
                )));
            }
            fs::remove_dir_all(dir).map_err(io(dir))?;
        }
        fs::create_dir_all(dir).map_err(io(dir))?;
        fs::write(
            dir.join(MARKER),
            b"made by redoflow demo; removed by the next one\n",
        )
        .map_err(io(dir))?;
        let secret = dir.join("cluster.secret");
        fs::write(&secret, format!("{:032x}\n", random_u128())).map_err(io(&secret))?;
        let ports = free_ports(spec.nodes as usize)?;
        let members: Vec<(u64, String)> = ports
            .iter()
            .enumerate()
            .map(|(i, port)| (i as u64 + 1, format!("127.0.0.1:{port}")))
            .collect();
        let start_unix_ms = crate::now_unix_ms().saturating_sub(spec.backlog.as_millis() as u64);
        let mut cluster = LocalCluster {
            spec,
            binary: binary.to_path_buf(),
            nodes: Vec::new(),
            config: Config::default(),
            start_unix_ms,
            secret,
        };
        for (id, addr) in &members {
            cluster.write_node(*id, addr, &members)?;
        }
        cluster.config =
            Config::load(&cluster.nodes[0].config).map_err(|e| DemoError::Failed(e.to_string()))?;
        for id in 1..=cluster.nodes.len() as u64 {
            cluster.start_node(id)?;
        }
        Ok(cluster)
    }

    /// Writes node `id`'s config (at `addr`, with `members`) and adds it to the cluster's
    /// nodes; it is not started.
    pub fn write_node(
        &mut self,
        id: u64,
        addr: &str,
        members: &[(u64, String)],
    ) -> Result<(), DemoError> {
        let dir = &self.spec.dir;
        let mut member_list = String::new();
        for (m, a) in members {
            let _ = write!(
                member_list,
                "\n[[cluster.members]]\nid = {m}\naddr = \"{a}\"\n"
            );
        }
        let text = format!(
            "# Node {id} of a local demo cluster (written by redoflow demo).\n\
             [source]\nkind = \"sim\"\n\
             [source.sim]\nseed = 1\nrate = {rate:?}\nstart_unix_ms = {start_unix_ms}\n\
             timestamp_origin_unix = {origin}\nscns_per_second = {scns_per_second}\n\
             [output]\ndir = {out:?}\n\
             [checkpoint]\ninterval = \"{interval}ms\"\n\
             [cluster]\nnode_id = {id}\nlisten = \"{addr}\"\ndata_dir = {data:?}\n\
             secret_file = {secret:?}\nelection_timeout = \"500ms\"\n\
             heartbeat_interval = \"150ms\"\nrestart_delay = \"1s\"\n{member_list}\n{extra}\n",
            rate = self.spec.rate,
            start_unix_ms = self.start_unix_ms,
            // The simulated redo's TIMESTAMPs start with the cluster and tick at about the
            // paced database's SCN rate (its workload averages SIM_SCNS_PER_CHANGE SCNs per
            // change), so the lag in seconds reads like a live database's.
            origin = self.start_unix_ms / 1000,
            scns_per_second = ((self.spec.rate * SIM_SCNS_PER_CHANGE) as u64).max(1),
            out = dir.join("out").display().to_string(),
            interval = self.spec.checkpoint_interval.as_millis(),
            data = dir.join(format!("node{id}")).display().to_string(),
            secret = self.secret.display().to_string(),
            extra = self.spec.extra_toml,
        );
        let path = dir.join(format!("node{id}.toml"));
        fs::write(&path, &text).map_err(io(&path))?;
        self.nodes.retain(|n| n.id != id);
        self.nodes.push(LocalNode {
            id,
            addr: addr.to_string(),
            config: path,
            log: dir.join(format!("node{id}.log")),
            child: None,
        });
        Ok(())
    }
    fn node_mut(&mut self, id: u64) -> Result<&mut LocalNode, DemoError> {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| DemoError::Failed(format!("no node {id}")))
    }

    /// Starts node `id`'s process (again), its output appended to its log.
    pub fn start_node(&mut self, id: u64) -> Result<(), DemoError> {
        let binary = self.binary.clone();
        let env: Vec<(String, String)> = self
            .spec
            .env
            .iter()
            .filter(|(n, _, _)| *n == id)
            .map(|(_, k, v)| (k.clone(), v.clone()))
            .collect();
        let node = self.node_mut(id)?;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)
            .map_err(io(&node.log))?;
        let log2 = log.try_clone().map_err(io(&node.log))?;
        let mut command = Command::new(&binary);
        command
            .args(["node", "--quiet", "--config"])
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", crate::default_log_filter("info"));
        }
        for (k, v) in env {
            command.env(k, v);
        }
        node.child = Some(command.spawn().map_err(io(&binary))?);
        Ok(())
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self, id: u64) -> Result<(), DemoError> {
        let node = self.node_mut(id)?;
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// SIGTERM, then waits up to `timeout` for the exit (SIGKILL after that). The exit status,
    /// if the process ended by itself.
    pub fn terminate(
        &mut self,
        id: u64,
        timeout: Duration,
    ) -> Result<Option<std::process::ExitStatus>, DemoError> {
        let node = self.node_mut(id)?;
        let Some(mut child) = node.child.take() else {
            return Ok(None);
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(Some(status));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM to every node of `ids` at the same moment, then waits up to `timeout` for all of
    /// them (SIGKILL after that): nodes stopping together, as on a shutdown of their machines.
    /// Each one's exit status, if it ended by itself.
    pub fn terminate_together(
        &mut self,
        ids: &[u64],
        timeout: Duration,
    ) -> Result<Vec<Option<std::process::ExitStatus>>, DemoError> {
        let mut children = Vec::new();
        for &id in ids {
            children.push(self.node_mut(id)?.child.take());
        }
        for child in children.iter().flatten() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        let deadline = Instant::now() + timeout;
        let mut statuses = vec![None; children.len()];
        while children.iter().any(Option::is_some) && Instant::now() <= deadline {
            for (child, status) in children.iter_mut().zip(&mut statuses) {
                if let Some(Ok(Some(s))) = child.as_mut().map(Child::try_wait) {
                    *status = Some(s);
                    *child = None;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for mut child in children.into_iter().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(statuses)
    }

    /// The exit status of node `id` if its process has ended by itself (reported once; the
    /// node then counts as stopped).
    pub fn exited(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let node = self.node_mut(id).ok()?;
        let status = node
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())?;
        node.child = None;
        Some(status)
    }

    /// Node `id`'s `/status`, or `None` when it does not answer.
    pub fn status(&self, id: u64) -> Option<NodeStatus> {
        let node = self.nodes.iter().find(|n| n.id == id)?;
        get_status_blocking(&node.addr, Duration::from_millis(500)).ok()
    }

    /// The node that says it leads with the highest term, among those that answer.
    pub fn leader(&self) -> Option<NodeStatus> {
        self.nodes
            .iter()
            .filter_map(|n| self.status(n.id))
            .filter(|s| s.role == "leader")
            .max_by_key(|s| s.term)
    }

    /// Fails naming the node and the end of its log when a node process has exited on its
    /// own (a node that cannot start says why there).
    pub fn check_alive(&mut self) -> Result<(), DemoError> {
        for node in &mut self.nodes {
            if let Some(Ok(Some(status))) = node.child.as_mut().map(|c| c.try_wait()) {
                node.child = None;
                let log = fs::read_to_string(&node.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(DemoError::Failed(format!(
                    "node {} exited ({status}); the end of {}:\n{}",
                    node.id,
                    node.log.display(),
                    tail.join("\n")
                )));
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for a leader of a term above `after_term` that mines.
    pub fn wait_leader(
        &mut self,
        after_term: u64,
        timeout: Duration,
    ) -> Result<NodeStatus, DemoError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive()?;
            if let Some(l) = self.leader().filter(|l| l.term > after_term) {
                return Ok(l);
            }
            if Instant::now() > deadline {
                return Err(DemoError::Failed(format!(
                    "no leader after term {after_term} within {timeout:?}; see the logs in {}",
                    self.spec.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until some node's last committed checkpoint is at least `id`.
    pub fn wait_checkpoint(&self, id: u64, timeout: Duration) -> Result<u64, DemoError> {
        let deadline = Instant::now() + timeout;
        loop {
            let best = self
                .nodes
                .iter()
                .filter_map(|n| self.status(n.id))
                .filter_map(|s| s.last_checkpoint.map(|c| c.id))
                .max()
                .unwrap_or(0);
            if best >= id {
                return Ok(best);
            }
            if Instant::now() > deadline {
                return Err(DemoError::Failed(format!(
                    "checkpoint {id} not committed within {timeout:?} (last: {best}); see the logs in {}",
                    self.spec.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The shared output root.
    pub fn out(&self) -> PathBuf {
        self.spec.dir.join("out")
    }

    /// Every finished row against the simulator's truth, and the manifests against the files.
    pub fn check(&self) -> Result<(TruthReport, crate::sink_csv::VerifyReport), DemoError> {
        let out = self.out();
        let truth = compare_with_sim(
            &out,
            &self.config.source.sim,
            &self.config.output.missing_marker,
        )
        .map_err(|e| DemoError::Failed(e.to_string()))?;
        let verify = crate::sink_csv::verify(&out).map_err(|e| DemoError::Failed(e.to_string()))?;
        Ok((truth, verify))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A random number from the standard library's per-process hasher keys and the clock.
fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let mut out = 0u128;
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out = (out << 64) | u128::from(h.finish());
    }
    out
}

/// Waits until the leader's read position reaches the database's current SCN: how long that
/// took from now, and the changes it wrote meanwhile.
pub fn catch_up(
    cluster: &mut LocalCluster,
    timeout: Duration,
) -> Result<(Duration, u64), DemoError> {
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        cluster.check_alive()?;
        if let Some(p) = cluster.leader().and_then(|l| l.pipeline) {
            if p.rounds > 0 && p.read_scn + 100 >= p.current_scn {
                return Ok((started.elapsed(), p.changes_written));
            }
        }
        if Instant::now() > deadline {
            return Err(DemoError::Failed(format!(
                "the leader did not reach the head within {timeout:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How long one failover took, from the SIGKILL of the leader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failover {
    pub killed: u64,
    pub new_leader: u64,
    pub term: u64,
    /// To the new leader's election (its own clock of becoming leader).
    pub elected: Duration,
    /// To its pipeline starting (log applied, output recovered).
    pub recovered: Duration,
    /// To its first mined window.
    pub first_window: Duration,
    /// To its first committed checkpoint.
    pub first_checkpoint: Duration,
}

impl Failover {
    /// Kills the current leader and waits for the next one's first checkpoint.
    pub fn measure(cluster: &mut LocalCluster, timeout: Duration) -> Result<Failover, DemoError> {
        let old = cluster.wait_leader(0, timeout)?;
        // The leader mines before it is killed: a failover from a working leader.
        let deadline = Instant::now() + timeout;
        while cluster
            .status(old.node_id)
            .and_then(|s| s.leadership)
            .and_then(|l| l.first_checkpoint_unix_ms)
            .is_none()
        {
            if Instant::now() > deadline {
                return Err(DemoError::Failed(format!(
                    "leader {} committed no checkpoint within {timeout:?}",
                    old.node_id
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed_at = crate::now_unix_ms();
        cluster.kill(old.node_id)?;
        let new = cluster.wait_leader(old.term, timeout)?;
        let deadline = Instant::now() + timeout;
        let leadership = loop {
            let l = cluster.status(new.node_id).and_then(|s| s.leadership);
            if let Some(l) = l.filter(|l| l.first_checkpoint_unix_ms.is_some()) {
                break l;
            }
            if Instant::now() > deadline {
                return Err(DemoError::Failed(format!(
                    "the new leader {} committed no checkpoint within {timeout:?}",
                    new.node_id
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let since =
            |ms: Option<u64>| Duration::from_millis(ms.unwrap_or(0).saturating_sub(killed_at));
        Ok(Failover {
            killed: old.node_id,
            new_leader: new.node_id,
            term: leadership.term,
            elected: since(Some(leadership.since_unix_ms)),
            recovered: since(leadership.pipeline_started_unix_ms),
            first_window: since(leadership.first_window_unix_ms),
            first_checkpoint: since(leadership.first_checkpoint_unix_ms),
        })
    }
}

/// `redoflow demo`'s settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub dir: PathBuf,
    pub duration: Duration,
    /// Kill a node this often (the first kill at a third of the duration when `None`).
    pub kill_every: Option<Duration>,
    /// Which node each kill takes.
    pub kill: KillTarget,
    pub rate: f64,
    /// The simulated database started this long before the cluster (see [`ClusterSpec`]).
    pub backlog: Duration,
    /// Sample every node's resources, the lag and the ground truth this often (`None`: never).
    pub sample_every: Option<Duration>,
}

/// Which node a scheduled kill takes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KillTarget {
    /// The leader: every kill is a failover, and is timed.
    #[default]
    Leader,
    /// Any node, chosen at random: followers die too (a failover when it is the leader).
    Random,
}

impl std::str::FromStr for KillTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "leader" => Ok(KillTarget::Leader),
            "random" => Ok(KillTarget::Random),
            _ => Err(format!("{s:?}: expected \"leader\" or \"random\"")),
        }
    }
}

/// The README's first command: three nodes, the leader killed part-way and restarted, the
/// failover timed, every finished row checked. With `sample_every` it is also the soak
/// harness: every node's RSS, open files and Raft store size, the lag and the ground truth so
/// far, printed and written to `soak.csv` in the demo dir. Prints as it goes; returns whether
/// the output is exactly the truth.
pub fn run_demo(binary: &Path, options: &DemoOptions) -> Result<bool, DemoError> {
    let mut spec = ClusterSpec::new(&options.dir);
    spec.rate = options.rate;
    spec.backlog = options.backlog;
    println!(
        "redoflow demo: 3 nodes on loopback, simulated Oracle at {} changes/s, output in {}",
        options.rate,
        options.dir.join("out").display()
    );
    let mut cluster = LocalCluster::start(binary, spec)?;
    let started = Instant::now();
    let leader = cluster.wait_leader(0, Duration::from_secs(20))?;
    println!(
        "  node {} leads (term {}) after {:.2} s",
        leader.node_id,
        leader.term,
        started.elapsed().as_secs_f64()
    );
    if !options.backlog.is_zero() {
        let (took, changes) = catch_up(&mut cluster, Duration::from_secs(3600))?;
        println!(
            "  the leader mined the {:?} of redo before its start ({} changes) and reached the \
             head after {:.1} s ({:.0} changes/s)",
            options.backlog,
            changes,
            took.as_secs_f64(),
            changes as f64 / took.as_secs_f64().max(1e-3)
        );
    }
    let kill_every = options
        .kill_every
        .unwrap_or(options.duration / 3)
        .max(Duration::from_secs(3));
    let mut next_kill = started + kill_every;
    let mut failovers = Vec::new();
    let mut follower_kills = 0u64;
    let mut last_line = Instant::now();
    let mut last_rows: Option<(u64, u64, Instant)> = None;
    let mut random = XorShift::new();
    let mut sampler = match options.sample_every {
        Some(every) => Some(Sampler::create(&options.dir, every)?),
        None => None,
    };
    while started.elapsed() < options.duration {
        if Instant::now() >= next_kill
            && started.elapsed() + Duration::from_secs(3) < options.duration
        {
            let leader = cluster.wait_leader(0, Duration::from_secs(30))?;
            let victim = match options.kill {
                KillTarget::Leader => leader.node_id,
                KillTarget::Random => {
                    let ids: Vec<u64> = cluster.nodes.iter().map(|n| n.id).collect();
                    ids[random.below(ids.len() as u64) as usize]
                }
            };
            if victim == leader.node_id {
                let f = Failover::measure(&mut cluster, Duration::from_secs(30))?;
                println!(
                    "  SIGKILL leader node {}: node {} leads term {} — elected after {:.2} s, \
                     mining after {:.2} s, first window after {:.2} s, first checkpoint after \
                     {:.2} s",
                    f.killed,
                    f.new_leader,
                    f.term,
                    f.elected.as_secs_f64(),
                    f.recovered.as_secs_f64(),
                    f.first_window.as_secs_f64(),
                    f.first_checkpoint.as_secs_f64()
                );
                cluster.start_node(f.killed)?;
                println!("  node {} restarted", f.killed);
                failovers.push(f);
            } else {
                cluster.kill(victim)?;
                follower_kills += 1;
                println!(
                    "  SIGKILL follower node {victim} (node {} leads)",
                    leader.node_id
                );
                // The cluster goes on with two nodes for a moment before the node comes back.
                std::thread::sleep(Duration::from_secs(1));
                cluster.start_node(victim)?;
                println!("  node {victim} restarted");
            }
            next_kill = Instant::now() + kill_every;
        }
        if let Some(s) = sampler.as_mut().filter(|s| s.due()) {
            let sample = s.take(&cluster, started.elapsed())?;
            println!("{}", sample.line());
        }
        if last_line.elapsed() >= Duration::from_secs(1) {
            last_line = Instant::now();
            match cluster.leader() {
                Some(l) => {
                    let p = l.pipeline.clone().unwrap_or_default();
                    let rate = match last_rows {
                        Some((node, rows, at)) if node == l.node_id && p.rows_read >= rows => {
                            (p.rows_read - rows) as f64 / at.elapsed().as_secs_f64().max(1e-3)
                        }
                        _ => 0.0,
                    };
                    last_rows = Some((l.node_id, p.rows_read, Instant::now()));
                    println!(
                        "  [{:>5.1}s] leader node {} term {}  {:>8.0} rows/s  lag {:>6} SCN  last checkpoint {}",
                        started.elapsed().as_secs_f64(),
                        l.node_id,
                        l.term,
                        rate,
                        p.current_scn.saturating_sub(p.read_scn),
                        l.last_checkpoint.map_or("none".to_string(), |c| format!(
                            "{} ({} rows)",
                            c.id, c.rows
                        )),
                    );
                }
                None => println!("  [{:>5.1}s] no leader", started.elapsed().as_secs_f64()),
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(s) = sampler.as_mut() {
        let sample = s.take(&cluster, started.elapsed())?;
        println!("{}", sample.line());
    }
    // The leader first, so it takes its final checkpoint while a majority still runs.
    if let Some(l) = cluster.leader() {
        cluster.terminate(l.node_id, Duration::from_secs(20))?;
    }
    for id in 1..=3 {
        cluster.terminate(id, Duration::from_secs(20))?;
    }
    let (truth, verify) = cluster.check()?;
    println!("  stopped after {:.1} s", started.elapsed().as_secs_f64());
    if !failovers.is_empty() {
        print!("{}", failover_summary(&failovers));
    }
    if follower_kills > 0 {
        println!("  followers killed and restarted: {follower_kills}");
    }
    if let Some(s) = &sampler {
        print!("{}", s.summary());
    }
    print!("{truth}");
    println!(
        "  manifests: {} checkpoints, {} files, {} rows{}",
        verify.checkpoints,
        verify.files,
        verify.rows,
        if verify.is_ok() {
            ", all match their files"
        } else {
            ""
        }
    );
    if !verify.is_ok() {
        print!("{verify}");
    }
    let ok = truth.is_exact()
        && verify.is_ok()
        && truth.expected_rows > 0
        && sampler.as_ref().is_none_or(Sampler::all_exact);
    println!(
        "{}: lost {}, duplicated {}, wrong {}",
        if ok { "PASS" } else { "FAIL" },
        truth.lost,
        truth.duplicated,
        truth.wrong
    );
    Ok(ok)
}

/// A small xorshift generator seeded from the clock: which node a random kill takes.
struct XorShift(u64);

impl XorShift {
    fn new() -> XorShift {
        XorShift((random_u128() as u64) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// One node's figures in a [`Sample`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSample {
    pub id: u64,
    /// `None` while the process is not running.
    pub pid: Option<u32>,
    /// Resident memory (`VmRSS` of `/proc/<pid>/status`).
    pub rss_bytes: Option<u64>,
    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fds: Option<u64>,
    /// Bytes of the node's Raft store on disk (`<data_dir>/raft`).
    pub raft_store_bytes: u64,
}

/// What the soak harness records every `sample_every`.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub elapsed: Duration,
    pub nodes: Vec<NodeSample>,
    pub leader: Option<u64>,
    pub term: u64,
    /// The leader's mining lag: the database's current SCN minus the SCN mined through.
    pub lag_scn: Option<u64>,
    /// The output's lag: how long ago the last checkpoint (its files finished) was created.
    pub output_lag: Option<Duration>,
    /// The ground truth up to the last checkpoint.
    pub truth: TruthReport,
}

impl Sample {
    /// One line for the demo's output.
    pub fn line(&self) -> String {
        let mib =
            |b: Option<u64>| b.map_or("-".to_string(), |b| format!("{:.1}", b as f64 / 1048576.0));
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let rss: Vec<String> = self.nodes.iter().map(|n| mib(n.rss_bytes)).collect();
        let fds: Vec<String> = self.nodes.iter().map(|n| opt(n.fds)).collect();
        let store: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}", n.raft_store_bytes / 1024))
            .collect();
        format!(
            "  [{:>6.0}s] sample: RSS MiB {} | fds {} | raft store KiB {} | leader {} term {} | \
             lag {} SCN, output {} | checkpoint {}: {} rows, lost {}, duplicated {}, wrong {}",
            self.elapsed.as_secs_f64(),
            rss.join("/"),
            fds.join("/"),
            store.join("/"),
            opt(self.leader),
            self.term,
            opt(self.lag_scn),
            self.output_lag
                .map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64())),
            self.truth
                .checkpoint
                .map_or("none".to_string(), |c| c.to_string()),
            self.truth.rows,
            self.truth.lost,
            self.truth.duplicated,
            self.truth.wrong
        )
    }

    /// The CSV rows of this sample: one per node.
    fn csv_rows(&self) -> String {
        let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
        let mut out = String::new();
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "{:.0},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                self.elapsed.as_secs_f64(),
                n.id,
                opt(n.pid.map(u64::from)),
                opt(n.rss_bytes),
                opt(n.fds),
                n.raft_store_bytes,
                opt(self.leader),
                self.term,
                opt(self.lag_scn),
                self.output_lag
                    .map_or(String::new(), |d| format!("{:.3}", d.as_secs_f64())),
                opt(self.truth.checkpoint.map(|c| c.0)),
                self.truth.expected_rows,
                self.truth.rows,
                self.truth.lost,
                self.truth.duplicated,
                self.truth.wrong
            );
        }
        out
    }
}

/// The header of `soak.csv`.
pub const SOAK_CSV_HEADER: &str = "elapsed_s,node,pid,rss_bytes,fds,raft_store_bytes,leader,\
term,lag_scn,output_lag_s,checkpoint,expected_rows,rows,lost,duplicated,wrong";

/// Takes a [`Sample`] when due and appends it to `soak.csv`.
struct Sampler {
    every: Duration,
    next: Instant,
    csv: PathBuf,
    samples: Vec<Sample>,
}

impl Sampler {
    fn create(dir: &Path, every: Duration) -> Result<Sampler, DemoError> {
        let csv = dir.join("soak.csv");
        fs::write(&csv, format!("{SOAK_CSV_HEADER}\n")).map_err(io(&csv))?;
        println!("  sampling every {every:?} into {}", csv.display());
        Ok(Sampler {
            every,
            next: Instant::now() + every,
            csv,
            samples: Vec::new(),
        })
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    fn take(&mut self, cluster: &LocalCluster, elapsed: Duration) -> Result<Sample, DemoError> {
        self.next = Instant::now() + self.every;
        let sample = sample(cluster, elapsed)?;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&self.csv)
            .map_err(io(&self.csv))?;
        std::io::Write::write_all(&mut f, sample.csv_rows().as_bytes()).map_err(io(&self.csv))?;
        self.samples.push(sample.clone());
        Ok(sample)
    }

    fn all_exact(&self) -> bool {
        self.samples.iter().all(|s| s.truth.is_exact())
    }

    /// Per node: the range of each figure over the run.
    fn summary(&self) -> String {
        let mut out = format!(
            "  {} samples (min / max over the run; a restarted node starts afresh):\n",
            self.samples.len()
        );
        let ids: Vec<u64> = self
            .samples
            .first()
            .map(|s| s.nodes.iter().map(|n| n.id).collect())
            .unwrap_or_default();
        for id in ids {
            let of = |f: fn(&NodeSample) -> Option<u64>| {
                let v: Vec<u64> = self
                    .samples
                    .iter()
                    .filter_map(|s| s.nodes.iter().find(|n| n.id == id).and_then(f))
                    .collect();
                match (v.iter().min(), v.iter().max()) {
                    (Some(a), Some(b)) => (*a, *b),
                    _ => (0, 0),
                }
            };
            let rss = of(|n| n.rss_bytes);
            let fds = of(|n| n.fds);
            let store = of(|n| Some(n.raft_store_bytes));
            let _ = writeln!(
                out,
                "    node {id}: RSS {:.1}–{:.1} MiB, fds {}–{}, raft store {}–{} KiB",
                rss.0 as f64 / 1048576.0,
                rss.1 as f64 / 1048576.0,
                fds.0,
                fds.1,
                store.0 / 1024,
                store.1 / 1024
            );
        }
        let lost: u64 = self.samples.iter().map(|s| s.truth.lost).max().unwrap_or(0);
        let dup: u64 = self
            .samples
            .iter()
            .map(|s| s.truth.duplicated)
            .max()
            .unwrap_or(0);
        let lag = self
            .samples
            .iter()
            .filter_map(|s| s.output_lag)
            .max()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    most lost {lost}, most duplicated {dup}, largest output lag {:.1} s",
            lag.as_secs_f64()
        );
        out
    }
}

/// Every node's resources, the leader's lag and the ground truth, now.
pub fn sample(cluster: &LocalCluster, elapsed: Duration) -> Result<Sample, DemoError> {
    let nodes = cluster
        .nodes
        .iter()
        .map(|n| {
            let pid = n.pid();
            NodeSample {
                id: n.id,
                pid,
                rss_bytes: pid.and_then(rss_bytes),
                fds: pid.and_then(open_fds),
                raft_store_bytes: dir_bytes(
                    &cluster.spec.dir.join(format!("node{}", n.id)).join("raft"),
                ),
            }
        })
        .collect();
    let leader = cluster.leader();
    let seen_at = crate::now_unix_ms();
    // The cluster goes on writing while the comparison reads: up to the last manifest.
    let truth = compare_with_sim_live(
        &cluster.out(),
        &cluster.config.source.sim,
        &cluster.config.output.missing_marker,
    )
    .map_err(|e| DemoError::Failed(e.to_string()))?;
    Ok(Sample {
        elapsed,
        nodes,
        leader: leader.as_ref().map(|l| l.node_id),
        term: leader.as_ref().map_or(0, |l| l.term),
        lag_scn: leader
            .as_ref()
            .and_then(|l| l.pipeline.as_ref())
            .map(|p| p.current_scn.saturating_sub(p.read_scn)),
        output_lag: leader
            .as_ref()
            .and_then(|l| l.last_checkpoint.as_ref())
            .map(|c| Duration::from_millis(seen_at.saturating_sub(c.created_at_ms))),
        truth,
    })
}

/// `VmRSS` of a process, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of a process (entries of `/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// Bytes of the files under `dir` (0 when it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

/// p50 / p99 / max of each failover step over several kills.
pub fn failover_summary(failovers: &[Failover]) -> String {
    let pct = |f: fn(&Failover) -> Duration, p: f64| {
        let mut v: Vec<Duration> = failovers.iter().map(f).collect();
        v.sort();
        v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
    };
    let mut out = format!(
        "  failover over {} SIGKILLs of the leader (ms after the kill: p50 / p99 / max):\n",
        failovers.len()
    );
    type Step = (&'static str, fn(&Failover) -> Duration);
    let steps: [Step; 4] = [
        ("new leader elected", |f| f.elected),
        ("its pipeline started", |f| f.recovered),
        ("its first window mined", |f| f.first_window),
        ("its first checkpoint", |f| f.first_checkpoint),
    ];
    for (name, f) in steps {
        let _ = writeln!(
            out,
            "    {name:<24} {:>7.0} / {:>7.0} / {:>7.0}",
            pct(f, 0.5),
            pct(f, 0.99),
            pct(f, 1.0)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tredoflow\nVmPeak:\t  90000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_and_open_files() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).unwrap() > 0);
        let _file = fs::File::open("/proc/self/status").unwrap();
        assert!(open_fds(pid).unwrap() >= 1);
        assert_eq!(open_fds(u32::MAX), None, "no such process");
    }

    #[test]
    fn kill_targets_parse() {
        assert_eq!("random".parse::<KillTarget>(), Ok(KillTarget::Random));
        assert_eq!("leader".parse::<KillTarget>(), Ok(KillTarget::Leader));
        assert!("everyone"
            .parse::<KillTarget>()
            .unwrap_err()
            .contains("random"));
    }
}
