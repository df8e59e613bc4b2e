//! `AUTH_MODE` and the `AUTH_SECRET` secret: whether the operator chose
//! token mode or open mode, or why the chat lets no one in.
//!
//! Open mode lets anyone connect, post, edit and delete as anyone, so it is
//! only ever chosen, never fallen into: with no secret and no
//! `AUTH_MODE = "open"` every socket and API call is refused (503) until the
//! operator says which they want. So is a secret short enough to guess, a
//! mode this code does not know, and a choice of open mode while a secret
//! is set (one of the two is a mistake, and guessing which would either
//! open every room or ignore a deliberate choice).

use crate::settings::limits::MIN_AUTH_SECRET_BYTES;

/// The setting that chooses the mode: `"token"` or `"open"`.
pub const AUTH_MODE: &str = "AUTH_MODE";

/// The secret tokens are signed with (`wrangler secret put AUTH_SECRET`).
pub const AUTH_SECRET: &str = "AUTH_SECRET";

/// The mode the operator chose.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Choice<'a> {
    /// `AUTH_MODE = "open"`, no secret: ids are whatever clients say.
    Open,
    /// Tokens signed with this secret, long enough to use.
    Token(&'a str),
}

/// Never shows the secret, so no log line or panic message can carry it.
impl std::fmt::Debug for Choice<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Choice::Open => "Open",
            Choice::Token(_) => "Token(..)",
        })
    }
}

/// Why the settings let no one in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No secret, and `AUTH_MODE` unset or `"token"`.
    NotConfigured,
    /// A secret shorter than [`MIN_AUTH_SECRET_BYTES`].
    SecretTooShort,
    /// `AUTH_MODE` is neither `"token"` nor `"open"`.
    InvalidMode,
    /// `AUTH_MODE = "open"` while a secret is set.
    OpenWithSecret,
}

impl Problem {
    /// What the operator must change, in one sentence with no setting's
    /// value in it: it goes to logs and to every refused client.
    pub fn describe(self) -> &'static str {
        match self {
            Problem::NotConfigured => {
                "neither the secret AUTH_SECRET nor AUTH_MODE = \"open\" is set: set \
                 AUTH_SECRET (32 or more random bytes) to require sign-in tokens, or \
                 AUTH_MODE = \"open\" to let anyone in as anyone"
            }
            Problem::SecretTooShort => {
                "AUTH_SECRET is shorter than 32 bytes, short enough to guess: set one of \
                 32 or more random bytes (openssl rand -base64 32)"
            }
            Problem::InvalidMode => {
                "AUTH_MODE is neither \"token\" nor \"open\": set one of the two, or \
                 remove it to require tokens signed with AUTH_SECRET"
            }
            Problem::OpenWithSecret => {
                "AUTH_MODE = \"open\" and the secret AUTH_SECRET are both set, so it is \
                 unclear whether sign-in is wanted: delete the secret to run open, or \
                 remove AUTH_MODE to require tokens"
            }
        }
    }
}

/// The mode `AUTH_MODE` and `AUTH_SECRET` choose, as the runtime gives
/// them; an empty value counts as unset (`--var AUTH_SECRET:` clears one).
pub fn choice<'a>(mode: Option<&str>, secret: Option<&'a str>) -> Result<Choice<'a>, Problem> {
    let mode = mode.map(str::trim).filter(|m| !m.is_empty());
    let secret = secret.filter(|s| !s.is_empty());
    match (mode, secret) {
        (Some("open"), None) => Ok(Choice::Open),
        (Some("open"), Some(_)) => Err(Problem::OpenWithSecret),
        (None | Some("token"), Some(secret)) => long_enough(secret).map(Choice::Token),
        (None | Some("token"), None) => Err(Problem::NotConfigured),
        (Some(_), _) => Err(Problem::InvalidMode),
    }
}

/// `secret`, if it may sign tokens: the Worker and the minting command
/// both refuse a shorter one.
pub fn long_enough(secret: &str) -> Result<&str, Problem> {
    match secret.len() {
        0 => Err(Problem::NotConfigured),
        n if n < MIN_AUTH_SECRET_BYTES => Err(Problem::SecretTooShort),
        _ => Ok(secret),
    }
}

/// Why the settings `var` gives let no one in, if they do.
pub fn problem(var: &impl Fn(&str) -> Option<String>) -> Option<Problem> {
    choice(var(AUTH_MODE).as_deref(), var(AUTH_SECRET).as_deref()).err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::config::vars;

    const LONG: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn open_mode_is_only_what_auth_mode_open_chooses() {
        assert_eq!(choice(Some("open"), None), Ok(Choice::Open));
        assert_eq!(choice(Some(" open "), Some("")), Ok(Choice::Open));
        for not_chosen in [None, Some(""), Some("token")] {
            for no_secret in [None, Some("")] {
                assert_eq!(
                    choice(not_chosen, no_secret),
                    Err(Problem::NotConfigured),
                    "{not_chosen:?} {no_secret:?}"
                );
            }
        }
    }

    #[test]
    fn a_secret_of_32_bytes_or_more_is_token_mode_by_default_or_when_chosen() {
        assert_eq!(LONG.len(), MIN_AUTH_SECRET_BYTES);
        for mode in [None, Some(""), Some("token"), Some(" token")] {
            assert_eq!(
                choice(mode, Some(LONG)),
                Ok(Choice::Token(LONG)),
                "{mode:?}"
            );
        }
    }

    #[test]
    fn a_secret_under_32_bytes_is_refused_even_if_token_mode_is_chosen() {
        let short = &LONG[1..];
        for mode in [None, Some("token")] {
            assert_eq!(choice(mode, Some(short)), Err(Problem::SecretTooShort));
            assert_eq!(choice(mode, Some("s")), Err(Problem::SecretTooShort));
        }
        // Bytes, not characters: 11 three-byte characters are 33 bytes.
        assert!(choice(None, Some(&"€".repeat(11))).is_ok());
        assert_eq!(long_enough(""), Err(Problem::NotConfigured));
    }

    #[test]
    fn open_mode_with_a_secret_set_is_refused_as_contradictory() {
        assert_eq!(
            choice(Some("open"), Some(LONG)),
            Err(Problem::OpenWithSecret)
        );
        assert_eq!(
            choice(Some("open"), Some("s")),
            Err(Problem::OpenWithSecret)
        );
    }

    #[test]
    fn an_unknown_mode_is_refused_whatever_the_secret() {
        for mode in ["Open", "TOKEN", "none", "off", "opne", "open,token"] {
            for secret in [None, Some(LONG)] {
                assert_eq!(
                    choice(Some(mode), secret),
                    Err(Problem::InvalidMode),
                    "{mode:?}"
                );
            }
        }
    }

    #[test]
    fn problem_reads_both_settings_and_says_nothing_of_a_chosen_mode() {
        assert_eq!(problem(&vars(&[])), Some(Problem::NotConfigured));
        assert_eq!(problem(&vars(&[(AUTH_MODE, "open")])), None);
        assert_eq!(problem(&vars(&[(AUTH_SECRET, LONG)])), None);
        assert_eq!(
            problem(&vars(&[(AUTH_SECRET, "short")])),
            Some(Problem::SecretTooShort)
        );
    }

    #[test]
    fn each_problem_names_what_to_set_and_never_a_value() {
        for p in [
            Problem::NotConfigured,
            Problem::SecretTooShort,
            Problem::InvalidMode,
            Problem::OpenWithSecret,
        ] {
            let said = p.describe();
            assert!(said.contains("AUTH_"), "{said}");
            assert!(!said.contains(LONG), "{said}");
        }
        let min = MIN_AUTH_SECRET_BYTES.to_string();
        assert!(Problem::NotConfigured.describe().contains(&min));
        assert!(Problem::SecretTooShort.describe().contains(&min));
    }

    #[test]
    fn a_chosen_secret_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", choice(None, Some(LONG))), "Ok(Token(..))");
    }
}
