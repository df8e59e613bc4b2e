//! The stateless Worker: routes each request, serves the page from the static
//! assets binding with strict security headers, and forwards WebSockets to
//! the room's Durable Object once [`identity`] says who is connecting.

use crate::wire::log_line::LogLine;
use worker::{event, js_sys, Context, Env, Headers, Request, RequestInit, Response, Result};

use crate::access::identity::{self, Identity, Mode};
use crate::hooks::webhook;
use crate::platform::log::{emit, kind};
use crate::platform::respond;
use crate::send::relay::{relay_name, RELAY_HEADER};
use crate::settings::config::Config;
use crate::wire::error::Denial;
use crate::wire::error::HttpRefusal;
use crate::wire::routes::{self, RequestHead, Route, SocketTarget};
use crate::wire::url;

/// The Durable Object namespace binding in `wrangler.toml`.
pub(crate) const ROOMS_BINDING: &str = "ROOMS";
/// The relay objects' binding in `wrangler.toml` ([`crate::send::relay`]).
pub(crate) const RELAYS_BINDING: &str = "RELAYS";
/// The static assets binding in `wrangler.toml`.
const ASSETS_BINDING: &str = "ASSETS";

/// The page loads only its own script, styles and socket: no inline script,
/// no framing (clickjacking), no other origins.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let config = config(&env);
    if crate::http::api::is_api(&req.path()) {
        return crate::platform::api_gate::fetch(req, &env, &config).await;
    }
    match route_request(&req, &config)? {
        Err(refusal) => {
            log_refusal(&req, &refusal);
            respond::refusal(&refusal, None)
        }
        Ok(Route::Asset(path)) => serve_asset(req, &env, &path).await,
        Ok(Route::Socket(target)) => {
            let who = match identify_request(&req, &auth_mode(&env), &target)? {
                Ok(who) => who,
                Err(denial) => return deny(&denial, &target),
            };
            let room = target.room.clone();
            match forward(req, &env, target, &who).await {
                Ok(resp) => Ok(resp),
                Err(err) => {
                    emit(
                        LogLine::error("room_unreachable")
                            .room(&room)
                            .kind(kind(&err)),
                    );
                    let body = "The chat room is unavailable right now; try again shortly.\n";
                    respond::refusal(&HttpRefusal::text(503, "unavailable", body), None)
                }
            }
        }
    }
}

/// Settings from `[vars]`, falling back to the documented defaults.
pub(crate) fn config(env: &Env) -> Config {
    Config::from_vars(var(env))
}

/// What in `[vars]` falls back to its default, for the room to log.
pub(crate) fn config_problems(env: &Env) -> Vec<String> {
    crate::settings::config::problems(var(env))
}

fn var(env: &Env) -> impl Fn(&str) -> Option<String> + '_ {
    |key| env.var(key).ok().map(|v| v.to_string())
}

/// The webhook settings: `WEBHOOK_URL` from `[vars]`, and the secret
/// `WEBHOOK_SECRET` (`wrangler secret put`, or `.dev.vars` locally).
pub(crate) fn webhook_settings(
    env: &Env,
) -> std::result::Result<Option<webhook::Settings>, String> {
    webhook::Settings::from_vars(var(env))
}

/// Open, token or no one: from `AUTH_MODE` and the `AUTH_SECRET` secret
/// (or `--var`).
pub(crate) fn auth_mode(env: &Env) -> Mode {
    Mode::from_vars(var(env))
}

/// Applies [`identity::identify`] to a platform request: once per
/// connection, in the Worker and again in the room.
pub(crate) fn identify_request(
    req: &Request,
    mode: &Mode,
    target: &SocketTarget,
) -> Result<std::result::Result<Identity, Denial>> {
    let query = url::query_pairs(url::split(&req.inner().url()).query);
    let authorization = req.headers().get("Authorization")?;
    let token = identity::presented(authorization.as_deref(), &query);
    let now_secs = worker::Date::now().as_millis() / 1000;
    Ok(identity::identify(mode, target, token, now_secs))
}

/// The handshake and identity of a socket the Worker already checked, as
/// the object it reaches checks them again, being the trust boundary (the
/// room, and a relay the room placed it on). `Err` is the refusal to answer.
pub(crate) fn recheck_socket(
    req: &Request,
    config: &Config,
    mode: &Mode,
) -> Result<std::result::Result<(SocketTarget, Identity), Response>> {
    let target = match route_request(req, config)? {
        Ok(Route::Socket(
            target @ SocketTarget {
                client_id: Some(_), ..
            },
        )) => target,
        Ok(_) => {
            let body = "A chat room only accepts WebSockets.\n";
            let refusal = HttpRefusal::text(400, "bad_request", body);
            return Ok(Err(respond::refusal(&refusal, None)?));
        }
        Err(refusal) => return Ok(Err(respond::refusal(&refusal, None)?)),
    };
    Ok(match identify_request(req, mode, &target)? {
        Ok(who) => Ok((target, who)),
        Err(denial) => Err(deny(&denial, &target)?),
    })
}

/// Answers a denied socket with its status and JSON body, and logs its
/// code. Neither carries anything from the token.
pub(crate) fn deny(denial: &Denial, target: &SocketTarget) -> Result<Response> {
    log_misconfigured(denial);
    let line = LogLine::warn("handshake_refused").room(&target.room);
    let line = line.client(target.client_id.as_deref().unwrap_or_default());
    emit(line.status(denial.status()).code(denial.code()));
    respond::refusal(&denial.refusal(), None)
}

/// A chat whose settings let no one in logs why with every refusal, at
/// error level, with what the operator must set: there is no start-up
/// hook with the settings, and the room never hears of these requests.
pub(crate) fn log_misconfigured(denial: &Denial) {
    if let Denial::Misconfigured(problem) = denial {
        let line = LogLine::error("auth_misconfigured").code(denial.code());
        emit(line.detail(problem.describe()));
    }
}

/// What routing reads of a platform request, owned, so that a
/// [`RequestHead`] can borrow it: the socket routes and the API both
/// decide from one.
pub(crate) struct HeadParts {
    path: String,
    query: Vec<(String, String)>,
    method: String,
    upgrade: Option<String>,
    origin: Option<String>,
    own_origin: String,
}

impl HeadParts {
    pub(crate) fn of(req: &Request) -> Result<HeadParts> {
        let url = req.inner().url();
        let parts = url::split(&url);
        Ok(HeadParts {
            query: url::query_pairs(parts.query),
            method: req.method().to_string(),
            upgrade: req.headers().get("Upgrade")?,
            origin: req.headers().get("Origin")?,
            own_origin: parts.origin.to_owned(),
            path: parts.path.to_owned(),
        })
    }

    pub(crate) fn head(&self) -> RequestHead<'_> {
        RequestHead {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            upgrade: self.upgrade.as_deref(),
            origin: self.origin.as_deref(),
            own_origin: &self.own_origin,
        }
    }
}

/// Applies [`routes::route`] to a platform request.
pub(crate) fn route_request(
    req: &Request,
    config: &Config,
) -> Result<std::result::Result<Route, HttpRefusal>> {
    let parts = HeadParts::of(req)?;
    Ok(routes::route(parts.head(), &config.allowed_origins))
}

async fn serve_asset(req: Request, env: &Env, path: &str) -> Result<Response> {
    let assets = env.assets(ASSETS_BINDING)?;
    let resp = if req.path() == path {
        assets.fetch_request(req).await?
    } else {
        // A room page (`/r/<name>`) is the same page; it reads the room from
        // its own URL.
        assets
            .fetch(url::with_path(&req.inner().url(), path, false), None)
            .await?
    };
    if resp.status_code() == 404 {
        return respond::refusal(&routes::not_found(path), None);
    }
    let headers = resp.headers().clone();
    secure(&headers)?;
    Ok(resp.with_headers(headers))
}

fn secure(headers: &Headers) -> Result<()> {
    headers.set("Content-Security-Policy", CONTENT_SECURITY_POLICY)?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    headers.set("Referrer-Policy", "no-referrer")?;
    headers.set("X-Frame-Options", "DENY")?;
    Ok(())
}

/// Hands the socket to the room's object, named so every Worker instance
/// anywhere reaches the same one.
async fn forward(
    req: Request,
    env: &Env,
    target: SocketTarget,
    who: &Identity,
) -> Result<Response> {
    let stub = env
        .durable_object(ROOMS_BINDING)?
        .id_from_name(&target.room)?
        .get_stub()?;
    let req = match (&target.client_id, &who.client_id) {
        (Some(_), _) => req,
        // `/ws` with a token: the token's `sub`.
        (None, Some(sub)) => with_client_id(&req, sub)?,
        // The first original's page connects to `/ws` without an id; give
        // it one so the room can tell its clients apart.
        (None, None) => {
            let suffix = (js_sys::Math::random() * 1e9) as u64;
            with_client_id(&req, &format!("guest-{suffix}"))?
        }
    };
    // Kept for a big room that places the socket on one of its relays.
    let copy = req.clone()?;
    let resp = stub.fetch_with_request(req).await?;
    match resp.headers().get(RELAY_HEADER)? {
        Some(index) if resp.status_code() == 307 => to_relay(copy, env, &target.room, &index).await,
        _ => Ok(resp),
    }
}

/// Forwards the upgrade to relay `index` of `room`, where the room placed
/// it; the relay checks it again and asks the room to admit it.
async fn to_relay(req: Request, env: &Env, room: &str, index: &str) -> Result<Response> {
    let index: u32 = index.parse().map_err(|_| "the room named no relay")?;
    let headers = req.headers().clone();
    headers.set(RELAY_HEADER, &index.to_string())?;
    let req = Request::new_with_init(&req.inner().url(), RequestInit::new().with_headers(headers))?;
    let relays = env.durable_object(RELAYS_BINDING)?;
    relays
        .get_by_name(&relay_name(room, index))?
        .fetch_with_request(req)
        .await
}

/// The request on `/ws/<client_id>`, everything else kept.
fn with_client_id(req: &Request, client_id: &str) -> Result<Request> {
    let url = url::with_path(&req.inner().url(), &format!("/ws/{client_id}"), true);
    let headers = req.headers().clone();
    Request::new_with_init(&url, RequestInit::new().with_headers(headers))
}

fn log_refusal(req: &Request, refusal: &HttpRefusal) {
    if refusal.status == 404 {
        return;
    }
    let path = req.path();
    let client_id = path.strip_prefix("/ws/").unwrap_or_default();
    // The id may be the invalid part; logs get a bounded, printable copy.
    let client_id: String = client_id
        .chars()
        .take(64)
        .filter(|c| !c.is_control())
        .collect();
    emit(
        LogLine::warn("handshake_refused")
            .client(&client_id)
            .status(refusal.status),
    );
}
