//! Layer 6: how frames leave the room: the plan, coalescing, flow control
//! and the roster of open sockets.

pub mod coalesce;
pub mod fanout;
pub mod flow;
pub mod relay;
pub mod roster;
