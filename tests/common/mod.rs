//! Shared by the whole-system tests: reading a finished output root, and a source wrapper for
//! tests that change what a fetch returns.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use redoflow::checkpoint::{Scn, Term};
use redoflow::miner::{LogSource, RedoRow, SourceError, TableSchema};
use redoflow::pipeline::run_pipeline;
use redoflow::{LocalStore, PipelineError, PipelineOptions, Progress, StopToken, Summary};

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
/// One single-node run of `opts` on `source`: term 0, the state in `<out>/_state`, no stop
/// asked, so it ends with the source (or an error).
pub fn run_in<S: LogSource + ?Sized>(
    out: &Path,
    opts: &PipelineOptions,
    source: &mut S,
    progress: &Progress,
) -> Result<Summary, PipelineError> {
    let mut store = LocalStore::open(&out.join("_state")).unwrap();
    run_pipeline(
        opts,
        Term(0),
        source,
        &mut store,
        &StopToken::new(),
        progress,
    )
}

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

/// The real binary, for the tests that run it as an operator (or systemd) would.
pub mod process {
    use std::io::{BufRead, BufReader};
    use std::path::{Path, PathBuf};
    use std::process::{Command, ExitStatus, Stdio};
    use std::sync::mpsc::{channel, Receiver};
    use std::time::{Duration, Instant};

    /// How long a test waits for something a healthy process does in well under a second; a
    /// generous bound, so that a loaded machine never fails a test, only a hung process does.
    pub const PATIENCE: Duration = Duration::from_secs(120);

    pub fn redoflow() -> Command {
        Command::new(env!("CARGO_BIN_EXE_redoflow"))
    }

    /// A config for `redoflow run` on the simulated Oracle (its default modest rate) into
    /// `out`, with the given checkpoint interval and `extra` TOML appended.
    pub fn sim_config(dir: &Path, out: &Path, interval: &str, extra: &str) -> PathBuf {
        let path = dir.join(format!(
            "sim-{}.toml",
            out.file_name().unwrap().to_string_lossy()
        ));
        std::fs::write(
            &path,
            format!(
                "[source]\nkind = \"sim\"\n[output]\ndir = {:?}\nfsync = false\n\
                 [checkpoint]\ninterval = \"{interval}\"\n{extra}",
                out.display().to_string()
            ),
        )
        .unwrap();
        path
    }

    /// A spawned `redoflow`, killed (SIGKILL) if the test ends before it does; its stderr
    /// lines arrive on `stderr` as they are printed.
    pub struct Running {
        pub child: std::process::Child,
        pub stderr: Receiver<String>,
        /// Every stderr line received so far (by [`Running::wait_line`]).
        pub seen: Vec<String>,
    }

    impl Running {
        pub fn spawn(cmd: &mut Command) -> Running {
            let mut child = cmd
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let err = child.stderr.take().unwrap();
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            Running {
                child,
                stderr: rx,
                seen: Vec::new(),
            }
        }

        pub fn pid(&self) -> u32 {
            self.child.id()
        }

        /// Sends `signal` (`"TERM"`, `"INT"`, ...) with kill(1).
        pub fn signal(&self, signal: &str) {
            let ok = Command::new("kill")
                .args(["-s", signal, &self.pid().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -s {signal} {} failed", self.pid());
        }

        /// Waits for a stderr line containing `needle`; fails the test if the process ends
        /// (or [`PATIENCE`] passes) first.
        pub fn wait_line(&mut self, needle: &str) {
            let deadline = Instant::now() + PATIENCE;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.stderr.recv_timeout(left) {
                    Ok(line) => {
                        let found = line.contains(needle);
                        self.seen.push(line);
                        if found {
                            return;
                        }
                    }
                    Err(e) => panic!(
                        "no stderr line with {needle:?} ({e}); stderr so far:\n{}",
                        self.seen.join("\n")
                    ),
                }
            }
        }

        /// Waits for the process to exit; returns its status and the rest of its stderr.
        pub fn wait_exit(&mut self) -> (ExitStatus, String) {
            let deadline = Instant::now() + PATIENCE;
            let status = loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    break status;
                }
                assert!(
                    Instant::now() < deadline,
                    "process {} did not exit; stderr so far:\n{}",
                    self.pid(),
                    self.seen.join("\n")
                );
                std::thread::sleep(Duration::from_millis(20));
            };
            // The reader thread ends with the pipe.
            while let Ok(line) = self.stderr.recv_timeout(PATIENCE) {
                self.seen.push(line);
            }
            (status, self.seen.join("\n"))
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Polls `done` every 20 ms until it is true; fails the test after [`PATIENCE`].
    pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done() {
            assert!(Instant::now() < deadline, "gave up waiting: {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Files under `root` (any depth) whose name ends with `suffix`.
    pub fn files_ending(root: &Path, suffix: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir(root) else {
            return found;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                found.extend(files_ending(&path, suffix));
            } else if e.file_name().to_string_lossy().ends_with(suffix) {
                found.push(path);
            }
        }
        found
    }
}
