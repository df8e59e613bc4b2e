//! The HTTP API's decisions, free of any platform type: which endpoint a
//! request names, whether its origin, body and sender pass, who it speaks
//! as, how fast a subject may call, and the JSON each answer carries.
//!
//! The Worker applies these before it touches a room (objects are billed
//! and single-threaded); the room applies them again, because it is the
//! trust boundary, and then runs the very rules a socket's message goes
//! through ([`room::chat`]), so an API message is stored, deduplicated and
//! fanned out exactly like one typed on a page.
//!
//! Every refusal is an [`HttpRefusal`]: a status and the body
//! `{"error": code, "message": readable}`, as socket handshakes get.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::access::auth::Role;
use crate::access::identity::Identity;
use crate::room::kept::{self, kept_lines};
use crate::room::presence;
use crate::room::rate_limit::{TokenBucket, Verdict};
use crate::room::reactions;
use crate::room::read_state;
use crate::room::scrollback;
use crate::room::session::{Joining, Session};
use crate::room::{self, Audience, Ctx, Delivery};
use crate::settings::limits::{
    FORGET_IDLE_BUCKET_MS, MAX_BODY_BYTES, MAX_PAGE, MAX_TRACKED_SUBJECTS, PAGE_DEFAULT,
    SCROLLBACK_PAGE_MAX,
};
use crate::settings::origin;
use crate::store::history::{self, HistoryStore, Reach, StoredMessage};
use crate::store::search::SearchQuery;
use crate::wire::error::{Denial, HttpRefusal, Refusal};
use crate::wire::protocol::{KeptLine, Member, ReadState, ServerFrame};
use crate::wire::routes::RequestHead;
use crate::wire::validate;

/// Where the API lives: `/api/rooms/<room>/<endpoint>`.
pub const ROOMS_PREFIX: &str = "/api/rooms/";

/// Who an open-mode POST speaks as when its body names nobody: an id no
/// client may claim, so a socket cannot edit or delete these posts.
pub const OPEN_MODE_SENDER: &str = crate::wire::protocol::API_ID;

/// The connection key the room's send plan names an API request by. Socket
/// keys are below 2^53, so none is ever this.
pub const API_CONN: u64 = u64::MAX;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// The request headers a page may send with a call.
pub const ALLOWED_REQUEST_HEADERS: &str = "Authorization, Content-Type";

/// An endpoint of one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `GET messages`: the page after `since`, or before `before`, at
    /// most `limit` long.
    ListMessages {
        since: Option<u64>,
        limit: Option<u64>,
        before: Option<u64>,
        /// The history epoch `since` belongs to.
        epoch: Option<String>,
    },
    /// `GET search`: hits for `q`, newest first, before `before`.
    Search {
        q: String,
        before: Option<u64>,
        limit: u64,
    },
    /// `GET export`: every kept message, as NDJSON.
    Export,
    /// `GET read/<client_id>`: a person's read pointer and unread count.
    ReadState { client_id: String },
    /// `POST messages/<id>/reactions`: toggle the caller's reaction.
    React { id: String },
    /// `POST messages`.
    PostMessage,
    /// `GET presence`.
    Presence,
}

/// What a request to the API asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRoute {
    /// A CORS preflight from an allowed origin; `allow` lists the methods.
    Preflight { allow: &'static str },
    /// A call on `room`.
    Call { room: String, call: Call },
}

impl HttpRefusal {
    /// A token refusal, with the status, code and words a socket gets.
    /// Only the missing-token words differ: the API reads the token from
    /// the `Authorization` header alone, never from a URL.
    pub fn from_denial(denial: &Denial) -> Self {
        let message = match denial {
            Denial::MissingToken => {
                "this API needs a sign-in token: send Authorization: Bearer <token>".into()
            }
            other => other.message(),
        };
        HttpRefusal::json(denial.status(), denial.code(), message)
    }

    /// A room rule's refusal of a posted message. Storage failures say
    /// nothing of their cause, as on a socket.
    pub fn from_refusal(refusal: &Refusal) -> Self {
        match refusal {
            Refusal::Internal | Refusal::Storage(_) => HttpRefusal::json(
                503,
                "unavailable",
                "the room cannot take this request right now; try again shortly",
            ),
            other => match other.answer().frame {
                Some(reply) => HttpRefusal::json(400, reply.code, reply.message),
                None => HttpRefusal::json(503, "unavailable", "the room cannot take this request"),
            },
        }
    }
}

fn bad_request(message: impl Into<String>) -> HttpRefusal {
    HttpRefusal::json(400, "bad_request", message)
}

/// Whether a path belongs to the API (and so gets JSON answers).
pub fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Decides what an API request asks for, or why it is refused: 404 for a
/// path that names no endpoint, 400 for a bad room name or query, 403 for
/// a page on an origin that may not call, 405 (with `Allow`) for a method
/// the endpoint does not take.
pub fn route(head: RequestHead<'_>, allowed_origins: &[String]) -> Result<ApiRoute, HttpRefusal> {
    let (room, endpoint, allow) = endpoint(head.path)?;
    let room =
        validate::room_name(room).map_err(|why| bad_request(format!("bad room name: {why}")))?;
    if head
        .origin
        .is_some_and(|o| !origin::cors_allowed(o, head.own_origin, allowed_origins))
    {
        return Err(HttpRefusal::json(
            403,
            "origin_forbidden",
            "pages on this origin may not call this API (set ALLOWED_ORIGINS to allow one)",
        ));
    }
    let call = match (head.method, endpoint) {
        ("OPTIONS", _) => return Ok(ApiRoute::Preflight { allow }),
        ("GET", "messages") => list_query(head.query)?,
        ("POST", "messages") => Call::PostMessage,
        ("POST", reacting) if reaction_path(reacting) => Call::React {
            id: reacting
                .trim_start_matches("messages/")
                .trim_end_matches("/reactions")
                .to_owned(),
        },
        ("GET", "presence") => Call::Presence,
        ("GET", "search") => search_query(head.query)?,
        ("GET", "export") => Call::Export,
        ("GET", read) if read.starts_with("read/") => {
            let id = read.trim_start_matches("read/");
            let client_id = validate::client_id(id).map_err(|why| bad_request(why.0))?;
            Call::ReadState {
                client_id: client_id.to_owned(),
            }
        }
        (method, _) => return Err(method_not_allowed(head.path, method, allow)),
    };
    Ok(ApiRoute::Call {
        room: room.to_owned(),
        call,
    })
}

/// The room and endpoint a path names, with the methods the endpoint
/// takes; 404 for a path that names none.
fn endpoint(path: &str) -> Result<(&str, &str, &'static str), HttpRefusal> {
    let not_found = || {
        HttpRefusal::json(
            404,
            "not_found",
            format!(
                "no API endpoint at {}; the endpoints are /api/rooms/<room>/ followed by messages, presence, search, export or read/<client id>",
                printable(path)
            ),
        )
    };
    let rest = path.strip_prefix(ROOMS_PREFIX).ok_or_else(not_found)?;
    let (room, endpoint) = rest.split_once('/').ok_or_else(not_found)?;
    let allow = match endpoint {
        "messages" => "GET, POST, OPTIONS",
        "presence" | "search" | "export" => "GET, OPTIONS",
        read if read.starts_with("read/") => "GET, OPTIONS",
        reacting if reaction_path(reacting) => "POST, OPTIONS",
        _ => return Err(not_found()),
    };
    Ok((room, endpoint, allow))
}

/// `messages/<id>/reactions`, for an id of the shape messages have.
fn reaction_path(endpoint: &str) -> bool {
    let id = endpoint
        .strip_prefix("messages/")
        .and_then(|rest| rest.strip_suffix("/reactions"));
    id.and_then(StoredMessage::seq_of_id).is_some()
}

fn method_not_allowed(path: &str, method: &str, allow: &'static str) -> HttpRefusal {
    let message = format!(
        "{path} does not take {}; it takes {allow}",
        printable(method)
    );
    HttpRefusal {
        allow: Some(allow),
        ..HttpRefusal::json(405, "method_not_allowed", message)
    }
}

/// A bounded, printable copy of request text for a readable message.
fn printable(text: &str) -> String {
    text.chars().take(80).filter(|c| !c.is_control()).collect()
}

/// A whole-number query parameter, or a readable 400.
fn number(key: &str, value: &str) -> Result<u64, HttpRefusal> {
    value.parse::<u64>().map_err(|_| {
        bad_request(format!(
            "{key} must be a whole number, not {:?}",
            printable(value)
        ))
    })
}

/// A `limit` of 1 to `max`.
fn bounded_limit(value: &str, max: u64) -> Result<u64, HttpRefusal> {
    match number("limit", value)? {
        n @ 1.. if n <= max => Ok(n),
        n => Err(bad_request(format!("limit must be 1 to {max}, not {n}"))),
    }
}

fn list_query(query: &[(String, String)]) -> Result<Call, HttpRefusal> {
    let (mut since, mut limit, mut before, mut epoch) = (None, None, None, None);
    for (key, value) in query {
        match key.as_str() {
            "since" => since = Some(number(key, value)?),
            "epoch" => epoch = Some(value.clone()),
            "before" => before = Some(number(key, value)?),
            "limit" => limit = Some(bounded_limit(value, MAX_PAGE)?),
            // Unknown parameters are ignored, as on sockets.
            _ => {}
        }
    }
    if since.is_some() && before.is_some() {
        return Err(bad_request(
            "give since (catch up, oldest first) or before (scroll back), not both",
        ));
    }
    Ok(Call::ListMessages {
        since,
        limit,
        before,
        epoch,
    })
}

fn search_query(query: &[(String, String)]) -> Result<Call, HttpRefusal> {
    let (mut q, mut before, mut limit) = (None, None, PAGE_DEFAULT);
    for (key, value) in query {
        match key.as_str() {
            "q" => q = Some(value.clone()),
            "before" => before = Some(number(key, value)?),
            "limit" => limit = bounded_limit(value, SCROLLBACK_PAGE_MAX)?,
            _ => {}
        }
    }
    let q = q.ok_or_else(|| bad_request("search needs q, the words to look for"))?;
    SearchQuery::parse(&q).map_err(|r| HttpRefusal::from_refusal(&r))?;
    Ok(Call::Search { q, before, limit })
}

/// The headers of a preflight answer.
pub fn preflight_headers(allow: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("Access-Control-Allow-Methods", allow),
        ("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS),
        ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECS),
    ]
}

/// A POST's body, each field validated like its socket counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBody {
    pub message: String,
    pub client_msg_id: Option<String>,
    /// Who to speak as: a service token's choice, or anyone's in open mode.
    pub client_id: Option<String>,
    pub name: Option<String>,
    /// The id of the message this one answers.
    pub reply_to: Option<String>,
    /// A reaction's emoji (checked), for `POST …/reactions`.
    pub emoji: Option<String>,
}

#[derive(Deserialize)]
struct RawPost {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
    #[serde(rename = "clientMsgId", default)]
    client_msg_id: Option<String>,
    #[serde(rename = "clientId", default)]
    client_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "replyTo", default)]
    reply_to: Option<String>,
}

/// Whether a body this long may be read at all.
pub fn body_fits(len: usize) -> Result<(), HttpRefusal> {
    if len > MAX_BODY_BYTES {
        return Err(body_too_large(&format!("{len} bytes")));
    }
    Ok(())
}

fn body_too_large(size: &str) -> HttpRefusal {
    HttpRefusal::json(
        413,
        "body_too_large",
        format!("the body is {size}; the limit is {MAX_BODY_BYTES} bytes"),
    )
}

/// A body read from its stream piece by piece, and refused as soon as it
/// would pass [`MAX_BODY_BYTES`], whatever `Content-Length` said or if it
/// said nothing: an endless chunked body then costs the isolate at most
/// the limit, never the whole upload.
#[derive(Debug, Default)]
pub struct CappedBody {
    bytes: Vec<u8>,
}

impl CappedBody {
    /// Whether `more` bytes still fit; asked before a piece is copied in.
    pub fn fits(&self, more: usize) -> Result<(), HttpRefusal> {
        if self.bytes.len().saturating_add(more) > MAX_BODY_BYTES {
            return Err(body_too_large(&format!(
                "over {MAX_BODY_BYTES} bytes (reading stopped there)"
            )));
        }
        Ok(())
    }

    /// Takes the next piece, or refuses the body if it would not fit.
    pub fn push(&mut self, piece: &[u8]) -> Result<(), HttpRefusal> {
        self.fits(piece.len())?;
        self.bytes.extend_from_slice(piece);
        Ok(())
    }

    /// The body as text; bytes that are not UTF-8 read as U+FFFD, as
    /// `Request.text()` reads them.
    pub fn text(self) -> String {
        String::from_utf8(self.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// Reads a POST body: 415 unless it is declared and parses as JSON, 400
/// if its fields are missing, mistyped or invalid. Unknown fields are
/// ignored, so newer clients work with older servers.
pub fn parse_post(
    content_type: Option<&str>,
    body: &str,
    call: &Call,
) -> Result<PostBody, HttpRefusal> {
    body_fits(body.len())?;
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(HttpRefusal::json(
            415,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let raw: RawPost = serde_json::from_str(body).map_err(|err| match err.classify() {
        // Well-formed JSON of the wrong shape; anything else is not JSON.
        serde_json::error::Category::Data => {
            bad_request(format!("the body must be a JSON object: {err}"))
        }
        _ => HttpRefusal::json(415, "not_json", "the body is not valid JSON"),
    })?;
    let invalid = |why: validate::Invalid| bad_request(why.0);
    let (message, emoji) = match call {
        Call::React { .. } => {
            let emoji = raw
                .emoji
                .ok_or_else(|| bad_request("a reaction needs \"emoji\""))?;
            validate::reaction(&emoji).map_err(invalid)?;
            (String::new(), Some(emoji))
        }
        _ => {
            let message = raw.message.ok_or_else(|| {
                bad_request("the body must be an object with a string \"message\"")
            })?;
            (message, None)
        }
    };
    if let Some(id) = &raw.client_msg_id {
        validate::client_msg_id(id).map_err(invalid)?;
    }
    if let Some(id) = &raw.client_id {
        validate::client_id(id).map_err(invalid)?;
    }
    let name = match raw.name {
        Some(name) => Some(validate::display_name(&name).map_err(invalid)?),
        None => None,
    };
    Ok(PostBody {
        message,
        emoji,
        client_msg_id: raw.client_msg_id,
        client_id: raw.client_id,
        name,
        reply_to: raw.reply_to,
    })
}

/// Who a POST speaks as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speaker {
    pub client_id: String,
    pub name: Option<String>,
}

/// In token mode (`who` from a verified token) the sender is the token's
/// `sub` and name; only a `service` token may name another sender or name
/// in the body. In open mode the body's `clientId` (else
/// [`OPEN_MODE_SENDER`]) and `name`, the same trust a socket's path gets.
pub fn speaker(who: &Identity, post: &PostBody) -> Result<Speaker, HttpRefusal> {
    let Some(sub) = &who.client_id else {
        return Ok(Speaker {
            client_id: post.client_id.clone().unwrap_or(OPEN_MODE_SENDER.into()),
            name: post.name.clone(),
        });
    };
    let overrides = post.client_id.is_some() || post.name.is_some();
    if overrides && who.role != Role::Service {
        return Err(HttpRefusal::json(
            403,
            "service_only",
            "only a service token may set clientId or name; a member speaks as its token's sub",
        ));
    }
    Ok(Speaker {
        client_id: post.client_id.clone().unwrap_or_else(|| sub.clone()),
        name: post.name.clone().or_else(|| who.name.clone()),
    })
}

/// Everyone a call acts as, each with the role it acts with, for the
/// room's bans: the token's subject, whatever the call (a banned member
/// reads nothing, as its socket would get nothing), and a post's sender
/// when that is someone else (a service speaking as a bot, or anyone in
/// open mode), as a member.
pub fn acting_as<'a>(who: &'a Identity, speaker: Option<&'a Speaker>) -> Vec<(&'a str, Role)> {
    let caller = who.client_id.as_deref().map(|sub| (sub, who.role));
    let sender = speaker
        .map(|s| s.client_id.as_str())
        .filter(|&id| Some(id) != who.client_id.as_deref())
        .map(|id| (id, Role::Member));
    caller.into_iter().chain(sender).collect()
}

/// The key a call's rate is limited by: the token's subject in token mode
/// (a service speaking as several senders still has one budget); in open
/// mode the caller's `address` ([`crate::access::address::key`]), never
/// the id a post claims, which costs nothing to change for every post.
pub fn rate_subject(who: &Identity, address: &str) -> String {
    match &who.client_id {
        Some(sub) => format!("sub:{sub}"),
        None => format!("ip:{address}"),
    }
}

/// Per-subject token buckets of one room, at the socket's rate and burst.
#[derive(Debug, Default)]
pub struct SubjectBuckets {
    buckets: HashMap<String, (TokenBucket, u64)>,
}

impl SubjectBuckets {
    /// Takes one call from `subject`'s bucket, or says when to retry.
    pub fn take(
        &mut self,
        subject: &str,
        now: u64,
        rate: u32,
        burst: u32,
    ) -> Result<(), HttpRefusal> {
        if self.buckets.len() >= MAX_TRACKED_SUBJECTS && !self.buckets.contains_key(subject) {
            self.make_room(now);
        }
        let (bucket, last) = self
            .buckets
            .entry(subject.to_owned())
            .or_insert_with(|| (TokenBucket::full(burst, now), now));
        *last = now;
        let retry_after_ms = match bucket.take(now, rate, burst) {
            Verdict::Allow => return Ok(()),
            Verdict::Limit { retry_after_ms } => retry_after_ms,
            // An HTTP caller cannot be disconnected; it waits a token.
            Verdict::Disconnect => 1000 / u64::from(rate.max(1)),
        };
        let secs = retry_after_ms.div_ceil(1000).max(1);
        Err(HttpRefusal {
            retry_after_secs: Some(secs),
            ..HttpRefusal::json(
                429,
                "rate_limited",
                format!("too many calls; at most {rate} a second (bursts of {burst}); retry in {secs} s"),
            )
        })
    }

    /// Forgets idle subjects, and if none was idle, the one quiet longest:
    /// the map never passes [`MAX_TRACKED_SUBJECTS`], however many keys a
    /// caller brings. A forgotten subject only comes back to a full
    /// bucket, as in a new room.
    fn make_room(&mut self, now: u64) {
        let buckets = &mut self.buckets;
        buckets.retain(|_, (_, last)| now.saturating_sub(*last) < FORGET_IDLE_BUCKET_MS);
        if buckets.len() >= MAX_TRACKED_SUBJECTS {
            let quietest = buckets.iter().min_by_key(|(_, (_, last))| *last);
            if let Some(subject) = quietest.map(|(subject, _)| subject.clone()) {
                buckets.remove(&subject);
            }
        }
    }

    /// Whether `subject` has a bucket.
    pub fn tracks(&self, subject: &str) -> bool {
        self.buckets.contains_key(subject)
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// `GET messages`: the same messages (tombstones and edits as they are
/// now) and change frames a socket's `history` frame carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesPage {
    pub messages: Vec<KeptLine>,
    /// `delete` and `edit` frames for messages at or before `since` that
    /// changed after it, in `seq` order.
    pub changes: Vec<ServerFrame>,
    pub latest_seq: u64,
    pub truncated: bool,
    /// The room's history epoch; `reset` when `since` came from another.
    pub epoch: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// With `before`: older messages lie beyond this page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub more: Option<bool>,
}

/// The page after `since` (or the newest), at most `limit` (default: the
/// room's history window) long, chosen as a reconnecting socket's is but
/// free to go on past it; or with `before`, a page of scrollback.
pub fn messages_page<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    (since, limit, before): (Option<u64>, Option<u64>, Option<u64>),
    (epoch, me): (Option<&str>, Option<&str>),
) -> Result<MessagesPage, HttpRefusal> {
    let limit = limit.unwrap_or(ctx.config.history_limit);
    let failed = |e| HttpRefusal::from_refusal(&Refusal::Storage(e));
    if before.is_some() {
        let page = scrollback::older(ctx.store, before, limit)
            .map_err(|r| HttpRefusal::from_refusal(&r))?;
        return Ok(MessagesPage {
            messages: kept_lines(ctx.store, &page.messages, me).map_err(failed)?,
            changes: Vec::new(),
            latest_seq: ctx.store.latest_seq().map_err(failed)?,
            truncated: false,
            epoch: ctx.store.epoch().map_err(failed)?,
            reset: false,
            more: Some(page.more),
        });
    }
    let page = history::catch_up(ctx.store, (since, epoch), limit, Reach::Page).map_err(failed)?;
    let changes = kept::change_frames(ctx.store, &page, me, ctx.now).map_err(failed)?;
    Ok(MessagesPage {
        messages: kept_lines(ctx.store, &page.messages, me).map_err(failed)?,
        changes,
        latest_seq: page.latest_seq,
        truncated: page.truncated,
        epoch: page.epoch,
        reset: page.reset,
        more: None,
    })
}

/// `GET search`: hits newest first, as they are now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchPage {
    pub messages: Vec<KeptLine>,
    /// More hits lie before the last one's `seq`.
    pub more: bool,
}

pub fn search_page<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    (q, before, limit): (&str, Option<u64>, u64),
    me: Option<&str>,
) -> Result<SearchPage, HttpRefusal> {
    let refused = |r: Refusal| HttpRefusal::from_refusal(&r);
    let query = SearchQuery::parse(q).map_err(refused)?;
    let page = scrollback::search(ctx.store, &query, before, limit).map_err(refused)?;
    let messages = kept_lines(ctx.store, &page.messages, me);
    Ok(SearchPage {
        messages: messages.map_err(|e| refused(Refusal::Storage(e)))?,
        more: page.more,
    })
}

/// Who may export a room's history: its moderators and backends (a
/// service token). A member reads history a page at a time; an export is
/// the room's whole record, for those who keep records.
pub fn may_export(who: &Identity) -> Result<(), HttpRefusal> {
    match who.role {
        Role::Moderator | Role::Service => Ok(()),
        Role::Member => Err(HttpRefusal::json(
            403,
            "export_forbidden",
            "exporting a room needs a moderator's or a service token",
        )),
    }
}

/// `POST messages/<id>/reactions`: the reaction toggled, and what the
/// room then sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Reacted {
    pub answer: ReactedAnswer,
    pub deliveries: Vec<Delivery>,
}

/// What the caller learns: whether its reaction is now on, under which
/// `seq`, and the message's reactions after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactedAnswer {
    pub on: bool,
    pub seq: u64,
    pub reactions: Vec<crate::wire::protocol::ReactionCount>,
}

/// The session an API call acts as: `speaker`, on no socket.
fn speaker_session(speaker: &Speaker, room_name: &str, now: u64) -> Session {
    let joining = Joining {
        client_id: &speaker.client_id,
        name: speaker.name.as_deref(),
        room: room_name,
        batch: false,
        receipts: false,
    };
    Session::new(joining, API_CONN, now)
}

/// Toggles `speaker`'s reaction on message `id`, by the socket's rule.
pub fn react<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    speaker: &Speaker,
    (room_name, id): (&str, &str),
    emoji: String,
) -> Result<Reacted, HttpRefusal> {
    let session = speaker_session(speaker, room_name, ctx.now);
    let deliveries =
        reactions::react(ctx, &session, id, emoji).map_err(|r| HttpRefusal::from_refusal(&r))?;
    let answer = match deliveries.first().map(|d| &d.frame) {
        Some(ServerFrame::Reaction(r)) => ReactedAnswer {
            on: r.on,
            seq: r.seq,
            reactions: r.reactions.clone(),
        },
        _ => return Err(HttpRefusal::from_refusal(&Refusal::Internal)),
    };
    Ok(Reacted { answer, deliveries })
}

/// `GET read/<client_id>`: the pointer and unread count of one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadAnswer {
    pub client_id: String,
    #[serde(flatten)]
    pub read: ReadState,
}

/// Who may read a person's read state: that person, a moderator and a
/// backend; in open mode anyone, as anyone may speak as anyone.
pub fn may_read_state(who: &Identity, client_id: &str) -> Result<(), HttpRefusal> {
    let own = who.client_id.as_deref().is_none_or(|me| me == client_id);
    match (own, who.role) {
        (true, _) | (_, Role::Moderator | Role::Service) => Ok(()),
        _ => Err(HttpRefusal::json(
            403,
            "read_forbidden",
            "a member may read only its own read state",
        )),
    }
}

pub fn read_answer<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    who: &Identity,
    client_id: &str,
) -> Result<ReadAnswer, HttpRefusal> {
    may_read_state(who, client_id)?;
    let read = read_state::of(ctx.store, client_id)
        .map_err(|e| HttpRefusal::from_refusal(&Refusal::Storage(e)))?;
    Ok(ReadAnswer {
        client_id: client_id.to_owned(),
        read,
    })
}

/// One line of an export: a kept message as history shows it, then a
/// newline.
pub fn export_line(message: &KeptLine) -> String {
    let mut line = serde_json::to_string(message).unwrap_or_default();
    line.push('\n');
    line
}

/// `GET presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceAnswer {
    pub members: Vec<Member>,
    pub count: usize,
    /// Relay objects holding the room's sockets; 0 for one object.
    pub relays: usize,
}

pub fn presence<'a>(
    sessions: impl IntoIterator<Item = &'a Session>,
    relays: usize,
) -> PresenceAnswer {
    let members = presence::members(sessions);
    PresenceAnswer {
        count: members.len(),
        members,
        relays,
    }
}

/// `POST messages`: where the message was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Posted {
    pub seq: u64,
    pub id: String,
}

/// A POST the room accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub posted: Posted,
    /// False when `clientMsgId` named a message already stored: answered
    /// 200 with the original, and nothing is sent.
    pub created: bool,
    /// What the room hears, for the send plan.
    pub deliveries: Vec<Delivery>,
}

impl Accepted {
    pub fn status(&self) -> u16 {
        if self.created {
            201
        } else {
            200
        }
    }
}

/// Stores and announces a posted message through the socket's own rule,
/// [`room::chat`]: same checks, same dedupe by (sender, `clientMsgId`),
/// same frame. The `ack` it makes for a socket becomes the HTTP answer.
pub fn post<S: HistoryStore>(
    ctx: &mut Ctx<'_, S>,
    speaker: &Speaker,
    room_name: &str,
    body: PostBody,
) -> Result<Accepted, HttpRefusal> {
    let session = speaker_session(speaker, room_name, ctx.now);
    let draft = room::Draft {
        text: body.message,
        client_msg_id: body.client_msg_id,
        reply_to: body.reply_to,
    };
    let deliveries = room::chat(ctx, &session, draft).map_err(|r| HttpRefusal::from_refusal(&r))?;
    let (posted, created) = posted(&deliveries);
    let posted = posted.ok_or_else(|| HttpRefusal::from_refusal(&Refusal::Internal))?;
    Ok(Accepted {
        posted,
        created,
        // The ack was for a socket; an HTTP caller gets the answer instead.
        deliveries: deliveries
            .into_iter()
            .filter(|d| d.to != Audience::Sender)
            .collect(),
    })
}

/// The message a post's deliveries name, and whether it is new: a new
/// message is broadcast, a resend only acknowledged.
fn posted(deliveries: &[Delivery]) -> (Option<Posted>, bool) {
    let mut posted = None;
    for d in deliveries {
        match &d.frame {
            ServerFrame::Message(m) => {
                let (seq, id) = (m.seq, m.id.clone());
                return (Some(Posted { seq, id }), true);
            }
            ServerFrame::Ack(a) if posted.is_none() => {
                let (seq, id) = (a.seq, a.id.clone());
                posted = Some(Posted { seq, id });
            }
            _ => {}
        }
    }
    (posted, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::config::Config;
    use crate::store::history::MemoryHistory;

    const OWN: &str = "https://chat.example";
    const NOW: u64 = 1_700_000_000_000;

    fn head<'a>(method: &'a str, path: &'a str, query: &'a [(String, String)]) -> RequestHead<'a> {
        RequestHead {
            method,
            path,
            query,
            upgrade: None,
            origin: None,
            own_origin: OWN,
        }
    }

    fn routed(method: &str, path: &str) -> Result<ApiRoute, HttpRefusal> {
        route(head(method, path, &[]), &[])
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn open_who() -> Identity {
        Identity {
            client_id: None,
            name: None,
            role: Role::Member,
            expires: None,
        }
    }

    fn token_who(sub: &str, role: Role) -> Identity {
        Identity {
            client_id: Some(sub.into()),
            name: Some("Token Name".into()),
            role,
            expires: Some(NOW / 1000 + 60),
        }
    }

    fn body(message: &str) -> PostBody {
        PostBody {
            message: message.into(),
            client_msg_id: None,
            client_id: None,
            name: None,
            reply_to: None,
            emoji: None,
        }
    }

    #[test]
    fn a_reaction_is_posted_to_its_message_and_its_body_checked() {
        let reacting = routed("POST", "/api/rooms/team/messages/m4-1a/reactions");
        assert!(
            matches!(reacting, Ok(ApiRoute::Call { call: Call::React { ref id }, .. }) if id == "m4-1a")
        );
        assert_eq!(
            routed("GET", "/api/rooms/team/messages/m4-1a/reactions")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(
            routed("POST", "/api/rooms/team/messages/zz/reactions")
                .unwrap_err()
                .status,
            404
        );
        let call = Call::React { id: "m4-1a".into() };
        let json = Some("application/json");
        let ok = parse_post(json, r#"{"emoji":"👍"}"#, &call).unwrap();
        assert_eq!(ok.emoji.as_deref(), Some("👍"));
        for bad in [r#"{}"#, r#"{"emoji":"👍👍"}"#, r#"{"emoji":"hi"}"#] {
            assert_eq!(
                parse_post(json, bad, &call).unwrap_err().status,
                400,
                "{bad}"
            );
        }
        let mut r = room();
        post(&mut r.ctx(), &bot(), "team", body("vote")).unwrap();
        let id = r.store.get(1).unwrap().unwrap().id();
        let on = react(&mut r.ctx(), &bot(), ("team", &id), "👍".into()).unwrap();
        assert_eq!(
            (on.answer.on, on.answer.seq, on.answer.reactions.len()),
            (true, 2, 1)
        );
        assert_eq!(on.deliveries[0].to, Audience::Batching);
        let off = react(&mut r.ctx(), &bot(), ("team", &id), "👍".into()).unwrap();
        assert!(!off.answer.on && off.answer.reactions.is_empty());
    }

    #[test]
    fn each_endpoint_and_method_routes_to_its_call() {
        let call = |m, p| match routed(m, p) {
            Ok(ApiRoute::Call { room, call }) => (room, call),
            other => panic!("{m} {p}: {other:?}"),
        };
        assert_eq!(
            call("GET", "/api/rooms/team/messages"),
            (
                "team".into(),
                Call::ListMessages {
                    since: None,
                    limit: None,
                    before: None,
                    epoch: None,
                }
            )
        );
        assert_eq!(call("GET", "/api/rooms/team/export").1, Call::Export);

        assert_eq!(
            call("POST", "/api/rooms/team/messages").1,
            Call::PostMessage
        );
        assert_eq!(call("GET", "/api/rooms/team/presence").1, Call::Presence);
        assert_eq!(
            routed("OPTIONS", "/api/rooms/team/presence"),
            Ok(ApiRoute::Preflight {
                allow: "GET, OPTIONS"
            })
        );
    }

    #[test]
    fn unknown_endpoints_are_404_and_other_methods_405_with_allow() {
        for path in ["/api", "/api/rooms/team", "/api/rooms/team/other", "/api/x"] {
            assert_eq!(routed("GET", path).unwrap_err().status, 404, "{path}");
        }
        let refused = routed("DELETE", "/api/rooms/team/messages").unwrap_err();
        assert_eq!(
            (refused.status, refused.allow),
            (405, Some("GET, POST, OPTIONS"))
        );
        let refused = routed("POST", "/api/rooms/team/presence").unwrap_err();
        assert_eq!((refused.status, refused.allow), (405, Some("GET, OPTIONS")));
    }

    #[test]
    fn a_bad_room_name_is_400_with_the_reason() {
        let refused = routed("GET", "/api/rooms/Team/messages").unwrap_err();
        assert_eq!(refused.status, 400);
        assert!(
            refused.message.contains("lower case"),
            "{}",
            refused.message
        );
    }

    #[test]
    fn since_and_limit_are_read_and_bounded() {
        let list = |pairs: &[(&str, &str)]| {
            let query = q(pairs);
            route(head("GET", "/api/rooms/r/messages", &query), &[])
        };
        assert_eq!(
            list(&[("since", "5"), ("limit", "1000")]),
            Ok(ApiRoute::Call {
                room: "r".into(),
                call: Call::ListMessages {
                    since: Some(5),
                    limit: Some(1000),
                    before: None,
                    epoch: None,
                }
            })
        );
        assert!(matches!(
            list(&[("before", "9")]),
            Ok(ApiRoute::Call {
                call: Call::ListMessages {
                    before: Some(9),
                    ..
                },
                ..
            })
        ));
        let both = list(&[("since", "1"), ("before", "9")]).unwrap_err();
        assert_eq!(both.status, 400);
        assert!(both.message.contains("not both"), "{}", both.message);
        for bad in [
            [("limit", "0")],
            [("limit", "1001")],
            [("since", "-1")],
            [("limit", "x")],
        ] {
            assert_eq!(list(&bad).unwrap_err().status, 400, "{bad:?}");
        }
    }

    #[test]
    fn pages_of_the_own_origin_and_allowed_origins_only_may_call() {
        let allowed = ["https://partner.example".to_owned()];
        let from = |origin| {
            let h = RequestHead {
                origin: Some(origin),
                ..head("OPTIONS", "/api/rooms/r/messages", &[])
            };
            route(h, &allowed)
        };
        assert!(from(OWN).is_ok());
        assert!(from("https://partner.example/").is_ok());
        for origin in ["https://evil.example", "http://localhost:8787", "null"] {
            assert_eq!(from(origin).unwrap_err().status, 403, "{origin}");
        }
    }

    #[test]
    fn bodies_must_be_declared_json_and_fit() {
        let json = Some("application/json; charset=utf-8");
        assert_eq!(
            parse_post(json, r#"{"message":"hi"}"#, &Call::PostMessage),
            Ok(body("hi"))
        );
        assert_eq!(
            parse_post(None, r#"{"message":"hi"}"#, &Call::PostMessage)
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            parse_post(Some("text/plain"), "hi", &Call::PostMessage)
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            parse_post(json, "{oops", &Call::PostMessage)
                .unwrap_err()
                .code,
            "not_json"
        );
        assert_eq!(
            parse_post(json, r#"{"text":"hi"}"#, &Call::PostMessage)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_post(json, r#"{"message":5}"#, &Call::PostMessage)
                .unwrap_err()
                .status,
            400
        );
        let big = format!(r#"{{"message":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        assert_eq!(
            parse_post(json, &big, &Call::PostMessage)
                .unwrap_err()
                .status,
            413
        );
        assert!(body_fits(MAX_BODY_BYTES).is_ok());
        assert_eq!(body_fits(MAX_BODY_BYTES + 1).unwrap_err().status, 413);
    }

    #[test]
    fn a_streamed_body_is_refused_at_the_first_piece_past_the_limit() {
        let mut body = CappedBody::default();
        let piece = vec![b'x'; 16 * 1024];
        for _ in 0..MAX_BODY_BYTES / piece.len() {
            body.push(&piece).unwrap();
        }
        assert!(body.fits(0).is_ok(), "exactly the limit is read");
        let refused = body.push(b"y").unwrap_err();
        assert_eq!((refused.status, refused.code), (413, "body_too_large"));
        assert!(refused.message.contains("65536"), "{}", refused.message);
        assert_eq!(
            body.text().len(),
            MAX_BODY_BYTES,
            "the refused piece is not kept"
        );
        let mut odd = CappedBody::default();
        odd.push(&[b'{', 0xff, b'}']).unwrap();
        assert_eq!(odd.text(), "{\u{fffd}}");
    }

    #[test]
    fn body_ids_and_names_are_validated_like_a_sockets() {
        let json = Some("application/json");
        for bad in [
            r#"{"message":"m","clientMsgId":"a b"}"#,
            r#"{"message":"m","clientId":"a.b"}"#,
            r#"{"message":"m","name":"a\u202Eb"}"#,
        ] {
            assert_eq!(
                parse_post(json, bad, &Call::PostMessage)
                    .unwrap_err()
                    .status,
                400,
                "{bad}"
            );
        }
        let ok = parse_post(
            json,
            r#"{"message":"m","name":"  Bot ","future":1}"#,
            &Call::PostMessage,
        )
        .unwrap();
        assert_eq!(ok.name.as_deref(), Some("Bot"));
    }

    #[test]
    fn only_a_service_token_may_speak_as_another() {
        let mut post = body("m");
        post.client_id = Some("deploy-bot".into());
        let member = speaker(&token_who("alice", Role::Member), &post).unwrap_err();
        assert_eq!((member.status, member.code), (403, "service_only"));
        let moderator = speaker(&token_who("mo", Role::Moderator), &post).unwrap_err();
        assert_eq!(moderator.status, 403);
        let service = speaker(&token_who("backend", Role::Service), &post).unwrap();
        assert_eq!(service.client_id, "deploy-bot");
        let own = speaker(&token_who("alice", Role::Member), &body("m")).unwrap();
        assert_eq!(
            (own.client_id.as_str(), own.name.as_deref()),
            ("alice", Some("Token Name"))
        );
    }

    #[test]
    fn open_mode_speaks_as_the_body_says_or_as_api() {
        assert_eq!(speaker(&open_who(), &body("m")).unwrap().client_id, "api");
        let mut post = body("m");
        post.client_id = Some("bob".into());
        assert_eq!(speaker(&open_who(), &post).unwrap().client_id, "bob");
    }

    #[test]
    fn no_post_may_speak_as_an_id_the_room_speaks_as() {
        for id in ["server", "Api"] {
            let body = format!(r#"{{"message":"m","clientId":"{id}"}}"#);
            let refusal =
                parse_post(Some("application/json"), &body, &Call::PostMessage).unwrap_err();
            assert_eq!((refusal.status, refusal.code), (400, "bad_request"));
            assert!(
                refusal.message.contains("is reserved"),
                "{}",
                refusal.message
            );
        }
    }

    #[test]
    fn bans_apply_to_the_token_on_every_call_and_to_whoever_a_post_speaks_as() {
        let bot = Speaker {
            client_id: "deploy-bot".into(),
            name: None,
        };
        let alice = token_who("alice", Role::Member);
        let as_alice = Speaker {
            client_id: "alice".into(),
            name: None,
        };
        assert_eq!(acting_as(&alice, None), [("alice", Role::Member)], "a read");
        assert_eq!(
            acting_as(&alice, Some(&as_alice)),
            [("alice", Role::Member)]
        );
        let mo = token_who("mo", Role::Moderator);
        assert_eq!(acting_as(&mo, None), [("mo", Role::Moderator)]);
        let service = token_who("backend", Role::Service);
        assert_eq!(
            acting_as(&service, Some(&bot)),
            [("backend", Role::Service), ("deploy-bot", Role::Member)]
        );
        assert_eq!(acting_as(&open_who(), None), []);
        assert_eq!(
            acting_as(&open_who(), Some(&bot)),
            [("deploy-bot", Role::Member)]
        );
    }

    #[test]
    fn rate_is_per_token_subject_and_in_open_mode_per_address() {
        let service = token_who("backend", Role::Service);
        assert_eq!(rate_subject(&service, "1.2.3.4"), "sub:backend");
        assert_eq!(rate_subject(&open_who(), "1.2.3.4"), "ip:1.2.3.4");
    }

    #[test]
    fn a_subject_over_its_burst_gets_429_with_retry_after() {
        let mut buckets = SubjectBuckets::default();
        for _ in 0..3 {
            assert!(buckets.take("a", NOW, 1, 3).is_ok());
        }
        let limited = buckets.take("a", NOW, 1, 3).unwrap_err();
        assert_eq!((limited.status, limited.retry_after_secs), (429, Some(1)));
        assert!(buckets.take("b", NOW, 1, 3).is_ok(), "another subject");
        assert!(buckets.take("a", NOW + 1000, 1, 3).is_ok(), "refilled");
    }

    #[test]
    fn the_map_never_passes_its_bound_and_forgets_the_quietest_first() {
        let mut buckets = SubjectBuckets::default();
        buckets.take("quiet", NOW, 1000, 1000).unwrap();
        // Twice the bound of new subjects, none idle, while one stays busy.
        for i in 0..2 * MAX_TRACKED_SUBJECTS as u64 {
            let at = NOW + 1 + i;
            buckets.take("busy", at, 1000, 1000).unwrap();
            buckets.take(&format!("ip:{i}"), at, 1000, 1000).unwrap();
            assert!(buckets.len() <= MAX_TRACKED_SUBJECTS, "{}", buckets.len());
        }
        assert_eq!(buckets.len(), MAX_TRACKED_SUBJECTS);
        assert!(buckets.tracks("busy"), "the busiest stays");
        assert!(!buckets.tracks("quiet"), "the quietest went first");
        assert!(!buckets.tracks("ip:0") && buckets.tracks("ip:511"));
    }

    #[test]
    fn idle_subjects_are_forgotten_so_the_map_stays_bounded() {
        let mut buckets = SubjectBuckets::default();
        for i in 0..MAX_TRACKED_SUBJECTS {
            buckets.take(&i.to_string(), NOW, 10, 20).unwrap();
        }
        buckets
            .take("new", NOW + FORGET_IDLE_BUCKET_MS, 10, 20)
            .unwrap();
        assert_eq!(buckets.len(), 1);
    }

    struct Room {
        config: Config,
        store: MemoryHistory,
    }

    impl Room {
        fn ctx(&mut self) -> Ctx<'_, MemoryHistory> {
            Ctx {
                config: &self.config,
                store: &mut self.store,
                now: NOW,
            }
        }
    }

    fn room() -> Room {
        Room {
            config: Config::default(),
            store: MemoryHistory::default(),
        }
    }

    fn bot() -> Speaker {
        Speaker {
            client_id: "deploy-bot".into(),
            name: Some("Deploy Bot".into()),
        }
    }

    #[test]
    fn a_post_is_a_message_for_everyone_and_a_201() {
        let mut r = room();
        let accepted = post(&mut r.ctx(), &bot(), "team", body("Deploy finished")).unwrap();
        assert_eq!(accepted.status(), 201);
        assert_eq!(accepted.posted.seq, 1);
        let [d] = &accepted.deliveries[..] else {
            panic!("{:?}", accepted.deliveries)
        };
        assert_eq!(d.to, Audience::Everyone);
        match &d.frame {
            ServerFrame::Message(m) => {
                assert_eq!(
                    (m.line.client_id.as_str(), m.line.name.as_deref()),
                    ("deploy-bot", Some("Deploy Bot"))
                );
                assert_eq!(m.id, accepted.posted.id);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_same_client_msg_id_is_200_with_the_original_and_sends_nothing() {
        let mut r = room();
        let mut first = body("once");
        first.client_msg_id = Some("c1".into());
        let a = post(&mut r.ctx(), &bot(), "team", first.clone()).unwrap();
        assert_eq!(
            (a.status(), a.deliveries.len()),
            (201, 1),
            "the ack is not sent"
        );
        let b = post(&mut r.ctx(), &bot(), "team", first).unwrap();
        assert_eq!((b.status(), b.posted.clone()), (200, a.posted));
        assert!(b.deliveries.is_empty());
        assert_eq!(r.store.latest_seq().unwrap(), 1);
    }

    #[test]
    fn a_post_meets_the_sockets_message_rules() {
        let mut r = room();
        let empty = post(&mut r.ctx(), &bot(), "team", body("  ")).unwrap_err();
        assert_eq!((empty.status, empty.code), (400, "empty_message"));
        let long = "x".repeat(r.config.max_message_chars + 1);
        let long = post(&mut r.ctx(), &bot(), "team", body(&long)).unwrap_err();
        assert_eq!((long.status, long.code), (400, "message_too_long"));
    }

    #[test]
    fn a_page_is_what_a_reconnecting_socket_gets() {
        let mut r = room();
        for i in 0..5 {
            post(&mut r.ctx(), &bot(), "team", body(&format!("m{i}"))).unwrap();
        }
        let page = messages_page(&mut r.ctx(), (Some(2), Some(2), None), (None, None)).unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.chat.seq).collect();
        assert_eq!(
            (seqs, page.latest_seq, page.truncated),
            (vec![3, 4], 5, false)
        );
        let newest = messages_page(&mut r.ctx(), (None, None, None), (None, None)).unwrap();
        assert_eq!(newest.messages.len(), 5);
        let json = serde_json::to_value(&newest).unwrap();
        assert_eq!(json["latestSeq"], 5);
        assert_eq!(
            json["messages"][0]["type"],
            serde_json::Value::Null,
            "kept lines, as in history"
        );
    }

    #[test]
    fn a_page_before_a_seq_scrolls_back_and_says_whether_there_is_more() {
        let mut r = room();
        for i in 0..5 {
            post(&mut r.ctx(), &bot(), "team", body(&format!("m{i}"))).unwrap();
        }
        let page = messages_page(&mut r.ctx(), (None, Some(2), Some(4)), (None, None)).unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.chat.seq).collect();
        assert_eq!((seqs, page.more), (vec![2, 3], Some(true)));
        let last = messages_page(&mut r.ctx(), (None, Some(2), Some(2)), (None, None)).unwrap();
        assert_eq!((last.messages.len(), last.more), (1, Some(false)));
        let json = serde_json::to_value(&page).unwrap();
        assert_eq!(json["more"], true);
        let plain = messages_page(&mut r.ctx(), (None, None, None), (None, None)).unwrap();
        assert!(serde_json::to_value(&plain).unwrap().get("more").is_none());
    }

    #[test]
    fn search_is_checked_at_the_route_and_pages_newest_first() {
        let routed_search = |query: &str| {
            let pairs: Vec<(String, String)> = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            route(head("GET", "/api/rooms/r/search", &pairs), &[])
        };
        for (bad, code) in [
            ("", "bad_request"),
            ("q=??", "bad_query"),
            ("q=", "bad_query"),
            ("q=x&limit=101", "bad_request"),
            ("q=x&before=y", "bad_request"),
        ] {
            let refused = routed_search(bad).unwrap_err();
            assert_eq!((refused.status, refused.code), (400, code), "{bad}");
        }
        let mut r = room();
        for text in ["ship it", "lunch", "ship again"] {
            post(&mut r.ctx(), &bot(), "team", body(text)).unwrap();
        }
        let hits = search_page(&mut r.ctx(), ("SHIP", None, 1), None).unwrap();
        assert_eq!(hits.messages[0].chat.line.message, "ship again");
        assert!(hits.more);
    }

    #[test]
    fn read_state_is_routed_by_client_id_and_read_by_its_owner_moderators_and_backends() {
        assert_eq!(
            routed("GET", "/api/rooms/team/read/alice"),
            Ok(ApiRoute::Call {
                room: "team".into(),
                call: Call::ReadState {
                    client_id: "alice".into()
                }
            })
        );
        assert_eq!(
            routed("GET", "/api/rooms/team/read/a b")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            routed("POST", "/api/rooms/team/read/alice")
                .unwrap_err()
                .status,
            405
        );
        assert!(may_read_state(&token_who("alice", Role::Member), "alice").is_ok());
        assert!(may_read_state(&token_who("mod", Role::Moderator), "alice").is_ok());
        assert!(may_read_state(&token_who("svc", Role::Service), "alice").is_ok());
        assert!(may_read_state(&open_who(), "alice").is_ok());
        let other = may_read_state(&token_who("bob", Role::Member), "alice").unwrap_err();
        assert_eq!((other.status, other.code), (403, "read_forbidden"));
    }

    #[test]
    fn only_moderators_and_backends_export() {
        assert!(may_export(&token_who("m", Role::Moderator)).is_ok());
        assert!(may_export(&token_who("s", Role::Service)).is_ok());
        let member = may_export(&token_who("a", Role::Member)).unwrap_err();
        assert_eq!((member.status, member.code), (403, "export_forbidden"));
        assert!(
            may_export(&open_who()).is_err(),
            "open mode has no moderators"
        );
    }

    #[test]
    fn an_export_line_is_a_kept_message_and_a_newline() {
        let mut r = room();
        post(&mut r.ctx(), &bot(), "team", body("hi")).unwrap();
        let msg = r.store.get(1).unwrap().unwrap();
        let line = export_line(&msg.to_kept());
        assert!(line.ends_with("}\n") && line.matches('\n').count() == 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            (v["seq"].as_u64(), v["message"].as_str()),
            (Some(1), Some("hi"))
        );
    }

    #[test]
    fn storage_failures_are_503_without_their_cause() {
        let e = HttpRefusal::from_refusal(&Refusal::Storage(crate::wire::error::StoreError(
            "disk".into(),
        )));
        assert_eq!(e.status, 503);
        assert!(!e.body().contains("disk"));
    }

    #[test]
    fn error_bodies_are_code_and_message() {
        let body: serde_json::Value =
            serde_json::from_str(&HttpRefusal::from_denial(&Denial::MissingToken).body()).unwrap();
        assert_eq!(body["error"], "missing_token");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}
