//! Validation of the identifiers a client chooses: what is accepted and the
//! readable reason given when it is not.
//!
//! Both the Worker (before it touches a Durable Object, which is billed and
//! single-threaded) and the room object (the trust boundary) call these.

use crate::limits::MAX_CLIENT_ID_LEN;

/// Why an identifier was refused, worded for the person who chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client id is 1 to [`MAX_CLIENT_ID_LEN`] characters of `[A-Za-z0-9_-]`:
/// safe in a URL path, in HTML and in logs without escaping.
pub fn client_id(raw: &str) -> Result<&str, Invalid> {
    identifier("client id", raw, MAX_CLIENT_ID_LEN)
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
    fn multibyte_ids_are_refused_by_charset_not_by_a_panic() {
        let id = "ü".repeat(40);
        assert!(client_id(&id).is_err());
    }
}
