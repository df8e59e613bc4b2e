//! The Worker's routing decisions as plain data: which request goes where,
//! and the status and readable body for each request that goes nowhere.
//!
//! Everything here runs before a Durable Object is touched, because objects
//! are billed and single-threaded; the object checks the same rules again.

use crate::limits::DEFAULT_ROOM;
use crate::validate;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A static file from `public/`.
    Asset,
    /// A WebSocket for `client_id` in `room`.
    Socket(SocketTarget),
}

/// Who is connecting, and to which room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketTarget {
    /// `None` on the legacy `/ws` path, whose clients never chose an id: the
    /// Worker makes one up.
    pub client_id: Option<String>,
    pub room: String,
}

/// A request refused with an HTTP status and a body a person can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    pub status: u16,
    pub body: String,
}

impl HttpRefusal {
    fn new(status: u16, body: impl Into<String>) -> Self {
        HttpRefusal {
            status,
            body: body.into(),
        }
    }
}

/// The request as routing sees it.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The `Upgrade` header, if any.
    pub upgrade: Option<&'a str>,
}

/// The socket path prefix. `/ws` alone is the first original's endpoint.
const SOCKET_PREFIX: &str = "/ws";

pub fn route(req: RequestHead<'_>) -> Result<Route, HttpRefusal> {
    let Some(rest) = req.path.strip_prefix(SOCKET_PREFIX) else {
        return asset(req.method);
    };
    let client_id = match rest {
        "" => None,
        _ => match rest.strip_prefix('/') {
            Some(id) => Some(
                validate::client_id(id)
                    .map_err(|why| HttpRefusal::new(400, format!("Bad client id: {why}.\n")))?
                    .to_owned(),
            ),
            // `/wsfoo` is not a socket path.
            None => return asset(req.method),
        },
    };
    if req.method != "GET" {
        return Err(HttpRefusal::new(
            405,
            "WebSocket endpoints accept only GET with an Upgrade: websocket header.\n",
        ));
    }
    if !req
        .upgrade
        .is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
    {
        return Err(HttpRefusal::new(
            426,
            "This is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket).\n",
        ));
    }
    Ok(Route::Socket(SocketTarget {
        client_id,
        room: DEFAULT_ROOM.to_owned(),
    }))
}

fn asset(method: &str) -> Result<Route, HttpRefusal> {
    match method {
        "GET" | "HEAD" => Ok(Route::Asset),
        _ => Err(HttpRefusal::new(
            405,
            "The chat's pages accept only GET and HEAD.\n",
        )),
    }
}

/// The body for a path that matches nothing.
pub fn not_found(path: &str) -> HttpRefusal {
    HttpRefusal::new(
        404,
        format!("Nothing here at {path}. The chat is at / and its sockets at /ws/<client_id>.\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, upgrade: Option<&str>) -> Result<Route, HttpRefusal> {
        route(RequestHead {
            method: "GET",
            path,
            upgrade,
        })
    }

    fn status(r: Result<Route, HttpRefusal>) -> u16 {
        r.expect_err("expected a refusal").status
    }

    #[test]
    fn socket_path_with_upgrade_goes_to_the_default_room() {
        assert_eq!(
            get("/ws/alice", Some("websocket")),
            Ok(Route::Socket(SocketTarget {
                client_id: Some("alice".into()),
                room: "lobby".into()
            }))
        );
    }

    #[test]
    fn upgrade_header_is_case_insensitive() {
        assert!(get("/ws/alice", Some("WebSocket")).is_ok());
    }

    #[test]
    fn bare_ws_path_is_the_legacy_endpoint_without_an_id() {
        assert_eq!(
            get("/ws", Some("websocket")),
            Ok(Route::Socket(SocketTarget {
                client_id: None,
                room: "lobby".into()
            }))
        );
    }

    #[test]
    fn socket_path_without_upgrade_is_426() {
        let r = get("/ws/alice", None).unwrap_err();
        assert_eq!(r.status, 426);
        assert!(r.body.contains("WebSocket"));
    }

    #[test]
    fn bad_client_ids_are_400_with_the_reason() {
        assert_eq!(status(get("/ws/", Some("websocket"))), 400);
        assert_eq!(status(get("/ws/a.b", Some("websocket"))), 400);
        assert_eq!(status(get("/ws/a/b", Some("websocket"))), 400);
        let long = format!("/ws/{}", "a".repeat(65));
        let r = get(&long, Some("websocket")).unwrap_err();
        assert_eq!(r.status, 400);
        assert!(r.body.contains("limit is 64"), "{}", r.body);
    }

    #[test]
    fn bad_id_is_400_even_without_upgrade() {
        assert_eq!(status(get("/ws/a%20b", None)), 400);
    }

    #[test]
    fn non_get_on_a_socket_path_is_405() {
        let r = route(RequestHead {
            method: "POST",
            path: "/ws/alice",
            upgrade: Some("websocket"),
        });
        assert_eq!(status(r), 405);
    }

    #[test]
    fn other_paths_are_assets() {
        assert_eq!(get("/", None), Ok(Route::Asset));
        assert_eq!(get("/app.js", None), Ok(Route::Asset));
        assert_eq!(get("/wsfoo", None), Ok(Route::Asset));
    }

    #[test]
    fn assets_refuse_writes() {
        let r = route(RequestHead {
            method: "DELETE",
            path: "/",
            upgrade: None,
        });
        assert_eq!(status(r), 405);
    }
}
