//! A room with two well-behaved clients, alice and bob, for tests that
//! prove an action or its refusal disturbs nobody else: the bystanders
//! still talk, nothing was broadcast that should not have been, and the
//! room's history is exactly what the test expects.
//!
//! It works in both modes: the room is opened with a function that gives
//! the query a client joins with (a room, and in token mode a token).

use std::time::Duration;

use serde_json::Value;

use super::{frame_of, history_messages, Client, Server};

/// The query string `id` joins `room` with.
pub type JoinQuery = fn(id: &str, room: &str) -> String;

/// Joins as `id` with no token: open mode.
pub fn open_query(_id: &str, room: &str) -> String {
    format!("room={room}")
}

/// Joins as `id` with an hour-long member token for the room.
pub fn member_query(id: &str, room: &str) -> String {
    format!("room={room}&token={}", super::tokens::member(id, room))
}

pub struct Room {
    pub name: String,
    pub alice: Client,
    pub bob: Client,
    /// The room's kept messages as the test expects them, oldest first:
    /// their text, empty for a deleted one.
    pub expected: Vec<String>,
    query: JoinQuery,
}

impl Room {
    /// Alice and bob join `name`; alice says "before", which bob hears.
    pub async fn open(server: &Server, name: &str, query: JoinQuery) -> Room {
        let join = |id: String| async move {
            let query = query(&id, name);
            Client::join_with(server, &id, &query).await.0
        };
        let mut alice = join(format!("{name}-alice")).await;
        let bob = join(format!("{name}-bob")).await;
        alice.expect_join_of(&bob.id).await;
        let mut room = Room {
            name: name.to_owned(),
            alice,
            bob,
            expected: Vec::new(),
            query,
        };
        room.say_as_alice("before").await;
        room
    }

    /// Another client, joined to this room as `id` with `extra` query
    /// parameters (`since=3`, or none), with what it got before its own
    /// join (history, presence). The bystanders hear of it.
    pub async fn join(&mut self, server: &Server, id: &str, extra: &str) -> (Client, Vec<Value>) {
        let query = format!("{}&{extra}", (self.query)(id, &self.name));
        self.join_with_query(server, id, &query).await
    }

    /// Another client, joined as `id` with exactly `query` (a moderator's
    /// token, say). The bystanders hear of it.
    pub async fn join_with_query(
        &mut self,
        server: &Server,
        id: &str,
        query: &str,
    ) -> (Client, Vec<Value>) {
        let joined = Client::join_with(server, id, query).await;
        self.alice.expect_join_of(id).await;
        self.bob.expect_join_of(id).await;
        joined
    }

    /// Joins as `id` with `extra` query parameters, leaves, and returns
    /// what it got before its own join. The bystanders hear of both.
    pub async fn visit(&mut self, server: &Server, id: &str, extra: &str) -> Vec<Value> {
        let (client, frames) = self.join(server, id, extra).await;
        client.close().await;
        self.alice.expect_leave_of(id).await;
        self.bob.expect_leave_of(id).await;
        frames
    }

    /// Alice says `text`; both hear it. Returns the message frame.
    pub async fn say_as_alice(&mut self, text: &str) -> Value {
        self.alice.send(text).await;
        let id = self.alice.id.clone();
        self.bob.expect_message(&id, text).await;
        self.heard(&id, text).await
    }

    /// Records a message `from` someone else that both bystanders hear.
    pub async fn heard(&mut self, from: &str, text: &str) -> Value {
        let frame = self.alice.expect_message(from, text).await;
        if from != self.alice.id {
            self.bob.expect_message(from, text).await;
        }
        self.expected.push(text.to_owned());
        frame
    }

    /// Both bystanders' next frame is exactly the one they expect.
    pub async fn both_next(&mut self, pred: impl Fn(&Value) -> bool, what: &str) -> Value {
        let a = self.alice.next().await;
        assert!(pred(&a), "alice expected {what}, got {a}");
        let b = self.bob.next().await;
        assert!(pred(&b), "bob expected {what}, got {b}");
        a
    }

    /// The stored messages as a newcomer sees them, oldest first.
    pub async fn history(&mut self, server: &Server, auditor: &str) -> Vec<Value> {
        let frames = self.visit(server, auditor, "").await;
        history_messages(frame_of(&frames, "history")).to_vec()
    }

    /// After something was refused: nothing was broadcast (the bystanders'
    /// next frame is alice's next message, with nothing before it), they
    /// still chat, and the history is exactly what was expected.
    pub async fn verify(mut self, server: &Server) {
        let text = "after";
        self.alice.send(text).await;
        let alice_id = self.alice.id.clone();
        let is_after = |f: &Value| f["type"] == "message" && f["message"] == text;
        let frame = self
            .both_next(is_after, "alice's message and nothing before it")
            .await;
        assert_eq!(frame["clientId"], alice_id);
        self.expected.push(text.to_owned());
        let auditor = format!("{}-auditor", self.name);
        let texts: Vec<String> = self
            .history(server, &auditor)
            .await
            .iter()
            .map(|m| m["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(texts, self.expected, "the history is what was accepted");
    }
}

/// The JSON object a log line carries: the whole line for `console.log`;
/// wrangler wraps a `console.error` line in a coloured `✘ [ERROR]`.
pub fn log_json(line: &str) -> Option<Value> {
    let json = line.get(line.find('{')?..=line.rfind('}')?)?;
    serde_json::from_str(json).ok()
}

/// Waits until the runtime's log has a JSON line matching `pred`, and
/// returns every such line.
pub async fn log_lines_matching(
    server: &Server,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found: Vec<Value> = server
            .log_lines()
            .iter()
            .filter_map(|l| log_json(l))
            .filter(|v| pred(v))
            .collect();
        if !found.is_empty() {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no log line with {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
