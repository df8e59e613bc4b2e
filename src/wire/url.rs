//! What the Worker reads of a request's URL, without a URL parser. The
//! runtime hands every request over with an absolute URL it has already
//! parsed and normalised (scheme and host lowercased, default port
//! dropped), so splitting it is enough; the `url` crate it replaces was an
//! eighth of the `.wasm` (BENCHMARKS.md, "Size").

/// An absolute URL's parts: `origin` (`scheme://host[:port]`), `path`
/// (still percent-encoded, `/` at least) and `query` (without the `?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub origin: &'a str,
    pub path: &'a str,
    pub query: &'a str,
}

pub fn split(url: &str) -> UrlParts<'_> {
    let url = url.split('#').next().unwrap_or_default();
    let (rest, query) = url.split_once('?').unwrap_or((url, ""));
    let host_at = rest.find("://").map_or(0, |at| at + 3);
    let path_at = rest[host_at..]
        .find('/')
        .map_or(rest.len(), |at| host_at + at);
    let path = match &rest[path_at..] {
        "" => "/",
        path => path,
    };
    UrlParts {
        origin: &rest[..path_at],
        path,
        query,
    }
}

/// The query's `name=value` pairs, decoded as a form is
/// (`application/x-www-form-urlencoded`): `+` is a space, `%XX` a byte,
/// and bytes that are not UTF-8 become U+FFFD.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    (query.split('&'))
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = match bytes[i] {
            b'+' => b' ',
            b'%' => match text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(byte) => {
                    i += 2;
                    byte
                }
                None => b'%',
            },
            byte => byte,
        };
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url` with its path replaced, its query kept if `keep_query`.
pub fn with_path(url: &str, path: &str, keep_query: bool) -> String {
    let parts = split(url);
    match keep_query && !parts.query.is_empty() {
        true => format!("{}{path}?{}", parts.origin, parts.query),
        false => format!("{}{path}", parts.origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_the_runtime_hands_over() {
        let parts = split("http://127.0.0.1:8787/ws/ann?since=4&batch=1#x");
        assert_eq!(parts.origin, "http://127.0.0.1:8787");
        assert_eq!(parts.path, "/ws/ann");
        assert_eq!(parts.query, "since=4&batch=1");
        assert_eq!(split("https://chat.example").path, "/");
        assert_eq!(split("https://chat.example?q").query, "q");
        assert_eq!(split("https://chat.example/a%3F%23b?c").path, "/a%3F%23b");
    }

    #[test]
    fn decodes_a_query_as_a_form() {
        let pairs = query_pairs("name=Ann+Lee&token=a%2Bb&e=%E2%82%AC&bad=%ZZ&&flag&x=%FF");
        let want = [
            ("name", "Ann Lee"),
            ("token", "a+b"),
            ("e", "€"),
            ("bad", "%ZZ"),
            ("flag", ""),
            ("x", "\u{FFFD}"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, want);
    }

    #[test]
    fn replaces_a_path() {
        let url = "http://h:1/ws?since=3";
        assert_eq!(
            with_path(url, "/ws/guest-1", true),
            "http://h:1/ws/guest-1?since=3"
        );
        assert_eq!(
            with_path(url, "/index.html", false),
            "http://h:1/index.html"
        );
    }
}
