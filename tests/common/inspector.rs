//! A DevTools client for `wrangler dev`'s inspector, attached so that the
//! dev tool's memory does not count as the Worker's.
//!
//! wrangler 4.86's inspector proxy (a Worker in its own workerd process)
//! turns on the runtime's `Network` domain and keeps every event the
//! runtime sends in a list until a DevTools client attaches; none ever
//! does in a test. Every call from one Durable Object to another is a
//! subrequest with its `Network` events, so a room spread over relays grew
//! that list, and the process tree whose memory the tests bound, by tens
//! of MiB (docs/testing.md). Attached, the client turns the `Network`
//! domain off and reads whatever else arrives until the runtime stops.

use std::time::Duration;

use tokio_tungstenite::tungstenite::{connect, Message};

/// Attaches to the inspector on `port` from a thread of its own, which
/// ends when the runtime closes the connection.
pub fn attach(port: u16) {
    std::thread::spawn(move || {
        let url = format!("ws://127.0.0.1:{port}/ws");
        // The proxy answers once it has reached the runtime's inspector.
        let mut tries = 0;
        let mut socket = loop {
            match connect(url.as_str()) {
                Ok((socket, _)) => break socket,
                Err(_) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => panic!("the inspector at {url} refused: {err}"),
            }
        };
        let off = r#"{"id":1,"method":"Network.disable"}"#;
        socket.send(Message::text(off)).expect("Network.disable");
        while socket.read().is_ok() {}
    });
}
