//! [`HistoryStore`] on the room object's SQLite database.
//!
//! SQLite calls in a Durable Object are synchronous, and the runtime holds
//! every outgoing frame until the writes before it are durable, so a message
//! broadcast after `append` returns is a message that survives a crash.

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use crate::history::{HistoryStore, StoreError, StoredMessage};

/// Creates the schema if needed. `client_msg_id` is unique per client, which
/// is what makes a resend after a reconnect idempotent.
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

const COLUMNS: &str = "seq, ts, client_id, name, body, client_msg_id";

/// A statement may bind at most 100 values in a Durable Object, and a row
/// binds six.
const ROWS_PER_INSERT: usize = 16;

/// A message's values, in [`COLUMNS`] order.
fn row(msg: &StoredMessage) -> [SqlStorageValue; 6] {
    [
        int(msg.seq),
        int(msg.ts),
        msg.client_id.as_str().into(),
        msg.name.as_deref().into(),
        msg.body.as_str().into(),
        msg.client_msg_id.as_deref().into(),
    ]
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
}

#[derive(Deserialize)]
struct SeqRow {
    seq: Option<u64>,
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

    pub fn create_schema(&self) -> Result<(), StoreError> {
        self.sql.exec(SCHEMA, None).map(|_| ()).map_err(failed)
    }

    fn rows(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<Row> = self
            .sql
            .exec(query, bindings)
            .and_then(|c| c.to_array())
            .map_err(failed)?;
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }

    fn seq(&self, query: &str) -> Result<Option<u64>, StoreError> {
        let rows: Vec<SeqRow> = self
            .sql
            .exec(query, None)
            .and_then(|c| c.to_array())
            .map_err(failed)?;
        Ok(rows.into_iter().next().and_then(|r| r.seq))
    }
}

impl HistoryStore for SqlHistory {
    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .seq("SELECT MAX(seq) AS seq FROM messages")?
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
    fn append_all(&mut self, msgs: &[StoredMessage], keep: u64) -> Result<(), StoreError> {
        for chunk in msgs.chunks(ROWS_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let bindings: Vec<SqlStorageValue> = chunk.iter().flat_map(row).collect();
            self.sql
                .exec(
                    &format!("INSERT INTO messages ({COLUMNS}) VALUES {rows}"),
                    bindings,
                )
                .map_err(failed)?;
        }
        match msgs.last() {
            Some(newest) if newest.seq > keep => {
                let oldest_kept = vec![int(newest.seq - keep)];
                let pruned = self
                    .sql
                    .exec("DELETE FROM messages WHERE seq <= ?", oldest_kept);
                pruned.map(|_| ()).map_err(failed)
            }
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
}
