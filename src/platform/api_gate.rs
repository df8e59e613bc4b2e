//! The HTTP API on the platform: the gate every call passes, once in the
//! Worker (before a room is touched) and again in the room (the trust
//! boundary), the Worker's forwarding, and the JSON answers.
//!
//! The decisions are [`crate::http::api`]'s; this file reads them off a
//! `Request` and writes them into a `Response`.

use wasm_bindgen::{JsCast, JsValue};
use worker::js_sys::{Reflect, Uint8Array};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::ReadableStreamDefaultReader;
use worker::{Env, Request, RequestInit, Response, Result};

use crate::access::address;
use crate::access::identity::{self, Identity, Mode};
use crate::http::api::{self, ApiRoute, Call, CappedBody, PostBody, Speaker};
use crate::platform::entry::{auth_mode, log_misconfigured, HeadParts, ROOMS_BINDING};
use crate::platform::log::{emit, kind};
use crate::platform::respond;
use crate::settings::config::Config;
use crate::settings::origin;
use crate::wire::error::{Denial, HttpRefusal};
use crate::wire::log_line::LogLine;
use crate::wire::routes::{RequestHead, SocketTarget};

/// A call that passed every check the Worker can make.
pub(crate) struct Admitted {
    pub room: String,
    pub call: Call,
    pub post: Option<AdmittedPost>,
    /// The `Origin` to allow in the answer, if the caller is a page.
    pub cors: Option<String>,
    /// Whose rate budget the call spends.
    pub subject: String,
    /// Who the caller is: the token's, in token mode.
    pub who: Identity,
}

/// A POST's body, read, parsed and attributed.
pub(crate) struct AdmittedPost {
    pub body: PostBody,
    pub speaker: Speaker,
    /// The body as it arrived, for forwarding to the room.
    pub raw: String,
}

/// The Worker's handling of an API request: check, then forward to the
/// room's object, which checks again and answers.
pub(crate) async fn fetch(mut req: Request, env: &Env, config: &Config) -> Result<Response> {
    let admitted = match admit(&mut req, config, &auth_mode(env)).await? {
        Ok(admitted) => admitted,
        Err(answer) => return Ok(answer),
    };
    let headers = req.headers().clone();
    // The room's copy carries the body as text; its length is recomputed.
    headers.delete("Content-Length")?;
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(post) = &admitted.post {
        init.with_body(Some(JsValue::from_str(&post.raw)));
    }
    let forwarded = Request::new_with_init(&req.inner().url(), &init)?;
    let stub = env
        .durable_object(ROOMS_BINDING)?
        .id_from_name(&admitted.room)?
        .get_stub()?;
    match stub.fetch_with_request(forwarded).await {
        Ok(resp) => Ok(resp),
        Err(err) => {
            let line = LogLine::error("room_unreachable").room(&admitted.room);
            emit(line.kind(kind(&err)));
            let unavailable = HttpRefusal::json(
                503,
                "unavailable",
                "the chat room is unavailable right now; try again shortly",
            );
            refuse(&unavailable, admitted.cors.as_deref(), Some(&admitted.room))
        }
    }
}

/// Every check a call meets before a room acts on it: route, origin,
/// token, and a POST's body. `Err` is the answer to send instead (a
/// refusal, or a preflight's answer).
pub(crate) async fn admit(
    req: &mut Request,
    config: &Config,
    mode: &Mode,
) -> Result<std::result::Result<Admitted, Response>> {
    let parts = HeadParts::of(req)?;
    let head = parts.head();
    let cors = cors_origin(&head, config);
    let (room, call) = match api::route(head, &config.allowed_origins) {
        Ok(ApiRoute::Call { room, call }) => (room, call),
        Ok(ApiRoute::Preflight { allow }) => return Ok(Err(preflight(allow, cors.as_deref())?)),
        Err(refusal) => return Ok(Err(refuse(&refusal, cors.as_deref(), None)?)),
    };
    let who = match identify(req, mode, &room)? {
        Ok(who) => who,
        Err(denial) => {
            log_misconfigured(&denial);
            let refusal = HttpRefusal::from_denial(&denial);
            return Ok(Err(refuse(&refusal, cors.as_deref(), Some(&room))?));
        }
    };
    // The room checks again; a member's export never reaches it.
    if let (Call::Export, Err(refusal)) = (&call, api::may_export(&who)) {
        return Ok(Err(refuse(&refusal, cors.as_deref(), Some(&room))?));
    }
    let post = match call {
        Call::PostMessage | Call::React { .. } => match read_post(req, &who, &call).await? {
            Ok(post) => Some(post),
            Err(refusal) => return Ok(Err(refuse(&refusal, cors.as_deref(), Some(&room))?)),
        },
        _ => None,
    };
    let subject = api::rate_subject(&who, &address_of(req)?);
    Ok(Ok(Admitted {
        room,
        call,
        post,
        cors,
        subject,
        who,
    }))
}

/// The caller's origin, if it is one the API answers CORS for.
fn cors_origin(head: &RequestHead<'_>, config: &Config) -> Option<String> {
    (head.origin)
        .filter(|o| origin::cors_allowed(o, head.own_origin, &config.allowed_origins))
        .map(str::to_owned)
}

/// The caller's address, as caps and rate limits key it.
fn address_of(req: &Request) -> Result<String> {
    Ok(address::key(req.headers().get(address::HEADER)?.as_deref()))
}

/// The token from `Authorization: Bearer` only: an API caller can send a
/// header, and a token in a URL ends up in logs.
fn identify(
    req: &Request,
    mode: &Mode,
    room: &str,
) -> Result<std::result::Result<Identity, Denial>> {
    let authorization = req.headers().get("Authorization")?;
    let token = identity::presented(authorization.as_deref(), &[]);
    let target = SocketTarget {
        client_id: None,
        room: room.to_owned(),
        name: None,
        since: None,
        epoch: None,
        batch: false,
        receipts: false,
    };
    let now_secs = worker::Date::now().as_millis() / 1000;
    Ok(identity::identify(mode, &target, token, now_secs))
}

/// Reads a POST's body, refusing one declared too long before reading it,
/// and one that runs past the limit as soon as it does.
async fn read_post(
    req: &mut Request,
    who: &Identity,
    call: &Call,
) -> Result<std::result::Result<AdmittedPost, HttpRefusal>> {
    let declared = req.headers().get("Content-Length")?;
    if let Some(len) = declared.and_then(|v| v.trim().parse::<usize>().ok()) {
        if let Err(refusal) = api::body_fits(len) {
            return Ok(Err(refusal));
        }
    }
    let content_type = req.headers().get("Content-Type")?;
    let raw = match read_capped(req).await? {
        Ok(raw) => raw,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let body = match api::parse_post(content_type.as_deref(), &raw, call) {
        Ok(body) => body,
        Err(refusal) => return Ok(Err(refusal)),
    };
    Ok(api::speaker(who, &body).map(|speaker| AdmittedPost { body, speaker, raw }))
}

/// The body, read from its stream into a [`CappedBody`]. Past the limit
/// the stream is cancelled, so the rest of the upload is never read into
/// the isolate: `Request.text()` would hold all of it first.
async fn read_capped(req: &Request) -> Result<std::result::Result<String, HttpRefusal>> {
    let mut body = CappedBody::default();
    let Some(stream) = req.inner().body() else {
        return Ok(Ok(body.text()));
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    loop {
        let step = JsFuture::from(reader.read()).await?;
        if Reflect::get(&step, &"done".into())?.is_truthy() {
            return Ok(Ok(body.text()));
        }
        let piece: Uint8Array = Reflect::get(&step, &"value".into())?.unchecked_into();
        let taken = (body.fits(piece.length() as usize)).and_then(|()| body.push(&piece.to_vec()));
        if let Err(refusal) = taken {
            let _ = JsFuture::from(reader.cancel()).await;
            return Ok(Err(refusal));
        }
    }
}

/// An API refusal, with its log line (a 404 is not worth one).
pub(crate) fn refuse(
    refusal: &HttpRefusal,
    cors: Option<&str>,
    room: Option<&str>,
) -> Result<Response> {
    if refusal.status != 404 {
        let line = LogLine::warn("api_refused").room(room.unwrap_or_default());
        emit(line.status(refusal.status).code(refusal.code));
    }
    respond::refusal(refusal, cors)
}

/// The answer to a CORS preflight from an allowed origin.
fn preflight(allow: &'static str, cors: Option<&str>) -> Result<Response> {
    let headers = respond::json_headers(cors)?;
    for (name, value) in api::preflight_headers(allow) {
        headers.set(name, value)?;
    }
    headers.set("Allow", allow)?;
    Ok(Response::empty()?.with_status(204).with_headers(headers))
}
