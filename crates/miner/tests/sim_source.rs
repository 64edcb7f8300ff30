//! SimSource as a LogSource: determinism over any window sequence, restarts, the clock-driven
//! current SCN, session staleness and every injected fault.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use redoflow_checkpoint::Scn;
use redoflow_miner::sim::{ManualClock, SimFaults};
use redoflow_miner::{LogSource, RedoRow, SimConfig, SimSource, SourceError};

const START: u64 = 1_000_000;

fn fetch(src: &mut SimSource, read: u64, end: u64) -> Vec<RedoRow> {
    let mut out = Vec::new();
    src.fetch(Scn(read), Scn(end), &mut out).unwrap();
    assert!(out.iter().all(|r| r.scn.0 > read && r.scn.0 <= end));
    out
}

fn config(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        ..SimConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Any sequence of windows (forwards, backwards, overlapping) returns, for each window, the
    /// rows a fresh source returns for it.
    #[test]
    fn windows_are_repeatable(windows in prop::collection::vec((0u64..400_000, 1u64..30_000), 1..8)) {
        let mut a = SimSource::new(config(11)).unwrap();
        for (from, len) in windows {
            let (read, end) = (START + from, START + from + len);
            let mut b = SimSource::new(config(11)).unwrap();
            prop_assert_eq!(fetch(&mut a, read, end), fetch(&mut b, read, end));
        }
    }
}

#[test]
fn small_windows_equal_one_big_window_and_restarts_repeat() {
    let mut a = SimSource::new(config(5)).unwrap();
    let big = fetch(&mut a, START, START + 300_000);
    let mut b = SimSource::new(config(5)).unwrap();
    let mut small = Vec::new();
    let mut read = START;
    for size in [1u64, 7, 500, 20_000, 3, 99_999].iter().cycle() {
        if read >= START + 300_000 {
            break;
        }
        let end = (read + size).min(START + 300_000);
        small.extend(fetch(&mut b, read, end));
        read = end;
    }
    assert_eq!(big, small);
    // A restart at an earlier SCN (new session) returns the same rows again.
    b.start_session(Scn(START + 50_000)).unwrap();
    let again = fetch(&mut b, START + 50_000, START + 300_000);
    let expected: Vec<RedoRow> = big
        .iter()
        .filter(|r| r.scn.0 > START + 50_000)
        .cloned()
        .collect();
    assert_eq!(again, expected);
    // A different seed is a different database.
    let mut c = SimSource::new(config(6)).unwrap();
    assert_ne!(
        fetch(&mut c, START, START + 10_000),
        fetch(&mut a, START, START + 10_000)
    );
}

#[test]
fn truth_and_contents_are_stable() {
    let a = SimSource::new(config(9)).unwrap();
    let b = SimSource::new(config(9)).unwrap();
    assert_eq!(a.truth(Scn(START + 50_000)), b.truth(Scn(START + 50_000)));
    let t = &a.tables()[1];
    let rows = a.table_contents(t, Scn(START + 50_000)).unwrap();
    assert!(!rows.is_empty());
    assert_eq!(Some(rows), b.table_contents(t, Scn(START + 50_000)));
    let schema = a.catalog();
    assert_eq!(schema.len(), 4);
    let mut a = a;
    let s = a.table_schema("SIM", "order lines").unwrap().unwrap();
    assert_eq!(s.columns[0].name, "Line#");
    assert!(a.table_schema("SIM", "NOPE").unwrap().is_none());
}

#[test]
fn rate_drives_the_current_scn() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let cfg = SimConfig {
        rate: Some(1000.0),
        start_unix_ms: Some(1_000_000),
        ..SimConfig::default()
    };
    let mut src = SimSource::with_clock(cfg, clock.clone()).unwrap();
    assert_eq!(src.current_scn().unwrap(), Scn(START));
    clock.advance(Duration::from_secs(2));
    let at2 = src.current_scn().unwrap();
    assert!(at2 > Scn(START));
    // About 2000 changes by then.
    src.start_session(Scn(START)).unwrap();
    let rows = fetch(&mut src, START, at2.0);
    let dml = rows.iter().filter(|r| r.op.is_dml() && !r.csf).count();
    assert!((1900..2200).contains(&dml), "{dml} changes");
    clock.advance(Duration::from_secs(1));
    assert!(src.current_scn().unwrap() > at2);
    // Unbounded: Scn::MAX, or end_scn.
    let mut free = SimSource::new(SimConfig::default()).unwrap();
    assert_eq!(free.current_scn().unwrap(), Scn::MAX);
    let mut ended = SimSource::new(SimConfig {
        end_scn: Some(START + 1000),
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(ended.current_scn().unwrap(), Scn(START + 1000));
    assert!(!ended.is_finished());
    let rows = fetch(&mut ended, START, START + 5000);
    assert!(rows.iter().all(|r| r.scn.0 <= START + 1000));
    assert!(ended.is_finished());
}

#[test]
fn session_goes_stale_after_a_log_switch() {
    let cfg = SimConfig {
        log_switch_scns: 10_000,
        ..SimConfig::default()
    };
    let mut src = SimSource::new(cfg.clone()).unwrap();
    src.start_session(Scn(START)).unwrap();
    fetch(&mut src, START, START + 5_000);
    assert!(!src.session_stale().unwrap());
    fetch(&mut src, START + 5_000, START + 12_000);
    assert!(src.session_stale().unwrap());
    src.start_session(Scn(START + 12_000)).unwrap();
    assert!(!src.session_stale().unwrap());
    let mut off = SimSource::new(SimConfig {
        stale_on_log_switch: false,
        ..cfg
    })
    .unwrap();
    off.start_session(Scn(START)).unwrap();
    fetch(&mut off, START, START + 50_000);
    assert!(!off.session_stale().unwrap());
}

fn with_faults(faults: SimFaults) -> (SimSource, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(0));
    let cfg = SimConfig {
        log_switch_scns: 10_000,
        faults,
        ..SimConfig::default()
    };
    (SimSource::with_clock(cfg, clock.clone()).unwrap(), clock)
}

#[test]
fn dropped_connections_are_retryable_until_a_new_session() {
    let (mut src, _) = with_faults(SimFaults {
        drop_connection_every: Some(10),
        ..SimFaults::default()
    });
    let mut clean = SimSource::new(SimConfig {
        log_switch_scns: 10_000,
        ..SimConfig::default()
    })
    .unwrap();
    src.start_session(Scn(START)).unwrap();
    let (mut read, mut drops, mut rows) = (START, 0, Vec::new());
    while read < START + 100_000 {
        let end = read + 1000;
        match src.fetch(Scn(read), Scn(end), &mut rows) {
            Ok(()) => read = end,
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                assert!(e.to_string().contains("ORA-03113"));
                assert!(src.session_stale().unwrap());
                // Still down until a new session.
                assert!(src.current_scn().is_err());
                drops += 1;
                src.start_session(Scn(read)).unwrap();
            }
        }
    }
    assert!(drops >= 5, "{drops} drops");
    assert_eq!(rows, fetch(&mut clean, START, START + 100_000));
}

#[test]
fn slow_fetches_sleep_on_the_clock() {
    let (mut src, clock) = with_faults(SimFaults {
        slow_fetch_every: Some(4),
        slow_fetch_ms: 3000,
        ..SimFaults::default()
    });
    src.start_session(Scn(START)).unwrap();
    for i in 0..40 {
        fetch(&mut src, START + i * 100, START + (i + 1) * 100);
    }
    let slept = clock.slept();
    assert!(slept >= Duration::from_secs(15), "{slept:?}");
    assert_eq!(slept.as_millis() % 3000, 0);
}

#[test]
fn a_window_across_a_log_switch_fails_once() {
    let (mut src, _) = with_faults(SimFaults {
        log_switch_race: true,
        ..SimFaults::default()
    });
    src.start_session(Scn(START)).unwrap();
    let mut rows = Vec::new();
    src.fetch(Scn(START), Scn(START + 5_000), &mut rows)
        .unwrap();
    let e = src
        .fetch(Scn(START + 5_000), Scn(START + 15_000), &mut rows)
        .unwrap_err();
    assert!(e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains("ORA-01291") || text.contains("ORA-00310"),
        "{text}"
    );
    src.start_session(Scn(START + 5_000)).unwrap();
    src.fetch(Scn(START + 5_000), Scn(START + 15_000), &mut rows)
        .unwrap();
    let e = src
        .fetch(Scn(START + 15_000), Scn(START + 25_000), &mut rows)
        .unwrap_err();
    assert!(e.to_string().contains("ORA-00310"), "{e}");
}

#[test]
fn purged_logs_name_the_missing_range() {
    let (mut src, _) = with_faults(SimFaults {
        purge_scn: Some(START + 40_000),
        ..SimFaults::default()
    });
    match src.start_session(Scn(START + 100)) {
        Err(SourceError::LogsMissing {
            resume_scn,
            missing_from,
            missing_to,
        }) => {
            assert_eq!(resume_scn, Scn(START + 100));
            assert_eq!(missing_from, Scn(START + 101));
            assert_eq!(missing_to, Scn(START + 40_000));
        }
        other => panic!("{other:?}"),
    }
    let mut rows = Vec::new();
    assert!(matches!(
        src.fetch(Scn(START), Scn(START + 10), &mut rows),
        Err(SourceError::LogsMissing { .. })
    ));
    src.start_session(Scn(START + 40_000)).unwrap();
    src.fetch(Scn(START + 40_000), Scn(START + 90_000), &mut rows)
        .unwrap();
    assert!(!rows.is_empty());
}

/// A stalled source reads up to the stall SCN, then hangs until interrupted (the runtime's
/// abort), fails retryably, and reads on normally once `stall_count` stalls have happened; the
/// rows are those of a source without the fault.
#[test]
fn a_stalled_fetch_hangs_until_interrupted_then_clears() {
    let stall = START + 30_000;
    let (mut src, _) = with_faults(SimFaults {
        stall_after_scn: Some(stall),
        stall_count: Some(1),
        ..SimFaults::default()
    });
    let mut clean = SimSource::new(SimConfig {
        log_switch_scns: 10_000,
        ..SimConfig::default()
    })
    .unwrap();
    src.start_session(Scn(START)).unwrap();
    let mut rows = Vec::new();
    // A window across the stall ends at it.
    let through = src
        .fetch_capped(Scn(START), Scn(stall + 5_000), &mut rows, usize::MAX)
        .unwrap();
    assert_eq!(through, Scn(stall));
    // The next one hangs until an interrupt from another thread ends it.
    let interrupt = src
        .interrupter()
        .expect("the stall fault makes the source interruptible");
    let breaker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        interrupt();
    });
    let e = src
        .fetch(Scn(stall), Scn(stall + 5_000), &mut rows)
        .unwrap_err();
    breaker.join().unwrap();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("ORA-01013"), "{e}");
    // Cleared: the rest reads as without the fault, and the current SCN never stalled.
    src.start_session(Scn(stall)).unwrap();
    src.fetch(Scn(stall), Scn(stall + 20_000), &mut rows)
        .unwrap();
    assert_eq!(rows, fetch(&mut clean, START, stall + 20_000));
    assert!(src.current_scn().unwrap() > Scn(stall));
}

/// Without an interrupt a stalled fetch ends at its timeout, as a query past Oracle's call
/// timeout does; a stall without `stall_count` never clears.
#[test]
fn a_stalled_fetch_times_out_and_an_endless_stall_stays() {
    let (mut src, _) = with_faults(SimFaults {
        stall_after_scn: Some(START),
        stall_timeout_ms: Some(5),
        ..SimFaults::default()
    });
    src.start_session(Scn(START)).unwrap();
    let mut rows = Vec::new();
    for _ in 0..3 {
        let e = src
            .fetch(Scn(START), Scn(START + 5_000), &mut rows)
            .unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert!(e.to_string().contains("ORA-03156"), "{e}");
        src.start_session(Scn(START)).unwrap();
    }
    assert!(rows.is_empty());
}

#[test]
fn a_source_without_the_stall_fault_needs_no_interrupter() {
    let (src, _) = with_faults(SimFaults::default());
    assert!(src.interrupter().is_none());
    let bad = SimConfig {
        faults: SimFaults {
            stall_after_scn: Some(START),
            stall_count: Some(0),
            ..SimFaults::default()
        },
        ..SimConfig::default()
    };
    assert!(bad.validate().unwrap_err().contains("stall_count"));
}

#[test]
fn config_is_deserialized_with_defaults_and_checked() {
    let cfg: SimConfig = serde_json_like();
    assert_eq!(cfg.threads, 2);
    assert_eq!(cfg.workload, SimConfig::default().workload);
    let bad = SimConfig {
        threads: 0,
        ..SimConfig::default()
    };
    assert!(matches!(
        SimSource::new(bad),
        Err(SourceError::Fatal { .. })
    ));
}

/// The dev-dependencies have no TOML/JSON crate: deserialize through serde's value-less path by
/// building the config from a `serde::de::value` map.
fn serde_json_like() -> SimConfig {
    use serde::de::value::{Error, MapDeserializer};
    use serde::Deserialize;
    let map = vec![("threads", 2u16)];
    SimConfig::deserialize(MapDeserializer::<_, Error>::new(map.into_iter())).unwrap()
}

/// RS_ID and ROW_ID look like LogMiner's: ` 0x<6 hex>.<8 hex>.<4 hex> ` and 18 base-64
/// characters; RS_ID names the log sequence of the row's thread.
#[test]
fn rs_id_and_row_id_have_logminer_shapes() {
    let mut src = SimSource::new(SimConfig {
        threads: 2,
        ..config(5)
    })
    .unwrap();
    let rows = fetch(&mut src, START, START + 5_000);
    assert!(rows.len() > 1_000);
    let hex = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    for r in &rows {
        let parts: Vec<&str> = r
            .rs_id
            .strip_prefix(" 0x")
            .and_then(|s| s.strip_suffix(' '))
            .map(|s| s.split('.').collect())
            .unwrap_or_default();
        assert!(
            parts.len() == 3
                && [6, 8, 4]
                    .iter()
                    .zip(&parts)
                    .all(|(n, p)| p.len() == *n && hex(p)),
            "RS_ID {:?}",
            r.rs_id
        );
        // Logs switch every `log_switch_scns`, thread 2 staggered by half a log.
        let (size, phase) = (
            src.config().log_switch_scns,
            u64::from(r.thread.0 - 1) * 125_000,
        );
        let seq = 1 + (r.scn.0 + phase) / size;
        assert_eq!(
            u64::from_str_radix(parts[0], 16).unwrap(),
            seq,
            "log sequence"
        );
        if r.op.is_dml() {
            assert_eq!(r.row_id.len(), 18, "{:?}", r.row_id);
            assert!(r
                .row_id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/'));
        }
    }
}

/// The conformance suite, capped reads included: a read over a long window stops at an SCN
/// boundary past its row cap, and the capped reads return the rows of whole ones.
#[test]
fn sim_source_conforms_and_caps_its_reads() {
    let open = || {
        SimSource::new(SimConfig {
            end_scn: Some(START + 40_000),
            ..config(3)
        })
        .unwrap()
    };
    redoflow_miner::conformance::check_source(open, Scn(START), Scn(START + 40_000)).unwrap();
    let mut src = open();
    let mut rows = Vec::new();
    let through = src
        .fetch_capped(Scn(START), Scn(START + 40_000), &mut rows, 100)
        .unwrap();
    assert!(
        through < Scn(START + 40_000),
        "not capped: {} rows",
        rows.len()
    );
    assert!((100..200).contains(&rows.len()), "{} rows", rows.len());
    assert!(rows.iter().all(|r| r.scn <= through));
}

/// A standby source prepared for a resume point (ahead of, or behind, where it is read from)
/// returns exactly the rows of a fresh source.
#[test]
fn prepare_positions_without_changing_any_row() {
    let mut fresh = SimSource::new(config(5)).unwrap();
    let mut warm = SimSource::new(config(5)).unwrap();
    warm.prepare(Scn(START + 200_000));
    for (read, end) in [
        (START + 150_000, START + 160_000),
        (START + 210_000, START + 215_000),
    ] {
        warm.start_session(Scn(read)).unwrap();
        fresh.start_session(Scn(read)).unwrap();
        assert_eq!(fetch(&mut warm, read, end), fetch(&mut fresh, read, end));
    }
    warm.prepare(Scn(START + 100));
    assert_eq!(
        fetch(&mut warm, START + 215_000, START + 216_000),
        fetch(&mut fresh, START + 215_000, START + 216_000)
    );
}
