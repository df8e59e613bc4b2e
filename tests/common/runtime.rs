//! The real runtime under test: `wrangler dev` from the pinned npm package,
//! started on a free loopback port with its own state directory, and always
//! stopped with its whole process tree (wrangler runs workerd as a child).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::process_tree::{descendants, end_tree, stat_fields};
use super::{http, inspector};

/// How long a fresh `wrangler dev` may take to answer. The build has already
/// run, so this covers only workerd starting up.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a killed runtime may take to vanish: the kernel tears a
/// SIGKILLed process down in milliseconds, so this is only a ceiling.
const GONE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Runtime {
    child: Option<Child>,
    pub port: u16,
    /// Where `wrangler dev` serves its inspector ([`inspector`]).
    inspector_port: u16,
    pub state_dir: PathBuf,
    /// Whether stopping also deletes `state_dir` (it was made for this run).
    owns_state: bool,
    /// Everything wrangler printed, for diagnosing a failed test.
    log: Arc<Mutex<Vec<String>>>,
}

pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the Worker once per test binary; the build script is a no-op when
/// `build/` is newer than the sources.
pub fn build_worker() {
    let status = Command::new("bash")
        .arg("scripts/build-worker.sh")
        .current_dir(repo_root())
        .status()
        .expect("run scripts/build-worker.sh");
    assert!(status.success(), "building the Worker failed");
}

/// A state directory no other runtime uses.
/// Named by the process and a counter, never by a port: the kernel hands a
/// released port out again, and two runtimes sharing a directory (one of
/// them removing it when done) left the other unable to open its rooms'
/// databases (SQLITE_CANTOPEN) mid-suite.
pub fn fresh_state_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("edge-chat-test-{}-{n}", std::process::id()));
    // A run killed before its cleanup, whose process id this one now has.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Runtime {
    /// Starts `wrangler dev` with a fresh state directory.
    pub fn start(vars: &[(&str, &str)]) -> Runtime {
        let mut rt = Runtime::start_on(free_port(), fresh_state_dir(), vars);
        rt.owns_state = true;
        rt
    }

    /// Starts `wrangler dev` on `port`, persisting to `state_dir`, with
    /// `vars` overriding `[vars]`. A restart on the same port and directory
    /// looks to clients like the same server coming back with its storage.
    pub fn start_on(port: u16, state_dir: PathBuf, vars: &[(&str, &str)]) -> Runtime {
        // Whatever answers on the port once it is ready must be this runtime,
        // not one an earlier kill left behind.
        assert!(
            !port_open(port),
            "port {port} already answers before wrangler dev starts"
        );
        let mut rt = Runtime::spawn(port, state_dir.clone(), vars);
        if let Err(log) = rt.wait_ready() {
            // wrangler 4.86 sometimes sees its watched `src` "change" while it
            // starts, restarts its runtime, and the new one finds the port
            // still held by the old: it exits with "Address already in use"
            // before it ever served. One more start is then a clean one.
            assert!(log.contains("Address already in use"), "{log}");
            std::thread::sleep(Duration::from_secs(1));
            rt = Runtime::spawn(port, state_dir, vars);
            rt.wait_ready().unwrap_or_else(|log| panic!("{log}"));
        }
        inspector::attach(rt.inspector_port);
        rt
    }

    fn spawn(port: u16, state_dir: PathBuf, vars: &[(&str, &str)]) -> Runtime {
        let inspector_port = free_port();
        let mut child = Command::new(repo_root().join("node_modules/.bin/wrangler"))
            .args(["dev", "--ip", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .arg("--inspector-port")
            .arg(inspector_port.to_string())
            .arg("--persist-to")
            .arg(&state_dir)
            .args([
                "--show-interactive-dev-session=false",
                // "log", wrangler's default, is the level that shows the
                // Worker's console.log lines.
                "--log-level",
                "log",
            ])
            .args(
                vars.iter()
                    .flat_map(|(k, v)| ["--var".to_owned(), format!("{k}:{v}")]),
            )
            .args(auth_vars(vars))
            .args(suite_vars(vars))
            .current_dir(repo_root())
            .env("WRANGLER_SEND_METRICS", "false")
            // Under CI=true wrangler hides the Worker's console output, which
            // is what a failing test needs to show.
            .env_remove("CI")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wrangler dev (run scripts/bootstrap.sh first)");
        let log = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        Runtime {
            child: Some(child),
            port,
            inspector_port,
            state_dir,
            owns_state: false,
            log,
        }
    }

    /// Waits until the Worker answers; `Err` with wrangler's output if it
    /// exited first. Not ready in time is a panic: nothing to retry.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(resp) = http::get_blocking(self.port, "/", Duration::from_secs(2)) {
                if resp.status == 200 {
                    return Ok(());
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "wrangler dev exited with {status} before it was ready:\n{}",
                    self.log_text()
                ));
            }
            if Instant::now() > deadline {
                self.stop();
                panic!(
                    "wrangler dev was not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How tests reach this runtime.
    pub fn server(&self) -> super::Server {
        super::Server {
            port: self.port,
            pid: self.child.as_ref().map_or(0, Child::id),
            log: Arc::clone(&self.log),
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// Stops wrangler and workerd gracefully, then forcibly.
    pub fn stop(&mut self) {
        self.end("TERM", Duration::from_secs(5));
    }

    /// Kills wrangler and workerd at once, as a crash would, and returns
    /// once every process of the runtime is gone and its port is closed: a
    /// crash test whose runtime survived the kill would pass against the
    /// very process that held the data in memory. (Not a power cut: what
    /// workerd already handed the kernel survives a killed process.)
    pub fn kill(&mut self) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let tree = descendants(child.id());
        self.end("KILL", Duration::ZERO);
        let deadline = Instant::now() + GONE_TIMEOUT;
        loop {
            let alive: Vec<u32> = tree.iter().copied().filter(|&pid| running(pid)).collect();
            let open = port_open(self.port);
            if alive.is_empty() && !open {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "after SIGKILL, pids {alive:?} of {tree:?} still run and port {} is {}",
                self.port,
                if open { "open" } else { "closed" }
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn end(&mut self, signal: &str, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        end_tree(&mut child, signal, grace);
        if self.owns_state {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Not `kill`: its check may panic, and a panic while a failed test
        // unwinds would abort before the runtime's log is printed.
        self.end("KILL", Duration::ZERO);
    }
}

/// The `--var`s that make the mode the test's own choice: open mode
/// (chosen, as an operator must) unless the test sets `AUTH_SECRET` or
/// `AUTH_MODE`, and never what a developer's .dev.vars says, which --var
/// overrides. An empty value is unset.
fn auth_vars(vars: &[(&str, &str)]) -> Vec<&'static str> {
    let sets = |key: &str| vars.iter().any(|(k, _)| *k == key);
    let mut args = Vec::new();
    if !sets("AUTH_SECRET") {
        args.extend(["--var", "AUTH_SECRET:"]);
    }
    if !sets("AUTH_MODE") {
        let mode = match sets("AUTH_SECRET") {
            true => "AUTH_MODE:",
            false => "AUTH_MODE:open",
        };
        args.extend(["--var", mode]);
    }
    args
}

/// The `--var`s a whole run of the suites adds, from `EDGE_CHAT_TEST_VARS`
/// (`KEY:VALUE,KEY:VALUE`), for what a test does not set itself: `.ci/run`
/// runs the suites again with every room forced onto relays
/// (`RELAY_THRESHOLD:0,RELAY_CAPACITY:3`), and they must pass unchanged.
fn suite_vars(vars: &[(&str, &str)]) -> Vec<String> {
    let extra = std::env::var("EDGE_CHAT_TEST_VARS").unwrap_or_default();
    (extra.split(','))
        .filter_map(|pair| pair.trim().split_once(':'))
        .filter(|(k, _)| !vars.iter().any(|(set, _)| set == k))
        .flat_map(|(k, v)| ["--var".to_owned(), format!("{k}:{v}")])
        .collect()
}

/// Whether `pid` is a process that can still act: a zombie (state `Z`) is
/// dead and holds no sockets, it only waits for its parent to reap it.
fn running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|state| state != "Z"))
}

/// Whether anything accepts connections on the loopback `port`.
fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
