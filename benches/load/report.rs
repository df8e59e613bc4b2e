//! What is made of the results: `bench-results/results.json` itself, and
//! `BENCHMARKS.md` with its targets (`targets`), ratios, absolute numbers
//! and chart (`chart`), all read from the typed records in `results`.

mod chart;
mod targets;

use std::process::Command;

use crate::results::{Results, Run};
use crate::servers::{compare_build, root, Server};
use crate::suite::Plan;

/// One number of a run, picked out by the report.
type Pick = fn(&Run) -> Option<f64>;

fn knee_delivered(r: &Run) -> Option<f64> {
    r.saturation.knee.as_ref()?.delivered_per_s
}
fn knee_offered(r: &Run) -> Option<f64> {
    Some(r.saturation.knee.as_ref()?.offered_per_s)
}
fn knee_achieved(r: &Run) -> Option<f64> {
    r.saturation.knee.as_ref()?.achieved_send_per_s
}
fn knee_cpu(r: &Run) -> Option<f64> {
    r.saturation.knee.as_ref()?.cpu_us_per_delivered
}
fn fanout_p50(r: &Run) -> Option<f64> {
    r.fanout.p50_ms
}
fn fanout_p99(r: &Run) -> Option<f64> {
    r.fanout.p99_ms
}
fn fanout_max(r: &Run) -> Option<f64> {
    r.fanout.max_ms
}
fn idle_bytes(r: &Run) -> Option<f64> {
    r.idle_bytes_per_conn
}

/// Writes results.json (smoke.json for a smoke run) and, for a real run,
/// BENCHMARKS.md and the chart.
pub fn write(runs: Vec<Run>, plan: &Plan, smoke: bool) -> Result<(), String> {
    let dir = root().join("bench-results");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (wasm_raw, wasm_gzip) = wasm_size();
    let file = if smoke { "smoke.json" } else { "results.json" };
    let doc = Results {
        smoke,
        wasm_raw,
        wasm_gzip,
        compare_build: compare_build().map(|b| b.display().to_string()),
        runs,
    };
    let json = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    let runs = &doc.runs;
    std::fs::write(dir.join(file), json).map_err(|e| e.to_string())?;
    if smoke {
        eprintln!(
            "smoke: {} runs, results in bench-results/{file}",
            runs.len()
        );
        return Ok(());
    }
    let md = markdown(&doc, plan);
    std::fs::write(root().join("BENCHMARKS.md"), md).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("chart.svg"), chart::chart(runs, &plan.sizes))
        .map_err(|e| e.to_string())?;
    eprintln!("wrote BENCHMARKS.md and bench-results/");
    Ok(())
}

/// The built `.wasm`'s size, raw and gzipped.
fn wasm_size() -> (Option<usize>, Option<usize>) {
    let path = root().join("build/index_bg.wasm");
    let raw = std::fs::read(&path).ok().map(|w| w.len());
    let gzip = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(&path)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| o.stdout.len());
    (raw, gzip)
}

/// The median of a server's repeats and their spread (max − min).
#[derive(Clone, Copy)]
struct Stat {
    median: f64,
    spread: f64,
}

/// `None` for no values; with an even count the median is the mean of the
/// middle two.
fn median_spread(values: &mut [f64]) -> Option<Stat> {
    values.sort_by(|a, b| a.total_cmp(b));
    let (first, last) = (values.first()?, values.last()?);
    let mid = values.len() / 2;
    let median = if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    };
    Some(Stat {
        median,
        spread: last - first,
    })
}

/// A server's repeats at `n` clients.
fn repeats(runs: &[Run], server: Server, n: usize) -> impl Iterator<Item = &Run> {
    runs.iter()
        .filter(move |r| r.server == server && r.clients == n)
}

/// One number over a server's repeats at `n`; repeats without it are left
/// out, and `None` means no repeat had it.
fn metric(runs: &[Run], server: Server, n: usize, pick: Pick) -> Option<Stat> {
    let mut v: Vec<f64> = repeats(runs, server, n).filter_map(pick).collect();
    median_spread(&mut v)
}

/// Whether any repeat's knee failed to converge: its number is then only a
/// lower bound, and any ratio built on it says so.
fn unconverged(runs: &[Run], server: Server, n: usize) -> bool {
    repeats(runs, server, n).any(|r| !r.saturation.converged)
}

/// Marks a knee that did not converge in every repeat.
const UNCONVERGED: &str = " †";

fn median(runs: &[Run], server: Server, n: usize, pick: Pick) -> Option<f64> {
    metric(runs, server, n, pick).map(|s| s.median)
}

/// `a / b`, or `None` if either is missing or `b` is not positive.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then_some(a / b)
}

const NO_DATA: &str = "no data";

/// `v` with `decimals` places, or "no data".
pub fn show(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.decimals$}"))
}

/// A latency for the log.
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.1} ms"))
}

fn times(v: Option<f64>) -> String {
    v.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.2}×"))
}

fn markdown(doc: &Results, plan: &Plan) -> String {
    let (runs, wasm_raw, gzip) = (&doc.runs, doc.wasm_raw, doc.wasm_gzip);
    let mut md = header(plan);
    md.push_str(&format!(
        "`.wasm`: {} bytes raw, {} bytes gzip ({} KiB).\n\n",
        show(wasm_raw.map(|b| b as f64), 0),
        show(gzip.map(|b| b as f64), 0),
        show(gzip.map(|b| b as f64 / 1024.0), 1),
    ));
    md.push_str(&targets::targets(runs, wasm_raw, gzip));
    if let Some(build) = &doc.compare_build {
        md.push_str(&targets::builds(runs, &plan.sizes, build));
    }
    md.push_str(&ratios(runs, &plan.sizes));
    md.push_str(&absolute(runs, &plan.sizes));
    md.push_str(KNEE_NOTE);
    md.push_str("Raw data: `bench-results/results.json`.\n\n![Delivered messages per second and p99 latency against clients](bench-results/chart.svg)\n\n## Servers\n\n");
    for server in present(runs) {
        md.push_str(&format!("- **{}**: {}\n", server.name(), server.about()));
    }
    md
}

/// The servers the runs measured, in report order.
fn present(runs: &[Run]) -> Vec<Server> {
    Server::ALL
        .into_iter()
        .filter(|s| runs.iter().any(|r| r.server == *s))
        .collect()
}

fn header(plan: &Plan) -> String {
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
    let sizes: Vec<String> = plan.sizes.iter().map(|n| n.to_string()).collect();
    format!("# Benchmarks\n\nProduced by `{narrowed}bash scripts/bench.sh` (`--smoke` is CI's seconds-long check).\n\nMachine: {}. Servers pinned to core 1, the load generator to core 0 (`taskset`). {} interleaved repeats; each cell is the median, ± the spread (max − min). Our room runs with `RATE_PER_SEC=100000 RATE_BURST=10000 MAX_CONNECTIONS_PER_ROOM=5000` so its limits do not cap the benchmark (at 1,000 per second per connection, the 10-client knee was the limit). Client counts: {}; fan-out {} s at 20 messages/s; saturation steps of {} s.\n\n", machine(), plan.repeats, sizes.join(", "), plan.fanout_secs, plan.step_secs)
}

fn ratios(runs: &[Run], sizes: &[usize]) -> String {
    let servers = present(runs);
    // Under wrangler dev if it ran, else Miniflare (a narrowed run).
    let Some(&ours) = servers
        .iter()
        .find(|s| matches!(s, Server::EdgeDev | Server::EdgeMiniflare))
    else {
        return String::new();
    };
    let mut md = format!("## Ratios ({}, batch=1 clients, vs each other server)\n\n| clients | baseline | delivered msgs/s at knee | fan-out p99 (lower is better) | idle bytes/conn (lower is better) |\n|---|---|---|---|---|\n", ours.name());
    for &n in sizes {
        let against = |base: Server, pick: Pick| {
            times(ratio(
                median(runs, ours, n, pick),
                median(runs, base, n, pick),
            ))
        };
        for base in servers.iter().filter(|s| **s != ours) {
            let flag = if unconverged(runs, ours, n) || unconverged(runs, *base, n) {
                UNCONVERGED
            } else {
                ""
            };
            md.push_str(&format!(
                "| {n} | {} | {}{flag} | {} | {} |\n",
                base.name(),
                against(*base, knee_delivered),
                against(*base, fanout_p99),
                against(*base, idle_bytes)
            ));
        }
    }
    md
}

fn absolute(runs: &[Run], sizes: &[usize]) -> String {
    let servers = present(runs);
    let mut md = String::from("\n## Absolute numbers (median ± spread)\n\n| server | clients | knee delivered msgs/s | knee offered / achieved send msgs/s | bracket (widest) | converged | limited by | fan-out p50 / p99 / max ms | join: first (creates the room) / p50 / p99 ms | conn/s | idle bytes/conn | CPU µs per delivered |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for &n in sizes {
        for &server in &servers {
            let f = |pick: Pick, decimals: usize| show(median(runs, server, n, pick), decimals);
            md.push_str(&format!(
                "| {} | {n} | {} | {} / {} / {} | {} / {} / {} | {} | {} | {} |\n",
                server.name(),
                knee_cells(runs, server, n),
                f(fanout_p50, 1),
                f(fanout_p99, 1),
                f(fanout_max, 1),
                f(|r| r.room_created_ms, 1),
                f(|r| r.join_p50_ms, 1),
                f(|r| r.join_p99_ms, 1),
                f(|r| r.connections_per_sec, 0),
                f(idle_bytes, 0),
                f(knee_cpu, 1),
            ));
        }
    }
    md
}

/// The knee's cells of one row: delivered, offered / achieved, the widest
/// bracket over the repeats, how many repeats converged, and why the
/// bracket's failing steps failed.
fn knee_cells(runs: &[Run], server: Server, n: usize) -> String {
    let flag = if unconverged(runs, server, n) {
        UNCONVERGED
    } else {
        ""
    };
    let delivered = metric(runs, server, n, knee_delivered).map_or_else(
        || NO_DATA.to_owned(),
        |s| format!("{:.0} ± {:.0}{flag}", s.median, s.spread),
    );
    format!(
        "{delivered} | {} / {} | {} | {} | {}",
        show(median(runs, server, n, knee_offered), 0),
        show(median(runs, server, n, knee_achieved), 0),
        show(widest_bracket(runs, server, n), 2),
        converged_cell(runs, server, n),
        limits_cell(runs, server, n),
    )
}

/// The widest bracket over the repeats; `None` if any repeat has none.
fn widest_bracket(runs: &[Run], server: Server, n: usize) -> Option<f64> {
    let mut all = repeats(runs, server, n).peekable();
    all.peek()?;
    all.try_fold(1.0_f64, |w, r| Some(w.max(r.saturation.bracket?)))
}

fn converged_cell(runs: &[Run], server: Server, n: usize) -> String {
    let total = repeats(runs, server, n).count();
    let converged = repeats(runs, server, n)
        .filter(|r| r.saturation.converged)
        .count();
    match (converged, total) {
        (_, 0) => NO_DATA.to_owned(),
        (c, t) if c == t => "yes".to_owned(),
        (c, t) => format!("**no** ({c} of {t})"),
    }
}

fn limits_cell(runs: &[Run], server: Server, n: usize) -> String {
    let mut limits: Vec<&str> = repeats(runs, server, n)
        .flat_map(|r| r.saturation.limited_by.iter().map(|f| f.label()))
        .collect();
    limits.sort_unstable();
    limits.dedup();
    if limits.is_empty() {
        "—".to_owned()
    } else {
        limits.join(", ")
    }
}

const KNEE_NOTE: &str = "\nThe knee is the highest passing step of a climb in which every client sends, open loop: the offered rate doubles from 10 messages a second until a step fails, then bisects until failing / passing ≤ 1.10 (the bracket). A step passes when p99 ≤ 250 ms, nothing is lost, duplicated or reordered, and the senders achieved at least 95 % of the offered rate. Knee delivered msgs/s = messages received by all clients / (last receive − first send); achieved = messages sent / (last send − first send), both measured, neither derived from the offered rate. † a repeat did not converge (step cap, rate cap, or no passing step): its knee is a lower bound. Limited by *sender behind* alone means the load generator, not the server, ran out first. ";

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    // Not available_parallelism: the generator runs pinned to one core.
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}
