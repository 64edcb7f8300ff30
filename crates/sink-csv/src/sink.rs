//! The writer: rows into per-table in-progress files, `prepare` at a checkpoint.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use redoflow_checkpoint::{CheckpointId, FileCommit, Term};
use redoflow_miner::schema::{TableId, TableSchema};
use redoflow_miner::value::Value;

use crate::encode;
use crate::naming::{self, CHECKPOINTS_DIR, REJECTED_DIR};
use crate::transcode::{self, Layout};
use crate::{fsync_dir, io_err, RejectedRow, RowMeta, SinkConfig, SinkError};

/// Size of each file's write buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// A file being written. Rows are encoded straight into its buffer, and the checksum and the
/// write each take a whole buffer at a time (a CRC per 180-byte line cost 2% of a run).
#[derive(Debug)]
struct OpenFile {
    file: File,
    /// Bytes not written to `file` yet (nor checksummed).
    buf: Vec<u8>,
    abs_path: PathBuf,
    seq: u32,
    inprogress_path: String,
    final_path: String,
    rows: u64,
    bytes: u64,
    crc: crc32fast::Hasher,
}

impl OpenFile {
    fn create(
        root: &Path,
        dir_name: &str,
        checkpoint_id: CheckpointId,
        seq: u32,
        term: Term,
        header: &[u8],
    ) -> Result<OpenFile, SinkError> {
        let name = naming::inprogress_file_name(checkpoint_id, seq, term);
        let abs_path = root.join(dir_name).join(&name);
        // Truncate: a leftover file of this exact name can only be an unfinished attempt of the
        // same term and checkpoint, which no committed checkpoint lists.
        let file = File::create(&abs_path).map_err(|e| io_err(&abs_path, e))?;
        // Room for a full buffer and the row that overflows it.
        let mut buf = Vec::with_capacity(WRITE_BUFFER + 64 * 1024);
        buf.extend_from_slice(header);
        Ok(OpenFile {
            file,
            buf,
            abs_path,
            seq,
            inprogress_path: format!("{dir_name}/{name}"),
            final_path: format!("{dir_name}/{}", naming::final_file_name(checkpoint_id, seq)),
            rows: 0,
            bytes: header.len() as u64,
            crc: crc32fast::Hasher::new(),
        })
    }

    /// Appends one row, which `encode` writes at the end of the buffer.
    #[inline]
    fn append_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<(), SinkError> {
        self.try_append_with(|out| {
            encode(out);
            true
        })
        .map(drop)
    }

    /// [`OpenFile::append_with`] for an encoder that may decline (false): what it wrote is cut
    /// off again, and the file is as before.
    #[inline]
    fn try_append_with(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> Result<bool, SinkError> {
        let start = self.buf.len();
        if !encode(&mut self.buf) {
            self.buf.truncate(start);
            return Ok(false);
        }
        self.bytes += (self.buf.len() - start) as u64;
        self.rows += 1;
        if self.buf.len() >= WRITE_BUFFER {
            self.write_buffer()?;
        }
        Ok(true)
    }

    /// Checksums and writes out the buffer.
    fn write_buffer(&mut self) -> Result<(), SinkError> {
        self.crc.update(&self.buf);
        self.file
            .write_all(&self.buf)
            .map_err(|e| io_err(&self.abs_path, e))?;
        self.buf.clear();
        // A huge row (a long CLOB) grew the buffer: give that memory back.
        if self.buf.capacity() > 2 * WRITE_BUFFER {
            self.buf.shrink_to(WRITE_BUFFER + 64 * 1024);
        }
        Ok(())
    }

    /// Writes out the file's buffer and closes it for writing; the result joins the next
    /// `prepare`. With `fsync` on, the file's data is made durable on a helper thread
    /// ([`Syncs`]), which `prepare` waits for.
    fn close(mut self, table: &str, syncs: Option<&mut Syncs>) -> Result<ClosedFile, SinkError> {
        self.write_buffer()?;
        if let Some(syncs) = syncs {
            syncs.start(self.file, self.abs_path)?;
        }
        Ok(ClosedFile {
            seq: self.seq,
            commit: FileCommit {
                table: table.to_string(),
                final_path: self.final_path,
                inprogress_path: self.inprogress_path,
                rows: self.rows,
                bytes: self.bytes,
                crc32: self.crc.finalize(),
            },
        })
    }
}

/// Closed files whose data is being made durable (`fdatasync`) on helper threads.
///
/// A file that rolls at `max_file_bytes` is synced while rows go on into the next one, instead
/// of stalling the writer for the device's flush (45–50 ms per 128 MiB file on the development
/// VM, far more on network storage). At a checkpoint the files still open are synced in
/// parallel. [`CsvSink::prepare`] waits for every sync and fails on the first error, naming the
/// file, so nothing is committed before its data is durable.
#[derive(Debug)]
struct Syncs {
    pending: VecDeque<PendingSync>,
    /// The durability call: `File::sync_data`, replaced by tests to fail.
    sync: fn(&File) -> io::Result<()>,
}

#[derive(Debug)]
struct PendingSync {
    path: PathBuf,
    thread: JoinHandle<io::Result<()>>,
}

/// Syncs running at once; a roll beyond this waits for the oldest first, so files rolled faster
/// than the device can flush them do not pile up threads.
const MAX_PENDING_SYNCS: usize = 4;

impl Default for Syncs {
    fn default() -> Self {
        Syncs {
            pending: VecDeque::new(),
            sync: File::sync_data,
        }
    }
}

impl Syncs {
    /// Starts making `file` durable. When no thread can be started it is synced here.
    fn start(&mut self, file: File, path: PathBuf) -> Result<(), SinkError> {
        while self.pending.len() >= MAX_PENDING_SYNCS {
            self.wait_oldest()?;
        }
        let file = Arc::new(file);
        let sync = self.sync;
        let theirs = Arc::clone(&file);
        match thread::Builder::new()
            .name("csv-fsync".into())
            .spawn(move || sync(&theirs))
        {
            Ok(thread) => self.pending.push_back(PendingSync { path, thread }),
            Err(e) => {
                tracing::debug!(error = %e, "no thread for a file sync; syncing on the writer");
                sync(&file).map_err(|e| io_err(&path, e))?;
            }
        }
        Ok(())
    }

    fn wait_oldest(&mut self) -> Result<(), SinkError> {
        match self.pending.pop_front() {
            Some(p) => p.wait(),
            None => Ok(()),
        }
    }

    /// Waits for every sync, also after a failed one (none is left running), and returns the
    /// first error.
    fn wait_all(&mut self) -> Result<(), SinkError> {
        let mut first = Ok(());
        while let Some(p) = self.pending.pop_front() {
            let r = p.wait();
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

impl PendingSync {
    fn wait(self) -> Result<(), SinkError> {
        let r = self
            .thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread syncing this file panicked")));
        r.map_err(|e| io_err(&self.path, e))
    }
}

#[derive(Debug)]
struct ClosedFile {
    seq: u32,
    commit: FileCommit,
}

/// Per-table state across files.
#[derive(Debug)]
struct TableState {
    id: TableId,
    /// `OWNER.TABLE` as written into `FileCommit::table`.
    display: String,
    dir_name: String,
    dir_created: bool,
    /// Sequence of the next file of this table in the current checkpoint.
    next_seq: u32,
    current: Option<OpenFile>,
    /// The schema the current file's header was written from.
    version: u32,
    /// `TableSchema::fingerprint` of that schema.
    fingerprint: u64,
    /// The fast path's reading of that schema: built with the file's first fast row.
    layout: Option<TableLayout>,
}

/// A table's [`Layout`] for the schema of this version and fingerprint (`None`: the names
/// cannot be read that way, so its statements all take the general path).
#[derive(Debug)]
struct TableLayout {
    version: u32,
    fingerprint: u64,
    layout: Option<Layout>,
}

/// Rolling per-table CSV writer; see the crate docs for the commit protocol.
///
/// Not thread-safe by design: one pipeline thread owns it. An error from any method leaves the
/// sink in an unknown state: drop it, run [`crate::recover`] and open a new one.
#[derive(Debug)]
pub struct CsvSink {
    config: SinkConfig,
    term: Term,
    checkpoint_id: CheckpointId,
    tables: Vec<TableState>,
    by_id: HashMap<TableId, usize>,
    /// Index of the table of the previous row: consecutive rows usually share a table.
    last: usize,
    rejected: Option<OpenFile>,
    rejected_dir_created: bool,
    rejected_next_seq: u32,
    /// Files closed since the last prepare.
    closed: Vec<ClosedFile>,
    /// Their data being made durable (with `config.fsync`).
    syncs: Syncs,
    /// Directories that got new entries since the last prepare.
    dirty_dirs: BTreeSet<String>,
    /// Reused for every encoded line.
    line: Vec<u8>,
    /// The metadata of the last row's transaction, encoded.
    txn_meta: encode::TxnMeta,
    /// The fast path's buffers.
    scratch: transcode::Scratch,
}

impl CsvSink {
    /// Opens a sink writing under `config.root`. Rows written from now on belong to checkpoint
    /// `checkpoint_id` (the next id the caller will commit); `term` keeps in-progress names of two
    /// leaders apart. Run [`crate::recover`] first on a root a previous process wrote to.
    pub fn open(
        config: SinkConfig,
        term: Term,
        checkpoint_id: CheckpointId,
    ) -> Result<Self, SinkError> {
        let checkpoints = config.root.join(CHECKPOINTS_DIR);
        fs::create_dir_all(&checkpoints).map_err(|e| io_err(&checkpoints, e))?;
        let manifest = checkpoints.join(naming::manifest_file_name(checkpoint_id));
        if manifest.exists() {
            return Err(SinkError::CheckpointAlreadyFinished {
                checkpoint: checkpoint_id,
                path: manifest,
            });
        }
        tracing::debug!(root = %config.root.display(), %term, %checkpoint_id, "csv sink opened");
        Ok(CsvSink {
            config,
            term,
            checkpoint_id,
            tables: Vec::new(),
            by_id: HashMap::new(),
            last: usize::MAX,
            rejected: None,
            rejected_dir_created: false,
            rejected_next_seq: 0,
            closed: Vec::new(),
            syncs: Syncs::default(),
            dirty_dirs: BTreeSet::new(),
            line: Vec::with_capacity(4096),
            txn_meta: encode::TxnMeta::default(),
            scratch: transcode::Scratch::default(),
        })
    }

    /// The checkpoint the rows written now belong to.
    pub fn checkpoint_id(&self) -> CheckpointId {
        self.checkpoint_id
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn config(&self) -> &SinkConfig {
        &self.config
    }

    /// Whether any row was written since the last [`CsvSink::prepare`].
    pub fn has_pending(&self) -> bool {
        !self.closed.is_empty()
            || self.rejected.is_some()
            || self.tables.iter().any(|t| t.current.is_some())
    }

    /// Appends one change row to its table's current file. `values[i]` is the value of schema
    /// column `i` (a `Value` or a reference to one); `None` means the redo does not carry it
    /// (written as the missing marker). Starts a new file when the schema differs from the one
    /// the current file was started with.
    pub fn write_row<'v, V: Borrow<Value<'v>>>(
        &mut self,
        schema: &TableSchema,
        meta: &RowMeta,
        values: &[Option<V>],
    ) -> Result<(), SinkError> {
        if values.len() != schema.columns.len() {
            return Err(SinkError::ColumnCount {
                table: schema.id.to_string(),
                expected: schema.columns.len(),
                actual: values.len(),
            });
        }
        let idx = self.table_index(&schema.id);
        let config = &self.config;
        let table = &mut self.tables[idx];

        let schema_changed = table.current.is_some()
            && (table.version != schema.version || table.fingerprint != schema.fingerprint());
        if schema_changed {
            if let Some(file) = table.current.take() {
                tracing::debug!(table = %table.display, seq = file.seq, "roll: schema changed");
                let syncs = config.fsync.then_some(&mut self.syncs);
                self.closed.push(file.close(&table.display, syncs)?);
            }
        }

        let file = match &mut table.current {
            Some(file) => file,
            None => {
                if !table.dir_created {
                    let dir = config.root.join(&table.dir_name);
                    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
                    table.dir_created = true;
                }
                self.line.clear();
                encode::encode_header(
                    &mut self.line,
                    schema.columns.iter().map(|c| c.name.as_str()),
                );
                let file = OpenFile::create(
                    &config.root,
                    &table.dir_name,
                    self.checkpoint_id,
                    table.next_seq,
                    self.term,
                    &self.line,
                )?;
                table.next_seq += 1;
                table.version = schema.version;
                table.fingerprint = schema.fingerprint();
                self.dirty_dirs.insert(table.dir_name.clone());
                table.current.insert(file)
            }
        };

        let txn_meta = &mut self.txn_meta;
        file.append_with(|out| {
            encode::encode_row(
                out,
                meta,
                txn_meta,
                values,
                config.missing_marker.as_bytes(),
            )
        })?;
        self.roll_if_full(idx)
    }

    /// Appends the change row of `sql` when the statement is in the exact layout LogMiner
    /// prints (the `transcode` module): its values go straight into the CSV line, and the line
    /// is the one [`CsvSink::write_row`] writes for the parsed statement. `Ok(false)`: nothing
    /// was written (the statement is in another layout, or the table's file is not open with
    /// this schema yet); the caller parses the statement and calls [`CsvSink::write_row`], which
    /// also opens and rolls files.
    pub fn write_statement(
        &mut self,
        schema: &TableSchema,
        meta: &RowMeta,
        sql: &str,
    ) -> Result<bool, SinkError> {
        let idx = self.table_index(&schema.id);
        let table = &mut self.tables[idx];
        let same_schema =
            table.version == schema.version && table.fingerprint == schema.fingerprint();
        let Some(file) = table.current.as_mut().filter(|_| same_schema) else {
            return Ok(false);
        };
        let layout = match &table.layout {
            Some(l) if l.version == schema.version && l.fingerprint == schema.fingerprint() => l,
            _ => table.layout.insert(TableLayout {
                version: schema.version,
                fingerprint: schema.fingerprint(),
                layout: Layout::new(schema, self.config.missing_marker.as_bytes()),
            }),
        };
        let Some(layout) = &layout.layout else {
            return Ok(false);
        };
        let txn_meta = &mut self.txn_meta;
        let scratch = &mut self.scratch;
        let written = file.try_append_with(|out| {
            transcode::transcode(out, meta, txn_meta, schema, layout, sql.as_bytes(), scratch)
        })?;
        if written {
            self.roll_if_full(idx)?;
        }
        Ok(written)
    }

    /// Closes table `idx`'s file once it has reached `max_file_bytes`.
    #[inline]
    fn roll_if_full(&mut self, idx: usize) -> Result<(), SinkError> {
        let table = &mut self.tables[idx];
        if table
            .current
            .as_ref()
            .is_some_and(|f| f.bytes >= self.config.max_file_bytes)
        {
            if let Some(file) = table.current.take() {
                tracing::debug!(table = %table.display, seq = file.seq, bytes = file.bytes, "roll: size");
                let syncs = self.config.fsync.then_some(&mut self.syncs);
                self.closed.push(file.close(&table.display, syncs)?);
            }
        }
        Ok(())
    }

    /// Appends a dead-letter row to `_rejected/`.
    pub fn write_rejected(&mut self, row: &RejectedRow<'_>) -> Result<(), SinkError> {
        let file = match &mut self.rejected {
            Some(file) => file,
            None => {
                if !self.rejected_dir_created {
                    let dir = self.config.root.join(REJECTED_DIR);
                    fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
                    self.rejected_dir_created = true;
                }
                let file = OpenFile::create(
                    &self.config.root,
                    REJECTED_DIR,
                    self.checkpoint_id,
                    self.rejected_next_seq,
                    self.term,
                    encode::REJECTED_HEADER,
                )?;
                self.rejected_next_seq += 1;
                self.dirty_dirs.insert(REJECTED_DIR.to_string());
                self.rejected.insert(file)
            }
        };
        file.append_with(|out| encode::encode_rejected(out, row))?;
        if file.bytes >= self.config.max_file_bytes {
            if let Some(file) = self.rejected.take() {
                let syncs = self.config.fsync.then_some(&mut self.syncs);
                self.closed.push(file.close(REJECTED_DIR, syncs)?);
            }
        }
        Ok(())
    }

    /// Phase 1 of a checkpoint: makes every file written since the last prepare durable (flush,
    /// fsync if configured, in parallel and waiting for the syncs of files rolled earlier, then
    /// fsync of their directories) and returns them sorted by (table, seq).
    /// The sink then moves on to checkpoint `checkpoint_id + 1`; the returned files are never
    /// written again. They become visible only through [`crate::finish_checkpoint`] after the
    /// caller committed a checkpoint listing them.
    pub fn prepare(&mut self) -> Result<Vec<FileCommit>, SinkError> {
        let fsync = self.config.fsync;
        for table in &mut self.tables {
            if let Some(file) = table.current.take() {
                let syncs = fsync.then_some(&mut self.syncs);
                self.closed.push(file.close(&table.display, syncs)?);
            }
            table.next_seq = 0;
        }
        if let Some(file) = self.rejected.take() {
            let syncs = fsync.then_some(&mut self.syncs);
            self.closed.push(file.close(REJECTED_DIR, syncs)?);
        }
        self.rejected_next_seq = 0;
        self.syncs.wait_all()?;
        if fsync {
            for dir in &self.dirty_dirs {
                fsync_dir(&self.config.root.join(dir))?;
            }
        }
        self.dirty_dirs.clear();
        let mut closed = std::mem::take(&mut self.closed);
        closed.sort_by(|a, b| (&a.commit.table, a.seq).cmp(&(&b.commit.table, b.seq)));
        let files: Vec<FileCommit> = closed.into_iter().map(|c| c.commit).collect();
        tracing::debug!(
            checkpoint_id = %self.checkpoint_id,
            files = files.len(),
            rows = files.iter().map(|f| f.rows).sum::<u64>(),
            "csv sink prepared"
        );
        self.checkpoint_id = self.checkpoint_id.next();
        Ok(files)
    }

    fn table_index(&mut self, id: &TableId) -> usize {
        if let Some(t) = self.tables.get(self.last) {
            if t.id == *id {
                return self.last;
            }
        }
        let idx = match self.by_id.get(id) {
            Some(&i) => i,
            None => {
                let display = id.to_string();
                let i = self.tables.len();
                self.tables.push(TableState {
                    id: id.clone(),
                    dir_name: naming::table_dir_name(&display),
                    display,
                    dir_created: false,
                    next_seq: 0,
                    current: None,
                    version: 0,
                    fingerprint: 0,
                    layout: None,
                });
                self.by_id.insert(id.clone(), i);
                i
            }
        };
        self.last = idx;
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RowOp;
    use redoflow_checkpoint::{Scn, Xid};
    use redoflow_miner::schema::TableId;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn schema() -> TableSchema {
        TableSchema::from_names(TableId::new("HR", "T"), ["V"], "VARCHAR2")
    }

    fn meta(scn: u64) -> RowMeta {
        RowMeta {
            op: RowOp::Insert,
            scn: Scn(scn),
            commit_scn: Scn(scn),
            commit_ts: None,
            xid: Xid(1),
        }
    }

    /// A sink with fsync on, files rolling after about three rows, and `sync` as the
    /// durability call.
    fn sink(root: &Path, sync: fn(&File) -> io::Result<()>) -> CsvSink {
        let config = SinkConfig {
            root: root.to_path_buf(),
            max_file_bytes: 120,
            missing_marker: "?".to_string(),
            fsync: true,
        };
        let mut sink = CsvSink::open(config, Term(1), CheckpointId(1)).expect("open");
        sink.syncs.sync = sync;
        sink
    }

    fn write(sink: &mut CsvSink, scn: u64) {
        let v = Value::Text("0123456789".into());
        sink.write_row(&schema(), &meta(scn), &[Some(&v)])
            .expect("a row is written while earlier files sync");
    }

    #[test]
    fn a_failed_sync_of_a_rolled_file_fails_the_next_prepare_naming_the_file() {
        fn fail(_: &File) -> io::Result<()> {
            Err(io::Error::other("device flush failed"))
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = sink(dir.path(), fail);
        for scn in 1..=4 {
            write(&mut sink, scn);
        }
        // The first file rolled; its sync failed in the background, the writer went on.
        assert_eq!(sink.closed.len(), 1);
        let rolled = dir.path().join(&sink.closed[0].commit.inprogress_path);
        match sink.prepare() {
            Err(SinkError::Io { path, source }) => {
                assert_eq!(path, rolled);
                assert_eq!(source.to_string(), "device flush failed");
            }
            other => panic!("expected the sync error, got {other:?}"),
        }
        assert!(sink.syncs.pending.is_empty(), "no sync left running");
    }

    #[test]
    fn prepare_returns_only_after_every_file_is_synced() {
        static SYNCED: AtomicUsize = AtomicUsize::new(0);
        fn slow(f: &File) -> io::Result<()> {
            std::thread::sleep(Duration::from_millis(30));
            f.sync_data()?;
            SYNCED.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sink = sink(dir.path(), slow);
        for scn in 1..=40 {
            write(&mut sink, scn);
            assert!(
                sink.syncs.pending.len() <= MAX_PENDING_SYNCS,
                "at most {MAX_PENDING_SYNCS} syncs run at once"
            );
        }
        let rolled = sink.closed.len();
        assert!(rolled >= 10, "the rows rolled {rolled} files");
        let files = sink.prepare().expect("prepare");
        assert_eq!(files.len(), rolled + 1, "the open file closes at prepare");
        assert_eq!(SYNCED.load(Ordering::SeqCst), files.len());
        assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 40);
    }
}
