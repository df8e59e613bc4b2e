//! What a room lets go of, and when: messages older than the retention age
//! or past the retention count, oldest first, in bounded steps.
//!
//! Keeping is apart from catching up: a newcomer gets a short window
//! (`HISTORY_LIMIT`), while the room keeps months (`HISTORY_RETAIN_DAYS`,
//! `HISTORY_RETAIN_MESSAGES`). Pruning runs from the alarm, at most
//! [`PRUNE_BATCH`] messages a turn, so no turn stalls the room however big
//! the backlog; a message's edits and delete go with it. The room prunes a
//! prefix of its history, in `seq` order, so what is kept is always every
//! message after one `seq`: `since` catch-up stays exact over it.

use crate::settings::config::Config;
use crate::settings::limits::{PRUNE_BATCH, PRUNE_PAUSE_MS};
use crate::store::history::HistoryStore;
use crate::wire::error::StoreError;

const DAY_MS: u64 = 86_400_000;

/// How much a room keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age_ms: u64,
    pub max_messages: u64,
}

impl Retention {
    pub fn of(config: &Config) -> Self {
        Retention {
            max_age_ms: config.history_retain_days.saturating_mul(DAY_MS),
            max_messages: config.history_retain_messages,
        }
    }

    /// How many of `oldest` (the oldest kept `(seq, ts)`, oldest first) go
    /// now, when `kept` are kept: those past the count, and those too old,
    /// whichever reaches further. Too old stops at the first message young
    /// enough, so what is kept stays one unbroken run of `seq`s.
    pub fn due(&self, oldest: &[(u64, u64)], kept: u64, now: u64) -> usize {
        let over = kept.saturating_sub(self.max_messages);
        let cutoff = now.saturating_sub(self.max_age_ms);
        let too_old = oldest.iter().take_while(|(_, ts)| *ts < cutoff).count();
        (over.min(oldest.len() as u64) as usize).max(too_old)
    }

    /// When the message sent at `ts` becomes too old.
    pub fn expires(&self, ts: u64) -> u64 {
        ts.saturating_add(self.max_age_ms)
    }
}

/// What one pruning step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Messages let go of.
    pub count: u64,
    /// Messages kept after it.
    pub kept: u64,
    /// When the next step is due: soon while a backlog remains, else when
    /// the oldest message left becomes too old; `None` with nothing kept.
    pub next: Option<u64>,
}

/// One bounded pruning step at `now`.
pub fn prune_step(
    store: &mut impl HistoryStore,
    retention: Retention,
    now: u64,
) -> Result<Pruned, StoreError> {
    // One more than a step takes: the oldest message left says when to
    // come back.
    let oldest = store.oldest(PRUNE_BATCH + 1)?;
    let kept = store.kept()?;
    let step = &oldest[..oldest.len().min(PRUNE_BATCH as usize)];
    let count = retention.due(step, kept, now);
    if count > 0 {
        store.prune_through(step[count - 1].0)?;
    }
    let kept = kept - count as u64;
    let backlog = count == step.len() && oldest.len() > step.len();
    let next = match oldest.get(count) {
        _ if backlog || kept > retention.max_messages => Some(now + PRUNE_PAUSE_MS),
        Some(&(_, ts)) => Some(retention.expires(ts).max(now)),
        None => None,
    };
    Ok(Pruned {
        count: count as u64,
        kept,
        next,
    })
}

/// The count of kept messages as the room writes them, so the count rule
/// is checked as messages arrive, without a read per commit. Unknown until
/// a pruning step or a check read it.
#[derive(Debug, Default)]
pub struct Tally {
    kept: Option<u64>,
}

impl Tally {
    pub fn learned(&mut self, kept: u64) {
        self.kept = Some(kept);
    }

    /// `n` more messages were written: true when the room is now over
    /// `max`, and pruning is due at once.
    pub fn wrote(&mut self, n: u64, max: u64) -> bool {
        match &mut self.kept {
            Some(kept) => {
                *kept += n;
                *kept > max
            }
            None => false,
        }
    }
}

/// When pruning is next due for a room that keeps `kept` messages, the
/// oldest sent at `oldest_ts`: now if it is over the count, else when that
/// message becomes too old.
pub fn first_due(retention: Retention, kept: u64, oldest_ts: Option<u64>, now: u64) -> Option<u64> {
    if kept > retention.max_messages {
        return Some(now);
    }
    oldest_ts.map(|ts| retention.expires(ts).max(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::history::{MemoryHistory, StoredMessage};

    const NOW: u64 = 10_000 * DAY_MS;

    fn keep(days: u64, messages: u64) -> Retention {
        Retention {
            max_age_ms: days * DAY_MS,
            max_messages: messages,
        }
    }

    /// A room with one message a day for `days` days up to NOW.
    fn room(days: u64) -> MemoryHistory {
        let mut s = MemoryHistory::default();
        for day in 0..days {
            let ts = NOW - (days - day) * DAY_MS + 1;
            let msg = StoredMessage::said(day + 1, ts, "a", "x");
            s.append(&msg).unwrap();
        }
        s
    }

    #[test]
    fn messages_past_the_age_go_oldest_first_and_the_next_check_is_when_the_next_ages() {
        let mut s = room(10);
        let pruned = prune_step(&mut s, keep(3, 1_000), NOW).unwrap();
        assert_eq!(pruned.count, 7);
        assert_eq!(s.oldest_seq().unwrap(), Some(8));
        assert_eq!(pruned.next, Some(s.oldest(1).unwrap()[0].1 + 3 * DAY_MS));
        let again = prune_step(&mut s, keep(3, 1_000), NOW).unwrap();
        assert_eq!(again.count, 0, "nothing more is due");
    }

    #[test]
    fn messages_past_the_count_go_even_when_young() {
        let mut s = room(10);
        let pruned = prune_step(&mut s, keep(1_000, 4), NOW).unwrap();
        assert_eq!((pruned.count, pruned.kept), (6, 4));
        assert_eq!(s.oldest_seq().unwrap(), Some(7));
    }

    #[test]
    fn a_step_takes_at_most_a_batch_and_comes_back_soon_for_the_rest() {
        let mut s = room(PRUNE_BATCH + 10);
        let pruned = prune_step(&mut s, keep(1, 1_000_000), NOW).unwrap();
        assert_eq!(pruned.count, PRUNE_BATCH);
        assert_eq!(pruned.next, Some(NOW + PRUNE_PAUSE_MS));
        let rest = prune_step(&mut s, keep(1, 1_000_000), NOW).unwrap();
        assert_eq!(rest.count, 9, "all but the last day");
        assert_eq!(rest.kept, 1);
    }

    #[test]
    fn an_empty_room_needs_no_alarm() {
        let pruned = prune_step(&mut MemoryHistory::default(), keep(1, 1), NOW).unwrap();
        assert_eq!((pruned.count, pruned.next), (0, None));
    }

    #[test]
    fn a_young_message_stops_the_age_rule_so_the_kept_seqs_stay_unbroken() {
        let r = keep(3, 1_000);
        let old = NOW - 5 * DAY_MS;
        let young = NOW - DAY_MS;
        assert_eq!(r.due(&[(1, old), (2, young), (3, old)], 3, NOW), 1);
    }

    #[test]
    fn the_tally_calls_for_pruning_once_writes_pass_the_count_and_only_when_known() {
        let mut t = Tally::default();
        assert!(!t.wrote(1_000, 10), "unknown until read");
        t.learned(8);
        assert!(!t.wrote(2, 10));
        assert!(t.wrote(1, 10));
        t.learned(10);
        assert!(!t.wrote(0, 10));
    }

    #[test]
    fn the_first_check_is_now_when_over_the_count_else_when_the_oldest_ages() {
        let r = keep(2, 10);
        assert_eq!(first_due(r, 11, Some(5), NOW), Some(NOW));
        assert_eq!(
            first_due(r, 10, Some(NOW - DAY_MS), NOW),
            Some(NOW + DAY_MS)
        );
        assert_eq!(
            first_due(r, 10, Some(0), NOW),
            Some(NOW),
            "never in the past"
        );
        assert_eq!(first_due(r, 0, None, NOW), None);
    }
}
