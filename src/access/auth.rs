//! Signed identity: the HS256 JSON Web Tokens an operator's login issues,
//! and the one function that decides whether a token is good.
//!
//! Only HS256 is accepted, whatever the token's header asks for (`none`
//! included): a verifier that lets the token pick its algorithm can be
//! talked into checking nothing. The header is read before the signature
//! only to refuse other algorithms; the claims are read only after the
//! signature verified, so no unauthenticated JSON reaches the claim rules.
//! The signature is compared in constant time (`Mac::verify_slice`).
//!
//! Reasons for a refusal are fixed sentences: nothing from the token, not
//! even a decoded claim, is ever put in an answer or a log line.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::access::base64url;
use crate::settings::limits::{MAX_TOKEN_BYTES, TOKEN_CLOCK_SKEW_SECS};
use crate::wire::validate;

type HmacSha256 = Hmac<Sha256>;

/// The only header this verifier writes, and the only `alg` it reads.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const ALG: &str = "HS256";

/// The `rooms` entry that grants every room.
pub const ANY_ROOM: &str = "*";

/// The signing key, `AUTH_SECRET`. Its `Debug` never shows the bytes, so no
/// log line or panic message can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// `None` for an empty value: an empty key would sign for anyone, so it
    /// means "no secret", that is, open mode.
    pub fn new(value: &str) -> Option<Secret> {
        (!value.is_empty()).then(|| Secret(value.as_bytes().to_vec()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Chats, edits and deletes its own messages.
    #[default]
    Member,
    /// Also deletes anyone's messages and removes members from the room.
    Moderator,
    /// A backend calling the HTTP API (a later issue); on a socket it is a
    /// member.
    Service,
}

impl Role {
    pub fn is_member(&self) -> bool {
        *self == Role::Member
    }

    /// Whether this role may delete others' messages and kick.
    pub fn moderates(&self) -> bool {
        *self == Role::Moderator
    }
}

/// A verified token's claims, each already validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// The client id, with the same charset as a path id.
    pub sub: String,
    /// The display name, with the same rules as `?name=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Room names, or [`ANY_ROOM`].
    pub rooms: Vec<String>,
    #[serde(skip_serializing_if = "Role::is_member")]
    pub role: Role,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
    /// Not valid before, in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
}

impl Claims {
    /// Whether the token admits its holder to `room`.
    pub fn allows_room(&self, room: &str) -> bool {
        self.rooms.iter().any(|r| r == room || r == ANY_ROOM)
    }
}

/// Why a token was refused. The reasons are fixed text with no token
/// content in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Bad encoding, wrong algorithm, bad signature, or a missing or invalid
    /// claim.
    Bad(&'static str),
    /// Past `exp`, beyond the allowed clock skew.
    Expired,
}

use TokenError::Bad;

/// The header fields this verifier reads; the rest are ignored.
#[derive(Deserialize)]
struct Header {
    /// Optional here, so a header without one (`{"typ":"JWT"}`) is refused
    /// for its algorithm like any other, not as malformed JSON.
    alg: Option<String>,
    /// Extensions the token says must be understood; this verifier knows
    /// none, so RFC 7515 §4.1.11 requires refusing the token.
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Claims as they arrive: every field optional so a missing one gets its
/// own reason instead of a generic parse error.
#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    name: Option<String>,
    rooms: Option<Vec<String>>,
    role: Option<Role>,
    exp: Option<u64>,
    nbf: Option<u64>,
}

/// Checks `token` against `secret` at `now` (seconds since the epoch) and
/// returns its validated claims.
pub fn verify(token: &str, secret: &Secret, now: u64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Bad("the token is longer than any this server issues"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Bad(
            "the token is not a compact JWT (header.payload.signature)",
        ));
    };
    let header: Header = json_part(header)?;
    if header.alg.as_deref() != Some(ALG) || header.crit.is_some() {
        return Err(Bad("the token must be signed with HS256"));
    }
    let signature = base64url::decode(signature).ok_or(Bad("the token is not base64url"))?;
    let signed = token.len() - signature_len(token);
    mac(secret, &token.as_bytes()[..signed])
        .and_then(|mac| mac.verify_slice(&signature).ok())
        .ok_or(Bad("the token's signature does not verify"))?;
    let claims = validate_claims(json_part(payload)?)?;
    if now > claims.exp.saturating_add(TOKEN_CLOCK_SKEW_SECS) {
        return Err(TokenError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| now.saturating_add(TOKEN_CLOCK_SKEW_SECS) < nbf)
    {
        return Err(Bad("the token is not valid yet (nbf)"));
    }
    Ok(claims)
}

/// Signs `claims` into a compact token: for the minting command, for an
/// operator's tooling, and for tests.
pub fn sign(claims: &Claims, secret: &Secret) -> String {
    // Plain strings and numbers: serialising cannot fail.
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signed = format!(
        "{}.{}",
        base64url::encode(HEADER.as_bytes()),
        base64url::encode(&payload)
    );
    let signature = mac(secret, signed.as_bytes())
        .map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default();
    format!("{signed}.{}", base64url::encode(&signature))
}

/// Length of the signature part and its dot, so the signed text is sliced
/// from the token itself and never re-assembled.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

/// The HMAC of `signed` under `secret`, ready to finalise or verify.
/// `None` cannot happen (HMAC takes keys of any length), but the type says
/// it may, and a verifier must not panic on its way to saying no.
fn mac(secret: &Secret, signed: &[u8]) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&secret.0).ok()?;
    mac.update(signed);
    Some(mac)
}

fn json_part<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, TokenError> {
    let bytes = base64url::decode(part).ok_or(Bad("the token is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| Bad("the token's JSON is malformed or mistyped"))
}

fn validate_claims(raw: RawClaims) -> Result<Claims, TokenError> {
    let sub = raw.sub.ok_or(Bad("the token has no \"sub\" claim"))?;
    if validate::is_reserved(&sub) {
        return Err(Bad(
            "the token's \"sub\" is an id the room reserves for itself",
        ));
    }
    validate::client_id(&sub).map_err(|_| Bad("the token's \"sub\" is not a valid client id"))?;
    let name = match raw.name {
        Some(name) => Some(
            validate::display_name(&name)
                .map_err(|_| Bad("the token's \"name\" is not a valid display name"))?,
        ),
        None => None,
    };
    let rooms = raw.rooms.ok_or(Bad("the token has no \"rooms\" claim"))?;
    if !rooms
        .iter()
        .all(|r| r == ANY_ROOM || validate::room_name(r).is_ok())
    {
        return Err(Bad("the token's \"rooms\" has an invalid room name"));
    }
    Ok(Claims {
        sub,
        name,
        rooms,
        role: raw.role.unwrap_or_default(),
        exp: raw.exp.ok_or(Bad("the token has no \"exp\" claim"))?,
        nbf: raw.nbf,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::error::Denial;

    const NOW: u64 = 1_700_000_000;

    fn secret() -> Secret {
        Secret::new("test-secret-of-a-decent-length-0123456789").unwrap()
    }

    fn claims() -> Claims {
        Claims {
            sub: "alice".into(),
            name: Some("Alice".into()),
            rooms: vec!["lobby".into(), "team".into()],
            role: Role::Moderator,
            exp: NOW + 3600,
            nbf: None,
        }
    }

    /// A token with any header and payload JSON, signed with `secret()`.
    fn forge(header: &str, payload: &str) -> String {
        let signed = format!(
            "{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(payload.as_bytes())
        );
        let sig = mac(&secret(), signed.as_bytes())
            .unwrap()
            .finalize()
            .into_bytes();
        format!("{signed}.{}", base64url::encode(&sig))
    }

    fn bad(token: &str) -> &'static str {
        match verify(token, &secret(), NOW) {
            Err(Bad(why)) => why,
            other => panic!("expected a bad token, got {other:?}"),
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims() {
        let token = sign(&claims(), &secret());
        assert_eq!(verify(&token, &secret(), NOW), Ok(claims()));
    }

    #[test]
    fn matches_a_token_signed_elsewhere() {
        // Signed by Python's hmac/hashlib (see the README) with key "k".
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
            eyJzdWIiOiJib2IiLCJyb29tcyI6WyIqIl0sImV4cCI6NDEwMjQ0NDgwMH0.\
            McINpKd7DfSWhp9qq-WjOUtM6TIen2e70b1gK06Zum0";
        let claims = verify(token, &Secret::new("k").unwrap(), NOW).unwrap();
        assert_eq!(claims.sub, "bob");
        assert!(claims.allows_room("anything"));
        assert_eq!(claims.role, Role::Member);
    }

    #[test]
    fn another_secret_does_not_verify() {
        let token = sign(&claims(), &Secret::new("other").unwrap());
        assert!(bad(&token).contains("signature"));
    }

    #[test]
    fn changing_any_byte_of_a_token_breaks_it() {
        let token = sign(&claims(), &secret());
        for i in 0..token.len() {
            for replacement in [b'A', b'B', b'-', b'.', b'_', b'0', b'x'] {
                let mut bytes = token.clone().into_bytes();
                if bytes[i] == replacement {
                    continue;
                }
                bytes[i] = replacement;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(verify(&changed, &secret(), NOW).is_err(), "byte {i}");
            }
        }
    }

    /// The one reason every algorithm but HS256 gets.
    const WRONG_ALG: &str = "the token must be signed with HS256";

    /// A token with any header and payload JSON and these signature bytes.
    fn with_signature(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            base64url::encode(header.as_bytes()),
            base64url::encode(payload.as_bytes()),
            base64url::encode(signature)
        )
    }

    #[test]
    fn every_algorithm_but_hs256_is_refused_for_its_algorithm_even_with_a_valid_mac() {
        let payload = r#"{"sub":"alice","rooms":["*"],"exp":1800000000}"#;
        // The control: with HS256 this very payload and MAC verify, so each
        // refusal below is the header's alone.
        assert!(verify(
            &forge(r#"{"alg":"HS256","typ":"JWT"}"#, payload),
            &secret(),
            NOW
        )
        .is_ok());
        for header in [
            r#"{"alg":"none","typ":"JWT"}"#,
            // Key confusion: an RS256 header over an HMAC made with the secret.
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"hs256"}"#,
            r#"{"alg":null}"#,
            // No alg at all: valid JSON, refused for the algorithm.
            r#"{}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            let token = forge(header, payload);
            assert_eq!(
                verify(&token, &secret(), NOW),
                Err(Bad(WRONG_ALG)),
                "{header}"
            );
        }
        // Refused before the signature is read: an RS256 token with a
        // 2048-bit signature, and alg none with none.
        let rs256 = with_signature(r#"{"alg":"RS256","typ":"JWT"}"#, payload, &[7; 256]);
        assert_eq!(bad(&rs256), WRONG_ALG);
        let unsigned = with_signature(r#"{"alg":"none"}"#, payload, b"");
        assert_eq!(bad(&unsigned), WRONG_ALG);
    }

    #[test]
    fn a_critical_extension_is_refused() {
        let payload = r#"{"sub":"a","rooms":["*"],"exp":1800000000}"#;
        let header = r#"{"alg":"HS256","crit":["x"],"x":1}"#;
        assert_eq!(bad(&forge(header, payload)), WRONG_ALG);
    }

    #[test]
    fn each_missing_or_invalid_claim_is_named() {
        let header = r#"{"alg":"HS256"}"#;
        let cases = [
            (r#"{"rooms":["*"],"exp":1800000000}"#, "\"sub\""),
            (r#"{"sub":"a","exp":1800000000}"#, "\"rooms\""),
            (r#"{"sub":"a","rooms":["*"]}"#, "\"exp\""),
            (r#"{"sub":"a b","rooms":["*"],"exp":1800000000}"#, "\"sub\""),
            (
                r#"{"sub":"Server","rooms":["*"],"exp":1800000000}"#,
                "reserves",
            ),
            (
                r#"{"sub":"api","rooms":["*"],"exp":1800000000}"#,
                "reserves",
            ),
            (
                r#"{"sub":"a","name":"a\u202eb","rooms":["*"],"exp":1800000000}"#,
                "\"name\"",
            ),
            (
                r#"{"sub":"a","rooms":["Lobby"],"exp":1800000000}"#,
                "\"rooms\"",
            ),
            (
                r#"{"sub":"a","rooms":["*"],"exp":1800000000,"role":"admin"}"#,
                "JSON",
            ),
            (r#"{"sub":"a","rooms":["*"],"exp":"soon"}"#, "JSON"),
        ];
        for (payload, named) in cases {
            let why = bad(&forge(header, payload));
            assert!(why.contains(named), "{payload}: {why}");
        }
    }

    #[test]
    fn expiry_allows_sixty_seconds_of_skew_and_no_more() {
        let token = |exp| sign(&Claims { exp, ..claims() }, &secret());
        assert!(verify(&token(NOW - 60), &secret(), NOW).is_ok());
        assert_eq!(
            verify(&token(NOW - 61), &secret(), NOW),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn not_before_allows_sixty_seconds_of_skew_and_no_more() {
        let token = |nbf| {
            sign(
                &Claims {
                    nbf: Some(nbf),
                    ..claims()
                },
                &secret(),
            )
        };
        assert!(verify(&token(NOW + 60), &secret(), NOW).is_ok());
        assert!(bad(&token(NOW + 61)).contains("nbf"));
    }

    /// What a refused token leaves behind: its reason, the answer a client
    /// gets, and the `Debug` a log or panic would show. None of it may hold
    /// the token, a part of it, or anything decoded from it (`MARK`).
    fn left_behind(token: &str) -> Vec<String> {
        let why = bad(token);
        let denial = Denial::BadToken(why);
        vec![
            why.to_owned(),
            denial.message(),
            denial.refusal().body(),
            format!("{:?}", verify(token, &secret(), NOW)),
        ]
    }

    #[test]
    fn a_refusal_never_echoes_the_token_or_anything_decoded_from_it() {
        const MARK: &str = "Zq7mark";
        let header = r#"{"alg":"HS256"}"#;
        // Signed with the secret, so each is decoded and its claims read
        // before they are refused: the path where claim text is in hand.
        let signed = [
            format!(r#"{{"sub":"a {MARK}","rooms":["*"],"exp":1800000000}}"#),
            format!(r#"{{"sub":"a","name":"{MARK}\u202e","rooms":["*"],"exp":1800000000}}"#),
            format!(r#"{{"sub":"a","rooms":["{MARK}!"],"exp":1800000000}}"#),
            format!(r#"{{"sub":"a","rooms":["*"],"exp":1800000000,"role":"{MARK}"}}"#),
            format!(r#"{{"sub":"a","rooms":["*"],"exp":"{MARK}"}}"#),
            format!(r#"{{"sub":"a","rooms":["*"],"exp":1800000000,"nbf":"{MARK}"}}"#),
        ]
        .map(|payload| forge(header, &payload));
        let unsigned = [
            format!("{MARK}.{MARK}.{MARK}"),
            format!("{MARK}-{MARK}"),
            format!("{MARK}.{MARK}.{MARK}.{MARK}"),
            format!("!!{MARK}.??.**"),
            forge(&format!(r#"{{"alg":"{MARK}"}}"#), "{}"),
            MARK.repeat(MAX_TOKEN_BYTES / MARK.len() + 1),
        ];
        for token in signed.iter().chain(&unsigned) {
            for text in left_behind(token) {
                assert!(!text.contains(MARK), "{text}");
                for part in token.split('.').filter(|p| p.len() >= 8) {
                    assert!(!text.contains(part), "{text}");
                }
            }
        }
    }

    #[test]
    fn the_any_room_entry_admits_every_room_and_a_list_only_its_own() {
        assert!(claims().allows_room("team"));
        assert!(!claims().allows_room("other"));
        let any = Claims {
            rooms: vec![ANY_ROOM.into()],
            ..claims()
        };
        assert!(any.allows_room("other"));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert_eq!(format!("{:?}", secret()), "Secret(..)");
        assert_eq!(Secret::new(""), None);
    }

    #[test]
    fn only_a_moderator_moderates() {
        assert!(Role::Moderator.moderates());
        assert!(!Role::Member.moderates());
        assert!(!Role::Service.moderates());
    }
}
