//! The health checks end to end: a stalled simulated source (`[source.sim.faults]
//! stall_after_scn`) raises the stall alert on webhooks (a listener started here) and by mail
//! (an SMTP sink started here), restarts the mining session, steps the leader down so another
//! node takes over, stops at the restart limit, and resolves every alert once the stall
//! clears; the output stays exactly the simulator's truth throughout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redoflow::demo::{ClusterSpec, LocalCluster};
use redoflow::{Config, Pacing, Progress, StopToken};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_redoflow");

/// The simulated database's first SCN (the default `start_scn`).
const START: u64 = 1_000_000;

/// An HTTP listener that records every JSON body POSTed to it and answers 200.
struct Hooks {
    addr: String,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Hooks {
    fn start() -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || {
                    if let Some(body) = read_post(conn) {
                        sink.lock().unwrap().push(body);
                    }
                });
            }
        });
        Hooks { addr, events }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for an event `pred` accepts; the events so far on failure.
    fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; events so far:\n{}",
                summary(&self.events())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reads one HTTP/1.1 request; answers 200 and returns its JSON body.
fn read_post(mut conn: TcpStream) -> Option<Value> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .ok()?;
    serde_json::from_slice(&body).ok()
}

fn field<'a>(e: &'a Value, key: &str) -> &'a str {
    e.get(key).and_then(Value::as_str).unwrap_or("")
}

fn detail<'a>(e: &'a Value, key: &str) -> &'a str {
    e.get("details")
        .and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn node(e: &Value) -> u64 {
    e.get("node_id").and_then(Value::as_u64).unwrap_or(u64::MAX)
}

fn is(e: &Value, alert: &str, status: &str) -> bool {
    field(e, "alert") == alert && field(e, "status") == status
}

fn summary(events: &[Value]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "  node {} {} {} {}: {}",
                node(e),
                field(e, "status"),
                field(e, "level"),
                field(e, "alert"),
                field(e, "text")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every (node, alert) raised is resolved by its last event.
fn unresolved(events: &[Value]) -> Vec<(u64, String)> {
    let mut last: BTreeMap<(u64, String), String> = BTreeMap::new();
    for e in events {
        last.insert(
            (node(e), field(e, "alert").to_string()),
            field(e, "status").to_string(),
        );
    }
    last.into_iter()
        .filter(|(_, status)| status != "resolved")
        .map(|(k, _)| k)
        .collect()
}

/// Three nodes whose source stalls for the first three fetches past one SCN in each process
/// (the third stall times out by itself after 4 s, as a query past Oracle's call timeout
/// does), with two automatic actions allowed per window: the first leader restarts its
/// session, stalls again and steps down; a new leader takes over; once every leader has
/// spent its two actions, the next stall hits the limit and waits; the stall then clears by
/// itself and every alert resolves.
#[test]
fn a_stalled_source_restarts_then_steps_down_and_the_restart_limit_holds() {
    let hooks = Hooks::start();
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ClusterSpec::new(dir.path().join("cluster"));
    spec.rate = 2000.0;
    spec.checkpoint_interval = Duration::from_millis(300);
    let stall = START + 8_000;
    spec.extra_toml = format!(
        "[mining]\nsleep_min = \"100ms\"\nsleep_default = \"100ms\"\nsleep_max = \"200ms\"\n\
         retry_delay_min = \"100ms\"\nretry_delay_max = \"1s\"\n\
         [source.sim.faults]\nstall_after_scn = {stall}\nstall_count = 3\nstall_timeout_ms = 4000\n\
         [health]\nstall_after = \"1500ms\"\ncheck_interval = \"100ms\"\nmax_restarts = 2\n\
         restart_window = \"10m\"\nmin_free_disk = \"1MiB\"\n\
         [alerts]\nwebhook_url = [\"{}\"]\nretry_delay = \"100ms\"\n",
        hooks.url()
    );
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec).unwrap();
    cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    let deadline = Duration::from_secs(60);

    // The first stall: alert, session restart.
    let restart = hooks.wait_for("a stall alert", deadline, |e| is(e, "stall", "raised"));
    let a = node(&restart);
    assert_eq!(detail(&restart, "action"), "restart_session", "{restart}");
    assert!(
        field(&restart, "text").contains("mining stalled"),
        "{restart}"
    );
    // Stalled again: it steps down, and another node leads.
    let step_down = hooks.wait_for("a step-down", deadline, |e| {
        is(e, "stall", "raised") && node(e) == a && detail(e, "action") == "step_down"
    });
    assert_eq!(detail(&step_down, "actions_in_window"), "2", "{step_down}");
    let wait = Instant::now() + deadline;
    while cluster.leader().is_none_or(|l| l.node_id == a) {
        cluster.check_alive().unwrap();
        assert!(
            Instant::now() < wait,
            "no other node took over from node {a}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    hooks.wait_for("the step-down's stall resolved", deadline, |e| {
        is(e, "stall", "resolved") && node(e) == a
    });
    hooks.wait_for("a leader change", deadline, |e| {
        is(e, "leader_change", "raised") && node(e) != a
    });

    // Once the leaders have spent their actions: the limit, then the stall clears by itself.
    let limit = hooks.wait_for("the restart limit", Duration::from_secs(120), |e| {
        is(e, "stall_restart_limit", "raised")
    });
    assert_eq!(field(&limit, "level"), "critical");
    assert!(
        field(&limit, "text").contains("waiting for a human"),
        "{limit}"
    );
    let n = node(&limit);
    hooks.wait_for("the limit resolved", deadline, |e| {
        is(e, "stall_restart_limit", "resolved") && node(e) == n
    });
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 3, Duration::from_secs(30))
        .unwrap();

    // Every raised alert resolves (a leader change at its leader's first checkpoint).
    let wait = Instant::now() + deadline;
    while !unresolved(&hooks.events()).is_empty() && Instant::now() < wait {
        std::thread::sleep(Duration::from_millis(50));
    }
    let events = hooks.events();
    assert!(
        unresolved(&events).is_empty(),
        "unresolved: {:?}\n{}",
        unresolved(&events),
        summary(&events)
    );
    eprintln!("alerts received:\n{}", summary(&events));
    // The limit held: no node took more than two actions (restart or step-down).
    let mut actions: BTreeMap<u64, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| is(e, "stall", "raised")) {
        if ["restart_session", "step_down"].contains(&detail(e, "action")) {
            *actions.entry(node(e)).or_default() += 1;
        }
    }
    assert!(
        actions.values().all(|&n| n <= 2),
        "{actions:?}\n{}",
        summary(&events)
    );
    assert!(
        events
            .iter()
            .filter(|e| is(e, "stall", "raised") && node(e) == n)
            .any(|e| detail(e, "action") == "none"),
        "{}",
        summary(&events)
    );

    // Nothing lost or duplicated through the restarts and the step-downs.
    cluster.check_alive().unwrap();
    if let Some(l) = cluster.leader() {
        cluster
            .terminate(l.node_id, Duration::from_secs(30))
            .unwrap();
    }
    for id in 1..=3 {
        cluster.terminate(id, Duration::from_secs(30)).unwrap();
    }
    let (truth, verify) = cluster.check().unwrap();
    assert!(truth.is_exact(), "{truth}");
    assert!(truth.expected_rows > 0, "{truth}");
    assert!(verify.is_ok(), "{verify}");
}

/// A minimal SMTP server: takes each message and keeps its text.
struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let sink = mails.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let sink = sink.clone();
                std::thread::spawn(move || smtp_session(conn, &sink));
            }
        });
        SmtpSink { port, mails }
    }

    fn mails(&self) -> Vec<String> {
        self.mails.lock().unwrap().clone()
    }
}

fn smtp_session(conn: TcpStream, sink: &Mutex<Vec<String>>) -> Option<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut out = conn.try_clone().ok()?;
    let mut reader = BufReader::new(conn);
    out.write_all(b"220 sink ESMTP\r\n").ok()?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return Some(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
            "DATA" => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n").ok()?;
                let mut mail = String::new();
                loop {
                    let mut l = String::new();
                    if reader.read_line(&mut l).ok()? == 0 {
                        return None;
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    mail.push_str(&l);
                }
                sink.lock().unwrap().push(mail);
                b"250 queued\r\n"
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n").ok()?;
                return Some(());
            }
            _ => b"250 ok\r\n",
        };
        out.write_all(reply).ok()?;
    }
}

/// `redoflow run`'s checks in-process: a single node cannot step down, so a stall restarts
/// the session up to the limit; the limit alert is critical; the stall clears by itself; every
/// alert arrives by webhook and by mail, raised and resolved; the output is the truth.
#[test]
fn a_single_node_restarts_up_to_the_limit_and_mails_every_alert() {
    let hooks = Hooks::start();
    let smtp = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let stall = START + 5_000;
    let text = format!(
        "[source.sim]\nrate = 5000.0\nstart_unix_ms = {now}\n\
         [source.sim.faults]\nstall_after_scn = {stall}\nstall_count = 3\nstall_timeout_ms = 3000\n\
         [output]\ndir = {out:?}\n\
         [checkpoint]\ninterval = \"200ms\"\n\
         [mining]\nsleep_min = \"50ms\"\nsleep_default = \"50ms\"\nsleep_max = \"100ms\"\n\
         retry_delay_min = \"50ms\"\nretry_delay_max = \"1s\"\n\
         [health]\nstall_after = \"800ms\"\ncheck_interval = \"50ms\"\nmax_restarts = 2\n\
         min_free_disk = \"1MiB\"\n\
         [alerts]\nwebhook_url = \"{hook}\"\nretry_delay = \"50ms\"\n\
         [alerts.email]\nserver = \"127.0.0.1\"\nport = {port}\nstarttls = false\n\
         from = \"redoflow <cdc@example.com>\"\nto = [\"ops@example.com\", \"dba@example.com\"]\n",
        now = redoflow_now_ms(),
        out = out.display().to_string(),
        hook = hooks.url(),
        port = smtp.port,
    );
    let path = dir.path().join("run.toml");
    std::fs::write(&path, text).unwrap();
    let config = Config::load(&path).unwrap().for_sim();
    let stop = StopToken::new();
    let progress = Arc::new(Progress::default());
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let runner = {
        let (stop, progress, alerts, config) = (
            stop.clone(),
            progress.clone(),
            alerts.clone(),
            config.clone(),
        );
        std::thread::spawn(move || {
            let mut source = redoflow::source::open_source(&config, redoflow_now_ms()).unwrap();
            redoflow::run_watched(
                &config,
                &mut *source,
                Pacing::Live,
                &stop,
                &progress,
                &alerts,
            )
        })
    };
    let limit = hooks.wait_for("the restart limit", Duration::from_secs(60), |e| {
        is(e, "stall_restart_limit", "raised")
    });
    assert_eq!(node(&limit), 0, "a single node is node 0");
    // While raised, /status's list has it.
    assert!(alerts
        .lock()
        .unwrap()
        .iter()
        .any(|a| a.alert == "stall_restart_limit" && a.level == "critical"));
    hooks.wait_for("the stall resolved", Duration::from_secs(60), |e| {
        is(e, "stall", "resolved")
    });
    let events = hooks.events();
    let restarts: Vec<&Value> = events
        .iter()
        .filter(|e| is(e, "stall", "raised") && detail(e, "action") == "restart_session")
        .collect();
    assert_eq!(restarts.len(), 2, "{}", summary(&events));
    assert!(
        !events.iter().any(|e| detail(e, "action") == "step_down"),
        "{}",
        summary(&events)
    );
    // Let mining go on a little, then stop gracefully.
    let checkpoints = progress
        .checkpoints
        .load(std::sync::atomic::Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress
        .checkpoints
        .load(std::sync::atomic::Ordering::Relaxed)
        < checkpoints + 3
    {
        assert!(
            Instant::now() < deadline,
            "no checkpoint after the stall cleared"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.stop();
    runner.join().unwrap().unwrap();
    assert!(alerts.lock().unwrap().is_empty(), "{:?}", alerts.lock());
    let events = hooks.events();
    assert!(unresolved(&events).is_empty(), "{}", summary(&events));

    // The same alerts by mail: raised and resolved, to both recipients.
    let deadline = Instant::now() + Duration::from_secs(30);
    while smtp.mails().len() < events.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mails = smtp.mails();
    assert_eq!(mails.len(), events.len(), "{mails:#?}");
    let subjects: Vec<&str> = mails
        .iter()
        .filter_map(|m| m.lines().find(|l| l.starts_with("Subject: ")))
        .collect();
    assert!(
        subjects.contains(&"Subject: [redoflow] CRITICAL stall_restart_limit on node 0"),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"Subject: [redoflow] RESOLVED stall on node 0"),
        "{subjects:?}"
    );
    assert!(mails
        .iter()
        .all(|m| m.contains("ops@example.com") && m.contains("dba@example.com")));

    let truth =
        redoflow::truth::compare_with_sim(&out, &config.source.sim, &config.output.missing_marker)
            .unwrap();
    assert!(truth.is_exact(), "{truth}");
    assert!(truth.expected_rows > 0, "{truth}");
}

fn redoflow_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
