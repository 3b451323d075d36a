//! Prometheus metrics of the daemon (`metrics.listen`, off by default): counters kept in memory
//! by the loops, gauges read from PostgreSQL when scraped, served as plain text by a tiny
//! HTTP/1.1 server. Written by hand rather than with `prometheus-client`: a dozen lines of text
//! format do not need a registry, and the gauges come from one database read per scrape.
//!
//! The counters are process-wide statics, like the watchdog's heartbeats in `service.rs`: the
//! loops that count are deep in the mailbox and sender code, and a counter is a fact about the
//! process, not about one caller.

use crate::shutdown::Shutdown;
use crate::store::Store;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `[metrics]`: where to serve, if anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    pub listen: Option<SocketAddr>,
}

/// `[metrics]` as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    /// `127.0.0.1:9187`: serve Prometheus metrics there while `run` runs; empty or absent: off.
    listen: Option<String>,
}

/// `[metrics]` as typed settings; a listen address that does not parse is a problem with its key.
pub(crate) fn convert(raw: RawMetrics, problems: &mut Vec<String>) -> MetricsSettings {
    let listen = raw
        .listen
        .filter(|l| !l.trim().is_empty())
        .and_then(|l| match l.trim().parse::<std::net::SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                problems.push(format!(
                    "metrics.listen: {l:?} is not an address and port like 127.0.0.1:9187"
                ));
                None
            }
        });
    MetricsSettings { listen }
}

static MESSAGES: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static EMAILS_SENT: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static MESSAGES_GIVEN_UP: AtomicU64 = AtomicU64::new(0);
static EMAILS_FAILED: AtomicU64 = AtomicU64::new(0);
static POLLS: Mutex<Histogram> = Mutex::new(Histogram::new());

/// Upper bounds of the poll-duration buckets, in seconds: an empty pass takes milliseconds, a
/// pass with a few large videos tens of seconds.
const POLL_BUCKETS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];

struct Histogram {
    counts: [u64; POLL_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    const fn new() -> Histogram {
        Histogram {
            counts: [0; POLL_BUCKETS.len()],
            count: 0,
            sum: 0.0,
        }
    }
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(key.to_string()).or_default() += 1;
}

/// A message read from the mailbox ended as `disposition` (`processed`, `unrelated`, …, or
/// `already_stored` for bytes recorded before).
pub fn message_processed(disposition: &str) {
    bump(&MESSAGES, disposition);
}

pub fn message_given_up() {
    MESSAGES_GIVEN_UP.fetch_add(1, Ordering::Relaxed);
}

/// The server accepted an email of `kind` (`ack`, `reminder`, `report`).
pub fn email_sent(kind: &str) {
    bump(&EMAILS_SENT, kind);
}

pub fn email_failed() {
    EMAILS_FAILED.fetch_add(1, Ordering::Relaxed);
}

/// A pass over every folder took `took`.
pub fn poll_finished(took: Duration) {
    let secs = took.as_secs_f64();
    let mut h = POLLS.lock().unwrap_or_else(|p| p.into_inner());
    for (i, le) in POLL_BUCKETS.iter().enumerate() {
        if secs <= *le {
            h.counts[i] += 1;
        }
    }
    h.count += 1;
    h.sum += secs;
}

/// A label value as the text format wants it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The counters of this process, in the text exposition format.
pub fn render_counters() -> String {
    let mut out = String::new();
    header(
        &mut out,
        "reportbox_messages_total",
        "counter",
        "Messages read from the mailbox by this process, by disposition.",
    );
    for (d, n) in MESSAGES.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = writeln!(
            out,
            "reportbox_messages_total{{disposition=\"{}\"}} {n}",
            label(d)
        );
    }
    let sent = EMAILS_SENT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    header(
        &mut out,
        "reportbox_acks_sent_total",
        "counter",
        "Acknowledgements the SMTP server accepted.",
    );
    let acks = sent.get("ack").copied().unwrap_or(0);
    let _ = writeln!(out, "reportbox_acks_sent_total {acks}");
    header(
        &mut out,
        "reportbox_emails_sent_total",
        "counter",
        "Emails the SMTP server accepted, by kind.",
    );
    for (k, n) in &sent {
        let _ = writeln!(
            out,
            "reportbox_emails_sent_total{{kind=\"{}\"}} {n}",
            label(k)
        );
    }
    header(
        &mut out,
        "reportbox_failures_total",
        "counter",
        "Messages given up on and emails that failed for good.",
    );
    let given_up = MESSAGES_GIVEN_UP.load(Ordering::Relaxed);
    let failed = EMAILS_FAILED.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "reportbox_failures_total{{what=\"message_given_up\"}} {given_up}"
    );
    let _ = writeln!(
        out,
        "reportbox_failures_total{{what=\"email_failed\"}} {failed}"
    );
    header(
        &mut out,
        "reportbox_poll_duration_seconds",
        "histogram",
        "How long a pass over every mailbox folder took.",
    );
    let h = POLLS.lock().unwrap_or_else(|p| p.into_inner());
    for (le, n) in POLL_BUCKETS.iter().zip(h.counts) {
        let _ = writeln!(
            out,
            "reportbox_poll_duration_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "reportbox_poll_duration_seconds_bucket{{le=\"+Inf\"}} {}\nreportbox_poll_duration_seconds_sum {}\nreportbox_poll_duration_seconds_count {}",
        h.count, h.sum, h.count
    );
    out
}

/// How long the database may take to answer a scrape before the gauges are left out.
const GAUGE_TIMEOUT: Duration = Duration::from_secs(3);

/// The gauges, from the database; `reportbox_database_up 0` alone when it does not answer in
/// time, so a scrape never hangs on an outage.
pub async fn render_gauges(store: &Store) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "reportbox_database_up",
        "gauge",
        "Whether PostgreSQL answered this scrape.",
    );
    let health = tokio::time::timeout(GAUGE_TIMEOUT, store.service_health(chrono_tz::UTC)).await;
    let Ok(Ok(h)) = health else {
        let _ = writeln!(out, "reportbox_database_up 0");
        return out;
    };
    let _ = writeln!(out, "reportbox_database_up 1");
    let now = chrono::Utc::now();
    let gauges = [
        (
            "reportbox_outbox_pending",
            "Emails queued and not yet sent.",
            h.outbox.pending as f64,
        ),
        (
            "reportbox_outbox_due",
            "Queued emails due now.",
            h.outbox.due as f64,
        ),
        (
            "reportbox_outbox_oldest_due_age_seconds",
            "How long the longest-waiting due email has been queued (0 when none).",
            h.outbox.oldest_due_at.map_or(0.0, |t| {
                (now - t.to_utc()).num_milliseconds().max(0) as f64 / 1000.0
            }),
        ),
        (
            "reportbox_outbox_failed",
            "Emails given up on (reportbox failures).",
            h.outbox.failed as f64,
        ),
        (
            "reportbox_sender_paused",
            "1 while the SMTP server's pause (or a refused code) holds sending.",
            f64::from(u8::from(h.outbox.paused_until.is_some())),
        ),
        (
            "reportbox_messages_given_up",
            "Messages given up on (reportbox failures).",
            h.given_up_messages as f64,
        ),
    ];
    for (name, help, v) in gauges {
        header(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {v}");
    }
    header(
        &mut out,
        "reportbox_last_poll_timestamp_seconds",
        "gauge",
        "When a pass over the folder last ended without error (Unix time).",
    );
    for f in &h.folders {
        if let Some(t) = f.last_poll_at {
            let _ = writeln!(
                out,
                "reportbox_last_poll_timestamp_seconds{{folder=\"{}\"}} {}",
                label(&f.folder),
                t.timestamp()
            );
        }
    }
    out
}

/// A request line and headers larger than this are refused: a scraper sends a few hundred bytes.
const MAX_REQUEST: usize = 8 << 10;
/// A client that does not finish its request in this time is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `GET /metrics` on `listener` until `shutdown` fires. One connection at a time: a
/// scrape is a few milliseconds, and a slow client is cut off after [`READ_TIMEOUT`].
pub async fn serve(listener: TcpListener, store: Store, mut shutdown: Shutdown) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = shutdown.fired() => return,
        };
        match conn {
            Ok((stream, _)) => {
                tokio::select! {
                    () = answer(stream, &store) => {}
                    _ = shutdown.fired() => return,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot accept a connection");
                // Out of file descriptors, say: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, store: &Store) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    let line = buf.split(|b| *b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => {
            let mut body = render_counters();
            body.push_str(&render_gauges(store).await);
            ("200 OK", body)
        }
        ("GET", _) => ("404 Not Found", "reportbox: see /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "GET only\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(READ_TIMEOUT, stream.write_all(response.as_bytes())).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_listen_is_off_when_empty_and_an_address_with_a_port_otherwise() {
        let convert = |listen: Option<&str>| {
            let mut problems = Vec::new();
            let m = convert(
                RawMetrics {
                    listen: listen.map(String::from),
                },
                &mut problems,
            );
            (m.listen.map(|a| a.to_string()), problems)
        };
        assert_eq!(convert(None), (None, vec![]));
        assert_eq!(convert(Some(" ")), (None, vec![]));
        assert_eq!(
            convert(Some("127.0.0.1:9187")),
            (Some("127.0.0.1:9187".to_string()), vec![])
        );
        let (none, problems) = convert(Some("localhost"));
        assert_eq!(none, None);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("metrics.listen:"), "{problems:?}");
    }

    #[test]
    fn counters_render_in_the_text_format_with_escaped_labels() {
        message_processed("processed");
        message_processed("weird\"label");
        email_sent("ack");
        poll_finished(Duration::from_millis(300));
        let text = render_counters();
        assert!(
            text.contains("# TYPE reportbox_messages_total counter"),
            "{text}"
        );
        assert!(
            text.contains("reportbox_messages_total{disposition=\"processed\"} "),
            "{text}"
        );
        assert!(text.contains("disposition=\"weird\\\"label\""), "{text}");
        assert!(text.contains("reportbox_acks_sent_total "), "{text}");
        assert!(
            text.contains("reportbox_poll_duration_seconds_bucket{le=\"0.5\"} "),
            "{text}"
        );
        assert!(
            text.contains("reportbox_poll_duration_seconds_count "),
            "{text}"
        );
        // Every sample line is `name{labels} value` or `name value`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }
}
