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
pub mod process_tree;
pub mod runtime;
pub mod tokens;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // Not every test binary speaks WebSocket itself.
pub use client::Client;
pub use runtime::Runtime;

use serde_json::Value;

/// The first frame of type `kind` among `frames`.
pub fn frame_of<'a>(frames: &'a [Value], kind: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| f["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} frame in {frames:?}"))
}

/// The messages a `history` frame carries, oldest first.
pub fn history_messages(history: &Value) -> &[Value] {
    history["messages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("history without messages: {history}"))
}

/// The longest one test may run before it counts as failed.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Where tests reach the running Worker.
#[derive(Debug, Clone)]
pub struct Server {
    pub port: u16,
    /// What the runtime has printed so far, the Worker's log lines included.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
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
/// line and status. A positional argument filters tests by substring.
pub fn run(tests: &[(&str, TestFn)]) {
    run_with_vars(&[], tests)
}

/// [`run`], with `vars` overriding the Worker's `[vars]`.
pub fn run_with_vars(vars: &[(&str, &str)], tests: &[(&str, TestFn)]) {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let chosen: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .collect();
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
            match tokio::time::timeout(TEST_TIMEOUT, tokio::spawn(fut)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(join)) => Err(panic_text(join)),
                Err(_) => Err(format!("timed out after {TEST_TIMEOUT:?}")),
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

fn panic_text(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into()),
        Err(e) => e.to_string(),
    }
}

fn summarize(passed: usize, failed: &[String], filtered_out: usize, started: Instant) {
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
