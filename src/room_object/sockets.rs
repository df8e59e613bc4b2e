//! The room's sockets as the runtime holds them, less those whose departure
//! the room already announced.
//!
//! `webSocketError` and `webSocketClose` can both fire for one socket, and a
//! socket that errored may still be listed by `getWebSockets()` for a while.
//! Every listing here leaves departed sockets out, so no path (a broadcast,
//! the flush timer, presence) sends to a socket after its leave went out.
//! Losing the departed list to hibernation is harmless: both events arrive
//! together, long before the room can sleep.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, worker_sys::DurableObjectState, WebSocket};

use super::js::StateWithPingTimes;
use crate::error::Close;
use crate::session::Session;

/// Socket tags: whether a socket takes `batch` frames. Tags let a broadcast
/// pick its sockets without reading every attachment.
const TAG_BATCH: &str = "batch";
const TAG_PLAIN: &str = "plain";

pub(super) struct Sockets {
    state: DurableObjectState,
    departed: RefCell<Vec<WebSocket>>,
}

impl Sockets {
    pub(super) fn new(state: DurableObjectState) -> Self {
        Sockets {
            state,
            departed: RefCell::new(Vec::new()),
        }
    }

    /// Hands a new socket to the runtime, tagged by the frames it takes.
    pub(super) fn accept(&self, ws: &WebSocket, batch: bool) -> Result<(), JsValue> {
        let tag = if batch { TAG_BATCH } else { TAG_PLAIN };
        self.state
            .accept_websocket_with_tags(ws.as_ref(), vec![JsValue::from_str(tag)])
    }

    /// Every open socket.
    pub(super) fn open(&self) -> Vec<WebSocket> {
        self.without_departed(self.state.get_websockets())
    }

    /// The open sockets that take `batch` frames, or those that do not.
    pub(super) fn taking_batches(&self, batch: bool) -> Vec<WebSocket> {
        let tag = if batch { TAG_BATCH } else { TAG_PLAIN };
        self.without_departed(self.state.get_websockets_with_tag(tag))
    }

    /// The sessions of every open socket but `me`.
    pub(super) fn sessions_except(&self, me: &WebSocket) -> Vec<Session> {
        self.open()
            .iter()
            .filter(|ws| *ws != me)
            .filter_map(session_of)
            .collect()
    }

    pub(super) fn is_departed(&self, ws: &WebSocket) -> bool {
        self.departed.borrow().contains(ws)
    }

    /// Marks `ws` as gone. False if it already was: its leave went out.
    pub(super) fn mark_departed(&self, ws: &WebSocket) -> bool {
        let mut departed = self.departed.borrow_mut();
        if departed.contains(ws) {
            return false;
        }
        departed.push(ws.clone());
        true
    }

    /// Drops departed sockets the runtime no longer lists, so the list stays
    /// as small as the number of sockets still closing.
    pub(super) fn forget_closed(&self) {
        let listed = listed(self.state.get_websockets());
        self.departed.borrow_mut().retain(|ws| listed.contains(ws));
    }

    /// Closes every socket the runtime holds, departed or not.
    pub(super) fn close_all(&self, close: Close) {
        for ws in listed(self.state.get_websockets()) {
            let _ = ws.close(Some(close.code), Some(close.reason));
        }
    }

    /// When the runtime last answered this socket's ping for the room.
    pub(super) fn last_ping(&self, ws: &WebSocket) -> Option<u64> {
        let state: &StateWithPingTimes = self.state.unchecked_ref();
        let stamp = state.web_socket_auto_response_timestamp(ws.as_ref()).ok()?;
        let date = stamp.dyn_into::<js_sys::Date>().ok()?;
        Some(date.get_time() as u64)
    }

    fn without_departed(&self, sockets: Listing) -> Vec<WebSocket> {
        let departed = self.departed.borrow();
        let mut open = listed(sockets);
        open.retain(|ws| !departed.contains(ws));
        open
    }
}

/// What `getWebSockets()` answers.
type Listing = Result<Vec<worker::web_sys::WebSocket>, JsValue>;

/// A failed listing counts as no sockets: a broadcast then reaches nobody,
/// which is what the runtime could deliver anyway.
fn listed(sockets: Listing) -> Vec<WebSocket> {
    let sockets = sockets.unwrap_or_default();
    sockets.into_iter().map(WebSocket::from).collect()
}

/// The session saved in a socket's attachment, if it can be read.
pub(super) fn session_of(ws: &WebSocket) -> Option<Session> {
    ws.deserialize_attachment::<Session>().ok().flatten()
}
