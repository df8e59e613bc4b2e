//! Webhooks: every accepted message, delete, edit, join and leave, POSTed to
//! the operator's `WEBHOOK_URL` as signed JSON, at least once and in order
//! per room.
//!
//! The decisions live here, free of platform types: which frames become
//! events, the body and its signature (Stripe's scheme, so receivers can
//! reuse their verifiers), when a failed delivery is tried again and when
//! the room gives up, and how many events a full outbox drops. The room's
//! object keeps the outbox in its SQLite (`sql_history`) and drains it from
//! its alarm (`room_object/webhooks`).
//!
//! Delivery semantics:
//! - An event is written in the same storage commit as the message it is
//!   about, before any frame about it leaves; the outbox survives restarts,
//!   crashes and hibernation, and the alarm that drains it does too.
//! - One event is in flight per room; the next waits until the receiver
//!   answered 2xx (a redirect is a failed try, never followed), so a
//!   receiver sees a room's events in order. After a crash the events
//!   delivered since the room last deleted delivered rows (a few dozen at
//!   most) come again, in order: receivers dedupe by `id`.
//! - An edit or a delete redacts the waiting events about its message
//!   ([`supersede`]): deleted text never reaches a receiver later.
//! - Chat first: the outbox holds at most [`Settings::outbox_cap`] events,
//!   and a full one drops its oldest. Dropped events (and those given up on)
//!   are counted; each later event carries the room's total as `dropped`.

use hmac::{KeyInit, Mac};
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::room::{Audience, Delivery};
use crate::settings::config::{WEBHOOK_MAX_ATTEMPTS, WEBHOOK_OUTBOX_CAP, WEBHOOK_RETRY_BASE_MS};
use crate::settings::limits::{MAX_ATTEMPTS, MAX_RETRY_DELAY_MS, OUTBOX_CAP, RETRY_BASE_MS};
use crate::wire::protocol::ServerFrame;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-Edge-Chat-Signature";

/// The webhook settings: `WEBHOOK_URL` and the secret `WEBHOOK_SECRET`,
/// and the retry schedule's knobs.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    pub url: String,
    secret: String,
    pub retry_base_ms: u64,
    pub max_attempts: u32,
    pub outbox_cap: u64,
}

/// Never prints the secret.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("url", &self.url)
            .field("retry_base_ms", &self.retry_base_ms)
            .field("max_attempts", &self.max_attempts)
            .field("outbox_cap", &self.outbox_cap)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Reads the settings through `var`. `Ok(None)`: no `WEBHOOK_URL`, the
    /// feature is off. `Err`: a URL the room cannot use, or no secret to
    /// sign with; the feature stays off and the adapter logs why (unsigned
    /// events would teach receivers to trust anyone).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Settings>, String> {
        let Some(url) = var("WEBHOOK_URL").map(|u| u.trim().to_owned()) else {
            return Ok(None);
        };
        if url.is_empty() {
            return Ok(None);
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err("WEBHOOK_URL must be an http:// or https:// URL".into());
        }
        let secret = var("WEBHOOK_SECRET").unwrap_or_default();
        if secret.is_empty() {
            return Err("WEBHOOK_URL is set but WEBHOOK_SECRET is not".into());
        }
        Ok(Some(Settings {
            url,
            secret,
            retry_base_ms: WEBHOOK_RETRY_BASE_MS.read(&var, RETRY_BASE_MS),
            max_attempts: WEBHOOK_MAX_ATTEMPTS.read(&var, MAX_ATTEMPTS.into()) as u32,
            outbox_cap: WEBHOOK_OUTBOX_CAP.read(&var, OUTBOX_CAP),
        }))
    }

    /// The signature header's value for `body` sent at `t_secs`.
    pub fn sign(&self, t_secs: u64, body: &str) -> String {
        signature(&self.secret, t_secs, body)
    }

    /// When the room tries an event again after its `attempts`th try failed
    /// at `now`, or `None` to give up on it.
    pub fn retry_at(&self, attempts: u32, now: u64) -> Option<u64> {
        if attempts >= self.max_attempts {
            return None;
        }
        Some(now.saturating_add(retry_delay_ms(self.retry_base_ms, attempts)))
    }
}

/// The wait after the `attempts`th failed try: `base`, doubling, at most
/// [`MAX_RETRY_DELAY_MS`].
pub fn retry_delay_ms(base_ms: u64, attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(40);
    base_ms
        .saturating_mul(1u64 << doublings)
        .min(MAX_RETRY_DELAY_MS)
}

/// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t_secs: u64, body: &str) -> String {
    // HMAC takes a key of any length: this never fails.
    let Ok(mut mac) = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(t_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t_secs},v1={hex}")
}

/// One event waiting to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub room: String,
    pub seq: Option<u64>,
    pub kind: &'static str,
    /// The frame exactly as the room's sockets got it, unless redacted.
    pub frame: String,
    pub ts: u64,
    /// The id of the message a message, edit or delete event is about.
    pub about: Option<String>,
    /// Its message was edited or deleted before it was delivered, so its
    /// text was removed (see [`supersede`]).
    pub redacted: bool,
}

/// Whether an event of `kind` carries its message's text: the text a
/// later edit or delete of that message takes back.
pub fn carries_text(kind: &str) -> bool {
    kind == "message" || kind == "edit"
}

/// `frame` with its text removed, as a redacted event carries it: the
/// same bytes but for an empty `message`. The frames are the room's own
/// flat JSON, where `"message":"` can only be the key (inside a string
/// every quote is escaped), so this needs no JSON parser, which would cost
/// the .wasm 10 KB gzip. A frame whose text does not end would lose
/// everything rather than keep its text.
pub fn redact_frame(frame: &str) -> String {
    const KEY: &str = "\"message\":\"";
    let Some(at) = frame.find(KEY) else {
        return frame.to_owned();
    };
    let start = at + KEY.len();
    let mut escaped = false;
    for (i, c) in frame[start..].char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return format!("{}{}", &frame[..start], &frame[start + i..]),
            _ => {}
        }
    }
    "null".to_owned()
}

/// Redacts, within `events` (oldest first), every event that carries text
/// and is followed by an edit or a delete of its message, and returns the
/// ids of the messages `events` edit or delete: the events about them
/// already queued are the outbox's to redact ([`EventStore::queue`]).
///
/// Deleted text is removed from storage, and an edit may be someone taking
/// back what they said; an event still waiting must not deliver either
/// later. A receiver gets the redacted event, then the edit or delete.
///
/// [`EventStore::queue`]: crate::hooks::outbox::EventStore::queue
pub fn supersede(events: &mut [Event]) -> Vec<String> {
    // Changes are rare and a batch is short: a list beats a map.
    let mut changed: Vec<(String, usize)> = Vec::new();
    for (at, e) in events.iter().enumerate() {
        if let (Some(id), "edit" | "delete") = (&e.about, e.kind) {
            changed.retain(|(seen, _)| seen != id);
            changed.push((id.clone(), at));
        }
    }
    for (at, e) in events.iter_mut().enumerate() {
        let later = |(id, change): &(String, usize)| e.about.as_ref() == Some(id) && *change > at;
        if changed.iter().any(later) && carries_text(e.kind) {
            (e.frame, e.redacted) = (redact_frame(&e.frame), true);
        }
    }
    changed.into_iter().map(|(id, _)| id).collect()
}

/// The events among one room event's deliveries: a message, delete or edit
/// the room accepted, a client's first socket joining, its last leaving.
/// Frames for the sender alone (a second socket's `join`, acks, errors,
/// history) are not room events.
pub fn events(room: &str, deliveries: &[Delivery]) -> Vec<Event> {
    deliveries
        .iter()
        .filter(|d| d.to != Audience::Sender)
        .filter_map(|d| {
            let (kind, seq, ts, about) = match &d.frame {
                ServerFrame::Message(m) => ("message", Some(m.seq), m.line.ts, Some(&m.id)),
                ServerFrame::Delete(c) => ("delete", Some(c.seq), c.line.ts, Some(&c.id)),
                ServerFrame::Edit(c) => ("edit", Some(c.seq), c.line.ts, Some(&c.id)),
                ServerFrame::Reaction(r) => ("reaction", Some(r.seq), r.line.ts, Some(&r.id)),
                ServerFrame::Join(l) => ("join", None, l.ts, None),
                ServerFrame::Leave(l) => ("leave", None, l.ts, None),
                _ => return None,
            };
            Some(Event {
                room: room.to_owned(),
                seq,
                kind,
                frame: d.frame.to_json(),
                ts,
                about: about.cloned(),
                redacted: false,
            })
        })
        .collect()
}

/// An event as the outbox stores it: `id` is the row's, never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: u64,
    pub room: String,
    pub seq: Option<u64>,
    pub kind: String,
    pub frame: String,
    pub ts: u64,
    /// Tries so far.
    pub attempts: u32,
    /// The message it is about, as in [`Event::about`].
    pub about: Option<String>,
    /// Its text was removed, as in [`Event::redacted`].
    pub redacted: bool,
}

#[derive(Serialize)]
struct Body<'a> {
    id: String,
    room: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
    #[serde(rename = "type")]
    kind: &'a str,
    frame: &'a RawValue,
    ts: u64,
    #[serde(skip_serializing_if = "is_zero")]
    dropped: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    redacted: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Queued {
    /// The event id receivers dedupe by: the room and the outbox row, so it
    /// is unique across rooms and the same on every try.
    pub fn event_id(&self) -> String {
        format!("{}:{}", self.room, self.id)
    }

    /// Removes its text, if it carries any: its message changed since.
    pub fn redact(&mut self) {
        if carries_text(&self.kind) && !self.redacted {
            (self.frame, self.redacted) = (redact_frame(&self.frame), true);
        }
    }

    /// The JSON body; `dropped` is the room's count of events that will
    /// never be delivered, left out while it is 0, and `redacted` is left
    /// out unless true.
    pub fn body(&self, dropped: u64) -> String {
        let null = RawValue::NULL;
        let frame: &RawValue = serde_json::from_str(&self.frame).unwrap_or(null);
        let body = Body {
            id: self.event_id(),
            room: &self.room,
            seq: self.seq,
            kind: &self.kind,
            frame,
            ts: self.ts,
            dropped,
            redacted: self.redacted,
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}

/// How many of the oldest events to drop so that `count` queued events fit
/// in `cap`.
pub fn overflow(count: u64, cap: u64) -> u64 {
    count.saturating_sub(cap)
}

/// Whether a receiver's HTTP status means it took the event.
pub fn accepted(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Why a try answered with `status` failed, for the log. A redirect is a
/// failed try like any other answer but 2xx: the room never follows one,
/// as that would re-send a signed body to wherever the receiver points.
pub fn failed_status(status: u16) -> String {
    match status {
        300..=399 => format!("status {status}: redirects are not followed"),
        _ => format!("status {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::protocol::{ChangeLine, ChatLine, Line};

    use crate::settings::config::vars;

    fn on() -> Settings {
        Settings::from_vars(vars(&[
            ("WEBHOOK_URL", "https://hooks.example/chat"),
            ("WEBHOOK_SECRET", "whsec"),
        ]))
        .unwrap()
        .unwrap()
    }

    #[test]
    fn no_url_is_off_and_a_url_without_a_secret_is_refused() {
        assert_eq!(Settings::from_vars(|_| None), Ok(None));
        assert_eq!(Settings::from_vars(vars(&[("WEBHOOK_URL", " ")])), Ok(None));
        assert!(Settings::from_vars(vars(&[("WEBHOOK_URL", "https://x.example")])).is_err());
        let ftp = [("WEBHOOK_URL", "ftp://x"), ("WEBHOOK_SECRET", "s")];
        assert!(Settings::from_vars(vars(&ftp)).is_err());
    }

    #[test]
    fn defaults_apply_and_knobs_override_within_range() {
        let s = on();
        assert_eq!(
            (s.retry_base_ms, s.max_attempts, s.outbox_cap),
            (2_000, 12, 10_000)
        );
        let tuned = Settings::from_vars(vars(&[
            ("WEBHOOK_URL", "http://127.0.0.1:9/"),
            ("WEBHOOK_SECRET", "s"),
            ("WEBHOOK_RETRY_BASE_MS", "50"),
            ("WEBHOOK_MAX_ATTEMPTS", "0"),
            ("WEBHOOK_OUTBOX_CAP", "7"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(tuned.retry_base_ms, 50);
        assert_eq!(tuned.max_attempts, 12, "0 is out of range");
        assert_eq!(tuned.outbox_cap, 7);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", on()).contains("whsec"));
    }

    /// Our format over the standard primitive (RFC 4231, test case 2).
    #[test]
    fn the_signature_is_hex_hmac_sha256_of_t_dot_body() {
        let sig = signature("Jefe", 0, "what do ya want for nothing?");
        assert!(sig.starts_with("t=0,v1="));
        let direct = {
            let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
            mac.update(b"0.what do ya want for nothing?");
            let d = mac.finalize().into_bytes();
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(sig, format!("t=0,v1={direct}"));
        // The RFC vector itself, so the primitive is the standard one.
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let d = mac.finalize().into_bytes();
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Pinned against Python's `hmac` and Node's `crypto` (the README's
    /// verifiers), so the scheme cannot drift from what receivers compute.
    #[test]
    fn the_signature_matches_what_python_and_node_compute() {
        assert_eq!(
            signature("whsec_test", 1_700_000_000, r#"{"id":"lobby:1"}"#),
            "t=1700000000,v1=a0b0e05c71b2249d9d5f7593a44e824ded0a2600508a2901a08555f722e84725"
        );
    }

    #[test]
    fn a_different_body_time_or_secret_signs_differently() {
        let base = signature("s", 1, "{}");
        assert_ne!(base, signature("s", 1, "{ }"));
        assert_ne!(base, signature("s", 2, "{}"));
        assert_ne!(base, signature("t", 1, "{}"));
    }

    #[test]
    fn retries_double_from_the_base_up_to_the_cap_then_give_up() {
        let s = on();
        let waits: Vec<u64> = (1..s.max_attempts)
            .map(|n| s.retry_at(n, 0).unwrap())
            .collect();
        assert_eq!(
            waits,
            [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300].map(|s| s * 1000)
        );
        assert_eq!(s.retry_at(s.max_attempts, 0), None);
        assert_eq!(retry_delay_ms(u64::MAX, 99), MAX_RETRY_DELAY_MS);
    }

    fn delivery(to: Audience, frame: ServerFrame) -> Delivery {
        Delivery { to, frame }
    }

    #[test]
    fn room_events_are_messages_changes_joins_and_leaves_not_frames_for_one() {
        let line = Line::new("alice", "hi", 5);
        let chat = ServerFrame::Message(ChatLine {
            line: line.clone(),
            seq: 3,
            id: "m3".into(),
            client_msg_id: None,
            reply_to: None,
            mentions: Vec::new(),
        });
        let change = ChangeLine {
            line: line.clone(),
            id: "m3".into(),
            seq: 4,
            edited_ts: None,
            mentions: Vec::new(),
        };
        let found = events(
            "lobby",
            &[
                delivery(Audience::Everyone, chat.clone()),
                delivery(Audience::Everyone, ServerFrame::Edit(change.clone())),
                delivery(Audience::Everyone, ServerFrame::Delete(change)),
                delivery(Audience::Everyone, ServerFrame::Join(line.clone())),
                delivery(Audience::Sender, ServerFrame::Join(line.clone())),
                delivery(Audience::Others, ServerFrame::Leave(line.clone())),
                delivery(Audience::Others, ServerFrame::Typing(line)),
            ],
        );
        let kinds: Vec<_> = found.iter().map(|e| (e.kind, e.seq)).collect();
        assert_eq!(
            kinds,
            [
                ("message", Some(3)),
                ("edit", Some(4)),
                ("delete", Some(4)),
                ("join", None),
                ("leave", None)
            ]
        );
        assert_eq!(found[0].frame, chat.to_json());
        assert!(found.iter().all(|e| e.room == "lobby" && e.ts == 5));
    }

    #[test]
    fn a_reaction_is_an_event_about_its_message_and_a_message_carries_its_mentions() {
        let reaction = ServerFrame::Reaction(crate::wire::protocol::ReactionLine {
            line: Line::new("bob", "", 7),
            id: "m3".into(),
            seq: 9,
            emoji: "👍".into(),
            on: true,
            reactions: Vec::new(),
        });
        let found = events("lobby", &[delivery(Audience::Batching, reaction)]);
        assert_eq!((found[0].kind, found[0].seq), ("reaction", Some(9)));
        assert_eq!(found[0].about.as_deref(), Some("m3"));
        let mentioning = ServerFrame::Message(ChatLine {
            line: Line::new("alice", "@bob hi", 5),
            seq: 3,
            id: "m3".into(),
            client_msg_id: None,
            reply_to: None,
            mentions: vec!["bob".into()],
        });
        let found = events("lobby", &[delivery(Audience::Everyone, mentioning)]);
        assert!(
            found[0].frame.contains(r#""mentions":["bob"]"#),
            "{}",
            found[0].frame
        );
    }

    #[test]
    fn the_body_carries_id_room_seq_type_frame_ts_and_dropped_when_any() {
        let q = Queued {
            id: 9,
            room: "lobby".into(),
            seq: Some(3),
            kind: "message".into(),
            frame: r#"{"type":"message","seq":3}"#.into(),
            ts: 5,
            attempts: 0,
            about: Some("m3-a".into()),
            redacted: false,
        };
        let v: serde_json::Value = serde_json::from_str(&q.body(0)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": "lobby:9", "room": "lobby", "seq": 3,
                "type": "message", "frame": {"type": "message", "seq": 3}, "ts": 5})
        );
        let v: serde_json::Value = serde_json::from_str(&q.body(2)).unwrap();
        assert_eq!(v["dropped"], 2);
        let join = Queued {
            seq: None,
            kind: "join".into(),
            ..q
        };
        let v: serde_json::Value = serde_json::from_str(&join.body(0)).unwrap();
        assert!(v.get("seq").is_none(), "{v}");
    }

    /// A room event's frame: `kind` of message `about` with `text`.
    fn about(kind: &'static str, about: &str, text: &str) -> Event {
        let frame = serde_json::json!({"type": kind, "clientId": "alice", "message": text,
            "id": about, "seq": 1});
        Event {
            room: "lobby".into(),
            seq: Some(1),
            kind,
            frame: frame.to_string(),
            ts: 5,
            about: Some(about.into()),
            redacted: false,
        }
    }

    fn texts(events: &[Event]) -> Vec<(&str, String, bool)> {
        events
            .iter()
            .map(|e| {
                let frame: serde_json::Value = serde_json::from_str(&e.frame).unwrap();
                let text = frame["message"].as_str().unwrap().to_owned();
                (e.kind, text, e.redacted)
            })
            .collect()
    }

    #[test]
    fn an_edit_or_delete_redacts_the_text_of_earlier_events_about_its_message() {
        let mut events = vec![
            about("message", "m1", "secret"),
            about("message", "m2", "kept"),
            about("edit", "m1", "still secret"),
            about("edit", "m2", "kept, edited"),
            about("delete", "m1", ""),
        ];
        let changed = supersede(&mut events);
        assert_eq!(changed, ["m2", "m1"], "by their last change");
        assert_eq!(
            texts(&events),
            [
                ("message", String::new(), true),
                ("message", String::new(), true),
                ("edit", String::new(), true),
                ("edit", "kept, edited".into(), false),
                ("delete", String::new(), false),
            ]
        );
        assert!(!events.iter().any(|e| e.frame.contains("secret")));
        let frame: serde_json::Value = serde_json::from_str(&events[0].frame).unwrap();
        assert_eq!(
            (&frame["id"], &frame["clientId"]),
            (&serde_json::json!("m1"), &serde_json::json!("alice")),
            "only the text goes"
        );
    }

    #[test]
    fn a_redacted_event_says_so_and_a_join_has_no_text_to_redact() {
        let mut q = Queued {
            id: 1,
            room: "lobby".into(),
            seq: Some(1),
            kind: "message".into(),
            frame: about("message", "m1", "secret").frame,
            ts: 5,
            attempts: 0,
            about: Some("m1".into()),
            redacted: false,
        };
        q.redact();
        let v: serde_json::Value = serde_json::from_str(&q.body(0)).unwrap();
        assert_eq!(
            (&v["redacted"], &v["frame"]["message"]),
            (&true.into(), &"".into())
        );
        let mut join = Queued {
            kind: "join".into(),
            frame: r#"{"type":"join","message":"Online"}"#.into(),
            redacted: false,
            ..q
        };
        join.redact();
        assert!(!join.redacted && join.frame.contains("Online"));
    }

    #[test]
    fn redaction_empties_the_text_alone_however_it_is_escaped() {
        let text = r#"say "message":"x" \ \" ☃ \u0000"#;
        let line = Line::new("alice", text, 5).named(Some(r#"Eve "message":"fake""#));
        let frame = ServerFrame::Message(ChatLine {
            line,
            seq: 3,
            id: "m3-a".into(),
            client_msg_id: Some("c1".into()),
            reply_to: None,
            mentions: Vec::new(),
        })
        .to_json();
        let key_and_text = format!(r#""message":{}"#, serde_json::to_string(text).unwrap());
        assert!(frame.contains(&key_and_text), "{frame}");
        let same_but_the_text = frame.replacen(&key_and_text, r#""message":"""#, 1);
        assert_eq!(redact_frame(&frame), same_but_the_text);
        assert_eq!(redact_frame(r#"{"type":"join"}"#), r#"{"type":"join"}"#);
        assert_eq!(redact_frame(r#"{"message":"no end"#), "null");
    }

    #[test]
    fn only_2xx_counts_and_a_redirect_is_a_failed_try() {
        for status in [200, 201, 204, 299] {
            assert!(accepted(status), "{status}");
        }
        for status in [199, 301, 302, 307, 308, 400, 500] {
            assert!(!accepted(status), "{status}");
        }
        assert_eq!(failed_status(302), "status 302: redirects are not followed");
        assert_eq!(failed_status(500), "status 500");
    }

    #[test]
    fn a_full_outbox_drops_just_enough_of_the_oldest() {
        assert_eq!(overflow(10, 10), 0);
        assert_eq!(overflow(13, 10), 3);
        assert_eq!(overflow(0, 10), 0);
    }

    #[test]
    fn only_2xx_is_accepted() {
        assert!(accepted(200) && accepted(204));
        assert!(!accepted(301) && !accepted(500) && !accepted(199));
    }
}
