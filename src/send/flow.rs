//! Flow control: how many bytes the room has sent each socket that the
//! socket has not proven it read, and which sockets to close when that
//! grows.
//!
//! workerd gives a server-side socket no `bufferedAmount` and no
//! backpressure (cloudflare/workerd#988): every frame sent to a socket that
//! does not read stays in the object's memory, about three bytes of memory
//! per byte queued. A handful of sockets that connect and never read would
//! grow a busy room past the 128 MB limit, and the runtime would reset it,
//! cutting everyone off. So the room keeps its own books, and believes
//! only what a client proves.
//!
//! - **Counting.** Every frame sent adds its UTF-8 length to the socket's
//!   [`Meter`] and to the room's total: one add and one compare per socket
//!   per frame ([`Flow::sent`]).
//! - **Proof of reading.** A socket that opts in (`?receipts=1`: the page,
//!   the client library) is sent a `{"type":"mark","mark":"…"}` frame after
//!   every [`MARK_EVERY_BYTES`] (the first after a random 64–128 KiB, so
//!   one room's sockets do not answer at once). Each mark is a fresh 64-bit
//!   value only the room knows (a keyed hash, [`MarkKey`]), and frames
//!   arrive in order, so a client can only echo a mark in
//!   `{"type":"seen","mark":"…"}` once it has read everything before it.
//!   A receipt frees the bytes up to its mark. A receipt with a mark the
//!   room did not send, or no mark, confirms nothing: the socket is then
//!   simply closed at its budget, like one that sends no receipts.
//! - **Nothing else counts as reading.** A socket's own frames, its pings
//!   and its age confirm nothing.
//! - **Per-socket budget.** Once the room has sent a proving socket more
//!   than the socket budget since the oldest mark it has not answered, it
//!   is cut at once ([`Sent::cut`]): nothing more is sent to it and it is
//!   closed with 1013 "too slow, reconnect". (Counting from a mark, and
//!   judging each frame on what came before it, means no single frame,
//!   such as a newcomer's long history, cuts anyone.) Its
//!   client reconnects with `since` and loses nothing history holds. Its
//!   fate depends on its own reading alone: the room's budget never closes
//!   a proving socket.
//! - **Plain sockets** (the originals' protocol) cannot prove anything. The
//!   room presumes each reads at a floor rate (`FLOW_PLAIN_READ_KB_PER_SEC`,
//!   [`Budgets::plain_read`]): its backlog
//!   is what was sent beyond that rate. An honest listener in a room that
//!   sends it less than that never builds a backlog, so it is never closed;
//!   a socket that does not read, in a room that sends it more, builds one
//!   at the difference and is cut when it passes the socket budget. When
//!   the room's total passes the room budget, the plain sockets with the
//!   biggest backlogs are closed first ([`Flow::evictions`]).
//!
//! The price of the presumption, written down in docs/security.md: a plain
//! socket that does not read costs up to that rate in memory for as long as
//! it stays (silent ones only until the idle timeout); the caps per person
//! and per address bound how many such sockets one client holds.

use std::collections::VecDeque;
use std::hash::Hasher;

use crate::settings::config::Budgets;

/// Bytes between two marks sent to a proving socket: the page answers each
/// one, so this is its receipt interval, as it was when it counted bytes.
pub const MARK_EVERY_BYTES: u64 = 64 * 1024;

/// A plain socket holding no more than this is never closed for the room's
/// budget: a reader that keeps up holds at most a burst of the room's
/// frames, and thousands of them together can pass the room's budget
/// while costing it nothing.
pub const EVICTABLE_FROM: u64 = 256 * 1024;

/// Why flow control closed a socket, for the log line.
pub const SOCKET_BUDGET: &str = "socket_budget";
pub const ROOM_BUDGET: &str = "room_budget";

/// The room's secret for marks: a SipHash key the adapter draws from the
/// runtime's cryptographic random source when the room starts. SipHash is
/// a keyed pseudorandom function, so seeing marks tells a client nothing
/// about the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkKey(pub u64, pub u64);

impl MarkKey {
    /// The `n`th mark of the socket keyed `socket`.
    fn mark(&self, socket: u64, n: u64) -> u64 {
        #[allow(deprecated)] // std's SipHasher: keyed, which Hash's successors are not
        let mut h = std::hash::SipHasher::new_with_keys(self.0, self.1);
        h.write_u64(socket);
        h.write_u64(n);
        h.finish()
    }
}

/// One socket's books.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meter {
    /// The connection's key: an input of its marks.
    socket: u64,
    /// The socket opted in to proving it reads.
    proves: bool,
    /// Bytes sent since the socket connected.
    bytes: u64,
    /// Bytes proven read (or, for a plain socket, presumed read).
    confirmed: u64,
    /// Marks sent and not yet answered, oldest first: (mark, bytes sent
    /// when it was). At most budget / [`MARK_EVERY_BYTES`] + 1, since a
    /// socket further behind is cut.
    marks: VecDeque<(u64, u64)>,
    /// Marks issued so far; 0 until the first is due.
    issued: u64,
    /// At how many bytes the next mark is due.
    next_mark: u64,
    /// When a plain socket's presumed reading was last counted (epoch ms).
    read_at: u64,
    /// The largest frame sent it: a plain socket's backlog may hold one
    /// such frame beyond its budget (a newcomer's long history drains at
    /// the presumed rate, which takes a while).
    largest: u64,
    /// Closed by flow control: nothing more is sent to it.
    cut: bool,
}

impl Meter {
    /// The books of a new socket keyed `socket`; `proves` if it opted in.
    pub fn new(socket: u64, proves: bool) -> Meter {
        Meter {
            socket,
            proves,
            ..Meter::default()
        }
    }

    pub fn unconfirmed(&self) -> u64 {
        self.bytes - self.confirmed
    }

    pub fn is_cut(&self) -> bool {
        self.cut
    }

    pub fn proves(&self) -> bool {
        self.proves
    }
}

/// What booking one frame did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// This socket passed its budget: send it nothing more, and close it.
    pub cut: bool,
    /// The room passed its budget: run [`Flow::evictions`] after this send.
    pub room_over: bool,
    /// Send this mark to the socket right after the frame.
    pub mark: Option<u64>,
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
        self.room |= sent.room_over;
        if sent.cut {
            self.sockets.push(key);
        }
        sent.cut
    }
}

/// The room's total, under its budgets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub budgets: Budgets,
    key: MarkKey,
    total: u64,
    /// When an eviction could not bring the total down (everyone keeps
    /// up), the next is not tried before the total passes this: one pass
    /// per eighth of the budget, not one per frame.
    recheck: u64,
}

impl Flow {
    pub fn new(budgets: Budgets, key: MarkKey) -> Self {
        Flow {
            budgets,
            key,
            total: 0,
            recheck: 0,
        }
    }

    /// Unconfirmed bytes across every socket.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Books a frame of `bytes` sent to `meter`'s socket at `now`.
    #[inline]
    pub fn sent(&mut self, meter: &mut Meter, bytes: usize, now: u64) -> Sent {
        if !meter.proves {
            self.presume_read(meter, now);
        }
        meter.bytes += bytes as u64;
        meter.largest = meter.largest.max(bytes as u64);
        self.total += bytes as u64;
        let mut sent = Sent::default();
        if meter.proves && meter.bytes >= self.next_mark(meter) {
            sent.mark = Some(self.issue_mark(meter));
        }
        // Judged on what came before this frame, so no single frame cuts.
        if self.behind(meter).saturating_sub(bytes as u64) > self.budgets.socket {
            meter.cut = true;
            sent.cut = true;
        }
        sent.room_over = self.total > self.budgets.room.max(self.recheck);
        sent
    }

    /// How far a socket is behind, as its budget measures it. A proving
    /// socket is behind by what was sent since the oldest mark it has not
    /// answered: it cannot answer before it is asked, so one frame bigger
    /// than the budget (a newcomer's history) never cuts it. A plain
    /// socket is behind by its backlog beyond its presumed reading, less
    /// its largest frame, for the same reason.
    fn behind(&self, meter: &Meter) -> u64 {
        match (meter.proves, meter.marks.front()) {
            (true, Some(&(_, at))) => meter.bytes - at,
            (true, None) => 0,
            (false, _) => meter.unconfirmed().saturating_sub(meter.largest),
        }
    }

    /// When the next mark is due; the first lies a random 64–128 KiB in.
    fn next_mark(&self, meter: &mut Meter) -> u64 {
        if meter.issued == 0 && meter.next_mark == 0 {
            let lead = self.key.mark(meter.socket, u64::MAX) % MARK_EVERY_BYTES;
            meter.next_mark = MARK_EVERY_BYTES + lead;
        }
        meter.next_mark
    }

    fn issue_mark(&self, meter: &mut Meter) -> u64 {
        let mark = self.key.mark(meter.socket, meter.issued);
        meter.issued += 1;
        meter.marks.push_back((mark, meter.bytes));
        meter.next_mark = meter.bytes + MARK_EVERY_BYTES;
        mark
    }

    /// A receipt echoing `mark`. True if it proved anything new; a receipt
    /// from a plain socket, without a mark, with a mark the room never sent
    /// this socket, or with one already answered, proves nothing and is
    /// just a frame.
    pub fn receipt(&mut self, meter: &mut Meter, mark: Option<u64>) -> bool {
        let Some(mark) = mark.filter(|_| meter.proves) else {
            return false;
        };
        let Some(at) = meter.marks.iter().position(|m| m.0 == mark) else {
            return false;
        };
        let bytes = meter.marks[at].1;
        meter.marks.drain(..=at);
        self.confirm(meter, bytes);
        true
    }

    /// Counts what a plain socket is presumed to have read since the last
    /// count.
    pub fn presume_read(&mut self, meter: &mut Meter, now: u64) {
        let elapsed = now.saturating_sub(meter.read_at);
        meter.read_at = now;
        let read = elapsed.saturating_mul(self.budgets.plain_read) / 1000;
        let confirmed = meter.confirmed.saturating_add(read).min(meter.bytes);
        self.confirm(meter, confirmed);
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

    /// Which plain sockets to close so the total falls under the low-water
    /// mark: the biggest backlogs first. `plain` gives each plain socket's
    /// name and backlog, already brought up to date with
    /// [`Flow::presume_read`]. Proving sockets are never candidates: each
    /// is held to its own budget, so none pays for another's behaviour.
    pub fn evictions<K>(&mut self, plain: impl Iterator<Item = (K, u64)>) -> Vec<K> {
        if self.total <= self.budgets.room {
            return Vec::new();
        }
        let mut held: Vec<(K, u64)> = plain.filter(|s| s.1 > EVICTABLE_FROM).collect();
        held.sort_by_key(|s| std::cmp::Reverse(s.1));
        let mut total = self.total;
        let low = self.budgets.low_water();
        let mut out = Vec::new();
        for (key, bytes) in held {
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
    const KEY: MarkKey = MarkKey(7, 11);
    const NOW: u64 = 1_700_000_000_000;

    fn flow() -> Flow {
        Flow::new(
            Budgets {
                socket: 256 * KIB,
                room: 4096 * KIB,
                plain_read: 32 * KIB,
            },
            KEY,
        )
    }

    fn proving(socket: u64) -> Meter {
        Meter::new(socket, true)
    }

    /// Sends `n` frames of `bytes` at `now`; returns the marks sent.
    fn send(flow: &mut Flow, meter: &mut Meter, n: usize, bytes: usize, now: u64) -> Vec<u64> {
        (0..n)
            .filter_map(|_| flow.sent(meter, bytes, now).mark)
            .collect()
    }

    #[test]
    fn every_send_counts_for_the_socket_and_the_room() {
        let (mut f, mut a, mut b) = (flow(), proving(1), proving(2));
        send(&mut f, &mut a, 3, 100, NOW);
        send(&mut f, &mut b, 1, 50, NOW);
        assert_eq!(
            (a.unconfirmed(), b.unconfirmed(), f.total()),
            (300, 50, 350)
        );
    }

    #[test]
    fn a_proving_socket_gets_a_mark_every_64_kib_after_a_random_lead() {
        let (mut f, mut m) = (flow(), proving(1));
        let marks = send(&mut f, &mut m, 1024, 1024, NOW);
        // 1 MiB: the first mark between 64 and 128 KiB, then one per 64.
        assert!((14..=15).contains(&marks.len()), "{}", marks.len());
        let first = m.marks.front().unwrap().1;
        assert!((64 * KIB..=128 * KIB).contains(&first), "{first}");
        let leads: Vec<u64> = (1..20)
            .map(|s| {
                let (mut f, mut m) = (flow(), proving(s));
                send(&mut f, &mut m, 200, 1024, NOW);
                m.marks.front().unwrap().1
            })
            .collect();
        assert!(
            leads.iter().any(|l| *l != leads[0]),
            "leads differ by socket"
        );
    }

    #[test]
    fn marks_differ_by_socket_by_turn_and_by_room_key() {
        assert_ne!(KEY.mark(1, 0), KEY.mark(1, 1));
        assert_ne!(KEY.mark(1, 0), KEY.mark(2, 0));
        assert_ne!(KEY.mark(1, 0), MarkKey(7, 12).mark(1, 0));
    }

    #[test]
    fn echoing_a_mark_frees_the_bytes_up_to_it_and_no_further() {
        let (mut f, mut m) = (flow(), proving(1));
        let marks = send(&mut f, &mut m, 300, 1024, NOW);
        let at = m.marks[1].1;
        assert!(f.receipt(&mut m, Some(marks[1])));
        assert_eq!(m.unconfirmed(), 300 * KIB - at);
        assert_eq!(f.total(), m.unconfirmed());
        assert!(!f.receipt(&mut m, Some(marks[0])), "an older mark is spent");
        assert!(
            !f.receipt(&mut m, Some(marks[1])),
            "and so is a repeated one"
        );
        assert_eq!(m.unconfirmed(), 300 * KIB - at);
    }

    #[test]
    fn a_receipt_with_a_made_up_or_missing_mark_confirms_nothing() {
        let (mut f, mut m) = (flow(), proving(1));
        let marks = send(&mut f, &mut m, 300, 1024, NOW);
        for lie in [
            None,
            Some(0),
            Some(u64::MAX),
            Some(marks[0] ^ 1),
            Some(KEY.mark(2, 0)),
        ] {
            assert!(!f.receipt(&mut m, lie), "{lie:?}");
        }
        assert_eq!(m.unconfirmed(), 300 * KIB);
    }

    #[test]
    fn a_socket_that_only_lies_is_cut_at_its_budget() {
        let (mut f, mut m) = (flow(), proving(1));
        let mut cut_at = None;
        for i in 0..400 {
            let sent = f.sent(&mut m, 1024, NOW);
            f.receipt(&mut m, Some(u64::MAX));
            if sent.cut {
                cut_at = Some(i);
                break;
            }
        }
        let first_mark = (m.marks.front().unwrap().1 / KIB) as usize;
        assert_eq!(
            cut_at,
            Some(first_mark + 257),
            "256 KiB past its first mark"
        );
        assert!(m.is_cut());
    }

    #[test]
    fn one_frame_bigger_than_the_budget_cuts_nobody_who_then_answers() {
        let (mut f, mut m) = (flow(), proving(1));
        let history = f.sent(&mut m, 1024 * 1024, NOW);
        assert!(!history.cut);
        assert!(f.receipt(&mut m, history.mark));
        let (mut f, mut p) = (flow(), Meter::new(2, false));
        assert!(
            !f.sent(&mut p, 1024 * 1024, NOW).cut,
            "nor a plain newcomer"
        );
        assert!(
            !send_cut(&mut f, &mut p, 256, NOW),
            "a budget more is allowed"
        );
        assert!(send_cut(&mut f, &mut p, 2, NOW), "but not more than that");
    }

    #[test]
    fn a_reader_that_echoes_every_mark_is_never_cut() {
        let (mut f, mut m) = (flow(), proving(1));
        for round in 0..1000 {
            let sent = f.sent(&mut m, 1024, NOW);
            assert!(!sent.cut, "round {round}");
            if let Some(mark) = sent.mark {
                assert!(f.receipt(&mut m, Some(mark)));
            }
        }
        assert!(m.unconfirmed() <= 128 * KIB);
        assert!(m.marks.is_empty());
    }

    #[test]
    fn unanswered_marks_stay_bounded_by_the_budget() {
        let (mut f, mut m) = (flow(), proving(1));
        while !f.sent(&mut m, 1024, NOW).cut {}
        let most = (256 * KIB / MARK_EVERY_BYTES + 1) as usize;
        assert!(m.marks.len() <= most, "{} > {most}", m.marks.len());
    }

    #[test]
    fn frames_and_time_never_confirm_a_proving_sockets_bytes() {
        let (mut f, mut m) = (flow(), proving(1));
        send(&mut f, &mut m, 10, 1024, NOW);
        send(&mut f, &mut m, 10, 1024, NOW + 3_600_000);
        assert_eq!(m.unconfirmed(), 20 * KIB);
    }

    #[test]
    fn a_plain_socket_is_presumed_to_read_at_the_floor_rate_and_no_faster() {
        let (mut f, mut m) = (flow(), Meter::new(1, false));
        // 100 KiB a second for 3 s: 68 KiB a second more than presumed.
        for s in 0..3 {
            send(&mut f, &mut m, 100, 1024, NOW + s * 1000);
        }
        assert_eq!(m.unconfirmed(), 300 * KIB - 2 * 32 * KIB);
        assert!(m.marks.is_empty(), "a plain socket gets no marks");
        f.presume_read(&mut m, NOW + 60_000);
        assert_eq!((m.unconfirmed(), f.total()), (0, 0), "a quiet minute");
    }

    #[test]
    fn a_plain_listener_under_the_floor_rate_never_builds_a_backlog() {
        let (mut f, mut m) = (flow(), Meter::new(1, false));
        // 20 messages a second of 200 bytes for five minutes.
        for tick in 0..6000 {
            let sent = f.sent(&mut m, 200, NOW + tick * 50);
            assert!(!sent.cut && m.unconfirmed() <= 200, "tick {tick}");
        }
    }

    #[test]
    fn a_plain_socket_flooded_past_the_floor_rate_is_cut_at_its_budget() {
        let (mut f, mut m) = (flow(), Meter::new(1, false));
        let mut cut_at = None;
        // 64 KiB a second: a backlog of 32 KiB more every second.
        for s in 0..30 {
            if send_cut(&mut f, &mut m, 64, NOW + s * 1000) {
                cut_at = Some(s);
                break;
            }
        }
        assert_eq!(cut_at, Some(7), "past 256 KiB of backlog in the 8th second");
    }

    fn send_cut(f: &mut Flow, m: &mut Meter, n: usize, now: u64) -> bool {
        (0..n).any(|_| f.sent(m, 1024, now).cut)
    }

    #[test]
    fn the_room_passing_its_budget_is_reported() {
        let (mut f, mut m) = (flow(), Meter::new(1, false));
        let sent: Vec<Sent> = (0..1025).map(|_| f.sent(&mut m, 4096, NOW)).collect();
        assert!(!sent[1023].room_over);
        assert!(sent[1024].room_over);
    }

    #[test]
    fn a_departed_socket_frees_its_bytes() {
        let (mut f, mut a, mut b) = (flow(), proving(1), proving(2));
        send(&mut f, &mut a, 2, 100, NOW);
        send(&mut f, &mut b, 3, 100, NOW);
        f.forget(&a);
        assert_eq!(f.total(), 300);
    }

    #[test]
    fn nothing_is_evicted_under_the_room_budget() {
        let mut f = flow();
        assert!(f
            .evictions([(1, 300 * KIB), (2, 900 * KIB)].into_iter())
            .is_empty());
    }

    /// A room over its budget: plain sockets holding `kib` each.
    fn over(kib: &[u64]) -> Flow {
        let mut f = flow();
        let mut m = Meter::new(9, false);
        let total: u64 = kib.iter().sum::<u64>() * KIB;
        f.sent(&mut m, total as usize, NOW);
        assert!(f.total() > f.budgets.room);
        f
    }

    #[test]
    fn eviction_takes_the_biggest_backlogs_down_to_the_low_water_mark() {
        let kib = [1500, 300, 2000, 900, 100];
        let mut f = over(&kib);
        let held = kib.iter().enumerate().map(|(i, k)| (i, k * KIB));
        // 4,800 KiB; low water is 3,072: the 2,000 alone brings it to 2,800.
        assert_eq!(f.evictions(held), [2]);
    }

    #[test]
    fn small_holders_are_never_evicted_however_many() {
        let kib = [200; 30];
        let mut f = over(&kib);
        let held = kib.iter().enumerate().map(|(i, k)| (i, k * KIB));
        assert!(f.evictions(held).is_empty());
    }

    #[test]
    fn a_fruitless_eviction_is_not_retried_on_every_frame() {
        let kib = [200; 30];
        let mut f = over(&kib);
        let held: Vec<(usize, u64)> = kib.iter().enumerate().map(|(i, k)| (i, k * KIB)).collect();
        assert!(f.evictions(held.into_iter()).is_empty());
        let mut m = Meter::new(1, false);
        assert!(!f.sent(&mut m, 1000, NOW).room_over, "rechecked later");
        let eighth = (f.budgets.room / 8) as usize;
        assert!(f.sent(&mut m, eighth, NOW).room_over);
    }
}
