//! The room's one alarm, shared by the idle sweep and token expiry.
//!
//! A Durable Object has a single alarm. The idle sweep wants it every half
//! idle timeout while sockets are open; a socket whose token expires wants
//! it at `exp`. So the alarm is set for the earlier of the two, and each
//! time it fires the room closes what is idle or expired and sets it again.
//! Expiry is read from each socket's attachment, so it survives
//! hibernation: the alarm wakes the room, and the room finds the deadlines.

use crate::room::session::Session;
use crate::wire::error::Refusal;

/// What the sweep does to one socket: close it as expired (which wins, as
/// it is the more useful thing to tell the client), as idle, or not at all.
pub fn verdict(session: &Session, idle: bool, now: u64) -> Option<Refusal> {
    if session
        .deadline_ms()
        .is_some_and(|deadline| deadline <= now)
    {
        return Some(Refusal::TokenExpired);
    }
    idle.then_some(Refusal::Idle)
}

/// When the alarm should next fire, in epoch milliseconds: half an idle
/// timeout from now, so no idle socket outlives its timeout by more than
/// half, or the nearest token deadline if sooner (never in the past).
pub fn next(now: u64, idle_timeout_ms: u64, deadlines: impl IntoIterator<Item = u64>) -> u64 {
    let idle_check = now.saturating_add(idle_timeout_ms / 2);
    deadlines.into_iter().fold(idle_check, u64::min).max(now)
}

/// Whether to set the alarm for `wanted`, given the one `pending` (if
/// any): only when there is none, or `wanted` is sooner. A pending alarm
/// that is sooner already serves, and every firing sets the next one.
pub fn to_set(pending: Option<u64>, wanted: u64) -> Option<u64> {
    match pending {
        Some(at) if at <= wanted => None,
        _ => Some(wanted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn expiring_at(secs: u64) -> Session {
        let mut s = Session::of("alice", None);
        s.expires = Some(secs);
        s
    }

    #[test]
    fn an_expired_token_closes_even_an_active_socket_and_wins_over_idleness() {
        let expired = expiring_at(NOW / 1000);
        assert_eq!(verdict(&expired, false, NOW), Some(Refusal::TokenExpired));
        assert_eq!(verdict(&expired, true, NOW), Some(Refusal::TokenExpired));
        let later = expiring_at(NOW / 1000 + 1);
        assert_eq!(verdict(&later, false, NOW), None);
        assert_eq!(verdict(&later, true, NOW), Some(Refusal::Idle));
    }

    #[test]
    fn an_open_mode_socket_only_ever_idles() {
        let open = Session::of("bob", None);
        assert_eq!(verdict(&open, false, u64::MAX), None);
        assert_eq!(verdict(&open, true, NOW), Some(Refusal::Idle));
    }

    #[test]
    fn the_next_alarm_is_the_idle_check_or_a_sooner_deadline() {
        assert_eq!(next(NOW, 300_000, []), NOW + 150_000);
        assert_eq!(next(NOW, 300_000, [NOW + 5_000, NOW + 9_000]), NOW + 5_000);
        assert_eq!(next(NOW, 300_000, [NOW + 900_000]), NOW + 150_000);
        assert_eq!(next(NOW, 300_000, [NOW - 1]), NOW, "never in the past");
    }

    #[test]
    fn a_sooner_pending_alarm_is_kept_and_a_later_one_is_moved_up() {
        assert_eq!(to_set(None, NOW), Some(NOW));
        assert_eq!(to_set(Some(NOW), NOW + 1), None);
        assert_eq!(to_set(Some(NOW + 1), NOW), Some(NOW));
    }
}
