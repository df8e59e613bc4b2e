//! Presence and typing notices against the real runtime: who is here, one
//! entry per client however many tabs, and typing that reaches the others
//! without ever being stored.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::{frame_of, Client, Server, TYPING};
use serde_json::Value;

const QUIET: Duration = Duration::from_millis(400);

fn member_ids(presence: &Value) -> Vec<String> {
    presence["members"]
        .as_array()
        .expect("members is an array")
        .iter()
        .map(|m| m["clientId"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_newcomer_is_told_who_is_online_with_names(server: Server) {
    let (_alice, _) = Client::join_with(&server, "pres-alice", "room=pres&name=Alice%20A.").await;
    let (_bob, frames) = Client::join_with(&server, "pres-bob", "room=pres").await;
    let presence = frame_of(&frames, "presence");
    assert_eq!(presence["count"], 2);
    assert_eq!(member_ids(presence), ["pres-alice", "pres-bob"]);
    assert_eq!(presence["members"][0]["name"], "Alice A.");
    assert!(presence["members"][1].get("name").is_none());
}

async fn names_travel_on_join_and_messages(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "named-alice", "room=named").await;
    let (mut bob, _) =
        Client::join_with(&server, "named-bob", "room=named&name=Bob%20%3Cb%3E").await;
    let join = alice.expect_join_of("named-bob").await;
    assert_eq!(join["name"], "Bob <b>");
    bob.send("hi").await;
    let msg = alice.expect_message("named-bob", "hi").await;
    assert_eq!(msg["name"], "Bob <b>");
}

async fn a_client_with_several_tabs_is_one_member(server: Server) {
    let (mut watcher, _) = Client::join_with(&server, "tabs-watcher", "room=tabs").await;
    let (tab1, _) = Client::join_with(&server, "tabs-carol", "room=tabs").await;
    watcher.expect_join_of("tabs-carol").await;
    let (tab2, frames) = Client::join_with(&server, "tabs-carol", "room=tabs").await;
    let presence = frame_of(&frames, "presence");
    assert_eq!(presence["count"], 2, "{presence}");
    assert_eq!(member_ids(presence), ["tabs-carol", "tabs-watcher"]);
    let carol = |f: &Value| f["clientId"] == "tabs-carol";
    watcher
        .expect_none(QUIET, "a second join of carol", carol)
        .await;
    tab1.close().await;
    watcher
        .expect_none(QUIET, "carol leaving while a tab is open", carol)
        .await;
    let (_, frames) = Client::join_with(&server, "tabs-dave", "room=tabs").await;
    assert!(member_ids(frame_of(&frames, "presence")).contains(&"tabs-carol".to_owned()));
    tab2.close().await;
    watcher.expect_leave_of("tabs-carol").await;
}

async fn presence_forgets_those_who_left(server: Server) {
    let (_alice, _) = Client::join_with(&server, "gone-alice", "room=gone").await;
    let (bob, _) = Client::join_with(&server, "gone-bob", "room=gone").await;
    bob.close().await;
    let (_, frames) = Client::join_with(&server, "gone-carol", "room=gone").await;
    assert_eq!(
        member_ids(frame_of(&frames, "presence")),
        ["gone-alice", "gone-carol"]
    );
}

async fn typing_reaches_the_others_but_not_the_typist(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "type-alice", "room=type").await;
    let (mut bob, _) = Client::join_with(&server, "type-bob", "room=type&name=Bob").await;
    bob.send(TYPING).await;
    let typing = alice
        .next_matching("bob typing", |f| f["type"] == "typing")
        .await;
    assert_eq!(typing["clientId"], "type-bob");
    assert_eq!(typing["name"], "Bob");
    bob.expect_none(QUIET, "its own typing notice", |f| f["type"] == "typing")
        .await;
}

async fn typing_is_throttled_and_never_stored(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "thr-alice", "room=thr").await;
    let (mut bob, _) = Client::join_with(&server, "thr-bob", "room=thr").await;
    for _ in 0..5 {
        bob.send(TYPING).await;
    }
    alice
        .next_matching("bob typing", |f| f["type"] == "typing")
        .await;
    alice
        .expect_none(QUIET, "a second typing notice within 3 s", |f| {
            f["type"] == "typing"
        })
        .await;
    let (_, frames) = Client::join_with(&server, "thr-carol", "room=thr").await;
    let history = frame_of(&frames, "history");
    assert_eq!(history["messages"], serde_json::json!([]), "{history}");
    assert_eq!(history["latestSeq"], 0);
}

suite![
    a_newcomer_is_told_who_is_online_with_names,
    names_travel_on_join_and_messages,
    a_client_with_several_tabs_is_one_member,
    presence_forgets_those_who_left,
    typing_reaches_the_others_but_not_the_typist,
    typing_is_throttled_and_never_stored,
];
