//! The webhook outbox as storage: events wait here, oldest first, until
//! delivered or given up on. [`MemoryEvents`] is the contract in memory,
//! for native tests; the platform's SQLite tables keep the same rules.

use std::collections::VecDeque;

use crate::hooks::webhook::{overflow, supersede, Event, Queued};
use crate::wire::error::StoreError;

/// What the room needs from storage to keep webhook events.
pub trait EventStore {
    /// Queues `events` after those already waiting, then drops the oldest
    /// beyond `cap`; returns how many were dropped now. Events up to
    /// `done` are delivered, waiting to be swept, and do not count. An
    /// edit or a delete among `events` first redacts every event before
    /// it about its message, queued or among `events` ([`supersede`]).
    fn queue(&mut self, events: &[Event], cap: u64, done: u64) -> Result<u64, StoreError>;
    /// The oldest waiting event after `done`, and when it may next be tried.
    fn next(&mut self, done: u64) -> Result<Option<(Queued, u64)>, StoreError>;
    /// Forgets every event up to `id`: delivered, or given up on.
    fn done_through(&mut self, id: u64) -> Result<(), StoreError>;
    /// Event `id` failed its `attempts`th try; the next is due at `next_at`.
    fn failed(&mut self, id: u64, attempts: u32, next_at: u64) -> Result<(), StoreError>;
    /// Events this room will never deliver, since its outbox was made.
    fn dropped(&mut self) -> Result<u64, StoreError>;
    /// Counts `n` more events this room will never deliver.
    fn count_dropped(&mut self, n: u64) -> Result<(), StoreError>;
}

/// The outbox in memory. Ids are never reused, as with AUTOINCREMENT.
#[derive(Debug, Default)]
pub struct MemoryEvents {
    waiting: VecDeque<(Queued, u64)>,
    last_id: u64,
    dropped: u64,
}

impl EventStore for MemoryEvents {
    fn queue(&mut self, events: &[Event], cap: u64, done: u64) -> Result<u64, StoreError> {
        let mut events = events.to_vec();
        for id in supersede(&mut events) {
            let about = |q: &Queued| q.about.as_deref() == Some(id.as_str());
            self.waiting
                .iter_mut()
                .filter(|(q, _)| about(q))
                .for_each(|(q, _)| q.redact());
        }
        for e in events {
            self.last_id += 1;
            let queued = Queued {
                id: self.last_id,
                room: e.room,
                seq: e.seq,
                kind: e.kind.to_owned(),
                frame: e.frame,
                ts: e.ts,
                attempts: 0,
                about: e.about,
                redacted: e.redacted,
            };
            self.waiting.push_back((queued, 0));
        }
        let live = self.waiting.iter().filter(|(q, _)| q.id > done).count();
        let over = overflow(live as u64, cap);
        let first_live = self.waiting.iter().position(|(q, _)| q.id > done);
        if let Some(at) = first_live {
            self.waiting.drain(at..at + over as usize);
        }
        self.dropped += over;
        Ok(over)
    }

    fn next(&mut self, done: u64) -> Result<Option<(Queued, u64)>, StoreError> {
        Ok(self.waiting.iter().find(|(q, _)| q.id > done).cloned())
    }

    fn done_through(&mut self, id: u64) -> Result<(), StoreError> {
        self.waiting.retain(|(q, _)| q.id > id);
        Ok(())
    }

    fn failed(&mut self, id: u64, attempts: u32, next_at: u64) -> Result<(), StoreError> {
        if let Some((q, at)) = self.waiting.iter_mut().find(|(q, _)| q.id == id) {
            (q.attempts, *at) = (attempts, next_at);
        }
        Ok(())
    }

    fn dropped(&mut self) -> Result<u64, StoreError> {
        Ok(self.dropped)
    }

    fn count_dropped(&mut self, n: u64) -> Result<(), StoreError> {
        self.dropped += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                room: "lobby".into(),
                seq: Some(i + 1),
                kind: "message",
                frame: format!("{{\"seq\":{}}}", i + 1),
                ts: i,
                about: None,
                redacted: false,
            })
            .collect()
    }

    #[test]
    fn a_full_outbox_drops_its_oldest_waiting_events_and_counts_them() {
        let mut outbox = MemoryEvents::default();
        assert_eq!(outbox.queue(&events(3), 5, 0).unwrap(), 0);
        assert_eq!(outbox.queue(&events(4), 5, 0).unwrap(), 2);
        assert_eq!(outbox.dropped().unwrap(), 2);
        assert_eq!(outbox.next(0).unwrap().map(|(q, _)| q.id), Some(3));
    }

    #[test]
    fn delivered_events_do_not_count_against_the_cap_and_ids_never_repeat() {
        let mut outbox = MemoryEvents::default();
        outbox.queue(&events(3), 3, 0).unwrap();
        assert_eq!(
            outbox.queue(&events(2), 3, 2).unwrap(),
            0,
            "1 and 2 are done"
        );
        outbox.done_through(5).unwrap();
        assert_eq!(outbox.next(0).unwrap(), None);
        outbox.queue(&events(1), 3, 5).unwrap();
        assert_eq!(outbox.next(5).unwrap().map(|(q, _)| q.id), Some(6));
    }

    /// Message `id`'s event, `kind` with `text`.
    fn change(kind: &'static str, id: &str, text: &str) -> Event {
        let frame = format!(r#"{{"type":"{kind}","id":"{id}","message":"{text}"}}"#);
        Event {
            room: "lobby".into(),
            seq: Some(1),
            kind,
            frame,
            ts: 0,
            about: Some(id.into()),
            redacted: false,
        }
    }

    #[test]
    fn a_queued_events_text_is_redacted_by_a_later_edit_or_delete_of_its_message() {
        let mut outbox = MemoryEvents::default();
        let queued = [
            change("message", "m1", "secret"),
            change("message", "m2", "typo"),
        ];
        outbox.queue(&queued, 10, 0).unwrap();
        outbox.queue(&[change("delete", "m1", "")], 10, 0).unwrap();
        outbox
            .queue(&[change("edit", "m2", "fixed")], 10, 0)
            .unwrap();
        let mut bodies = Vec::new();
        while let Some((q, _)) = outbox.next(bodies.len() as u64).unwrap() {
            let body: serde_json::Value = serde_json::from_str(&q.body(0)).unwrap();
            bodies.push((
                body["type"].clone(),
                body["frame"]["message"].clone(),
                body["redacted"].clone(),
            ));
        }
        let none = serde_json::Value::Null;
        assert_eq!(
            bodies,
            [
                ("message".into(), "".into(), true.into()),
                ("message".into(), "".into(), true.into()),
                ("delete".into(), "".into(), none.clone()),
                ("edit".into(), "fixed".into(), none),
            ]
        );
    }

    #[test]
    fn a_failed_try_is_remembered_with_its_next_time() {
        let mut outbox = MemoryEvents::default();
        outbox.queue(&events(1), 3, 0).unwrap();
        outbox.failed(1, 2, 9_000).unwrap();
        let (head, next_at) = outbox.next(0).unwrap().unwrap();
        assert_eq!((head.attempts, next_at), (2, 9_000));
    }
}
