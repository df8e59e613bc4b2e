//! Structured log lines: one JSON object per event, so `wrangler tail` and
//! log pipelines can filter by field. Lines carry room and client ids but
//! never message bodies, which are the users' business.

use serde::Serialize;

/// One log line. Build it with the chained setters; empty fields are left
/// out of the JSON.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine<'a> {
    pub level: &'a str,
    pub event: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub room: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub client_id: &'a str,
    /// An error frame's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    /// A WebSocket close code and its reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close: Option<(u16, &'a str)>,
    /// An HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Open sockets in the room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sockets: Option<usize>,
    /// What failed, for internal errors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
}

impl<'a> LogLine<'a> {
    pub fn info(event: &'a str) -> Self {
        LogLine::at("info", event)
    }

    pub fn warn(event: &'a str) -> Self {
        LogLine::at("warn", event)
    }

    pub fn error(event: &'a str) -> Self {
        LogLine::at("error", event)
    }

    fn at(level: &'a str, event: &'a str) -> Self {
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

    pub fn code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn close(mut self, code: u16, reason: &'a str) -> Self {
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

    pub fn to_json(&self) -> String {
        // Plain strings and numbers: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
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
}
