//! Every way the room can refuse input, and the one place that decides how
//! each refusal is answered.
//!
//! There are two kinds of answer. A per-message fault gets an error frame and
//! the socket stays open: the message was simply not accepted. A fatal fault
//! closes the socket with an RFC 6455 code and a readable reason, after an
//! error frame where one helps the client explain it. Clients never see
//! panic text or internal details.
//!
//! A socket refused before it opens, and any HTTP request, gets an
//! [`HttpRefusal`]: a status and a readable body. [`Denial`] is why
//! identity or a ban refused one.

use serde::Serialize;

use crate::settings::auth_mode::Problem;

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
    /// A search query that is empty, too long or has too many words.
    BadQuery(String),
    /// A reaction past a message's limits: the reason says which.
    TooManyReactions(String),
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
    /// The client already holds its most sockets in the room. Fatal.
    TooManySockets,
    /// The address already holds its most sockets in the room. Fatal.
    TooManySocketsFromAddress,
    /// Silent longer than the idle timeout. Fatal.
    Idle,
    /// The socket's token expired while it was connected. Fatal.
    TokenExpired,
    /// A moderator removed the client from the room. Fatal.
    Kicked,
    /// Edit or delete of a message this client did not write (and, for a
    /// delete, is not a moderator).
    NotAuthor,
    /// A moderator's action from a client that is not one.
    NotModerator,
    /// A kick of a client that is a moderator: only the operator removes
    /// one (see [`crate::room::moderation`]).
    ModeratorNotKickable,
    /// Edit or delete of a message the room does not have (never, or no
    /// longer kept).
    UnknownMessage,
    /// Edit or delete of a message already deleted.
    MessageDeleted,
    /// Something inside the room failed. Fatal, and deliberately vague.
    Internal,
    /// Storage failed. Answered exactly like [`Refusal::Internal`]; the cause
    /// is kept for the room's log line and never reaches a client.
    Storage(StoreError),
}

/// Storage failed; what failed is for logs, never for clients. Fixed
/// words, never the runtime's error message, which may quote a query or a
/// value in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

/// An error frame's content: a stable code, a readable message, and when to
/// retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    pub code: &'static str,
    pub message: String,
    pub retry_after_ms: Option<u64>,
}

/// An RFC 6455 close: its code and a reason short enough for a close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// How a refusal reaches the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// An error frame first, if one helps the client explain what happened.
    pub frame: Option<ErrorReply>,
    /// Then close the socket.
    pub close: Option<Close>,
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

/// The close every internal failure gets: no detail, ever.
pub const INTERNAL_CLOSE: Close = Close {
    code: close_code::INTERNAL_ERROR,
    reason: "internal error",
};

/// The close flow control gives a socket that fell too far behind (see
/// [`crate::send::flow`]). 1013, "try again later": the client did nothing wrong
/// that a reconnect would not fix, and catching up from history is the fix.
pub const TOO_SLOW_CLOSE: Close = Close {
    code: close_code::TRY_AGAIN_LATER,
    reason: "too slow, reconnect",
};

impl Refusal {
    pub fn answer(&self) -> Answer {
        if let Refusal::Internal | Refusal::Storage(_) = self {
            return Answer {
                frame: None,
                close: Some(INTERNAL_CLOSE),
            };
        }
        match self.fatal() {
            Some((code, message, close)) => Answer {
                frame: Some(reply(code, message, None)),
                close: Some(close),
            },
            None => Answer {
                frame: Some(self.per_message()),
                close: None,
            },
        }
    }

    /// What failed inside the room, for its log line only.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Refusal::Storage(err) => Some(&err.0),
            _ => None,
        }
    }

    /// Faults that close a socket in the room after an error frame.
    fn fatal(&self) -> Option<(&'static str, &'static str, Close)> {
        use close_code::*;
        let close = |code, reason| Close { code, reason };
        Some(match self {
            Refusal::Flooding => (
                "flooding",
                "kept sending while rate limited; disconnected",
                close(POLICY_VIOLATION, "sending too fast"),
            ),
            Refusal::FrameTooLarge => (
                "frame_too_large",
                "frame is far over the message size limit; disconnected",
                close(MESSAGE_TOO_BIG, "frame too large"),
            ),
            Refusal::Idle => (
                "idle_timeout",
                "no frames or pings for too long; disconnected",
                close(GOING_AWAY, "idle timeout"),
            ),
            Refusal::TokenExpired => (
                "token_expired",
                "your sign-in token expired; get a new one and reconnect",
                close(POLICY_VIOLATION, "token expired"),
            ),
            Refusal::Kicked => (
                "kicked",
                "a moderator removed you from this room",
                close(POLICY_VIOLATION, "removed by a moderator"),
            ),
            _ => return self.turned_away(),
        })
    }

    /// Fatal faults of a socket turned away as it joins: a full room, or a
    /// client or an address at its share of it.
    fn turned_away(&self) -> Option<(&'static str, &'static str, Close)> {
        use close_code::*;
        let close = |code, reason| Close { code, reason };
        Some(match self {
            Refusal::RoomFull => (
                "room_full",
                "this room is full; try again later or pick another room",
                close(TRY_AGAIN_LATER, "room is full"),
            ),
            Refusal::TooManySockets => (
                "too_many_sockets",
                "you have as many sockets open in this room as one client may; \
                 close one (another tab?) and try again",
                close(POLICY_VIOLATION, "too many sockets"),
            ),
            Refusal::TooManySocketsFromAddress => (
                "too_many_sockets_from_address",
                "your network address has as many sockets open in this room as one \
                 address may; close one and try again",
                close(POLICY_VIOLATION, "too many sockets from address"),
            ),
            _ => return None,
        })
    }

    /// Faults answered with an error frame alone: the message was not
    /// accepted and the socket stays open.
    fn per_message(&self) -> ErrorReply {
        match self {
            Refusal::EmptyMessage => said("empty_message", "message is empty"),
            Refusal::MessageTooLong { chars, max } => said(
                "message_too_long",
                format!("message is {chars} characters long; the limit is {max}"),
            ),
            Refusal::MalformedJson => said(
                "malformed_json",
                "a frame starting with '{' must be a JSON object",
            ),
            Refusal::BadFrame(why) => said("bad_frame", why.clone()),
            Refusal::BadQuery(why) => said("bad_query", why.clone()),
            Refusal::TooManyReactions(why) => said("too_many_reactions", why.clone()),
            Refusal::UnknownType(kind) => {
                said("unknown_type", format!("unknown frame type {kind:?}"))
            }
            Refusal::BinaryFrame => said(
                "binary_unsupported",
                "binary frames are not supported; send text",
            ),
            Refusal::RateLimited { retry_after_ms } => reply(
                "rate_limited",
                format!("too many messages; wait {retry_after_ms} ms"),
                Some(*retry_after_ms),
            ),
            Refusal::NotAuthor => said("not_author", "only the author can do that to this message"),
            Refusal::NotModerator => said("not_moderator", "only a moderator can do that"),
            Refusal::ModeratorNotKickable => said(
                "cannot_kick_moderator",
                "a moderator cannot remove another moderator; only the operator can",
            ),
            Refusal::UnknownMessage => said(
                "unknown_message",
                "no such message in this room's kept history",
            ),
            Refusal::MessageDeleted => said("message_deleted", "that message was deleted"),
            // `answer` sends the others elsewhere; this keeps the match total
            // without a panic path.
            _ => said("internal", "internal error"),
        }
    }
}

/// Why a socket is refused before it opens, answered by the Worker (or,
/// for a ban, by the room) with an HTTP status and a JSON body
/// `{"error": code, "message": readable}`. No variant holds anything from
/// the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// Token mode, and the request carried no token.
    MissingToken,
    /// Bad encoding, algorithm, signature, or claims; the reason is fixed
    /// text from [`crate::access::auth`].
    BadToken(&'static str),
    /// The token is past `exp`.
    ExpiredToken,
    /// The token's `rooms` does not include the room.
    RoomForbidden,
    /// The path's client id is not the token's `sub`.
    IdMismatch,
    /// A moderator removed this client; try again in this many minutes.
    Banned { minutes_left: u64 },
    /// The operator's settings let no one in (see
    /// [`crate::settings::auth_mode`]): the server's fault, not the
    /// client's, so 503.
    Misconfigured(Problem),
}

impl Denial {
    pub fn status(&self) -> u16 {
        match self {
            Denial::MissingToken | Denial::BadToken(_) | Denial::ExpiredToken => 401,
            Denial::RoomForbidden | Denial::IdMismatch | Denial::Banned { .. } => 403,
            Denial::Misconfigured(_) => 503,
        }
    }

    /// The stable code, for the body and the log line.
    pub fn code(&self) -> &'static str {
        match self {
            Denial::MissingToken => "missing_token",
            Denial::BadToken(_) => "bad_token",
            Denial::ExpiredToken => "expired_token",
            Denial::RoomForbidden => "room_forbidden",
            Denial::IdMismatch => "id_mismatch",
            Denial::Banned { .. } => "banned",
            Denial::Misconfigured(problem) => match problem {
                Problem::NotConfigured => "auth_not_configured",
                Problem::SecretTooShort => "auth_secret_too_short",
                Problem::InvalidMode => "auth_mode_invalid",
                Problem::OpenWithSecret => "auth_mode_conflict",
            },
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denial::MissingToken => "this chat needs a sign-in token: send it as ?token= \
                or Authorization: Bearer"
                .into(),
            Denial::BadToken(why) => format!("the sign-in token was refused: {why}"),
            Denial::ExpiredToken => "the sign-in token has expired; get a new one".into(),
            Denial::RoomForbidden => "your sign-in token does not grant this room".into(),
            Denial::IdMismatch => {
                "the client id in the path is not the one your sign-in token names".into()
            }
            Denial::Banned { minutes_left } => format!(
                "a moderator removed you from this room; try again in {minutes_left} minute{}",
                if *minutes_left == 1 { "" } else { "s" }
            ),
            Denial::Misconfigured(problem) => format!(
                "this chat lets no one in until its operator fixes its sign-in settings: {}",
                problem.describe()
            ),
        }
    }

    /// The answer a socket handshake gets: JSON, as a program reads it.
    pub fn refusal(&self) -> HttpRefusal {
        HttpRefusal::json(self.status(), self.code(), self.message())
    }
}

/// A request refused over HTTP: its status, a stable code, words a person
/// can read, and the headers some statuses need. Every HTTP refusal is one
/// of these (a page path, a socket handshake, an API call), and the
/// platform renders all of them in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// For 405: the `Allow` header.
    pub allow: Option<&'static str>,
    /// For 429: the `Retry-After` header, in whole seconds.
    pub retry_after_secs: Option<u64>,
    /// The body's form: see [`BodyForm`].
    pub form: BodyForm,
}

/// Plain text for a person at a browser or curl (the pages and socket
/// paths, as the originals answered); JSON `{"error": code, "message":
/// readable}` for a program (the API and identity refusals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyForm {
    Text,
    Json,
}

/// A JSON refusal's body.
#[derive(Serialize)]
struct RefusalBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl HttpRefusal {
    pub fn json(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        HttpRefusal {
            status,
            code,
            message: message.into(),
            allow: None,
            retry_after_secs: None,
            form: BodyForm::Json,
        }
    }

    /// A refusal whose body is `message` as it is: end it with a newline.
    pub fn text(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        HttpRefusal {
            form: BodyForm::Text,
            ..HttpRefusal::json(status, code, message)
        }
    }

    pub fn body(&self) -> String {
        match self.form {
            BodyForm::Text => self.message.clone(),
            BodyForm::Json => {
                let body = RefusalBody {
                    error: self.code,
                    message: &self.message,
                };
                // Two strings: serialising cannot fail.
                serde_json::to_string(&body).unwrap_or_default()
            }
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self.form {
            BodyForm::Text => "text/plain; charset=utf-8",
            BodyForm::Json => "application/json",
        }
    }
}

/// An error frame with no retry hint.
fn said(code: &'static str, message: impl Into<String>) -> ErrorReply {
    reply(code, message, None)
}

fn reply(
    code: &'static str,
    message: impl Into<String>,
    retry_after_ms: Option<u64>,
) -> ErrorReply {
    ErrorReply {
        code,
        message: message.into(),
        retry_after_ms,
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
            Refusal::BadQuery("x".into()),
            Refusal::TooManyReactions("x".into()),
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
        let code = |r: Refusal| r.answer().close.map(|c| c.code);
        assert_eq!(code(Refusal::Idle), Some(1001));
        assert_eq!(code(Refusal::Flooding), Some(1008));
        assert_eq!(code(Refusal::FrameTooLarge), Some(1009));
        assert_eq!(code(Refusal::Internal), Some(1011));
        assert_eq!(code(Refusal::Storage(StoreError("x".into()))), Some(1011));
        assert_eq!(code(Refusal::RoomFull), Some(1013));
        assert_eq!(code(Refusal::TooManySockets), Some(1008));
        assert_eq!(code(Refusal::TooManySocketsFromAddress), Some(1008));
    }

    #[test]
    fn internal_failure_says_nothing_but_a_generic_reason() {
        assert_eq!(
            Refusal::Internal.answer(),
            Answer {
                frame: None,
                close: Some(INTERNAL_CLOSE)
            }
        );
        let storage = Refusal::Storage(StoreError("disk I/O error at /var/db".into()));
        assert_eq!(storage.answer(), Refusal::Internal.answer());
        assert_eq!(storage.cause(), Some("disk I/O error at /var/db"));
    }

    #[test]
    fn rate_limited_carries_a_retry_hint() {
        let answer = Refusal::RateLimited {
            retry_after_ms: 120,
        }
        .answer();
        assert_eq!(answer.frame.and_then(|f| f.retry_after_ms), Some(120));
    }

    #[test]
    fn moderation_refusals_keep_the_socket_open_and_removals_close_with_1008() {
        for refusal in [
            Refusal::NotAuthor,
            Refusal::NotModerator,
            Refusal::ModeratorNotKickable,
            Refusal::UnknownMessage,
            Refusal::MessageDeleted,
        ] {
            assert_eq!(refusal.answer().close, None, "{refusal:?}");
        }
        let close = |r: Refusal| r.answer().close.unwrap();
        assert_eq!(close(Refusal::TokenExpired).code, 1008);
        assert_eq!(close(Refusal::TokenExpired).reason, "token expired");
        assert_eq!(close(Refusal::Kicked).reason, "removed by a moderator");
    }

    #[test]
    fn denials_are_json_with_their_status_and_code() {
        let cases = [
            (Denial::MissingToken, 401, "missing_token"),
            (Denial::BadToken("why"), 401, "bad_token"),
            (Denial::ExpiredToken, 401, "expired_token"),
            (Denial::RoomForbidden, 403, "room_forbidden"),
            (Denial::IdMismatch, 403, "id_mismatch"),
            (Denial::Banned { minutes_left: 1 }, 403, "banned"),
            (
                Denial::Misconfigured(Problem::NotConfigured),
                503,
                "auth_not_configured",
            ),
            (
                Denial::Misconfigured(Problem::SecretTooShort),
                503,
                "auth_secret_too_short",
            ),
            (
                Denial::Misconfigured(Problem::InvalidMode),
                503,
                "auth_mode_invalid",
            ),
            (
                Denial::Misconfigured(Problem::OpenWithSecret),
                503,
                "auth_mode_conflict",
            ),
        ];
        for (denial, status, code) in cases {
            assert_eq!(denial.status(), status, "{code}");
            let body: serde_json::Value = serde_json::from_str(&denial.refusal().body()).unwrap();
            assert_eq!(body["error"], code);
            assert!(!body["message"].as_str().unwrap().is_empty());
        }
    }

    #[test]
    fn a_chat_that_lets_no_one_in_says_what_its_operator_must_set() {
        for problem in [
            Problem::NotConfigured,
            Problem::SecretTooShort,
            Problem::InvalidMode,
            Problem::OpenWithSecret,
        ] {
            let body = Denial::Misconfigured(problem).refusal().body();
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            let message = body["message"].as_str().unwrap();
            assert!(message.ends_with(problem.describe()), "{message}");
        }
        let message = Denial::Misconfigured(Problem::NotConfigured).message();
        assert!(message.contains("set AUTH_SECRET"), "{message}");
    }

    #[test]
    fn close_reasons_fit_in_a_close_frame() {
        for r in [
            Refusal::Flooding,
            Refusal::FrameTooLarge,
            Refusal::RoomFull,
            Refusal::TooManySockets,
            Refusal::TooManySocketsFromAddress,
            Refusal::Internal,
            Refusal::TokenExpired,
            Refusal::Kicked,
        ] {
            let reason = r.answer().close.unwrap().reason;
            assert!(reason.len() <= 123, "{reason}");
        }
    }
}
