//! Where a request comes from, as the room counts callers: the address in
//! the `CF-Connecting-IP` header, reduced to what one subscriber controls.
//!
//! The platform sets that header on every request the Worker receives,
//! replacing any a client sent, and a Durable Object is reachable only
//! through the Worker, which forwards the header as it came; so in the
//! object it is the platform's word. (Locally, Miniflare keeps a header the
//! client sent and sets it only when there is none, which lets tests act
//! as several addresses.)

use std::net::IpAddr;

/// The key every request without a readable address shares: a missing or
/// garbled header must not be a way around a per-address limit.
pub const UNKNOWN: &str = "unknown";

/// The header that carries the caller's address.
pub const HEADER: &str = "CF-Connecting-IP";

/// The key for a `CF-Connecting-IP` value. An IPv4 address is itself; an
/// IPv6 address counts as its /64, the block a provider gives one line or
/// one host (counting single IPv6 addresses would let one machine take
/// 2^64 of them); an IPv4 address written as IPv6 (`::ffff:a.b.c.d`) is
/// that IPv4 address. Anything else is [`UNKNOWN`].
pub fn key(header: Option<&str>) -> String {
    match header.and_then(|h| h.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        None => UNKNOWN.to_owned(),
    }
}

/// The longest key [`key`] returns: an IPv6 /64 with four full groups.
pub const MAX_KEY_LEN: usize = "ffff:ffff:ffff:ffff::/64".len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_itself_and_ipv6_is_its_64() {
        assert_eq!(key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(key(Some(" 203.0.113.7 ")), "203.0.113.7");
        let one_host = ["2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"];
        for address in one_host {
            assert_eq!(key(Some(address)), "2001:db8:1:2::/64", "{address}");
        }
        assert_eq!(key(Some("2001:db8:1:3::1")), "2001:db8:1:3::/64");
        assert_eq!(key(Some("::ffff:198.51.100.4")), "198.51.100.4");
        assert_eq!(key(Some("::1")), "0:0:0:0::/64");
    }

    #[test]
    fn a_missing_or_garbled_address_is_one_shared_unknown() {
        for header in [None, Some(""), Some("localhost"), Some("1.2.3.4, 5.6.7.8")] {
            assert_eq!(key(header), UNKNOWN, "{header:?}");
        }
    }

    #[test]
    fn no_key_is_longer_than_the_longest() {
        let longest = key(Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert_eq!(longest.len(), MAX_KEY_LEN);
        assert!(key(Some("255.255.255.255")).len() <= MAX_KEY_LEN);
        assert!(UNKNOWN.len() <= MAX_KEY_LEN);
    }
}
