//! Reactions: an emoji a member puts on a message, or takes away, with a
//! summary on every message of each emoji, its count, and whether the
//! reader is among those who gave it.
//!
//! A reaction is toggled: sending an emoji the sender already gave takes
//! it away. Each change takes the room's next `seq`, like an edit, so
//! `since` catch-up brings a client that was away the message's reactions
//! as they are now. A message holds at most [`MAX_REACTION_KINDS`]
//! different emoji and [`MAX_REACTIONS_PER_MEMBER`] from one member; a
//! deleted message loses its reactions and takes no more. The frames go
//! to sockets that speak this protocol alone: the originals' clients
//! would show a reaction as an empty message.

use crate::room::moderation::changeable;
use crate::room::session::Session;
use crate::room::{Audience, Ctx, Delivery};
use crate::settings::limits::{MAX_REACTIONS_PER_MEMBER, MAX_REACTION_KINDS};
use crate::store::history::{HistoryStore, Toggle};
use crate::wire::error::{Refusal, StoreError};
use crate::wire::protocol::{Line, ReactionCount, ReactionLine, ReactionsLine, ServerFrame};

/// Toggles `session`'s `emoji` (already checked to be one) on message `id`.
pub fn react<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &Session,
    id: &str,
    emoji: String,
) -> Result<Vec<Delivery>, Refusal> {
    let msg = changeable(ctx.store, id)?;
    let me = session.client_id.as_str();
    let counts = summary(ctx.store, msg.seq, Some(me))?;
    let on = !counts
        .iter()
        .any(|c| c.emoji == emoji && c.mine == Some(true));
    if on {
        has_room_for(&counts, &emoji)?;
    }
    let rev = ctx.store.latest_seq().map_err(Refusal::Storage)? + 1;
    let toggle = Toggle {
        seq: msg.seq,
        emoji,
        client_id: me.to_owned(),
        on,
        rev,
        ts: ctx.now,
    };
    ctx.store.react(&toggle).map_err(Refusal::Storage)?;
    let reactions = summary(ctx.store, msg.seq, None)?;
    let frame = ServerFrame::Reaction(ReactionLine {
        line: session.line("", ctx.now),
        id: msg.id(),
        seq: rev,
        emoji: toggle.emoji,
        on,
        reactions,
    });
    Ok(vec![Delivery {
        to: Audience::Batching,
        frame,
    }])
}

/// Whether one more `emoji` from the sender fits the message's limits.
fn has_room_for(counts: &[ReactionCount], emoji: &str) -> Result<(), Refusal> {
    if !counts.iter().any(|c| c.emoji == emoji) && counts.len() >= MAX_REACTION_KINDS {
        return Err(Refusal::TooManyReactions(format!(
            "this message already has {MAX_REACTION_KINDS} different reactions"
        )));
    }
    if counts.iter().filter(|c| c.mine == Some(true)).count() >= MAX_REACTIONS_PER_MEMBER {
        return Err(Refusal::TooManyReactions(format!(
            "you already gave this message {MAX_REACTIONS_PER_MEMBER} reactions"
        )));
    }
    Ok(())
}

fn summary<S: HistoryStore>(
    store: &mut S,
    seq: u64,
    me: Option<&str>,
) -> Result<Vec<ReactionCount>, Refusal> {
    let all = store.reactions(&[seq], me).map_err(Refusal::Storage)?;
    Ok(all.into_iter().map(|(_, count)| count).collect())
}

/// A catch-up's `reactions` frames: for each message the client had whose
/// reactions changed since (`(seq, rev)`), its reactions now.
pub fn catch_up_frames<S: HistoryStore>(
    store: &mut S,
    reacted: &[(u64, u64)],
    me: Option<&str>,
    now: u64,
) -> Result<Vec<ServerFrame>, StoreError> {
    let mut frames = Vec::with_capacity(reacted.len());
    for &(seq, rev) in reacted {
        let Some(msg) = store.get(seq)? else {
            continue;
        };
        let reactions = store.reactions(&[seq], me)?;
        frames.push(ServerFrame::Reactions(ReactionsLine {
            line: Line::server("", now),
            id: msg.id(),
            seq: rev,
            reactions: reactions.into_iter().map(|(_, c)| c).collect(),
        }));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::room::rate_limit::TokenBucket;
    use crate::room::{join, receive};
    use crate::settings::config::Config;
    use crate::store::history::MemoryHistory;
    use serde_json::{json, Value};

    const NOW: u64 = 1_700_000_000_000;

    struct Room {
        config: Config,
        store: MemoryHistory,
    }

    impl Room {
        fn new() -> Room {
            let mut r = Room {
                config: Config::default(),
                store: MemoryHistory::default(),
            };
            r.send("alice", "hello");
            r.send("bob", "hi");
            r
        }

        fn send(&mut self, who: &str, text: &str) -> Vec<Value> {
            let mut ctx = Ctx {
                config: &self.config,
                store: &mut self.store,
                now: NOW,
            };
            let mut bucket = TokenBucket::full(1_000, NOW);
            let out = receive(&mut ctx, &mut Session::of(who, None), &mut bucket, text);
            let frames = out.deliveries.iter().map(|d| {
                let mut v: Value = serde_json::from_str(&d.frame.to_json()).unwrap();
                v["to"] = format!("{:?}", d.to).into();
                v
            });
            frames.collect()
        }

        fn react(&mut self, who: &str, seq: u64, emoji: &str) -> Value {
            let id = self.store.get(seq).unwrap().unwrap().id();
            let frame = json!({"type": "react", "id": id, "emoji": emoji}).to_string();
            self.send(who, &frame).remove(0)
        }

        fn history(&mut self, who: &str, since: Option<u64>) -> Value {
            let mut ctx = Ctx {
                config: &self.config,
                store: &mut self.store,
                now: NOW,
            };
            let d = join(&mut ctx, &Session::of(who, None), (&[], 0), (since, None)).unwrap();
            serde_json::from_str(&d[0].frame.to_json()).unwrap()
        }
    }

    #[test]
    fn a_reaction_toggles_takes_a_seq_and_goes_to_batch_sockets_with_the_counts() {
        let mut r = Room::new();
        let on = r.react("carol", 1, "👍");
        assert_eq!(on["type"], "reaction");
        assert_eq!(
            (on["to"].as_str(), on["on"].as_bool(), on["seq"].as_u64()),
            (Some("Batching"), Some(true), Some(3))
        );
        assert_eq!(on["clientId"], "carol");
        assert_eq!(on["reactions"], json!([{"emoji": "👍", "count": 1}]));
        r.react("dave", 1, "👍");
        let off = r.react("carol", 1, "👍");
        assert_eq!(
            (off["on"].as_bool(), off["seq"].as_u64()),
            (Some(false), Some(5))
        );
        assert_eq!(off["reactions"], json!([{"emoji": "👍", "count": 1}]));
    }

    #[test]
    fn history_carries_each_message_s_reactions_with_mine_for_the_newcomer() {
        let mut r = Room::new();
        r.react("carol", 1, "🎉");
        r.react("dave", 1, "👍");
        r.react("dave", 1, "🎉");
        let carol = r.history("carol", None);
        assert_eq!(
            carol["messages"][0]["reactions"],
            json!([{"emoji": "🎉", "count": 2, "mine": true}, {"emoji": "👍", "count": 1, "mine": false}])
        );
        assert!(
            carol["messages"][1].get("reactions").is_none(),
            "none, none shown"
        );
    }

    #[test]
    fn a_client_that_was_away_gets_the_reactions_as_they_are_now_through_since() {
        let mut r = Room::new();
        r.react("carol", 1, "👍");
        let since = 3;
        r.react("dave", 1, "👍");
        r.react("dave", 2, "❤️");
        r.react("dave", 2, "❤️");
        let h = r.history("carol", Some(since));
        let changes = h["changes"].as_array().unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0]["type"], "reactions");
        assert_eq!(
            changes[0]["reactions"],
            json!([{"emoji": "👍", "count": 2, "mine": true}])
        );
        assert_eq!(
            (changes[1]["seq"].as_u64(), changes[1]["reactions"].clone()),
            (Some(6), json!([]))
        );
        assert_eq!(h["latestSeq"], 6);
    }

    #[test]
    fn limits_on_kinds_and_per_member_are_refused_with_the_reason() {
        let mut r = Room::new();
        let kinds = [
            "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘",
            "🥰", "😗", "😙", "😚", "🙂", "🤗",
        ];
        for (i, e) in kinds.iter().enumerate() {
            r.react(&format!("m{i}"), 1, e);
        }
        let full = r.react("zed", 1, "🤩");
        assert_eq!(
            (full["type"].as_str(), full["code"].as_str()),
            (Some("error"), Some("too_many_reactions"))
        );
        assert_eq!(
            r.react("zed", 1, "😀")["on"],
            true,
            "an emoji already there still counts"
        );
        for e in &kinds[..9] {
            r.react("ann", 2, e);
        }
        assert_eq!(r.react("ann", 2, "😋")["on"], true);
        let mine = r.react("ann", 2, "😎");
        assert!(
            mine["message"].as_str().unwrap().contains("10 reactions"),
            "{mine}"
        );
    }

    #[test]
    fn a_deleted_message_loses_its_reactions_and_takes_no_more() {
        let mut r = Room::new();
        r.react("carol", 1, "👍");
        let id = r.store.get(1).unwrap().unwrap().id();
        r.send("alice", &json!({"type": "delete", "id": id}).to_string());
        let h = r.history("carol", None);
        assert!(h["messages"][0].get("reactions").is_none());
        assert_eq!(r.react("carol", 1, "👍")["code"], "message_deleted");
    }

    #[test]
    fn a_bad_emoji_or_an_unknown_message_is_refused() {
        let mut r = Room::new();
        let bad = json!({"type": "react", "id": "m1-0", "emoji": "👍👍"}).to_string();
        assert_eq!(r.send("carol", &bad)[0]["code"], "bad_frame");
        let unknown = json!({"type": "react", "id": "m9-1", "emoji": "👍"}).to_string();
        assert_eq!(r.send("carol", &unknown)[0]["code"], "unknown_message");
    }
}
