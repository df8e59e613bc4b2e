//! A room spread over relay objects, against the real runtime: past
//! `RELAY_THRESHOLD` sockets (0 here: every socket) the room places sockets
//! on relays of `RELAY_CAPACITY` each and stays the one sequencer. These
//! tests prove what must survive the spread: one `seq` order and each
//! message once on every socket, whichever relay it is on; a thousand
//! clients over twenty relays; nothing shown lost to a SIGKILL mid-burst,
//! and no ghost of a dead relay's sockets after it; a relay that empties
//! retired and its seat reused; a kick that reaches tabs on other relays;
//! edits, deletes and `since` across relays. The other suites run again
//! with every room forced onto relays of three (`.ci/run`).

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::tokens::{member, mint_with, moderator, SECRET};
use common::{Client, Runtime, Server};
use edge_chat::access::auth::Role;
use serde_json::{json, Value};

/// Relays of three: the 1st to 3rd socket of a room on relay 0, the 4th to
/// 6th on relay 1, and so on (placement fills the lowest relay first).
const VARS: &[(&str, &str)] = &[
    ("RELAY_THRESHOLD", "0"),
    ("RELAY_CAPACITY", "3"),
    ("RATE_PER_SEC", "1000"),
    ("RATE_BURST", "1000"),
];

/// The room's presence as the HTTP API answers it; in token mode `auth`
/// carries a bearer token.
fn presence(server: &Server, room: &str, auth: &[(&str, &str)]) -> Value {
    let resp = server.request("GET", &format!("/api/rooms/{room}/presence"), auth);
    assert_eq!(resp.status, 200, "{}", resp.body);
    serde_json::from_str(&resp.body).expect("presence JSON")
}

/// Waits until the API's presence of `room` has `count` people on
/// `relays` relays: a departure reaches the room a moment after the close.
async fn presence_becomes(server: &Server, room: &str, count: u64, relays: u64) {
    presence_becomes_as(server, room, (count, relays), &[]).await
}

async fn presence_becomes_as(
    server: &Server,
    room: &str,
    (count, relays): (u64, u64),
    auth: &[(&str, &str)],
) {
    let deadline = Instant::now() + common::client::FRAME_TIMEOUT;
    loop {
        let p = tokio::task::block_in_place(|| presence(server, room, auth));
        if p["count"] == count && p["relays"] == relays {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "presence of {room} stayed {p}, not {count} on {relays} relays"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `client`'s frames, batches unpacked, until it has `n` chat
/// messages; returns their seqs in arrival order and every frame read.
async fn read_messages(client: &mut Client, n: usize) -> (Vec<u64>, Vec<Value>) {
    let (mut seqs, mut frames) = (Vec::new(), Vec::new());
    while seqs.len() < n {
        for f in common::unpacked(client.next().await) {
            if f["type"] == "message" {
                seqs.push(f["seq"].as_u64().expect("seq"));
            }
            frames.push(f);
        }
    }
    (seqs, frames)
}

/// Every kept message of `room` (up to 1,000), as the API pages them,
/// shaped as a `history` frame for the crash audit.
fn kept(server: &Server, room: &str) -> Value {
    let page = server.get(&format!("/api/rooms/{room}/messages?limit=1000"));
    assert_eq!(page.status, 200, "{}", page.body);
    let page: Value = serde_json::from_str(&page.body).expect("messages JSON");
    let messages = page["messages"].clone();
    let latest = messages
        .as_array()
        .and_then(|m| m.last())
        .map_or(0, |m| m["seq"].as_u64().unwrap_or(0));
    json!({"messages": messages, "latestSeq": latest})
}

/// Reads until a frame of `kind` arrives, alone or in a batch.
async fn next_of(client: &mut Client, kind: &str) -> Value {
    loop {
        let frames = common::unpacked(client.next().await);
        if let Some(f) = frames.into_iter().find(|f| f["type"] == kind) {
            return f;
        }
    }
}

/// A newcomer's history and the frames that came after it in the same
/// batch. No message may come before the history: the history may hold it
/// too, which is what admitting a socket before the room does would send.
async fn history_then_rest(client: &mut Client, id: &str) -> (Value, Vec<Value>) {
    loop {
        let mut frames = common::unpacked(client.next().await);
        let at = frames.iter().position(|f| f["type"] == "history");
        let before = &frames[..at.unwrap_or(frames.len())];
        assert!(
            !before.iter().any(|f| f["type"] == "message"),
            "{id} heard a message before its history: {before:?}"
        );
        if let Some(at) = at {
            let rest = frames.split_off(at + 1);
            return (frames.pop().expect("the history"), rest);
        }
    }
}

/// Every seq once, in rising order.
fn assert_once_in_order(who: &str, seqs: &[u64]) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{who} heard seqs out of order or twice: {seqs:?}"
    );
}

async fn senders_on_three_relays_are_heard_in_one_order_exactly_once(server: Server) {
    const EACH: usize = 40;
    let room = "rl-order";
    // Nine sockets: three relays of three, a sender on each.
    let mut clients = Vec::new();
    for i in 0..9 {
        let query = format!("room={room}&batch={}", i % 2);
        clients.push(
            Client::join_with(&server, &format!("rl-o{i}"), &query)
                .await
                .0,
        );
    }
    presence_becomes(&server, room, 9, 3).await;
    let senders = [0, 4, 8];
    for round in 0..EACH {
        for &s in &senders {
            let (text, cmid) = (format!("{s}:{round}"), format!("o{s}-{round}"));
            clients[s].say(&text, &cmid).await;
        }
    }
    let total = EACH * senders.len();
    let mut heard = Vec::new();
    let mut acks = BTreeMap::new();
    for (i, client) in clients.iter_mut().enumerate() {
        let (seqs, mut frames) = read_messages(client, total).await;
        assert_once_in_order(&client.id, &seqs);
        // A sender's last ack may come after the last message it heard.
        while senders.contains(&i) && common::shown_as("ack", &client.id, &frames).len() < EACH {
            frames.extend(common::unpacked(client.next().await));
        }
        acks.extend(common::shown_as("ack", &client.id, &frames));
        heard.push(seqs);
    }
    assert!(
        heard.windows(2).all(|w| w[0] == w[1]),
        "sockets on different relays heard different sequences"
    );
    // Every sender's acks name the seqs everyone heard its messages under.
    let stored = server.get(&format!("/api/rooms/{room}/messages?limit={total}"));
    let stored: Value = serde_json::from_str(&stored.body).expect("messages JSON");
    let stored: BTreeMap<String, u64> = (stored["messages"].as_array().expect("messages"))
        .iter()
        .map(|m| {
            (
                m["clientMsgId"].as_str().unwrap().to_owned(),
                m["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(acks, stored, "acks against storage");
    let mut seqs: Vec<u64> = stored.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(heard[0], seqs, "everyone heard every stored message");
}

async fn a_relay_that_empties_retires_and_its_seat_is_reused(server: Server) {
    let room = "rl-retire";
    let mut clients = Vec::new();
    for i in 0..7 {
        let id = format!("rl-r{i}");
        clients.push(
            Client::join_with(&server, &id, &format!("room={room}"))
                .await
                .0,
        );
    }
    presence_becomes(&server, room, 7, 3).await;
    // The seventh is alone on relay 2.
    clients.pop().expect("seventh").close().await;
    clients[0].expect_leave_of("rl-r6").await;
    presence_becomes(&server, room, 6, 2).await;
    // Relay 1 (the fourth to sixth) empties too.
    for _ in 3..6 {
        clients.pop().expect("relay 1's").close().await;
    }
    for id in ["rl-r5", "rl-r4", "rl-r3"] {
        clients[1].expect_leave_of(id).await;
    }
    presence_becomes(&server, room, 3, 1).await;
    // A newcomer reopens the lowest free index and hears the room.
    let (mut late, frames) = Client::join_with(&server, "rl-r7", &format!("room={room}")).await;
    let told = common::frame_of(&frames, "presence");
    assert_eq!(
        (told["count"].as_u64(), told["relays"].as_u64()),
        (Some(4), Some(2)),
        "{told}"
    );
    presence_becomes(&server, room, 4, 2).await;
    clients[2].say("still one room", "rl-r-1").await;
    late.expect_message("rl-r2", "still one room").await;
}

async fn a_kick_reaches_tabs_on_other_relays(_server: Server) {
    let vars: Vec<(&str, &str)> = VARS
        .iter()
        .copied()
        .chain([("AUTH_SECRET", SECRET)])
        .collect();
    let mut rt = Runtime::start(&vars);
    let server = rt.server();
    let room = "rl-kick";
    let query = |token: String| format!("room={room}&token={token}");
    let join = |id: &'static str| {
        let server = server.clone();
        async move {
            Client::join_with(&server, id, &query(member(id, room)))
                .await
                .0
        }
    };
    // Relay 0: the moderator and two bystanders; relay 1: a tab of the
    // victim and two more; relay 2: the victim's second tab.
    let (mut m, _) = Client::join_with(&server, "rl-mod", &query(moderator("rl-mod", room))).await;
    let mut b1 = join("rl-b1").await;
    let _b2 = join("rl-b2").await;
    let mut tab1 = join("rl-victim").await;
    let _b3 = join("rl-b3").await;
    let _b4 = join("rl-b4").await;
    let mut tab2 = join("rl-victim").await;
    let service = mint_with(SECRET, "rl-ops", &["*"], Role::Service, 600);
    let auth = format!("Bearer {service}");
    let auth = [("Authorization", auth.as_str())];
    presence_becomes_as(&server, room, (6, 3), &auth).await;
    m.send(&json!({"type": "kick", "clientId": "rl-victim", "minutes": 30}).to_string())
        .await;
    for tab in [&mut tab1, &mut tab2] {
        tab.expect_error("kicked").await;
        assert_eq!(
            tab.expect_closed().await,
            (1008, "removed by a moderator".into())
        );
    }
    b1.expect_leave_of("rl-victim").await;
    // Relay 2 held the second tab alone, and retires with it.
    presence_becomes_as(&server, room, (5, 2), &auth).await;
    let again = format!("/ws/rl-victim?{}", query(member("rl-victim", room)));
    let refused = tokio::task::block_in_place(|| server.handshake_refusal(&again));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("banned"), "{}", refused.body);
    rt.stop();
}

async fn edits_deletes_and_since_reach_every_relay(server: Server) {
    let room = "rl-change";
    let q = format!("room={room}&batch=1");
    let (mut author, _) = Client::join_with(&server, "rl-c0", &q).await;
    let (far, _) = Client::join_with(&server, "rl-c1", &q).await;
    for id in ["rl-c2", "rl-c3", "rl-c4"] {
        let _ = Client::join_with(&server, id, &q).await;
    }
    // Relay 1 now holds the fifth socket; the sixth is the far reader.
    let (mut reader, _) = Client::join_with(&server, "rl-c5", &q).await;
    author.say("first", "c-1").await;
    author.say("second", "c-2").await;
    let mut said = Vec::new();
    while said.len() < 2 {
        for f in common::unpacked(reader.next().await) {
            if f["type"] == "message" {
                said.push(f);
            }
        }
    }
    far.close().await;
    let edit = json!({"type": "edit", "id": said[0]["id"], "message": "first, edited"});
    author.send(&edit.to_string()).await;
    next_of(&mut reader, "edit").await;
    author
        .send(&json!({"type": "delete", "id": said[1]["id"]}).to_string())
        .await;
    next_of(&mut reader, "delete").await;
    // Back, on another relay, from where it left: the changes it missed.
    let since = said[1]["seq"].as_u64().expect("seq");
    let (_, frames) = Client::join_with(&server, "rl-c1", &format!("{q}&since={since}")).await;
    let history = common::frame_of(&frames, "history");
    let changes: Vec<(&str, &Value)> = (history["changes"].as_array().expect("changes"))
        .iter()
        .map(|c| (c["type"].as_str().unwrap_or_default(), &c["id"]))
        .collect();
    let want = [("edit", &said[0]["id"]), ("delete", &said[1]["id"])];
    assert_eq!(changes, want, "{history}");
}

async fn a_thousand_clients_over_twenty_relays_hear_every_message_once(_server: Server) {
    const CLIENTS: usize = 1_000;
    const SENDERS: usize = 4;
    const EACH: usize = 10;
    let mut rt = Runtime::start(&[
        ("RELAY_THRESHOLD", "0"),
        ("RELAY_CAPACITY", "50"),
        ("MAX_CONNECTIONS_PER_ROOM", "2000"),
        ("MAX_SOCKETS_PER_ADDRESS", "2000"),
        // Grouped join notices: a thousand joins would otherwise be half a
        // million frames before the first message.
        ("GROUP_NOTICES_AT", "2"),
        ("RATE_PER_SEC", "1000"),
        ("RATE_BURST", "1000"),
    ]);
    let server = rt.server();
    let room = "rl-big";
    let mut clients = Vec::with_capacity(CLIENTS);
    for wave in 0..CLIENTS / 50 {
        let joins = (0..50).map(|i| {
            let server = server.clone();
            let n = wave * 50 + i;
            let query = format!("room={room}&batch={}", n % 2);
            tokio::spawn(async move {
                Client::join_with(&server, &format!("rl-big{n:04}"), &query)
                    .await
                    .0
            })
        });
        for join in joins.collect::<Vec<_>>() {
            clients.push(join.await.expect("join task"));
        }
    }
    presence_becomes(&server, room, CLIENTS as u64, 20).await;
    for round in 0..EACH {
        for s in 0..SENDERS {
            let sender = s * (CLIENTS / SENDERS);
            clients[sender]
                .say(&format!("big {s}/{round}"), &format!("big-{s}-{round}"))
                .await;
        }
    }
    let total = SENDERS * EACH;
    let reads = clients.into_iter().map(|mut c| {
        tokio::spawn(async move { (c.id.clone(), read_messages(&mut c, total).await.0) })
    });
    let mut first: Option<Vec<u64>> = None;
    for read in reads.collect::<Vec<_>>() {
        let (id, seqs) = read.await.expect("reader");
        assert_once_in_order(&id, &seqs);
        assert_eq!(seqs.len(), total, "{id}");
        match &first {
            Some(first) => assert_eq!(&seqs, first, "{id} heard another sequence"),
            None => first = Some(seqs),
        }
    }
    rt.stop();
}

async fn nothing_shown_is_lost_when_a_sharded_room_is_killed_mid_burst(_server: Server) {
    const SENT: usize = 600;
    let state = common::runtime::fresh_state_dir();
    let port = common::runtime::free_port();
    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    let server = rt.server();
    let q = "room=rl-crash&batch=1";
    // Relay 0: the watcher and two more; relay 1: the sender.
    let (mut watcher, _) = Client::join_with(&server, "rl-watch", q).await;
    let _a = Client::join_with(&server, "rl-x1", q).await;
    let _b = Client::join_with(&server, "rl-x2", q).await;
    let (sender, _) = Client::join_with(&server, "rl-send", q).await;
    watcher.expect_join_of("rl-send").await;
    presence_becomes(&server, "rl-crash", 4, 2).await;
    let sent: Vec<(String, String)> = (1..=SENT)
        .map(|i| (format!("crash {i}"), format!("rc-{i}")))
        .collect();
    let watcher = watcher.start_traffic(Vec::new(), 0);
    let mut sender = sender.start_traffic(sent.clone(), 50);
    sender.wait_for_acks(150).await;
    tokio::task::block_in_place(|| rt.kill());
    let heard = [sender.heard().await, watcher.heard().await];
    let (acked, shown) = common::shown_before_the_kill("rl-send", &heard, SENT);

    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    // No ghosts: the dead relays' sockets are not counted, nor their relays.
    presence_becomes(&server, "rl-crash", 0, 0).await;
    let stored = common::audit_crash("rl-send", &sent, &shown, &kept(&server, "rl-crash"));
    let (mut resender, _) = Client::join_with(&server, "rl-send", "room=rl-crash&batch=1").await;
    common::resend_unacked(&mut resender, &sent, &acked, &stored).await;
    common::assert_kept_once_in_order(&kept(&server, "rl-crash"), "rl-send", &sent);
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

async fn newcomers_during_a_burst_get_each_message_once(server: Server) {
    const SENT: usize = 600;
    let q = "room=rl-burst&batch=1";
    // Two senders on relay 0, the newcomers on the relays after it.
    let mut joined = Vec::new();
    for s in 0..2 {
        joined.push(
            Client::join_with(&server, &format!("rl-b-send{s}"), q)
                .await
                .0,
        );
    }
    let mut senders = Vec::new();
    for (s, sender) in joined.into_iter().enumerate() {
        let sent: Vec<(String, String)> = (1..=SENT)
            .map(|i| (format!("burst {s}/{i}"), format!("rb{s}-{i}")))
            .collect();
        senders.push(sender.start_traffic(sent, 60));
    }
    for sender in &mut senders {
        sender.wait_for_acks(20).await;
    }
    // Each newcomer lands on a relay while broadcasts are on their way to
    // it: what its history holds must not come again live, and nothing
    // after it may be missing.
    for i in 0..16 {
        let id = format!("rl-b{i}");
        // The room is busy, so even its first frames may come in a batch.
        let mut c = Client::connect(&server, &format!("/ws/{id}?{q}"), &id).await;
        let (history, mut live) = history_then_rest(&mut c, &id).await;
        let mut seqs: Vec<u64> = (common::history_messages(&history).iter())
            .filter_map(|m| m["seq"].as_u64())
            .collect();
        let latest = history["latestSeq"].as_u64().expect("latestSeq");
        let until = (latest + 5).min(2 * SENT as u64);
        loop {
            for f in live.drain(..).filter(|f| f["type"] == "message") {
                seqs.push(f["seq"].as_u64().expect("seq"));
            }
            if seqs.last().is_some_and(|&s| s >= until) {
                break;
            }
            live = common::unpacked(c.next().await);
        }
        let want: Vec<u64> = (seqs[0]..=*seqs.last().unwrap()).collect();
        assert_eq!(
            seqs, want,
            "{id} (history up to {latest}) heard a seq twice or none"
        );
    }
    for sender in &mut senders {
        sender.wait_for_acks(SENT).await;
    }
}

/// workerd evicts an object after this long without an event (see
/// tests/rooms_and_history.rs); its hibernated sockets stay open.
const EVICTION_AFTER: Duration = Duration::from_secs(10);

async fn a_room_evicted_while_relays_hold_its_sockets_learns_them_back(server: Server) {
    let room = "rl-sleep";
    let mut clients = Vec::new();
    for i in 0..5 {
        let id = format!("rl-s{i}");
        clients.push(
            Client::join_with(&server, &id, &format!("room={room}"))
                .await
                .0,
        );
    }
    presence_becomes(&server, room, 5, 2).await;
    // Silence past the eviction; the runtime answers the pings itself.
    let silent_until = Instant::now() + EVICTION_AFTER + Duration::from_secs(4);
    while Instant::now() < silent_until {
        clients[0].send(common::PING).await;
        clients[0]
            .next_matching("pong", |f| f["type"] == "pong")
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The woken room asks its relays what they hold: a socket it forgot
    // could not speak, and would not hear.
    clients[4].say("after the sleep", "rl-s-1").await;
    for c in &mut clients[..4] {
        c.expect_message("rl-s4", "after the sleep").await;
    }
    let p = tokio::task::block_in_place(|| presence(&server, room, &[]));
    assert_eq!(
        (p["count"].as_u64(), p["relays"].as_u64()),
        (Some(5), Some(2)),
        "{p}"
    );
}

suite![
    vars: VARS;
    timeout_secs: 300;
    senders_on_three_relays_are_heard_in_one_order_exactly_once,
    a_relay_that_empties_retires_and_its_seat_is_reused,
    edits_deletes_and_since_reach_every_relay,
    a_kick_reaches_tabs_on_other_relays,
    nothing_shown_is_lost_when_a_sharded_room_is_killed_mid_burst,
    a_thousand_clients_over_twenty_relays_hear_every_message_once,
    a_room_evicted_while_relays_hold_its_sockets_learns_them_back,
    newcomers_during_a_burst_get_each_message_once,
];
