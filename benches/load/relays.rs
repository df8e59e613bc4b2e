//! Issue 26's benchmark: one room as one object against the same room
//! spread over relay objects, at 1,000 and 5,000 `batch=1` clients, side
//! by side in one run. For each layout: a quiet step (one sender, a few
//! messages a second: the extra hop's latency with nothing saturated) and
//! the knee of the saturation search (delivered messages a second, p99,
//! server CPU per delivered message).
//!
//! Every object runs in the one workerd process here, pinned to one core,
//! so relays cannot show parallel speed-up on this machine: what they show
//! is the cost per delivered frame and the hop's latency. BENCHMARKS.md
//! turns the measured cost into a capacity model on paper.
//!
//! `bash scripts/bench.sh relays`; `BENCH_RELAY_SIZES` (default
//! `1000,5000`), `BENCH_RELAY_CAPACITY` (sockets per relay, default 250),
//! `BENCH_RELAY_QUIET_RATE` (messages a second in the quiet step, default
//! 5) shape it; the knee search reads the suite's `BENCH_STEP_SECS` and
//! `BENCH_MAX_STEPS`. Writes `bench-results/relays.{json,md}`; the smoke
//! run (6 clients, relays of 2) writes below `bench-results/tmp/smoke/`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{collect, connect_many, drain, quiesce, send_step, Client};
use crate::report;
use crate::servers::{Running, Server};
use crate::suite::{cpu_us_per, env_num, saturate, Plan};

const ROOM: &str = "relays";

/// One layout of the room.
struct Layout {
    name: &'static str,
    vars: Value,
}

fn layouts(capacity: usize) -> [Layout; 2] {
    let common = |extra: Value| {
        let mut vars = json!({
            "MAX_CONNECTIONS_PER_ROOM": "100000",
            "MAX_SOCKETS_PER_ADDRESS": "100000",
            // Joins are announced one by one in both layouts: the
            // measurement is of messages, not of notices.
            "GROUP_NOTICES_AT": "1000000",
        });
        vars.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        vars
    };
    [
        Layout {
            name: "one object",
            vars: common(json!({ "RELAY_THRESHOLD": "32000" })),
        },
        Layout {
            name: "relays",
            vars: common(json!({
                "RELAY_THRESHOLD": "0",
                "RELAY_CAPACITY": capacity.to_string(),
            })),
        },
    ]
}

pub async fn relays(smoke: bool) -> Result<(), String> {
    let sizes: Vec<usize> = if smoke {
        vec![6]
    } else {
        std::env::var("BENCH_RELAY_SIZES")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1000, 5000])
    };
    let capacity = if smoke {
        2
    } else {
        env_num("BENCH_RELAY_CAPACITY", 250.0) as usize
    };
    let quiet_rate = env_num("BENCH_RELAY_QUIET_RATE", 5.0);
    let plan = if smoke {
        Plan::smoke()
    } else {
        Plan::from_env()
    };
    let mut rows = Vec::new();
    for &n in &sizes {
        for layout in layouts(capacity) {
            eprintln!("relays: {n} clients, {}", layout.name);
            let row = run(n, &layout, quiet_rate, &plan).await?;
            rows.push(row);
        }
    }
    let doc = json!({
        "command": if smoke { "bash scripts/bench.sh --smoke".to_owned() } else { command_line() },
        "date": report::date(),
        "machine": report::machine(),
        "relay_capacity": capacity,
        "rows": rows,
    });
    if smoke
        && doc["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["quiet"]["lost"] != 0)
    {
        return Err("relays: the quiet step lost messages".to_owned());
    }
    write(&doc, smoke)
}

/// One fresh server in `layout` with `n` clients: the quiet step, then the
/// knee.
async fn run(n: usize, layout: &Layout, quiet_rate: f64, plan: &Plan) -> Result<Value, String> {
    let server = Server::EdgeMiniflare;
    let running = server.start_with(&[("BENCH_MINIFLARE_VARS", layout.vars.to_string())])?;
    let mut clients = connect_many(running.port, ROOM, n, server.takes_receipts()).await?;
    quiesce(&clients, Duration::from_secs(60)).await;
    let relays = presence_relays(running.port).await;
    let mut seq = 0;
    let quiet = quiet_step(&clients, &running, quiet_rate, &mut seq).await;
    let sat = saturate(&mut clients, &running, plan, &mut seq).await;
    let knee = sat.knee.as_ref();
    Ok(json!({
        "clients": n,
        "layout": layout.name,
        "relays": relays,
        "quiet": quiet,
        "knee": {
            "offered_per_s": knee.map(|k| k.offered_per_s),
            "delivered_per_s": knee.and_then(|k| k.delivered_per_s),
            "p50_ms": knee.and_then(|k| k.received.p50_ms),
            "p99_ms": knee.and_then(|k| k.received.p99_ms),
            "cpu_us_per_delivered": knee.and_then(|k| k.cpu_us_per_delivered),
            "bracket": sat.bracket,
            "converged": sat.converged,
        },
    }))
}

/// One sender at `rate` for five seconds: latency with nothing saturated,
/// and the server's CPU per delivered message.
async fn quiet_step(clients: &[Client], running: &Running, rate: f64, seq: &mut u64) -> Value {
    let before = running.usage();
    let sent = send_step(clients, 1, rate, Duration::from_secs(5), seq).await;
    drain(clients, sent.sent, Duration::from_secs(10)).await;
    let after = running.usage();
    let (seen, _) = collect(clients, 0..clients.len(), sent.scheduled);
    quiesce(clients, Duration::from_secs(30)).await;
    let cpu = cpu_us_per(before, after, seen.delivered);
    eprintln!(
        "    quiet {rate}/s: p50 {}, p99 {}, lost {}, cpu {} us/delivered",
        report::ms(seen.p50_ms),
        report::ms(seen.p99_ms),
        seen.lost,
        report::show(cpu, 1)
    );
    json!({
        "rate_per_s": rate,
        "p50_ms": seen.p50_ms,
        "p99_ms": seen.p99_ms,
        "lost": seen.lost,
        "duplicates": seen.duplicates,
        "cpu_us_per_delivered": cpu,
    })
}

/// The room's relays as its presence answer says.
async fn presence_relays(port: u16) -> Value {
    let path = format!("/api/rooms/{ROOM}/presence");
    let answer = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}{path}")])
            .output()
            .ok()?;
        serde_json::from_slice::<Value>(&out.stdout).ok()
    })
    .await
    .ok()
    .flatten();
    answer.map_or(Value::Null, |a| a["relays"].clone())
}

fn command_line() -> String {
    let vars: String = [
        "BENCH_RELAY_SIZES",
        "BENCH_RELAY_CAPACITY",
        "BENCH_RELAY_QUIET_RATE",
        "BENCH_STEP_SECS",
        "BENCH_MAX_STEPS",
    ]
    .iter()
    .filter_map(|k| Some(format!("{k}={:?} ", std::env::var(k).ok()?)))
    .collect();
    format!("{vars}bash scripts/bench.sh relays")
}

fn write(doc: &Value, smoke: bool) -> Result<(), String> {
    let below = if smoke { "tmp/smoke" } else { "" };
    report::write_mode("relays", below, doc, &markdown(doc))
}

/// One row per size and layout.
fn markdown(doc: &Value) -> String {
    let ms = |v: &Value| report::ms(v.as_f64());
    let num = |v: &Value, d| report::show(v.as_f64(), d);
    let mut md = format!(
        "# One object against relays\n\n`{}`, {}, {}; relays of {}.\n\n\
         | clients | layout | relays | quiet p50 | quiet p99 | quiet CPU µs/delivered | knee delivered/s | knee p99 | knee CPU µs/delivered | bracket |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        doc["command"].as_str().unwrap_or_default(),
        doc["date"].as_str().unwrap_or_default(),
        doc["machine"].as_str().unwrap_or_default(),
        doc["relay_capacity"],
    );
    for r in doc["rows"].as_array().into_iter().flatten() {
        let (q, k) = (&r["quiet"], &r["knee"]);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["clients"],
            r["layout"].as_str().unwrap_or_default(),
            r["relays"],
            ms(&q["p50_ms"]),
            ms(&q["p99_ms"]),
            num(&q["cpu_us_per_delivered"], 1),
            num(&k["delivered_per_s"], 0),
            ms(&k["p99_ms"]),
            num(&k["cpu_us_per_delivered"], 2),
            num(&k["bracket"], 3),
        ));
    }
    md
}
