//! Failpoints at the crash-consistency boundaries of the checkpoint protocol, for the
//! multi-process tests that kill a node exactly there.
//!
//! `REDOFLOW_FAILPOINTS="after-commit@3"` makes the process exit (code [`EXIT_CODE`], no
//! cleanup, as abruptly as a `kill -9` for everything that matters: no final checkpoint, no
//! flush of open files) the third time it passes `after-commit`. Several are separated by
//! commas. The points:
//! - `after-prepare`: the checkpoint's files are fsynced, the checkpoint is not committed.
//! - `after-commit`: the checkpoint is committed, its files are not renamed.
//!
//! Compiled in debug builds (what `cargo test` runs) and with the `failpoints` feature;
//! release builds have none, and `hit` is an empty inline function there.

/// Exit code of a process stopped by a failpoint.
pub const EXIT_CODE: i32 = 86;

#[cfg(any(debug_assertions, feature = "failpoints"))]
mod imp {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    /// Name → (hits so far, the hit that exits).
    fn points() -> &'static Mutex<HashMap<String, (u64, u64)>> {
        static POINTS: OnceLock<Mutex<HashMap<String, (u64, u64)>>> = OnceLock::new();
        POINTS.get_or_init(|| {
            let spec = std::env::var("REDOFLOW_FAILPOINTS").unwrap_or_default();
            Mutex::new(super::parse(&spec))
        })
    }

    pub fn hit(name: &str) {
        let mut points = points().lock().unwrap_or_else(|p| p.into_inner());
        if let Some((hits, at)) = points.get_mut(name) {
            *hits += 1;
            if *hits == *at {
                eprintln!("redoflow: failpoint {name} (hit {at}): exiting now");
                std::process::exit(super::EXIT_CODE);
            }
        }
    }
}

/// Passes the failpoint `name`: exits the process if it is armed for this hit.
#[cfg(any(debug_assertions, feature = "failpoints"))]
pub fn hit(name: &str) {
    imp::hit(name);
}

#[cfg(not(any(debug_assertions, feature = "failpoints")))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// `name@N,name2@M` (`@N` omitted: the first hit) → name → (0, N). Malformed parts are
/// ignored with a warning: a typo must not crash a test run somewhere unexpected.
#[cfg_attr(not(any(debug_assertions, feature = "failpoints")), allow(dead_code))]
fn parse(spec: &str) -> std::collections::HashMap<String, (u64, u64)> {
    let mut points = std::collections::HashMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, at) = match part.split_once('@') {
            Some((name, at)) => (name, at.parse::<u64>().ok().filter(|n| *n > 0)),
            None => (part, Some(1)),
        };
        match at {
            Some(at) => {
                points.insert(name.to_string(), (0, at));
            }
            None => tracing::warn!(
                failpoint = part,
                "ignored: expected NAME or NAME@N (N >= 1)"
            ),
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_the_hit_that_exits() {
        let p = parse("after-commit@3, after-prepare,bad@0,@");
        assert_eq!(p.get("after-commit"), Some(&(0, 3)));
        assert_eq!(p.get("after-prepare"), Some(&(0, 1)));
        assert!(!p.contains_key("bad"));
        assert_eq!(p.len(), 2);
    }
}
