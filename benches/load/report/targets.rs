//! The targets, each as a like-for-like ratio with its verdict,
//! and the budgets that are absolute (faults, `.wasm` size).

use super::{
    fanout_p99, idle_bytes, knee_delivered, median, ratio, show, times, unconverged, Pick,
    UNCONVERGED,
};
use crate::results::Run;
use crate::servers::Server;

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
        match self {
            Against::FastApi => Server::FastApi,
            Against::JsSameRuntime if ours.dev_proxy() => Server::JsDev,
            Against::JsSameRuntime => Server::JsMiniflare,
        }
    }
}

/// One of the targets: one number at one client count.
struct Goal {
    what: &'static str,
    clients: usize,
    pick: Pick,
    /// Whether the number comes from the saturation knee, which may not
    /// have converged.
    from_knee: bool,
    against: Against,
    need: Need,
}

const GOALS: [Goal; 4] = [
    Goal {
        what: "knee msgs/s",
        clients: 100,
        pick: knee_delivered,
        from_knee: true,
        against: Against::FastApi,
        need: Need::AtLeast(1.5),
    },
    Goal {
        what: "knee msgs/s",
        clients: 100,
        pick: knee_delivered,
        from_knee: true,
        against: Against::JsSameRuntime,
        need: Need::AtLeast(2.0),
    },
    Goal {
        what: "fan-out p99 ms",
        clients: 100,
        pick: fanout_p99,
        from_knee: false,
        against: Against::FastApi,
        need: Need::AtMost(1.0),
    },
    Goal {
        what: "idle bytes/conn",
        clients: 1000,
        pick: idle_bytes,
        from_knee: false,
        against: Against::JsSameRuntime,
        need: Need::AtMost(1.0),
    },
];

/// One server's standing against one goal.
struct Judged {
    ours: Server,
    base: Server,
    a: Option<f64>,
    b: Option<f64>,
    ratio: Option<f64>,
    /// `None` when a side has no data: that fails the target too.
    met: Option<bool>,
    /// A knee on either side did not converge.
    unsure: bool,
}

impl Goal {
    fn judge(&self, runs: &[Run], ours: Server) -> Judged {
        let base = self.against.baseline(ours);
        let a = median(runs, ours, self.clients, self.pick);
        let b = median(runs, base, self.clients, self.pick);
        let r = ratio(a, b);
        Judged {
            ours,
            base,
            a,
            b,
            ratio: r,
            met: r.map(|r| self.need.met(r)),
            unsure: self.from_knee
                && (unconverged(runs, ours, self.clients) || unconverged(runs, base, self.clients)),
        }
    }

    /// The row for `j`; `verdict` is its "met" cell.
    fn row(&self, j: &Judged, clients: &str, verdict: &str) -> String {
        let flag = if j.unsure { UNCONVERGED } else { "" };
        format!(
            "| {} @ {} clients, {} | {clients} | {}: {} | {}: {} | {}{flag} | {verdict} |\n",
            self.what,
            self.clients,
            self.need,
            j.ours.name(),
            show(j.a, 1),
            j.base.name(),
            show(j.b, 1),
            times(j.ratio),
        )
    }

    /// Our batch=1 row and, beside it, the same server with plain clients,
    /// so a target met only thanks to batch frames says so.
    fn rows(&self, runs: &[Run], ours: Server) -> String {
        let batch = self.judge(runs, ours);
        let mut md = String::new();
        let plain = ours.plain().map(|p| self.judge(runs, p));
        let plain_met = plain.as_ref().and_then(|p| p.met);
        let verdict = match (batch.met, plain_met) {
            (Some(true), Some(true)) => "yes",
            (Some(true), Some(false)) => "yes, with batch=1 clients only",
            (Some(true), None) => "yes with batch=1 clients (plain: no data)",
            (other, _) => met_cell(other),
        };
        md.push_str(&self.row(&batch, "batch=1", verdict));
        if let Some(p) = plain {
            md.push_str(&self.row(&p, "plain", met_cell(p.met)));
        }
        md
    }
}

fn met_cell(met: Option<bool>) -> &'static str {
    match met {
        None => "**no** (no data)",
        Some(true) => "yes",
        Some(false) => "**no**",
    }
}

/// The targets, each with its verdict.
pub fn targets(runs: &[Run], wasm_raw: Option<usize>, gzip: Option<usize>) -> String {
    let mut md = String::from("## Targets (one side-by-side run)\n\nEach target is stated for our page's clients (`batch=1`); the row below it is the same server with clients of the originals' protocol (plain, one frame per message).\n\n| target | clients | ours | baseline | ratio | met |\n|---|---|---|---|---|---|\n");
    for goal in &GOALS {
        for ours in [Server::EdgeDev, Server::EdgeMiniflare] {
            md.push_str(&goal.rows(runs, ours));
        }
    }
    md.push_str(&faults_row(runs));
    md.push_str(&wasm_row(wasm_raw, gzip));
    md
}

/// The budget for a new build: `batch=1` throughput at the knee within 5 %
/// of the previous build's, both measured in the same run under Miniflare.
/// Fan-out p99 and idle memory are shown beside it, without a budget.
pub fn builds(runs: &[Run], sizes: &[usize], base_build: &str) -> String {
    let (new, old) = (Server::EdgeMiniflare, Server::EdgeBase);
    let mut md = format!("## Old build vs new build\n\n{} against {} (`{base_build}`), interleaved in the same run. Budget: `batch=1` knee throughput no more than 5 % below the old build's.\n\n| clients | knee msgs/s new / old | ratio | within 5 % | fan-out p99 ms new / old | idle bytes/conn new / old |\n|---|---|---|---|---|---|\n", new.name(), old.name());
    for &n in sizes {
        let both = |pick: Pick, decimals: usize| {
            format!(
                "{} / {}",
                show(median(runs, new, n, pick), decimals),
                show(median(runs, old, n, pick), decimals)
            )
        };
        let r = ratio(
            median(runs, new, n, knee_delivered),
            median(runs, old, n, knee_delivered),
        );
        let flag = if unconverged(runs, new, n) || unconverged(runs, old, n) {
            UNCONVERGED
        } else {
            ""
        };
        md.push_str(&format!(
            "| {n} | {} | {}{flag} | {} | {} | {} |\n",
            both(knee_delivered, 0),
            times(r),
            met_cell(r.map(|r| Need::AtLeast(0.95).met(r))),
            both(fanout_p99, 1),
            both(idle_bytes, 0),
        ));
    }
    md.push('\n');
    md
}

/// Loss, duplicates and reordering over all our fan-out runs; no runs of
/// ours is no data, not zero faults.
fn faults_row(runs: &[Run]) -> String {
    let ours: Vec<&Run> = runs.iter().filter(|r| r.server.is_ours()).collect();
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
        "| loss + duplicates + reordering, all our runs (the knee itself requires zero) | all | {} | | | {verdict} |\n",
        show(faults.map(|f| f as f64), 0)
    )
}

/// The `.wasm` budget (BENCHMARKS.md's targets): at most 192 KiB gzipped.
fn wasm_row(wasm_raw: Option<usize>, gzip: Option<usize>) -> String {
    const BUDGET: usize = 192 * 1024;
    let verdict = match gzip {
        None => "**no** (no data)",
        Some(g) if g <= BUDGET => "yes",
        Some(_) => "**no**",
    };
    let gzip = gzip.map(|g| g as f64);
    format!(
        "| `.wasm` gzip ≤ 192 KiB | | {} bytes ({} KiB; raw {}) | {BUDGET} bytes | {} | {verdict} |\n\n",
        show(gzip, 0),
        show(gzip.map(|g| g / 1024.0), 1),
        show(wasm_raw.map(|r| r as f64), 0),
        times(gzip.map(|g| g / BUDGET as f64)),
    )
}
