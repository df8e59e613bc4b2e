//! Hostile and broken input against the real runtime, one behaviour per
//! test. Every test asserts three things: the offender got the documented
//! answer; two well-behaved clients in the same room kept sending and
//! receiving throughout; and the room's history holds exactly the accepted
//! messages, in order.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::bystanders::log_lines_matching;
use common::{Client, Server};
use serde_json::{json, Value};

/// A small cap makes "room full" reachable; a short idle timeout makes the
/// idle test quick; one configured origin shows `ALLOWED_ORIGINS` at work.
/// Two typos, which must fall back to defaults and be logged: a history
/// limit in words (the default is what the other tests expect anyway) and
/// an origin without its scheme.
const VARS: &[(&str, &str)] = &[
    ("MAX_CONNECTIONS_PER_ROOM", "5"),
    ("IDLE_TIMEOUT_SECS", "6"),
    ("ALLOWED_ORIGINS", ALLOWED_ORIGINS),
    ("HISTORY_LIMIT", "a hundred"),
];
const ALLOWED_ORIGINS: &str = "https://partner.example, partner2.example";

/// How long a test listens for a frame that must not come.
const QUIET: Duration = Duration::from_millis(400);

/// The page's policy, word for word as the README documents it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// A room with two well-behaved clients and a record of what it accepted.
struct Room {
    name: String,
    alice: Client,
    bob: Client,
    accepted: Vec<String>,
}

impl Room {
    async fn open(server: &Server, name: &str) -> Room {
        let room_query = format!("room={name}");
        let (mut alice, _) = Client::join_with(server, &format!("{name}-alice"), &room_query).await;
        let (bob, _) = Client::join_with(server, &format!("{name}-bob"), &room_query).await;
        alice.expect_join_of(&bob.id).await;
        let mut room = Room {
            name: name.to_owned(),
            alice,
            bob,
            accepted: Vec::new(),
        };
        room.chat("before").await;
        room
    }

    /// The offender, joined to this room.
    async fn offender(&self, server: &Server) -> Client {
        Client::join_with(
            server,
            &format!("{}-mallory", self.name),
            &format!("room={}", self.name),
        )
        .await
        .0
    }

    /// Alice and Bob each say something and both hear both.
    async fn chat(&mut self, tag: &str) {
        for (speaker, text) in [
            (0, format!("{tag} from alice")),
            (1, format!("{tag} from bob")),
        ] {
            let from = if speaker == 0 {
                self.alice.id.clone()
            } else {
                self.bob.id.clone()
            };
            let sender = if speaker == 0 {
                &mut self.alice
            } else {
                &mut self.bob
            };
            sender.send(&text).await;
            self.alice.expect_message(&from, &text).await;
            self.bob.expect_message(&from, &text).await;
            self.accepted.push(text);
        }
    }

    /// Records a message the offender got accepted (it was also broadcast).
    async fn accepted_from(&mut self, from: &str, text: &str) {
        self.alice.expect_message(from, text).await;
        self.bob.expect_message(from, text).await;
        self.accepted.push(text.to_owned());
    }

    /// The bystanders chat once more, then an auditor joins: the room's
    /// stored messages, oldest first.
    async fn audit(&mut self, server: &Server) -> Vec<Value> {
        self.chat("after").await;
        let (_, frames) = Client::join_with(
            server,
            &format!("{}-auditor", self.name),
            &format!("room={}", self.name),
        )
        .await;
        common::history_messages(common::frame_of(&frames, "history")).to_vec()
    }

    /// The bystanders still chat, and the history is exactly what was
    /// accepted, in order.
    async fn verify(mut self, server: &Server) {
        let messages = self.audit(server).await;
        let texts: Vec<&str> = messages
            .iter()
            .map(|m| m["message"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            texts, self.accepted,
            "history holds exactly the accepted messages"
        );
        let seqs: Vec<u64> = messages
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "no gaps: {seqs:?}"
        );
    }
}

/// Sends `frame`, expects the error `code`, and shows the socket still works.
async fn refused_but_kept(
    room: &mut Room,
    offender: &mut Client,
    frame: &str,
    code: &str,
) -> Value {
    offender.send(frame).await;
    let err = offender.next_matching(code, |f| f["type"] == "error").await;
    assert_eq!(err["code"], code, "{err}");
    assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    let text = format!("{} recovered", offender.id);
    offender.send(&text).await;
    let id = offender.id.clone();
    offender.expect_message(&id, &text).await;
    room.accepted_from(&id, &text).await;
    err
}

async fn over_length_message_is_refused_and_the_socket_kept(server: Server) {
    let mut room = Room::open(&server, "adv-long").await;
    let mut m = room.offender(&server).await;
    let err = refused_but_kept(&mut room, &mut m, &"x".repeat(2_001), "message_too_long").await;
    assert!(err["message"].as_str().unwrap().contains("2001"));
    room.chat("between").await;
    room.verify(&server).await;
}

async fn message_of_exactly_the_limit_is_accepted(server: Server) {
    let mut room = Room::open(&server, "adv-limit").await;
    let mut m = room.offender(&server).await;
    let text = "🦀".repeat(2_000);
    m.send(&text).await;
    let id = m.id.clone();
    room.accepted_from(&id, &text).await;
    room.verify(&server).await;
}

async fn a_frame_far_over_any_size_is_closed_with_1009(server: Server) {
    let mut room = Room::open(&server, "adv-huge").await;
    let mut m = room.offender(&server).await;
    m.send(&"y".repeat(200 * 1024)).await;
    let err = m
        .next_matching("frame_too_large", |f| f["type"] == "error")
        .await;
    assert_eq!(err["code"], "frame_too_large");
    let (code, reason) = m.expect_closed().await;
    assert_eq!((code, reason.as_str()), (1009, "frame too large"));
    room.alice.expect_leave_of(&m.id).await;
    room.verify(&server).await;
}

async fn binary_frame_is_refused_and_the_socket_kept(server: Server) {
    let mut room = Room::open(&server, "adv-bin").await;
    let mut m = room.offender(&server).await;
    m.send_binary(&[0xff, 0x00, 0x13, 0x37]).await;
    m.expect_error("binary_unsupported").await;
    let id = m.id.clone();
    m.send("text after binary").await;
    room.accepted_from(&id, "text after binary").await;
    room.verify(&server).await;
}

async fn malformed_json_is_refused_and_the_socket_kept(server: Server) {
    let mut room = Room::open(&server, "adv-json").await;
    let mut m = room.offender(&server).await;
    refused_but_kept(
        &mut room,
        &mut m,
        r#"{"type":"message","message":"#,
        "malformed_json",
    )
    .await;
    room.verify(&server).await;
}

async fn unknown_type_is_refused_and_named(server: Server) {
    let mut room = Room::open(&server, "adv-type").await;
    let mut m = room.offender(&server).await;
    let err = refused_but_kept(
        &mut room,
        &mut m,
        r#"{"type":"admin","cmd":"kick"}"#,
        "unknown_type",
    )
    .await;
    assert!(err["message"].as_str().unwrap().contains("admin"));
    room.verify(&server).await;
}

async fn wrong_field_types_are_refused(server: Server) {
    let mut room = Room::open(&server, "adv-field").await;
    let mut m = room.offender(&server).await;
    for frame in [
        r#"{"type":"message","message":42}"#,
        r#"{"type":"message"}"#,
        r#"{"type":7}"#,
        r#"{"type":"message","message":"x","clientMsgId":"has space"}"#,
    ] {
        refused_but_kept(&mut room, &mut m, frame, "bad_frame").await;
    }
    room.verify(&server).await;
}

async fn empty_and_whitespace_messages_are_refused(server: Server) {
    let mut room = Room::open(&server, "adv-empty").await;
    let mut m = room.offender(&server).await;
    for frame in ["", "   ", "\n\t", r#"{"type":"message","message":" "}"#] {
        refused_but_kept(&mut room, &mut m, frame, "empty_message").await;
    }
    room.verify(&server).await;
}

async fn deeply_nested_json_is_refused_without_harm(server: Server) {
    let mut room = Room::open(&server, "adv-deep").await;
    let mut m = room.offender(&server).await;
    let deep = format!(
        "{{\"type\":\"message\",\"message\":{}{}}}",
        "[".repeat(5_000),
        "]".repeat(5_000)
    );
    // Well-formed, but `message` is not a string: the wrong shape.
    refused_but_kept(&mut room, &mut m, &deep, "bad_frame").await;
    room.verify(&server).await;
}

async fn lone_surrogates_are_refused_and_odd_unicode_round_trips(server: Server) {
    let mut room = Room::open(&server, "adv-uni").await;
    let mut m = room.offender(&server).await;
    // JSON can spell a lone UTF-16 surrogate, but it is not a character, so
    // `message` is not a string a Rust (or UTF-8) peer can hold.
    refused_but_kept(
        &mut room,
        &mut m,
        r#"{"type":"message","message":"a\ud800b"}"#,
        "bad_frame",
    )
    .await;
    let id = m.id.clone();
    for odd in [
        "e\u{301} combining, 👩‍👩‍👧 family, 🇺🇦 flag",
        "\u{202E}right-to-left override",
        "zero\u{200B}width and \u{FEFF}BOM",
        "nul \u{0} in the middle",
        "𝕌𝕟𝕚𝕔𝕠𝕕𝕖 astral",
    ] {
        m.send(odd).await;
        room.accepted_from(&id, odd).await;
    }
    room.verify(&server).await;
}

async fn html_and_script_payloads_are_stored_and_sent_verbatim(server: Server) {
    let mut room = Room::open(&server, "adv-html").await;
    let mut m = room.offender(&server).await;
    let id = m.id.clone();
    for payload in [
        "<img src=x onerror=alert(1)>",
        "<script>alert(document.cookie)</script>",
        "\"><svg/onload=alert(1)>",
        "{{constructor.constructor('alert(1)')()}}",
    ] {
        let frame = json!({"type": "message", "message": payload}).to_string();
        m.send(&frame).await;
        let got = room.alice.expect_message(&id, payload).await;
        assert_eq!(
            got["message"], payload,
            "no escaping or stripping on the wire"
        );
        room.bob.expect_message(&id, payload).await;
        room.accepted.push(payload.to_owned());
    }
    room.verify(&server).await;
}

async fn rate_limit_answers_with_a_retry_hint(server: Server) {
    let mut room = Room::open(&server, "adv-rate").await;
    let mut m = room.offender(&server).await;
    let id = m.id.clone();
    for i in 0..25 {
        m.send(&format!("burst {i}")).await;
    }
    // The burst of 20 is accepted, in order; the rest is refused.
    for i in 0..20 {
        room.accepted_from(&id, &format!("burst {i}")).await;
    }
    let err = m
        .next_matching("rate_limited", |f| f["type"] == "error")
        .await;
    assert_eq!(err["code"], "rate_limited");
    let retry = err["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!((1..=1_000).contains(&retry), "{retry}");
    room.chat("during the limit").await;
    room.verify(&server).await;
}

/// The default rate limit, which this binary leaves in place.
const RATE_PER_SEC: u64 = 10;
const RATE_BURST: usize = 20;
/// Refusals in a row after which a flooder is cut off (`src/settings/limits.rs`).
const RATE_STRIKES_BEFORE_CLOSE: usize = 50;

async fn a_flood_is_cut_off_with_1008_while_others_chat(server: Server) {
    let mut room = Room::open(&server, "adv-flood").await;
    let mut m = room.offender(&server).await;
    let id = m.id.clone();
    let started = std::time::Instant::now();
    let flood = tokio::spawn(async move {
        for i in 0..400 {
            m.send(&format!("flood {i}")).await;
        }
        m
    });
    room.chat("through the flood").await;
    let mut m = flood.await.expect("flooder");
    // Everyone, the flooder included, receives each accepted message: what
    // the flooder heard of itself before the close is what was accepted.
    // Its own echoes and refusals reach it in the order the room took them.
    let mut echoed = Vec::new();
    let mut refused_in_a_row = 0;
    let (code, reason) = loop {
        match m.next_frame_or_close().await {
            Ok(f) if f["type"] == "message" && f["clientId"] == id.as_str() => {
                echoed.push(f["message"].as_str().unwrap().to_owned());
                refused_in_a_row = 0;
            }
            Ok(f) if f["code"] == "rate_limited" => refused_in_a_row += 1,
            Ok(f) if f["type"] == "error" => assert_eq!(f["code"], "flooding", "{f}"),
            Ok(_) => {}
            Err(close) => break close,
        }
    };
    assert_eq!((code, reason.as_str()), (1008, "sending too fast"));
    assert_eq!(
        refused_in_a_row, RATE_STRIKES_BEFORE_CLOSE,
        "cut off after exactly this many refusals in a row"
    );
    // The bucket starts with the burst and refills at the rate for as long
    // as the flood lasted, which is at most the time until the close came.
    let refill = started.elapsed().as_millis() as u64 * RATE_PER_SEC / 1000;
    let most = RATE_BURST + refill as usize + 1;
    assert!(
        (RATE_BURST..=most).contains(&echoed.len()),
        "the burst of {RATE_BURST} and at most {} refilled in {:?} got through, not {}",
        most - RATE_BURST,
        started.elapsed(),
        echoed.len()
    );
    room.verify_flood(&server, &id, &echoed).await;
}

impl Room {
    /// Like [`Room::verify`], for a room where a flooder's accepted messages
    /// interleave with the chat: the history must equal what every client saw
    /// live, in the order sent.
    async fn verify_flood(mut self, server: &Server, flooder: &str, echoed: &[String]) {
        let messages = self.audit(server).await;
        let flooded: Vec<&str> = messages
            .iter()
            .filter(|m| m["clientId"] == flooder)
            .map(|m| m["message"].as_str().unwrap())
            .collect();
        assert_eq!(flooded, echoed, "history holds exactly what was broadcast");
        let numbers: Vec<usize> = flooded
            .iter()
            .map(|t| t.trim_start_matches("flood ").parse().unwrap())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in sending order");
        let others: Vec<&str> = messages
            .iter()
            .filter(|m| m["clientId"] != flooder)
            .map(|m| m["message"].as_str().unwrap())
            .collect();
        assert_eq!(others, self.accepted, "every bystander message, in order");
    }
}

async fn a_full_room_refuses_the_next_socket_with_1013(server: Server) {
    let mut room = Room::open(&server, "adv-full").await;
    let _c = room.offender(&server).await;
    let (_d, _) = Client::join_with(&server, "adv-full-dave", "room=adv-full").await;
    let (_e, _) = Client::join_with(&server, "adv-full-erin", "room=adv-full").await;
    let mut late = Client::connect(&server, "/ws/adv-full-late?room=adv-full", "late").await;
    let err = late
        .next_matching("room_full", |f| f["type"] == "error")
        .await;
    assert_eq!(err["code"], "room_full");
    let (code, reason) = late.expect_closed().await;
    assert_eq!((code, reason.as_str()), (1013, "room is full"));
    room.alice
        .expect_none(
            Duration::from_millis(300),
            "the refused client's join",
            |f| f["clientId"] == "adv-full-late",
        )
        .await;
    room.chat("while full").await;
    drop(_e);
    room.alice.expect_leave_of("adv-full-erin").await;
    room.verify(&server).await;
}

async fn a_dropped_tcp_connection_mid_broadcast_disturbs_nobody(server: Server) {
    let mut room = Room::open(&server, "adv-drop").await;
    let mut m = room.offender(&server).await;
    let id = m.id.clone();
    for i in 0..5 {
        m.send(&format!("last words {i}")).await;
    }
    // Gone without a close frame while its own messages are in flight.
    drop(m);
    for i in 0..5 {
        room.accepted_from(&id, &format!("last words {i}")).await;
    }
    room.alice.expect_leave_of(&id).await;
    room.bob.expect_leave_of(&id).await;
    room.verify(&server).await;
}

async fn a_silent_socket_is_closed_with_1001_but_a_pinging_one_is_kept(server: Server) {
    let mut room = Room::open(&server, "adv-idle").await;
    let mut silent = room.offender(&server).await;
    let (mut pinger, _) = Client::join_with(&server, "adv-idle-pinger", "room=adv-idle").await;
    let id = silent.id.clone();
    let pingers = &mut [&mut pinger, &mut room.alice, &mut room.bob];
    let closed = silent
        .closed_while_others_ping(pingers, Duration::from_secs(20))
        .await;
    assert_eq!(closed, Some((1001, "idle timeout".to_owned())));
    room.alice.expect_leave_of(&id).await;
    pinger.send("still here").await;
    pinger.expect_message("adv-idle-pinger", "still here").await;
    room.accepted_from("adv-idle-pinger", "still here").await;
    room.verify(&server).await;
}

/// The origin `ALLOWED_ORIGINS` lets in besides the Worker's own and
/// localhost (see `VARS`).
const PARTNER: &str = "https://partner.example";

/// A host name the Worker is reached by, so its own origin is not a
/// loopback one (which is allowed anyway).
const OWN_HOST: &str = "chat.example";

async fn a_cross_site_handshake_is_refused_with_403(server: Server) {
    let room = Room::open(&server, "adv-origin").await;
    let evil = server.request(
        "GET",
        "/ws/adv-origin-mallory?room=adv-origin",
        &[("Upgrade", "websocket"), ("Origin", "https://evil.example")],
    );
    assert_eq!(evil.status, 403, "{}", evil.body);
    assert!(evil.body.contains("cross-site"));
    // Near misses of every allowed kind, as real WebSocket handshakes.
    let own_origin = format!("http://{OWN_HOST}");
    for (i, headers) in [
        vec![("Origin", "https://evil.example"), ("Host", OWN_HOST)],
        // Another host's own origin is not this request's.
        vec![("Origin", own_origin.as_str())],
        vec![("Origin", "https://partner.example.evil.example")],
        vec![("Origin", "http://localhost.evil.example")],
        vec![("Origin", "http://127.0.0.1.evil.example:8787")],
        vec![("Origin", "null")],
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!("/ws/adv-origin-m{i}?room=adv-origin");
        let refused = Client::handshake(&server, &path, "m", &headers).await;
        assert_eq!(refused.err(), Some(403), "{headers:?}");
    }
    room.verify(&server).await;
}

async fn own_local_and_configured_origins_may_open_sockets(server: Server) {
    let mut room = Room::open(&server, "adv-origins").await;
    let own_origin = format!("http://{OWN_HOST}");
    for (i, headers) in [
        vec![("Origin", own_origin.as_str()), ("Host", OWN_HOST)],
        vec![("Origin", "http://localhost:5173")],
        vec![("Origin", "http://127.0.0.1:9")],
        vec![("Origin", "http://[::1]:8787")],
        vec![("Origin", PARTNER)],
        // Not a browser page: no victim's cookies to abuse.
        vec![],
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("adv-origins-{i}");
        let path = format!("/ws/{id}?room=adv-origins");
        let mut c = Client::handshake(&server, &path, &id, &headers)
            .await
            .unwrap_or_else(|status| panic!("{headers:?} was refused with {status}"));
        c.expect_join_of(&id).await;
        room.alice.expect_join_of(&id).await;
        c.close().await;
        room.alice.expect_leave_of(&id).await;
    }
    room.verify(&server).await;
}

async fn a_bad_since_is_refused_with_400(server: Server) {
    let room = Room::open(&server, "adv-since").await;
    for since in ["abc", "-1", "1.5", "", "18446744073709551616"] {
        let resp =
            server.handshake_refusal(&format!("/ws/adv-since-m?room=adv-since&since={since}"));
        assert_eq!(resp.status, 400, "since={since}: {}", resp.body);
        assert!(resp.body.starts_with("Bad since"), "{}", resp.body);
    }
    room.verify(&server).await;
}

async fn a_ping_is_answered_with_pong_by_the_runtime_not_the_room(server: Server) {
    let mut room = Room::open(&server, "adv-ping").await;
    let mut m = room.offender(&server).await;
    let id = m.id.clone();
    // More pings than the burst: had any reached the room, it would have
    // taken a token or been refused as an unknown type.
    for _ in 0..RATE_BURST + 10 {
        m.send(common::PING).await;
        assert_eq!(
            m.next().await,
            json!({"type": "pong"}),
            "exactly {}",
            common::PONG
        );
    }
    for i in 0..RATE_BURST {
        m.send(&format!("after the pings {i}")).await;
    }
    for i in 0..RATE_BURST {
        room.accepted_from(&id, &format!("after the pings {i}"))
            .await;
    }
    m.expect_none(QUIET, "an error", |f| f["type"] == "error")
        .await;
    room.verify(&server).await;
}

async fn hostile_display_names_are_refused_or_kept_as_text(server: Server) {
    let mut room = Room::open(&server, "adv-name").await;
    let bidi = server.handshake_refusal("/ws/adv-name-m?room=adv-name&name=admin%E2%80%AE");
    assert_eq!(bidi.status, 400, "{}", bidi.body);
    let (mut m, _) = Client::join_with(
        &server,
        "adv-name-m2",
        "room=adv-name&name=%3Cscript%3Ex%3C%2Fscript%3E",
    )
    .await;
    let join = room.alice.expect_join_of("adv-name-m2").await;
    assert_eq!(join["name"], "<script>x</script>");
    m.send("named").await;
    room.accepted_from("adv-name-m2", "named").await;
    room.verify(&server).await;
}

async fn the_page_is_served_with_strict_security_headers(server: Server) {
    for path in ["/", "/app.js", "/style.css", "/r/adv-headers"] {
        let resp = server.get(path);
        assert_eq!(resp.status, 200, "{path}");
        assert_eq!(
            resp.header("content-security-policy"),
            Some(CONTENT_SECURITY_POLICY),
            "{path}"
        );
        assert_eq!(
            resp.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            resp.header("referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(resp.header("x-frame-options"), Some("DENY"), "{path}");
    }
    let room = Room::open(&server, "adv-headers").await;
    room.verify(&server).await;
}

/// A typo in `[vars]` must not take the chat down, nor go unnoticed: the
/// room logs each ignored setting as it starts and serves on the defaults.
async fn setting_typos_are_logged_and_the_room_serves_on_defaults(server: Server) {
    let mut room = Room::open(&server, "adv-settings").await;
    let ignored = |v: &Value| v["event"] == "setting_ignored" && v["level"] == "warn";
    let lines = log_lines_matching(&server, "setting_ignored", ignored).await;
    let details: Vec<&str> = lines.iter().filter_map(|v| v["detail"].as_str()).collect();
    for named in [
        "HISTORY_LIMIT = \"a hundred\"",
        "entry \"partner2.example\"",
    ] {
        assert!(
            details.iter().any(|d| d.contains(named)),
            "{named} in {details:?}"
        );
    }
    assert!(
        !details
            .iter()
            .any(|d| d.contains("IDLE_TIMEOUT_SECS") || d.contains("https://partner")),
        "valid settings were reported: {details:?}"
    );
    let mut m = room.offender(&server).await;
    m.send("still here").await;
    room.accepted_from(&m.id.clone(), "still here").await;
    room.verify(&server).await;
}

async fn logs_carry_ids_and_codes_but_never_message_bodies(server: Server) {
    let mut room = Room::open(&server, "adv-logs").await;
    let mut m = room.offender(&server).await;
    let secret = "my password is hunter2";
    m.send(secret).await;
    room.accepted_from(&m.id.clone(), secret).await;
    m.send("").await;
    m.expect_error("empty_message").await;
    // Log lines are printed asynchronously; wait for the refusal's line.
    let id = m.id.clone();
    let is_refusal = |v: &Value| v["event"] == "refused" && v["clientId"] == id.as_str();
    let refused = &log_lines_matching(&server, "refused", is_refusal).await[0];
    assert_eq!(refused["room"], "adv-logs");
    assert_eq!(refused["code"], "empty_message");
    let lines = server.log_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"event\":\"connected\"") && l.contains("adv-logs")),
        "no connected line"
    );
    assert!(
        !lines.iter().any(|l| l.contains("hunter2")),
        "a message body reached the logs"
    );
    room.verify(&server).await;
}

suite![
    vars: VARS;
    over_length_message_is_refused_and_the_socket_kept,
    message_of_exactly_the_limit_is_accepted,
    a_frame_far_over_any_size_is_closed_with_1009,
    binary_frame_is_refused_and_the_socket_kept,
    malformed_json_is_refused_and_the_socket_kept,
    unknown_type_is_refused_and_named,
    wrong_field_types_are_refused,
    empty_and_whitespace_messages_are_refused,
    deeply_nested_json_is_refused_without_harm,
    lone_surrogates_are_refused_and_odd_unicode_round_trips,
    html_and_script_payloads_are_stored_and_sent_verbatim,
    rate_limit_answers_with_a_retry_hint,
    a_flood_is_cut_off_with_1008_while_others_chat,
    a_full_room_refuses_the_next_socket_with_1013,
    a_dropped_tcp_connection_mid_broadcast_disturbs_nobody,
    a_silent_socket_is_closed_with_1001_but_a_pinging_one_is_kept,
    a_cross_site_handshake_is_refused_with_403,
    own_local_and_configured_origins_may_open_sockets,
    a_bad_since_is_refused_with_400,
    a_ping_is_answered_with_pong_by_the_runtime_not_the_room,
    hostile_display_names_are_refused_or_kept_as_text,
    the_page_is_served_with_strict_security_headers,
    logs_carry_ids_and_codes_but_never_message_bodies,
    setting_typos_are_logged_and_the_room_serves_on_defaults,
];
