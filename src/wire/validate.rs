//! Validation of the identifiers a client chooses: what is accepted and the
//! readable reason given when it is not.
//!
//! Both the Worker (before it touches a Durable Object, which is billed and
//! single-threaded) and the room object (the trust boundary) call these.

use crate::settings::limits::{
    MAX_CLIENT_ID_LEN, MAX_CLIENT_MSG_ID_LEN, MAX_DISPLAY_NAME_CHARS, MAX_REACTION_BYTES,
    MAX_REACTION_NAME_LEN, MAX_ROOM_NAME_LEN,
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

/// A reaction is one emoji, or a short `:name:` of `[a-z0-9_+-]` (a
/// custom emoji a page may draw its own way). One emoji is one sequence:
/// a single base character, with what may follow it (variation
/// selectors, skin tones, a keycap, tag characters), or several bases
/// joined by zero-width joiners, or a flag (two regional indicators). The
/// ranges are the emoji blocks, checked without Unicode's tables, which
/// would cost the `.wasm` more than the rest of this file.
pub fn reaction(raw: &str) -> Result<&str, Invalid> {
    let bad = |why: &str| Err(Invalid(format!("reaction {why}")));
    if let Some(name) = raw.strip_prefix(':').and_then(|r| r.strip_suffix(':')) {
        let ok = (1..=MAX_REACTION_NAME_LEN).contains(&name.len())
            && name
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'+' | b'-'));
        return if ok {
            Ok(raw)
        } else {
            bad("names are :name: with 1 to 32 of a-z 0-9 _ + -")
        };
    }
    if raw.is_empty() || raw.len() > MAX_REACTION_BYTES {
        return bad("must be one emoji or a :name:");
    }
    match emoji_bases(raw) {
        Some(1) => Ok(raw),
        Some(0) | None => bad("must be one emoji or a :name:"),
        Some(_) => bad("must be one emoji, not several"),
    }
}

/// How many emoji `text` is, or `None` if it holds anything else.
fn emoji_bases(text: &str) -> Option<usize> {
    let (mut bases, mut joined, mut flag_half) = (0, false, false);
    for (i, c) in text.chars().enumerate() {
        let code = c as u32;
        match code {
            0x200D => joined = true,
            // Variation selectors, keycap, skin tones, tags: part of the
            // emoji before them.
            0xFE0E | 0xFE0F | 0x20E3 | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F if i == 0 => {
                return None
            }
            0xFE0E | 0xFE0F | 0x20E3 | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F => {}
            // Regional indicators: two make one flag.
            0x1F1E6..=0x1F1FF => {
                if !flag_half {
                    bases += usize::from(!joined);
                }
                flag_half = !flag_half;
                joined = false;
            }
            _ if is_emoji_base(code) || (i == 0 && is_keycap_base(text)) => {
                bases += usize::from(!joined);
                (joined, flag_half) = (false, false);
            }
            _ => return None,
        }
    }
    Some(bases)
}

fn is_emoji_base(code: u32) -> bool {
    matches!(code,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF | 0x2100..=0x214F | 0x25A0..=0x25FF | 0x2934 | 0x2935
        | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0xA9 | 0xAE | 0x203C | 0x2049)
}

/// `1️⃣`: a digit, `#` or `*`, then the keycap (with or without a
/// variation selector between).
fn is_keycap_base(text: &str) -> bool {
    let mut chars = text.chars();
    let first = chars
        .next()
        .is_some_and(|c| matches!(c, '0'..='9' | '#' | '*'));
    let rest: String = chars.collect();
    first && (rest == "\u{20E3}" || rest == "\u{FE0F}\u{20E3}")
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
    fn a_reaction_is_one_emoji_or_a_short_name() {
        for ok in [
            "👍",
            "❤️",
            "👍🏽",
            "🇫🇷",
            "1️⃣",
            "#⃣",
            "👨‍👩‍👧‍👦",
            "👩🏽‍💻",
            "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
            ":party:",
            ":+1:",
            "✅",
            "©",
        ] {
            assert_eq!(reaction(ok), Ok(ok), "{ok}");
        }
        for (bad, why) in [
            ("", "one emoji"),
            ("a", "one emoji"),
            ("👍👍", "not several"),
            ("🇫🇷🇩🇪", "not several"),
            ("👍 ", "one emoji"),
            ("<b>", "one emoji"),
            (":Party:", ":name:"),
            ("::", ":name:"),
            ("🏽", "one emoji"),
            ("1", "one emoji"),
        ] {
            let refused = reaction(bad).unwrap_err().0;
            assert!(refused.contains(why), "{bad:?}: {refused}");
        }
        assert!(reaction(&format!(":{}:", "a".repeat(33))).is_err());
        assert!(reaction(&"👍".repeat(13)).is_err(), "over the byte limit");
    }

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
