//! The results file, `bench-results/results.json`: one typed record per
//! server, client count and repeat. The report reads nothing else, so a
//! misspelt field is a compile error instead of NaN in the report, and a
//! number that was not measured is `None` (JSON `null`), never 0.

use serde::{Deserialize, Serialize};

use crate::servers::Server;
use crate::suite::Plan;

/// A knee is known when its pass/fail bracket is at most this wide.
pub const CONVERGED_BRACKET: f64 = 1.10;

/// The whole of `results.json`: enough to render the report again
/// (`load report <results.json>`) without the run's environment.
#[derive(Serialize, Deserialize)]
pub struct Results {
    pub smoke: bool,
    /// The command that produced this, narrowing variables included, so
    /// the run can be repeated.
    pub command: String,
    pub machine: String,
    pub plan: Plan,
    pub wasm_raw: Option<usize>,
    pub wasm_gzip: Option<usize>,
    /// The other build run as `edge-chat@base (miniflare)`, if any.
    pub compare_build: Option<String>,
    pub runs: Vec<Run>,
}

/// One server measured at one client count.
#[derive(Serialize, Deserialize)]
pub struct Run {
    pub server: Server,
    pub clients: usize,
    pub repeat: usize,
    pub wall_secs: f64,
    /// The warm-up client's connect-to-first-frame time, which includes
    /// creating the room.
    pub room_created_ms: Option<f64>,
    /// The other clients' connect-to-first-frame times.
    pub join_p50_ms: Option<f64>,
    pub join_p99_ms: Option<f64>,
    pub connections_per_sec: Option<f64>,
    /// RSS growth per joined client, from "at rest" (the room exists, the
    /// warm-up client connected) to all `clients` connected and idle.
    pub idle_bytes_per_conn: Option<f64>,
    /// One sender at 20 messages a second, everyone receiving.
    pub fanout: Received,
    pub saturation: Saturation,
}

/// What all the receivers of one step saw together.
#[derive(Serialize, Deserialize, Clone)]
pub struct Received {
    /// Messages received, each (sender, seq) counted once per receiver.
    pub delivered: u64,
    /// `None` when nothing arrived, like every latency below.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Messages scheduled for a receiver that never reached it.
    pub lost: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

/// Everyone sending, at rising offered rates, until the knee is bracketed.
#[derive(Serialize, Deserialize)]
pub struct Saturation {
    /// The highest passing step; `None` when no step passed.
    pub knee: Option<Step>,
    /// The lowest failing offered rate over the highest passing one; `None`
    /// until a step has passed and a faster one failed.
    pub bracket: Option<f64>,
    /// Whether the bracket closed to within [`CONVERGED_BRACKET`]; if not
    /// (step cap, rate cap, no pass), the knee is only a lower bound.
    pub converged: bool,
    /// Why the step that closed the bracket failed: `sender_behind` alone
    /// means the load generator, not the server, was the limit.
    pub limited_by: Vec<Fault>,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
}

/// One open-loop step: everyone sends for a fixed time at an offered rate.
#[derive(Serialize, Deserialize, Clone)]
pub struct Step {
    /// Total messages a second the schedule asked for.
    pub offered_per_s: f64,
    /// Messages a second the senders actually sent, first send to last.
    pub achieved_send_per_s: Option<f64>,
    /// Messages received by all clients together, per second from the first
    /// send to the last receive.
    pub delivered_per_s: Option<f64>,
    pub scheduled: u64,
    pub sent: u64,
    #[serde(flatten)]
    pub received: Received,
    pub cpu_us_per_delivered: Option<f64>,
    /// Why the step failed; empty when it passed.
    pub faults: Vec<Fault>,
}

impl Step {
    pub fn passed(&self) -> bool {
        self.faults.is_empty()
    }
}

/// A reason a saturation step fails.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// p99 above the knee threshold.
    Latency,
    Loss,
    Duplicates,
    Reordering,
    /// The senders fell more than 5 % behind the offered rate.
    SenderBehind,
    /// A send failed, so fewer messages went out than were scheduled.
    SendFailed,
    /// Nothing to judge by: no latency or no send rate was measured.
    NoData,
}

impl Fault {
    /// A fault of timing, which a transient stall can cause: worth one
    /// retry. Wrong deliveries are faults of the server, never retried.
    pub fn is_timing(self) -> bool {
        matches!(self, Fault::Latency | Fault::SenderBehind | Fault::NoData)
    }

    pub fn label(self) -> &'static str {
        match self {
            Fault::Latency => "p99",
            Fault::Loss => "loss",
            Fault::Duplicates => "duplicates",
            Fault::Reordering => "reordering",
            Fault::SenderBehind => "sender behind",
            Fault::SendFailed => "send failed",
            Fault::NoData => "no data",
        }
    }
}
