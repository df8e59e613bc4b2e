//! What the room remembers about one socket, as stored in the socket's
//! hibernation attachment.
//!
//! This is a storage format, not just a struct: the runtime keeps the
//! attachment while the room sleeps and hands it back to whatever build of
//! the room wakes up. A deploy that renamed a key would make every sleeping
//! socket unreadable, and the room would close each one with 1011 on its next
//! frame. The keys are pinned by a test that decodes a fixed string.

use serde::{Deserialize, Serialize};

use crate::access::auth::Role;
use crate::wire::protocol::Line;

/// The runtime's limit on one socket's serialised attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 2048;

/// One socket's saved state. Keys are one letter because attachments are
/// limited to [`MAX_ATTACHMENT_BYTES`] and copied on every wake-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "c")]
    pub client_id: String,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the socket has sent a frame yet; only a first frame may be the
    /// old client's `"Connect"` greeting.
    #[serde(rename = "s", default)]
    pub spoke: bool,
    /// The client asked for `batch` frames.
    #[serde(rename = "b", default)]
    pub batch: bool,
    /// When this socket's last typing notice was forwarded.
    #[serde(rename = "t", default)]
    pub last_typing: u64,
    /// The room's name, for log lines (an object does not know its name).
    #[serde(rename = "r", default)]
    pub room: String,
    /// Random key of this connection's in-memory state (its rate bucket).
    #[serde(rename = "k", default)]
    pub conn: u64,
    /// When the socket connected, in epoch milliseconds.
    #[serde(rename = "j", default)]
    pub joined_at: u64,
    /// The token's `exp`, in epoch seconds: the alarm closes the socket
    /// then. Absent in open mode and in attachments from before tokens.
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// The token's role; absent means member, as in open mode and in
    /// attachments from before tokens.
    #[serde(rename = "p", default, skip_serializing_if = "Role::is_member")]
    pub role: Role,
    /// The socket's last frame as the room last saved it, in epoch
    /// milliseconds (0: none since joining). Saved at most every quarter
    /// idle timeout (see [`crate::room::note_activity`]), so the idle sweep
    /// of a room woken from hibernation knows who was active before it
    /// slept.
    #[serde(rename = "a", default, skip_serializing_if = "is_zero")]
    pub active_at: u64,
    /// The client proves it reads (`?receipts=1`): it is sent marks and
    /// held to them (see [`crate::send::flow`]).
    #[serde(rename = "v", default, skip_serializing_if = "is_false")]
    pub proves: bool,
    /// Where the socket connected from, as the per-address cap counts it
    /// ([`crate::access::address::key`]). Empty in attachments from before
    /// the cap: such a socket counts for no address.
    #[serde(rename = "i", default, skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// The relay object holding the socket (see [`crate::send::relay`]);
    /// absent for a socket on the room's own object.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Who is connecting, as the handshake established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joining<'a> {
    pub client_id: &'a str,
    pub name: Option<&'a str>,
    pub room: &'a str,
    pub batch: bool,
    /// The client asked to prove its reading with receipts.
    pub receipts: bool,
}

impl Session {
    /// A fresh socket's session: nothing said yet, no typing notice sent.
    pub fn new(who: Joining<'_>, conn: u64, joined_at: u64) -> Self {
        Session {
            client_id: who.client_id.to_owned(),
            name: who.name.map(str::to_owned),
            spoke: false,
            batch: who.batch,
            last_typing: 0,
            room: who.room.to_owned(),
            conn,
            joined_at,
            active_at: 0,
            proves: who.receipts,
            expires: None,
            role: Role::Member,
            address: String::new(),
            relay: None,
        }
    }

    /// When the socket's token expires, in epoch milliseconds.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.expires.map(|secs| secs.saturating_mul(1000))
    }

    /// The session of a socket whose attachment could not be read: it is
    /// only used to close that socket and log it.
    pub fn unreadable() -> Self {
        Session::new(
            Joining {
                client_id: "",
                name: None,
                room: "",
                batch: false,
                receipts: false,
            },
            0,
            0,
        )
    }

    /// A plain socket of `client_id` in the default room, as tests need.
    pub fn of(client_id: &str, name: Option<&str>) -> Self {
        Session::new(
            Joining {
                client_id,
                name,
                room: crate::settings::limits::DEFAULT_ROOM,
                batch: false,
                receipts: false,
            },
            0,
            0,
        )
    }

    /// A frame from this socket's client, stamped `now`.
    pub fn line(&self, message: &str, now: u64) -> Line {
        Line::new(&self.client_id, message, now).named(self.name.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::limits::{MAX_CLIENT_ID_LEN, MAX_DISPLAY_NAME_CHARS, MAX_ROOM_NAME_LEN};

    /// An attachment as a build of the room wrote it. Changing this string
    /// means every sleeping socket breaks on the next deploy.
    const STORED: &str = r#"{"c":"alice","n":"Alice","s":true,"b":true,"t":1700000000500,"r":"lobby","k":42,"j":1700000000000,"e":1700003600,"p":"moderator"}"#;

    /// An attachment as this build writes it for a socket whose address is
    /// known. Changing this string breaks every sleeping socket too.
    const STORED_WITH_ADDRESS: &str = r#"{"c":"alice","n":"Alice","s":true,"b":true,"t":1700000000500,"r":"lobby","k":42,"j":1700000000000,"e":1700003600,"p":"moderator","i":"2001:db8:1:2::/64"}"#;

    /// An attachment written before tokens existed (no `e`, no `p`).
    const STORED_BEFORE_TOKENS: &str = r#"{"c":"alice","n":"Alice","s":true,"b":true,"t":1700000000500,"r":"lobby","k":42,"j":1700000000000}"#;

    fn alice() -> Session {
        let mut s = Session::new(
            Joining {
                client_id: "alice",
                name: Some("Alice"),
                room: "lobby",
                batch: true,
                receipts: false,
            },
            42,
            1_700_000_000_000,
        );
        s.spoke = true;
        s.last_typing = 1_700_000_000_500;
        s.expires = Some(1_700_003_600);
        s.role = Role::Moderator;
        s
    }

    #[test]
    fn a_stored_attachment_decodes_to_the_same_session() {
        let decoded: Session = serde_json::from_str(STORED).unwrap();
        assert_eq!(decoded, alice());
        assert_eq!(serde_json::to_string(&alice()).unwrap(), STORED);
    }

    #[test]
    fn the_address_is_kept_and_an_attachment_from_before_it_counts_for_none() {
        let with_address = Session {
            address: "2001:db8:1:2::/64".into(),
            ..alice()
        };
        let decoded: Session = serde_json::from_str(STORED_WITH_ADDRESS).unwrap();
        assert_eq!(decoded, with_address);
        assert_eq!(
            serde_json::to_string(&with_address).unwrap(),
            STORED_WITH_ADDRESS
        );
        let before: Session = serde_json::from_str(STORED).unwrap();
        assert_eq!(before.address, "", "no address: counted for none");
    }

    #[test]
    fn an_attachment_from_before_tokens_is_an_open_mode_member() {
        let decoded: Session = serde_json::from_str(STORED_BEFORE_TOKENS).unwrap();
        let open_alice = Session {
            expires: None,
            role: Role::Member,
            ..alice()
        };
        assert_eq!(decoded, open_alice);
        assert_eq!(
            serde_json::to_string(&open_alice).unwrap(),
            STORED_BEFORE_TOKENS,
            "an open-mode session is written exactly as before"
        );
        assert_eq!(decoded.deadline_ms(), None);
        assert_eq!(alice().deadline_ms(), Some(1_700_003_600_000));
    }

    #[test]
    fn an_attachment_from_before_a_field_existed_still_decodes() {
        let decoded: Session = serde_json::from_str(r#"{"c":"bob"}"#).unwrap();
        assert_eq!(decoded.client_id, "bob");
        assert!(!decoded.spoke && !decoded.batch && decoded.name.is_none());
    }

    #[test]
    fn the_largest_session_fits_the_attachment_limit_with_room_to_spare() {
        // Four bytes per character is the worst case of UTF-8; ids and room
        // names are ASCII, display names may be anything printable.
        let mut s = Session::new(
            Joining {
                client_id: &"i".repeat(MAX_CLIENT_ID_LEN),
                name: Some(&"𝄞".repeat(MAX_DISPLAY_NAME_CHARS)),
                room: &"r".repeat(MAX_ROOM_NAME_LEN),
                batch: true,
                receipts: false,
            },
            u64::MAX,
            u64::MAX,
        );
        s.spoke = true;
        s.last_typing = u64::MAX;
        s.expires = Some(u64::MAX);
        s.role = Role::Moderator;
        s.address = "f".repeat(crate::access::address::MAX_KEY_LEN);
        let bytes = serde_json::to_string(&s).unwrap().len();
        assert!(
            bytes * 2 <= MAX_ATTACHMENT_BYTES,
            "{bytes} bytes leave too little of {MAX_ATTACHMENT_BYTES} for new fields"
        );
    }
}
