//! The built Worker on workerd through Miniflare alone
//! (`benches/baselines/miniflare.mjs`), without `wrangler dev`'s proxy in
//! front. For what only the platform's own request handling shows: the
//! dev proxy forwards each request through a second Worker, which turns a
//! request whose body the Worker cancelled into a 503 "Your worker
//! restarted mid-request" now and then, where workerd (and the platform)
//! answer what the Worker answered.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::process_tree::end_tree;
use super::runtime::{free_port, repo_root};

/// How long Miniflare may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Workerd {
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    port: u16,
}

impl Workerd {
    /// Starts the Worker in `build/` on a free loopback port, with the
    /// benchmark's raised rate limits.
    pub fn start() -> Workerd {
        let port = free_port();
        let mut child = Command::new("node")
            .args(["benches/baselines/miniflare.mjs", &port.to_string()])
            .current_dir(repo_root())
            // What `EDGE_CHAT_TEST_VARS` adds to every runtime of the suites
            // (tests/common/runtime.rs), as Miniflare takes extra vars.
            .env("BENCH_MINIFLARE_VARS", suite_vars_json())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node benches/baselines/miniflare.mjs");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, tx) in [
            (
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
                Some(ready_tx),
            ),
            (Box::new(stderr), None),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("ready on") {
                        tx.as_ref().map(|tx| tx.send(()));
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        let child = Some(child);
        if ready.recv_timeout(READY_TIMEOUT).is_err() {
            let mut failed = Workerd { child, log, port };
            failed.stop();
            panic!(
                "miniflare was not ready within {:?}:\n{}",
                started.elapsed(),
                failed.log.lock().unwrap().join("\n")
            );
        }
        Workerd { child, log, port }
    }

    /// How tests reach it.
    pub fn server(&self) -> super::Server {
        super::Server {
            port: self.port,
            pid: self.child.as_ref().map_or(0, Child::id),
            log: Arc::clone(&self.log),
        }
    }

    /// Stops node and workerd, gracefully, then forcibly; once.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            end_tree(&mut child, "TERM", Duration::from_secs(5));
        }
    }
}

impl Drop for Workerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `EDGE_CHAT_TEST_VARS` (`KEY:VALUE,…`) as the JSON object of extra vars
/// `benches/baselines/miniflare.mjs` reads.
fn suite_vars_json() -> String {
    let extra = std::env::var("EDGE_CHAT_TEST_VARS").unwrap_or_default();
    let pairs: Vec<String> = (extra.split(','))
        .filter_map(|pair| pair.trim().split_once(':'))
        .map(|(k, v)| format!("{k:?}:{v:?}"))
        .collect();
    format!("{{{}}}", pairs.join(","))
}
