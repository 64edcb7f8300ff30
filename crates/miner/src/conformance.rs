//! The `LogSource` conformance suite: one set of checks every source must pass (the simulated,
//! replay and Oracle sources, and an embedder's own). Each check returns a description of the
//! first violation it finds, naming the SCNs involved.
//!
//! Checked, over a caller-chosen SCN range:
//! - windows are exclusive-inclusive: every row of `fetch(read, end)` has `read < SCN <= end`;
//! - rows come in SCN order, and a row with `CSF = 1` is directly followed by its continuation
//!   (same XID);
//! - reads are repeatable: one big window, many small windows, and a new session started
//!   part-way all return the same rows;
//! - no window needs to end past `current_scn`;
//! - a capped read (`fetch_capped`) ends at an SCN boundary inside its window, holds fewer
//!   than the cap's rows before its last SCN, and capped reads return the same rows as whole
//!   ones;
//! - under injected faults, every error is classified: retryable errors are recovered by a new
//!   session and change nothing in what is read; anything else is a stop, never silent loss.

use redoflow_checkpoint::Scn;

use crate::row::RedoRow;
use crate::source::{LogSource, SourceError};

/// A violation of the `LogSource` contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {detail}")]
pub struct Violation {
    pub check: &'static str,
    pub detail: String,
}

fn violation(check: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        check,
        detail: detail.into(),
    }
}

fn source_err(check: &'static str, e: SourceError) -> Violation {
    violation(check, format!("unexpected source error: {e}"))
}

/// Reads `(from, to]` with windows of the given sizes (cycled), in one session started at
/// `from`; windows never end past `current_scn`.
pub fn read_range<S: LogSource>(
    source: &mut S,
    from: Scn,
    to: Scn,
    window_sizes: &[u64],
) -> Result<Vec<RedoRow>, Violation> {
    const CHECK: &str = "windows";
    source
        .start_session(from)
        .map_err(|e| source_err(CHECK, e))?;
    let mut rows = Vec::new();
    let mut read = from;
    let mut i = 0;
    while read < to {
        let current = source.current_scn().map_err(|e| source_err(CHECK, e))?;
        if current <= read {
            return Err(violation(
                CHECK,
                format!("current SCN {current} is not past the read position {read} below {to}"),
            ));
        }
        let size = window_sizes
            .get(i % window_sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        i += 1;
        let end = Scn(read.0.saturating_add(size).min(to.0).min(current.0));
        let before = rows.len();
        source
            .fetch(read, end, &mut rows)
            .map_err(|e| source_err(CHECK, e))?;
        if let Some(bad) = rows[before..].iter().find(|r| r.scn <= read || r.scn > end) {
            return Err(violation(
                CHECK,
                format!("window ({read}, {end}] returned a row at SCN {}", bad.scn),
            ));
        }
        read = end;
    }
    Ok(rows)
}

/// Reads `(from, to]` in windows of `window` SCNs with `fetch_capped(.., cap)`, going on from
/// wherever each read says it is complete. Each read must end inside its window, at an SCN
/// boundary: fewer than `cap` rows before the SCN of its last row, and when it ends early, at
/// least `cap` rows in all.
pub fn read_range_capped<S: LogSource>(
    source: &mut S,
    from: Scn,
    to: Scn,
    window: u64,
    cap: usize,
) -> Result<Vec<RedoRow>, Violation> {
    const CHECK: &str = "capped reads";
    source
        .start_session(from)
        .map_err(|e| source_err(CHECK, e))?;
    let mut rows = Vec::new();
    let mut read = from;
    while read < to {
        let current = source.current_scn().map_err(|e| source_err(CHECK, e))?;
        let end = Scn(read
            .0
            .saturating_add(window.max(1))
            .min(to.0)
            .min(current.0));
        if end <= read {
            return Err(violation(
                CHECK,
                format!("current SCN {current} is not past the read position {read} below {to}"),
            ));
        }
        let before = rows.len();
        let through = source
            .fetch_capped(read, end, &mut rows, cap)
            .map_err(|e| source_err(CHECK, e))?;
        if through <= read || through > end {
            return Err(violation(
                CHECK,
                format!("read ({read}, {end}] says it is complete through SCN {through}"),
            ));
        }
        let got = &rows[before..];
        if let Some(bad) = got.iter().find(|r| r.scn <= read || r.scn > through) {
            return Err(violation(
                CHECK,
                format!(
                    "read ({read}, {end}] complete through {through} returned a row at SCN {}",
                    bad.scn
                ),
            ));
        }
        let last = got.last().map_or(through, |r| r.scn);
        let before_last = got.iter().filter(|r| r.scn < last).count();
        if before_last >= cap.max(1) {
            return Err(violation(
                CHECK,
                format!(
                    "read ({read}, {end}] with a cap of {cap} rows held {before_last} rows \
                     before its last SCN {last}"
                ),
            ));
        }
        if through < end && got.len() < cap {
            return Err(violation(
                CHECK,
                format!(
                    "read ({read}, {end}] ended at SCN {through} with {} rows, under the cap \
                     of {cap}",
                    got.len()
                ),
            ));
        }
        read = through;
    }
    Ok(rows)
}

/// Rows in SCN order; CSF rows followed by their continuation.
pub fn check_order(rows: &[RedoRow]) -> Result<(), Violation> {
    for pair in rows.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.scn < a.scn {
            return Err(violation(
                "scn order",
                format!("SCN {} comes after SCN {}", b.scn, a.scn),
            ));
        }
        if a.csf && b.xid != a.xid {
            return Err(violation(
                "csf adjacency",
                format!(
                    "row at SCN {} (XID {}) has CSF = 1 but the next row belongs to XID {}",
                    a.scn, a.xid, b.xid
                ),
            ));
        }
    }
    if rows.last().is_some_and(|r| r.csf) {
        return Err(violation(
            "csf adjacency",
            "the last row has CSF = 1 and no continuation",
        ));
    }
    Ok(())
}

fn same_rows(check: &'static str, a: &[RedoRow], b: &[RedoRow]) -> Result<(), Violation> {
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        return Err(violation(
            check,
            format!("row {i} differs: SCN {} vs SCN {}", a[i].scn, b[i].scn),
        ));
    }
    if a.len() != b.len() {
        return Err(violation(
            check,
            format!("{} rows vs {} rows", a.len(), b.len()),
        ));
    }
    Ok(())
}

/// The whole suite over `(from, to]`. `open` makes a fresh source each time it is called (a
/// new process, as far as the source can tell).
pub fn check_source<S: LogSource>(
    mut open: impl FnMut() -> S,
    from: Scn,
    to: Scn,
) -> Result<(), Violation> {
    let whole = read_range(&mut open(), from, to, &[to.0.saturating_sub(from.0).max(1)])?;
    if whole.is_empty() {
        return Err(violation(
            "range",
            format!("no rows in ({from}, {to}]: choose a range with data"),
        ));
    }
    check_order(&whole)?;
    let span = to.0.saturating_sub(from.0).max(1);
    let sizes = [1, 2, 3, span / 97 + 1, span / 13 + 1, 7, span / 5 + 1];
    let pieces = read_range(&mut open(), from, to, &sizes)?;
    same_rows("repeatable reads (small windows)", &whole, &pieces)?;
    // The same source, a second LogMiner-style session (start_session again) over the same range.
    let mut s = open();
    let first = read_range(&mut s, from, to, &[span / 3 + 1])?;
    let again = read_range(&mut s, from, to, &[span / 7 + 1])?;
    same_rows(
        "repeatable reads (same source, new session)",
        &first,
        &again,
    )?;
    // Capped reads over windows as wide as the range return the same rows in bounded pieces.
    for cap in [1, 3, 50] {
        let capped = read_range_capped(&mut open(), from, to, span, cap)?;
        same_rows("capped reads", &whole, &capped)?;
    }
    // A session started part-way returns the tail.
    let mid = whole[whole.len() / 2].scn;
    let tail = read_range(&mut open(), mid, to, &[span / 11 + 1])?;
    let expected: Vec<RedoRow> = whole.iter().filter(|r| r.scn > mid).cloned().collect();
    same_rows("session started part-way", &expected, &tail)?;
    Ok(())
}

/// Reads `(from, to]` from a fault-injecting source the way the runtime does (a new session at
/// the read position after a retryable error) and compares with `clean`. Any error that is not
/// retryable is returned as a violation unless `allow_fatal` accepts it.
pub fn check_faults<S: LogSource>(
    faulty: &mut S,
    clean: &[RedoRow],
    from: Scn,
    to: Scn,
    window: u64,
    max_attempts: u32,
) -> Result<u32, Violation> {
    const CHECK: &str = "faults";
    let mut rows = Vec::new();
    let mut read = from;
    let mut session = false;
    let mut failures = 0u32;
    let mut recovered = 0u32;
    while read < to {
        let step = (|| -> Result<Scn, SourceError> {
            if !session {
                faulty.start_session(read)?;
                session = true;
            }
            let current = faulty.current_scn()?;
            let end = Scn(read
                .0
                .saturating_add(window.max(1))
                .min(to.0)
                .min(current.0));
            let mut part = Vec::new();
            faulty.fetch(read, end, &mut part)?;
            rows.append(&mut part);
            Ok(end)
        })();
        match step {
            Ok(end) => {
                read = end;
                failures = 0;
            }
            Err(e) if e.is_retryable() => {
                failures += 1;
                recovered += 1;
                session = false;
                if failures > max_attempts {
                    return Err(violation(
                        CHECK,
                        format!("still failing after {max_attempts} retries at SCN {read}: {e}"),
                    ));
                }
            }
            Err(e) => return Err(violation(CHECK, format!("fatal error at SCN {read}: {e}"))),
        }
    }
    same_rows("faults (rows read through retries)", clean, &rows)?;
    Ok(recovered)
}
