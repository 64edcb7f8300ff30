//! `redoflow verify --out DIR`: checks finished output against the checkpoint manifests.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::commit::{is_output_dir, read_dir, resolve, Manifest, MANIFEST_FORMAT};
use crate::naming::{self, CHECKPOINTS_DIR, INPROGRESS_SUFFIX, MANIFEST_TMP_SUFFIX};
use crate::{io_err, SinkError};
use redoflow_checkpoint::CheckpointId;

/// How bad a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Expected after a crash until the next recovery; the finished output is still consistent.
    Warning,
    /// Finished output disagrees with the manifests.
    Error,
}

/// One finding of [`verify`]. Paths are relative to the output root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    UnparseableManifest {
        path: String,
        reason: String,
    },
    /// Checkpoint ids `after + 1 ..= next - 1` have no manifest.
    CheckpointGap {
        after: u64,
        next: u64,
    },
    MissingFile {
        checkpoint: CheckpointId,
        path: String,
    },
    LengthMismatch {
        checkpoint: CheckpointId,
        path: String,
        expected: u64,
        actual: u64,
    },
    ChecksumMismatch {
        checkpoint: CheckpointId,
        path: String,
        expected: String,
        actual: String,
    },
    RowCountMismatch {
        checkpoint: CheckpointId,
        path: String,
        expected: u64,
        actual: u64,
    },
    /// A finished `.csv` file that no manifest lists.
    Orphan {
        path: String,
    },
    /// A finished file of the checkpoint after the last manifest: the process stopped between
    /// renaming the checkpoint's files and writing its manifest. The next run's (or leader's)
    /// recovery writes the manifest.
    AwaitingManifest {
        checkpoint: CheckpointId,
        path: String,
    },
    /// An in-progress file or manifest temp file (removed by the next recovery).
    LeftoverInProgress {
        path: String,
    },
    /// A file could not be read.
    Unreadable {
        path: String,
        reason: String,
    },
}

impl Problem {
    pub fn severity(&self) -> Severity {
        match self {
            Problem::LeftoverInProgress { .. } | Problem::AwaitingManifest { .. } => {
                Severity::Warning
            }
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnparseableManifest { path, reason } => {
                write!(f, "manifest {path}: cannot be parsed: {reason}")
            }
            Problem::CheckpointGap { after, next } => {
                if next - after == 2 {
                    write!(f, "checkpoint {} has no manifest", after + 1)
                } else {
                    write!(
                        f,
                        "checkpoints {}..={} have no manifest",
                        after + 1,
                        next - 1
                    )
                }
            }
            Problem::MissingFile { checkpoint, path } => {
                write!(f, "{path}: missing (listed by checkpoint {checkpoint})")
            }
            Problem::LengthMismatch {
                checkpoint,
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path}: {actual} bytes, checkpoint {checkpoint} lists {expected}"
            ),
            Problem::ChecksumMismatch {
                checkpoint,
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path}: CRC-32 {actual}, checkpoint {checkpoint} lists {expected}"
            ),
            Problem::RowCountMismatch {
                checkpoint,
                path,
                expected,
                actual,
            } => write!(
                f,
                "{path}: {actual} rows, checkpoint {checkpoint} lists {expected}"
            ),
            Problem::Orphan { path } => write!(f, "{path}: finished file no checkpoint lists"),
            Problem::AwaitingManifest { checkpoint, path } => write!(
                f,
                "{path}: finished by checkpoint {checkpoint}, whose manifest is not written yet \
                 (the process stopped between renaming its files and writing it): the next run \
                 on this output writes it"
            ),
            Problem::LeftoverInProgress { path } => {
                write!(f, "{path}: unfinished file left over (removed by recovery)")
            }
            Problem::Unreadable { path, reason } => write!(f, "{path}: cannot be read: {reason}"),
        }
    }
}

/// Result of [`verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Manifests read successfully.
    pub checkpoints: u64,
    /// Files listed by those manifests.
    pub files: u64,
    /// Data rows listed by those manifests.
    pub rows: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// No error-level problems (warnings allowed).
    pub fn is_ok(&self) -> bool {
        self.errors().next().is_none()
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity() == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity() == Severity::Warning)
    }
}

/// One line per problem (`error:` / `warning:`), then a summary line; ends with a newline.
impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            let level = match p.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            writeln!(f, "{level}: {p}")?;
        }
        writeln!(
            f,
            "{} checkpoints, {} files, {} rows, {} bytes: {} errors, {} warnings",
            self.checkpoints,
            self.files,
            self.rows,
            self.bytes,
            self.errors().count(),
            self.warnings().count()
        )
    }
}

/// Checks the output root: every manifest (in id order) parses, ids have no gaps, every listed
/// file exists with the listed length, CRC-32 and row count; no finished file is unlisted; and
/// reports leftover in-progress files as warnings. Fails only when the root cannot be read.
pub fn verify(root: &Path) -> Result<VerifyReport, SinkError> {
    let mut report = VerifyReport::default();
    let mut listed: HashSet<String> = HashSet::new();

    let cp_dir = root.join(CHECKPOINTS_DIR);
    let mut manifests: Vec<(CheckpointId, String)> = Vec::new();
    if cp_dir.is_dir() {
        for entry in read_dir(&cp_dir)? {
            let entry = entry.map_err(|e| io_err(&cp_dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = naming::parse_manifest_name(&name) {
                manifests.push((id, name));
            } else if name.starts_with('.') && name.ends_with(MANIFEST_TMP_SUFFIX) {
                report.problems.push(Problem::LeftoverInProgress {
                    path: format!("{CHECKPOINTS_DIR}/{name}"),
                });
            }
        }
    }
    manifests.sort();

    let mut buf = vec![0u8; 256 * 1024];
    let mut prev = CheckpointId::NONE;
    for (id, name) in &manifests {
        if *id != prev.next() {
            report.problems.push(Problem::CheckpointGap {
                after: prev.0,
                next: id.0,
            });
        }
        prev = *id;
        let rel = format!("{CHECKPOINTS_DIR}/{name}");
        let manifest = match read_manifest(&resolve(root, &rel), *id) {
            Ok(m) => m,
            Err(reason) => {
                report
                    .problems
                    .push(Problem::UnparseableManifest { path: rel, reason });
                continue;
            }
        };
        report.checkpoints += 1;
        for f in &manifest.files {
            report.files += 1;
            report.rows += f.rows;
            report.bytes += f.bytes;
            listed.insert(f.path.clone());
            if let Some(p) = check_file(root, *id, f, &mut buf) {
                report.problems.push(p);
            }
        }
    }

    for entry in read_dir(root)? {
        let entry = entry.map_err(|e| io_err(root, e))?;
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        if !dir.is_dir() || !is_output_dir(&dir_name) {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        for f in read_dir(&dir)? {
            let f = f.map_err(|e| io_err(&dir, e))?;
            names.push(f.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        for name in names {
            let rel = format!("{dir_name}/{name}");
            if name.ends_with(INPROGRESS_SUFFIX) {
                report
                    .problems
                    .push(Problem::LeftoverInProgress { path: rel });
            } else if name.ends_with(".csv") && !name.starts_with('.') && !listed.contains(&rel) {
                // Checkpoints are finished in order, manifest last: only the one after the
                // last manifest can have been stopped in between.
                match naming::checkpoint_of_final(&name) {
                    Some(checkpoint) if checkpoint == prev.next() => {
                        report.problems.push(Problem::AwaitingManifest {
                            checkpoint,
                            path: rel,
                        })
                    }
                    _ => report.problems.push(Problem::Orphan { path: rel }),
                }
            }
        }
    }
    Ok(report)
}

fn read_manifest(path: &Path, id: CheckpointId) -> Result<Manifest, String> {
    let bytes = fs::read(path).map_err(|e| e.to_string())?;
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if m.format != MANIFEST_FORMAT {
        return Err(format!("unsupported format {}", m.format));
    }
    if m.id != id.0 {
        return Err(format!(
            "file name says checkpoint {id}, content says {}",
            m.id
        ));
    }
    Ok(m)
}

fn check_file(
    root: &Path,
    checkpoint: CheckpointId,
    f: &crate::commit::ManifestFile,
    buf: &mut [u8],
) -> Option<Problem> {
    let path: PathBuf = resolve(root, &f.path);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(Problem::MissingFile {
                checkpoint,
                path: f.path.clone(),
            })
        }
        Err(e) => {
            return Some(Problem::Unreadable {
                path: f.path.clone(),
                reason: e.to_string(),
            })
        }
    };
    let scan = match scan_csv(file, buf) {
        Ok(s) => s,
        Err(e) => {
            return Some(Problem::Unreadable {
                path: f.path.clone(),
                reason: e.to_string(),
            })
        }
    };
    if scan.bytes != f.bytes {
        return Some(Problem::LengthMismatch {
            checkpoint,
            path: f.path.clone(),
            expected: f.bytes,
            actual: scan.bytes,
        });
    }
    let actual_crc = format!("{:08x}", scan.crc32);
    if !actual_crc.eq_ignore_ascii_case(&f.crc32) {
        return Some(Problem::ChecksumMismatch {
            checkpoint,
            path: f.path.clone(),
            expected: f.crc32.clone(),
            actual: actual_crc,
        });
    }
    let rows = scan.records.saturating_sub(1);
    if rows != f.rows {
        return Some(Problem::RowCountMismatch {
            checkpoint,
            path: f.path.clone(),
            expected: f.rows,
            actual: rows,
        });
    }
    None
}

/// Length, CRC-32 and record count of a CSV file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvScan {
    pub bytes: u64,
    pub crc32: u32,
    /// CSV records, header included. A newline inside a quoted field does not end a record; a
    /// last record without a trailing newline counts.
    pub records: u64,
}

/// Reads `r` to the end in `buf`-sized chunks, computing a [`CsvScan`].
pub fn scan_csv(mut r: impl Read, buf: &mut [u8]) -> io::Result<CsvScan> {
    let mut hasher = crc32fast::Hasher::new();
    let mut scan = CsvScan::default();
    let mut in_quotes = false;
    let mut last = b'\n';
    loop {
        let n = match r.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        scan.bytes += n as u64;
        last = chunk[n - 1];
        // Doubled quotes toggle twice, so toggling on every `"` tracks "inside a quoted field".
        for i in memchr::memchr2_iter(b'"', b'\n', chunk) {
            if chunk[i] == b'"' {
                in_quotes = !in_quotes;
            } else if !in_quotes {
                scan.records += 1;
            }
        }
    }
    if last != b'\n' {
        scan.records += 1;
    }
    scan.crc32 = hasher.finalize();
    Ok(scan)
}
