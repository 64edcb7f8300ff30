//! One process per directory: an exclusive advisory lock (`flock`, through `fs4`) on a lock
//! file inside the directory, held for as long as the [`DirLock`] lives.
//!
//! Who locks what: a single-node process (`redoflow run`, `redoflow replay`, [`crate::run`])
//! holds an exclusive lock on its output root and on its state dir; a cluster node locks its
//! own state dir only. On a cluster the output root is shared by the nodes, and what keeps two
//! writers apart there is Raft leadership plus the leader's term in every in-progress file name.
//!
//! The lock file holds the holder's pid, host, start time and purpose, so a process that finds
//! the directory taken can say by whom. The lock is the kernel's, not the file's: it goes away
//! with the holder (exit, crash, `kill -9`), and a lock file left behind locks nothing. The file
//! is never removed (removing it would let a third process lock a new file while a second one
//! still waits on the old one). `flock` locks are per open file, so two locks on one directory
//! in one process exclude each other as well.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fs4::FileExt;

/// The lock file's name inside a locked directory. Output readers skip files at the root and
/// names starting with `.`.
pub const LOCK_FILE: &str = ".redoflow.lock";

/// An exclusive lock on a directory, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    /// Kept open: closing it releases the lock.
    _file: File,
    path: PathBuf,
}

/// Who holds a lock, as its lock file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub host: String,
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started: String,
    pub purpose: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => f.write_str("a process that has not written its name yet")?,
        }
        if !self.host.is_empty() {
            write!(f, " on host {}", self.host)?;
        }
        if !self.started.is_empty() {
            write!(f, ", started {}", self.started)?;
        }
        if !self.purpose.is_empty() {
            write!(f, " ({})", self.purpose)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process (or another lock in this one) holds the directory.
    #[error(
        "{} is in use by another redoflow process: {holder}; stop that process first, or give \
         this one its own directory (lock file {})",
        dir.display(),
        dir.join(LOCK_FILE).display()
    )]
    Held { dir: PathBuf, holder: Holder },
    #[error("cannot {action} {}: {message}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        message: String,
    },
}

impl DirLock {
    /// Takes the exclusive lock on `dir` (created if missing) without waiting: if another
    /// process holds it, returns [`LockError::Held`] naming that process. `purpose` says what
    /// this process holds the directory for (`"redoflow run: output root"`); it is written to
    /// the lock file with this process's pid, host and start time.
    pub fn acquire(dir: &Path, purpose: &str) -> Result<DirLock, LockError> {
        let io = |path: &Path, action: &'static str, e: std::io::Error| LockError::Io {
            path: path.to_path_buf(),
            action,
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, "create directory", e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io(&path, "open lock file", e))?;
        // `FileExt::` spelled out: std's `File::try_lock` has the same name.
        match FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut text = String::new();
                // A holder that is just starting may not have written its name yet.
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: Holder::parse(&text),
                });
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(&path, "lock", e)),
        }
        let me = Holder {
            pid: Some(std::process::id()),
            host: host_name(),
            started: utc_now(),
            purpose: purpose.to_string(),
        };
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(me.to_file_text().as_bytes()))
            .map_err(|e| io(&path, "write lock file", e))?;
        Ok(DirLock { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

impl Holder {
    fn to_file_text(&self) -> String {
        format!(
            "pid={}\nhost={}\nstarted={}\npurpose={}\n",
            self.pid.map_or(String::new(), |p| p.to_string()),
            self.host,
            self.started,
            self.purpose.replace('\n', " ")
        )
    }

    /// Reads a lock file's `key=value` lines; unknown lines are ignored.
    fn parse(text: &str) -> Holder {
        let mut h = Holder::default();
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => h.pid = v.trim().parse().ok(),
                Some(("host", v)) => h.host = v.trim().to_string(),
                Some(("started", v)) => h.started = v.trim().to_string(),
                Some(("purpose", v)) => h.purpose = v.trim().to_string(),
                _ => {}
            }
        }
        h
    }
}

/// This machine's name (`uname -n`).
pub(crate) fn host_name() -> String {
    #[cfg(unix)]
    {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned()
    }
    #[cfg(not(unix))]
    {
        std::env::var("COMPUTERNAME").unwrap_or_default()
    }
}

/// Now, UTC, `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

/// A Unix time as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_a_directory_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path(), "test: first").unwrap();
        let err = DirLock::acquire(dir.path(), "test: second").unwrap_err();
        let LockError::Held { holder, .. } = &err else {
            panic!("expected Held, got {err}");
        };
        assert_eq!(holder.pid, Some(std::process::id()));
        assert_eq!(holder.host, host_name());
        assert_eq!(holder.purpose, "test: first");
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        // Released with the lock: the next one gets it and writes its own name.
        let again = DirLock::acquire(dir.path(), "test: third").unwrap();
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert!(text.contains("purpose=test: third"), "{text}");
        assert!(
            !text.contains("first"),
            "the old holder is overwritten: {text}"
        );
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn holder_lines_round_trip() {
        let h = Holder {
            pid: Some(42),
            host: "db-1".into(),
            started: "2024-01-02T03:04:05Z".into(),
            purpose: "redoflow run: output root".into(),
        };
        assert_eq!(Holder::parse(&h.to_file_text()), h);
        assert_eq!(Holder::parse("").pid, None);
    }
}
