//! Failpoints at the crash-consistency boundaries of the checkpoint protocol, for the
//! multi-process tests that kill a node exactly there.
//!
//! `REDOFLOW_FAILPOINTS="after-commit@3"` makes the process exit (code [`EXIT_CODE`], no
//! cleanup, as abruptly as a `kill -9` for everything that matters: no final checkpoint, no
//! flush of open files) the third time it passes `after-commit`. `after-prepare:pause` instead
//! holds the run at its first `after-prepare` until the run is aborted (a second signal, a lost
//! leadership): what a test of "stop at once while a checkpoint is in progress" needs. Several
//! are separated by commas. The points:
//! - `after-prepare`: the checkpoint's files are fsynced, the checkpoint is not committed.
//! - `after-commit`: the checkpoint is committed, its files are not renamed.
//!
//! Compiled in debug builds (what `cargo test` runs) and with the `failpoints` feature;
//! release builds have none, and `hit` is an empty inline function there.

use crate::stop::StopToken;

/// Exit code of a process stopped by a failpoint.
pub const EXIT_CODE: i32 = 86;

/// What an armed failpoint does when its hit comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(debug_assertions, feature = "failpoints")), allow(dead_code))]
enum Action {
    /// Exit the process with [`EXIT_CODE`].
    Exit,
    /// Block until the run's stop token aborts, then carry on (the run then stops at once).
    Pause,
}

#[cfg(any(debug_assertions, feature = "failpoints"))]
mod imp {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    use super::Action;
    use crate::stop::StopToken;

    /// Name → (hits so far, the hit that acts, what it does).
    type Points = HashMap<String, (u64, u64, Action)>;

    fn points() -> &'static Mutex<Points> {
        static POINTS: OnceLock<Mutex<Points>> = OnceLock::new();
        POINTS.get_or_init(|| {
            let spec = std::env::var("REDOFLOW_FAILPOINTS").unwrap_or_default();
            Mutex::new(super::parse(&spec))
        })
    }

    pub fn hit(name: &str, stop: &StopToken) {
        let action = {
            let mut points = points().lock().unwrap_or_else(|p| p.into_inner());
            match points.get_mut(name) {
                Some((hits, at, action)) => {
                    *hits += 1;
                    (*hits == *at).then_some((*at, *action))
                }
                None => None,
            }
        };
        match action {
            Some((at, Action::Exit)) => {
                eprintln!("redoflow: failpoint {name} (hit {at}): exiting now");
                std::process::exit(super::EXIT_CODE);
            }
            Some((at, Action::Pause)) => {
                eprintln!("redoflow: failpoint {name} (hit {at}): paused until the run is aborted");
                stop.wait_aborted();
            }
            None => {}
        }
    }
}

/// Passes the failpoint `name` of a run stopped by `stop`: exits the process, or pauses until
/// the run is aborted, if it is armed for this hit.
#[cfg(any(debug_assertions, feature = "failpoints"))]
pub fn hit(name: &str, stop: &StopToken) {
    imp::hit(name, stop);
}

#[cfg(not(any(debug_assertions, feature = "failpoints")))]
#[inline(always)]
pub fn hit(_name: &str, _stop: &StopToken) {}

/// `name@N:pause,name2@M` (`@N` omitted: the first hit; `:pause` omitted: exit) → name → (0,
/// N, action). Malformed parts are ignored with a warning: a typo must not crash a test run
/// somewhere unexpected.
#[cfg_attr(not(any(debug_assertions, feature = "failpoints")), allow(dead_code))]
fn parse(spec: &str) -> std::collections::HashMap<String, (u64, u64, Action)> {
    let mut points = std::collections::HashMap::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (point, action) = match part.split_once(':') {
            None => (part, Some(Action::Exit)),
            Some((point, "pause")) => (point, Some(Action::Pause)),
            Some((point, "exit")) => (point, Some(Action::Exit)),
            Some((point, _)) => (point, None),
        };
        let (name, at) = match point.split_once('@') {
            Some((name, at)) => (name, at.parse::<u64>().ok().filter(|n| *n > 0)),
            None => (point, Some(1)),
        };
        match (at, action) {
            (Some(at), Some(action)) if !name.is_empty() => {
                points.insert(name.to_string(), (0, at, action));
            }
            _ => tracing::warn!(
                failpoint = part,
                "ignored: expected NAME, NAME@N (N >= 1), optionally followed by :pause"
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
        let p = parse("after-commit@3, after-prepare,bad@0,@,odd:wait");
        assert_eq!(p.get("after-commit"), Some(&(0, 3, Action::Exit)));
        assert_eq!(p.get("after-prepare"), Some(&(0, 1, Action::Exit)));
        assert!(!p.contains_key("bad"));
        assert!(!p.contains_key("odd"));
        assert_eq!(p.len(), 2);
        let p = parse("after-prepare@2:pause");
        assert_eq!(p.get("after-prepare"), Some(&(0, 2, Action::Pause)));
    }
}
