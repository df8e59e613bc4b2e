//! Every limit the chat enforces, each with the reason for its value.
//!
//! The Worker and the room object both read these, so a value changed here is
//! changed at both trust boundaries at once.

/// Longest client id. Ids travel in every frame and in URLs; 64 fits a UUID
/// with room to spare while keeping frames small.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// The room that `/ws/<client_id>` joins. The originals had exactly one room,
/// so old clients land here.
pub const DEFAULT_ROOM: &str = "lobby";

/// Longest chat message, counted in Unicode scalar values (Rust `char`s), so
/// the limit means the same for every script. 2,000 is a long paragraph.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
