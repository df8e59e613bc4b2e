//! Named rooms and durable, ordered history against the real runtime:
//! isolation, history on join, exact catch-up with `since`, idempotent
//! resends, one order for everyone under concurrency, survival of a killed
//! runtime, and of the room's eviction from memory while its sockets stay
//! open.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::{Client, Runtime, Server};
use serde_json::Value;

/// A small window makes pruning observable; a generous rate lets the
/// concurrency test send as fast as it can.
const VARS: &[(&str, &str)] = &[
    ("HISTORY_LIMIT", "20"),
    ("RATE_PER_SEC", "1000"),
    ("RATE_BURST", "1000"),
];

const QUIET: Duration = Duration::from_millis(400);

fn history(frames: &[Value]) -> &Value {
    common::frame_of(frames, "history")
}

fn texts(history: &Value) -> Vec<String> {
    common::history_messages(history)
        .iter()
        .map(|m| m["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn seqs(history: &Value) -> Vec<u64> {
    common::history_messages(history)
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

async fn say_and_ack(client: &mut Client, text: &str, cmid: &str) -> u64 {
    client.say(text, cmid).await;
    let ack = client
        .next_matching(&format!("ack of {cmid}"), |f| {
            f["type"] == "ack" && f["clientMsgId"] == cmid
        })
        .await;
    ack["seq"].as_u64().expect("ack carries seq")
}

async fn a_message_in_one_room_never_reaches_another(server: Server) {
    let (mut a, _) = Client::join_with(&server, "iso-a", "room=iso-one").await;
    let (mut b, _) = Client::join_with(&server, "iso-b", "room=iso-two").await;
    a.send("only for room one").await;
    a.expect_message("iso-a", "only for room one").await;
    b.expect_none(QUIET, "room one's traffic", |f| {
        f["clientId"] == "iso-a" || f["message"] == "only for room one"
    })
    .await;
    let (_, frames) = Client::join_with(&server, "iso-c", "room=iso-two").await;
    assert!(
        texts(history(&frames)).is_empty(),
        "room two has no history"
    );
}

async fn bad_room_names_are_refused_with_400(server: Server) {
    for query in [
        "room=Upper",
        "room=a%20b",
        "room=",
        &format!("room={}", "r".repeat(65)),
    ] {
        let resp = server.handshake_refusal(&format!("/ws/alice?{query}"));
        assert_eq!(resp.status, 400, "{query}: {}", resp.body);
        assert!(resp.body.contains("room name"), "{query}: {}", resp.body);
    }
}

async fn room_pages_serve_the_chat_page(server: Server) {
    let resp = server.get("/r/some-room");
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("/app.js"));
}

async fn a_newcomer_gets_the_history_in_order_then_live_traffic(server: Server) {
    let (mut alice, frames) = Client::join_with(&server, "hist-alice", "room=hist").await;
    assert!(texts(history(&frames)).is_empty());
    for i in 1..=3 {
        alice.send(&format!("line {i}")).await;
        alice
            .expect_message("hist-alice", &format!("line {i}"))
            .await;
    }
    let (mut bob, frames) = Client::join_with(&server, "hist-bob", "room=hist").await;
    let h = history(&frames);
    assert_eq!(texts(h), ["line 1", "line 2", "line 3"]);
    assert_eq!(seqs(h), [1, 2, 3]);
    assert_eq!(h["latestSeq"], 3);
    assert_eq!(h["truncated"], false);
    alice.send("live").await;
    let live = bob.expect_message("hist-alice", "live").await;
    assert_eq!(live["seq"], 4);
    assert!(live["id"].is_string());
}

async fn since_returns_exactly_the_missed_messages(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "since-alice", "room=since").await;
    for i in 1..=6 {
        say_and_ack(&mut alice, &format!("s{i}"), &format!("since-{i}")).await;
    }
    let (_, frames) = Client::join_with(&server, "since-bob", "room=since&since=4").await;
    let h = history(&frames);
    assert_eq!(texts(h), ["s5", "s6"]);
    assert_eq!(h["truncated"], false);
    let (_, frames) = Client::join_with(&server, "since-carol", "room=since&since=6").await;
    assert!(texts(history(&frames)).is_empty());
}

async fn since_older_than_the_window_says_so(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "trunc-alice", "room=trunc").await;
    for i in 1..=25 {
        say_and_ack(&mut alice, &format!("t{i}"), &format!("trunc-{i}")).await;
    }
    let (_, frames) = Client::join_with(&server, "trunc-bob", "room=trunc&since=2").await;
    let h = history(&frames);
    assert_eq!(h["truncated"], true, "{h}");
    assert_eq!(
        seqs(h),
        (6..=25).collect::<Vec<u64>>(),
        "the whole window of 20"
    );
    let (_, frames) = Client::join_with(&server, "trunc-carol", "room=trunc&since=5").await;
    let h = history(&frames);
    assert_eq!(h["truncated"], false, "seq 6 is still kept: {h}");
    assert_eq!(seqs(h).first(), Some(&6));
}

async fn a_resent_client_msg_id_is_acked_but_not_stored_twice(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "dup-alice", "room=dup").await;
    let (mut bob, _) = Client::join_with(&server, "dup-bob", "room=dup").await;
    let first = say_and_ack(&mut alice, "exactly once", "dup-1").await;
    bob.expect_message("dup-alice", "exactly once").await;
    // As after a reconnect: a new socket resends the same message.
    alice.close().await;
    let (mut alice, _) = Client::join_with(&server, "dup-alice", "room=dup").await;
    let again = say_and_ack(&mut alice, "exactly once", "dup-1").await;
    assert_eq!(first, again, "the resend is acked with the original seq");
    bob.expect_none(QUIET, "the message again", |f| {
        f["type"] == "message" && f["message"] == "exactly once"
    })
    .await;
    let (_, frames) = Client::join_with(&server, "dup-carol", "room=dup").await;
    assert_eq!(texts(history(&frames)), ["exactly once"]);
}

async fn concurrent_senders_see_one_order_without_gaps(server: Server) {
    const PER_CLIENT: usize = 50;
    let mut clients = Vec::new();
    for i in 0..3 {
        clients.push(
            Client::join_with(&server, &format!("conc-{i}"), "room=conc")
                .await
                .0,
        );
    }
    let runs = clients.into_iter().enumerate().map(|(i, mut c)| {
        tokio::spawn(async move {
            for n in 0..PER_CLIENT {
                c.say(&format!("c{i}-{n}"), &format!("conc-{i}-{n}")).await;
            }
            let mut seen = Vec::new();
            while seen.len() < 3 * PER_CLIENT {
                let f = c
                    .next_matching(
                        &format!("message {} of {}", seen.len() + 1, 3 * PER_CLIENT),
                        |f| f["type"] != "ack",
                    )
                    .await;
                if f["type"] == "message" {
                    seen.push((
                        f["seq"].as_u64().unwrap(),
                        f["message"].as_str().unwrap().to_owned(),
                    ));
                }
            }
            seen
        })
    });
    // Spawn all three before awaiting any, so they really send at once.
    let runs: Vec<_> = runs.collect();
    let mut orders = Vec::new();
    for run in runs {
        orders.push(run.await.expect("client task"));
    }
    let expected_seqs: Vec<u64> = (1..=(3 * PER_CLIENT) as u64).collect();
    for order in &orders {
        assert_eq!(order, &orders[0], "every client sees the same order");
        let seqs: Vec<u64> = order.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            seqs, expected_seqs,
            "seq is strictly increasing without gaps"
        );
    }
    // Each sender's own messages keep the order it sent them in.
    for i in 0..3 {
        let own: Vec<&str> = orders[0]
            .iter()
            .map(|(_, t)| t.as_str())
            .filter(|t| t.starts_with(&format!("c{i}-")))
            .collect();
        let sent: Vec<String> = (0..PER_CLIENT).map(|n| format!("c{i}-{n}")).collect();
        assert_eq!(own, sent);
    }
}

/// The crash runtime keeps every message, so the audit sees all of them.
const CRASH_VARS: &[(&str, &str)] = &[
    ("HISTORY_LIMIT", "1000"),
    ("RATE_PER_SEC", "1000"),
    ("RATE_BURST", "1000"),
];

/// Messages the crash test sends; the runtime is killed once a quarter of
/// them are acknowledged.
const SENT: usize = 400;

/// Messages the crash test's sender keeps unacknowledged, so the kill finds
/// some of them in flight.
const IN_FLIGHT: usize = 50;

async fn what_anyone_saw_survives_a_runtime_killed_mid_traffic(_server: Server) {
    let state = common::runtime::fresh_state_dir();
    let port = common::runtime::free_port();
    let mut rt = Runtime::start_on(port, state.clone(), CRASH_VARS);
    let server = rt.server();
    let (alice, _) = Client::join_with(&server, "dura-alice", "room=dura").await;
    let (bob, _) = Client::join_with(&server, "dura-bob", "room=dura").await;
    let sent: Vec<(String, String)> = (1..=SENT)
        .map(|i| (format!("durable {i}"), format!("dura-{i}")))
        .collect();
    let watcher = bob.start_traffic(Vec::new(), 0);
    let mut sender = alice.start_traffic(sent.clone(), IN_FLIGHT);
    sender.wait_for_acks(SENT / 4).await;
    // SIGKILL, as a crash: no graceful shutdown, no flush on exit.
    tokio::task::block_in_place(|| rt.kill());
    let heard = [sender.heard().await, watcher.heard().await];
    let (acked, shown) = common::shown_before_the_kill("dura-alice", &heard, SENT);

    let mut rt = Runtime::start_on(port, state.clone(), CRASH_VARS);
    let (_, frames) = Client::join_with(&server, "dura-carol", "room=dura").await;
    let stored = common::audit_crash("dura-alice", &sent, &shown, history(&frames));
    let (mut alice, _) = Client::join_with(&server, "dura-alice", "room=dura").await;
    let _ = common::resend_unacked(&mut alice, &sent, &acked, &stored).await;
    let (_, frames) = Client::join_with(&server, "dura-dave", "room=dura").await;
    common::assert_kept_once_in_order(history(&frames), "dura-alice", &sent);
    assert_eq!(seqs(history(&frames)).len(), SENT);
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

/// The hibernation runtime: a slow refill makes a room's forgotten rate
/// bucket visible (see the test).
const SLEEP_VARS: &[(&str, &str)] = &[("RATE_PER_SEC", "1"), ("RATE_BURST", "40")];

/// workerd evicts a Durable Object from memory after this long without an
/// event ("By default, Durable Objects are evicted after 10 seconds of
/// inactivity", miniflare's workerd config); sockets accepted through the
/// hibernation API stay open meanwhile.
const EVICTION_AFTER: Duration = Duration::from_secs(10);

async fn a_room_evicted_from_memory_keeps_its_sockets_presence_history_and_sessions(
    _server: Server,
) {
    let mut rt = Runtime::start(SLEEP_VARS);
    let server = rt.server();
    let (mut alice, _) = Client::join_with(&server, "hib-alice", "room=hib&name=Alice").await;
    let (mut bob, _) = Client::join_with(&server, "hib-bob", "room=hib").await;
    alice.expect_join_of("hib-bob").await;
    let first = say_and_ack(&mut alice, "before the sleep", "hib-1").await;
    bob.expect_message("hib-alice", "before the sleep").await;

    // Nothing outside the room shows whether it was evicted, except what it
    // keeps only in memory: rate buckets. Empty Alice's (typing notices take
    // a token each and store nothing), then stay silent past the eviction.
    for _ in 0..50 {
        alice.send(common::TYPING).await;
    }
    alice.expect_error("rate_limited").await;
    let drained = tokio::time::Instant::now();
    // Silence is the one thing to wait for, and there is no event that says
    // it was long enough: any frame to the room would wake it. The pings go
    // to the runtime, which answers them itself.
    let silent_until = tokio::time::Instant::now() + EVICTION_AFTER + Duration::from_secs(5);
    while tokio::time::Instant::now() < silent_until {
        alice.send(common::PING).await;
        alice.next_matching("pong", |f| f["type"] == "pong").await;
        tokio::time::sleep_until(
            silent_until.min(tokio::time::Instant::now() + Duration::from_secs(1)),
        )
        .await;
    }
    // A bucket that refilled at 1/s for the silence holds about 15 tokens;
    // only a room built afresh has 40, enough for these 31 frames.
    assert!(
        drained.elapsed() < Duration::from_secs(25),
        "the silence took so long that a refilled bucket would pass the probe"
    );
    for _ in 0..30 {
        alice.send(common::TYPING).await;
    }
    alice.say("after the sleep", "hib-2").await;
    let ack = alice
        .next_matching("ack of hib-2 or a refusal", |f| {
            f["type"] == "ack" || f["type"] == "error"
        })
        .await;
    assert_eq!(
        ack["type"], "ack",
        "the room kept its memory through the silence, so it was never evicted: {ack}"
    );

    // The woken room numbers on from storage and still knows each socket.
    assert_eq!(ack["seq"], first + 1, "{ack}");
    let heard = bob.expect_message("hib-alice", "after the sleep").await;
    assert_eq!(
        heard["name"], "Alice",
        "the name lives in the socket's attachment"
    );
    assert_eq!(
        say_and_ack(&mut alice, "before the sleep", "hib-1").await,
        first
    );
    // Alice spoke before the sleep, so `Connect` is chat now, not a greeting.
    alice.send("Connect").await;
    bob.expect_message("hib-alice", "Connect").await;
    let (_, frames) = Client::join_with(&server, "hib-carol", "room=hib").await;
    let presence = common::frame_of(&frames, "presence");
    assert_eq!(presence["count"], 3, "{presence}");
    assert_eq!(
        presence["members"],
        serde_json::json!([
            {"clientId": "hib-alice", "name": "Alice"},
            {"clientId": "hib-bob"},
            {"clientId": "hib-carol"}
        ])
    );
    assert_eq!(
        texts(history(&frames)),
        ["before the sleep", "after the sleep", "Connect"]
    );
    bob.close().await;
    alice.expect_leave_of("hib-bob").await;
    rt.stop();
}

/// An idle timeout whose sweep interval (half of it) is longer than
/// [`EVICTION_AFTER`], so the room sleeps between sweeps, as it does with
/// the default of 300 s.
const SLEEPY_IDLE_TIMEOUT: Duration = Duration::from_secs(22);

async fn a_silent_socket_is_closed_even_when_the_room_sleeps_between_sweeps(_server: Server) {
    let timeout = SLEEPY_IDLE_TIMEOUT.as_secs().to_string();
    let mut rt = Runtime::start(&[("IDLE_TIMEOUT_SECS", &timeout)]);
    let server = rt.server();
    let (mut silent, _) = Client::join_with(&server, "nap-silent", "room=nap").await;
    let (mut pinger, _) = Client::join_with(&server, "nap-pinger", "room=nap").await;
    // A sweep every half timeout closes a silent socket at most half a
    // timeout late; the rest is slack for a busy machine.
    let within = SLEEPY_IDLE_TIMEOUT * 3 / 2 + Duration::from_secs(5);
    let closed = silent
        .closed_while_others_ping(&mut [&mut pinger], within)
        .await;
    assert_eq!(
        closed,
        Some((1001, "idle timeout".to_owned())),
        "open after {within:?} of silence: each sweep ran in a room just woken from \
         hibernation, which counts idleness from its own wake-up"
    );
    pinger.expect_leave_of("nap-silent").await;
    rt.stop();
}

suite![
    vars: VARS;
    a_message_in_one_room_never_reaches_another,
    bad_room_names_are_refused_with_400,
    room_pages_serve_the_chat_page,
    a_newcomer_gets_the_history_in_order_then_live_traffic,
    since_returns_exactly_the_missed_messages,
    since_older_than_the_window_says_so,
    a_resent_client_msg_id_is_acked_but_not_stored_twice,
    concurrent_senders_see_one_order_without_gaps,
    what_anyone_saw_survives_a_runtime_killed_mid_traffic,
    a_room_evicted_from_memory_keeps_its_sockets_presence_history_and_sessions,
    a_silent_socket_is_closed_even_when_the_room_sleeps_between_sweeps,
];
