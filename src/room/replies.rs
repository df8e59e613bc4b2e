//! Replies: a message may name the message it answers, and everyone gets
//! the reference with a short quote of the original as it is now. The
//! quote is made when a reply is read (live, in history, in a page), so an
//! edit of the original changes it and a delete empties it; a client that
//! shows a reply updates its quote from the original's `edit` and `delete`
//! frames.

use crate::settings::limits::QUOTE_CHARS;
use crate::store::history::StoredMessage;
use crate::wire::protocol::ReplyRef;

/// The reference to message `id`, quoting `original` as it is now, or
/// saying it is no longer kept.
pub fn quote(id: &str, original: Option<&StoredMessage>) -> ReplyRef {
    let Some(o) = original.filter(|o| o.id() == id) else {
        return ReplyRef {
            id: id.to_owned(),
            client_id: None,
            name: None,
            quote: String::new(),
            deleted: false,
            gone: true,
        };
    };
    let mut quote: String = o.body.chars().take(QUOTE_CHARS).collect();
    if o.body.chars().nth(QUOTE_CHARS).is_some() {
        quote.push('…');
    }
    ReplyRef {
        id: id.to_owned(),
        client_id: Some(o.client_id.clone()),
        name: o.name.clone(),
        quote,
        deleted: o.deleted(),
        gone: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::Change;

    fn original(body: &str) -> StoredMessage {
        StoredMessage {
            seq: 4,
            ts: 99,
            client_id: "alice".into(),
            name: Some("Alice".into()),
            body: body.into(),
            client_msg_id: None,
            change: None,
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    #[test]
    fn a_quote_is_the_original_now_shortened_and_says_deleted_or_gone() {
        let short = original("lunch?");
        let q = quote(&short.id(), Some(&short));
        assert_eq!(
            (q.quote.as_str(), q.client_id.as_deref(), q.deleted),
            ("lunch?", Some("alice"), false)
        );
        let long = original(&"x".repeat(150));
        assert_eq!(
            quote(&long.id(), Some(&long)).quote.chars().count(),
            QUOTE_CHARS + 1
        );
        let mut gone = original("");
        gone.change = Some(Change {
            rev: 5,
            ts: 100,
            deleted: true,
        });
        let q = quote(&gone.id(), Some(&gone));
        assert!(q.deleted && q.quote.is_empty());
        let pruned = quote("m4-63", None);
        assert!(pruned.gone && pruned.client_id.is_none());
    }

    /// A room through the socket's rules: alice said "hello @bob" (seq 1).
    mod live {
        use crate::room::rate_limit::TokenBucket;
        use crate::room::session::Session;
        use crate::room::{join, receive, Ctx};
        use crate::settings::config::Config;
        use crate::store::history::{HistoryStore, MemoryHistory};
        use serde_json::{json, Value};

        const NOW: u64 = 1_700_000_000_000;

        fn send(store: &mut MemoryHistory, who: &str, frame: Value) -> Value {
            let config = Config::default();
            let mut ctx = Ctx {
                config: &config,
                store,
                now: NOW,
            };
            let mut bucket = TokenBucket::full(1_000, NOW);
            let text = match frame {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let out = receive(&mut ctx, &mut Session::of(who, None), &mut bucket, &text);
            serde_json::from_str(&out.deliveries[0].frame.to_json()).unwrap()
        }

        fn history(store: &mut MemoryHistory) -> Value {
            let config = Config::default();
            let mut ctx = Ctx {
                config: &config,
                store,
                now: NOW,
            };
            let d = join(&mut ctx, &Session::of("zed", None), (&[], 0), (None, None)).unwrap();
            serde_json::from_str(&d[0].frame.to_json()).unwrap()
        }

        #[test]
        fn a_reply_quotes_its_original_live_and_in_history_as_it_is_now() {
            let mut s = MemoryHistory::default();
            send(&mut s, "alice", json!("hello @bob"));
            let id = s.get(1).unwrap().unwrap().id();
            let reply = send(
                &mut s,
                "bob",
                json!({"type": "message", "message": "hi @alice", "replyTo": id}),
            );
            assert_eq!(
                reply["replyTo"],
                json!({"id": id, "clientId": "alice", "quote": "hello @bob"})
            );
            assert_eq!(reply["mentions"], json!(["alice"]));
            send(
                &mut s,
                "alice",
                json!({"type": "edit", "id": id, "message": "hello all"}),
            );
            assert_eq!(
                history(&mut s)["messages"][1]["replyTo"]["quote"],
                "hello all"
            );
            send(&mut s, "alice", json!({"type": "delete", "id": id}));
            let after = &history(&mut s)["messages"][1]["replyTo"];
            assert_eq!(
                (after["quote"].as_str(), after["deleted"].as_bool()),
                (Some(""), Some(true))
            );
        }

        #[test]
        fn a_reply_to_a_deleted_or_unknown_message_is_refused() {
            let mut s = MemoryHistory::default();
            send(&mut s, "alice", json!("hello"));
            let id = s.get(1).unwrap().unwrap().id();
            send(&mut s, "alice", json!({"type": "delete", "id": id}));
            let late = send(
                &mut s,
                "bob",
                json!({"type": "message", "message": "x", "replyTo": id}),
            );
            assert_eq!(late["code"], "message_deleted");
            let unknown = json!({"type": "message", "message": "x", "replyTo": "m9-1"});
            assert_eq!(send(&mut s, "bob", unknown)["code"], "unknown_message");
        }

        #[test]
        fn an_edit_reads_its_mentions_again_and_a_delete_drops_them() {
            let mut s = MemoryHistory::default();
            send(&mut s, "alice", json!("hi @bob"));
            let id = s.get(1).unwrap().unwrap().id();
            let edit = send(
                &mut s,
                "alice",
                json!({"type": "edit", "id": id, "message": "hi @carol"}),
            );
            assert_eq!(edit["mentions"], json!(["carol"]));
            send(&mut s, "alice", json!({"type": "delete", "id": id}));
            assert!(history(&mut s)["messages"][0].get("mentions").is_none());
        }
    }
}
