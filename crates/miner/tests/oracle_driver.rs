//! The real driver. Without an Oracle client on the machine a connect must fail at once with a
//! clear fatal error (DPI-1047, install Instant Client), never a panic. With
//! `REDOFLOW_ORACLE_URL=user@host:port/service` (password in `REDOFLOW_ORACLE_PASSWORD`) the
//! live test mines a few windows; otherwise it prints that it skipped.
#![cfg(feature = "oracle")]

use redoflow_checkpoint::Scn;
use redoflow_miner::oracle::{self, OracleConfig, PreflightOptions};
use redoflow_miner::{LogSource, SourceError};

fn client_installed() -> bool {
    std::env::var_os("REDOFLOW_ORACLE_URL").is_some()
}

#[test]
fn connecting_without_the_client_library_is_a_clear_fatal_error() {
    if client_installed() {
        eprintln!("SKIPPED: REDOFLOW_ORACLE_URL is set, so an Oracle client is assumed present");
        return;
    }
    let config = OracleConfig {
        connect_string: "127.0.0.1:1/NOPE".into(),
        user: "redoflow".into(),
        password_env: Some("REDOFLOW_TEST_DPI_PASSWORD".into()),
        ..OracleConfig::default()
    };
    std::env::set_var("REDOFLOW_TEST_DPI_PASSWORD", "x");
    let mut source = oracle::open(config.clone()).unwrap();
    let started = std::time::Instant::now();
    let e = source.start_session(Scn(1)).unwrap_err();
    assert!(started.elapsed().as_secs() < 30, "must fail at once");
    let msg = e.to_string();
    if msg.contains("DPI-1047") {
        assert!(matches!(e, SourceError::Fatal { .. }), "{msg}");
        assert!(msg.contains("Instant Client"), "{msg}");
        assert!(!msg.contains("REDOFLOW_TEST_DPI_PASSWORD=x"));
    } else {
        // A client is installed after all: nothing listens on port 1.
        assert!(
            e.is_retryable() || matches!(e, SourceError::Fatal { .. }),
            "{msg}"
        );
    }
    eprintln!("driver error as the operator sees it:\n{msg}");
    let report = oracle::check_oracle(&config, &PreflightOptions::default());
    assert!(!report.ok());
    eprintln!("{report}");
}

#[test]
fn a_missing_password_is_a_config_error_not_a_connect() {
    let config = OracleConfig {
        connect_string: "h:1521/S".into(),
        user: "redoflow".into(),
        password_env: Some("REDOFLOW_TEST_UNSET_PASSWORD".into()),
        ..OracleConfig::default()
    };
    let e = oracle::open(config).unwrap_err();
    assert!(
        e.to_string().contains("REDOFLOW_TEST_UNSET_PASSWORD"),
        "{e}"
    );
}

#[test]
fn live_database_when_configured() {
    let Ok(url) = std::env::var("REDOFLOW_ORACLE_URL") else {
        eprintln!("SKIPPED live Oracle test: set REDOFLOW_ORACLE_URL=user@host:port/service and REDOFLOW_ORACLE_PASSWORD to run it");
        return;
    };
    let (user, connect_string) = url
        .split_once('@')
        .expect("REDOFLOW_ORACLE_URL=user@connect_string");
    let config = OracleConfig {
        connect_string: connect_string.into(),
        user: user.into(),
        pdb: std::env::var("REDOFLOW_ORACLE_PDB").ok(),
        ..OracleConfig::default()
    };
    let report = oracle::check_oracle(&config, &PreflightOptions::default());
    eprintln!("{report}");
    let mut source = oracle::open(config.clone()).unwrap();
    let current = source.current_scn().unwrap();
    let start = Scn(current.0.saturating_sub(1000));
    source.start_session(start).unwrap();
    let mut rows = Vec::new();
    let mut read = start;
    while read < current {
        let end = Scn((read.0 + 500).min(current.0));
        source.fetch(read, end, &mut rows).unwrap();
        read = end;
    }
    assert!(rows.windows(2).all(|w| w[0].scn <= w[1].scn));
    eprintln!(
        "live: {} rows between SCN {start} and {current}; {:?}",
        rows.len(),
        source.stats()
    );
    // The same conformance suite the simulated and replay sources pass.
    if rows.is_empty() {
        eprintln!(
            "live: no redo rows in the last 1000 SCNs; conformance suite needs some activity"
        );
    } else {
        redoflow_miner::conformance::check_source(
            || oracle::open(config.clone()).unwrap(),
            start,
            current,
        )
        .unwrap();
    }
}
