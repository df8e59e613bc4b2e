//! The results and what is made of them: the typed records written to
//! `bench-results/results.json`, and `BENCHMARKS.md` with its targets,
//! ratios, absolute numbers and chart, all read from those records.

use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::servers::{root, Server};
use crate::suite::Plan;

/// One server measured at one client count.
#[derive(Serialize, Deserialize)]
pub struct Run {
    pub server: Server,
    pub clients: usize,
    pub repeat: usize,
    pub wall_secs: f64,
    pub join_p50_ms: Option<f64>,
    pub join_p99_ms: Option<f64>,
    pub connections_per_sec: f64,
    pub idle_bytes_per_conn: Option<f64>,
    pub fanout: Fanout,
    /// The highest passing saturation step; `None` when none passed.
    pub knee: Option<Knee>,
}

/// One sender at 20 messages a second, everyone receiving.
#[derive(Serialize, Deserialize)]
pub struct Fanout {
    /// `None` when nothing arrived, like every latency below.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Knee {
    pub offered_per_sec: f64,
    pub delivered_per_sec: f64,
    pub p99_ms: Option<f64>,
    pub cpu_us_per_delivered: Option<f64>,
}

/// The whole of `results.json`.
#[derive(Serialize, Deserialize)]
pub struct Results {
    pub smoke: bool,
    pub wasm_raw: Option<usize>,
    pub wasm_gzip: Option<usize>,
    pub runs: Vec<Run>,
}

/// One number of a run, picked out by the report.
type Pick = fn(&Run) -> Option<f64>;

fn knee_delivered(r: &Run) -> Option<f64> {
    r.knee.as_ref().map(|k| k.delivered_per_sec)
}
fn knee_cpu(r: &Run) -> Option<f64> {
    r.knee.as_ref()?.cpu_us_per_delivered
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
    let md = markdown(runs, plan, wasm_raw, wasm_gzip);
    std::fs::write(root().join("BENCHMARKS.md"), md).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("chart.svg"), chart(runs, &plan.sizes)).map_err(|e| e.to_string())?;
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

/// One number over a server's repeats at `n`; repeats without it are left
/// out, and `None` means no repeat had it.
fn metric(runs: &[Run], server: Server, n: usize, pick: Pick) -> Option<Stat> {
    let mut v: Vec<f64> = runs
        .iter()
        .filter(|r| r.server == server && r.clients == n)
        .filter_map(pick)
        .collect();
    median_spread(&mut v)
}

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
fn show(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.decimals$}"))
}

/// A latency for the log.
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.1} ms"))
}

fn times(v: Option<f64>) -> String {
    v.map_or_else(|| NO_DATA.to_owned(), |v| format!("{v:.2}×"))
}

fn markdown(runs: &[Run], plan: &Plan, wasm_raw: Option<usize>, gzip: Option<usize>) -> String {
    let mut md = header(plan);
    md.push_str(&format!(
        "`.wasm`: {} bytes raw, {} bytes gzip ({} KiB).\n\n",
        show(wasm_raw.map(|b| b as f64), 0),
        show(gzip.map(|b| b as f64), 0),
        show(gzip.map(|b| b as f64 / 1024.0), 1),
    ));
    md.push_str(&targets(runs, wasm_raw, gzip));
    md.push_str(&ratios(runs, &plan.sizes));
    md.push_str(&absolute(runs, &plan.sizes));
    md.push_str("\nThe knee is the highest offered rate (all clients sending, doubling steps) at which p99 stayed ≤ 250 ms with no loss, duplicate or reordering. Raw data: `bench-results/results.json`.\n\n![Delivered messages per second and p99 latency against clients](bench-results/chart.svg)\n\n## Servers\n\n");
    for server in Server::ALL {
        md.push_str(&format!("- **{}**: {}\n", server.name(), server.about()));
    }
    md
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
    let ours = Server::ALL[0];
    let mut md = String::from("## Ratios (this project under wrangler dev, batch=1 clients, vs each baseline)\n\n| clients | baseline | delivered msgs/s at knee | fan-out p99 (lower is better) | idle bytes/conn (lower is better) |\n|---|---|---|---|---|\n");
    for &n in sizes {
        let against = |base: Server, pick: Pick| {
            times(ratio(
                median(runs, ours, n, pick),
                median(runs, base, n, pick),
            ))
        };
        for base in &Server::ALL[1..] {
            md.push_str(&format!(
                "| {n} | {} | {} | {} | {} |\n",
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
    let mut md = String::from("\n## Absolute numbers (median ± spread)\n\n| server | clients | knee delivered msgs/s | fan-out p50 / p99 / max ms | join p50 / p99 ms | conn/s | idle bytes/conn | CPU µs per delivered |\n|---|---|---|---|---|---|---|---|\n");
    for &n in sizes {
        for server in Server::ALL {
            let f = |pick: Pick, decimals: usize| show(median(runs, server, n, pick), decimals);
            let knee = metric(runs, server, n, knee_delivered).map_or_else(
                || NO_DATA.to_owned(),
                |s| format!("{:.0} ± {:.0}", s.median, s.spread),
            );
            md.push_str(&format!(
                "| {} | {n} | {knee} | {} / {} / {} | {} / {} | {} | {} | {} |\n",
                server.name(),
                f(fanout_p50, 1),
                f(fanout_p99, 1),
                f(fanout_max, 1),
                f(|r| r.join_p50_ms, 1),
                f(|r| r.join_p99_ms, 1),
                f(|r| Some(r.connections_per_sec), 0),
                f(idle_bytes, 0),
                f(knee_cpu, 1),
            ));
        }
    }
    md
}

/// What ratio (ours / baseline) meets a target.
#[derive(Clone, Copy)]
enum Need {
    AtLeast(f64),
    AtMost(f64),
}

impl Need {
    fn met(self, ratio: f64) -> bool {
        match self {
            Need::AtLeast(x) => ratio >= x,
            Need::AtMost(x) => ratio <= x,
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Need::AtLeast(x) => write!(f, "≥ {x}"),
            Need::AtMost(x) => write!(f, "≤ {x}"),
        }
    }
}

/// Which baseline a target compares against, like for like: the JS Durable
/// Object on the same runtime as ours (dev proxy against dev proxy,
/// Miniflare against Miniflare).
#[derive(Clone, Copy)]
enum Against {
    FastApi,
    JsSameRuntime,
}

impl Against {
    fn baseline(self, ours: Server) -> Server {
        match (self, ours) {
            (Against::FastApi, _) => Server::FastApi,
            (Against::JsSameRuntime, Server::EdgeDev) => Server::JsDev,
            (Against::JsSameRuntime, _) => Server::JsMiniflare,
        }
    }
}

/// One of the targets: one number at one client count.
struct Goal {
    what: &'static str,
    clients: usize,
    pick: Pick,
    against: Against,
    need: Need,
}

const GOALS: [Goal; 4] = [
    Goal {
        what: "knee msgs/s",
        clients: 100,
        pick: knee_delivered,
        against: Against::FastApi,
        need: Need::AtLeast(1.5),
    },
    Goal {
        what: "knee msgs/s",
        clients: 100,
        pick: knee_delivered,
        against: Against::JsSameRuntime,
        need: Need::AtLeast(2.0),
    },
    Goal {
        what: "fan-out p99 ms",
        clients: 100,
        pick: fanout_p99,
        against: Against::FastApi,
        need: Need::AtMost(1.0),
    },
    Goal {
        what: "idle bytes/conn",
        clients: 1000,
        pick: idle_bytes,
        against: Against::JsSameRuntime,
        need: Need::AtMost(1.0),
    },
];

impl Goal {
    /// The table row for `ours` against this goal's baseline.
    fn row(&self, runs: &[Run], ours: Server) -> String {
        let base = self.against.baseline(ours);
        let a = median(runs, ours, self.clients, self.pick);
        let b = median(runs, base, self.clients, self.pick);
        let r = ratio(a, b);
        let verdict = match r {
            None => "**no** (no data)",
            Some(r) if self.need.met(r) => "yes",
            Some(_) => "**no**",
        };
        format!(
            "| {} @ {} clients, {} | {}: {} | {}: {} | {} | {verdict} |\n",
            self.what,
            self.clients,
            self.need,
            ours.name(),
            show(a, 1),
            base.name(),
            show(b, 1),
            times(r),
        )
    }
}

/// The targets, each with its verdict.
fn targets(runs: &[Run], wasm_raw: Option<usize>, gzip: Option<usize>) -> String {
    let mut md = String::from("## Targets (one side-by-side run)\n\n| target | ours | baseline | ratio | met |\n|---|---|---|---|---|\n");
    for goal in &GOALS {
        for ours in [Server::EdgeDev, Server::EdgeMiniflare] {
            md.push_str(&goal.row(runs, ours));
        }
    }
    md.push_str(&faults_row(runs));
    md.push_str(&wasm_row(wasm_raw, gzip));
    md
}

/// Loss, duplicates and reordering over all our fan-out runs; no runs of
/// ours is no data, not zero faults.
fn faults_row(runs: &[Run]) -> String {
    let ours: Vec<&Run> = runs
        .iter()
        .filter(|r| r.server == Server::EdgeDev || r.server == Server::EdgeMiniflare)
        .collect();
    let faults = (!ours.is_empty()).then(|| {
        ours.iter()
            .map(|r| r.fanout.lost + r.fanout.duplicates + r.fanout.reordered)
            .sum::<u64>()
    });
    let verdict = match faults {
        None => "**no** (no data)",
        Some(0) => "yes",
        Some(_) => "**no**",
    };
    format!(
        "| loss + duplicates + reordering, all our runs (the knee itself requires zero) | {} | | | {verdict} |\n",
        show(faults.map(|f| f as f64), 0)
    )
}

/// The `.wasm` budget: under 150 KiB gzipped.
fn wasm_row(wasm_raw: Option<usize>, gzip: Option<usize>) -> String {
    const BUDGET: usize = 150 * 1024;
    let verdict = match gzip {
        None => "**no** (no data)",
        Some(g) if g < BUDGET => "yes",
        Some(_) => "**no**",
    };
    let gzip = gzip.map(|g| g as f64);
    format!(
        "| `.wasm` gzip < 150 KiB | {} bytes ({} KiB; raw {}) | {BUDGET} bytes | {} | {verdict} |\n\n",
        show(gzip, 0),
        show(gzip.map(|g| g / 1024.0), 1),
        show(wasm_raw.map(|r| r as f64), 0),
        times(gzip.map(|g| g / BUDGET as f64)),
    )
}

/// Two panels, log-scaled: delivered msgs/s at the knee, and fan-out p99.
fn chart(runs: &[Run], sizes: &[usize]) -> String {
    let (w, h) = (420.0, 260.0);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"11\">", w * 2.0 + 40.0, h + 40.0 + 20.0 * Server::ALL.len() as f64);
    let panels: [(&str, Pick); 2] = [
        ("delivered msgs/s at knee", knee_delivered),
        ("fan-out p99 ms", fanout_p99),
    ];
    for (panel, (title, pick)) in panels.into_iter().enumerate() {
        svg.push_str(&chart_panel(
            runs,
            sizes,
            panel as f64 * (w + 40.0),
            title,
            pick,
        ));
    }
    for (s, server) in Server::ALL.iter().enumerate() {
        let y = h + 20.0 + 18.0 * s as f64;
        svg.push_str(&format!("<rect x=\"50\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"68\" y=\"{}\">{}</text>", y - 10.0, color(s), y, server.name()));
    }
    svg.push_str("</svg>\n");
    svg
}

fn color(i: usize) -> &'static str {
    const COLORS: [&str; 7] = [
        "#2f6fed", "#7aa2f7", "#a0c4ff", "#d64545", "#e0a800", "#f2c94c", "#1f9d55",
    ];
    COLORS[i % COLORS.len()]
}

fn chart_panel(runs: &[Run], sizes: &[usize], x0: f64, title: &str, pick: Pick) -> String {
    let (w, h, pad) = (420.0, 260.0, 50.0);
    let values: Vec<f64> = Server::ALL
        .iter()
        .flat_map(|s| sizes.iter().filter_map(|&n| median(runs, *s, n, pick)))
        .filter(|v| *v > 0.0)
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let lo = lo.max(1e-3).log10().floor();
    let hi = hi.max(1e-3).log10().ceil().max(lo + 1.0);
    let mut svg = format!(
        "<text x=\"{}\" y=\"15\" font-weight=\"bold\">{title} (log scale) vs clients</text>",
        x0 + pad
    );
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
            "<text x=\"{}\" y=\"{h}\" text-anchor=\"middle\">{n}</text>",
            px(i)
        ));
    }
    for e in lo as i32..=hi as i32 {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{e}</text>",
            x0 + pad - 4.0,
            py(10f64.powi(e)) + 4.0
        ));
    }
    for (s, server) in Server::ALL.iter().enumerate() {
        let pts: Vec<String> = sizes
            .iter()
            .enumerate()
            .filter_map(|(i, &n)| {
                let v = median(runs, *server, n, pick).filter(|v| *v > 0.0)?;
                Some(format!("{:.1},{:.1}", px(i), py(v)))
            })
            .collect();
        svg.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            pts.join(" "),
            color(s)
        ));
    }
    svg
}

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
