//! Caps that count people, not just sockets, against the real runtime in
//! token mode: one token holds at most `MAX_SOCKETS_PER_CLIENT` (8) of a
//! room's sockets and one address at most `MAX_SOCKETS_PER_ADDRESS` (20
//! here; an IPv6 address counts as its /64), each refused with its own code
//! and close before it joins, while everyone else still gets in.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tokens::{member, SECRET};
use common::{Client, Server};

/// The default per-client cap.
const PER_CLIENT: usize = 8;
/// The per-address cap this binary sets.
const PER_ADDRESS: usize = 20;

const VARS: &[(&str, &str)] = &[("AUTH_SECRET", SECRET), ("MAX_SOCKETS_PER_ADDRESS", "20")];

/// How one socket's attempt to join ended: in, or refused with an error
/// code and then a close.
type Joined = Result<Client, (String, (u16, String))>;

/// Opens a socket for member `id` of `room`, from `address` if given (the
/// local runtime keeps a `CF-Connecting-IP` the client sends; the platform
/// would set its own), and reads until it has joined or been refused.
async fn try_join(server: &Server, id: &str, room: &str, address: Option<&str>) -> Joined {
    let path = format!("/ws/{id}?room={room}&token={}", member(id, room));
    let headers: Vec<(&str, &str)> = address
        .map(|a| ("CF-Connecting-IP", a))
        .into_iter()
        .collect();
    let mut client = Client::handshake(server, &path, id, &headers)
        .await
        .unwrap_or_else(|status| panic!("{id}: the handshake itself was refused: {status}"));
    loop {
        match client.next_frame_or_close().await {
            Ok(f) if f["type"] == "join" && f["clientId"] == id => return Ok(client),
            Ok(f) if f["type"] == "error" => {
                let code = f["code"].as_str().unwrap_or_default().to_owned();
                return Err((code, client.expect_closed().await));
            }
            Ok(_) => continue,
            Err(close) => panic!("{id} was closed without an error frame: {close:?}"),
        }
    }
}

fn refusal(code: &str, reason: &str) -> (String, (u16, String)) {
    (code.to_owned(), (1008, reason.to_owned()))
}

async fn forty_sockets_under_one_token_get_eight_and_another_member_still_joins(server: Server) {
    let room = "caps-client";
    let mut admitted = Vec::new();
    for _ in 0..40 {
        match try_join(&server, "greedy", room, None).await {
            Ok(client) => admitted.push(client),
            Err(refused) => {
                assert_eq!(refused, refusal("too_many_sockets", "too many sockets"));
            }
        }
    }
    assert_eq!(
        admitted.len(),
        PER_CLIENT,
        "sockets admitted under one token"
    );
    let other = try_join(&server, "other", room, None).await;
    let other = other.unwrap_or_else(|r| panic!("another member was refused: {r:?}"));
    admitted[0].expect_join_of("other").await;
    // The cap counts open sockets: one closed, one more may join.
    admitted.pop().expect("a socket").close().await;
    let again = try_join(&server, "greedy", room, None).await;
    assert!(
        again.is_ok(),
        "a freed slot is taken again: {:?}",
        again.err()
    );
    other.close().await;
}

async fn one_ipv6_64_under_many_ids_fills_its_share_and_another_address_still_joins(
    server: Server,
) {
    let room = "caps-address";
    // One host rotating through its /64, with a new token for each socket.
    let from_host = |i: usize| format!("2001:db8:1:2::{:x}", i + 1);
    let mut admitted = Vec::new();
    for i in 0..PER_ADDRESS {
        let id = format!("liar-{i}");
        let joined = try_join(&server, &id, room, Some(&from_host(i))).await;
        admitted.push(joined.unwrap_or_else(|r| panic!("{id} was refused: {r:?}")));
    }
    let over = try_join(&server, "liar-x", room, Some(&from_host(PER_ADDRESS))).await;
    let over = over.err().expect("one more from the same /64 is refused");
    let reason = "too many sockets from address";
    assert_eq!(over, refusal("too_many_sockets_from_address", reason));
    for elsewhere in ["2001:db8:1:3::1", "198.51.100.9"] {
        let joined = try_join(&server, "neighbour", room, Some(elsewhere)).await;
        let joined = joined.unwrap_or_else(|r| panic!("{elsewhere} was refused: {r:?}"));
        joined.close().await;
    }
    drop(admitted);
}

suite![
    vars: VARS;
    forty_sockets_under_one_token_get_eight_and_another_member_still_joins,
    one_ipv6_64_under_many_ids_fills_its_share_and_another_address_still_joins,
];
