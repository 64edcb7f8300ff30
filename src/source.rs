//! The source a config names, opened, and its fingerprint: what makes two nodes' sources the
//! same database.

use std::path::Path;

use redoflow_checkpoint::SourceFingerprint;
use redoflow_miner::paced::{Paced, INDEX_EVERY};
use redoflow_miner::{LogSource, ReplaySource, SimSource, SourceError};

use crate::config::{Config, SourceKind};

/// Opens the source `config` names: the simulated Oracle, a recorded export (played back at
/// `[source.replay] rate` when set), or a live Oracle database. `start_unix_ms` is the wall
/// clock the paced replay starts from when the config does not fix it.
pub fn open_source(config: &Config, now_unix_ms: u64) -> Result<Box<dyn LogSource>, SourceError> {
    match config.source.kind {
        SourceKind::Sim => Ok(Box::new(SimSource::new(config.source.sim.clone())?)),
        SourceKind::Replay => {
            let r = &config.source.replay;
            let contents = r.contents.as_deref().unwrap_or(Path::new(""));
            let source = ReplaySource::open(contents, r.columns.as_deref())?;
            match r.rate {
                None => Ok(Box::new(source)),
                Some(rate) => {
                    let index = ReplaySource::scn_index(contents, INDEX_EVERY)?;
                    let start = r.start_unix_ms.unwrap_or(now_unix_ms);
                    Ok(Box::new(Paced::new(
                        source,
                        index,
                        INDEX_EVERY,
                        rate,
                        start,
                    )))
                }
            }
        }
        #[cfg(feature = "oracle")]
        SourceKind::Oracle => Ok(Box::new(redoflow_miner::oracle::open(
            config.source.oracle.clone(),
        )?)),
        #[cfg(not(feature = "oracle"))]
        SourceKind::Oracle => Err(SourceError::Fatal {
            message: "this build has no Oracle source (feature `oracle`)".into(),
        }),
    }
}

/// The settings that make the configured source one particular database. For Oracle the
/// database's own identity (DBID, incarnation) is added by the source itself once connected.
pub fn fingerprint(config: &Config) -> Result<SourceFingerprint, SourceError> {
    Ok(match config.source.kind {
        SourceKind::Sim => {
            let s = &config.source.sim;
            let opt = |v: Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
            SourceFingerprint::new("sim")
                .with("source.sim.seed", s.seed)
                .with("source.sim.start_scn", s.start_scn)
                .with(
                    "source.sim.rate",
                    s.rate.map_or("none".to_string(), |r| r.to_string()),
                )
                .with("source.sim.start_unix_ms", opt(s.start_unix_ms))
                .with("source.sim.end_scn", opt(s.end_scn))
                .with("source.sim.threads", s.threads)
                .with("source.sim.rows_per_table", s.rows_per_table)
                .with(
                    "source.sim.concurrent_transactions",
                    s.concurrent_transactions,
                )
                .with("source.sim.log_switch_scns", s.log_switch_scns)
                .with("source.sim.timestamp_origin_unix", s.timestamp_origin_unix)
                .with("source.sim.scns_per_second", s.scns_per_second)
                .with("source.sim.catalog", format!("{:?}", s.catalog))
                .with("source.sim.workload", format!("{:?}", s.workload))
        }
        SourceKind::Replay => {
            let r = &config.source.replay;
            let contents = r.contents.as_deref().unwrap_or(Path::new(""));
            let meta = std::fs::metadata(contents).map_err(|source| SourceError::Io {
                path: contents.to_path_buf(),
                source,
            })?;
            let name = std::fs::canonicalize(contents)
                .unwrap_or_else(|_| contents.to_path_buf())
                .display()
                .to_string();
            SourceFingerprint::new("replay")
                .with("source.replay.contents", name)
                .with("source.replay.contents size", meta.len())
                .with(
                    "source.replay.rate",
                    r.rate.map_or("none".to_string(), |r| r.to_string()),
                )
                .with(
                    "source.replay.start_unix_ms",
                    r.start_unix_ms
                        .map_or("none".to_string(), |v| v.to_string()),
                )
        }
        SourceKind::Oracle => SourceFingerprint::new("oracle"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_different_seed_or_start_is_another_database() {
        let mut a = Config::default();
        a.source.sim.start_unix_ms = Some(1_767_225_600_000);
        let mut b = a.clone();
        assert!(fingerprint(&a)
            .unwrap()
            .differences(&fingerprint(&b).unwrap())
            .is_empty());
        b.source.sim.seed = 2;
        let d = fingerprint(&b)
            .unwrap()
            .differences(&fingerprint(&a).unwrap());
        assert_eq!(
            d,
            ["source.sim.seed is \"2\" here but \"1\" in the cluster"]
        );
        // Faults are how one node reads, not which database it reads.
        let mut c = a.clone();
        c.source.sim.faults.drop_connection_every = Some(3);
        assert!(fingerprint(&c)
            .unwrap()
            .differences(&fingerprint(&a).unwrap())
            .is_empty());
    }
}
