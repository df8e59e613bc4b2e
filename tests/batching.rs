//! Coalescing against the real runtime: a client that connected with
//! `batch=1` gets a busy room's messages packed into `batch` frames, in
//! order and without loss, while a plain client in the same room still gets
//! exactly one JSON object per message, and a quiet room sends at once. A
//! busy room writes its messages once per batch; what anyone saw still
//! survives a killed runtime.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use common::{Client, Runtime, Server};
use serde_json::{json, Value};

const VARS: &[(&str, &str)] = &[("RATE_PER_SEC", "1000"), ("RATE_BURST", "1000")];

/// Reads frames until `n` chat messages have arrived, unpacking batches.
/// Returns the seqs in arrival order and how many frames carried them.
async fn read_messages(client: &mut Client, n: usize) -> (Vec<u64>, usize, usize) {
    let (mut seqs, mut frames, mut batches) = (Vec::new(), 0, 0);
    while seqs.len() < n {
        let frame = client.next().await;
        if frame["type"] == "batch" {
            batches += 1;
        }
        let inner = common::unpacked(frame);
        let before = seqs.len();
        seqs.extend(
            inner
                .iter()
                .filter(|f| f["type"] == "message")
                .map(|f| f["seq"].as_u64().expect("seq")),
        );
        if seqs.len() > before {
            frames += 1;
        }
    }
    (seqs, frames, batches)
}

async fn a_busy_room_batches_for_batch_clients_only(server: Server) {
    const N: usize = 300;
    let (mut batcher, _) = Client::join_with(&server, "bat-batcher", "room=bat&batch=1").await;
    let (mut plain, _) = Client::join_with(&server, "bat-plain", "room=bat").await;
    let (mut sender, _) = Client::join_with(&server, "bat-sender", "room=bat").await;
    for i in 0..N {
        sender.send(&format!("burst {i}")).await;
    }
    let expected: Vec<u64> = (1..=N as u64).collect();
    let (seqs, frames, batches) = read_messages(&mut batcher, N).await;
    assert_eq!(seqs, expected, "batched: all, in order, once");
    assert!(batches > 0, "a burst of {N} produced no batch");
    assert!(
        frames < N,
        "{frames} frames for {N} messages is no coalescing"
    );
    let (seqs, frames, batches) = read_messages(&mut plain, N).await;
    assert_eq!(seqs, expected, "plain: all, in order, once");
    assert_eq!(
        (frames, batches),
        (N, 0),
        "a plain client gets one frame per message"
    );
}

/// How long a busy room holds a broadcast (`src/send/coalesce.rs`); a room that
/// sent nothing for this long is quiet.
const COALESCE_WINDOW: Duration = Duration::from_millis(10);

/// The next frame `client` receives, and when.
async fn timed_next(mut client: Client) -> (Client, Value, Instant) {
    let frame = client.next().await;
    (client, frame, Instant::now())
}

async fn a_quiet_room_sends_a_batch_client_plain_frames_at_once(server: Server) {
    const TRIALS: usize = 7;
    let (mut batcher, _) = Client::join_with(&server, "quiet-batcher", "room=quiet&batch=1").await;
    let (mut plain, _) = Client::join_with(&server, "quiet-plain", "room=quiet").await;
    let (mut sender, _) = Client::join_with(&server, "quiet-sender", "room=quiet").await;
    batcher.expect_join_of("quiet-plain").await;
    batcher.expect_join_of("quiet-sender").await;
    plain.expect_join_of("quiet-sender").await;
    // The shape of the frame cannot show "at once": a held broadcast that is
    // alone goes out as a plain frame too, one window later. The plain
    // client's copy is sent in the same turn as an unheld batch copy, so the
    // two arrive together; a held one would lag by the window.
    let mut lags = Vec::new();
    for i in 0..TRIALS {
        // Two windows without a broadcast: the room is quiet again.
        tokio::time::sleep(2 * COALESCE_WINDOW).await;
        let text = format!("quiet {i}");
        let (to_batcher, to_plain) = (
            tokio::spawn(timed_next(batcher)),
            tokio::spawn(timed_next(plain)),
        );
        sender.send(&text).await;
        let (b, frame, at_batcher) = to_batcher.await.expect("batcher");
        let (p, copy, at_plain) = to_plain.await.expect("plain");
        (batcher, plain) = (b, p);
        assert_eq!(frame["type"], "message", "{frame}");
        assert_eq!(
            (&frame["message"], &copy["message"]),
            (&json!(text), &json!(text))
        );
        lags.push(at_batcher.saturating_duration_since(at_plain));
        sender.expect_message("quiet-sender", &text).await;
    }
    // The median, so one scheduling hiccup on a busy machine does not count.
    lags.sort();
    assert!(
        lags[TRIALS / 2] < COALESCE_WINDOW / 2,
        "the batch client's copy lagged the plain one by {lags:?}: it was held"
    );
}

async fn an_ack_never_overtakes_its_message_and_does_not_break_the_batch(server: Server) {
    let (mut a, _) = Client::join_with(&server, "ack-a", "room=acks&batch=1").await;
    for i in 0..50 {
        a.say(&format!("m{i}"), &format!("ack-{i}")).await;
    }
    let mut seen_messages = std::collections::HashSet::new();
    let (mut acks, mut frames) = (0, 0);
    while acks < 50 {
        frames += 1;
        for f in common::unpacked(a.next().await) {
            match f["type"].as_str() {
                Some("message") => {
                    seen_messages.insert(f["seq"].as_u64().unwrap());
                }
                Some("ack") => {
                    let seq = f["seq"].as_u64().unwrap();
                    assert!(
                        seen_messages.contains(&seq),
                        "ack of {seq} before the message"
                    );
                    acks += 1;
                }
                _ => {}
            }
        }
    }
    // Acks join the held frames instead of flushing them, so a page client
    // in a busy room still gets batches (and the room still writes once
    // per batch).
    assert!(
        frames < 50,
        "{frames} frames for 50 messages and their acks is no batching"
    );
}

/// Messages a crash test's sender keeps unacknowledged: several batches'
/// worth, so the kill finds some written and not yet shown, and some not
/// yet written.
const IN_FLIGHT: usize = 50;

async fn what_a_batching_room_showed_survives_a_kill_mid_burst(_server: Server) {
    // Enough that the kill lands while the sender still has some in flight.
    const SENT: usize = 1_000;
    let state = common::runtime::fresh_state_dir();
    let port = common::runtime::free_port();
    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    let server = rt.server();
    // Only batch sockets, so every message waits for its batch's write and
    // its ack travels in that batch, right after it.
    let (mut watcher, _) = Client::join_with(&server, "wb-watcher", "room=wb&batch=1").await;
    let (sender, _) = Client::join_with(&server, "wb-sender", "room=wb&batch=1").await;
    watcher.expect_join_of("wb-sender").await;
    let sent: Vec<(String, String)> = (1..=SENT)
        .map(|i| (format!("wb {i}"), format!("wb-{i}")))
        .collect();
    let watcher = watcher.start_traffic(Vec::new(), 0);
    let mut sender = sender.start_traffic(sent.clone(), IN_FLIGHT);
    // Three history windows (100 by default), so the commits of whole
    // batches have pruned too.
    sender.wait_for_acks(300).await;
    // SIGKILL, as a crash, while batches are being written and sent. A kill
    // cannot catch a flush that sends a moment before it writes within one
    // turn of the room: that write reaches the kernel microseconds later and
    // outlives the process. It does catch a flush that shows messages whose
    // write comes in a later turn, or never.
    tokio::task::block_in_place(|| rt.kill());
    let heard = [sender.heard().await, watcher.heard().await];
    assert!(
        heard[1].batches > 0,
        "the burst was never held, so nothing waited"
    );
    let (acked, shown) = common::shown_before_the_kill("wb-sender", &heard, SENT);

    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    // Asking from seq 1 shows what is kept, not only the newest 100: had
    // pruning been skipped, seq 2 onwards would still be there.
    let (_, frames) = Client::join_with(&server, "wb-late", "room=wb&since=1").await;
    let history = common::frame_of(&frames, "history");
    assert_eq!(history["truncated"], true, "older ones were pruned");
    assert_eq!(
        common::history_messages(history).len(),
        100,
        "the newest 100"
    );
    let stored = common::audit_crash("wb-sender", &sent, &shown, history);
    let (mut resender, _) = Client::join_with(&server, "wb-sender", "room=wb&batch=1").await;
    let new = common::resend_unacked(&mut resender, &sent, &acked, &stored).await;
    let (_, frames) = Client::join_with(&server, "wb-audit", "room=wb").await;
    let after = common::frame_of(&frames, "history");
    common::assert_kept_once_in_order(after, "wb-sender", &sent);
    // Numbering goes on from storage, and a resend adds only what the crash
    // did not keep.
    let latest = |h: &Value| h["latestSeq"].as_u64().expect("latestSeq");
    assert_eq!(latest(after), latest(history) + new as u64);
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

suite![
    vars: VARS;
    a_busy_room_batches_for_batch_clients_only,
    a_quiet_room_sends_a_batch_client_plain_frames_at_once,
    an_ack_never_overtakes_its_message_and_does_not_break_the_batch,
    what_a_batching_room_showed_survives_a_kill_mid_burst,
];
