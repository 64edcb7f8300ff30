//! A single node's checkpoint store: the last committed checkpoint in a local file. A cluster
//! node uses `redoflow-raft`'s store instead; both implement [`CheckpointStore`].

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use redoflow_checkpoint::{codec, Checkpoint, CheckpointId};
pub use redoflow_checkpoint::{CheckpointStore, StoreError};

/// A checkpoint file in a local directory, replaced atomically (temp → fsync → rename → fsync
/// dir) at each commit.
#[derive(Debug)]
pub struct LocalStore {
    dir: PathBuf,
    last_id: CheckpointId,
}

const FILE: &str = "checkpoint.bin";
const TEMP: &str = "checkpoint.bin.tmp";

impl LocalStore {
    pub fn open(dir: &Path) -> Result<LocalStore, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut store = LocalStore {
            dir: dir.to_path_buf(),
            last_id: CheckpointId::NONE,
        };
        store.last_id = store.last()?.map_or(CheckpointId::NONE, |c| c.id);
        Ok(store)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }
}

impl CheckpointStore for LocalStore {
    fn last(&self) -> Result<Option<Checkpoint>, StoreError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => codec::decode(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io { path, source }),
        }
    }

    fn commit(&mut self, checkpoint: &Checkpoint) -> Result<(), StoreError> {
        if checkpoint.id != self.last_id.next() {
            return Err(StoreError::OutOfOrder {
                last: self.last_id,
                got: checkpoint.id,
            });
        }
        let tmp = self.dir.join(TEMP);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&codec::encode(checkpoint)).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, self.path()).map_err(io(&self.path()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        self.last_id = checkpoint.id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redoflow_checkpoint::{Offset, Scn, Term};

    fn cp(id: u64) -> Checkpoint {
        Checkpoint {
            id: CheckpointId(id),
            term: Term(0),
            offset: Offset::starting_after(Scn(id * 10)),
            files: vec![],
            created_at_ms: 0,
        }
    }

    #[test]
    fn commits_in_order_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LocalStore::open(dir.path()).unwrap();
        assert_eq!(s.last().unwrap(), None);
        s.commit(&cp(1)).unwrap();
        s.commit(&cp(2)).unwrap();
        assert!(matches!(
            s.commit(&cp(4)),
            Err(StoreError::OutOfOrder {
                last: CheckpointId(2),
                got: CheckpointId(4)
            })
        ));
        let s = LocalStore::open(dir.path()).unwrap();
        assert_eq!(s.last().unwrap(), Some(cp(2)));
    }

    #[test]
    fn corrupt_file_is_reported_not_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE), b"garbage").unwrap();
        let err = LocalStore::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
