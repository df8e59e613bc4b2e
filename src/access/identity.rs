//! Who is connecting: in open mode, whoever the request says; in token
//! mode, whoever a valid token names, and only into the rooms it grants;
//! and when the settings chose neither, no one.
//!
//! The mode is the operator's choice ([`crate::settings::auth_mode`]):
//! `AUTH_SECRET` set, every socket and API call needs a token; open only
//! with `AUTH_MODE = "open"`. The Worker calls [`identify`] before it
//! touches a Durable Object, and the object calls it again, because the
//! object is the trust boundary. A token is verified once per connection;
//! nothing here runs per message.

use crate::access::auth::{self, Role, Secret, TokenError};
use crate::settings::auth_mode::{self, Choice, Problem, AUTH_MODE, AUTH_SECRET};
use crate::wire::error::Denial;
use crate::wire::routes::SocketTarget;

/// Whether sockets need a token, or may not connect at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Chosen: ids and names are whatever the client says, as before.
    Open,
    /// Every socket presents a token signed with this secret.
    Token(Secret),
    /// The settings let no one in: every request is refused, saying why.
    Misconfigured(Problem),
}

impl Mode {
    /// The mode `AUTH_MODE` and `AUTH_SECRET` choose, read through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Mode {
        let secret = var(AUTH_SECRET);
        match auth_mode::choice(var(AUTH_MODE).as_deref(), secret.as_deref()) {
            Ok(Choice::Open) => Mode::Open,
            // The choice already refused an empty secret.
            Ok(Choice::Token(secret)) => {
                Secret::new(secret).map_or(Mode::Misconfigured(Problem::NotConfigured), Mode::Token)
            }
            Err(problem) => Mode::Misconfigured(problem),
        }
    }
}

/// The identity a socket joins with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `None` on the legacy `/ws` path in open mode: the Worker makes one up.
    pub client_id: Option<String>,
    pub name: Option<String>,
    pub role: Role,
    /// The token's `exp` (seconds since the epoch); `None` in open mode.
    pub expires: Option<u64>,
}

/// The token a request presents: `Authorization: Bearer <jwt>` (the scheme
/// in any case), else `?token=<jwt>`, which is what a browser can send on a
/// WebSocket. Another `Authorization` scheme is not a token.
pub fn presented<'a>(
    authorization: Option<&'a str>,
    query: &'a [(String, String)],
) -> Option<&'a str> {
    let bearer = authorization.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    bearer
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.as_str())
        })
        .filter(|t| !t.is_empty())
}

/// Decides who `target` is, or why it may not connect. `now` is in seconds
/// since the epoch.
pub fn identify(
    mode: &Mode,
    target: &SocketTarget,
    token: Option<&str>,
    now: u64,
) -> Result<Identity, Denial> {
    let secret = match mode {
        Mode::Open => return Ok(Identity::claimed(target)),
        Mode::Token(secret) => secret,
        Mode::Misconfigured(problem) => return Err(Denial::Misconfigured(*problem)),
    };
    let token = token.ok_or(Denial::MissingToken)?;
    let claims = auth::verify(token, secret, now).map_err(|err| match err {
        TokenError::Bad(why) => Denial::BadToken(why),
        TokenError::Expired => Denial::ExpiredToken,
    })?;
    // Who you are is checked before where you may go: an impersonation
    // attempt is named as one even in a room the token does not grant.
    if target
        .client_id
        .as_ref()
        .is_some_and(|id| *id != claims.sub)
    {
        return Err(Denial::IdMismatch);
    }
    if !claims.allows_room(&target.room) {
        return Err(Denial::RoomForbidden);
    }
    Ok(Identity {
        client_id: Some(claims.sub),
        // The token's name, never `?name=`: a name is part of who you are.
        name: claims.name,
        role: claims.role,
        expires: Some(claims.exp),
    })
}

impl Identity {
    /// Open mode: whoever the request says, as a member.
    fn claimed(target: &SocketTarget) -> Identity {
        Identity {
            client_id: target.client_id.clone(),
            name: target.name.clone(),
            role: Role::Member,
            expires: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::auth::Claims;

    const NOW: u64 = 1_700_000_000;

    fn secret() -> Secret {
        Secret::new("identity-test-secret").unwrap()
    }

    fn token_mode() -> Mode {
        Mode::Token(secret())
    }

    fn target(client_id: Option<&str>, room: &str) -> SocketTarget {
        SocketTarget {
            client_id: client_id.map(str::to_owned),
            room: room.into(),
            name: Some("From the query".into()),
            since: None,
            epoch: None,
            batch: false,
            receipts: false,
        }
    }

    fn token(sub: &str, rooms: &[&str], exp: u64) -> String {
        let claims = Claims {
            sub: sub.into(),
            name: Some("Alice".into()),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            role: Role::Moderator,
            exp,
            nbf: None,
        };
        auth::sign(&claims, &secret())
    }

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const LONG_SECRET: &str = "identity-test-secret-of-32-bytes";

    #[test]
    fn the_mode_is_what_the_settings_chose_and_never_open_by_default() {
        use crate::settings::config::vars;
        let mode = |pairs: &[(&str, &str)]| Mode::from_vars(vars(pairs));
        let not_configured = Mode::Misconfigured(Problem::NotConfigured);
        assert_eq!(mode(&[]), not_configured);
        assert_eq!(
            mode(&[("AUTH_SECRET", ""), ("AUTH_MODE", "")]),
            not_configured
        );
        assert_eq!(mode(&[("AUTH_MODE", "token")]), not_configured);
        assert_eq!(mode(&[("AUTH_MODE", "open")]), Mode::Open);
        let token = Mode::Token(Secret::new(LONG_SECRET).unwrap());
        assert_eq!(mode(&[("AUTH_SECRET", LONG_SECRET)]), token);
        assert_eq!(
            mode(&[("AUTH_SECRET", "s")]),
            Mode::Misconfigured(Problem::SecretTooShort)
        );
        assert_eq!(
            mode(&[("AUTH_SECRET", LONG_SECRET), ("AUTH_MODE", "open")]),
            Mode::Misconfigured(Problem::OpenWithSecret)
        );
        assert_eq!(
            mode(&[("AUTH_MODE", "public")]),
            Mode::Misconfigured(Problem::InvalidMode)
        );
    }

    #[test]
    fn settings_that_let_no_one_in_refuse_everyone_with_a_token_or_not() {
        let t = token("alice", &["*"], NOW + 60);
        for problem in [Problem::NotConfigured, Problem::SecretTooShort] {
            let mode = Mode::Misconfigured(problem);
            for presented in [None, Some(t.as_str())] {
                let who = identify(&mode, &target(Some("alice"), "lobby"), presented, NOW);
                assert_eq!(who, Err(Denial::Misconfigured(problem)));
            }
        }
    }

    #[test]
    fn open_mode_takes_the_request_at_its_word_and_ignores_tokens() {
        let who = identify(
            &Mode::Open,
            &target(Some("bob"), "lobby"),
            Some("junk"),
            NOW,
        )
        .unwrap();
        assert_eq!(who.client_id.as_deref(), Some("bob"));
        assert_eq!(who.name.as_deref(), Some("From the query"));
        assert_eq!((who.role, who.expires), (Role::Member, None));
    }

    #[test]
    fn a_valid_token_names_the_client_and_its_role_and_expiry() {
        let t = token("alice", &["lobby"], NOW + 60);
        let who = identify(
            &token_mode(),
            &target(Some("alice"), "lobby"),
            Some(&t),
            NOW,
        )
        .unwrap();
        assert_eq!(who.client_id.as_deref(), Some("alice"));
        assert_eq!(
            who.name.as_deref(),
            Some("Alice"),
            "the token's name, not ?name="
        );
        assert_eq!(who.role, Role::Moderator);
        assert_eq!(who.expires, Some(NOW + 60));
    }

    #[test]
    fn the_bare_ws_path_takes_the_tokens_sub() {
        let t = token("alice", &["*"], NOW + 60);
        let who = identify(&token_mode(), &target(None, "lobby"), Some(&t), NOW).unwrap();
        assert_eq!(who.client_id.as_deref(), Some("alice"));
    }

    #[test]
    fn each_denial_in_token_mode() {
        let mode = token_mode();
        let good = token("alice", &["lobby"], NOW + 60);
        let deny = |t: Option<&str>, id: Option<&str>, room: &str| {
            identify(&mode, &target(id, room), t, NOW).unwrap_err()
        };
        assert_eq!(deny(None, Some("alice"), "lobby"), Denial::MissingToken);
        assert!(matches!(
            deny(Some("x.y.z"), Some("alice"), "lobby"),
            Denial::BadToken(_)
        ));
        let old = token("alice", &["lobby"], NOW - 61);
        assert_eq!(
            deny(Some(&old), Some("alice"), "lobby"),
            Denial::ExpiredToken
        );
        assert_eq!(
            deny(Some(&good), Some("alice"), "team"),
            Denial::RoomForbidden
        );
        assert_eq!(deny(Some(&good), Some("bob"), "lobby"), Denial::IdMismatch);
        assert_eq!(deny(Some(&good), Some("bob"), "team"), Denial::IdMismatch);
    }

    #[test]
    fn a_bearer_header_wins_over_the_query_and_other_schemes_are_not_tokens() {
        let q = query(&[("room", "x"), ("token", "from-query")]);
        assert_eq!(
            presented(Some("Bearer from-header"), &q),
            Some("from-header")
        );
        assert_eq!(presented(Some("bearer  spaced "), &q), Some("spaced"));
        assert_eq!(presented(Some("Basic abc"), &q), Some("from-query"));
        assert_eq!(presented(None, &q), Some("from-query"));
        assert_eq!(presented(None, &query(&[("token", "")])), None);
        assert_eq!(presented(Some("Bearer "), &[]), None);
    }
}
