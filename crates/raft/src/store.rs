//! openraft's storage (the v2 API) over sled: the log store ([`LogStore`]) and the state machine
//! with its snapshots ([`StateMachineStore`]). Everything that knows sled is in this module, so a
//! change of backend (redb, fjall) touches only it; openraft's storage suite runs against it.
//!
//! Layout of the one sled database (`data_dir/raft`):
//! - tree `logs`: log index as 8 big-endian bytes (so sled's key order is log order) → entry;
//! - tree `meta`: `vote`, `last_purged`, `committed`;
//! - tree `sm`: `snapshot` (meta and data of the newest snapshot), `cluster_id`.
//!
//! Values are in the checkpoint codec's envelope.
//!
//! Durability: a vote, appended entries and a truncation are flushed before openraft is told; a
//! purge writes `last_purged` (flushed) before it deletes anything. A flush is sled's flush
//! followed by an fdatasync of sled's log file and an fsync of the large-value files sled has
//! written since ([`Durable`]): on Linux sled's own flush is a `sync_file_range`, which leaves
//! the data in the device's write cache, and it never syncs its large-value files at all. A
//! vote lost in a power cut could let a node vote twice in one term. The state machine lives in
//! memory: a restart loads the newest snapshot and openraft re-applies the committed entries
//! after it. openraft purges only entries a durable snapshot covers, so a restart can always
//! rebuild the state. The cluster id is persisted (flushed) the moment it is first known, so a
//! restarted node checks its peers' cluster ids from its first request on.

// openraft's traits return its `StorageError` (over 200 bytes); the helpers return it too.
#![allow(clippy::result_large_err)]

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use redoflow_checkpoint::codec::{decode_value, encode_value};
use serde::{Deserialize, Serialize};

use crate::state::ClusterState;
use crate::{RaftError, Response, TypeConfig};

type StorageResult<T> = Result<T, StorageError<u64>>;

const VOTE: &[u8] = b"vote";
const LAST_PURGED: &[u8] = b"last_purged";
const COMMITTED: &[u8] = b"committed";
const SNAPSHOT: &[u8] = b"snapshot";
const CLUSTER_ID: &[u8] = b"cluster_id";

/// sled keeps at most this much in its page cache: the working set is the recent log and the
/// meta keys, far below it.
const CACHE_CAPACITY: u64 = 16 << 20;

/// What [`open`] returns: the two halves openraft takes over, plus what the node keeps to read
/// the state and to close the store on shutdown.
pub(crate) struct Opened {
    pub log: LogStore,
    pub sm: StateMachineStore,
    pub state: Arc<RwLock<ClusterState>>,
    pub cluster_id: Arc<OnceLock<String>>,
    pub handle: StoreHandle,
}

/// sled's database plus what makes its flush durable. Shared by both halves and the handle.
#[derive(Debug)]
pub(crate) struct Durable {
    db: sled::Db,
    /// sled's log file (`db` in its directory), opened again to fdatasync it.
    log_file: std::fs::File,
    /// Where sled writes values too large for its log.
    blobs_dir: PathBuf,
    /// Blob files already synced; sled writes each once and later deletes it.
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Durable {
    fn open(db: sled::Db, dir: &Path) -> std::io::Result<Durable> {
        let log_file = std::fs::File::open(dir.join("db"))?;
        let blobs_dir = dir.join("blobs");
        // The files' directory entries are durable too, once.
        std::fs::File::open(dir)?.sync_all()?;
        std::fs::File::open(&blobs_dir)?.sync_all()?;
        Ok(Durable {
            db,
            log_file,
            blobs_dir,
            synced_blobs: Mutex::new(HashSet::new()),
        })
    }

    /// Makes everything written so far durable.
    async fn flush(self: &Arc<Self>) -> std::io::Result<()> {
        self.db.flush_async().await.map_err(std::io::Error::other)?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.sync_files())
            .await
            .map_err(std::io::Error::other)?
    }

    fn sync_files(&self) -> std::io::Result<()> {
        self.log_file.sync_data()?;
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|e| e.into_inner());
        let mut present = HashSet::new();
        let mut new_files = false;
        for entry in std::fs::read_dir(&self.blobs_dir)? {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match std::fs::File::open(self.blobs_dir.join(&name)).and_then(|f| f.sync_all()) {
                    Ok(()) => new_files = true,
                    // sled removed it meanwhile: nothing points to it any more.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            present.insert(name);
        }
        if new_files {
            std::fs::File::open(&self.blobs_dir)?.sync_all()?;
        }
        *synced = present;
        Ok(())
    }
}

/// What the node keeps of the store after openraft took the two halves: a way to close it.
#[derive(Debug)]
pub(crate) struct StoreHandle {
    db: Mutex<Option<Arc<Durable>>>,
    path: PathBuf,
    /// Cloned into every half (and reader, and snapshot builder) openraft holds: while more
    /// than this one exists, sled's files are still open.
    in_use: Arc<()>,
}

/// How long opening waits for a lock left by a store closed in this process.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How long closing waits for openraft's tasks to let go of the store.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

impl StoreHandle {
    /// Flushes the store and waits until openraft's tasks (stopped by the caller) have dropped
    /// their halves, so the files are closed and the same data dir can be opened again.
    pub(crate) async fn close(&self) -> Result<(), RaftError> {
        let fail = |message: String| RaftError::Storage {
            path: self.path.clone(),
            message,
        };
        let db = self.db.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(db) = db {
            db.flush().await.map_err(|e| fail(e.to_string()))?;
        }
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while Arc::strong_count(&self.in_use) > 1 {
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "still in use by openraft's tasks {CLOSE_TIMEOUT:?} after the shutdown"
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

/// Opens (or creates) the store in `dir` and loads the state machine from the newest snapshot.
/// `history` bounds the checkpoints the state machine keeps.
///
/// sled locks its files while open. The lock of a store closed in this process can outlive the
/// close by a moment (sled's I/O threads let go last), so a locked store is retried for
/// [`LOCK_WAIT`] before the lock counts as another process's.
pub(crate) async fn open(dir: &Path, history: usize) -> Result<Opened, RaftError> {
    let fail = |e: &dyn std::fmt::Display| RaftError::Storage {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let deadline = Instant::now() + LOCK_WAIT;
    let db = loop {
        let opened = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_CAPACITY)
            .mode(sled::Mode::LowSpace)
            .open();
        // sled reports its lock as an `Other` I/O error with this text.
        let locked = |e: &sled::Error| e.to_string().contains("could not acquire lock");
        match opened {
            Err(e) if locked(&e) && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) if locked(&e) => {
                return Err(fail(&format!(
                    "{e}: another process has this store open (is this node running twice?)"
                )));
            }
            other => break other.map_err(|e| fail(&e))?,
        }
    };
    let logs = db.open_tree("logs").map_err(|e| fail(&e))?;
    let meta = db.open_tree("meta").map_err(|e| fail(&e))?;
    let sm = db.open_tree("sm").map_err(|e| fail(&e))?;

    let mut state = match sm.get(SNAPSHOT).map_err(|e| fail(&e))? {
        None => ClusterState::default(),
        Some(bytes) => {
            let stored: StoredSnapshot = decode_value(&bytes).map_err(|e| fail(&e))?;
            decode_value(&stored.data).map_err(|e| fail(&e))?
        }
    };
    // The id is in the snapshot once one covers the first membership, and under its own key
    // from the moment it was first known; either tells.
    let cluster_id = Arc::new(OnceLock::new());
    if let Some(bytes) = sm.get(CLUSTER_ID).map_err(|e| fail(&e))? {
        let id: String = decode_value(&bytes).map_err(|e| fail(&e))?;
        state.cluster_id.get_or_insert(id);
    }
    if let Some(id) = &state.cluster_id {
        let _ = cluster_id.set(id.clone());
    }
    let db = Arc::new(Durable::open(db, dir).map_err(|e| fail(&e))?);
    let state = Arc::new(RwLock::new(state));
    let in_use = Arc::new(());
    Ok(Opened {
        log: LogStore {
            db: db.clone(),
            logs,
            meta,
            _in_use: in_use.clone(),
        },
        sm: StateMachineStore {
            db: db.clone(),
            tree: sm,
            state: state.clone(),
            history,
            cluster_id: cluster_id.clone(),
            path: dir.to_path_buf(),
            _in_use: in_use.clone(),
        },
        state,
        cluster_id,
        handle: StoreHandle {
            db: Mutex::new(Some(db)),
            path: dir.to_path_buf(),
            in_use,
        },
    })
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn read_err(subject: ErrorSubject<u64>, e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::new(subject, ErrorVerb::Read, AnyError::new(&e)).into()
}

fn write_err(subject: ErrorSubject<u64>, e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::new(subject, ErrorVerb::Write, AnyError::new(&e)).into()
}

/// openraft's log store: the Raft log, the vote, the committed and last purged log ids.
#[derive(Clone, Debug)]
pub(crate) struct LogStore {
    db: Arc<Durable>,
    logs: sled::Tree,
    meta: sled::Tree,
    _in_use: Arc<()>,
}

impl LogStore {
    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        subject: ErrorSubject<u64>,
    ) -> StorageResult<Option<T>> {
        match self
            .meta
            .get(key)
            .map_err(|e| read_err(subject.clone(), e))?
        {
            None => Ok(None),
            Some(bytes) => decode_value(&bytes)
                .map(Some)
                .map_err(|e| read_err(subject, e)),
        }
    }

    async fn flush(&self, subject: ErrorSubject<u64>) -> StorageResult<()> {
        self.db.flush().await.map_err(|e| write_err(subject, e))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        for item in self.logs.range(index_key(start)..) {
            let (key, value) = item.map_err(|e| read_err(ErrorSubject::Logs, e))?;
            let index = u64::from_be_bytes(key.as_ref().try_into().map_err(|_| {
                read_err(
                    ErrorSubject::Logs,
                    std::io::Error::other("log key is not 8 bytes"),
                )
            })?);
            if !range.contains(&index) {
                break;
            }
            let entry: Entry<TypeConfig> =
                decode_value(&value).map_err(|e| read_err(ErrorSubject::LogIndex(index), e))?;
            entries.push(entry);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId<u64>> =
            self.get_meta(LAST_PURGED, ErrorSubject::Store)?;
        let last_log_id = match self
            .logs
            .last()
            .map_err(|e| read_err(ErrorSubject::Logs, e))?
        {
            None => last_purged_log_id,
            Some((_, value)) => {
                let entry: Entry<TypeConfig> =
                    decode_value(&value).map_err(|e| read_err(ErrorSubject::Logs, e))?;
                Some(entry.log_id)
            }
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        self.meta
            .insert(VOTE, encode_value(vote))
            .map_err(|e| write_err(ErrorSubject::Vote, e))?;
        self.flush(ErrorSubject::Vote).await
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        self.get_meta(VOTE, ErrorSubject::Vote)
    }

    // The committed log id is written without a flush: it only saves re-applying entries at
    // start-up, and a leader re-establishes it after a crash anyway.
    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> StorageResult<()> {
        let result = match committed {
            Some(log_id) => self.meta.insert(COMMITTED, encode_value(&log_id)),
            None => self.meta.remove(COMMITTED),
        };
        result
            .map(|_| ())
            .map_err(|e| write_err(ErrorSubject::Store, e))
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<u64>>> {
        self.get_meta(COMMITTED, ErrorSubject::Store)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            batch.insert(&index_key(entry.log_id.index), encode_value(&entry));
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| write_err(ErrorSubject::Logs, e))?;
        self.flush(ErrorSubject::Logs).await?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        tracing::debug!(from = log_id.index, "truncating the raft log");
        let mut batch = sled::Batch::default();
        for key in self.logs.range(index_key(log_id.index)..).keys() {
            batch.remove(key.map_err(|e| read_err(ErrorSubject::Logs, e))?);
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| write_err(ErrorSubject::Logs, e))?;
        self.flush(ErrorSubject::Logs).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        tracing::debug!(upto = log_id.index, "purging the raft log");
        // The last purged id is durable before any entry goes: entries at or below it are
        // ignored after a restart, so a purge cut short by a crash is harmless.
        self.meta
            .insert(LAST_PURGED, encode_value(&log_id))
            .map_err(|e| write_err(ErrorSubject::Store, e))?;
        self.flush(ErrorSubject::Store).await?;
        let mut batch = sled::Batch::default();
        for key in self.logs.range(..=index_key(log_id.index)).keys() {
            batch.remove(key.map_err(|e| read_err(ErrorSubject::Logs, e))?);
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| write_err(ErrorSubject::Logs, e))
    }
}

/// A snapshot as stored: openraft's meta plus the encoded [`ClusterState`].
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// openraft's state machine: the [`ClusterState`] in memory (shared with the node, which reads
/// it), its snapshots in sled.
#[derive(Clone, Debug)]
pub(crate) struct StateMachineStore {
    db: Arc<Durable>,
    tree: sled::Tree,
    state: Arc<RwLock<ClusterState>>,
    history: usize,
    cluster_id: Arc<OnceLock<String>>,
    path: PathBuf,
    _in_use: Arc<()>,
}

impl StateMachineStore {
    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, ClusterState> {
        // A panic while holding the lock would leave a half-applied state; the lock is only
        // taken around plain data updates that do not panic, so poisoning is ignored.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Persists the cluster id the first time it is known on this node.
    async fn remember_cluster_id(&self, id: Option<String>) -> StorageResult<()> {
        let Some(id) = id else { return Ok(()) };
        if self.cluster_id.get().is_some() {
            return Ok(());
        }
        self.tree
            .insert(CLUSTER_ID, encode_value(&id))
            .map_err(|e| write_err(ErrorSubject::StateMachine, e))?;
        self.db
            .flush()
            .await
            .map_err(|e| write_err(ErrorSubject::StateMachine, e))?;
        tracing::info!(cluster_id = %id, path = %self.path.display(), "cluster id recorded");
        let _ = self.cluster_id.set(id);
        Ok(())
    }

    fn save_snapshot(&self, stored: &StoredSnapshot) -> StorageResult<()> {
        self.tree
            .insert(SNAPSHOT, encode_value(stored))
            .map(|_| ())
            .map_err(|e| {
                StorageIOError::write_snapshot(Some(stored.meta.signature()), AnyError::new(&e))
                    .into()
            })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>)> {
        let state = self.read_state();
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Response>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let span = tracing::debug_span!("raft_apply");
        let (responses, new_cluster_id) = span.in_scope(|| {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            let known = state.cluster_id.is_some();
            let responses: Vec<Response> = entries
                .into_iter()
                .map(|entry| {
                    let response = state.apply(entry.log_id, &entry.payload, self.history);
                    match &response {
                        Response::Refused(refusal) => {
                            tracing::warn!(log_id = %entry.log_id, ?refusal, "proposal refused")
                        }
                        Response::Committed(id) => {
                            tracing::debug!(log_id = %entry.log_id, checkpoint = %id, "checkpoint committed")
                        }
                        _ => {}
                    }
                    response
                })
                .collect();
            let new_cluster_id = if known {
                None
            } else {
                state.cluster_id.clone()
            };
            (responses, new_cluster_id)
        });
        self.remember_cluster_id(new_cluster_id).await?;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            state: self.read_state().clone(),
            sm: self.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let data = snapshot.into_inner();
        let signature = Some(meta.signature());
        let mut state: ClusterState = decode_value(&data)
            .map_err(|e| StorageIOError::read_snapshot(signature.clone(), AnyError::new(&e)))?;
        if state.last_applied != meta.last_log_id {
            let e = std::io::Error::other(format!(
                "snapshot data ends at {:?} but its meta says {:?}",
                state.last_applied, meta.last_log_id
            ));
            return Err(StorageIOError::read_snapshot(signature, AnyError::new(&e)).into());
        }
        state.trim(self.history);
        tracing::info!(last_log_id = ?meta.last_log_id, bytes = data.len(), "installing a snapshot");
        self.save_snapshot(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })?;
        // The snapshot is durable before the state it replaces is dropped: openraft may purge
        // the log up to it right after.
        self.db
            .flush()
            .await
            .map_err(|e| StorageIOError::write_snapshot(signature, AnyError::new(&e)))?;
        let new_cluster_id = state.cluster_id.clone();
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = state;
        self.remember_cluster_id(new_cluster_id).await
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let Some(bytes) = self
            .tree
            .get(SNAPSHOT)
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?
        else {
            return Ok(None);
        };
        let stored: StoredSnapshot = decode_value(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

/// Builds a snapshot of the state as it was when openraft asked for the builder.
#[derive(Debug)]
pub(crate) struct SnapshotBuilder {
    state: ClusterState,
    sm: StateMachineStore,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        // The content is a function of the last applied log id (the state machine is
        // deterministic), so that id names the snapshot.
        let snapshot_id = match self.state.last_applied {
            Some(last) => format!("{}-{}", last.leader_id, last.index),
            None => "empty".to_string(),
        };
        let meta = SnapshotMeta {
            last_log_id: self.state.last_applied,
            last_membership: self.state.membership.clone(),
            snapshot_id,
        };
        let data = encode_value(&self.state);
        self.sm.save_snapshot(&StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })?;
        // Durable before openraft learns of it: it purges the log up to the snapshot next.
        self.sm.db.flush().await.map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        tracing::debug!(last_log_id = ?meta.last_log_id, bytes = data.len(), "snapshot built");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{log_id, StoreBuilder, Suite};
    use openraft::{EntryPayload, Membership};
    use redoflow_checkpoint::{Checkpoint, CheckpointId, Offset, Scn, Term};
    use tempfile::TempDir;

    use super::*;
    use crate::state::DEFAULT_HISTORY;
    use crate::Request;

    struct SledBuilder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for SledBuilder {
        async fn build(&self) -> StorageResult<(TempDir, LogStore, StateMachineStore)> {
            let dir = TempDir::new().expect("a temp dir");
            let opened = open(&dir.path().join("raft"), DEFAULT_HISTORY)
                .await
                .unwrap_or_else(|e| panic!("opening a fresh store: {e}"));
            Ok((dir, opened.log, opened.sm))
        }
    }

    #[test]
    fn passes_openraft_storage_suite() {
        Suite::test_all(SledBuilder).unwrap();
    }

    fn commit_entry(index: u64, term: u64, id: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: log_id(term, 1, index),
            payload: EntryPayload::Normal(Request::Commit(Checkpoint {
                id: CheckpointId(id),
                term: Term(term),
                offset: Offset::starting_after(Scn(id)),
                files: vec![],
                created_at_ms: 0,
            })),
        }
    }

    fn membership_entry(index: u64) -> Entry<TypeConfig> {
        let nodes: std::collections::BTreeMap<u64, BasicNode> =
            [(1, BasicNode::new("127.0.0.1:1"))].into();
        Entry {
            log_id: log_id(1, 1, index),
            payload: EntryPayload::Membership(Membership::new(vec![[1].into()], nodes)),
        }
    }

    #[tokio::test]
    async fn snapshot_round_trips_into_another_store_and_survives_a_restart() {
        let dir = TempDir::new().unwrap();
        let mut leader = open(&dir.path().join("a"), DEFAULT_HISTORY).await.unwrap();
        let mut entries = vec![membership_entry(0)];
        entries.extend((1..=5).map(|i| commit_entry(i, 1, i)));
        let responses = leader.sm.apply(entries).await.unwrap();
        assert_eq!(responses[5], Response::Committed(CheckpointId(5)));
        let built = leader
            .sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        // Applying more after the build does not change the built snapshot.
        leader.sm.apply([commit_entry(6, 1, 6)]).await.unwrap();
        let current = leader.sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, built.meta);
        assert_eq!(current.snapshot.get_ref(), built.snapshot.get_ref());

        let follower_dir = dir.path().join("b");
        {
            let mut follower = open(&follower_dir, 3).await.unwrap();
            let mut receiving = follower.sm.begin_receiving_snapshot().await.unwrap();
            *receiving = *current.snapshot;
            follower
                .sm
                .install_snapshot(&current.meta, receiving)
                .await
                .unwrap();
            let state = follower.state.read().unwrap().clone();
            let ids: Vec<u64> = state.checkpoints.iter().map(|c| c.id.0).collect();
            assert_eq!(ids, vec![3, 4, 5], "trimmed to the follower's history");
            assert_eq!(state.last_applied, Some(log_id(1, 1, 5)));
            assert_eq!(follower.cluster_id.get(), state.cluster_id.as_ref());
            assert!(state.cluster_id.is_some());
        }
        // A restart loads the installed snapshot and the cluster id.
        let reopened = open(&follower_dir, 3).await.unwrap();
        let state = reopened.state.read().unwrap().clone();
        assert_eq!(state.last_id(), CheckpointId(5));
        assert_eq!(
            reopened.cluster_id.get(),
            leader.state.read().unwrap().cluster_id.as_ref()
        );
    }

    #[tokio::test]
    async fn a_store_open_elsewhere_is_refused_by_name() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("raft");
        let _held = open(&path, DEFAULT_HISTORY).await.unwrap();
        let Err(e) = open(&path, DEFAULT_HISTORY).await else {
            panic!("a second open of a store in use must fail");
        };
        let e = e.to_string();
        assert!(e.contains("another process has this store open"), "{e}");
        assert!(e.contains(&path.display().to_string()), "{e}");
    }

    #[tokio::test]
    async fn install_refuses_a_snapshot_whose_data_disagrees_with_its_meta() {
        let dir = TempDir::new().unwrap();
        let mut a = open(&dir.path().join("a"), DEFAULT_HISTORY).await.unwrap();
        a.sm.apply([membership_entry(0), commit_entry(1, 1, 1)])
            .await
            .unwrap();
        let snap =
            a.sm.get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
        let mut meta = snap.meta.clone();
        meta.last_log_id = Some(log_id(1, 1, 7));
        let mut b = open(&dir.path().join("b"), DEFAULT_HISTORY).await.unwrap();
        assert!(b.sm.install_snapshot(&meta, snap.snapshot).await.is_err());
        assert_eq!(b.state.read().unwrap().last_applied, None);
    }

    #[tokio::test]
    async fn log_entries_survive_a_restart_and_purge_leaves_the_rest() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("raft");
        {
            let mut opened = open(&path, DEFAULT_HISTORY).await.unwrap();
            let log = &mut opened.log;
            // `append` needs openraft's flush callback, which only openraft can make (the suite
            // covers it); write the entries the way `append` does.
            let mut batch = sled::Batch::default();
            for i in 0..10 {
                batch.insert(&index_key(i), encode_value(&commit_entry(i, 1, i + 1)));
            }
            log.logs.apply_batch(batch).unwrap();
            log.purge(log_id(1, 1, 3)).await.unwrap();
            log.save_vote(&Vote::new(4, 2)).await.unwrap();
        }
        let mut opened = open(&path, DEFAULT_HISTORY).await.unwrap();
        let log = &mut opened.log;
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 3)));
        assert_eq!(state.last_log_id, Some(log_id(1, 1, 9)));
        let entries = log.try_get_log_entries(0..).await.unwrap();
        let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, (4..10).collect::<Vec<_>>());
        assert_eq!(
            log.try_get_log_entries(5..=6).await.unwrap().len(),
            2,
            "an inclusive range ends where it says"
        );
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(4, 2)));
    }
}
