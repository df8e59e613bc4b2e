//! Tokens for tests of token mode, signed with the secret the runtime is
//! started with (`--var AUTH_SECRET:…`), by the same code the minting
//! command uses.

use std::time::{SystemTime, UNIX_EPOCH};

use edge_chat::access::auth::{sign, Claims, Role, Secret};

/// The runtime's `AUTH_SECRET` in token-mode test binaries.
pub const SECRET: &str = "edge-chat-test-secret-not-for-production-0123456789";

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A token for `sub` in `rooms` with `role`, expiring `ttl_secs` from now
/// (negative: already expired), signed with `secret`.
pub fn mint_with(secret: &str, sub: &str, rooms: &[&str], role: Role, ttl_secs: i64) -> String {
    let claims = Claims {
        sub: sub.to_owned(),
        name: None,
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        role,
        exp: now_secs().saturating_add_signed(ttl_secs),
        nbf: None,
    };
    sign(&claims, &Secret::new(secret).expect("a non-empty secret"))
}

/// An hour-long token for `sub` in `room`.
pub fn member(sub: &str, room: &str) -> String {
    mint_with(SECRET, sub, &[room], Role::Member, 3600)
}

/// An hour-long moderator's token for `sub` in `room`.
pub fn moderator(sub: &str, room: &str) -> String {
    mint_with(SECRET, sub, &[room], Role::Moderator, 3600)
}
