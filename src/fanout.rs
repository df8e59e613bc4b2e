//! The send path as a plan: after an event, which frames go to which sockets,
//! and where the room must write before anything leaves.
//!
//! The rules decide *what* is said ([`crate::room::Outcome`]); this module
//! decides *in what order* it leaves, and the Durable Object only carries the
//! steps out. Two ordering rules live here, where native tests can see them:
//!
//! 1. **Nothing about a message leaves before it is written.** A busy room
//!    keeps accepted messages in memory ([`crate::write_behind`]) until the
//!    next flush. Every plan that sends puts a [`Step::Commit`] before its
//!    first send, and the adapter stops carrying out a plan at a commit that
//!    failed.
//! 2. **A frame for the sender alone never overtakes held frames.** While
//!    the [`Coalescer`] holds broadcasts, an `ack` or error for a batch
//!    sender joins them; for a plain sender, the held frames are flushed
//!    first.
//!
//! The plan is generic over the socket type, so tests use small integers
//! where the room uses runtime sockets.

use crate::coalesce::{Coalescer, Held, Offer, To};
use crate::error::Close;
use crate::room::{Audience, Delivery};

/// One thing the adapter does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<S> {
    /// Write every accepted message still waiting in memory. If this fails,
    /// no later step may be carried out.
    Commit,
    /// One frame to the socket the event came from.
    ToSender(String),
    /// One frame to each plain socket at these positions of
    /// [`Room::plain`].
    ToPlain { json: String, to: Vec<usize> },
    /// Frames to every batch socket, each getting those meant for it.
    ToBatch(Vec<Held<S>>),
    /// Flush the coalescer after this many milliseconds.
    ArmFlushTimer(u64),
    /// Close the sender's socket; everything it should read went first.
    CloseSender(Close),
}

/// The event's socket and the room's plain sockets, as the plan sees them.
#[derive(Debug)]
pub struct Room<'a, S> {
    pub sender: &'a S,
    /// The sender takes `batch` frames.
    pub sender_batches: bool,
    /// Sockets that take one frame per message (the originals' protocol).
    pub plain: &'a [S],
}

// Only references inside, so copyable whatever the socket type is.
impl<S> Clone for Room<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Room<'_, S> {}

/// Plans the sending of `deliveries`, then the sender's `close` if any.
pub fn plan<S: Clone + PartialEq>(
    room: Room<'_, S>,
    deliveries: Vec<Delivery>,
    close: Option<Close>,
    coalescer: &mut Coalescer<S>,
    now: u64,
) -> Vec<Step<S>> {
    let mut steps = Vec::new();
    let delivered = !deliveries.is_empty();
    for delivery in deliveries {
        plan_one(room, delivery, coalescer, now, &mut steps);
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
        steps.push(Step::ToBatch(held));
    }
    steps
}

fn plan_one<S: Clone + PartialEq>(
    room: Room<'_, S>,
    delivery: Delivery,
    coalescer: &mut Coalescer<S>,
    now: u64,
    steps: &mut Vec<Step<S>>,
) {
    let json = delivery.frame.to_json();
    let to = match delivery.to {
        Audience::Sender if room.sender_batches && coalescer.has_held() => {
            To::Only(room.sender.clone())
        }
        Audience::Sender => {
            steps.extend(flush(coalescer, now));
            steps.push(Step::ToSender(json));
            return;
        }
        Audience::Others => To::AllBut(room.sender.clone()),
        Audience::Everyone => To::All,
    };
    let plain_to: Vec<usize> = (0..room.plain.len())
        .filter(|&i| to.includes(&room.plain[i]))
        .collect();
    if !plain_to.is_empty() {
        steps.push(Step::Commit);
        steps.push(Step::ToPlain {
            json: json.clone(),
            to: plain_to,
        });
    }
    match coalescer.offer(Held { json, to }, now) {
        (Offer::SendNow, Some(held)) => {
            steps.push(Step::Commit);
            steps.push(Step::ToBatch(vec![held]));
        }
        (Offer::HeldArmTimer(delay_ms), _) => steps.push(Step::ArmFlushTimer(delay_ms)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::INTERNAL_CLOSE;
    use crate::protocol::{Line, ServerFrame};

    const NOW: u64 = 1_000;
    const ALICE: u8 = 1;

    fn chat(text: &str) -> Delivery {
        Delivery {
            to: Audience::Everyone,
            frame: ServerFrame::Message(crate::protocol::ChatLine {
                line: Line::new("alice", text, NOW),
                seq: 1,
                id: "m1".into(),
                client_msg_id: None,
            }),
        }
    }

    fn to_sender(text: &str) -> Delivery {
        Delivery {
            to: Audience::Sender,
            frame: ServerFrame::Typing(Line::new("alice", text, NOW)),
        }
    }

    fn room(sender_batches: bool, plain: &[u8]) -> Room<'_, u8> {
        Room {
            sender: &ALICE,
            sender_batches,
            plain,
        }
    }

    fn is_send<S>(step: &Step<S>) -> bool {
        matches!(
            step,
            Step::ToSender(_) | Step::ToPlain { .. } | Step::ToBatch(_)
        )
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

    #[test]
    fn a_quiet_room_writes_then_sends_to_everyone_at_once() {
        let mut c = Coalescer::new(10);
        let steps = plan(room(false, &[1, 2]), vec![chat("hi")], None, &mut c, NOW);
        assert_written_before_sent(&steps);
        assert!(matches!(&steps[1], Step::ToPlain { to, .. } if to == &[0, 1]));
        assert!(matches!(&steps[3], Step::ToBatch(h) if h.len() == 1));
        assert!(!c.has_held());
    }

    #[test]
    fn a_busy_room_holds_for_batch_sockets_but_plain_ones_get_it_now() {
        let mut c = busy();
        let steps = plan(room(false, &[1, 2]), vec![chat("hi")], None, &mut c, NOW);
        assert_written_before_sent(&steps);
        assert!(matches!(&steps[1], Step::ToPlain { .. }));
        assert_eq!(steps.last(), Some(&Step::ArmFlushTimer(9)));
        assert!(c.has_held());
    }

    #[test]
    fn a_busy_room_of_batch_sockets_leaves_the_write_to_the_flush() {
        let mut c = busy();
        let steps = plan(room(true, &[]), vec![chat("hi")], None, &mut c, NOW);
        assert_eq!(steps, [Step::ArmFlushTimer(9)], "no write, no send yet");
        let flushed = flush(&mut c, NOW + 9);
        assert_eq!(flushed[0], Step::Commit);
        assert!(matches!(&flushed[1], Step::ToBatch(h) if h.len() == 1));
    }

    #[test]
    fn a_batch_senders_own_frame_joins_the_held_ones_in_order() {
        let mut c = holding();
        let steps = plan(room(true, &[]), vec![to_sender("ack")], None, &mut c, NOW);
        assert!(steps.iter().all(|s| !is_send(s)), "{steps:?}");
        let Step::ToBatch(held) = &flush(&mut c, NOW + 9)[1] else {
            panic!("nothing flushed");
        };
        assert_eq!(held[0].json, "b");
        assert_eq!(held[1].to, To::Only(ALICE));
    }

    #[test]
    fn a_plain_senders_own_frame_waits_for_the_held_ones_to_go_first() {
        let mut c = holding();
        let steps = plan(
            room(false, &[ALICE]),
            vec![to_sender("x")],
            None,
            &mut c,
            NOW,
        );
        assert_written_before_sent(&steps);
        let flushed = steps.iter().position(|s| matches!(s, Step::ToBatch(_)));
        let own = steps.iter().position(|s| matches!(s, Step::ToSender(_)));
        assert!(flushed.unwrap() < own.unwrap(), "{steps:?}");
        assert!(!c.has_held());
    }

    #[test]
    fn others_means_every_plain_socket_but_the_senders() {
        let mut c = Coalescer::new(10);
        let leave = Delivery {
            to: Audience::Others,
            frame: ServerFrame::Leave(Line::new("alice", "Offline", NOW)),
        };
        let steps = plan(room(false, &[3, ALICE, 4]), vec![leave], None, &mut c, NOW);
        assert!(matches!(&steps[1], Step::ToPlain { to, .. } if to == &[0, 2]));
        assert!(matches!(&steps[3], Step::ToBatch(h) if h[0].to == To::AllBut(ALICE)));
    }

    #[test]
    fn a_close_comes_last_after_everything_held() {
        let mut c = holding();
        let steps = plan(
            room(true, &[]),
            vec![to_sender("why")],
            Some(INTERNAL_CLOSE),
            &mut c,
            NOW,
        );
        assert_written_before_sent(&steps);
        assert_eq!(steps.last(), Some(&Step::CloseSender(INTERNAL_CLOSE)));
        assert!(matches!(&steps[steps.len() - 2], Step::ToBatch(h) if h.len() == 2));
    }

    #[test]
    fn nothing_to_deliver_plans_nothing() {
        let mut c = busy();
        assert!(plan(room(false, &[1]), vec![], None, &mut c, NOW).is_empty());
    }

    #[test]
    fn any_mix_of_events_writes_before_it_sends() {
        // Every sequence of up to four deliveries of each audience, from
        // batch and plain senders, in quiet and busy rooms.
        let kinds = [Audience::Everyone, Audience::Others, Audience::Sender];
        for n in 0..81u32 {
            let deliveries: Vec<Delivery> = (0..4)
                .map(|i| Delivery {
                    to: kinds[(n / 3u32.pow(i) % 3) as usize],
                    ..chat("m")
                })
                .collect();
            let rooms = [
                (true, holding()),
                (false, holding()),
                (true, busy()),
                (false, Coalescer::new(10)),
            ];
            for (batches, mut c) in rooms {
                let steps = plan(
                    room(batches, &[ALICE, 2]),
                    deliveries.clone(),
                    None,
                    &mut c,
                    NOW,
                );
                assert_written_before_sent(&steps);
            }
        }
    }
}
