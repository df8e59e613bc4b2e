//! Layer 4: what the room keeps, behind contracts the rules can test
//! natively.

pub mod bans;
pub mod history;
pub mod retention;
pub mod search;
pub mod write_behind;
