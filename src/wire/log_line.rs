//! Structured log lines: one JSON object per event, so `wrangler tail` and
//! log pipelines can filter by field. Lines carry room and client ids but
//! never message bodies, which are the users' business, and never a URL or
//! a token: logs travel further than the room (`wrangler tail`, log
//! pipelines), and a webhook URL or a token in one is a key handed on.
//!
//! So a failure is told by its event, a fixed `detail` and, for a runtime
//! error, its `kind` (a variant name), never the runtime's message, which
//! may quote a URL. The fixed fields take only `&'static str`. What may
//! still carry text from elsewhere (a detail, the ids) is checked as the
//! line is written, and whatever looks like a URL or a token is withheld.

use serde::{Serialize, Serializer};

/// What a URL, a token or a key in a log line is replaced with.
pub const WITHHELD: &str = "[withheld]";

/// One log line. Build it with the chained setters; empty fields are left
/// out of the JSON.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine<'a> {
    pub level: &'static str,
    pub event: &'static str,
    #[serde(skip_serializing_if = "str::is_empty", serialize_with = "id")]
    pub room: &'a str,
    #[serde(skip_serializing_if = "str::is_empty", serialize_with = "id")]
    pub client_id: &'a str,
    /// An error frame's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// A WebSocket close code and its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<(u16, &'static str)>,
    /// An HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Open sockets in the room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets: Option<usize>,
    /// What failed or why, in words; written through [`withheld`].
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "detail")]
    pub detail: Option<&'a str>,
    /// What kind of runtime error it was: a name, never its message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
}

impl<'a> LogLine<'a> {
    pub fn info(event: &'static str) -> Self {
        LogLine::at("info", event)
    }

    pub fn warn(event: &'static str) -> Self {
        LogLine::at("warn", event)
    }

    pub fn error(event: &'static str) -> Self {
        LogLine::at("error", event)
    }

    fn at(level: &'static str, event: &'static str) -> Self {
        LogLine {
            level,
            event,
            ..LogLine::default()
        }
    }

    pub fn room(mut self, room: &'a str) -> Self {
        self.room = room;
        self
    }

    pub fn client(mut self, client_id: &'a str) -> Self {
        self.client_id = client_id;
        self
    }

    pub fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn close(mut self, code: u16, reason: &'static str) -> Self {
        self.close = Some((code, reason));
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn sockets(mut self, sockets: usize) -> Self {
        self.sockets = Some(sockets);
        self
    }

    pub fn detail(mut self, detail: &'a str) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn kind(mut self, kind: &'static str) -> Self {
        self.kind = Some(kind);
        self
    }

    pub fn to_json(&self) -> String {
        // Plain strings and numbers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `detail` with each space-separated word that looks like a URL or a
/// token replaced by [`WITHHELD`]: one with `://`, one with a run of
/// base64url starting `eyJ` (a JSON object, as every JWT's header and
/// payload), or one with a run of 32 or more base64url characters (a
/// signature, a secret, a hex digest). Fixed descriptions have none.
pub fn withheld(detail: &str) -> String {
    let words = detail.split(' ').map(|word| match looks_secret(word, 32) {
        true => WITHHELD,
        false => word,
    });
    words.collect::<Vec<_>>().join(" ")
}

/// Whether `text` has a URL, a JWT part, or a base64url run of `long` or
/// more characters.
fn looks_secret(text: &str, long: usize) -> bool {
    let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.contains("://")
        || text
            .split(|c| !base64url(c))
            .any(|run| run.starts_with("eyJ") || run.len() >= long)
}

fn detail<S: Serializer>(detail: &Option<&str>, s: S) -> Result<S::Ok, S::Error> {
    match detail {
        Some(d) => s.serialize_some(&withheld(d)),
        None => s.serialize_none(),
    }
}

/// A room or client id, withheld whole if it looks like a URL or a token.
/// A valid id (at most 64 of `[A-Za-z0-9_-]`) never has `://`, and only
/// the echo of a refused one can; a long run is no sign here, since a
/// valid id may be 64 characters.
fn id<S: Serializer>(id: &&str, s: S) -> Result<S::Ok, S::Error> {
    match looks_secret(id, usize::MAX) {
        true => s.serialize_str(WITHHELD),
        false => s.serialize_str(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_line_is_one_json_object_with_the_ids() {
        let line = LogLine::warn("refused")
            .room("lobby")
            .client("alice")
            .code("rate_limited");
        let v: Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["event"], "refused");
        assert_eq!(v["room"], "lobby");
        assert_eq!(v["clientId"], "alice");
        assert_eq!(v["code"], "rate_limited");
        assert!(!line.to_json().contains('\n'));
    }

    #[test]
    fn empty_fields_are_left_out() {
        let v: Value = serde_json::from_str(&LogLine::info("x").to_json()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
    }

    #[test]
    fn a_close_is_code_and_reason() {
        let v: Value =
            serde_json::from_str(&LogLine::warn("closed").close(1008, "too fast").to_json())
                .unwrap();
        assert_eq!(v["close"], serde_json::json!([1008, "too fast"]));
    }

    /// Text a runtime error or a careless caller might put in a detail.
    const LEAKY: [&str; 6] = [
        "fetch to https://hooks.slack.example/T000/B000/XXXXSECRET failed",
        "connect to http://10.0.0.7:9/hook?key=abc refused",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl refused",
        "payload eyJzdWIiOiJhbGljZSJ9 was bad",
        "signature 3q2-7wEAAQ_3q2-7wEAAQ3q2-7wEAAQ3q2-7wE mismatch",
        "whsec=0123456789abcdef0123456789abcdef",
    ];

    #[test]
    fn a_detail_never_carries_a_url_or_a_token() {
        for leaky in LEAKY {
            let json = LogLine::error("x").detail(leaky).to_json();
            for sign in [
                "http://",
                "https://",
                "eyJ",
                "SECRET",
                "3q2-7wEAAQ",
                "0123456789abcdef",
            ] {
                assert!(!json.contains(sign), "{json}");
            }
            assert!(json.contains(WITHHELD), "{json}");
        }
    }

    #[test]
    fn a_fixed_detail_is_written_as_it_is() {
        for fixed in [
            "socket_budget",
            "3 oldest events dropped: outbox full",
            "status 500",
            "a SQLite call failed",
            "HISTORY_LIMIT = \"lots\" is not a whole number from 1 to 10000; the default is used",
            "AUTH_MODE = \"open\" and the secret AUTH_SECRET are both set",
        ] {
            let v: Value =
                serde_json::from_str(&LogLine::warn("x").detail(fixed).to_json()).unwrap();
            assert_eq!(v["detail"], fixed);
        }
    }

    #[test]
    fn a_setting_problem_is_logged_without_a_url_and_still_says_which() {
        use crate::settings::config::problems;
        let listed = [
            ("AUTH_MODE", "open"),
            ("ALLOWED_ORIGINS", "a.example, https://h.example/k"),
        ];
        let logged: Vec<String> = problems(|k| {
            listed
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .iter()
        .map(|why| LogLine::warn("setting_ignored").detail(why).to_json())
        .collect();
        assert_eq!(logged.len(), 2, "{logged:?}");
        assert!(
            logged[0].contains("entry \\\"a.example\\\" (number 1)"),
            "{logged:?}"
        );
        assert!(
            logged[1].contains("entry [withheld] (number 2)"),
            "{logged:?}"
        );
        assert!(!logged[1].contains("://"), "{logged:?}");
    }

    #[test]
    fn ids_that_look_like_a_url_or_a_token_are_withheld_and_valid_ids_kept() {
        let line = LogLine::warn("handshake_refused")
            .room("https:")
            .client("https://evil.example/x");
        let v: Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(
            (&v["room"], &v["clientId"]),
            (&"https:".into(), &WITHHELD.into())
        );
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0";
        let v: Value = serde_json::from_str(&LogLine::warn("x").client(jwt).to_json()).unwrap();
        assert_eq!(v["clientId"], WITHHELD);
        let longest = "a".repeat(64);
        for valid in ["alice", "heyJude", "guest-123", longest.as_str()] {
            let v: Value =
                serde_json::from_str(&LogLine::warn("x").client(valid).to_json()).unwrap();
            assert_eq!(v["clientId"], valid);
        }
    }

    #[test]
    fn a_runtime_error_is_told_by_its_kind() {
        let v: Value =
            serde_json::from_str(&LogLine::error("room_unreachable").kind("JsError").to_json())
                .unwrap();
        assert_eq!((&v["kind"], v.get("detail")), (&"JsError".into(), None));
    }
}
