//! The wire protocol: what clients send, what the server sends back, and the
//! one function that turns an incoming text frame into a typed frame.
//!
//! Compatibility with the FastAPI originals drives the shape. Their React
//! client sends raw text and reads JSON `{time, clientId, message}`, so every
//! server frame carries those three fields, plus `type` and `ts`. New clients
//! may send JSON frames instead of raw text; a frame is read as JSON exactly
//! when its first non-blank character is `{`.

use serde::{Deserialize, Serialize};

use crate::error::Refusal;

/// The `clientId` on frames the server itself originates, such as errors.
pub const SERVER_ID: &str = "server";

/// The first frame the old React client sends on open. It announces the
/// client; it is not chat text.
pub const LEGACY_HELLO: &str = "Connect";

/// The `message` of a join frame, as the originals' clients display it.
pub const ONLINE: &str = "Online";

/// The `message` of a leave frame, as the originals broadcast it.
pub const OFFLINE: &str = "Offline";

/// A frame a client sent, after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// Chat text for everyone in the room.
    Chat { text: String },
}

/// The JSON form of client frames. Unknown fields are ignored so newer
/// clients can talk to an older server.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum JsonClientFrame {
    Message { message: String },
}

/// Reads one text frame. Raw text is chat, as the originals' clients send it;
/// text starting with `{` must be a JSON frame with a known `type`.
pub fn parse(text: &str) -> Result<ClientFrame, Refusal> {
    if !text.trim_start().starts_with('{') {
        return Ok(ClientFrame::Chat {
            text: text.to_owned(),
        });
    }
    match serde_json::from_str::<JsonClientFrame>(text) {
        Ok(JsonClientFrame::Message { message }) => Ok(ClientFrame::Chat { text: message }),
        Err(err) => Err(classify_json_error(text, &err)),
    }
}

/// Tells a malformed document apart from a well-formed one with the wrong
/// shape, so the client learns which of the two it got wrong.
fn classify_json_error(text: &str, err: &serde_json::Error) -> Refusal {
    match serde_json::from_str::<serde_json::Value>(text) {
        Err(_) => Refusal::MalformedJson,
        Ok(value) => match value.get("type").and_then(|t| t.as_str()) {
            None => Refusal::BadFrame("a JSON frame needs a string field \"type\"".into()),
            Some(kind) if !matches!(kind, "message") => Refusal::UnknownType(kind.to_owned()),
            Some(_) => Refusal::BadFrame(first_line(&err.to_string())),
        },
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// A frame the server sends. Each serialises to one JSON object that always
/// carries `type`, `time`, `clientId`, `message` and `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerFrame {
    /// Chat text from `clientId`, sent to everyone including its author.
    Message(Line),
    /// `clientId` came online; `message` is [`ONLINE`].
    Join(Line),
    /// `clientId` went offline; `message` is [`OFFLINE`].
    Leave(Line),
    /// The recipient's last frame was not accepted; the socket stays open.
    Error(ErrorLine),
}

/// The fields the originals' clients read, plus the epoch timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    /// `HH:MM` in UTC, the originals' format; new clients use `ts`.
    pub time: String,
    pub client_id: String,
    pub message: String,
    /// Milliseconds since the Unix epoch.
    pub ts: u64,
}

impl Line {
    pub fn new(client_id: &str, message: &str, ts: u64) -> Self {
        Line {
            time: clock_time(ts),
            client_id: client_id.to_owned(),
            message: message.to_owned(),
            ts,
        }
    }
}

/// An error frame: a stable machine-readable `code` and a readable `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorLine {
    pub code: &'static str,
    #[serde(flatten)]
    pub line: Line,
}

impl ServerFrame {
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with
        // non-string keys, no foreign Serialize impls.
        serde_json::to_string(self).unwrap_or_default()
    }
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
        ClientFrame::Chat { text: text.into() }
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
    fn wrong_field_type_is_a_bad_frame() {
        assert!(matches!(
            parse(r#"{"type":"message","message":7}"#),
            Err(Refusal::BadFrame(_))
        ));
    }

    #[test]
    fn message_frame_carries_the_original_fields() {
        let frame = ServerFrame::Message(Line::new("alice", "hi", 1_700_000_000_000));
        let v: Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"message","time":"22:13","clientId":"alice","message":"hi","ts":1_700_000_000_000u64})
        );
    }

    #[test]
    fn error_frame_carries_code_and_the_original_fields() {
        let frame = ServerFrame::Error(ErrorLine {
            code: "empty_message",
            line: Line::new(SERVER_ID, "nothing to send", 0),
        });
        let v: Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type":"error","code":"empty_message","time":"00:00","clientId":"server","message":"nothing to send","ts":0})
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
