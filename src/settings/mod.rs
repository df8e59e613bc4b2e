//! Layer 1: what an operator can set, and the limits those settings start
//! from.

pub mod auth_mode;
pub mod config;
pub mod limits;
pub mod origin;
