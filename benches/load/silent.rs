//! The attack of issue 13 as a benchmark, with the lies of issue 25: `k`
//! sockets that do not read, and one sender that sends 1,900-character
//! messages at a fixed rate (well within what one reader keeps up with) and
//! reads every echo, against our room and the JavaScript Durable Object,
//! both under `wrangler dev`. The server's process tree's RSS is sampled
//! every second. Both rooms get the same bytes.
//!
//! Without flow control every frame for a socket that does not read stays
//! in the runtime's memory, so the JavaScript room grows for as long as the
//! run lasts. Ours believes only proof of reading (see `src/send/flow.rs`):
//! whatever a socket says instead, it should be closed with 1013 at its
//! budget and the room should level off. So the `k` sockets lie in one of
//! four ways ([`Lie`]), one way a series:
//!
//! - `silent`: the handshake, then nothing: never reads, never sends.
//! - `chatter`: a plain socket that reads one frame a second (a trickle)
//!   and says something every 5 s: its own frames are no proof.
//! - `pinger`: asks for marks (`batch=1&receipts=1`), never reads, and
//!   pings every 5 s; the runtime answers the pings without the room.
//! - `claimer`: asks for marks, never reads, and every second claims
//!   everything: alternately the old receipt `{"type":"seen","frames":N}`
//!   with the largest `N` and a receipt with a made-up mark.
//!
//! After the run each liar reads what piled up for it, to the end of its
//! connection if it has one: the series records how many the server closed
//! (a close frame, or the connection's end) and the close codes. The
//! JavaScript room knows no marks and ignores the query; it gets the same
//! sockets, as the baseline without flow control.
//!
//! The sender proves its reading as the page does (it asks for marks and
//! echoes them): a plain socket is presumed to read 32 KiB a second, so one
//! reading every echo would itself be closed within seconds.
//!
//! `load silent [--smoke]`: `BENCH_SILENT_K` (default `3,10`),
//! `BENCH_SILENT_LIES` (default `silent,chatter,pinger,claimer`),
//! `BENCH_SILENT_SECS` (default 60) and `BENCH_SILENT_RATE` (messages a
//! second, default 250: 475 KB/s to each socket) shape the run; every
//! (k, server, lie) gets a server of its own. It writes
//! `bench-results/silent.json` and `bench-results/silent.svg` (a smoke run:
//! below `bench-results/tmp/smoke/`). `BENCH_SERVERS` picks servers as for
//! the suite.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::client::{receipt_for, send_receipt, Sink, Ws};
use crate::servers::{root, usage_of, Server};

/// The two rooms compared. Ours is named for the sender's protocol, the
/// page's (`batch=1`, proving its reading).
const SERVERS: [Server; 2] = [Server::EdgeDev, Server::JsDev];

/// How far the echoes may fall behind before the sender calls the room
/// stuck.
const ECHO_LAG: Duration = Duration::from_secs(10);

/// After the run, a liar whose socket brings nothing for this long has read
/// everything that piled up, and was not closed (a smoke run, which piles
/// up little, waits less).
const QUIET: Duration = Duration::from_secs(2);
const SMOKE_QUIET: Duration = Duration::from_millis(500);

/// What the sockets that do not read do instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Lie {
    #[default]
    Silent,
    Chatter,
    Pinger,
    Claimer,
}

impl Lie {
    const ALL: [Lie; 4] = [Lie::Silent, Lie::Chatter, Lie::Pinger, Lie::Claimer];

    fn name(self) -> &'static str {
        match self {
            Lie::Silent => "silent",
            Lie::Chatter => "chatter",
            Lie::Pinger => "pinger",
            Lie::Claimer => "claimer",
        }
    }

    fn named(name: &str) -> Option<Lie> {
        Lie::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Whether it asks for marks, which it then never echoes.
    fn asks_for_marks(self) -> bool {
        matches!(self, Lie::Pinger | Lie::Claimer)
    }

    /// Whether it reads one frame a second.
    fn trickles(self) -> bool {
        self == Lie::Chatter
    }

    /// What it says in its `i`th second, if anything.
    fn says(self, i: u64) -> Option<String> {
        match self {
            Lie::Silent => None,
            Lie::Chatter => i.is_multiple_of(5).then(|| "still here".to_owned()),
            Lie::Pinger => i.is_multiple_of(5).then(|| r#"{"type":"ping"}"#.to_owned()),
            Lie::Claimer if i.is_multiple_of(2) => {
                Some(format!(r#"{{"type":"seen","frames":{}}}"#, u64::MAX))
            }
            Lie::Claimer => {
                let mark = RandomState::new().hash_one(i);
                Some(format!(r#"{{"type":"seen","mark":"{mark:016x}"}}"#))
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Series {
    server: String,
    /// What the sockets that did not read did; runs before issue 25 were
    /// all silent.
    #[serde(default)]
    lie: Lie,
    /// How many sockets did not read.
    #[serde(alias = "silent")]
    liars: usize,
    secs: f64,
    /// Messages the sender got back.
    messages: u64,
    /// Messages sent.
    sent: u64,
    /// Whether the sender stopped early: its echoes fell more than
    /// [`ECHO_LAG`] behind, or its socket was closed.
    stuck: bool,
    /// How many liars the server closed (a close frame or the connection's
    /// end); `None` in runs before issue 25, which did not look.
    #[serde(default)]
    closed: Option<usize>,
    /// The codes of the close frames among them, ascending.
    #[serde(default)]
    codes: Vec<u16>,
    /// (seconds since the first message, RSS in MiB).
    rss: Vec<(f64, f64)>,
}

/// What one invocation runs.
struct Plan {
    ks: Vec<usize>,
    lies: Vec<Lie>,
    secs: f64,
    rate: f64,
    /// How long a liar waits for more after the run ([`QUIET`]).
    quiet: Duration,
}

impl Plan {
    /// Every lie at toy size, or the plan the `BENCH_SILENT_*` variables
    /// shape.
    fn new(smoke: bool) -> Result<Plan, String> {
        if smoke {
            return Ok(Plan {
                ks: vec![1],
                lies: Lie::ALL.to_vec(),
                secs: 1.0,
                rate: 50.0,
                quiet: SMOKE_QUIET,
            });
        }
        Ok(Plan {
            ks: env_list("BENCH_SILENT_K", vec![3, 10], |k| k.parse().ok())?,
            lies: env_list("BENCH_SILENT_LIES", Lie::ALL.to_vec(), Lie::named)?,
            secs: crate::suite::env_num("BENCH_SILENT_SECS", 60.0),
            rate: crate::suite::env_num("BENCH_SILENT_RATE", 250.0),
            quiet: QUIET,
        })
    }
}

/// The comma-separated items of `key`, each read by `read`, or `default`
/// when it is unset.
fn env_list<T>(
    key: &str,
    default: Vec<T>,
    read: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, String> {
    let Ok(items) = std::env::var(key) else {
        return Ok(default);
    };
    (items.split(','))
        .map(|item| read(item.trim()).ok_or_else(|| format!("{key}: what is {item:?}?")))
        .collect()
}

pub async fn silent(smoke: bool) -> Result<(), String> {
    let plan = Plan::new(smoke)?;
    let mut all = Vec::new();
    for &k in &plan.ks {
        // No sockets tell no lies: one run is the baseline.
        let lies = if k == 0 {
            &[Lie::Silent][..]
        } else {
            &plan.lies
        };
        for &lie in lies {
            for server in SERVERS.into_iter().filter(|s| crate::suite::chosen(*s)) {
                eprintln!(
                    "silent: {} with {k} {} sockets, {}/s for {} s",
                    server.name(),
                    lie.name(),
                    plan.rate,
                    plan.secs
                );
                let series = one(server, lie, k, &plan).await?;
                eprintln!("  {}", summary(&series));
                all.push(series);
            }
        }
    }
    let dir = if smoke {
        root().join("bench-results/tmp/smoke")
    } else {
        root().join("bench-results")
    };
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let json = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("silent.json"), json).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("silent.svg"), chart(&all)).map_err(|e| e.to_string())?;
    println!("{}", table(&all));
    if all.iter().any(|s| s.messages == 0) {
        return Err("a room delivered nothing".into());
    }
    Ok(())
}

async fn one(server: Server, lie: Lie, k: usize, plan: &Plan) -> Result<Series, String> {
    let running = server.start()?;
    let (stop, stopped) = watch::channel(false);
    let mut liars = Vec::new();
    for i in 0..k {
        let ws = connect(running.port, &format!("liar{i}"), lie.asks_for_marks()).await?;
        liars.push(tokio::spawn(liar(ws, lie, stopped.clone(), plan.quiet)));
    }
    let sender = connect(running.port, "sender", true).await?;
    let sampler = Sampler::start(running.pid());
    let sending = send(sender, plan.secs, plan.rate).await;
    let rss = sampler.finish();
    let _ = stop.send(true);
    let mut codes = Vec::new();
    let mut closed = 0;
    for liar in liars {
        if let Ok(Ending::Closed(code)) = liar.await {
            closed += 1;
            codes.extend(code);
        }
    }
    codes.sort_unstable();
    Ok(Series {
        server: server.name().to_owned(),
        lie,
        liars: k,
        secs: plan.secs,
        messages: sending.echoed,
        sent: sending.sent,
        stuck: sending.stuck,
        closed: Some(closed),
        codes,
        rss,
    })
}

/// Joins the room as `id`; `marks` asks for marks. The JavaScript room
/// ignores the query.
async fn connect(port: u16, id: &str, marks: bool) -> Result<Ws, String> {
    let proof = if marks { "&batch=1&receipts=1" } else { "" };
    let url = format!("ws://127.0.0.1:{port}/ws/{id}?room=silent{proof}");
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("{id} connect: {e}"))?;
    Ok(ws)
}

/// What the sender did.
struct Sending {
    sent: u64,
    echoed: u64,
    stuck: bool,
}

/// Sends `rate` messages a second for `secs` on `ws` while reading the
/// echoes, and a second more for the last of them; stops early if they fall
/// more than [`ECHO_LAG`] behind or the socket is closed.
async fn send(ws: Ws, secs: f64, rate: f64) -> Sending {
    let (sink, source) = ws.split();
    let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
    let echoes = Arc::new(AtomicU64::new(0));
    let reader = tokio::spawn(read_echoes(source, Arc::clone(&sink), Arc::clone(&echoes)));
    let started = tokio::time::Instant::now();
    let (mut sent, mut stuck) = (0u64, false);
    let lag = (rate * ECHO_LAG.as_secs_f64()) as u64;
    while started.elapsed().as_secs_f64() < secs && !stuck {
        tokio::time::sleep_until(started + Duration::from_secs_f64(sent as f64 / rate)).await;
        let marker = format!("s|{sent}|");
        let text = format!("{marker}{}", "x".repeat(1900 - marker.len()));
        stuck = sink.lock().await.send(Message::text(text)).await.is_err();
        sent += u64::from(!stuck);
        stuck |= sent > echoes.load(Ordering::Relaxed) + lag;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    reader.abort();
    Sending {
        sent,
        echoed: echoes.load(Ordering::Relaxed),
        stuck,
    }
}

/// Counts the sender's echoes (batched or not) and echoes the room's
/// marks, as the page does.
async fn read_echoes(mut source: SplitStream<Ws>, sink: Sink, echoes: Arc<AtomicU64>) {
    while let Some(Ok(msg)) = source.next().await {
        if let Message::Text(text) = msg {
            match receipt_for(&text) {
                Some(receipt) => send_receipt(Some(&sink), receipt),
                None => {
                    let n = text.matches("s|").count() as u64;
                    echoes.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
    }
}

/// How a liar's connection stood once it had read what piled up.
enum Ending {
    /// Still open: the server never closed it.
    Open,
    /// Closed by the server, with the close frame's code if one came.
    Closed(Option<u16>),
}

/// Tells `lie` on `ws` once a second until `stopped`, then reads what
/// piled up, to the connection's end or until nothing comes for `quiet`.
async fn liar(ws: Ws, lie: Lie, mut stopped: watch::Receiver<bool>, quiet: Duration) -> Ending {
    let (mut sink, mut stream) = ws.split();
    let lying = async {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut i = 0u64;
        loop {
            every.tick().await;
            if let Some(text) = lie.says(i) {
                let _ = sink.send(Message::text(text)).await;
            }
            if lie.trickles() {
                if let Some(end) = ending(stream.next().await) {
                    return end;
                }
            }
            i += 1;
        }
    };
    tokio::select! {
        end = lying => return end,
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    loop {
        match tokio::time::timeout(quiet, stream.next()).await {
            Err(_) => return Ending::Open,
            Ok(frame) => {
                if let Some(end) = ending(frame) {
                    return end;
                }
            }
        }
    }
}

/// How the connection ended, if `frame` (the next read) ends it.
fn ending(frame: Option<Result<Message, tungstenite::Error>>) -> Option<Ending> {
    match frame {
        Some(Ok(Message::Close(close))) => Some(Ending::Closed(close.map(|c| c.code.into()))),
        Some(Ok(_)) => None,
        _ => Some(Ending::Closed(None)),
    }
}

/// The server tree's RSS, sampled once a second on a thread of its own.
struct Sampler {
    samples: Arc<Mutex<Vec<(f64, f64)>>>,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let thread = sample(pid, Arc::clone(&samples), Arc::clone(&done));
        Sampler {
            samples,
            done,
            thread,
        }
    }

    /// (seconds since the start, RSS in MiB), every sample.
    fn finish(self) -> Vec<(f64, f64)> {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Samples the tree's RSS once a second until `done`.
fn sample(
    pid: u32,
    into: Arc<Mutex<Vec<(f64, f64)>>>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        while !done.load(Ordering::Relaxed) {
            if let Some(rss) = usage_of(pid).rss {
                let mib = rss as f64 / (1024.0 * 1024.0);
                if let Ok(mut v) = into.lock() {
                    v.push((started.elapsed().as_secs_f64(), mib));
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// The chart and table again from a `silent.json` (several runs' series may
/// be joined into one), written beside it as `silent.svg`.
pub fn rerender(json: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(json).map_err(|e| format!("{json}: {e}"))?;
    let all: Vec<Series> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let svg = std::path::Path::new(json).with_extension("svg");
    std::fs::write(&svg, chart(&all)).map_err(|e| e.to_string())?;
    println!("{}", table(&all));
    Ok(())
}

fn first_and_last_rss(s: &Series) -> (f64, f64) {
    let at = |p: Option<&(f64, f64)>| p.map_or(0.0, |p| p.1);
    (at(s.rss.first()), at(s.rss.last()))
}

/// How many liars the server closed, and how: `3 of 3 (1013 ×3)`.
fn closed_cell(s: &Series) -> String {
    let Some(closed) = s.closed else {
        return "not counted".into();
    };
    let mut how: Vec<String> = (s.codes.chunk_by(|a, b| a == b))
        .map(|run| format!("{} ×{}", run[0], run.len()))
        .collect();
    let frameless = closed.saturating_sub(s.codes.len());
    if frameless > 0 {
        how.push(format!("no close frame ×{frameless}"));
    }
    if how.is_empty() {
        return format!("{closed} of {}", s.liars);
    }
    format!("{closed} of {} ({})", s.liars, how.join(", "))
}

/// One series in a line, for the log.
fn summary(s: &Series) -> String {
    let (first, last) = first_and_last_rss(s);
    let stuck = if s.stuck { " (stopped early)" } else { "" };
    format!(
        "{} of {} messages echoed{stuck}; RSS {first:.0} MiB at start, {last:.0} MiB at the end; closed {}",
        s.messages,
        s.sent,
        closed_cell(s)
    )
}

/// A Markdown table: RSS at the start, every 10 s and at the end.
fn table(all: &[Series]) -> String {
    let mut md = String::from("| server | lie | sockets | closed | sent | echoed | RSS MiB: start → every 10 s → end |\n|---|---|---|---|---|---|---|\n");
    for s in all {
        let points: Vec<String> = (s.rss.iter().enumerate())
            .filter(|(i, _)| i % 10 == 0 || *i + 1 == s.rss.len())
            .map(|(_, p)| format!("{:.0}", p.1))
            .collect();
        let stuck = if s.stuck { " (stuck)" } else { "" };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}{stuck} | {} |\n",
            s.server,
            s.lie.name(),
            s.liars,
            closed_cell(s),
            s.sent,
            s.messages,
            points.join(" → ")
        ));
    }
    md
}

/// Ours in blues, the JavaScript room in reds, a shade for each lie.
fn color(s: &Series) -> &'static str {
    const OURS: [&str; 4] = ["#1f77b4", "#17becf", "#393b79", "#9467bd"];
    const JS: [&str; 4] = ["#d62728", "#ff7f0e", "#8c564b", "#e377c2"];
    let shades = if s.server.starts_with("edge-chat") {
        OURS
    } else {
        JS
    };
    shades[s.lie as usize]
}

/// RSS against time, one line per (server, lie, k), coloured by [`color`];
/// the more liars, the longer the dashes (the fewest: solid). The legend
/// stands right of the plot.
fn chart(all: &[Series]) -> String {
    let (w, h, x0, y0) = (640.0, 320.0, 50.0, 20.0);
    let height = f64::max(h, y0 + 24.0 + 14.0 * all.len() as f64);
    let max_t = (all.iter())
        .flat_map(|s| s.rss.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let samples = || all.iter().flat_map(|s| s.rss.iter().map(|p| p.1));
    let max_m = samples().fold(1.0, f64::max) * 1.05;
    // The runtime alone is hundreds of MiB: the axis starts near the
    // lowest sample so growth shows.
    let min_m = (samples().fold(max_m, f64::min) / 50.0).floor() * 50.0;
    let px = |t: f64| x0 + (w - x0 - 10.0) * t / max_t;
    let py = |m: f64| y0 + (h - y0 - 30.0) * (1.0 - (m - min_m) / (max_m - min_m));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{x0}\" y=\"12\">RSS (MiB) of the server's processes against seconds, with sockets that never read and lie as named</text>",
        w + 300.0
    );
    for i in 0..=4 {
        let m = min_m + (max_m - min_m) * i as f64 / 4.0;
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{m:.0}</text>",
            x0 - 4.0,
            py(m) + 4.0
        ));
        let t = max_t * i as f64 / 4.0;
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{t:.0}</text>",
            px(t),
            h - 12.0
        ));
    }
    let mut ks: Vec<usize> = all.iter().map(|s| s.liars).collect();
    ks.sort_unstable();
    ks.dedup();
    for (i, s) in all.iter().enumerate() {
        let color = color(s);
        let dash = match ks.iter().position(|&k| k == s.liars).unwrap_or(0) {
            0 => String::new(),
            n => format!(" stroke-dasharray=\"{} 3\"", 3 * n),
        };
        let pts: Vec<String> = (s.rss.iter())
            .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
            .collect();
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>",
            pts.join(" ")
        ));
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{}, {} {}</text>",
            w + 10.0,
            y0 + 16.0 + 14.0 * i as f64,
            s.server,
            s.liars,
            s.lie.name()
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
