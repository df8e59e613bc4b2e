//! The send path as a plan: after an event, which frames go to which sockets,
//! and where the room must write before anything leaves.
//!
//! The rules decide *what* is said ([`crate::room::Outcome`]); this module
//! decides *in what order* it leaves, and the Durable Object only carries the
//! steps out. Two ordering rules live here, where native tests can see them:
//!
//! 1. **Nothing about a message leaves before it is written.** A busy room
//!    keeps accepted messages in memory ([`crate::store::write_behind`]) until the
//!    next flush. Every plan that sends puts a [`Step::Commit`] before its
//!    first send, and the adapter stops carrying out a plan at a commit that
//!    failed.
//! 2. **A frame for the sender alone never overtakes held frames.** While
//!    the [`Coalescer`] holds broadcasts, an `ack` or error for the sender
//!    joins them; otherwise it goes at once.
//!
//! A busy room holds every broadcast for the coalescing window, for every
//! socket: plain sockets (the originals' protocol) still get one frame per
//! message when the window ends, batch sockets one `batch` frame, and the
//! whole window is written in one storage commit. A quiet room sends at once.
//!
//! The plan is generic over how a socket is named; the room names sockets by
//! their connection key.

use crate::room::{Audience, Delivery};
use crate::send::coalesce::{self, Coalescer, Held, Offer, To};
use crate::wire::error::Close;

/// One thing the adapter does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<S> {
    /// Write every accepted message still waiting in memory. If this fails,
    /// no later step may be carried out.
    Commit,
    /// One frame to the socket the event came from.
    ToSender(String),
    /// Frames to every socket they are meant for, in order: one frame each
    /// to a plain socket, packed into `batch` frames for a batch socket.
    Release(Vec<Held<S>>),
    /// Flush the coalescer after this many milliseconds.
    ArmFlushTimer(u64),
    /// Close the sender's socket; everything it should read went first.
    CloseSender(Close),
}

/// Plans the sending of `deliveries` from `sender`'s event, then the
/// sender's `close` if any, in a room of `sockets` open sockets: a bigger
/// room holds its broadcasts longer ([`coalesce::window_for`]).
pub fn plan<S: Clone + PartialEq>(
    sender: &S,
    deliveries: Vec<Delivery>,
    close: Option<Close>,
    coalescer: &mut Coalescer<S>,
    (now, sockets): (u64, usize),
) -> Vec<Step<S>> {
    coalescer.set_window(coalesce::window_for(sockets));
    let mut steps = Vec::new();
    let delivered = !deliveries.is_empty();
    for delivery in deliveries {
        plan_one(sender, delivery, coalescer, now, &mut steps);
    }
    // What is still held has its flush on the way, and the flush writes;
    // otherwise a message waiting to be written is written now.
    if delivered && !coalescer.has_held() {
        steps.push(Step::Commit);
    }
    if let Some(close) = close {
        // The error frame explaining the close may be held; it goes first.
        steps.extend(flush(coalescer, now));
        steps.push(Step::CloseSender(close));
    }
    steps
}

/// Writes what waits, then sends everything held: the flush timer's plan,
/// and what must happen before a newcomer is listed.
pub fn flush<S>(coalescer: &mut Coalescer<S>, now: u64) -> Vec<Step<S>> {
    let held = coalescer.flush(now);
    let mut steps = vec![Step::Commit];
    if !held.is_empty() {
        steps.push(Step::Release(held));
    }
    steps
}

fn plan_one<S: Clone + PartialEq>(
    sender: &S,
    delivery: Delivery,
    coalescer: &mut Coalescer<S>,
    now: u64,
    steps: &mut Vec<Step<S>>,
) {
    let json = delivery.frame.to_json();
    let to = match delivery.to {
        Audience::Sender if coalescer.has_held() => To::Only(sender.clone()),
        Audience::Sender => {
            steps.extend(flush(coalescer, now));
            steps.push(Step::ToSender(json));
            return;
        }
        Audience::Others => To::AllBut(sender.clone()),
        Audience::Everyone => To::All,
        Audience::Batching => To::Batching,
    };
    match coalescer.offer(Held { json, to }, now) {
        (Offer::SendNow, Some(held)) => {
            steps.push(Step::Commit);
            steps.push(Step::Release(vec![held]));
        }
        (Offer::HeldArmTimer(delay_ms), _) => steps.push(Step::ArmFlushTimer(delay_ms)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::error::INTERNAL_CLOSE;
    use crate::wire::protocol::{Line, ServerFrame};

    const NOW: u64 = 1_000;
    const ALICE: u8 = 1;
    /// Sockets in the room: a small one, with the shortest window.
    const ROOM: usize = 2;

    fn chat(text: &str) -> Delivery {
        Delivery {
            to: Audience::Everyone,
            frame: ServerFrame::Message(crate::wire::protocol::ChatLine {
                line: Line::new("alice", text, NOW),
                seq: 1,
                id: "m1".into(),
                client_msg_id: None,
                reply_to: None,
                mentions: Vec::new(),
            }),
        }
    }

    fn to_sender(text: &str) -> Delivery {
        Delivery {
            to: Audience::Sender,
            frame: ServerFrame::Typing(Line::new("alice", text, NOW)),
        }
    }

    fn is_send<S>(step: &Step<S>) -> bool {
        matches!(step, Step::ToSender(_) | Step::Release(_))
    }

    /// Rule 1: the first send of a plan comes after a commit.
    fn assert_written_before_sent(steps: &[Step<u8>]) {
        if let Some(first_send) = steps.iter().position(is_send) {
            assert!(
                steps[..first_send].contains(&Step::Commit),
                "a frame leaves before the write: {steps:?}"
            );
        }
    }

    /// A coalescer that sent a broadcast a moment ago: the next one waits.
    fn busy() -> Coalescer<u8> {
        let mut c = Coalescer::new(10);
        c.offer(
            Held {
                json: "a".into(),
                to: To::All,
            },
            NOW - 1,
        );
        c
    }

    /// A busy coalescer that holds broadcast "b", its flush timer armed.
    fn holding() -> Coalescer<u8> {
        let mut c = busy();
        c.offer(
            Held {
                json: "b".into(),
                to: To::All,
            },
            NOW - 1,
        );
        assert!(c.has_held());
        c
    }

    fn released(steps: &[Step<u8>]) -> Vec<&Held<u8>> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Release(held) => Some(held),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn a_big_room_holds_a_broadcast_that_a_small_room_sends_at_once() {
        let (small, big) = (10, 1_000);
        let after = NOW + coalesce::window_for(small);
        for (sockets, held) in [(small, false), (big, true)] {
            let mut c = Coalescer::new(coalesce::COALESCE_WINDOW_MS);
            plan(&ALICE, vec![chat("a")], None, &mut c, (NOW, sockets));
            let steps = plan(&ALICE, vec![chat("b")], None, &mut c, (after, sockets));
            assert_eq!(c.has_held(), held, "{sockets} sockets: {steps:?}");
        }
    }

    #[test]
    fn a_quiet_room_writes_then_sends_to_everyone_at_once() {
        let mut c = Coalescer::new(10);
        let steps = plan(&ALICE, vec![chat("hi")], None, &mut c, (NOW, ROOM));
        assert_written_before_sent(&steps);
        assert!(matches!(&steps[1], Step::Release(h) if h.len() == 1 && h[0].to == To::All));
        assert!(!c.has_held());
    }

    #[test]
    fn a_busy_room_holds_the_broadcast_and_leaves_the_write_to_the_flush() {
        let mut c = busy();
        let steps = plan(&ALICE, vec![chat("hi")], None, &mut c, (NOW, ROOM));
        assert_eq!(steps, [Step::ArmFlushTimer(9)], "no write, no send yet");
        let flushed = flush(&mut c, NOW + 9);
        assert_eq!(flushed[0], Step::Commit);
        assert!(matches!(&flushed[1], Step::Release(h) if h.len() == 1));
        assert!(!c.has_held());
    }

    #[test]
    fn a_senders_own_frame_joins_the_held_ones_in_order() {
        let mut c = holding();
        let steps = plan(&ALICE, vec![to_sender("ack")], None, &mut c, (NOW, ROOM));
        assert!(steps.iter().all(|s| !is_send(s)), "{steps:?}");
        let flushed = flush(&mut c, NOW + 9);
        let held = released(&flushed);
        assert_eq!(held[0].json, "b");
        assert_eq!(held[1].to, To::Only(ALICE));
    }

    #[test]
    fn with_nothing_held_a_senders_own_frame_goes_at_once() {
        let mut c = busy();
        let steps = plan(&ALICE, vec![to_sender("x")], None, &mut c, (NOW, ROOM));
        assert_written_before_sent(&steps);
        assert!(matches!(steps[1], Step::ToSender(_)), "{steps:?}");
        assert!(released(&steps).is_empty());
    }

    #[test]
    fn others_means_everyone_but_the_sender() {
        let mut c = Coalescer::new(10);
        let leave = Delivery {
            to: Audience::Others,
            frame: ServerFrame::Leave(Line::new("alice", "Offline", NOW)),
        };
        let steps = plan(&ALICE, vec![leave], None, &mut c, (NOW, ROOM));
        assert_eq!(released(&steps)[0].to, To::AllBut(ALICE));
    }

    #[test]
    fn a_close_comes_last_after_everything_held() {
        let mut c = holding();
        let why = to_sender("why");
        let steps = plan(&ALICE, vec![why], Some(INTERNAL_CLOSE), &mut c, (NOW, ROOM));
        assert_written_before_sent(&steps);
        assert_eq!(steps.last(), Some(&Step::CloseSender(INTERNAL_CLOSE)));
        assert_eq!(released(&steps).len(), 2, "b, then the error frame");
    }

    #[test]
    fn nothing_to_deliver_plans_nothing() {
        let mut c = holding();
        assert!(plan(&ALICE, vec![], None, &mut c, (NOW, ROOM)).is_empty());
    }

    #[test]
    fn any_mix_of_events_writes_before_it_sends_and_keeps_order() {
        // Every sequence of four deliveries of each audience, in quiet,
        // busy and holding rooms.
        let kinds = [Audience::Everyone, Audience::Others, Audience::Sender];
        for n in 0..81u32 {
            let deliveries: Vec<Delivery> = (0..4)
                .map(|i| Delivery {
                    to: kinds[(n / 3u32.pow(i) % 3) as usize],
                    ..chat(&i.to_string())
                })
                .collect();
            for mut c in [holding(), busy(), Coalescer::new(10)] {
                let mut steps = plan(&ALICE, deliveries.clone(), None, &mut c, (NOW, ROOM));
                assert_written_before_sent(&steps);
                steps.extend(flush(&mut c, NOW + 10));
                // Each socket reads the four frames in the order decided.
                let order: Vec<String> = steps
                    .iter()
                    .flat_map(|s| match s {
                        Step::ToSender(json) => vec![json.clone()],
                        Step::Release(held) => held.iter().map(|h| h.json.clone()).collect(),
                        _ => vec![],
                    })
                    .filter(|json| json.contains("alice"))
                    .collect();
                let expected: Vec<String> = deliveries.iter().map(|d| d.frame.to_json()).collect();
                assert_eq!(order, expected);
            }
        }
    }
}
