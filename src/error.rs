//! Every way the room can refuse input, and the one place that decides how
//! each refusal is answered.
//!
//! There are two kinds of answer. A per-message fault gets an error frame and
//! the socket stays open: the message was simply not accepted. A fatal fault
//! closes the socket with an RFC 6455 code and a readable reason. Clients
//! never see panic text or internal details.

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
    /// Something inside the room failed. Fatal, and deliberately vague.
    Internal,
}

/// How a refusal reaches the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An error frame with a stable `code`; the socket stays open.
    ErrorFrame { code: &'static str, message: String },
    /// Close the socket with this RFC 6455 code and reason.
    Close { code: u16, reason: &'static str },
}

/// RFC 6455 close codes the room uses.
pub mod close_code {
    /// A normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint hit an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
}

impl Refusal {
    pub fn answer(&self) -> Answer {
        let frame = |code, message: String| Answer::ErrorFrame { code, message };
        match self {
            Refusal::EmptyMessage => frame("empty_message", "message is empty".into()),
            Refusal::MessageTooLong { chars, max } => frame(
                "message_too_long",
                format!("message is {chars} characters long; the limit is {max}"),
            ),
            Refusal::MalformedJson => frame(
                "malformed_json",
                "a frame starting with '{' must be a JSON object".into(),
            ),
            Refusal::BadFrame(why) => frame("bad_frame", why.clone()),
            Refusal::UnknownType(kind) => {
                frame("unknown_type", format!("unknown frame type {kind:?}"))
            }
            Refusal::BinaryFrame => frame(
                "binary_unsupported",
                "binary frames are not supported; send text".into(),
            ),
            Refusal::Internal => Answer::Close {
                code: close_code::INTERNAL_ERROR,
                reason: "internal error",
            },
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
        ] {
            assert!(
                matches!(refusal.answer(), Answer::ErrorFrame { .. }),
                "{refusal:?}"
            );
        }
    }

    #[test]
    fn internal_failure_closes_with_1011_and_a_generic_reason() {
        assert_eq!(
            Refusal::Internal.answer(),
            Answer::Close {
                code: 1011,
                reason: "internal error"
            }
        );
    }

    #[test]
    fn unknown_type_names_the_type() {
        let Answer::ErrorFrame { code, message } = Refusal::UnknownType("dance".into()).answer()
        else {
            panic!("expected an error frame")
        };
        assert_eq!(code, "unknown_type");
        assert!(message.contains("dance"));
    }
}
