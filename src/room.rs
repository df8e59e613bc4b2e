//! The room's rules, free of any platform type: who gets which frame when a
//! client joins, speaks or leaves.
//!
//! The Durable Object feeds events in and carries the resulting deliveries
//! out. Everything the rules need to remember about a socket lives in its
//! [`Session`], which the object stores as the socket's hibernation
//! attachment, so the rules work the same before and after hibernation.

use serde::{Deserialize, Serialize};

use crate::error::{Answer, Refusal};
use crate::limits::MAX_MESSAGE_CHARS;
use crate::protocol::{
    self, ClientFrame, ErrorLine, Line, ServerFrame, LEGACY_HELLO, OFFLINE, ONLINE, SERVER_ID,
};

/// What the room remembers about one socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub client_id: String,
    /// Whether the socket has sent a frame yet; only a first frame may be the
    /// old client's `"Connect"` greeting.
    pub spoke: bool,
}

impl Session {
    pub fn new(client_id: &str) -> Self {
        Session {
            client_id: client_id.to_owned(),
            spoke: false,
        }
    }
}

/// Who receives a frame, relative to the socket the event came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every open socket in the room, the event's own socket included.
    Everyone,
    /// Every open socket except the event's own.
    Others,
    /// Only the event's own socket.
    Sender,
}

/// One frame and who gets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub to: Audience,
    pub frame: ServerFrame,
}

/// Everything the object must do after one incoming frame.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    pub deliveries: Vec<Delivery>,
    /// The session changed and must be written back to the attachment.
    pub session_changed: bool,
    /// Close the sender's socket with this code and reason.
    pub close: Option<(u16, &'static str)>,
}

/// A socket joined. `others` are the client ids of the sockets already in the
/// room. A client id is online once, however many tabs it has open: only its
/// first socket is announced to the room; a further tab is told on its own.
pub fn join<'a>(
    newcomer: &Session,
    mut others: impl Iterator<Item = &'a str>,
    now: u64,
) -> Vec<Delivery> {
    let already_online = others.any(|id| id == newcomer.client_id);
    vec![Delivery {
        to: if already_online {
            Audience::Sender
        } else {
            Audience::Everyone
        },
        frame: ServerFrame::Join(Line::new(&newcomer.client_id, ONLINE, now)),
    }]
}

/// A socket closed or failed. `remaining` are the client ids of the sockets
/// still open. The client goes offline only with its last socket.
pub fn leave<'a>(
    departed: &Session,
    mut remaining: impl Iterator<Item = &'a str>,
    now: u64,
) -> Vec<Delivery> {
    if remaining.any(|id| id == departed.client_id) {
        return Vec::new();
    }
    vec![Delivery {
        to: Audience::Others,
        frame: ServerFrame::Leave(Line::new(&departed.client_id, OFFLINE, now)),
    }]
}

/// A text frame arrived from `session`'s socket.
pub fn receive(session: &mut Session, text: &str, now: u64) -> Outcome {
    let first = !session.spoke;
    session.spoke = true;
    let mut outcome = if first && text == LEGACY_HELLO {
        // The old React client's greeting: it is already announced by join.
        Outcome::default()
    } else {
        match protocol::parse(text).and_then(|frame| accept(session, frame, now)) {
            Ok(deliveries) => Outcome {
                deliveries,
                ..Outcome::default()
            },
            Err(refusal) => refuse(&refusal, now),
        }
    };
    outcome.session_changed = first;
    outcome
}

/// A binary frame arrived; the protocol is text only.
pub fn receive_binary(now: u64) -> Outcome {
    refuse(&Refusal::BinaryFrame, now)
}

fn accept(session: &Session, frame: ClientFrame, now: u64) -> Result<Vec<Delivery>, Refusal> {
    match frame {
        ClientFrame::Chat { text } => {
            check_message(&text)?;
            Ok(vec![Delivery {
                to: Audience::Everyone,
                frame: ServerFrame::Message(Line::new(&session.client_id, &text, now)),
            }])
        }
    }
}

/// Chat text must have something visible in it and fit the length limit.
pub fn check_message(text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::EmptyMessage);
    }
    let chars = text.chars().count();
    if chars > MAX_MESSAGE_CHARS {
        return Err(Refusal::MessageTooLong {
            chars,
            max: MAX_MESSAGE_CHARS,
        });
    }
    Ok(())
}

/// The code to answer a client's close frame with. 1005 (no code), 1006
/// (abnormal) and 1015 (TLS) are reserved for reporting and must never be
/// sent, and anything outside the sendable ranges is answered as normal.
pub fn echo_close_code(received: usize) -> u16 {
    match u16::try_from(received) {
        Ok(code @ (1000..=1003 | 1007..=1014 | 3000..=4999)) => code,
        _ => crate::error::close_code::NORMAL,
    }
}

/// Turns a refusal into what the sender receives.
pub fn refuse(refusal: &Refusal, now: u64) -> Outcome {
    match refusal.answer() {
        Answer::ErrorFrame { code, message } => Outcome {
            deliveries: vec![Delivery {
                to: Audience::Sender,
                frame: ServerFrame::Error(ErrorLine {
                    code,
                    line: Line::new(SERVER_ID, &message, now),
                }),
            }],
            ..Outcome::default()
        },
        Answer::Close { code, reason } => Outcome {
            close: Some((code, reason)),
            ..Outcome::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn only(deliveries: &[Delivery]) -> &Delivery {
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        &deliveries[0]
    }

    fn error_code(outcome: &Outcome) -> &'static str {
        match &only(&outcome.deliveries).frame {
            ServerFrame::Error(e) => e.code,
            other => panic!("expected an error frame, got {other:?}"),
        }
    }

    #[test]
    fn join_is_announced_to_everyone_including_the_newcomer() {
        let d = join(&Session::new("bob"), ["alice"].into_iter(), NOW);
        let d = only(&d);
        assert_eq!(d.to, Audience::Everyone);
        assert_eq!(d.frame, ServerFrame::Join(Line::new("bob", "Online", NOW)));
    }

    #[test]
    fn a_second_tab_of_an_online_client_is_told_alone() {
        let d = join(&Session::new("bob"), ["alice", "bob"].into_iter(), NOW);
        assert_eq!(only(&d).to, Audience::Sender);
    }

    #[test]
    fn leave_goes_to_the_others_with_offline() {
        let d = leave(&Session::new("bob"), ["alice"].into_iter(), NOW);
        let d = only(&d);
        assert_eq!(d.to, Audience::Others);
        assert_eq!(
            d.frame,
            ServerFrame::Leave(Line::new("bob", "Offline", NOW))
        );
    }

    #[test]
    fn closing_one_of_two_tabs_announces_nothing() {
        assert!(leave(&Session::new("bob"), ["bob"].into_iter(), NOW).is_empty());
    }

    #[test]
    fn raw_text_is_broadcast_to_everyone() {
        let mut s = Session::new("alice");
        let out = receive(&mut s, "hello", NOW);
        let d = only(&out.deliveries);
        assert_eq!(d.to, Audience::Everyone);
        assert_eq!(
            d.frame,
            ServerFrame::Message(Line::new("alice", "hello", NOW))
        );
    }

    #[test]
    fn connect_as_first_frame_is_a_greeting_not_chat() {
        let mut s = Session::new("alice");
        let out = receive(&mut s, "Connect", NOW);
        assert!(out.deliveries.is_empty());
        assert!(out.session_changed, "the first frame must be remembered");
        assert!(s.spoke);
    }

    #[test]
    fn connect_after_the_first_frame_is_chat() {
        let mut s = Session::new("alice");
        receive(&mut s, "hi", NOW);
        let out = receive(&mut s, "Connect", NOW);
        assert_eq!(only(&out.deliveries).to, Audience::Everyone);
        assert!(!out.session_changed);
    }

    #[test]
    fn whitespace_only_message_is_refused_to_the_sender() {
        let mut s = Session::new("alice");
        let out = receive(&mut s, " \n\t ", NOW);
        assert_eq!(error_code(&out), "empty_message");
        assert_eq!(only(&out.deliveries).to, Audience::Sender);
        assert_eq!(out.close, None);
    }

    #[test]
    fn message_at_the_limit_is_accepted_and_one_over_is_refused() {
        let mut s = Session::new("alice");
        let at = "é".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(
            only(&receive(&mut s, &at, NOW).deliveries).to,
            Audience::Everyone
        );
        let over = "é".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(error_code(&receive(&mut s, &over, NOW)), "message_too_long");
    }

    #[test]
    fn malformed_json_is_refused_and_the_socket_kept() {
        let mut s = Session::new("alice");
        let out = receive(&mut s, "{oops", NOW);
        assert_eq!(error_code(&out), "malformed_json");
        assert_eq!(out.close, None);
    }

    #[test]
    fn binary_frames_are_refused_with_an_error_frame() {
        assert_eq!(error_code(&receive_binary(NOW)), "binary_unsupported");
    }

    #[test]
    fn close_codes_are_echoed_unless_reserved() {
        assert_eq!(echo_close_code(1000), 1000);
        assert_eq!(echo_close_code(1001), 1001);
        assert_eq!(echo_close_code(4000), 4000);
        assert_eq!(echo_close_code(1005), 1000);
        assert_eq!(echo_close_code(1006), 1000);
        assert_eq!(echo_close_code(70_000), 1000);
    }

    #[test]
    fn internal_refusal_closes_without_frames() {
        let out = refuse(&Refusal::Internal, NOW);
        assert!(out.deliveries.is_empty());
        assert_eq!(out.close, Some((1011, "internal error")));
    }
}
