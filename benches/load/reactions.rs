//! Issue 29's reaction storm: in a room of `N` `batch=1` clients chatting at
//! a steady rate, every member toggles the same emoji on the same message at
//! once, then again (off). Measured: the chat's delivery latency in steps
//! with the storm against the same steps without it, in the same room, the
//! two kinds alternating; and the storm's own completion time, from the
//! first `react` sent to the `N`th `reaction` frame seen by a watcher.
//!
//! A reaction goes to every `batch=1` socket, so one storm half is `N`²
//! frames (inside batches): at 1,000 members a million, the same as 1,000
//! chat messages, but each one a write to SQLite and a JSON rebuild of the
//! message's reactions, which chat does not pay.
//!
//! `bash scripts/bench.sh reactions`; `BENCH_REACT_SIZES` (default
//! `100,1000`), `BENCH_REACT_REPEATS` (pairs of steps per size, default 3),
//! `BENCH_REACT_RATE` (chat messages a second offered; by default half the
//! knee measured first in the same room) and `BENCH_REACT_SECS` (each
//! step's length, default 6) shape it. Writes
//! `bench-results/reactions.{json,md}`; the smoke run (5 clients) writes
//! below `bench-results/tmp/smoke/`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{collect, connect_many, drain, quiesce, send_step, Client};
use crate::report;
use crate::servers::Server;
use crate::suite::{env_num, saturate, Plan};

const ROOM: &str = "react";

/// How long a storm half may take before it counts as not completed.
const STORM_PATIENCE: Duration = Duration::from_secs(60);

struct ReactPlan {
    smoke: bool,
    sizes: Vec<usize>,
    repeats: usize,
    rate: Option<f64>,
    step_secs: f64,
}

impl ReactPlan {
    fn new(smoke: bool) -> ReactPlan {
        if smoke {
            // Toy size, but every path: the knee first, both kinds of step.
            return ReactPlan {
                smoke,
                sizes: vec![5],
                repeats: 1,
                rate: None,
                step_secs: 1.5,
            };
        }
        ReactPlan {
            smoke,
            sizes: std::env::var("BENCH_REACT_SIZES")
                .ok()
                .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                .unwrap_or_else(|| vec![100, 1000]),
            repeats: env_num("BENCH_REACT_REPEATS", 3.0) as usize,
            rate: std::env::var("BENCH_REACT_RATE")
                .ok()
                .and_then(|v| v.parse().ok()),
            step_secs: env_num("BENCH_REACT_SECS", 6.0),
        }
    }
}

pub async fn reactions(smoke: bool) -> Result<(), String> {
    let plan = ReactPlan::new(smoke);
    let mut sizes = Vec::new();
    for &n in &plan.sizes {
        sizes.push(size_run(n, &plan).await?);
    }
    let doc = json!({
        "command": command_line(&plan),
        "date": report::date(),
        "machine": report::machine(),
        "step_secs": plan.step_secs,
        "sizes": sizes,
    });
    if smoke {
        // The harness check: every storm half reached the watcher whole.
        let whole = doc["sizes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["steps"].as_array().into_iter().flatten())
            .filter(|s| s["storm"] == true)
            .all(|s| s["on"]["completed"] == true && s["off"]["completed"] == true);
        if !whole {
            return Err("reactions: a storm did not reach its watcher".to_owned());
        }
    }
    write(&doc, &plan)
}

/// One room of `n` clients in a fresh server: the knee (unless the rate is
/// given), then `repeats` pairs of a quiet step and a storm step.
async fn size_run(n: usize, plan: &ReactPlan) -> Result<Value, String> {
    let server = Server::EdgeMiniflare;
    eprintln!("reactions: {n} clients");
    let running = server.start()?;
    let mut clients = connect_many(running.port, ROOM, n, server.takes_receipts()).await?;
    let mut seq = 0;
    let (rate, knee) = match plan.rate {
        Some(r) => (r, Value::Null),
        None => {
            let knee_plan = if plan.smoke {
                Plan::smoke()
            } else {
                Plan::from_env()
            };
            let sat = saturate(&mut clients, &running, &knee_plan, &mut seq).await;
            let k = sat.knee.as_ref();
            let offered = k.map_or(20.0, |k| k.offered_per_s);
            (
                (offered / 2.0).max(10.0),
                json!({
                    "offered_per_s": k.map(|k| k.offered_per_s),
                    "delivered_per_s": k.and_then(|k| k.delivered_per_s),
                    "bracket": sat.bracket,
                }),
            )
        }
    };
    quiesce(&clients, Duration::from_secs(30)).await;
    let target = target_id(&clients).await?;
    eprintln!("reactions: chat at {rate:.0}/s offered, target {target}");
    let mut steps = Vec::new();
    for repeat in 0..plan.repeats {
        for storm in [false, true] {
            let step = step(&clients, &target, storm, rate, plan, &mut seq).await;
            log_step(&step);
            steps.push(json!({ "repeat": repeat, "storm": storm, "chat": step.chat, "on": step.on, "off": step.off,
                "reaction_frames": step.reaction_frames }));
            quiesce(&clients, Duration::from_secs(30)).await;
        }
    }
    Ok(json!({
        "clients": n,
        "knee": knee,
        "rate_per_s": rate,
        "steps": steps,
    }))
}

/// Sends the message everyone will react to, as plain text (not a
/// benchmark message), and waits for its id to come back.
async fn target_id(clients: &[Client]) -> Result<String, String> {
    clients[0].send_text("react to me".to_owned()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(id) = clients[0].stats.lock().unwrap().plain_id.clone() {
            return Ok(id);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err("reactions: the target message never came back".to_owned())
}

struct StepResult {
    storm: bool,
    chat: Value,
    on: Value,
    off: Value,
    /// Reaction frames all clients received in the step, against `N`² per
    /// storm half: a lost one would show here.
    reaction_frames: Value,
}

/// One step: chat at `rate` for the step's length; with `storm`, half a
/// second in every member reacts, and once the watcher has all of them,
/// every member reacts again (which takes the reaction away).
async fn step(
    clients: &[Client],
    target: &str,
    storm: bool,
    rate: f64,
    plan: &ReactPlan,
    seq: &mut u64,
) -> StepResult {
    let n = clients.len();
    let frames_before: u64 = clients
        .iter()
        .map(|c| c.stats.lock().unwrap().reactions)
        .sum();
    let window = Duration::from_secs_f64(plan.step_secs);
    let storms = async {
        if !storm {
            return (Value::Null, Value::Null);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let on = storm_half(clients, target).await;
        let off = storm_half(clients, target).await;
        (on, off)
    };
    let (sent, (on, off)) = tokio::join!(send_step(clients, n, rate, window, seq), storms);
    drain(clients, sent.sent, Duration::from_secs(3)).await;
    let (got, _) = collect(clients, 0..n, sent.scheduled);
    let frames_after: u64 = clients
        .iter()
        .map(|c| c.stats.lock().unwrap().reactions)
        .sum();
    StepResult {
        storm,
        chat: json!({
            "offered_per_s": rate,
            "achieved_send_per_s": sent.achieved_per_s(),
            "sent": sent.sent,
            "delivered": got.delivered,
            "lost": got.lost,
            "duplicates": got.duplicates,
            "reordered": got.reordered,
            "p50_ms": got.p50_ms,
            "p99_ms": got.p99_ms,
            "max_ms": got.max_ms,
        }),
        on,
        off,
        reaction_frames: json!({
            "received": frames_after - frames_before,
            "expected": if storm { 2 * n * n } else { 0 },
        }),
    }
}

/// Every member sends the same `react` at once, each from its own task so
/// the sends overlap as a room's members would; the half is complete when
/// the watcher (client 0) has seen `N` more `reaction` frames.
async fn storm_half(clients: &[Client], target: &str) -> Value {
    let n = clients.len() as u64;
    let watcher = &clients[0].stats;
    let before = watcher.lock().unwrap().reactions;
    let frame = json!({"type": "react", "id": target, "emoji": "👍"}).to_string();
    let started = Instant::now();
    let sends = futures_util::future::join_all(clients.iter().map(|c| c.send_text(frame.clone())));
    let failed = sends.await.iter().filter(|r| r.is_err()).count();
    let sent_ms = started.elapsed().as_secs_f64() * 1000.0;
    let deadline = started + STORM_PATIENCE;
    let (seen, done) = loop {
        let (seen, last) = {
            let s = watcher.lock().unwrap();
            (s.reactions - before, s.last_reaction)
        };
        if seen >= n {
            break (seen, last);
        }
        if Instant::now() > deadline {
            break (seen, None);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    json!({
        "sent_ms": sent_ms,
        "send_failed": failed,
        "watcher_saw": seen,
        "completed": done.is_some(),
        "completion_ms": done.map(|d| d.duration_since(started).as_secs_f64() * 1000.0),
    })
}

fn log_step(step: &StepResult) {
    let c = &step.chat;
    eprintln!(
        "    {}: chat p50 {}, p99 {}, max {}, lost {}; storm on {}, off {}; reaction frames {}/{}",
        if step.storm { "storm" } else { "quiet" },
        report::ms(c["p50_ms"].as_f64()),
        report::ms(c["p99_ms"].as_f64()),
        report::ms(c["max_ms"].as_f64()),
        c["lost"],
        storm_ms(&step.on),
        storm_ms(&step.off),
        step.reaction_frames["received"],
        step.reaction_frames["expected"],
    );
}

/// A storm half's completion for the tables: a quiet step has none, and
/// one that did not complete says how far the watcher got.
fn storm_ms(half: &Value) -> String {
    match (half.is_null(), half["completion_ms"].as_f64()) {
        (true, _) => "-".to_owned(),
        (false, Some(ms)) => report::ms(Some(ms)),
        (false, None) => format!("incomplete ({} seen)", half["watcher_saw"]),
    }
}

fn command_line(plan: &ReactPlan) -> String {
    if plan.smoke {
        return "bash scripts/bench.sh --smoke".to_owned();
    }
    let vars: String = [
        "BENCH_REACT_SIZES",
        "BENCH_REACT_REPEATS",
        "BENCH_REACT_RATE",
        "BENCH_REACT_SECS",
        "BENCH_RECEIPTS",
    ]
    .iter()
    .filter_map(|k| Some(format!("{k}={:?} ", std::env::var(k).ok()?)))
    .collect();
    format!("{vars}bash scripts/bench.sh reactions")
}

fn write(doc: &Value, plan: &ReactPlan) -> Result<(), String> {
    let below = if plan.smoke { "tmp/smoke" } else { "" };
    report::write_mode("reactions", below, doc, &markdown(doc))
}

/// One row per step, from the run's document.
fn markdown(doc: &Value) -> String {
    let ms = |v: &Value| report::ms(v.as_f64());
    let mut md = format!(
        "# Reactions under load (issue 29)\n\n`{}`, {}. Steps of {} s; chat latency from send to \
         receipt over all clients; storm halves from the first `react` sent to the watcher's \
         `N`th `reaction` frame.\n\n\
         | clients | chat offered/s | repeat | step | chat p50 / p99 / max | chat lost | storm on | storm off | reaction frames |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        doc["command"].as_str().unwrap_or(""),
        doc["date"].as_str().unwrap_or(""),
        doc["step_secs"],
    );
    for size in doc["sizes"].as_array().into_iter().flatten() {
        for s in size["steps"].as_array().into_iter().flatten() {
            let c = &s["chat"];
            md.push_str(&format!(
                "| {} | {:.0} | {} | {} | {} / {} / {} | {} | {} | {} | {} of {} |\n",
                size["clients"],
                size["rate_per_s"].as_f64().unwrap_or(0.0),
                s["repeat"].as_u64().unwrap_or(0) + 1,
                if s["storm"] == true { "storm" } else { "quiet" },
                ms(&c["p50_ms"]),
                ms(&c["p99_ms"]),
                ms(&c["max_ms"]),
                c["lost"],
                storm_ms(&s["on"]),
                storm_ms(&s["off"]),
                s["reaction_frames"]["received"],
                s["reaction_frames"]["expected"],
            ));
        }
    }
    md
}
