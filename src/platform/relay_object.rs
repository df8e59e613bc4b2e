//! A relay object: holds some of a big room's sockets for the room
//! ([`crate::send::relay`]). It uses the room's own parts: the same
//! roster, flow books and release code, the same handshake checks, the
//! same idle and token sweep; the rules stay with the room.
//!
//! - A socket arrives from the Worker, placed here by the room. The relay
//!   checks the handshake again, accepts the socket, and asks the room to
//!   admit it; the socket joins the roster when the room's `Admit` arrives
//!   in order, so it never gets a broadcast its history already holds.
//! - A receipt is booked here; every other frame goes to the room, in
//!   order, with the socket's departure after its last frame.
//! - What the room sends (frames, admissions, closes, sessions) is carried
//!   out in the order sent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::worker_sys::WebSocketRequestResponsePair;
use worker::{
    durable_object, web_sys, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use crate::access::address;
use crate::access::identity::Mode;
use crate::platform::entry::{self, ROOMS_BINDING};
use crate::platform::log::{emit, js_kind};
use crate::platform::pipe::{call, Pipe};
use crate::platform::room_object::alarm_clock::AlarmClock;
use crate::platform::room_object::js::{now, send, text};
use crate::platform::room_object::send_path::release;
use crate::platform::room_object::sockets::{session_of, Found, Sockets};
use crate::platform::room_object::{mark_key, new_session, unavailable};
use crate::room::{self, alarm};
use crate::send::flow::{self, Overdrawn};
use crate::send::relay::{
    FromRelay, JoinAsk, ToRelay, FROM_RELAY_PATH, JOIN_PATH, RELAY_HEADER, SYNC_PATH, TO_RELAY_PATH,
};
use crate::settings::config::Config;
use crate::wire::error::{Close, Refusal, INTERNAL_CLOSE, TOO_SLOW_CLOSE};
use crate::wire::log_line::LogLine;
use crate::wire::protocol::{self, PING, PONG};

#[durable_object(alarm)]
pub struct ChatRelay {
    env: Env,
    config: Config,
    auth: Mode,
    sockets: Rc<Sockets>,
    /// Sockets accepted and not yet admitted by the room, with their keys.
    pending: RefCell<Vec<(u64, WebSocket)>>,
    /// Frames and departures for the room, in order.
    to_room: Rc<Pipe>,
    clock: AlarmClock,
    /// This relay's index and its room, learned from the first socket.
    whoami: RefCell<Option<(u32, String)>>,
    woke: Cell<bool>,
}

impl DurableObject for ChatRelay {
    fn new(state: State, env: Env) -> Self {
        let pair = WebSocketRequestResponsePair::new(PING, PONG);
        if let Err(err) = pair.and_then(|p| state.as_raw().set_websocket_auto_response(&p)) {
            emit(LogLine::error("auto_response_failed").kind(js_kind(&err)));
        }
        let config = entry::config(&env);
        let raw: JsValue = JsValue::clone(state.as_raw());
        ChatRelay {
            sockets: Rc::new(Sockets::new(raw.into(), config.flow, mark_key())),
            auth: entry::auth_mode(&env),
            clock: AlarmClock::new(state.storage().as_raw()),
            env,
            config,
            pending: RefCell::default(),
            to_room: Rc::default(),
            whoami: RefCell::default(),
            woke: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        match req.path().as_str() {
            TO_RELAY_PATH => {
                let items: Vec<ToRelay> = req.json().await?;
                // An admission arms the alarm (token expiry, idle sweep),
                // which must not move a sooner one this instance never read.
                self.clock.learn().await;
                items.into_iter().for_each(|item| self.apply(item));
                Response::ok("")
            }
            SYNC_PATH => {
                let roster = self.sockets.roster();
                let sessions: Vec<_> = roster.iter().map(|m| &m.session).collect();
                Response::from_json(&sessions)
            }
            _ => self.upgrade(req).await,
        }
    }

    /// Closes sockets whose token expired or that have been silent past
    /// the idle timeout, as the room does for its own.
    async fn alarm(&self) -> Result<Response> {
        self.clock.fired();
        let (now, timeout) = (now(), self.config.idle_timeout_secs * 1000);
        let roster = self.sockets.roster();
        let closing: Vec<(WebSocket, Refusal)> = (roster.iter())
            .filter_map(|m| {
                let ping = self.sockets.last_ping(&m.socket);
                let idle = room::is_idle(now, m.last_frame, ping, &m.session, timeout);
                alarm::verdict(&m.session, idle, now).map(|r| (m.socket.clone(), r))
            })
            .collect();
        drop(roster);
        for (ws, refusal) in closing {
            let outcome = room::refuse(&refusal, now);
            for delivery in &outcome.deliveries {
                send(&ws, &text(&delivery.frame.to_json()));
            }
            let close = outcome.close.unwrap_or(INTERNAL_CLOSE);
            self.close(&ws, close, outcome.cause.as_deref());
        }
        self.rearm();
        Response::ok("")
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        self.on_frame(&ws, crate::platform::room_object::js::text_of(message));
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, code: usize, _: String, _: bool) -> Result<()> {
        let _ = ws.close(Some(room::echo_close_code(code)), Some("bye"));
        self.depart(&ws);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.depart(&ws);
        Ok(())
    }
}

/// The WebSocket handlers, exported synchronously as the room's are.
#[wasm_bindgen]
impl ChatRelay {
    #[wasm_bindgen(js_name = webSocketMessage)]
    pub fn web_socket_message(&self, ws: web_sys::WebSocket, message: JsValue) {
        self.on_frame(&ws.into(), message.as_string());
    }

    #[wasm_bindgen(js_name = webSocketClose)]
    pub fn web_socket_close(&self, ws: web_sys::WebSocket, code: usize, _: String, _: bool) {
        let ws: WebSocket = ws.into();
        let _ = ws.close(Some(room::echo_close_code(code)), Some("bye"));
        self.depart(&ws);
    }

    #[wasm_bindgen(js_name = webSocketError)]
    pub fn web_socket_error(&self, ws: web_sys::WebSocket, _error: JsValue) {
        self.depart(&ws.into());
    }
}

impl ChatRelay {
    /// The Worker's upgrade, placed here by the room: checked again here
    /// (token, origin), admitted by the room (bans, caps), answered with
    /// the socket or with the room's refusal.
    async fn upgrade(&self, req: Request) -> Result<Response> {
        let (target, who) = match entry::recheck_socket(&req, &self.config, &self.auth)? {
            Ok(checked) => checked,
            Err(refused) => return Ok(refused),
        };
        let index = req.headers().get(RELAY_HEADER)?;
        let Some(index) = index.and_then(|i| i.parse().ok()) else {
            return Response::error("A relay takes sockets the room placed.\n", 400);
        };
        let address = address::key(req.headers().get(address::HEADER)?.as_deref());
        let mut session = new_session(&target, &who, address);
        session.relay = Some(index);
        *self.whoami.borrow_mut() = Some((index, target.room.clone()));
        // Built before the newcomer is accepted, so it is never taken for
        // a member before the room admits it.
        drop(self.sockets.roster());
        let pair = WebSocketPair::new()?;
        let accepted = self.sockets.accept(&pair.server).is_ok();
        if !accepted || pair.server.serialize_attachment(&session).is_err() {
            return unavailable();
        }
        self.pending
            .borrow_mut()
            .push((session.conn, pair.server.clone()));
        let ask = JoinAsk {
            since: target.since,
            epoch: target.epoch.clone(),
            session,
        };
        let joined = match self.room_stub() {
            Some(stub) => call(&stub, JOIN_PATH, serde_json::to_string(&ask)?).await,
            None => Err(worker::Error::RustError("no room".into())),
        };
        match joined {
            Ok(resp) if resp.status_code() == 200 => Response::from_websocket(pair.client),
            answered => {
                self.pending
                    .borrow_mut()
                    .retain(|(_, ws)| ws != &pair.server);
                let _ = pair
                    .server
                    .close(Some(INTERNAL_CLOSE.code), Some(INTERNAL_CLOSE.reason));
                answered.or_else(|_| unavailable())
            }
        }
    }

    /// Carries out one thing the room said, in the order it said them.
    fn apply(&self, item: ToRelay) {
        match item {
            ToRelay::Admit(key) => {
                let mut pending = self.pending.borrow_mut();
                let Some(at) = pending.iter().position(|(k, _)| *k == key) else {
                    return;
                };
                let (_, ws) = pending.swap_remove(at);
                drop(pending);
                if let Some(session) = session_of(&ws) {
                    self.sockets.admit(&ws, &session);
                    // Only now is the newcomer in the roster, so only now
                    // can its token and idle deadlines arm the alarm: the
                    // join call's answer may come before or after this.
                    self.rearm();
                }
            }
            ToRelay::Frames(held) => {
                let mut over = Overdrawn::default();
                release(&mut self.sockets.books(), &held, &mut over, now());
                self.close_overdrawn(over);
            }
            ToRelay::Close { k, code, reason } => {
                let Some(ws) = self.socket(k) else {
                    return;
                };
                let _ = ws.close(Some(code), Some(&reason));
                self.pending.borrow_mut().retain(|(key, _)| *key != k);
                // The room already counts it gone: no `Left` for it.
                self.sockets.depart(&ws);
            }
            ToRelay::Session(session) => {
                if let Some(ws) = self.socket(session.conn) {
                    self.sockets.update(&session);
                    let _ = ws.serialize_attachment(&session);
                }
            }
        }
    }

    /// A member's or a pending socket's object, by key.
    fn socket(&self, key: u64) -> Option<WebSocket> {
        let member = self.sockets.roster().get(key).map(|m| m.socket.clone());
        let pending = self.pending.borrow();
        member.or_else(|| {
            pending
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, ws)| ws.clone())
        })
    }

    fn on_frame(&self, ws: &WebSocket, text: Option<String>) {
        let key = match self.pending_key(ws) {
            // Answered before the room's `Admit` arrived: the room knows it.
            Some(key) => key,
            None => match self.sockets.find(ws) {
                Found::Member(key) => key,
                Found::Departed => return,
                Found::Unknown => {
                    let _ = ws.close(Some(INTERNAL_CLOSE.code), Some(INTERNAL_CLOSE.reason));
                    return;
                }
            },
        };
        let mark = text.as_deref().and_then(protocol::receipt);
        if let Some(mark) = mark {
            if self.sockets.receipt(key, mark) {
                self.sockets.touch(key, now());
                return;
            }
        }
        self.sockets.touch(key, now());
        self.tell_room(&FromRelay::Frame { k: key, t: text });
    }

    fn pending_key(&self, ws: &WebSocket) -> Option<u64> {
        let pending = self.pending.borrow();
        pending.iter().find(|(_, p)| p == ws).map(|(k, _)| *k)
    }

    /// A socket closed or failed: the room hears of it once.
    fn depart(&self, ws: &WebSocket) {
        let (key, session) = match self.pending_key(ws) {
            Some(key) => {
                self.pending.borrow_mut().retain(|(k, _)| *k != key);
                (key, session_of(ws))
            }
            None => match self.sockets.depart(ws) {
                Some(session) => (session.conn, Some(session)),
                None => return,
            },
        };
        self.sockets.forget_closed();
        self.tell_room(&FromRelay::Left { k: key, s: session });
    }

    /// Closes a socket for the room's reason `why`, logged as the room logs
    /// its own closes, and tells the room it left.
    fn close(&self, ws: &WebSocket, close: Close, why: Option<&str>) {
        let _ = ws.close(Some(close.code), Some(close.reason));
        if let Some(session) = session_of(ws) {
            let line = LogLine::warn("closed_by_room").room(&session.room);
            let line = line
                .client(&session.client_id)
                .close(close.code, close.reason);
            emit(match why {
                Some(why) => line.detail(why),
                None => line,
            });
        }
        self.depart(ws);
    }

    /// Closes the sockets a release put over their budget, then, if the
    /// relay is over its own, the plain sockets with the biggest backlogs.
    fn close_overdrawn(&self, over: Overdrawn<u64>) {
        let mut closing: Vec<(u64, &str)> = (over.sockets.into_iter())
            .map(|key| (key, flow::SOCKET_BUDGET))
            .collect();
        if over.room {
            let evicted = self.sockets.books().evict(now());
            closing.extend(evicted.into_iter().map(|key| (key, flow::ROOM_BUDGET)));
        }
        for (key, why) in closing {
            if let Some(ws) = self.socket(key) {
                self.close(&ws, TOO_SLOW_CLOSE, Some(why));
            }
        }
    }

    /// Queues `item` for the room, starting a call if none is in flight.
    fn tell_room(&self, item: &FromRelay) {
        let Ok(json) = serde_json::to_string(item) else {
            return;
        };
        if !self.to_room.push(json) {
            return;
        }
        let (Some((index, _)), Some(stub)) = (self.whoami(), self.room_stub()) else {
            return self.to_room.clear();
        };
        let (pipe, sockets) = (Rc::clone(&self.to_room), Rc::clone(&self.sockets));
        worker::wasm_bindgen_futures::spawn_local(async move {
            while let Some(items) = pipe.next_call().await {
                let body = format!("{{\"relay\":{index},\"items\":{items}}}");
                if call(&stub, FROM_RELAY_PATH, body).await.is_err() {
                    // The room cannot hear these sockets: each client
                    // reconnects, and catches up with `since`.
                    pipe.clear();
                    emit(LogLine::error("room_unreachable"));
                    return sockets.close_all(INTERNAL_CLOSE);
                }
            }
        });
    }

    /// This relay's index and room: from memory, or from any socket's
    /// session after a wake-up.
    fn whoami(&self) -> Option<(u32, String)> {
        if self.whoami.borrow().is_none() && !self.woke.replace(true) {
            let roster = self.sockets.roster();
            let first = roster
                .iter()
                .find_map(|m| Some((m.session.relay?, m.session.room.clone())));
            *self.whoami.borrow_mut() = first;
        }
        self.whoami.borrow().clone()
    }

    fn room_stub(&self) -> Option<worker::Stub> {
        let (_, room) = self.whoami()?;
        let rooms = self.env.durable_object(ROOMS_BINDING).ok()?;
        rooms.get_by_name(&room).ok()
    }

    /// Sets the alarm for the next idle check or token deadline.
    fn rearm(&self) {
        let roster = self.sockets.roster();
        if roster.is_empty() {
            return;
        }
        let deadlines = roster.iter().filter_map(|m| m.session.deadline_ms());
        let timeout = self.config.idle_timeout_secs * 1000;
        self.clock.wake_by(alarm::next(now(), timeout, deadlines));
    }
}
