//! The real binary: `redoflow replay` on the bundled example, then `redoflow verify`, and the
//! errors a user sees.

use std::fs;
use std::path::Path;
use std::process::Command;

fn redoflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_redoflow"))
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/hr")
        .join(name)
        .display()
        .to_string()
}

/// `redoflow verify --out DIR` on `out`.
fn verify(out: &Path) -> std::process::Output {
    redoflow()
        .arg("verify")
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn assert_verifies(out: &Path) {
    let v = verify(out);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn replay_then_verify_then_detect_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = redoflow()
        .args([
            "replay",
            "--contents",
            &example("logmnr_contents.csv"),
            "--columns",
            &example("all_tab_columns.csv"),
            "--out",
        ])
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("replay finished"), "{stdout}");
    assert!(stdout.contains("open at end"), "{stdout}");

    assert_verifies(&out);

    // Flip one byte of one finished file: verify must fail and name it.
    let table_dir = out.join("HR.EMPLOYEES");
    let file = fs::read_dir(&table_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .unwrap();
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x01;
    fs::write(&file, bytes).unwrap();
    let tampered = verify(&out);
    let report = String::from_utf8_lossy(&tampered.stdout);
    assert_eq!(tampered.status.code(), Some(2), "{report}");
    let name = file.file_name().unwrap().to_string_lossy().to_string();
    assert!(report.contains(&name), "{report}");
}

#[test]
fn missing_export_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = redoflow()
        .args(["replay", "--contents", "/nonexistent/logmnr.csv", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("/nonexistent/logmnr.csv"), "{stderr}");
}

#[test]
fn bad_config_key_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    fs::write(&cfg, "[output]\nmax_file_bites = \"1MiB\"\n").unwrap();
    let run = redoflow()
        .args([
            "replay",
            "--contents",
            &example("logmnr_contents.csv"),
            "--config",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("max_file_bites"), "{stderr}");
}

/// `redoflow run` on the simulated Oracle: a database that stops changing at `end_scn` is
/// mined to its end, and the output verifies.
#[test]
fn run_on_the_simulated_oracle_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("node.toml");
    let out = dir.path().join("out");
    fs::write(
        &cfg,
        format!(
            "[source]\nkind = \"sim\"\n[source.sim]\nseed = 3\nstart_scn = 1000\nend_scn = 21000\n\
             [output]\ndir = {:?}\nfsync = false\n[checkpoint]\ninterval = \"100ms\"\n",
            out.display().to_string()
        ),
    )
    .unwrap();
    let run = redoflow()
        .args(["run", "--quiet", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("changes written"), "{stdout}");
    assert_verifies(&out);
    assert!(out.join("SIM.CUSTOMERS").is_dir() || out.join("SIM.ORDERS").is_dir());
}

/// On a machine without the Oracle client library the preflight fails cleanly, naming the
/// missing client, instead of panicking.
#[cfg(feature = "oracle")]
#[test]
fn check_oracle_without_a_client_library_explains_what_is_missing() {
    if std::env::var_os("REDOFLOW_ORACLE_URL").is_some() {
        eprintln!("SKIPPED: a database is configured; this test is for machines without one");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("oracle.toml");
    fs::write(
        &cfg,
        "[source]\nkind = \"oracle\"\n[source.oracle]\nconnect_string = \"127.0.0.1:1/NOPE\"\nuser = \"C##REDOFLOW\"\n",
    )
    .unwrap();
    let run = redoflow()
        .args(["check-oracle", "--config"])
        .arg(&cfg)
        .env("REDOFLOW_ORACLE_PASSWORD", "not-a-real-password")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains("DPI-1047") && stdout.contains("Instant Client"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("not-a-real-password"),
        "the password must never be printed"
    );
}

/// `redoflow bench` on both simulated catalogs: it stops after the asked number of changes,
/// prints its figures, and what it wrote verifies.
#[test]
fn bench_on_the_simulated_oracle_reports_and_writes_verified_output() {
    for catalog in ["ten-columns", "mixed"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let run = redoflow()
            .args(["bench", "--changes", "20000", "--catalog", catalog, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{catalog}: {stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let written: u64 = stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("changes written"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{catalog}: no changes line in {stdout}"));
        assert!(written >= 20_000, "{catalog}: {written}");
        assert!(stdout.contains("changes/s"), "{stdout}");
        assert!(stdout.contains("fetch per round"), "{stdout}");
        assert_verifies(&out);
    }
}

/// `redoflow bench --json` on a recorded export: the figures as one JSON object, with the time
/// of each stage, the export mined to its end; without a terminal the progress is plain lines
/// on stderr, never a bar.
#[test]
fn bench_measures_an_export_and_reports_json_with_stage_times() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run = redoflow()
        .args([
            "bench",
            "--source",
            "replay",
            "--contents",
            &example("logmnr_contents.csv"),
            "--columns",
            &example("all_tab_columns.csv"),
            "--json",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "{stdout}
{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout).expect("stdout is one JSON object");
    assert!(
        report["source"].as_str().unwrap().starts_with("replay of "),
        "{report}"
    );
    assert!(report["changes_written"].as_u64().unwrap() > 0, "{report}");
    assert!(report["checkpoints"].as_u64().unwrap() >= 1, "{report}");
    for stage in ["fetch", "buffer", "parse_write", "checkpoint"] {
        let s = report["stages_s"][stage].as_f64().unwrap();
        assert!(
            s >= 0.0 && s <= report["elapsed_s"].as_f64().unwrap() * 2.0,
            "{stage}: {report}"
        );
    }
    assert!(
        report["stages_s"]["parse_write"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no terminal escapes without a terminal: {stderr}"
    );
    assert_verifies(&out);

    // The human form names the stages.
    let run = redoflow()
        .args(["bench", "--changes", "5000", "--out"])
        .arg(dir.path().join("sim"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{stdout}");
    for line in ["fetch", "buffer", "parse+write", "checkpoint"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(line) && l.contains("µs")),
            "{line}: {stdout}"
        );
    }
}

#[test]
fn bench_flags_for_a_replay_are_checked() {
    let run = redoflow()
        .args(["bench", "--source", "replay"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--contents"));
    let run = redoflow()
        .args(["bench", "--contents", &example("logmnr_contents.csv")])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--source replay"));
}

/// A duration out of range on the command line is a usage error (exit 2) naming the flag, not
/// a panic (exit 101).
#[test]
fn an_out_of_range_duration_flag_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = redoflow()
        .args([
            "replay",
            "--contents",
            &example("logmnr_contents.csv"),
            "--checkpoint-interval",
            "99999999999999999999s",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--checkpoint-interval"), "{stderr}");
    assert!(stderr.contains("invalid duration"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// An I/O error names its path and its cause, the cause once (many errors carry their cause in
/// their own message as well as in the error chain).
#[test]
fn an_io_error_prints_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let run = redoflow()
        .args([
            "replay",
            "--contents",
            &example("logmnr_contents.csv"),
            "--out",
        ])
        .arg(file.join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("os error 20").count(), 1, "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
}

#[test]
fn status_of_an_address_where_no_node_listens_says_why() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let run = redoflow()
        .args(["status", "--node", &addr])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains(&addr)
            && err.contains("cannot connect")
            && err.contains("Connection refused")
            && err.contains("is a redoflow node listening there?"),
        "{err}"
    );
}
