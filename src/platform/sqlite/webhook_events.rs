//! The `webhook_outbox` and `webhook_dropped` tables: [`EventStore`] on
//! the object's SQLite, so an event survives a restart.

use serde::Deserialize;
use worker::SqlStorageValue;

use super::{int, Db};
use crate::hooks::outbox::EventStore;
use crate::hooks::webhook::{self, Event, Queued};
use crate::wire::error::StoreError;

pub(crate) struct SqlEvents {
    db: Db,
}

impl SqlEvents {
    pub(crate) fn new(db: Db) -> Self {
        SqlEvents { db }
    }
}

impl EventStore for SqlEvents {
    /// Queues `events` after those already waiting, then drops the oldest
    /// beyond `cap`. Returns how many were dropped now. Rows up to `done`
    /// are events already delivered, waiting to be swept; they do not
    /// count. Ids run without gaps from the oldest waiting to the newest,
    /// since rows only ever leave from the front, so the count is
    /// `max - min + 1`.
    fn queue(&mut self, events: &[Event], cap: u64, done: u64) -> Result<u64, StoreError> {
        let mut events = events.to_vec();
        for about in webhook::supersede(&mut events) {
            self.redact(&about)?;
        }
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let bindings: Vec<SqlStorageValue> = chunk.iter().flat_map(event_row).collect();
            let query = format!(
                "INSERT INTO webhook_outbox (room, seq, type, frame, ts, about, redacted) \
                 VALUES {rows}"
            );
            self.db.exec(&query, bindings)?;
        }
        let span: Vec<SpanRow> = self.db.query(
            "SELECT MIN(id) AS first, MAX(id) AS last FROM webhook_outbox WHERE id > ?",
            vec![int(done)],
        )?;
        let Some(SpanRow {
            first: Some(first),
            last: Some(last),
        }) = span.into_iter().next()
        else {
            return Ok(0);
        };
        let over = webhook::overflow(last - first + 1, cap);
        if over > 0 {
            self.db.exec(
                "DELETE FROM webhook_outbox WHERE id < ?",
                vec![int(first + over)],
            )?;
            self.count_dropped(over)?;
        }
        Ok(over)
    }

    /// The oldest waiting event after `done`, and when it may next be
    /// tried.
    fn next(&mut self, done: u64) -> Result<Option<(Queued, u64)>, StoreError> {
        let rows: Vec<EventRow> = self.db.query(
            "SELECT id, room, seq, type, frame, ts, attempts, next_at, about, redacted \
             FROM webhook_outbox WHERE id > ? ORDER BY id LIMIT 1",
            vec![int(done)],
        )?;
        Ok(rows.into_iter().next().map(|r| {
            let next_at = r.next_at;
            (Queued::from(r), next_at)
        }))
    }

    /// Forgets every event up to `id`: delivered, or given up on.
    fn done_through(&mut self, id: u64) -> Result<(), StoreError> {
        self.db
            .exec("DELETE FROM webhook_outbox WHERE id <= ?", vec![int(id)])
    }

    /// Event `id` failed its `attempts`th try; the next is due at `next_at`.
    fn failed(&mut self, id: u64, attempts: u32, next_at: u64) -> Result<(), StoreError> {
        self.db.exec(
            "UPDATE webhook_outbox SET attempts = ?, next_at = ? WHERE id = ?",
            vec![int(attempts.into()), int(next_at), int(id)],
        )
    }

    /// Events this room will never deliver, since its outbox was made.
    fn dropped(&mut self) -> Result<u64, StoreError> {
        let rows: Vec<TotalRow> = self.db.query("SELECT total FROM webhook_dropped", vec![])?;
        Ok(rows.first().map_or(0, |r| r.total))
    }

    /// Counts `n` more events this room will never deliver.
    fn count_dropped(&mut self, n: u64) -> Result<(), StoreError> {
        self.db
            .exec("UPDATE webhook_dropped SET total = total + ?", vec![int(n)])
    }
}

/// A statement binds at most 100 values, and an event row seven.
const EVENTS_PER_INSERT: usize = 14;

/// An event's values: room, seq, type, frame, ts, about, redacted.
fn event_row(e: &Event) -> Vec<SqlStorageValue> {
    vec![
        e.room.as_str().into(),
        e.seq.map(|s| s as f64).into(),
        e.kind.into(),
        e.frame.as_str().into(),
        int(e.ts),
        e.about.as_deref().into(),
        int(e.redacted.into()),
    ]
}

impl SqlEvents {
    /// Removes the text of every waiting event about message `about`. A
    /// message is edited or deleted a few times at most, so this is a few
    /// rows; the scan of the outbox (at most its cap) costs no index on
    /// every insert.
    fn redact(&mut self, about: &str) -> Result<(), StoreError> {
        let rows: Vec<EventRow> = self.db.query(
            "SELECT id, room, seq, type, frame, ts, attempts, next_at, about, redacted \
             FROM webhook_outbox WHERE about = ? AND redacted = 0",
            vec![about.into()],
        )?;
        for row in rows {
            let mut event = Queued::from(row);
            event.redact();
            if event.redacted {
                self.db.exec(
                    "UPDATE webhook_outbox SET frame = ?, redacted = 1 WHERE id = ?",
                    vec![event.frame.as_str().into(), int(event.id)],
                )?;
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct SpanRow {
    first: Option<u64>,
    last: Option<u64>,
}

#[derive(Deserialize)]
struct TotalRow {
    total: u64,
}

#[derive(Deserialize)]
struct EventRow {
    id: u64,
    room: String,
    seq: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    frame: String,
    ts: u64,
    attempts: u32,
    next_at: u64,
    about: Option<String>,
    redacted: u8,
}

impl From<EventRow> for Queued {
    fn from(r: EventRow) -> Self {
        Queued {
            id: r.id,
            room: r.room,
            seq: r.seq,
            kind: r.kind,
            frame: r.frame,
            ts: r.ts,
            attempts: r.attempts,
            about: r.about,
            redacted: r.redacted != 0,
        }
    }
}
