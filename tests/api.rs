//! The HTTP API against the real runtime, in open mode and then in token
//! mode: every endpoint and every refusal, each answer checked against
//! `api/openapi.yaml`; posts that reach plain and batch sockets in order
//! with socket messages; and a bot whose post shows on a page in Chromium.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use edge_chat::access::auth::Role;
use serde_json::{json, Value};

use common::browser::{page_url, Browser};
use common::http::{post_chunked, request_with_body, HttpResponse};
use common::schema::OpenApi;
use common::tokens::{member, mint_with, moderator, SECRET};
use common::workerd::Workerd;
use common::{unpacked, Client, Server, TestFn};

const MESSAGES: &str = "/api/rooms/{room}/messages";
const PRESENCE: &str = "/api/rooms/{room}/presence";
const JSON: (&str, &str) = ("Content-Type", "application/json");
/// An origin besides the Worker's own that may call, by `ALLOWED_ORIGINS`.
const PARTNER: &str = "https://partner.example";

fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(OpenApi::load)
}

fn call(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> HttpResponse {
    request_with_body(
        server.port,
        method,
        path,
        headers,
        body.as_bytes(),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// POSTs `body` as JSON to `room`'s messages, with `token` if any, and
/// checks the answer against the document.
fn post(server: &Server, room: &str, token: Option<&str>, body: &Value) -> HttpResponse {
    let auth = token.map(bearer);
    let mut headers = vec![JSON];
    headers.extend(auth.as_deref().map(|a| ("Authorization", a)));
    let path = format!("/api/rooms/{room}/messages");
    let resp = call(server, "POST", &path, &headers, &body.to_string());
    spec().check(MESSAGES, "POST", &resp);
    resp
}

/// GETs `path` (`messages?…` or `presence` of `room`), checked against the
/// document.
fn get(server: &Server, room: &str, endpoint: &str, token: Option<&str>) -> HttpResponse {
    let auth = token.map(bearer);
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let resp = call(
        server,
        "GET",
        &format!("/api/rooms/{room}/{endpoint}"),
        &headers,
        "",
    );
    let template = match endpoint.starts_with("presence") {
        true => PRESENCE,
        false => MESSAGES,
    };
    spec().check(template, "GET", &resp);
    resp
}

fn body(resp: &HttpResponse) -> Value {
    serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", resp.body))
}

fn refused(resp: &HttpResponse) -> (u16, String) {
    let b = body(resp);
    assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    (
        resp.status,
        b["error"].as_str().unwrap_or_default().to_owned(),
    )
}

fn messages(resp: &HttpResponse) -> Vec<Value> {
    assert_eq!(resp.status, 200, "{}", resp.body);
    body(resp)["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Reads `client`'s frames until it has seen `n` chat messages; returns
/// them in the order received.
async fn chat_messages(client: &mut Client, n: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let frames = unpacked(client.next().await);
        seen.extend(frames.into_iter().filter(|f| f["type"] == "message"));
    }
    seen
}

async fn open_the_checker_rejects_answers_that_break_the_document(_server: Server) {
    let api = spec();
    let good = json!({"seq": 1, "id": "m1-a"});
    assert_eq!(api.validate(api.schema("Posted"), &good), Ok(()));
    for bad in [
        json!({"seq": "1", "id": "m1-a"}),
        json!({"id": "m1-a"}),
        json!({"seq": 1, "id": "m1-a", "extra": true}),
        json!([]),
    ] {
        assert!(api.validate(api.schema("Posted"), &bad).is_err(), "{bad}");
    }
    let page = json!({"messages": [{"time": "10:00", "clientId": "a", "message": "m", "ts": 1, "seq": 1}],
                      "changes": [], "latestSeq": 1, "truncated": false, "epoch": "00ff"});
    let why = api.validate(api.schema("MessagesPage"), &page).unwrap_err();
    assert!(
        why.contains("$.messages[0]") && why.contains("\"id\""),
        "{why}"
    );
    let code = json!({"error": "oops", "message": "m"});
    assert!(
        api.validate(api.schema("Error"), &code).is_err(),
        "codes are an enum"
    );
    let no_allow = HttpResponse {
        status: 405,
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({"error": "method_not_allowed", "message": "m"}).to_string(),
    };
    let why = api
        .matches(api.component("MethodNotAllowed"), &no_allow)
        .unwrap_err();
    assert!(why.contains("Allow"), "{why}");
}

async fn open_a_post_reaches_plain_and_batch_sockets_in_order_with_socket_messages(server: Server) {
    let room = "api-order";
    let (mut plain, _) = Client::join_with(&server, "plain-1", &format!("room={room}")).await;
    let (mut batch, _) =
        Client::join_with(&server, "batch-1", &format!("room={room}&batch=1")).await;
    let (mut alice, _) = Client::join_with(&server, "alice", &format!("room={room}")).await;
    let mut posted = Vec::new();
    // Socket messages in flight while the API posts: the room orders both.
    for i in 0..4 {
        alice.say(&format!("socket {i}"), &format!("s{i}")).await;
        let resp = post(
            &server,
            room,
            None,
            &json!({"message": format!("api {i}"), "clientId": "bot"}),
        );
        assert_eq!(resp.status, 201, "{}", resp.body);
        posted.push(body(&resp));
    }
    let heard_plain = chat_messages(&mut plain, 8).await;
    let heard_batch = chat_messages(&mut batch, 8).await;
    assert_eq!(
        heard_plain, heard_batch,
        "plain and batch sockets hear the same, in order"
    );
    let seqs: Vec<u64> = heard_plain
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    let first = seqs[0];
    assert_eq!(seqs, (first..first + 8).collect::<Vec<_>>(), "in seq order");
    for (i, answer) in posted.iter().enumerate() {
        let heard = heard_plain
            .iter()
            .find(|m| m["message"] == format!("api {i}"))
            .expect("the API message reached the sockets");
        assert_eq!(
            (&heard["seq"], &heard["id"]),
            (&answer["seq"], &answer["id"])
        );
        assert_eq!(heard["clientId"], "bot");
    }
    let stored = messages(&get(&server, room, "messages", None));
    assert_eq!(
        stored,
        heard_plain
            .iter()
            .map(|m| {
                let mut m = m.clone();
                m.as_object_mut().unwrap().remove("type");
                m
            })
            .collect::<Vec<_>>(),
        "history holds what was sent"
    );
}

async fn open_the_same_client_msg_id_is_200_with_the_original(server: Server) {
    let room = "api-dedupe";
    let msg = json!({"message": "once", "clientMsgId": "dup-1", "clientId": "bot2"});
    let first = post(&server, room, None, &msg);
    assert_eq!(first.status, 201, "{}", first.body);
    let again = post(&server, room, None, &msg);
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(body(&again), body(&first));
    // A socket of the same client resending it is told the same.
    let (mut socket, _) = Client::join_with(&server, "bot2", &format!("room={room}")).await;
    socket.say("once", "dup-1").await;
    let ack = socket
        .next_matching("the ack", |f| f["type"] == "ack")
        .await;
    assert_eq!(ack["seq"], body(&first)["seq"]);
    let stored = messages(&get(&server, room, "messages", None));
    assert_eq!(stored.len(), 1, "{stored:?}");
}

async fn open_messages_are_the_history_frames_with_tombstones_edits_and_pages(server: Server) {
    let room = "api-history";
    let (mut alice, _) = Client::join_with(&server, "alice", &format!("room={room}")).await;
    let mut ids = Vec::new();
    for (i, text) in ["a", "b", "c"].iter().enumerate() {
        alice.say(text, &format!("h{i}")).await;
        let ack = alice.next_matching("ack", |f| f["type"] == "ack").await;
        ids.push(ack["id"].as_str().unwrap().to_owned());
    }
    alice
        .send(&json!({"type": "edit", "id": ids[1], "message": "b2"}).to_string())
        .await;
    alice.next_matching("edit", |f| f["type"] == "edit").await;
    alice
        .send(&json!({"type": "delete", "id": ids[2]}).to_string())
        .await;
    alice
        .next_matching("delete", |f| f["type"] == "delete")
        .await;

    let all = body(&get(&server, room, "messages", None));
    assert_eq!(
        (&all["latestSeq"], &all["truncated"]),
        (&json!(5), &json!(false))
    );
    let m = all["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(
        (&m[1]["message"], m[1]["editedTs"].is_u64()),
        (&json!("b2"), true)
    );
    assert_eq!(
        (&m[2]["message"], &m[2]["deleted"]),
        (&json!(""), &json!(true))
    );

    let page = body(&get(&server, room, "messages?since=1&limit=1", None));
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    assert_eq!(page["messages"][0]["seq"], 2);
    // The socket's catch-up from the same point: the very same frames.
    for since in [0, 3, 5] {
        let api = body(&get(
            &server,
            room,
            &format!("messages?since={since}"),
            None,
        ));
        let (bob, before) =
            Client::join_with(&server, "bob", &format!("room={room}&since={since}")).await;
        let history = before.iter().find(|f| f["type"] == "history").unwrap();
        assert_eq!(api["messages"], history["messages"], "since={since}");
        assert_eq!(
            api["changes"],
            history.get("changes").cloned().unwrap_or(json!([]))
        );
        assert_eq!(api["latestSeq"], history["latestSeq"]);
        bob.close().await;
    }
    let changes = body(&get(&server, room, "messages?since=3", None));
    let kinds: Vec<&Value> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["type"])
        .collect();
    assert_eq!(kinds, [&json!("edit"), &json!("delete")]);
    let ahead = body(&get(&server, room, "messages?since=99", None));
    assert_eq!(
        ahead["truncated"], true,
        "a since beyond the room starts over"
    );
}

async fn open_presence_lists_each_client_once(server: Server) {
    let room = "api-presence";
    let empty = body(&get(&server, room, "presence", None));
    assert_eq!(empty, json!({"members": [], "count": 0, "relays": 0}));
    let _ann = Client::join_with(&server, "p-ann", &format!("room={room}&name=Ann")).await;
    let _bob1 = Client::join_with(&server, "p-bob", &format!("room={room}")).await;
    let _bob2 = Client::join_with(&server, "p-bob", &format!("room={room}")).await;
    let present = body(&get(&server, room, "presence", None));
    assert_eq!(
        (&present["members"], &present["count"]),
        (
            &json!([{"clientId": "p-ann", "name": "Ann"}, {"clientId": "p-bob"}]),
            &json!(2)
        )
    );
    // 0 while the room is one object; the sharded run puts them on one relay.
    assert!(present["relays"].is_u64(), "{present}");
}

async fn open_a_post_speaks_as_its_client_id_or_as_api(server: Server) {
    let room = "api-open-sender";
    assert_eq!(
        post(&server, room, None, &json!({"message": "anon"})).status,
        201
    );
    let named = json!({"message": "built", "clientId": "ci-bot", "name": "CI"});
    assert_eq!(post(&server, room, None, &named).status, 201);
    let stored = messages(&get(&server, room, "messages", None));
    assert_eq!(
        (&stored[0]["clientId"], stored[0].get("name")),
        (&json!("api"), None)
    );
    assert_eq!(
        (&stored[1]["clientId"], &stored[1]["name"]),
        (&json!("ci-bot"), &json!("CI"))
    );
}

async fn open_every_refusal_is_json_with_its_status(server: Server) {
    let api = spec();
    let path = "/api/rooms/api-refusals/messages";
    for unknown in [
        "/api/rooms/api-refusals/other",
        "/api/nothing",
        "/api",
        "/api/rooms/x",
    ] {
        let resp = call(&server, "GET", unknown, &[], "");
        assert_eq!(refused(&resp), (404, "not_found".into()), "{unknown}");
        api.matches(api.component("NotFound"), &resp).unwrap();
    }
    for (method, path, allow) in [
        ("DELETE", path, "GET, POST, OPTIONS"),
        ("PUT", "/api/rooms/api-refusals/presence", "GET, OPTIONS"),
        ("POST", "/api/rooms/api-refusals/presence", "GET, OPTIONS"),
    ] {
        let resp = call(&server, method, path, &[JSON], "{}");
        assert_eq!(
            refused(&resp),
            (405, "method_not_allowed".into()),
            "{method} {path}"
        );
        assert_eq!(resp.header("allow"), Some(allow));
        api.matches(api.component("MethodNotAllowed"), &resp)
            .unwrap();
    }
    for query in ["limit=0", "limit=1001", "since=-1", "limit=ten"] {
        let resp = get(&server, "api-refusals", &format!("messages?{query}"), None);
        assert_eq!(refused(&resp), (400, "bad_request".into()), "{query}");
    }
    assert_eq!(refused(&get(&server, "Bad-Room", "messages", None)).0, 400);
    let raw = |headers: &[(&str, &str)], body: &str| {
        let resp = call(&server, "POST", path, headers, body);
        api.check(MESSAGES, "POST", &resp);
        refused(&resp)
    };
    let unsupported = (415, "unsupported_media_type".to_owned());
    assert_eq!(
        raw(&[("Content-Type", "text/plain")], r#"{"message":"m"}"#),
        unsupported
    );
    assert_eq!(raw(&[], r#"{"message":"m"}"#), unsupported);
    assert_eq!(raw(&[JSON], "{oops"), (415, "not_json".into()));
    assert_eq!(raw(&[JSON], "{}"), (400, "bad_request".into()));
    assert_eq!(
        raw(&[JSON], r#"{"message":["m"]}"#),
        (400, "bad_request".into())
    );
    assert_eq!(
        raw(&[JSON], r#"{"message":" \n "}"#),
        (400, "empty_message".into())
    );
    let long = json!({"message": "x".repeat(2001)}).to_string();
    assert_eq!(raw(&[JSON], &long), (400, "message_too_long".into()));
    for field in ["clientMsgId", "clientId"] {
        let bad = json!({"message": "m", field: "a b"}).to_string();
        assert_eq!(raw(&[JSON], &bad), (400, "bad_request".into()), "{field}");
    }
    let bad_name = json!({"message": "m", "name": "a\u{202E}b"}).to_string();
    assert_eq!(raw(&[JSON], &bad_name), (400, "bad_request".into()));
    // 64 KiB exactly is read (and its message is too long); one byte more
    // is not read at all.
    let filler = 64 * 1024 - r#"{"message":""}"#.len();
    let at_limit = json!({"message": "x".repeat(filler)}).to_string();
    assert_eq!(at_limit.len(), 64 * 1024);
    assert_eq!(raw(&[JSON], &at_limit), (400, "message_too_long".into()));
    // Refused by its Content-Length, before a byte is read: the answer
    // names the declared size, which reading could not know. (Reading
    // stops at the limit and says only "over 65536 bytes".)
    for extra in [1, 4 * 1024 * 1024] {
        let over = json!({"message": "x".repeat(filler + extra)}).to_string();
        let resp = call(&server, "POST", path, &[JSON], &over);
        api.check(MESSAGES, "POST", &resp);
        assert_eq!(refused(&resp), (413, "body_too_large".into()));
        let said = body(&resp)["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let declared = format!("the body is {} bytes;", over.len());
        assert!(said.starts_with(&declared), "{said}");
    }
    assert!(messages(&get(&server, "api-refusals", "messages", None)).is_empty());
}

/// What a chunked body sent without `Content-Length` costs the runtime:
/// reading stops at 64 KiB and the upload is cancelled, so 48 MiB of it
/// never reaches memory. On workerd without the dev proxy, which answers
/// some cancelled uploads with its own 503 (see `common::workerd`).
async fn open_a_48_mib_chunked_body_is_413_and_never_held(_server: Server) {
    const TOTAL: usize = 48 * 1024 * 1024;
    const MIB: f64 = 1024.0 * 1024.0;
    let mut workerd = tokio::task::block_in_place(Workerd::start);
    let server = workerd.server();
    let room = "api-huge";
    // The isolate and the room exist before the baseline is taken.
    assert_eq!(get(&server, room, "messages", None).status, 200);
    let before = server.rss_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (server, done) = (server.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(server.rss_bytes());
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let path = format!("/api/rooms/{room}/messages");
    let upload = || {
        post_chunked(
            server.port,
            &path,
            &[JSON],
            TOTAL,
            b'x',
            Duration::from_secs(30),
        )
    };
    let (resp, sent) = tokio::task::block_in_place(upload).expect("an answer to the upload");
    done.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap().max(before);
    let after = server.rss_bytes();
    println!(
        "    48 MiB chunked body: answered after {:.1} MiB sent; runtime RSS {:.1} MiB before, \
         peak {:.1}, after {:.1}",
        sent as f64 / MIB,
        before as f64 / MIB,
        peak as f64 / MIB,
        after as f64 / MIB
    );
    spec().check(MESSAGES, "POST", &resp);
    assert_eq!(refused(&resp), (413, "body_too_large".into()));
    let grew = peak.saturating_sub(before) as f64 / MIB;
    assert!(
        grew < 16.0,
        "the runtime grew {grew:.1} MiB for a refused body"
    );
    assert!(sent < TOTAL, "answered only once the upload ended");
    assert!(messages(&get(&server, room, "messages", None)).is_empty());
    tokio::task::block_in_place(|| workerd.stop());
}

async fn open_cors_answers_the_own_and_allowed_origins_only(server: Server) {
    let api = spec();
    let own = page_url(server.port, "");
    let path = "/api/rooms/api-cors/messages";
    for origin in [own.as_str(), PARTNER] {
        let preflight = call(
            &server,
            "OPTIONS",
            path,
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
            ],
            "",
        );
        assert_eq!(preflight.status, 204, "{origin}: {}", preflight.body);
        api.check(MESSAGES, "OPTIONS", &preflight);
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some(origin)
        );
        assert_eq!(
            preflight.header("access-control-allow-methods"),
            Some("GET, POST, OPTIONS")
        );
        let allowed_headers = preflight
            .header("access-control-allow-headers")
            .unwrap_or_default();
        assert!(
            allowed_headers.contains("Authorization") && allowed_headers.contains("Content-Type")
        );
        let read = call(&server, "GET", path, &[("Origin", origin)], "");
        assert_eq!(read.status, 200);
        api.check(MESSAGES, "GET", &read);
        assert_eq!(read.header("access-control-allow-origin"), Some(origin));
    }
    let other_port = format!("http://127.0.0.1:{}", server.port + 1);
    for origin in [
        "https://evil.example",
        "http://localhost:8787",
        other_port.as_str(),
    ] {
        let preflight = call(&server, "OPTIONS", path, &[("Origin", origin)], "");
        assert_eq!(
            refused(&preflight),
            (403, "origin_forbidden".into()),
            "{origin}"
        );
        api.check(MESSAGES, "OPTIONS", &preflight);
        assert_eq!(preflight.header("access-control-allow-origin"), None);
        let write = call(
            &server,
            "POST",
            path,
            &[("Origin", origin), JSON],
            r#"{"message":"csrf"}"#,
        );
        assert_eq!(
            refused(&write),
            (403, "origin_forbidden".into()),
            "{origin}"
        );
        api.check(MESSAGES, "POST", &write);
    }
    assert!(messages(&get(&server, "api-cors", "messages", None)).is_empty());
}

/// Posts as `body` until one is refused with 429; returns how many passed
/// and the refusal.
fn post_until_limited(
    server: &Server,
    room: &str,
    token: Option<&str>,
    body: impl Fn(usize) -> Value,
) -> (usize, HttpResponse) {
    for i in 0..200 {
        let resp = post(server, room, token, &body(i));
        if resp.status == 429 {
            return (i, resp);
        }
        assert_eq!(resp.status, 201, "{}", resp.body);
    }
    panic!("200 posts in a row were never rate limited");
}

async fn open_a_flood_under_a_new_id_each_post_is_429_by_address(server: Server) {
    let room = "api-rate";
    // A new clientId every post, as a liar would: the limit is the
    // address's, not the id's.
    let (passed, limited) = post_until_limited(
        &server,
        room,
        None,
        |i| json!({"message": format!("f{i}"), "clientId": format!("liar-{i}")}),
    );
    assert!(passed >= 20, "the burst of 20 passes first; {passed} did");
    assert_eq!(refused(&limited), (429, "rate_limited".into()));
    let retry: u64 = limited
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let path = format!("/api/rooms/{room}/messages");
    let calm = |address: &str| {
        let headers = [JSON, ("CF-Connecting-IP", address)];
        let body = json!({"message": "hi", "clientId": "calm"}).to_string();
        call(&server, "POST", &path, &headers, &body)
    };
    // The same address has no burst left, whatever id it posts as: at
    // most the few tokens refilled since (10 a second) pass before the
    // next 429, where a fresh budget would pass 20.
    let (again, _) = post_until_limited(
        &server,
        room,
        None,
        |i| json!({"message": format!("g{i}"), "clientId": format!("calm-{i}")}),
    );
    assert!(
        again < 10,
        "the same address passed {again} more: a fresh budget"
    );
    let other = calm("198.51.100.7");
    assert_eq!(
        other.status, 201,
        "another address has its own budget: {}",
        other.body
    );
}

const VARS_OPEN: &[(&str, &str)] = &[("ALLOWED_ORIGINS", PARTNER)];
const VARS_TOKEN: &[(&str, &str)] = &[("AUTH_SECRET", SECRET), ("ALLOWED_ORIGINS", PARTNER)];

fn service(sub: &str, room: &str) -> String {
    mint_with(SECRET, sub, &[room], Role::Service, 3600)
}

async fn token_every_endpoint_needs_a_token_granting_the_room(server: Server) {
    let room = "api-auth";
    let expired = mint_with(SECRET, "alice", &[room], Role::Member, -120);
    let elsewhere = member("alice", "other-room");
    let forged = mint_with("another-secret", "alice", &[room], Role::Member, 3600);
    let cases: [(Option<&str>, u16, &str); 5] = [
        (None, 401, "missing_token"),
        (Some("x.y.z"), 401, "bad_token"),
        (Some(&forged), 401, "bad_token"),
        (Some(&expired), 401, "expired_token"),
        (Some(&elsewhere), 403, "room_forbidden"),
    ];
    for (token, status, code) in cases {
        let msg = json!({"message": "let me in"});
        let answers = [
            post(&server, room, token, &msg),
            get(&server, room, "messages", token),
            get(&server, room, "presence", token),
        ];
        for resp in &answers {
            assert_eq!(refused(resp), (status, code.to_owned()), "{token:?}");
        }
        // The socket's refusal for the same token: the same status and code.
        let query = token
            .map(|t| format!("room={room}&token={t}"))
            .unwrap_or(format!("room={room}"));
        let socket = server.handshake_refusal(&format!("/ws/alice?{query}"));
        assert_eq!(
            refused(&socket),
            (status, code.to_owned()),
            "socket, {token:?}"
        );
    }
    // A token in the URL is not read: tokens in URLs end up in logs.
    let good = member("alice", room);
    let in_url = call(
        &server,
        "GET",
        &format!("/api/rooms/{room}/presence?token={good}"),
        &[],
        "",
    );
    assert_eq!(refused(&in_url), (401, "missing_token".into()));
    spec().check(PRESENCE, "GET", &in_url);
    assert_eq!(get(&server, room, "presence", Some(&good)).status, 200);
    assert!(messages(&get(&server, room, "messages", Some(&good))).is_empty());
}

async fn token_a_member_posts_as_itself_and_only_a_service_names_another(server: Server) {
    let room = "api-service";
    let alice = member("alice", room);
    assert_eq!(
        post(
            &server,
            room,
            Some(&alice),
            &json!({"message": "from alice"})
        )
        .status,
        201
    );
    let mo = moderator("mo", room);
    for (token, extra) in [
        (&alice, json!({"clientId": "deploy-bot"})),
        (&alice, json!({"name": "Deploy Bot"})),
        (&alice, json!({"clientId": "alice"})),
        (&mo, json!({"clientId": "deploy-bot"})),
    ] {
        let mut msg = json!({"message": "impersonating"});
        msg.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let resp = post(&server, room, Some(token), &msg);
        assert_eq!(refused(&resp), (403, "service_only".into()), "{msg}");
    }
    let backend = service("backend", room);
    let as_bot =
        json!({"message": "Deploy finished", "clientId": "deploy-bot", "name": "Deploy Bot"});
    assert_eq!(post(&server, room, Some(&backend), &as_bot).status, 201);
    assert_eq!(
        post(
            &server,
            room,
            Some(&backend),
            &json!({"message": "as myself"})
        )
        .status,
        201
    );
    let stored = messages(&get(&server, room, "messages", Some(&alice)));
    let who: Vec<(&Value, Option<&Value>, &Value)> = stored
        .iter()
        .map(|m| (&m["clientId"], m.get("name"), &m["message"]))
        .collect();
    assert_eq!(
        who,
        [
            (&json!("alice"), None, &json!("from alice")),
            (
                &json!("deploy-bot"),
                Some(&json!("Deploy Bot")),
                &json!("Deploy finished")
            ),
            (&json!("backend"), None, &json!("as myself")),
        ]
    );
}

async fn token_the_rate_is_per_token_subject(server: Server) {
    let room = "api-token-rate";
    let flood = service("svc-flood", room);
    // Speaking as several senders does not multiply the budget.
    let (passed, limited) = post_until_limited(
        &server,
        room,
        Some(&flood),
        |i| json!({"message": format!("f{i}"), "clientId": format!("bot-{}", i % 3)}),
    );
    assert!(passed >= 20, "{passed}");
    assert_eq!(refused(&limited), (429, "rate_limited".into()));
    // Reads spend the same budget. A token may refill between the last
    // post and a read on a loaded machine (one every 100 ms), so of three
    // reads in a row at least one must be refused; a bucket of their own
    // would let all three through.
    let limited_reads = (0..3)
        .filter(|_| get(&server, room, "presence", Some(&flood)).status == 429)
        .count();
    assert!(limited_reads >= 1, "reads spend the same budget");
    let other = service("svc-other", room);
    assert_eq!(
        post(&server, room, Some(&other), &json!({"message": "hi"})).status,
        201
    );
}

async fn token_a_banned_member_may_neither_post_nor_read(server: Server) {
    let room = "api-ban";
    let mallory = member("mallory", room);
    let path = format!("/ws/mallory?room={room}&token={mallory}");
    let mut victim = Client::connect(&server, &path, "mallory").await;
    victim.expect_join_of("mallory").await;
    assert_eq!(get(&server, room, "presence", Some(&mallory)).status, 200);
    let mo = moderator("mo", room);
    let mut socket =
        Client::connect(&server, &format!("/ws/mo?room={room}&token={mo}"), "mo").await;
    socket.expect_join_of("mo").await;
    socket
        .send(r#"{"type":"kick","clientId":"mallory","minutes":5}"#)
        .await;
    // The kick was accepted: mallory's socket is told and closed, after
    // the ban was stored. From then on, no call of mallory's gets through.
    victim.expect_error("kicked").await;
    assert_eq!(
        victim.expect_closed().await,
        (1008, "removed by a moderator".into())
    );
    let resp = post(
        &server,
        room,
        Some(&mallory),
        &json!({"message": "back again"}),
    );
    assert_eq!(refused(&resp), (403, "banned".into()));
    for endpoint in ["messages", "presence", "messages?since=0"] {
        let resp = get(&server, room, endpoint, Some(&mallory));
        assert_eq!(refused(&resp), (403, "banned".into()), "{endpoint}");
    }
    let as_mallory = json!({"message": "sneaky", "clientId": "mallory"});
    let resp = post(&server, room, Some(&service("backend", room)), &as_mallory);
    assert_eq!(refused(&resp), (403, "banned".into()));
    let kept = messages(&get(&server, room, "messages", Some(&mo)));
    assert!(kept.iter().all(|m| m["clientId"] != "mallory"), "{kept:?}");
}

async fn token_a_bot_posts_and_a_page_in_chromium_shows_it(server: Server) {
    let room = "api-bot";
    let mut browser = Browser::launch().await;
    let link = format!(
        "{}#token={}",
        page_url(server.port, &format!("/r/{room}")),
        member("viewer", room)
    );
    let tab = browser.open(&link, 1000, 700).await;
    browser
        .wait_for(
            &tab,
            "the page to connect",
            "document.getElementById('status').dataset.state === 'online'",
        )
        .await;
    let backend = service("backend", room);
    let text = "Deploy finished: v1.2.3";
    let resp = post(
        &server,
        room,
        Some(&backend),
        &json!({"message": text, "clientId": "deploy-bot", "name": "Deploy Bot", "clientMsgId": "deploy-123"}),
    );
    assert_eq!(resp.status, 201, "{}", resp.body);
    let shown = format!(
        "[...document.querySelectorAll('#messages .msg:not(.pending)')]\
         .filter(m => m.querySelector('.text')?.textContent === {})\
         .map(m => m.querySelector('.author')?.textContent)",
        serde_json::to_string(text).unwrap()
    );
    browser
        .wait_for(&tab, "the bot's message", &format!("{shown}.length >= 1"))
        .await;
    // A retry by the bot (same clientMsgId) shows nothing new.
    let again = post(
        &server,
        room,
        Some(&backend),
        &json!({"message": text, "clientId": "deploy-bot", "name": "Deploy Bot", "clientMsgId": "deploy-123"}),
    );
    assert_eq!(again.status, 200);
    browser.screenshot(&tab, "api-bot-message").await;
    assert_eq!(
        browser.eval(&tab, &shown).await,
        json!(["Deploy Bot (deploy-bot)"])
    );
}

macro_rules! tests {
    ($($name:ident),+ $(,)?) => {
        &[$((stringify!($name), (|s| Box::pin($name(s))) as TestFn)),+]
    };
}

fn main() {
    common::run_with_vars(
        VARS_OPEN,
        tests![
            open_the_checker_rejects_answers_that_break_the_document,
            open_a_post_reaches_plain_and_batch_sockets_in_order_with_socket_messages,
            open_the_same_client_msg_id_is_200_with_the_original,
            open_messages_are_the_history_frames_with_tombstones_edits_and_pages,
            open_presence_lists_each_client_once,
            open_a_post_speaks_as_its_client_id_or_as_api,
            open_every_refusal_is_json_with_its_status,
            open_a_48_mib_chunked_body_is_413_and_never_held,
            open_cors_answers_the_own_and_allowed_origins_only,
            open_a_flood_under_a_new_id_each_post_is_429_by_address,
        ],
    );
    common::run_with_vars(
        VARS_TOKEN,
        tests![
            token_every_endpoint_needs_a_token_granting_the_room,
            token_a_member_posts_as_itself_and_only_a_service_names_another,
            token_the_rate_is_per_token_subject,
            token_a_banned_member_may_neither_post_nor_read,
            token_a_bot_posts_and_a_page_in_chromium_shows_it,
        ],
    );
}
