//! The benchmark: a load generator for chat servers, the servers it compares,
//! and the report. Run it with `bash scripts/bench.sh` (which installs the
//! baselines' dependencies and pins cores); `--smoke` runs every server and
//! mode at toy sizes so the harness cannot rot.
//!
//! Subcommands: `suite [--smoke]` runs everything and writes
//! `bench-results/results.json`, `bench-results/chart.svg` and the report
//! `bench-results/report.md` (a smoke or narrowed run writes below
//! `bench-results/tmp/` instead; no run writes BENCHMARKS.md, which is
//! written by hand); `report <results.json> [<out dir>]` renders the report
//! and the chart again from a results file;
//! `silent [--smoke]` runs the slow-reader attack of issue 13 and the lies
//! of issue 25 (see `silent`), `silent-chart [<silent.json>]` draws its
//! chart again;
//! `history [--smoke]` runs the million-message room of issue 27 (see
//! `history`); `reactions [--smoke]` the reaction storm of issue 29 (see
//! `reactions`); `relays [--smoke]` one object against relays (issue 26,
//! see `relays`);
//! `serve-tokio <port>` is the native broadcast baseline.
//!
//! # Layout
//! - `servers`: each server under test, how it starts, when it is ready and
//!   what it costs; also the native tokio baseline itself.
//! - `client`: one benchmark client: connect, send on an open-loop schedule,
//!   record latency, losses, duplicates and reordering.
//! - `suite`: the plan and the measurements (join, idle memory, fan-out,
//!   saturation), server by server.
//! - `results`: the typed records of results.json.
//! - `report`: the report (report.md) and the chart, made from those records.
//! - `silent`: sockets that never read (and lie about it), and the servers'
//!   memory over time.
//! - `history`: a room holding a million messages against one holding a
//!   hundred: join, scrollback, search, knee and storage.
//! - `reactions`: every member of a chatting room reacts at once: the chat's
//!   latency during the storm and the storm's completion time.
//! - `relays`: one room as one object against the same room on relays.

// The benchmark drives servers from the host; on wasm32 there is nothing to
// run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod client;
mod history;
mod reactions;
mod relays;
mod report;
mod results;
mod servers;
mod silent;
mod suite;

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
            rt.block_on(servers::serve_tokio(port));
        }
        Some("suite") => {
            let smoke = args.iter().any(|a| a == "--smoke");
            if let Err(e) = rt.block_on(suite::suite(smoke)) {
                eprintln!("bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some("silent") => {
            let smoke = args.iter().any(|a| a == "--smoke");
            if let Err(e) = rt.block_on(silent::silent(smoke)) {
                eprintln!("bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some("history") => {
            let smoke = args.iter().any(|a| a == "--smoke");
            if let Err(e) = rt.block_on(history::history(smoke)) {
                eprintln!("bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some("reactions") => {
            let smoke = args.iter().any(|a| a == "--smoke");
            if let Err(e) = rt.block_on(reactions::reactions(smoke)) {
                eprintln!("bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some("relays") => {
            let smoke = args.iter().any(|a| a == "--smoke");
            if let Err(e) = rt.block_on(relays::relays(smoke)) {
                eprintln!("bench failed: {e}");
                std::process::exit(1);
            }
        }
        Some("silent-chart") => {
            let json = args.get(1).map_or("bench-results/silent.json", String::as_str);
            if let Err(e) = silent::rerender(json) {
                eprintln!("chart failed: {e}");
                std::process::exit(1);
            }
        }
        Some("report") => {
            if let Err(e) = rerender(args.get(1), args.get(2)) {
                eprintln!("report failed: {e}");
                std::process::exit(1);
            }
        }
        _ => eprintln!(
            "usage: load suite [--smoke] | load silent [--smoke] | load history [--smoke] | load reactions [--smoke] | load relays [--smoke] | load report <results.json> [<out dir>] | load serve-tokio <port>"
        ),
    }
}

/// The report (report.md) and the chart again from a results file, into
/// `out` (by default beside the file): to check the report without a run.
fn rerender(json: Option<&String>, out: Option<&String>) -> Result<(), String> {
    let json = std::path::Path::new(json.ok_or("report <results.json> [<out dir>]")?);
    let text = std::fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
    let doc: results::Results = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let dir = out.map_or_else(
        || {
            json.parent()
                .unwrap_or(std::path::Path::new("."))
                .to_owned()
        },
        std::path::PathBuf::from,
    );
    report::render(&doc, &report::Output::in_dir(&dir))
}
