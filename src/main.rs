//! The `redoflow` binary: parses flags, loads config, installs logging and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use redoflow::config::OnParseError;
use redoflow::{Config, Progress, Shutdown};

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
    /// Check the output: every manifest against its files (present, rows, length, checksum)
    /// and no orphans.
    Verify {
        #[arg(long)]
        out: PathBuf,
    },
}

// Rows are allocated on the miner thread and freed on the writer thread; mimalloc handles that
// cross-thread pattern far better than the system allocator (measured in benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn parse_duration(s: &str) -> Result<Duration, String> {
    redoflow::units::parse_duration(s)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
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
            let mut cfg = match &config {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            if let Some(out) = out {
                cfg.output.dir = out;
            }
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
        Command::Verify { out } => verify(&out),
    }
}

fn replay(
    cfg: &Config,
    contents: &std::path::Path,
    columns: Option<&std::path::Path>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let progress = Arc::new(Progress::default());
    let done = Shutdown::new();
    let printer = (!quiet).then(|| {
        let progress = progress.clone();
        let done = done.clone();
        std::thread::spawn(move || print_progress(&progress, &done))
    });
    let interrupted = Shutdown::new();
    let on_signal = interrupted.clone();
    ctrlc::set_handler(move || on_signal.trigger()).context("installing the Ctrl-C handler")?;
    let result = redoflow::replay(cfg, contents, columns, interrupted.wait(), &progress);
    done.trigger();
    if let Some(p) = printer {
        let _ = p.join();
    }
    let summary = result.with_context(|| format!("replay of {} failed", contents.display()))?;
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    println!("replay finished in {:.2}s", secs);
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
        "  open at end          {:>12}  (not written: no COMMIT in the export)",
        summary.open_at_end
    );
    println!(
        "  checkpoints          {:>12}  (last: {})",
        summary.checkpoints,
        summary
            .last_checkpoint
            .map_or("none".into(), |c| c.to_string())
    );
    println!("  resume SCN           {:>12}", summary.offset.resume_scn);
    println!("  output               {}", cfg.output.dir.display());
    if interrupted.is_triggered() {
        println!(
            "interrupted: the output is consistent up to the last checkpoint; run again to resume"
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_progress(p: &Progress, done: &Shutdown) {
    let start = Instant::now();
    let mut last_rows = 0;
    let mut last_t = start;
    while !done.wait_timeout(Duration::from_secs(1)) {
        let rows = p.rows_read.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate = (rows - last_rows) as f64 / now.duration_since(last_t).as_secs_f64().max(1e-9);
        eprintln!(
            "[{:>6.1}s] rows {:>11}  {:>9.0} rows/s  txns {:>9}  SCN {:>12}  open {:>5}  checkpoints {}",
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

fn verify(out: &std::path::Path) -> anyhow::Result<ExitCode> {
    if !out.is_dir() {
        bail!("{} is not a directory", out.display());
    }
    let report =
        redoflow::sink_csv::verify(out).with_context(|| format!("verifying {}", out.display()))?;
    print!("{report}");
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
