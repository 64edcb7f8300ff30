//! Spilling changes of open transactions to disk.
//!
//! The buffer encodes changes itself (one length-prefixed record per change, after an 8-byte
//! versioned header) and hands the bytes to a [`SpillFile`]; the store only appends, reads back
//! from an offset and removes. So the format, the offsets and the tombstones are all exercised by
//! the in-memory fake ([`MemSpillStore`]) the unit tests use, and the real store
//! ([`FileSpillStore`], sequential files `<dir>/<xid>-<n>.bin`) is a thin layer of buffered I/O.
//!
//! Record (all integers little-endian):
//! `u32 body_len | u64 scn | u64 line | u8 op | u32 len, owner | u32 len, table | u32 len, row_id
//! | u32 len, sql_redo | u8 has_reason [| u32 len, reason]`.

use crate::row::ShortText;
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use redoflow_checkpoint::{Scn, Xid};

use super::{Change, ChangeOp, TxnError};

/// File header: magic + format version.
pub(crate) const HEADER: &[u8; 8] = b"RFSPILL\x02";

/// I/O buffer of the file store, each way.
const IO_BUFFER: usize = 256 * 1024;

/// Creates one spill file per transaction that needs one.
///
/// Contract: files are private to the buffer that created them (no concurrent writers); a file
/// is removed when its [`SpillFile`] is dropped, which happens when its transaction rolls back,
/// is dropped, or, for a committed transaction, when the last handle on its changes
/// ([`super::SpilledChanges`]) is dropped. Nothing is fsynced: spill files do not survive a
/// restart (the restart re-reads the redo from the checkpoint's resume SCN).
pub trait SpillStore: Send + fmt::Debug {
    /// Where the files go, for error messages.
    fn dir(&self) -> &Path;
    /// A new, empty file for (part of) the changes of `xid`.
    fn create(&mut self, xid: Xid) -> io::Result<Box<dyn SpillFile>>;
}

/// One transaction's spill file: append-only while the transaction is open, then read back.
pub trait SpillFile: Send + Sync + fmt::Debug {
    /// Where the file is, for error messages.
    fn path(&self) -> &Path;
    /// Appends `bytes` (may buffer).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every appended byte visible to [`SpillFile::read_from`].
    fn flush(&mut self) -> io::Result<()>;
    /// An independent (buffered) reader of the flushed bytes from `offset` on.
    fn read_from(&self, offset: u64) -> io::Result<Box<dyn Read + Send>>;
}

// ---------------------------------------------------------------------------------------------
// Files.

/// Sequential spill files `<dir>/<xid>-<n>.bin`; `dir` is created on first use.
#[derive(Debug)]
pub struct FileSpillStore {
    dir: PathBuf,
    dir_ready: bool,
    next: u64,
}

impl FileSpillStore {
    /// Spill files go to `dir` (the product uses `<data_dir>/spill`). Call
    /// [`wipe_spill_dir`] at startup to remove files a crashed run left behind.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileSpillStore {
            dir: dir.into(),
            dir_ready: false,
            next: 0,
        }
    }
}

impl SpillStore for FileSpillStore {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn create(&mut self, xid: Xid) -> io::Result<Box<dyn SpillFile>> {
        if !self.dir_ready {
            fs::create_dir_all(&self.dir)?;
            self.dir_ready = true;
        }
        self.next += 1;
        let path = self.dir.join(format!("{xid}-{}.bin", self.next));
        // Truncate: a file with this name can only be a leftover of an earlier process.
        let file = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(Box::new(DiskFile {
            path,
            writer: Some(BufWriter::with_capacity(IO_BUFFER, file)),
        }))
    }
}

#[derive(Debug)]
struct DiskFile {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl SpillFile for DiskFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.write_all(bytes),
            None => Err(io::Error::other("spill file already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    fn read_from(&self, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(BufReader::with_capacity(IO_BUFFER, f)))
    }
}

impl Drop for DiskFile {
    fn drop(&mut self) {
        // Unflushed bytes are garbage now: drop them without a write.
        if let Some(w) = self.writer.take() {
            let _ = w.into_parts();
        }
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(path = %self.path.display(), error = %e,
                "cannot remove a spill file"),
        }
    }
}

/// Removes spill files (`*.bin`) a previous run left in `dir`; returns how many. A missing
/// directory is not an error. Call it once at startup, before the first buffer spills there.
pub fn wipe_spill_dir(dir: &Path) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "bin") && entry.file_type()?.is_file() {
            fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

// ---------------------------------------------------------------------------------------------
// In memory.

/// Faults a [`MemSpillStore`] injects, switchable while files are in use.
#[derive(Debug, Default)]
pub struct SpillFaults {
    pub fail_create: AtomicBool,
    pub fail_append: AtomicBool,
    pub fail_read: AtomicBool,
}

type MemFiles = Arc<Mutex<HashMap<PathBuf, Arc<Mutex<Vec<u8>>>>>>;

/// A [`SpillStore`] in memory, with fault injection: for tests (and embedders that want the
/// buffer's logic without a disk). Clones share the files and faults.
#[derive(Clone, Debug, Default)]
pub struct MemSpillStore {
    files: MemFiles,
    faults: Arc<SpillFaults>,
    next: u64,
}

impl MemSpillStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn faults(&self) -> &SpillFaults {
        &self.faults
    }

    /// Files not removed yet.
    pub fn live_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = lock(&self.files).keys().cloned().collect();
        v.sort();
        v
    }

    /// Bytes held by the files not removed yet.
    pub fn live_bytes(&self) -> usize {
        lock(&self.files).values().map(|f| lock(f).len()).sum()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SpillStore for MemSpillStore {
    fn dir(&self) -> &Path {
        Path::new("mem")
    }

    fn create(&mut self, xid: Xid) -> io::Result<Box<dyn SpillFile>> {
        if self.faults.fail_create.load(Ordering::Relaxed) {
            return Err(io::Error::other("injected create failure"));
        }
        self.next += 1;
        let path = PathBuf::from(format!("mem/{xid}-{}.bin", self.next));
        let data = Arc::new(Mutex::new(Vec::new()));
        lock(&self.files).insert(path.clone(), data.clone());
        Ok(Box::new(MemFile {
            path,
            data,
            files: self.files.clone(),
            faults: self.faults.clone(),
        }))
    }
}

#[derive(Debug)]
struct MemFile {
    path: PathBuf,
    data: Arc<Mutex<Vec<u8>>>,
    files: MemFiles,
    faults: Arc<SpillFaults>,
}

impl SpillFile for MemFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.faults.fail_append.load(Ordering::Relaxed) {
            return Err(io::Error::other("injected write failure"));
        }
        lock(&self.data).extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn read_from(&self, offset: u64) -> io::Result<Box<dyn Read + Send>> {
        if self.faults.fail_read.load(Ordering::Relaxed) {
            return Err(io::Error::other("injected read failure"));
        }
        let data = lock(&self.data);
        let start = (offset as usize).min(data.len());
        Ok(Box::new(io::Cursor::new(data[start..].to_vec())))
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        lock(&self.files).remove(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// Record codec.

/// The operation's byte; an unknown OPERATION_CODE is byte 0 followed by the code (2 bytes).
fn put_op(buf: &mut Vec<u8>, op: ChangeOp) {
    match op {
        ChangeOp::Insert => buf.push(1),
        ChangeOp::Update => buf.push(3),
        ChangeOp::Delete => buf.push(2),
        ChangeOp::Ddl => buf.push(5),
        ChangeOp::Undecodable => buf.push(0xFE),
        ChangeOp::Unsupported => buf.push(0xFF),
        ChangeOp::Unknown(code) => {
            buf.push(0);
            buf.extend_from_slice(&code.to_le_bytes());
        }
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Appends the record of `c` to `buf`; returns its length.
pub(crate) fn encode(c: &Change, buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&c.scn.0.to_le_bytes());
    buf.extend_from_slice(&c.line.to_le_bytes());
    put_op(buf, c.op);
    put_str(buf, &c.owner);
    put_str(buf, &c.table);
    put_str(buf, c.row_id.as_str());
    put_str(buf, &c.sql_redo);
    match &c.reason {
        None => buf.push(0),
        Some(r) => {
            buf.push(1);
            put_str(buf, r);
        }
    }
    let body = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&body.to_le_bytes());
    buf.len() - start
}

/// A cursor over one record body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("record shorter than its fields".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn string(&mut self) -> Result<String, String> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")) as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "text is not UTF-8".to_string())
    }
}

fn decode(body: &[u8]) -> Result<Change, String> {
    let mut b = Body(body);
    let scn = Scn(b.u64()?);
    let line = b.u64()?;
    let op = match b.take(1)?[0] {
        1 => ChangeOp::Insert,
        2 => ChangeOp::Delete,
        3 => ChangeOp::Update,
        5 => ChangeOp::Ddl,
        0 => {
            let code = b.take(2)?;
            ChangeOp::Unknown(u16::from_le_bytes([code[0], code[1]]))
        }
        0xFE => ChangeOp::Undecodable,
        0xFF => ChangeOp::Unsupported,
        x => return Err(format!("unknown operation {x}")),
    };
    let owner = b.string()?;
    let table = b.string()?;
    let row_id = ShortText::new(&b.string()?).map_err(|e| format!("row id of {e}"))?;
    let sql_redo = b.string()?;
    let reason = match b.take(1)?[0] {
        0 => None,
        1 => Some(b.string()?.into_boxed_str()),
        x => return Err(format!("bad reason flag {x}")),
    };
    if !b.0.is_empty() {
        return Err("trailing bytes in a record".into());
    }
    Ok(Change {
        scn,
        op,
        owner: owner.into(),
        table: table.into(),
        row_id,
        sql_redo,
        line,
        reason,
    })
}

/// Longest record body accepted on read: a guard against a corrupt length (1 GiB).
const MAX_RECORD: usize = 1 << 30;

/// Reads records from a spill file, in order, one at a time.
pub(crate) struct RecordReader {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
}

impl fmt::Debug for RecordReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordReader").finish_non_exhaustive()
    }
}

impl RecordReader {
    /// A reader at `offset`; at offset 0 the header is checked first.
    pub(crate) fn open(file: &dyn SpillFile, offset: u64) -> Result<Self, String> {
        let mut inner = file.read_from(offset).map_err(|e| e.to_string())?;
        if offset == 0 {
            let mut h = [0u8; 8];
            inner
                .read_exact(&mut h)
                .map_err(|e| format!("header: {e}"))?;
            if &h != HEADER {
                return Err(format!(
                    "not a version-{} spill file (header {h:02X?})",
                    HEADER[7]
                ));
            }
        }
        Ok(RecordReader {
            inner,
            buf: Vec::new(),
        })
    }

    /// The next record; an early end of file is an error (the caller knows the count).
    pub(crate) fn next(&mut self) -> Result<Change, String> {
        let mut len = [0u8; 4];
        self.inner
            .read_exact(&mut len)
            .map_err(|e| format!("record length: {e}"))?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_RECORD {
            return Err(format!("record length {len} is corrupt"));
        }
        self.buf.resize(len, 0);
        self.inner
            .read_exact(&mut self.buf)
            .map_err(|e| format!("record of {len} bytes: {e}"))?;
        decode(&self.buf)
    }

    /// Skips one record without decoding it.
    pub(crate) fn skip(&mut self) -> Result<(), String> {
        let mut len = [0u8; 4];
        self.inner
            .read_exact(&mut len)
            .map_err(|e| format!("record length: {e}"))?;
        let len = u64::from(u32::from_le_bytes(len));
        let n = io::copy(&mut (&mut self.inner).take(len), &mut io::sink())
            .map_err(|e| format!("record of {len} bytes: {e}"))?;
        if n != len {
            return Err(format!("record of {len} bytes cut short at {n}"));
        }
        Ok(())
    }
}

/// `TxnError::Spill` for `file`.
pub(crate) fn spill_error(
    xid: Xid,
    path: &Path,
    action: &'static str,
    message: impl fmt::Display,
) -> TxnError {
    TxnError::Spill {
        xid,
        path: path.to_path_buf(),
        action,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(i: u64) -> Change {
        Change {
            scn: Scn(i),
            op: ChangeOp::Update,
            owner: "HR".into(),
            table: "EMP ü".into(),
            row_id: ShortText::new(&format!("R{i}")).unwrap(),
            sql_redo: format!("update x set y = '{i}'"),
            line: i * 2,
            reason: None,
        }
    }

    /// Changes that are not rows keep their kind and reason through a spill.
    #[test]
    fn undecodable_and_unsupported_changes_round_trip() {
        let mut store = MemSpillStore::new();
        let mut f = store.create(Xid(7)).unwrap();
        let mut buf = HEADER.to_vec();
        let mut a = change(1);
        a.op = ChangeOp::Undecodable;
        a.reason = Some("STATUS = 2, INFO = 'Dictionary Mismatch'".into());
        let mut b = change(2);
        b.op = ChangeOp::Unsupported;
        b.reason = Some("OPERATION_CODE 255".into());
        for c in [&a, &b, &change(3)] {
            encode(c, &mut buf);
        }
        f.append(&buf).unwrap();
        let mut r = RecordReader::open(f.as_ref(), 0).unwrap();
        assert_eq!(r.next().unwrap(), a);
        assert_eq!(r.next().unwrap(), b);
        assert_eq!(r.next().unwrap(), change(3));
    }

    #[test]
    fn records_round_trip_and_skip() {
        let mut store = MemSpillStore::new();
        let mut f = store.create(Xid(7)).unwrap();
        let mut buf = HEADER.to_vec();
        for i in 0..5 {
            encode(&change(i), &mut buf);
        }
        f.append(&buf).unwrap();
        let mut r = RecordReader::open(f.as_ref(), 0).unwrap();
        assert_eq!(r.next().unwrap(), change(0));
        r.skip().unwrap();
        assert_eq!(r.next().unwrap(), change(2));
        assert_eq!(r.next().unwrap(), change(3));
        assert_eq!(r.next().unwrap(), change(4));
        assert!(r.next().unwrap_err().contains("record length"));
        assert_eq!(store.live_files().len(), 1);
        drop(f);
        assert!(store.live_files().is_empty());
    }

    #[test]
    fn corrupt_records_are_errors() {
        let mut store = MemSpillStore::new();
        let mut f = store.create(Xid(7)).unwrap();
        f.append(b"NOTSPILL").unwrap();
        assert!(RecordReader::open(f.as_ref(), 0)
            .unwrap_err()
            .contains("not a version-2"));
        let mut g = store.create(Xid(7)).unwrap();
        let mut buf = HEADER.to_vec();
        let n = encode(&change(1), &mut buf);
        buf[8 + 4 + 16] = 9; // the op byte
        assert!(n > 20);
        g.append(&buf).unwrap();
        let mut r = RecordReader::open(g.as_ref(), 0).unwrap();
        assert!(r.next().unwrap_err().contains("unknown operation"));
    }

    #[test]
    fn files_are_created_in_their_dir_and_wiped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spill");
        let mut store = FileSpillStore::new(&dir);
        let mut f = store.create(Xid(0xAB)).unwrap();
        assert_eq!(
            f.path().file_name().unwrap().to_str().unwrap(),
            "00000000000000AB-1.bin"
        );
        let mut buf = HEADER.to_vec();
        encode(&change(3), &mut buf);
        f.append(&buf).unwrap();
        f.flush().unwrap();
        let mut r = RecordReader::open(f.as_ref(), 0).unwrap();
        assert_eq!(r.next().unwrap(), change(3));
        let path = f.path().to_path_buf();
        assert!(path.exists());
        drop(f);
        assert!(!path.exists());
        fs::write(dir.join("stale-1.bin"), b"x").unwrap();
        fs::write(dir.join("keep.txt"), b"x").unwrap();
        assert_eq!(wipe_spill_dir(&dir).unwrap(), 1);
        assert_eq!(wipe_spill_dir(&tmp.path().join("absent")).unwrap(), 0);
        assert!(dir.join("keep.txt").exists());
    }
}
