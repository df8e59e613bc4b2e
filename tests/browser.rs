//! The chat as people use it: the real page in headless Chromium against the
//! real runtime. Two tabs are two independent browser contexts, text is typed
//! through input events, and every wait polls the DOM with a timeout.
//! Screenshots of the main states land in the git-ignored `tests/artifacts/`.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::{page_url, Browser, Tab};
use common::{Runtime, Server};

const WIDE: (u32, u32) = (1000, 700);
const PHONE: (u32, u32) = (360, 740);

/// A JS expression: how many settled messages in the list read exactly `text`.
fn count_of(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    format!(
        "[...document.querySelectorAll('#messages .msg:not(.pending) .text')]\
         .filter(e => e.textContent === {quoted}).length"
    )
}

async fn open(browser: &mut Browser, port: u16, path: &str, size: (u32, u32)) -> Tab {
    let tab = browser.open(&page_url(port, path), size.0, size.1).await;
    browser
        .wait_for(
            &tab,
            "the page to connect",
            "document.getElementById('status').dataset.state === 'online'",
        )
        .await;
    tab
}

async fn sees_once(browser: &mut Browser, tab: &Tab, text: &str) {
    browser
        .wait_for(
            tab,
            &format!("{text:?} on the page"),
            &format!("{} >= 1", count_of(text)),
        )
        .await;
    assert_eq!(
        browser.eval(tab, &count_of(text)).await,
        1,
        "{text:?} shows more than once"
    );
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

async fn the_page_reconnects_by_itself_after_a_restart_and_loses_nothing(_server: Server) {
    let port = common::runtime::free_port();
    let state = common::runtime::fresh_state_dir();
    let mut rt = Runtime::start_on(port, state.clone(), &[]);
    let mut browser = Browser::launch().await;
    let alice = open(&mut browser, port, "/r/br-restart", WIDE).await;
    let bob = open(&mut browser, port, "/r/br-restart", WIDE).await;
    browser
        .type_and_send(&alice, "sent before the restart")
        .await;
    sees_once(&mut browser, &bob, "sent before the restart").await;

    rt.stop();
    browser
        .wait_for(&alice, "the reconnecting banner", "!document.getElementById('banner').hidden && document.getElementById('status').dataset.state !== 'online'")
        .await;
    // Written while the server is down: it must go out once it is back.
    browser
        .type_and_send(&alice, "written during the outage")
        .await;
    browser.screenshot(&alice, "reconnecting").await;

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
    browser.type_and_send(&bob, "sent after the restart").await;
    for tab in [&alice, &bob] {
        for text in [
            "sent before the restart",
            "written during the outage",
            "sent after the restart",
        ] {
            sees_once(&mut browser, tab, text).await;
        }
    }
    drop(browser);
    rt.stop();
    let _ = std::fs::remove_dir_all(state);
}

suite![
    two_people_in_two_browsers_see_each_others_messages,
    join_and_leave_notices_and_the_member_list_follow_tabs,
    history_shows_on_reload,
    hostile_markup_shows_as_text_and_runs_nothing,
    the_page_reconnects_by_itself_after_a_restart_and_loses_nothing,
];
