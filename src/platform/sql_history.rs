//! [`HistoryStore`] on the room object's SQLite database.
//!
//! SQLite calls in a Durable Object are synchronous, and the runtime holds
//! every outgoing frame until the writes before it are durable, so a message
//! broadcast after `append` returns is a message that survives a crash.
//!
//! The same database keeps the room's bans, so a kick survives a restart,
//! and its webhook outbox, so an event survives one too.

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use crate::hooks::webhook::{self, Event, Queued};
use crate::store::history::{Change, HistoryStore, StoredMessage};
use crate::wire::error::StoreError;

/// The schema as the first build shipped it. `client_msg_id` is unique per
/// client, which is what makes a resend after a reconnect idempotent. A new
/// room creates it and then runs every migration, so the path an existing
/// room takes is the one every test room takes.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    client_id TEXT NOT NULL,
    name TEXT,
    body TEXT NOT NULL,
    client_msg_id TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_msg_id
    ON messages (client_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
";

/// Schema changes, applied in order once each; the count applied is kept in
/// `schema_version`. Never edit a shipped entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: edits and deletes (`rev` is the change's seq; `deleted` 1 for a
    // tombstone), and bans (`until` in epoch milliseconds).
    "ALTER TABLE messages ADD COLUMN rev INTEGER;
     ALTER TABLE messages ADD COLUMN changed_ts INTEGER;
     ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE IF NOT EXISTS bans (client_id TEXT PRIMARY KEY, until INTEGER NOT NULL);",
    // 2: the webhook outbox (src/hooks/webhook.rs), oldest event first. With
    // AUTOINCREMENT an id is never reused, even once the outbox has emptied,
    // so receivers can dedupe by it. `attempts` and `next_at` (epoch ms) are
    // the head event's retry state; `webhook_dropped` counts the events the
    // room will never deliver.
    "CREATE TABLE IF NOT EXISTS webhook_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT NOT NULL,
        seq INTEGER,
        type TEXT NOT NULL,
        frame TEXT NOT NULL,
        ts INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL DEFAULT 0
     );
     CREATE TABLE IF NOT EXISTS webhook_dropped (total INTEGER NOT NULL);
     INSERT INTO webhook_dropped (total) VALUES (0);",
];

const COLUMNS: &str = "seq, ts, client_id, name, body, client_msg_id, rev, changed_ts, deleted";

/// A statement may bind at most 100 values in a Durable Object, and a row
/// binds nine.
const ROWS_PER_INSERT: usize = 11;

/// A message's values, in [`COLUMNS`] order.
fn row(msg: &StoredMessage) -> Vec<SqlStorageValue> {
    let mut values = vec![
        int(msg.seq),
        int(msg.ts),
        msg.client_id.as_str().into(),
        msg.name.as_deref().into(),
        msg.body.as_str().into(),
        msg.client_msg_id.as_deref().into(),
    ];
    values.extend(change_values(msg));
    values
}

pub struct SqlHistory {
    sql: SqlStorage,
}

#[derive(Deserialize)]
struct Row {
    seq: u64,
    ts: u64,
    client_id: String,
    name: Option<String>,
    body: String,
    client_msg_id: Option<String>,
    rev: Option<u64>,
    changed_ts: Option<u64>,
    deleted: u64,
}

#[derive(Deserialize)]
struct SeqRow {
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct VersionRow {
    version: u64,
}

#[derive(Deserialize)]
struct BanRow {
    until: u64,
}

impl From<Row> for StoredMessage {
    fn from(r: Row) -> Self {
        StoredMessage {
            seq: r.seq,
            ts: r.ts,
            client_id: r.client_id,
            name: r.name,
            body: r.body,
            client_msg_id: r.client_msg_id,
            change: r.rev.map(|rev| Change {
                rev,
                ts: r.changed_ts.unwrap_or(r.ts),
                deleted: r.deleted != 0,
            }),
        }
    }
}

fn failed(err: worker::Error) -> StoreError {
    StoreError(err.to_string())
}

/// SQLite integers are JavaScript numbers on the way in: exact up to 2^53,
/// far beyond any seq or millisecond timestamp this room will see.
fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as f64)
}

impl SqlHistory {
    pub fn new(sql: SqlStorage) -> Self {
        SqlHistory { sql }
    }

    /// Creates the first schema if needed, then applies the migrations this
    /// database has not had. All of it runs in the constructor without an
    /// await, so the runtime commits it as one write.
    pub fn create_schema(&self) -> Result<(), StoreError> {
        self.exec(SCHEMA, vec![])?;
        self.exec(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
            vec![],
        )?;
        let rows: Vec<VersionRow> = self.query("SELECT version FROM schema_version", vec![])?;
        let applied = rows.first().map_or(0, |r| r.version) as usize;
        if applied >= MIGRATIONS.len() {
            return Ok(());
        }
        for migration in &MIGRATIONS[applied..] {
            self.exec(migration, vec![])?;
        }
        self.exec("DELETE FROM schema_version", vec![])?;
        self.exec(
            "INSERT INTO schema_version (version) VALUES (?)",
            vec![int(MIGRATIONS.len() as u64)],
        )
    }

    /// Bans `client_id` from the room until `until` (epoch milliseconds),
    /// forgetting bans that ended before `now`.
    pub fn ban(&self, client_id: &str, until: u64, now: u64) -> Result<(), StoreError> {
        self.exec("DELETE FROM bans WHERE until <= ?", vec![int(now)])?;
        self.exec(
            "INSERT OR REPLACE INTO bans (client_id, until) VALUES (?, ?)",
            vec![client_id.into(), int(until)],
        )
    }

    /// When `client_id`'s ban ends, if it has one (ended or not).
    pub fn banned_until(&self, client_id: &str) -> Result<Option<u64>, StoreError> {
        let rows: Vec<BanRow> = self.query(
            "SELECT until FROM bans WHERE client_id = ?",
            vec![client_id.into()],
        )?;
        Ok(rows.first().map(|r| r.until))
    }

    /// Queues `events` after those already waiting, then drops the oldest
    /// beyond `cap`. Returns how many were dropped now. Rows up to `done`
    /// are events already delivered, waiting to be swept; they do not
    /// count. Ids run without gaps from the oldest waiting to the newest,
    /// since rows only ever leave from the front, so the count is
    /// `max - min + 1`.
    pub fn queue_events(&self, events: &[Event], cap: u64, done: u64) -> Result<u64, StoreError> {
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let bindings: Vec<SqlStorageValue> = chunk.iter().flat_map(event_row).collect();
            let query =
                format!("INSERT INTO webhook_outbox (room, seq, type, frame, ts) VALUES {rows}");
            self.exec(&query, bindings)?;
        }
        let span: Vec<SpanRow> = self.query(
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
            self.exec(
                "DELETE FROM webhook_outbox WHERE id < ?",
                vec![int(first + over)],
            )?;
            self.count_dropped(over)?;
        }
        Ok(over)
    }

    /// The oldest waiting event after `done`, and when it may next be
    /// tried.
    pub fn next_event(&self, done: u64) -> Result<Option<(Queued, u64)>, StoreError> {
        let rows: Vec<EventRow> = self.query(
            "SELECT id, room, seq, type, frame, ts, attempts, next_at \
             FROM webhook_outbox WHERE id > ? ORDER BY id LIMIT 1",
            vec![int(done)],
        )?;
        Ok(rows.into_iter().next().map(|r| {
            let next_at = r.next_at;
            (Queued::from(r), next_at)
        }))
    }

    /// Forgets every event up to `id`: delivered, or given up on.
    pub fn events_done_through(&self, id: u64) -> Result<(), StoreError> {
        self.exec("DELETE FROM webhook_outbox WHERE id <= ?", vec![int(id)])
    }

    /// Event `id` failed its `attempts`th try; the next is due at `next_at`.
    pub fn event_failed(&self, id: u64, attempts: u32, next_at: u64) -> Result<(), StoreError> {
        self.exec(
            "UPDATE webhook_outbox SET attempts = ?, next_at = ? WHERE id = ?",
            vec![int(attempts.into()), int(next_at), int(id)],
        )
    }

    /// Events this room will never deliver, since its outbox was made.
    pub fn events_dropped(&self) -> Result<u64, StoreError> {
        let rows: Vec<TotalRow> = self.query("SELECT total FROM webhook_dropped", vec![])?;
        Ok(rows.first().map_or(0, |r| r.total))
    }

    /// Counts `n` more events this room will never deliver.
    pub fn count_dropped(&self, n: u64) -> Result<(), StoreError> {
        self.exec("UPDATE webhook_dropped SET total = total + ?", vec![int(n)])
    }

    fn exec(&self, query: &str, bindings: Vec<SqlStorageValue>) -> Result<(), StoreError> {
        self.sql.exec(query, bindings).map(|_| ()).map_err(failed)
    }

    fn query<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>, StoreError> {
        self.sql
            .exec(query, bindings)
            .and_then(|c| c.to_array())
            .map_err(failed)
    }

    fn rows(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<Row> = self.query(query, bindings)?;
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }

    fn seq(&self, query: &str) -> Result<Option<u64>, StoreError> {
        let rows: Vec<SeqRow> = self.query(query, vec![])?;
        Ok(rows.into_iter().next().and_then(|r| r.seq))
    }
}

impl HistoryStore for SqlHistory {
    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        // Edits and deletes took seqs too; their rows keep them as `rev`.
        Ok(self
            .seq("SELECT max(COALESCE(MAX(seq), 0), COALESCE(MAX(rev), 0)) AS seq FROM messages")?
            .unwrap_or(0))
    }

    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError> {
        self.seq("SELECT MIN(seq) AS seq FROM messages")
    }

    fn append(&mut self, msg: &StoredMessage, keep: u64) -> Result<(), StoreError> {
        self.append_all(std::slice::from_ref(msg), keep)
    }

    /// One `INSERT` per [`ROWS_PER_INSERT`] messages and one prune: every
    /// statement is a call into the runtime with its text and bindings
    /// copied across, and a busy room writes dozens of messages at a time.
    /// An edit or delete of a message still waiting to be written arrives
    /// here with its change, so every row carries its change columns.
    fn append_all(&mut self, msgs: &[StoredMessage], keep: u64) -> Result<(), StoreError> {
        for chunk in msgs.chunks(ROWS_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let bindings: Vec<SqlStorageValue> = chunk.iter().flat_map(row).collect();
            let query = format!("INSERT INTO messages ({COLUMNS}) VALUES {rows}");
            self.exec(&query, bindings)?;
        }
        // A room never has more messages than seqs, so below `keep` seqs
        // there is nothing to prune. Above, keep the newest `keep` messages:
        // seqs that went to edits and deletes do not count.
        match msgs.last() {
            Some(newest) if newest.seq > keep => self.exec(
                "DELETE FROM messages WHERE seq < \
                 (SELECT seq FROM messages ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                vec![int(keep - 1)],
            ),
            _ => Ok(()),
        }
    }

    fn find(
        &mut self,
        client_id: &str,
        client_msg_id: &str,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let query = format!(
            "SELECT {COLUMNS} FROM messages WHERE client_id = ? AND client_msg_id = ? LIMIT 1"
        );
        Ok(self
            .rows(&query, vec![client_id.into(), client_msg_id.into()])?
            .into_iter()
            .next())
    }

    fn after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let query = format!("SELECT {COLUMNS} FROM messages WHERE seq > ? ORDER BY seq LIMIT ?");
        self.rows(&query, vec![int(since), int(limit)])
    }

    fn recent(&mut self, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let query = format!(
            "SELECT * FROM (SELECT {COLUMNS} FROM messages ORDER BY seq DESC LIMIT ?) ORDER BY seq"
        );
        self.rows(&query, vec![int(limit)])
    }

    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        let query = format!("SELECT {COLUMNS} FROM messages WHERE seq = ?");
        Ok(self.rows(&query, vec![int(seq)])?.into_iter().next())
    }

    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        let query = "UPDATE messages SET body = ?, rev = ?, changed_ts = ?, deleted = ? \
            WHERE seq = ?";
        let bindings = [
            vec![msg.body.as_str().into()],
            change_values(msg),
            vec![int(msg.seq)],
        ];
        self.exec(query, bindings.concat())
    }

    fn changed_after(&mut self, since: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let query =
            format!("SELECT {COLUMNS} FROM messages WHERE seq <= ? AND rev > ? ORDER BY rev");
        self.rows(&query, vec![int(since), int(since)])
    }
}

/// A statement binds at most 100 values, and an event row five.
const EVENTS_PER_INSERT: usize = 20;

/// An event's values: room, seq, type, frame, ts.
fn event_row(e: &Event) -> Vec<SqlStorageValue> {
    vec![
        e.room.as_str().into(),
        e.seq.map(|s| s as f64).into(),
        e.kind.into(),
        e.frame.as_str().into(),
        int(e.ts),
    ]
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
        }
    }
}

/// `rev, changed_ts, deleted` for a message's change, NULLs and 0 if none.
fn change_values(msg: &StoredMessage) -> Vec<SqlStorageValue> {
    let change = msg.change;
    vec![
        change.map(|c| c.rev as f64).into(),
        change.map(|c| c.ts as f64).into(),
        int(change.is_some_and(|c| c.deleted).into()),
    ]
}
