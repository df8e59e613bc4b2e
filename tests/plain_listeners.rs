//! The originals' clients in a busy room, against the real runtime with
//! the room's default budgets: 200 plain listeners (no `batch`, no
//! receipts, nothing sent after "Connect") and one speaker at 20 messages
//! a second for five minutes. They cannot prove they read, so the room
//! presumes it; none of them may be closed, and each gets every message.
//! Before, flow control closed 179 of 200 within 150 s, and those clients
//! do not reconnect.
//!
//! `PLAIN_LISTENERS_SECS` shortens the run while developing.

#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use common::readers::*;
use common::{Client, Server};

/// Defaults, but for the speaker's rate (the default is 10 a second), the
/// sockets one address may open (every listener is 127.0.0.1), and the idle
/// timeout: listeners that never speak are closed after 300 s of silence
/// whatever they read, which is another policy than this test's.
const VARS: &[(&str, &str)] = &[
    ("RATE_PER_SEC", "40"),
    ("IDLE_TIMEOUT_SECS", "3600"),
    ("MAX_SOCKETS_PER_ADDRESS", "1000"),
];

const LISTENERS: usize = 200;
const PER_SEC: u64 = 20;

fn run_secs() -> u64 {
    std::env::var("PLAIN_LISTENERS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300)
}

/// A chat message of about 100 characters, numbered: what people write.
fn line(i: u64) -> String {
    format!("message {i:06}: the quick brown fox jumps over the lazy dog, and then over it again")
}

async fn plain_listeners_in_a_busy_room_are_never_closed(server: Server) {
    let mut listeners = Vec::new();
    for i in 0..LISTENERS {
        let path = format!("/ws/pl-{i}");
        let mut client = Client::connect(&server, &path, &format!("pl-{i}")).await;
        client.send("Connect").await;
        listeners.push(client);
    }
    let n = run_secs() * PER_SEC;
    let readers: Vec<_> = listeners
        .into_iter()
        .map(|c| plain_reader(c, n as usize))
        .collect();
    let speaker = join(&server, "pl-speaker", "room=lobby").await;
    let (mut sink, mut echoes) = speaker.into_socket().split();
    // The speaker's own copies are drained so it is a reader too.
    let drain = tokio::spawn(async move { while echoes.next().await.is_some() {} });
    let started = Instant::now();
    for i in 0..n {
        let due = started + Duration::from_millis(i * 1000 / PER_SEC);
        tokio::time::sleep_until(due.into()).await;
        sink.send(Message::text(line(i)))
            .await
            .expect("the speaker sends");
    }
    for (i, reader) in readers.into_iter().enumerate() {
        let read = reader.await.expect("a listener");
        assert_eq!(read.closed, None, "listener pl-{i} was closed");
        assert_eq!(read.seqs.len() as u64, n, "listener pl-{i} lost messages");
    }
    drain.abort();
    let closed: Vec<String> = (server.log_lines().into_iter())
        .filter(|l| l.contains("closed_by_room"))
        .collect();
    assert_eq!(closed, Vec::<String>::new(), "the room closed someone");
}

suite![
    vars: VARS;
    // Five minutes of traffic, plus joining 200 listeners and reading out.
    timeout_secs: 420;
    plain_listeners_in_a_busy_room_are_never_closed,
];
