//! Flow control: how many bytes the room has sent each socket that it has
//! not seen the socket read, and which sockets to close when that grows.
//!
//! workerd gives a server-side socket no `bufferedAmount` and no
//! backpressure (cloudflare/workerd#988): every frame sent to a socket that
//! does not read stays in the object's memory, about three bytes of memory
//! per byte queued. A handful of sockets that connect and never read would
//! grow a busy room past the 128 MB limit, and the runtime would reset it,
//! cutting everyone off. So the room keeps its own books.
//!
//! - **Counting.** Every frame sent adds its UTF-8 length to the socket's
//!   [`Meter`] and to the room's total: one add and one compare per socket
//!   per frame ([`Flow::sent`]).
//! - **Receipts.** Our clients (the page, and any client that wants to)
//!   send `{"type":"seen","frames":N}`: the number of frames they have read
//!   on this socket. The page sends one after each 64 KiB read (the first
//!   after a random 64–128 KiB, so one room's sockets do not confirm at
//!   once), so a quiet room gets none. The meter keeps a checkpoint
//!   (frames, bytes) every [`CHECKPOINT_BYTES`], so a receipt frees the
//!   bytes up to the last checkpoint it covers (exactly all of them when it
//!   covers every frame sent). Memory per socket is bounded: a socket with
//!   more than its budget unconfirmed is closed, so it never holds more
//!   than budget / [`CHECKPOINT_BYTES`] + 1 checkpoints.
//! - **Per-socket budget.** A socket that has sent a receipt has promised
//!   to send more. Once its unconfirmed bytes pass the socket budget it is
//!   cut at once ([`Sent::CutSocket`]): nothing more is sent to it and it is
//!   closed with 1013 "too slow, reconnect". Its client reconnects with
//!   `since` and catches up from history; it loses nothing history holds.
//! - **Plain sockets** (the originals' protocol) never send receipts. A
//!   frame from one is its only sign of life the room sees, and frees its
//!   count ([`Flow::alive`]). Nothing else is done to a plain socket until
//!   the room's total passes the room budget. Then [`Flow::evictions`]
//!   picks the sockets that have gone longest without a sign of life (a
//!   frame, a receipt, or a ping the runtime answered), the biggest holders
//!   among equals, until the total is under the low-water mark; a socket
//!   alive within the last minute, or holding under 256 KiB, is never
//!   picked. A quiet room never comes near the room budget, so a listener
//!   there is never cut off.
//!
//! A receipt is only a client's claim. It can never confirm more than was
//! sent (it is clamped), and a socket whose claims run ahead of what it
//! reads is no worse off than a plain socket that chats: the room-wide
//! budget counts everything not confirmed, and the rate limit bounds how
//! fast anyone can make the room send. What a lying client can still do is
//! written down in the README's security section.

use std::collections::VecDeque;

use crate::settings::config::Budgets;

/// Bytes between two checkpoints of a receipt-sending socket: a receipt
/// frees the bytes up to the last checkpoint it covers.
pub const CHECKPOINT_BYTES: u64 = 16 * 1024;

/// A socket holding no more than this is never closed for the room's
/// budget. A reader that keeps up holds at most one receipt interval
/// (64 KiB, 128 KiB before its first), a checkpoint (16 KiB) and the frames
/// in flight; a thousand of them in a busy room can hold more than the
/// room's budget between them and still cost the object nothing, since what
/// they have not confirmed sits in their kernels' buffers, not in the room.
/// A socket that does not read passes this within seconds of traffic.
pub const EVICTABLE_FROM: u64 = 256 * 1024;

/// A socket that sent a frame, a receipt or a ping this recently is taking
/// part in the room, and is never closed for the room's budget.
pub const ALIVE_WITHIN_MS: u64 = 60_000;

/// One socket's books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meter {
    /// Frames and bytes sent since the socket connected.
    frames: u64,
    bytes: u64,
    /// Bytes the socket has confirmed (or, for a plain socket, bytes sent
    /// before its last sign of life).
    confirmed: u64,
    /// The socket has sent a receipt: it is held to the socket budget.
    receipts: bool,
    /// (frames, bytes) after every [`CHECKPOINT_BYTES`] sent, oldest first,
    /// none confirmed yet. Only kept for receipt-sending sockets.
    marks: VecDeque<(u64, u64)>,
    /// Closed by flow control: nothing more is sent to it.
    cut: bool,
    /// The most frames a receipt has claimed.
    seen: u64,
}

impl Meter {
    pub fn unconfirmed(&self) -> u64 {
        self.bytes - self.confirmed
    }

    pub fn is_cut(&self) -> bool {
        self.cut
    }

    pub fn sends_receipts(&self) -> bool {
        self.receipts
    }
}

/// What a send did to the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Fine,
    /// This socket passed its budget: stop sending to it and close it.
    CutSocket,
    /// The room passed its budget: run [`Flow::evictions`] after this send.
    RoomOver,
}

/// The sockets one send path passed over budget, named by `K`, and whether
/// the room passed its own: what the adapter acts on after sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdrawn<K> {
    pub sockets: Vec<K>,
    pub room: bool,
}

impl<K> Default for Overdrawn<K> {
    fn default() -> Self {
        Overdrawn {
            sockets: Vec::new(),
            room: false,
        }
    }
}

impl<K> Overdrawn<K> {
    /// Notes what a send to `key` did. True if that socket is now cut and
    /// must get nothing more.
    #[inline]
    pub fn note(&mut self, key: K, sent: Sent) -> bool {
        match sent {
            Sent::Fine => false,
            Sent::RoomOver => {
                self.room = true;
                false
            }
            Sent::CutSocket => {
                self.sockets.push(key);
                true
            }
        }
    }
}

/// Why flow control closed a socket, for the log line.
pub const SOCKET_BUDGET: &str = "socket_budget";
pub const ROOM_BUDGET: &str = "room_budget";

/// The room's total, under its budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub budgets: Budgets,
    total: u64,
    /// When an eviction could not bring the total down (everyone keeps
    /// up), the next is not tried before the total passes this: one pass
    /// per eighth of the budget, not one per frame.
    recheck: u64,
}

impl Flow {
    pub fn new(budgets: Budgets) -> Self {
        Flow {
            budgets,
            total: 0,
            recheck: 0,
        }
    }

    /// Unconfirmed bytes across every socket.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Books a frame of `bytes` sent to `meter`'s socket.
    #[inline]
    pub fn sent(&mut self, meter: &mut Meter, bytes: usize) -> Sent {
        let bytes = bytes as u64;
        meter.frames += 1;
        meter.bytes += bytes;
        self.total += bytes;
        if meter.receipts {
            let last = meter.marks.back().map_or(meter.confirmed, |m| m.1);
            if meter.bytes - last >= CHECKPOINT_BYTES {
                meter.marks.push_back((meter.frames, meter.bytes));
            }
            if meter.unconfirmed() > self.budgets.socket {
                meter.cut = true;
                return Sent::CutSocket;
            }
        }
        if self.total > self.budgets.room.max(self.recheck) {
            Sent::RoomOver
        } else {
            Sent::Fine
        }
    }

    /// The socket says it has read its first `frames` frames. From now on
    /// it is held to the socket budget. True if the receipt told the room
    /// anything new: a stale or repeated one is just a frame, and pays the
    /// rate limit like any other.
    pub fn receipt(&mut self, meter: &mut Meter, frames: u64) -> bool {
        let news = !meter.receipts || frames.min(meter.frames) > meter.seen;
        meter.seen = meter.seen.max(frames.min(meter.frames));
        if !meter.receipts {
            // Everything before the first receipt counts as unconfirmed
            // until a receipt covers all of it.
            meter.receipts = true;
            meter.marks.clear();
        }
        let frames = frames.min(meter.frames);
        let mut confirmed = meter.confirmed;
        if frames == meter.frames {
            confirmed = meter.bytes;
            meter.marks.clear();
        }
        while let Some(&(at, bytes)) = meter.marks.front() {
            if at > frames {
                break;
            }
            confirmed = confirmed.max(bytes);
            meter.marks.pop_front();
        }
        self.confirm(meter, confirmed);
        news
    }

    /// A plain socket sent a frame: it is alive, and its count starts
    /// again. A receipt-sending socket's count moves only with receipts.
    pub fn alive(&mut self, meter: &mut Meter) {
        if !meter.receipts {
            let bytes = meter.bytes;
            self.confirm(meter, bytes);
        }
    }

    /// The socket left the room: its bytes no longer count.
    pub fn forget(&mut self, meter: &Meter) {
        self.total -= meter.unconfirmed().min(self.total);
        if self.total <= self.budgets.room {
            self.recheck = 0;
        }
    }

    fn confirm(&mut self, meter: &mut Meter, confirmed: u64) {
        if confirmed > meter.confirmed {
            self.total -= (confirmed - meter.confirmed).min(self.total);
            meter.confirmed = confirmed;
        }
    }

    /// Which sockets to close so the total falls under the low-water mark,
    /// at `now`: the longest without a sign of life first (never any
    /// first), and among equals the ones holding the most unconfirmed bytes.
    /// `sockets` gives each one's name, unconfirmed bytes and last sign of
    /// life (epoch ms: its last frame or receipt, or the runtime's answer to
    /// its last ping).
    ///
    /// Only sockets holding more than [`EVICTABLE_FROM`], and silent for
    /// longer than [`ALIVE_WITHIN_MS`], are candidates. A socket taking part
    /// in the room sends frames or pings (the page pings every 30 s, and
    /// the idle timeout closes anyone silent for 300 s); one that never
    /// reads usually says nothing either. In a big, busy room of plain
    /// listeners the total can pass the budget while every socket reads;
    /// they are all alive, so none is closed.
    pub fn evictions<K>(
        &mut self,
        sockets: impl Iterator<Item = (K, u64, Option<u64>)>,
        now: u64,
    ) -> Vec<K> {
        if self.total <= self.budgets.room {
            return Vec::new();
        }
        let silent =
            |life: Option<u64>| life.is_none_or(|at| now.saturating_sub(at) > ALIVE_WITHIN_MS);
        let mut held: Vec<(K, u64, Option<u64>)> = sockets
            .filter(|s| s.1 > EVICTABLE_FROM && silent(s.2))
            .collect();
        held.sort_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1)));
        let mut total = self.total;
        let low = self.budgets.low_water();
        let mut out = Vec::new();
        for (key, bytes, _) in held {
            if total < low {
                break;
            }
            total -= bytes.min(total);
            out.push(key);
        }
        self.recheck = total + self.budgets.room / 8;
        out
    }

    /// Marks an evicted socket, so nothing more is sent to it.
    pub fn cut(meter: &mut Meter) {
        meter.cut = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    fn flow() -> Flow {
        Flow::new(Budgets {
            socket: 256 * KIB,
            room: 4096 * KIB,
        })
    }

    fn send(flow: &mut Flow, meter: &mut Meter, n: usize, bytes: usize) -> Vec<Sent> {
        (0..n).map(|_| flow.sent(meter, bytes)).collect()
    }

    #[test]
    fn every_send_counts_for_the_socket_and_the_room() {
        let (mut f, mut a, mut b) = (flow(), Meter::default(), Meter::default());
        send(&mut f, &mut a, 3, 100);
        send(&mut f, &mut b, 1, 50);
        assert_eq!(
            (a.unconfirmed(), b.unconfirmed(), f.total()),
            (300, 50, 350)
        );
    }

    #[test]
    fn a_receipt_for_every_frame_frees_every_byte() {
        let (mut f, mut m) = (flow(), Meter::default());
        send(&mut f, &mut m, 10, 1000);
        f.receipt(&mut m, 10);
        assert_eq!((m.unconfirmed(), f.total()), (0, 0));
    }

    #[test]
    fn a_partial_receipt_frees_up_to_the_last_checkpoint_it_covers() {
        let (mut f, mut m) = (flow(), Meter::default());
        f.receipt(&mut m, 0);
        // 4 KiB frames: checkpoints after frames 4, 8, 12.
        send(&mut f, &mut m, 12, 4096);
        f.receipt(&mut m, 9);
        assert_eq!(m.unconfirmed(), 16 * KIB, "frames 9..12 after mark 8");
        assert_eq!(f.total(), 16 * KIB);
        f.receipt(&mut m, 12);
        assert_eq!(m.unconfirmed(), 0);
    }

    #[test]
    fn a_receipt_cannot_confirm_more_than_was_sent() {
        let (mut f, mut m) = (flow(), Meter::default());
        send(&mut f, &mut m, 2, 100);
        f.receipt(&mut m, 1_000_000);
        assert_eq!((m.unconfirmed(), f.total()), (0, 0));
        send(&mut f, &mut m, 1, 100);
        assert_eq!(m.unconfirmed(), 100, "later frames still count");
    }

    #[test]
    fn an_old_receipt_never_takes_back_what_a_newer_one_freed() {
        let (mut f, mut m) = (flow(), Meter::default());
        f.receipt(&mut m, 0);
        send(&mut f, &mut m, 8, 4096);
        f.receipt(&mut m, 8);
        f.receipt(&mut m, 3);
        assert_eq!((m.unconfirmed(), f.total()), (0, 0));
    }

    #[test]
    fn only_a_receipt_that_claims_more_frames_is_news() {
        let (mut f, mut m) = (flow(), Meter::default());
        assert!(f.receipt(&mut m, 0), "the first one turns receipts on");
        assert!(!f.receipt(&mut m, 5), "nothing was sent yet");
        send(&mut f, &mut m, 3, 10);
        assert!(f.receipt(&mut m, 2));
        assert!(!f.receipt(&mut m, 2));
        assert!(f.receipt(&mut m, 9));
        assert!(!f.receipt(&mut m, 9), "clamped to the 3 sent");
    }

    #[test]
    fn a_receipt_sender_over_its_budget_is_cut_at_once() {
        let (mut f, mut m) = (flow(), Meter::default());
        f.receipt(&mut m, 0);
        let verdicts = send(&mut f, &mut m, 65, 4096);
        assert!(verdicts[..64].iter().all(|v| *v == Sent::Fine));
        assert_eq!(verdicts[64], Sent::CutSocket);
        assert!(m.is_cut());
    }

    #[test]
    fn a_reader_that_keeps_sending_receipts_is_never_cut() {
        let (mut f, mut m) = (flow(), Meter::default());
        for round in 1..=1000u64 {
            let verdicts = send(&mut f, &mut m, 16, 4096);
            assert!(verdicts.iter().all(|v| *v == Sent::Fine), "round {round}");
            f.receipt(&mut m, round * 16 - 3);
        }
        assert!(m.marks.len() <= 2, "checkpoints stay bounded");
    }

    #[test]
    fn checkpoints_stay_bounded_by_the_budget() {
        let (mut f, mut m) = (flow(), Meter::default());
        f.receipt(&mut m, 0);
        while f.sent(&mut m, 100) != Sent::CutSocket {}
        let most = (f.budgets.socket / CHECKPOINT_BYTES + 1) as usize;
        assert!(m.marks.len() <= most, "{} > {most}", m.marks.len());
    }

    #[test]
    fn a_plain_socket_is_never_cut_alone_and_a_frame_frees_it() {
        let (mut f, mut m) = (flow(), Meter::default());
        let verdicts = send(&mut f, &mut m, 200, 4096);
        assert!(verdicts[..200].iter().all(|v| *v != Sent::CutSocket));
        assert_eq!(verdicts[199], Sent::Fine, "800 KiB is under the room's");
        f.alive(&mut m);
        assert_eq!((m.unconfirmed(), f.total()), (0, 0));
        assert!(m.marks.is_empty(), "a plain socket keeps no checkpoints");
    }

    #[test]
    fn a_frame_does_not_free_a_receipt_senders_bytes() {
        let (mut f, mut m) = (flow(), Meter::default());
        f.receipt(&mut m, 0);
        send(&mut f, &mut m, 2, 100);
        f.alive(&mut m);
        assert_eq!(m.unconfirmed(), 200);
    }

    #[test]
    fn the_room_passing_its_budget_is_reported() {
        let (mut f, mut m) = (flow(), Meter::default());
        let verdicts = send(&mut f, &mut m, 1025, 4096);
        assert_eq!(verdicts[1023], Sent::Fine);
        assert_eq!(verdicts[1024], Sent::RoomOver);
    }

    #[test]
    fn a_departed_socket_frees_its_bytes() {
        let (mut f, mut a, mut b) = (flow(), Meter::default(), Meter::default());
        send(&mut f, &mut a, 3, 100);
        send(&mut f, &mut b, 3, 100);
        f.forget(&a);
        assert_eq!(f.total(), 300);
    }

    #[test]
    fn nothing_is_evicted_under_the_room_budget() {
        let (mut f, mut m) = (flow(), Meter::default());
        send(&mut f, &mut m, 1000, 4096);
        let sockets = [(1, m.unconfirmed(), None)];
        assert!(f.evictions(sockets.into_iter(), NOW).is_empty());
    }

    const NOW: u64 = 1_000_000;

    /// `(socket, unconfirmed, last sign of life)` for each meter; a life of
    /// 0 is none.
    fn listed(meters: &[Meter], life: &[u64]) -> Vec<(usize, u64, Option<u64>)> {
        (meters.iter().enumerate())
            .map(|(k, m)| (k, m.unconfirmed(), Some(life[k]).filter(|&l| l > 0)))
            .collect()
    }

    /// A flow over its 4 MiB budget with meters holding `kib` each.
    fn over(kib: &[u64]) -> (Flow, Vec<Meter>) {
        let mut f = flow();
        let mut meters = vec![Meter::default(); kib.len()];
        for (m, size) in meters.iter_mut().zip(kib) {
            f.sent(m, (size * KIB) as usize);
        }
        assert!(f.total() > f.budgets.room);
        (f, meters)
    }

    #[test]
    fn eviction_takes_the_longest_silent_down_to_the_low_water_mark() {
        let (mut f, meters) = over(&[1200, 2400, 400, 400]);
        let sockets = listed(&meters, &[50, 10, 20, 30]);
        assert_eq!(
            f.evictions(sockets.into_iter(), NOW),
            [1],
            "4400 - 2400 < 3072"
        );
        let sockets = listed(&meters, &[10, 50, 20, 30]);
        assert_eq!(
            f.evictions(sockets.into_iter(), NOW),
            [0, 2],
            "3200, then 2800"
        );
        let sockets = listed(&meters, &[10, 50, 0, 30]);
        assert_eq!(
            f.evictions(sockets.into_iter(), NOW),
            [2, 0],
            "never spoke: first"
        );
    }

    #[test]
    fn among_equally_silent_the_biggest_holder_goes_first() {
        let (mut f, meters) = over(&[1600, 2800]);
        let sockets = listed(&meters, &[5, 5]);
        assert_eq!(f.evictions(sockets.into_iter(), NOW), [1]);
    }

    #[test]
    fn a_socket_alive_within_the_minute_is_never_evicted() {
        let (mut f, meters) = over(&[2800, 1600]);
        let recent = NOW - ALIVE_WITHIN_MS;
        let sockets = listed(&meters, &[recent, 5]);
        assert_eq!(
            f.evictions(sockets.into_iter(), NOW),
            [1],
            "1600 is all it can"
        );
    }

    #[test]
    fn readers_that_keep_up_are_never_evicted_however_many() {
        let kib = vec![EVICTABLE_FROM / KIB; 20];
        let (mut f, meters) = over(&kib);
        let sockets = listed(&meters, &[0; 20]);
        assert!(f.evictions(sockets.into_iter(), NOW).is_empty());
    }

    #[test]
    fn a_fruitless_eviction_is_not_retried_on_every_frame() {
        let kib = vec![EVICTABLE_FROM / KIB; 20];
        let (mut f, mut meters) = over(&kib);
        f.evictions(listed(&meters, &[0; 20]).into_iter(), NOW);
        assert_eq!(f.sent(&mut meters[0], 1000), Sent::Fine);
        let eighth = (f.budgets.room / 8) as usize;
        assert_eq!(f.sent(&mut meters[1], eighth), Sent::RoomOver);
        for m in &meters[1..8] {
            f.forget(m);
        }
        assert!(f.total() < f.budgets.room);
        let big = (f.budgets.room - f.total() + 1) as usize;
        assert_eq!(f.sent(&mut meters[0], big), Sent::RoomOver, "rearmed");
    }
}
