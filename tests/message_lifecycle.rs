//! Edits and deletes in open mode against the real runtime: live frames,
//! tombstones and edited text in history, catch-up with `since` for a
//! client that was away, each refusal (with bystanders who keep chatting
//! and a history that holds exactly what was accepted), kick unavailable
//! without tokens, and the originals' clients still reading one JSON
//! object per frame.

// The tests drive the real runtime from the host; on wasm32 there is
// nothing to run, so the crate is empty and needs no `main`.
#![cfg_attr(target_arch = "wasm32", no_main)]
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::bystanders::{open_query, Room};
use common::{frame_of, history_messages, Server};
use serde_json::{json, Value};

fn delete(id: &Value) -> String {
    json!({"type": "delete", "id": id}).to_string()
}

fn edit(id: &Value, text: &str) -> String {
    json!({"type": "edit", "id": id, "message": text}).to_string()
}

/// `client` tries to delete and then edit message `id`; both are refused
/// with `code`.
async fn both_refused(client: &mut common::Client, id: &Value, code: &str) {
    client.send(&delete(id)).await;
    client.expect_error(code).await;
    client.send(&edit(id, "changed")).await;
    client.expect_error(code).await;
}

fn is_change(kind: &'static str, id: Value) -> impl Fn(&Value) -> bool {
    move |f| f["type"] == kind && f["id"] == id
}

/// A frame the originals' clients can read: `time`, `clientId`, `message`.
fn assert_originals_fields(f: &Value) {
    assert!(f["time"].is_string(), "{f}");
    assert!(f["clientId"].is_string(), "{f}");
    assert!(f["message"].is_string(), "{f}");
}

async fn the_author_deletes_and_everyone_gets_a_delete_and_history_a_tombstone(server: Server) {
    let mut room = Room::open(&server, "lc-del", open_query).await;
    let said = room.say_as_alice("regrettable").await;
    room.alice.send(&delete(&said["id"])).await;
    let frame = room
        .both_next(is_change("delete", said["id"].clone()), "the delete")
        .await;
    assert_originals_fields(&frame);
    assert_eq!(frame["clientId"], room.alice.id.as_str());
    assert_eq!(frame["message"], "");
    assert_eq!(
        frame["seq"],
        said["seq"].as_u64().unwrap() + 1,
        "the next seq"
    );
    let history = room.history(&server, "lc-del-carol").await;
    let tomb = history.iter().find(|m| m["id"] == said["id"]).unwrap();
    assert_eq!(tomb["deleted"], true);
    assert_eq!(tomb["message"], "");
    assert_eq!(tomb["seq"], said["seq"], "the original seq");
    *room.expected.last_mut().unwrap() = String::new();
    room.verify(&server).await;
}

async fn the_author_edits_and_history_returns_the_new_text_with_edited_ts(server: Server) {
    let mut room = Room::open(&server, "lc-edit", open_query).await;
    let said = room.say_as_alice("teh typo").await;
    room.alice.send(&edit(&said["id"], "the typo")).await;
    let frame = room
        .both_next(is_change("edit", said["id"].clone()), "the edit")
        .await;
    assert_originals_fields(&frame);
    assert_eq!(frame["message"], "the typo");
    assert!(frame["editedTs"].as_u64().is_some(), "{frame}");
    let history = room.history(&server, "lc-edit-carol").await;
    let kept = history.iter().find(|m| m["id"] == said["id"]).unwrap();
    assert_eq!(kept["message"], "the typo");
    assert_eq!(kept["editedTs"], frame["editedTs"]);
    assert_eq!(kept["seq"], said["seq"]);
    *room.expected.last_mut().unwrap() = "the typo".into();
    room.verify(&server).await;
}

async fn deleting_or_editing_anothers_message_is_refused_with_not_author(server: Server) {
    let mut room = Room::open(&server, "lc-notauthor", open_query).await;
    let said = room.say_as_alice("mine").await;
    both_refused(&mut room.bob, &said["id"], "not_author").await;
    room.verify(&server).await;
}

async fn an_unknown_message_id_is_refused_with_unknown_message(server: Server) {
    let mut room = Room::open(&server, "lc-unknown", open_query).await;
    let mut m = room.join(&server, "lc-unknown-mallory", "").await.0;
    for id in ["m999-1", "nonsense"] {
        both_refused(&mut m, &json!(id), "unknown_message").await;
    }
    room.verify(&server).await;
}

async fn a_deleted_message_cannot_be_edited_or_deleted_again(server: Server) {
    let mut room = Room::open(&server, "lc-twice", open_query).await;
    let said = room.say_as_alice("gone").await;
    room.alice.send(&delete(&said["id"])).await;
    room.both_next(is_change("delete", said["id"].clone()), "the delete")
        .await;
    both_refused(&mut room.alice, &said["id"], "message_deleted").await;
    *room.expected.last_mut().unwrap() = String::new();
    room.verify(&server).await;
}

async fn an_edit_obeys_the_message_limits(server: Server) {
    let mut room = Room::open(&server, "lc-limits", open_query).await;
    let said = room.say_as_alice("short").await;
    room.alice.send(&edit(&said["id"], "   ")).await;
    room.alice.expect_error("empty_message").await;
    room.alice
        .send(&edit(&said["id"], &"x".repeat(2_001)))
        .await;
    room.alice.expect_error("message_too_long").await;
    room.verify(&server).await;
}

async fn kick_is_unavailable_in_open_mode(server: Server) {
    let mut room = Room::open(&server, "lc-kick", open_query).await;
    let kick = json!({"type": "kick", "clientId": room.bob.id, "minutes": 5});
    room.alice.send(&kick.to_string()).await;
    room.alice.expect_error("not_moderator").await;
    room.verify(&server).await;
}

async fn a_client_away_during_a_delete_and_an_edit_learns_both_through_since(server: Server) {
    let mut room = Room::open(&server, "lc-since", open_query).await;
    let first = room.say_as_alice("first").await;
    let second = room.say_as_alice("second").await;
    let frames = room.visit(&server, "lc-since-carol", "").await;
    let seen = frame_of(&frames, "history")["latestSeq"].as_u64().unwrap();
    room.alice.send(&delete(&first["id"])).await;
    room.both_next(is_change("delete", first["id"].clone()), "the delete")
        .await;
    room.alice
        .send(&edit(&second["id"], "second, edited"))
        .await;
    room.both_next(is_change("edit", second["id"].clone()), "the edit")
        .await;

    let frames = room
        .visit(&server, "lc-since-carol", &format!("since={seen}"))
        .await;
    let history = frame_of(&frames, "history");
    assert!(history_messages(history).is_empty(), "{history}");
    assert_eq!(history["truncated"], false);
    assert_eq!(history["latestSeq"], seen + 2);
    let changes = history["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2, "{history}");
    assert_eq!(changes[0]["type"], "delete");
    assert_eq!(changes[0]["id"], first["id"]);
    assert_eq!(changes[0]["seq"], seen + 1);
    assert_eq!(changes[1]["type"], "edit");
    assert_eq!(changes[1]["message"], "second, edited");
    assert_eq!(changes[1]["seq"], seen + 2);
    // Caught up: nothing again.
    let frames = room
        .visit(&server, "lc-since-carol", &format!("since={}", seen + 2))
        .await;
    assert!(frame_of(&frames, "history").get("changes").is_none());
    let n = room.expected.len();
    room.expected[n - 2] = String::new();
    room.expected[n - 1] = "second, edited".into();
    room.verify(&server).await;
}

async fn the_originals_clients_get_one_json_object_per_frame_for_edits_and_deletes(server: Server) {
    let mut room = Room::open(&server, "lc-plain", open_query).await;
    // A plain client: no batch, raw text, as the originals' React page.
    let mut plain = room.join(&server, "lc-plain-orig", "").await.0;
    let said = room.say_as_alice("edit me").await;
    plain.expect_message(&room.alice.id, "edit me").await;
    room.alice.send(&edit(&said["id"], "edited")).await;
    room.alice.send(&delete(&said["id"])).await;
    for kind in ["edit", "delete"] {
        let f = plain.next().await;
        assert_eq!(f["type"], kind, "{f}");
        assert_originals_fields(&f);
        room.both_next(is_change(kind, said["id"].clone()), kind)
            .await;
    }
    *room.expected.last_mut().unwrap() = String::new();
    room.verify(&server).await;
}

suite![
    the_author_deletes_and_everyone_gets_a_delete_and_history_a_tombstone,
    the_author_edits_and_history_returns_the_new_text_with_edited_ts,
    deleting_or_editing_anothers_message_is_refused_with_not_author,
    an_unknown_message_id_is_refused_with_unknown_message,
    a_deleted_message_cannot_be_edited_or_deleted_again,
    an_edit_obeys_the_message_limits,
    kick_is_unavailable_in_open_mode,
    a_client_away_during_a_delete_and_an_edit_learns_both_through_since,
    the_originals_clients_get_one_json_object_per_frame_for_edits_and_deletes,
];
