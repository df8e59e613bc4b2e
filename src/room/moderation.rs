//! A message's life after it is sent, and keeping order in the room: who
//! may edit, delete and kick, and what each one changes.
//!
//! - **Delete**: the author, or any moderator. The text is removed from
//!   storage; the message stays as a tombstone under its `seq`.
//! - **Edit**: the author only, under the same limits as a message.
//! - **Kick**: a moderator only, and never of a moderator. There are no
//!   moderators in open mode, so there is no kick either.
//!
//! Moderators are peers the operator chose by issuing their tokens, so only
//! the operator removes one (by issuing no more). Were a moderator able to
//! kick another, one stolen or rogue moderator token could lock every other
//! moderator out for a week, and the longest ban stands, so nobody could
//! undo it. A kick of a client with a moderator's socket in the room is
//! refused, and a ban never keeps out a moderator's token, so a moderator
//! who was offline when kicked is not kept out either.
//!
//! Edits and deletes take the room's next `seq` (see [`crate::store::history`]),
//! so `since` catch-up brings them to clients that were away. A refusal
//! changes nothing: no write, no broadcast.

use crate::access::auth::Role;
use crate::room::session::Session;
use crate::room::{check_message, Audience, Ctx, Delivery};
use crate::store::bans::BanStore;
use crate::store::history::{Change, HistoryStore, StoredMessage};
use crate::wire::error::{Denial, Refusal, StoreError};

/// A kick the room object carries out: store the ban, then close every
/// socket of `client_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    pub client_id: String,
    /// The ban ends at this time, in epoch milliseconds.
    pub until: u64,
}

/// Deletes message `id` for its author or a moderator.
pub fn delete<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &Session,
    id: &str,
) -> Result<Vec<Delivery>, Refusal> {
    let mut msg = changeable(ctx.store, id)?;
    if msg.client_id != session.client_id && !session.role.moderates() {
        return Err(Refusal::NotAuthor);
    }
    msg.body.clear();
    msg.mentions.clear();
    revise(ctx, msg, true)
}

/// Replaces the text of message `id` for its author.
pub fn edit<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    session: &Session,
    id: &str,
    text: String,
) -> Result<Vec<Delivery>, Refusal> {
    let mut msg = changeable(ctx.store, id)?;
    if msg.client_id != session.client_id {
        return Err(Refusal::NotAuthor);
    }
    check_message(&text, ctx.config.max_message_chars)?;
    msg.mentions = crate::room::mentions::of(&text);
    msg.body = text;
    revise(ctx, msg, false)
}

/// A moderator's kick of `client_id` for `minutes` (already checked to be
/// in range by the parser).
pub fn kick(session: &Session, client_id: String, minutes: u64, now: u64) -> Result<Kick, Refusal> {
    if !session.role.moderates() {
        return Err(Refusal::NotModerator);
    }
    Ok(Kick {
        client_id,
        until: now.saturating_add(minutes.saturating_mul(60_000)),
    })
}

/// Whether the kick of `client_id` may be carried out, given the sessions
/// `present` in the room: not if any of its sockets is a moderator's.
pub fn kickable<'a>(
    client_id: &str,
    present: impl IntoIterator<Item = &'a Session>,
) -> Result<(), Refusal> {
    let mut theirs = present.into_iter().filter(|s| s.client_id == client_id);
    if theirs.any(|s| s.role.moderates()) {
        return Err(Refusal::ModeratorNotKickable);
    }
    Ok(())
}

/// The answer to a banned client's handshake, if its ban (ending `until`,
/// epoch milliseconds) is still running at `now`.
pub fn ban_denial(until: Option<u64>, now: u64) -> Option<Denial> {
    let left = until?.checked_sub(now).filter(|&ms| ms > 0)?;
    Some(Denial::Banned {
        minutes_left: left.div_ceil(60_000),
    })
}

/// The stored ban that refuses `client_id`, acting with `role`, at `now`,
/// if any: for a socket and for an API call alike. Never a moderator's.
pub fn ban_on(
    bans: &mut impl BanStore,
    client_id: &str,
    role: Role,
    now: u64,
) -> Result<Option<Denial>, StoreError> {
    if role.moderates() {
        return Ok(None);
    }
    Ok(ban_denial(bans.banned_until(client_id)?, now))
}

/// The kept, not yet deleted message that `id` names.
pub(crate) fn changeable(
    store: &mut impl HistoryStore,
    id: &str,
) -> Result<StoredMessage, Refusal> {
    let seq = StoredMessage::seq_of_id(id).ok_or(Refusal::UnknownMessage)?;
    let msg = store
        .get(seq)
        .map_err(Refusal::Storage)?
        .filter(|m| m.id() == id)
        .ok_or(Refusal::UnknownMessage)?;
    if msg.deleted() {
        return Err(Refusal::MessageDeleted);
    }
    Ok(msg)
}

/// Gives the change the room's next `seq`, stores it, and tells everyone.
fn revise<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    mut msg: StoredMessage,
    deleted: bool,
) -> Result<Vec<Delivery>, Refusal> {
    let rev = ctx.store.latest_seq().map_err(Refusal::Storage)? + 1;
    msg.change = Some(Change {
        rev,
        ts: ctx.now,
        deleted,
    });
    ctx.store.revise(&msg).map_err(Refusal::Storage)?;
    Ok(msg
        .change_frame()
        .map(|frame| Delivery {
            to: Audience::Everyone,
            frame,
        })
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::config::Config;
    use crate::store::history::{FailingHistory, MemoryHistory};
    use crate::wire::protocol::ServerFrame;

    const NOW: u64 = 1_700_000_000_000;

    struct Room {
        config: Config,
        store: MemoryHistory,
    }

    impl Room {
        /// A room where alice said "one" (seq 1) and bob "two" (seq 2).
        fn new() -> Room {
            let mut store = MemoryHistory::default();
            for (seq, who, text) in [(1, "alice", "one"), (2, "bob", "two")] {
                let msg = StoredMessage {
                    seq,
                    ts: NOW,
                    client_id: who.into(),
                    name: None,
                    body: text.into(),
                    client_msg_id: None,
                    change: None,
                    reply_to: None,
                    mentions: Vec::new(),
                };
                store.append(&msg).unwrap();
            }
            Room {
                config: Config::default(),
                store,
            }
        }

        fn ctx(&mut self) -> Ctx<'_, MemoryHistory> {
            Ctx {
                config: &self.config,
                store: &mut self.store,
                now: NOW + 5,
            }
        }

        fn id(&mut self, seq: u64) -> String {
            self.store.get(seq).unwrap().unwrap().id()
        }

        fn delete(&mut self, by: &Session, seq: u64) -> Result<Vec<Delivery>, Refusal> {
            let id = self.id(seq);
            delete(&mut self.ctx(), by, &id)
        }

        fn edit(&mut self, by: &Session, seq: u64, text: &str) -> Result<Vec<Delivery>, Refusal> {
            let id = self.id(seq);
            edit(&mut self.ctx(), by, &id, text.into())
        }
    }

    fn member(id: &str) -> Session {
        Session::of(id, None)
    }

    fn moderator(id: &str) -> Session {
        Session {
            role: Role::Moderator,
            ..member(id)
        }
    }

    fn the_frame(d: Vec<Delivery>) -> ServerFrame {
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].to, Audience::Everyone);
        d.into_iter().next().unwrap().frame
    }

    #[test]
    fn the_author_deletes_under_the_next_seq_and_the_text_is_gone() {
        let mut room = Room::new();
        let frame = the_frame(room.delete(&member("alice"), 1).unwrap());
        assert!(
            matches!(&frame, ServerFrame::Delete(d) if d.seq == 3 && d.line.client_id == "alice")
        );
        let kept = room.store.get(1).unwrap().unwrap();
        assert!(kept.deleted());
        assert_eq!(kept.body, "");
        assert_eq!(room.store.latest_seq().unwrap(), 3);
    }

    #[test]
    fn a_moderator_deletes_anyones_message_and_a_member_does_not() {
        let mut room = Room::new();
        assert_eq!(room.delete(&member("bob"), 1), Err(Refusal::NotAuthor));
        assert_eq!(
            room.store.latest_seq().unwrap(),
            2,
            "a refusal changes nothing"
        );
        assert!(room.delete(&moderator("mod"), 1).is_ok());
    }

    #[test]
    fn only_the_author_edits_not_even_a_moderator() {
        let mut room = Room::new();
        assert_eq!(
            room.edit(&moderator("mod"), 1, "x"),
            Err(Refusal::NotAuthor)
        );
        assert_eq!(room.edit(&member("bob"), 1, "x"), Err(Refusal::NotAuthor));
        let frame = the_frame(room.edit(&member("alice"), 1, "one, edited").unwrap());
        assert!(matches!(&frame, ServerFrame::Edit(e)
            if e.seq == 3 && e.line.message == "one, edited" && e.edited_ts == Some(NOW + 5)));
        assert_eq!(
            room.store.get(1).unwrap().unwrap().to_kept().edited_ts,
            Some(NOW + 5)
        );
    }

    #[test]
    fn an_edit_obeys_the_message_limits() {
        let mut room = Room::new();
        assert_eq!(
            room.edit(&member("alice"), 1, "  "),
            Err(Refusal::EmptyMessage)
        );
        let long = "x".repeat(room.config.max_message_chars + 1);
        assert!(matches!(
            room.edit(&member("alice"), 1, &long),
            Err(Refusal::MessageTooLong { .. })
        ));
        assert_eq!(room.store.get(1).unwrap().unwrap().body, "one");
    }

    #[test]
    fn unknown_stale_and_deleted_ids_are_refused() {
        let mut room = Room::new();
        let alice = member("alice");
        for id in ["nope", "m9-1", "m1-1"] {
            assert_eq!(
                delete(&mut room.ctx(), &alice, id),
                Err(Refusal::UnknownMessage),
                "{id}"
            );
        }
        room.delete(&alice, 1).unwrap();
        assert_eq!(room.delete(&alice, 1), Err(Refusal::MessageDeleted));
        assert_eq!(room.edit(&alice, 1, "back"), Err(Refusal::MessageDeleted));
    }

    #[test]
    fn a_failed_write_is_a_storage_refusal() {
        let mut store = FailingHistory::default();
        let msg = Room::new().store.get(1).unwrap().unwrap();
        store.inner.append(&msg).unwrap();
        let config = Config::default();
        let mut ctx = Ctx {
            config: &config,
            store: &mut store,
            now: NOW,
        };
        let refused = delete(&mut ctx, &member("alice"), &msg.id());
        assert!(matches!(refused, Err(Refusal::Storage(_))));
    }

    #[test]
    fn only_a_moderator_kicks_and_the_ban_runs_for_the_minutes_given() {
        assert_eq!(
            kick(&member("bob"), "x".into(), 5, NOW),
            Err(Refusal::NotModerator)
        );
        let k = kick(&moderator("mod"), "x".into(), 5, NOW).unwrap();
        assert_eq!(k.until, NOW + 300_000);
    }

    #[test]
    fn a_moderator_is_not_kicked_by_a_moderator_nor_kept_out_by_a_ban() {
        let (alice, mo, mo2) = (member("alice"), moderator("mo"), moderator("mo2"));
        let present = [&alice, &mo, &mo2];
        assert_eq!(kickable("alice", present), Ok(()));
        assert_eq!(kickable("gone", present), Ok(()), "offline: no socket");
        for target in ["mo2", "mo"] {
            assert_eq!(
                kickable(target, present),
                Err(Refusal::ModeratorNotKickable),
                "{target}"
            );
        }
        // A client with a member's tab and a moderator's tab is a moderator.
        let mo2_as_member = member("mo2");
        assert_eq!(
            kickable("mo2", [&mo2_as_member, &mo2]),
            Err(Refusal::ModeratorNotKickable)
        );
        let mut bans = crate::store::bans::MemoryBans::default();
        bans.ban("mo2", NOW + 60_000, NOW).unwrap();
        let banned = Some(Denial::Banned { minutes_left: 1 });
        assert_eq!(ban_on(&mut bans, "mo2", Role::Member, NOW).unwrap(), banned);
        assert_eq!(
            ban_on(&mut bans, "mo2", Role::Service, NOW).unwrap(),
            banned
        );
        assert_eq!(
            ban_on(&mut bans, "mo2", Role::Moderator, NOW).unwrap(),
            None
        );
    }

    #[test]
    fn a_ban_refuses_until_it_ends_and_rounds_the_wait_up() {
        assert_eq!(ban_denial(None, NOW), None);
        assert_eq!(ban_denial(Some(NOW), NOW), None);
        assert_eq!(ban_denial(Some(NOW - 1), NOW), None);
        assert_eq!(
            ban_denial(Some(NOW + 1), NOW),
            Some(Denial::Banned { minutes_left: 1 })
        );
        assert_eq!(
            ban_denial(Some(NOW + 60_001), NOW),
            Some(Denial::Banned { minutes_left: 2 })
        );
    }
}
