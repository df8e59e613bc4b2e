//! A WebSocket chat client for tests: connects to the real runtime, sends
//! text, and waits for frames with timeouts rather than sleeps.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's socket, once a test takes it over.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

use super::Server;

/// How long any one expected frame may take to arrive.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Client {
    pub id: String,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Opens a socket on `path` without waiting for anything.
    pub async fn connect(server: &Server, path: &str, id: &str) -> Client {
        Client::handshake(server, path, id, &[])
            .await
            .unwrap_or_else(|status| panic!("connecting to {path} was refused with {status}"))
    }

    /// Opens a socket on `path` with extra request headers (`Origin`,
    /// `Host`), or returns the HTTP status the server refused it with.
    pub async fn handshake(
        server: &Server,
        path: &str,
        id: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        use tokio_tungstenite::tungstenite::Error;
        let mut request = server
            .ws_url(path)
            .into_client_request()
            .expect("a WebSocket request");
        for (name, value) in headers {
            request.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        let connected =
            tokio::time::timeout(FRAME_TIMEOUT, tokio_tungstenite::connect_async(request))
                .await
                .unwrap_or_else(|_| panic!("connecting to {path} timed out"));
        match connected {
            Ok((ws, _)) => Ok(Client {
                id: id.to_owned(),
                ws,
            }),
            Err(Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("connecting to {path} failed: {e}"),
        }
    }

    /// Joins the default room as `id` and waits for its own join frame.
    pub async fn join(server: &Server, id: &str) -> Client {
        let mut client = Client::connect(server, &format!("/ws/{id}"), id).await;
        client.expect_join_of(id).await;
        client
    }

    /// Joins as `id` with a query string (`room=…&since=…`) and waits for its
    /// own join frame, returning every frame before it (history, presence).
    pub async fn join_with(server: &Server, id: &str, query: &str) -> (Client, Vec<Value>) {
        let mut client = Client::connect(server, &format!("/ws/{id}?{query}"), id).await;
        let mut before = Vec::new();
        loop {
            let frame = client.next().await;
            if frame["type"] == "join" && frame["clientId"] == id {
                return (client, before);
            }
            before.push(frame);
        }
    }

    /// Sends a JSON chat message with a client message id.
    pub async fn say(&mut self, text: &str, client_msg_id: &str) {
        self.send(&chat_frame(text, client_msg_id)).await;
    }

    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::text(text))
            .await
            .unwrap_or_else(|e| panic!("{} could not send: {e}", self.id));
    }

    pub async fn send_binary(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .unwrap_or_else(|e| panic!("{} could not send: {e}", self.id));
    }

    /// The socket itself, for a test that reads and writes in its own way.
    pub fn into_socket(self) -> Socket {
        self.ws
    }

    /// The next server frame, parsed. Panics on timeout, close or non-JSON.
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{} waited {FRAME_TIMEOUT:?} for a frame", self.id))
                .unwrap_or_else(|| panic!("{}'s socket ended", self.id))
                .unwrap_or_else(|e| panic!("{}'s socket failed: {e}", self.id));
            match msg {
                Message::Text(text) => {
                    return serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{} got non-JSON {text:?}: {e}", self.id))
                }
                Message::Close(frame) => panic!("{} was closed: {frame:?}", self.id),
                Message::Binary(_) => panic!("{} got a binary frame", self.id),
                // Pings are answered by tungstenite itself.
                _ => continue,
            }
        }
    }

    /// Skips frames until one matches, returning it. On timeout the panic
    /// lists what was skipped, which is usually the diagnosis.
    pub async fn next_matching(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut skipped = Vec::new();
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(msg))) => msg,
                Ok(other) => panic!(
                    "{} lost its socket ({other:?}) waiting for {what}; skipped {skipped:?}",
                    self.id
                ),
                Err(_) => panic!("{} never got {what}; skipped {skipped:?}", self.id),
            };
            match msg {
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{} got non-JSON {text:?}: {e}", self.id));
                    if pred(&frame) {
                        return frame;
                    }
                    skipped.push(frame);
                }
                Message::Close(frame) => panic!(
                    "{} was closed waiting for {what}: {frame:?}; skipped {skipped:?}",
                    self.id
                ),
                _ => continue,
            }
        }
    }

    pub async fn expect_join_of(&mut self, id: &str) -> Value {
        self.next_matching(&format!("join of {id}"), |f| {
            f["type"] == "join" && f["clientId"] == id
        })
        .await
    }

    pub async fn expect_leave_of(&mut self, id: &str) -> Value {
        self.next_matching(&format!("leave of {id}"), |f| {
            f["type"] == "leave" && f["clientId"] == id
        })
        .await
    }

    pub async fn expect_message(&mut self, from: &str, text: &str) -> Value {
        self.next_matching(&format!("{text:?} from {from}"), |f| {
            f["type"] == "message" && f["clientId"] == from && f["message"] == text
        })
        .await
    }

    /// Waits for the next error frame and checks its code.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let frame = self
            .next_matching(&format!("error {code}"), |f| f["type"] == "error")
            .await;
        assert_eq!(frame["code"], code, "{}: {frame}", self.id);
        frame
    }

    /// Asserts that no frame matching `pred` arrives for `window`; others
    /// are ignored. This is how a test proves that something it already saw
    /// once does not come again. A socket that closes or fails meanwhile
    /// fails the test too: a dead socket receives nothing, so silence from it
    /// proves nothing. A test that expects a close waits for it with
    /// [`Client::expect_closed`].
    pub async fn expect_none(
        &mut self,
        window: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(msg) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match msg {
                Some(Ok(Message::Text(text))) => {
                    let frame: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{} got non-JSON {text:?}: {e}", self.id));
                    assert!(!pred(&frame), "{} got {what}: {frame}", self.id);
                }
                Some(Ok(Message::Close(frame))) => panic!(
                    "{} was closed ({frame:?}) while checking that {what} never comes",
                    self.id
                ),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!(
                    "{}'s socket failed ({e}) while checking that {what} never comes",
                    self.id
                ),
                None => panic!(
                    "{}'s socket ended while checking that {what} never comes",
                    self.id
                ),
            }
        }
    }

    /// The next text frame, or the close code and reason if the server
    /// closed the socket instead.
    pub async fn next_frame_or_close(&mut self) -> Result<Value, (u16, String)> {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{} got neither a frame nor a close", self.id));
            match msg {
                Some(Ok(Message::Text(text))) => {
                    return Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Err((frame.code.into(), frame.reason.to_string()))
                }
                Some(Ok(Message::Close(None))) | None => return Err((1005, String::new())),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("{}'s socket failed instead of closing: {e}", self.id),
            }
        }
    }

    /// Waits for the server to close the socket, returning code and reason.
    pub async fn expect_closed(&mut self) -> (u16, String) {
        loop {
            let msg = tokio::time::timeout(FRAME_TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{} was never closed", self.id));
            match msg {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code.into(), frame.reason.to_string())
                }
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("{}'s socket failed instead of closing: {e}", self.id),
            }
        }
    }

    /// Waits up to `within` for the server to close this silent socket while
    /// each of `pingers` pings once a second, as a page does to stay alive.
    /// Returns the close code and reason, or `None` if it stayed open.
    pub async fn closed_while_others_ping(
        &mut self,
        pingers: &mut [&mut Client],
        within: Duration,
    ) -> Option<(u16, String)> {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            for pinger in pingers.iter_mut() {
                pinger.send(super::PING).await;
            }
            let second = tokio::time::timeout(Duration::from_secs(1), self.expect_closed());
            if let Ok(closed) = second.await {
                return Some(closed);
            }
        }
        None
    }

    /// Starts a close handshake without waiting for the answer.
    pub async fn close_with(&mut self, code: u16, reason: &str) {
        use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame};
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_owned().into(),
        };
        self.ws
            .send(Message::Close(Some(frame)))
            .await
            .unwrap_or_else(|e| panic!("{} could not close: {e}", self.id));
    }

    /// A clean close handshake, as a browser tab does when it goes away.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close arrives, so the close is complete.
        let _ = tokio::time::timeout(FRAME_TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// A JSON chat frame with a client message id.
fn chat_frame(text: &str, client_msg_id: &str) -> String {
    json!({"type": "message", "message": text, "clientMsgId": client_msg_id}).to_string()
}

/// What a [`Traffic`] client read before its socket ended.
#[derive(Debug, Default)]
pub struct Heard {
    /// Every frame, batches unpacked, in order.
    pub frames: Vec<Value>,
    /// How many of the frames received were `batch` frames.
    pub batches: usize,
}

/// A client that sends without waiting for answers while it reads whatever
/// comes, until its socket ends: the traffic a crash test kills the runtime
/// in the middle of. What it read is the record of what the runtime sent.
pub struct Traffic {
    pub id: String,
    acks: tokio::sync::watch::Receiver<usize>,
    reader: tokio::task::JoinHandle<Heard>,
    writer: tokio::task::JoinHandle<()>,
}

impl Client {
    /// Starts sending `messages` (text, clientMsgId), never more than
    /// `window` of them unacknowledged, while a reader keeps every frame that
    /// arrives, batches unpacked. An empty list makes a pure watcher.
    ///
    /// The window keeps the room busy without a backlog: a room handed
    /// thousands of frames at once handles them all before its flush timer
    /// gets a turn, so a kill would land before anything was shown or after
    /// everything was, never in the middle.
    pub fn start_traffic(self, messages: Vec<(String, String)>, window: usize) -> Traffic {
        let (mut sink, mut stream) = self.ws.split();
        let (acked, acks) = tokio::sync::watch::channel(0);
        let mut acks_seen = acks.clone();
        let writer = tokio::spawn(async move {
            for (i, (text, cmid)) in messages.into_iter().enumerate() {
                // A closed channel means the reader is gone, and with it the
                // socket: the runtime dying mid-send is what the test is about.
                if acks_seen.wait_for(|&n| n + window > i).await.is_err()
                    || sink
                        .send(Message::text(chat_frame(&text, &cmid)))
                        .await
                        .is_err()
                {
                    return;
                }
            }
        });
        let reader = tokio::spawn(async move {
            let mut heard = Heard::default();
            // Ends on a close, a reset or EOF alike: all a crash may look like.
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if frame["type"] == "batch" {
                    heard.batches += 1;
                }
                for f in super::unpacked(frame) {
                    if f["type"] == "ack" {
                        acked.send_modify(|n| *n += 1);
                    }
                    heard.frames.push(f);
                }
            }
            heard
        });
        Traffic {
            id: self.id,
            acks,
            reader,
            writer,
        }
    }
}

impl Traffic {
    /// Waits until `n` acks have arrived, so the traffic is under way.
    pub async fn wait_for_acks(&mut self, n: usize) {
        let waited = tokio::time::timeout(FRAME_TIMEOUT, self.acks.wait_for(|&got| got >= n))
            .await
            .is_ok_and(|r| r.is_ok());
        assert!(
            waited,
            "{} got {} acks, not {n}",
            self.id,
            *self.acks.borrow()
        );
    }

    /// Everything the client read, once its socket has ended.
    pub async fn heard(self) -> Heard {
        self.writer.abort();
        tokio::time::timeout(FRAME_TIMEOUT, self.reader)
            .await
            .unwrap_or_else(|_| panic!("{}'s socket outlived the runtime", self.id))
            .expect("reader task")
    }
}
