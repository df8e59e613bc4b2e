//! History people keep, against the real runtime: scrollback over
//! thousands of messages with edits and deletes among them, every message
//! once and as it is now, over the socket and the API; search (current
//! text only, never a deleted message, paged); a reconnect that missed
//! more than the window; refusals that leave the socket open; retention
//! by count while clients read and write, and by age with the clock moved
//! forward (the stored times moved back while the runtime is down); and
//! an export of a big room, in order, with the runtime's memory flat.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use edge_chat::access::auth::Role;
use serde_json::{json, Value};

use common::http::dechunk;
use common::schema::OpenApi;
use common::tokens::{member, mint_with, moderator, SECRET};
use common::{unpacked, Client, Runtime, Server};

/// A window of 50 makes "more than the window" quick to reach; the rates
/// let one socket write thousands of messages, and the plain reading rate
/// presumes the writers read what they are sent (they do).
const VARS: &[(&str, &str)] = &[
    ("HISTORY_LIMIT", "50"),
    ("RATE_PER_SEC", "100000"),
    ("RATE_BURST", "10000"),
    ("FLOW_PLAIN_READ_KB_PER_SEC", "102400"),
];

fn spec() -> &'static OpenApi {
    static SPEC: std::sync::OnceLock<OpenApi> = std::sync::OnceLock::new();
    SPEC.get_or_init(OpenApi::load)
}

/// What a message should look like now: its text, or deleted.
type Expected = BTreeMap<u64, Option<String>>;

/// Writes `n` messages to `room` from one socket, waiting for every ack,
/// and after each hundred edits three and deletes two of that hundred, as
/// people do mid-conversation. Returns what each message is now.
async fn write_room(server: &Server, room: &str, n: usize, edits: bool) -> Expected {
    let (mut w, _) = Client::join_with(server, "writer", &format!("room={room}&batch=1")).await;
    let mut expected = Expected::new();
    let mut ids = BTreeMap::new();
    for chunk in 0..n.div_ceil(100) {
        let start = chunk * 100;
        let end = n.min(start + 100);
        for i in start..end {
            w.say(&format!("note {i} word{i}"), &format!("c{i}")).await;
        }
        let mut acked = 0;
        while acked < end - start {
            for f in unpacked(w.next().await) {
                if f["type"] == "ack" {
                    let seq = f["seq"].as_u64().unwrap();
                    let i: usize = f["clientMsgId"].as_str().unwrap()[1..].parse().unwrap();
                    expected.insert(seq, Some(format!("note {i} word{i}")));
                    ids.insert(seq, f["id"].as_str().unwrap().to_owned());
                    acked += 1;
                }
            }
        }
        if !edits {
            continue;
        }
        let seqs: Vec<u64> = expected.keys().rev().take(end - start).copied().collect();
        for (k, seq) in seqs.iter().take(5).enumerate() {
            let id = &ids[seq];
            let frame = if k < 3 {
                let text = format!("edited {seq}");
                expected.insert(*seq, Some(text.clone()));
                json!({"type": "edit", "id": id, "message": text})
            } else {
                expected.insert(*seq, None);
                json!({"type": "delete", "id": id})
            };
            w.send(&frame.to_string()).await;
            let kind = if k < 3 { "edit" } else { "delete" };
            w.next_matching(kind, |f| {
                unpacked(f.clone()).iter().any(|g| g["type"] == kind)
            })
            .await;
        }
    }
    w.close().await;
    expected
}

/// What a page's messages say: seq to text, or `None` if deleted.
fn as_now(messages: &[Value]) -> Vec<(u64, Option<String>)> {
    messages
        .iter()
        .map(|m| {
            let seq = m["seq"].as_u64().unwrap();
            match m["deleted"] == true {
                true => {
                    assert_eq!(m["message"], "", "a tombstone keeps no text: {m}");
                    (seq, None)
                }
                false => (seq, Some(m["message"].as_str().unwrap().to_owned())),
            }
        })
        .collect()
}

/// Sends `frame` and returns the answer of type `kind`.
async fn ask(client: &mut Client, frame: Value, kind: &str) -> Value {
    client.send(&frame.to_string()).await;
    let answer = client
        .next_matching(kind, |f| {
            unpacked(f.clone()).iter().any(|g| g["type"] == kind)
        })
        .await;
    unpacked(answer)
        .into_iter()
        .find(|g| g["type"] == kind)
        .unwrap()
}

fn get(server: &Server, path: &str, token: Option<&str>) -> common::http::HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    server.request("GET", path, &headers)
}

async fn scrollback_over_thousands_with_edits_and_deletes_gives_each_once_as_now(server: Server) {
    let expected = write_room(&server, "scroll", 3_000, true).await;
    let want: Vec<(u64, Option<String>)> = expected.into_iter().collect();
    // Over the socket, a page of 100 at a time from the newest back.
    let (mut reader, _) = Client::join_with(&server, "reader", "room=scroll&batch=1").await;
    let (mut pages, mut before) = (Vec::new(), None::<u64>);
    loop {
        let mut frame = json!({"type": "older", "limit": 100});
        if let Some(b) = before {
            frame["before"] = b.into();
        }
        let page = ask(&mut reader, frame, "older").await;
        let messages = page["messages"].as_array().unwrap().clone();
        assert!(messages.len() <= 100);
        before = messages.first().map(|m| m["seq"].as_u64().unwrap());
        pages.splice(0..0, as_now(&messages));
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(pages, want, "every message once, in order, as it is now");
    // Over the API, pages of 1,000, each checked against the document.
    let (mut api, mut before) = (Vec::new(), String::new());
    loop {
        let path = format!("/api/rooms/scroll/messages?limit=1000{before}");
        let resp = get(&server, &path, None);
        spec().check("/api/rooms/{room}/messages", "GET", &resp);
        let page: Value = serde_json::from_str(&resp.body).unwrap();
        let messages = page["messages"].as_array().unwrap();
        api.splice(0..0, as_now(messages));
        before = format!("&before={}", messages[0]["seq"]);
        if page["more"] == false {
            break;
        }
    }
    assert_eq!(api, want);
}

async fn search_finds_current_text_newest_first_and_never_a_deleted_message(server: Server) {
    let (mut c, _) = Client::join_with(&server, "searcher", "room=find&batch=1").await;
    let texts = [
        "Deploy to staging",
        "lunch?",
        "deploy rollback plan",
        "the deploy is done",
        "Café at noon",
    ];
    let mut ids = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        c.say(text, &format!("s{i}")).await;
        let ack = c
            .next_matching("ack", |f| {
                unpacked(f.clone()).iter().any(|g| g["type"] == "ack")
            })
            .await;
        let ack = unpacked(ack)
            .into_iter()
            .find(|g| g["type"] == "ack")
            .unwrap();
        ids.push(ack["id"].as_str().unwrap().to_owned());
    }
    // Delete "deploy rollback plan"; edit "lunch?" into a deploy message.
    ask(&mut c, json!({"type": "delete", "id": ids[2]}), "delete").await;
    let edit = json!({"type": "edit", "id": ids[1], "message": "deploy at noon"});
    ask(&mut c, edit, "edit").await;
    let hits = |page: &Value| -> Vec<String> {
        page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = ask(&mut c, json!({"type": "search", "q": "DEPLOY"}), "search").await;
    assert_eq!(
        hits(&page),
        ["the deploy is done", "deploy at noon", "Deploy to staging"],
        "newest first, the edit's new text, never the deleted one"
    );
    assert_eq!(
        (page["more"].clone(), page["q"].clone()),
        (json!(false), json!("DEPLOY"))
    );
    let old_text = ask(&mut c, json!({"type": "search", "q": "lunch?"}), "search").await;
    assert!(
        hits(&old_text).is_empty(),
        "an edit's old text no longer matches"
    );
    let new_text = ask(
        &mut c,
        json!({"type": "search", "q": "noon deploy"}),
        "search",
    )
    .await;
    assert_eq!(hits(&new_text), ["deploy at noon"]);
    let rollback = ask(&mut c, json!({"type": "search", "q": "rollback"}), "search").await;
    assert!(
        hits(&rollback).is_empty(),
        "a deleted message never matches"
    );
    let accents = ask(&mut c, json!({"type": "search", "q": "cafe"}), "search").await;
    assert_eq!(hits(&accents), ["Café at noon"]);
    // Paged: one hit at a time, on from the last hit's seq.
    let first = ask(
        &mut c,
        json!({"type": "search", "q": "deploy", "limit": 1}),
        "search",
    )
    .await;
    assert_eq!(first["more"], true);
    let last_seq = first["messages"][0]["seq"].clone();
    let next = json!({"type": "search", "q": "deploy", "limit": 2, "before": last_seq});
    let next = ask(&mut c, next, "search").await;
    assert_eq!(hits(&next), ["deploy at noon", "Deploy to staging"]);
    // The API answers the same, as the document says.
    let resp = get(&server, "/api/rooms/find/search?q=deploy", None);
    spec().check("/api/rooms/{room}/search", "GET", &resp);
    let api: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(hits(&api), hits(&page));
}

async fn a_socket_that_missed_more_than_the_window_starts_over_and_scrolls_back(server: Server) {
    let (mut w, _) = Client::join_with(&server, "w", "room=gap&batch=1").await;
    for i in 0..10 {
        w.say(&format!("early {i}"), &format!("e{i}")).await;
    }
    let seen = w
        .next_matching("ack 10", |f| {
            unpacked(f.clone()).iter().any(|g| g["clientMsgId"] == "e9")
        })
        .await;
    let since = unpacked(seen)
        .iter()
        .find(|g| g["clientMsgId"] == "e9")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    // 30 missed fit the window of 50: exact.
    for i in 0..30 {
        w.say(&format!("mid {i}"), &format!("m{i}")).await;
    }
    w.next_matching("ack m29", |f| {
        unpacked(f.clone())
            .iter()
            .any(|g| g["clientMsgId"] == "m29")
    })
    .await;
    let (_c, frames) = Client::join_with(&server, "back", &format!("room=gap&since={since}")).await;
    let history = common::frame_of(&frames, "history");
    assert_eq!(history["truncated"], false);
    assert_eq!(common::history_messages(history).len(), 30);
    // 80 missed do not: the newest 50, truncated, and the rest is scrollback.
    for i in 0..50 {
        w.say(&format!("late {i}"), &format!("l{i}")).await;
    }
    w.next_matching("ack l49", |f| {
        unpacked(f.clone())
            .iter()
            .any(|g| g["clientMsgId"] == "l49")
    })
    .await;
    let (mut c, frames) =
        Client::join_with(&server, "away", &format!("room=gap&since={since}")).await;
    let history = common::frame_of(&frames, "history");
    assert_eq!(history["truncated"], true);
    let window = common::history_messages(history);
    assert_eq!(window.len(), 50);
    let oldest = window[0]["seq"].as_u64().unwrap();
    let page = ask(
        &mut c,
        json!({"type": "older", "before": oldest, "limit": 100}),
        "older",
    )
    .await;
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..oldest).collect::<Vec<_>>(),
        "the 30 missed and all before them"
    );
    assert_eq!(page["more"], false);
}

async fn a_since_from_another_epoch_starts_over_with_reset(server: Server) {
    let (mut w, frames) = Client::join_with(&server, "w", "room=epochs&batch=1").await;
    let epoch = common::frame_of(&frames, "history")["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        epoch.len() == 16 && epoch.bytes().all(|b| b.is_ascii_hexdigit()),
        "{epoch}"
    );
    for i in 0..5 {
        w.say(&format!("e {i}"), &format!("e{i}")).await;
    }
    w.next_matching("ack e4", |f| {
        unpacked(f.clone()).iter().any(|g| g["clientMsgId"] == "e4")
    })
    .await;
    let same = format!("room=epochs&since=3&epoch={epoch}");
    let (_a, frames) = Client::join_with(&server, "a", &same).await;
    let history = common::frame_of(&frames, "history");
    assert_eq!(
        (history["reset"].clone(), history["epoch"].as_str()),
        (Value::Null, Some(epoch.as_str()))
    );
    assert_eq!(common::history_messages(history).len(), 2);
    let (_b, frames) =
        Client::join_with(&server, "b", "room=epochs&since=3&epoch=0123456789abcdef").await;
    let history = common::frame_of(&frames, "history");
    assert_eq!(
        (history["reset"].clone(), history["truncated"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(
        common::history_messages(history).len(),
        5,
        "the whole window, not a wrong gap"
    );
    let api = get(
        &server,
        "/api/rooms/epochs/messages?since=3&epoch=0123",
        None,
    );
    spec().check("/api/rooms/{room}/messages", "GET", &api);
    let api: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(
        (api["reset"].clone(), api["epoch"].as_str()),
        (json!(true), Some(epoch.as_str()))
    );
}

async fn bad_pages_and_queries_are_refused_and_the_socket_stays_open(server: Server) {
    let (mut c, _) = Client::join_with(&server, "odd", "room=odd").await;
    for (frame, code) in [
        (json!({"type": "older", "limit": 0}), "bad_frame"),
        (json!({"type": "older", "limit": 101}), "bad_frame"),
        (json!({"type": "older", "before": "x"}), "bad_frame"),
        (json!({"type": "search"}), "bad_frame"),
        (json!({"type": "search", "q": " ?! "}), "bad_query"),
        (json!({"type": "search", "q": "a".repeat(201)}), "bad_query"),
        (
            json!({"type": "search", "q": "a b c d e f g h i"}),
            "bad_query",
        ),
    ] {
        c.send(&frame.to_string()).await;
        c.expect_error(code).await;
    }
    c.say("still here", "k1").await;
    c.expect_message("odd", "still here").await;
    for (path, status, code) in [
        ("/api/rooms/odd/search", 400, "bad_request"),
        ("/api/rooms/odd/search?q=%3F%3F", 400, "bad_query"),
        ("/api/rooms/odd/search?q=x&limit=101", 400, "bad_request"),
        (
            "/api/rooms/odd/messages?since=1&before=5",
            400,
            "bad_request",
        ),
        // Open mode has no moderators, so no one exports.
        ("/api/rooms/odd/export", 403, "export_forbidden"),
    ] {
        let resp = get(&server, path, None);
        let template = path.split('?').next().unwrap().replace("/odd/", "/{room}/");
        spec().check(&template, "GET", &resp);
        let body: Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(
            (resp.status, body["error"].as_str().unwrap()),
            (status, code),
            "{path}"
        );
    }
}

/// The kept messages of `room`, oldest first, through the API.
fn kept(server: &Server, room: &str) -> Vec<u64> {
    let resp = get(
        server,
        &format!("/api/rooms/{room}/messages?limit=1000"),
        None,
    );
    let page: Value = serde_json::from_str(&resp.body).unwrap();
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect()
}

/// Polls until `room` keeps exactly `want`, or panics with what it keeps.
async fn await_kept(server: &Server, room: &str, want: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = kept(server, room);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{room} keeps {:?}…{:?} ({}), not {} messages",
            now.first(),
            now.last(),
            now.len(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn retention_by_count_prunes_the_oldest_while_clients_read_and_write(_: Server) {
    // Writes past the count call the alarm, which prunes.
    let mut vars = VARS.to_vec();
    vars.push(("HISTORY_RETAIN_MESSAGES", "100"));
    let mut rt = tokio::task::block_in_place(|| Runtime::start(&vars));
    let server = rt.server();
    let (reader, _) = Client::join_with(&server, "reader", "room=count&batch=1").await;
    let reading = common::readers::plain_reader(reader, 400);
    let (mut w, _) = Client::join_with(&server, "w", "room=count&batch=1").await;
    for round in 0..4 {
        for i in 0..100 {
            w.say(&format!("r{round} m{i}"), &format!("r{round}m{i}"))
                .await;
        }
        let last = format!("r{round}m99");
        w.next_matching("the round's last ack", |f| {
            unpacked(f.clone())
                .iter()
                .any(|g| g["clientMsgId"] == last.as_str())
        })
        .await;
        // Pruning runs between rounds as the alarm comes, never more than
        // the count lets go.
        assert!(kept(&server, "count").len() >= 100);
    }
    await_kept(&server, "count", &(301..=400).collect::<Vec<_>>()).await;
    let read = reading.await.unwrap();
    assert_eq!(
        read.seqs,
        (1..=400).collect::<Vec<_>>(),
        "the reader missed nothing live"
    );
    // A client that saw seq 10 comes back: pruned away, so it starts over.
    let (_c, frames) = Client::join_with(&server, "late", "room=count&since=10").await;
    assert_eq!(common::frame_of(&frames, "history")["truncated"], true);
    assert!(rt.log_text().contains("history_pruned"));
    rt.stop();
}

/// Moves every stored message of every room `days` back in time, in the
/// runtime's SQLite files, while the runtime is down: to the room, that is
/// its clock moved forward. (Python's sqlite3, as the machine has it; the
/// FTS index is not touched, as an update of `ts` fires no trigger.)
fn age_messages(state_dir: &Path, days: u64) {
    let shift = days * 86_400_000;
    let script = format!(
        "import glob, sqlite3, sys\n\
         n = 0\n\
         for path in glob.glob(sys.argv[1] + '/**/*.sqlite', recursive=True):\n\
         \x20   db = sqlite3.connect(path)\n\
         \x20   if db.execute(\"SELECT 1 FROM sqlite_master WHERE name = 'messages'\").fetchone():\n\
         \x20       n += db.execute('UPDATE messages SET ts = ts - {shift}').rowcount\n\
         \x20   db.commit(); db.close()\n\
         print(n)\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .arg(state_dir)
        .output()
        .expect("python3 runs");
    let moved = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        moved.trim().parse::<u64>().unwrap_or(0) > 0,
        "no messages moved: {moved}"
    );
}

async fn retention_by_age_lets_go_of_what_the_clock_made_old(_: Server) {
    let (port, state) = (
        common::runtime::free_port(),
        common::runtime::fresh_state_dir(),
    );
    let mut vars = VARS.to_vec();
    vars.push(("HISTORY_RETAIN_DAYS", "2"));
    let mut rt = tokio::task::block_in_place(|| Runtime::start_on(port, state.clone(), &vars));
    let server = rt.server();
    let (mut w, _) = Client::join_with(&server, "w", "room=aged&batch=1").await;
    for i in 0..30 {
        w.say(&format!("old {i}"), &format!("o{i}")).await;
    }
    w.next_matching("ack o29", |f| {
        unpacked(f.clone())
            .iter()
            .any(|g| g["clientMsgId"] == "o29")
    })
    .await;
    w.close().await;
    await_kept(&server, "aged", &(1..=30).collect::<Vec<_>>()).await;
    tokio::task::block_in_place(|| rt.stop());
    age_messages(&state, 3);
    let mut rt = tokio::task::block_in_place(|| Runtime::start_on(port, state.clone(), &vars));
    let server = rt.server();
    // A newcomer wakes the room; it sees the old messages are due, and the
    // alarm lets them go while the newcomer writes.
    let (mut w, _) = Client::join_with(&server, "w2", "room=aged&batch=1").await;
    for i in 0..5 {
        w.say(&format!("new {i}"), &format!("n{i}")).await;
    }
    w.next_matching("ack n4", |f| {
        unpacked(f.clone()).iter().any(|g| g["clientMsgId"] == "n4")
    })
    .await;
    await_kept(&server, "aged", &(31..=35).collect::<Vec<_>>()).await;
    let search = get(&server, "/api/rooms/aged/search?q=old", None);
    assert_eq!(
        serde_json::from_str::<Value>(&search.body).unwrap()["messages"],
        json!([]),
        "pruned rows leave the index"
    );
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

/// GETs `path` and reads the whole streamed answer, sampling the runtime's
/// memory meanwhile. Returns the status, the body and the highest memory.
fn streamed_get(server: &Server, path: &str, token: &str) -> (u16, String, u64) {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (mut raw, mut buf, mut peak) = (Vec::new(), vec![0; 1 << 16], 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !raw.ends_with(b"\r\n0\r\n\r\n") && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        peak = peak.max(server.rss_bytes());
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = dechunk(&raw[split + 4..]).expect("a complete chunked body");
    (status, String::from_utf8(body).unwrap(), peak)
}

async fn an_export_streams_a_big_room_in_order_with_memory_flat(_: Server) {
    let mut vars = VARS.to_vec();
    vars.push(("AUTH_SECRET", SECRET));
    let mut rt = tokio::task::block_in_place(|| Runtime::start(&vars));
    let server = rt.server();
    let writer = mint_with(SECRET, "writer", &["big"], Role::Member, 3600);
    let path = format!("/ws/writer?room=big&batch=1&token={writer}");
    let mut w = Client::connect(&server, &path, "writer").await;
    // 30,000 messages of 1,000 characters: a 31 MB export.
    let filler = "x".repeat(990);
    for i in 0..30_000 {
        w.say(&format!("{i:08} {filler}"), &format!("b{i}")).await;
        if i % 1_000 == 999 {
            let last = format!("b{i}");
            w.next_matching("acks", |f| {
                unpacked(f.clone())
                    .iter()
                    .any(|g| g["clientMsgId"] == last.as_str())
            })
            .await;
        }
    }
    w.close().await;
    let refused = get(
        &server,
        "/api/rooms/big/export",
        Some(&member("bob", "big")),
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    spec().check("/api/rooms/{room}/export", "GET", &refused);
    let before = server.rss_bytes();
    let token = moderator("mod", "big");
    let (status, body, peak) =
        tokio::task::block_in_place(|| streamed_get(&server, "/api/rooms/big/export", &token));
    assert_eq!(status, 200);
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = lines.iter().map(|m| m["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=30_000).collect::<Vec<_>>(),
        "every message once, in order"
    );
    assert!(lines[29_999]["message"]
        .as_str()
        .unwrap()
        .starts_with("00029999 "));
    let grown = peak.saturating_sub(before);
    println!(
        "export: {} bytes; runtime memory {before} before, {peak} at most (+{grown})",
        body.len()
    );
    assert!(
        grown < body.len() as u64 / 2,
        "memory grew {grown} bytes exporting {} bytes: not streamed",
        body.len()
    );
    rt.stop();
}

suite![
    vars: VARS;
    timeout_secs: 300;
    scrollback_over_thousands_with_edits_and_deletes_gives_each_once_as_now,
    search_finds_current_text_newest_first_and_never_a_deleted_message,
    a_socket_that_missed_more_than_the_window_starts_over_and_scrolls_back,
    bad_pages_and_queries_are_refused_and_the_socket_stays_open,
    a_since_from_another_epoch_starts_over_with_reset,
    retention_by_count_prunes_the_oldest_while_clients_read_and_write,
    retention_by_age_lets_go_of_what_the_clock_made_old,
    an_export_streams_a_big_room_in_order_with_memory_flat,
];
