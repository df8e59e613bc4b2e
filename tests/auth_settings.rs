//! How `AUTH_MODE` and `AUTH_SECRET` decide who gets in, against the real
//! runtime: with neither set, or a secret too short to use, or both open
//! mode and a secret, every socket and API call is refused with 503 and a
//! code that says why, and the Worker logs what the operator must set; open
//! mode only when chosen. The suite's own runtime has neither setting; the
//! other cases start a runtime each.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use edge_chat::access::auth::Role;
use serde_json::{json, Value};

use common::bystanders::log_lines_matching;
use common::http::request_with_body;
use common::schema::OpenApi;
use common::tokens::{mint_with, SECRET};
use common::{Client, Runtime, Server};

/// Neither a secret (the fixture clears it) nor a mode.
const NOTHING_SET: &[(&str, &str)] = &[("AUTH_MODE", "")];

/// 31 bytes: one short of what HS256 needs.
const SHORT_SECRET: &str = "edge-chat-secret-31-bytes-long!";

/// The refusal of a socket or API call while the settings let no one in:
/// 503, JSON with `code`, and a message naming what the operator must set.
fn assert_misconfigured(resp: &common::http::HttpResponse, code: &str, what: &str) {
    let body: Value = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", resp.body));
    assert_eq!(
        (resp.status, body["error"].as_str()),
        (503, Some(code)),
        "{what}: {body}"
    );
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("AUTH_SECRET"), "{what}: {message}");
}

/// A socket handshake on `path`, read as plain HTTP.
fn handshake(server: &Server, path: &str, token: Option<&str>) -> common::http::HttpResponse {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Upgrade", "websocket")];
    headers.extend(bearer.as_deref().map(|b| ("Authorization", b)));
    server.request("GET", path, &headers)
}

fn post_message(server: &Server, room: &str, body: &Value) -> common::http::HttpResponse {
    let path = format!("/api/rooms/{room}/messages");
    let headers = [("Content-Type", "application/json")];
    let body = body.to_string();
    request_with_body(
        server.port,
        "POST",
        &path,
        &headers,
        body.as_bytes(),
        std::time::Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("POST {path} failed: {e}"))
}

/// The Worker logged the refusals with `code`: an error line saying what
/// the operator must set, and the refusal's own (`refused_as`) with 503.
/// Every line that names the code is one of those two.
async fn assert_logged(server: &Server, code: &'static str, refused_as: &'static str) {
    let is = |event: &'static str| move |v: &Value| v["event"] == event && v["code"] == code;
    log_lines_matching(server, code, is("auth_misconfigured")).await;
    log_lines_matching(server, code, is(refused_as)).await;
    for line in log_lines_matching(server, code, |v| v["code"] == code).await {
        let event = line["event"].as_str().unwrap_or_default();
        if event == "auth_misconfigured" {
            assert_eq!(line["level"], "error", "{line}");
            let detail = line["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("AUTH_SECRET"), "{line}");
        } else {
            let refusal = ["handshake_refused", "api_refused"].contains(&event);
            assert!(refusal, "an unexpected line names {code}: {line}");
            assert_eq!(line["status"], 503, "{line}");
        }
    }
}

async fn without_a_secret_or_open_mode_every_socket_is_refused_with_503(server: Server) {
    let code = "auth_not_configured";
    assert_misconfigured(
        &handshake(&server, "/ws/nobody?room=lobby", None),
        code,
        "a socket",
    );
    // Not even a token signed with some secret gets in, nor the bare path.
    let token = mint_with(SECRET, "nobody", &["*"], Role::Moderator, 600);
    let with_token = handshake(&server, "/ws/nobody?room=lobby", Some(&token));
    assert_misconfigured(&with_token, code, "a socket with a token");
    assert_misconfigured(&handshake(&server, "/ws", None), code, "the bare /ws");
    let refused = Client::handshake(&server, "/ws/nobody", "nobody", &[]).await;
    assert_eq!(refused.err(), Some(503), "a real WebSocket client");
    assert_logged(&server, code, "handshake_refused").await;
}

async fn without_a_secret_or_open_mode_every_api_call_is_refused_with_503(server: Server) {
    let code = "auth_not_configured";
    let api = OpenApi::load();
    let read = server.get("/api/rooms/lobby/messages");
    assert_misconfigured(&read, code, "a read");
    api.check("/api/rooms/{room}/messages", "GET", &read);
    let presence = server.get("/api/rooms/lobby/presence");
    assert_misconfigured(&presence, code, "presence");
    let post = post_message(&server, "lobby", &json!({"message": "hi", "clientId": "x"}));
    assert_misconfigured(&post, code, "a post");
    api.check("/api/rooms/{room}/messages", "POST", &post);
    assert_logged(&server, code, "api_refused").await;
}

async fn the_page_is_still_served_so_a_person_sees_the_chat_is_down(server: Server) {
    assert_eq!(server.get("/").status, 200);
}

async fn a_secret_under_32_bytes_is_refused_with_503_auth_secret_too_short(_: Server) {
    let mut rt = Runtime::start(&[("AUTH_SECRET", SHORT_SECRET)]);
    let server = rt.server();
    let code = "auth_secret_too_short";
    // Signed with that very secret: a token is no use under a weak one.
    let token = mint_with(SHORT_SECRET, "weak", &["*"], Role::Member, 600);
    let socket = handshake(&server, "/ws/weak?room=lobby", Some(&token));
    assert_misconfigured(&socket, code, "a socket");
    let read = server.request(
        "GET",
        "/api/rooms/lobby/messages",
        &[("Authorization", &format!("Bearer {token}"))],
    );
    assert_misconfigured(&read, code, "a read");
    assert_logged(&server, code, "handshake_refused").await;
    assert_logged(&server, code, "api_refused").await;
    for line in server.log_lines() {
        assert!(
            !line.contains(SHORT_SECRET),
            "the secret was logged: {line}"
        );
    }
    rt.stop();
}

async fn open_mode_with_a_secret_set_is_refused_with_503_auth_mode_conflict(_: Server) {
    let mut rt = Runtime::start(&[("AUTH_MODE", "open"), ("AUTH_SECRET", SECRET)]);
    let server = rt.server();
    let code = "auth_mode_conflict";
    assert_misconfigured(
        &handshake(&server, "/ws/both?room=lobby", None),
        code,
        "a socket",
    );
    assert_misconfigured(&server.get("/api/rooms/lobby/presence"), code, "a read");
    assert_logged(&server, code, "handshake_refused").await;
    rt.stop();
}

async fn open_mode_when_chosen_lets_anyone_in_as_anyone_but_the_room(_: Server) {
    let mut rt = Runtime::start(&[("AUTH_MODE", "open")]);
    let server = rt.server();
    let (mut c, _) = Client::join_with(&server, "anyone", "room=open-chosen").await;
    let post = post_message(
        &server,
        "open-chosen",
        &json!({"message": "as someone", "clientId": "someone"}),
    );
    assert_eq!(post.status, 201, "{}", post.body);
    c.expect_message("someone", "as someone").await;
    // Anyone but the room itself.
    for id in ["server", "API"] {
        let socket = server.handshake_refusal(&format!("/ws/{id}?room=open-chosen"));
        assert_eq!(socket.status, 400, "{id}: {}", socket.body);
        assert!(socket.body.contains("is reserved"), "{}", socket.body);
        let as_room = json!({"message": "from the room?", "clientId": id});
        let post = post_message(&server, "open-chosen", &as_room);
        assert_eq!(post.status, 400, "{id}: {}", post.body);
        assert!(post.body.contains("is reserved"), "{}", post.body);
    }
    let misconfigured = server
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("auth_misconfigured") || l.contains("\"status\":503"))
        .collect::<Vec<_>>();
    assert!(misconfigured.is_empty(), "{misconfigured:?}");
    rt.stop();
}

suite![
    vars: NOTHING_SET;
    without_a_secret_or_open_mode_every_socket_is_refused_with_503,
    without_a_secret_or_open_mode_every_api_call_is_refused_with_503,
    the_page_is_still_served_so_a_person_sees_the_chat_is_down,
    a_secret_under_32_bytes_is_refused_with_503_auth_secret_too_short,
    open_mode_with_a_secret_set_is_refused_with_503_auth_mode_conflict,
    open_mode_when_chosen_lets_anyone_in_as_anyone_but_the_room,
];
