//! Flow control against the real runtime (src/send/flow.rs): a socket that
//! does not read is closed with 1013 before it can sink the room, whatever
//! it claims, and nobody else notices. Budgets are small here (512 KiB a
//! socket, 2 MiB the room) so a few megabytes of traffic prove it, and plain
//! sockets are presumed to read 256 KiB a second: more than the paced
//! traffic below, far less than a flood.
//!
//! A socket that "does not read" completes the handshake and is then never
//! polled: what the room sends it piles up in the kernel and in workerd,
//! exactly as for a stalled client on the internet.

#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use common::readers::*;
use common::{Client, Runtime, Server};

const VARS: &[(&str, &str)] = &[
    ("RATE_PER_SEC", "100000"),
    ("RATE_BURST", "10000"),
    ("FLOW_SOCKET_BUDGET_KB", "512"),
    ("FLOW_ROOM_BUDGET_KB", "2048"),
    ("FLOW_PLAIN_READ_KB_PER_SEC", "256"),
];

const N: usize = 1500;

/// Between a flooder's messages: a busy room, not one burst the room takes
/// in whole before its first flush (no client's rate limit allows that).
const GAP: Duration = Duration::from_millis(1);

/// Between paced messages: 1.9 KB every 10 ms is 190 KB a second, under
/// the 256 KiB a second a plain socket is presumed to read here.
const PACED: Duration = Duration::from_millis(10);

/// Messages after the flood: with a plain listener's copy, more than its
/// socket's budget.
const N2: usize = 600;

/// (1) and (5): a plain socket that never reads is closed in a flood, it
/// alone, with its bytes freed; the readers lose nothing and wait no longer
/// for a message than in a quiet room; afterwards a newcomer gets in and a
/// plain listener gets more than a socket's budget and is not closed.
async fn a_silent_plain_socket_is_closed_and_bystanders_lose_nothing(server: Server) {
    let silent = Client::connect(&server, "/ws/fc-s-silent?room=fc-s", "fc-s-silent").await;
    let page = join(&server, "fc-s-page", &format!("room=fc-s&{PROVING}")).await;
    let quiet_rtt = round_trip(&server, "fc-s-probe1").await;
    let flood = join(&server, "fc-s-flood", &format!("room=fc-s&{PROVING}")).await;
    let page = page_reader(page, N + 2 + N2, Duration::ZERO);
    let flooded = sender(flood, N, GAP).await.expect("flood");
    let line = wait_for_close_log(&server, "fc-s-silent").await;
    assert!(
        line.contains("1013") && line.contains("socket_budget"),
        "{line}"
    );
    let silent = silent.into_socket();
    assert_eq!(
        close_of_stalled(silent).await,
        (1013, "too slow, reconnect".into())
    );
    let busy_rtt = round_trip(&server, "fc-s-probe2").await;
    assert!(
        busy_rtt < quiet_rtt + Duration::from_millis(500),
        "a probe took {busy_rtt:?}, {quiet_rtt:?} in a quiet room"
    );

    let listener = join(&server, "fc-s-listener", "room=fc-s").await;
    let listener = plain_reader(listener, N2);
    let flood = join(&server, "fc-s-flood2", &format!("room=fc-s&{PROVING}")).await;
    let again = sender(flood, N2, PACED).await.expect("flood");
    let page = page.await.expect("page reader");
    assert_all(&flooded, "the flooder", 2, N);
    assert_all(&again, "the second flooder", N as u64 + 3, N2);
    assert_all(
        &listener.await.expect("listener"),
        "the listener",
        N as u64 + 3,
        N2,
    );
    assert_eq!(page.closed, None, "the page was closed");
    assert_eq!(page.seqs.len(), N + 2 + N2, "the page lost messages");
    for id in ["fc-s-page", "fc-s-flood", "fc-s-flood2", "fc-s-listener"] {
        assert_eq!(closes_of(&server, id), Vec::<String>::new(), "{id}");
    }
}

/// A new client's message, from sending it to reading it back.
async fn round_trip(server: &Server, id: &str) -> Duration {
    let mut probe = join(server, id, "room=fc-s").await;
    let started = Instant::now();
    probe.say("probe", id).await;
    let me = probe.id.clone();
    let own = move |f: &Value| f["type"] == "message" && f["clientId"] == me.as_str();
    probe.next_matching("the probe's echo", own).await;
    let took = started.elapsed();
    probe.close().await;
    took
}

/// Floods room `room` with 400 messages (760 KB: over a socket's 512 KiB,
/// under the room's 2 MiB) while a page reads them, and asserts that
/// `stalled` is closed at its own budget and that nobody else lost a thing.
async fn flood_until_closed<S, E>(server: &Server, room: &str, id: &str, stalled: S)
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    let page = join(
        server,
        &format!("{room}-page"),
        &format!("room={room}&{PROVING}"),
    )
    .await;
    let page = page_reader(page, 400, Duration::ZERO);
    let flood = join(
        server,
        &format!("{room}-flood"),
        &format!("room={room}&{PROVING}"),
    )
    .await;
    let flooded = sender(flood, 400, GAP).await.expect("flood");
    let line = wait_for_close_log(server, id).await;
    assert!(
        line.contains("1013") && line.contains("socket_budget"),
        "{line}"
    );
    assert_eq!(
        close_of_stalled(stalled).await,
        (1013, "too slow, reconnect".into())
    );
    assert_all(&flooded, "the flooder", 1, 400);
    assert_all(&page.await.expect("page"), "the page", 1, 400);
}

/// A socket that asked to prove its reading and then reads nothing is held
/// to its own budget: it is closed long before the room's comes into it.
async fn a_proving_socket_that_stops_reading_is_closed_at_its_budget(server: Server) {
    let stalled = join(&server, "fc-b-stalled", &format!("room=fc-b&{PROVING}")).await;
    flood_until_closed(&server, "fc-b", "fc-b-stalled", stalled.into_socket()).await;
}

/// Receipts that claim everything prove nothing: a socket that reads
/// nothing but keeps sending the receipts of old pages (`frames` past
/// anything sent) and made-up marks is closed exactly like one that says
/// nothing.
async fn lying_receipts_confirm_nothing(server: Server) {
    let liar = join(&server, "fc-l-liar", &format!("room=fc-l&{PROVING}")).await;
    let (mut sink, stream) = liar.into_socket().split();
    let lies = tokio::spawn(async move {
        for i in 0u64.. {
            let lie = match i % 3 {
                0 => r#"{"type":"seen","frames":18446744073709551615}"#.to_owned(),
                1 => format!(
                    r#"{{"type":"seen","mark":"{:016x}"}}"#,
                    i.wrapping_mul(0x9e37_79b9)
                ),
                _ => r#"{"type":"ping"}"#.to_owned(),
            };
            if sink.send(Message::text(lie)).await.is_err() {
                return sink;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sink
    });
    flood_until_closed(&server, "fc-l", "fc-l-liar", stream).await;
    lies.abort();
}

/// Nothing but a receipt counts as reading: a plain socket that chats and
/// pings while it reads nothing is closed in a flood like a silent one.
async fn a_chattering_plain_socket_that_does_not_read_is_closed(server: Server) {
    let chatter = join(&server, "fc-c-chatter", "room=fc-c").await;
    let (mut sink, stream) = chatter.into_socket().split();
    let chat = tokio::spawn(async move {
        for i in 0u64.. {
            let said = if i % 2 == 0 {
                "still here".to_owned()
            } else {
                r#"{"type":"ping"}"#.to_owned()
            };
            if sink.send(Message::text(said)).await.is_err() {
                return sink;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sink
    });
    let page = join(&server, "fc-c-page", &format!("room=fc-c&{PROVING}")).await;
    let page = page_reader(page, 400, Duration::ZERO);
    let flood = join(&server, "fc-c-flood", &format!("room=fc-c&{PROVING}")).await;
    sender(flood, 400, GAP).await.expect("flood");
    let line = wait_for_close_log(&server, "fc-c-chatter").await;
    assert!(
        line.contains("1013") && line.contains("socket_budget"),
        "{line}"
    );
    assert_eq!(
        close_of_stalled(stream).await,
        (1013, "too slow, reconnect".into())
    );
    chat.abort();
    let page = page.await.expect("page");
    assert_eq!(
        (page.closed, page.seqs.len() >= 400),
        (None, true),
        "the page"
    );
}

/// (2) A page that reads slowly (a pause after every receipt) but keeps up
/// is never closed, though it reads many times its budget.
async fn a_page_that_reads_slowly_is_never_closed(server: Server) {
    const M: usize = 2000; // 3.8 MB: seven times the socket budget
    let page = join(&server, "fc-p-page", &format!("room=fc-p&{PROVING}")).await;
    let page = page_reader(page, M, Duration::from_millis(100));
    let flood = join(&server, "fc-p-flood", &format!("room=fc-p&{PROVING}")).await;
    let flooded = sender(flood, M, Duration::from_millis(4))
        .await
        .expect("flood");
    assert_all(&flooded, "the sender", 1, M);
    assert_all(&page.await.expect("page"), "the slow page", 1, M);
    assert_eq!(closes_of(&server, "fc-p-page"), Vec::<String>::new());
}

/// (4) A plain listener never sends a frame and never proves anything; in
/// a room that sends it less than it is presumed to read, it gets more
/// than the room's whole budget (2.5 MB against 2 MiB) and stays.
async fn a_plain_listener_gets_more_than_the_rooms_budget_and_stays(server: Server) {
    const M: usize = 1300;
    let listener = join(&server, "fc-q-listener", "room=fc-q").await;
    let listener = plain_reader(listener, M);
    let talker = join(&server, "fc-q-talker", &format!("room=fc-q&{PROVING}")).await;
    let talked = sender(talker, M, PACED).await.expect("talk");
    assert_all(&talked, "the talker", 1, M);
    assert_all(&listener.await.expect("listener"), "the listener", 1, M);
    assert_eq!(closes_of(&server, "fc-q-listener"), Vec::<String>::new());
}

/// (3) When plain backlogs together pass the room's budget before any one
/// passes its own, the room closes the biggest, for the room's budget; a
/// page that proves its reading is never among them.
async fn the_room_budget_closes_plain_backlogs_never_a_page(server: Server) {
    let mut silent = Vec::new();
    for i in 0..10 {
        let id = format!("fc-r-silent{i}");
        silent.push(Client::connect(&server, &format!("/ws/{id}?room=fc-r"), &id).await);
    }
    let page = join(&server, "fc-r-page", &format!("room=fc-r&{PROVING}")).await;
    let page = page_reader(page, 600, Duration::ZERO);
    let flood = join(&server, "fc-r-flood", &format!("room=fc-r&{PROVING}")).await;
    let flooded = sender(flood, 600, GAP).await.expect("flood");
    for (i, socket) in silent.into_iter().enumerate() {
        wait_for_close_log(&server, &format!("fc-r-silent{i}")).await;
        let closed = close_of_stalled(socket.into_socket()).await;
        assert_eq!(closed, (1013, "too slow, reconnect".into()), "silent{i}");
    }
    let for_the_room = (server.log_lines().into_iter())
        .filter(|l| l.contains("closed_by_room") && l.contains("room_budget"))
        .count();
    assert!(
        for_the_room >= 1,
        "no socket was closed for the room's budget"
    );
    assert_all(&flooded, "the flooder", 1, 600);
    assert_all(&page.await.expect("page"), "the page", 1, 600);
    assert_eq!(closes_of(&server, "fc-r-page"), Vec::<String>::new());
}

/// (3) on a relay (issue 26): a relay is an object of its own, with the
/// same budget for the sockets it holds. Twenty seats hold all twelve
/// sockets, so their backlogs together pass the relay's budget, as they
/// pass the room's above. (With three seats a relay, as CI's second pass
/// places them, three plain backlogs never reach 2 MiB before each passes
/// its own 512 KiB: that pass skips the test above, and this one proves
/// the rule on a relay.)
async fn a_relay_closes_plain_backlogs_for_its_own_budget(_: Server) {
    let mut vars = VARS.to_vec();
    vars.extend([("RELAY_THRESHOLD", "0"), ("RELAY_CAPACITY", "20")]);
    let mut rt = tokio::task::block_in_place(|| Runtime::start(&vars));
    let server = rt.server();
    the_room_budget_closes_plain_backlogs_never_a_page(server.clone()).await;
    let opened = (server.log_lines().into_iter())
        .filter(|l| l.contains("relay_opened") && l.contains("fc-r"))
        .count();
    assert_eq!(opened, 1, "every socket was on one relay");
    rt.stop();
}

suite![
    vars: VARS;
    the_room_budget_closes_plain_backlogs_never_a_page,
    a_relay_closes_plain_backlogs_for_its_own_budget,
    a_silent_plain_socket_is_closed_and_bystanders_lose_nothing,
    a_proving_socket_that_stops_reading_is_closed_at_its_budget,
    lying_receipts_confirm_nothing,
    a_chattering_plain_socket_that_does_not_read_is_closed,
    a_page_that_reads_slowly_is_never_closed,
    a_plain_listener_gets_more_than_the_rooms_budget_and_stays,
];
