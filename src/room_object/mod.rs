//! The room's Durable Object: a thin adapter that turns platform events into
//! calls on [`crate::room`], asks [`crate::fanout`] how to send what the rules
//! decided, and carries the steps out.
//!
//! It runs on the WebSocket Hibernation API. The runtime may evict the object
//! from memory while its sockets stay open; everything the rules need about a
//! socket is in that socket's attachment and everything about the room is in
//! SQLite, so a woken object rebuilds the room from `getWebSockets()` alone.
//!
//! - `sockets`: the roster of members, rebuilt from the runtime on waking.
//! - `outbox`: the send path's state and the executor of fan-out plans.
//! - `conns`: per-connection state kept in memory only.
//! - `js`: runtime calls workers-rs does not bind.

mod conns;
mod js;
mod outbox;
mod sockets;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::worker_sys::WebSocketRequestResponsePair;
use worker::{
    durable_object, js_sys, web_sys, DurableObject, Env, Request, Response, Result, State,
    WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use crate::coalesce::Coalescer;
use crate::config::Config;
use crate::error::Refusal;
use crate::fanout;
use crate::log::LogLine;
use crate::protocol::{PING, PONG};
use crate::room::{self, Ctx, Outcome};
use crate::routes::{Route, SocketTarget};
use crate::session::{Joining, Session};
use crate::sql_history::SqlHistory;
use crate::worker_entry::{self, emit};
use crate::write_behind::{Buffered, WriteBehind};
use conns::Conns;
use js::now;
use outbox::Outbox;
use sockets::{Found, Sockets};

/// Only `fetch` and `alarm` go through the macro's async exports; the
/// WebSocket handlers are exported synchronously below.
#[durable_object(alarm)]
pub struct ChatRoom {
    state: State,
    config: Config,
    outbox: Rc<Outbox>,
    conns: Conns,
    /// When this instance was created: after a wake-up, the idle clock of
    /// every socket restarts here.
    woke_at: u64,
    /// Whether this instance knows an idle sweep is pending. It saves a
    /// storage read on every join; a new instance starts without it and asks
    /// storage once.
    alarm_pending: Cell<bool>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        if let Err(err) = SqlHistory::new(state.storage().sql()).create_schema() {
            emit(LogLine::error("schema_failed").detail(&err.0));
        }
        // Keep-alive pings are answered by the runtime, never waking the room.
        let pair = WebSocketRequestResponsePair::new(PING, PONG);
        if let Err(err) = pair.and_then(|p| state.as_raw().set_websocket_auto_response(&p)) {
            emit(LogLine::error("auto_response_failed").detail(&format!("{err:?}")));
        }
        let outbox = Outbox {
            // The binding type is not Clone; the JS object behind it is.
            sockets: Sockets::new(JsValue::clone(state.as_raw()).into()),
            sql: state.storage().sql(),
            coalescer: RefCell::new(Coalescer::default()),
            behind: RefCell::new(WriteBehind::default()),
        };
        ChatRoom {
            config: worker_entry::config(&env),
            outbox: Rc::new(outbox),
            conns: Conns::default(),
            woke_at: now(),
            alarm_pending: Cell::new(false),
            state,
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let target = match self.socket_target(&req)? {
            Ok(target) => target,
            Err(refused) => return Ok(refused),
        };
        // Held broadcasts go out before the newcomer is listed: its history
        // already holds them.
        if !self.outbox.flush() {
            return unavailable();
        }
        let pair = WebSocketPair::new()?;
        let session = new_session(&target);
        if let Err(err) = self.outbox.sockets.accept(&pair.server) {
            let line = LogLine::error("accept_failed").room(&session.room);
            emit(line.client(&session.client_id).detail(&format!("{err:?}")));
            return unavailable();
        }
        let outcome = self.join(&pair.server, &session, target.since);
        let admitted = outcome.close.is_none();
        self.carry_out(&pair.server, &session, outcome);
        if admitted {
            self.schedule_idle_check().await;
        }
        Response::from_websocket(pair.client)
    }

    /// Closes sockets that have been silent past the idle timeout, then
    /// checks again while any socket is open.
    async fn alarm(&self) -> Result<Response> {
        self.alarm_pending.set(false);
        let now = now();
        let idle: Vec<(WebSocket, Session)> = (self.outbox.sockets.roster().iter())
            .filter(|m| self.is_idle(&m.socket, &m.session, now))
            .map(|m| (m.socket.clone(), m.session.clone()))
            .collect();
        for (ws, session) in idle {
            self.carry_out(&ws, &session, room::refuse(&Refusal::Idle, now));
        }
        self.schedule_idle_check().await;
        Response::ok("")
    }

    // The runtime calls the synchronous exports below; these keep the trait
    // honest should a workers-rs version export them too.
    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let text = match message {
            WebSocketIncomingMessage::String(text) => Some(text),
            WebSocketIncomingMessage::Binary(_) => None,
        };
        self.on_frame(&ws, text);
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, _: String, _: bool) -> Result<()> {
        self.on_close(&ws, code);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.depart(&ws);
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
        self.depart(&ws.into());
    }
}

impl ChatRoom {
    /// A frame arrived: text, or `None` for a binary frame.
    fn on_frame(&self, ws: &WebSocket, text: Option<String>) {
        let key = match self.outbox.sockets.find(ws) {
            Found::Member(key) => key,
            // Frames the runtime had queued from a socket the room has
            // already closed (a flooder, say) are dropped: closing means not
            // accepted.
            Found::Departed => return,
            Found::Unknown => {
                let outcome = room::refuse(&Refusal::Internal, now());
                return self.carry_out(ws, &Session::unreadable(), outcome);
            }
        };
        let Some(mut session) = self.outbox.sockets.session(key) else {
            return;
        };
        let received_at = now();
        let mut bucket = self.conns.bucket(key, self.config.rate_burst, received_at);
        let mut outcome = self.with_rules(received_at, |ctx| match &text {
            Some(text) => room::receive(ctx, &mut session, &mut bucket, text),
            None => room::receive_binary(ctx, &mut bucket),
        });
        self.conns.record(key, bucket, received_at);
        if outcome.session_changed {
            self.outbox.sockets.update(&session);
            if ws.serialize_attachment(&session).is_err() {
                outcome = room::refuse(&Refusal::Internal, now());
            }
        }
        self.carry_out(ws, &session, outcome);
    }

    fn on_close(&self, ws: &WebSocket, code: usize) {
        // Complete the closing handshake, or the client waits for our close
        // frame and finally sees 1006. Where the runtime already answered
        // (web_socket_auto_reply_to_close), this second close fails
        // harmlessly.
        let _ = ws.close(Some(room::echo_close_code(code)), Some("bye"));
        self.depart(ws);
    }

    /// The Worker already checked the handshake; the object is the trust
    /// boundary, so it checks again. `Err` is the refusal to answer with.
    fn socket_target(&self, req: &Request) -> Result<std::result::Result<SocketTarget, Response>> {
        Ok(match worker_entry::route_request(req, &self.config)? {
            Ok(Route::Socket(
                target @ SocketTarget {
                    client_id: Some(_), ..
                },
            )) => Ok(target),
            Ok(_) => Err(worker_entry::refuse(
                400,
                "The room only accepts WebSockets.\n",
            )?),
            Err(refusal) => Err(worker_entry::refuse(refusal.status, &refusal.body)?),
        })
    }

    /// Admits a newcomer whose socket was just accepted, saving its session,
    /// and says what it and the room are told; `since` is the last message
    /// the client saw.
    fn join(&self, ws: &WebSocket, session: &Session, since: Option<u64>) -> Outcome {
        let open = self.outbox.sockets.roster().len();
        if let Err(refusal) = room::admit(open, &self.config) {
            return room::refuse(&refusal, now());
        }
        if ws.serialize_attachment(session).is_err() {
            return room::refuse(&Refusal::Internal, now());
        }
        self.outbox.sockets.admit(ws, session);
        let roster = self.outbox.sockets.roster();
        let others: Vec<&Session> = roster.sessions_except(session.conn).collect();
        let joined = self.with_rules(now(), |ctx| room::join(ctx, session, &others, since));
        let line = LogLine::info("connected").room(&session.room);
        emit(line.client(&session.client_id).sockets(open + 1));
        joined.map_or_else(|refusal| room::refuse(&refusal, now()), Outcome::deliver)
    }

    /// Runs a rule with the room's settings and storage, where messages a
    /// busy room accepts wait in memory for the next flush.
    fn with_rules<R>(
        &self,
        now: u64,
        rule: impl FnOnce(&mut Ctx<'_, Buffered<'_, SqlHistory>>) -> R,
    ) -> R {
        let mut sql = SqlHistory::new(self.outbox.sql.clone());
        let mut behind = self.outbox.behind.borrow_mut();
        let mut store = behind.over(&mut sql);
        let mut ctx = Ctx {
            config: &self.config,
            store: &mut store,
            now,
        };
        rule(&mut ctx)
    }

    /// Sends what an event decided, in the order [`fanout::plan`] gives,
    /// and closes the event's socket if the rules said so.
    fn carry_out(&self, ws: &WebSocket, session: &Session, outcome: Outcome) {
        for code in outcome.refusal_codes() {
            let line = LogLine::warn("refused").room(&session.room);
            emit(line.client(&session.client_id).code(code));
        }
        let (close, cause) = (outcome.close, outcome.cause);
        let mut coalescer = self.outbox.coalescer.borrow_mut();
        let steps = fanout::plan(
            &session.conn,
            outcome.deliveries,
            close,
            &mut coalescer,
            now(),
        );
        drop(coalescer);
        self.outbox.execute(Some(ws), steps);
        if let Some(close) = close {
            let line = LogLine::warn("closed_by_room").room(&session.room);
            let line = line
                .client(&session.client_id)
                .close(close.code, close.reason);
            emit(match &cause {
                Some(cause) => line.detail(cause),
                None => line,
            });
            self.depart(ws);
        }
    }

    /// Announces a socket's departure once, then forgets it.
    fn depart(&self, ws: &WebSocket) {
        let Some(session) = self.outbox.sockets.depart(ws) else {
            return;
        };
        self.conns.forget(session.conn);
        let roster = self.outbox.sockets.roster();
        let remaining: Vec<&Session> = roster.sessions_except(session.conn).collect();
        let deliveries = room::leave(&session, &remaining, now());
        drop(roster);
        let line = LogLine::info("disconnected").room(&session.room);
        emit(line.client(&session.client_id));
        self.carry_out(ws, &session, Outcome::deliver(deliveries));
        self.outbox.sockets.forget_closed();
    }

    fn is_idle(&self, ws: &WebSocket, session: &Session, now: u64) -> bool {
        let last_frame = self.conns.last_frame(session.conn);
        let baseline = self.woke_at.max(session.joined_at);
        let last_ping = self.outbox.sockets.last_ping(ws);
        let timeout_ms = self.config.idle_timeout_secs * 1000;
        room::is_idle(now, last_frame, last_ping, baseline, timeout_ms)
    }

    /// Sets the next idle sweep half a timeout from now while sockets are
    /// open, so no idle socket outlives its timeout by more than half.
    async fn schedule_idle_check(&self) {
        if self.alarm_pending.get() || self.outbox.sockets.roster().is_empty() {
            return;
        }
        let storage = self.state.storage();
        if matches!(storage.get_alarm().await, Ok(Some(_))) {
            self.alarm_pending.set(true);
            return;
        }
        let half_timeout = std::time::Duration::from_millis(self.config.idle_timeout_secs * 500);
        match storage.set_alarm(half_timeout).await {
            Ok(()) => self.alarm_pending.set(true),
            Err(err) => emit(LogLine::error("alarm_failed").detail(&err.to_string())),
        }
    }
}

/// A new socket's session, with the random key of its in-memory state.
fn new_session(target: &SocketTarget) -> Session {
    let who = Joining {
        client_id: target.client_id.as_deref().unwrap_or_default(),
        name: target.name.as_deref(),
        room: &target.room,
        batch: target.batch,
    };
    let conn = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
    Session::new(who, conn, now())
}

fn unavailable() -> Result<Response> {
    worker_entry::refuse(503, "The room cannot take this connection right now.\n")
}
