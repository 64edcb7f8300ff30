//! One process per output: a second `redoflow` on the output root or the state dir of a
//! running one stops at once, naming the holder, and leaves the first one's output alone.

mod common;

use std::path::Path;

use common::process::{files_ending, redoflow, sim_config, wait_until, Running};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/hr")
        .join(name)
        .display()
        .to_string()
}

/// This machine's name as the kernel has it (what `uname -n` prints).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[cfg(target_os = "linux")]
#[test]
fn a_second_process_on_a_locked_output_or_state_dir_stops_at_once_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = sim_config(dir.path(), &out, "200ms", "");
    let mut first = Running::spawn(
        redoflow()
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--quiet"),
    );
    // Running: it holds the lock and has written rows.
    let lock = out.join(redoflow::lock::LOCK_FILE);
    let me = format!("pid={}", first.pid());
    wait_until("the first process locks the output root", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&me))
    });
    wait_until("the first process writes a checkpoint", || {
        !files_ending(&out.join("_checkpoints"), ".json").is_empty()
    });

    // A replay into the same output root.
    let second = redoflow()
        .args(["replay", "--contents", &example("logmnr_contents.csv")])
        .args([
            "--columns",
            &example("all_tab_columns.csv"),
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(&format!("pid {}", first.pid())), "{stderr}");
    assert!(stderr.contains(&format!("on host {}", host())), "{stderr}");
    assert!(stderr.contains(&out.display().to_string()), "{stderr}");
    assert!(
        !out.join("HR.EMPLOYEES").exists(),
        "the second process wrote into the locked output"
    );

    // A run with its own output root but the first one's state dir.
    let other = dir.path().join("other");
    let state = out.join("_state");
    let config2 = sim_config(
        dir.path(),
        &other,
        "200ms",
        &format!("state_dir = {:?}\n", state.display().to_string()),
    );
    let third = redoflow()
        .args(["run", "--quiet", "--config"])
        .arg(&config2)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(&format!("pid {}", first.pid())), "{stderr}");
    assert!(stderr.contains(&state.display().to_string()), "{stderr}");

    // The first process is unharmed: it stops cleanly and its output verifies.
    first.signal("TERM");
    let (status, stderr) = first.wait_exit();
    assert!(status.success(), "{status}: {stderr}");
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
    // And the lock went with it.
    redoflow::DirLock::acquire(&out, "test").unwrap();
}
