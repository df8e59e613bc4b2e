//! The wire protocol: what clients send, what the server sends back, and the
//! one function that turns an incoming text frame into a typed frame.
//!
//! Compatibility with the FastAPI originals drives the shape. Their React
//! client sends raw text and reads JSON `{time, clientId, message}`, so every
//! server frame carries those three fields, plus `type` and `ts`. New clients
//! may send JSON frames instead of raw text; a frame is read as JSON exactly
//! when its first non-blank character is `{`.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::settings::limits::{MAX_KICK_MINUTES, PAGE_DEFAULT, SCROLLBACK_PAGE_MAX};
use crate::wire::error::Refusal;
use crate::wire::validate;

/// The `clientId` on frames the server itself originates, such as errors.
pub const SERVER_ID: &str = "server";

/// The `clientId` of a message posted through the HTTP API in open mode
/// without naming a sender: the API's own voice.
pub const API_ID: &str = "api";

/// The ids the room itself speaks as. No one may claim one, in any ASCII
/// case: not as a socket's id, a token's `sub` or an API post's
/// `clientId`, or a frame from the room could be forged, and "Server"
/// reads as "server" to a person.
pub const RESERVED_IDS: [&str; 2] = [SERVER_ID, API_ID];

/// The first frame the old React client sends on open. It announces the
/// client; it is not chat text.
pub const LEGACY_HELLO: &str = "Connect";

/// A keep-alive a client may send at any time. The runtime answers it with
/// [`PONG`] itself, without waking a hibernating room, so a page can keep its
/// socket alive for free. It is JSON so no old client sends it as chat.
pub const PING: &str = r#"{"type":"ping"}"#;

/// The runtime's answer to [`PING`].
pub const PONG: &str = r#"{"type":"pong"}"#;

/// The `message` of a join frame, as the originals' clients display it.
pub const ONLINE: &str = "Online";

/// The `message` of a leave frame, as the originals broadcast it.
pub const OFFLINE: &str = "Offline";

/// A frame a client sent, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Chat text for everyone in the room, with the client's own id for it
    /// when the client wants exactly-once delivery across reconnects.
    Chat {
        text: String,
        client_msg_id: Option<String>,
        /// The id of the message this one answers.
        reply_to: Option<String>,
    },
    /// The client is typing; the others are told, nothing is stored.
    Typing,
    /// Delete the message with this id (its author, or a moderator).
    Delete { id: String },
    /// Replace the text of the message with this id (its author only).
    Edit { id: String, text: String },
    /// Close every socket of `client_id` and ban it for `minutes` (a
    /// moderator only).
    Kick { client_id: String, minutes: u64 },
    /// Move the sender's read pointer forward to `seq`.
    Read { seq: u64 },
    /// Add `emoji` to message `id` as the sender's reaction, or take it
    /// away if the sender already reacted with it.
    React { id: String, emoji: String },
    /// A page of scrollback: the newest `limit` messages before `before`
    /// (or the newest of all), as they are now.
    Older { before: Option<u64>, limit: u64 },
    /// A page of search hits, newest first, before `before` if given.
    Search {
        query: String,
        before: Option<u64>,
        limit: u64,
    },
    /// A receipt echoing a mark the room sent (see [`crate::send::flow`]).
    /// One that proves nothing new reaches the rules, which accept it
    /// silently: it is a frame like any other, and pays the rate limit.
    Seen,
}

/// The JSON form of client frames: every field any frame may carry, read
/// flat and checked per `type` below. Unknown fields are ignored so newer
/// clients can talk to an older server. Flat rather than a tagged enum: serde
/// reads a tagged enum by buffering the whole frame in a generic tree first,
/// which cost the `.wasm` several KiB and every frame a second pass.
#[derive(Deserialize)]
struct JsonClientFrame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "clientMsgId", default)]
    client_msg_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "clientId", default)]
    client_id: Option<String>,
    #[serde(default)]
    minutes: Option<u64>,
    #[serde(default)]
    mark: Option<String>,
    #[serde(default)]
    before: Option<u64>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
    #[serde(rename = "replyTo", default)]
    reply_to: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
}

/// The `type`s a client may send, for telling "unknown type" apart from
/// "known type, wrong fields".
const CLIENT_TYPES: &[&str] = &[
    "message", "typing", "delete", "edit", "kick", "seen", "older", "search", "react", "read",
];

/// A receipt, read before the rules see the frame: a receipt that proves
/// reading skips the rate limit (see [`crate::send::flow`]). `None` for
/// anything else; `Some(None)` for a receipt without a readable mark. Only
/// a JSON frame that mentions `seen` is parsed, so chat costs one
/// substring search.
pub fn receipt(text: &str) -> Option<Option<u64>> {
    if !text.trim_start().starts_with('{') || !text.contains("\"seen\"") {
        return None;
    }
    match serde_json::from_str::<JsonClientFrame>(text) {
        Ok(f) if f.kind == "seen" => Some(f.mark.as_deref().and_then(parse_mark)),
        _ => None,
    }
}

/// The frame that carries a mark to a socket that proves its reading.
pub fn mark_frame(mark: u64) -> String {
    format!(r#"{{"type":"mark","mark":"{mark:016x}"}}"#)
}

/// A mark as a receipt echoes it: exactly 16 hex digits.
fn parse_mark(text: &str) -> Option<u64> {
    let hex = text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit());
    hex.then(|| u64::from_str_radix(text, 16).ok()).flatten()
}

/// Reads one text frame. Raw text is chat, as the originals' clients send it;
/// text starting with `{` must be a JSON frame with a known `type`.
pub fn parse(text: &str) -> Result<ClientFrame, Refusal> {
    if !text.trim_start().starts_with('{') {
        return Ok(ClientFrame::Chat {
            text: text.to_owned(),
            client_msg_id: None,
            reply_to: None,
        });
    }
    match serde_json::from_str::<JsonClientFrame>(text) {
        Ok(frame) => typed(frame),
        Err(err) => Err(classify_json_error(text, &err)),
    }
}

/// A well-formed frame as the frame its `type` names, if it has that
/// frame's fields.
fn typed(f: JsonClientFrame) -> Result<ClientFrame, Refusal> {
    match f.kind.as_str() {
        "message" => {
            if let Some(id) = &f.client_msg_id {
                validate::client_msg_id(id).map_err(|why| Refusal::BadFrame(why.0))?;
            }
            Ok(ClientFrame::Chat {
                text: required(f.message, "message")?,
                client_msg_id: f.client_msg_id,
                reply_to: f.reply_to,
            })
        }
        "typing" => Ok(ClientFrame::Typing),
        "delete" => Ok(ClientFrame::Delete {
            id: required(f.id, "id")?,
        }),
        "edit" => Ok(ClientFrame::Edit {
            id: required(f.id, "id")?,
            text: required(f.message, "message")?,
        }),
        "kick" => {
            let client_id = required(f.client_id, "clientId")?;
            let minutes = required(f.minutes, "minutes")?;
            validate::client_id(&client_id).map_err(|why| Refusal::BadFrame(why.0))?;
            if !(1..=MAX_KICK_MINUTES).contains(&minutes) {
                return Err(Refusal::BadFrame(format!(
                    "\"minutes\" must be 1 to {MAX_KICK_MINUTES}"
                )));
            }
            Ok(ClientFrame::Kick { client_id, minutes })
        }
        "seen" => Ok(ClientFrame::Seen),
        "react" => {
            let emoji = required(f.emoji, "emoji")?;
            validate::reaction(&emoji).map_err(|why| Refusal::BadFrame(why.0))?;
            Ok(ClientFrame::React {
                id: required(f.id, "id")?,
                emoji,
            })
        }
        "read" => Ok(ClientFrame::Read {
            seq: required(f.seq, "seq")?,
        }),
        "older" => Ok(ClientFrame::Older {
            before: f.before,
            limit: page_limit(f.limit)?,
        }),
        "search" => Ok(ClientFrame::Search {
            query: required(f.q, "q")?,
            before: f.before,
            limit: page_limit(f.limit)?,
        }),
        _ => Err(Refusal::UnknownType(f.kind)),
    }
}

/// A page's `limit`: [`PAGE_DEFAULT`] when absent, at most
/// [`SCROLLBACK_PAGE_MAX`].
fn page_limit(limit: Option<u64>) -> Result<u64, Refusal> {
    match limit.unwrap_or(PAGE_DEFAULT) {
        n @ 1..=SCROLLBACK_PAGE_MAX => Ok(n),
        _ => Err(Refusal::BadFrame(format!(
            "\"limit\" must be 1 to {SCROLLBACK_PAGE_MAX}"
        ))),
    }
}

fn required<T>(field: Option<T>, name: &str) -> Result<T, Refusal> {
    field.ok_or_else(|| Refusal::BadFrame(format!("missing field `{name}`")))
}

/// Tells a malformed document apart from a well-formed one with the wrong
/// shape, so the client learns which of the two it got wrong. Probes with
/// typed structs rather than `serde_json::Value`, which would cost the
/// `.wasm` a generic JSON tree for an error path.
fn classify_json_error(text: &str, err: &serde_json::Error) -> Refusal {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type", default)]
        kind: Option<String>,
    }
    match serde_json::from_str::<Probe>(text) {
        Ok(Probe { kind: None }) => {
            Refusal::BadFrame("a JSON frame needs a string field \"type\"".into())
        }
        Ok(Probe { kind: Some(kind) }) if !CLIENT_TYPES.contains(&kind.as_str()) => {
            Refusal::UnknownType(kind)
        }
        Ok(_) => Refusal::BadFrame(first_line(&err.to_string())),
        Err(_) => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Refusal::BadFrame("field \"type\" must be a string".into()),
            Err(_) => Refusal::MalformedJson,
        },
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// A frame the server sends. Each serialises to one JSON object that always
/// carries `type`, `time`, `clientId`, `message` and `ts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// Chat text from `clientId`, sent to everyone including its author.
    Message(ChatLine),
    /// `clientId` came online; `message` is [`ONLINE`].
    Join(Line),
    /// `clientId` went offline; `message` is [`OFFLINE`].
    Leave(Line),
    /// `clientId` is typing. Never stored.
    Typing(Line),
    /// Sent first on join: stored messages, oldest first.
    History(HistoryLine),
    /// Sent to a newcomer: who is online.
    Presence(PresenceLine),
    /// Tells the sender its message was stored under `seq`.
    Ack(AckLine),
    /// The recipient's last frame was not accepted; the socket stays open.
    Error(ErrorLine),
    /// A message was deleted; its history entry is now a tombstone.
    Delete(ChangeLine),
    /// A message's text was replaced.
    Edit(ChangeLine),
    /// A reaction was added or taken away; to sockets that speak this
    /// protocol (`batch=1`), never to the originals' clients.
    Reaction(ReactionLine),
    /// A message's reactions as they are now: in a catch-up's `changes`.
    Reactions(ReactionsLine),
    /// A read pointer moved, to every socket of its owner.
    Read(ReadLine),
    /// A page of scrollback, to the socket that asked.
    Older(PageLine),
    /// A page of search hits, to the socket that asked.
    Search(PageLine),
    /// A crowded room's join and leave notices since the last one, as one
    /// (see [`crate::room::presence::Crowd`]).
    Crowd(CrowdLine),
}

/// The fields the originals' clients read, plus the epoch timestamp and the
/// speaker's display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// `HH:MM` in UTC, the originals' format; new clients use `ts`.
    pub time: String,
    pub client_id: String,
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Line {
    pub fn new(client_id: &str, message: &str, ts: u64) -> Self {
        Line {
            time: clock_time(ts),
            client_id: client_id.to_owned(),
            message: message.to_owned(),
            ts,
            name: None,
        }
    }

    pub fn named(mut self, name: Option<&str>) -> Self {
        self.name = name.map(str::to_owned);
        self
    }

    /// A line from the server itself.
    pub fn server(message: &str, ts: u64) -> Self {
        Line::new(SERVER_ID, message, ts)
    }
}

/// A stored chat message as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatLine {
    #[serde(flatten)]
    pub line: Line,
    /// Per-room sequence number: strictly increasing, without gaps.
    pub seq: u64,
    /// Unique id of the message.
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// The message this one answers, quoted as it is now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyRef>,
    /// The client ids its text mentions (`@id`), for notifying them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

/// The message a reply answers: its id and author, and a short quote of
/// its text as it is now. A deleted original quotes nothing and says
/// `deleted`; one no longer kept says `gone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyRef {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub quote: String,
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub gone: bool,
}

/// A message as history shows it now: deleted (an empty `message`, its
/// original `seq`) or edited (the new text and when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeptLine {
    #[serde(flatten)]
    pub chat: ChatLine,
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<u64>,
    /// Its reactions, each emoji once, in the order first given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionCount>,
}

/// One emoji on a message: how many reacted with it, and, where the
/// answer is for one client, whether that client is among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
}

/// A reaction added (`on`) or taken away by `clientId` on message `id`,
/// under the room's next `seq`, with the message's reactions after it.
/// `mine` is absent: a client is among them if it was the last to add
/// the emoji, or was already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionLine {
    #[serde(flatten)]
    pub line: Line,
    pub id: String,
    pub seq: u64,
    pub emoji: String,
    pub on: bool,
    pub reactions: Vec<ReactionCount>,
}

/// Message `id`'s reactions as they are now, after its latest reaction
/// change `seq`, with `mine` for the client it is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionsLine {
    #[serde(flatten)]
    pub line: Line,
    pub id: String,
    pub seq: u64,
    pub reactions: Vec<ReactionCount>,
}

fn is_false(b: &bool) -> bool {
    !b
}

/// A `delete` or `edit`: which message, under which `seq` of the room's
/// sequence. `clientId` and `name` are the author's; `message` is the new
/// text (empty for a delete); `ts` is when it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeLine {
    #[serde(flatten)]
    pub line: Line,
    /// The changed message's id.
    pub id: String,
    /// The change's own `seq`, after which `since` no longer repeats it.
    pub seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<u64>,
    /// An edit's mentions, read again from the new text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLine {
    #[serde(flatten)]
    pub line: Line,
    pub messages: Vec<KeptLine>,
    /// For `since` catch-up: `delete` and `edit` frames for messages the
    /// client already had, in `seq` order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ServerFrame>,
    /// The newest `seq` in the room, 0 when nothing was ever said.
    pub latest_seq: u64,
    /// True when the client asked for messages older than the room keeps:
    /// some it missed are gone, and `messages` is the whole kept window.
    pub truncated: bool,
    /// Where the newcomer's read pointer is, and how much is unread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadState>,
    /// The room's history epoch: a client reconnects with it beside
    /// `since`, and a `since` from another epoch is not trusted.
    pub epoch: String,
    /// The client's `since` came from another epoch (the room's storage
    /// was replaced): this is the newest window, to start over from.
    #[serde(skip_serializing_if = "is_false")]
    pub reset: bool,
}

/// One person's read pointer in a room: the last `seq` they have seen,
/// and how many messages after it, by others and not deleted, they have
/// not (counted up to a cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadState {
    pub seq: u64,
    pub unread: u64,
}

/// A person's read pointer moved: to every socket of theirs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadLine {
    #[serde(flatten)]
    pub line: Line,
    #[serde(flatten)]
    pub read: ReadState,
}

/// A page of kept messages as they are now: scrollback oldest first,
/// search hits newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageLine {
    #[serde(flatten)]
    pub line: Line,
    /// The search query, as asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// The page holds messages before this `seq`, as asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    pub messages: Vec<KeptLine>,
    /// More lie beyond this page: ask again `before` the last one's `seq`
    /// (search) or the first one's (scrollback).
    pub more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresenceLine {
    #[serde(flatten)]
    pub line: Line,
    /// Who is here, by client id, at most
    /// [`crate::settings::limits::PRESENCE_LIST_MAX`] of them.
    pub members: Vec<Member>,
    /// How many are here: exact, however many `members` lists.
    pub count: usize,
    /// Relay objects holding the room's sockets; 0 for a room that is one
    /// object.
    pub relays: usize,
}

/// `+37 joined, 5 left`: how many people came online and went offline
/// since the last such notice, and how many are here now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrowdLine {
    #[serde(flatten)]
    pub line: Line,
    pub joined: u32,
    pub left: u32,
    pub count: usize,
    pub relays: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AckLine {
    #[serde(flatten)]
    pub line: Line,
    pub client_msg_id: String,
    pub seq: u64,
    pub id: String,
}

/// An error frame: a stable machine-readable `code` and a readable `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorLine {
    pub code: &'static str,
    #[serde(flatten)]
    pub line: Line,
    /// For `rate_limited`: when the next message will be accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ServerFrame {
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with
        // non-string keys, no foreign Serialize impls.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Several frames in one, for clients that connected with `batch=1`. The
/// frames are already serialised, so a burst is serialised once however many
/// sockets receive it.
#[derive(Serialize)]
#[serde(tag = "type", rename = "batch")]
pub struct Batch<'a> {
    #[serde(flatten)]
    pub line: Line,
    pub frames: Vec<&'a RawValue>,
}

/// Wraps already-serialised frames into one `batch` frame.
pub fn batch_json(frames: &[&str], now: u64) -> String {
    let raw: Vec<&RawValue> = frames
        .iter()
        .filter_map(|f| serde_json::from_str::<&RawValue>(f).ok())
        .collect();
    serde_json::to_string(&Batch {
        line: Line::server("", now),
        frames: raw,
    })
    .unwrap_or_default()
}

/// `HH:MM` in UTC for an epoch-milliseconds timestamp.
pub fn clock_time(ts_ms: u64) -> String {
    let minutes = ts_ms / 60_000;
    format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn chat(text: &str) -> ClientFrame {
        ClientFrame::Chat {
            text: text.into(),
            client_msg_id: None,
            reply_to: None,
        }
    }

    fn value(frame: &ServerFrame) -> Value {
        serde_json::from_str(&frame.to_json()).unwrap()
    }

    #[test]
    fn raw_text_is_chat_as_the_originals_send_it() {
        assert_eq!(parse("hello"), Ok(chat("hello")));
        assert_eq!(parse("  spaced  "), Ok(chat("  spaced  ")));
        assert_eq!(parse("[1,2]"), Ok(chat("[1,2]")));
    }

    #[test]
    fn json_message_frame_is_chat() {
        assert_eq!(
            parse(r#"{"type":"message","message":"hi"}"#),
            Ok(chat("hi"))
        );
    }

    #[test]
    fn json_message_may_carry_a_client_msg_id() {
        assert_eq!(
            parse(r#"{"type":"message","message":"hi","clientMsgId":"m-1"}"#),
            Ok(ClientFrame::Chat {
                text: "hi".into(),
                client_msg_id: Some("m-1".into()),
                reply_to: None,
            })
        );
    }

    #[test]
    fn invalid_client_msg_id_is_a_bad_frame() {
        assert!(matches!(
            parse(r#"{"type":"message","message":"hi","clientMsgId":"a b"}"#),
            Err(Refusal::BadFrame(_))
        ));
    }

    #[test]
    fn typing_frame_parses() {
        assert_eq!(parse(r#"{"type":"typing"}"#), Ok(ClientFrame::Typing));
    }

    #[test]
    fn json_frames_ignore_unknown_fields() {
        assert_eq!(
            parse(r#"{"type":"message","message":"hi","future":1}"#),
            Ok(chat("hi"))
        );
    }

    #[test]
    fn broken_json_is_malformed() {
        assert_eq!(parse("{nope"), Err(Refusal::MalformedJson));
    }

    #[test]
    fn json_without_type_is_a_bad_frame() {
        assert!(matches!(
            parse(r#"{"message":"x"}"#),
            Err(Refusal::BadFrame(_))
        ));
    }

    #[test]
    fn unknown_type_is_named_back() {
        assert_eq!(
            parse(r#"{"type":"dance"}"#),
            Err(Refusal::UnknownType("dance".into()))
        );
    }

    #[test]
    fn a_type_that_is_not_a_string_is_a_bad_frame() {
        assert!(matches!(parse(r#"{"type":7}"#), Err(Refusal::BadFrame(_))));
    }

    #[test]
    fn a_lone_surrogate_in_a_message_is_a_bad_frame() {
        assert!(matches!(
            parse(r#"{"type":"message","message":"a\ud800"}"#),
            Err(Refusal::BadFrame(_))
        ));
    }

    #[test]
    fn wrong_field_type_is_a_bad_frame() {
        assert!(matches!(
            parse(r#"{"type":"message","message":7}"#),
            Err(Refusal::BadFrame(_))
        ));
    }

    #[test]
    fn message_frame_carries_the_original_fields_seq_and_id() {
        let frame = ServerFrame::Message(ChatLine {
            line: Line::new("alice", "hi", 1_700_000_000_000),
            seq: 7,
            id: "x-7".into(),
            client_msg_id: None,
            reply_to: None,
            mentions: Vec::new(),
        });
        assert_eq!(
            value(&frame),
            json!({"type":"message","time":"22:13","clientId":"alice","message":"hi",
                   "ts":1_700_000_000_000u64,"seq":7,"id":"x-7"})
        );
    }

    #[test]
    fn error_frame_carries_code_and_the_original_fields() {
        let frame = ServerFrame::Error(ErrorLine {
            code: "empty_message",
            line: Line::server("nothing to send", 0),
            retry_after_ms: None,
        });
        assert_eq!(
            value(&frame),
            json!({"type":"error","code":"empty_message","time":"00:00","clientId":"server",
                   "message":"nothing to send","ts":0})
        );
    }

    #[test]
    fn batch_wraps_frames_verbatim() {
        let a = ServerFrame::Join(Line::new("a", ONLINE, 0)).to_json();
        let b = ServerFrame::Leave(Line::new("b", OFFLINE, 0)).to_json();
        let v: Value = serde_json::from_str(&batch_json(&[&a, &b], 0)).unwrap();
        assert_eq!(v["type"], "batch");
        assert_eq!(v["clientId"], "server");
        assert_eq!(v["frames"][0]["type"], "join");
        assert_eq!(v["frames"][1]["clientId"], "b");
    }

    #[test]
    fn delete_edit_and_kick_frames_parse() {
        assert_eq!(
            parse(r#"{"type":"delete","id":"m1-a"}"#),
            Ok(ClientFrame::Delete { id: "m1-a".into() })
        );
        assert_eq!(
            parse(r#"{"type":"edit","id":"m1-a","message":"new"}"#),
            Ok(ClientFrame::Edit {
                id: "m1-a".into(),
                text: "new".into()
            })
        );
        assert_eq!(
            parse(r#"{"type":"kick","clientId":"bob","minutes":5}"#),
            Ok(ClientFrame::Kick {
                client_id: "bob".into(),
                minutes: 5
            })
        );
    }

    #[test]
    fn a_receipt_is_read_before_the_rules_and_carries_only_a_mark() {
        let mark = mark_frame(0x00ab_cdef_0123_4567);
        assert_eq!(mark, r#"{"type":"mark","mark":"00abcdef01234567"}"#);
        let echo = r#"{"type":"seen","mark":"00abcdef01234567"}"#;
        assert_eq!(receipt(echo), Some(Some(0x00ab_cdef_0123_4567)));
        for unreadable in [
            r#"{"type":"seen","frames":18446744073709551615}"#,
            r#"{"type":"seen","mark":"abc"}"#,
            r#"{"type":"seen","mark":"+0abcdef01234567"}"#,
            r#"{"type":"seen","mark":"zzzzzzzzzzzzzzzz"}"#,
        ] {
            assert_eq!(receipt(unreadable), Some(None), "{unreadable}");
        }
        assert_eq!(receipt(r#"{"type":"message","message":"seen"}"#), None);
        assert_eq!(receipt("seen"), None);
        assert_eq!(
            parse(r#"{ "type": "seen", "frames": 7 }"#),
            Ok(ClientFrame::Seen)
        );
    }

    #[test]
    fn a_kick_needs_a_valid_client_id_and_a_sane_duration() {
        for frame in [
            r#"{"type":"kick","clientId":"b b","minutes":5}"#,
            r#"{"type":"kick","clientId":"bob","minutes":0}"#,
            r#"{"type":"kick","clientId":"bob","minutes":10081}"#,
            r#"{"type":"kick","clientId":"bob","minutes":-1}"#,
            r#"{"type":"kick","clientId":"bob"}"#,
            r#"{"type":"edit","id":"m1-a"}"#,
        ] {
            assert!(matches!(parse(frame), Err(Refusal::BadFrame(_))), "{frame}");
        }
    }

    #[test]
    fn change_frames_carry_the_original_fields_id_and_seq() {
        let line = ChangeLine {
            line: Line::new("alice", "", 1_700_000_000_000),
            id: "m3-1".into(),
            seq: 9,
            edited_ts: None,
            mentions: Vec::new(),
        };
        assert_eq!(
            value(&ServerFrame::Delete(line.clone())),
            json!({"type":"delete","time":"22:13","clientId":"alice","message":"",
                   "ts":1_700_000_000_000u64,"id":"m3-1","seq":9})
        );
        let edit = ChangeLine {
            edited_ts: Some(1_700_000_000_000),
            mentions: Vec::new(),
            ..line
        };
        assert_eq!(
            value(&ServerFrame::Edit(edit))["editedTs"],
            1_700_000_000_000u64
        );
    }

    #[test]
    fn clock_time_is_utc_hours_and_minutes() {
        assert_eq!(clock_time(0), "00:00");
        assert_eq!(clock_time(59_999), "00:00");
        assert_eq!(clock_time(60_000), "00:01");
        assert_eq!(clock_time(86_399_999), "23:59");
        assert_eq!(clock_time(86_400_000), "00:00");
    }
}
