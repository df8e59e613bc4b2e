//! Layer 3: who is asking, and whether they may.

pub mod address;
pub mod auth;
pub mod base64url;
pub mod identity;
