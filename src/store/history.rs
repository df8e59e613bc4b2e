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

use crate::wire::error::StoreError;
use crate::wire::protocol::{ChangeLine, ChatLine, KeptLine, Line, ServerFrame};

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
        };
        Some(match change.deleted {
            true => ServerFrame::Delete(line),
            false => ServerFrame::Edit(line),
        })
    }
}

/// What the room needs from storage. Every method is one synchronous step,
/// as SQLite in a Durable Object is.
pub trait HistoryStore {
    /// The newest `seq` of a message or a change, or 0 if the room has
    /// never stored a message.
    fn latest_seq(&mut self) -> Result<u64, StoreError>;
    /// The oldest `seq` still kept, if any.
    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError>;
    /// Stores `msg` and prunes everything but the newest `keep` messages.
    fn append(&mut self, msg: &StoredMessage, keep: u64) -> Result<(), StoreError>;
    /// Stores `msgs` in order, then prunes once, stopping at the first
    /// failure. A store may do it in fewer steps than one per message.
    fn append_all(&mut self, msgs: &[StoredMessage], keep: u64) -> Result<(), StoreError> {
        let last = msgs.len().saturating_sub(1);
        for (i, msg) in msgs.iter().enumerate() {
            // Pruning after every row would delete rows written a moment
            // before; pruning after the last one leaves the same window.
            self.append(msg, if i == last { keep } else { u64::MAX })?;
        }
        Ok(())
    }
    /// The message `client_id` sent under `client_msg_id`, if still kept.
    fn find(
        &mut self,
        client_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError>;
    /// Messages with `seq > since`, oldest first, at most `limit`.
    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError>;
    /// The newest `limit` messages, oldest first.
    fn recent(&mut self, limit: u64) -> Result<Vec<StoredMessage>, StoreError>;
    /// The kept message with this `seq`.
    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError>;
    /// Stores a kept message's new text and [`Change`].
    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError>;
    /// Messages with `seq <= since` changed after `since`, by change.
    fn changed_after(&mut self, since: u64) -> Result<Vec<StoredMessage>, StoreError>;
}

/// What a joining client is sent, before live traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub messages: Vec<StoredMessage>,
    /// Messages the client already had that changed since: sent as change
    /// frames.
    pub changes: Vec<StoredMessage>,
    pub latest_seq: u64,
    /// Messages the client asked for are gone: `messages` is the whole kept
    /// window instead.
    pub truncated: bool,
}

/// Picks the history for a client that last saw `since` (or nothing).
///
/// With `since`, the client gets exactly the messages after it when all of
/// them are still kept. When some were pruned, or `since` is ahead of the
/// room (its storage was reset), the client cannot be made whole: it gets
/// the full kept window and `truncated`, so it can say so and start over.
pub fn catch_up(
    store: &mut impl HistoryStore,
    since: Option<u64>,
    limit: u64,
) -> Result<CatchUp, StoreError> {
    let latest_seq = store.latest_seq()?;
    let complete = match since {
        None => false,
        Some(since) if since > latest_seq => false,
        Some(since) if since == latest_seq => {
            return Ok(CatchUp {
                messages: Vec::new(),
                changes: Vec::new(),
                latest_seq,
                truncated: false,
            })
        }
        Some(since) => store.oldest_seq()?.unwrap_or(latest_seq + 1) <= since + 1,
    };
    Ok(match (since, complete) {
        (Some(since), true) => CatchUp {
            messages: store.after(since, limit)?,
            changes: store.changed_after(since)?,
            latest_seq,
            truncated: false,
        },
        _ => CatchUp {
            messages: store.recent(limit)?,
            changes: Vec::new(),
            latest_seq,
            truncated: since.is_some(),
        },
    })
}

/// An in-memory [`HistoryStore`] with the same semantics as the SQLite one.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    messages: Vec<StoredMessage>,
}

impl HistoryStore for MemoryHistory {
    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .messages
            .iter()
            .map(StoredMessage::latest_seq)
            .fold(0, u64::max))
    }

    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError> {
        Ok(self.messages.first().map(|m| m.seq))
    }

    fn append(&mut self, msg: &StoredMessage, keep: u64) -> Result<(), StoreError> {
        if self.messages.last().is_some_and(|m| m.seq >= msg.seq) {
            return Err(StoreError("a message's seq is not new".into()));
        }
        self.messages.push(msg.clone());
        let excess = self.messages.len().saturating_sub(keep as usize);
        self.messages.drain(..excess);
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

    fn recent(&mut self, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let skip = self.messages.len().saturating_sub(limit as usize);
        Ok(self.messages[skip..].to_vec())
    }

    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self.messages.iter().find(|m| m.seq == seq).cloned())
    }

    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        if let Some(kept) = self.messages.iter_mut().find(|m| m.seq == msg.seq) {
            kept.body.clone_from(&msg.body);
            kept.change = msg.change;
        }
        Ok(())
    }

    fn changed_after(&mut self, since: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let mut changed: Vec<StoredMessage> = self
            .messages
            .iter()
            .filter(|m| m.seq <= since && m.change.is_some_and(|c| c.rev > since))
            .cloned()
            .collect();
        changed.sort_by_key(StoredMessage::latest_seq);
        Ok(changed)
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
    fn append(&mut self, _: &StoredMessage, _: u64) -> Result<(), StoreError> {
        self.appends += 1;
        Err(StoreError("disk full".into()))
    }
    fn find(&mut self, c: &str, m: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.read(|s| s.find(c, m))?
    }
    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.after(since, limit))?
    }
    fn recent(&mut self, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.recent(limit))?
    }
    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        self.read(|s| s.get(seq))?
    }
    fn revise(&mut self, _: &StoredMessage) -> Result<(), StoreError> {
        Err(StoreError("disk full".into()))
    }
    fn changed_after(&mut self, since: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.read(|s| s.changed_after(since))?
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

    fn store_with(seqs: std::ops::RangeInclusive<u64>, keep: u64) -> MemoryHistory {
        let mut s = MemoryHistory::default();
        for seq in seqs {
            s.append(&msg(seq), keep).unwrap();
        }
        s
    }

    fn seqs(c: &CatchUp) -> Vec<u64> {
        c.messages.iter().map(|m| m.seq).collect()
    }

    #[test]
    fn append_keeps_only_the_newest() {
        let mut s = store_with(1..=10, 3);
        assert_eq!(s.oldest_seq().unwrap(), Some(8));
        assert_eq!(s.latest_seq().unwrap(), 10);
    }

    #[test]
    fn append_refuses_a_seq_that_is_not_new() {
        let mut s = store_with(1..=2, 10);
        assert!(s.append(&msg(2), 10).is_err());
    }

    #[test]
    fn a_new_client_gets_the_recent_window() {
        let mut s = store_with(1..=10, 100);
        let c = catch_up(&mut s, None, 4).unwrap();
        assert_eq!(seqs(&c), [7, 8, 9, 10]);
        assert!(!c.truncated);
        assert_eq!(c.latest_seq, 10);
    }

    #[test]
    fn an_empty_room_has_empty_history() {
        let c = catch_up(&mut MemoryHistory::default(), None, 4).unwrap();
        assert!(c.messages.is_empty());
        assert_eq!(c.latest_seq, 0);
    }

    #[test]
    fn since_returns_exactly_what_was_missed() {
        let mut s = store_with(1..=10, 100);
        assert_eq!(
            seqs(&catch_up(&mut s, Some(6), 100).unwrap()),
            [7, 8, 9, 10]
        );
        assert!(catch_up(&mut s, Some(10), 100).unwrap().messages.is_empty());
        assert_eq!(seqs(&catch_up(&mut s, Some(0), 100).unwrap()).len(), 10);
    }

    #[test]
    fn since_just_before_the_window_is_still_complete() {
        let mut s = store_with(1..=10, 5);
        let c = catch_up(&mut s, Some(5), 5).unwrap();
        assert_eq!(seqs(&c), [6, 7, 8, 9, 10]);
        assert!(!c.truncated);
    }

    #[test]
    fn since_older_than_the_window_is_truncated() {
        let mut s = store_with(1..=10, 5);
        let c = catch_up(&mut s, Some(3), 5).unwrap();
        assert!(c.truncated);
        assert_eq!(seqs(&c), [6, 7, 8, 9, 10]);
    }

    #[test]
    fn since_ahead_of_the_room_is_truncated() {
        let mut s = store_with(1..=3, 5);
        let c = catch_up(&mut s, Some(99), 5).unwrap();
        assert!(c.truncated);
        assert_eq!(seqs(&c), [1, 2, 3]);
    }

    #[test]
    fn find_matches_client_and_client_msg_id() {
        let mut s = store_with(1..=3, 5);
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
        let mut s = store_with(1..=5, 100);
        change(&mut s, 2, 6, true);
        change(&mut s, 3, 7, false);
        assert_eq!(s.latest_seq().unwrap(), 7);
        // Offline since 5: both changes, by their own seq, and no message.
        let c = catch_up(&mut s, Some(5), 100).unwrap();
        assert!(c.messages.is_empty());
        let revs: Vec<u64> = c.changes.iter().map(|m| m.change.unwrap().rev).collect();
        assert_eq!(revs, [6, 7]);
        // Offline since 6: only the edit.
        assert_eq!(catch_up(&mut s, Some(6), 100).unwrap().changes.len(), 1);
        assert!(catch_up(&mut s, Some(7), 100).unwrap().changes.is_empty());
    }

    #[test]
    fn messages_after_since_come_as_they_are_now_and_not_again_as_changes() {
        let mut s = store_with(1..=3, 100);
        change(&mut s, 3, 4, false);
        let c = catch_up(&mut s, Some(2), 100).unwrap();
        assert_eq!(seqs(&c), [3]);
        assert_eq!(c.messages[0].body, "e3");
        assert!(c.changes.is_empty());
    }

    #[test]
    fn a_tombstone_keeps_its_seq_and_loses_its_text() {
        let mut s = store_with(1..=2, 100);
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
        let mut s = store_with(1..=2, 100);
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

    #[test]
    fn pruning_counts_messages_not_seqs() {
        let mut s = store_with(1..=3, 3);
        change(&mut s, 3, 4, true);
        s.append(&msg(5), 3).unwrap();
        assert_eq!(
            s.recent(10).unwrap().len(),
            3,
            "the change took a seq, not a slot"
        );
    }
}
