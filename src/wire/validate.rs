//! Validation of the identifiers a client chooses: what is accepted and the
//! readable reason given when it is not.
//!
//! Both the Worker (before it touches a Durable Object, which is billed and
//! single-threaded) and the room object (the trust boundary) call these.

use crate::settings::limits::{
    MAX_CLIENT_ID_LEN, MAX_CLIENT_MSG_ID_LEN, MAX_DISPLAY_NAME_CHARS, MAX_ROOM_NAME_LEN,
};
use crate::wire::protocol::RESERVED_IDS;

/// Why an identifier was refused, worded for the person who chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client id is 1 to [`MAX_CLIENT_ID_LEN`] characters of `[A-Za-z0-9_-]`:
/// safe in a URL path, in HTML and in logs without escaping. None of the
/// room's own ([`RESERVED_IDS`]) is one.
pub fn client_id(raw: &str) -> Result<&str, Invalid> {
    let id = identifier("client id", raw, MAX_CLIENT_ID_LEN)?;
    if is_reserved(id) {
        return Err(Invalid(format!(
            "client id {id:?} is reserved: the room speaks as it in its own frames"
        )));
    }
    Ok(id)
}

/// Whether `id` is one the room speaks as, in any ASCII case.
pub fn is_reserved(id: &str) -> bool {
    RESERVED_IDS.iter().any(|r| r.eq_ignore_ascii_case(id))
}

/// A message id a client attaches for dedupe: the same charset and length
/// as a client id.
pub fn client_msg_id(raw: &str) -> Result<&str, Invalid> {
    identifier("clientMsgId", raw, MAX_CLIENT_MSG_ID_LEN)
}

/// A room name is 1 to [`MAX_ROOM_NAME_LEN`] characters of `[a-z0-9_-]`.
/// Lower case only, so `/r/Team` and `/r/team` cannot be two rooms that
/// people mistake for one.
pub fn room_name(raw: &str) -> Result<&str, Invalid> {
    let name = identifier("room name", raw, MAX_ROOM_NAME_LEN)?;
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(Invalid(
            "room name has upper-case letters; room names are lower case".into(),
        ));
    }
    Ok(name)
}

/// A display name is free text of 1 to [`MAX_DISPLAY_NAME_CHARS`] characters
/// after trimming, without control or invisible formatting characters that
/// could disguise who is speaking. Pages render it as text, so markup is
/// harmless and allowed.
pub fn display_name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Invalid("display name is empty".into()));
    }
    let chars = name.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(Invalid(format!(
            "display name is {chars} characters long; the limit is {MAX_DISPLAY_NAME_CHARS}"
        )));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_control() || is_invisible_format(*c))
    {
        return Err(Invalid(format!(
            "display name contains the invisible character U+{:04X}",
            bad as u32
        )));
    }
    Ok(name.to_owned())
}

/// Bidirectional overrides and zero-width characters: they let one name
/// pose as another.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn identifier<'a>(what: &str, raw: &'a str, max: usize) -> Result<&'a str, Invalid> {
    if raw.is_empty() {
        return Err(Invalid(format!("{what} is empty")));
    }
    if raw.len() > max {
        return Err(Invalid(format!(
            "{what} is {} characters long; the limit is {max}",
            raw.chars().count()
        )));
    }
    if let Some(bad) = raw
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(Invalid(format!(
            "{what} contains {bad:?}; only letters A-Z and a-z, digits, '_' and '-' are allowed"
        )));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_letters_digits_underscore_and_dash() {
        assert_eq!(client_id("Alice_01-x"), Ok("Alice_01-x"));
        assert_eq!(client_id("1700000000000"), Ok("1700000000000"));
    }

    #[test]
    fn accepts_exactly_the_maximum_length() {
        let id = "a".repeat(MAX_CLIENT_ID_LEN);
        assert!(client_id(&id).is_ok());
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(client_id("").unwrap_err().0, "client id is empty");
    }

    #[test]
    fn rejects_one_over_the_maximum_length() {
        let id = "a".repeat(MAX_CLIENT_ID_LEN + 1);
        assert!(client_id(&id).unwrap_err().0.contains("limit is 64"));
    }

    #[test]
    fn rejects_characters_outside_the_charset() {
        for bad in ["a b", "a/b", "a.b", "é", "<script>", "a%20"] {
            assert!(client_id(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn the_rooms_own_ids_are_reserved_in_any_case_and_nothing_else_is() {
        for reserved in ["server", "Server", "SERVER", "api", "API", "Api"] {
            let why = client_id(reserved).unwrap_err().0;
            assert!(why.contains("is reserved"), "{reserved}: {why}");
        }
        for free in [
            "servers",
            "server1",
            "my-server",
            "apis",
            "api_bot",
            "guest-1",
        ] {
            assert_eq!(client_id(free), Ok(free));
        }
        // Message ids and rooms are not who anyone is.
        assert!(client_msg_id("server").is_ok() && room_name("server").is_ok());
    }

    #[test]
    fn room_names_are_lower_case_identifiers() {
        assert_eq!(room_name("team-7_x"), Ok("team-7_x"));
        assert!(room_name("Team").unwrap_err().0.contains("lower case"));
        assert!(room_name("").is_err());
        assert!(room_name(&"r".repeat(MAX_ROOM_NAME_LEN + 1)).is_err());
        assert!(room_name("a b").is_err());
    }

    #[test]
    fn display_names_are_trimmed_free_text() {
        assert_eq!(display_name("  Zoë <b>  "), Ok("Zoë <b>".to_owned()));
        assert!(display_name("   ").is_err());
        assert!(display_name(&"n".repeat(33)).is_err());
        assert!(display_name(&"é".repeat(32)).is_ok());
    }

    #[test]
    fn display_names_refuse_control_and_bidi_characters() {
        assert!(display_name("a\nb").is_err());
        assert!(display_name("admin\u{202E}nimda").is_err());
        assert!(display_name("zero\u{200B}width").is_err());
    }

    #[test]
    fn multibyte_ids_are_refused_by_charset_not_by_a_panic() {
        let id = "ü".repeat(40);
        assert!(client_id(&id).is_err());
    }
}
