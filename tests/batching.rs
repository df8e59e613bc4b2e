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

use common::{Client, Runtime, Server};
use serde_json::Value;

const VARS: &[(&str, &str)] = &[("RATE_PER_SEC", "1000"), ("RATE_BURST", "1000")];

/// The frames one received frame carries: a `batch` frame's inner frames,
/// or the frame itself.
fn unpacked(frame: Value) -> Vec<Value> {
    if frame["type"] != "batch" {
        return vec![frame];
    }
    assert_eq!(frame["clientId"], "server", "{frame}");
    frame["frames"].as_array().expect("frames").clone()
}

/// Reads frames until `n` chat messages have arrived, unpacking batches.
/// Returns the seqs in arrival order and how many frames carried them.
async fn read_messages(client: &mut Client, n: usize) -> (Vec<u64>, usize, usize) {
    let (mut seqs, mut frames, mut batches) = (Vec::new(), 0, 0);
    while seqs.len() < n {
        let frame = client.next().await;
        if frame["type"] == "batch" {
            batches += 1;
        }
        let inner = unpacked(frame);
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

async fn a_quiet_room_sends_a_batch_client_plain_frames_at_once(server: Server) {
    let (mut batcher, _) = Client::join_with(&server, "quiet-batcher", "room=quiet&batch=1").await;
    let (mut sender, _) = Client::join_with(&server, "quiet-sender", "room=quiet").await;
    batcher.expect_join_of("quiet-sender").await;
    sender.send("just one").await;
    let frame = batcher.next().await;
    assert_eq!(frame["type"], "message", "{frame}");
    assert_eq!(frame["message"], "just one");
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
        for f in unpacked(a.next().await) {
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

async fn batched_messages_survive_a_killed_runtime(_server: Server) {
    // More than the history window (100 by default), so one commit per
    // batch must also prune to exactly the newest 100.
    const N: u64 = 130;
    let state = common::runtime::fresh_state_dir();
    let port = common::runtime::free_port();
    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    let server = rt.server();
    // Only batch sockets, so no message is written before its batch.
    let (mut watcher, _) = Client::join_with(&server, "wb-watcher", "room=wb&batch=1").await;
    let (mut sender, _) = Client::join_with(&server, "wb-sender", "room=wb&batch=1").await;
    watcher.expect_join_of("wb-sender").await;
    for i in 1..=N {
        sender.send(&format!("wb {i}")).await;
    }
    let (seen, _, batches) = read_messages(&mut watcher, N as usize).await;
    assert_eq!(seen, (1..=N).collect::<Vec<u64>>());
    assert!(batches > 0, "the burst was never held, so nothing waited");
    // SIGKILL, as a crash, the moment the watcher has seen everything.
    rt.kill();
    drop((watcher, sender));
    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    // Asking from seq 1 shows what is kept, not only the newest 100: had
    // pruning been skipped, seq 2 onwards would still be there.
    let (mut late, frames) = Client::join_with(&server, "wb-late", "room=wb&since=1").await;
    let history = common::frame_of(&frames, "history");
    let kept: Vec<u64> = common::history_messages(history)
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(kept, (N - 99..=N).collect::<Vec<u64>>(), "the newest 100");
    assert_eq!(history["truncated"], true, "older ones were pruned");
    late.send("after the crash").await;
    let (next, _, _) = read_messages(&mut late, 1).await;
    assert_eq!(next, [N + 1], "numbering goes on from storage");
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

suite![
    vars: VARS;
    a_busy_room_batches_for_batch_clients_only,
    a_quiet_room_sends_a_batch_client_plain_frames_at_once,
    an_ack_never_overtakes_its_message_and_does_not_break_the_batch,
    batched_messages_survive_a_killed_runtime,
];
