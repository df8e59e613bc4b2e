// Every number and pattern a client of the room lives by, each with the
// reason for its value. The room enforces its own limits (src/settings/
// limits.rs, which a test compares with this file); these keep a client
// inside them, so it refuses early what the room would refuse anyway.

/** Room names as the room accepts them (src/wire/validate.rs): lower case
 *  only, so `Team` and `team` cannot be two rooms people mistake for one;
 *  64 long, so an unguessable private name fits. */
export const ROOM_MAX_CHARS = 64;
export const ROOM_RE = new RegExp(`^[a-z0-9_-]{1,${ROOM_MAX_CHARS}}$`);
/** The room a socket joins without `room=`, as the originals' single room. */
export const DEFAULT_ROOM = "lobby";

/** Client ids as the room accepts them. */
export const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** 8 random bytes per clientMsgId: the room dedupes on (client id,
 *  clientMsgId), so a collision would silently swallow a message. */
export const MESSAGE_ID_BYTES = 8;

/** The room refuses display names over 32 characters with a 400. */
export const NAME_MAX_CHARS = 32;
/** The room's default MAX_MESSAGE_CHARS; an operator who lowers it gets a
 *  `message_too_long` error frame, which reaches the app as an `error`. */
export const MESSAGE_MAX_CHARS = 2000;

/** Reconnect backoff: 0.5 s doubling to 15 s, each wait randomised by ±50 %
 *  so a room full of clients does not reconnect in lockstep after an outage. */
export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 15000;
export const BACKOFF_JITTER = 0.5;
/** An attempt still connecting after this long is abandoned and retried: a
 *  socket opened through a network that has since gone (or one a browser
 *  holds back) can stay in CONNECTING far longer than any backoff. */
export const CONNECT_TIMEOUT_MS = 10000;

/** A moderator's removal: the room bans for 1 to 10,080 minutes (a week). */
export const KICK_MAX_MINUTES = 10080;
/** setTimeout fires at once for a delay over 2^31 - 1 ms (24.8 days), so a
 *  timer for a long-lived token's expiry re-arms in steps of at most this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** A token is refreshed this long before its `exp` (or halfway there, for
 *  one that lives less than twice this): the room closes a socket at `exp`
 *  itself, and a minute covers a slow refresh call and the rejoin. */
export const TOKEN_REFRESH_LEAD_MS = 60000;

/** The room closes sockets silent for 300 s; its runtime answers pings
 *  without waking the room, so pinging ten times as often is free. */
export const PING_EVERY_MS = 30000;

/** A socket the room closed as too slow reconnects at once and quietly;
 *  only this many such closes within the window below are worth an
 *  ordinary `retrying` (the link or device cannot keep up). */
export const SLOW_CLOSES_BEFORE_WARNING = 3;
export const SLOW_CLOSE_WINDOW_MS = 60000;

/** The room forwards one typing notice per 3 s per socket; sending more
 *  often would only be dropped. */
export const TYPING_SEND_EVERY_MS = 3000;

/** Messages in one page of scrollback or search, by default and at most
 *  (src/settings/limits.rs, PAGE_DEFAULT and SCROLLBACK_PAGE_MAX). */
export const PAGE_DEFAULT = 50;
export const PAGE_MAX = 100;

/** Characters of the original a reply quotes (QUOTE_CHARS): the client
 *  makes the quote follow the original's edits and delete the same way. */
export const QUOTE_CHARS = 100;

/** Read receipts a client sends at most, one per this many ms: a reader
 *  scrolling sees many messages a second, and the room's rate limit (10 a
 *  second) counts every frame. */
export const READ_EVERY_MS = 1000;

/** How long a page of scrollback or search may take: the room answers in
 *  milliseconds, and a refusal (over the rate) names no request. */
export const PAGE_TIMEOUT_MS = 10000;
