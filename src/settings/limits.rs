//! Every limit a client, an API caller or an operator can run into, each
//! with the reason for its value: sockets, messages, tokens, the HTTP API
//! and webhooks. Constants that only tune a mechanism (the coalescing
//! window, flow control's checkpoints) stay beside that mechanism.
//!
//! These are the defaults; [`crate::settings::config::Config`] lets an
//! operator override the ones marked "configurable" through `[vars]`. The
//! Worker and the room object both apply them, so each limit holds at both
//! boundaries. The client library (and the page through it) keeps its own
//! copy in `client/src/limits.js`; a test below fails when the two disagree.

/// Longest client id. Ids travel in every frame and in URLs; 64 fits a UUID
/// with room to spare while keeping frames small.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// Longest room name. Names appear in URLs people share and type, and a
/// private room's name is its only lock: 64 characters of the 38-character
/// charset hold up to 335 bits (5.25 bits a character), so a random name
/// of 19 or more characters (at least 96 bits, as a "new private room"
/// needs) fits with room for a readable prefix such as `team-`.
pub const MAX_ROOM_NAME_LEN: usize = 64;

/// Longest display name, in Unicode scalar values: long enough for a full
/// name, short enough for a member list on a phone.
pub const MAX_DISPLAY_NAME_CHARS: usize = 32;

/// Longest client-chosen message id (`clientMsgId`); a UUID fits.
pub const MAX_CLIENT_MSG_ID_LEN: usize = 64;

/// The room that `/ws/<client_id>` joins. The originals had exactly one room,
/// so old clients land here.
pub const DEFAULT_ROOM: &str = "lobby";

/// Longest chat message, counted in Unicode scalar values (Rust `char`s), so
/// the limit means the same for every script. 2,000 is a long paragraph.
/// Configurable: `MAX_MESSAGE_CHARS`.
pub const MAX_MESSAGE_CHARS: usize = 2_000;

/// A text frame longer than this many bytes is not a chat message gone a bit
/// long but abuse or a bug: the socket is closed with 1009 instead of being
/// answered. 64 KiB is 8x the largest valid message in 4-byte characters.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Messages a newcomer gets on join, and the most a reconnecting client's
/// `since` catch-up carries before it starts over from the newest window.
/// 100 fills a screen or two while keeping the history frame small; older
/// messages are scrollback. Configurable: `HISTORY_LIMIT`.
pub const HISTORY_LIMIT: u64 = 100;

/// Days a room keeps a message. A team comes back to last quarter's
/// decision, and a year covers the planning cycle most teams work in;
/// an operator with a records policy sets it. Configurable:
/// `HISTORY_RETAIN_DAYS` (1 to 36,500).
pub const HISTORY_RETAIN_DAYS: u64 = 365;

/// Messages a room keeps at most, whatever their age. A busy team channel
/// writes a few thousand a day, so five million is years; at about 600
/// bytes a message with its search index (BENCHMARKS.md) that is 3 GB of
/// the object's 10 GB. Configurable: `HISTORY_RETAIN_MESSAGES` (100 to
/// 10,000,000).
pub const HISTORY_RETAIN_MESSAGES: u64 = 5_000_000;

/// Messages one pruning step lets go of. Each is a row and its search
/// index entries; a step is one alarm turn, and a bounded one keeps the
/// room answering its sockets between steps.
pub const PRUNE_BATCH: u64 = 500;

/// Pause between pruning steps while a backlog remains, so frames and
/// joins run between them.
pub const PRUNE_PAUSE_MS: u64 = 50;

/// Messages in one page of scrollback or search: by default, and at most
/// over a socket and for any search (an HTTP page of messages may hold
/// [`MAX_PAGE`]). 50 fills a tall screen; 100 of the longest messages is
/// under 1 MiB, the runtime's largest frame.
pub const PAGE_DEFAULT: u64 = 50;
pub const SCROLLBACK_PAGE_MAX: u64 = 100;

/// Longest search query, in Unicode scalar values, and most words in it:
/// enough for a phrase someone remembers, and each word is one more index
/// lookup.
pub const SEARCH_MAX_CHARS: usize = 200;
pub const SEARCH_MAX_WORDS: usize = 8;

/// Messages an export reads per step. Each step is one read and one
/// piece of the streamed answer, so memory holds one step however big the
/// room is.
pub const EXPORT_BATCH: u64 = 500;

/// Different reactions on one message: a row under it, not a wall.
pub const MAX_REACTION_KINDS: usize = 20;

/// Reactions one member puts on one message: enough to say several
/// things, too few to fill the row alone.
pub const MAX_REACTIONS_PER_MEMBER: usize = 10;

/// Longest reaction, in bytes: the longest emoji sequences people send (a
/// family of four with skin tones is 41 bytes) fit.
pub const MAX_REACTION_BYTES: usize = 48;

/// Longest `:name:` reaction, colons excluded, as chat products name
/// their custom emoji.
pub const MAX_REACTION_NAME_LEN: usize = 32;

/// The most unread messages the room counts for one person: a badge says
/// "1000" or more, and counting further would cost every join a longer
/// scan.
pub const UNREAD_MAX: u64 = 1_000;

/// Client ids one message may mention: a team's worth, and a cap on the
/// notifications one message can cause.
pub const MAX_MENTIONS: usize = 20;

/// Characters of the original a reply quotes: a line, enough to recognise
/// it; the rest is a click away.
pub const QUOTE_CHARS: usize = 100;

/// Sustained chat messages per second per connection: far above any human
/// typist, well below what would swamp a room. Configurable: `RATE_PER_SEC`.
pub const RATE_PER_SEC: u32 = 10;

/// Burst allowance above the sustained rate, for pasting a few lines at once.
/// Configurable: `RATE_BURST`.
pub const RATE_BURST: u32 = 20;

/// Refused messages in a row, while rate limited, after which the sender is
/// disconnected with 1008: a client that ignores `rate_limited` this long is
/// not a person typing.
pub const RATE_STRIKES_BEFORE_CLOSE: u32 = 50;

/// Open sockets per room, counted over the room's object and all its
/// relays. 2,000 is what one object serves alone; a room that is to be
/// bigger raises it, and past [`RELAY_THRESHOLD`] its new sockets are held
/// by relays. Configurable: `MAX_CONNECTIONS_PER_ROOM` (1 to 1,000,000).
pub const MAX_CONNECTIONS_PER_ROOM: usize = 2_000;

/// Sockets a room holds in its own object before new ones go to relay
/// objects (see [`crate::send::relay`]). Below it a room is one object with
/// no extra hop; at 1,000 sockets a broadcast already costs the object
/// about 10 ms of its one thread (BENCHMARKS.md, "One object against
/// relays"). Configurable: `RELAY_THRESHOLD` (0, every socket on a relay,
/// to 32,000).
pub const RELAY_THRESHOLD: usize = 1_000;

/// Sockets one relay object holds. Each relay has its own thread, so a
/// relay of 1,000 sockets spends on a broadcast what a room of 1,000 does,
/// and a room with R relays spreads its fan-out over R threads.
/// Configurable: `RELAY_CAPACITY` (1 to 32,000, the runtime's cap on one
/// object's sockets).
pub const RELAY_CAPACITY: usize = 1_000;

/// Sockets in a room from which its join and leave notices are grouped
/// into one `crowd` frame a second ("+37 joined, 5 left"): in a room of
/// thousands, people come and go every second, and a frame each would
/// outnumber the messages. Configurable: `GROUP_NOTICES_AT` (2 to
/// 1,000,000).
pub const GROUP_NOTICES_AT: usize = 1_000;

/// How often a crowded room sends its grouped notice, at most.
pub const CROWD_NOTICE_MS: u64 = 1_000;

/// Members a newcomer's `presence` frame lists by name; `count` is always
/// the exact total. A list of 100,000 names would be megabytes per join.
pub const PRESENCE_LIST_MAX: usize = 500;

/// Open sockets of one client (a token's `sub`, or the id an open-mode
/// client gives) per room. Caps count sockets, so without this one token
/// could take every slot of a room, and each socket has its own send rate.
/// Eight is a person's tabs and devices with room to spare.
/// Configurable: `MAX_SOCKETS_PER_CLIENT` (1 to 16).
pub const MAX_SOCKETS_PER_CLIENT: usize = 8;

/// Open sockets from one address (`CF-Connecting-IP`, an IPv6 address as
/// its /64) per room: in open mode a client id costs nothing, so this is
/// what holds one machine to a share of the room. 100 lets a dozen people
/// behind one office or campus NAT keep eight tabs each, and keeps one
/// address to a twentieth of a default room: filling one takes 20
/// addresses. A load test from one machine raises it.
/// Configurable: `MAX_SOCKETS_PER_ADDRESS`.
pub const MAX_SOCKETS_PER_ADDRESS: usize = 100;

/// Seconds of silence (no frame and no `{"type":"ping"}`) after which a
/// socket is closed with 1001. The page pings through the runtime's
/// auto-response, which never wakes the room, so only dead or abandoned
/// sockets reach this. Configurable: `IDLE_TIMEOUT_SECS` (5 to 86,400).
pub const IDLE_TIMEOUT_SECS: u64 = 300;

/// Unconfirmed bytes a socket that sends receipts (`{"type":"seen"}`) may
/// hold before the room closes it with 1013 (see [`crate::send::flow`]). The page
/// confirms every 64 KiB it reads, so 2 MiB is 32 receipts of slack: seconds
/// behind in a room at full speed. Configurable: `FLOW_SOCKET_BUDGET_KB`.
pub const FLOW_SOCKET_BUDGET_KB: u64 = 2 * 1024;

/// Unconfirmed bytes all of a room's sockets may hold together before the
/// room closes the biggest holders. A Durable Object has 128 MB, and each
/// byte queued on a socket costs about three bytes of memory (issue 13), so
/// 24 MiB queued is about 72 MB, leaving the rest for the room's own work.
/// Configurable: `FLOW_ROOM_BUDGET_KB`.
pub const FLOW_ROOM_BUDGET_KB: u64 = 24 * 1024;

/// The reading rate the room presumes of a socket that cannot prove it
/// reads (the originals' plain clients), in KiB a second (see
/// [`crate::send::flow`]). Any live browser or bot on a working link reads
/// far faster; a room sending one socket 20 messages a second of 200 bytes
/// (4 KB/s), or 16 a second of the longest, stays under it. A plain socket
/// that does not read costs the room at most this much memory a second
/// while it stays. Configurable: `FLOW_PLAIN_READ_KB_PER_SEC`.
pub const FLOW_PLAIN_READ_KB_PER_SEC: u64 = 32;

/// Longest token accepted. A token with a display name and a few dozen
/// rooms is well under 2 KiB; anything near a URL's practical limit is not
/// one this server issued, and is refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Shortest `AUTH_SECRET` accepted, in bytes: the size of HS256's own
/// output, which RFC 7518 §3.2 requires of its key. Anyone holding one token
/// can guess at a shorter secret offline, as fast as they can compute
/// HMACs, and a secret found signs for anyone.
pub const MIN_AUTH_SECRET_BYTES: usize = 32;

/// Seconds a token's `exp` and `nbf` may be off between the issuer's clock
/// and the runtime's: 60, as RFC 7519 suggests "a few minutes" at most and
/// the issue allows no more.
pub const TOKEN_CLOCK_SKEW_SECS: u64 = 60;

/// Longest ban a moderator can give with one kick: a week. Longer removal
/// is the operator's job (stop issuing the member tokens).
pub const MAX_KICK_MINUTES: u64 = 7 * 24 * 60;

/// Typing notices per client are forwarded at most this often; the page
/// shows a notice for a few seconds, so more would only be noise.
pub const TYPING_INTERVAL_MS: u64 = 3_000;

// The HTTP API.

/// Largest request body: a message is at most a few thousand characters
/// (8 KiB in 4-byte characters at the default limit), so 64 KiB leaves
/// room for any valid body and the socket's own frame cap is the same.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest `limit` of one HTTP page of messages or search hits: 1,000
/// keeps one answer well under a few megabytes; a backend pages on.
pub const MAX_PAGE: u64 = 1_000;

/// Subjects (tokens, or addresses in open mode) whose API rate buckets a
/// room keeps, at most: past it, idle ones are forgotten, else the one
/// quiet longest. 256 buckets are a few tens of KB, and a room rarely has
/// that many callers at once; one with more only gives some a full bucket.
pub const MAX_TRACKED_SUBJECTS: usize = 256;

/// How long a subject must have been quiet before a full map forgets its
/// bucket. At the default rate a bucket refills in two seconds; at any rate,
/// forgetting one only gives its subject a full bucket, as a new room would.
pub const FORGET_IDLE_BUCKET_MS: u64 = 60_000;

// Webhooks.

/// How long one delivery may take before it counts as failed: the issue's
/// 10 s, long enough for a slow receiver, short enough that a hung one
/// holds the room's queue for seconds, not minutes.
pub const ATTEMPT_TIMEOUT_MS: u64 = 10_000;

/// The first retry waits this long; each further one twice as long.
pub const RETRY_BASE_MS: u64 = 2_000;

/// No wait between tries is longer: a receiver that comes back is served
/// within five minutes.
pub const MAX_RETRY_DELAY_MS: u64 = 300_000;

/// Tries per event before the room gives up on it. With the defaults the
/// waits are 2, 4, 8, ... 256 s, then 300 s twice: about 23 minutes of
/// trying over 12 attempts.
pub const MAX_ATTEMPTS: u32 = 12;

/// Events a room's outbox holds for a receiver that is down. Above this the
/// oldest are dropped: a dead receiver must not grow the room's storage
/// without bound. 10,000 small events are a few MB at most.
pub const OUTBOX_CAP: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The client library's own copy of the limits it lives by (the page
    /// uses the library).
    const PAGE: &str = include_str!("../../client/src/limits.js");

    /// The value of `export const NAME = …;` in `client/src/limits.js`: a
    /// string, or a whole number written as a product (`64 * 1024`).
    fn page(name: &str) -> String {
        let start = format!("export const {name} = ");
        let line = PAGE
            .lines()
            .find_map(|l| l.strip_prefix(&start))
            .unwrap_or_else(|| panic!("client/src/limits.js has no {name}"));
        line.trim_end_matches(';').trim().to_owned()
    }

    fn page_number(name: &str) -> u64 {
        page(name)
            .split('*')
            .map(|f| {
                f.trim()
                    .parse::<u64>()
                    .unwrap_or_else(|_| panic!("{name}: {f}"))
            })
            .product()
    }

    #[test]
    fn the_page_keeps_the_limits_the_room_enforces() {
        assert_eq!(page_number("ROOM_MAX_CHARS"), MAX_ROOM_NAME_LEN as u64);
        assert_eq!(page("DEFAULT_ROOM"), format!("{DEFAULT_ROOM:?}"));
        assert_eq!(page_number("NAME_MAX_CHARS"), MAX_DISPLAY_NAME_CHARS as u64);
        assert_eq!(page_number("MESSAGE_MAX_CHARS"), MAX_MESSAGE_CHARS as u64);
        assert_eq!(page_number("KICK_MAX_MINUTES"), MAX_KICK_MINUTES);
        assert_eq!(page_number("TYPING_SEND_EVERY_MS"), TYPING_INTERVAL_MS);
        assert_eq!(page_number("PAGE_DEFAULT"), PAGE_DEFAULT);
        assert_eq!(page_number("PAGE_MAX"), SCROLLBACK_PAGE_MAX);
        assert_eq!(page_number("QUOTE_CHARS"), QUOTE_CHARS as u64);
        let id_len = format!("{{1,{MAX_CLIENT_ID_LEN}}}");
        assert!(
            page("CLIENT_ID_RE").contains(&id_len),
            "client ids up to {id_len}"
        );
        // A message id is hex: two characters a byte.
        assert!(page_number("MESSAGE_ID_BYTES") * 2 <= MAX_CLIENT_MSG_ID_LEN as u64);
    }

    #[test]
    fn the_page_pings_well_within_the_idle_timeout() {
        // Two pings fit in the idle timeout, so one lost ping is not a close.
        assert!(page_number("PING_EVERY_MS") * 2 <= IDLE_TIMEOUT_SECS * 1000);
    }
}
