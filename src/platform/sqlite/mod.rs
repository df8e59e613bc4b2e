//! The room object's SQLite database, one file per thing it stores: the
//! schema, messages, bans, webhook events and the room's relays. Each table's adapter
//! implements a contract from the pure layers ([`HistoryStore`],
//! [`BanStore`], [`EventStore`]), which their native tests hold memory
//! versions to.
//!
//! [`HistoryStore`]: crate::store::history::HistoryStore
//! [`BanStore`]: crate::store::bans::BanStore
//! [`EventStore`]: crate::hooks::outbox::EventStore

mod bans;
mod messages;
mod relays;
mod schema;
mod webhook_events;

use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

pub(crate) use bans::SqlBans;
pub(crate) use messages::SqlMessages;
pub(crate) use relays::SqlRelays;
pub(crate) use webhook_events::SqlEvents;

use crate::wire::error::StoreError;

/// The database: every statement of every table goes through here.
#[derive(Clone)]
pub(crate) struct Db {
    sql: SqlStorage,
}

impl Db {
    pub(crate) fn new(sql: SqlStorage) -> Self {
        Db { sql }
    }

    /// The schema, created or brought up to date.
    pub(crate) fn create_schema(&self) -> Result<(), StoreError> {
        schema::create(self)
    }

    pub(crate) fn messages(&self) -> SqlMessages {
        SqlMessages::new(self.clone())
    }

    pub(crate) fn bans(&self) -> SqlBans {
        SqlBans::new(self.clone())
    }

    pub(crate) fn events(&self) -> SqlEvents {
        SqlEvents::new(self.clone())
    }

    pub(crate) fn relays(&self) -> SqlRelays {
        SqlRelays::new(self.clone())
    }

    pub(crate) fn exec(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<(), StoreError> {
        self.sql.exec(query, bindings).map(|_| ()).map_err(failed)
    }

    pub(crate) fn query<T: for<'de> Deserialize<'de>>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>, StoreError> {
        self.sql
            .exec(query, bindings)
            .and_then(|c| c.to_array())
            .map_err(failed)
    }
}

/// A failed SQLite call, said in fixed words: the runtime's message may
/// quote the query or a value in it, and goes to no log.
fn failed(_: worker::Error) -> StoreError {
    StoreError("a SQLite call failed".into())
}

/// SQLite integers are JavaScript numbers on the way in: exact up to 2^53,
/// far beyond any seq or millisecond timestamp this room will see.
fn int(v: u64) -> SqlStorageValue {
    SqlStorageValue::from(v as f64)
}
