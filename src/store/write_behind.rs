//! Writing a busy room's messages to storage in one commit per batch.
//!
//! Each storage commit of a Durable Object is a durable write (a local fsync
//! under workerd, a replicated write on Cloudflare), and the runtime commits
//! once per event that wrote. At a few thousand messages a second those
//! commits, not the room's CPU, become the limit. A message that will only be
//! broadcast at the next coalescing flush need not be written before then: it
//! waits here, and the flush writes every waiting message together, before
//! any frame about them goes out.
//!
//! What stays true: no frame mentioning a message (broadcast, `ack`, history)
//! leaves before the message is written, because the adapter commits this
//! buffer before every send and before any history read. A message still
//! waiting here when the object dies was seen by nobody and acknowledged to
//! nobody; its sender resends it (by `clientMsgId`) after reconnecting.

use crate::store::history::{HistoryStore, StoredMessage, Toggle};
use crate::store::search::SearchQuery;
use crate::wire::error::StoreError;
use crate::wire::protocol::ReactionCount;

/// Accepted messages not yet written, and the newest `seq` the room has
/// handed out, so a message does not need a storage read to get its number.
#[derive(Debug, Default)]
pub struct WriteBehind {
    waiting: Vec<StoredMessage>,
    /// The newest seq written or waiting; `None` until storage was asked.
    latest_seq: Option<u64>,
}

impl WriteBehind {
    /// A [`HistoryStore`] over `store` whose appends wait here.
    pub fn over<'a, S: HistoryStore>(&'a mut self, store: &'a mut S) -> Buffered<'a, S> {
        Buffered {
            behind: self,
            store,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Writes every waiting message, oldest first. Returns how many were
    /// written.
    ///
    /// On failure nothing waiting is kept and the cached seq is forgotten, so
    /// the next message asks storage again: the caller must then make sure no
    /// frame about the lost messages goes out.
    pub fn commit<S: HistoryStore>(&mut self, store: &mut S) -> Result<usize, StoreError> {
        let waiting = std::mem::take(&mut self.waiting);
        if let Err(err) = store.append_all(&waiting) {
            self.latest_seq = None;
            return Err(err);
        }
        Ok(waiting.len())
    }
}

/// [`WriteBehind`] seen as the room's storage.
pub struct Buffered<'a, S> {
    behind: &'a mut WriteBehind,
    store: &'a mut S,
}

impl<S: HistoryStore> Buffered<'_, S> {
    /// Reads that return messages see waiting ones only once written; they
    /// come on joins, which are rare next to messages.
    fn written(&mut self) -> Result<&mut S, StoreError> {
        self.behind.commit(self.store)?;
        Ok(self.store)
    }
}

impl<S: HistoryStore> HistoryStore for Buffered<'_, S> {
    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        if let Some(seq) = self.behind.latest_seq {
            return Ok(seq);
        }
        let seq = self.store.latest_seq()?;
        self.behind.latest_seq = Some(seq);
        Ok(seq)
    }

    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError> {
        self.written()?.oldest_seq()
    }

    fn epoch(&mut self) -> Result<String, StoreError> {
        self.store.epoch()
    }

    fn append(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        let latest = self.latest_seq()?;
        if msg.seq <= latest {
            return Err(StoreError("a message's seq is not new".into()));
        }
        self.behind.latest_seq = Some(msg.seq);
        self.behind.waiting.push(msg.clone());
        Ok(())
    }

    fn find(
        &mut self,
        client_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let waiting = self
            .behind
            .waiting
            .iter()
            .find(|m| m.sent_as(client_id, client_msg_id));
        match waiting {
            Some(m) => Ok(Some(m.clone())),
            None => self.store.find(client_id, client_msg_id),
        }
    }

    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.written()?.after(since, limit)
    }

    fn recent(&mut self, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.written()?.recent(limit)
    }

    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        match self.behind.waiting.iter().find(|m| m.seq == seq) {
            Some(m) => Ok(Some(m.clone())),
            None => self.store.get(seq),
        }
    }

    /// A change to a waiting message is written with it at the next commit;
    /// one to a written message is written now. Neither commits what waits,
    /// so an edit in a busy room costs no extra commit.
    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        let latest = self.latest_seq()?;
        match self.behind.waiting.iter_mut().find(|m| m.seq == msg.seq) {
            Some(waiting) => waiting.clone_from(msg),
            None => self.store.revise(msg)?,
        }
        self.behind.latest_seq = Some(latest.max(msg.latest_seq()));
        Ok(())
    }

    fn changed_after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.written()?.changed_after(since, limit)
    }

    fn before(&mut self, before: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        self.written()?.before(before, limit)
    }

    fn search(
        &mut self,
        query: &SearchQuery,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        self.written()?.search(query, before, limit)
    }

    fn reactions(
        &mut self,
        seqs: &[u64],
        me: Option<&str>,
    ) -> Result<Vec<(u64, ReactionCount)>, StoreError> {
        self.written()?.reactions(seqs, me)
    }

    /// Written now, after what waits: a reaction is about a message that
    /// must exist in storage first.
    fn react(&mut self, toggle: &Toggle) -> Result<(), StoreError> {
        let latest = self.latest_seq()?;
        self.written()?.react(toggle)?;
        self.behind.latest_seq = Some(latest.max(toggle.rev));
        Ok(())
    }

    fn reacted_after(&mut self, since: u64, limit: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        self.written()?.reacted_after(since, limit)
    }

    fn read_pointer(&mut self, client_id: &str) -> Result<u64, StoreError> {
        self.store.read_pointer(client_id)
    }

    fn set_read_pointer(&mut self, client_id: &str, seq: u64, ts: u64) -> Result<(), StoreError> {
        self.store.set_read_pointer(client_id, seq, ts)
    }

    fn unread(&mut self, seq: u64, client_id: &str, cap: u64) -> Result<u64, StoreError> {
        self.written()?.unread(seq, client_id, cap)
    }

    fn kept(&mut self) -> Result<u64, StoreError> {
        self.written()?.kept()
    }

    fn oldest(&mut self, limit: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        self.written()?.oldest(limit)
    }

    fn prune_through(&mut self, through: u64) -> Result<(), StoreError> {
        self.written()?.prune_through(through)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::{FailingHistory, MemoryHistory};

    fn msg(seq: u64, cmid: Option<&str>) -> StoredMessage {
        StoredMessage {
            seq,
            ts: 1_000 + seq,
            client_id: "a".into(),
            name: None,
            body: format!("m{seq}"),
            client_msg_id: cmid.map(String::from),
            change: None,
            reply_to: None,
            mentions: Vec::new(),
        }
    }

    #[test]
    fn appends_wait_until_commit_and_are_then_written_in_order() {
        let (mut behind, mut store) = (WriteBehind::default(), MemoryHistory::default());
        for seq in 1..=3 {
            behind.over(&mut store).append(&msg(seq, None)).unwrap();
        }
        assert_eq!(store.latest_seq().unwrap(), 0, "nothing written yet");
        assert_eq!(behind.commit(&mut store).unwrap(), 3);
        let seqs: Vec<u64> = store.recent(10).unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert!(behind.is_empty());
    }

    #[test]
    fn the_next_seq_comes_from_memory_once_storage_was_asked() {
        let mut store = MemoryHistory::default();
        store.append(&msg(7, None)).unwrap();
        let mut behind = WriteBehind::default();
        assert_eq!(behind.over(&mut store).latest_seq().unwrap(), 7);
        behind.over(&mut store).append(&msg(8, None)).unwrap();
        assert_eq!(behind.over(&mut store).latest_seq().unwrap(), 8);
        assert!(behind.over(&mut store).append(&msg(8, None)).is_err());
    }

    #[test]
    fn dedupe_sees_waiting_messages() {
        let (mut behind, mut store) = (WriteBehind::default(), MemoryHistory::default());
        behind.over(&mut store).append(&msg(1, Some("x"))).unwrap();
        let found = behind.over(&mut store).find("a", "x").unwrap();
        assert_eq!(found.map(|m| m.seq), Some(1));
        assert_eq!(behind.over(&mut store).find("a", "y").unwrap(), None);
    }

    #[test]
    fn history_reads_write_waiting_messages_first() {
        let (mut behind, mut store) = (WriteBehind::default(), MemoryHistory::default());
        behind.over(&mut store).append(&msg(1, None)).unwrap();
        let recent = behind.over(&mut store).recent(10).unwrap();
        assert_eq!(recent.len(), 1);
        assert!(behind.is_empty());
        assert_eq!(store.latest_seq().unwrap(), 1);
    }

    #[test]
    fn one_commit_stores_what_appending_one_by_one_does() {
        let (mut behind, mut batched) = (WriteBehind::default(), MemoryHistory::default());
        let mut direct = MemoryHistory::default();
        for seq in 1..=10 {
            behind.over(&mut batched).append(&msg(seq, None)).unwrap();
            direct.append(&msg(seq, None)).unwrap();
        }
        behind.commit(&mut batched).unwrap();
        assert_eq!(batched.recent(100).unwrap(), direct.recent(100).unwrap());
    }

    #[test]
    fn scrollback_search_and_pruning_see_waiting_messages_written_first() {
        let (mut behind, mut store) = (WriteBehind::default(), MemoryHistory::default());
        behind.over(&mut store).append(&msg(1, None)).unwrap();
        assert_eq!(behind.over(&mut store).before(9, 5).unwrap().len(), 1);
        behind.over(&mut store).append(&msg(2, None)).unwrap();
        let q = SearchQuery::parse("m2").unwrap();
        assert_eq!(behind.over(&mut store).search(&q, 9, 5).unwrap().len(), 1);
        behind.over(&mut store).append(&msg(3, None)).unwrap();
        assert_eq!(behind.over(&mut store).kept().unwrap(), 3);
        assert!(behind.is_empty());
    }

    #[test]
    fn a_change_to_a_waiting_message_is_written_with_it_and_takes_the_next_seq() {
        let (mut behind, mut store) = (WriteBehind::default(), MemoryHistory::default());
        behind.over(&mut store).append(&msg(1, None)).unwrap();
        let mut changed = behind.over(&mut store).get(1).unwrap().unwrap();
        changed.body = "edited".into();
        changed.change = Some(crate::store::history::Change {
            rev: 2,
            ts: 9,
            deleted: false,
        });
        behind.over(&mut store).revise(&changed).unwrap();
        assert_eq!(behind.over(&mut store).latest_seq().unwrap(), 2);
        assert_eq!(store.latest_seq().unwrap(), 0, "still waiting");
        behind.commit(&mut store).unwrap();
        assert_eq!(store.get(1).unwrap(), Some(changed));
        assert_eq!(store.latest_seq().unwrap(), 2);
    }

    #[test]
    fn a_failed_commit_drops_the_waiting_messages_and_rereads_the_seq() {
        let (mut behind, mut store) = (WriteBehind::default(), FailingHistory::default());
        behind.over(&mut store).append(&msg(1, None)).unwrap();
        behind.over(&mut store).append(&msg(2, None)).unwrap();
        assert!(behind.commit(&mut store).is_err());
        assert_eq!(store.appends, 1, "stops at the first failure");
        assert!(behind.is_empty());
        assert_eq!(behind.over(&mut store).latest_seq().unwrap(), 0);
    }
}
