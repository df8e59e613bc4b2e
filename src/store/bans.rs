//! The room's bans: who a moderator removed, and until when. Kept apart
//! from messages so the rules that read them can be tested natively
//! against [`MemoryBans`], as the platform's SQLite table must behave.

use std::collections::HashMap;

use crate::wire::error::StoreError;

/// What the room needs from storage to remember bans.
pub trait BanStore {
    /// Bans `client_id` until `until` (epoch milliseconds), forgetting bans
    /// that ended before `now`. A longer ban already running stands: one
    /// moderator's one-minute kick must not cut short another's week.
    fn ban(&mut self, client_id: &str, until: u64, now: u64) -> Result<(), StoreError>;
    /// When `client_id`'s ban ends, if it has one (ended or not).
    fn banned_until(&mut self, client_id: &str) -> Result<Option<u64>, StoreError>;
}

/// Bans in memory, for native tests.
#[derive(Debug, Default)]
pub struct MemoryBans(HashMap<String, u64>);

impl BanStore for MemoryBans {
    fn ban(&mut self, client_id: &str, until: u64, now: u64) -> Result<(), StoreError> {
        self.0.retain(|_, ends| *ends > now);
        let ends = self.0.entry(client_id.to_owned()).or_insert(until);
        *ends = (*ends).max(until);
        Ok(())
    }

    fn banned_until(&mut self, client_id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.0.get(client_id).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_is_remembered_and_ended_ones_are_forgotten_on_the_next() {
        let mut bans = MemoryBans::default();
        bans.ban("mallory", 1_000, 0).unwrap();
        assert_eq!(bans.banned_until("mallory").unwrap(), Some(1_000));
        assert_eq!(bans.banned_until("alice").unwrap(), None);
        bans.ban("eve", 5_000, 2_000).unwrap();
        assert_eq!(
            bans.banned_until("mallory").unwrap(),
            None,
            "ended at 1,000"
        );
        assert_eq!(bans.banned_until("eve").unwrap(), Some(5_000));
    }

    #[test]
    fn the_longest_ban_stands_whatever_the_order() {
        let week = 7 * 24 * 60 * 60_000;
        let mut bans = MemoryBans::default();
        bans.ban("mallory", week, 0).unwrap();
        bans.ban("mallory", 60_000, 0).unwrap();
        assert_eq!(bans.banned_until("mallory").unwrap(), Some(week));
        bans.ban("mallory", 2 * week, 0).unwrap();
        assert_eq!(bans.banned_until("mallory").unwrap(), Some(2 * week));
    }
}
