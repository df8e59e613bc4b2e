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
        let unsure = self.from_knee
            && (unconverged(runs, ours, self.clients) || unconverged(runs, base, self.clients));
        let flag = if unsure { UNCONVERGED } else { "" };
        format!(
            "| {} @ {} clients, {} | {}: {} | {}: {} | {}{flag} | {verdict} |\n",
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
pub fn targets(runs: &[Run], wasm_raw: Option<usize>, gzip: Option<usize>) -> String {
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
