//! The room's sockets: the in-memory [`Roster`] of members, rebuilt from the
//! runtime's socket list and attachments whenever the object wakes, and the
//! sockets whose departure the room already announced.
//!
//! A frame's socket is found through a `WeakMap` from the socket object to
//! its connection key: one call into JavaScript, instead of reading and
//! decoding the socket's attachment on every frame.
//!
//! `webSocketError` and `webSocketClose` can both fire for one socket, and a
//! socket that errored may still be listed by `getWebSockets()` for a while.
//! A departed socket leaves the roster at once, so nothing (a broadcast, the
//! flush timer, presence) reaches it after its leave went out. Losing the
//! departed list to hibernation is harmless: both events arrive together,
//! long before the room can sleep.

use std::cell::{Cell, Ref, RefCell, RefMut};

use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, worker_sys::DurableObjectState, WebSocket};

use super::js::StateWithPingTimes;
use crate::room::rate_limit::TokenBucket;
use crate::room::session::Session;
use crate::send::flow::MarkKey;
use crate::send::roster::Roster;
use crate::settings::config::Budgets;
use crate::wire::error::Close;

pub(crate) struct Sockets {
    state: DurableObjectState,
    roster: RefCell<Roster<WebSocket>>,
    /// Whether the roster was rebuilt from the runtime in this instance.
    loaded: Cell<bool>,
    /// Connection key by socket object.
    keys: js_sys::WeakMap,
    departed: RefCell<Vec<WebSocket>>,
}

/// What the room knows of the socket a frame came from.
pub(crate) enum Found {
    Member(u64),
    /// Its departure was announced; its late frames are dropped.
    Departed,
    /// Not a member, and its attachment cannot be read.
    Unknown,
}

impl Sockets {
    pub(crate) fn new(state: DurableObjectState, budgets: Budgets, key: MarkKey) -> Self {
        Sockets {
            state,
            roster: RefCell::new(Roster::new(budgets, key)),
            loaded: Cell::new(false),
            keys: js_sys::WeakMap::new(),
            departed: RefCell::new(Vec::new()),
        }
    }

    /// The members, rebuilt from the runtime first if this instance is new.
    pub(crate) fn roster(&self) -> Ref<'_, Roster<WebSocket>> {
        if !self.loaded.replace(true) {
            for ws in listed(self.state.get_websockets()) {
                if let Some(session) = session_of(&ws) {
                    self.add(ws, session);
                }
            }
        }
        self.roster.borrow()
    }

    /// The members with their flow-control books, for the send path. No
    /// JavaScript runs while it is held, so nothing can ask for it again.
    pub(crate) fn books(&self) -> RefMut<'_, Roster<WebSocket>> {
        drop(self.roster());
        self.roster.borrow_mut()
    }

    /// Books a receipt echoing `mark`; true if it proved anything new.
    pub(crate) fn receipt(&self, key: u64, mark: Option<u64>) -> bool {
        let mut books = self.books();
        let news = books.with_meter(key, |flow, meter| flow.receipt(meter, mark));
        news.unwrap_or(false)
    }

    /// The connection's rate bucket (see [`Roster::bucket`]).
    pub(crate) fn bucket(&self, key: u64, burst: u32, now: u64) -> TokenBucket {
        self.roster().bucket(key, burst, now)
    }

    /// Keeps the bucket after a frame that arrived `at`.
    pub(crate) fn record(&self, key: u64, bucket: TokenBucket, at: u64) {
        self.books().record(key, bucket, at);
    }

    /// Notes a frame `at` that took nothing from the bucket.
    pub(crate) fn touch(&self, key: u64, at: u64) {
        self.books().touch(key, at);
    }

    /// Hands a new socket to the runtime; it is a member once [`admit`]ted.
    pub(crate) fn accept(&self, ws: &WebSocket) -> Result<(), JsValue> {
        self.state.accept_websocket(ws.as_ref())
    }

    pub(crate) fn admit(&self, ws: &WebSocket, session: &Session) {
        drop(self.roster());
        self.add(ws.clone(), session.clone());
    }

    pub(crate) fn find(&self, ws: &WebSocket) -> Found {
        let roster = self.roster();
        let key = self.keys.get(object(ws)).as_f64().map(|k| k as u64);
        match key {
            Some(key) if roster.get(key).is_some() => Found::Member(key),
            _ if self.departed.borrow().contains(ws) => Found::Departed,
            _ => {
                drop(roster);
                // Listed after the roster was built, say: take it in.
                let Some(session) = session_of(ws) else {
                    return Found::Unknown;
                };
                let key = session.conn;
                self.add(ws.clone(), session);
                Found::Member(key)
            }
        }
    }

    /// The member's session, as the room last saved it.
    pub(crate) fn session(&self, key: u64) -> Option<Session> {
        self.roster().get(key).map(|m| m.session.clone())
    }

    /// Keeps a member's changed session; the caller saves the attachment.
    pub(crate) fn update(&self, session: &Session) {
        drop(self.roster());
        if let Some(member) = self.roster.borrow_mut().get_mut(session.conn) {
            member.session = session.clone();
        }
    }

    /// Takes `ws` out of the room. Its session if it was a member: then
    /// its departure is the caller's to announce, once.
    pub(crate) fn depart(&self, ws: &WebSocket) -> Option<Session> {
        let key = match self.find(ws) {
            Found::Member(key) => key,
            Found::Departed | Found::Unknown => return None,
        };
        self.departed.borrow_mut().push(ws.clone());
        let member = self.roster.borrow_mut().remove(key)?;
        Some(member.session)
    }

    /// Drops departed sockets the runtime no longer lists, so the list stays
    /// as small as the number of sockets still closing.
    pub(crate) fn forget_closed(&self) {
        let listed = listed(self.state.get_websockets());
        self.departed.borrow_mut().retain(|ws| listed.contains(ws));
    }

    /// Closes every socket the runtime holds, members or not.
    pub(crate) fn close_all(&self, close: Close) {
        for ws in listed(self.state.get_websockets()) {
            let _ = ws.close(Some(close.code), Some(close.reason));
        }
    }

    /// When the runtime last answered this socket's ping for the room.
    pub(crate) fn last_ping(&self, ws: &WebSocket) -> Option<u64> {
        let state: &StateWithPingTimes = self.state.unchecked_ref();
        let stamp = state.web_socket_auto_response_timestamp(ws.as_ref()).ok()?;
        let date = stamp.dyn_into::<js_sys::Date>().ok()?;
        Some(date.get_time() as u64)
    }

    fn add(&self, ws: WebSocket, session: Session) {
        // Keys are below 2^53, so a JavaScript number holds them exactly.
        self.keys
            .set(object(&ws), &JsValue::from_f64(session.conn as f64));
        self.roster.borrow_mut().insert(ws, session);
    }
}

fn object(ws: &WebSocket) -> &js_sys::Object {
    let socket: &worker::web_sys::WebSocket = ws.as_ref();
    socket.unchecked_ref()
}

/// A failed listing counts as no sockets: a broadcast then reaches nobody,
/// which is what the runtime could deliver anyway.
fn listed(sockets: Result<Vec<worker::web_sys::WebSocket>, JsValue>) -> Vec<WebSocket> {
    let sockets = sockets.unwrap_or_default();
    sockets.into_iter().map(WebSocket::from).collect()
}

/// The session saved in a socket's attachment, if it can be read.
pub(crate) fn session_of(ws: &WebSocket) -> Option<Session> {
    ws.deserialize_attachment::<Session>().ok().flatten()
}
