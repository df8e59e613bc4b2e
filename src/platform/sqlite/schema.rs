//! The room's schema: the tables as first shipped, then every migration in
//! order, once each, counted in `schema_version`.

use serde::Deserialize;

use super::{int, Db};
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
    // 3: redaction of waiting webhook events (src/hooks/webhook.rs,
    // `supersede`): `about` is the id of the message an event is about,
    // `redacted` 1 once its text was removed because the message was
    // edited or deleted. Events queued before this have no `about`.
    "ALTER TABLE webhook_outbox ADD COLUMN about TEXT;
     ALTER TABLE webhook_outbox ADD COLUMN redacted INTEGER NOT NULL DEFAULT 0;",
    // 4: history people keep (src/store/retention.rs). Appends no longer
    // prune, so every read must stay fast over millions of rows: `rev` gets
    // an index (the newest seq and `since` changes read it); `history_stats`
    // counts the kept messages, so the count rule needs no scan; and
    // `messages_fts` indexes the current text for search. Both are kept by
    // triggers, inside SQLite, whatever writes the row: an edit replaces
    // the indexed text, a delete (an empty body) removes it, and pruning a
    // row removes its entries. External content (`content='messages'`):
    // the text is stored once, in `messages`.
    "CREATE INDEX IF NOT EXISTS messages_by_rev ON messages (rev) WHERE rev IS NOT NULL;
     CREATE TABLE IF NOT EXISTS history_stats (kept INTEGER NOT NULL);
     INSERT INTO history_stats (kept) SELECT COUNT(*) FROM messages;
     CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts
        USING fts5(body, content='messages', content_rowid='seq', columnsize=0);
     INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
     CREATE TRIGGER IF NOT EXISTS messages_added AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
        UPDATE history_stats SET kept = kept + 1;
     END;
     CREATE TRIGGER IF NOT EXISTS messages_pruned AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
        UPDATE history_stats SET kept = kept - 1;
     END;
     CREATE TRIGGER IF NOT EXISTS messages_revised AFTER UPDATE OF body ON messages BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
        INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
     END;",
    // 5: reactions (src/room/reactions.rs): one row per member, emoji and
    // message, in the order given (`ts`); `messages.reacted` is the seq of
    // the message's latest reaction change, indexed for `since` and the
    // newest seq. A deleted or pruned message loses its reactions, by
    // trigger, whatever deletes it.
    "CREATE TABLE IF NOT EXISTS reactions (
        seq INTEGER NOT NULL,
        emoji TEXT NOT NULL,
        client_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (seq, emoji, client_id)
     ) WITHOUT ROWID;
     ALTER TABLE messages ADD COLUMN reacted INTEGER;
     CREATE INDEX IF NOT EXISTS messages_by_reacted ON messages (reacted) WHERE reacted IS NOT NULL;
     CREATE TRIGGER IF NOT EXISTS reactions_of_deleted AFTER UPDATE OF deleted ON messages
        WHEN new.deleted = 1 BEGIN
        DELETE FROM reactions WHERE seq = new.seq;
     END;
     CREATE TRIGGER IF NOT EXISTS reactions_of_pruned AFTER DELETE ON messages BEGIN
        DELETE FROM reactions WHERE seq = old.seq;
     END;",
    // 6: replies and mentions (src/room/replies.rs, mentions.rs): the id of
    // the message a reply answers, and the ids a message mentions,
    // separated by spaces.
    "ALTER TABLE messages ADD COLUMN reply_to TEXT;
     ALTER TABLE messages ADD COLUMN mentions TEXT;",
    // 7: read pointers (src/room/read_state.rs): per person, the last seq
    // seen, and when it moved.
    "CREATE TABLE IF NOT EXISTS read_state (
        client_id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        ts INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 8: the history epoch (src/store/history.rs, `catch_up`): a random id
    // made once with the room's storage, so a client's `since` from storage
    // that was since replaced is known for what it is.
    "CREATE TABLE IF NOT EXISTS room_meta (epoch TEXT NOT NULL);
     INSERT INTO room_meta (epoch) SELECT lower(hex(randomblob(8)))
        WHERE NOT EXISTS (SELECT 1 FROM room_meta);",
    // 9: the relays a room uses (src/send/relay.rs), so a room that
    // restarts knows whom to ask for the sockets they hold.
    "CREATE TABLE IF NOT EXISTS relays (idx INTEGER PRIMARY KEY, room TEXT NOT NULL);",
];

#[derive(Deserialize)]
struct VersionRow {
    version: u64,
}

/// Creates the first schema if needed, then applies the migrations this
/// database has not had. All of it runs in the constructor without an
/// await, so the runtime commits it as one write.
pub(crate) fn create(db: &Db) -> Result<(), StoreError> {
    db.exec(SCHEMA, vec![])?;
    db.exec(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        vec![],
    )?;
    let rows: Vec<VersionRow> = db.query("SELECT version FROM schema_version", vec![])?;
    let applied = rows.first().map_or(0, |r| r.version) as usize;
    if applied >= MIGRATIONS.len() {
        return Ok(());
    }
    for migration in &MIGRATIONS[applied..] {
        db.exec(migration, vec![])?;
    }
    db.exec("DELETE FROM schema_version", vec![])?;
    db.exec(
        "INSERT INTO schema_version (version) VALUES (?)",
        vec![int(MIGRATIONS.len() as u64)],
    )
}
