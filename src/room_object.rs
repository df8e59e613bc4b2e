//! The room's Durable Object: a thin adapter that turns platform events into
//! calls on [`crate::room`] and carries the resulting deliveries out.
//!
//! It runs on the WebSocket Hibernation API. The runtime may evict the object
//! from memory while its sockets stay open; everything the rules need about a
//! socket is in that socket's attachment and everything about the room is in
//! SQLite, so a woken object rebuilds the room from `getWebSockets()` alone.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use wasm_bindgen::prelude::wasm_bindgen as bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::WebSocketRequestResponsePair;
use worker::{
    durable_object, js_sys, wasm_bindgen, web_sys, DurableObject, Env, Request, Response, Result,
    SqlStorage, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use crate::coalesce::{self, Coalescer, Held, Offer, To};
use crate::config::Config;
use crate::error::Refusal;
use crate::log::LogLine;
use crate::protocol::{self, PING, PONG};
use crate::rate_limit::TokenBucket;
use crate::room::{self, Audience, Ctx, Delivery, Outcome, Session};
use crate::routes::{Route, SocketTarget};
use crate::sql_history::SqlHistory;
use crate::worker_entry::{self, emit};
use crate::write_behind::WriteBehind;

/// Socket tags: whether a socket takes `batch` frames. Tags let a broadcast
/// pick its sockets without reading every attachment.
const TAG_BATCH: &str = "batch";
const TAG_PLAIN: &str = "plain";

#[durable_object]
pub struct ChatRoom {
    state: State,
    /// Broadcasts held for batch clients and the messages they mention, not
    /// yet written; shared with the flush timer.
    outbox: Rc<Outbox>,
    config: Config,
    /// Sockets whose leave was already announced. `webSocketError` and
    /// `webSocketClose` can both fire for one socket, and a socket that
    /// errored may still be listed by `getWebSockets()` for a while; this
    /// keeps its leave to one announcement. Losing it to hibernation is
    /// harmless: both events arrive together, long before the room can sleep.
    departed: RefCell<Vec<WebSocket>>,
    /// Rate buckets by connection key. See [`TokenBucket`] for why memory is
    /// the right place for them.
    buckets: RefCell<HashMap<u64, TokenBucket>>,
    /// When each connection last sent a frame, by connection key. Lost on
    /// hibernation by design; see [`room::is_idle`].
    last_frame: RefCell<HashMap<u64, u64>>,
    /// When this instance was created: after a wake-up, the idle clock of
    /// every socket restarts here.
    woke_at: u64,
    /// Whether this instance knows an idle sweep is pending. It saves a
    /// storage read on every join; a new instance starts without it and asks
    /// storage once.
    alarm_pending: Cell<bool>,
}

#[bindgen]
extern "C" {
    /// The Durable Object state, seen through the one method workers-rs
    /// does not bind.
    type StateWithPingTimes;

    /// When the runtime last answered this socket's ping on the room's
    /// behalf, or null.
    #[wasm_bindgen(method, catch, js_name = getWebSocketAutoResponseTimestamp)]
    fn web_socket_auto_response_timestamp(
        this: &StateWithPingTimes,
        ws: &web_sys::WebSocket,
    ) -> std::result::Result<JsValue, JsValue>;

    /// A socket, seen through a `send` that takes a string already on the
    /// JavaScript side.
    type SocketForJsString;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_string(
        this: &SocketForJsString,
        frame: &js_sys::JsString,
    ) -> std::result::Result<(), JsValue>;
}

impl DurableObject for ChatRoom {
    fn new(state: State, env: Env) -> Self {
        let config = worker_entry::config(&env);
        if let Err(err) = SqlHistory::new(state.storage().sql()).create_schema() {
            emit(LogLine::error("schema_failed").detail(&err.0));
        }
        // Keep-alive pings are answered by the runtime, never waking the room.
        let pair = WebSocketRequestResponsePair::new(PING, PONG);
        if let Err(err) = pair.and_then(|p| state.as_raw().set_websocket_auto_response(&p)) {
            let detail = format!("{err:?}");
            emit(LogLine::error("auto_response_failed").detail(&detail));
        }
        ChatRoom {
            outbox: Rc::new(Outbox {
                // The binding type is not Clone; the JS object behind it is.
                state: JsValue::clone(state.as_raw()).unchecked_into(),
                sql: state.storage().sql(),
                coalescer: RefCell::new(Coalescer::default()),
                behind: RefCell::new(WriteBehind::default()),
            }),
            state,
            config,
            departed: RefCell::new(Vec::new()),
            buckets: RefCell::new(HashMap::new()),
            last_frame: RefCell::new(HashMap::new()),
            woke_at: now(),
            alarm_pending: Cell::new(false),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        // The Worker already checked all of this; the object is the trust
        // boundary, so it checks again.
        let target = match worker_entry::route_request(&req, &self.config)? {
            Ok(Route::Socket(
                target @ SocketTarget {
                    client_id: Some(_), ..
                },
            )) => target,
            Ok(_) => return worker_entry::refuse(400, "The room only accepts WebSockets.\n"),
            Err(refusal) => return worker_entry::refuse(refusal.status, &refusal.body),
        };
        let client_id = target.client_id.clone().unwrap_or_default();

        // Held broadcasts go out before the newcomer is listed: its history
        // already holds them.
        if !self.outbox.flush() {
            return worker_entry::refuse(503, "The room cannot take this connection right now.\n");
        }
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        // Listed once, before this socket joins: the cap check and the
        // newcomer's presence both read it, and every listing costs a pass
        // over the whole room.
        let listed = self.sockets();
        let open = listed.len();
        let tag = if target.batch { TAG_BATCH } else { TAG_PLAIN };
        let accepted = self
            .state
            .as_raw()
            .accept_websocket_with_tags(server.as_ref(), vec![JsValue::from_str(tag)]);
        if let Err(err) = accepted {
            let detail = format!("{err:?}");
            let line = LogLine::error("accept_failed").room(&target.room);
            emit(line.client(&client_id).detail(&detail));
            return worker_entry::refuse(503, "The room cannot take this connection right now.\n");
        }
        let mut session = Session::new(&client_id, target.name.clone(), target.batch);
        session.room = target.room.clone();
        session.conn = (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64;
        session.joined_at = now();

        if let Err(refusal) = room::admit(open, &self.config) {
            emit(
                LogLine::warn("refused")
                    .room(&target.room)
                    .client(&client_id)
                    .code("room_full"),
            );
            self.carry_out(&server, &session, room::refuse(&refusal, now()));
            return Response::from_websocket(pair.client);
        }
        if server.serialize_attachment(&session).is_err() {
            self.carry_out(&server, &session, room::refuse(&Refusal::Internal, now()));
            return Response::from_websocket(pair.client);
        }

        let others: Vec<Session> = listed.iter().filter_map(session_of).collect();
        let joined = {
            let mut sql = SqlHistory::new(self.outbox.sql.clone());
            let mut behind = self.outbox.behind.borrow_mut();
            let mut ctx = Ctx {
                config: &self.config,
                store: &mut behind.over(&mut sql),
                now: now(),
            };
            room::join(&mut ctx, &session, &others, target.since)
        };
        let outcome = match joined {
            Ok(deliveries) => Outcome {
                deliveries,
                ..Outcome::default()
            },
            Err(refusal) => room::refuse(&refusal, now()),
        };
        emit(
            LogLine::info("connected")
                .room(&target.room)
                .client(&client_id)
                .sockets(open + 1),
        );
        self.carry_out(&server, &session, outcome);
        self.schedule_idle_check().await;
        Response::from_websocket(pair.client)
    }

    /// Closes sockets that have been silent past the idle timeout, then
    /// checks again while any socket is open.
    async fn alarm(&self) -> Result<Response> {
        self.alarm_pending.set(false);
        let now = now();
        let timeout_ms = self.config.idle_timeout_secs * 1000;
        for ws in self.sockets() {
            let Some(session) = session_of(&ws) else {
                continue;
            };
            let last_frame = self.last_frame.borrow().get(&session.conn).copied();
            let baseline = self.woke_at.max(session.joined_at);
            if room::is_idle(now, last_frame, self.last_ping(&ws), baseline, timeout_ms) {
                self.carry_out(&ws, &session, room::refuse(&Refusal::Idle, now));
            }
        }
        self.schedule_idle_check().await;
        Response::ok("")
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // Frames the runtime had queued from a socket the room has already
        // closed (a flooder, say) are dropped: closing means not accepted.
        if self.departed.borrow().contains(&ws) {
            return Ok(());
        }
        let Some(mut session) = session_of(&ws) else {
            let outcome = room::refuse(&Refusal::Internal, now());
            self.carry_out(&ws, &Session::new("", None, false), outcome);
            return Ok(());
        };
        let mut bucket = self
            .buckets
            .borrow()
            .get(&session.conn)
            .cloned()
            .unwrap_or_else(|| TokenBucket::full(self.config.rate_burst, now()));
        let received_at = now();
        let mut outcome = {
            let mut sql = SqlHistory::new(self.outbox.sql.clone());
            let mut behind = self.outbox.behind.borrow_mut();
            let mut ctx = Ctx {
                config: &self.config,
                store: &mut behind.over(&mut sql),
                now: received_at,
            };
            match message {
                WebSocketIncomingMessage::String(text) => {
                    room::receive(&mut ctx, &mut session, &mut bucket, &text)
                }
                WebSocketIncomingMessage::Binary(_) => room::receive_binary(&mut ctx, &mut bucket),
            }
        };
        self.buckets.borrow_mut().insert(session.conn, bucket);
        self.last_frame
            .borrow_mut()
            .insert(session.conn, received_at);
        if outcome.session_changed && ws.serialize_attachment(&session).is_err() {
            outcome = room::refuse(&Refusal::Internal, now());
        }
        self.carry_out(&ws, &session, outcome);
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Complete the closing handshake, or the client waits for our close
        // frame and finally sees 1006. Where the runtime already answered
        // (web_socket_auto_reply_to_close), this second close fails
        // harmlessly.
        let _ = ws.close(Some(room::echo_close_code(code)), Some("bye"));
        self.depart(&ws);
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.depart(&ws);
        Ok(())
    }
}

impl ChatRoom {
    /// Sets the next idle sweep half a timeout from now while sockets are
    /// open, so no idle socket outlives its timeout by more than half.
    async fn schedule_idle_check(&self) {
        if self.alarm_pending.get() || self.sockets().is_empty() {
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

    fn last_ping(&self, ws: &WebSocket) -> Option<u64> {
        let state: &StateWithPingTimes = self.state.as_raw().unchecked_ref();
        let stamp = state.web_socket_auto_response_timestamp(ws.as_ref()).ok()?;
        stamp
            .dyn_into::<js_sys::Date>()
            .ok()
            .map(|d| d.get_time() as u64)
    }

    /// Announces a socket's departure once, then forgets it.
    fn depart(&self, ws: &WebSocket) {
        {
            let mut departed = self.departed.borrow_mut();
            if departed.contains(ws) {
                return;
            }
            departed.push(ws.clone());
        }
        let Some(session) = session_of(ws) else {
            return;
        };
        self.buckets.borrow_mut().remove(&session.conn);
        self.last_frame.borrow_mut().remove(&session.conn);
        let remaining = self.sessions_except(ws);
        let deliveries = room::leave(&session, &remaining, now());
        emit(
            LogLine::info("disconnected")
                .room(&session.room)
                .client(&session.client_id),
        );
        self.deliver(ws, session.batch, deliveries);
        self.forget_closed_departures();
    }

    /// Drops departed sockets the runtime no longer lists, so the guard list
    /// stays as small as the number of sockets still closing.
    fn forget_closed_departures(&self) {
        let listed: Vec<WebSocket> = self.listed();
        self.departed.borrow_mut().retain(|ws| listed.contains(ws));
    }

    fn carry_out(&self, sender: &WebSocket, session: &Session, outcome: Outcome) {
        for d in &outcome.deliveries {
            if let crate::protocol::ServerFrame::Error(e) = &d.frame {
                let line = LogLine::warn("refused").room(&session.room);
                emit(line.client(&session.client_id).code(e.code));
            }
        }
        self.deliver(sender, session.batch, outcome.deliveries);
        if let Some((code, reason)) = outcome.close {
            // The error frame explaining the close may be held; it goes first.
            self.outbox.flush();
            let line = LogLine::warn("closed_by_room").room(&session.room);
            emit(line.client(&session.client_id).close(code, reason));
            // A socket that is already closing cannot be closed again; there
            // is nobody left to tell.
            let _ = sender.close(Some(code), Some(reason));
            self.depart(sender);
        }
    }

    /// Sends each frame to its audience, serialising it once for everyone.
    /// Plain sockets get it at once; batch sockets get it through the
    /// coalescer. A frame for the sender alone never overtakes what is held:
    /// a batch sender's joins the held frames while the room is busy (so a
    /// busy room of page clients still batches and writes once per flush),
    /// and anyone else's first flushes them.
    ///
    /// Messages waiting to be written are written before any frame goes out
    /// now; those only the coalescer's held frames mention wait for its flush.
    fn deliver(&self, sender: &WebSocket, sender_batches: bool, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        let plain = self.sockets_tagged(TAG_PLAIN);
        for delivery in deliveries {
            let json = delivery.frame.to_json();
            let to = match delivery.to {
                Audience::Sender if sender_batches && self.outbox.coalescer.borrow().has_held() => {
                    To::Only(sender.clone())
                }
                Audience::Sender => {
                    if !self.outbox.flush() {
                        return;
                    }
                    send(sender, &text(&json));
                    continue;
                }
                Audience::Others => To::AllBut(sender.clone()),
                Audience::Everyone => To::All,
            };
            let plain_to: Vec<&WebSocket> = plain.iter().filter(|ws| to.includes(ws)).collect();
            if !plain_to.is_empty() {
                if !self.outbox.commit() {
                    return;
                }
                let frame = text(&json);
                for ws in plain_to {
                    send(ws, &frame);
                }
            }
            let held = Held { json, to };
            let (offer, now_held) = self.outbox.coalescer.borrow_mut().offer(held, now());
            match offer {
                Offer::SendNow => {
                    if !self.outbox.commit() {
                        return;
                    }
                    let batch = self.sockets_tagged(TAG_BATCH);
                    send_held(&batch, &now_held.into_iter().collect::<Vec<_>>());
                }
                Offer::HeldArmTimer(delay_ms) => {
                    let outbox = Rc::clone(&self.outbox);
                    worker::wasm_bindgen_futures::spawn_local(async move {
                        worker::Delay::from(std::time::Duration::from_millis(delay_ms)).await;
                        outbox.flush();
                    });
                }
                Offer::Held => {}
            }
        }
        // A waiting message must always have a flush on its way to write it.
        if !self.outbox.coalescer.borrow().has_held() {
            self.outbox.commit();
        }
    }

    fn sockets_tagged(&self, tag: &str) -> Vec<WebSocket> {
        let departed = self.departed.borrow();
        self.state
            .as_raw()
            .get_websockets_with_tag(tag)
            .unwrap_or_default()
            .into_iter()
            .map(WebSocket::from)
            .filter(|ws| !departed.contains(ws))
            .collect()
    }

    fn listed(&self) -> Vec<WebSocket> {
        self.state
            .as_raw()
            .get_websockets()
            .unwrap_or_default()
            .into_iter()
            .map(WebSocket::from)
            .collect()
    }

    /// Every socket the runtime holds for this room, less those already
    /// announced as gone.
    fn sockets(&self) -> Vec<WebSocket> {
        let departed = self.departed.borrow();
        self.listed()
            .into_iter()
            .filter(|ws| !departed.contains(ws))
            .collect()
    }

    fn sessions_except(&self, me: &WebSocket) -> Vec<Session> {
        self.sockets()
            .iter()
            .filter(|ws| *ws != me)
            .filter_map(session_of)
            .collect()
    }
}

/// Broadcasts held for batch clients, the messages they mention, and the
/// handles the flush timer needs to write and send them without the room
/// itself.
struct Outbox {
    state: worker::worker_sys::DurableObjectState,
    sql: SqlStorage,
    coalescer: RefCell<Coalescer<WebSocket>>,
    behind: RefCell<WriteBehind>,
}

impl Outbox {
    /// Writes every waiting message. Returns false if storage failed: then
    /// nothing held may go out, because it may mention a message that was
    /// never written. Every socket is closed so each client reconnects, gets
    /// history as it truly is, and resends what was never acknowledged.
    fn commit(&self) -> bool {
        if self.behind.borrow().is_empty() {
            return true;
        }
        let mut sql = SqlHistory::new(self.sql.clone());
        let written = self.behind.borrow_mut().commit(&mut sql);
        let Err(err) = written else {
            return true;
        };
        emit(LogLine::error("store_failed").detail(&err.0));
        self.coalescer.borrow_mut().flush(now());
        if let Some((code, reason)) = Refusal::Internal.answer().close {
            for ws in self.state.get_websockets().unwrap_or_default() {
                let _ = WebSocket::from(ws).close(Some(code), Some(reason));
            }
        }
        false
    }

    /// Writes what waits, then sends what is held. False if storage failed.
    fn flush(&self) -> bool {
        if !self.commit() {
            return false;
        }
        let held = self.coalescer.borrow_mut().flush(now());
        if held.is_empty() {
            return true;
        }
        let sockets: Vec<WebSocket> = self
            .state
            .get_websockets_with_tag(TAG_BATCH)
            .unwrap_or_default()
            .into_iter()
            .map(WebSocket::from)
            .collect();
        send_held(&sockets, &held);
        true
    }
}

/// Sends held frames to batch sockets, built once for every socket no held
/// frame names.
fn send_held(sockets: &[WebSocket], held: &[Held<WebSocket>]) {
    let common = packed(&coalesce::frames_for_unnamed(held));
    for ws in sockets {
        let own;
        let frames = if held.iter().all(|h| !h.to.names(ws)) {
            &common
        } else {
            own = packed(&coalesce::frames_for(held, ws));
            &own
        };
        for frame in frames {
            send(ws, frame);
        }
    }
}

/// Frames packed for sending: a lone frame as itself, several as `batch`
/// frames of at most [`coalesce::MAX_BATCH_BYTES`] each.
fn packed(frames: &[&str]) -> Vec<js_sys::JsString> {
    coalesce::runs(frames, coalesce::MAX_BATCH_BYTES)
        .into_iter()
        .map(|run| match run {
            [one] => text(one),
            many => text(&protocol::batch_json(many, now())),
        })
        .collect()
}

fn session_of(ws: &WebSocket) -> Option<Session> {
    ws.deserialize_attachment::<Session>().ok().flatten()
}

/// A frame as a JavaScript string. Passing a Rust `&str` to the runtime
/// decodes it into a new JS string on every call; a broadcast converts once
/// and hands the same string to every socket.
fn text(json: &str) -> js_sys::JsString {
    js_sys::JsString::from(json)
}

/// Sends one frame. `getWebSockets()` can list sockets that are already
/// closing; a failed send to one of them must not stop the broadcast.
fn send(ws: &WebSocket, frame: &js_sys::JsString) {
    let socket: &web_sys::WebSocket = ws.as_ref();
    let _ = socket
        .unchecked_ref::<SocketForJsString>()
        .send_string(frame);
}

fn now() -> u64 {
    worker::Date::now().as_millis()
}
