//! Shared by the whole-system tests: reading a finished output root, and a source wrapper for
//! tests that change what a fetch returns.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use redoflow::checkpoint::Scn;
use redoflow::miner::{LogSource, RedoRow, SourceError, TableSchema};

/// A source that forwards everything to `inner` except fetching, which `fetch` does: it gets
/// the inner source, the window `(read, end]`, the output and the runtime's row cap, and
/// returns the SCN the window was read through ([`LogSource::fetch_capped`]'s contract).
/// State the test reads afterwards lives in the closure's captures.
pub struct Tap<S, F> {
    pub inner: S,
    pub fetch: F,
    /// [`LogSource::fetch_is_cheap`]: `false` makes the runtime fetch each window whole, with
    /// the row cap (as it does the Oracle source).
    pub cheap: bool,
}

pub type FetchResult = Result<Scn, SourceError>;

impl<S, F> Tap<S, F>
where
    S: LogSource,
    F: FnMut(&mut S, Scn, Scn, &mut Vec<RedoRow>, usize) -> FetchResult + Send,
{
    /// Cheap when `inner` is.
    pub fn new(inner: S, fetch: F) -> Self {
        let cheap = inner.fetch_is_cheap();
        Tap {
            inner,
            fetch,
            cheap,
        }
    }
}

impl<S, F> LogSource for Tap<S, F>
where
    S: LogSource,
    F: FnMut(&mut S, Scn, Scn, &mut Vec<RedoRow>, usize) -> FetchResult + Send,
{
    fn current_scn(&mut self) -> Result<Scn, SourceError> {
        self.inner.current_scn()
    }
    fn start_session(&mut self, resume_scn: Scn) -> Result<(), SourceError> {
        self.inner.start_session(resume_scn)
    }
    fn fetch(&mut self, read: Scn, end: Scn, out: &mut Vec<RedoRow>) -> Result<(), SourceError> {
        (self.fetch)(&mut self.inner, read, end, out, usize::MAX).map(|_| ())
    }
    fn fetch_capped(
        &mut self,
        read: Scn,
        end: Scn,
        out: &mut Vec<RedoRow>,
        max_rows: usize,
    ) -> FetchResult {
        (self.fetch)(&mut self.inner, read, end, out, max_rows)
    }
    fn table_schema(
        &mut self,
        owner: &str,
        table: &str,
    ) -> Result<Option<TableSchema>, SourceError> {
        self.inner.table_schema(owner, table)
    }
    fn session_stale(&mut self) -> Result<bool, SourceError> {
        self.inner.session_stale()
    }
    fn fetch_is_cheap(&self) -> bool {
        self.cheap
    }
    fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// Every table directory's finished files in name (= commit) order. Fails the test on an
/// in-progress file or anything but `*.csv` in a table directory.
pub fn table_files(out: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut result = BTreeMap::new();
    for entry in fs::read_dir(out).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().to_string();
        if !entry.file_type().unwrap().is_dir() || name.starts_with('_') {
            continue;
        }
        let mut files: Vec<PathBuf> = fs::read_dir(entry.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in &files {
            let fname = f.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                !fname.ends_with(".inprogress"),
                "in-progress file left behind: {}",
                f.display()
            );
            assert!(fname.ends_with(".csv"), "unexpected file {}", f.display());
        }
        result.insert(name, files);
    }
    result
}

/// Each table's files concatenated: the first file's header kept, the others' headers checked
/// equal and dropped.
pub fn table_outputs(out: &Path) -> BTreeMap<String, String> {
    let mut result = BTreeMap::new();
    for (name, files) in table_files(out) {
        let mut text = String::new();
        for f in files {
            let content = fs::read_to_string(&f).unwrap();
            let (header, body) = content.split_once('\n').unwrap();
            if text.is_empty() {
                text.push_str(header);
                text.push('\n');
            } else {
                assert!(
                    text.starts_with(&format!("{header}\n")),
                    "header changed in {}",
                    f.display()
                );
            }
            text.push_str(body);
        }
        result.insert(name, text);
    }
    result
}
