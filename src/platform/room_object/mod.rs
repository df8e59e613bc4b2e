//! The room's Durable Object: a thin adapter that turns platform events into
//! calls on [`crate::room`], asks [`crate::send::fanout`] how to send what the rules
//! decided, and carries the steps out.
//!
//! It runs on the WebSocket Hibernation API. The runtime may evict the object
//! from memory while its sockets stay open; everything the rules need about a
//! socket is in that socket's attachment and everything about the room is in
//! SQLite, so a woken object rebuilds the room from `getWebSockets()` alone.
//!
//! - `sockets`: the roster of members, rebuilt from the runtime on waking.
//! - `send_path`: the send path's state and the executor of fan-out plans.
//! - `js`: runtime calls workers-rs does not bind.
//! - `api_calls`: the room's side of the HTTP API.
//! - `export`: the streamed export of a room's history.
//! - `alarm_clock`: the room's one alarm, set one way.
//! - `webhooks`: the webhook outbox: written with the messages, drained by
//!   the alarm.
//! - `relays`: the room's relays: their sockets, seats and queues.
//! - `relay_calls`: what relays ask of the room: to admit a socket, and
//!   the frames their sockets sent.

pub(crate) mod alarm_clock;
mod api_calls;
mod export;
pub(crate) mod js;
mod relay_calls;
mod relays;
pub(crate) mod send_path;
pub(crate) mod sockets;
mod webhooks;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::worker_sys::WebSocketRequestResponsePair;
use worker::{
    durable_object, js_sys, web_sys, DurableObject, Env, Request, Response, Result, State,
    WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use crate::access::address;
use crate::access::auth::Role;
use crate::access::identity::{Identity, Mode};
use crate::platform::entry;
use crate::platform::log::{emit, js_kind};
use crate::platform::respond;
use crate::platform::sqlite::{Db, SqlMessages};
use crate::room::alarm;
use crate::room::moderation::{self, Kick};
use crate::room::rate_limit::TokenBucket;
use crate::room::session::{Joining, Session};
use crate::room::{self, Ctx, Outcome};
use crate::send::coalesce::Coalescer;
use crate::send::flow::MarkKey;
use crate::send::relay::ToRelay;
use crate::send::roster::Connection;
use crate::settings::config::Config;
use crate::store::bans::BanStore;
use crate::store::history::HistoryStore;
use crate::store::retention::{self, Retention};
use crate::store::write_behind::{Buffered, WriteBehind};
use crate::wire::error::StoreError;
use crate::wire::error::{Denial, HttpRefusal, Refusal};
use crate::wire::log_line::LogLine;
use crate::wire::protocol::{self, PING, PONG};
use crate::wire::routes::SocketTarget;
use alarm_clock::AlarmClock;
use js::now;
use relays::Relays;
use send_path::{Peer, SendPath};
use sockets::{Found, Sockets};
use webhooks::Webhooks;

/// Only `fetch` and `alarm` go through the macro's async exports; the
/// WebSocket handlers are exported synchronously below.
#[durable_object(alarm)]
pub struct ChatRoom {
    state: State,
    config: Config,
    /// Open or token mode; the object checks identity again.
    auth: Mode,
    send: Rc<SendPath>,
    /// The one alarm: idle sweep, token expiry, webhook retries.
    clock: Rc<AlarmClock>,
    /// HTTP API callers' rate budgets, by subject.
    api_buckets: RefCell<crate::http::api::SubjectBuckets>,
    /// The alarm is set for when pruning is next due: each pruning step
    /// sets the next, so joins and posts need not ask again.
    retention_armed: Cell<bool>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        let db = Db::new(state.storage().sql());
        if let Err(err) = db.create_schema() {
            emit(LogLine::error("schema_failed").detail(&err.0));
        }
        // Keep-alive pings are answered by the runtime, never waking the room.
        let pair = WebSocketRequestResponsePair::new(PING, PONG);
        if let Err(err) = pair.and_then(|p| state.as_raw().set_websocket_auto_response(&p)) {
            emit(LogLine::error("auto_response_failed").kind(js_kind(&err)));
        }
        let config = entry::config(&env);
        for why in entry::config_problems(&env) {
            emit(LogLine::warn("setting_ignored").detail(&why));
        }
        let clock = Rc::new(AlarmClock::new(state.storage().as_raw()));
        let send = SendPath {
            // The binding type is not Clone; the JS object behind it is.
            sockets: Sockets::new(
                JsValue::clone(state.as_raw()).into(),
                config.flow,
                mark_key(),
            ),
            relays: Relays::new(env.durable_object(relays::RELAYS_BINDING).ok(), config.flow),
            db,
            coalescer: RefCell::new(Coalescer::default()),
            behind: RefCell::new(WriteBehind::default()),
            webhooks: Webhooks::new(&env, &clock),
            tally: RefCell::default(),
            retain_max: config.history_retain_messages,
            crowd: RefCell::default(),
            group_at: config.group_notices_at,
            clock: Rc::clone(&clock),
        };
        if let Some(hooks) = &send.webhooks {
            hooks.resume(&mut send.db.events());
        }
        ChatRoom {
            state,
            config,
            auth: entry::auth_mode(&env),
            send: Rc::new(send),
            clock,
            api_buckets: RefCell::default(),
            retention_armed: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.send.sync_relays(&self.state).await;
        if relay_calls::is_relay_call(&req.path()) {
            return self.relay_call(req).await;
        }
        if crate::http::api::is_api(&req.path()) {
            return self.api(req).await;
        }
        let (target, who) = match self.socket_target(&req)? {
            Ok(admitted) => admitted,
            Err(refused) => return Ok(refused),
        };
        if let Some(placed) = self.place(&target.room)? {
            return Ok(placed);
        }
        // Held broadcasts go out before the newcomer is listed: its history
        // already holds them.
        if !self.send.flush() {
            return unavailable();
        }
        let pair = WebSocketPair::new()?;
        let address = address::key(req.headers().get(address::HEADER)?.as_deref());
        let session = new_session(&target, &who, address);
        if let Err(err) = self.send.sockets.accept(&pair.server) {
            let line = LogLine::error("accept_failed").room(&session.room);
            emit(line.client(&session.client_id).kind(js_kind(&err)));
            return unavailable();
        }
        let since = (target.since, target.epoch.as_deref());
        let here = Peer::Here(&pair.server);
        let outcome = self.join(here, &session, since);
        let admitted = outcome.close.is_none();
        self.carry_out(here, &session, outcome);
        if admitted {
            self.schedule_alarm(session.deadline_ms()).await;
            self.check_retention().await;
        }
        Response::from_websocket(pair.client)
    }

    /// Closes sockets whose token expired or that have been silent past the
    /// idle timeout, delivers due webhook events, then sets the next alarm
    /// for the earliest of what the sockets and the outbox need.
    async fn alarm(&self) -> Result<Response> {
        self.clock.fired();
        self.send.sync_relays(&self.state).await;
        let now = now();
        let mut closing = Vec::new();
        for m in self.send.sockets.roster().iter() {
            if let Some(refusal) = alarm::verdict(&m.session, self.is_idle(m, now), now) {
                closing.push((m.socket.clone(), m.session.clone(), refusal));
            }
        }
        for (ws, session, refusal) in closing {
            self.carry_out(Peer::Here(&ws), &session, room::refuse(&refusal, now));
        }
        let outbox_next = match &self.send.webhooks {
            Some(hooks) => hooks.drain(&mut self.send.db.events()).await,
            None => None,
        };
        let history_next = self.prune_history();
        // Read after the drain, which may take seconds: sockets come and go.
        let sockets_next = self.sockets_next_alarm();
        let wanted = [sockets_next, outbox_next, history_next];
        let wanted = wanted.into_iter().flatten().min();
        if let Some(at) = wanted {
            self.clock.wake_by(at);
        }
        Response::ok("")
    }

    // The runtime calls the synchronous exports below; these keep the trait
    // honest should a workers-rs version export them too.
    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        self.on_frame(&ws, js::text_of(message));
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, _: String, _: bool) -> Result<()> {
        self.on_close(&ws, code);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.send.depart(&ws);
        Ok(())
    }
}

/// The WebSocket handlers, exported as plain functions. The room never
/// awaits while it handles a frame, and an `async` export costs a promise, a
/// microtask and two closures per frame: a third of the room's CPU in a
/// profile of a busy room (BENCHMARKS.md).
#[wasm_bindgen]
impl ChatRoom {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) {
        // A binary frame's bytes are never read: it is refused as binary.
        self.on_frame(&ws.into(), message.as_string());
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(&self, ws: web_sys::WebSocket, code: usize, _: String, _: bool) {
        self.on_close(&ws.into(), code);
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket, _error: JsValue) {
        self.send.depart(&ws.into());
    }
}

impl ChatRoom {
    /// A frame arrived: text, or `None` for a binary frame.
    fn on_frame(&self, ws: &WebSocket, text: Option<String>) {
        let key = match self.send.sockets.find(ws) {
            Found::Member(key) => key,
            // Frames the runtime had queued from a socket the room has
            // already closed (a flooder, say) are dropped: closing means not
            // accepted.
            Found::Departed => return,
            Found::Unknown => {
                let outcome = room::refuse(&Refusal::Internal, now());
                return self.carry_out(Peer::Here(ws), &Session::unreadable(), outcome);
            }
        };
        if self.booked_receipt(key, text.as_deref()) {
            return;
        }
        let Some(session) = self.send.sockets.session(key) else {
            return;
        };
        let bucket = (self.send.sockets).bucket(key, self.config.rate_burst, now());
        self.follow_rules(Peer::Here(ws), session, bucket, text.as_deref());
    }

    /// Runs the rules on a frame from `peer`'s socket, whose saved session
    /// and rate bucket these are, and carries out what they decided.
    fn follow_rules(
        &self,
        peer: Peer<'_>,
        mut session: Session,
        mut bucket: TokenBucket,
        text: Option<&str>,
    ) {
        let received_at = now();
        let mut outcome = self.with_rules(received_at, |ctx| match text {
            Some(text) => room::receive(ctx, &mut session, &mut bucket, text),
            None => room::receive_binary(ctx, &mut bucket),
        });
        let kept = self.keep(
            peer,
            &session,
            bucket,
            (received_at, outcome.session_changed),
        );
        if let Err(refusal) = kept {
            outcome = room::refuse(&refusal, now());
        }
        if let Some(kick) = outcome.kick.take() {
            if let Err(refusal) = self.remove(&kick) {
                outcome = room::refuse(&refusal, now());
            }
        }
        let to_tabs = outcome.to_tabs.take();
        self.carry_out(peer, &session, outcome);
        if let Some(frame) = to_tabs {
            self.to_tabs(&session, frame);
        }
    }

    /// Keeps a socket's rate bucket after a frame that arrived `at`, and its
    /// session if it `changed`: in the attachment of a socket here, with
    /// the relay of one there.
    fn keep(
        &self,
        peer: Peer<'_>,
        session: &Session,
        bucket: TokenBucket,
        (at, changed): (u64, bool),
    ) -> std::result::Result<(), Refusal> {
        let key = session.conn;
        match peer {
            Peer::Here(ws) => {
                self.send.sockets.record(key, bucket, at);
                if changed {
                    self.send.sockets.update(session);
                    ws.serialize_attachment(session)
                        .map_err(|_| Refusal::Internal)?;
                }
            }
            Peer::Relay(index) => {
                let mut members = self.send.relays.members.borrow_mut();
                members.record(key, bucket, at);
                match members.get_mut(key) {
                    Some(member) if changed => member.session = session.clone(),
                    _ => return Ok(()),
                }
                drop(members);
                self.send
                    .tell_relay(index, &ToRelay::Session(session.clone()));
            }
        }
        Ok(())
    }

    /// Books a receipt that frees bytes, outside the rules and the rate
    /// limit: there can be no more of those than frames the room sent. True
    /// if the frame was such a receipt and nothing more is to be done.
    fn booked_receipt(&self, key: u64, text: Option<&str>) -> bool {
        let Some(mark) = text.and_then(protocol::receipt) else {
            return false;
        };
        if !self.send.sockets.receipt(key, mark) {
            return false;
        }
        self.send.sockets.touch(key, now());
        true
    }

    fn on_close(&self, ws: &WebSocket, code: usize) {
        // Complete the closing handshake, or the client waits for our close
        // frame and finally sees 1006. Where the runtime already answered
        // (web_socket_auto_reply_to_close), this second close fails
        // harmlessly.
        let _ = ws.close(Some(room::echo_close_code(code)), Some("bye"));
        self.send.depart(ws);
    }

    /// The Worker already checked the handshake and the identity; the
    /// object is the trust boundary, so it checks both again. `Err` is the
    /// refusal to answer with.
    fn socket_target(
        &self,
        req: &Request,
    ) -> Result<std::result::Result<(SocketTarget, Identity), Response>> {
        let (target, who) = match entry::recheck_socket(req, &self.config, &self.auth)? {
            Ok(checked) => checked,
            Err(refused) => return Ok(Err(refused)),
        };
        let client_id = who.client_id.as_deref().unwrap_or_default();
        let Ok(ban) = self.ban_on(client_id, who.role) else {
            return Ok(Err(unavailable()?));
        };
        Ok(match ban {
            Some(denial) => Err(entry::deny(&denial, &target)?),
            None => Ok((target, who)),
        })
    }

    /// The stored ban that refuses `client_id`, acting with `role`, now, if
    /// any: for a socket and for an API call alike. `Err` when storage
    /// cannot say.
    fn ban_on(
        &self,
        client_id: &str,
        role: Role,
    ) -> std::result::Result<Option<Denial>, StoreError> {
        moderation::ban_on(&mut self.send.db.bans(), client_id, role, now())
    }

    /// Carries out a moderator's kick, unless it names a moderator in the
    /// room ([`moderation::kickable`]): the ban is stored first, so a
    /// reconnect is refused from the moment anyone hears of the kick; then
    /// every socket of the client gets its error frame and close, and the
    /// room its `leave`.
    fn remove(&self, kick: &Kick) -> std::result::Result<(), Refusal> {
        (self.send).with_sessions(None, |all| {
            moderation::kickable(&kick.client_id, all.iter().copied())
        })?;
        (self.send.db.bans())
            .ban(&kick.client_id, kick.until, now())
            .map_err(Refusal::Storage)?;
        let kicked: Vec<(WebSocket, Session)> = (self.send.sockets.roster().iter())
            .filter(|m| m.session.client_id == kick.client_id)
            .map(|m| (m.socket.clone(), m.session.clone()))
            .collect();
        for (ws, session) in kicked {
            self.carry_out(
                Peer::Here(&ws),
                &session,
                room::refuse(&Refusal::Kicked, now()),
            );
        }
        for (index, session) in self.send.relays.of_client(&kick.client_id) {
            let kicked = room::refuse(&Refusal::Kicked, now());
            self.carry_out(Peer::Relay(index), &session, kicked);
        }
        Ok(())
    }

    /// Sends `frame` to every socket of `session`'s client, each as a frame
    /// for it alone, so it keeps its place after what each already holds.
    fn to_tabs(&self, session: &Session, frame: protocol::ServerFrame) {
        let tabs: Vec<(WebSocket, u64)> = (self.send.sockets.roster().iter())
            .filter(|m| m.session.client_id == session.client_id)
            .map(|m| (m.socket.clone(), m.session.conn))
            .collect();
        let there = self.send.relays.of_client(&session.client_id);
        let there = there
            .into_iter()
            .map(|(index, s)| (Peer::Relay(index), s.conn));
        let here = tabs.iter().map(|(ws, key)| (Peer::Here(ws), *key));
        for sender in here.chain(there) {
            let only = room::Delivery {
                to: room::Audience::Sender,
                frame: frame.clone(),
            };
            let sender = (Some(sender.0), sender.1);
            (self.send).deliver(sender, &session.room, vec![only], None);
        }
    }

    /// Admits a newcomer whose socket was just accepted, saving its session,
    /// and says what it and the room are told; `since` is the last message
    /// the client saw.
    fn join(
        &self,
        peer: Peer<'_>,
        session: &Session,
        since: (Option<u64>, Option<&str>),
    ) -> Outcome {
        let admitted = (self.send).with_sessions(None, |all| {
            room::admit(session, all.iter().copied(), &self.config).map(|()| all.len())
        });
        let open = match admitted {
            Ok(open) => open,
            Err(refusal) => return room::refuse(&refusal, now()),
        };
        self.send.relays.learn_room(&session.room);
        match peer {
            Peer::Here(ws) if ws.serialize_attachment(session).is_err() => {
                return room::refuse(&Refusal::Internal, now());
            }
            Peer::Here(ws) => self.send.sockets.admit(ws, session),
            Peer::Relay(index) => self.send.relays.admit(index, session),
        }
        let relays = self.send.relays.seats.borrow().count();
        let joined = self.send.with_sessions(Some(session.conn), |others| {
            self.with_rules(now(), |ctx| {
                room::join(ctx, session, (others, relays), since)
            })
        });
        let line = LogLine::info("connected").room(&session.room);
        emit(line.client(&session.client_id).sockets(open + 1));
        joined.map_or_else(|refusal| room::refuse(&refusal, now()), Outcome::deliver)
    }

    /// Runs a rule with the room's settings and storage, where messages a
    /// busy room accepts wait in memory for the next flush.
    fn with_rules<R>(
        &self,
        now: u64,
        rule: impl FnOnce(&mut Ctx<'_, Buffered<'_, SqlMessages>>) -> R,
    ) -> R {
        let mut sql = self.send.db.messages();
        let mut behind = self.send.behind.borrow_mut();
        let mut store = behind.over(&mut sql);
        let mut ctx = Ctx {
            config: &self.config,
            store: &mut store,
            now,
        };
        let answer = rule(&mut ctx);
        drop(behind);
        self.send.settle();
        answer
    }

    /// Sends what an event decided, in the order [`crate::send::fanout::plan`] gives,
    /// and closes the event's socket if the rules said so.
    fn carry_out(&self, peer: Peer<'_>, session: &Session, outcome: Outcome) {
        for code in outcome.refusal_codes() {
            let line = LogLine::warn("refused").room(&session.room);
            emit(line.client(&session.client_id).code(code));
        }
        let (close, cause) = (outcome.close, outcome.cause);
        let sender = (Some(peer), session.conn);
        (self.send).deliver(sender, &session.room, outcome.deliveries, close);
        if let Some(close) = close {
            let line = LogLine::warn("closed_by_room").room(&session.room);
            let line = line
                .client(&session.client_id)
                .close(close.code, close.reason);
            emit(match &cause {
                Some(cause) => line.detail(cause),
                None => line,
            });
            match peer {
                Peer::Here(ws) => self.send.depart(ws),
                Peer::Relay(_) => self.send.depart_remote(session.conn),
            }
        }
    }

    /// Idle by the connection's own record and the runtime's last answer
    /// to its ping, which only the runtime knows.
    fn is_idle(&self, conn: &Connection<WebSocket>, now: u64) -> bool {
        let last_ping = self.send.sockets.last_ping(&conn.socket);
        let timeout = self.idle_timeout_ms();
        room::is_idle(now, conn.last_frame, last_ping, &conn.session, timeout)
    }

    /// When the sockets next need the alarm: the next idle check or token
    /// deadline, or never while none is open.
    fn sockets_next_alarm(&self) -> Option<u64> {
        let roster = self.send.sockets.roster();
        if roster.is_empty() {
            return None;
        }
        let deadlines = roster.iter().filter_map(|m| m.session.deadline_ms());
        Some(alarm::next(now(), self.idle_timeout_ms(), deadlines))
    }

    /// One bounded pruning step ([`retention::prune_step`]), after
    /// writing and sending what waits. Returns when the next is due.
    fn prune_history(&self) -> Option<u64> {
        let now = now();
        if !self.send.flush() {
            return Some(now + RETRY_PRUNE_MS);
        }
        let retention = Retention::of(&self.config);
        match self.with_rules(now, |ctx| retention::prune_step(ctx.store, retention, now)) {
            Ok(pruned) => {
                self.send.tally.borrow_mut().learned(pruned.kept);
                // An emptied room sets no alarm: the next write arms one.
                self.retention_armed.set(pruned.next.is_some());
                if pruned.count > 0 {
                    let detail = format!("{} pruned, {} kept", pruned.count, pruned.kept);
                    emit(LogLine::info("history_pruned").detail(&detail));
                }
                pruned.next
            }
            Err(err) => {
                emit(LogLine::error("prune_failed").detail(&err.0));
                Some(now + RETRY_PRUNE_MS)
            }
        }
    }

    /// Makes sure the alarm comes when pruning is next due: a room that
    /// only ever hears from the API has no idle sweep to bring it.
    async fn check_retention(&self) {
        if self.retention_armed.get() {
            return;
        }
        let now = now();
        let retention = Retention::of(&self.config);
        let due = self.with_rules(now, |ctx| {
            let oldest = ctx.store.oldest(1)?;
            let kept = ctx.store.kept()?;
            self.send.tally.borrow_mut().learned(kept);
            Ok::<_, StoreError>(retention::first_due(
                retention,
                kept,
                oldest.first().map(|o| o.1),
                now,
            ))
        });
        if let Ok(Some(at)) = due {
            self.clock.learn().await;
            self.clock.wake_by(at);
            self.retention_armed.set(true);
        }
    }

    fn idle_timeout_ms(&self) -> u64 {
        self.config.idle_timeout_secs * 1000
    }

    /// Makes sure the alarm fires by the next idle check and by a newcomer's
    /// token `deadline`, moving a pending alarm up if it is later.
    async fn schedule_alarm(&self, deadline: Option<u64>) {
        if self.send.sockets.roster().is_empty() {
            return;
        }
        self.clock.learn().await;
        self.clock
            .wake_by(alarm::next(now(), self.idle_timeout_ms(), deadline));
    }
}

/// How long a failed pruning step waits before the next try.
const RETRY_PRUNE_MS: u64 = 60_000;

/// A new socket's session, with the random key of its in-memory state and
/// the `address` it connected from.
pub(crate) fn new_session(target: &SocketTarget, who: &Identity, address: String) -> Session {
    let joining = Joining {
        client_id: who.client_id.as_deref().unwrap_or_default(),
        name: who.name.as_deref(),
        room: &target.room,
        batch: target.batch,
        receipts: target.receipts,
    };
    let conn = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
    let mut session = Session::new(joining, conn, now());
    session.role = who.role;
    session.expires = who.expires;
    session.address = address;
    session
}

/// The room's secret for marks. Without the random source (never seen) the
/// clock stands in: marks stay unguessable to a client that cannot time
/// the room's start to the millisecond, and the failure is logged.
pub(crate) fn mark_key() -> MarkKey {
    let (k0, k1) = js::random_key().unwrap_or_else(|| {
        emit(LogLine::error("random_failed"));
        (now(), now().rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15)
    });
    MarkKey(k0, k1)
}

pub(crate) fn unavailable() -> Result<Response> {
    let body = "The room cannot take this connection right now.\n";
    respond::refusal(&HttpRefusal::text(503, "unavailable", body), None)
}
