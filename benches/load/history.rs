//! The history bench of issue 27: a room that keeps a million messages,
//! against one that keeps a hundred, in the real runtime (Miniflare).
//!
//! Three phases, in one run:
//! 1. The `batch=1` knee of a fresh 100-message room of this build, whose
//!    half is the load every later measurement runs under.
//! 2. One room per size (100 to 1,000,000 messages), each filled through
//!    sockets in a server that persists its SQLite, then measured while
//!    its 100 clients chat at half the knee: join (a fresh socket until its
//!    `history` frame), a scrollback page of 50 (`older` with a random
//!    `before`) and a search for a rare and a common word. A room per size,
//!    not one room grown: the load itself stores thousands of messages a
//!    second, which would leave no room of 100 or 10,000 to measure. Then,
//!    the server stopped, the largest room's file is measured with and
//!    without its search index (python3's sqlite3, on a copy).
//! 3. The knee at 100 clients side by side, interleaved repeat by repeat:
//!    the million-message room, a fresh 100-message room of the build in
//!    `BENCH_COMPARE_BUILD` (if set) and a fresh 100-message room of this
//!    build.
//!
//! Writes `bench-results/bigroom.json` and `bigroom.md` (a smoke or
//! narrowed run writes below `bench-results/tmp/`). `BENCH_HISTORY_SIZES`
//! and `BENCH_HISTORY_REPEATS` narrow it, `BENCH_HISTORY_RATE` sets the load
//! (messages/s offered) instead of measuring a knee first, and
//! `BENCH_HISTORY_KEEP_STATE=1` leaves the rooms' files in the temporary
//! directory afterwards; `BENCH_HISTORY_ROOMS=<that directory>` then runs
//! the knees alone on them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{batch_query, collect, connect_many, drain, percentile, send_step, Client, Ws};
use crate::report;
use crate::results::Saturation;
use crate::servers::{compare_build, Running, Server};
use crate::suite::{env_num, saturate, Plan};

/// In one message in 10,000: a handful of hits even at a million.
const RARE: &str = "quokka";
/// In one message in five: 200,000 hits at a million.
const COMMON: &str = "deploy";

/// Sockets that fill a room; each keeps this many messages unacknowledged.
const FILLERS: usize = 4;
const FILL_WINDOW: u64 = 512;

/// The vars every server of this bench gets on top of the benchmark's
/// (benches/baselines/workers.mjs): a million messages must all be kept.
const RETAIN: &str = r#"{"HISTORY_RETAIN_MESSAGES":"10000000"}"#;

struct HistoryPlan {
    smoke: bool,
    sizes: Vec<u64>,
    clients: usize,
    joins: usize,
    probes: usize,
    repeats: usize,
    /// The load's offered rate, when not half the knee measured first.
    rate: Option<f64>,
    knee: Plan,
}

impl HistoryPlan {
    fn new(smoke: bool) -> HistoryPlan {
        if smoke {
            return HistoryPlan {
                smoke,
                sizes: vec![100, 1_000],
                clients: 5,
                joins: 10,
                probes: 10,
                repeats: 1,
                rate: None,
                knee: Plan::smoke(),
            };
        }
        HistoryPlan {
            smoke,
            sizes: std::env::var("BENCH_HISTORY_SIZES")
                .ok()
                .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                .unwrap_or_else(|| vec![100, 10_000, 100_000, 1_000_000]),
            clients: 100,
            joins: 200,
            probes: 300,
            repeats: env_num("BENCH_HISTORY_REPEATS", 3.0) as usize,
            rate: std::env::var("BENCH_HISTORY_RATE")
                .ok()
                .and_then(|r| r.parse().ok()),
            knee: Plan::from_env(),
        }
    }

    fn narrowed(&self) -> bool {
        [
            "BENCH_HISTORY_SIZES",
            "BENCH_HISTORY_REPEATS",
            "BENCH_HISTORY_RATE",
            "BENCH_HISTORY_ROOMS",
        ]
        .iter()
        .any(|k| std::env::var_os(k).is_some())
    }
}

pub async fn history(smoke: bool) -> Result<(), String> {
    let plan = HistoryPlan::new(smoke);
    let began = Instant::now();
    let small = *plan.sizes.first().ok_or("no sizes")?;
    let big = *plan.sizes.last().ok_or("no sizes")?;
    let mut knees = Vec::new();

    // BENCH_HISTORY_RATE sets the load instead: to see what the load
    // costs apart from the room's size.
    // BENCH_HISTORY_ROOMS: only the knees, on the rooms a run kept there
    // (BENCH_HISTORY_KEEP_STATE), for when the knees need a quieter moment
    // than the run had.
    let reuse = std::env::var_os("BENCH_HISTORY_ROOMS").map(PathBuf::from);
    let half = if let Some(rate) = plan.rate {
        rate
    } else if reuse.is_some() {
        0.0
    } else {
        eprintln!("history: the knee of a fresh {small}-message room, for the load");
        let first = knee_run(Server::EdgeMiniflare, None, small, &plan, 0).await?;
        let knee = first["knee_offered_per_s"].as_f64();
        knees.push(first);
        knee.ok_or("no knee in a fresh room")? / 2.0
    };

    let state = reuse.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("edge-chat-history-{}", std::process::id()))
    });
    let mut sizes = Vec::new();
    let mut storage = Value::Null;
    if reuse.is_none() {
        let _ = std::fs::remove_dir_all(&state);
        let running = Server::EdgeMiniflare.start_with(&env(Some(&state)))?;
        for &n in &plan.sizes {
            let room = room_name(n);
            let filled = fill(running.port, &room, n).await?;
            eprintln!(
                "history: {room} filled with {n} in {:.1} s ({:.0}/s)",
                filled.secs,
                n as f64 / filled.secs
            );
            let mut m = measure_room(&running, &room, half, &plan).await?;
            m["size"] = json!(n);
            m["fill_secs"] = json!(filled.secs);
            sizes.push(m);
        }
        drop(running);
        storage = measure_storage(&state, big).unwrap_or_else(|e| json!({ "error": e }));
        eprintln!("history: storage {storage}");
    }

    let doc = |knees: &[Value]| {
        let (wasm_raw, wasm_gzip) = report::wasm_size();
        json!({
            "smoke": smoke,
            "command": command_line(&plan),
            "date": report::date(),
            "machine": report::machine(),
            "wasm_raw": wasm_raw,
            "wasm_gzip": wasm_gzip,
            "compare_build": compare_build().map(|b| b.display().to_string()),
            "clients": plan.clients,
            "load_offered_per_s": half,
            "load_is_half_knee": plan.rate.is_none(),
            "sizes": sizes,
            "storage": storage,
            "knees": knees,
            "wall_secs": began.elapsed().as_secs_f64(),
        })
    };
    // The sizes took the longest: written now, they outlive a failed knee.
    write(&doc(&knees), &plan)?;

    for repeat in 0..plan.repeats {
        let mut side_by_side = vec![(Server::EdgeMiniflare, Some(state.as_path()), big, repeat)];
        if compare_build().is_some() {
            side_by_side.push((Server::EdgeBase, None, small, repeat));
        }
        side_by_side.push((Server::EdgeMiniflare, None, small, repeat + 1));
        for (server, persist, size, r) in side_by_side {
            match knee_run(server, persist, size, &plan, r).await {
                Ok(k) => knees.push(k),
                Err(e) => {
                    eprintln!("    knee failed: {e}");
                    knees.push(json!({ "label": server.name(), "size": size, "error": e }));
                }
            }
        }
    }
    // To look into the rooms after a run (query plans, sizes).
    if reuse.is_some() || std::env::var_os("BENCH_HISTORY_KEEP_STATE").is_some() {
        eprintln!("history: rooms kept in {}", state.display());
    } else {
        let _ = std::fs::remove_dir_all(&state);
    }

    write(&doc(&knees), &plan)
}

/// The extra vars, and the directory a server keeps its rooms in (none: a
/// fresh room, gone when the server stops).
fn env(persist: Option<&Path>) -> Vec<(&'static str, String)> {
    let mut env = vec![("BENCH_MINIFLARE_VARS", RETAIN.to_owned())];
    if let Some(dir) = persist {
        env.push(("BENCH_MINIFLARE_PERSIST", dir.display().to_string()));
    }
    env
}

fn room_name(size: u64) -> String {
    format!("h{size}")
}

/// One knee at `plan.clients` clients: a fresh room filled with `size`
/// messages, or with `persist` the room of that size kept there.
async fn knee_run(
    server: Server,
    persist: Option<&Path>,
    size: u64,
    plan: &HistoryPlan,
    repeat: usize,
) -> Result<Value, String> {
    let load_before = loadavg();
    let label = format!(
        "{} holding {size}{}",
        server.name(),
        if persist.is_some() { " (kept)" } else { "" }
    );
    eprintln!("history: knee of {label}, repeat {}", repeat + 1);
    let running = server.start_with(&env(persist))?;
    let room = room_name(size);
    if persist.is_none() {
        fill(running.port, &room, size).await?;
    }
    // The first join opens the room: after a restart, its whole file.
    let opened = join_once(running.port, &room, "opener").await?;
    let receipts = server.takes_receipts();
    let mut clients = connect_many(running.port, &room, plan.clients, receipts).await?;
    let mut seq = 0;
    let sat: Saturation = saturate(&mut clients, &running, &plan.knee, &mut seq).await;
    let knee = sat.knee.as_ref();
    Ok(json!({
        "label": label,
        "server": server.name(),
        "size": size,
        "repeat": repeat,
        "kept_at_start": opened.latest_seq,
        "opened_ms": opened.us as f64 / 1000.0,
        "knee_offered_per_s": knee.map(|k| k.offered_per_s),
        "knee_delivered_per_s": knee.and_then(|k| k.delivered_per_s),
        "knee_p99_ms": knee.and_then(|k| k.received.p99_ms),
        "bracket": sat.bracket,
        "converged": sat.converged,
        "steps": sat.steps.len(),
        "loadavg": [load_before, loadavg()],
    }))
}

struct Filled {
    secs: f64,
}

/// Message `i`'s text: eight to fourteen words of a 4,096-word vocabulary,
/// skewed so some are everywhere and most are seldom, plus the rare and the
/// common word at fixed intervals and now and then a link.
pub fn text(i: u64) -> String {
    const SYL: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "sa", "do", "fu", "gi", "ha", "ju",
        "be",
    ];
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let words = 8 + next() % 7;
    let mut out = Vec::with_capacity(words as usize + 3);
    for _ in 0..words {
        // The square of a uniform draw: low indexes far more often.
        let u = (next() % 4096) as f64 / 4096.0;
        let k = (u * u * 4096.0) as usize;
        out.push(format!(
            "{}{}{}",
            SYL[k % 16],
            SYL[(k / 16) % 16],
            SYL[k / 256]
        ));
    }
    if i.is_multiple_of(5) {
        out.insert(out.len() / 2, COMMON.to_owned());
    }
    if i % 10_000 == 7 {
        out.push(RARE.to_owned());
    }
    if i % 50 == 3 {
        out.push(format!("https://example.com/p/{i}"));
    }
    out.join(" ")
}

/// Fills `room` with `n` messages from [`FILLERS`] sockets, each keeping
/// at most [`FILL_WINDOW`] unacknowledged (`clientMsgId` brings an `ack`
/// per message), so the room is never offered more than it can take.
async fn fill(port: u16, room: &str, n: u64) -> Result<Filled, String> {
    let began = Instant::now();
    let tasks = (0..FILLERS as u64).map(|k| {
        let room = room.to_owned();
        tokio::spawn(async move {
            let share: Vec<u64> = (0..n).filter(|i| i % FILLERS as u64 == k).collect();
            fill_socket(port, &room, k, share).await
        })
    });
    for t in futures_util::future::join_all(tasks).await {
        t.map_err(|e| e.to_string())??;
    }
    Ok(Filled {
        secs: began.elapsed().as_secs_f64(),
    })
}

async fn fill_socket(port: u16, room: &str, k: u64, share: Vec<u64>) -> Result<(), String> {
    let id = format!("fill{k}");
    let url = format!("ws://127.0.0.1:{port}/ws/{id}{}", batch_query(room));
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .map_err(|e| format!("filler connect: {e}"))?;
    let (mut sink, mut source) = ws.split();
    let acked = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(tokio::sync::Notify::new());
    let reader = {
        let (acked, notify) = (Arc::clone(&acked), Arc::clone(&notify));
        tokio::spawn(async move {
            while let Some(Ok(msg)) = source.next().await {
                if let Message::Text(t) = msg {
                    let acks = t.matches(r#""type":"ack""#).count() as u64;
                    if acks > 0 {
                        acked.fetch_add(acks, Ordering::Relaxed);
                        notify.notify_one();
                    }
                }
            }
            notify.notify_one();
        })
    };
    let total = share.len() as u64;
    let mut sent = 0u64;
    let mut rest = share.into_iter();
    while sent < total {
        let room_left = FILL_WINDOW.saturating_sub(sent - acked.load(Ordering::Relaxed));
        if room_left == 0 {
            if tokio::time::timeout(Duration::from_secs(10), notify.notified())
                .await
                .is_err()
                || reader.is_finished()
            {
                return Err(format!("filler {id}: no ack for 10 s at {sent} sent"));
            }
            continue;
        }
        for i in rest.by_ref().take(room_left.min(64) as usize) {
            let frame =
                json!({"type": "message", "message": text(i), "clientMsgId": format!("f{i}")});
            sink.feed(Message::text(frame.to_string()))
                .await
                .map_err(|e| format!("filler send: {e}"))?;
            sent += 1;
        }
        sink.flush()
            .await
            .map_err(|e| format!("filler flush: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        let _ = tokio::time::timeout(Duration::from_millis(200), notify.notified()).await;
    }
    reader.abort();
    Ok(())
}

struct JoinTime {
    us: u64,
    latest_seq: Option<u64>,
}

/// A fresh socket, from before its connect to its `history` frame.
async fn join_once(port: u16, room: &str, id: &str) -> Result<JoinTime, String> {
    let url = format!("ws://127.0.0.1:{port}/ws/{id}{}", batch_query(room));
    let started = Instant::now();
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .map_err(|_| "join timed out".to_owned())?
    .map_err(|e| format!("join: {e}"))?;
    let deadline = Duration::from_secs(30);
    loop {
        let msg = tokio::time::timeout(deadline, ws.next())
            .await
            .map_err(|_| "no history in 30 s".to_owned())?
            .ok_or("closed before history")?
            .map_err(|e| e.to_string())?;
        let Message::Text(t) = msg else { continue };
        if let Some(h) = find_frame(&t, "history") {
            let us = started.elapsed().as_micros() as u64;
            let _ = ws.close(None).await;
            return Ok(JoinTime {
                us,
                latest_seq: h["latestSeq"].as_u64(),
            });
        }
    }
}

/// The frame of `kind` in `text`, alone or inside a `batch`; the cheap
/// substring test spares parsing the chat that streams past.
fn find_frame(text: &str, kind: &str) -> Option<Value> {
    if !text.contains(&format!(r#""type":"{kind}""#)) {
        return None;
    }
    let v: Value = serde_json::from_str(text).ok()?;
    if v["type"] == kind {
        return Some(v);
    }
    v["frames"]
        .as_array()?
        .iter()
        .find(|f| f["type"] == kind)
        .cloned()
}

/// What one kind of request measured: sorted µs, the hits (messages) of
/// the answers, and failures (errors, timeouts).
#[derive(Default)]
struct Probe {
    us: Vec<u64>,
    hits: Vec<usize>,
    failed: usize,
}

impl Probe {
    fn summary(mut self) -> Value {
        self.us.sort_unstable();
        self.hits.sort_unstable();
        json!({
            "n": self.us.len(),
            "p50_ms": percentile(&self.us, 0.5),
            "p99_ms": percentile(&self.us, 0.99),
            "max_ms": percentile(&self.us, 1.0),
            "median_hits": self.hits.get(self.hits.len() / 2),
            "failed": self.failed,
        })
    }
}

/// Joins, pages and searches in `room`, first with its clients connected
/// but quiet (what the room's size costs alone), then while they chat at
/// `rate` (what the issue asks for).
async fn measure_room(
    running: &Running,
    room: &str,
    rate: f64,
    plan: &HistoryPlan,
) -> Result<Value, String> {
    let port = running.port;
    let load_before = loadavg();
    let receipts = Server::EdgeMiniflare.takes_receipts();
    let mut clients = connect_many(port, room, plan.clients, receipts).await?;
    let idle = probe_all(port, room, plan, "idle").await?;
    log_probes("quiet", &idle);
    let stop = AtomicBool::new(false);
    let probes = async {
        let r = probe_all(port, room, plan, "loaded").await;
        stop.store(true, Ordering::Relaxed);
        r
    };
    let (load, probed) = tokio::join!(load_until(&mut clients, rate, &stop), probes);
    let mut loaded = probed?;
    loaded["load"] = load;
    log_probes("loaded", &loaded);
    Ok(json!({ "idle": idle, "loaded": loaded, "loadavg": [load_before, loadavg()] }))
}

/// The machine's 1-minute load average: this machine is shared, and a
/// neighbour's work shows in every number here; with ours alone it stays
/// near 2.
fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Chats at `rate` in two-second steps until `stop`; the steps' delivery
/// p99s and losses say whether the room kept up while it was probed.
async fn load_until(clients: &mut [Client], rate: f64, stop: &AtomicBool) -> Value {
    let n = clients.len();
    let mut seq = 0;
    let (mut delivered, mut lost, mut steps) = (0u64, 0u64, 0usize);
    let mut p99s = Vec::new();
    let mut achieved = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let sent = send_step(clients, n, rate, Duration::from_secs(2), &mut seq).await;
        drain(clients, sent.sent, Duration::from_secs(2)).await;
        let (got, _) = collect(clients, 0..n, sent.scheduled);
        delivered += got.delivered;
        lost += got.lost;
        steps += 1;
        p99s.extend(got.p99_ms);
        achieved.extend(sent.achieved_per_s());
    }
    p99s.sort_by(f64::total_cmp);
    json!({
        "offered_per_s": rate,
        "steps": steps,
        "delivered": delivered,
        "lost": lost,
        "worst_step_p99_ms": p99s.last(),
        "median_step_p99_ms": p99s.get(p99s.len() / 2),
        "min_achieved_send_per_s": achieved.iter().copied().reduce(f64::min),
    })
}

async fn probe_all(port: u16, room: &str, plan: &HistoryPlan, tag: &str) -> Result<Value, String> {
    // Joins first: the load stores messages, and joins are what the room's
    // size is compared on.
    let mut joins = Probe::default();
    let mut kept_at_start = None;
    for k in 0..plan.joins {
        match join_once(port, room, &format!("{tag}{k}")).await {
            Ok(j) => {
                joins.us.push(j.us);
                kept_at_start = kept_at_start.or(j.latest_seq);
            }
            Err(e) => {
                eprintln!("    join failed: {e}");
                joins.failed += 1;
            }
        }
    }
    let latest = kept_at_start.unwrap_or(1);
    let mut asker = Asker::connect(port, room, tag).await?;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut older = Probe::default();
    for _ in 0..plan.probes {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let before = 2 + rng % latest.max(1);
        asker
            .ask(
                json!({"type": "older", "before": before, "limit": 50}),
                "older",
                &mut older,
            )
            .await;
    }
    let mut rare = Probe::default();
    let mut common = Probe::default();
    for _ in 0..plan.probes {
        for (word, probe) in [(RARE, &mut rare), (COMMON, &mut common)] {
            asker
                .ask(
                    json!({"type": "search", "q": word, "limit": 50}),
                    "search",
                    probe,
                )
                .await;
        }
    }
    // The load stored messages meanwhile: how many the room held at the end.
    let kept_at_end = join_once(port, room, &format!("{tag}-end"))
        .await
        .ok()
        .and_then(|j| j.latest_seq);
    Ok(json!({
        "kept_at_start": kept_at_start,
        "kept_at_end": kept_at_end,
        "join": joins.summary(),
        "older": older.summary(),
        "search_rare": rare.summary(),
        "search_common": common.summary(),
    }))
}

/// A `batch=1` socket that asks the room one thing at a time and times the
/// answer, as the page's scrollback and search box do.
struct Asker {
    ws: Ws,
}

impl Asker {
    async fn connect(port: u16, room: &str, tag: &str) -> Result<Asker, String> {
        let url = format!("ws://127.0.0.1:{port}/ws/asker-{tag}{}", batch_query(room));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|e| format!("asker connect: {e}"))?;
        Ok(Asker { ws })
    }

    async fn ask(&mut self, frame: Value, kind: &str, probe: &mut Probe) {
        let started = Instant::now();
        if self
            .ws
            .send(Message::text(frame.to_string()))
            .await
            .is_err()
        {
            probe.failed += 1;
            return;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                probe.failed += 1;
                return;
            };
            let Message::Text(t) = msg else { continue };
            if let Some(answer) = find_frame(&t, kind) {
                probe.us.push(started.elapsed().as_micros() as u64);
                probe
                    .hits
                    .push(answer["messages"].as_array().map_or(0, Vec::len));
                return;
            }
            if let Some(err) = find_frame(&t, "error") {
                eprintln!("    {kind} refused: {}", err["message"]);
                probe.failed += 1;
                return;
            }
        }
    }
}

fn log_probes(what: &str, m: &Value) {
    let ms = |k: &str, p: &str| report::ms(m[k][p].as_f64());
    eprintln!(
        "  {what} (kept {} to {}): join {}/{}, older {}/{}, rare {}/{}, common {}/{}; load lost {}, worst p99 {}",
        m["kept_at_start"],
        m["kept_at_end"],
        ms("join", "p50_ms"),
        ms("join", "p99_ms"),
        ms("older", "p50_ms"),
        ms("older", "p99_ms"),
        ms("search_rare", "p50_ms"),
        ms("search_rare", "p99_ms"),
        ms("search_common", "p50_ms"),
        ms("search_common", "p99_ms"),
        m["load"]["lost"],
        report::ms(m["load"]["worst_step_p99_ms"].as_f64()),
    );
}

/// Python's sqlite3 on a copy of the largest room's file (the runtime
/// stopped): its size as left, checkpointed, vacuumed, and vacuumed
/// without the search index; the kept count; and the query plans of
/// scrollback and search.
const STORAGE_PY: &str = r#"
import json, os, shutil, sqlite3, sys, tempfile, time
def rows(path):
    try:
        c = sqlite3.connect("file:" + path + "?mode=ro", uri=True)
        n = c.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        c.close()
        return n
    except sqlite3.Error:
        return -1
# The runtime keeps other files beside the rooms': the room is the file
# with the most messages.
src = max(sys.argv[1:], key=rows)
def size(p):
    return sum(os.path.getsize(p + s) for s in ("", "-wal") if os.path.exists(p + s))
out = {"file": src, "as_left_bytes": size(src)}
tmp = tempfile.mkdtemp()
db = os.path.join(tmp, "room.sqlite")
for s in ("", "-wal", "-shm"):
    if os.path.exists(src + s):
        shutil.copy(src + s, db + s)
con = sqlite3.connect(db, isolation_level=None)
con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
out["checkpointed_bytes"] = size(db)
out["kept"] = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
out["body_bytes"] = con.execute("SELECT SUM(LENGTH(CAST(body AS BLOB))) FROM messages").fetchone()[0]
cols = "m.seq, m.ts, m.client_id, m.name, m.body, m.client_msg_id, m.rev, m.changed_ts, m.deleted"
search = ("SELECT " + cols + " FROM messages_fts JOIN messages AS m ON m.seq = messages_fts.rowid "
          "WHERE messages_fts MATCH ? AND messages_fts.rowid < ? AND m.deleted = 0 "
          "ORDER BY messages_fts.rowid DESC LIMIT ?")
older = ("SELECT * FROM (SELECT seq, ts, client_id, name, body, client_msg_id, rev, changed_ts, deleted "
         "FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?) ORDER BY seq")
out["plans"] = {}
out["python_ms"] = {}
for name, sql, args in (("search_rare", search, ('"quokka"', 2**53 - 1, 50)),
                        ("search_common", search, ('"deploy"', 2**53 - 1, 50)),
                        ("older", older, (out["kept"] // 2, 50))):
    try:
        out["plans"][name] = [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, args)]
        t = time.perf_counter()
        for _ in range(20):
            con.execute(sql, args).fetchall()
        out["python_ms"][name] = (time.perf_counter() - t) / 20 * 1000
    except sqlite3.Error as e:
        out["plans"][name] = str(e)
try:
    out["tables"] = {n: b for n, b in con.execute(
        "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")}
except sqlite3.Error as e:
    out["tables"] = str(e)
# VACUUM in WAL mode leaves the rewritten pages in the -wal file.
con.execute("PRAGMA journal_mode=DELETE")
con.execute("VACUUM")
out["vacuumed_bytes"] = size(db)
try:
    con.execute("DROP TABLE messages_fts")
    con.execute("VACUUM")
    out["vacuumed_without_index_bytes"] = size(db)
except sqlite3.Error as e:
    out["without_index_error"] = str(e)
con.close()
shutil.rmtree(tmp)
print(json.dumps(out))
"#;

/// The room of `size` messages below `dir`: the `.sqlite` with the most.
fn measure_storage(dir: &Path, size: u64) -> Result<Value, String> {
    let files = sqlite_files(dir);
    if files.is_empty() {
        return Err(format!("no .sqlite below {}", dir.display()));
    }
    let out = Command::new("python3")
        .args(["-c", STORAGE_PY])
        .args(&files)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let kept = v["kept"].as_f64().filter(|k| *k > 0.0);
    for k in [
        "checkpointed_bytes",
        "vacuumed_bytes",
        "vacuumed_without_index_bytes",
    ] {
        let per = v[k].as_f64().zip(kept).map(|(b, n)| b / n);
        v[format!("{k}_per_message")] = json!(per);
    }
    v["room_size"] = json!(size);
    Ok(v)
}

fn sqlite_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(sqlite_files(&p));
        } else if p.extension().is_some_and(|x| x == "sqlite") {
            found.push(p);
        }
    }
    found
}

fn command_line(plan: &HistoryPlan) -> String {
    let vars: String = [
        "BENCH_HISTORY_SIZES",
        "BENCH_HISTORY_REPEATS",
        "BENCH_HISTORY_RATE",
        "BENCH_HISTORY_ROOMS",
        "BENCH_COMPARE_BUILD",
        "BENCH_RECEIPTS",
    ]
    .iter()
    .filter_map(|k| Some(format!("{k}={:?} ", std::env::var(k).ok()?)))
    .collect();
    if plan.smoke {
        "bash scripts/bench.sh --smoke".to_owned()
    } else {
        format!("{vars}bash scripts/bench.sh history")
    }
}

fn write(doc: &Value, plan: &HistoryPlan) -> Result<(), String> {
    let below = if plan.smoke {
        "tmp/smoke"
    } else if plan.narrowed() {
        "tmp/run"
    } else {
        ""
    };
    report::write_mode("bigroom", below, doc, &markdown(doc))
}

/// The tables of bigroom.md, from the run's document.
fn markdown(doc: &Value) -> String {
    let ms = |v: &Value| report::ms(v.as_f64());
    let mut md = format!(
        "# History at a million messages\n\n`{}`, {}, {}.\n\nEvery size is a room filled \
         through sockets, measured with its {} `batch=1` clients connected: quiet, then \
         chatting at {:.0} messages/s offered ({}). Latencies from send (or connect) to answer, as the load generator saw \
         them.\n\n\
         | room | clients | kept, start to end | join p50 / p99 | page of 50 p50 / p99 | rare search p50 / p99 (hits) | common search p50 / p99 | load: lost, worst step p99 |\n\
         |---|---|---|---|---|---|---|---|\n",
        doc["command"].as_str().unwrap_or(""),
        doc["date"].as_str().unwrap_or(""),
        doc["machine"].as_str().unwrap_or(""),
        doc["clients"],
        doc["load_offered_per_s"].as_f64().unwrap_or(0.0),
        if doc["load_is_half_knee"] == true {
            "half the knee of a fresh 100-message room in this run"
        } else {
            "set by BENCH_HISTORY_RATE"
        },
    );
    for s in doc["sizes"].as_array().into_iter().flatten() {
        for (when, m) in [("quiet", &s["idle"]), ("chatting", &s["loaded"])] {
            let pair = |k: &str| format!("{} / {}", ms(&m[k]["p50_ms"]), ms(&m[k]["p99_ms"]));
            let load = if m["load"].is_null() {
                "none".to_owned()
            } else {
                format!(
                    "{}, {}",
                    m["load"]["lost"],
                    ms(&m["load"]["worst_step_p99_ms"])
                )
            };
            md += &format!(
                "| {} | {when} | {} to {} | {} | {} | {} ({}) | {} | {load} |\n",
                s["size"],
                m["kept_at_start"],
                m["kept_at_end"],
                pair("join"),
                pair("older"),
                pair("search_rare"),
                m["search_rare"]["median_hits"],
                pair("search_common"),
            );
        }
    }
    md += &format!("\n## Knees at {} clients, side by side\n\n", doc["clients"]);
    md += "\
           | room | repeat | kept at start | opened | knee offered/s | delivered/s | bracket |\n\
           |---|---|---|---|---|---|---|\n";
    for k in doc["knees"].as_array().into_iter().flatten() {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            k["label"].as_str().unwrap_or(""),
            k["repeat"],
            k["kept_at_start"],
            ms(&k["opened_ms"]),
            report::show(k["knee_offered_per_s"].as_f64(), 0),
            report::show(k["knee_delivered_per_s"].as_f64(), 0),
            report::show(k["bracket"].as_f64(), 3),
        );
    }
    let st = &doc["storage"];
    md += &format!(
        "\n## Storage of the largest room\n\n{} kept messages ({} bytes of text): {} bytes \
         checkpointed, {} vacuumed, {} vacuumed without the search index: {} / {} / {} \
         bytes per message.\n",
        st["kept"],
        st["body_bytes"],
        st["checkpointed_bytes"],
        st["vacuumed_bytes"],
        st["vacuumed_without_index_bytes"],
        report::show(st["checkpointed_bytes_per_message"].as_f64(), 1),
        report::show(st["vacuumed_bytes_per_message"].as_f64(), 1),
        report::show(st["vacuumed_without_index_bytes_per_message"].as_f64(), 1),
    );
    md
}
