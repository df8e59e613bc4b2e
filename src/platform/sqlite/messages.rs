//! The `messages` table: [`HistoryStore`], the contract the room's rules
//! are tested against natively, on the object's SQLite.
//!
//! SQLite calls in a Durable Object are synchronous, and the runtime holds
//! every outgoing frame until the writes before it are durable, so a message
//! broadcast after `append` returns is a message that survives a crash.

use serde::Deserialize;
use worker::SqlStorageValue;

use super::{int, Db};
use crate::store::history::{Change, HistoryStore, StoredMessage, Toggle};
use crate::store::search::SearchQuery;
use crate::wire::error::StoreError;
use crate::wire::protocol::ReactionCount;

const COLUMNS: &str =
    "seq, ts, client_id, name, body, client_msg_id, rev, changed_ts, deleted, reply_to, mentions";

/// [`COLUMNS`] of `messages AS m`, for reads that join the search index.
const M_COLUMNS: &str = "m.seq, m.ts, m.client_id, m.name, m.body, m.client_msg_id, m.rev, \
    m.changed_ts, m.deleted, m.reply_to, m.mentions";

/// The largest seq a binding carries exactly (bindings are JavaScript
/// numbers): "before everything" is said with it.
const SEQ_MAX: u64 = (1 << 53) - 1;

/// A statement may bind at most 100 values in a Durable Object, and a row
/// binds eleven.
const ROWS_PER_INSERT: usize = 9;

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
    values.push(msg.reply_to.as_deref().into());
    values.push(mentions_value(msg));
    values
}

/// The mentions as stored: ids (which hold no space) separated by spaces,
/// NULL for none.
fn mentions_value(msg: &StoredMessage) -> SqlStorageValue {
    let joined = msg.mentions.join(" ");
    (!joined.is_empty()).then_some(joined.as_str()).into()
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
    reply_to: Option<String>,
    mentions: Option<String>,
}

#[derive(Deserialize)]
struct SeqRow {
    seq: Option<u64>,
}

#[derive(Deserialize)]
struct EpochRow {
    epoch: String,
}

#[derive(Deserialize)]
struct CountRow {
    seq: u64,
    emoji: String,
    count: u64,
    mine: u64,
}

#[derive(Deserialize)]
struct RevRow {
    seq: u64,
    rev: u64,
}

/// Seqs per `IN (…)` list: a statement binds at most 100 values.
const SEQS_PER_QUERY: usize = 90;

#[derive(Deserialize)]
struct AgeRow {
    seq: u64,
    ts: u64,
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
            reply_to: r.reply_to,
            mentions: (r.mentions.iter())
                .flat_map(|m| m.split(' '))
                .map(str::to_owned)
                .collect(),
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
        // Each side is one step down an index, however many rows are kept.
        Ok(self
            .seq(
                "SELECT max(\
                   COALESCE((SELECT seq FROM messages ORDER BY seq DESC LIMIT 1), 0), \
                   COALESCE((SELECT rev FROM messages WHERE rev IS NOT NULL \
                             ORDER BY rev DESC LIMIT 1), 0), \
                   COALESCE((SELECT reacted FROM messages WHERE reacted IS NOT NULL \
                             ORDER BY reacted DESC LIMIT 1), 0)) AS seq",
            )?
            .unwrap_or(0))
    }

    fn epoch(&mut self) -> Result<String, StoreError> {
        let rows: Vec<EpochRow> = self
            .db
            .query("SELECT epoch FROM room_meta LIMIT 1", vec![])?;
        (rows.into_iter().next().map(|r| r.epoch))
            .ok_or_else(|| StoreError("the room has no epoch".into()))
    }

    fn oldest_seq(&mut self) -> Result<Option<u64>, StoreError> {
        self.seq("SELECT MIN(seq) AS seq FROM messages")
    }

    fn append(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        self.append_all(std::slice::from_ref(msg))
    }

    /// One `INSERT` per [`ROWS_PER_INSERT`] messages: every
    /// statement is a call into the runtime with its text and bindings
    /// copied across, and a busy room writes dozens of messages at a time.
    /// An edit or delete of a message still waiting to be written arrives
    /// here with its change, so every row carries its change columns.
    fn append_all(&mut self, msgs: &[StoredMessage]) -> Result<(), StoreError> {
        for chunk in msgs.chunks(ROWS_PER_INSERT) {
            let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let bindings: Vec<SqlStorageValue> = chunk.iter().flat_map(row).collect();
            let query = format!("INSERT INTO messages ({COLUMNS}) VALUES {rows}");
            self.db.exec(&query, bindings)?;
        }
        Ok(())
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

    fn before(&mut self, before: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        let query = format!(
            "SELECT * FROM (SELECT {COLUMNS} FROM messages WHERE seq < ? \
             ORDER BY seq DESC LIMIT ?) ORDER BY seq"
        );
        self.rows(&query, vec![int(before.min(SEQ_MAX)), int(limit)])
    }

    fn get(&mut self, seq: u64) -> Result<Option<StoredMessage>, StoreError> {
        let query = format!("SELECT {COLUMNS} FROM messages WHERE seq = ?");
        Ok(self.rows(&query, vec![int(seq)])?.into_iter().next())
    }

    fn revise(&mut self, msg: &StoredMessage) -> Result<(), StoreError> {
        let query = "UPDATE messages SET body = ?, rev = ?, changed_ts = ?, deleted = ?, \
            mentions = ? WHERE seq = ?";
        let bindings = [
            vec![msg.body.as_str().into()],
            change_values(msg),
            vec![mentions_value(msg), int(msg.seq)],
        ];
        self.db.exec(query, bindings.concat())
    }

    fn changed_after(&mut self, since: u64, limit: u64) -> Result<Vec<StoredMessage>, StoreError> {
        // Walks `messages_by_rev` from `since`: the changes since, not
        // every message before it.
        let query = format!(
            "SELECT {COLUMNS} FROM messages WHERE rev IS NOT NULL AND rev > ? AND seq <= ? \
             ORDER BY rev LIMIT ?"
        );
        self.rows(&query, vec![int(since), int(since), int(limit)])
    }

    /// Walks the index's hits for the rarest word from `before` down,
    /// newest first, and stops at `limit`.
    fn search(
        &mut self,
        query: &SearchQuery,
        before: u64,
        limit: u64,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = format!(
            "SELECT {M_COLUMNS} FROM messages_fts JOIN messages AS m \
             ON m.seq = messages_fts.rowid \
             WHERE messages_fts MATCH ? AND messages_fts.rowid < ? AND m.deleted = 0 \
             ORDER BY messages_fts.rowid DESC LIMIT ?"
        );
        let bindings = vec![query.fts5().into(), int(before.min(SEQ_MAX)), int(limit)];
        self.rows(&sql, bindings)
    }

    fn reactions(
        &mut self,
        seqs: &[u64],
        me: Option<&str>,
    ) -> Result<Vec<(u64, ReactionCount)>, StoreError> {
        let mut out = Vec::new();
        for chunk in seqs.chunks(SEQS_PER_QUERY) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let query = format!(
                "SELECT seq, emoji, COUNT(*) AS count, MAX(client_id = ?) AS mine \
                 FROM reactions WHERE seq IN ({marks}) GROUP BY seq, emoji \
                 ORDER BY seq, MIN(ts), emoji"
            );
            let mut bindings = vec![me.unwrap_or_default().into()];
            bindings.extend(chunk.iter().map(|&s| int(s)));
            let rows: Vec<CountRow> = self.db.query(&query, bindings)?;
            out.extend(rows.into_iter().map(|r| {
                let mine = me.map(|_| r.mine != 0);
                let count = ReactionCount {
                    emoji: r.emoji,
                    count: r.count,
                    mine,
                };
                (r.seq, count)
            }));
        }
        Ok(out)
    }

    fn react(&mut self, t: &Toggle) -> Result<(), StoreError> {
        let key = vec![
            int(t.seq),
            t.emoji.as_str().into(),
            t.client_id.as_str().into(),
        ];
        match t.on {
            true => self.db.exec(
                "INSERT OR IGNORE INTO reactions (seq, emoji, client_id, ts) VALUES (?, ?, ?, ?)",
                [key, vec![int(t.ts)]].concat(),
            )?,
            false => self.db.exec(
                "DELETE FROM reactions WHERE seq = ? AND emoji = ? AND client_id = ?",
                key,
            )?,
        }
        self.db.exec(
            "UPDATE messages SET reacted = ? WHERE seq = ?",
            vec![int(t.rev), int(t.seq)],
        )
    }

    fn reacted_after(&mut self, since: u64, limit: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let rows: Vec<RevRow> = self.db.query(
            "SELECT seq, reacted AS rev FROM messages \
             WHERE reacted IS NOT NULL AND reacted > ? AND seq <= ? ORDER BY reacted LIMIT ?",
            vec![int(since), int(since), int(limit)],
        )?;
        Ok(rows.into_iter().map(|r| (r.seq, r.rev)).collect())
    }

    fn read_pointer(&mut self, client_id: &str) -> Result<u64, StoreError> {
        let rows: Vec<SeqRow> = self.db.query(
            "SELECT seq FROM read_state WHERE client_id = ?",
            vec![client_id.into()],
        )?;
        Ok(rows.into_iter().next().and_then(|r| r.seq).unwrap_or(0))
    }

    fn set_read_pointer(&mut self, client_id: &str, seq: u64, ts: u64) -> Result<(), StoreError> {
        self.db.exec(
            "INSERT INTO read_state (client_id, seq, ts) VALUES (?, ?, ?) \
             ON CONFLICT (client_id) DO UPDATE SET seq = excluded.seq, ts = excluded.ts",
            vec![client_id.into(), int(seq), int(ts)],
        )
    }

    /// Walks messages after `seq` by key and stops at `cap`: a join never
    /// pays for a pointer months behind.
    fn unread(&mut self, seq: u64, client_id: &str, cap: u64) -> Result<u64, StoreError> {
        let rows: Vec<SeqRow> = self.db.query(
            "SELECT COUNT(*) AS seq FROM (SELECT 1 FROM messages \
             WHERE seq > ? AND deleted = 0 AND client_id != ? LIMIT ?)",
            vec![int(seq), client_id.into(), int(cap)],
        )?;
        Ok(rows.into_iter().next().and_then(|r| r.seq).unwrap_or(0))
    }

    fn kept(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .seq("SELECT kept AS seq FROM history_stats LIMIT 1")?
            .unwrap_or(0))
    }

    fn oldest(&mut self, limit: u64) -> Result<Vec<(u64, u64)>, StoreError> {
        let rows: Vec<AgeRow> = self.db.query(
            "SELECT seq, ts FROM messages ORDER BY seq LIMIT ?",
            vec![int(limit)],
        )?;
        Ok(rows.into_iter().map(|r| (r.seq, r.ts)).collect())
    }

    fn prune_through(&mut self, through: u64) -> Result<(), StoreError> {
        self.db
            .exec("DELETE FROM messages WHERE seq <= ?", vec![int(through)])
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
