//! Layer 8: webhooks: which frames become events, and how they are signed
//! and retried.

pub mod outbox;
pub mod webhook;
