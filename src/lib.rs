//! edge-chat: a real-time chat room on Cloudflare's edge.
//!
//! # Layout
//!
//! The room's logic is plain Rust with no JavaScript types, so `cargo test`
//! runs it natively. The platform adapters are thin and exist only on wasm32.
//!
//! Pure core:
//! - [`limits`]: every limit, with the reason for its value.
//! - [`config`]: those limits as overridden by `[vars]`.
//! - [`auth`]: HS256 tokens: verifying them, and signing for the minting
//!   command; [`base64url`] is their encoding.
//! - [`coalesce`]: batching broadcasts for clients that opted in.
//! - [`validate`]: which client ids, room names and display names pass.
//! - [`identity`]: open or token mode, and who a connecting socket is.
//! - [`protocol`]: the wire frames and the one parse function.
//! - [`error`]: every refusal and how it is answered (error frame, close).
//! - [`history`]: stored messages, the storage contract, catch-up rules.
//! - [`presence`]: who is online, one entry per client id.
//! - [`rate_limit`]: the per-connection token bucket.
//! - [`alarm`]: the room's one alarm, shared by idle sweeps and token
//!   expiry.
//! - [`room`]: who receives what when a client joins, speaks, types or
//!   leaves, and what is stored.
//! - [`moderation`]: edit, delete and kick: who may, and what changes.
//! - [`session`]: what the room remembers about a socket, in the format of
//!   its hibernation attachment.
//! - [`flow`]: flow control: bytes sent that no socket confirmed, receipts,
//!   and which slow sockets to close.
//! - [`fanout`]: the send path as a plan: the order in which frames leave
//!   and where the room writes first.
//! - [`routes`]: the Worker's routing decisions and HTTP refusals.
//! - [`api`]: the HTTP API's routing, checks, answers and per-subject
//!   rate limit; posts go through [`room`]'s own rules.
//! - [`log`]: structured log lines, without message bodies.
//! - [`webhook`]: signed webhook events: which frames are events, their
//!   body and signature, the retry schedule and the outbox's cap.
//! - [`write_behind`]: a busy room's messages written in one commit per
//!   flush instead of one per message.
//!
//! Platform adapters (wasm32 only):
//! - `worker_entry`: the Worker's fetch handler: routes, serves the page,
//!   forwards sockets to the room.
//! - `worker_api`: the API's gate, shared by the Worker and the room:
//!   route, CORS, token, body, and the JSON answers.
//! - `room_object/`: the room's Durable Object on the WebSocket Hibernation
//!   API: its handlers feed events to [`room`], ask [`fanout`] for a plan,
//!   and carry the plan out.
//! - `sql_history`: [`history::HistoryStore`] on the object's SQLite, the
//!   room's bans, the webhook outbox, and the schema's migrations.
//!
//! Native tool: `src/bin/mint-token.rs` signs tokens with [`auth::sign`].

pub mod alarm;
pub mod api;
pub mod auth;
pub mod base64url;
pub mod coalesce;
pub mod config;
pub mod error;
pub mod fanout;
pub mod flow;
pub mod history;
pub mod identity;
pub mod limits;
pub mod log;
pub mod moderation;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod room;
pub mod roster;
pub mod routes;
pub mod session;
pub mod validate;
pub mod webhook;
pub mod write_behind;

#[cfg(target_arch = "wasm32")]
mod room_object;
#[cfg(target_arch = "wasm32")]
mod sql_history;
#[cfg(target_arch = "wasm32")]
mod worker_api;
#[cfg(target_arch = "wasm32")]
mod worker_entry;
