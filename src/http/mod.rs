//! Layer 7: the HTTP API's decisions, free of any platform type.

pub mod api;
