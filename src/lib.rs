//! edge-chat: a real-time chat room on Cloudflare's edge.
//!
//! # The map
//!
//! Folders are layers. Each uses only the layers above it in this list,
//! never one below (the `layers` test reads every `crate::` path and fails
//! on a back-edge). All but the last are plain Rust with no JavaScript
//! types, so `cargo test` runs them natively.
//!
//! 1. [`settings`]: every limit with its reason, the operator's `[vars]`
//!    over them, and the origin rule those settings feed.
//! 2. [`wire`]: what crosses the network: socket frames and their one
//!    parser, the Worker's routes, every refusal (socket and HTTP) and how
//!    it is answered, input validation, and structured log lines.
//! 3. [`access`]: who is asking: HS256 tokens, open or token mode, and the
//!    denials a handshake or an API call can get.
//! 4. [`store`]: what the room keeps: stored messages, the storage
//!    contracts, catch-up rules, retention, search queries, and the
//!    write-behind buffer.
//! 5. [`room`]: the rules: join, chat, edit, delete, kick, reactions,
//!    replies, mentions, read state, presence, typing, scrollback and
//!    search, sessions, rate limits and the alarm's math.
//! 6. [`send`]: how what the rules decided leaves the room: the fan-out
//!    plan, coalescing, flow control, and the roster of open sockets.
//! 7. [`http`]: the HTTP API's decisions: endpoints, checks, answers.
//! 8. [`hooks`]: signed webhook events, their retry schedule and outbox.
//! 9. `platform` (wasm32 only): everything that touches the Workers
//!    runtime: the Worker's entry point, the API gate, the room's Durable
//!    Object, SQLite, the console. Thin adapters: they read a request or an
//!    event, ask the layers above, and carry out the answer.
//!
//! Native tool: `src/bin/mint-token.rs` signs tokens with [`access::auth::sign`].

pub mod settings;

pub mod wire;

pub mod access;

pub mod store;

pub mod room;

pub mod send;

pub mod http;

pub mod hooks;

#[cfg(target_arch = "wasm32")]
mod platform;
