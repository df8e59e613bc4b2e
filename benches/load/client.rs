//! One benchmark client and the load it offers: connecting, sending
//! `b|<sender>|<seq>|<send time in ns>` on an open-loop schedule, and
//! recording what arrives (latency, losses, duplicates, reordering). `batch`
//! frames are unpacked; each inner message counts. The client never offers
//! permessage-deflate. A `batch=1` client also confirms what it read as our
//! page does (`{"type":"seen"}` after each 64 KiB), so the benchmark pays
//! for flow control's receipts.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::results::Received;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

#[derive(Default)]
pub struct Stats {
    pub first_frame: Option<Instant>,
    /// Frames received since connecting, never reset: for waiting until quiet.
    frames: u64,
    /// Messages below this seq belong to an earlier step and are ignored, so a
    /// backlog from an overloaded step cannot spoil the next one.
    min_seq: u64,
    latencies_us: Vec<u64>,
    seen: HashSet<(u32, u64)>,
    last_seq: HashMap<u32, u64>,
    duplicates: u64,
    reordered: u64,
    /// When the latest message of this step arrived.
    last_arrival: Option<Instant>,
    /// `reaction` frames received since connecting, never reset, and when
    /// the latest came: the reaction storm's completion (`reactions`).
    pub reactions: u64,
    pub last_reaction: Option<Instant>,
    /// The id of the latest chat message that was not a benchmark message:
    /// the reaction storm's target is one the bench sends as plain text.
    pub plain_id: Option<String>,
}

impl Stats {
    /// Forgets the last step's messages; `min_seq` is the first of the next.
    fn reset(&mut self, min_seq: u64) {
        *self = Stats {
            first_frame: self.first_frame,
            frames: self.frames,
            reactions: self.reactions,
            last_reaction: self.last_reaction,
            plain_id: self.plain_id.take(),
            min_seq,
            ..Stats::default()
        };
    }

    fn record_message(&mut self, sender: u32, seq: u64, latency_us: u64) {
        if seq < self.min_seq {
            return;
        }
        self.last_arrival = Some(Instant::now());
        self.latencies_us.push(latency_us);
        if !self.seen.insert((sender, seq)) {
            self.duplicates += 1;
        }
        let last = self.last_seq.entry(sender).or_insert(0);
        if seq < *last {
            self.reordered += 1;
        }
        *last = (*last).max(seq);
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The sender, seq and send time a benchmark message carries.
fn parse_message(text: &str) -> Option<(u32, u64, u128)> {
    let mut parts = text.split('|');
    if parts.next() != Some("b") {
        return None;
    }
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    ))
}

fn record(stats: &Mutex<Stats>, frame: &Value) {
    if frame["type"] == "batch" {
        for f in frame["frames"].as_array().into_iter().flatten() {
            record(stats, f);
        }
        return;
    }
    if frame["type"] == "reaction" {
        let mut s = stats.lock().unwrap();
        s.reactions += 1;
        s.last_reaction = Some(Instant::now());
        return;
    }
    let Some((sender, seq, sent)) = frame["message"].as_str().and_then(parse_message) else {
        if frame["type"] == "message" {
            if let Some(id) = frame["id"].as_str() {
                stats.lock().unwrap().plain_id = Some(id.to_owned());
            }
        }
        return;
    };
    let latency = (now_ns().saturating_sub(sent) / 1000) as u64;
    stats.lock().unwrap().record_message(sender, seq, latency);
}

pub type Sink = Arc<tokio::sync::Mutex<futures_util::stream::SplitSink<Ws, Message>>>;

/// The receipt interval of pages before receipts carried marks: a build
/// that sends no marks is confirmed this way instead, so old and new
/// builds can run side by side (see `read_frames`).
const RECEIPT_EVERY: usize = 64 * 1024;

pub struct Client {
    /// How it connected, so it can connect again (`reconnect_closed`).
    again: (u16, usize, String, bool),
    sink: Sink,
    pub stats: Arc<Mutex<Stats>>,
    pub connect_started: Instant,
    reader: tokio::task::JoinHandle<()>,
    pinger: Option<tokio::task::JoinHandle<()>>,
}

impl Client {
    /// Sends one frame as is, for modes that say more than chat (`reactions`).
    pub async fn send_text(&self, text: String) -> Result<(), String> {
        self.sink
            .lock()
            .await
            .send(Message::text(text))
            .await
            .map_err(|e| format!("send: {e}"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
        if let Some(pinger) = &self.pinger {
            pinger.abort();
        }
    }
}

/// `receipts`: send the page's read receipts (only `batch=1` clients do).
pub async fn connect(port: u16, id: usize, query: &str, receipts: bool) -> Result<Client, String> {
    // receipts=1 asks a build that proves reading for marks; others ignore it.
    let proof = if receipts && query.contains('?') {
        "&receipts=1"
    } else {
        ""
    };
    let url = format!("ws://127.0.0.1:{port}/ws/c{id}{query}{proof}");
    let started = Instant::now();
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        // TCP_NODELAY, as browsers set it: with Nagle on, a small write (a
        // receipt) still unacknowledged holds the next message back until
        // the server's delayed ACK, up to 40 ms on loopback.
        tokio_tungstenite::connect_async_with_config(url, None, true),
    )
    .await
    .map_err(|_| "connect timed out".to_owned())?
    .map_err(|e| format!("connect: {e}"))?;
    let (mut sink, source) = ws.split();
    // Announce like the originals' React client does. Servers that greet a
    // newcomer anyway (ours, the JS room) ignore it or treat it as a join;
    // for the others its echo is the first frame, so every server gets a
    // connect-to-first-frame time.
    sink.send(Message::text("Connect"))
        .await
        .map_err(|e| format!("send Connect: {e}"))?;
    let stats = Arc::new(Mutex::new(Stats::default()));
    let sink = Arc::new(tokio::sync::Mutex::new(sink));
    let receipt_sink = (receipts && query.contains("batch=1")).then(|| Arc::clone(&sink));
    let reader = tokio::spawn(read_frames(
        source,
        Arc::clone(&stats),
        receipt_sink,
        lead(id),
    ));
    let pinger = query
        .contains("room=")
        .then(|| tokio::spawn(keep_alive(Arc::clone(&sink))));
    Ok(Client {
        again: (port, id, query.to_owned(), receipts),
        sink,
        stats,
        connect_started: started,
        reader,
        pinger,
    })
}

/// The query of a `batch=1` client of `room`, as the page joins.
pub fn batch_query(room: &str) -> String {
    format!("?room={room}&batch=1")
}

/// `n` `batch=1` clients of `room` (ids 0 to `n - 1`), connected in waves
/// of 50 as the suite does.
pub async fn connect_many(
    port: u16,
    room: &str,
    n: usize,
    receipts: bool,
) -> Result<Vec<Client>, String> {
    let query = batch_query(room);
    let mut clients = Vec::with_capacity(n);
    for wave in (0..n).collect::<Vec<_>>().chunks(50) {
        let conns = futures_util::future::join_all(
            wave.iter().map(|&i| connect(port, i, &query, receipts)),
        )
        .await;
        for c in conns {
            clients.push(c?);
        }
    }
    Ok(clients)
}

/// Connects again every client whose socket the server closed, and says how
/// many. Our room closes a receipt-sending socket that fell 2 MiB behind
/// (flow control), which a load generator past its own limit does in an
/// overloaded step; the step fails on loss, and the next one must not run
/// with fewer clients.
pub async fn reconnect_closed(clients: &mut [Client]) -> Result<usize, String> {
    let mut again = 0;
    for client in clients.iter_mut().filter(|c| c.reader.is_finished()) {
        let (port, id, query, receipts) = client.again.clone();
        *client = connect(port, id, &query, receipts).await?;
        again += 1;
    }
    Ok(again)
}

/// Pings our room as the page does (the runtime answers without waking
/// it): flow control never closes a socket that shows a sign of life
/// within a minute, and a long run must not meet the idle timeout. The
/// baselines would take a ping for chat, so only our room gets them.
async fn keep_alive(sink: Sink) {
    let mut every = tokio::time::interval(Duration::from_secs(20));
    every.tick().await;
    loop {
        every.tick().await;
        let ping = Message::text(r#"{"type":"ping"}"#);
        if sink.lock().await.send(ping).await.is_err() {
            return;
        }
    }
}

/// How many chars past the first interval a client waits before its first
/// receipt, spread over one interval as the page's random lead is (the
/// room's marks, answered by `receiptFor` in client/src/protocol.js): every
/// client reads the same frames, and receipts that all arrive at once stall
/// the room's broadcasts.
fn lead(id: usize) -> usize {
    let spread = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    (spread % RECEIPT_EVERY as u64) as usize
}

async fn read_frames(
    mut source: futures_util::stream::SplitStream<Ws>,
    stats: Arc<Mutex<Stats>>,
    receipts: Option<Sink>,
    lead: usize,
) {
    let (mut frames, mut chars) = (0u64, -(lead as isize));
    // Once a mark arrives, the room proves reading by marks alone: echo
    // them, as the page does, and stop counting.
    let mut marked = false;
    while let Some(Ok(msg)) = source.next().await {
        if let Message::Text(text) = msg {
            // The runtime's answer to our ping: not the room's frame.
            if text.as_str() == r#"{"type":"pong"}"# {
                continue;
            }
            if let Some(receipt) = receipt_for(&text) {
                marked = true;
                send_receipt(receipts.as_ref(), receipt);
                continue;
            }
            frames += 1;
            chars += text.len() as isize;
            {
                let mut s = stats.lock().unwrap();
                s.first_frame.get_or_insert_with(Instant::now);
                s.frames += 1;
            }
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                record(&stats, &v);
            }
            if !marked && chars >= RECEIPT_EVERY as isize {
                chars = 0;
                send_receipt(
                    receipts.as_ref(),
                    format!(r#"{{"type":"seen","frames":{frames}}}"#),
                );
            }
        }
    }
}

/// The receipt that echoes `text` if it is one of the room's marks: what
/// the page sends back.
pub fn receipt_for(text: &str) -> Option<String> {
    text.starts_with(r#"{"type":"mark","mark":""#)
        .then(|| text.replacen(r#""type":"mark""#, r#""type":"seen""#, 1))
}

/// Sends a receipt without making the reader wait for the sink (the sender
/// may hold it), after the frame's arrival is recorded: a page's `send`
/// never blocks its reading either.
pub fn send_receipt(sink: Option<&Sink>, receipt: String) {
    if let Some(sink) = sink {
        let sink = Arc::clone(sink);
        tokio::spawn(async move {
            let _ = sink.lock().await.send(Message::text(receipt)).await;
        });
    }
}

/// The `p` quantile of `sorted` microseconds, in milliseconds; `None` when
/// nothing was measured, so an empty sample can never read as 0 ms.
pub fn percentile(sorted: &[u64], p: f64) -> Option<f64> {
    let i = ((sorted.len().checked_sub(1)? as f64) * p).round() as usize;
    Some(sorted[i] as f64 / 1000.0)
}

/// What the senders of one step did, against what was scheduled.
pub struct Sent {
    pub scheduled: u64,
    pub sent: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Sent {
    pub fn first(&self) -> Option<Instant> {
        self.first
    }

    /// The rate kept from the first send to the last. The schedule puts
    /// message `i` at `i / rate`, so senders that kept up show exactly the
    /// offered rate; `None` with fewer than two sends.
    pub fn achieved_per_s(&self) -> Option<f64> {
        let span = self.last?.duration_since(self.first?).as_secs_f64();
        (self.sent >= 2 && span > 0.0).then(|| (self.sent - 1) as f64 / span)
    }
}

/// Sends messages at `rate` a second for `duration` (open loop: the
/// schedule does not wait for deliveries), rotating through `senders`.
pub async fn send_step(
    clients: &[Client],
    senders: usize,
    rate: f64,
    duration: Duration,
    seq: &mut u64,
) -> Sent {
    for c in clients.iter() {
        c.stats.lock().unwrap().reset(*seq + 1);
    }
    let scheduled = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let mut done = Sent {
        scheduled,
        sent: 0,
        first: None,
        last: None,
    };
    let start = tokio::time::Instant::now();
    for i in 0..scheduled {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let sender = (i as usize) % senders;
        *seq += 1;
        done.first.get_or_insert_with(Instant::now);
        let text = format!("b|{sender}|{seq}|{}", now_ns());
        if clients[sender]
            .sink
            .lock()
            .await
            .send(Message::text(text))
            .await
            .is_err()
        {
            break;
        }
        done.sent += 1;
        done.last = Some(Instant::now());
    }
    done
}

/// Waits until no client has received anything for half a second (at most
/// `patience`), so one step's backlog has drained before the next begins.
pub async fn quiesce(clients: &[Client], patience: Duration) {
    let total = || -> u64 { clients.iter().map(|c| c.stats.lock().unwrap().frames).sum() };
    let deadline = tokio::time::Instant::now() + patience;
    let mut last = total();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = total();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Waits until every client has `expected` messages or `patience` passes.
pub async fn drain(clients: &[Client], expected: u64, patience: Duration) {
    let deadline = tokio::time::Instant::now() + patience;
    while tokio::time::Instant::now() < deadline {
        if clients
            .iter()
            .all(|c| c.stats.lock().unwrap().seen.len() as u64 >= expected)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `receivers` saw of a step for which `expected` messages were
/// scheduled, and when its last message reached its last receiver.
pub fn collect(
    clients: &[Client],
    receivers: Range<usize>,
    expected: u64,
) -> (Received, Option<Instant>) {
    let mut lat = Vec::new();
    let (mut delivered, mut duplicates, mut reordered) = (0, 0, 0);
    let mut last_arrival = None;
    for c in &clients[receivers.clone()] {
        let s = c.stats.lock().unwrap();
        lat.extend_from_slice(&s.latencies_us);
        delivered += s.seen.len() as u64;
        duplicates += s.duplicates;
        reordered += s.reordered;
        last_arrival = last_arrival.max(s.last_arrival);
    }
    lat.sort_unstable();
    let want = expected * receivers.len() as u64;
    let received = Received {
        delivered,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        max_ms: percentile(&lat, 1.0),
        lost: want.saturating_sub(delivered),
        duplicates,
        reordered,
    };
    (received, last_arrival)
}
