//! The chat as people use it: the real page in headless Chromium against the
//! real runtime. Two tabs are two independent browser contexts, text is typed
//! through input events, and every wait polls the DOM with a timeout.
//! Screenshots of the main states land in the git-ignored `tests/artifacts/`.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::{page_url, Browser, Tab, Wire};
use common::{Runtime, Server};

const WIDE: (u32, u32) = (1000, 700);
const PHONE: (u32, u32) = (360, 740);

/// A JS expression: how many of the list's `items` (a selector: `.msg` for
/// every message, [`SETTLED`], `.msg.pending` for those still sending) read
/// exactly `text`.
fn count_of(items: &str, text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    format!(
        "[...document.querySelectorAll('#messages {items} .text')]\
         .filter(e => e.textContent === {quoted}).length"
    )
}

const SETTLED: &str = ".msg:not(.pending)";

async fn open(browser: &mut Browser, port: u16, path: &str, size: (u32, u32)) -> Tab {
    let tab = browser.open(&page_url(port, path), size.0, size.1).await;
    online(browser, &tab).await;
    tab
}

async fn online(browser: &mut Browser, tab: &Tab) {
    browser
        .wait_for(
            tab,
            "the page to connect",
            "document.getElementById('status').dataset.state === 'online'",
        )
        .await;
}

async fn sees_once(browser: &mut Browser, tab: &Tab, text: &str) {
    browser
        .wait_for(
            tab,
            &format!("{text:?} on the page"),
            &format!("{} >= 1", count_of(SETTLED, text)),
        )
        .await;
    assert_eq!(
        browser.eval(tab, &count_of(SETTLED, text)).await,
        1,
        "{text:?} shows more than once"
    );
}

/// `text` shows once, marked as still sending.
async fn shows_pending(browser: &mut Browser, tab: &Tab, text: &str) {
    let pending = count_of(".msg.pending", text);
    browser
        .wait_for(
            tab,
            &format!("{text:?} as sending…"),
            &format!("{pending} === 1"),
        )
        .await;
    assert_eq!(browser.eval(tab, &count_of(".msg", text)).await, 1);
}

async fn two_people_in_two_browsers_see_each_others_messages(server: Server) {
    let mut browser = Browser::launch().await;
    let empty = open(&mut browser, server.port, "/r/br-two", WIDE).await;
    browser.screenshot(&empty, "empty-room").await;
    let alice = empty;
    let bob = open(&mut browser, server.port, "/r/br-two", WIDE).await;
    browser
        .type_and_send(&alice, "Hi Bob, can you see this?")
        .await;
    sees_once(&mut browser, &bob, "Hi Bob, can you see this?").await;
    browser.type_and_send(&bob, "Loud and clear, Alice!").await;
    sees_once(&mut browser, &alice, "Loud and clear, Alice!").await;
    browser
        .type_and_send(&alice, "Great, the edge chat works.")
        .await;
    sees_once(&mut browser, &bob, "Great, the edge chat works.").await;
    // Own messages sit on the other side from everyone else's.
    let sides = browser
        .eval(&alice, "[...document.querySelectorAll('#messages .msg')].map(m => m.classList.contains('mine'))")
        .await;
    assert_eq!(sides, serde_json::json!([true, false, true]));
    browser.screenshot(&alice, "conversation").await;
    browser.dark_mode(&bob, true).await;
    browser.screenshot(&bob, "conversation-dark").await;
    browser.resize(&bob, PHONE.0, PHONE.1).await;
    browser.screenshot(&bob, "phone-360").await;
    let overflow = browser
        .eval(
            &bob,
            "document.documentElement.scrollWidth > window.innerWidth",
        )
        .await;
    assert_eq!(overflow, false, "the page scrolls sideways at 360 px");
}

async fn join_and_leave_notices_and_the_member_list_follow_tabs(server: Server) {
    let mut browser = Browser::launch().await;
    let alice = open(&mut browser, server.port, "/r/br-members", WIDE).await;
    browser
        .wait_for(
            &alice,
            "one member",
            "document.getElementById('member-count').textContent === '1'",
        )
        .await;
    let bob = open(&mut browser, server.port, "/r/br-members", WIDE).await;
    let bob_id = browser
        .eval(&bob, "document.getElementById('me').textContent")
        .await;
    let bob_id = bob_id.as_str().unwrap().to_owned();
    browser
        .wait_for(
            &alice,
            "two members",
            "document.getElementById('member-count').textContent === '2'",
        )
        .await;
    let joined = format!("{bob_id} joined");
    browser
        .wait_for(
            &alice,
            "a join notice",
            &format!("document.getElementById('messages').innerText.includes({joined:?})"),
        )
        .await;
    browser.close(bob).await;
    let left = format!("{bob_id} left");
    browser
        .wait_for(
            &alice,
            "a leave notice",
            &format!("document.getElementById('messages').innerText.includes({left:?})"),
        )
        .await;
    browser
        .wait_for(
            &alice,
            "one member again",
            "document.getElementById('member-count').textContent === '1'",
        )
        .await;
}

async fn history_shows_on_reload(server: Server) {
    let mut browser = Browser::launch().await;
    let alice = open(&mut browser, server.port, "/r/br-history", WIDE).await;
    for text in ["first, before the reload", "second, before the reload"] {
        browser.type_and_send(&alice, text).await;
        sees_once(&mut browser, &alice, text).await;
    }
    browser.reload(&alice).await;
    browser
        .wait_for(
            &alice,
            "reconnect after reload",
            "document.getElementById('status').dataset.state === 'online'",
        )
        .await;
    sees_once(&mut browser, &alice, "first, before the reload").await;
    sees_once(&mut browser, &alice, "second, before the reload").await;
}

async fn hostile_markup_shows_as_text_and_runs_nothing(server: Server) {
    let mut browser = Browser::launch().await;
    let alice = open(&mut browser, server.port, "/r/br-xss", WIDE).await;
    let bob = open(&mut browser, server.port, "/r/br-xss", WIDE).await;
    let payload = "<img src=x onerror=alert(1)>";
    browser.type_and_send(&alice, payload).await;
    sees_once(&mut browser, &bob, payload).await;
    for tab in [&alice, &bob] {
        let images = browser
            .eval(tab, "document.querySelectorAll('#messages img').length")
            .await;
        assert_eq!(images, 0, "the payload became an element");
    }
    assert!(!browser.dialog_opened(), "the payload raised a dialog");
}

// What the crash test sends, in order.
const BEFORE: &str = "sent before the crash";
const ACK_LOST: &str = "stored, but its ack was lost";
const OFFLINE: [&str; 2] = ["written during the outage", "and again while offline"];
const OFFLINE_BOB: &str = "Bob, also during the outage";
const EARLY: &str = "sent before the catch-up arrived";
const AFTER: &str = "sent after the restart";
const EVERY: [&str; 7] = [
    BEFORE,
    ACK_LOST,
    OFFLINE[0],
    OFFLINE[1],
    OFFLINE_BOB,
    EARLY,
    AFTER,
];

async fn the_page_reconnects_after_a_crash_and_shows_every_message_once(_server: Server) {
    let port = common::runtime::free_port();
    let state = common::runtime::fresh_state_dir();
    let mut rt = Runtime::start_on(port, state.clone(), &[]);
    let mut browser = Browser::launch().await;
    let url = page_url(port, "/r/br-restart");
    let alice = browser.open_wired(&url, WIDE.0, WIDE.1).await;
    online(&mut browser, &alice).await;
    let bob = open(&mut browser, port, "/r/br-restart", WIDE).await;
    browser.type_and_send(&alice, BEFORE).await;
    sees_once(&mut browser, &bob, BEFORE).await;

    // Alice's connection dies with her ack in flight: the room stored the
    // message (it stores before it broadcasts, and Bob sees it), but nothing
    // it sent her after that arrives. Her catch-up after the crash starts
    // before that message, and carries its clientMsgId.
    browser.set_wire(&alice, Wire::Drop).await;
    browser.type_and_send(&alice, ACK_LOST).await;
    sees_once(&mut browser, &bob, ACK_LOST).await;
    browser
        .wait_for(
            &alice,
            "Alice's ack to be lost",
            "window.__wire.lostFrames().some(f => f.type === 'ack')",
        )
        .await;
    shows_pending(&mut browser, &alice, ACK_LOST).await;
    rt.kill(); // a crash: no socket gets a clean close
    for tab in [&alice, &bob] {
        browser
            .wait_for(tab, "the reconnecting banner", "!document.getElementById('banner').hidden && document.getElementById('status').dataset.state !== 'online'")
            .await;
    }

    // Written while the server is down: they wait as pending.
    for text in OFFLINE {
        browser.type_and_send(&alice, text).await;
        shows_pending(&mut browser, &alice, text).await;
    }
    browser.type_and_send(&bob, OFFLINE_BOB).await;
    shows_pending(&mut browser, &bob, OFFLINE_BOB).await;
    browser.screenshot(&alice, "reconnecting").await;

    // Alice's next connection opens, but its catch-up is slow to arrive,
    // and she writes in the meantime: the catch-up predates that message,
    // so the page resends it under the same clientMsgId, and the room must
    // answer with the original ack rather than store it again.
    browser.set_wire(&alice, Wire::Hold).await;
    let mut rt = Runtime::start_on(port, state.clone(), &[]);
    for tab in [&alice, &bob] {
        browser
            .wait_for(
                tab,
                "the reconnected notice",
                "document.getElementById('banner').textContent.startsWith('Reconnected')",
            )
            .await;
    }
    browser.type_and_send(&alice, EARLY).await;
    sees_once(&mut browser, &bob, EARLY).await;
    browser.set_wire(&alice, Wire::Pass).await;

    // Alice's last message goes out after her resends on the same socket,
    // so once it shows, any copy a resend made would be showing too.
    browser.type_and_send(&alice, AFTER).await;
    for tab in [&alice, &bob] {
        sees_once(&mut browser, tab, AFTER).await;
        for text in EVERY {
            let copies = browser.eval(tab, &count_of(SETTLED, text)).await;
            assert_eq!(copies, 1, "{text:?} shows {copies} times");
        }
        let sending = browser
            .eval(tab, "[...document.querySelectorAll('#messages .pending .text')].map(e => e.textContent)")
            .await;
        assert_eq!(sending, serde_json::json!([]), "messages still sending…");
    }
    // The race above really happened: the page sent EARLY a second time.
    let early = serde_json::to_string(EARLY).unwrap();
    let sends = browser
        .eval(
            &alice,
            &format!("window.__wire.sent.filter(f => f.message === {early}).length"),
        )
        .await;
    assert_eq!(sends, 2, "EARLY was not resent after the late catch-up");
    drop(browser);
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

suite![
    two_people_in_two_browsers_see_each_others_messages,
    join_and_leave_notices_and_the_member_list_follow_tabs,
    history_shows_on_reload,
    hostile_markup_shows_as_text_and_runs_nothing,
    the_page_reconnects_after_a_crash_and_shows_every_message_once,
];
