//! The room's Durable Object: a thin adapter that turns platform events into
//! calls on [`crate::room`] and carries the resulting deliveries out.
//!
//! It runs on the WebSocket Hibernation API. The runtime may evict the object
//! from memory while its sockets stay open; everything the rules need about a
//! socket is in that socket's attachment, so a woken object rebuilds the room
//! from `getWebSockets()` alone.

use std::cell::RefCell;

use worker::{
    durable_object, wasm_bindgen, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

use crate::room::{self, Audience, Delivery, Outcome, Session};
use crate::routes::{self, RequestHead, Route};

#[durable_object]
pub struct ChatRoom {
    state: State,
    /// Sockets whose leave was already announced. `webSocketError` and
    /// `webSocketClose` can both fire for one socket, and a socket that
    /// errored may still be listed by `getWebSockets()` for a while; this
    /// keeps its leave to one announcement. Losing it to hibernation is
    /// harmless: both events arrive together, long before the room can sleep.
    departed: RefCell<Vec<WebSocket>>,
}

impl DurableObject for ChatRoom {
    fn new(state: State, _env: Env) -> Self {
        ChatRoom {
            state,
            departed: RefCell::new(Vec::new()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        // The Worker already checked all of this; the object is the trust
        // boundary, so it checks again.
        let url = req.url()?;
        let upgrade = req.headers().get("Upgrade")?;
        let method = req.method().to_string();
        let head = RequestHead {
            method: &method,
            path: url.path(),
            upgrade: upgrade.as_deref(),
        };
        let client_id = match routes::route(head) {
            Ok(Route::Socket(routes::SocketTarget {
                client_id: Some(id),
                ..
            })) => id,
            Ok(_) => return Response::error("The room only accepts WebSockets.\n", 400),
            Err(refusal) => return Response::error(refusal.body, refusal.status),
        };

        let pair = WebSocketPair::new()?;
        let server = pair.server;
        if let Err(err) = self.state.as_raw().accept_websocket(server.as_ref()) {
            crate::worker_entry::log_error("accept_failed", &format!("{err:?}"));
            return Response::error("The room cannot take this connection right now.\n", 503);
        }
        let session = Session::new(&client_id);
        server.serialize_attachment(&session)?;

        let others = self.sessions_except(&server);
        let deliveries = room::join(&session, others.iter().map(|s| s.client_id.as_str()), now());
        self.deliver(&server, deliveries);
        Response::from_websocket(pair.client)
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let outcome = match message {
            WebSocketIncomingMessage::String(text) => match session_of(&ws) {
                Some(mut session) => {
                    let outcome = room::receive(&mut session, &text, now());
                    if outcome.session_changed && ws.serialize_attachment(&session).is_err() {
                        room::refuse(&crate::error::Refusal::Internal, now())
                    } else {
                        outcome
                    }
                }
                None => room::refuse(&crate::error::Refusal::Internal, now()),
            },
            WebSocketIncomingMessage::Binary(_) => room::receive_binary(now()),
        };
        self.carry_out(&ws, outcome);
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
        let remaining = self.sessions_except(ws);
        let deliveries = room::leave(
            &session,
            remaining.iter().map(|s| s.client_id.as_str()),
            now(),
        );
        self.deliver(ws, deliveries);
        self.forget_closed_departures();
    }

    /// Drops departed sockets the runtime no longer lists, so the guard list
    /// stays as small as the number of sockets still closing.
    fn forget_closed_departures(&self) {
        let live = self.sockets();
        self.departed.borrow_mut().retain(|ws| live.contains(ws));
    }

    fn carry_out(&self, sender: &WebSocket, outcome: Outcome) {
        self.deliver(sender, outcome.deliveries);
        if let Some((code, reason)) = outcome.close {
            // A socket that is already closing cannot be closed again; there
            // is nobody left to tell.
            let _ = sender.close(Some(code), Some(reason));
            self.depart(sender);
        }
    }

    /// Sends each frame to its audience, serialising it once for everyone.
    fn deliver(&self, sender: &WebSocket, deliveries: Vec<Delivery>) {
        if deliveries.is_empty() {
            return;
        }
        let sockets = self.sockets();
        for delivery in deliveries {
            let json = delivery.frame.to_json();
            match delivery.to {
                Audience::Sender => send(sender, &json),
                Audience::Everyone | Audience::Others => {
                    let skip_sender = delivery.to == Audience::Others;
                    for ws in &sockets {
                        if !(skip_sender && ws == sender) {
                            send(ws, &json);
                        }
                    }
                }
            }
        }
    }

    /// Every socket the runtime holds for this room, less those already
    /// announced as gone.
    fn sockets(&self) -> Vec<WebSocket> {
        let listed = self.state.as_raw().get_websockets().unwrap_or_default();
        let departed = self.departed.borrow();
        listed
            .into_iter()
            .map(WebSocket::from)
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

fn session_of(ws: &WebSocket) -> Option<Session> {
    ws.deserialize_attachment::<Session>().ok().flatten()
}

/// Sends one frame. `getWebSockets()` can list sockets that are already
/// closing; a failed send to one of them must not stop the broadcast.
fn send(ws: &WebSocket, json: &str) {
    let _ = ws.send_with_str(json);
}

fn now() -> u64 {
    worker::Date::now().as_millis()
}
