//! The room's core promise, spoken over real WebSockets: every message
//! reaches everyone in the room exactly once, joins and leaves are announced,
//! and clients written for the FastAPI originals keep working.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::{Client, Server};
use serde_json::Value;

/// How long a test listens for a frame that must not come.
const QUIET: Duration = Duration::from_millis(400);

/// Sends one message from `clients[sender]` and checks that every client
/// receives it exactly once.
async fn each_receives_once(clients: &mut [Client], sender: usize, text: &str) {
    let from = clients[sender].id.clone();
    clients[sender].send(text).await;
    for client in clients.iter_mut() {
        client.expect_message(&from, text).await;
    }
    let is_it = |f: &Value| f["type"] == "message" && f["message"] == text;
    for client in clients.iter_mut() {
        client.expect_none(QUIET, "the message", is_it).await;
    }
}

async fn join_all(server: &Server, prefix: &str, n: usize) -> Vec<Client> {
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(Client::join(server, &format!("{prefix}{i}")).await);
    }
    clients
}

async fn close_all(clients: Vec<Client>) {
    for c in clients {
        c.close().await;
    }
}

async fn two_clients_each_receive_a_message_exactly_once(server: Server) {
    let mut clients = join_all(&server, "two-", 2).await;
    each_receives_once(&mut clients, 0, "hello from the first").await;
    each_receives_once(&mut clients, 1, "and back from the second").await;
    close_all(clients).await;
}

async fn ten_clients_each_receive_a_message_exactly_once(server: Server) {
    let mut clients = join_all(&server, "ten-", 10).await;
    each_receives_once(&mut clients, 7, "one for all ten").await;
    close_all(clients).await;
}

async fn message_frame_carries_the_original_fields_and_a_timestamp(server: Server) {
    let mut alice = Client::join(&server, "fields-alice").await;
    alice.send("shape check").await;
    let frame = alice.expect_message("fields-alice", "shape check").await;
    let time = frame["time"].as_str().expect("time is a string");
    assert!(
        time.len() == 5 && time.as_bytes()[2] == b':',
        "time is HH:MM: {frame}"
    );
    let ts = frame["ts"].as_u64().expect("ts is epoch milliseconds");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now_ms.abs_diff(ts) < 60_000,
        "ts {ts} is not now ({now_ms})"
    );
    alice.close().await;
}

async fn join_reaches_everyone_including_the_newcomer(server: Server) {
    let mut alice = Client::join(&server, "join-alice").await;
    let mut bob = Client::connect(&server, "/ws/join-bob", "join-bob").await;
    let own = bob.expect_join_of("join-bob").await;
    assert_eq!(own["message"], "Online");
    let seen = alice.expect_join_of("join-bob").await;
    assert_eq!(seen["message"], "Online");
    alice.close().await;
    bob.close().await;
}

async fn leave_reaches_the_others_and_not_the_departed(server: Server) {
    let mut alice = Client::join(&server, "leave-alice").await;
    let mut carol = Client::join(&server, "leave-carol").await;
    let bob = Client::join(&server, "leave-bob").await;
    alice.expect_join_of("leave-bob").await;
    carol.expect_join_of("leave-bob").await;
    bob.close().await;
    for c in [&mut alice, &mut carol] {
        let frame = c.expect_leave_of("leave-bob").await;
        assert_eq!(frame["message"], "Offline");
    }
    alice.close().await;
    carol.close().await;
}

async fn a_dropped_connection_is_announced_as_a_leave(server: Server) {
    let mut alice = Client::join(&server, "drop-alice").await;
    let bob = Client::join(&server, "drop-bob").await;
    alice.expect_join_of("drop-bob").await;
    // Dropping the client closes its TCP connection without a close frame.
    drop(bob);
    alice.expect_leave_of("drop-bob").await;
    alice.close().await;
}

async fn old_react_client_connect_greeting_is_not_chat(server: Server) {
    let mut watcher = Client::join(&server, "react-watcher").await;
    let mut react = Client::join(&server, "1700000000000").await;
    react.send("Connect").await;
    react.send("hi from react").await;
    // Ordering per socket means "Connect" would have arrived first.
    let first = watcher
        .next_matching("a message from the React client", |f| {
            f["type"] == "message" && f["clientId"] == "1700000000000"
        })
        .await;
    assert_eq!(first["message"], "hi from react");
    let mine = react.expect_message("1700000000000", "hi from react").await;
    assert!(mine["time"].is_string() && mine["clientId"].is_string());
    watcher.close().await;
    react.close().await;
}

async fn raw_text_client_of_the_plain_page_works_on_bare_ws(server: Server) {
    let mut plain = Client::connect(&server, "/ws", "plain").await;
    let join = plain
        .next_matching("its own join", |f| f["type"] == "join")
        .await;
    let id = join["clientId"]
        .as_str()
        .expect("a generated id")
        .to_owned();
    assert!(id.starts_with("guest-"), "{join}");
    plain.send("typed in the plain page").await;
    plain.expect_message(&id, "typed in the plain page").await;
    plain.close().await;
}

async fn a_second_tab_neither_rejoins_nor_leaves_the_client(server: Server) {
    let mut alice = Client::join(&server, "tabs-alice").await;
    let tab1 = Client::join(&server, "tabs-bob").await;
    alice.expect_join_of("tabs-bob").await;
    let mut tab2 = Client::connect(&server, "/ws/tabs-bob", "tabs-bob#2").await;
    tab2.expect_join_of("tabs-bob").await;
    tab2.close().await;
    tab1.close().await;
    // Only the last tab's close takes bob offline, and only once.
    alice.expect_leave_of("tabs-bob").await;
    let bob = |f: &Value| f["clientId"] == "tabs-bob";
    alice
        .expect_none(QUIET, "a join or leave of tabs-bob", bob)
        .await;
    alice.close().await;
}

async fn a_clean_close_is_answered_with_a_close_frame_not_1006(server: Server) {
    let mut alice = Client::join(&server, "close-alice").await;
    alice.close_with(4001, "see you").await;
    let (code, _) = alice.expect_closed().await;
    assert_eq!(code, 4001, "the server echoes the client's close code");
}

async fn empty_message_gets_an_error_frame_and_the_socket_stays_open(server: Server) {
    let mut alice = Client::join(&server, "empty-alice").await;
    alice.send("   ").await;
    let err = alice.expect_error("empty_message").await;
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    alice.send("still here").await;
    alice.expect_message("empty-alice", "still here").await;
    alice.close().await;
}

async fn malformed_json_gets_an_error_frame(server: Server) {
    let mut alice = Client::join(&server, "json-alice").await;
    alice.send("{not json").await;
    alice.expect_error("malformed_json").await;
    alice
        .send(r#"{"type":"message","message":"json works"}"#)
        .await;
    alice.expect_message("json-alice", "json works").await;
    alice.close().await;
}

async fn binary_frame_gets_an_error_frame(server: Server) {
    let mut alice = Client::join(&server, "bin-alice").await;
    alice.send_binary(&[0, 159, 146, 150]).await;
    alice.expect_error("binary_unsupported").await;
    alice.close().await;
}

async fn a_refused_message_reaches_nobody_else(server: Server) {
    let mut alice = Client::join(&server, "refused-alice").await;
    let mut bob = Client::join(&server, "refused-bob").await;
    alice.expect_join_of("refused-bob").await;
    bob.send("").await;
    bob.expect_error("empty_message").await;
    let from_bob = |f: &Value| f["clientId"] == "refused-bob" && f["type"] != "leave";
    alice
        .expect_none(QUIET, "anything from bob", from_bob)
        .await;
    alice.close().await;
    bob.close().await;
}

suite![
    two_clients_each_receive_a_message_exactly_once,
    ten_clients_each_receive_a_message_exactly_once,
    message_frame_carries_the_original_fields_and_a_timestamp,
    join_reaches_everyone_including_the_newcomer,
    leave_reaches_the_others_and_not_the_departed,
    a_dropped_connection_is_announced_as_a_leave,
    old_react_client_connect_greeting_is_not_chat,
    raw_text_client_of_the_plain_page_works_on_bare_ws,
    a_second_tab_neither_rejoins_nor_leaves_the_client,
    empty_message_gets_an_error_frame_and_the_socket_stays_open,
    malformed_json_gets_an_error_frame,
    binary_frame_gets_an_error_frame,
    a_refused_message_reaches_nobody_else,
    a_clean_close_is_answered_with_a_close_frame_not_1006,
];
