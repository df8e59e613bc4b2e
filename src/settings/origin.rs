//! The origin rule: which web pages may open sockets here, which may call
//! the HTTP API from a browser (CORS), and which `ALLOWED_ORIGINS` entries
//! can match anything at all. One rule, read three ways, so a socket, a
//! CORS answer and the settings check never disagree about an origin.

/// What follows the scheme of an `http://` or `https://` origin: its host
/// and port. `None` for any other scheme, or none.
pub fn host(origin: &str) -> Option<&str> {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
}

/// CORS is answered for the Worker's own origin and `ALLOWED_ORIGINS`
/// only. Unlike sockets, localhost is not allowed by default: a page
/// served from some local port is not this chat.
pub fn cors_allowed(origin: &str, own_origin: &str, allowed: &[String]) -> bool {
    let origin = origin.trim_end_matches('/');
    origin.eq_ignore_ascii_case(own_origin) || allowed.iter().any(|a| a == origin)
}

/// The defence against cross-site WebSocket hijacking: a browser always
/// sends `Origin` on a WebSocket handshake, so a page on another site is
/// refused. A request without `Origin` does not come from a browser page
/// (curl, bots, the load generator), carries no victim's cookies, and is
/// allowed. What CORS allows is allowed, and so is localhost on any port
/// (development).
pub fn socket_allowed(origin: Option<&str>, own_origin: &str, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if cors_allowed(origin, own_origin, allowed) {
        return true;
    }
    let host = host(origin.trim_end_matches('/')).unwrap_or_default();
    let hostname = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(hostname, "localhost" | "127.0.0.1" | "[::1]")
}

/// Whether a configured `entry` can equal a browser's `Origin` header: a
/// scheme and a host (with a port, perhaps), lowercase as browsers send it,
/// no path.
pub fn can_match(entry: &str) -> bool {
    host(entry).is_some_and(|h| {
        !h.is_empty() && !h.contains('/') && !h.bytes().any(|b| b.is_ascii_uppercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://chat.example";

    #[test]
    fn own_local_and_configured_origins_may_open_sockets() {
        let allowed = ["https://partner.example".to_owned()];
        for origin in [
            None,
            Some(OWN),
            Some("http://localhost:8787"),
            Some("http://127.0.0.1:9000"),
            Some("http://[::1]:8787"),
            Some("https://partner.example"),
        ] {
            assert!(socket_allowed(origin, OWN, &allowed), "{origin:?}");
        }
        for origin in [
            "https://localhost.evil.example",
            "https://chat.example.evil.example",
            "null",
        ] {
            assert!(!socket_allowed(Some(origin), OWN, &allowed), "{origin}");
        }
    }

    #[test]
    fn cors_allows_the_own_and_configured_origins_but_not_localhost() {
        let allowed = ["https://partner.example".to_owned()];
        assert!(cors_allowed(OWN, OWN, &allowed));
        assert!(cors_allowed("https://partner.example/", OWN, &allowed));
        assert!(!cors_allowed("http://localhost:8787", OWN, &allowed));
        assert!(!cors_allowed("https://evil.example", OWN, &allowed));
    }

    #[test]
    fn only_lowercase_scheme_and_host_entries_can_match() {
        assert!(can_match("https://chat.example.com"));
        assert!(can_match("http://localhost:8787"));
        for entry in [
            "chat.example.com",
            "https://Chat.example",
            "https://a.example/x",
        ] {
            assert!(!can_match(entry), "{entry}");
        }
    }
}
