//! Fault injection for in-process cluster tests: the client consults a shared [`Faults`] before
//! every RPC, so one test can isolate a node, cut or half-cut a link, or slow it down, and heal
//! it all again. A node without a `Faults` handle pays nothing; one with an empty handle pays an
//! atomic load per RPC.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redoflow_checkpoint::NodeId;

/// A set of injected network faults, shared (cloned) by all nodes of one test.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// True while any rule is set: the fast path for a healthy network.
    active: AtomicBool,
    rules: Mutex<Rules>,
}

#[derive(Debug, Default)]
struct Rules {
    isolated: BTreeSet<u64>,
    /// Directed links whose requests are dropped.
    dropped: BTreeSet<(u64, u64)>,
    delayed: BTreeMap<(u64, u64), Duration>,
}

impl Rules {
    fn is_empty(&self) -> bool {
        self.isolated.is_empty() && self.dropped.is_empty() && self.delayed.is_empty()
    }
}

/// What the client does with one RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Deliver,
    /// Fail it as if the peer could not be reached.
    Drop,
    /// Wait this long, then send it.
    Delay(Duration),
}

impl Faults {
    /// No faults: every RPC is delivered.
    pub fn new() -> Faults {
        Faults::default()
    }

    fn change(&self, f: impl FnOnce(&mut Rules)) {
        let mut rules = self.inner.rules.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut rules);
        self.inner
            .active
            .store(!rules.is_empty(), Ordering::Release);
    }

    /// Cuts every link to and from `node`.
    pub fn isolate(&self, node: NodeId) {
        self.change(|r| {
            r.isolated.insert(node.0);
        });
    }

    /// Cuts the link between `a` and `b` in both directions.
    pub fn cut(&self, a: NodeId, b: NodeId) {
        self.change(|r| {
            r.dropped.insert((a.0, b.0));
            r.dropped.insert((b.0, a.0));
        });
    }

    /// Drops the requests `from` sends to `to`; the other direction still works.
    pub fn drop_one_way(&self, from: NodeId, to: NodeId) {
        self.change(|r| {
            r.dropped.insert((from.0, to.0));
        });
    }

    /// Delays every request `from` sends to `to` by `by` (it still counts against the RPC's
    /// time-to-live, as a slow network would).
    pub fn delay(&self, from: NodeId, to: NodeId, by: Duration) {
        self.change(|r| {
            r.delayed.insert((from.0, to.0), by);
        });
    }

    /// Removes every fault.
    pub fn heal(&self) {
        self.change(|r| *r = Rules::default());
    }

    pub(crate) fn verdict(&self, from: u64, to: u64) -> Verdict {
        if !self.inner.active.load(Ordering::Acquire) {
            return Verdict::Deliver;
        }
        let rules = self.inner.rules.lock().unwrap_or_else(|e| e.into_inner());
        if rules.isolated.contains(&from)
            || rules.isolated.contains(&to)
            || rules.dropped.contains(&(from, to))
        {
            return Verdict::Drop;
        }
        match rules.delayed.get(&(from, to)) {
            Some(by) => Verdict::Delay(*by),
            None => Verdict::Deliver,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_in_the_directions_they_name_and_heal_clears_them() {
        let f = Faults::new();
        assert_eq!(f.verdict(1, 2), Verdict::Deliver);
        f.isolate(NodeId(3));
        assert_eq!(f.verdict(3, 1), Verdict::Drop);
        assert_eq!(f.verdict(1, 3), Verdict::Drop);
        assert_eq!(f.verdict(1, 2), Verdict::Deliver);
        f.cut(NodeId(1), NodeId(2));
        assert_eq!(f.verdict(2, 1), Verdict::Drop);
        f.heal();
        f.drop_one_way(NodeId(1), NodeId(2));
        assert_eq!(f.verdict(1, 2), Verdict::Drop);
        assert_eq!(f.verdict(2, 1), Verdict::Deliver);
        f.delay(NodeId(2), NodeId(1), Duration::from_millis(5));
        assert_eq!(f.verdict(2, 1), Verdict::Delay(Duration::from_millis(5)));
        // A clone is the same set of faults.
        let g = f.clone();
        g.heal();
        assert_eq!(f.verdict(1, 2), Verdict::Deliver);
        assert_eq!(f.verdict(2, 1), Verdict::Deliver);
    }
}
