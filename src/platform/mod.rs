//! Layer 9: the adapters to the Workers runtime. Nothing here decides;
//! each reads a request or an event, asks the layers above, and carries out
//! the answer.

mod api_gate;
mod entry;
mod log;
mod pipe;
mod relay_object;
mod respond;
mod room_object;
mod sqlite;
