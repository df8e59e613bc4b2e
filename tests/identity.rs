//! Token mode against the real runtime (`AUTH_SECRET` set): who may
//! connect, as whom and where; each refusal answered by the Worker as JSON
//! before any room is touched, with bystanders who keep chatting and a
//! history untouched; tokens that expire while connected; moderators who
//! delete and kick (never another moderator, and never shortening a longer
//! ban); and a ban that survives a killed runtime.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use edge_chat::access::auth::Role;
use edge_chat::access::base64url;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use common::bystanders::{log_json, log_lines_matching, member_query, Room};
use common::tokens::{self, member, mint_with, moderator, SECRET};
use common::{frame_of, Client, Runtime, Server};

const VARS: &[(&str, &str)] = &[("AUTH_SECRET", SECRET)];

fn room_query(room: &str, token: &str) -> String {
    format!("room={room}&token={token}")
}

/// A handshake as a WebSocket client starts it, read as plain HTTP.
fn handshake(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut all = vec![("Upgrade", "websocket")];
    all.extend_from_slice(headers);
    let resp = server.request("GET", path, &all);
    let body = serde_json::from_str(&resp.body)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", resp.body));
    assert_eq!(
        resp.header("content-type"),
        Some("application/json"),
        "{path}"
    );
    (resp.status, body)
}

/// The handshake of `client_id` is refused with `status` and `code`, its
/// body names neither the token nor any part of it, and exactly one log
/// line names the client, the Worker's refusal with that code and status
/// (the room never saw the request); no line has any part of the token.
async fn assert_refused(
    server: &Server,
    client_id: &str,
    query: &str,
    status: u16,
    code: &str,
    token: &str,
) {
    let (got, body) = handshake(server, &format!("/ws/{client_id}?{query}"), &[]);
    assert_eq!(
        (got, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_no_token_in(&body.to_string(), token);
    let lines = all_lines_about(server, client_id).await;
    assert_eq!(lines.len(), 1, "one line, the Worker's refusal: {lines:?}");
    for line in &lines {
        assert_eq!(line["event"], "handshake_refused", "{line}");
        assert_eq!(
            (&line["code"], &line["status"]),
            (&code.into(), &status.into())
        );
    }
    for line in server.log_lines() {
        assert_no_token_in(&line, token);
    }
}

/// Every JSON log line naming `client_id`, all of them: waiting for the
/// first to arrive would miss one printed a moment later. The runtime
/// prints lines in order, so once the refusal of a handshake sent after
/// the caller's last request is in, so is every line before it.
async fn all_lines_about(server: &Server, client_id: &str) -> Vec<Value> {
    let barrier = format!("{client_id}-barrier");
    let (status, _) = handshake(server, &format!("/ws/{barrier}?room=id-barrier"), &[]);
    assert_eq!(status, 401, "the barrier is refused for want of a token");
    log_lines_matching(server, "the barrier", |v| v["clientId"] == barrier.as_str()).await;
    let lines = server.log_lines();
    let json = lines.iter().filter_map(|l| log_json(l));
    json.filter(|v| v["clientId"] == client_id).collect()
}

/// An accepted token is in no line the runtime printed, once the room has
/// logged `client_id`'s connection, the last line its handshake causes.
async fn assert_token_never_logged(server: &Server, client_id: &str, token: &str) {
    log_lines_matching(server, "the connection", |v| {
        v["event"] == "connected" && v["clientId"] == client_id
    })
    .await;
    for line in server.log_lines() {
        assert_no_token_in(&line, token);
    }
}

/// No part of `token` longer than a few characters appears in `text`.
fn assert_no_token_in(text: &str, token: &str) {
    for part in token.split('.').filter(|p| p.len() > 8) {
        assert!(!text.contains(part), "a token part leaked: {text}");
    }
}

fn resigned_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = base64url::encode(payload.to_string().as_bytes());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

async fn a_token_joins_as_its_sub_with_its_name_not_the_querys(server: Server) {
    let token = edge_chat::access::auth::sign(
        &edge_chat::access::auth::Claims {
            sub: "id-named".into(),
            name: Some("From Token".into()),
            rooms: vec!["id-join".into()],
            role: Role::Member,
            exp: tokens::now_secs() + 600,
            nbf: None,
        },
        &edge_chat::access::auth::Secret::new(SECRET).unwrap(),
    );
    let query = format!("{}&name=Impostor", room_query("id-join", &token));
    let (mut c, frames) = Client::join_with(&server, "id-named", &query).await;
    let presence = frame_of(&frames, "presence");
    assert_eq!(presence["members"][0]["name"], "From Token", "{presence}");
    c.send("hello").await;
    let m = c.expect_message("id-named", "hello").await;
    assert_eq!(m["name"], "From Token");
    assert_token_never_logged(&server, "id-named", &token).await;
}

async fn a_bearer_header_works_like_a_query_token(server: Server) {
    let mut room = Room::open(&server, "id-bearer", member_query).await;
    let mut req = server
        .ws_url("/ws/id-bearer-dave?room=id-bearer")
        .into_client_request()
        .unwrap();
    let token = member("id-bearer-dave", "id-bearer");
    let bearer = format!("Bearer {token}");
    req.headers_mut()
        .insert("Authorization", bearer.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("joined");
    let joined = tokio::time::timeout(common::client::FRAME_TIMEOUT, async {
        while let Some(Ok(Message::Text(text))) = ws.next().await {
            let f: Value = serde_json::from_str(&text).unwrap();
            if f["type"] == "join" {
                return f;
            }
        }
        panic!("socket ended before its join");
    })
    .await
    .expect("a join frame");
    assert_eq!(joined["clientId"], "id-bearer-dave");
    assert_token_never_logged(&server, "id-bearer-dave", &token).await;
    room.alice.expect_join_of("id-bearer-dave").await;
    room.bob.expect_join_of("id-bearer-dave").await;
    drop(ws);
    room.alice.expect_leave_of("id-bearer-dave").await;
    room.bob.expect_leave_of("id-bearer-dave").await;
    room.verify(&server).await;
}

async fn the_bare_ws_path_joins_as_the_tokens_sub(server: Server) {
    let token = member("id-bare", "lobby");
    let mut c = Client::connect(&server, &format!("/ws?token={token}"), "id-bare").await;
    c.expect_join_of("id-bare").await;
    assert_token_never_logged(&server, "id-bare", &token).await;
}

async fn no_token_is_refused_with_401_missing_token(server: Server) {
    let room = Room::open(&server, "id-none", member_query).await;
    assert_refused(
        &server,
        "id-none-m",
        "room=id-none",
        401,
        "missing_token",
        "",
    )
    .await;
    let (status, body) = handshake(
        &server,
        "/ws/id-none-m2?room=id-none&token=",
        &[("Authorization", "Basic abc")],
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("missing_token"))
    );
    room.verify(&server).await;
}

async fn a_tampered_payload_is_refused_with_401_bad_token(server: Server) {
    let room = Room::open(&server, "id-tamper", member_query).await;
    let honest = member("id-tamper-m", "id-tamper");
    let forged = resigned_payload(
        &honest,
        &json!({"sub": "id-tamper-m", "rooms": ["*"], "role": "moderator", "exp": 4102444800u64}),
    );
    let query = room_query("id-tamper", &forged);
    assert_refused(&server, "id-tamper-m", &query, 401, "bad_token", &forged).await;
    room.verify(&server).await;
}

async fn alg_none_is_refused_with_401_bad_token(server: Server) {
    let room = Room::open(&server, "id-none-alg", member_query).await;
    let header = base64url::encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({"sub": "id-alg-m", "rooms": ["*"], "exp": 4102444800u64});
    let payload = base64url::encode(claims.to_string().as_bytes());
    let unsigned = format!("{header}.{payload}.");
    let query = room_query("id-none-alg", &unsigned);
    assert_refused(&server, "id-alg-m", &query, 401, "bad_token", &unsigned).await;
    room.verify(&server).await;
}

async fn a_token_signed_with_another_secret_is_refused_with_401_bad_token(server: Server) {
    let room = Room::open(&server, "id-secret", member_query).await;
    let token = mint_with(
        "not-the-secret",
        "id-secret-m",
        &["*"],
        Role::Moderator,
        600,
    );
    let query = room_query("id-secret", &token);
    assert_refused(&server, "id-secret-m", &query, 401, "bad_token", &token).await;
    room.verify(&server).await;
}

async fn an_expired_token_is_refused_with_401_expired_token(server: Server) {
    let room = Room::open(&server, "id-old", member_query).await;
    let token = mint_with(SECRET, "id-old-m", &["id-old"], Role::Member, -120);
    let query = room_query("id-old", &token);
    assert_refused(&server, "id-old-m", &query, 401, "expired_token", &token).await;
    room.verify(&server).await;
}

async fn a_token_for_another_room_is_refused_with_403_room_forbidden(server: Server) {
    let room = Room::open(&server, "id-private", member_query).await;
    let token = member("id-private-m", "some-other-room");
    let query = room_query("id-private", &token);
    assert_refused(
        &server,
        "id-private-m",
        &query,
        403,
        "room_forbidden",
        &token,
    )
    .await;
    room.verify(&server).await;
}

async fn impersonation_is_refused_with_403_id_mismatch(server: Server) {
    let room = Room::open(&server, "id-imp", member_query).await;
    // Mallory's own valid token, on alice's id.
    let token = member("id-imp-mallory", "id-imp");
    let query = room_query("id-imp", &token);
    let victim = room.alice.id.clone();
    let (status, body) = handshake(&server, &format!("/ws/{victim}?{query}"), &[]);
    assert_eq!((status, body["error"].as_str()), (403, Some("id_mismatch")));
    assert_no_token_in(&body.to_string(), &token);
    room.verify(&server).await;
}

/// No token, path or post speaks as an id the room speaks as (`server`,
/// `api`), in any case, even with a token the operator signed.
async fn no_one_may_connect_or_post_as_the_rooms_own_ids(server: Server) {
    let room = Room::open(&server, "id-reserved", member_query).await;
    for id in ["server", "Server", "api"] {
        let token = mint_with(SECRET, id, &["*"], Role::Service, 600);
        let query = room_query("id-reserved", &token);
        let by_path = server.handshake_refusal(&format!("/ws/{id}?{query}"));
        assert_eq!(by_path.status, 400, "{id}: {}", by_path.body);
        assert!(by_path.body.contains("is reserved"), "{}", by_path.body);
        let (status, body) = handshake(&server, &format!("/ws?{query}"), &[]);
        assert_eq!((status, body["error"].as_str()), (401, Some("bad_token")));
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("reserves"), "{id}: {body}");
    }
    let service = mint_with(SECRET, "id-reserved-svc", &["*"], Role::Service, 600);
    let bearer = format!("Bearer {service}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    for id in ["server", "API"] {
        let body = json!({"message": "from the room?", "clientId": id}).to_string();
        let resp = common::http::request_with_body(
            server.port,
            "POST",
            "/api/rooms/id-reserved/messages",
            &headers,
            body.as_bytes(),
            common::client::FRAME_TIMEOUT,
        )
        .expect("a POST");
        assert_eq!(resp.status, 400, "{id}: {}", resp.body);
        assert!(resp.body.contains("is reserved"), "{}", resp.body);
    }
    room.verify(&server).await;
}

async fn a_socket_is_closed_with_1008_when_its_token_expires(server: Server) {
    let mut room = Room::open(&server, "id-expiry", member_query).await;
    let token = mint_with(SECRET, "id-expiry-e", &["id-expiry"], Role::Member, 3);
    let query = room_query("id-expiry", &token);
    let (mut short, _) = room.join_with_query(&server, "id-expiry-e", &query).await;
    let err = short
        .next_matching("token_expired", |f| f["type"] == "error")
        .await;
    assert_eq!(err["code"], "token_expired");
    assert_eq!(short.expect_closed().await, (1008, "token expired".into()));
    assert_token_never_logged(&server, "id-expiry-e", &token).await;
    room.alice.expect_leave_of("id-expiry-e").await;
    room.bob.expect_leave_of("id-expiry-e").await;
    room.verify(&server).await;
}

async fn a_moderator_deletes_a_members_message(server: Server) {
    let mut room = Room::open(&server, "id-moddel", member_query).await;
    let said = room.say_as_alice("spam").await;
    let token = moderator("id-moddel-mod", "id-moddel");
    let query = room_query("id-moddel", &token);
    let (mut m, _) = room.join_with_query(&server, "id-moddel-mod", &query).await;
    assert_token_never_logged(&server, "id-moddel-mod", &token).await;
    m.send(&json!({"type": "delete", "id": said["id"]}).to_string())
        .await;
    let is_delete = |f: &Value| f["type"] == "delete" && f["id"] == said["id"];
    room.both_next(is_delete, "the moderator's delete").await;
    *room.expected.last_mut().unwrap() = String::new();
    room.verify(&server).await;
}

async fn a_moderator_cannot_edit_anothers_message(server: Server) {
    let mut room = Room::open(&server, "id-modedit", member_query).await;
    let said = room.say_as_alice("mine").await;
    let query = room_query("id-modedit", &moderator("id-modedit-mod", "id-modedit"));
    let (mut m, _) = room
        .join_with_query(&server, "id-modedit-mod", &query)
        .await;
    let edit = json!({"type": "edit", "id": said["id"], "message": "theirs"});
    m.send(&edit.to_string()).await;
    m.expect_error("not_author").await;
    room.verify(&server).await;
}

async fn a_member_or_a_service_cannot_kick(server: Server) {
    let mut room = Room::open(&server, "id-nokick", member_query).await;
    let kick = json!({"type": "kick", "clientId": room.bob.id, "minutes": 5}).to_string();
    room.alice.send(&kick).await;
    room.alice.expect_error("not_moderator").await;
    let service = mint_with(SECRET, "id-nokick-svc", &["*"], Role::Service, 600);
    let query = room_query("id-nokick", &service);
    let (mut svc, _) = room.join_with_query(&server, "id-nokick-svc", &query).await;
    svc.send(&kick).await;
    svc.expect_error("not_moderator").await;
    room.verify(&server).await;
}

/// Kicks `victim` (two tabs open) from `room` as a moderator: both tabs
/// are closed with 1008, the bystanders hear one `leave`.
async fn kick_two_tabs(server: &Server, room: &mut Room, victim: &str) {
    let name = room.name.clone();
    let (mut tab1, _) = room.join(server, victim, "").await;
    let (mut tab2, _) = Client::join_with(server, victim, &member_query(victim, &name)).await;
    let mod_id = format!("{name}-mod");
    let (mut m, _) = room
        .join_with_query(
            server,
            &mod_id,
            &room_query(&name, &moderator(&mod_id, &name)),
        )
        .await;
    let kick = json!({"type": "kick", "clientId": victim, "minutes": 30});
    m.send(&kick.to_string()).await;
    for tab in [&mut tab1, &mut tab2] {
        tab.expect_error("kicked").await;
        assert_eq!(
            tab.expect_closed().await,
            (1008, "removed by a moderator".into())
        );
    }
    m.expect_leave_of(victim).await;
    room.alice.expect_leave_of(victim).await;
    room.bob.expect_leave_of(victim).await;
    m.close().await;
    room.alice.expect_leave_of(&mod_id).await;
    room.bob.expect_leave_of(&mod_id).await;
}

fn assert_banned(server: &Server, victim: &str, room: &str) {
    let query = room_query(room, &member(victim, room));
    let (status, body) = handshake(server, &format!("/ws/{victim}?{query}"), &[]);
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("banned")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("30 minutes"),
        "{body}"
    );
}

async fn a_kick_closes_every_socket_of_the_client_and_refuses_it_with_403_banned(server: Server) {
    let mut room = Room::open(&server, "id-kick", member_query).await;
    kick_two_tabs(&server, &mut room, "id-kick-victim").await;
    assert_banned(&server, "id-kick-victim", "id-kick");
    room.verify(&server).await;
}

/// A moderator joined to `room` as `id`; the bystanders hear of it.
async fn join_moderator(server: &Server, room: &mut Room, id: &str) -> Client {
    let query = room_query(&room.name.clone(), &moderator(id, &room.name));
    room.join_with_query(server, id, &query).await.0
}

/// Sends `kick` from `m` and waits until the room has handled it: a kick
/// of someone not in the room answers nothing, and the room handles one
/// socket's frames in order, so the answer to the next frame comes after.
async fn kick_and_wait(m: &mut Client, victim: &str, minutes: u64) {
    let kick = json!({"type": "kick", "clientId": victim, "minutes": minutes});
    m.send(&kick.to_string()).await;
    m.send(r#"{"type":"after-the-kick"}"#).await;
    m.expect_error("unknown_type").await;
}

async fn leave_all(room: &mut Room, clients: Vec<Client>) {
    for c in clients {
        let id = c.id.clone();
        c.close().await;
        room.alice.expect_leave_of(&id).await;
        room.bob.expect_leave_of(&id).await;
    }
}

async fn a_shorter_kick_leaves_the_longest_ban_standing(server: Server) {
    let mut room = Room::open(&server, "id-longest", member_query).await;
    let victim = "id-longest-victim";
    let (mut tab, _) = room.join(&server, victim, "").await;
    let mut first = join_moderator(&server, &mut room, "id-longest-mo1").await;
    let mut second = join_moderator(&server, &mut room, "id-longest-mo2").await;
    let week = json!({"type": "kick", "clientId": victim, "minutes": 10_080});
    first.send(&week.to_string()).await;
    tab.expect_error("kicked").await;
    assert_eq!(tab.expect_closed().await.0, 1008);
    room.alice.expect_leave_of(victim).await;
    room.bob.expect_leave_of(victim).await;
    kick_and_wait(&mut second, victim, 1).await;
    let query = room_query(&room.name, &member(victim, &room.name));
    let (status, body) = handshake(&server, &format!("/ws/{victim}?{query}"), &[]);
    assert_eq!((status, body["error"].as_str()), (403, Some("banned")));
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("10080 minutes"), "the week stands: {body}");
    leave_all(&mut room, vec![first, second]).await;
    room.verify(&server).await;
}

async fn a_moderator_cannot_kick_a_moderator_online_or_off(server: Server) {
    let mut room = Room::open(&server, "id-modkick", member_query).await;
    let mut mo1 = join_moderator(&server, &mut room, "id-modkick-mo1").await;
    let mut mo2 = join_moderator(&server, &mut room, "id-modkick-mo2").await;
    for target in ["id-modkick-mo2", "id-modkick-mo1"] {
        let kick = json!({"type": "kick", "clientId": target, "minutes": 60});
        mo1.send(&kick.to_string()).await;
        mo1.expect_error("cannot_kick_moderator").await;
    }
    mo2.send("still here").await;
    room.heard("id-modkick-mo2", "still here").await;
    // Kicked while offline, a moderator is still let in as one; the ban
    // binds its client id as a member.
    let offline = "id-modkick-mo3";
    kick_and_wait(&mut mo1, offline, 60).await;
    let as_member = room_query(&room.name, &member(offline, &room.name));
    let (status, body) = handshake(&server, &format!("/ws/{offline}?{as_member}"), &[]);
    assert_eq!((status, body["error"].as_str()), (403, Some("banned")));
    let mo3 = join_moderator(&server, &mut room, offline).await;
    leave_all(&mut room, vec![mo1, mo2, mo3]).await;
    room.verify(&server).await;
}

async fn a_ban_survives_a_killed_runtime(_server: Server) {
    let state = common::runtime::fresh_state_dir();
    let port = common::runtime::free_port();
    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    let server = rt.server();
    let mut room = Room::open(&server, "id-banned", member_query).await;
    kick_two_tabs(&server, &mut room, "id-banned-victim").await;
    // SIGKILL, as a crash: the ban must already be on disk.
    rt.kill();
    drop(room);
    let mut rt = Runtime::start_on(port, state.clone(), VARS);
    assert_banned(&server, "id-banned-victim", "id-banned");
    let room = Room::open(&server, "id-banned", member_query).await;
    drop(room);
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

suite![
    vars: VARS;
    a_token_joins_as_its_sub_with_its_name_not_the_querys,
    a_bearer_header_works_like_a_query_token,
    the_bare_ws_path_joins_as_the_tokens_sub,
    no_token_is_refused_with_401_missing_token,
    a_tampered_payload_is_refused_with_401_bad_token,
    alg_none_is_refused_with_401_bad_token,
    a_token_signed_with_another_secret_is_refused_with_401_bad_token,
    an_expired_token_is_refused_with_401_expired_token,
    a_token_for_another_room_is_refused_with_403_room_forbidden,
    impersonation_is_refused_with_403_id_mismatch,
    no_one_may_connect_or_post_as_the_rooms_own_ids,
    a_socket_is_closed_with_1008_when_its_token_expires,
    a_moderator_deletes_a_members_message,
    a_moderator_cannot_edit_anothers_message,
    a_member_or_a_service_cannot_kick,
    a_kick_closes_every_socket_of_the_client_and_refuses_it_with_403_banned,
    a_shorter_kick_leaves_the_longest_ban_standing,
    a_moderator_cannot_kick_a_moderator_online_or_off,
    a_ban_survives_a_killed_runtime,
];
