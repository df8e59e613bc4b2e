//! The Worker's routing decisions as plain data: which request goes where,
//! and the status and readable body for each request that goes nowhere.
//!
//! Everything here runs before a Durable Object is touched, because objects
//! are billed and single-threaded; the object checks the same rules again.

use crate::settings::limits::DEFAULT_ROOM;
use crate::settings::origin;
use crate::wire::error::HttpRefusal;
use crate::wire::validate;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A static file from `public/`, at this path.
    Asset(String),
    /// A WebSocket for a client in a room.
    Socket(SocketTarget),
}

/// Who is connecting, to which room, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketTarget {
    /// `None` on the legacy `/ws` path, whose clients never chose an id: the
    /// Worker makes one up.
    pub client_id: Option<String>,
    pub room: String,
    /// Display name, from `?name=`.
    pub name: Option<String>,
    /// The last `seq` the client saw, from `?since=`.
    pub since: Option<u64>,
    /// The history epoch that `since` belongs to, from `?epoch=`.
    pub epoch: Option<String>,
    /// The client accepts `batch` frames, from `?batch=1`.
    pub batch: bool,
    /// The client proves it reads, from `?receipts=1` (see
    /// [`crate::send::flow`]).
    pub receipts: bool,
}

/// The request as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Query parameters, already percent-decoded.
    pub query: &'a [(String, String)],
    /// The `Upgrade` header, if any.
    pub upgrade: Option<&'a str>,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    /// This Worker's own origin, e.g. `https://chat.example.com`.
    pub own_origin: &'a str,
}

/// The socket path prefix. `/ws` alone is the first original's endpoint.
const SOCKET_PREFIX: &str = "/ws";
/// Room pages: `/r/<room>` serves the page, which joins `<room>`.
const ROOM_PAGE_PREFIX: &str = "/r/";

pub fn route(req: RequestHead<'_>, allowed_origins: &[String]) -> Result<Route, HttpRefusal> {
    if let Some(room) = req.path.strip_prefix(ROOM_PAGE_PREFIX) {
        validate::room_name(room.trim_end_matches('/')).map_err(|why| {
            HttpRefusal::text(404, "not_found", format!("No such room page: {why}.\n"))
        })?;
        return asset(req.method, "/");
    }
    let Some(rest) = req.path.strip_prefix(SOCKET_PREFIX) else {
        return asset(req.method, req.path);
    };
    let client_id = match rest {
        "" => None,
        _ => match rest.strip_prefix('/') {
            Some(id) => Some(
                validate::client_id(id)
                    .map_err(|why| {
                        HttpRefusal::text(400, "bad_request", format!("Bad client id: {why}.\n"))
                    })?
                    .to_owned(),
            ),
            // `/wsfoo` is not a socket path.
            None => return asset(req.method, req.path),
        },
    };
    check_handshake(req, allowed_origins)?;
    socket_target(client_id, req.query).map(Route::Socket)
}

/// A socket handshake must be a GET that asks to upgrade, from a page
/// allowed to open sockets here.
fn check_handshake(req: RequestHead<'_>, allowed_origins: &[String]) -> Result<(), HttpRefusal> {
    if req.method != "GET" {
        return Err(HttpRefusal::text(
            405,
            "method_not_allowed",
            "WebSocket endpoints accept only GET with an Upgrade: websocket header.\n",
        ));
    }
    if !req
        .upgrade
        .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
    {
        return Err(HttpRefusal::text(
            426,
            "upgrade_required",
            "This is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket).\n",
        ));
    }
    if !origin::socket_allowed(req.origin, req.own_origin, allowed_origins) {
        return Err(HttpRefusal::text(
            403,
            "origin_forbidden",
            "This page's origin may not open chat sockets here (cross-site WebSocket refused).\n",
        ));
    }
    Ok(())
}

/// Reads the socket's room, display name, `since` and `batch` from its
/// query, each validated.
fn socket_target(
    client_id: Option<String>,
    query: &[(String, String)],
) -> Result<SocketTarget, HttpRefusal> {
    let mut target = SocketTarget {
        client_id,
        room: DEFAULT_ROOM.to_owned(),
        name: None,
        since: None,
        epoch: None,
        batch: false,
        receipts: false,
    };
    let bad = |what: &str, why: String| {
        HttpRefusal::text(400, "bad_request", format!("Bad {what}: {why}.\n"))
    };
    for (key, value) in query {
        match key.as_str() {
            "room" => {
                target.room = validate::room_name(value)
                    .map_err(|why| bad("room name", why.0))?
                    .to_owned();
            }
            "name" if !value.trim().is_empty() => {
                target.name =
                    Some(validate::display_name(value).map_err(|why| bad("display name", why.0))?);
            }
            "since" => {
                let not_a_seq = |_| bad("since", format!("{value:?} is not a sequence number"));
                target.since = Some(value.parse().map_err(not_a_seq)?);
            }
            // Any other epoch is simply not the room's: the client starts
            // over, which is what an unknown one should cause.
            "epoch" if value.len() <= 32 => target.epoch = Some(value.clone()),
            "batch" => target.batch = value == "1",
            "receipts" => target.receipts = value == "1",
            // Unknown parameters are ignored, so newer pages work with
            // older servers.
            _ => {}
        }
    }
    Ok(target)
}

fn asset(method: &str, path: &str) -> Result<Route, HttpRefusal> {
    match method {
        "GET" | "HEAD" => Ok(Route::Asset(path.to_owned())),
        _ => Err(HttpRefusal::text(
            405,
            "method_not_allowed",
            "The chat's pages accept only GET and HEAD.\n",
        )),
    }
}

/// The body for a path that matches nothing.
pub fn not_found(path: &str) -> HttpRefusal {
    HttpRefusal::text(
        404,
        "not_found",
        format!("Nothing here at {path}. The chat is at / and its sockets at /ws/<client_id>.\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://chat.example";

    fn head<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a [(String, String)],
        upgrade: Option<&'a str>,
        origin: Option<&'a str>,
    ) -> RequestHead<'a> {
        RequestHead {
            method,
            path,
            query,
            upgrade,
            origin,
            own_origin: OWN,
        }
    }

    fn get(path: &str, upgrade: Option<&str>) -> Result<Route, HttpRefusal> {
        route(head("GET", path, &[], upgrade, None), &[])
    }

    fn socket_with(query: &[(&str, &str)]) -> Result<Route, HttpRefusal> {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        route(head("GET", "/ws/alice", &q, Some("websocket"), None), &[])
    }

    fn target(r: Result<Route, HttpRefusal>) -> SocketTarget {
        match r {
            Ok(Route::Socket(t)) => t,
            other => panic!("expected a socket route, got {other:?}"),
        }
    }

    fn status(r: Result<Route, HttpRefusal>) -> u16 {
        r.expect_err("expected a refusal").status
    }

    #[test]
    fn socket_path_with_upgrade_goes_to_the_default_room() {
        let t = target(get("/ws/alice", Some("websocket")));
        assert_eq!(t.client_id.as_deref(), Some("alice"));
        assert_eq!(t.room, "lobby");
        assert_eq!((t.name, t.since, t.batch), (None, None, false));
    }

    #[test]
    fn upgrade_header_is_case_insensitive() {
        assert!(get("/ws/alice", Some("WebSocket")).is_ok());
    }

    #[test]
    fn no_socket_may_connect_as_an_id_the_room_speaks_as() {
        for id in ["server", "SERVER", "api"] {
            let refusal = get(&format!("/ws/{id}"), Some("websocket")).unwrap_err();
            assert_eq!((refusal.status, refusal.code), (400, "bad_request"));
            assert!(
                refusal.message.contains("is reserved"),
                "{}",
                refusal.message
            );
        }
    }

    #[test]
    fn bare_ws_path_is_the_legacy_endpoint_without_an_id() {
        assert_eq!(target(get("/ws", Some("websocket"))).client_id, None);
    }

    #[test]
    fn query_chooses_room_name_since_and_batch() {
        let t = target(socket_with(&[
            ("room", "team-1"),
            ("name", " Zoë "),
            ("since", "42"),
            ("batch", "1"),
            ("future", "x"),
        ]));
        assert_eq!(t.room, "team-1");
        assert_eq!(t.name.as_deref(), Some("Zoë"));
        assert_eq!(t.since, Some(42));
        assert!(t.batch);
    }

    #[test]
    fn an_empty_name_is_no_name() {
        assert_eq!(target(socket_with(&[("name", "  ")])).name, None);
    }

    #[test]
    fn bad_room_name_or_since_is_400() {
        assert_eq!(status(socket_with(&[("room", "Has Space")])), 400);
        assert_eq!(status(socket_with(&[("room", "")])), 400);
        assert_eq!(status(socket_with(&[("since", "-1")])), 400);
        assert_eq!(status(socket_with(&[("name", "a\u{202E}b")])), 400);
    }

    #[test]
    fn socket_path_without_upgrade_is_426() {
        let r = get("/ws/alice", None).unwrap_err();
        assert_eq!(r.status, 426);
        assert!(r.message.contains("WebSocket"));
    }

    #[test]
    fn bad_client_ids_are_400_with_the_reason() {
        assert_eq!(status(get("/ws/", Some("websocket"))), 400);
        assert_eq!(status(get("/ws/a.b", Some("websocket"))), 400);
        assert_eq!(status(get("/ws/a/b", Some("websocket"))), 400);
        let long = format!("/ws/{}", "a".repeat(65));
        let r = get(&long, Some("websocket")).unwrap_err();
        assert_eq!(r.status, 400);
        assert!(r.message.contains("limit is 64"), "{}", r.message);
    }

    #[test]
    fn bad_id_is_400_even_without_upgrade() {
        assert_eq!(status(get("/ws/a%20b", None)), 400);
    }

    #[test]
    fn non_get_on_a_socket_path_is_405() {
        let r = route(head("POST", "/ws/alice", &[], Some("websocket"), None), &[]);
        assert_eq!(status(r), 405);
    }

    #[test]
    fn cross_site_origin_is_403() {
        let r = route(
            head(
                "GET",
                "/ws/alice",
                &[],
                Some("websocket"),
                Some("https://evil.example"),
            ),
            &[],
        );
        assert_eq!(status(r), 403);
    }

    #[test]
    fn room_pages_serve_the_page() {
        assert_eq!(get("/r/team", None), Ok(Route::Asset("/".into())));
        assert_eq!(status(get("/r/Bad Name", None)), 404);
    }

    #[test]
    fn other_paths_are_assets() {
        assert_eq!(get("/", None), Ok(Route::Asset("/".into())));
        assert_eq!(get("/app.js", None), Ok(Route::Asset("/app.js".into())));
        assert_eq!(get("/wsfoo", None), Ok(Route::Asset("/wsfoo".into())));
    }

    #[test]
    fn assets_refuse_writes() {
        assert_eq!(
            status(route(head("DELETE", "/", &[], None, None), &[])),
            405
        );
    }
}
