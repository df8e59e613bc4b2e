//! Per-connection state that lives in memory only: the rate bucket and when
//! the connection last sent a frame, under the connection's random key.
//!
//! Losing it to hibernation is harmless: a room only sleeps after seconds of
//! silence, by which time every bucket is full again, and after a wake-up the
//! idle clock restarts (see [`crate::room::is_idle`]).

use std::cell::RefCell;
use std::collections::HashMap;

use crate::room::rate_limit::TokenBucket;

struct Conn {
    bucket: TokenBucket,
    last_frame: u64,
}

#[derive(Default)]
pub(super) struct Conns(RefCell<HashMap<u64, Conn>>);

impl Conns {
    /// The connection's bucket, or a full one for a connection not seen
    /// since the room woke.
    pub(super) fn bucket(&self, key: u64, burst: u32, now: u64) -> TokenBucket {
        match self.0.borrow().get(&key) {
            Some(conn) => conn.bucket.clone(),
            None => TokenBucket::full(burst, now),
        }
    }

    /// Keeps the bucket after a frame that arrived at `at`.
    pub(super) fn record(&self, key: u64, bucket: TokenBucket, at: u64) {
        let conn = Conn {
            bucket,
            last_frame: at,
        };
        self.0.borrow_mut().insert(key, conn);
    }

    /// Notes a frame at `at` that took nothing from the bucket.
    pub(super) fn touch(&self, key: u64, burst: u32, at: u64) {
        let bucket = self.bucket(key, burst, at);
        self.record(key, bucket, at);
    }

    pub(super) fn last_frame(&self, key: u64) -> Option<u64> {
        self.0.borrow().get(&key).map(|c| c.last_frame)
    }

    pub(super) fn forget(&self, key: u64) {
        self.0.borrow_mut().remove(&key);
    }
}
