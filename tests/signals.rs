//! What systemd and Kubernetes do to a node: SIGTERM stops `redoflow run` gracefully (a final
//! checkpoint, exit 0, nothing in progress left), and a second signal stops it at once.

mod common;

use common::process::{files_ending, redoflow, sim_config, wait_until, Running};

#[cfg(unix)]
#[test]
fn sigterm_stops_a_run_after_a_final_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // No checkpoint comes by the interval: the only one is the one the signal asks for.
    let config = sim_config(dir.path(), &out, "1h", "");
    let mut run = Running::spawn(redoflow().args(["run", "--quiet", "--config"]).arg(&config));
    wait_until("rows in progress", || {
        !files_ending(&out, ".inprogress").is_empty()
    });
    assert!(files_ending(&out.join("_checkpoints"), ".json").is_empty());
    run.signal("TERM");
    let (status, stderr) = run.wait_exit();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("stopping after a final checkpoint"),
        "{stderr}"
    );
    assert!(
        out.join("_checkpoints/0000000001.json").is_file(),
        "no final checkpoint: {stderr}"
    );
    assert_eq!(
        files_ending(&out, ".inprogress"),
        Vec::<std::path::PathBuf>::new()
    );
    let verify = redoflow()
        .arg("verify")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// The run is held inside its first checkpoint (files prepared, nothing committed) by a
/// failpoint that only an abort releases: the first SIGTERM asks for a graceful stop, which
/// cannot finish; the second one stops the run at once, before the commit.
#[cfg(unix)]
#[test]
fn a_second_signal_stops_a_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = sim_config(dir.path(), &out, "100ms", "");
    let mut run = Running::spawn(
        redoflow()
            .args(["run", "--quiet", "--config"])
            .arg(&config)
            .env("REDOFLOW_FAILPOINTS", "after-prepare:pause"),
    );
    run.wait_line("failpoint after-prepare (hit 1): paused");
    run.signal("TERM");
    run.wait_line("stopping after a final checkpoint");
    run.signal("TERM");
    let (status, stderr) = run.wait_exit();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stopping at once"), "{stderr}");
    assert!(stderr.contains("aborted"), "{stderr}");
    // Nothing was committed or renamed: whatever was prepared waits for the next start's
    // recovery.
    assert!(!out.join("_state/checkpoint.bin").exists(), "{stderr}");
    assert!(files_ending(&out.join("_checkpoints"), ".json").is_empty());
    assert!(files_ending(&out, ".csv").is_empty());
}

/// A node whose stderr went away (the log collector's pipe closed) still stops on SIGTERM with
/// a final checkpoint: printing must not take the signal handler down with it.
#[cfg(unix)]
#[test]
fn sigterm_stops_a_run_whose_stderr_is_gone() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = sim_config(dir.path(), &out, "1h", "");
    // Not --quiet: the progress line is printed every second, into the closed pipe.
    let mut child = redoflow()
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    wait_until("rows in progress", || {
        !files_ending(&out, ".inprogress").is_empty()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let ok = std::process::Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not stop a run whose stderr is closed");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert!(out.join("_checkpoints/0000000001.json").is_file());
}
