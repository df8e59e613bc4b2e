//! The few runtime calls workers-rs does not bind, and the send primitive
//! every frame goes through.

use wasm_bindgen::prelude::wasm_bindgen as bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{js_sys, wasm_bindgen, web_sys, WebSocket};

#[bindgen]
extern "C" {
    /// The Durable Object state, seen through the one method workers-rs
    /// does not bind.
    pub(crate) type StateWithPingTimes;

    /// When the runtime last answered this socket's ping on the room's
    /// behalf, or null.
    #[wasm_bindgen(method, catch, js_name = getWebSocketAutoResponseTimestamp)]
    pub(crate) fn web_socket_auto_response_timestamp(
        this: &StateWithPingTimes,
        ws: &web_sys::WebSocket,
    ) -> std::result::Result<JsValue, JsValue>;

    /// The runtime's cryptographic random source.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &mut [u8]) -> std::result::Result<(), JsValue>;

    /// A socket, seen through a `send` that takes a string already on the
    /// JavaScript side.
    type SocketForJsString;

    #[wasm_bindgen(method, catch, js_name = send)]
    fn send_string(
        this: &SocketForJsString,
        frame: &js_sys::JsString,
    ) -> std::result::Result<(), JsValue>;
}

/// A frame as a JavaScript string. Passing a Rust `&str` to the runtime
/// decodes it into a new JS string on every call; a broadcast converts once
/// and hands the same string to every socket.
pub(crate) fn text(json: &str) -> js_sys::JsString {
    js_sys::JsString::from(json)
}

/// Sends one frame. `getWebSockets()` can list sockets that are already
/// closing; a failed send to one of them must not stop the broadcast.
pub(crate) fn send(ws: &WebSocket, frame: &js_sys::JsString) {
    let socket: &web_sys::WebSocket = ws.as_ref();
    let _ = socket
        .unchecked_ref::<SocketForJsString>()
        .send_string(frame);
}

/// 128 random bits from the runtime's cryptographic source, for secrets
/// such as the room's mark key. `None` if the source failed.
pub(crate) fn random_key() -> Option<(u64, u64)> {
    let mut bytes = [0u8; 16];
    get_random_values(&mut bytes).ok()?;
    let (a, b) = bytes.split_at(8);
    Some((
        u64::from_le_bytes(a.try_into().ok()?),
        u64::from_le_bytes(b.try_into().ok()?),
    ))
}

/// A socket message's text, or `None` for a binary frame, whose bytes are
/// never read.
pub(crate) fn text_of(message: worker::WebSocketIncomingMessage) -> Option<String> {
    match message {
        worker::WebSocketIncomingMessage::String(text) => Some(text),
        worker::WebSocketIncomingMessage::Binary(_) => None,
    }
}

/// The runtime's clock, in epoch milliseconds. `Date.now()` itself, not
/// `worker::Date::now()`, which builds a `Date` object on every call.
pub(crate) fn now() -> u64 {
    js_sys::Date::now() as u64
}
