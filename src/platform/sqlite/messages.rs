//! The `messages` table: [`HistoryStore`], the contract the room's rules
//! are tested against natively, on the object's SQLite.
//!
//! SQLite calls in a Durable Object are synchronous, and the runtime holds
//! every outgoing frame until the writes before it are durable, so a message
//! broadcast after `append` returns is a message that survives a crash.

use serde::Deserialize;
use worker::SqlStorageValue;

use super::{int, Db};
use crate::store::history::{Change, HistoryStore, StoredMessage};
use crate::wire::error::StoreError;

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

pub(crate) struct SqlMessages {
    db: Db,
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

impl SqlMessages {
    pub(crate) fn new(db: Db) -> Self {
        SqlMessages { db }
    }

    fn rows(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows: Vec<Row> = self.db.query(query, bindings)?;
        Ok(rows.into_iter().map(StoredMessage::from).collect())
    }

    fn seq(&self, query: &str) -> Result<Option<u64>, StoreError> {
        let rows: Vec<SeqRow> = self.db.query(query, vec![])?;
        Ok(rows.into_iter().next().and_then(|r| r.seq))
    }
}

impl HistoryStore for SqlMessages {
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
            self.db.exec(&query, bindings)?;
        }
        // A room never has more messages than seqs, so below `keep` seqs
        // there is nothing to prune. Above, keep the newest `keep` messages:
        // seqs that went to edits and deletes do not count.
        match msgs.last() {
            Some(newest) if newest.seq > keep => self.db.exec(
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
        self.db.exec(query, bindings.concat())
    }

    fn changed_after(&mut self, since: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let query =
            format!("SELECT {COLUMNS} FROM messages WHERE seq <= ? AND rev > ? ORDER BY rev");
        self.rows(&query, vec![int(since), int(since)])
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
