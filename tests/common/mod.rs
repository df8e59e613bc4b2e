//! The shared test fixture: builds the Worker, starts the real runtime once
//! per test binary, runs the binary's tests against it one by one, and always
//! stops the runtime, whether tests pass, fail or panic.
//!
//! Each test binary sets `harness = false` and calls [`run`] from `main`,
//! because libtest has no hook that runs after the last test.

#![allow(dead_code)] // Each test binary uses a different part of the fixture.

pub mod browser;
pub mod bystanders;
pub mod client;
pub mod http;
pub mod inspector;
pub mod process_tree;
pub mod readers;
pub mod receiver;
pub mod runtime;
pub mod schema;
pub mod tokens;
pub mod workerd;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // Not every test binary speaks WebSocket itself.
pub use client::{Client, Socket};
pub use runtime::Runtime;

use serde_json::Value;

/// The first frame of type `kind` among `frames`.
pub fn frame_of<'a>(frames: &'a [Value], kind: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| f["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} frame in {frames:?}"))
}

/// A typing notice, as the page sends it.
pub const TYPING: &str = r#"{"type":"typing"}"#;

/// The keep-alive the runtime answers with [`PONG`] without the room.
pub const PING: &str = r#"{"type":"ping"}"#;
pub const PONG: &str = r#"{"type":"pong"}"#;

/// The frames one received frame carries: a `batch` frame's inner frames,
/// or the frame itself.
pub fn unpacked(frame: Value) -> Vec<Value> {
    if frame["type"] != "batch" {
        return vec![frame];
    }
    assert_eq!(frame["clientId"], "server", "{frame}");
    frame["frames"].as_array().expect("frames").clone()
}

/// The messages a `history` frame carries, oldest first.
pub fn history_messages(history: &Value) -> &[Value] {
    history["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("history without messages: {history}"))
}

/// The longest one test may run before it counts as failed, unless its
/// binary names another (`suite![vars: …; timeout_secs: …; …]`).
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Where tests reach the running Worker.
#[derive(Debug, Clone)]
pub struct Server {
    pub port: u16,
    /// The runtime's root process: wrangler, with workerd below it.
    pub pid: u32,
    /// What the runtime has printed so far, the Worker's log lines included.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// The runtime's resident memory, all of its processes together.
    pub fn rss_bytes(&self) -> u64 {
        process_tree::tree_rss_bytes(self.pid)
    }

    /// Everything the runtime printed so far.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    pub fn get(&self, path: &str) -> http::HttpResponse {
        self.request("GET", path, &[])
    }

    /// A WebSocket handshake sent as bare HTTP: enough to read a refusal's
    /// status and body. (An accepted one would never complete.)
    pub fn handshake_refusal(&self, path: &str) -> http::HttpResponse {
        self.request("GET", path, &[("Upgrade", "websocket")])
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> http::HttpResponse {
        http::request_blocking(self.port, method, path, headers, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
    }
}

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub type TestFn = fn(Server) -> TestFuture;

/// Declares a test binary's `main`: `suite![test_a, test_b];` where each test
/// is `async fn name(server: Server)`.
#[macro_export]
macro_rules! suite {
    (vars: $vars:expr; timeout_secs: $secs:expr; $($name:ident),+ $(,)?) => {
        fn main() {
            let timeout = std::time::Duration::from_secs($secs);
            common::run_with_timeout($vars, timeout, &[$((stringify!($name), |s| Box::pin($name(s)))),+]);
        }
    };
    (vars: $vars:expr; $($name:ident),+ $(,)?) => {
        fn main() {
            common::run_with_vars($vars, &[$((stringify!($name), |s| Box::pin($name(s)))),+]);
        }
    };
    ($($name:ident),+ $(,)?) => {
        fn main() {
            common::run(&[$((stringify!($name), |s| Box::pin($name(s)))),+]);
        }
    };
}

/// Runs the named tests against one runtime and exits with libtest's summary
/// line and status. A positional argument filters tests by substring, and
/// `--skip <substring>` leaves tests out, as libtest's do.
pub fn run(tests: &[(&str, TestFn)]) {
    run_with_vars(&[], tests)
}

/// [`run`], with `vars` overriding the Worker's `[vars]`.
pub fn run_with_vars(vars: &[(&str, &str)], tests: &[(&str, TestFn)]) {
    run_with_timeout(vars, TEST_TIMEOUT, tests)
}

/// The tests this command line asks for, as libtest would choose them: a
/// positional filter and any number of `--skip <substring>`, so one command
/// line serves every binary.
pub fn chosen<'a, T>(tests: &'a [(&'a str, T)]) -> Vec<&'a (&'a str, T)> {
    let (filter, skips) = chosen_by(std::env::args().skip(1));
    (tests.iter())
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .filter(|(name, _)| !skips.iter().any(|s| name.contains(s.as_str())))
        .collect()
}

fn chosen_by(mut args: impl Iterator<Item = String>) -> (Option<String>, Vec<String>) {
    let (mut filter, mut skips) = (None, Vec::new());
    while let Some(arg) = args.next() {
        if arg == "--skip" {
            skips.extend(args.next());
        } else if !arg.starts_with('-') && filter.is_none() {
            filter = Some(arg);
        }
    }
    (filter, skips)
}

/// [`run_with_vars`], each test allowed `timeout`.
pub fn run_with_timeout(vars: &[(&str, &str)], timeout: Duration, tests: &[(&str, TestFn)]) {
    let chosen = chosen(tests);
    let filtered_out = tests.len() - chosen.len();
    let started = Instant::now();
    println!("\nrunning {} tests", chosen.len());
    if chosen.is_empty() {
        summarize(0, &[], filtered_out, started);
        return;
    }

    runtime::build_worker();
    let mut rt = Runtime::start(vars);
    let server = rt.server();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let mut failed = Vec::new();
    for (name, test) in &chosen {
        let fut = test(server.clone());
        let outcome = tokio.block_on(async {
            match tokio::time::timeout(timeout, tokio::spawn(fut)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(join)) => Err(panic_text(join)),
                Err(_) => Err(format!("timed out after {timeout:?}")),
            }
        });
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n    {why}");
                failed.push(name.to_string());
            }
        }
    }
    tokio.shutdown_timeout(Duration::from_secs(1));
    if !failed.is_empty() {
        println!("\n--- wrangler output ---\n{}", rt.log_text());
    }
    rt.stop();
    let passed = chosen.len() - failed.len();
    summarize(passed, &failed, filtered_out, started);
}

/// What a test task's panic said, for its FAILED line.
pub fn panic_text(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into()),
        Err(e) => e.to_string(),
    }
}

/// libtest's summary line (and exit code 101 on failure), so `cargo test`
/// output reads the same for every binary.
pub fn summarize(passed: usize, failed: &[String], filtered_out: usize, started: Instant) {
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    if !failed.is_empty() {
        println!("\nfailures:");
        for name in failed {
            println!("    {name}");
        }
    }
    println!(
        "\ntest result: {verdict}. {passed} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

/// The client message ids in `frames` of the given `kind` (`ack` or
/// `message`) from `sender`, with the seq each was shown under.
pub fn shown_as(kind: &str, sender: &str, frames: &[Value]) -> BTreeMap<String, u64> {
    frames
        .iter()
        .filter(|f| f["type"] == kind && f["clientId"] == sender)
        .filter_map(|f| Some((f["clientMsgId"].as_str()?.to_owned(), f["seq"].as_u64()?)))
        .collect()
}

/// Checks the history a restarted runtime serves against what the killed
/// one showed before it died. `sent` is one sender's messages as (text,
/// clientMsgId) in the order sent; `shown` the seq each was shown under in
/// an ack or a message frame anyone received. The runtime holds outgoing
/// frames until what they mention is durable, so:
///
/// - every shown message is stored exactly once under the seq it was shown
///   with (unless the history window has since moved past it);
/// - every other sent message is stored at most once;
/// - nothing else of the sender's is stored, and its messages keep the order
///   they were sent in; seqs have no gaps.
///
/// Returns the seq each kept message of the sender's is stored under.
pub fn audit_crash(
    sender: &str,
    sent: &[(String, String)],
    shown: &BTreeMap<String, u64>,
    history: &Value,
) -> BTreeMap<String, u64> {
    let messages = history_messages(history);
    let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seqs have gaps: {seqs:?}"
    );
    let latest = history["latestSeq"].as_u64().expect("latestSeq");
    assert_eq!(seqs.last().copied().unwrap_or(latest), latest, "{history}");
    let oldest_kept = seqs.first().copied().unwrap_or(latest + 1);
    let mut stored = BTreeMap::new();
    let mut last_index = None;
    for m in messages.iter().filter(|m| m["clientId"] == sender) {
        let cmid = m["clientMsgId"].as_str().unwrap_or_default();
        let index = sent
            .iter()
            .position(|(_, id)| id == cmid)
            .unwrap_or_else(|| panic!("stored, but never sent: {m}"));
        assert_eq!(m["message"], sent[index].0.as_str(), "{m}");
        assert!(
            last_index < Some(index),
            "{cmid} is stored out of sending order"
        );
        last_index = Some(index);
        let seq = m["seq"].as_u64().expect("seq");
        assert!(
            stored.insert(cmid.to_owned(), seq).is_none(),
            "{cmid} is stored twice"
        );
    }
    for (cmid, &seq) in shown {
        assert!(
            seq <= latest,
            "{cmid} was shown as seq {seq}, but storage ends at seq {latest}: it was sent before it was durable"
        );
        if seq >= oldest_kept {
            assert_eq!(
                stored.get(cmid),
                Some(&seq),
                "{cmid} was shown as seq {seq} before the kill; history after it: {seqs:?}"
            );
        }
    }
    stored
}

/// Resends, as the page does after reconnecting, every message of `sent`
/// whose ack never came, and waits for their acks: a message the crash kept
/// must be acked under the seq it is stored with (dedupe survives a crash),
/// and only the others get new ones. Returns how many were new.
pub async fn resend_unacked(
    client: &mut Client,
    sent: &[(String, String)],
    acked: &BTreeMap<String, u64>,
    stored: &BTreeMap<String, u64>,
) -> usize {
    let unacked: Vec<&(String, String)> = sent
        .iter()
        .filter(|(_, id)| !acked.contains_key(id))
        .collect();
    for (text, cmid) in &unacked {
        client.say(text, cmid).await;
    }
    let mut acks = BTreeMap::new();
    while acks.len() < unacked.len() {
        let frames = unpacked(client.next().await);
        acks.extend(shown_as("ack", &client.id, &frames));
    }
    let kept_unacked: Vec<_> = stored
        .iter()
        .filter(|(id, _)| !acked.contains_key(*id))
        .collect();
    for (cmid, seq) in &kept_unacked {
        assert_eq!(
            acks.get(*cmid),
            Some(*seq),
            "{cmid} was stored before the kill, so its resend is acked with its seq"
        );
    }
    unacked.len() - kept_unacked.len()
}

/// Asserts that the kept window of `history` holds the newest of `sender`'s
/// messages in `sent`, each exactly once, in the order sent.
pub fn assert_kept_once_in_order(history: &Value, sender: &str, sent: &[(String, String)]) {
    let kept: Vec<&str> = history_messages(history)
        .iter()
        .filter(|m| m["clientId"] == sender)
        .map(|m| m["clientMsgId"].as_str().unwrap_or_default())
        .collect();
    let first = sent
        .len()
        .checked_sub(kept.len())
        .unwrap_or_else(|| panic!("more kept than sent: {kept:?}"));
    let newest: Vec<&str> = sent[first..].iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(kept, newest, "every message once, in sending order");
}

/// What a crash test's runtime showed of `sender`'s messages before it was
/// killed, from what `heard` (the sender's first, then any watchers'): the
/// acks the sender got, and every message shown anyone as an ack or a
/// message frame, each by clientMsgId with its seq. Asserts that some of the
/// `sent` messages were still unacknowledged, so the kill came while
/// messages were in flight.
pub fn shown_before_the_kill(
    sender: &str,
    heard: &[client::Heard],
    sent: usize,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let acked = shown_as("ack", sender, &heard[0].frames);
    let mut shown = acked.clone();
    for h in heard {
        shown.extend(shown_as("message", sender, &h.frames));
    }
    assert!(
        acked.len() < sent,
        "all {sent} messages were acked before the kill: nothing was in flight"
    );
    (acked, shown)
}
