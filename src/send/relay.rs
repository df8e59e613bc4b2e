//! A room bigger than one object: where a new socket goes, and what the
//! room and its relay objects tell each other.
//!
//! The room's object stays the one sequencer: it assigns `seq`, writes
//! history, runs every rule and holds presence. Past
//! [`Config::relay_threshold`] sockets of its own, it places new ones on
//! relay objects (`<room>#relay-<i>`), each holding up to
//! [`Config::relay_capacity`]. A relay only holds sockets: it books their
//! flow, answers receipts, sweeps the idle and the expired, and forwards
//! every other frame to the room. What the room releases it sends to each
//! relay in one call per flush ([`ToRelay`]), which the relay sends on to
//! its sockets with the same code the room uses for its own.
//!
//! Order and exactly-once follow from two rules. Everything the room tells
//! one relay travels in one queue, one call in flight at a time, so a relay
//! sees the room's frames, admissions and closes in the room's order. And a
//! socket lives on exactly one object, known by its random connection key,
//! so `To::AllBut(k)` and `To::Only(k)` mean the same on every relay.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::room::session::Session;
use crate::send::coalesce::Held;
use crate::settings::config::Config;

/// Where the room sends calls to a relay, and a relay to the room. Never
/// a route of the Worker's, so no client can reach them.
pub const JOIN_PATH: &str = "/_relay/join";
pub const FROM_RELAY_PATH: &str = "/_relay/in";
pub const TO_RELAY_PATH: &str = "/_relay/out";
pub const SYNC_PATH: &str = "/_relay/sync";

/// The header on the room's answer to an upgrade it places on a relay, and
/// on the Worker's request to that relay: the relay's index.
pub const RELAY_HEADER: &str = "x-edge-chat-relay";

/// How long a placement holds its seat before the socket joins: a client
/// that never finishes its handshake must not keep a relay open.
pub const PLACEMENT_HOLD_MS: u64 = 30_000;

/// The least time between the starts of two calls in one queue. Every call
/// between objects leaves the runtime memory its collector frees late,
/// whatever the call carries, so a flood through relays made of a call per
/// message grew the process more than twice as much as the same flood in
/// one object (BENCHMARKS.md, "Calls between objects").
pub const CALL_GAP_MS: u64 = 20;

/// How long a queue waits before its next call, the last having started at
/// `last_call` (ms; `None` for none yet). A quiet queue calls at once, so a
/// lone message pays no wait; a busy one waits out the gap, at most one
/// call per [`CALL_GAP_MS`], while what arrives meanwhile joins the call.
pub fn call_wait(last_call: Option<u64>, now: u64) -> u64 {
    last_call.map_or(0, |last| (last + CALL_GAP_MS).saturating_sub(now))
}

/// The name of a room's relay object.
pub fn relay_name(room: &str, index: u32) -> String {
    format!("{room}#relay-{index}")
}

/// Where a new socket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The room's own object.
    Here,
    /// This relay; `opened` if the room has just started using it.
    Relay { index: u32, opened: bool },
}

/// Keys of sockets on relays the room let go of lately, so a relay's late
/// word of one (its `Left` crossing the room's `Close`) is known for what
/// it is, while a `Left` of a socket the room never knew (it restarted
/// since) still gets its leave notice.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Departed {
    keys: VecDeque<u64>,
}

impl Departed {
    /// How many keys it keeps: far more than can cross in flight.
    pub const KEEP: usize = 4096;

    pub fn note(&mut self, key: u64) {
        if self.keys.len() == Self::KEEP {
            self.keys.pop_front();
        }
        self.keys.push_back(key);
    }

    pub fn contains(&self, key: u64) -> bool {
        self.keys.contains(&key)
    }
}

/// The room's relays: how many sockets each holds and how many placements
/// are on their way to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seats {
    /// By index, lowest first. A `Vec`: a room has a few dozen relays at
    /// most, and a map's code costs the `.wasm` 4 KB.
    relays: Vec<(u32, Seat)>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Seat {
    members: usize,
    /// When each placement not yet joined was made, oldest first.
    placed: VecDeque<u64>,
}

impl Seat {
    fn taken(&self) -> usize {
        self.members + self.placed.len()
    }

    fn expire(&mut self, now: u64) {
        while self
            .placed
            .front()
            .is_some_and(|&at| at + PLACEMENT_HOLD_MS <= now)
        {
            self.placed.pop_front();
        }
    }
}

impl Seats {
    /// Where a newcomer goes when the room's object holds `here` sockets:
    /// the room's own object below the threshold, else the lowest relay
    /// with a free seat, opening the lowest unused index when all are full.
    pub fn place(&mut self, here: usize, config: &Config, now: u64) -> Place {
        if here < config.relay_threshold {
            return Place::Here;
        }
        for (_, seat) in &mut self.relays {
            seat.expire(now);
        }
        let free = (self.relays.iter()).find(|(_, s)| s.taken() < config.relay_capacity);
        let (index, opened) = match free {
            Some(&(index, _)) => (index, false),
            None => ((0..).find(|i| self.at(*i).is_err()).unwrap_or(0), true),
        };
        self.seat(index).placed.push_back(now);
        Place::Relay { index, opened }
    }

    fn at(&self, relay: u32) -> Result<usize, usize> {
        self.relays.binary_search_by_key(&relay, |(i, _)| *i)
    }

    /// `relay`'s seat, made if it has none.
    fn seat(&mut self, relay: u32) -> &mut Seat {
        let at = match self.at(relay) {
            Ok(at) => at,
            Err(at) => {
                self.relays.insert(at, (relay, Seat::default()));
                at
            }
        };
        &mut self.relays[at].1
    }

    fn existing(&mut self, relay: u32) -> Option<&mut Seat> {
        let at = self.at(relay).ok()?;
        Some(&mut self.relays[at].1)
    }

    /// A socket placed on `relay` joined (or was found there on waking).
    pub fn joined(&mut self, relay: u32) {
        let seat = self.seat(relay);
        seat.placed.pop_front();
        seat.members += 1;
    }

    /// A socket placed on `relay` was refused: its seat is free again.
    /// True if that retired the relay.
    pub fn refused(&mut self, relay: u32, now: u64) -> bool {
        if let Some(seat) = self.existing(relay) {
            seat.placed.pop_front();
        }
        self.retire_if_empty(relay, now)
    }

    /// A socket on `relay` left. True if that retired the relay: it holds
    /// no socket and expects none.
    pub fn left(&mut self, relay: u32, now: u64) -> bool {
        let Some(seat) = self.existing(relay) else {
            return false;
        };
        seat.members = seat.members.saturating_sub(1);
        self.retire_if_empty(relay, now)
    }

    /// Retires `relay` if it holds no socket and expects none. True if it
    /// did.
    pub fn retire_if_empty(&mut self, relay: u32, now: u64) -> bool {
        let Some(seat) = self.existing(relay) else {
            return false;
        };
        seat.expire(now);
        if seat.taken() > 0 {
            return false;
        }
        self.forget(relay);
        true
    }

    /// Relays in use, lowest index first.
    pub fn indexes(&self) -> impl Iterator<Item = u32> + '_ {
        self.relays.iter().map(|(i, _)| *i)
    }

    /// How many relays hold (or expect) the room's sockets: the `relays` of
    /// every `presence` answer.
    pub fn count(&self) -> usize {
        self.relays.len()
    }

    /// Sockets on relays, joined.
    pub fn members(&self) -> usize {
        self.relays.iter().map(|(_, s)| s.members).sum()
    }

    /// Takes a relay out of use at once: it failed, and its sockets with it.
    pub fn forget(&mut self, relay: u32) {
        if let Ok(at) = self.at(relay) {
            self.relays.remove(at);
        }
    }

    /// Keeps a relay in use with no socket yet: one known from storage,
    /// until asking it says what it holds.
    pub fn remember(&mut self, relay: u32) {
        self.seat(relay);
    }
}

/// What the room tells a relay, in the room's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToRelay {
    /// The socket with this key joined: frames may now reach it. A socket
    /// gets nothing before, so it never sees a broadcast its history holds.
    #[serde(rename = "a")]
    Admit(u64),
    /// Released frames, for the relay's sockets they are meant for.
    #[serde(rename = "f")]
    Frames(Vec<Held<u64>>),
    /// Close this socket; the room already counts it gone.
    #[serde(rename = "c")]
    Close { k: u64, code: u16, reason: String },
    /// The socket's session changed: keep it in its attachment, so a room
    /// that restarts learns it back from the relay.
    #[serde(rename = "s")]
    Session(Session),
}

/// What a relay tells the room, in the order its sockets said it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromRelay {
    /// A frame from socket `k`: its text, or `None` for a binary frame.
    #[serde(rename = "f")]
    Frame { k: u64, t: Option<String> },
    /// Socket `k` closed, failed, or was closed by the relay; `s` is its
    /// session, for a room that restarted since and no longer knows it.
    #[serde(rename = "l")]
    Left {
        k: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        s: Option<Session>,
    },
}

/// One call from a relay: its index and what its sockets said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromRelayCall {
    pub relay: u32,
    pub items: Vec<FromRelay>,
}

/// A relay asks the room to admit a socket it has accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinAsk {
    pub session: Session,
    pub since: Option<u64>,
    pub epoch: Option<String>,
}

/// A relay's answer to [`SYNC_PATH`]: the sessions of its sockets.
pub type SyncAnswer = Vec<Session>;

/// One call's body from queued items, each already JSON: a JSON array.
pub fn call_body(items: &[String]) -> String {
    let mut body = String::with_capacity(2 + items.iter().map(|i| i.len() + 1).sum::<usize>());
    body.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push(']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::coalesce::To;

    #[test]
    fn a_quiet_queue_calls_at_once_and_a_busy_one_waits_out_the_gap() {
        assert_eq!(call_wait(None, 5_000), 0);
        assert_eq!(call_wait(Some(1_000), 5_000), 0, "long since");
        assert_eq!(call_wait(Some(5_000), 5_003), CALL_GAP_MS - 3);
        assert_eq!(call_wait(Some(5_000), 5_000 + CALL_GAP_MS), 0);
        // A clock that steps back never makes a wait longer than the gap.
        assert_eq!(call_wait(Some(5_000), 4_000), CALL_GAP_MS + 1_000);
    }

    fn relay(index: u32, opened: bool) -> Place {
        Place::Relay { index, opened }
    }

    fn config(threshold: usize, capacity: usize) -> Config {
        Config {
            relay_threshold: threshold,
            relay_capacity: capacity,
            ..Config::default()
        }
    }

    #[test]
    fn departed_keys_are_kept_to_a_bound() {
        let mut departed = Departed::default();
        for key in 0..Departed::KEEP as u64 + 1 {
            departed.note(key);
        }
        assert!(!departed.contains(0), "the oldest went");
        assert!(departed.contains(1) && departed.contains(Departed::KEEP as u64));
    }

    #[test]
    fn a_small_room_stays_one_object() {
        let mut seats = Seats::default();
        assert_eq!(seats.place(999, &config(1000, 3), 0), Place::Here);
        assert_eq!(seats.count(), 0);
    }

    #[test]
    fn past_the_threshold_relays_fill_in_order() {
        let (mut seats, c) = (Seats::default(), config(0, 2));
        let placed: Vec<Place> = (0..5).map(|_| seats.place(0, &c, 0)).collect();
        assert_eq!(
            placed,
            [
                relay(0, true),
                relay(0, false),
                relay(1, true),
                relay(1, false),
                relay(2, true)
            ]
        );
        assert_eq!(seats.count(), 3);
    }

    #[test]
    fn an_unjoined_placement_frees_its_seat_in_time() {
        let (mut seats, c) = (Seats::default(), config(0, 1));
        assert_eq!(seats.place(0, &c, 0), relay(0, true));
        assert_eq!(seats.place(0, &c, 1), relay(1, true));
        let later = PLACEMENT_HOLD_MS;
        assert_eq!(seats.place(0, &c, later), relay(0, false));
    }

    #[test]
    fn a_relay_retires_with_its_last_socket_and_its_index_returns() {
        let (mut seats, c) = (Seats::default(), config(0, 1));
        seats.place(0, &c, 0);
        seats.joined(0);
        seats.place(0, &c, 0);
        seats.joined(1);
        assert_eq!(seats.members(), 2);
        assert!(seats.left(0, 10), "relay 0 is empty");
        assert_eq!(seats.indexes().collect::<Vec<_>>(), [1]);
        assert_eq!(seats.place(0, &c, 20), relay(0, true));
    }

    #[test]
    fn a_relay_expecting_a_socket_is_not_retired() {
        let (mut seats, c) = (Seats::default(), config(0, 5));
        seats.place(0, &c, 0);
        seats.joined(0);
        seats.place(0, &c, 0);
        assert!(!seats.left(0, 10));
        assert!(seats.retire_if_empty(0, PLACEMENT_HOLD_MS));
    }

    /// The wire between objects is a format two builds may speak during a
    /// deploy: pinned.
    #[test]
    fn the_wire_between_objects_is_pinned() {
        let frames = ToRelay::Frames(vec![Held {
            json: "{}".into(),
            to: To::AllBut(7),
        }]);
        let json = serde_json::to_string(&frames).unwrap();
        assert_eq!(json, r#"{"f":[{"json":"{}","to":{"AllBut":7}}]}"#);
        let close = r#"{"c":{"k":7,"code":1008,"reason":"kicked"}}"#;
        let parsed: ToRelay = serde_json::from_str(close).unwrap();
        assert_eq!(
            parsed,
            ToRelay::Close {
                k: 7,
                code: 1008,
                reason: "kicked".into()
            }
        );
        let call: FromRelayCall =
            serde_json::from_str(r#"{"relay":2,"items":[{"f":{"k":1,"t":"hi"}},{"l":{"k":1}}]}"#)
                .unwrap();
        assert_eq!(call.items.len(), 2);
        assert_eq!(call_body(&["1".into(), "2".into()]), "[1,2]");
    }
}
