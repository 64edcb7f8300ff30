//! Bad input to a cluster: a wrong secret, garbage on the port, configs that disagree or are
//! wrong, a second process for one node id. Each is a clear error or a refusal, and never a
//! second leader.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use redoflow::demo::{ClusterSpec, LocalCluster};

const BIN: &str = env!("CARGO_BIN_EXE_redoflow");

fn spec(dir: &Path) -> ClusterSpec {
    let mut spec = ClusterSpec::new(dir.join("cluster"));
    spec.checkpoint_interval = Duration::from_millis(300);
    spec
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what} within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `redoflow node` on `config`: its exit status and everything it printed.
fn node_once(config: &Path) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["node", "--quiet", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A node with the wrong secret is refused by the others (401, counted) and refuses them; it
/// never takes part, and the two others go on. With the right secret it catches up.
#[test]
fn a_wrong_secret_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    let leader = cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    let odd = (1..=3).find(|id| *id != leader.node_id).unwrap();
    cluster.terminate(odd, Duration::from_secs(20)).unwrap();
    let config = cluster.spec.dir.join(format!("node{odd}.toml"));
    let wrong = cluster.spec.dir.join("wrong.secret");
    std::fs::write(&wrong, "not the cluster's secret at all\n").unwrap();
    let right = std::fs::read_to_string(&config).unwrap();
    let secret = cluster.secret.display().to_string();
    std::fs::write(
        &config,
        right.replace(&secret, &wrong.display().to_string()),
    )
    .unwrap();
    cluster.start_node(odd).unwrap();
    let before = cluster.status(leader.node_id).unwrap().auth_failures;
    wait_until(
        "the leader counts refused requests",
        Duration::from_secs(20),
        || {
            cluster
                .status(leader.node_id)
                .is_some_and(|s| s.auth_failures > before)
                || cluster.status(odd).is_some_and(|s| s.auth_failures > 0)
        },
    );
    let seen = |c: &LocalCluster| {
        c.status(odd)
            .and_then(|s| s.last_checkpoint)
            .map_or(0, |c| c.id)
    };
    let before = seen(&cluster);
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 3, Duration::from_secs(30))
        .unwrap();
    let s = cluster.status(odd).unwrap();
    assert_ne!(s.role, "leader", "{s:?}");
    assert_eq!(
        seen(&cluster),
        before,
        "the node with the wrong secret received checkpoints"
    );
    // The right secret again: it catches up.
    cluster.terminate(odd, Duration::from_secs(20)).unwrap();
    std::fs::write(&config, right).unwrap();
    cluster.start_node(odd).unwrap();
    let target = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    wait_until("the node catches up", Duration::from_secs(30), || {
        cluster
            .status(odd)
            .and_then(|s| s.last_checkpoint)
            .is_some_and(|c| c.id >= target)
    });
}

/// Garbage on a node's port — not HTTP, a request that is HTTP but no RPC, a huge header —
/// is answered or dropped, and the node goes on serving and leading.
#[test]
fn garbage_on_the_port_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    let leader = cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    let addr = cluster.nodes[(leader.node_id - 1) as usize].addr.clone();
    let send = |bytes: &[u8]| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(bytes);
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let mut noise = vec![0u8; 64 * 1024];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    send(&noise);
    let answer = send(b"POST /raft/append HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let mut huge = b"GET /status HTTP/1.1\r\nX-Big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    send(&huge);
    let status = cluster.status(leader.node_id).unwrap();
    assert_eq!(status.role, "leader");
    assert!(status.auth_failures >= 1, "{status:?}");
    let last = cluster.wait_checkpoint(0, Duration::from_secs(1)).unwrap();
    cluster
        .wait_checkpoint(last + 2, Duration::from_secs(30))
        .unwrap();
}

/// Configs whose member lists disagree: a node whose list is not the one a majority agrees on
/// never initialises a cluster, and stops naming the difference. Nodes 1 and 3 say
/// {1, 2, 3}; node 2 says {2, 3, 4}, so both 1 and 2 would initialise as the "lowest" member.
/// Node 2 must refuse (node 3 disagrees with it). Node 1 refuses too if it hears node 2's list
/// first, or forms the cluster {1, 2, 3} with node 3 (a majority of identical lists) if node 2
/// has already gone: never two clusters, and never one node 2 belongs to.
#[test]
fn member_lists_that_disagree_never_make_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("split");
    std::fs::create_dir_all(&base).unwrap();
    let ports = redoflow::demo::free_ports(4).unwrap();
    let secret = base.join("secret");
    std::fs::write(&secret, "sixteen bytes at least, surely\n").unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let config = |id: u64, members: &[u64]| {
        let mut text = format!(
            "[source.sim]\nrate = 1000.0\nstart_unix_ms = {now}\n[output]\ndir = {out:?}\n\
             [cluster]\nnode_id = {id}\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {data:?}\n\
             secret_file = {secret:?}\n",
            out = base.join("out").display().to_string(),
            port = ports[id as usize - 1],
            data = base.join(format!("node{id}")).display().to_string(),
            secret = secret.display().to_string(),
        );
        for m in members {
            text += &format!(
                "[[cluster.members]]\nid = {m}\naddr = \"127.0.0.1:{}\"\n",
                ports[*m as usize - 1]
            );
        }
        let path = base.join(format!("node{id}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let c1 = config(1, &[1, 2, 3]);
    let c2 = config(2, &[2, 3, 4]);
    let c3 = config(3, &[1, 2, 3]);
    let spawn = |c: &Path| {
        Command::new(BIN)
            .args(["node", "--quiet", "--config"])
            .arg(c)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut n3 = spawn(&c3);
    let mut n1 = spawn(&c1);
    let n2 = spawn(&c2);
    let out2 = n2.wait_with_output().unwrap();
    let text2 = String::from_utf8_lossy(&out2.stderr).into_owned();
    assert_eq!(out2.status.code(), Some(1), "{text2}");
    assert!(text2.contains("lists the members"), "{text2}");
    // Node 1: refused, or the leader of {1, 2, 3} with node 3.
    let status = |port: u16| {
        redoflow::http::get_status_blocking(&format!("127.0.0.1:{port}"), Duration::from_secs(2))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(code) = n1.try_wait().unwrap() {
            let mut text1 = String::new();
            n1.stderr
                .take()
                .unwrap()
                .read_to_string(&mut text1)
                .unwrap();
            assert_eq!(code.code(), Some(1), "{text1}");
            assert!(text1.contains("node 2 lists the members"), "{text1}");
            let s3 = status(ports[2]).unwrap();
            assert_eq!(s3.term, 0, "node 3 joined a cluster: {s3:?}");
            break;
        }
        if let Ok(s1) = status(ports[0]) {
            if s1.role == "leader" {
                let voters: Vec<u64> = s1
                    .members
                    .iter()
                    .filter(|m| m.voter)
                    .map(|m| m.id)
                    .collect();
                assert_eq!(voters, [1, 2, 3], "{s1:?}");
                let s3 = status(ports[2]).unwrap();
                assert_eq!(s3.leader_id, Some(1), "{s3:?}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node 1 neither refused nor formed the cluster"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for n in [&mut n1, &mut n3] {
        let _ = n.kill();
        let _ = n.wait();
    }
}

/// Config mistakes stop a node at once with a message naming the mistake; a second process
/// for a node that runs is refused (its data dir is locked; on one host its port is taken too).
#[test]
fn wrong_configs_and_a_second_process_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(BIN.as_ref(), spec(dir.path())).unwrap();
    cluster.wait_leader(0, Duration::from_secs(30)).unwrap();
    let config = cluster.spec.dir.join("node2.toml");
    let text = std::fs::read_to_string(&config).unwrap();

    let (code, out) = node_once(&config);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("in use by another redoflow process"), "{out}");

    let check = |name: &str, edit: &dyn Fn(&str) -> String, want: &str| {
        let path = cluster.spec.dir.join(name);
        std::fs::write(&path, edit(&text)).unwrap();
        let (code, out) = node_once(&path);
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(out.contains(want), "{name}: expected {want:?} in {out}");
    };
    check(
        "not-a-member.toml",
        &|t| t.replace("node_id = 2", "node_id = 7"),
        "node_id 7 is not one of the members",
    );
    check(
        "twice.toml",
        &|t| t.replacen("id = 3\n", "id = 1\n", 1),
        "member id 1 is listed twice",
    );
    check(
        "short-secret.toml",
        &|t| {
            let short = dir.path().join("short.secret");
            std::fs::write(&short, "short").unwrap();
            let secret = cluster.secret.display().to_string();
            t.replace(&secret, &short.display().to_string())
        },
        "at least 16",
    );
    check(
        "no-start.toml",
        &|t| {
            t.lines()
                .filter(|l| !l.starts_with("start_unix_ms"))
                .collect::<Vec<_>>()
                .join("\n")
        },
        "start_unix_ms must be set",
    );
}
