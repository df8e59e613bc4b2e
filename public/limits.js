// Every number and pattern the page lives by, each with the reason for its
// value, so that changing one is a one-line edit. The server enforces its own
// limits (README, "Security"); these only keep the page inside them.

/** Room names as the server accepts them (src/wire/validate.rs, src/settings/limits.rs):
 *  lower case only, so `Team` and `team` cannot be two rooms people mistake
 *  for one; 64 long, so an unguessable private name fits. */
export const ROOM_MAX_CHARS = 64;
export const ROOM_RE = new RegExp(`^[a-z0-9_-]{1,${ROOM_MAX_CHARS}}$`);
/** The room at `/`, as the originals' single room was. */
export const DEFAULT_ROOM = "lobby";
/** A private room's name is its only lock, so it carries at least 96 random
 *  bits: 19 characters of 36 are log2(36) * 19 = 98.2 bits. Letters and
 *  digits only (no `_` or `-`, though the server allows them), so a name
 *  retyped into the room box, which trims dashes, stays the same name. */
export const PRIVATE_ROOM_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
export const PRIVATE_ROOM_CHARS = 19;

/** Client ids as the server accepts them; anything else in sessionStorage
 *  (an older page, a hand edit) is replaced rather than refused at connect. */
export const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** 4 random bytes: unique enough among the people in one room. */
export const CLIENT_ID_BYTES = 4;
/** 8 random bytes per clientMsgId: the server dedupes on (client id,
 *  clientMsgId), so a collision would silently swallow a message. */
export const MESSAGE_ID_BYTES = 8;

/** The server refuses display names over 32 characters with a 400. */
export const NAME_MAX_CHARS = 32;
/** The server's default MAX_MESSAGE_CHARS; an operator who lowers it gets a
 *  `message_too_long` error, which the page explains. */
export const MESSAGE_MAX_CHARS = 2000;

/** Reconnect backoff: 0.5 s doubling to 15 s, each wait randomised by ±50 %
 *  so a room full of tabs does not reconnect in lockstep after an outage. */
export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 15000;
export const BACKOFF_JITTER = 0.5;
/** An attempt still connecting after this long is abandoned and retried: a
 *  socket opened through a network that has since gone (or one the browser
 *  holds back) can stay in CONNECTING far longer than any backoff. */
export const CONNECT_TIMEOUT_MS = 10000;
/** One or two failed attempts are a blip; after this many the page says the
 *  server cannot be reached, not just that the connection was lost (and, with
 *  a token, that the link may have expired: a browser hides the status of a
 *  refused WebSocket handshake, so the page cannot tell which). */
export const FAILED_ATTEMPTS_BEFORE_WARNING = 3;

/** A moderator's removal: the server bans for 1 to 10,080 minutes (a week);
 *  10 minutes is long enough to cool a conversation down, short enough that
 *  a mistaken removal costs little. */
export const KICK_DEFAULT_MINUTES = 10;
export const KICK_MAX_MINUTES = 10080;
/** setTimeout fires at once for a delay over 2^31 - 1 ms (24.8 days), so a
 *  timer for a long-lived token's expiry re-arms in steps of at most this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The server closes sockets silent for 300 s; its runtime answers pings
 *  without waking the room, so pinging ten times as often is free. */
export const PING_EVERY_MS = 30000;

/** A socket the room closed as too slow reconnects at once and quietly;
 *  only this many such closes within the window below are worth telling
 *  the person about (their link or device cannot keep up). */
export const SLOW_CLOSES_BEFORE_WARNING = 3;
export const SLOW_CLOSE_WINDOW_MS = 60000;

/** The server forwards one typing notice per 3 s per socket; sending more
 *  often would only be dropped. */
export const TYPING_SEND_EVERY_MS = 3000;
/** Show "is typing" a little longer than the forwarding interval, so a
 *  steady typist does not flicker. */
export const TYPING_SHOW_MS = 5000;

/** Messages from one sender within this long share one header. */
export const GROUP_WITHIN_MS = 5 * 60 * 1000;

/** Long enough to read "Reconnected", short enough not to linger. */
export const RECONNECTED_BANNER_MS = 4000;
/** Notices (errors, "link copied") stay long enough to read twice. */
export const NOTICE_MS = 6000;
/** Within this many pixels of the bottom counts as reading the newest
 *  messages, so the list keeps following (sub-pixel scroll positions). */
export const FOLLOW_SLACK_PX = 40;
