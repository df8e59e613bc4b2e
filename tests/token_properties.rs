//! Property tests of token verification: a token signed with the secret
//! verifies to exactly its claims, and no token with any byte changed
//! (header, payload, signature or a dot; to any other byte) verifies.
//! Case counts are bounded so the suite stays in the normal test run.

#![cfg(not(target_arch = "wasm32"))]

use edge_chat::access::auth::{sign, verify, Claims, Role, Secret};
use proptest::prelude::*;

const NOW: u64 = 1_700_000_000;

fn claims() -> impl Strategy<Value = Claims> {
    (
        "[A-Za-z0-9_-]{1,64}",
        proptest::option::of("[A-Za-z][A-Za-z ]{0,30}[A-Za-z]"),
        prop_oneof![
            Just(vec!["*".to_owned()]),
            proptest::collection::vec("[a-z0-9_-]{1,64}", 0..4),
        ],
        prop_oneof![
            Just(Role::Member),
            Just(Role::Moderator),
            Just(Role::Service)
        ],
        NOW..NOW + 10_000_000,
        proptest::option::of(0..NOW),
    )
        .prop_map(|(sub, name, rooms, role, exp, nbf)| Claims {
            sub,
            name,
            rooms,
            role,
            exp,
            nbf,
        })
}

fn secret() -> impl Strategy<Value = Secret> {
    "[ -~]{1,64}".prop_map(|s| Secret::new(&s).expect("non-empty"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_signed_token_verifies_to_exactly_its_claims(claims in claims(), secret in secret()) {
        prop_assert_eq!(verify(&sign(&claims, &secret), &secret, NOW), Ok(claims));
    }

    #[test]
    fn no_token_with_any_changed_byte_verifies(
        claims in claims(),
        secret in secret(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let token = sign(&claims, &secret);
        let mut bytes = token.clone().into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        // A byte that breaks UTF-8 still arrives as text (lossily decoded).
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(verify(&changed, &secret, NOW).is_err(), "byte {} of {}", i, token);
    }

    #[test]
    fn no_token_verifies_under_another_secret(
        claims in claims(),
        secret in secret(),
        other in secret(),
    ) {
        prop_assume!(secret != other);
        prop_assert!(verify(&sign(&claims, &secret), &other, NOW).is_err());
    }
}
