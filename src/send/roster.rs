//! The room's open sockets and their sessions, held in memory.
//!
//! Listing the runtime's sockets and reading each one's attachment crosses
//! into JavaScript once per socket; doing that per message (to pick the
//! recipients) or per join (for the member list) was a large share of the
//! room's cost. The roster keeps the same facts in memory under each
//! connection's key. It is never the only copy: every session is also in its
//! socket's attachment, so an object that wakes from hibernation rebuilds
//! the roster from the runtime's socket list, as presence always did.
//!
//! Each entry is the one record of a connection: its socket, its session,
//! its flow-control [`Meter`] (so the send path books every frame without
//! a lookup), its rate bucket and when it last sent a frame. The roster also
//! keeps the room's [`Flow`] total, so a socket that leaves frees its bytes.
//!
//! The bucket and the last frame live in memory only. Losing them to
//! hibernation is harmless: a room only sleeps after seconds of silence, by
//! which time every bucket is full again, and after a wake-up the idle clock
//! restarts (see [`crate::room::is_idle`]).
//!
//! Generic over the socket type so the rules can be tested natively.

use std::collections::HashMap;

use crate::room::rate_limit::TokenBucket;
use crate::room::session::Session;
use crate::send::flow::{Flow, MarkKey, Meter};
use crate::settings::config::Budgets;
use crate::settings::config::Config;

/// One open connection and everything the room knows about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection<S> {
    pub socket: S,
    pub session: Session,
    /// Bytes sent to it and not confirmed; in memory only.
    pub meter: Meter,
    /// Its rate budget; `None` until its first frame since the room woke,
    /// which counts as a full bucket.
    pub bucket: Option<TokenBucket>,
    /// When it last sent a frame, since the room woke.
    pub last_frame: Option<u64>,
}

#[derive(Debug)]
pub struct Roster<S> {
    members: Vec<Connection<S>>,
    /// Position in `members` by connection key.
    index: HashMap<u64, usize>,
    flow: Flow,
}

impl<S> Default for Roster<S> {
    fn default() -> Self {
        Roster::new(Config::default().flow, MarkKey(0, 0))
    }
}

impl<S> Roster<S> {
    /// An empty room; `key` is its secret for marks (see [`MarkKey`]).
    pub fn new(budgets: Budgets, key: MarkKey) -> Self {
        Roster {
            members: Vec::new(),
            index: HashMap::new(),
            flow: Flow::new(budgets, key),
        }
    }

    /// Adds a socket, or replaces the one with the same connection key.
    pub fn insert(&mut self, socket: S, session: Session) {
        let meter = Meter::new(session.conn, session.proves);
        let mut member = Connection {
            socket,
            session,
            meter,
            bucket: None,
            last_frame: None,
        };
        match self.index.get(&member.session.conn) {
            Some(&at) => {
                // The same connection listed again: its rate and its
                // silence carry over; its new socket starts its books anew.
                let old = &self.members[at];
                self.flow.forget(&old.meter);
                (member.bucket, member.last_frame) = (old.bucket.clone(), old.last_frame);
                self.members[at] = member;
            }
            None => {
                self.index.insert(member.session.conn, self.members.len());
                self.members.push(member);
            }
        }
    }

    /// Takes a socket out; the last member moves into its place.
    pub fn remove(&mut self, key: u64) -> Option<Connection<S>> {
        let at = self.index.remove(&key)?;
        let removed = self.members.swap_remove(at);
        self.flow.forget(&removed.meter);
        if let Some(moved) = self.members.get(at) {
            self.index.insert(moved.session.conn, at);
        }
        Some(removed)
    }

    pub fn get(&self, key: u64) -> Option<&Connection<S>> {
        self.index.get(&key).map(|&at| &self.members[at])
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut Connection<S>> {
        self.index.get(&key).map(|&at| &mut self.members[at])
    }

    /// The members with their meters, and the room's books, for the send
    /// path to update together.
    pub fn books(&mut self) -> (&mut [Connection<S>], &mut Flow) {
        (&mut self.members, &mut self.flow)
    }

    pub fn flow(&self) -> &Flow {
        &self.flow
    }

    /// Picks and cuts the plain sockets to close for the room's budget at
    /// `now` (see [`Flow::evictions`]), bringing every plain socket's
    /// presumed reading up to date first.
    pub fn evict(&mut self, now: u64) -> Vec<u64> {
        let flow = &mut self.flow;
        let plain = self.members.iter_mut().filter(|c| !c.meter.proves());
        let plain: Vec<&mut Connection<S>> = plain.filter(|c| !c.meter.is_cut()).collect();
        let mut held = Vec::with_capacity(plain.len());
        for conn in plain {
            flow.presume_read(&mut conn.meter, now);
            held.push((conn.session.conn, conn.meter.unconfirmed()));
        }
        let keys = flow.evictions(held.into_iter());
        for &key in &keys {
            if let Some(conn) = self.get_mut(key) {
                Flow::cut(&mut conn.meter);
            }
        }
        keys
    }

    /// Runs `f` on one member's meter and the room's books.
    pub fn with_meter<R>(
        &mut self,
        key: u64,
        f: impl FnOnce(&mut Flow, &mut Meter) -> R,
    ) -> Option<R> {
        let at = *self.index.get(&key)?;
        Some(f(&mut self.flow, &mut self.members[at].meter))
    }

    /// The connection's rate bucket, or a full one if it has sent nothing
    /// since the room woke (or is not a member).
    pub fn bucket(&self, key: u64, burst: u32, now: u64) -> TokenBucket {
        let kept = self.get(key).and_then(|c| c.bucket.clone());
        kept.unwrap_or_else(|| TokenBucket::full(burst, now))
    }

    /// Keeps the bucket after a frame that arrived `at`.
    pub fn record(&mut self, key: u64, bucket: TokenBucket, at: u64) {
        if let Some(conn) = self.get_mut(key) {
            (conn.bucket, conn.last_frame) = (Some(bucket), Some(at));
        }
    }

    /// Notes a frame `at` that took nothing from the bucket.
    pub fn touch(&mut self, key: u64, at: u64) {
        if let Some(conn) = self.get_mut(key) {
            conn.last_frame = Some(at);
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connection<S>> {
        self.members.iter()
    }

    /// Every session but the one under `key`.
    pub fn sessions_except(&self, key: u64) -> impl Iterator<Item = &Session> {
        self.members
            .iter()
            .map(|m| &m.session)
            .filter(move |s| s.conn != key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, conn: u64) -> Session {
        let mut s = Session::of(id, None);
        s.conn = conn;
        s
    }

    fn roster(ids: &[(&str, u64)]) -> Roster<u64> {
        let mut r = Roster::default();
        for &(id, conn) in ids {
            r.insert(conn, session(id, conn));
        }
        r
    }

    #[test]
    fn members_are_found_by_connection_key() {
        let r = roster(&[("a", 1), ("b", 2)]);
        assert_eq!(r.get(2).map(|m| m.session.client_id.as_str()), Some("b"));
        assert!(r.get(3).is_none());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn removing_a_member_keeps_every_other_findable() {
        let mut r = roster(&[("a", 1), ("b", 2), ("c", 3)]);
        assert_eq!(r.remove(1).map(|m| m.socket), Some(1));
        assert!(r.remove(1).is_none(), "only once");
        for (id, key) in [("b", 2), ("c", 3)] {
            assert_eq!(r.get(key).map(|m| m.session.client_id.as_str()), Some(id));
        }
        r.remove(3);
        r.remove(2);
        assert!(r.is_empty());
    }

    #[test]
    fn inserting_the_same_key_again_replaces_the_member() {
        let mut r = roster(&[("a", 1)]);
        r.insert(9, session("a2", 1));
        assert_eq!(r.len(), 1);
        assert_eq!(r.get(1).map(|m| m.socket), Some(9));
    }

    #[test]
    fn a_member_that_leaves_or_is_replaced_frees_its_bytes() {
        let mut r = roster(&[("a", 1), ("b", 2)]);
        for key in [1, 2] {
            r.with_meter(key, |flow, meter| flow.sent(meter, 100, 0));
        }
        assert_eq!(r.flow().total(), 200);
        r.remove(1);
        assert_eq!(r.flow().total(), 100);
        r.insert(7, session("b", 2));
        assert_eq!(r.flow().total(), 0);
    }

    #[test]
    fn a_connection_keeps_its_bucket_and_last_frame_until_it_leaves() {
        let mut r = roster(&[("a", 1)]);
        assert_eq!(
            r.bucket(1, 20, 0),
            TokenBucket::full(20, 0),
            "full at first"
        );
        let mut bucket = r.bucket(1, 20, 0);
        bucket.take(0, 10, 20);
        r.record(1, bucket.clone(), 5);
        assert_eq!(r.bucket(1, 20, 6), bucket);
        r.touch(1, 9);
        assert_eq!(r.get(1).and_then(|c| c.last_frame), Some(9));
        r.insert(8, session("a", 1));
        assert_eq!(r.bucket(1, 20, 10), bucket, "listed again: carried over");
        r.remove(1);
        r.insert(1, session("a", 1));
        assert_eq!(
            r.get(1).and_then(|c| c.last_frame),
            None,
            "a new connection"
        );
    }

    #[test]
    fn sessions_except_leaves_out_only_that_connection() {
        let r = roster(&[("a", 1), ("a", 2), ("b", 3)]);
        let ids: Vec<u64> = r.sessions_except(2).map(|s| s.conn).collect();
        assert_eq!(ids, [1, 3]);
    }
}
