//! The benchmark: a load generator for chat servers, the servers it compares,
//! and the report. Run it with `bash scripts/bench.sh` (which installs the
//! baselines' dependencies and pins cores); `--smoke` runs every server and
//! mode at toy sizes so the harness cannot rot.
//!
//! Every chat message carries `b|<sender>|<seq>|<send time in ns>`, so each
//! receiver measures send-to-receive latency and counts losses, duplicates
//! and reordering. `batch` frames are unpacked; each inner message counts.
//! The client never offers permessage-deflate.
//!
//! Subcommands: `suite [--smoke]` runs everything and writes
//! `bench-results/results.json`, `bench-results/chart.svg` and
//! `BENCHMARKS.md`; `serve-tokio <port>` is the native broadcast baseline.

// The benchmark drives servers from the host; on wasm32 there is nothing to
// run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

use process_tree::{descendants, end_tree, stat_fields};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Latency above which a step counts as past the knee.
const KNEE_P99_MS: f64 = 250.0;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    match args.first().map(String::as_str) {
        Some("serve-tokio") => {
            let port = args
                .get(1)
                .and_then(|p| p.parse().ok())
                .expect("serve-tokio <port>");
            rt.block_on(serve_tokio(port));
        }
        Some("suite") => {
            let smoke = args.iter().any(|a| a == "--smoke");
            if let Err(e) = rt.block_on(suite(smoke)) {
                eprintln!("bench failed: {e}");
                std::process::exit(1);
            }
        }
        _ => eprintln!("usage: load suite [--smoke] | load serve-tokio <port>"),
    }
}

// ---------------------------------------------------------------- servers

/// A server under test: how to start it and how clients reach it.
struct ServerSpec {
    name: &'static str,
    about: &'static str,
    /// The query our room needs (`batch=1`), empty for the baselines.
    query: &'static str,
}

const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        name: "edge-chat (wrangler dev)",
        about: "this project, batch=1 clients",
        query: "?room=bench&batch=1",
    },
    ServerSpec {
        name: "edge-chat (miniflare)",
        about: "this project on workerd without the dev proxy, batch=1 clients",
        query: "?room=bench&batch=1",
    },
    ServerSpec {
        name: "edge-chat plain (wrangler dev)",
        about: "this project, clients without batch=1",
        query: "?room=bench",
    },
    ServerSpec {
        name: "FastAPI original",
        about: "the originals' design on uvicorn",
        query: "",
    },
    ServerSpec {
        name: "JS Durable Object",
        about: "minimal JavaScript DO, one frame per message",
        query: "",
    },
    ServerSpec {
        name: "JS Durable Object (miniflare)",
        about: "the same JavaScript DO on workerd without the dev proxy",
        query: "",
    },
    ServerSpec {
        name: "tokio native",
        about: "native Rust broadcast, the near-physical limit",
        query: "",
    },
];

struct Running {
    child: Child,
    port: u16,
    state: PathBuf,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Starts a server pinned to core 1 (the load generator runs on core 0).
fn start(spec: &ServerSpec) -> Result<Running, String> {
    let port = free_port();
    let state = std::env::temp_dir().join(format!("edge-chat-bench-{port}"));
    let p = port.to_string();
    let wrangler = root().join("node_modules/.bin/wrangler");
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1"]);
    let limits = [
        "--var",
        "RATE_PER_SEC:100000",
        "--var",
        "RATE_BURST:10000",
        "--var",
        "MAX_CONNECTIONS_PER_ROOM:5000",
    ];
    match spec.name {
        n if n.contains("miniflare") => {
            let worker = if n.starts_with("JS") {
                "js-room"
            } else {
                "edge-chat"
            };
            cmd.args(["node", "benches/baselines/miniflare.mjs", &p, worker]);
        }
        n if n.starts_with("edge-chat") => {
            cmd.arg(&wrangler)
                .args(["dev", "--ip", "127.0.0.1", "--port", &p, "--inspector-port"])
                .arg(free_port().to_string())
                .arg("--persist-to")
                .arg(&state)
                .args(limits);
        }
        "JS Durable Object" => {
            cmd.arg(&wrangler)
                .args([
                    "dev",
                    "--config",
                    "benches/baselines/js-room/wrangler.toml",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    &p,
                    "--inspector-port",
                ])
                .arg(free_port().to_string())
                .arg("--persist-to")
                .arg(&state);
        }
        "FastAPI original" => {
            cmd.arg(root().join("target/bench-venv/bin/uvicorn")).args([
                "fastapi_app:app",
                "--app-dir",
                "benches/baselines",
                "--host",
                "127.0.0.1",
                "--port",
                &p,
                "--log-level",
                "warning",
                "--ws-max-size",
                "1048576",
            ]);
        }
        _ => {
            cmd.arg(std::env::current_exe().map_err(|e| e.to_string())?)
                .args(["serve-tokio", &p]);
        }
    }
    let child = cmd
        .current_dir(root())
        .env("WRANGLER_SEND_METRICS", "false")
        .env_remove("CI")
        .stdin(Stdio::null())
        .stdout(server_log(spec.name))
        .stderr(server_log(spec.name))
        .spawn()
        .map_err(|e| format!("start {}: {e}", spec.name))?;
    let mut running = Running { child, port, state };
    let deadline = Instant::now() + Duration::from_secs(90);
    // The native baseline only speaks WebSocket; the others may listen
    // before they are ready, so they must answer HTTP.
    let ready = |port| match spec.name {
        "tokio native" => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        _ => answers_http(port),
    };
    while !ready(port) {
        if Instant::now() > deadline || running.child.try_wait().ok().flatten().is_some() {
            stop(&mut running);
            return Err(format!("{} did not start", spec.name));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(running)
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

fn stop(r: &mut Running) {
    end_tree(&mut r.child, "TERM", Duration::from_millis(300));
    let _ = std::fs::remove_dir_all(&r.state);
}

/// Resident memory (bytes) and CPU time (clock ticks) of a process tree.
fn usage(root: u32) -> (u64, u64) {
    let (mut rss, mut cpu) = (0, 0);
    for pid in descendants(root) {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            rss += status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .unwrap_or(0)
                * 1024;
        }
        if let Some(f) = stat_fields(pid) {
            cpu += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    (rss, cpu)
}

/// The native baseline: tokio + tungstenite, one broadcast channel.
// The handshake callback's error type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
async fn serve_tokio(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let (tx, _) = broadcast::channel::<Arc<str>>(1 << 16);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut id = String::new();
            let callback = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                            resp| {
                id = req.uri().path().trim_start_matches("/ws/").to_owned();
                Ok(resp)
            };
            let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
                return;
            };
            let (mut sink, mut source) = ws.split();
            let mut rx = tx.subscribe();
            let writer = tokio::spawn(async move {
                while let Ok(frame) = rx.recv().await {
                    if sink.send(Message::text(frame.to_string())).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(msg)) = source.next().await {
                if let Message::Text(text) = msg {
                    let frame =
                        json!({"type": "message", "clientId": id, "message": text.as_str()})
                            .to_string();
                    let _ = tx.send(frame.into());
                }
            }
            writer.abort();
        });
    }
}

// ---------------------------------------------------------------- clients

#[derive(Default)]
struct Stats {
    first_frame: Option<Instant>,
    /// Frames received since connecting, never reset: for waiting until quiet.
    frames: u64,
    /// Messages below this seq belong to an earlier step and are ignored, so a
    /// backlog from an overloaded step cannot spoil the next one.
    min_seq: u64,
    latencies_us: Vec<u64>,
    seen: HashSet<(u32, u64)>,
    last_seq: HashMap<u32, u64>,
    duplicates: u64,
    reordered: u64,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn record(stats: &Mutex<Stats>, frame: &Value) {
    if frame["type"] == "batch" {
        for f in frame["frames"].as_array().into_iter().flatten() {
            record(stats, f);
        }
        return;
    }
    let Some(text) = frame["message"].as_str() else {
        return;
    };
    let mut parts = text.split('|');
    if parts.next() != Some("b") {
        return;
    }
    let (Some(sender), Some(seq), Some(sent)) = (
        parts.next().and_then(|s| s.parse::<u32>().ok()),
        parts.next().and_then(|s| s.parse::<u64>().ok()),
        parts.next().and_then(|s| s.parse::<u128>().ok()),
    ) else {
        return;
    };
    let latency = (now_ns().saturating_sub(sent) / 1000) as u64;
    let mut guard = stats.lock().unwrap();
    let s = &mut *guard;
    if seq < s.min_seq {
        return;
    }
    s.latencies_us.push(latency);
    if !s.seen.insert((sender, seq)) {
        s.duplicates += 1;
    }
    let last = s.last_seq.entry(sender).or_insert(0);
    if seq < *last {
        s.reordered += 1;
    }
    *last = (*last).max(seq);
}

struct Client {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    stats: Arc<Mutex<Stats>>,
    connect_started: Instant,
    reader: tokio::task::JoinHandle<()>,
}

async fn connect(port: u16, id: usize, query: &str) -> Result<Client, String> {
    let url = format!("ws://127.0.0.1:{port}/ws/c{id}{query}");
    let started = Instant::now();
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())?
    .map_err(|e| format!("connect: {e}"))?;
    let (mut sink, mut source) = ws.split();
    // Announce like the originals' React client does. Servers that greet a
    // newcomer anyway (ours, the JS room) ignore it or treat it as a join;
    // for the others its echo is the first frame, so every server gets a
    // connect-to-first-frame time.
    sink.send(Message::text("Connect"))
        .await
        .map_err(|e| format!("send Connect: {e}"))?;
    let stats = Arc::new(Mutex::new(Stats::default()));
    let st = Arc::clone(&stats);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            if let Message::Text(text) = msg {
                let mut s = st.lock().unwrap();
                s.first_frame.get_or_insert_with(Instant::now);
                s.frames += 1;
                drop(s);
                if let Ok(v) = serde_json::from_str::<Value>(&text) {
                    record(&st, &v);
                }
            }
        }
    });
    Ok(Client {
        sink,
        stats,
        connect_started: started,
        reader,
    })
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Sends `total` messages spread over `duration` (open loop), rotating
/// through `senders`, then waits for deliveries to drain.
async fn send_step(
    clients: &mut [Client],
    senders: usize,
    rate: f64,
    duration: Duration,
    seq: &mut u64,
) -> u64 {
    for c in clients.iter() {
        let mut s = c.stats.lock().unwrap();
        *s = Stats {
            first_frame: s.first_frame,
            frames: s.frames,
            min_seq: *seq + 1,
            ..Stats::default()
        };
    }
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let start = tokio::time::Instant::now();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let sender = (i as usize) % senders;
        *seq += 1;
        let text = format!("b|{sender}|{seq}|{}", now_ns());
        if clients[sender]
            .sink
            .send(Message::text(text))
            .await
            .is_err()
        {
            break;
        }
    }
    total
}

/// Waits until no client has received anything for half a second (at most
/// `patience`), so one step's backlog has drained before the next begins.
async fn quiesce(clients: &[Client], patience: Duration) {
    let total = || -> u64 { clients.iter().map(|c| c.stats.lock().unwrap().frames).sum() };
    let deadline = tokio::time::Instant::now() + patience;
    let mut last = total();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = total();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Waits until every client has `expected` messages or `patience` passes.
async fn drain(clients: &[Client], expected: u64, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    while tokio::time::Instant::now() < deadline {
        if clients
            .iter()
            .all(|c| c.stats.lock().unwrap().seen.len() as u64 >= expected)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct StepResult {
    p50: f64,
    p99: f64,
    max: f64,
    delivered: u64,
    lost: u64,
    duplicates: u64,
    reordered: u64,
}

fn collect(clients: &[Client], receivers: std::ops::Range<usize>, expected: u64) -> StepResult {
    let mut lat = Vec::new();
    let (mut delivered, mut duplicates, mut reordered) = (0, 0, 0);
    for c in &clients[receivers.clone()] {
        let s = c.stats.lock().unwrap();
        lat.extend_from_slice(&s.latencies_us);
        delivered += s.seen.len() as u64;
        duplicates += s.duplicates;
        reordered += s.reordered;
    }
    lat.sort_unstable();
    let want = expected * receivers.len() as u64;
    StepResult {
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        max: lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        delivered,
        lost: want.saturating_sub(delivered),
        duplicates,
        reordered,
    }
}

// ---------------------------------------------------------------- suite

struct Plan {
    sizes: Vec<usize>,
    repeats: usize,
    fanout_secs: f64,
    step_secs: f64,
    /// Saturation starts here (total offered messages a second)...
    first_rate: f64,
    /// ...doubles up to this...
    max_rate: f64,
    /// ...and bisects until the knee is known within this factor.
    resolution: f64,
    max_steps: usize,
}

async fn measure(spec: &ServerSpec, n: usize, plan: &Plan) -> Result<Value, String> {
    let mut running = start(spec)?;
    let result = measure_running(spec, &running, n, plan).await;
    stop(&mut running);
    result
}

async fn measure_running(
    spec: &ServerSpec,
    running: &Running,
    n: usize,
    plan: &Plan,
) -> Result<Value, String> {
    let pid = running.child.id();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_rest, _) = usage(pid);
    // Join: ramp up in waves so the ramp is limited by the server, not by
    // the client's connect burst.
    let ramp = Instant::now();
    let mut clients = Vec::with_capacity(n);
    for wave in (0..n).collect::<Vec<_>>().chunks(50) {
        let conns = futures_util::future::join_all(
            wave.iter().map(|&i| connect(running.port, i, spec.query)),
        )
        .await;
        for c in conns {
            clients.push(c?);
        }
    }
    let ramp_secs = ramp.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    while clients
        .iter()
        .any(|c| c.stats.lock().unwrap().first_frame.is_none())
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut join_ms: Vec<u64> = clients
        .iter()
        .filter_map(|c| {
            let f = c.stats.lock().unwrap().first_frame?;
            Some(f.duration_since(c.connect_started).as_micros() as u64)
        })
        .collect();
    join_ms.sort_unstable();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_idle, _) = usage(pid);
    let idle_per_conn = rss_idle.saturating_sub(rss_rest) as f64 / n as f64;

    let mut seq = 0;
    // Fan-out: one sender, 20 messages a second.
    let sent = send_step(
        &mut clients,
        1,
        20.0,
        Duration::from_secs_f64(plan.fanout_secs),
        &mut seq,
    )
    .await;
    drain(&clients, sent, Duration::from_secs(5)).await;
    let fan = collect(&clients, 0..n, sent);

    // Saturation: everyone sends. Double the offered rate until a step
    // fails, then bisect (geometrically) between the last pass and the first
    // failure, so the knee is known to within 2^(1/2^bisections).
    let mut knee = json!(null);
    let (mut pass, mut fail) = (None::<f64>, None::<f64>);
    let mut rate = plan.first_rate;
    for _ in 0..plan.max_steps {
        let (ok, step) = saturation_step(&mut clients, pid, rate, plan, &mut seq).await;
        if ok {
            pass = Some(rate);
            knee = step;
        } else {
            fail = Some(rate);
        }
        rate = match (pass, fail) {
            (Some(p), Some(f)) if f / p > plan.resolution => (p * f).sqrt(),
            (Some(_), Some(_)) => break,
            (Some(p), None) if p * 2.0 <= plan.max_rate => p * 2.0,
            (Some(_), None) => break,
            (None, Some(f)) if f / 2.0 >= 1.0 => f / 2.0,
            _ => break,
        };
    }
    for c in clients {
        c.reader.abort();
    }
    Ok(json!({
        "server": spec.name,
        "clients": n,
        "join_p50_ms": percentile(&join_ms, 0.5),
        "join_p99_ms": percentile(&join_ms, 0.99),
        "connections_per_sec": n as f64 / ramp_secs,
        "idle_bytes_per_conn": idle_per_conn,
        "fanout": {"p50_ms": fan.p50, "p99_ms": fan.p99, "max_ms": fan.max, "lost": fan.lost,
                   "duplicates": fan.duplicates, "reordered": fan.reordered},
        "knee": knee,
    }))
}

/// One open-loop step of the saturation mode: every client sends, `rate`
/// messages a second in total. Passes if p99 stays under the knee threshold
/// with nothing lost, duplicated or reordered.
async fn saturation_step(
    clients: &mut [Client],
    pid: u32,
    rate: f64,
    plan: &Plan,
    seq: &mut u64,
) -> (bool, Value) {
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let n = clients.len();
    let (_, cpu0) = usage(pid);
    let window = Duration::from_secs_f64(plan.step_secs);
    let sent = send_step(clients, n, rate, window, seq).await;
    drain(clients, sent, Duration::from_secs(3)).await;
    let (_, cpu1) = usage(pid);
    let step = collect(clients, 0..n, sent);
    quiesce(clients, Duration::from_secs(30)).await;
    let ok =
        step.p99 <= KNEE_P99_MS && step.lost == 0 && step.duplicates == 0 && step.reordered == 0;
    eprintln!(
        "    offered {rate:.0}/s: p99 {:.1} ms, lost {}, dup {}, reordered {} -> {}",
        step.p99,
        step.lost,
        step.duplicates,
        step.reordered,
        if ok { "pass" } else { "fail" }
    );
    let value = json!({
        "offered_per_sec": rate,
        "delivered_per_sec": step.delivered as f64 / plan.step_secs,
        "p99_ms": step.p99,
        "cpu_us_per_delivered": (cpu1 - cpu0) as f64 / ticks_per_sec * 1e6 / step.delivered.max(1) as f64,
    });
    (ok, value)
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

/// `BENCH_SERVERS=miniflare,FastAPI` runs only the servers whose names
/// contain one of the given words; for a quick comparison while developing.
fn chosen(name: &str) -> bool {
    std::env::var("BENCH_SERVERS")
        .map(|v| v.split(',').any(|w| name.contains(w.trim())))
        .unwrap_or(true)
}

async fn suite(smoke: bool) -> Result<(), String> {
    let env_num = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let plan = if smoke {
        Plan {
            sizes: vec![5],
            repeats: 1,
            fanout_secs: 0.5,
            step_secs: 0.5,
            first_rate: 10.0,
            max_rate: 20.0,
            resolution: 2.0,
            max_steps: 2,
        }
    } else {
        Plan {
            sizes: std::env::var("BENCH_SIZES")
                .ok()
                .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                .unwrap_or_else(|| vec![10, 100, 1000]),
            repeats: env_num("BENCH_REPEATS", 3.0) as usize,
            fanout_secs: env_num("BENCH_FANOUT_SECS", 10.0),
            step_secs: env_num("BENCH_STEP_SECS", 2.0),
            first_rate: 10.0,
            // High enough that no server reaches it: a knee found by the
            // cap would only say "at least".
            max_rate: 1_000_000.0,
            resolution: 1.1,
            max_steps: env_num("BENCH_MAX_STEPS", 16.0) as usize,
        }
    };
    let mut runs = Vec::new();
    for &n in &plan.sizes {
        // Interleave: every server once per repeat, so drift hits all alike.
        for repeat in 0..plan.repeats {
            for spec in SERVERS.iter().filter(|s| chosen(s.name)) {
                eprintln!(
                    "bench: {} with {n} clients (repeat {})",
                    spec.name,
                    repeat + 1
                );
                let began = Instant::now();
                let mut r = measure(spec, n, &plan).await?;
                r["wall_secs"] = json!(began.elapsed().as_secs_f64());
                r["repeat"] = json!(repeat);
                eprintln!("  {}", r);
                runs.push(r);
            }
        }
    }
    report(&runs, &plan, smoke)
}

// ---------------------------------------------------------------- report

fn median_spread(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, 0.0);
    }
    values.sort_by(|a, b| a.total_cmp(b));
    (
        values[values.len() / 2],
        values[values.len() - 1] - values[0],
    )
}

fn metric(runs: &[Value], server: &str, n: usize, path: &[&str]) -> (f64, f64) {
    let mut v: Vec<f64> = runs
        .iter()
        .filter(|r| r["server"] == server && r["clients"] == n)
        .filter_map(|r| {
            path.iter()
                .try_fold(r, |acc, k| acc.get(*k))
                .and_then(Value::as_f64)
        })
        .collect();
    median_spread(&mut v)
}

fn report(runs: &[Value], plan: &Plan, smoke: bool) -> Result<(), String> {
    let dir = root().join("bench-results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let wasm = std::fs::read(root().join("build/index_bg.wasm")).unwrap_or_default();
    let gzip = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(root().join("build/index_bg.wasm"))
        .output()
        .map(|o| o.stdout.len())
        .unwrap_or(0);
    let file = if smoke { "smoke.json" } else { "results.json" };
    let doc = json!({"smoke": smoke, "wasm_raw": wasm.len(), "wasm_gzip": gzip, "runs": runs});
    std::fs::write(
        dir.join(file),
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| e.to_string())?;
    if smoke {
        eprintln!(
            "smoke: {} runs, results in bench-results/{file}",
            runs.len()
        );
        return Ok(());
    }
    let ours = SERVERS[0].name;
    let mut md = String::new();
    // The exact command, with any narrowing variables, so the run can be repeated.
    let narrowed: String = [
        "BENCH_SIZES",
        "BENCH_SERVERS",
        "BENCH_REPEATS",
        "BENCH_FANOUT_SECS",
        "BENCH_STEP_SECS",
        "BENCH_MAX_STEPS",
    ]
    .iter()
    .filter_map(|k| Some(format!("{k}={} ", std::env::var(k).ok()?)))
    .collect();
    md.push_str(&format!("# Benchmarks\n\nProduced by `{narrowed}bash scripts/bench.sh` (`--smoke` is CI's seconds-long check).\n\n"));
    md.push_str(&format!("Machine: {}. Servers pinned to core 1, the load generator to core 0 (`taskset`). {} interleaved repeats; each cell is the median, ± the spread (max − min). Our room runs with `RATE_PER_SEC=100000 RATE_BURST=10000 MAX_CONNECTIONS_PER_ROOM=5000` so its limits do not cap the benchmark (at 1,000 per second per connection, the 10-client knee was the limit). Client counts: {}; fan-out {} s at 20 messages/s; saturation steps of {} s.\n\n", machine(), plan.repeats, plan.sizes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", "), plan.fanout_secs, plan.step_secs));
    md.push_str(&format!(
        "`.wasm`: {} bytes raw, {} bytes gzip ({:.1} KiB).\n\n",
        wasm.len(),
        gzip,
        gzip as f64 / 1024.0
    ));
    md.push_str(&targets(runs, wasm.len(), gzip));
    md.push_str("## Ratios (this project under wrangler dev, batch=1 clients, vs each baseline)\n\n| clients | baseline | delivered msgs/s at knee | fan-out p99 (lower is better) | idle bytes/conn (lower is better) |\n|---|---|---|---|---|\n");
    for &n in &plan.sizes {
        let (our_tp, _) = metric(runs, ours, n, &["knee", "delivered_per_sec"]);
        let (our_p99, _) = metric(runs, ours, n, &["fanout", "p99_ms"]);
        let (our_mem, _) = metric(runs, ours, n, &["idle_bytes_per_conn"]);
        for spec in &SERVERS[1..] {
            let (tp, _) = metric(runs, spec.name, n, &["knee", "delivered_per_sec"]);
            let (p99, _) = metric(runs, spec.name, n, &["fanout", "p99_ms"]);
            let (mem, _) = metric(runs, spec.name, n, &["idle_bytes_per_conn"]);
            md.push_str(&format!(
                "| {n} | {} | {:.2}× | {:.2}× | {:.2}× |\n",
                spec.name,
                our_tp / tp,
                our_p99 / p99,
                our_mem / mem
            ));
        }
    }
    md.push_str("\n## Absolute numbers (median ± spread)\n\n| server | clients | knee delivered msgs/s | fan-out p50 / p99 / max ms | join p50 / p99 ms | conn/s | idle bytes/conn | CPU µs per delivered |\n|---|---|---|---|---|---|---|---|\n");
    for &n in &plan.sizes {
        for spec in SERVERS {
            let f = |p: &[&str]| metric(runs, spec.name, n, p);
            let (tp, tps) = f(&["knee", "delivered_per_sec"]);
            md.push_str(&format!(
                "| {} | {n} | {:.0} ± {:.0} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} | {:.0} | {:.0} | {:.1} |\n",
                spec.name, tp, tps, f(&["fanout", "p50_ms"]).0, f(&["fanout", "p99_ms"]).0, f(&["fanout", "max_ms"]).0,
                f(&["join_p50_ms"]).0, f(&["join_p99_ms"]).0, f(&["connections_per_sec"]).0,
                f(&["idle_bytes_per_conn"]).0, f(&["knee", "cpu_us_per_delivered"]).0,
            ));
        }
    }
    md.push_str("\nThe knee is the highest offered rate (all clients sending, doubling steps) at which p99 stayed ≤ 250 ms with no loss, duplicate or reordering. Raw data: `bench-results/results.json`.\n\n![Delivered messages per second and p99 latency against clients](bench-results/chart.svg)\n\n## Servers\n\n");
    for spec in SERVERS {
        md.push_str(&format!("- **{}**: {}\n", spec.name, spec.about));
    }
    std::fs::write(root().join("BENCHMARKS.md"), md).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("chart.svg"), chart(runs, &plan.sizes)).map_err(|e| e.to_string())?;
    eprintln!("wrote BENCHMARKS.md and bench-results/");
    Ok(())
}

/// The targets, each as a like-for-like ratio (dev proxy against dev
/// proxy, Miniflare against Miniflare) and a verdict.
fn targets(runs: &[Value], wasm_raw: usize, gzip: usize) -> String {
    let (ours_dev, ours_mf) = ("edge-chat (wrangler dev)", "edge-chat (miniflare)");
    let (fastapi, js_dev, js_mf) = (
        "FastAPI original",
        "JS Durable Object",
        "JS Durable Object (miniflare)",
    );
    let knee = ["knee", "delivered_per_sec"];
    let p99 = ["fanout", "p99_ms"];
    let mem = ["idle_bytes_per_conn"];
    let mut md = String::from("## Targets (one side-by-side run)\n\n| target | ours | baseline | ratio | met |\n|---|---|---|---|---|\n");
    let mut row = |what: &str,
                   ours: &str,
                   base: &str,
                   n: usize,
                   path: &[&str],
                   higher: bool,
                   need: f64| {
        let (a, _) = metric(runs, ours, n, path);
        let (b, _) = metric(runs, base, n, path);
        let ratio = a / b;
        let met = if higher { ratio >= need } else { ratio <= need };
        md.push_str(&format!(
            "| {what} @ {n} clients, {} {need} | {ours}: {a:.1} | {base}: {b:.1} | {ratio:.2}× | {} |\n",
            if higher { "≥" } else { "≤" },
            if a.is_nan() || b.is_nan() { "not measured" } else if met { "yes" } else { "**no**" }
        ));
    };
    row("knee msgs/s", ours_dev, fastapi, 100, &knee, true, 1.5);
    row("knee msgs/s", ours_mf, fastapi, 100, &knee, true, 1.5);
    row("knee msgs/s", ours_dev, js_dev, 100, &knee, true, 2.0);
    row("knee msgs/s", ours_mf, js_mf, 100, &knee, true, 2.0);
    row("fan-out p99 ms", ours_dev, fastapi, 100, &p99, false, 1.0);
    row("fan-out p99 ms", ours_mf, fastapi, 100, &p99, false, 1.0);
    row("idle bytes/conn", ours_dev, js_dev, 1000, &mem, false, 1.0);
    row("idle bytes/conn", ours_mf, js_mf, 1000, &mem, false, 1.0);
    let faults: u64 = runs
        .iter()
        .filter(|r| r["server"] == ours_dev || r["server"] == ours_mf)
        .map(|r| {
            ["lost", "duplicates", "reordered"]
                .iter()
                .map(|k| r["fanout"][*k].as_u64().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    md.push_str(&format!(
        "| loss + duplicates + reordering, all our runs (the knee itself requires zero) | {faults} | | | {} |\n",
        if faults == 0 { "yes" } else { "**no**" }
    ));
    md.push_str(&format!(
        "| `.wasm` gzip < 150 KiB | {gzip} bytes ({:.1} KiB; raw {wasm_raw}) | 153600 bytes | {:.2}× | {} |\n\n",
        gzip as f64 / 1024.0,
        gzip as f64 / 153_600.0,
        if gzip > 0 && gzip < 153_600 { "yes" } else { "**no**" }
    ));
    md
}

/// Two panels, log-scaled: delivered msgs/s at the knee, and fan-out p99.
fn chart(runs: &[Value], sizes: &[usize]) -> String {
    let colors = [
        "#2f6fed", "#7aa2f7", "#a0c4ff", "#d64545", "#e0a800", "#f2c94c", "#1f9d55",
    ];
    let (w, h, pad) = (420.0, 260.0, 50.0);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">", w * 2.0 + 40.0, h + 40.0 + 20.0 * SERVERS.len() as f64);
    for (panel, (title, path)) in [
        (
            "delivered msgs/s at knee",
            &["knee", "delivered_per_sec"][..],
        ),
        ("fan-out p99 ms", &["fanout", "p99_ms"][..]),
    ]
    .iter()
    .enumerate()
    {
        let x0 = panel as f64 * (w + 40.0);
        let values: Vec<f64> = SERVERS
            .iter()
            .flat_map(|s| sizes.iter().map(|&n| metric(runs, s.name, n, path).0))
            .filter(|v| *v > 0.0)
            .collect();
        let (lo, hi) = values
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
        let (lo, hi) = (
            lo.max(1e-3).log10().floor(),
            hi.max(1e-3)
                .log10()
                .ceil()
                .max(lo.max(1e-3).log10().floor() + 1.0),
        );
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"15\" font-weight=\"bold\">{title} (log scale) vs clients</text>",
            x0 + pad
        ));
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"25\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>",
            x0 + pad,
            w - pad,
            h - 40.0
        ));
        let px = |i: usize| x0 + pad + (i as f64 + 0.5) * (w - pad) / sizes.len() as f64;
        let py = |v: f64| 25.0 + (h - 40.0) * (1.0 - (v.max(1e-3).log10() - lo) / (hi - lo));
        for (i, n) in sizes.iter().enumerate() {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
                px(i),
                h
            ));
        }
        for e in lo as i32..=hi as i32 {
            svg.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{e}</text>",
                x0 + pad - 4.0,
                py(10f64.powi(e)) + 4.0
            ));
        }
        for (s, spec) in SERVERS.iter().enumerate() {
            let pts: Vec<String> = sizes
                .iter()
                .enumerate()
                .filter_map(|(i, &n)| {
                    let v = metric(runs, spec.name, n, path).0;
                    (v > 0.0).then(|| format!("{:.1},{:.1}", px(i), py(v)))
                })
                .collect();
            svg.push_str(&format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
                pts.join(" "),
                colors[s % colors.len()]
            ));
        }
    }
    for (s, spec) in SERVERS.iter().enumerate() {
        let y = h + 20.0 + 18.0 * s as f64;
        svg.push_str(&format!("<rect x=\"50\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"68\" y=\"{}\">{}</text>", y - 10.0, colors[s % colors.len()], y, spec.name));
    }
    svg.push_str("</svg>\n");
    svg
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    // Not available_parallelism: the generator runs pinned to one core.
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}
