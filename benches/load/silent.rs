//! The attack of issue 13 as a benchmark: `k` sockets that do the handshake
//! and never read a byte, and one sender that sends 1,900-character
//! messages at a fixed rate (well within what one reader keeps up with) and
//! reads every echo, against our room and the JavaScript Durable Object,
//! both under `wrangler dev`. The server's process tree's RSS is sampled
//! every second. Both rooms get the same bytes.
//!
//! Without flow control every frame for a silent socket stays in the
//! runtime's memory, so the JavaScript room grows for as long as the run
//! lasts; ours should level off within its budget plus a fixed overhead.
//!
//! `load silent [--smoke]`: `BENCH_SILENT_K` (default `3,10`),
//! `BENCH_SILENT_SECS` (default 60) and `BENCH_SILENT_RATE` (messages a
//! second, default 250: 475 KB/s to each silent socket) shape the run; it writes
//! `bench-results/silent.json` and `bench-results/silent.svg` (a smoke run:
//! below `bench-results/tmp/smoke/`). `BENCH_SERVERS` picks servers as for
//! the suite.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::servers::{root, usage_of, Server};

/// The two rooms compared.
const SERVERS: [Server; 2] = [Server::EdgePlainDev, Server::JsDev];

/// How far the echoes may fall behind before the sender calls the room
/// stuck.
const ECHO_LAG: Duration = Duration::from_secs(10);

#[derive(Serialize, Deserialize)]
struct Series {
    server: String,
    silent: usize,
    secs: f64,
    /// Messages the sender got back.
    messages: u64,
    /// Messages sent.
    sent: u64,
    /// Whether the echoes fell more than [`ECHO_LAG`] behind.
    stuck: bool,
    /// (seconds since the first message, RSS in MiB).
    rss: Vec<(f64, f64)>,
}

pub async fn silent(smoke: bool) -> Result<(), String> {
    let ks: Vec<usize> = if smoke {
        vec![1]
    } else {
        std::env::var("BENCH_SILENT_K")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![3, 10])
    };
    let secs = if smoke {
        2.0
    } else {
        crate::suite::env_num("BENCH_SILENT_SECS", 60.0)
    };
    let rate = if smoke {
        50.0
    } else {
        crate::suite::env_num("BENCH_SILENT_RATE", 250.0)
    };
    let mut all = Vec::new();
    for &k in &ks {
        for server in SERVERS.into_iter().filter(|s| crate::suite::chosen(*s)) {
            eprintln!(
                "silent: {} with {k} silent sockets, {rate}/s for {secs} s",
                server.name()
            );
            let series = one(server, k, secs, rate).await?;
            let last = series.rss.last().map_or(0.0, |s| s.1);
            let first = series.rss.first().map_or(0.0, |s| s.1);
            eprintln!(
                "  {} messages; RSS {first:.0} MiB at start, {last:.0} MiB at the end",
                series.messages
            );
            all.push(series);
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

async fn one(server: Server, k: usize, secs: f64, rate: f64) -> Result<Series, String> {
    let running = server.start()?;
    let query = if server.is_ours() { "?room=silent" } else { "" };
    let url = |id: String| format!("ws://127.0.0.1:{}/ws/{id}{query}", running.port);
    // Connected, then never polled: what the room sends piles up.
    let mut silent = Vec::new();
    for i in 0..k {
        let (ws, _) = tokio_tungstenite::connect_async(url(format!("silent{i}")))
            .await
            .map_err(|e| format!("silent connect: {e}"))?;
        silent.push(ws);
    }
    let (ws, _) = tokio_tungstenite::connect_async(url("sender".into()))
        .await
        .map_err(|e| format!("sender connect: {e}"))?;
    let (mut sink, mut source) = ws.split();
    let echoes = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&echoes);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            if let Message::Text(text) = msg {
                let n = text.matches("s|").count() as u64;
                counted.fetch_add(n, Ordering::Relaxed);
            }
        }
    });

    let samples = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = sample(running.pid(), Arc::clone(&samples), Arc::clone(&done));
    let started = tokio::time::Instant::now();
    let (mut sent, mut stuck) = (0u64, false);
    let lag = (rate * ECHO_LAG.as_secs_f64()) as u64;
    while started.elapsed().as_secs_f64() < secs {
        tokio::time::sleep_until(started + Duration::from_secs_f64(sent as f64 / rate)).await;
        let marker = format!("s|{sent}|");
        let text = format!("{marker}{}", "x".repeat(1900 - marker.len()));
        if sink.send(Message::text(text)).await.is_err() {
            break;
        }
        sent += 1;
        if sent > echoes.load(Ordering::Relaxed) + lag {
            stuck = true;
            break;
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    reader.abort();
    drop(silent);
    let rss = samples.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(Series {
        server: server.name().to_owned(),
        silent: k,
        secs,
        messages: echoes.load(Ordering::Relaxed),
        sent,
        stuck,
        rss,
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

/// A Markdown table: RSS at the start, every 10 s and at the end.
fn table(all: &[Series]) -> String {
    let mut md = String::from("| server | silent sockets | sent | echoed | RSS MiB: start → every 10 s → end |\n|---|---|---|---|---|\n");
    for s in all {
        let points: Vec<String> = (s.rss.iter().enumerate())
            .filter(|(i, _)| i % 10 == 0 || *i + 1 == s.rss.len())
            .map(|(_, p)| format!("{:.0}", p.1))
            .collect();
        let stuck = if s.stuck { " (stuck)" } else { "" };
        md.push_str(&format!(
            "| {} | {} | {} | {}{stuck} | {} |\n",
            s.server,
            s.silent,
            s.sent,
            s.messages,
            points.join(" → ")
        ));
    }
    md
}

/// RSS against time, one line per (server, k): ours in blue, the
/// JavaScript room in red; the more silent sockets, the longer the dashes
/// (none: solid).
fn chart(all: &[Series]) -> String {
    let (w, h, x0, y0) = (640.0, 320.0, 50.0, 20.0);
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
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
         <text x=\"{x0}\" y=\"12\">RSS (MiB) of the server's processes against seconds, silent sockets never reading</text>"
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
    let mut ks: Vec<usize> = all.iter().map(|s| s.silent).collect();
    ks.sort_unstable();
    ks.dedup();
    for (i, s) in all.iter().enumerate() {
        let color = if s.server.starts_with("edge-chat") {
            "#1f77b4"
        } else {
            "#d62728"
        };
        let dash = match ks.iter().position(|&k| k == s.silent).unwrap_or(0) {
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
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{}, {} silent</text>",
            w - 260.0,
            y0 + 16.0 + 14.0 * i as f64,
            s.server,
            s.silent
        ));
    }
    svg.push_str("</svg>\n");
    svg
}
