//! A webhook receiver for tests: a plain HTTP/1.1 server on a loopback
//! port that records every POST it gets, and the verifier a receiver would
//! run, written from the README's description (not from the Worker's code).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 to everything.
    Accept,
    /// 500 to every `n`th request, 200 to the rest.
    FailEvery(usize),
    /// 200, after this long.
    Slow(Duration),
    /// Reads the request and never answers.
    Hang,
    /// 302 to every request, pointing at the receiver on this port.
    Redirect(u16),
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Hit {
    pub body: String,
    /// The `X-Edge-Chat-Signature` header.
    pub signature: Option<String>,
    pub content_type: Option<String>,
    pub at: Instant,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

pub struct Receiver {
    pub port: u16,
    hits: Arc<Mutex<Vec<Hit>>>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Listens on `port` (a port the test reserved, so the Worker can be
    /// told the URL before the receiver is up).
    pub async fn start_on(port: u16, mode: Mode) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("receiver cannot listen on {port}: {e}"));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            // Dropped with the task, which aborts every connection: a
            // stopped receiver is down, open connections included.
            let mut connections = JoinSet::new();
            let count = Arc::new(Mutex::new(0usize));
            while let Ok((stream, _)) = listener.accept().await {
                let (hits, count) = (Arc::clone(&recorded), Arc::clone(&count));
                connections.spawn(serve(stream, mode, hits, count));
            }
        });
        Receiver { port, hits, task }
    }

    pub fn url(port: u16) -> String {
        format!("http://127.0.0.1:{port}/hook")
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Polls until `done` holds for the hits so far; panics after
    /// `timeout` with what did arrive.
    pub async fn wait_until(&self, timeout: Duration, what: &str, done: impl Fn(&[Hit]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits();
            if done(&hits) {
                return;
            }
            if Instant::now() > deadline {
                let bodies: Vec<&str> = hits.iter().map(|h| h.body.as_str()).collect();
                panic!("receiver never saw {what} in {timeout:?}; got {bodies:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops listening and drops every open connection.
    pub fn stop(self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    mode: Mode,
    hits: Arc<Mutex<Vec<Hit>>>,
    count: Arc<Mutex<usize>>,
) {
    let mut buf = Vec::new();
    loop {
        let Some((head, body)) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let header = |name: &str| {
            head.lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
        };
        hits.lock().unwrap().push(Hit {
            body,
            signature: header("x-edge-chat-signature"),
            content_type: header("content-type"),
            at: Instant::now(),
        });
        let nth = {
            let mut n = count.lock().unwrap();
            *n += 1;
            *n
        };
        let status = match mode {
            Mode::Hang => std::future::pending().await,
            Mode::Redirect(to) => format!("302 Found\r\nLocation: {}", Receiver::url(to)),
            Mode::Slow(delay) => {
                tokio::time::sleep(delay).await;
                "200 OK".into()
            }
            Mode::FailEvery(n) if nth % n == 0 => "500 Internal Server Error".into(),
            _ => "200 OK".into(),
        };
        let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok");
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one request (head, body) from `stream`, keeping what follows it in
/// `buf`. `None` at EOF.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, String)> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..split]).into_owned();
            let lower = head.to_ascii_lowercase();
            let length = lower
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let rest = &buf[split + 4..];
            if let Some(len) = length {
                if rest.len() >= len {
                    let body = String::from_utf8_lossy(&rest[..len]).into_owned();
                    buf.drain(..split + 4 + len);
                    return Some((head, body));
                }
            } else if lower.contains("transfer-encoding: chunked") {
                if rest.windows(5).any(|w| w == b"0\r\n\r\n") {
                    let body = super::http::dechunk(rest)?;
                    buf.clear();
                    return Some((head, String::from_utf8_lossy(&body).into_owned()));
                }
            } else {
                buf.drain(..split + 4);
                return Some((head, String::new()));
            }
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Why a delivery was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    BadSignature,
    TooOld,
}

/// A receiver's check, as the README describes it: split the header into
/// `t` and `v1`, compute hex HMAC-SHA256 of `"<t>.<body>"` with the secret,
/// compare in constant time, and refuse a `t` more than `tolerance` from
/// `now_secs` (replays).
pub fn verify(
    secret: &str,
    header: &str,
    body: &str,
    now_secs: u64,
    tolerance: u64,
) -> Result<(), Refused> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(Refused::Malformed);
    };
    let expected: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| {
            v1.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or(Refused::Malformed)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| Refused::BadSignature)?;
    if now_secs.abs_diff(t) > tolerance {
        return Err(Refused::TooOld);
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
