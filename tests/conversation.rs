//! Reactions, replies and mentions against the real runtime: many members
//! toggling one emoji at once leave an exact count; reactions, a reply and
//! a mention survive a killed runtime and reach a client that was away
//! through `since`, with `mine` for it; a reply quotes its original and
//! follows it to its delete; the originals' plain clients never get a
//! frame they would show as an empty message; and refusals keep the
//! socket open.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::http::{request_with_body, HttpResponse};
use common::schema::OpenApi;
use common::tokens::{member, moderator, SECRET};
use common::{unpacked, Client, Runtime, Server};

const VARS: &[(&str, &str)] = &[("RATE_PER_SEC", "1000"), ("RATE_BURST", "1000")];

const QUIET: Duration = Duration::from_millis(500);

/// The first frame (inside batches too) of `kind` that `pred` accepts.
async fn next_of(c: &mut Client, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let hit = |f: &Value| f["type"] == kind && pred(f);
    let frame = c
        .next_matching(kind, |f| unpacked(f.clone()).iter().any(hit))
        .await;
    unpacked(frame).into_iter().find(hit).unwrap()
}

/// Says `text` as a batch client and returns the message's id.
async fn said(c: &mut Client, text: &str) -> String {
    let key: String = text
        .chars()
        .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
        .collect();
    c.say(text, &key).await;
    let ack = next_of(c, "ack", |f| f["clientMsgId"] == key.as_str()).await;
    ack["id"].as_str().unwrap().to_owned()
}

fn react(id: &str, emoji: &str) -> String {
    json!({"type": "react", "id": id, "emoji": emoji}).to_string()
}

async fn many_members_toggling_one_emoji_at_once_leave_an_exact_count(server: Server) {
    let (mut author, _) = Client::join_with(&server, "author", "room=storm&batch=1").await;
    let id = said(&mut author, "vote here").await;
    let mut members = Vec::new();
    for i in 0..40 {
        let (c, _) = Client::join_with(&server, &format!("m{i}"), "room=storm&batch=1").await;
        members.push(c);
    }
    // All at once: 40 on, then the first 15 off again.
    for c in members.iter_mut() {
        c.send(&react(&id, "👍")).await;
    }
    for c in members.iter_mut().take(15) {
        c.send(&react(&id, "👍")).await;
    }
    // The author hears all 55 changes, in seq order, the last one's count
    // exact.
    let mut seqs = Vec::new();
    let mut last = Value::Null;
    while seqs.len() < 55 {
        let frame = author
            .next_frame_or_close()
            .await
            .expect("the author stays");
        for f in unpacked(frame)
            .into_iter()
            .filter(|f| f["type"] == "reaction")
        {
            seqs.push(f["seq"].as_u64().unwrap());
            last = f;
        }
        assert!(seqs.len() <= 55, "{seqs:?}");
    }
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(last["reactions"], json!([{"emoji": "👍", "count": 25}]));
    let (_late, frames) = Client::join_with(&server, "m3", "room=storm").await;
    let history = common::frame_of(&frames, "history");
    let message = &common::history_messages(history)[0];
    assert_eq!(
        message["reactions"],
        json!([{"emoji": "👍", "count": 25, "mine": false}])
    );
    let (_late, frames) = Client::join_with(&server, "m30", "room=storm").await;
    let message = &common::history_messages(common::frame_of(&frames, "history"))[0];
    assert_eq!(message["reactions"][0]["mine"], true);
}

async fn the_originals_plain_clients_never_see_a_reaction(server: Server) {
    let mut plain = Client::connect(&server, "/ws/plain?room=plain", "plain").await;
    plain.expect_join_of("plain").await;
    let (mut page, _) = Client::join_with(&server, "page", "room=plain&batch=1").await;
    let id = said(&mut page, "react to me").await;
    plain.expect_message("page", "react to me").await;
    page.send(&react(&id, "🎉")).await;
    next_of(&mut page, "reaction", |f| f["on"] == true).await;
    page.say("after", "k-after").await;
    let next = plain
        .next_matching("the next message", |f| f["type"] != "join")
        .await;
    assert_eq!(
        (next["type"].as_str(), next["message"].as_str()),
        (Some("message"), Some("after")),
        "no reaction frame before it"
    );
}

async fn refusals_keep_the_socket_open(server: Server) {
    let (mut c, _) = Client::join_with(&server, "odd", "room=oddr&batch=1").await;
    let id = said(&mut c, "x").await;
    for (frame, code) in [
        (react(&id, "👍👍"), "bad_frame"),
        (react(&id, "hello"), "bad_frame"),
        (react("m99-1", "👍"), "unknown_message"),
        (json!({"type": "react", "id": id}).to_string(), "bad_frame"),
    ] {
        c.send(&frame).await;
        c.expect_error(code).await;
    }
    c.send(&react(&id, ":ship-it:")).await;
    next_of(&mut c, "reaction", |f| f["emoji"] == ":ship-it:").await;
}

async fn reactions_survive_a_kill_and_reach_one_who_was_away_through_since(_: Server) {
    let (port, state) = (
        common::runtime::free_port(),
        common::runtime::fresh_state_dir(),
    );
    let mut rt = tokio::task::block_in_place(|| Runtime::start_on(port, state.clone(), VARS));
    let server = rt.server();
    let (mut alice, _) = Client::join_with(&server, "alice", "room=away&batch=1").await;
    let id = said(&mut alice, "lunch at noon?").await;
    let (mut bob, _) = Client::join_with(&server, "bob", "room=away&batch=1").await;
    bob.send(&react(&id, "👍")).await;
    let seen = next_of(&mut bob, "reaction", |_| true).await;
    let since = seen["seq"].as_u64().unwrap();
    bob.close().await;
    // While bob is away: alice adds two, then takes one back, and answers
    // herself, mentioning him.
    for emoji in ["👍", "🍕", "🍕"] {
        alice.send(&react(&id, emoji)).await;
        next_of(&mut alice, "reaction", |f| f["emoji"] == emoji).await;
    }
    let reply =
        json!({"type": "message", "message": "@bob noon it is", "replyTo": id, "clientMsgId": "r"});
    alice.send(&reply.to_string()).await;
    next_of(&mut alice, "ack", |f| f["clientMsgId"] == "r").await;
    tokio::time::sleep(QUIET).await;
    tokio::task::block_in_place(|| rt.kill());
    let mut rt = tokio::task::block_in_place(|| Runtime::start_on(port, state.clone(), VARS));
    let server = rt.server();
    let (_bob, frames) =
        Client::join_with(&server, "bob", &format!("room=away&since={since}")).await;
    let history = common::frame_of(&frames, "history");
    assert_eq!(history["truncated"], false);
    let changes = history["changes"].as_array().unwrap();
    assert_eq!(
        changes.len(),
        1,
        "one frame, the reactions as they are now: {changes:?}"
    );
    assert_eq!(changes[0]["type"], "reactions");
    assert_eq!(changes[0]["id"].as_str(), Some(id.as_str()));
    assert_eq!(
        changes[0]["reactions"],
        json!([{"emoji": "👍", "count": 2, "mine": true}])
    );
    let missed = common::history_messages(history);
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["replyTo"]["quote"], "lunch at noon?");
    assert_eq!(missed[0]["mentions"], json!(["bob"]));
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

async fn a_reply_quotes_its_original_and_follows_it_to_its_delete(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "alice", "room=thread&batch=1").await;
    let id = said(&mut alice, "ship friday?").await;
    let reply = json!({"type": "message", "message": "yes, @alice @carol", "replyTo": id, "clientMsgId": "r1"});
    alice.send(&reply.to_string()).await;
    let live = next_of(&mut alice, "message", |f| f["clientMsgId"] == "r1").await;
    assert_eq!(
        live["replyTo"],
        json!({"id": id, "clientId": "alice", "quote": "ship friday?"})
    );
    assert_eq!(live["mentions"], json!(["alice", "carol"]));
    // The original is deleted later: a newcomer's history and the API quote
    // it as deleted, and a new reply to it is refused.
    alice
        .send(&json!({"type": "delete", "id": id}).to_string())
        .await;
    next_of(&mut alice, "delete", |_| true).await;
    let (_bob, frames) = Client::join_with(&server, "bob", "room=thread").await;
    let messages = common::history_messages(common::frame_of(&frames, "history"));
    assert_eq!(
        messages[1]["replyTo"],
        json!({"id": id, "clientId": "alice", "quote": "", "deleted": true})
    );
    let api: Value = serde_json::from_str(&server.get("/api/rooms/thread/messages").body).unwrap();
    assert_eq!(api["messages"][1]["replyTo"]["deleted"], true);
    assert_eq!(api["messages"][1]["mentions"], json!(["alice", "carol"]));
    let again = json!({"type": "message", "message": "late", "replyTo": id});
    alice.send(&again.to_string()).await;
    alice.expect_error("message_deleted").await;
}

async fn read_pointers_keep_tabs_in_step_and_survive_a_reconnect(server: Server) {
    let (mut alice, _) = Client::join_with(&server, "alice", "room=reads&batch=1").await;
    for text in ["one", "two", "three"] {
        said(&mut alice, text).await;
    }
    let (mut tab1, frames) = Client::join_with(&server, "bob", "room=reads&batch=1").await;
    let read = &common::frame_of(&frames, "history")["read"];
    assert_eq!(read, &json!({"seq": 0, "unread": 3}));
    let (mut tab2, _) = Client::join_with(&server, "bob", "room=reads&batch=1").await;
    tab1.send(&json!({"type": "read", "seq": 2}).to_string())
        .await;
    for tab in [&mut tab1, &mut tab2] {
        let moved = next_of(tab, "read", |_| true).await;
        assert_eq!(
            (moved["seq"].as_u64(), moved["unread"].as_u64()),
            (Some(2), Some(1))
        );
    }
    // A tab that is behind cannot move it back: it alone is told where it is.
    tab2.send(&json!({"type": "read", "seq": 1}).to_string())
        .await;
    let told = next_of(&mut tab2, "read", |_| true).await;
    assert_eq!(told["seq"], 2);
    tab1.expect_none(QUIET, "a read frame", |f| {
        unpacked(f.clone()).iter().any(|g| g["type"] == "read")
    })
    .await;
    tab1.close().await;
    tab2.close().await;
    let (_again, frames) = Client::join_with(&server, "bob", "room=reads").await;
    assert_eq!(
        common::frame_of(&frames, "history")["read"],
        json!({"seq": 2, "unread": 1})
    );
    let api = server.get("/api/rooms/reads/read/bob");
    assert_eq!(api.status, 200, "{}", api.body);
    let api: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(api, json!({"clientId": "bob", "seq": 2, "unread": 1}));
    // A seq from the future stops at the newest.
    let (mut tab3, _) = Client::join_with(&server, "bob", "room=reads&batch=1").await;
    tab3.send(&json!({"type": "read", "seq": 999}).to_string())
        .await;
    let last = next_of(&mut tab3, "read", |_| true).await;
    assert_eq!(
        (last["seq"].as_u64(), last["unread"].as_u64()),
        (Some(3), Some(0))
    );
}

/// POSTs `body` as JSON to `path`, with a token if any.
fn post(server: &Server, path: &str, token: Option<&str>, body: &Value) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(auth.as_deref().map(|a| ("Authorization", a)));
    let text = body.to_string();
    request_with_body(
        server.port,
        "POST",
        path,
        &headers,
        text.as_bytes(),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn spec() -> &'static OpenApi {
    static SPEC: std::sync::OnceLock<OpenApi> = std::sync::OnceLock::new();
    SPEC.get_or_init(OpenApi::load)
}

async fn an_api_reaction_reaches_the_room_and_answers_as_documented(server: Server) {
    let (mut page, _) = Client::join_with(&server, "page", "room=apir&batch=1").await;
    let id = said(&mut page, "deploy?").await;
    let path = format!("/api/rooms/apir/messages/{id}/reactions");
    let template = "/api/rooms/{room}/messages/{id}/reactions";
    let on = post(
        &server,
        &path,
        None,
        &json!({"emoji": "🚀", "clientId": "deploy-bot"}),
    );
    spec().check(template, "POST", &on);
    let on: Value = serde_json::from_str(&on.body).unwrap();
    assert_eq!(
        (on["on"].clone(), on["reactions"].clone()),
        (json!(true), json!([{"emoji": "🚀", "count": 1}]))
    );
    let heard = next_of(&mut page, "reaction", |_| true).await;
    assert_eq!(
        (heard["clientId"].as_str(), heard["seq"].clone()),
        (Some("deploy-bot"), on["seq"].clone())
    );
    for (body, code) in [
        (json!({"emoji": "no"}), "bad_request"),
        (json!({"emoji": "👍", "clientId": "server"}), "bad_request"),
    ] {
        let refused = post(&server, &path, None, &body);
        spec().check(template, "POST", &refused);
        assert_eq!(
            (
                refused.status,
                serde_json::from_str::<Value>(&refused.body).unwrap()["error"].clone()
            ),
            (400, json!(code))
        );
    }
    let gone = post(
        &server,
        "/api/rooms/apir/messages/m99-1/reactions",
        None,
        &json!({"emoji": "👍"}),
    );
    assert_eq!(
        serde_json::from_str::<Value>(&gone.body).unwrap()["error"],
        "unknown_message"
    );
    let read = server.get("/api/rooms/apir/read/page");
    spec().check("/api/rooms/{room}/read/{clientId}", "GET", &read);
}

async fn tokens_and_bans_hold_on_every_new_frame_and_endpoint(_: Server) {
    let vars = [VARS, &[("AUTH_SECRET", SECRET)]].concat();
    let mut rt = tokio::task::block_in_place(|| Runtime::start(&vars));
    let server = rt.server();
    let (modr, bob) = (moderator("mod", "club"), member("bob", "club"));
    let join = |id: &str, token: &str| format!("/ws/{id}?room=club&batch=1&token={token}");
    let mut m = Client::connect(&server, &join("mod", &modr), "mod").await;
    m.expect_join_of("mod").await;
    let id = said(&mut m, "rules").await;
    let mut b = Client::connect(&server, &join("bob", &bob), "bob").await;
    b.expect_join_of("bob").await;
    b.send(&react(&id, "👍")).await;
    next_of(&mut b, "reaction", |_| true).await;
    // A member reads only its own read state, and exports nothing.
    let others = server.request(
        "GET",
        "/api/rooms/club/read/mod",
        &[("Authorization", &format!("Bearer {bob}"))],
    );
    assert_eq!(
        (others.status, others.body.contains("read_forbidden")),
        (403, true)
    );
    let own = server.request(
        "GET",
        "/api/rooms/club/read/bob",
        &[("Authorization", &format!("Bearer {bob}"))],
    );
    assert_eq!(own.status, 200, "{}", own.body);
    // Kicked: every new endpoint refuses the banned member.
    m.send(&json!({"type": "kick", "clientId": "bob", "minutes": 30}).to_string())
        .await;
    b.expect_closed().await;
    let path = format!("/api/rooms/club/messages/{id}/reactions");
    let banned = post(&server, &path, Some(&bob), &json!({"emoji": "👎"}));
    assert_eq!(
        (banned.status, banned.body.contains("banned")),
        (403, true),
        "{}",
        banned.body
    );
    for endpoint in ["read/bob", "search?q=rules", "messages?before=5"] {
        let refused = server.request(
            "GET",
            &format!("/api/rooms/club/{endpoint}"),
            &[("Authorization", &format!("Bearer {bob}"))],
        );
        assert_eq!(refused.status, 403, "{endpoint}: {}", refused.body);
    }
    // Without a token, nothing: not a reaction, not a read.
    assert_eq!(
        post(&server, &path, None, &json!({"emoji": "👍"})).status,
        401
    );
    assert_eq!(server.get("/api/rooms/club/read/bob").status, 401);
    rt.stop();
}

suite![
    vars: VARS;
    many_members_toggling_one_emoji_at_once_leave_an_exact_count,
    the_originals_plain_clients_never_see_a_reaction,
    refusals_keep_the_socket_open,
    a_reply_quotes_its_original_and_follows_it_to_its_delete,
    read_pointers_keep_tabs_in_step_and_survive_a_reconnect,
    an_api_reaction_reaches_the_room_and_answers_as_documented,
    tokens_and_bans_hold_on_every_new_frame_and_endpoint,
    reactions_survive_a_kill_and_reach_one_who_was_away_through_since,
];
