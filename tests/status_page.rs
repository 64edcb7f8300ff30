//! The status page in a real browser: Debian's Chromium, headless, driven over the DevTools
//! protocol on a pipe (`--remote-debugging-pipe`: commands on its fd 3, answers on its fd 4,
//! each a JSON message ended by a NUL byte), against a running three-node cluster of the real
//! binary. The page must load, show the leader and a committed checkpoint, update itself
//! within 5 s, and a follower's page must link to the leader's. A screenshot of the leader's
//! page is saved under target/ (and as docs/status-page.png with `REDOFLOW_UPDATE_DOCS=1`).
//!
//! Chromium must be at /usr/bin/chromium (`apt-get install -y chromium`): without it the test
//! fails and says so; it never skips.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use redoflow::demo::{ClusterSpec, LocalCluster};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_redoflow");
const CHROMIUM: &str = "/usr/bin/chromium";
const PATIENCE: Duration = Duration::from_secs(30);

/// A headless Chromium with one page, spoken to over the DevTools pipe.
struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: Receiver<Value>,
    next_id: u64,
    session: String,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(log: PathBuf) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: this test drives Debian's Chromium (apt-get install -y chromium)"
        );
        let profile = tempfile::tempdir().unwrap();
        // The shell hands our pipes to Chromium as its fds 3 (commands) and 4 (answers).
        let script = format!(
            "exec {CHROMIUM} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
             --disable-background-networking --disable-component-update --disable-sync \
             --remote-debugging-pipe --user-data-dir='{}' about:blank 3<&0 4>&1 </dev/null >/dev/null",
            profile.path().display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting chromium through sh");
        let commands = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            let mut message = Vec::new();
            while out.read_until(0, &mut message).unwrap_or(0) > 0 {
                if message.last() == Some(&0) {
                    message.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                message.clear();
            }
        });
        let mut browser = Browser {
            child,
            commands,
            answers,
            next_id: 0,
            session: String::new(),
            log,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}), None);
        let target = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
            None,
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Sends one command (to the page's session when `session` is given) and waits for its
    /// answer; events in between are dropped. A protocol error fails the test.
    fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        match self.try_call(method, params, session) {
            Ok(v) => v,
            Err(e) => panic!("{method} failed: {e}"),
        }
    }

    /// [`Browser::call`], with chromium's error as `Err`.
    fn try_call(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        if let Err(e) = self.commands.write_all(&bytes) {
            panic!("{method}: chromium's pipe: {e}\n{}", self.log_tail());
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(v) if v["id"] == json!(id) => {
                    return match v.get("error") {
                        Some(e) => Err(e.clone()),
                        None => Ok(v["result"].clone()),
                    };
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{method}: no answer from chromium\n{}", self.log_tail())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("{method}: chromium exited\n{}", self.log_tail())
                }
            }
        }
    }

    fn page(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(method, params, Some(&session))
    }

    /// The value of a JavaScript expression in the page; `Null` while there is none (the
    /// page is being replaced by a navigation).
    fn eval(&mut self, expression: &str) -> Value {
        let session = self.session.clone();
        match self.try_call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
            Some(&session),
        ) {
            Ok(r) if r.get("exceptionDetails").is_none() => r["result"]["value"].clone(),
            _ => Value::Null,
        }
    }

    fn open(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url}));
    }

    /// What the page shows, read from its elements.
    fn shown(&mut self) -> Value {
        self.eval(
            "JSON.stringify({
                updates: Number(document.body.dataset.updates || 0),
                role: document.getElementById('role')?.textContent,
                node: document.getElementById('node-id')?.textContent,
                leader: document.getElementById('leader-id')?.textContent,
                starred: document.querySelector('#members tr.leader')?.dataset.member ?? null,
                checkpoint: document.getElementById('checkpoint-id')?.textContent,
                checkpoint_rows: document.querySelectorAll('#checkpoints tr').length,
                file_rows: document.querySelectorAll('#files tr').length,
                leader_link: document.getElementById('leader-link')?.getAttribute('href') ?? null,
                unreachable: !document.getElementById('unreachable')?.hidden,
                sparkline: document.querySelectorAll('#spark path').length > 0,
            })",
        )
        .as_str()
        .map(|s| serde_json::from_str(s).unwrap())
        .unwrap_or(Value::Null)
    }

    /// Polls [`Browser::shown`] until `check` accepts it, for at most `within`.
    fn wait_for(&mut self, what: &str, within: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let shown = self.shown();
            if check(&shown) {
                return shown;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not show {what} within {within:?}; it shows {shown}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, path: &Path) {
        let shot = self.page("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64_decode(shot["data"].as_str().unwrap());
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().rev().take(10).collect();
        let lines: Vec<&str> = lines.into_iter().rev().collect();
        format!(
            "chromium's stderr ({}):\n{}",
            self.log.display(),
            lines.join("\n")
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (what `Page.captureScreenshot` answers).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c:?}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= u32::from(value(*c)) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

#[test]
fn the_status_page_in_chromium_shows_the_leader_and_checkpoints_and_updates_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::new(dir.path().join("cluster"));
    spec.rate = 2000.0;
    spec.checkpoint_interval = Duration::from_millis(300);
    spec.extra_toml =
        "[mining]\nsleep_min = \"100ms\"\nsleep_default = \"100ms\"\nsleep_max = \"200ms\"\n"
            .into();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec).unwrap();
    let leader = cluster.wait_leader(0, PATIENCE).unwrap();
    cluster.wait_checkpoint(1, PATIENCE).unwrap();
    let addr_of = |id: u64| {
        cluster
            .nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap()
            .addr
            .clone()
    };
    let leader_addr = addr_of(leader.node_id);
    let id = leader.node_id.to_string();

    let mut browser = Browser::start(dir.path().join("chromium.log"));
    browser.open(&format!("http://{leader_addr}/"));
    let first = browser.wait_for("the leader and a committed checkpoint", PATIENCE, |s| {
        s["updates"].as_u64() >= Some(1)
            && s["checkpoint"].as_str().and_then(|c| c.parse::<u64>().ok()) >= Some(1)
    });
    assert_eq!(first["role"], "leader", "{first}");
    assert_eq!(first["node"], json!(id), "{first}");
    assert_eq!(first["leader"], json!(id), "{first}");
    assert_eq!(
        first["starred"],
        json!(id),
        "the leader's row is marked: {first}"
    );
    assert_eq!(first["unreachable"], false);
    assert!(first["checkpoint_rows"].as_u64() >= Some(1), "{first}");

    // The page refreshes itself: a newer checkpoint shows within 5 s (one is committed every
    // 300 ms, the page reads /status every 2 s).
    let seen: u64 = first["checkpoint"].as_str().unwrap().parse().unwrap();
    let updates = first["updates"].as_u64().unwrap();
    let later = browser.wait_for("a newer checkpoint", Duration::from_secs(5), |s| {
        s["updates"].as_u64() > Some(updates)
            && s["checkpoint"].as_str().and_then(|c| c.parse::<u64>().ok()) > Some(seen)
    });
    // The sparkline drawn (two 5 s samples), then the picture for the docs.
    browser.wait_for("the throughput sparkline", PATIENCE, |s| {
        s["sparkline"] == true && s["file_rows"].as_u64() >= Some(4)
    });
    let _ = later;
    // Into target/ on every run; into docs/ (the picture the docs show) when asked, so a
    // test run leaves the source tree as it was.
    let shot = match std::env::var_os("REDOFLOW_UPDATE_DOCS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png"),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png"),
    };
    browser.screenshot(&shot);
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "an empty screenshot"
    );

    // A follower serves the page too, and links to the leader's.
    let follower = cluster
        .nodes
        .iter()
        .map(|n| n.id)
        .find(|n| *n != leader.node_id)
        .unwrap();
    browser.open(&format!("http://{}/", addr_of(follower)));
    let shown = browser.wait_for("the follower's page", PATIENCE, |s| {
        s["role"] == "follower" && s["leader_link"].is_string()
    });
    assert_eq!(
        shown["leader_link"],
        json!(format!("http://{leader_addr}/")),
        "{shown}"
    );
    assert_eq!(shown["starred"], json!(id), "{shown}");
    assert!(
        shown["checkpoint"]
            .as_str()
            .and_then(|c| c.parse::<u64>().ok())
            >= Some(1)
    );
    cluster.check_alive().unwrap();
}
