//! Log-set selection over recorded V$LOG / V$ARCHIVED_LOG / V$THREAD rows
//! (`testdata/oracle/logs/<scenario>/`).
#![cfg(feature = "oracle")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use redoflow_checkpoint::Scn;
use redoflow_miner::oracle::conn::TextRows;
use redoflow_miner::oracle::logs::{select_logs, window_cap, LogKind, LogSet, LogSetError};
use redoflow_miner::oracle::source::{parse_archived, parse_online, parse_threads};

fn rows(scenario: &str, file: &str) -> TextRows {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/oracle/logs")
        .join(scenario)
        .join(file);
    let mut r = csv::Reader::from_path(&path).unwrap();
    r.records()
        .map(|rec| {
            rec.unwrap()
                .iter()
                .map(|f| (!f.is_empty()).then(|| f.to_string()))
                .collect()
        })
        .collect()
}

fn select(scenario: &str, start: u64) -> Result<LogSet, LogSetError> {
    let online = parse_online(&rows(scenario, "v_log.csv")).unwrap();
    let all_archived = parse_archived(&rows(scenario, "v_archived_log.csv")).unwrap();
    let threads = parse_threads(&rows(scenario, "v_thread.csv")).unwrap();
    // What sql::ARCHIVED_LOGS and sql::ARCHIVED_BEFORE return for the start SCN.
    let archived: Vec<_> = all_archived
        .iter()
        .filter(|a| a.next_change > Scn(start))
        .cloned()
        .collect();
    let mut before = BTreeMap::new();
    for a in all_archived.iter().filter(|a| a.next_change <= Scn(start)) {
        let seq = before.entry(a.thread).or_insert(a.sequence);
        *seq = (*seq).max(a.sequence);
    }
    select_logs(Scn(start), &online, &archived, &threads, &before)
}

fn files(set: &LogSet) -> Vec<(u16, u64, &str, LogKind)> {
    set.files
        .iter()
        .map(|f| (f.thread, f.sequence, f.path.as_str(), f.kind))
        .collect()
}

#[test]
fn single_instance_prefers_archived_and_takes_one_member() {
    let set = select("single", 1000).unwrap();
    assert_eq!(
        files(&set),
        vec![
            (1, 10, "/arch/ORCL/1_10_1122334455.arc", LogKind::Archived),
            (1, 11, "/arch/ORCL/1_11_1122334455.arc", LogKind::Archived),
            (1, 12, "/u01/oradata/ORCL/redo02a.log", LogKind::Online),
            (1, 13, "/u01/oradata/ORCL/redo03a.log", LogKind::Online),
        ]
    );
    assert_eq!(set.current_sequences.get(&1), Some(&13));
    // The CURRENT log's NEXT_CHANGE# of 2^64-1 means "open".
    assert_eq!(set.files[3].next_change, None);
    // Starting in the middle of sequence 12 needs only 12 and 13.
    let set = select("single", 1400).unwrap();
    assert_eq!(
        set.files.iter().map(|f| f.sequence).collect::<Vec<_>>(),
        [12, 13]
    );
    // A start exactly at a log boundary: rows from SCN 1101 live in sequence 11.
    let set = select("single", 1100).unwrap();
    assert_eq!(set.files[0].sequence, 11);
}

#[test]
fn rac_two_threads_each_contiguous_and_cap_at_slowest_thread() {
    let set = select("rac", 1000).unwrap();
    let got = files(&set);
    assert_eq!(
        got.iter().map(|f| (f.0, f.1)).collect::<Vec<_>>(),
        [(1, 10), (1, 11), (1, 12), (1, 13), (2, 5), (2, 6), (2, 7)]
    );
    assert_eq!(got[5].3, LogKind::Archived);
    assert_eq!(got[6].2, "+DATA/ORCL/ONLINELOG/group_6.262");
    assert_eq!(set.current_sequences.len(), 2);
    let threads = parse_threads(&rows("rac", "v_thread.csv")).unwrap();
    // One below the slowest thread's LAST_REDO_CHANGE# (DBZ-8503).
    assert_eq!(window_cap(Scn(1700), &threads), Scn(1579));
    assert_eq!(window_cap(Scn(1500), &threads), Scn(1500));
}

#[test]
fn a_hole_in_the_sequences_is_a_gap() {
    assert_eq!(
        select("gap", 1000),
        Err(LogSetError::Gap {
            thread: 1,
            from: 11,
            to: 11
        })
    );
}

#[test]
fn v_thread_ahead_of_v_log_is_a_late_archiver_gap() {
    assert_eq!(
        select("late_archiver", 1000),
        Err(LogSetError::Gap {
            thread: 1,
            from: 14,
            to: 14
        })
    );
}

#[test]
fn duplicate_destinations_give_one_file_per_sequence() {
    let set = select("duplicate_dest", 1000).unwrap();
    assert_eq!(
        files(&set)[..2],
        [
            (1, 10, "/arch/ORCL/1_10_1122334455.arc", LogKind::Archived),
            (1, 11, "/arch/ORCL/1_11_1122334455.arc", LogKind::Archived),
        ]
    );
    assert_eq!(set.files.len(), 4);
}

#[test]
fn start_older_than_every_log_means_the_redo_is_gone() {
    assert_eq!(
        select("gone", 500),
        Err(LogSetError::StartNotCovered {
            thread: 1,
            start: Scn(500),
            oldest: Scn(900)
        })
    );
    // SCN 899 is the last one before the oldest log: still covered from 900 on.
    assert!(select("gone", 899).is_ok());
}

/// A RAC instance closed for a maintenance window and opened again: its thread has no log that
/// holds the start SCN (its first log starts when it reopened), exactly how a thread whose redo
/// is gone looks, except that its archived sequences continue from the last log that ended
/// before the start. Consistent, as Debezium decided (DBZ-8162, DBZ-8724); a missing sequence
/// between them is a gap, retried.
#[test]
fn a_reopened_rac_thread_is_consistent_when_its_sequences_continue() {
    let set = select("rac_reopened", 1400).unwrap();
    assert_eq!(
        set.files
            .iter()
            .map(|f| (f.thread, f.sequence))
            .collect::<Vec<_>>(),
        [(1, 12), (1, 13), (2, 6)]
    );
    assert_eq!(
        select("rac_reopened_gap", 1400),
        Err(LogSetError::Gap {
            thread: 2,
            from: 5,
            to: 5
        })
    );
}

/// A thread disabled after the start SCN wrote redo up to its DISABLE_CHANGE#: its logs up to
/// there are mined (they were skipped, and its rows lost); a thread disabled before the start
/// has nothing to mine.
#[test]
fn a_disabled_thread_is_mined_up_to_its_disable_change() {
    let set = select("rac_disabled", 1300).unwrap();
    assert_eq!(
        files(&set)
            .iter()
            .map(|f| (f.0, f.1, f.3))
            .collect::<Vec<_>>(),
        [
            (1, 12, LogKind::Archived),
            (1, 13, LogKind::Online),
            (2, 6, LogKind::Archived)
        ]
    );
    let set = select("rac_disabled", 1460).unwrap();
    assert!(set.files.iter().all(|f| f.thread == 1), "{set:?}");
}

/// V$LOGFILE marks a member STALE when its contents are incomplete (Oracle Database Reference,
/// V$LOGFILE.STATUS): a valid member of the group is used instead; a stale one only when the
/// group has no other.
#[test]
fn a_stale_member_is_the_last_resort() {
    let set = select("stale_member", 1350).unwrap();
    assert_eq!(
        files(&set).iter().map(|f| (f.1, f.2)).collect::<Vec<_>>(),
        [
            (12, "/u02/oradata/ORCL/redo02b.log"),
            (13, "/u01/oradata/ORCL/redo03a.log")
        ]
    );
}
