//! Property tests of the pure core: the parser never panics and never
//! reinterprets plain text, and under any sequence of frames from several
//! clients the room stores exactly what it broadcasts, with gapless seqs,
//! no duplicate resends, and exact catch-up. Case counts are bounded so the
//! suite stays in the normal test run.

#![cfg(not(target_arch = "wasm32"))]

use edge_chat::room::rate_limit::{TokenBucket, Verdict};
use edge_chat::room::session::Session;
use edge_chat::room::{self, Audience, Ctx};
use edge_chat::settings::config::Config;
use edge_chat::store::history::{self, HistoryStore, MemoryHistory, Reach, StoredMessage};
use edge_chat::wire::protocol::{self, ChatLine, ClientFrame, ServerFrame};
use edge_chat::wire::validate;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        ..ProptestConfig::default()
    }
}

/// Frames a client might send: plain text, JSON of every shape the server
/// knows, near misses, and garbage.
fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[ \\t\\n]{0,3}",
        ("[a-z ]{0,20}", proptest::option::of("[a-c]{1,2}")).prop_map(|(m, id)| {
            match id {
                Some(id) => serde_json::json!({"type":"message","message":m,"clientMsgId":id}),
                None => serde_json::json!({"type":"message","message":m}),
            }
            .to_string()
        }),
        Just(r#"{"type":"typing"}"#.to_owned()),
        Just("Connect".to_owned()),
        "\\{.{0,30}",
        r#"\{"type":"[a-z]{0,8}".{0,10}\}"#,
        ".{1990,2010}",
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn parse_never_panics(text in "\\PC{0,200}") {
        let _ = protocol::parse(&text);
    }

    #[test]
    fn text_not_starting_with_a_brace_is_chat_verbatim(text in "[^{\\s]\\PC{0,100}") {
        prop_assert_eq!(
            protocol::parse(&text),
            Ok(ClientFrame::Chat { text: text.clone(), client_msg_id: None, reply_to: None })
        );
    }

    #[test]
    fn any_json_message_round_trips(text in "\\PC{0,100}") {
        let frame = serde_json::json!({"type": "message", "message": text}).to_string();
        prop_assert_eq!(
            protocol::parse(&frame),
            Ok(ClientFrame::Chat { text, client_msg_id: None, reply_to: None })
        );
    }

    #[test]
    fn client_ids_pass_exactly_when_they_match_the_charset(id in "\\PC{0,70}") {
        let expected = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        prop_assert_eq!(validate::client_id(&id).is_ok(), expected);
    }

    #[test]
    fn a_bucket_never_allows_more_than_burst_plus_refill(
        gaps in proptest::collection::vec(0u64..300, 1..200),
        rate in 1u32..50,
        burst in 1u32..50,
    ) {
        let mut bucket = TokenBucket::full(burst, 0);
        let (mut now, mut allowed) = (0u64, 0u64);
        for gap in gaps {
            now += gap;
            if bucket.take(now, rate, burst) == Verdict::Allow {
                allowed += 1;
            }
        }
        let ceiling = u64::from(burst) + now * u64::from(rate) / 1000 + 1;
        prop_assert!(allowed <= ceiling, "{} allowed, ceiling {}", allowed, ceiling);
    }
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn the_room_stores_exactly_what_it_broadcasts(
        events in proptest::collection::vec((0usize..3, frame()), 1..60),
        limit in 1u64..15,
    ) {
        let config = Config { history_limit: limit, rate_burst: 1_000, ..Config::default() };
        let mut store = MemoryHistory::default();
        let mut sessions: Vec<Session> = [("a", Some("Ann")), ("b", None), ("c", Some("<c>"))]
            .iter()
            .map(|(id, name)| Session::of(id, *name))
            .collect();
        let mut buckets: Vec<TokenBucket> = (0..3).map(|_| TokenBucket::full(1_000, 0)).collect();
        let mut broadcast: Vec<ChatLine> = Vec::new();
        for (step, (who, text)) in events.iter().enumerate() {
            let mut ctx = Ctx { config: &config, store: &mut store, now: step as u64 };
            let outcome = room::receive(&mut ctx, &mut sessions[*who], &mut buckets[*who], text);
            for d in outcome.deliveries {
                if let ServerFrame::Message(m) = d.frame {
                    prop_assert_eq!(d.to, Audience::Everyone);
                    let session = &sessions[*who];
                    prop_assert_eq!(&m.line.client_id, &session.client_id);
                    prop_assert_eq!(&m.line.name, &session.name);
                    prop_assert_eq!(m.line.ts, step as u64);
                    // What goes out is what the client wrote, as written.
                    let Ok(ClientFrame::Chat { text, client_msg_id, .. }) = protocol::parse(text) else {
                        return Err(TestCaseError::fail(format!("{text:?} was broadcast")));
                    };
                    prop_assert_eq!(&m.line.message, &text);
                    prop_assert_eq!(&m.client_msg_id, &client_msg_id);
                    broadcast.push(m);
                }
            }
        }
        // Seqs are 1, 2, 3, … in broadcast order, and storage agrees.
        let seqs: Vec<u64> = broadcast.iter().map(|m| m.seq).collect();
        let expected: Vec<u64> = (1..=broadcast.len() as u64).collect();
        prop_assert_eq!(&seqs, &expected);
        prop_assert_eq!(store.latest_seq().unwrap(), broadcast.len() as u64);
        // Storage keeps every broadcast (pruning is retention's, from the
        // alarm), field for field: body, sender, name, time, ids.
        let kept = store.recent(u64::MAX).unwrap();
        let stored: Vec<ChatLine> = kept.iter().map(StoredMessage::to_line).collect();
        prop_assert_eq!(stored.as_slice(), broadcast.as_slice());
        // And a resend never doubled.
        let mut ids: Vec<(String, String)> = kept
            .iter()
            .filter_map(|m| Some((m.client_id.clone(), m.client_msg_id.clone()?)))
            .collect();
        let before = ids.len();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), before, "a clientMsgId stored twice");
        // A socket's catch-up from any point is exact when what it missed
        // fits the window, and else the newest window, said truncated.
        let latest = broadcast.len() as u64;
        for since in 0..=latest {
            let c = history::catch_up(&mut store, (Some(since), None), limit, Reach::Whole).unwrap();
            let seqs: Vec<u64> = c.messages.iter().map(|m| m.seq).collect();
            if latest - since <= limit {
                prop_assert!(!c.truncated);
                prop_assert_eq!(seqs, ((since + 1)..=latest).collect::<Vec<u64>>());
            } else {
                prop_assert!(c.truncated);
                prop_assert_eq!(seqs, ((latest - limit + 1)..=latest).collect::<Vec<u64>>());
            }
        }
    }
}
