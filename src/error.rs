//! Every way the room can refuse input, and the one place that decides how
//! each refusal is answered.
//!
//! There are two kinds of answer. A per-message fault gets an error frame and
//! the socket stays open: the message was simply not accepted. A fatal fault
//! closes the socket with an RFC 6455 code and a readable reason, after an
//! error frame where one helps the client explain it. Clients never see
//! panic text or internal details.

/// Why a frame or a connection was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The message was empty or only whitespace.
    EmptyMessage,
    /// The message is longer than the limit, in Unicode scalar values.
    MessageTooLong { chars: usize, max: usize },
    /// The frame started with `{` but is not valid JSON.
    MalformedJson,
    /// Valid JSON, but missing or mistyped fields.
    BadFrame(String),
    /// Valid JSON with a `type` this server does not know.
    UnknownType(String),
    /// A binary frame; the protocol is text only.
    BinaryFrame,
    /// Over the per-connection rate; retry after the given time.
    RateLimited { retry_after_ms: u64 },
    /// Kept sending while rate limited. Fatal.
    Flooding,
    /// A frame far over any sane message size. Fatal.
    FrameTooLarge,
    /// The room is at its connection cap. Fatal.
    RoomFull,
    /// Silent longer than the idle timeout. Fatal.
    Idle,
    /// Something inside the room failed. Fatal, and deliberately vague.
    Internal,
}

/// How a refusal reaches the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// An error frame: stable `code`, readable message, retry hint.
    pub frame: Option<(&'static str, String, Option<u64>)>,
    /// Then close the socket with this RFC 6455 code and reason.
    pub close: Option<(u16, &'static str)>,
}

/// RFC 6455 close codes the room uses.
pub mod close_code {
    /// A normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away: here, an idle socket being dropped.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke a policy: here, flooding after warnings.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The endpoint hit an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Try again later: the room is full.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

impl Refusal {
    pub fn answer(&self) -> Answer {
        use close_code::*;
        let (code, message, retry, close): (_, String, _, _) = match self {
            Refusal::EmptyMessage => ("empty_message", "message is empty".into(), None, None),
            Refusal::MessageTooLong { chars, max } => (
                "message_too_long",
                format!("message is {chars} characters long; the limit is {max}"),
                None,
                None,
            ),
            Refusal::MalformedJson => (
                "malformed_json",
                "a frame starting with '{' must be a JSON object".into(),
                None,
                None,
            ),
            Refusal::BadFrame(why) => ("bad_frame", why.clone(), None, None),
            Refusal::UnknownType(kind) => (
                "unknown_type",
                format!("unknown frame type {kind:?}"),
                None,
                None,
            ),
            Refusal::BinaryFrame => (
                "binary_unsupported",
                "binary frames are not supported; send text".into(),
                None,
                None,
            ),
            Refusal::RateLimited { retry_after_ms } => (
                "rate_limited",
                format!("too many messages; wait {retry_after_ms} ms"),
                Some(*retry_after_ms),
                None,
            ),
            Refusal::Flooding => (
                "flooding",
                "kept sending while rate limited; disconnected".into(),
                None,
                Some((POLICY_VIOLATION, "sending too fast")),
            ),
            Refusal::FrameTooLarge => (
                "frame_too_large",
                "frame is far over the message size limit; disconnected".into(),
                None,
                Some((MESSAGE_TOO_BIG, "frame too large")),
            ),
            Refusal::RoomFull => (
                "room_full",
                "this room is full; try again later or pick another room".into(),
                None,
                Some((TRY_AGAIN_LATER, "room is full")),
            ),
            Refusal::Idle => (
                "idle_timeout",
                "no frames or pings for too long; disconnected".into(),
                None,
                Some((GOING_AWAY, "idle timeout")),
            ),
            Refusal::Internal => {
                return Answer {
                    frame: None,
                    close: Some((INTERNAL_ERROR, "internal error")),
                }
            }
        };
        Answer {
            frame: Some((code, message, retry)),
            close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_message_faults_keep_the_socket_open() {
        for refusal in [
            Refusal::EmptyMessage,
            Refusal::MalformedJson,
            Refusal::BadFrame("x".into()),
            Refusal::UnknownType("x".into()),
            Refusal::BinaryFrame,
            Refusal::MessageTooLong { chars: 3, max: 2 },
            Refusal::RateLimited { retry_after_ms: 5 },
        ] {
            let answer = refusal.answer();
            assert!(answer.frame.is_some(), "{refusal:?}");
            assert_eq!(answer.close, None, "{refusal:?}");
        }
    }

    #[test]
    fn fatal_faults_close_with_their_rfc_6455_code() {
        let code = |r: Refusal| r.answer().close.map(|(c, _)| c);
        assert_eq!(code(Refusal::Idle), Some(1001));
        assert_eq!(code(Refusal::Flooding), Some(1008));
        assert_eq!(code(Refusal::FrameTooLarge), Some(1009));
        assert_eq!(code(Refusal::Internal), Some(1011));
        assert_eq!(code(Refusal::RoomFull), Some(1013));
    }

    #[test]
    fn internal_failure_says_nothing_but_a_generic_reason() {
        assert_eq!(
            Refusal::Internal.answer(),
            Answer {
                frame: None,
                close: Some((1011, "internal error"))
            }
        );
    }

    #[test]
    fn rate_limited_carries_a_retry_hint() {
        let answer = Refusal::RateLimited {
            retry_after_ms: 120,
        }
        .answer();
        assert_eq!(answer.frame.map(|f| f.2), Some(Some(120)));
    }

    #[test]
    fn close_reasons_fit_in_a_close_frame() {
        for r in [
            Refusal::Flooding,
            Refusal::FrameTooLarge,
            Refusal::RoomFull,
            Refusal::Internal,
        ] {
            let (_, reason) = r.answer().close.unwrap();
            assert!(reason.len() <= 123, "{reason}");
        }
    }
}
