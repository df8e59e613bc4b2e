//! The servers under test: what each one is, how it starts (pinned to core
//! 1), when it is ready, how it stops and what its process tree costs in
//! memory and CPU. Also the native tokio baseline, which this binary serves.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use process_tree::{descendants, end_tree, rss_bytes, stat_fields};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// How long a server may take to answer after it is spawned; wrangler dev
/// starts workerd behind a proxy and takes the longest.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Our room's limits, raised so they do not cap the benchmark (at 1,000 per
/// second per connection, the 10-client knee was the limit; every client
/// connects from 127.0.0.1).
const ROOM_LIMITS: [&str; 10] = [
    "--var",
    "RATE_PER_SEC:100000",
    "--var",
    "RATE_BURST:10000",
    "--var",
    "MAX_CONNECTIONS_PER_ROOM:5000",
    // The benchmark's clients connect as anyone: open mode, chosen.
    "--var",
    "AUTH_MODE:open",
    "--var",
    "MAX_SOCKETS_PER_ADDRESS:5000",
];

/// A server under test. Its name is its identity in results.json and in the
/// report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    EdgeDev,
    EdgeMiniflare,
    /// Our Worker from another build directory (`BENCH_COMPARE_BUILD`),
    /// beside the current one; never in the default plan.
    EdgeBase,
    /// The same other build, with plain clients.
    EdgePlainBase,
    EdgePlainDev,
    EdgePlainMiniflare,
    FastApi,
    JsDev,
    JsMiniflare,
    JsSqliteDev,
    JsSqliteMiniflare,
    Tokio,
}

impl Server {
    /// Every server, in the order the report lists them.
    pub const ALL: [Server; 12] = [
        Server::EdgeDev,
        Server::EdgeMiniflare,
        Server::EdgeBase,
        Server::EdgePlainBase,
        Server::EdgePlainDev,
        Server::EdgePlainMiniflare,
        Server::FastApi,
        Server::JsDev,
        Server::JsMiniflare,
        Server::JsSqliteDev,
        Server::JsSqliteMiniflare,
        Server::Tokio,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Server::EdgeDev => "edge-chat (wrangler dev)",
            Server::EdgeMiniflare => "edge-chat (miniflare)",
            Server::EdgeBase => "edge-chat@base (miniflare)",
            Server::EdgePlainBase => "edge-chat plain@base (miniflare)",
            Server::EdgePlainDev => "edge-chat plain (wrangler dev)",
            Server::EdgePlainMiniflare => "edge-chat plain (miniflare)",
            Server::FastApi => "FastAPI original",
            Server::JsDev => "JS Durable Object",
            Server::JsMiniflare => "JS Durable Object (miniflare)",
            Server::JsSqliteDev => "JS Durable Object + SQLite",
            Server::JsSqliteMiniflare => "JS Durable Object + SQLite (miniflare)",
            Server::Tokio => "tokio native",
        }
    }

    pub fn about(self) -> &'static str {
        match self {
            Server::EdgeDev => "this project, batch=1 clients",
            Server::EdgeMiniflare => {
                "this project on workerd without the dev proxy, batch=1 clients"
            }
            Server::EdgeBase => {
                "the build in BENCH_COMPARE_BUILD, as edge-chat (miniflare) is run: the budget's before"
            }
            Server::EdgePlainBase => {
                "the build in BENCH_COMPARE_BUILD, clients without batch=1"
            }
            Server::EdgePlainDev => "this project, clients without batch=1",
            Server::EdgePlainMiniflare => {
                "this project on workerd without the dev proxy, clients without batch=1"
            }
            Server::FastApi => "the originals' design on uvicorn[standard] (uvloop, httptools)",
            Server::JsDev => "minimal JavaScript DO, one frame per message",
            Server::JsMiniflare => "the same JavaScript DO on workerd without the dev proxy",
            Server::JsSqliteDev => {
                "the minimal JavaScript DO writing each message to SQLite before broadcasting it"
            }
            Server::JsSqliteMiniflare => {
                "the same SQLite-writing JavaScript DO on workerd without the dev proxy"
            }
            Server::Tokio => "native Rust broadcast, the near-physical limit",
        }
    }

    /// The query clients connect with: our room needs a room name and
    /// `batch=1` opts into batch frames; the baselines take none.
    pub fn query(self) -> &'static str {
        match self {
            Server::EdgeDev | Server::EdgeMiniflare | Server::EdgeBase => "?room=bench&batch=1",
            Server::EdgePlainDev | Server::EdgePlainMiniflare | Server::EdgePlainBase => {
                "?room=bench"
            }
            _ => "",
        }
    }

    /// Whether its `batch=1` clients send read receipts, as the page does.
    /// Not to the base build: it may predate receipts, and then each one
    /// would cost it an error reply that ours does not pay, which would
    /// flatter ours. Without them the base is, if anything, flattered.
    /// `BENCH_RECEIPTS=0` sends none to ours either: the two builds then
    /// compare on equal terms, and against a run with them, it prices them.
    pub fn takes_receipts(self) -> bool {
        let off = std::env::var("BENCH_RECEIPTS").is_ok_and(|v| v == "0");
        !off && matches!(self, Server::EdgeDev | Server::EdgeMiniflare)
    }

    /// The same server with clients of the originals' protocol (no
    /// `batch=1`), for a server whose clients take batch frames.
    pub fn plain(self) -> Option<Server> {
        match self {
            Server::EdgeDev => Some(Server::EdgePlainDev),
            Server::EdgeMiniflare => Some(Server::EdgePlainMiniflare),
            _ => None,
        }
    }

    /// The servers a run measures: all of them, but the old build only when
    /// `BENCH_COMPARE_BUILD` names one.
    pub fn planned() -> impl Iterator<Item = Server> {
        let compare = compare_build().is_some();
        Server::ALL
            .into_iter()
            .filter(move |s| !matches!(s, Server::EdgeBase | Server::EdgePlainBase) || compare)
    }

    /// Whether this is our room (the current build), with either kind of
    /// client.
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            Server::EdgeDev
                | Server::EdgeMiniflare
                | Server::EdgePlainDev
                | Server::EdgePlainMiniflare
        )
    }

    /// Whether this server runs under `wrangler dev`, behind its proxy.
    pub fn dev_proxy(self) -> bool {
        matches!(
            self,
            Server::EdgeDev | Server::EdgePlainDev | Server::JsDev | Server::JsSqliteDev
        )
    }

    fn from_name(name: &str) -> Option<Server> {
        Server::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Adds this server's program and arguments to `cmd` (already `taskset`).
    fn launch(self, cmd: &mut Command, port: u16, state: &Path) -> Result<(), String> {
        let p = port.to_string();
        match self {
            Server::EdgeDev | Server::EdgePlainDev => {
                wrangler_dev(cmd, None, &p, state).args(ROOM_LIMITS);
            }
            Server::JsDev => baseline_dev(cmd, "js-room", &p, state),
            Server::JsSqliteDev => baseline_dev(cmd, "js-sqlite-room", &p, state),
            Server::EdgeMiniflare | Server::EdgePlainMiniflare => {
                miniflare(cmd, &p, "edge-chat");
            }
            Server::EdgeBase | Server::EdgePlainBase => {
                let build = compare_build().ok_or("BENCH_COMPARE_BUILD is not set")?;
                miniflare(cmd, &p, "edge-chat").arg(build);
            }
            Server::JsMiniflare => {
                miniflare(cmd, &p, "js-room");
            }
            Server::JsSqliteMiniflare => {
                miniflare(cmd, &p, "js-sqlite-room");
            }
            Server::FastApi => uvicorn(cmd, &p),
            Server::Tokio => {
                cmd.arg(std::env::current_exe().map_err(|e| e.to_string())?)
                    .args(["serve-tokio", &p]);
            }
        }
        Ok(())
    }

    /// The native baseline only speaks WebSocket; the others may listen
    /// before they are ready, so they must answer HTTP.
    fn ready(self, port: u16) -> bool {
        match self {
            Server::Tokio => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            _ => answers_http(port),
        }
    }

    /// Starts this server pinned to core 1 (the load generator runs on core
    /// 0) and waits until it is ready.
    pub fn start(self) -> Result<Running, String> {
        self.start_with(&[])
    }

    /// [`Server::start`] with extra environment for the server's launcher
    /// (`BENCH_MINIFLARE_VARS`, `BENCH_MINIFLARE_PERSIST`: see
    /// benches/baselines/miniflare.mjs).
    pub fn start_with(self, env: &[(&str, String)]) -> Result<Running, String> {
        let port = free_port();
        let state = std::env::temp_dir().join(format!("edge-chat-bench-{port}"));
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "1"]);
        self.launch(&mut cmd, port, &state)?;
        let child = cmd
            .current_dir(root())
            .env("WRANGLER_SEND_METRICS", "false")
            .env_remove("CI")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(server_log(self.name()))
            .stderr(server_log(self.name()))
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.name()))?;
        let mut running = Running { child, port, state };
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.ready(port) {
            if Instant::now() > deadline || running.child.try_wait().ok().flatten().is_some() {
                return Err(format!("{} did not start", self.name()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(running)
    }
}

impl Serialize for Server {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Server {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Server::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown server {name:?}")))
    }
}

fn wrangler_dev<'a>(
    cmd: &'a mut Command,
    config: Option<&str>,
    port: &str,
    state: &Path,
) -> &'a mut Command {
    cmd.arg(root().join("node_modules/.bin/wrangler"))
        .arg("dev");
    if let Some(config) = config {
        cmd.args(["--config", config]);
    }
    cmd.args(["--ip", "127.0.0.1", "--port", port, "--inspector-port"])
        .arg(free_port().to_string())
        .arg("--persist-to")
        .arg(state)
}

/// A JavaScript baseline in `benches/baselines/<dir>` under `wrangler dev`.
fn baseline_dev(cmd: &mut Command, dir: &str, port: &str, state: &Path) {
    let config = format!("benches/baselines/{dir}/wrangler.toml");
    wrangler_dev(cmd, Some(&config), port, state);
}

fn miniflare<'a>(cmd: &'a mut Command, port: &str, worker: &str) -> &'a mut Command {
    cmd.args(["node", "benches/baselines/miniflare.mjs", port, worker])
}

/// The other build directory to run beside ours, from
/// `BENCH_COMPARE_BUILD` (worker-build's `build/` of that checkout).
pub fn compare_build() -> Option<PathBuf> {
    let dir = std::env::var_os("BENCH_COMPARE_BUILD").filter(|d| !d.is_empty())?;
    Some(root().join(dir))
}

/// Named explicitly so a venv without uvloop or httptools fails to start
/// instead of quietly falling back to asyncio and h11.
fn uvicorn(cmd: &mut Command, port: &str) {
    cmd.arg(root().join("target/bench-venv/bin/uvicorn")).args([
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--ws",
        "websockets",
        "fastapi_app:app",
        "--app-dir",
        "benches/baselines",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--log-level",
        "warning",
        "--ws-max-size",
        "1048576",
    ]);
}

/// A started server; dropping it stops its whole process tree.
pub struct Running {
    child: Child,
    pub port: u16,
    state: PathBuf,
}

/// What a server's whole process tree holds at one moment; `None` when no
/// process of the tree could be read (it has exited), never 0.
#[derive(Clone, Copy)]
pub struct Usage {
    /// Resident memory, bytes.
    pub rss: Option<u64>,
    /// User plus system time, clock ticks.
    pub cpu: Option<u64>,
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn usage(&self) -> Usage {
        usage_of(self.child.id())
    }
}

/// What the process tree under `pid` holds now.
pub fn usage_of(pid: u32) -> Usage {
    let tree = descendants(pid);
    let sum = |read: fn(u32) -> Option<u64>| {
        let parts: Vec<u64> = tree.iter().filter_map(|&pid| read(pid)).collect();
        (!parts.is_empty()).then(|| parts.iter().sum())
    };
    Usage {
        rss: sum(rss_bytes),
        cpu: sum(cpu_ticks),
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        end_tree(&mut self.child, "TERM", Duration::from_millis(300));
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// User plus system time, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    let field = |i: usize| f.get(i)?.parse::<u64>().ok();
    Some(field(11)? + field(12)?)
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Any HTTP answer at all means the server is up.
fn answers_http(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req =
        format!("GET /ws/probe HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 12];
    s.write_all(req.as_bytes()).is_ok()
        && s.read(&mut buf)
            .map(|n| n >= 12 && buf.starts_with(b"HTTP/1.1"))
            .unwrap_or(false)
}

/// Where a server's output goes: nowhere, or with `BENCH_SERVER_LOGS=<dir>`
/// appended to `<dir>/<server>.log`, to see why a server failed a step.
fn server_log(server: &str) -> Stdio {
    let Ok(dir) = std::env::var("BENCH_SERVER_LOGS") else {
        return Stdio::null();
    };
    let name: String = server
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let _ = std::fs::create_dir_all(&dir);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join(format!("{name}.log")))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// The native baseline: tokio + tungstenite, one broadcast channel. Each
/// message is serialized once into a refcounted `Utf8Bytes` that every
/// recipient's writer shares, as a server built for speed would.
pub async fn serve_tokio(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let (tx, _) = broadcast::channel::<Utf8Bytes>(1 << 16);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(tokio_session(stream, tx.clone()));
    }
}

// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn tokio_session(stream: tokio::net::TcpStream, tx: broadcast::Sender<Utf8Bytes>) {
    let mut id = String::new();
    let callback = |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
        id = req.uri().path().trim_start_matches("/ws/").to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let mut rx = tx.subscribe();
    let writer = tokio::spawn(async move {
        // recv() clones the Utf8Bytes: a reference count, not a copy.
        while let Ok(frame) = rx.recv().await {
            if sink.send(Message::Text(frame)).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = source.next().await {
        if let Message::Text(text) = msg {
            let frame =
                json!({"type": "message", "clientId": id, "message": text.as_str()}).to_string();
            let _ = tx.send(frame.into());
        }
    }
    writer.abort();
}
