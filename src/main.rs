//! The `redoflow` binary: parses flags, loads config, installs logging and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use redoflow::config::OnParseError;
use redoflow::{Config, Progress, StopToken};

#[derive(Parser)]
#[command(
    name = "redoflow",
    version,
    about = "Oracle LogMiner change data capture to exactly-once CSV files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline on a recorded LogMiner export, single node, to completion.
    Replay {
        /// V$LOGMNR_CONTENTS export (SQLcl CSV).
        #[arg(long)]
        contents: PathBuf,
        /// ALL_TAB_COLUMNS export (SQLcl CSV) giving each table's column order.
        #[arg(long)]
        columns: Option<PathBuf>,
        /// Output root (overrides output.dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file (see config.example.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Checkpoint interval, e.g. "30s" (overrides checkpoint.interval).
        #[arg(long, value_parser = parse_duration)]
        checkpoint_interval: Option<Duration>,
        /// What to do with a SQL_REDO that cannot be parsed (overrides output.on_parse_error).
        #[arg(long, value_parser = ["stop", "dead-letter"])]
        on_parse_error: Option<String>,
        /// Do not print progress.
        #[arg(long)]
        quiet: bool,
    },
    /// Run one node on the source of the config (the simulated Oracle by default) until
    /// stopped (Ctrl-C), with checkpoints every checkpoint.interval.
    Run {
        /// Configuration file (see config.example.toml); defaults for everything not set.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output root (overrides output.dir).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Do not print progress.
        #[arg(long)]
        quiet: bool,
    },
    /// Mining throughput: the whole pipeline (source → planner → transaction buffer → parser →
    /// CSV on disk) without a rate limit, on the simulated Oracle, a recorded export or a
    /// database; with the time per stage (fetch, buffer, parse+write, checkpoint).
    Bench {
        /// Stop after this many changes written (default: 2000000; a replay runs to the end of
        /// its export).
        #[arg(long)]
        changes: Option<u64>,
        /// Redo threads of the simulated database (RAC instances).
        #[arg(long, default_value_t = 1)]
        threads: u16,
        /// Seed of the simulated workload.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Tables of the simulated database: `ten-columns` (one 10-column table, the row shape
        /// of the throughput goal) or `mixed` (four tables of 5–8 columns with CLOBs, some over
        /// 4000 bytes, as `redoflow run` uses).
        #[arg(long, default_value = "ten-columns", value_parser = ["ten-columns", "mixed"])]
        catalog: String,
        /// Keep the output here instead of a temporary directory that is removed at the end.
        #[arg(long)]
        out: Option<PathBuf>,
        /// `sim` (default), `oracle` (the database of --config's [source.oracle]) or `replay`
        /// (an export: --contents and --columns, mined to its end unless --changes is given).
        #[arg(long, default_value = "sim", value_parser = ["sim", "oracle", "replay"])]
        source: String,
        /// V$LOGMNR_CONTENTS export (SQLcl CSV), for --source replay.
        #[arg(long)]
        contents: Option<PathBuf>,
        /// ALL_TAB_COLUMNS export (SQLcl CSV), for --source replay.
        #[arg(long)]
        columns: Option<PathBuf>,
        /// Config file, for --source oracle (and any source's other settings).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the figures as JSON on stdout (progress still goes to stderr).
        #[arg(long)]
        json: bool,
    },
    /// Preflight of an Oracle database: connects with [source.oracle] of the config and
    /// reports each requirement as PASS/WARN/FAIL with the fix (docs/oracle.md).
    #[cfg(feature = "oracle")]
    CheckOracle {
        #[arg(long)]
        config: PathBuf,
    },
    /// Check the output: every manifest against its files (present, rows, length, checksum)
    /// and no orphans; with --sim, also every finished row against the simulated database's
    /// ground truth up to the last checkpoint.
    Verify {
        #[arg(long)]
        out: PathBuf,
        /// The config the run mined the simulated Oracle with ([source.sim], [output]).
        #[arg(long)]
        sim: Option<PathBuf>,
    },
    /// Run one node of a cluster ([cluster] in the config; deploy/ has a three-node example).
    /// Only the leader mines; SIGTERM or Ctrl-C stops after a final checkpoint.
    Node {
        #[arg(long)]
        config: PathBuf,
        /// Do not print a status line every 10 s.
        #[arg(long)]
        quiet: bool,
    },
    /// A node's view of the cluster (GET /status).
    Status {
        /// A node's cluster.listen address.
        #[arg(long, default_value = "127.0.0.1:7101")]
        node: String,
        /// Print the node's status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Membership: replace a dead node (add the new one, remove the old one).
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// Three local nodes on the simulated Oracle: the leader is killed part-way and restarted,
    /// the failover timed, and every finished row checked against the simulator's truth.
    Demo {
        /// How long the cluster runs.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        duration: Duration,
        /// Kill a node this often (default: once, a third into the run).
        #[arg(long, value_parser = parse_duration)]
        kill_every: Option<Duration>,
        /// Which node each kill takes: `leader` (every kill a timed failover) or `random`
        /// (followers too).
        #[arg(long, default_value = "leader")]
        kill: redoflow::demo::KillTarget,
        /// Soak sampling: every node's RSS, open files and Raft store size, the lag and the
        /// ground truth so far, printed and written to <dir>/soak.csv this often (default:
        /// every minute when --duration is 10 minutes or more, else never).
        #[arg(long, value_parser = parse_duration)]
        sample_every: Option<Duration>,
        /// Changes per second of the simulated database.
        #[arg(long, default_value_t = 2000.0)]
        rate: f64,
        /// Where configs, logs, node state and the output go (cleared first).
        #[arg(long, default_value = "redoflow-demo")]
        dir: PathBuf,
        /// Start the simulated database this long before the cluster (e.g. "1h"): the first
        /// leader mines that backlog first, and the demo says how long it took.
        #[arg(long, default_value = "0s", value_parser = parse_duration)]
        backlog: Duration,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Add node ID at ADDR: it joins as a learner, catches up, then votes. Start the new node
    /// (empty data_dir, its [[cluster.members]] including itself) before or after.
    Add {
        /// Any member's address (the request follows the leader).
        #[arg(long)]
        node: String,
        #[arg(long)]
        id: u64,
        #[arg(long)]
        addr: String,
        #[command(flatten)]
        secret: SecretArgs,
    },
    /// Remove node ID from the membership.
    Remove {
        #[arg(long)]
        node: String,
        #[arg(long)]
        id: u64,
        #[command(flatten)]
        secret: SecretArgs,
    },
}

/// Where the cluster secret comes from for an admin call.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct SecretArgs {
    /// A node config whose [cluster] names the secret.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    secret_file: Option<PathBuf>,
    #[arg(long)]
    secret_env: Option<String>,
}

impl SecretArgs {
    fn load(&self) -> anyhow::Result<redoflow_raft::Secret> {
        Ok(match (&self.config, &self.secret_file, &self.secret_env) {
            (Some(path), _, _) => {
                let cfg = Config::load(path)?;
                let c = cfg
                    .cluster
                    .with_context(|| format!("{} has no [cluster] section", path.display()))?;
                match (c.secret_file, c.secret_env) {
                    (Some(f), _) => redoflow_raft::Secret::from_file(f)?,
                    (None, Some(v)) => redoflow_raft::Secret::from_env(&v)?,
                    (None, None) => bail!("{} names no cluster secret", path.display()),
                }
            }
            (None, Some(f), _) => redoflow_raft::Secret::from_file(f)?,
            (None, None, Some(v)) => redoflow_raft::Secret::from_env(v)?,
            (None, None, None) => bail!("give --config, --secret-file or --secret-env"),
        })
    }
}

// Rows are allocated on the miner thread and freed on the writer thread; mimalloc handles that
// cross-thread pattern far better than the system allocator (measured in benches/README.md).
// Built with `no_thp`: the binary opts out of transparent huge pages, so memory mimalloc hands
// back and takes again is zeroed 4 KiB at a time, not 2 MiB, and only what is touched counts
// (`redoflow bench`: peak RSS 44 → 29 MB, CPU time unchanged within the noise).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The progress bar on screen, if any (`redoflow bench` on a terminal).
static BAR: std::sync::Mutex<Option<indicatif::ProgressBar>> = std::sync::Mutex::new(None);

/// `eprintln!` that never panics. A node's stderr can go away while it runs (the pipe of a log
/// collector that died, a journald restart): `eprintln!` would then panic in whatever thread
/// printed, the signal handler's included, and leave a node that no signal stops.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Log lines go to stderr; while a progress bar is on screen, above it (the bar is taken away
/// for the line and drawn again under it). A line stderr does not take (its reader is gone) is
/// dropped: reporting the failure, tracing-subscriber would `eprintln!`, which panics the
/// logging thread, the mining thread among them.
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let _ = match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf)),
            None => std::io::stderr().write_all(buf),
        };
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    redoflow::units::parse_duration(s)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| redoflow::default_log_filter("warn").into()),
        )
        .with_writer(|| LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            note!("error: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes, each cause once: many errors already print their cause in their
/// own message (`cannot read X: No such file`), and the chain would repeat it.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn real_main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay {
            contents,
            columns,
            out,
            config,
            checkpoint_interval,
            on_parse_error,
            quiet,
        } => {
            let mut cfg = load_config(config.as_deref(), out)?;
            if let Some(i) = checkpoint_interval {
                cfg.checkpoint.interval = i;
            }
            if let Some(p) = on_parse_error {
                cfg.output.on_parse_error = if p == "stop" {
                    OnParseError::Stop
                } else {
                    OnParseError::DeadLetter
                };
            }
            cfg.validate()?;
            replay(&cfg, &contents, columns.as_deref(), quiet)
        }
        Command::Run { config, out, quiet } => {
            let cfg = load_config(config.as_deref(), out)?;
            cfg.validate()?;
            run_node(&cfg, quiet)
        }
        Command::Bench {
            changes,
            threads,
            seed,
            catalog,
            out,
            source,
            contents,
            columns,
            config,
            json,
        } => {
            let mut cfg = load_config(config.as_deref(), None)?;
            cfg.source.sim.rate = None;
            cfg.source.sim.threads = threads;
            cfg.source.sim.seed = seed;
            cfg.source.sim.catalog = match catalog.as_str() {
                "mixed" => redoflow::miner::SimCatalog::Mixed,
                _ => redoflow::miner::SimCatalog::TenColumns,
            };
            cfg.source.kind = match source.as_str() {
                "oracle" => redoflow::config::SourceKind::Oracle,
                "replay" => redoflow::config::SourceKind::Replay,
                _ => redoflow::config::SourceKind::Sim,
            };
            let replay = source == "replay";
            if replay {
                let Some(contents) = contents else {
                    bail!("--source replay needs --contents (a V$LOGMNR_CONTENTS export)");
                };
                cfg.source.replay.contents = Some(contents);
                cfg.source.replay.columns = columns;
                cfg.source.replay.rate = None;
            } else if contents.is_some() || columns.is_some() {
                bail!("--contents and --columns are for --source replay");
            }
            let changes = changes.or((!replay).then_some(2_000_000));
            bench(cfg, BenchOptions { changes, out, json })
        }
        #[cfg(feature = "oracle")]
        Command::CheckOracle { config } => {
            let cfg = Config::load(&config)?;
            let report = redoflow::miner::oracle::check_oracle(
                &cfg.source.oracle,
                &redoflow::miner::oracle::PreflightOptions {
                    checkpoint_interval: cfg.checkpoint.interval,
                    transaction_retention: cfg.mining.transaction_retention,
                },
            );
            let text = report.to_string();
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(if report.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Verify { out, sim } => verify(&out, sim.as_deref()),
        Command::Node { config, quiet } => node(&config, quiet),
        Command::Status { node, json } => status(&node, json),
        Command::Cluster { action } => cluster(action),
        Command::Demo {
            duration,
            kill_every,
            kill,
            sample_every,
            rate,
            dir,
            backlog,
        } => {
            let binary = std::env::current_exe().context("locating the redoflow binary")?;
            let sample_every = sample_every
                .or((duration >= Duration::from_secs(600)).then_some(Duration::from_secs(60)));
            let ok = redoflow::demo::run_demo(
                &binary,
                &redoflow::demo::DemoOptions {
                    dir,
                    duration,
                    kill_every,
                    kill,
                    rate,
                    backlog,
                    sample_every,
                },
            )?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

/// The config file (or the defaults without one), with `--out` applied. Callers apply their
/// other flags, then validate.
fn load_config(path: Option<&std::path::Path>, out: Option<PathBuf>) -> anyhow::Result<Config> {
    let mut cfg = match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(out) = out {
        cfg.output.dir = out;
    }
    Ok(cfg)
}

fn replay(
    cfg: &Config,
    contents: &std::path::Path,
    columns: Option<&std::path::Path>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let progress = Arc::new(Progress::default());
    let interrupted = stop_on_signals()?;
    let result = with_progress(quiet, &progress, || {
        redoflow::replay(cfg, contents, columns, &interrupted, &progress)
    });
    let summary = result.with_context(|| format!("replay of {} failed", contents.display()))?;
    println!("replay finished in {:.2}s", summary.elapsed.as_secs_f64());
    print_summary(&summary, cfg);
    if interrupted.is_stopping() {
        println!(
            "interrupted: the output is consistent up to the last checkpoint; run again to resume"
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(summary: &redoflow::Summary, cfg: &Config) {
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    println!(
        "  rows read            {:>12}  ({:.0} rows/s)",
        summary.rows_read,
        summary.rows_read as f64 / secs
    );
    println!("  transactions written {:>12}", summary.transactions);
    println!("  changes written      {:>12}", summary.changes_written);
    println!("  rolled back          {:>12}", summary.rolled_back);
    println!(
        "  already written      {:>12}  (skipped: committed before the last checkpoint)",
        summary.skipped_already_written
    );
    println!("  rejected             {:>12}", summary.rejected);
    if summary.unknown_operations > 0 {
        println!(
            "  unknown operations   {:>12}  (OPERATION_CODE not known: not written, see the warnings)",
            summary.unknown_operations
        );
    }
    if summary.ignored_operations > 0 {
        println!(
            "  ignored operations   {:>12}  (LOB and SELECT FOR UPDATE rows)",
            summary.ignored_operations
        );
    }
    if summary.spilled_transactions > 0 {
        println!(
            "  spilled to disk      {:>12}  (transactions larger than mining.transaction_memory)",
            summary.spilled_transactions
        );
    }
    if summary.expired_reported > 0 {
        println!(
            "  over retention       {:>12}  (open longer than mining.transaction_retention)",
            summary.expired_reported
        );
    }
    println!(
        "  open at end          {:>12}  (no COMMIT yet: the next run picks them up)",
        summary.open_at_end
    );
    if !summary.derived_tables.is_empty() {
        println!(
            "  columns derived from redo (not in the columns definition): {}",
            summary.derived_tables.join(", ")
        );
    }
    println!(
        "  checkpoints          {:>12}  (last: {})",
        summary.checkpoints,
        summary
            .last_checkpoint
            .map_or("none".into(), |c| c.to_string())
    );
    println!("  resume SCN           {:>12}", summary.offset.resume_scn);
    println!("  output               {}", cfg.output.dir.display());
}

/// Progress on stderr every second until `done` triggers.
fn with_progress<T>(quiet: bool, progress: &Arc<Progress>, work: impl FnOnce() -> T) -> T {
    let done = StopToken::new();
    let printer = (!quiet).then(|| {
        let progress = progress.clone();
        let done = done.clone();
        std::thread::spawn(move || print_progress(&progress, &done))
    });
    let result = work();
    done.stop();
    if let Some(p) = printer {
        let _ = p.join();
    }
    result
}

/// A stop token that SIGINT (Ctrl-C), SIGTERM and SIGHUP stop gracefully (a final
/// checkpoint); a second signal aborts the run at once (no further checkpoint: the next start
/// recovers), a third exits the process.
fn stop_on_signals() -> anyhow::Result<StopToken> {
    let stop = StopToken::new();
    let on_signal = stop.clone();
    let signals = std::sync::atomic::AtomicU32::new(0);
    ctrlc::set_handler(move || match signals.fetch_add(1, Ordering::SeqCst) {
        0 => {
            on_signal.stop();
            note!("redoflow: stopping after a final checkpoint (signal again to stop at once)");
        }
        1 => {
            on_signal.abort();
            note!("redoflow: stopping at once; the next start resumes from the last checkpoint");
        }
        _ => std::process::exit(130),
    })
    .context("installing the signal handler")?;
    Ok(stop)
}

fn run_node(cfg: &Config, quiet: bool) -> anyhow::Result<ExitCode> {
    let progress = Arc::new(Progress::default());
    let interrupted = stop_on_signals()?;
    note!(
        "redoflow: mining {:?} into {} (Ctrl-C stops after a final checkpoint)",
        cfg.source.kind,
        cfg.output.dir.display()
    );
    let _server = match &cfg.http.listen {
        Some(listen) => {
            let server = redoflow::http::StatusServer::start(listen, progress.clone())?;
            note!(
                "redoflow: status page on http://{0}/ (also /status and /metrics)",
                server.local_addr()
            );
            Some(server)
        }
        None => None,
    };
    let result = with_progress(quiet, &progress, || {
        redoflow::run_node(cfg, &interrupted, &progress)
    });
    let summary = result.context("the node stopped")?;
    print_summary(&summary, cfg);
    Ok(ExitCode::SUCCESS)
}

/// Per-round fetch figures: rows/s and MB/s while the source was fetching (the LogMiner query
/// for Oracle), and how long fetching a round took, as percentiles over the rounds.
#[derive(serde::Serialize)]
struct FetchFigures {
    rounds_with_rows: usize,
    rows_per_s_p10: f64,
    rows_per_s_p50: f64,
    rows_per_s_p90: f64,
    mb_per_s_p50: f64,
    time_ms_p50: f64,
    time_ms_p99: f64,
    time_ms_max: f64,
}

fn fetch_figures(rounds: &[redoflow::pipeline::RoundStats]) -> Option<FetchFigures> {
    let fetched: Vec<_> = rounds
        .iter()
        .filter(|r| r.rows > 0 && !r.fetch.is_zero())
        .collect();
    if fetched.is_empty() {
        return None;
    }
    let pct = |mut v: Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let rows_s: Vec<f64> = fetched
        .iter()
        .map(|r| r.rows as f64 / r.fetch.as_secs_f64())
        .collect();
    let mb_s: Vec<f64> = fetched
        .iter()
        .map(|r| r.redo_bytes as f64 / 1e6 / r.fetch.as_secs_f64())
        .collect();
    let ms: Vec<f64> = fetched
        .iter()
        .map(|r| r.fetch.as_secs_f64() * 1e3)
        .collect();
    Some(FetchFigures {
        rounds_with_rows: fetched.len(),
        rows_per_s_p10: pct(rows_s.clone(), 0.1),
        rows_per_s_p50: pct(rows_s.clone(), 0.5),
        rows_per_s_p90: pct(rows_s, 0.9),
        mb_per_s_p50: pct(mb_s, 0.5),
        time_ms_p50: pct(ms.clone(), 0.5),
        time_ms_p99: pct(ms.clone(), 0.99),
        time_ms_max: pct(ms, 1.0),
    })
}

/// Seconds spent per stage of the pipeline (on two threads they overlap).
#[derive(serde::Serialize)]
struct StageSeconds {
    fetch: f64,
    buffer: f64,
    parse_write: f64,
    checkpoint: f64,
}

/// Everything `redoflow bench` measured (`--json` prints this).
#[derive(serde::Serialize)]
struct BenchReport {
    source: String,
    elapsed_s: f64,
    rows_read: u64,
    changes_written: u64,
    transactions: u64,
    rows_per_s: f64,
    changes_per_s: f64,
    redo_bytes: u64,
    csv_bytes: u64,
    rounds: u64,
    checkpoints: u64,
    /// One thread mines and writes (one usable core).
    writer_on_mining_thread: bool,
    stages_s: StageSeconds,
    /// Changes per second of the run's time outside the source's fetches (one thread only).
    engine_changes_per_s: Option<f64>,
    cpu_user_s: Option<f64>,
    cpu_system_s: Option<f64>,
    fetch: Option<FetchFigures>,
    output: Option<String>,
}

/// What `redoflow bench` runs.
struct BenchOptions {
    /// Stop after this many changes written (`None`: until the source is finished).
    changes: Option<u64>,
    out: Option<PathBuf>,
    json: bool,
}

fn bench(mut cfg: Config, opts: BenchOptions) -> anyhow::Result<ExitCode> {
    let temp = opts.out.is_none();
    cfg.output.dir = opts.out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("redoflow-bench-{}", std::process::id()))
    });
    if cfg.output.dir.exists() && temp {
        std::fs::remove_dir_all(&cfg.output.dir)
            .with_context(|| format!("clearing {}", cfg.output.dir.display()))?;
    }
    cfg.validate()?;
    let progress = Arc::new(Progress::default());
    progress.record_rounds();
    // Ctrl-C stops the benchmark early, as reaching the change count does.
    let stop = stop_on_signals()?;
    let watcher = opts.changes.map(|changes| {
        let progress = progress.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while progress.changes_written.load(Ordering::Relaxed) < changes {
                if stop.wait_timeout(Duration::from_millis(20)) {
                    return;
                }
            }
            stop.stop();
        })
    });
    let source = match cfg.source.kind {
        redoflow::config::SourceKind::Oracle => "oracle".to_string(),
        redoflow::config::SourceKind::Replay => format!(
            "replay of {}",
            cfg.source
                .replay
                .contents
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        ),
        redoflow::config::SourceKind::Sim => format!(
            "simulated Oracle, {:?} tables, {} redo thread(s), seed {}, no rate limit",
            cfg.source.sim.catalog, cfg.source.sim.threads, cfg.source.sim.seed
        ),
    };
    let started = Instant::now();
    let cpu_before = cpu_times();
    let result = with_bench_progress(&progress, opts.changes, || {
        redoflow::run_node_paced(&cfg, redoflow::Pacing::Unpaced, &stop, &progress)
    });
    let cpu_after = cpu_times();
    stop.stop();
    if let Some(w) = watcher {
        let _ = w.join();
    }
    let summary = result.context("benchmark run failed")?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let rounds_log = progress.round_log();
    let fetching: Duration = rounds_log.iter().map(|r| r.fetch).sum();
    let one_thread = progress.writer_on_mining_thread.load(Ordering::Relaxed);
    let engine = secs - fetching.as_secs_f64();
    let [fetch, buffer, write, checkpoint] = progress.stages.totals();
    let cpu = cpu_before.zip(cpu_after).map(|((u0, s0), (u1, s1))| {
        (
            u1.saturating_sub(u0).as_secs_f64(),
            s1.saturating_sub(s0).as_secs_f64(),
        )
    });
    let report = BenchReport {
        source,
        elapsed_s: secs,
        rows_read: summary.rows_read,
        changes_written: summary.changes_written,
        transactions: summary.transactions,
        rows_per_s: summary.rows_read as f64 / secs,
        changes_per_s: summary.changes_written as f64 / secs,
        redo_bytes: progress.redo_bytes.load(Ordering::Relaxed),
        csv_bytes: redoflow::demo::dir_bytes(&cfg.output.dir),
        rounds: progress.rounds.load(Ordering::Relaxed),
        checkpoints: summary.checkpoints,
        writer_on_mining_thread: one_thread,
        stages_s: StageSeconds {
            fetch: fetch.as_secs_f64(),
            buffer: buffer.as_secs_f64(),
            parse_write: write.as_secs_f64(),
            checkpoint: checkpoint.as_secs_f64(),
        },
        engine_changes_per_s: (one_thread && engine > 0.0)
            .then(|| summary.changes_written as f64 / engine),
        cpu_user_s: cpu.map(|c| c.0),
        cpu_system_s: cpu.map(|c| c.1),
        fetch: fetch_figures(&rounds_log),
        output: (!temp).then(|| cfg.output.dir.display().to_string()),
    };
    if temp {
        let _ = std::fs::remove_dir_all(&cfg.output.dir);
    }
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_bench(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_bench(r: &BenchReport) {
    let secs = r.elapsed_s;
    println!("bench: {}, unpaced", r.source);
    println!(
        "  rows mined           {:>12}  ({:.0} rows/s)",
        r.rows_read, r.rows_per_s
    );
    println!(
        "  changes written      {:>12}  ({:.0} changes/s)",
        r.changes_written, r.changes_per_s
    );
    println!(
        "  SQL_REDO fetched     {:>12}  ({:.1} MB/s)",
        r.redo_bytes,
        r.redo_bytes as f64 / secs / 1e6
    );
    let rounds = r.rounds.max(1) as f64;
    println!(
        "  mining rounds        {:>12}  ({:.0} rows and {:.2} MB per round)",
        r.rounds,
        r.rows_read as f64 / rounds,
        r.redo_bytes as f64 / rounds / 1e6
    );
    println!("  transactions         {:>12}", r.transactions);
    println!(
        "  CSV bytes            {:>12}  ({:.1} MB/s)",
        r.csv_bytes,
        r.csv_bytes as f64 / secs / 1e6
    );
    if let Some(f) = &r.fetch {
        println!(
            "  fetch per round      rows/s p10 {:.0} p50 {:.0} p90 {:.0}; MB/s p50 {:.1}; \
             time p50 {:.1} ms p99 {:.1} ms max {:.1} ms ({} rounds with rows)",
            f.rows_per_s_p10,
            f.rows_per_s_p50,
            f.rows_per_s_p90,
            f.mb_per_s_p50,
            f.time_ms_p50,
            f.time_ms_p99,
            f.time_ms_max,
            f.rounds_with_rows
        );
    }
    // Where the time went: on one thread the stages add up to about the elapsed time; on two
    // the writer's (parse+write, checkpoint) run beside the miner's (fetch, buffer).
    let per_change = |s: f64| s * 1e6 / r.changes_written.max(1) as f64;
    println!(
        "  time per stage       ({}; % of elapsed, µs per change)",
        if r.writer_on_mining_thread {
            "one thread"
        } else {
            "miner and writer on two threads: the stages overlap"
        }
    );
    let st = &r.stages_s;
    for (name, s) in [
        ("fetch", st.fetch),
        ("buffer", st.buffer),
        ("parse+write", st.parse_write),
        ("checkpoint", st.checkpoint),
    ] {
        println!(
            "    {name:<18} {s:>9.3}s  {:>5.1}%  {:>6.3} µs",
            s * 100.0 / secs,
            per_change(s)
        );
    }
    // With the writer on the mining thread, the time outside the source's fetch calls is the
    // engine's: transaction buffer, parser, CSV. (With Oracle the SQL_REDO text is built by
    // the database; here the simulator builds it inside its fetches.)
    if let Some(e) = r.engine_changes_per_s {
        println!(
            "  engine alone         {:>12.0} changes/s  ({:.2} µs per change outside the \
             source's fetches)",
            e,
            1e6 / e.max(1e-9)
        );
    }
    // CPU time depends far less on the neighbours' load than the wall clock does.
    if let (Some(user), Some(sys)) = (r.cpu_user_s, r.cpu_system_s) {
        println!(
            "  CPU time             {:>11.2}s user + {:.2}s system  ({:.2} µs per change, all threads)",
            user,
            sys,
            (user + sys) * 1e6 / r.changes_written.max(1) as f64
        );
    }
    println!("  elapsed              {:>12.2}s", secs);
    if let Some(out) = &r.output {
        println!("  output               {out}");
    }
}

/// The benchmark's progress on stderr: a bar on a terminal (over the change count, or a
/// spinner to the end of a replay), plain lines every second otherwise.
fn with_bench_progress<T>(
    progress: &Arc<Progress>,
    total: Option<u64>,
    work: impl FnOnce() -> T,
) -> T {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return with_progress(false, progress, work);
    }
    let rate = |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{:.0} changes/s", s.per_sec());
    };
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos:>10}/{len} changes  {rate}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .with_key("rate", rate)
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} {pos:>10} changes  {rate}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
            .with_key("rate", rate),
        ),
    };
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
    let done = StopToken::new();
    let ticker = {
        let (bar, progress, done) = (bar.clone(), progress.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.wait_timeout(Duration::from_millis(100)) {
                bar.set_position(progress.changes_written.load(Ordering::Relaxed));
            }
        })
    };
    let result = work();
    done.stop();
    let _ = ticker.join();
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = None;
    bar.finish_and_clear();
    result
}

/// User and system CPU time of this process so far (all threads), from `/proc/self/stat`;
/// `None` where there is no such file.
fn cpu_times() -> Option<(Duration, Duration)> {
    parse_cpu_times(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// `utime` and `stime` of a `/proc/<pid>/stat` line, in clock ticks of 10 ms (`USER_HZ` is 100
/// in Linux's ABI). The command name (second field) is in parentheses and may hold blanks and
/// parentheses itself, so fields are counted from the last `)`.
fn parse_cpu_times(stat: &str) -> Option<(Duration, Duration)> {
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = after_name.split_whitespace().skip(11);
    let mut ticks = || fields.next()?.parse::<u64>().ok();
    let (user, system) = (ticks()?, ticks()?);
    Some((
        Duration::from_millis(user * 10),
        Duration::from_millis(system * 10),
    ))
}

fn print_progress(p: &Progress, done: &StopToken) {
    let start = Instant::now();
    let mut last_rows = 0;
    let mut last_t = start;
    while !done.wait_timeout(Duration::from_secs(1)) {
        let rows = p.rows_read.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (rows - last_rows) as f64 / now.duration_since(last_t).as_secs_f64().max(1e-9);
        let expired = p.expired_transactions.load(Ordering::Relaxed);
        let alert = if expired > 0 {
            format!("  OVER RETENTION {expired}")
        } else {
            String::new()
        };
        note!(
            "[{:>6.1}s] rows {:>11}  {:>9.0} rows/s  txns {:>9}  SCN {:>12}  open {:>5}  checkpoints {}{alert}",
            start.elapsed().as_secs_f64(),
            rows,
            rate,
            p.transactions.load(Ordering::Relaxed),
            p.read_scn.load(Ordering::Relaxed),
            p.open_transactions.load(Ordering::Relaxed),
            p.checkpoints.load(Ordering::Relaxed),
        );
        last_rows = rows;
        last_t = now;
    }
}

fn verify(out: &std::path::Path, sim: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    if !out.is_dir() {
        bail!("{} is not a directory", out.display());
    }
    let report =
        redoflow::sink_csv::verify(out).with_context(|| format!("verifying {}", out.display()))?;
    print!("{report}");
    let mut ok = report.is_ok();
    if let Some(path) = sim {
        let cfg = Config::load(path)?;
        if cfg.source.kind != redoflow::config::SourceKind::Sim {
            bail!("{}: source.kind is not \"sim\"", path.display());
        }
        let truth =
            redoflow::truth::compare_with_sim(out, &cfg.source.sim, &cfg.output.missing_marker)
                .with_context(|| format!("comparing {} with the simulator", out.display()))?;
        print!("{truth}");
        ok &= truth.is_exact();
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn node(path: &std::path::Path, quiet: bool) -> anyhow::Result<ExitCode> {
    let cfg = Config::load(path)?;
    let cluster = cfg.validate_for_cluster()?.clone();
    let stop = stop_on_signals()?;
    let node = redoflow::node::Node::start(&cfg, redoflow::node::NodeOptions::default(), &stop)?;
    note!(
        "redoflow: node {} of {} listening on {}, output {} (SIGTERM or Ctrl-C stops it)",
        cluster.node_id,
        cluster.members.len(),
        node.local_addr(),
        cfg.output.dir.display()
    );
    let printer = (!quiet).then(|| {
        let addr = node.local_addr().to_string();
        let done = stop.clone();
        std::thread::spawn(move || {
            while !done.wait_timeout(Duration::from_secs(10)) {
                if let Ok(s) = redoflow::http::get_status_blocking(&addr, Duration::from_secs(1)) {
                    note!("{}", status_line(&s));
                }
            }
        })
    });
    let result = node.join();
    stop.stop();
    if let Some(p) = printer {
        let _ = p.join();
    }
    result.context("the node stopped")?;
    Ok(ExitCode::SUCCESS)
}

/// One line of a node's status.
fn status_line(s: &redoflow::status::NodeStatus) -> String {
    let mut line = format!(
        "node {} {} term {} leader {}",
        s.node_id,
        s.role,
        s.term,
        s.leader_id.map_or("none".to_string(), |l| l.to_string())
    );
    if let Some(p) = &s.pipeline {
        line += &format!(
            "  rows {} changes {} SCN {} (current {})",
            p.rows_read, p.changes_written, p.read_scn, p.current_scn
        );
    }
    if let Some(c) = &s.last_checkpoint {
        line += &format!("  checkpoint {} (resume SCN {})", c.id, c.resume_scn);
    }
    if let Some(e) = &s.error {
        line += &format!("  error: {e}");
    }
    line
}

fn status(addr: &str, json: bool) -> anyhow::Result<ExitCode> {
    let s = redoflow::http::get_status_blocking(addr, Duration::from_secs(5))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(ExitCode::SUCCESS);
    }
    // Each member's own view, where it answers (asked in parallel: an unreachable member
    // costs its timeout once, not once per member).
    let answers: Vec<_> = std::thread::scope(|scope| {
        let asks: Vec<_> = s
            .members
            .iter()
            .map(|m| {
                let own = (m.id == s.node_id).then(|| s.clone());
                scope.spawn(move || {
                    let answer = own.or_else(|| {
                        redoflow::http::get_status_blocking(&m.addr, Duration::from_secs(1)).ok()
                    });
                    (m.clone(), answer)
                })
            })
            .collect();
        asks.into_iter().filter_map(|a| a.join().ok()).collect()
    });
    print!("{}", redoflow::status::render_cluster(addr, &s, &answers));
    Ok(ExitCode::SUCCESS)
}

fn cluster(action: ClusterAction) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match action {
        ClusterAction::Add {
            node,
            id,
            addr,
            secret,
        } => {
            let secret = secret.load()?;
            runtime.block_on(redoflow_raft::admin::add_member(
                &node,
                &secret,
                redoflow::checkpoint::NodeId(id),
                &addr,
            ))?;
            println!("node {id} at {addr} is a voting member");
        }
        ClusterAction::Remove { node, id, secret } => {
            let secret = secret.load()?;
            runtime.block_on(redoflow_raft::admin::remove_member(
                &node,
                &secret,
                redoflow::checkpoint::NodeId(id),
            ))?;
            println!("node {id} is no longer a member");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_times_are_read_after_the_command_name() {
        // Fields 14 and 15 (utime, stime); the name holds a blank and a `)`.
        let stat = "4242 (redo flow) x) R 1 4242 4242 0 -1 4194304 120 0 0 0 351 27 0 0 20 0 3 0";
        assert_eq!(
            parse_cpu_times(stat),
            Some((Duration::from_millis(3510), Duration::from_millis(270)))
        );
        assert_eq!(parse_cpu_times("4242 (cut short) R 1 2"), None);
        assert_eq!(parse_cpu_times("no name at all"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_time_of_this_process_grows_with_work() {
        let (before, _) = cpu_times().expect("/proc/self/stat on Linux");
        // Busy until the user time moves (a tick is 10 ms); a clock that never moves within
        // 20 s of busy work fails.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut x = 1u64;
        loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let (now, _) = cpu_times().expect("/proc/self/stat on Linux");
            if now > before {
                return;
            }
            assert!(Instant::now() < deadline, "user time stayed at {before:?}");
        }
    }
}
