//! Mentions: the `@id`s in a message's text, which the room recognises and
//! carries as a `mentions` list, so a backend (through webhooks) can
//! notify people who are away and a page can highlight its own.
//!
//! An `@` starts a mention at the start of the text or after a character
//! that cannot be in an id (so `alice@example.com` mentions nobody), and
//! the mention is the longest run of id characters after it, when that is
//! a valid client id. A room cannot know every member who is away (in
//! token mode, members are whoever holds a token), so any valid id counts.
//! Each id once, in order, at most [`MAX_MENTIONS`].

use crate::settings::limits::MAX_MENTIONS;
use crate::wire::validate;

/// The client ids `text` mentions.
pub fn of(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let id_byte = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while i < bytes.len() && found.len() < MAX_MENTIONS {
        let starts =
            bytes[i] == b'@' && (i == 0 || !(id_byte(bytes[i - 1]) || bytes[i - 1] == b'@'));
        if !starts {
            i += 1;
            continue;
        }
        let end = (i + 1..bytes.len())
            .find(|&j| !id_byte(bytes[j]))
            .unwrap_or(bytes.len());
        // Ids are ASCII, so these are character boundaries.
        let id = &text[i + 1..end];
        if validate::client_id(id).is_ok() && !found.iter().any(|f| f == id) {
            found.push(id.to_owned());
        }
        i = end.max(i + 1);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_valid_ids_after_an_at_once_each_in_order() {
        assert_eq!(of("@bob and @alice-2, cc @bob!"), ["bob", "alice-2"]);
        assert_eq!(of("(@carol) said @@dave"), ["carol"]);
        assert!(of("mail alice@example.com").is_empty());
        assert!(of("@ nobody, @server is the room").is_empty());
        assert_eq!(
            of("héllo @zoë"),
            ["zo"],
            "ids are ASCII: the run stops at ë"
        );
        assert!(
            of(&format!("@{}", "a".repeat(65))).is_empty(),
            "too long to be an id"
        );
    }

    #[test]
    fn at_most_the_limit_are_kept() {
        let text: String = (0..30).map(|i| format!("@u{i} ")).collect();
        assert_eq!(of(&text).len(), MAX_MENTIONS);
    }
}
