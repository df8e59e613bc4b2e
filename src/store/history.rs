//! Durable, ordered chat history: what a stored message is, what storage
//! must provide, and which messages a joining or reconnecting client gets.
//!
//! Edits and deletes take the room's next `seq`, like messages, and record
//! it on the message they changed (its [`Change`]). So `since` catch-up
//! finds them: a client that last saw `seq` S gets the messages after S as
//! they are now, plus a change frame for each message it already had that
//! changed after S. A deleted message stays as a tombstone (its `seq`, no
//! text) so every client can put "message deleted" in its place.
//!
//! The Durable Object stores messages in its SQLite database (see
//! `sql_history`); [`MemoryHistory`] implements the same contract for the
//! native unit tests of the room's rules.

use crate::store::search::SearchQuery;
use crate::wire::error::StoreError;
use crate::wire::protocol::{ChangeLine, ChatLine, KeptLine, Line, ReactionCount, ServerFrame};

/// One accepted chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Per-room sequence number, strictly increasing; the numbers between
    /// messages went to edits and deletes.
    pub seq: u64,
    pub ts: u64,
    pub client_id: String,
    pub name: Option<String>,
    /// The current text; empty once deleted.
    pub body: String,
    pub client_msg_id: Option<String>,
    /// The latest edit or delete, if any.
    pub change: Option<Change>,
    /// The id of the message this one answers, if any.
    pub reply_to: Option<String>,
    /// The client ids its current text mentions.
    pub mentions: Vec<String>,
}

#[cfg(test)]
impl StoredMessage {
    /// A plain message `who` said at `ts`, for the tests of every layer.
    pub fn said(seq: u64, ts: u64, who: &str, body: &str) -> Self {
        StoredMessage {
            seq,
            ts,
            client_id: who.into(),
            name: None,
            body: body.into(),
            client_msg_id: None,
            change: None,
            reply_to: None,
            mentions: Vec::new(),
        }
    }
}

/// The latest edit or delete of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The change's own `seq`, from the room's sequence.
    pub rev: u64,
    /// When it happened, in epoch milliseconds.
    pub ts: u64,
    /// A delete (the text is gone), or else an edit.
    pub deleted: bool,
}

impl StoredMessage {
    /// The message's id: unique within its room even if the room's storage
    /// is ever reset and sequence numbers start over, because it includes
    /// the time it was stored.
    pub fn id(&self) -> String {
        format!("m{}-{:x}", self.seq, self.ts)
    }

    /// Whether this is the message `client_id` sent under `client_msg_id`:
    /// the key that makes a resend idempotent.
    pub fn sent_as(&self, client_id: &str, client_msg_id: &str) -> bool {
        self.client_id == client_id && self.client_msg_id.as_deref() == Some(client_msg_id)
    }

    /// The `seq` an id names, if it has the shape [`StoredMessage::id`]
    /// gives. The caller still compares the whole id with the message
    /// found, so an id from before a storage reset matches nothing.
    pub fn seq_of_id(id: &str) -> Option<u64> {
        let (seq, ts) = id.strip_prefix('m')?.split_once('-')?;
        u64::from_str_radix(ts, 16).ok()?;
        seq.parse().ok()
    }

    pub fn to_line(&self) -> ChatLine {
        ChatLine {
            line: Line::new(&self.client_id, &self.body, self.ts).named(self.name.as_deref()),
            seq: self.seq,
            id: self.id(),
            client_msg_id: self.client_msg_id.clone(),
            reply_to: None,
            mentions: self.mentions.clone(),
        }
    }

    /// The message as history shows it: a tombstone if deleted, the new
    /// text and `editedTs` if edited.
    pub fn to_kept(&self) -> KeptLine {
        let change = self.change.filter(|_| !self.deleted());
        KeptLine {
            chat: self.to_line(),
            deleted: self.deleted(),
            edited_ts: change.map(|c| c.ts),
            reactions: Vec::new(),
        }
    }

    pub fn deleted(&self) -> bool {
        self.change.is_some_and(|c| c.deleted)
    }

    /// The newest `seq` this message accounts for: its own or its change's.
    pub fn latest_seq(&self) -> u64 {
        self.change.map_or(self.seq, |c| c.rev.max(self.seq))
    }

    /// The frame that announces this message's latest change, live and in
    /// catch-up alike: `delete`, or `edit` with the new text. About the
    /// author's message, so `clientId` and `name` are the author's.
    pub fn change_frame(&self) -> Option<ServerFrame> {
        let change = self.change?;
        let line = ChangeLine {
            line: Line::new(&self.client_id, &self.body, change.ts).named(self.name.as_deref()),
            id: self.id(),
            seq: change.rev,
            edited_ts: (!change.deleted).then_some(change.ts),
            mentions: self.mentions.clone(),
        };
        Some(match change.deleted {
            true => ServerFrame::Delete(line),
            false => ServerFrame::Edit(line),
        })
    }
}

/// One reaction added (`on`) or taken away, under the room's seq `rev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toggle {
    pub seq: u64,
    pub emoji: String,
    pub client_id: String,
    pub on: bool,
    pub rev: u64,
    pub ts: u64,
}

/// What the room needs from storage. Every method is one synchronous step,
/// as SQLite in a Durable Object is.
/// What the room needs from storage. Every method is one synchronous step,
/// as SQLite in a Durable Object is. Storage keeps every message it is
/// given; what it lets go of, and when, is [`crate::store::retention`]'s
/// call, made from the alarm.
pub trait HistoryStore {
    /// The newest `seq` of a message or a change, or 0 if the room has
    /// never stored a message.
    fn latest_seq(&mut self) -> Result<u64, StoreError>;
    /// The oldest `seq` still kept, if any.
    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError>;
    /// The random id of this history, made once when the room's storage
    /// is: a `seq` means something only within its epoch.
    fn epoch(&mut self) -> Result<String, StoreError>;
    /// Stores `msg`, whose `seq` must be newer than every kept one.
    fn append(&mut self, msg: &StoredMessage) -> Result<(), StoreError>;
    /// Stores `msgs` in order, stopping at the first failure. A store may
    /// do it in fewer steps than one per message.
    fn append_all(&mut self, msgs: &[StoredMessage]) -> Result<(), StoreError> {
        msgs.iter().try_for_each(|m| self.append(m))
    }
    /// The message `client_id` sent under `client_msg_id`, if still kept.
    fn find(
        &mut self,
        client_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError>;
    /// Messages with `seq > since`, oldest first, at most `limit`.
    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError>;
    /// The newest `limit` messages with `seq < before`, oldest first: a
    /// page of scrollback.
    fn before(&mut self, before: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError>;
    /// The newest `limit` messages, oldest first.
    fn recent(&mut self, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.before(u64::MAX, limit)
    }
    /// The kept message with this `seq`.
    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError>;
    /// Stores a kept message's new text and [`Change`].
    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError>;
    /// Messages with `seq <= since` changed after `since`, by change, at
    /// most `limit`.
    fn changed_after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError>;
    /// Messages with `seq < before` whose current text has every word of
    /// `query`, newest first, at most `limit`. Deleted messages have no
    /// text, so they never match.
    fn search(
        &mut self,
        query: &SearchQuery,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// The reactions on each of `seqs`, each emoji in the order first
    /// given, with `mine` for `me` when there is a `me`.
    fn reactions(
        &mut self,
        seqs: &[u64],
        me: Option<&str>,
    ) -> Result<Vec<(u64, ReactionCount)>, StoreError>;
    /// Adds or takes away one reaction, and records the change's `rev` on
    /// its message, so `since` finds it.
    fn react(&mut self, toggle: &Toggle) -> Result<(), StoreError>;
    /// `(seq, rev)` of messages with `seq <= since` whose reactions changed
    /// after `since`, by `rev`, at most `limit`.
    fn reacted_after(&mut self, since: u64, limit: u64) -> Result<Vec<(u64, u64)>, StoreError>;
    /// `client_id`'s read pointer: the last `seq` it has seen, 0 if none.
    /// Read pointers live beside the history they point into.
    fn read_pointer(&mut self, client_id: &str) -> Result<u64, StoreError>;
    /// Moves `client_id`'s read pointer to `seq` at `ts`.
    fn set_read_pointer(&mut self, client_id: &str, seq: u64, ts: u64) -> Result<(), StoreError>;
    /// Messages after `seq` not deleted and not by `client_id`, counted up
    /// to `cap`.
    fn unread(&mut self, seq: u64, client_id: &str, cap: u64) -> Result<u64, StoreError>;
    /// How many messages are kept.
    fn kept(&mut self) -> Result<u64, StoreError>;
    /// The `(seq, ts)` of the oldest `limit` kept messages, oldest first.
    fn oldest(&mut self, limit: u64) -> Result<Vec<(u64, u64)>, StoreError>;
    /// Lets go of every message with `seq <= through`, their changes with
    /// them.
    fn prune_through(&mut self, through: u64) -> Result<(), StoreError>;
}

/// What a joining client is sent, before live traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub messages: Vec<StoredMessage>,
    /// Messages the client already had that changed since: sent as change
    /// frames.
    pub changes: Vec<StoredMessage>,
    /// `(seq, rev)` of messages the client already had whose reactions
    /// changed since.
    pub reacted: Vec<(u64, u64)>,
    pub latest_seq: u64,
    pub epoch: String,
    /// The client's `since` belongs to another epoch.
    pub reset: bool,
    /// The client cannot be made whole from `since` in one answer: `since`
    /// is older than what is kept, ahead of the room (its storage was
    /// reset), or more changed since than one answer carries. `messages`
    /// is then the newest window; what lies before it is scrollback.
    pub truncated: bool,
}

/// How much one answer may carry after `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// A socket joining: live frames follow at once, so everything it
    /// missed must fit in this one answer, or it starts over from the
    /// newest window (`truncated`).
    Whole,
    /// An HTTP page: the caller pages on with `since` = the last `seq`, so
    /// the messages after `since` may go on past this page.
    Page,
}

/// Picks the history for a client that last saw `since` (or nothing), at
/// most `limit` messages and `limit` changes.
///
/// With `since`, the client gets exactly the messages after it and the
/// changes to ones it had, when all of them are still kept and fit. Else it
/// gets the newest `limit` and `truncated`, so it can say so and start
/// over; older messages are a scrollback away.
pub fn catch_up(
    store: &mut impl HistoryStore,
    (since, epoch): (Option<u64>, Option<&str>),
    limit: u64,
    reach: Reach,
) -> Result<CatchUp, StoreError> {
    let latest_seq = store.latest_seq()?;
    let room_epoch = store.epoch()?;
    let reset = since.is_some() && epoch.is_some_and(|e| e != room_epoch);
    let answer = |messages, (changes, reacted), truncated| CatchUp {
        messages,
        changes,
        reacted,
        latest_seq,
        epoch: room_epoch.clone(),
        reset,
        truncated,
    };
    let none = || (Vec::new(), Vec::new());
    if reset {
        return Ok(answer(store.recent(limit)?, none(), true));
    }
    let since = match since {
        None => return Ok(answer(store.recent(limit)?, none(), false)),
        Some(since) if since == latest_seq => return Ok(answer(Vec::new(), none(), false)),
        Some(since) => since,
    };
    let kept = since < latest_seq && store.oldest_seq()?.unwrap_or(latest_seq + 1) <= since + 1;
    if kept {
        // One more than fits tells "all of it" from "there is more".
        let mut messages = store.after(since, limit + 1)?;
        let changes = store.changed_after(since, limit + 1)?;
        let reacted = store.reacted_after(since, limit + 1)?;
        let fits = |n: usize| n as u64 <= limit;
        let changes_fit = fits(changes.len()) && fits(reacted.len());
        if changes_fit && (fits(messages.len()) || reach == Reach::Page) {
            messages.truncate(limit as usize);
            return Ok(answer(messages, (changes, reacted), false));
        }
    }
    Ok(answer(store.recent(limit)?, none(), true))
}

/// The epoch of every [`MemoryHistory`].
pub const MEMORY_EPOCH: &str = "00000000deadbeef";

/// An in-memory [`HistoryStore`] with the same semantics as the SQLite one.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    messages: Vec<StoredMessage>,
    /// `(seq, emoji, client_id)` in the order given.
    reactions: Vec<(u64, String, String)>,
    /// The latest reaction change of each message.
    reacted: std::collections::BTreeMap<u64, u64>,
    read: std::collections::HashMap<String, u64>,
}

impl HistoryStore for MemoryHistory {
    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        let reacted = self.reacted.values().copied();
        Ok(self
            .messages
            .iter()
            .map(StoredMessage::latest_seq)
            .chain(reacted)
            .fold(0, u64::max))
    }

    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError> {
        Ok(self.messages.first().map(|m| m.seq))
    }

    fn epoch(&mut self) -> Result<String, StoreError> {
        Ok(MEMORY_EPOCH.into())
    }

    fn append(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        if self.messages.last().is_some_and(|m| m.seq >= msg.seq) {
            return Err(StoreError("a message's seq is not new".into()));
        }
        self.messages.push(msg.clone());
        Ok(())
    }

    fn find(
        &mut self,
        client_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self
            .messages
            .iter()
            .find(|m| m.sent_as(client_id, client_msg_id))
            .cloned())
    }

    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self
            .messages
            .iter()
            .filter(|m| m.seq > since)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    fn before(&mut self, before: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let older: Vec<&StoredMessage> = self.messages.iter().filter(|m| m.seq < before).collect();
        let skip = older.len().saturating_sub(limit as usize);
        Ok(older[skip..].iter().map(|m| (*m).clone()).collect())
    }

    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self.messages.iter().find(|m| m.seq == seq).cloned())
    }

    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        if let Some(kept) = self.messages.iter_mut().find(|m| m.seq == msg.seq) {
            kept.body.clone_from(&msg.body);
            kept.mentions.clone_from(&msg.mentions);
            kept.change = msg.change;
        }
        if msg.deleted() {
            self.reactions.retain(|r| r.0 != msg.seq);
        }
        Ok(())
    }

    fn changed_after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let mut changed: Vec<StoredMessage> = self
            .messages
            .iter()
            .filter(|m| m.seq <= since && m.change.is_some_and(|c| c.rev > since))
            .cloned()
            .collect();
        changed.sort_by_key(StoredMessage::latest_seq);
        changed.truncate(limit as usize);
        Ok(changed)
    }

    fn search(
        &mut self,
        query: &SearchQuery,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self
            .messages
            .iter()
            .rev()
            .filter(|m| m.seq < before && !m.deleted() && query.matches(&m.body))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    fn reactions(
        &mut self,
        seqs: &[u64],
        me: Option<&str>,
    ) -> Result<Vec<(u64, ReactionCount)>, StoreError> {
        let mut out: Vec<(u64, ReactionCount)> = Vec::new();
        for &seq in seqs {
            let at = out.len();
            for (_, emoji, who) in self.reactions.iter().filter(|r| r.0 == seq) {
                let mine = me.map(|me| me == who);
                match out[at..].iter_mut().find(|(_, c)| &c.emoji == emoji) {
                    Some((_, c)) => {
                        c.count += 1;
                        c.mine = c.mine.zip(mine).map(|(a, b)| a || b);
                    }
                    None => out.push((
                        seq,
                        ReactionCount {
                            emoji: emoji.clone(),
                            count: 1,
                            mine,
                        },
                    )),
                }
            }
        }
        Ok(out)
    }

    fn react(&mut self, t: &Toggle) -> Result<(), StoreError> {
        let same = |r: &(u64, String, String)| r.0 == t.seq && r.1 == t.emoji && r.2 == t.client_id;
        match t.on {
            true if !self.reactions.iter().any(same) => {
                self.reactions
                    .push((t.seq, t.emoji.clone(), t.client_id.clone()))
            }
            true => {}
            false => self.reactions.retain(|r| !same(r)),
        }
        self.reacted.insert(t.seq, t.rev);
        Ok(())
    }

    fn reacted_after(&mut self, since: u64, limit: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut changed: Vec<(u64, u64)> = (self.reacted.iter())
            .filter(|(&seq, &rev)| seq <= since && rev > since)
            .map(|(&seq, &rev)| (seq, rev))
            .collect();
        changed.sort_by_key(|&(_, rev)| rev);
        changed.truncate(limit as usize);
        Ok(changed)
    }

    fn read_pointer(&mut self, client_id: &str) -> Result<u64, StoreError> {
        Ok(self.read.get(client_id).copied().unwrap_or(0))
    }

    fn set_read_pointer(&mut self, client_id: &str, seq: u64, _: u64) -> Result<(), StoreError> {
        self.read.insert(client_id.to_owned(), seq);
        Ok(())
    }

    fn unread(&mut self, seq: u64, client_id: &str, cap: u64) -> Result<u64, StoreError> {
        let others = (self.messages.iter())
            .filter(|m| m.seq > seq && !m.deleted() && m.client_id != client_id);
        Ok(others.take(cap as usize).count() as u64)
    }

    fn kept(&mut self) -> Result<u64, StoreError> {
        Ok(self.messages.len() as u64)
    }

    fn oldest(&mut self, limit: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let oldest = self.messages.iter().take(limit as usize);
        Ok(oldest.map(|m| (m.seq, m.ts)).collect())
    }

    fn prune_through(&mut self, through: u64) -> Result<(), StoreError> {
        self.messages.retain(|m| m.seq > through);
        self.reactions.retain(|r| r.0 > through);
        self.reacted.retain(|&seq, _| seq > through);
        Ok(())
    }
}

/// A store whose appends fail, and its reads too when `fail_reads` is set,
/// counting the appends tried: for tests of what the room does when storage
/// fails.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct FailingHistory {
    pub inner: MemoryHistory,
    pub appends: usize,
    pub fail_reads: bool,
}

#[cfg(test)]
impl FailingHistory {
    fn read<T>(&mut self, f: impl FnOnce(&mut MemoryHistory) -> T) -> Result<T, StoreError> {
        match self.fail_reads {
            true => Err(StoreError("disk I/O error".into())),
            false => Ok(f(&mut self.inner)),
        }
    }
}

#[cfg(test)]
impl HistoryStore for FailingHistory {
    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        self.read(|s| s.latest_seq())?
    }
    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError> {
        self.read(|s| s.oldest_seq())?
    }
    fn epoch(&mut self) -> Result<String, StoreError> {
        self.read(|s| s.epoch())?
    }
    fn append(&mut self, _: &StoredMessage) -> Result<(), StoreError> {
        self.appends += 1;
        Err(StoreError("disk full".into()))
    }
    fn find(&mut self, c: &str, m: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.read(|s| s.find(c, m))?
    }
    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.after(since, limit))?
    }
    fn before(&mut self, before: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.before(before, limit))?
    }
    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        self.read(|s| s.get(seq))?
    }
    fn revise(&mut self, _: &StoredMessage) -> Result<(), StoreError> {
        Err(StoreError("disk full".into()))
    }
    fn changed_after(&mut self, since: u64, n: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.changed_after(since, n))?
    }
    fn search(
        &mut self,
        q: &SearchQuery,
        before: u64,
        n: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.search(q, before, n))?
    }
    fn reactions(
        &mut self,
        seqs: &[u64],
        me: Option<&str>,
    ) -> Result<Vec<(u64, ReactionCount)>, StoreError> {
        self.read(|s| s.reactions(seqs, me))?
    }
    fn react(&mut self, _: &Toggle) -> Result<(), StoreError> {
        Err(StoreError("disk full".into()))
    }
    fn reacted_after(&mut self, since: u64, n: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        self.read(|s| s.reacted_after(since, n))?
    }
    fn read_pointer(&mut self, c: &str) -> Result<u64, StoreError> {
        self.read(|s| s.read_pointer(c))?
    }
    fn set_read_pointer(&mut self, _: &str, _: u64, _: u64) -> Result<(), StoreError> {
        Err(StoreError("disk full".into()))
    }
    fn unread(&mut self, seq: u64, c: &str, cap: u64) -> Result<u64, StoreError> {
        self.read(|s| s.unread(seq, c, cap))?
    }
    fn kept(&mut self) -> Result<u64, StoreError> {
        self.read(|s| s.kept())?
    }
    fn oldest(&mut self, n: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        self.read(|s| s.oldest(n))?
    }
    fn prune_through(&mut self, _: u64) -> Result<(), StoreError> {
        Err(StoreError("disk full".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64) -> StoredMessage {
        StoredMessage {
            seq,
            ts: 1_000 + seq,
            client_id: "a".into(),
            name: None,
            body: format!("m{seq}"),
            client_msg_id: Some(format!("c{seq}")),
            change: None,
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    /// Records a change of message `seq` under `rev`, as the rules do.
    fn change(s: &mut MemoryHistory, seq: u64, rev: u64, deleted: bool) {
        let mut m = s.get(seq).unwrap().unwrap();
        m.body = if deleted {
            String::new()
        } else {
            format!("e{seq}")
        };
        m.change = Some(Change {
            rev,
            ts: 5_000 + rev,
            deleted,
        });
        s.revise(&m).unwrap();
    }

    /// A store holding `seqs`, and so many pruned before them that the
    /// oldest kept is `seqs`' first.
    fn store_with(seqs: std::ops::RangeInclusive<u64>) -> MemoryHistory {
        let mut s = MemoryHistory::default();
        for seq in seqs {
            s.append(&msg(seq)).unwrap();
        }
        s
    }

    fn seqs(c: &CatchUp) -> Vec<u64> {
        c.messages.iter().map(|m| m.seq).collect()
    }

    fn whole(s: &mut MemoryHistory, since: Option<u64>, limit: u64) -> CatchUp {
        catch_up(s, (since, None), limit, Reach::Whole).unwrap()
    }

    #[test]
    fn append_keeps_everything_and_refuses_a_seq_that_is_not_new() {
        let mut s = store_with(1..=2);
        assert!(s.append(&msg(2)).is_err());
        assert_eq!(s.kept().unwrap(), 2);
    }

    #[test]
    fn a_new_client_gets_the_recent_window() {
        let mut s = store_with(1..=10);
        let c = whole(&mut s, None, 4);
        assert_eq!(seqs(&c), [7, 8, 9, 10]);
        assert!(!c.truncated);
        assert_eq!(c.latest_seq, 10);
    }

    #[test]
    fn an_empty_room_has_empty_history() {
        let c = whole(&mut MemoryHistory::default(), None, 4);
        assert!(c.messages.is_empty());
        assert_eq!(c.latest_seq, 0);
    }

    #[test]
    fn since_returns_exactly_what_was_missed() {
        let mut s = store_with(1..=10);
        assert_eq!(seqs(&whole(&mut s, Some(6), 100)), [7, 8, 9, 10]);
        assert!(whole(&mut s, Some(10), 100).messages.is_empty());
        assert_eq!(seqs(&whole(&mut s, Some(0), 100)).len(), 10);
    }

    #[test]
    fn since_just_before_the_oldest_kept_is_still_complete() {
        let mut s = store_with(1..=10);
        s.prune_through(5).unwrap();
        let c = whole(&mut s, Some(5), 5);
        assert_eq!(seqs(&c), [6, 7, 8, 9, 10]);
        assert!(!c.truncated);
    }

    #[test]
    fn since_older_than_what_is_kept_is_truncated() {
        let mut s = store_with(1..=10);
        s.prune_through(5).unwrap();
        let c = whole(&mut s, Some(3), 5);
        assert!(c.truncated);
        assert_eq!(seqs(&c), [6, 7, 8, 9, 10]);
    }

    #[test]
    fn since_ahead_of_the_room_is_truncated() {
        let mut s = store_with(1..=3);
        let c = whole(&mut s, Some(99), 5);
        assert!(c.truncated);
        assert_eq!(seqs(&c), [1, 2, 3]);
    }

    #[test]
    fn a_since_from_another_epoch_starts_over_with_reset() {
        let mut s = store_with(1..=10);
        let same = catch_up(&mut s, (Some(8), Some(MEMORY_EPOCH)), 5, Reach::Whole).unwrap();
        assert_eq!(
            (seqs(&same), same.reset, same.epoch.as_str()),
            (vec![9, 10], false, MEMORY_EPOCH)
        );
        let other = catch_up(&mut s, (Some(8), Some("0123abcd")), 5, Reach::Whole).unwrap();
        assert_eq!(
            (seqs(&other), other.reset, other.truncated),
            (vec![6, 7, 8, 9, 10], true, true)
        );
        let first = catch_up(&mut s, (None, Some("0123abcd")), 5, Reach::Whole).unwrap();
        assert!(!first.reset, "no since, nothing to distrust");
    }

    #[test]
    fn a_socket_that_missed_more_than_the_window_starts_over_from_it() {
        let mut s = store_with(1..=10);
        let c = whole(&mut s, Some(3), 5);
        assert!(
            c.truncated,
            "7 missed, 5 fit: live frames must not follow a gap"
        );
        assert_eq!(seqs(&c), [6, 7, 8, 9, 10]);
        let exact = whole(&mut s, Some(5), 5);
        assert!(!exact.truncated);
    }

    #[test]
    fn an_http_page_after_since_goes_on_where_a_socket_would_start_over() {
        let mut s = store_with(1..=10);
        let page = catch_up(&mut s, (Some(3), None), 5, Reach::Page).unwrap();
        assert!(!page.truncated);
        assert_eq!(seqs(&page), [4, 5, 6, 7, 8]);
    }

    #[test]
    fn more_changes_than_fit_start_over_too() {
        let mut s = store_with(1..=4);
        for (seq, rev) in [(1, 5), (2, 6), (3, 7)] {
            change(&mut s, seq, rev, false);
        }
        let c = whole(&mut s, Some(4), 2);
        assert!(c.truncated);
        assert!(c.changes.is_empty());
        assert_eq!(whole(&mut s, Some(4), 3).changes.len(), 3);
    }

    #[test]
    fn scrollback_is_the_newest_page_before_a_seq_oldest_first() {
        let mut s = store_with(1..=10);
        let seqs_of = |v: Vec<StoredMessage>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
        assert_eq!(seqs_of(s.before(8, 3).unwrap()), [5, 6, 7]);
        assert_eq!(seqs_of(s.before(3, 5).unwrap()), [1, 2]);
        assert!(s.before(1, 5).unwrap().is_empty());
        assert_eq!(seqs_of(s.recent(2).unwrap()), [9, 10]);
    }

    #[test]
    fn search_is_newest_first_and_sees_only_current_text() {
        let mut s = MemoryHistory::default();
        for (seq, body) in [
            (1, "deploy done"),
            (2, "lunch"),
            (3, "Deploy again"),
            (4, "deploy x"),
        ] {
            s.append(&StoredMessage {
                body: body.into(),
                ..msg(seq)
            })
            .unwrap();
        }
        change(&mut s, 4, 5, true);
        change(&mut s, 2, 6, false);
        let q = SearchQuery::parse("deploy").unwrap();
        let hits: Vec<u64> = s
            .search(&q, u64::MAX, 10)
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(hits, [3, 1], "deleted 4 never matches");
        let paged: Vec<u64> = s.search(&q, 3, 10).unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(paged, [1]);
        let edited = SearchQuery::parse("e2").unwrap();
        assert_eq!(s.search(&edited, u64::MAX, 10).unwrap().len(), 1);
        let old = SearchQuery::parse("lunch").unwrap();
        assert!(
            s.search(&old, u64::MAX, 10).unwrap().is_empty(),
            "an edit's old text is gone"
        );
    }

    #[test]
    fn pruning_lets_go_of_the_oldest_with_their_changes() {
        let mut s = store_with(1..=5);
        change(&mut s, 2, 6, true);
        s.prune_through(2).unwrap();
        assert_eq!(s.oldest(10).unwrap(), [(3, 1_003), (4, 1_004), (5, 1_005)]);
        assert_eq!(s.kept().unwrap(), 3);
        assert!(s.changed_after(5, 10).unwrap().is_empty());
    }

    #[test]
    fn find_matches_client_and_client_msg_id() {
        let mut s = store_with(1..=3);
        assert_eq!(s.find("a", "c2").unwrap().map(|m| m.seq), Some(2));
        assert_eq!(s.find("b", "c2").unwrap(), None);
    }

    #[test]
    fn ids_are_unique_per_seq_and_time() {
        assert_ne!(msg(1).id(), msg(2).id());
    }

    #[test]
    fn an_id_names_its_seq_and_nothing_else_parses() {
        assert_eq!(StoredMessage::seq_of_id(&msg(42).id()), Some(42));
        for bad in [
            "",
            "m",
            "m1",
            "x1-1",
            "m-1",
            "m1-",
            "m1-zz",
            "m1-1-1",
            "m99999999999999999999-1",
        ] {
            assert_eq!(StoredMessage::seq_of_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn changes_take_the_next_seq_and_since_returns_them_once() {
        let mut s = store_with(1..=5);
        change(&mut s, 2, 6, true);
        change(&mut s, 3, 7, false);
        assert_eq!(s.latest_seq().unwrap(), 7);
        // Offline since 5: both changes, by their own seq, and no message.
        let c = whole(&mut s, Some(5), 100);
        assert!(c.messages.is_empty());
        let revs: Vec<u64> = c.changes.iter().map(|m| m.change.unwrap().rev).collect();
        assert_eq!(revs, [6, 7]);
        // Offline since 6: only the edit.
        assert_eq!(whole(&mut s, Some(6), 100).changes.len(), 1);
        assert!(whole(&mut s, Some(7), 100).changes.is_empty());
    }

    #[test]
    fn messages_after_since_come_as_they_are_now_and_not_again_as_changes() {
        let mut s = store_with(1..=3);
        change(&mut s, 3, 4, false);
        let c = whole(&mut s, Some(2), 100);
        assert_eq!(seqs(&c), [3]);
        assert_eq!(c.messages[0].body, "e3");
        assert!(c.changes.is_empty());
    }

    #[test]
    fn a_tombstone_keeps_its_seq_and_loses_its_text() {
        let mut s = store_with(1..=2);
        change(&mut s, 1, 3, true);
        let kept = s.get(1).unwrap().unwrap().to_kept();
        assert!(kept.deleted);
        assert_eq!((kept.chat.seq, kept.chat.line.message.as_str()), (1, ""));
        assert_eq!(kept.edited_ts, None);
        let edited = {
            change(&mut s, 2, 4, false);
            s.get(2).unwrap().unwrap().to_kept()
        };
        assert_eq!(edited.edited_ts, Some(5_004));
        assert_eq!(edited.chat.line.message, "e2");
    }

    #[test]
    fn a_change_frame_is_a_delete_or_an_edit_under_the_changes_seq() {
        let mut s = store_with(1..=2);
        change(&mut s, 1, 3, true);
        change(&mut s, 2, 4, false);
        let mut frame = |seq| s.get(seq).unwrap().unwrap().change_frame().unwrap();
        assert!(
            matches!(frame(1), ServerFrame::Delete(d) if d.seq == 3 && d.line.message.is_empty())
        );
        assert!(
            matches!(frame(2), ServerFrame::Edit(e) if e.seq == 4 && e.edited_ts == Some(5_004))
        );
        assert_eq!(msg(1).change_frame(), None);
    }
}
