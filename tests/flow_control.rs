//! Flow control against the real runtime (src/send/flow.rs): a socket that stops
//! reading is closed with 1013 before it can sink the room, and nobody
//! else notices. Budgets are small here (512 KiB a socket, 2 MiB the room)
//! so a few megabytes of traffic prove it.
//!
//! A socket that "does not read" completes the handshake and is then never
//! polled: what the room sends it piles up in the kernel and in workerd,
//! exactly as for a stalled client on the internet.

#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use common::{Client, Server};

const VARS: &[(&str, &str)] = &[
    ("RATE_PER_SEC", "100000"),
    ("RATE_BURST", "10000"),
    ("FLOW_SOCKET_BUDGET_KB", "512"),
    ("FLOW_ROOM_BUDGET_KB", "2048"),
];

/// The page's receipt interval (public/limits.js, RECEIPT_EVERY_CHARS).
const RECEIPT_EVERY: usize = 64 * 1024;

/// A 1,900-character message, numbered.
fn body(i: usize) -> String {
    let head = format!("msg {i:05} ");
    format!("{head}{}", "x".repeat(1900 - head.len()))
}

/// How a reader ended: the seqs of the chat messages it read, in order, and
/// the close it got, if the server closed it.
#[derive(Debug)]
struct Read {
    seqs: Vec<u64>,
    closed: Option<(u16, String)>,
}

/// Reads as our page does: counts frames, sends `{"type":"seen"}` after each
/// 64 KiB, and after each receipt pauses for `pause` (a busy page). Stops
/// after `want` messages or a close.
fn page_reader(client: Client, want: usize, pause: Duration) -> JoinHandle<Read> {
    let ws = client.into_socket();
    tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let (mut frames, mut chars) = (0u64, 0usize);
        let mut read = Read {
            seqs: Vec::new(),
            closed: None,
        };
        while read.seqs.len() < want {
            let msg = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
            let text = match msg {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(frame)))) => {
                    read.closed = frame.map(|f| (f.code.into(), f.reason.to_string()));
                    break;
                }
                Ok(Some(Ok(_))) => continue,
                other => panic!("the page reader's socket ended: {other:?}"),
            };
            frames += 1;
            chars += text.len();
            collect(&text, &mut read.seqs);
            if chars >= RECEIPT_EVERY {
                chars = 0;
                // Exactly as the page writes it.
                let receipt = format!(r#"{{"type":"seen","frames":{frames}}}"#);
                sink.send(Message::text(receipt)).await.expect("receipt");
                tokio::time::sleep(pause).await;
            }
        }
        read
    })
}

/// Reads every frame plainly, never sending, until `want` messages or a
/// close.
fn plain_reader(client: Client, want: usize) -> JoinHandle<Read> {
    let mut ws = client.into_socket();
    tokio::spawn(async move { read_messages(&mut ws, want, "a plain reader").await })
}

/// Reads until `want` chat messages or a close, without receipts.
async fn read_messages<S, E>(stream: &mut S, want: usize, who: &str) -> Read
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    let mut read = Read {
        seqs: Vec::new(),
        closed: None,
    };
    while read.seqs.len() < want {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => collect(&text, &mut read.seqs),
            Ok(Some(Ok(Message::Close(frame)))) => {
                read.closed = frame.map(|f| (f.code.into(), f.reason.to_string()));
                break;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("{who}'s socket ended: {other:?}"),
        }
    }
    read
}

fn collect(text: &str, seqs: &mut Vec<u64>) {
    let frame: Value = serde_json::from_str(text).expect("JSON");
    for f in common::unpacked(frame) {
        if f["type"] == "message" {
            seqs.push(f["seq"].as_u64().expect("seq"));
        }
    }
}

/// Sends `n` messages from `client`, `gap` apart, while reading its echoes;
/// returns the seqs it read back.
fn sender(client: Client, n: usize, gap: Duration) -> JoinHandle<Read> {
    let (mut sink, stream) = client.into_socket().split();
    let reader = tokio::spawn(async move {
        let mut stream = stream;
        read_messages(&mut stream, n, "the sender").await
    });
    tokio::spawn(async move {
        for i in 0..n {
            sink.send(Message::text(body(i))).await.expect("send");
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
        reader.await.expect("sender's reader")
    })
}

async fn join(server: &Server, id: &str, query: &str) -> Client {
    Client::join_with(server, id, query).await.0
}

/// Every seq from `first`, `n` of them, once and in order.
fn assert_all(read: &Read, who: &str, first: u64, n: usize) {
    assert_eq!(read.closed, None, "{who} was closed");
    let expected: Vec<u64> = (first..first + n as u64).collect();
    assert!(
        read.seqs == expected,
        "{who} read {} messages, not {first}..+{n} in order, once",
        read.seqs.len()
    );
}

/// The room's log lines about closing `id`.
fn closes_of(server: &Server, id: &str) -> Vec<String> {
    (server.log_lines().into_iter())
        .filter(|l| l.contains("closed_by_room") && l.contains(&format!("\"{id}\"")))
        .collect()
}

async fn wait_for_close_log(server: &Server, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = closes_of(server, id).pop() {
            return line;
        }
        assert!(Instant::now() < deadline, "no close was logged for {id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads what piled up for a socket that never read, to its close.
async fn close_of_stalled(client: Client) -> (u16, String) {
    let mut ws = client.into_socket();
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code.into(), f.reason.to_string()),
            Ok(Some(Ok(_))) => continue,
            other => panic!("the stalled socket ended without a close frame: {other:?}"),
        }
    }
}

const N: usize = 1500;

/// Between a flooder's messages: a busy room, not one burst the room takes
/// in whole before its first flush (no client's rate limit allows that).
const GAP: Duration = Duration::from_millis(1);

/// Messages in the second flood: with a plain listener's copy, well under
/// the room's 2 MiB, unless the closed socket's bytes were never freed.
const N2: usize = 600;

/// (1) and (5): a plain socket that never reads is closed once the room's
/// budget is passed, it alone, and its bytes are freed: afterwards a plain
/// listener that never confirms gets 1.1 MB and is not closed. The readers
/// lose nothing and wait no longer for a message than in a quiet room.
async fn a_silent_reader_is_closed_and_bystanders_lose_nothing(server: Server) {
    let silent = Client::connect(&server, "/ws/fc-s-silent?room=fc-s", "fc-s-silent").await;
    let page = join(&server, "fc-s-page", "room=fc-s&batch=1").await;
    let quiet_rtt = round_trip(&server, "fc-s-probe1").await;
    let flood = join(&server, "fc-s-flood", "room=fc-s").await;
    let page = page_reader(page, N + 2 + N2, Duration::ZERO);
    let flooded = sender(flood, N, GAP).await.expect("flood");
    let line = wait_for_close_log(&server, "fc-s-silent").await;
    assert!(
        line.contains("1013") && line.contains("room_budget"),
        "{line}"
    );
    assert_eq!(
        close_of_stalled(silent).await,
        (1013, "too slow, reconnect".into())
    );
    let busy_rtt = round_trip(&server, "fc-s-probe2").await;
    assert!(
        busy_rtt < quiet_rtt + Duration::from_millis(500),
        "a probe took {busy_rtt:?}, {quiet_rtt:?} in a quiet room"
    );

    let listener = join(&server, "fc-s-listener", "room=fc-s").await;
    let listener = plain_reader(listener, N2);
    let flood = join(&server, "fc-s-flood2", "room=fc-s").await;
    let again = sender(flood, N2, GAP).await.expect("flood");
    let page = page.await.expect("page reader");
    assert_all(&flooded, "the flooder", 2, N);
    assert_all(&again, "the second flooder", N as u64 + 3, N2);
    assert_all(
        &listener.await.expect("listener"),
        "the listener",
        N as u64 + 3,
        N2,
    );
    assert_eq!(page.closed, None, "the page was closed");
    assert_eq!(page.seqs.len(), N + 2 + N2, "the page lost messages");
    for id in ["fc-s-page", "fc-s-flood", "fc-s-flood2", "fc-s-listener"] {
        assert_eq!(closes_of(&server, id), Vec::<String>::new(), "{id}");
    }
}

/// A new client's message, from sending it to reading it back.
async fn round_trip(server: &Server, id: &str) -> Duration {
    let mut probe = join(server, id, "room=fc-s").await;
    let started = Instant::now();
    probe.say("probe", id).await;
    let me = probe.id.clone();
    let own = move |f: &Value| f["type"] == "message" && f["clientId"] == me.as_str();
    probe.next_matching("the probe's echo", own).await;
    let took = started.elapsed();
    probe.close().await;
    took
}

/// A socket that sends receipts and then stops reading is held to its own
/// budget: it is closed long before the room's budget comes into it.
async fn a_receipt_sender_that_stops_reading_is_closed_at_its_budget(server: Server) {
    let mut stalled = join(&server, "fc-b-stalled", "room=fc-b&batch=1").await;
    stalled.send(r#"{"type":"seen","frames":0}"#).await;
    let page = join(&server, "fc-b-page", "room=fc-b&batch=1").await;
    let page = page_reader(page, 400, Duration::ZERO);
    // 400 x 1.9 KB: over the socket's 512 KiB, under the room's 2 MiB.
    let flood = join(&server, "fc-b-flood", "room=fc-b").await;
    let flooded = sender(flood, 400, GAP).await.expect("flood");
    let line = wait_for_close_log(&server, "fc-b-stalled").await;
    assert!(
        line.contains("1013") && line.contains("socket_budget"),
        "{line}"
    );
    assert_eq!(
        close_of_stalled(stalled).await,
        (1013, "too slow, reconnect".into())
    );
    assert_all(&flooded, "the flooder", 1, 400);
    assert_all(&page.await.expect("page"), "the page", 1, 400);
}

/// (2) A page that reads slowly (a pause after every receipt) but keeps up
/// is never closed, though it reads many times its budget.
async fn a_page_that_reads_slowly_is_never_closed(server: Server) {
    const M: usize = 2000; // 3.8 MB: seven times the socket budget
    let page = join(&server, "fc-p-page", "room=fc-p&batch=1").await;
    let page = page_reader(page, M, Duration::from_millis(100));
    let flood = join(&server, "fc-p-flood", "room=fc-p").await;
    let flooded = sender(flood, M, Duration::from_millis(4))
        .await
        .expect("flood");
    assert_all(&flooded, "the sender", 1, M);
    assert_all(&page.await.expect("page"), "the slow page", 1, M);
    assert_eq!(closes_of(&server, "fc-p-page"), Vec::<String>::new());
}

/// (4) A plain listener never sends a frame and never confirms; in a quiet
/// room it gets more than a socket's budget and stays connected.
async fn a_plain_listener_in_a_quiet_room_stays_connected(server: Server) {
    const M: usize = 400; // 760 KB: over the socket budget, under the room's
    let listener = join(&server, "fc-q-listener", "room=fc-q").await;
    let listener = plain_reader(listener, M);
    let talker = join(&server, "fc-q-talker", "room=fc-q").await;
    let talked = sender(talker, M, Duration::from_millis(10))
        .await
        .expect("talk");
    assert_all(&talked, "the talker", 1, M);
    assert_all(&listener.await.expect("listener"), "the listener", 1, M);
    assert_eq!(closes_of(&server, "fc-q-listener"), Vec::<String>::new());
}

suite![
    vars: VARS;
    a_silent_reader_is_closed_and_bystanders_lose_nothing,
    a_receipt_sender_that_stops_reading_is_closed_at_its_budget,
    a_page_that_reads_slowly_is_never_closed,
    a_plain_listener_in_a_quiet_room_stays_connected,
];
