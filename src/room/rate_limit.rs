//! A token bucket per connection: steady traffic passes, a burst is
//! absorbed, and a client that keeps flooding after being told is cut off.

use crate::settings::limits::RATE_STRIKES_BEFORE_CLOSE;

/// The bucket's state. Kept in the room's memory, not in the socket's
/// attachment: hibernation needs the room idle for seconds, by which time
/// any bucket has refilled, so a lost bucket is always a full one.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
    /// Frames refused in a row while empty.
    strikes: u32,
}

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refuse this frame; a token is available again after this long.
    Limit {
        retry_after_ms: u64,
    },
    /// The client ignored [`Verdict::Limit`] too long: close with 1008.
    Disconnect,
}

impl TokenBucket {
    pub fn full(burst: u32, now_ms: u64) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            last_ms: now_ms,
            strikes: 0,
        }
    }

    pub fn take(&mut self, now_ms: u64, rate_per_sec: u32, burst: u32) -> Verdict {
        let rate = f64::from(rate_per_sec.max(1));
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(burst));
        self.last_ms = self.last_ms.max(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.strikes = 0;
            return Verdict::Allow;
        }
        self.strikes += 1;
        if self.strikes > RATE_STRIKES_BEFORE_CLOSE {
            return Verdict::Disconnect;
        }
        let missing = 1.0 - self.tokens;
        Verdict::Limit {
            retry_after_ms: (missing / rate * 1000.0).ceil() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_next_is_limited() {
        let mut b = TokenBucket::full(20, 0);
        for _ in 0..20 {
            assert_eq!(b.take(0, 10, 20), Verdict::Allow);
        }
        assert_eq!(
            b.take(0, 10, 20),
            Verdict::Limit {
                retry_after_ms: 100
            }
        );
    }

    #[test]
    fn tokens_refill_at_the_rate() {
        let mut b = TokenBucket::full(1, 0);
        assert_eq!(b.take(0, 10, 1), Verdict::Allow);
        assert!(matches!(b.take(50, 10, 1), Verdict::Limit { .. }));
        assert_eq!(b.take(100, 10, 1), Verdict::Allow);
    }

    #[test]
    fn steady_traffic_at_the_rate_is_never_limited() {
        let mut b = TokenBucket::full(2, 0);
        for i in 0..1_000 {
            assert_eq!(b.take(i * 100, 10, 2), Verdict::Allow, "frame {i}");
        }
    }

    #[test]
    fn sustained_flooding_disconnects() {
        let mut b = TokenBucket::full(1, 0);
        b.take(0, 1, 1);
        let verdicts: Vec<_> = (0..=RATE_STRIKES_BEFORE_CLOSE)
            .map(|_| b.take(0, 1, 1))
            .collect();
        assert!(verdicts[..verdicts.len() - 1]
            .iter()
            .all(|v| matches!(v, Verdict::Limit { .. })));
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));
    }

    #[test]
    fn an_accepted_frame_forgives_earlier_strikes() {
        let mut b = TokenBucket::full(1, 0);
        b.take(0, 10, 1);
        for _ in 0..RATE_STRIKES_BEFORE_CLOSE {
            b.take(0, 10, 1);
        }
        assert_eq!(b.take(1_000, 10, 1), Verdict::Allow);
        assert!(matches!(b.take(1_000, 10, 1), Verdict::Limit { .. }));
    }

    #[test]
    fn a_clock_going_backwards_adds_no_tokens() {
        let mut b = TokenBucket::full(1, 10_000);
        b.take(10_000, 10, 1);
        assert!(matches!(b.take(0, 10, 1), Verdict::Limit { .. }));
    }
}
