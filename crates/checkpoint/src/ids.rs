//! Identities of the cluster's agreed positions: the Raft leader term, the checkpoint id and the
//! node id. Separate types so a term is never passed where a checkpoint id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A Raft leader term. Written into every checkpoint and every in-progress file name, so two
/// leaders' files never mix and a deposed leader's commit can be refused. A single node (no
/// cluster) runs in term 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Term(pub u64);

/// A checkpoint's position in the agreed sequence: 1, 2, 3, ... with no gaps. `CheckpointId(0)`
/// means "no checkpoint yet".
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct CheckpointId(pub u64);

/// A cluster member's id (`cluster.node_id`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeId(pub u64);

impl CheckpointId {
    /// The id before any checkpoint.
    pub const NONE: CheckpointId = CheckpointId(0);

    /// The id of the checkpoint that follows this one.
    pub fn next(self) -> CheckpointId {
        CheckpointId(self.0 + 1)
    }
}

macro_rules! display_as_number {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_as_number!(Term, CheckpointId, NodeId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_plain_numbers_and_order_by_value() {
        assert_eq!(Term(7).to_string(), "7");
        assert_eq!(CheckpointId(41).next(), CheckpointId(42));
        assert_eq!(NodeId(3).to_string(), "3");
        assert!(Term(2) > Term(1));
        assert_eq!(CheckpointId::default(), CheckpointId::NONE);
    }
}
