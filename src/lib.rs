//! edge-chat: a real-time chat room on Cloudflare's edge.
//!
//! # Layout
//!
//! The room's logic is plain Rust with no JavaScript types, so `cargo test`
//! runs it natively. The platform adapters are thin and exist only on wasm32.
//!
//! Pure core:
//! - [`limits`]: every limit, with the reason for its value.
//! - [`validate`]: which client ids are acceptable.
//! - [`protocol`]: the wire frames and the one parse function.
//! - [`error`]: every refusal and how it is answered (error frame or close).
//! - [`room`]: who receives what when a client joins, speaks or leaves.
//! - [`routes`]: the Worker's routing decisions and HTTP refusals.
//!
//! Platform adapters (wasm32 only):
//! - `worker_entry`: the Worker's fetch handler: routes, serves the page,
//!   forwards sockets to the room.
//! - `room_object`: the room's Durable Object on the WebSocket Hibernation
//!   API, executing what [`room`] decides.

pub mod error;
pub mod limits;
pub mod protocol;
pub mod room;
pub mod routes;
pub mod validate;

#[cfg(target_arch = "wasm32")]
mod room_object;
#[cfg(target_arch = "wasm32")]
mod worker_entry;
