//! Readers and senders for tests that flood a room: a page that proves its
//! reading by echoing the room's marks, plain readers, senders that read
//! their own echoes, and what the room logged when it closed someone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::{Client, Server};

/// How a socket that proves its reading joins.
pub const PROVING: &str = "batch=1&receipts=1";

/// The receipt for `text` if it is one of the room's marks: exactly what
/// the page sends back.
pub fn receipt_for(text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let mark = frame["mark"].as_str().filter(|_| frame["type"] == "mark")?;
    Some(format!(r#"{{"type":"seen","mark":"{mark}"}}"#))
}

/// A 1,900-character message, numbered.
pub fn body(i: usize) -> String {
    let head = format!("msg {i:05} ");
    format!("{head}{}", "x".repeat(1900 - head.len()))
}

/// How a reader ended: the seqs of the chat messages it read, in order, and
/// the close it got, if the server closed it.
#[derive(Debug)]
pub struct Read {
    pub seqs: Vec<u64>,
    pub closed: Option<(u16, String)>,
}

/// Reads as our page does: echoes every mark, and after each receipt
/// pauses for `pause` (a busy page). Stops after `want` messages or a close.
pub fn page_reader(client: Client, want: usize, pause: Duration) -> JoinHandle<Read> {
    let ws = client.into_socket();
    tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let mut read = Read {
            seqs: Vec::new(),
            closed: None,
        };
        while read.seqs.len() < want {
            let msg = tokio::time::timeout(Duration::from_secs(30), stream.next()).await;
            let text = match msg {
                Ok(Some(Ok(Message::Text(text)))) => text,
                Ok(Some(Ok(Message::Close(frame)))) => {
                    read.closed = frame.map(|f| (f.code.into(), f.reason.to_string()));
                    break;
                }
                Ok(Some(Ok(_))) => continue,
                other => panic!("the page reader's socket ended: {other:?}"),
            };
            if let Some(receipt) = receipt_for(&text) {
                sink.send(Message::text(receipt)).await.expect("receipt");
                tokio::time::sleep(pause).await;
                continue;
            }
            collect(&text, &mut read.seqs);
        }
        read
    })
}

/// Reads every frame plainly, never sending, until `want` messages or a
/// close.
pub fn plain_reader(client: Client, want: usize) -> JoinHandle<Read> {
    let mut ws = client.into_socket();
    tokio::spawn(async move { read_messages(&mut ws, want, "a plain reader", None).await })
}

pub type Sink = Arc<tokio::sync::Mutex<futures_util::stream::SplitSink<super::Socket, Message>>>;

/// Reads until `want` chat messages or a close, echoing marks to `sink` if
/// there is one.
pub async fn read_messages<S, E>(stream: &mut S, want: usize, who: &str, sink: Option<Sink>) -> Read
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    let mut read = Read {
        seqs: Vec::new(),
        closed: None,
    };
    while read.seqs.len() < want {
        match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => match (receipt_for(&text), &sink) {
                (Some(receipt), Some(sink)) => {
                    let sent = sink.lock().await.send(Message::text(receipt)).await;
                    sent.expect("receipt");
                }
                _ => collect(&text, &mut read.seqs),
            },
            Ok(Some(Ok(Message::Close(frame)))) => {
                read.closed = frame.map(|f| (f.code.into(), f.reason.to_string()));
                break;
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("{who}'s socket ended: {other:?}"),
        }
    }
    read
}

pub fn collect(text: &str, seqs: &mut Vec<u64>) {
    let frame: Value = serde_json::from_str(text).expect("JSON");
    for f in super::unpacked(frame) {
        if f["type"] == "message" {
            seqs.push(f["seq"].as_u64().expect("seq"));
        }
    }
}

/// Sends `n` messages from `client` (which joined proving its reading),
/// `gap` apart, while reading its echoes; returns the seqs it read back.
pub fn sender(client: Client, n: usize, gap: Duration) -> JoinHandle<Read> {
    let (sink, stream) = client.into_socket().split();
    let sink: Sink = Arc::new(tokio::sync::Mutex::new(sink));
    let echo = Arc::clone(&sink);
    let reader = tokio::spawn(async move {
        let mut stream = stream;
        read_messages(&mut stream, n, "the sender", Some(echo)).await
    });
    tokio::spawn(async move {
        for i in 0..n {
            let sent = sink.lock().await.send(Message::text(body(i))).await;
            sent.expect("send");
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
        reader.await.expect("sender's reader")
    })
}

pub async fn join(server: &Server, id: &str, query: &str) -> Client {
    Client::join_with(server, id, query).await.0
}

/// Every seq from `first`, `n` of them, once and in order.
pub fn assert_all(read: &Read, who: &str, first: u64, n: usize) {
    assert_eq!(read.closed, None, "{who} was closed");
    let expected: Vec<u64> = (first..first + n as u64).collect();
    assert!(
        read.seqs == expected,
        "{who} read {} messages, not {first}..+{n} in order, once",
        read.seqs.len()
    );
}

/// The room's log lines about closing `id`.
pub fn closes_of(server: &Server, id: &str) -> Vec<String> {
    (server.log_lines().into_iter())
        .filter(|l| l.contains("closed_by_room") && l.contains(&format!("\"{id}\"")))
        .collect()
}

pub async fn wait_for_close_log(server: &Server, id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = closes_of(server, id).pop() {
            return line;
        }
        assert!(Instant::now() < deadline, "no close was logged for {id}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads what piled up for a socket that never read, to its close.
pub async fn close_of_stalled<S, E>(mut ws: S) -> (u16, String)
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Debug,
{
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code.into(), f.reason.to_string()),
            Ok(Some(Ok(_))) => continue,
            other => panic!("the stalled socket ended without a close frame: {other:?}"),
        }
    }
}
