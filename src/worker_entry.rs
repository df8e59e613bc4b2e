//! The stateless Worker: routes each request, serves the page from the static
//! assets binding, and forwards WebSockets to the room's Durable Object.

use worker::{event, js_sys, Context, Env, Headers, Request, RequestInit, Response, Result};

use crate::routes::{self, HttpRefusal, RequestHead, Route, SocketTarget};

/// The Durable Object namespace binding in `wrangler.toml`.
const ROOMS_BINDING: &str = "ROOMS";
/// The static assets binding in `wrangler.toml`.
const ASSETS_BINDING: &str = "ASSETS";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let upgrade = req.headers().get("Upgrade")?;
    let method = req.method().to_string();
    let head = RequestHead {
        method: &method,
        path: url.path(),
        upgrade: upgrade.as_deref(),
    };
    match routes::route(head) {
        Err(refusal) => refuse(refusal),
        Ok(Route::Asset) => serve_asset(req, &env).await,
        Ok(Route::Socket(target)) => match forward(req, &env, target).await {
            Ok(resp) => Ok(resp),
            Err(err) => {
                log_error("room_unreachable", &err.to_string());
                refuse(HttpRefusal {
                    status: 503,
                    body: "The chat room is unavailable right now; try again shortly.\n".into(),
                })
            }
        },
    }
}

async fn serve_asset(req: Request, env: &Env) -> Result<Response> {
    let path = req.path();
    let resp = env.assets(ASSETS_BINDING)?.fetch_request(req).await?;
    if resp.status_code() == 404 {
        return refuse(routes::not_found(&path));
    }
    Ok(resp)
}

/// Hands the socket to the room's object, named so every Worker instance
/// anywhere reaches the same one.
async fn forward(req: Request, env: &Env, target: SocketTarget) -> Result<Response> {
    let stub = env
        .durable_object(ROOMS_BINDING)?
        .id_from_name(&target.room)?
        .get_stub()?;
    let req = match target.client_id {
        Some(_) => req,
        None => with_guest_id(&req)?,
    };
    stub.fetch_with_request(req).await
}

/// The first original's page connects to `/ws` without an id; give it one so
/// the room can tell its clients apart.
fn with_guest_id(req: &Request) -> Result<Request> {
    let mut url = req.url()?;
    let suffix = (js_sys::Math::random() * 1e9) as u64;
    url.set_path(&format!("/ws/guest-{suffix}"));
    let headers = req.headers().clone();
    Request::new_with_init(url.as_str(), RequestInit::new().with_headers(headers))
}

fn refuse(refusal: HttpRefusal) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "text/plain; charset=utf-8")?;
    Ok(Response::ok(refusal.body)?
        .with_status(refusal.status)
        .with_headers(headers))
}

/// One structured log line, readable in `wrangler tail`.
pub(crate) fn log_error(event: &str, detail: &str) {
    let line = serde_json::json!({ "level": "error", "event": event, "detail": detail });
    worker::console_error!("{line}");
}
