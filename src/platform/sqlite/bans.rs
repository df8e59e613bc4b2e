//! The `bans` table: [`BanStore`] on the object's SQLite, so a kick
//! survives a restart.

use serde::Deserialize;

use super::{int, Db};
use crate::store::bans::BanStore;
use crate::wire::error::StoreError;

pub(crate) struct SqlBans {
    db: Db,
}

impl SqlBans {
    pub(crate) fn new(db: Db) -> Self {
        SqlBans { db }
    }
}

#[derive(Deserialize)]
struct BanRow {
    until: u64,
}

impl BanStore for SqlBans {
    /// Bans `client_id` from the room until `until` (epoch milliseconds),
    /// forgetting bans that ended before `now`; a longer ban stands.
    fn ban(&mut self, client_id: &str, until: u64, now: u64) -> Result<(), StoreError> {
        self.db
            .exec("DELETE FROM bans WHERE until <= ?", vec![int(now)])?;
        self.db.exec(
            "INSERT INTO bans (client_id, until) VALUES (?, ?) \
             ON CONFLICT (client_id) DO UPDATE SET until = MAX(until, excluded.until)",
            vec![client_id.into(), int(until)],
        )
    }

    /// When `client_id`'s ban ends, if it has one (ended or not).
    fn banned_until(&mut self, client_id: &str) -> Result<Option<u64>, StoreError> {
        let rows: Vec<BanRow> = self.db.query(
            "SELECT until FROM bans WHERE client_id = ?",
            vec![client_id.into()],
        )?;
        Ok(rows.first().map(|r| r.until))
    }
}
