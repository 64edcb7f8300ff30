//! Alert delivery: webhooks and email, each on its own thread behind a bounded queue, so a
//! slow or dead receiver never holds up mining (or another receiver).
//!
//! Parts and how they fit:
//! - [`AlertEvent`]: what a receiver gets, as JSON `{ "level", "alert", "node_id", "text",
//!   "details", "status", "at_unix_ms" }`; `text` is one human line (Slack- and DingTalk-style
//!   receivers show it as it is), `status` is `raised` or `resolved` (each raised alert is
//!   posted again, resolved, when its condition clears).
//! - [`Notifier`]: one worker per target (each `[alerts] webhook_url`, and `[alerts.email]`).
//!   [`Notifier::send`] never blocks: an event that finds a target's queue full is dropped for
//!   that target and logged. A worker retries a failed delivery `alerts.attempts` times,
//!   waiting `alerts.retry_delay` doubling up to a minute; [`Notifier::close`] gives what is
//!   queued a last chance within a deadline (a node that stops on a fatal error still says so).
//! - Webhooks are HTTP/1.1 POSTs over hyper, `https://` through rustls with the Mozilla roots;
//!   mail goes through lettre's SMTP client (STARTTLS through the same rustls).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::Serialize;

use crate::config::{AlertsConfig, EmailConfig};
use crate::stop::StopToken;

/// Events waiting per target; beyond this they are dropped for that target (and logged).
const QUEUE: usize = 256;

/// Retry delays double up to this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// One alert raised or resolved, as every target receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertEvent {
    /// `warning` or `critical` (a resolve keeps the level it was raised with).
    pub level: String,
    /// The alert's stable name (`stall`, `leader_change`, ...: docs/operations.md lists them).
    pub alert: String,
    pub node_id: u64,
    /// One human line.
    pub text: String,
    pub details: BTreeMap<String, String>,
    /// `raised` or `resolved`.
    pub status: String,
    /// When this node raised or resolved it (ms since 1970).
    pub at_unix_ms: u64,
}

impl AlertEvent {
    pub fn is_resolved(&self) -> bool {
        self.status == "resolved"
    }

    /// The mail's subject.
    fn subject(&self) -> String {
        let state = if self.is_resolved() {
            "RESOLVED".to_string()
        } else {
            self.level.to_uppercase()
        };
        format!("[redoflow] {state} {} on node {}", self.alert, self.node_id)
    }

    /// The mail's body: the line, then the details.
    fn body(&self) -> String {
        let mut body = format!("{}\n\n", self.text);
        body.push_str(&format!(
            "alert: {}\nstatus: {}\nlevel: {}\nnode: {}\n",
            self.alert, self.status, self.level, self.node_id
        ));
        for (k, v) in &self.details {
            body.push_str(&format!("{k}: {v}\n"));
        }
        body
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alerts.email.password_env: the environment variable {0} is not set")]
    PasswordMissing(String),
    #[error("alerts.email: {0}")]
    Email(String),
    #[error("cannot start the alert thread: {0}")]
    Thread(std::io::Error),
}

/// Checks a webhook URL: `http://` or `https://`, with a host.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    Target::parse(url).map(|_| ())
}

/// Checks `[alerts.email]` without touching the network or the environment.
pub fn check_email(e: &EmailConfig) -> Result<(), String> {
    if e.server.trim().is_empty() {
        return Err("server is empty".into());
    }
    e.from
        .parse::<lettre::message::Mailbox>()
        .map_err(|err| format!("from {:?} is not a mail address: {err}", e.from))?;
    if e.to.is_empty() {
        return Err("to names no recipient".into());
    }
    for to in &e.to {
        to.parse::<lettre::message::Mailbox>()
            .map_err(|err| format!("to {to:?} is not a mail address: {err}"))?;
    }
    match (&e.user, &e.password_env) {
        (Some(_), None) => Err("user is set but password_env is not".into()),
        (None, Some(_)) => Err("password_env is set but user is not".into()),
        _ => Ok(()),
    }
}

/// Where alerts go: a worker thread per target.
#[derive(Debug)]
pub struct Notifier {
    workers: Vec<Worker>,
    /// Stops the workers' retry waits at [`Notifier::close`].
    closing: StopToken,
}

#[derive(Debug)]
struct Worker {
    name: String,
    tx: Option<Sender<AlertEvent>>,
    thread: Option<JoinHandle<()>>,
}

/// How to deliver to one target.
#[derive(Clone, Debug)]
enum Delivery {
    Webhook(Target),
    Email(Arc<Mailer>),
}

impl Notifier {
    /// A notifier that only logs (no target configured).
    pub fn none() -> Notifier {
        Notifier {
            workers: Vec::new(),
            closing: StopToken::new(),
        }
    }

    /// Starts a worker per configured target. The config is validated already; what needs the
    /// environment (the mail password) is read here.
    pub fn start(config: &AlertsConfig) -> Result<Notifier, AlertError> {
        let closing = StopToken::new();
        let mut deliveries = Vec::new();
        for url in &config.webhook_url {
            let target = Target::parse(url).map_err(AlertError::Email)?;
            deliveries.push((
                format!("webhook {}", target.display),
                Delivery::Webhook(target),
            ));
        }
        if let Some(email) = &config.email {
            let mailer = Mailer::new(email, config.timeout)?;
            deliveries.push((
                format!("email to {}", email.to.join(", ")),
                Delivery::Email(Arc::new(mailer)),
            ));
        }
        let mut workers = Vec::new();
        for (name, delivery) in deliveries {
            let (tx, rx) = bounded(QUEUE);
            let retry = Retry {
                attempts: config.attempts.max(1),
                delay: config.retry_delay,
                timeout: config.timeout,
            };
            let closing = closing.clone();
            let thread_name = name.clone();
            let thread = std::thread::Builder::new()
                .name("redoflow-alerts".into())
                .spawn(move || deliver_all(&thread_name, delivery, retry, rx, closing))
                .map_err(AlertError::Thread)?;
            workers.push(Worker {
                name,
                tx: Some(tx),
                thread: Some(thread),
            });
        }
        Ok(Notifier { workers, closing })
    }

    /// Queues `event` for every target; never blocks.
    pub fn send(&self, event: &AlertEvent) {
        for w in &self.workers {
            let Some(tx) = &w.tx else { continue };
            match tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => tracing::warn!(
                    target_name = %w.name, alert = %event.alert,
                    "alert queue full: this alert is not delivered there (the receiver is slow or down)"
                ),
                Err(TrySendError::Disconnected(_)) => {
                    tracing::warn!(target_name = %w.name, alert = %event.alert, "alert worker gone")
                }
            }
        }
    }

    /// Delivers what is queued (one attempt each once closing) for up to `deadline`, then
    /// leaves whatever is still going.
    pub fn close(mut self, deadline: Duration) {
        let until = Instant::now() + deadline;
        for w in &mut self.workers {
            w.tx = None;
        }
        self.closing.stop();
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                while !t.is_finished() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if t.is_finished() {
                    let _ = t.join();
                } else {
                    tracing::warn!(target_name = %w.name, "alerts still being delivered at exit are given up");
                }
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // Without close(): the workers end once their queues are empty.
        for w in &mut self.workers {
            w.tx = None;
        }
        self.closing.stop();
    }
}

#[derive(Clone, Copy, Debug)]
struct Retry {
    attempts: u32,
    delay: Duration,
    timeout: Duration,
}

/// A worker: delivers each event, retrying with backoff; once closing, one attempt each.
fn deliver_all(
    name: &str,
    delivery: Delivery,
    retry: Retry,
    rx: Receiver<AlertEvent>,
    closing: StopToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(target_name = name, error = %e, "cannot start the alert runtime: alerts go to the log only");
            return;
        }
    };
    for event in rx.iter() {
        let mut delay = retry.delay;
        for attempt in 1..=retry.attempts {
            let result = match &delivery {
                Delivery::Webhook(t) => runtime.block_on(post(t, &event, retry.timeout)),
                Delivery::Email(m) => m.send(&event),
            };
            match result {
                Ok(()) => {
                    tracing::debug!(target_name = name, alert = %event.alert, status = %event.status, "alert delivered");
                    break;
                }
                Err(e) if attempt == retry.attempts || closing.is_stopping() => {
                    tracing::error!(target_name = name, alert = %event.alert, attempts = attempt,
                        error = %e, "alert not delivered: giving up");
                    break;
                }
                Err(e) => {
                    tracing::warn!(target_name = name, alert = %event.alert, attempt,
                        of = retry.attempts, error = %e, retry_in_ms = delay.as_millis() as u64,
                        "alert delivery failed; retrying");
                    if closing.wait_timeout(delay) {
                        // Closing: one more attempt, now.
                        continue;
                    }
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }
}

/// A parsed webhook URL.
#[derive(Clone, Debug)]
struct Target {
    uri: hyper::Uri,
    host: String,
    port: u16,
    tls: bool,
    /// The URL without its query (which may hold a token), for logs.
    display: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "{url:?}: only http:// and https:// URLs are supported"
                ))
            }
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{url:?} names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let display = format!(
            "{}://{}{}",
            if tls { "https" } else { "http" },
            uri.authority().map_or("", |a| a.as_str()),
            uri.path()
        );
        Ok(Target {
            uri,
            host,
            port,
            tls,
            display,
        })
    }
}

/// POSTs `event` as JSON; any 2xx answer is a delivery.
async fn post(target: &Target, event: &AlertEvent, timeout: Duration) -> Result<(), String> {
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    tokio::time::timeout(timeout, post_body(target, body))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

async fn post_body(target: &Target, body: Vec<u8>) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", target.host, target.port))?;
    let path = target
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let authority = target
        .uri
        .authority()
        .map_or(target.host.clone(), |a| a.to_string());
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("redoflow/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let status = if target.tls {
        let tls = tls_connector()
            .connect(server_name(&target.host)?, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", target.host))?;
        send(hyper_util::rt::TokioIo::new(tls), request).await?
    } else {
        send(hyper_util::rt::TokioIo::new(tcp), request).await?
    };
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

/// One request on a fresh HTTP/1.1 connection; returns the status (the body is read and
/// dropped).
async fn send<I>(io: I, request: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string());
    let status = match response {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.into_body().collect().await;
            Ok(status)
        }
        Err(e) => Err(e),
    };
    driver.abort();
    status
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // ring, named explicitly: rustls marks it deprecated for lacking post-quantum key
    // exchange, but aws-lc-rs (which has it) builds a large C library with CMake, and a
    // webhook's alert text gains nothing from it.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn server_name(host: &str) -> Result<tokio_rustls::rustls::pki_types::ServerName<'static>, String> {
    tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))
}

/// `[alerts.email]`, ready to send.
#[derive(Debug)]
struct Mailer {
    transport: lettre::SmtpTransport,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
}

impl Mailer {
    fn new(e: &EmailConfig, timeout: Duration) -> Result<Mailer, AlertError> {
        use lettre::transport::smtp::authentication::Credentials;
        use lettre::transport::smtp::client::{Tls, TlsParameters};
        use lettre::transport::smtp::extension::ClientId;
        check_email(e).map_err(AlertError::Email)?;
        let mut builder = lettre::SmtpTransport::builder_dangerous(e.server.as_str())
            .port(e.port)
            .timeout(Some(timeout))
            .hello_name(ClientId::Domain(crate::lock::host_name()));
        if e.starttls {
            let params = TlsParameters::new(e.server.clone())
                .map_err(|err| AlertError::Email(format!("TLS for {}: {err}", e.server)))?;
            builder = builder.tls(Tls::Required(params));
        }
        if let (Some(user), Some(var)) = (&e.user, &e.password_env) {
            let password =
                std::env::var(var).map_err(|_| AlertError::PasswordMissing(var.clone()))?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let parse = |a: &str| {
            a.parse::<lettre::message::Mailbox>()
                .map_err(|err| AlertError::Email(format!("{a:?}: {err}")))
        };
        Ok(Mailer {
            transport: builder.build(),
            from: parse(&e.from)?,
            to: e.to.iter().map(|t| parse(t)).collect::<Result<_, _>>()?,
        })
    }

    fn send(&self, event: &AlertEvent) -> Result<(), String> {
        use lettre::Transport;
        let mut message = lettre::Message::builder()
            .from(self.from.clone())
            .subject(event.subject())
            .header(lettre::message::header::ContentType::TEXT_PLAIN);
        for to in &self.to {
            message = message.to(to.clone());
        }
        let message = message.body(event.body()).map_err(|e| e.to_string())?;
        self.transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_checked() {
        check_webhook_url("http://127.0.0.1:9093/hook").unwrap();
        check_webhook_url("https://hooks.example.com/services/T0/B0/xyz?x=1").unwrap();
        for bad in [
            "ftp://host/x",
            "127.0.0.1:9093/hook",
            "http://",
            "not a url",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
        let t = Target::parse("https://hooks.example.com/a/b?token=secret").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("hooks.example.com", 443, true)
        );
        assert_eq!(
            t.display, "https://hooks.example.com/a/b",
            "no query in logs"
        );
        let t = Target::parse("http://[::1]:8080/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
    }

    #[test]
    fn email_settings_are_checked() {
        let good = EmailConfig {
            server: "smtp.example.com".into(),
            port: 587,
            starttls: true,
            from: "redoflow <cdc@example.com>".into(),
            to: vec!["ops@example.com".into()],
            user: Some("cdc".into()),
            password_env: Some("SMTP_PASSWORD".into()),
        };
        check_email(&good).unwrap();
        let cases: Vec<(EmailConfig, &str)> = vec![
            (
                EmailConfig {
                    from: "not an address".into(),
                    ..good.clone()
                },
                "from",
            ),
            (
                EmailConfig {
                    to: vec![],
                    ..good.clone()
                },
                "no recipient",
            ),
            (
                EmailConfig {
                    password_env: None,
                    ..good.clone()
                },
                "password_env",
            ),
            (
                EmailConfig {
                    server: " ".into(),
                    ..good.clone()
                },
                "server",
            ),
        ];
        for (bad, says) in cases {
            let err = check_email(&bad).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }

    #[test]
    fn a_missing_password_is_named() {
        let config = AlertsConfig {
            email: Some(EmailConfig {
                server: "127.0.0.1".into(),
                port: 25,
                starttls: false,
                from: "cdc@example.com".into(),
                to: vec!["ops@example.com".into()],
                user: Some("cdc".into()),
                password_env: Some("REDOFLOW_TEST_SURELY_UNSET_PASSWORD".into()),
            }),
            ..AlertsConfig::default()
        };
        let err = Notifier::start(&config).unwrap_err().to_string();
        assert!(err.contains("REDOFLOW_TEST_SURELY_UNSET_PASSWORD"), "{err}");
    }

    fn event(n: u64) -> AlertEvent {
        AlertEvent {
            level: "warning".into(),
            alert: format!("test_{n}"),
            node_id: 1,
            text: format!("event {n}"),
            details: BTreeMap::new(),
            status: "raised".into(),
            at_unix_ms: n,
        }
    }

    /// Requests a test receiver got, and the bodies it accepted.
    type Seen = Arc<std::sync::Mutex<(usize, Vec<String>)>>;

    /// A receiver that answers 500 to its first `failures` requests, then 200; it keeps the
    /// bodies it accepted and counts every request.
    fn flaky_receiver(failures: usize) -> (String, Seen) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook?token=t", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new((0usize, Vec::new())));
        let state = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut s = state.lock().unwrap();
                s.0 += 1;
                let answer: &[u8] = if s.0 <= failures {
                    b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                } else {
                    s.1.push(String::from_utf8_lossy(&body).into_owned());
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let mut conn = conn;
                let _ = conn.write_all(answer);
            }
        });
        (url, seen)
    }

    /// A receiver that fails twice gets the event on the third attempt, once.
    #[test]
    fn a_failed_post_is_retried_with_backoff() {
        let (url, seen) = flaky_receiver(2);
        let config = AlertsConfig {
            webhook_url: vec![url],
            attempts: 3,
            retry_delay: Duration::from_millis(10),
            ..AlertsConfig::default()
        };
        let n = Notifier::start(&config).unwrap();
        n.send(&event(1));
        let deadline = Instant::now() + Duration::from_secs(20);
        while seen.lock().unwrap().1.is_empty() {
            assert!(Instant::now() < deadline, "not delivered");
            std::thread::sleep(Duration::from_millis(5));
        }
        n.close(Duration::from_secs(5));
        let (requests, bodies) = seen.lock().unwrap().clone();
        assert_eq!(requests, 3);
        assert_eq!(bodies.len(), 1);
        let json: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(json["alert"], "test_1");
        assert_eq!(json["text"], "event 1");
    }

    /// A receiver that never answers holds up nothing: sending returns at once whatever the
    /// queue holds (what does not fit is dropped), and closing gives up at its deadline.
    #[test]
    fn a_dead_receiver_never_blocks_the_sender() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let config = AlertsConfig {
            webhook_url: vec![url],
            attempts: 2,
            timeout: Duration::from_secs(30),
            ..AlertsConfig::default()
        };
        let n = Notifier::start(&config).unwrap();
        for i in 0..(QUEUE as u64 * 2) {
            n.send(&event(i));
        }
        n.close(Duration::from_millis(50));
        drop(listener);
    }

    #[test]
    fn events_read_well_as_json_and_mail() {
        let e = AlertEvent {
            level: "critical".into(),
            alert: "stall".into(),
            node_id: 2,
            text: "mining stalled".into(),
            details: BTreeMap::from([("action".to_string(), "restart_session".to_string())]),
            status: "raised".into(),
            at_unix_ms: 1,
        };
        let json: serde_json::Value = serde_json::to_value(&e).unwrap();
        for key in ["level", "alert", "node_id", "text", "details", "status"] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(e.subject(), "[redoflow] CRITICAL stall on node 2");
        assert!(e.body().contains("action: restart_session"));
        let r = AlertEvent {
            status: "resolved".into(),
            ..e
        };
        assert_eq!(r.subject(), "[redoflow] RESOLVED stall on node 2");
    }
}
