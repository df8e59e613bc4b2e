//! The `relays` table: which relay objects hold the room's sockets
//! ([`crate::send::relay`]). The relays themselves hold the sockets and
//! their sessions; the room keeps only their indexes, so that after a
//! restart it knows whom to ask.

use serde::Deserialize;

use super::{int, Db};
use crate::wire::error::StoreError;

pub(crate) struct SqlRelays {
    db: Db,
}

#[derive(Deserialize)]
struct RelayRow {
    idx: u32,
    room: String,
}

impl SqlRelays {
    pub(crate) fn new(db: Db) -> Self {
        SqlRelays { db }
    }

    /// The relays in use, with the room's name (an object does not know
    /// its own, and a relay's is made from it).
    pub(crate) fn list(&self) -> Result<Vec<(u32, String)>, StoreError> {
        let rows: Vec<RelayRow> = self.db.query("SELECT idx, room FROM relays", vec![])?;
        Ok(rows.into_iter().map(|r| (r.idx, r.room)).collect())
    }

    pub(crate) fn opened(&self, index: u32, room: &str) -> Result<(), StoreError> {
        let sql = "INSERT OR REPLACE INTO relays (idx, room) VALUES (?, ?)";
        self.db.exec(sql, vec![int(index.into()), room.into()])
    }

    pub(crate) fn retired(&self, index: u32) -> Result<(), StoreError> {
        (self.db).exec("DELETE FROM relays WHERE idx = ?", vec![int(index.into())])
    }
}
