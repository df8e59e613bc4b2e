//! Coalescing broadcasts into `batch` frames for clients that asked for them.
//!
//! On workerd the cost of a broadcast is dominated by the runtime's work per
//! frame sent, not by our code. When a room is busy, sending one frame per
//! socket per message saturates the room long before the network does; sending
//! each socket one frame that carries every message of the last few
//! milliseconds does not. When the room is quiet nothing waits: a broadcast
//! with no other in the last window ([`COALESCE_WINDOW_MS`], longer in a
//! big room: [`window_for`]) goes out at once.
//!
//! Only clients that connected with `batch=1` get batches; the originals'
//! clients, which expect one JSON object per frame with `clientId` and
//! `message`, keep getting exactly that.

/// How long a busy room may hold a broadcast to batch it with the next ones.
/// 10 ms is below what a person can notice in a chat and caps each socket at
/// about 100 frames a second however busy the room gets.
pub const COALESCE_WINDOW_MS: u64 = 10;

/// The longest window a big room uses: still well below what a person
/// notices in a chat.
pub const MAX_COALESCE_WINDOW_MS: u64 = 50;

/// Sockets per millisecond of window. A flush sends every socket a frame,
/// and the runtime's work per frame (about 8–10 µs under workerd) makes a
/// flush to 1,000 sockets cost about 10 ms: with a 10 ms window such a room
/// spends its whole core on flushes, and any other work (a read receipt, a
/// join) pushes every broadcast late. One millisecond per 25 sockets keeps
/// flushes to about a quarter of the time. Measured at 1,000 `batch=1`
/// clients sending the page's receipts, knees in delivered messages/s:
/// 70,000–140,000 at 10 ms, 180,000–300,000 at 25 ms, 415,000–416,000 at
/// 40 ms, with fan-out p99 unchanged (BENCHMARKS.md).
const SOCKETS_PER_WINDOW_MS: usize = 25;

/// The window for a room of `sockets`: [`COALESCE_WINDOW_MS`] up to 250
/// sockets, then growing with the room up to [`MAX_COALESCE_WINDOW_MS`]
/// (40 ms at 1,000 sockets).
pub fn window_for(sockets: usize) -> u64 {
    let ms = u64::try_from(sockets / SOCKETS_PER_WINDOW_MS).unwrap_or(u64::MAX);
    ms.clamp(COALESCE_WINDOW_MS, MAX_COALESCE_WINDOW_MS)
}

/// The most JSON one `batch` frame carries. A room that falls behind under
/// overload would otherwise pack everything held into one frame of many
/// megabytes: past common client limits (16 MiB by default in tungstenite,
/// less in some proxies), and built in memory all at once.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Which batch sockets a held frame is for. Serialised for relays, which
/// send what the room releases to their own sockets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum To<S> {
    All,
    /// Everyone but this socket: the sender, for notices about itself.
    AllBut(S),
    /// This socket alone: an `ack` or error for the sender, held so it
    /// cannot overtake the broadcasts held before it.
    Only(S),
    /// Every batch socket: a frame the originals' clients cannot read.
    Batching,
}

impl<S: PartialEq> To<S> {
    pub fn includes(&self, socket: &S) -> bool {
        match self {
            To::All | To::Batching => true,
            To::AllBut(s) => s != socket,
            To::Only(s) => s == socket,
        }
    }

    /// Whether `socket` gets something other than what a socket this frame
    /// does not name gets.
    pub fn names(&self, socket: &S) -> bool {
        matches!(self, To::AllBut(s) | To::Only(s) if s == socket)
    }
}

/// One held frame, serialised once, and who it is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Held<S> {
    pub json: String,
    pub to: To<S>,
}

/// What to do with a broadcast just offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// The room was quiet: send it now, as a plain frame.
    SendNow,
    /// Held; arm a timer to flush in this many milliseconds.
    HeldArmTimer(u64),
    /// Held; a timer is already armed.
    Held,
}

/// Per-room coalescing state.
#[derive(Debug)]
pub struct Coalescer<S> {
    window_ms: u64,
    last_send: Option<u64>,
    timer_armed: bool,
    held: Vec<Held<S>>,
}

impl<S> Default for Coalescer<S> {
    fn default() -> Self {
        Coalescer::new(COALESCE_WINDOW_MS)
    }
}

impl<S> Coalescer<S> {
    pub fn new(window_ms: u64) -> Self {
        Coalescer {
            window_ms,
            last_send: None,
            timer_armed: false,
            held: Vec::new(),
        }
    }

    /// Sets the window for the offers from now on; a timer already armed
    /// keeps its time.
    pub fn set_window(&mut self, window_ms: u64) {
        self.window_ms = window_ms;
    }

    /// Offers a broadcast made at `now`. On [`Offer::SendNow`] the caller
    /// sends `held` itself; otherwise it is kept for [`Coalescer::flush`].
    pub fn offer(&mut self, held: Held<S>, now: u64) -> (Offer, Option<Held<S>>) {
        let quiet = self
            .last_send
            .is_none_or(|last| now.saturating_sub(last) >= self.window_ms);
        if self.held.is_empty() && !self.timer_armed && quiet {
            self.last_send = Some(now);
            return (Offer::SendNow, Some(held));
        }
        self.held.push(held);
        if self.timer_armed {
            return (Offer::Held, None);
        }
        self.timer_armed = true;
        let since_last = self.last_send.map_or(0, |last| now.saturating_sub(last));
        (
            Offer::HeldArmTimer(self.window_ms.saturating_sub(since_last)),
            None,
        )
    }

    /// Takes everything held, in order. Called by the timer, and before any
    /// frame that must not overtake held broadcasts.
    pub fn flush(&mut self, now: u64) -> Vec<Held<S>> {
        self.timer_armed = false;
        if !self.held.is_empty() {
            self.last_send = Some(now);
        }
        std::mem::take(&mut self.held)
    }

    pub fn has_held(&self) -> bool {
        !self.held.is_empty()
    }
}

/// The frames of `held` that `socket` receives, in order.
pub fn frames_for<'a, S: PartialEq>(held: &'a [Held<S>], socket: &S) -> Vec<&'a str> {
    held.iter()
        .filter(|h| h.to.includes(socket))
        .map(|h| h.json.as_str())
        .collect()
}

/// Splits `frames`, in order, into runs of at most `max_bytes` of JSON, one
/// run per frame sent. A frame longer than that is a run by itself.
pub fn runs<'a, 'b>(frames: &'b [&'a str], max_bytes: usize) -> Vec<&'b [&'a str]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, frame) in frames.iter().enumerate() {
        if i > start && size + frame.len() > max_bytes {
            out.push(&frames[start..i]);
            (start, size) = (i, 0);
        }
        size += frame.len();
    }
    if start < frames.len() {
        out.push(&frames[start..]);
    }
    out
}

/// The frames of `held` that every socket it does not name receives, in
/// order: most of a room gets exactly these, so they are built once.
pub fn frames_for_unnamed<S>(held: &[Held<S>]) -> Vec<&str> {
    held.iter()
        .filter(|h| !matches!(h.to, To::Only(_)))
        .map(|h| h.json.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(json: &str, to: To<u8>) -> Held<u8> {
        Held {
            json: json.into(),
            to,
        }
    }

    #[test]
    fn a_broadcast_in_a_quiet_room_goes_out_at_once() {
        let mut c = Coalescer::new(10);
        assert_eq!(c.offer(h("a", To::All), 0).0, Offer::SendNow);
        assert_eq!(c.offer(h("b", To::All), 10).0, Offer::SendNow);
        assert_eq!(c.offer(h("c", To::All), 100).0, Offer::SendNow);
    }

    #[test]
    fn a_burst_is_held_until_the_window_ends() {
        let mut c = Coalescer::new(10);
        c.offer(h("a", To::All), 0);
        assert_eq!(c.offer(h("b", To::All), 3).0, Offer::HeldArmTimer(7));
        assert_eq!(c.offer(h("c", To::All), 5).0, Offer::Held);
        let flushed: Vec<String> = c.flush(10).into_iter().map(|h| h.json).collect();
        assert_eq!(flushed, ["b", "c"]);
        assert!(!c.has_held());
    }

    #[test]
    fn after_a_flush_the_next_burst_waits_a_full_window() {
        let mut c = Coalescer::new(10);
        c.offer(h("a", To::All), 0);
        c.offer(h("b", To::All), 1);
        c.flush(10);
        assert_eq!(c.offer(h("c", To::All), 12).0, Offer::HeldArmTimer(8));
    }

    #[test]
    fn a_big_room_holds_broadcasts_longer() {
        assert_eq!(window_for(0), COALESCE_WINDOW_MS);
        assert_eq!(window_for(100), COALESCE_WINDOW_MS);
        assert_eq!(window_for(250), 10);
        assert_eq!(window_for(400), 16);
        assert_eq!(window_for(1_000), 40);
        assert_eq!(window_for(1_250), 50);
        assert_eq!(window_for(5_000), 50);
        assert_eq!(window_for(usize::MAX), MAX_COALESCE_WINDOW_MS);
        let mut c = Coalescer::new(10);
        c.set_window(window_for(1_000));
        c.offer(h("a", To::All), 0);
        assert_eq!(c.offer(h("b", To::All), 12).0, Offer::HeldArmTimer(28));
        c.flush(40);
        assert_eq!(c.offer(h("c", To::All), 55).0, Offer::HeldArmTimer(25));
        assert_eq!(c.flush(80).len(), 1);
        assert_eq!(c.offer(h("d", To::All), 120).0, Offer::SendNow);
    }

    #[test]
    fn nothing_held_may_be_overtaken_by_a_send_now() {
        let mut c = Coalescer::new(10);
        c.offer(h("a", To::All), 0);
        c.offer(h("b", To::All), 1);
        // The window has passed but the timer has not fired yet: hold on.
        assert_eq!(c.offer(h("c", To::All), 50).0, Offer::Held);
    }

    #[test]
    fn runs_keep_order_and_stay_under_the_cap() {
        let frames = ["aaaa", "bb", "cc", "dddddddd", "e"];
        assert_eq!(
            runs(&frames, 6),
            [&["aaaa", "bb"][..], &["cc"], &["dddddddd"], &["e"]]
        );
        assert_eq!(runs(&frames, 100), [&frames[..]]);
        assert!(runs(&[], 6).is_empty());
    }

    #[test]
    fn each_socket_gets_exactly_the_frames_meant_for_it() {
        let held = [
            h("a", To::All),
            h("b", To::AllBut(1)),
            h("c", To::Only(2)),
            h("d", To::AllBut(2)),
        ];
        assert_eq!(frames_for(&held, &1), ["a", "d"]);
        assert_eq!(frames_for(&held, &2), ["a", "b", "c"]);
        assert_eq!(frames_for(&held, &3), ["a", "b", "d"]);
        assert_eq!(frames_for_unnamed(&held), ["a", "b", "d"]);
        assert!(held[1].to.names(&1) && held[2].to.names(&2));
        assert!(!held[0].to.names(&1) && !held[2].to.names(&1));
    }
}
