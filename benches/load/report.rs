//! What is made of the results: `bench-results/results.json` itself, and
//! the generated report `bench-results/report.md` with its targets
//! (`targets`), ratios, absolute numbers and chart (`chart`), all read from
//! the typed records in `results`. A run never writes `BENCHMARKS.md`: that
//! page, and `bench-results/history.md`, are written by hand.

mod chart;
mod targets;

use std::process::Command;

use std::path::{Component, Path, PathBuf};

use crate::results::{Results, Run};
use crate::servers::{root, Server};

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

/// Where a run's files go: the results, the report and the chart, always
/// side by side in one folder.
pub struct Output {
    json: PathBuf,
    markdown: PathBuf,
    chart: PathBuf,
}

impl Output {
    /// A full run replaces the committed files in bench-results/
    /// (results.json, report.md, chart.svg) and never touches BENCHMARKS.md;
    /// a smoke or narrowed run writes below bench-results/tmp/ (ignored by
    /// git), so it can never pass for the full run; `BENCH_OUT=<dir>` puts
    /// all three files in `<dir>`.
    pub fn for_run(smoke: bool, narrowed: bool) -> Output {
        let results = root().join("bench-results");
        if let Some(dir) = std::env::var_os("BENCH_OUT").filter(|d| !d.is_empty()) {
            Output::in_dir(&root().join(dir))
        } else if smoke {
            Output::in_dir(&results.join("tmp/smoke"))
        } else if narrowed {
            Output::in_dir(&results.join("tmp/run"))
        } else {
            Output::in_dir(&results)
        }
    }

    pub fn in_dir(dir: &Path) -> Output {
        Output {
            json: dir.join("results.json"),
            markdown: dir.join("report.md"),
            chart: dir.join("chart.svg"),
        }
    }

    /// `path` as the report links to it: relative to the report's own
    /// folder, so the link works wherever that folder is.
    fn link(&self, path: &Path) -> String {
        let from = self.markdown.parent().unwrap_or(Path::new(""));
        relative(path, from).display().to_string()
    }
}

/// `path` relative to the folder `from`: what follows their common leading
/// components, after one `..` for each component of `from` left over. Both
/// are built the same way (absolute, or relative to the same folder), so
/// the common part is a real common folder.
fn relative(path: &Path, from: &Path) -> PathBuf {
    let mut path = path.components().peekable();
    let mut from = from.components().peekable();
    while path.peek().is_some() && path.peek() == from.peek() {
        path.next();
        from.next();
    }
    from.map(|_| Component::ParentDir).chain(path).collect()
}

/// Writes results.json, then the report and the chart from it.
pub fn write(doc: &Results, out: &Output) -> Result<(), String> {
    let json = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    write_file(&out.json, &json)?;
    render(doc, out)
}

/// The report and the chart for `doc`.
pub fn render(doc: &Results, out: &Output) -> Result<(), String> {
    write_file(&out.markdown, &markdown(doc, out))?;
    write_file(&out.chart, &chart::chart(&doc.runs, &doc.plan.sizes))?;
    eprintln!(
        "{} runs: {}, {} and {}",
        doc.runs.len(),
        out.json.display(),
        out.markdown.display(),
        out.chart.display()
    );
    Ok(())
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The built `.wasm`'s size, raw and gzipped.
pub fn wasm_size() -> (Option<usize>, Option<usize>) {
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

fn markdown(doc: &Results, out: &Output) -> String {
    let (runs, plan, wasm_raw, gzip) = (&doc.runs, &doc.plan, doc.wasm_raw, doc.wasm_gzip);
    let mut md = header(doc);
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
    md.push_str(&format!("Raw data: `{}`.\n\n![Delivered messages per second and p99 latency against clients]({})\n\n## Servers\n\n", out.link(&out.json), out.link(&out.chart)));
    for server in present(runs) {
        md.push_str(&format!("- **{}**: {}\n", server.name(), server.about()));
    }
    // Only what this run measured: notes written by hand (targets read off
    // other runs, profiles, experiments) live in BENCHMARKS.md and
    // bench-results/history.md, which no run writes.
    md
}

/// The servers the runs measured, in report order.
fn present(runs: &[Run]) -> Vec<Server> {
    Server::ALL
        .into_iter()
        .filter(|s| runs.iter().any(|r| r.server == *s))
        .collect()
}

fn header(doc: &Results) -> String {
    let plan = &doc.plan;
    let sizes: Vec<String> = plan.sizes.iter().map(|n| n.to_string()).collect();
    format!("# Benchmarks\n\nProduced by `{}` (`--smoke` is CI's seconds-long check).\n\nMachine: {}. Servers pinned to core 1, the load generator to core 0 (`taskset`). {} interleaved repeats; each cell is the median (of an even count, the mean of the middle two), ± the spread (max − min). Our room runs with `RATE_PER_SEC=100000 RATE_BURST=10000 MAX_CONNECTIONS_PER_ROOM=5000 MAX_SOCKETS_PER_ADDRESS=5000` so its limits do not cap the benchmark (at 1,000 per second per connection, the 10-client knee was the limit). Client counts: {}; fan-out {} s at 20 messages/s; saturation steps of {} s, at most {} per cell; a step that fails on latency or send timing alone is tried once more at the same rate, so one stall cannot pull the bisection down. A warm-up client creates the room and stays connected (it is one of the clients); idle memory is measured from that point. \"no data\" marks a number that was not measured, and fails any target built on it.\n\n", doc.command, doc.machine, plan.repeats, sizes.join(", "), plan.fanout_secs, plan.step_secs, plan.max_steps)
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

/// Writes a mode's document as `<stem>.json` and its tables as `<stem>.md`
/// in `bench-results/<below>` (`""`, or `tmp/smoke` for a smoke run).
pub fn write_mode(
    stem: &str,
    below: &str,
    doc: &serde_json::Value,
    md: &str,
) -> Result<(), String> {
    let dir = root().join("bench-results").join(below);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(format!("{stem}.json")), text).map_err(|e| e.to_string())?;
    let md_path = dir.join(format!("{stem}.md"));
    std::fs::write(&md_path, md).map_err(|e| e.to_string())?;
    eprintln!("wrote {}", md_path.display());
    Ok(())
}

/// Now, to the minute, in UTC: when a mode's run was recorded.
pub fn date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub fn machine() -> String {
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
