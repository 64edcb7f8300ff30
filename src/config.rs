//! The node's configuration file: one section per part, each with defaults (SPEC.md §9), unknown
//! keys refused, validated once here. `config.example.toml` documents every key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use redoflow_miner::planner::PlannerConfig;
use serde::Deserialize;

use crate::units::{de_bytes, de_duration};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub source: SourceConfig,
    pub output: OutputConfig,
    pub checkpoint: CheckpointConfig,
    pub mining: MiningConfig,
    /// Stall detection and self-healing (`redoflow node`, `redoflow run`).
    pub health: HealthConfig,
    /// Where alerts go besides the log and `/status`.
    pub alerts: AlertsConfig,
    /// Present on the nodes of a cluster (`redoflow node`).
    pub cluster: Option<ClusterConfig>,
    pub http: HttpConfig,
}

/// `[http]`: the status endpoints of a single node (`redoflow run`). A cluster node serves
/// them on `cluster.listen` instead.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to serve `/status`, `/metrics` and the status page on; none when unset.
    pub listen: Option<String>,
}

/// `[health]`: when a node counts as stalled and what it does about it (src/health.rs).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Stalled: no checkpoint for this long while the database has redo the node has not mined.
    #[serde(deserialize_with = "de_duration")]
    pub stall_after: Duration,
    /// Automatic restarts (and step-downs) allowed per `restart_window`; then the node only
    /// alerts and waits for a human.
    pub max_restarts: u32,
    #[serde(deserialize_with = "de_duration")]
    pub restart_window: Duration,
    /// Alert when the output root or the data dir has less free space than this.
    #[serde(deserialize_with = "de_bytes")]
    pub min_free_disk: u64,
    /// How often the checks run.
    #[serde(deserialize_with = "de_duration")]
    pub check_interval: Duration,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            stall_after: Duration::from_secs(5 * 60),
            max_restarts: 3,
            restart_window: Duration::from_secs(5 * 60),
            min_free_disk: 5 << 30,
            check_interval: Duration::from_secs(1),
        }
    }
}

/// `[alerts]`: webhooks and email (src/alerts.rs). Alerts are always logged and listed in
/// `/status`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// URLs (`http://` or `https://`) each alert is POSTed to as JSON; one string or a list.
    #[serde(deserialize_with = "de_one_or_many")]
    pub webhook_url: Vec<String>,
    /// Attempts per webhook POST or email before it is given up (logged).
    pub attempts: u32,
    /// Delay before the first retry, doubling up to a minute.
    #[serde(deserialize_with = "de_duration")]
    pub retry_delay: Duration,
    /// One POST or SMTP exchange may take this long.
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    pub email: Option<EmailConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook_url: Vec::new(),
            attempts: 5,
            retry_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            email: None,
        }
    }
}

/// `[alerts.email]`: alerts as mail through an SMTP server.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub server: String,
    /// 587 (submission, with STARTTLS) unless set.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Upgrade the connection with STARTTLS before authenticating (required when `user` is
    /// set, unless the server is on loopback).
    #[serde(default = "default_true")]
    pub starttls: bool,
    pub from: String,
    #[serde(deserialize_with = "de_one_or_many")]
    pub to: Vec<String>,
    /// SMTP user, if the server wants a login...
    #[serde(default)]
    pub user: Option<String>,
    /// ...and the environment variable holding its password (never the password itself).
    #[serde(default)]
    pub password_env: Option<String>,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_true() -> bool {
    true
}

/// A string or a list of strings.
fn de_one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// `[cluster]`: this node's place in a Raft group (SPEC.md §7).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This node's id; must be one of `members`.
    pub node_id: u64,
    /// Address to listen on for Raft RPCs and the HTTP status and metrics pages.
    pub listen: String,
    /// The node's own state: the Raft log and state machine, spill files, its lock.
    pub data_dir: PathBuf,
    /// File holding the cluster secret (at least 16 bytes), or...
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// ...the environment variable holding it.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A follower that hears nothing from the leader for this long (up to twice this, at
    /// random) starts an election; a leader that no majority acknowledged for this long stops
    /// mining and writing.
    #[serde(default = "default_election_timeout", deserialize_with = "de_duration")]
    pub election_timeout: Duration,
    #[serde(default = "default_heartbeat", deserialize_with = "de_duration")]
    pub heartbeat_interval: Duration,
    /// After the pipeline fails on a leader (anything but losing leadership), it restarts from
    /// the last committed checkpoint after this delay, for as long as this node leads.
    #[serde(default = "default_restart_delay", deserialize_with = "de_duration")]
    pub restart_delay: Duration,
    /// Every voter, this node included. Used to initialise an empty cluster (by the member with
    /// the lowest id) and as the peers' addresses; after `redoflow cluster add|remove` the
    /// replicated membership is authoritative.
    pub members: Vec<Member>,
}

/// One `[[cluster.members]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: u64,
    /// `host:port` the other nodes reach this one at.
    pub addr: String,
}

fn default_election_timeout() -> Duration {
    Duration::from_millis(500)
}

fn default_restart_delay() -> Duration {
    Duration::from_secs(30)
}

fn default_heartbeat() -> Duration {
    Duration::from_millis(150)
}

impl ClusterConfig {
    /// Checks what can be checked without the network: ids, addresses, the secret's source,
    /// the timing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("cluster: {m}")));
        if self.node_id == 0 {
            return bad("node_id must be 1 or more".into());
        }
        if self.members.is_empty() {
            return bad("[[cluster.members]] lists no member".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut addrs = std::collections::BTreeSet::new();
        for m in &self.members {
            if m.id == 0 {
                return bad("a member id must be 1 or more".into());
            }
            if !ids.insert(m.id) {
                return bad(format!("member id {} is listed twice", m.id));
            }
            if !addrs.insert(m.addr.as_str()) {
                return bad(format!("member address {} is listed twice", m.addr));
            }
            port_of(&m.addr).map_err(|e| {
                ConfigError::Invalid(format!("cluster: member {}'s addr: {e}", m.id))
            })?;
        }
        let Some(me) = self.members.iter().find(|m| m.id == self.node_id) else {
            return bad(format!(
                "node_id {} is not one of the members ({})",
                self.node_id,
                ids.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        let listen_port = port_of(&self.listen)
            .map_err(|e| ConfigError::Invalid(format!("cluster.listen: {e}")))?;
        if listen_port != port_of(&me.addr).unwrap_or(0) {
            return bad(format!(
                "listen ({}) and this node's member addr ({}) have different ports: the other \
                 nodes would not reach it",
                self.listen, me.addr
            ));
        }
        match (&self.secret_file, &self.secret_env) {
            (Some(_), Some(_)) => return bad("set secret_file or secret_env, not both".into()),
            (None, None) => {
                return bad(
                    "no cluster secret: set secret_file or secret_env (at least 16 bytes)".into(),
                )
            }
            _ => {}
        }
        if self.heartbeat_interval.is_zero() || self.election_timeout <= self.heartbeat_interval * 2
        {
            return bad(format!(
                "election_timeout ({:?}) must be more than twice heartbeat_interval ({:?})",
                self.election_timeout, self.heartbeat_interval
            ));
        }
        Ok(())
    }

    /// The member with `node_id`.
    pub fn me(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.id == self.node_id)
    }
}

/// The port of `host:port` (IPv6 hosts in brackets).
fn port_of(addr: &str) -> Result<u16, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} is not host:port"))?;
    if host.is_empty() {
        return Err(format!("{addr:?} has no host"));
    }
    port.parse()
        .map_err(|_| format!("{addr:?}: {port:?} is not a port number"))
}

/// Which database to mine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// The built-in simulated Oracle (`[source.sim]`).
    #[default]
    Sim,
    /// A recorded LogMiner export (`[source.replay]`), mined to its end.
    Replay,
    /// A live Oracle database through LogMiner (`[source.oracle]`, see docs/oracle.md).
    Oracle,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub sim: redoflow_miner::SimConfig,
    pub replay: ReplayConfig,
    #[cfg(feature = "oracle")]
    pub oracle: redoflow_miner::oracle::OracleConfig,
    /// A build without the Oracle source still reads a config with `[source.oracle]` (the
    /// example's, one shared with full builds); only `kind = "oracle"` is refused.
    #[cfg(not(feature = "oracle"))]
    pub oracle: toml::Table,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            kind: SourceKind::Sim,
            // A node run on the defaults sees a database changing at a modest pace; benchmarks
            // take the rate limit off.
            sim: redoflow_miner::SimConfig {
                rate: Some(1000.0),
                ..Default::default()
            },
            replay: ReplayConfig::default(),
            oracle: Default::default(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    /// V$LOGMNR_CONTENTS export (SQLcl CSV).
    pub contents: Option<PathBuf>,
    /// ALL_TAB_COLUMNS export (SQLcl CSV).
    pub columns: Option<PathBuf>,
    /// Rows of the export per second since `start_unix_ms`: the export then behaves like a
    /// live database. `None`: as fast as possible.
    pub rate: Option<f64>,
    /// Wall-clock start of the paced replay (ms since 1970). `None`: when the node starts
    /// (one process only: the nodes of a cluster must agree on one value).
    pub start_unix_ms: Option<u64>,
}

/// What to do with a change whose SQL_REDO cannot be parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnParseError {
    /// Stop the run with an error naming SCN, XID, table and position (default).
    #[default]
    Stop,
    /// Write the raw row to `_rejected/`, committed with the checkpoint, count it, go on.
    DeadLetter,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Output root (shared by the nodes of a cluster).
    pub dir: PathBuf,
    /// A table's file rolls once it reaches this size.
    #[serde(deserialize_with = "de_bytes")]
    pub max_file_bytes: u64,
    /// Written for a column whose value the redo does not carry (distinct from NULL = empty).
    pub missing_marker: String,
    /// fsync files and directories at checkpoints (a file that rolls before is synced on a
    /// helper thread meanwhile; the checkpoint waits for it). Only turn off for throwaway runs.
    pub fsync: bool,
    pub on_parse_error: OnParseError,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: PathBuf::from("out"),
            max_file_bytes: redoflow_sink_csv::SinkConfig::DEFAULT_MAX_FILE_BYTES,
            missing_marker: redoflow_sink_csv::SinkConfig::DEFAULT_MISSING_MARKER.to_string(),
            fsync: true,
            on_parse_error: OnParseError::Stop,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    /// A cluster checkpoint not committed by a majority within this long fails (the run then
    /// restarts from the last committed checkpoint).
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Where the node keeps its checkpoint state (default: `<output.dir>/_state`).
    pub state_dir: Option<PathBuf>,
    /// Checkpoint commits that may fail in a row before the node counts as stalled (each
    /// failure restarts the run from the last committed checkpoint).
    pub tolerable_failures: u32,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(180),
            state_dir: None,
            tolerable_failures: 5,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MiningConfig {
    pub batch_rows_min: u64,
    pub batch_rows_default: u64,
    pub batch_rows_max: u64,
    #[serde(deserialize_with = "de_duration")]
    pub sleep_min: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub sleep_default: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub sleep_max: Duration,
    /// Mining starts after this SCN when there is no checkpoint yet (0: where `start` says).
    pub start_scn: u64,
    /// Where a first start mines from: `"current"`, `"earliest"` or an SCN.
    pub start: redoflow_miner::StartAt,
    /// Retries of a retryable source error (connection lost, log switch race) in a row.
    pub retries: u32,
    #[serde(deserialize_with = "de_duration")]
    pub retry_delay_min: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub retry_delay_max: Duration,
    /// Replace the mining session after this long ("0s": only on log switches and errors).
    #[serde(deserialize_with = "de_duration")]
    pub session_max: Duration,
    /// Changes of open transactions kept in memory; the rest spill to `<state_dir>/spill`.
    #[serde(deserialize_with = "de_bytes")]
    pub transaction_memory: u64,
    /// Open transactions older than this (in redo time) are reported loudly.
    #[serde(deserialize_with = "de_duration")]
    pub transaction_retention: Duration,
    /// Drop transactions older than `transaction_retention` instead of only reporting them.
    /// Their changes are lost if they commit later: only for operators who decided so.
    pub drop_expired_transactions: bool,
    /// Where the CSV writer runs: `"auto"` (its own thread when the process may use more than
    /// one core, else on the mining thread), `"separate"` or `"same"`.
    pub writer_thread: WriterThread,
}

/// `mining.writer_thread`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriterThread {
    /// `Separate` when `std::thread::available_parallelism()` (CPU affinity and quota) is
    /// above 1, else `Same`.
    #[default]
    Auto,
    /// Mining and writing overlap on two cores, joined by a bounded channel.
    Separate,
    /// One thread mines and writes: no hand-over cost when there is only one core.
    Same,
}

impl Default for MiningConfig {
    fn default() -> Self {
        let p = PlannerConfig::default();
        MiningConfig {
            batch_rows_min: p.batch_rows_min,
            batch_rows_default: p.batch_rows_default,
            batch_rows_max: p.batch_rows_max,
            sleep_min: p.sleep_min,
            sleep_default: p.sleep_default,
            sleep_max: p.sleep_max,
            start_scn: 0,
            start: redoflow_miner::StartAt::Current,
            retries: 20,
            retry_delay_min: Duration::from_secs(2),
            retry_delay_max: Duration::from_secs(120),
            session_max: Duration::from_secs(30 * 60),
            transaction_memory: 64 << 20,
            transaction_retention: Duration::from_secs(4 * 3600),
            drop_expired_transactions: false,
            writer_thread: WriterThread::Auto,
        }
    }
}

impl MiningConfig {
    pub fn planner(&self) -> PlannerConfig {
        PlannerConfig {
            batch_rows_min: self.batch_rows_min,
            batch_rows_default: self.batch_rows_default,
            batch_rows_max: self.batch_rows_max,
            sleep_min: self.sleep_min,
            sleep_default: self.sleep_default,
            sleep_max: self.sleep_max,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks relations between keys that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.mining;
        if !(1 <= m.batch_rows_min
            && m.batch_rows_min <= m.batch_rows_default
            && m.batch_rows_default <= m.batch_rows_max)
        {
            return Err(ConfigError::Invalid(format!(
                "mining: need 1 <= batch_rows_min ({}) <= batch_rows_default ({}) <= batch_rows_max ({})",
                m.batch_rows_min, m.batch_rows_default, m.batch_rows_max
            )));
        }
        if !(m.sleep_min <= m.sleep_default && m.sleep_default <= m.sleep_max) {
            return Err(ConfigError::Invalid(
                "mining: need sleep_min <= sleep_default <= sleep_max".into(),
            ));
        }
        self.source.sim.validate().map_err(ConfigError::Invalid)?;
        #[cfg(feature = "oracle")]
        if self.source.kind == SourceKind::Oracle {
            self.source
                .oracle
                .validate()
                .map_err(|e| ConfigError::Invalid(format!("source.oracle: {e}")))?;
        }
        #[cfg(not(feature = "oracle"))]
        if self.source.kind == SourceKind::Oracle {
            return Err(ConfigError::Invalid(
                "source.kind = \"oracle\" needs a build with the `oracle` feature (on by default)"
                    .into(),
            ));
        }
        if self.source.kind == SourceKind::Replay && self.source.replay.contents.is_none() {
            return Err(ConfigError::Invalid(
                "source.kind = \"replay\" needs source.replay.contents (the V$LOGMNR_CONTENTS export)".into(),
            ));
        }
        if let Some(rate) = self.source.replay.rate {
            if !(rate > 0.0 && rate.is_finite()) {
                return Err(ConfigError::Invalid(format!(
                    "source.replay.rate must be positive, not {rate}"
                )));
            }
        }
        if let Some(cluster) = &self.cluster {
            cluster.validate()?;
        }
        if let Some(listen) = &self.http.listen {
            port_of(listen).map_err(|e| ConfigError::Invalid(format!("http.listen: {e}")))?;
        }
        if m.retry_delay_min > m.retry_delay_max {
            return Err(ConfigError::Invalid(
                "mining: need retry_delay_min <= retry_delay_max".into(),
            ));
        }
        if self.checkpoint.interval.is_zero() {
            return Err(ConfigError::Invalid(
                "checkpoint.interval must be more than 0".into(),
            ));
        }
        if self.output.max_file_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "output.max_file_bytes must be at least 1KiB".into(),
            ));
        }
        self.validate_health()?;
        if self.output.missing_marker.is_empty() {
            return Err(ConfigError::Invalid(
                "output.missing_marker must not be empty: an empty field already means NULL".into(),
            ));
        }
        Ok(())
    }

    fn validate_health(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let h = &self.health;
        if h.stall_after.is_zero() || h.restart_window.is_zero() || h.check_interval.is_zero() {
            return bad(
                "health: stall_after, restart_window and check_interval must be more than 0".into(),
            );
        }
        if h.check_interval > h.stall_after {
            return bad(format!(
                "health.check_interval ({:?}) must not exceed health.stall_after ({:?})",
                h.check_interval, h.stall_after
            ));
        }
        let a = &self.alerts;
        for url in &a.webhook_url {
            crate::alerts::check_webhook_url(url)
                .map_err(|e| ConfigError::Invalid(format!("alerts.webhook_url: {e}")))?;
        }
        if a.attempts == 0 {
            return bad("alerts.attempts must be 1 or more".into());
        }
        if a.timeout.is_zero() {
            return bad("alerts.timeout must be more than 0".into());
        }
        if let Some(e) = &a.email {
            crate::alerts::check_email(e)
                .map_err(|m| ConfigError::Invalid(format!("alerts.email: {m}")))?;
        }
        Ok(())
    }

    /// This config for mining the simulated database: without a checkpoint, mining starts
    /// where the simulated database starts rather than at SCN 0.
    pub fn for_sim(&self) -> Config {
        let mut c = self.clone();
        c.mining.start_scn = c.mining.start_scn.max(c.source.sim.start_scn);
        c
    }

    /// The node's own state directory: `cluster.data_dir` on a cluster node (the output root
    /// is shared, the state is not), else `checkpoint.state_dir`, else `<output.dir>/_state`.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(c) = &self.cluster {
            return c.data_dir.clone();
        }
        self.checkpoint
            .state_dir
            .clone()
            .unwrap_or_else(|| self.output.dir.join("_state"))
    }

    /// Checks what a cluster node needs beyond [`Config::validate`]: a `[cluster]` section, and
    /// a source every node sees the same (a paced simulator or replay needs a fixed
    /// `start_unix_ms`, or each node's database would start at its own process start).
    pub fn validate_for_cluster(&self) -> Result<&ClusterConfig, ConfigError> {
        self.validate()?;
        let cluster = self.cluster.as_ref().ok_or_else(|| {
            ConfigError::Invalid("redoflow node needs a [cluster] section".into())
        })?;
        let sim = &self.source.sim;
        if self.source.kind == SourceKind::Sim && sim.rate.is_some() && sim.start_unix_ms.is_none()
        {
            return Err(ConfigError::Invalid(
                "source.sim.start_unix_ms must be set on a cluster: with a rate, the simulated \
                 database starts with the process otherwise, and each node would mine another one"
                    .into(),
            ));
        }
        let replay = &self.source.replay;
        if self.source.kind == SourceKind::Replay
            && replay.rate.is_some()
            && replay.start_unix_ms.is_none()
        {
            return Err(ConfigError::Invalid(
                "source.replay.start_unix_ms must be set on a cluster: with a rate, the export \
                 starts playing when the process starts otherwise, and each node would see \
                 another database"
                    .into(),
            ));
        }
        Ok(cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented example is a valid configuration whose values are the defaults, apart
    /// from the ones it sets on purpose.
    #[test]
    fn the_example_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.mining.writer_thread, WriterThread::Auto);
        assert_eq!(c.source.sim.catalog, redoflow_miner::SimCatalog::Mixed);
        assert_eq!(c.mining.transaction_memory, 64 << 20);
    }

    /// One default for the missing marker: the config's is the sink's.
    #[test]
    fn the_missing_marker_default_is_the_sinks() {
        let c = Config::default();
        let sink = redoflow_sink_csv::SinkConfig::new("out");
        assert_eq!(c.output.missing_marker, sink.missing_marker);
        assert_eq!(c.output.max_file_bytes, sink.max_file_bytes);
    }

    /// `[source.oracle]` parses in every build; a build without the Oracle source refuses
    /// only `kind = "oracle"`.
    #[test]
    fn the_oracle_section_parses_in_every_build() {
        let text = "[source.oracle]\nconnect_string = \"db:1521/ORCL\"\nuser = \"C##REDOFLOW\"\n";
        let c: Config = toml::from_str(text).unwrap();
        c.validate().unwrap();
        let c: Config = toml::from_str(&format!("[source]\nkind = \"oracle\"\n{text}")).unwrap();
        let result = c.validate();
        if cfg!(feature = "oracle") {
            result.unwrap();
        } else {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("`oracle` feature"), "{err}");
        }
    }

    /// The three-node example in deploy/ is a valid cluster config, node by node, and its
    /// members are the same everywhere.
    #[cfg(feature = "oracle")]
    #[test]
    fn the_deploy_configs_are_valid_cluster_configs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
        let mut members = None;
        for id in 1..=3u64 {
            let c = Config::load(&dir.join(format!("node{id}.toml"))).unwrap();
            let cluster = c.validate_for_cluster().unwrap();
            assert_eq!(cluster.node_id, id);
            let m = cluster.members.clone();
            assert_eq!(*members.get_or_insert(m.clone()), m);
        }
    }

    /// The example's commented [cluster] section, uncommented, is a valid cluster config.
    #[test]
    fn the_example_cluster_section_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let section = text.split("# [cluster]\n").nth(1).unwrap();
        let cluster: String = section
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let c: Config = toml::from_str(&format!(
            "[source.sim]\nstart_unix_ms = 1767225600000\n[cluster]\n{cluster}"
        ))
        .unwrap();
        c.validate_for_cluster().unwrap();
    }

    #[test]
    fn defaults_match_the_spec() {
        let c: Config = toml::from_str("").unwrap();
        c.validate().unwrap();
        assert_eq!(c.checkpoint.interval, Duration::from_secs(30));
        assert_eq!(c.mining.batch_rows_default, 2000);
        assert_eq!(c.mining.sleep_max, Duration::from_secs(5));
        assert_eq!(c.output.on_parse_error, OnParseError::Stop);
    }

    #[test]
    fn human_units_and_unknown_keys() {
        let c: Config = toml::from_str(
            "[output]\nmax_file_bytes = \"1MiB\"\non_parse_error = \"dead-letter\"\n[checkpoint]\ninterval = \"2s\"\n",
        )
        .unwrap();
        assert_eq!(c.output.max_file_bytes, 1 << 20);
        assert_eq!(c.output.on_parse_error, OnParseError::DeadLetter);
        assert_eq!(c.checkpoint.interval, Duration::from_secs(2));
        let err = toml::from_str::<Config>("[output]\nmax_file_byte = 5\n").unwrap_err();
        assert!(err.to_string().contains("max_file_byte"), "{err}");
    }

    #[test]
    fn the_http_section_names_an_address_or_nothing() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.http.listen, None);
        let c: Config = toml::from_str("[http]\nlisten = \"127.0.0.1:7100\"\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.http.listen.as_deref(), Some("127.0.0.1:7100"));
        let c: Config = toml::from_str("[http]\nlisten = \"7100\"\n").unwrap();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("http.listen"), "{err}");
        assert!(toml::from_str::<Config>("[http]\nport = 1\n").is_err());
    }

    #[test]
    fn the_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        Config::load(&path).unwrap();
    }

    #[cfg(feature = "oracle")]
    #[test]
    fn oracle_section_parses_with_human_units() {
        let c: Config = toml::from_str(
            "[source]\nkind = \"oracle\"\n[source.oracle]\nconnect_string = \"db:1521/ORCL\"\nuser = \"C##REDOFLOW\"\ncall_timeout = \"10m\"\ninclude = [\"SALES.*\"]\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.source.kind, SourceKind::Oracle);
        assert_eq!(c.source.oracle.call_timeout, Duration::from_secs(600));
        assert_eq!(c.source.oracle.connect_timeout, Duration::from_secs(60));
        let bad: Result<Config, _> = toml::from_str("[source.oracle]\npassword = \"secret\"\n");
        assert!(
            bad.is_err(),
            "a password in the config file must be refused"
        );
    }

    /// One duration syntax in every section: a unit is required, out-of-range values are
    /// errors naming the key (never a panic).
    #[test]
    fn durations_share_one_syntax_and_never_panic() {
        for text in [
            "[checkpoint]\ninterval = \"99999999999999999999d\"\n",
            "[checkpoint]\ninterval = \"99999999999999999999s\"\n",
            "[mining]\ntransaction_retention = \"18446744073709551615s\"\n",
            "[mining]\nsleep_max = \"600\"\n",
            "[mining]\nsleep_max = 600\n",
        ] {
            let err = toml::from_str::<Config>(text).unwrap_err().to_string();
            assert!(err.contains("invalid duration"), "{text}: {err}");
            let key = text.lines().nth(1).unwrap().split(' ').next().unwrap();
            assert!(err.contains(key), "{text}: {err}");
        }
        let c: Config = toml::from_str("[checkpoint]\ninterval = \"1h 30m\"\n").unwrap();
        assert_eq!(c.checkpoint.interval, Duration::from_secs(5400));
    }

    #[cfg(feature = "oracle")]
    #[test]
    fn the_oracle_section_takes_the_same_durations() {
        for value in ["\"600\"", "600", "\"99999999999999999999d\""] {
            let text = format!("[source.oracle]\ncall_timeout = {value}\n");
            let err = toml::from_str::<Config>(&text).unwrap_err().to_string();
            assert!(err.contains("invalid duration"), "{text}: {err}");
        }
        let c: Config = toml::from_str("[source.oracle]\ncall_timeout = \"1.5s\"\n").unwrap();
        assert_eq!(c.source.oracle.call_timeout, Duration::from_millis(1500));
    }

    /// `[health]` and `[alerts]`: the old monitor's values by default; one webhook URL or a
    /// list; bad values refused with their key's name.
    #[test]
    fn health_and_alert_settings() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.health.stall_after, Duration::from_secs(300));
        assert_eq!(c.health.max_restarts, 3);
        assert_eq!(c.health.restart_window, Duration::from_secs(300));
        assert_eq!(c.health.min_free_disk, 5 << 30);
        assert_eq!(c.checkpoint.tolerable_failures, 5);
        assert!(c.alerts.webhook_url.is_empty() && c.alerts.email.is_none());
        let one: Config =
            toml::from_str("[alerts]\nwebhook_url = \"http://127.0.0.1:9/x\"\n").unwrap();
        one.validate().unwrap();
        assert_eq!(one.alerts.webhook_url, ["http://127.0.0.1:9/x"]);
        let two: Config = toml::from_str(
            "[alerts]\nwebhook_url = [\"http://a:1/x\", \"https://b/y\"]\n[alerts.email]\n\
             server = \"smtp\"\nfrom = \"a@example.com\"\nto = \"b@example.com\"\n",
        )
        .unwrap();
        two.validate().unwrap();
        assert_eq!(two.alerts.webhook_url.len(), 2);
        let email = two.alerts.email.unwrap();
        assert_eq!((email.port, email.starttls), (587, true));
        assert_eq!(email.to, ["b@example.com"]);
        for (text, says) in [
            (
                "[alerts]\nwebhook_url = \"ftp://x/y\"\n",
                "alerts.webhook_url",
            ),
            ("[health]\nstall_after = \"0s\"\n", "stall_after"),
            (
                "[health]\nstall_after = \"1s\"\ncheck_interval = \"2s\"\n",
                "health.check_interval",
            ),
            (
                "[alerts.email]\nserver = \"s\"\nfrom = \"nobody\"\nto = \"b@example.com\"\n",
                "alerts.email",
            ),
            ("[alerts]\nattempts = 0\n", "alerts.attempts"),
        ] {
            let c: Config = toml::from_str(text).unwrap();
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        let err = toml::from_str::<Config>("[health]\nstal_after = \"1s\"\n").unwrap_err();
        assert!(err.to_string().contains("stal_after"), "{err}");
    }

    #[test]
    fn invalid_relations_are_refused() {
        let c: Config = toml::from_str("[mining]\nbatch_rows_min = 5000\n").unwrap();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("batch_rows_min"));
    }
}
