//! HTTP behaviour of the Worker: the page, and the readable refusals for
//! requests that are not a valid WebSocket handshake.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::Server;

async fn page_is_served_at_root(server: Server) {
    let resp = server.get("/");
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "{:?}",
        resp.headers
    );
    assert!(
        resp.body.contains("<script src=\"/app.js\""),
        "{}",
        resp.body
    );
}

async fn script_and_stylesheet_are_served(server: Server) {
    let js = server.get("/app.js");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap_or_default()
        .contains("javascript"));
    assert!(js.body.contains("joinRoom"));
    // The client library the page runs on, served through the
    // public/client symlink to client/src.
    let client = server.get("/client/connection.js");
    assert_eq!(client.status, 200);
    assert!(client
        .header("content-type")
        .unwrap_or_default()
        .contains("javascript"));
    assert!(client.body.contains("WebSocket"));
    let css = server.get("/style.css");
    assert_eq!(css.status, 200);
    assert!(css
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/css"));
}

async fn socket_path_without_upgrade_is_426(server: Server) {
    let resp = server.get("/ws/alice");
    assert_eq!(resp.status, 426);
    assert!(resp.body.contains("WebSocket"), "{}", resp.body);
}

async fn empty_client_id_is_400(server: Server) {
    let resp = server.handshake_refusal("/ws/");
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("client id is empty"), "{}", resp.body);
}

async fn overlong_client_id_is_400(server: Server) {
    let path = format!("/ws/{}", "a".repeat(65));
    let resp = server.handshake_refusal(&path);
    assert_eq!(resp.status, 400);
    assert!(resp.body.contains("limit is 64"), "{}", resp.body);
}

async fn client_id_with_forbidden_characters_is_400(server: Server) {
    for path in ["/ws/a.b", "/ws/a%20b", "/ws/%3Cscript%3E", "/ws/a/b"] {
        let resp = server.handshake_refusal(path);
        assert_eq!(resp.status, 400, "{path}: {}", resp.body);
        assert!(
            resp.body.starts_with("Bad client id"),
            "{path}: {}",
            resp.body
        );
    }
}

async fn longest_valid_client_id_is_accepted(server: Server) {
    let id = "x".repeat(64);
    let client = common::Client::join(&server, &id).await;
    client.close().await;
}

async fn unknown_path_is_404_with_a_readable_body(server: Server) {
    let resp = server.get("/no/such/page");
    assert_eq!(resp.status, 404);
    assert!(resp.body.contains("Nothing here"), "{}", resp.body);
}

async fn post_to_a_socket_path_is_405(server: Server) {
    // Without an Upgrade header: wrangler's dev proxy turns any request that
    // has one into a WebSocket handshake before the Worker can answer.
    let resp = server.request("POST", "/ws/alice", &[]);
    assert_eq!(resp.status, 405);
    assert!(resp.body.contains("only GET"), "{}", resp.body);
}

suite![
    page_is_served_at_root,
    script_and_stylesheet_are_served,
    socket_path_without_upgrade_is_426,
    empty_client_id_is_400,
    overlong_client_id_is_400,
    client_id_with_forbidden_characters_is_400,
    longest_valid_client_id_is_accepted,
    unknown_path_is_404_with_a_readable_body,
    post_to_a_socket_path_is_405,
];
