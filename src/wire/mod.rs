//! Layer 2: what crosses the network, as plain data: socket frames, the
//! Worker's routes, refusals, validation and log lines.

pub mod error;
pub mod log_line;
pub mod protocol;
pub mod routes;
pub mod url;
pub mod validate;
