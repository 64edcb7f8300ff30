//! What identifies the database a node mines. The nodes of one cluster must mine the same
//! database, or a failover would continue one database's stream from another's offset: the
//! first leader records its source's fingerprint in the replicated state, and every node
//! compares its own against it before it mines.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The settings that make a source the same database: Oracle's DBID and incarnation, an
/// export's path and size, the simulator's seed and workload. Settings that only change how
/// a node reads (timeouts, batch sizes) are not part of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFingerprint {
    /// `sim`, `replay` or `oracle`.
    pub kind: String,
    /// Setting name (as in the config file) → value.
    pub settings: BTreeMap<String, String>,
}

impl SourceFingerprint {
    pub fn new(kind: impl Into<String>) -> SourceFingerprint {
        SourceFingerprint {
            kind: kind.into(),
            settings: BTreeMap::new(),
        }
    }

    /// Adds a setting (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl fmt::Display) -> Self {
        self.settings.insert(name.into(), value.to_string());
        self
    }

    /// What differs between `self` (this node's source) and `agreed` (the cluster's), one line
    /// per setting: empty when they are the same database.
    pub fn differences(&self, agreed: &SourceFingerprint) -> Vec<String> {
        if self.kind != agreed.kind {
            return vec![format!(
                "source.kind is {:?} here but {:?} in the cluster",
                self.kind, agreed.kind
            )];
        }
        let mut out = Vec::new();
        let names: std::collections::BTreeSet<&String> =
            self.settings.keys().chain(agreed.settings.keys()).collect();
        for name in names {
            let (mine, theirs) = (self.settings.get(name), agreed.settings.get(name));
            if mine != theirs {
                let show =
                    |v: Option<&String>| v.map_or("(not set)".to_string(), |v| format!("{v:?}"));
                out.push(format!(
                    "{name} is {} here but {} in the cluster",
                    show(mine),
                    show(theirs)
                ));
            }
        }
        out
    }
}

impl SourceFingerprint {
    /// [`SourceFingerprint::differences`] over this fingerprint's own settings only: what a
    /// node that knows part of its source's identity (its configuration, not yet the
    /// database's own answer) can check against the cluster's.
    pub fn contradictions(&self, agreed: &SourceFingerprint) -> Vec<String> {
        let mut known = agreed.clone();
        known.settings.retain(|k, _| self.settings.contains_key(k));
        self.differences(&known)
    }
}

impl fmt::Display for SourceFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        for (k, v) in &self.settings {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_setting() {
        let a = SourceFingerprint::new("sim")
            .with("source.sim.seed", 1)
            .with("source.sim.start_unix_ms", 5);
        let b = SourceFingerprint::new("sim")
            .with("source.sim.seed", 2)
            .with("source.sim.start_unix_ms", 5);
        assert!(a.differences(&a.clone()).is_empty());
        assert_eq!(
            a.differences(&b),
            vec!["source.sim.seed is \"1\" here but \"2\" in the cluster".to_string()]
        );
        let c = SourceFingerprint::new("replay");
        assert_eq!(a.differences(&c).len(), 1);
        assert!(a.differences(&c)[0].contains("source.kind"));
        let d = SourceFingerprint::new("sim").with("source.sim.seed", 1);
        assert!(a.differences(&d)[0].contains("(not set)"));
        // A node that knows only part of the identity checks that part.
        assert!(d.contradictions(&a).is_empty());
        let e = SourceFingerprint::new("sim").with("source.sim.seed", 3);
        assert_eq!(e.contradictions(&a).len(), 1);
        assert_eq!(
            c.contradictions(&a).len(),
            1,
            "another kind always contradicts"
        );
    }
}
